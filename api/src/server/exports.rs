//! Retention package export as a background job (issue 7 §2): `POST /v1/archive/exports` queues
//! a job (row in `jobs`) and answers 202 with its id; the job plans the export, appends the
//! `package.exported` record (actor `apikey:<key id>`), signs a checkpoint covering it and
//! streams the BagIt zip into `<data dir>/exports/<job id>.zip` — the same library calls as
//! `chop archive export` — updating its progress; `GET …/{id}` reports status and progress and
//! `GET …/{id}/package` downloads the zip.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chop_archive::log::NewEntry;
use chop_archive::package::four::Outcome;
use chop_archive::package::{
    ExportSpec, PackageError, Progress, Selection, WriteRequest, plan_export, write_package,
};
use chop_archive::record::{RecordKind, Retention, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;

use super::archive::READERS;
use super::auth::{Principal, require_role};
use super::db::on_db;
use super::problem::{ApiError, FieldError, ProblemType, json_response, parse_json};
use super::state::AppState;
use crate::archive::source::{ArchiveSource, SourceError};
use crate::store::Store;

/// The folder, inside the data folder, that holds finished packages.
pub const EXPORTS_DIR: &str = "exports";

/// The job kind in the `jobs` table.
const KIND: &str = "archive.export";

/// `POST /v1/archive/exports` body; every field optional (`{}` exports the whole log).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// First record (default: the first).
    pub from_seq: Option<u64>,
    /// Last record, inclusive (default: the last).
    pub to_seq: Option<u64>,
    /// From the first record at or after this time (RFC 3339, or YYYY-MM-DD = 00:00 UTC).
    pub since: Option<String>,
    /// To the last record before this time (RFC 3339, or YYYY-MM-DD).
    pub until: Option<String>,
    /// Only records about this organisation (统一社会信用代码).
    pub org: Option<String>,
    /// Only records of these kinds (e.g. `document.sealed`).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only records of this retention class: `permanent`, `30y` or `10y`.
    pub retention: Option<String>,
    /// bag-info Source-Organization (default: the log origin).
    pub source_organization: Option<String>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting to start.
    Queued,
    /// Running.
    Running,
    /// Finished: the package can be downloaded.
    Succeeded,
    /// Failed: see `error`.
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> JobStatus {
        match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            _ => JobStatus::Failed,
        }
    }
}

/// An export job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportJob {
    /// The job id (`job_…`).
    pub id: String,
    /// `archive.export`.
    pub kind: String,
    /// Where it is.
    pub status: JobStatus,
    /// Items written so far (records, then documents).
    pub progress: u64,
    /// Items to write (0 until planned).
    pub total: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// What was asked.
    pub request: ExportRequest,
    /// When it was queued (RFC 3339 UTC).
    pub created: String,
    /// When it last changed.
    pub updated: String,
    /// Where to download the package, once written (an absolute URL under the public URL).
    pub package_url: Option<String>,
    /// The package's size in bytes, once written.
    pub package_size: Option<u64>,
}

type JobRow = (
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

fn parse_time(field: &str, s: &str) -> Result<Timestamp, FieldError> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    Timestamp::parse(&full)
        .map_err(|_| FieldError::new(field, "must be YYYY-MM-DD or an RFC 3339 UTC time"))
}

