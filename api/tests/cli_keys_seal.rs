//! End-to-end tests of `chop keys dev`, `chop seal make` and `chop seal show` (issue 2 §2–§3),
//! running the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FILES: [&str; 11] = [
    "root-ca.crt.pem",
    "root-ca.key.pem",
    "issuing-ca.crt.pem",
    "issuing-ca.key.pem",
    "seal-maker.crt.pem",
    "seal-maker.key.pem",
    "signer.crt.pem",
    "signer.key.pem",
    "chain.pem",
    "seal.der",
    "seal.png",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn chop<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out: Output = Command::new(env!("CARGO_BIN_EXE_chop"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn keys_dev(dir: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<String> = vec!["keys".into(), "dev".into(), "--out".into()];
    args.push(dir.to_str().unwrap().into());
    args.extend(extra.iter().map(|s| s.to_string()));
    chop(args)
}

fn first_cert_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    chop_seal::certs::certificates_from_pem(&pem)
        .unwrap()
        .remove(0)
}

fn show_json(seal: &Path) -> (Run, serde_json::Value) {
    let run = chop([
        "seal".as_ref(),
        "show".as_ref(),
        seal.as_os_str(),
        "--json".as_ref(),
    ]);
    let json = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run, json)
}

/// `chop seal make` arguments for the maker and signer of `pki`, writing `out`.
fn make_args(pki: &Path, out: &Path) -> Vec<PathBuf> {
    [
        "seal",
        "make",
        "--maker-key",
        pki.join("seal-maker.key.pem").to_str().unwrap(),
        "--maker-cert",
        pki.join("seal-maker.crt.pem").to_str().unwrap(),
        "--signer-cert",
        pki.join("signer.crt.pem").to_str().unwrap(),
        "--name",
        "财务专用章",
        "--type",
        "财务专用章",
        "--org-id",
        "91350100M000100Y43",
        "--org-name",
        "测试市财务局",
        "--valid-from",
        "2025-01-01",
        "--valid-to",
        "2030-12-31",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

fn replace_arg(args: &mut [PathBuf], flag: &str, value: &str) {
    let i = args.iter().position(|a| a == Path::new(flag)).unwrap();
    args[i + 1] = PathBuf::from(value);
}

#[test]
fn keys_dev_writes_every_file_and_a_seal_that_show_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let run = keys_dev(&out, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("NOT FOR PRODUCTION"), "{run}");
    for f in FILES {
        assert!(out.join(f).is_file(), "{f} missing\n{run}");
        assert!(run.stdout.contains(f), "{f} not reported\n{run}");
    }
    let signer = first_cert_der(&out.join("signer.crt.pem"));
    let subject = chop_seal::certs::subject(&signer).unwrap();
    assert!(subject.contains("南京市示例区行政审批局"), "{subject}");
    assert!(subject.contains("NTRCN-11320100MB0000000J"), "{subject}");
    assert!(subject.ends_with("(DEV - NOT FOR PRODUCTION)"), "{subject}");

    // Human output: every field, Chinese as is, and the verdict.
    let seal = out.join("seal.der");
    let run = chop(["seal".as_ref(), "show".as_ref(), seal.as_os_str()]);
    assert_eq!(run.code, 0, "{run}");
    for needle in [
        "esID:              11320100MB0000000J",
        "行政审批专用章 (approval, code 11)",
        "南京市示例区行政审批局",
        "11320100MB0000000J",
        "printed 42x42 mm",
        "1 certificate(s) in certList",
        "ECDSA P-256 / SHA-256",
        "maker signature:   verifies",
        "within the validity period",
    ] {
        assert!(run.stdout.contains(needle), "missing {needle:?}\n{run}");
    }

    // JSON output.
    let (run, j) = show_json(&seal);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(j["maker_signature"]["verifies"], true, "{run}");
    assert_eq!(j["type"]["slug"], "approval");
    assert_eq!(j["type"]["code"], 11);
    assert_eq!(j["header"]["version"], 4);
    assert_eq!(j["org_id"], "11320100MB0000000J");
    assert_eq!(
        j["cert_list"][0]["sha256"],
        chop_seal::certs::fingerprint_sha256(&signer)
    );
    let png = std::fs::read(out.join("seal.png")).unwrap();
    assert_eq!(j["picture"]["bytes"], png.len());
    assert_eq!(j["validity_now"]["valid"], true);
    assert!(j["picture"].get("data").is_none());
}

#[test]
fn keys_dev_refuses_a_wrong_check_character_naming_the_expected_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let run = keys_dev(&out, &["--org-id", "11100000000013338X"]);
    assert_eq!(run.code, 5, "{run}");
    assert_eq!(
        run.stderr.trim(),
        "chop: 统一社会信用代码 11100000000013338X: check character is 'X', expected 'W'"
    );
    assert!(!out.exists(), "nothing may be written on refusal");
}

