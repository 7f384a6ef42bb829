//! Offline verification of a retention package: no network, no database. Checks the zip's
//! shape, the bag (both payload manifests, the tag manifest, Payload-Oxum; RFC 8493 §3), every
//! record's canonical form, chain link and inclusion proof against the package checkpoint, the
//! checkpoint signature and the consistency proof, the `package.exported` commitment, each
//! document's and evidence item's hash, each document's seals re-verified with the packaged
//! trust material at its record's time, METS, and recomputes the DA/T 70-2018 report. Every
//! problem is named with the file or record it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use zip::ZipArchive;

use super::assess::{
    DocRef, EvidenceFacts, RecordIndex, assess_document, document_path, evidence_facts,
};
use super::bagit::{self, BagInfo, Digested, DigestingReader, FileDigests};
use super::export::{judge_continuity, pipeline, records_digest};
use super::four::{CheckId, Finding, Findings, FourPropertyReport, Outcome};
use super::mets::read_mets;
use super::{
    ANCHORS_DIR, CA_DIR, CHECKPOINT, CONSISTENCY_HEADER, CONSISTENCY_PROOF, CRLS_DIR,
    DOCUMENTS_DIR, EVIDENCE_DIR, FOUR_HTML, FOUR_JSON, LABEL_CHECKPOINT_SIZE, LABEL_EXPORT_RECORD,
    LABEL_ORIGIN, LABEL_RECORD_COUNT, LABEL_SELECTION, LATEST_CHECKPOINT, LOG_KEY,
    MANDATORY_LABELS, METS, PROOFS_DIR, RECORDS_DIR, RECORDS_JSONL, SEALS_DIR, Selection,
};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::merkle::{self, Hash, leaf_hash};
use crate::note::NoteVerifier;
use crate::proof::{MAX_PROOF_FILE_BYTES, TlogProof};
use crate::record::{MAX_RECORD_BYTES, Record, RecordKind};

/// Largest tag file, evidence item or trust file read into memory.
const MAX_SMALL_FILE: u64 = 64 << 20;

/// Largest document re-verified (the verification engine's default input limit).
const MAX_DOCUMENT: u64 = 100 << 20;

/// One problem found, with the check it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageProblem {
    /// The four-property check ([`CheckId::id`]).
    pub check: &'static str,
    /// Where and what.
    pub finding: Finding,
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.finding, self.check)
    }
}

/// The outcome of [`verify_package`].
#[derive(Debug, Clone)]
pub struct PackageReport {
    /// The zip's root folder (the bag), if there is exactly one.
    pub root: Option<String>,
    /// bag-info `External-Identifier`.
    pub external_id: Option<String>,
    /// Records in `records.jsonl`.
    pub records: u64,
    /// Documents in `data/documents/`.
    pub documents: u64,
    /// Evidence items in `data/evidence/`.
    pub evidence: u64,
    /// The package checkpoint, if it verified.
    pub checkpoint: Option<Checkpoint>,
    /// Whether the log key was given by the caller (`true`) or taken from the package.
    pub key_given: bool,
    /// Every failure (exit 0 only when empty).
    pub problems: Vec<PackageProblem>,
    /// Reservations that do not fail the package (e.g. a document recorded as INDETERMINATE
    /// at ingest is still INDETERMINATE).
    pub warnings: Vec<PackageProblem>,
    /// The four-property report recomputed from the package.
    pub four_properties: FourPropertyReport,
}

impl PackageReport {
    /// `true` when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Pkg<R: Read + Seek> {
    zip: ZipArchive<R>,
    /// Relative path → zip index.
    files: BTreeMap<String, usize>,
    /// Payload manifest entries: path → (SHA-256, SHA-512), raw, as listed.
    manifest: BTreeMap<String, Listed>,
    tags: BTreeMap<String, String>,
    /// Zip entries already read, by index.
    seen: Vec<bool>,
    f: Findings,
    payload_bytes: u64,
    payload_files: u64,
}

/// One payload file as the two manifests list it (raw digests).
#[derive(Debug, Clone, Default)]
struct Listed {
    sha256: Option<[u8; 32]>,
    sha512: Option<[u8; 64]>,
}

impl<R: Read + Seek> Pkg<R> {
    fn mark_seen(&mut self, path: &str) {
        if let Some(i) = self.files.get(path)
            && let Some(s) = self.seen.get_mut(*i)
        {
            *s = true;
        }
    }

    fn was_seen(&self, path: &str) -> bool {
        self.files
            .get(path)
            .and_then(|i| self.seen.get(*i))
            .copied()
            .unwrap_or(false)
    }

    fn check_fixity(&mut self, path: &str, d: &Digested) {
        self.mark_seen(path);
        if path.starts_with("data/") {
            self.payload_bytes += d.size;
            self.payload_files += 1;
            self.f.checked(CheckId::Fixity, 1);
            let listed = self.manifest.get(path).cloned().unwrap_or_default();
            let want256 = listed.sha256.map(hex::encode);
            let want512 = listed.sha512.map(hex::encode);
            for (name, want, actual) in [
                ("manifest-sha256.txt", want256, &d.sha256),
                ("manifest-sha512.txt", want512, &d.sha512),
            ] {
                match want {
                    None => self.f.fail(
                        CheckId::Fixity,
                        path,
                        format!("not listed in {name} (a file added to the bag)"),
                    ),
                    Some(want) if want != *actual => self.f.fail(
                        CheckId::Fixity,
                        path,
                        format!("does not match {name}: the file was changed"),
                    ),
                    Some(_) => {}
                }
            }
        } else if let Some(want) = self.tags.get(path) {
            self.f.checked(CheckId::Fixity, 1);
            if *want != d.sha256 {
                self.f.fail(
                    CheckId::Fixity,
                    path,
                    "does not match tagmanifest-sha256.txt: the file was changed",
                );
            }
        }
    }

