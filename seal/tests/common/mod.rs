//! Helpers shared by the verifier's integration tests: hand-written incremental updates on
//! top of corpus files, and signing them (with the corpus's foreign test PKI or any key).
#![allow(dead_code)]

use std::io::Write;

use chop_seal::cms::build::{SignedDataRequest, build_signed_data};
use chop_seal::keys::{Signer, SoftwareKey};
use chop_seal::verify::VerifyOptions;

pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

pub fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{name}")).unwrap()
}

pub fn pem_der(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{CORPUS}/pki/{name}")).unwrap();
    pem::parse(text).unwrap().into_contents()
}

/// The corpus signer key is SEC1 (`EC PRIVATE KEY`); wrap it in PKCS#8 (RFC 5208) for ring.
pub fn signer_key() -> SoftwareKey {
    let sec1 = pem_der("signer-ec.key");
    let alg: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(alg);
    body.push(0x04);
    push_len(&mut body, sec1.len());
    body.extend_from_slice(&sec1);
    let mut der = vec![0x30];
    push_len(&mut der, body.len());
    der.extend_from_slice(&body);
    SoftwareKey::from_pkcs8_der(&der).unwrap()
}

pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

pub fn trusted() -> VerifyOptions {
    VerifyOptions {
        trust_anchors: vec![pem_der("root.pem")],
        ..VerifyOptions::default()
    }
}

