//! Bounds on the streams the PDF parser inflates by itself (issue 3 §3 "Hostile files").
//!
//! `lopdf` inflates object streams (ISO 32000-2 §7.5.7) and cross-reference streams (§7.5.8)
//! while it loads a revision, before the verifier sees a single object. It caps each stream's
//! decompressed size (the verifier passes it [`Limits::max_decompressed_bytes`]) but not the
//! ratio, and it inflates whatever stream an offset or an xref entry points it at, whatever
//! that stream's `/Type` says. So before any revision is handed to `lopdf`, this scan finds, in
//! the raw bytes, every stream the parser could inflate while loading, and inflates it itself
//! under [`Limits::max_ratio`] and [`Limits::max_decompressed_bytes`]:
//!
//! - **Where**: every `obj` keyword followed by a dictionary and the `stream` keyword, anywhere
//!   in the file — also inside other objects, since a cross-reference offset may point anywhere.
//!   The dictionary is read with `lopdf`'s grammar (white space and comments, names with `#xx`,
//!   nesting up to 100), so what `lopdf` reads as a stream dictionary is read here too.
//! - **Which**: a stream with `/Type /ObjStm` or `/Type /XRef`; one at an offset named by
//!   `startxref`, `/Prev` or `/XRefStm` (parsed as a cross-reference stream whatever its type);
//!   one whose object number a cross-reference stream names as the container of a compressed
//!   object (type 2 entries, read from the inflated cross-reference streams); and one whose
//!   object header does not read back plainly as `N G obj` (its number could be any of these).
//!   Only streams with a `/Filter` are inflated.
//! - **How**: a lone `/FlateDecode` is inflated as a stream, checked as it goes (so a bomb is
//!   stopped within 64 KiB of output past the limit, and the output is counted, never kept).
//!   The data runs from the stream's first byte to the end of the file, and *every prefix* is
//!   checked: after each step of at most 4 KiB of compressed input, the output may not exceed
//!   `max_ratio` times the input consumed. The parser may take fewer bytes than `/Length`
//!   says (an indirect `/Length` it resolves through the cross-reference data, a wrong one it
//!   repairs by finding `endstream`, a revision boundary inside the data), but whatever length
//!   it settles on, it decodes one of those prefixes. Outputs up to 4 KiB are never refused
//!   for their ratio, and no output may exceed `max_decompressed_bytes`. `lopdf`'s
//!   raw-deflate retry for a broken zlib header is mirrored. `/ASCIIHexDecode`, `/ASCII85Decode` and `/RunLengthDecode` alone expand at most
//!   1, 4 and 64 times and are not inflated when `max_ratio` is at least that; filters `lopdf`
//!   cannot decode (DCT, JPX, …) end the chain. Any other filter or chain (LZW, Brotli, two
//!   filters) is decoded with `lopdf`'s own decoders, each layer capped at `max_ratio` times
//!   the data, over the extent a direct `/Length` gives; without one, or with a `%%EOF` inside
//!   that extent (a revision could end there and be parsed with the stream cut short), it is
//!   refused as `max_ratio`, since its ratio cannot be bounded before parsing.
//! - `/N` of an object stream may not exceed `max_objects`.
//! - An `/Encrypt` entry in a `trailer` dictionary or a cross-reference stream dictionary
//!   stops verification here: Chop does not verify encrypted documents, and an encrypted object
//!   stream cannot be inflated before it is decrypted.
//!
//! A file built to make this scan slow runs into `max_duration`.

use std::collections::HashSet;

use flate2::{Decompress, FlushDecompress, Status};
use lopdf::{Dictionary, Object, Stream};

use super::limits::{Budget, LimitHit};

/// `lopdf`'s bounds on nesting (`reader::MAX_NESTING_DEPTH`, `MAX_BRACKET`).
const PARSER_MAX_NESTING: usize = 100;
/// Compressed bytes fed to the inflater between two ratio checks.
const STEP: usize = 4096;
/// Outputs up to this size are never refused for their ratio (as in `Budget::check_inflated`).
const RATIO_FLOOR: usize = 4096;

/// Why the file is refused before parsing.
#[derive(Debug)]
pub(crate) enum Refusal {
    Limit(LimitHit),
    Encrypted,
}

impl From<LimitHit> for Refusal {
    fn from(l: LimitHit) -> Self {
        Self::Limit(l)
    }
}

/// A stream found in the raw bytes.
struct RawStream {
    /// Offset of its `obj` keyword.
    obj_at: usize,
    /// The digits of its object number, when the header reads back plainly as `N G obj`.
    number: Option<(usize, usize)>,
    dict: Dictionary,
    /// Offset of its first data byte (after `stream` and the end-of-line).
    data_at: usize,
}

