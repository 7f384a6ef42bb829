//! Licence data: checking a JSON object against a [`LicenceTemplate`] and the validated result,
//! [`LicenceData`], with the GB/T 36902-2018 metadata (holder, holder code and its GB/T 36903
//! type, validity) resolved.

use std::fmt;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::codes::{self, CodeError};

use super::template::{
    DEFAULT_MAX_LENGTH, FieldSpec, FieldType, HolderCodeType, LicenceTemplate, ValidityRule,
};
use super::text;

/// Name used in a [`FieldError`] about the data as a whole (not one field).
pub const WHOLE_DATA: &str = "(data)";

/// What is wrong with one field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// The data is not a JSON object.
    NotAnObject,
    /// A required field is absent, `null` or blank.
    Missing,
    /// The data has a key the template does not declare.
    Unknown,
    /// The JSON value has the wrong type (`expected` says what was wanted).
    WrongType {
        /// What the field accepts.
        expected: &'static str,
    },
    /// Fewer characters than `min_length`.
    TooShort {
        /// The minimum.
        min: usize,
        /// Characters found.
        found: usize,
    },
    /// More characters than `max_length`.
    TooLong {
        /// The maximum.
        max: usize,
        /// Characters found.
        found: usize,
    },
    /// The value does not match the field's `pattern`.
    PatternMismatch {
        /// The pattern as written in the template.
        pattern: String,
    },
    /// The value is not one of the enum's `values`.
    NotAllowed {
        /// The allowed values.
        allowed: Vec<String>,
    },
    /// An integer outside `min`..=`max`, or not a whole number.
    OutOfRange {
        /// The minimum, if any.
        min: Option<i64>,
        /// The maximum, if any.
        max: Option<i64>,
    },
    /// A date that is not `YYYY-MM-DD` or not a calendar day.
    BadDate,
    /// A code (USCC, resident ID) that fails its standard; for a wrong check character the
    /// error carries the expected one.
    Code(CodeError),
    /// A character the licence font cannot print (outside GB 2312), or a control character.
    Unprintable(char),
    /// The validity end is before its start.
    EndsBeforeStart {
        /// The field holding the start.
        from_field: String,
    },
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("the licence data must be a JSON object"),
            Self::Missing => f.write_str("is required"),
            Self::Unknown => f.write_str("is not a field of this licence type"),
            Self::WrongType { expected } => write!(f, "must be {expected}"),
            Self::TooShort { min, found } => {
                write!(f, "has {found} characters, at least {min} are required")
            }
            Self::TooLong { max, found } => {
                write!(f, "has {found} characters, at most {max} are allowed")
            }
            Self::PatternMismatch { pattern } => write!(f, "does not match the pattern {pattern}"),
            Self::NotAllowed { allowed } => write!(f, "must be one of: {}", allowed.join(", ")),
            Self::OutOfRange { min, max } => match (min, max) {
                (Some(lo), Some(hi)) => write!(f, "must be a whole number from {lo} to {hi}"),
                (Some(lo), None) => write!(f, "must be a whole number of at least {lo}"),
                (None, Some(hi)) => write!(f, "must be a whole number of at most {hi}"),
                (None, None) => f.write_str("must be a whole number"),
            },
            Self::BadDate => f.write_str("must be a calendar date written YYYY-MM-DD"),
            Self::Code(e) => write!(f, "{e}"),
            Self::Unprintable(c) if c.is_control() => {
                write!(f, "contains the control character U+{:04X}", u32::from(*c))
            }
            Self::Unprintable(c) => write!(
                f,
                "the character '{c}' (U+{:04X}) is not in the licence font (GB 2312)",
                u32::from(*c)
            ),
            Self::EndsBeforeStart { from_field } => {
                write!(f, "is before the start of validity ({from_field})")
            }
        }
    }
}

/// One invalid field: its name, its label and the problem (`label (name): problem`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{label} ({field}): {problem}")]
pub struct FieldError {
    /// The field's key in the data (or [`WHOLE_DATA`]).
    pub field: String,
    /// The field's printed label (the key itself for unknown keys).
    pub label: String,
    /// What is wrong.
    pub problem: FieldProblem,
}

impl FieldError {
    fn new(spec: &FieldSpec, problem: FieldProblem) -> Self {
        Self {
            field: spec.name.clone(),
            label: spec.label.clone(),
            problem,
        }
    }

