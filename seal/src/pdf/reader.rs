//! Reading only what an incremental update touches (ISO 32000-2 §7.5).
//!
//! Sealing a document changes a handful of objects (the catalog or its `/AcroForm`, one page or
//! its `/Annots`), so parsing every object of the file is wasted work that grows with the
//! document. [`LazyDocument`] reads the cross-reference data from the last `startxref` along
//! the `/Prev` chain (classic tables §7.5.4, cross-reference streams §7.5.8, hybrid files
//! §7.5.8.4), the trailer (§7.5.5), and then parses single objects on demand — directly at their
//! offset, or out of their object stream (§7.5.7), whose decoded bytes are kept for the next
//! member. Parsed objects are cached for the lifetime of the reader.
//!
//! Objects are returned as `lopdf` values, so the writer side ([`super::serialize`]) is shared
//! with the rest of the crate. Damage is an error, never repaired: a cross-reference section
//! that does not parse, an in-use entry whose offset does not hold the object it names, a
//! `/Prev` loop, an object stream that does not decode.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::rc::Rc;

use lopdf::{Dictionary, Object, ObjectId, Stream, StringFormat};

/// Deepest nesting of arrays and dictionaries accepted in one object.
const MAX_DEPTH: usize = 100;

/// Most cross-reference sections followed along `/Prev`.
const MAX_SECTIONS: usize = 10_000;

/// Largest decoded cross-reference or object stream (decompression-bomb guard).
const MAX_DECODED: usize = 256 * 1024 * 1024;

/// Why the document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The cross-reference data is damaged (the file would only read after repair).
    #[error("{0}")]
    Xref(String),
    /// An object the update needs cannot be read.
    #[error("{0}")]
    Object(String),
}

/// One cross-reference entry (§7.5.4, §7.5.8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Free,
    /// At a byte offset, with a generation number.
    Normal {
        offset: usize,
        generation: u16,
    },
    /// Member `index` of the object stream `stream`.
    Compressed {
        stream: u32,
        index: u32,
    },
}

/// A decoded object stream: its bytes and the offset of each member (object number, offset).
struct ObjectStream {
    data: Vec<u8>,
    members: Vec<(u32, usize)>,
}

/// A PDF file whose objects are parsed only when asked for.
pub struct LazyDocument<'a> {
    data: &'a [u8],
    entries: HashMap<u32, Entry>,
    /// The newest trailer, completed with keys only older trailers have.
    pub trailer: Dictionary,
    /// Offset of the newest cross-reference section (the file's last `startxref`).
    pub xref_start: usize,
    /// The largest object number in use or named by `/Size`.
    pub max_id: u32,
    cache: RefCell<HashMap<ObjectId, Rc<Object>>>,
    streams: RefCell<HashMap<u32, Rc<ObjectStream>>>,
}