/// Check every stream the parser could inflate while loading (see the module documentation).
/// What the scan found, besides nothing to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Streams the parser could inflate while loading (object streams, cross-reference
    /// streams, streams at a cross-reference offset or named as a container, streams whose
    /// header does not read back plainly), whether or not they have a filter.
    pub loaded_streams: usize,
}

pub(crate) fn check(data: &[u8], header: usize, budget: &Budget) -> Result<Scan, Refusal> {
    let streams = find_streams(data, budget)?;
    for s in streams.iter().filter(|s| type_is(&s.dict, b"ObjStm")) {
        if let Ok(Object::Integer(n)) = s.dict.get(b"N")
            && usize::try_from(*n).map_or(true, |n| n > budget.limits.max_objects)
        {
            return Err(LimitHit::new(
                "max_objects",
                format!(
                    "an object stream claims {n} objects (limit {})",
                    budget.limits.max_objects
                ),
            )
            .into());
        }
    }

    // Offsets the parser reads cross-reference sections at.
    let mut xref_offsets: HashSet<usize> = startxref_values(data).into_iter().collect();
    for d in trailers(data, budget)? {
        if d.has(b"Encrypt") {
            return Err(Refusal::Encrypted);
        }
        xref_offsets.extend(xref_links(&d));
    }
    for s in &streams {
        xref_offsets.extend(xref_links(&s.dict));
    }
    let mut xref_at: HashSet<usize> = HashSet::new();
    for v in xref_offsets {
        for start in [v, v.saturating_add(header)] {
            if let Some(obj_at) = header_at(data, start) {
                xref_at.insert(obj_at);
            }
        }
    }

    // Cross-reference streams first: they name the containers of compressed objects.
    let mut containers: HashSet<u64> = HashSet::new();
    let mut containers_unknown = false;
    let mut checked: HashSet<usize> = HashSet::new();
    let mut scan = Scan { loaded_streams: 0 };
    for s in &streams {
        let is_xref = type_is(&s.dict, b"XRef") || xref_at.contains(&s.obj_at);
        if !is_xref {
            continue;
        }
        budget.tick()?;
        if s.dict.has(b"Encrypt") {
            return Err(Refusal::Encrypted);
        }
        checked.insert(s.obj_at);
        scan.loaded_streams += 1;
        match inflate(data, s, budget, true)? {
            Some(content) => match compressed_containers(&s.dict, &content) {
                Some(c) => containers.extend(c),
                None => containers_unknown = true,
            },
            None => containers_unknown = true,
        }
    }

    for s in &streams {
        if checked.contains(&s.obj_at) {
            continue;
        }
        let named = match s.number {
            None => true,
            Some((from, to)) => containers_unknown || number_suffixes(&data[from..to], &containers),
        };
        if !(type_is(&s.dict, b"ObjStm") || named) {
            continue;
        }
        budget.tick()?;
        scan.loaded_streams += 1;
        inflate(data, s, budget, false)?;
    }
    Ok(scan)
}

fn type_is(d: &Dictionary, ty: &[u8]) -> bool {
    matches!(d.get(b"Type"), Ok(Object::Name(n)) if n == ty)
}

/// `/Prev` and `/XRefStm` offsets of a trailer or cross-reference stream dictionary.
fn xref_links(d: &Dictionary) -> Vec<usize> {
    [&b"Prev"[..], b"XRefStm"]
        .iter()
        .filter_map(|k| match d.get(k) {
            Ok(Object::Integer(v)) => usize::try_from(*v).ok(),
            _ => None,
        })
        .collect()
}

/// Whether some suffix of the digits `digits` (an xref offset may point inside a number) is
/// one of `numbers`.
fn number_suffixes(digits: &[u8], numbers: &HashSet<u64>) -> bool {
    (0..digits.len()).any(|i| {
        std::str::from_utf8(&digits[i..])
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|n| numbers.contains(&n))
    })
}

// ---- finding streams ----------------------------------------------------------------------

pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0 | 0x0c)
}

/// Hex digits and `lopdf`'s white space (`is_ws`): what may stand in a hex string.
pub(crate) const HEX_OR_SPACE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_hexdigit() || matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0 | 0x0c);
        c += 1;
    }
    t
};

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_ws(c) && !is_delim(c)
}

/// Every occurrence of `word` in `data`.
fn occurrences<'a>(data: &'a [u8], word: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let finder = memchr::memmem::Finder::new(word);
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + finder.find(data.get(from..)?)?;
        // Overlapping occurrences count, as a byte-by-byte scan would find them.
        from = at + 1;
        Some(at)
    })
}

