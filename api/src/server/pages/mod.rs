//! The public verification pages (issue 7 §6): server-rendered HTML for people, in Chinese by
//! default with an English switch (`?lang=en`, remembered in a cookie), usable on a phone,
//! with nothing loaded from another origin and JavaScript only to add drag-and-drop to a form
//! that works without it.
//!
//! - `GET /verify`: the upload form. `POST /verify` (`multipart/form-data`, part `file`): the
//!   verification result in plain language, from the same engine and trust anchors as
//!   `POST /v1/verify` ([`chop_seal::verify::verify_pdf`] on a blocking thread). A bad upload
//!   gets the form again with a friendly explanation and the HTTP status the API would use.
//! - `GET /v/{id}` (the QR code's target; `id` is the licence's public id): the licence's status,
//!   its facts with the holder masked ([`mask`]), the seal, the verification of the stored
//!   sealed PDF now, the time and a 核验编号. `GET /v/{id}/seal.png`: the seal picture.
//! - `GET /assets/…`: the style sheet, the script and the service mark, from the binary.
//!
//! Every verification is logged with its 核验编号 (never the holder or the document content).
//! docs/VERIFY-PAGE.md describes the pages.

mod html;
mod licence_page;
mod verify_page;
mod words;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chop_seal::verify::{VerifyError, VerifyOptions, verify_pdf};
use time::OffsetDateTime;

use self::html::{Frame, PageLang, asset_response, cacheable_response, document, html_response};
use self::licence_page::{
    LicencePage, StoredCheck, licence_main, not_found_main, unavailable_main,
};

use self::verify_page::{UploadProblem, form_main, result_main, seal_picture};
use self::words::verification_reference;
use super::problem::ProblemType;
use super::state::AppState;
use super::verify::read_upload;
use crate::registry::{Licence, Registry, RegistryError};

/// Room for the multipart framing around a PDF of the largest accepted size.
const FORM_OVERHEAD: usize = 64 * 1024;

/// The pages' routes; `max_pdf_bytes` is the largest PDF `POST /verify` accepts.
pub fn router(max_pdf_bytes: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/verify",
            get(get_verify)
                .post(post_verify)
                .layer(DefaultBodyLimit::max(
                    max_pdf_bytes.saturating_add(FORM_OVERHEAD),
                )),
        )
        .route("/v/{id}", get(get_licence))
        .route("/v/{id}/seal.png", get(get_seal_png))
        .route(
            "/assets/pages.css",
            get(|| async { asset_response("text/css; charset=utf-8", html::CSS) }),
        )
        .route(
            "/assets/verify.js",
            get(|| async { asset_response("text/javascript; charset=utf-8", html::JS) }),
        )
        .route(
            "/assets/emblem.svg",
            get(|| async { asset_response("image/svg+xml", html::EMBLEM_SVG) }),
        )
}

/// The registry of e-licences.
fn registry(state: &AppState) -> &Arc<Registry> {
    state.registry()
}

fn form_page(
    state: &AppState,
    lang: PageLang,
    status: StatusCode,
    problem: Option<&UploadProblem>,
) -> Response {
    let l = lang.lang;
    let frame = Frame {
        lang: l,
        title: l.pick("文件核验", "Verify a document"),
        switch_href: format!("/verify?lang={}", l.other().code()),
        script: true,
    };
    let main = form_main(l, state.config().limits.max_pdf_bytes, problem);
    html_response(status, lang, document(&frame, &main))
}

/// `GET /verify`: the upload form.
async fn get_verify(State(state): State<AppState>, lang: PageLang) -> Response {
    form_page(&state, lang, StatusCode::OK, None)
}

