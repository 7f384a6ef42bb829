//! Parsing around the signatures' `/Contents` (a fast path with a proof obligation).
//!
//! A signature's `/Contents` is tens of kilobytes of hex digits (the CMS with its certificates
//! and, for a GB/T 38540 seal, the seal object and its picture), and `lopdf` tokenises it one
//! digit at a time: on a one-page licence that was a third of the verifier's time. The bytes
//! are not needed from the parser: the verifier decodes them from the file itself, from the
//! gap `/ByteRange` leaves ([`super::byterange`]).
//!
//! So the verifier first parses a *view* of the file in which each candidate gap — the
//! `[a, b)` of a `/ByteRange [0 a b c]` found in the raw bytes whose bytes are `<`, at least
//! 32 hex digits, hex digits and white space, `>` — reads `<` + a random 32-digit marker +
//! `>`, then white space where the original has hex digits and the original white space where
//! it has white space (so every end-of-line stays where it was and no comment changes
//! length). Every offset stays the same. The view's parse is then accepted only when
//! [`Blanked::confirm`] shows it can differ from the file's parse in nothing but those
//! signatures' `/Contents` values:
//!
//! - the pre-scan found no stream `lopdf` would inflate while loading (object and
//!   cross-reference streams), so no decompression sees changed bytes;
//! - each gap is the `/Contents` of exactly one signature dictionary, which
//!   [`super::byterange::check`] accepted with the marker as its parsed value (the raw checks
//!   place the gap right after that dictionary's own `/Contents` key), and that object is never
//!   rewritten at another offset in any revision;
//! - no string anywhere else in any revision (objects, stream dictionaries, trailers) holds the
//!   marker or its digits, so no other hex-string token, and no literal string spanning the gap,
//!   read changed bytes (a literal string cannot start or end inside a gap, so one touching a
//!   gap holds all of its marker);
//! - no stream's data overlaps a gap.
//!
//! The marker is random per verification, so a file cannot carry it in advance. When any of
//! this fails, or the view raises an error, the file is verified again the plain way, and that
//! result stands. Tests compare the two ways on the corpus and on mutated signed files.

use lopdf::{Document, Object, ObjectId};
use ring::rand::{SecureRandom, SystemRandom};

use super::document::Revision;
use super::prescan::{HEX_OR_SPACE, is_ws};

/// Hex digits of the marker at the start of a gap.
const MARKER_DIGITS: usize = 32;

/// One blanked gap.
#[derive(Debug, Clone)]
pub(crate) struct Gap {
    /// Offset of its `<`.
    pub start: usize,
    /// Offset just past its `>`.
    pub end: usize,
    /// The marker the view's parse reads as this gap's string.
    pub marker: [u8; 16],
    /// The marker's digits, as they stand in the view.
    digits: [u8; MARKER_DIGITS],
}

/// The gaps found in a file and the view with them blanked.
pub(crate) struct Blanked {
    pub view: Vec<u8>,
    pub gaps: Vec<Gap>,
}

/// Read `[0 a b c]` after `/ByteRange` at `i`: the four integers.
fn byte_range_at(data: &[u8], mut i: usize) -> Option<[usize; 4]> {
    let skip_space = |mut i: usize| {
        while i < data.len() && is_ws(data[i]) {
            i += 1;
        }
        i
    };
    i = skip_space(i);
    if data.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    let mut out = [0usize; 4];
    for v in &mut out {
        i = skip_space(i);
        let start = i;
        while i < data.len() && data[i].is_ascii_digit() && i - start < 19 {
            i += 1;
        }
        if i == start {
            return None;
        }
        *v = std::str::from_utf8(&data[start..i]).ok()?.parse().ok()?;
    }
    i = skip_space(i);
    (data.get(i) == Some(&b']')).then_some(out)
}

