//! Verifying any signed PDF and explaining the result (ETSI EN 319 102-1 indications,
//! PAdES ETSI EN 319 142-1, ISO 32000-2 §12.8).
//!
//! The pipeline, one module per stage (pyHanko's mental model, rustls's "protocol as types"):
//!
//! 1. [`document`]: split the file into revisions and parse each with `lopdf`, under [`Limits`]
//!    (after [`prescan`] has bounded the streams `lopdf` inflates by itself); find every
//!    signature field in every revision.
//! 2. [`byterange`]: the ByteRange / `/Contents` structure (Universal Signature Forgery,
//!    Signature Wrapping).
//! 3. [`integrity`]: the CMS SignedData, its signed attributes and signature value.
//! 4. [`chain`]: the certificate path to a trust anchor at the validation time.
//! 5. [`seal`]: Chop's GB/T 38540 seal object and the visible seal picture.
//! 6. [`diff`]: what changed in later revisions, judged against DocMDP (Incremental Saving and
//!    Shadow attacks).
//! 7. [`report`]: the indication, sub-indication and a plain-language summary.
//!
//! See docs/VERIFY.md for every check and where Chop is stricter than pyHanko.

mod byterange;
mod chain;
mod diff;
mod digest;
mod document;
mod gaps;
mod integrity;
mod limits;
mod memo;
mod prescan;
pub mod report;
mod seal;

use lopdf::{Dictionary, Object, ObjectId};
use time::OffsetDateTime;

pub use limits::{LimitHit, Limits};
pub use report::{
    ChainReport, ChangeLevel, ChangedObject, Changes, Coverage, DocMdp, DocumentInfo, FieldMdp,
    FieldMdpAction, Indication, Integrity, Report, RevisionInfo, SealReport, SignatureReport,
    SigningTime, SubIndication,
};

use document::{Reach, Revision};
use limits::Budget;

/// What to verify against.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Trust anchors, DER certificates. Without any, every signature is at best INDETERMINATE.
    pub trust_anchors: Vec<Vec<u8>>,
    /// Validate as of this time instead of now (certificate validity is checked at it).
    pub at: Option<OffsetDateTime>,
    /// Resource limits for hostile input.
    pub limits: Limits,
}

/// Why a file could not be verified at all. Everything else is a finding in the [`Report`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a readable PDF (no header, no `%%EOF`, unparseable cross-reference data, …).
    #[error("not a readable PDF: {0}")]
    NotPdf(String),
    /// A readable PDF without any signature field holding a signature.
    #[error("the PDF has no signature")]
    NoSignature,
    /// A resource limit of [`Limits`] was exceeded; names the limit.
    #[error("limit {} exceeded: {}", .0.limit, .0.detail)]
    LimitExceeded(LimitHit),
}

impl From<LimitHit> for VerifyError {
    fn from(l: LimitHit) -> Self {
        Self::LimitExceeded(l)
    }
}

/// One failure: the indication it implies, its sub-indication, and words.
type Failure = (Indication, SubIndication, String);

fn total(sub: SubIndication, msg: impl Into<String>) -> Failure {
    (Indication::TotalFailed, sub, msg.into())
}

/// Map a sub-indication from the CMS and chain checks to its ETSI indication.
fn indication_of(sub: SubIndication) -> Indication {
    use SubIndication::*;
    match sub {
        FormatFailure | HashFailure | SigCryptoFailure | NotYetValid | SigConstraintsFailure => {
            Indication::TotalFailed
        }
        NoSigningCertificateFound
        | NoCertificateChainFound
        | ChainConstraintsFailure
        | OutOfBoundsNoPoe
        | CryptoConstraintsFailureNoPoe => Indication::Indeterminate,
    }
}

/// Which sub-indication is reported when several apply (most fundamental first).
fn priority(sub: SubIndication) -> u8 {
    use SubIndication::*;
    match sub {
        FormatFailure => 0,
        HashFailure => 1,
        SigCryptoFailure => 2,
        SigConstraintsFailure => 3,
        NotYetValid => 4,
        NoSigningCertificateFound => 5,
        CryptoConstraintsFailureNoPoe => 6,
        NoCertificateChainFound => 7,
        ChainConstraintsFailure => 8,
        OutOfBoundsNoPoe => 9,
    }
}

