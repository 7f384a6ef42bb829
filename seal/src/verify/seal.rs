//! Chop's seal checks: the GB/T 38540-2020 `SESeal` carried as a CMS signed attribute
//! ([`crate::cms::ID_CHOP_SESEAL`], value an OCTET STRING holding the DER seal), verified as
//! GB/T 38540-2020 §8 describes (maker signature, signer in `certList`, validity at the signing
//! time), and the visible appearance compared with the seal picture.

use lopdf::{Document, Object, ObjectId};
use time::OffsetDateTime;

use crate::cms::parse::{self, ParsedSignedData};
use crate::picture::decode_png;
use crate::seal_object::SESeal;

use super::document::{as_dict, get};
use super::limits::{Budget, LimitHit};
use super::report::{Indication, SealReport, SubIndication};

/// A failure found while checking the seal: its indication, sub-indication and description.
pub(crate) type Failure = (Indication, SubIndication, String);

fn rfc3339(t: OffsetDateTime) -> String {
    crate::seal_object::rfc3339(t)
}

use super::memo::{Digest, Memo, sha256};

/// Decoded image samples: byte length and SHA-256.
type SampleDigest = (usize, Digest);

static SAMPLES: Memo<SampleDigest> = Memo::new();

/// A decoded seal picture: width, height, SHA-256 of the RGB samples, and of the alpha samples
/// (`None` when opaque).
type PictureDigest = (u32, u32, Digest, Option<Digest>);

static PICTURES: Memo<Option<PictureDigest>> = Memo::new();

fn picture_digest(png: &[u8]) -> Option<PictureDigest> {
    let key = sha256(png);
    if let Some(v) = PICTURES.get(&key) {
        return v;
    }
    let value = decode_png(png).ok().map(|p| {
        let alpha = p
            .alpha
            .as_deref()
            .filter(|a| a.iter().any(|x| *x != 255))
            .map(sha256);
        (p.width, p.height, sha256(&p.rgb), alpha)
    });
    PICTURES.put(key, value);
    value
}

/// Width, height and the digest of an image XObject's decoded samples, enforcing the
/// decompression limits.
fn samples(
    doc: &Document,
    obj: &Object,
    budget: &Budget,
) -> Result<Option<(i64, i64, SampleDigest)>, LimitHit> {
    let d = budget.limits.max_depth;
    let Some(Object::Stream(s)) = super::document::resolve(doc, obj, d) else {
        return Ok(None);
    };
    let w = match get(doc, &s.dict, b"Width", d) {
        Some(Object::Integer(w)) => *w,
        _ => return Ok(None),
    };
    let h = match get(doc, &s.dict, b"Height", d) {
        Some(Object::Integer(h)) => *h,
        _ => return Ok(None),
    };
    // The decoded bytes depend on the raw content, the filters and their parameters only.
    let mut keyed = format!(
        "{:?}|{:?}|",
        s.dict.get(b"Filter").ok(),
        s.dict.get(b"DecodeParms").ok()
    )
    .into_bytes();
    keyed.extend_from_slice(&s.content);
    let key = sha256(&keyed);
    if let Some(v) = SAMPLES.get(&key) {
        return Ok(Some((w, h, v)));
    }
    let data = if s.dict.has(b"Filter") {
        match s.get_plain_content_with_limit(budget.limits.max_decompressed_bytes) {
            Ok(v) => v,
            Err(e) => {
                let text = e.to_string();
                if text.to_lowercase().contains("limit") {
                    return Err(LimitHit::new(
                        "max_decompressed_bytes",
                        format!(
                            "an appearance image decompresses to more than {} bytes",
                            budget.limits.max_decompressed_bytes
                        ),
                    ));
                }
                return Ok(None);
            }
        }
    } else {
        s.content.clone()
    };
    budget.check_inflated(s.content.len(), data.len())?;
    let value = (data.len(), sha256(&data));
    SAMPLES.put(key, value);
    Ok(Some((w, h, value)))
}

/// Whether the normal appearance of `widget` draws exactly `png`: an image XObject in the
/// appearance's `/Resources /XObject` whose samples (and `/SMask`) equal the decoded picture.
/// `None` when the widget draws no image.
fn appearance_matches(
    doc: &Document,
    widget: ObjectId,
    png: &[u8],
    budget: &Budget,
) -> Result<Option<bool>, LimitHit> {
    let d = budget.limits.max_depth;
    let Some(wd) = super::document::dict_by_id(doc, widget) else {
        return Ok(None);
    };
    let Some(ap) = wd.get(b"AP").ok().and_then(|o| as_dict(doc, o, d)) else {
        return Ok(None);
    };
    let Some(normal) = ap.get(b"N").ok().and_then(|o| as_dict(doc, o, d)) else {
        return Ok(None);
    };
    let Some(res) = normal
        .get(b"Resources")
        .ok()
        .and_then(|o| as_dict(doc, o, d))
    else {
        return Ok(None);
    };
    let Some(xobjects) = res.get(b"XObject").ok().and_then(|o| as_dict(doc, o, d)) else {
        return Ok(None);
    };
    let Some((pw, ph, rgb_digest, alpha_digest)) = picture_digest(png) else {
        return Ok(Some(false));
    };
    let opaque = |w: i64, h: i64| -> Option<Digest> {
        let n = usize::try_from(w.checked_mul(h)?).ok()?;
        (n <= budget.limits.max_decompressed_bytes).then(|| sha256(&vec![255u8; n]))
    };
    let mut found_image = false;
    for (_, xo) in xobjects.iter() {
        let Some(xd) = as_dict(doc, xo, d) else {
            continue;
        };
        if get(doc, xd, b"Subtype", d) != Some(&Object::Name(b"Image".to_vec())) {
            continue;
        }
        found_image = true;
        let Some((w, h, (_, rgb))) = samples(doc, xo, budget)? else {
            continue;
        };
        if w != i64::from(pw) || h != i64::from(ph) || rgb != rgb_digest {
            continue;
        }
        let alpha_ok = match (xd.get(b"SMask").ok(), alpha_digest) {
            (Some(sm), Some(alpha)) => {
                matches!(samples(doc, sm, budget)?, Some((sw, sh, (_, a))) if sw == w && sh == h && a == alpha)
            }
            (None, None) => true,
            (Some(sm), None) => {
                matches!(samples(doc, sm, budget)?, Some((sw, sh, (_, a))) if Some(a) == opaque(sw, sh))
            }
            (None, Some(_)) => false,
        };
        if alpha_ok {
            return Ok(Some(true));
        }
    }
    Ok(found_image.then_some(false))
}