    /// Reads a whole file (at most `limit` bytes), checking its digests.
    fn read(&mut self, path: &str, limit: u64) -> Option<Vec<u8>> {
        self.read_hashed(path, limit).map(|(b, _)| b)
    }

    /// Reads a whole file (at most `limit` bytes) without digesting it: the caller must pass
    /// its digests to [`Pkg::check_fixity`].
    fn read_undigested(&mut self, path: &str, limit: u64) -> Option<Vec<u8>> {
        let idx = *self.files.get(path)?;
        let result = (|| -> Result<Vec<u8>, String> {
            let entry = self.zip.by_index(idx).map_err(|e| e.to_string())?;
            if entry.size() > limit {
                return Err(format!(
                    "{} bytes, more than the {limit} allowed",
                    entry.size()
                ));
            }
            let mut buf = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
            entry
                .take(limit + 1)
                .read_to_end(&mut buf)
                .map_err(|e| e.to_string())?;
            if buf.len() as u64 > limit {
                return Err(format!("more than the {limit} bytes allowed"));
            }
            Ok(buf)
        })();
        match result {
            Ok(buf) => Some(buf),
            Err(e) => {
                self.mark_seen(path);
                self.f
                    .fail(CheckId::Fixity, path, format!("cannot be read: {e}"));
                None
            }
        }
    }

    /// Reads a whole file (at most `limit` bytes), checking its digests; returns it with its
    /// SHA-256 (computed once, while read).
    fn read_hashed(&mut self, path: &str, limit: u64) -> Option<(Vec<u8>, Hash)> {
        let idx = *self.files.get(path)?;
        let result = (|| -> Result<(Vec<u8>, Digested), String> {
            let entry = self.zip.by_index(idx).map_err(|e| e.to_string())?;
            if entry.size() > limit {
                return Err(format!(
                    "{} bytes, more than the {limit} allowed",
                    entry.size()
                ));
            }
            let mut r = DigestingReader::new(entry.take(limit + 1));
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map_err(|e| e.to_string())?;
            if buf.len() as u64 > limit {
                return Err(format!("more than the {limit} bytes allowed"));
            }
            Ok((buf, r.finish().map_err(|e| e.to_string())?))
        })();
        match result {
            Ok((buf, d)) => {
                self.check_fixity(path, &d);
                let sha = Hash::from_hex(&d.sha256).unwrap_or(Hash::ZERO);
                Some((buf, sha))
            }
            Err(e) => {
                self.mark_seen(path);
                self.f
                    .fail(CheckId::Fixity, path, format!("cannot be read: {e}"));
                None
            }
        }
    }

    /// Streams a file through `body`, checking its digests; `None` if it is absent or unreadable.
    fn stream<T>(&mut self, path: &str, body: impl FnOnce(&mut dyn BufRead) -> T) -> Option<T> {
        let idx = *self.files.get(path)?;
        let result = (|| -> Result<(T, Digested), String> {
            let entry = self.zip.by_index(idx).map_err(|e| e.to_string())?;
            let mut r = BufReader::with_capacity(1 << 16, DigestingReader::new(entry));
            let out = body(&mut r);
            let mut rest = r.into_inner();
            io::copy(&mut rest, &mut io::sink()).map_err(|e| e.to_string())?;
            Ok((out, rest.finish().map_err(|e| e.to_string())?))
        })();
        match result {
            Ok((out, d)) => {
                self.check_fixity(path, &d);
                Some(out)
            }
            Err(e) => {
                self.mark_seen(path);
                self.f
                    .fail(CheckId::Fixity, path, format!("cannot be read: {e}"));
                None
            }
        }
    }

    fn under(&self, dir: &str) -> Vec<String> {
        self.files
            .range(dir.to_owned()..)
            .take_while(|(p, _)| p.starts_with(dir))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// A document handed to a worker: its path, the SHA-256 its name claims, its bytes and what
/// its record says.
type DocJob = (String, Option<Hash>, Arc<Vec<u8>>, Option<DocRef>);

/// Per-record facts kept while verifying.
struct RecordFacts {
    hash: Hash,
    leaf: Hash,
}

fn parse_name<'a>(path: &'a str, dir: &str, suffix: &str) -> Option<&'a str> {
    path.strip_prefix(dir)?.strip_suffix(suffix)
}

