//! Dialect files are operator input: any text loads or fails with a DialectError, never panics.
#![no_main]

use adapter_protocols::iso8583::Dialect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(dialect) = Dialect::from_toml("fuzz.toml", text) {
            let _ = dialect.decode(data);
        }
    }
});
