//! C2SP tlog-proof files (<https://c2sp.org/tlog-proof>, `c2sp.org/tlog-proof@v1`): an
//! offline-verifiable proof that a record is in the log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the record's RFC 8785 canonical bytes>
//! index 5
//! <base64 inclusion proof hash, leaf sibling first>
//! …
//!
//! <the signed checkpoint, verbatim>
//! ```
//!
//! The spec leaves the `extra` line's meaning to the application; Chop puts the archive record
//! itself there (its canonical bytes), so a proof file is self-contained: the verifier hashes
//! the extra data into the leaf, which authenticates it. A caller may instead (or also) supply
//! the record separately; when both are present they must be the same record.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, parse_decimal};
use crate::merkle::{self, Hash, ProofError, leaf_hash};
use crate::note::NoteVerifier;
use crate::record::{Record, RecordError};

/// The first line of every proof file.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion proof hashes accepted (a tree of 2^62 leaves needs at most 62).
pub const MAX_PROOF_HASHES: usize = 64;

/// Largest proof file accepted, in bytes (records are limited to 1 MiB).
pub const MAX_PROOF_FILE_BYTES: usize = 4 << 20;

/// Why a proof file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFileError {
    /// The file breaks the tlog-proof format.
    #[error("malformed tlog-proof: {0}")]
    Malformed(&'static str),
    /// The embedded checkpoint is malformed, not signed by the trusted key, or of another log.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The record (embedded or supplied) is not a valid archive record.
    #[error("record: {0}")]
    Record(#[from] RecordError),
    /// Neither the file (`extra` line) nor the caller supplied the record.
    #[error("the proof file carries no record and none was supplied")]
    NoRecord,
    /// The supplied record differs from the one embedded in the proof file.
    #[error("the supplied record is not the record embedded in the proof file")]
    RecordMismatch,
    /// The record's `seq` is not the proof's leaf index.
    #[error("record seq {seq} does not match proof index {index}")]
    SeqMismatch {
        /// The record's seq.
        seq: u64,
        /// The proof's index line.
        index: u64,
    },
    /// The inclusion proof does not verify against the checkpoint.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

/// A parsed tlog-proof file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data; in Chop proofs, the record's canonical bytes.
    pub extra: Option<Vec<u8>>,
    /// Zero-based leaf index (the record's seq).
    pub index: u64,
    /// Inclusion proof, leaf sibling first (RFC 9162 §2.1.3).
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The file text: header, optional `extra`, `index`, hashes, blank line, checkpoint.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(256 + self.hashes.len() * 45 + self.checkpoint.len());
        out.push_str(PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&BASE64.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a proof file strictly (tlog-proof §Format); the checkpoint is not verified here.
    pub fn parse(text: &[u8]) -> Result<TlogProof, ProofFileError> {
        if text.len() > MAX_PROOF_FILE_BYTES {
            return Err(ProofFileError::Malformed("file too large"));
        }
        let text =
            std::str::from_utf8(text).map_err(|_| ProofFileError::Malformed("not valid UTF-8"))?;
        let (header, mut rest) = text
            .split_once('\n')
            .ok_or(ProofFileError::Malformed("missing header line"))?;
        if header != PROOF_HEADER {
            return Err(ProofFileError::Malformed(
                "first line is not c2sp.org/tlog-proof@v1",
            ));
        }
        let mut next_line = |what: &'static str| -> Result<&str, ProofFileError> {
            let (line, after) = rest
                .split_once('\n')
                .ok_or(ProofFileError::Malformed(what))?;
            rest = after;
            Ok(line)
        };
        let mut line = next_line("missing index line")?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra =
                Some(BASE64.decode(b64).map_err(|_| {
                    ProofFileError::Malformed("extra data is not canonical base64")
                })?);
            line = next_line("missing index line")?;
        }
        let index_text = line
            .strip_prefix("index ")
            .ok_or(ProofFileError::Malformed("expected an `index N` line"))?;
        let index = parse_decimal(index_text).ok_or(ProofFileError::Malformed(
            "index is not a decimal without leading zeros",
        ))?;
        let mut hashes = Vec::new();
        loop {
            let line = next_line("missing blank line before the checkpoint")?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(ProofFileError::Malformed("too many inclusion proof hashes"));
            }
            hashes.push(Hash::from_base64(line).map_err(|_| {
                ProofFileError::Malformed("proof line is not base64 of a 32-byte hash")
            })?);
        }
        if rest.is_empty() {
            return Err(ProofFileError::Malformed("missing checkpoint"));
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: rest.to_owned(),
        })
    }
}

