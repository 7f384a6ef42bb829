//! Rendering a validated licence as a one-page A4 PDF/A-3b document with krilla.
//!
//! The page (coordinates in millimetres from the top-left corner while drawing):
//! - a double frame with a running key (回纹) band between its lines, square knots at the corners;
//! - the title, large and letter-spaced, centred; an optional subtitle; the number line;
//! - the template's rows: distributed (分散对齐) bold labels, regular values wrapped to the
//!   column, one or two fields per row; then the template's notes in small type;
//! - lower left: a QR code (vector modules) for `<public base URL>/v/<licence id>` with a caption;
//! - lower right: the issuer's name and the issue date, where the seal goes (GB/T 9704-2012
//!   §7.3.5.1: the seal sits centred over the issuer name and date, which sit below its centre);
//! - at the bottom: the GB/T 36904-2018 identifier and the verification address.
//!
//! The file embeds the subset fonts, the licence data as `licence.json` (an associated file with
//! `/AFRelationship /Data`, ISO 19005-3 §6.8) and XMP metadata with `dc:identifier` set to the
//! identifier. krilla's PDF/A-3b validator checks the document before it is written.

use std::sync::{Arc, LazyLock};

use flate2::Compression;
use serde::Serialize;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::codes::{self, CodeError};

use super::data::{
    FieldValue, Holder, LicenceData, OrderedValues, Validity, chinese_date, iso_date,
};
use super::qr;
use super::template::{LicenceTemplate, PSEUDO_VALID_FROM, PSEUDO_VALID_TO, PSEUDO_VALIDITY};
use super::text::{self, LicenceFont};
use super::writer::{
    Canvas, FileInfo, MM, PAGE_H, PAGE_W, Placed, Rgb, Sketch, WriteError, deflate, write_pdf,
};

/// Printed diameter, in millimetres, of the seal picture [`RenderedLicence::seal_position_mm`]
/// assumes (the standard 42 mm round seal of GA 241-2000 / Chop's seal maker).
pub const SEAL_DIAMETER_MM: f64 = 42.0;

/// Name of the embedded licence data file.
pub const LICENCE_JSON_NAME: &str = "licence.json";

/// Format tag written in `licence.json`.
pub const LICENCE_JSON_FORMAT: &str = "chop-licence/1";

/// Fewest characters of a licence id (the unguessable id in the verification URL).
pub const MIN_LICENCE_ID_CHARS: usize = 16;
/// Most characters of a licence id.
pub const MAX_LICENCE_ID_CHARS: usize = 64;
/// Longest verification URL, in characters.
pub const MAX_VERIFY_URL_CHARS: usize = 200;
/// Longest issuer name, in characters.
pub const MAX_ISSUER_NAME_CHARS: usize = 40;

// Colours (sRGB).
const INK: Rgb = (0x1c, 0x1a, 0x17);
const FRAME: Rgb = (0x9a, 0x2a, 0x22);
const FRAME_LIGHT: Rgb = (0xc8, 0x9b, 0x6a);
const GREY: Rgb = (0x55, 0x50, 0x4a);
const RULE: Rgb = (0xbf, 0xb3, 0xa3);
const WHITE: Rgb = (0xff, 0xff, 0xff);

/// What is being issued, by whom, when, and where it can be verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderContext {
    /// The GB/T 36904-2018 电子证照标识 (check character included); its type code must be the
    /// template's and its issuer code `issuer_code`.
    pub identifier: String,
    /// The unguessable licence id used in the verification URL
    /// ([`MIN_LICENCE_ID_CHARS`]–[`MAX_LICENCE_ID_CHARS`] characters from `A-Za-z0-9_-`);
    /// see [`new_licence_id`].
    pub licence_id: String,
    /// `<public base URL>/v/<licence id>` (see [`verify_url`]); printed and put in the QR code.
    pub verify_url: String,
    /// 发证机构 name, printed in the lower right under the seal.
    pub issuer_name: String,
    /// 发证机构代码: the issuer's 统一社会信用代码.
    pub issuer_code: String,
    /// 发证日期.
    pub issue_date: Date,
    /// When the document is made (PDF and XMP dates); `None` = the issue date at 00:00 +08:00.
    pub issued_at: Option<OffsetDateTime>,
}

