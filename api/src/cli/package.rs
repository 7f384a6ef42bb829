//! `chop archive export` and `chop archive verify-package` (issue 5): retention packages — a
//! BagIt 1.0 zip of records, documents, proofs, checkpoint, trust material, METS/PREMIS and a
//! DA/T 70-2018 four-property report — written from the archive, and checked offline with no
//! database and no network. The format is described in docs/FORMATS.md "Retention package".

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chop_archive::checkpoint::DEFAULT_ORIGIN;
use chop_archive::log::NewEntry;
use chop_archive::note::NoteVerifier;
use chop_archive::package::four::Outcome;
use chop_archive::package::{
    ExportSpec, PackageError, Progress, Selection, WriteRequest, plan_export, verify_package_file,
    write_package,
};
use chop_archive::record::{RecordKind, Retention, Timestamp};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Failure;
use crate::archive::source::{ArchiveSource, SourceError};
use crate::archive::{Archive, ArchiveConfig, GroupCommit, cli_actor};
use crate::exit;

const EXPORT_HELP: &str = "The package is one zip holding one BagIt 1.0 bag (RFC 8493); see
docs/FORMATS.md \"Retention package\" and docs/ARCHIVISTS.md. A package.exported record is
appended to the log before the package is written, and the package holds it: it commits to
exactly the records exported.

Exit codes: 0 the package was written and its four-property report has no failure; 3 usage
error or nothing selected; 6 file error; 7 the package was written but its four-property
report fails (the archive itself has a problem: see the report), or the archive is
inconsistent; 8 database error.";

const VERIFY_HELP: &str = "Checks, offline: the bag (both payload manifests, the tag manifest,
Payload-Oxum, no missing or extra files), every record's canonical form, chain link and
inclusion proof, the checkpoint signature and the consistency proof, the package.exported
commitment, every document's and report's hash, every seal re-verified with the packaged trust
material at its record's time, METS, and recomputes the DA/T 70-2018 four-property report.

Exit codes: 0 everything holds (warnings, e.g. a document recorded as unsigned at ingest, are
printed but do not fail); 3 usage error; 6 the file cannot be read; 7 a problem was found
(each is printed with the file or record it concerns).";

/// Where the archive is (the same options as every `chop archive` command).
#[derive(clap::Args, Debug, Clone)]
pub struct PackageStorage {
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

/// `chop archive export`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXPORT_HELP)]
pub struct ExportArgs {
    /// The package file to write (a zip).
    #[arg(long, value_name = "PKG.zip")]
    out: PathBuf,
    /// First record (default: the first).
    #[arg(long, value_name = "A", conflicts_with_all = ["since", "until"])]
    from_seq: Option<u64>,
    /// Last record, inclusive (default: the last).
    #[arg(long, value_name = "B", conflicts_with_all = ["since", "until"])]
    to_seq: Option<u64>,
    /// From the first record at or after this time (RFC 3339, or a date YYYY-MM-DD = 00:00 UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    since: Option<Timestamp>,
    /// To the last record before this time (RFC 3339, or a date YYYY-MM-DD = 00:00 UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    until: Option<Timestamp>,
    /// Only records about this organisation (统一社会信用代码).
    #[arg(long, value_name = "USCC", value_parser = parse_uscc)]
    org: Option<String>,
    /// Only records of this kind (repeat for more), e.g. document.sealed.
    #[arg(long, value_name = "K", value_parser = parse_kind)]
    kind: Vec<RecordKind>,
    /// Only records of this retention class: permanent (永久), 30y (30年) or 10y (10年).
    #[arg(long, value_name = "CLASS", value_parser = parse_retention)]
    retention: Option<Retention>,
    /// A trust anchor (PEM) to package besides those the verification reports name and the data
    /// folder's development root (`keys/root-ca.crt.pem`, if there is one). Repeat.
    #[arg(long, value_name = "ROOT.pem")]
    trust: Vec<PathBuf>,
    /// bag-info Source-Organization (default: the log origin).
    #[arg(long, value_name = "NAME")]
    source_organization: Option<String>,
    #[command(flatten)]
    storage: PackageStorage,
}

/// `chop archive verify-package`.
#[derive(clap::Args, Debug)]
#[command(after_help = VERIFY_HELP)]
pub struct VerifyPackageArgs {
    /// The package (zip).
    #[arg(value_name = "PKG.zip")]
    file: PathBuf,
    /// The log's verifier key (`name+keyhash+base64`, as `chop archive pubkey` prints it), or a
    /// file holding it. Without it the key packaged in data/trust/log.pub is used, which only
    /// shows the package is self-consistent.
    #[arg(long, value_name = "LOG.pub")]
    key: Option<String>,
    /// Print the recomputed four-property report and every problem as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    Timestamp::parse(&full).map_err(|_| {
        format!("'{s}' is not a date (YYYY-MM-DD) or an RFC 3339 UTC time (2025-01-02T03:04:05Z)")
    })
}

