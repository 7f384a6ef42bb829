//! BagIt 1.0 (RFC 8493) text files: `bagit.txt` (§2.1.1), `bag-info.txt` (§2.2.2), payload and
//! tag manifests (§2.1.3, §2.2.1), `Payload-Oxum` and `Bag-Size` (§2.2.2), and the hashing
//! that fills the manifests while files stream past.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use ring::digest::{Context, SHA256, SHA512};

/// The `bagit.txt` declaration (RFC 8493 §2.1.1), byte for byte.
pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// SHA-256 and SHA-512 of one file plus its size, computed in one pass.
#[derive(Clone)]
pub struct FileDigests {
    sha256: Context,
    sha512: Context,
    size: u64,
}

impl Default for FileDigests {
    fn default() -> Self {
        FileDigests::new()
    }
}

impl std::fmt::Debug for FileDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileDigests({} bytes)", self.size)
    }
}

impl FileDigests {
    /// Empty digests.
    pub fn new() -> FileDigests {
        FileDigests {
            sha256: Context::new(&SHA256),
            sha512: Context::new(&SHA512),
            size: 0,
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.sha512.update(data);
        self.size += data.len() as u64;
    }

    /// The lower-case hex SHA-256, SHA-512 and the byte count.
    pub fn finish(self) -> Digested {
        let (sha256, sha512, size) = self.finish_raw();
        Digested {
            sha256: hex::encode(sha256),
            sha512: hex::encode(sha512),
            size,
        }
    }

    /// The raw SHA-256, SHA-512 and the byte count.
    pub fn finish_raw(self) -> ([u8; 32], [u8; 64], u64) {
        let mut a = [0u8; 32];
        let mut b = [0u8; 64];
        a.copy_from_slice(self.sha256.finish().as_ref());
        b.copy_from_slice(self.sha512.finish().as_ref());
        (a, b, self.size)
    }
}

/// The finished digests of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// SHA-512, lower-case hex.
    pub sha512: String,
    /// Size in bytes.
    pub size: u64,
}

/// A writer that digests everything written through it.
#[derive(Debug)]
pub struct DigestingWriter<W> {
    inner: W,
    digests: FileDigests,
}

impl<W: Write> DigestingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        DigestingWriter {
            inner,
            digests: FileDigests::new(),
        }
    }

    /// The inner writer and the digests of what went through.
    pub fn finish(self) -> (W, FileDigests) {
        (self.inner, self.digests)
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digests.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that digests everything read through it.
#[derive(Debug)]
pub struct DigestingReader<R> {
    inner: R,
    digests: FileDigests,
}

impl<R: Read> DigestingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        DigestingReader {
            inner,
            digests: FileDigests::new(),
        }
    }

    /// Reads what is left (so the digests cover the whole file) and returns them.
    pub fn finish(mut self) -> io::Result<Digested> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.digests.finish())
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digests.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Percent-encodes CR, LF and `%` in a manifest path (RFC 8493 §2.1.3).
pub fn encode_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Decodes a manifest path (the inverse of [`encode_path`]); `None` on a bad escape.
pub fn decode_path(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(rest.get(..i)?);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code.to_ascii_uppercase().as_str() {
            "25" => '%',
            "0D" => '\r',
            "0A" => '\n',
            _ => return None,
        });
        rest = rest.get(i + 3..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// Renders a manifest (RFC 8493 §2.1.3): one `checksum  path` line per file, sorted by path.
pub fn render_manifest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut lines: Vec<(&str, &str)> = entries.into_iter().collect();
    lines.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(lines.len() * 100);
    for (path, sum) in lines {
        out.push_str(sum);
        out.push_str("  ");
        out.push_str(&encode_path(path));
        out.push('\n');
    }
    out
}

