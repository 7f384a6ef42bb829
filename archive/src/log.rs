//! The archive log: appends, signed checkpoints, proofs and full verification over the
//! [`LogStorage`] trait — RFC 9162 §2.1 trees, C2SP tlog-checkpoint and tlog-proof.
//!
//! # Why the storage trait is async and the math is not
//!
//! The Merkle math ([`crate::merkle`]) is synchronous and pure, over a [`HashReader`]. Storage
//! is async (the `api` crate implements it with sqlx on tokio), so this module bridges the two
//! the way Go's tlog invites: it asks `merkle` which node slots a computation needs (the
//! `*_indexes` functions), fetches them with one [`LogStorage::read_hashes`] call, and runs the
//! computation over a [`PrefetchedHashes`] reader. One proof or one append batch = one read.
//!
//! # Concurrency contract
//!
//! Appends are optimistic: [`Log::append`] reads the head, builds the records and node hashes,
//! and asks storage to commit them *only if the log still has `base_size` records and none of
//! the idempotency keys exists* ([`LogStorage::append`] returns [`AppendOutcome::Conflict`]
//! otherwise, having written nothing). On conflict the log re-reads and retries. Several
//! processes sharing one database therefore produce one consistent log as long as the storage
//! implementation makes that check and the writes one transaction. Checkpoints use the same
//! idea: [`LogStorage::swap_checkpoint`] replaces the latest signed checkpoint only if it is
//! still the one the signer checked consistency against.
//!
//! [`HashReader`]: crate::merkle::HashReader

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
use crate::merkle::{
    self, Hash, MerkleError, PrefetchedHashes, ProofError, empty_tree_hash, leaf_hash, node_hash,
};
use crate::note::{NoteSigner, NoteVerifier};
use crate::proof::TlogProof;
use crate::record::{EncodedRecord, NewRecord, Record, RecordBuilder, RecordError};

/// Longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// How many times [`Log::append`] and [`Log::checkpoint`] retry after losing a race.
pub const MAX_ATTEMPTS: usize = 16;

/// The log's current state as storage records it, written by every [`LogStorage::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    /// Number of records (= Merkle leaves).
    pub size: u64,
    /// RFC 9162 tree head over all records.
    pub root: Hash,
    /// SHA-256 of the last record's canonical bytes ([`Hash::ZERO`] when empty): the next `prev`.
    pub last_record_hash: Hash,
}

impl LogHead {
    /// The head of an empty log: size 0, root SHA-256(""), last record hash zero.
    pub fn empty() -> LogHead {
        LogHead {
            size: 0,
            root: empty_tree_hash(),
            last_record_hash: Hash::ZERO,
        }
    }
}

/// A record as storage keeps it: its seq and canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the log.
    pub seq: u64,
    /// RFC 8785 canonical bytes (the Merkle leaf input).
    pub bytes: Vec<u8>,
}

/// A signed checkpoint as storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Its tree size (unique: the log never signs two checkpoints of one size).
    pub size: u64,
    /// The whole signed note text.
    pub note: String,
}

/// One record of an [`AppendBatch`], with everything storage may want to index.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// Its seq (= leaf index).
    pub seq: u64,
    /// The caller's idempotency key, if any; unique across the log.
    pub idempotency_key: Option<String>,
    /// The parsed record (for indexing by kind, time, subject, digests).
    pub record: Record,
    /// The canonical bytes to store.
    pub bytes: Vec<u8>,
    /// SHA-256(bytes).
    pub record_hash: Hash,
    /// SHA-256(0x00 ‖ bytes).
    pub leaf_hash: Hash,
}

impl BatchRecord {
    /// An encoded record to append, under its caller's idempotency key.
    pub fn new(encoded: EncodedRecord, idempotency_key: Option<String>) -> Self {
        Self {
            seq: encoded.record.seq,
            idempotency_key,
            record: encoded.record,
            bytes: encoded.bytes,
            record_hash: encoded.record_hash,
            leaf_hash: encoded.leaf_hash,
        }
    }
}

/// Everything one atomic append writes.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendBatch {
    /// The log size the batch was built on; storage must refuse the batch if it changed.
    pub base_size: u64,
    /// The new records, seqs `base_size..base_size + records.len()`.
    pub records: Vec<BatchRecord>,
    /// Dense slot of `hashes[0]` (= `merkle::stored_hash_count(base_size)`).
    pub first_hash_index: u64,
    /// Node hashes to store at `first_hash_index..`.
    pub hashes: Vec<Hash>,
    /// The head after the batch.
    pub new_head: LogHead,
}

/// Result of [`LogStorage::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Everything was written, durably.
    Appended,
    /// Nothing was written: the size is no longer `base_size` or an idempotency key exists.
    Conflict,
}

/// Storage for one archive log. Implemented in `api/` with sqlx (SQLite and PostgreSQL) and
/// here by [`crate::memory::MemoryStorage`]. All methods may be called concurrently.
pub trait LogStorage: Send + Sync {
    /// The implementation's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The current head ([`LogHead::empty`] for a new log), as written by the last append.
    fn head(&self) -> impl Future<Output = Result<LogHead, Self::Error>> + Send;

    /// The node hashes at the given dense slots ([`merkle::stored_hash_index`]), same order and
    /// length; an error if any slot is missing. Indexes come sorted ascending: usually ≤ 2·log n of them; `verify_log` asks for contiguous runs of
    /// about 2,100 slots.
    fn read_hashes(
        &self,
        indexes: &[u64],
    ) -> impl Future<Output = Result<Vec<Hash>, Self::Error>> + Send;

