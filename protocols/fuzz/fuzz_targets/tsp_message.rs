//! TSP frames come from terminals: any text decodes to a message or a protocol error, never a
//! panic; whatever decodes re-encodes to an equal message.
#![no_main]

use adapter_protocols::tsp::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(message) = Message::decode(text) {
        let again = Message::decode(&message.encode());
        assert_eq!(again.ok().as_ref(), Some(&message));
        let _ = format!("{message:?}");
    }
});
