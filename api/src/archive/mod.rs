//! The archive as the `chop` binary runs it (issue 4): a data folder holding the database
//! (SQLite `chop.db`, or PostgreSQL given by URL), the content-addressed documents and the log
//! key; the group-committing appender; ingest of verified documents and of sealed outputs.
//!
//! Ingest order, so that nothing is stored half-way and nothing acknowledged is lost: verify →
//! document bytes (durable, content-addressed) → evidence row → log record (durable). A crash
//! before the record leaves at most an unreferenced document file or evidence row, which a
//! retry reuses.

pub mod appender;
pub mod documents;
pub mod logkey;
pub mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chop_archive::Hash;
use chop_archive::checkpoint::DEFAULT_ORIGIN;
use chop_archive::log::{AppendReceipt, Log, LogError, NewEntry};
use chop_archive::note::NoteSigner;
use chop_archive::record::{Digest, NewRecord, RecordKind, Retention};
use chop_seal::verify::{Indication, VerifyError, VerifyOptions, verify_pdf};
use serde_json::{Map, Value, json};

use crate::store::{Evidence, Location, Store, StoreError};
pub use appender::{AppendError, Appender, GroupCommit, Writer};
use documents::DocumentStore;

/// The SQLite database file inside a data folder.
pub const SQLITE_FILE: &str = "chop.db";

/// Where the archive lives and what it is called.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    /// The data folder (documents, keys, and the SQLite database unless `database_url`).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://…`) or `sqlite:PATH`; `None`: `<data dir>/chop.db`.
    pub database_url: Option<String>,
    /// The log's origin line and key name.
    pub origin: String,
}

impl ArchiveConfig {
    /// The default configuration for `data_dir`.
    #[allow(dead_code)]
    pub fn new(data_dir: &Path) -> ArchiveConfig {
        ArchiveConfig {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            origin: DEFAULT_ORIGIN.to_owned(),
        }
    }

    /// The database location this configuration names.
    pub fn location(&self) -> Result<Location, ArchiveError> {
        match self.database_url.as_deref() {
            None => Ok(Location::Sqlite(self.data_dir.join(SQLITE_FILE))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_owned()))
            }
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(path) if !path.is_empty() => Ok(Location::Sqlite(PathBuf::from(path))),
                _ => Err(ArchiveError::Usage(format!(
                    "database URL {url:?} is neither postgres://… nor sqlite:PATH"
                ))),
            },
        }
    }
}

/// What went wrong in an archive operation.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A bad option value.
    #[error("{0}")]
    Usage(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A log operation failed.
    #[error(transparent)]
    Log(#[from] LogError<StoreError>),
    /// An append was not acknowledged.
    #[error("append: {0}")]
    Append(#[from] AppendError),
    /// The log key cannot be loaded or made.
    #[error(transparent)]
    Key(#[from] logkey::LogKeyError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The document cannot be read as a PDF at all.
    #[error("{0}")]
    Unreadable(String),
    /// The document failed verification (`indication`: TOTAL-FAILED or NO-SIGNATURE) and
    /// `accept_invalid` was not given.
    #[error(
        "verification is {indication}{detail}: not ingested (use --accept-invalid to ingest it anyway; the record will say so)"
    )]
    Refused {
        /// The indication.
        indication: String,
        /// ` (SUB_INDICATION)` or empty.
        detail: String,
    },
}

/// An open archive: database, appender, documents, data folder.
#[derive(Debug)]
pub struct Archive {
    config: ArchiveConfig,
    store: Store,
    appender: Appender,
    writer: Writer,
    documents: DocumentStore,
}

/// A document to ingest (`chop archive ingest`).
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The PDF bytes.
    pub bytes: Vec<u8>,
    /// Its file name (recorded without the folder), if any.
    pub file_name: Option<String>,
    /// Retention class of the document.
    pub retention: Retention,
    /// A free-text note recorded in the payload.
    pub note: Option<String>,
    /// Ingest even if verification is TOTAL-FAILED or finds no signature.
    pub accept_invalid: bool,
    /// Trust anchors (DER) for verification.
    pub trust_anchors: Vec<Vec<u8>>,
    /// Who asks (the record's `actor`).
    pub actor: String,
    /// Makes a retried ingest return the first receipt.
    pub idempotency_key: Option<String>,
}

