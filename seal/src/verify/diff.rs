//! Difference analysis: what changed between the revision a signature covers and each later
//! revision, over the whole object graph reachable from the trailer (ISO 32000-2 §12.8.2;
//! the Incremental Saving and Shadow attacks of Mainka et al., 2019–2021).
//!
//! Like pyHanko's `diff_analysis`, every changed object must be *explained* by a rule, and an
//! unexplained change is [`ChangeLevel::Other`]. The rules, in one screen:
//!
//! | object | allowed change | level |
//! |---|---|---|
//! | trailer | `/Root` keeps pointing at the same catalog, no `/Encrypt` appears | — |
//! | catalog | only `/AcroForm` (added or as below), `/DSS`, `/Extensions`, `/Version`, `/MarkInfo`, `/Metadata` change | LTA_UPDATES (AcroForm: as below) |
//! | `/Info` dictionary | anything | LTA_UPDATES |
//! | XMP metadata stream | anything | LTA_UPDATES |
//! | `/DSS` dictionary | anything | LTA_UPDATES |
//! | AcroForm | `/Fields` only grows, by signature fields; `/SigFlags` | FORM_FILLING |
//! | page | only `/Annots` changes, and only grows | level of the annotations added |
//! | added annotation | widget of a signature field | FORM_FILLING (invisible document timestamp: LTA_UPDATES); on a certified document a visible one is OTHER (Sneaky Signature Attack) |
//! | added annotation | text markup (Text, Highlight, Underline, Squiggly, StrikeOut, Caret, Popup) | ANNOTATIONS |
//! | added annotation | one that can cover or act on content (FreeText, Stamp, Square, Link, …) | OTHER |
//! | added annotation | widget of a non-signature field | OTHER |
//! | signature field | `/V` set where there was none, with its widget's `/AP` `/AS` | FORM_FILLING |
//! | other form field | `/V` changed, with `/AP` `/AS` (its own or its `/Kids` widgets') | FORM_FILLING |
//! | a field the signature's FieldMDP lock covers | any change; a new one visible or with a value (invisible document timestamps excepted) | OTHER |
//! | any other changed or added object | only if every object referring to it is itself a changed object explained above: inherits their level | ≤ theirs |
//! | an object referred to by an object unchanged since signing | never (a signed reference now resolves to something else: hide-and-replace) | OTHER |
//! | everything else (page content, resources, fonts, XObjects, page tree, `/OpenAction`, `/Names`, removed annotations or fields, changed appearances without a value change) | — | OTHER |

use std::collections::{HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::document::{self, Reach, as_dict, catalog, changed_keys, get, get_name, same};
use super::limits::{Budget, LimitHit};
use super::report::{ChangeLevel, ChangedObject, FieldMdp};

/// What the rules need to know about the signature being judged, beyond the two revisions.
pub(crate) struct Policy<'a> {
    /// The document carries a certification signature (DocMDP): a new *visible* signature
    /// field is not allowed after it, whatever P says (Sneaky Signature Attack).
    pub certified: bool,
    /// The FieldMDP lock of the signature being judged: the fields it forbids to change.
    pub lock: Option<&'a FieldMdp>,
}

/// Part of the reason given for a visible signature field added to a certified document.
pub(crate) const SNEAKY_SIGNATURE: &str = "Sneaky Signature Attack";
/// Part of the reason given for a change to a field a FieldMDP lock covers.
pub(crate) const LOCKED_FIELD: &str = "locked by this signature's FieldMDP";

/// Annotation subtypes that can draw over, replace or act on page content, which no DocMDP
/// permission lets a later revision add (Mainka et al., "Breaking the Specification: PDF
/// Certification", IEEE S&P 2021, the Evil Annotation Attack). Markup that only marks text
/// (Text, Highlight, Underline, Squiggly, StrikeOut, Caret, Popup) stays ANNOTATIONS.
const COVERING_ANNOTATIONS: &[&[u8]] = &[
    b"FreeText",
    b"Stamp",
    b"Square",
    b"Circle",
    b"Line",
    b"Polygon",
    b"PolyLine",
    b"Ink",
    b"Redact",
    b"Link",
    b"FileAttachment",
    b"Sound",
    b"Movie",
    b"Screen",
    b"3D",
    b"RichMedia",
    b"Watermark",
    b"PrinterMark",
    b"TrapNet",
    b"Projection",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Added,
    Modified,
}

type Verdict = (ChangeLevel, String);

struct Ctx<'a> {
    old: &'a Document,
    new: &'a Document,
    depth: usize,
    status: HashMap<ObjectId, Status>,
    explained: HashMap<ObjectId, Verdict>,
    /// Fields whose `/V` changed in this diff (their widgets may change appearance).
    filled_fields: HashSet<ObjectId>,
    policy: &'a Policy<'a>,
    /// Fully qualified names of the form fields (and their widgets) at signing.
    old_names: HashMap<ObjectId, String>,
    /// The same in the later revision.
    new_names: HashMap<ObjectId, String>,
}

fn fmt_id(id: ObjectId) -> String {
    format!("{} {}", id.0, id.1)
}

