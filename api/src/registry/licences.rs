//! E-licences: atomic issuance (validate → identifier → render → seal → store → record), the
//! lifecycle (suspend, reinstate, revoke, supersede; expiry from the validity dates) and the
//! registry queries.

use std::sync::Arc;

use chop_archive::Hash;
use chop_archive::record::{Digest, NewRecord, RecordKind, Retention};
use chop_seal::codes::LicenceId;
use chop_seal::licence::data::iso_date;
use chop_seal::licence::{
    LicenceData, LicenceTemplate, RenderContext, new_licence_id, render_licence, verify_url,
};
use chop_seal::sign::{PageSelector, SignOptions};
use serde::Serialize;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime, UtcOffset};

use super::rows::{LicenceRow, RowDoc, on_pool};
use super::seals::SealCredentials;
use super::{Registry, RegistryError, now_text, record};
use crate::archive::documents::DocumentStore;

/// A licence to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The licence type: its key (e.g. `food-business`), type code or name.
    pub type_key: String,
    /// The licence data (JSON object; `chop licence example TYPE` prints one).
    pub data: Value,
    /// The issuing organisation.
    pub org_id: String,
    /// The seal; `None`: the organisation's most recent active seal.
    pub seal_id: Option<String>,
    /// A retried request with the same key (per organisation) returns the first result.
    pub idempotency_key: Option<String>,
}

/// An issued licence and its sealed PDF.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The registry entry.
    pub licence: Licence,
    /// The sealed PDF.
    pub pdf: Vec<u8>,
    /// Whether this is the stored result of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// A licence's status. `Expired` is not stored: a valid licence whose last day has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenceStatus {
    /// 有效.
    Valid,
    /// 已暂停.
    Suspended,
    /// 已吊销.
    Revoked,
    /// 已过期.
    Expired,
    /// 已被新版本替代.
    Superseded,
}

impl LicenceStatus {
    /// `valid`, `suspended`, …
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::Suspended => "suspended",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::Expired => "expired",
            LicenceStatus::Superseded => "superseded",
        }
    }

    /// 有效, 已暂停, 已吊销, 已过期, 已被新版本替代.
    pub fn zh(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "有效",
            LicenceStatus::Suspended => "已暂停",
            LicenceStatus::Revoked => "已吊销",
            LicenceStatus::Expired => "已过期",
            LicenceStatus::Superseded => "已被新版本替代",
        }
    }

    /// Parses `valid`, `suspended`, `revoked`, `expired`, `superseded`.
    pub fn parse(s: &str) -> Option<LicenceStatus> {
        Some(match s {
            "valid" => LicenceStatus::Valid,
            "suspended" => LicenceStatus::Suspended,
            "revoked" => LicenceStatus::Revoked,
            "expired" => LicenceStatus::Expired,
            "superseded" => LicenceStatus::Superseded,
            _ => return None,
        })
    }
}

/// A registry entry as callers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Licence {
    /// The GB/T 36904 电子证照标识.
    pub identifier: String,
    /// The unguessable id of the verification URL.
    pub public_id: String,
    /// `<public URL>/v/<public id>` (the QR code's target).
    pub verify_url: String,
    /// The licence type's key.
    pub type_key: String,
    /// 证照类型代码.
    pub type_code: String,
    /// 证照类型名称.
    pub type_name: String,
    /// Issuing organisation.
    pub org_id: String,
    /// 发证机构代码.
    pub issuer_uscc: String,
    /// 发证机构.
    pub issuer_name: String,
    /// 持证主体.
    pub holder_name: String,
    /// 持证主体代码.
    pub holder_code: String,
    /// 证照编号 (shared by every version).
    pub serial: String,
    /// 版本号 (1, 2, …).
    pub version: i64,
    /// Status now (expiry applied).
    pub status: LicenceStatus,
    /// Why it was suspended or revoked.
    pub status_reason: Option<String>,
    /// First day of validity (YYYY-MM-DD).
    pub valid_from: String,
    /// Last day of validity; `None`: 长期.
    pub valid_until: Option<String>,
    /// The version this one replaces.
    pub supersedes: Option<String>,
    /// The version that replaced this one.
    pub superseded_by: Option<String>,
    /// The seal used.
    pub seal_id: String,
    /// SHA-256 of the sealed PDF.
    pub pdf_sha256: String,
    /// The licence data.
    #[schema(value_type = Object)]
    pub data: Value,
    /// When issued (RFC 3339 UTC).
    pub issued: String,
    /// Last change.
    pub updated: String,
    /// The archive record of the issuance.
    pub issued_seq: i64,
    /// The archive record of the last change.
    pub last_seq: i64,
}