/// Offset of the last `startxref` value of a file.
pub fn last_startxref(data: &[u8]) -> usize {
    let pos = data.windows(9).rposition(|w| w == b"startxref").unwrap();
    let text = String::from_utf8_lossy(&data[pos + 9..]);
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// Append one revision (classic xref table, `/Prev` to the previous one) holding `objects`.
pub fn append(base: &[u8], objects: &[(u32, String)], size: u32) -> Vec<u8> {
    let raw: Vec<(u32, Vec<u8>)> = objects
        .iter()
        .map(|(id, body)| (*id, body.clone().into_bytes()))
        .collect();
    append_raw(base, &raw, size)
}

/// [`append`] with binary object bodies (e.g. compressed streams).
pub fn append_raw(base: &[u8], objects: &[(u32, Vec<u8>)], size: u32) -> Vec<u8> {
    let mut out = base.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets = Vec::new();
    for (id, body) in objects {
        offsets.push((*id, out.len()));
        writeln!(out, "{id} 0 obj").unwrap();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
    let mut sorted = offsets.clone();
    sorted.sort();
    for (id, off) in sorted {
        write!(out, "{id} 1\n{off:010} 00000 n \n").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {size} /Root 4 0 R /Info 5 0 R /Prev {} >>\nstartxref\n{xref}\n%%EOF\n",
        last_startxref(base)
    )
    .unwrap();
    out
}

pub const PLACEHOLDER_RANGE: &str = "[0 0000000000 0000000000 0000000000]";
pub const CONTENTS_HEX_LEN: usize = 8192;

/// A signature dictionary with a placeholder ByteRange and Contents.
pub fn sig_dict(extra: &str) -> String {
    sig_dict_sized(extra, CONTENTS_HEX_LEN)
}

/// [`sig_dict`] with room for `hex_len` hex digits of CMS.
pub fn sig_dict_sized(extra: &str, hex_len: usize) -> String {
    let now = time::OffsetDateTime::now_utc();
    let m = format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    format!(
        "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ({m}) {extra} /ByteRange {PLACEHOLDER_RANGE} /Contents <{}> >>",
        "0".repeat(hex_len)
    )
}

/// Append a revision holding `objects` (one of them a [`sig_dict`]) and sign it with the
/// corpus signer (pki/signer-ec, issued by pki/root.pem).
pub fn sign_revision(base: &[u8], objects: &[(u32, String)], size: u32) -> Vec<u8> {
    let cert = pem_der("signer-ec.pem");
    let chain = vec![pem_der("root.pem")];
    let raw: Vec<(u32, Vec<u8>)> = objects
        .iter()
        .map(|(id, body)| (*id, body.clone().into_bytes()))
        .collect();
    sign_revision_with(base, &raw, size, &signer_key(), &cert, &chain, None)
}

/// Append a revision holding `objects` (one of them a [`sig_dict`]) and sign it with `key`,
/// embedding `cert` and `chain`, and `seal` as Chop's seal attribute.
pub fn sign_revision_with(
    base: &[u8],
    objects: &[(u32, Vec<u8>)],
    size: u32,
    key: &dyn Signer,
    cert: &[u8],
    chain: &[Vec<u8>],
    seal: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = append_raw(base, objects, size);
    let start = base.len();
    let rel = out[start..]
        .windows(PLACEHOLDER_RANGE.len())
        .position(|w| w == PLACEHOLDER_RANGE.as_bytes())
        .unwrap();
    let range_at = start + rel;
    let contents_key = out[range_at..]
        .windows(10)
        .position(|w| w == b"/Contents ")
        .unwrap();
    let a = range_at + contents_key + 10;
    let b = a + out[a..].iter().position(|ch| *ch == b'>').unwrap() + 1;
    let c = out.len() - b;
    let range = format!("[0 {a:<10} {b:<10} {c:<10}]");
    out[range_at..range_at + range.len()].copy_from_slice(range.as_bytes());
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&out[..a]);
    ctx.update(&out[b..]);
    let digest = ctx.finish();
    let cms = build_signed_data(
        &SignedDataRequest {
            content_digest: digest.as_ref(),
            signer_cert: cert,
            chain,
            seal,
        },
        key,
    )
    .unwrap();
    let hex = hex::encode_upper(&cms);
    out[a + 1..a + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    out
}

pub const PAGE: &str = "/Type /Page /Parent 6 0 R /MediaBox [ 0 0 595.2756 841.8898 ] /Resources << /Font 1 0 R /ProcSet [ /PDF /Text ] >>";

/// What the signed revision holds besides the signature.
#[derive(Default)]
pub struct Doc {
    pub catalog_extra: String,
    pub fields_extra: String,
    pub page_contents: Option<String>,
    pub annots_extra: String,
    pub objects: Vec<(u32, String)>,
    pub sig_extra: String,
    /// Extra entries of the signature field `Sig1` (object 10), e.g. a `/Lock` dictionary.
    pub sig_field_extra: String,
}

/// plain-1page.pdf (catalog 4, page 3, pages 6, content 7, font 2, Info 5) plus one signed
/// revision: signature field 10 (merged widget, invisible) with signature dictionary 11.
pub fn signed(doc: Doc) -> Vec<u8> {
    let mut objects = vec![
        (
            4,
            format!(
                "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R {}] /SigFlags 3 >> {} >>",
                doc.fields_extra, doc.catalog_extra
            ),
        ),
        (
            3,
            format!(
                "<< {PAGE} /Contents {} /Annots [10 0 R {}] >>",
                doc.page_contents.as_deref().unwrap_or("7 0 R"),
                doc.annots_extra
            ),
        ),
        (
            10,
            format!(
                "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig1) /V 11 0 R /Rect [0 0 0 0] /F 132 /P 3 0 R {} >>",
                doc.sig_field_extra
            ),
        ),
        (11, sig_dict(&doc.sig_extra)),
    ];
    objects.extend(doc.objects);
    sign_revision(&corpus("plain-1page.pdf"), &objects, 40)
}

/// [`signed`] as a certification signature with DocMDP permission `p`.
pub fn certified(p: u8) -> Vec<u8> {
    certified_doc(p, Doc::default())
}

/// [`signed`] `doc` as a certification signature with DocMDP permission `p` (its
/// `catalog_extra` and `sig_extra` are replaced).
pub fn certified_doc(p: u8, doc: Doc) -> Vec<u8> {
    signed(Doc {
        catalog_extra: PERMS.into(),
        sig_extra: format!("/Reference [{}]", docmdp_entry(p)),
        ..doc
    })
}

/// A DocMDP signature reference dictionary (ISO 32000-2 §12.8.2.2) with permission `p`.
pub fn docmdp_entry(p: u8) -> String {
    format!(
        "<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /Type /TransformParams /V /1.2 /P {p} >> >>"
    )
}

/// A FieldMDP signature reference dictionary (ISO 32000-2 §12.8.2.4): `action` is `All`,
/// `Include` or `Exclude`.
pub fn fieldmdp_entry(action: &str, fields: &[&str]) -> String {
    let names: Vec<String> = fields.iter().map(|f| format!("({f})")).collect();
    let fields = if fields.is_empty() {
        String::new()
    } else {
        format!("/Fields [{}]", names.join(" "))
    };
    format!(
        "<< /Type /SigRef /TransformMethod /FieldMDP /TransformParams << /Type /TransformParams /Action /{action} {fields} /V /1.2 >> >>"
    )
}

/// `/Reference` holding one [`fieldmdp_entry`], for a signature dictionary.
pub fn fieldmdp_reference(action: &str, fields: &[&str]) -> String {
    format!("/Reference [{}]", fieldmdp_entry(action, fields))
}

/// A form XObject drawing `text`, as an appearance stream.
pub fn text_appearance(text: &str) -> String {
    let content = format!("BT /F1 12 Tf 2 5 Td ({text}) Tj ET");
    format!(
        "<< /Type /XObject /Subtype /Form /BBox [0 0 140 20] /Length {} >>\nstream\n{content}\nendstream",
        content.len()
    )
}

/// `doc` plus two filled text fields on the page, both merged field/widgets: `Amount` (13,
/// appearance 15) and `Note` (17, appearance 18).
pub fn with_text_fields(doc: Doc) -> Doc {
    let mut objects: Vec<(u32, String)> = vec![
            (
                13,
                "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (100) /Rect [60 400 200 420] /F 4 /P 3 0 R /AP << /N 15 0 R >> >>".into(),
            ),
            (15, text_appearance("100")),
            (
                17,
                "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Note) /V (a) /Rect [60 300 200 320] /F 4 /P 3 0 R /AP << /N 18 0 R >> >>".into(),
            ),
            (18, text_appearance("a")),
    ];
    objects.extend(doc.objects);
    Doc {
        fields_extra: format!("13 0 R 17 0 R {}", doc.fields_extra),
        annots_extra: format!("13 0 R 17 0 R {}", doc.annots_extra),
        objects,
        ..doc
    }
}

/// [`signed`] with [`with_text_fields`]; the signature dictionary carries `sig_extra` (e.g. a
/// [`fieldmdp_reference`]).
pub fn signed_with_text_fields(sig_extra: &str) -> Vec<u8> {
    signed(with_text_fields(Doc {
        sig_extra: sig_extra.into(),
        ..Doc::default()
    }))
}

/// A later revision of a [`with_text_fields`] document filling text field `name` (object `id`)
/// with `value` and a new appearance (object 45). New objects are numbered from the signed
/// revision's `/Size` on, as pyHanko requires of honest updates.
pub fn fill_text_field(base: &[u8], id: u32, name: &str, value: &str) -> Vec<u8> {
    let rect = if name == "Amount" {
        "60 400 200 420"
    } else {
        "60 300 200 320"
    };
    append(
        base,
        &[
            (
                id,
                format!(
                    "<< /Type /Annot /Subtype /Widget /FT /Tx /T ({name}) /V ({value}) /Rect [{rect}] /F 4 /P 3 0 R /AP << /N 45 0 R >> >>"
                ),
            ),
            (45, text_appearance(value)),
        ],
        60,
    )
}

/// A later revision adding a second signature field `Sig2` (41, signature dictionary 42 with
/// `sig_extra`) whose widget has `/Rect [rect]`, and signing it. `fields` and `annots` are the
/// other references the AcroForm and the page keep (besides the first signature, 10 0 R).
pub fn add_signature(
    base: &[u8],
    rect: &str,
    sig_extra: &str,
    fields_and_annots: &str,
    catalog_extra: &str,
) -> Vec<u8> {
    sign_revision(
        base,
        &[
            (
                4,
                format!(
                    "<< /Type /Catalog /Pages 6 0 R /AcroForm << /Fields [10 0 R {fields_and_annots} 41 0 R] /SigFlags 3 >> {catalog_extra} >>"
                ),
            ),
            (
                3,
                format!("<< {PAGE} /Contents 7 0 R /Annots [10 0 R {fields_and_annots} 41 0 R] >>"),
            ),
            (
                41,
                format!(
                    "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /V 42 0 R /Rect [{rect}] /F 132 /P 3 0 R >>"
                ),
            ),
            (42, sig_dict(sig_extra)),
        ],
        60,
    )
}

/// The catalog entry a certified document keeps: `/Perms` pointing at its certification
/// signature (11 0 R in [`certified`]).
pub const PERMS: &str = "/Perms << /DocMDP 11 0 R >>";

/// A P=2 certified document with an empty visible signature field `Sig2` (object 12) that the
/// certifier placed at `[300 100 500 160]`.
pub fn certified_with_empty_sig_field() -> Vec<u8> {
    certified_doc(
        2,
        Doc {
            fields_extra: "12 0 R".into(),
            annots_extra: "12 0 R".into(),
            objects: vec![(
                12,
                "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /Rect [300 100 500 160] /F 4 /P 3 0 R >>".into(),
            )],
            ..Doc::default()
        },
    )
}

/// [`certified_with_empty_sig_field`]'s `Sig2` signed in a new revision, its widget at `rect`.
pub fn sign_empty_field(prepared: &[u8], rect: &str) -> Vec<u8> {
    sign_revision(
        prepared,
        &[
            (
                12,
                format!(
                    "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig2) /V 42 0 R /Rect [{rect}] /F 4 /P 3 0 R /AP << /N 43 0 R >> >>"
                ),
            ),
            (43, text_appearance("signed")),
            (42, sig_dict("")),
        ],
        60,
    )
}
