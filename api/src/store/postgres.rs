//! The archive store on PostgreSQL, shared by several `chop` processes: an append is one
//! transaction whose conditional `UPDATE log_head … WHERE size = base` row-locks the head (a
//! concurrent appender waits, then finds the size changed and reports a conflict), and
//! [`PgStore::lock_appends`] takes a session advisory lock so cooperating processes do not even
//! build conflicting batches. Commits are durable with the server's default
//! `synchronous_commit = on`.

use std::time::Duration;

use chop_archive::Hash;
use chop_archive::log::{
    AppendBatch, AppendOutcome, BatchRecord, LogHead, StoredCheckpoint, StoredRecord,
};
use chop_archive::record::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

use super::{
    Evidence, StoreError, head_from_row, is_unique_violation, order_hashes, to_i64,
    to_i64_saturating, to_u64,
};

/// Advisory lock key serialising appenders ("chop log" in ASCII).
const APPEND_LOCK_KEY: i64 = 0x63686f70_206c6f67;

/// Advisory lock key serialising checkpoint swaps ("chop ckp").
const CHECKPOINT_LOCK_KEY: i64 = 0x63686f70_20636b70;

/// Pooled connections per process.
const MAX_CONNECTIONS: u32 = 8;

/// A PostgreSQL archive database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The registry's write transactions take turns here (PostgreSQL's row locks would let
    /// them run at once; the turn keeps both back ends on one code path).
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Largest record payload sent in one `INSERT … UNNEST` statement. sqlx 0.9.0 does not set
/// `TCP_NODELAY` on its sockets (upstream issue launchbadge/sqlx#4335, fixed after 0.9.0): a
/// statement whose messages do not fit one write of its 8 KiB buffer goes out in pieces, and
/// Nagle's algorithm holds the last piece until the server's delayed ACK — 40 ms per statement
/// over TCP (measured: about 1,000 appends/s from 64 appenders on loopback, against about
/// 21,000/s with statements under this size). Over a Unix socket there is no such delay.
const UNNEST_CHUNK_BYTES: usize = 6 * 1024;

/// Node hashes per `INSERT … UNNEST` statement (8 + 32 bytes each, under the same limit).
const UNNEST_CHUNK_HASHES: usize = 120;

