//! Issue 2 §6: poppler's `pdftoppm` renders the sealed page, and the seal's red pixels are
//! exactly where the seal was placed (42 mm square, lower-left corner at `--x`/`--y` mm from the
//! crop box's lower-left corner; by default on the last page, 15 mm from the right edge and
//! 20 mm from the bottom), and nowhere else.

use std::path::Path;

use chop_tests::corpus;
use chop_tests::judge::{self, Judge};
use chop_tests::pki::DevPki;
use chop_tests::raster::{PixelRect, Raster, is_seal_red, placed_rect};
use chop_tests::work_dir;

/// The seal picture's printed size (GB/T 38540 picture width/height; 42 mm round seal).
const SEAL_MM: f64 = 42.0;
/// Rendering resolution.
const DPI: u32 = 50;

struct Judges {
    pdftoppm: Judge,
    pdfinfo: Judge,
}

fn judges() -> Option<Judges> {
    if !corpus::available() {
        return None;
    }
    Some(Judges {
        pdftoppm: judge::pdftoppm()?,
        pdfinfo: judge::pdfinfo()?,
    })
}

fn render(j: &Judges, file: &Path, page: u32, out_prefix: &Path) -> Raster {
    Raster::from_png(&judge::render_page(
        &j.pdftoppm,
        file,
        page,
        DPI,
        out_prefix,
    ))
}

/// Seal `file` with `extra` options, then check page `page` shows the seal's red inside the
/// square at (`x_mm`, `y_mm`), no new red outside it, and no other change outside it. With
/// `page_without_red`, the page must also have had no red at all before sealing.
fn check_seal_drawn(
    name: &str,
    file: &str,
    extra: &[&str],
    page: Option<u32>,
    at: Option<(f64, f64)>,
    page_without_red: bool,
) {
    let Some(j) = judges() else { return };
    let dir = work_dir(name);
    let pki = DevPki::create(&dir.join("pki"), &[]);
    let input = corpus::path(file);
    let page = page.unwrap_or_else(|| judge::page_count(&j.pdfinfo, &input));
    let before = render(&j, &input, page, &dir.join("before"));
    if page_without_red {
        assert!(
            before.red_pixels().is_empty(),
            "precondition: page {page} of {file} must have no seal-red pixels before sealing"
        );
    }
    let output = dir.join("sealed.pdf");
    pki.sign(&input, &output, extra).assert_ok();
    let crop = judge::crop_box(&j.pdfinfo, &output, page);
    let (x_mm, y_mm) = at.unwrap_or_else(|| {
        let width_mm = (crop[2] - crop[0]) * 25.4 / 72.0;
        (width_mm - 15.0 - SEAL_MM, 20.0)
    });
    let after = render(&j, &output, page, &dir.join("after"));
    let rect = placed_rect(crop, &after, x_mm, y_mm, SEAL_MM);
    let what = format!("{} page {page}", output.display());
    assert_eq!(
        (before.width, before.height),
        (after.width, after.height),
        "{what}: sealing changed the page size"
    );
    assert_red_only_inside(&before, &after, rect, &what);
    let changed_outside: Vec<(u32, u32)> = changed_pixels(&before, &after)
        .into_iter()
        .filter(|p| !rect.grown(2.0).contains(*p))
        .collect();
    assert!(
        changed_outside.is_empty(),
        "{what}: {} pixels changed outside the seal's square (first few: {:?})",
        changed_outside.len(),
        &changed_outside[..changed_outside.len().min(5)]
    );
}

/// Pixels that differ between two rasters of the same size.
fn changed_pixels(a: &Raster, b: &Raster) -> Vec<(u32, u32)> {
    (0..a.height)
        .flat_map(|y| (0..a.width).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let i = (y * a.width + x) as usize;
            a.rgb[i] != b.rgb[i]
        })
        .collect()
}

/// Seal-red pixels of `after` that were not seal red in `before` are all inside `rect` (with a
/// small margin), there are enough of them, and they span the square (printed size 42 mm).
#[track_caller]
fn assert_red_only_inside(before: &Raster, after: &Raster, rect: PixelRect, what: &str) {
    let red: Vec<(u32, u32)> = after
        .red_pixels()
        .into_iter()
        .filter(|&(x, y)| !is_seal_red(before.rgb[(y * before.width + x) as usize]))
        .collect();
    // Anti-aliasing may bleed a pixel or two past the edge of the square.
    let tolerant = rect.grown(2.0);
    let outside: Vec<_> = red.iter().filter(|p| !tolerant.contains(**p)).collect();
    let inside = red.iter().filter(|p| rect.contains(**p)).count();
    let bbox = red
        .iter()
        .fold((u32::MAX, u32::MAX, 0, 0), |(x0, y0, x1, y1), &(x, y)| {
            (x0.min(x), y0.min(y), x1.max(x), y1.max(y))
        });
    let detail = format!(
        "{what}: {} new red pixels, {inside} inside the expected square {rect:?}, {} outside; \
         red bounding box (x0, y0, x1, y1) = {bbox:?}; raster {}x{}",
        red.len(),
        outside.len(),
        after.width,
        after.height
    );
    assert!(
        inside as f64 >= rect.area() * 0.01,
        "too few seal-red pixels where the seal was placed: {detail}"
    );
    assert!(
        outside.is_empty(),
        "seal-red pixels outside the placed square (first few: {:?}): {detail}",
        &outside[..outside.len().min(5)]
    );
    // The picture is drawn at its printed size: the red ring spans (nearly) the whole square.
    let (bw, bh) = (
        f64::from(bbox.2 - bbox.0 + 1),
        f64::from(bbox.3 - bbox.1 + 1),
    );
    let (rw, rh) = (rect.x1 - rect.x0, rect.y1 - rect.y0);
    assert!(
        bw >= rw * 0.85 && bh >= rh * 0.85,
        "the seal is not drawn at its printed size (42 mm): {detail}"
    );
}

#[test]
fn pdftoppm_shows_the_seal_where_placed_with_x_and_y() {
    check_seal_drawn(
        "render-explicit",
        "plain-1page.pdf",
        &["--page", "1", "--x", "30", "--y", "50"],
        Some(1),
        Some((30.0, 50.0)),
        true,
    );
}

#[test]
fn pdftoppm_shows_the_seal_at_the_default_place_bottom_right_of_the_last_page() {
    check_seal_drawn("render-default", "plain-1page.pdf", &[], None, None, true);
}

#[test]
fn pdftoppm_shows_the_seal_on_the_chosen_page_of_a_multipage_document() {
    check_seal_drawn(
        "render-page2",
        "multipage-30.pdf",
        &["--page", "2", "--x", "20", "--y", "100"],
        Some(2),
        Some((20.0, 100.0)),
        false,
    );
}

#[test]
fn pdftoppm_shows_pages_that_were_not_sealed_unchanged() {
    let Some(j) = judges() else { return };
    let dir = work_dir("render-other-pages");
    let pki = DevPki::create(&dir.join("pki"), &[]);
    let input = corpus::path("multipage-30.pdf");
    let output = dir.join("sealed.pdf");
    pki.sign(&input, &output, &["--page", "2"]).assert_ok();
    for page in [1, 3, 30] {
        let before = render(&j, &input, page, &dir.join(format!("before{page}")));
        let after = render(&j, &output, page, &dir.join(format!("after{page}")));
        let changed = changed_pixels(&before, &after).len();
        assert_eq!(
            changed, 0,
            "page {page} was not sealed but {changed} pixels changed"
        );
    }
}