/// A sealed output to record (`chop sign --archive`).
#[derive(Debug, Clone)]
pub struct SealedDocument<'a> {
    /// The input PDF.
    pub original: &'a [u8],
    /// The sealed PDF.
    pub sealed: &'a [u8],
    /// Output file name.
    pub file_name: Option<String>,
    /// Whether the seal is drawn.
    pub visible: bool,
    /// DocMDP permission of a certified input.
    pub certified: Option<i64>,
    /// Trust anchors (DER) for the verification report.
    pub trust_anchors: Vec<Vec<u8>>,
    /// The record's `actor`.
    pub actor: String,
}

/// What an ingest or seal recording did.
#[derive(Debug, Clone)]
pub struct Archived {
    /// The record's receipt.
    pub receipt: AppendReceipt,
    /// SHA-256 of the stored document.
    pub sha256: Hash,
    /// Where its bytes are.
    pub path: PathBuf,
    /// The verification indication (`TOTAL-PASSED`, …, or `NO-SIGNATURE`).
    pub indication: String,
    /// Number of signatures found.
    pub signatures: usize,
}

/// The verification outcome kept as evidence.
struct Verified {
    indication: String,
    sub_indication: Option<String>,
    signatures: usize,
    evidence: Vec<u8>,
    acceptable: bool,
}

