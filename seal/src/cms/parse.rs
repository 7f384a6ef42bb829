//! Reading a CMS SignedData (RFC 5652 §5) from a PDF signature's `/Contents`, for the verifier.
//!
//! The structure is decoded twice on purpose: once with the `cms` crate's types (which checks that
//! the whole message is well-formed DER), and once with a small TLV walker that keeps the exact
//! bytes the signer signed — the signed attributes (RFC 5652 §5.4: the DER `SET OF` with tag 0x31)
//! and the certificates as they were embedded. Re-encoding decoded values would silently repair
//! a non-canonical encoding, and then a verifier would check something the signer never signed.

use const_oid::ObjectIdentifier;
use der::Decode;

/// How the signer identifies its certificate (RFC 5652 §5.3 `SignerIdentifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// `issuerAndSerialNumber`: the DER issuer `Name` and the serial number's content octets.
    IssuerAndSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// `subjectKeyIdentifier` octets.
    SubjectKeyIdentifier(Vec<u8>),
}

/// One attribute of a SignerInfo (RFC 5652 §5.3 `Attribute`): its type and the raw DER of each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAttribute {
    /// `attrType`.
    pub oid: ObjectIdentifier,
    /// Each `AttributeValue`, as complete DER TLVs.
    pub values: Vec<Vec<u8>>,
}

/// The parts of a detached SignedData with exactly one SignerInfo that a PAdES verifier needs.
#[derive(Debug, Clone)]
pub struct ParsedSignedData {
    /// `encapContentInfo.eContentType` (PAdES: `id-data`).
    pub econtent_type: ObjectIdentifier,
    /// Whether `eContent` is present (PAdES: must be absent, the signature is detached).
    pub econtent_present: bool,
    /// Every certificate of `certificates`, as embedded (DER).
    pub certificates: Vec<Vec<u8>>,
    /// How many `SignerInfo`s the message holds (PAdES: exactly one).
    pub signer_count: usize,
    /// The signer's `sid`.
    pub signer_id: SignerId,
    /// `digestAlgorithm` of the SignerInfo.
    pub digest_algorithm: ObjectIdentifier,
    /// `signatureAlgorithm` of the SignerInfo.
    pub signature_algorithm: ObjectIdentifier,
    /// The DER bytes the signature covers: the signed attributes re-tagged as `SET OF` (0x31),
    /// byte for byte as embedded otherwise (RFC 5652 §5.4). `None` when there are none.
    pub signed_attrs_der: Option<Vec<u8>>,
    /// The signed attributes, in the order they appear.
    pub signed_attrs: Vec<RawAttribute>,
    /// The unsigned attributes, in the order they appear.
    pub unsigned_attrs: Vec<RawAttribute>,
    /// `signature` octets.
    pub signature: Vec<u8>,
}

impl ParsedSignedData {
    /// Values of every signed attribute with this type (normally zero or one attribute).
    pub fn signed_attr(&self, oid: &ObjectIdentifier) -> Vec<&RawAttribute> {
        self.signed_attrs.iter().filter(|a| a.oid == *oid).collect()
    }
}

/// Why `/Contents` is not a usable CMS SignedData.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsParseError {
    #[error("the signature value is empty")]
    Empty,
    #[error("malformed DER at byte {offset}: {reason}")]
    BadDer { offset: usize, reason: &'static str },
    #[error("bytes other than zero padding follow the CMS message")]
    TrailingData,
    #[error("not a CMS ContentInfo: {0}")]
    NotContentInfo(String),
    #[error("the ContentInfo holds {0}, not SignedData")]
    NotSignedData(String),
    #[error("the SignedData holds {0} SignerInfos; PAdES requires exactly one")]
    SignerCount(usize),
}

/// A DER TLV: tag byte, the content octets and the complete encoding.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
    /// Offset of the TLV inside the outermost input, for error messages.
    offset: usize,
}

