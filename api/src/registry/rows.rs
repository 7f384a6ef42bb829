//! Registry rows, their JSON *row documents*, the guarded upsert that applies them, and the
//! reconciliation of the tables with the log (see the module docs of [`super`]).

use chop_archive::log::StoredRecord;
use chop_archive::record::{Record, RecordKind};
use serde::{Deserialize, Serialize};

use super::{ROW_ROLE, Registry, RegistryError};
use crate::store::{Evidence, Store};

/// Runs `$body` with `$pool` bound to the SQLite or PostgreSQL pool of `$store`. The SQL is
/// the same for both: `$1`-style parameters, `ON CONFLICT … DO UPDATE`, `RETURNING`.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            crate::store::Store::Sqlite(s) => {
                let $pool = s.pool();
                $body
            }
            crate::store::Store::Postgres(p) => {
                let $pool = p.pool();
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// An organisation (bureau).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Organisation)]
pub struct OrganisationRow {
    /// `org_…`.
    pub id: String,
    /// 统一社会信用代码.
    pub uscc: String,
    /// Name.
    pub name: String,
    /// English name.
    pub name_en: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// When registered (RFC 3339 UTC).
    pub created: String,
    /// Last change.
    pub updated: String,
    /// Seq of the archive record this row reflects.
    #[serde(default)]
    pub last_seq: i64,
}

/// A seal as stored (the private key stays in its file, `key_file`, relative to the data
/// folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SealRow {
    /// `seal_…`.
    pub id: String,
    /// The organisation.
    pub org_id: String,
    /// 印章名称.
    pub name: String,
    /// GB/T 38540 seal type code.
    pub seal_type: i64,
    /// 印章编码 (esID).
    pub es_id: String,
    /// The `SESeal`, DER.
    #[serde(with = "hex_bytes")]
    pub seal_der: Vec<u8>,
    /// The signer certificate, DER.
    #[serde(with = "hex_bytes")]
    pub cert_der: Vec<u8>,
    /// The chain (issuing CA first), PEM.
    pub chain_pem: String,
    /// The private key file, relative to the data folder.
    pub key_file: String,
    /// The seal picture, PNG.
    #[serde(with = "hex_bytes")]
    pub picture_png: Vec<u8>,
    /// Seal validity start (RFC 3339).
    pub valid_start: String,
    /// Seal validity end (RFC 3339).
    pub valid_end: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// When made.
    pub created: String,
    /// When revoked.
    pub revoked: Option<String>,
    /// Seq of the archive record this row reflects.
    #[serde(default)]
    pub last_seq: i64,
}

/// An e-licence as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct LicenceRow {
    pub identifier: String,
    pub public_id: String,
    pub type_key: String,
    pub type_code: String,
    pub type_name: String,
    pub org_id: String,
    pub issuer_uscc: String,
    pub issuer_name: String,
    pub holder_name: String,
    pub holder_code: String,
    pub serial: String,
    pub version: i64,
    pub status: String,
    pub status_reason: Option<String>,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub supersedes: Option<String>,
    pub superseded_by: Option<String>,
    pub seal_id: String,
    pub pdf_sha256: String,
    pub data_json: String,
    pub issued: String,
    pub updated: String,
    /// Seq of the `licence.issued` record (0 in a row document of a new licence: the record's
    /// own seq is used).
    #[serde(default)]
    pub issued_seq: i64,
    #[serde(default)]
    pub last_seq: i64,
    pub idempotency_key: Option<String>,
    pub request_sha256: Option<String>,
}

/// The new state of one row, stored as evidence and named by the record of the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "table", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // a handful per change, never stored in bulk in memory
pub enum RowDoc {
    Organisation(OrganisationRow),
    Seal(SealRow),
    Licence(LicenceRow),
}

