//! The whole story over real HTTP against a spawned `chop serve` (issue 7 §7), on SQLite and —
//! when `DATABASE_URL` is set (mandatory in CI) — PostgreSQL:
//!
//! admin creates a bureau, a seal and an issuer key → the issuer issues a licence → anyone
//! verifies it → the issuer revokes it → status and verification show revoked → an archivist
//! exports a package → the package verifies offline (`chop archive verify-package`).
//!
//! And the registry's refusals: no key, a wrong key, a wrong role, another organisation's seal
//! or licence → 401/403/404 with problem+json and nothing stored; a bad USCC, bad licence data,
//! malformed JSON, a non-PDF upload → problem+json and nothing stored.

mod common;
mod server_support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use server_support::{Server, assert_problem, base_pdf, chop_ok, client, json_ok, post_pdf};

const BUREAU_USCC: &str = "91350100M000100Y43";

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn post_json(
    s: &Server,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::blocking::Response {
    let mut r = client().post(s.url(path)).json(body);
    if let Some(k) = key {
        r = r.header("authorization", bearer(k));
    }
    r.send().unwrap()
}

fn get(s: &Server, path: &str, key: Option<&str>) -> reqwest::blocking::Response {
    let mut r = client().get(s.url(path));
    if let Some(k) = key {
        r = r.header("authorization", bearer(k));
    }
    r.send().unwrap()
}

/// How many records the log holds (from the metrics).
fn records(s: &Server) -> u64 {
    let text = get(s, "/metrics", None).text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("chop_archive_records "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no chop_archive_records in\n{text}"))
}

fn story(dir: &Path, db: Option<&str>) {
    let data = dir.join("data");
    let s = Server::start(&data, db, &[("CHOP_PUBLIC_RATE_PER_SECOND", "0")]);
    let admin = s
        .printed_admin_key()
        .expect("first start prints the admin key");
    assert!(
        s.banner.iter().any(|l| l.contains("DEVELOPMENT PKI")),
        "first start announces the development PKI and bureau: {:?}",
        s.banner
    );

    // Admin: a bureau (a bad USCC is refused naming the expected check character), a seal, an
    // issuer key, an archivist key.
    let before = records(&s);
    let p = assert_problem(
        post_json(
            &s,
            "/v1/organisations",
            Some(&admin),
            &json!({"uscc": "91350100M000100Y44", "name": "福州市示例区行政审批局"}),
        ),
        422,
        "validation-failed",
    );
    assert!(p.to_string().contains("'3'"), "{p}");
    assert_eq!(
        records(&s),
        before,
        "nothing stored for a refused organisation"
    );
    let org = json_ok(
        post_json(
            &s,
            "/v1/organisations",
            Some(&admin),
            &json!({"uscc": BUREAU_USCC, "name": "福州市示例区行政审批局"}),
        ),
        201,
    );
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert_problem(
        post_json(
            &s,
            "/v1/organisations",
            Some(&admin),
            &json!({"uscc": BUREAU_USCC, "name": "again"}),
        ),
        409,
        "conflict",
    );
    let seal = json_ok(
        post_json(
            &s,
            "/v1/seals",
            Some(&admin),
            &json!({"org_id": org_id, "name": "电子证照专用章", "seal_type": "licence"}),
        ),
        201,
    );
    let seal_id = seal["id"].as_str().unwrap().to_owned();
    assert!(seal.get("private_key_pem").is_none() && !seal.to_string().contains("PRIVATE KEY"));
    let picture = get(&s, &format!("/v1/seals/{seal_id}/picture"), Some(&admin));
    assert_eq!(picture.status().as_u16(), 200);
    assert!(picture.bytes().unwrap().starts_with(b"\x89PNG"));
    let issuer = json_ok(
        post_json(
            &s,
            "/v1/api-keys",
            Some(&admin),
            &json!({"role": "issuer", "org_id": org_id, "label": "福州 issuing desk"}),
        ),
        201,
    );
    let issuer_key = issuer["secret"].as_str().unwrap().to_owned();
    let archivist = json_ok(
        post_json(
            &s,
            "/v1/api-keys",
            Some(&admin),
            &json!({"role": "archivist"}),
        ),
        201,
    );
    let archivist_key = archivist["secret"].as_str().unwrap().to_owned();

    // The development bureau's seal belongs to another organisation.
    let seals = json_ok(get(&s, "/v1/seals", Some(&admin)), 200);
    let other_seal = seals["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["org_id"] != org_id.as_str())
        .expect("the development bureau's seal")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Auth: no key, a wrong key, a wrong role, another organisation's seal: nothing stored.
    let example = json_ok(
        get(&s, "/v1/licence-types/food-business/example", None),
        200,
    );
    let issue = json!({"type": "food-business", "data": example});
    let before = records(&s);
    assert_problem(
        post_json(&s, "/v1/licences", None, &issue),
        401,
        "unauthorized",
    );
    assert_problem(
        post_json(&s, "/v1/licences", Some("chop_not-a-real-key"), &issue),
        401,
        "unauthorized",
    );
    assert_problem(
        post_json(&s, "/v1/licences", Some(&archivist_key), &issue),
        403,
        "forbidden",
    );
    let mut with_other_seal = issue.clone();
    with_other_seal["seal_id"] = json!(other_seal);
    assert_problem(
        post_json(&s, "/v1/licences", Some(&issuer_key), &with_other_seal),
        403,
        "forbidden",
    );
    let mut other_org = issue.clone();
    other_org["org_id"] = json!("org_someoneelse");
    assert_problem(
        post_json(&s, "/v1/licences", Some(&issuer_key), &other_org),
        403,
        "forbidden",
    );
    let r = post_pdf(
        &s,
        &format!("/v1/sign?seal_id={other_seal}"),
        Some(&issuer_key),
        base_pdf("not yours"),
    );
    assert_problem(r, 403, "forbidden");

    // Bad input: bad data (every field named), malformed JSON, a non-PDF upload.
    let mut bad = issue.clone();
    bad["data"]["credit_code"] = json!("91320105MA1Y8K3N2X");
    let p = assert_problem(
        post_json(&s, "/v1/licences", Some(&issuer_key), &bad),
        422,
        "validation-failed",
    );
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.to_string().contains("credit_code")),
        "{p}"
    );
    let r = client()
        .post(s.url("/v1/licences"))
        .header("authorization", bearer(&issuer_key))
        .header("content-type", "application/json")
        .body("{\"type\": ")
        .send()
        .unwrap();
    assert_problem(r, 400, "malformed-json");
    let r = post_pdf(
        &s,
        &format!("/v1/sign?seal_id={seal_id}"),
        Some(&issuer_key),
        b"GIF89a not a pdf".to_vec(),
    );
    assert_problem(r, 422, "not-a-pdf");
    assert_eq!(records(&s), before, "refused requests store nothing");

    // The issuer issues a licence (Idempotency-Key: a retry returns it).
    let r = client()
        .post(s.url("/v1/licences"))
        .header("authorization", bearer(&issuer_key))
        .header("idempotency-key", "desk-1-0001")
        .json(&issue)
        .send()
        .unwrap();
    let licence = json_ok(r, 201);
    let id = licence["identifier"].as_str().unwrap().to_owned();
    let public_id = licence["public_id"].as_str().unwrap().to_owned();
    assert_eq!(licence["issuer_uscc"], BUREAU_USCC);
    assert_eq!(licence["seal_id"], seal_id.as_str());
    assert_eq!(
        licence["verify_url"],
        format!("{}/v/{public_id}", s.url("")).as_str()
    );
    let size = records(&s);
    let r = client()
        .post(s.url("/v1/licences"))
        .header("authorization", bearer(&issuer_key))
        .header("idempotency-key", "desk-1-0001")
        .json(&issue)
        .send()
        .unwrap();
    assert_eq!(json_ok(r, 200)["identifier"], id.as_str());
    assert_eq!(records(&s), size, "a replay appends nothing");
    let pdf = get(&s, &format!("/v1/licences/{id}/pdf"), Some(&issuer_key))
        .bytes()
        .unwrap()
        .to_vec();
    assert!(pdf.starts_with(b"%PDF-"));
    // Another organisation's issuer cannot see it.
    let dev_org = json_ok(get(&s, "/v1/organisations", Some(&admin)), 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["uscc"] != BUREAU_USCC)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_issuer = json_ok(
        post_json(
            &s,
            "/v1/api-keys",
            Some(&admin),
            &json!({"role": "issuer", "org_id": dev_org}),
        ),
        201,
    )["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        get(&s, &format!("/v1/licences/{id}"), Some(&other_issuer)),
        404,
        "not-found",
    );
    assert_problem(
        post_json(
            &s,
            &format!("/v1/licences/{id}/revoke"),
            Some(&other_issuer),
            &json!({"reason": "not mine"}),
        ),
        404,
        "not-found",
    );

    // Anyone verifies it, and reads its status.
    let verify = |bytes: &[u8]| -> Value {
        let r = client()
            .post(s.url("/v1/verify"))
            .header("content-type", "application/pdf")
            .body(bytes.to_vec())
            .send()
            .unwrap();
        json_ok(r, 200)
    };
    let report = verify(&pdf);
    assert_eq!(
        report["signatures"][0]["indication"], "TOTAL-PASSED",
        "{report}"
    );
    let status = json_ok(
        get(&s, &format!("/v1/licences/{public_id}/status"), None),
        200,
    );
    assert_eq!(status["status"], "valid");
    assert_eq!(status["status_zh"], "有效");
    assert!(status["holder"].as_str().unwrap().contains('*'));
    assert!(
        status["holder_code"]
            .as_str()
            .unwrap()
            .contains("**********")
    );
    assert!(
        !status
            .to_string()
            .contains(licence["holder_code"].as_str().unwrap())
    );

    // The issuer revokes it: the status shows it; the document still verifies as sealed (the
    // seal is intact) while the registry says revoked.
    let revoked = json_ok(
        post_json(
            &s,
            &format!("/v1/licences/{id}/revoke"),
            Some(&issuer_key),
            &json!({"reason": "以欺骗手段取得许可"}),
        ),
        200,
    );
    assert_eq!(revoked["status"], "revoked");
    let status = json_ok(
        get(&s, &format!("/v1/licences/{public_id}/status"), None),
        200,
    );
    assert_eq!(status["status"], "revoked");
    assert_eq!(status["status_zh"], "已吊销");
    assert_problem(
        post_json(
            &s,
            &format!("/v1/licences/{id}/suspend"),
            Some(&issuer_key),
            &json!({"reason": "too late"}),
        ),
        409,
        "conflict",
    );
    let listed = json_ok(
        get(&s, "/v1/licences?status=revoked", Some(&issuer_key)),
        200,
    );
    assert_eq!(listed["items"][0]["identifier"], id.as_str());

    // Sealing any PDF with the bureau's seal, archived as document.sealed.
    let r = post_pdf(
        &s,
        &format!("/v1/sign?seal_id={seal_id}&page=1&x=120&y=40"),
        Some(&issuer_key),
        base_pdf("准予行政许可决定书"),
    );
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("x-chop-record-seq").is_some());
    let sealed = r.bytes().unwrap().to_vec();
    assert_eq!(
        verify(&sealed)["signatures"][0]["indication"],
        "TOTAL-PASSED"
    );

    // An archivist exports a package; it verifies offline.
    let job = json_ok(
        post_json(&s, "/v1/archive/exports", Some(&archivist_key), &json!({})),
        202,
    );
    let job_id = job["id"].as_str().unwrap().to_owned();
    let mut done = false;
    for _ in 0..600 {
        let st = json_ok(
            get(
                &s,
                &format!("/v1/archive/exports/{job_id}"),
                Some(&archivist_key),
            ),
            200,
        );
        match st["status"].as_str() {
            Some("succeeded") => {
                done = true;
                break;
            }
            Some("failed") => panic!("export failed: {st}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    assert!(done, "the export did not finish");
    let zip = get(
        &s,
        &format!("/v1/archive/exports/{job_id}/package"),
        Some(&archivist_key),
    )
    .bytes()
    .unwrap();
    let zip_path = dir.join("package.zip");
    std::fs::write(&zip_path, &zip).unwrap();
    let report = chop_ok(&["archive", "verify-package", zip_path.to_str().unwrap()]);
    assert!(!report.is_empty());

    // Every change of the story is an archive record.
    let log_args: Vec<String> = {
        let mut v = vec!["archive".to_string(), "log".to_string()];
        v.extend(common::storage_args(&data, db));
        v
    };
    let exit = s.stop();
    assert!(exit.success(), "{exit:?}");
    let args: Vec<&str> = log_args.iter().map(String::as_str).collect();
    let log = chop_ok(&args);
    for kind in [
        "organisation.created",
        "seal.created",
        "key.created",
        "licence.issued",
        "licence.revoked",
        "document.sealed",
        "package.exported",
    ] {
        assert!(log.contains(kind), "{kind} missing from the log:\n{log}");
    }
}

#[test]
fn the_whole_story_over_http_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    story(dir.path(), None);
}

#[test]
fn the_whole_story_over_http_on_postgres() {
    let Some(db) = common::PgDb::create("srv_story") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    story(dir.path(), Some(&db.url));
}
