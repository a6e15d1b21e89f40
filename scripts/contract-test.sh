#!/usr/bin/env bash
# Contract fuzzing: starts the standalone sandbox platform and runs schemathesis against
# docs/openapi.yaml with the checks not_a_server_error, response_schema_conformance and
# negative_data_rejection. Exit status 0 when the sandbox honours the contract.
#
#   scripts/contract-test.sh                 # 100 examples per operation, seed 7
#   STM_CONTRACT_EXAMPLES=500 STM_CONTRACT_SEED=42 scripts/contract-test.sh
#   STM_ADAPTER=target/release/stm-adapter scripts/contract-test.sh   # a binary built already
#
# It installs schemathesis (pinned) into target/contract-venv from PyPI on first use; it needs
# python3 with the venv module. The sandbox runs with --insecure-no-signature because
# schemathesis cannot sign requests: the signing scheme has its own tests
# (adapter-daemon/tests/signing_vectors.rs, platform_client.rs, scripts/check-signing-vectors.py).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=${STM_CONTRACT_VENV:-target/contract-venv}
EXAMPLES=${STM_CONTRACT_EXAMPLES:-100}
SEED=${STM_CONTRACT_SEED:-7}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "contract-test: installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# STM_ADAPTER names a binary built already (CI: the one its test step built).
STM_ADAPTER=${STM_ADAPTER:-}
if [ -z "$STM_ADAPTER" ]; then
    echo "contract-test: building stm-adapter" >&2
    cargo build --quiet -p adapter-daemon --bin stm-adapter
    STM_ADAPTER=target/debug/stm-adapter
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=target/contract-sandbox.log
"$STM_ADAPTER" sandbox --insecure-no-signature --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
SANDBOX=$!
trap 'kill "$SANDBOX" 2>/dev/null || true; wait "$SANDBOX" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    grep -q "listening on" "$LOG" && break
    kill -0 "$SANDBOX" 2>/dev/null || { cat "$LOG" >&2; echo "contract-test: the sandbox did not start" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening on" "$LOG" || { cat "$LOG" >&2; echo "contract-test: the sandbox did not start in 10 s" >&2; exit 1; }

echo "contract-test: schemathesis against http://127.0.0.1:$PORT/gsp/v1 ($EXAMPLES examples per operation, seed $SEED)" >&2
"$VENV/bin/schemathesis" run docs/openapi.yaml \
    --url "http://127.0.0.1:$PORT/gsp/v1" \
    --checks not_a_server_error,response_schema_conformance,negative_data_rejection \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --generation-with-security-parameters false \
    --no-color \
    --report junit --report-dir target/contract-report
