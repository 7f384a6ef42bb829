//! What a retention package needs to know about a PDF without trusting it: whether it parses
//! (ISO 32000-2 §7.5), whether it is encrypted (§7.6), whether it carries executable content
//! (JavaScript §12.6.4.17, Launch actions §12.6.4.6, `/OpenAction` §7.7.2, rich media, embedded
//! executables §7.11.4) — the DA/T 70-2018 可用性 and 安全性 checks — and the certificates and
//! GB/T 38540 seal objects its signatures carry (the package's trust material).

use lopdf::{Dictionary, Document, Object};

use chop_seal::cms::parse::{octet_string, parse_signed_data};

/// Largest size any one stream may decompress to while a PDF is inspected (a bomb guard).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// File name endings treated as executable when embedded in a PDF.
const EXECUTABLE_SUFFIXES: &[&str] = &[
    ".exe", ".dll", ".com", ".bat", ".cmd", ".scr", ".msi", ".ps1", ".vbs", ".vbe", ".js", ".jse",
    ".wsf", ".jar", ".sh", ".bin", ".elf", ".app", ".apk", ".lnk", ".hta", ".cpl",
];

/// Facts about one PDF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdfFacts {
    /// `None` when the file parses, else why it does not.
    pub unreadable: Option<String>,
    /// The file is encrypted (has an `/Encrypt` dictionary).
    pub encrypted: bool,
    /// Executable or active content found, one description each (empty: none).
    pub active_content: Vec<String>,
    /// Certificates (DER) embedded in its signatures' CMS `certificates`.
    pub certificates: Vec<Vec<u8>>,
    /// Seal objects (DER `SESeal`) bound into its signatures as the Chop seal attribute.
    pub seals: Vec<Vec<u8>>,
    /// Number of signature dictionaries found.
    pub signatures: usize,
}

fn name_of(obj: Option<&Object>) -> Option<&[u8]> {
    match obj {
        Some(Object::Name(n)) => Some(n.as_slice()),
        _ => None,
    }
}

fn get<'a>(d: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    d.get(key).ok()
}

fn resolve<'a>(doc: &'a Document, obj: &'a Object) -> &'a Object {
    match obj {
        Object::Reference(id) => doc.objects.get(id).unwrap_or(obj),
        other => other,
    }
}

fn looks_executable(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"MZ", "a Windows executable (MZ header)"),
        (b"\x7fELF", "an ELF executable"),
        (b"#!", "a script with a #! line"),
        (b"\xca\xfe\xba\xbe", "a Mach-O or Java class file"),
        (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
        (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    ];
    MAGIC
        .iter()
        .find(|(m, _)| bytes.starts_with(m))
        .map(|(_, what)| *what)
}