/// The candidate gaps: `[a, b)` of each raw `/ByteRange [0 a b c]` whose bytes are one hex
/// string starting with at least 32 hex digits; sorted, without overlaps.
fn candidates(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for at in memchr::memmem::find_iter(data, b"/ByteRange") {
        let Some([0, a, b, _]) = byte_range_at(data, at + b"/ByteRange".len()) else {
            continue;
        };
        if b > data.len() || b < a + MARKER_DIGITS + 2 {
            continue;
        }
        let gap = &data[a..b];
        if gap[0] != b'<'
            || gap[b - a - 1] != b'>'
            || !gap[1..=MARKER_DIGITS].iter().all(u8::is_ascii_hexdigit)
            || !gap[1..b - a - 1]
                .iter()
                .fold(true, |ok, &c| ok & HEX_OR_SPACE[usize::from(c)])
        {
            continue;
        }
        out.push((a, b));
    }
    out.sort_unstable();
    out.dedup();
    // Overlapping candidates cannot both be a signature's gap: keep neither.
    let mut keep = vec![true; out.len()];
    for i in 1..out.len() {
        if out[i].0 < out[i - 1].1 {
            keep[i] = false;
            keep[i - 1] = false;
        }
    }
    out.into_iter()
        .zip(keep)
        .filter_map(|(g, k)| k.then_some(g))
        .collect()
}

impl Blanked {
    /// The view of `data` with every candidate gap blanked, or `None` when there is none (or
    /// no randomness for the markers).
    pub(crate) fn new(data: &[u8]) -> Option<Self> {
        let found = candidates(data);
        if found.is_empty() {
            return None;
        }
        let mut random = vec![0u8; 16 * found.len()];
        SystemRandom::new().fill(&mut random).ok()?;
        let mut view = data.to_vec();
        let mut gaps = Vec::with_capacity(found.len());
        for (k, (start, end)) in found.into_iter().enumerate() {
            let mut marker = [0u8; 16];
            marker.copy_from_slice(&random[16 * k..16 * (k + 1)]);
            let mut digits = [0u8; MARKER_DIGITS];
            digits.copy_from_slice(hex::encode(marker).as_bytes());
            let body = &mut view[start + 1..end];
            body[..MARKER_DIGITS].copy_from_slice(&digits);
            body[MARKER_DIGITS] = b'>';
            for b in &mut body[MARKER_DIGITS + 1..] {
                if !is_ws(*b) {
                    *b = b' ';
                }
            }
            gaps.push(Gap {
                start,
                end,
                marker,
                digits,
            });
        }
        Some(Self { view, gaps })
    }

    /// The gap `[start, end)`, when it was blanked.
    pub(crate) fn gap(&self, start: usize, end: usize) -> Option<(usize, &Gap)> {
        self.gaps
            .iter()
            .enumerate()
            .find(|(_, g)| g.start == start && g.end == end)
    }

    /// Whether the view's parse of `revisions` can differ from the file's only in the
    /// `/Contents` of the signatures in `claims` (gap index, signature object, and the offset
    /// its `obj` header stands at), as the module documentation sets out.
    pub(crate) fn confirm(
        &self,
        revisions: &[Revision],
        claims: &[(usize, ObjectId, usize)],
        header: usize,
    ) -> bool {
        // Each gap claimed by exactly one signature object.
        let mut owner: Vec<Option<(ObjectId, usize)>> = vec![None; self.gaps.len()];
        for &(gap, id, offset) in claims {
            match owner.get_mut(gap) {
                Some(slot @ None) => *slot = Some((id, offset)),
                Some(Some(o)) if *o == (id, offset) => {}
                _ => return false,
            }
        }
        let owners: Vec<(ObjectId, usize)> = match owner.into_iter().collect::<Option<Vec<_>>>() {
            Some(o) => o,
            None => return false,
        };
        for rev in revisions {
            if rev.recovered {
                return false;
            }
            // The signature objects are never rewritten elsewhere.
            for (id, offset) in &owners {
                match rev.doc.reference_table.entries.get(&id.0) {
                    None => {}
                    Some(lopdf::xref::XrefEntry::Normal {
                        offset: o,
                        generation,
                    }) if *generation == id.1 && *o as usize + header == *offset => {}
                    Some(_) => return false,
                }
            }
            if !self.only_at_owners(&rev.doc, &owners) {
                return false;
            }
        }
        true
    }