impl Archive {
    /// Opens the archive: creates the data folder, opens and migrates the database, starts the
    /// appender with `group`.
    pub async fn open(config: ArchiveConfig, group: GroupCommit) -> Result<Archive, ArchiveError> {
        let location = config.location()?;
        let dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            documents::create_dirs_durably(&dir)
                .map_err(|source| ArchiveError::Io { path: dir, source })
        })
        .await
        .map_err(|e| ArchiveError::Usage(format!("cannot create the data folder: {e}")))??;
        let store = Store::open(&location).await?;
        let (appender, writer) = Appender::spawn(store.clone(), group);
        let documents = DocumentStore::new(&config.data_dir);
        Ok(Archive {
            config,
            store,
            appender,
            writer,
            documents,
        })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A log over the database, for reads, proofs and checkpoints.
    pub fn log(&self) -> Log<Store> {
        Log::new(self.store.clone())
    }

    /// The appender (group commit).
    pub fn appender(&self) -> &Appender {
        &self.appender
    }

    /// The document store.
    pub fn documents(&self) -> &DocumentStore {
        &self.documents
    }

    /// The configuration.
    pub fn config(&self) -> &ArchiveConfig {
        &self.config
    }

    /// The log key, generated on first use and recorded as `key.created` (once).
    pub async fn signer(&self) -> Result<NoteSigner, ArchiveError> {
        let (dir, origin) = (self.config.data_dir.clone(), self.config.origin.clone());
        let (signer, _created) =
            tokio::task::spawn_blocking(move || logkey::load_or_create(&dir, &origin))
                .await
                .map_err(|e| ArchiveError::Usage(format!("key task failed: {e}")))??;
        // Recorded on every load (a no-op once present), so a crash right after the key was
        // made cannot leave it unrecorded.
        let verifier = signer.verifier();
        let mut r = NewRecord::new(RecordKind::KeyCreated, "system");
        r.subject = vec![format!("key:log:{:08x}", verifier.key_id())];
        r.payload
            .insert("purpose".into(), json!("checkpoint signing"));
        r.payload
            .insert("verifier_key".into(), json!(verifier.key_string()));
        let key = format!("key.created:{}", verifier.key_string());
        self.appender
            .append_one(NewEntry {
                idempotency_key: Some(key),
                record: r,
            })
            .await?;
        Ok(signer)
    }

    /// The log key if one exists (never creates one): for read-only commands.
    pub async fn existing_signer(&self) -> Result<Option<NoteSigner>, ArchiveError> {
        let (dir, origin) = (self.config.data_dir.clone(), self.config.origin.clone());
        Ok(
            tokio::task::spawn_blocking(move || logkey::load(&dir, &origin))
                .await
                .map_err(|e| ArchiveError::Usage(format!("key task failed: {e}")))??,
        )
    }

    /// Verifies, stores and records a document as `document.ingested`.
    pub async fn ingest(&self, req: IngestRequest) -> Result<Archived, ArchiveError> {
        let bytes = Arc::new(req.bytes);
        let verified = verify_for_evidence(bytes.clone(), req.trust_anchors).await?;
        if !verified.acceptable && !req.accept_invalid {
            return Err(ArchiveError::Refused {
                indication: verified.indication,
                detail: verified
                    .sub_indication
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
            });
        }
        let (sha, path) = self.store_document(bytes.clone()).await?;
        let evidence_sha = self.store_evidence(&sha, verified.evidence.clone()).await?;

        let mut r = NewRecord::new(RecordKind::DocumentIngested, req.actor);
        r.retention = req.retention;
        r.subject = vec![format!("document:sha256:{}", sha.to_hex())];
        r.digests = vec![
            Digest {
                value: sha,
                role: Some("document".into()),
            },
            Digest {
                value: evidence_sha,
                role: Some("evidence".into()),
            },
        ];
        let mut p = verification_payload(&verified);
        p.insert("size".into(), json!(bytes.len()));
        if let Some(name) = req.file_name {
            p.insert("file_name".into(), json!(name));
        }
        if let Some(note) = req.note {
            p.insert("note".into(), json!(note));
        }
        if !verified.acceptable {
            p.insert("accepted_invalid".into(), json!(true));
        }
        r.payload = p;
        let receipt = self
            .appender
            .append_one(NewEntry {
                idempotency_key: req.idempotency_key,
                record: r,
            })
            .await?;
        Ok(Archived {
            receipt,
            sha256: sha,
            path,
            indication: verified.indication,
            signatures: verified.signatures,
        })
    }

    /// Stores a sealed output with its verification report and records `document.sealed`.
    pub async fn record_sealed(&self, doc: SealedDocument<'_>) -> Result<Archived, ArchiveError> {
        let sealed = Arc::new(doc.sealed.to_vec());
        let verified = verify_for_evidence(sealed.clone(), doc.trust_anchors).await?;
        let (sha, path) = self.store_document(sealed.clone()).await?;
        let evidence_sha = self.store_evidence(&sha, verified.evidence.clone()).await?;

        let mut r = NewRecord::new(RecordKind::DocumentSealed, doc.actor);
        r.subject = vec![format!("document:sha256:{}", sha.to_hex())];
        r.digests = vec![
            Digest {
                value: sha,
                role: Some("document".into()),
            },
            Digest::sha256_of(doc.original, Some("original")),
            Digest {
                value: evidence_sha,
                role: Some("evidence".into()),
            },
        ];
        let mut p = verification_payload(&verified);
        p.insert("size".into(), json!(sealed.len()));
        p.insert("visible".into(), json!(doc.visible));
        if let Some(level) = doc.certified {
            p.insert("certified_docmdp".into(), json!(level));
        }
        if let Some(name) = doc.file_name {
            p.insert("file_name".into(), json!(name));
        }
        r.payload = p;
        // Sealing the same output twice (a retried command) records it once.
        let key = format!("document.sealed:{}", sha.to_hex());
        let receipt = self
            .appender
            .append_one(NewEntry {
                idempotency_key: Some(key),
                record: r,
            })
            .await?;
        Ok(Archived {
            receipt,
            sha256: sha,
            path,
            indication: verified.indication,
            signatures: verified.signatures,
        })
    }

    async fn store_document(&self, bytes: Arc<Vec<u8>>) -> Result<(Hash, PathBuf), ArchiveError> {
        let docs = self.documents.clone();
        let len = bytes.len() as u64;
        let (sha, path) = tokio::task::spawn_blocking(move || docs.put(&bytes))
            .await
            .map_err(|e| ArchiveError::Usage(format!("document task failed: {e}")))?
            .map_err(|source| ArchiveError::Io {
                path: self.documents.root().to_path_buf(),
                source,
            })?;
        self.store
            .put_document(&sha.to_hex(), len, "application/pdf")
            .await?;
        Ok((sha, path))
    }

    async fn store_evidence(&self, document: &Hash, body: Vec<u8>) -> Result<Hash, ArchiveError> {
        let sha = Hash::sha256(&body);
        self.store
            .put_evidence(&Evidence {
                sha256: sha.to_hex(),
                document_sha256: document.to_hex(),
                media_type: "application/json".into(),
                body,
            })
            .await?;
        Ok(sha)
    }

    /// Stops the appender after everything queued is answered, and closes the database.
    pub async fn close(self) {
        drop(self.appender);
        self.writer.finish().await;
        self.store.close().await;
    }
}