    /// For each key, the seq of the record appended with it, or `None` if the key is unknown.
    fn find_idempotency_keys(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<u64>>, Self::Error>> + Send;

    /// In one transaction, durably: if the log has exactly `batch.base_size` records and no
    /// key of the batch exists, store the records (with keys), the hashes at their slots and
    /// `batch.new_head`, and return `Appended`; otherwise write nothing and return `Conflict`.
    /// Returns only once the write is durable (fsync / commit acknowledged).
    fn append(
        &self,
        batch: &AppendBatch,
    ) -> impl Future<Output = Result<AppendOutcome, Self::Error>> + Send;

    /// The records with `from ≤ seq < to`, ascending; fewer (or none) past the end of the log.
    fn read_records(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, Self::Error>> + Send;

    /// The latest signed checkpoint (largest size), if any was ever stored.
    fn latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>, Self::Error>> + Send;

    /// Atomically: if the latest stored checkpoint has size `expected_size` (`None`: there is
    /// none yet), store `new` (keeping the old ones) and return `true`; otherwise store nothing
    /// and return `false`.
    fn swap_checkpoint(
        &self,
        expected_size: Option<u64>,
        new: &StoredCheckpoint,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Stored checkpoints with size > `after_size` (all if `None`), ascending by size, at most
    /// `limit` of them.
    fn list_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredCheckpoint>, Self::Error>> + Send;
}

impl<T: LogStorage + ?Sized> LogStorage for std::sync::Arc<T> {
    type Error = T::Error;

    fn head(&self) -> impl Future<Output = Result<LogHead, Self::Error>> + Send {
        (**self).head()
    }

    fn read_hashes(
        &self,
        indexes: &[u64],
    ) -> impl Future<Output = Result<Vec<Hash>, Self::Error>> + Send {
        (**self).read_hashes(indexes)
    }

    fn find_idempotency_keys(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<u64>>, Self::Error>> + Send {
        (**self).find_idempotency_keys(keys)
    }

    fn append(
        &self,
        batch: &AppendBatch,
    ) -> impl Future<Output = Result<AppendOutcome, Self::Error>> + Send {
        (**self).append(batch)
    }

    fn read_records(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, Self::Error>> + Send {
        (**self).read_records(from, to)
    }

    fn latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>, Self::Error>> + Send {
        (**self).latest_checkpoint()
    }

    fn swap_checkpoint(
        &self,
        expected_size: Option<u64>,
        new: &StoredCheckpoint,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).swap_checkpoint(expected_size, new)
    }

    fn list_checkpoints(
        &self,
        after_size: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredCheckpoint>, Self::Error>> + Send {
        (**self).list_checkpoints(after_size, limit)
    }
}

/// What went wrong in a log operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError<E: std::error::Error + 'static> {
    /// The storage implementation failed.
    #[error("storage: {0}")]
    Storage(#[source] E),
    /// Tree math failed (a bad request, or storage returned the wrong number of hashes).
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// Entry `position` of an append cannot become a record.
    #[error("entry {position}: {error}")]
    InvalidEntry {
        /// Index of the entry in the call.
        position: usize,
        /// Why.
        error: RecordError,
    },
    /// An idempotency key is empty or longer than 256 bytes.
    #[error("idempotency key must be 1 to 256 bytes")]
    InvalidIdempotencyKey,
    /// Other writers won the race [`MAX_ATTEMPTS`] times in a row.
    #[error("gave up after {0} conflicting attempts")]
    Contention(usize),
    /// A checkpoint is malformed or does not verify.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Signing was refused: the new head is not consistent with the last signed checkpoint.
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
    /// Storage contradicts itself (e.g. the stored head is not the recomputed tree).
    #[error("storage is inconsistent: {0}")]
    Corrupt(String),
    /// A proof was asked for something the log cannot prove.
    #[error("{0}")]
    NotProvable(String),
}

/// One entry for [`Log::append`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Makes a retried append a no-op: an entry whose key is already in the log is not
    /// appended again, and its receipt names the existing record.
    pub idempotency_key: Option<String>,
    /// The record to append.
    pub record: NewRecord,
}

/// What [`Log::append`] did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The record's seq.
    pub seq: u64,
    /// Its leaf hash (what an inclusion proof proves).
    pub leaf_hash: Hash,
    /// `true` if the idempotency key was already in the log and nothing new was appended.
    pub duplicate: bool,
}

/// The archive log over a storage implementation.
#[derive(Debug)]
pub struct Log<S> {
    storage: S,
}

impl<S: LogStorage> Log<S> {
    /// A log over `storage`.
    pub fn new(storage: S) -> Log<S> {
        Log { storage }
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    async fn read(&self, indexes: &[u64]) -> Result<PrefetchedHashes, LogError<S::Error>> {
        let hashes = if indexes.is_empty() {
            Vec::new()
        } else {
            self.storage
                .read_hashes(indexes)
                .await
                .map_err(LogError::Storage)?
        };
        Ok(PrefetchedHashes::new(indexes, &hashes)?)
    }

    /// Appends `entries` as one atomic batch (RFC 9162 leaves, chained records) and returns
    /// one receipt per entry, in order. Entries whose idempotency key is already in the log —
    /// or repeated within the call — are not appended again. Nothing is written if any entry
    /// is invalid.
    pub async fn append(
        &self,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<AppendReceipt>, LogError<S::Error>> {
        // Invalid records surface from `RecordBuilder::build` below, before anything is written.
        for e in &entries {
            if let Some(k) = &e.idempotency_key
                && (k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_BYTES)
            {
                return Err(LogError::InvalidIdempotencyKey);
            }
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = entries
            .iter()
            .filter_map(|e| e.idempotency_key.clone())
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            let existing: HashMap<String, u64> = if keys.is_empty() {
                HashMap::new()
            } else {
                let found = self
                    .storage
                    .find_idempotency_keys(&keys)
                    .await
                    .map_err(LogError::Storage)?;
                keys.iter()
                    .cloned()
                    .zip(found)
                    .filter_map(|(k, s)| s.map(|s| (k, s)))
                    .collect()
            };

            let head = self.storage.head().await.map_err(LogError::Storage)?;
            let mut builder = RecordBuilder::resume(head.size, head.last_record_hash);
            // Per entry: Ok(index into `batch`) for new records, Err(seq) for duplicates.
            let mut plan: Vec<Result<usize, u64>> = Vec::with_capacity(entries.len());
            let mut batch: Vec<BatchRecord> = Vec::new();
            let mut in_call: HashMap<&str, u64> = HashMap::new();
            for (position, e) in entries.iter().enumerate() {
                if let Some(k) = e.idempotency_key.as_deref()
                    && let Some(seq) = existing.get(k).or_else(|| in_call.get(k))
                {
                    plan.push(Err(*seq));
                    continue;
                }
                let encoded = builder
                    .build(e.record.clone())
                    .map_err(|error| LogError::InvalidEntry { position, error })?;
                if let Some(k) = e.idempotency_key.as_deref() {
                    in_call.insert(k, encoded.record.seq);
                }
                plan.push(Ok(batch.len()));
                batch.push(BatchRecord::new(encoded, e.idempotency_key.clone()));
            }

            if !batch.is_empty() {
                let leaves: Vec<Hash> = batch.iter().map(|r| r.leaf_hash).collect();
                let indexes = merkle::append_batch_indexes(head.size, leaves.len() as u64)?;
                let existing_hashes = if indexes.is_empty() {
                    Vec::new()
                } else {
                    self.storage
                        .read_hashes(&indexes)
                        .await
                        .map_err(LogError::Storage)?
                };
                let computed = merkle::append_batch(head.size, &leaves, &existing_hashes)?;
                let last_record_hash = batch
                    .last()
                    .map_or(head.last_record_hash, |r| r.record_hash);
                let append = AppendBatch {
                    base_size: head.size,
                    first_hash_index: computed.first_index,
                    hashes: computed.hashes,
                    new_head: LogHead {
                        size: computed.tree_size,
                        root: computed.root,
                        last_record_hash,
                    },
                    records: batch,
                };
                if self
                    .storage
                    .append(&append)
                    .await
                    .map_err(LogError::Storage)?
                    == AppendOutcome::Conflict
                {
                    continue;
                }
                batch = append.records;
            }

            let mut receipts = Vec::with_capacity(plan.len());
            for step in plan {
                receipts.push(match step {
                    Ok(i) => {
                        let r = batch
                            .get(i)
                            .ok_or_else(|| LogError::Corrupt("append plan out of range".into()))?;
                        AppendReceipt {
                            seq: r.seq,
                            leaf_hash: r.leaf_hash,
                            duplicate: false,
                        }
                    }
                    Err(seq) => {
                        let leaf = match batch.iter().find(|r| r.seq == seq) {
                            Some(r) => r.leaf_hash,
                            None => {
                                let stored = self
                                    .storage
                                    .read_records(seq, seq.saturating_add(1))
                                    .await
                                    .map_err(LogError::Storage)?;
                                let rec =
                                    stored.first().filter(|r| r.seq == seq).ok_or_else(|| {
                                        LogError::Corrupt(format!(
                                            "idempotency key points at missing record {seq}"
                                        ))
                                    })?;
                                leaf_hash(&rec.bytes)
                            }
                        };
                        AppendReceipt {
                            seq,
                            leaf_hash: leaf,
                            duplicate: true,
                        }
                    }
                });
            }
            return Ok(receipts);
        }
        Err(LogError::Contention(MAX_ATTEMPTS))
    }

    /// The stored head.
    pub async fn head(&self) -> Result<LogHead, LogError<S::Error>> {
        self.storage.head().await.map_err(LogError::Storage)
    }

    /// The tree head over the first `size` records, recomputed from stored nodes (one read).
    pub async fn root_at(&self, size: u64) -> Result<Hash, LogError<S::Error>> {
        let indexes = merkle::tree_hash_indexes(size)?;
        Ok(merkle::tree_hash(size, &self.read(&indexes).await?)?)
    }

    /// The inclusion proof of record `index` in the tree of `size` records (one read).
    pub async fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LogError<S::Error>> {
        let indexes = merkle::inclusion_proof_indexes(index, size)?;
        Ok(merkle::inclusion_proof(
            index,
            size,
            &self.read(&indexes).await?,
        )?)
    }

    /// The consistency proof between tree sizes `old ≤ new` (one read).
    pub async fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, LogError<S::Error>> {
        let indexes = merkle::consistency_proof_indexes(old, new)?;
        Ok(merkle::consistency_proof(
            old,
            new,
            &self.read(&indexes).await?,
        )?)
    }

    /// The record with this seq, checked to be canonical, or `None` past the end.
    pub async fn record(&self, seq: u64) -> Result<Option<Record>, LogError<S::Error>> {
        let stored = self
            .storage
            .read_records(seq, seq.saturating_add(1))
            .await
            .map_err(LogError::Storage)?;
        match stored.into_iter().find(|r| r.seq == seq) {
            None => Ok(None),
            Some(r) => Record::from_canonical_bytes(&r.bytes)
                .map(Some)
                .map_err(|e| LogError::Corrupt(format!("record {seq}: {e}"))),
        }
    }

    /// The latest stored checkpoint, verified with `verifier`.
    pub async fn latest_checkpoint(
        &self,
        verifier: &NoteVerifier,
    ) -> Result<Option<SignedCheckpoint>, LogError<S::Error>> {
        match self
            .storage
            .latest_checkpoint()
            .await
            .map_err(LogError::Storage)?
        {
            None => Ok(None),
            Some(s) => Ok(Some(SignedCheckpoint::open(&s.note, verifier)?)),
        }
    }

    /// The latest signed checkpoint, signing a new one first if the log has grown. Refuses to
    /// sign a head that is not consistent with the last signed checkpoint (tlog-checkpoint
    /// §Signatures), and never overwrites a checkpoint signed concurrently by someone else.
    pub async fn checkpoint(
        &self,
        signer: &NoteSigner,
    ) -> Result<SignedCheckpoint, LogError<S::Error>> {
        let verifier = signer.verifier();
        for _ in 0..MAX_ATTEMPTS {
            // The latest checkpoint first, then the head: read the other way round, a
            // checkpoint signed concurrently (by another process) could be ahead of our head.
            let previous = self.latest_checkpoint(&verifier).await?;
            let head = self.storage.head().await.map_err(LogError::Storage)?;
            let root = self.root_at(head.size).await?;
            if root != head.root {
                return Err(LogError::Corrupt(format!(
                    "stored head root {} differs from the tree recomputed from stored nodes {}",
                    head.root, root
                )));
            }
            if let Some(prev) = &previous
                && prev.checkpoint.size == head.size
                && prev.checkpoint.root == root
            {
                return Ok(prev.clone());
            }
            let old_size = previous.as_ref().map(|p| p.checkpoint.size);
            let proof = match old_size {
                Some(old) if old <= head.size => self.consistency_proof(old, head.size).await?,
                _ => Vec::new(),
            };
            let next = Checkpoint::new(signer.name(), head.size, root);
            let signed = sign_checkpoint(
                previous.as_ref().map(|p| &p.checkpoint),
                &next,
                &proof,
                signer,
            )?;
            let stored = StoredCheckpoint {
                size: head.size,
                note: signed.note.clone(),
            };
            if self
                .storage
                .swap_checkpoint(old_size, &stored)
                .await
                .map_err(LogError::Storage)?
            {
                return Ok(signed);
            }
        }
        Err(LogError::Contention(MAX_ATTEMPTS))
    }

    /// A tlog-proof for record `seq` against the stored checkpoint of exactly `size` records,
    /// or the latest checkpoint when `size` is `None`. The record's canonical bytes go in the
    /// `extra` line. The proof is verified before it is returned.
    pub async fn prove(
        &self,
        seq: u64,
        size: Option<u64>,
        verifier: &NoteVerifier,
    ) -> Result<TlogProof, LogError<S::Error>> {
        let stored = match size {
            None => self
                .storage
                .latest_checkpoint()
                .await
                .map_err(LogError::Storage)?,
            Some(0) => None,
            Some(n) => self
                .storage
                .list_checkpoints(Some(n - 1), 1)
                .await
                .map_err(LogError::Storage)?
                .into_iter()
                .find(|c| c.size == n),
        };
        let stored = stored.ok_or_else(|| {
            LogError::NotProvable(match size {
                Some(n) => format!("no signed checkpoint of size {n}"),
                None => "no signed checkpoint yet".into(),
            })
        })?;
        let signed = SignedCheckpoint::open(&stored.note, verifier)?;
        let tree_size = signed.checkpoint.size;
        if seq >= tree_size {
            return Err(LogError::NotProvable(format!(
                "record {seq} is not in the checkpoint of size {tree_size}"
            )));
        }
        let record = self
            .storage
            .read_records(seq, seq.saturating_add(1))
            .await
            .map_err(LogError::Storage)?;
        let record = record
            .into_iter()
            .find(|r| r.seq == seq)
            .ok_or_else(|| LogError::Corrupt(format!("record {seq} is missing")))?;
        let hashes = self.inclusion_proof(seq, tree_size).await?;
        let leaf = leaf_hash(&record.bytes);
        merkle::verify_inclusion(seq, tree_size, &leaf, &hashes, &signed.checkpoint.root).map_err(
            |e| {
                LogError::Corrupt(format!(
                    "inclusion proof for record {seq} does not verify: {e}"
                ))
            },
        )?;
        Ok(TlogProof {
            extra: Some(record.bytes),
            index: seq,
            hashes,
            checkpoint: signed.note,
        })
    }
}

/// Signs `next` only if it extends `previous` (the last checkpoint the log signed): same
/// origin, size not smaller, same root when the size is equal, and `proof` a valid RFC 9162
/// §2.1.4.2 consistency proof from `previous` to `next`.
pub fn sign_checkpoint(
    previous: Option<&Checkpoint>,
    next: &Checkpoint,
    proof: &[Hash],
    signer: &NoteSigner,
) -> Result<SignedCheckpoint, CheckpointRefusal> {
    if let Some(prev) = previous {
        if prev.origin != next.origin {
            return Err(CheckpointRefusal::OriginChanged {
                previous: prev.origin.clone(),
                next: next.origin.clone(),
            });
        }
        if next.size < prev.size {
            return Err(CheckpointRefusal::Shrinks {
                previous: prev.size,
                next: next.size,
            });
        }
        merkle::verify_consistency(prev.size, next.size, &prev.root, &next.root, proof).map_err(
            |error| CheckpointRefusal::NotConsistent {
                previous: prev.size,
                next: next.size,
                error,
            },
        )?;
    } else if !proof.is_empty() {
        return Err(CheckpointRefusal::NotConsistent {
            previous: 0,
            next: next.size,
            error: ProofError::WrongLength {
                expected: 0,
                actual: proof.len(),
            },
        });
    }
    Ok(next.sign(signer)?)
}

/// Why [`sign_checkpoint`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointRefusal {
    /// The origin differs from the last signed checkpoint's.
    #[error("origin changed from {previous:?} to {next:?}")]
    OriginChanged {
        /// Previous origin.
        previous: String,
        /// New origin.
        next: String,
    },
    /// The new tree is smaller than the last signed one.
    #[error("tree would shrink from {previous} to {next} records")]
    Shrinks {
        /// Previous size.
        previous: u64,
        /// New size.
        next: u64,
    },
    /// The consistency proof does not show the old tree is a prefix of the new one.
    #[error("tree of {next} records is not consistent with the signed tree of {previous}: {error}")]
    NotConsistent {
        /// Previous size.
        previous: u64,
        /// New size.
        next: u64,
        /// What the verifier said.
        error: ProofError,
    },
    /// Signing itself failed (origin not the key name, malformed text).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl<E: std::error::Error + 'static> From<CheckpointRefusal> for LogError<E> {
    fn from(r: CheckpointRefusal) -> Self {
        match r {
            CheckpointRefusal::Checkpoint(c) => LogError::Checkpoint(c),
            other => LogError::Inconsistent(other.to_string()),
        }
    }
}

/// Where [`verify_log`] found a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The record with this seq.
    Record {
        /// Seq.
        seq: u64,
    },
    /// A stored Merkle node: dense slot `index`, the subtree `(level, n)`.
    Node {
        /// Dense slot.
        index: u64,
        /// Subtree level (0 = leaf).
        level: u32,
        /// Subtree number at that level.
        n: u64,
    },
    /// The stored checkpoint of this size.
    Checkpoint {
        /// Tree size.
        size: u64,
    },
    /// The stored head.
    Head,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Record { seq } => write!(f, "record {seq}"),
            Location::Node { index, level, n } => write!(f, "node {index} (level {level}, #{n})"),
            Location::Checkpoint { size } => write!(f, "checkpoint of size {size}"),
            Location::Head => f.write_str("head"),
        }
    }
}

/// One thing [`verify_log`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub location: Location,
    /// What, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Most problems [`verify_log`] lists (it keeps counting past them).
pub const MAX_REPORTED_PROBLEMS: usize = 1000;

/// The result of [`verify_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records found in storage.
    pub records: u64,
    /// The tree head recomputed from the records.
    pub root: Hash,
    /// The head as stored.
    pub stored_head: LogHead,
    /// Stored node hashes compared with recomputed ones.
    pub hashes_checked: u64,
    /// Stored checkpoints checked.
    pub checkpoints_checked: u64,
    /// The problems found (at most [`MAX_REPORTED_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// How many problems were found in all.
    pub problem_count: u64,
}

