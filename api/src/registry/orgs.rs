//! Organisations (bureaus): register, list, get, update.

use chop_archive::record::RecordKind;
use chop_seal::codes;
use serde::Deserialize;
use serde_json::json;

use super::rows::{OrganisationRow, RowDoc, on_pool};
use super::{Registry, RegistryError, new_id, now_text, record};

/// A new organisation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    /// 统一社会信用代码 (GB 32100-2015; the check character is verified).
    pub uscc: String,
    /// Name, e.g. 南京市示例区行政审批局.
    pub name: String,
    /// English name.
    pub name_en: Option<String>,
    /// Address.
    pub address: Option<String>,
}

/// A change to an organisation (fields left `None` keep their value).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationPatch {
    /// New name.
    pub name: Option<String>,
    /// New English name.
    pub name_en: Option<String>,
    /// New address.
    pub address: Option<String>,
}

fn check_text(field: &str, value: &str, max: usize) -> Result<String, RegistryError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(RegistryError::Invalid(format!(
            "{field}: must not be empty"
        )));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(RegistryError::Invalid(format!(
            "{field}: at most {max} characters, no control characters"
        )));
    }
    Ok(v.to_owned())
}

fn check_optional(
    field: &str,
    v: Option<&str>,
    max: usize,
) -> Result<Option<String>, RegistryError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => check_text(field, s, max).map(Some),
    }
}

impl Registry {
    /// Registers an organisation (a USCC already registered is a conflict).
    pub async fn create_organisation(
        &self,
        new: &NewOrganisation,
        actor: &str,
    ) -> Result<OrganisationRow, RegistryError> {
        let uscc = new.uscc.trim().to_owned();
        codes::validate_uscc(&uscc).map_err(|e| RegistryError::Invalid(format!("uscc: {e}")))?;
        let name = check_text("name", &new.name, 100)?;
        let name_en = check_optional("name_en", new.name_en.as_deref(), 200)?;
        let address = check_optional("address", new.address.as_deref(), 200)?;
        if let Some(existing) = self.organisation_by_uscc(&uscc).await? {
            return Err(RegistryError::Conflict(format!(
                "an organisation with USCC {uscc} is already registered ({})",
                existing.id
            )));
        }
        let now = now_text();
        let row = OrganisationRow {
            id: new_id("org")?,
            uscc: uscc.clone(),
            name,
            name_en,
            address,
            created: now.clone(),
            updated: now,
            last_seq: 0,
        };
        let mut r = record(
            RecordKind::OrganisationCreated,
            actor,
            vec![format!("organisation:{}", row.id)],
        );
        r.payload.insert("uscc".into(), json!(row.uscc));
        r.payload.insert("name".into(), json!(row.name));
        // One creation record per USCC, whatever races: the log's idempotency keys are unique.
        let key = format!("organisation.created:{uscc}");
        let Some(seq) = self
            .commit_one(r, Some(key), RowDoc::Organisation(row.clone()))
            .await?
        else {
            return Err(RegistryError::Conflict(format!(
                "an organisation with USCC {uscc} is already registered"
            )));
        };
        Ok(OrganisationRow {
            last_seq: seq,
            ..row
        })
    }

    /// Changes an organisation's name, English name or address.
    pub async fn update_organisation(
        &self,
        id: &str,
        patch: &OrganisationPatch,
        actor: &str,
    ) -> Result<OrganisationRow, RegistryError> {
        let old = self.organisation(id).await?;
        let mut row = old.clone();
        if let Some(n) = &patch.name {
            row.name = check_text("name", n, 100)?;
        }
        if patch.name_en.is_some() {
            row.name_en = check_optional("name_en", patch.name_en.as_deref(), 200)?;
        }
        if patch.address.is_some() {
            row.address = check_optional("address", patch.address.as_deref(), 200)?;
        }
        if row == old {
            return Ok(old);
        }
        row.updated = now_text();
        let mut r = record(
            RecordKind::OrganisationUpdated,
            actor,
            vec![format!("organisation:{}", row.id)],
        );
        r.payload.insert("name".into(), json!(row.name));
        self.commit_one(r, None, RowDoc::Organisation(row)).await?;
        self.organisation(id).await
    }

    /// One organisation.
    pub async fn organisation(&self, id: &str) -> Result<OrganisationRow, RegistryError> {
        let row: Option<OrganisationRow> = on_pool!(self.store(), pool => {
            sqlx::query_as("SELECT * FROM organisations WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or_else(|| RegistryError::NotFound {
            what: "organisation",
            id: id.to_owned(),
        })
    }

    /// The organisation with this USCC, if registered.
    pub async fn organisation_by_uscc(
        &self,
        uscc: &str,
    ) -> Result<Option<OrganisationRow>, RegistryError> {
        Ok(on_pool!(self.store(), pool => {
            sqlx::query_as("SELECT * FROM organisations WHERE uscc = $1")
                .bind(uscc)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Organisations ordered by id, after `after` (a cursor: the last id of the previous page).
    pub async fn organisations(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OrganisationRow>, RegistryError> {
        let limit = i64::from(limit.clamp(1, 500));
        Ok(on_pool!(self.store(), pool => {
            sqlx::query_as("SELECT * FROM organisations WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }
}
