//! The DA/T 70-2018 four-property check report (《文书类电子档案检测一般要求》: 真实性
//! authenticity, 完整性 integrity, 可用性 usability, 安全性 safety) of a retention package, as
//! JSON (`data/four-properties.json`) and as a readable page (`data/four-properties.html`).
//!
//! Export and verification fill the same [`Findings`] (check by check, each problem with its
//! location), so a verifier recomputing the report on an intact package gets the same results
//! the exporter wrote.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The standard the report follows.
pub const STANDARD: &str = "DA/T 70-2018";

/// Most problems listed under one check in the report (all are counted).
pub const MAX_LISTED: usize = 20;

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The check holds.
    Pass,
    /// The check holds with a reservation stated in the detail (e.g. a document recorded as
    /// invalid at ingest is still invalid, as recorded).
    Warning,
    /// The check does not hold.
    Fail,
}

impl Outcome {
    /// `pass`, `warning` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warning => "warning",
            Outcome::Fail => "fail",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four properties of DA/T 70-2018 §5–§8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// 真实性 (§5): the content is what it claims to be.
    Authenticity,
    /// 完整性 (§6): nothing is missing.
    Integrity,
    /// 可用性 (§7): it can be read.
    Usability,
    /// 安全性 (§8): it is safe to open.
    Safety,
}

impl Property {
    /// All four, in report order.
    pub const ALL: [Property; 4] = [
        Property::Authenticity,
        Property::Integrity,
        Property::Usability,
        Property::Safety,
    ];

    /// Stable id, e.g. `authenticity`.
    pub fn id(self) -> &'static str {
        match self {
            Property::Authenticity => "authenticity",
            Property::Integrity => "integrity",
            Property::Usability => "usability",
            Property::Safety => "safety",
        }
    }

    /// The standard's name, e.g. 真实性.
    pub fn name(self) -> &'static str {
        match self {
            Property::Authenticity => "真实性",
            Property::Integrity => "完整性",
            Property::Usability => "可用性",
            Property::Safety => "安全性",
        }
    }
}

macro_rules! checks {
    ($( $(#[$doc:meta])* $variant:ident => $prop:ident, $id:literal, $name:literal; )*) => {
        /// One check of the report.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckId {
            $( $(#[$doc])* $variant, )*
        }

        impl CheckId {
            /// Every check, in report order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant),*];

            /// Stable id, e.g. `fixity`.
            pub fn id(self) -> &'static str {
                match self { $(CheckId::$variant => $id,)* }
            }

            /// What the check establishes, in Chinese and English.
            pub fn name(self) -> &'static str {
                match self { $(CheckId::$variant => $name,)* }
            }

            /// The property it belongs to.
            pub fn property(self) -> Property {
                match self { $(CheckId::$variant => Property::$prop,)* }
            }
        }
    };
}

checks! {
    /// Every payload file matches both payload manifests; the tag files match the tag manifest.
    Fixity => Authenticity, "fixity", "固定性：每个文件与 SHA-256 和 SHA-512 清单一致 (every file matches manifest-sha256 and manifest-sha512)";
    /// Records are canonical and each `prev` is the hash of its predecessor.
    RecordChain => Authenticity, "record-chain", "记录链：每条记录为规范 JSON 并链接到前一条 (records canonical and hash-chained)";
    /// Each record's tlog-proof leads to the package checkpoint's root.
    InclusionProofs => Authenticity, "inclusion-proofs", "包含证明：每条记录在签名检查点的 Merkle 树中 (each record's inclusion proof verifies against the package checkpoint)";
    /// The checkpoint is signed by the log key and consistent with the latest one.
    Checkpoint => Authenticity, "checkpoint", "检查点：日志密钥签名有效，且与导出时最新检查点一致 (checkpoint signature and consistency proof)";
    /// Signatures and seals re-verify with the packaged trust material at the recorded time.
    SignaturesAndSeals => Authenticity, "signatures-and-seals", "签名与印章：以包内信任材料按记录时间重新验证 (signatures and seals re-verified with the packaged trust material)";
    /// Record digests, evidence and documents agree.
    MetadataMatchesContent => Authenticity, "metadata-matches-content", "元数据与内容一致：记录摘要、验证报告与文件相符 (record digests, evidence and documents agree)";
    /// Counts and byte totals agree everywhere they are stated.
    Counts => Integrity, "counts", "数量与字节数相符 (counts and bytes match: Payload-Oxum, records, proofs, METS events)";
    /// No gaps in seq (or every gap explained by the declared selection).
    SeqContinuity => Integrity, "seq-continuity", "序号连续：记录序号无缺口 (no gaps in seq)";
    /// Every document and evidence item a record names is present (unless disposed).
    ContentPresent => Integrity, "content-present", "内容齐全：记录引用的每个文件和验证报告都在包内 (every referenced document and report present)";
    /// Mandatory metadata is present (bag-info labels, record fields, METS events).
    MandatoryMetadata => Integrity, "mandatory-metadata", "必备元数据齐全 (mandatory metadata present: bag-info labels, record fields, METS events)";
    /// Every PDF parses.
    PdfReadable => Usability, "pdf-readable", "格式可读：每个 PDF 可解析 (each PDF parses)";
    /// Nothing is encrypted.
    NotEncrypted => Usability, "not-encrypted", "未加密：没有加密文件 (nothing encrypted)";
    /// Records, evidence, METS and checkpoints parse.
    MetadataReadable => Usability, "metadata-readable", "元数据可解析：记录、验证报告、METS、检查点均可解析 (metadata parses)";
    /// No JavaScript, launch actions, open actions or embedded executables in PDFs.
    NoExecutableContent => Safety, "no-executable-content", "无可执行内容：PDF 中无 JavaScript、启动动作、打开动作或嵌入的可执行文件 (no executable content)";
    /// Only the files of the package layout, one root folder, no links or escaping paths.
    NoUnexpectedFiles => Safety, "no-unexpected-files", "无多余文件：只有规定布局中的文件 (no unexpected files)";
}

/// One problem or reservation, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Finding {
    /// The file (relative to the bag root) or record (`record 12`) concerned.
    pub location: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[derive(Debug, Clone, Default)]
struct Tally {
    checked: u64,
    failures: Vec<Finding>,
    warnings: Vec<Finding>,
    notes: Vec<String>,
}

/// Everything found, check by check.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    tallies: BTreeMap<CheckId, Tally>,
}

