//! C2SP signed notes (<https://c2sp.org/signed-note>, v1.0.0) with Ed25519 keys (signature
//! type 0x01), the format of Go's `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is the text (ending in a newline), a blank line, then one or more lines
//! `— <key name> base64(key ID ‖ signature)` (U+2014 EM DASH, space). The key ID is
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`, big-endian; a verifier key is written
//! `<name>+<key ID as 8 hex digits>+base64(0x01 ‖ public key)`, a signer key
//! `PRIVATE+KEY+<name>+<key ID>+base64(0x01 ‖ 32-byte seed)`.
//!
//! Parsing is strict: valid UTF-8, no control characters but newline, canonical base64, key
//! names without Unicode spaces or `+`. Opening a note follows the spec's rules: signatures by
//! unknown keys are ignored, a signature by the known key that does not verify rejects the whole
//! note, and a note without a verified signature is rejected. Secret keys are opaque: no `Debug`
//! output, no accessor to the seed, private key text zeroed on drop.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::merkle::Hash;

/// Signature type identifier of Ed25519 signatures (signed-note "Signature types").
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// Most signature lines accepted in one note (the spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Largest signed note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The em dash and space that begin every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note or a key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note text or message breaks the signed-note format.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A key name is empty or contains a Unicode space or `+`.
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    InvalidKeyName(String),
    /// A verifier or signer key string is not `name+hash+base64` (with `PRIVATE+KEY+` for signers).
    #[error("malformed {0} key string")]
    MalformedKey(&'static str),
    /// The key ID in a key string does not match the key.
    #[error("key ID in the key string does not match the key")]
    KeyIdMismatch,
    /// A signature type other than Ed25519.
    #[error("unsupported signature type 0x{0:02x} (only Ed25519, 0x01)")]
    UnsupportedAlgorithm(u8),
    /// `ring` rejected the key material.
    #[error("key rejected: {0}")]
    KeyRejected(String),
    /// A signature by the trusted key failed to verify (the whole note is rejected).
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name on the signature line.
        name: String,
        /// Key ID on the signature line.
        key_id: u32,
    },
    /// No signature line is from the trusted key.
    #[error("note has no signature from key {0}")]
    NoVerifiableSignature(String),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// The key ID of a public key: big-endian `SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4]`.
pub fn key_id(name: &str, signature_type: u8, public_key: &[u8]) -> u32 {
    let mut input = Vec::with_capacity(name.len() + 2 + public_key.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(signature_type);
    input.extend_from_slice(public_key);
    let h = Hash::sha256(&input);
    u32::from_be_bytes([h.0[0], h.0[1], h.0[2], h.0[3]])
}

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName(name.to_owned()))
    }
}

/// Parses exactly 8 lower-case hex digits.
fn parse_key_id(text: &str) -> Option<u32> {
    if text.len() != 8 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// A public Ed25519 note key: verifies signatures by one named key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    public_key: [u8; 32],
}

impl NoteVerifier {
    /// A verifier for the Ed25519 `public_key` (32 bytes) named `name`.
    pub fn new_ed25519(name: &str, public_key: &[u8]) -> Result<NoteVerifier, NoteError> {
        check_name(name)?;
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| NoteError::KeyRejected("an Ed25519 public key is 32 bytes".into()))?;
        Ok(NoteVerifier {
            key_id: key_id(name, ED25519_SIGNATURE_TYPE, &public_key),
            name: name.to_owned(),
            public_key,
        })
    }

    /// Parses a verifier key string `name+hash+base64(0x01 ‖ key)`, checking the key ID.
    pub fn from_key_string(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::MalformedKey("verifier"))?;
        let (hash, key64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedKey("verifier"))?;
        let id = parse_key_id(hash).ok_or(NoteError::MalformedKey("verifier"))?;
        check_name(name)?;
        let key = BASE64
            .decode(key64)
            .map_err(|_| NoteError::MalformedKey("verifier"))?;
        let (&alg, public_key) = key
            .split_first()
            .ok_or(NoteError::MalformedKey("verifier"))?;
        if id != key_id(name, alg, public_key) {
            return Err(NoteError::KeyIdMismatch);
        }
        if alg != ED25519_SIGNATURE_TYPE {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        if public_key.len() != 32 {
            return Err(NoteError::MalformedKey("verifier"));
        }
        NoteVerifier::new_ed25519(name, public_key)
    }

    /// The verifier key string `name+hash+base64(0x01 ‖ key)`.
    pub fn key_string(&self) -> String {
        let mut typed = vec![ED25519_SIGNATURE_TYPE];
        typed.extend_from_slice(&self.public_key);
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(typed))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// Whether `signature` is this key's Ed25519 signature (RFC 8032) of `msg`.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(msg, signature)
            .is_ok()
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.key_string())
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key_string())
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, NoteError> {
        NoteVerifier::from_key_string(s)
    }
}

/// A secret signer key string (`PRIVATE+KEY+…`), zeroed when dropped and never printed.
pub struct PrivateKeyText(Zeroizing<String>);

impl PrivateKeyText {
    /// The key string, to be written to a file only the log's operator can read.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyText(<redacted>)")
    }
}

/// A secret Ed25519 note key: signs notes under one name.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: Ed25519KeyPair,
}

impl NoteSigner {
    /// Generates a new key named `name`; returns the signer and its `PRIVATE+KEY+…` string.
    pub fn generate(name: &str) -> Result<(NoteSigner, PrivateKeyText), NoteError> {
        check_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(seed.as_mut())
            .map_err(|_| NoteError::Random)?;
        let signer = NoteSigner::from_seed(name, seed.as_ref())?;
        let mut typed = Zeroizing::new(vec![ED25519_SIGNATURE_TYPE]);
        typed.extend_from_slice(seed.as_ref());
        let text = Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            name,
            signer.key_id,
            BASE64.encode(typed.as_slice())
        ));
        Ok((signer, PrivateKeyText(text)))
    }

    /// Loads a `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)` string (Go `note.NewSigner` form),
    /// checking the key ID against the derived public key.
    pub fn from_private_key_string(skey: &str) -> Result<NoteSigner, NoteError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey("signer"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedKey("signer"))?;
        let (hash, key64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedKey("signer"))?;
        let id = parse_key_id(hash).ok_or(NoteError::MalformedKey("signer"))?;
        check_name(name)?;
        let key = Zeroizing::new(
            BASE64
                .decode(key64)
                .map_err(|_| NoteError::MalformedKey("signer"))?,
        );
        let (&alg, seed) = key.split_first().ok_or(NoteError::MalformedKey("signer"))?;
        if alg != ED25519_SIGNATURE_TYPE {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        if seed.len() != 32 {
            return Err(NoteError::MalformedKey("signer"));
        }
        let signer = NoteSigner::from_seed(name, seed)?;
        if signer.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// Loads an Ed25519 PKCS#8 key (RFC 8410, v1 or v2 DER) and names it `name`.
    pub fn from_pkcs8(name: &str, der: &[u8]) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| NoteError::KeyRejected(e.to_string()))?;
        Ok(NoteSigner::from_key_pair(name, key))
    }

    fn from_seed(name: &str, seed: &[u8]) -> Result<NoteSigner, NoteError> {
        let key = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| NoteError::KeyRejected(e.to_string()))?;
        Ok(NoteSigner::from_key_pair(name, key))
    }

    fn from_key_pair(name: &str, key: Ed25519KeyPair) -> NoteSigner {
        let key_id = key_id(name, ED25519_SIGNATURE_TYPE, key.public_key().as_ref());
        NoteSigner {
            name: name.to_owned(),
            key_id,
            key,
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching public verifier.
    pub fn verifier(&self) -> NoteVerifier {
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.key.public_key().as_ref());
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key,
        }
    }

    /// The 64-byte Ed25519 signature (RFC 8032) of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign(msg).as_ref().to_vec()
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x}, <secret>)", self.name, self.key_id)
    }
}

/// One signature line of a note (not necessarily verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name on the line.
    pub name: String,
    /// Key ID (the first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line `— name base64(key ID ‖ signature)` with its final newline.
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }
}

/// A note split into its text and signature lines, none verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// The signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// A note with a verified signature by the trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// The signature made by the trusted key.
    pub verified: NoteSignature,
    /// Signatures by other (unknown) keys, e.g. witness cosignatures, left unchecked.
    pub others: Vec<NoteSignature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "text must be non-empty and end with a newline",
        ));
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::Malformed("control character other than newline"));
    }
    Ok(())
}

/// Signs `text` (which must end in a newline) with `signer`, returning the whole signed note.
pub fn sign_note(text: &str, signer: &NoteSigner) -> Result<String, NoteError> {
    check_text(text)?;
    let sig = NoteSignature {
        name: signer.name.clone(),
        key_id: signer.key_id,
        signature: signer.sign(text.as_bytes()),
    };
    Ok(format!("{text}\n{}", sig.to_line()))
}

/// Splits a signed note into text and signature lines, checking the format strictly.
pub fn parse_note(msg: &[u8]) -> Result<Note, NoteError> {
    if msg.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("note too large"));
    }
    let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not valid UTF-8"))?;
    if msg.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::Malformed("control character other than newline"));
    }
    // The text ends at the last blank line; everything after it is signature lines.
    let split = msg
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block must be non-empty and end with a newline",
        ));
    }
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with an em dash and a space",
        ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line without a signature"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed("invalid key name on a signature line"));
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not canonical base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed(
                "signature shorter than a key ID and one byte",
            ));
        }
        let (id, signature) = raw.split_at(4);
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: signature.to_vec(),
        });
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

/// Parses `msg` and verifies it against the one trusted `verifier` (signed-note §Signatures):
/// unknown keys are ignored, a bad signature by the trusted key rejects the note, and at least
/// one signature by the trusted key must verify.
pub fn open_note(msg: &[u8], verifier: &NoteVerifier) -> Result<VerifiedNote, NoteError> {
    let note = parse_note(msg)?;
    let mut verified = None;
    let mut others = Vec::new();
    for sig in note.signatures {
        if sig.name == verifier.name && sig.key_id == verifier.key_id {
            if !verifier.verify(note.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name,
                    key_id: sig.key_id,
                });
            }
            if verified.is_none() {
                verified = Some(sig);
            }
        } else {
            others.push(sig);
        }
    }
    let verified = verified.ok_or_else(|| {
        NoteError::NoVerifiableSignature(format!("{}+{:08x}", verifier.name, verifier.key_id))
    })?;
    Ok(VerifiedNote {
        text: note.text,
        verified,
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from Go's golang.org/x/mod/sumdb/note note_test.go (TestSign, TestOpen,
    // TestNewVerifier, TestNewSigner).
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    #[test]
    fn go_known_answer_sign() {
        let signer = NoteSigner::from_private_key_string(PETER_SKEY).unwrap();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier().key_string(), PETER_VKEY);
        // Ed25519 is deterministic, so the signed note is byte-for-byte Go's.
        assert_eq!(
            sign_note(TEXT, &signer).unwrap(),
            format!("{TEXT}\n{PETER_SIG}")
        );
    }

    #[test]
    fn go_known_answer_open() {
        let peter = NoteVerifier::from_key_string(PETER_VKEY).unwrap();
        let enoch = NoteVerifier::from_key_string(ENOCH_VKEY).unwrap();
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = open_note(msg.as_bytes(), &peter).unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!(
            (n.verified.name.as_str(), n.verified.key_id),
            ("PeterNeumann", 0xc74f20a3)
        );
        assert_eq!(n.others.len(), 1);
        assert_eq!(n.others[0].key_id, 0xaf0cfe78);
        let n = open_note(msg.as_bytes(), &enoch).unwrap();
        assert_eq!(n.verified.name, "EnochRoot");

        // A verifier that matches no line: rejected.
        let (other, _) = NoteSigner::generate("Someone").unwrap();
        assert!(matches!(
            open_note(msg.as_bytes(), &other.verifier()),
            Err(NoteError::NoVerifiableSignature(_))
        ));

        // A corrupted signature by the trusted key rejects the note (Go's "ABCD" insertion).
        let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert!(matches!(
            open_note(bad.as_bytes(), &peter),
            Err(NoteError::InvalidSignature { .. })
        ));
        // ... but a corrupted signature by an unknown key is ignored.
        let bad_enoch = format!(
            "{TEXT}\n{PETER_SIG}{}ABCD{}",
            &ENOCH_SIG[..60],
            &ENOCH_SIG[60..]
        );
        assert!(open_note(bad_enoch.as_bytes(), &peter).is_ok());

        // A signature copied under another name is an unknown key.
        let renamed = format!(
            "{TEXT}\n{}",
            PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
        );
        assert!(matches!(
            open_note(renamed.as_bytes(), &peter),
            Err(NoteError::NoVerifiableSignature(_))
        ));
    }

    #[test]
    fn go_malformed_messages() {
        let peter = NoteVerifier::from_key_string(PETER_VKEY).unwrap();
        let bad = [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!(
                "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!(
                "{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{TEXT}\n\u{2014} PeterNeumann x08g\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
            format!("{TEXT}\r\n{PETER_SIG}"),
        ];
        for msg in bad {
            let err = open_note(msg.as_bytes(), &peter).unwrap_err();
            assert!(matches!(err, NoteError::Malformed(_)), "{msg:?}: {err}");
        }
        assert!(matches!(
            open_note(b"\xff\n\n\xe2\x80\x94 a b\n", &peter),
            Err(NoteError::Malformed(_))
        ));
        let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert_eq!(
            open_note(many.as_bytes(), &peter),
            Err(NoteError::TooManySignatures)
        );
        let sixteen = format!("{TEXT}\n{}", ENOCH_SIG.repeat(15) + PETER_SIG);
        assert!(open_note(sixteen.as_bytes(), &peter).is_ok());
    }

    /// Go's TestNewVerifier / TestNewSigner: every truncation and every single-byte change of a
    /// key string is rejected.
    #[test]
    fn mangled_key_strings_are_rejected() {
        for (good, parse) in [
            (
                PETER_VKEY,
                (|s: &str| NoteVerifier::from_key_string(s).is_ok()) as fn(&str) -> bool,
            ),
            (PETER_SKEY, |s: &str| {
                NoteSigner::from_private_key_string(s).is_ok()
            }),
        ] {
            assert!(parse(good));
            let b = good.as_bytes();
            for i in 0..=b.len() {
                for j in i + 1..=b.len() {
                    if (i, j) != (0, b.len())
                        && let Ok(s) = std::str::from_utf8(&b[i..j])
                    {
                        assert!(!parse(s), "accepted {s:?}");
                    }
                }
            }
            for i in 0..b.len() {
                let mut m = b.to_vec();
                m[i] = m[i].wrapping_add(1);
                if let Ok(s) = std::str::from_utf8(&m) {
                    assert!(!parse(s), "accepted {s:?}");
                }
            }
        }
        // Wrong key length and unknown algorithm, each with an adjusted key hash (Go's cases).
        assert!(
            NoteVerifier::from_key_string(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .is_err()
        );
        assert_eq!(
            NoteVerifier::from_key_string(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedAlgorithm(0x65))
        );
    }

    #[test]
    fn generated_keys_round_trip() {
        let (signer, text) = NoteSigner::generate("chop.local/archive").unwrap();
        assert!(text.expose().starts_with("PRIVATE+KEY+chop.local/archive+"));
        assert_eq!(format!("{text:?}"), "PrivateKeyText(<redacted>)");
        assert!(!format!("{signer:?}").contains(&text.expose()[30..]));
        let again = NoteSigner::from_private_key_string(text.expose()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        let v: NoteVerifier = signer.verifier().to_string().parse().unwrap();
        let msg = sign_note("hi\n", &again).unwrap();
        assert_eq!(open_note(msg.as_bytes(), &v).unwrap().text, "hi\n");
        assert!(NoteSigner::generate("bad name").is_err());
        assert!(sign_note("no newline", &signer).is_err());
        assert!(sign_note("tab\there\n", &signer).is_err());
    }

    #[test]
    fn pkcs8_keys_load() {
        let rng = SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let signer = NoteSigner::from_pkcs8("log.example", doc.as_ref()).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        assert_eq!(
            signer.verifier().public_key().as_slice(),
            kp.public_key().as_ref()
        );
        assert!(NoteSigner::from_pkcs8("log.example", b"not der").is_err());
    }

    #[test]
    fn text_may_contain_blank_lines() {
        let (signer, _) = NoteSigner::generate("k").unwrap();
        let msg = sign_note("a\n\nb\n", &signer).unwrap();
        let n = open_note(msg.as_bytes(), &signer.verifier()).unwrap();
        assert_eq!(n.text, "a\n\nb\n");
    }
}
