//! The object graph of each revision (ISO 32000-2 §7.5.6), read with `lopdf`, and the graph
//! operations the verifier needs: resolving values under a depth bound, walking everything
//! reachable from the trailer, comparing objects across revisions, finding signature fields.

use std::collections::{HashSet, VecDeque};

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::limits::{Budget, LimitHit};
use crate::pdf::revisions::{revision_ends, startxref_before};

/// Why an encrypted document is not verified.
pub(crate) const ENCRYPTED: &str = "the PDF is encrypted; Chop does not verify encrypted documents";

/// One revision: the bytes up to its end, parsed.
pub(crate) struct Revision {
    /// Offset just past `%%EOF` and its end-of-line.
    pub end: usize,
    /// Offset just past `%%EOF` (before the end-of-line).
    pub marker_end: usize,
    /// The object graph as of this revision.
    pub doc: Document,
    /// `lopdf` had to repair the cross-reference data to read it.
    pub recovered: bool,
}

/// Why the file cannot be read as a PDF at all.
#[derive(Debug)]
pub(crate) enum LoadFailure {
    NotPdf(String),
    Limit(LimitHit),
}

/// Offset of the `%PDF-` header (ISO 32000-2 §7.5.2 allows nothing before it; readers
/// tolerate up to 1024 bytes of junk and so does Chop).
pub(crate) fn header_offset(data: &[u8]) -> Option<usize> {
    let window = &data[..data.len().min(1024 + 5)];
    window.windows(5).position(|w| w == b"%PDF-")
}

fn load_prefix(prefix: &[u8], budget: &Budget) -> Result<Document, LoadFailure> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(budget.limits.max_decompressed_bytes),
        ..lopdf::LoadOptions::default()
    };
    Document::load_mem_with_options(prefix, options).map_err(|e| {
        let text = e.to_string();
        if matches!(
            e,
            lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })
        ) || text.contains("MemoryLimitExceeded")
            || text.contains("memory limit")
        {
            LoadFailure::Limit(LimitHit::new(
                "max_decompressed_bytes",
                format!(
                    "a stream decompresses to more than {} bytes",
                    budget.limits.max_decompressed_bytes
                ),
            ))
        } else {
            LoadFailure::NotPdf(text)
        }
    })
}

/// Split the file into revisions and parse each one.
///
/// A `%%EOF` counts as a revision end when a `startxref` lies between it and the previous
/// revision end, and the prefix up to it parses; the last one must parse. The caller runs
/// [`super::prescan::check`] on the file first, which bounds the streams `lopdf` would
/// inflate by itself.
pub(crate) fn load_revisions(data: &[u8], budget: &Budget) -> Result<Vec<Revision>, LoadFailure> {
    if header_offset(data).is_none() {
        return Err(LoadFailure::NotPdf("no %PDF- header".into()));
    }
    let candidates = revision_ends(data);
    if candidates.is_empty() {
        return Err(LoadFailure::NotPdf("no %%EOF marker".into()));
    }
    let mut out: Vec<Revision> = Vec::new();
    let last_index = candidates.len() - 1;
    for (i, &end) in candidates.iter().enumerate() {
        budget.tick().map_err(LoadFailure::Limit)?;
        let prev_end = out.last().map(|r| r.end).unwrap_or(0);
        let window = &data[prev_end..end];
        let has_startxref = memchr::memmem::rfind(window, b"startxref").is_some();
        if !has_startxref || startxref_before(data, end).is_none() {
            if i == last_index && out.is_empty() {
                return Err(LoadFailure::NotPdf("no startxref before %%EOF".into()));
            }
            continue;
        }
        let doc = match load_prefix(&data[..end], budget) {
            Ok(d) => d,
            Err(LoadFailure::Limit(l)) => return Err(LoadFailure::Limit(l)),
            Err(e) if i == last_index => {
                if out.is_empty() {
                    return Err(e);
                }
                // The final candidate does not parse: the earlier revisions stand, and the
                // trailing bytes are reported as unsigned garbage by the caller.
                break;
            }
            Err(_) => continue,
        };
        let recovered = doc.xref_recovery.is_some();
        if recovered && i != last_index {
            // A prefix that only parses after repair is not a real revision boundary
            // (e.g. a `%%EOF` inside a stream).
            continue;
        }
        if doc.objects.len() > budget.limits.max_objects {
            return Err(LoadFailure::Limit(LimitHit::new(
                "max_objects",
                format!(
                    "a revision holds {} objects (limit {})",
                    doc.objects.len(),
                    budget.limits.max_objects
                ),
            )));
        }
        let mut marker_end = end;
        while marker_end > 0 && matches!(data[marker_end - 1], b'\r' | b'\n') {
            marker_end -= 1;
        }
        out.push(Revision {
            end,
            marker_end,
            doc,
            recovered,
        });
    }
    if out.is_empty() {
        return Err(LoadFailure::NotPdf("no revision could be read".into()));
    }
    Ok(out)
}

