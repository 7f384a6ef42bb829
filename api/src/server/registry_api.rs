//! The registry over HTTP: organisations, seals, sealing (`POST /v1/sign`), e-licences and
//! the public licence status. Access: admins everything; issuers only their organisation's
//! seals and licences; auditors read; archivists have no registry access.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chop_archive::Hash;
use chop_seal::sign::{PageSelector, SignOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::archive::query_error;
use super::auth::{Principal, Role, require_role};
use super::pagination::PageQuery;
use super::problem::{ApiError, ApiJson, FieldError, ProblemType, json_response};
use super::state::AppState;
use crate::archive::SealedDocument;
use crate::registry::{
    IssueRequest, Licence, LicenceFilter, LicenceStatus, NewOrganisation, NewSeal, Organisation,
    OrganisationPatch, RegistryError, SealKey, SealView, StatusChange,
};

/// Maps a registry error to its problem.
pub fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::Invalid(m) => {
            let (field, msg) = m.split_once(": ").unwrap_or(("body", m.as_str()));
            ApiError::field(field.to_owned(), msg.to_owned())
        }
        RegistryError::Fields(errors) => ApiError::validation(
            errors
                .iter()
                .map(|f| FieldError::new(format!("data.{}", f.field), f.to_string()))
                .collect(),
        ),
        RegistryError::NotFound { .. } => ApiError::not_found(e.to_string()),
        RegistryError::Conflict(m) => ApiError::new(ProblemType::Conflict, m),
        RegistryError::SealNotUsable(m) => ApiError::new(ProblemType::Forbidden, m),
        RegistryError::Store(s) => ApiError::unavailable(s),
        RegistryError::Archive(a) => super::archive::archive_error(a),
        other => ApiError::internal(other),
    }
}

/// The organisation an issuer is bound to (`None` for other roles).
fn issuer_org(p: &Principal) -> Result<Option<&str>, ApiError> {
    match p.role {
        Role::Issuer => p.org_id.as_deref().map(Some).ok_or_else(|| {
            ApiError::new(
                ProblemType::Forbidden,
                "this issuer key has no organisation",
            )
        }),
        _ => Ok(None),
    }
}

/// The organisation a change is for: an issuer's own (any other is forbidden), or the one an
/// admin names.
fn acting_org(p: &Principal, named: Option<&str>) -> Result<String, ApiError> {
    match (issuer_org(p)?, named) {
        (Some(own), Some(n)) if n != own => Err(ApiError::new(
            ProblemType::Forbidden,
            "an issuer key acts only for its own organisation",
        )),
        (Some(own), _) => Ok(own.to_owned()),
        (None, Some(n)) => Ok(n.to_owned()),
        (None, None) => Err(ApiError::field("org_id", "required for an admin key")),
    }
}

fn created(location: String, value: &impl Serialize) -> Response {
    let mut r = json_response(StatusCode::CREATED, value);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::field("Idempotency-Key", "must be printable ASCII"))?
                .trim()
                .to_owned();
            if s.is_empty() || s.len() > 200 {
                return Err(ApiError::field("Idempotency-Key", "1 to 200 characters"));
            }
            Ok(Some(s))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Organisations

/// A page of organisations.
#[derive(Serialize, ToSchema)]
pub struct OrganisationPage {
    items: Vec<Organisation>,
    next_cursor: Option<String>,
}

/// Register an organisation (admin). The USCC's check character is verified.
#[utoipa::path(post, path = "/v1/organisations", tag = "organisations",
    request_body = NewOrganisation,
    responses(
        (status = 201, description = "Registered", body = Organisation),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "USCC already registered", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (e.g. a wrong USCC check character)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn post_organisation(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(new): ApiJson<NewOrganisation>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin])?;
    let org = state
        .registry()
        .create_organisation(&new, &principal.actor())
        .await
        .map_err(registry_error)?;
    Ok(created(format!("/v1/organisations/{}", org.id), &org))
}

