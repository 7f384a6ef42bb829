//! Strictness (issue 3 §3): every attack class gets a file built here, by hand-written
//! incremental updates on top of a corpus document, signed in the test with the corpus's
//! foreign test PKI (pki/signer-ec.key, issued by pki/root.pem). Each must never panic and
//! never be TOTAL-PASSED; the honest controls next to them must pass.

use std::io::Write;

use chop_seal::verify::{
    ChangeLevel, Indication, Limits, Report, SubIndication, VerifyError, VerifyOptions, verify_pdf,
};

mod common;
use common::*;

fn verify(data: &[u8]) -> Report {
    verify_pdf(data, &trusted()).unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

/// The first signature's report.
fn first(data: &[u8]) -> chop_seal::verify::SignatureReport {
    let r = verify(data);
    r.signatures
        .iter()
        .find(|s| s.field_name == "Sig1")
        .cloned()
        .unwrap_or_else(|| r.signatures[0].clone())
}

fn assert_not_passed(data: &[u8], what: &str) -> Option<chop_seal::verify::SignatureReport> {
    match verify_pdf(data, &trusted()) {
        Ok(r) => {
            for s in &r.signatures {
                assert_ne!(
                    s.indication,
                    Indication::TotalPassed,
                    "{what}: {}",
                    s.summary()
                );
            }
            r.signatures.first().cloned()
        }
        Err(_) => None,
    }
}

fn assert_failed(data: &[u8], sub: SubIndication, what: &str) {
    let s = first(data);
    assert_eq!(
        s.indication,
        Indication::TotalFailed,
        "{what}: {:?}",
        s.problems
    );
    assert_eq!(s.sub_indication, Some(sub), "{what}: {:?}", s.problems);
}

// ---- controls -----------------------------------------------------------------------------

#[test]
fn control_a_document_signed_here_passes() {
    let data = signed(Doc::default());
    let s = first(&data);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(s.changes.level, ChangeLevel::None);
    assert_eq!(s.revision, 2);
}

#[test]
fn control_an_identical_rewrite_and_an_info_update_pass() {
    let base = signed(Doc::default());
    let same_page = append(
        &base,
        &[(3, format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R] >>"))],
        40,
    );
    let s = first(&same_page);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(s.changes.level, ChangeLevel::None);

    let info = append(&base, &[(5, "<< /Producer (someone else) >>".into())], 40);
    let s = first(&info);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(s.changes.level, ChangeLevel::LtaUpdates);
}

#[test]
fn control_a_second_approval_signature_is_form_filling() {
    let base = signed(Doc::default());
    let second = sign_revision(
        &base,
        &[
            (
                4,
                "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R 12 0 R] /SigFlags 3 >> >>"
                    .into(),
            ),
            (3, format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R 12 0 R] >>")),
            (
                12,
                "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /V 13 0 R /Rect [0 0 0 0] /F 132 /P 3 0 R >>".into(),
            ),
            (13, sig_dict("")),
        ],
        40,
    );
    let r = verify(&second);
    assert_eq!(r.signatures.len(), 2);
    for s in &r.signatures {
        assert_eq!(
            s.indication,
            Indication::TotalPassed,
            "{}: {:?}",
            s.field_name,
            s.problems
        );
    }
    assert_eq!(r.signatures[0].changes.level, ChangeLevel::FormFilling);
}

// ---- Universal Signature Forgery ----------------------------------------------------------

/// Replace the first occurrence of `from` after the signed revision's start with `to`,
/// padded with spaces to the same length (so every other offset stays put).
fn patch(data: &[u8], from: &[u8], to: &str) -> Vec<u8> {
    let pos = data.windows(from.len()).rposition(|w| w == from).unwrap();
    assert!(to.len() <= from.len(), "patch longer than the original");
    let mut out = data.to_vec();
    let padded = format!("{to:<width$}", width = from.len());
    out[pos..pos + from.len()].copy_from_slice(padded.as_bytes());
    out
}

fn current_range(data: &[u8]) -> (Vec<u8>, [usize; 4]) {
    let pos = data.windows(11).rposition(|w| w == b"/ByteRange ").unwrap();
    let end = pos + data[pos..].iter().position(|b| *b == b']').unwrap() + 1;
    let text = String::from_utf8_lossy(&data[pos + 11..end]).to_string();
    let n: Vec<usize> = text
        .trim_matches(|c| c == '[' || c == ']')
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (data[pos..end].to_vec(), [n[0], n[1], n[2], n[3]])
}

#[test]
fn usf_byte_range_variants_are_format_failures() {
    let data = signed(Doc::default());
    let (orig, [_, a, b, c]) = current_range(&data);
    let variants = [
        "/ByteRangX [0 1 2 3]".to_string(),
        "/ByteRange null".to_string(),
        "/ByteRange []".to_string(),
        "/ByteRange [0 0 0 0]".to_string(),
        format!("/ByteRange [0 {a} {b}]"),
        format!("/ByteRange [0 {a} {b} {c} 5]"),
        format!("/ByteRange [0 {a}.5 {b} {c}]"),
        format!("/ByteRange [0 -{a} {b} {c}]"),
        format!("/ByteRange [0 {b} {a} {c}]"),
        format!("/ByteRange [0 {a} {b} 99999999]"),
        format!("/ByteRange [1 {a} {b} {c}]"),
        format!("/ByteRange [0 {a} {b} {}]", c - 2),
        format!("/ByteRange [0 {} {b} {c}]", a - 1),
        format!("/ByteRange [0 {a} {} {}]", b + 1, c - 1),
        format!("/ByteRange [(0) {a} {b} {c}]"),
        format!("/ByteRange [0 {a} {b} {c} ]"),
    ];
    for (i, v) in variants.iter().enumerate() {
        let attacked = patch(&data, &orig, v);
        if i == variants.len() - 1 {
            // Same numbers, different spacing: the ByteRange is signed, so the hash breaks.
            assert_failed(&attacked, SubIndication::HashFailure, v);
        } else {
            assert_failed(&attacked, SubIndication::FormatFailure, v);
        }
    }
}

#[test]
fn usf_contents_variants_are_format_failures() {
    let data = signed(Doc::default());
    let (_, [_, a, b, _]) = current_range(&data);
    let gap = data[a..b].to_vec();
    let key_and_gap = [b"/Contents ".as_slice(), &gap].concat();
    let variants = vec![
        "/Contentz ".to_string() + &String::from_utf8_lossy(&gap),
        "/Contents <>".to_string(),
        "/Contents null".to_string(),
        "/Contents ()".to_string(),
        format!("/Contents <{}>", "0".repeat(CONTENTS_HEX_LEN)),
        format!("/Contents <{}>", "DE".repeat(CONTENTS_HEX_LEN / 2)),
        format!("/Contents <3080{}>", "0".repeat(CONTENTS_HEX_LEN - 4)),
        format!("/Contents 5"),
    ];
    for v in &variants {
        let attacked = patch(&data, &key_and_gap, v);
        let s = first(&attacked);
        assert_eq!(
            s.indication,
            Indication::TotalFailed,
            "{v}: {:?}",
            s.problems
        );
        assert_eq!(
            s.sub_indication,
            Some(SubIndication::FormatFailure),
            "{v}: {:?}",
            s.problems
        );
    }
}

// ---- Signature Wrapping -------------------------------------------------------------------

#[test]
fn wrapping_a_relocated_signature_dictionary_is_refused() {
    // A later revision redefines the signature dictionary with a ByteRange claiming only the
    // original document, and a /Contents copied from the real signature.
    let data = signed(Doc::default());
    let (orig, [_, a, b, _]) = current_range(&data);
    let _ = orig;
    let contents = String::from_utf8_lossy(&data[a..b]).to_string();
    let first_end = corpus("plain-1page.pdf").len();
    let wrapped = append(
        &data,
        &[(
            11,
            format!(
                "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 10 20 {}] /Contents {contents} >>",
                first_end - 20
            ),
        )],
        40,
    );
    let s = assert_not_passed(&wrapped, "relocated signature dictionary").unwrap();
    assert_eq!(s.indication, Indication::TotalFailed);
}

#[test]
fn wrapping_a_copied_signature_in_a_new_field_is_refused() {
    // A second field whose /V is a copy of the real signature dictionary in a later revision:
    // the ByteRange gap then lies outside that dictionary.
    let data = signed(Doc::default());
    let (range, [_, a, b, _]) = current_range(&data);
    let contents = String::from_utf8_lossy(&data[a..b]).to_string();
    let copy = append(
        &data,
        &[
            (
                4,
                "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R 12 0 R] /SigFlags 3 >> >>"
                    .into(),
            ),
            (
                12,
                "<< /FT /Sig /T (Copy) /V 13 0 R >>".into(),
            ),
            (
                13,
                format!(
                    "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached {} /Contents {contents} >>",
                    String::from_utf8_lossy(&range)
                ),
            ),
        ],
        40,
    );
    let r = verify(&copy);
    let copy_report = r
        .signatures
        .iter()
        .find(|s| s.field_name == "Copy")
        .unwrap();
    assert_eq!(copy_report.indication, Indication::TotalFailed);
    assert_eq!(
        copy_report.sub_indication,
        Some(SubIndication::FormatFailure)
    );
    // the original signature sees the added field (form filling: it stays valid)
    let orig = r
        .signatures
        .iter()
        .find(|s| s.field_name == "Sig1")
        .unwrap();
    assert_ne!(orig.changes.level, ChangeLevel::None);
}

// ---- Incremental Saving Attack ------------------------------------------------------------

const NEW_CONTENT: &str =
    "<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 500 Td (PAY 1,000,000) Tj ET\nendstream";

#[test]
fn isa_every_protected_structure_change_is_total_failed() {
    let base = signed(Doc::default());
    let cases: Vec<(&str, Vec<(u32, String)>)> = vec![
        (
            "page content replaced",
            vec![
                (3, format!("<< {PAGE} /Contents 20 0 R /Annots [10 0 R] >>")),
                (20, NEW_CONTENT.into()),
            ],
        ),
        ("content stream redefined in place", vec![(7, NEW_CONTENT.into())]),
        (
            "catalog OpenAction JavaScript",
            vec![(
                4,
                "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>".into(),
            )],
        ),
        (
            "catalog Names JavaScript",
            vec![(
                4,
                "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> /Names << /JavaScript 21 0 R >> >>".into(),
            ), (21, "<< /Names [(x) << /S /JavaScript /JS (1) >>] >>".into())],
        ),
        (
            "font replaced (shadow replace)",
            vec![(2, "<< /BaseFont /Courier /Encoding /WinAnsiEncoding /Name /F1 /Subtype /Type1 /Type /Font >>".into())],
        ),
        (
            "resources replaced",
            vec![(1, "<< /F1 22 0 R >>".into()), (22, "<< /BaseFont /Symbol /Subtype /Type1 /Type /Font >>".into())],
        ),
        (
            "page tree grows",
            vec![
                (6, "<< /Count 2 /Kids [ 3 0 R 23 0 R ] /Type /Pages >>".into()),
                (23, format!("<< {PAGE} /Contents 7 0 R >>")),
            ],
        ),
        (
            "media box changed",
            vec![(3, "<< /Type /Page /Parent 6 0 R /MediaBox [ 0 0 100 100 ] /Resources << /Font 1 0 R >> /Contents 7 0 R /Annots [10 0 R] >>".into())],
        ),
        (
            "signature field removed",
            vec![(4, "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [] /SigFlags 3 >> >>".into())],
        ),
        (
            "trailer points at a new catalog",
            vec![(4, "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> /PageLabels << /Nums [0 << /P (forged) >>] >> >>".into())],
        ),
    ];
    for (what, objects) in cases {
        let attacked = append(&base, &objects, 40);
        let s = assert_not_passed(&attacked, what).unwrap();
        assert_eq!(
            s.indication,
            Indication::TotalFailed,
            "{what}: {:?}",
            s.problems
        );
        assert_eq!(
            s.changes.level,
            ChangeLevel::Other,
            "{what}: {:?}",
            s.changes.objects
        );
        assert_eq!(s.sub_indication, Some(SubIndication::SigConstraintsFailure));
    }
}

// ---- Shadow attacks -----------------------------------------------------------------------

/// A signed document with an overlay annotation (12) and a filled text field (13).
fn with_overlay_and_field() -> Vec<u8> {
    signed(Doc {
        fields_extra: "13 0 R".into(),
        annots_extra: "12 0 R 13 0 R".into(),
        objects: vec![
            (
                12,
                "<< /Type /Annot /Subtype /Square /Rect [60 480 400 540] /IC [1 1 1] /F 4 /AP << /N 14 0 R >> >>".into(),
            ),
            (
                14,
                "<< /Type /XObject /Subtype /Form /BBox [0 0 340 60] /Length 22 >>\nstream\n1 g 0 0 340 60 re f   \nendstream".into(),
            ),
            (
                13,
                "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (100) /Rect [60 400 200 420] /F 4 /P 3 0 R /AP << /N 15 0 R >> >>".into(),
            ),
            (
                15,
                "<< /Type /XObject /Subtype /Form /BBox [0 0 140 20] /Length 32 >>\nstream\nBT /F1 12 Tf 2 5 Td (100) Tj ET\nendstream".into(),
            ),
        ],
        ..Doc::default()
    })
}

#[test]
fn shadow_hide_removing_or_altering_an_overlay_is_other() {
    let base = with_overlay_and_field();
    assert_eq!(first(&base).indication, Indication::TotalPassed);
    let removed = append(
        &base,
        &[(
            3,
            format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R 13 0 R] >>"),
        )],
        40,
    );
    let s = assert_not_passed(&removed, "overlay removed").unwrap();
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.reason.contains("removed"))
    );

    let hidden = append(
        &base,
        &[(
            12,
            "<< /Type /Annot /Subtype /Square /Rect [60 480 400 540] /IC [1 1 1] /F 2 /AP << /N 14 0 R >> >>".into(),
        )],
        40,
    );
    assert_not_passed(&hidden, "overlay hidden by its flags");

    let moved_ap = append(
        &base,
        &[(
            14,
            "<< /Type /XObject /Subtype /Form /BBox [0 0 1 1] /Length 0 >>\nstream\n\nendstream"
                .into(),
        )],
        40,
    );
    assert_not_passed(&moved_ap, "overlay appearance emptied");
}

