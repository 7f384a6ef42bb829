//! The seal picture: drawing the standard round Chinese official seal (公章, GA 241-style layout)
//! as a transparent PNG, and decoding any PNG into 8-bit samples for a PDF image XObject
//! (ISO 32000-2 §8.9.5, with the alpha channel as an `/SMask`, §11.6.5.3).
//!
//! The round seal is drawn with [`tiny_skia`] from glyph outlines of the committed font
//! `seal/fonts/NotoSerifSC-Bold-GB2312.otf` (Noto Serif CJK SC Bold, SIL OFL 1.1), read with
//! [`ttf_parser`]; PNG bytes are read and written with [`png`] (ISO/IEC 15948).

use std::f32::consts::PI;

use tiny_skia::{FillRule, Mask, Path, PathBuilder};

/// The seal font: Noto Serif CJK SC Bold subset to GB 2312, ASCII and punctuation (SIL OFL 1.1).
pub(crate) static SEAL_FONT: &[u8] = include_bytes!("../fonts/NotoSerifSC-Bold-GB2312.otf");

/// Largest width or height, in pixels, of a picture [`decode_png`] accepts or [`draw_round_seal`] draws.
pub const MAX_PICTURE_SIDE: u32 = 4096;

/// Longest organisation name, in characters, the round seal accepts.
pub const MAX_ORG_NAME_CHARS: usize = 40;

/// Why a seal picture could not be drawn or a PNG could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// A character of the seal text has no glyph in the embedded font.
    #[error("the character '{0}' (U+{code:04X}) is not in the seal font (Noto Serif SC, GB 2312 subset)", code = u32::from(*.0))]
    MissingGlyph(char),
    /// The organisation name is empty or only white space.
    #[error("the organisation name is empty: a round seal needs one along its upper arc")]
    EmptyOrgName,
    /// The organisation name has more characters than fit on the arc.
    #[error(
        "the organisation name has {0} characters; a round seal holds at most {MAX_ORG_NAME_CHARS}"
    )]
    OrgNameTooLong(usize),
    /// The seal name has more characters than fit below the star.
    #[error("the seal name has {0} characters; at most {MAX_SEAL_NAME_CHARS} fit below the star")]
    SealNameTooLong(usize),
    /// The code has more characters than fit along the lower arc.
    #[error("the seal code has {0} characters; at most {MAX_CODE_CHARS} fit along the lower arc")]
    CodeTooLong(usize),
    /// The diameter or resolution is outside what can be drawn.
    #[error(
        "cannot draw a {diameter_mm} mm seal at {dpi} dpi: the diameter must be 10–100 mm, the resolution 72–2400 dpi and the picture at most {MAX_PICTURE_SIDE} px wide"
    )]
    BadSize {
        /// Requested diameter in millimetres.
        diameter_mm: f32,
        /// Requested resolution in dots per inch.
        dpi: u32,
    },
    /// The embedded font could not be parsed (a build defect, never user input).
    #[error("the embedded seal font cannot be parsed: {0}")]
    Font(String),
    /// Writing the PNG failed.
    #[error("cannot encode the seal picture as PNG: {0}")]
    Encode(String),
    /// The bytes are not a PNG (no signature or no IHDR chunk first).
    #[error("not a PNG picture: {0}")]
    NotPng(&'static str),
    /// The picture is larger than [`MAX_PICTURE_SIDE`] on a side, or empty.
    #[error(
        "the PNG picture is {width}x{height} px; pictures must be 1–{MAX_PICTURE_SIDE} px on each side"
    )]
    TooLarge {
        /// Width from the PNG header.
        width: u32,
        /// Height from the PNG header.
        height: u32,
    },
    /// The PNG data is truncated, corrupt or disagrees with its header.
    #[error("the PNG picture is damaged: {0}")]
    Decode(String),
}

/// Longest seal name, in characters, set below the star.
pub const MAX_SEAL_NAME_CHARS: usize = 16;

/// Longest code, in characters, set along the lower arc.
pub const MAX_CODE_CHARS: usize = 24;

/// What to draw on a round seal: the layout of GA 241 公章 scaled to `diameter_mm`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundSeal<'a> {
    /// Organisation name, set upright-radial along the upper arc (e.g. 南京市示例区行政审批局).
    pub org_name: &'a str,
    /// Seal name, set straight below the star (e.g. 行政审批专用章); empty for a 法定名称章.
    pub seal_name: &'a str,
    /// Optional small text along the lower arc reading left to right (e.g. a 13-digit serial).
    pub code: Option<&'a str>,
    /// Outer diameter of the ring in millimetres (42 mm for a standard 公章).
    pub diameter_mm: f32,
    /// Resolution of the PNG in dots per inch (recorded in its pHYs chunk).
    pub dpi: u32,
    /// The single ink colour, sRGB.
    pub color: [u8; 3],
}

/// The default seal red (sRGB), close to the vermilion of 印泥 on paper.
pub const SEAL_RED: [u8; 3] = [0xE0, 0x1F, 0x1F];

