//! RFC 8785 JSON Canonicalization Scheme (JCS) over `serde_json::Value`, and a strict JSON
//! reader that rejects duplicate object keys (RFC 8785 §3.1: "JSON data MUST NOT contain
//! duplicate property names").
//!
//! Canonical form (RFC 8785 §3.2): no whitespace; object members sorted by the UTF-16 code units
//! of their names (§3.2.3); strings with the minimal escaping of ECMAScript `JSON.stringify`
//! (§3.2.2.2); numbers as ECMAScript `Number.prototype.toString` prints IEEE 754 doubles
//! (§3.2.2.3). Integers held by `serde_json` as 64-bit values are accepted only while exactly
//! representable as doubles (|i| ≤ 2^53): larger ones are an error, never silently rounded.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a value has no canonical form, or text is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    /// An integer outside ±2^53 cannot be an exact IEEE 754 double (RFC 8785 §3.2.2.3).
    #[error("integer {0} is not exactly representable as an IEEE 754 double (|i| > 2^53)")]
    IntegerOutOfRange(String),
    /// NaN and infinities have no JSON form.
    #[error("number is not finite")]
    NotFinite,
    /// The text is not JSON, or has a duplicate key, or trailing data.
    #[error("invalid JSON: {0}")]
    Syntax(String),
}

/// 2^53: the largest magnitude below which every integer is an exact double.
const MAX_SAFE: u64 = 1 << 53;

/// The RFC 8785 canonical UTF-8 bytes of `value` (§3.2).
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out.into_bytes())
}

/// Parses `text` as JSON rejecting duplicate object keys and trailing data (RFC 8785 §3.1).
pub fn parse_strict(text: &[u8]) -> Result<Value, JcsError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let StrictValue(v) =
        StrictValue::deserialize(&mut de).map_err(|e| JcsError::Syntax(e.to_string()))?;
    de.end().map_err(|e| JcsError::Syntax(e.to_string()))?;
    Ok(v)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

/// Appends the canonical form of the object `map` (members sorted per RFC 8785 §3.2.3).
pub(crate) fn write_object(map: &Map<String, Value>, out: &mut String) -> Result<(), JcsError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    out.push('{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(v, out)?;
    }
    out.push('}');
    Ok(())
}

/// Orders strings by their UTF-16 code units (RFC 8785 §3.2.3), not by code points.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// String serialisation of RFC 8785 §3.2.2.2 (ECMAScript QuoteJSONString).
pub(crate) fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: &Number, out: &mut String) -> Result<(), JcsError> {
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE {
            return Err(JcsError::IntegerOutOfRange(u.to_string()));
        }
        out.push_str(&u.to_string());
        return Ok(());
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE {
            return Err(JcsError::IntegerOutOfRange(i.to_string()));
        }
        out.push_str(&i.to_string());
        return Ok(());
    }
    let f = n.as_f64().ok_or(JcsError::NotFinite)?;
    out.push_str(&format_double(f)?);
    Ok(())
}

