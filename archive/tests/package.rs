//! Retention packages end to end over an in-memory log (issue 5 §2–§3): an intact package
//! verifies offline; each tampering of §3 is caught and named; selective exports, executable
//! content and hostile zips are judged as documented.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{Cursor, Read, Write};
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use chop_archive::Hash;
use chop_archive::checkpoint::DEFAULT_ORIGIN;
use chop_archive::log::{Log, LogStorage, NewEntry, StoredRecord};
use chop_archive::memory::{MemoryError, MemoryStorage};
use chop_archive::note::{NoteSigner, NoteVerifier, sign_note};
use chop_archive::package::bagit::{self, FileDigests};
use chop_archive::package::four::Outcome;
use chop_archive::package::{
    ExportSpec, PackageReport, PackageSource, Selection, WriteRequest, plan_export, verify_package,
    write_package,
};
use chop_archive::record::{Digest, NewRecord, RecordKind, Retention, Timestamp};
use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::sign::{Sealer, SignOptions};
use chop_seal::verify::{VerifyOptions, verify_pdf};

/// Drives a future whose storage never waits (MemoryStorage) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn pki() -> &'static DevPki {
    static PKI: OnceLock<DevPki> = OnceLock::new();
    PKI.get_or_init(|| DevPki::generate(&DevPkiOptions::default()).unwrap())
}

/// A small one-page PDF with some text, and `extra` objects (e.g. JavaScript) if given.
fn base_pdf(text: &str, catalog_extra: &str, extra: &[&str]) -> Vec<u8> {
    let content = format!("BT /F1 18 Tf 50 700 Td ({text}) Tj ET");
    let mut objects = vec![
        format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>"),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len() + 1),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    objects.extend(extra.iter().map(|s| s.to_string()));
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

struct Archive {
    storage: Arc<MemoryStorage>,
    signer: NoteSigner,
    documents: HashMap<Hash, Vec<u8>>,
    evidence: HashMap<Hash, Vec<u8>>,
    sealed: Vec<Hash>,
}

impl Archive {
    fn log(&self) -> Log<Arc<MemoryStorage>> {
        Log::new(self.storage.clone())
    }

    fn append(&self, r: NewRecord) -> u64 {
        block_on(self.log().append(vec![NewEntry {
            idempotency_key: None,
            record: r,
        }]))
        .unwrap()[0]
            .seq
    }

    /// Stores a document and its evidence and appends its record, as `api` does.
    fn add_document(&mut self, kind: RecordKind, pdf: Vec<u8>, accepted_invalid: bool) -> Hash {
        let opts = VerifyOptions {
            trust_anchors: vec![pki().root_ca.cert_der.clone()],
            ..VerifyOptions::default()
        };
        let sha = Hash::sha256(&pdf);
        let (evidence, indication) = match verify_pdf(&pdf, &opts) {
            Ok(report) => (
                serde_json::to_vec_pretty(&report).unwrap(),
                report.worst().as_str().to_owned(),
            ),
            Err(chop_seal::verify::VerifyError::NoSignature) => (
                serde_json::to_vec_pretty(&serde_json::json!({
                    "document": {"sha256": sha.to_hex(), "size": pdf.len()},
                    "error": "the PDF has no signature"
                }))
                .unwrap(),
                "NO-SIGNATURE".to_owned(),
            ),
            Err(e) => panic!("the verification engine cannot read a test document: {e}"),
        };
        let ev_sha = Hash::sha256(&evidence);
        let mut r = NewRecord::new(kind, "user:alice");
        r.subject = vec![format!("document:sha256:{}", sha.to_hex())];
        r.digests = vec![
            Digest {
                value: sha,
                role: Some("document".into()),
            },
            Digest {
                value: ev_sha,
                role: Some("evidence".into()),
            },
        ];
        r.payload.insert("indication".into(), indication.into());
        r.payload.insert("size".into(), pdf.len().into());
        if accepted_invalid {
            r.payload.insert("accepted_invalid".into(), true.into());
        }
        self.append(r);
        self.documents.insert(sha, pdf);
        self.evidence.insert(ev_sha, evidence);
        sha
    }
}

/// A log with sealed documents, an unsigned document accepted as invalid, and other records.
fn archive() -> Archive {
    let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
    let mut a = Archive {
        storage: Arc::new(MemoryStorage::new()),
        signer,
        documents: HashMap::new(),
        evidence: HashMap::new(),
        sealed: Vec::new(),
    };
    let mut k = NewRecord::new(RecordKind::KeyCreated, "system");
    k.payload
        .insert("purpose".into(), "checkpoint signing".into());
    a.append(k);
    let p = pki();
    let key = p.signer.signer();
    let chain = vec![p.issuing_ca.cert_der.clone(), p.root_ca.cert_der.clone()];
    let sealer = Sealer::new(&key, &p.signer.cert_der, &chain, &p.seal).unwrap();
    for i in 0..3 {
        let sealed = sealer
            .seal(
                &base_pdf(&format!("Licence {i}"), "", &[]),
                &SignOptions::default(),
            )
            .unwrap()
            .pdf;
        let sha = a.add_document(RecordKind::DocumentSealed, sealed, false);
        a.sealed.push(sha);
        let mut l = NewRecord::new(RecordKind::LicenceIssued, "user:alice");
        l.subject = vec![format!("licence:{i}"), "org:11320100MB0000000J".into()];
        l.retention = Retention::Years30;
        a.append(l);
    }
    a.add_document(
        RecordKind::DocumentIngested,
        base_pdf("unsigned scan", "", &[]),
        true,
    );
    for i in 0..3 {
        let mut l = NewRecord::new(RecordKind::LicenceSuspended, "user:bob");
        l.subject = vec![format!("licence:{i}")];
        a.append(l);
    }
    a
}

struct Source<'a>(&'a Archive);

impl PackageSource for Source<'_> {
    type Error = MemoryError;

    fn records(&mut self, from: u64, to: u64) -> Result<Vec<StoredRecord>, MemoryError> {
        block_on(self.0.storage.read_records(from, to))
    }

    fn hashes(&mut self, indexes: &[u64]) -> Result<Vec<Hash>, MemoryError> {
        block_on(self.0.storage.read_hashes(indexes))
    }

    fn document(&mut self, sha256: &Hash) -> Result<Option<Vec<u8>>, MemoryError> {
        Ok(self.0.documents.get(sha256).cloned())
    }

    fn evidence(&mut self, sha256: &Hash) -> Result<Option<Vec<u8>>, MemoryError> {
        Ok(self.0.evidence.get(sha256).cloned())
    }

    fn latest_checkpoint(&mut self) -> Result<String, MemoryError> {
        Ok(block_on(self.0.log().checkpoint(&self.0.signer))
            .unwrap()
            .note)
    }
}

