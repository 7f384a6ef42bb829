//! Schemathesis against `chop serve` (issue 7 §7): the OpenAPI description at `/openapi.json`
//! drives property-based requests at a spawned server (SQLite, temporary data folder, public
//! rate limit off), and no request may get a server error or a response that contradicts the
//! description. Schemathesis is an outside judge from the interop venv (`$CHOP_VENV`, pinned in
//! scripts/requirements-judges.txt): with `CI=true` a missing one is a failure, otherwise the
//! test is skipped LOUDLY.
//!
//! Before the runs the test makes the data that lets requests reach past "not found": an issuer
//! key, an archivist key, a second organisation with a seal, an issued licence and an export
//! job. Their ids go into schemathesis.toml as dictionaries that path and query parameters draw
//! from half of the time (the other half stays random), so `GET /v1/licences/{id}`, a licence's
//! suspension or revocation, `/v1/sign?seal_id=…` and the public status meet real rows. Then four
//! runs, each with its own `Authorization` header:
//! 1. an issuer key on the registry (organisations, seals, sealing, licences, public);
//! 2. an archivist key on the archive (records, proofs, ingest, exports);
//! 3. the admin key on every operation but `DELETE /v1/api-keys/{id}` — its stateful phase would
//!    otherwise create a second admin key and then revoke the one the run is using, leaving every
//!    later request a 401;
//! 4. the admin key on `DELETE /v1/api-keys/{id}` alone, without the stateful phase.
//!
//! `CHOP_SCHEMATHESIS_SEED` and `CHOP_SCHEMATHESIS_EXAMPLES` (per operation) override the fixed
//! seed and the example count, e.g. for a longer run by hand.

mod common;
mod server_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use server_support::{Server, base_pdf, client, json_ok};

/// The checks that decide the test.
///
/// - `not_a_server_error`: no 5xx, ever.
/// - `status_code_conformance`: every status the server answers is documented for the
///   operation. `response_schema_conformance` only judges documented statuses, so this is what
///   catches a `#[utoipa::path]` that forgot its 401/403/413/415/422 problem.
/// - `response_schema_conformance`: the body matches the documented schema of its status.
/// - `content_type_conformance`: the `Content-Type` is the documented one (problem+json for
///   errors).
///
/// Left out on purpose: `positive_data_acceptance` (and `negative_data_rejection`). Much of the
/// API's validation is rules that JSON Schema cannot state — a USCC's check character, a seal
/// that belongs to another organisation, a licence type's fields, a PDF that must parse, a
/// reason required for a revocation — so a request that is valid by the schema is often, and
/// rightly, a 422 `validation-failed` problem. That is a documented answer, not a server error;
/// with these four checks a 422 is judged only for its status being documented, its
/// content type and its problem body.
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance";

/// A fixed seed, so a failure in CI replays with the same requests.
const DEFAULT_SEED: u64 = 20_261_122;

/// Test cases per operation and phase; with 2 workers all four runs take about a minute on
/// the shared 2-core machine (debug build).
const DEFAULT_EXAMPLES: u32 = 25;

/// The schemathesis CLI (`st`): `$CHOP_VENV/bin`, the workspace's `.venv-interop/bin`, or
/// `PATH`.
fn schemathesis() -> Option<PathBuf> {
    common::venv_judge(
        "schemathesis (st)",
        &["st", "schemathesis"],
        "scripts/test fills .venv-interop from scripts/requirements-judges.txt",
        "the schemathesis run did NOT happen",
    )
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// POSTs `body` as `key` and returns the JSON answer, asserting `status`.
fn post(s: &Server, key: &str, path: &str, body: &Value, status: u16) -> Value {
    json_ok(
        client()
            .post(s.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .unwrap(),
        status,
    )
}

fn string(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .to_owned()
}

/// The ids the dictionaries offer.
struct Data {
    issuer_key: String,
    archivist_key: String,
    orgs: Vec<String>,
    seals: Vec<String>,
    licences: Vec<String>,
    types: Vec<String>,
    jobs: Vec<String>,
    api_keys: Vec<String>,
}

/// Makes the keys and rows the runs start from.
fn seed(s: &Server, admin: &str) -> Data {
    let orgs_page = json_ok(
        client()
            .get(s.url("/v1/organisations"))
            .bearer_auth(admin)
            .send()
            .unwrap(),
        200,
    );
    let bureau = string(&orgs_page["items"][0], "id");
    let issuer = post(
        s,
        admin,
        "/v1/api-keys",
        &json!({"role": "issuer", "org_id": bureau, "label": "schemathesis issuer"}),
        201,
    );
    let archivist = post(
        s,
        admin,
        "/v1/api-keys",
        &json!({"role": "archivist", "label": "schemathesis archivist"}),
        201,
    );
    let issuer_key = string(&issuer, "secret");
    let archivist_key = string(&archivist, "secret");

    // A second organisation with a seal of its own: another organisation's seal for the issuer.
    let other = post(
        s,
        admin,
        "/v1/organisations",
        &json!({"uscc": "91320105MA1Y8K3N29", "name": "南京示例餐饮管理有限公司"}),
        201,
    );
    let other_id = string(&other, "id");
    let other_seal = post(
        s,
        admin,
        "/v1/seals",
        &json!({"org_id": other_id, "name": "合同专用章", "seal_type": "contract"}),
        201,
    );
    let seals_page = json_ok(
        client()
            .get(s.url("/v1/seals"))
            .bearer_auth(admin)
            .send()
            .unwrap(),
        200,
    );
    let mut seals: Vec<String> = seals_page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| string(v, "id"))
        .collect();
    assert!(seals.contains(&string(&other_seal, "id")));
    seals.sort();

    // Licence types and a licence of the first type, issued by the issuer.
    let types_list = json_ok(
        client().get(s.url("/v1/licence-types")).send().unwrap(),
        200,
    );
    let types: Vec<String> = types_list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| string(t, "key"))
        .collect();
    let example = json_ok(
        client()
            .get(s.url(&format!("/v1/licence-types/{}/example", types[0])))
            .send()
            .unwrap(),
        200,
    );
    let licence = json_ok(
        client()
            .post(s.url("/v1/licences"))
            .bearer_auth(&issuer_key)
            .header("Idempotency-Key", "schemathesis-seed-1")
            .json(&json!({"type": types[0], "data": example}))
            .send()
            .unwrap(),
        201,
    );
    let licences = vec![
        string(&licence, "identifier"),
        string(&licence, "public_id"),
    ];

    // An export job (the archivist's).
    let job = json_ok(
        client()
            .post(s.url("/v1/archive/exports"))
            .bearer_auth(&archivist_key)
            .json(&json!({}))
            .send()
            .unwrap(),
        202,
    );

    Data {
        issuer_key,
        archivist_key,
        orgs: vec![bureau, other_id],
        seals,
        licences,
        types,
        jobs: vec![string(&job, "id")],
        // Not the admin key's own id: run 4 may revoke whatever it is offered.
        api_keys: vec![string(&issuer, "id"), string(&archivist, "id")],
    }
}

