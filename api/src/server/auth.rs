//! API keys (issue 7 §3): `Authorization: Bearer chop_<secret>`, one role each — admin, issuer
//! (bound to one organisation), archivist, auditor. The database keeps only the SHA-256 of the
//! secret: a request is authenticated by looking its hash up (a 256-bit random secret leaks
//! nothing through the timing of an index lookup) and comparing the stored hash in constant
//! time. The secret is shown once, in the response that creates the key.
//!
//! [`Principal`] is the extractor handlers use; [`require_role`] checks its role. Creating and
//! revoking keys appends `key.created` / `key.revoked` records whose actor is the admin key.

use std::path::{Path, PathBuf};

use axum::extract::{FromRequestParts, Path as UrlPath, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use chop_archive::log::NewEntry;
use chop_archive::record::{NewRecord, RecordKind, Timestamp};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::db::{is_foreign_key_violation, on_db};
use super::pagination::{PageQuery, paginate};
use super::problem::{ApiError, ApiJson, FieldError, ProblemType, json_response};
use super::state::AppState;
use crate::archive::Archive;
use crate::store::Store;

/// Prefix of every API key secret.
pub const SECRET_PREFIX: &str = "chop_";

/// A role: what a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages API keys and organisations; reads everything.
    Admin,
    /// Issues and manages one organisation's licences with its seals.
    Issuer,
    /// Ingests into and exports from the archive.
    Archivist,
    /// Reads the archive and exports packages.
    Auditor,
}

impl Role {
    /// The database and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Issuer => "issuer",
            Role::Archivist => "archivist",
            Role::Auditor => "auditor",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "issuer" => Some(Role::Issuer),
            "archivist" => Some(Role::Archivist),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API key's id (`ak_…`).
    pub key_id: String,
    /// Its role.
    pub role: Role,
    /// For issuers: their organisation.
    pub org_id: Option<String>,
}

impl Principal {
    /// The archive record actor for changes this caller makes: `apikey:<key id>`.
    pub fn actor(&self) -> String {
        format!("apikey:{}", self.key_id)
    }
}

/// `Ok` if the caller has one of `roles`, else a 403 `forbidden` problem.
pub fn require_role(principal: &Principal, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&principal.role) {
        Ok(())
    } else {
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::new(
            ProblemType::Forbidden,
            format!(
                "this API key has the role {}; this needs {}",
                principal.role.as_str(),
                allowed.join(" or ")
            ),
        ))
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ProblemType::Unauthorized, detail)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send an API key: Authorization: Bearer chop_…"))?;
        let value = value
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not a Bearer API key"))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(|| unauthorized("the Authorization header is not a Bearer API key"))?;
        if !token.starts_with(SECRET_PREFIX) || token.len() > 200 {
            return Err(unauthorized("the bearer token is not a Chop API key"));
        }
        let digest = secret_digest(token);
        let found = find_active_key(state.store(), &digest)
            .await
            .map_err(ApiError::unavailable)?;
        let Some((row, stored)) = found else {
            return Err(unauthorized("unknown or revoked API key"));
        };
        if !constant_time_eq(&stored, &digest) {
            return Err(unauthorized("unknown or revoked API key"));
        }
        tracing::Span::current().record("key_id", row.key_id.as_str());
        Ok(row)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

/// SHA-256 of a secret.
pub fn secret_digest(secret: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ApiError::internal("the system random number generator failed"))?;
    Ok(b)
}

/// A new key id and secret: `ak_<16 hex>` and `chop_<43 base64url chars>` (256 bits).
fn new_key_material() -> Result<(String, String), ApiError> {
    use base64::Engine;
    let id = format!("ak_{}", hex::encode(random_bytes::<8>()?));
    let secret = format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    );
    Ok((id, secret))
}

/// An API key as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    /// Its id.
    #[schema(example = "ak_3f9c2a7d0b1e4c55")]
    pub id: String,
    /// Its role.
    pub role: Role,
    /// For issuers: the organisation it acts for.
    pub org_id: Option<String>,
    /// A note saying whose or what for.
    pub label: Option<String>,
    /// When it was made (RFC 3339 UTC).
    pub created: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
}