/// Exports `selection` as a zip in memory (appending the package.exported record).
fn export(a: &Archive, selection: Selection) -> Vec<u8> {
    let size = block_on(a.log().head()).unwrap().size;
    let spec = ExportSpec {
        selection,
        source_organization: "南京市示例区行政审批局".into(),
        origin: DEFAULT_ORIGIN.into(),
        bagging_time: Timestamp::parse("2025-06-01T08:00:00.000000Z").unwrap(),
    };
    let plan = plan_export(&mut Source(a), spec, size).unwrap();
    let own = a.append(plan.exported_record("user:archivist"));
    let cp = block_on(a.log().checkpoint(&a.signer)).unwrap();
    let req = WriteRequest {
        checkpoint: cp.note,
        verifier: a.signer.verifier(),
        extra_anchors: Vec::new(),
        crls: Vec::new(),
        threads: 2,
    };
    let (summary, out) = write_package(
        &mut Source(a),
        &plan,
        own,
        &req,
        Cursor::new(Vec::new()),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.records, plan.record_count() + 1);
    out.into_inner()
}

fn verify(zip: &[u8], key: Option<&NoteVerifier>) -> PackageReport {
    verify_package(Cursor::new(zip.to_vec()), key)
}

/// The zip as (root, relative path → bytes).
fn unzip(zip: &[u8]) -> (String, BTreeMap<String, Vec<u8>>) {
    let mut z = zip::ZipArchive::new(Cursor::new(zip.to_vec())).unwrap();
    let mut files = BTreeMap::new();
    let mut root = String::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        let (r, rel) = name.split_once('/').unwrap();
        root = r.to_owned();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        files.insert(rel.to_owned(), buf);
    }
    (root, files)
}

