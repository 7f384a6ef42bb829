//! The OpenAPI 3.1 description (utoipa), served at `/openapi.json`, and Swagger UI at `/docs`
//! (its files are compiled into the binary: nothing is loaded from a CDN). The verification
//! report's schema is the published JSON Schema (docs/schema/verification-report.schema.json,
//! JSON Schema 2020-12, which OpenAPI 3.1 uses as is), its `$defs` moved into the components.

use serde_json::{Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::{archive, auth, exports, ops, problem, registry_api, verify};

/// The verification report (`chop verify --json`); its schema is filled in from
/// docs/schema/verification-report.schema.json by [`document`].
pub struct VerificationReport;

impl PartialSchema for VerificationReport {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(utoipa::openapi::Object::new()))
    }
}

impl ToSchema for VerificationReport {
    fn name() -> std::borrow::Cow<'static, str> {
        "VerificationReport".into()
    }
}

/// Raw bytes: a PDF or zip body.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Binary,
                )))
                .build(),
        ))
    }
}

impl ToSchema for Binary {
    fn name() -> std::borrow::Cow<'static, str> {
        "Binary".into()
    }
}

/// A multipart upload: the PDF in the `file` part.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FileUpload {
    /// The PDF.
    #[schema(value_type = String, format = Binary, content_media_type = "application/pdf")]
    file: Vec<u8>,
}

/// A document digest in a record.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RecordDigest {
    /// Always `sha256`.
    alg: String,
    /// 64 lower-case hex digits.
    value: String,
    /// What the bytes are (`document`, `evidence`, `original`, …).
    role: Option<String>,
}

/// An archive record (RFC 8785 canonical JSON; see docs/ARCHIVE.md).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ArchiveRecord {
    /// Position in the log, from 0.
    seq: u64,
    /// When (RFC 3339 UTC).
    time: String,
    /// What happened (`document.sealed`, `key.created`, …).
    kind: String,
    /// Who did it (`apikey:<id>`, `system`, `cli:<user>`).
    actor: String,
    /// What it happened to.
    subject: Vec<String>,
    /// Digests of the documents involved.
    digests: Vec<RecordDigest>,
    /// `permanent`, `30y` or `10y`.
    retention: String,
    /// SHA-256 of the previous record's canonical bytes (hex).
    prev: String,
    /// Kind-specific details.
    payload: Map<String, Value>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("chop_<secret>")
                    .description(Some(
                        "An API key: `Authorization: Bearer chop_…` (see docs/API.md)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chop",
        description = "Electronic seals, e-licences and a tamper-evident archive. Errors are RFC 9457 problem+json; see docs/API.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        ops::healthz,
        ops::readyz,
        ops::metrics,
        verify::post_verify,
        auth::post_api_key,
        auth::list_api_keys,
        auth::delete_api_key,
        archive::get_checkpoint,
        archive::get_pubkey,
        archive::get_record,
        archive::get_inclusion_proof,
        archive::get_consistency_proof,
        archive::post_ingest,
        exports::post_export,
        exports::get_export,
        exports::get_export_package,
        registry_api::post_organisation,
        registry_api::list_organisations,
        registry_api::get_organisation,
        registry_api::patch_organisation,
        registry_api::post_seal,
        registry_api::list_seals,
        registry_api::get_seal,
        registry_api::get_seal_picture,
        registry_api::get_seal_der,
        registry_api::revoke_seal,
        registry_api::post_sign,
        registry_api::post_licence,
        registry_api::list_licences,
        registry_api::get_licence,
        registry_api::get_licence_pdf,
        registry_api::suspend_licence,
        registry_api::reinstate_licence,
        registry_api::revoke_licence,
        registry_api::supersede_licence,
        registry_api::get_licence_status,
        registry_api::list_licence_types,
        registry_api::get_licence_type_example,
    ),
    components(schemas(problem::Problem, problem::FieldError, VerificationReport, ArchiveRecord, Binary)),
    modifiers(&BearerAuth),
    tags(
        (name = "verification", description = "Check sealed PDFs (public)"),
        (name = "api keys", description = "API keys (admin)"),
        (name = "archive", description = "The tamper-evident archive: checkpoints, records, proofs, ingest, export"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "organisations", description = "Bureaus (admin)"),
        (name = "seals", description = "Seals: GB/T 38540 seal objects with their signer certificates"),
        (name = "sealing", description = "Seal PDFs"),
        (name = "licences", description = "E-licences: issue, registry, lifecycle"),
        (name = "public", description = "Public licence status and licence types (no key)"),
    )
)]
struct ApiDoc;

/// The published verification report schema.
const REPORT_SCHEMA: &str = include_str!("../../../docs/schema/verification-report.schema.json");

/// Rewrites `#/$defs/X` references to `#/components/schemas/VerificationReport.X`.
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/VerificationReport.{name}");
            }
            for child in m.values_mut() {
                rewrite_refs(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// The OpenAPI document as JSON.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    let mut report: Value = serde_json::from_str(REPORT_SCHEMA).unwrap_or(Value::Null);
    rewrite_refs(&mut report);
    if let (Some(schemas), Value::Object(mut report)) = (
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
        report,
    ) {
        report.remove("$schema");
        report.remove("$id");
        if let Some(Value::Object(defs)) = report.remove("$defs") {
            for (name, schema) in defs {
                schemas.insert(format!("VerificationReport.{name}"), schema);
            }
        }
        schemas.insert("VerificationReport".into(), Value::Object(report));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_report_schema_resolved() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas["VerificationReport"]["properties"]["signatures"].is_object());
        assert!(schemas.contains_key("Problem"));
        // Every reference resolves inside the document.
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"").skip(1) {
            let target = part.split('"').next().unwrap();
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "unresolved $ref {target}");
        }
        assert!(doc["paths"]["/v1/verify"]["post"].is_object());
        assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    }
}