fn executable_name(name: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let lower = lower.trim_end_matches(['\0', ' ']);
    EXECUTABLE_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Inspects `bytes` as a PDF. Never panics on hostile input; a file that does not parse gets
/// `unreadable` and nothing else.
pub fn inspect_pdf(bytes: &[u8]) -> PdfFacts {
    let mut facts = PdfFacts::default();
    let window = bytes.get(..bytes.len().min(1029)).unwrap_or_default();
    if !window.windows(5).any(|w| w == b"%PDF-") {
        facts.unreadable = Some("no %PDF- header".into());
        return facts;
    }
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED_BYTES),
        ..lopdf::LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            facts.unreadable = Some(format!("does not parse as a PDF: {e}"));
            return facts;
        }
    };
    facts.encrypted = doc.trailer.has(b"Encrypt") || doc.was_encrypted();
    if let Some(Object::Reference(root)) = get(&doc.trailer, b"Root")
        && let Some(Object::Dictionary(catalog)) = doc.objects.get(root)
    {
        if let Some(open) = get(catalog, b"OpenAction")
            && let Object::Dictionary(action) = resolve(&doc, open)
            && matches!(
                name_of(get(action, b"S")),
                Some(b"JavaScript") | Some(b"Launch")
            )
        {
            facts
                .active_content
                .push("the catalog's /OpenAction runs an action when the file opens".into());
        }
        if let Some(names) = get(catalog, b"Names")
            && let Object::Dictionary(names) = resolve(&doc, names)
            && names.has(b"JavaScript")
        {
            facts
                .active_content
                .push("document-level JavaScript (/Names /JavaScript)".into());
        }
    }
    for (id, obj) in &doc.objects {
        let (dict, stream) = match obj {
            Object::Dictionary(d) => (d, None),
            Object::Stream(s) => (&s.dict, Some(s)),
            _ => continue,
        };
        let at = format!("object {} {}", id.0, id.1);
        match name_of(get(dict, b"S")) {
            Some(b"JavaScript") => facts
                .active_content
                .push(format!("JavaScript action ({at})")),
            Some(b"Launch") => facts.active_content.push(format!("/Launch action ({at})")),
            _ => {
                if dict.has(b"JS") {
                    facts.active_content.push(format!("JavaScript (/JS, {at})"));
                }
            }
        }
        if name_of(get(dict, b"Subtype")) == Some(b"RichMedia") {
            facts
                .active_content
                .push(format!("rich media annotation ({at})"));
        }
        if name_of(get(dict, b"Type")) == Some(b"Filespec") {
            for key in [b"F".as_slice(), b"UF"] {
                if let Some(Object::String(name, _)) = get(dict, key)
                    && executable_name(name)
                {
                    facts.active_content.push(format!(
                        "embedded file named {:?} ({at})",
                        String::from_utf8_lossy(name)
                    ));
                    break;
                }
            }
        }
        if let Some(s) = stream
            && name_of(get(dict, b"Type")) == Some(b"EmbeddedFile")
        {
            let content = s
                .decompressed_content_with_limit(MAX_DECOMPRESSED_BYTES)
                .unwrap_or_else(|_| s.content.clone());
            if let Some(what) = looks_executable(&content) {
                facts
                    .active_content
                    .push(format!("embedded file that is {what} ({at})"));
            }
        }
        let is_sig = name_of(get(dict, b"Type")) == Some(b"Sig")
            || (dict.has(b"ByteRange") && dict.has(b"Contents") && dict.has(b"Filter"));
        if is_sig && let Some(Object::String(contents, _)) = get(dict, b"Contents") {
            facts.signatures += 1;
            if let Ok(sd) = parse_signed_data(contents) {
                for c in sd.certificates.iter() {
                    if !facts.certificates.contains(c) {
                        facts.certificates.push(c.clone());
                    }
                }
                for attr in sd.signed_attr(&chop_seal::cms::ID_CHOP_SESEAL) {
                    for v in &attr.values {
                        if let Some(der) = octet_string(v)
                            && !facts.seals.iter().any(|s| s == der)
                        {
                            facts.seals.push(der.to_vec());
                        }
                    }
                }
            }
        }
    }
    facts.active_content.sort();
    facts.active_content.dedup();
    facts
}

/// The certificates and seal objects of every signature, found without parsing the PDF: each
/// `/ByteRange [a b c d]` names the gap `[a+b, c)` that holds the signature's `/Contents` hex
/// string (ISO 32000-2 §12.8.1), which is decoded and read as a CMS SignedData. Cheap enough to
/// run over every document before the full inspection; malformed ranges are skipped.
pub fn scan_signatures(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    const KEY: &[u8] = b"/ByteRange";
    let (mut certs, mut seals): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let mut pos = 0;
    while let Some(i) = bytes
        .get(pos..)
        .and_then(|rest| rest.windows(KEY.len()).position(|w| w == KEY))
    {
        pos += i + KEY.len();
        let Some(range) = read_byte_range(bytes.get(pos..).unwrap_or_default()) else {
            continue;
        };
        let (Some(start), Some(end)) = (range[0].checked_add(range[1]), Some(range[2])) else {
            continue;
        };
        let Some(gap) = bytes.get(start..end) else {
            continue;
        };
        let Some(der) = decode_hex_string(gap) else {
            continue;
        };
        let Ok(sd) = parse_signed_data(&der) else {
            continue;
        };
        for attr in sd.signed_attr(&chop_seal::cms::ID_CHOP_SESEAL) {
            for v in &attr.values {
                if let Some(der) = octet_string(v)
                    && !seals.iter().any(|s| s == der)
                {
                    seals.push(der.to_vec());
                }
            }
        }
        for c in sd.certificates {
            if !certs.contains(&c) {
                certs.push(c);
            }
        }
    }
    (certs, seals)
}

