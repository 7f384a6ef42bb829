//! Durable storage for the archive log ([`chop_archive::log::LogStorage`], issue 4 §4) and the
//! archive's document index, with sqlx on SQLite (one machine: WAL, `synchronous=FULL`) or
//! PostgreSQL (several processes sharing one database).
//!
//! The tables (migrations in `api/migrations/{sqlite,postgres}`, embedded with
//! `sqlx::migrate!`): `log_head` (one row: the compare-and-swap target of every append),
//! `log_records` (canonical record bytes, unique idempotency keys, indexed by kind),
//! `log_hashes` (every RFC 9162 node hash at its dense Go-tlog slot, so a proof is one read of
//! ≤ 2·log n rows), `log_checkpoints` (signed notes by tree size), `documents` and `evidence`.
//!
//! An append is one transaction: a conditional `UPDATE log_head … WHERE size = base` (the row
//! lock that serialises writers on PostgreSQL; SQLite takes its write lock with
//! `BEGIN IMMEDIATE`), then multi-row inserts of records and hashes, then commit — one fsync.

mod postgres;
mod sqlite;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use chop_archive::Hash;
use chop_archive::log::{
    AppendBatch, AppendOutcome, LogHead, LogStorage, StoredCheckpoint, StoredRecord,
};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Rows per multi-row `INSERT` (SQLite allows 32,766 bound values; 6 columns × 1,000 fit).
const INSERT_CHUNK: usize = 1000;

/// Values per `IN (…)` list.
const IN_CHUNK: usize = 5000;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database holds something the archive never writes (a short hash, a negative size).
    #[error("database content is invalid: {0}")]
    Corrupt(String),
    /// A value does not fit the database's integer type.
    #[error("value {0} is out of range for the database")]
    OutOfRange(u64),
}

/// Where the archive's database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (created if missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

/// One archive database: SQLite or PostgreSQL behind one interface.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// A stored evidence item (e.g. a verification report) named by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// SHA-256 of `body`, lower-case hex.
    pub sha256: String,
    /// SHA-256 of the document it is about, lower-case hex.
    pub document_sha256: String,
    /// Media type of `body`, e.g. `application/json`.
    pub media_type: String,
    /// The bytes.
    pub body: Vec<u8>,
}

impl Store {
    /// The turn this process's write transactions take (see `SqliteStore`'s field): the
    /// registry's writes, and on SQLite also the log's appends.
    pub fn write_turn(&self) -> &tokio::sync::Mutex<()> {
        match self {
            Store::Sqlite(s) => s.write_turn(),
            Store::Postgres(p) => p.write_turn(),
        }
    }

    /// Opens (creating if needed) the database at `location` and applies pending migrations.
    pub async fn open(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Ok(Store::Sqlite(SqliteStore::open(path).await?)),
            Location::Postgres(url) => Ok(Store::Postgres(PgStore::open(url).await?)),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Serialises appenders across processes for the duration of one append (so that the
    /// optimistic [`chop_archive::log::Log::append`] does not keep losing races): a session
    /// advisory lock on PostgreSQL (released by [`AppendLock::release`], or by the server when
    /// the process dies), an exclusive `flock` on `<database>.lock` on SQLite (released by the
    /// kernel when the process dies). Storage stays correct without it: every append is a
    /// compare-and-swap on the head.
    pub async fn lock_appends(&self) -> Result<AppendLock, StoreError> {
        match self {
            Store::Sqlite(s) => Ok(AppendLock::Sqlite(s.lock_appends().await?)),
            Store::Postgres(p) => Ok(AppendLock::Postgres(p.lock_appends().await?)),
        }
    }

    /// Notes that a document's bytes are stored (idempotent).
    pub async fn put_document(
        &self,
        sha256: &str,
        size: u64,
        media_type: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.put_document(sha256, size, media_type).await,
            Store::Postgres(p) => p.put_document(sha256, size, media_type).await,
        }
    }

    /// Stores an evidence item (idempotent: the same bytes are stored once).
    pub async fn put_evidence(&self, evidence: &Evidence) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.put_evidence(evidence).await,
            Store::Postgres(p) => p.put_evidence(evidence).await,
        }
    }

    /// The evidence item with this SHA-256, if stored.
    pub async fn evidence(&self, sha256: &str) -> Result<Option<Evidence>, StoreError> {
        match self {
            Store::Sqlite(s) => s.evidence(sha256).await,
            Store::Postgres(p) => p.evidence(sha256).await,
        }
    }

    /// Up to `limit` records with `seq ≥ from`, of `kind` if given, ascending by seq.
    pub async fn list_records(
        &self,
        from: u64,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_records(from, kind, limit).await,
            Store::Postgres(p) => p.list_records(from, kind, limit).await,
        }
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(p) => p.close().await,
        }
    }
}

