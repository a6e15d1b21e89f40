#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! Property tests of the platform contract's parsers and signatures: whatever a peer sends, the
//! sandbox answers with a status of the contract and a well-formed error body; signatures
//! verify exactly when nothing changed; bodies round-trip.

use std::sync::{Arc, Mutex, OnceLock};

use adapter_core::shipped::{DataSet, shipped};
use adapter_daemon::platform::signing::{Algorithm, RequestParts, SigningKey, canonical_query};
use adapter_daemon::platform::wire::{self, ErrorBody};
use adapter_daemon::platform::{Operation, Unresolved};
use adapter_daemon::sandbox::pdf::{DocumentText, render};
use adapter_daemon::sandbox::world::{Params, World};
use adapter_daemon::sandbox::{self, SandboxData};
use proptest::prelude::*;

fn world() -> &'static Mutex<World> {
    static WORLD: OnceLock<Mutex<World>> = OnceLock::new();
    WORLD.get_or_init(|| {
        let data = Arc::new(DataSet::load(&shipped()).unwrap());
        let today = time::OffsetDateTime::now_utc().date();
        let sandbox = SandboxData::load(&sandbox::shipped(), today).unwrap();
        Mutex::new(World::new(&sandbox, data))
    })
}

fn operation() -> impl Strategy<Value = Operation> {
    (0..Operation::ALL.len()).prop_map(|i| Operation::ALL[i])
}

/// JSON-ish bytes: mostly well-formed objects with the contract's field names and odd values.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(vec![
        "terminalId",
        "idNumber",
        "name",
        "chipPhoto",
        "face",
        "code",
        "subject",
        "implementingCode",
        "form",
        "content",
        "kind",
        "mediaType",
        "data",
        "licenceId",
        "applicationId",
        "amountFen",
        "method",
        "bankReference",
        "reason",
        "reference",
        "result",
        "score",
        "text",
        "slotId",
        "confirmations",
        "noticeNumber",
        "idempotencyKey",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() {
            f.to_string()
        } else {
            "0".into()
        }),
        "\\PC{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("null".to_owned()),
        Just("{}".to_owned()),
        Just(r#"{"kind":"image","mediaType":"image/png","data":"AAAA"}"#.to_owned()),
        Just("\"card\"".to_owned()),
        Just("\"SUBJ-0001\"".to_owned()),
        Just(r#"[{"noticeNumber":"44010026990000000007","idempotencyKey":"prop-key-1","amountFen":100,"method":"card","terminalId":"STM-1"}]"#.to_owned()),
    ];
    prop_oneof![
        prop::collection::vec((field, value), 0..8).prop_map(|pairs| {
            let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", inner.join(",")).into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_sandbox_answers_any_request_within_the_contract(
        op in operation(),
        path in prop::collection::vec("[A-Za-z0-9%-]{0,24}", 0..3),
        query in prop::collection::vec(("[a-zA-Z]{1,16}", "\\PC{0,20}"), 0..5),
        bytes in body(),
    ) {
        let params = Params { path, query, if_none_match: None };
        let reply = world().lock().unwrap().handle(op, &params, &bytes, time::OffsetDateTime::now_utc());
        prop_assert!(
            [200, 201, 304, 400, 404, 409, 422].contains(&reply.status),
            "{op}: status {}", reply.status
        );
        if reply.status >= 400 {
            let error: ErrorBody = serde_json::from_slice(&reply.body).unwrap();
            prop_assert!(!error.retryable);
            prop_assert!(error.code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }

    #[test]
    fn paths_resolve_or_are_refused(method in "GET|POST|PUT", path in "(/gsp/v1)?(/[a-z{}%0-9A-F-]{0,12}){0,6}") {
        match Operation::resolve(&method, &path) {
            Ok((op, params)) => {
                prop_assert_eq!(op.method(), method.as_str());
                prop_assert_eq!(params.len(), op.route().matches('{').count());
            }
            Err(Unresolved::NoSuchPath | Unresolved::OtherMethod) => {}
        }
    }

    #[test]
    fn signatures_verify_exactly_when_nothing_changed(
        canonical in "\\PC{0,300}",
        flip in any::<prop::sample::Index>(),
        sm2 in any::<bool>(),
    ) {
        let key = if sm2 {
            SigningKey::sm2_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8").unwrap()
        } else {
            SigningKey::hmac(b"stm-adapter-sandbox-secret").unwrap()
        };
        let signature = key.sign(&canonical).unwrap();
        key.verifier().verify(&canonical, &signature).unwrap();
        let mut tampered = canonical.clone().into_bytes();
        if !tampered.is_empty() {
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            if let Ok(t) = String::from_utf8(tampered) {
                prop_assert!(key.verifier().verify(&t, &signature).is_err());
            }
        } else {
            prop_assert!(key.verifier().verify("x", &signature).is_err());
        }
    }

    #[test]
    fn query_order_does_not_change_the_canonical_string(
        pairs in prop::collection::vec("[a-z]{1,6}=[A-Za-z0-9%]{0,8}", 0..6),
        seed in any::<u64>(),
    ) {
        let mut shuffled = pairs.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = usize::try_from(seed.rotate_left(u32::try_from(i).unwrap()) % (i as u64 + 1)).unwrap();
            shuffled.swap(i, j);
        }
        prop_assert_eq!(canonical_query(&pairs.join("&")), canonical_query(&shuffled.join("&")));
        let parts = |q: &str| RequestParts {
            method: "GET", path: "/gsp/v1/x", query: q, app_id: "A", timestamp: "T", nonce: "N",
            idempotency_key: "", body: b"",
        }.canonical(Algorithm::HmacSha256);
        prop_assert_eq!(parts(&pairs.join("&")), parts(&shuffled.join("&")));
    }

    #[test]
    fn answers_round_trip(notice in "[0-9]{1,50}", amount in 1u64..100_000_000_000, payee in "\\PC{0,40}") {
        let n = wire::PaymentNotice {
            notice_number: notice,
            amount_fen: amount,
            payee,
            due_date: Some("2026-12-31".into()),
            status: wire::NoticeStatus::Unpaid,
            qr_payload: None,
            receipt_number: None,
        };
        let back: wire::PaymentNotice = serde_json::from_slice(&serde_json::to_vec(&n).unwrap()).unwrap();
        prop_assert_eq!(&back, &n);
        use wire::Check as _;
        prop_assert!(back.check().is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_text_renders_as_a_pdf(
        title in "\\PC{1,40}",
        lines in prop::collection::vec(("\\PC{0,12}", "\\PC{0,300}"), 0..30),
    ) {
        let (pdf, pages) = render(&DocumentText { title, lines, footer: "测试".into() }).unwrap();
        prop_assert!(pdf.starts_with(b"%PDF-"));
        prop_assert!(pages >= 1);
    }
}
