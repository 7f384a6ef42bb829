//! The seal picture as PDF image XObjects (ISO 32000-2 §8.9.5): an 8-bit `/DeviceRGB` image and
//! its `/SMask` (§11.6.5.3), prepared once per sealer and written into every sealed document.
//!
//! The pictures Chop draws ([`crate::picture::draw_round_seal`]) are 8-bit indexed PNGs whose
//! palette is one colour and whose tRNS gives entry `i` the alpha `i`: the PNG's pixel data *is*
//! the alpha plane. Its zlib stream (the IDAT chunks) then goes into the PDF unchanged as the
//! soft mask, with the PNG predictor parameters (§7.4.4.4, `/Predictor 15`) that undo the PNG
//! row filters — no inflating and re-deflating of a megapixel plane per sealer. Any other PNG
//! is decoded and deflated.
//!
//! The RGB plane of a one-colour seal is constant and compresses extremely well; a stream that
//! inflates more than [`MAX_RATIO`] times is what verifiers (ours included, see
//! `verify::Limits::max_ratio`) treat as a decompression bomb, so the level is chosen to stay
//! under it.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;

use super::serialize::write_real;
use crate::picture::{PictureError, decode_png};

/// Largest inflate ratio of an image stream we write (a quarter of the verifier's limit).
pub const MAX_RATIO: usize = 250;

/// Flate-compressed samples, with PNG predictor parameters when the rows carry PNG filter tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlateSamples {
    /// The zlib stream (`/Filter /FlateDecode`).
    pub data: Vec<u8>,
    /// `Some(columns)`: `/DecodeParms <</Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns n>>`.
    pub png_columns: Option<u32>,
}

/// The seal picture ready to be written as an image XObject and its soft mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The `/DeviceRGB` samples.
    pub rgb: FlateSamples,
    /// The `/DeviceGray` soft mask; `None` when the picture is opaque.
    pub alpha: Option<FlateSamples>,
}

impl SealImage {
    /// Prepares `png` (the seal object's picture).
    pub fn prepare(png: &[u8]) -> Result<SealImage, PictureError> {
        if let Some(coverage) = CoveragePng::parse(png) {
            let rgb = coverage
                .color
                .repeat(coverage.width as usize * coverage.height as usize);
            return Ok(SealImage {
                width: coverage.width,
                height: coverage.height,
                rgb: FlateSamples {
                    // A constant plane: the best level is known to exceed the ratio.
                    data: deflate_bounded(&rgb, &CONSTANT_LEVELS),
                    png_columns: None,
                },
                alpha: Some(FlateSamples {
                    data: coverage.idat,
                    png_columns: Some(coverage.width),
                }),
            });
        }
        let picture = decode_png(png)?;
        Ok(SealImage {
            width: picture.width,
            height: picture.height,
            rgb: FlateSamples {
                data: deflate_bounded(&picture.rgb, &ANY_LEVELS),
                png_columns: None,
            },
            alpha: picture.alpha.as_deref().map(|a| FlateSamples {
                data: deflate_bounded(a, &ANY_LEVELS),
                png_columns: None,
            }),
        })
    }

    /// Writes the image XObject's body (dictionary and stream), its `/SMask` referring to
    /// object `smask` when the picture has one.
    pub fn write_image(&self, out: &mut Vec<u8>, smask: Option<(u32, u16)>) {
        self.write_stream(out, b"/DeviceRGB", &self.rgb, smask);
    }

    /// Writes the soft mask's body, if the picture has one.
    pub fn write_smask(&self, out: &mut Vec<u8>) {
        if let Some(alpha) = &self.alpha {
            self.write_stream(out, b"/DeviceGray", alpha, None);
        }
    }

