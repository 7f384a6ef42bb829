//! Per-document subsets of a CID-keyed CFF font (Adobe Technical Note #5176, The Compact Font
//! Format Specification), made in microseconds.
//!
//! Embedding a font means writing a subset holding only the glyphs a document uses
//! (ISO 32000-1 §9.6.4, §9.9: `FontFile3` with subtype `CIDFontType0C`). A general subsetter
//! spends most of its time inlining subroutines into every kept glyph program; here that work is
//! done once per glyph per process: the first time a glyph is needed, the `subsetter` crate
//! desubroutinises it, and its standalone charstring is cached. A document's subset is then
//! assembled from cached charstrings: header, the source's Name and String INDEXes, a new Top
//! DICT, an empty global subroutine INDEX, a range charset and a format-0 FDSelect (CID = new
//! glyph id), the CharStrings INDEX, and the font dicts and Private DICTs the glyphs use (with
//! their `Subrs` entries dropped).

use std::sync::{Arc, RwLock};

/// Why a font cannot be read or subset (a defect of the committed font, never of user input).
#[derive(Debug, thiserror::Error)]
#[error("CFF font: {0}")]
pub struct CffError(pub String);

fn err(msg: impl Into<String>) -> CffError {
    CffError(msg.into())
}

fn u16_at(d: &[u8], at: usize) -> Result<u16, CffError> {
    d.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| err(format!("truncated at {at}")))
}

fn u8_at(d: &[u8], at: usize) -> Result<u8, CffError> {
    d.get(at)
        .copied()
        .ok_or_else(|| err(format!("truncated at {at}")))
}

/// An INDEX at `at`: its items and the offset just past it.
fn parse_index(d: &[u8], at: usize) -> Result<(Vec<&[u8]>, usize), CffError> {
    let count = usize::from(u16_at(d, at)?);
    if count == 0 {
        return Ok((Vec::new(), at + 2));
    }
    let off_size = usize::from(u8_at(d, at + 2)?);
    if !(1..=4).contains(&off_size) {
        return Err(err(format!("INDEX at {at}: offSize {off_size}")));
    }
    let offsets_at = at + 3;
    let data_at = offsets_at + (count + 1) * off_size - 1;
    let read_off = |i: usize| -> Result<usize, CffError> {
        let b = d
            .get(offsets_at + i * off_size..offsets_at + (i + 1) * off_size)
            .ok_or_else(|| err("truncated INDEX offsets"))?;
        Ok(b.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x)))
    };
    let mut items = Vec::with_capacity(count);
    let mut prev = read_off(0)?;
    for i in 1..=count {
        let next = read_off(i)?;
        let item = d
            .get(data_at + prev..data_at + next)
            .ok_or_else(|| err(format!("INDEX at {at}: item {i} out of range")))?;
        items.push(item);
        prev = next;
    }
    Ok((items, data_at + prev))
}

/// Two-byte operators are stored as `0x0c00 | second byte`.
const OP_CHARSET: u16 = 15;
const OP_ENCODING: u16 = 16;
const OP_CHARSTRINGS: u16 = 17;
const OP_PRIVATE: u16 = 18;
const OP_SUBRS: u16 = 19;
const OP_ROS: u16 = 0x0c1e;
const OP_CID_COUNT: u16 = 0x0c22;
const OP_FD_ARRAY: u16 = 0x0c24;
const OP_FD_SELECT: u16 = 0x0c25;

/// One DICT entry: operator, the raw operand bytes, and the integer operands.
#[derive(Clone, Debug)]
struct DictEntry {
    op: u16,
    raw: Vec<u8>,
    ints: Vec<i64>,
}