impl Default for RoundSeal<'_> {
    /// A 42 mm, 600 dpi, seal-red 行政审批专用章 of 南京市示例区行政审批局 with no code.
    fn default() -> Self {
        RoundSeal {
            org_name: "南京市示例区行政审批局",
            seal_name: "行政审批专用章",
            code: None,
            diameter_mm: 42.0,
            dpi: 600,
            color: SEAL_RED,
        }
    }
}

/// A PNG decoded to 8-bit samples, ready for a PDF image XObject and its soft mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPicture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 8-bit RGB samples, row by row, `3 * width * height` bytes.
    pub rgb: Vec<u8>,
    /// 8-bit alpha samples, `width * height` bytes; `None` when every pixel is opaque.
    pub alpha: Option<Vec<u8>>,
}

/// Picture size in pixels for a diameter in millimetres at a resolution in dpi.
fn side_px(diameter_mm: f32, dpi: u32) -> Result<u32, PictureError> {
    let bad = || PictureError::BadSize { diameter_mm, dpi };
    if !(10.0..=100.0).contains(&diameter_mm) || !(72..=2400).contains(&dpi) {
        return Err(bad());
    }
    let px = (diameter_mm / 25.4 * dpi as f32).round();
    if !(1.0..=MAX_PICTURE_SIDE as f32).contains(&px) {
        return Err(bad());
    }
    Ok(px as u32)
}

/// An affine map `x' = a·x + c·y + e`, `y' = b·x + d·y + f` (font units → pixels).
#[derive(Debug, Clone, Copy)]
struct Affine {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
    e: f32,
    f: f32,
}

impl Affine {
    fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.a * x + self.c * y + self.e,
            self.b * x + self.d * y + self.f,
        )
    }
}

/// Feeds glyph outlines, mapped through an affine transform, into one path.
struct GlyphSink<'p> {
    path: &'p mut PathBuilder,
    map: Affine,
}

impl ttf_parser::OutlineBuilder for GlyphSink<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.map.apply(x, y);
        self.path.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.map.apply(x, y);
        self.path.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.map.apply(x1, y1);
        let (x, y) = self.map.apply(x, y);
        self.path.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.map.apply(x1, y1);
        let (x2, y2) = self.map.apply(x2, y2);
        let (x, y) = self.map.apply(x, y);
        self.path.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.path.close();
    }
}

/// One glyph of the seal text with its metrics in font units.
#[derive(Debug, Clone, Copy)]
struct Glyph {
    id: ttf_parser::GlyphId,
    advance: f32,
}

/// The seal font with the few metrics the layout needs.
struct SealFont<'f> {
    face: ttf_parser::Face<'f>,
    /// Font units per em.
    upem: f32,
    /// Bottom of the ideographic em box (font units, −120 for Noto CJK).
    em_bottom: f32,
    /// Height of the ideographic em box (font units, 1000 for Noto CJK).
    em_height: f32,
}

impl<'f> SealFont<'f> {
    fn load() -> Result<SealFont<'static>, PictureError> {
        let face =
            ttf_parser::Face::parse(SEAL_FONT, 0).map_err(|e| PictureError::Font(e.to_string()))?;
        let upem = f32::from(face.units_per_em());
        // The OS/2 typographic ascender and descender of a CJK font bound the ideographic em box
        // (880 / −120 in Noto CJK); hhea's line metrics are wider and would misplace the glyphs.
        let em_top = face.typographic_ascender().map_or(0.88 * upem, f32::from);
        let em_bottom = face.typographic_descender().map_or(-0.12 * upem, f32::from);
        let em_height = if em_top > em_bottom {
            em_top - em_bottom
        } else {
            upem
        };
        Ok(SealFont {
            face,
            upem,
            em_bottom,
            em_height,
        })
    }

    /// Looks every character up; a missing one is an error naming it.
    fn glyphs(&self, text: &str) -> Result<Vec<Glyph>, PictureError> {
        text.chars()
            .map(|ch| {
                let id = self
                    .face
                    .glyph_index(ch)
                    .filter(|id| id.0 != 0)
                    .ok_or(PictureError::MissingGlyph(ch))?;
                let advance = self.face.glyph_hor_advance(id).map_or(self.upem, f32::from);
                Ok(Glyph { id, advance })
            })
            .collect()
    }

    /// Appends the outline of `glyph` mapped through `map` to `path` (no outline: a space).
    fn outline(&self, glyph: Glyph, map: Affine, path: &mut PathBuilder) {
        let mut sink = GlyphSink { path, map };
        let _ = self.face.outline_glyph(glyph.id, &mut sink);
    }
}

/// Geometry of the seal in pixels: centre and pixels per millimetre.
#[derive(Debug, Clone, Copy)]
struct Frame {
    centre: f32,
    px_per_mm: f32,
}

/// Where and how large one glyph is set, in y-down seal millimetres from the centre.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// Point on which the foot of the glyph's em box is centred.
    origin: (f32, f32),
    /// Unit vector along the writing direction.
    tangent: (f32, f32),
    /// Unit vector from the glyph's foot to its top.
    up: (f32, f32),
    /// Millimetres per font unit along `tangent`.
    kw: f32,
    /// Millimetres per font unit along `up`.
    kh: f32,
}

