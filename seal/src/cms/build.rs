//! Building the detached CMS SignedData embedded in a PAdES signature.
//!
//! Profile (ETSI EN 319 142-1 §6.3, PAdES baseline B-B; ETSI EN 319 122-1 for the CAdES part):
//! - `SignedData` version 1, one `SignerInfo` (version 1, `issuerAndSerialNumber`),
//!   `encapContentInfo` = `id-data` with no content (detached);
//! - signed attributes: `content-type`, `message-digest`, `signing-certificate-v2`
//!   (RFC 5035, with `issuerSerial`), and Chop's GB/T 38540 seal attribute
//!   ([`super::ID_CHOP_SESEAL`]) when a seal is given — so the signature covers the seal;
//! - no `signing-time` attribute (PAdES puts the claimed time in the signature dictionary `/M`);
//! - `certificates` = the signer certificate followed by its chain.

use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};

use crate::keys::{DigestAlgorithm, KeyError, SignatureAlgorithm, Signer};

/// Why a SignedData could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("certificate {index} is not a DER X.509 certificate: {reason}")]
    BadCertificate { index: usize, reason: String },
    #[error("certificate {index} is not in canonical DER (re-encoding changes it)")]
    NonCanonicalCertificate { index: usize },
    #[error("the private key does not match the signer certificate")]
    KeyMismatch,
    #[error("DER encoding failed: {0}")]
    Der(#[from] der::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// `ESSCertIDv2` (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// Absent means SHA-256 (DER omits the DEFAULT value).
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// The certificate's issuer and serial number.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial` (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The issuer as a `GeneralNames` holding one `directoryName`.
    pub issuer: Vec<GeneralName>,
    /// The certificate serial number.
    pub serial_number: SerialNumber,
}

/// `SigningCertificateV2` (RFC 5035 §3), without policies.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signer certificate first.
    pub certs: Vec<EssCertIdV2>,
}

/// What to sign and with what.
pub struct SignedDataRequest<'a> {
    /// Digest of the signed content (for PDF: of the ByteRange), made with `signer.algorithm().digest()`.
    pub content_digest: &'a [u8],
    /// DER signer certificate.
    pub signer_cert: &'a [u8],
    /// DER chain certificates (issuing CA, …, root), included after the signer certificate.
    pub chain: &'a [Vec<u8>],
    /// DER GB/T 38540 seal object to bind as a signed attribute.
    pub seal: Option<&'a [u8]>,
}

fn algorithm_identifier(alg: SignatureAlgorithm) -> AlgorithmIdentifierOwned {
    let parameters = match alg {
        // RFC 4055 §5: NULL parameters for sha256WithRSAEncryption.
        SignatureAlgorithm::RsaPkcs1Sha256 => Some(Any::null()),
        _ => None,
    };
    AlgorithmIdentifierOwned {
        oid: alg.oid(),
        parameters,
    }
}

fn digest_identifier(d: DigestAlgorithm) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: d.oid(),
        parameters: None,
    }
}

fn attribute(oid: const_oid::ObjectIdentifier, value: Any) -> Result<Attribute, BuildError> {
    let values = SetOfVec::try_from(vec![value])?;
    Ok(Attribute { oid, values })
}

fn parse_certificate(index: usize, der_bytes: &[u8]) -> Result<Certificate, BuildError> {
    let cert = Certificate::from_der(der_bytes).map_err(|e| BuildError::BadCertificate {
        index,
        reason: e.to_string(),
    })?;
    if cert.to_der()? != der_bytes {
        return Err(BuildError::NonCanonicalCertificate { index });
    }
    Ok(cert)
}

