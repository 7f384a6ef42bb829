//! Idempotent `POST /v1/sign`: the first result of a request with an `Idempotency-Key` is
//! remembered (table `idempotent_requests`: the request's SHA-256 and the sealed document's),
//! and a retry with the same key and request gets it back; the same key with another request
//! is a 409. (Licence issuance keeps its keys in the licence rows: see the registry.)

use axum::response::Response;

use super::problem::{ApiError, ProblemType};
use super::state::AppState;
use crate::registry::rows_pool as on_pool;

/// The remembered response for `(scope, key)`, if the request is the same; a conflict if not.
pub async fn replay(
    state: &AppState,
    scope: &str,
    key: &str,
    request_sha: &str,
) -> Result<Option<Response>, ApiError> {
    let row: Option<(String, String)> = on_pool!(state.store(), pool => {
        sqlx::query_as(
            "SELECT request_sha256, body_ref FROM idempotent_requests WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(ApiError::unavailable)?
    });
    let Some((sha, body_ref)) = row else {
        return Ok(None);
    };
    if sha != request_sha {
        return Err(ApiError::new(
            ProblemType::Conflict,
            "the Idempotency-Key was already used for a different request",
        ));
    }
    let (doc, seq) = body_ref
        .split_once('@')
        .ok_or_else(|| ApiError::internal("idempotent request with an unreadable reference"))?;
    let hash = chop_archive::Hash::from_hex(doc).map_err(ApiError::internal)?;
    let path = state.archive().documents().path_of(&hash);
    let bytes = tokio::fs::read(&path).await.map_err(ApiError::internal)?;
    let seq: u64 = seq.parse().map_err(ApiError::internal)?;
    Ok(Some(super::registry_api::pdf_response(bytes, seq, &hash)))
}

/// Remembers the result of `(scope, key)`: the stored document and its record.
pub async fn remember(
    state: &AppState,
    scope: &str,
    key: &str,
    request_sha: &str,
    document_sha: &str,
    seq: u64,
) -> Result<(), ApiError> {
    let body_ref = format!("{document_sha}@{seq}");
    let now = chop_archive::record::Timestamp::now();
    on_pool!(state.store(), pool => {
        sqlx::query(
            "INSERT INTO idempotent_requests (scope, key, request_sha256, status, media_type, body_ref, created) \
             VALUES ($1, $2, $3, 200, 'application/pdf', $4, $5) ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_sha)
        .bind(body_ref)
        .bind(now.as_str())
        .execute(pool)
        .await
        .map_err(ApiError::unavailable)?;
    });
    Ok(())
}
