//! The blanked view's parse (`gaps`) against the file's own: wherever the view is confirmed,
//! the two reports are the same; where a file is built to make them differ, the view is not
//! confirmed.

use proptest::prelude::*;

mod common;
use common::{CORPUS, append_raw};

use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::sign::{Sealer, SignOptions};
use chop_seal::verify::{VerifyOptions, compare_parses, verify_pdf};
use lopdf::Object;
use time::OffsetDateTime;

struct Fixture {
    opts: VerifyOptions,
    sealed: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let pki = DevPki::generate(&DevPkiOptions::default()).expect("dev PKI");
        let key = pki.signer.signer();
        let chain = pki.chain();
        let sealer = Sealer::new(&key, &pki.signer.cert_der, &chain, &pki.seal).expect("sealer");
        let plain = std::fs::read(format!("{CORPUS}/plain-1page.pdf")).expect("corpus");
        let sealed = sealer
            .seal(&plain, &SignOptions::default())
            .expect("seal")
            .pdf;
        let mut opts = VerifyOptions {
            at: Some(OffsetDateTime::now_utc()),
            ..VerifyOptions::default()
        };
        opts.trust_anchors.push(pki.root_ca.cert_der.clone());
        if let Ok(pem) = std::fs::read_to_string(format!("{CORPUS}/pki/root.pem")) {
            opts.trust_anchors
                .extend(chop_seal::certs::certificates_from_pem(&pem).expect("root.pem"));
        }
        Fixture { opts, sealed }
    })
}

/// Whether the view was used; panics when a confirmed view disagrees with the file.
fn agree(data: &[u8], what: &str) -> bool {
    let opts = &fixture().opts;
    let json = |r: &Result<chop_seal::verify::Report, chop_seal::verify::VerifyError>| {
        r.as_ref()
            .map(|r| serde_json::to_value(r).expect("json"))
            .map_err(|e| e.to_string())
    };
    let c = compare_parses(data, opts);
    let file = json(&c.file);
    // Whatever the view said, verify_pdf answers as the file's own parse does.
    assert_eq!(
        json(&verify_pdf(data, opts)),
        file,
        "{what}: verify_pdf differs from the file's parse"
    );
    let Some((view, confirmed)) = c.view else {
        return false;
    };
    if confirmed {
        assert_eq!(
            json(&view),
            file,
            "{what}: a confirmed view disagrees with the file"
        );
    }
    confirmed
}

#[test]
fn the_view_is_used_for_chop_and_pyhanko_signatures_and_agrees_on_the_corpus() {
    assert!(agree(&fixture().sealed, "chop-sealed plain-1page"));
    let mut used = Vec::new();
    for entry in std::fs::read_dir(CORPUS).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("pdf") {
            continue;
        }
        let data = std::fs::read(&path).expect("read");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        if agree(&data, &name) {
            used.push(name);
        }
    }
    for name in [
        "signed-pyhanko-ec.pdf",
        "signed-then-annotated.pdf",
        "certified-docmdp2.pdf",
    ] {
        assert!(
            used.iter().any(|u| u == name),
            "{name}: view not used ({used:?})"
        );
    }
}

/// Append an incremental update with `objects` (number, body) to `data`.
fn append(data: &[u8], objects: &[(u32, Vec<u8>)]) -> Vec<u8> {
    append_raw(data, objects, 1000)
}

/// Point object `number`'s entry in the last cross-reference section at `offset`.
fn point_entry(data: &mut [u8], number: u32, offset: usize) {
    let needle = format!("{number} 1\n");
    let p = memchr::memmem::rfind(data, needle.as_bytes()).expect("entry") + needle.len();
    data[p..p + 10].copy_from_slice(format!("{offset:010}").as_bytes());
}

/// The `[a, b)` of the signature's /ByteRange.
fn gap_of(data: &[u8]) -> (usize, usize) {
    let at = memchr::memmem::find(data, b"/ByteRange [").expect("ByteRange") + 12;
    let end = memchr::memchr(b']', &data[at..]).expect("]") + at;
    let v: Vec<usize> = std::str::from_utf8(&data[at..end])
        .expect("utf8")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    (v[1], v[2])
}

/// The signature dictionary's object number, offset and gap in the sealed fixture.
fn signature(data: &[u8]) -> (u32, usize, (usize, usize)) {
    let gap = gap_of(data);
    let at = memchr::memmem::rfind(&data[..gap.0], b" obj").expect("obj");
    let line = memchr::memrchr(b'\n', &data[..at]).map_or(0, |p| p + 1);
    let number: u32 = std::str::from_utf8(&data[line..at])
        .expect("utf8")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("number");
    (number, line, gap)
}

