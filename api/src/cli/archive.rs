//! `chop archive …`: the tamper-evident archive from the command line (issue 4 §5, §7): ingest
//! verified documents, verify the whole log, sign checkpoints, write and check C2SP tlog-proof
//! files, list records. `chop sign --archive` records sealed outputs through [`SignArchive`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chop_archive::Hash;
use chop_archive::checkpoint::{DEFAULT_ORIGIN, SignedCheckpoint};
use chop_archive::log::{LogError, NewEntry, verify_log};
use chop_archive::note::{NoteSigner, NoteVerifier};
use chop_archive::proof::verify_proof_file;
use chop_archive::record::{NewRecord, Record, RecordKind, Retention};
use chop_seal::verify::Indication;
use clap::Subcommand;
use serde_json::json;

use super::Failure;
use crate::archive::documents::DocumentState;
use crate::archive::{
    Archive, ArchiveConfig, ArchiveError, GroupCommit, IngestRequest, SealedDocument, cli_actor,
};
use crate::exit;
use crate::store::StoreError;

const AFTER_HELP: &str =
    "Every command takes --data-dir DIR (default ./chop-data, env CHOP_DATA_DIR):
the SQLite database DIR/chop.db, the documents DIR/documents/sha256/…, the log key
DIR/keys/log.key. --db URL (env CHOP_DATABASE_URL) uses PostgreSQL (postgres://…) instead.
See docs/OPERATIONS.md.

Exit codes: 0 success; 1 ingest: TOTAL-FAILED without --accept-invalid; 3 usage error, not a
readable PDF, or no signature without --accept-invalid; 5 the log key is damaged; 6 file
error; 7 verify: the archive has a problem / check-proof: the proof does not verify;
8 database error.";

/// Where the archive is: data folder, database, origin.
#[derive(clap::Args, Debug, Clone)]
pub struct StorageArgs {
    /// Data folder: documents, the log key, and the SQLite database chop.db.
    #[arg(
        long,
        env = "CHOP_DATA_DIR",
        default_value = "chop-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Database URL to use instead of DIR/chop.db: postgres://user@host/db or sqlite:PATH.
    #[arg(long, env = "CHOP_DATABASE_URL", value_name = "URL")]
    db: Option<String>,
    /// The log's origin: the checkpoint origin line and the log key's name.
    #[arg(long, env = "CHOP_LOG_ORIGIN", default_value = DEFAULT_ORIGIN, value_name = "ORIGIN")]
    origin: String,
}

impl StorageArgs {
    pub(crate) fn config(&self) -> ArchiveConfig {
        ArchiveConfig {
            data_dir: self.data_dir.clone(),
            database_url: self.db.clone(),
            origin: self.origin.clone(),
        }
    }
}

/// The tamper-evident archive: a hash-chained RFC 9162 Merkle log with signed checkpoints.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify a PDF, store it content-addressed with its verification report, and append a
    /// document.ingested record.
    #[command(after_help = AFTER_HELP)]
    Ingest(IngestArgs),
    /// Recompute the whole chain and tree from storage, check every stored checkpoint and
    /// document file, and print what is wrong, exactly where.
    #[command(after_help = AFTER_HELP)]
    Verify(StorageOnly),
    /// Print the latest signed checkpoint, signing a new one first if the log grew.
    #[command(after_help = AFTER_HELP)]
    Checkpoint(StorageOnly),
    /// Write a C2SP tlog-proof file showing that record SEQ is in a signed checkpoint.
    #[command(after_help = AFTER_HELP)]
    Prove(ProveArgs),
    /// Print the log's public key as a C2SP note verifier key (name+keyhash+base64).
    #[command(after_help = AFTER_HELP)]
    Pubkey(StorageOnly),
    /// Check a tlog-proof file offline against the log's verifier key.
    #[command(after_help = AFTER_HELP)]
    CheckProof(CheckProofArgs),
    /// List records.
    #[command(after_help = AFTER_HELP)]
    Log(LogArgs),
    /// Test aid (not for production): append from N tasks, printing each acknowledged seq.
    /// Used by the durability tests and scripts/bench-archive.
    #[command(hide = true)]
    Stress(StressArgs),
    /// Write a retention package (BagIt zip with records, documents, proofs, METS, report).
    Export(super::package::ExportArgs),
    /// Check a retention package offline (no database, no network).
    VerifyPackage(super::package::VerifyPackageArgs),
}

