//! Result documents as real PDFs with Chinese text (pdf-writer, ttf-parser, subsetter).
//!
//! The font is WenQuanYi Micro Hei (Apache-2.0), cut down to GB 2312 and the characters of the
//! fixtures (fixtures/sandbox/fonts, scripts/gen-sandbox-font.sh). Each document embeds only the
//! glyphs it uses, as a CIDFontType2 with Identity-H encoding and a ToUnicode map, so the text
//! can be searched and copied. Characters the font lacks are drawn as "?".

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// The embedded font.
pub const FONT: &[u8] = include_bytes!("../../../fixtures/sandbox/fonts/wqy-microhei-gb2312.ttf");

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 64.0;
const TITLE_SIZE: f32 = 20.0;
const BODY_SIZE: f32 = 12.0;
const LINE_GAP: f32 = 8.0;

/// What a document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText {
    pub title: String,
    /// `(label, value)` lines.
    pub lines: Vec<(String, String)>,
    /// Printed at the foot of every page.
    pub footer: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font cannot be read: {0}")]
    Font(String),
}

struct Glyphs<'a> {
    face: ttf_parser::Face<'a>,
    remapper: subsetter::GlyphRemapper,
    /// New glyph id → character, for ToUnicode.
    chars: Vec<(u16, char)>,
    units_per_em: f32,
}

impl Glyphs<'_> {
    /// The new glyph id of `c`, and its advance in thousandths of the font size.
    fn glyph(&mut self, c: char) -> (u16, f32) {
        let (c, old) = match self.face.glyph_index(c) {
            Some(g) => (c, g),
            None => (
                '?',
                self.face.glyph_index('?').unwrap_or(ttf_parser::GlyphId(0)),
            ),
        };
        let new = self.remapper.remap(old.0);
        if !self.chars.iter().any(|(g, _)| *g == new) {
            self.chars.push((new, c));
        }
        let advance = f32::from(self.face.glyph_hor_advance(old).unwrap_or(0));
        (new, advance * 1000.0 / self.units_per_em)
    }

    /// The glyph codes of `text` and its width at `size`.
    fn shape(&mut self, text: &str, size: f32) -> (Vec<u8>, f32) {
        let mut codes = Vec::with_capacity(text.len() * 2);
        let mut width = 0.0;
        for c in text.chars() {
            let (g, advance) = self.glyph(c);
            codes.extend_from_slice(&g.to_be_bytes());
            width += advance * size / 1000.0;
        }
        (codes, width)
    }

    fn width(&mut self, text: &str, size: f32) -> f32 {
        self.shape(text, size).1
    }
}