fn parse_seq(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// Verifies the package file at `path` (see [`verify_package`]).
pub fn verify_package_file(path: &Path, key: Option<&NoteVerifier>) -> PackageReport {
    match std::fs::File::open(path) {
        Ok(file) => verify_package(BufReader::new(file), key),
        Err(e) => failed_open(format!("cannot open {}: {e}", path.display())),
    }
}

fn failed_open(message: String) -> PackageReport {
    let mut f = Findings::new();
    f.fail(CheckId::NoUnexpectedFiles, "zip", message);
    finish(f, None, None, 0, 0, 0, None, false)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    f: Findings,
    root: Option<String>,
    external_id: Option<String>,
    records: u64,
    documents: u64,
    evidence: u64,
    checkpoint: Option<Checkpoint>,
    key_given: bool,
) -> PackageReport {
    let now = crate::record::Timestamp::now();
    let report = f.report(external_id.as_deref().unwrap_or("(unknown)"), now.as_str());
    let tag = |list: Vec<(CheckId, Finding)>| {
        list.into_iter()
            .map(|(c, finding)| PackageProblem {
                check: c.id(),
                finding,
            })
            .collect()
    };
    PackageReport {
        root,
        external_id,
        records,
        documents,
        evidence,
        checkpoint,
        key_given,
        problems: tag(f.failures()),
        warnings: tag(f.warnings()),
        four_properties: report,
    }
}

/// Verifies a retention package read from `reader`, offline. The log key is `key` when given
/// (then the packaged `data/trust/log.pub` must be the same key), else the packaged one.
/// Never fails: every problem is in the report, named by file or record.
pub fn verify_package<R: Read + Seek>(reader: R, key: Option<&NoteVerifier>) -> PackageReport {
    let zip = match ZipArchive::new(reader) {
        Ok(z) => z,
        Err(e) => return failed_open(format!("not a readable zip file: {e}")),
    };
    let mut f = Findings::new();

    // The zip's shape: one root folder, safe names, no links, no duplicates.
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let mut raw: Vec<(String, usize)> = Vec::new();
    let mut zip = zip;
    for i in 0..zip.len() {
        let entry = match zip.by_index_raw(i) {
            Ok(e) => e,
            Err(e) => {
                f.fail(
                    CheckId::NoUnexpectedFiles,
                    format!("zip entry #{i}"),
                    e.to_string(),
                );
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => {
                f.fail(
                    CheckId::NoUnexpectedFiles,
                    format!("zip entry #{i}"),
                    "name is not UTF-8",
                );
                continue;
            }
        };
        if entry.is_symlink() {
            f.fail(CheckId::NoUnexpectedFiles, &name, "is a symbolic link");
            continue;
        }
        if entry.enclosed_name().is_none()
            || name.contains('\\')
            || name.split('/').any(|c| c == ".." || c == ".")
        {
            f.fail(
                CheckId::NoUnexpectedFiles,
                &name,
                "unsafe path (absolute, or escaping the folder)",
            );
            continue;
        }
        let (top, rest) = name.split_once('/').unwrap_or((name.as_str(), ""));
        roots.insert(top.to_owned());
        if entry.is_dir() {
            continue;
        }
        if rest.is_empty() {
            f.fail(
                CheckId::NoUnexpectedFiles,
                &name,
                "a file outside the root folder",
            );
            continue;
        }
        raw.push((name.clone(), i));
    }
    let root = if roots.len() == 1 {
        roots.iter().next().cloned()
    } else {
        f.fail(
            CheckId::NoUnexpectedFiles,
            "zip",
            format!("expected one root folder, found {}", roots.len()),
        );
        None
    };
    let mut files = BTreeMap::new();
    for (name, i) in raw {
        let rel = name.split_once('/').map_or("", |(_, r)| r).to_owned();
        if files.insert(rel.clone(), i).is_some() {
            f.fail(CheckId::NoUnexpectedFiles, rel, "appears twice in the zip");
        }
    }
    let zip_len = zip.len();
    let mut p = Pkg {
        zip,
        files,
        manifest: BTreeMap::new(),
        tags: BTreeMap::new(),
        seen: vec![false; zip_len],
        f,
        payload_bytes: 0,
        payload_files: 0,
    };

    // Tag manifest first (the root of the bag's fixity), then the tag files it lists.
    match p.read("tagmanifest-sha256.txt", MAX_SMALL_FILE) {
        None => {
            p.f.fail(CheckId::Fixity, "tagmanifest-sha256.txt", "missing")
        }
        Some(b) => match bagit::parse_manifest(&String::from_utf8_lossy(&b), 64) {
            Ok(m) => p.tags = m,
            Err(e) => p.f.fail(CheckId::Fixity, "tagmanifest-sha256.txt", e),
        },
    }
    for t in p.tags.keys().cloned().collect::<Vec<_>>() {
        if !p.files.contains_key(&t) {
            p.f.fail(
                CheckId::Fixity,
                &t,
                "listed in tagmanifest-sha256.txt but missing",
            );
        }
    }
    p.f.checked(CheckId::MandatoryMetadata, 1);
    match p.read("bagit.txt", MAX_SMALL_FILE) {
        None => p.f.fail(CheckId::MandatoryMetadata, "bagit.txt", "missing"),
        Some(b) => {
            let text = String::from_utf8_lossy(&b);
            let info = BagInfo::parse(&text).unwrap_or_default();
            if info.get("BagIt-Version") != Some("1.0")
                || info.get("Tag-File-Character-Encoding") != Some("UTF-8")
            {
                p.f.fail(
                    CheckId::MandatoryMetadata,
                    "bagit.txt",
                    "is not the BagIt 1.0 declaration with UTF-8 tag files",
                );
            }
        }
    }
    for (name, len) in [("manifest-sha256.txt", 64), ("manifest-sha512.txt", 128)] {
        match p.read(name, 1 << 30) {
            None => p.f.fail(CheckId::Fixity, name, "missing"),
            Some(b) => match bagit::parse_manifest(&String::from_utf8_lossy(&b), len) {
                Ok(m) => {
                    for (path, sum) in m {
                        let mut bad = Vec::new();
                        let raw = hex::decode(&sum).unwrap_or_default();
                        if !path.starts_with("data/") {
                            bad.push(format!("{name} lists a file outside data/"));
                        }
                        if !p.files.contains_key(&path) {
                            bad.push(format!("listed in {name} but missing from the bag"));
                        }
                        for b in bad {
                            p.f.fail(CheckId::Fixity, &path, b);
                        }
                        let entry = p.manifest.entry(path).or_default();
                        if len == 64 {
                            entry.sha256 = raw.try_into().ok();
                        } else {
                            entry.sha512 = raw.try_into().ok();
                        }
                    }
                }
                Err(e) => p.f.fail(CheckId::Fixity, name, e),
            },
        }
    }
    let info = match p.read("bag-info.txt", MAX_SMALL_FILE) {
        None => {
            p.f.fail(CheckId::MandatoryMetadata, "bag-info.txt", "missing");
            BagInfo::default()
        }
        Some(b) => BagInfo::parse(&String::from_utf8_lossy(&b)).unwrap_or_else(|e| {
            p.f.fail(CheckId::MetadataReadable, "bag-info.txt", e);
            BagInfo::default()
        }),
    };
    p.f.checked(CheckId::MandatoryMetadata, MANDATORY_LABELS.len() as u64);
    for label in MANDATORY_LABELS {
        if info.get(label).is_none_or(str::is_empty) {
            p.f.fail(
                CheckId::MandatoryMetadata,
                "bag-info.txt",
                format!("the {label} label is missing"),
            );
        }
    }
    let external_id = info.get("External-Identifier").map(str::to_owned);
    let filters = info.get(LABEL_SELECTION).unwrap_or("all").to_owned();
    let selection = Selection::parse_filters(&filters).unwrap_or_else(|e| {
        p.f.fail(
            CheckId::MetadataReadable,
            "bag-info.txt",
            format!("{LABEL_SELECTION}: {e}"),
        );
        Selection::default()
    });

    // The log key and the checkpoints.
    p.f.checked(CheckId::Checkpoint, 3);
    let packaged_key = p.read(LOG_KEY, MAX_SMALL_FILE).and_then(|b| {
        match NoteVerifier::from_key_string(String::from_utf8_lossy(&b).trim()) {
            Ok(v) => Some(v),
            Err(e) => {
                p.f.fail(
                    CheckId::MetadataReadable,
                    LOG_KEY,
                    format!("not a note verifier key: {e}"),
                );
                None
            }
        }
    });
    let verifier = match (key, &packaged_key) {
        (Some(k), Some(pk)) => {
            if k.key_string() != pk.key_string() {
                p.f.fail(
                    CheckId::Checkpoint,
                    LOG_KEY,
                    "is not the log key given to the verifier",
                );
            }
            Some(k.clone())
        }
        (Some(k), None) => Some(k.clone()),
        (None, Some(pk)) => Some(pk.clone()),
        (None, None) => {
            p.f.fail(
                CheckId::Checkpoint,
                LOG_KEY,
                "no log key: none given and none packaged",
            );
            None
        }
    };
    let note = p
        .read(CHECKPOINT, MAX_SMALL_FILE)
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let signed = match (&note, &verifier) {
        (None, _) => {
            p.f.fail(CheckId::Checkpoint, CHECKPOINT, "missing");
            None
        }
        (Some(n), Some(v)) => match SignedCheckpoint::open(n, v) {
            Ok(s) => Some(s),
            Err(e) => {
                p.f.fail(
                    CheckId::Checkpoint,
                    CHECKPOINT,
                    format!("does not verify with the log key {}: {e}", v.name()),
                );
                None
            }
        },
        (Some(_), None) => None,
    };
    if let Some(s) = &signed {
        if info
            .get(LABEL_ORIGIN)
            .is_some_and(|o| o != s.checkpoint.origin)
        {
            p.f.fail(
                CheckId::MetadataMatchesContent,
                "bag-info.txt",
                format!(
                    "{LABEL_ORIGIN} is not the checkpoint's origin {}",
                    s.checkpoint.origin
                ),
            );
        }
        if info
            .get(LABEL_CHECKPOINT_SIZE)
            .is_some_and(|v| v != s.checkpoint.size.to_string())
        {
            p.f.fail(
                CheckId::MetadataMatchesContent,
                "bag-info.txt",
                format!(
                    "{LABEL_CHECKPOINT_SIZE} is not the checkpoint's size {}",
                    s.checkpoint.size
                ),
            );
        }
        let latest = p
            .read(LATEST_CHECKPOINT, MAX_SMALL_FILE)
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let latest = match (latest, &verifier) {
            (None, _) => {
                p.f.fail(CheckId::Checkpoint, LATEST_CHECKPOINT, "missing");
                None
            }
            (Some(n), Some(v)) => match SignedCheckpoint::open(&n, v) {
                Ok(l) => Some(l),
                Err(e) => {
                    p.f.fail(
                        CheckId::Checkpoint,
                        LATEST_CHECKPOINT,
                        format!("does not verify: {e}"),
                    );
                    None
                }
            },
            (Some(_), None) => None,
        };
        let proof = p.read(CONSISTENCY_PROOF, MAX_SMALL_FILE);
        match (latest, proof) {
            (_, None) => p.f.fail(CheckId::Checkpoint, CONSISTENCY_PROOF, "missing"),
            (None, Some(_)) => {}
            (Some(l), Some(text)) => {
                if let Err(e) = check_consistency(&text, &s.checkpoint, &l.checkpoint) {
                    p.f.fail(CheckId::Checkpoint, CONSISTENCY_PROOF, e);
                }
            }
        }
    } else {
        for path in [LATEST_CHECKPOINT, CONSISTENCY_PROOF] {
            let _ = p.read(path, MAX_SMALL_FILE);
        }
    }

    // Trust material.
    let mut anchors: Vec<Vec<u8>> = Vec::new();
    for path in p.under("data/trust/") {
        if path == LOG_KEY {
            continue;
        }
        let Some(bytes) = p.read(&path, MAX_SMALL_FILE) else {
            continue;
        };
        p.f.checked(CheckId::MetadataReadable, 1);
        let (name, is_pem) = if let Some(n) = parse_name(&path, ANCHORS_DIR, ".pem") {
            (n, true)
        } else if let Some(n) = parse_name(&path, CA_DIR, ".pem") {
            (n, true)
        } else if let Some(n) =
            parse_name(&path, SEALS_DIR, ".der").or_else(|| parse_name(&path, CRLS_DIR, ".crl"))
        {
            if Hash::sha256(&bytes).to_hex() != n {
                p.f.fail(
                    CheckId::MetadataMatchesContent,
                    &path,
                    "its content does not hash to its name",
                );
            }
            continue;
        } else {
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                "not part of the package layout",
            );
            continue;
        };
        if is_pem {
            match chop_seal::certs::certificates_from_pem(&String::from_utf8_lossy(&bytes)) {
                Ok(certs) if certs.len() == 1 => {
                    let der = certs.into_iter().next().unwrap_or_default();
                    if chop_seal::certs::fingerprint_sha256(&der) != name {
                        p.f.fail(
                            CheckId::MetadataMatchesContent,
                            &path,
                            "the certificate's SHA-256 fingerprint is not its name",
                        );
                    }
                    if path.starts_with(ANCHORS_DIR) {
                        anchors.push(der);
                    }
                }
                Ok(_) => p.f.fail(
                    CheckId::MetadataReadable,
                    &path,
                    "must hold exactly one certificate",
                ),
                Err(e) => p.f.fail(CheckId::MetadataReadable, &path, e.to_string()),
            }
        }
    }

    // records.jsonl: canonical, ascending, chained.
    let own_seq = info.get(LABEL_EXPORT_RECORD).and_then(parse_seq);
    let mut facts: BTreeMap<u64, RecordFacts> = BTreeMap::new();
    let mut order: Vec<u64> = Vec::new();
    let mut index = RecordIndex::default();
    let mut own: Option<Record> = None;
    let mut with_evidence: Vec<Record> = Vec::new();
    let keep_for_org = selection.org.is_some();
    let jsonl = p.stream(RECORDS_JSONL, |r| -> Vec<(String, CheckId, String)> {
        let mut problems = Vec::new();
        let mut prev: Option<(u64, Hash)> = None;
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            match (&mut *r).take(MAX_RECORD_BYTES as u64 + 2).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    problems.push((RECORDS_JSONL.into(), CheckId::MetadataReadable, e.to_string()));
                    break;
                }
            }
            n += 1;
            let Some(bytes) = line.strip_suffix(b"\n") else {
                problems.push((
                    format!("{RECORDS_JSONL} line {n}"),
                    CheckId::MetadataReadable,
                    "does not end with a newline (or is longer than 1 MiB)".into(),
                ));
                break;
            };
            let record = match Record::from_canonical_bytes(bytes) {
                Ok(rec) => rec,
                Err(e) => {
                    problems.push((
                        format!("{RECORDS_JSONL} line {n}"),
                        CheckId::RecordChain,
                        format!("not a canonical record: {e}"),
                    ));
                    continue;
                }
            };
            let seq = record.seq;
            let hash = Hash::sha256(bytes);
            if let Some((ps, ph)) = prev {
                if seq <= ps {
                    problems.push((
                        format!("record {seq}"),
                        CheckId::RecordChain,
                        format!("out of order: comes after record {ps} in records.jsonl"),
                    ));
                } else if seq == ps + 1 && record.prev != ph {
                    problems.push((
                        format!("record {seq}"),
                        CheckId::RecordChain,
                        format!(
                            "prev is {} but record {ps} before it hashes to {ph}: the chain is broken",
                            record.prev
                        ),
                    ));
                }
            }
            prev = Some((seq, hash));
            if facts.contains_key(&seq) {
                problems.push((format!("record {seq}"), CheckId::RecordChain, "appears twice".into()));
                continue;
            }
            facts.insert(seq, RecordFacts { hash, leaf: leaf_hash(bytes) });
            order.push(seq);
            if Some(seq) == own_seq {
                own = Some(record);
                continue;
            }
            index.add(&record);
            if !selection.matches(&record, &[]) && !keep_for_org {
                problems.push((
                    format!("record {seq}"),
                    CheckId::MetadataMatchesContent,
                    format!("does not match the declared selection ({})", selection.describe_filters()),
                ));
            }
            if keep_for_org {
                with_evidence.push(record);
            }
        }
        problems
    });
    match jsonl {
        None => p.f.fail(CheckId::ContentPresent, RECORDS_JSONL, "missing"),
        Some(problems) => {
            for (loc, id, msg) in problems {
                p.f.fail(id, loc, msg);
            }
        }
    }
    let n_records = facts.len() as u64;
    p.f.checked(CheckId::RecordChain, n_records);
    p.f.checked(CheckId::MetadataReadable, n_records);
    p.f.checked(CheckId::MandatoryMetadata, n_records);

    // The package's own record and its commitment.
    let selected: Vec<u64> = order
        .iter()
        .copied()
        .filter(|s| Some(*s) != own_seq)
        .collect();
    p.f.checked(CheckId::Counts, 4);
    match (&own, own_seq) {
        (None, _) => p.f.fail(
            CheckId::MandatoryMetadata,
            RECORDS_JSONL,
            format!("the package's own package.exported record ({LABEL_EXPORT_RECORD}) is missing"),
        ),
        (Some(r), _) => {
            let pl = &r.payload;
            let loc = format!("record {}", r.seq);
            if r.kind != RecordKind::PackageExported
                || pl.get("package").and_then(Value::as_str) != external_id.as_deref()
            {
                p.f.fail(
                    CheckId::MetadataMatchesContent,
                    &loc,
                    "is not this package's package.exported record",
                );
            }
            let digest = records_digest(
                selected
                    .iter()
                    .filter_map(|s| facts.get(s).map(|f| &f.hash)),
            );
            let claims = [
                ("record_count", Value::from(selected.len() as u64)),
                (
                    "first_seq",
                    Value::from(selected.first().copied().unwrap_or(0)),
                ),
                (
                    "last_seq",
                    Value::from(selected.last().copied().unwrap_or(0)),
                ),
                ("records_sha256", Value::from(digest.to_hex())),
                ("selection", Value::from(filters.clone())),
            ];
            for (k, want) in claims {
                if pl.get(k) != Some(&want) {
                    p.f.fail(
                        CheckId::Counts,
                        &loc,
                        format!(
                            "package.exported commits to {k} = {} but the package holds {want}: records were removed, added or changed",
                            pl.get(k).map_or("nothing".into(), |v| v.to_string())
                        ),
                    );
                }
            }
        }
    }
    if info
        .get(LABEL_RECORD_COUNT)
        .is_some_and(|v| v != n_records.to_string())
    {
        p.f.fail(
            CheckId::Counts,
            "bag-info.txt",
            format!("{LABEL_RECORD_COUNT} is not the {n_records} records in records.jsonl"),
        );
    }
    judge_continuity(&mut p.f, &selected, &filters);

    // records/<seq>.json.
    let mut record_files = BTreeSet::new();
    for path in p.under(RECORDS_DIR) {
        if path == RECORDS_JSONL {
            continue;
        }
        let Some(seq) = parse_name(&path, RECORDS_DIR, ".json").and_then(parse_seq) else {
            let _ = p.read(&path, MAX_SMALL_FILE);
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                "not part of the package layout",
            );
            continue;
        };
        let Some(bytes) = p.read(&path, MAX_RECORD_BYTES as u64) else {
            continue;
        };
        record_files.insert(seq);
        match facts.get(&seq) {
            None => p.f.fail(
                CheckId::Counts,
                &path,
                format!("record {seq} is not in records.jsonl"),
            ),
            Some(rf) if Hash::sha256(&bytes) != rf.hash => p.f.fail(
                CheckId::RecordChain,
                &path,
                format!("differs from record {seq} in records.jsonl"),
            ),
            Some(_) => {}
        }
    }
    for seq in facts.keys() {
        if !record_files.contains(seq) {
            p.f.fail(
                CheckId::Counts,
                format!("record {seq}"),
                format!("{RECORDS_DIR}{seq}.json is missing"),
            );
        }
    }

    // Proofs.
    p.f.checked(CheckId::InclusionProofs, n_records);
    let mut proved = BTreeSet::new();
    for path in p.under(PROOFS_DIR) {
        let Some(seq) = parse_name(&path, PROOFS_DIR, ".tlog-proof").and_then(parse_seq) else {
            let _ = p.read(&path, MAX_SMALL_FILE);
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                "not part of the package layout",
            );
            continue;
        };
        let Some(bytes) = p.read(&path, MAX_PROOF_FILE_BYTES as u64) else {
            continue;
        };
        proved.insert(seq);
        let loc = format!("record {seq} ({path})");
        let Some(rf) = facts.get(&seq) else {
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                format!("record {seq} is not in the package"),
            );
            continue;
        };
        let proof = match TlogProof::parse(&bytes) {
            Ok(pr) => pr,
            Err(e) => {
                p.f.fail(CheckId::InclusionProofs, loc, e.to_string());
                continue;
            }
        };
        if proof.index != seq {
            p.f.fail(
                CheckId::InclusionProofs,
                &loc,
                format!("proves index {}", proof.index),
            );
        }
        if note.as_deref().is_some_and(|n| *n != proof.checkpoint) {
            p.f.fail(
                CheckId::InclusionProofs,
                &loc,
                "carries a checkpoint other than data/checkpoint",
            );
        }
        if proof
            .extra
            .as_ref()
            .is_some_and(|e| Hash::sha256(e) != rf.hash)
        {
            p.f.fail(
                CheckId::InclusionProofs,
                &loc,
                "its extra line is not the packaged record",
            );
        }
        if let Some(s) = &signed
            && let Err(e) = merkle::verify_inclusion(
                seq,
                s.checkpoint.size,
                &rf.leaf,
                &proof.hashes,
                &s.checkpoint.root,
            )
        {
            p.f.fail(
                CheckId::InclusionProofs,
                &loc,
                format!("does not lead to the checkpoint's root: {e}"),
            );
        }
    }
    for seq in facts.keys() {
        if !proved.contains(seq) {
            p.f.fail(
                CheckId::InclusionProofs,
                format!("record {seq}"),
                format!("{PROOFS_DIR}{seq}.tlog-proof is missing"),
            );
        }
    }

    // Evidence.
    let mut evidence: BTreeMap<Hash, EvidenceFacts> = BTreeMap::new();
    let mut evidence_files = 0u64;
    for path in p.under(EVIDENCE_DIR) {
        let sha = parse_name(&path, EVIDENCE_DIR, ".json").and_then(|h| Hash::from_hex(h).ok());
        let Some(bytes) = p.read(&path, MAX_SMALL_FILE) else {
            continue;
        };
        let Some(sha) = sha else {
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                "not part of the package layout",
            );
            continue;
        };
        evidence_files += 1;
        if Hash::sha256(&bytes) != sha {
            p.f.fail(
                CheckId::MetadataMatchesContent,
                &path,
                "its content does not hash to its name",
            );
        }
        if !index.evidence.contains_key(&sha) {
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                "not named by any record in the package",
            );
        }
        p.f.checked(CheckId::MetadataReadable, 1);
        match evidence_facts(&bytes) {
            Ok(e) => {
                evidence.insert(sha, e);
            }
            Err(e) => p.f.fail(CheckId::MetadataReadable, &path, e),
        }
    }
    for (sha, seq) in &index.evidence {
        p.f.checked(CheckId::ContentPresent, 1);
        if !p.files.contains_key(&super::assess::evidence_path(sha))
            && !index.disposed.contains(sha)
        {
            p.f.fail(
                CheckId::ContentPresent,
                super::assess::evidence_path(sha),
                format!("named by record {seq} but not in the package"),
            );
        }
    }
    for r in &with_evidence {
        let orgs: Vec<String> = r
            .digests
            .iter()
            .filter_map(|d| evidence.get(&d.value))
            .flat_map(|e| e.organizations.iter().cloned())
            .collect();
        if !selection.matches(r, &orgs) {
            p.f.fail(
                CheckId::MetadataMatchesContent,
                format!("record {}", r.seq),
                format!("does not match the declared selection ({filters})"),
            );
        }
    }

    // Documents: read here, judged on worker threads.
    let doc_paths = p.under(DOCUMENTS_DIR);
    let mut present: BTreeSet<Hash> = BTreeSet::new();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let anchors = Arc::new(anchors);
    let mut queue = doc_paths.iter();
    // The main thread only reads; workers hash (SHA-256 and SHA-512) and judge.
    let verdicts = pipeline(
        threads,
        || -> Result<Option<DocJob>, ()> {
            for path in queue.by_ref() {
                let sha =
                    parse_name(path, DOCUMENTS_DIR, ".pdf").and_then(|h| Hash::from_hex(h).ok());
                let Some(bytes) = p.read_undigested(path, MAX_DOCUMENT) else {
                    continue;
                };
                if let Some(sha) = sha {
                    present.insert(sha);
                }
                let doc = sha.and_then(|s| index.documents.get(&s).cloned());
                return Ok(Some((path.clone(), sha, Arc::new(bytes), doc)));
            }
            Ok(None)
        },
        |(path, sha, bytes, doc): DocJob| {
            let mut d = FileDigests::new();
            d.update(&bytes);
            let digested = d.finish();
            let mut problems: Vec<(CheckId, String)> = Vec::new();
            let mut findings = None;
            match (sha, doc) {
                (None, _) => problems.push((
                    CheckId::NoUnexpectedFiles,
                    "not part of the package layout".into(),
                )),
                (Some(sha), _) if digested.sha256 != sha.to_hex() => problems.push((
                    CheckId::MetadataMatchesContent,
                    "its content does not hash to its name (the SHA-256 its record names)".into(),
                )),
                (Some(_), None) => problems.push((
                    CheckId::NoUnexpectedFiles,
                    "not named by any record in the package".into(),
                )),
                (Some(sha), Some(doc)) => {
                    let ev = doc.evidence.first().and_then(|e| evidence.get(e));
                    findings = Some(assess_document(&sha, &bytes, &doc, ev, &anchors, None));
                }
            }
            (path, digested, problems, findings)
        },
    );
    for (path, digested, problems, findings) in verdicts.unwrap_or_default() {
        p.check_fixity(&path, &digested);
        for (id, msg) in problems {
            p.f.fail(id, &path, msg);
        }
        if let Some(f) = findings {
            p.f.merge(f);
        }
    }
    let n_documents = present.len() as u64;
    for (sha, doc) in &index.documents {
        p.f.checked(CheckId::ContentPresent, 1);
        if !present.contains(sha) && !index.disposed.contains(sha) {
            p.f.fail(
                CheckId::ContentPresent,
                document_path(sha),
                format!("named by record {} but not in the package", doc.seq),
            );
        }
    }

    // METS.
    p.f.checked(CheckId::MetadataReadable, 1);
    match p.stream(METS, |r| read_mets(r)) {
        None => p.f.fail(CheckId::MandatoryMetadata, METS, "missing"),
        Some(Err(e)) => p.f.fail(CheckId::MetadataReadable, METS, e),
        Some(Ok(m)) => {
            if m.event_seqs != order {
                let first_diff = m
                    .event_seqs
                    .iter()
                    .zip(order.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(m.event_seqs.len().min(order.len()));
                p.f.fail(
                    CheckId::MandatoryMetadata,
                    METS,
                    format!(
                        "{} PREMIS events for {} records; they differ from the records at position {first_diff}",
                        m.event_seqs.len(),
                        order.len()
                    ),
                );
            }
        }
    }

    // The packaged four-property report.
    let packaged: Option<FourPropertyReport> = match p.read(FOUR_JSON, MAX_SMALL_FILE) {
        None => {
            p.f.fail(CheckId::MandatoryMetadata, FOUR_JSON, "missing");
            None
        }
        Some(b) => match serde_json::from_slice(&b) {
            Ok(r) => Some(r),
            Err(e) => {
                p.f.fail(
                    CheckId::MetadataReadable,
                    FOUR_JSON,
                    format!("not a four-property report: {e}"),
                );
                None
            }
        },
    };
    if p.read(FOUR_HTML, MAX_SMALL_FILE).is_none() && !p.was_seen(FOUR_HTML) {
        p.f.fail(CheckId::MandatoryMetadata, FOUR_HTML, "missing");
    }

    // Anything else is unexpected; still hashed so the manifests are checked.
    let rest: Vec<String> = p.files.keys().filter(|k| !p.was_seen(k)).cloned().collect();
    for path in rest {
        if path.starts_with("data/") {
            let _ = p.stream(&path, |_| ());
        }
        let tag_ok = matches!(
            path.as_str(),
            "bagit.txt"
                | "bag-info.txt"
                | "manifest-sha256.txt"
                | "manifest-sha512.txt"
                | "tagmanifest-sha256.txt"
        );
        if !tag_ok {
            p.f.fail(
                CheckId::NoUnexpectedFiles,
                &path,
                "not part of the package layout",
            );
        }
    }
    p.f.checked(CheckId::NoUnexpectedFiles, p.files.len() as u64);

    // Payload-Oxum.
    let oxum = bagit::payload_oxum(p.payload_bytes, p.payload_files);
    if info.get("Payload-Oxum").is_some_and(|v| v != oxum) {
        p.f.fail(
            CheckId::Counts,
            "bag-info.txt",
            format!(
                "Payload-Oxum is {} but the payload is {oxum} (bytes.files)",
                info.get("Payload-Oxum").unwrap_or_default()
            ),
        );
    }

    // The recomputed report must agree with the packaged one.
    if let Some(packaged) = packaged {
        let now = p.f.report("", "");
        let want: BTreeMap<String, Outcome> = now.results().into_iter().collect();
        for (id, claimed) in packaged.results() {
            if let Some(actual) = want.get(&id)
                && *actual != claimed
                && (claimed == Outcome::Pass || *actual == Outcome::Pass)
            {
                p.f.fail(
                    CheckId::MetadataMatchesContent,
                    FOUR_JSON,
                    format!("says {claimed} for {id} but the package gives {actual}"),
                );
            }
        }
    }

    finish(
        p.f,
        root,
        external_id,
        n_records,
        n_documents,
        evidence_files,
        signed.map(|s| s.checkpoint),
        key.is_some(),
    )
}

fn check_consistency(text: &[u8], old: &Checkpoint, new: &Checkpoint) -> Result<(), String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(CONSISTENCY_HEADER) {
        return Err(format!("the first line is not {CONSISTENCY_HEADER}"));
    }
    let size = |line: Option<&str>, label: &str| -> Result<u64, String> {
        line.and_then(|l| l.strip_prefix(label))
            .and_then(parse_seq)
            .ok_or_else(|| format!("expected a `{label}N` line"))
    };
    let (o, n) = (size(lines.next(), "old ")?, size(lines.next(), "new ")?);
    if o != old.size || n != new.size {
        return Err(format!(
            "proves {o} → {n}, but the checkpoints have sizes {} and {}",
            old.size, new.size
        ));
    }
    let hashes = lines
        .map(|l| Hash::from_base64(l).map_err(|_| format!("{l:?} is not a base64 hash")))
        .collect::<Result<Vec<_>, _>>()?;
    if old.origin != new.origin {
        return Err("the two checkpoints are of different logs".into());
    }
    merkle::verify_consistency(o, n, &old.root, &new.root, &hashes)
        .map_err(|e| format!("the package checkpoint is not a prefix of the latest one: {e}"))
}