/// The signed attributes, in the order they are listed in the module docs (DER sorts them).
fn signed_attributes(
    digest: DigestAlgorithm,
    content_digest: &[u8],
    signer: &Certificate,
    signer_der: &[u8],
    seal: Option<&[u8]>,
) -> Result<SetOfVec<Attribute>, BuildError> {
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(DigestAlgorithm::Sha256.digest(signer_der))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    signer.tbs_certificate().issuer().clone(),
                )],
                serial_number: signer.tbs_certificate().serial_number().clone(),
            }),
        }],
    };
    let mut attrs = vec![
        attribute(super::ID_CONTENT_TYPE, Any::encode_from(&super::ID_DATA)?)?,
        attribute(
            super::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest)?)?,
        )?,
        attribute(super::ID_SIGNING_CERTIFICATE_V2, Any::encode_from(&ess)?)?,
    ];
    if let Some(seal) = seal {
        attrs.push(attribute(
            super::ID_CHOP_SESEAL,
            Any::encode_from(&OctetString::new(seal)?)?,
        )?);
    }
    let _ = digest;
    Ok(SetOfVec::try_from(attrs)?)
}

/// Build a DER `ContentInfo` holding a detached `SignedData`, signing with `signer`.
///
/// Refuses when the key does not belong to the signer certificate.
pub fn build_signed_data(
    req: &SignedDataRequest<'_>,
    signer: &dyn Signer,
) -> Result<Vec<u8>, BuildError> {
    let signer_cert = parse_certificate(0, req.signer_cert)?;
    let spk = signer_cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    if spk != signer.public_key() {
        return Err(BuildError::KeyMismatch);
    }
    let alg = signer.algorithm();
    let digest = alg.digest();
    let attrs = signed_attributes(
        digest,
        req.content_digest,
        &signer_cert,
        req.signer_cert,
        req.seal,
    )?;
    // RFC 5652 §5.4: the signature is over the DER of the SET OF attributes (tag 0x31).
    let signature = signer.sign(&attrs.to_der()?)?;
    assemble(req, signer_cert, alg, attrs, signature)
}

/// Size in bytes of the SignedData [`build_signed_data`] would produce, computed with a
/// placeholder signature of the largest size `alg` can give. Used to reserve `/Contents`.
pub fn estimate_size(
    req: &SignedDataRequest<'_>,
    alg: SignatureAlgorithm,
    public_key_len: usize,
) -> Result<usize, BuildError> {
    let signer_cert = parse_certificate(0, req.signer_cert)?;
    let attrs = signed_attributes(
        alg.digest(),
        req.content_digest,
        &signer_cert,
        req.signer_cert,
        req.seal,
    )?;
    let max_sig = match alg {
        // DER Ecdsa-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }, each up to n+1 bytes.
        SignatureAlgorithm::EcdsaP256Sha256 => 2 + 2 * (2 + 33),
        SignatureAlgorithm::EcdsaP384Sha384 => 3 + 2 * (2 + 49),
        // The modulus length bounds an RSA signature; the public key DER is a little longer.
        SignatureAlgorithm::RsaPkcs1Sha256 => public_key_len,
        SignatureAlgorithm::Ed25519 => 64,
    };
    Ok(assemble(req, signer_cert, alg, attrs, vec![0u8; max_sig])?.len())
}

fn assemble(
    req: &SignedDataRequest<'_>,
    signer_cert: Certificate,
    alg: SignatureAlgorithm,
    attrs: SetOfVec<Attribute>,
    signature: Vec<u8>,
) -> Result<Vec<u8>, BuildError> {
    let digest = alg.digest();
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: signer_cert.tbs_certificate().issuer().clone(),
        serial_number: signer_cert.tbs_certificate().serial_number().clone(),
    });
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid,
        digest_alg: digest_identifier(digest),
        signed_attrs: Some(attrs),
        signature_algorithm: algorithm_identifier(alg),
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let mut certs = vec![CertificateChoices::Certificate(signer_cert)];
    for (i, c) in req.chain.iter().enumerate() {
        certs.push(CertificateChoices::Certificate(parse_certificate(
            i + 1,
            c,
        )?));
    }
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_identifier(digest)])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: super::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let content_info = ContentInfo {
        content_type: super::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}
