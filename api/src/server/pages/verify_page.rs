//! `/verify`: the upload form, and the verification result in plain language — the verdict
//! first (valid / altered / invalid / not confirmed), then one card per signature (who sealed,
//! their organisation code, the seal's name and picture, when, what the signature covers, what
//! changed later, the certificate path and the ETSI EN 319 102-1 indication), then the facts
//! about the file. The report is the one `POST /v1/verify` returns.

use std::fmt::Write as _;

use base64::Engine as _;
use chop_seal::cms::ID_CHOP_SESEAL;
use chop_seal::cms::parse::{octet_string, parse_signed_data};
use chop_seal::seal_object::SESeal;
use chop_seal::verify::{Indication, Report, SignatureReport, SubIndication};

use super::html::{Lang, esc, row};
use super::words::{
    changes_words, coverage_words, etsi_code, indication_word, show_size, show_time,
};

/// Largest seal picture embedded in a result page.
const MAX_PICTURE_BYTES: usize = 512 * 1024;

/// The overall verdict of a report, in the terms a person acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every signature is TOTAL-PASSED.
    Valid,
    /// A signature failed because the signed content was changed (HASH_FAILURE, or changes
    /// after sealing that its DocMDP permission does not allow).
    Altered,
    /// A signature failed for another reason (forged value, malformed, constraints).
    Invalid,
    /// No signature failed, but at least one could not be confirmed.
    NotConfirmed,
}

impl Verdict {
    /// The verdict of `report`.
    pub fn of(report: &Report) -> Verdict {
        match report.worst() {
            Indication::TotalPassed => Verdict::Valid,
            Indication::Indeterminate => Verdict::NotConfirmed,
            Indication::TotalFailed => {
                if report.signatures.iter().any(altered) {
                    Verdict::Altered
                } else {
                    Verdict::Invalid
                }
            }
        }
    }

    /// CSS class and `data-verdict` value.
    pub fn slug(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Altered => "altered",
            Verdict::Invalid => "invalid",
            Verdict::NotConfirmed => "not-confirmed",
        }
    }
}

/// The signed content of `sig` was changed after sealing.
fn altered(sig: &SignatureReport) -> bool {
    sig.indication == Indication::TotalFailed
        && match sig.sub_indication {
            Some(SubIndication::HashFailure) => true,
            Some(SubIndication::SigConstraintsFailure) => !sig.docmdp.changes_permitted,
            _ => false,
        }
}

/// The seal picture carried by signature `sig` of `pdf`: the `/Contents` between the
/// ByteRange's two parts, its CMS, the GB/T 38540 seal object in its signed attributes, the
/// PNG in that. Only a seal object whose maker signature verified is trusted for a picture.
pub fn seal_picture(pdf: &[u8], sig: &SignatureReport) -> Option<Vec<u8>> {
    if !sig.seal.as_ref().is_some_and(|s| s.maker_signature_valid) {
        return None;
    }
    let [_, a, b, _] = <[i64; 4]>::try_from(sig.byte_range.as_slice()).ok()?;
    let gap = pdf.get(usize::try_from(a).ok()?..usize::try_from(b).ok()?)?;
    let hex_digits: Vec<u8> = gap
        .iter()
        .copied()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    let mut digits = hex_digits.as_slice();
    if digits.len() % 2 == 1 {
        digits = &digits[..digits.len() - 1];
    }
    let contents = hex::decode(digits).ok()?;
    let sd = parse_signed_data(&contents).ok()?;
    let attrs = sd.signed_attr(&ID_CHOP_SESEAL);
    let [attr] = attrs.as_slice() else {
        return None;
    };
    let [value] = attr.values.as_slice() else {
        return None;
    };
    let seal = SESeal::from_der(octet_string(value)?).ok()?;
    let png = &seal.info().picture_png;
    (png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() <= MAX_PICTURE_BYTES).then(|| png.clone())
}

/// Who sealed or signed, for sentences: the seal's organisation, else the certificate's.
fn organisation(sig: &SignatureReport) -> Option<String> {
    if let Some(seal) = &sig.seal
        && !seal.organization.is_empty()
    {
        return Some(seal.organization.clone());
    }
    let signer = sig.signer.as_ref()?;
    signer
        .organization
        .clone()
        .or_else(|| signer.common_name.clone())
        .or_else(|| Some(signer.certificate.subject.clone()))
}

