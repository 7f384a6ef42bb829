//! The PDF/A-3b file of a licence, written with `pdf-writer` (ISO 32000-1 objects, ISO 19005-3
//! conformance level B).
//!
//! What the file holds, object by object: catalog (`/Lang zh-CN`, `/Metadata`, `/OutputIntents`
//! with the sRGB profile, `/Names/EmbeddedFiles` and `/AF` naming `licence.json`), one A4 page
//! whose content draws a cached frame form XObject and the licence's own text and QR code, two
//! Type 0 fonts (Identity-H, CIDFontType0 with a per-document `CIDFontType0C` subset, `/W`
//! widths, a ToUnicode CMap), the XMP packet (`pdfaid:part 3`, `pdfaid:conformance B`,
//! `dc:identifier` = the GB/T 36904 identifier), a document information dictionary that agrees
//! with the XMP, and a trailer `/ID`.

use std::collections::HashMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use pdf_writer::types::{AssociationKind, CidFontType, FontFlags, OutputIntentSubtype, SystemInfo};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use time::OffsetDateTime;

use super::text::LicenceFont;

/// Points per millimetre.
pub(crate) const MM: f32 = 72.0 / 25.4;
/// A4 (ISO 216), millimetres.
pub(crate) const PAGE_W: f32 = 210.0;
pub(crate) const PAGE_H: f32 = 297.0;

/// sRGB IEC 61966-2.1 ICC v4 profile from Compact-ICC-Profiles (CC0 1.0), the PDF/A output
/// intent (ISO 19005-3 §6.2.3).
static SRGB_ICC: &[u8] = include_bytes!("sRGB-v4.icc");

/// An sRGB colour.
pub(crate) type Rgb = (u8, u8, u8);

fn unit(c: u8) -> f32 {
    f32::from(c) / 255.0
}

pub(crate) fn deflate(data: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// The glyphs of one font a document uses, in CID order (CID 0 = `.notdef`).
pub(crate) struct FontUse<'f> {
    font: &'f LicenceFont,
    cids: HashMap<u16, u16>,
    glyphs: Vec<(u16, Option<char>)>,
}

impl<'f> FontUse<'f> {
    fn new(font: &'f LicenceFont) -> Self {
        let mut cids = HashMap::with_capacity(256);
        cids.insert(0, 0);
        Self {
            font,
            cids,
            glyphs: vec![(0, None)],
        }
    }

    /// `text` as two-byte CIDs (Identity-H); characters without a glyph use CID 0.
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            let gid = self.font.glyph(c).map_or(0, |(g, _)| g);
            let next = u16::try_from(self.glyphs.len()).unwrap_or(0);
            let cid = *self.cids.entry(gid).or_insert_with(|| {
                self.glyphs.push((gid, Some(c)));
                next
            });
            out.extend_from_slice(&cid.to_be_bytes());
        }
        out
    }
}

/// A line of text placed on the page (millimetres from the top-left corner, baseline).
#[derive(Clone, Debug)]
pub(crate) struct Placed {
    pub(crate) bold: bool,
    pub(crate) size_pt: f32,
    pub(crate) x_mm: f32,
    pub(crate) baseline_mm: f32,
    pub(crate) text: String,
    /// Extra space after every glyph, in em (ISO 32000-1 §9.3.2 character spacing).
    pub(crate) tracking_em: f32,
    pub(crate) colour: Rgb,
}

/// A page being drawn: millimetres from the top-left corner in, PDF points out.
pub(crate) struct Canvas<'f> {
    content: Content,
    fonts: [FontUse<'f>; 2],
    /// The character spacing in force (text state persists across text objects, §9.3.1).
    char_spacing: f32,
}

/// Round to 1/100 pt: plenty for print, and short numbers in the content stream.
fn r2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

fn x_pt(x_mm: f32) -> f32 {
    r2(x_mm * MM)
}

fn y_pt(y_mm: f32) -> f32 {
    r2((PAGE_H - y_mm) * MM)
}

impl<'f> Canvas<'f> {
    /// A blank page that will use `regular` (`/F0`) and `bold` (`/F1`).
    pub(crate) fn new(regular: &'f LicenceFont, bold: &'f LicenceFont) -> Self {
        let mut content = Content::new();
        content.x_object(Name(b"Fm0"));
        Self {
            content,
            fonts: [FontUse::new(regular), FontUse::new(bold)],
            char_spacing: 0.0,
        }
    }