/// `pdf` with one byte inside its first content stream changed (the signature no longer covers
/// what the file says).
fn tampered(pdf: &[u8]) -> Vec<u8> {
    let mut out = pdf.to_vec();
    let at = out
        .windows(7)
        .position(|w| w == b"stream\n")
        .map(|p| p + 7)
        .expect("the licence PDF has a stream");
    if let Some(b) = out.get_mut(at) {
        *b ^= 0x01;
    }
    out
}

fn toml_list(values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| serde_json::to_string(v).unwrap())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// schemathesis.toml: the dictionaries of real ids and which parameters draw from them.
fn config(d: &Data) -> String {
    let half = |dict: &str| format!("{{ dictionary = \"{dict}\", probability = 0.5 }}");
    format!(
        r#"# Written by api/tests/server_schemathesis.rs for one run.
request-timeout = 120

[dictionaries.orgs]
values = {orgs}
[dictionaries.seals]
values = {seals}
[dictionaries.licences]
values = {licences}
[dictionaries.types]
values = {types}
[dictionaries.jobs]
values = {jobs}
[dictionaries.api_keys]
values = {api_keys}

[[operations]]
include-path-regex = "^/v1/organisations/"
parameters = {{ "path.id" = {orgs_half} }}

[[operations]]
include-path-regex = "^/v1/seals/"
parameters = {{ "path.id" = {seals_half} }}

[[operations]]
include-path-regex = "^/v1/licences/"
parameters = {{ "path.id" = {licences_half} }}

[[operations]]
include-path-regex = "^/v1/licence-types/"
parameters = {{ "path.type" = {types_half} }}

[[operations]]
include-path-regex = "^/v1/archive/exports/"
parameters = {{ "path.id" = {jobs_half} }}

[[operations]]
include-path-regex = "^/v1/api-keys/"
parameters = {{ "path.id" = {keys_half} }}

[[operations]]
include-path = "/v1/sign"
parameters = {{ "query.seal_id" = {seals_half} }}

[[operations]]
include-path = "/v1/licences"
include-method = "POST"
parameters = {{ "body.type" = {types_half}, "body.org_id" = {orgs_half}, "body.seal_id" = {seals_half} }}

[[operations]]
include-path = "/v1/licences"
include-method = "GET"
parameters = {{ "query.org_id" = {orgs_half}, "query.type_code" = {types_half} }}

[[operations]]
include-path = "/v1/seals"
parameters = {{ "query.org_id" = {orgs_half}, "body.org_id" = {orgs_half} }}
"#,
        orgs = toml_list(&d.orgs),
        seals = toml_list(&d.seals),
        licences = toml_list(&d.licences),
        types = toml_list(&d.types),
        jobs = toml_list(&d.jobs),
        api_keys = toml_list(&d.api_keys),
        orgs_half = half("orgs"),
        seals_half = half("seals"),
        licences_half = half("licences"),
        types_half = half("types"),
        jobs_half = half("jobs"),
        keys_half = half("api_keys"),
    )
}

