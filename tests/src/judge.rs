//! The judges: validators nobody here wrote (pyHanko, poppler's `pdfsig`/`pdftoppm`/`pdfinfo`,
//! `qpdf`, NSS `certutil`), located on this machine and run with captured output.
//!
//! A missing judge panics when `CI=true` (a missing judge is a failure in CI) and is otherwise
//! skipped with a LOUD message on stderr: callers write `let Some(j) = judge::qpdf() else { return };`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{describe, run, workspace_root};

/// An external validator found on this machine.
#[derive(Debug, Clone)]
pub struct Judge {
    /// The tool's name (`qpdf`, `pdfsig`, …).
    pub name: &'static str,
    /// Absolute path of its executable.
    pub path: PathBuf,
}

impl Judge {
    /// A command running this judge.
    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }
}

/// Captured output of one judge run, with the command line for failure messages.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The command line.
    pub command: String,
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output and standard error, concatenated.
    pub text: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit code: {:?}\n{}",
            self.command, self.code, self.text
        )
    }
}

fn verdict(cmd: &mut Command) -> Verdict {
    let out = run(cmd);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Verdict {
        command: describe(cmd),
        code: out.status.code(),
        text,
    }
}

/// Find an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Apply the CI rule to a lookup: found → `Some`; missing → panic in CI, LOUD skip otherwise.
pub fn require(name: &'static str, found: Option<PathBuf>, install_hint: &str) -> Option<Judge> {
    match found {
        Some(path) => Some(Judge { name, path }),
        None if crate::in_ci() => panic!(
            "judge `{name}` is missing and CI=true: a missing judge is a failure in CI ({install_hint})"
        ),
        None => {
            crate::loud_skip(&format!(
                "judge `{name}` not found ({install_hint}); this interop check did NOT run"
            ));
            None
        }
    }
}

/// `qpdf` (apt package qpdf).
pub fn qpdf() -> Option<Judge> {
    require("qpdf", which("qpdf"), "apt-get install qpdf")
}

/// poppler's `pdfsig` (apt package poppler-utils).
pub fn pdfsig() -> Option<Judge> {
    require("pdfsig", which("pdfsig"), "apt-get install poppler-utils")
}

/// poppler's `pdftoppm` (apt package poppler-utils).
pub fn pdftoppm() -> Option<Judge> {
    require(
        "pdftoppm",
        which("pdftoppm"),
        "apt-get install poppler-utils",
    )
}

/// poppler's `pdfinfo` (apt package poppler-utils).
pub fn pdfinfo() -> Option<Judge> {
    require("pdfinfo", which("pdfinfo"), "apt-get install poppler-utils")
}

/// NSS `certutil` (apt package libnss3-tools).
pub fn certutil() -> Option<Judge> {
    require(
        "certutil",
        which("certutil"),
        "apt-get install libnss3-tools",
    )
}

/// `qpdf --check FILE`.
pub fn qpdf_check(qpdf: &Judge, file: &Path) -> Verdict {
    verdict(qpdf.command().arg("--check").arg(file))
}

/// Whether a `qpdf --check` verdict is clean: exit 0, "No syntax or stream encoding errors
/// found", and no warning (qpdf exits 3 on warnings, but also look at the text).
pub fn qpdf_clean(v: &Verdict) -> bool {
    v.code == Some(0)
        && v.text.contains("No syntax or stream encoding errors found")
        && !v.text.to_ascii_lowercase().contains("warning")
}

/// The crop box `[llx, lly, urx, ury]` of page `page` (1-based), from `pdfinfo -box`.
pub fn crop_box(pdfinfo: &Judge, file: &Path, page: u32) -> [f64; 4] {
    let v = verdict(
        pdfinfo
            .command()
            .args(["-box", "-f", &page.to_string(), "-l", &page.to_string()])
            .arg(file),
    );
    assert_eq!(v.code, Some(0), "pdfinfo failed:\n{v}");
    let line = v
        .text
        .lines()
        .find(|l| l.starts_with("Page") && l.contains("CropBox:"))
        .unwrap_or_else(|| panic!("no CropBox line in pdfinfo output:\n{v}"));
    let nums: Vec<f64> = line
        .split("CropBox:")
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .map(|n| n.parse().expect("CropBox numbers"))
        .collect();
    assert_eq!(nums.len(), 4, "bad CropBox line {line:?}");
    [nums[0], nums[1], nums[2], nums[3]]
}

