//! The registry (issues 6 and 7): organisations (bureaus), their seals and their e-licences,
//! on the tables of `api/migrations/*/0002_registry.sql`, shared by the CLI and the server.
//!
//! # The log is the record of truth
//!
//! Every change is written in the same three steps, so that nothing is stored half-way and
//! nothing acknowledged is lost, even on `kill -9`:
//!
//! 1. the new state of the row, as JSON (a *row document*), is stored as evidence (with any PDF
//!    under `<data dir>/documents/`), durably — nothing refers to it yet;
//! 2. the archive record of the change (`licence.issued`, `seal.created`, …) is appended; it names
//!    the row document by SHA-256 (digest role `registry-row`). This is the commit point;
//! 3. the row is upserted, guarded by `last_seq` (the seq of the record it reflects), so that
//!    applying a record twice, or an older one after a newer one, changes nothing.
//!
//! A crash between 2 and 3 is repaired by [`Registry::reconcile`] (run when the registry is
//! opened): it re-applies the row documents of every registry record after
//! `registry_state.applied_seq`. A crash before 2 leaves only unreferenced content-addressed
//! bytes, which a retry reuses.

mod bootstrap;
mod licences;
pub mod mask;
mod orgs;
mod rows;
pub(crate) use rows::on_pool as rows_pool;
mod seals;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chop_archive::Hash;
use chop_archive::log::{AppendReceipt, NewEntry};
use chop_archive::record::{Digest, NewRecord, RecordKind, Timestamp};
use chop_keys_dev::DevPki;
use chop_seal::licence::{FieldError, LicenceTemplates};

use crate::archive::{Archive, ArchiveError};
use crate::store::{Evidence, Store, StoreError};

pub use bootstrap::{DevBureau, KEYS_DIR, ensure_dev_bureau};
#[allow(unused_imports)] // used by the server and the CLI
pub use licences::{
    IssueRequest, Issued, Licence, LicenceFilter, LicenceStatus, Page, StatusChange,
};
pub use orgs::{NewOrganisation, OrganisationPatch};
#[allow(unused_imports)] // used by the server and the CLI
pub use rows::{OrganisationRow as Organisation, SealRow};
#[allow(unused_imports)] // used by the server and the CLI
pub use seals::{NewSeal, SealKey, SealView, parse_seal_type};

/// Digest role naming a record's row document.
pub const ROW_ROLE: &str = "registry-row";