#[test]
fn keys_dev_options_reach_the_certificate_and_the_seal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let run = keys_dev(
        &out,
        &[
            "--org-name",
            "测试市市场监督管理局",
            "--org-id",
            "91350100M000100Y43",
            "--seal-type",
            "licence",
        ],
    );
    assert_eq!(run.code, 0, "{run}");
    let (_, j) = show_json(&out.join("seal.der"));
    assert_eq!(j["type"]["slug"], "licence");
    assert_eq!(
        j["name"], "电子证照专用章",
        "default seal name follows the type"
    );
    assert_eq!(j["org_name"], "测试市市场监督管理局");
    let subject = chop_seal::certs::subject(&first_cert_der(&out.join("signer.crt.pem"))).unwrap();
    assert!(subject.contains("CN=电子证照专用章 (DEV"), "{subject}");

    let run = keys_dev(&out, &["--seal-type", "stamp"]);
    assert_eq!(run.code, 3, "{run}");
}

#[test]
fn seal_make_with_two_signers_and_show_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    assert_eq!(keys_dev(&a, &[]).code, 0);
    assert_eq!(keys_dev(&b, &["--org-id", "91350100M000100Y43"]).code, 0);
    let seal = dir.path().join("finance.seal.der");
    let mut args = make_args(&a, &seal);
    args.push("--signer-cert".into());
    args.push(b.join("signer.crt.pem"));
    let run = chop(&args);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("2 signer certificate(s)"), "{run}");

    let (run, j) = show_json(&seal);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(j["type"]["code"], 13);
    assert_eq!(j["type"]["name"], "财务专用章");
    assert_eq!(j["name"], "财务专用章");
    assert_eq!(j["org_id"], "91350100M000100Y43");
    assert_eq!(j["org_name"], "测试市财务局");
    assert_eq!(j["valid_start"], "2025-01-01T00:00:00Z");
    assert_eq!(j["valid_end"], "2030-12-31T23:59:59Z");
    assert_eq!(j["cert_list"].as_array().unwrap().len(), 2);
    assert_eq!(
        j["cert_list"][1]["sha256"],
        chop_seal::certs::fingerprint_sha256(&first_cert_der(&b.join("signer.crt.pem")))
    );
    assert_eq!(
        j["maker_cert"]["sha256"],
        chop_seal::certs::fingerprint_sha256(&first_cert_der(&a.join("seal-maker.crt.pem")))
    );
    assert!(
        j["es_id"]
            .as_str()
            .unwrap()
            .starts_with("91350100M000100Y43")
    );
    assert_eq!(j["maker_signature"]["verifies"], true);
    assert_eq!(j["picture"]["width_mm"], 42);

    // The library agrees.
    let s = chop_seal::seal_object::SESeal::from_der(&std::fs::read(&seal).unwrap()).unwrap();
    assert!(s.allows_signer(&first_cert_der(&b.join("signer.crt.pem"))));
    s.verify_maker_signature().unwrap();
}