fn rezip(root: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (rel, bytes) in files {
        w.start_file(
            format!("{root}/{rel}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Rewrites both payload manifests and the tag manifest to match the files (what a careful
/// forger does).
fn refresh_manifests(files: &mut BTreeMap<String, Vec<u8>>) {
    let digests: Vec<(String, String, String)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .map(|(p, b)| {
            let mut d = FileDigests::new();
            d.update(b);
            let d = d.finish();
            (p.clone(), d.sha256, d.sha512)
        })
        .collect();
    files.insert(
        "manifest-sha256.txt".into(),
        bagit::render_manifest(digests.iter().map(|(p, s, _)| (p.as_str(), s.as_str())))
            .into_bytes(),
    );
    files.insert(
        "manifest-sha512.txt".into(),
        bagit::render_manifest(digests.iter().map(|(p, _, s)| (p.as_str(), s.as_str())))
            .into_bytes(),
    );
    let tags: Vec<(String, String)> = files
        .iter()
        .filter(|(p, _)| !p.starts_with("data/") && p.as_str() != "tagmanifest-sha256.txt")
        .map(|(p, b)| (p.clone(), Hash::sha256(b).to_hex()))
        .collect();
    files.insert(
        "tagmanifest-sha256.txt".into(),
        bagit::render_manifest(tags.iter().map(|(p, s)| (p.as_str(), s.as_str()))).into_bytes(),
    );
}

fn problems(r: &PackageReport) -> String {
    r.problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_caught(r: &PackageReport, needles: &[&str]) {
    assert!(!r.is_ok(), "tampering not caught");
    let text = problems(r);
    for n in needles {
        assert!(
            text.contains(n),
            "expected a problem mentioning {n:?}, got:\n{text}"
        );
    }
}

fn fixture() -> &'static (Archive, Vec<u8>) {
    static F: OnceLock<(Archive, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let a = archive();
        let zip = export(&a, Selection::default());
        (a, zip)
    })
}

fn jsonl_lines(files: &BTreeMap<String, Vec<u8>>) -> Vec<Vec<u8>> {
    files["data/records/records.jsonl"]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn set_jsonl(files: &mut BTreeMap<String, Vec<u8>>, lines: &[Vec<u8>]) {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    files.insert("data/records/records.jsonl".into(), out);
}

#[test]
fn intact_package_verifies_offline_and_reproduces_its_report() {
    let (a, zip) = fixture();
    let key = a.signer.verifier();
    let r = verify(zip, Some(&key));
    assert!(r.is_ok(), "{}", problems(&r));
    assert!(r.key_given);
    assert_eq!(r.records, 12, "11 records and the package's own");
    assert_eq!(r.documents, 4);
    assert_eq!(r.evidence, 4);
    // The unsigned document accepted as invalid is a reservation, not a failure.
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].to_string().contains("NO-SIGNATURE"));
    assert_eq!(r.four_properties.result, Outcome::Warning);
    let (root, files) = unzip(zip);
    let packaged: chop_archive::package::four::FourPropertyReport =
        serde_json::from_slice(&files["data/four-properties.json"]).unwrap();
    assert_eq!(packaged.results(), r.four_properties.results());
    assert!(root.starts_with("chop-package-0-10-"));
    // Without --key the packaged key is used.
    let r = verify(zip, None);
    assert!(r.is_ok() && !r.key_given, "{}", problems(&r));
}

#[test]
fn layout_and_bag_info_are_as_documented() {
    let (a, zip) = fixture();
    let (_, files) = unzip(zip);
    for f in [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha256.txt",
        "data/records/records.jsonl",
        "data/records/0.json",
        "data/records/11.json",
        "data/proofs/0.tlog-proof",
        "data/proofs/11.tlog-proof",
        "data/checkpoint",
        "data/latest-checkpoint",
        "data/consistency-proof",
        "data/trust/log.pub",
        "data/METS.xml",
        "data/four-properties.json",
        "data/four-properties.html",
    ] {
        assert!(
            files.contains_key(f),
            "{f} missing; have {:?}",
            files.keys()
        );
    }
    for sha in &a.sealed {
        assert!(files.contains_key(&format!("data/documents/{}.pdf", sha.to_hex())));
    }
    let anchor = format!(
        "data/trust/anchors/{}.pem",
        chop_seal::certs::fingerprint_sha256(&pki().root_ca.cert_der)
    );
    assert!(
        files.contains_key(&anchor),
        "root CA not packaged as anchor"
    );
    let issuing = format!(
        "data/trust/ca/{}.pem",
        chop_seal::certs::fingerprint_sha256(&pki().issuing_ca.cert_der)
    );
    assert!(files.contains_key(&issuing), "issuing CA not packaged");
    assert!(files.keys().any(|k| k.starts_with("data/trust/seals/")));
    assert_eq!(
        files["bagit.txt"],
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    );
    let info =
        bagit::BagInfo::parse(&String::from_utf8(files["bag-info.txt"].clone()).unwrap()).unwrap();
    for label in chop_archive::package::MANDATORY_LABELS {
        assert!(info.get(label).is_some(), "{label}");
    }
    assert_eq!(info.get("Chop-Log-Origin"), Some(DEFAULT_ORIGIN));
    assert_eq!(info.get("Chop-Retention-Class"), Some("permanent"));
    assert_eq!(info.get("Bagging-Date"), Some("2025-06-01"));
    let payload: Vec<&Vec<u8>> = files
        .iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .map(|(_, b)| b)
        .collect();
    let oxum = format!(
        "{}.{}",
        payload.iter().map(|b| b.len()).sum::<usize>(),
        payload.len()
    );
    assert_eq!(info.get("Payload-Oxum"), Some(oxum.as_str()));
    // The record file is the canonical record, and its proof verifies with the C2SP verifier.
    let v = chop_archive::proof::verify_proof_file(
        &files["data/proofs/3.tlog-proof"],
        &a.signer.verifier(),
        Some(&files["data/records/3.json"]),
    )
    .unwrap();
    assert_eq!(v.index, 3);
    // METS is well-formed for an independent parser, with one PREMIS event per record.
    let mets = String::from_utf8(files["data/METS.xml"].clone()).unwrap();
    let doc = roxmltree::Document::parse(&mets).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "mets");
    let events = doc
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "event"
                && n.tag_name().namespace() == Some("http://www.loc.gov/premis/v3")
        })
        .count();
    assert_eq!(events, 12);
    assert!(mets.contains("<premis:eventType>digital signature generation</premis:eventType>"));
    assert!(mets.contains("<premis:eventType>information package creation</premis:eventType>"));
    let html = String::from_utf8(files["data/four-properties.html"].clone()).unwrap();
    assert!(
        html.contains("真实性")
            && html.contains("完整性")
            && html.contains("可用性")
            && html.contains("安全性")
    );
}

