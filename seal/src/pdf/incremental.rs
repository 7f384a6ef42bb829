//! Writing an incremental update (ISO 32000-2 §7.5.6).
//!
//! The original bytes are copied unchanged; new and changed objects are appended, followed by
//! a cross-reference section of the same kind as the original's last one (a classic table
//! §7.5.4, or a cross-reference stream §7.5.8), a trailer whose `/Prev` points at the original
//! section, `startxref` and `%%EOF`. Earlier signatures keep covering exactly the bytes they
//! covered.

use lopdf::{Object, ObjectId};

use super::serialize::{write_dictionary, write_object};

/// Which kind of cross-reference section to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XrefStyle {
    /// A classic `xref` table and `trailer` dictionary.
    Table,
    /// A cross-reference stream object (PDF 1.5+).
    Stream,
}

impl XrefStyle {
    /// The style of the section at `offset` (the original's `startxref`): a table starts with
    /// the keyword `xref`, anything else is taken for a stream object.
    pub fn detect(data: &[u8], offset: usize) -> Self {
        let at = data.get(offset..).unwrap_or_default();
        let trimmed = at
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        if at[trimmed..].starts_with(b"xref") {
            Self::Table
        } else {
            Self::Stream
        }
    }
}

/// The trailer entries of the update (§7.5.5).
#[derive(Clone, Debug)]
pub struct TrailerInfo {
    /// The document catalog.
    pub root: ObjectId,
    /// `/Info`, copied from the previous trailer when present.
    pub info: Option<Object>,
    /// `/ID`, copied from the previous trailer when present.
    pub id: Option<Object>,
    /// Offset of the previous cross-reference section.
    pub prev: usize,
}

/// An incremental update being written after the original bytes.
pub struct IncrementalUpdate {
    buf: Vec<u8>,
    entries: Vec<(ObjectId, usize)>,
}

impl IncrementalUpdate {
    /// Start an update after `original` (copied unchanged; an end-of-line is appended when the
    /// original does not end with one, so the first object starts on its own line).
    pub fn new(original: &[u8], reserve: usize) -> Self {
        let mut buf = Vec::with_capacity(original.len() + reserve + 1024);
        buf.extend_from_slice(original);
        if !matches!(original.last(), Some(b'\n' | b'\r')) {
            buf.push(b'\n');
        }
        Self {
            buf,
            entries: Vec::new(),
        }
    }

    /// Current length of the output: the offset the next byte will have.
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// Append `obj` as indirect object `id`.
    pub fn add_object(&mut self, id: ObjectId, obj: &Object) {
        self.add_object_with(id, |out| write_object(out, obj));
    }

    /// Append indirect object `id` whose body `write` produces; `write` sees the whole output
    /// buffer, so it can record absolute offsets of what it writes.
    pub fn add_object_with(&mut self, id: ObjectId, write: impl FnOnce(&mut Vec<u8>)) {
        self.entries.push((id, self.buf.len()));
        self.buf
            .extend_from_slice(format!("{} {} obj\n", id.0, id.1).as_bytes());
        write(&mut self.buf);
        self.buf.extend_from_slice(b"\nendobj\n");
    }

    /// Write the cross-reference section, trailer, `startxref` and `%%EOF`; return the file.
    ///
    /// `next_id` is one more than the largest object number in use (the new `/Size`, before
    /// the cross-reference stream takes a number for itself).
    pub fn finish(mut self, style: XrefStyle, trailer: &TrailerInfo, next_id: u32) -> Vec<u8> {
        let mut dict = lopdf::Dictionary::new();
        dict.set("Root", Object::Reference(trailer.root));
        if let Some(info) = &trailer.info {
            dict.set("Info", info.clone());
        }
        if let Some(id) = &trailer.id {
            dict.set("ID", id.clone());
        }
        dict.set("Prev", Object::Integer(trailer.prev as i64));
        let xref_offset = self.buf.len();
        match style {
            XrefStyle::Table => {
                let max = self.entries.iter().map(|(id, _)| id.0).max().unwrap_or(0);
                dict.set("Size", Object::Integer(i64::from(next_id.max(max + 1))));
                self.buf.extend_from_slice(b"xref\n");
                self.entries.sort_by_key(|(id, _)| id.0);
                for run in subsections(&self.entries) {
                    let first = run[0].0.0;
                    self.buf
                        .extend_from_slice(format!("{first} {}\n", run.len()).as_bytes());
                    for ((_, generation), offset) in run {
                        self.buf.extend_from_slice(
                            format!("{offset:010} {generation:05} n \n").as_bytes(),
                        );
                    }
                }
                self.buf.extend_from_slice(b"trailer\n");
                write_dictionary(&mut self.buf, &dict);
                self.buf.push(b'\n');
            }
            XrefStyle::Stream => {
                let max = self.entries.iter().map(|(id, _)| id.0).max().unwrap_or(0);
                let stream_id = next_id.max(max + 1);
                self.entries.push(((stream_id, 0), xref_offset));
                self.entries.sort_by_key(|(id, _)| id.0);
                let w2 = bytes_needed(xref_offset as u64);
                let mut data = Vec::new();
                let mut index = Vec::new();
                for run in subsections(&self.entries) {
                    index.push(Object::Integer(i64::from(run[0].0.0)));
                    index.push(Object::Integer(run.len() as i64));
                    for ((_, generation), offset) in run {
                        data.push(1u8);
                        data.extend_from_slice(&(*offset as u64).to_be_bytes()[8 - w2..]);
                        data.extend_from_slice(&generation.to_be_bytes());
                    }
                }
                dict.set("Type", Object::Name(b"XRef".to_vec()));
                dict.set("Size", Object::Integer(i64::from(stream_id) + 1));
                dict.set("Index", Object::Array(index));
                dict.set(
                    "W",
                    Object::Array(vec![
                        Object::Integer(1),
                        Object::Integer(w2 as i64),
                        Object::Integer(2),
                    ]),
                );
                let stream = lopdf::Stream::new(dict, data).with_compression(false);
                self.buf
                    .extend_from_slice(format!("{stream_id} 0 obj\n").as_bytes());
                write_object(&mut self.buf, &Object::Stream(stream));
                self.buf.extend_from_slice(b"\nendobj\n");
            }
        }
        self.buf
            .extend_from_slice(format!("startxref\n{xref_offset}\n%%EOF\n").as_bytes());
        self.buf
    }

