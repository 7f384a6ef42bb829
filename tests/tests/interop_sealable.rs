//! Issue 2 §6: every corpus file marked "sealable" is sealed by `chop sign`, and the judges
//! (qpdf, pyHanko, pdfsig) accept the result; earlier signatures are judged as before sealing.
//!
//! One development PKI and one sealed copy of each corpus file are shared by all tests of this
//! file (made once); each test asks one judge about one class of files (unsigned / signed).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chop_tests::corpus::{self, Entry};
use chop_tests::judge::{self, PyHankoReport};
use chop_tests::pki::DevPki;
use chop_tests::{ChopRun, assert_starts_with_original, work_dir};

/// One corpus file and what `chop sign` made of it.
struct SealedFile {
    entry: Entry,
    output: PathBuf,
    run: ChopRun,
}

struct Fixture {
    pki: DevPki,
    sealed: Vec<SealedFile>,
}

impl Fixture {
    /// The sealed files of a category (`unsigned` or `signed`), panicking if there are none.
    fn class(&self, category: &str) -> Vec<&SealedFile> {
        let v: Vec<_> = self
            .sealed
            .iter()
            .filter(|s| s.entry.category == category)
            .collect();
        assert!(!v.is_empty(), "the corpus has no sealable {category} file");
        v
    }

    /// The files of a class that `chop sign` sealed successfully; panics listing the failures
    /// so that a judge test never passes vacuously.
    fn sealed_ok(&self, category: &str) -> Vec<&SealedFile> {
        let class = self.class(category);
        let failed: Vec<String> = class
            .iter()
            .filter(|s| s.run.code != Some(0) || !s.output.is_file())
            .map(|s| format!("{}:\n{}", s.entry.file, s.run))
            .collect();
        assert!(
            failed.is_empty(),
            "chop sign failed on sealable corpus files, nothing for the judge to judge:\n{}",
            failed.join("\n\n")
        );
        class
    }
}

static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();