/// Number of pages, from `pdfinfo`.
pub fn page_count(pdfinfo: &Judge, file: &Path) -> u32 {
    let v = verdict(pdfinfo.command().arg(file));
    assert_eq!(v.code, Some(0), "pdfinfo failed:\n{v}");
    v.text
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Pages line in pdfinfo output:\n{v}"))
}

/// Render one page with `pdftoppm -r DPI -png -f N -l N -singlefile` into `out_prefix.png`.
pub fn render_page(
    pdftoppm: &Judge,
    file: &Path,
    page: u32,
    dpi: u32,
    out_prefix: &Path,
) -> PathBuf {
    let p = page.to_string();
    let v = verdict(
        pdftoppm
            .command()
            .args([
                "-r",
                &dpi.to_string(),
                "-png",
                "-f",
                &p,
                "-l",
                &p,
                "-singlefile",
            ])
            .arg(file)
            .arg(out_prefix),
    );
    assert_eq!(v.code, Some(0), "pdftoppm failed:\n{v}");
    let png = out_prefix.with_extension("png");
    assert!(png.is_file(), "pdftoppm wrote no {}:\n{v}", png.display());
    png
}

/// An NSS certificate database (for `pdfsig -nssdir`) trusting the given root certificates.
pub struct NssDb {
    dir: tempfile::TempDir,
}

impl NssDb {
    /// `certutil -N -d sql:DIR --empty-password`, then `certutil -A -n caN -t "CT,C,C" -i ROOT`
    /// for every root.
    pub fn trusting(certutil: &Judge, roots: &[&Path]) -> NssDb {
        let dir = crate::temp_dir();
        let db = format!("sql:{}", dir.path().display());
        let v = verdict(
            certutil
                .command()
                .args(["-N", "-d", &db, "--empty-password"]),
        );
        assert_eq!(v.code, Some(0), "certutil -N failed:\n{v}");
        for (i, root) in roots.iter().enumerate() {
            let v = verdict(
                certutil
                    .command()
                    .args(["-A", "-n", &format!("ca{i}"), "-t", "CT,C,C", "-i"])
                    .arg(root)
                    .args(["-d", &db]),
            );
            assert_eq!(v.code, Some(0), "certutil -A failed:\n{v}");
        }
        NssDb { dir }
    }

    /// The `-nssdir` argument (`sql:DIR`).
    pub fn arg(&self) -> String {
        format!("sql:{}", self.dir.path().display())
    }
}

/// One signature as `pdfsig` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdfsigSignature {
    /// `Signature Field Name`.
    pub field: String,
    /// `Signer Certificate Common Name`.
    pub common_name: String,
    /// `Signature Validation` (e.g. "Signature is Valid.").
    pub validation: String,
    /// `Certificate Validation` (e.g. "Certificate is Trusted.").
    pub certificate: String,
    /// `Signature Type` (the SubFilter, e.g. "ETSI.CAdES.detached").
    pub signature_type: String,
    /// `Total document signed` (true) or `Not total document signed` (false).
    pub total_document_signed: bool,
}

/// `pdfsig`'s report on one file: the raw text and its signatures in order.
#[derive(Debug, Clone)]
pub struct PdfsigReport {
    /// The run, verbatim.
    pub verdict: Verdict,
    /// The parsed signatures.
    pub signatures: Vec<PdfsigSignature>,
}

/// Run `pdfsig -nssdir sql:DB FILE` and parse its report.
pub fn pdfsig_report(pdfsig: &Judge, nss: &NssDb, file: &Path) -> PdfsigReport {
    let v = verdict(pdfsig.command().args(["-nssdir", &nss.arg()]).arg(file));
    let signatures = parse_pdfsig(&v.text);
    PdfsigReport {
        verdict: v,
        signatures,
    }
}

