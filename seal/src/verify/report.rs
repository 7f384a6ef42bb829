//! The verification report: what was checked and what was found, for a person
//! ([`Report::summary`]) and for a machine (JSON via `serde`, field names stable and documented
//! in docs/FORMATS.md "Verification report", schema in docs/schema/verification-report.schema.json).
//!
//! Indications and sub-indications are those of ETSI EN 319 102-1 §5.1.3 (Tables 4–6).

use serde::Serialize;

/// ETSI EN 319 102-1 main indication (§5.1.3 Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Indication {
    /// Every check passed.
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    /// Some check could not be completed (e.g. no path to a trust anchor).
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
    /// The signature is proven invalid (broken structure, wrong hash, bad crypto, forbidden changes).
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
}

impl Indication {
    /// The ETSI spelling, e.g. `TOTAL-PASSED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TotalPassed => "TOTAL-PASSED",
            Self::Indeterminate => "INDETERMINATE",
            Self::TotalFailed => "TOTAL-FAILED",
        }
    }
}

/// ETSI EN 319 102-1 sub-indication (§5.1.3 Tables 5 and 6), the ones Chop reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    /// TOTAL-FAILED: the signature or the PDF structure around it does not conform
    /// (ByteRange anomalies, garbage CMS, unsupported SubFilter, …).
    FormatFailure,
    /// TOTAL-FAILED: the message digest does not match the signed bytes.
    HashFailure,
    /// TOTAL-FAILED: the signature value does not verify with the signer's public key.
    SigCryptoFailure,
    /// TOTAL-FAILED: the signing certificate was not yet valid at the (claimed) signing time
    /// or at the validation time.
    NotYetValid,
    /// TOTAL-FAILED (Chop, see docs/VERIFY.md) or INDETERMINATE: a constraint on the signature
    /// failed — changes after signing beyond what DocMDP allows, a second certification
    /// signature, a seal object that does not allow this signer.
    SigConstraintsFailure,
    /// INDETERMINATE: no certificate in the CMS matches the signer identifier.
    NoSigningCertificateFound,
    /// INDETERMINATE: no path from the signer certificate to a trust anchor.
    NoCertificateChainFound,
    /// INDETERMINATE: a certificate on the path violates basic constraints, path length,
    /// key usage or carries an unknown critical extension.
    ChainConstraintsFailure,
    /// INDETERMINATE: a certificate on the path is expired at the validation time and no proof
    /// of existence of the signature before that exists.
    OutOfBoundsNoPoe,
    /// INDETERMINATE: the signature uses an algorithm Chop does not support.
    CryptoConstraintsFailureNoPoe,
}

/// The whole report for one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Facts about the file itself.
    pub document: DocumentInfo,
    /// The time certificates were checked at (RFC 3339): `--at`, or the time of verification.
    pub validation_time: String,
    /// One entry per signature, in the order of the revisions they sign.
    pub signatures: Vec<SignatureReport>,
}

/// Facts about the file.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentInfo {
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
    /// Number of revisions (the original plus each incremental update).
    pub revision_count: usize,
    /// Each revision, oldest first.
    pub revisions: Vec<RevisionInfo>,
    /// Document-level problems (damaged cross-reference, unsigned trailing bytes), in words.
    pub problems: Vec<String>,
}

/// One revision of the file.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionInfo {
    /// Offset just past the revision's `%%EOF` and its end-of-line.
    pub end_offset: usize,
}

/// How much of the file a signature's ByteRange covers (ISO 32000-2 §12.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Coverage {
    /// The whole file but the `/Contents` value.
    EntireFile,
    /// A whole earlier revision; later revisions are judged by the difference analysis.
    EntireRevision,
    /// Anything else (the problem is named in `problems`).
    Anomaly,
}

/// Classification of changes made after a signature, the worst one found (pyHanko's
/// `ModificationLevel`, with annotations reported as their own class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeLevel {
    /// No revision after this signature changes anything reachable.
    None,
    /// Only long-term-validation material: DSS, document timestamps, metadata, `/Info`.
    LtaUpdates,
    /// Form filling: new or newly signed signature fields, field values and their appearances.
    FormFilling,
    /// New annotations (comments, markup).
    Annotations,
    /// Anything else: page content, resources, fonts, page tree, catalog actions, removed or
    /// altered objects present at signing.
    Other,
}

