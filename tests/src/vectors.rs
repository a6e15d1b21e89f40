//! Golden vectors for the ISO 8583 engine: files that give bytes (hex) and what they must decode
//! to, or the exact error they must produce.
//!
//! A golden vector (`*.toml`): `description`, `source`, `dialect`, `framed`, `hex`, and
//! `[expect]` in the JSON form of `stm-adapter codec decode`. It passes when the bytes decode to
//! exactly `expect` and `expect` encodes back to exactly the bytes.
//!
//! An error vector (`errors/*.toml`): `description`, `dialect`, `framed`, `hex`, and `[error]`
//! with `location` (as the error prints it: `DE 2`, `bitmap`, `frame` …), `offset` and `kind`
//! (the `DecodeErrorKind` variant). It passes when decoding fails exactly so.

use std::fmt;
use std::path::{Path, PathBuf};

use adapter_protocols::framing::FrameHeader;
use adapter_protocols::iso8583::json::{from_json, to_json};
use adapter_protocols::iso8583::{DecodeError, Dialect, builtin};
use serde::Deserialize;

/// The result of one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub file: PathBuf,
    pub description: String,
    /// `None` when the vector passed; otherwise what went wrong.
    pub failure: Option<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file.file_name().map_or_else(
            || self.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match &self.failure {
            None => write!(f, "pass  {name}  {}", self.description),
            Some(why) => write!(f, "FAIL  {name}  {why}"),
        }
    }
}

#[derive(Deserialize)]
struct Golden {
    description: String,
    dialect: String,
    framed: bool,
    hex: String,
    expect: toml::Value,
}

#[derive(Deserialize)]
struct Broken {
    description: String,
    dialect: String,
    framed: bool,
    hex: String,
    error: ExpectedError,
}

#[derive(Deserialize)]
struct ExpectedError {
    location: String,
    offset: usize,
    kind: String,
}

/// Runs every `*.toml` in `dir` as a golden vector and every `*.toml` in `dir/errors` as an
/// error vector, in file-name order.
pub fn run_dir(dir: &Path) -> std::io::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for file in toml_files(dir)? {
        outcomes.push(run_golden(&file));
    }
    let errors = dir.join("errors");
    if errors.is_dir() {
        for file in toml_files(&errors)? {
            outcomes.push(run_error(&file));
        }
    }
    Ok(outcomes)
}

fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn outcome(file: &Path, description: String, result: Result<(), String>) -> Outcome {
    Outcome {
        file: file.to_path_buf(),
        description,
        failure: result.err(),
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).map_err(|e| format!("hex: {e}"))
}

fn dialect(name: &str) -> Result<&'static Dialect, String> {
    match builtin(name) {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("no shipped dialect {name:?}")),
    }
}

/// Runs one golden vector.
pub fn run_golden(file: &Path) -> Outcome {
    let parsed = std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str::<Golden>(&t).map_err(|e| e.to_string()));
    match parsed {
        Err(e) => outcome(file, String::new(), Err(e)),
        Ok(v) => {
            let result = check_golden(&v);
            outcome(file, v.description, result)
        }
    }
}

fn check_golden(v: &Golden) -> Result<(), String> {
    let dialect = dialect(&v.dialect)?;
    let bytes = unhex(&v.hex)?;
    let (header, message) = if v.framed {
        dialect.decode_frame(&bytes)
    } else {
        dialect.decode(&bytes).map(|m| (FrameHeader::default(), m))
    }
    .map_err(|e| format!("decode: {e}"))?;
    let got = to_json(&header, &message).map_err(|e| format!("decode: {e}"))?;
    let mut expected = serde_json::to_value(&v.expect).map_err(|e| e.to_string())?;
    if let Some(object) = expected.as_object_mut() {
        for key in ["tpdu", "header"] {
            object.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    if got != expected {
        return Err(format!("decoded to {got}, expected {expected}"));
    }
    let (json_header, rebuilt) =
        from_json(dialect, &expected).map_err(|e| format!("encode: {e}"))?;
    let encoded = if v.framed {
        rebuilt.to_frame(&json_header.as_frame_header())
    } else {
        rebuilt.to_bytes()
    }
    .map_err(|e| format!("encode: {e}"))?;
    if encoded != bytes {
        return Err(format!(
            "re-encoded to {}, expected {}",
            hex::encode_upper(&encoded),
            hex::encode_upper(&bytes)
        ));
    }
    Ok(())
}

/// The variant name of a decode error's kind (`TooLong`, `BadHex` …).
pub fn kind_name(e: &DecodeError) -> String {
    let debug = format!("{:?}", e.kind);
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Runs one error vector.
pub fn run_error(file: &Path) -> Outcome {
    let parsed = std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str::<Broken>(&t).map_err(|e| e.to_string()));
    match parsed {
        Err(e) => outcome(file, String::new(), Err(e)),
        Ok(v) => {
            let result = check_error(&v);
            outcome(file, v.description, result)
        }
    }
}

fn check_error(v: &Broken) -> Result<(), String> {
    let dialect = dialect(&v.dialect)?;
    let bytes = unhex(&v.hex)?;
    let result = if v.framed {
        dialect.decode_frame(&bytes).map(|_| ())
    } else {
        dialect.decode(&bytes).map(|_| ())
    };
    let Err(err) = result else {
        return Err("decoded although it is malformed".to_owned());
    };
    let got = (err.location.to_string(), err.offset, kind_name(&err));
    let want = (
        v.error.location.clone(),
        v.error.offset,
        v.error.kind.clone(),
    );
    if got != want {
        return Err(format!("failed with {got:?} ({err}), expected {want:?}"));
    }
    Ok(())
}