#[test]
fn tamper_a_byte_changed_in_a_pdf() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    let path = format!("data/documents/{}.pdf", a.sealed[1].to_hex());
    let pdf = files.get_mut(&path).unwrap();
    let i = pdf.windows(7).position(|w| w == b"Licence").unwrap();
    pdf[i] = b'X';
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            &format!("{path}: does not match manifest-sha256.txt"),
            &format!("{path}: its content does not hash to its name"),
        ],
    );
}

#[test]
fn tamper_a_record_edited() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    let edit = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .unwrap()
            .replace("user:bob", "user:eve")
            .into_bytes()
    };
    let record = edit(&files["data/records/8.json"]);
    files.insert("data/records/8.json".into(), record.clone());
    let mut lines = jsonl_lines(&files);
    lines[8] = edit(&lines[8]);
    set_jsonl(&mut files, &lines);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &["data/records/8.json: does not match manifest-sha256.txt"],
    );
    // A forger who also fixes the manifests is caught by the chain and the proof.
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "record 9: prev is",
            "chain is broken",
            "record 8 (data/proofs/8.tlog-proof): does not lead to the checkpoint's root",
        ],
    );
}

#[test]
fn tamper_a_record_removed() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    files.remove("data/records/5.json");
    files.remove("data/proofs/5.tlog-proof");
    let mut lines = jsonl_lines(&files);
    lines.remove(5);
    set_jsonl(&mut files, &lines);
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "record 6: records 5..=5 are missing before it",
            "package.exported commits to record_count",
        ],
    );
}