/// A status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// valid → suspended (a reason is required).
    Suspend,
    /// suspended → valid.
    Reinstate,
    /// valid or suspended → revoked (a reason is required; final).
    Revoke,
}

/// Registry query filters.
#[derive(Debug, Clone, Default)]
pub struct LicenceFilter {
    /// Issued by this organisation.
    pub org_id: Option<String>,
    /// Held by this USCC or resident ID number (authorised callers only: the server checks).
    pub holder_code: Option<String>,
    /// Of this type code.
    pub type_code: Option<String>,
    /// In this status.
    pub status: Option<LicenceStatus>,
    /// Cursor: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (1–500).
    pub limit: u32,
}

/// One page of results.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// China Standard Time, in which licences are dated.
fn cst() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC)
}

fn today() -> Date {
    OffsetDateTime::now_utc().to_offset(cst()).date()
}

fn effective_status(row: &LicenceRow, today: Date) -> LicenceStatus {
    let stored = LicenceStatus::parse(&row.status).unwrap_or(LicenceStatus::Valid);
    if stored == LicenceStatus::Valid
        && let Some(until) = row
            .valid_until
            .as_deref()
            .and_then(chop_seal::licence::data::parse_iso_date)
        && until < today
    {
        return LicenceStatus::Expired;
    }
    stored
}

impl Registry {
    fn view(&self, row: LicenceRow) -> Licence {
        let status = effective_status(&row, today());
        let data = serde_json::from_str(&row.data_json).unwrap_or(Value::Null);
        Licence {
            verify_url: verify_url(&self.public_url, &row.public_id),
            status,
            data,
            identifier: row.identifier,
            public_id: row.public_id,
            type_key: row.type_key,
            type_code: row.type_code,
            type_name: row.type_name,
            org_id: row.org_id,
            issuer_uscc: row.issuer_uscc,
            issuer_name: row.issuer_name,
            holder_name: row.holder_name,
            holder_code: row.holder_code,
            serial: row.serial,
            version: row.version,
            status_reason: row.status_reason,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            supersedes: row.supersedes,
            superseded_by: row.superseded_by,
            seal_id: row.seal_id,
            pdf_sha256: row.pdf_sha256,
            issued: row.issued,
            updated: row.updated,
            issued_seq: row.issued_seq,
            last_seq: row.last_seq,
        }
    }

    fn template(&self, which: &str) -> Result<&LicenceTemplate, RegistryError> {
        self.templates
            .get(which)
            .ok_or_else(|| RegistryError::NotFound {
                what: "licence type",
                id: which.to_owned(),
            })
    }

    /// Issues one licence (see the module docs: nothing is stored unless all of it is).
    pub async fn issue(&self, req: IssueRequest, actor: &str) -> Result<Issued, RegistryError> {
        let mut out = self.issue_batch(vec![req], actor).await?;
        out.pop()
            .ok_or_else(|| RegistryError::Corrupt("issuance returned nothing".into()))
    }

