//! Writing a retention package: [`plan_export`] reads the selected records once (checking the
//! chain) and says what the package will hold; the caller appends the package's own
//! `package.exported` record ([`ExportPlan::exported_record`]) and signs a checkpoint covering
//! it; [`write_package`] then streams everything into the zip, one document at a time, hashing
//! each file as it is written, and verifies every proof before writing it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Seek, Write};
use std::sync::{Arc, Mutex, mpsc};

use serde_json::{Value, json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::assess::{
    DocRef, EvidenceFacts, RecordIndex, assess_document, document_path, evidence_facts,
    evidence_path,
};
use super::bagit::{self, BagInfo, DigestingWriter, FileDigests};
use super::four::{CheckId, Findings, FourPropertyReport};
use super::mets::{self, MetsFile};
use super::pdf::scan_signatures;
use super::{
    ANCHORS_DIR, CA_DIR, CHECKPOINT, CONSISTENCY_HEADER, CONSISTENCY_PROOF, CRLS_DIR, FOUR_HTML,
    FOUR_JSON, LABEL_CHECKPOINT_SIZE, LABEL_EXPORT_RECORD, LABEL_ORIGIN, LABEL_RECORD_COUNT,
    LABEL_RETENTION, LABEL_SELECTION, LATEST_CHECKPOINT, LOG_KEY, METS, PROOFS_DIR, PackageError,
    RECORDS_DIR, RECORDS_JSONL, SEALS_DIR, Selection, certificate_pem, longest_retention,
};
use crate::checkpoint::SignedCheckpoint;
use crate::log::StoredRecord;
use crate::merkle::{self, Hash, PrefetchedHashes, leaf_hash};
use crate::note::NoteVerifier;
use crate::proof::TlogProof;
use crate::record::{NewRecord, Record, RecordKind, Retention, Timestamp};

/// What a pipeline producer yields: the next item, none left, or a failure.
type Job<T, E> = Result<Option<T>, PackageError<E>>;

/// Records read per source call.
const PAGE: u64 = 1024;

/// Where an export reads the archive from (implemented in `api` over the database and the
/// document store; in tests over memory). Calls are sequential, from one thread.
pub trait PackageSource {
    /// The source's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The records with `from ≤ seq < to`, ascending, without gaps (fewer past the end).
    fn records(&mut self, from: u64, to: u64) -> Result<Vec<StoredRecord>, Self::Error>;

    /// The Merkle node hashes at these dense slots ([`merkle::stored_hash_index`]), in order.
    fn hashes(&mut self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;

    /// A document's bytes by SHA-256, `None` if it is not stored (e.g. disposed).
    fn document(&mut self, sha256: &Hash) -> Result<Option<Vec<u8>>, Self::Error>;

    /// An evidence item's bytes by SHA-256, `None` if it is not stored.
    fn evidence(&mut self, sha256: &Hash) -> Result<Option<Vec<u8>>, Self::Error>;

    /// The log's latest signed checkpoint now (signing one first if the log grew), as a note.
    fn latest_checkpoint(&mut self) -> Result<String, Self::Error>;
}

/// What to export and how to label it.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// Which records.
    pub selection: Selection,
    /// bag-info `Source-Organization`.
    pub source_organization: String,
    /// The log's origin (checkpoint origin line).
    pub origin: String,
    /// The bagging time: `Bagging-Date`, zip entry times, the package identifier.
    pub bagging_time: Timestamp,
}

/// Progress of [`write_package`], for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being written: `records`, `documents`, …
    pub stage: &'static str,
    /// Items done in this stage.
    pub done: u64,
    /// Items in this stage.
    pub total: u64,
}

/// What [`plan_export`] found: the records, documents and evidence the package will hold.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    spec: ExportSpec,
    external_id: String,
    root: String,
    /// (seq, record hash) of every selected record, ascending.
    records: Vec<(u64, Hash)>,
    records_digest: Hash,
    index: RecordIndex,
    retention: Retention,
}

fn compact_time(t: &Timestamp) -> String {
    let s: String = t
        .as_str()
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{s}Z")
}