/// List organisations (admin, auditor; an issuer sees its own).
#[utoipa::path(get, path = "/v1/organisations", tag = "organisations", params(PageQuery),
    responses(
        (status = 200, description = "A page", body = OrganisationPage),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn list_organisations(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Auditor, Role::Issuer])?;
    let Query(page) = query.map_err(query_error)?;
    let limit = page.limit()?;
    if let Some(own) = issuer_org(&principal)? {
        let org = state
            .registry()
            .organisation(own)
            .await
            .map_err(registry_error)?;
        return Ok(json_response(
            StatusCode::OK,
            &OrganisationPage {
                items: vec![org],
                next_cursor: None,
            },
        ));
    }
    let after: Option<String> = page.after()?;
    let mut rows = state
        .registry()
        .organisations(after.as_deref(), limit + 1)
        .await
        .map_err(registry_error)?;
    let (items, next_cursor) = {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|o| super::pagination::encode_cursor(&o.id))
        } else {
            None
        };
        (rows, next)
    };
    Ok(json_response(
        StatusCode::OK,
        &OrganisationPage { items, next_cursor },
    ))
}

/// One organisation.
#[utoipa::path(get, path = "/v1/organisations/{id}", tag = "organisations",
    params(("id" = String, Path, description = "org_…")),
    responses(
        (status = 200, description = "The organisation", body = Organisation),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_organisation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Auditor, Role::Issuer])?;
    if let Some(own) = issuer_org(&principal)?
        && own != id
    {
        return Err(ApiError::not_found(format!("organisation {id} not found")));
    }
    let org = state
        .registry()
        .organisation(&id)
        .await
        .map_err(registry_error)?;
    Ok(json_response(StatusCode::OK, &org))
}

/// Change an organisation's name, English name or address (admin).
#[utoipa::path(patch, path = "/v1/organisations/{id}", tag = "organisations",
    params(("id" = String, Path, description = "org_…")), request_body = OrganisationPatch,
    responses(
        (status = 200, description = "Updated", body = Organisation),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn patch_organisation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<OrganisationPatch>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin])?;
    let org = state
        .registry()
        .update_organisation(&id, &patch, &principal.actor())
        .await
        .map_err(registry_error)?;
    Ok(json_response(StatusCode::OK, &org))
}

// ---------------------------------------------------------------------------------------------
// Seals

/// Where a new seal's key comes from.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum SealKeyRequest {
    /// A new ECDSA P-256 key certified by the server's (development) issuing CA.
    Generate,
    /// An uploaded signer certificate and private key (PEM PKCS#8), with its chain.
    Upload {
        /// The signer certificate, PEM.
        certificate_pem: String,
        /// The private key, PEM PKCS#8. Stored in a 0600 file; never returned.
        private_key_pem: String,
        /// The chain (issuing CA first), PEM.
        chain_pem: Option<String>,
    },
}

/// A seal to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSealRequest {
    /// The organisation (an issuer's own by default; required for an admin).
    org_id: Option<String>,
    /// 印章名称, e.g. 电子证照专用章.
    name: String,
    /// official, approval, licence, finance, contract, other (or the GB/T 38540 code).
    #[schema(example = "licence")]
    seal_type: String,
    /// Key and certificate; default `{"source": "generate"}`.
    key: Option<SealKeyRequest>,
    /// The picture, PNG in base64; default: the standard round seal is drawn.
    picture_png_base64: Option<String>,
}

/// A reason for a change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (kept in the registry and the archive record).
    reason: Option<String>,
}

/// A page of seals.
#[derive(Serialize, ToSchema)]
pub struct SealPage {
    items: Vec<SealView>,
    next_cursor: Option<String>,
}

