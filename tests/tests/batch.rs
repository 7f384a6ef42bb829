//! Issue 2 §4: batch mode `chop sign --out-dir DIR IN1 IN2 …` writes DIR/<same file name> for
//! every input, each one the original bytes plus an incremental update, each one valid.

use std::path::{Path, PathBuf};

use chop_tests::judge;
use chop_tests::pki::DevPki;
use chop_tests::{assert_starts_with_original, corpus, work_dir};

const INPUTS: [&str; 5] = [
    "plain-1page.pdf",
    "licence-cjk.pdf",
    "objstm-xrefstream.pdf",
    "incremental-updated.pdf",
    "pdf20.pdf",
];

struct Batch {
    pki: DevPki,
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
}

fn batch(name: &str) -> Option<Batch> {
    if !corpus::available() {
        return None;
    }
    let dir = work_dir(name);
    let pki = DevPki::create(&dir.join("pki"), &[]);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let inputs: Vec<PathBuf> = INPUTS.iter().map(|f| corpus::path(f)).collect();
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    pki.sign_batch(&out_dir, &refs).assert_ok();
    let outputs = INPUTS.iter().map(|f| out_dir.join(f)).collect();
    Some(Batch {
        pki,
        inputs,
        outputs,
    })
}

#[test]
fn batch_mode_writes_each_input_to_out_dir_keeping_original_bytes() {
    let Some(b) = batch("batch-bytes") else {
        return;
    };
    for (i, o) in b.inputs.iter().zip(&b.outputs) {
        assert!(o.is_file(), "batch mode did not write {}", o.display());
        assert_starts_with_original(i, o);
    }
    let written = std::fs::read_dir(b.outputs[0].parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(
        written,
        INPUTS.len(),
        "batch mode must write exactly one file per input"
    );
}

#[test]
fn batch_mode_outputs_are_judged_valid_by_pyhanko_and_qpdf() {
    let Some(b) = batch("batch-judged") else {
        return;
    };
    let (Some(py), Some(qpdf)) = (judge::pyhanko(), judge::qpdf()) else {
        return;
    };
    for o in &b.outputs {
        let v = judge::qpdf_check(&qpdf, o);
        assert!(judge::qpdf_clean(&v), "qpdf --check is not clean:\n{v}");
    }
    let root = b.pki.root();
    let refs: Vec<&Path> = b.outputs.iter().map(PathBuf::as_path).collect();
    let report = py.judge(&[&root], &refs);
    let ours = b.pki.signer_fingerprint();
    for o in &b.outputs {
        let j = report.file(o);
        let sig = j.by_cert(&ours).unwrap_or_else(|| {
            panic!(
                "{}: no signature by our signer ({:?})",
                o.display(),
                j.error
            )
        });
        assert!(
            sig.intact && sig.valid && sig.trusted && sig.bottom_line,
            "{}: pyHanko does not judge the seal VALID and trusted:\n{}",
            o.display(),
            sig.pretty
        );
    }
}
