//! `chop licence` end to end, as a process, on SQLite and (DATABASE_URL; mandatory in CI)
//! PostgreSQL: types, example, issue (idempotent), show, list, suspend, reinstate, supersede,
//! revoke, the exit codes, and the archive staying consistent. The issued PDF is checked by
//! qpdf (an outside judge; mandatory in CI) and by `chop verify`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{PgDb, chop, in_ci, storage_args};
use serde_json::Value;

fn run_in(dir: &Path, args: &[&str]) -> Output {
    chop()
        .current_dir(dir)
        .env_remove("CHOP_DATA_DIR")
        .env_remove("CHOP_DATABASE_URL")
        .args(args)
        .output()
        .expect("chop runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_of(o: &Output) -> Value {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn with_storage<'a>(args: &[&'a str], storage: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = args.to_vec();
    v.extend(storage.iter().map(String::as_str));
    v
}

fn qpdf_check(pdf: &Path) {
    match std::process::Command::new("qpdf")
        .arg("--check")
        .arg(pdf)
        .output()
    {
        Ok(o) => assert_eq!(o.status.code(), Some(0), "qpdf --check: {}", text(&o)),
        Err(e) => {
            assert!(!in_ci(), "CI=true and qpdf is missing: {e}");
            eprintln!(
                "\n!!!!!!!!!! qpdf not installed: the qpdf check is SKIPPED (it FAILS in CI) !!!!!!!!!!\n"
            );
        }
    }
}

fn story(dir: &Path, db: Option<&str>) {
    let data = dir.join("data");
    let storage = storage_args(&data, db);

    // Types and examples need no data folder.
    let types = json_of(&run_in(dir, &["licence", "types", "--json"]));
    let types = types.as_array().expect("an array of types");
    assert!(types.len() >= 3);
    let example = json_of(&run_in(dir, &["licence", "example", "food-business"]));
    std::fs::write(dir.join("data.json"), example.to_string()).unwrap();
    let o = run_in(dir, &["licence", "example", "no-such-type"]);
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));

    // Issue: the PDF is sealed, clean, and verifies against the data folder's root.
    let o = run_in(
        dir,
        &with_storage(
            &[
                "licence",
                "issue",
                "--type",
                "food-business",
                "--data",
                "data.json",
                "--out",
                "l1.pdf",
                "--idempotency-key",
                "app-42",
                "--json",
            ],
            &storage,
        ),
    );
    let l1 = json_of(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("DEVELOPMENT PKI"),
        "first use announces the development PKI: {}",
        text(&o)
    );
    let id = l1["identifier"].as_str().unwrap().to_owned();
    assert_eq!(l1["status"], "valid");
    assert_eq!(l1["version"], 1);
    qpdf_check(&dir.join("l1.pdf"));
    let root = data.join("keys/root-ca.crt.pem");
    let o = run_in(
        dir,
        &["verify", "l1.pdf", "--trust", root.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in chop_keys_dev::DevPki::FILES {
        assert!(data.join("keys").join(f).is_file(), "keys/{f}");
    }

    // The same idempotency key returns the same licence.
    let again = json_of(&run_in(
        dir,
        &with_storage(
            &[
                "licence",
                "issue",
                "--type",
                "food-business",
                "--data",
                "data.json",
                "--out",
                "l1-again.pdf",
                "--idempotency-key",
                "app-42",
                "--json",
            ],
            &storage,
        ),
    ));
    assert_eq!(again["identifier"], l1["identifier"]);
    assert_eq!(
        std::fs::read(dir.join("l1.pdf")).unwrap(),
        std::fs::read(dir.join("l1-again.pdf")).unwrap()
    );

    // Invalid data: exit 3, the field named, nothing stored.
    let mut bad = example.clone();
    bad["credit_code"] = Value::String("91320105MA1Y8K3N2X".into());
    std::fs::write(dir.join("bad.json"), bad.to_string()).unwrap();
    let o = run_in(
        dir,
        &with_storage(
            &[
                "licence",
                "issue",
                "--type",
                "food-business",
                "--data",
                "bad.json",
                "--out",
                "bad.pdf",
            ],
            &storage,
        ),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("credit_code") && err.contains("'9'"),
        "{}",
        text(&o)
    );
    assert!(!dir.join("bad.pdf").exists());
    std::fs::write(dir.join("notjson.json"), "{").unwrap();
    let o = run_in(
        dir,
        &with_storage(
            &[
                "licence",
                "issue",
                "--type",
                "food-business",
                "--data",
                "notjson.json",
                "--out",
                "x.pdf",
            ],
            &storage,
        ),
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let list = json_of(&run_in(
        dir,
        &with_storage(&["licence", "list", "--json"], &storage),
    ));
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Lifecycle.
    let o = run_in(dir, &with_storage(&["licence", "suspend", &id], &storage));
    assert_eq!(
        o.status.code(),
        Some(3),
        "--reason is required: {}",
        text(&o)
    );
    let s = json_of(&run_in(
        dir,
        &with_storage(
            &["licence", "suspend", &id, "--reason", "现场检查", "--json"],
            &storage,
        ),
    ));
    assert_eq!(s["status"], "suspended");
    let o = run_in(
        dir,
        &with_storage(&["licence", "suspend", &id, "--reason", "again"], &storage),
    );
    assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    let r = json_of(&run_in(
        dir,
        &with_storage(&["licence", "reinstate", &id, "--json"], &storage),
    ));
    assert_eq!(r["status"], "valid");

    let mut changed = example.clone();
    changed["premises"] = Value::String("南京市示例区中山路99号".into());
    std::fs::write(dir.join("data2.json"), changed.to_string()).unwrap();
    let v2 = json_of(&run_in(
        dir,
        &with_storage(
            &[
                "licence",
                "supersede",
                &id,
                "--data",
                "data2.json",
                "--out",
                "l2.pdf",
                "--json",
            ],
            &storage,
        ),
    ));
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["supersedes"], l1["identifier"]);
    qpdf_check(&dir.join("l2.pdf"));
    let old = json_of(&run_in(
        dir,
        &with_storage(&["licence", "show", &id, "--json"], &storage),
    ));
    assert_eq!(old["status"], "superseded");
    assert_eq!(old["superseded_by"], v2["identifier"]);
    let v2_id = v2["identifier"].as_str().unwrap();
    let rv = json_of(&run_in(
        dir,
        &with_storage(
            &[
                "licence",
                "revoke",
                v2_id,
                "--reason",
                "以欺骗手段取得",
                "--json",
            ],
            &storage,
        ),
    ));
    assert_eq!(rv["status"], "revoked");
    let o = run_in(
        dir,
        &with_storage(&["licence", "show", "1.2.156.nope"], &storage),
    );
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));
    let holder = l1["holder_code"].as_str().unwrap();
    let by_holder = json_of(&run_in(
        dir,
        &with_storage(&["licence", "list", "--holder", holder, "--json"], &storage),
    ));
    assert_eq!(by_holder["items"].as_array().unwrap().len(), 2);
    let revoked = json_of(&run_in(
        dir,
        &with_storage(
            &["licence", "list", "--status", "revoked", "--json"],
            &storage,
        ),
    ));
    assert_eq!(revoked["items"][0]["identifier"], v2["identifier"]);

    // Every change is a record, and the archive is consistent.
    let o = run_in(dir, &with_storage(&["archive", "verify"], &storage));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A retention package of the licences passes its four-property report without --trust:
    // the data folder's development root certified the seal.
    let o = run_in(
        dir,
        &with_storage(&["archive", "export", "--out", "licences.zip"], &storage),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run_in(dir, &["archive", "verify-package", "licences.zip"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run_in(dir, &with_storage(&["archive", "log"], &storage));
    let log = String::from_utf8_lossy(&o.stdout).into_owned();
    for kind in [
        "organisation.created",
        "seal.created",
        "licence.issued",
        "licence.suspended",
        "licence.reinstated",
        "licence.superseded",
        "licence.revoked",
    ] {
        assert!(log.contains(kind), "{kind} missing from the log:\n{log}");
    }
}

#[test]
fn licence_lifecycle_from_the_cli_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    story(dir.path(), None);
}

#[test]
fn licence_lifecycle_from_the_cli_on_postgres() {
    let Some(db) = PgDb::create("licence_cli") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    story(dir.path(), Some(&db.url));
}
