//! The JSON form (input of `stm-adapter codec encode`): any JSON builds a message or fails with
//! a JsonError; whatever encodes must decode again.
#![no_main]

use adapter_protocols::iso8583::json::from_json;
use adapter_protocols::iso8583::{builtin, builtin_names};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for name in builtin_names() {
        let Some(Ok(dialect)) = builtin(name) else { continue };
        if let Ok((_, message)) = from_json(dialect, &json) {
            if let Ok(bytes) = message.to_bytes() {
                assert!(dialect.decode(&bytes).is_ok(), "{name}: encoded bytes do not decode");
            }
        }
    }
});