/// hooks.py: request bodies of `application/pdf` are mostly real documents (a plain PDF, the
/// sealed licence, the licence with one byte changed), so `/v1/verify`, `/v1/sign` and
/// `/v1/archive/ingest` answer with reports, sealed PDFs and records whose schemas are checked,
/// not only with `not-a-pdf` problems.
const HOOKS: &str = r#"# Written by api/tests/server_schemathesis.rs for one run.
import os

import schemathesis
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return f.read()


DOCUMENTS = [read(n) for n in ("plain.pdf", "licence.pdf", "tampered.pdf")]
schemathesis.openapi.media_type(
    "application/pdf",
    st.one_of(st.sampled_from(DOCUMENTS), st.binary(max_size=256)),
)
"#;

/// One `st run`.
struct Run<'a> {
    name: &'a str,
    key: &'a str,
    /// Extra filter and phase arguments.
    args: &'a [&'a str],
}

/// Runs schemathesis; returns its report if it found anything (or could not run).
fn run_schemathesis(st: &Path, cfg: &Path, s: &Server, run: &Run) -> Option<String> {
    let seed: u64 = env_number("CHOP_SCHEMATHESIS_SEED", DEFAULT_SEED);
    let examples: u32 = env_number("CHOP_SCHEMATHESIS_EXAMPLES", DEFAULT_EXAMPLES);
    let out = Command::new(st)
        .arg("--config-file")
        .arg(cfg)
        .arg("run")
        .arg(s.url("/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--workers", "2"])
        .arg("--no-color")
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", run.key))
        .args(run.args)
        // Schemathesis keeps a cache and reports in its working directory.
        .current_dir(cfg.parent().unwrap())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", cfg.with_file_name("hooks.py"))
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = report.lines().rev().take(3).collect();
    eprintln!(
        "schemathesis run `{}`: {} ({})",
        run.name,
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    );
    (!out.status.success()).then(|| {
        format!(
            "=== schemathesis run `{}` (seed {seed}, {examples} examples) failed: {} ===\n{report}",
            run.name, out.status
        )
    })
}

/// How often each route answered each status, from the server's JSON log: shows which
/// operations the runs reached past 401/404/422.
fn answers_by_route(log: &str) -> String {
    let mut counts: std::collections::BTreeMap<
        (String, String),
        std::collections::BTreeMap<u64, u32>,
    > = Default::default();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["fields"]["message"] != "request answered" {
            continue;
        }
        let (Some(route), Some(method), Some(status)) = (
            v["span"]["route"].as_str(),
            v["span"]["method"].as_str(),
            v["fields"]["status"].as_u64(),
        ) else {
            continue;
        };
        *counts
            .entry((route.to_owned(), method.to_owned()))
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    let mut out = String::from("answers by route (status×count):\n");
    for ((route, method), statuses) in counts {
        if statuses.keys().all(|s| *s == 405) {
            continue;
        }
        let list: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        out.push_str(&format!("  {method:6} {route}: {}\n", list.join(" ")));
    }
    out
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(st) = schemathesis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let s = Server::start(&data_dir, None, &[("CHOP_PUBLIC_RATE_PER_SECOND", "0")]);
    let admin = std::fs::read_to_string(data_dir.join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let data = seed(&s, &admin);
    let work = dir.path().join("schemathesis");
    std::fs::create_dir_all(&work).unwrap();
    let cfg = work.join("schemathesis.toml");
    std::fs::write(&cfg, config(&data)).unwrap();
    std::fs::write(work.join("hooks.py"), HOOKS).unwrap();
    std::fs::write(work.join("plain.pdf"), base_pdf("schemathesis")).unwrap();
    let licence_pdf = client()
        .get(s.url(&format!("/v1/licences/{}/pdf", data.licences[0])))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(licence_pdf.status().as_u16(), 200);
    let licence_pdf = licence_pdf.bytes().unwrap().to_vec();
    std::fs::write(work.join("licence.pdf"), &licence_pdf).unwrap();
    std::fs::write(work.join("tampered.pdf"), tampered(&licence_pdf)).unwrap();

    let runs = [
        Run {
            name: "issuer on the registry",
            key: &data.issuer_key,
            args: &[
                "--include-tag-regex",
                "^(organisations|seals|sealing|licences|public)$",
            ],
        },
        Run {
            name: "archivist on the archive",
            key: &data.archivist_key,
            args: &["--include-tag", "archive"],
        },
        Run {
            name: "admin on everything but key revocation",
            key: &admin,
            args: &["--exclude-path", "/v1/api-keys/{id}"],
        },
        Run {
            name: "admin revoking keys",
            key: &admin,
            args: &[
                "--include-path",
                "/v1/api-keys/{id}",
                "--phases",
                "examples,coverage,fuzzing",
            ],
        },
    ];
    let failures: Vec<String> = runs
        .iter()
        .filter_map(|run| run_schemathesis(&st, &cfg, &s, run))
        .collect();
    let log = s.log_text();
    eprintln!("{}", answers_by_route(&log));
    let status = s.stop();
    assert!(
        failures.is_empty(),
        "schemathesis found problems:\n{}\n--- server log (last 40 lines) ---\n{}",
        failures.join("\n"),
        log.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        status.success(),
        "chop serve did not exit cleanly: {status}"
    );
}