/// A rendered, not yet sealed, licence.
#[derive(Clone, Debug)]
pub struct RenderedLicence {
    /// The PDF/A-3b document (one revision).
    pub pdf: Vec<u8>,
    /// Lower-left corner, in millimetres from the crop box's lower-left corner, of a
    /// [`SEAL_DIAMETER_MM`] seal picture centred on the seal place: pass it to
    /// [`crate::sign::SignOptions::position_mm`].
    pub seal_position_mm: (f64, f64),
    /// Centre of the seal place, in millimetres from the crop box's lower-left corner.
    pub seal_centre_mm: (f64, f64),
    /// 1-based page that carries the seal place.
    pub seal_page: u32,
    /// The validity period printed on the licence.
    pub validity: Validity,
    /// The bytes of the embedded `licence.json`.
    pub licence_json: Vec<u8>,
}

impl RenderedLicence {
    /// Lower-left corner (mm, from the crop box's lower-left) for a seal picture of another size.
    pub fn seal_position_for(&self, width_mm: f64, height_mm: f64) -> (f64, f64) {
        (
            self.seal_centre_mm.0 - width_mm / 2.0,
            self.seal_centre_mm.1 - height_mm / 2.0,
        )
    }
}

/// Why a licence could not be rendered. Each message is one line naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The identifier is not a valid GB/T 36904 identifier.
    #[error("{0}")]
    Identifier(CodeError),
    /// The identifier's type code or issuer code disagrees with the template or the issuer.
    #[error("the identifier's {what} is {found}, but the {against} is {expected}")]
    IdentifierMismatch {
        /// `type code` or `issuer code`.
        what: &'static str,
        /// The value in the identifier.
        found: String,
        /// What it is compared with.
        against: &'static str,
        /// The expected value.
        expected: String,
    },
    /// The issuer code is not a valid 统一社会信用代码.
    #[error("issuer code: {0}")]
    IssuerCode(CodeError),
    /// The issuer name is empty, too long or has a character the font cannot print.
    #[error("issuer name: {0}")]
    IssuerName(String),
    /// The data was validated against another licence type.
    #[error("the data is for licence type {data}, not {template}")]
    WrongTemplate {
        /// The data's type code.
        data: String,
        /// The template's type code.
        template: String,
    },
    /// The licence id is not 16–64 characters from `A-Za-z0-9_-`.
    #[error(
        "licence id {0:?}: expected {MIN_LICENCE_ID_CHARS}-{MAX_LICENCE_ID_CHARS} characters from A-Z, a-z, 0-9, '_' and '-'"
    )]
    LicenceId(String),
    /// The verification URL is not `http(s)://…/v/<licence id>` in printable ASCII.
    #[error("verification URL {url:?}: {reason}")]
    VerifyUrl {
        /// The URL (cut to 200 characters).
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The content does not fit on one page even in the smallest type.
    #[error(
        "the licence content does not fit on one A4 page (the longest values are too long for this layout)"
    )]
    Overflow,
    /// The QR code could not be made.
    #[error("cannot make the QR code: {0}")]
    Qr(String),
    /// The random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// An embedded font cannot be read (a build defect).
    #[error("the embedded licence font cannot be read: {0}")]
    Font(String),
    /// The licence data could not be serialised.
    #[error("cannot serialise the licence data: {0}")]
    Json(String),
    /// The PDF could not be written (a font defect).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Load the licence fonts now; with `all_glyphs`, also prepare every glyph for embedding
/// (≈ 0.4 s once), so that the first licences of a server are as fast as the later ones.
/// Rendering does this lazily without the call; a one-shot command need not call it.
pub fn prepare_fonts(all_glyphs: bool) -> Result<(), RenderError> {
    text::prepare(all_glyphs).map_err(RenderError::Font)
}

/// A new unguessable licence id: 128 random bits as 26 lower-case base32 characters
/// (RFC 4648 alphabet, no padding).
pub fn new_licence_id() -> Result<String, RenderError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RenderError::Random)?;
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(26);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    Ok(out)
}