/// Parse `pdfsig` text output into signatures.
pub fn parse_pdfsig(text: &str) -> Vec<PdfsigSignature> {
    let mut sigs: Vec<PdfsigSignature> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Signature #") {
            sigs.push(PdfsigSignature::default());
            continue;
        }
        let Some(sig) = sigs.last_mut() else { continue };
        let Some(item) = line.trim_start().strip_prefix("- ") else {
            continue;
        };
        match item.split_once(": ") {
            Some(("Signature Field Name", v)) => sig.field = v.trim().to_owned(),
            Some(("Signer Certificate Common Name", v)) => sig.common_name = v.trim().to_owned(),
            Some(("Signature Validation", v)) => sig.validation = v.trim().to_owned(),
            Some(("Certificate Validation", v)) => sig.certificate = v.trim().to_owned(),
            Some(("Signature Type", v)) => sig.signature_type = v.trim().to_owned(),
            _ if item.trim() == "Total document signed" => sig.total_document_signed = true,
            _ => {}
        }
    }
    sigs
}

/// pyHanko, run either as its CLI or through `scripts/lib/pyhanko_judge.py` (its library API,
/// many files in one Python process).
#[derive(Debug, Clone)]
pub struct PyHanko {
    /// The `pyhanko` CLI (from pyhanko-cli).
    pub cli: PathBuf,
    /// A Python interpreter that can import pyhanko.
    pub python: PathBuf,
}

/// pyHanko found in `$CHOP_VENV/bin`, the workspace's `.venv-interop/bin`, or `PATH`.
pub fn pyhanko() -> Option<PyHanko> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("CHOP_VENV") {
        dirs.push(PathBuf::from(v).join("bin"));
    }
    dirs.push(workspace_root().join(".venv-interop/bin"));
    let from_dirs = dirs.iter().find_map(|d| {
        let cli = d.join("pyhanko");
        let python = d.join("python");
        (cli.is_file() && python.is_file()).then_some(PyHanko { cli, python })
    });
    let found = from_dirs.or_else(|| {
        let cli = which("pyhanko")?;
        let sibling = cli.parent().map(|d| d.join("python"));
        let python = match sibling {
            Some(p) if p.is_file() => p,
            _ => which("python3")?,
        };
        Some(PyHanko { cli, python })
    });
    let hint = "run scripts/test, or: python3 -m venv .venv-interop && \
                .venv-interop/bin/pip install pyhanko pyhanko-cli pyhanko-certvalidator";
    if found.is_none() {
        require("pyhanko", None, hint);
    }
    found
}

/// pyHanko's judgement of one signature (see `scripts/lib/pyhanko_judge.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct SignatureJudgement {
    /// The signature field's name.
    pub field: String,
    /// The signer certificate's subject, as pyHanko prints it.
    pub signer_subject: String,
    /// SHA-256 of the signer certificate, lower-case hex.
    pub signer_cert_sha256: String,
    /// The digest over the ByteRange matches and the signature verifies.
    #[serde(default)]
    pub intact: bool,
    /// The signature value is valid.
    #[serde(default)]
    pub valid: bool,
    /// The signer chains to a trust anchor.
    #[serde(default)]
    pub trusted: bool,
    /// pyHanko's overall verdict (VALID when true).
    #[serde(default)]
    pub bottom_line: bool,
    /// `ENTIRE_FILE`, `ENTIRE_REVISION`, …
    pub coverage: Option<String>,
    /// `NONE`, `LTA_UPDATES`, `FORM_FILLING`, `ANNOTATIONS`, `OTHER`.
    pub modification_level: Option<String>,
    /// Whether later changes respect the DocMDP permissions.
    pub docmdp_ok: Option<bool>,
    /// pyHanko's one-line summary, e.g. `INTACT:TRUSTED,UNTOUCHED`.
    #[serde(default)]
    pub summary: String,
    /// pyHanko's pretty-print report, verbatim as the CLI prints it.
    #[serde(default)]
    pub pretty: String,
    /// A validation error pyHanko raised, if any.
    pub error: Option<String>,
}

/// pyHanko's judgement of one file.
#[derive(Debug, Clone, Deserialize)]
pub struct FileJudgement {
    /// The file as passed.
    pub file: String,
    /// Why pyHanko could not read the file at all, if so.
    pub error: Option<String>,
    /// Every regular signature, in pyHanko's order.
    pub signatures: Vec<SignatureJudgement>,
}

