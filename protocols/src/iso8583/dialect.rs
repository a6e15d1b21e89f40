//! A dialect: the whole layout of one ISO 8583 variant, read from TOML and checked.
//!
//! A dialect file names its frame (length prefix, TPDU, header), MTI and bitmap encodings,
//! per-class default encodings, and every data element it carries. Loading reports every
//! problem it finds, each with its path in the file, not only the first. See docs/iso8583.md.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::bitmap::BitmapEncoding;
use super::field::{
    Charset, Class, Encoding, FieldSpec, LengthEncoding, LengthKind, Padding, Sensitivity,
};
use super::mti::MtiEncoding;
use super::subfield::{Subfields, TagEncoding, TagSpec, TlvSpec, UnknownTags};
use crate::framing::{FrameSpec, LengthPrefix};

/// A checked dialect, ready to decode and encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialect {
    name: String,
    description: String,
    frame: FrameSpec,
    mti: MtiEncoding,
    bitmap: BitmapEncoding,
    secondary_bitmap: bool,
    /// Index = data element number (0 and 1 are always empty).
    fields: Vec<Option<FieldSpec>>,
}

/// A dialect file could not be loaded; `problems` lists every one found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dialect {source_name}: {}", problems.join("; "))]
pub struct DialectError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl Dialect {
    /// Parses and checks a dialect from TOML text. `source_name` (a file name, say) is used in
    /// the error.
    pub fn from_toml(source_name: &str, text: &str) -> Result<Dialect, DialectError> {
        let fail = |problems| DialectError {
            source_name: source_name.to_owned(),
            problems,
        };
        let def: DialectDef = toml::from_str(text).map_err(|e| fail(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        let dialect = compile(def, &mut problems);
        if problems.is_empty() {
            Ok(dialect)
        } else {
            Err(fail(problems))
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn frame(&self) -> &FrameSpec {
        &self.frame
    }

    pub fn mti_encoding(&self) -> MtiEncoding {
        self.mti
    }

    pub fn bitmap_encoding(&self) -> BitmapEncoding {
        self.bitmap
    }

    pub fn has_secondary_bitmap(&self) -> bool {
        self.secondary_bitmap
    }

    /// The rule for data element `de`, if the dialect defines it.
    pub fn field(&self, de: u8) -> Option<&FieldSpec> {
        self.fields.get(usize::from(de)).and_then(Option::as_ref)
    }

    /// The data elements this dialect defines, in order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &FieldSpec)> {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((u8::try_from(i).ok()?, f.as_ref()?)))
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DialectDef {
    name: String,
    description: String,
    frame: FrameDef,
    mti: MtiDef,
    bitmap: BitmapDef,
    #[serde(default)]
    defaults: DefaultsDef,
    fields: BTreeMap<String, FieldDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameDef {
    length_prefix: LengthPrefix,
    #[serde(default)]
    tpdu: bool,
    #[serde(default)]
    header_length: usize,
    #[serde(default = "default_max_frame")]
    max_frame: usize,
}

fn default_max_frame() -> usize {
    FrameSpec::DEFAULT_MAX_FRAME
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MtiDef {
    encoding: MtiEncoding,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BitmapDef {
    encoding: BitmapEncoding,
    secondary: bool,
}

/// Per-class defaults; a field may override each.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsDef {
    #[serde(default = "ascii_length")]
    length_encoding: LengthEncoding,
    #[serde(default = "ascii")]
    n: Encoding,
    #[serde(default = "ascii")]
    z: Encoding,
    #[serde(default = "ascii")]
    an: Encoding,
    #[serde(default = "ascii")]
    ans: Encoding,
    #[serde(default = "binary")]
    b: Encoding,
    #[serde(default)]
    bcd_filler: Option<String>,
}

impl Default for DefaultsDef {
    fn default() -> Self {
        DefaultsDef {
            length_encoding: LengthEncoding::Ascii,
            n: Encoding::Ascii,
            z: Encoding::Ascii,
            an: Encoding::Ascii,
            ans: Encoding::Ascii,
            b: Encoding::Binary,
            bcd_filler: None,
        }
    }
}

fn ascii_length() -> LengthEncoding {
    LengthEncoding::Ascii
}
fn ascii() -> Encoding {
    Encoding::Ascii
}
fn binary() -> Encoding {
    Encoding::Binary
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldDef {
    name: String,
    class: Class,
    length: LengthKind,
    max: usize,
    length_encoding: Option<LengthEncoding>,
    encoding: Option<Encoding>,
    padding: Option<Padding>,
    bcd_filler: Option<String>,
    charset: Option<Charset>,
    sensitivity: Option<Sensitivity>,
    positional: Option<BTreeMap<String, FieldDef>>,
    tlv: Option<TlvDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlvDef {
    tag_width: usize,
    #[serde(default = "ascii_tag")]
    tag_encoding: TagEncoding,
    length_width: usize,
    #[serde(default = "ascii_length")]
    length_encoding: LengthEncoding,
    unknown_tags: UnknownTags,
    #[serde(default)]
    tags: BTreeMap<String, TagDef>,
}

fn ascii_tag() -> TagEncoding {
    TagEncoding::Ascii
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagDef {
    name: String,
    class: Class,
    max: usize,
    charset: Option<Charset>,
    sensitivity: Option<Sensitivity>,
}

fn compile(def: DialectDef, problems: &mut Vec<String>) -> Dialect {
    let frame = FrameSpec {
        prefix: def.frame.length_prefix,
        tpdu: def.frame.tpdu,
        header_length: def.frame.header_length,
        max_frame: def.frame.max_frame,
    };
    if frame.max_frame == 0 || frame.max_frame > FrameSpec::LIMIT {
        problems.push(format!(
            "frame.max_frame: must be between 1 and {}",
            FrameSpec::LIMIT
        ));
    }
    if frame.header_length > 64 {
        problems.push("frame.header_length: at most 64 bytes".to_owned());
    }
    if def.name.trim().is_empty() {
        problems.push("name: must not be empty".to_owned());
    }
    let default_filler = filler(
        def.defaults.bcd_filler.as_deref(),
        "defaults.bcd_filler",
        problems,
    );
    let defaults = Defaults {
        length_encoding: def.defaults.length_encoding,
        n: def.defaults.n,
        z: def.defaults.z,
        an: def.defaults.an,
        ans: def.defaults.ans,
        b: def.defaults.b,
        bcd_filler: default_filler,
    };
    let mut fields: Vec<Option<FieldSpec>> = vec![None; 129];
    for (key, field) in def.fields {
        let path = format!("fields.{key}");
        let Some(de) = key.parse::<u8>().ok().filter(|de| (2..=128).contains(de)) else {
            problems.push(format!("{path}: a data element number is 2 to 128"));
            continue;
        };
        if !def.bitmap.secondary && de > 64 {
            problems.push(format!(
                "{path}: above 64 but the dialect has no secondary bitmap"
            ));
        }
        let spec = compile_field(field, &defaults, &path, problems);
        if let Some(slot) = fields.get_mut(usize::from(de)) {
            *slot = Some(spec);
        }
    }
    Dialect {
        name: def.name,
        description: def.description,
        frame,
        mti: def.mti.encoding,
        bitmap: def.bitmap.encoding,
        secondary_bitmap: def.bitmap.secondary,
        fields,
    }
}

struct Defaults {
    length_encoding: LengthEncoding,
    n: Encoding,
    z: Encoding,
    an: Encoding,
    ans: Encoding,
    b: Encoding,
    bcd_filler: u8,
}

impl Defaults {
    fn encoding(&self, class: Class) -> Encoding {
        match class {
            Class::N => self.n,
            Class::Z => self.z,
            Class::An => self.an,
            Class::Ans => self.ans,
            Class::B => self.b,
        }
    }
}

/// Subfields read the parent's logical value, which is text or bytes: ASCII by default.
const SUBFIELD_DEFAULTS: Defaults = Defaults {
    length_encoding: LengthEncoding::Ascii,
    n: Encoding::Ascii,
    z: Encoding::Ascii,
    an: Encoding::Ascii,
    ans: Encoding::Ascii,
    b: Encoding::Binary,
    bcd_filler: 0,
};

fn filler(text: Option<&str>, path: &str, problems: &mut Vec<String>) -> u8 {
    match text {
        None | Some("0") => 0,
        Some("F") | Some("f") => 0xF,
        Some(_) => {
            problems.push(format!("{path}: the BCD filler is \"0\" or \"F\""));
            0
        }
    }
}

fn compile_field(
    def: FieldDef,
    defaults: &Defaults,
    path: &str,
    problems: &mut Vec<String>,
) -> FieldSpec {
    let class = def.class;
    let encoding = def.encoding.unwrap_or_else(|| defaults.encoding(class));
    let compatible = match class {
        Class::N | Class::Z => matches!(
            encoding,
            Encoding::Ascii | Encoding::Ebcdic | Encoding::BcdLeft | Encoding::BcdRight
        ),
        Class::An | Class::Ans => matches!(encoding, Encoding::Ascii | Encoding::Ebcdic),
        Class::B => matches!(encoding, Encoding::Binary | Encoding::Hex),
    };
    if !compatible {
        problems.push(format!(
            "{path}: class {class} cannot use encoding {encoding:?}"
        ));
    }
    if def.max == 0 {
        problems.push(format!("{path}.max: must be at least 1"));
    }
    if def.max > def.length.limit() {
        problems.push(format!(
            "{path}.max: {} does not fit a {:?} prefix (at most {})",
            def.max,
            def.length,
            def.length.limit()
        ));
    }
    if def.length == LengthKind::Fixed && def.max > 9999 {
        problems.push(format!("{path}.max: a fixed field is at most 9999 long"));
    }
    let charset = def.charset.unwrap_or_default();
    if charset == Charset::Utf8 && (class != Class::Ans || encoding != Encoding::Ascii) {
        problems.push(format!(
            "{path}.charset: utf-8 is for class ans in ascii encoding only"
        ));
    }
    let padding = def.padding.unwrap_or(match class {
        Class::N => Padding::Left,
        Class::An | Class::Ans => Padding::Right,
        Class::B | Class::Z => Padding::None,
    });
    let bcd_filler = match def.bcd_filler.as_deref() {
        Some(f) => filler(Some(f), &format!("{path}.bcd_filler"), problems),
        None => defaults.bcd_filler,
    };
    let subfields = match (def.positional, def.tlv) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{path}: positional and tlv subfields exclude each other"
            ));
            None
        }
        (Some(parts), None) => Some(compile_positional(parts, class, path, problems)),
        (None, Some(tlv)) => Some(compile_tlv(tlv, class, path, problems)),
        (None, None) => None,
    };
    FieldSpec {
        name: def.name,
        class,
        length: def.length,
        max: def.max,
        length_encoding: def.length_encoding.unwrap_or(defaults.length_encoding),
        encoding,
        padding,
        bcd_filler,
        charset,
        sensitivity: def.sensitivity.unwrap_or_default(),
        subfields,
        text_mask: class.mask(charset),
    }
}

fn compile_positional(
    parts: BTreeMap<String, FieldDef>,
    parent: Class,
    path: &str,
    problems: &mut Vec<String>,
) -> Subfields {
    let mut out: Vec<(u8, FieldSpec)> = Vec::new();
    for (key, def) in parts {
        let sub_path = format!("{path}.positional.{key}");
        let Some(position) = key.parse::<u8>().ok().filter(|p| *p >= 1) else {
            problems.push(format!("{sub_path}: a position is a number from 1"));
            continue;
        };
        let spec = compile_field(def, &SUBFIELD_DEFAULTS, &sub_path, problems);
        if parent.is_text() && !spec.class.is_text() {
            problems.push(format!(
                "{sub_path}: a binary subfield cannot sit in a text field"
            ));
        }
        if !matches!(spec.encoding, Encoding::Ascii | Encoding::Binary) {
            problems.push(format!(
                "{sub_path}.encoding: subfields read the parent's logical value; use ascii (or binary)"
            ));
        }
        if spec.subfields.is_some() {
            problems.push(format!("{sub_path}: subfields do not nest"));
        }
        out.push((position, spec));
    }
    out.sort_by_key(|(p, _)| *p);
    for (i, (p, _)) in out.iter().enumerate() {
        if usize::from(*p) != i + 1 {
            problems.push(format!(
                "{path}.positional: positions must run 1, 2, 3 … without gaps"
            ));
            break;
        }
    }
    Subfields::Positional(out)
}

fn compile_tlv(def: TlvDef, parent: Class, path: &str, problems: &mut Vec<String>) -> Subfields {
    let tlv_path = format!("{path}.tlv");
    if def.tag_width == 0 || def.tag_width > 8 {
        problems.push(format!("{tlv_path}.tag_width: 1 to 8"));
    }
    let length_ok = match def.length_encoding {
        LengthEncoding::Ascii | LengthEncoding::Ebcdic => (1..=4).contains(&def.length_width),
        LengthEncoding::Bcd | LengthEncoding::Binary => (1..=2).contains(&def.length_width),
    };
    if !length_ok {
        problems.push(format!(
            "{tlv_path}.length_width: 1 to 4 digits for ascii, 1 to 2 bytes for bcd and binary"
        ));
    }
    if parent.is_text() && def.tag_encoding == TagEncoding::Binary {
        problems.push(format!(
            "{tlv_path}.tag_encoding: binary tags need a b field"
        ));
    }
    if parent.is_text() && def.length_encoding != LengthEncoding::Ascii {
        problems.push(format!(
            "{tlv_path}.length_encoding: a text field needs ascii lengths"
        ));
    }
    let mut tags = Vec::new();
    for (tag, t) in def.tags {
        let tag_path = format!("{tlv_path}.tags.{tag}");
        let width = match def.tag_encoding {
            TagEncoding::Ascii => tag.len(),
            TagEncoding::Binary => {
                if tag.len() % 2 != 0
                    || !tag
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                {
                    problems.push(format!(
                        "{tag_path}: a binary tag is written in upper-case hex"
                    ));
                }
                tag.len() / 2
            }
        };
        if width != def.tag_width {
            problems.push(format!("{tag_path}: the tag is not {} wide", def.tag_width));
        }
        if parent.is_text() && !t.class.is_text() {
            problems.push(format!(
                "{tag_path}: a binary tag cannot sit in a text field"
            ));
        }
        if t.max == 0 {
            problems.push(format!("{tag_path}.max: must be at least 1"));
        }
        tags.push(TagSpec {
            tag,
            name: t.name,
            class: t.class,
            max: t.max,
            charset: t.charset.unwrap_or_default(),
            sensitivity: t.sensitivity.unwrap_or_default(),
        });
    }
    Subfields::Tlv(TlvSpec {
        tag_width: def.tag_width,
        tag_encoding: def.tag_encoding,
        length_width: def.length_width,
        length_encoding: def.length_encoding,
        unknown_tags: def.unknown_tags,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r#"
            name = "broken"
            description = "x"
            frame = { length_prefix = "none" }
            mti = { encoding = "ascii" }
            bitmap = { encoding = "hex", secondary = false }
            [fields]
            1 = { name = "bitmap", class = "b", length = "fixed", max = 8 }
            2 = { name = "PAN", class = "n", length = "ll", max = 120 }
            3 = { name = "proc", class = "an", length = "fixed", max = 6, encoding = "bcd-left" }
            70 = { name = "nmic", class = "n", length = "fixed", max = 3 }
        "#;
        let err = Dialect::from_toml("broken.toml", text).err();
        let problems = err.map(|e| e.problems).unwrap_or_default();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("fields.1:")));
        assert!(problems.iter().any(|p| p.starts_with("fields.2.max:")));
        assert!(problems.iter().any(|p| p.starts_with("fields.3:")));
        assert!(problems.iter().any(|p| p.starts_with("fields.70:")));
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let err = Dialect::from_toml("x.toml", "name = ").err();
        assert!(err.is_some_and(|e| e.to_string().starts_with("dialect x.toml:")));
    }
}
