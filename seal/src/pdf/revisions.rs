//! Revisions of a PDF file (ISO 32000-2 §7.5.6): each incremental update ends with `%%EOF`.
//!
//! A revision's *end* is the offset just past its `%%EOF` marker and the end-of-line that
//! follows it (CR, LF or CR LF), if any. Signature ByteRanges must end exactly there.

/// End offsets of every revision, in file order. The last entry is the whole file's last
/// revision; bytes after it (garbage after the final `%%EOF`) are not a revision.
pub fn revision_ends(data: &[u8]) -> Vec<usize> {
    const MARKER: &[u8] = b"%%EOF";
    let mut ends = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&data[i..], MARKER) {
        let mut end = i + pos + MARKER.len();
        // The marker must start a line (or the file) to count.
        let starts_line = i + pos == 0 || matches!(data[i + pos - 1], b'\n' | b'\r');
        if data.get(end) == Some(&b'\r') {
            end += 1;
        }
        if data.get(end) == Some(&b'\n') {
            end += 1;
        }
        if starts_line {
            ends.push(end);
        }
        i = end.max(i + pos + 1);
    }
    ends
}

/// The end of the last revision ([`revision_ends`]'s last entry), found from the end of the
/// file without scanning all of it.
pub fn last_revision_end(data: &[u8]) -> Option<usize> {
    const MARKER: &[u8] = b"%%EOF";
    let mut upto = data.len();
    while let Some(pos) = memchr::memmem::rfind(&data[..upto], MARKER) {
        if pos == 0 || matches!(data[pos - 1], b'\n' | b'\r') {
            let mut end = pos + MARKER.len();
            if data.get(end) == Some(&b'\r') {
                end += 1;
            }
            if data.get(end) == Some(&b'\n') {
                end += 1;
            }
            return Some(end);
        }
        upto = pos + MARKER.len() - 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// The value of the last `startxref` before `end` (the xref offset of the revision ending there).
pub fn startxref_before(data: &[u8], end: usize) -> Option<usize> {
    let window = &data[..end.min(data.len())];
    let pos = memchr::memmem::rfind(window, b"startxref")?;
    let rest = &window[pos + 9..];
    let digits: Vec<u8> = rest
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_revision_end_with_its_eol() {
        let data = b"%PDF-1.7\n1 0 obj\n%%EOF\nmore\r\n%%EOF\r\n";
        assert_eq!(revision_ends(data), vec![23, data.len()]);
        assert_eq!(revision_ends(b"%PDF\n%%EOF"), vec![10]);
        // not at the start of a line: a comment, not a marker
        assert_eq!(revision_ends(b"%PDF\nx %%EOF\n"), Vec::<usize>::new());
    }

    #[test]
    fn last_revision_end_matches_the_forward_scan() {
        for data in [
            &b"%PDF-1.7\n1 0 obj\n%%EOF\nmore\r\n%%EOF\r\n"[..],
            b"%PDF\n%%EOF",
            b"%PDF\nx %%EOF\n",
            b"%PDF\n%%EOF\nx %%EOF\n",
            b"%%EOF%%EOF",
            b"",
        ] {
            assert_eq!(
                last_revision_end(data),
                revision_ends(data).last().copied(),
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn reads_startxref() {
        let d = b"xref\n...\nstartxref\n  1234\n%%EOF\n";
        assert_eq!(startxref_before(d, d.len()), Some(1234));
        assert_eq!(startxref_before(b"nothing", 7), None);
    }
}
