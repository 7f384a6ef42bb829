//! Retention packages: a whole stretch of the archive — records, documents, proofs, the
//! signed checkpoint, trust material, METS/PREMIS metadata and a DA/T 70-2018 four-property
//! report — as one zip holding one BagIt 1.0 bag (RFC 8493), which proves itself offline
//! decades later with tools nobody here wrote (`sha256sum`, the Library of Congress bagit
//! validator) plus [`verify_package`].
//!
//! ```text
//! <root>/bagit.txt                       BagIt declaration (RFC 8493 §2.1.1)
//! <root>/bag-info.txt                    Source-Organization, External-Identifier, Bagging-Date,
//!                                        Bag-Size, Payload-Oxum, Chop-* labels (§2.2.2)
//! <root>/manifest-sha256.txt             every payload file (§2.1.3)
//! <root>/manifest-sha512.txt             the same with SHA-512
//! <root>/tagmanifest-sha256.txt          the tag files (§2.2.1)
//! <root>/data/records/<seq>.json         each record's RFC 8785 canonical bytes
//! <root>/data/records/records.jsonl      all of them, one per line, ascending seq
//! <root>/data/proofs/<seq>.tlog-proof    C2SP tlog-proof of each record against data/checkpoint
//! <root>/data/documents/<sha256>.pdf     every document the records name (role `document`)
//! <root>/data/evidence/<sha256>.json     every verification report they name (role `evidence`)
//! <root>/data/checkpoint                 the package checkpoint (C2SP signed note)
//! <root>/data/latest-checkpoint          the log's latest checkpoint when the export finished
//! <root>/data/consistency-proof          RFC 9162 §2.1.4 proof from the first to the second
//! <root>/data/trust/log.pub              the log's note verifier key
//! <root>/data/trust/anchors/<sha256>.pem trust anchors the documents were verified against
//! <root>/data/trust/ca/<sha256>.pem      other CA certificates found in the signatures
//! <root>/data/trust/seals/<sha256>.der   GB/T 38540 seal objects found in the signatures
//! <root>/data/trust/crls/<sha256>.crl    CRLs, if any were supplied
//! <root>/data/METS.xml                   METS + one PREMIS event per record (E-ARK CSIP)
//! <root>/data/four-properties.json       DA/T 70-2018 四性 check report
//! <root>/data/four-properties.html       the same, readable
//! ```
//!
//! The package carries its own `package.exported` record (appended before the package is
//! written, so the package checkpoint covers it): its payload commits to exactly which records
//! the package holds, so removing one is caught even in a selective export.

mod assess;
pub mod bagit;
mod export;
pub mod four;
pub mod mets;
pub mod pdf;
mod verify;

pub use assess::{DocRef, EvidenceFacts, RecordIndex, evidence_facts, rank, reverify};
pub use export::{
    ExportPlan, ExportSpec, ExportSummary, PackageSource, Progress, WriteRequest, plan_export,
    write_package,
};
pub use verify::{PackageProblem, PackageReport, verify_package, verify_package_file};

use std::fmt;
use std::str::FromStr;

use crate::record::{Record, RecordKind, Retention, Timestamp};

/// Folder of the record files.
pub const RECORDS_DIR: &str = "data/records/";
/// All records, one per line.
pub const RECORDS_JSONL: &str = "data/records/records.jsonl";
/// Folder of the proof files.
pub const PROOFS_DIR: &str = "data/proofs/";
/// Folder of the documents.
pub const DOCUMENTS_DIR: &str = "data/documents/";
/// Folder of the evidence items.
pub const EVIDENCE_DIR: &str = "data/evidence/";
/// The package checkpoint.
pub const CHECKPOINT: &str = "data/checkpoint";
/// The log's latest checkpoint at export time.
pub const LATEST_CHECKPOINT: &str = "data/latest-checkpoint";
/// Consistency proof from [`CHECKPOINT`] to [`LATEST_CHECKPOINT`].
pub const CONSISTENCY_PROOF: &str = "data/consistency-proof";
/// The log's verifier key.
pub const LOG_KEY: &str = "data/trust/log.pub";
/// Folder of trust anchors.
pub const ANCHORS_DIR: &str = "data/trust/anchors/";
/// Folder of other CA certificates.
pub const CA_DIR: &str = "data/trust/ca/";
/// Folder of seal objects.
pub const SEALS_DIR: &str = "data/trust/seals/";
/// Folder of CRLs.
pub const CRLS_DIR: &str = "data/trust/crls/";
/// The METS file.
pub const METS: &str = "data/METS.xml";
/// The four-property report (JSON).
pub const FOUR_JSON: &str = "data/four-properties.json";
/// The four-property report (HTML).
pub const FOUR_HTML: &str = "data/four-properties.html";