/// ECMAScript `Number::toString(x)` for a finite double (ECMA-262 §6.1.6.1.20, as required by
/// RFC 8785 §3.2.2.3): shortest round-trip digits, exponent form outside [1e-6, 1e21).
pub fn format_double(x: f64) -> Result<String, JcsError> {
    if !x.is_finite() {
        return Err(JcsError::NotFinite);
    }
    if x == 0.0 {
        // Both +0 and −0 print as "0".
        return Ok("0".to_string());
    }
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` prints the shortest digits that round-trip: "d.ddddde-7" or "de21".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci
        .split_once('e')
        .ok_or_else(|| JcsError::Syntax(format!("unexpected float format {sci}")))?;
    let exp: i32 = exp
        .parse()
        .map_err(|_| JcsError::Syntax(format!("unexpected float format {sci}")))?;
    let mut digits: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
    ties_to_even(&mut digits, exp, x.abs());
    let digits =
        String::from_utf8(digits).map_err(|_| JcsError::Syntax("non-ASCII digits".into()))?;
    let k = digits.len() as i32;
    // x = 0.d1d2…dk × 10^n
    let n = exp + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    Ok(out)
}

/// Applies ECMA-262's tie rule to the shortest digits `digits` × 10^(exp − k + 1) of `x > 0`:
/// when `x` lies exactly halfway between two shortest candidates, the even one is chosen (Rust's
/// shortest formatting does not promise that; e.g. 1424953923781206.25 must print …206.2).
fn ties_to_even(digits: &mut [u8], exp: i32, x: f64) {
    let Some(&last) = digits.last() else { return };
    // Two k-digit candidates fit in one double's rounding interval (relative width ≈ 2^-53)
    // only when k ≥ 16; below that the shortest digits are unique.
    if digits.len() < 16 || (last - b'0').is_multiple_of(2) {
        return;
    }
    // The exact decimal expansion of a double has at most 767 significant digits.
    let exact = format!("{x:.800e}");
    let Some((mantissa, exact_exp)) = exact.split_once('e') else {
        return;
    };
    if exact_exp.parse::<i32>().ok() != Some(exp) {
        return;
    }
    let exact_digits: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
    let k = digits.len();
    let is_midpoint = |candidate: &[u8]| {
        exact_digits.get(..k) == Some(candidate)
            && exact_digits.get(k) == Some(&b'5')
            && exact_digits
                .get(k + 1..)
                .is_some_and(|rest| rest.iter().all(|d| *d == b'0'))
    };
    let mut below = digits.to_vec();
    if let Some(d) = below.last_mut() {
        *d -= 1;
    }
    if is_midpoint(&below) {
        // x = (s − ½)·10^…: the even neighbour is s − 1.
        digits.copy_from_slice(&below);
    } else if last < b'9' && is_midpoint(digits) {
        // x = (s + ½)·10^…: the even neighbour is s + 1.
        if let Some(d) = digits.last_mut() {
            *d += 1;
        }
    }
}

/// A `Value` deserialised with duplicate object keys rejected.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictValue(v) = access.next_value()?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon_text(input: &str) -> String {
        let v = parse_strict(input.as_bytes()).unwrap();
        String::from_utf8(canonicalize(&v).unwrap()).unwrap()
    }

    /// RFC 8785 §3.2.4, the example of the whole transformation: numbers, escaping, literals
    /// (also cyberphone/json-canonicalization testdata/{input,output}/values.json).
    #[test]
    fn rfc8785_values_example() {
        let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
        let want = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(canon_text(input), want);
    }

    /// RFC 8785 §3.2.3 sorting example: keys ordered by UTF-16 code units, so U+1F600 (a
    /// surrogate pair starting 0xD83D) sorts before U+FB33.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
   "\u20ac": "Euro Sign",
   "\r": "Carriage Return",
   "\ufb33": "Hebrew Letter Dalet With Dagesh",
   "1": "One",
   "\ud83d\ude00": "Emoji: Grinning Face",
   "\u0080": "Control",
   "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
        let v = parse_strict(input.as_bytes()).unwrap();
        let Value::Object(_) = &v else {
            panic!("object")
        };
        let text = String::from_utf8(canonicalize(&v).unwrap()).unwrap();
        let order = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small",
            "Euro Sign",
            "Emoji",
            "Hebrew",
        ];
        let mut last = 0;
        for name in order {
            let at = text.find(name).unwrap();
            assert!(at > last, "{name} out of order in {text}");
            last = at;
        }
        assert!(
            text.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\"")
        );
    }

    /// cyberphone/json-canonicalization testdata/{input,output}/structures.json.
    #[test]
    fn cyberphone_structures() {
        let input = r#"{
  "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
  "10": { },
  "": "empty",
  "a": { },
  "111": [ { } ],
  "A": { }
}"#;
        assert_eq!(
            canon_text(input),
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}"#
        );
    }

    /// cyberphone/json-canonicalization testdata/{input,output}/weird.json (U+007F stays raw).
    #[test]
    fn cyberphone_weird() {
        let input = r#"{
  "\u20ac": "Euro Sign",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}"#;
        let want = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon_text(input), want);
    }

    /// RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript serialisation.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            assert_eq!(
                format_double(f64::from_bits(*bits)).unwrap(),
                *want,
                "bits {bits:016x}"
            );
        }
        // Appendix B: NaN and Infinity are errors.
        assert_eq!(
            format_double(f64::from_bits(0x7fffffffffffffff)),
            Err(JcsError::NotFinite)
        );
        assert_eq!(
            format_double(f64::from_bits(0x7ff0000000000000)),
            Err(JcsError::NotFinite)
        );
    }

    proptest::proptest! {
        /// Every finite double prints as the shortest text that reads back as the same double.
        #[test]
        fn doubles_round_trip(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            if x.is_finite() {
                let text = format_double(x).unwrap();
                let back: f64 = text.parse().unwrap();
                proptest::prop_assert!(back == x || (x == 0.0 && back == 0.0), "{x:e} -> {text}");
                proptest::prop_assert!(!text.contains('E'));
            }
        }
    }

    #[test]
    fn control_characters_and_escapes() {
        let v = Value::String("\u{0}\u{1f}\u{8}\u{c}\t\r\n\"\\/\u{7f}\u{2028}".into());
        assert_eq!(
            String::from_utf8(canonicalize(&v).unwrap()).unwrap(),
            "\"\\u0000\\u001f\\b\\f\\t\\r\\n\\\"\\\\/\u{7f}\u{2028}\""
        );
    }

    #[test]
    fn integers_beyond_2_pow_53_are_rejected() {
        assert_eq!(
            canonicalize(&Value::from(1u64 << 53)).unwrap(),
            b"9007199254740992"
        );
        assert_eq!(
            canonicalize(&Value::from(-(1i64 << 53))).unwrap(),
            b"-9007199254740992"
        );
        assert!(matches!(
            canonicalize(&Value::from((1u64 << 53) + 1)),
            Err(JcsError::IntegerOutOfRange(_))
        ));
        assert!(matches!(
            canonicalize(&Value::from(i64::MIN)),
            Err(JcsError::IntegerOutOfRange(_))
        ));
    }

    #[test]
    fn duplicate_keys_and_trailing_data_are_rejected() {
        assert!(
            matches!(parse_strict(br#"{"a":1,"a":2}"#), Err(JcsError::Syntax(m)) if m.contains("duplicate"))
        );
        assert!(matches!(
            parse_strict(br#"{"x":{"b":1,"b":1}}"#),
            Err(JcsError::Syntax(_))
        ));
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        assert!(parse_strict(br#"{"a":1}  "#).is_ok());
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        let input = br#"{"b":[1,2.5,{"z":null,"a":"\u00e9"}],"a":-0.0,"c":1e300}"#;
        let once = canonicalize(&parse_strict(input).unwrap()).unwrap();
        let twice = canonicalize(&parse_strict(&once).unwrap()).unwrap();
        assert_eq!(once, twice);
        assert_eq!(
            String::from_utf8(once).unwrap(),
            "{\"a\":0,\"b\":[1,2.5,{\"a\":\"\u{e9}\",\"z\":null}],\"c\":1e+300}"
        );
    }
}
