//! `chop verify`: verify signed PDFs and explain the result (issue 3; docs/VERIFY.md).
//!
//! Files are verified in parallel, one result block per file, in the order given; the exit code
//! is the worst over all files.

use std::io::Write;
use std::path::PathBuf;

use chop_seal::verify::{Indication, Report, VerifyError, VerifyOptions, verify_pdf};
use rayon::prelude::*;
use time::OffsetDateTime;

use super::Failure;
use crate::exit;

const AFTER_HELP: &str = "Exit codes (the worst over all files):
  0  every signature is TOTAL-PASSED
  1  at least one signature is TOTAL-FAILED
  2  otherwise, at least one signature is INDETERMINATE (e.g. no path to a trust anchor)
  3  a file is not a readable PDF, has no signature, exceeds a limit, or a usage error

Without --trust no certificate is trusted and the best possible result is INDETERMINATE.
--json prints one report per file (docs/FORMATS.md, \"Verification report\"); with several
files, a JSON array of {\"file\", \"report\"} or {\"file\", \"error\"} objects.";

/// Verify the signatures of PDF documents.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The signed PDF file(s).
    #[arg(required = true, value_name = "FILE.pdf")]
    files: Vec<PathBuf>,
    /// A trust anchor certificate (PEM; a file may hold several). Repeat for more.
    #[arg(long, value_name = "ROOT.pem")]
    trust: Vec<PathBuf>,
    /// Print the machine-readable report (JSON) instead of text.
    #[arg(long)]
    json: bool,
    /// Validate as of this time (RFC 3339, e.g. 2026-01-31T12:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    at: Option<OffsetDateTime>,
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time ({e})"))
}

/// Exit code for one file's outcome.
fn code_of(result: &Result<Report, VerifyError>) -> u8 {
    match result {
        Ok(r) => match r.worst() {
            Indication::TotalPassed => exit::OK,
            Indication::TotalFailed => exit::TOTAL_FAILED,
            Indication::Indeterminate => exit::INDETERMINATE,
        },
        Err(_) => exit::USAGE,
    }
}

/// Severity order of exit codes: 3 > 1 > 2 > 0.
fn severity(code: u8) -> u8 {
    match code {
        exit::OK => 0,
        exit::INDETERMINATE => 1,
        exit::TOTAL_FAILED => 2,
        _ => 3,
    }
}

fn options(args: &Args) -> Result<VerifyOptions, Failure> {
    let mut anchors = Vec::new();
    for path in &args.trust {
        let text = super::sign::read_text(path, "trust anchor")?;
        let certs = chop_seal::certs::certificates_from_pem(&text).map_err(|e| {
            Failure::new(exit::USAGE, format!("trust anchor {}: {e}", path.display()))
        })?;
        anchors.extend(certs);
    }
    Ok(VerifyOptions {
        trust_anchors: anchors,
        at: args.at,
        ..VerifyOptions::default()
    })
}

fn text_block(path: &str, result: &Result<Report, VerifyError>) -> String {
    let mut out = format!("== {path}\n");
    match result {
        Err(e) => out.push_str(&format!("  cannot verify: {e}\n")),
        Ok(r) => {
            for s in &r.signatures {
                out.push_str(&format!("  {}\n", s.summary()));
                if let Some(seal) = &s.seal {
                    out.push_str(&format!(
                        "    seal: {} ({}), esID {}, organisation {} {}, maker signature {}, signer in certList {}, picture matches {}\n",
                        seal.name,
                        seal.seal_type,
                        seal.es_id,
                        seal.organization,
                        seal.organization_id,
                        yes_no(seal.maker_signature_valid),
                        yes_no(seal.signer_in_cert_list),
                        match seal.appearance_matches_picture {
                            Some(b) => yes_no(b),
                            None => "no image",
                        }
                    ));
                }
                if let Some(signer) = &s.signer {
                    out.push_str(&format!(
                        "    signer: {} (serial {})\n",
                        signer.certificate.subject, signer.certificate.serial
                    ));
                }
                out.push_str(&format!(
                    "    trust: {}\n",
                    match &s.chain.trust_anchor {
                        Some(a) if s.chain.trusted => format!("path to trust anchor '{a}'"),
                        Some(a) => format!("path to '{a}', but a check failed"),
                        None => "no path to a trust anchor".to_string(),
                    }
                ));
                out.push_str(&format!(
                    "    revision {} of {}, coverage {:?}, changes after signing: {:?}\n",
                    s.revision, r.document.revision_count, s.coverage, s.changes.level
                ));
                for p in &s.problems {
                    out.push_str(&format!("    problem: {p}\n"));
                }
                for w in &s.warnings {
                    out.push_str(&format!("    warning: {w}\n"));
                }
            }
            for p in &r.document.problems {
                out.push_str(&format!("  document problem: {p}\n"));
            }
        }
    }
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn run_inner(args: Args) -> Result<u8, Failure> {
    let opts = options(&args)?;
    let results: Vec<(String, Result<Report, VerifyError>)> = args
        .files
        .par_iter()
        .map(|path| {
            let name = path.display().to_string();
            let result = match std::fs::read(path) {
                Ok(data) => verify_pdf(&data, &opts),
                Err(e) => Err(VerifyError::NotPdf(format!("cannot read the file: {e}"))),
            };
            (name, result)
        })
        .collect();
    let code = results
        .iter()
        .map(|(_, r)| code_of(r))
        .max_by_key(|c| severity(*c))
        .unwrap_or(exit::USAGE);
    if args.json {
        let value = if results.len() == 1 {
            match &results[0].1 {
                Ok(r) => serde_json::to_value(r),
                Err(e) => Ok(serde_json::json!({ "file": results[0].0, "error": e.to_string() })),
            }
        } else {
            let items: Result<Vec<_>, _> = results
                .iter()
                .map(|(name, r)| match r {
                    Ok(r) => serde_json::to_value(r)
                        .map(|v| serde_json::json!({ "file": name, "report": v })),
                    Err(e) => Ok(serde_json::json!({ "file": name, "error": e.to_string() })),
                })
                .collect();
            items.map(serde_json::Value::Array)
        }
        .map_err(|e| Failure::new(exit::INTERNAL, format!("cannot render JSON: {e}")))?;
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Failure::new(exit::INTERNAL, format!("cannot render JSON: {e}")))?;
        // A closed pipe (`chop verify … | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    } else {
        let mut out = std::io::stdout().lock();
        for (name, r) in &results {
            if write!(out, "{}", text_block(name, r)).is_err() {
                break;
            }
        }
    }
    Ok(code)
}

/// Run `chop verify`; returns the exit code.
pub fn run(args: Args) -> u8 {
    super::report(run_inner(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_exit_code_wins() {
        let mut codes = [exit::OK, exit::INDETERMINATE, exit::TOTAL_FAILED];
        codes.sort_by_key(|c| severity(*c));
        assert_eq!(codes.last(), Some(&exit::TOTAL_FAILED));
        assert!(severity(exit::USAGE) > severity(exit::TOTAL_FAILED));
        assert!(severity(exit::INDETERMINATE) > severity(exit::OK));
    }

    #[test]
    fn times_parse_as_rfc3339() {
        assert!(parse_time("2026-01-31T12:00:00Z").is_ok());
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
