//! The verification report matches docs/schema/verification-report.schema.json.
//!
//! The schema uses a small subset of JSON Schema 2020-12 (type, enum, required, properties,
//! additionalProperties: false, items, oneOf, $ref into $defs, minimum, three fixed patterns);
//! this file validates that subset itself so the test builds offline with no extra crate, and
//! refuses any keyword it does not know, so the schema cannot silently outgrow the check.

mod common;

use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::sign::{Sealer, SignOptions};
use chop_seal::verify::{VerifyOptions, verify_pdf};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/schema/verification-report.schema.json"
);

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "oneOf",
    "$ref",
    "$defs",
    "minimum",
    "pattern",
];

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other}"),
    }
}

fn pattern_ok(s: &str, pattern: &str) -> bool {
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    match pattern {
        "^[0-9a-f]{64}$" => s.len() == 64 && s.chars().all(hex),
        "^[0-9a-f]*$" => s.chars().all(hex),
        "^[0-9]+ [0-9]+$" => {
            let parts: Vec<&str> = s.split(' ').collect();
            parts.len() == 2
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        }
        other => panic!("pattern {other} is not known to this test"),
    }
}

/// Validate `v` against `schema`, collecting errors with their JSON path.
fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let obj = schema.as_object().expect("schema node is an object");
    for k in obj.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword {k} is not checked by this test"
        );
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        let target = &root["$defs"][name];
        assert!(!target.is_null(), "dangling $ref {r}");
        validate(root, target, v, path, errors);
    }
    if let Some(t) = obj.get("type") {
        let ok = match t {
            Value::String(s) => type_ok(v, s),
            Value::Array(a) => a.iter().any(|x| type_ok(v, x.as_str().unwrap())),
            _ => panic!("bad type"),
        };
        if !ok {
            errors.push(format!("{path}: expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = obj.get("enum")
        && !allowed.contains(v)
    {
        errors.push(format!("{path}: {v} not in {allowed:?}"));
    }
    if let Some(min) = obj.get("minimum").and_then(Value::as_i64)
        && v.as_i64().is_some_and(|x| x < min)
    {
        errors.push(format!("{path}: {v} < {min}"));
    }
    if let (Some(p), Some(s)) = (obj.get("pattern").and_then(Value::as_str), v.as_str())
        && !pattern_ok(s, p)
    {
        errors.push(format!("{path}: '{s}' does not match {p}"));
    }
    if let Some(Value::Array(options)) = obj.get("oneOf") {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(root, o, v, path, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{path}: matches {matching} of oneOf"));
        }
    }
    if let Some(map) = v.as_object() {
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req {
                if !map.contains_key(r.as_str().unwrap()) {
                    errors.push(format!("{path}: missing {r}"));
                }
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, val) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, val, &format!("{path}.{k}"), errors),
                None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{path}: unexpected property {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (obj.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(root, items, x, &format!("{path}[{i}]"), errors);
        }
    }
}

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap()
}

fn errors_of(report: &Value) -> Vec<String> {
    let s = schema();
    let mut errors = Vec::new();
    validate(&s, &s, report, "$", &mut errors);
    errors
}

fn trusted(extra: Vec<u8>) -> VerifyOptions {
    let pem = std::fs::read_to_string(format!("{CORPUS}/pki/root.pem")).unwrap();
    let mut anchors = chop_seal::certs::certificates_from_pem(&pem).unwrap();
    anchors.push(extra);
    VerifyOptions {
        trust_anchors: anchors,
        ..VerifyOptions::default()
    }
}

#[test]
fn every_kind_of_report_matches_the_schema() {
    let pki = DevPki::generate(&DevPkiOptions::default()).unwrap();
    let key = pki.signer.signer();
    let chain = pki.chain();
    let sealer = Sealer::new(&key, &pki.signer.cert_der, &chain, &pki.seal).unwrap();
    let plain = std::fs::read(format!("{CORPUS}/plain-1page.pdf")).unwrap();
    let sealed = sealer.seal(&plain, &SignOptions::default()).unwrap().pdf;
    let opts = trusted(pki.root_ca.cert_der.clone());

    let mut inputs: Vec<(String, Vec<u8>)> = vec![("chop-sealed".into(), sealed.clone())];
    let twice = sealer.seal(&sealed, &SignOptions::default()).unwrap().pdf;
    inputs.push(("chop-sealed-twice".into(), twice));
    for name in [
        "signed-pyhanko-ec.pdf",
        "signed-pyhanko-rsa.pdf",
        "signed-selfsigned.pdf",
        "signed-expired-cert.pdf",
        "signed-then-annotated.pdf",
        "signed-then-content-changed.pdf",
        "signed-byte-flipped.pdf",
        "certified-docmdp1.pdf",
    ] {
        inputs.push((
            name.into(),
            std::fs::read(format!("{CORPUS}/{name}")).unwrap(),
        ));
    }
    // A FieldMDP lock, kept and broken.
    let locked =
        common::signed_with_text_fields(&common::fieldmdp_reference("Include", &["Amount"]));
    inputs.push((
        "fieldmdp-broken".into(),
        common::fill_text_field(&locked, 13, "Amount", "999"),
    ));
    inputs.push(("fieldmdp".into(), locked));
    let mut saw_seal = false;
    let mut saw_lock = false;
    for (name, data) in inputs {
        let report = verify_pdf(&data, &opts).unwrap();
        saw_seal |= report.signatures.iter().any(|s| s.seal.is_some());
        saw_lock |= report.signatures.iter().any(|s| s.field_mdp.is_some());
        let value = serde_json::to_value(&report).unwrap();
        let errors = errors_of(&value);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    assert!(saw_seal, "a report with a seal object was checked");
    assert!(saw_lock, "a report with a FieldMDP lock was checked");
}

#[test]
fn the_checker_rejects_reports_that_break_the_schema() {
    let data = std::fs::read(format!("{CORPUS}/signed-pyhanko-ec.pdf")).unwrap();
    let report = verify_pdf(&data, &VerifyOptions::default()).unwrap();
    let good = serde_json::to_value(&report).unwrap();
    assert!(errors_of(&good).is_empty());

    let mut missing = good.clone();
    missing["signatures"][0]
        .as_object_mut()
        .unwrap()
        .remove("indication");
    assert!(errors_of(&missing).iter().any(|e| e.contains("missing")));

    let mut bad_enum = good.clone();
    bad_enum["signatures"][0]["indication"] = Value::String("PASSED".into());
    assert!(!errors_of(&bad_enum).is_empty());

    let mut extra = good.clone();
    extra["document"]["surprise"] = Value::Bool(true);
    assert!(errors_of(&extra).iter().any(|e| e.contains("unexpected")));

    let mut bad_lock = good.clone();
    bad_lock["signatures"][0]["field_mdp"] =
        serde_json::json!({"action": "Some", "fields": [], "source": "Reference"});
    assert!(!errors_of(&bad_lock).is_empty());

    let mut bad_hash = good;
    bad_hash["document"]["sha256"] = Value::String("XYZ".into());
    assert!(
        errors_of(&bad_hash)
            .iter()
            .any(|e| e.contains("does not match"))
    );
}