/// `records` cut into runs whose canonical bytes add up to at most [`UNNEST_CHUNK_BYTES`]
/// (at least one record per run).
fn record_chunks(records: &[BatchRecord]) -> Vec<&[BatchRecord]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let len = r.bytes.len() + r.idempotency_key.as_ref().map_or(0, String::len) + 128;
        if i > start && size + len > UNNEST_CHUNK_BYTES {
            chunks.push(&records[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

/// A session advisory lock held on one pooled connection. Dropped without
/// [`PgAppendLock::release`], its connection is closed, which releases the lock.
#[derive(Debug)]
pub struct PgAppendLock {
    conn: Option<PoolConnection<Postgres>>,
}

impl PgAppendLock {
    /// Releases the lock (closing the connection if the unlock fails).
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked: Result<bool, _> = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(APPEND_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await;
            if !matches!(unlocked, Ok(true)) {
                let _ = conn.close().await;
            }
        }
    }
}

impl Drop for PgAppendLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl PgStore {
    /// Connects to `url` and migrates the database (sqlx serialises concurrent migrators).
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            pool,
            write_turn: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// See [`PgStore`]'s field `write_turn`.
    pub fn write_turn(&self) -> &tokio::sync::Mutex<()> {
        &self.write_turn
    }

    /// The connection pool (for the registry's tables, `crate::registry`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Takes the cross-process append lock (waits for another process's append to finish).
    pub async fn lock_appends(&self) -> Result<PgAppendLock, StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(APPEND_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
        Ok(PgAppendLock { conn: Some(conn) })
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

    /// See [`chop_archive::log::LogStorage::read_hashes`]: one `= ANY($1)` query.
    pub async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let ids = indexes
            .iter()
            .map(|&i| to_i64(i))
            .collect::<Result<Vec<i64>, _>>()?;
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT idx, hash FROM log_hashes WHERE idx = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
        order_hashes(indexes, rows)
    }

    /// See [`chop_archive::log::LogStorage::find_idempotency_keys`].
    pub async fn find_idempotency_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT idempotency_key, seq FROM log_records WHERE idempotency_key = ANY($1)",
        )
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        let mut found = std::collections::HashMap::new();
        for (k, seq) in rows {
            found.insert(k, to_u64(seq, "seq")?);
        }
        Ok(keys.iter().map(|k| found.get(k).copied()).collect())
    }

    /// See [`chop_archive::log::LogStorage::append`]: one transaction, records and hashes
    /// inserted with `UNNEST` statements of at most [`UNNEST_CHUNK_BYTES`] each.
    pub async fn append(&self, batch: &AppendBatch) -> Result<AppendOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let head = &batch.new_head;
        let updated = sqlx::query("UPDATE log_head SET size = $1, root = $2, last_record_hash = $3 WHERE id = 1 AND size = $4")
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
        for chunk in record_chunks(&batch.records) {
            let n = chunk.len();
            let (mut seqs, mut kinds, mut times, mut keys, mut hashes, mut bytes) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for r in chunk {
                seqs.push(to_i64(r.seq)?);
                kinds.push(r.record.kind.as_str());
                times.push(r.record.time.as_str());
                keys.push(r.idempotency_key.as_deref());
                hashes.push(r.record_hash.as_bytes().as_slice());
                bytes.push(r.bytes.as_slice());
            }
            let inserted = sqlx::query(
                "INSERT INTO log_records (seq, kind, time, idempotency_key, record_hash, bytes) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[])",
            )
            .bind(&seqs)
            .bind(&kinds)
            .bind(&times)
            .bind(&keys)
            .bind(&hashes)
            .bind(&bytes)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    tx.rollback().await?;
                    return Ok(AppendOutcome::Conflict);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let first = to_i64(batch.first_hash_index)?;
        for (c, chunk) in batch.hashes.chunks(UNNEST_CHUNK_HASHES).enumerate() {
            let base = first + (c * UNNEST_CHUNK_HASHES) as i64;
            let idxs: Vec<i64> = (0..chunk.len()).map(|i| base + i as i64).collect();
            let values: Vec<&[u8]> = chunk.iter().map(|h| h.as_bytes().as_slice()).collect();
            sqlx::query(
                "INSERT INTO log_hashes (idx, hash) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            )
            .bind(&idxs)
            .bind(&values)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(AppendOutcome::Appended)
    }

    /// See [`chop_archive::log::LogStorage::read_records`].
    pub async fn read_records(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, bytes FROM log_records WHERE seq >= $1 AND seq < $2 ORDER BY seq",
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
        let rows = sqlx::query(
            "SELECT seq, bytes FROM log_records WHERE seq >= $1 AND ($2::text IS NULL OR kind = $2) ORDER BY seq LIMIT $3",
        )
        .bind(to_i64_saturating(from))
        .bind(kind)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let seq: i64 = row.try_get(0)?;
                Ok(StoredRecord {
                    seq: to_u64(seq, "seq")?,
                    bytes: row.try_get(1)?,
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

    /// See [`chop_archive::log::LogStorage::swap_checkpoint`]: compare and insert under a
    /// transaction-scoped advisory lock.
    pub async fn swap_checkpoint(
        &self,
        expected_size: Option<u64>,
        new: &StoredCheckpoint,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHECKPOINT_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        let latest: Option<i64> = sqlx::query_scalar("SELECT max(size) FROM log_checkpoints")
            .fetch_one(&mut *tx)
            .await?;
        let latest = latest.map(|s| to_u64(s, "checkpoint size")).transpose()?;
        if latest != expected_size {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO log_checkpoints (size, note, created) VALUES ($1, $2, $3)")
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
            "SELECT size, note FROM log_checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
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
        sqlx::query("INSERT INTO documents (sha256, size, media_type, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
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
            "INSERT INTO evidence (sha256, document_sha256, media_type, body, created) VALUES ($1, $2, $3, $4, $5) \
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
            "SELECT sha256, document_sha256, media_type, body FROM evidence WHERE sha256 = $1",
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
