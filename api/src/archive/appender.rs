//! Group commit for the archive log (issue 4 §4): concurrent appenders enqueue their entries
//! into a channel; one writer task takes everything queued, appends it as ONE batch — one
//! transaction, one fsync — and answers every waiter only after the commit returned. A job is
//! the unit of atomicity (its entries commit together), and an entry whose idempotency key is
//! already in the log gets the first append's receipt.
//!
//! The writer remembers the head and the right edge of the tree it wrote last ([`Tail`]), so a
//! batch is normally one storage round trip — the transaction — instead of [`Log::append`]'s
//! four (idempotency keys, head, edge hashes, transaction). Storage's compare-and-swap on the
//! head and the unique index on idempotency keys decide whether the shortcut was right; when
//! they refuse the batch nothing was written and it goes through [`Log::append`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chop_archive::Hash;
use chop_archive::log::{
    AppendBatch, AppendOutcome, AppendReceipt, BatchRecord, Log, LogError, LogHead, LogStorage,
    MAX_IDEMPOTENCY_KEY_BYTES, NewEntry,
};
use chop_archive::merkle;
use chop_archive::record::RecordBuilder;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{Store, StoreError};

/// Most entries the writer puts in one transaction.
pub const DEFAULT_MAX_BATCH: usize = 8192;

/// How the writer batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// Most entries per transaction; `1` gives one transaction (one fsync) per append.
    pub max_batch: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// Why an append was not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// Entry `position` of the job cannot be appended (nothing of the job was written).
    #[error("entry {position}: {message}")]
    Invalid {
        /// Index of the entry in the job.
        position: usize,
        /// Why.
        message: String,
    },
    /// The batch holding the job failed; nothing of it was written.
    #[error("{0}")]
    Failed(Arc<LogError<StoreError>>),
    /// The writer task is gone (shutting down).
    #[error("the archive writer has stopped")]
    Closed,
    /// The log returned fewer receipts than entries (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

struct Job {
    entries: Vec<NewEntry>,
    reply: oneshot::Sender<Result<Vec<AppendReceipt>, AppendError>>,
}

/// The handle appenders share; cloning is cheap. Dropping every handle stops the writer after
/// it has answered everything queued.
#[derive(Debug, Clone)]
pub struct Appender {
    jobs: mpsc::UnboundedSender<Job>,
    stats: Arc<Stats>,
}

/// Counters of the writer (for tests and benchmarks).
#[derive(Debug, Default)]
pub struct Stats {
    commits: AtomicU64,
    entries: AtomicU64,
}

impl Stats {
    /// Batches committed so far (each one transaction).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Entries in those batches.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }
}

/// The writer task, to await after the last [`Appender`] is dropped.
#[derive(Debug)]
pub struct Writer(JoinHandle<()>);

impl Writer {
    /// Waits until the writer has answered every queued job and stopped.
    pub async fn finish(self) {
        let _ = self.0.await;
    }
}

impl Appender {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Store, config: GroupCommit) -> (Appender, Writer) {
        let (jobs, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let handle = tokio::spawn(write_loop(
            Log::new(store),
            rx,
            config.max_batch.max(1),
            stats.clone(),
        ));
        (Appender { jobs, stats }, Writer(handle))
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Appends `entries` atomically; returns one receipt per entry once they are durable.
    pub async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<AppendReceipt>, AppendError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { entries, reply })
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }

    /// Appends one entry; returns its receipt once it is durable.
    pub async fn append_one(&self, entry: NewEntry) -> Result<AppendReceipt, AppendError> {
        self.append(vec![entry])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AppendError::Internal("no receipt for one entry".into()))
    }
}

/// The checks [`Log::append`] makes per entry, made before an entry joins a shared batch so
/// that one bad job cannot fail its neighbours.
fn validate(entries: &[NewEntry]) -> Result<(), AppendError> {
    for (position, e) in entries.iter().enumerate() {
        if let Some(k) = &e.idempotency_key
            && (k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_BYTES)
        {
            return Err(AppendError::Invalid {
                position,
                message: "idempotency key must be 1 to 256 bytes".into(),
            });
        }
        e.record.check().map_err(|err| AppendError::Invalid {
            position,
            message: err.to_string(),
        })?;
    }
    Ok(())
}

async fn write_loop(
    log: Log<Store>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
    stats: Arc<Stats>,
) {
    let mut tail = None;
    while let Some(first) = rx.recv().await {
        let mut count = first.entries.len();
        let mut jobs = vec![first];
        // Take what is queued; then let the tasks the last commit woke run once (they are
        // about to enqueue their next appends) and take those too: fuller batches, one fsync.
        let mut yielded = max_batch == 1;
        while count < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.entries.len();
                    jobs.push(job);
                }
                Err(_) if !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        commit(&log, jobs, &stats, &mut tail).await;
    }
}

async fn commit(log: &Log<Store>, jobs: Vec<Job>, stats: &Stats, tail: &mut Option<Tail>) {
    let mut waiters = Vec::with_capacity(jobs.len());
    let mut entries = Vec::new();
    for job in jobs {
        if job.reply.is_closed() {
            // The caller gave up before its append started: nothing to acknowledge.
            continue;
        }
        match validate(&job.entries) {
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
            Ok(()) => {
                waiters.push((job.entries.len(), job.reply));
                entries.extend(job.entries);
            }
        }
    }
    if entries.is_empty() {
        return;
    }
    let result = match log.storage().lock_appends().await {
        Ok(lock) => {
            let r = append_under_lock(log, entries, tail).await;
            lock.release().await;
            r
        }
        Err(e) => Err(LogError::Storage(e)),
    };
    match result {
        Ok(receipts) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .entries
                .fetch_add(receipts.len() as u64, Ordering::Relaxed);
            let mut receipts = receipts.into_iter();
            for (n, reply) in waiters {
                let mine: Vec<AppendReceipt> = receipts.by_ref().take(n).collect();
                let _ = reply.send(if mine.len() == n {
                    Ok(mine)
                } else {
                    Err(AppendError::Internal(format!(
                        "{} receipts for {n} entries",
                        mine.len()
                    )))
                });
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for (_, reply) in waiters {
                let _ = reply.send(Err(AppendError::Failed(e.clone())));
            }
        }
    }
}