/// Parses a manifest into path → checksum; errors name the line (1-based).
pub fn parse_manifest(text: &str, hex_len: usize) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (sum, path) = line
            .split_once([' ', '\t'])
            .ok_or_else(|| format!("line {n}: expected `checksum path`"))?;
        let path = path.trim_start_matches([' ', '\t']);
        if sum.len() != hex_len || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {n}: checksum is not {hex_len} hex digits"));
        }
        let path = decode_path(path).ok_or_else(|| format!("line {n}: bad percent-escape"))?;
        if out.insert(path.clone(), sum.to_ascii_lowercase()).is_some() {
            return Err(format!("line {n}: {path} is listed twice"));
        }
    }
    Ok(out)
}

/// `bag-info.txt` labels in order (RFC 8493 §2.2.2): `Label: value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BagInfo {
    /// The label–value pairs, in file order (labels may repeat).
    pub entries: Vec<(String, String)>,
}

impl BagInfo {
    /// Adds a label (values must be one line; line breaks become spaces).
    pub fn push(&mut self, label: &str, value: impl Into<String>) {
        let value: String = value.into().replace(['\r', '\n'], " ");
        self.entries.push((label.to_owned(), value));
    }

    /// The first value of `label`.
    pub fn get(&self, label: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(label))
            .map(|(_, v)| v.as_str())
    }

    /// The file text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (l, v) in &self.entries {
            out.push_str(l);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out
    }

    /// Parses the file, joining continuation lines (leading whitespace) to the previous value.
    pub fn parse(text: &str) -> Result<BagInfo, String> {
        let mut info = BagInfo::default();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let last = info
                    .entries
                    .last_mut()
                    .ok_or_else(|| format!("line {}: continuation without a label", i + 1))?;
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (label, value) = line
                .split_once(':')
                .ok_or_else(|| format!("line {}: expected `Label: value`", i + 1))?;
            info.entries
                .push((label.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(info)
    }
}

/// `Payload-Oxum` (RFC 8493 §2.2.2): `octets.streams`.
pub fn payload_oxum(octets: u64, files: u64) -> String {
    format!("{octets}.{files}")
}

/// `Bag-Size`: an approximate human size such as `12.3 MB` (decimal units).
pub fn bag_size(octets: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = octets as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{octets} bytes")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("TB"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_answers() {
        let mut d = FileDigests::new();
        d.update(b"ab");
        d.update(b"c");
        let out = d.finish();
        assert_eq!(
            out.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(out.sha512.starts_with("ddaf35a193617aba"));
        assert_eq!(out.size, 3);
    }

    #[test]
    fn manifest_round_trip_with_escapes() {
        let text = render_manifest([("data/b%.txt", "00ff"), ("data/a\nb", "11ee")]);
        assert_eq!(text, "11ee  data/a%0Ab\n00ff  data/b%25.txt\n");
        let parsed = parse_manifest(&text, 4).unwrap();
        assert_eq!(parsed.get("data/a\nb").map(String::as_str), Some("11ee"));
        assert_eq!(parsed.get("data/b%.txt").map(String::as_str), Some("00ff"));
        assert!(parse_manifest("zz  data/x\n", 2).is_err());
        assert!(
            parse_manifest("00  data/x\n00  data/x\n", 2)
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn bag_info_round_trip_and_sizes() {
        let mut info = BagInfo::default();
        info.push("Source-Organization", "某某市行政审批局\n");
        info.push("Payload-Oxum", payload_oxum(1234, 5));
        let text = info.render();
        assert_eq!(
            text,
            "Source-Organization: 某某市行政审批局 \nPayload-Oxum: 1234.5\n"
        );
        let back = BagInfo::parse("A: 1\n  more\nB: x:y\n").unwrap();
        assert_eq!(back.get("a"), Some("1 more"));
        assert_eq!(back.get("B"), Some("x:y"));
        assert_eq!(bag_size(999), "999 bytes");
        assert_eq!(bag_size(12_345_678), "12.3 MB");
    }
}