/// Just the storage options.
#[derive(clap::Args, Debug)]
pub struct StorageOnly {
    #[command(flatten)]
    storage: StorageArgs,
}

/// `chop archive ingest`.
#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// The PDF to ingest.
    #[arg(value_name = "FILE.pdf")]
    file: PathBuf,
    /// Retention class: permanent (永久), 30y (30年) or 10y (10年).
    #[arg(long, default_value = "permanent", value_parser = parse_retention)]
    retention: Retention,
    /// A note kept in the record.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Ingest even a document whose verification is TOTAL-FAILED or that has no signature;
    /// the record says so (`accepted_invalid: true`).
    #[arg(long)]
    accept_invalid: bool,
    /// A trust anchor certificate (PEM) for the verification. Repeat for more.
    #[arg(long, value_name = "ROOT.pem")]
    trust: Vec<PathBuf>,
    /// Idempotency key: re-running with the same key returns the first record, appends nothing.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    #[command(flatten)]
    storage: StorageArgs,
}

/// `chop archive prove`.
#[derive(clap::Args, Debug)]
pub struct ProveArgs {
    /// The record's seq.
    seq: u64,
    /// Prove against the stored checkpoint of exactly N records (default: the latest, signing
    /// a new checkpoint first if the log grew).
    #[arg(long, value_name = "N")]
    size: Option<u64>,
    /// The proof file to write.
    #[arg(long, value_name = "FILE.tlog-proof")]
    out: PathBuf,
    #[command(flatten)]
    storage: StorageArgs,
}

/// `chop archive check-proof`.
#[derive(clap::Args, Debug)]
pub struct CheckProofArgs {
    /// The tlog-proof file.
    #[arg(value_name = "FILE.tlog-proof")]
    file: PathBuf,
    /// The log's verifier key (`name+keyhash+base64`, as `chop archive pubkey` prints it), or a
    /// file holding it.
    #[arg(long, value_name = "KEY")]
    key: String,
    /// The record (JSON, any formatting) to check instead of the one carried in the proof.
    #[arg(long, value_name = "RECORD.json")]
    record: Option<PathBuf>,
}

/// `chop archive log`.
#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// First seq to list.
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    from: u64,
    /// Only records of this kind (e.g. document.ingested).
    #[arg(long, value_name = "K", value_parser = parse_kind)]
    kind: Option<RecordKind>,
    /// Print each record's canonical JSON, one per line (JSON Lines).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    storage: StorageArgs,
}

/// `chop archive stress` (hidden test aid).
#[derive(clap::Args, Debug)]
pub struct StressArgs {
    /// Concurrent appending tasks.
    #[arg(long, default_value_t = 8)]
    tasks: usize,
    /// Appends per task (default: until killed).
    #[arg(long)]
    count: Option<u64>,
    /// Approximate size of each record in bytes (padding in the payload).
    #[arg(long, default_value_t = 256)]
    record_bytes: usize,
    /// Idempotency keys are PREFIX-TASK-I.
    #[arg(long, default_value = "stress")]
    key_prefix: String,
    /// Append without idempotency keys (the record subject still names PREFIX-TASK-I).
    #[arg(long)]
    no_keys: bool,
    /// One transaction (one fsync) per append.
    #[arg(long)]
    no_group_commit: bool,
    /// Sign a checkpoint every MS milliseconds (0: never).
    #[arg(long, default_value_t = 0)]
    checkpoint_ms: u64,
    /// Print `ack SEQ KEY` for each acknowledged append and `checkpoint SIZE` for each one signed.
    #[arg(long)]
    acks: bool,
    /// Print a JSON summary (appends per second, latency percentiles) at the end.
    #[arg(long)]
    summary: bool,
    #[command(flatten)]
    storage: StorageArgs,
}