fn parse_uscc(s: &str) -> Result<String, String> {
    chop_seal::codes::validate_uscc(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("'{s}' is not a valid 统一社会信用代码: {e}"))
}

fn parse_kind(s: &str) -> Result<RecordKind, String> {
    s.parse().map_err(|_| {
        let all: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("'{s}' is not a record kind ({})", all.join(", "))
    })
}

fn parse_retention(s: &str) -> Result<Retention, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a retention class (permanent, 30y, 10y)"))
}

fn out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn package_failure(e: PackageError<SourceError>) -> Failure {
    let code = match &e {
        PackageError::Usage(_) => exit::USAGE,
        PackageError::Io(_) | PackageError::Zip(_) => exit::IO,
        PackageError::Source(SourceError::Io { .. }) => exit::IO,
        PackageError::Source(_) => exit::STORAGE,
        PackageError::Corrupt { .. } => exit::ARCHIVE_INVALID,
    };
    Failure::new(code, e.to_string())
}

fn progress_bar() -> ProgressBar {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    }
}

fn blocking_failure(e: tokio::task::JoinError) -> Failure {
    Failure::new(exit::INTERNAL, format!("export task failed: {e}"))
}

/// `chop archive export`: plan, append the package.exported record, sign a checkpoint covering
/// it, stream the package into a temporary file beside `--out`, and rename it into place.
pub async fn export(a: ExportArgs) -> Result<u8, Failure> {
    let mut extra_anchors = Vec::new();
    // The data folder's development root certified every seal the folder made (licences issued
    // with `chop licence`, seals made by `chop serve`): package it, as the server does.
    let dev_root = a
        .storage
        .data_dir
        .join(crate::server::config::DEV_ROOT_CERT);
    let trust_files = a
        .trust
        .iter()
        .chain(dev_root.is_file().then_some(&dev_root));
    for path in trust_files {
        let text = super::sign::read_text(path, "trust anchor")?;
        extra_anchors.extend(chop_seal::certs::certificates_from_pem(&text).map_err(|e| {
            Failure::new(exit::USAGE, format!("trust anchor {}: {e}", path.display()))
        })?);
    }
    let dir = a
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let tmp = tempfile::Builder::new()
        .prefix(".chop-export-")
        .suffix(".zip.tmp")
        .tempfile_in(&dir)
        .map_err(|e| Failure::new(exit::IO, format!("cannot write in {}: {e}", dir.display())))?;

    let config = ArchiveConfig {
        data_dir: a.storage.data_dir.clone(),
        database_url: a.storage.db.clone(),
        origin: a.storage.origin.clone(),
    };
    let archive = Archive::open(config, GroupCommit::default())
        .await
        .map_err(|e| Failure::new(exit::STORAGE, e.to_string()))?;
    let result = export_inner(&archive, &a, extra_anchors, tmp).await;
    archive.close().await;
    result
}