/// Parse a PDF date (ISO 32000-2 §7.9.4), `D:YYYYMMDDHHmmSSOHH'mm'` with optional parts.
pub fn parse_pdf_date(s: &[u8]) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(s).ok()?;
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits = |from: usize, len: usize, default: u32| -> Option<u32> {
        match s.get(from..from + len) {
            Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
            Some(_) => None,
            None => Some(default),
        }
    };
    let year = digits(0, 4, 0)?;
    if s.len() < 4 {
        return None;
    }
    let month = digits(4, 2, 1)?;
    let day = digits(6, 2, 1)?;
    let hour = digits(8, 2, 0)?;
    let minute = digits(10, 2, 0)?;
    let second = digits(12, 2, 0)?;
    let date = time::Date::from_calendar_date(
        i32::try_from(year).ok()?,
        time::Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    let rest: String = s
        .get(14..)
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '\'')
        .collect();
    let offset = match rest.chars().next() {
        None | Some('Z') => time::UtcOffset::UTC,
        Some(sign @ ('+' | '-')) => {
            let hh: i8 = rest.get(1..3).and_then(|x| x.parse().ok()).unwrap_or(0);
            let mm: i8 = rest.get(3..5).and_then(|x| x.parse().ok()).unwrap_or(0);
            let (hh, mm) = if sign == '-' { (-hh, -mm) } else { (hh, mm) };
            time::UtcOffset::from_hms(hh, mm, 0).ok()?
        }
        Some(_) => return None,
    };
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The DocMDP permission of a certification signature (ISO 32000-2 §12.8.2.2): `Some(P)` when
/// its `/Reference` holds a DocMDP transform (P defaults to 2).
fn docmdp_permission(doc: &lopdf::Document, sig: &Dictionary, depth: usize) -> Option<u8> {
    let Some(Object::Array(refs)) = document::get(doc, sig, b"Reference", depth) else {
        return None;
    };
    for r in refs {
        let Some(rd) = document::as_dict(doc, r, depth) else {
            continue;
        };
        if document::get_name(doc, rd, b"TransformMethod", depth) != Some(b"DocMDP") {
            continue;
        }
        let p = rd
            .get(b"TransformParams")
            .ok()
            .and_then(|tp| document::as_dict(doc, tp, depth))
            .and_then(|tp| match document::get(doc, tp, b"P", depth) {
                Some(Object::Integer(p)) => Some(*p),
                _ => None,
            })
            .unwrap_or(2);
        return Some(u8::try_from(p.clamp(1, 3)).unwrap_or(2));
    }
    None
}