fn parse_dict(d: &[u8]) -> Result<Vec<DictEntry>, CffError> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut start = 0;
    let mut ints = Vec::new();
    while i < d.len() {
        let b0 = d[i];
        match b0 {
            0..=21 => {
                let (op, len) = if b0 == 12 {
                    (0x0c00 | u16::from(u8_at(d, i + 1)?), 2)
                } else {
                    (u16::from(b0), 1)
                };
                out.push(DictEntry {
                    op,
                    raw: d.get(start..i).unwrap_or_default().to_vec(),
                    ints: std::mem::take(&mut ints),
                });
                i += len;
                start = i;
            }
            28 => {
                ints.push(i64::from(i16::from_be_bytes([
                    u8_at(d, i + 1)?,
                    u8_at(d, i + 2)?,
                ])));
                i += 3;
            }
            29 => {
                let b = d.get(i + 1..i + 5).ok_or_else(|| err("truncated int"))?;
                ints.push(i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])));
                i += 5;
            }
            30 => {
                // Real: nibbles up to and including a 0xf nibble.
                i += 1;
                loop {
                    let b = u8_at(d, i)?;
                    i += 1;
                    if b & 0x0f == 0x0f || b >> 4 == 0x0f {
                        break;
                    }
                }
                ints.push(0);
            }
            32..=246 => {
                ints.push(i64::from(b0) - 139);
                i += 1;
            }
            247..=250 => {
                ints.push((i64::from(b0) - 247) * 256 + i64::from(u8_at(d, i + 1)?) + 108);
                i += 2;
            }
            251..=254 => {
                ints.push(-(i64::from(b0) - 251) * 256 - i64::from(u8_at(d, i + 1)?) - 108);
                i += 2;
            }
            _ => return Err(err(format!("reserved DICT byte {b0}"))),
        }
    }
    Ok(out)
}

fn find(dict: &[DictEntry], op: u16) -> Option<&DictEntry> {
    dict.iter().find(|e| e.op == op)
}

fn write_op(out: &mut Vec<u8>, op: u16) {
    if op >= 0x0c00 {
        out.push(12);
        out.push((op & 0xff) as u8);
    } else {
        out.push(op as u8);
    }
}

/// A DICT integer in the fixed five-byte form (so layouts can be computed before offsets).
fn write_int5(out: &mut Vec<u8>, v: usize) {
    out.push(29);
    out.extend_from_slice(&(v as u32).to_be_bytes());
}

fn write_index<T: AsRef<[u8]>>(out: &mut Vec<u8>, items: &[T]) {
    let count = items.len();
    out.extend_from_slice(&(count as u16).to_be_bytes());
    if count == 0 {
        return;
    }
    let total: usize = items.iter().map(|i| i.as_ref().len()).sum::<usize>() + 1;
    let off_size = match total {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        _ => 4,
    };
    out.push(off_size as u8);
    let mut off = 1usize;
    let push_off = |out: &mut Vec<u8>, v: usize| {
        let b = (v as u32).to_be_bytes();
        out.extend_from_slice(&b[4 - off_size..]);
    };
    push_off(out, off);
    for item in items {
        off += item.as_ref().len();
        push_off(out, off);
    }
    for item in items {
        out.extend_from_slice(item.as_ref());
    }
}

fn index_len(items_total: usize, count: usize) -> usize {
    if count == 0 {
        return 2;
    }
    let off_size = match items_total + 1 {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        _ => 4,
    };
    3 + (count + 1) * off_size + items_total
}

/// One font dict of the FDArray: its entries (without `Private`) and its Private DICT (without
/// `Subrs`), both re-encoded.
#[derive(Clone, Debug)]
struct FontDict {
    entries: Vec<u8>,
    private: Vec<u8>,
}

/// The parts of a CID-keyed CFF font a subset is built from, read once.
pub(crate) struct CffSource {
    otf: &'static [u8],
    name_index: Vec<u8>,
    /// Top DICT entries other than the offsets and CIDCount, ROS first.
    top: Vec<u8>,
    string_index: Vec<u8>,
    fd_dicts: Vec<FontDict>,
    /// FD index of every glyph.
    fd_select: Vec<u8>,
    num_glyphs: u16,
    /// Desubroutinised charstrings, filled on first use.
    cache: RwLock<Vec<Option<Arc<[u8]>>>>,
}

fn reencode(entries: &[DictEntry], skip: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| !skip.contains(&e.op)) {
        out.extend_from_slice(&e.raw);
        write_op(&mut out, e.op);
    }
    out
}

