//! Licence types as data: one TOML file per type (GB/T 36902-2018 licence metadata — type code,
//! name, holder, validity — plus the fields and the layout of the printed licence).
//!
//! A [`LicenceTemplates`] set is loaded once at start, from the shipped files embedded in the
//! binary ([`LicenceTemplates::builtin`]) and/or from a directory a bureau controls
//! ([`LicenceTemplates::load_dir`]); adding a type never needs a rebuild. Loading checks
//! everything that can be checked without data — codes, names, field references, patterns,
//! glyph coverage of labels, and the template's own `[example]` — so a template that loads
//! always renders its example.
//!
//! The file format is documented key by key in `docs/LICENCES.md`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codes::{self, CodeError};

use super::data::{FieldError, LicenceData};
use super::text;

/// The templates shipped with Chop, as `(file name, TOML text)`, embedded at build time.
pub const BUILTIN_TEMPLATES: [(&str, &str); 3] = [
    (
        "food-business.toml",
        include_str!("../../../templates/food-business.toml"),
    ),
    (
        "construction-permit.toml",
        include_str!("../../../templates/construction-permit.toml"),
    ),
    (
        "certificate.toml",
        include_str!("../../../templates/certificate.toml"),
    ),
];

/// Longest template key, in characters.
pub const MAX_KEY_CHARS: usize = 40;
/// Longest field name, in characters.
pub const MAX_FIELD_NAME_CHARS: usize = 40;
/// Longest field label, in characters (labels are set in one line, letter-spaced to equal width).
pub const MAX_LABEL_CHARS: usize = 12;
/// Longest licence name or title, in characters.
pub const MAX_TITLE_CHARS: usize = 16;
/// Longest text value, in characters, when a template sets no `max_length`.
pub const DEFAULT_MAX_LENGTH: usize = 200;
/// Most fields one template may declare.
pub const MAX_FIELDS: usize = 40;
/// Largest TOML template file accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// Layout pseudo-field: the validity period (`2025年5月22日至2030年5月21日`, or `长期`).
pub const PSEUDO_VALIDITY: &str = "@validity";
/// Layout pseudo-field: the first day of validity.
pub const PSEUDO_VALID_FROM: &str = "@valid_from";
/// Layout pseudo-field: the last day of validity (`长期` when open-ended).
pub const PSEUDO_VALID_TO: &str = "@valid_to";

/// Why a template (or a set of templates) could not be loaded. Messages name the file and key.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_TEMPLATE_BYTES`].
    #[error("{file}: {size} bytes; a template file may have at most {MAX_TEMPLATE_BYTES} bytes")]
    TooLarge {
        /// The file name.
        file: String,
        /// Its size in bytes.
        size: u64,
    },
    /// The file is not valid TOML or does not have the template structure.
    #[error("{file}: {message}")]
    Syntax {
        /// The file name.
        file: String,
        /// What the TOML parser said (line and column included).
        message: String,
    },
    /// The file parses but breaks a rule (the message names the key).
    #[error("{file}: {message}")]
    Invalid {
        /// The file name.
        file: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The template's own `[example]` does not pass its validation.
    #[error("{file}: the [example] table is not valid: {}", join_errors(.errors))]
    BadExample {
        /// The file name.
        file: String,
        /// Every problem found.
        errors: Vec<FieldError>,
    },
    /// Two templates of one set share a key or a type code.
    #[error("{file}: {what} {value} is already used by {other}")]
    Duplicate {
        /// The file declaring it second.
        file: String,
        /// `key`, `type_code` or `name`.
        what: &'static str,
        /// The duplicated value.
        value: String,
        /// The file declaring it first.
        other: String,
    },
    /// The directory holds no `*.toml` file.
    #[error("{0}: no *.toml template files")]
    Empty(PathBuf),
}