/// The integrity checks of one signature (CMS, RFC 5652 §5.4, §5.6).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Integrity {
    /// The `messageDigest` signed attribute equals the digest of the ByteRange bytes.
    pub message_digest_matches: bool,
    /// The signature value verifies over the signed attributes with the signer's key.
    pub signature_verifies: bool,
    /// content-type is id-data, message-digest present once, signing-certificate-v2 (if any)
    /// names the signer certificate, no unknown structure.
    pub signed_attributes_well_formed: bool,
    /// Digest algorithm, e.g. `SHA-256` (empty when the CMS could not be read).
    pub digest_algorithm: String,
    /// Signature algorithm, e.g. `ECDSA P-256 / SHA-256`, or its OID when unsupported.
    pub signature_algorithm: String,
}

/// The signer's certificate, as read.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    /// Subject distinguished name (RFC 4514).
    pub subject: String,
    /// Issuer distinguished name (RFC 4514).
    pub issuer: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// `notBefore`, RFC 3339.
    pub not_before: String,
    /// `notAfter`, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
}

/// The signer (ETSI EN 319 412-3 legal-person fields when present).
#[derive(Debug, Clone, Serialize)]
pub struct SignerInfo {
    /// The certificate.
    #[serde(flatten)]
    pub certificate: CertificateInfo,
    /// Subject `organizationName` (O), if any.
    pub organization: Option<String>,
    /// Subject `organizationIdentifier` (2.5.4.97), e.g. `NTRCN-…`, if any.
    pub organization_identifier: Option<String>,
    /// Subject `commonName` (CN), if any.
    pub common_name: Option<String>,
}

/// One certificate of the path, with the checks made on it.
#[derive(Debug, Clone, Serialize)]
pub struct ChainCertificate {
    /// The certificate.
    #[serde(flatten)]
    pub certificate: CertificateInfo,
    /// Valid at the validation time.
    pub valid_at_validation_time: bool,
    /// Is a trust anchor given by the caller.
    pub trust_anchor: bool,
    /// basicConstraints, path length and keyUsage checks passed for its place in the path.
    pub constraints_ok: bool,
}

/// Path validation (RFC 5280 §6, simplified; see docs/VERIFY.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChainReport {
    /// A path to a trust anchor was found and every check on it passed.
    pub trusted: bool,
    /// Subject of the trust anchor the path ends at, if a path was found.
    pub trust_anchor: Option<String>,
    /// The path, signer first, trust anchor last.
    pub certificates: Vec<ChainCertificate>,
}

/// Chop's GB/T 38540 seal object carried as a signed attribute, and the checks made on it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SealReport {
    /// `esID`.
    pub es_id: String,
    /// Seal name, e.g. 行政审批专用章.
    pub name: String,
    /// Seal type code (docs/FORMATS.md).
    pub seal_type: i64,
    /// Organisation name.
    pub organization: String,
    /// Organisation 统一社会信用代码.
    pub organization_id: String,
    /// Subject of the seal maker (制章机构) certificate.
    pub maker: String,
    /// `validStart`, RFC 3339.
    pub valid_start: String,
    /// `validEnd`, RFC 3339.
    pub valid_end: String,
    /// The maker's signature over `SES_SealInfo` verifies.
    pub maker_signature_valid: bool,
    /// The signer certificate is in the seal's `certList`.
    pub signer_in_cert_list: bool,
    /// The seal was valid at the claimed signing time.
    pub valid_at_signing_time: bool,
    /// The image drawn by the signature widget equals the seal picture (`None`: no visible
    /// appearance image found).
    pub appearance_matches_picture: Option<bool>,
}

/// One changed object after a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedObject {
    /// Object number and generation, e.g. `3 0`.
    pub object: String,
    /// 1-based revision in which the change appears.
    pub revision: usize,
    /// What the object is, e.g. `page`, `annotation`, `signature field`, `content stream`.
    pub role: String,
    /// How the change is classified.
    pub level: ChangeLevel,
    /// Why it got that classification (the rule that explained it, or what was changed).
    pub reason: String,
}