/// Follow references until a direct value, at most `max_depth` hops (a reference cycle or a
/// dangling reference yields `None`).
pub(crate) fn resolve<'a>(
    doc: &'a Document,
    obj: &'a Object,
    max_depth: usize,
) -> Option<&'a Object> {
    let mut cur = obj;
    for _ in 0..=max_depth {
        match cur {
            Object::Reference(id) => cur = doc.objects.get(id)?,
            other => return Some(other),
        }
    }
    None
}

/// A dictionary value (a dictionary or a stream's dictionary) behind `obj`.
pub(crate) fn as_dict<'a>(
    doc: &'a Document,
    obj: &'a Object,
    max_depth: usize,
) -> Option<&'a Dictionary> {
    match resolve(doc, obj, max_depth)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// The dictionary (or stream dictionary) of indirect object `id`.
pub(crate) fn dict_by_id(doc: &Document, id: ObjectId) -> Option<&Dictionary> {
    match doc.objects.get(&id)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// `dict[key]`, resolved.
pub(crate) fn get<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
    max_depth: usize,
) -> Option<&'a Object> {
    resolve(doc, dict.get(key).ok()?, max_depth)
}

/// `dict[key]` as a name.
pub(crate) fn get_name<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
    max_depth: usize,
) -> Option<&'a [u8]> {
    match get(doc, dict, key, max_depth)? {
        Object::Name(n) => Some(n),
        _ => None,
    }
}

/// The catalog dictionary and its id.
pub(crate) fn catalog(doc: &Document) -> Option<(ObjectId, &Dictionary)> {
    let id = doc.trailer.get(b"Root").ok()?.as_reference().ok()?;
    match doc.objects.get(&id)? {
        Object::Dictionary(d) => Some((id, d)),
        _ => None,
    }
}