/// The organisation code: the seal's USCC, else the certificate's organizationIdentifier
/// without its `NTRCN-` prefix.
fn organisation_code(sig: &SignatureReport) -> Option<String> {
    if let Some(seal) = &sig.seal
        && !seal.organization_id.is_empty()
    {
        return Some(seal.organization_id.clone());
    }
    let id = sig.signer.as_ref()?.organization_identifier.as_deref()?;
    Some(id.strip_prefix("NTRCN-").unwrap_or(id).to_owned())
}

fn seal_name(sig: &SignatureReport) -> Option<&str> {
    sig.seal
        .as_ref()
        .map(|s| s.name.as_str())
        .filter(|n| !n.is_empty())
}

/// One sentence: “由 X 加盖「Y」，签章时间 T” / “Sealed by X with “Y” on T”.
fn who_when(sig: &SignatureReport, lang: Lang) -> String {
    let org = organisation(sig).unwrap_or_else(|| {
        lang.pick("身份不明的签章人", "an unidentified signer")
            .to_owned()
    });
    let when = sig.signing_time.as_ref().map(|t| show_time(&t.time, lang));
    match (lang, seal_name(sig), when) {
        (Lang::Zh, Some(seal), Some(when)) => format!("由{org}加盖“{seal}”，签章时间 {when}"),
        (Lang::Zh, Some(seal), None) => format!("由{org}加盖“{seal}”"),
        (Lang::Zh, None, Some(when)) => format!("由{org}签署，签署时间 {when}"),
        (Lang::Zh, None, None) => format!("由{org}签署"),
        (Lang::En, Some(seal), Some(when)) => {
            format!("Sealed by {org} with the seal “{seal}” on {when}")
        }
        (Lang::En, Some(seal), None) => format!("Sealed by {org} with the seal “{seal}”"),
        (Lang::En, None, Some(when)) => format!("Signed by {org} on {when}"),
        (Lang::En, None, None) => format!("Signed by {org}"),
    }
}

/// After a passed signature: what the later revisions did.
fn unchanged_tail(sig: &SignatureReport, lang: Lang) -> &'static str {
    use chop_seal::verify::ChangeLevel::*;
    match sig.changes.level {
        None => lang.pick(
            "，签章后内容未被修改。",
            "; the document has not been changed since.",
        ),
        LtaUpdates => lang.pick(
            "，签章后仅追加了验证数据。",
            "; since then only validation data was added.",
        ),
        FormFilling => lang.pick(
            "，签章后仅追加了签章或填写了表单，属于允许的修改。",
            "; since then only signatures were added or form fields filled in, as allowed.",
        ),
        Annotations | Other => lang.pick(
            "，签章后仅添加了批注，属于允许的修改。",
            "; since then only annotations were added, as allowed.",
        ),
    }
}

