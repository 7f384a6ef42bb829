//! The log key: the Ed25519 key that signs the archive's checkpoints (C2SP signed-note), kept
//! as PKCS#8 (RFC 8410, PEM "PRIVATE KEY") in `<data dir>/keys/log.key`, mode 0600, generated
//! on first use. Its note key name is the log's origin.
//!
//! Creation is race-free across processes: the key is written to a temporary file, fsynced,
//! and hard-linked to `log.key`, which fails if another process got there first (then its key
//! is used).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chop_archive::note::NoteSigner;
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

use super::documents::{create_dirs_durably, sync_dir};

/// PEM label of the key file.
const PEM_TAG: &str = "PRIVATE KEY";

/// Why the log key cannot be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum LogKeyError {
    /// Reading or writing the key file failed.
    #[error("log key {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not an Ed25519 PKCS#8 key, or the origin is not a valid key name.
    #[error("log key {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Where the log key of a data folder lives.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("log.key")
}

/// Loads the log key named `origin`, generating and storing it first if there is none.
/// Returns the signer and whether this call created the key.
pub fn load_or_create(data_dir: &Path, origin: &str) -> Result<(NoteSigner, bool), LogKeyError> {
    let path = key_path(data_dir);
    match fs::read(&path) {
        Ok(bytes) => return Ok((parse(&path, &bytes, origin)?, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(LogKeyError::Io { path, source }),
    }
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LogKeyError::Io { path, source }
    };
    let dir = path.parent().unwrap_or(data_dir).to_path_buf();
    create_dirs_durably(&dir).map_err(io_err(&dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
    }
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| LogKeyError::Invalid {
            path: path.clone(),
            message: "cannot generate an Ed25519 key".into(),
        })?;
    let signer =
        NoteSigner::from_pkcs8(origin, pkcs8.as_ref()).map_err(|e| LogKeyError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let text = pem::encode(&pem::Pem::new(PEM_TAG, pkcs8.as_ref().to_vec()));
    // NamedTempFile creates the file 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".log.key-")
        .tempfile_in(&dir)
        .map_err(io_err(&dir))?;
    tmp.write_all(text.as_bytes()).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    match fs::hard_link(tmp.path(), &path) {
        Ok(()) => {
            drop(tmp);
            sync_dir(&dir).map_err(io_err(&dir))?;
            Ok((signer, true))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            drop(tmp);
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            Ok((parse(&path, &bytes, origin)?, false))
        }
        Err(source) => Err(LogKeyError::Io { path, source }),
    }
}

/// Loads the log key named `origin`; `None` if there is none yet.
pub fn load(data_dir: &Path, origin: &str) -> Result<Option<NoteSigner>, LogKeyError> {
    let path = key_path(data_dir);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(parse(&path, &bytes, origin)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LogKeyError::Io { path, source }),
    }
}

fn parse(path: &Path, bytes: &[u8], origin: &str) -> Result<NoteSigner, LogKeyError> {
    let invalid = |message: String| LogKeyError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let pem = pem::parse(bytes).map_err(|e| invalid(format!("not a PEM file: {e}")))?;
    if pem.tag() != PEM_TAG {
        return Err(invalid(format!(
            "expected a PEM \"{PEM_TAG}\", found \"{}\"",
            pem.tag()
        )));
    }
    NoteSigner::from_pkcs8(origin, pem.contents()).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create(dir.path(), "chop.local/archive").unwrap();
        assert!(created);
        let (again, created) = load_or_create(dir.path(), "chop.local/archive").unwrap();
        assert!(!created);
        assert_eq!(first.verifier().key_string(), again.verifier().key_string());
        let text = fs::read_to_string(key_path(dir.path())).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Only log.key is left in keys/.
        assert_eq!(fs::read_dir(dir.path().join("keys")).unwrap().count(), 1);
    }

    #[test]
    fn racing_processes_end_up_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        load_or_create(dir.path(), "chop.local/archive")
                            .unwrap()
                            .0
                            .verifier()
                            .key_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("keys")).unwrap();
        fs::write(
            key_path(dir.path()),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            load_or_create(dir.path(), "chop.local/archive"),
            Err(LogKeyError::Invalid { .. })
        ));
    }
}