/// Why an upload was refused: the status and the words.
fn upload_problem(
    lang: PageLang,
    kind: ProblemType,
    max_bytes: usize,
) -> (StatusCode, UploadProblem) {
    let l = lang.lang;
    let mb = (max_bytes / (1024 * 1024)).max(1);
    let (title, detail) = match kind {
        ProblemType::PayloadTooLarge => (
            l.pick("文件太大", "The file is too large").to_owned(),
            match l {
                html::Lang::Zh => format!("本服务可核验不超过 {mb} MB 的文件。"),
                html::Lang::En => format!("This service verifies files of up to {mb} MB."),
            },
        ),
        ProblemType::NotAPdf => (
            l.pick("这不是 PDF 文件", "This is not a PDF file").to_owned(),
            l.pick(
                "无法将该文件读取为 PDF。请上传您收到的电子证照或加盖电子印章的 PDF 原文件（不要截图或转换格式）。",
                "The file cannot be read as a PDF. Upload the e-licence or sealed PDF exactly as you received it (not a screenshot or a converted copy).",
            )
            .to_owned(),
        ),
        ProblemType::NoSignature => (
            l.pick("该文件没有电子签章", "This PDF has no electronic seal").to_owned(),
            l.pick(
                "文件中没有任何电子签章，因此无法核验其来源。纸质文件扫描件或打印后重新生成的文件不带电子签章。",
                "The file carries no electronic seal, so its origin cannot be checked. Scans and re-saved copies lose the seal.",
            )
            .to_owned(),
        ),
        ProblemType::PdfLimitExceeded => (
            l.pick("文件过于复杂", "The file is too complex").to_owned(),
            l.pick(
                "该文件超出了本服务的核验限制（对象、版本或签章过多）。",
                "The file exceeds a limit of this service (too many objects, revisions or signatures).",
            )
            .to_owned(),
        ),
        ProblemType::UnsupportedMediaType => (
            l.pick("上传方式不正确", "Wrong kind of upload").to_owned(),
            l.pick(
                "请使用本页面上的表单上传 PDF 文件。",
                "Use the form on this page to upload the PDF.",
            )
            .to_owned(),
        ),
        _ => (
            l.pick("没有收到文件", "No file received").to_owned(),
            l.pick(
                "请先选择要核验的 PDF 文件，再点击“开始核验”。",
                "Choose the PDF to verify first, then press “Verify”.",
            )
            .to_owned(),
        ),
    };
    let status = match kind {
        ProblemType::ValidationFailed => StatusCode::BAD_REQUEST,
        k => k.status(),
    };
    (status, UploadProblem { title, detail })
}

/// The verification options of this server (the same as `POST /v1/verify`).
fn verify_options(state: &AppState) -> VerifyOptions {
    VerifyOptions {
        trust_anchors: state.trust_anchors().as_ref().clone(),
        ..VerifyOptions::default()
    }
}

/// `POST /verify`: verify the uploaded PDF and show the result.
async fn post_verify(State(state): State<AppState>, lang: PageLang, req: Request) -> Response {
    let max = state.config().limits.max_pdf_bytes;
    let refuse = |kind: ProblemType| {
        let (status, problem) = upload_problem(lang, kind, max);
        form_page(&state, lang, status, Some(&problem))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max.saturating_add(FORM_OVERHEAD)) {
        drain(req.into_body(), max).await;
        return refuse(ProblemType::PayloadTooLarge);
    }
    let upload = match read_upload(req, &state).await {
        Ok(u) => u,
        Err(e) => return refuse(e.kind),
    };
    if upload.bytes.is_empty() {
        return refuse(ProblemType::ValidationFailed);
    }
    if upload.bytes.len() > max {
        return refuse(ProblemType::PayloadTooLarge);
    }
    let options = verify_options(&state);
    let bytes = upload.bytes;
    let Ok(_slot) = state.verify_slots().acquire().await else {
        return error_page(lang, StatusCode::SERVICE_UNAVAILABLE);
    };
    let outcome = tokio::task::spawn_blocking(move || {
        verify_pdf(&bytes, &options).map(|report| {
            let pictures: Vec<Option<Vec<u8>>> = report
                .signatures
                .iter()
                .map(|sig| seal_picture(&bytes, sig))
                .collect();
            (report, pictures)
        })
    })
    .await;
    let (report, pictures) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            let (label, kind) = match e {
                VerifyError::NotPdf(_) => ("NOT-A-PDF", ProblemType::NotAPdf),
                VerifyError::NoSignature => ("NO-SIGNATURE", ProblemType::NoSignature),
                VerifyError::LimitExceeded(_) => ("LIMIT-EXCEEDED", ProblemType::PdfLimitExceeded),
            };
            state.metrics().observe_verification(label);
            return refuse(kind);
        }
        Err(e) => {
            tracing::error!(error = %e, "verification task failed");
            return error_page(lang, StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    state
        .metrics()
        .observe_verification(report.worst().as_str());
    let reference = verification_reference();
    tracing::info!(
        verification_ref = %reference,
        document_sha256 = %report.document.sha256,
        indication = report.worst().as_str(),
        signatures = report.signatures.len(),
        "verification page: uploaded document verified"
    );
    let l = lang.lang;
    let frame = Frame {
        lang: l,
        title: l.pick("核验结果", "Verification result"),
        switch_href: format!("/verify?lang={}", l.other().code()),
        script: false,
    };
    let main = result_main(
        &report,
        &pictures,
        upload.file_name.as_deref(),
        &reference,
        l,
    );
    html_response(StatusCode::OK, lang, document(&frame, &main))
}

/// Reads and discards an oversize upload (at most twice the limit and 8 MiB more), so that
/// the browser, still sending, gets to read the answer instead of a reset connection (what
/// nginx calls a lingering close).
async fn drain(body: axum::body::Body, max: usize) {
    use futures_util::StreamExt as _;
    let cap = max.saturating_mul(2).saturating_add(8 * 1024 * 1024);
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen = seen.saturating_add(chunk.len());
        if seen > cap {
            break;
        }
    }
}

