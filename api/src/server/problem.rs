//! Errors as RFC 9457 `application/problem+json`: one [`ApiError`] type that every handler
//! returns, a stable `type` URI per kind of error ([`ProblemType`], documented in docs/API.md
//! "Problems"), the JSON body extractor [`ApiJson`] whose rejections are problems too, and the
//! last-resort middleware [`problemize`] that turns any other 4xx/5xx (an unknown route, a
//! wrong method, a timeout, a rate limit) into a problem.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where the problem type URIs live: `<base><slug>`.
pub const PROBLEM_BASE: &str = "https://chop.dev/problems/";

macro_rules! problem_types {
    ($( $(#[$doc:meta])* $variant:ident => $slug:literal, $status:ident, $title:literal; )*) => {
        /// The kinds of error the API reports; each has a stable `type` URI
        /// (`https://chop.dev/problems/<slug>`), an HTTP status and a title.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum ProblemType {
            $( $(#[$doc])* $variant, )*
        }

        impl ProblemType {
            /// Every problem type, in documentation order.
            #[allow(dead_code)]
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$variant),*];

            /// The last segment of the type URI.
            pub fn slug(self) -> &'static str {
                match self { $(ProblemType::$variant => $slug,)* }
            }

            /// The HTTP status.
            pub fn status(self) -> StatusCode {
                match self { $(ProblemType::$variant => StatusCode::$status,)* }
            }

            /// The short, fixed, human-readable summary.
            pub fn title(self) -> &'static str {
                match self { $(ProblemType::$variant => $title,)* }
            }
        }
    };
}

problem_types! {
    /// The request is malformed in a way no more specific type covers.
    BadRequest => "bad-request", BAD_REQUEST, "Bad request";
    /// The body is not syntactically valid JSON.
    MalformedJson => "malformed-json", BAD_REQUEST, "Malformed JSON";
    /// One or more fields (body, query or path) are missing or invalid; see `errors`.
    ValidationFailed => "validation-failed", UNPROCESSABLE_ENTITY, "Invalid request";
    /// The body's media type is not one this endpoint accepts.
    UnsupportedMediaType => "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type";
    /// The body is larger than the configured limit.
    PayloadTooLarge => "payload-too-large", PAYLOAD_TOO_LARGE, "Request body too large";
    /// The uploaded document is not a readable PDF.
    NotAPdf => "not-a-pdf", UNPROCESSABLE_ENTITY, "Not a readable PDF";
    /// The PDF has no signature to verify.
    NoSignature => "no-signature", UNPROCESSABLE_ENTITY, "The PDF has no signature";
    /// The PDF exceeds a verification resource limit (too many objects, revisions, …).
    PdfLimitExceeded => "pdf-limit-exceeded", UNPROCESSABLE_ENTITY, "The PDF exceeds a verification limit";
    /// Archive ingest refused a document that failed verification or has no signature.
    DocumentRefused => "document-refused", UNPROCESSABLE_ENTITY, "Document refused";
    /// The log cannot prove what was asked (no such checkpoint, record beyond it).
    NotProvable => "not-provable", UNPROCESSABLE_ENTITY, "Cannot prove that";
    /// No credentials, or credentials that are not a valid, unrevoked API key.
    Unauthorized => "unauthorized", UNAUTHORIZED, "Authentication required";
    /// The API key's role does not allow this.
    Forbidden => "forbidden", FORBIDDEN, "Not allowed";
    /// No such resource (or route).
    NotFound => "not-found", NOT_FOUND, "Not found";
    /// The route exists but not with this method.
    MethodNotAllowed => "method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    /// The request conflicts with the current state (e.g. revoking the last admin key).
    Conflict => "conflict", CONFLICT, "Conflict";
    /// The export job has not succeeded (yet): its package cannot be downloaded.
    JobNotReady => "job-not-ready", CONFLICT, "The job has not finished";
    /// Too many public requests from this client address; retry after `Retry-After` seconds.
    RateLimited => "rate-limited", TOO_MANY_REQUESTS, "Too many requests";
    /// The request took longer than the configured timeout.
    Timeout => "timeout", SERVICE_UNAVAILABLE, "Request timed out";
    /// The database or archive cannot be reached right now.
    Unavailable => "unavailable", SERVICE_UNAVAILABLE, "Service unavailable";
    /// The archive contradicts itself (run `chop archive verify`).
    ArchiveInconsistent => "archive-inconsistent", INTERNAL_SERVER_ERROR, "The archive is inconsistent";
    /// A bug in Chop.
    Internal => "internal", INTERNAL_SERVER_ERROR, "Internal server error";
}

