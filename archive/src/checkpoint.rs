//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>): a log's tree head as the text of
//! a signed note (<https://c2sp.org/signed-note>).
//!
//! The note text is three or more non-empty lines: the origin, the tree size in ASCII decimal
//! without leading zeros, the base64 RFC 9162 root hash, then optional extension lines:
//!
//! ```text
//! chop.local/archive
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — chop.local/archive Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//! ```
//!
//! Chop names its log key after the origin (the spec's SHOULD is a MUST here): signing
//! requires `signer.name() == origin` and opening requires `verifier.name() == origin`.

use crate::merkle::{Hash, MAX_TREE_SIZE};
use crate::note::{self, NoteError, NoteSigner, NoteVerifier, VerifiedNote};

/// The origin (and log key name) used when a deployment configures none.
pub const DEFAULT_ORIGIN: &str = "chop.local/archive";

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note is malformed or its signature does not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint body.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The origin line does not name the log key.
    #[error("checkpoint origin {found:?} is not the log key name {expected:?}")]
    OriginMismatch {
        /// The key name.
        expected: String,
        /// The origin line.
        found: String,
    },
}

/// A tree head: origin, size, root hash and optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique identifier of the log, e.g. `chop.local/archive`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 tree head over the first `size` leaves.
    pub root: Hash,
    /// Opaque extension lines (non-empty each; not recommended by the spec, unused by Chop).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: `origin\nsize\nbase64(root)\n` plus one line per extension.
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        if !note::is_valid_key_name(&self.origin) {
            return Err(CheckpointError::Malformed(
                "origin must be non-empty, without spaces or '+'",
            ));
        }
        if self
            .extensions
            .iter()
            .any(|e| e.is_empty() || e.contains('\n') || e.bytes().any(|b| b < 0x20))
        {
            return Err(CheckpointError::Malformed(
                "extension lines must be non-empty single lines",
            ));
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            text.push_str(e);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses a checkpoint note text strictly (tlog-checkpoint §Note text).
    pub fn from_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if !note::is_valid_key_name(origin) {
            return Err(CheckpointError::Malformed(
                "origin must be non-empty, without spaces or '+'",
            ));
        }
        let size_text = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing tree size line"))?;
        let size = parse_decimal(size_text).ok_or(CheckpointError::Malformed(
            "tree size is not a decimal without leading zeros",
        ))?;
        if size > MAX_TREE_SIZE {
            return Err(CheckpointError::Malformed("tree size exceeds 2^62"));
        }
        let root_text = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing root hash line"))?;
        let root = Hash::from_base64(root_text)
            .map_err(|_| CheckpointError::Malformed("root hash is not base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed(
                "empty line in the checkpoint body",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint with the log key, which must be named after the origin.
    pub fn sign(&self, signer: &NoteSigner) -> Result<SignedCheckpoint, CheckpointError> {
        if signer.name() != self.origin {
            return Err(CheckpointError::OriginMismatch {
                expected: signer.name().to_owned(),
                found: self.origin.clone(),
            });
        }
        let note = note::sign_note(&self.to_text()?, signer)?;
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note,
        })
    }
}

/// Parses ASCII decimal without sign or leading zeros (except `0` itself).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// A checkpoint together with its signed note text, exactly as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed tree head.
    pub checkpoint: Checkpoint,
    /// The whole signed note (text, blank line, signature lines).
    pub note: String,
}

impl SignedCheckpoint {
    /// Verifies `note` with the log's `verifier` and parses its text; the origin must be the
    /// verifier's key name. Cosignatures by other keys are ignored (signed-note rules).
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<SignedCheckpoint, CheckpointError> {
        let VerifiedNote { text, .. } = note::open_note(note.as_bytes(), verifier)?;
        let checkpoint = Checkpoint::from_text(&text)?;
        if checkpoint.origin != verifier.name() {
            return Err(CheckpointError::OriginMismatch {
                expected: verifier.name().to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(SignedCheckpoint {
            checkpoint,
            note: note.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of the example in the tlog-checkpoint spec.
    const SPEC_BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn spec_example_body_parses_and_round_trips() {
        let c = Checkpoint::from_text(SPEC_BODY).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20_852_163);
        assert_eq!(
            c.root.to_base64(),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert_eq!(c.to_text().unwrap(), SPEC_BODY);
        let with_ext = format!("{SPEC_BODY}ext one\nother\n");
        assert_eq!(
            Checkpoint::from_text(&with_ext).unwrap().extensions,
            ["ext one", "other"]
        );
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            String::new(),
            "origin\n".into(),
            "origin\n5\n".into(),
            format!("origin\n5\n{root}"),
            format!("\n5\n{root}\n"),
            format!("has space\n5\n{root}\n"),
            format!("origin\n05\n{root}\n"),
            format!("origin\n+5\n{root}\n"),
            format!("origin\n-5\n{root}\n"),
            format!("origin\n18446744073709551616\n{root}\n"),
            format!("origin\n5\n{}\n", &root[..40]),
            "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".into(),
            format!("origin\n5\n{root}\n\nx\n"),
            format!("origin\n5\n{root}\n\n"),
        ] {
            assert!(Checkpoint::from_text(&bad).is_err(), "accepted {bad:?}");
        }
        assert!(Checkpoint::from_text(&format!("origin\n0\n{root}\n")).is_ok());
    }

    #[test]
    fn sign_and_open() {
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let c = Checkpoint::new(DEFAULT_ORIGIN, 42, Hash([9; 32]));
        let signed = c.sign(&signer).unwrap();
        assert!(signed.note.starts_with(&format!(
            "chop.local/archive\n42\n{}\n\n\u{2014} chop.local/archive ",
            Hash([9; 32]).to_base64()
        )));
        let opened = SignedCheckpoint::open(&signed.note, &signer.verifier()).unwrap();
        assert_eq!(opened, signed);

        // A cosignature by an unknown witness is ignored.
        let (witness, _) = NoteSigner::generate("witness.example").unwrap();
        let cosig = note::sign_note(&c.to_text().unwrap(), &witness).unwrap();
        let cosig_line = cosig.rsplit_once("\n\n").unwrap().1;
        let both = format!("{}{}", signed.note, cosig_line);
        assert_eq!(
            SignedCheckpoint::open(&both, &signer.verifier())
                .unwrap()
                .checkpoint,
            c
        );

        // A key named differently from the origin can neither sign nor open it.
        let other = Checkpoint::new("elsewhere.example/log", 1, Hash([1; 32]));
        assert!(matches!(
            other.sign(&signer),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let forged = note::sign_note(&other.to_text().unwrap(), &signer).unwrap();
        assert!(matches!(
            SignedCheckpoint::open(&forged, &signer.verifier()),
            Err(CheckpointError::OriginMismatch { .. })
        ));

        // Any change to the signed text breaks the signature.
        let tampered = signed.note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            SignedCheckpoint::open(&tampered, &signer.verifier()),
            Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
        ));
    }
}