async fn export_inner(
    archive: &Archive,
    a: &ExportArgs,
    extra_anchors: Vec<Vec<u8>>,
    tmp: tempfile::NamedTempFile,
) -> Result<u8, Failure> {
    let signer = std::sync::Arc::new(
        archive
            .signer()
            .await
            .map_err(|e| Failure::new(exit::BAD_CREDENTIALS, e.to_string()))?,
    );
    let log = archive.log();
    let head = log
        .head()
        .await
        .map_err(|e| Failure::new(exit::STORAGE, e.to_string()))?;
    let selection = Selection {
        from_seq: a.from_seq,
        to_seq: a.to_seq,
        since: a.since.clone(),
        until: a.until.clone(),
        kinds: a.kind.clone(),
        org: a.org.clone(),
        retention: a.retention,
    };
    let spec = ExportSpec {
        selection,
        source_organization: a
            .source_organization
            .clone()
            .unwrap_or_else(|| archive.config().origin.clone()),
        origin: archive.config().origin.clone(),
        bagging_time: Timestamp::now(),
    };
    let source = ArchiveSource::new(archive, signer.clone());

    // 1. Plan (reads the selected records once, checking the chain).
    let (plan, source) = tokio::task::spawn_blocking(move || {
        let mut source = source;
        let plan = plan_export(&mut source, spec, head.size);
        (plan, source)
    })
    .await
    .map_err(blocking_failure)?;
    let plan = plan.map_err(package_failure)?;

    // 2. The package's own record, then a checkpoint covering it.
    let receipt = archive
        .appender()
        .append_one(NewEntry {
            idempotency_key: None,
            record: plan.exported_record(&cli_actor()),
        })
        .await
        .map_err(|e| Failure::new(exit::STORAGE, format!("append: {e}")))?;
    let checkpoint = log
        .checkpoint(&signer)
        .await
        .map_err(|e| Failure::new(exit::ARCHIVE_INVALID, e.to_string()))?;

    // 3. Write, streaming, on a blocking thread.
    let request = WriteRequest {
        checkpoint: checkpoint.note,
        verifier: signer.verifier(),
        extra_anchors,
        crls: Vec::new(),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let bar = progress_bar();
    let bar2 = bar.clone();
    let own = receipt.seq;
    let (written, plan) = tokio::task::spawn_blocking(move || {
        let mut source = source;
        let mut stage = "";
        let mut on_progress = |p: Progress| {
            if p.stage != stage {
                stage = p.stage;
                bar2.set_message(p.stage);
                bar2.set_length(p.total);
            }
            bar2.set_position(p.done);
        };
        let file = std::io::BufWriter::with_capacity(1 << 20, tmp);
        let result = write_package(&mut source, &plan, own, &request, file, &mut on_progress);
        (result, plan)
    })
    .await
    .map_err(blocking_failure)?;
    bar.finish_and_clear();
    let (summary, file) = written.map_err(package_failure)?;
    let tmp = file
        .into_inner()
        .map_err(|e| Failure::new(exit::IO, format!("cannot write the package: {e}")))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Failure::new(exit::IO, format!("cannot write the package: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(&a.out).map_err(|e| {
        Failure::new(
            exit::IO,
            format!("cannot write {}: {}", a.out.display(), e.error),
        )
    })?;
    let (first, last) = plan.seq_range();
    let zip_sha = sha256_file(&a.out).unwrap_or_default();
    out(&format!(
        "wrote {} ({} bytes, sha256 {zip_sha}): {} records ({first}..={last} and package.exported record {own}), {} documents, {} verification reports, checkpoint of {} records",
        a.out.display(),
        std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0),
        summary.records,
        summary.documents,
        summary.evidence,
        summary.checkpoint_size,
    ));
    out(&format!("package {}", summary.external_id));
    print_four_properties(&summary.report);
    if summary.report.result == Outcome::Fail {
        for p in &summary.report.properties {
            for c in p.checks.iter().filter(|c| c.result == Outcome::Fail) {
                for f in &c.findings {
                    out(&format!("problem: {f} [{}]", c.id));
                }
            }
        }
        return Err(Failure::new(
            exit::ARCHIVE_INVALID,
            "the package was written, but its four-property report fails: the archive has problems (see above, and run `chop archive verify`)",
        ));
    }
    Ok(exit::OK)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut d = chop_archive::package::bagit::FileDigests::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        d.update(buf.get(..n).unwrap_or_default());
    }
    Ok(d.finish().sha256)
}

