//! Certificates as DER bytes: loading PEM bundles and reading the few fields sealing needs.
//!
//! Full path validation lives in `verify`; this module only answers "which key is in this
//! certificate" and "who is its subject", using `x509-parser`.

use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("not a PEM file: {0}")]
    NotPem(String),
    #[error("the PEM file holds no CERTIFICATE block")]
    Empty,
    #[error("not a DER X.509 certificate: {0}")]
    BadDer(String),
}

/// Every `CERTIFICATE` block of a PEM text, in order, as DER.
pub fn certificates_from_pem(text: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let blocks = pem::parse_many(text).map_err(|e| CertError::NotPem(e.to_string()))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    for c in &certs {
        parse(c)?;
    }
    if certs.is_empty() {
        return Err(CertError::Empty);
    }
    Ok(certs)
}

/// Parse a DER certificate, insisting there are no trailing bytes.
pub fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertError::BadDer(
            "trailing bytes after the certificate".into(),
        )),
        Err(e) => Err(CertError::BadDer(e.to_string())),
    }
}

/// The `subjectPublicKey` bytes of a certificate (compare with [`crate::keys::Signer::public_key`]).
pub fn public_key(der: &[u8]) -> Result<Vec<u8>, CertError> {
    Ok(parse(der)?.public_key().subject_public_key.data.to_vec())
}

/// The subject as an RFC 4514 string.
pub fn subject(der: &[u8]) -> Result<String, CertError> {
    Ok(parse(der)?.subject().to_string())
}

/// SHA-256 of the DER certificate, lower-case hex.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}
