//! Issue 2 §4 and §6: documents and credentials `chop sign` must refuse, each with its
//! documented exit code (api/src/exit.rs), a one-line `chop: …` message naming the problem, and
//! no output file (nothing written half-way).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chop_tests::corpus::{self, Entry};
use chop_tests::pki::{DevPki, USCC_A, USCC_B};
use chop_tests::{ChopRun, chop, temp_dir, work_dir};

/// Exit code 4: the input PDF cannot be sealed.
const BAD_DOCUMENT: i32 = 4;
/// Exit code 5: a key, certificate or seal problem.
const BAD_CREDENTIALS: i32 = 5;
/// Exit code 6: a file could not be read or written.
const IO: i32 = 6;

/// Two dev PKIs (two bureaus) shared by the tests of this file.
struct Bureaus {
    a: DevPki,
    b: DevPki,
}

static BUREAUS: OnceLock<Bureaus> = OnceLock::new();

fn bureaus() -> &'static Bureaus {
    BUREAUS.get_or_init(|| {
        let dir = work_dir("refusals");
        let a = DevPki::create(
            &dir.join("bureau-a"),
            &["--org-name", "南京市示例区行政审批局", "--org-id", USCC_A],
        );
        let b = DevPki::create(
            &dir.join("bureau-b"),
            &["--org-name", "福州市示例区行政审批局", "--org-id", USCC_B],
        );
        Bureaus { a, b }
    })
}

/// Assert a refusal: exit `code`, stderr exactly one line `chop: …` containing one of
/// `keywords` (case-insensitive), and no file at all in `out_dir` (no output, no temp file).
#[track_caller]
fn assert_refused(run: &ChopRun, code: i32, keywords: &[&str], out_dir: &Path) {
    assert_eq!(
        run.code,
        Some(code),
        "wrong exit code (expected {code}):\n{run}"
    );
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected a one-line message on stderr:\n{run}"
    );
    assert!(
        lines[0].starts_with("chop: "),
        "message must start with `chop: `:\n{run}"
    );
    let lower = lines[0].to_lowercase();
    assert!(
        keywords.is_empty() || keywords.iter().any(|k| lower.contains(&k.to_lowercase())),
        "message does not name the problem (expected one of {keywords:?}):\n{run}"
    );
    let left: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "a refusal must write nothing, found {left:?}:\n{run}"
    );
}

/// Keywords the refusal message for a corpus file must contain (one of them).
fn corpus_keywords(file: &str) -> &'static [&'static str] {
    match file {
        "encrypted-aes256.pdf" => &["encrypted"],
        "broken-startxref.pdf" => &["startxref", "cross-reference"],
        "truncated.pdf" => &["truncated", "end of file"],
        "not-a-pdf.pdf" => &["not a PDF"],
        "certified-docmdp1.pdf" => &["DocMDP"],
        _ => &[],
    }
}

fn refuse_corpus_file(file: &str) {
    if !corpus::available() {
        return;
    }
    let entry = corpus::entry(file);
    assert!(
        entry.refused(),
        "the manifest no longer says {file} must be refused"
    );
    let out = temp_dir();
    let run = bureaus()
        .a
        .sign(&entry.path(), &out.path().join("out.pdf"), &[]);
    assert_refused(&run, BAD_DOCUMENT, corpus_keywords(file), out.path());
}

#[test]
fn encrypted_pdf_is_refused() {
    refuse_corpus_file("encrypted-aes256.pdf");
}

#[test]
fn broken_startxref_is_refused() {
    refuse_corpus_file("broken-startxref.pdf");
}

#[test]
fn truncated_pdf_is_refused() {
    refuse_corpus_file("truncated.pdf");
}

#[test]
fn not_a_pdf_is_refused() {
    refuse_corpus_file("not-a-pdf.pdf");
}

#[test]
fn docmdp_p1_certified_pdf_is_refused() {
    refuse_corpus_file("certified-docmdp1.pdf");
}

/// Every manifest entry to refuse (including ones added later) is refused with exit 4.
#[test]
fn every_refuse_or_malformed_corpus_file_is_refused() {
    if !corpus::available() {
        return;
    }
    let refused: Vec<Entry> = corpus::entries()
        .into_iter()
        .filter(Entry::refused)
        .collect();
    assert!(
        refused.len() >= 5,
        "expected at least 5 files to refuse, got {refused:?}"
    );
    for e in refused {
        let out = temp_dir();
        let run = bureaus()
            .a
            .sign(&e.path(), &out.path().join("out.pdf"), &[]);
        assert_refused(&run, BAD_DOCUMENT, corpus_keywords(&e.file), out.path());
    }
}

/// An input that is sealable, for credential refusals.
fn plain_pdf() -> Option<PathBuf> {
    corpus::available().then(|| corpus::path("plain-1page.pdf"))
}

#[test]
fn key_not_matching_certificate_is_refused() {
    let Some(input) = plain_pdf() else { return };
    let a = &bureaus().a;
    let out = temp_dir();
    let wrong_key = a.file("seal-maker.key.pem");
    let run = chop([
        "sign".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.path().join("out.pdf").as_os_str(),
        "--key".as_ref(),
        wrong_key.as_os_str(),
        "--cert".as_ref(),
        a.cert().as_os_str(),
        "--chain".as_ref(),
        a.chain().as_os_str(),
        "--seal".as_ref(),
        a.seal().as_os_str(),
    ]);
    assert_refused(&run, BAD_CREDENTIALS, &["match"], out.path());
}

