//! Identifier codes with check characters, as issued by Chinese authorities:
//!
//! - GB 32100-2015 统一社会信用代码 (unified social credit code, "USCC"): 18 characters from
//!   `0123456789ABCDEFGHJKLMNPQRTUWXY`, the last one a MOD 31 check character (§4, §5).
//! - GB 11643-1999 公民身份号码 (resident identity number): 17 digits and an ISO 7064 MOD 11-2
//!   check character `0`–`9` or `X` (§8.2).
//! - GB/T 36904-2018 电子证照标识 (e-licence identifier):
//!   `1.2.156.3005.2.<type code 21>.<issuer USCC 18>.<serial>.<version 3>.<check 1>`, the check
//!   character computed by ISO/IEC 7064 MOD 37,36 over the type code, issuer code, serial and
//!   version written without dots.
//!
//! Every validator returns a [`CodeError`] that names the field, the value and what is wrong with
//! it — for a wrong check character, the character that was expected.

use std::fmt;

/// The GB 32100-2015 character set, in value order (I, O, S, V and Z are never used).
pub const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The ISO/IEC 7064 MOD 37,36 alphanumeric character set, in value order.
const MOD37_36_ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The GB/T 36904-2018 e-licence identifier prefix (the national e-licence OID arc).
pub const LICENCE_ID_PREFIX: &str = "1.2.156.3005.2.";

/// Field name used in errors about a 统一社会信用代码.
pub const FIELD_USCC: &str = "统一社会信用代码";
/// Field name used in errors about a 居民身份证号码.
pub const FIELD_RESIDENT_ID: &str = "居民身份证号码";
/// Field name used in errors about a 电子证照标识.
pub const FIELD_LICENCE_ID: &str = "电子证照标识";

/// Longest value echoed back in an error message (longer input is cut and marked with `…`).
const ECHO_MAX_CHARS: usize = 64;

/// A value shown in an error message: the input, cut to a readable length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    fn new(s: &str) -> Self {
        let mut out: String = s.chars().take(ECHO_MAX_CHARS).collect();
        if s.chars().nth(ECHO_MAX_CHARS).is_some() {
            out.push('…');
        }
        Self(out)
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an identifier is invalid. The message is one line naming the field and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The value has the wrong number of characters.
    #[error("{field} {value}: expected {expected} characters, found {found}")]
    WrongLength {
        field: &'static str,
        value: Shown,
        expected: usize,
        found: usize,
    },
    /// A character is outside the field's alphabet (`position` counts from 1).
    #[error("{field} {value}: character '{ch}' at position {position} is not allowed ({allowed})")]
    BadCharacter {
        field: &'static str,
        value: Shown,
        ch: char,
        position: usize,
        allowed: &'static str,
    },
    /// The check character does not match the computed one.
    #[error("{field} {value}: check character is '{found}', expected '{expected}'")]
    WrongCheck {
        field: &'static str,
        value: Shown,
        found: char,
        expected: char,
    },
    /// The value does not have the structure its standard requires.
    #[error("{field} {value}: {reason}")]
    Malformed {
        field: &'static str,
        value: Shown,
        reason: String,
    },
}

impl CodeError {
    /// The field the error is about (e.g. `统一社会信用代码`).
    pub fn field(&self) -> &'static str {
        match self {
            Self::WrongLength { field, .. }
            | Self::BadCharacter { field, .. }
            | Self::WrongCheck { field, .. }
            | Self::Malformed { field, .. } => field,
        }
    }
}

fn wrong_length(field: &'static str, s: &str, expected: usize) -> CodeError {
    CodeError::WrongLength {
        field,
        value: Shown::new(s),
        expected,
        found: s.chars().count(),
    }
}

fn malformed(field: &'static str, s: &str, reason: impl Into<String>) -> CodeError {
    CodeError::Malformed {
        field,
        value: Shown::new(s),
        reason: reason.into(),
    }
}