impl ProblemType {
    /// The full `type` URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }

    /// The generic type for a status no handler explained.
    pub fn for_status(status: StatusCode) -> ProblemType {
        match status {
            StatusCode::NOT_FOUND => ProblemType::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ProblemType::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ProblemType::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemType::UnsupportedMediaType,
            StatusCode::TOO_MANY_REQUESTS => ProblemType::RateLimited,
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => ProblemType::Timeout,
            StatusCode::UNAUTHORIZED => ProblemType::Unauthorized,
            StatusCode::FORBIDDEN => ProblemType::Forbidden,
            StatusCode::UNPROCESSABLE_ENTITY => ProblemType::ValidationFailed,
            s if s.is_server_error() => ProblemType::Internal,
            _ => ProblemType::BadRequest,
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field: a JSON path into the body (`org_id`, `items[2].name`), or a query or path
    /// parameter name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`https://chop.dev/problems/<slug>`); stable.
    #[serde(rename = "type")]
    #[schema(example = "https://chop.dev/problems/validation-failed")]
    pub type_: String,
    /// A short summary of the kind of problem (the same for every occurrence).
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// For `validation-failed`: every invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The error every handler returns; renders as problem+json.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind.
    pub kind: ProblemType,
    /// This occurrence.
    pub detail: String,
    /// Invalid fields.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `kind` with `detail`.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A `validation-failed` error listing `errors`.
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        ApiError {
            kind: ProblemType::ValidationFailed,
            detail,
            errors,
            retry_after: None,
        }
    }

    /// A `validation-failed` error about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::validation(vec![FieldError::new(field, message)])
    }

    /// `not-found`.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(ProblemType::NotFound, detail)
    }

    /// `internal`: logs the cause, tells the client only that it happened.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            ProblemType::Internal,
            "an internal error occurred; it has been logged with this request's id",
        )
    }

    /// `unavailable`: logs the cause (a database error), tells the client to retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "storage error");
        ApiError::new(
            ProblemType::Unavailable,
            "the database or archive storage failed; retry later",
        )
    }

    /// The problem body.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: self.kind.uri(),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.kind.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.kind == ProblemType::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chop\""),
            );
        }
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// The rejection of a body extractor as a problem.
pub fn body_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ProblemType::PayloadTooLarge,
            "the request body is larger than this endpoint accepts",
        )
    } else {
        ApiError::new(ProblemType::BadRequest, r.body_text())
    }
}

/// Whether the request's `Content-Type` is `essence` (parameters such as `charset` ignored).
pub fn has_media_type(headers: &HeaderMap, essence: &str) -> bool {
    media_type(headers).is_some_and(|m| m.eq_ignore_ascii_case(essence))
}

/// The `Content-Type` essence (`type/subtype`), if any.
pub fn media_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
}

/// A JSON request body (`Content-Type: application/json`) whose every failure is a problem:
/// 415 without the media type, 413 over the limit, 400 `malformed-json` for bad syntax, 422
/// `validation-failed` naming the field for the wrong shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = media_type(req.headers()).is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
        if !json {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body into `T`: syntax errors are `malformed-json`, shape errors
/// `validation-failed` with the path of the offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::field(field, strip_position(&inner.to_string()))
        } else {
            malformed(&inner)
        }
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        ProblemType::MalformedJson,
        format!("the body is not valid JSON: {e}"),
    )
}

