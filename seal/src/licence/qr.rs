//! QR code symbols (ISO/IEC 18004:2015) for verification URLs.
//!
//! The `qrcode` crate encodes the data, adds the Reed–Solomon codewords and draws the modules;
//! the mask is chosen here by the §7.8.3 penalty rules, evaluated on a plain bit grid (the
//! crate's own evaluation costs milliseconds, ours microseconds — it runs once per licence).

use qrcode::bits::encode_auto;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::ec::construct_codewords;
use qrcode::{Color, EcLevel};

/// The eight mask patterns of §7.8.2.
const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A square symbol: `width` × `width` modules, row-major, `true` = dark.
pub(crate) struct QrSymbol {
    pub(crate) width: usize,
    pub(crate) dark: Vec<bool>,
}

impl QrSymbol {
    /// Whether the module at (`row`, `col`) is dark (outside the symbol: light).
    pub(crate) fn is_dark(&self, row: usize, col: usize) -> bool {
        col < self.width
            && self
                .dark
                .get(row * self.width + col)
                .copied()
                .unwrap_or(false)
    }
}

/// Encode `data` at error correction level M in the smallest version that holds it.
pub(crate) fn encode(data: &[u8]) -> Result<QrSymbol, String> {
    let ec = EcLevel::M;
    let mut bits = encode_auto(data, ec).map_err(|e| e.to_string())?;
    bits.push_terminator(ec).map_err(|e| e.to_string())?;
    let version = bits.version();
    let (data_cw, ec_cw) =
        construct_codewords(&bits.into_bytes(), version, ec).map_err(|e| e.to_string())?;
    let mut canvas = Canvas::new(version, ec);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data_cw, &ec_cw);
    let width = usize::try_from(version.width()).map_err(|e| e.to_string())?;
    let mut best: Option<(u32, Vec<bool>)> = None;
    for mask in MASKS {
        let mut c = canvas.clone();
        c.apply_mask(mask);
        let dark: Vec<bool> = c
            .into_colors()
            .into_iter()
            .map(|m| m == Color::Dark)
            .collect();
        let score = penalty(width, &dark);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, dark));
        }
    }
    let (_, dark) = best.ok_or_else(|| "no mask".to_owned())?;
    Ok(QrSymbol { width, dark })
}

/// The §7.8.3.1 penalty score of a masked symbol (N1 = 3, N2 = 3, N3 = 40, N4 = 10).
fn penalty(w: usize, m: &[bool]) -> u32 {
    if m.len() != w * w {
        return u32::MAX;
    }
    // Rows and columns as byte lines (the transpose once, so both scans are sequential).
    let rows: Vec<&[bool]> = m.chunks(w).collect();
    let cols: Vec<Vec<bool>> = (0..w)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).copied().unwrap_or(false))
                .collect()
        })
        .collect();
    let mut score = 0u32;
    // Rule 3 patterns: 1:1:3:1:1 with four light modules before or after.
    const FINDER_A: [bool; 11] = [
        true, false, true, true, true, false, true, false, false, false, false,
    ];
    const FINDER_B: [bool; 11] = [
        false, false, false, false, true, false, true, true, true, false, true,
    ];
    let mut line_score = |line: &[bool]| {
        // Rule 1: runs of five or more.
        let mut run = 1u32;
        for pair in line.windows(2) {
            if pair[0] == pair[1] {
                run += 1;
            } else {
                if run >= 5 {
                    score += run - 2;
                }
                run = 1;
            }
        }
        if run >= 5 {
            score += run - 2;
        }
        for win in line.windows(11) {
            if win == FINDER_A || win == FINDER_B {
                score += 40;
            }
        }
    };
    for r in &rows {
        line_score(r);
    }
    for c in &cols {
        line_score(c);
    }
    // Rule 2: 2×2 blocks of one colour.
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        for c in 0..w.saturating_sub(1) {
            let v = a[c];
            if a[c + 1] == v && b[c] == v && b[c + 1] == v {
                score += 3;
            }
        }
    }
    // Rule 4: proportion of dark modules, 10 points per 5 % away from half.
    let dark = m.iter().filter(|d| **d).count();
    let percent = dark * 100 / m.len().max(1);
    let k = percent.abs_diff(50) / 5;
    score + 10 * u32::try_from(k).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_url_in_a_small_version() {
        let s = encode(b"https://zwfw.example.gov.cn/v/jjkoblm5ktkqiyqwxytfotrkza").unwrap();
        // 55 bytes at level M need version 4 (33 modules).
        assert_eq!(s.width, 33);
        assert_eq!(s.dark.len(), 33 * 33);
        // The three finder patterns: dark 7×7 rings at three corners.
        for (r, c) in [(0, 0), (0, 26), (26, 0)] {
            assert!(s.is_dark(r, c) && s.is_dark(r + 6, c + 6) && !s.is_dark(r + 1, c + 1));
        }
        assert!(!s.is_dark(0, 40));
    }

    #[test]
    fn penalty_rules() {
        // All light 11×11: rule 1 in every row and column, rule 2 everywhere, rule 4 maximal.
        let light = vec![false; 121];
        let p = penalty(11, &light);
        let expected_rule1 = 22 * (3 + 6);
        let expected_rule2 = 100 * 3;
        assert_eq!(p, expected_rule1 + expected_rule2 + 10 * 10);
        // A checkerboard has no runs, no blocks, half dark.
        let board: Vec<bool> = (0..121).map(|i| (i / 11 + i % 11) % 2 == 0).collect();
        assert_eq!(penalty(11, &board), 0);
    }
}