fn print_four_properties(r: &chop_archive::package::four::FourPropertyReport) {
    let line: Vec<String> = r
        .properties
        .iter()
        .map(|p| format!("{} {}", p.name, p.result))
        .collect();
    out(&format!(
        "four properties (DA/T 70-2018): {} — overall {}",
        line.join(", "),
        r.result
    ));
}

/// `chop archive verify-package`: offline, prints every problem and warning, the four-property
/// results and a verdict line.
pub fn verify_package(a: &VerifyPackageArgs) -> Result<u8, Failure> {
    let key = match &a.key {
        None => None,
        Some(k) => {
            let text = if Path::new(k).is_file() {
                super::sign::read_text(Path::new(k), "verifier key")?
            } else {
                k.clone()
            };
            Some(NoteVerifier::from_key_string(text.trim()).map_err(|e| {
                Failure::new(
                    exit::USAGE,
                    format!("--key: not a note verifier key (name+keyhash+base64): {e}"),
                )
            })?)
        }
    };
    if let Err(e) = std::fs::File::open(&a.file) {
        return Err(Failure::new(
            exit::IO,
            format!("cannot read {}: {e}", a.file.display()),
        ));
    }
    let report = verify_package_file(&a.file, key.as_ref());
    if a.json {
        let problems = |list: &[chop_archive::package::PackageProblem]| -> Vec<serde_json::Value> {
            list.iter()
                .map(|p| {
                    serde_json::json!({
                        "check": p.check,
                        "location": p.finding.location,
                        "message": p.finding.message,
                    })
                })
                .collect()
        };
        let doc = serde_json::json!({
            "file": a.file.display().to_string(),
            "ok": report.is_ok(),
            "package": report.external_id,
            "records": report.records,
            "documents": report.documents,
            "evidence": report.evidence,
            "checkpoint_size": report.checkpoint.as_ref().map(|c| c.size),
            "key": if report.key_given { "given" } else { "packaged" },
            "problems": problems(&report.problems),
            "warnings": problems(&report.warnings),
            "four_properties": report.four_properties,
        });
        out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        for p in &report.problems {
            out(&format!("problem: {p}"));
        }
        for w in &report.warnings {
            out(&format!("warning: {w}"));
        }
        print_four_properties(&report.four_properties);
        if !report.key_given {
            out(
                "note: checked with the log key packaged in data/trust/log.pub; pass --key LOG.pub (from `chop archive pubkey`) to check the checkpoint against a key you trust",
            );
        }
        let cp = report
            .checkpoint
            .as_ref()
            .map_or("no verified checkpoint".to_owned(), |c| {
                format!(
                    "checkpoint {} of {} records, root {}",
                    c.origin, c.size, c.root
                )
            });
        out(&format!(
            "{}: {} — {} records, {} documents, {} verification reports, {cp}; {} problem{}, {} warning{}",
            if report.is_ok() {
                "package OK"
            } else {
                "package INVALID"
            },
            a.file.display(),
            report.records,
            report.documents,
            report.evidence,
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" },
            report.warnings.len(),
            if report.warnings.len() == 1 { "" } else { "s" },
        ));
    }
    Ok(if report.is_ok() {
        exit::OK
    } else {
        exit::ARCHIVE_INVALID
    })
}