/// The sentence explaining why a signature failed or is not confirmed.
fn problem_sentence(sig: &SignatureReport, lang: Lang) -> &'static str {
    use SubIndication::*;
    let intact = sig.integrity.message_digest_matches && sig.integrity.signature_verifies;
    match sig.sub_indication {
        Some(HashFailure) => lang.pick(
            "签章后文件内容被修改，签章所保护的内容已不是原件。",
            "The content was changed after sealing: it is no longer what was sealed.",
        ),
        Some(SigConstraintsFailure) if !sig.docmdp.changes_permitted => lang.pick(
            "签章后文件被修改，且该修改不属于允许的范围。",
            "The document was changed after sealing in a way that is not allowed.",
        ),
        Some(SigConstraintsFailure) => lang.pick(
            "签章不符合印章的使用约束（例如签章人未获授权使用该印章）。",
            "The signature breaks a constraint of the seal (for example, the signer is not allowed to use it).",
        ),
        Some(SigCryptoFailure) => lang.pick(
            "签名值无法通过验证，签章可能是伪造的。",
            "The signature value does not verify: the seal may be forged.",
        ),
        Some(FormatFailure) => lang.pick(
            "签章的数据结构异常，无法确认文件未被修改。",
            "The signature is malformed, so the document cannot be shown to be unchanged.",
        ),
        Some(NotYetValid) => lang.pick(
            "签章证书在签章时尚未生效。",
            "The signing certificate was not yet valid when the document was sealed.",
        ),
        Some(NoCertificateChainFound) if intact => lang.pick(
            "文件内容自签章后未被修改，但签章证书不是由本服务信任的机构签发，无法确认签章单位的身份。",
            "The document is unchanged since sealing, but the signing certificate was not issued by an authority this service trusts, so the sealing organisation's identity is not confirmed.",
        ),
        Some(NoCertificateChainFound) => lang.pick(
            "签章证书不是由本服务信任的机构签发，无法确认签章单位的身份。",
            "The signing certificate was not issued by an authority this service trusts, so the sealing organisation's identity is not confirmed.",
        ),
        Some(OutOfBoundsNoPoe) => lang.pick(
            "签章证书在核验时已过期，且没有可信时间戳证明签章发生在过期之前。",
            "A certificate had expired at the time of verification and no trusted timestamp proves the seal was applied before.",
        ),
        Some(ChainConstraintsFailure) => lang.pick(
            "签章证书链不符合要求，无法确认签章单位的身份。",
            "The certificate path breaks a rule, so the sealing organisation's identity is not confirmed.",
        ),
        Some(NoSigningCertificateFound) => lang.pick(
            "文件中找不到签章证书，无法确认签章单位的身份。",
            "The signing certificate is missing, so the sealing organisation's identity is not confirmed.",
        ),
        Some(CryptoConstraintsFailureNoPoe) => lang.pick(
            "签章使用了本服务不支持的算法，无法完成核验。",
            "The signature uses an algorithm this service does not support.",
        ),
        None => "",
    }
}

/// The verdict banner: a headline and one line per signature.
pub fn verdict_banner(report: &Report, lang: Lang) -> String {
    let verdict = Verdict::of(report);
    let (icon, title, advice) = match verdict {
        Verdict::Valid => (
            "✓",
            lang.pick("文件有效", "The document is valid"),
            lang.pick(
                "签章真实有效，文件自签章后未被篡改。",
                "The seal is genuine and the document has not been tampered with since it was sealed.",
            ),
        ),
        Verdict::Altered => (
            "✕",
            lang.pick("文件已被篡改", "The document has been altered"),
            lang.pick(
                "文件内容在签章后被修改，请勿采信，请向发证机构索取原件。",
                "The content was changed after it was sealed. Do not rely on it; ask the issuer for the original.",
            ),
        ),
        Verdict::Invalid => (
            "✕",
            lang.pick("签章无效", "The seal is not valid"),
            lang.pick(
                "签章未通过核验，请勿采信该文件。",
                "The seal failed verification. Do not rely on this document.",
            ),
        ),
        Verdict::NotConfirmed => (
            "!",
            lang.pick("无法确认", "Cannot be confirmed"),
            lang.pick(
                "本服务无法确认该文件的签章，请向发证机构核实。",
                "This service cannot confirm the seal. Check with the issuer.",
            ),
        ),
    };
    let mut lines = String::new();
    for sig in &report.signatures {
        let line = if sig.indication == Indication::TotalPassed {
            format!("{}{}", who_when(sig, lang), unchanged_tail(sig, lang))
        } else {
            let sep = lang.pick("。", ". ");
            format!(
                "{}{sep}{}",
                who_when(sig, lang),
                problem_sentence(sig, lang)
            )
        };
        let _ = write!(lines, "<li>{}</li>", esc(&line));
    }
    format!(
        "<section class=\"verdict v-{slug}\" role=\"status\" data-testid=\"verdict\" data-verdict=\"{slug}\">\
         <div class=\"verdict-head\"><span class=\"verdict-icon\" aria-hidden=\"true\">{icon}</span>\
         <h1>{title}</h1></div>\
         <p class=\"advice\">{advice}</p><ul class=\"verdict-lines\">{lines}</ul></section>",
        slug = verdict.slug(),
        title = esc(title),
        advice = esc(advice),
    )
}