impl Findings {
    /// No findings yet.
    pub fn new() -> Findings {
        Findings::default()
    }

    fn tally(&mut self, id: CheckId) -> &mut Tally {
        self.tallies.entry(id).or_default()
    }

    /// Counts `n` items checked by `id`.
    pub fn checked(&mut self, id: CheckId, n: u64) {
        self.tally(id).checked += n;
    }

    /// Records a failure of `id` at `location`.
    pub fn fail(&mut self, id: CheckId, location: impl Into<String>, message: impl Into<String>) {
        self.tally(id).failures.push(Finding {
            location: location.into(),
            message: message.into(),
        });
    }

    /// Records a reservation of `id` at `location`.
    pub fn warn(&mut self, id: CheckId, location: impl Into<String>, message: impl Into<String>) {
        self.tally(id).warnings.push(Finding {
            location: location.into(),
            message: message.into(),
        });
    }

    /// Adds a sentence to the detail of `id` (e.g. how a selective export explains its gaps).
    pub fn note(&mut self, id: CheckId, text: impl Into<String>) {
        self.tally(id).notes.push(text.into());
    }

    /// Adds everything `other` found.
    pub fn merge(&mut self, other: Findings) {
        for (id, t) in other.tallies {
            let mine = self.tally(id);
            mine.checked += t.checked;
            mine.failures.extend(t.failures);
            mine.warnings.extend(t.warnings);
            mine.notes.extend(t.notes);
        }
    }

    /// Whether any check failed.
    pub fn has_failures(&self) -> bool {
        self.tallies.values().any(|t| !t.failures.is_empty())
    }

    /// Every failure, check by check, in report order.
    pub fn failures(&self) -> Vec<(CheckId, Finding)> {
        let mut out = Vec::new();
        for (id, t) in &self.tallies {
            out.extend(t.failures.iter().cloned().map(|f| (*id, f)));
        }
        out
    }

    /// Every warning, check by check, in report order.
    pub fn warnings(&self) -> Vec<(CheckId, Finding)> {
        let mut out = Vec::new();
        for (id, t) in &self.tallies {
            out.extend(t.warnings.iter().cloned().map(|f| (*id, f)));
        }
        out
    }

    /// The report over these findings.
    pub fn report(&self, package: &str, generated: &str) -> FourPropertyReport {
        let empty = Tally::default();
        let mut properties = Vec::new();
        for p in Property::ALL {
            let mut checks = Vec::new();
            for id in CheckId::ALL.iter().filter(|c| c.property() == p) {
                let t = self.tallies.get(id).unwrap_or(&empty);
                let result = if !t.failures.is_empty() {
                    Outcome::Fail
                } else if !t.warnings.is_empty() {
                    Outcome::Warning
                } else {
                    Outcome::Pass
                };
                let mut detail = format!("{} item(s) checked", t.checked);
                if !t.failures.is_empty() {
                    detail.push_str(&format!("; {} failed", t.failures.len()));
                }
                if !t.warnings.is_empty() {
                    detail.push_str(&format!("; {} with reservations", t.warnings.len()));
                }
                for n in &t.notes {
                    detail.push_str("; ");
                    detail.push_str(n);
                }
                let listed: Vec<Finding> = t
                    .failures
                    .iter()
                    .chain(t.warnings.iter())
                    .take(MAX_LISTED)
                    .cloned()
                    .collect();
                checks.push(Check {
                    id: id.id().to_owned(),
                    name: id.name().to_owned(),
                    result,
                    detail,
                    findings: listed,
                });
            }
            let result = checks
                .iter()
                .map(|c| c.result)
                .max()
                .unwrap_or(Outcome::Pass);
            properties.push(PropertyReport {
                id: p.id().to_owned(),
                name: p.name().to_owned(),
                result,
                checks,
            });
        }
        let result = properties
            .iter()
            .map(|p| p.result)
            .max()
            .unwrap_or(Outcome::Pass);
        FourPropertyReport {
            standard: STANDARD.to_owned(),
            package: package.to_owned(),
            generated: generated.to_owned(),
            result,
            properties,
        }
    }
}

