//! Group commit for the archive log (issue 4 §4): concurrent appenders enqueue their entries
//! into a channel; one writer task takes everything queued, appends it as ONE
//! [`Log::append`] batch — one transaction, one fsync — and answers every waiter only after
//! the commit returned. A job is the unit of atomicity (its entries commit together), and an
//! entry whose idempotency key is already in the log gets the first append's receipt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chop_archive::log::{AppendReceipt, Log, LogError, MAX_IDEMPOTENCY_KEY_BYTES, NewEntry};
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
    while let Some(first) = rx.recv().await {
        let mut count = first.entries.len();
        let mut jobs = vec![first];
        while count < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.entries.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&log, jobs, &stats).await;
    }
}

async fn commit(log: &Log<Store>, jobs: Vec<Job>, stats: &Stats) {
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
            let r = log.append(entries).await;
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