/// Seal list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SealQuery {
    /// Only this organisation's seals.
    org_id: Option<String>,
    /// Page size (1–500).
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Make a seal: a signer certificate (issued by the server's CA for a new key, or uploaded)
/// and a GB/T 38540 seal object signed by the seal maker (admin, or an issuer for its own
/// organisation).
#[utoipa::path(post, path = "/v1/seals", tag = "seals", request_body = NewSealRequest,
    responses(
        (status = 201, description = "Made", body = SealView),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role or organisation not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (key does not match certificate, not a PNG, …)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn post_seal(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<NewSealRequest>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Issuer])?;
    let org_id = acting_org(&principal, req.org_id.as_deref())?;
    let seal_type = crate::registry::parse_seal_type(&req.seal_type).map_err(registry_error)?;
    let picture_png = match req.picture_png_base64 {
        None => None,
        Some(b64) => Some(
            STANDARD
                .decode(b64.trim())
                .map_err(|_| ApiError::field("picture_png_base64", "not base64"))?,
        ),
    };
    let key = match req.key.unwrap_or(SealKeyRequest::Generate) {
        SealKeyRequest::Generate => SealKey::Generate,
        SealKeyRequest::Upload {
            certificate_pem,
            private_key_pem,
            chain_pem,
        } => SealKey::Upload {
            cert_pem: certificate_pem,
            key_pem: private_key_pem,
            chain_pem,
        },
    };
    let seal = state
        .registry()
        .create_seal(
            NewSeal {
                org_id,
                name: req.name,
                seal_type,
                key,
                picture_png,
            },
            &principal.actor(),
        )
        .await
        .map_err(registry_error)?;
    Ok(created(format!("/v1/seals/{}", seal.id), &seal))
}

/// List seals (an issuer sees its organisation's).
#[utoipa::path(get, path = "/v1/seals", tag = "seals", params(SealQuery),
    responses(
        (status = 200, description = "A page", body = SealPage),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter, limit or cursor", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn list_seals(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<SealQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Auditor, Role::Issuer])?;
    let Query(q) = query.map_err(query_error)?;
    let org = match issuer_org(&principal)? {
        Some(own) => Some(own.to_owned()),
        None => q.org_id.clone(),
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    let after: Option<String> = page.after()?;
    let mut rows = state
        .registry()
        .seals(org.as_deref(), after.as_deref(), limit + 1)
        .await
        .map_err(registry_error)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|s| super::pagination::encode_cursor(&s.id))
    } else {
        None
    };
    Ok(json_response(
        StatusCode::OK,
        &SealPage {
            items: rows,
            next_cursor,
        },
    ))
}

async fn visible_seal(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<crate::registry::SealRow, ApiError> {
    require_role(p, &[Role::Admin, Role::Auditor, Role::Issuer])?;
    let row = state
        .registry()
        .seal_row(id)
        .await
        .map_err(registry_error)?;
    if let Some(own) = issuer_org(p)?
        && own != row.org_id
    {
        return Err(ApiError::not_found(format!("seal {id} not found")));
    }
    Ok(row)
}

/// One seal.
#[utoipa::path(get, path = "/v1/seals/{id}", tag = "seals",
    params(("id" = String, Path, description = "seal_…")),
    responses(
        (status = 200, description = "The seal (no key material)", body = SealView),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such seal", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_seal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = visible_seal(&state, &principal, &id).await?;
    Ok(json_response(StatusCode::OK, &SealView::from(&row)))
}

/// The seal's picture (PNG).
#[utoipa::path(get, path = "/v1/seals/{id}/picture", tag = "seals",
    params(("id" = String, Path, description = "seal_…")),
    responses(
        (status = 200, description = "The picture", body = super::openapi::Binary, content_type = "image/png"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such seal", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_seal_picture(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = visible_seal(&state, &principal, &id).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], row.picture_png).into_response())
}

/// The seal object itself (GB/T 38540 SESeal, DER).
#[utoipa::path(get, path = "/v1/seals/{id}/seal.der", tag = "seals",
    params(("id" = String, Path, description = "seal_…")),
    responses(
        (status = 200, description = "DER", body = super::openapi::Binary, content_type = "application/octet-stream"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such seal", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_seal_der(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = visible_seal(&state, &principal, &id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        row.seal_der,
    )
        .into_response())
}

/// Revoke a seal (a reason is required). Documents it sealed stay verifiable.
#[utoipa::path(post, path = "/v1/seals/{id}/revoke", tag = "seals",
    params(("id" = String, Path, description = "seal_…")), request_body = ReasonRequest,
    responses(
        (status = 200, description = "Revoked", body = SealView),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such seal", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a reason is required)", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn revoke_seal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReasonRequest>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Issuer])?;
    visible_seal(&state, &principal, &id).await?;
    let seal = state
        .registry()
        .revoke_seal(&id, req.reason.as_deref().unwrap_or(""), &principal.actor())
        .await
        .map_err(registry_error)?;
    Ok(json_response(StatusCode::OK, &seal))
}

