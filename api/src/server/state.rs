//! The state every handler receives (`State<AppState>`): configuration, the open archive, the
//! log key, trust anchors, metrics and the background jobs.

use std::sync::{Arc, Mutex};

use chop_archive::note::NoteSigner;
use tokio::task::JoinSet;

use super::config::Config;
use super::metrics::Metrics;
use crate::archive::Archive;
use crate::registry::Registry;
use crate::store::Store;

/// Shared, cheaply clonable server state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    public_url: String,
    archive: Arc<Archive>,
    registry: Arc<Registry>,
    signer: Arc<NoteSigner>,
    trust_anchors: Arc<Vec<Vec<u8>>>,
    metrics: Metrics,
    jobs: Mutex<JoinSet<()>>,
    verify_slots: tokio::sync::Semaphore,
}

impl AppState {
    /// The state of a server whose archive is open.
    pub fn new(
        config: Config,
        public_url: String,
        archive: Arc<Archive>,
        registry: Arc<Registry>,
        signer: NoteSigner,
        trust_anchors: Vec<Vec<u8>>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config,
                public_url,
                archive,
                registry,
                signer: Arc::new(signer),
                trust_anchors: Arc::new(trust_anchors),
                metrics: Metrics::default(),
                jobs: Mutex::new(JoinSet::new()),
                verify_slots: tokio::sync::Semaphore::new(
                    4 * std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The URL clients reach this server at, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The archive.
    pub fn archive(&self) -> &Arc<Archive> {
        &self.inner.archive
    }

    /// The registry: organisations, seals, e-licences.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The archive's database.
    pub fn store(&self) -> &Store {
        self.inner.archive.store()
    }

    /// The log key (signs checkpoints).
    pub fn signer(&self) -> &Arc<NoteSigner> {
        &self.inner.signer
    }

    /// Trust anchors (DER) for verification.
    pub fn trust_anchors(&self) -> &Arc<Vec<Vec<u8>>> {
        &self.inner.trust_anchors
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Bounds the verifications running at once (CPU-bound, on blocking threads) to four per
    /// core; further requests wait for a slot.
    pub fn verify_slots(&self) -> &tokio::sync::Semaphore {
        &self.inner.verify_slots
    }

    /// Runs `job` in the background; graceful shutdown waits for it.
    pub fn spawn_job(&self, job: impl std::future::Future<Output = ()> + Send + 'static) {
        match self.inner.jobs.lock() {
            Ok(mut set) => {
                // Reap finished jobs so the set does not grow without bound.
                while set.try_join_next().is_some() {}
                set.spawn(job);
            }
            Err(_) => {
                tokio::spawn(job);
            }
        }
    }

    /// Waits for every background job to finish.
    pub async fn join_jobs(&self) {
        let mut set = match self.inner.jobs.lock() {
            Ok(mut set) => std::mem::take(&mut *set),
            Err(_) => return,
        };
        while set.join_next().await.is_some() {}
    }
}