#[test]
fn shadow_replace_appearance_without_value_is_other() {
    let base = with_overlay_and_field();
    let ap_only = append(
        &base,
        &[(
            13,
            "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (100) /Rect [60 400 200 420] /F 4 /P 3 0 R /AP << /N 16 0 R >> >>".into(),
        ), (
            16,
            "<< /Type /XObject /Subtype /Form /BBox [0 0 140 20] /Length 34 >>\nstream\nBT /F1 12 Tf 2 5 Td (9999) Tj ET\nendstream".into(),
        )],
        40,
    );
    let s = assert_not_passed(&ap_only, "appearance replaced without value").unwrap();
    assert_eq!(s.changes.level, ChangeLevel::Other);
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.reason.contains("shadow replace")),
        "{:?}",
        s.changes.objects
    );
}

#[test]
fn shadow_hide_and_replace_unused_object_number_is_other() {
    // The signed page refers to content 30 0 R, which does not exist at signing.
    let base = signed(Doc {
        page_contents: Some("[7 0 R 30 0 R]".into()),
        ..Doc::default()
    });
    assert_eq!(first(&base).indication, Indication::TotalPassed);
    let attacked = append(&base, &[(30, NEW_CONTENT.into())], 40);
    let s = assert_not_passed(&attacked, "hide-and-replace").unwrap();
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.object == "30 0" && o.reason.contains("hide-and-replace")),
        "{:?}",
        s.changes.objects
    );
}

