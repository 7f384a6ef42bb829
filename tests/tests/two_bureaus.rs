//! Issue 2 §6: sealing twice — two bureaus with two development PKIs seal the same document one
//! after the other; both seals are valid in pyHanko's and pdfsig's judgement (trusting both
//! roots), and the second sealing keeps the first sealed file's bytes.

use std::path::PathBuf;
use std::sync::OnceLock;

use chop_tests::judge;
use chop_tests::pki::{DevPki, USCC_A, USCC_B};
use chop_tests::{assert_starts_with_original, corpus, work_dir};

struct TwiceSealed {
    a: DevPki,
    b: DevPki,
    /// Sealed by bureau A only.
    once: PathBuf,
    /// Then sealed by bureau B.
    twice: PathBuf,
}

static FIXTURE: OnceLock<Option<TwiceSealed>> = OnceLock::new();

fn fixture() -> Option<&'static TwiceSealed> {
    FIXTURE
        .get_or_init(|| {
            if !corpus::available() {
                return None;
            }
            let dir = work_dir("two-bureaus");
            let a = DevPki::create(
                &dir.join("bureau-a"),
                &[
                    "--org-name",
                    "南京市示例区行政审批局",
                    "--org-id",
                    USCC_A,
                    "--seal-name",
                    "行政审批专用章",
                ],
            );
            let b = DevPki::create(
                &dir.join("bureau-b"),
                &[
                    "--org-name",
                    "福州市示例区行政审批局",
                    "--org-id",
                    USCC_B,
                    "--seal-name",
                    "电子证照专用章",
                ],
            );
            let once = dir.join("sealed-once.pdf");
            let twice = dir.join("sealed-twice.pdf");
            a.sign(
                &corpus::path("licence-cjk.pdf"),
                &once,
                &["--x", "20", "--y", "20"],
            )
            .assert_ok();
            b.sign(&once, &twice, &[]).assert_ok();
            Some(TwiceSealed { a, b, once, twice })
        })
        .as_ref()
}

#[test]
fn second_sealing_keeps_the_first_sealed_bytes() {
    let Some(f) = fixture() else { return };
    assert_starts_with_original(&f.once, &f.twice);
}

#[test]
fn pyhanko_judges_both_bureaus_seals_valid() {
    let Some(f) = fixture() else { return };
    let Some(py) = judge::pyhanko() else { return };
    let (ra, rb) = (f.a.root(), f.b.root());
    let report = py.judge(&[&ra, &rb], &[&f.twice]);
    let j = report.file(&f.twice);
    assert!(
        j.error.is_none(),
        "pyHanko cannot read the twice-sealed file: {:?}",
        j.error
    );
    assert_eq!(
        j.signatures.len(),
        2,
        "expected two signatures: {:#?}",
        j.signatures
    );
    for (bureau, pki) in [("A", &f.a), ("B", &f.b)] {
        let sig = j
            .by_cert(&pki.signer_fingerprint())
            .unwrap_or_else(|| panic!("no signature by bureau {bureau}: {:#?}", j.signatures));
        assert!(
            sig.intact && sig.valid && sig.trusted && sig.bottom_line,
            "pyHanko does not judge bureau {bureau}'s seal VALID and trusted (summary {}, modification level {:?}):\n{}",
            sig.summary,
            sig.modification_level,
            sig.pretty
        );
        assert!(
            sig.pretty.contains("The signature is judged VALID."),
            "{}",
            sig.pretty
        );
    }
    let first = j.by_cert(&f.a.signer_fingerprint()).unwrap();
    assert_eq!(
        first.coverage.as_deref(),
        Some("ENTIRE_REVISION"),
        "{}",
        first.pretty
    );
    let second = j.by_cert(&f.b.signer_fingerprint()).unwrap();
    assert_eq!(
        second.coverage.as_deref(),
        Some("ENTIRE_FILE"),
        "{}",
        second.pretty
    );
}

#[test]
fn pdfsig_judges_both_bureaus_seals_valid() {
    let Some(f) = fixture() else { return };
    let (Some(pdfsig), Some(certutil)) = (judge::pdfsig(), judge::certutil()) else {
        return;
    };
    let (ra, rb) = (f.a.root(), f.b.root());
    let nss = judge::NssDb::trusting(&certutil, &[&ra, &rb]);
    let report = judge::pdfsig_report(&pdfsig, &nss, &f.twice);
    assert_eq!(
        report.signatures.len(),
        2,
        "expected two signatures:\n{}",
        report.verdict
    );
    for s in &report.signatures {
        assert_eq!(s.validation, "Signature is Valid.", "{}", report.verdict);
        assert_eq!(
            s.certificate, "Certificate is Trusted.",
            "{}",
            report.verdict
        );
    }
    assert_eq!(
        report
            .signatures
            .iter()
            .filter(|s| s.total_document_signed)
            .count(),
        1,
        "exactly the second seal covers the whole document:\n{}",
        report.verdict
    );
}

#[test]
fn pdfsig_trusting_only_one_bureau_does_not_trust_the_other() {
    let Some(f) = fixture() else { return };
    let (Some(pdfsig), Some(certutil)) = (judge::pdfsig(), judge::certutil()) else {
        return;
    };
    let ra = f.a.root();
    let nss = judge::NssDb::trusting(&certutil, &[&ra]);
    let report = judge::pdfsig_report(&pdfsig, &nss, &f.twice);
    let trusted = report
        .signatures
        .iter()
        .filter(|s| s.certificate == "Certificate is Trusted.")
        .count();
    assert_eq!(
        trusted, 1,
        "only bureau A's root is trusted:\n{}",
        report.verdict
    );
}
