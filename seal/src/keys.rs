//! Signing keys: the [`Signer`] trait and a software key loaded from PKCS#8.
//!
//! Key material is opaque: no type here implements `Debug` over secret bytes, and errors say
//! what is wrong with a key without echoing any of it (the manners of `ring`).

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

/// Signature algorithms Chop can produce (and verify).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SignatureAlgorithm {
    /// ECDSA over P-256 with SHA-256, DER-encoded `Ecdsa-Sig-Value` (the default).
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384.
    EcdsaP384Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (imported keys only: `ring` cannot generate RSA keys).
    RsaPkcs1Sha256,
    /// Ed25519 (used for archive checkpoints; pdfsig rejects it in PDF signatures).
    Ed25519,
}

impl SignatureAlgorithm {
    /// The digest algorithm paired with this signature algorithm in CMS.
    pub fn digest(self) -> DigestAlgorithm {
        match self {
            Self::EcdsaP384Sha384 => DigestAlgorithm::Sha384,
            Self::EcdsaP256Sha256 | Self::RsaPkcs1Sha256 => DigestAlgorithm::Sha256,
            Self::Ed25519 => DigestAlgorithm::Sha512,
        }
    }

    /// The X.509 / CMS signature algorithm OID (RFC 5758, RFC 4055, RFC 8410).
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        use const_oid::db::{rfc5912, rfc8410};
        match self {
            Self::EcdsaP256Sha256 => rfc5912::ECDSA_WITH_SHA_256,
            Self::EcdsaP384Sha384 => rfc5912::ECDSA_WITH_SHA_384,
            Self::RsaPkcs1Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            Self::Ed25519 => rfc8410::ID_ED_25519,
        }
    }

    /// Human-readable name, e.g. `ECDSA P-256 / SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ECDSA P-256 / SHA-256",
            Self::EcdsaP384Sha384 => "ECDSA P-384 / SHA-384",
            Self::RsaPkcs1Sha256 => "RSA PKCS#1 v1.5 / SHA-256",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// Digest algorithms used in CMS and seal objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// The `ring` algorithm.
    pub fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            Self::Sha256 => &ring::digest::SHA256,
            Self::Sha384 => &ring::digest::SHA384,
            Self::Sha512 => &ring::digest::SHA512,
        }
    }

    /// Digest `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.ring(), data).as_ref().to_vec()
    }

    /// The NIST hash OID (RFC 5754 / RFC 8017).
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        use const_oid::db::rfc5912;
        match self {
            Self::Sha256 => rfc5912::ID_SHA_256,
            Self::Sha384 => rfc5912::ID_SHA_384,
            Self::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// Recognise a hash OID.
    pub fn from_oid(oid: &const_oid::ObjectIdentifier) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|d| d.oid() == *oid)
    }

    /// Name as used in reports, e.g. `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// Something that signs: a software key today, a PKCS#11 token later.
pub trait Signer: Send + Sync {
    /// The algorithm `sign` produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The public key as it appears in a certificate's `subjectPublicKey` BIT STRING
    /// (an uncompressed EC point, a DER `RSAPublicKey`, or 32 Ed25519 bytes).
    fn public_key(&self) -> &[u8];
    /// Sign `message` (the signer hashes it).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Why a key could not be loaded or used. Never carries key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key file is not PEM: {0}")]
    NotPem(String),
    #[error("expected a PEM 'PRIVATE KEY' (PKCS#8) block, found '{0}'")]
    WrongPemLabel(String),
    #[error(
        "the private key is not an unencrypted PKCS#8 ECDSA P-256, ECDSA P-384, RSA (2048 bits or more) or Ed25519 key"
    )]
    Unsupported,
    #[error("signing failed")]
    SigningFailed,
}