fn ref_list(doc: &Document, obj: Option<&Object>, depth: usize) -> Vec<ObjectId> {
    match obj.and_then(|o| document::resolve(doc, o, depth)) {
        Some(Object::Array(a)) => a.iter().filter_map(|x| x.as_reference().ok()).collect(),
        _ => Vec::new(),
    }
}

fn dict_of(doc: &Document, id: ObjectId) -> Option<&Dictionary> {
    document::dict_by_id(doc, id)
}

/// `/FT` of a field, inherited through `/Parent`.
fn field_type(doc: &Document, id: ObjectId, depth: usize) -> Option<Vec<u8>> {
    let mut cur = id;
    for _ in 0..depth {
        let d = dict_of(doc, cur)?;
        if let Some(ft) = get_name(doc, d, b"FT", depth) {
            return Some(ft.to_vec());
        }
        cur = d.get(b"Parent").ok()?.as_reference().ok()?;
    }
    None
}

/// The field owning a widget: the widget itself when merged (has `/FT` or `/T`), else `/Parent`.
fn owning_field(doc: &Document, widget: ObjectId) -> Option<ObjectId> {
    let d = dict_of(doc, widget)?;
    if d.has(b"FT") || d.has(b"T") {
        return Some(widget);
    }
    d.get(b"Parent").ok()?.as_reference().ok()
}

/// A field can be seen on a page: its own `/Rect` (a merged widget) or one of its widgets'
/// has a non-zero area (pyHanko's `is_field_visible`).
fn field_visible(doc: &Document, field: &Dictionary, depth: usize) -> bool {
    !rect_is_empty(doc, field, depth)
        || ref_list(doc, field.get(b"Kids").ok(), depth)
            .into_iter()
            .filter_map(|k| dict_of(doc, k))
            .any(|k| !rect_is_empty(doc, k, depth))
}

/// The field's `/V` is a document timestamp (ISO 32000-2 §12.8.5).
fn value_is_timestamp(doc: &Document, field: &Dictionary, depth: usize) -> bool {
    field
        .get(b"V")
        .ok()
        .and_then(|v| as_dict(doc, v, depth))
        .and_then(|v| get_name(doc, v, b"Type", depth))
        == Some(b"DocTimeStamp")
}

/// An annotation's `/Rect` has no area (or is missing or malformed): it draws nothing.
fn rect_is_empty(doc: &Document, d: &Dictionary, depth: usize) -> bool {
    let nums: Vec<f64> = match get(doc, d, b"Rect", depth) {
        Some(Object::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                Object::Integer(i) => Some(*i as f64),
                Object::Real(r) => Some(f64::from(*r)),
                _ => None,
            })
            .collect(),
        _ => return true,
    };
    nums.len() != 4 || ((nums[2] - nums[0]).abs() < 1e-6 || (nums[3] - nums[1]).abs() < 1e-6)
}

/// A short name for what an object is, for reports.
fn role(doc: &Document, id: ObjectId, depth: usize) -> String {
    let Some(obj) = doc.objects.get(&id) else {
        return "missing object".into();
    };
    let (d, is_stream) = match obj {
        Object::Dictionary(d) => (d, false),
        Object::Stream(s) => (&s.dict, true),
        Object::Array(_) => return "array".into(),
        _ => return "value".into(),
    };
    if catalog(doc).is_some_and(|(c, _)| c == id) {
        return "catalog".into();
    }
    let ty = get_name(doc, d, b"Type", depth).unwrap_or_default();
    let sub = get_name(doc, d, b"Subtype", depth).unwrap_or_default();
    match (ty, sub) {
        (b"Pages", _) => "page tree node".to_string(),
        (b"Page", _) => "page".to_string(),
        (b"Sig", _) => "signature dictionary".to_string(),
        (b"DocTimeStamp", _) => "document timestamp".to_string(),
        (b"Metadata", _) => "XMP metadata".to_string(),
        (b"Font", _) | (_, b"Type1" | b"TrueType" | b"Type0" | b"CIDFontType2") => {
            "font".to_string()
        }
        (_, b"Widget") => {
            if d.has(b"FT") {
                "form field with widget".to_string()
            } else {
                "widget annotation".to_string()
            }
        }
        (_, b"Image") => "image XObject".to_string(),
        (_, b"Form") => "form XObject (appearance or content)".to_string(),
        (b"Annot", s) | (_, s) if d.has(b"Rect") && !s.is_empty() => {
            format!("{} annotation", String::from_utf8_lossy(s))
        }
        _ if d.has(b"FT") || d.has(b"Kids") && d.has(b"T") => "form field".to_string(),
        _ if d.has(b"Fields") => "AcroForm".to_string(),
        _ if is_stream => "stream (page content or data)".to_string(),
        _ if d.has(b"Producer") || d.has(b"CreationDate") || d.has(b"ModDate") => {
            "document information dictionary".to_string()
        }
        _ => "dictionary".to_string(),
    }
}

