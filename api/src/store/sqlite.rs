//! The archive store on SQLite: WAL journal, `synchronous=FULL` (every commit is fsynced before
//! it returns), a busy timeout for other processes' writes, writes under `BEGIN IMMEDIATE`.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chop_archive::Hash;
use chop_archive::log::{AppendBatch, AppendOutcome, LogHead, StoredCheckpoint, StoredRecord};
use chop_archive::record::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use super::{
    Evidence, IN_CHUNK, INSERT_CHUNK, StoreError, head_from_row, is_unique_violation, order_hashes,
    to_i64, to_i64_saturating, to_u64,
};

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Pooled connections (reads run concurrently in WAL mode; writes take turns).
const MAX_CONNECTIONS: u32 = 4;

/// WAL frames (pages) after which a commit on a pooled connection checkpoints the WAL into
/// the database file (SQLite's default).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 1_000;

/// The same for the append connection. A checkpoint inside a group commit holds every waiting
/// appender while it copies and fsyncs, so appends also start passive checkpoints in the
/// background (see [`SqliteStore::append`]) which copy most frames beside the next commits.
/// They cannot let the WAL start over while appends keep coming — only a checkpoint that
/// catches up with the last commit does — so this one, in the append connection, still runs
/// when the WAL reaches 16 MB: it finds most frames already copied, finishes quickly, and the
/// next append rewinds the WAL. Without it the WAL grows without bound under steady appends.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 4_000;

/// Least time between two background checkpoints started by appends.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Bytes of the database file read through a memory map instead of `read(2)` copies.
const MMAP_BYTES: u64 = 1 << 30;

/// A SQLite archive database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection kept for appends. SQLite drops a connection's whole page cache when it
    /// finds that another connection wrote since its last transaction, so appends spread over
    /// the pool would re-read the index pages they touch on every batch; on their own
    /// connection those pages stay cached.
    writer: SqlitePool,
    /// Background WAL checkpoints started by appends: whether one runs, and when the last
    /// one started.
    checkpointer: Arc<std::sync::Mutex<Checkpointer>>,
    lock_file: Arc<std::fs::File>,
    /// This process's write transactions take turns here: appends on the writer connection
    /// and the registry's writes on the pool. Writers on two connections that collide wait in
    /// SQLite's busy handler, which sleeps in steps of milliseconds (measured: 1.5 sleeps of
    /// 1.4 ms per licence issued, with the write path stalled meanwhile); queueing here
    /// instead costs nothing.
    write_turn: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct Checkpointer {
    running: bool,
    last: std::time::Instant,
}

/// The held append lock of a [`SqliteStore`]; released when dropped.
#[derive(Debug)]
pub struct SqliteAppendLock {
    file: Arc<std::fs::File>,
}