// ---------------------------------------------------------------------------------------------
// Sealing

/// Where to put the seal.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignQuery {
    /// The seal (`seal_…`).
    seal_id: String,
    /// Page: a number from 1, or `last` (default).
    page: Option<String>,
    /// Lower-left corner of the seal, millimetres from the page's left edge (with `y`).
    x: Option<f64>,
    /// Lower-left corner of the seal, millimetres from the page's bottom edge (with `x`).
    y: Option<f64>,
    /// `/Reason`.
    reason: Option<String>,
    /// `/Location`.
    location: Option<String>,
}

/// Seal a PDF (admin, or an issuer with its own seal): the original bytes plus one incremental
/// update with a PAdES signature carrying the GB/T 38540 seal, drawn on the page. The result is
/// archived (`document.sealed`). `Idempotency-Key` makes a retry return the first result.
#[utoipa::path(post, path = "/v1/sign", tag = "sealing", params(SignQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first result")),
    request_body(
        description = "The PDF: the raw body, or the `file` part of a multipart form",
        content(
            (super::openapi::Binary = "application/pdf"),
            (super::openapi::FileUpload = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "The sealed PDF; X-Chop-Record-Seq names its archive record", body = super::openapi::Binary, content_type = "application/pdf"),
        (status = 400, description = "Malformed multipart form", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another organisation's seal, or a revoked seal", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such seal", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused for another request", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/pdf", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a sealable PDF", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn post_sign(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<SignQuery>, QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Issuer])?;
    let Query(q) = query.map_err(query_error)?;
    let key = idempotency_key(req.headers())?;
    let upload = super::verify::read_upload(req, &state).await?;
    let reg = state.registry();
    let row = reg.seal_row(&q.seal_id).await.map_err(registry_error)?;
    let org = acting_org(&principal, Some(&row.org_id))?;
    let creds = reg
        .usable_seal(&q.seal_id, &org)
        .await
        .map_err(registry_error)?;
    let page = match q.page.as_deref().map(str::trim) {
        None | Some("") => PageSelector::Last,
        Some(p) if p.eq_ignore_ascii_case("last") => PageSelector::Last,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n >= 1 => PageSelector::Number(n),
            _ => return Err(ApiError::field("page", "a page number from 1, or `last`")),
        },
    };
    let position_mm = match (q.x, q.y) {
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() && x >= 0.0 && y >= 0.0 => {
            Some((x, y))
        }
        (None, None) => None,
        _ => {
            return Err(ApiError::field(
                "x",
                "give both x and y, as millimetres ≥ 0",
            ));
        }
    };
    let request_sha = {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&upload.bytes);
        ctx.update(
            format!(
                "\0{}\0{:?}\0{:?}\0{:?}\0{:?}",
                q.seal_id, q.page, position_mm, q.reason, q.location
            )
            .as_bytes(),
        );
        hex::encode(ctx.finish().as_ref())
    };
    let scope = format!("sign:{org}");
    if let Some(k) = &key
        && let Some(done) = super::idempotency::replay(&state, &scope, k, &request_sha).await?
    {
        return Ok(done);
    }
    let opts = SignOptions {
        page,
        position_mm,
        reason: q.reason.clone(),
        location: q.location.clone(),
        ..SignOptions::default()
    };
    let input = upload.bytes;
    let (sealed, input) = tokio::task::spawn_blocking(move || {
        let r = creds.sealer.seal(&input, &opts);
        (r, input)
    })
    .await
    .map_err(ApiError::internal)?;
    let sealed = sealed.map_err(sign_error)?;
    let archived = state
        .archive()
        .record_sealed(SealedDocument {
            original: &input,
            sealed: &sealed.pdf,
            file_name: upload.file_name,
            visible: sealed.visible,
            certified: sealed.certified,
            trust_anchors: state.trust_anchors().as_ref().clone(),
            actor: principal.actor(),
        })
        .await
        .map_err(super::archive::archive_error)?;
    state.metrics().observe_seal();
    if let Some(k) = &key {
        super::idempotency::remember(
            &state,
            &scope,
            k,
            &request_sha,
            &archived.sha256.to_hex(),
            archived.receipt.seq,
        )
        .await?;
    }
    Ok(pdf_response(
        sealed.pdf,
        archived.receipt.seq,
        &archived.sha256,
    ))
}