impl<'a> LazyDocument<'a> {
    /// Reads the cross-reference chain starting at `xref_start` and the trailer.
    pub fn open(data: &'a [u8], xref_start: usize) -> Result<Self, ReadError> {
        let mut entries: HashMap<u32, Entry> = HashMap::new();
        let mut trailer: Option<Dictionary> = None;
        let mut size: i64 = 0;
        let mut seen = HashSet::new();
        let mut next = Some(xref_start);
        while let Some(offset) = next {
            if !seen.insert(offset) || seen.len() > MAX_SECTIONS {
                return Err(ReadError::Xref(format!(
                    "the /Prev chain loops back to offset {offset}"
                )));
            }
            let (section, dict) = read_section(data, offset)?;
            for (id, e) in section {
                entries.entry(id).or_insert(e);
            }
            if let Ok(s) = dict.get(b"Size").and_then(Object::as_i64) {
                size = size.max(s);
            }
            next = match dict.get(b"Prev") {
                Ok(Object::Integer(p)) => Some(
                    usize::try_from(*p)
                        .map_err(|_| ReadError::Xref(format!("negative /Prev offset {p}")))?,
                ),
                Ok(_) => return Err(ReadError::Xref("/Prev is not an integer".into())),
                Err(_) => None,
            };
            match &mut trailer {
                None => trailer = Some(dict),
                Some(t) => {
                    for (k, v) in dict.iter() {
                        if !t.has(k) && k.as_slice() != b"Prev" {
                            t.set(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        let trailer = trailer.ok_or_else(|| ReadError::Xref("no trailer".into()))?;
        let max_entry = entries.keys().copied().max().unwrap_or(0);
        let size_max = u32::try_from(size.saturating_sub(1).max(0)).unwrap_or(u32::MAX);
        Ok(LazyDocument {
            data,
            entries,
            trailer,
            xref_start,
            max_id: max_entry.max(size_max),
            cache: RefCell::new(HashMap::new()),
            streams: RefCell::new(HashMap::new()),
        })
    }

    /// Checks that every in-use entry with a byte offset points at `N G obj` for its own N
    /// and G: the test a reader makes before trusting a table, cheap next to parsing the
    /// objects. A file that fails it would only read after repair.
    pub fn check_offsets(&self) -> Result<(), ReadError> {
        for (&num, entry) in &self.entries {
            if let Entry::Normal { offset, generation } = *entry
                && object_header(self.data, offset) != Some((num, generation))
            {
                return Err(ReadError::Xref(format!(
                    "object {num} {generation} is not at offset {offset}"
                )));
            }
        }
        Ok(())
    }

    /// The object `id`, parsed on first use. A free or missing object is `null` (§7.3.10).
    pub fn get(&self, id: ObjectId) -> Result<Rc<Object>, ReadError> {
        if let Some(o) = self.cache.borrow().get(&id) {
            return Ok(o.clone());
        }
        let obj = Rc::new(self.load(id, 0)?);
        self.cache.borrow_mut().insert(id, obj.clone());
        Ok(obj)
    }

    /// The dictionary `id` (a stream's dictionary for a stream).
    pub fn dictionary(&self, id: ObjectId) -> Result<Rc<Object>, ReadError> {
        let obj = self.get(id)?;
        match &*obj {
            Object::Dictionary(_) | Object::Stream(_) => Ok(obj),
            other => Err(ReadError::Object(format!(
                "object {} {} is {}, not a dictionary",
                id.0,
                id.1,
                kind(other)
            ))),
        }
    }

    /// `obj` itself, or the object it refers to (one level).
    pub fn resolve(&self, obj: &Object) -> Result<Rc<Object>, ReadError> {
        match obj {
            Object::Reference(id) => self.get(*id),
            other => Ok(Rc::new(other.clone())),
        }
    }

    fn load(&self, id: ObjectId, depth: usize) -> Result<Object, ReadError> {
        match self.entries.get(&id.0) {
            None | Some(Entry::Free) => Ok(Object::Null),
            Some(Entry::Normal { generation, .. }) if *generation != id.1 => Ok(Object::Null),
            Some(Entry::Normal { offset, .. }) => {
                let mut p = Parser::new(self.data, *offset);
                let (_, obj) = p
                    .indirect_object(|len_id| self.length_of(len_id, depth))
                    .map_err(|e| ReadError::Object(format!("object {} {}: {e}", id.0, id.1)))?;
                Ok(obj)
            }
            Some(Entry::Compressed { stream, index }) => {
                if id.1 != 0 {
                    return Ok(Object::Null);
                }
                let objstm = self.object_stream(*stream)?;
                let &(num, at) = objstm.members.get(*index as usize).ok_or_else(|| {
                    ReadError::Object(format!(
                        "object {}: object stream {stream} has no member {index}",
                        id.0
                    ))
                })?;
                if num != id.0 {
                    return Err(ReadError::Object(format!(
                        "object {}: member {index} of object stream {stream} is object {num}",
                        id.0
                    )));
                }
                let mut p = Parser::new(&objstm.data, at);
                p.object(0).map_err(|e| {
                    ReadError::Object(format!("object {} in object stream {stream}: {e}", id.0))
                })
            }
        }
    }

    /// A stream's indirect `/Length` (an integer object at a byte offset).
    fn length_of(&self, id: ObjectId, depth: usize) -> Option<usize> {
        if depth > 2 {
            return None;
        }
        match self.load(id, depth + 1).ok()? {
            Object::Integer(n) => usize::try_from(n).ok(),
            _ => None,
        }
    }

    fn object_stream(&self, num: u32) -> Result<Rc<ObjectStream>, ReadError> {
        if let Some(s) = self.streams.borrow().get(&num) {
            return Ok(s.clone());
        }
        let bad = |why: String| ReadError::Object(format!("object stream {num}: {why}"));
        let Some(Entry::Normal { .. }) = self.entries.get(&num) else {
            return Err(bad("not an uncompressed object".into()));
        };
        let stream = match self.load((num, 0), 0)? {
            Object::Stream(s) => s,
            other => return Err(bad(format!("is {}", kind(&other)))),
        };
        let n = stream
            .dict
            .get(b"N")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad("no /N".into()))?;
        let first = stream
            .dict
            .get(b"First")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad("no /First".into()))?;
        let data = decode_stream(&stream).map_err(bad)?;
        let mut p = Parser::new(&data, 0);
        let mut members = Vec::with_capacity(n.min(100_000));
        for _ in 0..n {
            let obj_num = p.unsigned().ok_or_else(|| bad("bad member table".into()))?;
            let off = p.unsigned().ok_or_else(|| bad("bad member table".into()))?;
            let obj_num = u32::try_from(obj_num).map_err(|_| bad("bad member table".into()))?;
            members.push((obj_num, first.saturating_add(off as usize)));
        }
        let s = Rc::new(ObjectStream { data, members });
        self.streams.borrow_mut().insert(num, s.clone());
        Ok(s)
    }
}

fn kind(o: &Object) -> &'static str {
    match o {
        Object::Null => "null",
        Object::Boolean(_) => "a boolean",
        Object::Integer(_) => "an integer",
        Object::Real(_) => "a real",
        Object::Name(_) => "a name",
        Object::String(..) => "a string",
        Object::Array(_) => "an array",
        Object::Dictionary(_) => "a dictionary",
        Object::Stream(_) => "a stream",
        Object::Reference(_) => "a reference",
    }
}

/// `N G obj` at `offset` (after white space), as (N, G).
fn object_header(data: &[u8], offset: usize) -> Option<(u32, u16)> {
    if offset >= data.len() {
        return None;
    }
    let mut p = Parser::new(data, offset);
    p.skip_ws();
    let num = u32::try_from(p.unsigned()?).ok()?;
    let generation = u16::try_from(p.unsigned()?).ok()?;
    p.skip_ws();
    p.keyword(b"obj").then_some((num, generation))
}

/// One cross-reference section at `offset`: its entries (a hybrid file's `/XRefStm` entries
/// fill what its table leaves free or out) and its trailer dictionary.
fn read_section(data: &[u8], offset: usize) -> Result<(Vec<(u32, Entry)>, Dictionary), ReadError> {
    let Some(at) = data.get(offset..) else {
        return Err(ReadError::Xref(format!(
            "cross-reference offset {offset} is past the end of the file"
        )));
    };
    let lead = at.iter().take_while(|b| is_ws(**b)).count();
    if at[lead..].starts_with(b"xref") {
        let (mut entries, trailer) = read_table(data, offset + lead + 4)
            .map_err(|e| ReadError::Xref(format!("cross-reference table at {offset}: {e}")))?;
        if let Ok(Object::Integer(stm)) = trailer.get(b"XRefStm") {
            let stm = usize::try_from(*stm)
                .map_err(|_| ReadError::Xref(format!("negative /XRefStm {stm}")))?;
            let (extra, _) = read_xref_stream(data, stm)?;
            let mut at_index: HashMap<u32, usize> = HashMap::with_capacity(entries.len());
            for (i, (id, _)) in entries.iter().enumerate() {
                at_index.insert(*id, i);
            }
            for (id, e) in extra {
                match at_index.get(&id) {
                    Some(&i) if entries[i].1 == Entry::Free => entries[i].1 = e,
                    Some(_) => {}
                    None => entries.push((id, e)),
                }
            }
        }
        Ok((entries, trailer))
    } else {
        read_xref_stream(data, offset)
    }
}

/// A classic table after its `xref` keyword, then `trailer` and its dictionary (§7.5.4).
fn read_table(data: &[u8], start: usize) -> Result<(Vec<(u32, Entry)>, Dictionary), String> {
    let mut p = Parser::new(data, start);
    let mut entries = Vec::new();
    loop {
        p.skip_ws();
        if p.keyword(b"trailer") {
            break;
        }
        let first = p.unsigned().ok_or("bad subsection header")?;
        let count = p.unsigned().ok_or("bad subsection header")?;
        for i in 0..count {
            let offset = p.unsigned().ok_or("bad entry")?;
            let generation = p.unsigned().ok_or("bad entry")?;
            p.skip_ws();
            let id = u32::try_from(first + i).map_err(|_| "object number too large")?;
            let generation = u16::try_from(generation).map_err(|_| "generation too large")?;
            match p.peek() {
                Some(b'n') => entries.push((
                    id,
                    Entry::Normal {
                        offset: usize::try_from(offset).map_err(|_| "offset too large")?,
                        generation,
                    },
                )),
                Some(b'f') => entries.push((id, Entry::Free)),
                _ => return Err(format!("entry {id} is neither n nor f")),
            }
            p.pos += 1;
        }
    }
    p.skip_ws();
    match p.object(0)? {
        Object::Dictionary(d) => Ok((entries, d)),
        _ => Err("the trailer is not a dictionary".into()),
    }
}

/// A cross-reference stream object at `offset` (§7.5.8): its entries and its dictionary.
fn read_xref_stream(
    data: &[u8],
    offset: usize,
) -> Result<(Vec<(u32, Entry)>, Dictionary), ReadError> {
    let bad = |why: String| ReadError::Xref(format!("cross-reference stream at {offset}: {why}"));
    let mut p = Parser::new(data, offset);
    // A cross-reference stream's /Length must be direct (§7.5.8.2).
    let (_, obj) = p.indirect_object(|_| None).map_err(bad)?;
    let Object::Stream(stream) = obj else {
        return Err(bad("not a stream".into()));
    };
    if stream.dict.get(b"Type").and_then(Object::as_name).ok() != Some(b"XRef".as_slice()) {
        return Err(bad("not of /Type /XRef".into()));
    }
    let widths: Vec<usize> = stream
        .dict
        .get(b"W")
        .and_then(Object::as_array)
        .map_err(|_| bad("no /W".into()))?
        .iter()
        .map(|w| w.as_i64().ok().and_then(|w| usize::try_from(w).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("bad /W".into()))?;
    if widths.len() != 3 || widths.iter().any(|w| *w > 8) {
        return Err(bad("bad /W".into()));
    }
    let size = stream
        .dict
        .get(b"Size")
        .and_then(Object::as_i64)
        .map_err(|_| bad("no /Size".into()))?;
    let index: Vec<i64> = match stream.dict.get(b"Index") {
        Ok(Object::Array(a)) => a
            .iter()
            .map(|o| o.as_i64().ok())
            .collect::<Option<_>>()
            .ok_or_else(|| bad("bad /Index".into()))?,
        _ => vec![0, size],
    };
    if !index.len().is_multiple_of(2) {
        return Err(bad("bad /Index".into()));
    }
    let rows = decode_stream(&stream).map_err(bad)?;
    let row_len: usize = widths.iter().sum();
    if row_len == 0 {
        return Err(bad("empty /W".into()));
    }
    let field = |row: &[u8], at: usize, w: usize| -> u64 {
        row[at..at + w]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    };
    let mut entries = Vec::new();
    let mut chunks = rows.chunks_exact(row_len);
    for pair in index.chunks(2) {
        let (first, count) = (pair[0], pair[1]);
        if first < 0 || count < 0 {
            return Err(bad("bad /Index".into()));
        }
        for i in 0..count {
            let row = chunks
                .next()
                .ok_or_else(|| bad("fewer entries than /Index names".into()))?;
            let id = u32::try_from(first + i).map_err(|_| bad("object number too large".into()))?;
            let t = if widths[0] == 0 {
                1
            } else {
                field(row, 0, widths[0])
            };
            let f2 = field(row, widths[0], widths[1]);
            let f3 = field(row, widths[0] + widths[1], widths[2]);
            let e = match t {
                0 => Entry::Free,
                1 => Entry::Normal {
                    offset: usize::try_from(f2).map_err(|_| bad("offset too large".into()))?,
                    generation: u16::try_from(f3)
                        .map_err(|_| bad("generation too large".into()))?,
                },
                2 => Entry::Compressed {
                    stream: u32::try_from(f2).map_err(|_| bad("bad stream number".into()))?,
                    index: u32::try_from(f3).map_err(|_| bad("bad stream index".into()))?,
                },
                // Unknown types are references to the null object (§7.5.8.3).
                _ => Entry::Free,
            };
            entries.push((id, e));
        }
    }
    Ok((entries, stream.dict))
}

/// The decoded bytes of a stream: no filter or `/FlateDecode`, with the PNG predictors
/// (§7.4.4.4) that cross-reference and object streams use.
fn decode_stream(stream: &Stream) -> Result<Vec<u8>, String> {
    let filters: Vec<&[u8]> = match stream.dict.get(b"Filter") {
        Err(_) => Vec::new(),
        Ok(Object::Name(n)) => vec![n.as_slice()],
        Ok(Object::Array(a)) => a
            .iter()
            .map(|o| o.as_name().map_err(|_| "bad /Filter".to_string()))
            .collect::<Result<_, _>>()?,
        Ok(_) => return Err("bad /Filter".into()),
    };
    let parms = match stream.dict.get(b"DecodeParms") {
        Ok(Object::Dictionary(d)) => Some(d),
        Ok(Object::Array(a)) => a.first().and_then(|o| o.as_dict().ok()),
        _ => None,
    };
    match filters.as_slice() {
        [] => Ok(stream.content.clone()),
        [b"FlateDecode"] => {
            let mut out = Vec::with_capacity(stream.content.len() * 4);
            let mut dec = flate2::read::ZlibDecoder::new(stream.content.as_slice())
                .take(MAX_DECODED as u64 + 1);
            if let Err(e) = dec.read_to_end(&mut out)
                && out.is_empty()
            {
                return Err(format!("cannot inflate: {e}"));
            }
            if out.len() > MAX_DECODED {
                return Err("decodes to more than 256 MiB".into());
            }
            unpredict(out, parms)
        }
        other => Err(format!(
            "unsupported filter {}",
            other
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

/// Undo a PNG predictor (`/Predictor` ≥ 10) on rows of `/Columns` × `/Colors` ×
/// `/BitsPerComponent` bits.
fn unpredict(data: Vec<u8>, parms: Option<&Dictionary>) -> Result<Vec<u8>, String> {
    let get = |k: &[u8], default: i64| {
        parms
            .and_then(|p| p.get(k).and_then(Object::as_i64).ok())
            .unwrap_or(default)
    };
    let predictor = get(b"Predictor", 1);
    if predictor == 1 {
        return Ok(data);
    }
    if predictor < 10 {
        return Err(format!("unsupported predictor {predictor}"));
    }
    let colors = usize::try_from(get(b"Colors", 1)).map_err(|_| "bad /Colors")?;
    let bpc = usize::try_from(get(b"BitsPerComponent", 8)).map_err(|_| "bad /BitsPerComponent")?;
    let columns = usize::try_from(get(b"Columns", 1)).map_err(|_| "bad /Columns")?;
    let bpp = (colors * bpc).div_ceil(8).max(1);
    let row = (colors * bpc * columns).div_ceil(8);
    if row == 0 || colors > 32 || bpc > 16 {
        return Err("bad predictor parameters".into());
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (tag, src) = chunk.split_first().ok_or("empty predictor row")?;
        let mut cur = src.to_vec();
        cur.resize(row, 0);
        for i in 0..row {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = cur[i].wrapping_add(match tag {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                t => return Err(format!("bad PNG predictor tag {t}")),
            });
        }
        out.extend_from_slice(&cur[..src.len().min(row)]);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// White space (§7.2.3, Table 1).
fn is_ws(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

/// Delimiters (§7.2.3, Table 2).
fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

/// A cursor over PDF syntax (§7.2, §7.3).
struct Parser<'d> {
    data: &'d [u8],
    pos: usize,
}

impl<'d> Parser<'d> {
    fn new(data: &'d [u8], pos: usize) -> Self {
        Parser { data, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Skips white space and comments.
    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Consumes `word` when it stands at the cursor as a whole token.
    fn keyword(&mut self, word: &[u8]) -> bool {
        let end = self.pos + word.len();
        if self.data.get(self.pos..end) == Some(word)
            && self.data.get(end).is_none_or(|b| !is_regular(*b))
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// An unsigned decimal integer (after white space), or `None` with the cursor unmoved.
    fn unsigned(&mut self) -> Option<u64> {
        self.skip_ws();
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.pos += 1;
        }
        if self.pos == start || self.peek().is_some_and(is_regular) {
            self.pos = start;
            return None;
        }
        Some(v)
    }

    /// `N G obj` object [`stream` … `endstream`] `endobj`; `length` resolves an indirect
    /// stream `/Length`.
    fn indirect_object(
        &mut self,
        length: impl Fn(ObjectId) -> Option<usize>,
    ) -> Result<(ObjectId, Object), String> {
        self.skip_ws();
        let num = self.unsigned().ok_or("no object number")?;
        let generation = self.unsigned().ok_or("no generation number")?;
        self.skip_ws();
        if !self.keyword(b"obj") {
            return Err("no 'obj' keyword".into());
        }
        let id = (
            u32::try_from(num).map_err(|_| "object number too large")?,
            u16::try_from(generation).map_err(|_| "generation too large")?,
        );
        let obj = self.object(0)?;
        self.skip_ws();
        if let Object::Dictionary(dict) = obj {
            if self.keyword(b"stream") {
                let content = self.stream_data(&dict, length)?;
                return Ok((id, Object::Stream(Stream::new(dict, content))));
            }
            return Ok((id, Object::Dictionary(dict)));
        }
        Ok((id, obj))
    }

    /// The bytes after `stream` and its end-of-line: `/Length` of them when `endstream`
    /// follows, else up to the next `endstream`.
    fn stream_data(
        &mut self,
        dict: &Dictionary,
        length: impl Fn(ObjectId) -> Option<usize>,
    ) -> Result<Vec<u8>, String> {
        match self.peek() {
            Some(b'\r') => {
                self.pos += 1;
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            Some(b'\n') => self.pos += 1,
            _ => {}
        }
        let start = self.pos;
        let declared = match dict.get(b"Length") {
            Ok(Object::Integer(n)) => usize::try_from(*n).ok(),
            Ok(Object::Reference(id)) => length(*id),
            _ => None,
        };
        if let Some(n) = declared
            && let Some(end) = start.checked_add(n)
            && end <= self.data.len()
        {
            let mut after = Parser::new(self.data, end);
            after.skip_ws();
            if after.keyword(b"endstream") {
                self.pos = after.pos;
                return Ok(self.data[start..end].to_vec());
            }
        }
        // No usable /Length: the data ends before the next `endstream` (and its end-of-line).
        let rest = &self.data[start..];
        let at = rest
            .windows(9)
            .position(|w| w == b"endstream")
            .ok_or("stream without endstream")?;
        let mut end = start + at;
        if end > start && self.data[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && self.data[end - 1] == b'\r' {
            end -= 1;
        }
        self.pos = start + at + 9;
        Ok(self.data[start..end].to_vec())
    }

    /// One direct object (§7.3), references included.
    fn object(&mut self, depth: usize) -> Result<Object, String> {
        if depth > MAX_DEPTH {
            return Err("objects nested too deeply".into());
        }
        self.skip_ws();
        let b = self.peek().ok_or("unexpected end of data")?;
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Object::Name(self.name_body()))
            }
            b'(' => {
                self.pos += 1;
                Ok(Object::String(self.literal_body()?, StringFormat::Literal))
            }
            b'<' if self.data.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                self.dictionary_body(depth).map(Object::Dictionary)
            }
            b'<' => {
                self.pos += 1;
                Ok(Object::String(self.hex_body()?, StringFormat::Hexadecimal))
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Object::Array(items));
                        }
                        None => return Err("unterminated array".into()),
                        _ => items.push(self.object(depth + 1)?),
                    }
                }
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number_or_reference(),
            _ => {
                if self.keyword(b"true") {
                    Ok(Object::Boolean(true))
                } else if self.keyword(b"false") {
                    Ok(Object::Boolean(false))
                } else if self.keyword(b"null") {
                    Ok(Object::Null)
                } else {
                    Err(format!("unexpected byte 0x{b:02x} at {}", self.pos))
                }
            }
        }
    }

    fn dictionary_body(&mut self, depth: usize) -> Result<Dictionary, String> {
        let mut dict = Dictionary::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'>') if self.data.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    return Ok(dict);
                }
                Some(b'/') => {
                    self.pos += 1;
                    let key = self.name_body();
                    let value = self.object(depth + 1)?;
                    // The first of duplicate keys wins, as most readers do.
                    if !dict.has(&key) {
                        dict.set(key, value);
                    }
                }
                None => return Err("unterminated dictionary".into()),
                Some(b) => return Err(format!("dictionary key expected, found 0x{b:02x}")),
            }
        }
    }

    /// After `/`: the name's bytes with `#xx` escapes decoded (§7.3.5).
    fn name_body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
            if b == b'#'
                && let (Some(h), Some(l)) = (
                    self.data.get(self.pos).and_then(|c| hex_val(*c)),
                    self.data.get(self.pos + 1).and_then(|c| hex_val(*c)),
                )
            {
                out.push(h << 4 | l);
                self.pos += 2;
                continue;
            }
            out.push(b);
        }
        out
    }

    /// After `(`: a literal string's bytes (§7.3.4.2).
    fn literal_body(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut nesting = 0usize;
        loop {
            let b = self.peek().ok_or("unterminated string")?;
            self.pos += 1;
            match b {
                b'(' => {
                    nesting += 1;
                    out.push(b);
                }
                b')' if nesting == 0 => return Ok(out),
                b')' => {
                    nesting -= 1;
                    out.push(b);
                }
                b'\r' => {
                    // An end-of-line in a string is read as one LF.
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                b'\\' => {
                    let e = self.peek().ok_or("unterminated string")?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }

    /// After `<`: a hexadecimal string's bytes (§7.3.4.3); a missing last digit is 0.
    fn hex_body(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let b = self.peek().ok_or("unterminated hex string")?;
            self.pos += 1;
            if b == b'>' {
                if let Some(h) = high {
                    out.push(h << 4);
                }
                return Ok(out);
            }
            if is_ws(b) {
                continue;
            }
            let v = hex_val(b).ok_or_else(|| format!("bad hex digit 0x{b:02x}"))?;
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
    }

    /// An integer, a real, or `N G R`.
    fn number_or_reference(&mut self) -> Result<Object, String> {
        let start = self.pos;
        let mut end = self.pos;
        if matches!(self.data.get(end), Some(b'+' | b'-')) {
            end += 1;
        }
        let mut dot = false;
        let mut digits = 0;
        while let Some(&b) = self.data.get(end) {
            if b.is_ascii_digit() {
                digits += 1;
            } else if b == b'.' && !dot {
                dot = true;
            } else {
                break;
            }
            end += 1;
        }
        let text = std::str::from_utf8(&self.data[start..end]).map_err(|e| e.to_string())?;
        self.pos = end;
        if digits == 0 {
            // "-" or "." alone: a malformed number, read as 0 as lenient readers do.
            return Ok(Object::Integer(0));
        }
        if dot {
            let v: f64 = text.parse().map_err(|_| format!("bad number {text}"))?;
            return Ok(Object::Real(v as f32));
        }
        let v: i64 = match text.parse() {
            Ok(v) => v,
            // Out of range for an integer: keep its magnitude as a real.
            Err(_) => {
                let r: f64 = text.parse().map_err(|_| format!("bad number {text}"))?;
                return Ok(Object::Real(r as f32));
            }
        };
        // `N G R`?
        if v >= 0 && !text.starts_with('+') {
            let save = self.pos;
            if let Some(generation) = self.unsigned() {
                self.skip_ws();
                if self.keyword(b"R")
                    && let (Ok(n), Ok(g)) = (u32::try_from(v), u16::try_from(generation))
                {
                    return Ok(Object::Reference((n, g)));
                }
            }
            self.pos = save;
        }
        Ok(Object::Integer(v))
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

    fn parse(text: &[u8]) -> Object {
        Parser::new(text, 0).object(0).unwrap()
    }

    #[test]
    fn parses_each_kind_of_object() {
        assert_eq!(parse(b"null"), Object::Null);
        assert_eq!(parse(b" true"), Object::Boolean(true));
        assert_eq!(parse(b"-12"), Object::Integer(-12));
        assert_eq!(parse(b"+.5"), Object::Real(0.5));
        assert_eq!(parse(b"/A#20B"), Object::Name(b"A B".to_vec()));
        assert_eq!(
            parse(b"(a\\(b\\)\\\\\\n\\101\\\r\nc(d))"),
            Object::String(b"a(b)\\\nAc(d)".to_vec(), StringFormat::Literal)
        );
        assert_eq!(
            parse(b"<41 4>"),
            Object::String(b"A@".to_vec(), StringFormat::Hexadecimal)
        );
        assert_eq!(parse(b"12 0 R"), Object::Reference((12, 0)));
        assert_eq!(
            parse(b"[1 2 R 3 4 5 R /x]"),
            Object::Array(vec![
                Object::Reference((1, 2)),
                Object::Integer(3),
                Object::Reference((4, 5)),
                Object::Name(b"x".to_vec()),
            ])
        );
        let d = parse(b"<</Type/Page % comment\n/Kids[1 0 R]/N 3 0 R>>");
        let d = d.as_dict().unwrap();
        assert_eq!(d.get(b"Type").unwrap(), &Object::Name(b"Page".to_vec()));
        assert_eq!(
            d.get(b"Kids").unwrap(),
            &Object::Array(vec![Object::Reference((1, 0))])
        );
        assert_eq!(d.get(b"N").unwrap(), &Object::Reference((3, 0)));
    }

    #[test]
    fn references_need_all_three_tokens() {
        assert_eq!(
            parse(b"[1 2]"),
            Object::Array(vec![Object::Integer(1), Object::Integer(2)])
        );
        assert_eq!(
            parse(b"[-1 0 7]"),
            Object::Array(vec![
                Object::Integer(-1),
                Object::Integer(0),
                Object::Integer(7)
            ])
        );
        assert!(Parser::new(b"[1 2 Rx]", 0).object(0).is_err());
    }

    #[test]
    fn rejects_malformed_objects() {
        for bad in [&b"<<"[..], b"[1 2", b"(abc", b"<4G>", b"foo", b"<</A>>"] {
            assert!(
                Parser::new(bad, 0).object(0).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn png_up_predictor() {
        // Two rows of 2 columns, tag 2 (Up).
        let data = vec![2, 1, 2, 2, 1, 1];
        let mut parms = Dictionary::new();
        parms.set("Predictor", 12);
        parms.set("Columns", 2);
        assert_eq!(unpredict(data, Some(&parms)).unwrap(), vec![1, 2, 2, 3]);
    }

    /// Every object of every readable corpus file reads as lopdf reads it from a full load.
    #[test]
    fn objects_match_a_full_load() {
        let Ok(dir) = std::fs::read_dir(CORPUS) else {
            eprintln!("corpus not found at {CORPUS}: skipping");
            return;
        };
        let mut checked = 0;
        for entry in dir.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "pdf") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let Ok(full) = lopdf::Document::load_mem(&data) else {
                continue;
            };
            if full.xref_recovery.is_some()
                || full.trailer.has(b"Encrypt")
                || full.encryption_state.is_some()
            {
                continue;
            }
            let start = crate::pdf::revisions::startxref_before(&data, data.len()).unwrap();
            let lazy = LazyDocument::open(&data, start)
                .and_then(|d| d.check_offsets().map(|()| d))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for (id, obj) in &full.objects {
                let mine = lazy.get(*id).unwrap();
                match (obj, &*mine) {
                    (Object::Stream(a), Object::Stream(b)) => {
                        assert_eq!(a.dict, b.dict, "{} {id:?}", path.display());
                    }
                    (a, b) => assert_eq!(a, b, "{} {id:?}", path.display()),
                }
            }
            assert_eq!(
                full.trailer.get(b"Root").ok(),
                lazy.trailer.get(b"Root").ok(),
                "{}",
                path.display()
            );
            assert!(lazy.max_id >= full.max_id, "{}", path.display());
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} corpus files checked");
    }

    /// A hybrid-reference file (§7.5.8.4): the table marks object 3 free, the `/XRefStm`
    /// stream places it in object stream 4, and the reader finds it there.
    #[test]
    fn hybrid_files_read_objects_through_xrefstm() {
        let mut body = b"%PDF-1.5\n".to_vec();
        let mut offsets = Vec::new();
        let mut obj = |body: &mut Vec<u8>, text: &[u8]| {
            offsets.push(body.len());
            body.extend_from_slice(text);
        };
        obj(
            &mut body,
            b"1 0 obj\n<</Type /Catalog /Pages 2 0 R>>\nendobj\n",
        );
        obj(
            &mut body,
            b"2 0 obj\n<</Type /Pages /Kids [3 0 R] /Count 1>>\nendobj\n",
        );
        let member = b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 10 10]>>";
        let mut objstm = b"3 0 ".to_vec();
        let first = objstm.len();
        objstm.extend_from_slice(member);
        obj(
            &mut body,
            format!(
                "4 0 obj\n<</Type /ObjStm /N 1 /First {first} /Length {}>>\nstream\n",
                objstm.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&objstm);
        body.extend_from_slice(b"\nendstream\nendobj\n");
        // Entry for object 3: type 2, in stream 4, index 0 (W [1 2 1]).
        let rows = [2u8, 0, 4, 0];
        let xrefstm = body.len();
        obj(
            &mut body,
            b"5 0 obj\n<</Type /XRef /W [1 2 1] /Index [3 1] /Size 6 /Length 4>>\nstream\n",
        );
        body.extend_from_slice(&rows);
        body.extend_from_slice(b"\nendstream\nendobj\n");
        let table = body.len();
        body.extend_from_slice(b"xref\n0 6\n0000000000 65535 f \n");
        for (i, off) in offsets.iter().enumerate() {
            if i == 2 {
                // Object 3 lives in the object stream: free in the table.
                body.extend_from_slice(b"0000000000 65535 f \n");
            }
            body.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        body.extend_from_slice(
            format!(
                "trailer\n<</Size 6 /Root 1 0 R /XRefStm {xrefstm}>>\nstartxref\n{table}\n%%EOF\n"
            )
            .as_bytes(),
        );
        let doc = LazyDocument::open(&body, table).unwrap();
        doc.check_offsets().unwrap();
        let page = doc.get((3, 0)).unwrap();
        assert_eq!(
            page.as_dict().unwrap().get(b"Type").unwrap(),
            &Object::Name(b"Page".to_vec())
        );
        assert_eq!(doc.max_id, 5);
        // lopdf, reading the whole file, agrees.
        let full = lopdf::Document::load_mem(&body).unwrap();
        assert_eq!(full.get_object((3, 0)).unwrap(), &*page);
    }

    #[test]
    fn damaged_offsets_are_refused() {
        let mut body = b"%PDF-1.7\n".to_vec();
        let at = body.len();
        body.extend_from_slice(b"1 0 obj\n<</Type /Catalog>>\nendobj\n");
        let xref = body.len();
        body.extend_from_slice(b"xref\n0 2\n0000000000 65535 f \n");
        body.extend_from_slice(format!("{:010} 00000 n \n", at + 3).as_bytes());
        body.extend_from_slice(
            format!("trailer\n<</Size 2/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        let doc = LazyDocument::open(&body, xref).unwrap();
        assert!(matches!(doc.check_offsets(), Err(ReadError::Xref(_))));
    }
}