/// Reads `[a b c d]` (whitespace-separated non-negative integers) at the start of `text`.
fn read_byte_range(text: &[u8]) -> Option<[usize; 4]> {
    let text = text.get(..text.len().min(128))?;
    let open = text.iter().position(|b| !b.is_ascii_whitespace())?;
    if text.get(open) != Some(&b'[') {
        return None;
    }
    let close = text.iter().position(|b| *b == b']')?;
    let inner = std::str::from_utf8(text.get(open + 1..close)?).ok()?;
    let mut out = [0usize; 4];
    let mut n = 0;
    for part in inner.split_ascii_whitespace() {
        *out.get_mut(n)? = part.parse().ok()?;
        n += 1;
    }
    (n == 4).then_some(out)
}

/// Decodes a PDF hex string `<…>` (whitespace allowed, odd final digit padded with 0).
fn decode_hex_string(gap: &[u8]) -> Option<Vec<u8>> {
    let inner = gap.strip_prefix(b"<")?.strip_suffix(b">")?;
    let mut out = Vec::with_capacity(inner.len() / 2);
    let mut high: Option<u8> = None;
    for b in inner {
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b if b.is_ascii_whitespace() => continue,
            _ => return None,
        };
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push(h << 4 | v),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal one-page PDF with `extra` objects appended to the catalog dictionary.
    pub(crate) fn minimal_pdf(catalog_extra: &str, more_objects: &[&str]) -> Vec<u8> {
        let mut objects = vec![
            format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>"),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>".to_string(),
        ];
        objects.extend(more_objects.iter().map(|s| s.to_string()));
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn a_plain_pdf_is_readable_and_inert() {
        let f = inspect_pdf(&minimal_pdf("", &[]));
        assert_eq!(f.unreadable, None);
        assert!(!f.encrypted);
        assert!(f.active_content.is_empty(), "{:?}", f.active_content);
        assert_eq!(f.signatures, 0);
    }

    #[test]
    fn signature_scan_reads_byte_ranges_and_hex() {
        assert_eq!(
            read_byte_range(b" [0 10 20 30]/Contents"),
            Some([0, 10, 20, 30])
        );
        assert_eq!(read_byte_range(b"[0 10 20]"), None);
        assert_eq!(read_byte_range(b"[0 -1 20 3]"), None);
        assert_eq!(
            decode_hex_string(b"<0a Ff\n1>"),
            Some(vec![0x0a, 0xff, 0x10])
        );
        assert_eq!(decode_hex_string(b"<zz>"), None);
        // A range pointing at garbage, or past the end, is skipped.
        let pdf = b"%PDF-1.7 /ByteRange [0 2 5 1] <00> /ByteRange [0 9999 99999 1]";
        assert_eq!(scan_signatures(pdf), (Vec::new(), Vec::new()));
    }

    #[test]
    fn garbage_is_unreadable() {
        assert!(inspect_pdf(b"hello").unreadable.is_some());
        assert!(inspect_pdf(b"%PDF-1.7\ngarbage").unreadable.is_some());
    }

    #[test]
    fn executable_content_is_named() {
        let js = inspect_pdf(&minimal_pdf(
            "/OpenAction 4 0 R",
            &["<< /Type /Action /S /JavaScript /JS (app.alert(1)) >>"],
        ));
        assert!(
            js.active_content.iter().any(|c| c.contains("/OpenAction")),
            "{:?}",
            js.active_content
        );
        assert!(
            js.active_content
                .iter()
                .any(|c| c.contains("JavaScript action (object 4 0)"))
        );

        let launch = inspect_pdf(&minimal_pdf(
            "",
            &["<< /Type /Action /S /Launch /F (calc.exe) >>"],
        ));
        assert!(launch.active_content.iter().any(|c| c.contains("/Launch")));

        let names = inspect_pdf(&minimal_pdf(
            "/Names << /JavaScript 4 0 R >>",
            &["<< /Names [] >>"],
        ));
        assert!(
            names
                .active_content
                .iter()
                .any(|c| c.contains("document-level JavaScript"))
        );

        let exe = inspect_pdf(&minimal_pdf(
            "",
            &[
                "<< /Type /Filespec /F (tool.EXE) /EF << /F 5 0 R >> >>",
                "<< /Type /EmbeddedFile /Length 4 >>\nstream\nMZ\u{90}\u{0}\nendstream",
            ],
        ));
        assert!(
            exe.active_content.iter().any(|c| c.contains("tool.EXE")),
            "{:?}",
            exe.active_content
        );
        assert!(
            exe.active_content.iter().any(|c| c.contains("MZ header")),
            "{:?}",
            exe.active_content
        );
    }
}