/// serde_json's messages end in " at line L column C"; for a named field that is noise.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A successful JSON response.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("cannot render JSON: {e}")).into_response(),
    }
}

/// Last-resort middleware: any 4xx/5xx response that is not already problem+json or an HTML
/// page (axum's unknown-route 404 and 405, the timeout's 503, the rate limiter's 429, a
/// panic's 500) is replaced by the problem of its status.
pub async fn problemize(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || has_media_type(response.headers(), PROBLEM_JSON)
        // The public pages (`super::pages`) answer people with HTML error pages of their own.
        || has_media_type(response.headers(), "text/html")
    {
        return response;
    }
    let kind = ProblemType::for_status(status);
    let detail = match kind {
        ProblemType::NotFound => "no such route; see /openapi.json for the API".to_owned(),
        ProblemType::MethodNotAllowed => "this route does not accept that method".to_owned(),
        ProblemType::PayloadTooLarge => {
            "the request body is larger than this endpoint accepts".to_owned()
        }
        ProblemType::RateLimited => {
            "too many requests from this address; retry after the Retry-After delay".to_owned()
        }
        ProblemType::Timeout => "the request took longer than the server allows".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let mut err = ApiError::new(kind, detail);
    let retry = response
        .headers()
        .get(header::RETRY_AFTER)
        .or_else(|| response.headers().get("x-ratelimit-after"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if kind == ProblemType::RateLimited {
        err.retry_after = Some(retry.unwrap_or(1).max(1));
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut p = err.problem();
    let mut out = err.into_response();
    // Keep the status the lower layer chose (e.g. 408 rather than 503) and say it in the body
    // too; the type names what happened either way.
    if status != kind.status() {
        *out.status_mut() = status;
        p.status = status.as_u16();
        if let Ok(body) = serde_json::to_vec(&p) {
            *out.body_mut() = axum::body::Body::from(body);
        }
    }
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        role: String,
        count: u32,
    }

    #[test]
    fn slugs_are_unique_and_titles_present() {
        let mut seen = std::collections::HashSet::new();
        for t in ProblemType::ALL {
            assert!(seen.insert(t.slug()), "duplicate slug {}", t.slug());
            assert!(!t.title().is_empty());
            assert!(t.uri().starts_with(PROBLEM_BASE));
        }
    }

    #[test]
    fn json_syntax_and_shape_errors_are_told_apart() {
        let e = parse_json::<Body>(b"{\"role\": ").unwrap_err();
        assert_eq!(e.kind, ProblemType::MalformedJson);
        let e = parse_json::<Body>(b"{\"role\": \"admin\", \"count\": \"x\"}").unwrap_err();
        assert_eq!(e.kind, ProblemType::ValidationFailed);
        assert_eq!(e.errors[0].field, "count");
        let e = parse_json::<Body>(b"{\"role\": \"admin\"}").unwrap_err();
        assert_eq!(e.kind, ProblemType::ValidationFailed);
        assert!(e.errors[0].message.contains("count"), "{:?}", e.errors);
        let e = parse_json::<Body>(b"{\"role\": \"a\", \"count\": 1} trailing").unwrap_err();
        assert_eq!(e.kind, ProblemType::MalformedJson);
        assert!(parse_json::<Body>(b"{\"role\": \"a\", \"count\": 1}").is_ok());
    }

    #[test]
    fn every_problem_type_is_documented() {
        let doc = include_str!("../../../docs/API.md");
        for t in ProblemType::ALL {
            assert!(
                doc.contains(&format!("`{}`", t.slug())),
                "docs/API.md does not document the problem type `{}`",
                t.slug()
            );
        }
    }
}