/// Read one DER TLV at the start of `data` (definite lengths only, single-byte tags).
fn read_tlv(data: &[u8], base: usize) -> Result<Tlv<'_>, CmsParseError> {
    let bad = |reason| CmsParseError::BadDer {
        offset: base,
        reason,
    };
    let tag = *data.first().ok_or_else(|| bad("unexpected end of data"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tags are not used in CMS"));
    }
    let first = *data.get(1).ok_or_else(|| bad("missing length"))?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else if first == 0x80 {
        return Err(bad("indefinite length (BER) is not DER"));
    } else {
        let n = (first & 0x7f) as usize;
        if n > 4 {
            return Err(bad("length field too long"));
        }
        let bytes = data.get(2..2 + n).ok_or_else(|| bad("truncated length"))?;
        if bytes.first() == Some(&0) {
            return Err(bad("non-minimal length"));
        }
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        if len < 0x80 {
            return Err(bad("non-minimal length"));
        }
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .ok_or_else(|| bad("length overflow"))?;
    let whole = data
        .get(..end)
        .ok_or_else(|| bad("length runs past the end"))?;
    Ok(Tlv {
        tag,
        content: &whole[header..],
        whole,
        offset: base,
    })
}

/// The children of a constructed TLV.
fn children<'a>(parent: &Tlv<'a>) -> Result<Vec<Tlv<'a>>, CmsParseError> {
    let mut out = Vec::new();
    let header = parent.whole.len() - parent.content.len();
    let mut pos = 0;
    while pos < parent.content.len() {
        let tlv = read_tlv(&parent.content[pos..], parent.offset + header + pos)?;
        pos += tlv.whole.len();
        out.push(tlv);
    }
    Ok(out)
}

fn expect<'a>(
    items: &[Tlv<'a>],
    index: usize,
    tag: u8,
    what: &'static str,
) -> Result<Tlv<'a>, CmsParseError> {
    match items.get(index) {
        Some(t) if t.tag == tag => Ok(*t),
        Some(t) => Err(CmsParseError::BadDer {
            offset: t.offset,
            reason: what,
        }),
        None => Err(CmsParseError::BadDer {
            offset: 0,
            reason: what,
        }),
    }
}

fn oid_of(tlv: &Tlv<'_>) -> Result<ObjectIdentifier, CmsParseError> {
    if tlv.tag != 0x06 {
        return Err(CmsParseError::BadDer {
            offset: tlv.offset,
            reason: "expected an OBJECT IDENTIFIER",
        });
    }
    ObjectIdentifier::from_der(tlv.whole).map_err(|_| CmsParseError::BadDer {
        offset: tlv.offset,
        reason: "invalid OBJECT IDENTIFIER",
    })
}

/// The OID of an `AlgorithmIdentifier` SEQUENCE.
fn algorithm_oid(tlv: &Tlv<'_>) -> Result<ObjectIdentifier, CmsParseError> {
    let items = children(tlv)?;
    let first = items.first().ok_or(CmsParseError::BadDer {
        offset: tlv.offset,
        reason: "empty AlgorithmIdentifier",
    })?;
    oid_of(first)
}

fn attributes(set: &Tlv<'_>) -> Result<Vec<RawAttribute>, CmsParseError> {
    let mut out = Vec::new();
    for attr in children(set)? {
        if attr.tag != 0x30 {
            return Err(CmsParseError::BadDer {
                offset: attr.offset,
                reason: "an attribute is not a SEQUENCE",
            });
        }
        let parts = children(&attr)?;
        if parts.len() != 2 {
            return Err(CmsParseError::BadDer {
                offset: attr.offset,
                reason: "an attribute must have a type and a value set",
            });
        }
        let oid = oid_of(&parts[0])?;
        let values = expect(&parts, 1, 0x31, "attribute values must be a SET")?;
        let values = children(&values)?
            .iter()
            .map(|v| v.whole.to_vec())
            .collect();
        out.push(RawAttribute { oid, values });
    }
    Ok(out)
}

/// Length of the DER message at the start of `contents`; what follows must be zero padding
/// (PDF signature `/Contents` strings are reserved larger than the CMS they hold).
pub fn der_length(contents: &[u8]) -> Result<usize, CmsParseError> {
    if contents.is_empty() || contents.iter().all(|b| *b == 0) {
        return Err(CmsParseError::Empty);
    }
    let tlv = read_tlv(contents, 0)?;
    let len = tlv.whole.len();
    if contents[len..].iter().any(|b| *b != 0) {
        return Err(CmsParseError::TrailingData);
    }
    Ok(len)
}