/// Changes after a signature.
#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    /// The worst classification over every later revision.
    pub level: ChangeLevel,
    /// Every changed, added or removed object, in revision order.
    pub objects: Vec<ChangedObject>,
}

/// DocMDP (ISO 32000-2 §12.8.2.2): the certification permission that governs later changes.
#[derive(Debug, Clone, Serialize)]
pub struct DocMdp {
    /// This signature is a certification signature (has a DocMDP `/Reference`).
    pub certification: bool,
    /// The permission P (1, 2 or 3) governing changes after this signature, from the
    /// document's certification signature; `None` when the document is not certified
    /// (Chop then allows what P=2 allows).
    pub permission: Option<u8>,
    /// The changes after this signature are within what the permission allows, and touch no
    /// form field this signature's FieldMDP lock covers.
    pub changes_permitted: bool,
}

/// The scope of a FieldMDP lock (ISO 32000-2 §12.8.2.4, Table 257 `/Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FieldMdpAction {
    /// Every form field is locked.
    All,
    /// Only the fields named in `fields` (and their descendants) are locked.
    Include,
    /// Every field except those named in `fields` (and their descendants) is locked.
    Exclude,
}

/// A FieldMDP lock: the form fields a signature forbids later revisions to change
/// (ISO 32000-2 §12.8.2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldMdp {
    /// Which fields the lock applies to.
    pub action: FieldMdpAction,
    /// The fully qualified field names of `/Fields` (empty with `All`).
    pub fields: Vec<String>,
    /// Where the lock was read: `Reference` (a FieldMDP transform in the signature
    /// dictionary's `/Reference`, what the signature itself carries) or `Lock` (the signature
    /// field's `/Lock` dictionary, when the signature carries no FieldMDP transform).
    pub source: String,
}

impl FieldMdp {
    /// Whether the field with fully qualified name `name` is locked. Naming a non-terminal
    /// field names every field below it (`A` covers `A.b`), as pyHanko reads it.
    pub fn locks(&self, name: &str) -> bool {
        let named = self.fields.iter().any(|f| {
            name == f
                || name
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        match self.action {
            FieldMdpAction::All => true,
            FieldMdpAction::Include => named,
            FieldMdpAction::Exclude => !named,
        }
    }
}

/// The claimed signing time.
#[derive(Debug, Clone, Serialize)]
pub struct SigningTime {
    /// RFC 3339.
    pub time: String,
    /// Where it comes from: `M` (the signature dictionary's `/M`) or `cms-signing-time`.
    pub source: String,
}

/// Everything found about one signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// Fully qualified field name (`/T` of the field and its parents joined by `.`).
    pub field_name: String,
    /// 1-based index of the revision the signature covers.
    pub revision: usize,
    /// The `/ByteRange` as read (empty if unreadable).
    pub byte_range: Vec<i64>,
    /// `/SubFilter`, e.g. `ETSI.CAdES.detached`.
    pub sub_filter: String,
    /// Coverage class.
    pub coverage: Coverage,
    /// Integrity checks.
    pub integrity: Integrity,
    /// The signer certificate, if found.
    pub signer: Option<SignerInfo>,
    /// Path validation.
    pub chain: ChainReport,
    /// The seal object, if the CMS carries one.
    pub seal: Option<SealReport>,
    /// Claimed signing time (not a proof of existence: no timestamp yet).
    pub signing_time: Option<SigningTime>,
    /// Changes in later revisions.
    pub changes: Changes,
    /// DocMDP permission and compliance.
    pub docmdp: DocMdp,
    /// The FieldMDP lock this signature sets, if any; changes to locked fields after it make
    /// `docmdp.changes_permitted` false.
    pub field_mdp: Option<FieldMdp>,
    /// ETSI EN 319 102-1 main indication.
    pub indication: Indication,
    /// ETSI EN 319 102-1 sub-indication (`None` with TOTAL-PASSED).
    pub sub_indication: Option<SubIndication>,
    /// Every problem found, in words; a TOTAL-PASSED signature has none.
    pub problems: Vec<String>,
    /// Deviations that do not change the indication (e.g. a CMS signing-time attribute,
    /// which PAdES forbids but other validators accept).
    pub warnings: Vec<String>,
}

impl Report {
    /// The worst indication over all signatures (TOTAL-FAILED > INDETERMINATE > TOTAL-PASSED).
    pub fn worst(&self) -> Indication {
        self.signatures
            .iter()
            .map(|s| s.indication)
            .max()
            .unwrap_or(Indication::Indeterminate)
    }