/// Values of the characters of `s` in `alphabet`, or the first character that is not in it.
fn values(
    field: &'static str,
    s: &str,
    alphabet: &'static str,
    allowed: &'static str,
) -> Result<Vec<u32>, CodeError> {
    s.chars()
        .enumerate()
        .map(|(i, ch)| {
            alphabet
                .chars()
                .position(|a| a == ch)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| CodeError::BadCharacter {
                    field,
                    value: Shown::new(s),
                    ch,
                    position: i + 1,
                    allowed,
                })
        })
        .collect()
}

fn nth_char(alphabet: &str, n: u32) -> char {
    // `n` is always reduced modulo the alphabet's length by the callers.
    alphabet
        .chars()
        .nth(n as usize)
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn split_check(s: &str) -> Option<(&str, char)> {
    let last = s.chars().next_back()?;
    Some((&s[..s.len() - last.len_utf8()], last))
}

const USCC_ALLOWED: &str = "0-9 and A-Y except I, O, S, V, Z";

/// The GB 32100-2015 §5 check character for the first 17 characters of a 统一社会信用代码.
///
/// Weights are 3^i mod 31 (i = 0 for the first character); check = (31 − Σ mod 31) mod 31,
/// written in [`USCC_ALPHABET`].
pub fn uscc_check_char(first17: &str) -> Result<char, CodeError> {
    if first17.chars().count() != 17 {
        return Err(wrong_length(FIELD_USCC, first17, 17));
    }
    let vals = values(FIELD_USCC, first17, USCC_ALPHABET, USCC_ALLOWED)?;
    let mut weight = 1u32;
    let mut sum = 0u32;
    for v in vals {
        sum = (sum + v * weight) % 31;
        weight = (weight * 3) % 31;
    }
    Ok(nth_char(USCC_ALPHABET, (31 - sum) % 31))
}

/// Validate a 统一社会信用代码 (GB 32100-2015): 18 characters, alphabet, check character.
pub fn validate_uscc(s: &str) -> Result<(), CodeError> {
    if s.chars().count() != 18 {
        return Err(wrong_length(FIELD_USCC, s, 18));
    }
    values(FIELD_USCC, s, USCC_ALPHABET, USCC_ALLOWED)?;
    let (body, found) = split_check(s).ok_or_else(|| wrong_length(FIELD_USCC, s, 18))?;
    let expected = uscc_check_char(body)?;
    if found != expected {
        return Err(CodeError::WrongCheck {
            field: FIELD_USCC,
            value: Shown::new(s),
            found,
            expected,
        });
    }
    Ok(())
}

/// The GB 11643-1999 §8.2 (ISO 7064 MOD 11-2) check character for the first 17 digits of a
/// 居民身份证号码: `0`–`9`, or `X` for 10.
pub fn resident_id_check_char(first17: &str) -> Result<char, CodeError> {
    if first17.chars().count() != 17 {
        return Err(wrong_length(FIELD_RESIDENT_ID, first17, 17));
    }
    let vals = values(FIELD_RESIDENT_ID, first17, "0123456789", "digits 0-9")?;
    // Weight of position i (from the left, 0-based) is 2^(17 - i) mod 11.
    let sum = vals.iter().enumerate().fold(0u32, |acc, (i, v)| {
        let mut w = 1u32;
        for _ in 0..(17 - i) {
            w = (w * 2) % 11;
        }
        (acc + v * w) % 11
    });
    Ok(nth_char("0123456789X", (12 - sum) % 11))
}

/// Validate a 居民身份证号码 (GB 11643-1999): 17 digits with a valid birth date
/// (positions 7–14, `YYYYMMDD`), then the MOD 11-2 check character (`X` upper-case).
pub fn validate_resident_id(s: &str) -> Result<(), CodeError> {
    if s.chars().count() != 18 {
        return Err(wrong_length(FIELD_RESIDENT_ID, s, 18));
    }
    let (body, found) = split_check(s).ok_or_else(|| wrong_length(FIELD_RESIDENT_ID, s, 18))?;
    let expected = resident_id_check_char(body)?;
    if !(found.is_ascii_digit() || found == 'X') {
        return Err(CodeError::BadCharacter {
            field: FIELD_RESIDENT_ID,
            value: Shown::new(s),
            ch: found,
            position: 18,
            allowed: "digits 0-9 or X",
        });
    }
    // `body` is 17 ASCII digits here, so byte slicing is safe.
    let birth = &body[6..14];
    let year: i32 = birth[0..4].parse().unwrap_or(0);
    let month: u8 = birth[4..6].parse().unwrap_or(0);
    let day: u8 = birth[6..8].parse().unwrap_or(0);
    let valid_date = time::Month::try_from(month)
        .ok()
        .and_then(|m| time::Date::from_calendar_date(year, m, day).ok())
        .is_some_and(|_| year >= 1800);
    if !valid_date {
        return Err(malformed(
            FIELD_RESIDENT_ID,
            s,
            format!("birth date {birth} (positions 7-14) is not a valid date"),
        ));
    }
    if found != expected {
        return Err(CodeError::WrongCheck {
            field: FIELD_RESIDENT_ID,
            value: Shown::new(s),
            found,
            expected,
        });
    }
    Ok(())
}

/// ISO/IEC 7064 MOD 37,36 (hybrid system, M = 36): the check character that makes `vals` valid.
fn mod37_36(vals: &[u32]) -> u32 {
    const M: u32 = 36;
    let mut p = M;
    for v in vals {
        let mut s = (p + v) % M;
        if s == 0 {
            s = M;
        }
        p = (2 * s) % (M + 1);
    }
    (M + 1 - p) % M
}

/// Field name used in errors about a 证照类型代码.
pub const FIELD_LICENCE_TYPE_CODE: &str = "证照类型代码";

/// Validate a GB/T 36904-2018 证照类型代码 (licence type code): 21 characters, the defining
/// authority's 统一社会信用代码 (18, check character verified) followed by a 3-digit number.
pub fn validate_licence_type_code(s: &str) -> Result<(), CodeError> {
    let f = FIELD_LICENCE_TYPE_CODE;
    if s.chars().count() != 21 {
        return Err(wrong_length(f, s, 21));
    }
    if !s.is_ascii() {
        return Err(malformed(f, s, "only ASCII characters are allowed"));
    }
    // 21 ASCII characters: byte slicing is safe.
    let (authority, number) = s.split_at(18);
    validate_uscc(authority).map_err(|e| {
        malformed(
            f,
            s,
            format!("the defining authority's code (characters 1-18) is not valid: {e}"),
        )
    })?;
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            f,
            s,
            format!("the catalogue number {number} (characters 19-21) is not 3 digits"),
        ));
    }
    Ok(())
}