/// The verification address `<base>/v/<licence id>` (one slash between base and `v`).
pub fn verify_url(public_base_url: &str, licence_id: &str) -> String {
    format!("{}/v/{licence_id}", public_base_url.trim_end_matches('/'))
}

fn check_licence_id(id: &str) -> Result<(), RenderError> {
    let ok = (MIN_LICENCE_ID_CHARS..=MAX_LICENCE_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RenderError::LicenceId(id.chars().take(80).collect()))
    }
}

fn check_verify_url(url: &str, licence_id: &str) -> Result<(), RenderError> {
    let bad = |reason| RenderError::VerifyUrl {
        url: url.chars().take(MAX_VERIFY_URL_CHARS).collect(),
        reason,
    };
    if url.len() > MAX_VERIFY_URL_CHARS {
        return Err(bad("longer than 200 characters"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("only printable ASCII without spaces is allowed"));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(bad("must start with https:// or http://"));
    }
    if !url.ends_with(&format!("/v/{licence_id}")) {
        return Err(bad("must end with /v/<licence id>"));
    }
    Ok(())
}

/// The licence data file embedded in the PDF (`licence.json`).
#[derive(Serialize)]
struct LicenceJson<'a> {
    format: &'static str,
    identifier: &'a str,
    licence_id: &'a str,
    verify_url: &'a str,
    type_code: &'a str,
    type_name: &'a str,
    issuer: IssuerJson<'a>,
    issue_date: String,
    validity: Validity,
    holder: &'a Holder,
    fields: OrderedValues<'a>,
}

#[derive(Serialize)]
struct IssuerJson<'a> {
    name: &'a str,
    code: &'a str,
}

/// Horizontal rules under values (millimetres).
#[derive(Clone, Copy, Debug)]
struct RuleLine {
    x0: f32,
    x1: f32,
    y: f32,
}

struct Fonts {
    regular: Arc<LicenceFont>,
    bold: Arc<LicenceFont>,
}

impl Fonts {
    fn get(&self, bold: bool) -> &LicenceFont {
        if bold { &self.bold } else { &self.regular }
    }

    fn width_mm(&self, bold: bool, s: &str, size_pt: f32, tracking_em: f32) -> f32 {
        let n = s.chars().count().saturating_sub(1) as f32;
        (self.get(bold).width_em(s) + tracking_em * n) * size_pt / MM
    }
}

// Page geometry, millimetres from the top-left corner.
const CONTENT_L: f32 = 30.0;
const CONTENT_R: f32 = 180.0;
const TITLE_BASELINE: f32 = 50.0;
const ROWS_LIMIT: f32 = 214.0;
const SEAL_CX: f32 = 145.0;
const SEAL_CY: f32 = 238.0;
const ISSUER_BASELINE: f32 = 241.5;
const DATE_BASELINE: f32 = 255.0;
const QR_X: f32 = 31.0;
const QR_TOP: f32 = 220.0;
const QR_SIZE: f32 = 28.0;
const FOOT_BASELINE_1: f32 = 268.5;
const FOOT_BASELINE_2: f32 = 273.0;

/// One printed row item: label and display value.
struct Item {
    label: String,
    value: String,
}

fn row_items(t: &LicenceTemplate, data: &LicenceData, validity: &Validity) -> Vec<Vec<Item>> {
    t.layout()
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|name| match name.as_str() {
                    PSEUDO_VALIDITY => Item {
                        label: "有效期限".to_owned(),
                        value: validity.display(),
                    },
                    PSEUDO_VALID_FROM => Item {
                        label: "有效期自".to_owned(),
                        value: chinese_date(validity.from),
                    },
                    PSEUDO_VALID_TO => Item {
                        label: "有效期至".to_owned(),
                        value: validity.to.map_or_else(|| "长期".to_owned(), chinese_date),
                    },
                    field => {
                        let spec = t.field(field);
                        let value = match (data.get(field), spec) {
                            (Some(v @ FieldValue::Integer(_)), Some(s)) => {
                                format!("{}{}", v.display(), s.unit.as_deref().unwrap_or(""))
                            }
                            (Some(v), _) => v.display(),
                            (None, _) => "／".to_owned(),
                        };
                        Item {
                            label: spec.map_or_else(|| field.to_owned(), |s| s.label.clone()),
                            value,
                        }
                    }
                })
                .collect()
        })
        .collect()
}