    /// One line of text.
    pub(crate) fn text(&mut self, p: &Placed) {
        if p.text.is_empty() {
            return;
        }
        let idx = usize::from(p.bold);
        let bytes = self.fonts[idx].encode(&p.text);
        let c = &mut self.content;
        c.begin_text();
        c.set_fill_rgb(unit(p.colour.0), unit(p.colour.1), unit(p.colour.2));
        c.set_font(Name(if p.bold { b"F1" } else { b"F0" }), r2(p.size_pt));
        let spacing = r2(p.tracking_em * p.size_pt);
        if spacing != self.char_spacing {
            c.set_char_spacing(spacing);
            self.char_spacing = spacing;
        }
        c.set_text_matrix([1.0, 0.0, 0.0, 1.0, x_pt(p.x_mm), y_pt(p.baseline_mm)]);
        c.show(Str(&bytes));
        c.end_text();
    }

    /// Straight rules (x0, x1, y) in millimetres.
    pub(crate) fn rules(&mut self, rules: &[(f32, f32, f32)], width_pt: f32, colour: Rgb) {
        if rules.is_empty() {
            return;
        }
        let c = &mut self.content;
        c.set_line_width(width_pt);
        c.set_stroke_rgb(unit(colour.0), unit(colour.1), unit(colour.2));
        for (x0, x1, y) in rules {
            c.move_to(x_pt(*x0), y_pt(*y));
            c.line_to(x_pt(*x1), y_pt(*y));
        }
        c.stroke();
    }

    /// Filled rectangles (x, y top, w, h) in millimetres.
    pub(crate) fn fill_rects(&mut self, rects: &[(f32, f32, f32, f32)], colour: Rgb) {
        if rects.is_empty() {
            return;
        }
        let c = &mut self.content;
        c.set_fill_rgb(unit(colour.0), unit(colour.1), unit(colour.2));
        for (x, y, w, h) in rects {
            c.rect(x_pt(*x), y_pt(y + h), r2(w * MM), r2(h * MM));
        }
        c.fill_nonzero();
    }
}

/// Draw into a content stream in millimetres from the top-left corner (for the frame).
pub(crate) struct Sketch {
    content: Content,
}

impl Sketch {
    pub(crate) fn new() -> Self {
        Self {
            content: Content::new(),
        }
    }

    pub(crate) fn stroke_rgb(&mut self, colour: Rgb, width_pt: f32) {
        self.content
            .set_stroke_rgb(unit(colour.0), unit(colour.1), unit(colour.2));
        self.content.set_line_width(width_pt);
    }

    pub(crate) fn move_to(&mut self, x: f32, y: f32) {
        self.content.move_to(x_pt(x), y_pt(y));
    }

    pub(crate) fn line_to(&mut self, x: f32, y: f32) {
        self.content.line_to(x_pt(x), y_pt(y));
    }

    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.content
            .rect(x_pt(x), y_pt(y + h), r2(w * MM), r2(h * MM));
    }

    pub(crate) fn stroke(&mut self) {
        self.content.stroke();
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.content.finish().into_vec()
    }
}

/// Everything the file needs besides the page content.
pub(crate) struct FileInfo<'a> {
    pub(crate) title: &'a str,
    pub(crate) author: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) keywords: &'a str,
    pub(crate) identifier: &'a str,
    pub(crate) created: OffsetDateTime,
    pub(crate) licence_json: &'a [u8],
    pub(crate) licence_json_name: &'a str,
    pub(crate) licence_json_description: &'a str,
    /// Deflated content of the frame form XObject (drawn first, full page).
    pub(crate) frame: &'a [u8],
}

fn pdf_date(t: OffsetDateTime) -> Date {
    let off = t.offset();
    Date::new(u16::try_from(t.year()).unwrap_or(2000))
        .month(u8::from(t.month()))
        .day(t.day())
        .hour(t.hour())
        .minute(t.minute())
        .second(t.second())
        .utc_offset_hour(off.whole_hours())
        .utc_offset_minute(off.minutes_past_hour().unsigned_abs())
}