/// One signature's card.
fn signature_card(
    out: &mut String,
    index: usize,
    sig: &SignatureReport,
    picture: Option<&[u8]>,
    lang: Lang,
) {
    let class = match sig.indication {
        Indication::TotalPassed => "ok",
        Indication::TotalFailed => "bad",
        Indication::Indeterminate => "warn",
    };
    let _ = write!(
        out,
        "<section class=\"card sig sig-{class}\" data-testid=\"signature\">\
         <div class=\"card-head\"><h2>{label} {n}</h2>\
         <span class=\"badge b-{class}\">{word}</span></div><div class=\"sig-body\">",
        label = lang.pick("签章", "Signature"),
        n = index + 1,
        word = esc(indication_word(sig.indication, lang)),
    );
    if let Some(png) = picture {
        let name = seal_name(sig).unwrap_or_default();
        let _ = write!(
            out,
            "<figure class=\"seal\"><img src=\"data:image/png;base64,{b64}\" alt=\"{alt}\">\
             <figcaption>{name}</figcaption></figure>",
            b64 = base64::engine::general_purpose::STANDARD.encode(png),
            alt = esc(&format!(
                "{}{name}",
                lang.pick("印章图像：", "Seal picture: ")
            )),
            name = esc(name),
        );
    }
    out.push_str("<dl class=\"facts\">");
    let none = lang.pick("（无）", "(none)");
    row(
        out,
        lang.pick("签章单位", "Sealed by"),
        &esc(&organisation(sig).unwrap_or_else(|| none.to_owned())),
    );
    row(
        out,
        lang.pick("统一社会信用代码", "Organisation code (USCC)"),
        &format!(
            "<span class=\"code\">{}</span>",
            esc(&organisation_code(sig).unwrap_or_else(|| none.to_owned()))
        ),
    );
    if let Some(seal) = &sig.seal {
        let mut v = esc(&seal.name);
        if !seal.es_id.is_empty() {
            let _ = write!(
                v,
                " <span class=\"muted\">({} <span class=\"code\">{}</span>)</span>",
                lang.pick("印章编码", "seal code"),
                esc(&seal.es_id)
            );
        }
        row(out, lang.pick("印章名称", "Seal"), &v);
    }
    if let Some(cn) = sig.signer.as_ref().and_then(|s| s.common_name.as_deref()) {
        row(out, lang.pick("签章证书", "Signing certificate"), &esc(cn));
    }
    let when = sig
        .signing_time
        .as_ref()
        .map(|t| show_time(&t.time, lang))
        .unwrap_or_else(|| none.to_owned());
    row(out, lang.pick("签章时间", "Sealed on"), &esc(&when));
    row(
        out,
        lang.pick("覆盖范围", "Covers"),
        &esc(coverage_words(sig.coverage, lang)),
    );
    row(
        out,
        lang.pick("签章后的修改", "Changes since"),
        &esc(changes_words(sig, lang)),
    );
    let chain = if sig.chain.trusted {
        let anchor = sig.chain.trust_anchor.clone().unwrap_or_default();
        format!(
            "{}{}",
            lang.pick("可信，根证书：", "Trusted; root: "),
            anchor
        )
    } else {
        lang.pick(
            "无法追溯到本服务信任的根证书",
            "Does not lead to a root this service trusts",
        )
        .to_owned()
    };
    row(out, lang.pick("证书", "Certificate"), &esc(&chain));
    row(
        out,
        lang.pick(
            "核验结论（ETSI EN 319 102-1）",
            "Indication (ETSI EN 319 102-1)",
        ),
        &format!(
            "<span class=\"code\" data-testid=\"indication\">{}</span>",
            esc(&etsi_code(sig))
        ),
    );
    out.push_str("</dl></div>");
    technical_details(out, sig, lang);
    out.push_str("</section>");
}