#[test]
fn signer_not_in_seal_cert_list_is_refused() {
    let Some(input) = plain_pdf() else { return };
    let Bureaus { a, b } = bureaus();
    let out = temp_dir();
    // Bureau A's signer with bureau B's seal: A's certificate is not in B's certList.
    let run = chop([
        "sign".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.path().join("out.pdf").as_os_str(),
        "--key".as_ref(),
        a.key().as_os_str(),
        "--cert".as_ref(),
        a.cert().as_os_str(),
        "--chain".as_ref(),
        a.chain().as_os_str(),
        "--seal".as_ref(),
        b.seal().as_os_str(),
    ]);
    assert_refused(
        &run,
        BAD_CREDENTIALS,
        &["certList", "cert list", "not allowed", "not listed"],
        out.path(),
    );
}

/// `chop seal make` for bureau A's signer with the given validity dates.
fn make_seal(a: &DevPki, from: &str, to: &str, out: &Path) {
    chop([
        "seal".as_ref(),
        "make".as_ref(),
        "--maker-key".as_ref(),
        a.file("seal-maker.key.pem").as_os_str(),
        "--maker-cert".as_ref(),
        a.file("seal-maker.crt.pem").as_os_str(),
        "--signer-cert".as_ref(),
        a.cert().as_os_str(),
        "--name".as_ref(),
        "行政审批专用章".as_ref(),
        "--type".as_ref(),
        "approval".as_ref(),
        "--org-name".as_ref(),
        "南京市示例区行政审批局".as_ref(),
        "--image".as_ref(),
        a.file("seal.png").as_os_str(),
        "--org-id".as_ref(),
        USCC_A.as_ref(),
        "--valid-from".as_ref(),
        from.as_ref(),
        "--valid-to".as_ref(),
        to.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .assert_ok();
}

/// Seal plain-1page.pdf with bureau A's key and cert and the given seal object.
fn sign_with_seal(seal: &Path, out_dir: &Path) -> ChopRun {
    let a = &bureaus().a;
    let input = corpus::path("plain-1page.pdf");
    chop([
        "sign".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out_dir.join("out.pdf").as_os_str(),
        "--key".as_ref(),
        a.key().as_os_str(),
        "--cert".as_ref(),
        a.cert().as_os_str(),
        "--chain".as_ref(),
        a.chain().as_os_str(),
        "--seal".as_ref(),
        seal.as_os_str(),
    ])
}

#[test]
fn expired_seal_is_refused() {
    if plain_pdf().is_none() {
        return;
    }
    let work = temp_dir();
    let seal = work.path().join("expired.seal.der");
    make_seal(&bureaus().a, "2020-01-01", "2021-01-01", &seal);
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = sign_with_seal(&seal, &out);
    assert_refused(&run, BAD_CREDENTIALS, &["valid", "expired"], &out);
}

#[test]
fn seal_made_by_seal_make_within_validity_is_accepted() {
    if plain_pdf().is_none() {
        return;
    }
    let work = temp_dir();
    let seal = work.path().join("fresh.seal.der");
    make_seal(&bureaus().a, "2020-01-01", "2099-12-31", &seal);
    let run = sign_with_seal(&seal, work.path());
    run.assert_ok();
    assert!(work.path().join("out.pdf").is_file(), "no output:\n{run}");
}

#[test]
fn seal_with_invalid_maker_signature_is_refused() {
    if plain_pdf().is_none() {
        return;
    }
    let work = temp_dir();
    // The maker's signature is the last field of SESeal: flip its last byte.
    let mut der = std::fs::read(bureaus().a.seal()).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let seal = work.path().join("forged.seal.der");
    std::fs::write(&seal, der).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = sign_with_seal(&seal, &out);
    assert_refused(&run, BAD_CREDENTIALS, &["signature"], &out);
}

#[test]
fn missing_input_file_is_an_io_error() {
    let a = &bureaus().a;
    let work = temp_dir();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = a.sign(
        &work.path().join("no-such-file.pdf"),
        &out.join("out.pdf"),
        &[],
    );
    assert_refused(&run, IO, &["no-such-file.pdf"], &out);
}

#[test]
fn wrong_uscc_check_character_is_refused_naming_the_expected_one() {
    let work = temp_dir();
    let out = work.path().join("pki");
    // 11100000000013338W is valid; with X as the check character it is not.
    let run = chop([
        "keys".as_ref(),
        "dev".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--org-id".as_ref(),
        "11100000000013338X".as_ref(),
    ]);
    assert_eq!(run.code, Some(BAD_CREDENTIALS), "wrong exit code:\n{run}");
    assert!(
        run.stderr.starts_with("chop: "),
        "message must start with `chop: `:\n{run}"
    );
    let names_w = run
        .stderr
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|t| t == "W" || t == "11100000000013338W");
    assert!(
        names_w,
        "the message must name the expected check character W:\n{run}"
    );
    let written: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        written.is_empty(),
        "nothing may be written for a refused USCC: {written:?}"
    );
}