/// The widget that shows a signature field: the field itself when merged, else its first kid.
fn widget_of(doc: &Document, field: ObjectId, depth: usize) -> ObjectId {
    let Some(fd) = super::document::dict_by_id(doc, field) else {
        return field;
    };
    if fd.has(b"Subtype") {
        return field;
    }
    match get(doc, fd, b"Kids", depth) {
        Some(Object::Array(kids)) => kids
            .first()
            .and_then(|k| k.as_reference().ok())
            .unwrap_or(field),
        _ => field,
    }
}

/// Check the seal object of a signature, if its CMS carries one.
pub(crate) fn check(
    sd: &ParsedSignedData,
    signer_cert: Option<&[u8]>,
    signing_time: Option<OffsetDateTime>,
    doc: &Document,
    field: ObjectId,
    budget: &Budget,
) -> Result<(Option<SealReport>, Vec<Failure>), LimitHit> {
    let mut failures = Vec::new();
    let attrs = sd.signed_attr(&crate::cms::ID_CHOP_SESEAL);
    if attrs.is_empty() {
        return Ok((None, failures));
    }
    let fail = |sub, msg: &str| (Indication::TotalFailed, sub, msg.to_string());
    let value = match attrs.as_slice() {
        [one] if one.values.len() == 1 => parse::octet_string(&one.values[0]),
        _ => None,
    };
    let Some(seal_der) = value else {
        failures.push(fail(
            SubIndication::FormatFailure,
            "the seal attribute must hold exactly one OCTET STRING",
        ));
        return Ok((None, failures));
    };
    let seal = match SESeal::from_der(seal_der) {
        Ok(s) => s,
        Err(e) => {
            failures.push(fail(
                SubIndication::FormatFailure,
                &format!("the seal object cannot be decoded: {e}"),
            ));
            return Ok((None, failures));
        }
    };
    let info = seal.info();
    // The maker's signature is a function of the seal object alone, which every document
    // sealed with that seal carries.
    let maker_signature_valid = super::memo::verified(&[b"seal-maker", seal_der], || {
        seal.verify_maker_signature().is_ok()
    });
    if !maker_signature_valid {
        failures.push(fail(
            SubIndication::SigConstraintsFailure,
            "the seal maker's signature over the seal object does not verify (forged seal)",
        ));
    }
    let signer_in_cert_list = signer_cert.is_some_and(|c| seal.allows_signer(c));
    if signer_cert.is_some() && !signer_in_cert_list {
        failures.push(fail(
            SubIndication::SigConstraintsFailure,
            "the signer certificate is not in the seal's certList: this signer may not use this seal",
        ));
    }
    let valid_at_signing_time = match signing_time {
        Some(t) => seal.check_validity(t).is_ok(),
        None => false,
    };
    if !valid_at_signing_time {
        failures.push((
            Indication::Indeterminate,
            SubIndication::SigConstraintsFailure,
            format!(
                "the seal is valid from {} to {}, which does not include the claimed signing time",
                rfc3339(info.valid_start),
                rfc3339(info.valid_end)
            ),
        ));
    }
    let widget = widget_of(doc, field, budget.limits.max_depth);
    let appearance = appearance_matches(doc, widget, &info.picture_png, budget)?;
    if appearance == Some(false) {
        failures.push(fail(
            SubIndication::SigConstraintsFailure,
            "the image drawn by the signature widget is not the seal's picture",
        ));
    }
    let maker = crate::certs::subject(seal.maker_cert_der()).unwrap_or_default();
    let report = SealReport {
        es_id: info.es_id.clone(),
        name: info.name.clone(),
        seal_type: info.seal_type.code(),
        organization: info.org_name.clone().unwrap_or_default(),
        organization_id: info.org_id.clone().unwrap_or_default(),
        maker,
        valid_start: rfc3339(info.valid_start),
        valid_end: rfc3339(info.valid_end),
        maker_signature_valid,
        signer_in_cert_list,
        valid_at_signing_time,
        appearance_matches_picture: appearance,
    };
    Ok((Some(report), failures))
}