/// SHA-256 over the concatenated record hashes: what `package.exported` commits to.
pub(crate) fn records_digest<'a>(hashes: impl IntoIterator<Item = &'a Hash>) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for h in hashes {
        ctx.update(h.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Hash(out)
}

impl ExportPlan {
    /// The package's External-Identifier (`urn:chop:<origin>:package:<first>-<last>:<time>`).
    pub fn external_id(&self) -> &str {
        &self.external_id
    }

    /// The zip's root folder name.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Number of selected records (the package's own record not counted).
    pub fn record_count(&self) -> u64 {
        self.records.len() as u64
    }

    /// Number of documents the selected records name.
    pub fn document_count(&self) -> u64 {
        self.index.documents.len() as u64
    }

    /// Seqs of the first and last selected record.
    pub fn seq_range(&self) -> (u64, u64) {
        (
            self.records.first().map_or(0, |r| r.0),
            self.records.last().map_or(0, |r| r.0),
        )
    }

    /// The package's retention class: the longest of its records'.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// The `package.exported` record to append before [`write_package`]: its payload commits to
    /// the selected records (count, range, SHA-256 over their record hashes), so the package
    /// proves it holds exactly them.
    pub fn exported_record(&self, actor: &str) -> NewRecord {
        let mut r = NewRecord::new(RecordKind::PackageExported, actor);
        r.time = self.spec.bagging_time.clone();
        r.retention = self.retention;
        r.subject = vec![format!("package:{}", self.external_id)];
        let (first, last) = self.seq_range();
        let p = &mut r.payload;
        p.insert("package".into(), json!(self.external_id));
        p.insert("root".into(), json!(self.root));
        p.insert(
            "selection".into(),
            json!(self.spec.selection.describe_filters()),
        );
        p.insert("first_seq".into(), json!(first));
        p.insert("last_seq".into(), json!(last));
        p.insert("record_count".into(), json!(self.records.len()));
        p.insert("records_sha256".into(), json!(self.records_digest.to_hex()));
        p.insert("documents".into(), json!(self.index.documents.len()));
        p.insert("evidence".into(), json!(self.index.evidence.len()));
        p.insert(
            "source_organization".into(),
            json!(self.spec.source_organization),
        );
        r
    }
}

fn read_page<S: PackageSource>(
    source: &mut S,
    from: u64,
    to: u64,
) -> Result<Vec<StoredRecord>, PackageError<S::Error>> {
    let page = source.records(from, to).map_err(PackageError::Source)?;
    for (i, r) in page.iter().enumerate() {
        let want = from + i as u64;
        if r.seq != want {
            return Err(PackageError::corrupt(
                format!("record {want}"),
                format!("storage returned record {} instead", r.seq),
            ));
        }
    }
    Ok(page)
}

/// The record `seq` of a contiguous page (as [`read_page`] returns them).
fn record_at(page: &[StoredRecord], seq: u64) -> Option<&StoredRecord> {
    let first = page.first()?.seq;
    let i = usize::try_from(seq.checked_sub(first)?).ok()?;
    page.get(i).filter(|r| r.seq == seq)
}

fn parse_stored<E: std::error::Error>(r: &StoredRecord) -> Result<Record, PackageError<E>> {
    Record::from_canonical_bytes(&r.bytes)
        .map_err(|e| PackageError::corrupt(format!("record {}", r.seq), e))
}

fn evidence_orgs<S: PackageSource>(
    source: &mut S,
    record: &Record,
) -> Result<Vec<String>, PackageError<S::Error>> {
    let mut orgs = Vec::new();
    for d in record
        .digests
        .iter()
        .filter(|d| d.role.as_deref() == Some("evidence"))
    {
        if let Some(bytes) = source.evidence(&d.value).map_err(PackageError::Source)?
            && let Ok(f) = evidence_facts(&bytes)
        {
            orgs.extend(f.organizations);
        }
    }
    Ok(orgs)
}

/// Reads the records of `spec.selection` among the first `log_size` records, checks that they
/// are canonical and chained, and returns what the package will hold. An error if nothing is
/// selected or the chain is broken.
pub fn plan_export<S: PackageSource>(
    source: &mut S,
    spec: ExportSpec,
    log_size: u64,
) -> Result<ExportPlan, PackageError<S::Error>> {
    let sel = &spec.selection;
    let mut start = sel.from_seq.unwrap_or(0);
    let mut end = sel
        .to_seq
        .map_or(log_size, |t| t.saturating_add(1).min(log_size));
    if start >= end {
        return Err(PackageError::Usage(format!(
            "no records in the range (the log has {log_size})"
        )));
    }
    if sel.since.is_some() || sel.until.is_some() {
        let (mut first, mut last) = (None, None);
        let mut from = start;
        while from < end {
            let page = read_page(source, from, end.min(from + PAGE))?;
            if page.is_empty() {
                break;
            }
            for stored in &page {
                let r = parse_stored(stored)?;
                let after = sel.since.as_ref().is_none_or(|s| r.time >= *s);
                let before = sel.until.as_ref().is_none_or(|u| r.time < *u);
                if after && before {
                    first.get_or_insert(r.seq);
                    last = Some(r.seq);
                }
            }
            from += page.len() as u64;
        }
        match (first, last) {
            (Some(f), Some(l)) => (start, end) = (f, l + 1),
            _ => {
                return Err(PackageError::Usage(
                    "no record lies between --since and --until".into(),
                ));
            }
        }
    }

    let mut records = Vec::new();
    let mut index = RecordIndex::default();
    let mut retentions = Vec::new();
    let mut prev: Option<(u64, Hash)> = None;
    let mut from = start;
    while from < end {
        let page = read_page(source, from, end.min(from + PAGE))?;
        if page.is_empty() {
            return Err(PackageError::corrupt(
                format!("record {from}"),
                "missing from storage",
            ));
        }
        for stored in &page {
            let r = parse_stored(stored)?;
            if let Some((_, ph)) = prev
                && r.prev != ph
            {
                return Err(PackageError::corrupt(
                    format!("record {}", r.seq),
                    format!("prev is {} but the previous record hashes to {ph}", r.prev),
                ));
            }
            let hash = Hash::sha256(&stored.bytes);
            prev = Some((r.seq, hash));
            let orgs = if sel.org.is_some() {
                evidence_orgs(source, &r)?
            } else {
                Vec::new()
            };
            if sel.matches(&r, &orgs) {
                records.push((r.seq, hash));
                index.add(&r);
                retentions.push(r.retention);
            }
        }
        from += page.len() as u64;
    }
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Err(PackageError::Usage(
            "no record matches the selection".into(),
        ));
    };
    let time = compact_time(&spec.bagging_time);
    let external_id = format!(
        "urn:chop:{}:package:{}-{}:{time}",
        spec.origin, first.0, last.0
    );
    let root = format!("chop-package-{}-{}-{time}", first.0, last.0);
    let records_digest = records_digest(records.iter().map(|r| &r.1));
    Ok(ExportPlan {
        external_id,
        root,
        records_digest,
        retention: longest_retention(retentions).unwrap_or(Retention::Permanent),
        records,
        index,
        spec,
    })
}

