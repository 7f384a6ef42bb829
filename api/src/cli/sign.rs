//! `chop sign`: seal PDF documents (PAdES B-B with a visible GB/T 38540 seal).

use std::path::{Path, PathBuf};

use chop_seal::keys::SoftwareKey;
use chop_seal::seal_object::SESeal;
use chop_seal::sign::{PageSelector, Sealer, SignError, SignOptions};
use rayon::prelude::*;

use super::Failure;
use crate::exit;

/// Seal one PDF (`--out`) or many (`--out-dir`, in parallel on all cores).
#[derive(clap::Args, Debug)]
#[command(after_help = crate::exit::HELP)]
pub struct Args {
    /// The PDF file(s) to seal.
    #[arg(required = true, value_name = "IN.pdf")]
    inputs: Vec<PathBuf>,
    /// Output file (one input).
    #[arg(long, conflicts_with = "out_dir", required_unless_present = "out_dir")]
    out: Option<PathBuf>,
    /// Output directory (batch mode): each sealed file keeps its input's file name.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// The signer's private key (PEM PKCS#8: ECDSA P-256/P-384 or RSA).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// The signer's certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// The certificate chain (PEM: issuing CA first, root last).
    #[arg(long, value_name = "CHAIN.pem")]
    chain: Option<PathBuf>,
    /// The GB/T 38540 seal object (DER) naming the signer certificate in its certList.
    #[arg(long, value_name = "SEAL.der")]
    seal: PathBuf,
    /// Page for the visible seal: a number from 1, or `last`.
    #[arg(long, default_value = "last", value_parser = parse_page)]
    page: PageSelector,
    /// Seal position: lower-left corner, millimetres from the crop box's left edge
    /// (default: bottom right, 15 mm from the right edge).
    #[arg(long, requires = "y", allow_negative_numbers = false)]
    x: Option<f64>,
    /// Seal position: lower-left corner, millimetres from the crop box's bottom edge
    /// (default 20 mm).
    #[arg(long, requires = "x")]
    y: Option<f64>,
    /// Signature field name (default: Seal1, Seal2, … whichever is free). One input only.
    #[arg(long)]
    field: Option<String>,
    /// Reason for signing (`/Reason`).
    #[arg(long)]
    reason: Option<String>,
    /// Where the document was sealed (`/Location`).
    #[arg(long)]
    location: Option<String>,
    /// On a certified (DocMDP P=2/P=3) document, draw the seal anyway. Acrobat accepts this;
    /// pyHanko and `chop verify` then judge the certification broken (a visible signature field
    /// added after certification can cover content). Default: seal such documents invisibly.
    #[arg(long)]
    visible_on_certified: bool,
    #[command(flatten)]
    archive: super::archive::SignArchive,
}

fn parse_page(s: &str) -> Result<PageSelector, String> {
    if s.eq_ignore_ascii_case("last") {
        return Ok(PageSelector::Last);
    }
    match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(PageSelector::Number(n)),
        _ => Err(format!("'{s}' is not a page number (1, 2, …) or 'last'")),
    }
}

/// Read a file, naming it in the error.
pub(crate) fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::new(
            exit::IO,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })
}

/// Read a UTF-8 text file (PEM), naming it in the error.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, Failure> {
    let bytes = read(path, what)?;
    String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            exit::BAD_CREDENTIALS,
            format!("{what} {} is not a PEM text file", path.display()),
        )
    })
}