#[test]
fn tamper_two_records_swapped() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    let (r3, r4) = (
        files["data/records/3.json"].clone(),
        files["data/records/4.json"].clone(),
    );
    files.insert("data/records/3.json".into(), r4);
    files.insert("data/records/4.json".into(), r3);
    let mut lines = jsonl_lines(&files);
    lines.swap(3, 4);
    set_jsonl(&mut files, &lines);
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "record 3: out of order: comes after record 4",
            "data/records/3.json: differs from record 3 in records.jsonl",
        ],
    );
}

#[test]
fn tamper_a_proof_hash_changed() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    let text = String::from_utf8(files["data/proofs/7.tlog-proof"].clone()).unwrap();
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    // Line 3 is the first proof hash (header, extra, index, hashes…).
    let h = Hash::from_base64(&lines[3]).unwrap();
    let mut flipped = h.0;
    flipped[0] ^= 1;
    lines[3] = Hash(flipped).to_base64();
    files.insert(
        "data/proofs/7.tlog-proof".into(),
        lines.join("\n").into_bytes(),
    );
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "data/proofs/7.tlog-proof: does not match manifest-sha256.txt",
            "record 7 (data/proofs/7.tlog-proof): does not lead to the checkpoint's root",
        ],
    );
}

#[test]
fn tamper_a_manifest_line_edited_with_its_payload() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    let path = format!("data/documents/{}.pdf", a.sealed[0].to_hex());
    let pdf = files.get_mut(&path).unwrap();
    let i = pdf.windows(7).position(|w| w == b"Licence").unwrap();
    pdf[i] = b'X';
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[&format!("{path}: its content does not hash to its name")],
    );
    assert!(
        !problems(&r).contains("manifest-sha256.txt"),
        "the bag itself is consistent"
    );
    // Renaming the file to its new hash does not help: no record names it, and the named one
    // is gone.
    let bytes = files.remove(&path).unwrap();
    let renamed = format!("data/documents/{}.pdf", Hash::sha256(&bytes).to_hex());
    files.insert(renamed.clone(), bytes);
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            &format!("{renamed}: not named by any record"),
            &format!("{path}: named by record"),
        ],
    );
}

#[test]
fn tamper_the_checkpoint_resigned_with_another_key() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    let (mallory, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
    let note = String::from_utf8(files["data/checkpoint"].clone()).unwrap();
    let text = note.split("\n\n").next().unwrap().to_owned() + "\n";
    let forged = sign_note(&text, &mallory).unwrap();
    files.insert("data/checkpoint".into(), forged.clone().into_bytes());
    refresh_manifests(&mut files);
    // Checked against the genuine key, and also against the packaged one.
    for key in [Some(a.signer.verifier()), None] {
        let r = verify(&rezip(&root, &files), key.as_ref());
        assert_caught(&r, &["data/checkpoint: does not verify with the log key"]);
    }
    // A forger who replaces the packaged key too is caught by --key.
    files.insert(
        "data/trust/log.pub".into(),
        format!("{}\n", mallory.verifier().key_string()).into_bytes(),
    );
    for p in files
        .keys()
        .filter(|k| k.starts_with("data/proofs/"))
        .cloned()
        .collect::<Vec<_>>()
    {
        let t = String::from_utf8(files[&p].clone())
            .unwrap()
            .replace(&note, &forged);
        files.insert(p, t.into_bytes());
    }
    let latest = String::from_utf8(files["data/latest-checkpoint"].clone()).unwrap();
    let latest_text = latest.split("\n\n").next().unwrap().to_owned() + "\n";
    files.insert(
        "data/latest-checkpoint".into(),
        sign_note(&latest_text, &mallory).unwrap().into_bytes(),
    );
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "data/trust/log.pub: is not the log key given to the verifier",
            "data/checkpoint: does not verify with the log key",
        ],
    );
}

#[test]
fn tamper_an_extra_file_added() {
    let (a, zip) = fixture();
    let (root, mut files) = unzip(zip);
    files.insert("data/extra.txt".into(), b"hello".to_vec());
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "data/extra.txt: not listed in manifest-sha256.txt",
            "data/extra.txt: not part of the package layout",
        ],
    );
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(&r, &["data/extra.txt: not part of the package layout"]);
    assert_eq!(
        r.four_properties.properties[3].result,
        Outcome::Fail,
        "安全性 fails"
    );
}