impl Frame {
    /// Appends `glyph` to `out` so that font point `(x, y)` lands at
    /// `centre + px_per_mm · (origin + (x − advance/2)·kw·tangent + (y − em_bottom)·kh·up)`.
    fn set_glyph(&self, font: &SealFont, glyph: Glyph, at: Placement, out: &mut PathBuilder) {
        let s = self.px_per_mm;
        let Placement {
            origin: (ox, oy),
            tangent,
            up,
            kw,
            kh,
        } = at;
        let x_shift = glyph.advance / 2.0;
        let e = ox - kw * x_shift * tangent.0 - kh * font.em_bottom * up.0;
        let f = oy - kw * x_shift * tangent.1 - kh * font.em_bottom * up.1;
        let map = Affine {
            a: s * kw * tangent.0,
            b: s * kw * tangent.1,
            c: s * kh * up.0,
            d: s * kh * up.1,
            e: self.centre + s * e,
            f: self.centre + s * f,
        };
        font.outline(glyph, map, out);
    }
}

/// Layout constants for a 42 mm seal, in millimetres; everything scales with the diameter.
mod layout42 {
    /// Gap between the picture edge and the ring (room for anti-aliasing).
    pub const EDGE_MARGIN: f32 = 0.1;
    /// Width of the outer ring line.
    pub const RING_WIDTH: f32 = 1.2;
    /// Gap between the inner edge of the ring and the top of the organisation name.
    pub const NAME_GAP: f32 = 0.8;
    /// Height of the organisation name's em box (radial).
    pub const NAME_HEIGHT: f32 = 6.2;
    /// Largest width-to-height ratio of an organisation name character (condensed 宋体).
    pub const NAME_MAX_ASPECT: f32 = 0.74;
    /// Width-to-height ratio of the characters of names of four characters or fewer.
    pub const NAME_SHORT_ASPECT: f32 = 0.90;
    /// Smallest width-to-height ratio before the characters are made shorter too.
    pub const NAME_MIN_ASPECT: f32 = 0.45;
    /// Share of a character cell, at the characters' feet, the character fills (the rest is spacing).
    pub const NAME_FILL: f32 = 0.97;
    /// Outer diameter of the star.
    pub const STAR_DIAMETER: f32 = 14.0;
    /// Height of the seal name's em box.
    pub const SEAL_NAME_HEIGHT: f32 = 4.6;
    /// Height of the seal name's em box when a code runs along the lower arc.
    pub const SEAL_NAME_HEIGHT_WITH_CODE: f32 = 4.2;
    /// Width-to-height ratio of a seal name character.
    pub const SEAL_NAME_ASPECT: f32 = 0.80;
    /// Smallest width-to-height ratio of a seal name character before it is made smaller.
    pub const SEAL_NAME_MIN_ASPECT: f32 = 0.60;
    /// Spacing between seal name characters, as a share of their width.
    pub const SEAL_NAME_GAP: f32 = 0.12;
    /// Widest the seal name line may be.
    pub const SEAL_NAME_MAX_WIDTH: f32 = 24.0;
    /// Distance from the centre to the top of the seal name's em box.
    pub const SEAL_NAME_TOP: f32 = 8.6;
    /// Distance from the centre to the top of the seal name's em box when a code is present.
    pub const SEAL_NAME_TOP_WITH_CODE: f32 = 8.0;
    /// Angle, in degrees, kept between the seal name's top corners and the arc's end characters.
    pub const SEAL_NAME_CLEARANCE: f32 = 7.0;
    /// Height of the code's em box.
    pub const CODE_HEIGHT: f32 = 2.4;
    /// Gap between the inner edge of the ring and the baseline of the code.
    pub const CODE_GAP: f32 = 0.9;
}