fn xmp_date(t: OffsetDateTime) -> xmp_writer::DateTime {
    let off = t.offset();
    xmp_writer::DateTime {
        year: u16::try_from(t.year()).unwrap_or(2000),
        month: Some(u8::from(t.month())),
        day: Some(t.day()),
        hour: Some(t.hour()),
        minute: Some(t.minute()),
        second: Some(t.second()),
        timezone: Some(if off.is_utc() {
            xmp_writer::Timezone::Utc
        } else {
            xmp_writer::Timezone::Local {
                hour: off.whole_hours(),
                minute: off.minutes_past_hour(),
            }
        }),
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn uuid_of(h: &[u8; 32]) -> String {
    let x = hex::encode(&h[..16]);
    format!(
        "uuid:{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// Six upper-case letters naming a subset (ISO 32000-1 §9.6.4), from the glyphs it holds.
fn subset_tag(font: &LicenceFont, glyphs: &[(u16, Option<char>)]) -> String {
    let mut bytes = Vec::with_capacity(glyphs.len() * 2 + 1);
    bytes.push(u8::from(font.is_bold()));
    for (g, _) in glyphs {
        bytes.extend_from_slice(&g.to_be_bytes());
    }
    sha256(&[&bytes])
        .iter()
        .take(6)
        .map(|b| char::from(b'A' + b % 26))
        .collect()
}

/// Why the file could not be written (a font defect; never user input).
#[derive(Debug, thiserror::Error)]
#[error("cannot embed the licence font: {0}")]
pub struct WriteError(String);

/// Write the font objects of one [`FontUse`] at ids `type0` … `type0 + 4` (Type 0 font,
/// CIDFont, descriptor, font program, ToUnicode CMap).
fn write_font(pdf: &mut Pdf, type0: Ref, used: &FontUse<'_>) -> Result<(), WriteError> {
    let cid_ref = Ref::new(type0.get() + 1);
    let descriptor_ref = Ref::new(type0.get() + 2);
    let file_ref = Ref::new(type0.get() + 3);
    let cmap_ref = Ref::new(type0.get() + 4);
    let font = used.font;
    let gids: Vec<u16> = used.glyphs.iter().map(|(g, _)| *g).collect();
    let program = font
        .cff()
        .subset(&gids)
        .map_err(|e| WriteError(e.to_string()))?;
    let tag = subset_tag(font, &used.glyphs);
    let base = format!("{tag}+{}", font.postscript_name());
    let m = font.metrics();

    pdf.type0_font(type0)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_ref)
        .to_unicode(cmap_ref);
    let mut cid = pdf.cid_font(cid_ref);
    cid.subtype(CidFontType::Type0)
        .base_font(Name(base.as_bytes()))
        .system_info(SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        })
        .font_descriptor(descriptor_ref)
        .default_width(1000.0);
    let widths: Vec<f32> = gids.iter().map(|g| font.advance_1000(*g).round()).collect();
    if widths.iter().any(|w| (*w - 1000.0).abs() > 0.5) {
        cid.widths().consecutive(0, widths);
    }
    cid.finish();
    let mut flags = FontFlags::SYMBOLIC;
    flags.insert(FontFlags::SERIF);
    pdf.font_descriptor(descriptor_ref)
        .name(Name(base.as_bytes()))
        .flags(flags)
        .bbox(Rect::new(m.bbox[0], m.bbox[1], m.bbox[2], m.bbox[3]))
        .italic_angle(0.0)
        .ascent(m.ascent)
        .descent(m.descent)
        .cap_height(m.cap_height)
        .stem_v(if font.is_bold() { 140.0 } else { 80.0 })
        .font_file3(file_ref);
    // Glyph programs gain ~16 % from deflate; not worth the time per licence.
    pdf.stream(file_ref, &program)
        .pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
    let mut cmap = pdf_writer::types::UnicodeCmap::new(
        Name(b"Adobe-Identity-UCS"),
        SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"UCS"),
            supplement: 0,
        },
    );
    for (i, (_, ch)) in used.glyphs.iter().enumerate() {
        if let (Some(ch), Ok(cid)) = (ch, u16::try_from(i)) {
            cmap.pair(cid, *ch);
        }
    }
    let cmap_bytes = cmap.finish();
    let packed = deflate(cmap_bytes.as_slice(), Compression::fast());
    pdf.stream(cmap_ref, &packed).filter(Filter::FlateDecode);
    Ok(())
}

