//! Text setting for licences: the two committed Noto Serif SC subsets (SIL OFL 1.1), parsed once
//! per process, horizontal glyph layout (cmap + advance widths), letter spacing, distributed
//! (分散对齐) labels and line breaking for CJK text with hanging closing punctuation.
//!
//! Fonts are read with [`ttf_parser`] for metrics; their CFF outlines go through
//! [`super::cff::CffSource`], which assembles per-document subsets from cached glyph programs.

use std::sync::{Arc, LazyLock};

use super::cff::CffSource;

/// Noto Serif CJK SC Regular, subset to GB 2312 (see `seal/fonts/README.md`).
static REGULAR_FONT: &[u8] = include_bytes!("../../fonts/NotoSerifSC-Regular-GB2312.otf");

/// Font-wide metrics in PDF glyph space (1/1000 em), for the font descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Metrics {
    pub(crate) bbox: [f32; 4],
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
    pub(crate) cap_height: f32,
}

/// A font parsed once: metrics for layout, glyph programs for embedding.
pub(crate) struct LicenceFont {
    face: ttf_parser::Face<'static>,
    /// Glyph id and advance (font units) of every BMP character, 0 = no glyph.
    bmp: Vec<(u16, u16)>,
    upem: f32,
    cff: CffSource,
    postscript_name: String,
    metrics: Metrics,
    bold: bool,
}