/// Lay the rows and notes out from `top` at `size_pt`; `None` if they pass [`ROWS_LIMIT`].
fn layout_rows(
    fonts: &Fonts,
    rows: &[Vec<Item>],
    notes: &[String],
    top: f32,
    size_pt: f32,
) -> Option<(Vec<Placed>, Vec<RuleLine>)> {
    let mut placed = Vec::new();
    let mut rules = Vec::new();
    let em = size_pt / MM;
    let line_h = em * 1.55;
    let row_gap = em * 0.75;
    // Column-1 labels are distributed to the widest one (at least four characters).
    let label_chars = rows
        .iter()
        .filter_map(|r| r.first())
        .map(|i| i.label.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let label_w = fonts.width_mm(true, &"中".repeat(label_chars), size_pt, 0.0);
    // Second-column labels are distributed to the widest of them.
    let label_w2 = rows
        .iter()
        .filter_map(|r| r.get(1))
        .map(|i| fonts.width_mm(true, &i.label, size_pt, 0.0))
        .fold(0.0f32, f32::max);
    let colon_w = em;
    let mid = (CONTENT_L + CONTENT_R) / 2.0 + 4.0;
    let mut y = top + em; // first baseline
    for row in rows {
        let mut lines_in_row = 1usize;
        let columns: Vec<(f32, f32, f32)> = if row.len() == 2 {
            vec![(CONTENT_L, mid - 6.0, label_w), (mid, CONTENT_R, label_w2)]
        } else {
            vec![(CONTENT_L, CONTENT_R, label_w)]
        };
        for (item, (x0, x1, column_label_w)) in row.iter().zip(columns) {
            let n = item.label.chars().count();
            let natural = fonts.width_mm(true, &item.label, size_pt, 0.0);
            let (lw, tracking) = if n > 1 && column_label_w > natural {
                (
                    column_label_w,
                    ((column_label_w - natural) * MM / size_pt) / (n as f32 - 1.0),
                )
            } else {
                (natural, 0.0)
            };
            placed.push(Placed {
                bold: true,
                size_pt,
                x_mm: x0,
                baseline_mm: y,
                text: item.label.clone(),
                tracking_em: tracking.max(0.0),
                colour: INK,
            });
            placed.push(Placed {
                bold: true,
                size_pt,
                x_mm: x0 + lw,
                baseline_mm: y,
                text: "：".to_owned(),
                tracking_em: 0.0,
                colour: INK,
            });
            let vx = x0 + lw + colon_w;
            let max_em = (x1 - vx) * MM / size_pt;
            if max_em < 3.0 {
                return None;
            }
            let lines = text::break_lines(&fonts.regular, &item.value, max_em);
            for (k, r) in lines.iter().enumerate() {
                let baseline = y + k as f32 * line_h;
                placed.push(Placed {
                    bold: false,
                    size_pt,
                    x_mm: vx,
                    baseline_mm: baseline,
                    text: item.value.get(r.clone()).unwrap_or_default().to_owned(),
                    tracking_em: 0.0,
                    colour: INK,
                });
            }
            for k in 0..lines.len().max(1) {
                rules.push(RuleLine {
                    x0: vx - 1.0,
                    x1,
                    y: y + k as f32 * line_h + em * 0.32,
                });
            }
            lines_in_row = lines_in_row.max(lines.len());
        }
        y += lines_in_row as f32 * line_h + row_gap;
    }
    // Notes: small type across the content width.
    let note_size = (size_pt * 0.75).max(8.0);
    let note_em = note_size / MM;
    let mut ny = y - row_gap + note_em * 1.8;
    for note in notes {
        let max_em = (CONTENT_R - CONTENT_L) * MM / note_size;
        for r in text::break_lines(&fonts.regular, note, max_em) {
            placed.push(Placed {
                bold: false,
                size_pt: note_size,
                x_mm: CONTENT_L,
                baseline_mm: ny,
                text: note.get(r).unwrap_or_default().to_owned(),
                tracking_em: 0.0,
                colour: GREY,
            });
            ny += note_em * 1.5;
        }
    }
    let bottom = if notes.is_empty() { y - row_gap } else { ny };
    (bottom <= ROWS_LIMIT).then_some((placed, rules))
}

/// A text run (the arguments in [`Placed`] order).
fn text_run(
    bold: bool,
    size_pt: f32,
    x_mm: f32,
    baseline_mm: f32,
    text: &str,
    tracking_em: f32,
    colour: Rgb,
) -> Placed {
    Placed {
        bold,
        size_pt,
        x_mm,
        baseline_mm,
        text: text.to_owned(),
        tracking_em,
        colour,
    }
}

/// `p` moved left by half its width, so that it is centred on its `x_mm`.
fn centred(fonts: &Fonts, mut p: Placed) -> Placed {
    p.x_mm -= fonts.width_mm(p.bold, &p.text, p.size_pt, p.tracking_em) / 2.0;
    p
}

/// Largest size ≤ `size_pt` (down to `min_pt`) at which `text` fits in `max_mm`.
fn fit_size(
    fonts: &Fonts,
    bold: bool,
    text: &str,
    size_pt: f32,
    min_pt: f32,
    tracking: f32,
    max_mm: f32,
) -> f32 {
    let w = fonts.width_mm(bold, text, size_pt, tracking);
    if w <= max_mm {
        size_pt
    } else {
        (size_pt * max_mm / w).max(min_pt)
    }
}

/// Map band-local coordinates (`s` along the side, `t` inward) to page millimetres.
struct Side {
    origin: (f32, f32),
    along: (f32, f32),
    inward: (f32, f32),
}

impl Side {
    fn at(&self, s: f32, t: f32) -> (f32, f32) {
        (
            self.origin.0 + self.along.0 * s + self.inward.0 * t,
            self.origin.1 + self.along.1 * s + self.inward.1 * t,
        )
    }
}

/// The frame: outer thick rule, thin rule, a running key (回纹) band, thin rule, inner rule;
/// square knots at the corners.
fn draw_frame(k: &mut Sketch) {
    let rect = |k: &mut Sketch, inset: f32| {
        k.rect(inset, inset, PAGE_W - 2.0 * inset, PAGE_H - 2.0 * inset);
    };
    k.stroke_rgb(FRAME, 2.2);
    rect(k, 9.0);
    k.stroke();
    k.stroke_rgb(FRAME, 0.6);
    rect(k, 10.6);
    rect(k, 16.4);
    k.stroke();
    k.stroke_rgb(FRAME, 1.0);
    rect(k, 17.6);
    k.stroke();
    // Running key band between insets 10.6 and 16.4 (band 5.8 mm, motif 4.2 mm high).
    let band_out = 11.4;
    let h = 4.2;
    let corner = 5.8;
    let a = 10.6;
    let b = PAGE_W - 10.6;
    let c = PAGE_H - 10.6;
    let sides = [
        // top, left to right
        (
            Side {
                origin: (a + corner, band_out),
                along: (1.0, 0.0),
                inward: (0.0, 1.0),
            },
            b - a - 2.0 * corner,
        ),
        // right, top to bottom
        (
            Side {
                origin: (PAGE_W - band_out, a + corner),
                along: (0.0, 1.0),
                inward: (-1.0, 0.0),
            },
            c - a - 2.0 * corner,
        ),
        // bottom, right to left
        (
            Side {
                origin: (b - corner, PAGE_H - band_out),
                along: (-1.0, 0.0),
                inward: (0.0, -1.0),
            },
            b - a - 2.0 * corner,
        ),
        // left, bottom to top
        (
            Side {
                origin: (band_out, c - corner),
                along: (0.0, -1.0),
                inward: (1.0, 0.0),
            },
            c - a - 2.0 * corner,
        ),
    ];
    k.stroke_rgb(FRAME, 0.55);
    // A hook spiralling inward from the band's outer edge, standing on a baseline at t = h.
    const HOOK: [(f32, f32); 7] = [
        (0.0, 1.0),
        (0.0, 0.0),
        (0.78, 0.0),
        (0.78, 0.72),
        (0.28, 0.72),
        (0.28, 0.30),
        (0.52, 0.30),
    ];
    for (side, len) in &sides {
        let n = (len / 4.6).round().max(1.0);
        let u = len / n;
        let (x0, y0) = side.at(0.0, h);
        let (x1, y1) = side.at(*len, h);
        k.move_to(x0, y0);
        k.line_to(x1, y1);
        for i in 0..n as usize {
            let s0 = i as f32 * u;
            for (j, (sx, tx)) in HOOK.iter().enumerate() {
                let (x, y) = side.at(s0 + sx * u, tx * h);
                if j == 0 {
                    k.move_to(x, y);
                } else {
                    k.line_to(x, y);
                }
            }
        }
    }
    // Corner knots: two concentric squares in each corner cell.
    for (cx, cy) in [
        (a + corner / 2.0, a + corner / 2.0),
        (b - corner / 2.0, a + corner / 2.0),
        (b - corner / 2.0, c - corner / 2.0),
        (a + corner / 2.0, c - corner / 2.0),
    ] {
        for half in [2.1, 1.0] {
            k.rect(cx - half, cy - half, 2.0 * half, 2.0 * half);
        }
    }
    k.stroke();
    // Title ornament: a short rule under the title.
    k.stroke_rgb(FRAME_LIGHT, 0.8);
    k.move_to(PAGE_W / 2.0 - 32.0, TITLE_BASELINE + 4.0);
    k.line_to(PAGE_W / 2.0 + 32.0, TITLE_BASELINE + 4.0);
    k.stroke();
}

/// The frame, drawn and deflated once per process (every licence shares it).
static FRAME_CONTENT: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut k = Sketch::new();
    draw_frame(&mut k);
    deflate(&k.finish(), Compression::best())
});