fn join_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value type of a field, which decides its validation (GB/T 36902 data item types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text (one paragraph, wrapped when printed); `min_length`, `max_length`, `pattern`.
    Text,
    /// A 统一社会信用代码 (GB 32100-2015), check character verified.
    Uscc,
    /// A 居民身份证号码 (GB 11643-1999), birth date and check character verified.
    ResidentId,
    /// A holder code that is a USCC or a resident ID number, as the template's
    /// `holder.code_type_field` says (`001` or `111`, GB/T 36903).
    PartyCode,
    /// A calendar date written `YYYY-MM-DD`; printed `2025年5月22日`.
    Date,
    /// One of the strings listed in `values`.
    Enum,
    /// A whole number (JSON number or decimal string); `min`, `max`.
    Integer,
}

impl FieldType {
    /// The name used in template files and in `chop licence types`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Uscc => "uscc",
            Self::ResidentId => "resident_id",
            Self::PartyCode => "party_code",
            Self::Date => "date",
            Self::Enum => "enum",
            Self::Integer => "integer",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One data item of a licence type: how it is named, labelled and validated.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Key in the licence data JSON: `[a-z][a-z0-9_]*`, at most [`MAX_FIELD_NAME_CHARS`].
    pub name: String,
    /// Printed label (Chinese), at most [`MAX_LABEL_CHARS`] characters.
    pub label: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether the data must carry a value (default `true`).
    #[serde(default = "default_true")]
    pub required: bool,
    /// Fewest characters of a `text` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Most characters of a `text` value (default [`DEFAULT_MAX_LENGTH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Allowed values of an `enum` field, in display order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Regular expression (Rust `regex` syntax) a `text` value must match entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Smallest `integer` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Largest `integer` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// Text printed after an `integer` value (e.g. `万元`, `天`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// One-line help for people filling in the data (shown by `chop licence types`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

fn default_true() -> bool {
    true
}

/// GB/T 36903 持证主体代码类型: what kind of code identifies the holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HolderCodeType {
    /// `001`: 统一社会信用代码 (a legal person or other organisation).
    #[serde(rename = "001")]
    Uscc,
    /// `111`: 居民身份证号码 (a natural person).
    #[serde(rename = "111")]
    ResidentId,
}

impl HolderCodeType {
    /// The three-digit code written in licence metadata.
    pub fn code(self) -> &'static str {
        match self {
            Self::Uscc => "001",
            Self::ResidentId => "111",
        }
    }

    /// The type for a three-digit code, if it is one Chop knows.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "001" => Some(Self::Uscc),
            "111" => Some(Self::ResidentId),
            _ => None,
        }
    }

    /// The Chinese name of the code kind.
    pub fn label(self) -> &'static str {
        match self {
            Self::Uscc => codes::FIELD_USCC,
            Self::ResidentId => codes::FIELD_RESIDENT_ID,
        }
    }
}

/// Which fields carry the licence holder (持证主体, GB/T 36902 §5): name, code and code type.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderSpec {
    /// The field holding the holder's name (a required `text` field).
    pub name_field: String,
    /// The field holding the holder's code (a required `uscc`, `resident_id` or `party_code`).
    pub code_field: String,
    /// The fixed code type (`"001"` or `"111"`), for a `uscc` or `resident_id` code field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_type: Option<HolderCodeType>,
    /// The field holding the code type, for a `party_code` code field: a required `enum`
    /// whose values are among `"001"` and `"111"`. It is metadata and need not be printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_type_field: Option<String>,
}

/// How long a licence is valid (GB/T 36902 有效期限).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ValidityRule {
    /// Valid from the issue date with no end (`长期`).
    None,
    /// Valid from the issue date for `years` years (the last day is the day before the
    /// anniversary).
    YearsFromIssue {
        /// Number of years, 1–100.
        years: u32,
    },
    /// Valid between the dates in two `date` fields of the data (the end may be optional).
    Fields {
        /// The field with the first day of validity.
        from_field: String,
        /// The field with the last day of validity; if the field is optional and absent, the
        /// licence is valid without end.
        to_field: String,
    },
}