/// Draws the standard round seal described by `spec` as a PNG with a transparent background and a
/// pHYs chunk recording `spec.dpi` (GA 241 公章 layout; PNG per ISO/IEC 15948). The PNG is 8-bit
/// indexed with a tRNS chunk — one colour at 256 alpha levels, equivalent to RGBA at a quarter of
/// the size; [`decode_png`] turns it back into RGB plus alpha.
pub fn draw_round_seal(spec: &RoundSeal) -> Result<Vec<u8>, PictureError> {
    let side = side_px(spec.diameter_mm, spec.dpi)?;
    let org_name = spec.org_name.trim();
    if org_name.is_empty() {
        return Err(PictureError::EmptyOrgName);
    }
    let n_org = org_name.chars().count();
    if n_org > MAX_ORG_NAME_CHARS {
        return Err(PictureError::OrgNameTooLong(n_org));
    }
    let seal_name = spec.seal_name.trim();
    let n_seal = seal_name.chars().count();
    if n_seal > MAX_SEAL_NAME_CHARS {
        return Err(PictureError::SealNameTooLong(n_seal));
    }
    let code = spec.code.map(str::trim).filter(|c| !c.is_empty());
    if let Some(code) = code {
        let n = code.chars().count();
        if n > MAX_CODE_CHARS {
            return Err(PictureError::CodeTooLong(n));
        }
    }

    let font = SealFont::load()?;

    let org_glyphs = font.glyphs(org_name)?;
    let seal_glyphs = font.glyphs(seal_name)?;
    let code_glyphs = code.map(|c| font.glyphs(c)).transpose()?;

    let mm = spec.diameter_mm / 42.0; // scale of the 42 mm layout
    let frame = Frame {
        centre: side as f32 / 2.0,
        px_per_mm: side as f32 / spec.diameter_mm,
    };

    let mut mask = Mask::new(side, side).ok_or(PictureError::BadSize {
        diameter_mm: spec.diameter_mm,
        dpi: spec.dpi,
    })?;

    // Ring: outer circle minus inner circle, even-odd.
    let r_outer = spec.diameter_mm / 2.0 - layout42::EDGE_MARGIN * mm;
    let r_inner = r_outer - layout42::RING_WIDTH * mm;
    let c = frame.centre;
    let s = frame.px_per_mm;
    let mut ring = PathBuilder::new();
    ring.push_circle(c, c, r_outer * s);
    ring.push_circle(c, c, r_inner * s);
    fill(&mut mask, ring.finish(), FillRule::EvenOdd);

    // Star: five points, point up.
    fill(
        &mut mask,
        star_path(c, c, layout42::STAR_DIAMETER / 2.0 * mm * s),
        FillRule::Winding,
    );

    let mut text = PathBuilder::new();
    let free_angle = layout_org_name(&font, &org_glyphs, frame, r_inner, mm, &mut text);
    layout_seal_name(
        &font,
        &seal_glyphs,
        frame,
        mm,
        free_angle,
        code_glyphs.is_some(),
        &mut text,
    );
    if let Some(glyphs) = &code_glyphs {
        layout_code(&font, glyphs, frame, r_inner, mm, &mut text);
    }
    fill(&mut mask, text.finish(), FillRule::Winding);

    encode_coverage_png(&mask, spec.color, spec.dpi)
}

/// Fills `path` (already in pixel coordinates) onto `mask`, anti-aliased.
fn fill(mask: &mut Mask, path: Option<Path>, rule: FillRule) {
    if let Some(path) = path {
        mask.fill_path(&path, rule, true, tiny_skia::Transform::identity());
    }
}

