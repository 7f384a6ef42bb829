//! `chop licence`: licence types, example data, issuance, the registry and the lifecycle, on
//! the data folder the server uses too (`--data-dir`, default `./chop-data`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use serde_json::{Value, json};

use super::Failure;
use super::archive::StorageArgs;
use crate::archive::{Archive, GroupCommit, cli_actor};
use crate::exit;
use crate::registry::{
    IssueRequest, Licence, LicenceFilter, LicenceStatus, Registry, RegistryConfig, RegistryError,
    StatusChange,
};

const AFTER_HELP: &str =
    "The registry lives in the data folder (--data-dir, default ./chop-data, env
CHOP_DATA_DIR) shared with `chop serve`; on first use it gets a development PKI in
DIR/keys/ (the files of `chop keys dev`) and a development bureau with its seal.
Exit codes: 0 ok; 3 bad input (the message names the field); 4 the data file is not JSON;
5 key or seal problem; 6 file error; 8 database error; 9 not found; 10 not allowed now.";

/// Where the registry is and how licences link back to it.
#[derive(clap::Args, Debug, Clone)]
pub struct RegistryArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Base URL of the verification page put in QR codes (`<URL>/v/<id>`).
    #[arg(
        long,
        env = "CHOP_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    public_url: String,
    /// A folder of extra licence types (`*.toml`) added to the shipped ones.
    #[arg(long, env = "CHOP_TEMPLATES_DIR", value_name = "DIR")]
    templates: Option<PathBuf>,
}