impl VerifyReport {
    /// `true` when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn add(&mut self, location: Location, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem { location, message });
        }
    }
}

/// The right edge of a tree being rebuilt leaf by leaf: the roots of its maximal complete
/// subtrees, left to right (a compact range from leaf 0).
#[derive(Debug, Clone, Default)]
struct Frontier {
    size: u64,
    stack: Vec<Hash>,
}

impl Frontier {
    /// Adds the next leaf; returns the hashes a log stores for it (leaf, then completed nodes).
    fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let mut out = vec![leaf];
        let mut h = leaf;
        for _ in 0..self.size.trailing_ones() {
            match self.stack.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break,
            }
            out.push(h);
        }
        self.stack.push(h);
        self.size += 1;
        out
    }

    fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(mut h) = iter.next().copied() else {
            return empty_tree_hash();
        };
        for left in iter {
            h = node_hash(left, &h);
        }
        h
    }
}

/// Records read per storage call by [`verify_log`].
const VERIFY_CHUNK: u64 = 1024;

/// Recomputes the whole log from storage and reports every discrepancy with its location:
/// each record is canonical, valid and chained to its predecessor; each stored node hash equals
/// the one recomputed from the records; each stored checkpoint is signed by `verifier`, names
/// its origin, and has the recomputed root at its size; the stored head matches. Storage errors
/// on reading records abort; a failed node read is reported and skipped.
pub async fn verify_log<S: LogStorage>(
    storage: &S,
    verifier: &NoteVerifier,
) -> Result<VerifyReport, LogError<S::Error>> {
    let stored_head = storage.head().await.map_err(LogError::Storage)?;
    let mut report = VerifyReport {
        records: 0,
        root: empty_tree_hash(),
        stored_head,
        hashes_checked: 0,
        checkpoints_checked: 0,
        problems: Vec::new(),
        problem_count: 0,
    };

    // All stored checkpoints by size (normally few; paged to bound each call).
    let mut checkpoints: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = storage
            .list_checkpoints(after, 1000)
            .await
            .map_err(LogError::Storage)?;
        let Some(last) = page.last().map(|c| c.size) else {
            break;
        };
        for c in page {
            if after.is_some_and(|a| c.size <= a) {
                report.add(
                    Location::Checkpoint { size: c.size },
                    "listed out of order".into(),
                );
                continue;
            }
            checkpoints.entry(c.size).or_default().push(c.note);
        }
        if after.is_some_and(|a| last <= a) {
            break;
        }
        after = Some(last);
    }
    if let Some(latest) = storage
        .latest_checkpoint()
        .await
        .map_err(LogError::Storage)?
        && checkpoints.keys().next_back() != Some(&latest.size)
    {
        report.add(
            Location::Checkpoint { size: latest.size },
            "the latest checkpoint is not the largest one listed".into(),
        );
    }

    let check_checkpoints_at = |report: &mut VerifyReport, size: u64, root: &Hash| {
        for note in checkpoints.get(&size).into_iter().flatten() {
            report.checkpoints_checked += 1;
            match SignedCheckpoint::open(note, verifier) {
                Err(e) => report.add(
                    Location::Checkpoint { size },
                    format!("does not verify: {e}"),
                ),
                Ok(s) if s.checkpoint.size != size => report.add(
                    Location::Checkpoint { size },
                    format!(
                        "stored under size {size} but signs size {}",
                        s.checkpoint.size
                    ),
                ),
                Ok(s) if s.checkpoint.root != *root => report.add(
                    Location::Checkpoint { size },
                    format!(
                        "signed root {} but the records give {}",
                        s.checkpoint.root, root
                    ),
                ),
                Ok(_) => {}
            }
        }
        if checkpoints.get(&size).is_some_and(|v| v.len() > 1) {
            report.add(
                Location::Checkpoint { size },
                "more than one checkpoint stored for this size".into(),
            );
        }
    };

    let mut frontier = Frontier::default();
    let mut prev = Hash::ZERO;
    check_checkpoints_at(&mut report, 0, &empty_tree_hash());
    loop {
        let from = frontier.size;
        let records = storage
            .read_records(from, from + VERIFY_CHUNK)
            .await
            .map_err(LogError::Storage)?;
        if records.is_empty() {
            break;
        }
        let to = from + records.len() as u64;
        let first_slot = merkle::stored_hash_count(from);
        let slots: Vec<u64> = (first_slot..merkle::stored_hash_count(to)).collect();
        let stored_hashes = match storage.read_hashes(&slots).await {
            Ok(h) if h.len() == slots.len() => Some(h),
            Ok(h) => {
                report.add(
                    Location::Record { seq: from },
                    format!(
                        "storage returned {} node hashes for records {from}..{to}, expected {}",
                        h.len(),
                        slots.len()
                    ),
                );
                None
            }
            Err(e) => {
                report.add(
                    Location::Record { seq: from },
                    format!("cannot read node hashes for records {from}..{to}: {e}"),
                );
                None
            }
        };
        for stored in &records {
            let seq = frontier.size;
            if stored.seq != seq {
                report.add(
                    Location::Record { seq },
                    format!("storage returned record {} in its place", stored.seq),
                );
            }
            match Record::from_canonical_bytes(&stored.bytes) {
                Err(e) => report.add(Location::Record { seq }, e.to_string()),
                Ok(r) => {
                    if r.seq != seq {
                        report.add(
                            Location::Record { seq },
                            format!("its seq field says {}", r.seq),
                        );
                    }
                    if r.prev != prev {
                        report.add(
                            Location::Record { seq },
                            format!(
                                "prev is {} but the previous record hashes to {}",
                                r.prev, prev
                            ),
                        );
                    }
                }
            }
            prev = Hash::sha256(&stored.bytes);
            let slot = merkle::stored_hash_index(0, seq);
            let expected = frontier.push(leaf_hash(&stored.bytes));
            if let Some(stored_hashes) = &stored_hashes {
                for (i, want) in expected.iter().enumerate() {
                    let index = slot + i as u64;
                    let got = usize::try_from(index - first_slot)
                        .ok()
                        .and_then(|k| stored_hashes.get(k));
                    report.hashes_checked += 1;
                    if got != Some(want) {
                        let (level, n) = merkle::split_stored_hash_index(index).unwrap_or((0, 0));
                        report.add(
                            Location::Node { index, level, n },
                            match got {
                                Some(g) => format!("stored {g}, recomputed {want}"),
                                None => "missing".into(),
                            },
                        );
                    }
                }
            }
            check_checkpoints_at(&mut report, frontier.size, &frontier.root());
        }
        if (records.len() as u64) < VERIFY_CHUNK {
            break;
        }
    }

    report.records = frontier.size;
    report.root = frontier.root();
    for (&size, _) in checkpoints.range(frontier.size + 1..) {
        report.add(
            Location::Checkpoint { size },
            format!("covers {size} records but the log has {}", frontier.size),
        );
    }
    if stored_head.size != frontier.size {
        report.add(
            Location::Head,
            format!(
                "says {} records, storage holds {}",
                stored_head.size, frontier.size
            ),
        );
    } else {
        if stored_head.root != report.root {
            report.add(
                Location::Head,
                format!(
                    "root {} but the records give {}",
                    stored_head.root, report.root
                ),
            );
        }
        if stored_head.last_record_hash != prev {
            report.add(
                Location::Head,
                format!(
                    "last record hash {} but the last record hashes to {}",
                    stored_head.last_record_hash, prev
                ),
            );
        }
    }
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checkpoint::DEFAULT_ORIGIN;
    use crate::memory::{MemoryError, MemoryStorage};
    use crate::proof::verify_proof_file;
    use crate::record::{RecordKind, Timestamp, verify_chain};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll, Waker};

    /// Drives a future whose storage never waits (MemoryStorage) to completion.
    pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::yield_now();
        }
    }

    fn entry(i: u64, key: Option<&str>) -> NewEntry {
        let mut r = NewRecord::new(RecordKind::DocumentSealed, "user:clerk");
        r.time = Timestamp::parse("2025-06-01T00:00:00.000000Z").unwrap();
        r.subject = vec![format!("document:{i}")];
        NewEntry {
            idempotency_key: key.map(str::to_owned),
            record: r,
        }
    }

    fn filled(n: u64) -> Log<MemoryStorage> {
        let log = Log::new(MemoryStorage::new());
        for chunk in (0..n).collect::<Vec<_>>().chunks(7) {
            block_on(log.append(chunk.iter().map(|i| entry(*i, None)).collect())).unwrap();
        }
        log
    }

    /// Every future of `Log` is `Send` for any storage, so a tokio server can spawn them.
    #[allow(dead_code)]
    fn futures_are_send<S: LogStorage>(log: &Log<S>, signer: &NoteSigner, v: &NoteVerifier) {
        fn send<T: Send>(_: T) {}
        send(log.append(Vec::new()));
        send(log.checkpoint(signer));
        send(log.prove(0, None, v));
        send(log.inclusion_proof(0, 1));
        send(log.consistency_proof(0, 1));
        send(log.record(0));
        send(verify_log(log.storage(), v));
    }

    #[test]
    fn append_builds_a_chained_tree() {
        let log = filled(50);
        let head = block_on(log.head()).unwrap();
        assert_eq!(head.size, 50);
        assert_eq!(head.root, block_on(log.root_at(50)).unwrap());
        assert_eq!(
            log.storage().hash_count() as u64,
            merkle::stored_hash_count(50)
        );
        let records: Vec<Record> = (0..50)
            .map(|s| block_on(log.record(s)).unwrap().unwrap())
            .collect();
        verify_chain(&records).unwrap();
        assert_eq!(head.last_record_hash, records[49].hash().unwrap());
        assert_eq!(block_on(log.record(50)).unwrap(), None);
        for (i, r) in records.iter().enumerate() {
            let p = block_on(log.inclusion_proof(i as u64, 50)).unwrap();
            merkle::verify_inclusion(i as u64, 50, &r.leaf_hash().unwrap(), &p, &head.root)
                .unwrap();
        }
        let old = block_on(log.root_at(17)).unwrap();
        let p = block_on(log.consistency_proof(17, 50)).unwrap();
        merkle::verify_consistency(17, 50, &old, &head.root, &p).unwrap();
    }

    #[test]
    fn idempotency_keys_make_retries_no_ops() {
        let log = filled(3);
        let first = block_on(log.append(vec![
            entry(10, Some("req-1")),
            entry(11, None),
            entry(12, Some("req-2")),
        ]))
        .unwrap();
        assert_eq!(
            first
                .iter()
                .map(|r| (r.seq, r.duplicate))
                .collect::<Vec<_>>(),
            [(3, false), (4, false), (5, false)]
        );
        // The retry appends only the entry without a key.
        let retry = block_on(log.append(vec![
            entry(10, Some("req-1")),
            entry(11, None),
            entry(12, Some("req-2")),
        ]))
        .unwrap();
        assert_eq!(
            retry
                .iter()
                .map(|r| (r.seq, r.duplicate))
                .collect::<Vec<_>>(),
            [(3, true), (6, false), (5, true)]
        );
        assert_eq!(retry[0].leaf_hash, first[0].leaf_hash);
        // A key repeated within one call appends once.
        let twice =
            block_on(log.append(vec![entry(20, Some("req-3")), entry(21, Some("req-3"))])).unwrap();
        assert_eq!(
            twice
                .iter()
                .map(|r| (r.seq, r.duplicate))
                .collect::<Vec<_>>(),
            [(7, false), (7, true)]
        );
        assert_eq!(block_on(log.head()).unwrap().size, 8);
        // Bad keys and bad entries write nothing.
        assert!(matches!(
            block_on(log.append(vec![entry(1, Some(""))])),
            Err(LogError::InvalidIdempotencyKey)
        ));
        let mut bad = entry(1, None);
        bad.record.actor.clear();
        assert!(matches!(
            block_on(log.append(vec![entry(0, None), bad])),
            Err(LogError::InvalidEntry { position: 1, .. })
        ));
        assert_eq!(block_on(log.head()).unwrap().size, 8);
        assert!(block_on(log.append(Vec::new())).unwrap().is_empty());
    }

    /// A storage wrapper on which another writer appends just before our first append, as a
    /// second process sharing the database would.
    struct Racing {
        inner: Arc<MemoryStorage>,
        raced: AtomicBool,
    }

    impl LogStorage for Racing {
        type Error = MemoryError;
        async fn head(&self) -> Result<LogHead, MemoryError> {
            self.inner.head().await
        }
        async fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MemoryError> {
            LogStorage::read_hashes(&*self.inner, indexes).await
        }
        async fn find_idempotency_keys(
            &self,
            keys: &[String],
        ) -> Result<Vec<Option<u64>>, MemoryError> {
            self.inner.find_idempotency_keys(keys).await
        }
        async fn append(&self, batch: &AppendBatch) -> Result<AppendOutcome, MemoryError> {
            if !self.raced.swap(true, Ordering::SeqCst) {
                let other = Log::new(self.inner.clone());
                other
                    .append(vec![entry(999, Some("theirs"))])
                    .await
                    .map_err(|_| MemoryError::Poisoned)?;
            }
            self.inner.append(batch).await
        }
        async fn read_records(&self, from: u64, to: u64) -> Result<Vec<StoredRecord>, MemoryError> {
            self.inner.read_records(from, to).await
        }
        async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, MemoryError> {
            self.inner.latest_checkpoint().await
        }
        async fn swap_checkpoint(
            &self,
            expected: Option<u64>,
            new: &StoredCheckpoint,
        ) -> Result<bool, MemoryError> {
            self.inner.swap_checkpoint(expected, new).await
        }
        async fn list_checkpoints(
            &self,
            after: Option<u64>,
            limit: usize,
        ) -> Result<Vec<StoredCheckpoint>, MemoryError> {
            self.inner.list_checkpoints(after, limit).await
        }
    }

    #[test]
    fn a_lost_race_is_retried_on_the_new_head() {
        let shared = Arc::new(MemoryStorage::new());
        block_on(Log::new(shared.clone()).append(vec![entry(0, None)])).unwrap();
        let racing = Log::new(Racing {
            inner: shared.clone(),
            raced: AtomicBool::new(false),
        });
        let receipts = block_on(racing.append(vec![entry(1, Some("mine"))])).unwrap();
        assert_eq!(
            receipts[0].seq, 2,
            "appended after the other writer's record"
        );
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let report = block_on(verify_log(&shared, &signer.verifier())).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.records, 3);
    }

    #[test]
    fn concurrent_threads_produce_one_consistent_log() {
        let shared = Arc::new(MemoryStorage::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let storage = shared.clone();
                std::thread::spawn(move || {
                    let log = Log::new(storage);
                    let mut seqs = Vec::new();
                    for i in 0..25 {
                        let key = format!("t{t}-{i}");
                        // Losing MAX_ATTEMPTS races in a row is a documented outcome (the
                        // caller retries); on a loaded machine four threads can do that.
                        let mut tries = 0;
                        let r = loop {
                            match block_on(log.append(vec![entry(i, Some(&key)), entry(i, None)])) {
                                Err(LogError::Contention(_)) if tries < 100 => {
                                    tries += 1;
                                    std::thread::yield_now();
                                }
                                other => break other.unwrap(),
                            }
                        };
                        seqs.extend(r.iter().map(|r| r.seq));
                    }
                    seqs
                })
            })
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let report = block_on(verify_log(&shared, &signer.verifier())).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }

    #[test]
    fn checkpoints_grow_consistently() {
        let log = filled(10);
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let c1 = block_on(log.checkpoint(&signer)).unwrap();
        assert_eq!(c1.checkpoint.size, 10);
        assert_eq!(
            block_on(log.checkpoint(&signer)).unwrap(),
            c1,
            "unchanged tree: same checkpoint"
        );
        block_on(log.append(vec![entry(10, None), entry(11, None)])).unwrap();
        let c2 = block_on(log.checkpoint(&signer)).unwrap();
        assert_eq!(c2.checkpoint.size, 12);
        assert_ne!(c2.note, c1.note);
        let listed = block_on(log.storage().list_checkpoints(None, 10)).unwrap();
        assert_eq!(listed.iter().map(|c| c.size).collect::<Vec<_>>(), [10, 12]);
        let report = block_on(verify_log(log.storage(), &signer.verifier())).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.checkpoints_checked, 2);
    }

    #[test]
    fn refuses_to_sign_a_rewritten_history() {
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let honest = filled(8);
        let signed = block_on(honest.checkpoint(&signer)).unwrap();

        // Another history of 9 records, in storage that carries the honest checkpoint.
        let forked = Log::new(MemoryStorage::new());
        for i in 100..109 {
            block_on(forked.append(vec![entry(i, None)])).unwrap();
        }
        forked
            .storage()
            .insert_checkpoint_unchecked(StoredCheckpoint {
                size: 8,
                note: signed.note.clone(),
            });
        assert!(matches!(
            block_on(forked.checkpoint(&signer)),
            Err(LogError::Inconsistent(_))
        ));

        // A log that lost records cannot be signed either.
        let short = filled(5);
        short
            .storage()
            .insert_checkpoint_unchecked(StoredCheckpoint {
                size: 8,
                note: signed.note,
            });
        assert!(matches!(
            block_on(short.checkpoint(&signer)),
            Err(LogError::Inconsistent(_))
        ));

        // A head that does not match the stored nodes is reported, not signed.
        let tampered = filled(6);
        let mut head = block_on(tampered.head()).unwrap();
        head.root = Hash([3; 32]);
        tampered.storage().set_head_unchecked(head);
        assert!(matches!(
            block_on(tampered.checkpoint(&signer)),
            Err(LogError::Corrupt(_))
        ));
    }

    #[test]
    fn sign_checkpoint_checks_consistency() {
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let log = filled(20);
        let r7 = block_on(log.root_at(7)).unwrap();
        let r20 = block_on(log.root_at(20)).unwrap();
        let prev = Checkpoint::new(DEFAULT_ORIGIN, 7, r7);
        let next = Checkpoint::new(DEFAULT_ORIGIN, 20, r20);
        let proof = block_on(log.consistency_proof(7, 20)).unwrap();
        sign_checkpoint(Some(&prev), &next, &proof, &signer).unwrap();
        sign_checkpoint(None, &prev, &[], &signer).unwrap();
        let mut bad = proof.clone();
        bad[0].0[0] ^= 1;
        assert!(matches!(
            sign_checkpoint(Some(&prev), &next, &bad, &signer),
            Err(CheckpointRefusal::NotConsistent { .. })
        ));
        assert!(matches!(
            sign_checkpoint(Some(&next), &prev, &[], &signer),
            Err(CheckpointRefusal::Shrinks { .. })
        ));
        let elsewhere = Checkpoint::new("other.example/log", 20, r20);
        assert!(matches!(
            sign_checkpoint(Some(&prev), &elsewhere, &proof, &signer),
            Err(CheckpointRefusal::OriginChanged { .. })
        ));
        let same_size_other_root = Checkpoint::new(DEFAULT_ORIGIN, 7, r20);
        assert!(sign_checkpoint(Some(&prev), &same_size_other_root, &[], &signer).is_err());
    }

    #[test]
    fn proofs_from_the_log_verify_offline() {
        let log = filled(30);
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let v = signer.verifier();
        assert!(matches!(
            block_on(log.prove(3, None, &v)),
            Err(LogError::NotProvable(_))
        ));
        block_on(log.checkpoint(&signer)).unwrap();
        block_on(log.append(vec![entry(30, None)])).unwrap();
        block_on(log.checkpoint(&signer)).unwrap();
        for seq in [0, 1, 17, 29, 30] {
            let p = block_on(log.prove(seq, None, &v)).unwrap();
            let ok = verify_proof_file(p.to_text().as_bytes(), &v, None).unwrap();
            assert_eq!((ok.index, ok.checkpoint.size), (seq, 31));
        }
        let p = block_on(log.prove(29, Some(30), &v)).unwrap();
        assert_eq!(
            verify_proof_file(p.to_text().as_bytes(), &v, None)
                .unwrap()
                .checkpoint
                .size,
            30
        );
        assert!(matches!(
            block_on(log.prove(30, Some(30), &v)),
            Err(LogError::NotProvable(_))
        ));
        assert!(matches!(
            block_on(log.prove(1, Some(25), &v)),
            Err(LogError::NotProvable(_))
        ));
    }

    #[test]
    fn verify_log_reports_what_and_where() {
        let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let v = signer.verifier();
        let log = filled(40);
        block_on(log.checkpoint(&signer)).unwrap();
        let clean = block_on(verify_log(log.storage(), &v)).unwrap();
        assert!(clean.is_ok(), "{:?}", clean.problems);
        assert_eq!(
            (
                clean.records,
                clean.hashes_checked,
                clean.checkpoints_checked
            ),
            (40, merkle::stored_hash_count(40), 1)
        );

        // A rewritten record: its own leaf node and the next record's prev are wrong.
        let mut r = block_on(log.record(12)).unwrap().unwrap();
        r.actor = "user:mallory".into();
        assert!(
            log.storage()
                .corrupt_record(12, r.canonical_bytes().unwrap())
        );
        let report = block_on(verify_log(log.storage(), &v)).unwrap();
        let places: Vec<String> = report
            .problems
            .iter()
            .map(|p| p.location.to_string())
            .collect();
        assert!(
            places.contains(&format!(
                "node {} (level 0, #12)",
                merkle::stored_hash_index(0, 12)
            )),
            "{places:?}"
        );
        assert!(places.contains(&"record 13".to_string()), "{places:?}");
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.location == Location::Checkpoint { size: 40 }),
            "{places:?}"
        );
        assert!(report.problems.iter().any(|p| p.location == Location::Head));

        // A single damaged interior node is reported alone, at its slot.
        let log = filled(40);
        let slot = merkle::stored_hash_index(3, 2);
        assert!(log.storage().corrupt_hash(slot, Hash([0xaa; 32])));
        let report = block_on(verify_log(log.storage(), &v)).unwrap();
        assert_eq!(report.problem_count, 1, "{:?}", report.problems);
        assert_eq!(
            report.problems[0].location,
            Location::Node {
                index: slot,
                level: 3,
                n: 2
            }
        );

        // Non-canonical bytes, a forged checkpoint, and one beyond the end.
        let log = filled(10);
        let pretty =
            serde_json::to_vec_pretty(&block_on(log.record(4)).unwrap().unwrap().to_json_value())
                .unwrap();
        assert!(log.storage().corrupt_record(4, pretty));
        let (other, _) = NoteSigner::generate(DEFAULT_ORIGIN).unwrap();
        let forged = Checkpoint::new(DEFAULT_ORIGIN, 3, Hash([1; 32]))
            .sign(&other)
            .unwrap();
        log.storage().insert_checkpoint_unchecked(StoredCheckpoint {
            size: 3,
            note: forged.note,
        });
        let beyond = Checkpoint::new(DEFAULT_ORIGIN, 11, Hash([1; 32]))
            .sign(&signer)
            .unwrap();
        log.storage().insert_checkpoint_unchecked(StoredCheckpoint {
            size: 11,
            note: beyond.note,
        });
        let report = block_on(verify_log(log.storage(), &v)).unwrap();
        let text: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|p| p.starts_with("record 4: record bytes are not in RFC 8785 canonical form")), "{text:?}");
        assert!(
            text.iter()
                .any(|p| p.starts_with("checkpoint of size 3: does not verify")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|p| p
                    .starts_with("checkpoint of size 11: covers 11 records but the log has 10")),
            "{text:?}"
        );
    }
}
