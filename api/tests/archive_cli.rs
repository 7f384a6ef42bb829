//! `chop archive …` and `chop sign --archive` end to end (issue 4 §5, §7): ingest refuses what
//! does not verify unless told, proofs check offline and fail when anything is changed, and
//! `chop archive verify` names what was tampered with and where.

mod common;

use std::path::{Path, PathBuf};

use common::{PgDb, run, storage_args};

struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let out = run(&["demo", "--out", dir.path().join("demo").to_str().unwrap()]);
        assert!(
            out.status.success(),
            "chop demo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Demo { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn demo(&self, name: &str) -> String {
        self.dir
            .path()
            .join("demo")
            .join(name)
            .display()
            .to_string()
    }
    fn key(&self, name: &str) -> String {
        self.dir
            .path()
            .join("demo/keys")
            .join(name)
            .display()
            .to_string()
    }
}

fn chop(args: &[&str], storage: &[String]) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(storage.iter().map(String::as_str));
    let out = run(&all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn records(storage: &[String], kind: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["archive", "log", "--json"];
    if let Some(k) = kind {
        args.extend(["--kind", k]);
    }
    let (code, out, err) = chop(&args, storage);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A copy of the sealed sample with one byte of its signed content changed.
fn tampered(demo: &Demo) -> PathBuf {
    let mut bytes = std::fs::read(demo.demo("sample-sealed.pdf")).unwrap();
    let at = bytes
        .windows(23)
        .position(|w| w == b"Certificate of Approval")
        .unwrap()
        + 22;
    bytes[at] = b'x';
    let path = demo.path("tampered.pdf");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The whole archive workflow on one backend.
fn workflow(demo: &Demo, storage: &[String]) {
    let root = demo.key("root-ca.crt.pem");
    let sealed = demo.demo("sample-sealed.pdf");

    // chop sign --archive: document.sealed with the sealed bytes stored.
    let out_pdf = demo.path("out.pdf");
    let (code, out, err) = chop(
        &[
            "sign",
            &demo.demo("sample.pdf"),
            "--out",
            out_pdf.to_str().unwrap(),
            "--key",
            &demo.key("signer.key.pem"),
            "--cert",
            &demo.key("signer.crt.pem"),
            "--chain",
            &demo.key("chain.pem"),
            "--seal",
            &demo.key("seal.der"),
            "--archive",
        ],
        storage,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archived") && out.contains("as record 0"),
        "{out}"
    );

    // A valid sealed document is ingested.
    let (code, out, err) = chop(
        &[
            "archive",
            "ingest",
            &sealed,
            "--trust",
            &root,
            "--note",
            "first",
            "--retention",
            "30y",
        ],
        storage,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("as record 1") && out.contains("TOTAL-PASSED") && out.contains("1 signature"),
        "{out}"
    );

    // No signature: refused (exit 3) unless --accept-invalid.
    let plain = demo.demo("sample.pdf");
    let (code, _, err) = chop(&["archive", "ingest", &plain], storage);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("NO-SIGNATURE") && err.contains("--accept-invalid"),
        "{err}"
    );
    // TOTAL-FAILED: refused (exit 1) unless --accept-invalid; then the record says so.
    let bad = tampered(demo);
    let (code, _, err) = chop(
        &["archive", "ingest", bad.to_str().unwrap(), "--trust", &root],
        storage,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("TOTAL-FAILED"), "{err}");
    assert_eq!(
        records(storage, None).len(),
        2,
        "a refused document appends nothing"
    );
    let (code, out, err) = chop(
        &[
            "archive",
            "ingest",
            bad.to_str().unwrap(),
            "--trust",
            &root,
            "--accept-invalid",
        ],
        storage,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("as record 2"), "{out}");

    // An idempotency key makes a retry return the first record.
    let (code, first, _) = chop(
        &[
            "archive",
            "ingest",
            &sealed,
            "--trust",
            &root,
            "--idempotency-key",
            "req-42",
        ],
        storage,
    );
    assert_eq!(code, 0);
    let (code, again, _) = chop(
        &[
            "archive",
            "ingest",
            &sealed,
            "--trust",
            &root,
            "--idempotency-key",
            "req-42",
        ],
        storage,
    );
    assert_eq!(code, 0);
    assert!(
        first.contains("as record 3")
            && again.starts_with("already ingested:")
            && again.contains("as record 3"),
        "{first}{again}"
    );

    let ingested = records(storage, Some("document.ingested"));
    assert_eq!(
        ingested
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let r1 = &ingested[0];
    assert_eq!(r1["retention"], "30y");
    assert_eq!(r1["payload"]["indication"], "TOTAL-PASSED");
    assert_eq!(r1["payload"]["signatures"], 1);
    assert_eq!(r1["payload"]["note"], "first");
    let sha = chop_archive::Hash::sha256(&std::fs::read(&sealed).unwrap()).to_hex();
    assert_eq!(r1["digests"][0]["value"], sha.as_str());
    assert_eq!(r1["digests"][0]["role"], "document");
    assert_eq!(r1["digests"][1]["role"], "evidence");
    assert_eq!(r1.get("payload").unwrap().get("accepted_invalid"), None);
    assert_eq!(ingested[1]["payload"]["accepted_invalid"], true);
    assert_eq!(ingested[1]["payload"]["indication"], "TOTAL-FAILED");
    let sealed_record = &records(storage, Some("document.sealed"))[0];
    assert_eq!(
        sealed_record["payload"]["indication"], "TOTAL-PASSED",
        "the chain's root is the report's trust anchor"
    );
    assert_eq!(sealed_record["digests"][1]["role"], "original");

    // Proofs: written, checked offline with the printed key, refused when anything differs.
    let (code, key, err) = chop(&["archive", "pubkey"], storage);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("chop.local/archive+"), "{key}");
    let proof = demo.path("r1.tlog-proof");
    let (code, out, err) = chop(
        &["archive", "prove", "1", "--out", proof.to_str().unwrap()],
        storage,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("record 1"), "{out}");
    let text = std::fs::read_to_string(&proof).unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
    let check = |args: &[&str]| {
        chop(
            &[
                &["archive", "check-proof", proof.to_str().unwrap()][..],
                args,
            ]
            .concat(),
            &[],
        )
    };
    let (code, out, err) = check(&["--key", &key]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("OK: record 1 (document.ingested"), "{out}");
    let key_file = demo.path("log.vkey");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let record_file = demo.path("record1.json");
    std::fs::write(&record_file, serde_json::to_vec_pretty(r1).unwrap()).unwrap();
    let (code, _, err) = check(&[
        "--key",
        key_file.to_str().unwrap(),
        "--record",
        record_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut forged = r1.clone();
    forged["payload"]["note"] = "second".into();
    std::fs::write(&record_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (code, _, err) = check(&["--key", &key, "--record", record_file.to_str().unwrap()]);
    assert_eq!(code, 7, "a changed record must not verify: {err}");
    let other_key = "chop.local/archive+00000000+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let (code, _, err) = check(&["--key", other_key]);
    assert_ne!(code, 0, "{err}");
    // A proof against an older checkpoint by size.
    let (code, _, err) = chop(
        &[
            "archive",
            "prove",
            "0",
            "--size",
            "5",
            "--out",
            proof.to_str().unwrap(),
        ],
        storage,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = chop(
        &[
            "archive",
            "prove",
            "0",
            "--size",
            "3",
            "--out",
            proof.to_str().unwrap(),
        ],
        storage,
    );
    assert_eq!(code, 3, "no checkpoint of size 3 was signed: {err}");

    // checkpoint prints a signed note; unchanged log, same checkpoint.
    let (code, note, _) = chop(&["archive", "checkpoint"], storage);
    assert_eq!(code, 0);
    assert!(note.starts_with("chop.local/archive\n5\n"), "{note}");
    assert_eq!(chop(&["archive", "checkpoint"], storage).1, note);

    // verify: clean, then a damaged document file is named.
    let (code, out, err) = chop(&["archive", "verify"], storage);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("archive OK: 5 records"), "{out}");
    let data_dir = Path::new(&storage[1]);
    let stored = data_dir
        .join("documents/sha256")
        .join(&sha[..2])
        .join(format!("{}.pdf", &sha[2..]));
    let original = std::fs::read(&stored).unwrap();
    std::fs::write(&stored, b"not the document").unwrap();
    let (code, out, _) = chop(&["archive", "verify"], storage);
    assert_eq!(code, 7, "{out}");
    assert!(
        out.contains(&format!("problem: document sha256:{sha} (record 1)"))
            && out.contains("does not hash to its name"),
        "{out}"
    );
    std::fs::remove_file(&stored).unwrap();
    let (code, out, _) = chop(&["archive", "verify"], storage);
    assert_eq!(code, 7);
    assert!(out.contains("missing at"), "{out}");
    std::fs::write(&stored, original).unwrap();
    assert_eq!(chop(&["archive", "verify"], storage).0, 0);
}

#[test]
fn archive_workflow_on_sqlite() {
    let demo = Demo::new();
    let storage = storage_args(&demo.path("data"), None);
    workflow(&demo, &storage);
    // Tampering with the database behind the log's back is found and located.
    let db = demo.path("data/chop.db");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn =
                sqlx::sqlite::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
                    .await
                    .unwrap();
            sqlx::query(
                "UPDATE log_records SET bytes = replace(bytes, 'first', 'fir5t') WHERE seq = 1",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        });
    let (code, out, _) = chop(&["archive", "verify"], &storage);
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("problem: record 2: prev is"), "{out}");
    assert!(out.contains("problem: checkpoint of size"), "{out}");
    assert!(out.contains("archive INVALID"), "{out}");
}

#[test]
fn archive_workflow_on_postgres() {
    let Some(db) = PgDb::create("cli") else {
        return;
    };
    let demo = Demo::new();
    let storage = storage_args(&demo.path("data"), Some(&db.url));
    workflow(&demo, &storage);
    assert!(
        !demo.path("data/chop.db").exists(),
        "--db must not create a SQLite database"
    );
}

#[test]
fn bad_storage_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage_args(dir.path(), Some("mysql://localhost/x"));
    let (code, _, err) = chop(&["archive", "verify"], &storage);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("neither postgres://"), "{err}");
    let (code, _, err) = chop(
        &["archive", "ingest", "/nonexistent.pdf"],
        &storage_args(dir.path(), None),
    );
    assert_eq!(code, 6, "{err}");
    let (code, _, _) = chop(
        &[
            "archive",
            "prove",
            "1",
            "--out",
            dir.path().join("p").to_str().unwrap(),
        ],
        &storage_args(dir.path(), None),
    );
    assert_eq!(
        code, 3,
        "record 1 does not exist (record 0 is the log key's key.created)"
    );
}
