//! ByteRange and `/Contents` structure (ISO 32000-2 §12.8.1; the Universal Signature Forgery
//! and Signature Wrapping attacks of Mladenov et al., "1 Trillion Dollar Refund", 2019).
//!
//! A signature is accepted structurally only when its `/ByteRange` is `[0 a b c]` with four
//! non-negative integers, `a < b`, the gap `[a, b)` holds exactly this signature dictionary's
//! `/Contents` hex string (the dictionary's own `/Contents` key right before it, its `endobj`
//! after it), and `b + c` ends exactly at a revision's `%%EOF` (with or without its end-of-line).

use lopdf::{Dictionary, Object};

use super::document::Revision;
use super::gaps::Blanked;

/// What a valid ByteRange tells about the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedSpan {
    /// `[0, a, b, c]`.
    pub range: [usize; 4],
    /// Index into the revision list of the revision it covers.
    pub revision: usize,
    /// The decoded `/Contents` bytes (CMS plus zero padding).
    pub contents: Vec<u8>,
    /// Index of the gap in the parsed view, when the view had it blanked.
    pub blanked_gap: Option<usize>,
}

/// Read the `/ByteRange` as four integers, or say what is wrong with it.
pub(crate) fn read_byte_range(sig: &Dictionary) -> Result<Vec<i64>, String> {
    let obj = sig
        .get(b"ByteRange")
        .map_err(|_| "the signature has no /ByteRange".to_string())?;
    let Object::Array(items) = obj else {
        return Err("/ByteRange is not a direct array".into());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Object::Integer(i) => out.push(*i),
            _ => return Err("/ByteRange holds a value that is not an integer".into()),
        }
    }
    Ok(out)
}

/// Check the ByteRange and `/Contents` of signature dictionary `sig` (object `sig_offset` in
/// the file) against the file and its revisions.
pub(crate) fn check(
    data: &[u8],
    revisions: &[Revision],
    sig: &Dictionary,
    sig_offset: Option<usize>,
    blanked: Option<&Blanked>,
) -> Result<SignedSpan, String> {
    let raw = read_byte_range(sig)?;
    if raw.len() != 4 {
        return Err(format!("/ByteRange has {} numbers, not 4", raw.len()));
    }
    if raw.iter().any(|v| *v < 0) {
        return Err("/ByteRange holds a negative number".into());
    }
    let r: Vec<usize> = raw
        .iter()
        .map(|v| usize::try_from(*v).unwrap_or(usize::MAX))
        .collect();
    let (start, a, b, c) = (r[0], r[1], r[2], r[3]);
    if start != 0 {
        return Err("/ByteRange does not start at offset 0".into());
    }
    if a == 0 || b <= a {
        return Err("/ByteRange ranges are empty or overlap".into());
    }
    let end = b
        .checked_add(c)
        .ok_or_else(|| "/ByteRange overflows".to_string())?;
    if end > data.len() {
        return Err("/ByteRange runs past the end of the file".into());
    }
    let revision = revisions
        .iter()
        .position(|rev| rev.end == end || rev.marker_end == end)
        .ok_or_else(|| {
            "/ByteRange does not end at a revision's %%EOF (signature wrapping)".to_string()
        })?;

    // The gap: exactly one hex string.
    let gap = &data[a..b];
    if gap.len() < 2 || gap[0] != b'<' || gap[gap.len() - 1] != b'>' {
        return Err("the unsigned gap is not exactly one hex string".into());
    }
    let decoded = decode_hex(&gap[1..gap.len() - 1])
        .ok_or_else(|| "the unsigned gap holds something other than hex digits".to_string())?;
    let contents = match sig.get(b"Contents") {
        Ok(Object::String(s, _)) => s,
        Ok(_) => return Err("/Contents is not a string".into()),
        Err(_) => return Err("the signature has no /Contents".into()),
    };
    // In a view with this gap blanked (super::gaps), the parser read the gap's marker.
    let blank = blanked.and_then(|bl| bl.gap(a, b));
    let parsed_as: &[u8] = match blank {
        Some((_, g)) => &g.marker,
        None => &decoded,
    };
    if contents.as_slice() != parsed_as {
        return Err(
            "the unsigned gap does not hold this signature's /Contents (signature wrapping)".into(),
        );
    }
    if decoded.is_empty() {
        return Err("/Contents is empty".into());
    }

    // The gap lies inside this signature dictionary, right after its /Contents key.
    let Some(obj_start) = sig_offset else {
        return Err("the signature dictionary is not a plain indirect object".into());
    };
    if obj_start >= a {
        return Err("the unsigned gap lies before the signature dictionary".into());
    }
    let before = &data[obj_start..a];
    if before.windows(6).any(|w| w == b"endobj") {
        return Err("the unsigned gap lies outside the signature dictionary".into());
    }
    let key_end = before
        .iter()
        .rposition(|ch| !ch.is_ascii_whitespace())
        .map(|p| p + 1)
        .unwrap_or(0);
    if !before[..key_end].ends_with(b"/Contents") {
        return Err("the unsigned gap is not the value of /Contents".into());
    }
    let after = &data[b..end.min(data.len())];
    if !after.windows(6).any(|w| w == b"endobj") {
        return Err("the signature dictionary does not end inside the signed range".into());
    }
    Ok(SignedSpan {
        range: [start, a, b, c],
        revision,
        contents: decoded,
        blanked_gap: blank.map(|(k, _)| k),
    })
}

/// Value of each byte as a hex digit, 0xff when it is not one.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decode an even number of hex digits (no whitespace), `None` on anything else.
fn decode_hex(digits: &[u8]) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    let mut bad = 0u8;
    for pair in digits.chunks_exact(2) {
        let hi = HEX[usize::from(pair[0])];
        let lo = HEX[usize::from(pair[1])];
        bad |= (hi | lo) & 0xf0;
        out.push((hi << 4) | (lo & 0x0f));
    }
    (bad == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_decoding_is_strict() {
        assert_eq!(super::decode_hex(b"0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(super::decode_hex(b"0a F"), None);
        assert_eq!(super::decode_hex(b"abc"), None);
        assert_eq!(super::decode_hex(b""), Some(vec![]));
    }

    use super::*;

    #[test]
    fn byte_range_must_be_integers() {
        let mut d = Dictionary::new();
        assert!(read_byte_range(&d).unwrap_err().contains("no /ByteRange"));
        d.set(
            "ByteRange",
            Object::Array(vec![0.into(), Object::Real(1.5)]),
        );
        assert!(read_byte_range(&d).unwrap_err().contains("not an integer"));
        d.set("ByteRange", Object::Null);
        assert!(
            read_byte_range(&d)
                .unwrap_err()
                .contains("not a direct array")
        );
        d.set(
            "ByteRange",
            Object::Array(vec![0.into(), 1.into(), 2.into(), 3.into()]),
        );
        assert_eq!(read_byte_range(&d).unwrap(), vec![0, 1, 2, 3]);
    }
}
