//! Writing PDF objects (ISO 32000-2 §7.3) as bytes.
//!
//! Only what an incremental update needs: direct objects and streams, written in a compact,
//! unambiguous form. Values round-trip through any conforming parser: names are `#xx`-escaped,
//! literal strings escape `\`, `(`, `)` and non-printable bytes, reals never use exponents.

use lopdf::{Dictionary, Object, StringFormat};

/// Append the serialisation of `obj` to `out`.
pub fn write_object(out: &mut Vec<u8>, obj: &Object) {
    match obj {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Object::Real(r) => write_f32(out, *r),
        Object::Name(n) => write_name(out, n),
        Object::String(s, StringFormat::Literal) => write_literal_string(out, s),
        Object::String(s, StringFormat::Hexadecimal) => write_hex_string(out, s),
        Object::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, item);
            }
            out.push(b']');
        }
        Object::Dictionary(d) => write_dictionary(out, d),
        Object::Stream(s) => {
            let mut dict = s.dict.clone();
            dict.set("Length", Object::Integer(s.content.len() as i64));
            write_dictionary(out, &dict);
            out.extend_from_slice(b"\nstream\r\n");
            out.extend_from_slice(&s.content);
            out.extend_from_slice(b"\nendstream");
        }
        Object::Reference((num, generation)) => {
            out.extend_from_slice(format!("{num} {generation} R").as_bytes());
        }
    }
}

/// Append `<< /Key value … >>`.
pub fn write_dictionary(out: &mut Vec<u8>, dict: &Dictionary) {
    out.extend_from_slice(b"<<");
    for (key, value) in dict.iter() {
        write_name(out, key);
        out.push(b' ');
        write_object(out, value);
    }
    out.extend_from_slice(b">>");
}

/// A parsed real, in its shortest round-tripping decimal form (Rust's `Display` for floats
/// never uses exponents, as §7.3.3 requires).
fn write_f32(out: &mut Vec<u8>, r: f32) {
    if !r.is_finite() {
        out.push(b'0');
        return;
    }
    let s = r.to_string();
    out.extend_from_slice(s.as_bytes());
    if !s.contains('.') {
        out.extend_from_slice(b".0");
    }
}

/// A real number we compute (coordinates), with at most 4 decimals, in plain notation.
pub fn write_real(out: &mut Vec<u8>, r: f64) {
    if !r.is_finite() {
        out.push(b'0');
        return;
    }
    if r.fract() == 0.0 && r.abs() < 1e15 {
        out.extend_from_slice(format!("{r:.1}").as_bytes());
        return;
    }
    let s = format!("{r:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    out.extend_from_slice(if s.is_empty() || s == "-" { "0" } else { s }.as_bytes());
}

fn is_regular(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%' | b'#'
        )
}

/// `/Name` with `#xx` escapes for delimiters, whitespace and non-ASCII bytes (§7.3.5).
pub fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        if is_regular(b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        }
    }
}

/// `(literal string)` with escapes (§7.3.4.2).
pub fn write_literal_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'(');
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'(' => out.extend_from_slice(b"\\("),
            b')' => out.extend_from_slice(b"\\)"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out.push(b')');
}

/// `<hex string>` (§7.3.4.3).
pub fn write_hex_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'<');
    out.extend_from_slice(hex::encode_upper(s).as_bytes());
    out.push(b'>');
}

/// A text string (§7.9.2.2): PDFDocEncoding-compatible ASCII as is, anything else as
/// UTF-16BE with a byte order mark.
pub fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in s.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{Stream, dictionary};

    fn ser(o: &Object) -> String {
        let mut v = Vec::new();
        write_object(&mut v, o);
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn writes_each_kind() {
        assert_eq!(ser(&Object::Null), "null");
        assert_eq!(ser(&Object::Real(1.0)), "1.0");
        assert_eq!(ser(&Object::Real(595.2756)), "595.2756");
        assert_eq!(ser(&Object::Real(-0.5)), "-0.5");
        assert_eq!(ser(&Object::Name(b"A B#/".to_vec())), "/A#20B#23#2F");
        assert_eq!(
            ser(&Object::String(
                b"a(b)\\\n\x01".to_vec(),
                StringFormat::Literal
            )),
            "(a\\(b\\)\\\\\\n\\001)"
        );
        assert_eq!(ser(&Object::Reference((12, 0))), "12 0 R");
        let d = dictionary! { "Type" => "Sig", "N" => 3, "A" => vec![1.into(), Object::Null] };
        assert_eq!(ser(&Object::Dictionary(d)), "<</Type /Sig/N 3/A [1 null]>>");
    }

    #[test]
    fn stream_length_is_written() {
        let s = Stream::new(dictionary! {}, b"abc".to_vec());
        assert_eq!(
            ser(&Object::Stream(s)),
            "<</Length 3>>\nstream\r\nabc\nendstream"
        );
    }

    #[test]
    fn output_parses_back_with_lopdf() {
        let d = dictionary! {
            "Name" => Object::Name(b"we ird#".to_vec()),
            "S" => Object::String(b"(nested) \\ \xff".to_vec(), StringFormat::Literal),
            "T" => text_string("行政审批专用章"),
            "R" => Object::Real(0.125),
        };
        let mut objs: Vec<Vec<u8>> = vec![
            b"<</Type /Catalog /Pages 2 0 R>>".to_vec(),
            b"<</Type /Pages /Kids [] /Count 0>>".to_vec(),
        ];
        let mut third = Vec::new();
        write_object(&mut third, &Object::Dictionary(d.clone()));
        objs.push(third);
        let mut body = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offsets.push(body.len());
            body.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            body.extend_from_slice(o);
            body.extend_from_slice(b"\nendobj\n");
        }
        let xref = body.len();
        body.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
        for off in offsets {
            body.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        body.extend_from_slice(
            format!("trailer\n<</Size 4 /Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        let doc = lopdf::Document::load_mem(&body).unwrap();
        assert!(doc.xref_recovery.is_none());
        let back = doc.get_dictionary((3, 0)).unwrap();
        assert_eq!(back.get(b"Name").unwrap(), d.get(b"Name").unwrap());
        assert_eq!(
            back.get(b"S").unwrap().as_str().unwrap(),
            b"(nested) \\ \xff"
        );
        assert_eq!(
            back.get(b"T").unwrap().as_str().unwrap(),
            d.get(b"T").unwrap().as_str().unwrap()
        );
    }
}
