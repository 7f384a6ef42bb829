//! Judgements shared by export and verification, so that a verifier recomputing the
//! four-property report on an intact package reaches the exporter's results: what the records
//! say about documents and evidence ([`RecordIndex`]), what an evidence report says
//! ([`EvidenceFacts`]), and how one document is judged ([`assess_document`]).

use std::collections::{BTreeMap, BTreeSet};

use chop_seal::verify::{VerifyOptions, verify_pdf};
use serde_json::Value;
use time::OffsetDateTime;

use super::four::{CheckId, Findings};
use super::pdf::{PdfFacts, inspect_pdf};
use super::{DOCUMENTS_DIR, EVIDENCE_DIR};
use crate::merkle::Hash;
use crate::record::{Record, RecordKind, Timestamp};

/// The indication recorded for a document without any signature.
pub const NO_SIGNATURE: &str = "NO-SIGNATURE";

/// How bad an indication is: TOTAL-PASSED 0, INDETERMINATE 1, NO-SIGNATURE 2, anything else 3.
pub fn rank(indication: &str) -> u8 {
    match indication {
        "TOTAL-PASSED" => 0,
        "INDETERMINATE" => 1,
        NO_SIGNATURE => 2,
        _ => 3,
    }
}

/// What the records say about one document (from the first record naming it with role
/// `document`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRef {
    /// Seq of that record.
    pub seq: u64,
    /// Its time: the archive's proof of existence, the time seals are re-verified at.
    pub time: Timestamp,
    /// `payload.indication`, if recorded.
    pub indication: Option<String>,
    /// `payload.accepted_invalid` is true.
    pub accepted_invalid: bool,
    /// `payload.size`, if recorded.
    pub size: Option<u64>,
    /// Evidence digests named by the same record.
    pub evidence: Vec<Hash>,
}

/// Documents, evidence and dispositions named by a run of records.
#[derive(Debug, Clone, Default)]
pub struct RecordIndex {
    /// Documents by SHA-256.
    pub documents: BTreeMap<Hash, DocRef>,
    /// Evidence items by SHA-256, with the seq of the first record naming them.
    pub evidence: BTreeMap<Hash, u64>,
    /// Digests named by `disposition` records (content deleted on purpose).
    pub disposed: BTreeSet<Hash>,
}

impl RecordIndex {
    /// Adds what `record` names.
    pub fn add(&mut self, record: &Record) {
        if record.kind == RecordKind::Disposition {
            self.disposed.extend(record.digests.iter().map(|d| d.value));
            return;
        }
        let evidence: Vec<Hash> = record
            .digests
            .iter()
            .filter(|d| d.role.as_deref() == Some("evidence"))
            .map(|d| d.value)
            .collect();
        for e in &evidence {
            self.evidence.entry(*e).or_insert(record.seq);
        }
        for d in record
            .digests
            .iter()
            .filter(|d| d.role.as_deref() == Some("document"))
        {
            self.documents.entry(d.value).or_insert_with(|| DocRef {
                seq: record.seq,
                time: record.time.clone(),
                indication: record
                    .payload
                    .get("indication")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                accepted_invalid: record
                    .payload
                    .get("accepted_invalid")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                size: record.payload.get("size").and_then(Value::as_u64),
                evidence: evidence.clone(),
            });
        }
    }
}

/// What an evidence item (a verification report captured at ingest or sealing) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceFacts {
    /// `document.sha256`.
    pub document: Option<String>,
    /// The worst signature indication, or `NO-SIGNATURE`.
    pub worst: Option<String>,
    /// SHA-256 fingerprints of the certificates it marks as trust anchors.
    pub anchors: Vec<String>,
    /// Organisation codes (统一社会信用代码) of its seals and signers.
    pub organizations: Vec<String>,
}

