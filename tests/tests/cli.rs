//! The `chop` CLI end to end: `chop keys dev` (issue 2 §2) and `chop demo` (issue 2 §5).

use chop_tests::pki::{DevPki, FILES};
use chop_tests::{chop, temp_dir};

#[test]
fn keys_dev_writes_every_pki_file_as_pem_and_a_seal() {
    let dir = temp_dir();
    let pki = DevPki::create(dir.path(), &[]);
    for f in FILES.iter().filter(|f| f.ends_with(".pem")) {
        let text = std::fs::read_to_string(pki.file(f)).unwrap();
        assert!(text.starts_with("-----BEGIN "), "{f} is not PEM");
    }
    let ders = |name: &str| {
        let text = std::fs::read_to_string(pki.file(name)).unwrap();
        chop_seal::certs::certificates_from_pem(&text).unwrap()
    };
    let chain = ders("chain.pem");
    assert_eq!(
        chain,
        [
            ders("issuing-ca.crt.pem")[0].clone(),
            ders("root-ca.crt.pem")[0].clone()
        ],
        "chain.pem = issuing CA then root"
    );
    let seal = std::fs::read(pki.seal()).unwrap();
    assert_eq!(seal.first(), Some(&0x30), "seal.der is a DER SEQUENCE");
    let png = std::fs::read(pki.file("seal.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "seal.png is a PNG");
}

#[test]
fn keys_dev_accepts_both_reference_usccs() {
    for uscc in ["11100000000013338W", "91350100M000100Y43"] {
        let dir = temp_dir();
        DevPki::create(dir.path(), &["--org-id", uscc]);
    }
}

#[test]
fn keys_dev_signer_is_a_legal_person_seal_certificate() {
    let dir = temp_dir();
    let pki = DevPki::create(
        dir.path(),
        &["--org-name", "测试局", "--org-id", "91350100M000100Y43"],
    );
    let pem = std::fs::read_to_string(pki.cert()).unwrap();
    let der = &chop_seal::certs::certificates_from_pem(&pem).unwrap()[0];
    let subject = chop_seal::certs::subject(der).unwrap();
    assert!(
        subject.contains("NTRCN-91350100M000100Y43"),
        "organizationIdentifier missing: {subject}"
    );
    assert!(
        subject.contains("(DEV - NOT FOR PRODUCTION)"),
        "CN must say DEV: {subject}"
    );
}

#[test]
fn demo_writes_keys_and_a_sealed_pdf_and_prints_how_to_check() {
    let dir = temp_dir();
    let out = dir.path().join("demo");
    let run = chop(["demo".as_ref(), "--out".as_ref(), out.as_os_str()]);
    run.assert_ok();
    let pdfs: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    assert!(!pdfs.is_empty(), "chop demo wrote no PDF:\n{run}");
    assert!(
        run.stdout.contains("pyhanko"),
        "demo must print the pyHanko command:\n{run}"
    );
    assert!(
        run.stdout.contains("pdfsig"),
        "demo must print the pdfsig command:\n{run}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