enum Inner {
    Ecdsa(EcdsaKeyPair, SignatureAlgorithm),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key held in memory, loaded from PKCS#8.
pub struct SoftwareKey {
    inner: Inner,
    rng: SystemRandom,
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Load a PEM `PRIVATE KEY` block (PKCS#8, unencrypted).
    pub fn from_pkcs8_pem(pem_text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(pem_text).map_err(|e| KeyError::NotPem(e.to_string()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(KeyError::WrongPemLabel(block.tag().to_string()));
        }
        Self::from_pkcs8_der(block.contents())
    }

    /// Load a DER PKCS#8 `PrivateKeyInfo`, trying each supported algorithm.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let inner = if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
        {
            Inner::Ecdsa(k, SignatureAlgorithm::EcdsaP256Sha256)
        } else if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, der, &rng)
        {
            Inner::Ecdsa(k, SignatureAlgorithm::EcdsaP384Sha384)
        } else if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            Inner::Rsa(k)
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Inner::Ed25519(k)
        } else {
            return Err(KeyError::Unsupported);
        };
        Ok(Self { inner, rng })
    }

    /// Generate a fresh ECDSA key (P-256 or P-384); returns the key and its PKCS#8 DER.
    pub fn generate_ecdsa(alg: SignatureAlgorithm) -> Result<(Self, Vec<u8>), KeyError> {
        let ring_alg = match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            SignatureAlgorithm::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            _ => return Err(KeyError::Unsupported),
        };
        let rng = SystemRandom::new();
        let doc =
            EcdsaKeyPair::generate_pkcs8(ring_alg, &rng).map_err(|_| KeyError::SigningFailed)?;
        let der = doc.as_ref().to_vec();
        Ok((Self::from_pkcs8_der(&der)?, der))
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        match &self.inner {
            Inner::Ecdsa(_, alg) => *alg,
            Inner::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
            Inner::Ed25519(_) => SignatureAlgorithm::Ed25519,
        }
    }

    fn public_key(&self) -> &[u8] {
        match &self.inner {
            Inner::Ecdsa(k, _) => k.public_key().as_ref(),
            Inner::Rsa(k) => k.public_key().as_ref(),
            Inner::Ed25519(k) => k.public_key().as_ref(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Ecdsa(k, _) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::SigningFailed),
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::SigningFailed)?;
                Ok(sig)
            }
            Inner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// Verify `signature` over `message` with a public key in `subjectPublicKey` form.
///
/// `alg` names the signature algorithm; the caller maps OIDs to it.
pub fn verify_signature(
    alg: SignatureAlgorithm,
    public_key: &[u8],
    message: &[u8],
    signature_bytes: &[u8],
) -> bool {
    let ring_alg: &dyn signature::VerificationAlgorithm = match alg {
        SignatureAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureAlgorithm::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        SignatureAlgorithm::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureAlgorithm::Ed25519 => &signature::ED25519,
    };
    signature::UnparsedPublicKey::new(ring_alg, public_key)
        .verify(message, signature_bytes)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_p256_key_signs_and_verifies() {
        let (key, der) = SoftwareKey::generate_ecdsa(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let sig = key.sign(b"hello").unwrap();
        assert!(verify_signature(
            SignatureAlgorithm::EcdsaP256Sha256,
            key.public_key(),
            b"hello",
            &sig
        ));
        assert!(!verify_signature(
            SignatureAlgorithm::EcdsaP256Sha256,
            key.public_key(),
            b"hellO",
            &sig
        ));
        let again = SoftwareKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(again.public_key(), key.public_key());
    }

    #[test]
    fn debug_never_prints_key_material() {
        let (key, _) = SoftwareKey::generate_ecdsa(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
        let s = format!("{key:?}");
        assert_eq!(s, "SoftwareKey { algorithm: EcdsaP384Sha384, .. }");
    }

    #[test]
    fn garbage_is_rejected_without_echo() {
        let err = SoftwareKey::from_pkcs8_der(b"not a key").unwrap_err();
        assert!(matches!(err, KeyError::Unsupported));
        let err = SoftwareKey::from_pkcs8_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err();
        assert!(matches!(err, KeyError::WrongPemLabel(_)));
    }
}