/// The `CFF ` table of an OpenType font.
fn cff_table(otf: &[u8]) -> Result<&[u8], CffError> {
    let raw = ttf_parser::RawFace::parse(otf, 0).map_err(|e| err(e.to_string()))?;
    raw.table(ttf_parser::Tag::from_bytes(b"CFF "))
        .ok_or_else(|| err("no CFF table (not a CFF-flavoured OpenType font)"))
}

fn usize_of(e: Option<&DictEntry>, i: usize, what: &str) -> Result<usize, CffError> {
    e.and_then(|e| e.ints.get(i))
        .and_then(|v| usize::try_from(*v).ok())
        .ok_or_else(|| err(format!("missing or bad {what}")))
}

impl CffSource {
    /// Read the CFF table of `otf` (a CID-keyed CFF OpenType font).
    pub(crate) fn parse(otf: &'static [u8]) -> Result<Self, CffError> {
        let d = cff_table(otf)?;
        let hdr_size = usize::from(u8_at(d, 2)?);
        let (_, name_end) = parse_index(d, hdr_size)?;
        let name_index = d.get(hdr_size..name_end).unwrap_or_default().to_vec();
        let (tops, top_end) = parse_index(d, name_end)?;
        let top_dict = parse_dict(tops.first().ok_or_else(|| err("no Top DICT"))?)?;
        let (_, string_end) = parse_index(d, top_end)?;
        let string_index = d.get(top_end..string_end).unwrap_or_default().to_vec();
        if find(&top_dict, OP_ROS).is_none() {
            return Err(err("not a CID-keyed font (no ROS)"));
        }
        let cs_at = usize_of(find(&top_dict, OP_CHARSTRINGS), 0, "CharStrings")?;
        let (charstrings, _) = parse_index(d, cs_at)?;
        let num_glyphs = u16::try_from(charstrings.len()).map_err(|_| err("too many glyphs"))?;
        // FDSelect (formats 0 and 3).
        let fds_at = usize_of(find(&top_dict, OP_FD_SELECT), 0, "FDSelect")?;
        let mut fd_select = vec![0u8; usize::from(num_glyphs)];
        match u8_at(d, fds_at)? {
            0 => {
                let b = d
                    .get(fds_at + 1..fds_at + 1 + fd_select.len())
                    .ok_or_else(|| err("truncated FDSelect"))?;
                fd_select.copy_from_slice(b);
            }
            3 => {
                let n = usize::from(u16_at(d, fds_at + 1)?);
                for r in 0..n {
                    let at = fds_at + 3 + r * 3;
                    let first = usize::from(u16_at(d, at)?);
                    let fd = u8_at(d, at + 2)?;
                    let next = usize::from(u16_at(d, at + 3)?);
                    for g in fd_select
                        .get_mut(first..next.min(usize::from(num_glyphs)))
                        .unwrap_or_default()
                    {
                        *g = fd;
                    }
                }
            }
            f => return Err(err(format!("FDSelect format {f}"))),
        }
        // FDArray and the Private DICTs.
        let fda_at = usize_of(find(&top_dict, OP_FD_ARRAY), 0, "FDArray")?;
        let (fd_items, _) = parse_index(d, fda_at)?;
        let mut fd_dicts = Vec::with_capacity(fd_items.len());
        for item in fd_items {
            let entries = parse_dict(item)?;
            let private = find(&entries, OP_PRIVATE);
            let size = usize_of(private, 0, "Private size")?;
            let off = usize_of(private, 1, "Private offset")?;
            let pd = d
                .get(off..off + size)
                .ok_or_else(|| err("Private DICT out of range"))?;
            let pentries = parse_dict(pd)?;
            fd_dicts.push(FontDict {
                entries: reencode(&entries, &[OP_PRIVATE]),
                private: reencode(&pentries, &[OP_SUBRS]),
            });
        }
        if fd_select
            .iter()
            .any(|fd| usize::from(*fd) >= fd_dicts.len())
        {
            return Err(err("FDSelect names a missing font dict"));
        }
        // The Top DICT without the entries a subset rewrites; ROS stays first.
        let mut ordered: Vec<DictEntry> = top_dict
            .iter()
            .filter(|e| e.op == OP_ROS)
            .cloned()
            .collect();
        ordered.extend(top_dict.iter().filter(|e| e.op != OP_ROS).cloned());
        let top = reencode(
            &ordered,
            &[
                OP_CHARSET,
                OP_ENCODING,
                OP_CHARSTRINGS,
                OP_PRIVATE,
                OP_CID_COUNT,
                OP_FD_ARRAY,
                OP_FD_SELECT,
            ],
        );
        Ok(Self {
            otf,
            name_index,
            top,
            string_index,
            fd_dicts,
            fd_select,
            num_glyphs,
            cache: RwLock::new(vec![None; usize::from(num_glyphs)]),
        })
    }