// ---- Certification attacks ----------------------------------------------------------------

#[test]
fn certification_permissions_are_enforced() {
    for p in [1, 2, 3] {
        let base = certified(p);
        let s = first(&base);
        assert_eq!(
            s.indication,
            Indication::TotalPassed,
            "P={p}: {:?}",
            s.problems
        );
        assert_eq!(s.docmdp.permission, Some(p));

        // A later invisible approval signature: allowed by P=2 and P=3, not by P=1.
        let two = add_signature(&base, "0 0 0 0", "", "", PERMS);
        let s = first(&two);
        if p == 1 {
            assert_eq!(
                s.indication,
                Indication::TotalFailed,
                "P=1 allows no signature"
            );
        } else {
            assert_eq!(
                s.indication,
                Indication::TotalPassed,
                "P={p}: {:?}",
                s.problems
            );
        }

        // A sticky note: only P=3 allows it.
        let annotated = append(
            &base,
            &[
                (
                    3,
                    format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R 20 0 R] >>"),
                ),
                (
                    20,
                    "<< /Type /Annot /Subtype /Text /Rect [72 500 92 520] /Contents (ok) >>".into(),
                ),
            ],
            40,
        );
        let s = first(&annotated);
        assert_eq!(s.changes.level, ChangeLevel::Annotations);
        if p == 3 {
            assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
        } else {
            assert_eq!(
                s.indication,
                Indication::TotalFailed,
                "P={p} must refuse annotations"
            );
        }

        // An annotation that covers content (Evil Annotation Attack): refused even by P=3.
        let covering = append(
            &base,
            &[
                (3, format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R 20 0 R] >>")),
                (20, "<< /Type /Annot /Subtype /FreeText /Rect [72 500 400 530] /Contents (VOID) /DA (/F1 24 Tf) >>".into()),
            ],
            40,
        );
        let s = first(&covering);
        assert_eq!(s.changes.level, ChangeLevel::Other, "P={p}");
        assert_eq!(s.indication, Indication::TotalFailed, "P={p}");
        assert!(
            s.problems[0].contains("Evil Annotation"),
            "{:?}",
            s.problems
        );
    }
}