/// E-licences (电子证照): types, issuance, registry, lifecycle.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the licence types with their fields.
    #[command(after_help = AFTER_HELP)]
    Types {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A folder of extra licence types (`*.toml`).
        #[arg(long, env = "CHOP_TEMPLATES_DIR", value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Print valid example data (JSON) for a licence type.
    #[command(after_help = AFTER_HELP)]
    Example {
        /// The type: key, type code or name.
        #[arg(value_name = "TYPE")]
        licence_type: String,
        /// A folder of extra licence types (`*.toml`).
        #[arg(long, env = "CHOP_TEMPLATES_DIR", value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Issue a licence: validate, allocate the identifier, render, seal, store, record.
    #[command(after_help = AFTER_HELP)]
    Issue(IssueArgs),
    /// Show a licence (by identifier or public id).
    #[command(after_help = AFTER_HELP)]
    Show(ShowArgs),
    /// List licences, newest first.
    #[command(after_help = AFTER_HELP)]
    List(ListArgs),
    /// Suspend a valid licence.
    #[command(after_help = AFTER_HELP)]
    Suspend(ReasonArgs),
    /// Make a suspended licence valid again.
    #[command(after_help = AFTER_HELP)]
    Reinstate(ShowArgs),
    /// Revoke a licence (final).
    #[command(after_help = AFTER_HELP)]
    Revoke(ReasonArgs),
    /// Issue the next version of a licence with new data; the old one becomes superseded.
    #[command(after_help = AFTER_HELP)]
    Supersede(SupersedeArgs),
    /// Benchmark aid (used by scripts/bench-issue): issue COUNT example licences in this
    /// process — in batches of BATCH, or one by one from CONCURRENCY tasks — and print
    /// licences per second. Every licence is really issued, sealed, stored and recorded.
    #[command(hide = true)]
    Bench(BenchArgs),
}

/// `chop licence bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// How many licences.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Batch size (`issue_batch`); 0: one `issue` per licence from `--concurrency` tasks.
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// Concurrent tasks when `--batch 0`.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The licence type.
    #[arg(long = "type", default_value = "food-business")]
    licence_type: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `chop licence issue`.
#[derive(clap::Args, Debug)]
pub struct IssueArgs {
    /// The licence type: key, type code or name (`chop licence types`).
    #[arg(long = "type", value_name = "TYPE")]
    licence_type: String,
    /// The licence data, JSON (`chop licence example TYPE` prints one).
    #[arg(long, value_name = "FILE.json")]
    data: PathBuf,
    /// Where to write the sealed PDF.
    #[arg(long, value_name = "FILE.pdf")]
    out: PathBuf,
    /// Issuing organisation id (default: the data folder's development bureau).
    #[arg(long, value_name = "ORG_ID")]
    org: Option<String>,
    /// Seal id (default: the organisation's most recent active seal).
    #[arg(long, value_name = "SEAL_ID")]
    seal: Option<String>,
    /// Re-running with the same key returns the first licence and issues nothing.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Print the registry entry as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// A command naming one licence.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The licence's identifier (电子证照标识) or public id.
    #[arg(value_name = "ID")]
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `chop licence suspend|revoke`.
#[derive(clap::Args, Debug)]
pub struct ReasonArgs {
    /// The licence's identifier or public id.
    #[arg(value_name = "ID")]
    id: String,
    /// Why (required; kept in the registry and the archive record).
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `chop licence supersede`.
#[derive(clap::Args, Debug)]
pub struct SupersedeArgs {
    /// The licence to replace.
    #[arg(value_name = "ID")]
    id: String,
    /// The new data, JSON.
    #[arg(long, value_name = "FILE.json")]
    data: PathBuf,
    /// Where to write the new version's sealed PDF.
    #[arg(long, value_name = "FILE.pdf")]
    out: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `chop licence list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Issued by this organisation id.
    #[arg(long, value_name = "ORG_ID")]
    org: Option<String>,
    /// Held by this USCC or resident ID number.
    #[arg(long, value_name = "CODE")]
    holder: Option<String>,
    /// Of this type code.
    #[arg(long = "type-code", value_name = "CODE")]
    type_code: Option<String>,
    /// In this status: valid, suspended, revoked, expired, superseded.
    #[arg(long, value_parser = parse_status)]
    status: Option<LicenceStatus>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn parse_status(s: &str) -> Result<LicenceStatus, String> {
    LicenceStatus::parse(s).ok_or_else(|| {
        format!("'{s}' is not one of valid, suspended, revoked, expired, superseded")
    })
}

/// Runs a `chop licence` command.
pub fn run(command: Command) -> u8 {
    super::report(match command {
        Command::Types { json, templates } => types(json, templates.as_deref()),
        Command::Example {
            licence_type,
            templates,
        } => example(&licence_type, templates.as_deref()),
        other => super::archive::runtime().and_then(|rt| rt.block_on(run_async(other))),
    })
}

fn load_templates(dir: Option<&Path>) -> Result<chop_seal::licence::LicenceTemplates, Failure> {
    let builtin = chop_seal::licence::LicenceTemplates::builtin()
        .map_err(|e| Failure::new(exit::INTERNAL, format!("shipped licence types: {e}")))?;
    match dir {
        None => Ok(builtin),
        Some(d) => chop_seal::licence::LicenceTemplates::load_dir(d)
            .and_then(|extra| builtin.overlay(extra))
            .map_err(|e| Failure::new(exit::USAGE, format!("licence types: {e}"))),
    }
}

fn types(json_out: bool, dir: Option<&Path>) -> Result<u8, Failure> {
    let set = load_templates(dir)?;
    if json_out {
        let all: Vec<Value> = set.iter().map(|t| t.summary_json()).collect();
        out(&serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(exit::OK);
    }
    for t in set.iter() {
        out(&format!("{}  {}  ({})", t.key(), t.name(), t.type_code()));
        for f in t.fields() {
            out(&format!(
                "    {:<24} {:<14} {:<8} {}",
                f.name,
                f.label,
                f.kind.as_str(),
                if f.required { "required" } else { "optional" }
            ));
        }
    }
    Ok(exit::OK)
}

fn example(which: &str, dir: Option<&Path>) -> Result<u8, Failure> {
    let set = load_templates(dir)?;
    let t = set.get(which).ok_or_else(|| {
        let known: Vec<&str> = set.iter().map(|t| t.key()).collect();
        Failure::new(
            exit::NOT_FOUND,
            format!("no licence type {which:?}; known: {}", known.join(", ")),
        )
    })?;
    out(&serde_json::to_string_pretty(&t.example()).unwrap_or_default());
    Ok(exit::OK)
}

/// Maps a registry error to the exit code table.
pub(crate) fn failure(e: RegistryError) -> Failure {
    let code = match &e {
        RegistryError::Invalid(_) | RegistryError::Fields(_) => exit::USAGE,
        RegistryError::NotFound { .. } => exit::NOT_FOUND,
        RegistryError::Conflict(_) | RegistryError::SealNotUsable(_) => exit::CONFLICT,
        RegistryError::Store(_) => exit::STORAGE,
        RegistryError::Archive(a) => return super::archive::failure(clone_archive_error(a)),
        RegistryError::Io { .. } => exit::IO,
        RegistryError::Keys(_) | RegistryError::Sign(_) => exit::BAD_CREDENTIALS,
        RegistryError::Render(_) => exit::USAGE,
        RegistryError::Corrupt(_) => exit::STORAGE,
    };
    let message = match &e {
        // One line per field problem would be too long for one line: name them all.
        RegistryError::Fields(errors) => format!(
            "the licence data is invalid: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        _ => e.to_string(),
    };
    Failure::new(code, message)
}

fn clone_archive_error(a: &crate::archive::ArchiveError) -> crate::archive::ArchiveError {
    crate::archive::ArchiveError::Usage(a.to_string())
}

async fn open(args: &RegistryArgs) -> Result<(Arc<Archive>, Registry, String), Failure> {
    let archive = Archive::open(args.storage.config(), GroupCommit::default())
        .await
        .map_err(super::archive::failure)?;
    let archive = Arc::new(archive);
    let config = RegistryConfig {
        public_url: args.public_url.clone(),
        templates_dir: args.templates.clone(),
    };
    let (registry, bureau) = Registry::open(archive.clone(), &config)
        .await
        .map_err(failure)?;
    if bureau.created {
        eprintln!(
            "chop: first use of {}: made a DEVELOPMENT PKI in {}/keys/ and registered the development bureau {} ({}) with seal {} ({})",
            args.storage.config().data_dir.display(),
            args.storage.config().data_dir.display(),
            bureau.organisation.name,
            bureau.organisation.id,
            bureau.seal.name,
            bureau.seal.id,
        );
    }
    Ok((archive, registry, bureau.organisation.id))
}

async fn close(archive: Arc<Archive>, registry: Registry) {
    drop(registry);
    if let Ok(a) = Arc::try_unwrap(archive) {
        a.close().await;
    }
}

fn read_json(path: &Path) -> Result<Value, Failure> {
    let text = super::sign::read_text(path, "licence data")?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            exit::BAD_DOCUMENT,
            format!("{}: not JSON: {e}", path.display()),
        )
    })
}

fn write_pdf(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    super::sign::write_atomically(path, bytes)
}

async fn run_async(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Issue(a) => {
            let data = read_json(&a.data)?;
            let (archive, reg, bureau) = open(&a.registry).await?;
            let req = IssueRequest {
                type_key: a.licence_type.clone(),
                data,
                org_id: a.org.clone().unwrap_or(bureau),
                seal_id: a.seal.clone(),
                idempotency_key: a.idempotency_key.clone(),
            };
            let result = reg.issue(req, &cli_actor()).await;
            close(archive, reg).await;
            let issued = result.map_err(failure)?;
            write_pdf(&a.out, &issued.pdf)?;
            if a.json {
                print_json(&issued.licence);
            } else {
                out(&format!(
                    "{} {} → {}",
                    if issued.replayed {
                        "already issued (same idempotency key):"
                    } else {
                        "issued"
                    },
                    issued.licence.identifier,
                    a.out.display()
                ));
                print_summary(&issued.licence);
            }
            Ok(exit::OK)
        }
        Command::Show(a) => {
            let (archive, reg, _) = open(&a.registry).await?;
            let result = reg.licence(&a.id).await;
            close(archive, reg).await;
            let l = result.map_err(failure)?;
            if a.json {
                print_json(&l);
            } else {
                print_summary(&l);
            }
            Ok(exit::OK)
        }
        Command::List(a) => {
            let (archive, reg, _) = open(&a.registry).await?;
            let filter = LicenceFilter {
                org_id: a.org.clone(),
                holder_code: a.holder.clone(),
                type_code: a.type_code.clone(),
                status: a.status,
                cursor: None,
                limit: a.limit,
            };
            let result = reg.licences(&filter).await;
            close(archive, reg).await;
            let page = result.map_err(failure)?;
            if a.json {
                print_json(&page);
            } else {
                for l in &page.items {
                    out(&format!(
                        "{}  {:<10}  {}  {}",
                        l.identifier,
                        l.status.as_str(),
                        l.type_name,
                        l.holder_name
                    ));
                }
            }
            Ok(exit::OK)
        }
        Command::Suspend(a) => status(a, StatusChange::Suspend).await,
        Command::Revoke(a) => status(a, StatusChange::Revoke).await,
        Command::Reinstate(a) => {
            let (archive, reg, _) = open(&a.registry).await?;
            let result = reg
                .change_status(&a.id, StatusChange::Reinstate, None, None, &cli_actor())
                .await;
            close(archive, reg).await;
            let l = result.map_err(failure)?;
            if a.json {
                print_json(&l);
            } else {
                print_summary(&l);
            }
            Ok(exit::OK)
        }
        Command::Supersede(a) => {
            let data = read_json(&a.data)?;
            let (archive, reg, _) = open(&a.registry).await?;
            let result = reg.supersede(&a.id, data, None, &cli_actor()).await;
            close(archive, reg).await;
            let issued = result.map_err(failure)?;
            write_pdf(&a.out, &issued.pdf)?;
            if a.json {
                print_json(&issued.licence);
            } else {
                out(&format!(
                    "issued {} (version {}) replacing {} → {}",
                    issued.licence.identifier,
                    issued.licence.version,
                    a.id,
                    a.out.display()
                ));
                print_summary(&issued.licence);
            }
            Ok(exit::OK)
        }
        Command::Bench(a) => bench(a).await,
        Command::Types { .. } | Command::Example { .. } => Ok(exit::OK),
    }
}

async fn bench(a: BenchArgs) -> Result<u8, Failure> {
    let (archive, reg, bureau) = open(&a.registry).await?;
    let reg = Arc::new(reg);
    let template = reg.templates().get(&a.licence_type).ok_or_else(|| {
        Failure::new(
            exit::NOT_FOUND,
            format!("no licence type {:?}", a.licence_type),
        )
    })?;
    let data = template.example();
    chop_seal::licence::prepare_fonts(true)
        .map_err(|e| Failure::new(exit::INTERNAL, format!("fonts: {e}")))?;
    let req = |_: usize| IssueRequest {
        type_key: a.licence_type.clone(),
        data: data.clone(),
        org_id: bureau.clone(),
        seal_id: None,
        idempotency_key: None,
    };
    // Warm-up: load the seal, fill caches.
    reg.issue(req(0), "bench").await.map_err(failure)?;
    let start = std::time::Instant::now();
    let mut latencies = Vec::with_capacity(a.count);
    if a.batch > 0 {
        let mut done = 0;
        while done < a.count {
            let n = a.batch.min(a.count - done);
            let t = std::time::Instant::now();
            reg.issue_batch((0..n).map(req).collect(), "bench")
                .await
                .map_err(failure)?;
            latencies.push(t.elapsed());
            done += n;
        }
    } else {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..a.concurrency.max(1) {
            let (reg, next, count) = (reg.clone(), next.clone(), a.count);
            let r = req(0);
            tasks.spawn(async move {
                let mut lat = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let t = std::time::Instant::now();
                    reg.issue(r.clone(), "bench").await?;
                    lat.push(t.elapsed());
                }
                Ok::<_, RegistryError>(lat)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let lat = joined
                .map_err(|e| Failure::new(exit::INTERNAL, format!("bench task: {e}")))?
                .map_err(failure)?;
            latencies.extend(lat);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    out(&format!(
        "issued {} licences in {:.2} s: {:.0} licences/s ({}; latency per {} p50 {:.1} ms, p99 {:.1} ms)",
        a.count,
        secs,
        a.count as f64 / secs,
        if a.batch > 0 {
            format!("batches of {}", a.batch)
        } else {
            format!("{} concurrent tasks", a.concurrency)
        },
        if a.batch > 0 { "batch" } else { "licence" },
        pct(0.5),
        pct(0.99),
    ));
    let reg =
        Arc::try_unwrap(reg).map_err(|_| Failure::new(exit::INTERNAL, "registry still shared"))?;
    close(archive, reg).await;
    Ok(exit::OK)
}

async fn status(a: ReasonArgs, change: StatusChange) -> Result<u8, Failure> {
    let (archive, reg, _) = open(&a.registry).await?;
    let result = reg
        .change_status(&a.id, change, Some(&a.reason), None, &cli_actor())
        .await;
    close(archive, reg).await;
    let l = result.map_err(failure)?;
    if a.json {
        print_json(&l);
    } else {
        print_summary(&l);
    }
    Ok(exit::OK)
}

fn print_summary(l: &Licence) {
    let lines = [
        format!("identifier:  {}", l.identifier),
        format!("type:        {} ({})", l.type_name, l.type_code),
        format!("status:      {} {}", l.status.as_str(), l.status.zh()),
        format!("holder:      {} ({})", l.holder_name, l.holder_code),
        format!("issuer:      {} ({})", l.issuer_name, l.issuer_uscc),
        format!(
            "validity:    {} to {}",
            l.valid_from,
            l.valid_until.as_deref().unwrap_or("长期 (no end)")
        ),
        format!("version:     {:03}", l.version),
        format!("verify at:   {}", l.verify_url),
        format!("pdf sha256:  {}", l.pdf_sha256),
        format!(
            "record:      issued in seq {}, last change seq {}",
            l.issued_seq, l.last_seq
        ),
    ];
    for line in lines {
        out(&line);
    }
    if let Some(r) = &l.status_reason {
        out(&format!("reason:      {r}"));
    }
    if let Some(s) = &l.supersedes {
        out(&format!("supersedes:  {s}"));
    }
    if let Some(s) = &l.superseded_by {
        out(&format!("superseded by: {s}"));
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    out(&serde_json::to_string_pretty(v)
        .unwrap_or_else(|e| json!({"error": e.to_string()}).to_string()));
}

fn out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