    /// Number of glyphs of the source font.
    pub(crate) fn num_glyphs(&self) -> u16 {
        self.num_glyphs
    }

    /// Desubroutinise and cache every glyph of the font (a few hundred milliseconds).
    pub(crate) fn cache_all(&self) -> Result<(), CffError> {
        let all: Vec<u16> = (0..self.num_glyphs).collect();
        self.fill_cache(&all)
    }

    /// Desubroutinise the glyphs of `gids` not cached yet (one `subsetter` run for all).
    fn fill_cache(&self, gids: &[u16]) -> Result<(), CffError> {
        let missing: Vec<u16> = {
            let cache = self.cache.read().map_err(|_| err("cache lock poisoned"))?;
            gids.iter()
                .copied()
                .filter(|g| cache.get(usize::from(*g)).is_some_and(Option::is_none))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut remapper = subsetter::GlyphRemapper::new();
        for g in &missing {
            remapper.remap(*g);
        }
        let sub = subsetter::subset(self.otf, 0, &remapper)
            .map_err(|e| err(format!("subsetter: {e:?}")))?;
        let d = cff_table(&sub)?;
        let hdr_size = usize::from(u8_at(d, 2)?);
        let (_, name_end) = parse_index(d, hdr_size)?;
        let (tops, _) = parse_index(d, name_end)?;
        let top = parse_dict(tops.first().ok_or_else(|| err("subset has no Top DICT"))?)?;
        let cs_at = usize_of(find(&top, OP_CHARSTRINGS), 0, "subset CharStrings")?;
        let (charstrings, _) = parse_index(d, cs_at)?;
        let mut cache = self.cache.write().map_err(|_| err("cache lock poisoned"))?;
        for g in missing {
            let new = remapper
                .get(g)
                .ok_or_else(|| err("subsetter lost a glyph"))?;
            let cs = charstrings
                .get(usize::from(new))
                .ok_or_else(|| err("subset is missing a charstring"))?;
            if let Some(slot) = cache.get_mut(usize::from(g)) {
                *slot = Some(Arc::from(*cs));
            }
        }
        Ok(())
    }

    /// A CFF font holding `gids` (source glyph ids; `gids[0]` should be 0, `.notdef`) as CIDs
    /// 0, 1, 2, … in that order.
    pub(crate) fn subset(&self, gids: &[u16]) -> Result<Vec<u8>, CffError> {
        if gids.is_empty() || gids.len() > usize::from(u16::MAX) {
            return Err(err("a subset needs 1-65535 glyphs"));
        }
        if let Some(g) = gids.iter().find(|g| **g >= self.num_glyphs) {
            return Err(err(format!("glyph {g} is not in the font")));
        }
        self.fill_cache(gids)?;
        let charstrings: Vec<Arc<[u8]>> = {
            let cache = self.cache.read().map_err(|_| err("cache lock poisoned"))?;
            gids.iter()
                .map(|g| {
                    cache
                        .get(usize::from(*g))
                        .and_then(Clone::clone)
                        .ok_or_else(|| err("glyph missing from the cache"))
                })
                .collect::<Result<_, _>>()?
        };
        // Font dicts in first-use order.
        let mut fd_map: Vec<Option<u8>> = vec![None; self.fd_dicts.len()];
        let mut used_fds: Vec<usize> = Vec::new();
        let mut fd_select = Vec::with_capacity(gids.len());
        for g in gids {
            let old = usize::from(self.fd_select.get(usize::from(*g)).copied().unwrap_or(0));
            let new = match fd_map.get(old).copied().flatten() {
                Some(n) => n,
                None => {
                    let n = u8::try_from(used_fds.len()).map_err(|_| err("too many FDs"))?;
                    if let Some(slot) = fd_map.get_mut(old) {
                        *slot = Some(n);
                    }
                    used_fds.push(old);
                    n
                }
            };
            fd_select.push(new);
        }
        let n = gids.len();
        // Layout: header, Name INDEX, Top DICT INDEX, String INDEX, GSubr INDEX, charset,
        // FDSelect, CharStrings INDEX, FDArray INDEX, Private DICTs.
        // Five int5 operands; operators CIDCount (2), charset (1), FDSelect (2), CharStrings (1),
        // FDArray (2).
        let top_len = self.top.len() + 5 * 5 + 8;
        let mut at =
            4 + self.name_index.len() + index_len(top_len, 1) + self.string_index.len() + 2;
        let charset_at = at;
        at += if n > 1 { 5 } else { 1 };
        let fd_select_at = at;
        at += 1 + n;
        let charstrings_at = at;
        at += index_len(charstrings.iter().map(|c| c.len()).sum(), n);
        let fd_array_at = at;
        // Font dict i = entries + Private [size int5] (op 18 one byte).
        let fd_dict_lens: Vec<usize> = used_fds
            .iter()
            .filter_map(|i| self.fd_dicts.get(*i))
            .map(|f| f.entries.len() + 5 + 5 + 1)
            .collect();
        at += index_len(fd_dict_lens.iter().sum(), used_fds.len());
        let mut private_at = Vec::with_capacity(used_fds.len());
        for i in &used_fds {
            private_at.push(at);
            at += self.fd_dicts.get(*i).map_or(0, |f| f.private.len());
        }
        let total = at;

        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&[1, 0, 4, 4]);
        out.extend_from_slice(&self.name_index);
        let mut top = self.top.clone();
        write_int5(&mut top, n);
        write_op(&mut top, OP_CID_COUNT);
        write_int5(&mut top, charset_at);
        write_op(&mut top, OP_CHARSET);
        write_int5(&mut top, fd_select_at);
        write_op(&mut top, OP_FD_SELECT);
        write_int5(&mut top, charstrings_at);
        write_op(&mut top, OP_CHARSTRINGS);
        write_int5(&mut top, fd_array_at);
        write_op(&mut top, OP_FD_ARRAY);
        debug_assert_eq!(top.len(), top_len);
        write_index(&mut out, &[top]);
        out.extend_from_slice(&self.string_index);
        out.extend_from_slice(&[0, 0]); // empty global subroutines
        debug_assert_eq!(out.len(), charset_at);
        if n > 1 {
            // Format 2: one range, CIDs 1..n-1.
            out.push(2);
            out.extend_from_slice(&1u16.to_be_bytes());
            out.extend_from_slice(&((n - 2) as u16).to_be_bytes());
        } else {
            out.push(0);
        }
        out.push(0);
        out.extend_from_slice(&fd_select);
        write_index(&mut out, &charstrings);
        let fd_items: Vec<Vec<u8>> = used_fds
            .iter()
            .zip(&private_at)
            .filter_map(|(i, p_at)| {
                let f = self.fd_dicts.get(*i)?;
                let mut e = f.entries.clone();
                write_int5(&mut e, f.private.len());
                write_int5(&mut e, *p_at);
                write_op(&mut e, OP_PRIVATE);
                Some(e)
            })
            .collect();
        write_index(&mut out, &fd_items);
        for i in &used_fds {
            if let Some(f) = self.fd_dicts.get(*i) {
                out.extend_from_slice(&f.private);
            }
        }
        if out.len() != total {
            return Err(err(format!("layout error: {} != {total}", out.len())));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_numbers_decode() {
        // 139 → 0, 247 0 → 108, 251 0 → -108, 28 → i16, 29 → i32, then operator 17.
        let d = [139, 247, 0, 251, 0, 28, 0x12, 0x34, 29, 0, 1, 0, 0, 17];
        let e = parse_dict(&d).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].op, 17);
        assert_eq!(e[0].ints, vec![0, 108, -108, 0x1234, 0x10000]);
        // Two-byte operator and a real number (1.5 = 0x1a 0x5f).
        let e = parse_dict(&[30, 0x1a, 0x5f, 12, 30]).unwrap();
        assert_eq!(e[0].op, OP_ROS);
        assert!(parse_dict(&[255]).is_err());
        assert!(parse_dict(&[29, 0]).is_err());
    }

