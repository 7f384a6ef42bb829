//! An in-memory [`LogStorage`] (and synchronous [`HashReader`]) for tests and benchmarks: the
//! reference behaviour of the storage contract in [`crate::log`], minus durability.
//!
//! Its futures never wait, so any executor (or a single poll) drives them to completion.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::log::{AppendBatch, AppendOutcome, LogHead, LogStorage, StoredCheckpoint, StoredRecord};
use crate::merkle::{self, Hash, HashReader};

/// Errors of [`MemoryStorage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// A node slot that was never written.
    #[error("stored hash {0} does not exist")]
    MissingHash(u64),
    /// An append batch that does not fit the log (wrong slots or seqs).
    #[error("malformed append batch: {0}")]
    BadBatch(String),
    /// A writer panicked while holding the lock.
    #[error("storage lock poisoned")]
    Poisoned,
}

#[derive(Debug, Default)]
struct Inner {
    records: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
    head: Option<LogHead>,
    keys: HashMap<String, u64>,
    checkpoints: Vec<StoredCheckpoint>,
}

/// A log held in memory behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    inner: Mutex<Inner>,
}

impl MemoryStorage {
    /// An empty log.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, MemoryError> {
        self.inner.lock().map_err(|_| MemoryError::Poisoned)
    }

    /// Number of stored node hashes.
    pub fn hash_count(&self) -> usize {
        self.lock().map(|i| i.hashes.len()).unwrap_or(0)
    }

    /// Replaces the bytes of record `seq` (for tests of [`crate::log::verify_log`]); returns
    /// whether the record exists.
    pub fn corrupt_record(&self, seq: u64, bytes: Vec<u8>) -> bool {
        let Ok(mut inner) = self.lock() else {
            return false;
        };
        match usize::try_from(seq)
            .ok()
            .and_then(|s| inner.records.get_mut(s))
        {
            Some(r) => {
                *r = bytes;
                true
            }
            None => false,
        }
    }

    /// Replaces the node hash in slot `index` (for tests); returns whether the slot exists.
    pub fn corrupt_hash(&self, index: u64, hash: Hash) -> bool {
        let Ok(mut inner) = self.lock() else {
            return false;
        };
        match usize::try_from(index)
            .ok()
            .and_then(|s| inner.hashes.get_mut(s))
        {
            Some(h) => {
                *h = hash;
                true
            }
            None => false,
        }
    }

    /// Stores a checkpoint without any check (for tests).
    pub fn insert_checkpoint_unchecked(&self, checkpoint: StoredCheckpoint) {
        if let Ok(mut inner) = self.lock() {
            inner.checkpoints.push(checkpoint);
            inner.checkpoints.sort_by_key(|c| c.size);
        }
    }

    /// Overwrites the stored head (for tests).
    pub fn set_head_unchecked(&self, head: LogHead) {
        if let Ok(mut inner) = self.lock() {
            inner.head = Some(head);
        }
    }

    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, MemoryError> {
        let inner = self.lock()?;
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|u| inner.hashes.get(u))
                    .copied()
                    .ok_or(MemoryError::MissingHash(i))
            })
            .collect()
    }

    fn do_append(&self, batch: &AppendBatch) -> Result<AppendOutcome, MemoryError> {
        let mut inner = self.lock()?;
        if inner.records.len() as u64 != batch.base_size {
            return Ok(AppendOutcome::Conflict);
        }
        let mut batch_keys = std::collections::HashSet::new();
        for r in &batch.records {
            if let Some(k) = &r.idempotency_key
                && (inner.keys.contains_key(k) || !batch_keys.insert(k.as_str()))
            {
                return Ok(AppendOutcome::Conflict);
            }
        }
        if batch.first_hash_index != inner.hashes.len() as u64 {
            return Err(MemoryError::BadBatch(format!(
                "hashes start at slot {}, storage holds {}",
                batch.first_hash_index,
                inner.hashes.len()
            )));
        }
        let new_size = batch.base_size + batch.records.len() as u64;
        if merkle::stored_hash_count(new_size) != batch.first_hash_index + batch.hashes.len() as u64
        {
            return Err(MemoryError::BadBatch(
                "hash count does not match the new size".into(),
            ));
        }
        if batch.new_head.size != new_size {
            return Err(MemoryError::BadBatch(
                "new head size does not match the records".into(),
            ));
        }
        for (i, r) in batch.records.iter().enumerate() {
            if r.seq != batch.base_size + i as u64 {
                return Err(MemoryError::BadBatch(format!(
                    "record {i} has seq {}",
                    r.seq
                )));
            }
        }
        for r in &batch.records {
            if let Some(k) = &r.idempotency_key {
                inner.keys.insert(k.clone(), r.seq);
            }
            inner.records.push(r.bytes.clone());
        }
        inner.hashes.extend_from_slice(&batch.hashes);
        inner.head = Some(batch.new_head);
        Ok(AppendOutcome::Appended)
    }
}

impl HashReader for MemoryStorage {
    type Error = MemoryError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MemoryError> {
        self.read(indexes)
    }
}

impl LogStorage for MemoryStorage {
    type Error = MemoryError;

    async fn head(&self) -> Result<LogHead, MemoryError> {
        Ok(self.lock()?.head.unwrap_or_else(LogHead::empty))
    }

    async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MemoryError> {
        self.read(indexes)
    }

    async fn find_idempotency_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<u64>>, MemoryError> {
        let inner = self.lock()?;
        Ok(keys.iter().map(|k| inner.keys.get(k).copied()).collect())
    }

    async fn append(&self, batch: &AppendBatch) -> Result<AppendOutcome, MemoryError> {
        self.do_append(batch)
    }

    async fn read_records(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>, MemoryError> {
        let inner = self.lock()?;
        let len = inner.records.len() as u64;
        let (from, to) = (from.min(len), to.min(len).max(from.min(len)));
        Ok((from..to)
            .filter_map(|seq| {
                let bytes = inner.records.get(usize::try_from(seq).ok()?)?.clone();
                Some(StoredRecord { seq, bytes })
            })
            .collect())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, MemoryError> {
        Ok(self.lock()?.checkpoints.last().cloned())
    }

    async fn swap_checkpoint(
        &self,
        expected_size: Option<u64>,
        new: &StoredCheckpoint,
    ) -> Result<bool, MemoryError> {
        let mut inner = self.lock()?;
        if inner.checkpoints.last().map(|c| c.size) != expected_size {
            return Ok(false);
        }
        if expected_size.is_some_and(|s| new.size <= s) {
            return Ok(false);
        }
        inner.checkpoints.push(new.clone());
        Ok(true)
    }

    async fn list_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, MemoryError> {
        let inner = self.lock()?;
        Ok(inner
            .checkpoints
            .iter()
            .filter(|c| after_size.is_none_or(|a| c.size > a))
            .take(limit)
            .cloned()
            .collect())
    }
}
