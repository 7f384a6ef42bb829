//! Content-addressed document storage: `<data dir>/documents/sha256/ab/cdef….pdf`, named by
//! the SHA-256 of the bytes (the digest an archive record carries). A file is written to a
//! temporary name in its final folder, fsynced, renamed into place and the folder fsynced, so
//! a reader never sees a half-written document and an acknowledged one survives a crash.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chop_archive::Hash;

/// The document store rooted at `<data dir>/documents`.
#[derive(Debug, Clone)]
pub struct DocumentStore {
    root: PathBuf,
}

/// What [`DocumentStore::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentState {
    /// The file is there and hashes to its name.
    Intact,
    /// No file.
    Missing,
    /// A file whose bytes hash to something else.
    Altered,
}

impl DocumentStore {
    /// The store under `data_dir` (nothing is created until the first [`DocumentStore::put`]).
    pub fn new(data_dir: &Path) -> DocumentStore {
        DocumentStore {
            root: data_dir.join("documents"),
        }
    }

    /// The `documents` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the document with this SHA-256 is (or would be) stored.
    pub fn path_of(&self, sha256: &Hash) -> PathBuf {
        let hex = sha256.to_hex();
        let (dir, rest) = hex.split_at(2);
        self.root
            .join("sha256")
            .join(dir)
            .join(format!("{rest}.pdf"))
    }

    /// Stores `bytes` durably under their SHA-256 and returns it with the path. Idempotent: an
    /// intact copy is left alone; a missing or altered one is (re)written.
    pub fn put(&self, bytes: &[u8]) -> io::Result<(Hash, PathBuf)> {
        let sha = Hash::sha256(bytes);
        let path = self.path_of(&sha);
        if self.check(&sha)? == DocumentState::Intact {
            return Ok((sha, path));
        }
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("document path has no folder"))?;
        create_dirs_durably(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".pdf")
            .tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o640))?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        sync_dir(dir)?;
        Ok((sha, path))
    }

    /// Whether the document with this SHA-256 is stored intact.
    pub fn check(&self, sha256: &Hash) -> io::Result<DocumentState> {
        match fs::read(self.path_of(sha256)) {
            Ok(bytes) if Hash::sha256(&bytes) == *sha256 => Ok(DocumentState::Intact),
            Ok(_) => Ok(DocumentState::Altered),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DocumentState::Missing),
            Err(e) => Err(e),
        }
    }
}

/// `mkdir -p`, fsyncing the parent of every folder it creates so the new entries are durable.
pub fn create_dirs_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => sync_dir(Path::new(".")),
    }
}

/// fsync a folder (makes renames and new entries in it durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_named_by_their_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::new(dir.path());
        let (sha, path) = store.put(b"%PDF-1.7 hello").unwrap();
        assert_eq!(sha, Hash::sha256(b"%PDF-1.7 hello"));
        let hex = sha.to_hex();
        let expected = dir
            .path()
            .join("documents/sha256")
            .join(&hex[..2])
            .join(format!("{}.pdf", &hex[2..]));
        assert_eq!(path, expected);
        assert_eq!(fs::read(&path).unwrap(), b"%PDF-1.7 hello");
        assert_eq!(store.check(&sha).unwrap(), DocumentState::Intact);
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn put_is_idempotent_and_repairs_an_altered_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::new(dir.path());
        let (sha, path) = store.put(b"one").unwrap();
        assert_eq!(store.put(b"one").unwrap(), (sha, path.clone()));
        fs::write(&path, b"tampered").unwrap();
        assert_eq!(store.check(&sha).unwrap(), DocumentState::Altered);
        store.put(b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        fs::remove_file(&path).unwrap();
        assert_eq!(store.check(&sha).unwrap(), DocumentState::Missing);
    }
}