/// First line of [`CONSISTENCY_PROOF`].
pub const CONSISTENCY_HEADER: &str = "chop-consistency-proof@v1";

/// bag-info label: the log origin.
pub const LABEL_ORIGIN: &str = "Chop-Log-Origin";
/// bag-info label: the package checkpoint's tree size.
pub const LABEL_CHECKPOINT_SIZE: &str = "Chop-Checkpoint-Size";
/// bag-info label: retention class of the package (the longest of its records).
pub const LABEL_RETENTION: &str = "Chop-Retention-Class";
/// bag-info label: which records were selected.
pub const LABEL_SELECTION: &str = "Chop-Selection";
/// bag-info label: number of records.
pub const LABEL_RECORD_COUNT: &str = "Chop-Record-Count";
/// bag-info label: seq of the package's own `package.exported` record.
pub const LABEL_EXPORT_RECORD: &str = "Chop-Export-Record";

/// The bag-info labels every package must carry.
pub const MANDATORY_LABELS: &[&str] = &[
    "Source-Organization",
    "External-Identifier",
    "Bagging-Date",
    "Bag-Size",
    "Payload-Oxum",
    LABEL_ORIGIN,
    LABEL_CHECKPOINT_SIZE,
    LABEL_RETENTION,
    LABEL_SELECTION,
    LABEL_RECORD_COUNT,
    LABEL_EXPORT_RECORD,
];

/// Which records a package holds: a seq or date range, narrowed by kinds, organisation and
/// retention class. Without `kinds`, `org` and `retention` the package is complete for its
/// range (every seq present, chain checked end to end); with any of them it is *selective*.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// First seq (default 0).
    pub from_seq: Option<u64>,
    /// Last seq, inclusive (default: the last record).
    pub to_seq: Option<u64>,
    /// Records from the first one at or after this time…
    pub since: Option<Timestamp>,
    /// …to the last one before this time (the range between is taken whole).
    pub until: Option<Timestamp>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<RecordKind>,
    /// Only records about this organisation (统一社会信用代码): named in the subject
    /// (`org:<code>`), the payload (`organization_id`), or the seals and signers of their
    /// evidence.
    pub org: Option<String>,
    /// Only records of this retention class.
    pub retention: Option<Retention>,
}

impl Selection {
    /// Whether any record of the range may be left out.
    pub fn is_selective(&self) -> bool {
        !self.kinds.is_empty() || self.org.is_some() || self.retention.is_some()
    }

    /// The filters as the `Chop-Selection` bag-info value: `all`, or
    /// `kind=a,b; org=X; retention=Y`.
    pub fn describe_filters(&self) -> String {
        let mut parts = Vec::new();
        if !self.kinds.is_empty() {
            let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            parts.push(format!("kind={}", kinds.join(",")));
        }
        if let Some(o) = &self.org {
            parts.push(format!("org={o}"));
        }
        if let Some(r) = self.retention {
            parts.push(format!("retention={r}"));
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join("; ")
        }
    }