impl ExportRequest {
    /// The selection, with every invalid field named.
    fn selection(&self) -> Result<Selection, ApiError> {
        let mut errors = Vec::new();
        let since = self
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let until = self
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        if (self.from_seq.is_some() || self.to_seq.is_some())
            && (self.since.is_some() || self.until.is_some())
        {
            errors.push(FieldError::new(
                "since",
                "give a seq range (from_seq, to_seq) or a time range (since, until), not both",
            ));
        }
        for (field, v) in [("from_seq", self.from_seq), ("to_seq", self.to_seq)] {
            if v.is_some_and(|v| v > chop_archive::record::MAX_SEQ) {
                errors.push(FieldError::new(
                    field,
                    "larger than any record's seq (2^53)",
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.from_seq, self.to_seq)
            && a > b
        {
            errors.push(FieldError::new("from_seq", "must not be after to_seq"));
        }
        let mut kinds = Vec::new();
        for (i, k) in self.kinds.iter().enumerate() {
            match k.parse::<RecordKind>() {
                Ok(k) => kinds.push(k),
                Err(_) => errors.push(FieldError::new(
                    format!("kinds[{i}]"),
                    format!("{k:?} is not a record kind"),
                )),
            }
        }
        let retention = match self.retention.as_deref() {
            None => None,
            Some(r) => match r.parse::<Retention>() {
                Ok(r) => Some(r),
                Err(_) => {
                    errors.push(FieldError::new(
                        "retention",
                        "must be permanent, 30y or 10y",
                    ));
                    None
                }
            },
        };
        if let Some(org) = &self.org
            && let Err(e) = chop_seal::codes::validate_uscc(org)
        {
            errors.push(FieldError::new(
                "org",
                format!("not a valid 统一社会信用代码: {e}"),
            ));
        }
        if self.source_organization.as_ref().is_some_and(|s| {
            s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control)
        }) {
            errors.push(FieldError::new(
                "source_organization",
                "1 to 200 characters, no control characters",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Selection {
            from_seq: self.from_seq,
            to_seq: self.to_seq,
            since,
            until,
            kinds,
            org: self.org.clone(),
            retention,
        })
    }
}

fn job_from_row(state: &AppState, r: JobRow) -> ExportJob {
    let (id, kind, status, progress, total, params, result_file, error, created, updated) = r;
    let request: ExportRequest = serde_json::from_str(&params).unwrap_or_default();
    let package_size = result_file.as_ref().and_then(|f| {
        std::fs::metadata(state.config().data_dir.join(f))
            .ok()
            .map(|m| m.len())
    });
    ExportJob {
        package_url: package_size
            .map(|_| format!("{}/v1/archive/exports/{id}/package", state.public_url())),
        id,
        kind,
        status: JobStatus::parse(&status),
        progress: u64::try_from(progress).unwrap_or(0),
        total: u64::try_from(total).unwrap_or(0),
        error,
        request,
        created,
        updated,
        package_size,
    }
}

async fn load_job(
    state: &AppState,
    id: &str,
) -> Result<Option<(ExportJob, Option<String>)>, ApiError> {
    let row: Option<JobRow> = on_db!(
        state.store(),
        "SELECT id, kind, status, progress, total, params, result_file, error, created, updated \
         FROM jobs WHERE id = $1 AND kind = $2",
        |pool, sql| sqlx::query_as(sql)
            .bind(id)
            .bind(KIND)
            .fetch_optional(pool)
            .await
            .map_err(ApiError::unavailable)?
    );
    Ok(row.map(|r| {
        let file = r.6.clone();
        (job_from_row(state, r), file)
    }))
}

async fn set_status(
    store: &Store,
    id: &str,
    status: JobStatus,
    error: Option<&str>,
    result_file: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now().as_str().to_owned();
    on_db!(
        store,
        "UPDATE jobs SET status = $1, error = $2, result_file = COALESCE($3, result_file), \
         progress = CASE WHEN $1 = 'succeeded' THEN total ELSE progress END, updated = $4 WHERE id = $5",
        |pool, sql| sqlx::query(sql)
            .bind(status.as_str())
            .bind(error)
            .bind(result_file)
            .bind(&now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    );
    Ok(())
}

async fn set_progress(
    store: &Store,
    id: &str,
    progress: u64,
    total: u64,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now().as_str().to_owned();
    let (p, t) = (
        i64::try_from(progress).unwrap_or(i64::MAX),
        i64::try_from(total).unwrap_or(i64::MAX),
    );
    on_db!(
        store,
        "UPDATE jobs SET progress = $1, total = $2, updated = $3 WHERE id = $4",
        |pool, sql| sqlx::query(sql)
            .bind(p)
            .bind(t)
            .bind(&now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    );
    Ok(())
}

/// Marks export jobs a previous run of this server left queued or running as failed (their
/// process is gone). Only for SQLite: a PostgreSQL database may be shared with other servers
/// whose jobs are alive.
pub async fn fail_interrupted_jobs(store: &Store) -> Result<u64, sqlx::Error> {
    if !matches!(store, Store::Sqlite(_)) {
        return Ok(0);
    }
    let now = Timestamp::now().as_str().to_owned();
    let done = on_db!(
        store,
        "UPDATE jobs SET status = 'failed', error = 'interrupted: the server stopped before the job finished', \
         updated = $1 WHERE kind = $2 AND status IN ('queued', 'running')",
        |pool, sql| sqlx::query(sql)
            .bind(&now)
            .bind(KIND)
            .execute(pool)
            .await?
            .rows_affected()
    );
    Ok(done)
}

/// Start exporting a retention package (archivist, auditor, admin).
#[utoipa::path(
    post, path = "/v1/archive/exports", tag = "archive",
    request_body(content = Option<ExportRequest>, description = "What to export; `{}` (or no body) exports the whole log"),
    responses(
        (status = 202, description = "Queued; poll the Location", body = ExportJob),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn post_export(
    State(state): State<AppState>,
    principal: Principal,
    req: Request,
) -> Result<Response, ApiError> {
    require_role(&principal, READERS)?;
    let request = read_optional_json(req, &state).await?;
    let selection = request.selection()?;
    let id = format!("job_{}", hex::encode(random_id()?));
    let now = Timestamp::now().as_str().to_owned();
    let params = serde_json::to_string(&request).map_err(ApiError::internal)?;
    on_db!(
        state.store(),
        "INSERT INTO jobs (id, kind, status, progress, total, params, actor, created, updated) \
         VALUES ($1, $2, 'queued', 0, 0, $3, $4, $5, $5)",
        |pool, sql| sqlx::query(sql)
            .bind(&id)
            .bind(KIND)
            .bind(&params)
            .bind(principal.actor())
            .bind(&now)
            .execute(pool)
            .await
            .map_err(ApiError::unavailable)?
            .rows_affected()
    );
    tracing::info!(job_id = %id, "export queued");
    let job_state = state.clone();
    let (job_id, actor) = (id.clone(), principal.actor());
    state.spawn_job(async move {
        run_export(job_state, job_id, actor, request, selection).await;
    });
    let (job, _) = load_job(&state, &id)
        .await?
        .ok_or_else(|| ApiError::internal("the job row vanished"))?;
    let mut response = json_response(StatusCode::ACCEPTED, &job);
    if let Ok(v) = format!("/v1/archive/exports/{id}").parse() {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

fn random_id() -> Result<[u8; 8], ApiError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ApiError::internal("the system random number generator failed"))?;
    Ok(b)
}

/// A JSON body, or the default for an empty body.
async fn read_optional_json(req: Request, state: &AppState) -> Result<ExportRequest, ApiError> {
    use axum::extract::FromRequest;
    let has_type = req.headers().contains_key(header::CONTENT_TYPE);
    let json = super::problem::media_type(req.headers()).is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    });
    let bytes = axum::body::Bytes::from_request(req, state)
        .await
        .map_err(super::problem::body_rejection)?;
    if bytes.is_empty() {
        return Ok(ExportRequest::default());
    }
    if has_type && !json {
        return Err(ApiError::new(
            ProblemType::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ));
    }
    // `null` is an empty request too.
    Ok(parse_json::<Option<ExportRequest>>(&bytes)?.unwrap_or_default())
}

/// An export job's status and progress.
#[utoipa::path(
    get, path = "/v1/archive/exports/{id}", tag = "archive",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = ExportJob),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_export(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_role(&principal, READERS)?;
    let (job, _) = load_job(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no export job {id:?}")))?;
    Ok(json_response(StatusCode::OK, &job))
}

/// Download an export job's package (a BagIt zip).
#[utoipa::path(
    get, path = "/v1/archive/exports/{id}/package", tag = "archive",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The retention package", body = super::openapi::Binary, content_type = "application/zip"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The package is not written (yet)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn get_export_package(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_role(&principal, READERS)?;
    let (job, file) = load_job(&state, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no export job {id:?}")))?;
    let Some(file) = file else {
        return Err(ApiError::new(
            ProblemType::JobNotReady,
            format!("the job is {}", job.status.as_str()),
        ));
    };
    let path = state.config().data_dir.join(&file);
    let f = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "package file missing");
        ApiError::new(
            ProblemType::NotFound,
            "the package file is gone from the server",
        )
    })?;
    let len = f.metadata().await.map(|m| m.len()).ok();
    let stream = futures_util::stream::try_unfold(f, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            Ok::<_, std::io::Error>(None)
        } else {
            buf.truncate(n);
            Ok(Some((axum::body::Bytes::from(buf), f)))
        }
    });
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = format!("attachment; filename=\"{id}.zip\"").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// A job's failure: the message kept in the row (no paths or secrets beyond the data folder's
/// own layout).
fn package_message(e: &PackageError<SourceError>) -> String {
    match e {
        PackageError::Usage(m) => m.clone(),
        other => other.to_string(),
    }
}

async fn run_export(
    state: AppState,
    id: String,
    actor: String,
    request: ExportRequest,
    selection: Selection,
) {
    let store = state.store().clone();
    if let Err(e) = set_status(&store, &id, JobStatus::Running, None, None).await {
        tracing::error!(job_id = %id, error = %e, "cannot start the job");
        return;
    }
    let started = Instant::now();
    let outcome = export(&state, &id, &actor, request, selection).await;
    let result = match &outcome {
        Ok(Exported::Ok(file)) => {
            set_status(&store, &id, JobStatus::Succeeded, None, Some(file)).await
        }
        Ok(Exported::ReportFails(file)) => {
            set_status(
                &store,
                &id,
                JobStatus::Failed,
                Some("the package was written, but its four-property report fails: the archive has problems (download it to read the report; run `chop archive verify`)"),
                Some(file),
            )
            .await
        }
        Err(message) => set_status(&store, &id, JobStatus::Failed, Some(message), None).await,
    };
    match (&outcome, result) {
        (_, Err(e)) => tracing::error!(job_id = %id, error = %e, "cannot record the job's end"),
        (Ok(_), Ok(())) => {
            tracing::info!(job_id = %id, seconds = started.elapsed().as_secs_f64(), "export finished")
        }
        (Err(m), Ok(())) => tracing::warn!(job_id = %id, error = %m, "export failed"),
    }
}

enum Exported {
    Ok(String),
    ReportFails(String),
}

async fn export(
    state: &AppState,
    id: &str,
    actor: &str,
    request: ExportRequest,
    selection: Selection,
) -> Result<Exported, String> {
    let archive = state.archive();
    let signer = state.signer().clone();
    let log = archive.log();
    let head = log.head().await.map_err(|e| e.to_string())?;
    let spec = ExportSpec {
        selection,
        source_organization: request
            .source_organization
            .clone()
            .unwrap_or_else(|| archive.config().origin.clone()),
        origin: archive.config().origin.clone(),
        bagging_time: Timestamp::now(),
    };
    let source = ArchiveSource::new(archive, signer.clone());
    let (plan, source) = tokio::task::spawn_blocking(move || {
        let mut source = source;
        let plan = plan_export(&mut source, spec, head.size);
        (plan, source)
    })
    .await
    .map_err(|e| format!("export task failed: {e}"))?;
    let plan = plan.map_err(|e| package_message(&e))?;
    let total = plan.record_count() + plan.document_count();
    let _ = set_progress(archive.store(), id, 0, total).await;

    let receipt = archive
        .appender()
        .append_one(NewEntry {
            idempotency_key: Some(format!("export:{id}")),
            record: plan.exported_record(actor),
        })
        .await
        .map_err(|e| format!("cannot append the package.exported record: {e}"))?;
    let checkpoint = log
        .checkpoint(&signer)
        .await
        .map_err(|e| format!("cannot sign the checkpoint: {e}"))?;

    let dir = archive.config().data_dir.join(EXPORTS_DIR);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create the exports folder: {e}"))?;
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .suffix(".zip.tmp")
        .tempfile_in(&dir)
        .map_err(|e| format!("cannot write in the exports folder: {e}"))?;
    let write = WriteRequest {
        checkpoint: checkpoint.note,
        verifier: signer.verifier(),
        extra_anchors: state.trust_anchors().as_ref().clone(),
        crls: Vec::new(),
        threads: 1,
    };
    let (handle, store, job_id) = (
        tokio::runtime::Handle::current(),
        archive.store().clone(),
        id.to_owned(),
    );
    let records = plan.record_count();
    let written = tokio::task::spawn_blocking(move || {
        let mut source = source;
        let mut last = Instant::now();
        let mut on_progress = |p: Progress| {
            // At most a few progress writes per second.
            if last.elapsed() < Duration::from_millis(250) {
                return;
            }
            last = Instant::now();
            let done = match p.stage {
                "records" => p.done,
                _ => records + p.done,
            };
            let _ = handle.block_on(set_progress(&store, &job_id, done.min(total), total));
        };
        let file = std::io::BufWriter::with_capacity(1 << 20, tmp);
        write_package(
            &mut source,
            &plan,
            receipt.seq,
            &write,
            file,
            &mut on_progress,
        )
    })
    .await
    .map_err(|e| format!("export task failed: {e}"))?;
    let (summary, file) = written.map_err(|e| package_message(&e))?;
    let tmp = file
        .into_inner()
        .map_err(|e| format!("cannot write the package: {e}"))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| format!("cannot write the package: {e}"))?;
    let name = format!("{EXPORTS_DIR}/{id}.zip");
    tmp.persist(archive.config().data_dir.join(&name))
        .map_err(|e| format!("cannot store the package: {}", e.error))?;
    Ok(if summary.report.result == Outcome::Fail {
        Exported::ReportFails(name)
    } else {
        Exported::Ok(name)
    })
}