/// Write the whole file: one page with `canvas`, the fonts, the metadata and the attachment.
pub(crate) fn write_pdf(canvas: Canvas<'_>, info: &FileInfo<'_>) -> Result<Vec<u8>, WriteError> {
    let catalog_ref = Ref::new(1);
    let pages_ref = Ref::new(2);
    let page_ref = Ref::new(3);
    let content_ref = Ref::new(4);
    let frame_ref = Ref::new(5);
    let font_refs = [Ref::new(6), Ref::new(11)];
    let metadata_ref = Ref::new(16);
    let icc_ref = Ref::new(17);
    let file_ref = Ref::new(18);
    let spec_ref = Ref::new(19);
    let info_ref = Ref::new(20);

    let content = canvas.content.finish();
    let content = deflate(content.as_slice(), Compression::fast());
    let mut pdf = Pdf::with_capacity(64 * 1024);
    pdf.set_version(1, 7);

    // Page tree.
    pdf.pages(pages_ref).kids([page_ref]).count(1);
    let a4 = Rect::new(0.0, 0.0, PAGE_W * MM, PAGE_H * MM);
    let mut page = pdf.page(page_ref);
    page.parent(pages_ref).media_box(a4).contents(content_ref);
    {
        let mut res = page.resources();
        res.x_objects().pair(Name(b"Fm0"), frame_ref);
        res.fonts()
            .pair(Name(b"F0"), font_refs[0])
            .pair(Name(b"F1"), font_refs[1]);
    }
    page.finish();
    pdf.stream(content_ref, &content)
        .filter(Filter::FlateDecode);
    pdf.form_xobject(frame_ref, info.frame)
        .bbox(a4)
        .filter(Filter::FlateDecode);
    for (used, r) in canvas.fonts.iter().zip(font_refs) {
        write_font(&mut pdf, r, used)?;
    }

    // Metadata (ISO 19005-3 §6.6): XMP with the PDF/A identification and dc:identifier.
    let created = pdf_date(info.created);
    let doc_hash = sha256(&[info.identifier.as_bytes()]);
    let inst_hash = sha256(&[
        info.identifier.as_bytes(),
        &info.created.unix_timestamp().to_be_bytes(),
        &content,
    ]);
    let mut xmp = xmp_writer::XmpWriter::new();
    xmp.title([(None, info.title)]);
    xmp.creator([info.author]);
    xmp.description([(None, info.subject)]);
    xmp.identifier(info.identifier);
    xmp.language([xmp_writer::LangId("zh-CN")]);
    xmp.format("application/pdf");
    xmp.pdf_keywords(info.keywords);
    xmp.producer(PRODUCER);
    xmp.creator_tool(CREATOR);
    xmp.create_date(xmp_date(info.created));
    xmp.modify_date(xmp_date(info.created));
    xmp.metadata_date(xmp_date(info.created));
    xmp.document_id(&uuid_of(&doc_hash));
    xmp.instance_id(&uuid_of(&inst_hash));
    xmp.pdfa_part(3);
    xmp.pdfa_conformance("B");
    let xmp = xmp.finish(None);
    pdf.metadata(metadata_ref, xmp.as_bytes());

    // Document information, agreeing with the XMP (ISO 19005-3 §6.6.2.2).
    pdf.document_info(info_ref)
        .title(TextStr(info.title))
        .author(TextStr(info.author))
        .subject(TextStr(info.subject))
        .keywords(TextStr(info.keywords))
        .creator(TextStr(CREATOR))
        .producer(TextStr(PRODUCER))
        .creation_date(created)
        .modified_date(created);

    // Output intent profile.
    pdf.icc_profile(icc_ref, SRGB_ICC)
        .n(3)
        .range([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);

    // The licence data (ISO 19005-3 §6.8: an associated file with /AFRelationship).
    let packed = deflate(info.licence_json, Compression::fast());
    let mut ef = pdf.embedded_file(file_ref, &packed);
    ef.subtype(Name(b"application/json"))
        .filter(Filter::FlateDecode);
    ef.params()
        .size(i32::try_from(info.licence_json.len()).unwrap_or(i32::MAX))
        .modification_date(created);
    ef.finish();
    let mut spec = pdf.file_spec(spec_ref);
    spec.path(Str(info.licence_json_name.as_bytes()))
        .unic_file(TextStr(info.licence_json_name))
        .description(TextStr(info.licence_json_description))
        .association_kind(AssociationKind::Data);
    {
        let mut ef_dict = spec.insert(Name(b"EF")).dict();
        ef_dict.pair(Name(b"F"), file_ref);
        ef_dict.pair(Name(b"UF"), file_ref);
    }
    spec.finish();

    let mut catalog = pdf.catalog(catalog_ref);
    catalog
        .pages(pages_ref)
        .metadata(metadata_ref)
        .lang(TextStr("zh-CN"));
    catalog.viewer_preferences().display_doc_title(true);
    {
        let mut intents = catalog.output_intents();
        let mut oi = intents.push();
        oi.subtype(OutputIntentSubtype::PDFA)
            .output_condition_identifier(TextStr("sRGB"))
            .registry_name(TextStr("http://www.color.org"))
            .info(TextStr("sRGB IEC61966-2.1"))
            .dest_output_profile(icc_ref);
    }
    catalog
        .names()
        .embedded_files()
        .names()
        .insert(Str(info.licence_json_name.as_bytes()), spec_ref);
    catalog.insert(Name(b"AF")).array().item(spec_ref);
    catalog.finish();

    pdf.set_file_id((doc_hash[..16].to_vec(), inst_hash[..16].to_vec()));
    Ok(pdf.finish())
}

/// `/Producer` and `pdf:Producer`.
const PRODUCER: &str = concat!("Chop ", env!("CARGO_PKG_VERSION"));
/// `/Creator` and `xmp:CreatorTool`.
const CREATOR: &str = "Chop e-licence renderer";