/// Read a FieldMDP `/Action` + `/Fields` dictionary (a transform's `/TransformParams` or a
/// field's `/Lock`). An unknown or missing `/Action` locks every field (the strict reading);
/// the second value says so.
fn read_field_lock(
    doc: &lopdf::Document,
    d: &Dictionary,
    source: &str,
    depth: usize,
) -> (FieldMdp, bool) {
    let action = match document::get_name(doc, d, b"Action", depth) {
        Some(b"All") => Some(FieldMdpAction::All),
        Some(b"Include") => Some(FieldMdpAction::Include),
        Some(b"Exclude") => Some(FieldMdpAction::Exclude),
        _ => None,
    };
    let fields = match document::get(doc, d, b"Fields", depth) {
        Some(Object::Array(a)) => a
            .iter()
            .filter_map(|f| match document::resolve(doc, f, depth) {
                Some(Object::String(s, _)) => Some(document::text_string(s)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let lock = FieldMdp {
        action: action.unwrap_or(FieldMdpAction::All),
        fields: if action.is_some_and(|a| a != FieldMdpAction::All) {
            fields
        } else {
            Vec::new()
        },
        source: source.to_string(),
    };
    (lock, action.is_none())
}

/// The FieldMDP lock of a signature (ISO 32000-2 §12.8.2.4): the FieldMDP transform in its
/// `/Reference`, else its field's `/Lock` dictionary (§12.7.5.5, Table 236). The second value
/// is a warning when the lock could not be read and is taken to lock every field.
fn field_mdp(
    doc: &lopdf::Document,
    sig: &Dictionary,
    field: Option<&Dictionary>,
    depth: usize,
) -> Option<(FieldMdp, Option<String>)> {
    let unreadable = |lock: FieldMdp, bad: bool| {
        let warning = bad.then(|| {
            format!(
                "the signature's FieldMDP {} has no readable /Action: every field is taken as locked",
                lock.source
            )
        });
        (lock, warning)
    };
    if let Some(Object::Array(refs)) = document::get(doc, sig, b"Reference", depth) {
        for r in refs {
            let Some(rd) = document::as_dict(doc, r, depth) else {
                continue;
            };
            if document::get_name(doc, rd, b"TransformMethod", depth) != Some(b"FieldMDP") {
                continue;
            }
            let empty = Dictionary::new();
            let params = rd
                .get(b"TransformParams")
                .ok()
                .and_then(|tp| document::as_dict(doc, tp, depth))
                .unwrap_or(&empty);
            let (lock, bad) = read_field_lock(doc, params, "Reference", depth);
            return Some(unreadable(lock, bad));
        }
    }
    let lock = field?
        .get(b"Lock")
        .ok()
        .and_then(|l| document::as_dict(doc, l, depth))?;
    let (lock, bad) = read_field_lock(doc, lock, "Lock", depth);
    Some(unreadable(lock, bad))
}

fn permitted_level(p: Option<u8>) -> ChangeLevel {
    match p {
        Some(1) => ChangeLevel::LtaUpdates,
        Some(3) => ChangeLevel::Annotations,
        _ => ChangeLevel::FormFilling,
    }
}

/// A signature found in some revision.
struct Found {
    name: String,
    field_id: ObjectId,
    sig_id: ObjectId,
    /// Index of the revision it was found in (the newest that has it).
    seen_in: usize,
}

/// Everything about one signature before DocMDP and the indication are settled.
struct Partial {
    report: SignatureReport,
    failures: Vec<Failure>,
    /// Index of the covered revision, when the ByteRange is sound.
    revision: Option<usize>,
    certification: Option<u8>,
    /// The blanked gap (see `gaps`) this signature's ByteRange check accepted as its
    /// `/Contents`: gap index, signature object, offset of its `obj` header.
    claim: Option<(usize, ObjectId, usize)>,
}

/// Verify every signature of a PDF (see the module documentation for the pipeline).
///
/// `Err` only when the file is not a readable PDF, has no signature, or exceeds a limit;
/// every finding about a signature is in the [`Report`].
pub fn verify_pdf(data: &[u8], opts: &VerifyOptions) -> Result<Report, VerifyError> {
    let run = Run::start(data, opts)?;
    // Parse a view with the signatures' /Contents blanked when that is provably the same
    // (see `gaps`); otherwise, or when the proof fails, parse the file itself.
    if run.view_allowed
        && let Some(blanked) = gaps::Blanked::new(data)
        && let Ok(Verified {
            report,
            confirmed: true,
        }) = run.verify(data, Some(&blanked), opts)
    {
        return Ok(report);
    }
    run.verify(data, None, opts).map(|v| v.report)
}

/// What every verification of one file shares: its budget and validation time, where its
/// header is, and whether the pre-scan allows a blanked view (no stream the parser inflates
/// while loading).
struct Run {
    budget: Budget,
    validation_time: OffsetDateTime,
    header: usize,
    view_allowed: bool,
}

impl Run {
    /// The size limit, the header and the pre-scan (which bounds what `lopdf` inflates).
    fn start(data: &[u8], opts: &VerifyOptions) -> Result<Run, VerifyError> {
        let limits = &opts.limits;
        if data.len() > limits.max_input_bytes {
            return Err(VerifyError::LimitExceeded(LimitHit::new(
                "max_input_bytes",
                format!(
                    "the file is {} bytes, the limit is {}",
                    data.len(),
                    limits.max_input_bytes
                ),
            )));
        }
        let budget = Budget::new(limits);
        let validation_time = opts.at.unwrap_or_else(OffsetDateTime::now_utc);
        let header = document::header_offset(data)
            .ok_or_else(|| VerifyError::NotPdf("no %PDF- header".into()))?;
        let scan = prescan::check(data, header, &budget).map_err(|r| match r {
            prescan::Refusal::Limit(l) => VerifyError::LimitExceeded(l),
            prescan::Refusal::Encrypted => VerifyError::NotPdf(document::ENCRYPTED.into()),
        })?;
        Ok(Run {
            budget,
            validation_time,
            header,
            view_allowed: scan.loaded_streams == 0,
        })
    }

    fn verify(
        &self,
        data: &[u8],
        blanked: Option<&gaps::Blanked>,
        opts: &VerifyOptions,
    ) -> Result<Verified, VerifyError> {
        verify_parsed(
            data,
            blanked,
            self.header,
            self.validation_time,
            opts,
            &self.budget,
        )
    }
}

/// What [`verify_pdf`] would answer from the file's own parse and from the blanked view
/// (module `gaps`), for tests and fuzzing: wherever `view.confirmed`, the two must agree.
#[doc(hidden)]
#[derive(Debug)]
pub struct ParseComparison {
    /// The report from parsing the file itself.
    pub file: Result<Report, VerifyError>,
    /// The report from the view and whether the view was confirmed; `None` when no view was
    /// made (no candidate gap, or streams the parser inflates while loading).
    pub view: Option<(Result<Report, VerifyError>, bool)>,
}

#[doc(hidden)]
pub fn compare_parses(data: &[u8], opts: &VerifyOptions) -> ParseComparison {
    let run = match Run::start(data, opts) {
        Ok(run) => run,
        Err(e) => {
            return ParseComparison {
                file: Err(e),
                view: None,
            };
        }
    };
    let file = run.verify(data, None, opts).map(|v| v.report);
    let view = run
        .view_allowed
        .then(|| gaps::Blanked::new(data))
        .flatten()
        .map(|b| match run.verify(data, Some(&b), opts) {
            Ok(v) => (Ok(v.report), v.confirmed),
            Err(e) => (Err(e), false),
        });
    ParseComparison { file, view }
}

/// A report, and whether the view it was parsed from is confirmed to parse as the file does.
struct Verified {
    report: Report,
    confirmed: bool,
}

/// Verify `data`, parsing `blanked`'s view of it when given, the file itself otherwise.
fn verify_parsed(
    data: &[u8],
    blanked: Option<&gaps::Blanked>,
    header: usize,
    validation_time: OffsetDateTime,
    opts: &VerifyOptions,
    budget: &Budget,
) -> Result<Verified, VerifyError> {
    let parsed = blanked.map_or(data, |b| b.view.as_slice());
    let revisions = document::load_revisions(parsed, budget).map_err(|e| match e {
        document::LoadFailure::NotPdf(m) => VerifyError::NotPdf(m),
        document::LoadFailure::Limit(l) => VerifyError::LimitExceeded(l),
    })?;

    // Document-level problems.
    let mut doc_problems = Vec::new();
    let last = revisions
        .last()
        .ok_or_else(|| VerifyError::NotPdf("no revision".into()))?;
    if last.recovered {
        doc_problems.push(
            "the cross-reference data of the last revision is damaged and had to be repaired: other readers may show different content".to_string(),
        );
    }
    let tail = &data[last.end..];
    if tail.iter().any(|b| !b.is_ascii_whitespace() && *b != 0) {
        doc_problems.push(format!(
            "{} bytes after the last %%EOF are neither signed nor a complete revision",
            tail.len()
        ));
    }
    if last.doc.trailer.has(b"Encrypt") {
        return Err(VerifyError::NotPdf(document::ENCRYPTED.into()));
    }

    // Signatures in every revision, newest revision first (so names come from the newest).
    let mut found: Vec<Found> = Vec::new();
    for (idx, rev) in revisions.iter().enumerate().rev() {
        for f in document::signature_fields(&rev.doc, budget)? {
            let br = document::dict_by_id(&rev.doc, f.sig_id)
                .map(|d| byterange::read_byte_range(d).unwrap_or_default());
            let dup = found.iter().any(|g| {
                g.sig_id == f.sig_id
                    && document::dict_by_id(&revisions[g.seen_in].doc, g.sig_id)
                        .map(|d| byterange::read_byte_range(d).unwrap_or_default())
                        == br
            });
            if !dup {
                found.push(Found {
                    name: f.name,
                    field_id: f.field_id,
                    sig_id: f.sig_id,
                    seen_in: idx,
                });
            }
        }
    }
    if found.is_empty() {
        return Err(VerifyError::NoSignature);
    }

    // The file's SHA-256, keeping the state where each signature's first signed part ends.
    let cuts: Vec<usize> = found
        .iter()
        .filter_map(|f| {
            let range = document::dict_by_id(&revisions[f.seen_in].doc, f.sig_id)
                .map(|d| byterange::read_byte_range(d).unwrap_or_default())?;
            usize::try_from(*range.get(1)?).ok()
        })
        .collect();
    let file_digest = digest::FileDigest::new(data, &cuts);

    let mut reaches: Vec<Option<Reach>> = (0..revisions.len()).map(|_| None).collect();
    let mut partials = Vec::new();
    for f in &found {
        budget.tick()?;
        partials.push(check_signature(
            data,
            header,
            &revisions,
            f,
            &doc_problems,
            &file_digest,
            blanked,
            opts,
            validation_time,
            budget,
        )?);
    }
    let claims: Vec<(usize, ObjectId, usize)> = partials.iter().filter_map(|p| p.claim).collect();
    partials.sort_by_key(|p| {
        (
            p.revision.unwrap_or(usize::MAX),
            p.report.field_name.clone(),
        )
    });

    // DocMDP: the first certification signature governs; any other one is refused.
    let mut first_cert: Option<(usize, u8)> = None;
    for (i, p) in partials.iter_mut().enumerate() {
        if let Some(perm) = p.certification {
            match first_cert {
                None if i == 0 => first_cert = Some((i, perm)),
                None => p.failures.push(total(
                    SubIndication::SigConstraintsFailure,
                    "a certification signature must be the first signature of the document",
                )),
                Some(_) => p.failures.push(total(
                    SubIndication::SigConstraintsFailure,
                    "the document carries more than one certification signature",
                )),
            }
        }
    }
    let doc_permission = first_cert.map(|(_, p)| p);

    // Changes after each signature.
    for p in &mut partials {
        let Some(signed) = p.revision else {
            p.report.docmdp.permission = doc_permission;
            continue;
        };
        let lock = p.report.field_mdp.clone();
        let policy = diff::Policy {
            certified: doc_permission.is_some(),
            lock: lock.as_ref(),
        };
        let mut objects: Vec<ChangedObject> = Vec::new();
        for later in signed + 1..revisions.len() {
            budget.tick()?;
            for i in [signed, later] {
                if reaches[i].is_none() {
                    reaches[i] = Some(document::reachable(&revisions[i].doc, budget)?);
                }
            }
            let (Some(old_reach), Some(new_reach)) = (&reaches[signed], &reaches[later]) else {
                continue;
            };
            for c in diff::diff(
                &revisions[signed].doc,
                old_reach,
                &revisions[later].doc,
                new_reach,
                later + 1,
                &policy,
                budget,
            )? {
                if !objects
                    .iter()
                    .any(|o| o.object == c.object && o.level == c.level && o.reason == c.reason)
                {
                    objects.push(c);
                }
            }
        }
        let level = objects
            .iter()
            .map(|o| o.level)
            .max()
            .unwrap_or(ChangeLevel::None);
        let permitted = permitted_level(doc_permission);
        let ok = level <= permitted && level != ChangeLevel::Other;
        if !ok {
            let what = objects
                .iter()
                .filter(|o| o.level > permitted)
                .take(3)
                .map(|o| format!("{} {} ({})", o.role, o.object, o.reason))
                .collect::<Vec<_>>()
                .join("; ");
            let mut policy = match doc_permission {
                Some(n) => format!("DocMDP P={n}"),
                None => "an approval signature (form filling and signing allowed)".to_string(),
            };
            if lock.is_some() {
                policy.push_str(" and this signature's FieldMDP lock");
            }
            p.failures.push(total(
                SubIndication::SigConstraintsFailure,
                format!("changes after signing go beyond what {policy} allows: {what}"),
            ));
        }
        p.report.changes = Changes { level, objects };
        p.report.docmdp.permission = doc_permission;
        p.report.docmdp.changes_permitted = ok;
    }

    let mut signatures = Vec::new();
    for mut p in partials {
        let worst = p
            .failures
            .iter()
            .map(|f| f.0)
            .max()
            .unwrap_or(Indication::TotalPassed);
        let sub = p
            .failures
            .iter()
            .filter(|f| f.0 == worst)
            .min_by_key(|f| priority(f.1))
            .map(|f| f.1);
        p.report.indication = worst;
        p.report.sub_indication = sub;
        let mut problems: Vec<String> = Vec::new();
        let mut sorted = p.failures.clone();
        sorted.sort_by_key(|f| (std::cmp::Reverse(f.0), priority(f.1)));
        for f in sorted {
            if !problems.contains(&f.2) {
                problems.push(f.2);
            }
        }
        p.report.problems = problems;
        signatures.push(p.report);
    }

    let confirmed = match blanked {
        Some(b) => b.confirm(&revisions, &claims, header),
        None => false,
    };
    let report = Report {
        document: DocumentInfo {
            sha256: hex::encode(file_digest.whole()),
            size: data.len(),
            revision_count: revisions.len(),
            revisions: revisions
                .iter()
                .map(|r| RevisionInfo { end_offset: r.end })
                .collect(),
            problems: doc_problems,
        },
        validation_time: rfc3339(validation_time),
        signatures,
    };
    Ok(Verified { report, confirmed })
}

/// Byte offset of an uncompressed indirect object in the file, from a revision's xref.
fn object_offset(rev: &Revision, id: ObjectId, header: usize) -> Option<usize> {
    match rev.doc.reference_table.entries.get(&id.0)? {
        lopdf::xref::XrefEntry::Normal { offset, generation } if *generation == id.1 => {
            Some(*offset as usize + header)
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn check_signature(
    data: &[u8],
    header: usize,
    revisions: &[Revision],
    f: &Found,
    doc_problems: &[String],
    file_digest: &digest::FileDigest,
    blanked: Option<&gaps::Blanked>,
    opts: &VerifyOptions,
    validation_time: OffsetDateTime,
    budget: &Budget,
) -> Result<Partial, VerifyError> {
    let depth = budget.limits.max_depth;
    let mut failures: Vec<Failure> = doc_problems
        .iter()
        .map(|p| total(SubIndication::FormatFailure, p.clone()))
        .collect();
    let mut warnings = Vec::new();
    let seen = &revisions[f.seen_in];
    let empty = Dictionary::new();
    let seen_dict = document::dict_by_id(&seen.doc, f.sig_id).unwrap_or(&empty);
    let raw_range = byterange::read_byte_range(seen_dict).unwrap_or_default();
    let sub_filter = document::get_name(&seen.doc, seen_dict, b"SubFilter", depth)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();

    let mut report = SignatureReport {
        field_name: f.name.clone(),
        revision: 0,
        byte_range: raw_range.clone(),
        sub_filter: sub_filter.clone(),
        coverage: Coverage::Anomaly,
        integrity: Integrity::default(),
        signer: None,
        chain: ChainReport::default(),
        seal: None,
        signing_time: None,
        changes: Changes {
            level: ChangeLevel::None,
            objects: Vec::new(),
        },
        docmdp: DocMdp {
            certification: false,
            permission: None,
            changes_permitted: true,
        },
        field_mdp: None,
        indication: Indication::TotalPassed,
        sub_indication: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let done = |report: SignatureReport, failures: Vec<Failure>, warnings: Vec<String>| Partial {
        report: SignatureReport { warnings, ..report },
        failures,
        revision: None,
        certification: None,
        claim: None,
    };

    // Which revision the ByteRange claims; read the signature dictionary from it.
    let claimed = if raw_range.len() == 4 && raw_range.iter().all(|v| *v >= 0) {
        let end = raw_range[2]
            .checked_add(raw_range[3])
            .and_then(|e| usize::try_from(e).ok());
        revisions
            .iter()
            .position(|r| Some(r.end) == end || Some(r.marker_end) == end)
    } else {
        None
    };
    let (sig_rev, sig_dict) = match claimed {
        Some(i) => match document::dict_by_id(&revisions[i].doc, f.sig_id) {
            Some(d) => (i, d),
            None => {
                failures.push(total(
                    SubIndication::FormatFailure,
                    "the signature dictionary does not exist in the revision its ByteRange covers",
                ));
                return Ok(done(report, failures, warnings));
            }
        },
        None => (f.seen_in, seen_dict),
    };
    if sig_rev != f.seen_in
        && !document::same(
            &Object::Dictionary(sig_dict.clone()),
            &Object::Dictionary(seen_dict.clone()),
        )
    {
        failures.push(total(
            SubIndication::FormatFailure,
            "the signature dictionary was changed after signing",
        ));
    }
    let ty = document::get_name(&revisions[sig_rev].doc, sig_dict, b"Type", depth);
    if ty == Some(b"DocTimeStamp") || sub_filter == "ETSI.RFC3161" {
        failures.push((
            Indication::Indeterminate,
            SubIndication::SigConstraintsFailure,
            "document timestamps (ETSI.RFC3161) are not verified yet".into(),
        ));
        return Ok(done(report, failures, warnings));
    }
    let cades = match sub_filter.as_str() {
        "ETSI.CAdES.detached" => true,
        "adbe.pkcs7.detached" => false,
        other => {
            failures.push(total(
                SubIndication::FormatFailure,
                format!(
                    "SubFilter '{other}' is not supported (ETSI.CAdES.detached and adbe.pkcs7.detached are)"
                ),
            ));
            return Ok(done(report, failures, warnings));
        }
    };

    // Structure: ByteRange and Contents.
    let offset = object_offset(&revisions[sig_rev], f.sig_id, header);
    let span = match byterange::check(data, revisions, sig_dict, offset, blanked) {
        Ok(s) => s,
        Err(msg) => {
            failures.push(total(SubIndication::FormatFailure, msg));
            return Ok(done(report, failures, warnings));
        }
    };
    let [_, a, b, c] = span.range;
    report.revision = span.revision + 1;
    report.coverage = if b + c == data.len()
        || (span.revision + 1 == revisions.len()
            && data[b + c..]
                .iter()
                .all(|x| x.is_ascii_whitespace() || *x == 0))
    {
        Coverage::EntireFile
    } else {
        Coverage::EntireRevision
    };
    let sig_doc = &revisions[span.revision].doc;

    // Integrity.
    let ig = integrity::check(
        &span.contents,
        integrity::SignedBytes {
            parts: [&data[..a], &data[b..b + c]],
            sha256_after_first: file_digest.after(a),
        },
        cades,
    );
    report.integrity = ig.integrity.clone();
    for (sub, msg) in &ig.failures {
        failures.push((indication_of(*sub), *sub, msg.clone()));
    }
    warnings.extend(ig.warnings.iter().cloned());

    // Claimed signing time: /M, else the CMS signing-time attribute.
    let m_time = match document::get(sig_doc, sig_dict, b"M", depth) {
        Some(Object::String(s, _)) => parse_pdf_date(s),
        _ => None,
    };
    let signing_time = match (m_time, ig.cms_signing_time) {
        (Some(t), _) => {
            report.signing_time = Some(SigningTime {
                time: rfc3339(t),
                source: "M".into(),
            });
            Some(t)
        }
        (None, Some(unix)) => {
            let t = OffsetDateTime::from_unix_timestamp(unix).ok();
            report.signing_time = t.map(|t| SigningTime {
                time: rfc3339(t),
                source: "cms-signing-time".into(),
            });
            t
        }
        (None, None) => None,
    };

    // Signer and chain.
    let parsed = ig.signed_data.as_ref();
    if let Some(cert_der) = &ig.signer_cert
        && let Ok(cert) = crate::certs::parse(cert_der)
    {
        let attr = |oid: &str| {
            cert.subject()
                .iter_attributes()
                .find(|a| a.attr_type().to_id_string() == oid)
                .and_then(|a| a.as_str().ok().map(str::to_string))
        };
        report.signer = Some(report::SignerInfo {
            certificate: chain::certificate_info(&cert, cert_der),
            organization: attr("2.5.4.10"),
            organization_identifier: attr("2.5.4.97"),
            common_name: attr("2.5.4.3"),
        });
        if let Some(t) = signing_time {
            let nb = cert.validity().not_before.timestamp();
            if t.unix_timestamp() < nb {
                failures.push(total(
                    SubIndication::NotYetValid,
                    format!(
                        "the claimed signing time {} is before the signer certificate's notBefore",
                        rfc3339(t)
                    ),
                ));
            }
        }
        let pool = parsed
            .as_ref()
            .map(|p| p.certificates.clone())
            .unwrap_or_default();
        let outcome = chain::validate(
            cert_der,
            &pool,
            &opts.trust_anchors,
            validation_time.unix_timestamp(),
        );
        report.chain = outcome.report;
        for (sub, msg) in outcome.failures {
            failures.push((indication_of(sub), sub, msg));
        }
    }

    // Seal object.
    if let Some(sd) = parsed {
        let (seal_report, seal_failures) = seal::check(
            sd,
            ig.signer_cert.as_deref(),
            signing_time,
            sig_doc,
            f.field_id,
            budget,
        )?;
        report.seal = seal_report;
        failures.extend(seal_failures);
    }

    if let Some((lock, warning)) = field_mdp(
        sig_doc,
        sig_dict,
        document::dict_by_id(sig_doc, f.field_id),
        depth,
    ) {
        report.field_mdp = Some(lock);
        warnings.extend(warning);
    }

    let certification = docmdp_permission(sig_doc, sig_dict, depth);
    report.docmdp.certification = certification.is_some();
    if certification.is_some() {
        let perms_ok = document::catalog(sig_doc)
            .and_then(|(_, cat)| document::get(sig_doc, cat, b"Perms", depth))
            .and_then(|p| match p {
                Object::Dictionary(d) => d.get(b"DocMDP").ok().and_then(|r| r.as_reference().ok()),
                _ => None,
            })
            == Some(f.sig_id);
        if !perms_ok {
            warnings.push(
                "a certification signature that the catalog's /Perms /DocMDP does not point at"
                    .into(),
            );
        }
    }

    Ok(Partial {
        report: SignatureReport { warnings, ..report },
        failures,
        revision: Some(span.revision),
        certification,
        claim: span
            .blanked_gap
            .zip(offset)
            .map(|(gap, at)| (gap, f.sig_id, at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_parse() {
        let t = parse_pdf_date(b"D:20261121224705+08'00'").unwrap();
        assert_eq!(rfc3339(t), "2026-11-21T22:47:05+08:00");
        let t = parse_pdf_date(b"D:20261121224705Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_795_301_225);
        assert!(parse_pdf_date(b"D:2026").is_some());
        assert!(parse_pdf_date(b"D:20261341").is_none());
        assert!(parse_pdf_date(b"garbage").is_none());
    }

    #[test]
    fn not_a_pdf_and_size_limit_are_errors() {
        let opts = VerifyOptions::default();
        assert!(matches!(
            verify_pdf(b"hello", &opts),
            Err(VerifyError::NotPdf(_))
        ));
        let small = VerifyOptions {
            limits: Limits {
                max_input_bytes: 3,
                ..Limits::default()
            },
            ..VerifyOptions::default()
        };
        match verify_pdf(b"%PDF-1.7", &small) {
            Err(VerifyError::LimitExceeded(l)) => assert_eq!(l.limit, "max_input_bytes"),
            other => panic!("{other:?}"),
        }
    }
}