#[test]
fn selective_export_holds_only_the_selection_and_commits_to_it() {
    let a = archive();
    let zip = export(
        &a,
        Selection {
            kinds: vec![RecordKind::LicenceIssued],
            org: Some("11320100MB0000000J".into()),
            ..Selection::default()
        },
    );
    let r = verify(&zip, Some(&a.signer.verifier()));
    assert!(r.is_ok(), "{}", problems(&r));
    assert_eq!(
        r.records, 4,
        "3 licence.issued and the package's own record"
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.to_string().contains("selective export"))
    );
    // Removing one selected record, even with every file fixed up, breaks the commitment.
    let (root, mut files) = unzip(&zip);
    let seq = files
        .keys()
        .filter_map(|k| {
            k.strip_prefix("data/records/")?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()
        })
        .min()
        .unwrap();
    files.remove(&format!("data/records/{seq}.json"));
    files.remove(&format!("data/proofs/{seq}.tlog-proof"));
    let mut lines = jsonl_lines(&files);
    lines.remove(0);
    set_jsonl(&mut files, &lines);
    refresh_manifests(&mut files);
    let r = verify(&rezip(&root, &files), Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &["package.exported commits to record_count", "records_sha256"],
    );
}

#[test]
fn executable_content_fails_safety() {
    let mut a = archive();
    let js = base_pdf(
        "with script",
        "/OpenAction 6 0 R",
        &["<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"],
    );
    let sha = a.add_document(RecordKind::DocumentIngested, js, true);
    let zip = export(&a, Selection::default());
    let r = verify(&zip, Some(&a.signer.verifier()));
    let path = format!("data/documents/{}.pdf", sha.to_hex());
    assert_caught(
        &r,
        &[
            &format!("{path}: the catalog's /OpenAction runs an action"),
            &format!("{path}: JavaScript action"),
        ],
    );
    assert_eq!(r.four_properties.properties[3].result, Outcome::Fail);
    // The exporter reported the same in the package.
    let (_, files) = unzip(&zip);
    let packaged: chop_archive::package::four::FourPropertyReport =
        serde_json::from_slice(&files["data/four-properties.json"]).unwrap();
    assert_eq!(packaged.results(), r.four_properties.results());
}

#[test]
fn hostile_zips_are_named_not_followed() {
    let (a, zip) = fixture();
    let (root, files) = unzip(zip);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (rel, bytes) in &files {
        w.start_file(
            format!("{root}/{rel}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.start_file("../evil.sh", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"#!/bin/sh\n").unwrap();
    w.start_file("other-root/x", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"x").unwrap();
    let bad = w.finish().unwrap().into_inner();
    let r = verify(&bad, Some(&a.signer.verifier()));
    assert_caught(
        &r,
        &[
            "../evil.sh: unsafe path",
            "zip: expected one root folder, found 2",
        ],
    );
    let r = verify(b"not a zip", None);
    assert_caught(&r, &["not a readable zip file"]);
}

#[test]
fn a_range_starting_mid_log_and_a_date_range_verify() {
    let a = archive();
    let zip = export(
        &a,
        Selection {
            from_seq: Some(3),
            to_seq: Some(8),
            ..Selection::default()
        },
    );
    let r = verify(&zip, Some(&a.signer.verifier()));
    assert!(r.is_ok(), "{}", problems(&r));
    assert_eq!(r.records, 7, "records 3..=8 and the package's own");
    assert!(
        r.warnings
            .iter()
            .all(|w| !w.to_string().contains("selective"))
    );
    // Every record of the log is inside this window: the whole log is exported.
    let zip = export(
        &a,
        Selection {
            since: Some(Timestamp::parse("2000-01-01T00:00:00Z").unwrap()),
            until: Some(Timestamp::parse("2999-01-01T00:00:00Z").unwrap()),
            ..Selection::default()
        },
    );
    let r = verify(&zip, Some(&a.signer.verifier()));
    assert!(r.is_ok(), "{}", problems(&r));
    assert_eq!(
        r.records, 13,
        "11 records, the first package's record, and this one's"
    );
}