/// How the licence is printed: title, the number line, ordered rows of fields, notes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutSpec {
    /// Title printed at the top (default: the licence name), at most [`MAX_TITLE_CHARS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A smaller line under the title (e.g. `（副本）`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// Field printed as the licence number under the title (default: the identifier's serial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_field: Option<String>,
    /// Label of the number line (default `编号`).
    #[serde(default = "default_number_label")]
    pub number_label: String,
    /// Rows, top to bottom; each row names one or two fields (two share the width), or a
    /// pseudo-field `@validity`, `@valid_from`, `@valid_to`.
    pub rows: Vec<Vec<String>>,
    /// Paragraphs printed in small type under the rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn default_number_label() -> String {
    "编号".to_owned()
}

/// The TOML file as written (before checks).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    key: String,
    type_code: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    holder: HolderSpec,
    validity: ValidityRule,
    fields: Vec<FieldSpec>,
    layout: LayoutSpec,
    example: toml::Table,
}

/// A checked licence type: its metadata, fields, validity rule, layout and example.
#[derive(Clone, Debug)]
pub struct LicenceTemplate {
    key: String,
    type_code: String,
    name: String,
    description: Option<String>,
    holder: HolderSpec,
    validity: ValidityRule,
    fields: Vec<FieldSpec>,
    patterns: Vec<Option<regex::Regex>>,
    layout: LayoutSpec,
    example: serde_json::Value,
    source: String,
}

impl LicenceTemplate {
    /// Parse and check one template file's text; `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, TemplateError> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLarge {
                file: file.to_owned(),
                size: text.len() as u64,
            });
        }
        let parsed: TemplateFile = toml::from_str(text).map_err(|e| TemplateError::Syntax {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let invalid = |message: String| TemplateError::Invalid {
            file: file.to_owned(),
            message,
        };
        check_file(&parsed).map_err(invalid)?;
        let patterns = parsed
            .fields
            .iter()
            .map(|f| {
                f.pattern
                    .as_deref()
                    .map(|p| {
                        regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                            invalid(format!(
                                "fields.{}.pattern is not a valid regular expression: {e}",
                                f.name
                            ))
                        })
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let example = toml_to_json(&toml::Value::Table(parsed.example));
        let template = Self {
            key: parsed.key,
            type_code: parsed.type_code,
            name: parsed.name,
            description: parsed.description,
            holder: parsed.holder,
            validity: parsed.validity,
            fields: parsed.fields,
            patterns,
            layout: parsed.layout,
            example,
            source: file.to_owned(),
        };
        template
            .validate(&template.example)
            .map_err(|errors| TemplateError::BadExample {
                file: file.to_owned(),
                errors,
            })?;
        Ok(template)
    }

    /// Short ASCII key (e.g. `food-business`) used on the command line.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// 证照类型代码 (GB/T 36904-2018): the defining authority's USCC and a 3-digit number.
    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    /// 证照名称 (e.g. `食品经营许可证`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Optional one-paragraph description of the type.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The title printed on the licence.
    pub fn title(&self) -> &str {
        self.layout.title.as_deref().unwrap_or(&self.name)
    }

    /// The fields, in declaration order.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// The field called `name`, if declared.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Which fields carry the holder.
    pub fn holder(&self) -> &HolderSpec {
        &self.holder
    }

    /// The validity rule.
    pub fn validity(&self) -> &ValidityRule {
        &self.validity
    }

    /// The layout.
    pub fn layout(&self) -> &LayoutSpec {
        &self.layout
    }

    /// The file the template came from (a path, or the shipped file name).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A valid example of licence data for this type (the template's `[example]` table).
    pub fn example(&self) -> serde_json::Value {
        self.example.clone()
    }

    /// Check `data` (a JSON object keyed by field name) against the fields, the holder and the
    /// validity rule; every problem is reported, each naming its field.
    pub fn validate(&self, data: &serde_json::Value) -> Result<LicenceData, Vec<FieldError>> {
        super::data::validate(self, data)
    }

    /// The type as JSON for listings (`chop licence types --json`): key, type code, name,
    /// description, holder, validity and every field with its label, type, required flag and
    /// validation.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "type_code": self.type_code,
            "name": self.name,
            "description": self.description,
            "holder": self.holder,
            "validity": self.validity,
            "fields": self.fields,
        })
    }

    pub(crate) fn pattern(&self, index: usize) -> Option<&regex::Regex> {
        self.patterns.get(index).and_then(Option::as_ref)
    }
}

fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= MAX_FIELD_NAME_CHARS
}

fn is_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.len() <= MAX_KEY_CHARS
}

/// Every check that needs no data; the message names the offending key.
fn check_file(t: &TemplateFile) -> Result<(), String> {
    if !is_key(&t.key) {
        return Err(format!(
            "key {:?} must be 1-{MAX_KEY_CHARS} characters from a-z, 0-9 and '-', not starting with '-'",
            t.key
        ));
    }
    codes::validate_licence_type_code(&t.type_code)
        .map_err(|e: CodeError| format!("type_code: {e}"))?;
    check_print_text("name", &t.name, MAX_TITLE_CHARS, true)?;
    if let Some(title) = &t.layout.title {
        check_print_text("layout.title", title, MAX_TITLE_CHARS, true)?;
    }
    if let Some(sub) = &t.layout.subtitle {
        check_print_text("layout.subtitle", sub, 2 * MAX_TITLE_CHARS, true)?;
    }
    check_print_text(
        "layout.number_label",
        &t.layout.number_label,
        MAX_LABEL_CHARS,
        true,
    )?;
    for (i, note) in t.layout.notes.iter().enumerate() {
        check_print_text(&format!("layout.notes[{i}]"), note, 400, false)?;
    }
    if t.fields.is_empty() || t.fields.len() > MAX_FIELDS {
        return Err(format!(
            "fields: a template declares 1-{MAX_FIELDS} fields, found {}",
            t.fields.len()
        ));
    }
    let mut names = HashSet::new();
    for f in &t.fields {
        check_field(f)?;
        if !names.insert(f.name.as_str()) {
            return Err(format!("fields: the name {} is declared twice", f.name));
        }
    }
    let field = |key: &str, name: &str| -> Result<&FieldSpec, String> {
        t.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| format!("{key} names {name:?}, which is not a declared field"))
    };
    // Holder (GB/T 36902 持证主体, 持证主体代码, 持证主体代码类型).
    let h = &t.holder;
    let name_f = field("holder.name_field", &h.name_field)?;
    if name_f.kind != FieldType::Text || !name_f.required {
        return Err(format!(
            "holder.name_field: {} must be a required text field",
            h.name_field
        ));
    }
    let code_f = field("holder.code_field", &h.code_field)?;
    if !code_f.required {
        return Err(format!(
            "holder.code_field: {} must be a required field",
            h.code_field
        ));
    }
    let mut hidden = HashSet::new();
    match (code_f.kind, h.code_type, &h.code_type_field) {
        (FieldType::Uscc, Some(HolderCodeType::Uscc), None)
        | (FieldType::ResidentId, Some(HolderCodeType::ResidentId), None) => {}
        (FieldType::PartyCode, None, Some(type_field)) => {
            let tf = field("holder.code_type_field", type_field)?;
            let ok_values = !tf.values.is_empty()
                && tf
                    .values
                    .iter()
                    .all(|v| HolderCodeType::from_code(v).is_some());
            if tf.kind != FieldType::Enum || !tf.required || !ok_values {
                return Err(format!(
                    "holder.code_type_field: {type_field} must be a required enum field with values among \"001\" and \"111\""
                ));
            }
            hidden.insert(type_field.as_str());
        }
        (kind, _, _) => {
            return Err(format!(
                "holder: the code field {} is of type {kind}; use type uscc with code_type = \"001\", resident_id with code_type = \"111\", or party_code with code_type_field",
                h.code_field
            ));
        }
    }
    if t.fields
        .iter()
        .any(|f| f.kind == FieldType::PartyCode && f.name != h.code_field)
    {
        return Err("fields: only holder.code_field may be of type party_code".to_owned());
    }
    // Validity.
    let mut validity_fields = Vec::new();
    match &t.validity {
        ValidityRule::None => {}
        ValidityRule::YearsFromIssue { years } => {
            if !(1..=100).contains(years) {
                return Err(format!("validity.years: {years} is not between 1 and 100"));
            }
        }
        ValidityRule::Fields {
            from_field,
            to_field,
        } => {
            let from = field("validity.from_field", from_field)?;
            let to = field("validity.to_field", to_field)?;
            if from.kind != FieldType::Date || !from.required {
                return Err(format!(
                    "validity.from_field: {from_field} must be a required date field"
                ));
            }
            if to.kind != FieldType::Date || from_field == to_field {
                return Err(format!(
                    "validity.to_field: {to_field} must be a date field other than from_field"
                ));
            }
            validity_fields.push(from_field.as_str());
            validity_fields.push(to_field.as_str());
        }
    }
    // Layout: every field printed exactly once (or consumed by a pseudo-field).
    let mut shown: HashSet<String> = HashSet::new();
    let mut show = |name: &str, place: &str| -> Result<(), String> {
        if shown.insert(name.to_owned()) {
            Ok(())
        } else {
            Err(format!("{place}: the field {name} is printed twice"))
        }
    };
    if let Some(nf) = &t.layout.number_field {
        let f = field("layout.number_field", nf)?;
        if f.kind != FieldType::Text || !f.required {
            return Err(format!(
                "layout.number_field: {nf} must be a required text field"
            ));
        }
        show(nf, "layout.number_field")?;
    }
    if t.layout.rows.is_empty() {
        return Err("layout.rows: at least one row is needed".to_owned());
    }
    let mut uses_validity = false;
    for (i, row) in t.layout.rows.iter().enumerate() {
        let place = format!("layout.rows[{i}]");
        if row.is_empty() || row.len() > 2 {
            return Err(format!(
                "{place}: a row holds one or two fields, found {}",
                row.len()
            ));
        }
        for item in row {
            match item.as_str() {
                PSEUDO_VALIDITY | PSEUDO_VALID_FROM | PSEUDO_VALID_TO => uses_validity = true,
                name => {
                    field(&place, name)?;
                    show(name, &place)?;
                }
            }
        }
    }
    let consumed: Vec<&str> = if uses_validity {
        validity_fields
    } else {
        Vec::new()
    };
    for f in &t.fields {
        let n = f.name.as_str();
        if !shown.contains(n) && !hidden.contains(n) && !consumed.contains(&n) {
            return Err(format!(
                "layout: the field {n} is never printed; add it to layout.rows"
            ));
        }
    }
    Ok(())
}

