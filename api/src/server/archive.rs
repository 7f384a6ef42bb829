//! The archive over HTTP (issue 7 §2): the latest signed checkpoint and the log's public key
//! (public), records by seq, inclusion and consistency proofs (archivist, auditor, admin), and
//! ingest of verified PDFs (archivist). Proofs are RFC 9162 §2.1.3 / §2.1.4 hash lists
//! (base64), the inclusion proof also as a C2SP tlog-proof file.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chop_archive::checkpoint::SignedCheckpoint;
use chop_archive::log::LogError;
use chop_archive::merkle::leaf_hash;
use chop_archive::record::Retention;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Principal, Role, require_role};
use super::problem::{ApiError, FieldError, ProblemType, json_response};
use super::state::AppState;
use super::verify::read_upload;
use crate::archive::{ArchiveError, IngestRequest};
use crate::store::StoreError;

/// Roles that may read the archive.
pub const READERS: &[Role] = &[Role::Archivist, Role::Auditor, Role::Admin];

/// Maps a log error to a problem.
pub fn log_error(e: LogError<StoreError>) -> ApiError {
    match e {
        LogError::NotProvable(m) => ApiError::new(ProblemType::NotProvable, m),
        LogError::Merkle(m) => ApiError::new(ProblemType::NotProvable, m.to_string()),
        LogError::Inconsistent(_) | LogError::Corrupt(_) | LogError::Checkpoint(_) => {
            tracing::error!(error = %e, "archive inconsistency");
            ApiError::new(
                ProblemType::ArchiveInconsistent,
                "the archive contradicts itself; the operator should run `chop archive verify`",
            )
        }
        other => ApiError::unavailable(other),
    }
}

/// Maps an archive error to a problem.
pub fn archive_error(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::Unreadable(m) => ApiError::new(ProblemType::NotAPdf, m),
        ArchiveError::Refused { .. } => ApiError::new(ProblemType::DocumentRefused, e.to_string()),
        ArchiveError::Log(l) => log_error(l),
        ArchiveError::Usage(m) => ApiError::internal(m),
        other => ApiError::unavailable(other),
    }
}

fn text_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The latest signed checkpoint, signing a new one first if the log has grown.
pub async fn current_checkpoint(state: &AppState) -> Result<SignedCheckpoint, ApiError> {
    state
        .archive()
        .log()
        .checkpoint(state.signer())
        .await
        .map_err(log_error)
}

/// The latest signed checkpoint of the log (public): a C2SP signed note.
#[utoipa::path(
    get, path = "/v1/archive/checkpoint", tag = "archive",
    responses(
        (status = 200, description = "The checkpoint note (origin, size, root hash, signature)", body = String, content_type = "text/plain"),
        (status = 429, description = "Rate limited", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(text_response(current_checkpoint(&state).await?.note))
}

/// The log's public key as a C2SP note verifier key (public).
#[utoipa::path(
    get, path = "/v1/archive/pubkey", tag = "archive",
    responses(
        (status = 200, description = "`name+keyhash+base64`, as `chop archive pubkey` prints it", body = String, content_type = "text/plain"),
        (status = 429, description = "Rate limited", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_pubkey(State(state): State<AppState>) -> Response {
    text_response(format!("{}\n", state.signer().verifier().key_string()))
}

/// A query string that cannot be read (bad percent-encoding, a repeated parameter).
pub fn query_error(e: QueryRejection) -> ApiError {
    ApiError::field("query", e.body_text())
}

fn parse_seq(field: &str, value: &str) -> Result<u64, FieldError> {
    value
        .parse()
        .map_err(|_| FieldError::new(field, "must be a whole number ≥ 0"))
}

/// One archive record by seq: its canonical JSON bytes, exactly as hashed into the log.
#[utoipa::path(
    get, path = "/v1/archive/records/{seq}", tag = "archive",
    params(("seq" = u64, Path, description = "The record's position in the log, from 0")),
    responses(
        (status = 200, description = "The record (RFC 8785 canonical JSON; leaf hash = SHA-256(0x00 ‖ body))", body = super::openapi::ArchiveRecord),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad seq", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_record(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(seq): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_role(&principal, READERS)?;
    let seq = parse_seq("seq", &seq).map_err(|e| ApiError::validation(vec![e]))?;
    use chop_archive::log::LogStorage;
    let stored = state
        .store()
        .read_records(seq, seq.saturating_add(1))
        .await
        .map_err(ApiError::unavailable)?;
    let record = stored
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(|| ApiError::not_found(format!("no record {seq} in the log")))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        record.bytes,
    )
        .into_response())
}

/// `GET /v1/archive/proofs/inclusion` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The record's seq.
    #[param(value_type = u64, required = true)]
    pub seq: Option<String>,
    /// The tree size of a stored signed checkpoint (default: the latest, signed now if the log
    /// grew).
    #[param(value_type = Option<u64>)]
    pub size: Option<String>,
}