    #[test]
    fn subsets_are_well_formed_cid_fonts() {
        static FONT: &[u8] = include_bytes!("../../fonts/NotoSerifSC-Regular-GB2312.otf");
        let src = CffSource::parse(FONT).unwrap();
        let face = ttf_parser::Face::parse(FONT, 0).unwrap();
        let gids: Vec<u16> = ['许', 'A', '可', '，']
            .iter()
            .map(|c| face.glyph_index(*c).unwrap().0)
            .collect();
        let mut want = vec![0u16];
        want.extend(&gids);
        let sub = src.subset(&want).unwrap();
        // Header, then the source's Name INDEX, then one Top DICT.
        assert_eq!(&sub[..4], &[1, 0, 4, 4]);
        assert_eq!(&sub[4..4 + src.name_index.len()], src.name_index.as_slice());
        let (tops, _) = parse_index(&sub, 4 + src.name_index.len()).unwrap();
        let top = parse_dict(tops[0]).unwrap();
        assert_eq!(top[0].op, OP_ROS, "ROS comes first");
        assert_eq!(find(&top, OP_CID_COUNT).unwrap().ints, vec![5]);
        let cs_at = usize_of(find(&top, OP_CHARSTRINGS), 0, "").unwrap();
        let (charstrings, _) = parse_index(&sub, cs_at).unwrap();
        assert_eq!(charstrings.len(), 5);
        // Every charstring ends with endchar (14) and calls no subroutine (10, 29).
        for cs in &charstrings {
            assert_eq!(cs.last(), Some(&14));
        }
        let fds_at = usize_of(find(&top, OP_FD_SELECT), 0, "").unwrap();
        assert_eq!(sub[fds_at], 0, "FDSelect format 0");
        let fda_at = usize_of(find(&top, OP_FD_ARRAY), 0, "").unwrap();
        let (fds, _) = parse_index(&sub, fda_at).unwrap();
        assert!(
            sub[fds_at + 1..fds_at + 6]
                .iter()
                .all(|fd| usize::from(*fd) < fds.len())
        );
        for fd in fds {
            let e = parse_dict(fd).unwrap();
            let size = usize_of(find(&e, OP_PRIVATE), 0, "").unwrap();
            let off = usize_of(find(&e, OP_PRIVATE), 1, "").unwrap();
            let private = parse_dict(&sub[off..off + size]).unwrap();
            assert!(find(&private, OP_SUBRS).is_none());
        }
        // The same glyph twice in a process comes from the cache and gives the same bytes.
        assert_eq!(src.subset(&want).unwrap(), sub);
        assert!(src.subset(&[]).is_err());
        assert!(src.subset(&[0, src.num_glyphs()]).is_err());
    }

    #[test]
    fn index_round_trip() {
        for items in [
            vec![],
            vec![b"a".to_vec()],
            vec![vec![7u8; 300], b"xyz".to_vec()],
        ] {
            let mut out = vec![9u8];
            write_index(&mut out, &items);
            let total = items.iter().map(Vec::len).sum();
            assert_eq!(out.len() - 1, index_len(total, items.len()));
            let (parsed, end) = parse_index(&out, 1).unwrap();
            assert_eq!(end, out.len());
            assert_eq!(parsed, items.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
        assert!(parse_index(&[0, 2, 5], 0).is_err());
    }
}