/// Reads an evidence item (the JSON of `chop_seal::verify::Report`, or `{document, error}`
/// for a file without signature).
pub fn evidence_facts(bytes: &[u8]) -> Result<EvidenceFacts, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let mut facts = EvidenceFacts {
        document: obj
            .get("document")
            .and_then(|d| d.get("sha256"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..EvidenceFacts::default()
    };
    match obj.get("signatures").and_then(Value::as_array) {
        Some(sigs) => {
            for s in sigs {
                if let Some(i) = s.get("indication").and_then(Value::as_str)
                    && facts.worst.as_deref().is_none_or(|w| rank(i) > rank(w))
                {
                    facts.worst = Some(i.to_owned());
                }
                for c in s
                    .pointer("/chain/certificates")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if c.get("trust_anchor").and_then(Value::as_bool) == Some(true)
                        && let Some(sha) = c.get("sha256").and_then(Value::as_str)
                        && !facts.anchors.iter().any(|a| a == sha)
                    {
                        facts.anchors.push(sha.to_owned());
                    }
                }
                let mut orgs = Vec::new();
                if let Some(o) = s.pointer("/seal/organization_id").and_then(Value::as_str) {
                    orgs.push(o.to_owned());
                }
                if let Some(o) = s
                    .pointer("/signer/organization_identifier")
                    .and_then(Value::as_str)
                {
                    orgs.push(o.strip_prefix("NTRCN-").unwrap_or(o).to_owned());
                }
                for o in orgs {
                    if !facts.organizations.contains(&o) {
                        facts.organizations.push(o);
                    }
                }
            }
        }
        None if obj.contains_key("error") => facts.worst = Some(NO_SIGNATURE.to_owned()),
        None => return Err("neither `signatures` nor `error`".into()),
    }
    Ok(facts)
}

/// The package path of a document.
pub fn document_path(sha: &Hash) -> String {
    format!("{DOCUMENTS_DIR}{}.pdf", sha.to_hex())
}

/// The package path of an evidence item.
pub fn evidence_path(sha: &Hash) -> String {
    format!("{EVIDENCE_DIR}{}.json", sha.to_hex())
}

/// The outcome of re-verifying a document's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverified {
    /// Worst indication (`TOTAL-PASSED`, `INDETERMINATE`, `TOTAL-FAILED`, `NO-SIGNATURE`), or
    /// `UNREADABLE`.
    pub indication: String,
    /// Sub-indication and first problem, for people.
    pub detail: String,
}

/// Re-verifies `bytes` with `anchors` (DER) as of `at` (ETSI EN 319 102-1 validation at a
/// past time; the record time is the archive's proof of existence).
pub fn reverify(bytes: &[u8], anchors: &[Vec<u8>], at: OffsetDateTime) -> Reverified {
    let opts = VerifyOptions {
        trust_anchors: anchors.to_vec(),
        at: Some(at),
        ..VerifyOptions::default()
    };
    match verify_pdf(bytes, &opts) {
        Ok(report) => {
            let worst = report.worst();
            let sig = report.signatures.iter().find(|s| s.indication == worst);
            let sub = sig
                .and_then(|s| s.sub_indication)
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            let problem = sig.and_then(|s| s.problems.first().cloned());
            let mut detail = format!(
                "{} signature(s), worst {}",
                report.signatures.len(),
                worst.as_str()
            );
            if let Some(sub) = sub {
                detail.push_str(&format!(" ({sub})"));
            }
            if let Some(p) = problem {
                detail.push_str(&format!(": {p}"));
            }
            Reverified {
                indication: worst.as_str().to_owned(),
                detail,
            }
        }
        Err(chop_seal::verify::VerifyError::NoSignature) => Reverified {
            indication: NO_SIGNATURE.to_owned(),
            detail: "the PDF has no signature".into(),
        },
        Err(e) => Reverified {
            indication: "UNREADABLE".to_owned(),
            detail: e.to_string(),
        },
    }
}