/// Every `obj` keyword followed by a dictionary and `stream`, with its data start.
fn find_streams(data: &[u8], budget: &Budget) -> Result<Vec<RawStream>, LimitHit> {
    let mut out = Vec::new();
    let mut p = Parser { data, budget };
    for (i, at) in occurrences(data, b"obj").enumerate() {
        if i.is_multiple_of(4096) {
            budget.tick()?;
        }
        let start = p.space(at + 3);
        if !data[start..].starts_with(b"<<") {
            continue;
        }
        // Most objects are not streams: find where the dictionary ends without building it
        // (`skip` reads exactly what `value` reads), and build only stream dictionaries.
        let Some(end) = p.skip(start, PARSER_MAX_NESTING + 2)? else {
            continue;
        };
        let Some(data_at) = stream_keyword(data, p.space(end)) else {
            continue;
        };
        let Some((Object::Dictionary(dict), _)) = p.value(start, PARSER_MAX_NESTING + 2)? else {
            continue;
        };
        // Only streams the rest of the scan may look at are kept.
        let relevant = ["Filter", "W", "Prev", "XRefStm"]
            .iter()
            .any(|k| dict.has(k.as_bytes()))
            || type_is(&dict, b"ObjStm")
            || type_is(&dict, b"XRef");
        if !relevant {
            continue;
        }
        out.push(RawStream {
            obj_at: at,
            number: header_number(data, at),
            dict,
            data_at,
        });
    }
    Ok(out)
}

/// `stream`, spaces or tabs, and an end-of-line at `i`: the offset of the first data byte.
fn stream_keyword(data: &[u8], i: usize) -> Option<usize> {
    if !data[i..].starts_with(b"stream") {
        return None;
    }
    let mut j = i + 6;
    while j < data.len() && matches!(data[j], b' ' | b'\t') {
        j += 1;
    }
    if data[j..].starts_with(b"\r\n") {
        Some(j + 2)
    } else if data[j..].starts_with(b"\n") || data[j..].starts_with(b"\r") {
        Some(j + 1)
    } else {
        None
    }
}

