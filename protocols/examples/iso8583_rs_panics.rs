//! Feeds random frames to iso8583_rs 0.1.10 and to our codec, and counts panics: the
//! measurement behind docs/decisions/0001-own-iso8583-codec.md.
//!
//! ```text
//! cargo run --release -p adapter-protocols --example iso8583_rs_panics -- 2000
//! ```
//!
//! Half the frames are random bytes behind a valid MTI ("0200", so iso8583_rs gets past its
//! message selection), half are the reference 0200 with random bytes changed.

use std::io::Write;
use std::panic;

use adapter_protocols::iso8583::Dialect;
use adapter_protocols::iso8583::builtin::SOURCES;
use iso8583_rs::iso8583::iso_spec::{new_msg, spec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(2000), |s| s.parse())?;
    let rs = spec("iso87-ascii-0200");
    // Our iso87-ascii with a binary bitmap: the layout iso8583_rs reads.
    let (_, text) = SOURCES
        .iter()
        .find(|(n, _)| *n == "iso87-ascii")
        .ok_or("no dialect")?;
    let text = text.replacen(
        "encoding = \"hex\"\nsecondary",
        "encoding = \"binary\"\nsecondary",
        1,
    );
    let ours = Dialect::from_toml("iso87-ascii, binary bitmap", &text)?;

    // The reference 0200 as iso8583_rs writes it (binary bitmap).
    let segment = rs.get_message_from_header("0200").map_err(|e| e.msg)?;
    let mut reference = new_msg(rs, segment);
    reference.set("message_type", "0200").map_err(|e| e.msg)?;
    for (de, v) in [
        (2, "6222021234567890123"),
        (3, "500000"),
        (4, "000000012300"),
        (11, "000123"),
        (41, "STM00001"),
        (49, "156"),
    ] {
        reference.set_on(de, v).map_err(|e| e.msg)?;
    }
    let reference = reference.assemble().map_err(|e| e.msg)?;

    // Silence the panic messages; we only count them.
    panic::set_hook(Box::new(|_| {}));
    let mut rng = SmallRng::seed_from_u64(2000);
    let (mut rs_panics, mut rs_errors, mut rs_ok) = (0, 0, 0);
    let (mut our_panics, mut our_errors, mut our_ok) = (0, 0, 0);
    for i in 0..n {
        let mut frame = if i % 2 == 0 {
            let mut f = b"0200".to_vec();
            f.extend((0..rng.random_range(0..200)).map(|_| rng.random::<u8>()));
            f
        } else {
            let mut f = reference.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..f.len());
                if let Some(b) = f.get_mut(at) {
                    *b = rng.random();
                }
            }
            f
        };
        match panic::catch_unwind(panic::AssertUnwindSafe(|| rs.parse(&mut frame).is_ok())) {
            Ok(true) => rs_ok += 1,
            Ok(false) => rs_errors += 1,
            Err(_) => rs_panics += 1,
        }
        match panic::catch_unwind(|| ours.decode(&frame).is_ok()) {
            Ok(true) => our_ok += 1,
            Ok(false) => our_errors += 1,
            Err(_) => our_panics += 1,
        }
    }
    let _ = panic::take_hook();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{n} frames")?;
    writeln!(
        out,
        "iso8583_rs 0.1.10: {rs_panics} panics, {rs_errors} errors, {rs_ok} accepted"
    )?;
    writeln!(
        out,
        "adapter-protocols: {our_panics} panics, {our_errors} errors, {our_ok} accepted"
    )?;
    Ok(())
}