/// A page saying the service cannot answer now.
fn error_page(lang: PageLang, status: StatusCode) -> Response {
    let l = lang.lang;
    let frame = Frame {
        lang: l,
        title: l.pick("暂时无法核验", "Unavailable"),
        switch_href: format!("/verify?lang={}", l.other().code()),
        script: false,
    };
    html_response(status, lang, document(&frame, &unavailable_main(l)))
}

fn not_found_page(lang: PageLang, id: &str) -> Response {
    let l = lang.lang;
    let switch = if plausible_public_id(id) {
        format!("/v/{id}?lang={}", l.other().code())
    } else {
        format!("/verify?lang={}", l.other().code())
    };
    let frame = Frame {
        lang: l,
        title: l.pick("未找到该证照", "No such licence"),
        switch_href: switch,
        script: false,
    };
    html_response(
        StatusCode::NOT_FOUND,
        lang,
        document(&frame, &not_found_main(l)),
    )
}

/// A public id is 8–64 characters of `A-Z a-z 0-9 - _` (anything else is not looked up).
fn plausible_public_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The licence whose *public id* is `id` (an identifier, which the registry also accepts,
/// is not a public link and is treated as unknown).
async fn licence_by_public_id(
    registry: &Registry,
    id: &str,
) -> Result<Option<Licence>, RegistryError> {
    if !plausible_public_id(id) {
        return Ok(None);
    }
    match registry.licence(id).await {
        Ok(l) if l.public_id == id => Ok(Some(l)),
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /v/{id}`: the licence status page.
async fn get_licence(
    State(state): State<AppState>,
    lang: PageLang,
    Path(id): Path<String>,
) -> Response {
    let registry = registry(&state).clone();
    let licence = match licence_by_public_id(&registry, &id).await {
        Ok(Some(l)) => l,
        Ok(None) => return not_found_page(lang, &id),
        Err(e) => {
            tracing::error!(error = %e, "licence page: registry lookup failed");
            return error_page(lang, StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let seal = match registry.seal_row(&licence.seal_id).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, seal = %licence.seal_id, "licence page: seal not found");
            None
        }
    };
    let new_version = match &licence.superseded_by {
        Some(next) => registry.licence(next).await.ok().map(|n| n.public_id),
        None => None,
    };
    let check = match registry.licence_pdf(&licence.public_id).await {
        Ok(pdf) => {
            let options = verify_options(&state);
            let slot = state.verify_slots().acquire().await;
            let check = match tokio::task::spawn_blocking(move || verify_pdf(&pdf, &options)).await
            {
                Ok(Ok(report)) => {
                    state
                        .metrics()
                        .observe_verification(report.worst().as_str());
                    StoredCheck::Report(Box::new(report))
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, licence = %licence.public_id, "licence page: the stored PDF does not verify");
                    StoredCheck::Failed
                }
                Err(e) => {
                    tracing::error!(error = %e, "licence page: verification task failed");
                    StoredCheck::Failed
                }
            };
            drop(slot);
            check
        }
        Err(e) => {
            tracing::error!(error = %e, licence = %licence.public_id, "licence page: cannot read the stored PDF");
            StoredCheck::Failed
        }
    };
    let reference = verification_reference();
    tracing::info!(
        verification_ref = %reference,
        licence = %licence.public_id,
        status = licence.status.as_str(),
        indication = match &check {
            StoredCheck::Report(r) => r.worst().as_str(),
            StoredCheck::Failed => "ERROR",
        },
        "verification page: licence status shown"
    );
    let (holder_name, holder_code) = registry.masked_holder(&licence);
    let page = LicencePage {
        licence: &licence,
        holder_name,
        holder_code,
        seal_name: seal.as_ref().map(|s| s.name.clone()),
        has_seal_picture: seal.as_ref().is_some_and(|s| !s.picture_png.is_empty()),
        new_version,
        check,
        now: OffsetDateTime::now_utc(),
        reference: &reference,
    };
    let l = lang.lang;
    let title = format!(
        "{} · {}",
        licence.type_name,
        match l {
            html::Lang::Zh => licence_page::status_words(licence.status).1,
            html::Lang::En => licence_page::status_words(licence.status).2,
        }
    );
    let frame = Frame {
        lang: l,
        title: &title,
        switch_href: format!("/v/{}?lang={}", licence.public_id, l.other().code()),
        script: false,
    };
    html_response(
        StatusCode::OK,
        lang,
        document(&frame, &licence_main(&page, l)),
    )
}

/// `GET /v/{id}/seal.png`: the picture of the seal the licence was sealed with.
async fn get_seal_png(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let registry = registry(&state).clone();
    let licence = match licence_by_public_id(&registry, &id).await {
        Ok(Some(l)) => l,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "seal picture: registry lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match registry.seal_row(&licence.seal_id).await {
        Ok(seal) if !seal.picture_png.is_empty() => {
            cacheable_response("image/png", "public, max-age=3600", seal.picture_png)
        }
        Ok(_) | Err(RegistryError::NotFound { .. }) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "seal picture: seal lookup failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