/// The object number's digits before the `obj` keyword at `obj_at`, when the header is plain
/// `N G obj` (digits and white space only).
fn header_number(data: &[u8], obj_at: usize) -> Option<(usize, usize)> {
    let mut i = obj_at;
    while i > 0 && is_ws(data[i - 1]) {
        i -= 1;
    }
    let gen_end = i;
    while i > 0 && data[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == gen_end || i == 0 || !is_ws(data[i - 1]) {
        return None;
    }
    while i > 0 && is_ws(data[i - 1]) {
        i -= 1;
    }
    let num_end = i;
    while i > 0 && data[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == num_end || (i > 0 && is_regular(data[i - 1])) {
        return None;
    }
    Some((i, num_end))
}

/// Where the parser, reading an indirect object at `offset`, finds its `obj` keyword.
fn header_at(data: &[u8], offset: usize) -> Option<usize> {
    if offset >= data.len() {
        return None;
    }
    let mut i = space(data, offset);
    for _ in 0..2 {
        let digits = data[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        i = space(data, i + digits);
    }
    data[i..].starts_with(b"obj").then_some(i)
}

/// Skip white space and comments (`lopdf`'s `space`).
fn space(d: &[u8], mut i: usize) -> usize {
    loop {
        while i < d.len() && is_ws(d[i]) {
            i += 1;
        }
        if i < d.len() && d[i] == b'%' {
            while i < d.len() && !matches!(d[i], b'\r' | b'\n') {
                i += 1;
            }
        } else {
            return i;
        }
    }
}

/// The integers after every `startxref` keyword.
fn startxref_values(data: &[u8]) -> Vec<usize> {
    occurrences(data, b"startxref")
        .filter_map(|at| {
            let mut i = at + 9;
            while i < data.len() && is_ws(data[i]) {
                i += 1;
            }
            let digits = data[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            std::str::from_utf8(&data[i..i + digits]).ok()?.parse().ok()
        })
        .collect()
}

/// The dictionary after every `trailer` keyword.
fn trailers(data: &[u8], budget: &Budget) -> Result<Vec<Dictionary>, LimitHit> {
    let mut p = Parser { data, budget };
    let mut out = Vec::new();
    for at in occurrences(data, b"trailer") {
        let start = p.space(at + 7);
        if let Some((Object::Dictionary(d), _)) = p.value(start, PARSER_MAX_NESTING + 2)? {
            out.push(d);
        }
    }
    Ok(out)
}

/// A reader of direct objects with `lopdf`'s grammar; string contents are not kept.
struct Parser<'a> {
    data: &'a [u8],
    budget: &'a Budget,
}

impl Parser<'_> {
    fn space(&self, i: usize) -> usize {
        space(self.data, i)
    }

    /// The direct object at `i` and the offset after it (not after trailing space), or `None`
    /// when `lopdf` would not read one there.
    fn value(&mut self, i: usize, depth: usize) -> Result<Option<(Object, usize)>, LimitHit> {
        let d = self.data;
        if depth == 0 || i >= d.len() {
            return Ok(None);
        }
        Ok(match d[i] {
            b'<' if d[i..].starts_with(b"<<") => self.dictionary(i, depth)?,
            b'<' => self.hex_string(i),
            b'[' => self.array(i, depth)?,
            b'(' => self.literal_string(i),
            b'/' => {
                let (name, end) = self.name(i);
                Some((Object::Name(name), end))
            }
            b't' if d[i..].starts_with(b"true") => Some((Object::Boolean(true), i + 4)),
            b'f' if d[i..].starts_with(b"false") => Some((Object::Boolean(false), i + 5)),
            b'n' if d[i..].starts_with(b"null") => Some((Object::Null, i + 4)),
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number_or_reference(i),
            _ => None,
        })
    }

    /// Where the direct object at `i` ends — the offset [`Parser::value`] gives — without
    /// building it (containers are walked; leaves are read as `value` reads them).
    fn skip(&mut self, i: usize, depth: usize) -> Result<Option<usize>, LimitHit> {
        let d = self.data;
        if depth == 0 || i >= d.len() {
            return Ok(None);
        }
        match d[i] {
            b'<' if d[i..].starts_with(b"<<") => {
                let mut j = self.space(i + 2);
                loop {
                    if d[j..].starts_with(b">>") {
                        return Ok(Some(j + 2));
                    }
                    if j >= d.len() || d[j] != b'/' {
                        return Ok(None);
                    }
                    let (_, after_key) = self.name(j);
                    let Some(end) = self.skip(self.space(after_key), depth - 1)? else {
                        return Ok(None);
                    };
                    j = self.space(end);
                }
            }
            b'[' => {
                let mut items = 0usize;
                let mut j = self.space(i + 1);
                loop {
                    if j < d.len() && d[j] == b']' {
                        return Ok(Some(j + 1));
                    }
                    let Some(end) = self.skip(j, depth - 1)? else {
                        return Ok(None);
                    };
                    items += 1;
                    if items.is_multiple_of(65_536) {
                        self.budget.tick()?;
                    }
                    j = self.space(end);
                }
            }
            _ => Ok(self.value(i, depth)?.map(|(_, end)| end)),
        }
    }

    fn dictionary(&mut self, i: usize, depth: usize) -> Result<Option<(Object, usize)>, LimitHit> {
        let d = self.data;
        let mut dict = Dictionary::new();
        let mut j = self.space(i + 2);
        loop {
            if d[j..].starts_with(b">>") {
                return Ok(Some((Object::Dictionary(dict), j + 2)));
            }
            if j >= d.len() || d[j] != b'/' {
                return Ok(None);
            }
            let (key, after_key) = self.name(j);
            let Some((value, end)) = self.value(self.space(after_key), depth - 1)? else {
                return Ok(None);
            };
            dict.set(key, value);
            j = self.space(end);
        }
    }

    fn array(&mut self, i: usize, depth: usize) -> Result<Option<(Object, usize)>, LimitHit> {
        let d = self.data;
        let mut items = Vec::new();
        let mut j = self.space(i + 1);
        loop {
            if j < d.len() && d[j] == b']' {
                return Ok(Some((Object::Array(items), j + 1)));
            }
            let Some((value, end)) = self.value(j, depth - 1)? else {
                return Ok(None);
            };
            items.push(value);
            if items.len().is_multiple_of(65_536) {
                self.budget.tick()?;
            }
            j = self.space(end);
        }
    }

    /// `/Name` with `#xx` escapes; any other `#` ends the name (as `lopdf` reads it).
    fn name(&self, i: usize) -> (Vec<u8>, usize) {
        let d = self.data;
        let mut out = Vec::new();
        let mut j = i + 1;
        while j < d.len() && is_regular(d[j]) {
            if d[j] == b'#' {
                let hex = d.get(j + 1..j + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|t| u8::from_str_radix(t, 16).ok())
                });
                match hex {
                    Some(b) => {
                        out.push(b);
                        j += 3;
                        continue;
                    }
                    None => break,
                }
            }
            out.push(d[j]);
            j += 1;
        }
        (out, j)
    }

    /// `<hex digits and white space>`.
    ///
    /// The string ends at the first `>`; it is one when every byte before that is a hex digit
    /// or white space. A signature's `/Contents` is tens of kilobytes of hex digits, so the
    /// end is found with `memchr` and the bytes are checked by table without branching on
    /// each one.
    fn hex_string(&self, i: usize) -> Option<(Object, usize)> {
        let d = self.data;
        let body = d.get(i + 1..)?;
        let close = memchr::memchr(b'>', body)?;
        let valid = body[..close]
            .iter()
            .fold(true, |ok, &c| ok & HEX_OR_SPACE[usize::from(c)]);
        valid.then(|| {
            (
                Object::String(Vec::new(), lopdf::StringFormat::Hexadecimal),
                i + 1 + close + 1,
            )
        })
    }

    /// `(…)` with backslash escapes and balanced parentheses nested at most 100 deep.
    fn literal_string(&self, i: usize) -> Option<(Object, usize)> {
        let d = self.data;
        let mut depth = 0usize;
        let mut j = i;
        while j < d.len() {
            match d[j] {
                b'\\' => j += 1,
                b'(' => {
                    depth += 1;
                    if depth > PARSER_MAX_NESTING + 1 {
                        return None;
                    }
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((
                            Object::String(Vec::new(), lopdf::StringFormat::Literal),
                            j + 1,
                        ));
                    }
                }
                _ => {}
            }
            j += 1;
        }
        None
    }

    /// A number, or `N G R`.
    fn number_or_reference(&self, i: usize) -> Option<(Object, usize)> {
        let d = self.data;
        let mut j = i;
        if matches!(d[j], b'+' | b'-') {
            j += 1;
        }
        let body = j;
        while j < d.len() && (d[j].is_ascii_digit() || matches!(d[j], b'.' | b'-')) {
            j += 1;
        }
        let text = std::str::from_utf8(&d[body..j]).ok()?;
        if !text.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let negative = d[i] == b'-';
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = text.parse().ok()?;
            // `N G R`
            if !negative && d[i] != b'+' {
                let g0 = self.space(j);
                let g_len = d[g0..].iter().take_while(|b| b.is_ascii_digit()).count();
                let r = self.space(g0 + g_len);
                let generation = std::str::from_utf8(&d[g0..g0 + g_len])
                    .ok()
                    .and_then(|t| t.parse::<u16>().ok());
                if g_len > 0
                    && r < d.len()
                    && d[r] == b'R'
                    && let (Ok(num), Some(generation)) = (u32::try_from(n), generation)
                {
                    return Some((Object::Reference((num, generation)), r + 1));
                }
            }
            return Some((Object::Integer(if negative { -n } else { n }), j));
        }
        let value: f32 = text.replace('-', "").parse().unwrap_or(0.0);
        Some((Object::Real(if negative { -value } else { value }), j))
    }
}