    fn write_stream(
        &self,
        out: &mut Vec<u8>,
        color_space: &[u8],
        samples: &FlateSamples,
        smask: Option<(u32, u16)>,
    ) {
        out.extend_from_slice(b"<</Type /XObject/Subtype /Image/Width ");
        out.extend_from_slice(self.width.to_string().as_bytes());
        out.extend_from_slice(b"/Height ");
        out.extend_from_slice(self.height.to_string().as_bytes());
        out.extend_from_slice(b"/ColorSpace ");
        out.extend_from_slice(color_space);
        out.extend_from_slice(b"/BitsPerComponent 8/Interpolate true/Filter /FlateDecode");
        if let Some(columns) = samples.png_columns {
            out.extend_from_slice(
                format!(
                    "/DecodeParms <</Predictor 15/Colors 1/BitsPerComponent 8/Columns {columns}>>"
                )
                .as_bytes(),
            );
        }
        if let Some((num, generation)) = smask {
            out.extend_from_slice(format!("/SMask {num} {generation} R").as_bytes());
        }
        out.extend_from_slice(b"/Length ");
        out.extend_from_slice(samples.data.len().to_string().as_bytes());
        out.extend_from_slice(b">>\nstream\r\n");
        out.extend_from_slice(&samples.data);
        out.extend_from_slice(b"\nendstream");
    }
}

/// The content stream of a form XObject that draws image `/Seal` over `width` × `height`
/// points.
pub fn draw_image(width_pt: f64, height_pt: f64) -> Vec<u8> {
    let mut content = b"q ".to_vec();
    write_real(&mut content, width_pt);
    content.extend_from_slice(b" 0 0 ");
    write_real(&mut content, height_pt);
    content.extend_from_slice(b" 0 0 cm /Seal Do Q");
    content
}

/// Levels tried for any samples, best first.
const ANY_LEVELS: [u32; 3] = [9, 2, 1];

/// Levels tried for a constant plane, which the best level compresses past [`MAX_RATIO`].
const CONSTANT_LEVELS: [u32; 2] = [2, 1];

/// Deflates `data` at the first of `levels` whose inflate ratio stays at most [`MAX_RATIO`].
fn deflate_bounded(data: &[u8], levels: &[u32]) -> Vec<u8> {
    let mut fallback = Vec::new();
    for &level in levels {
        let level = Compression::new(level);
        let out = deflate(data, level);
        if data.len() <= 4096 || data.len() / out.len().max(1) <= MAX_RATIO {
            return out;
        }
        fallback = out;
    }
    // Even the fastest level compresses past the ratio: store the data in fixed blocks.
    if data.len() / fallback.len().max(1) > MAX_RATIO {
        return deflate(data, Compression::none());
    }
    fallback
}

fn deflate(data: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::with_capacity(data.len() / 8 + 64), level);
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// A one-colour 8-bit indexed PNG whose palette entry `i` has alpha `i` (what
/// [`crate::picture::draw_round_seal`] writes), non-interlaced.
struct CoveragePng {
    width: u32,
    height: u32,
    color: [u8; 3],
    /// The concatenated IDAT data: a zlib stream of rows, each a PNG filter tag and `width`
    /// bytes of coverage.
    idat: Vec<u8>,
}