/// Every reference held by `obj` (recursively through direct arrays and dictionaries),
/// refusing nesting deeper than `max_depth`.
pub(crate) fn references(obj: &Object, max_depth: usize) -> Result<Vec<ObjectId>, LimitHit> {
    let mut out = Vec::new();
    let mut stack: Vec<(&Object, usize)> = vec![(obj, 0)];
    while let Some((o, depth)) = stack.pop() {
        if depth > max_depth {
            return Err(LimitHit::new(
                "max_depth",
                format!("objects nested deeper than {max_depth} levels"),
            ));
        }
        match o {
            Object::Reference(id) => out.push(*id),
            Object::Array(a) => stack.extend(a.iter().map(|x| (x, depth + 1))),
            Object::Dictionary(d) => stack.extend(d.iter().map(|(_, v)| (v, depth + 1))),
            Object::Stream(s) => stack.extend(s.dict.iter().map(|(_, v)| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(out)
}

/// Everything reachable from the trailer's `/Root` and `/Info` (breadth first, cycles
/// visited once).
pub(crate) struct Reach {
    /// Every reached object, in visiting order.
    pub order: Vec<ObjectId>,
}

/// Walk the object graph from the trailer under the object-count, depth and time limits.
pub(crate) fn reachable(doc: &Document, budget: &Budget) -> Result<Reach, LimitHit> {
    let mut parent: HashSet<ObjectId> = HashSet::new();
    let mut order = Vec::new();
    let mut queue = VecDeque::new();
    for key in [&b"Root"[..], b"Info"] {
        if let Ok(Object::Reference(id)) = doc.trailer.get(key)
            && parent.insert(*id)
        {
            queue.push_back(*id);
        }
    }
    let max_objects = budget.limits.max_objects;
    while let Some(id) = queue.pop_front() {
        order.push(id);
        if order.len() % 4096 == 0 {
            budget.tick()?;
        }
        if order.len() > max_objects {
            return Err(LimitHit::new(
                "max_objects",
                format!("more than {max_objects} reachable objects"),
            ));
        }
        let Some(obj) = doc.objects.get(&id) else {
            continue;
        };
        for r in references(obj, budget.limits.max_depth)? {
            if parent.insert(r) {
                queue.push_back(r);
            }
        }
    }
    Ok(Reach { order })
}

/// Semantic equality of two PDF values: strings by bytes (literal and hex alike), numbers by
/// value, dictionaries as maps, streams by dictionary (ignoring `/Length`) and raw bytes.
pub(crate) fn same(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::Null, Object::Null) => true,
        (Object::Boolean(x), Object::Boolean(y)) => x == y,
        (Object::Integer(x), Object::Integer(y)) => x == y,
        (Object::Real(x), Object::Real(y)) => x == y,
        (Object::Integer(x), Object::Real(y)) | (Object::Real(y), Object::Integer(x)) => {
            (*x as f64) == f64::from(*y)
        }
        (Object::Name(x), Object::Name(y)) => x == y,
        (Object::String(x, _), Object::String(y, _)) => x == y,
        (Object::Reference(x), Object::Reference(y)) => x == y,
        (Object::Array(x), Object::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Object::Dictionary(x), Object::Dictionary(y)) => same_dict(x, y, false),
        (Object::Stream(x), Object::Stream(y)) => {
            x.content == y.content && same_dict(&x.dict, &y.dict, true)
        }
        _ => false,
    }
}

fn same_dict(a: &Dictionary, b: &Dictionary, ignore_length: bool) -> bool {
    let keys = |d: &Dictionary| -> HashSet<Vec<u8>> {
        d.iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !(ignore_length && k == b"Length"))
            .collect()
    };
    let ka = keys(a);
    if ka != keys(b) {
        return false;
    }
    ka.iter().all(|k| match (a.get(k), b.get(k)) {
        (Ok(x), Ok(y)) => same(x, y),
        _ => false,
    })
}

/// The keys whose values differ between two dictionaries (added, removed or changed).
pub(crate) fn changed_keys(a: &Dictionary, b: &Dictionary) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = a.iter().map(|(k, _)| k.clone()).collect();
    for (k, _) in b.iter() {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys.into_iter()
        .filter(|k| match (a.get(k), b.get(k)) {
            (Ok(x), Ok(y)) => !same(x, y),
            _ => true,
        })
        .collect()
}

/// A signature field found in a revision's AcroForm.
#[derive(Debug, Clone)]
pub(crate) struct SigField {
    /// Fully qualified name.
    pub name: String,
    /// The terminal field object (which may also be its widget).
    pub field_id: ObjectId,
    /// The signature dictionary (`/V`).
    pub sig_id: ObjectId,
}

/// The AcroForm dictionary, direct or indirect.
pub(crate) fn acroform(doc: &Document, max_depth: usize) -> Option<&Dictionary> {
    let (_, cat) = catalog(doc)?;
    as_dict(doc, cat.get(b"AcroForm").ok()?, max_depth)
}

/// Decode a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding ≈ Latin-1).
pub(crate) fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// Every signature field with a `/V` signature dictionary (ISO 32000-2 §12.7.5.5), walking
/// `/Fields` and `/Kids` with a visited set and a depth bound.
pub(crate) fn signature_fields(doc: &Document, budget: &Budget) -> Result<Vec<SigField>, LimitHit> {
    let max_depth = budget.limits.max_depth;
    let mut out = Vec::new();
    let Some(form) = acroform(doc, max_depth) else {
        return Ok(out);
    };
    let Some(Object::Array(fields)) = get(doc, form, b"Fields", max_depth) else {
        return Ok(out);
    };
    let mut seen = HashSet::new();
    // (object, parent name, inherited /FT, depth)
    let mut stack: Vec<(ObjectId, String, Option<Vec<u8>>, usize)> = fields
        .iter()
        .rev()
        .filter_map(|f| f.as_reference().ok())
        .map(|id| (id, String::new(), None, 0))
        .collect();
    while let Some((id, prefix, inherited_ft, depth)) = stack.pop() {
        if depth > max_depth {
            return Err(LimitHit::new(
                "max_depth",
                format!("form field tree deeper than {max_depth} levels"),
            ));
        }
        if !seen.insert(id) {
            continue;
        }
        if seen.len() % 1024 == 0 {
            budget.tick()?;
        }
        let Some(Object::Dictionary(d)) = doc.objects.get(&id) else {
            continue;
        };
        let partial = match get(doc, d, b"T", max_depth) {
            Some(Object::String(s, _)) => Some(text_string(s)),
            _ => None,
        };
        let name = match (&partial, prefix.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{prefix}.{p}"),
            (None, _) => prefix.clone(),
        };
        let ft = get_name(doc, d, b"FT", max_depth)
            .map(|n| n.to_vec())
            .or(inherited_ft);
        if let Some(Object::Array(kids)) = get(doc, d, b"Kids", max_depth) {
            for k in kids.iter().rev() {
                if let Ok(kid) = k.as_reference() {
                    stack.push((kid, name.clone(), ft.clone(), depth + 1));
                }
            }
        }
        if ft.as_deref() == Some(b"Sig")
            && let Ok(Object::Reference(sig_id)) = d.get(b"V")
        {
            out.push(SigField {
                name,
                field_id: id,
                sig_id: *sig_id,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{Stream, StringFormat};

    #[test]
    fn equality_is_semantic() {
        let lit = Object::String(b"ab".to_vec(), StringFormat::Literal);
        let hex = Object::String(b"ab".to_vec(), StringFormat::Hexadecimal);
        assert!(same(&lit, &hex));
        assert!(same(&Object::Integer(1), &Object::Real(1.0)));
        assert!(!same(&Object::Integer(1), &Object::Real(1.5)));
        let mut d1 = Dictionary::new();
        d1.set("A", 1);
        d1.set("B", 2);
        let mut d2 = Dictionary::new();
        d2.set("B", 2);
        d2.set("A", 1);
        assert!(same(
            &Object::Dictionary(d1.clone()),
            &Object::Dictionary(d2.clone())
        ));
        d2.set("C", 3);
        assert_eq!(changed_keys(&d1, &d2), vec![b"C".to_vec()]);
        let s1 = Stream::new(d1.clone(), b"xyz".to_vec());
        let mut s2 = Stream::new(d1, b"xyz".to_vec());
        s2.dict.set("Length", 99);
        assert!(same(&Object::Stream(s1.clone()), &Object::Stream(s2)));
        let s3 = Stream::new(Dictionary::new(), b"xyw".to_vec());
        assert!(!same(&Object::Stream(s1), &Object::Stream(s3)));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut o = Object::Reference((1, 0));
        for _ in 0..100 {
            o = Object::Array(vec![o]);
        }
        assert_eq!(references(&o, 64).unwrap_err().limit, "max_depth");
        assert_eq!(references(&o, 200).unwrap(), vec![(1, 0)]);
    }

    #[test]
    fn reference_cycles_resolve_to_none() {
        let mut doc = Document::new();
        doc.objects.insert((1, 0), Object::Reference((2, 0)));
        doc.objects.insert((2, 0), Object::Reference((1, 0)));
        assert!(resolve(&doc, &Object::Reference((1, 0)), 64).is_none());
    }

    #[test]
    fn text_strings_decode() {
        assert_eq!(text_string(b"Sig1"), "Sig1");
        assert_eq!(text_string(&[0xfe, 0xff, 0x7a, 0xe0]), "章");
    }
}