#[test]
fn a_second_certification_signature_is_refused() {
    let base = certified(2);
    let two = add_signature(
        &base,
        "0 0 0 0",
        "/Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /P 3 >> >>]",
        "",
        "/Perms << /DocMDP 42 0 R >>",
    );
    let r = verify(&two);
    let second = r
        .signatures
        .iter()
        .find(|s| s.field_name == "Sig2")
        .unwrap();
    assert_eq!(second.indication, Indication::TotalFailed);
    assert!(
        second
            .problems
            .iter()
            .any(|p| p.contains("more than one certification"))
    );
    // the first one sees the catalog /Perms re-pointed: OTHER
    let first = r
        .signatures
        .iter()
        .find(|s| s.field_name == "Sig1")
        .unwrap();
    assert_eq!(first.indication, Indication::TotalFailed);
}

#[test]
fn certification_after_an_approval_signature_is_refused() {
    let base = signed(Doc::default());
    let two = add_signature(
        &base,
        "300 300 400 400",
        "/Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /P 2 >> >>]",
        "",
        "",
    );
    let r = verify(&two);
    let second = r
        .signatures
        .iter()
        .find(|s| s.field_name == "Sig2")
        .unwrap();
    assert_eq!(second.indication, Indication::TotalFailed);
    assert!(
        second
            .problems
            .iter()
            .any(|p| p.contains("must be the first"))
    );
}

fn by_name(r: &Report, name: &str) -> chop_seal::verify::SignatureReport {
    r.signatures
        .iter()
        .find(|s| s.field_name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no signature {name}"))
}

#[test]
fn certification_a_visible_signature_added_later_is_refused() {
    // Sneaky Signature Attack (Mainka et al., IEEE S&P 2021): a later signature whose visible
    // appearance covers certified content. pyHanko refuses it too.
    for p in [1u8, 2, 3] {
        let base = certified(p);
        let visible = add_signature(&base, "60 480 400 540", "", "", PERMS);
        let r = verify(&visible);
        let cert = by_name(&r, "Sig1");
        assert_eq!(cert.indication, Indication::TotalFailed, "P={p}");
        assert_eq!(
            cert.sub_indication,
            Some(SubIndication::SigConstraintsFailure)
        );
        assert_eq!(cert.changes.level, ChangeLevel::Other, "P={p}");
        assert!(
            cert.changes
                .objects
                .iter()
                .any(|o| o.object == "41 0" && o.reason.contains("Sneaky Signature")),
            "P={p}: {:?}",
            cert.changes.objects
        );
        assert!(
            cert.summary().contains("visible signature was added"),
            "{}",
            cert.summary()
        );
        // The later signature covers the whole file: nothing changed after it.
        let later = by_name(&r, "Sig2");
        assert_eq!(
            later.indication,
            Indication::TotalPassed,
            "{:?}",
            later.problems
        );

        // A visible signature field added empty (a trap for a later signer): the same.
        let trap = append(
            &base,
            &[
                (
                    4,
                    format!("<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R 41 0 R] /SigFlags 3 >> {PERMS} >>"),
                ),
                (3, format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R 41 0 R] >>")),
                (
                    41,
                    "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /Rect [60 480 400 540] /F 4 /P 3 0 R >>".into(),
                ),
            ],
            60,
        );
        let s = assert_not_passed(&trap, "empty visible signature field").unwrap();
        assert_eq!(s.changes.level, ChangeLevel::Other, "P={p}");
    }
}

#[test]
fn certification_p1_p2_no_new_annotation_or_widget_of_any_kind_passes() {
    // Under P=1 and P=2 nothing that draws on a page may be added: markup, annotations that
    // cover content, widgets of non-signature fields, visible or not.
    let annots = [
        "/Subtype /Text /Rect [72 500 92 520] /Contents (ok)",
        "/Subtype /Highlight /Rect [72 500 300 520] /QuadPoints [72 520 300 520 72 500 300 500]",
        "/Subtype /Popup /Rect [0 0 0 0]",
        "/Subtype /FreeText /Rect [72 500 400 530] /Contents (VOID) /DA (/F1 24 Tf)",
        "/Subtype /Stamp /Rect [0 0 595 842]",
        "/Subtype /Square /Rect [60 480 400 540] /IC [1 1 1]",
        "/Subtype /Link /Rect [0 0 595 842] /A << /S /URI /URI (https://example.org) >>",
        "/Subtype /Widget /FT /Tx /T (Extra) /V (1) /Rect [60 480 400 540]",
        "/Subtype /Widget /FT /Btn /T (Hidden) /Rect [0 0 0 0]",
    ];
    for p in [1u8, 2] {
        let base = certified(p);
        for a in annots {
            let attacked = append(
                &base,
                &[
                    (
                        3,
                        format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R 41 0 R] >>"),
                    ),
                    (41, format!("<< /Type /Annot {a} /P 3 0 R >>")),
                ],
                60,
            );
            let s = assert_not_passed(&attacked, a).unwrap();
            assert_eq!(s.indication, Indication::TotalFailed, "P={p} {a}");
            assert!(s.changes.level > ChangeLevel::FormFilling, "P={p} {a}");
        }
    }
}