/// The parts of a GB/T 36904-2018 电子证照标识.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LicenceId {
    /// 证照类型代码: 21 characters (the defining authority's USCC and a 3-digit number).
    pub type_code: String,
    /// 发证机构代码: the issuer's 统一社会信用代码 (18 characters, validated).
    pub issuer_id: String,
    /// 证照编号 within the issuer: 1–50 characters from `0-9A-Z`.
    pub serial: String,
    /// 版本号: 3 digits.
    pub version: String,
}

const ALNUM_UPPER: &str = "0-9 and A-Z";

impl LicenceId {
    /// The dot-less body the check character is computed over: type, issuer, serial, version.
    fn check_body(&self) -> String {
        format!(
            "{}{}{}{}",
            self.type_code, self.issuer_id, self.serial, self.version
        )
    }

    /// Validate the parts (lengths, alphabets, issuer USCC) without a check character.
    pub fn validate_parts(&self) -> Result<(), CodeError> {
        let shown = self.to_string_without_check();
        let f = FIELD_LICENCE_ID;
        if self.type_code.chars().count() != 21 {
            return Err(malformed(
                f,
                &shown,
                format!(
                    "the type code {} has {} characters, expected 21",
                    Shown::new(&self.type_code),
                    self.type_code.chars().count()
                ),
            ));
        }
        values(f, &self.type_code, MOD37_36_ALPHABET, ALNUM_UPPER)?;
        validate_uscc(&self.issuer_id)
            .map_err(|e| malformed(f, &shown, format!("the issuer code is not valid: {e}")))?;
        let serial_len = self.serial.chars().count();
        if !(1..=50).contains(&serial_len) {
            return Err(malformed(
                f,
                &shown,
                format!("the serial has {serial_len} characters, expected 1 to 50"),
            ));
        }
        values(f, &self.serial, MOD37_36_ALPHABET, ALNUM_UPPER)?;
        if self.version.len() != 3 || !self.version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(
                f,
                &shown,
                format!("the version {} is not 3 digits", Shown::new(&self.version)),
            ));
        }
        Ok(())
    }

    /// The identifier without its last `.<check>` part.
    fn to_string_without_check(&self) -> String {
        format!(
            "{LICENCE_ID_PREFIX}{}.{}.{}.{}",
            self.type_code, self.issuer_id, self.serial, self.version
        )
    }

    /// The MOD 37,36 check character of these parts (GB/T 36904-2018).
    pub fn check_char(&self) -> Result<char, CodeError> {
        self.validate_parts()?;
        let body = self.check_body();
        let vals = values(FIELD_LICENCE_ID, &body, MOD37_36_ALPHABET, ALNUM_UPPER)?;
        Ok(nth_char(MOD37_36_ALPHABET, mod37_36(&vals)))
    }

    /// The full identifier, check character included.
    pub fn to_identifier(&self) -> Result<String, CodeError> {
        let c = self.check_char()?;
        Ok(format!("{}.{c}", self.to_string_without_check()))
    }
}