/// What the exporter needs besides the plan.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// The package checkpoint (signed note) — it must cover the `package.exported` record.
    pub checkpoint: String,
    /// The log's verifier key.
    pub verifier: NoteVerifier,
    /// Trust anchors (DER) to include besides those the evidence names.
    pub extra_anchors: Vec<Vec<u8>>,
    /// CRLs (DER) to include.
    pub crls: Vec<Vec<u8>>,
    /// Worker threads for inspecting and re-verifying documents (at least 1).
    pub threads: usize,
}

/// What [`write_package`] wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// External-Identifier.
    pub external_id: String,
    /// Root folder.
    pub root: String,
    /// Records (including the package's own `package.exported` record).
    pub records: u64,
    /// Documents written.
    pub documents: u64,
    /// Evidence items written.
    pub evidence: u64,
    /// Payload files and bytes (Payload-Oxum).
    pub payload_files: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// The package checkpoint's size.
    pub checkpoint_size: u64,
    /// The four-property report written into the package.
    pub report: FourPropertyReport,
}

struct Entry {
    path: Box<str>,
    sha256: [u8; 32],
    sha512: [u8; 64],
    size: u64,
}

/// A zip being filled with one bag: every entry under `root/`, digested as written.
struct BagWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    root: String,
    time: zip::DateTime,
    payload: Vec<Entry>,
    tags: Vec<Entry>,
}

