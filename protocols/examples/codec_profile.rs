//! A fixed workload for instruction-level profiling of the codec (valgrind --tool=callgrind
//! counts instructions, which stay the same run after run on a noisy machine):
//!
//! ```text
//! cargo build --release -p adapter-protocols --example codec_profile
//! valgrind --tool=callgrind target/release/examples/codec_profile decode 100000
//! ```
//!
//! Workloads: `decode`, `encode`, `round-trip` of the reference 0200 with iso87-ascii, and
//! `iso8583_rs-decode`, `iso8583_rs-encode`, `iso8583_rs-round-trip`: the same with iso8583_rs
//! 0.1.10 (set SPEC_FILE=protocols/benches/iso8583_rs_0200.yaml when running the binary
//! directly; `cargo run` sets it from .cargo/config.toml).

use std::hint::black_box;
use std::io::Write;

use adapter_protocols::iso8583::{Message, Mti, builtin};

const REFERENCE: [(u8, &str); 16] = [
    (2, "6222021234567890123"),
    (3, "500000"),
    (4, "000000012300"),
    (7, "1128031500"),
    (11, "000123"),
    (12, "111500"),
    (13, "1128"),
    (22, "051"),
    (25, "00"),
    (32, "01020000"),
    (35, "6222021234567890123=30122011234567890"),
    (37, "333111000123"),
    (41, "STM00001"),
    (42, "440100000000001"),
    (
        48,
        "GS01031114400000069398000B4442111001000IDN018440104199001011234",
    ),
    (49, "156"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "round-trip".into());
    let n: usize = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let dialect = builtin("iso87-ascii").ok_or("no iso87-ascii")??;
    let build = || {
        let mut m = Message::new(
            dialect,
            Mti::from_digits(*b"0200").unwrap_or_else(|_| unreachable!()),
        );
        for (de, v) in REFERENCE {
            m.set(de, v);
        }
        m
    };
    let bytes = build().to_bytes()?;
    let message = build();
    if let Some(rs) = workload.strip_prefix("iso8583_rs-") {
        return iso8583_rs_workload(rs, n);
    }
    let mut total = 0usize;
    for _ in 0..n {
        total += match workload.as_str() {
            "decode" => dialect.decode(black_box(&bytes))?.fields().count(),
            "encode" => black_box(&message).to_bytes()?.len(),
            _ => {
                let b = build().to_bytes()?;
                dialect.decode(black_box(&b))?.fields().count()
            }
        };
    }
    writeln!(std::io::stdout(), "{workload} x{n}: {total}")?;
    Ok(())
}

fn iso8583_rs_workload(workload: &str, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    use iso8583_rs::iso8583::iso_spec::{new_msg, spec};
    let spec = spec("iso87-ascii-0200");
    let build = || -> Result<_, Box<dyn std::error::Error>> {
        let segment = spec.get_message_from_header("0200").map_err(|e| e.msg)?;
        let mut m = new_msg(spec, segment);
        m.set("message_type", "0200").map_err(|e| e.msg)?;
        for (de, v) in REFERENCE {
            m.set_on(u32::from(de), v).map_err(|e| e.msg)?;
        }
        Ok(m)
    };
    let message = build()?;
    let mut bytes = message.assemble().map_err(|e| e.msg)?;
    let mut total = 0usize;
    for _ in 0..n {
        total += match workload {
            "decode" => spec
                .parse(black_box(&mut bytes))
                .map_err(|e| e.msg)?
                .fd_map
                .len(),
            "encode" => black_box(&message).assemble().map_err(|e| e.msg)?.len(),
            _ => {
                let mut b = build()?.assemble().map_err(|e| e.msg)?;
                spec.parse(black_box(&mut b))
                    .map_err(|e| e.msg)?
                    .fd_map
                    .len()
            }
        };
    }
    writeln!(std::io::stdout(), "iso8583_rs-{workload} x{n}: {total}")?;
    Ok(())
}