#[test]
fn certification_controls_invisible_and_prepared_signatures_pass() {
    // The same visible signature on a document that is not certified is ordinary signing.
    let approval = add_signature(&signed(Doc::default()), "60 480 400 540", "", "", "");
    let s = first(&approval);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(s.changes.level, ChangeLevel::FormFilling);

    // Under P=2 a signature field the certifier placed (empty and visible, in the certified
    // revision) may be signed later: its rectangle was certified.
    let prepared = certified_with_empty_sig_field();
    let signed_later = sign_empty_field(&prepared, "300 100 500 160");
    let r = verify(&signed_later);
    let cert = by_name(&r, "Sig1");
    assert_eq!(
        cert.indication,
        Indication::TotalPassed,
        "{:?}",
        cert.changes
    );
    assert_eq!(cert.changes.level, ChangeLevel::FormFilling);
    assert_eq!(by_name(&r, "Sig2").indication, Indication::TotalPassed);

    // ... but moving or enlarging it is not signing it.
    let moved = sign_empty_field(&prepared, "0 0 595 842");
    let cert = by_name(&verify(&moved), "Sig1");
    assert_eq!(cert.indication, Indication::TotalFailed);
}

// ---- FieldMDP -----------------------------------------------------------------------------

#[test]
fn fieldmdp_locked_fields_may_not_change_unlocked_ones_may() {
    use chop_seal::verify::{FieldMdp, FieldMdpAction};
    let include = signed_with_text_fields(&fieldmdp_reference("Include", &["Amount"]));
    let s = first(&include);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(
        s.field_mdp,
        Some(FieldMdp {
            action: FieldMdpAction::Include,
            fields: vec!["Amount".into()],
            source: "Reference".into(),
        })
    );

    let locked = fill_text_field(&include, 13, "Amount", "999");
    let s = first(&locked);
    assert_eq!(s.indication, Indication::TotalFailed, "{:?}", s.changes);
    assert_eq!(s.sub_indication, Some(SubIndication::SigConstraintsFailure));
    assert!(!s.docmdp.changes_permitted);
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.object == "13 0" && o.reason.contains("'Amount' is locked")),
        "{:?}",
        s.changes.objects
    );
    assert!(s.problems[0].contains("FieldMDP"), "{:?}", s.problems);
    assert!(s.summary().contains("locks was changed"), "{}", s.summary());

    let unlocked = fill_text_field(&include, 17, "Note", "b");
    let s = first(&unlocked);
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(s.changes.level, ChangeLevel::FormFilling);

    // Exclude: the reverse.
    let exclude = signed_with_text_fields(&fieldmdp_reference("Exclude", &["Note"]));
    let s = first(&fill_text_field(&exclude, 13, "Amount", "999"));
    assert_eq!(s.indication, Indication::TotalFailed);
    let s = first(&fill_text_field(&exclude, 17, "Note", "b"));
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);

    // All: every field, and every later signature too (its value is a locked change;
    // pyHanko reads /All the same way).
    let all = signed_with_text_fields(&fieldmdp_reference("All", &[]));
    assert_eq!(
        first(&fill_text_field(&all, 17, "Note", "b")).indication,
        Indication::TotalFailed
    );
    let r = verify(&add_signature(&all, "0 0 0 0", "", "13 0 R 17 0 R", ""));
    assert_eq!(by_name(&r, "Sig1").indication, Indication::TotalFailed);
    assert_eq!(by_name(&r, "Sig2").indication, Indication::TotalPassed);
    // ... while Include [Amount] leaves room for a new signature.
    let r = verify(&add_signature(&include, "0 0 0 0", "", "13 0 R 17 0 R", ""));
    let s = by_name(&r, "Sig1");
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);

    // A locked field's appearance redrawn in place, value untouched (shadow replace).
    let redrawn = append(&include, &[(15, text_appearance("999"))], 60);
    assert_eq!(first(&redrawn).indication, Indication::TotalFailed);

    // Under P=2, with a lock on the certification signature: the same two outcomes.
    let cert_lock = signed(with_text_fields(Doc {
        catalog_extra: PERMS.into(),
        sig_extra: format!(
            "/Reference [{} {}]",
            docmdp_entry(2),
            fieldmdp_entry("Include", &["Amount"])
        ),
        ..Doc::default()
    }));
    let s = first(&fill_text_field(&cert_lock, 17, "Note", "b"));
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.problems);
    assert_eq!(s.changes.level, ChangeLevel::FormFilling);
    assert_eq!(s.docmdp.permission, Some(2));
    let s = first(&fill_text_field(&cert_lock, 13, "Amount", "999"));
    assert_eq!(s.indication, Indication::TotalFailed);
}

