//! `chop serve` (issue 7): the REST API over HTTP with axum. This module opens the archive,
//! makes the first admin API key, assembles the router and its layers, and runs the server
//! until SIGTERM or SIGINT, then finishes in-flight requests and background jobs and closes the
//! archive.
//!
//! Layers, outermost first: [`ops::observe`] (request id in and out, one log line, metrics) →
//! panic catcher → [`problem::problemize`] (every 4xx/5xx becomes RFC 9457 problem+json) →
//! request timeout → routes (public ones rate-limited per client address) with their body size
//! limits. The endpoints and every problem type are described in docs/API.md, and in OpenAPI 3.1
//! at `/openapi.json` (Swagger UI at `/docs`). The public HTML pages for people (`/verify`,
//! `/v/{id}`) are [`pages`] (docs/VERIFY-PAGE.md).

pub mod archive;
pub mod auth;
pub mod config;
pub mod db;
pub mod exports;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod pagination;
pub mod problem;
pub mod registry_api;
pub mod state;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use self::auth::AdminKey;
use self::config::{ADMIN_KEY_FILE, Config, DEV_ROOT_CERT, LogFormat};
use self::problem::{ApiError, ProblemType};
use self::state::AppState;
use crate::archive::{Archive, GroupCommit};
use crate::registry::{Registry, RegistryConfig, RegistryError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A configuration problem.
    #[error("{0}")]
    Config(String),
    /// The archive or database cannot be opened.
    #[error("{0}")]
    Storage(String),
    /// A file cannot be read or written.
    #[error("{0}")]
    Io(String),
}

/// Sets up logging to stderr: text or JSON lines, filtered by `CHOP_LOG` / `RUST_LOG`
/// (default `info`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CHOP_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Reads trust anchors: the configured PEM files, then the data folder's development root if
/// there is one.
fn load_trust_anchors(config: &Config) -> Result<Vec<Vec<u8>>, ServeError> {
    let mut anchors = Vec::new();
    let dev_root = config.data_dir.join(DEV_ROOT_CERT);
    let mut files = config.trust_anchors.clone();
    if dev_root.is_file() {
        files.push(dev_root);
    }
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ServeError::Config(format!("trust anchor {}: {e}", path.display())))?;
        let certs = chop_seal::certs::certificates_from_pem(&text)
            .map_err(|e| ServeError::Config(format!("trust anchor {}: {e}", path.display())))?;
        anchors.extend(certs);
    }
    Ok(anchors)
}