/// Parse a DER CMS `ContentInfo` holding a `SignedData` with one SignerInfo (RFC 5652 §§3, 5),
/// followed by optional zero padding.
pub fn parse_signed_data(contents: &[u8]) -> Result<ParsedSignedData, CmsParseError> {
    let len = der_length(contents)?;
    let der_bytes = &contents[..len];

    // Structural check with the `cms` crate types: the whole message must be valid DER.
    let info = cms::content_info::ContentInfo::from_der(der_bytes)
        .map_err(|e| CmsParseError::NotContentInfo(e.to_string()))?;
    if info.content_type != super::ID_SIGNED_DATA {
        return Err(CmsParseError::NotSignedData(info.content_type.to_string()));
    }
    let signed: cms::signed_data::SignedData = info
        .content
        .decode_as()
        .map_err(|e| CmsParseError::NotContentInfo(format!("SignedData: {e}")))?;
    let signer_count = signed.signer_infos.0.len();
    if signer_count != 1 {
        return Err(CmsParseError::SignerCount(signer_count));
    }

    // Exact bytes with the TLV walker.
    let outer = read_tlv(der_bytes, 0)?;
    let ci = children(&outer)?;
    let explicit = expect(&ci, 1, 0xa0, "ContentInfo content must be [0] EXPLICIT")?;
    let sd_tlv = children(&explicit)?;
    let sd = expect(&sd_tlv, 0, 0x30, "SignedData must be a SEQUENCE")?;
    let sd_items = children(&sd)?;
    let encap = expect(&sd_items, 2, 0x30, "encapContentInfo must be a SEQUENCE")?;
    let encap_items = children(&encap)?;
    let econtent_type = oid_of(encap_items.first().ok_or(CmsParseError::BadDer {
        offset: encap.offset,
        reason: "empty encapContentInfo",
    })?)?;
    let econtent_present = encap_items.len() > 1;

    let mut certificates = Vec::new();
    let mut idx = 3;
    if let Some(t) = sd_items.get(idx)
        && t.tag == 0xa0
    {
        for c in children(t)? {
            if c.tag == 0x30 {
                certificates.push(c.whole.to_vec());
            }
        }
        idx += 1;
    }
    if let Some(t) = sd_items.get(idx)
        && t.tag == 0xa1
    {
        idx += 1;
    }
    let infos = expect(&sd_items, idx, 0x31, "signerInfos must be a SET")?;
    let infos = children(&infos)?;
    let si = expect(&infos, 0, 0x30, "SignerInfo must be a SEQUENCE")?;
    let si_items = children(&si)?;
    let sid = si_items.get(1).ok_or(CmsParseError::BadDer {
        offset: si.offset,
        reason: "SignerInfo without sid",
    })?;
    let signer_id = match sid.tag {
        0x30 => {
            let parts = children(sid)?;
            let issuer = expect(&parts, 0, 0x30, "issuer must be a Name")?;
            let serial = expect(&parts, 1, 0x02, "serialNumber must be an INTEGER")?;
            SignerId::IssuerAndSerial {
                issuer: issuer.whole.to_vec(),
                serial: serial.content.to_vec(),
            }
        }
        0x80 => SignerId::SubjectKeyIdentifier(sid.content.to_vec()),
        _ => {
            return Err(CmsParseError::BadDer {
                offset: sid.offset,
                reason: "unknown SignerIdentifier choice",
            });
        }
    };
    let digest_algorithm = algorithm_oid(&expect(
        &si_items,
        2,
        0x30,
        "digestAlgorithm must be a SEQUENCE",
    )?)?;
    let mut pos = 3;
    let mut signed_attrs_der = None;
    let mut signed_attrs = Vec::new();
    if let Some(t) = si_items.get(pos)
        && t.tag == 0xa0
    {
        let mut retagged = t.whole.to_vec();
        retagged[0] = 0x31;
        signed_attrs = attributes(t)?;
        signed_attrs_der = Some(retagged);
        pos += 1;
    }
    let signature_algorithm = algorithm_oid(&expect(
        &si_items,
        pos,
        0x30,
        "signatureAlgorithm must be a SEQUENCE",
    )?)?;
    let signature = expect(
        &si_items,
        pos + 1,
        0x04,
        "signature must be an OCTET STRING",
    )?
    .content
    .to_vec();
    let unsigned_attrs = match si_items.get(pos + 2) {
        Some(t) if t.tag == 0xa1 => attributes(t)?,
        _ => Vec::new(),
    };
    Ok(ParsedSignedData {
        econtent_type,
        econtent_present,
        certificates,
        signer_count,
        signer_id,
        digest_algorithm,
        signature_algorithm,
        signed_attrs_der,
        signed_attrs,
        unsigned_attrs,
        signature,
    })
}

/// The content octets of a DER OCTET STRING value (e.g. a `messageDigest` attribute value).
pub fn octet_string(value: &[u8]) -> Option<&[u8]> {
    let tlv = read_tlv(value, 0).ok()?;
    (tlv.tag == 0x04 && tlv.whole.len() == value.len()).then_some(tlv.content)
}