/// One check in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable id ([`CheckId::id`]).
    pub id: String,
    /// What it establishes.
    pub name: String,
    /// The result.
    pub result: Outcome,
    /// Counts and explanations.
    pub detail: String,
    /// The first [`MAX_LISTED`] failures and reservations, with locations.
    pub findings: Vec<Finding>,
}

/// One property in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyReport {
    /// `authenticity`, `integrity`, `usability` or `safety`.
    pub id: String,
    /// 真实性, 完整性, 可用性 or 安全性.
    pub name: String,
    /// The worst result of its checks.
    pub result: Outcome,
    /// Its checks.
    pub checks: Vec<Check>,
}

/// The whole report (`data/four-properties.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FourPropertyReport {
    /// `DA/T 70-2018`.
    pub standard: String,
    /// The package's External-Identifier.
    pub package: String,
    /// When the report was made (RFC 3339 UTC).
    pub generated: String,
    /// The worst result of all checks.
    pub result: Outcome,
    /// The four properties, in order.
    pub properties: Vec<PropertyReport>,
}

impl FourPropertyReport {
    /// Each check's id and result, in order (what a recomputation must reproduce).
    pub fn results(&self) -> Vec<(String, Outcome)> {
        self.properties
            .iter()
            .flat_map(|p| p.checks.iter().map(|c| (c.id.clone(), c.result)))
            .collect()
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// A self-contained HTML page (no script, no external resources).
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(8192);
        h.push_str("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str(&format!(
            "<title>四性检测报告 {}</title>\n",
            escape(&self.package)
        ));
        h.push_str(
            "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}\
td,th{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}\
.pass{color:#060}.warning{color:#a60}.fail{color:#b00;font-weight:bold}</style>\n</head>\n<body>\n",
        );
        h.push_str("<h1>电子档案四性检测报告 (DA/T 70-2018 four-property check)</h1>\n");
        h.push_str(&format!(
            "<p>Package: <code>{}</code><br>Generated: {}<br>Overall result: <span class=\"{r}\">{r}</span></p>\n",
            escape(&self.package),
            escape(&self.generated),
            r = self.result
        ));
        for p in &self.properties {
            h.push_str(&format!(
                "<h2>{} ({}) — <span class=\"{r}\">{r}</span></h2>\n<table>\n<tr><th>check</th><th>result</th><th>detail</th></tr>\n",
                escape(&p.name),
                escape(&p.id),
                r = p.result
            ));
            for c in &p.checks {
                h.push_str(&format!(
                    "<tr><td>{}<br><code>{}</code></td><td class=\"{r}\">{r}</td><td>{}",
                    escape(&c.name),
                    escape(&c.id),
                    escape(&c.detail),
                    r = c.result
                ));
                if !c.findings.is_empty() {
                    h.push_str("<ul>");
                    for f in &c.findings {
                        h.push_str(&format!(
                            "<li><code>{}</code>: {}</li>",
                            escape(&f.location),
                            escape(&f.message)
                        ));
                    }
                    h.push_str("</ul>");
                }
                h.push_str("</td></tr>\n");
            }
            h.push_str("</table>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

/// Escapes text for HTML and XML character data and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry become U+FFFD.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_has_checks_and_results_roll_up() {
        let mut f = Findings::new();
        f.checked(CheckId::Fixity, 10);
        f.warn(
            CheckId::SignaturesAndSeals,
            "data/documents/x.pdf",
            "INDETERMINATE as recorded",
        );
        f.fail(
            CheckId::NoUnexpectedFiles,
            "data/extra.txt",
            "not part of the layout",
        );
        let r = f.report("pkg", "2025-01-01T00:00:00Z");
        assert_eq!(r.properties.len(), 4);
        assert!(r.properties.iter().all(|p| !p.checks.is_empty()));
        assert_eq!(r.properties[0].result, Outcome::Warning);
        assert_eq!(r.properties[3].result, Outcome::Fail);
        assert_eq!(r.result, Outcome::Fail);
        assert_eq!(r.results().len(), CheckId::ALL.len());
        let back: FourPropertyReport = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(back, r);
        let html = r.to_html();
        assert!(
            html.contains("真实性") && html.contains("安全性") && html.contains("data/extra.txt")
        );
        assert!(!html.contains("<script"));
        assert_eq!(f.failures().len(), 1);
        assert_eq!(f.warnings().len(), 1);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a & \"b\">\u{1}"),
            "&lt;a &amp; &quot;b&quot;&gt;\u{fffd}"
        );
    }
}
