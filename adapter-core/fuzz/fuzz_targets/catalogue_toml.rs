//! Catalogue, calendar, site and profile files are operator input: any text loads or is refused
//! with its problems listed, never panics.
#![no_main]

use adapter_core::shipped::{DataFiles, DataSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let one = vec![("fuzz.toml".to_owned(), text.to_owned())];
    let _ = adapter_core::catalogue::load(&one);
    let _ = adapter_core::calendar::Calendar::load(&one);
    let _ = adapter_core::calendar::load_sites(&one);
    let _ = adapter_core::terminal::load_profiles(&one);
    let _ = DataSet::load(&DataFiles { catalogue: one.clone(), terminals: one.clone(), calendars: one.clone(), sites: one });
});
