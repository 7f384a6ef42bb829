//! Operations endpoints (issue 7 §5): liveness `/healthz`, readiness `/readyz` (the database
//! answers), Prometheus `/metrics`; and the per-request middleware that assigns request ids,
//! logs one line per request and counts it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chop_archive::log::LogStorage;
use serde::Serialize;
use utoipa::ToSchema;

use super::db::on_db;
use super::metrics::ArchiveFigures;
use super::problem::{ApiError, ProblemType, json_response};
use super::state::AppState;

/// The request id header (accepted from the client when well-formed, always returned).
pub const REQUEST_ID: &str = "x-request-id";

/// A client-supplied id is kept if it is 1–128 characters of `A-Z a-z 0-9 . _ : -`.
fn acceptable_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn new_request_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 12];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // Not a secret: a clock-based id is good enough when the RNG fails.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("req-{nanos:x}");
    }
    hex::encode(b)
}

/// Outermost middleware: the request id (in and out), one structured log line per request
/// (method, route template, status, latency, request id, API key id — never the query string,
/// bodies or headers, which may carry personal data or secrets), and the request metrics.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        key_id = tracing::field::Empty,
    );
    let mut response = {
        use tracing::Instrument;
        next.run(req).instrument(span.clone()).await
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics()
        .observe_request(&route, &method, status, elapsed);
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, latency_ms = ms, "request answered");
        } else {
            tracing::info!(status, latency_ms = ms, "request answered");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// `/healthz` and `/readyz` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable`.
    pub status: String,
    /// For `/readyz`: the database backend (`sqlite` or `postgres`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health))
)]
pub async fn healthz() -> Response {
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
            database: None,
        },
    )
}

/// Readiness: the database answers a query.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store();
    let ping = tokio::time::timeout(std::time::Duration::from_secs(5), store.head()).await;
    match ping {
        Ok(Ok(_)) => Ok(json_response(
            StatusCode::OK,
            &Health {
                status: "ok".into(),
                database: Some(store.backend().into()),
            },
        )),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database error");
            Err(ApiError::new(
                ProblemType::Unavailable,
                "the database does not answer",
            ))
        }
        Err(_) => Err(ApiError::new(
            ProblemType::Unavailable,
            "the database did not answer within 5 seconds",
        )),
    }
}

async fn archive_figures(state: &AppState) -> Option<ArchiveFigures> {
    let store = state.store();
    let head = store.head().await.ok()?;
    let checkpoint = store.latest_checkpoint().await.ok()?;
    let docs: Result<(i64, Option<i64>), sqlx::Error> = async {
        Ok(on_db!(
            store,
            "SELECT COUNT(*), CAST(SUM(size) AS BIGINT) FROM documents",
            |pool, sql| sqlx::query_as(sql).fetch_one(pool).await?
        ))
    }
    .await;
    let (documents, bytes) = docs.ok()?;
    Some(ArchiveFigures {
        records: head.size,
        checkpoint_size: checkpoint.map_or(0, |c| c.size),
        documents: u64::try_from(documents).unwrap_or(0),
        document_bytes: bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0),
    })
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics().render(archive_figures(&state).await);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_kept_only_when_tame() {
        assert!(acceptable_id("abc-123_x.y:z"));
        assert!(!acceptable_id(""));
        assert!(!acceptable_id("a b"));
        assert!(!acceptable_id(&"x".repeat(129)));
        assert_eq!(new_request_id().len(), 24);
    }
}
