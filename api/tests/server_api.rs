//! `chop serve` over real HTTP (issue 7 §7), against the spawned binary on a free port with a
//! temporary data folder, on SQLite and — when `DATABASE_URL` is set (CI) — on a fresh
//! PostgreSQL database per test: the first admin key, authentication and roles, bad input as
//! problem+json with nothing stored, verification of a sealed PDF, checkpoints and proofs
//! checked with chop_archive's verifiers, an export job whose zip verifies offline, OpenAPI and
//! Swagger UI, rate limiting, and a clean exit on SIGTERM.

mod common;
mod server_support;

use std::path::Path;

use chop_archive::Hash;
use chop_archive::checkpoint::SignedCheckpoint;
use chop_archive::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use chop_archive::note::NoteVerifier;
use chop_archive::proof::verify_proof_file;
use chop_archive::record::{Record, RecordKind};
use reqwest::blocking::multipart;
use serde_json::{Value, json};
use server_support::{Pki, Server, assert_problem, chop_ok, client, json_ok, post_pdf};

fn b64(s: &str) -> Hash {
    Hash::from_base64(s).unwrap()
}

/// The `chop_archive_records` gauge: how many records the log holds.
fn archive_records(s: &Server) -> u64 {
    let text = client()
        .get(s.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("chop_archive_records "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no chop_archive_records in\n{text}"))
}

/// Every record of the log, decoded.
fn all_records(s: &Server, key: &str) -> Vec<Record> {
    let n = archive_records(s);
    (0..n)
        .map(|seq| {
            let r = client()
                .get(s.url(&format!("/v1/archive/records/{seq}")))
                .bearer_auth(key)
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            Record::from_canonical_bytes(&r.bytes().unwrap()).unwrap()
        })
        .collect()
}

fn key_count(s: &Server, admin: &str) -> usize {
    let page = json_ok(
        client()
            .get(s.url("/v1/api-keys?limit=500"))
            .bearer_auth(admin)
            .send()
            .unwrap(),
        200,
    );
    page["items"].as_array().unwrap().len()
}

fn create_key(s: &Server, admin: &str, body: Value) -> (String, String) {
    let v = json_ok(
        client()
            .post(s.url("/v1/api-keys"))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .unwrap(),
        201,
    );
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("chop_"), "{v}");
    (v["id"].as_str().unwrap().to_owned(), secret)
}

fn verifier(s: &Server) -> NoteVerifier {
    let text = client()
        .get(s.url("/v1/archive/pubkey"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    NoteVerifier::from_key_string(text.trim()).unwrap()
}

fn checkpoint(s: &Server, v: &NoteVerifier) -> SignedCheckpoint {
    let r = client()
        .get(s.url("/v1/archive/checkpoint"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    SignedCheckpoint::open(&r.text().unwrap(), v).expect("the checkpoint verifies")
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// First start, keys and roles, bad input, restart.
fn keys_auth_and_bad_input(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let limits = [
        ("CHOP_MAX_JSON_BYTES", "4096"),
        ("CHOP_MAX_PDF_BYTES", "65536"),
    ];
    let s = Server::start(&data, db, &limits);
    let c = client();

    // First start: the admin key is printed once, marked as development, and kept 0600.
    let admin = s
        .printed_admin_key()
        .unwrap_or_else(|| panic!("no admin key in {:?}", s.banner));
    assert!(
        s.banner.iter().any(|l| l.contains("DEVELOPMENT")),
        "{:?}",
        s.banner
    );
    let key_file = data.join("admin-api-key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), admin);
    #[cfg(unix)]
    assert_eq!(mode_of(&key_file), 0o600);
    assert!(
        !s.log_text().contains(&admin),
        "the admin key must not be logged"
    );

    // Operations.
    assert_eq!(
        json_ok(c.get(s.url("/healthz")).send().unwrap(), 200)["status"],
        "ok"
    );
    let ready = json_ok(c.get(s.url("/readyz")).send().unwrap(), 200);
    assert_eq!(
        ready["database"],
        if db.is_some() { "postgres" } else { "sqlite" }
    );
    let r = c
        .get(s.url("/healthz"))
        .header("x-request-id", "test-req-42")
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "test-req-42");
    let r = c.get(s.url("/healthz")).send().unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());

    let keys = json_ok(
        c.get(s.url("/v1/api-keys"))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        200,
    );
    let admin_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(keys["items"][0]["role"], "admin");
    assert!(
        keys["items"][0].get("secret").is_none(),
        "secrets are never listed"
    );

    let (arch_id, arch) = create_key(
        &s,
        &admin,
        json!({"role": "archivist", "label": "records office"}),
    );
    let (_, auditor) = create_key(&s, &admin, json!({"role": "auditor"}));

    // From here on, every request is refused: nothing may be stored.
    let records = archive_records(&s);
    let keys_before = key_count(&s, &admin);

    // 401: no key, a malformed header, an unknown key.
    let r = c.get(s.url("/v1/api-keys")).send().unwrap();
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_problem(r, 401, "unauthorized");
    assert_problem(
        c.get(s.url("/v1/api-keys"))
            .header("authorization", "Basic YTpi")
            .send()
            .unwrap(),
        401,
        "unauthorized",
    );
    assert_problem(
        c.get(s.url("/v1/api-keys"))
            .bearer_auth("chop_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .send()
            .unwrap(),
        401,
        "unauthorized",
    );
    assert_problem(
        c.post(s.url("/v1/api-keys"))
            .json(&json!({"role": "admin"}))
            .send()
            .unwrap(),
        401,
        "unauthorized",
    );
    // 403: the wrong role.
    assert_problem(
        c.post(s.url("/v1/api-keys"))
            .bearer_auth(&arch)
            .json(&json!({"role": "admin"}))
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    assert_problem(
        c.get(s.url("/v1/api-keys"))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    assert_problem(
        post_pdf(
            &s,
            "/v1/archive/ingest",
            Some(&auditor),
            b"%PDF-1.7\n".to_vec(),
        ),
        403,
        "forbidden",
    );

    // Bad JSON: syntax, shape, unknown fields, missing organisation, media type, size.
    let post_key = |body: &'static str, ct: &str| {
        c.post(s.url("/v1/api-keys"))
            .bearer_auth(&admin)
            .header("content-type", ct)
            .body(body)
            .send()
            .unwrap()
    };
    assert_problem(
        post_key("{\"role\": ", "application/json"),
        400,
        "malformed-json",
    );
    let v = assert_problem(
        post_key("{\"role\": \"boss\"}", "application/json"),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "role", "{v}");
    let v = assert_problem(
        post_key(
            "{\"role\": \"auditor\", \"colour\": \"red\"}",
            "application/json",
        ),
        422,
        "validation-failed",
    );
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{v}"
    );
    let v = assert_problem(
        post_key("{\"role\": \"issuer\"}", "application/json"),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "org_id", "{v}");
    let v = assert_problem(
        post_key(
            "{\"role\": \"issuer\", \"org_id\": \"org_nope\"}",
            "application/json",
        ),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "org_id", "{v}");
    let v = assert_problem(
        post_key(
            "{\"role\": \"auditor\", \"org_id\": \"org_x\"}",
            "application/json",
        ),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "org_id", "{v}");
    assert_problem(
        post_key("role=admin", "text/plain"),
        415,
        "unsupported-media-type",
    );
    let big = json!({"role": "auditor", "label": "x".repeat(5000)}).to_string();
    assert_problem(
        c.post(s.url("/v1/api-keys"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .unwrap(),
        413,
        "payload-too-large",
    );

    // Bad uploads: not a PDF, the wrong media type, too large, a form without a file.
    assert_problem(
        post_pdf(&s, "/v1/verify", None, "hello, not a PDF"),
        422,
        "not-a-pdf",
    );
    assert_problem(
        c.post(s.url("/v1/verify"))
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .unwrap(),
        415,
        "unsupported-media-type",
    );
    let mut huge = b"%PDF-1.7\n".to_vec();
    huge.resize(70_000, b' ');
    assert_problem(
        post_pdf(&s, "/v1/verify", None, huge.clone()),
        413,
        "payload-too-large",
    );
    assert_problem(
        post_pdf(&s, "/v1/archive/ingest", Some(&arch), huge),
        413,
        "payload-too-large",
    );
    let v = assert_problem(
        c.post(s.url("/v1/verify"))
            .multipart(multipart::Form::new().text("note", "no file here"))
            .send()
            .unwrap(),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "file");
    assert_problem(
        c.post(s.url("/v1/archive/ingest"))
            .bearer_auth(&arch)
            .multipart(multipart::Form::new().part(
                "file",
                multipart::Part::bytes(b"GIF89a not a pdf".to_vec()).file_name("x.pdf"),
            ))
            .send()
            .unwrap(),
        422,
        "not-a-pdf",
    );
    let v = assert_problem(
        post_pdf(
            &s,
            "/v1/archive/ingest?retention=forever",
            Some(&arch),
            b"%PDF-1.7\n".to_vec(),
        ),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "retention");

    // Unknown routes and methods; bad paging.
    assert_problem(
        c.get(s.url("/v1/nothing-here")).send().unwrap(),
        404,
        "not-found",
    );
    let r = c.delete(s.url("/healthz")).send().unwrap();
    assert!(r.headers().contains_key("allow"));
    assert_problem(r, 405, "method-not-allowed");
    let v = assert_problem(
        c.get(s.url("/v1/api-keys?cursor=garbage!"))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        422,
        "validation-failed",
    );
    assert_eq!(v["errors"][0]["field"], "cursor");
    assert_problem(
        c.get(s.url("/v1/api-keys?limit=0"))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        422,
        "validation-failed",
    );
    assert_problem(
        c.get(s.url("/v1/archive/records/999999"))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        404,
        "not-found",
    );
    assert_problem(
        c.get(s.url("/v1/archive/records/minus-one"))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        422,
        "validation-failed",
    );

    // Nothing was stored by any refused request.
    assert_eq!(
        archive_records(&s),
        records,
        "a refused request appended a record"
    );
    assert_eq!(
        key_count(&s, &admin),
        keys_before,
        "a refused request stored a key"
    );

    // Paging walks every key exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = s.url("/v1/api-keys?limit=1");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json_ok(c.get(url).bearer_auth(&admin).send().unwrap(), 200);
        for k in page["items"].as_array().unwrap() {
            seen.push(k["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.contains(&arch_id) && seen.contains(&admin_id));

    // Revocation: the key stops working; the last admin key cannot be revoked.
    let revoked = json_ok(
        c.delete(s.url(&format!("/v1/api-keys/{arch_id}")))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        200,
    );
    assert!(revoked["revoked"].is_string(), "{revoked}");
    assert_problem(
        c.get(s.url("/v1/archive/records/0"))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        401,
        "unauthorized",
    );
    assert_problem(
        c.delete(s.url(&format!("/v1/api-keys/{admin_id}")))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        409,
        "conflict",
    );
    assert_problem(
        c.delete(s.url("/v1/api-keys/ak_0000000000000000"))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        404,
        "not-found",
    );

    // Every key change is a record by the admin key.
    let log = all_records(&s, &auditor);
    let about = |kind: RecordKind, id: &str| {
        log.iter()
            .find(|r| r.kind == kind && r.subject == vec![format!("apikey:{id}")])
            .unwrap_or_else(|| panic!("no {kind} record for {id}"))
            .clone()
    };
    assert_eq!(about(RecordKind::KeyCreated, &admin_id).actor, "system");
    assert_eq!(
        about(RecordKind::KeyCreated, &arch_id).actor,
        format!("apikey:{admin_id}")
    );
    assert_eq!(
        about(RecordKind::KeyRevoked, &arch_id).actor,
        format!("apikey:{admin_id}")
    );
    assert_eq!(
        about(RecordKind::KeyCreated, &arch_id).payload["role"],
        "archivist"
    );

    assert!(!s.log_text().contains(&arch), "a secret reached the log");
    let status = s.stop();
    assert!(status.success(), "chop serve exited with {status:?}");

    // A later start keeps the key file and makes no new admin key.
    let s = Server::start(&data, db, &limits);
    assert_eq!(s.printed_admin_key(), None, "{:?}", s.banner);
    assert!(
        s.banner.iter().any(|l| l.contains("admin-api-key")),
        "{:?}",
        s.banner
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), admin);
    assert_eq!(key_count(&s, &admin), 3);
    let status = s.stop();
    assert!(status.success(), "chop serve exited with {status:?}");
}

/// Verification, ingest, checkpoints, proofs, export, OpenAPI and Swagger UI.
fn verify_archive_and_export(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let sealed = pki.sealed_pdf("Licence");
    let sealed2 = pki.sealed_pdf("Permit");
    let data = dir.path().join("data");
    let root = pki.root();
    let s = Server::start(&data, db, &[("CHOP_TRUST_ANCHORS", root.to_str().unwrap())]);
    let c = client();
    let admin = s.printed_admin_key().unwrap();
    let (arch_id, arch) = create_key(&s, &admin, json!({"role": "archivist"}));
    let (_, auditor) = create_key(&s, &admin, json!({"role": "auditor"}));

    // Verification: raw body and multipart, the same report as `chop verify --json`.
    let report = json_ok(post_pdf(&s, "/v1/verify", None, sealed.clone()), 200);
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1, "{report}");
    assert_eq!(sigs[0]["indication"], "TOTAL-PASSED", "{report}");
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(sealed.clone()).file_name("licence.pdf"),
    );
    let report2 = json_ok(
        c.post(s.url("/v1/verify")).multipart(form).send().unwrap(),
        200,
    );
    assert_eq!(report2["signatures"][0]["indication"], "TOTAL-PASSED");
    let cli_file = dir.path().join("cli.pdf");
    std::fs::write(&cli_file, &sealed).unwrap();
    let cli: Value = serde_json::from_str(&chop_ok(&[
        "verify",
        "--json",
        "--trust",
        root.to_str().unwrap(),
        cli_file.to_str().unwrap(),
    ]))
    .unwrap();
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(shape(&report), shape(&cli));
    assert_eq!(report["document"], cli["document"]);

    // A tampered copy fails; an unsigned PDF has no signature.
    let mut tampered = sealed.clone();
    let at = tampered
        .windows(3)
        .position(|w| w == b"(Li")
        .expect("the page text is in the PDF");
    tampered[at + 1] = b'X';
    let bad = json_ok(post_pdf(&s, "/v1/verify", None, tampered.clone()), 200);
    assert_eq!(bad["signatures"][0]["indication"], "TOTAL-FAILED", "{bad}");
    assert_problem(
        post_pdf(&s, "/v1/verify", None, server_support::base_pdf("unsigned")),
        422,
        "no-signature",
    );

    // Ingest: recorded by the archivist key; a retry with the same Idempotency-Key appends
    // nothing; a tampered document is refused and nothing is stored.
    let v = verifier(&s);
    let ingest = || {
        c.post(s.url("/v1/archive/ingest?retention=30y&note=first"))
            .bearer_auth(&arch)
            .header("content-type", "application/pdf")
            .header("idempotency-key", "scan-0001")
            .body(sealed.clone())
            .send()
            .unwrap()
    };
    let first = json_ok(ingest(), 201);
    assert_eq!(first["indication"], "TOTAL-PASSED");
    assert_eq!(first["retention"], "30y");
    let again = json_ok(ingest(), 200);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["duplicate"], true);
    let seq = first["seq"].as_u64().unwrap();
    let before = archive_records(&s);
    assert_problem(
        post_pdf(&s, "/v1/archive/ingest", Some(&arch), tampered),
        422,
        "document-refused",
    );
    assert_eq!(archive_records(&s), before);

    let r = c
        .get(s.url(&format!("/v1/archive/records/{seq}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let record_bytes = r.bytes().unwrap().to_vec();
    let record = Record::from_canonical_bytes(&record_bytes).unwrap();
    assert_eq!(record.kind, RecordKind::DocumentIngested);
    assert_eq!(record.actor, format!("apikey:{arch_id}"));
    assert_eq!(record.payload["note"], "first");

    // Checkpoint and inclusion proof, checked with chop_archive's verifiers.
    let cp1 = checkpoint(&s, &v);
    let proof = json_ok(
        c.get(s.url(&format!("/v1/archive/proofs/inclusion?seq={seq}")))
            .bearer_auth(&auditor)
            .send()
            .unwrap(),
        200,
    );
    let checked = verify_proof_file(proof["tlog_proof"].as_str().unwrap().as_bytes(), &v, None)
        .expect("the tlog-proof verifies");
    assert_eq!(checked.index, seq);
    assert_eq!(checked.record_bytes, record_bytes);
    let hashes: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64(h.as_str().unwrap()))
        .collect();
    let size = proof["tree_size"].as_u64().unwrap();
    let signed = SignedCheckpoint::open(proof["checkpoint"].as_str().unwrap(), &v).unwrap();
    verify_inclusion(
        seq,
        size,
        &leaf_hash(&record_bytes),
        &hashes,
        &signed.checkpoint.root,
    )
    .expect("the inclusion proof verifies");
    assert_eq!(
        b64(proof["leaf_hash"].as_str().unwrap()),
        leaf_hash(&record_bytes)
    );

    // More records, a newer checkpoint, and a consistency proof between the two.
    let form = multipart::Form::new()
        .part(
            "file",
            multipart::Part::bytes(sealed2).file_name("permit.pdf"),
        )
        .text("retention", "10y");
    let second = json_ok(
        c.post(s.url("/v1/archive/ingest"))
            .bearer_auth(&arch)
            .multipart(form)
            .send()
            .unwrap(),
        201,
    );
    assert_eq!(second["retention"], "10y");
    let cp2 = checkpoint(&s, &v);
    let (m, n) = (cp1.checkpoint.size, cp2.checkpoint.size);
    assert!(n > m);
    let cons = json_ok(
        c.get(s.url(&format!("/v1/archive/proofs/consistency?from={m}")))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(cons["to"].as_u64(), Some(n));
    let hashes: Vec<Hash> = cons["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64(h.as_str().unwrap()))
        .collect();
    verify_consistency(m, n, &cp1.checkpoint.root, &cp2.checkpoint.root, &hashes)
        .expect("the consistency proof verifies");
    // A proof against the older, stored checkpoint; sizes never signed are refused.
    let old = json_ok(
        c.get(s.url(&format!("/v1/archive/proofs/inclusion?seq={seq}&size={m}")))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(old["tree_size"].as_u64(), Some(m));
    assert_problem(
        c.get(s.url(&format!(
            "/v1/archive/proofs/inclusion?seq={seq}&size={}",
            n + 100
        )))
        .bearer_auth(&arch)
        .send()
        .unwrap(),
        422,
        "not-provable",
    );
    assert_problem(
        c.get(s.url(&format!(
            "/v1/archive/proofs/consistency?from={}&to={m}",
            m + 1
        )))
        .bearer_auth(&arch)
        .send()
        .unwrap(),
        422,
        "validation-failed",
    );
    assert_problem(
        c.get(s.url("/v1/archive/proofs/inclusion"))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        422,
        "validation-failed",
    );

    // Export as a job: 202, progress, then the zip, which verifies offline.
    let v422 = assert_problem(
        c.post(s.url("/v1/archive/exports"))
            .bearer_auth(&arch)
            .json(&json!({"kinds": ["no.such.kind"]}))
            .send()
            .unwrap(),
        422,
        "validation-failed",
    );
    assert_eq!(v422["errors"][0]["field"], "kinds[0]");
    let r = c
        .post(s.url("/v1/archive/exports"))
        .bearer_auth(&arch)
        .send()
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let job = json_ok(r, 202);
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/archive/exports/{id}"));
    let mut done = Value::Null;
    for _ in 0..1200 {
        done = json_ok(
            c.get(s.url(&location))
                .bearer_auth(&auditor)
                .send()
                .unwrap(),
            200,
        );
        if done["status"] == "succeeded" || done["status"] == "failed" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log_text());
    assert_eq!(done["progress"], done["total"]);
    let url = done["package_url"].as_str().unwrap();
    let r = c.get(url).bearer_auth(&auditor).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().unwrap();
    assert_eq!(Some(zip.len() as u64), done["package_size"].as_u64());
    assert!(zip.starts_with(b"PK"));
    let pkg = dir.path().join("package.zip");
    std::fs::write(&pkg, &zip).unwrap();
    let out = chop_ok(&[
        "archive",
        "verify-package",
        pkg.to_str().unwrap(),
        "--key",
        &v.key_string(),
    ]);
    assert!(out.contains("package OK"), "{out}");
    assert_problem(
        c.get(s.url("/v1/archive/exports/job_0000000000000000"))
            .bearer_auth(&arch)
            .send()
            .unwrap(),
        404,
        "not-found",
    );
    let exported = all_records(&s, &auditor)
        .into_iter()
        .find(|r| r.kind == RecordKind::PackageExported)
        .expect("a package.exported record");
    assert_eq!(exported.actor, format!("apikey:{arch_id}"));

    // OpenAPI 3.1 covers every route; Swagger UI comes from the binary, not a CDN.
    let doc = json_ok(c.get(s.url("/openapi.json")).send().unwrap(), 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/verify", "post"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys", "get"),
        ("/v1/api-keys/{id}", "delete"),
        ("/v1/archive/checkpoint", "get"),
        ("/v1/archive/pubkey", "get"),
        ("/v1/archive/records/{seq}", "get"),
        ("/v1/archive/proofs/inclusion", "get"),
        ("/v1/archive/proofs/consistency", "get"),
        ("/v1/archive/ingest", "post"),
        ("/v1/archive/exports", "post"),
        ("/v1/archive/exports/{id}", "get"),
        ("/v1/archive/exports/{id}/package", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(
        doc["components"]["schemas"]["VerificationReport"]["properties"]["signatures"].is_object()
    );
    let r = c.get(s.url("/docs/")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().unwrap();
    assert!(html.contains("swagger"), "{html}");
    for needle in ["https://", "http://", "//cdn", "unpkg"] {
        assert!(
            !html.contains(needle),
            "/docs/ loads something from outside: {needle}\n{html}"
        );
    }
    let init = c.get(s.url("/docs/swagger-initializer.js")).send().unwrap();
    assert_eq!(init.status().as_u16(), 200);
    assert!(init.text().unwrap().contains("/openapi.json"));

    // Metrics saw the verifications.
    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("chop_verifications_total{indication=\"TOTAL-PASSED\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "chop_http_requests_total{route=\"/v1/verify\",method=\"POST\",status=\"200\"}"
        )
    );
    assert!(
        metrics.contains("chop_http_request_duration_seconds_bucket{route=\"/v1/archive/ingest\"")
    );

    let status = s.stop();
    assert!(status.success(), "chop serve exited with {status:?}");
    // The archive was closed cleanly: the CLI finds it whole.
    let mut args = vec!["archive", "verify", "--data-dir", data.to_str().unwrap()];
    if let Some(url) = db {
        args.extend(["--db", url]);
    }
    let out = chop_ok(&args);
    assert!(out.starts_with("archive OK"), "{out}");
}

#[test]
fn keys_auth_and_bad_input_on_sqlite() {
    keys_auth_and_bad_input(None);
}

#[test]
fn keys_auth_and_bad_input_on_postgres() {
    if let Some(db) = common::PgDb::create("srv_keys") {
        keys_auth_and_bad_input(Some(&db.url));
    }
}

#[test]
fn verify_archive_and_export_on_sqlite() {
    verify_archive_and_export(None);
}

#[test]
fn verify_archive_and_export_on_postgres() {
    if let Some(db) = common::PgDb::create("srv_archive") {
        verify_archive_and_export(Some(&db.url));
    }
}

/// Public endpoints are rate-limited per client address (429 problem with Retry-After);
/// operations endpoints are not.
#[test]
fn public_endpoints_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        None,
        &[
            ("CHOP_PUBLIC_RATE_PER_SECOND", "1"),
            ("CHOP_PUBLIC_BURST", "2"),
        ],
    );
    let c = client();
    let mut limited = None;
    for _ in 0..20 {
        let r = c.get(s.url("/v1/archive/pubkey")).send().unwrap();
        if r.status().as_u16() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("20 rapid requests with a burst of 2 were never limited");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_problem(r, 429, "rate-limited");
    for _ in 0..10 {
        assert_eq!(
            c.get(s.url("/healthz")).send().unwrap().status().as_u16(),
            200
        );
    }
    assert!(s.stop().success());
}

/// Configuration errors stop the server at once with exit code 3 and name the setting.
#[test]
fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chop.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nno_such_setting = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chop"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .env("CHOP_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_setting"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chop"))
        .args(["serve"])
        .env("CHOP_LISTEN", "not an address")
        .env("CHOP_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHOP_LISTEN"));
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created on a refused start"
    );
}

/// SIGTERM lets a running export job finish before the process exits (0); after a restart the
/// job is `succeeded` and its package downloads.
#[test]
fn sigterm_lets_export_jobs_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, None, &[]);
    let admin = s.printed_admin_key().unwrap();
    let c = client();
    let job = json_ok(
        c.post(s.url("/v1/archive/exports"))
            .bearer_auth(&admin)
            .json(&json!({}))
            .send()
            .unwrap(),
        202,
    );
    let id = job["id"].as_str().unwrap().to_owned();
    let status = s.stop();
    assert!(status.success(), "chop serve exited with {status:?}");

    let s = Server::start(&data, None, &[]);
    let job = json_ok(
        c.get(s.url(&format!("/v1/archive/exports/{id}")))
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(job["status"], "succeeded", "{job}");
    let r = c
        .get(job["package_url"].as_str().unwrap())
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().unwrap().starts_with(b"PK"));
    assert!(s.stop().success());
}