/// Split and validate a GB/T 36904-2018 电子证照标识, check character included.
pub fn parse_licence_id(s: &str) -> Result<LicenceId, CodeError> {
    let f = FIELD_LICENCE_ID;
    let rest = s
        .strip_prefix(LICENCE_ID_PREFIX)
        .ok_or_else(|| malformed(f, s, format!("does not start with {LICENCE_ID_PREFIX}")))?;
    let parts: Vec<&str> = rest.split('.').collect();
    let [type_code, issuer_id, serial, version, check] = parts.as_slice() else {
        return Err(malformed(
            f,
            s,
            format!(
                "expected 5 dot-separated parts after the prefix (type, issuer, serial, version, check), found {}",
                parts.len()
            ),
        ));
    };
    let id = LicenceId {
        type_code: (*type_code).to_string(),
        issuer_id: (*issuer_id).to_string(),
        serial: (*serial).to_string(),
        version: (*version).to_string(),
    };
    let mut check_chars = check.chars();
    let found = match (check_chars.next(), check_chars.next()) {
        (Some(c), None) => c,
        _ => {
            return Err(malformed(
                f,
                s,
                format!("the check part {} is not one character", Shown::new(check)),
            ));
        }
    };
    let expected = id.check_char()?;
    if found != expected {
        return Err(CodeError::WrongCheck {
            field: f,
            value: Shown::new(s),
            found,
            expected,
        });
    }
    Ok(id)
}

/// Validate a GB/T 36904-2018 电子证照标识 (structure, issuer USCC, MOD 37,36 check).
pub fn validate_licence_id(s: &str) -> Result<(), CodeError> {
    parse_licence_id(s).map(|_| ())
}