fn fixture() -> Option<&'static Fixture> {
    FIXTURE
        .get_or_init(|| {
            if !corpus::available() {
                return None;
            }
            let dir = work_dir("interop-sealable");
            let pki = DevPki::create(&dir.join("pki"), &[]);
            let out_dir = dir.join("sealed");
            std::fs::create_dir_all(&out_dir).unwrap();
            let entries: Vec<Entry> = corpus::entries()
                .into_iter()
                .filter(Entry::sealable)
                .collect();
            let sealed = std::thread::scope(|s| {
                let handles: Vec<_> = entries
                    .into_iter()
                    .map(|entry| {
                        let (pki, out_dir) = (&pki, &out_dir);
                        s.spawn(move || {
                            let output = out_dir.join(&entry.file);
                            let run = pki.sign(&entry.path(), &output, &[]);
                            SealedFile { entry, output, run }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            Some(Fixture { pki, sealed })
        })
        .as_ref()
}

/// pyHanko's judgement of every sealed output and every signed original, in one process.
static PYHANKO: OnceLock<Option<PyHankoReport>> = OnceLock::new();

fn pyhanko_report(f: &Fixture) -> Option<&'static PyHankoReport> {
    PYHANKO
        .get_or_init(|| {
            let py = judge::pyhanko()?;
            let mut files: Vec<&Path> = f
                .sealed
                .iter()
                .filter(|s| s.run.code == Some(0) && s.output.is_file())
                .map(|s| s.output.as_path())
                .collect();
            let originals: Vec<PathBuf> = f
                .sealed
                .iter()
                .filter(|s| s.entry.category == "signed")
                .map(|s| s.entry.path())
                .collect();
            files.extend(originals.iter().map(PathBuf::as_path));
            let (root, foreign) = (f.pki.root(), corpus::foreign_root());
            Some(py.judge(&[&root, &foreign], &files))
        })
        .as_ref()
}

fn check_original_bytes_kept(category: &str) {
    let Some(f) = fixture() else { return };
    for s in f.sealed_ok(category) {
        assert_starts_with_original(&s.entry.path(), &s.output);
    }
}

#[test]
fn sealing_unsigned_corpus_files_keeps_the_original_bytes() {
    check_original_bytes_kept("unsigned");
}

#[test]
fn sealing_signed_corpus_files_keeps_the_original_bytes() {
    check_original_bytes_kept("signed");
}

fn check_qpdf(category: &str) {
    let Some(f) = fixture() else { return };
    let Some(qpdf) = judge::qpdf() else { return };
    let mut failures = Vec::new();
    for s in f.sealed_ok(category) {
        let v = judge::qpdf_check(&qpdf, &s.output);
        if !judge::qpdf_clean(&v) {
            failures.push(format!("{}:\n{v}", s.entry.file));
        }
    }
    assert!(
        failures.is_empty(),
        "qpdf --check is not clean:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn qpdf_check_is_clean_on_sealed_unsigned_corpus() {
    check_qpdf("unsigned");
}

#[test]
fn qpdf_check_is_clean_on_sealed_signed_corpus() {
    check_qpdf("signed");
}

/// The sentences pyHanko's pretty-print report must contain for a valid, trusted seal that
/// covers the whole file (pyHanko 0.38 wording).
const PYHANKO_VALID_TRUSTED: [&str; 5] = [
    "The signer's certificate is trusted.",
    "The signature is cryptographically sound.",
    "The digest algorithm used was 'sha256'.",
    "The signature covers the entire file.",
    "The signature is judged VALID.",
];

fn check_pyhanko_our_seal(category: &str) {
    let Some(f) = fixture() else { return };
    let class = f.sealed_ok(category);
    let Some(report) = pyhanko_report(f) else {
        return;
    };
    let ours = f.pki.signer_fingerprint();
    let mut failures = Vec::new();
    for s in class {
        let j = report.file(&s.output);
        if let Some(e) = &j.error {
            failures.push(format!(
                "{}: pyHanko cannot read the sealed file: {e}",
                s.entry.file
            ));
            continue;
        }
        let Some(sig) = j.by_cert(&ours) else {
            failures.push(format!(
                "{}: pyHanko finds no signature by our signer; it sees: {:?}",
                s.entry.file,
                j.signatures
                    .iter()
                    .map(|s| (&s.field, &s.signer_subject))
                    .collect::<Vec<_>>()
            ));
            continue;
        };
        let text_ok = PYHANKO_VALID_TRUSTED.iter().all(|t| sig.pretty.contains(t));
        let ok = sig.intact
            && sig.valid
            && sig.trusted
            && sig.bottom_line
            && sig.summary == "INTACT:TRUSTED,UNTOUCHED"
            && sig.coverage.as_deref() == Some("ENTIRE_FILE")
            && text_ok;
        if !ok {
            failures.push(format!(
                "{} field {:?}: intact={} valid={} trusted={} bottom_line={} summary={} coverage={:?}\n{}",
                s.entry.file, sig.field, sig.intact, sig.valid, sig.trusted, sig.bottom_line,
                sig.summary, sig.coverage, sig.pretty
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "pyHanko {} does not judge our seal VALID and trusted:\n{}",
        report.pyhanko_version,
        failures.join("\n\n")
    );
}

#[test]
fn pyhanko_judges_our_seal_valid_and_trusted_on_unsigned_corpus() {
    check_pyhanko_our_seal("unsigned");
}

#[test]
fn pyhanko_judges_our_seal_valid_and_trusted_on_signed_corpus() {
    check_pyhanko_our_seal("signed");
}

#[test]
fn pyhanko_judges_earlier_signatures_as_before_sealing() {
    let Some(f) = fixture() else { return };
    let class = f.sealed_ok("signed");
    let Some(report) = pyhanko_report(f) else {
        return;
    };
    let mut failures = Vec::new();
    for s in class {
        let before = report.file(&s.entry.path());
        let after = report.file(&s.output);
        assert!(
            before.error.is_none(),
            "pyHanko cannot read {}: {:?}",
            s.entry.file,
            before.error
        );
        assert!(
            !before.signatures.is_empty(),
            "{} has no signature before sealing",
            s.entry.file
        );
        for b in &before.signatures {
            let Some(a) = after.signatures.iter().find(|a| a.field == b.field) else {
                failures.push(format!(
                    "{}: earlier signature {:?} is gone after sealing",
                    s.entry.file, b.field
                ));
                continue;
            };
            let same = (a.intact, a.valid, a.trusted, a.bottom_line)
                == (b.intact, b.valid, b.trusted, b.bottom_line);
            // Adding a signature is allowed by approval signatures and DocMDP P=2/3.
            let allowed = a.docmdp_ok != Some(false)
                && matches!(
                    a.modification_level.as_deref(),
                    Some("NONE" | "LTA_UPDATES" | "FORM_FILLING")
                );
            if !same || !allowed {
                failures.push(format!(
                    "{} field {:?}: before sealing intact={} valid={} trusted={} bottom_line={}; \
                     after: intact={} valid={} trusted={} bottom_line={} modification_level={:?} docmdp_ok={:?}\n\
                     --- pyHanko after sealing ---\n{}",
                    s.entry.file, b.field, b.intact, b.valid, b.trusted, b.bottom_line,
                    a.intact, a.valid, a.trusted, a.bottom_line, a.modification_level, a.docmdp_ok, a.pretty
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "earlier signatures changed judgement:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn pyhanko_certification_stays_valid_after_sealing_docmdp2() {
    let Some(f) = fixture() else { return };
    let s = f
        .sealed_ok("signed")
        .into_iter()
        .find(|s| s.entry.file == "certified-docmdp2.pdf")
        .expect("certified-docmdp2.pdf is sealable in the corpus");
    let Some(report) = pyhanko_report(f) else {
        return;
    };
    let after = report.file(&s.output);
    let cert_sig = after
        .signatures
        .iter()
        .find(|a| a.signer_cert_sha256 != f.pki.signer_fingerprint())
        .expect("the certification signature is still there");
    assert!(
        cert_sig.bottom_line && cert_sig.docmdp_ok == Some(true) && cert_sig.trusted,
        "certification no longer valid after sealing: docmdp_ok={:?}\n{}",
        cert_sig.docmdp_ok,
        cert_sig.pretty
    );
}

#[test]
fn pyhanko_cli_prints_valid_and_trusted_for_a_sealed_file() {
    let Some(f) = fixture() else { return };
    let s = f
        .sealed_ok("unsigned")
        .into_iter()
        .find(|s| s.entry.file == "plain-1page.pdf")
        .expect("plain-1page.pdf is in the corpus");
    let Some(py) = judge::pyhanko() else { return };
    let v = py.cli_validate(&[&f.pki.root()], &s.output);
    assert_eq!(v.code, Some(0), "pyhanko sign validate failed:\n{v}");
    for t in PYHANKO_VALID_TRUSTED {
        assert!(v.text.contains(t), "pyHanko did not print {t:?}:\n{v}");
    }
}

fn check_pdfsig(category: &str) {
    let Some(f) = fixture() else { return };
    let class = f.sealed_ok(category);
    let (Some(pdfsig), Some(certutil)) = (judge::pdfsig(), judge::certutil()) else {
        return;
    };
    let (root, foreign) = (f.pki.root(), corpus::foreign_root());
    let nss = judge::NssDb::trusting(&certutil, &[&root, &foreign]);
    let mut failures = Vec::new();
    for s in class {
        let before = if category == "signed" {
            judge::pdfsig_report(&pdfsig, &nss, &s.entry.path()).signatures
        } else {
            Vec::new()
        };
        let after = judge::pdfsig_report(&pdfsig, &nss, &s.output);
        let new: Vec<_> = after
            .signatures
            .iter()
            .filter(|a| !before.iter().any(|b| b.field == a.field))
            .collect();
        let ours_ok = new.len() == 1
            && new[0].validation == "Signature is Valid."
            && new[0].certificate == "Certificate is Trusted."
            && new[0].signature_type == "ETSI.CAdES.detached"
            && new[0].total_document_signed;
        let earlier_ok = before.iter().all(|b| {
            after.signatures.iter().any(|a| {
                a.field == b.field && a.validation == b.validation && a.certificate == b.certificate
            })
        });
        if !ours_ok || !earlier_ok {
            failures.push(format!(
                "{}: expected exactly one new signature, \"Signature is Valid.\", \"Certificate is Trusted.\", \
                 type ETSI.CAdES.detached, total document signed{}\n{}",
                s.entry.file,
                if before.is_empty() { "" } else { ", earlier signatures judged as before" },
                after.verdict
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "pdfsig disagrees:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn pdfsig_judges_our_seal_valid_and_trusted_on_unsigned_corpus() {
    check_pdfsig("unsigned");
}

#[test]
fn pdfsig_judges_our_seal_valid_and_trusted_on_signed_corpus() {
    check_pdfsig("signed");
}

#[test]
fn chop_verify_passes_our_sealed_corpus() {
    let Some(f) = fixture() else { return };
    let mut args: Vec<std::ffi::OsString> = vec!["verify".into()];
    for s in f
        .sealed_ok("unsigned")
        .into_iter()
        .chain(f.sealed_ok("signed"))
    {
        args.push(s.output.clone().into());
    }
    args.extend(["--trust".into(), f.pki.root().into()]);
    args.extend(["--trust".into(), corpus::foreign_root().into()]);
    let run = chop_tests::chop(&args);
    assert_eq!(
        run.code,
        Some(0),
        "chop verify does not say TOTAL-PASSED for every sealed file:\n{run}"
    );
}
