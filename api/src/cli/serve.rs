//! `chop serve`: the REST API server (issue 7). Configuration: defaults, then the TOML file of
//! `--config` (or `CHOP_CONFIG`), then `CHOP_*` environment variables (docs/API.md
//! "Configuration").

use std::path::PathBuf;

use super::Failure;
use crate::exit;
use crate::server::{ServeError, config::Config};

const AFTER_HELP: &str = "Environment (overrides the file): CHOP_LISTEN (default 127.0.0.1:8080),
CHOP_PUBLIC_URL, CHOP_DATA_DIR (default ./chop-data), CHOP_DATABASE_URL (postgres://… or
sqlite:PATH; default DIR/chop.db), CHOP_LOG_ORIGIN, CHOP_TRUST_ANCHORS (PEM files, ':'-separated),
CHOP_LOG_FORMAT (text|json), CHOP_LOG (log filter, default info), CHOP_MAX_PDF_BYTES,
CHOP_MAX_JSON_BYTES, CHOP_REQUEST_TIMEOUT_SECONDS, CHOP_PUBLIC_RATE_PER_SECOND (0: no limit),
CHOP_PUBLIC_BURST. See docs/API.md.

On first start an admin API key is printed once and written to DIR/admin-api-key (mode 0600).
SIGTERM or SIGINT stops the server after in-flight requests and export jobs finish.

Exit codes: 0 stopped cleanly; 3 bad configuration; 6 cannot listen or write a file;
8 the archive database cannot be opened.";

/// Run the REST API server.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// A TOML configuration file.
    #[arg(long, env = "CHOP_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Run `chop serve`; returns the exit code.
pub fn run(args: Args) -> u8 {
    super::report(run_inner(args))
}

fn run_inner(args: Args) -> Result<u8, Failure> {
    let config = Config::load(args.config.as_deref(), |name| std::env::var(name).ok())
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    crate::server::init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                exit::INTERNAL,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    runtime
        .block_on(crate::server::serve(config))
        .map_err(|e| {
            let code = match &e {
                ServeError::Config(_) => exit::USAGE,
                ServeError::Storage(_) => exit::STORAGE,
                ServeError::Io(_) => exit::IO,
            };
            Failure::new(code, e.to_string())
        })?;
    Ok(exit::OK)
}