/// An inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The record's seq (= leaf index).
    pub seq: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// SHA-256(0x00 ‖ record bytes), base64.
    pub leaf_hash: String,
    /// RFC 9162 §2.1.3 inclusion proof, leaf sibling first, base64.
    pub hashes: Vec<String>,
    /// The signed checkpoint (C2SP signed note) the proof leads to.
    pub checkpoint: String,
    /// The record (canonical JSON text).
    pub record: String,
    /// The same proof as a C2SP tlog-proof file (what `chop archive prove` writes; check it
    /// with `chop archive check-proof`).
    pub tlog_proof: String,
}

/// Proof that a record is in a signed checkpoint.
#[utoipa::path(
    get, path = "/v1/archive/proofs/inclusion", tag = "archive",
    params(InclusionQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameters, or not provable (no checkpoint of that size, record beyond it)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_inclusion_proof(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    require_role(&principal, READERS)?;
    let mut errors = Vec::new();
    let seq = match q.seq.as_deref() {
        None => {
            errors.push(FieldError::new("seq", "required"));
            None
        }
        Some(s) => parse_seq("seq", s).map_err(|e| errors.push(e)).ok(),
    };
    let size = match q.size.as_deref() {
        None => None,
        Some(s) => parse_seq("size", s).map_err(|e| errors.push(e)).ok(),
    };
    let (Some(seq), true) = (seq, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let log = state.archive().log();
    if size.is_none() {
        current_checkpoint(&state).await?;
    }
    let verifier = state.signer().verifier();
    let proof = log.prove(seq, size, &verifier).await.map_err(log_error)?;
    let signed = SignedCheckpoint::open(&proof.checkpoint, &verifier).map_err(|e| {
        log_error(LogError::Corrupt(format!(
            "stored checkpoint does not verify: {e}"
        )))
    })?;
    let record = proof.extra.clone().unwrap_or_default();
    let body = InclusionProof {
        seq,
        tree_size: signed.checkpoint.size,
        leaf_hash: leaf_hash(&record).to_base64(),
        hashes: proof.hashes.iter().map(|h| h.to_base64()).collect(),
        checkpoint: proof.checkpoint.clone(),
        record: String::from_utf8_lossy(&record).into_owned(),
        tlog_proof: proof.to_text(),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /v1/archive/proofs/consistency` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size.
    #[param(value_type = u64, required = true)]
    pub from: Option<String>,
    /// The newer tree size (default: the latest signed checkpoint's, signed now if the log
    /// grew).
    #[param(value_type = Option<u64>)]
    pub to: Option<String>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The root of the first `from` records, base64.
    pub from_root: String,
    /// The root of the first `to` records, base64.
    pub to_root: String,
    /// RFC 9162 §2.1.4 consistency proof, base64.
    pub hashes: Vec<String>,
    /// The latest signed checkpoint (at least `to` records), to anchor `to_root`.
    pub checkpoint: String,
}

/// Proof that the log of `from` records is a prefix of the log of `to` records.
#[utoipa::path(
    get, path = "/v1/archive/proofs/consistency", tag = "archive",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad sizes (from > to, or beyond the log)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_consistency_proof(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    require_role(&principal, READERS)?;
    let mut errors = Vec::new();
    let from = match q.from.as_deref() {
        None => {
            errors.push(FieldError::new("from", "required"));
            None
        }
        Some(s) => parse_seq("from", s).map_err(|e| errors.push(e)).ok(),
    };
    let to = match q.to.as_deref() {
        None => None,
        Some(s) => parse_seq("to", s).map_err(|e| errors.push(e)).ok(),
    };
    let (Some(from), true) = (from, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let latest = current_checkpoint(&state).await?;
    let to = to.unwrap_or(latest.checkpoint.size);
    if to > latest.checkpoint.size {
        return Err(ApiError::field(
            "to",
            format!(
                "the latest signed checkpoint has {} records",
                latest.checkpoint.size
            ),
        ));
    }
    if from > to {
        return Err(ApiError::field("from", "must not be larger than `to`"));
    }
    let log = state.archive().log();
    let hashes = log.consistency_proof(from, to).await.map_err(log_error)?;
    let from_root = log.root_at(from).await.map_err(log_error)?;
    let to_root = log.root_at(to).await.map_err(log_error)?;
    let body = ConsistencyProof {
        from,
        to,
        from_root: from_root.to_base64(),
        to_root: to_root.to_base64(),
        hashes: hashes.iter().map(|h| h.to_base64()).collect(),
        checkpoint: latest.note,
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v1/archive/ingest` parameters (query string, or text parts of a multipart form).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestQuery {
    /// Retention class: `permanent` (default), `30y` or `10y`.
    pub retention: Option<String>,
    /// A note kept in the record.
    pub note: Option<String>,
    /// `true`: ingest even a document whose verification fails or that has no signature (the
    /// record says so).
    pub accept_invalid: Option<String>,
    /// The document's file name, kept in the record (multipart uploads carry their own).
    pub file_name: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ingested {
    /// The `document.ingested` record's seq.
    pub seq: u64,
    /// Its leaf hash, base64.
    pub leaf_hash: String,
    /// `true` if this `Idempotency-Key` was used before: nothing new was appended.
    pub duplicate: bool,
    /// SHA-256 of the stored document, hex.
    pub sha256: String,
    /// The verification indication (`TOTAL-PASSED`, `TOTAL-FAILED`, `INDETERMINATE`,
    /// `NO-SIGNATURE`).
    pub indication: String,
    /// Signatures found.
    pub signatures: usize,
    /// The retention class.
    pub retention: String,
}

/// Verify a PDF and keep it in the archive (archivist): stored content-addressed with its
/// verification report, recorded as `document.ingested` by `apikey:<key id>`.
#[utoipa::path(
    post, path = "/v1/archive/ingest", tag = "archive",
    params(IngestQuery, ("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key returns the first record and appends nothing")),
    request_body(
        description = "The PDF: the raw body, or the `file` part of a multipart form (other parts: the query parameters)",
        content(
            (super::openapi::Binary = "application/pdf"),
            (super::openapi::FileUpload = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 201, description = "Ingested", body = Ingested),
        (status = 200, description = "Already ingested under this Idempotency-Key", body = Ingested),
        (status = 400, description = "Malformed multipart form", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an archivist key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the PDF limit", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither a PDF nor a form", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a PDF, refused (failed verification or no signature), or bad parameters", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn post_ingest(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<IngestQuery>, QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Query(mut q) = query.map_err(query_error)?;
    require_role(&principal, &[Role::Archivist])?;
    let idempotency = req
        .headers()
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 200)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::field("Idempotency-Key", "1 to 200 visible ASCII characters")
                })
        })
        .transpose()?;
    let upload = read_upload(req, &state).await?;
    for (name, value) in upload.fields {
        match name.as_str() {
            "retention" => q.retention = Some(value),
            "note" => q.note = Some(value),
            "accept_invalid" => q.accept_invalid = Some(value),
            "file_name" => q.file_name = Some(value),
            other => {
                return Err(ApiError::field(other, "unknown form field"));
            }
        }
    }
    let mut errors = Vec::new();
    let retention = match q.retention.as_deref() {
        None => Retention::Permanent,
        Some(r) => r.parse().unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "retention",
                "must be permanent, 30y or 10y",
            ));
            Retention::Permanent
        }),
    };
    let accept_invalid = match q.accept_invalid.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(FieldError::new("accept_invalid", "must be true or false"));
            false
        }
    };
    if q.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        errors.push(FieldError::new("note", "at most 1000 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if upload.bytes.is_empty() {
        return Err(ApiError::new(ProblemType::NotAPdf, "the upload is empty"));
    }
    let request = IngestRequest {
        bytes: upload.bytes,
        file_name: upload.file_name.or(q.file_name),
        retention,
        note: q.note,
        accept_invalid,
        trust_anchors: state.trust_anchors().as_ref().clone(),
        actor: principal.actor(),
        // Scoped to the key, so two clients cannot collide (or probe each other's keys).
        idempotency_key: idempotency.map(|k| format!("api:ingest:{}:{k}", principal.key_id)),
    };
    let done = state
        .archive()
        .ingest(request)
        .await
        .map_err(archive_error)?;
    tracing::info!(seq = done.receipt.seq, indication = %done.indication, "document ingested");
    let status = if done.receipt.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(
        status,
        &Ingested {
            seq: done.receipt.seq,
            leaf_hash: done.receipt.leaf_hash.to_base64(),
            duplicate: done.receipt.duplicate,
            sha256: done.sha256.to_hex(),
            indication: done.indication,
            signatures: done.signatures,
            retention: retention.as_str().to_owned(),
        },
    ))
}
