//! Plain-language words shared by the pages: times in Beijing time, the ETSI EN 319 102-1
//! indications, ByteRange coverage and the classes of later changes, in Chinese and English;
//! and the 核验编号 (verification reference) printed on every result.

use chop_seal::verify::{ChangeLevel, Coverage, Indication, SignatureReport, SubIndication};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::html::Lang;

/// China Standard Time (UTC+8), in which every time on the pages is shown.
pub fn beijing_offset() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// An instant as `2025-03-14 10:22:05（北京时间）`.
pub fn show_instant(t: OffsetDateTime, lang: Lang) -> String {
    let local = t.to_offset(beijing_offset());
    let text = local
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_else(|_| local.to_string());
    format!(
        "{text}{}",
        lang.pick("（北京时间）", " (Beijing time, UTC+8)")
    )
}

/// An RFC 3339 time as [`show_instant`] shows it; text that does not parse is shown as is.
pub fn show_time(rfc3339: &str, lang: Lang) -> String {
    match OffsetDateTime::parse(rfc3339, &Rfc3339) {
        Ok(t) => show_instant(t, lang),
        Err(_) => rfc3339.to_owned(),
    }
}

/// A `YYYY-MM-DD` date as `2025年5月22日` in Chinese, unchanged in English.
pub fn show_date(iso: &str, lang: Lang) -> String {
    match (lang, chop_seal::licence::data::parse_iso_date(iso)) {
        (Lang::Zh, Some(d)) => chop_seal::licence::data::chinese_date(d),
        _ => iso.to_owned(),
    }
}

/// A file size in words.
pub fn show_size(bytes: usize, lang: Lang) -> String {
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} {}", lang.pick("字节", "bytes"))
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    }
}

/// `TOTAL-PASSED`, or `TOTAL-FAILED / HASH_FAILURE`.
pub fn etsi_code(sig: &SignatureReport) -> String {
    match sig.sub_indication {
        Some(sub) => format!("{} / {}", sig.indication.as_str(), sub_code(sub)),
        None => sig.indication.as_str().to_owned(),
    }
}

/// The ETSI spelling of a sub-indication, e.g. `HASH_FAILURE`.
pub fn sub_code(sub: SubIndication) -> &'static str {
    use SubIndication::*;
    match sub {
        FormatFailure => "FORMAT_FAILURE",
        HashFailure => "HASH_FAILURE",
        SigCryptoFailure => "SIG_CRYPTO_FAILURE",
        NotYetValid => "NOT_YET_VALID",
        SigConstraintsFailure => "SIG_CONSTRAINTS_FAILURE",
        NoSigningCertificateFound => "NO_SIGNING_CERTIFICATE_FOUND",
        NoCertificateChainFound => "NO_CERTIFICATE_CHAIN_FOUND",
        ChainConstraintsFailure => "CHAIN_CONSTRAINTS_FAILURE",
        OutOfBoundsNoPoe => "OUT_OF_BOUNDS_NO_POE",
        CryptoConstraintsFailureNoPoe => "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
    }
}

/// The short word for an indication (badge text).
pub fn indication_word(ind: Indication, lang: Lang) -> &'static str {
    match ind {
        Indication::TotalPassed => lang.pick("有效", "Valid"),
        Indication::TotalFailed => lang.pick("无效", "Invalid"),
        Indication::Indeterminate => lang.pick("无法确认", "Not confirmed"),
    }
}

/// What the signed bytes cover.
pub fn coverage_words(c: Coverage, lang: Lang) -> &'static str {
    match c {
        Coverage::EntireFile => lang.pick("整个文件", "The whole file"),
        Coverage::EntireRevision => lang.pick(
            "签章时的整个文件（之后又追加了内容，见下一项）",
            "The whole file as it was when sealed (content was appended later; see below)",
        ),
        Coverage::Anomaly => lang.pick(
            "异常：签章未完整覆盖文件",
            "Anomalous: the signature does not cover the file properly",
        ),
    }
}

/// What changed after the signature.
pub fn changes_words(sig: &SignatureReport, lang: Lang) -> &'static str {
    if sig.sub_indication == Some(SubIndication::HashFailure) {
        return lang.pick(
            "签章保护的内容被改动（摘要值不符）",
            "The sealed content itself was altered (digest mismatch)",
        );
    }
    if !sig.docmdp.changes_permitted {
        return match sig.changes.level {
            ChangeLevel::Annotations => lang.pick(
                "添加了不允许的批注",
                "Annotations were added that are not allowed",
            ),
            ChangeLevel::FormFilling => lang.pick(
                "修改了不允许修改的表单",
                "Form fields were changed that may not be changed",
            ),
            _ => lang.pick(
                "页面内容或文件结构被修改",
                "The page content or document structure was changed",
            ),
        };
    }
    match sig.changes.level {
        ChangeLevel::None => lang.pick("无修改", "None"),
        ChangeLevel::LtaUpdates => lang.pick(
            "仅追加了验证数据（允许）",
            "Only validation data was added (allowed)",
        ),
        ChangeLevel::FormFilling => lang.pick(
            "仅追加了签章或填写了表单（允许）",
            "Only signatures were added or form fields filled in (allowed)",
        ),
        ChangeLevel::Annotations | ChangeLevel::Other => lang.pick(
            "仅添加了批注（允许）",
            "Only annotations were added (allowed)",
        ),
    }
}

/// A 核验编号: the date in Beijing time and 8 random characters of Crockford's base32
/// (40 bits), e.g. `20250314-7K3M9QXA`. It names one verification in the server's log, so that
/// a person can quote it when asking the issuer about a result.
pub fn verification_reference() -> String {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let now = OffsetDateTime::now_utc().to_offset(beijing_offset());
    let date = now
        .format(format_description!("[year][month][day]"))
        .unwrap_or_default();
    let mut bytes = [0u8; 5];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // Not a secret: the clock is unique enough when the RNG fails.
        let nanos = now.unix_timestamp_nanos().to_be_bytes();
        bytes.copy_from_slice(&nanos[nanos.len() - 5..]);
    }
    let mut acc = bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    let mut tail = [0u8; 8];
    for slot in tail.iter_mut().rev() {
        *slot = ALPHABET[(acc & 31) as usize];
        acc >>= 5;
    }
    format!("{date}-{}", String::from_utf8_lossy(&tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_dated_and_distinct() {
        let a = verification_reference();
        let b = verification_reference();
        assert_eq!(a.len(), 17, "{a}");
        assert_eq!(&a[8..9], "-");
        assert!(a[..8].bytes().all(|c| c.is_ascii_digit()), "{a}");
        assert!(
            a[9..]
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn times_are_shown_in_beijing_time() {
        assert_eq!(
            show_time("2025-03-14T02:22:05Z", Lang::Zh),
            "2025-03-14 10:22:05（北京时间）"
        );
        assert_eq!(
            show_time("2025-03-14T02:22:05Z", Lang::En),
            "2025-03-14 10:22:05 (Beijing time, UTC+8)"
        );
        assert_eq!(show_time("yesterday", Lang::Zh), "yesterday");
        assert_eq!(show_date("2025-05-22", Lang::Zh), "2025年5月22日");
        assert_eq!(show_date("2025-05-22", Lang::En), "2025-05-22");
    }
}