#[test]
fn fieldmdp_lock_dictionary_kid_widgets_and_locked_signature_fields() {
    // A field with its widget in /Kids ("Pay", 19 → widget 20); the lock names the parent
    // of a terminal field ("Pay" covers "Pay.x" too).
    let doc = |sig_extra: String, sig_field_extra: &str| {
        signed(Doc {
            fields_extra: "19 0 R 12 0 R".into(),
            annots_extra: "20 0 R 12 0 R".into(),
            sig_extra,
            sig_field_extra: sig_field_extra.into(),
            objects: vec![
                (19, "<< /FT /Tx /T (Pay) /V (5) /Kids [20 0 R] >>".into()),
                (
                    20,
                    "<< /Type /Annot /Subtype /Widget /Parent 19 0 R /Rect [60 200 200 220] /F 4 /P 3 0 R /AP << /N 21 0 R >> >>".into(),
                ),
                (21, text_appearance("5")),
                (
                    12,
                    "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /Rect [0 0 0 0] /F 132 /P 3 0 R >>".into(),
                ),
            ],
            ..Doc::default()
        })
    };
    let fill_pay = |base: &[u8]| {
        append(
            base,
            &[
                (19, "<< /FT /Tx /T (Pay) /V (6000) /Kids [20 0 R] >>".into()),
                (
                    20,
                    "<< /Type /Annot /Subtype /Widget /Parent 19 0 R /Rect [60 200 200 220] /F 4 /P 3 0 R /AP << /N 45 0 R >> >>".into(),
                ),
                (45, text_appearance("6000")),
            ],
            60,
        )
    };
    let sign_sig2 = |base: &[u8]| {
        sign_revision(
            base,
            &[
                (
                    12,
                    "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /V 42 0 R /Rect [0 0 0 0] /F 132 /P 3 0 R >>".into(),
                ),
                (42, sig_dict("")),
            ],
            60,
        )
    };

    // No lock: filling a kid-widget field is form filling.
    let free = doc(String::new(), "");
    let s = first(&fill_pay(&free));
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.changes);
    assert_eq!(s.changes.level, ChangeLevel::FormFilling);

    // Locked through the signature's FieldMDP transform: field and widget changes are refused.
    let locked = doc(fieldmdp_reference("Include", &["Pay"]), "");
    let s = first(&fill_pay(&locked));
    assert_eq!(s.indication, Indication::TotalFailed);
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.object == "20 0" && o.reason.contains("locked")),
        "{:?}",
        s.changes.objects
    );

    // Locked only through the field's /Lock dictionary (no FieldMDP transform signed).
    let by_lock = doc(
        String::new(),
        "/Lock << /Type /SigFieldLock /Action /Include /Fields [(Pay)] >>",
    );
    let s = first(&by_lock);
    assert_eq!(
        s.field_mdp.as_ref().map(|l| l.source.as_str()),
        Some("Lock")
    );
    assert_eq!(
        first(&fill_pay(&by_lock)).indication,
        Indication::TotalFailed
    );

    // Signing an empty signature field the lock covers is a change to a locked field
    // (pyHanko agrees); signing one it does not cover is not.
    let sig_locked = doc(fieldmdp_reference("Include", &["Sig2"]), "");
    let r = verify(&sign_sig2(&sig_locked));
    assert_eq!(by_name(&r, "Sig1").indication, Indication::TotalFailed);
    let r = verify(&sign_sig2(&locked));
    let s = by_name(&r, "Sig1");
    assert_eq!(s.indication, Indication::TotalPassed, "{:?}", s.changes);

    // An unreadable lock locks everything, with a warning.
    let unreadable = doc(
        "/Reference [<< /Type /SigRef /TransformMethod /FieldMDP /TransformParams << /Action /Some >> >>]".into(),
        "",
    );
    let s = first(&unreadable);
    assert!(
        s.warnings.iter().any(|w| w.contains("FieldMDP")),
        "{:?}",
        s.warnings
    );
    assert_eq!(
        first(&fill_pay(&unreadable)).indication,
        Indication::TotalFailed
    );
}

// ---- Hostile files ------------------------------------------------------------------------

