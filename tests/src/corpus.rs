//! The shared interop corpus (`../shared/corpus/MANIFEST.tsv` next to the checkout), read in
//! place: tests never copy it into the repository.

use std::path::{Path, PathBuf};

/// One line of `MANIFEST.tsv`: a corpus file and what must happen to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name inside the corpus directory.
    pub file: String,
    /// `unsigned`, `signed`, `malformed` or `tampered`.
    pub category: String,
    /// Free text starting with the expectation: `sealable …`, `refuse …`, `valid …`.
    pub expectation: String,
}

impl Entry {
    /// Absolute path of the file.
    pub fn path(&self) -> PathBuf {
        dir().join(&self.file)
    }

    /// Whether Chop must seal it (expectation starts with "sealable", or says
    /// "sealable again" for an already signed file).
    pub fn sealable(&self) -> bool {
        let e = self.expectation.to_ascii_lowercase();
        (e.starts_with("sealable") || e.contains("sealable again") || e.contains(": sealable"))
            && !e.contains("must be refused")
    }

    /// Whether Chop must refuse to seal it (expectation "refuse…", category "malformed", or
    /// "sealing must be refused" as for DocMDP P=1).
    pub fn refused(&self) -> bool {
        let e = self.expectation.to_ascii_lowercase();
        e.starts_with("refuse") || self.category == "malformed" || e.contains("must be refused")
    }
}

/// The corpus directory: `$CHOP_CORPUS`, else `../shared/corpus` next to the workspace root.
pub fn dir() -> PathBuf {
    match std::env::var_os("CHOP_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
    }
}

/// Whether the corpus is present. Without it: a failure in CI, a LOUD skip elsewhere.
pub fn available() -> bool {
    let manifest = dir().join("MANIFEST.tsv");
    if manifest.is_file() {
        return true;
    }
    if crate::in_ci() {
        panic!(
            "the interop corpus is missing ({} not found) and CI=true: interop tests must run in CI",
            manifest.display()
        );
    }
    crate::loud_skip(&format!(
        "interop corpus not found at {} (set CHOP_CORPUS)",
        manifest.display()
    ));
    false
}

/// Every entry of `MANIFEST.tsv` (header skipped).
pub fn entries() -> Vec<Entry> {
    let path = dir().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_manifest(&text)
}

/// Parse the tab-separated manifest: `file <TAB> category <TAB> expectation`, first line a header.
pub fn parse_manifest(text: &str) -> Vec<Entry> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.splitn(3, '\t');
            let mut next = || cols.next().unwrap_or("").trim().to_owned();
            Entry {
                file: next(),
                category: next(),
                expectation: next(),
            }
        })
        .collect()
}

/// The corpus entry for `file`, panicking if the manifest does not list it.
pub fn entry(file: &str) -> Entry {
    entries()
        .into_iter()
        .find(|e| e.file == file)
        .unwrap_or_else(|| panic!("{file} is not in the corpus manifest"))
}

/// Absolute path of a corpus file (or of a file under `pki/`).
pub fn path(file: &str) -> PathBuf {
    dir().join(file)
}

/// The foreign test PKI's root certificate, trust anchor for the corpus's earlier signatures.
pub fn foreign_root() -> PathBuf {
    dir().join("pki/root.pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_classify_like_the_corpus_says() {
        let m = "file\tcategory\texpectation\n\
                 plain.pdf\tunsigned\tsealable\n\
                 x.pdf\tsigned\tvalid when pki/root.pem is trusted; sealable again, first signature stays valid\n\
                 c2.pdf\tsigned\tcertified, P=2: sealable, certification stays valid\n\
                 c1.pdf\tsigned\tcertified, P=1: sealing must be refused with a clear error\n\
                 e.pdf\tunsigned\trefuse with a clear error (encrypted)\n\
                 t.pdf\tmalformed\trefuse with a clear error\n\
                 r.pdf\tsigned\tvalid when pki/root.pem is trusted (RSA)\n";
        let e = parse_manifest(m);
        let sealable: Vec<_> = e
            .iter()
            .filter(|e| e.sealable())
            .map(|e| &e.file[..])
            .collect();
        let refused: Vec<_> = e
            .iter()
            .filter(|e| e.refused())
            .map(|e| &e.file[..])
            .collect();
        assert_eq!(sealable, ["plain.pdf", "x.pdf", "c2.pdf"]);
        assert_eq!(refused, ["c1.pdf", "e.pdf", "t.pdf"]);
    }
}