/// A regular five-pointed star (pentagram outline) of outer radius `r` centred on `(cx, cy)`,
/// one point straight up.
fn star_path(cx: f32, cy: f32, r: f32) -> Option<Path> {
    // Inner radius of a regular pentagram: r · sin 18° / sin 126°.
    let r_in = r * (PI / 10.0).sin() / (7.0 * PI / 10.0).sin();
    let mut pb = PathBuilder::new();
    for k in 0..10 {
        let radius = if k % 2 == 0 { r } else { r_in };
        let angle = k as f32 * PI / 5.0; // from straight up, clockwise
        let (x, y) = (cx + radius * angle.sin(), cy - radius * angle.cos());
        if k == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    pb.close();
    pb.finish()
}

/// Sets the organisation name upright-radial along the upper arc, centred at the top; returns the
/// angle, measured from straight down, left free below the name's first and last characters.
fn layout_org_name(
    font: &SealFont,
    glyphs: &[Glyph],
    frame: Frame,
    r_ring_inner: f32,
    mm: f32,
    out: &mut PathBuilder,
) -> f32 {
    let n = glyphs.len().max(1) as f32;
    let r_top = r_ring_inner - layout42::NAME_GAP * mm;
    let span = org_name_span_deg(n).to_radians();
    let pitch = span / n; // angle per character cell
    // Widest a character may be at height `h` without touching its neighbours: neighbouring
    // cells are rotated by `pitch`, so their feet (nearest the centre) come closest.
    let fit_width = |h: f32| 2.0 * (r_top - h) * (pitch / 2.0).tan() * layout42::NAME_FILL;
    let mut height = layout42::NAME_HEIGHT * mm;
    let mut width = fit_width(height);
    if width < layout42::NAME_MIN_ASPECT * height {
        // Too narrow even condensed: make the characters shorter until they keep that aspect.
        let (mut lo, mut hi) = (0.3 * height, height);
        for _ in 0..20 {
            let mid = (lo + hi) / 2.0;
            if fit_width(mid) >= layout42::NAME_MIN_ASPECT * mid {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        height = lo;
        width = fit_width(height);
    }
    // Short names get fuller characters, long ones the condensed 宋体 of a real seal.
    let max_aspect = layout42::NAME_MAX_ASPECT
        + (layout42::NAME_SHORT_ASPECT - layout42::NAME_MAX_ASPECT)
            * ((8.0 - n) / 4.0).clamp(0.0, 1.0);
    width = width.min(max_aspect * height);
    let kh = height / font.em_height;
    let kw = width / font.upem;
    let r_base = r_top - height;
    for (i, g) in glyphs.iter().enumerate() {
        // Angle from straight up, clockwise; characters centred on the top.
        let theta = (i as f32 + 0.5 - n / 2.0) * pitch;
        let (sin, cos) = theta.sin_cos();
        let origin = (r_base * sin, -r_base * cos);
        let tangent = (cos, sin);
        let up = (sin, -cos);
        let at = Placement {
            origin,
            tangent,
            up,
            kw,
            kh,
        };
        frame.set_glyph(font, *g, at, out);
    }
    PI - span / 2.0
}

/// Arc, in degrees, an organisation name of `n` characters spans: about 210° for a typical
/// ten-character name, growing to 245° for long names; short names keep a bounded spacing
/// instead of being strewn around the ring.
fn org_name_span_deg(n: f32) -> f32 {
    (150.0 + 7.0 * n).clamp(200.0, 245.0).min(40.0 * n)
}

/// Sets the seal name in one straight line below the star, no wider than the gap the
/// organisation name leaves (`free_angle` from straight down) and than the layout allows.
fn layout_seal_name(
    font: &SealFont,
    glyphs: &[Glyph],
    frame: Frame,
    mm: f32,
    free_angle: f32,
    with_code: bool,
    out: &mut PathBuilder,
) {
    if glyphs.is_empty() {
        return;
    }
    let n = glyphs.len() as f32;
    let (top, mut height) = if with_code {
        (
            layout42::SEAL_NAME_TOP_WITH_CODE * mm,
            layout42::SEAL_NAME_HEIGHT_WITH_CODE * mm,
        )
    } else {
        (
            layout42::SEAL_NAME_TOP * mm,
            layout42::SEAL_NAME_HEIGHT * mm,
        )
    };
    // Keep the top corners of the line clear of the arc's first and last characters.
    let clear = (free_angle - layout42::SEAL_NAME_CLEARANCE.to_radians()).clamp(0.2, 1.4);
    let max_total = (2.0 * top * clear.tan()).min(layout42::SEAL_NAME_MAX_WIDTH * mm);
    let cell = |w: f32| n * w + (n - 1.0) * layout42::SEAL_NAME_GAP * w;
    let mut width = layout42::SEAL_NAME_ASPECT * height;
    if cell(width) > max_total {
        width = max_total / cell(1.0);
        // Condense down to a sane aspect, then make the characters smaller as well.
        height = height.min(width / layout42::SEAL_NAME_MIN_ASPECT);
    }
    let gap = layout42::SEAL_NAME_GAP * width;
    let total = cell(width);
    let kh = height / font.em_height;
    let kw = width / font.upem;
    for (i, g) in glyphs.iter().enumerate() {
        let x = -total / 2.0 + i as f32 * (width + gap) + width / 2.0;
        let at = Placement {
            origin: (x, top + height),
            tangent: (1.0, 0.0),
            up: (0.0, -1.0),
            kw,
            kh,
        };
        frame.set_glyph(font, *g, at, out);
    }
}

/// Sets the code along the lower arc, reading left to right, tops towards the centre.
fn layout_code(
    font: &SealFont,
    glyphs: &[Glyph],
    frame: Frame,
    r_ring_inner: f32,
    mm: f32,
    out: &mut PathBuilder,
) {
    if glyphs.is_empty() {
        return;
    }
    let height = layout42::CODE_HEIGHT * mm;
    let kh = height / font.em_height;
    let kw = kh * 0.9;
    let r_base = r_ring_inner - layout42::CODE_GAP * mm;
    let r_mid = r_base - height / 2.0;
    let spacing = 0.12 * height;
    let advances: Vec<f32> = glyphs.iter().map(|g| g.advance * kw + spacing).collect();
    let total: f32 = advances.iter().sum::<f32>() - spacing;
    // Angle from straight down, increasing to the right (counter-clockwise on screen).
    let mut along = -total / 2.0;
    for (g, adv) in glyphs.iter().zip(&advances) {
        let mid = along + (adv - spacing) / 2.0;
        let alpha = mid / r_mid;
        let (sin, cos) = alpha.sin_cos();
        let origin = (r_base * sin, r_base * cos);
        let tangent = (cos, -sin);
        let up = (-sin, -cos);
        let at = Placement {
            origin,
            tangent,
            up,
            kw,
            kh,
        };
        frame.set_glyph(font, *g, at, out);
        along += adv;
    }
}

/// Encodes the coverage mask in one colour as an 8-bit indexed PNG: palette entry `i` is the
/// colour with alpha `i` (tRNS), so each pixel stores only its coverage — a quarter of the bytes
/// of RGBA, which keeps seal objects (and every signature that carries one) small. A pHYs chunk
/// records `dpi`.
fn encode_coverage_png(mask: &Mask, color: [u8; 3], dpi: u32) -> Result<Vec<u8>, PictureError> {
    let palette: Vec<u8> = (0..256).flat_map(|_| color).collect();
    let trns: Vec<u8> = (0..=255u8).collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, mask.width(), mask.height());
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette);
    enc.set_trns(trns);
    // Coverage values compress best unfiltered; zlib level 6 is 4x faster than level 9 here and
    // smaller still (≈ 40 KB for a 992 px seal).
    enc.set_compression(png::Compression::Default);
    enc.set_filter(png::FilterType::NoFilter);
    // pHYs: pixels per metre = dpi / 0.0254.
    let ppm = (f64::from(dpi) / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: ppm,
        yppu: ppm,
        unit: png::Unit::Meter,
    }));
    let mut writer = enc
        .write_header()
        .map_err(|e| PictureError::Encode(e.to_string()))?;
    writer
        .write_image_data(mask.data())
        .map_err(|e| PictureError::Encode(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| PictureError::Encode(e.to_string()))?;
    Ok(out)
}