impl<W: Write + Seek> BagWriter<W> {
    fn new(out: W, root: &str, time: &Timestamp) -> Self {
        let t = time.to_datetime();
        let time = u16::try_from(t.year())
            .ok()
            .and_then(|y| {
                zip::DateTime::from_date_and_time(
                    y,
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                )
                .ok()
            })
            .unwrap_or_default();
        BagWriter {
            zip: ZipWriter::new(out),
            root: root.to_owned(),
            time,
            payload: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn options(&self, compress: bool, large: bool) -> SimpleFileOptions {
        SimpleFileOptions::default()
            .compression_method(if compress {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            })
            .compression_level(compress.then_some(1))
            .last_modified_time(self.time)
            .unix_permissions(0o644)
            .large_file(large)
    }

    fn stream(
        &mut self,
        path: &str,
        compress: bool,
        large: bool,
        body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<[u8; 32], zip::result::ZipError> {
        let options = self.options(compress, large);
        self.zip
            .start_file(format!("{}/{path}", self.root), options)?;
        let mut w = DigestingWriter::new(&mut self.zip);
        body(&mut w)?;
        let (_, digests) = w.finish();
        Ok(self.record(path, digests))
    }

    /// Writes a stored entry without digesting it: the caller digests the bytes elsewhere and
    /// calls [`BagWriter::record`].
    fn put_undigested(&mut self, path: &str, bytes: &[u8]) -> Result<(), zip::result::ZipError> {
        let large = bytes.len() as u64 >= u64::from(u32::MAX);
        let options = self.options(false, large);
        self.zip
            .start_file(format!("{}/{path}", self.root), options)?;
        self.zip.write_all(bytes)?;
        Ok(())
    }

    fn put(
        &mut self,
        path: &str,
        bytes: &[u8],
        compress: bool,
    ) -> Result<[u8; 32], zip::result::ZipError> {
        let large = bytes.len() as u64 >= u64::from(u32::MAX);
        self.stream(path, compress, large, |w| w.write_all(bytes))
    }

    /// Keeps the digests for the manifests and returns the SHA-256.
    fn record(&mut self, path: &str, digests: FileDigests) -> [u8; 32] {
        let (sha256, sha512, size) = digests.finish_raw();
        let e = Entry {
            path: path.into(),
            sha256,
            sha512,
            size,
        };
        if path.starts_with("data/") {
            self.payload.push(e);
        } else {
            self.tags.push(e);
        }
        sha256
    }

    fn payload_totals(&self) -> (u64, u64) {
        (
            self.payload.iter().map(|e| e.size).sum(),
            self.payload.len() as u64,
        )
    }
}

/// Runs `work` on `threads` workers over the items `produce` yields (on this thread, in order)
/// and returns the results in production order. At most `2 × threads` items wait at a time.
pub(crate) fn pipeline<T: Send, R: Send, E>(
    threads: usize,
    mut produce: impl FnMut() -> Result<Option<T>, E>,
    work: impl Fn(T) -> R + Sync,
) -> Result<Vec<R>, E> {
    let threads = threads.max(1);
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, T)>(threads * 2);
    let (res_tx, res_rx) = mpsc::channel::<(usize, R)>();
    let job_rx = Mutex::new(job_rx);
    let outcome = std::thread::scope(|scope| {
        for _ in 0..threads {
            let (job_rx, res_tx, work) = (&job_rx, res_tx.clone(), &work);
            scope.spawn(move || {
                loop {
                    let next = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, item)) = next else { return };
                    if res_tx.send((i, work(item))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(res_tx);
        let mut n = 0;
        let result = loop {
            match produce() {
                Ok(Some(item)) => {
                    if job_tx.send((n, item)).is_err() {
                        break Ok(());
                    }
                    n += 1;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(job_tx);
        result
    });
    outcome?;
    let mut results: Vec<(usize, R)> = res_rx.into_iter().collect();
    results.sort_by_key(|r| r.0);
    Ok(results.into_iter().map(|r| r.1).collect())
}

/// The gap judgement shared with the verifier: a complete package must have every seq of its
/// range; a selective one may skip records, and says so.
pub(crate) fn judge_continuity(f: &mut Findings, seqs: &[u64], filters: &str) {
    f.checked(CheckId::SeqContinuity, seqs.len() as u64);
    let gaps = super::seq_gaps(seqs);
    if filters == "all" {
        for (a, b) in gaps {
            f.fail(
                CheckId::SeqContinuity,
                format!("record {b}"),
                format!(
                    "records {}..={} are missing before it",
                    a.saturating_add(1),
                    b.saturating_sub(1)
                ),
            );
        }
    } else if let Some((a, b)) = gaps.first() {
        f.warn(
            CheckId::SeqContinuity,
            RECORDS_DIR.trim_end_matches('/'),
            format!(
                "selective export ({filters}): {} gap(s) between included records (the first after record {a}, before record {b}); the package's package.exported record commits to exactly the included records",
                gaps.len()
            ),
        );
    }
}

fn is_ca(der: &[u8]) -> bool {
    chop_seal::certs::parse(der).is_ok_and(|c| c.is_ca())
}

/// Writes `records/<seq>.json` and `proofs/<seq>.tlog-proof` for the `wanted` records of
/// `page`, each proof read in one batch, built and verified against the package checkpoint.
fn write_record_page<S: PackageSource, W: Write + Seek>(
    source: &mut S,
    bag: &mut BagWriter<W>,
    page: &[StoredRecord],
    wanted: &[(u64, Hash)],
    signed: &SignedCheckpoint,
    note: &str,
) -> Result<(), PackageError<S::Error>> {
    let size = signed.checkpoint.size;
    let mut indexes = BTreeSet::new();
    for (seq, _) in wanted {
        indexes.extend(
            merkle::inclusion_proof_indexes(*seq, size)
                .map_err(|e| PackageError::corrupt(format!("record {seq}"), e))?,
        );
    }
    let indexes: Vec<u64> = indexes.into_iter().collect();
    let hashes = source.hashes(&indexes).map_err(PackageError::Source)?;
    let pre = PrefetchedHashes::new(&indexes, &hashes)
        .map_err(|e| PackageError::corrupt("stored hashes", e))?;
    for (seq, hash) in wanted {
        let stored = record_at(page, *seq)
            .ok_or_else(|| PackageError::corrupt(format!("record {seq}"), "missing"))?;
        if Hash::sha256(&stored.bytes) != *hash {
            return Err(PackageError::corrupt(
                format!("record {seq}"),
                "changed since the export was planned",
            ));
        }
        let proof = merkle::inclusion_proof(*seq, size, &pre)
            .map_err(|e| PackageError::corrupt(format!("record {seq}"), e))?;
        merkle::verify_inclusion(
            *seq,
            size,
            &leaf_hash(&stored.bytes),
            &proof,
            &signed.checkpoint.root,
        )
        .map_err(|e| {
            PackageError::corrupt(format!("record {seq}"), format!("inclusion proof: {e}"))
        })?;
        bag.put(&format!("{RECORDS_DIR}{seq}.json"), &stored.bytes, false)?;
        let text = TlogProof {
            extra: Some(stored.bytes.clone()),
            index: *seq,
            hashes: proof,
            checkpoint: note.to_owned(),
        }
        .to_text();
        bag.put(
            &format!("{PROOFS_DIR}{seq}.tlog-proof"),
            text.as_bytes(),
            false,
        )?;
    }
    Ok(())
}

/// Writes the package of `plan` into `out`: records and proofs, records.jsonl, evidence,
/// documents (inspected, then written and re-verified, each streamed once per pass), the
/// checkpoints and the consistency proof, trust material, METS, the four-property report, then
/// the tag files. `exported_seq` is the seq of the appended [`ExportPlan::exported_record`];
/// `request.checkpoint` must cover it. Every inclusion and consistency proof is verified
/// before it is written. Returns the summary and `out`.
pub fn write_package<S: PackageSource, W: Write + Seek>(
    source: &mut S,
    plan: &ExportPlan,
    exported_seq: u64,
    request: &WriteRequest,
    out: W,
    progress: &mut dyn FnMut(Progress),
) -> Result<(ExportSummary, W), PackageError<S::Error>> {
    let (first, last) = plan.seq_range();
    if exported_seq <= last {
        return Err(PackageError::Usage(format!(
            "the package.exported record ({exported_seq}) must come after the selected records (last {last})"
        )));
    }
    // The package's own record.
    let own_page = read_page(source, exported_seq, exported_seq + 1)?;
    let own_stored = own_page
        .first()
        .ok_or_else(|| PackageError::Usage(format!("record {exported_seq} does not exist")))?;
    let own = parse_stored(own_stored)?;
    if own.kind != RecordKind::PackageExported
        || own.payload.get("package").and_then(Value::as_str) != Some(plan.external_id.as_str())
    {
        return Err(PackageError::Usage(format!(
            "record {exported_seq} is not this package's package.exported record"
        )));
    }
    let own_hash = Hash::sha256(&own_stored.bytes);

    // Checkpoints.
    let signed = SignedCheckpoint::open(&request.checkpoint, &request.verifier)
        .map_err(|e| PackageError::Usage(format!("the package checkpoint: {e}")))?;
    let size = signed.checkpoint.size;
    if size <= exported_seq {
        return Err(PackageError::Usage(format!(
            "the package checkpoint (size {size}) does not cover record {exported_seq}"
        )));
    }
    let latest_note = source.latest_checkpoint().map_err(PackageError::Source)?;
    let latest = SignedCheckpoint::open(&latest_note, &request.verifier)
        .map_err(|e| PackageError::corrupt("latest checkpoint", e))?;
    if latest.checkpoint.size < size {
        return Err(PackageError::corrupt(
            "latest checkpoint",
            format!(
                "size {} is smaller than the package checkpoint's {size}",
                latest.checkpoint.size
            ),
        ));
    }
    let consistency = if latest.checkpoint.size == size {
        Vec::new()
    } else {
        let idx = merkle::consistency_proof_indexes(size, latest.checkpoint.size)
            .map_err(|e| PackageError::corrupt("consistency proof", e))?;
        let hashes = source.hashes(&idx).map_err(PackageError::Source)?;
        let pre = PrefetchedHashes::new(&idx, &hashes)
            .map_err(|e| PackageError::corrupt("consistency proof", e))?;
        merkle::consistency_proof(size, latest.checkpoint.size, &pre)
            .map_err(|e| PackageError::corrupt("consistency proof", e))?
    };
    merkle::verify_consistency(
        size,
        latest.checkpoint.size,
        &signed.checkpoint.root,
        &latest.checkpoint.root,
        &consistency,
    )
    .map_err(|e| PackageError::corrupt("consistency proof", e))?;

    let mut bag = BagWriter::new(out, &plan.root, &plan.spec.bagging_time);
    let mut f = Findings::new();
    bag.put(CHECKPOINT, request.checkpoint.as_bytes(), false)?;
    bag.put(LATEST_CHECKPOINT, latest_note.as_bytes(), false)?;
    let mut cp = format!(
        "{CONSISTENCY_HEADER}\nold {size}\nnew {}\n",
        latest.checkpoint.size
    );
    for h in &consistency {
        cp.push_str(&h.to_base64());
        cp.push('\n');
    }
    bag.put(CONSISTENCY_PROOF, cp.as_bytes(), false)?;
    f.checked(CheckId::Checkpoint, 2);

    // Records and proofs, page by page over the selected range, then the package's record.
    let mut all: Vec<(u64, Hash)> = plan.records.clone();
    all.push((exported_seq, own_hash));
    let total = all.len() as u64;
    let mut done = 0u64;
    let mut from = first;
    while from <= last {
        let to = (from + PAGE).min(last + 1);
        let lo = all.partition_point(|r| r.0 < from);
        let hi = all.partition_point(|r| r.0 < to);
        let wanted = all.get(lo..hi).unwrap_or_default();
        if !wanted.is_empty() {
            let page = read_page(source, from, to)?;
            write_record_page(
                source,
                &mut bag,
                &page,
                wanted,
                &signed,
                &request.checkpoint,
            )?;
            done += wanted.len() as u64;
            progress(Progress {
                stage: "records",
                done,
                total,
            });
        }
        from = to;
    }
    write_record_page(
        source,
        &mut bag,
        &own_page,
        &[(exported_seq, own_hash)],
        &signed,
        &request.checkpoint,
    )?;
    f.checked(CheckId::RecordChain, total);
    f.checked(CheckId::InclusionProofs, total);
    f.checked(CheckId::MetadataReadable, total);
    progress(Progress {
        stage: "records",
        done: total,
        total,
    });

    // records.jsonl.
    let large = total > 2_000_000;
    let mut jsonl_error: Option<PackageError<S::Error>> = None;
    bag.stream(RECORDS_JSONL, true, large, |w| {
        let mut from = first;
        while from <= last {
            let to = (from + PAGE).min(last + 1);
            let lo = all.partition_point(|r| r.0 < from);
            let hi = all.partition_point(|r| r.0 < to);
            if hi > lo {
                let page = match read_page(source, from, to) {
                    Ok(p) => p,
                    Err(e) => {
                        jsonl_error = Some(e);
                        return Err(io::Error::other("source failed"));
                    }
                };
                for (seq, _) in all.get(lo..hi).unwrap_or_default() {
                    if let Some(r) = record_at(&page, *seq) {
                        w.write_all(&r.bytes)?;
                        w.write_all(b"\n")?;
                    }
                }
            }
            from = to;
        }
        w.write_all(&own_stored.bytes)?;
        w.write_all(b"\n")
    })
    .map_err(|e| jsonl_error.take().unwrap_or(PackageError::Zip(e)))?;

    // Evidence.
    let mut evidence: BTreeMap<Hash, EvidenceFacts> = BTreeMap::new();
    let mut evidence_written = 0u64;
    for (sha, seq) in &plan.index.evidence {
        f.checked(CheckId::ContentPresent, 1);
        match source.evidence(sha).map_err(PackageError::Source)? {
            None if plan.index.disposed.contains(sha) => {}
            None => f.fail(
                CheckId::ContentPresent,
                evidence_path(sha),
                format!("named by record {seq} but not stored in the archive"),
            ),
            Some(bytes) => {
                if Hash::sha256(&bytes) != *sha {
                    return Err(PackageError::corrupt(
                        format!("evidence sha256:{}", sha.to_hex()),
                        "stored bytes do not hash to it",
                    ));
                }
                bag.put(&evidence_path(sha), &bytes, true)?;
                evidence_written += 1;
                f.checked(CheckId::MetadataReadable, 1);
                match evidence_facts(&bytes) {
                    Ok(facts) => {
                        evidence.insert(*sha, facts);
                    }
                    Err(e) => f.fail(CheckId::MetadataReadable, evidence_path(sha), e),
                }
            }
        }
    }

    // Documents, pass 1: the signatures' certificates and seals (trust material), found by
    // scanning each file's ByteRanges; the full inspection happens in pass 2.
    let docs: Vec<(&Hash, &DocRef)> = plan.index.documents.iter().collect();
    let doc_total = docs.len() as u64;
    let mut cursor = docs.iter();
    let mut missing: BTreeSet<Hash> = BTreeSet::new();
    let inspected = pipeline(
        request.threads,
        || -> Job<(Hash, Vec<u8>), S::Error> {
            for (sha, _) in cursor.by_ref() {
                match source.document(sha).map_err(PackageError::Source)? {
                    Some(bytes) => return Ok(Some((**sha, bytes))),
                    None => {
                        missing.insert(**sha);
                    }
                }
            }
            Ok(None)
        },
        |(sha, bytes): (Hash, Vec<u8>)| (sha, Hash::sha256(&bytes), scan_signatures(&bytes)),
    )?;
    let mut certs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut seals: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (sha, actual, (found_certs, found_seals)) in inspected {
        if sha != actual {
            return Err(PackageError::corrupt(
                format!("document sha256:{}", sha.to_hex()),
                "stored bytes do not hash to it",
            ));
        }
        for c in found_certs {
            certs.insert(chop_seal::certs::fingerprint_sha256(&c), c);
        }
        for s in found_seals {
            seals.insert(Hash::sha256(&s).to_hex(), s);
        }
    }
    let wanted_anchors: BTreeSet<&str> = evidence
        .values()
        .flat_map(|e| e.anchors.iter().map(String::as_str))
        .collect();
    let mut anchors: BTreeMap<String, Vec<u8>> = request
        .extra_anchors
        .iter()
        .map(|d| (chop_seal::certs::fingerprint_sha256(d), d.clone()))
        .collect();
    for (fp, der) in &certs {
        if wanted_anchors.contains(fp.as_str()) {
            anchors.insert(fp.clone(), der.clone());
        }
    }
    let anchor_list: Vec<Vec<u8>> = anchors.values().cloned().collect();

    // Documents, pass 2: write, re-verify.
    let mut cursor = docs.iter();
    let mut written: Vec<MetsFile> = Vec::new();
    let mut docs_done = 0u64;
    let verdicts = pipeline(
        request.threads,
        || -> Job<(Hash, Arc<Vec<u8>>), S::Error> {
            for (sha, _) in cursor.by_ref() {
                if missing.contains(*sha) {
                    continue;
                }
                let Some(bytes) = source.document(sha).map_err(PackageError::Source)? else {
                    missing.insert(**sha);
                    continue;
                };
                // Hashed by the worker (in parallel), recorded below.
                bag.put_undigested(&document_path(sha), &bytes)?;
                written.push(MetsFile {
                    group: "Documents",
                    path: document_path(sha).trim_start_matches("data/").to_owned(),
                    mime: "application/pdf",
                    size: bytes.len() as u64,
                    sha256: sha.to_hex(),
                });
                docs_done += 1;
                progress(Progress {
                    stage: "documents",
                    done: docs_done,
                    total: doc_total,
                });
                return Ok(Some((**sha, Arc::new(bytes))));
            }
            Ok(None)
        },
        |(sha, bytes): (Hash, Arc<Vec<u8>>)| {
            let mut digests = FileDigests::new();
            digests.update(&bytes);
            let doc = &plan.index.documents[&sha];
            let ev = doc.evidence.first().and_then(|e| evidence.get(e));
            let findings = assess_document(&sha, &bytes, doc, ev, &anchor_list, None);
            (sha, digests, findings)
        },
    )?;
    for (sha, digests, findings) in verdicts {
        if Hash(bag.record(&document_path(&sha), digests)) != sha {
            return Err(PackageError::corrupt(
                format!("document sha256:{}", sha.to_hex()),
                "stored bytes do not hash to it",
            ));
        }
        f.merge(findings);
    }
    for (sha, doc) in &plan.index.documents {
        f.checked(CheckId::ContentPresent, 1);
        if missing.contains(sha) && !plan.index.disposed.contains(sha) {
            f.fail(
                CheckId::ContentPresent,
                document_path(sha),
                format!("named by record {} but not stored in the archive", doc.seq),
            );
        }
    }

    // Trust material.
    let key = format!("{}\n", request.verifier.key_string());
    bag.put(LOG_KEY, key.as_bytes(), false)?;
    let mut trust_files = vec![(LOG_KEY.to_owned(), "text/plain")];
    for (fp, der) in &anchors {
        let path = format!("{ANCHORS_DIR}{fp}.pem");
        bag.put(&path, certificate_pem(der).as_bytes(), false)?;
        trust_files.push((path, "application/pem-certificate-chain"));
    }
    for (fp, der) in certs
        .iter()
        .filter(|(fp, d)| !anchors.contains_key(*fp) && is_ca(d))
    {
        let path = format!("{CA_DIR}{fp}.pem");
        bag.put(&path, certificate_pem(der).as_bytes(), false)?;
        trust_files.push((path, "application/pem-certificate-chain"));
    }
    for (sha, der) in &seals {
        let path = format!("{SEALS_DIR}{sha}.der");
        bag.put(&path, der, false)?;
        trust_files.push((path, "application/octet-stream"));
    }
    for der in &request.crls {
        let path = format!("{CRLS_DIR}{}.crl", Hash::sha256(der).to_hex());
        bag.put(&path, der, false)?;
        trust_files.push((path, "application/pkix-crl"));
    }

    // METS.
    let mut files: Vec<MetsFile> = written;
    let by_path: BTreeMap<&str, &Entry> = bag.payload.iter().map(|e| (&*e.path, e)).collect();
    let mut add = |group: &'static str, path: &str, mime: &'static str| {
        if let Some(e) = by_path.get(path) {
            files.push(MetsFile {
                group,
                path: path.trim_start_matches("data/").to_owned(),
                mime,
                size: e.size,
                sha256: hex::encode(e.sha256),
            });
        }
    };
    for sha in evidence.keys() {
        add("Evidence", &evidence_path(sha), "application/json");
    }
    add("Records", RECORDS_JSONL, "application/jsonl");
    add("Log", CHECKPOINT, "text/plain");
    add("Log", LATEST_CHECKPOINT, "text/plain");
    add("Log", CONSISTENCY_PROOF, "text/plain");
    for (path, mime) in &trust_files {
        add("Trust", path, mime);
    }
    let label = format!("{} retention package", plan.spec.source_organization);
    let mut mets_error: Option<PackageError<S::Error>> = None;
    bag.stream(METS, true, large, |w| {
        mets::write_head(
            w,
            &plan.external_id,
            &label,
            plan.spec.bagging_time.as_str(),
            env!("CARGO_PKG_VERSION"),
        )?;
        let mut from = first;
        while from <= last {
            let to = (from + PAGE).min(last + 1);
            let lo = all.partition_point(|r| r.0 < from);
            let hi = all.partition_point(|r| r.0 < to);
            if hi > lo {
                let page = match read_page(source, from, to) {
                    Ok(p) => p,
                    Err(e) => {
                        mets_error = Some(e);
                        return Err(io::Error::other("source failed"));
                    }
                };
                for (seq, _) in all.get(lo..hi).unwrap_or_default() {
                    if let Some(r) = record_at(&page, *seq)
                        && let Ok(record) = Record::from_canonical_bytes(&r.bytes)
                    {
                        mets::write_event(w, &record)?;
                    }
                }
            }
            from = to;
        }
        mets::write_event(w, &own)?;
        mets::write_tail(w, &label, &files)
    })
    .map_err(|e| mets_error.take().unwrap_or(PackageError::Zip(e)))?;
    f.checked(CheckId::MetadataReadable, 1);

    // The checks the verifier makes on the whole package, here true by construction.
    let seqs: Vec<u64> = plan.records.iter().map(|r| r.0).collect();
    judge_continuity(&mut f, &seqs, &plan.spec.selection.describe_filters());
    let (octets, streams) = bag.payload_totals();
    f.checked(CheckId::Counts, 4);
    f.checked(CheckId::MandatoryMetadata, total + 1);
    f.checked(CheckId::Fixity, streams + 2);
    f.checked(CheckId::NoUnexpectedFiles, streams + 2);

    let report = f.report(&plan.external_id, plan.spec.bagging_time.as_str());
    bag.put(FOUR_JSON, &report.to_json(), true)?;
    bag.put(FOUR_HTML, report.to_html().as_bytes(), true)?;

    // Tag files.
    let (octets_all, streams_all) = bag.payload_totals();
    debug_assert!(octets_all >= octets && streams_all == streams + 2);
    let mut info = BagInfo::default();
    info.push("Source-Organization", plan.spec.source_organization.clone());
    info.push("External-Identifier", plan.external_id.clone());
    info.push(
        "External-Description",
        format!(
            "Chop archive retention package: {} records ({}..={} and the package.exported record {exported_seq}), {} documents, checkpoint of {size} records",
            total,
            first,
            last,
            doc_total - missing.len() as u64
        ),
    );
    info.push(
        "Bagging-Date",
        plan.spec
            .bagging_time
            .as_str()
            .get(..10)
            .unwrap_or_default(),
    );
    info.push(
        "Bag-Software-Agent",
        concat!("chop ", env!("CARGO_PKG_VERSION")),
    );
    info.push("Bag-Size", bagit::bag_size(octets_all));
    info.push("Payload-Oxum", bagit::payload_oxum(octets_all, streams_all));
    info.push(LABEL_ORIGIN, signed.checkpoint.origin.clone());
    info.push(LABEL_CHECKPOINT_SIZE, size.to_string());
    info.push(LABEL_RETENTION, plan.retention.as_str());
    info.push(LABEL_SELECTION, plan.spec.selection.describe_filters());
    info.push(LABEL_RECORD_COUNT, total.to_string());
    info.push(LABEL_EXPORT_RECORD, exported_seq.to_string());
    bag.put("bagit.txt", bagit::BAGIT_TXT.as_bytes(), false)?;
    bag.put("bag-info.txt", info.render().as_bytes(), false)?;
    // The payload manifests, streamed line by line in path order (RFC 8493 §2.1.3).
    let mut payload = std::mem::take(&mut bag.payload);
    payload.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    for (name, sha512) in [
        ("manifest-sha256.txt", false),
        ("manifest-sha512.txt", true),
    ] {
        bag.stream(name, true, false, |w| {
            let mut line = String::with_capacity(256);
            for e in &payload {
                line.clear();
                if sha512 {
                    line.push_str(&hex::encode(e.sha512));
                } else {
                    line.push_str(&hex::encode(e.sha256));
                }
                line.push_str("  ");
                line.push_str(&bagit::encode_path(&e.path));
                line.push('\n');
                w.write_all(line.as_bytes())?;
            }
            Ok(())
        })?;
    }
    drop(payload);
    let tags: Vec<(String, String)> = bag
        .tags
        .iter()
        .map(|e| (e.path.to_string(), hex::encode(e.sha256)))
        .collect();
    let tm = bagit::render_manifest(tags.iter().map(|(p, s)| (p.as_str(), s.as_str())));
    let root = format!("{}/tagmanifest-sha256.txt", bag.root);
    let options = bag.options(false, false);
    bag.zip.start_file(root, options)?;
    bag.zip.write_all(tm.as_bytes())?;
    let out = bag.zip.finish()?;
    Ok((
        ExportSummary {
            external_id: plan.external_id.clone(),
            root: plan.root.clone(),
            records: total,
            documents: doc_total - missing.len() as u64,
            evidence: evidence_written,
            payload_files: streams_all,
            payload_bytes: octets_all,
            checkpoint_size: size,
            report,
        },
        out,
    ))
}
