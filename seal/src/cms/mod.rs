//! CMS SignedData (RFC 5652) as used by PAdES (ETSI EN 319 142-1, SubFilter `ETSI.CAdES.detached`).
//!
//! [`build`] makes the detached SignedData Chop embeds in a PDF; [`parse`] reads any SignedData
//! for the verifier. The ASN.1 types come from the `cms`, `x509-cert` and `der` crates; the
//! PAdES profile (which attributes, in which order, signed by what) is ours.

pub mod build;
pub mod parse;

use const_oid::ObjectIdentifier;

/// `id-data` (RFC 5652 §4).
pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData` (RFC 5652 §5.1).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-contentType` signed attribute (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` (RFC 5652 §11.3) — PAdES forbids it; the verifier flags it.
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// `id-aa-signingCertificateV2` (RFC 5035 §3).
pub const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `id-aa-signingCertificate` (RFC 2634, v1 with SHA-1), accepted when reading.
pub const ID_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
/// `id-aa-signatureTimeStampToken` unsigned attribute (RFC 3161 appendix A).
pub const ID_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// Chop's signed attribute carrying the DER GB/T 38540 `SESeal` the signature was made with,
/// so the signature covers the seal (private arc; see docs/FORMATS.md).
pub const ID_CHOP_SESEAL: ObjectIdentifier = crate::seal_object::OID_CHOP_SESEAL_ATTRIBUTE;