impl RowDoc {
    /// The document (PDF) the row is about, if any.
    pub fn document_sha256(&self) -> Option<String> {
        match self {
            RowDoc::Licence(l) => Some(l.pdf_sha256.clone()),
            _ => None,
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// Stores document rows (`(sha256, size)` of PDFs whose bytes are already stored) and
/// evidence rows in one transaction (idempotent).
pub async fn put_evidence_many(
    store: &Store,
    documents: &[(String, u64)],
    items: &[Evidence],
) -> Result<(), RegistryError> {
    if items.is_empty() && documents.is_empty() {
        return Ok(());
    }
    let now = super::now_text();
    on_pool!(store, pool => {
        let mut tx = pool.begin().await?;
        for (sha, size) in documents {
            let size = i64::try_from(*size)
                .map_err(|_| RegistryError::Invalid(format!("document of {size} bytes")))?;
            sqlx::query(
                "INSERT INTO documents (sha256, size, media_type, created) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(sha.as_str())
            .bind(size)
            .bind("application/pdf")
            .bind(now.as_str())
            .execute(&mut *tx)
            .await?;
        }
        for e in items {
            sqlx::query(
                "INSERT INTO evidence (sha256, document_sha256, media_type, body, created) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(e.sha256.as_str())
            .bind(e.document_sha256.as_str())
            .bind(e.media_type.as_str())
            .bind(e.body.as_slice())
            .bind(now.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Applies row documents at their records' seqs, in one transaction. A row already at that seq
/// or later is left alone.
pub async fn apply(store: &Store, docs: &[(i64, &RowDoc)]) -> Result<(), RegistryError> {
    if docs.is_empty() {
        return Ok(());
    }
    on_pool!(store, pool => {
        let mut tx = pool.begin().await?;
        for (seq, doc) in docs {
            match doc {
                RowDoc::Organisation(o) => {
                    sqlx::query(
                        "INSERT INTO organisations (id, uscc, name, name_en, address, created, updated, last_seq) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (id) DO UPDATE SET uscc = excluded.uscc, name = excluded.name, \
                         name_en = excluded.name_en, address = excluded.address, updated = excluded.updated, \
                         last_seq = excluded.last_seq WHERE organisations.last_seq < excluded.last_seq",
                    )
                    .bind(&o.id).bind(&o.uscc).bind(&o.name).bind(&o.name_en).bind(&o.address)
                    .bind(&o.created).bind(&o.updated).bind(*seq)
                    .execute(&mut *tx).await?;
                }
                RowDoc::Seal(s) => {
                    sqlx::query(
                        "INSERT INTO seals (id, org_id, name, seal_type, es_id, seal_der, cert_der, chain_pem, \
                         key_file, picture_png, valid_start, valid_end, status, revoked_reason, created, revoked, last_seq) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                         revoked_reason = excluded.revoked_reason, revoked = excluded.revoked, \
                         last_seq = excluded.last_seq WHERE seals.last_seq < excluded.last_seq",
                    )
                    .bind(&s.id).bind(&s.org_id).bind(&s.name).bind(s.seal_type).bind(&s.es_id)
                    .bind(s.seal_der.as_slice()).bind(s.cert_der.as_slice()).bind(&s.chain_pem)
                    .bind(&s.key_file).bind(s.picture_png.as_slice()).bind(&s.valid_start)
                    .bind(&s.valid_end).bind(&s.status).bind(&s.revoked_reason).bind(&s.created)
                    .bind(&s.revoked).bind(*seq)
                    .execute(&mut *tx).await?;
                }
                RowDoc::Licence(l) => {
                    let issued_seq = if l.issued_seq == 0 { *seq } else { l.issued_seq };
                    sqlx::query(
                        "INSERT INTO licences (identifier, public_id, type_key, type_code, type_name, org_id, \
                         issuer_uscc, issuer_name, holder_name, holder_code, serial, version, status, \
                         status_reason, valid_from, valid_until, supersedes, superseded_by, seal_id, \
                         pdf_sha256, data_json, issued, updated, issued_seq, last_seq, idempotency_key, \
                         request_sha256) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                         $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) \
                         ON CONFLICT (identifier) DO UPDATE SET status = excluded.status, \
                         status_reason = excluded.status_reason, superseded_by = excluded.superseded_by, \
                         updated = excluded.updated, last_seq = excluded.last_seq \
                         WHERE licences.last_seq < excluded.last_seq",
                    )
                    .bind(&l.identifier).bind(&l.public_id).bind(&l.type_key).bind(&l.type_code)
                    .bind(&l.type_name).bind(&l.org_id).bind(&l.issuer_uscc).bind(&l.issuer_name)
                    .bind(&l.holder_name).bind(&l.holder_code).bind(&l.serial).bind(l.version)
                    .bind(&l.status).bind(&l.status_reason).bind(&l.valid_from).bind(&l.valid_until)
                    .bind(&l.supersedes).bind(&l.superseded_by).bind(&l.seal_id).bind(&l.pdf_sha256)
                    .bind(&l.data_json).bind(&l.issued).bind(&l.updated).bind(issued_seq).bind(*seq)
                    .bind(&l.idempotency_key).bind(&l.request_sha256)
                    .execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The record kinds whose row documents the registry applies.
const KINDS: [RecordKind; 9] = [
    RecordKind::OrganisationCreated,
    RecordKind::OrganisationUpdated,
    RecordKind::SealCreated,
    RecordKind::SealRevoked,
    RecordKind::LicenceIssued,
    RecordKind::LicenceSuspended,
    RecordKind::LicenceReinstated,
    RecordKind::LicenceRevoked,
    RecordKind::LicenceSuperseded,
];

/// Records per page while reconciling.
const PAGE: u32 = 500;

/// See [`Registry::reconcile`]. Returns how many records were applied.
pub async fn reconcile(reg: &Registry) -> Result<u64, RegistryError> {
    let store = reg.store();
    let applied: i64 = on_pool!(store, pool => {
        sqlx::query_scalar("SELECT applied_seq FROM registry_state WHERE id = 1")
            .fetch_one(pool)
            .await?
    });
    let from = u64::try_from(applied).unwrap_or(0);
    let head = reg.archive().log().head().await?.size;
    let mut count = 0u64;
    for kind in KINDS {
        let mut next = from;
        while next < head {
            let page = store.list_records(next, Some(kind.as_str()), PAGE).await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for stored in page.iter().filter(|r| r.seq < head) {
                if apply_stored(store, stored).await? {
                    count += 1;
                }
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
    }
    let head_i = i64::try_from(head).map_err(|_| RegistryError::Corrupt("log size".into()))?;
    on_pool!(store, pool => {
        sqlx::query("UPDATE registry_state SET applied_seq = $1 WHERE id = 1 AND applied_seq < $1")
            .bind(head_i)
            .execute(pool)
            .await?;
    });
    Ok(count)
}

/// Applies one stored record's row document, if it names one. `false` if it names none (a
/// record written by something other than the registry).
async fn apply_stored(store: &Store, stored: &StoredRecord) -> Result<bool, RegistryError> {
    let record = Record::from_canonical_bytes(&stored.bytes)
        .map_err(|e| RegistryError::Corrupt(format!("record {}: {e}", stored.seq)))?;
    let Some(doc) = row_doc_of(store, &record).await? else {
        return Ok(false);
    };
    let seq = i64::try_from(record.seq).map_err(|_| RegistryError::Corrupt("seq".into()))?;
    match apply(store, &[(seq, &doc)]).await {
        Ok(()) => Ok(true),
        // A row that cannot be applied (a unique value taken by another row) must not stop
        // every later start: report it and go on.
        Err(RegistryError::Store(crate::store::StoreError::Database(sqlx::Error::Database(d))))
            if d.is_unique_violation() =>
        {
            eprintln!(
                "chop: registry: record {} ({}) conflicts with an existing row and was not applied: {}",
                record.seq,
                record.kind,
                d.message()
            );
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The row document a record names (digest role [`ROW_ROLE`]), read from the evidence table.
pub async fn row_doc_of(store: &Store, record: &Record) -> Result<Option<RowDoc>, RegistryError> {
    let Some(digest) = record
        .digests
        .iter()
        .find(|d| d.role.as_deref() == Some(ROW_ROLE))
    else {
        return Ok(None);
    };
    let Some(evidence) = store.evidence(&digest.value.to_hex()).await? else {
        return Err(RegistryError::Corrupt(format!(
            "record {} names row document {} which is not stored",
            record.seq,
            digest.value.to_hex()
        )));
    };
    let doc: RowDoc = serde_json::from_slice(&evidence.body).map_err(|e| {
        RegistryError::Corrupt(format!("row document of record {}: {e}", record.seq))
    })?;
    Ok(Some(doc))
}
