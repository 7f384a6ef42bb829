//! Chop's seal checks (docs/VERIFY.md step 6) on files built here: a visible seal whose
//! appearance draws the seal picture passes; a different picture, a signer outside the seal's
//! certList, or a seal whose maker signature was tampered with fail.

mod common;

use std::io::Write;

use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::picture::decode_png;
use chop_seal::verify::{Indication, SignatureReport, SubIndication, VerifyOptions, verify_pdf};
use common::*;
use flate2::Compression;
use flate2::write::ZlibEncoder;

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn image(w: u32, h: u32, cs: &str, samples: &[u8], smask: Option<u32>) -> Vec<u8> {
    let z = deflate(samples);
    let smask = smask
        .map(|id| format!("/SMask {id} 0 R"))
        .unwrap_or_default();
    let mut out = format!(
        "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /{cs} /BitsPerComponent 8 /Filter /FlateDecode {smask} /Length {} >>\nstream\n",
        z.len()
    )
    .into_bytes();
    out.extend_from_slice(&z);
    out.extend_from_slice(b"\nendstream");
    out
}

/// plain-1page.pdf plus a signed revision whose visible widget draws `rgb` (+ `alpha`).
fn sealed(
    pki: &DevPki,
    seal_der: &[u8],
    cert: &[u8],
    key: &dyn chop_seal::keys::Signer,
    rgb: &[u8],
    alpha: Option<&[u8]>,
    (w, h): (u32, u32),
) -> Vec<u8> {
    let text = |s: &str| s.as_bytes().to_vec();
    let mut objects = vec![
        (
            4,
            text("<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> >>"),
        ),
        (
            3,
            text(
                "<< /Type /Page /Parent 6 0 R /MediaBox [ 0 0 595.2756 841.8898 ] /Resources << /Font 1 0 R >> /Contents 7 0 R /Annots [10 0 R] >>",
            ),
        ),
        (
            10,
            text(
                "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Seal1) /V 11 0 R /Rect [400 50 519 169] /F 132 /P 3 0 R /AP << /N 12 0 R >> >>",
            ),
        ),
        (11, text(&sig_dict_sized("", 2 * (seal_der.len() + 16_384)))),
        (
            12,
            text(
                "<< /Type /XObject /Subtype /Form /BBox [0 0 119 119] /Resources << /XObject << /Seal 13 0 R >> >> /Length 30 >>\nstream\nq 119 0 0 119 0 0 cm /Seal Do Q\nendstream",
            ),
        ),
        (13, image(w, h, "DeviceRGB", rgb, alpha.map(|_| 14))),
    ];
    if let Some(a) = alpha {
        objects.push((14, image(w, h, "DeviceGray", a, None)));
    }
    let chain = pki.chain();
    sign_revision_with(
        &corpus("plain-1page.pdf"),
        &objects,
        20,
        key,
        cert,
        &chain,
        Some(seal_der),
    )
}

fn verify_one(pki: &DevPki, data: &[u8]) -> SignatureReport {
    let opts = VerifyOptions {
        trust_anchors: vec![pki.root_ca.cert_der.clone()],
        ..VerifyOptions::default()
    };
    verify_pdf(data, &opts).unwrap().signatures[0].clone()
}

#[test]
fn seal_object_and_picture_are_checked() {
    let pki = DevPki::generate(&DevPkiOptions::default()).unwrap();
    let key = pki.signer.signer();
    let seal_der = pki.seal.to_der();
    let pic = decode_png(&pki.seal_png).unwrap();
    let size = (pic.width, pic.height);
    let alpha = pic.alpha.as_deref();

    // The honest seal.
    let good = sealed(
        &pki,
        &seal_der,
        &pki.signer.cert_der,
        &key,
        &pic.rgb,
        alpha,
        size,
    );
    let s = verify_one(&pki, &good);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    let seal = s.seal.as_ref().unwrap();
    assert!(seal.maker_signature_valid && seal.signer_in_cert_list && seal.valid_at_signing_time);
    assert_eq!(seal.appearance_matches_picture, Some(true));
    assert_eq!(seal.name, "行政审批专用章");
    assert_eq!(seal.organization, "南京市示例区行政审批局");
    assert!(
        s.summary()
            .contains("Sealed by 南京市示例区行政审批局 with 行政审批专用章")
    );

    // One pixel of the drawn picture changed.
    let mut other = pic.rgb.clone();
    let mid = other.len() / 2;
    other[mid] ^= 0xff;
    let swapped = sealed(
        &pki,
        &seal_der,
        &pki.signer.cert_der,
        &key,
        &other,
        alpha,
        size,
    );
    let s = verify_one(&pki, &swapped);
    assert_eq!(s.indication, Indication::TotalFailed);
    assert_eq!(s.sub_indication, Some(SubIndication::SigConstraintsFailure));
    assert_eq!(
        s.seal.as_ref().unwrap().appearance_matches_picture,
        Some(false)
    );
    assert!(
        s.problems
            .iter()
            .any(|p| p.contains("not the seal's picture"))
    );

    // The transparency dropped.
    let opaque = sealed(
        &pki,
        &seal_der,
        &pki.signer.cert_der,
        &key,
        &pic.rgb,
        None,
        size,
    );
    let s = verify_one(&pki, &opaque);
    assert_eq!(
        s.seal.as_ref().unwrap().appearance_matches_picture,
        Some(false)
    );

    // A signer the seal does not name in its certList (another bureau's signer).
    let other_pki = DevPki::generate(&DevPkiOptions::default()).unwrap();
    let thief = other_pki.signer.signer();
    let stolen = sealed(
        &pki,
        &seal_der,
        &other_pki.signer.cert_der,
        &thief,
        &pic.rgb,
        alpha,
        size,
    );
    let s = verify_pdf(
        &stolen,
        &VerifyOptions {
            trust_anchors: vec![
                pki.root_ca.cert_der.clone(),
                other_pki.root_ca.cert_der.clone(),
            ],
            ..VerifyOptions::default()
        },
    )
    .unwrap()
    .signatures[0]
        .clone();
    assert_eq!(s.indication, Indication::TotalFailed);
    assert!(!s.seal.as_ref().unwrap().signer_in_cert_list);
    assert!(s.problems.iter().any(|p| p.contains("certList")));

    // A seal object whose maker signature was tampered with.
    let mut forged = seal_der.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let bad = sealed(
        &pki,
        &forged,
        &pki.signer.cert_der,
        &key,
        &pic.rgb,
        alpha,
        size,
    );
    let s = verify_one(&pki, &bad);
    assert_eq!(s.indication, Indication::TotalFailed);
    assert!(!s.seal.as_ref().unwrap().maker_signature_valid);
    assert!(s.problems.iter().any(|p| p.contains("forged seal")));

    // Garbage in the seal attribute.
    let junk = sealed(
        &pki,
        b"\x30\x03\x02\x01\x00",
        &pki.signer.cert_der,
        &key,
        &pic.rgb,
        alpha,
        size,
    );
    let s = verify_one(&pki, &junk);
    assert_eq!(s.indication, Indication::TotalFailed);
    assert_eq!(s.sub_indication, Some(SubIndication::FormatFailure));
}