/// The MOD 37,36 check character for an identifier given without its final `.<check>` part.
pub fn licence_id_check_char(without_check: &str) -> Result<char, CodeError> {
    // Append a placeholder check, parse, and report the expected character.
    match parse_licence_id(&format!("{without_check}.0")) {
        Ok(_) => Ok('0'),
        Err(CodeError::WrongCheck { expected, .. }) => Ok(expected),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uscc_published_examples_are_valid() {
        validate_uscc("11100000000013338W").unwrap();
        validate_uscc("91350100M000100Y43").unwrap();
        validate_uscc("11430000006122244L").unwrap();
        validate_uscc("11330105002500287C").unwrap();
        assert_eq!(uscc_check_char("11100000000013338").unwrap(), 'W');
        assert_eq!(uscc_check_char("91350100M000100Y4").unwrap(), '3');
    }

    #[test]
    fn uscc_wrong_check_names_expected_character() {
        let err = validate_uscc("11100000000013338X").unwrap_err();
        assert_eq!(
            err.to_string(),
            "统一社会信用代码 11100000000013338X: check character is 'X', expected 'W'"
        );
        assert!(matches!(
            validate_uscc("91350100M000100Y44"),
            Err(CodeError::WrongCheck {
                expected: '3',
                found: '4',
                ..
            })
        ));
    }

    #[test]
    fn uscc_length_and_alphabet_errors() {
        let err = validate_uscc("1110000000001333").unwrap_err();
        assert_eq!(
            err.to_string(),
            "统一社会信用代码 1110000000001333: expected 18 characters, found 16"
        );
        // 'I' is not in the GB 32100 alphabet.
        let err = validate_uscc("1110000000001333IW").unwrap_err();
        assert!(matches!(
            err,
            CodeError::BadCharacter {
                ch: 'I',
                position: 17,
                ..
            }
        ));
        assert!(validate_uscc("11100000000013338w").is_err());
        assert!(validate_uscc("").is_err());
        assert!(validate_uscc("统一社会信用代码统一社会信用代码统一").is_err());
    }

    #[test]
    fn resident_id_examples() {
        // GB 11643-1999 appendix example.
        validate_resident_id("11010519491231002X").unwrap();
        validate_resident_id("440524188001010014").unwrap();
        assert_eq!(resident_id_check_char("11010519491231002").unwrap(), 'X');
        let err = validate_resident_id("110105194912310021").unwrap_err();
        assert_eq!(
            err.to_string(),
            "居民身份证号码 110105194912310021: check character is '1', expected 'X'"
        );
        assert!(matches!(
            validate_resident_id("11010519491231002x"),
            Err(CodeError::BadCharacter { ch: 'x', .. })
        ));
        assert!(matches!(
            validate_resident_id("110105194913310027"),
            Err(CodeError::Malformed { .. })
        ));
        assert!(matches!(
            validate_resident_id("1101051949123100"),
            Err(CodeError::WrongLength { .. })
        ));
    }

    const LIC1: &str = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";
    const LIC2: &str = "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0";

    #[test]
    fn licence_id_published_examples_are_valid() {
        let id = parse_licence_id(LIC1).unwrap();
        assert_eq!(id.type_code, "11100000000013338W011");
        assert_eq!(id.issuer_id, "11430000006122244L");
        assert_eq!(id.serial, "20230000403");
        assert_eq!(id.version, "001");
        assert_eq!(id.to_identifier().unwrap(), LIC1);
        validate_licence_id(LIC2).unwrap();
        assert_eq!(
            licence_id_check_char(LIC2.strip_suffix(".0").unwrap()).unwrap(),
            '0'
        );
        assert_eq!(
            licence_id_check_char(LIC1.strip_suffix(".U").unwrap()).unwrap(),
            'U'
        );
    }

    #[test]
    fn licence_id_wrong_check_and_structure() {
        let bad = LIC1.replace(".001.U", ".001.V");
        let err = validate_licence_id(&bad).unwrap_err();
        assert!(matches!(
            err,
            CodeError::WrongCheck {
                found: 'V',
                expected: 'U',
                ..
            }
        ));
        assert!(err.to_string().starts_with("电子证照标识 1.2.156.3005.2."));
        // Changing the serial changes the check.
        let changed = LIC1.replace("20230000403", "20230000404");
        assert!(matches!(
            validate_licence_id(&changed),
            Err(CodeError::WrongCheck { .. })
        ));
        // A wrong issuer USCC is reported.
        let bad_issuer = LIC1.replace("11430000006122244L", "11430000006122244M");
        assert!(
            validate_licence_id(&bad_issuer)
                .unwrap_err()
                .to_string()
                .contains("issuer code")
        );
        assert!(validate_licence_id("1.2.156.3005.2.").is_err());
        assert!(validate_licence_id("2.2.156.3005.2.a.b.c.d.e").is_err());
        assert!(validate_licence_id(&LIC1.replace(".001.", ".01.")).is_err());
    }

    #[test]
    fn licence_type_codes() {
        validate_licence_type_code("11100000000013338W011").unwrap();
        validate_licence_type_code("11100000000013338W009").unwrap();
        assert!(matches!(
            validate_licence_type_code("11100000000013338W01"),
            Err(CodeError::WrongLength {
                expected: 21,
                found: 20,
                ..
            })
        ));
        let err = validate_licence_type_code("11100000000013338X011").unwrap_err();
        assert!(err.to_string().contains("expected 'W'"), "{err}");
        assert!(
            validate_licence_type_code("11100000000013338W0A1")
                .unwrap_err()
                .to_string()
                .contains("catalogue number")
        );
        assert!(
            validate_licence_type_code("统一社会信用代码统一社会信用代码统一社会信用").is_err()
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "1".repeat(500);
        let msg = validate_uscc(&long).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'));
    }

    fn uscc_body() -> impl Strategy<Value = String> {
        proptest::collection::vec(0usize..31, 17).prop_map(|v| {
            v.into_iter()
                .map(|i| USCC_ALPHABET.as_bytes()[i] as char)
                .collect()
        })
    }

    proptest! {
        #[test]
        fn validators_never_panic(s in "\\PC{0,80}") {
            let _ = validate_uscc(&s);
            let _ = validate_resident_id(&s);
            let _ = validate_licence_id(&s);
            let _ = uscc_check_char(&s);
            let _ = resident_id_check_char(&s);
            let _ = licence_id_check_char(&s);
        }

        #[test]
        fn validators_never_panic_on_near_misses(s in "[0-9A-Z.]{0,90}") {
            let _ = validate_uscc(&s);
            let _ = validate_resident_id(&s);
            let _ = validate_licence_id(&format!("{LICENCE_ID_PREFIX}{s}"));
        }

        #[test]
        fn uscc_computed_check_validates(body in uscc_body()) {
            let c = uscc_check_char(&body).unwrap();
            let full = format!("{body}{c}");
            prop_assert!(validate_uscc(&full).is_ok());
        }

        #[test]
        fn resident_id_computed_check_validates(
            area in "[1-9][0-9]{5}",
            y in 1900i32..2025, m in 1u8..=12, d in 1u8..=28,
            seq in "[0-9]{3}",
        ) {
            let body = format!("{area}{y:04}{m:02}{d:02}{seq}");
            let c = resident_id_check_char(&body).unwrap();
            let full = format!("{body}{c}");
            prop_assert!(validate_resident_id(&full).is_ok());
        }

        #[test]
        fn licence_computed_check_validates(
            tail in "[0-9]{3}", issuer in uscc_body(), serial in "[0-9A-Z]{1,20}", version in "[0-9]{3}",
        ) {
            let issuer = format!("{issuer}{}", uscc_check_char(&issuer).unwrap());
            let id = LicenceId {
                type_code: format!("11100000000013338W{tail}"),
                issuer_id: issuer,
                serial,
                version,
            };
            let s = id.to_identifier().unwrap();
            prop_assert_eq!(parse_licence_id(&s).unwrap(), id);
        }
    }
}