/// Judges one document: readable, not encrypted, no executable content, its size and evidence
/// match its record, its signatures re-verify at the record time with `anchors` no worse than
/// recorded at ingest. Returns the findings for this document alone (the same at export and
/// verification). `facts` are reused when the caller already inspected the file.
pub fn assess_document(
    sha: &Hash,
    bytes: &[u8],
    doc: &DocRef,
    evidence: Option<&EvidenceFacts>,
    anchors: &[Vec<u8>],
    facts: Option<PdfFacts>,
) -> Findings {
    let loc = document_path(sha);
    let mut f = Findings::new();
    let facts = facts.unwrap_or_else(|| inspect_pdf(bytes));

    f.checked(CheckId::PdfReadable, 1);
    if let Some(why) = &facts.unreadable {
        f.fail(CheckId::PdfReadable, &loc, why.clone());
    }
    f.checked(CheckId::NotEncrypted, 1);
    if facts.encrypted {
        f.fail(CheckId::NotEncrypted, &loc, "the PDF is encrypted");
    }
    f.checked(CheckId::NoExecutableContent, 1);
    for c in &facts.active_content {
        f.fail(CheckId::NoExecutableContent, &loc, c.clone());
    }

    f.checked(CheckId::MetadataMatchesContent, 1);
    if let Some(size) = doc.size
        && size != bytes.len() as u64
    {
        f.fail(
            CheckId::MetadataMatchesContent,
            &loc,
            format!(
                "record {} says {size} bytes, the file has {}",
                doc.seq,
                bytes.len()
            ),
        );
    }
    if let Some(e) = evidence {
        if e.document.as_deref().is_some_and(|d| d != sha.to_hex()) {
            f.fail(
                CheckId::MetadataMatchesContent,
                &loc,
                "its evidence report is about another document",
            );
        }
        if let (Some(recorded), Some(worst)) = (&doc.indication, &e.worst)
            && recorded != worst
        {
            f.fail(
                CheckId::MetadataMatchesContent,
                &loc,
                format!(
                    "record {} says {recorded} but its evidence report says {worst}",
                    doc.seq
                ),
            );
        }
    }

    f.checked(CheckId::SignaturesAndSeals, 1);
    let re = reverify(bytes, anchors, doc.time.to_datetime());
    let recorded = evidence
        .and_then(|e| e.worst.clone())
        .or_else(|| doc.indication.clone());
    let at = doc.time.as_str();
    match recorded {
        _ if re.indication == "TOTAL-PASSED" => {}
        Some(r) if rank(&re.indication) > rank(&r) => f.fail(
            CheckId::SignaturesAndSeals,
            &loc,
            format!(
                "re-verified at {at}: {} — worse than {r} recorded at ingest (record {})",
                re.detail, doc.seq
            ),
        ),
        Some(r) => f.warn(
            CheckId::SignaturesAndSeals,
            &loc,
            format!(
                "re-verified at {at}: {}; recorded as {r} at ingest (record {}{})",
                re.detail,
                doc.seq,
                if doc.accepted_invalid {
                    ", accepted invalid"
                } else {
                    ""
                }
            ),
        ),
        None => f.fail(
            CheckId::SignaturesAndSeals,
            &loc,
            format!(
                "re-verified at {at}: {}, and no verification was recorded",
                re.detail
            ),
        ),
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Digest, NewRecord, RecordBuilder};

    #[test]
    fn evidence_facts_read_reports_and_errors() {
        let report = serde_json::json!({
            "document": {"sha256": "ab"},
            "signatures": [
                {"indication": "TOTAL-PASSED", "chain": {"certificates": [
                    {"sha256": "11", "trust_anchor": false}, {"sha256": "22", "trust_anchor": true}]},
                 "seal": {"organization_id": "91350100M000100Y43"},
                 "signer": {"organization_identifier": "NTRCN-91350100M000100Y43"}},
                {"indication": "INDETERMINATE"}
            ]
        });
        let f = evidence_facts(report.to_string().as_bytes()).unwrap();
        assert_eq!(f.document.as_deref(), Some("ab"));
        assert_eq!(f.worst.as_deref(), Some("INDETERMINATE"));
        assert_eq!(f.anchors, vec!["22".to_string()]);
        assert_eq!(f.organizations, vec!["91350100M000100Y43".to_string()]);
        let none =
            evidence_facts(br#"{"document":{"sha256":"ab"},"error":"no signature"}"#).unwrap();
        assert_eq!(none.worst.as_deref(), Some(NO_SIGNATURE));
        assert!(evidence_facts(b"[]").is_err());
        assert!(evidence_facts(b"{}").is_err());
    }

    #[test]
    fn record_index_takes_the_first_record_of_each_document() {
        let mut b = RecordBuilder::genesis();
        let doc = Digest::sha256_of(b"pdf", Some("document"));
        let ev = Digest::sha256_of(b"ev", Some("evidence"));
        let mut r = NewRecord::new(RecordKind::DocumentIngested, "a");
        r.digests = vec![doc.clone(), ev.clone()];
        r.payload
            .insert("indication".into(), "INDETERMINATE".into());
        r.payload.insert("size".into(), 3.into());
        let first = b.build(r.clone()).unwrap().record;
        let second = b.build(r).unwrap().record;
        let mut gone = NewRecord::new(RecordKind::Disposition, "a");
        gone.digests = vec![doc.clone()];
        let third = b.build(gone).unwrap().record;
        let mut idx = RecordIndex::default();
        for r in [&first, &second, &third] {
            idx.add(r);
        }
        let d = &idx.documents[&doc.value];
        assert_eq!(
            (d.seq, d.size, d.indication.as_deref()),
            (0, Some(3), Some("INDETERMINATE"))
        );
        assert_eq!(d.evidence, vec![ev.value]);
        assert_eq!(idx.evidence[&ev.value], 0);
        assert!(idx.disposed.contains(&doc.value));
    }

    #[test]
    fn ranks_order_indications() {
        assert!(rank("TOTAL-PASSED") < rank("INDETERMINATE"));
        assert!(rank("INDETERMINATE") < rank(NO_SIGNATURE));
        assert!(rank(NO_SIGNATURE) < rank("TOTAL-FAILED"));
    }
}