/// A zlib stream that inflates to `mib` MiB of spaces, built without compressing them all:
/// after a sync flush the deflater's state repeats, so one flushed 1 MiB block is repeated.
/// (Its Adler-32 is wrong; nothing reads that far.)
fn zlib_bomb(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let chunk = vec![b' '; 1 << 20];
    let mut z = Compress::new(Compression::best(), true);
    let mut out = Vec::with_capacity(1 << 16);
    let block = |z: &mut Compress, flush: FlushCompress| {
        let mut buf = vec![0u8; 1 << 16];
        let before = z.total_out();
        z.compress(&chunk, &mut buf, flush).unwrap();
        let n = usize::try_from(z.total_out() - before).unwrap();
        buf.truncate(n);
        buf
    };
    // The first block fills the window; from the second on, every block is the same.
    out.extend(block(&mut z, FlushCompress::Sync));
    let repeated = block(&mut z, FlushCompress::Sync);
    assert_eq!(
        repeated,
        block(&mut z, FlushCompress::Sync),
        "sync-flushed blocks repeat"
    );
    for _ in 1..mib {
        out.extend_from_slice(&repeated);
    }
    // A final empty stored block ends the deflate stream.
    out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0]);
    out
}

/// Append a revision holding object stream 25 (`dict` + `/Length length`, content `body`)
/// and object 27 (`extra`, e.g. a stream naming it), with an xref stream 26 in which object
/// 24 is compressed in `container` (index 0).
fn objstm_revision(
    base: &[u8],
    dict: &str,
    length: &str,
    body: &[u8],
    container: u8,
    extra: &str,
) -> Vec<u8> {
    let mut out = base.to_vec();
    let objstm_off = out.len();
    write!(out, "25 0 obj\n<< {dict} /Length {length} >>\nstream\n").unwrap();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let extra_off = out.len();
    write!(out, "27 0 obj\n{extra}\nendobj\n").unwrap();
    let xref_off = out.len();
    // xref stream rows for 24 (in `container`), 25, 26, 27; W [1 4 2]
    let mut rows = vec![2, 0, 0, 0, container, 0, 0];
    for off in [objstm_off, xref_off, extra_off] {
        rows.push(1);
        rows.extend_from_slice(&u32::try_from(off).unwrap().to_be_bytes());
        rows.extend_from_slice(&[0, 0]);
    }
    write!(
        out,
        "26 0 obj\n<< /Type /XRef /Size 41 /Index [24 4] /W [1 4 2] /Root 4 0 R /Info 5 0 R /Prev {} /Length {} >>\nstream\n",
        last_startxref(base),
        rows.len()
    )
    .unwrap();
    out.extend_from_slice(&rows);
    write!(out, "\nendstream\nendobj\nstartxref\n{xref_off}\n%%EOF\n").unwrap();
    out
}

fn limit_hit(data: &[u8], limits: Limits) -> &'static str {
    match verify_pdf(
        data,
        &VerifyOptions {
            limits,
            ..trusted()
        },
    ) {
        Err(VerifyError::LimitExceeded(l)) => {
            assert!(
                VerifyError::LimitExceeded(l.clone())
                    .to_string()
                    .contains(l.limit),
                "the error names the limit"
            );
            l.limit
        }
        other => panic!("expected a limit, got {other:?}"),
    }
}

const OBJSTM: &str = "/Type /ObjStm /N 1 /First 5 /Filter /FlateDecode";

#[test]
fn object_stream_bombs_are_refused_before_the_parser_inflates_them() {
    let base = signed(Doc::default());
    // 32 MiB from ~32 KB: under the 64 MiB size limit lopdf enforces by itself, but a ratio
    // over 1,000. Before the pre-scan the parser inflated it unchecked (once per revision).
    let bomb = zlib_bomb(32);
    assert!(bomb.len() < 40_000, "{}", bomb.len());
    let direct = objstm_revision(&base, OBJSTM, &bomb.len().to_string(), &bomb, 25, "null");
    assert_eq!(limit_hit(&direct, Limits::default()), "max_ratio");

    // The same with an indirect /Length (object 27): every prefix is held to the ratio.
    let indirect = objstm_revision(&base, OBJSTM, "27 0 R", &bomb, 25, &bomb.len().to_string());
    assert_eq!(limit_hit(&indirect, Limits::default()), "max_ratio");

    // Disguised: no /Type /ObjStm, but the xref stream names it as a container.
    let disguised = objstm_revision(
        &base,
        "/Type /XObject /Subtype /Form /N 1 /First 5 /Filter /FlateDecode",
        &bomb.len().to_string(),
        &bomb,
        25,
        "null",
    );
    assert_eq!(limit_hit(&disguised, Limits::default()), "max_ratio");

    // The limit is configurable: with room for the ratio, the size limit still holds.
    let generous = Limits {
        max_ratio: 1_000_000,
        max_decompressed_bytes: 16 << 20,
        ..Limits::default()
    };
    assert_eq!(limit_hit(&direct, generous), "max_decompressed_bytes");
    // ... and a stream within both limits is parsed as usual.
    let roomy = Limits {
        max_ratio: 1_000_000,
        ..Limits::default()
    };
    let r = verify_pdf(
        &direct,
        &VerifyOptions {
            limits: roomy,
            ..trusted()
        },
    )
    .unwrap();
    assert_eq!(r.document.revision_count, 3);
}