impl FileJudgement {
    /// The signature made with the certificate whose SHA-256 fingerprint is `sha256`.
    pub fn by_cert(&self, sha256: &str) -> Option<&SignatureJudgement> {
        self.signatures
            .iter()
            .find(|s| s.signer_cert_sha256.eq_ignore_ascii_case(sha256))
    }
}

/// pyHanko's judgement of a set of files.
#[derive(Debug, Clone, Deserialize)]
pub struct PyHankoReport {
    /// pyHanko's version.
    pub pyhanko_version: String,
    /// One judgement per file, in the order given.
    pub files: Vec<FileJudgement>,
}

impl PyHankoReport {
    /// The judgement of `file`.
    pub fn file(&self, file: &Path) -> &FileJudgement {
        let want = file.to_string_lossy();
        self.files
            .iter()
            .find(|f| f.file == want)
            .unwrap_or_else(|| panic!("pyHanko report has no entry for {want}"))
    }
}

impl PyHanko {
    /// Judge every file in one Python process, trusting exactly `trust` (like the CLI's
    /// `--trust … --trust-replace --no-revocation-check`).
    pub fn judge(&self, trust: &[&Path], files: &[&Path]) -> PyHankoReport {
        let script = workspace_root().join("scripts/lib/pyhanko_judge.py");
        let mut cmd = Command::new(&self.python);
        cmd.arg(script);
        for t in trust {
            cmd.arg("--trust").arg(t);
        }
        cmd.args(files);
        let v = verdict_split(&mut cmd);
        assert_eq!(v.0.code, Some(0), "pyhanko_judge.py failed:\n{}", v.0);
        serde_json::from_str(&v.1)
            .unwrap_or_else(|e| panic!("pyhanko_judge.py printed no JSON ({e}):\n{}", v.0))
    }

    /// `pyhanko sign validate --pretty-print --trust T… --trust-replace --no-revocation-check FILE`.
    pub fn cli_validate(&self, trust: &[&Path], file: &Path) -> Verdict {
        let mut cmd = Command::new(&self.cli);
        cmd.args(["sign", "validate", "--pretty-print"]);
        for t in trust {
            cmd.arg("--trust").arg(t);
        }
        cmd.args(["--trust-replace", "--no-revocation-check"])
            .arg(file);
        verdict(&mut cmd)
    }
}

/// Like [`verdict`] but also returns stdout alone (for JSON).
fn verdict_split(cmd: &mut Command) -> (Verdict, String) {
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = Verdict {
        command: describe(cmd),
        code: out.status.code(),
        text: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    };
    (v, stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdfsig_text_parses_into_signatures() {
        let text = "Digital Signature Info of: x.pdf\nSignature #1:\n  - Signature Field Name: Sig1\n  \
                    - Signer Certificate Common Name: signer-ec A\n  - Signature Type: ETSI.CAdES.detached\n  \
                    - Total document signed\n  \
                    - Signature Validation: Signature is Valid.\n  - Certificate Validation: Certificate is Trusted.\n\
                    Signature #2:\n  - Signature Field Name: Seal2\n  - Not total document signed\n  \
                    - Signature Validation: Digest Mismatch.\n";
        let s = parse_pdfsig(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].field, "Sig1");
        assert_eq!(s[0].common_name, "signer-ec A");
        assert_eq!(s[0].signature_type, "ETSI.CAdES.detached");
        assert!(s[0].total_document_signed);
        assert_eq!(s[0].validation, "Signature is Valid.");
        assert_eq!(s[0].certificate, "Certificate is Trusted.");
        assert_eq!(s[1].field, "Seal2");
        assert!(!s[1].total_document_signed);
        assert_eq!(s[1].validation, "Digest Mismatch.");
    }

    #[test]
    fn qpdf_verdicts_with_warnings_are_not_clean() {
        let ok = Verdict {
            command: String::new(),
            code: Some(0),
            text: "checking x.pdf\nPDF Version: 1.7\nFile is not encrypted\nFile is not linearized\nNo syntax or stream encoding errors found; the file may still contain\nerrors that qpdf cannot detect\n".into(),
        };
        assert!(qpdf_clean(&ok));
        let warn = Verdict {
            code: Some(3),
            text: "WARNING: x.pdf: xref not found\n".into(),
            ..ok.clone()
        };
        assert!(!qpdf_clean(&warn));
    }
}