fn verification_payload(v: &Verified) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("indication".into(), json!(v.indication));
    if let Some(s) = &v.sub_indication {
        p.insert("sub_indication".into(), json!(s));
    }
    p.insert("signatures".into(), json!(v.signatures));
    p
}

/// Runs the verification engine (on a blocking thread) and renders its report as evidence.
/// A file that is not a readable PDF is refused outright; one without a signature gets the
/// indication `NO-SIGNATURE` and is acceptable only with `accept_invalid`.
async fn verify_for_evidence(
    bytes: Arc<Vec<u8>>,
    trust_anchors: Vec<Vec<u8>>,
) -> Result<Verified, ArchiveError> {
    let result = tokio::task::spawn_blocking(move || {
        let opts = VerifyOptions {
            trust_anchors,
            ..VerifyOptions::default()
        };
        (verify_pdf(&bytes, &opts), Hash::sha256(&bytes), bytes.len())
    })
    .await
    .map_err(|e| ArchiveError::Usage(format!("verification task failed: {e}")))?;
    let render = |v: &Value| {
        serde_json::to_vec_pretty(v)
            .map_err(|e| ArchiveError::Usage(format!("cannot render the report: {e}")))
    };
    match result {
        (Ok(report), _, _) => {
            let worst = report.worst();
            let sub = report
                .signatures
                .iter()
                .filter(|s| s.indication == worst)
                .find_map(|s| s.sub_indication)
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            let value = serde_json::to_value(&report)
                .map_err(|e| ArchiveError::Usage(format!("cannot render the report: {e}")))?;
            Ok(Verified {
                indication: worst.as_str().to_owned(),
                sub_indication: sub,
                signatures: report.signatures.len(),
                evidence: render(&value)?,
                acceptable: worst != Indication::TotalFailed,
            })
        }
        (Err(VerifyError::NoSignature), sha, size) => {
            let value = json!({
                "document": { "sha256": sha.to_hex(), "size": size },
                "error": VerifyError::NoSignature.to_string(),
            });
            Ok(Verified {
                indication: "NO-SIGNATURE".into(),
                sub_indication: None,
                signatures: 0,
                evidence: render(&value)?,
                acceptable: false,
            })
        }
        (Err(e), _, _) => Err(ArchiveError::Unreadable(e.to_string())),
    }
}

/// The actor for records made from the command line: `cli:<login name>`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let user: String = user.chars().filter(|c| !c.is_control()).collect();
    if user.is_empty() {
        "cli".to_owned()
    } else {
        format!("cli:{user}")
    }
}
