//! Integrity of one signature: the CMS SignedData (RFC 5652 §5.4, §5.6), its signed attributes
//! as PAdES requires them (ETSI EN 319 142-1 §5.2, ETSI EN 319 122-1 §5.2: content-type
//! `id-data`, message-digest, signing-certificate-v2; no signing-time), and the signature value.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use ring::signature as rs;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::cms::parse::{self, ParsedSignedData, SignerId};
use crate::cms::{
    ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNING_CERTIFICATE, ID_SIGNING_CERTIFICATE_V2,
    ID_SIGNING_TIME,
};
use crate::keys::{self, DigestAlgorithm, SignatureAlgorithm};

use super::report::{Integrity, SubIndication};

/// The outcome of the integrity checks.
pub(crate) struct IntegrityOutcome {
    pub integrity: Integrity,
    /// The signer certificate (DER), when identified.
    pub signer_cert: Option<Vec<u8>>,
    /// The worst failure and its description.
    pub failures: Vec<(SubIndication, String)>,
    pub warnings: Vec<String>,
    /// The CMS `signing-time` attribute, Unix seconds, if present.
    pub cms_signing_time: Option<i64>,
    /// The parsed SignedData, when `/Contents` held one.
    pub signed_data: Option<ParsedSignedData>,
}

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Find the certificate the SignerInfo names (RFC 5652 §5.3 `sid`).
pub(crate) fn find_signer(sd: &ParsedSignedData) -> Option<Vec<u8>> {
    sd.certificates
        .iter()
        .find(|c| match &sd.signer_id {
            SignerId::IssuerAndSerial { issuer, serial } => {
                parse::certificate_ids(c).is_some_and(|(s, i)| s == *serial && i == *issuer)
            }
            SignerId::SubjectKeyIdentifier(ski) => X509Certificate::from_der(c)
                .ok()
                .and_then(|(_, cert)| {
                    cert.extensions()
                        .iter()
                        .find_map(|e| match e.parsed_extension() {
                            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0 == ski.as_slice()),
                            _ => None,
                        })
                })
                .unwrap_or(false),
        })
        .cloned()
}

/// How to verify the signature value: a Chop [`SignatureAlgorithm`] when one fits, else a
/// `ring` algorithm for the combinations Chop reads but does not produce.
enum Verifier {
    Chop(SignatureAlgorithm),
    Ring(&'static dyn rs::VerificationAlgorithm, &'static str),
}

fn verifier(
    sig_alg: &ObjectIdentifier,
    digest: DigestAlgorithm,
    spki_alg: &ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
) -> Option<Verifier> {
    use DigestAlgorithm::*;
    let ecdsa_hash = if *sig_alg == rfc5912::ECDSA_WITH_SHA_256 {
        Some(Sha256)
    } else if *sig_alg == rfc5912::ECDSA_WITH_SHA_384 {
        Some(Sha384)
    } else if *sig_alg == rfc5912::ECDSA_WITH_SHA_512 {
        Some(Sha512)
    } else if *sig_alg == ID_EC_PUBLIC_KEY {
        Some(digest)
    } else {
        None
    };
    if let Some(h) = ecdsa_hash {
        if *spki_alg != ID_EC_PUBLIC_KEY {
            return None;
        }
        return match (curve?, h) {
            (c, Sha256) if c == ID_P256 => {
                Some(Verifier::Chop(SignatureAlgorithm::EcdsaP256Sha256))
            }
            (c, Sha384) if c == ID_P384 => {
                Some(Verifier::Chop(SignatureAlgorithm::EcdsaP384Sha384))
            }
            (c, Sha384) if c == ID_P256 => Some(Verifier::Ring(
                &rs::ECDSA_P256_SHA384_ASN1,
                "ECDSA P-256 / SHA-384",
            )),
            (c, Sha256) if c == ID_P384 => Some(Verifier::Ring(
                &rs::ECDSA_P384_SHA256_ASN1,
                "ECDSA P-384 / SHA-256",
            )),
            _ => None,
        };
    }
    let rsa_hash = if *sig_alg == rfc5912::SHA_256_WITH_RSA_ENCRYPTION {
        Some(Sha256)
    } else if *sig_alg == rfc5912::SHA_384_WITH_RSA_ENCRYPTION {
        Some(Sha384)
    } else if *sig_alg == rfc5912::SHA_512_WITH_RSA_ENCRYPTION {
        Some(Sha512)
    } else if *sig_alg == ID_RSA_ENCRYPTION {
        Some(digest)
    } else {
        None
    };
    if let Some(h) = rsa_hash {
        if *spki_alg != ID_RSA_ENCRYPTION {
            return None;
        }
        return Some(match h {
            Sha256 => Verifier::Chop(SignatureAlgorithm::RsaPkcs1Sha256),
            Sha384 => Verifier::Ring(&rs::RSA_PKCS1_2048_8192_SHA384, "RSA PKCS#1 v1.5 / SHA-384"),
            Sha512 => Verifier::Ring(&rs::RSA_PKCS1_2048_8192_SHA512, "RSA PKCS#1 v1.5 / SHA-512"),
        });
    }
    if *sig_alg == rfc8410::ID_ED_25519 && *spki_alg == rfc8410::ID_ED_25519 {
        return Some(Verifier::Chop(SignatureAlgorithm::Ed25519));
    }
    None
}