impl LicenceFont {
    fn parse(data: &'static [u8], bold: bool) -> Result<Self, String> {
        let face = ttf_parser::Face::parse(data, 0).map_err(|e| e.to_string())?;
        let cff = CffSource::parse(data).map_err(|e| e.to_string())?;
        if cff.num_glyphs() != face.number_of_glyphs() {
            return Err("the CFF and the OpenType tables disagree on the glyph count".to_owned());
        }
        let upem = f32::from(face.units_per_em());
        let k = 1000.0 / upem;
        let b = face.global_bounding_box();
        let metrics = Metrics {
            bbox: [
                f32::from(b.x_min) * k,
                f32::from(b.y_min) * k,
                f32::from(b.x_max) * k,
                f32::from(b.y_max) * k,
            ],
            ascent: f32::from(face.ascender()) * k,
            descent: f32::from(face.descender()) * k,
            cap_height: face
                .capital_height()
                .map_or(f32::from(face.ascender()) * k, |c| f32::from(c) * k),
        };
        let postscript_name = face
            .names()
            .into_iter()
            .find(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .and_then(|n| n.to_string())
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
            .unwrap_or_else(|| {
                if bold {
                    "NotoSerifSC-Bold"
                } else {
                    "NotoSerifSC-Regular"
                }
                .to_owned()
            });
        // A dense table for the Basic Multilingual Plane: every licence looks up each of its
        // characters several times (measuring, breaking, encoding).
        let mut bmp = vec![(0u16, 0u16); 0x1_0000];
        if let Some(cmap) = face.tables().cmap {
            for sub in cmap.subtables {
                if !sub.is_unicode() {
                    continue;
                }
                sub.codepoints(|cp| {
                    if let (Ok(i), Some(g)) = (usize::try_from(cp), sub.glyph_index(cp))
                        && let Some(slot) = bmp.get_mut(i)
                        && slot.0 == 0
                    {
                        *slot = (g.0, face.glyph_hor_advance(g).unwrap_or(0));
                    }
                });
            }
        }
        Ok(Self {
            face,
            bmp,
            upem,
            cff,
            postscript_name,
            metrics,
            bold,
        })
    }

    /// The glyph programs, for subsets.
    pub(crate) fn cff(&self) -> &CffSource {
        &self.cff
    }

    /// PostScript name (for `/BaseFont`, after the subset tag).
    pub(crate) fn postscript_name(&self) -> &str {
        &self.postscript_name
    }

    /// Metrics in 1/1000 em.
    pub(crate) fn metrics(&self) -> Metrics {
        self.metrics
    }

    /// Whether this is the bold weight.
    pub(crate) fn is_bold(&self) -> bool {
        self.bold
    }

    /// Glyph id and advance (em) of `c`.
    pub(crate) fn glyph(&self, c: char) -> Option<(u16, f32)> {
        if let Some(&(gid, adv)) = self.bmp.get(c as usize) {
            return (gid != 0).then(|| (gid, f32::from(adv) / self.upem));
        }
        let id = self.face.glyph_index(c)?;
        let adv = f32::from(self.face.glyph_hor_advance(id).unwrap_or(0)) / self.upem;
        Some((id.0, adv))
    }

    /// Advance of glyph `gid` in 1/1000 em.
    pub(crate) fn advance_1000(&self, gid: u16) -> f32 {
        f32::from(
            self.face
                .glyph_hor_advance(ttf_parser::GlyphId(gid))
                .unwrap_or(0),
        ) * 1000.0
            / self.upem
    }

    /// The first character of `s` that has no glyph.
    pub(crate) fn missing_glyph(&self, s: &str) -> Option<char> {
        s.chars().find(|&c| self.glyph(c).is_none())
    }

    /// Advance width of `s` in em (no letter spacing); unknown characters count as 1 em.
    pub(crate) fn width_em(&self, s: &str) -> f32 {
        s.chars()
            .map(|c| self.glyph(c).map_or(1.0, |(_, a)| a))
            .sum()
    }
}

type Loaded = Result<Arc<LicenceFont>, String>;

static REGULAR: LazyLock<Loaded> =
    LazyLock::new(|| LicenceFont::parse(REGULAR_FONT, false).map(Arc::new));
static BOLD: LazyLock<Loaded> =
    LazyLock::new(|| LicenceFont::parse(crate::picture::SEAL_FONT, true).map(Arc::new));

/// The regular text font, or why the embedded font cannot be parsed (a build defect).
pub(crate) fn regular() -> Result<Arc<LicenceFont>, String> {
    REGULAR.clone()
}

/// The bold font (the seal font), or why it cannot be parsed (a build defect).
pub(crate) fn bold() -> Result<Arc<LicenceFont>, String> {
    BOLD.clone()
}

/// Parse both licence fonts now (rather than on the first licence) and, if `all_glyphs`, prepare
/// every glyph program for subsetting, so that no later licence pays for it.
pub(crate) fn prepare(all_glyphs: bool) -> Result<(), String> {
    let fonts = [regular()?, bold()?];
    if all_glyphs {
        for f in fonts {
            f.cff().cache_all().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The first character of `s` the regular font cannot print (`None` also if the font is broken;
/// rendering then fails with the font error).
pub(crate) fn missing_regular_glyph(s: &str) -> Option<char> {
    REGULAR.as_ref().ok().and_then(|f| f.missing_glyph(s))
}

/// The first character of `s` the bold font cannot print.
pub(crate) fn missing_bold_glyph(s: &str) -> Option<char> {
    BOLD.as_ref().ok().and_then(|f| f.missing_glyph(s))
}

/// Characters that must not start a line (closing punctuation, GB/T 15834 / JIS X 4051 style):
/// they hang at the end of the previous line instead.
fn no_line_start(c: char) -> bool {
    "，。、；：？！）》」』”’】〕…—．,.;:?!)]}%".contains(c)
}

/// Characters that must not end a line (opening brackets).
fn no_line_end(c: char) -> bool {
    "（《「『“‘【〔([{".contains(c)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '/' || c == '_' || c == '@'
}

/// Break `s` into lines no wider than `max_em` (in em of `font`): CJK text breaks between any
/// two characters, runs of ASCII letters and digits are kept whole when they fit on a line,
/// closing punctuation hangs rather than start a line. Returns byte ranges of `s`, leading
/// spaces of continuation lines skipped.
pub(crate) fn break_lines(font: &LicenceFont, s: &str, max_em: f32) -> Vec<std::ops::Range<usize>> {
    let chars: Vec<(usize, char, f32)> = s
        .char_indices()
        .map(|(i, c)| (i, c, font.glyph(c).map_or(1.0, |(_, a)| a)))
        .collect();
    let mut lines = Vec::new();
    let mut start = 0usize; // index into chars
    while start < chars.len() {
        // Skip spaces at the start of a continuation line.
        while start < chars.len() && start > 0 && chars.get(start).is_some_and(|c| c.1 == ' ') {
            start += 1;
        }
        if start >= chars.len() {
            break;
        }
        let mut width = 0.0;
        let mut end = start;
        while end < chars.len() {
            let (_, c, adv) = chars[end];
            if width + adv > max_em && end > start && !no_line_start(c) {
                break;
            }
            width += adv;
            end += 1;
        }
        if end < chars.len() {
            // Move the break back out of a word, or before an opening bracket.
            let mut brk = end;
            while brk > start + 1 {
                let prev = chars[brk - 1].1;
                let next = chars[brk].1;
                let inside_word = is_word_char(prev) && is_word_char(next);
                if inside_word || no_line_end(prev) || no_line_start(next) {
                    brk -= 1;
                } else {
                    break;
                }
            }
            if brk > start + 1 || !is_word_char(chars[end].1) {
                end = brk.max(start + 1);
            }
        }
        let from = chars[start].0;
        let to = chars.get(end).map_or(s.len(), |c| c.0);
        lines.push(from..to);
        start = end;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str, max_em: f32) -> Vec<&str> {
        let f = regular().unwrap();
        break_lines(&f, s, max_em)
            .into_iter()
            .map(|r| &s[r])
            .collect()
    }

    #[test]
    fn fonts_parse_and_cover_gb2312_text() {
        let r = regular().unwrap();
        let b = bold().unwrap();
        assert_eq!(r.missing_glyph("食品经营许可证，2025年5月22日 ABC"), None);
        assert_eq!(b.missing_glyph("南京市示例区行政审批局"), None);
        // U+4DAE is in CJK Extension A, outside GB 2312.
        assert_eq!(r.missing_glyph("王䶮"), Some('䶮'));
        assert!((r.width_em("许可证") - 3.0).abs() < 0.01);
    }

    #[test]
    fn glyph_metrics() {
        let f = regular().unwrap();
        let (gid, adv) = f.glyph('许').unwrap();
        assert!(gid > 0);
        assert!((adv - 1.0).abs() < 0.01);
        assert!((f.advance_1000(gid) - 1000.0).abs() < 1.0);
        assert!(
            f.postscript_name().starts_with("NotoSerifCJK"),
            "{}",
            f.postscript_name()
        );
        assert!(bold().unwrap().is_bold());
        let m = f.metrics();
        assert!(m.ascent > 800.0 && m.descent < -100.0 && m.bbox[2] > m.bbox[0]);
    }

    #[test]
    fn cjk_breaks_anywhere_with_hanging_punctuation() {
        assert_eq!(lines("一二三四五六", 4.0), ["一二三四", "五六"]);
        // The comma may not start a line: it hangs.
        assert_eq!(lines("一二三四，五六", 4.0), ["一二三四，", "五六"]);
        // An opening bracket does not end a line.
        assert_eq!(lines("一二三（四五）", 4.0), ["一二三", "（四五）"]);
        assert_eq!(lines("", 4.0), Vec::<&str>::new());
    }

    proptest::proptest! {
        #[test]
        fn breaking_never_panics_and_loses_nothing_but_leading_spaces(
            s in "[一-龥a-zA-Z0-9 ，。（）《》]{0,80}",
            max_em in 0.5f32..30.0,
        ) {
            let f = regular().unwrap();
            let lines = break_lines(&f, &s, max_em);
            let joined: String = lines.iter().map(|r| &s[r.clone()]).collect();
            proptest::prop_assert_eq!(joined.replace(' ', ""), s.replace(' ', ""));
            for w in lines.windows(2) {
                proptest::prop_assert!(w[0].end <= w[1].start);
            }
        }
    }

    #[test]
    fn latin_words_stay_whole_when_they_fit() {
        let l = lines("地址 Building 12 Road", 5.0);
        assert!(l.iter().all(|s| !s.ends_with("Buil")), "{l:?}");
        assert_eq!(l.concat().replace(' ', ""), "地址Building12Road");
        // A word longer than a line is cut.
        let long = "A".repeat(40);
        let l = lines(&long, 5.0);
        assert!(l.len() > 1);
        assert_eq!(l.concat(), long);
    }
}