/// The router with every route and layer.
pub fn router(state: AppState) -> Router {
    let limits = state.config().limits.clone();
    let pdf_limit = DefaultBodyLimit::max(limits.max_pdf_bytes);

    let mut public = Router::new()
        .route("/v1/verify", post(verify::post_verify).layer(pdf_limit))
        .route("/v1/archive/checkpoint", get(archive::get_checkpoint))
        .route("/v1/archive/pubkey", get(archive::get_pubkey))
        .route(
            "/v1/licences/{id}/status",
            get(registry_api::get_licence_status),
        )
        .route("/v1/licence-types", get(registry_api::list_licence_types))
        .route(
            "/v1/licence-types/{type}/example",
            get(registry_api::get_licence_type_example),
        )
        .merge(pages::router(limits.max_pdf_bytes))
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .external_url_unchecked("/openapi.json", openapi::document()),
        );
    if limits.public_rate_per_second > 0 {
        let period = Duration::from_nanos(1_000_000_000 / u64::from(limits.public_rate_per_second));
        if let Some(conf) = GovernorConfigBuilder::default()
            .period(period.max(Duration::from_nanos(1)))
            .burst_size(limits.public_burst)
            .finish()
        {
            let conf = Arc::new(conf);
            let limiter = conf.limiter().clone();
            // Forget idle client addresses now and then.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    limiter.retain_recent();
                }
            });
            public = public.layer(GovernorLayer::new(conf).error_handler(|e| {
                let mut err = ApiError::new(
                    ProblemType::RateLimited,
                    "too many requests from this address; retry after the Retry-After delay",
                );
                if let tower_governor::GovernorError::TooManyRequests { wait_time, .. } = e {
                    err.retry_after = Some(wait_time.max(1));
                } else {
                    err = ApiError::internal(format!("rate limiter: {e}"));
                }
                err.into_response()
            }));
        }
    }

    let private = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route(
            "/v1/api-keys",
            post(auth::post_api_key).get(auth::list_api_keys),
        )
        .route("/v1/api-keys/{id}", delete(auth::delete_api_key))
        .route("/v1/archive/records/{seq}", get(archive::get_record))
        .route(
            "/v1/archive/proofs/inclusion",
            get(archive::get_inclusion_proof),
        )
        .route(
            "/v1/archive/proofs/consistency",
            get(archive::get_consistency_proof),
        )
        .route(
            "/v1/archive/ingest",
            post(archive::post_ingest).layer(pdf_limit),
        )
        .route(
            "/v1/organisations",
            post(registry_api::post_organisation).get(registry_api::list_organisations),
        )
        .route(
            "/v1/organisations/{id}",
            get(registry_api::get_organisation).patch(registry_api::patch_organisation),
        )
        .route(
            "/v1/seals",
            post(registry_api::post_seal).get(registry_api::list_seals),
        )
        .route("/v1/seals/{id}", get(registry_api::get_seal))
        .route(
            "/v1/seals/{id}/picture",
            get(registry_api::get_seal_picture),
        )
        .route("/v1/seals/{id}/seal.der", get(registry_api::get_seal_der))
        .route("/v1/seals/{id}/revoke", post(registry_api::revoke_seal))
        .route("/v1/sign", post(registry_api::post_sign).layer(pdf_limit))
        .route(
            "/v1/licences",
            post(registry_api::post_licence).get(registry_api::list_licences),
        )
        .route("/v1/licences/{id}", get(registry_api::get_licence))
        .route("/v1/licences/{id}/pdf", get(registry_api::get_licence_pdf))
        .route(
            "/v1/licences/{id}/suspend",
            post(registry_api::suspend_licence),
        )
        .route(
            "/v1/licences/{id}/reinstate",
            post(registry_api::reinstate_licence),
        )
        .route(
            "/v1/licences/{id}/revoke",
            post(registry_api::revoke_licence),
        )
        .route(
            "/v1/licences/{id}/supersede",
            post(registry_api::supersede_licence),
        )
        .route("/v1/archive/exports", post(exports::post_export))
        .route("/v1/archive/exports/{id}", get(exports::get_export))
        .route(
            "/v1/archive/exports/{id}/package",
            get(exports::get_export_package),
        );

    layered(Router::new().merge(public).merge(private), state)
}

/// `routes` with the fallback and the layers every route has (see the module documentation).
fn layered(routes: Router<AppState>, state: AppState) -> Router {
    let limits = state.config().limits.clone();
    routes
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json for the API") })
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn(problem::problemize))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .with_state(state)
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}