impl Verifier {
    fn name(&self) -> &'static str {
        match self {
            Self::Chop(a) => a.name(),
            Self::Ring(_, n) => n,
        }
    }

    fn verify(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Chop(a) => keys::verify_signature(*a, public_key, message, signature),
            Self::Ring(alg, _) => rs::UnparsedPublicKey::new(*alg, public_key)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// Key algorithm OID, named curve and raw public key of a certificate.
fn spki(cert_der: &[u8]) -> Option<(ObjectIdentifier, Option<ObjectIdentifier>, Vec<u8>)> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let pk = cert.public_key();
    let alg = ObjectIdentifier::new(&pk.algorithm.algorithm.to_id_string()).ok()?;
    let curve = pk
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .and_then(|o| ObjectIdentifier::new(&o.to_id_string()).ok());
    Some((alg, curve, pk.subject_public_key.data.to_vec()))
}

/// Decode a DER UTCTime or GeneralizedTime attribute value into Unix seconds.
fn der_time(value: &[u8]) -> Option<i64> {
    use der::Decode;
    match value.first()? {
        0x17 => der::asn1::UtcTime::from_der(value)
            .ok()
            .map(|t| t.to_unix_duration().as_secs() as i64),
        0x18 => der::asn1::GeneralizedTime::from_der(value)
            .ok()
            .map(|t| t.to_unix_duration().as_secs() as i64),
        _ => None,
    }
}

/// The bytes a signature covers: the ByteRange's two slices.
pub(crate) struct SignedBytes<'a> {
    pub parts: [&'a [u8]; 2],
    /// The SHA-256 state after `parts[0]`, when the caller has it already (the first part is
    /// a prefix of the file, whose SHA-256 the report needs anyway).
    pub sha256_after_first: Option<&'a ring::digest::Context>,
}