    /// For a wrong check character, the character that was expected.
    pub fn expected_check(&self) -> Option<char> {
        match &self.problem {
            FieldProblem::Code(CodeError::WrongCheck { expected, .. }) => Some(*expected),
            _ => None,
        }
    }
}

/// A validated value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// Text, enum values and codes (trimmed).
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A calendar date.
    Date(Date),
}

impl FieldValue {
    /// The value as JSON (dates as `YYYY-MM-DD`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Text(s) => serde_json::Value::String(s.clone()),
            Self::Integer(i) => serde_json::Value::from(*i),
            Self::Date(d) => serde_json::Value::String(iso_date(*d)),
        }
    }

    /// The value as printed on the licence (dates as `2025年5月22日`).
    pub fn display(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Integer(i) => i.to_string(),
            Self::Date(d) => chinese_date(*d),
        }
    }

    /// The text, for text-like values.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The date, for date values.
    pub fn as_date(&self) -> Option<Date> {
        match self {
            Self::Date(d) => Some(*d),
            _ => None,
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// `YYYY-MM-DD` (ISO 8601 calendar date).
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `2025年5月22日` — the date style of GB/T 9704-2012 §7.3.5.3 (Arabic numerals, no padding).
pub fn chinese_date(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day())
}

/// Parse `YYYY-MM-DD` strictly (four-digit year ≥ 1900, two-digit month and day).
pub fn parse_iso_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    if year < 1900 {
        return None;
    }
    Date::from_calendar_date(year, month, day).ok()
}

/// The holder of a licence (GB/T 36902 持证主体 / 持证主体代码 / 持证主体代码类型).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// 持证主体: the holder's name.
    pub name: String,
    /// 持证主体代码: the holder's USCC or resident ID number.
    pub code: String,
    /// 持证主体代码类型 (GB/T 36903): `001` USCC or `111` resident ID.
    pub code_type: HolderCodeType,
}

/// The validity period of an issued licence (GB/T 36902 有效期起始日期 / 有效期截止日期);
/// serialises as `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD" | null}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First day of validity.
    pub from: Date,
    /// Last day of validity; `None` = without end (长期).
    pub to: Option<Date>,
}

impl Validity {
    /// `2025年5月22日至2030年5月21日`, or `2025年5月22日起长期有效` without end.
    pub fn display(&self) -> String {
        match self.to {
            Some(to) => format!("{}至{}", chinese_date(self.from), chinese_date(to)),
            None => format!("{}起长期有效", chinese_date(self.from)),
        }
    }

    /// Whether `day` falls inside the period.
    pub fn contains(&self, day: Date) -> bool {
        day >= self.from && self.to.is_none_or(|to| day <= to)
    }
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("from", &iso_date(self.from))?;
        map.serialize_entry("to", &self.to.map(iso_date))?;
        map.end()
    }
}

/// The validity rule with the data's dates filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ResolvedValidity {
    Open,
    YearsFromIssue(u32),
    Fixed(Validity),
}

/// Licence data that passed [`LicenceTemplate::validate`]: values in template order, the holder
/// and the validity resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceData {
    type_code: String,
    type_name: String,
    holder: Holder,
    values: Vec<(String, FieldValue)>,
    validity: ResolvedValidity,
}

impl LicenceData {
    /// 证照类型代码 of the template it was checked against.
    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    /// 证照名称 of the template it was checked against.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The holder.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The value of field `name`, if present.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Present values, in the template's field order.
    pub fn values(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The validity period for a licence issued on `issue_date`.
    pub fn validity(&self, issue_date: Date) -> Validity {
        match &self.validity {
            ResolvedValidity::Open => Validity {
                from: issue_date,
                to: None,
            },
            ResolvedValidity::YearsFromIssue(years) => Validity {
                from: issue_date,
                to: Some(years_later_minus_one_day(issue_date, *years)),
            },
            ResolvedValidity::Fixed(v) => *v,
        }
    }

    /// The values as a JSON object keyed by field name (dates `YYYY-MM-DD`), in field order.
    pub fn fields_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(n, v)| (n.clone(), v.to_json()))
                .collect(),
        )
    }
}

/// The values serialise as an ordered JSON object.
pub(crate) struct OrderedValues<'a>(pub(crate) &'a LicenceData);