/// Why a registry operation failed. Each message is one line naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Bad input (a field named in the message).
    #[error("{0}")]
    Invalid(String),
    /// Licence data that does not satisfy its template: every problem, each naming its field.
    #[error("the licence data is invalid: {}", summary(.0))]
    Fields(Vec<FieldError>),
    /// Nothing with that id.
    #[error("{what} {id} not found")]
    NotFound {
        /// `organisation`, `seal`, `licence`, `licence type`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request conflicts with the current state (a duplicate USCC, an idempotency key
    /// reused with another request, a status change that is not allowed).
    #[error("{0}")]
    Conflict(String),
    /// A seal of another organisation, or a revoked seal.
    #[error("{0}")]
    SealNotUsable(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The archive failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// Rendering the licence failed.
    #[error("cannot render the licence: {0}")]
    Render(#[from] chop_seal::licence::RenderError),
    /// Sealing failed.
    #[error("cannot seal: {0}")]
    Sign(#[from] chop_seal::sign::SignError),
    /// Making keys, certificates or seal objects failed.
    #[error("{0}")]
    Keys(#[from] chop_keys_dev::DevPkiError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored content the registry cannot read back (names what and why).
    #[error("registry content is invalid: {0}")]
    Corrupt(String),
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Store(StoreError::Database(e))
    }
}

impl From<chop_archive::log::LogError<StoreError>> for RegistryError {
    fn from(e: chop_archive::log::LogError<StoreError>) -> Self {
        RegistryError::Archive(ArchiveError::Log(e))
    }
}

impl From<crate::archive::AppendError> for RegistryError {
    fn from(e: crate::archive::AppendError) -> Self {
        RegistryError::Archive(ArchiveError::Append(e))
    }
}

/// How the registry is configured.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `<public base URL>` of `/v/<licence id>` in licence QR codes.
    pub public_url: String,
    /// Extra licence types (`*.toml`) overlaying the shipped ones, if any.
    pub templates_dir: Option<PathBuf>,
}

/// The registry: the archive it writes to, the licence types, the data folder's development
/// PKI (its CA issues signer certificates, its seal maker signs seal objects), and caches.
pub struct Registry {
    archive: Arc<Archive>,
    templates: Arc<LicenceTemplates>,
    public_url: String,
    pki: Arc<DevPki>,
    sealers: Mutex<HashMap<String, Arc<seals::SealCredentials>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("public_url", &self.public_url)
            .field("templates", &self.templates.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Opens the registry over an open archive: loads the licence types, makes the data
    /// folder's development PKI and bureau on first use ([`ensure_dev_bureau`]), and reconciles
    /// the rows with the log.
    pub async fn open(
        archive: Arc<Archive>,
        config: &RegistryConfig,
    ) -> Result<(Registry, DevBureau), RegistryError> {
        let mut templates = LicenceTemplates::builtin()
            .map_err(|e| RegistryError::Invalid(format!("shipped licence types: {e}")))?;
        if let Some(dir) = &config.templates_dir {
            let extra = LicenceTemplates::load_dir(dir)
                .map_err(|e| RegistryError::Invalid(format!("licence types: {e}")))?;
            templates = templates
                .overlay(extra)
                .map_err(|e| RegistryError::Invalid(format!("licence types: {e}")))?;
        }
        let data_dir = archive.config().data_dir.clone();
        let pki = bootstrap::load_or_make_pki(&data_dir).await?;
        let registry = Registry {
            archive,
            templates: Arc::new(templates),
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            pki: Arc::new(pki),
            sealers: Mutex::new(HashMap::new()),
        };
        registry.reconcile().await?;
        let bureau = ensure_dev_bureau(&registry).await?;
        Ok((registry, bureau))
    }

    /// The licence types.
    pub fn templates(&self) -> &LicenceTemplates {
        &self.templates
    }

    /// The archive.
    pub fn archive(&self) -> &Arc<Archive> {
        &self.archive
    }

    /// The database.
    pub fn store(&self) -> &Store {
        self.archive.store()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.archive.config().data_dir
    }

    /// The data folder's development PKI root certificate (DER): the trust anchor of every
    /// seal the server's CA issued.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn dev_root_der(&self) -> &[u8] {
        &self.pki.root_ca.cert_der
    }

    /// The turn the registry's write transactions take with each other and, on SQLite, with
    /// the log's appends ([`Store::write_turn`]). Never held across an append.
    fn write_turn(&self) -> &tokio::sync::Mutex<()> {
        self.store().write_turn()
    }

    /// Step 3 of a change: upserts rows at their records' seqs (one transaction).
    async fn apply_rows(&self, docs: &[(i64, &rows::RowDoc)]) -> Result<(), RegistryError> {
        let _turn = self.write_turn().lock().await;
        rows::apply(self.store(), docs).await
    }

    /// Re-applies the row documents of registry records appended after the last
    /// reconciliation (see the module docs), then advances the mark.
    pub async fn reconcile(&self) -> Result<u64, RegistryError> {
        rows::reconcile(self).await
    }

    /// Steps 1 and 2 of a change: stores the row documents (and PDFs, already stored by the
    /// caller) as evidence, then appends `records` in one batch. Returns the receipts.
    async fn commit(
        &self,
        changes: Vec<(NewRecord, Option<String>, rows::RowDoc)>,
    ) -> Result<Vec<(AppendReceipt, rows::RowDoc)>, RegistryError> {
        self.commit_with_documents(changes, &[]).await
    }

    /// One change, all three steps: commits `record` (with `idempotency_key`) naming `doc` and
    /// applies the row. Returns the record's seq, or `None` (nothing applied) when the key was
    /// already in the log.
    async fn commit_one(
        &self,
        record: NewRecord,
        idempotency_key: Option<String>,
        doc: rows::RowDoc,
    ) -> Result<Option<i64>, RegistryError> {
        let committed = self.commit(vec![(record, idempotency_key, doc)]).await?;
        let Some((receipt, doc)) = committed.into_iter().next() else {
            return Err(RegistryError::Corrupt("append returned no receipt".into()));
        };
        if receipt.duplicate {
            return Ok(None);
        }
        let seq = i64::try_from(receipt.seq).map_err(|_| RegistryError::Corrupt("seq".into()))?;
        self.apply_rows(&[(seq, &doc)]).await?;
        Ok(Some(seq))
    }

    /// [`Registry::commit`], also recording stored PDFs (`(sha256, size)`) in the documents
    /// table, in the same transaction as the row documents.
    async fn commit_with_documents(
        &self,
        changes: Vec<(NewRecord, Option<String>, rows::RowDoc)>,
        documents: &[(String, u64)],
    ) -> Result<Vec<(AppendReceipt, rows::RowDoc)>, RegistryError> {
        let mut evidence = Vec::with_capacity(changes.len());
        let mut entries = Vec::with_capacity(changes.len());
        let mut docs = Vec::with_capacity(changes.len());
        for (mut record, idempotency_key, doc) in changes {
            let body = serde_json::to_vec(&doc)
                .map_err(|e| RegistryError::Corrupt(format!("row document: {e}")))?;
            let sha = Hash::sha256(&body);
            record.digests.push(Digest {
                value: sha,
                role: Some(ROW_ROLE.into()),
            });
            evidence.push(Evidence {
                sha256: sha.to_hex(),
                document_sha256: doc.document_sha256().unwrap_or_default(),
                media_type: "application/json".into(),
                body,
            });
            entries.push(NewEntry {
                idempotency_key,
                record,
            });
            docs.push(doc);
        }
        {
            let _turn = self.write_turn().lock().await;
            rows::put_evidence_many(self.store(), documents, &evidence).await?;
        }
        let receipts = self.archive.appender().append(entries).await?;
        Ok(receipts.into_iter().zip(docs).collect())
    }
}

/// A new random id: `<prefix>_` and 20 lower-case base32 characters (100 bits).
pub(crate) fn new_id(prefix: &str) -> Result<String, RegistryError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 13];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RegistryError::Corrupt("the system random generator failed".into()))?;
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(prefix.len() + 21);
    out.push_str(prefix);
    out.push('_');
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < prefix.len() + 21 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    Ok(out)
}

/// Now, as the RFC 3339 UTC text every registry table stores.
pub(crate) fn now_text() -> String {
    Timestamp::now().as_str().to_owned()
}

/// A record for a registry change by `actor`, with `subject` ids.
pub(crate) fn record(kind: RecordKind, actor: &str, subject: Vec<String>) -> NewRecord {
    let mut r = NewRecord::new(kind, actor);
    r.subject = subject;
    r
}

#[cfg(test)]
mod tests;