/// Check the CMS in `contents` against the digest of the signed bytes.
///
/// `cades` is true for `ETSI.CAdES.detached` (which requires signing-certificate-v2).
pub(crate) fn check(contents: &[u8], signed: SignedBytes<'_>, cades: bool) -> IntegrityOutcome {
    let mut out = IntegrityOutcome {
        integrity: Integrity::default(),
        signer_cert: None,
        failures: Vec::new(),
        warnings: Vec::new(),
        cms_signing_time: None,
        signed_data: None,
    };
    let sd = match parse::parse_signed_data(contents) {
        Ok(sd) => sd,
        Err(e) => {
            out.failures.push((
                SubIndication::FormatFailure,
                format!("/Contents is not a usable CMS SignedData: {e}"),
            ));
            return out;
        }
    };
    let Some(digest) = DigestAlgorithm::from_oid(&sd.digest_algorithm) else {
        out.integrity.digest_algorithm = sd.digest_algorithm.to_string();
        out.failures.push((
            SubIndication::CryptoConstraintsFailureNoPoe,
            format!(
                "digest algorithm {} is not supported (SHA-256, SHA-384, SHA-512 are)",
                sd.digest_algorithm
            ),
        ));
        return out;
    };
    out.integrity.digest_algorithm = digest.name().to_string();
    let computed = match signed.sha256_after_first {
        Some(state) if matches!(digest, DigestAlgorithm::Sha256) => {
            let mut ctx = state.clone();
            ctx.update(signed.parts[1]);
            ctx.finish()
        }
        _ => {
            let mut ctx = ring::digest::Context::new(digest.ring());
            ctx.update(signed.parts[0]);
            ctx.update(signed.parts[1]);
            ctx.finish()
        }
    };

    let mut attrs_ok = true;
    if sd.econtent_type != ID_DATA {
        attrs_ok = false;
        out.failures.push((
            SubIndication::FormatFailure,
            format!(
                "encapsulated content type is {}, not id-data",
                sd.econtent_type
            ),
        ));
    }
    if sd.econtent_present {
        attrs_ok = false;
        out.failures.push((
            SubIndication::FormatFailure,
            "the SignedData is not detached (eContent present)".into(),
        ));
    }

    let signer_cert = find_signer(&sd);
    if signer_cert.is_none() {
        out.failures.push((
            SubIndication::NoSigningCertificateFound,
            "no certificate in the CMS matches the signer identifier".into(),
        ));
    }

    // Signed attributes.
    let signed_message: Vec<u8> = match &sd.signed_attrs_der {
        Some(der_attrs) => {
            let ct = sd.signed_attr(&ID_CONTENT_TYPE);
            let ct_ok = ct.len() == 1
                && ct[0].values.len() == 1
                && parse::object_identifier(&ct[0].values[0]) == Some(sd.econtent_type);
            if !ct_ok {
                attrs_ok = false;
                out.failures.push((
                    SubIndication::FormatFailure,
                    "the content-type signed attribute is missing, repeated or wrong".into(),
                ));
            }
            let md = sd.signed_attr(&ID_MESSAGE_DIGEST);
            match md.as_slice() {
                [one] if one.values.len() == 1 => match parse::octet_string(&one.values[0]) {
                    Some(v) if v == computed.as_ref() => {
                        out.integrity.message_digest_matches = true
                    }
                    Some(_) => out.failures.push((
                        SubIndication::HashFailure,
                        "the message digest does not match the signed bytes".into(),
                    )),
                    None => {
                        attrs_ok = false;
                        out.failures.push((
                            SubIndication::FormatFailure,
                            "the message-digest attribute is not an OCTET STRING".into(),
                        ));
                    }
                },
                _ => {
                    attrs_ok = false;
                    out.failures.push((
                        SubIndication::FormatFailure,
                        "the message-digest signed attribute is missing or repeated".into(),
                    ));
                }
            }
            // signing-certificate(-v2), RFC 5035 §3 / ETSI EN 319 122-1 §5.2.2.
            let v2 = sd.signed_attr(&ID_SIGNING_CERTIFICATE_V2);
            let v1 = sd.signed_attr(&ID_SIGNING_CERTIFICATE);
            if let Some(cert) = &signer_cert {
                if let Some(attr) = v2.first() {
                    let ok = attr.values.len() == 1
                        && parse::signing_certificate_v2(&attr.values[0])
                            .and_then(|ids| ids.first().cloned())
                            .is_some_and(|(alg, hash)| {
                                DigestAlgorithm::from_oid(&alg)
                                    .is_some_and(|d| d.digest(cert) == hash)
                            });
                    if !ok {
                        attrs_ok = false;
                        out.failures.push((
                            SubIndication::NoSigningCertificateFound,
                            "the signing-certificate-v2 attribute does not name the signer certificate".into(),
                        ));
                    }
                } else if let Some(attr) = v1.first() {
                    let ok = attr.values.len() == 1
                        && parse::signing_certificate_v1(&attr.values[0])
                            .and_then(|ids| ids.first().cloned())
                            .is_some_and(|hash| {
                                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert)
                                    .as_ref()
                                    == hash.as_slice()
                            });
                    if !ok {
                        attrs_ok = false;
                        out.failures.push((
                            SubIndication::NoSigningCertificateFound,
                            "the signing-certificate attribute does not name the signer certificate".into(),
                        ));
                    }
                    out.warnings.push(
                        "signing-certificate (v1, SHA-1) is used instead of signing-certificate-v2"
                            .into(),
                    );
                } else if cades {
                    attrs_ok = false;
                    out.failures.push((
                        SubIndication::NoSigningCertificateFound,
                        "ETSI.CAdES.detached requires a signing-certificate-v2 signed attribute (ETSI EN 319 142-1 §5.2)".into(),
                    ));
                }
            }
            if let Some(st) = sd.signed_attr(&ID_SIGNING_TIME).first() {
                out.cms_signing_time = st.values.first().and_then(|v| der_time(v));
                if cades {
                    out.warnings.push(
                        "the CMS carries a signing-time attribute, which PAdES forbids (ETSI EN 319 142-1 §5.2.3): the time belongs in /M".into(),
                    );
                }
            }
            der_attrs.clone()
        }
        None => {
            if cades {
                attrs_ok = false;
                out.failures.push((
                    SubIndication::FormatFailure,
                    "ETSI.CAdES.detached requires signed attributes".into(),
                ));
            }
            // Without signed attributes the signature covers the content itself.
            let mut whole = signed.parts[0].to_vec();
            whole.extend_from_slice(signed.parts[1]);
            out.integrity.message_digest_matches = true;
            whole
        }
    };
    out.integrity.signed_attributes_well_formed = attrs_ok;

    // The signature value.
    if let Some(cert) = &signer_cert {
        match spki(cert) {
            Some((alg, curve, key)) => {
                match verifier(&sd.signature_algorithm, digest, &alg, curve) {
                    Some(v) => {
                        out.integrity.signature_algorithm = v.name().to_string();
                        if v.verify(&key, &signed_message, &sd.signature) {
                            out.integrity.signature_verifies = true;
                        } else {
                            out.failures.push((
                                SubIndication::SigCryptoFailure,
                                "the signature value does not verify with the signer's public key"
                                    .into(),
                            ));
                        }
                    }
                    None => {
                        out.integrity.signature_algorithm = sd.signature_algorithm.to_string();
                        out.failures.push((
                            SubIndication::CryptoConstraintsFailureNoPoe,
                            format!(
                                "signature algorithm {} with a {} key is not supported",
                                sd.signature_algorithm, alg
                            ),
                        ));
                    }
                }
            }
            None => out.failures.push((
                SubIndication::FormatFailure,
                "the signer certificate cannot be parsed".into(),
            )),
        }
    }
    out.signer_cert = signer_cert;
    out.signed_data = Some(sd);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_cms_is_a_format_failure() {
        let out = check(
            b"\x30\x03\x02\x01\x00",
            SignedBytes {
                parts: [b"a", b"b"],
                sha256_after_first: None,
            },
            true,
        );
        assert_eq!(out.failures[0].0, SubIndication::FormatFailure);
        assert!(!out.integrity.signature_verifies);
    }

    #[test]
    fn algorithm_table() {
        let p256 = Some(ID_P256);
        let v = verifier(
            &rfc5912::ECDSA_WITH_SHA_256,
            DigestAlgorithm::Sha256,
            &ID_EC_PUBLIC_KEY,
            p256,
        )
        .unwrap();
        assert_eq!(v.name(), "ECDSA P-256 / SHA-256");
        assert!(
            verifier(
                &rfc5912::ECDSA_WITH_SHA_256,
                DigestAlgorithm::Sha256,
                &ID_RSA_ENCRYPTION,
                None
            )
            .is_none()
        );
        let v = verifier(
            &ID_RSA_ENCRYPTION,
            DigestAlgorithm::Sha512,
            &ID_RSA_ENCRYPTION,
            None,
        )
        .unwrap();
        assert_eq!(v.name(), "RSA PKCS#1 v1.5 / SHA-512");
    }

    #[test]
    fn reads_der_times() {
        // UTCTime 2026-01-02 03:04:05Z
        let t = b"\x17\x0d260102030405Z";
        assert_eq!(der_time(t), Some(1_767_323_045));
    }
}