pub fn pdf_response(pdf: Vec<u8>, seq: u64, sha: &Hash) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&seq.to_string()) {
        h.insert("x-chop-record-seq", v);
    }
    if let Ok(v) = HeaderValue::from_str(&sha.to_hex()) {
        h.insert("x-chop-document-sha256", v);
    }
    r
}

/// The problem for a document that cannot be sealed.
fn sign_error(e: chop_seal::sign::SignError) -> ApiError {
    ApiError::new(
        ProblemType::NotAPdf,
        format!("cannot seal this document: {e}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Licences

/// A licence to issue.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueLicenceRequest {
    /// The licence type: key (e.g. `food-business`), type code or name (`GET /v1/licence-types`).
    #[serde(rename = "type")]
    licence_type: String,
    /// The licence data (the type's fields; `GET /v1/licence-types/{type}/example`).
    #[schema(value_type = Object)]
    data: Value,
    /// The issuing organisation (an issuer's own by default; required for an admin).
    org_id: Option<String>,
    /// The seal (default: the organisation's most recent active seal).
    seal_id: Option<String>,
}

/// New data for the next version.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupersedeRequest {
    /// The new licence data.
    #[schema(value_type = Object)]
    data: Value,
}

/// Licence list filters (and paging).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LicenceQuery {
    /// Issued by this organisation.
    org_id: Option<String>,
    /// Of this type code.
    type_code: Option<String>,
    /// valid, suspended, revoked, expired or superseded.
    status: Option<String>,
    /// Held by this USCC or resident ID number.
    holder_code: Option<String>,
    /// Page size (1–500, default 50).
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A page of licences.
#[derive(Serialize, ToSchema)]
pub struct LicencePage {
    items: Vec<Licence>,
    next_cursor: Option<String>,
}

/// The public status of a licence: minimal, holder masked.
#[derive(Serialize, ToSchema)]
pub struct PublicStatus {
    /// valid, suspended, revoked, expired, superseded.
    status: LicenceStatus,
    /// 有效, 已暂停, 已吊销, 已过期, 已被新版本替代.
    status_zh: String,
    /// The GB/T 36904 identifier.
    identifier: String,
    /// 证照类型名称.
    type_name: String,
    /// 证照类型代码.
    type_code: String,
    /// 发证机构.
    issuer_name: String,
    /// 发证机构代码.
    issuer_uscc: String,
    /// 持证主体, masked (南京**科技有限公司).
    holder: String,
    /// 持证主体代码, masked (3201**********1234).
    holder_code: String,
    /// First day of validity.
    valid_from: String,
    /// Last day of validity (absent: 长期).
    valid_until: Option<String>,
    /// The seal's name.
    seal_name: String,
    /// The identifier of the version that replaced this one.
    superseded_by: Option<String>,
}

async fn visible_licence(state: &AppState, p: &Principal, id: &str) -> Result<Licence, ApiError> {
    require_role(p, &[Role::Admin, Role::Auditor, Role::Issuer])?;
    let l = state.registry().licence(id).await.map_err(registry_error)?;
    if let Some(own) = issuer_org(p)?
        && own != l.org_id
    {
        return Err(ApiError::not_found(format!("licence {id} not found")));
    }
    Ok(l)
}

/// Issue a licence: validate → identifier → render → seal → store → archive (`licence.issued`);
/// all or nothing. `Idempotency-Key` makes a retry return the first licence.
#[utoipa::path(post, path = "/v1/licences", tag = "licences", request_body = IssueLicenceRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first licence")),
    responses(
        (status = 200, description = "The licence a previous request with this Idempotency-Key issued", body = Licence),
        (status = 201, description = "Issued; the PDF is at /v1/licences/{identifier}/pdf", body = Licence),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role, organisation or seal not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence type, organisation or seal", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused for another request", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid data: every problem named in `errors`", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn post_licence(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IssueLicenceRequest>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Issuer])?;
    let org_id = acting_org(&principal, req.org_id.as_deref())?;
    let issued = state
        .registry()
        .issue(
            IssueRequest {
                type_key: req.licence_type,
                data: req.data,
                org_id,
                seal_id: req.seal_id,
                idempotency_key: idempotency_key(&headers)?,
            },
            &principal.actor(),
        )
        .await
        .map_err(registry_error)?;
    if issued.replayed {
        return Ok(json_response(StatusCode::OK, &issued.licence));
    }
    state.metrics().observe_seal();
    Ok(created(
        format!("/v1/licences/{}", issued.licence.identifier),
        &issued.licence,
    ))
}

/// List licences, newest first (an issuer sees its organisation's).
#[utoipa::path(get, path = "/v1/licences", tag = "licences", params(LicenceQuery),
    responses(
        (status = 200, description = "A page", body = LicencePage),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or cursor", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn list_licences(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<LicenceQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Auditor, Role::Issuer])?;
    let Query(q) = query.map_err(query_error)?;
    let org_id = match issuer_org(&principal)? {
        Some(own) => Some(own.to_owned()),
        None => q.org_id.clone(),
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(LicenceStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                "one of valid, suspended, revoked, expired, superseded",
            )
        })?),
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let cursor: Option<String> = page.after()?;
    let result = state
        .registry()
        .licences(&LicenceFilter {
            org_id,
            holder_code: q.holder_code.clone(),
            type_code: q.type_code.clone(),
            status,
            cursor,
            limit,
        })
        .await
        .map_err(registry_error)?;
    Ok(json_response(
        StatusCode::OK,
        &LicencePage {
            items: result.items,
            next_cursor: result
                .next_cursor
                .map(|c| super::pagination::encode_cursor(&c)),
        },
    ))
}

