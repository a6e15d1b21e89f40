//! No input makes the codec panic: a million random and mutated frames go through every
//! shipped dialect (decode, framed decode, frame check, the tokio codec when the `tokio-codec`
//! feature is on, JSON rendering, masking Display). Every
//! frame a dialect accepts must re-encode to exactly the same bytes.

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;

use adapter_protocols::framing::FrameHeader;
use adapter_protocols::iso8583::json::to_json;
use adapter_protocols::iso8583::{Dialect, builtin, builtin_names};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const FRAMES: usize = 1_000_000;

fn dialects() -> Vec<&'static Dialect> {
    builtin_names()
        .map(|n| builtin(n).unwrap().unwrap())
        .collect()
}

/// Valid frames to mutate: the golden vectors and generated messages of every dialect.
fn seeds(dialects: &[&'static Dialect]) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/iso8583");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let v: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let hex: String = v["hex"].as_str().unwrap().split_whitespace().collect();
            seeds.push(hex::decode(hex).unwrap());
        }
    }
    let mut runner = TestRunner::deterministic();
    for dialect in dialects {
        let strategy = support::message(dialect);
        for _ in 0..100 {
            let message = strategy.new_tree(&mut runner).unwrap().current();
            if let Ok(body) = message.to_bytes() {
                seeds.push(body);
            }
            if let Ok(frame) = message.to_frame(&FrameHeader {
                tpdu: None,
                header: None,
            }) {
                seeds.push(frame);
            }
        }
    }
    seeds
}

fn mutate(rng: &mut SmallRng, seed: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(seed);
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = [0x00, 0xFF, b'0', b'9', b'F', 0x80, b'=', 0x7F][rng.random_range(0..8)];
            }
            2 => out.truncate(rng.random_range(0..=len)),
            3 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..8);
                for _ in 0..n {
                    out.insert(i, rng.random());
                }
            }
            4 if len > 4 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len.min(a + 32));
                let chunk = out[a..b].to_vec();
                let at = rng.random_range(0..=out.len());
                out.splice(at..at, chunk);
            }
            5 if len >= 4 => {
                for b in out.iter_mut().take(4) {
                    *b = rng.random();
                }
            }
            _ if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = rng.random();
            }
            _ => out.push(rng.random()),
        }
    }
}

fn exercise(dialect: &Dialect, frame: &[u8]) -> usize {
    let mut accepted = 0;
    if let Ok(message) = dialect.decode(frame) {
        accepted += 1;
        let again = message.to_bytes().expect("an accepted message re-encodes");
        assert_eq!(
            again,
            frame,
            "{}: decode-then-encode changed the bytes",
            dialect.name()
        );
        let _ = to_json(&FrameHeader::default(), &message);
        let _ = format!("{message} {message:?}");
    }
    if let Ok((header, message)) = dialect.decode_frame(frame) {
        accepted += 1;
        let again = message
            .to_frame(&header)
            .expect("an accepted frame re-encodes");
        assert_eq!(
            again,
            frame,
            "{}: framed decode-then-encode changed the bytes",
            dialect.name()
        );
        let _ = to_json(&header, &message);
    }
    let _ = dialect.frame().check(frame);
    #[cfg(feature = "tokio-codec")]
    {
        use tokio_util::codec::Decoder;
        let mut codec = adapter_protocols::framing::codec::FrameCodec::new(*dialect.frame());
        let mut buf = bytes::BytesMut::from(frame);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
    }
    accepted
}

#[test]
fn a_million_random_and_mutated_frames_never_panic() {
    let seed = std::env::var("STM_ROBUSTNESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5747_4144_4150_5445u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dialects = dialects();
    let seeds = seeds(&dialects);
    let mut frame = Vec::with_capacity(1024);
    let mut accepted = 0usize;
    for i in 0..FRAMES {
        if i % 4 == 0 {
            let len = rng.random_range(0..300);
            frame.clear();
            frame.extend((0..len).map(|_| rng.random::<u8>()));
        } else {
            let seed = &seeds[rng.random_range(0..seeds.len())];
            mutate(&mut rng, seed, &mut frame);
        }
        for dialect in &dialects {
            accepted += exercise(dialect, &frame);
        }
    }
    println!(
        "{FRAMES} frames through {} dialects: {accepted} decodes accepted (seed {seed:#x})",
        dialects.len()
    );
    // Mutations must reach deep enough that some frames still decode.
    assert!(
        accepted > 1_000,
        "only {accepted} mutated frames decoded (seed {seed})"
    );
}