fn check_field(f: &FieldSpec) -> Result<(), String> {
    if !is_field_name(&f.name) {
        return Err(format!(
            "fields: the name {:?} must match [a-z][a-z0-9_]* (at most {MAX_FIELD_NAME_CHARS} characters)",
            f.name
        ));
    }
    let key = format!("fields.{}", f.name);
    check_print_text(&format!("{key}.label"), &f.label, MAX_LABEL_CHARS, true)?;
    if let Some(unit) = &f.unit {
        check_print_text(&format!("{key}.unit"), unit, 8, false)?;
    }
    let text_only = f.min_length.is_some() || f.max_length.is_some() || f.pattern.is_some();
    if text_only && f.kind != FieldType::Text {
        return Err(format!(
            "{key}: min_length, max_length and pattern apply to text fields only (this one is {})",
            f.kind
        ));
    }
    if (f.min.is_some() || f.max.is_some() || f.unit.is_some()) && f.kind != FieldType::Integer {
        return Err(format!(
            "{key}: min, max and unit apply to integer fields only (this one is {})",
            f.kind
        ));
    }
    if let (Some(lo), Some(hi)) = (f.min_length, f.max_length)
        && lo > hi
    {
        return Err(format!(
            "{key}: min_length {lo} is more than max_length {hi}"
        ));
    }
    if f.max_length == Some(0) {
        return Err(format!("{key}: max_length must be at least 1"));
    }
    if let (Some(lo), Some(hi)) = (f.min, f.max)
        && lo > hi
    {
        return Err(format!("{key}: min {lo} is more than max {hi}"));
    }
    match f.kind {
        FieldType::Enum => {
            if f.values.is_empty() {
                return Err(format!(
                    "{key}: an enum field needs a non-empty values list"
                ));
            }
            let mut seen = HashSet::new();
            for v in &f.values {
                check_print_text(&format!("{key}.values"), v, 100, false)?;
                if !seen.insert(v) {
                    return Err(format!("{key}.values: {v:?} is listed twice"));
                }
            }
        }
        _ if !f.values.is_empty() => {
            return Err(format!("{key}: values apply to enum fields only"));
        }
        _ => {}
    }
    Ok(())
}