/// The QR code (ISO/IEC 18004, level M) as vector modules inside a white quiet zone; runs of
/// dark modules in a row are one rectangle.
fn draw_qr(canvas: &mut Canvas<'_>, url: &str) -> Result<(), RenderError> {
    let code = qr::encode(url.as_bytes()).map_err(RenderError::Qr)?;
    let w = code.width;
    let quiet = 2.0;
    let module = QR_SIZE / (w as f32 + 2.0 * quiet);
    canvas.fill_rects(&[(QR_X, QR_TOP, QR_SIZE, QR_SIZE)], WHITE);
    let mut rects = Vec::with_capacity(w * w / 4);
    for row in 0..w {
        let mut col = 0;
        while col < w {
            if code.is_dark(row, col) {
                let start = col;
                while code.is_dark(row, col) {
                    col += 1;
                }
                // A hair of overlap so anti-aliased viewers show no seams between rows.
                rects.push((
                    QR_X + (quiet + start as f32) * module,
                    QR_TOP + (quiet + row as f32) * module,
                    (col - start) as f32 * module,
                    module + 0.02,
                ));
            } else {
                col += 1;
            }
        }
    }
    canvas.fill_rects(&rects, (0, 0, 0));
    Ok(())
}

/// Render `data` (validated against `template`) as a PDF/A-3b licence; see the module docs for
/// the layout and the embedded data.
pub fn render_licence(
    template: &LicenceTemplate,
    data: &LicenceData,
    ctx: &RenderContext,
) -> Result<RenderedLicence, RenderError> {
    if data.type_code() != template.type_code() {
        return Err(RenderError::WrongTemplate {
            data: data.type_code().to_owned(),
            template: template.type_code().to_owned(),
        });
    }
    let id = codes::parse_licence_id(&ctx.identifier).map_err(RenderError::Identifier)?;
    codes::validate_uscc(&ctx.issuer_code).map_err(RenderError::IssuerCode)?;
    if id.type_code != template.type_code() {
        return Err(RenderError::IdentifierMismatch {
            what: "type code",
            found: id.type_code,
            against: "template's type code",
            expected: template.type_code().to_owned(),
        });
    }
    if id.issuer_id != ctx.issuer_code {
        return Err(RenderError::IdentifierMismatch {
            what: "issuer code",
            found: id.issuer_id,
            against: "issuer code",
            expected: ctx.issuer_code.clone(),
        });
    }
    check_licence_id(&ctx.licence_id)?;
    check_verify_url(&ctx.verify_url, &ctx.licence_id)?;
    let issuer = ctx.issuer_name.trim();
    let issuer_chars = issuer.chars().count();
    if issuer_chars == 0 || issuer_chars > MAX_ISSUER_NAME_CHARS {
        return Err(RenderError::IssuerName(format!(
            "must be 1-{MAX_ISSUER_NAME_CHARS} characters, found {issuer_chars}"
        )));
    }
    if let Some(c) = issuer
        .chars()
        .find(|c| c.is_control())
        .or_else(|| text::missing_bold_glyph(issuer))
    {
        return Err(RenderError::IssuerName(format!(
            "the character U+{:04X} cannot be printed with the licence font (GB 2312)",
            u32::from(c)
        )));
    }
    let fonts = Fonts {
        regular: text::regular().map_err(RenderError::Font)?,
        bold: text::bold().map_err(RenderError::Font)?,
    };
    let validity = data.validity(ctx.issue_date);
    let issued_at = ctx.issued_at.unwrap_or_else(|| {
        ctx.issue_date
            .midnight()
            .assume_offset(UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC))
    });

    // The embedded data.
    let json = LicenceJson {
        format: LICENCE_JSON_FORMAT,
        identifier: &ctx.identifier,
        licence_id: &ctx.licence_id,
        verify_url: &ctx.verify_url,
        type_code: template.type_code(),
        type_name: template.name(),
        issuer: IssuerJson {
            name: issuer,
            code: &ctx.issuer_code,
        },
        issue_date: iso_date(ctx.issue_date),
        validity,
        holder: data.holder(),
        fields: OrderedValues(data),
    };
    let licence_json =
        serde_json::to_vec_pretty(&json).map_err(|e| RenderError::Json(e.to_string()))?;

    // Header: title, subtitle, number.
    let layout = template.layout();
    let title = template.title();
    let n_title = title.chars().count();
    let tracking = match n_title {
        0..=4 => 0.9,
        5..=7 => 0.45,
        8..=10 => 0.25,
        _ => 0.1,
    };
    let title_size = fit_size(&fonts, true, title, 30.0, 16.0, tracking, 140.0);
    let mut placed = vec![centred(
        &fonts,
        text_run(
            true,
            title_size,
            PAGE_W / 2.0,
            TITLE_BASELINE,
            title,
            tracking,
            FRAME,
        ),
    )];
    let mut y = TITLE_BASELINE;
    if let Some(sub) = &layout.subtitle {
        y += 10.0;
        let size = fit_size(&fonts, false, sub, 14.0, 9.0, 0.1, 140.0);
        placed.push(centred(
            &fonts,
            text_run(false, size, PAGE_W / 2.0, y, sub, 0.1, INK),
        ));
    }
    let number = match &layout.number_field {
        Some(f) => data.get(f).map(FieldValue::display).unwrap_or_default(),
        None => id.serial.clone(),
    };
    y += 12.0;
    let number_line = format!("{}：{}", layout.number_label, number);
    let number_size = fit_size(
        &fonts,
        false,
        &number_line,
        11.0,
        8.0,
        0.0,
        CONTENT_R - CONTENT_L,
    );
    let nw = fonts.width_mm(false, &number_line, number_size, 0.0);
    placed.push(Placed {
        bold: false,
        size_pt: number_size,
        x_mm: CONTENT_R - nw,
        baseline_mm: y,
        text: number_line,
        tracking_em: 0.0,
        colour: INK,
    });
    let rows_top = y + 7.0;

    // Rows and notes, shrinking the type until they fit.
    let items = row_items(template, data, &validity);
    let (row_text, rules) = [12.5f32, 12.0, 11.0, 10.5, 10.0, 9.5, 9.0]
        .iter()
        .find_map(|&size| layout_rows(&fonts, &items, &layout.notes, rows_top, size))
        .ok_or(RenderError::Overflow)?;
    placed.extend(row_text);

    // Issuer and date, centred under the seal place.
    let issuer_size = fit_size(&fonts, true, issuer, 14.0, 9.0, 0.05, 70.0);
    placed.push(centred(
        &fonts,
        text_run(
            true,
            issuer_size,
            SEAL_CX,
            ISSUER_BASELINE,
            issuer,
            0.05,
            INK,
        ),
    ));
    placed.push(centred(
        &fonts,
        text_run(
            false,
            13.0,
            SEAL_CX,
            DATE_BASELINE,
            &chinese_date(ctx.issue_date),
            0.05,
            INK,
        ),
    ));
    // QR caption.
    placed.push(centred(
        &fonts,
        text_run(
            true,
            9.0,
            QR_X + QR_SIZE / 2.0,
            QR_TOP + QR_SIZE + 4.5,
            "扫码核验",
            0.3,
            INK,
        ),
    ));
    placed.push(centred(
        &fonts,
        text_run(
            false,
            7.0,
            QR_X + QR_SIZE / 2.0,
            QR_TOP + QR_SIZE + 8.3,
            "Scan to verify",
            0.0,
            GREY,
        ),
    ));
    // Footer: identifier and verification address.
    let foot1 = format!("电子证照标识：{}", ctx.identifier);
    let foot2 = format!("核验地址：{}", ctx.verify_url);
    for (line, baseline) in [(foot1, FOOT_BASELINE_1), (foot2, FOOT_BASELINE_2)] {
        let size = fit_size(&fonts, false, &line, 8.0, 5.5, 0.0, PAGE_W - 2.0 * 22.0);
        placed.push(centred(
            &fonts,
            text_run(false, size, PAGE_W / 2.0, baseline, &line, 0.0, GREY),
        ));
    }

    // The page.
    let mut canvas = Canvas::new(&fonts.regular, &fonts.bold);
    let rule_lines: Vec<(f32, f32, f32)> = rules.iter().map(|r| (r.x0, r.x1, r.y)).collect();
    canvas.rules(&rule_lines, 0.4, RULE);
    draw_qr(&mut canvas, &ctx.verify_url)?;
    for p in &placed {
        canvas.text(p);
    }
    let title_meta = format!("{} {}", template.name(), id.serial);
    let subject = format!("电子证照 {}", ctx.identifier);
    let keywords = format!(
        "{}, {}, {}",
        ctx.identifier,
        template.type_code(),
        template.name()
    );
    let pdf = write_pdf(
        canvas,
        &FileInfo {
            title: &title_meta,
            author: issuer,
            subject: &subject,
            keywords: &keywords,
            identifier: &ctx.identifier,
            created: issued_at,
            licence_json: &licence_json,
            licence_json_name: LICENCE_JSON_NAME,
            licence_json_description: "证照数据 (licence data, JSON)",
            frame: &FRAME_CONTENT,
        },
    )?;

    let centre = (f64::from(SEAL_CX), f64::from(PAGE_H - SEAL_CY));
    let rendered = RenderedLicence {
        pdf,
        seal_position_mm: (
            centre.0 - SEAL_DIAMETER_MM / 2.0,
            centre.1 - SEAL_DIAMETER_MM / 2.0,
        ),
        seal_centre_mm: centre,
        seal_page: 1,
        validity,
        licence_json,
    };
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_ids_are_unguessable_and_url_safe() {
        let a = new_licence_id().unwrap();
        let b = new_licence_id().unwrap();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
        );
        check_licence_id(&a).unwrap();
        assert!(check_licence_id("short").is_err());
        assert!(check_licence_id("has space in it 12345").is_err());
        assert!(check_licence_id(&"a".repeat(65)).is_err());
    }

    #[test]
    fn verify_urls() {
        assert_eq!(
            verify_url("https://zw.example.gov.cn/", "abcdefghijklmnop"),
            "https://zw.example.gov.cn/v/abcdefghijklmnop"
        );
        let id = "abcdefghijklmnop";
        check_verify_url(&verify_url("https://x.cn", id), id).unwrap();
        assert!(check_verify_url("https://x.cn/v/other", id).is_err());
        assert!(check_verify_url("ftp://x.cn/v/abcdefghijklmnop", id).is_err());
        assert!(check_verify_url("https://x.cn/a b/v/abcdefghijklmnop", id).is_err());
        assert!(check_verify_url("https://x.cn/名/v/abcdefghijklmnop", id).is_err());
    }
}