    /// No marker anywhere in `doc` but as the `/Contents` of its owner, and no stream data
    /// over a gap.
    fn only_at_owners(&self, doc: &Document, owners: &[(ObjectId, usize)]) -> bool {
        if !self.clean_dict(&doc.trailer, None) {
            return false;
        }
        for (id, obj) in &doc.objects {
            let own = owners
                .iter()
                .position(|(o, _)| o == id)
                .map(|k| &self.gaps[k]);
            let ok = match obj {
                Object::Dictionary(d) => self.clean_dict(d, own),
                Object::Stream(s) => self.clean_stream(s),
                other => self.clean(other, 0),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// A signature dictionary's entries: its `/Contents` may be its own gap's marker.
    fn clean_dict(&self, d: &lopdf::Dictionary, own: Option<&Gap>) -> bool {
        d.iter().all(|(k, v)| match (own, k.as_slice(), v) {
            (Some(g), b"Contents", Object::String(s, _)) if s.as_slice() == g.marker => true,
            _ => self.clean(v, 1),
        })
    }

    fn clean_stream(&self, s: &lopdf::Stream) -> bool {
        if let Some(at) = s.start_position {
            let end = at.saturating_add(s.content.len());
            if self.gaps.iter().any(|g| at < g.end && g.start < end) {
                return false;
            }
        }
        self.clean_dict(&s.dict, None) && self.clean_bytes(&s.content)
    }

    fn clean(&self, o: &Object, depth: usize) -> bool {
        // `lopdf` nests at most 100 deep; deeper cannot come out of its parser.
        if depth > 128 {
            return false;
        }
        match o {
            Object::String(s, _) => self.clean_bytes(s),
            Object::Name(n) => self.clean_bytes(n),
            Object::Array(items) => items.iter().all(|i| self.clean(i, depth + 1)),
            Object::Dictionary(d) => d.iter().all(|(_, v)| self.clean(v, depth + 1)),
            Object::Stream(s) => self.clean_stream(s),
            _ => true,
        }
    }

    /// Neither a marker nor its digits in `bytes`.
    fn clean_bytes(&self, bytes: &[u8]) -> bool {
        self.gaps.iter().all(|g| {
            (bytes.len() < 16 || memchr::memmem::find(bytes, &g.marker).is_none())
                && (bytes.len() < MARKER_DIGITS || memchr::memmem::find(bytes, &g.digits).is_none())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_are_read_from_the_raw_bytes() {
        assert_eq!(byte_range_at(b" [0 10 20 30]", 0), Some([0, 10, 20, 30]));
        assert_eq!(byte_range_at(b"[ 0\n1 2 3 ]", 0), Some([0, 1, 2, 3]));
        assert_eq!(byte_range_at(b"[0 1 2]", 0), None);
        assert_eq!(byte_range_at(b"[0 1 2 x]", 0), None);
        assert_eq!(byte_range_at(b"[0 -1 2 3]", 0), None);
    }

    fn sample(contents: &str) -> Vec<u8> {
        let prefix = b"1 0 obj << /ByteRange [0 AAAA BBBB 10] /Contents ".to_vec();
        let a = prefix.len();
        let b = a + contents.len();
        let mut out = String::from_utf8(prefix).unwrap_or_default();
        out = out
            .replace("AAAA", &format!("{a:04}"))
            .replace("BBBB", &format!("{b:04}"));
        out.push_str(contents);
        out.push_str(" >> endobj");
        out.into_bytes()
    }

    #[test]
    fn a_gap_keeps_its_offsets_and_line_ends_and_reads_the_marker() {
        let digits = "ab".repeat(20);
        let contents = format!("<{digits}\n{digits}\r\n0000>");
        let data = sample(&contents);
        let blanked = Blanked::new(&data).expect("one gap");
        assert_eq!(blanked.view.len(), data.len());
        let g = &blanked.gaps[0];
        let view_gap = &blanked.view[g.start..g.end];
        assert_eq!(&view_gap[1..33], &g.digits[..]);
        assert_eq!(view_gap[33], b'>');
        for (i, (v, o)) in view_gap
            .iter()
            .zip(&data[g.start..g.end])
            .enumerate()
            .skip(34)
        {
            if is_ws(*o) {
                assert_eq!(v, o, "white space at {i} kept");
            } else {
                assert_eq!(*v, b' ', "digit at {i} blanked");
            }
        }
        assert_eq!(&blanked.view[..g.start], &data[..g.start]);
        assert_eq!(&blanked.view[g.end..], &data[g.end..]);
    }

    #[test]
    fn gaps_that_are_not_one_long_hex_string_are_left_alone() {
        for contents in [
            format!("<{}>", "ab".repeat(10)),  // too short for the marker
            format!("< {}>", "ab".repeat(20)), // white space before the marker
            format!("<{}x>", "ab".repeat(20)), // not hex
            format!("<{}) ", "ab".repeat(20)), // not closed by `>`
        ] {
            assert!(Blanked::new(&sample(&contents)).is_none(), "{contents}");
        }
    }
}