    /// Mutable access to the bytes written so far, for patching placeholders in place
    /// (same length only).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

/// Runs of consecutive object numbers (one xref subsection each).
fn subsections(entries: &[(ObjectId, usize)]) -> Vec<&[(ObjectId, usize)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=entries.len() {
        if i == entries.len() || entries[i].0.0 != entries[i - 1].0.0 + 1 {
            runs.push(&entries[start..i]);
            start = i;
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

fn bytes_needed(v: u64) -> usize {
    (((64 - v.leading_zeros()) as usize).div_ceil(8)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

    fn update(name: &str) -> (Vec<u8>, Vec<u8>) {
        let original = std::fs::read(format!("{CORPUS}/{name}")).unwrap();
        let doc = lopdf::Document::load_mem(&original).unwrap();
        let prev = crate::pdf::revisions::startxref_before(&original, original.len()).unwrap();
        let style = XrefStyle::detect(&original, prev);
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let mut catalog = doc.get_dictionary(root).unwrap().clone();
        catalog.set("ChopTest", Object::Integer(42));
        let mut up = IncrementalUpdate::new(&original, 0);
        up.add_object(root, &Object::Dictionary(catalog));
        let next = doc.max_id + 1;
        up.add_object((next, 0), &Object::Integer(7));
        let out = up.finish(
            style,
            &TrailerInfo {
                root,
                info: doc.trailer.get(b"Info").ok().cloned(),
                id: doc.trailer.get(b"ID").ok().cloned(),
                prev,
            },
            next + 1,
        );
        (original, out)
    }

    #[test]
    fn appends_after_untouched_original_and_reads_back() {
        for name in [
            "plain-1page.pdf",
            "objstm-xrefstream.pdf",
            "incremental-updated.pdf",
            "linearized.pdf",
        ] {
            let (original, out) = update(name);
            assert_eq!(&out[..original.len()], &original[..], "{name}");
            let doc = lopdf::Document::load_mem(&out).unwrap();
            assert!(
                doc.xref_recovery.is_none(),
                "{name}: xref must read as written"
            );
            let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
            let cat = doc.get_dictionary(root).unwrap();
            assert_eq!(
                cat.get(b"ChopTest").unwrap().as_i64().unwrap(),
                42,
                "{name}"
            );
            assert!(doc.get_object((doc.max_id, 0)).is_ok(), "{name}");
        }
    }

    #[test]
    fn keeps_the_xref_kind_of_the_original() {
        let (_, out) = update("objstm-xrefstream.pdf");
        let tail = String::from_utf8_lossy(&out[out.len() - 400..]).into_owned();
        assert!(tail.contains("/Type /XRef"), "{tail}");
        let (_, out) = update("plain-1page.pdf");
        let tail = String::from_utf8_lossy(&out[out.len() - 200..]).into_owned();
        assert!(tail.contains("trailer"), "{tail}");
    }

    #[test]
    fn subsections_split_on_gaps() {
        let e = vec![((1, 0), 0), ((2, 0), 0), ((5, 0), 0)];
        let runs = subsections(&e);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].len(), 2);
        assert_eq!(bytes_needed(255), 1);
        assert_eq!(bytes_needed(256), 2);
        assert_eq!(bytes_needed(0), 1);
    }
}
