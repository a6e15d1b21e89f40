//! `stm-adapter codec`: the ISO 8583 engine for operators and other tools.
//!
//! A contract other tools parse: `dialects` prints one name a line; `decode` prints one JSON
//! object (see `adapter_protocols::iso8583::json`) and nothing else on stdout; `encode` prints
//! upper-case hex. On refused input: exit 1, nothing on stdout, the reason (field and byte
//! offset) on stderr.

use std::io::Read;
use std::path::PathBuf;

use adapter_protocols::framing::FrameHeader;
use adapter_protocols::iso8583::json::{from_json, to_json};
use adapter_protocols::iso8583::{Dialect, builtin, builtin_names};
use clap::{Args, Subcommand};

use super::{Failure, emit};

#[derive(Debug, Subcommand)]
pub(crate) enum CodecCommand {
    /// Lists the shipped dialects, one name a line.
    Dialects,
    /// Decodes a message given as hex and prints it as one JSON object.
    Decode {
        #[command(flatten)]
        dialect: DialectArg,
        /// The bytes include the frame: length prefix and, where the dialect has them, TPDU and
        /// header.
        #[arg(long)]
        framed: bool,
        /// The message in hexadecimal (spaces allowed), or `-` to read it from stdin.
        #[arg(long)]
        hex: String,
    },
    /// Encodes a message given in the JSON form of `decode` and prints upper-case hex.
    Encode {
        #[command(flatten)]
        dialect: DialectArg,
        /// Write the frame too: length prefix and, where the dialect has them, TPDU and header
        /// (taken from the JSON's "tpdu" and "header").
        #[arg(long)]
        framed: bool,
        /// A file holding the JSON, or `-` for stdin.
        #[arg(long)]
        json: PathBuf,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct DialectArg {
    /// A shipped dialect (see `stm-adapter codec dialects`).
    #[arg(long)]
    dialect: Option<String>,
    /// A dialect file (TOML, see docs/iso8583.md) instead of a shipped dialect.
    #[arg(long, value_name = "FILE")]
    dialect_file: Option<PathBuf>,
}

impl DialectArg {
    fn load(&self) -> Result<Dialect, Failure> {
        if let Some(path) = &self.dialect_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
            return Dialect::from_toml(&path.display().to_string(), &text)
                .map_err(|e| Failure::Usage(e.to_string()));
        }
        let name = self.dialect.as_deref().unwrap_or_default();
        match builtin(name) {
            Some(Ok(d)) => Ok(d.clone()),
            Some(Err(e)) => Err(Failure::Usage(e.to_string())),
            None => Err(Failure::Usage(format!(
                "no dialect named {name:?}; the shipped dialects are: {}",
                builtin_names().collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

pub(crate) fn run(command: CodecCommand) -> Result<(), Failure> {
    match command {
        CodecCommand::Dialects => {
            for name in builtin_names() {
                emit(name)?;
            }
            Ok(())
        }
        CodecCommand::Decode {
            dialect,
            framed,
            hex,
        } => decode(&dialect.load()?, framed, &hex),
        CodecCommand::Encode {
            dialect,
            framed,
            json,
        } => encode(&dialect.load()?, framed, &json),
    }
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::Refused(format!("cannot read stdin: {e}")))?;
    Ok(text)
}

fn decode(dialect: &Dialect, framed: bool, hex_arg: &str) -> Result<(), Failure> {
    let text = if hex_arg == "-" {
        read_stdin()?
    } else {
        hex_arg.to_owned()
    };
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&clean).map_err(|e| Failure::Refused(format!("--hex: {e}")))?;
    let refused = |e: adapter_protocols::iso8583::DecodeError| {
        Failure::Refused(format!("cannot decode as {}: {e}", dialect.name()))
    };
    let (header, message) = if framed {
        dialect.decode_frame(&bytes).map_err(refused)?
    } else {
        (
            FrameHeader::default(),
            dialect.decode(&bytes).map_err(refused)?,
        )
    };
    let json = to_json(&header, &message).map_err(refused)?;
    emit(&json.to_string())
}

fn encode(dialect: &Dialect, framed: bool, source: &PathBuf) -> Result<(), Failure> {
    let text = if source.as_os_str() == "-" {
        read_stdin()?
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| Failure::Refused(format!("cannot read {}: {e}", source.display())))?
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::Refused(format!("the input is not JSON: {e}")))?;
    let refused = |e: &dyn std::fmt::Display| {
        Failure::Refused(format!("cannot encode as {}: {e}", dialect.name()))
    };
    let (header, message) = from_json(dialect, &json).map_err(|e| refused(&e))?;
    let bytes = if framed {
        message.to_frame(&header.as_frame_header())
    } else {
        message.to_bytes()
    }
    .map_err(|e| refused(&e))?;
    emit(&hex::encode_upper(bytes))
}