    /// Parses [`Selection::describe_filters`] output (filters only; ranges are not restored).
    pub fn parse_filters(text: &str) -> Result<Selection, String> {
        let mut s = Selection::default();
        if text.trim() == "all" {
            return Ok(s);
        }
        for part in text.split(';') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not name=value"))?;
            match k {
                "kind" => {
                    for kind in v.split(',') {
                        s.kinds
                            .push(RecordKind::from_str(kind.trim()).map_err(|e| e.to_string())?);
                    }
                }
                "org" => s.org = Some(v.trim().to_owned()),
                "retention" => {
                    s.retention = Some(Retention::from_str(v.trim()).map_err(|e| e.to_string())?)
                }
                other => return Err(format!("unknown filter {other:?}")),
            }
        }
        Ok(s)
    }

    /// Whether `record` passes the kind, retention and organisation filters; `orgs` are the
    /// organisation codes found in its evidence.
    pub fn matches(&self, record: &Record, orgs: &[String]) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&record.kind) {
            return false;
        }
        if self.retention.is_some_and(|r| r != record.retention) {
            return false;
        }
        if let Some(org) = &self.org {
            let tag = format!("org:{org}");
            let in_subject = record.subject.contains(&tag);
            let in_payload = record
                .payload
                .get("organization_id")
                .and_then(|v| v.as_str())
                == Some(org.as_str());
            if !in_subject && !in_payload && !orgs.iter().any(|o| o == org) {
                return false;
            }
        }
        true
    }
}

/// Why an export could not be made (verification problems are findings, not errors).
#[derive(Debug, thiserror::Error)]
pub enum PackageError<E: std::error::Error + 'static> {
    /// The source (storage) failed.
    #[error("source: {0}")]
    Source(#[source] E),
    /// Writing or reading the zip failed.
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// An I/O error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The archive contradicts itself (a broken chain, a proof that does not verify, a
    /// document whose bytes do not hash to its name): run `chop archive verify`.
    #[error("the archive is inconsistent at {location}: {message}")]
    Corrupt {
        /// Where.
        location: String,
        /// What.
        message: String,
    },
    /// A bad request (empty selection, checkpoint not covering the records, …).
    #[error("{0}")]
    Usage(String),
}

impl<E: std::error::Error + 'static> PackageError<E> {
    fn corrupt(location: impl fmt::Display, message: impl fmt::Display) -> Self {
        PackageError::Corrupt {
            location: location.to_string(),
            message: message.to_string(),
        }
    }
}

/// A certificate as PEM text.
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The longest-lived of several retention classes (permanent > 30y > 10y).
pub fn longest_retention(classes: impl IntoIterator<Item = Retention>) -> Option<Retention> {
    classes
        .into_iter()
        .max_by_key(|r| r.years().map_or(u32::MAX, |y| y))
}

/// Splits `seqs` (ascending) into gaps: `(after, before)` pairs with missing seqs between.
pub fn seq_gaps(seqs: &[u64]) -> Vec<(u64, u64)> {
    seqs.windows(2)
        .filter_map(|w| match w {
            [a, b] if *b > a.saturating_add(1) => Some((*a, *b)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_round_trips_and_filters() {
        let s = Selection {
            kinds: vec![RecordKind::DocumentSealed, RecordKind::LicenceIssued],
            org: Some("91350100M000100Y43".into()),
            retention: Some(Retention::Years30),
            ..Selection::default()
        };
        assert!(s.is_selective());
        let text = s.describe_filters();
        assert_eq!(
            text,
            "kind=document.sealed,licence.issued; org=91350100M000100Y43; retention=30y"
        );
        assert_eq!(Selection::parse_filters(&text).unwrap(), s);
        assert_eq!(Selection::default().describe_filters(), "all");
        assert!(Selection::parse_filters("colour=red").is_err());

        let mut b = crate::record::RecordBuilder::genesis();
        let mut r = crate::record::NewRecord::new(RecordKind::DocumentSealed, "a");
        r.retention = Retention::Years30;
        let rec = b.build(r).unwrap().record;
        assert!(!s.matches(&rec, &[]));
        assert!(s.matches(&rec, &["91350100M000100Y43".into()]));
    }

    #[test]
    fn retention_and_gaps() {
        assert_eq!(
            longest_retention([Retention::Years10, Retention::Permanent, Retention::Years30]),
            Some(Retention::Permanent)
        );
        assert_eq!(
            longest_retention([Retention::Years10, Retention::Years30]),
            Some(Retention::Years30)
        );
        assert_eq!(seq_gaps(&[1, 2, 5, 6, 9]), vec![(2, 5), (6, 9)]);
        assert!(seq_gaps(&[3]).is_empty());
    }
}