impl CoveragePng {
    /// `None` for any other PNG (which then goes through [`decode_png`]), and for a PNG whose
    /// pixel data does not inflate to exactly its rows with valid filter tags.
    fn parse(png: &[u8]) -> Option<CoveragePng> {
        let mut rest = png.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
        let mut header = None;
        let mut color = None;
        let mut trns_ok = false;
        let mut idat = Vec::new();
        while rest.len() >= 12 {
            let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
            let kind = &rest[4..8];
            let body = rest.get(8..8usize.checked_add(len)?)?;
            rest.get(8 + len..12 + len)?;
            // The chunk CRCs are not checked: the picture comes out of a seal object whose
            // maker signature was verified, and the pixel data is inflated in full below.
            match kind {
                b"IHDR" => {
                    // width, height, bit depth 8, colour type 3, compression 0, filter 0,
                    // interlace 0.
                    if body.len() != 13 || body[8..] != [8, 3, 0, 0, 0] {
                        return None;
                    }
                    let w = u32::from_be_bytes(body[..4].try_into().ok()?);
                    let h = u32::from_be_bytes(body[4..8].try_into().ok()?);
                    header = Some((w, h));
                }
                b"PLTE" => {
                    if body.len() != 768 {
                        return None;
                    }
                    let first = [body[0], body[1], body[2]];
                    if body.chunks_exact(3).any(|c| c != first) {
                        return None;
                    }
                    color = Some(first);
                }
                b"tRNS" => {
                    trns_ok =
                        body.len() == 256 && body.iter().enumerate().all(|(i, a)| *a as usize == i);
                }
                b"IDAT" => idat.extend_from_slice(body),
                b"IEND" => break,
                _ => {}
            }
            rest = &rest[12 + len..];
        }
        let (width, height) = header?;
        let color = color?;
        if !trns_ok
            || width == 0
            || height == 0
            || width > crate::picture::MAX_PICTURE_SIDE
            || height > crate::picture::MAX_PICTURE_SIDE
        {
            return None;
        }
        // The stream must inflate to exactly `height` rows of a tag (0–4) and `width` bytes.
        let row = width as usize + 1;
        let expected = row * height as usize;
        let mut rows = Vec::with_capacity(expected + 1);
        flate2::read::ZlibDecoder::new(idat.as_slice())
            .take(expected as u64 + 1)
            .read_to_end(&mut rows)
            .ok()?;
        if rows.len() != expected || rows.chunks_exact(row).any(|r| r[0] > 4) {
            return None;
        }
        Some(CoveragePng {
            width,
            height,
            color,
            idat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::{RoundSeal, draw_round_seal};

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// PNG predictor rows back to samples (the subset the coverage PNG uses is enough to
    /// check: undo every tag).
    fn unfilter(rows: &[u8], width: usize) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        let mut prev = vec![0u8; width];
        for r in rows.chunks_exact(width + 1) {
            let mut cur = r[1..].to_vec();
            for i in 0..width {
                let a = if i > 0 { cur[i - 1] } else { 0 };
                let b = prev[i];
                let c = if i > 0 { prev[i - 1] } else { 0 };
                let p = i16::from(a) + i16::from(b) - i16::from(c);
                let (pa, pb, pc) = (
                    (p - i16::from(a)).abs(),
                    (p - i16::from(b)).abs(),
                    (p - i16::from(c)).abs(),
                );
                let pred = match r[0] {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    _ if pa <= pb && pa <= pc => a,
                    _ if pb <= pc => b,
                    _ => c,
                };
                cur[i] = cur[i].wrapping_add(pred);
            }
            out.extend_from_slice(&cur);
            prev = cur;
        }
        out
    }

    #[test]
    fn a_drawn_seal_uses_its_png_data_as_the_soft_mask() {
        let png = draw_round_seal(&RoundSeal {
            dpi: 150,
            ..RoundSeal::default()
        })
        .unwrap();
        let picture = decode_png(&png).unwrap();
        let image = SealImage::prepare(&png).unwrap();
        assert_eq!((image.width, image.height), (picture.width, picture.height));
        let alpha = image.alpha.as_ref().unwrap();
        assert_eq!(alpha.png_columns, Some(picture.width));
        let rows = inflate(&alpha.data);
        assert_eq!(
            unfilter(&rows, picture.width as usize),
            picture.alpha.unwrap(),
            "the PNG rows are the alpha plane"
        );
        assert_eq!(inflate(&image.rgb.data), picture.rgb);
        assert!(image.rgb.png_columns.is_none());
        assert!(picture.rgb.len() / image.rgb.data.len() <= MAX_RATIO);
    }

    #[test]
    fn other_pngs_are_decoded_and_deflated() {
        // An RGBA PNG: not a coverage PNG.
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, 4, 2);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[200u8; 32]).unwrap();
        }
        assert!(CoveragePng::parse(&png).is_none());
        let image = SealImage::prepare(&png).unwrap();
        let picture = decode_png(&png).unwrap();
        assert_eq!(inflate(&image.rgb.data), picture.rgb);
        assert_eq!(inflate(&image.alpha.unwrap().data), picture.alpha.unwrap());
    }

    #[test]
    fn a_damaged_coverage_png_is_not_used_as_is() {
        let png = draw_round_seal(&RoundSeal {
            dpi: 100,
            ..RoundSeal::default()
        })
        .unwrap();
        let mut bad = png.clone();
        let at = bad.windows(4).position(|w| w == b"IDAT").unwrap() + 40;
        bad[at] ^= 0xff;
        assert!(CoveragePng::parse(&bad).is_none());
        assert!(CoveragePng::parse(&png).is_some());
    }

    #[test]
    fn constant_planes_stay_under_the_ratio() {
        let data = vec![0xE0u8; 3 * 992 * 992];
        for levels in [&ANY_LEVELS[..], &CONSTANT_LEVELS[..]] {
            let out = deflate_bounded(&data, levels);
            assert!(data.len() / out.len() <= MAX_RATIO, "{}", out.len());
            assert_eq!(inflate(&out), data);
        }
    }
}