/// The OID held by a DER OBJECT IDENTIFIER value (e.g. a `contentType` attribute value).
pub fn object_identifier(value: &[u8]) -> Option<ObjectIdentifier> {
    ObjectIdentifier::from_der(value).ok()
}

/// `SigningCertificateV2` (RFC 5035 §3): the `(hash algorithm, certificate hash)` of each
/// `ESSCertIDv2`; the hash algorithm defaults to SHA-256.
pub fn signing_certificate_v2(value: &[u8]) -> Option<Vec<(ObjectIdentifier, Vec<u8>)>> {
    let outer = read_tlv(value, 0).ok()?;
    if outer.tag != 0x30 {
        return None;
    }
    let items = children(&outer).ok()?;
    let certs = items.first().filter(|t| t.tag == 0x30)?;
    let mut out = Vec::new();
    for id in children(certs).ok()? {
        let parts = children(&id).ok()?;
        let (alg, hash) = match parts.first()? {
            t if t.tag == 0x30 => (algorithm_oid(t).ok()?, parts.get(1)?),
            t => (const_oid::db::rfc5912::ID_SHA_256, t),
        };
        if hash.tag != 0x04 {
            return None;
        }
        out.push((alg, hash.content.to_vec()));
    }
    Some(out)
}

/// `SigningCertificate` v1 (RFC 2634 §5.4): the SHA-1 hash of each `ESSCertID`.
pub fn signing_certificate_v1(value: &[u8]) -> Option<Vec<Vec<u8>>> {
    let outer = read_tlv(value, 0).ok()?;
    let items = children(&outer).ok()?;
    let certs = items.first().filter(|t| t.tag == 0x30)?;
    let mut out = Vec::new();
    for id in children(certs).ok()? {
        let parts = children(&id).ok()?;
        let hash = parts.first().filter(|t| t.tag == 0x04)?;
        out.push(hash.content.to_vec());
    }
    Some(out)
}

/// The serial number content octets and the DER issuer `Name` of a certificate, to match a
/// [`SignerId::IssuerAndSerial`]; and its subjectKeyIdentifier, if any.
pub fn certificate_ids(cert_der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let cert = read_tlv(cert_der, 0).ok()?;
    let parts = children(&cert).ok()?;
    let tbs = parts.first().filter(|t| t.tag == 0x30)?;
    let tbs_items = children(tbs).ok()?;
    let mut i = 0;
    if tbs_items.first()?.tag == 0xa0 {
        i = 1;
    }
    let serial = tbs_items.get(i).filter(|t| t.tag == 0x02)?;
    let issuer = tbs_items.get(i + 2).filter(|t| t.tag == 0x30)?;
    Some((serial.content.to_vec(), issuer.whole.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_padding_are_told_apart() {
        assert_eq!(parse_signed_data(&[]).unwrap_err(), CmsParseError::Empty);
        assert_eq!(
            parse_signed_data(&[0, 0, 0]).unwrap_err(),
            CmsParseError::Empty
        );
        assert!(matches!(
            parse_signed_data(b"\x30\x80\x00\x00").unwrap_err(),
            CmsParseError::BadDer { .. }
        ));
        assert!(matches!(
            parse_signed_data(b"\x30\x05\x01").unwrap_err(),
            CmsParseError::BadDer { .. }
        ));
        assert_eq!(
            parse_signed_data(b"\x30\x00\x00\x01").unwrap_err(),
            CmsParseError::TrailingData
        );
        assert!(matches!(
            parse_signed_data(b"\x30\x00\x00\x00").unwrap_err(),
            CmsParseError::NotContentInfo(_)
        ));
    }

    #[test]
    fn rejects_non_minimal_lengths() {
        assert!(matches!(
            read_tlv(b"\x04\x81\x05hello", 0),
            Err(CmsParseError::BadDer { .. })
        ));
        let ok = read_tlv(b"\x04\x05hello", 0).unwrap();
        assert_eq!(ok.content, b"hello");
    }

    #[test]
    fn reads_octet_strings_and_oids() {
        assert_eq!(octet_string(b"\x04\x02ab"), Some(&b"ab"[..]));
        assert_eq!(octet_string(b"\x04\x02abc"), None);
        assert_eq!(octet_string(b"\x0c\x02ab"), None);
        let id_data = der::Encode::to_der(&crate::cms::ID_DATA).unwrap();
        assert_eq!(object_identifier(&id_data), Some(crate::cms::ID_DATA));
    }
}