/// What a verified proof file establishes.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedProof {
    /// The record's leaf index (= its seq).
    pub index: u64,
    /// The checkpoint, signed by the trusted log key, whose tree contains the record.
    pub checkpoint: Checkpoint,
    /// The record.
    pub record: Record,
    /// Its RFC 8785 canonical bytes (the leaf input).
    pub record_bytes: Vec<u8>,
    /// SHA-256(0x00 ‖ record_bytes).
    pub leaf_hash: Hash,
}

/// Verifies a tlog-proof file offline: the checkpoint is signed by `verifier` (and names its
/// log), the record — `record` if given (any JSON formatting, canonicalised), else the `extra`
/// line (which must then be canonical) — has `seq` = index, and the inclusion proof leads from
/// its leaf hash to the checkpoint's root (RFC 9162 §2.1.3.2).
pub fn verify_proof_file(
    text: &[u8],
    verifier: &NoteVerifier,
    record: Option<&[u8]>,
) -> Result<VerifiedProof, ProofFileError> {
    let proof = TlogProof::parse(text)?;
    let signed = SignedCheckpoint::open(&proof.checkpoint, verifier)?;
    let (record, record_bytes) = match (record, &proof.extra) {
        (Some(supplied), extra) => {
            let r = Record::from_json(supplied)?;
            let bytes = r.canonical_bytes()?;
            if extra.as_ref().is_some_and(|e| *e != bytes) {
                return Err(ProofFileError::RecordMismatch);
            }
            (r, bytes)
        }
        (None, Some(extra)) => (Record::from_canonical_bytes(extra)?, extra.clone()),
        (None, None) => return Err(ProofFileError::NoRecord),
    };
    if record.seq != proof.index {
        return Err(ProofFileError::SeqMismatch {
            seq: record.seq,
            index: proof.index,
        });
    }
    let leaf = leaf_hash(&record_bytes);
    merkle::verify_inclusion(
        proof.index,
        signed.checkpoint.size,
        &leaf,
        &proof.hashes,
        &signed.checkpoint.root,
    )?;
    Ok(VerifiedProof {
        index: proof.index,
        checkpoint: signed.checkpoint,
        record,
        record_bytes,
        leaf_hash: leaf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::DEFAULT_ORIGIN;
    use crate::merkle::{inclusion_proof, stored_hashes_for_append, tree_hash};
    use crate::note::NoteSigner;
    use crate::record::{NewRecord, RecordBuilder, RecordKind, Timestamp};

    struct Fixture {
        signer: NoteSigner,
        records: Vec<crate::record::EncodedRecord>,
        storage: Vec<Hash>,
        checkpoint: SignedCheckpoint,
    }

    fn fixture(n: u64) -> Fixture {
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let mut builder = RecordBuilder::genesis();
        let mut storage = Vec::new();
        let mut records = Vec::new();
        for i in 0..n {
            let mut d = NewRecord::new(RecordKind::DocumentIngested, "system");
            d.time = Timestamp::parse("2025-05-05T05:05:05.000000Z").unwrap();
            d.subject = vec![format!("document:{i}")];
            let e = builder.build(d).unwrap();
            storage.extend(stored_hashes_for_append(i, e.leaf_hash, &storage).unwrap());
            records.push(e);
        }
        let root = tree_hash(n, &storage).unwrap();
        let checkpoint = Checkpoint::new(DEFAULT_ORIGIN, n, root)
            .sign(&signer)
            .unwrap();
        Fixture {
            signer,
            records,
            storage,
            checkpoint,
        }
    }

    fn proof_for(f: &Fixture, index: u64, with_extra: bool) -> TlogProof {
        TlogProof {
            extra: with_extra.then(|| f.records[index as usize].bytes.clone()),
            index,
            hashes: inclusion_proof(index, f.checkpoint.checkpoint.size, &f.storage).unwrap(),
            checkpoint: f.checkpoint.note.clone(),
        }
    }

    #[test]
    fn write_parse_verify_round_trip() {
        let f = fixture(11);
        for index in 0..11 {
            let p = proof_for(&f, index, true);
            let text = p.to_text();
            assert!(text.starts_with(&format!(
                "c2sp.org/tlog-proof@v1\nextra {}\nindex {index}\n",
                BASE64.encode(&f.records[index as usize].bytes)
            )));
            assert_eq!(TlogProof::parse(text.as_bytes()).unwrap(), p);
            let v = verify_proof_file(text.as_bytes(), &f.signer.verifier(), None).unwrap();
            assert_eq!(v.record, f.records[index as usize].record);
            assert_eq!(v.checkpoint.size, 11);
            // The record supplied separately, pretty-printed, also verifies.
            let pretty =
                serde_json::to_vec_pretty(&f.records[index as usize].record.to_json_value())
                    .unwrap();
            verify_proof_file(text.as_bytes(), &f.signer.verifier(), Some(&pretty)).unwrap();
        }
    }

    #[test]
    fn proof_without_extra_needs_the_record() {
        let f = fixture(5);
        let text = proof_for(&f, 3, false).to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
        assert_eq!(
            verify_proof_file(text.as_bytes(), &f.signer.verifier(), None),
            Err(ProofFileError::NoRecord)
        );
        verify_proof_file(
            text.as_bytes(),
            &f.signer.verifier(),
            Some(&f.records[3].bytes),
        )
        .unwrap();
        // Another record's bytes: its seq gives it away...
        assert_eq!(
            verify_proof_file(
                text.as_bytes(),
                &f.signer.verifier(),
                Some(&f.records[2].bytes)
            ),
            Err(ProofFileError::SeqMismatch { seq: 2, index: 3 })
        );
        // ... and a forged record claiming seq 3 fails the inclusion proof.
        let mut forged = f.records[3].record.clone();
        forged.actor = "user:mallory".into();
        let forged = forged.canonical_bytes().unwrap();
        assert_eq!(
            verify_proof_file(text.as_bytes(), &f.signer.verifier(), Some(&forged)),
            Err(ProofFileError::Inclusion(ProofError::Mismatch))
        );
    }

    #[test]
    fn tampering_is_detected() {
        let f = fixture(9);
        let v = f.signer.verifier();
        let good = proof_for(&f, 4, true);
        verify_proof_file(good.to_text().as_bytes(), &v, None).unwrap();

        let mut wrong_index = good.clone();
        wrong_index.index = 5;
        assert!(matches!(
            verify_proof_file(wrong_index.to_text().as_bytes(), &v, None),
            Err(ProofFileError::SeqMismatch { .. })
        ));

        let mut flipped = good.clone();
        flipped.hashes[1].0[7] ^= 0x20;
        assert_eq!(
            verify_proof_file(flipped.to_text().as_bytes(), &v, None),
            Err(ProofFileError::Inclusion(ProofError::Mismatch))
        );

        let mut extra_hash = good.clone();
        extra_hash.hashes.push(Hash([0; 32]));
        assert!(matches!(
            verify_proof_file(extra_hash.to_text().as_bytes(), &v, None),
            Err(ProofFileError::Inclusion(ProofError::WrongLength { .. }))
        ));

        let mut other_record = good.clone();
        other_record.extra = Some(f.records[5].bytes.clone());
        assert!(verify_proof_file(other_record.to_text().as_bytes(), &v, None).is_err());
        assert_eq!(
            verify_proof_file(good.to_text().as_bytes(), &v, Some(&f.records[5].bytes)),
            Err(ProofFileError::RecordMismatch)
        );

        // A checkpoint signed by another key, or a different size with the same signature.
        let (stranger, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        assert!(matches!(
            verify_proof_file(good.to_text().as_bytes(), &stranger.verifier(), None),
            Err(ProofFileError::Checkpoint(_))
        ));
        let mut resized = good.clone();
        resized.checkpoint = resized.checkpoint.replacen("\n9\n", "\n10\n", 1);
        assert!(matches!(
            verify_proof_file(resized.to_text().as_bytes(), &v, None),
            Err(ProofFileError::Checkpoint(_))
        ));

        // A non-canonical embedded record is rejected even if otherwise equal.
        let mut loose = good.clone();
        loose.extra =
            Some(serde_json::to_vec_pretty(&f.records[4].record.to_json_value()).unwrap());
        assert_eq!(
            verify_proof_file(loose.to_text().as_bytes(), &v, None),
            Err(ProofFileError::Record(RecordError::NotCanonical))
        );
    }

    #[test]
    fn strict_format() {
        let f = fixture(3);
        let text = proof_for(&f, 1, true).to_text();
        let cp = &f.checkpoint.note;
        let (h0, extra_line) = {
            let p = proof_for(&f, 1, true);
            (
                p.hashes[0].to_base64(),
                format!("extra {}", BASE64.encode(&f.records[1].bytes)),
            )
        };
        let bad = [
            text.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
            text.replacen("index 1", "index 01", 1),
            text.replacen("index 1", "index  1", 1),
            text.replacen("index 1", "Index 1", 1),
            format!("c2sp.org/tlog-proof@v1\n{extra_line}\n{extra_line}\nindex 1\n{h0}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{extra_line}\n{h0}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n{h0}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{}\n\n{cp}", &h0[..43]),
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{h0}\n"),
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{h0}\n\n"),
            format!("c2sp.org/tlog-proof@v1\r\nindex 1\n{h0}\n\n{cp}"),
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n\n{cp}",
                format!("{h0}\n").repeat(65)
            ),
        ];
        for b in bad {
            assert!(
                matches!(
                    TlogProof::parse(b.as_bytes()),
                    Err(ProofFileError::Malformed(_))
                ),
                "accepted {b:?}"
            );
        }
        assert!(TlogProof::parse(b"\xff").is_err());
    }
}