// ---- inflating ----------------------------------------------------------------------------

/// The filter names of a stream dictionary, as `lopdf` reads them (a name or an array of
/// names; anything else means no filter).
fn filters(d: &Dictionary) -> Vec<Vec<u8>> {
    match d.get(b"Filter") {
        Ok(Object::Name(n)) => vec![n.clone()],
        Ok(Object::Array(a)) => {
            let names: Option<Vec<Vec<u8>>> = a
                .iter()
                .map(|o| match o {
                    Object::Name(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            names.unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The filters `lopdf` can decode; a chain stops at the first other one.
const DECODABLE: &[&[u8]] = &[
    b"FlateDecode",
    b"LZWDecode",
    b"ASCII85Decode",
    b"ASCIIHexDecode",
    b"RunLengthDecode",
    b"BrotliDecode",
];

/// Inflate stream `s` under the limits; with `keep`, return what it decodes to (after the
/// filters, before any predictor). `None`: the content is not known (no filter, or the
/// parser could not decode it either).
fn inflate(
    data: &[u8],
    s: &RawStream,
    budget: &Budget,
    keep: bool,
) -> Result<Option<Vec<u8>>, LimitHit> {
    let all = filters(&s.dict);
    let decodable: Vec<&[u8]> = all
        .iter()
        .map(Vec::as_slice)
        .take_while(|f| DECODABLE.contains(f))
        .collect();
    let length = direct_length_extent(data, s);
    let rest = &data[s.data_at..];
    let limits = &budget.limits;
    match decodable.as_slice() {
        [] if all.is_empty() => Ok(keep.then(|| length.map(|l| rest[..l].to_vec())).flatten()),
        [] => Ok(None),
        [b"FlateDecode"] => {
            let mut out = keep.then(Vec::new);
            {
                let mut z = Inflater {
                    budget,
                    keep: out.as_mut(),
                    produced: 0,
                };
                let zlib = z.run(rest, true)?;
                if !zlib && z.produced == 0 && rest.len() > 2 {
                    // lopdf retries a stream whose zlib header is broken as raw deflate.
                    z.run(&rest[2..], false)?;
                }
            }
            Ok(out)
        }
        chain => {
            let bounded =
                matches!(chain, [f] if bounded_expansion(f).is_some_and(|m| m <= limits.max_ratio));
            let cut = |l: usize| rest[..l].windows(5).any(|w| w == b"%%EOF");
            let Some(len) = length.filter(|l| !cut(*l)) else {
                if bounded {
                    return Ok(None);
                }
                return Err(LimitHit::new(
                    "max_ratio",
                    format!(
                        "a stream the parser inflates while loading (at offset {}) has the filters {} and no direct /Length that ends it: its decompression ratio cannot be bounded before parsing",
                        s.obj_at,
                        names(&all)
                    ),
                ));
            };
            if bounded && !keep {
                return Ok(None);
            }
            let by_ratio = len
                .saturating_mul(limits.max_ratio)
                .max(RATIO_FLOOR)
                .saturating_add(len);
            let cap = by_ratio.min(limits.max_decompressed_bytes);
            let stream = Stream::new(s.dict.clone(), rest[..len].to_vec());
            match stream.decompressed_content_with_limit(cap) {
                Ok(out) => {
                    budget.check_inflated(len, out.len())?;
                    Ok(keep.then_some(out))
                }
                Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                    ..
                })) => {
                    budget.check_inflated(len, cap.saturating_add(1))?;
                    Err(LimitHit::new(
                        "max_decompressed_bytes",
                        format!(
                            "a stream decompresses to more than {} bytes",
                            limits.max_decompressed_bytes
                        ),
                    ))
                }
                Err(_) => Ok(None),
            }
        }
    }
}

fn names(filters: &[Vec<u8>]) -> String {
    filters
        .iter()
        .map(|f| format!("/{}", String::from_utf8_lossy(f)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The most a filter alone can expand its input (`None`: unbounded or unknown).
fn bounded_expansion(filter: &[u8]) -> Option<usize> {
    match filter {
        b"ASCIIHexDecode" => Some(1),
        b"ASCII85Decode" => Some(4),
        b"RunLengthDecode" => Some(64),
        _ => None,
    }
}

/// The data length a direct `/Length` gives, when the data is followed by an optional
/// end-of-line and `endstream` there (then `lopdf` takes exactly that).
fn direct_length_extent(data: &[u8], s: &RawStream) -> Option<usize> {
    let len = match s.dict.get(b"Length") {
        Ok(Object::Integer(n)) => usize::try_from(*n).ok()?,
        Ok(Object::Real(r)) if r.fract() == 0.0 && *r >= 0.0 => *r as usize,
        _ => return None,
    };
    let end = s.data_at.checked_add(len)?;
    let rest = data.get(end..)?;
    let rest = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .or_else(|| rest.strip_prefix(b"\r"))
        .unwrap_or(rest);
    rest.starts_with(b"endstream").then_some(len)
}

/// A zlib or raw-deflate inflater that holds every prefix to the limits.
struct Inflater<'a> {
    budget: &'a Budget,
    keep: Option<&'a mut Vec<u8>>,
    /// Bytes produced so far.
    produced: usize,
}

impl Inflater<'_> {
    /// Inflate `input` until the end of the deflate stream, an error or the end of the input;
    /// `Ok(false)` on a decoding error.
    fn run(&mut self, input: &[u8], zlib: bool) -> Result<bool, LimitHit> {
        let mut z = Decompress::new(zlib);
        let mut buf = vec![0u8; 64 * 1024];
        let mut calls = 0usize;
        loop {
            let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            let step_end = consumed.saturating_add(STEP).min(input.len());
            let chunk = input.get(consumed..step_end).unwrap_or_default();
            let before_out = z.total_out();
            let status = z.decompress(chunk, &mut buf, FlushDecompress::None);
            let made = usize::try_from(z.total_out() - before_out).unwrap_or(usize::MAX);
            self.produced = self.produced.saturating_add(made);
            if let Some(out) = self.keep.as_deref_mut() {
                out.extend_from_slice(&buf[..made]);
            }
            let consumed_now = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            self.budget
                .check_inflated(consumed_now.max(1), self.produced)?;
            calls += 1;
            if calls.is_multiple_of(256) {
                self.budget.tick()?;
            }
            match status {
                Ok(Status::StreamEnd) => return Ok(true),
                Err(_) => return Ok(false),
                Ok(_) if made == 0 && consumed_now == consumed => {
                    // No progress: the input ended before the deflate stream did.
                    return Ok(true);
                }
                Ok(_) => {}
            }
        }
    }
}

/// The object numbers a cross-reference stream names as containers of compressed objects
/// (type 2 entries, ISO 32000-2 §7.5.8.3), from its inflated content. `None` when the
/// content cannot be read (an unknown predictor, malformed `/W` or `/Index`).
fn compressed_containers(d: &Dictionary, content: &[u8]) -> Option<Vec<u64>> {
    let ints = |o: &Object| -> Option<Vec<usize>> {
        match o {
            Object::Array(a) => a
                .iter()
                .map(|x| match x {
                    Object::Integer(i) => usize::try_from(*i).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    };
    let w = ints(d.get(b"W").ok()?)?;
    let [w1, w2, w3] = w.as_slice() else {
        return None;
    };
    if *w1 > 8 || *w2 > 8 || *w3 > 8 {
        return None;
    }
    let row = w1 + w2 + w3;
    if row == 0 {
        return None;
    }
    let params = match d.get(b"DecodeParms") {
        Ok(Object::Dictionary(p)) => Some(p),
        Ok(Object::Array(a)) => match a.first() {
            Some(Object::Dictionary(p)) => Some(p),
            _ => None,
        },
        _ => None,
    };
    let predictor = params
        .and_then(|p| p.get(b"Predictor").ok())
        .and_then(|p| p.as_i64().ok())
        .unwrap_or(1);
    let rows: Vec<u8> = match predictor {
        1 => content.to_vec(),
        10..=15 => {
            let columns = params
                .and_then(|p| p.get(b"Columns").ok())
                .and_then(|c| c.as_i64().ok())
                .and_then(|c| usize::try_from(c).ok())
                .unwrap_or(1)
                .max(1);
            if columns != row {
                return None;
            }
            lopdf::filters::png::decode_frame(content, 1, columns).ok()?
        }
        _ => return None,
    };
    let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let mut out = Vec::new();
    for entry in rows.chunks_exact(row) {
        let ty = if *w1 == 0 { 1 } else { be(&entry[..*w1]) };
        if ty == 2 {
            out.push(be(&entry[*w1..w1 + w2]));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Limits;
    use std::io::Write;

    fn budget(max_ratio: usize) -> Budget {
        Budget::new(&Limits {
            max_ratio,
            ..Limits::default()
        })
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn object(number: u32, dict: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{number} 0 obj\n<< {dict} /Length {} >>\nstream\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendstream\nendobj\n");
        out
    }

    fn file(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        for o in objects {
            out.extend_from_slice(o);
        }
        let xref = out.len();
        out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 9 >>\n");
        out.extend_from_slice(format!("startxref\n{xref}\n%%EOF\n").as_bytes());
        out
    }

    fn limit_of(data: &[u8], b: &Budget) -> Option<&'static str> {
        match check(data, 0, b) {
            Ok(_) => None,
            Err(Refusal::Limit(l)) => Some(l.limit),
            Err(Refusal::Encrypted) => Some("encrypted"),
        }
    }

    #[test]
    fn the_grammar_reads_what_lopdf_reads() {
        let b = budget(1000);
        let mut p = Parser {
            data: b"<< /T#79pe /Obj#53tm /A [1 (a(b)c) <41 42> 3 0 R -1.5 true null] /B << /C /D >> % c\n /N 2 >>",
            budget: &b,
        };
        let (o, end) = p.value(0, PARSER_MAX_NESTING).unwrap().unwrap();
        // `skip` ends where `value` ends, on this input and on every prefix of it.
        assert_eq!(p.skip(0, PARSER_MAX_NESTING).unwrap(), Some(end));
        let whole = p.data;
        for cut in 0..whole.len() {
            let mut q = Parser {
                data: &whole[..cut],
                budget: &b,
            };
            let by_value = q.value(0, PARSER_MAX_NESTING).unwrap().map(|(_, e)| e);
            assert_eq!(
                q.skip(0, PARSER_MAX_NESTING).unwrap(),
                by_value,
                "prefix {cut}"
            );
        }
        let Object::Dictionary(d) = o else { panic!() };
        assert!(type_is(&d, b"ObjStm"));
        assert_eq!(d.get(b"N").unwrap(), &Object::Integer(2));
        match d.get(b"A").unwrap() {
            Object::Array(a) => {
                assert_eq!(a.len(), 7);
                assert_eq!(a[3], Object::Reference((3, 0)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(header_number(b"x\n12 0 obj", 7), Some((2, 4)));
        assert_eq!(header_number(b"12 %c\n0 obj", 8), None);
        assert_eq!(header_at(b"  %c\n 7 0 obj<<>>", 0), Some(10));
    }

    #[test]
    fn an_object_stream_bomb_is_refused_by_ratio() {
        let bomb = zlib(&vec![b' '; 8 << 20]);
        let data = file(&[object(
            5,
            "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
            &bomb,
        )]);
        assert_eq!(limit_of(&data, &budget(1000)), Some("max_ratio"));
        // A generous ratio lets it through (it is under max_decompressed_bytes).
        assert_eq!(limit_of(&data, &budget(100_000)), None);
    }

    #[test]
    fn every_prefix_is_held_to_the_ratio() {
        // A bomb, then incompressible bytes: the whole stream's ratio is low.
        let mut raw = vec![b' '; 8 << 20];
        let mut noise = 0x1234_5678u32;
        for _ in 0..(1 << 20) {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            raw.push(noise.to_le_bytes()[0]);
        }
        let z = zlib(&raw);
        assert!(raw.len() / z.len() < 20, "the whole stream's ratio is low");
        let dict = "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode";
        // The parser may stop early (a revision boundary inside the data, a wrong /Length it
        // repairs), so even with a direct /Length the bomb at the front is refused ...
        assert_eq!(
            limit_of(&file(&[object(5, dict, &z)]), &budget(1000)),
            Some("max_ratio")
        );
        // ... as with an indirect one, which could say anything (`6 0 R` says 9000).
        let mut indirect = format!("5 0 obj\n<< {dict} /Length 6 0 R >>\nstream\n").into_bytes();
        indirect.extend_from_slice(&z);
        indirect.extend_from_slice(b"\nendstream\nendobj\n6 0 obj 9000 endobj\n");
        assert_eq!(
            limit_of(&file(&[indirect]), &budget(1000)),
            Some("max_ratio")
        );
    }

    #[test]
    fn containers_named_by_an_xref_stream_are_checked_whatever_their_type() {
        let bomb = zlib(&vec![b' '; 8 << 20]);
        // xref stream: W [1 1 1], one entry: type 2, container 6, index 0.
        let xref = object(7, "/Type /XRef /W [1 1 1] /Size 8 /Index [3 1]", &[2, 6, 0]);
        let disguised = object(
            6,
            "/Type /XObject /Subtype /Form /Filter /FlateDecode",
            &bomb,
        );
        assert_eq!(
            limit_of(&file(&[xref.clone(), disguised.clone()]), &budget(1000)),
            Some("max_ratio")
        );
        // Not named by any xref stream: an ordinary form XObject, not inflated here.
        let free = object(
            8,
            "/Type /XObject /Subtype /Form /Filter /FlateDecode",
            &bomb,
        );
        assert_eq!(limit_of(&file(&[xref, free]), &budget(1000)), None);
    }

    #[test]
    fn a_stream_at_a_startxref_offset_is_checked_whatever_its_type() {
        let bomb = zlib(&vec![b' '; 8 << 20]);
        let mut data = b"%PDF-1.7\n".to_vec();
        let at = data.len();
        data.extend_from_slice(&object(9, "/Type /Junk /Filter /FlateDecode", &bomb));
        data.extend_from_slice(format!("startxref\n{at}\n%%EOF\n").as_bytes());
        assert_eq!(limit_of(&data, &budget(1000)), Some("max_ratio"));
    }

    #[test]
    fn chains_need_a_direct_length_and_are_capped() {
        let twice = zlib(&zlib(&vec![0u8; 4 << 20]));
        let chain = "/Type /ObjStm /N 1 /First 4 /Filter [/FlateDecode /FlateDecode]";
        assert_eq!(
            limit_of(&file(&[object(5, chain, &twice)]), &budget(1000)),
            Some("max_ratio")
        );
        let mut indirect = format!("5 0 obj\n<< {chain} /Length 6 0 R >>\nstream\n").into_bytes();
        indirect.extend_from_slice(&zlib(b"1 0 "));
        indirect.extend_from_slice(b"\nendstream\nendobj\n");
        let e = check(&file(&[indirect]), 0, &budget(1000));
        assert!(matches!(e, Err(Refusal::Limit(l)) if l.limit == "max_ratio"));
        // A small honest chain passes.
        let small = zlib(&zlib(b"1 0 << /A 1 >>"));
        assert_eq!(
            limit_of(&file(&[object(5, chain, &small)]), &budget(1000)),
            None
        );
    }

    #[test]
    fn object_counts_and_encryption_stop_here() {
        let data = file(&[object(
            5,
            "/Type /ObjStm /N 99999999 /First 4 /Filter /FlateDecode",
            &zlib(b"1 0 "),
        )]);
        assert_eq!(limit_of(&data, &budget(1000)), Some("max_objects"));
        let mut enc = file(&[object(
            5,
            "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
            &zlib(b"1 0 "),
        )]);
        enc.extend_from_slice(b"trailer\n<< /Size 9 /Encr#79pt 3 0 R >>\n");
        assert_eq!(limit_of(&enc, &budget(1000)), Some("encrypted"));
    }

    #[test]
    fn raw_deflate_behind_a_broken_zlib_header_is_checked() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b' '; 8 << 20]).unwrap();
        let mut body = b"XX".to_vec();
        body.extend_from_slice(&e.finish().unwrap());
        let data = file(&[object(
            5,
            "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
            &body,
        )]);
        assert_eq!(limit_of(&data, &budget(1000)), Some("max_ratio"));
    }
}

#[cfg(test)]
mod hex_string_tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-by-byte reading `hex_string` replaced: hex digits and white space, then `>`.
    fn stepwise(d: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        while j < d.len() && (d[j].is_ascii_hexdigit() || is_ws(d[j])) {
            j += 1;
        }
        (j < d.len() && d[j] == b'>').then_some(j + 1)
    }

    proptest! {
        #[test]
        fn hex_strings_end_where_a_stepwise_reading_ends(
            body in proptest::collection::vec(
                prop::sample::select(b"0123456789abcdefABCDEF \t\r\n\0\x0c>)x<g".to_vec()),
                0..64,
            )
        ) {
            let mut data = vec![b'<'];
            data.extend_from_slice(&body);
            let b = Budget::new(&crate::verify::Limits::default());
            let p = Parser { data: &data, budget: &b };
            prop_assert_eq!(p.hex_string(0).map(|(_, end)| end), stepwise(&data, 0));
        }
    }
}