impl Serialize for OrderedValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.values.len()))?;
        for (n, v) in &self.0.values {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

/// The day before the `years`-th anniversary of `d` (29 February counts from 28 February).
fn years_later_minus_one_day(d: Date, years: u32) -> Date {
    let year = d
        .year()
        .saturating_add(i32::try_from(years).unwrap_or(i32::MAX));
    let anniversary = Date::from_calendar_date(year, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(year, d.month(), 28))
        .unwrap_or(Date::MAX);
    anniversary.previous_day().unwrap_or(anniversary)
}

/// Check one raw value against its spec; `Ok(None)` = absent.
fn check_value(
    t: &LicenceTemplate,
    index: usize,
    spec: &FieldSpec,
    raw: Option<&serde_json::Value>,
    holder_code_type: Option<HolderCodeType>,
) -> Result<Option<FieldValue>, FieldProblem> {
    use serde_json::Value as J;
    let raw = match raw {
        None | Some(J::Null) => None,
        Some(J::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(v),
    };
    let Some(raw) = raw else {
        return if spec.required {
            Err(FieldProblem::Missing)
        } else {
            Ok(None)
        };
    };
    if spec.kind == FieldType::Integer {
        let n = match raw {
            J::Number(n) => n.as_i64(),
            J::String(s) => {
                let s = s.trim();
                if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    s.parse::<i64>().ok()
                } else {
                    None
                }
            }
            _ => {
                return Err(FieldProblem::WrongType {
                    expected: "a whole number",
                });
            }
        };
        let in_range =
            |n: i64| spec.min.is_none_or(|lo| n >= lo) && spec.max.is_none_or(|hi| n <= hi);
        return match n {
            Some(n) if in_range(n) => Ok(Some(FieldValue::Integer(n))),
            _ => Err(FieldProblem::OutOfRange {
                min: spec.min,
                max: spec.max,
            }),
        };
    }
    let J::String(s) = raw else {
        return Err(FieldProblem::WrongType {
            expected: "a string",
        });
    };
    let s = s.trim();
    let found = s.chars().count();
    match spec.kind {
        FieldType::Date => {
            return parse_iso_date(s)
                .map(|d| Some(FieldValue::Date(d)))
                .ok_or(FieldProblem::BadDate);
        }
        FieldType::Enum => {
            return if spec.values.iter().any(|v| v == s) {
                Ok(Some(FieldValue::Text(s.to_owned())))
            } else {
                Err(FieldProblem::NotAllowed {
                    allowed: spec.values.clone(),
                })
            };
        }
        FieldType::Uscc => codes::validate_uscc(s).map_err(FieldProblem::Code)?,
        FieldType::ResidentId => codes::validate_resident_id(s).map_err(FieldProblem::Code)?,
        FieldType::PartyCode => match holder_code_type {
            Some(HolderCodeType::Uscc) => codes::validate_uscc(s).map_err(FieldProblem::Code)?,
            Some(HolderCodeType::ResidentId) => {
                codes::validate_resident_id(s).map_err(FieldProblem::Code)?;
            }
            // The code type field carries its own error; nothing more to say here.
            None => {}
        },
        FieldType::Text => {
            let max = spec.max_length.unwrap_or(DEFAULT_MAX_LENGTH);
            if found > max {
                return Err(FieldProblem::TooLong { max, found });
            }
            if let Some(min) = spec.min_length
                && found < min
            {
                return Err(FieldProblem::TooShort { min, found });
            }
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                return Err(FieldProblem::Unprintable(c));
            }
            if let Some(c) = text::missing_regular_glyph(s) {
                return Err(FieldProblem::Unprintable(c));
            }
            if let Some(re) = t.pattern(index)
                && !re.is_match(s)
            {
                return Err(FieldProblem::PatternMismatch {
                    pattern: spec.pattern.clone().unwrap_or_default(),
                });
            }
        }
        FieldType::Integer => {}
    }
    Ok(Some(FieldValue::Text(s.to_owned())))
}