/// A held cross-process append lock (see [`Store::lock_appends`]).
#[derive(Debug)]
pub enum AppendLock {
    /// The SQLite lock file.
    Sqlite(sqlite::SqliteAppendLock),
    /// The PostgreSQL advisory lock.
    Postgres(postgres::PgAppendLock),
}

impl AppendLock {
    /// Releases the lock.
    pub async fn release(self) {
        match self {
            AppendLock::Sqlite(l) => drop(l),
            AppendLock::Postgres(l) => l.release().await,
        }
    }
}

impl LogStorage for Store {
    type Error = StoreError;

    async fn head(&self) -> Result<LogHead, StoreError> {
        match self {
            Store::Sqlite(s) => s.head().await,
            Store::Postgres(p) => p.head().await,
        }
    }

    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read_hashes(indexes).await,
            Store::Postgres(p) => p.read_hashes(indexes).await,
        }
    }

    async fn find_idempotency_keys(&self, keys: &[String]) -> Result<Vec<Option<u64>>, StoreError> {
        match self {
            Store::Sqlite(s) => s.find_idempotency_keys(keys).await,
            Store::Postgres(p) => p.find_idempotency_keys(keys).await,
        }
    }

    async fn append(&self, batch: &AppendBatch) -> Result<AppendOutcome, StoreError> {
        check_batch(batch)?;
        match self {
            Store::Sqlite(s) => s.append(batch).await,
            Store::Postgres(p) => p.append(batch).await,
        }
    }

    async fn read_records(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read_records(from, to).await,
            Store::Postgres(p) => p.read_records(from, to).await,
        }
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        match self {
            Store::Sqlite(s) => s.latest_checkpoint().await,
            Store::Postgres(p) => p.latest_checkpoint().await,
        }
    }

    async fn swap_checkpoint(
        &self,
        expected_size: Option<u64>,
        new: &StoredCheckpoint,
    ) -> Result<bool, StoreError> {
        if expected_size.is_some_and(|s| new.size <= s) {
            return Ok(false);
        }
        match self {
            Store::Sqlite(s) => s.swap_checkpoint(expected_size, new).await,
            Store::Postgres(p) => p.swap_checkpoint(expected_size, new).await,
        }
    }

    async fn list_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_checkpoints(after_size, limit).await,
            Store::Postgres(p) => p.list_checkpoints(after_size, limit).await,
        }
    }
}

/// Refuses a batch whose shape contradicts itself (seqs, slots, head size): such a batch is a
/// bug in the caller, and storing it would corrupt the log.
fn check_batch(batch: &AppendBatch) -> Result<(), StoreError> {
    let count = batch.records.len() as u64;
    let new_size = batch
        .base_size
        .checked_add(count)
        .ok_or(StoreError::OutOfRange(batch.base_size))?;
    if batch.new_head.size != new_size {
        return Err(StoreError::Corrupt(format!(
            "append batch: head size {} but {} + {} records",
            batch.new_head.size, batch.base_size, count
        )));
    }
    if batch.first_hash_index != chop_archive::merkle::stored_hash_count(batch.base_size)
        || batch.first_hash_index + batch.hashes.len() as u64
            != chop_archive::merkle::stored_hash_count(new_size)
    {
        return Err(StoreError::Corrupt(
            "append batch: node hash slots do not match the sizes".into(),
        ));
    }
    for (i, r) in batch.records.iter().enumerate() {
        if r.seq != batch.base_size + i as u64 {
            return Err(StoreError::Corrupt(format!(
                "append batch: record {i} has seq {}",
                r.seq
            )));
        }
    }
    Ok(())
}

/// `u64` → `i64` for a database column.
fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange(v))
}

/// `u64` → `i64`, saturating (for exclusive upper bounds of ranges).
fn to_i64_saturating(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A database integer that must not be negative.
fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({v})")))
}

/// A 32-byte hash column.
fn to_hash(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| StoreError::Corrupt(format!("{what} is {} bytes, not 32", bytes.len())))
}

/// The head from its row.
fn head_from_row(size: i64, root: &[u8], last: &[u8]) -> Result<LogHead, StoreError> {
    Ok(LogHead {
        size: to_u64(size, "log size")?,
        root: to_hash(root, "head root")?,
        last_record_hash: to_hash(last, "last record hash")?,
    })
}

/// Reorders `(idx, hash)` rows into the order of `indexes`; an error if a slot is missing.
fn order_hashes(indexes: &[u64], rows: Vec<(i64, Vec<u8>)>) -> Result<Vec<Hash>, StoreError> {
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for (idx, hash) in rows {
        found.insert(to_u64(idx, "hash slot")?, to_hash(&hash, "node hash")?);
    }
    indexes
        .iter()
        .map(|i| {
            found
                .get(i)
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("node hash {i} is missing")))
        })
        .collect()
}

/// Whether a database error is a unique-constraint violation (a duplicate idempotency key).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
