//! `POST /v1/verify` (public): a PDF in — as the raw body (`application/pdf`) or as the `file`
//! part of a `multipart/form-data` form — and its verification report out, the same JSON that
//! `chop verify --json` prints (docs/schema/verification-report.schema.json). Verification
//! runs on a blocking thread with the server's trust anchors.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use chop_seal::verify::{VerifyError, VerifyOptions, verify_pdf};

use super::problem::{ApiError, ProblemType, body_rejection, json_response, media_type};
use super::state::AppState;

/// An uploaded document: its bytes and, from a multipart form, its file name and text fields.
#[derive(Debug, Default)]
pub struct Upload {
    /// The document bytes.
    pub bytes: Vec<u8>,
    /// The file name the client gave, without any folder.
    pub file_name: Option<String>,
    /// Other text fields of a multipart form, in order.
    pub fields: Vec<(String, String)>,
}

/// Reads a PDF upload: the raw body for `application/pdf` (or `application/octet-stream`), or
/// the `file` part of `multipart/form-data`. Any other media type is a 415 problem; a body
/// over the PDF limit a 413 problem.
pub async fn read_upload(req: Request, state: &AppState) -> Result<Upload, ApiError> {
    let mt = media_type(req.headers()).map(str::to_ascii_lowercase);
    match mt.as_deref() {
        Some("application/pdf") | Some("application/octet-stream") => {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(body_rejection)?;
            Ok(Upload {
                bytes: bytes.to_vec(),
                ..Upload::default()
            })
        }
        Some("multipart/form-data") => {
            let mut form = Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::new(ProblemType::BadRequest, e.body_text()))?;
            let mut upload = Upload::default();
            let mut found = false;
            loop {
                let field = match form.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => return Err(multipart_error(e)),
                };
                let name = field.name().unwrap_or("").to_owned();
                if name == "file" {
                    if found {
                        return Err(ApiError::field("file", "send exactly one file"));
                    }
                    found = true;
                    upload.file_name = field.file_name().map(base_name);
                    upload.bytes = field.bytes().await.map_err(multipart_error)?.to_vec();
                } else {
                    let text = field.text().await.map_err(multipart_error)?;
                    upload.fields.push((name, text));
                }
            }
            if !found {
                return Err(ApiError::field(
                    "file",
                    "the form has no `file` part holding the PDF",
                ));
            }
            Ok(upload)
        }
        _ => Err(ApiError::new(
            ProblemType::UnsupportedMediaType,
            "send the PDF as Content-Type: application/pdf, or as the `file` part of multipart/form-data",
        )),
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ProblemType::PayloadTooLarge,
            "the upload is larger than this endpoint accepts",
        )
    } else {
        ApiError::new(ProblemType::BadRequest, e.body_text())
    }
}

/// The last path segment of a client-given file name, without control characters.
fn base_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.chars().filter(|c| !c.is_control()).take(255).collect()
}

/// The problem for a document the verifier cannot read.
pub fn verify_error(e: &VerifyError) -> ApiError {
    match e {
        VerifyError::NotPdf(_) => ApiError::new(ProblemType::NotAPdf, e.to_string()),
        VerifyError::NoSignature => ApiError::new(ProblemType::NoSignature, e.to_string()),
        VerifyError::LimitExceeded(_) => {
            ApiError::new(ProblemType::PdfLimitExceeded, e.to_string())
        }
    }
}

/// Verify the signatures of a PDF (public, rate-limited).
#[utoipa::path(
    post, path = "/v1/verify", tag = "verification",
    request_body(
        description = "The PDF: the raw body, or the `file` part of a multipart form",
        content(
            (super::openapi::Binary = "application/pdf"),
            (super::openapi::FileUpload = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "The verification report (as `chop verify --json`)", body = super::openapi::VerificationReport),
        (status = 400, description = "Malformed multipart form", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the PDF limit", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither a PDF nor a form", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a readable PDF, no signature, or a verification limit exceeded", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_verify(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, ApiError> {
    let upload = read_upload(req, &state).await?;
    let options = VerifyOptions {
        trust_anchors: state.trust_anchors().as_ref().clone(),
        ..VerifyOptions::default()
    };
    let _slot = state
        .verify_slots()
        .acquire()
        .await
        .map_err(|e| ApiError::internal(format!("verification slots: {e}")))?;
    let result = tokio::task::spawn_blocking(move || verify_pdf(&upload.bytes, &options))
        .await
        .map_err(|e| ApiError::internal(format!("verification task failed: {e}")))?;
    match result {
        Ok(report) => {
            state
                .metrics()
                .observe_verification(report.worst().as_str());
            let value = serde_json::to_value(&report)
                .map_err(|e| ApiError::internal(format!("cannot render the report: {e}")))?;
            Ok(json_response(StatusCode::OK, &value))
        }
        Err(e) => {
            let label = match &e {
                VerifyError::NotPdf(_) => "NOT-A-PDF",
                VerifyError::NoSignature => "NO-SIGNATURE",
                VerifyError::LimitExceeded(_) => "LIMIT-EXCEEDED",
            };
            state.metrics().observe_verification(label);
            Err(verify_error(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_folders() {
        assert_eq!(base_name("C:\\Users\\x\\licence.pdf"), "licence.pdf");
        assert_eq!(base_name("../../etc/passwd"), "passwd");
        assert_eq!(base_name("a\nb.pdf"), "ab.pdf");
    }
}