/// A key just made: its secret is in this response only.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKey,
    /// The bearer token. Shown once; only its SHA-256 is stored.
    #[schema(example = "chop_q3VgU0y2m7cX1bP9sKfE4nTzR8aWdL6hJ5oYiGtBuMk")]
    pub secret: String,
}

/// A page of API keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyPage {
    /// The keys, oldest first.
    pub items: Vec<ApiKey>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/api-keys` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// The role.
    pub role: Role,
    /// Required for `issuer` (the organisation's id), refused for the other roles.
    #[serde(default)]
    pub org_id: Option<String>,
    /// A note saying whose or what for (up to 200 characters; not personal data, please).
    #[serde(default)]
    pub label: Option<String>,
}

type KeyRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

fn key_from_row(r: KeyRow) -> Result<ApiKey, ApiError> {
    let role = Role::parse(&r.1)
        .ok_or_else(|| ApiError::internal(format!("api_keys row {} has role {:?}", r.0, r.1)))?;
    Ok(ApiKey {
        id: r.0,
        role,
        org_id: r.2,
        label: r.3,
        created: r.4,
        revoked: r.5,
    })
}

async fn find_active_key(
    store: &Store,
    digest: &[u8],
) -> Result<Option<(Principal, Vec<u8>)>, sqlx::Error> {
    let row: Option<(String, String, Option<String>, Vec<u8>)> = on_db!(
        store,
        "SELECT id, role, org_id, secret_sha256 FROM api_keys WHERE secret_sha256 = $1 AND revoked IS NULL",
        |pool, sql| sqlx::query_as(sql)
            .bind(digest)
            .fetch_optional(pool)
            .await?
    );
    Ok(row.and_then(|(id, role, org_id, stored)| {
        Role::parse(&role).map(|role| {
            (
                Principal {
                    key_id: id,
                    role,
                    org_id,
                },
                stored,
            )
        })
    }))
}

async fn insert_key(
    store: &Store,
    id: &str,
    digest: &[u8],
    new: &NewApiKey,
    created: &str,
) -> Result<(), sqlx::Error> {
    on_db!(
        store,
        "INSERT INTO api_keys (id, secret_sha256, role, org_id, label, created) VALUES ($1, $2, $3, $4, $5, $6)",
        |pool, sql| sqlx::query(sql)
            .bind(id)
            .bind(digest)
            .bind(new.role.as_str())
            .bind(new.org_id.as_deref())
            .bind(new.label.as_deref())
            .bind(created)
            .execute(pool)
            .await?
            .rows_affected()
    );
    Ok(())
}

async fn delete_key(store: &Store, id: &str) -> Result<(), sqlx::Error> {
    on_db!(store, "DELETE FROM api_keys WHERE id = $1", |pool, sql| {
        sqlx::query(sql)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(())
}

async fn get_key(store: &Store, id: &str) -> Result<Option<ApiKey>, ApiError> {
    let row: Option<KeyRow> = on_db!(
        store,
        "SELECT id, role, org_id, label, created, revoked FROM api_keys WHERE id = $1",
        |pool, sql| sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(ApiError::unavailable)?
    );
    row.map(key_from_row).transpose()
}

async fn active_admins(store: &Store) -> Result<i64, sqlx::Error> {
    Ok(on_db!(
        store,
        "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked IS NULL",
        |pool, sql| sqlx::query_scalar(sql).fetch_one(pool).await?
    ))
}

/// Appends the `key.created` record of an API key.
async fn record_created(
    archive: &Archive,
    actor: &str,
    id: &str,
    role: Role,
    org_id: Option<&str>,
) -> Result<(), crate::archive::AppendError> {
    let mut r = NewRecord::new(RecordKind::KeyCreated, actor);
    r.subject = vec![format!("apikey:{id}")];
    r.payload.insert("purpose".into(), "api access".into());
    r.payload.insert("role".into(), role.as_str().into());
    if let Some(org) = org_id {
        r.payload.insert("org_id".into(), org.into());
    }
    archive
        .appender()
        .append_one(NewEntry {
            idempotency_key: Some(format!("apikey.created:{id}")),
            record: r,
        })
        .await
        .map(|_| ())
}

/// Creates an API key: the row, then its `key.created` record (the row is removed again if
/// the record cannot be appended, so no unrecorded key stays usable).
pub async fn create_key(
    archive: &Archive,
    actor: &str,
    new: &NewApiKey,
) -> Result<CreatedApiKey, ApiError> {
    let mut errors = Vec::new();
    match (new.role, new.org_id.as_deref()) {
        (Role::Issuer, None | Some("")) => errors.push(FieldError::new(
            "org_id",
            "an issuer key needs the id of its organisation",
        )),
        (Role::Issuer, Some(_)) | (_, None) => {}
        (_, Some(_)) => errors.push(FieldError::new(
            "org_id",
            "only issuer keys are bound to an organisation",
        )),
    }
    if let Some(l) = &new.label
        && (l.chars().count() > 200 || l.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "label",
            "at most 200 characters, no control characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (id, secret) = new_key_material()?;
    let created = Timestamp::now().as_str().to_owned();
    let store = archive.store();
    if let Err(e) = insert_key(store, &id, &secret_digest(&secret), new, &created).await {
        return Err(if is_foreign_key_violation(&e) {
            ApiError::field("org_id", "no organisation has this id")
        } else {
            ApiError::unavailable(e)
        });
    }
    if let Err(e) = record_created(archive, actor, &id, new.role, new.org_id.as_deref()).await {
        if let Err(d) = delete_key(store, &id).await {
            tracing::error!(key_id = %id, error = %d, "cannot remove an unrecorded API key");
        }
        return Err(ApiError::unavailable(e));
    }
    Ok(CreatedApiKey {
        key: ApiKey {
            id,
            role: new.role,
            org_id: new.org_id.clone(),
            label: new.label.clone(),
            created,
            revoked: None,
        },
        secret,
    })
}

/// Create an API key (admin). The secret is in this response only.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api keys",
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key, with its secret (shown once)", body = CreatedApiKey),
        (status = 400, description = "Malformed JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn post_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(new): ApiJson<NewApiKey>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin])?;
    let created = create_key(state.archive(), &principal.actor(), &new).await?;
    tracing::info!(new_key_id = %created.key.id, role = created.key.role.as_str(), "API key created");
    let mut response = json_response(StatusCode::CREATED, &created);
    if let Ok(v) = format!("/v1/api-keys/{}", created.key.id).parse() {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// List API keys (admin), oldest first, revoked ones included.
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api keys",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = ApiKeyPage),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin])?;
    let Query(page) = query.map_err(super::archive::query_error)?;
    let limit = page.limit()?;
    let after: Option<(String, String)> = page.after()?;
    let (after_created, after_id) = after.unwrap_or_default();
    let rows: Vec<KeyRow> = on_db!(
        state.store(),
        "SELECT id, role, org_id, label, created, revoked FROM api_keys \
         WHERE created > $1 OR (created = $1 AND id > $2) ORDER BY created, id LIMIT $3",
        |pool, sql| sqlx::query_as(sql)
            .bind(&after_created)
            .bind(&after_id)
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await
            .map_err(ApiError::unavailable)?
    );
    let keys = rows
        .into_iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let (items, next_cursor) = paginate(keys, limit, |k| (k.created.clone(), k.id.clone()));
    Ok(json_response(
        StatusCode::OK,
        &ApiKeyPage { items, next_cursor },
    ))
}

/// Revoke an API key (admin). Idempotent; the last active admin key cannot be revoked.
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "api keys",
    params(("id" = String, Path, description = "The key id (`ak_…`)")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKey),
        (status = 401, description = "No or bad API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last active admin key", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn delete_api_key(
    State(state): State<AppState>,
    principal: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_role(&principal, &[Role::Admin])?;
    let store = state.store();
    let Some(key) = get_key(store, &id).await? else {
        return Err(ApiError::not_found(format!("no API key {id:?}")));
    };
    if key.revoked.is_none() {
        if key.role == Role::Admin
            && active_admins(store).await.map_err(ApiError::unavailable)? <= 1
        {
            return Err(ApiError::new(
                ProblemType::Conflict,
                "this is the last active admin key; create another admin key first",
            ));
        }
        let now = Timestamp::now().as_str().to_owned();
        on_db!(
            store,
            "UPDATE api_keys SET revoked = $1 WHERE id = $2 AND revoked IS NULL",
            |pool, sql| sqlx::query(sql)
                .bind(&now)
                .bind(&id)
                .execute(pool)
                .await
                .map_err(ApiError::unavailable)?
                .rows_affected()
        );
    }
    // Recorded once (the idempotency key), also when a retry follows an append that failed.
    let mut r = NewRecord::new(RecordKind::KeyRevoked, principal.actor());
    r.subject = vec![format!("apikey:{id}")];
    r.payload.insert("role".into(), key.role.as_str().into());
    state
        .archive()
        .appender()
        .append_one(NewEntry {
            idempotency_key: Some(format!("apikey.revoked:{id}")),
            record: r,
        })
        .await
        .map_err(ApiError::unavailable)?;
    tracing::info!(revoked_key_id = %id, "API key revoked");
    let key = get_key(store, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no API key {id:?}")))?;
    Ok(json_response(StatusCode::OK, &key))
}

/// What the first-start admin key step did.
#[derive(Debug)]
pub enum AdminKey {
    /// A key was made: its secret (print it once) and the file it was written to.
    Created {
        /// The secret.
        secret: String,
        /// The key's id.
        id: String,
        /// `<data dir>/admin-api-key`.
        file: PathBuf,
    },
    /// The key file exists from an earlier start.
    FileExists(PathBuf),
    /// There is no key file, but the database has admin keys (made elsewhere).
    Elsewhere,
}

/// On first start (no key file, no active admin key): makes an admin key, writes its secret
/// to `<data dir>/admin-api-key` with mode 0600 (never overwriting), stores its hash and
/// records `key.created` by `system`.
pub async fn ensure_admin_key(archive: &Archive, file: &Path) -> Result<AdminKey, String> {
    if file.exists() {
        return Ok(AdminKey::FileExists(file.to_path_buf()));
    }
    let admins = active_admins(archive.store())
        .await
        .map_err(|e| format!("cannot read api_keys: {e}"))?;
    if admins > 0 {
        return Ok(AdminKey::Elsewhere);
    }
    let (id, secret) = new_key_material().map_err(|e| e.detail)?;
    write_secret_file(file, &secret)?;
    let new = NewApiKey {
        role: Role::Admin,
        org_id: None,
        label: Some("first admin key (made on first start)".into()),
    };
    let created = Timestamp::now().as_str().to_owned();
    let stored = async {
        insert_key(
            archive.store(),
            &id,
            &secret_digest(&secret),
            &new,
            &created,
        )
        .await
        .map_err(|e| format!("cannot store the admin key: {e}"))?;
        record_created(archive, "system", &id, Role::Admin, None)
            .await
            .map_err(|e| format!("cannot record the admin key: {e}"))
    }
    .await;
    if let Err(e) = stored {
        let _ = delete_key(archive.store(), &id).await;
        let _ = std::fs::remove_file(file);
        return Err(e);
    }
    Ok(AdminKey::Created {
        secret,
        id,
        file: file.to_path_buf(),
    })
}

fn write_secret_file(path: &Path, secret: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_has_the_documented_shape() {
        let (id, secret) = new_key_material().unwrap();
        assert!(id.starts_with("ak_") && id.len() == 19, "{id}");
        assert!(
            secret.starts_with(SECRET_PREFIX) && secret.len() == 5 + 43,
            "{secret}"
        );
        assert_eq!(secret_digest(&secret).len(), 32);
        let (_, other) = new_key_material().unwrap();
        assert_ne!(secret, other);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn roles_are_checked() {
        let p = Principal {
            key_id: "ak_1".into(),
            role: Role::Auditor,
            org_id: None,
        };
        assert!(require_role(&p, &[Role::Auditor, Role::Admin]).is_ok());
        let e = require_role(&p, &[Role::Admin]).unwrap_err();
        assert_eq!(e.kind, ProblemType::Forbidden);
        assert_eq!(p.actor(), "apikey:ak_1");
    }
}