    /// A plain-language verdict, one paragraph per signature.
    pub fn summary(&self) -> String {
        self.signatures
            .iter()
            .map(SignatureReport::summary)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl SignatureReport {
    /// Who signed, in words: the seal's organisation and name, else the certificate's.
    fn who(&self) -> String {
        if let Some(seal) = &self.seal {
            return format!("Sealed by {} with {}", seal.organization, seal.name);
        }
        match &self.signer {
            Some(s) => {
                let name = s
                    .organization
                    .clone()
                    .or_else(|| s.common_name.clone())
                    .unwrap_or_else(|| s.certificate.subject.clone());
                format!("Signed by {name}")
            }
            None => "Signed by an unidentified signer".to_string(),
        }
    }

    /// A plain-language verdict for this signature (first line: who, when, whether the
    /// document changed; then the indication and the first problem, if any).
    pub fn summary(&self) -> String {
        let when = self
            .signing_time
            .as_ref()
            .map(|t| format!(" on {}", t.time))
            .unwrap_or_default();
        let who = self.who();
        let first = self.problems.first().cloned().unwrap_or_default();
        let verdict = match (self.indication, self.sub_indication) {
            (Indication::TotalPassed, _) => {
                let tail = match self.changes.level {
                    ChangeLevel::None => "the document has not been changed since.".to_string(),
                    ChangeLevel::LtaUpdates => {
                        "since then only validation data was added.".to_string()
                    }
                    ChangeLevel::FormFilling => {
                        "since then only signatures or form fields were added or filled in, as allowed."
                            .to_string()
                    }
                    ChangeLevel::Annotations | ChangeLevel::Other => {
                        "since then only annotations were added, as allowed.".to_string()
                    }
                };
                format!("{who}{when}; {tail}")
            }
            (_, Some(SubIndication::SigConstraintsFailure)) if !self.docmdp.changes_permitted => {
                let because = |mark: &str| {
                    self.changes
                        .objects
                        .iter()
                        .any(|o| o.level == ChangeLevel::Other && o.reason.contains(mark))
                };
                let what = if because(super::diff::LOCKED_FIELD) {
                    "a form field this signature locks was changed"
                } else if because(super::diff::SNEAKY_SIGNATURE) {
                    "a visible signature was added to the certified document"
                } else {
                    match self.changes.level {
                        ChangeLevel::Annotations => "annotations were added",
                        ChangeLevel::FormFilling => "form fields were changed",
                        _ => "the page content or structure was changed",
                    }
                };
                format!("{who}{when}, but {what} after sealing: do not rely on this document.")
            }
            (_, Some(SubIndication::HashFailure)) => format!(
                "{who}{when}, but the signed bytes were altered: do not rely on this document."
            ),
            (_, Some(SubIndication::SigCryptoFailure)) => format!(
                "{who}{when}, but the signature value is not valid: do not rely on this document."
            ),
            (_, Some(SubIndication::FormatFailure)) => format!(
                "The signature in field {} is malformed ({first}): do not rely on this document.",
                self.field_name
            ),
            (_, Some(SubIndication::NoCertificateChainFound)) => format!(
                "{who}{when}; the document is intact, but the signer's certificate does not lead to a trusted root: the signer's identity is not confirmed."
            ),
            (_, Some(SubIndication::OutOfBoundsNoPoe)) => format!(
                "{who}{when}; the document is intact, but a certificate was expired at the validation time and there is no proof the signature was made before: not confirmed."
            ),
            (ind, _) => format!("{who}{when}; verdict {}: {first}.", ind.as_str()),
        };
        let sub = self
            .sub_indication
            .map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(|x| format!("/{x}")))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        format!(
            "[{}{}] {}: {}",
            self.indication.as_str(),
            sub,
            self.field_name,
            verdict
        )
    }
}
