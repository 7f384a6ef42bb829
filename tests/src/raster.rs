//! Rendered pages as RGB rasters (decoded from `pdftoppm` PNGs) and the seal-red pixel test.

use std::path::Path;

/// An 8-bit RGB raster.
#[derive(Debug, Clone)]
pub struct Raster {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB triples, `width * height` of them.
    pub rgb: Vec<[u8; 3]>,
}

impl Raster {
    /// Decode a PNG file (any bit depth / colour type; alpha composited over white).
    pub fn from_png(path: &Path) -> Raster {
        let file = std::fs::File::open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        let (w, h) = (info.width, info.height);
        let bytes = &buf[..info.buffer_size()];
        let over_white = |c: u8, a: u8| -> u8 {
            ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8
        };
        let rgb: Vec<[u8; 3]> = match info.color_type {
            png::ColorType::Rgb => bytes.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
            png::ColorType::Rgba => bytes
                .chunks_exact(4)
                .map(|p| {
                    [
                        over_white(p[0], p[3]),
                        over_white(p[1], p[3]),
                        over_white(p[2], p[3]),
                    ]
                })
                .collect(),
            png::ColorType::Grayscale => bytes.iter().map(|&g| [g, g, g]).collect(),
            png::ColorType::GrayscaleAlpha => bytes
                .chunks_exact(2)
                .map(|p| {
                    let g = over_white(p[0], p[1]);
                    [g, g, g]
                })
                .collect(),
            png::ColorType::Indexed => panic!("indexed PNG was not expanded"),
        };
        assert_eq!(rgb.len(), (w * h) as usize, "PNG size mismatch");
        Raster {
            width: w,
            height: h,
            rgb,
        }
    }

    /// Coordinates `(x, y)` (y downwards) of every seal-red pixel.
    pub fn red_pixels(&self) -> Vec<(u32, u32)> {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| is_seal_red(self.rgb[(y * self.width + x) as usize]))
            .collect()
    }
}

/// Whether a pixel is seal red: red high, green and blue low.
pub fn is_seal_red([r, g, b]: [u8; 3]) -> bool {
    r >= 150 && g <= 110 && b <= 110 && r - g.max(b) >= 80
}

/// A rectangle in pixels: `x0 <= x < x1`, `y0 <= y < y1` (y downwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelRect {
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
}

impl PixelRect {
    /// The rectangle grown by `d` pixels on every side.
    pub fn grown(self, d: f64) -> PixelRect {
        PixelRect {
            x0: self.x0 - d,
            y0: self.y0 - d,
            x1: self.x1 + d,
            y1: self.y1 + d,
        }
    }

    /// Whether pixel `(x, y)` (its centre) lies inside.
    pub fn contains(&self, (x, y): (u32, u32)) -> bool {
        let (cx, cy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        cx >= self.x0 && cx < self.x1 && cy >= self.y0 && cy < self.y1
    }

    /// Area in pixels.
    pub fn area(&self) -> f64 {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// Millimetres to PDF points (1 pt = 1/72 in).
pub fn mm_to_pt(mm: f64) -> f64 {
    mm * 72.0 / 25.4
}

/// Where a square of `size_mm` whose lower-left corner is at (`x_mm`, `y_mm`) from the crop
/// box's lower-left corner lands on a raster of that crop box.
pub fn placed_rect(
    crop: [f64; 4],
    raster: &Raster,
    x_mm: f64,
    y_mm: f64,
    size_mm: f64,
) -> PixelRect {
    let (w_pt, h_pt) = (crop[2] - crop[0], crop[3] - crop[1]);
    let sx = f64::from(raster.width) / w_pt;
    let sy = f64::from(raster.height) / h_pt;
    let (x0, y0) = (mm_to_pt(x_mm), mm_to_pt(y_mm));
    let s = mm_to_pt(size_mm);
    PixelRect {
        x0: x0 * sx,
        x1: (x0 + s) * sx,
        y0: (h_pt - (y0 + s)) * sy,
        y1: (h_pt - y0) * sy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_red_is_red_and_nothing_else() {
        assert!(is_seal_red([230, 0, 18]));
        assert!(is_seal_red([200, 40, 40]));
        assert!(!is_seal_red([255, 255, 255]));
        assert!(!is_seal_red([0, 0, 0]));
        assert!(!is_seal_red([255, 180, 180]));
        assert!(!is_seal_red([128, 0, 0]));
        assert!(!is_seal_red([230, 200, 20]));
    }

    #[test]
    fn placement_maps_millimetres_to_pixels_from_the_bottom_left() {
        let raster = Raster {
            width: 595,
            height: 842,
            rgb: vec![[255; 3]; 595 * 842],
        };
        // 72 dpi A4: 1 px = 1 pt. A 25.4 mm square at (25.4, 25.4) mm is 72 pt at (72, 72) pt.
        let r = placed_rect([0.0, 0.0, 595.0, 842.0], &raster, 25.4, 25.4, 25.4);
        assert!((r.x0 - 72.0).abs() < 1e-9 && (r.x1 - 144.0).abs() < 1e-9);
        assert!((r.y1 - 770.0).abs() < 1e-9 && (r.y0 - 698.0).abs() < 1e-9);
        assert!(r.contains((100, 700)) && !r.contains((100, 771)));
    }
}