#[test]
fn a_huge_object_stream_bomb_is_refused_in_bounded_memory() {
    // 16 GiB of output from ~16 MB: inflating it all, or holding it, would take minutes and
    // more memory than the machine has; refusing it must take neither (the output is counted
    // as it comes, never kept).
    let base = signed(Doc::default());
    let bomb = zlib_bomb(16 * 1024);
    let data = objstm_revision(&base, OBJSTM, &bomb.len().to_string(), &bomb, 25, "null");
    assert_eq!(limit_hit(&data, Limits::default()), "max_ratio");
    // Without a ratio limit, the size limit stops it after 64 MiB of output.
    let no_ratio = Limits {
        max_ratio: usize::MAX / 2,
        ..Limits::default()
    };
    assert_eq!(limit_hit(&data, no_ratio), "max_decompressed_bytes");
}

#[test]
fn object_stream_counts_and_filter_chains_are_bounded() {
    let base = signed(Doc::default());
    let small = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b"24 0 << /A 1 >>").unwrap();
        e.finish().unwrap()
    };
    let many = objstm_revision(
        &base,
        "/Type /ObjStm /N 50000000 /First 5 /Filter /FlateDecode",
        &small.len().to_string(),
        &small,
        25,
        "null",
    );
    assert_eq!(limit_hit(&many, Limits::default()), "max_objects");

    // Two FlateDecode layers: a bomb of bombs, capped layer by layer.
    let twice = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&zlib_bomb(64)).unwrap();
        e.finish().unwrap()
    };
    let chain = "/Type /ObjStm /N 1 /First 5 /Filter [/FlateDecode /FlateDecode]";
    let chained = objstm_revision(&base, chain, &twice.len().to_string(), &twice, 25, "null");
    assert_eq!(limit_hit(&chained, Limits::default()), "max_ratio");
    // A chain whose /Length the parser resolves elsewhere cannot be bounded first: refused.
    let unbounded = objstm_revision(&base, chain, "27 0 R", &twice, 25, &twice.len().to_string());
    assert_eq!(limit_hit(&unbounded, Limits::default()), "max_ratio");
}

#[test]
fn reference_cycles_and_self_referencing_page_trees_terminate() {
    let base = signed(Doc::default());
    let cycle = append(
        &base,
        &[
            (
                4,
                "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> /Loop 31 0 R >>".into(),
            ),
            (31, "[32 0 R]".into()),
            (32, "[31 0 R 33 0 R]".into()),
            (33, "33 0 R".into()),
        ],
        40,
    );
    assert_not_passed(&cycle, "reference cycle");

    let tree = append(
        &base,
        &[(
            6,
            "<< /Count 2 /Kids [ 3 0 R 6 0 R ] /Type /Pages >>".into(),
        )],
        40,
    );
    let s = assert_not_passed(&tree, "self-referencing page tree").unwrap();
    assert_eq!(s.changes.level, ChangeLevel::Other);

    // A field tree that loops back on itself.
    let fields = append(
        &base,
        &[(10, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig1) /V 11 0 R /Rect [0 0 0 0] /F 132 /P 3 0 R /Kids [10 0 R] >>".into())],
        40,
    );
    assert_not_passed(&fields, "field tree cycle");
}

#[test]
fn deep_nesting_is_refused_without_panic() {
    let base = signed(Doc::default());
    for depth in [90usize, 500] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let attacked = append(
            &base,
            &[(
                4,
                format!(
                    "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> /Deep {nested} >>"
                ),
            )],
            40,
        );
        match verify_pdf(&attacked, &trusted()) {
            Err(VerifyError::LimitExceeded(l)) => assert_eq!(l.limit, "max_depth"),
            Ok(r) => {
                for s in &r.signatures {
                    assert_ne!(s.indication, Indication::TotalPassed, "depth {depth}");
                }
            }
            Err(e) => panic!("depth {depth}: {e}"),
        }
    }
}

#[test]
fn size_object_and_time_limits_name_themselves() {
    let data = signed(Doc::default());
    let run = |limits: Limits| match verify_pdf(
        &data,
        &VerifyOptions {
            limits,
            ..trusted()
        },
    ) {
        Err(VerifyError::LimitExceeded(l)) => l.limit,
        other => panic!("expected a limit, got {other:?}"),
    };
    assert_eq!(
        run(Limits {
            max_input_bytes: 1000,
            ..Limits::default()
        }),
        "max_input_bytes"
    );
    assert_eq!(
        run(Limits {
            max_objects: 3,
            ..Limits::default()
        }),
        "max_objects"
    );
    assert_eq!(
        run(Limits {
            max_duration: std::time::Duration::ZERO,
            ..Limits::default()
        }),
        "max_duration"
    );
    let err = verify_pdf(
        &data,
        &VerifyOptions {
            limits: Limits {
                max_objects: 3,
                ..Limits::default()
            },
            ..trusted()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("max_objects"), "{err}");
}

#[test]
fn truncations_and_byte_flips_never_panic_or_pass() {
    let data = signed(Doc::default());
    let (_, [_, a, b, _]) = current_range(&data);
    for cut in (0..data.len()).step_by(97) {
        let _ = verify_pdf(&data[..cut], &trusted());
    }
    for pos in (0..data.len()).step_by(31) {
        if (a..b).contains(&pos) {
            continue;
        }
        let mut flipped = data.clone();
        flipped[pos] ^= 0x01;
        if let Ok(r) = verify_pdf(&flipped, &trusted()) {
            for s in &r.signatures {
                assert_ne!(s.indication, Indication::TotalPassed, "flip at {pos}");
            }
        }
    }
}