/// The PNG signature (ISO/IEC 15948 §5.2).
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

/// Width and height in pixels from a PNG's IHDR chunk (ISO/IEC 15948 §11.2.2), without decoding it.
pub fn png_size_px(png: &[u8]) -> Result<(u32, u32), PictureError> {
    let sig = png
        .get(..8)
        .ok_or(PictureError::NotPng("shorter than a PNG signature"))?;
    if sig != PNG_SIGNATURE {
        return Err(PictureError::NotPng("no PNG signature"));
    }
    let ihdr = png
        .get(8..24)
        .ok_or(PictureError::NotPng("truncated before the IHDR chunk"))?;
    if ihdr.get(4..8) != Some(b"IHDR".as_slice()) {
        return Err(PictureError::NotPng("the first chunk is not IHDR"));
    }
    let be = |b: &[u8]| -> Option<u32> { Some(u32::from_be_bytes(b.try_into().ok()?)) };
    let width = ihdr.get(8..12).and_then(be);
    let height = ihdr.get(12..16).and_then(be);
    match (width, height) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(PictureError::NotPng("truncated IHDR chunk")),
    }
}

/// Decodes any PNG (every colour type and bit depth, interlaced or not) to 8-bit RGB plus optional
/// 8-bit alpha, refusing pictures over [`MAX_PICTURE_SIDE`] px a side (ISO/IEC 15948 §§10–11).
pub fn decode_png(png: &[u8]) -> Result<DecodedPicture, PictureError> {
    let (width, height) = png_size_px(png)?;
    if width == 0 || height == 0 || width > MAX_PICTURE_SIDE || height > MAX_PICTURE_SIDE {
        return Err(PictureError::TooLarge { width, height });
    }
    let pixels = width as usize * height as usize;
    let decode_err = |e: png::DecodingError| PictureError::Decode(e.to_string());
    // Output is at most 8 bytes per pixel before stripping; leave room for the decoder's buffers.
    let limits = png::Limits {
        bytes: pixels * 8 + (1 << 20),
    };
    let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(png), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(decode_err)?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(decode_err)?;
    if info.width != width || info.height != height || info.bit_depth != png::BitDepth::Eight {
        return Err(PictureError::Decode(
            "the decoded frame disagrees with the header".to_owned(),
        ));
    }
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(PictureError::Decode("palette was not expanded".to_owned()));
        }
    };
    let line = width as usize * channels;
    if info.line_size < line || buf.len() < info.line_size * height as usize {
        return Err(PictureError::Decode(
            "the decoded frame is shorter than its header says".to_owned(),
        ));
    }
    let mut rgb = Vec::with_capacity(pixels * 3);
    let mut alpha = Vec::with_capacity(if channels % 2 == 0 { pixels } else { 0 });
    for row in buf.chunks_exact(info.line_size).take(height as usize) {
        let row = row.get(..line).unwrap_or_default();
        for px in row.chunks_exact(channels) {
            match *px {
                [g] => rgb.extend_from_slice(&[g, g, g]),
                [g, a] => {
                    rgb.extend_from_slice(&[g, g, g]);
                    alpha.push(a);
                }
                [r, g, b] => rgb.extend_from_slice(&[r, g, b]),
                [r, g, b, a] => {
                    rgb.extend_from_slice(&[r, g, b]);
                    alpha.push(a);
                }
                _ => {}
            }
        }
    }
    if rgb.len() != pixels * 3 {
        return Err(PictureError::Decode(
            "the decoded frame is shorter than its header says".to_owned(),
        ));
    }
    let alpha = if alpha.iter().all(|&a| a == 255) {
        None
    } else {
        Some(alpha)
    };
    Ok(DecodedPicture {
        width,
        height,
        rgb,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_sample(name: &str, png: &[u8]) {
        let _ = std::fs::write(format!("/tmp/seal-{name}.png"), png);
    }

    fn alpha_at(p: &DecodedPicture, x: u32, y: u32) -> u8 {
        let a = p.alpha.as_ref().unwrap();
        a[(y * p.width + x) as usize]
    }

    fn rgb_at(p: &DecodedPicture, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * p.width + x) * 3) as usize;
        [p.rgb[i], p.rgb[i + 1], p.rgb[i + 2]]
    }

    #[test]
    fn picture_default_seal_has_the_standard_layout() {
        let spec = RoundSeal::default();
        let png = draw_round_seal(&spec).unwrap();
        write_sample("default", &png);
        assert_eq!(png_size_px(&png).unwrap(), (992, 992));
        let p = decode_png(&png).unwrap();
        assert_eq!((p.width, p.height), (992, 992));
        // Corners transparent.
        for (x, y) in [(0, 0), (991, 0), (0, 991), (991, 991), (60, 60)] {
            assert_eq!(alpha_at(&p, x, y), 0, "corner ({x},{y})");
        }
        // Centre of the star is opaque red.
        assert_eq!(alpha_at(&p, 496, 496), 255);
        assert_eq!(rgb_at(&p, 496, 496), SEAL_RED);
        // The ring, on the left edge at mid height (0.1 mm margin + 0.6 mm into a 1.2 mm ring).
        let ring_x = ((0.1 + 0.6) / 42.0 * 992.0) as u32;
        assert_eq!(alpha_at(&p, ring_x, 496), 255);
        assert_eq!(rgb_at(&p, ring_x, 496), SEAL_RED);
        // Some ink in the top arc band (between 13 and 19 mm from the centre, near the top).
        let px_per_mm = 992.0 / 42.0;
        let band = (496 - (19.0 * px_per_mm) as u32)..(496 - (13.0 * px_per_mm) as u32);
        let inked = band
            .flat_map(|y| (400..592).map(move |x| (x, y)))
            .filter(|&(x, y)| alpha_at(&p, x, y) > 128)
            .count();
        assert!(inked > 500, "only {inked} inked pixels in the top arc");
    }

    /// Asserts every pixel outside the outer edge of the ring is fully transparent.
    fn assert_no_ink_outside_ring(p: &DecodedPicture, name: &str) {
        let centre = p.width as f32 / 2.0;
        let outer = centre + 1.0;
        let outside = (0..p.height)
            .flat_map(|y| (0..p.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                ((x as f32 + 0.5 - centre).powi(2) + (y as f32 + 0.5 - centre).powi(2)).sqrt()
                    > outer
            })
            .filter(|&(x, y)| alpha_at(p, x, y) > 0)
            .count();
        assert_eq!(outside, 0, "{name}: ink outside the ring");
    }

    #[test]
    fn picture_png_records_the_resolution() {
        let png = draw_round_seal(&RoundSeal::default()).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let reader = decoder.read_info().unwrap();
        let dims = reader.info().pixel_dims.unwrap();
        assert_eq!(dims.unit, png::Unit::Meter);
        assert_eq!(dims.xppu, 23622); // 600 dpi
        assert_eq!(reader.info().color_type, png::ColorType::Indexed);
    }

    #[test]
    fn picture_long_short_and_coded_names_draw() {
        for (name, org, seal, code) in [
            (
                "long",
                "南京市江北新区管理委员会行政审批局",
                "行政审批专用章",
                None,
            ),
            ("short", "示例局", "行政审批专用章", None),
            (
                "coded",
                "南京市示例区行政审批局",
                "行政审批专用章",
                Some("3201910012345"),
            ),
            ("official", "南京市示例区人民政府", "", None),
            (
                "longest",
                "中华人民共和国江苏省南京市江北新区管理委员会行政审批局",
                "电子证照专用章",
                Some("32019100123456"),
            ),
        ] {
            let spec = RoundSeal {
                org_name: org,
                seal_name: seal,
                code,
                ..RoundSeal::default()
            };
            let png = draw_round_seal(&spec).unwrap();
            write_sample(name, &png);
            let p = decode_png(&png).unwrap();
            assert_eq!(alpha_at(&p, 496, 496), 255, "{name}");
            assert_no_ink_outside_ring(&p, name);
            let px_per_mm = 992.0 / 42.0;
            // Every character stays inside the ring: nothing between the ring and the centre is
            // further out than the inner edge of the ring.
            let inner = (21.0 - 0.1 - 1.2 - 0.2) * px_per_mm;
            let centre = 496.0;
            let stray = (0..p.height)
                .flat_map(|y| (0..p.width).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let r = ((x as f32 + 0.5 - centre).powi(2) + (y as f32 + 0.5 - centre).powi(2))
                        .sqrt();
                    r < inner && r > inner - 0.5 * px_per_mm
                })
                .filter(|&(x, y)| alpha_at(&p, x, y) > 0)
                .count();
            assert_eq!(stray, 0, "{name}: text touches the ring");
            // The seal name (when present) is inked straight below the star.
            let below = ((496.0 + 9.5 * px_per_mm) as u32..(496.0 + 12.5 * px_per_mm) as u32)
                .flat_map(|y| (400..592).map(move |x| (x, y)))
                .filter(|&(x, y)| alpha_at(&p, x, y) > 128)
                .count();
            assert_eq!(
                below > 300,
                !seal.is_empty(),
                "{name}: {below} px below the star"
            );
        }
    }

    #[test]
    fn picture_unknown_character_is_named() {
        let spec = RoundSeal {
            org_name: "示例\u{20000}局",
            ..RoundSeal::default()
        };
        let err = draw_round_seal(&spec).unwrap_err();
        assert!(matches!(err, PictureError::MissingGlyph('\u{20000}')));
        assert!(err.to_string().contains('\u{20000}'), "{err}");
    }

    #[test]
    fn picture_empty_org_name_is_refused() {
        let spec = RoundSeal {
            org_name: "  ",
            ..RoundSeal::default()
        };
        assert!(matches!(
            draw_round_seal(&spec),
            Err(PictureError::EmptyOrgName)
        ));
    }

    fn encode(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<(&[u8], Option<&[u8]>)>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(depth);
        if let Some((plte, trns)) = palette {
            enc.set_palette(plte.to_vec());
            if let Some(trns) = trns {
                enc.set_trns(trns.to_vec());
            }
        }
        let mut w = enc.write_header().unwrap();
        w.write_image_data(data).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn picture_decodes_grey_png_as_opaque_rgb() {
        let png = encode(
            3,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0, 128, 255, 10, 20, 30],
            None,
        );
        assert_eq!(png_size_px(&png).unwrap(), (3, 2));
        let p = decode_png(&png).unwrap();
        assert_eq!((p.width, p.height), (3, 2));
        assert_eq!(&p.rgb[..9], &[0, 0, 0, 128, 128, 128, 255, 255, 255]);
        assert_eq!(&p.rgb[9..], &[10, 10, 10, 20, 20, 20, 30, 30, 30]);
        assert_eq!(p.alpha, None);
    }

    #[test]
    fn picture_decodes_palette_png_with_transparency() {
        // Two-bit palette: red, green, transparent blue; pixels 0 1 2 1.
        let plte = [255, 0, 0, 0, 255, 0, 0, 0, 255];
        let png = encode(
            4,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Two,
            &[0b0001_1001],
            Some((&plte, Some(&[255, 255, 0]))),
        );
        let p = decode_png(&png).unwrap();
        assert_eq!(p.rgb, vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 0]);
        assert_eq!(p.alpha, Some(vec![255, 255, 0, 255]));
    }

    #[test]
    fn picture_decodes_16_bit_grey_alpha_to_8_bit() {
        // Two pixels: grey 0xABCD alpha 0xFFFF, grey 0x1234 alpha 0x8000.
        let png = encode(
            2,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Sixteen,
            &[0xAB, 0xCD, 0xFF, 0xFF, 0x12, 0x34, 0x80, 0x00],
            None,
        );
        let p = decode_png(&png).unwrap();
        assert_eq!(p.rgb, vec![0xAB, 0xAB, 0xAB, 0x12, 0x12, 0x12]);
        assert_eq!(p.alpha, Some(vec![0xFF, 0x80]));
    }

    #[test]
    fn picture_truncated_png_is_an_error() {
        let png = draw_round_seal(&RoundSeal::default()).unwrap();
        for len in [0, 7, 8, 20, 33, 100, png.len() / 2, png.len() - 13] {
            assert!(decode_png(&png[..len]).is_err(), "truncated at {len}");
        }
        assert!(png_size_px(&png[..20]).is_err());
        assert!(matches!(
            decode_png(b"GIF89a not a png at all"),
            Err(PictureError::NotPng(_))
        ));
    }

    #[test]
    fn picture_refuses_oversize_and_lying_headers() {
        // A 1x1 picture whose IHDR is rewritten to claim 5000x5000 (CRC fixed up or not, the
        // size bound comes first).
        let mut png = encode(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[1, 2, 3],
            None,
        );
        png[16..20].copy_from_slice(&5000u32.to_be_bytes());
        png[20..24].copy_from_slice(&5000u32.to_be_bytes());
        assert!(matches!(
            decode_png(&png),
            Err(PictureError::TooLarge {
                width: 5000,
                height: 5000
            })
        ));
        // A header claiming 4000x4000 over 1 pixel of data, with a valid CRC: damaged, no panic.
        let mut png = encode(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[1, 2, 3],
            None,
        );
        png[16..20].copy_from_slice(&4000u32.to_be_bytes());
        png[20..24].copy_from_slice(&4000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(decode_png(&png), Err(PictureError::Decode(_))));
        // Zero width.
        let mut png = encode(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[1, 2, 3],
            None,
        );
        png[16..20].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            decode_png(&png),
            Err(PictureError::TooLarge { .. })
        ));
    }

    /// CRC-32 (ISO 3309) as PNG chunks use it.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn picture_scales_with_diameter_and_dpi() {
        let spec = RoundSeal {
            diameter_mm: 40.0,
            dpi: 300,
            ..RoundSeal::default()
        };
        let png = draw_round_seal(&spec).unwrap();
        assert_eq!(png_size_px(&png).unwrap(), (472, 472));
        let p = decode_png(&png).unwrap();
        assert_no_ink_outside_ring(&p, "40mm@300dpi");
        // 60 mm at 2400 dpi would be 5669 px a side.
        let too_big = RoundSeal {
            diameter_mm: 60.0,
            dpi: 2400,
            ..RoundSeal::default()
        };
        assert!(matches!(
            draw_round_seal(&too_big),
            Err(PictureError::BadSize { .. })
        ));
    }
}