/// The technical findings, folded away.
fn technical_details(out: &mut String, sig: &SignatureReport, lang: Lang) {
    let _ = write!(
        out,
        "<details class=\"tech\"><summary>{}</summary><dl class=\"facts small\">",
        lang.pick("技术细节", "Technical details")
    );
    let mut problems = String::new();
    for p in sig.problems.iter().chain(&sig.warnings) {
        let _ = write!(problems, "<li>{}</li>", esc(p));
    }
    if !problems.is_empty() {
        row(
            out,
            lang.pick("发现的问题", "Findings"),
            &format!("<ul class=\"plain\">{problems}</ul>"),
        );
    }
    row(out, lang.pick("签名域", "Field"), &esc(&sig.field_name));
    row(
        out,
        lang.pick("签名格式", "Format"),
        &format!("<span class=\"code\">{}</span>", esc(&sig.sub_filter)),
    );
    let alg = format!(
        "{} · {}",
        sig.integrity.signature_algorithm, sig.integrity.digest_algorithm
    );
    row(out, lang.pick("算法", "Algorithms"), &esc(&alg));
    if let Some(s) = &sig.signer {
        row(
            out,
            lang.pick("证书主体", "Certificate subject"),
            &esc(&s.certificate.subject),
        );
        row(
            out,
            lang.pick("证书签发者", "Certificate issuer"),
            &esc(&s.certificate.issuer),
        );
        row(
            out,
            lang.pick("证书序列号", "Serial number"),
            &format!("<span class=\"code\">{}</span>", esc(&s.certificate.serial)),
        );
    }
    let br = sig
        .byte_range
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    row(
        out,
        "ByteRange",
        &format!("<span class=\"code\">[{}]</span>", esc(&br)),
    );
    out.push_str("</dl></details>");
}

/// The result page's `main`: verdict, signatures, the file.
pub fn result_main(
    report: &Report,
    pictures: &[Option<Vec<u8>>],
    file_name: Option<&str>,
    reference: &str,
    lang: Lang,
) -> String {
    let mut out = verdict_banner(report, lang);
    let _ = write!(
        out,
        "<h2 class=\"section\">{}</h2>",
        lang.pick("签章详情", "Signatures")
    );
    for (i, sig) in report.signatures.iter().enumerate() {
        let picture = pictures.get(i).and_then(|p| p.as_deref());
        signature_card(&mut out, i, sig, picture, lang);
    }
    let _ = write!(
        out,
        "<section class=\"card\"><div class=\"card-head\"><h2>{}</h2></div><dl class=\"facts\">",
        lang.pick("文件信息", "The file")
    );
    if let Some(name) = file_name.filter(|n| !n.is_empty()) {
        row(&mut out, lang.pick("文件名", "File name"), &esc(name));
    }
    row(
        &mut out,
        lang.pick("大小", "Size"),
        &esc(&show_size(report.document.size, lang)),
    );
    row(
        &mut out,
        "SHA-256",
        &format!(
            "<span class=\"code hash\">{}</span>",
            esc(&report.document.sha256)
        ),
    );
    row(
        &mut out,
        lang.pick("版本数", "Revisions"),
        &report.document.revision_count.to_string(),
    );
    if !report.document.problems.is_empty() {
        let mut items = String::new();
        for p in &report.document.problems {
            let _ = write!(items, "<li>{}</li>", esc(p));
        }
        row(
            &mut out,
            lang.pick("文件问题", "Document problems"),
            &format!("<ul class=\"plain\">{items}</ul>"),
        );
    }
    row(
        &mut out,
        lang.pick("核验时间", "Verified at"),
        &esc(&show_time(&report.validation_time, lang)),
    );
    row(
        &mut out,
        lang.pick("核验编号", "Verification reference (核验编号)"),
        &format!(
            "<span class=\"code ref\" data-testid=\"reference\">{}</span>",
            esc(reference)
        ),
    );
    let _ = write!(
        out,
        "</dl></section><p class=\"again\"><a class=\"button secondary\" href=\"/verify?lang={}\">{}</a></p>",
        lang.code(),
        lang.pick("核验其他文件", "Verify another document")
    );
    out
}

/// A problem with the upload, shown above the form.
#[derive(Debug, Clone)]
pub struct UploadProblem {
    /// Headline.
    pub title: String,
    /// What to do.
    pub detail: String,
}