#[test]
fn seal_make_uses_a_given_image() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    assert_eq!(keys_dev(&a, &[]).code, 0);
    let seal = dir.path().join("img.seal.der");
    let mut args = make_args(&a, &seal);
    args.push("--image".into());
    args.push(a.join("seal.png"));
    let run = chop(&args);
    assert_eq!(run.code, 0, "{run}");
    let (_, j) = show_json(&seal);
    let png = std::fs::read(a.join("seal.png")).unwrap();
    assert_eq!(j["picture"]["bytes"], png.len());
    assert_eq!(j["picture"]["width_mm"], 42);
    assert_eq!(j["picture"]["height_mm"], 42);
}

#[test]
fn seal_make_refusals_have_documented_codes_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    assert_eq!(keys_dev(&a, &[]).code, 0);
    let seal = dir.path().join("refused.der");

    // The signer's key is not the maker certificate's key.
    let mut args = make_args(&a, &seal);
    replace_arg(
        &mut args,
        "--maker-key",
        a.join("signer.key.pem").to_str().unwrap(),
    );
    let run = chop(&args);
    assert_eq!(run.code, 5, "{run}");
    assert!(
        run.stderr
            .contains("does not match the seal maker certificate"),
        "{run}"
    );

    // A wrong check character in the organisation code.
    let mut args = make_args(&a, &seal);
    replace_arg(&mut args, "--org-id", "91350100M000100Y44");
    let run = chop(&args);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stderr.contains("expected '3'"), "{run}");

    // A date that is not a date, and a period that ends before it starts.
    let mut args = make_args(&a, &seal);
    replace_arg(&mut args, "--valid-to", "someday");
    let run = chop(&args);
    assert_eq!(run.code, 3, "{run}");
    let mut args = make_args(&a, &seal);
    replace_arg(&mut args, "--valid-to", "2024-12-31");
    let run = chop(&args);
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.contains("after --valid-to"), "{run}");

    // No picture and no organisation name to draw one.
    let mut args = make_args(&a, &seal);
    let i = args
        .iter()
        .position(|x| x == Path::new("--org-name"))
        .unwrap();
    args.drain(i..i + 2);
    let run = chop(&args);
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.contains("--org-name"), "{run}");

    // A missing key file.
    let mut args = make_args(&a, &seal);
    replace_arg(
        &mut args,
        "--maker-key",
        a.join("nope.pem").to_str().unwrap(),
    );
    assert_eq!(chop(&args).code, 6);

    assert!(!seal.exists(), "a refused seal must not be written");
}

#[test]
fn seal_show_reports_a_tampered_seal_and_refuses_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    assert_eq!(keys_dev(&a, &[]).code, 0);
    let mut der = std::fs::read(a.join("seal.der")).unwrap();
    // The first occurrence of the seal name is property.name (certList comes after it).
    let needle = "行政审批专用章".as_bytes();
    let pos = der.windows(needle.len()).position(|w| w == needle).unwrap();
    der[pos + 2] ^= 0x01;
    let tampered = dir.path().join("tampered.der");
    std::fs::write(&tampered, &der).unwrap();
    let run = chop(["seal".as_ref(), "show".as_ref(), tampered.as_os_str()]);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stdout.contains("DOES NOT VERIFY"), "{run}");
    assert!(
        run.stderr
            .contains("the seal maker's signature does not verify"),
        "{run}"
    );
    let (run, j) = show_json(&tampered);
    assert_eq!(run.code, 5);
    assert_eq!(j["maker_signature"]["verifies"], false);

    let garbage = dir.path().join("garbage.der");
    std::fs::write(&garbage, b"%PDF-1.7 not a seal").unwrap();
    let run = chop(["seal".as_ref(), "show".as_ref(), garbage.as_os_str()]);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stderr.contains("not a GB/T 38540 seal object"), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");

    let missing = dir.path().join("missing.der");
    assert_eq!(
        chop(["seal".as_ref(), "show".as_ref(), missing.as_os_str()]).code,
        6
    );
}