/// Appends one batch while holding the cross-process append lock: the one-transaction path
/// when the tail is known (or cheaply re-read), else [`Log::append`].
async fn append_under_lock(
    log: &Log<Store>,
    entries: Vec<NewEntry>,
    tail: &mut Option<Tail>,
) -> Result<Vec<AppendReceipt>, LogError<StoreError>> {
    if tail.is_none() {
        // After start-up or a fallback: one read of the head; the edge hashes are read by the
        // first batch and kept from then on.
        if let Ok(head) = log.storage().head().await {
            *tail = Some(Tail {
                head,
                hashes: HashMap::new(),
            });
        }
    }
    match fast_append(log.storage(), &entries, tail).await {
        Ok(FastPath::Done(receipts)) => Ok(receipts),
        Ok(FastPath::Fallback) => {
            *tail = None;
            log.append(entries).await
        }
        Err(e) => {
            // The transaction's outcome may be unknown (an I/O error at commit): forget the
            // tail, so the next batch re-reads the head.
            *tail = None;
            Err(e)
        }
    }
}

/// What the writer knows of the log after its own last commit: the head and the node hashes
/// around the right edge of the tree, which the next append reads (Go tlog's "hash tiles" for
/// one writer). Trusted only as far as storage's compare-and-swap on the head confirms it: if
/// any other writer (another process, or [`Log::append`] called directly) appended since, the
/// size no longer matches, storage writes nothing, and the writer falls back to
/// [`Log::append`], which re-reads everything.
struct Tail {
    head: LogHead,
    hashes: HashMap<u64, Hash>,
}

/// Why the fast path handed a batch to [`Log::append`].
enum FastPath {
    /// Appended: one receipt per entry.
    Done(Vec<AppendReceipt>),
    /// Not tried or refused (no tail yet, a repeated key, a lost race, a known key): nothing
    /// was written.
    Fallback,
}

/// Appends `entries` in one storage transaction using the tail instead of reading the head,
/// the idempotency keys and the edge hashes back from storage: a key already in the log shows
/// up as a unique-index conflict (nothing written) and the batch then takes the full path,
/// which answers it with the existing record's receipt.
async fn fast_append(
    store: &Store,
    entries: &[NewEntry],
    tail: &mut Option<Tail>,
) -> Result<FastPath, LogError<StoreError>> {
    let Some(t) = tail.take() else {
        return Ok(FastPath::Fallback);
    };
    let mut keys = HashSet::new();
    if entries
        .iter()
        .filter_map(|e| e.idempotency_key.as_deref())
        .any(|k| !keys.insert(k))
    {
        // A key twice in one batch: Log::append answers the second with the first's receipt.
        return Ok(FastPath::Fallback);
    }
    let mut builder = RecordBuilder::resume(t.head.size, t.head.last_record_hash);
    let mut records = Vec::with_capacity(entries.len());
    for (position, e) in entries.iter().enumerate() {
        let encoded = builder
            .build(e.record.clone())
            .map_err(|error| LogError::InvalidEntry { position, error })?;
        records.push(BatchRecord::new(encoded, e.idempotency_key.clone()));
    }
    let leaves: Vec<Hash> = records.iter().map(|r| r.leaf_hash).collect();
    let indexes = merkle::append_batch_indexes(t.head.size, leaves.len() as u64)?;
    let missing: Vec<u64> = indexes
        .iter()
        .copied()
        .filter(|i| !t.hashes.contains_key(i))
        .collect();
    let fetched = if missing.is_empty() {
        Vec::new()
    } else {
        store
            .read_hashes(&missing)
            .await
            .map_err(LogError::Storage)?
    };
    let mut known = t.hashes;
    known.extend(missing.into_iter().zip(fetched));
    let existing: Vec<Hash> = indexes
        .iter()
        .map(|i| {
            known
                .get(i)
                .copied()
                .ok_or_else(|| LogError::Corrupt(format!("node hash {i} is missing")))
        })
        .collect::<Result<_, _>>()?;
    let computed = merkle::append_batch(t.head.size, &leaves, &existing)?;
    let new_head = LogHead {
        size: computed.tree_size,
        root: computed.root,
        last_record_hash: records
            .last()
            .map_or(t.head.last_record_hash, |r| r.record_hash),
    };
    let batch = AppendBatch {
        base_size: t.head.size,
        first_hash_index: computed.first_index,
        hashes: computed.hashes,
        new_head,
        records,
    };
    if store.append(&batch).await.map_err(LogError::Storage)? == AppendOutcome::Conflict {
        return Ok(FastPath::Fallback);
    }
    let receipts = batch
        .records
        .iter()
        .map(|r| AppendReceipt {
            seq: r.seq,
            leaf_hash: r.leaf_hash,
            duplicate: false,
        })
        .collect();
    // Keep what the next append can need: the edge hashes just read and the new ones.
    let mut hashes: HashMap<u64, Hash> = indexes.into_iter().zip(existing).collect();
    hashes.extend((batch.first_hash_index..).zip(batch.hashes.iter().copied()));
    *tail = Some(Tail {
        head: batch.new_head,
        hashes,
    });
    Ok(FastPath::Done(receipts))
}