fn print_admin_key(outcome: &AdminKey) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let text = match outcome {
        AdminKey::Created { secret, id, file } => {
            let bar = "=".repeat(78);
            format!(
                "{bar}\n\
                 DEVELOPMENT ADMIN API KEY — shown only this once (id {id})\n\
                 \n    {secret}\n\n\
                 Also written to {} (mode 0600). Use it as\n    \
                 Authorization: Bearer <key>\n\
                 to create the keys people and programs should use (POST /v1/api-keys),\n\
                 then keep this one offline. Anyone holding it controls this server.\n\
                 {bar}",
                file.display()
            )
        }
        AdminKey::FileExists(file) => format!(
            "chop serve: the first admin API key is in {} (made on first start)",
            file.display()
        ),
        AdminKey::Elsewhere => {
            "chop serve: admin API keys exist in the database (no key file in this data folder)"
                .to_owned()
        }
    };
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Runs the server with `config` until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let archive = Archive::open(config.archive_config(), GroupCommit::default())
        .await
        .map_err(|e| ServeError::Storage(format!("cannot open the archive: {e}")))?;
    let archive = Arc::new(archive);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServeError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let public_url = config.public_url_for(bound);

    // First start: the development PKI in <data dir>/keys/, the development bureau and its
    // seal (before the trust anchors are read: the dev root is one of them).
    let (registry, bureau) = Registry::open(
        archive.clone(),
        &RegistryConfig {
            public_url: public_url.clone(),
            templates_dir: config.templates_dir.clone(),
        },
    )
    .await
    .map_err(|e| match e {
        RegistryError::Invalid(m) => ServeError::Config(m),
        other => ServeError::Storage(format!("the registry: {other}")),
    })?;
    if bureau.created {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout().lock(),
            "chop serve: first start: made a DEVELOPMENT PKI in {}/keys/ and the development bureau {} ({}, organisation {}) with seal {} ({})",
            config.data_dir.display(),
            bureau.organisation.name,
            bureau.organisation.uscc,
            bureau.organisation.id,
            bureau.seal.name,
            bureau.seal.id,
        );
    }
    let registry = Arc::new(registry);
    chop_seal::licence::prepare_fonts(false)
        .map_err(|e| ServeError::Config(format!("licence fonts: {e}")))?;

    let signer = archive
        .signer()
        .await
        .map_err(|e| ServeError::Storage(format!("the log key: {e}")))?;
    let key_file = config.data_dir.join(ADMIN_KEY_FILE);
    let admin = auth::ensure_admin_key(&archive, &key_file)
        .await
        .map_err(ServeError::Storage)?;
    print_admin_key(&admin);
    match exports::fail_interrupted_jobs(archive.store()).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "marked interrupted export jobs as failed"),
        Err(e) => return Err(ServeError::Storage(format!("jobs table: {e}"))),
    }
    let anchors = load_trust_anchors(&config)?;

    let state = AppState::new(
        config.clone(),
        public_url.clone(),
        archive.clone(),
        registry,
        signer,
        anchors,
    );
    let app = router(state.clone());
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout().lock(),
            "chop serve: listening on http://{bound} (public URL {public_url}; API description {public_url}/openapi.json, docs {public_url}/docs)"
        );
        let _ = std::io::stdout().flush();
    }
    tracing::info!(
        address = %bound,
        database = archive.store().backend(),
        data_dir = %config.data_dir.display(),
        "serving"
    );
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    tracing::info!("no more requests; waiting for background jobs");
    state.join_jobs().await;
    drop(state);
    match Arc::try_unwrap(archive) {
        Ok(archive) => archive.close().await,
        Err(archive) => {
            tracing::warn!("the archive is still shared at shutdown; closing its database");
            archive.store().close().await;
        }
    }
    tracing::info!("stopped");
    served.map_err(|e| ServeError::Io(format!("server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers turn a timeout, a panic and a wrong method into problems, and carry the
    /// request id.
    #[test]
    fn layers_answer_every_failure_with_a_problem() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut config = Config {
                data_dir: dir.path().join("data"),
                ..Config::default()
            };
            config.limits.request_timeout = Duration::from_millis(100);
            let archive = Arc::new(
                Archive::open(config.archive_config(), GroupCommit::default())
                    .await
                    .unwrap(),
            );
            let signer = archive.signer().await.unwrap();
            let (registry, _) = Registry::open(
                archive.clone(),
                &RegistryConfig {
                    public_url: "http://test".into(),
                    templates_dir: None,
                },
            )
            .await
            .unwrap();
            let state = AppState::new(
                config,
                "http://test".into(),
                archive.clone(),
                Arc::new(registry),
                signer,
                Vec::new(),
            );
            let routes = Router::new()
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        "late"
                    }),
                )
                .route(
                    "/panic",
                    get(|| async {
                        let v: Vec<u8> = Vec::new();
                        // An out-of-bounds index: a bug in a handler.
                        #[allow(clippy::indexing_slicing)]
                        let x = v[std::hint::black_box(3)];
                        x.to_string()
                    }),
                );
            let app = layered(routes, state);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            let c = reqwest::Client::new();
            for (method, path, status, slug) in [
                ("GET", "/slow", 503, "timeout"),
                ("GET", "/panic", 500, "internal"),
                ("POST", "/slow", 405, "method-not-allowed"),
                ("GET", "/none", 404, "not-found"),
            ] {
                let r = c
                    .request(method.parse().unwrap(), format!("http://{addr}{path}"))
                    .header("x-request-id", "unit-1")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), status, "{method} {path}");
                assert_eq!(r.headers()["x-request-id"], "unit-1");
                assert_eq!(r.headers()["content-type"], problem::PROBLEM_JSON);
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["type"], format!("{}{slug}", problem::PROBLEM_BASE));
                assert_eq!(v["status"], status);
            }
        });
    }
}