/// [`LicenceTemplate::validate`]: every problem, each naming its field.
pub(crate) fn validate(
    t: &LicenceTemplate,
    data: &serde_json::Value,
) -> Result<LicenceData, Vec<FieldError>> {
    let Some(obj) = data.as_object() else {
        return Err(vec![FieldError {
            field: WHOLE_DATA.to_owned(),
            label: "证照数据".to_owned(),
            problem: FieldProblem::NotAnObject,
        }]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if t.field(key).is_none() {
            errors.push(FieldError {
                field: key.clone(),
                label: key.clone(),
                problem: FieldProblem::Unknown,
            });
        }
    }
    let holder_spec = t.holder();
    // The holder code type decides how a party_code is checked, so it is read first.
    let code_type = match (&holder_spec.code_type, &holder_spec.code_type_field) {
        (Some(ct), _) => Some(*ct),
        (None, Some(field)) => obj
            .get(field)
            .and_then(|v| v.as_str())
            .and_then(|s| HolderCodeType::from_code(s.trim())),
        (None, None) => None,
    };
    let mut values = Vec::with_capacity(t.fields().len());
    for (i, spec) in t.fields().iter().enumerate() {
        match check_value(t, i, spec, obj.get(&spec.name), code_type) {
            Ok(Some(v)) => values.push((spec.name.clone(), v)),
            Ok(None) => {}
            Err(problem) => errors.push(FieldError::new(spec, problem)),
        }
    }
    let text_of = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_text())
            .map(str::to_owned)
    };
    let date_of = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_date())
    };
    let validity = match t.validity() {
        ValidityRule::None => Some(ResolvedValidity::Open),
        ValidityRule::YearsFromIssue { years } => Some(ResolvedValidity::YearsFromIssue(*years)),
        ValidityRule::Fields {
            from_field,
            to_field,
        } => match (date_of(from_field), date_of(to_field)) {
            (Some(from), Some(to)) if to < from => {
                if let Some(spec) = t.field(to_field) {
                    errors.push(FieldError::new(
                        spec,
                        FieldProblem::EndsBeforeStart {
                            from_field: from_field.clone(),
                        },
                    ));
                }
                None
            }
            (Some(from), to) => Some(ResolvedValidity::Fixed(Validity { from, to })),
            // A missing start is already reported as a missing required field.
            (None, _) => None,
        },
    };
    let holder = match (
        text_of(&holder_spec.name_field),
        text_of(&holder_spec.code_field),
        code_type,
    ) {
        (Some(name), Some(code), Some(code_type)) => Some(Holder {
            name,
            code,
            code_type,
        }),
        _ => None,
    };
    match (errors.is_empty(), holder, validity) {
        (true, Some(holder), Some(validity)) => Ok(LicenceData {
            type_code: t.type_code().to_owned(),
            type_name: t.name().to_owned(),
            holder,
            values,
            validity,
        }),
        _ => {
            if errors.is_empty() {
                // Unreachable by construction (every gap above records an error); say so
                // rather than accept incomplete data.
                errors.push(FieldError {
                    field: WHOLE_DATA.to_owned(),
                    label: "证照数据".to_owned(),
                    problem: FieldProblem::Missing,
                });
            }
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn dates_parse_strictly_and_print_in_chinese() {
        assert_eq!(parse_iso_date("2025-05-22"), Some(date!(2025 - 05 - 22)));
        assert_eq!(parse_iso_date("2024-02-29"), Some(date!(2024 - 02 - 29)));
        for bad in [
            "2025-5-22",
            "2025-02-30",
            "2025/05/22",
            "20250522",
            "1899-12-31",
            "2025-05-2x",
            "２０２５-05-22",
            "",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
        assert_eq!(chinese_date(date!(2025 - 05 - 02)), "2025年5月2日");
        assert_eq!(iso_date(date!(2025 - 05 - 02)), "2025-05-02");
    }

    #[test]
    fn years_from_issue_ends_the_day_before_the_anniversary() {
        assert_eq!(
            years_later_minus_one_day(date!(2025 - 05 - 22), 5),
            date!(2030 - 05 - 21)
        );
        assert_eq!(
            years_later_minus_one_day(date!(2024 - 02 - 29), 1),
            date!(2025 - 02 - 27)
        );
        assert_eq!(
            years_later_minus_one_day(date!(2025 - 01 - 01), 1),
            date!(2025 - 12 - 31)
        );
    }

    #[test]
    fn validity_display_and_contains() {
        let v = Validity {
            from: date!(2025 - 05 - 22),
            to: Some(date!(2030 - 05 - 21)),
        };
        assert_eq!(v.display(), "2025年5月22日至2030年5月21日");
        assert!(v.contains(date!(2030 - 05 - 21)));
        assert!(!v.contains(date!(2030 - 05 - 22)));
        assert!(!v.contains(date!(2025 - 05 - 21)));
        let open = Validity {
            from: date!(2025 - 05 - 22),
            to: None,
        };
        assert_eq!(open.display(), "2025年5月22日起长期有效");
        assert!(open.contains(date!(2999 - 01 - 01)));
    }
}