/// One licence (by identifier or public id).
#[utoipa::path(get, path = "/v1/licences/{id}", tag = "licences",
    params(("id" = String, Path, description = "The GB/T 36904 identifier or the public id")),
    responses(
        (status = 200, description = "The licence", body = Licence),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_licence(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let l = visible_licence(&state, &principal, &id).await?;
    Ok(json_response(StatusCode::OK, &l))
}

/// The licence's sealed PDF.
#[utoipa::path(get, path = "/v1/licences/{id}/pdf", tag = "licences",
    params(("id" = String, Path, description = "The GB/T 36904 identifier or the public id")),
    responses(
        (status = 200, description = "The sealed PDF", body = super::openapi::Binary, content_type = "application/pdf"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get_licence_pdf(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let l = visible_licence(&state, &principal, &id).await?;
    let pdf = state
        .registry()
        .licence_pdf(&l.identifier)
        .await
        .map_err(registry_error)?;
    let sha = Hash::from_hex(&l.pdf_sha256).map_err(ApiError::internal)?;
    Ok(pdf_response(
        pdf,
        u64::try_from(l.issued_seq).unwrap_or(0),
        &sha,
    ))
}

async fn change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    change: StatusChange,
    reason: Option<String>,
) -> Result<Response, ApiError> {
    require_role(principal, &[Role::Admin, Role::Issuer])?;
    let own = issuer_org(principal)?;
    let l = state
        .registry()
        .change_status(id, change, reason.as_deref(), own, &principal.actor())
        .await
        .map_err(registry_error)?;
    Ok(json_response(StatusCode::OK, &l))
}

/// Suspend a valid licence (reason required).
#[utoipa::path(post, path = "/v1/licences/{id}/suspend", tag = "licences",
    params(("id" = String, Path, description = "Identifier or public id")), request_body = ReasonRequest,
    responses(
        (status = 200, description = "Suspended", body = Licence),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not valid now", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn suspend_licence(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReasonRequest>,
) -> Result<Response, ApiError> {
    change(&state, &principal, &id, StatusChange::Suspend, req.reason).await
}

/// Make a suspended licence valid again.
#[utoipa::path(post, path = "/v1/licences/{id}/reinstate", tag = "licences",
    params(("id" = String, Path, description = "Identifier or public id")), request_body = ReasonRequest,
    responses(
        (status = 200, description = "Valid again", body = Licence),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not suspended", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn reinstate_licence(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReasonRequest>,
) -> Result<Response, ApiError> {
    change(&state, &principal, &id, StatusChange::Reinstate, req.reason).await
}

/// Revoke a licence (reason required; final).
#[utoipa::path(post, path = "/v1/licences/{id}/revoke", tag = "licences",
    params(("id" = String, Path, description = "Identifier or public id")), request_body = ReasonRequest,
    responses(
        (status = 200, description = "Revoked", body = Licence),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked or superseded", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn revoke_licence(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReasonRequest>,
) -> Result<Response, ApiError> {
    change(&state, &principal, &id, StatusChange::Revoke, req.reason).await
}

/// Issue the next version with new data; the old version becomes superseded.
#[utoipa::path(post, path = "/v1/licences/{id}/supersede", tag = "licences",
    params(("id" = String, Path, description = "Identifier or public id")), request_body = SupersedeRequest,
    responses(
        (status = 201, description = "The new version", body = Licence),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Role not allowed", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Revoked or already superseded", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid data", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn supersede_licence(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SupersedeRequest>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin, Role::Issuer])?;
    let own = issuer_org(&principal)?;
    let issued = state
        .registry()
        .supersede(&id, req.data, own, &principal.actor())
        .await
        .map_err(registry_error)?;
    state.metrics().observe_seal();
    Ok(created(
        format!("/v1/licences/{}", issued.licence.identifier),
        &issued.licence,
    ))
}

/// The public status of a licence (no key needed): status, type, issuer, masked holder,
/// validity, seal name.
#[utoipa::path(get, path = "/v1/licences/{id}/status", tag = "public",
    params(("id" = String, Path, description = "The public id (from the QR code) or the identifier")),
    responses(
        (status = 200, description = "The status", body = PublicStatus),
        (status = 404, description = "No such licence", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = super::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_licence_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let l = state
        .registry()
        .licence(&id)
        .await
        .map_err(registry_error)?;
    let (holder, holder_code) = state.registry().masked_holder(&l);
    let seal_name = state
        .registry()
        .seal_row(&l.seal_id)
        .await
        .map(|s| s.name)
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &PublicStatus {
            status: l.status,
            status_zh: l.status.zh().to_owned(),
            identifier: l.identifier,
            type_name: l.type_name,
            type_code: l.type_code,
            issuer_name: l.issuer_name,
            issuer_uscc: l.issuer_uscc,
            holder,
            holder_code,
            valid_from: l.valid_from,
            valid_until: l.valid_until,
            seal_name,
            superseded_by: l.superseded_by,
        },
    ))
}

/// The licence types (public): each with its fields.
#[utoipa::path(get, path = "/v1/licence-types", tag = "public",
    responses(
        (status = 200, description = "The types", body = [Object]),
        (status = 429, description = "Rate limited", body = super::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_licence_types(State(state): State<AppState>) -> Response {
    let all: Vec<Value> = state
        .registry()
        .templates()
        .iter()
        .map(|t| t.summary_json())
        .collect();
    json_response(StatusCode::OK, &all)
}

/// Valid example data for a licence type (public).
#[utoipa::path(get, path = "/v1/licence-types/{type}/example", tag = "public",
    params(("type" = String, Path, description = "Key, type code or name")),
    responses(
        (status = 200, description = "Example data", body = Object),
        (status = 404, description = "No such type", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = super::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_licence_type_example(
    State(state): State<AppState>,
    Path(which): Path<String>,
) -> Result<Response, ApiError> {
    let t = state
        .registry()
        .templates()
        .get(&which)
        .ok_or_else(|| ApiError::not_found(format!("licence type {which} not found")))?;
    Ok(json_response(StatusCode::OK, &t.example()))
}