/// A template string that will be printed: non-empty, short enough, every glyph in the fonts.
fn check_print_text(key: &str, s: &str, max_chars: usize, bold: bool) -> Result<(), String> {
    let n = s.chars().count();
    if s.trim().is_empty() || n > max_chars {
        return Err(format!(
            "{key}: must be 1-{max_chars} characters, found {n}"
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{key}: control character U+{:04X} is not allowed",
            u32::from(c)
        ));
    }
    let missing = if bold {
        text::missing_bold_glyph(s)
    } else {
        text::missing_regular_glyph(s)
    };
    if let Some(c) = missing {
        return Err(format!(
            "{key}: the character '{c}' (U+{:04X}) is not in the licence font (Noto Serif SC, GB 2312 subset)",
            u32::from(c)
        ));
    }
    Ok(())
}

/// TOML to JSON: tables → objects, arrays → arrays, datetimes → their RFC 3339 text.
fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A set of licence types with unique keys, type codes and names, in load order.
#[derive(Clone, Debug, Default)]
pub struct LicenceTemplates {
    templates: Vec<LicenceTemplate>,
}

impl LicenceTemplates {
    /// The templates shipped with Chop ([`BUILTIN_TEMPLATES`]), embedded in the binary.
    pub fn builtin() -> Result<Self, TemplateError> {
        let mut set = Self::default();
        for (file, text) in BUILTIN_TEMPLATES {
            set.insert(LicenceTemplate::from_toml(file, text)?)?;
        }
        Ok(set)
    }

    /// Every `*.toml` file of `dir` (not recursive), in file-name order; any bad file fails
    /// the whole load with an error naming it.
    pub fn load_dir(dir: &Path) -> Result<Self, TemplateError> {
        let io = |path: &Path, source| TemplateError::Io {
            path: path.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let path = entry.map_err(|e| io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(TemplateError::Empty(dir.to_owned()));
        }
        paths.sort();
        let mut set = Self::default();
        for path in paths {
            let size = std::fs::metadata(&path).map_err(|e| io(&path, e))?.len();
            let shown = path.display().to_string();
            if size > MAX_TEMPLATE_BYTES as u64 {
                return Err(TemplateError::TooLarge { file: shown, size });
            }
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            set.insert(LicenceTemplate::from_toml(&shown, &text)?)?;
        }
        Ok(set)
    }

    /// This set with `other`'s templates added; a template of `other` with the same key as one
    /// of this set replaces it (a bureau's directory overriding a shipped type). Type codes
    /// must stay unique.
    pub fn overlay(mut self, other: Self) -> Result<Self, TemplateError> {
        for t in other.templates {
            self.templates.retain(|old| old.key != t.key);
            self.insert(t)?;
        }
        Ok(self)
    }

    /// Add one template; its key, type code and name must be new to the set.
    pub fn insert(&mut self, t: LicenceTemplate) -> Result<(), TemplateError> {
        for old in &self.templates {
            let dup = if old.key == t.key {
                Some(("key", t.key.clone()))
            } else if old.type_code == t.type_code {
                Some(("type_code", t.type_code.clone()))
            } else if old.name == t.name {
                Some(("name", t.name.clone()))
            } else {
                None
            };
            if let Some((what, value)) = dup {
                return Err(TemplateError::Duplicate {
                    file: t.source.clone(),
                    what,
                    value,
                    other: old.source.clone(),
                });
            }
        }
        self.templates.push(t);
        Ok(())
    }

    /// The template whose key, type code or name is `which`.
    pub fn get(&self, which: &str) -> Option<&LicenceTemplate> {
        self.templates
            .iter()
            .find(|t| t.key == which || t.type_code == which || t.name == which)
    }

    /// The templates, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &LicenceTemplate> {
        self.templates.iter()
    }

    /// How many templates the set holds.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}