/// The upload form's `main`, with a problem above it if the last upload failed.
pub fn form_main(lang: Lang, max_bytes: usize, problem: Option<&UploadProblem>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"intro\"><h1>{h1}</h1><p>{p}</p></section>",
        h1 = lang.pick("核验电子证照和加盖电子印章的文件", "Check an e-licence or a sealed document"),
        p = lang.pick(
            "选择您收到的 PDF 文件，本服务将检查其电子印章是否真实、文件在签章后是否被修改。文件仅用于本次核验，不会被保存。",
            "Choose the PDF you received. This service checks that its electronic seal is genuine and that the document has not been changed since it was sealed. The file is used only for this check and is not kept."
        ),
    );
    if let Some(p) = problem {
        let _ = write!(
            out,
            "<div class=\"alert\" role=\"alert\" data-testid=\"upload-error\"><strong>{}</strong><p>{}</p></div>",
            esc(&p.title),
            esc(&p.detail)
        );
    }
    let mb = max_bytes / (1024 * 1024);
    let limit = if mb >= 1 {
        format!("{mb} MB")
    } else {
        format!("{} KB", max_bytes.div_ceil(1024))
    };
    let _ = write!(
        out,
        "<form class=\"card upload\" method=\"post\" action=\"/verify?lang={code}\" enctype=\"multipart/form-data\" \
         data-busy=\"{busy}\" data-max-bytes=\"{max_bytes}\" data-too-large=\"{too_large}\">\
         <label class=\"drop\" for=\"file\">\
         <span class=\"drop-icon\" aria-hidden=\"true\">PDF</span>\
         <span class=\"drop-main\">{choose}</span>\
         <span class=\"drop-hint\">{hint}</span>\
         <span class=\"drop-name\" data-testid=\"file-name\" aria-live=\"polite\"></span></label>\
         <input id=\"file\" name=\"file\" type=\"file\" accept=\"application/pdf,.pdf\" required>\
         <button type=\"submit\" class=\"button\">{submit}</button>\
         <p class=\"fine\">{fine}</p></form>",
        code = lang.code(),
        busy = esc(lang.pick("正在核验…", "Verifying…")),
        too_large = esc(&format!(
            "{}{limit}",
            lang.pick("文件超过大小上限：", "The file is larger than the limit: ")
        )),
        choose = lang.pick("点击选择 PDF 文件", "Choose a PDF file"),
        hint = esc(&format!(
            "{}{limit}",
            lang.pick("也可将文件拖到此处 · 最大 ", "or drop it here · up to ")
        )),
        submit = lang.pick("开始核验", "Verify"),
        fine = lang.pick(
            "核验依据 PAdES（ETSI EN 319 142-1）与 GB/T 38540 电子印章规范，结论采用 ETSI EN 319 102-1 的表述。",
            "Verification follows PAdES (ETSI EN 319 142-1) and GB/T 38540 electronic seals; results use the indications of ETSI EN 319 102-1."
        ),
    );
    let _ = write!(
        out,
        "<section class=\"help\"><h2>{h}</h2><dl class=\"legend\">\
         <dt><span class=\"dot d-ok\"></span>{ok}</dt><dd>{ok_d}</dd>\
         <dt><span class=\"dot d-bad\"></span>{bad}</dt><dd>{bad_d}</dd>\
         <dt><span class=\"dot d-warn\"></span>{warn}</dt><dd>{warn_d}</dd></dl>\
         <p>{qr}</p></section>",
        h = lang.pick("核验结果说明", "What the results mean"),
        ok = lang.pick("文件有效", "Valid"),
        ok_d = lang.pick(
            "签章真实，文件自签章后未被修改。",
            "The seal is genuine and the document is unchanged since sealing."
        ),
        bad = lang.pick("已被篡改 / 签章无效", "Altered / not valid"),
        bad_d = lang.pick(
            "文件在签章后被修改，或签章是伪造的。请勿采信。",
            "The document was changed after sealing, or the seal is forged. Do not rely on it."
        ),
        warn = lang.pick("无法确认", "Cannot be confirmed"),
        warn_d = lang.pick(
            "文件可能未被修改，但无法确认签章单位的身份（例如证书不受信任）。请向发证机构核实。",
            "The document may be unchanged, but the sealing organisation cannot be confirmed (for example, an untrusted certificate). Check with the issuer."
        ),
        qr = lang.pick(
            "电子证照上的二维码可直接打开该证照的状态页，查看其当前是否有效。",
            "The QR code on an e-licence opens its status page, which shows whether it is still in force."
        ),
    );
    out
}