fn parse_retention(s: &str) -> Result<Retention, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a retention class (permanent, 30y, 10y)"))
}

fn parse_kind(s: &str) -> Result<RecordKind, String> {
    s.parse().map_err(|_| {
        let all: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("'{s}' is not a record kind ({})", all.join(", "))
    })
}

/// Run `chop archive …`; returns the exit code.
pub fn run(command: Command) -> u8 {
    super::report(match command {
        Command::CheckProof(a) => check_proof(&a),
        other => runtime().and_then(|rt| rt.block_on(run_async(other))),
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                exit::INTERNAL,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

async fn run_async(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Ingest(a) => ingest(a).await,
        Command::Verify(a) => verify(&a.storage).await,
        Command::Checkpoint(a) => checkpoint(&a.storage).await,
        Command::Prove(a) => prove(&a).await,
        Command::Pubkey(a) => pubkey(&a.storage).await,
        Command::Log(a) => list(&a).await,
        Command::Stress(a) => stress(a).await,
        Command::Export(a) => super::package::export(a).await,
        Command::VerifyPackage(a) => super::package::verify_package(&a),
        Command::CheckProof(a) => check_proof(&a),
    }
}

/// Maps an archive error to the exit code table.
pub(crate) fn failure(e: ArchiveError) -> Failure {
    let code = match &e {
        ArchiveError::Usage(_) | ArchiveError::Unreadable(_) => exit::USAGE,
        ArchiveError::Refused { indication, .. }
            if indication == Indication::TotalFailed.as_str() =>
        {
            exit::TOTAL_FAILED
        }
        ArchiveError::Refused { .. } => exit::USAGE,
        ArchiveError::Key(crate::archive::logkey::LogKeyError::Io { .. })
        | ArchiveError::Io { .. } => exit::IO,
        ArchiveError::Key(_) => exit::BAD_CREDENTIALS,
        ArchiveError::Log(l) => log_code(l),
        ArchiveError::Store(_) | ArchiveError::Append(_) => exit::STORAGE,
    };
    Failure::new(code, e.to_string())
}

fn log_code(e: &LogError<StoreError>) -> u8 {
    match e {
        LogError::NotProvable(_) => exit::USAGE,
        LogError::Inconsistent(_) | LogError::Corrupt(_) | LogError::Checkpoint(_) => {
            exit::ARCHIVE_INVALID
        }
        _ => exit::STORAGE,
    }
}

fn log_failure(e: LogError<StoreError>) -> Failure {
    Failure::new(log_code(&e), e.to_string())
}

async fn open(storage: &StorageArgs, group: GroupCommit) -> Result<Archive, Failure> {
    Archive::open(storage.config(), group)
        .await
        .map_err(failure)
}

fn out(text: &str) {
    // A closed pipe (`chop archive log | head`) is not worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Reads trust anchor PEM files into DER certificates.
fn trust_anchors(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, Failure> {
    let mut anchors = Vec::new();
    for path in paths {
        let text = super::sign::read_text(path, "trust anchor")?;
        let certs = chop_seal::certs::certificates_from_pem(&text).map_err(|e| {
            Failure::new(exit::USAGE, format!("trust anchor {}: {e}", path.display()))
        })?;
        anchors.extend(certs);
    }
    Ok(anchors)
}

async fn ingest(a: IngestArgs) -> Result<u8, Failure> {
    let bytes = super::sign::read(&a.file, "document")?;
    let trust = trust_anchors(&a.trust)?;
    let archive = open(&a.storage, GroupCommit::default()).await?;
    let request = IngestRequest {
        bytes,
        file_name: a.file.file_name().map(|n| n.to_string_lossy().into_owned()),
        retention: a.retention,
        note: a.note,
        accept_invalid: a.accept_invalid,
        trust_anchors: trust,
        actor: cli_actor(),
        idempotency_key: a.idempotency_key,
    };
    let result = archive.ingest(request).await;
    archive.close().await;
    let done = result.map_err(|e| {
        let f = failure(e);
        Failure::new(f.code, format!("{}: {}", a.file.display(), f.message))
    })?;
    out(&format!(
        "{} {} as record {} (document sha256:{}, {}, {} signature{}, retention {}), stored at {}",
        if done.receipt.duplicate {
            "already ingested:"
        } else {
            "ingested"
        },
        a.file.display(),
        done.receipt.seq,
        done.sha256.to_hex(),
        done.indication,
        done.signatures,
        if done.signatures == 1 { "" } else { "s" },
        a.retention,
        done.path.display(),
    ));
    Ok(exit::OK)
}

async fn verify(storage: &StorageArgs) -> Result<u8, Failure> {
    let archive = open(storage, GroupCommit::default()).await?;
    let result = verify_inner(&archive).await;
    archive.close().await;
    result
}

async fn verify_inner(archive: &Archive) -> Result<u8, Failure> {
    let (verifier, key_missing) = match archive.existing_signer().await.map_err(failure)? {
        Some(s) => (s.verifier(), false),
        // No key yet: nothing was ever signed; any stored checkpoint is then a problem.
        None => (
            NoteSigner::generate(&archive.config().origin)
                .map_err(|e| {
                    Failure::new(
                        exit::USAGE,
                        format!("origin {:?}: {e}", archive.config().origin),
                    )
                })?
                .0
                .verifier(),
            true,
        ),
    };
    let report = verify_log(archive.store(), &verifier)
        .await
        .map_err(log_failure)?;
    let mut problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    let mut problem_count = report.problem_count;
    if key_missing && report.checkpoints_checked > 0 {
        problems.push(format!(
            "log key: {} is missing",
            crate::archive::logkey::key_path(&archive.config().data_dir).display()
        ));
        problem_count += 1;
    }
    let (documents, document_problems) = check_documents(archive).await?;
    problem_count += document_problems.len() as u64;
    problems.extend(document_problems);
    for p in &problems {
        out(&format!("problem: {p}"));
    }
    if problem_count as usize > problems.len() {
        out(&format!(
            "… and {} more problems",
            problem_count as usize - problems.len()
        ));
    }
    out(&format!(
        "{}: {} records, root {}, {} node hashes and {} checkpoints checked, {} documents and evidence items checked, {} problem{}",
        if problem_count == 0 {
            "archive OK"
        } else {
            "archive INVALID"
        },
        report.records,
        report.root,
        report.hashes_checked,
        report.checkpoints_checked,
        documents,
        problem_count,
        if problem_count == 1 { "" } else { "s" },
    ));
    Ok(if problem_count == 0 {
        exit::OK
    } else {
        exit::ARCHIVE_INVALID
    })
}

/// Checks that every document a record names (digest role `document`) is stored intact,
/// unless a later `disposition` record deleted it, and that every evidence item it names (role
/// `evidence`) is in the database with bytes that hash to the digest. Returns how many items
/// were checked and the problems.
async fn check_documents(archive: &Archive) -> Result<(usize, Vec<String>), Failure> {
    let mut wanted: std::collections::BTreeMap<Hash, u64> = std::collections::BTreeMap::new();
    let mut evidence: Vec<(Hash, u64)> = Vec::new();
    let mut from = 0;
    loop {
        let page = archive
            .store()
            .list_records(from, None, 1000)
            .await
            .map_err(|e| failure(e.into()))?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        for stored in &page {
            // Undecodable records are reported by verify_log.
            let Ok(r) = Record::from_canonical_bytes(&stored.bytes) else {
                continue;
            };
            for d in &r.digests {
                if r.kind == RecordKind::Disposition {
                    wanted.remove(&d.value);
                } else if d.role.as_deref() == Some("document") {
                    wanted.entry(d.value).or_insert(r.seq);
                } else if d.role.as_deref() == Some("evidence") {
                    evidence.push((d.value, r.seq));
                }
            }
        }
        from = last + 1;
    }
    let mut evidence_problems = Vec::new();
    for (sha, seq) in &evidence {
        let where_ = format!("evidence sha256:{} (record {seq})", sha.to_hex());
        match archive
            .store()
            .evidence(&sha.to_hex())
            .await
            .map_err(|e| failure(e.into()))?
        {
            None => evidence_problems.push(format!("{where_}: missing from the database")),
            Some(e) if Hash::sha256(&e.body) != *sha => {
                evidence_problems.push(format!("{where_}: stored bytes do not hash to it"))
            }
            Some(_) => {}
        }
    }
    let docs = archive.documents().clone();
    let count = wanted.len() + evidence.len();
    tokio::task::spawn_blocking(move || {
        let mut problems = evidence_problems;
        for (sha, seq) in wanted {
            let where_ = format!("document sha256:{} (record {seq})", sha.to_hex());
            match docs.check(&sha) {
                Ok(DocumentState::Intact) => {}
                Ok(DocumentState::Missing) => problems.push(format!(
                    "{where_}: missing at {}",
                    docs.path_of(&sha).display()
                )),
                Ok(DocumentState::Altered) => problems.push(format!(
                    "{where_}: {} does not hash to its name",
                    docs.path_of(&sha).display()
                )),
                Err(e) => problems.push(format!(
                    "{where_}: cannot read {}: {e}",
                    docs.path_of(&sha).display()
                )),
            }
        }
        (count, problems)
    })
    .await
    .map_err(|e| Failure::new(exit::INTERNAL, format!("document check failed: {e}")))
}

async fn checkpoint(storage: &StorageArgs) -> Result<u8, Failure> {
    let archive = open(storage, GroupCommit::default()).await?;
    let result = async {
        let signer = archive.signer().await.map_err(failure)?;
        archive.log().checkpoint(&signer).await.map_err(log_failure)
    }
    .await;
    archive.close().await;
    let signed = result?;
    let _ = write!(std::io::stdout().lock(), "{}", signed.note);
    Ok(exit::OK)
}

async fn prove(a: &ProveArgs) -> Result<u8, Failure> {
    let archive = open(&a.storage, GroupCommit::default()).await?;
    let result = async {
        let signer = archive.signer().await.map_err(failure)?;
        let log = archive.log();
        if a.size.is_none() {
            log.checkpoint(&signer).await.map_err(log_failure)?;
        }
        let proof = log
            .prove(a.seq, a.size, &signer.verifier())
            .await
            .map_err(log_failure)?;
        let signed =
            SignedCheckpoint::open(&proof.checkpoint, &signer.verifier()).map_err(|e| {
                Failure::new(
                    exit::ARCHIVE_INVALID,
                    format!("the stored checkpoint does not verify: {e}"),
                )
            })?;
        Ok::<_, Failure>((proof, signed.checkpoint.size))
    }
    .await;
    archive.close().await;
    let (proof, size) = result?;
    super::sign::write_atomically(&a.out, proof.to_text().as_bytes())?;
    out(&format!(
        "wrote the proof of record {} in the checkpoint of size {size} to {}",
        a.seq,
        a.out.display()
    ));
    Ok(exit::OK)
}

async fn pubkey(storage: &StorageArgs) -> Result<u8, Failure> {
    let archive = open(storage, GroupCommit::default()).await?;
    let result = archive.signer().await.map_err(failure);
    archive.close().await;
    out(&result?.verifier().key_string());
    Ok(exit::OK)
}

fn check_proof(a: &CheckProofArgs) -> Result<u8, Failure> {
    let key_text = if Path::new(&a.key).is_file() {
        super::sign::read_text(Path::new(&a.key), "verifier key")?
    } else {
        a.key.clone()
    };
    let verifier = NoteVerifier::from_key_string(key_text.trim()).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!("--key: not a note verifier key (name+keyhash+base64): {e}"),
        )
    })?;
    let proof = super::sign::read(&a.file, "proof")?;
    let record = match &a.record {
        Some(p) => Some(super::sign::read(p, "record")?),
        None => None,
    };
    match verify_proof_file(&proof, &verifier, record.as_deref()) {
        Ok(v) => {
            out(&format!(
                "OK: record {} ({} at {}, leaf {}) is in the log {} of size {} with root {}",
                v.index,
                v.record.kind,
                v.record.time,
                v.leaf_hash,
                v.checkpoint.origin,
                v.checkpoint.size,
                v.checkpoint.root
            ));
            Ok(exit::OK)
        }
        Err(e) => Err(Failure::new(
            exit::ARCHIVE_INVALID,
            format!("{}: the proof does not verify: {e}", a.file.display()),
        )),
    }
}

async fn list(a: &LogArgs) -> Result<u8, Failure> {
    let archive = open(&a.storage, GroupCommit::default()).await?;
    let result = list_inner(&archive, a).await;
    archive.close().await;
    result
}

async fn list_inner(archive: &Archive, a: &LogArgs) -> Result<u8, Failure> {
    let mut from = a.from;
    let kind = a.kind.map(|k| k.as_str());
    let stdout = std::io::stdout();
    loop {
        let page = archive
            .store()
            .list_records(from, kind, 1000)
            .await
            .map_err(|e| failure(e.into()))?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        let mut lock = stdout.lock();
        for stored in &page {
            let line = if a.json {
                String::from_utf8_lossy(&stored.bytes).into_owned()
            } else {
                match Record::from_canonical_bytes(&stored.bytes) {
                    Ok(r) => format!(
                        "{}\t{}\t{}\t{}\t{}",
                        r.seq,
                        r.time,
                        r.kind,
                        r.actor,
                        r.subject.join(" ")
                    ),
                    Err(e) => format!("{}\t(damaged record: {e})", stored.seq),
                }
            };
            if writeln!(lock, "{line}").is_err() {
                return Ok(exit::OK);
            }
        }
        from = last + 1;
    }
    Ok(exit::OK)
}

async fn stress(a: StressArgs) -> Result<u8, Failure> {
    let group = if a.no_group_commit {
        GroupCommit { max_batch: 1 }
    } else {
        GroupCommit::default()
    };
    let archive = Arc::new(open(&a.storage, group).await?);
    let signer = Arc::new(archive.signer().await.map_err(failure)?);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checkpoints = (a.checkpoint_ms > 0).then(|| {
        let (archive, signer, stop) = (archive.clone(), signer.clone(), stop.clone());
        let (every, acks) = (Duration::from_millis(a.checkpoint_ms), a.acks);
        tokio::spawn(async move {
            let mut first_error = None;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(every).await;
                match archive.log().checkpoint(&signer).await {
                    Ok(c) if acks => out(&format!("checkpoint {}", c.checkpoint.size)),
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("chop: checkpoint: {e}");
                        first_error = first_error.or(Some(format!("checkpoint: {e}")));
                    }
                }
            }
            first_error
        })
    });
    let padding = "x".repeat(a.record_bytes.saturating_sub(300));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(a.tasks);
    for t in 0..a.tasks {
        let (archive, padding, prefix) = (archive.clone(), padding.clone(), a.key_prefix.clone());
        let (count, acks, keys) = (a.count, a.acks, !a.no_keys);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while count.is_none_or(|c| i < c) {
                let key = format!("{prefix}-{t}-{i}");
                let mut r = NewRecord::new(RecordKind::DocumentIngested, "stress");
                r.subject = vec![format!("stress:{key}")];
                r.payload.insert("padding".into(), json!(padding));
                let begun = Instant::now();
                let receipt = archive
                    .appender()
                    .append_one(NewEntry {
                        idempotency_key: keys.then(|| key.clone()),
                        record: r,
                    })
                    .await?;
                latencies.push(begun.elapsed());
                if acks {
                    out(&format!("ack {} {key}", receipt.seq));
                }
                i += 1;
            }
            Ok::<_, crate::archive::AppendError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => latencies.extend(l),
            Ok(Err(e)) => first_error = first_error.or(Some(e.to_string())),
            Err(e) => first_error = first_error.or(Some(e.to_string())),
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(c) = checkpoints {
        match c.await {
            Ok(e) => first_error = first_error.or(e),
            Err(e) => first_error = first_error.or(Some(format!("checkpoint task: {e}"))),
        }
    }
    if let Some(e) = first_error {
        return Err(Failure::new(exit::STORAGE, format!("stress: {e}")));
    }
    if a.summary {
        latencies.sort_unstable();
        let pct = |p: f64| {
            let i = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
            latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let n = latencies.len();
        out(&json!({
            "backend": archive.store().backend(),
            "group_commit": !a.no_group_commit,
            "tasks": a.tasks,
            "appends": n,
            "record_bytes": a.record_bytes,
            "seconds": elapsed.as_secs_f64(),
            "appends_per_second": n as f64 / elapsed.as_secs_f64().max(1e-9),
            "latency_ms": { "p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0) },
            "transactions": archive.appender().stats().commits(),
            "appends_per_transaction": archive.appender().stats().entries() as f64 / archive.appender().stats().commits().max(1) as f64,
        })
        .to_string());
    }
    if let Ok(archive) = Arc::try_unwrap(archive) {
        archive.close().await;
    }
    Ok(exit::OK)
}

/// `chop sign --archive`: options and the recorder of sealed outputs.
#[derive(clap::Args, Debug)]
pub struct SignArchive {
    /// Keep each sealed output in the archive (content-addressed, with its verification report)
    /// and append a document.sealed record.
    #[arg(long)]
    archive: bool,
    #[command(flatten)]
    storage: StorageArgs,
}

/// An open archive for `chop sign --archive`, usable from the sealing threads.
pub struct SealArchiver {
    runtime: tokio::runtime::Runtime,
    archive: Archive,
    trust_anchors: Vec<Vec<u8>>,
    actor: String,
}

impl SignArchive {
    /// Opens the archive if `--archive` was given. The self-signed end of `chain` (the root)
    /// is the trust anchor of the recorded verification reports.
    pub fn open(&self, chain: &[Vec<u8>]) -> Result<Option<SealArchiver>, Failure> {
        if !self.archive {
            return Ok(None);
        }
        let runtime = runtime()?;
        let archive = runtime.block_on(open(&self.storage, GroupCommit::default()))?;
        let trust_anchors = chain
            .last()
            .filter(|der| {
                chop_seal::certs::parse(der).is_ok_and(|c| {
                    c.tbs_certificate.subject.as_raw() == c.tbs_certificate.issuer.as_raw()
                })
            })
            .cloned()
            .into_iter()
            .collect();
        Ok(Some(SealArchiver {
            runtime,
            archive,
            trust_anchors,
            actor: cli_actor(),
        }))
    }
}

impl SealArchiver {
    /// Stores `sealed` (the output of sealing `original` into `output`) and appends its
    /// document.sealed record; returns the record's seq once durable. Callable from several
    /// threads at once (their appends share commits).
    pub fn record(
        &self,
        original: &[u8],
        sealed: &chop_seal::sign::Sealed,
        output: &Path,
    ) -> Result<u64, Failure> {
        let doc = SealedDocument {
            original,
            sealed: &sealed.pdf,
            file_name: output.file_name().map(|n| n.to_string_lossy().into_owned()),
            visible: sealed.visible,
            certified: sealed.certified,
            trust_anchors: self.trust_anchors.clone(),
            actor: self.actor.clone(),
        };
        let done = self
            .runtime
            .block_on(self.archive.record_sealed(doc))
            .map_err(|e| {
                let f = failure(e);
                Failure::new(
                    f.code,
                    format!("{}: not archived: {}", output.display(), f.message),
                )
            })?;
        Ok(done.receipt.seq)
    }

    /// Waits for pending appends and closes the database.
    pub fn close(self) {
        let SealArchiver {
            runtime, archive, ..
        } = self;
        runtime.block_on(archive.close());
    }
}