#[test]
fn a_signature_dictionary_rewritten_elsewhere_is_not_read_from_the_view() {
    let sealed = &fixture().sealed;
    let (number, at, _) = signature(sealed);
    let end = memchr::memmem::find(&sealed[at..], b"endobj").expect("endobj") + at;
    let body_start = memchr::memmem::find(&sealed[at..], b"obj").expect("obj") + at + 3;
    let copy = sealed[body_start..end].to_vec();
    let changed = append(sealed, &[(number, copy)]);
    assert!(!agree(&changed, "rewritten signature dictionary"));
}

#[test]
fn a_byte_range_over_another_hex_string_is_not_read_from_the_view() {
    let sealed = &fixture().sealed;
    let digits = "41".repeat(24);
    // The object's own hex string, named as a gap by a /ByteRange in a literal string.
    let base = sealed.len() + usize::from(!sealed.ends_with(b"\n"));
    let start = base + "990 0 obj\n<< /Type /Annot /Contents ".len();
    let end = start + digits.len() + 2;
    let body =
        format!("<< /Type /Annot /Contents <{digits}> /NM (/ByteRange [0 {start} {end} 0]) >>");
    let changed = append(sealed, &[(990, body.into_bytes())]);
    assert_eq!(&changed[start..start + 1], b"<");
    assert_eq!(&changed[end - 1..end], b">");
    assert!(!agree(
        &changed,
        "ByteRange over an annotation's hex string"
    ));
}

#[test]
fn xref_entries_pointing_into_the_signature_dictionary_agree() {
    let sealed = &fixture().sealed;
    let (_, at, (gap_start, _)) = signature(sealed);
    // The signed bytes cannot be changed, but a later xref entry may point anywhere: another
    // object number at the signature dictionary's own offset, and one at its /Contents key
    // (which parses as a name).
    let key = memchr::memmem::rfind(&sealed[..gap_start], b"/Contents").expect("key");
    for (offset, what) in [(at, "the dictionary's offset"), (key, "its /Contents key")] {
        let mut changed = append(sealed, &[(990, b"null".to_vec())]);
        point_entry(&mut changed, 990, offset);
        agree(&changed, what);
    }
}

#[test]
fn a_literal_string_over_the_gap_is_not_read_from_the_view() {
    // In the signature dictionary, `/M (…)` becomes a comment holding `77 0 obj (`: the
    // dictionary still parses (the signature no longer verifies, which both parses report
    // alike), and an object 77 read from there is a literal string running over the gap.
    let mut signed = fixture().sealed.clone();
    let reason = memchr::memmem::find(&signed, b"/M (D:").expect("/M");
    let close = memchr::memchr(b')', &signed[reason..]).expect(")") + reason;
    let mut patch = b"%77 0 obj (".to_vec();
    patch.resize(close + 1 - reason - 1, b' ');
    patch.push(b'\n');
    signed[reason..=close].copy_from_slice(&patch);
    assert!(agree(
        &signed,
        "sealed with a comment in the signature dictionary"
    ));
    // A later revision points object 77 at it and closes the string in a comment.
    let at = reason + 1;
    let mut changed = append(
        &signed,
        &[(990, b"null % )".to_vec()), (77, b"null".to_vec())],
    );
    point_entry(&mut changed, 77, at);
    let (gap_start, gap_end) = gap_of(&changed);
    let doc = lopdf::Document::load_mem(&changed).expect("parses");
    match doc.objects.get(&(77, 0)) {
        Some(Object::String(s, _)) => assert!(
            memchr::memmem::find(s, &changed[gap_start + 1..gap_end - 1]).is_some(),
            "object 77 holds the gap"
        ),
        other => panic!("object 77 is not the literal string over the gap: {other:?}"),
    }
    assert!(!agree(&changed, "literal string over the gap"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Byte changes anywhere in a sealed file (mostly in and around the signature): where the
    /// view is confirmed, it agrees with the file.
    #[test]
    fn mutated_sealed_files_agree(
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>(), any::<bool>()), 1..4)
    ) {
        let sealed = &fixture().sealed;
        let (_, at, (_, gap_end)) = signature(sealed);
        let mut data = sealed.clone();
        for (where_, byte, near) in edits {
            let (lo, hi) = if near { (at, (gap_end + 200).min(data.len())) } else { (0, data.len()) };
            let i = lo + ((hi - lo) as f64 * where_) as usize;
            if i < data.len() {
                data[i] = byte;
            }
        }
        agree(&data, "mutated");
    }
}