    /// Issues several licences at once: rendered and sealed in parallel, stored and recorded in
    /// one archive commit. All or nothing: any invalid request fails the whole batch before
    /// anything is stored.
    pub async fn issue_batch(
        &self,
        reqs: Vec<IssueRequest>,
        actor: &str,
    ) -> Result<Vec<Issued>, RegistryError> {
        // Replays first: a request whose idempotency key is known returns the first result.
        let mut results: Vec<Option<Issued>> = Vec::with_capacity(reqs.len());
        let mut todo = Vec::new();
        for (i, req) in reqs.into_iter().enumerate() {
            let hash = request_hash(&req);
            let scoped = req
                .idempotency_key
                .as_deref()
                .map(|k| scoped_key(&req.org_id, k))
                .transpose()?;
            if let Some(key) = &scoped
                && let Some(done) = self.replay(key, &hash).await?
            {
                results.push(Some(done));
                continue;
            }
            results.push(None);
            todo.push((i, req, hash, scoped));
        }
        if todo.is_empty() {
            return Ok(results.into_iter().flatten().collect());
        }

        // Validate everything and load the seals before allocating any serial.
        let mut jobs = Vec::with_capacity(todo.len());
        for (i, req, hash, scoped) in todo {
            let template = self.template(&req.type_key)?.clone();
            let data = template
                .validate(&req.data)
                .map_err(RegistryError::Fields)?;
            let org = self.organisation(&req.org_id).await?;
            let seal_id = match &req.seal_id {
                Some(s) => s.clone(),
                None => self.default_seal_id(&org.id).await?,
            };
            let seal = self.usable_seal(&seal_id, &org.id).await?;
            jobs.push(Job {
                index: i,
                template,
                data,
                raw: req.data,
                org,
                seal,
                hash,
                scoped,
                serial: String::new(),
                version: 1,
                supersedes: None,
            });
        }
        let issue_date = today();
        self.allocate_serials(&mut jobs, issue_date).await?;
        let prepared = self.render_and_seal(jobs, issue_date, actor).await?;

        // Commit point: the records. Then the rows.
        let changes = prepared
            .iter()
            .map(|p| {
                (
                    p.record.clone(),
                    Some(p.log_key.clone()),
                    RowDoc::Licence(p.row.clone()),
                )
            })
            .collect();
        let committed = self
            .commit_with_documents(changes, &documents_of(&prepared))
            .await?;
        let mut apply = Vec::new();
        let mut duplicates = Vec::new();
        for ((receipt, doc), p) in committed.into_iter().zip(prepared.iter()) {
            if receipt.duplicate {
                duplicates.push(p.index);
            } else {
                let seq =
                    i64::try_from(receipt.seq).map_err(|_| RegistryError::Corrupt("seq".into()))?;
                apply.push((seq, doc));
            }
        }
        let refs: Vec<(i64, &RowDoc)> = apply.iter().map(|(s, d)| (*s, d)).collect();
        self.apply_rows(&refs).await?;
        if !duplicates.is_empty() {
            // A concurrent request with the same idempotency key won: its rows may not be
            // applied yet.
            self.reconcile().await?;
        }
        for p in prepared {
            let issued = match duplicates.contains(&p.index) {
                true => {
                    let key = p.row.idempotency_key.clone().unwrap_or_default();
                    self.replay(&key, p.row.request_sha256.as_deref().unwrap_or_default())
                        .await?
                        .ok_or_else(|| {
                            RegistryError::Corrupt("idempotent licence vanished".into())
                        })?
                }
                false => Issued {
                    licence: self.licence(&p.row.identifier).await?,
                    pdf: p.pdf,
                    replayed: false,
                },
            };
            if let Some(slot) = results.get_mut(p.index) {
                *slot = Some(issued);
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// The stored result of an idempotent request, if any; a conflict if the key was used for
    /// another request.
    async fn replay(&self, scoped: &str, hash: &str) -> Result<Option<Issued>, RegistryError> {
        let row: Option<LicenceRow> = on_pool!(self.store(), pool => {
            sqlx::query_as("SELECT * FROM licences WHERE idempotency_key = $1")
                .bind(scoped)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        if row.request_sha256.as_deref() != Some(hash) {
            return Err(RegistryError::Conflict(
                "the Idempotency-Key was already used for a different request".into(),
            ));
        }
        let pdf = self.read_pdf(&row.pdf_sha256).await?;
        Ok(Some(Issued {
            licence: self.view(row),
            pdf,
            replayed: true,
        }))
    }

    /// Reserves one serial number per job, per (organisation, type, year), in one transaction.
    async fn allocate_serials(
        &self,
        jobs: &mut [Job],
        issue_date: Date,
    ) -> Result<(), RegistryError> {
        let year = issue_date.year();
        let mut counts: Vec<((String, String), i64)> = Vec::new();
        for j in jobs.iter().filter(|j| j.version == 1) {
            let k = (j.org.id.clone(), j.template.type_code().to_owned());
            match counts.iter_mut().find(|(key, _)| *key == k) {
                Some((_, n)) => *n += 1,
                None => counts.push((k, 1)),
            }
        }
        if counts.is_empty() {
            return Ok(());
        }
        let mut firsts = Vec::with_capacity(counts.len());
        let _turn = self.write_turn().lock().await;
        on_pool!(self.store(), pool => {
            let mut tx = pool.begin().await?;
            for ((org, code), n) in &counts {
                let end: i64 = sqlx::query_scalar(
                    "INSERT INTO licence_serials (org_id, type_code, year, next) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, type_code, year) DO UPDATE SET next = licence_serials.next + $4 \
                     RETURNING next",
                )
                .bind(org)
                .bind(code)
                .bind(i64::from(year))
                .bind(*n)
                .fetch_one(&mut *tx)
                .await?;
                firsts.push(((org.clone(), code.clone()), end - n + 1));
            }
            tx.commit().await?;
        });
        for j in jobs.iter_mut().filter(|j| j.version == 1) {
            let k = (j.org.id.clone(), j.template.type_code().to_owned());
            if let Some((_, next)) = firsts.iter_mut().find(|(key, _)| *key == k) {
                j.serial = format!("{year:04}{:07}", *next);
                *next += 1;
            }
        }
        Ok(())
    }

    /// Renders and seals every job (in parallel), stores the PDFs durably, and builds the rows
    /// and records.
    async fn render_and_seal(
        &self,
        jobs: Vec<Job>,
        issue_date: Date,
        actor: &str,
    ) -> Result<Vec<Prepared>, RegistryError> {
        let public_url = self.public_url.clone();
        let documents = self.archive.documents().clone();
        let actor = actor.to_owned();
        let prepared =
            tokio::task::spawn_blocking(move || -> Result<Vec<Prepared>, RegistryError> {
                use rayon::prelude::*;
                jobs.into_par_iter()
                    .map(|job| prepare(job, issue_date, &public_url, &documents, &actor))
                    .collect()
            })
            .await
            .map_err(|e| RegistryError::Corrupt(format!("issuance task failed: {e}")))??;
        Ok(prepared)
    }

    /// One licence, by its identifier or its public id.
    pub async fn licence(&self, id: &str) -> Result<Licence, RegistryError> {
        Ok(self.view(self.licence_row(id).await?))
    }

    async fn licence_row(&self, id: &str) -> Result<LicenceRow, RegistryError> {
        let row: Option<LicenceRow> = on_pool!(self.store(), pool => {
            sqlx::query_as("SELECT * FROM licences WHERE identifier = $1 OR public_id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or_else(|| RegistryError::NotFound {
            what: "licence",
            id: id.to_owned(),
        })
    }

    /// The sealed PDF of a licence.
    pub async fn licence_pdf(&self, id: &str) -> Result<Vec<u8>, RegistryError> {
        let row = self.licence_row(id).await?;
        self.read_pdf(&row.pdf_sha256).await
    }

    async fn read_pdf(&self, sha: &str) -> Result<Vec<u8>, RegistryError> {
        let hash = Hash::from_hex(sha)
            .map_err(|e| RegistryError::Corrupt(format!("pdf_sha256 {sha}: {e}")))?;
        let path = self.archive.documents().path_of(&hash);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| RegistryError::Io {
                path: path.clone(),
                source,
            })?;
        if Hash::sha256(&bytes) != hash {
            return Err(RegistryError::Corrupt(format!(
                "{} does not match its SHA-256",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Licences matching `filter`, newest first.
    pub async fn licences(&self, filter: &LicenceFilter) -> Result<Page<Licence>, RegistryError> {
        let limit = filter.limit.clamp(1, 500);
        let before: i64 = match filter.cursor.as_deref() {
            None | Some("") => i64::MAX,
            Some(c) => c.parse().map_err(|_| {
                RegistryError::Invalid(format!("cursor: {c:?} is not a cursor this API gave"))
            })?,
        };
        let today_text = iso_date(today());
        let (status, expired) = match filter.status {
            None => (None, None),
            Some(LicenceStatus::Expired) => (Some("valid"), Some(true)),
            Some(LicenceStatus::Valid) => (Some("valid"), Some(false)),
            Some(s) => (Some(s.as_str()), None),
        };
        let rows: Vec<LicenceRow> = on_pool!(self.store(), pool => {
            sqlx::query_as(
                "SELECT * FROM licences WHERE issued_seq < $1 \
                 AND ($2 IS NULL OR org_id = $2) AND ($3 IS NULL OR holder_code = $3) \
                 AND ($4 IS NULL OR type_code = $4) AND ($5 IS NULL OR status = $5) \
                 AND ($6 IS NULL OR ($6 = 1 AND valid_until IS NOT NULL AND valid_until < $7) \
                      OR ($6 = 0 AND (valid_until IS NULL OR valid_until >= $7))) \
                 ORDER BY issued_seq DESC LIMIT $8",
            )
            .bind(before)
            .bind(filter.org_id.as_deref())
            .bind(filter.holder_code.as_deref())
            .bind(filter.type_code.as_deref())
            .bind(status)
            .bind(expired.map(i64::from))
            .bind(today_text.as_str())
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await?
        });
        let more = rows.len() > limit as usize;
        let items: Vec<Licence> = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| self.view(r))
            .collect();
        let next_cursor = if more {
            items.last().map(|l| l.issued_seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Suspends, reinstates or revokes a licence; `reason` is required to suspend or revoke.
    /// `org_id`, if given, must be the issuer's.
    pub async fn change_status(
        &self,
        id: &str,
        change: StatusChange,
        reason: Option<&str>,
        org_id: Option<&str>,
        actor: &str,
    ) -> Result<Licence, RegistryError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = reason
            && r.chars().count() > 500
        {
            return Err(RegistryError::Invalid(
                "reason: at most 500 characters".into(),
            ));
        }
        let mut row = self.licence_row(id).await?;
        if let Some(org) = org_id
            && org != row.org_id
        {
            return Err(RegistryError::NotFound {
                what: "licence",
                id: id.to_owned(),
            });
        }
        let now = effective_status(&row, today());
        let (kind, to) = match change {
            StatusChange::Suspend => (RecordKind::LicenceSuspended, LicenceStatus::Suspended),
            StatusChange::Reinstate => (RecordKind::LicenceReinstated, LicenceStatus::Valid),
            StatusChange::Revoke => (RecordKind::LicenceRevoked, LicenceStatus::Revoked),
        };
        let allowed = match change {
            StatusChange::Suspend => now == LicenceStatus::Valid,
            StatusChange::Reinstate => now == LicenceStatus::Suspended,
            StatusChange::Revoke => matches!(
                now,
                LicenceStatus::Valid | LicenceStatus::Suspended | LicenceStatus::Expired
            ),
        };
        if !allowed {
            return Err(RegistryError::Conflict(format!(
                "licence {} is {}: it cannot be {}",
                row.identifier,
                now.as_str(),
                match change {
                    StatusChange::Suspend => "suspended",
                    StatusChange::Reinstate => "reinstated",
                    StatusChange::Revoke => "revoked",
                }
            )));
        }
        if reason.is_none() && change != StatusChange::Reinstate {
            return Err(RegistryError::Invalid(
                "reason: required to suspend or revoke a licence".into(),
            ));
        }
        row.status = to.as_str().to_owned();
        row.status_reason = reason.map(str::to_owned);
        row.updated = now_text();
        let mut r = licence_record(kind, actor, &row);
        if let Some(reason) = reason {
            r.payload.insert("reason".into(), json!(reason));
        }
        r.payload.insert("status".into(), json!(to.as_str()));
        self.commit_one(r, None, RowDoc::Licence(row)).await?;
        self.licence(id).await
    }

    /// Issues version n+1 of a licence with new data (same type, serial and issuer); the old
    /// version becomes `superseded` and points to the new one. Both records are appended in
    /// one commit.
    pub async fn supersede(
        &self,
        id: &str,
        data: Value,
        org_id: Option<&str>,
        actor: &str,
    ) -> Result<Issued, RegistryError> {
        let mut old = self.licence_row(id).await?;
        if let Some(org) = org_id
            && org != old.org_id
        {
            return Err(RegistryError::NotFound {
                what: "licence",
                id: id.to_owned(),
            });
        }
        let now = effective_status(&old, today());
        if !matches!(now, LicenceStatus::Valid | LicenceStatus::Suspended) {
            return Err(RegistryError::Conflict(format!(
                "licence {} is {}: only a valid or suspended licence can be superseded",
                old.identifier,
                now.as_str()
            )));
        }
        let template = self.template(&old.type_key)?.clone();
        let parsed = template.validate(&data).map_err(RegistryError::Fields)?;
        let org = self.organisation(&old.org_id).await?;
        let seal_id = match self.usable_seal(&old.seal_id, &org.id).await {
            Ok(_) => old.seal_id.clone(),
            Err(RegistryError::SealNotUsable(_)) => self.default_seal_id(&org.id).await?,
            Err(e) => return Err(e),
        };
        let seal = self.usable_seal(&seal_id, &org.id).await?;
        let version = old.version + 1;
        if version > 999 {
            return Err(RegistryError::Conflict(
                "licence version 999 reached".into(),
            ));
        }
        let req_hash = {
            let body = serde_json::to_vec(&json!({"supersede": old.identifier, "data": data}))
                .unwrap_or_default();
            Hash::sha256(&body).to_hex()
        };
        let job = Job {
            index: 0,
            template,
            data: parsed,
            raw: data,
            org,
            seal,
            hash: req_hash,
            scoped: None,
            serial: old.serial.clone(),
            version,
            supersedes: Some(old.identifier.clone()),
        };
        let issue_date = today();
        let mut prepared = self.render_and_seal(vec![job], issue_date, actor).await?;
        let Some(new) = prepared.pop() else {
            return Err(RegistryError::Corrupt("issuance returned nothing".into()));
        };
        old.status = LicenceStatus::Superseded.as_str().to_owned();
        old.superseded_by = Some(new.row.identifier.clone());
        old.updated = now_text();
        let mut r_old = licence_record(RecordKind::LicenceSuperseded, actor, &old);
        r_old
            .payload
            .insert("superseded_by".into(), json!(new.row.identifier));
        let documents = documents_of(std::slice::from_ref(&new));
        let committed = self
            .commit_with_documents(
                vec![
                    (
                        new.record.clone(),
                        Some(new.log_key.clone()),
                        RowDoc::Licence(new.row.clone()),
                    ),
                    (r_old, None, RowDoc::Licence(old.clone())),
                ],
                &documents,
            )
            .await?;
        let mut applied = Vec::new();
        for (receipt, doc) in committed {
            let seq =
                i64::try_from(receipt.seq).map_err(|_| RegistryError::Corrupt("seq".into()))?;
            applied.push((seq, doc));
        }
        let refs: Vec<(i64, &RowDoc)> = applied.iter().map(|(s, d)| (*s, d)).collect();
        self.apply_rows(&refs).await?;
        Ok(Issued {
            licence: self.licence(&new.row.identifier).await?,
            pdf: new.pdf,
            replayed: false,
        })
    }
}

/// One licence being issued.
struct Job {
    index: usize,
    template: LicenceTemplate,
    data: LicenceData,
    raw: Value,
    org: super::Organisation,
    seal: Arc<SealCredentials>,
    hash: String,
    scoped: Option<String>,
    serial: String,
    version: i64,
    supersedes: Option<String>,
}

/// A rendered, sealed and stored licence, not yet recorded.
struct Prepared {
    index: usize,
    row: LicenceRow,
    pdf: Vec<u8>,
    record: NewRecord,
    log_key: String,
}

fn documents_of(prepared: &[Prepared]) -> Vec<(String, u64)> {
    prepared
        .iter()
        .map(|p| (p.row.pdf_sha256.clone(), p.pdf.len() as u64))
        .collect()
}

fn scoped_key(org_id: &str, key: &str) -> Result<String, RegistryError> {
    let k = key.trim();
    if k.is_empty() || k.len() > 200 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RegistryError::Invalid(
            "idempotency key: 1 to 200 printable ASCII characters".into(),
        ));
    }
    Ok(format!("{org_id}:{k}"))
}

fn request_hash(req: &IssueRequest) -> String {
    // serde_json's maps are sorted: the same request always gives the same bytes.
    let body = serde_json::to_vec(&json!({
        "type": req.type_key,
        "data": req.data,
        "seal_id": req.seal_id,
    }))
    .unwrap_or_default();
    Hash::sha256(&body).to_hex()
}

fn licence_record(kind: RecordKind, actor: &str, row: &LicenceRow) -> NewRecord {
    let mut r = record(
        kind,
        actor,
        vec![
            format!("licence:{}", row.identifier),
            format!("organisation:{}", row.org_id),
        ],
    );
    r.retention = Retention::Permanent;
    r.payload.insert("identifier".into(), json!(row.identifier));
    r.payload.insert("type_code".into(), json!(row.type_code));
    r.payload.insert("version".into(), json!(row.version));
    r
}

fn prepare(
    job: Job,
    issue_date: Date,
    public_url: &str,
    documents: &DocumentStore,
    actor: &str,
) -> Result<Prepared, RegistryError> {
    let identifier = LicenceId {
        type_code: job.template.type_code().to_owned(),
        issuer_id: job.org.uscc.clone(),
        serial: job.serial.clone(),
        version: format!("{:03}", job.version),
    }
    .to_identifier()
    .map_err(|e| RegistryError::Invalid(format!("identifier: {e}")))?;
    let public_id = new_licence_id()?;
    let now = OffsetDateTime::now_utc();
    let ctx = RenderContext {
        identifier: identifier.clone(),
        licence_id: public_id.clone(),
        verify_url: verify_url(public_url, &public_id),
        issuer_name: job.org.name.clone(),
        issuer_code: job.org.uscc.clone(),
        issue_date,
        issued_at: Some(now),
    };
    let rendered = render_licence(&job.template, &job.data, &ctx)?;
    let (w, h) = job.seal.picture_mm;
    let opts = SignOptions {
        page: PageSelector::Number(rendered.seal_page),
        position_mm: Some(rendered.seal_position_for(w, h)),
        reason: Some(format!("签发{}", job.template.name())),
        signing_time: Some(now),
        ..SignOptions::default()
    };
    let sealed = job.seal.sealer.seal(&rendered.pdf, &opts)?;
    let (sha, _) = documents
        .put(&sealed.pdf)
        .map_err(|source| RegistryError::Io {
            path: documents.root().to_path_buf(),
            source,
        })?;
    let holder = job.data.holder();
    let issued = now_text();
    let row = LicenceRow {
        identifier: identifier.clone(),
        public_id,
        type_key: job.template.key().to_owned(),
        type_code: job.template.type_code().to_owned(),
        type_name: job.template.name().to_owned(),
        org_id: job.org.id.clone(),
        issuer_uscc: job.org.uscc.clone(),
        issuer_name: job.org.name.clone(),
        holder_name: holder.name.clone(),
        holder_code: holder.code.clone(),
        serial: job.serial.clone(),
        version: job.version,
        status: LicenceStatus::Valid.as_str().to_owned(),
        status_reason: None,
        valid_from: iso_date(rendered.validity.from),
        valid_until: rendered.validity.to.map(iso_date),
        supersedes: job.supersedes.clone(),
        superseded_by: None,
        seal_id: job.seal.row.id.clone(),
        pdf_sha256: sha.to_hex(),
        data_json: serde_json::to_string(&job.raw).unwrap_or_else(|_| "null".into()),
        issued: issued.clone(),
        updated: issued,
        issued_seq: 0,
        last_seq: 0,
        idempotency_key: job.scoped.clone(),
        request_sha256: Some(job.hash.clone()),
    };
    let mut record = licence_record(RecordKind::LicenceIssued, actor, &row);
    record
        .subject
        .push(format!("document:sha256:{}", sha.to_hex()));
    record.digests.push(Digest {
        value: sha,
        role: Some("document".into()),
    });
    record
        .payload
        .insert("type_name".into(), json!(row.type_name));
    record
        .payload
        .insert("issuer".into(), json!(row.issuer_uscc));
    record.payload.insert("seal_id".into(), json!(row.seal_id));
    record
        .payload
        .insert("valid_from".into(), json!(row.valid_from));
    if let Some(until) = &row.valid_until {
        record.payload.insert("valid_until".into(), json!(until));
    }
    if let Some(old) = &row.supersedes {
        record.payload.insert("supersedes".into(), json!(old));
    }
    let log_key = match &job.scoped {
        Some(k) => format!("licence.issued:{k}"),
        None => format!("licence.issued:{identifier}"),
    };
    Ok(Prepared {
        index: job.index,
        row,
        pdf: sealed.pdf,
        record,
        log_key,
    })
}
