//! The archive as a [`PackageSource`] for retention-package export (`chop archive export` and
//! `POST /v1/archive/exports`), used from a blocking thread: records, hashes and evidence from the
//! database through the runtime handle, documents from the content-addressed store.

use std::path::PathBuf;

use chop_archive::Hash;
use chop_archive::log::{Log, LogStorage, StoredRecord};
use chop_archive::note::NoteSigner;
use chop_archive::package::PackageSource;

use super::documents::DocumentStore;
use crate::store::{Store, StoreError};

/// The archive as a [`PackageSource`].
pub struct ArchiveSource {
    /// The runtime the database reads run on.
    pub handle: tokio::runtime::Handle,
    /// The database.
    pub store: Store,
    /// The documents.
    pub documents: DocumentStore,
    /// The log key (a fresh checkpoint is signed for the package).
    pub signer: std::sync::Arc<NoteSigner>,
}

impl ArchiveSource {
    /// The source over `archive`, reading the database on the current runtime.
    pub fn new(archive: &super::Archive, signer: std::sync::Arc<NoteSigner>) -> ArchiveSource {
        ArchiveSource {
            handle: tokio::runtime::Handle::current(),
            store: archive.store().clone(),
            documents: archive.documents().clone(),
            signer,
        }
    }
}

impl PackageSource for ArchiveSource {
    type Error = SourceError;

    fn records(&mut self, from: u64, to: u64) -> Result<Vec<StoredRecord>, SourceError> {
        Ok(self.handle.block_on(self.store.read_records(from, to))?)
    }

    fn hashes(&mut self, indexes: &[u64]) -> Result<Vec<Hash>, SourceError> {
        Ok(self.handle.block_on(self.store.read_hashes(indexes))?)
    }

    fn document(&mut self, sha256: &Hash) -> Result<Option<Vec<u8>>, SourceError> {
        let path = self.documents.path_of(sha256);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SourceError::Io { path, source }),
        }
    }

    fn evidence(&mut self, sha256: &Hash) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(self
            .handle
            .block_on(self.store.evidence(&sha256.to_hex()))?
            .map(|e| e.body))
    }

    fn latest_checkpoint(&mut self) -> Result<String, SourceError> {
        let log = Log::new(self.store.clone());
        self.handle
            .block_on(log.checkpoint(&self.signer))
            .map(|c| c.note)
            .map_err(|e| SourceError::Log(e.to_string()))
    }
}

/// Why the archive could not be read for an export.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A fresh checkpoint could not be signed.
    #[error("checkpoint: {0}")]
    Log(String),
}
