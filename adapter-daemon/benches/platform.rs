//! What the platform contract costs the daemon per call: signing and verifying (HMAC-SHA256,
//! SM2-SM3), and rendering a one-page certificate in the sandbox.
//!
//! Run: `cargo bench -p adapter-daemon --bench platform`. Figures go to docs/performance.md.

// Setup failures should stop the bench loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use adapter_daemon::platform::signing::{Algorithm, RequestParts, SigningKey};
use adapter_daemon::sandbox::pdf::{DocumentText, render};
use criterion::{Criterion, criterion_group, criterion_main};

const BODY: &[u8] = br#"{"amountFen":20000,"method":"card","bankReference":"633206000123","terminalId":"STM-GZ-0001"}"#;

fn canonical(algorithm: Algorithm) -> String {
    RequestParts {
        method: "POST",
        path: "/gsp/v1/notices/44010026110000012345/payments",
        query: "",
        app_id: "BANK-GD-0001",
        timestamp: "2026-11-28T06:00:00Z",
        nonce: "8f14e45fceea167a5a36dedd4bea2543",
        idempotency_key: "S-0001/7/confirm",
        body: BODY,
    }
    .canonical(algorithm)
}

fn signing(c: &mut Criterion) {
    let hmac = SigningKey::hmac(b"stm-adapter-sandbox-secret").unwrap();
    let sm2 =
        SigningKey::sm2_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
            .unwrap();
    for (name, key) in [("hmac-sha256", hmac), ("sm2-sm3", sm2)] {
        let algorithm = key.algorithm();
        let text = canonical(algorithm);
        let signature = key.sign(&text).unwrap();
        let verifier = key.verifier();
        c.bench_function(&format!("sign request {name}"), |b| {
            b.iter(|| key.sign(&canonical(black_box(algorithm))).unwrap())
        });
        c.bench_function(&format!("verify {name}"), |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(&text), black_box(&signature))
                    .unwrap()
            })
        });
    }
}

fn documents(c: &mut Criterion) {
    let doc = DocumentText {
        title: "户籍证明".into(),
        lines: vec![
            ("业务编号".into(), "GD20261128000001".into()),
            ("姓名".into(), "张伟".into()),
            ("公民身份号码".into(), "440106********1014".into()),
            (
                "证明事项".into(),
                "兹证明该居民系本市常住户口，户籍地址为广州市天河区。".into(),
            ),
            ("出具时间".into(), "2026年11月28日 14:04".into()),
        ],
        footer: "广东政务服务沙箱平台生成 · 仅供测试 · 不具法律效力".into(),
    };
    c.bench_function("render a one-page certificate PDF", |b| {
        b.iter(|| render(black_box(&doc)).unwrap())
    });
}

criterion_group!(benches, signing, documents);
criterion_main!(benches);