/// Splits `text` into pieces no wider than `max` at `size`.
fn wrap(glyphs: &mut Glyphs<'_>, text: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if glyphs.width(&current, size) > max && current.chars().count() > 1 {
            current.pop();
            lines.push(std::mem::take(&mut current));
            current.push(c);
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// A line placed on a page.
struct Placed {
    x: f32,
    y: f32,
    size: f32,
    codes: Vec<u8>,
}

/// Renders `doc`; the PDF bytes and the page count.
pub fn render(doc: &DocumentText) -> Result<(Vec<u8>, u32), PdfError> {
    let face = ttf_parser::Face::parse(FONT, 0).map_err(|e| PdfError::Font(e.to_string()))?;
    let units_per_em = f32::from(face.units_per_em());
    let ascender = f32::from(face.ascender()) * 1000.0 / units_per_em;
    let descender = f32::from(face.descender()) * 1000.0 / units_per_em;
    let mut glyphs = Glyphs {
        face,
        remapper: subsetter::GlyphRemapper::new(),
        chars: Vec::new(),
        units_per_em,
    };

    // Lay out.
    let mut pages: Vec<Vec<Placed>> = vec![Vec::new()];
    let bottom = MARGIN + BODY_SIZE * 2.0;
    let mut y = PAGE_HEIGHT - MARGIN - TITLE_SIZE;
    for line in wrap(
        &mut glyphs,
        &doc.title,
        TITLE_SIZE,
        PAGE_WIDTH - 2.0 * MARGIN,
    ) {
        let (codes, width) = glyphs.shape(&line, TITLE_SIZE);
        if let Some(page) = pages.last_mut() {
            page.push(Placed {
                x: (PAGE_WIDTH - width) / 2.0,
                y,
                size: TITLE_SIZE,
                codes,
            });
        }
        y -= TITLE_SIZE + LINE_GAP;
    }
    y -= BODY_SIZE * 1.5;
    let label_width = doc
        .lines
        .iter()
        .map(|(label, _)| glyphs.width(label, BODY_SIZE))
        .fold(0.0f32, f32::max)
        + BODY_SIZE;
    let value_x = MARGIN + label_width.min(PAGE_WIDTH / 3.0);
    for (label, value) in &doc.lines {
        let pieces = wrap(&mut glyphs, value, BODY_SIZE, PAGE_WIDTH - MARGIN - value_x);
        for (i, piece) in pieces.iter().enumerate() {
            if y < bottom {
                pages.push(Vec::new());
                y = PAGE_HEIGHT - MARGIN - BODY_SIZE;
            }
            let page = pages.len() - 1;
            if i == 0 {
                let (codes, _) = glyphs.shape(label, BODY_SIZE);
                if let Some(p) = pages.get_mut(page) {
                    p.push(Placed {
                        x: MARGIN,
                        y,
                        size: BODY_SIZE,
                        codes,
                    });
                }
            }
            let (codes, _) = glyphs.shape(piece, BODY_SIZE);
            if let Some(p) = pages.get_mut(page) {
                p.push(Placed {
                    x: value_x,
                    y,
                    size: BODY_SIZE,
                    codes,
                });
            }
            y -= BODY_SIZE + LINE_GAP;
        }
    }
    let page_count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    let footers: Vec<(Vec<u8>, f32)> = (1..=pages.len())
        .map(|n| {
            let text = format!("{}    第 {n} 页 / 共 {page_count} 页", doc.footer);
            glyphs.shape(&text, 9.0)
        })
        .collect();

    // The font, cut down to the glyphs used.
    let subset = subsetter::subset(FONT, 0, &glyphs.remapper)
        .map_err(|e| PdfError::Font(format!("{e:?}")))?;
    let mut widths: Vec<(u16, f32)> = Vec::new();
    for old in glyphs.remapper.remapped_gids() {
        if let Some(new) = glyphs.remapper.get(old) {
            let advance = glyphs
                .face
                .glyph_hor_advance(ttf_parser::GlyphId(old))
                .map_or(0.0, f32::from);
            widths.push((new, advance * 1000.0 / units_per_em));
        }
    }
    widths.sort_by_key(|(g, _)| *g);

    // Write.
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = alloc();
    let tree = alloc();
    let font = alloc();
    let cid_font = alloc();
    let descriptor = alloc();
    let font_file = alloc();
    let to_unicode = alloc();
    let info = alloc();
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(i32::try_from(page_refs.len()).unwrap_or(i32::MAX));
    let font_name = Name(b"F1");
    let base_font = Name(b"STMSUB+WenQuanYiMicroHei");
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(font)
        .base_font(base_font)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_font)
        .to_unicode(to_unicode);
    {
        let mut cid = pdf.cid_font(cid_font);
        cid.subtype(CidFontType::Type2)
            .base_font(base_font)
            .system_info(system_info)
            .font_descriptor(descriptor)
            .default_width(1000.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        let mut w = cid.widths();
        for (g, width) in &widths {
            w.consecutive(*g, [*width]);
        }
        w.finish();
    }
    pdf.font_descriptor(descriptor)
        .name(base_font)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(0.0, descender, 1000.0, ascender))
        .italic_angle(0.0)
        .ascent(ascender)
        .descent(descender)
        .cap_height(ascender)
        .stem_v(80.0)
        .font_file2(font_file);
    pdf.stream(font_file, &subset).pair(
        Name(b"Length1"),
        i32::try_from(subset.len()).unwrap_or(i32::MAX),
    );
    let mut cmap = UnicodeCmap::new(Name(b"Custom"), system_info);
    for (g, c) in &glyphs.chars {
        cmap.pair(*g, *c);
    }
    pdf.cmap(to_unicode, &cmap.finish());
    pdf.document_info(info)
        .title(TextStr(&doc.title))
        .producer(TextStr("stm-adapter sandbox"));

    for ((page_ref, content_ref), (placed, (footer, footer_width))) in
        page_refs.iter().zip(pages.iter().zip(footers))
    {
        let mut page = pdf.page(*page_ref);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(tree)
            .contents(*content_ref);
        page.resources().fonts().pair(font_name, font);
        page.finish();
        let mut content = Content::new();
        for line in placed {
            content
                .begin_text()
                .set_font(font_name, line.size)
                .next_line(line.x, line.y)
                .show(Str(&line.codes))
                .end_text();
        }
        content
            .begin_text()
            .set_font(font_name, 9.0)
            .next_line((PAGE_WIDTH - footer_width) / 2.0, MARGIN / 2.0)
            .show(Str(&footer))
            .end_text();
        pdf.stream(*content_ref, &content.finish());
    }
    Ok((pdf.finish(), page_count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chinese_text_with_a_subset_font() {
        let doc = DocumentText {
            title: "户籍证明".into(),
            lines: vec![
                ("业务编号".into(), "GD20261128000001".into()),
                ("证明事项".into(), "兹证明张伟系本市常住户口。".repeat(20)),
            ],
            footer: "沙箱平台生成，仅供测试".into(),
        };
        let (pdf, pages) = render(&doc).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        assert!(pdf.ends_with(b"%%EOF\n") || pdf.ends_with(b"%%EOF"));
        assert_eq!(pages, 1);
        assert!(
            pdf.len() < 200_000,
            "only the glyphs used are embedded: {}",
            pdf.len()
        );
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/FontFile2") && text.contains("/ToUnicode"));
        assert!(text.contains("/Identity-H"));
    }

    #[test]
    fn long_documents_get_more_pages() {
        let doc = DocumentText {
            title: "缴费明细".into(),
            lines: (1..=80)
                .map(|i| (format!("{i}月"), "养老保险 1,234.56元".to_owned()))
                .collect(),
            footer: String::new(),
        };
        let (_, pages) = render(&doc).unwrap();
        assert!(pages >= 2, "{pages}");
    }
}