impl Ctx<'_> {
    /// The name of field (or widget) `id` when this signature's FieldMDP lock covers it.
    fn locked_name(&self, id: ObjectId) -> Option<&str> {
        let lock = self.policy.lock?;
        let name = self
            .old_names
            .get(&id)
            .or_else(|| self.new_names.get(&id))?;
        lock.locks(name).then_some(name.as_str())
    }

    fn locked_verdict(&self, name: &str, what: &str) -> Verdict {
        (
            ChangeLevel::Other,
            format!("form field '{name}' is {LOCKED_FIELD} and {what}"),
        )
    }

    /// The rules for a signature field `field` added after signing; `widget_visible`: the
    /// widget being added with it (which may be the field itself) has an area. `None` when
    /// neither the certification nor a lock forbids it (the ordinary rules then apply).
    fn added_signature_field(&self, field: ObjectId, widget_visible: bool) -> Option<Verdict> {
        let d = self.depth;
        let fd = dict_of(self.new, field)?;
        let visible = widget_visible || field_visible(self.new, fd, d);
        if self.policy.certified && visible {
            return Some((
                ChangeLevel::Other,
                format!(
                    "a visible signature field was added after a certification signature: its appearance can cover certified content ({SNEAKY_SIGNATURE})"
                ),
            ));
        }
        if let Some(name) = self.locked_name(field) {
            let invisible_timestamp = !visible && value_is_timestamp(self.new, fd, d);
            if (visible || fd.has(b"V")) && !invisible_timestamp {
                return Some(self.locked_verdict(name, "was added"));
            }
        }
        None
    }

    fn explain(&mut self, id: ObjectId, level: ChangeLevel, reason: impl Into<String>) {
        let reason = reason.into();
        match self.explained.get(&id) {
            Some((l, _)) if *l >= level => {}
            _ => {
                self.explained.insert(id, (level, reason));
            }
        }
    }

    fn changed(&self, id: ObjectId) -> bool {
        self.status.contains_key(&id)
    }

    /// Level of an annotation added to a page.
    fn added_annotation(&self, annot: ObjectId) -> Verdict {
        let d = self.depth;
        let Some(ad) = dict_of(self.new, annot) else {
            return (
                ChangeLevel::Other,
                "a page refers to a missing annotation".into(),
            );
        };
        if get_name(self.new, ad, b"Subtype", d) == Some(b"Widget") {
            let Some(field) = owning_field(self.new, annot) else {
                return (
                    ChangeLevel::Other,
                    "a widget not attached to a form field was added".into(),
                );
            };
            if field_type(self.new, field, d).as_deref() != Some(b"Sig") {
                return (
                    ChangeLevel::Other,
                    "a widget of a non-signature form field was added".into(),
                );
            }
            if let Some(v) = self.added_signature_field(field, !rect_is_empty(self.new, ad, d)) {
                return v;
            }
            let is_ts = dict_of(self.new, field)
                .and_then(|f| as_dict(self.new, f.get(b"V").ok()?, d))
                .and_then(|v| get_name(self.new, v, b"Type", d))
                == Some(b"DocTimeStamp");
            if is_ts && rect_is_empty(self.new, ad, d) {
                return (
                    ChangeLevel::LtaUpdates,
                    "invisible document timestamp field added".into(),
                );
            }
            return (
                ChangeLevel::FormFilling,
                "signature field widget added".into(),
            );
        }
        let subtype = get_name(self.new, ad, b"Subtype", d).unwrap_or_default();
        if COVERING_ANNOTATIONS.contains(&subtype) {
            return (
                ChangeLevel::Other,
                format!(
                    "a /{} annotation was added: it can cover or replace page content (Evil Annotation Attack)",
                    String::from_utf8_lossy(subtype)
                ),
            );
        }
        (ChangeLevel::Annotations, "annotation added".into())
    }

    /// Compare two annotation lists of one page.
    fn annots_change(&self, old: &[ObjectId], new: &[ObjectId]) -> Verdict {
        let removed: Vec<_> = old.iter().filter(|a| !new.contains(a)).collect();
        if !removed.is_empty() {
            return (
                ChangeLevel::Other,
                format!(
                    "annotation(s) present at signing removed from the page: {}",
                    removed
                        .iter()
                        .map(|a| fmt_id(**a))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let mut worst = (
            ChangeLevel::LtaUpdates,
            "annotation list reordered".to_string(),
        );
        for a in new.iter().filter(|a| !old.contains(a)) {
            let v = self.added_annotation(*a);
            if v.0 > worst.0 || worst.1 == "annotation list reordered" {
                worst = (v.0.max(worst.0), v.1);
            }
        }
        worst
    }

    fn page_rule(&mut self, id: ObjectId) {
        let d = self.depth;
        let (Some(od), Some(nd)) = (dict_of(self.old, id), dict_of(self.new, id)) else {
            return;
        };
        let keys = changed_keys(od, nd);
        let others: Vec<String> = keys
            .iter()
            .filter(|k| k.as_slice() != b"Annots")
            .map(|k| format!("/{}", String::from_utf8_lossy(k)))
            .collect();
        if !others.is_empty() {
            self.explain(
                id,
                ChangeLevel::Other,
                format!("page entries changed: {}", others.join(" ")),
            );
            return;
        }
        let old_annots = ref_list(self.old, od.get(b"Annots").ok(), d);
        let new_annots = ref_list(self.new, nd.get(b"Annots").ok(), d);
        let v = self.annots_change(&old_annots, &new_annots);
        self.explain(id, v.0, v.1);
    }

    /// An indirect `/Annots` array that changed: find its page in the new document.
    fn annots_array_rule(&mut self, id: ObjectId, pages: &[ObjectId]) {
        let d = self.depth;
        let owner = pages.iter().find(|p| {
            dict_of(self.new, **p)
                .and_then(|pd| pd.get(b"Annots").ok())
                .and_then(|o| o.as_reference().ok())
                == Some(id)
        });
        if owner.is_none() {
            return;
        }
        let old_annots = ref_list(self.old, Some(&Object::Reference(id)), d);
        let new_annots = ref_list(self.new, Some(&Object::Reference(id)), d);
        let v = self.annots_change(&old_annots, &new_annots);
        self.explain(id, v.0, v.1);
    }

    fn fields_change(&self, old: &[ObjectId], new: &[ObjectId]) -> Verdict {
        let d = self.depth;
        if old.iter().any(|f| !new.contains(f)) {
            return (
                ChangeLevel::Other,
                "a form field present at signing was removed".into(),
            );
        }
        let mut worst = (ChangeLevel::LtaUpdates, "field list unchanged".to_string());
        for f in new.iter().filter(|f| !old.contains(f)) {
            let v = if field_type(self.new, *f, d).as_deref() == Some(b"Sig") {
                if let Some(v) = self.added_signature_field(*f, false) {
                    if v.0 >= worst.0 {
                        worst = v;
                    }
                    continue;
                }
                let ann = dict_of(self.new, *f);
                let is_ts = ann
                    .and_then(|fd| as_dict(self.new, fd.get(b"V").ok()?, d))
                    .and_then(|v| get_name(self.new, v, b"Type", d))
                    == Some(b"DocTimeStamp");
                if is_ts {
                    (
                        ChangeLevel::LtaUpdates,
                        "document timestamp field added".into(),
                    )
                } else {
                    (ChangeLevel::FormFilling, "signature field added".into())
                }
            } else {
                (
                    ChangeLevel::Other,
                    "a non-signature form field was added".to_string(),
                )
            };
            if v.0 >= worst.0 {
                worst = v;
            }
        }
        worst
    }

    fn acroform_change(&self, od: Option<&Dictionary>, nd: &Dictionary) -> Verdict {
        let d = self.depth;
        let empty = Dictionary::new();
        let od = od.unwrap_or(&empty);
        let mut worst = (ChangeLevel::LtaUpdates, "AcroForm unchanged".to_string());
        for k in changed_keys(od, nd) {
            let v = match k.as_slice() {
                b"Fields" => self.fields_change(
                    &ref_list(self.old, od.get(b"Fields").ok(), d),
                    &ref_list(self.new, nd.get(b"Fields").ok(), d),
                ),
                b"SigFlags" => (ChangeLevel::FormFilling, "AcroForm /SigFlags set".into()),
                other => (
                    ChangeLevel::Other,
                    format!("AcroForm /{} changed", String::from_utf8_lossy(other)),
                ),
            };
            if v.0 >= worst.0 {
                worst = v;
            }
        }
        worst
    }

    fn catalog_rule(&mut self, id: ObjectId) {
        let d = self.depth;
        let Some(nd) = dict_of(self.new, id) else {
            return;
        };
        let od = dict_of(self.old, id);
        let empty = Dictionary::new();
        let od_ = od.unwrap_or(&empty);
        let mut worst = (ChangeLevel::LtaUpdates, "catalog updated".to_string());
        for k in changed_keys(od_, nd) {
            let v = match k.as_slice() {
                b"DSS" | b"Extensions" | b"Version" | b"MarkInfo" => (
                    ChangeLevel::LtaUpdates,
                    format!("catalog /{} updated", String::from_utf8_lossy(&k)),
                ),
                b"Metadata" => {
                    let ok = as_dict(self.new, nd.get(b"Metadata").unwrap_or(&Object::Null), d)
                        .and_then(|m| get_name(self.new, m, b"Type", d))
                        == Some(b"Metadata");
                    if ok {
                        (ChangeLevel::LtaUpdates, "XMP metadata replaced".into())
                    } else {
                        (
                            ChangeLevel::Other,
                            "catalog /Metadata points at something other than metadata".into(),
                        )
                    }
                }
                b"AcroForm" => {
                    let old_af = od_
                        .get(b"AcroForm")
                        .ok()
                        .and_then(|o| as_dict(self.old, o, d));
                    match nd
                        .get(b"AcroForm")
                        .ok()
                        .and_then(|o| as_dict(self.new, o, d))
                    {
                        Some(naf) if old_af.is_none() => {
                            let v = self.acroform_change(None, naf);
                            (
                                v.0.max(ChangeLevel::FormFilling),
                                format!("AcroForm added; {}", v.1),
                            )
                        }
                        Some(naf) => self.acroform_change(old_af, naf),
                        None => (ChangeLevel::Other, "AcroForm removed".into()),
                    }
                }
                other => (
                    ChangeLevel::Other,
                    format!("catalog /{} changed", String::from_utf8_lossy(other)),
                ),
            };
            if v.0 >= worst.0 {
                worst = v;
            }
        }
        self.explain(id, worst.0, worst.1);
    }

    /// A field that existed at signing and changed.
    fn field_rule(&mut self, id: ObjectId) {
        let d = self.depth;
        let (Some(od), Some(nd)) = (dict_of(self.old, id), dict_of(self.new, id)) else {
            return;
        };
        let keys = changed_keys(od, nd);
        let is_sig = field_type(self.new, id, d).as_deref() == Some(b"Sig");
        // A widget in its field's /Kids (no /T of its own) redraws when the field's value
        // changed.
        let parent_filled = !nd.has(b"T")
            && nd
                .get(b"Parent")
                .ok()
                .and_then(|p| p.as_reference().ok())
                .is_some_and(|p| self.filled_fields.contains(&p));
        let v_changed = keys.iter().any(|k| k == b"V") || parent_filled;
        let mut worst = (ChangeLevel::LtaUpdates, "field updated".to_string());
        for k in &keys {
            let v = match k.as_slice() {
                b"V" if is_sig => {
                    if od.has(b"V") {
                        (
                            ChangeLevel::Other,
                            "the signature value of a signed field was replaced".into(),
                        )
                    } else {
                        (ChangeLevel::FormFilling, "signature field signed".into())
                    }
                }
                b"V" => (
                    ChangeLevel::FormFilling,
                    "form field value filled in".into(),
                ),
                b"AP" | b"AS" | b"MK" if v_changed => (
                    ChangeLevel::FormFilling,
                    "field appearance updated with its value".into(),
                ),
                b"AP" | b"AS" | b"MK" => (
                    ChangeLevel::Other,
                    "field appearance changed without a value change (shadow replace)".into(),
                ),
                other => (
                    ChangeLevel::Other,
                    format!("form field /{} changed", String::from_utf8_lossy(other)),
                ),
            };
            if v.0 >= worst.0 {
                worst = v;
            }
        }
        if !keys.is_empty()
            && let Some(name) = self.locked_name(id)
        {
            // Only an invisible document timestamp may go into a locked signature field.
            let timestamp_only = is_sig
                && !od.has(b"V")
                && value_is_timestamp(self.new, nd, d)
                && !field_visible(self.new, nd, d);
            if !timestamp_only {
                worst = self.locked_verdict(name, "was changed");
            }
        }
        self.explain(id, worst.0, worst.1);
    }

    /// A widget (separate from its field) that existed at signing and changed.
    fn widget_rule(&mut self, id: ObjectId) {
        let (Some(od), Some(nd)) = (dict_of(self.old, id), dict_of(self.new, id)) else {
            return;
        };
        let parent = nd.get(b"Parent").ok().and_then(|p| p.as_reference().ok());
        if let Some(name) = parent.and_then(|p| self.locked_name(p)) {
            let v = self.locked_verdict(name, "its widget was changed");
            self.explain(id, v.0, v.1);
            return;
        }
        let filled = parent.is_some_and(|p| self.filled_fields.contains(&p));
        let keys = changed_keys(od, nd);
        let bad: Vec<String> = keys
            .iter()
            .filter(|k| !(filled && matches!(k.as_slice(), b"AP" | b"AS" | b"MK")))
            .map(|k| format!("/{}", String::from_utf8_lossy(k)))
            .collect();
        if bad.is_empty() {
            self.explain(
                id,
                ChangeLevel::FormFilling,
                "widget appearance updated with its field value",
            );
        } else {
            self.explain(
                id,
                ChangeLevel::Other,
                format!("annotation present at signing changed: {}", bad.join(" ")),
            );
        }
    }
}

/// Page objects of a document (walking `/Pages` with a visited set).
fn pages(doc: &Document, budget: &Budget) -> Result<(Vec<ObjectId>, Vec<ObjectId>), LimitHit> {
    let d = budget.limits.max_depth;
    let mut nodes = Vec::new();
    let mut leaves = Vec::new();
    let Some((_, cat)) = catalog(doc) else {
        return Ok((nodes, leaves));
    };
    let Ok(root) = cat.get(b"Pages").and_then(Object::as_reference) else {
        return Ok((nodes, leaves));
    };
    let mut seen = HashSet::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        if depth > d {
            return Err(LimitHit::new(
                "max_depth",
                format!("page tree deeper than {d} levels"),
            ));
        }
        if !seen.insert(id) {
            continue;
        }
        if seen.len() % 4096 == 0 {
            budget.tick()?;
        }
        let Some(pd) = dict_of(doc, id) else { continue };
        match get_name(doc, pd, b"Type", d) {
            Some(b"Pages") => {
                nodes.push(id);
                for k in ref_list(doc, pd.get(b"Kids").ok(), d).into_iter().rev() {
                    stack.push((k, depth + 1));
                }
            }
            _ => leaves.push(id),
        }
    }
    Ok((nodes, leaves))
}

/// Every object of the AcroForm tree (fields and their widgets) with its fully qualified
/// field name (a widget without `/T` carries its field's name).
fn field_names(doc: &Document, budget: &Budget) -> HashMap<ObjectId, String> {
    let d = budget.limits.max_depth;
    let mut out = HashMap::new();
    let Some(af) = document::acroform(doc, d) else {
        return out;
    };
    let mut stack: Vec<(ObjectId, String, usize)> = ref_list(doc, af.get(b"Fields").ok(), d)
        .into_iter()
        .map(|f| (f, String::new(), 0))
        .collect();
    while let Some((id, prefix, depth)) = stack.pop() {
        if depth > d || out.contains_key(&id) {
            continue;
        }
        let Some(fd) = dict_of(doc, id) else {
            out.insert(id, prefix);
            continue;
        };
        let name = match get(doc, fd, b"T", d) {
            Some(Object::String(t, _)) if prefix.is_empty() => document::text_string(t),
            Some(Object::String(t, _)) => format!("{prefix}.{}", document::text_string(t)),
            _ => prefix,
        };
        for k in ref_list(doc, fd.get(b"Kids").ok(), d) {
            stack.push((k, name.clone(), depth + 1));
        }
        out.insert(id, name);
    }
    out
}

/// Compare revision `old` (signed) with a later revision `new` (1-based number `new_number`),
/// returning every changed object with its classification.
pub(crate) fn diff(
    old: &Document,
    old_reach: &Reach,
    new: &Document,
    new_reach: &Reach,
    new_number: usize,
    policy: &Policy<'_>,
    budget: &Budget,
) -> Result<Vec<ChangedObject>, LimitHit> {
    let depth = budget.limits.max_depth;
    let mut out = Vec::new();
    let push = |out: &mut Vec<ChangedObject>, id: ObjectId, role: String, v: Verdict| {
        out.push(ChangedObject {
            object: fmt_id(id),
            revision: new_number,
            role,
            level: v.0,
            reason: v.1,
        });
    };

    // Trailer.
    let old_root = catalog(old).map(|(id, _)| id);
    let new_root = catalog(new).map(|(id, _)| id);
    if old_root != new_root {
        push(
            &mut out,
            new_root.unwrap_or((0, 0)),
            "catalog".into(),
            (
                ChangeLevel::Other,
                "the trailer points at a different catalog".into(),
            ),
        );
    }
    if new.trailer.has(b"Encrypt") && !old.trailer.has(b"Encrypt") {
        push(
            &mut out,
            (0, 0),
            "trailer".into(),
            (ChangeLevel::Other, "encryption was added".into()),
        );
    }

    // What changed among the objects reachable now.
    let mut status = HashMap::new();
    for (i, id) in new_reach.order.iter().enumerate() {
        if i % 4096 == 0 {
            budget.tick()?;
        }
        match (old.objects.get(id), new.objects.get(id)) {
            (None, Some(_)) => {
                status.insert(*id, Status::Added);
            }
            (Some(o), Some(n)) if !same(o, n) => {
                status.insert(*id, Status::Modified);
            }
            (Some(_), None) => {
                status.insert(*id, Status::Modified);
            }
            _ => {}
        }
    }
    // A page or annotation reachable at signing that no longer is: its referrer changed,
    // which the rules below judge; nothing to add here.
    let _ = old_reach;
    if status.is_empty() {
        return Ok(out);
    }

    let old_names = field_names(old, budget);
    let mut ctx = Ctx {
        old,
        new,
        depth,
        status,
        explained: HashMap::new(),
        filled_fields: HashSet::new(),
        policy,
        new_names: field_names(new, budget),
        old_names,
    };

    // Direct rules.
    let (page_nodes, page_leaves) = pages(new, budget)?;
    let old_fields: HashSet<ObjectId> = ctx.old_names.keys().copied().collect();
    let info = new
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|o| o.as_reference().ok());
    let cat = catalog(new);
    let metadata = cat
        .and_then(|(_, c)| c.get(b"Metadata").ok())
        .and_then(|o| o.as_reference().ok());
    let dss = cat
        .and_then(|(_, c)| c.get(b"DSS").ok())
        .and_then(|o| o.as_reference().ok());
    let acroform_ref = cat
        .and_then(|(_, c)| c.get(b"AcroForm").ok())
        .and_then(|o| o.as_reference().ok());
    let fields_ref = document::acroform(new, depth)
        .and_then(|af| af.get(b"Fields").ok())
        .and_then(|o| o.as_reference().ok());

    let changed: Vec<(ObjectId, Status)> = new_reach
        .order
        .iter()
        .filter_map(|id| ctx.status.get(id).map(|s| (*id, *s)))
        .collect();
    // Fields first, so widget rules know which fields were filled.
    for (id, st) in &changed {
        if *st == Status::Modified
            && old_fields.contains(id)
            && let (Some(od), Some(nd)) = (dict_of(old, *id), dict_of(new, *id))
            && !od
                .get(b"V")
                .ok()
                .zip(nd.get(b"V").ok())
                .is_some_and(|(a, b)| same(a, b))
            && (od.has(b"V") || nd.has(b"V"))
        {
            ctx.filled_fields.insert(*id);
        }
    }
    for (id, st) in &changed {
        if *st == Status::Modified && old_fields.contains(id) {
            ctx.field_rule(*id);
        }
    }
    for (id, st) in &changed {
        let id = *id;
        if Some(id) == new_root {
            ctx.catalog_rule(id);
        } else if Some(id) == info {
            ctx.explain(id, ChangeLevel::LtaUpdates, "document information updated");
        } else if Some(id) == metadata {
            let is_meta = dict_of(new, id).and_then(|m| get_name(new, m, b"Type", depth))
                == Some(b"Metadata");
            if is_meta {
                ctx.explain(id, ChangeLevel::LtaUpdates, "XMP metadata updated");
            }
        } else if Some(id) == dss {
            ctx.explain(
                id,
                ChangeLevel::LtaUpdates,
                "document security store updated",
            );
        } else if Some(id) == acroform_ref {
            let v = ctx.acroform_change(
                dict_of(old, id),
                dict_of(new, id).unwrap_or(&Dictionary::new()),
            );
            ctx.explain(id, v.0, v.1);
        } else if Some(id) == fields_ref {
            let v = ctx.fields_change(
                &ref_list(old, Some(&Object::Reference(id)), depth),
                &ref_list(new, Some(&Object::Reference(id)), depth),
            );
            ctx.explain(id, v.0, v.1);
        } else if page_nodes.contains(&id) {
            ctx.explain(id, ChangeLevel::Other, "the page tree changed");
        } else if *st == Status::Modified && page_leaves.contains(&id) {
            ctx.page_rule(id);
        } else if *st == Status::Modified && old_fields.contains(&id) {
            // done above
        } else if *st == Status::Modified
            && dict_of(new, id).and_then(|d| get_name(new, d, b"Subtype", depth)) == Some(b"Widget")
        {
            ctx.widget_rule(id);
        } else if *st == Status::Modified && matches!(new.objects.get(&id), Some(Object::Array(_)))
        {
            ctx.annots_array_rule(id, &page_leaves);
        } else if *st == Status::Added
            && dict_of(new, id).is_some_and(|d| d.has(b"Rect") && d.has(b"Subtype"))
        {
            let v = ctx.added_annotation(id);
            ctx.explain(id, v.0, v.1);
        }
    }

    // Inheritance: a changed object nobody unchanged refers to takes its referrers' level.
    let changed_set: HashSet<ObjectId> = changed.iter().map(|(id, _)| *id).collect();
    let mut referrers: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    for (i, id) in new_reach.order.iter().enumerate() {
        if i % 4096 == 0 {
            budget.tick()?;
        }
        if let Some(obj) = new.objects.get(id) {
            for r in document::references(obj, depth)? {
                if changed_set.contains(&r) && r != *id {
                    let list = referrers.entry(r).or_default();
                    if !list.contains(id) {
                        list.push(*id);
                    }
                }
            }
        }
    }
    let mut progress = true;
    while progress {
        progress = false;
        budget.tick()?;
        for (id, st) in &changed {
            if ctx.explained.contains_key(id) {
                continue;
            }
            let refs = referrers.get(id).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(r) = refs.iter().find(|r| !ctx.changed(**r)) {
                let why = match st {
                    Status::Added => format!(
                        "object {} did not exist at signing but is referred to by {} ({}), unchanged since signing (hide-and-replace)",
                        fmt_id(*id),
                        fmt_id(*r),
                        role(new, *r, depth)
                    ),
                    Status::Modified => format!(
                        "changed, and used by {} ({}), unchanged since signing",
                        fmt_id(*r),
                        role(new, *r, depth)
                    ),
                };
                ctx.explained.insert(*id, (ChangeLevel::Other, why));
                progress = true;
                continue;
            }
            if refs.is_empty() {
                continue;
            }
            if refs.iter().all(|r| ctx.explained.contains_key(r)) {
                let (lvl, from) = refs
                    .iter()
                    .filter_map(|r| ctx.explained.get(r).map(|(l, _)| (*l, *r)))
                    .max_by_key(|(l, _)| *l)
                    .unwrap_or((ChangeLevel::Other, *id));
                let verb = if *st == Status::Added {
                    "added"
                } else {
                    "changed"
                };
                ctx.explained.insert(
                    *id,
                    (
                        lvl,
                        format!(
                            "{verb} as part of {} ({})",
                            fmt_id(from),
                            role(new, from, depth)
                        ),
                    ),
                );
                progress = true;
            }
        }
    }

    for (id, st) in &changed {
        let v = ctx.explained.remove(id).unwrap_or_else(|| {
            let verb = if *st == Status::Added {
                "added"
            } else {
                "changed"
            };
            (
                ChangeLevel::Other,
                format!("{verb}; no rule allows this change"),
            )
        });
        push(&mut out, *id, role(new, *id, depth), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::limits::Limits;
    use lopdf::{Stream, dictionary};

    /// A one-page document with an annotation, as the "signed revision".
    fn base() -> Document {
        let mut doc = Document::with_version("1.7");
        doc.objects.insert(
            (5, 0),
            Object::Stream(Stream::new(dictionary! {}, b"BT (hi) Tj ET".to_vec())),
        );
        doc.objects.insert(
            (4, 0),
            Object::Dictionary(dictionary! {"Type" => "Annot", "Subtype" => "Square", "Rect" => vec![0.into(), 0.into(), 10.into(), 10.into()]}),
        );
        doc.objects.insert(
            (3, 0),
            Object::Dictionary(dictionary! {"Type" => "Page", "Parent" => Object::Reference((2, 0)), "Contents" => Object::Reference((5, 0)), "Annots" => vec![Object::Reference((4, 0))]}),
        );
        doc.objects.insert(
            (2, 0),
            Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => vec![Object::Reference((3, 0))], "Count" => 1}),
        );
        doc.objects.insert(
            (1, 0),
            Object::Dictionary(
                dictionary! {"Type" => "Catalog", "Pages" => Object::Reference((2, 0))},
            ),
        );
        doc.trailer.set("Root", Object::Reference((1, 0)));
        doc
    }

    fn run(old: &Document, new: &Document) -> Vec<ChangedObject> {
        let budget = Budget::new(&Limits::default());
        let ro = document::reachable(old, &budget).unwrap();
        let rn = document::reachable(new, &budget).unwrap();
        let policy = Policy {
            certified: false,
            lock: None,
        };
        diff(old, &ro, new, &rn, 2, &policy, &budget).unwrap()
    }

    fn worst(ch: &[ChangedObject]) -> ChangeLevel {
        ch.iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(ChangeLevel::None)
    }

    #[test]
    fn identical_revisions_have_no_changes() {
        assert!(run(&base(), &base()).is_empty());
    }

    #[test]
    fn changed_content_is_other() {
        let mut new = base();
        new.objects.insert(
            (5, 0),
            Object::Stream(Stream::new(dictionary! {}, b"BT (bye) Tj ET".to_vec())),
        );
        let ch = run(&base(), &new);
        assert_eq!(worst(&ch), ChangeLevel::Other);
        assert!(ch[0].reason.contains("unchanged since signing"), "{ch:?}");
    }

    #[test]
    fn added_annotation_is_annotations_and_removed_is_other() {
        let mut new = base();
        new.objects.insert(
            (6, 0),
            Object::Dictionary(dictionary! {"Type" => "Annot", "Subtype" => "Text", "Rect" => vec![0.into(), 0.into(), 5.into(), 5.into()]}),
        );
        if let Some(Object::Dictionary(p)) = new.objects.get_mut(&(3, 0)) {
            p.set(
                "Annots",
                vec![Object::Reference((4, 0)), Object::Reference((6, 0))],
            );
        }
        assert_eq!(worst(&run(&base(), &new)), ChangeLevel::Annotations);

        let mut hidden = base();
        if let Some(Object::Dictionary(p)) = hidden.objects.get_mut(&(3, 0)) {
            p.set("Annots", Vec::<Object>::new());
        }
        let ch = run(&base(), &hidden);
        assert_eq!(worst(&ch), ChangeLevel::Other);
        assert!(ch.iter().any(|c| c.reason.contains("removed")));
    }

    #[test]
    fn dangling_reference_filled_later_is_hide_and_replace() {
        let mut old = base();
        if let Some(Object::Dictionary(p)) = old.objects.get_mut(&(3, 0)) {
            p.set(
                "Contents",
                vec![Object::Reference((5, 0)), Object::Reference((9, 0))],
            );
        }
        let mut new = old.clone();
        new.objects.insert(
            (9, 0),
            Object::Stream(Stream::new(dictionary! {}, b"0 0 m 9 9 l S".to_vec())),
        );
        let ch = run(&old, &new);
        assert_eq!(worst(&ch), ChangeLevel::Other);
        assert!(ch[0].reason.contains("hide-and-replace"), "{ch:?}");
    }

    #[test]
    fn catalog_open_action_is_other_and_info_is_lta() {
        let mut new = base();
        if let Some(Object::Dictionary(c)) = new.objects.get_mut(&(1, 0)) {
            c.set(
                "OpenAction",
                dictionary! {"S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)")},
            );
        }
        let ch = run(&base(), &new);
        assert_eq!(worst(&ch), ChangeLevel::Other);
        assert!(ch[0].reason.contains("OpenAction"));

        let mut old = base();
        old.objects.insert(
            (7, 0),
            Object::Dictionary(dictionary! {"Producer" => Object::string_literal("a")}),
        );
        old.trailer.set("Info", Object::Reference((7, 0)));
        let mut new = old.clone();
        new.objects.insert(
            (7, 0),
            Object::Dictionary(dictionary! {"Producer" => Object::string_literal("b")}),
        );
        assert_eq!(worst(&run(&old, &new)), ChangeLevel::LtaUpdates);
    }
}