impl Drop for SqliteAppendLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // 64 MiB of page cache per connection: the idempotency-key index is written at
            // random places, and its pages should not be re-read from the OS on every batch.
            .pragma("cache_size", "-65536")
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("mmap_size", MMAP_BYTES.to_string());
        // A lock file beside the database serialises what SQLite's own locking does not cover
        // across processes: sqlx's SQLite migrator (two `chop` processes opening a new database
        // at once would both create the tables), and whole appends (see `lock_appends`). It is
        // a separate file because closing any descriptor of the database file itself would
        // drop SQLite's POSIX locks.
        let lock_path = {
            let mut name = path.as_os_str().to_owned();
            name.push(".lock");
            std::path::PathBuf::from(name)
        };
        let lock_file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("lock file task failed: {e}")))?
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        // Connecting (which switches a new database to WAL), migrating and opening the append
        // connection all happen under the lock: two processes creating one database at once
        // otherwise race on the journal-mode switch ("database is locked").
        let opened = async {
            let pool = SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                // A local file cannot drop a connection: skip the ping sqlx makes on every
                // acquire (it doubled the round trips of a group commit).
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.pragma(
                    "wal_autocheckpoint",
                    WRITER_AUTOCHECKPOINT_PAGES.to_string(),
                ))
                .await?;
            Ok::<_, StoreError>((pool, writer))
        }
        .await;
        lock_file
            .unlock()
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let (pool, writer) = opened?;
        Ok(SqliteStore {
            pool,
            writer,
            checkpointer: Arc::new(std::sync::Mutex::new(Checkpointer {
                running: false,
                last: std::time::Instant::now(),
            })),
            lock_file: Arc::new(lock_file),
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// See [`SqliteStore::write_turn`](struct.SqliteStore.html#structfield.write_turn).
    pub fn write_turn(&self) -> &tokio::sync::Mutex<()> {
        &self.write_turn
    }

    /// Takes the cross-process append lock (an exclusive `flock` on `<database>.lock`), waiting
    /// for another process's append to finish. Without it, appenders in several processes
    /// would keep invalidating each other's batches (the log retries, but may give up).
    pub async fn lock_appends(&self) -> Result<SqliteAppendLock, StoreError> {
        match self.lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let file = self.lock_file.clone();
                tokio::task::spawn_blocking(move || file.lock())
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("lock task failed: {e}")))?
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Database(sqlx::Error::Io(e)));
            }
        }
        Ok(SqliteAppendLock {
            file: self.lock_file.clone(),
        })
    }

    /// The connection pool (for the registry's tables, `crate::registry`).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// See [`chop_archive::log::LogStorage::head`].
    pub async fn head(&self) -> Result<LogHead, StoreError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT size, root, last_record_hash FROM log_head WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((size, root, last)) => head_from_row(size, &root, &last),
            None => Err(StoreError::Corrupt("the log_head row is missing".into())),
        }
    }

    /// See [`chop_archive::log::LogStorage::read_hashes`].
    pub async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let mut rows = Vec::with_capacity(indexes.len());
        for chunk in indexes.chunks(IN_CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("SELECT idx, hash FROM log_hashes WHERE idx IN (");
            let mut list = qb.separated(", ");
            for &i in chunk {
                list.push_bind(to_i64(i)?);
            }
            qb.push(")");
            rows.extend(
                qb.build_query_as::<(i64, Vec<u8>)>()
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        order_hashes(indexes, rows)
    }

    /// See [`chop_archive::log::LogStorage::find_idempotency_keys`].
    pub async fn find_idempotency_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for chunk in keys.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT idempotency_key, seq FROM log_records WHERE idempotency_key IN (",
            );
            let mut list = qb.separated(", ");
            for k in chunk {
                list.push_bind(k.as_str());
            }
            qb.push(")");
            for (k, seq) in qb
                .build_query_as::<(String, i64)>()
                .fetch_all(&self.pool)
                .await?
            {
                found.insert(k, to_u64(seq, "seq")?);
            }
        }
        Ok(keys.iter().map(|k| found.get(k).copied()).collect())
    }

    /// See [`chop_archive::log::LogStorage::append`]: one `BEGIN IMMEDIATE` transaction on the
    /// writer connection.
    pub async fn append(&self, batch: &AppendBatch) -> Result<AppendOutcome, StoreError> {
        let _turn = self.write_turn.lock().await;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let head = &batch.new_head;
        let updated = sqlx::query("UPDATE log_head SET size = ?1, root = ?2, last_record_hash = ?3 WHERE id = 1 AND size = ?4")
            .bind(to_i64(head.size)?)
            .bind(head.root.as_bytes().as_slice())
            .bind(head.last_record_hash.as_bytes().as_slice())
            .bind(to_i64(batch.base_size)?)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(AppendOutcome::Conflict);
        }
        let base_seq = to_i64(batch.base_size)?;
        for (c, chunk) in batch.records.chunks(INSERT_CHUNK).enumerate() {
            let first_seq = base_seq + (c * INSERT_CHUNK) as i64;
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO log_records (seq, kind, time, idempotency_key, record_hash, bytes) ",
            );
            qb.push_values(chunk.iter().enumerate(), |mut row, (i, r)| {
                row.push_bind(first_seq + i as i64)
                    .push_bind(r.record.kind.as_str())
                    .push_bind(r.record.time.as_str())
                    .push_bind(r.idempotency_key.as_deref())
                    .push_bind(r.record_hash.as_bytes().as_slice())
                    .push_bind(r.bytes.as_slice());
            });
            match qb.build().execute(&mut *tx).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    tx.rollback().await?;
                    return Ok(AppendOutcome::Conflict);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let first = to_i64(batch.first_hash_index)?;
        for (c, chunk) in batch.hashes.chunks(INSERT_CHUNK).enumerate() {
            let base = first + (c * INSERT_CHUNK) as i64;
            let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO log_hashes (idx, hash) ");
            qb.push_values(chunk.iter().enumerate(), |mut row, (i, h)| {
                row.push_bind(base + i as i64)
                    .push_bind(h.as_bytes().as_slice());
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.checkpoint_in_background();
        Ok(AppendOutcome::Appended)
    }

    /// Starts a passive WAL checkpoint on a pooled connection unless one is running or one
    /// started less than [`CHECKPOINT_EVERY`] ago. Passive checkpoints run beside the next
    /// appends (WAL mode lets a checkpointer and a writer work at once) and never block, so the
    /// append connection's own checkpoint ([`WRITER_AUTOCHECKPOINT_PAGES`]) finds little left
    /// to copy. Durability does not depend on them: every commit is already fsynced in the WAL.
    fn checkpoint_in_background(&self) {
        {
            let Ok(mut c) = self.checkpointer.lock() else {
                return;
            };
            if c.running || c.last.elapsed() < CHECKPOINT_EVERY {
                return;
            }
            c.running = true;
            c.last = std::time::Instant::now();
        }
        let (pool, checkpointer) = (self.pool.clone(), self.checkpointer.clone());
        tokio::spawn(async move {
            // A failed checkpoint is retried by a later append; nothing depends on it.
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await;
            if let Ok(mut c) = checkpointer.lock() {
                c.running = false;
            }
        });
    }

    /// See [`chop_archive::log::LogStorage::read_records`].
    pub async fn read_records(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, bytes FROM log_records WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
        )
        .bind(to_i64_saturating(from))
        .bind(to_i64_saturating(to))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(seq, bytes)| {
                Ok(StoredRecord {
                    seq: to_u64(seq, "seq")?,
                    bytes,
                })
            })
            .collect()
    }

    /// Records from `from`, optionally of one kind.
    pub async fn list_records(
        &self,
        from: u64,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = match kind {
            Some(k) => {
                sqlx::query_as("SELECT seq, bytes FROM log_records WHERE kind = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")
                    .bind(k)
                    .bind(to_i64_saturating(from))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as("SELECT seq, bytes FROM log_records WHERE seq >= ?1 ORDER BY seq LIMIT ?2")
                    .bind(to_i64_saturating(from))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter()
            .map(|(seq, bytes)| {
                Ok(StoredRecord {
                    seq: to_u64(seq, "seq")?,
                    bytes,
                })
            })
            .collect()
    }

    /// See [`chop_archive::log::LogStorage::latest_checkpoint`].
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(size, note)| {
            Ok(StoredCheckpoint {
                size: to_u64(size, "checkpoint size")?,
                note,
            })
        })
        .transpose()
    }

    /// See [`chop_archive::log::LogStorage::swap_checkpoint`]: compare and insert under
    /// `BEGIN IMMEDIATE`.
    pub async fn swap_checkpoint(
        &self,
        expected_size: Option<u64>,
        new: &StoredCheckpoint,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let latest: Option<i64> = sqlx::query_scalar("SELECT max(size) FROM log_checkpoints")
            .fetch_one(&mut *tx)
            .await?;
        let latest = latest.map(|s| to_u64(s, "checkpoint size")).transpose()?;
        if latest != expected_size {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO log_checkpoints (size, note, created) VALUES (?1, ?2, ?3)")
            .bind(to_i64(new.size)?)
            .bind(new.note.as_str())
            .bind(Timestamp::now().as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// See [`chop_archive::log::LogStorage::list_checkpoints`].
    pub async fn list_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let after = after_size.map_or(-1, to_i64_saturating);
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT size, note FROM log_checkpoints WHERE size > ?1 ORDER BY size LIMIT ?2",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(size, note)| {
                Ok(StoredCheckpoint {
                    size: to_u64(size, "checkpoint size")?,
                    note,
                })
            })
            .collect()
    }

    /// See [`super::Store::put_document`].
    pub async fn put_document(
        &self,
        sha256: &str,
        size: u64,
        media_type: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO documents (sha256, size, media_type, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
            .bind(sha256)
            .bind(to_i64(size)?)
            .bind(media_type)
            .bind(Timestamp::now().as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// See [`super::Store::put_evidence`].
    pub async fn put_evidence(&self, e: &Evidence) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence (sha256, document_sha256, media_type, body, created) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(e.sha256.as_str())
        .bind(e.document_sha256.as_str())
        .bind(e.media_type.as_str())
        .bind(e.body.as_slice())
        .bind(Timestamp::now().as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// See [`super::Store::evidence`].
    pub async fn evidence(&self, sha256: &str) -> Result<Option<Evidence>, StoreError> {
        let row: Option<(String, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT sha256, document_sha256, media_type, body FROM evidence WHERE sha256 = ?1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(sha256, document_sha256, media_type, body)| Evidence {
                sha256,
                document_sha256,
                media_type,
                body,
            }),
        )
    }

    /// Runs a statement directly (tests that damage the database behind the log's back).
    #[cfg(test)]
    pub async fn execute_raw(&self, sql: &'static str) {
        sqlx::query(sql).execute(&self.pool).await.unwrap();
    }
}
