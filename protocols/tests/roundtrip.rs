//! Property: for every shipped dialect, encode-then-decode is the identity on generated
//! messages, and decode-then-encode gives back the same bytes, framed and unframed.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod support;

use adapter_protocols::framing::{FrameHeader, Tpdu};
use adapter_protocols::iso8583::{builtin, builtin_names};
use proptest::test_runner::{Config, TestRunner};

#[test]
fn encode_then_decode_is_the_identity_for_every_dialect() {
    for name in builtin_names() {
        let dialect = builtin(name).unwrap().unwrap();
        let mut runner = TestRunner::new(Config {
            cases: 512,
            failure_persistence: None,
            ..Config::default()
        });
        let with_subfields = std::cell::Cell::new(0usize);
        runner
            .run(&support::message(dialect), |message| {
                if message
                    .fields()
                    .any(|(de, _)| dialect.field(de).is_some_and(|s| s.subfields.is_some()))
                {
                    with_subfields.set(with_subfields.get() + 1);
                }
                let bytes = message.to_bytes().map_err(|e| {
                    proptest::test_runner::TestCaseError::fail(format!("{name}: encode: {e}"))
                })?;
                let decoded = dialect.decode(&bytes).map_err(|e| {
                    proptest::test_runner::TestCaseError::fail(format!("{name}: decode: {e}"))
                })?;
                proptest::prop_assert_eq!(decoded.mti(), message.mti());
                let a: Vec<_> = decoded.fields().collect();
                let b: Vec<_> = message.fields().collect();
                proptest::prop_assert_eq!(&a, &b, "{}: fields differ", name);
                proptest::prop_assert_eq!(decoded.to_bytes().ok(), Some(bytes.clone()));

                // The same message inside the dialect's frame.
                let header_bytes = vec![0x60; dialect.frame().header_length];
                let header = FrameHeader {
                    tpdu: dialect
                        .frame()
                        .tpdu
                        .then(|| Tpdu::from_bytes(&[0x60, 0, 1, 0, 2]))
                        .flatten(),
                    header: (dialect.frame().header_length > 0).then_some(&header_bytes[..]),
                };
                if let Ok(frame) = message.to_frame(&header) {
                    let (h, m) = dialect.decode_frame(&frame).map_err(|e| {
                        proptest::test_runner::TestCaseError::fail(format!("{name}: frame: {e}"))
                    })?;
                    proptest::prop_assert_eq!(h, header);
                    proptest::prop_assert_eq!(m.to_frame(&h).ok(), Some(frame));
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let has_subfields = dialect.fields().any(|(_, s)| s.subfields.is_some());
        assert!(
            !has_subfields || with_subfields.get() > 50,
            "{name}: only {} generated messages used subfields",
            with_subfields.get()
        );
    }
}
