//! `chop verify` end to end: exit codes (0 passed, 1 failed, 2 indeterminate, 3 unreadable /
//! no signature / usage; the worst over all files), text and JSON output, `--at`, `--help`.

use std::process::{Command, Output};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn chop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chop"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap()
}

fn file(name: &str) -> String {
    format!("{CORPUS}/{name}")
}

fn root() -> String {
    file("pki/root.pem")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

#[test]
fn exit_codes_follow_the_indication() {
    let ok = chop(&[&file("signed-pyhanko-ec.pdf"), "--trust", &root()]);
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stdout));
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        text.contains("[TOTAL-PASSED] Sig1: Signed by Interop Lab"),
        "{text}"
    );
    assert!(text.contains("the document has not been changed since"));

    assert_eq!(code(&chop(&[&file("signed-pyhanko-ec.pdf")])), 2);
    let changed = chop(&[&file("signed-then-content-changed.pdf"), "--trust", &root()]);
    assert_eq!(code(&changed), 1);
    assert!(String::from_utf8_lossy(&changed.stdout).contains("do not rely on this document"));
    assert_eq!(code(&chop(&[&file("plain-1page.pdf")])), 3);
    assert_eq!(code(&chop(&[&file("not-a-pdf.pdf")])), 3);
    assert_eq!(code(&chop(&["/nonexistent/file.pdf"])), 3);
}

#[test]
fn the_worst_file_decides_and_every_file_gets_a_block() {
    let o = chop(&[
        &file("signed-pyhanko-ec.pdf"),
        &file("signed-selfsigned.pdf"),
        "--trust",
        &root(),
    ]);
    assert_eq!(code(&o), 2);
    let o = chop(&[
        &file("signed-pyhanko-ec.pdf"),
        &file("signed-byte-flipped.pdf"),
        &file("signed-selfsigned.pdf"),
        "--trust",
        &root(),
    ]);
    assert_eq!(code(&o), 1);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.matches("== ").count(), 3, "{text}");
    // files keep the order they were given in
    let a = text.find("signed-pyhanko-ec.pdf").unwrap();
    let b = text.find("signed-byte-flipped.pdf").unwrap();
    assert!(a < b);
    let o = chop(&[
        &file("signed-then-content-changed.pdf"),
        &file("plain-1page.pdf"),
        "--trust",
        &root(),
    ]);
    assert_eq!(code(&o), 3);
}

#[test]
fn json_output_is_the_report() {
    let o = chop(&[
        &file("signed-pyhanko-rsa.pdf"),
        "--trust",
        &root(),
        "--json",
    ]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signatures"][0]["indication"], "TOTAL-PASSED");
    assert_eq!(v["document"]["revision_count"], 2);
    let o = chop(&[
        &file("signed-pyhanko-rsa.pdf"),
        &file("plain-1page.pdf"),
        "--json",
    ]);
    assert_eq!(code(&o), 3);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v[0]["report"]["signatures"].is_array());
    assert!(v[1]["error"].as_str().unwrap().contains("no signature"));
}

#[test]
fn at_and_help() {
    let o = chop(&[
        &file("signed-pyhanko-ec.pdf"),
        "--trust",
        &root(),
        "--json",
        "--at",
        "2030-01-01T00:00:00Z",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["validation_time"], "2030-01-01T00:00:00Z");
    // the corpus signer certificate expires in 2028
    assert_eq!(code(&o), 2);
    assert_eq!(v["signatures"][0]["sub_indication"], "OUT_OF_BOUNDS_NO_POE");

    assert_eq!(
        code(&chop(&[
            &file("signed-pyhanko-ec.pdf"),
            "--at",
            "yesterday"
        ])),
        3
    );
    let help = chop(&["--help"]);
    assert_eq!(code(&help), 0);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("1  at least one signature is TOTAL-FAILED"),
        "{text}"
    );
}