/// Write `data` to `path` atomically and durably: a temporary file in the same directory,
/// fsync, rename, fsync of the directory (so the rename survives a crash too). Nothing is left
/// at `path` on failure.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> Result<(), Failure> {
    let pending = write_pending(path, data)?;
    let io =
        |e: std::io::Error| Failure::new(exit::IO, format!("cannot write {}: {e}", path.display()));
    pending.tmp.as_file().sync_all().map_err(io)?;
    pending.tmp.persist(path).map_err(|e| io(e.error))?;
    sync_dir(parent_dir(path)).map_err(io)?;
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// fsync a directory: makes the entries created or renamed in it durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A file written to a temporary name beside its target, not yet durable nor in place.
struct Pending {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

/// Write `data` to a temporary file beside `path` (no fsync yet).
fn write_pending(path: &Path, data: &[u8]) -> Result<Pending, Failure> {
    use std::io::Write;
    let io =
        |e: std::io::Error| Failure::new(exit::IO, format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(parent_dir(path)).map_err(io)?;
    tmp.write_all(data).map_err(io)?;
    // Temporary files are created 0600; a sealed document is not a secret.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io)?;
    }
    Ok(Pending {
        tmp,
        target: path.to_path_buf(),
    })
}

/// Make a batch's files durable and put them in place, syncing once for all of them instead of
/// once per file: one `syncfs(2)` of the output folder's file system (every temporary file's
/// data and inode), the renames, one fsync of the folder (the renames). Where `syncfs` is not
/// available each file is fsynced instead. Returns each target, or why it failed; nothing is
/// reported written before it is durable.
fn commit_batch(dir: &Path, pending: Vec<Pending>) -> Vec<Result<PathBuf, Failure>> {
    if pending.is_empty() {
        return Vec::new();
    }
    let io = |path: &Path, e: std::io::Error| {
        Failure::new(exit::IO, format!("cannot write {}: {e}", path.display()))
    };
    let synced_all = std::fs::File::open(dir)
        .and_then(|d| rustix::fs::syncfs(&d).map_err(std::io::Error::from))
        .is_ok();
    let mut placed: Vec<Result<PathBuf, Failure>> = pending
        .into_iter()
        .map(|p| {
            if !synced_all {
                p.tmp.as_file().sync_all().map_err(|e| io(&p.target, e))?;
            }
            p.tmp
                .persist(&p.target)
                .map_err(|e| io(&p.target, e.error))?;
            Ok(p.target)
        })
        .collect();
    if let Err(e) = sync_dir(dir) {
        for r in &mut placed {
            if let Ok(target) = r {
                *r = Err(io(target, e.kind().into()));
            }
        }
    }
    placed
}

fn sign_failure(path: &Path, e: &SignError) -> Failure {
    let code = if e.is_document_problem() {
        exit::BAD_DOCUMENT
    } else {
        exit::BAD_CREDENTIALS
    };
    Failure::new(code, format!("{}: {e}", path.display()))
}

/// Tell the user when a certified document was sealed without a visible seal.
fn note_invisible(input: &Path, sealed: &chop_seal::sign::Sealed) {
    if let (false, Some(p)) = (sealed.visible, sealed.certified) {
        eprintln!(
            "chop: note: {} is certified (DocMDP P={p}); the seal was bound invisibly so the \
             certification stays valid (use --visible-on-certified to draw it anyway)",
            input.display()
        );
    }
}

pub fn run(args: Args) -> u8 {
    super::report(run_inner(args))
}

fn run_inner(args: Args) -> Result<u8, Failure> {
    if args.out.is_some() && args.inputs.len() != 1 {
        return Err(Failure::new(
            exit::USAGE,
            "--out takes exactly one input file; use --out-dir for several",
        ));
    }
    if args.field.is_some() && args.inputs.len() != 1 {
        return Err(Failure::new(
            exit::USAGE,
            "--field can only be used with one input file",
        ));
    }
    let key_pem = read_text(&args.key, "key")?;
    let key = SoftwareKey::from_pkcs8_pem(&key_pem).map_err(|e| {
        Failure::new(
            exit::BAD_CREDENTIALS,
            format!("key {}: {e}", args.key.display()),
        )
    })?;
    let cert_pem = read_text(&args.cert, "certificate")?;
    let cert = chop_seal::certs::certificates_from_pem(&cert_pem)
        .map_err(|e| {
            Failure::new(
                exit::BAD_CREDENTIALS,
                format!("certificate {}: {e}", args.cert.display()),
            )
        })?
        .remove(0);
    let chain = match &args.chain {
        Some(p) => {
            chop_seal::certs::certificates_from_pem(&read_text(p, "chain")?).map_err(|e| {
                Failure::new(exit::BAD_CREDENTIALS, format!("chain {}: {e}", p.display()))
            })?
        }
        None => Vec::new(),
    };
    let seal_der = read(&args.seal, "seal")?;
    let seal = SESeal::from_der(&seal_der).map_err(|e| {
        Failure::new(
            exit::BAD_CREDENTIALS,
            format!("seal {}: {e}", args.seal.display()),
        )
    })?;
    let sealer = Sealer::new(&key, &cert, &chain, &seal).map_err(|e| {
        let code = if e.is_document_problem() {
            exit::BAD_DOCUMENT
        } else {
            exit::BAD_CREDENTIALS
        };
        Failure::new(code, e.to_string())
    })?;
    let archiver = args.archive.open(&chain)?;
    let opts = SignOptions {
        page: args.page,
        position_mm: args.x.zip(args.y),
        field_name: args.field.clone(),
        reason: args.reason.clone(),
        location: args.location.clone(),
        signing_time: None,
        visible_on_certified: args.visible_on_certified,
    };

    if let Some(out) = &args.out {
        let input = &args.inputs[0];
        let data = read(input, "input")?;
        let sealed = sealer
            .seal(&data, &opts)
            .map_err(|e| sign_failure(input, &e))?;
        if let Some(a) = &archiver {
            let seq = a.record(&data, &sealed, out)?;
            println!("archived {} as record {seq}", out.display());
        }
        write_atomically(out, &sealed.pdf)?;
        println!("sealed {} -> {}", input.display(), out.display());
        note_invisible(input, &sealed);
        if let Some(a) = archiver {
            a.close();
        }
        return Ok(exit::OK);
    }

    let Some(out_dir) = &args.out_dir else {
        return Err(Failure::new(
            exit::USAGE,
            "give --out FILE or --out-dir DIR",
        ));
    };
    std::fs::create_dir_all(out_dir).map_err(|e| {
        Failure::new(
            exit::IO,
            format!("cannot create {}: {e}", out_dir.display()),
        )
    })?;
    let written: Vec<Result<Pending, Failure>> = args
        .inputs
        .par_iter()
        .map(|input| {
            let name = input.file_name().ok_or_else(|| {
                Failure::new(exit::USAGE, format!("{} has no file name", input.display()))
            })?;
            let target = out_dir.join(name);
            let data = read(input, "input")?;
            let sealed = sealer
                .seal(&data, &opts)
                .map_err(|e| sign_failure(input, &e))?;
            if let Some(a) = &archiver {
                a.record(&data, &sealed, &target)?;
            }
            let pending = write_pending(&target, &sealed.pdf)?;
            note_invisible(input, &sealed);
            Ok(pending)
        })
        .collect();
    let mut results = Vec::with_capacity(written.len());
    let mut pending = Vec::new();
    for w in written {
        match w {
            Ok(p) => pending.push(p),
            Err(f) => results.push(Err(f)),
        }
    }
    results.extend(commit_batch(out_dir, pending));
    if let Some(a) = archiver {
        a.close();
    }
    let mut worst = exit::OK;
    let mut done = 0usize;
    for r in results {
        match r {
            Ok(_) => done += 1,
            Err(f) => {
                eprintln!("chop: {}", f.message);
                worst = worst.max(f.code);
            }
        }
    }
    println!(
        "sealed {done} of {} file(s) into {}",
        args.inputs.len(),
        out_dir.display()
    );
    Ok(worst)
}
