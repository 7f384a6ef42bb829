//! `/v/{id}`, the target of a licence's QR code: the status first and large (有效 / 已暂停 /
//! 已吊销 / 已过期 / 已被新版本替代, each in its own colour, with the reason and the new
//! version's link), then the licence (name, type, identifier, issuer and its code, the holder
//! masked as [`super::mask`] describes, validity), the seal with its picture, the result of
//! verifying the stored sealed PDF now, the verification time and the 核验编号.

use std::fmt::Write as _;

use chop_seal::verify::{Indication, Report};
use time::OffsetDateTime;

use super::html::{Lang, esc, row};
use super::verify_page::{Verdict, verdict_banner};
use super::words::{etsi_code, show_date, show_instant, show_time};
use crate::registry::{Licence, LicenceStatus};

/// The result of verifying the stored PDF.
#[derive(Debug)]
pub enum StoredCheck {
    /// The verifier's report.
    Report(Box<Report>),
    /// The PDF could not be read or verified (the reason is logged, not shown).
    Failed,
}

/// Everything the licence page shows.
#[derive(Debug)]
pub struct LicencePage<'a> {
    /// The licence.
    pub licence: &'a Licence,
    /// The holder's name, masked.
    pub holder_name: String,
    /// The holder's code, masked.
    pub holder_code: String,
    /// The seal's name, if the seal is known.
    pub seal_name: Option<String>,
    /// The seal's picture is served at `/v/{id}/seal.png`.
    pub has_seal_picture: bool,
    /// The public id of the version that replaced this one.
    pub new_version: Option<String>,
    /// The stored PDF's verification.
    pub check: StoredCheck,
    /// When the page was made.
    pub now: OffsetDateTime,
    /// The 核验编号.
    pub reference: &'a str,
}

/// CSS class, Chinese and English words for a status.
pub fn status_words(s: LicenceStatus) -> (&'static str, &'static str, &'static str) {
    match s {
        LicenceStatus::Valid => ("st-valid", "有效", "Valid"),
        LicenceStatus::Suspended => ("st-suspended", "已暂停", "Suspended"),
        LicenceStatus::Revoked => ("st-revoked", "已吊销", "Revoked"),
        LicenceStatus::Expired => ("st-expired", "已过期", "Expired"),
        LicenceStatus::Superseded => ("st-superseded", "已被新版本替代", "Superseded"),
    }
}

fn status_icon(s: LicenceStatus) -> &'static str {
    match s {
        LicenceStatus::Valid => "✓",
        LicenceStatus::Suspended => "‖",
        LicenceStatus::Revoked => "✕",
        LicenceStatus::Expired => "◷",
        LicenceStatus::Superseded => "↻",
    }
}

/// The date part (`YYYY-MM-DD`) of an RFC 3339 time, shown as a date.
fn date_of(rfc3339: &str, lang: Lang) -> String {
    show_date(rfc3339.get(..10).unwrap_or(rfc3339), lang)
}

/// The status banner.
fn status_banner(out: &mut String, page: &LicencePage<'_>, lang: Lang) {
    let l = page.licence;
    let (class, zh, en) = status_words(l.status);
    let big = match lang {
        Lang::Zh => esc(zh),
        Lang::En => format!(
            "{} <span lang=\"zh-CN\" class=\"st-zh\">{}</span>",
            esc(en),
            esc(zh)
        ),
    };
    let _ = write!(
        out,
        "<section class=\"status {class}\" role=\"status\" data-testid=\"licence-status\" data-status=\"{slug}\">\
         <div class=\"status-head\"><span class=\"status-icon\" aria-hidden=\"true\">{icon}</span>\
         <div><p class=\"status-label\">{label}</p><p class=\"status-word\">{big}</p></div></div>",
        slug = l.status.as_str(),
        icon = status_icon(l.status),
        label = lang.pick("证照状态", "Licence status"),
    );
    let changed = date_of(&l.updated, lang);
    let sentence = match l.status {
        LicenceStatus::Valid => lang
            .pick(
                "该证照由发证机构签发，目前有效。",
                "This licence was issued by the authority below and is in force.",
            )
            .to_owned(),
        LicenceStatus::Suspended => match lang {
            Lang::Zh => format!("该证照已于{changed}被发证机构暂停，暂停期间不具有效力。"),
            Lang::En => format!(
                "The issuing authority suspended this licence on {changed}; it is not in force while suspended."
            ),
        },
        LicenceStatus::Revoked => match lang {
            Lang::Zh => format!("该证照已于{changed}被发证机构吊销，不再具有效力。"),
            Lang::En => {
                format!(
                    "The issuing authority revoked this licence on {changed}; it is no longer in force."
                )
            }
        },
        LicenceStatus::Expired => {
            let until = l
                .valid_until
                .as_deref()
                .map(|d| show_date(d, lang))
                .unwrap_or_default();
            match lang {
                Lang::Zh => format!("该证照的有效期已于{until}届满。"),
                Lang::En => format!("This licence's validity ended on {until}."),
            }
        }
        LicenceStatus::Superseded => lang
            .pick(
                "该证照已被新版本替代，请以新版本为准。",
                "This licence has been replaced by a new version; the new version applies.",
            )
            .to_owned(),
    };
    let _ = write!(out, "<p class=\"status-text\">{}</p>", esc(&sentence));
    if matches!(l.status, LicenceStatus::Suspended | LicenceStatus::Revoked)
        && let Some(reason) = l.status_reason.as_deref().filter(|r| !r.trim().is_empty())
    {
        let _ = write!(
            out,
            "<p class=\"status-reason\" data-testid=\"status-reason\"><span>{}</span>{}</p>",
            lang.pick("原因：", "Reason: "),
            esc(reason)
        );
    }
    if l.status == LicenceStatus::Superseded
        && let Some(new) = &page.new_version
    {
        let _ = write!(
            out,
            "<p><a class=\"button light\" data-testid=\"new-version\" href=\"/v/{}?lang={}\">{}</a></p>",
            esc(new),
            lang.code(),
            lang.pick("查看新版本 →", "See the new version →")
        );
    }
    out.push_str("</section>");
}

/// The page's `main`.
pub fn licence_main(page: &LicencePage<'_>, lang: Lang) -> String {
    let l = page.licence;
    let mut out = String::new();
    status_banner(&mut out, page, lang);

    // The stored PDF failing verification is worth a warning above everything else.
    let stored_ok =
        matches!(&page.check, StoredCheck::Report(r) if r.worst() == Indication::TotalPassed);
    if !stored_ok {
        let _ = write!(
            out,
            "<div class=\"alert\" role=\"alert\"><strong>{}</strong><p>{}</p></div>",
            lang.pick("存档文件核验未通过", "The archived document did not verify"),
            lang.pick(
                "本服务保存的该证照文件未能通过签章核验，请联系发证机构。",
                "The sealed document this service keeps for this licence failed verification. Contact the issuing authority."
            )
        );
    }

    let _ = write!(
        out,
        "<section class=\"card\"><div class=\"card-head\"><h2>{}</h2></div><dl class=\"facts\">",
        lang.pick("证照信息", "The licence")
    );
    row(
        &mut out,
        lang.pick("证照名称", "Licence"),
        &format!(
            "<strong data-testid=\"licence-name\">{}</strong>",
            esc(&l.type_name)
        ),
    );
    row(
        &mut out,
        lang.pick("证照类型代码", "Licence type code"),
        &format!("<span class=\"code\">{}</span>", esc(&l.type_code)),
    );
    row(
        &mut out,
        lang.pick("证照编号", "Licence number"),
        &format!("<span class=\"code\">{}</span>", esc(&l.serial)),
    );
    row(
        &mut out,
        lang.pick("电子证照标识", "E-licence identifier"),
        &format!("<span class=\"code hash\">{}</span>", esc(&l.identifier)),
    );
    if l.version > 1 {
        row(
            &mut out,
            lang.pick("版本", "Version"),
            &l.version.to_string(),
        );
    }
    row(
        &mut out,
        lang.pick("发证机构", "Issued by"),
        &esc(&l.issuer_name),
    );
    row(
        &mut out,
        lang.pick("发证机构代码", "Issuer code (USCC)"),
        &format!("<span class=\"code\">{}</span>", esc(&l.issuer_uscc)),
    );
    row(
        &mut out,
        lang.pick("持证主体", "Holder"),
        &format!(
            "<span data-testid=\"holder-name\">{}</span>",
            esc(&page.holder_name)
        ),
    );
    row(
        &mut out,
        lang.pick("持证主体代码", "Holder code"),
        &format!(
            "<span class=\"code\" data-testid=\"holder-code\">{}</span>",
            esc(&page.holder_code)
        ),
    );
    let validity = match (&l.valid_until, lang) {
        (Some(until), Lang::Zh) => format!(
            "{} 至 {}",
            show_date(&l.valid_from, lang),
            show_date(until, lang)
        ),
        (Some(until), Lang::En) => format!("{} to {}", l.valid_from, until),
        (None, Lang::Zh) => format!("{} 起长期有效", show_date(&l.valid_from, lang)),
        (None, Lang::En) => format!("From {}, without end", l.valid_from),
    };
    row(&mut out, lang.pick("有效期", "Valid"), &esc(&validity));
    row(
        &mut out,
        lang.pick("签发日期", "Issued on"),
        &esc(&date_of(&l.issued, lang)),
    );
    out.push_str("</dl><p class=\"fine\">");
    out.push_str(lang.pick(
        "为保护持证主体信息，名称和代码已部分隐去。请核对您所持证照上的对应内容。",
        "To protect the holder, parts of the name and code are hidden. Compare them with the licence you hold.",
    ));
    out.push_str("</p></section>");

    // The seal and the signature check.
    let _ = write!(
        out,
        "<section class=\"card\"><div class=\"card-head\"><h2>{}</h2></div><div class=\"sig-body\">",
        lang.pick("电子印章与签章核验", "Seal and signature check")
    );
    if page.has_seal_picture {
        let name = page.seal_name.as_deref().unwrap_or_default();
        let _ = write!(
            out,
            "<figure class=\"seal\"><img src=\"/v/{id}/seal.png\" alt=\"{alt}\" width=\"160\" height=\"160\">\
             <figcaption>{name}</figcaption></figure>",
            id = esc(&l.public_id),
            alt = esc(&format!(
                "{}{name}",
                lang.pick("印章图像：", "Seal picture: ")
            )),
            name = esc(name),
        );
    }
    out.push_str("<dl class=\"facts\">");
    if let Some(name) = &page.seal_name {
        row(&mut out, lang.pick("印章名称", "Seal"), &esc(name));
    }
    match &page.check {
        StoredCheck::Report(report) => {
            let verdict = Verdict::of(report);
            let (class, words) = match verdict {
                Verdict::Valid => (
                    "ok",
                    lang.pick("签章有效，文件未被篡改", "Seal valid, document unchanged"),
                ),
                Verdict::Altered => ("bad", lang.pick("文件已被篡改", "Document altered")),
                Verdict::Invalid => ("bad", lang.pick("签章无效", "Seal not valid")),
                Verdict::NotConfirmed => ("warn", lang.pick("无法确认", "Cannot be confirmed")),
            };
            row(
                &mut out,
                lang.pick("签章核验", "Signature check"),
                &format!(
                    "<span class=\"badge b-{class}\" data-testid=\"signature-check\" data-verdict=\"{}\">{}</span>",
                    verdict.slug(),
                    esc(words)
                ),
            );
            for sig in &report.signatures {
                if let Some(t) = &sig.signing_time {
                    row(
                        &mut out,
                        lang.pick("签章时间", "Sealed on"),
                        &esc(&show_time(&t.time, lang)),
                    );
                }
                row(
                    &mut out,
                    lang.pick("核验结论（ETSI）", "Indication (ETSI)"),
                    &format!("<span class=\"code\">{}</span>", esc(&etsi_code(sig))),
                );
            }
        }
        StoredCheck::Failed => {
            row(
                &mut out,
                lang.pick("签章核验", "Signature check"),
                &format!(
                    "<span class=\"badge b-bad\" data-testid=\"signature-check\" data-verdict=\"error\">{}</span>",
                    esc(lang.pick(
                        "无法核验存档文件",
                        "The archived document could not be verified"
                    ))
                ),
            );
        }
    }
    out.push_str("</dl></div>");
    if let StoredCheck::Report(report) = &page.check
        && Verdict::of(report) != Verdict::Valid
    {
        out.push_str(&verdict_banner(report, lang));
    }
    out.push_str("</section>");

    // When and which verification.
    let _ = write!(out, "<section class=\"card\"><dl class=\"facts\">");
    row(
        &mut out,
        lang.pick("核验时间", "Verified at"),
        &esc(&show_instant(page.now, lang)),
    );
    row(
        &mut out,
        lang.pick("核验编号", "Verification reference (核验编号)"),
        &format!(
            "<span class=\"code ref\" data-testid=\"reference\">{}</span>",
            esc(page.reference)
        ),
    );
    let _ = write!(
        out,
        "</dl><p class=\"fine\">{}</p></section>",
        lang.pick(
            "如需向发证机构咨询本次核验结果，请提供核验编号。本页面每次打开均重新核验。",
            "Quote the verification reference when asking the issuing authority about this result. The page verifies again every time it is opened."
        )
    );
    out
}

/// The `main` of the page for an unknown licence.
pub fn not_found_main(lang: Lang) -> String {
    format!(
        "<section class=\"status st-unknown\" role=\"status\" data-testid=\"licence-status\" data-status=\"not-found\">\
         <div class=\"status-head\"><span class=\"status-icon\" aria-hidden=\"true\">?</span>\
         <div><p class=\"status-label\">{label}</p><p class=\"status-word\">{word}</p></div></div>\
         <p class=\"status-text\">{text}</p></section>",
        label = lang.pick("证照状态", "Licence status"),
        word = lang.pick("未找到该证照", "No such licence"),
        text = lang.pick(
            "本服务中没有与该链接对应的电子证照。请核对二维码或链接是否完整；如仍有疑问，请联系发证机构。注意：伪造的证照也可能带有看似正常的二维码。",
            "This service holds no e-licence for this link. Check that the QR code or link is complete; if in doubt, contact the issuing authority. Beware: a forged licence may carry a QR code that looks normal."
        ),
    )
}

/// The `main` of a page that cannot be shown now (the database is unavailable).
pub fn unavailable_main(lang: Lang) -> String {
    format!(
        "<div class=\"alert\" role=\"alert\"><strong>{}</strong><p>{}</p></div>",
        lang.pick("暂时无法核验", "Verification is unavailable right now"),
        lang.pick(
            "服务暂时无法查询证照信息，请稍后重试。",
            "The service cannot look up licences at the moment. Please try again later."
        )
    )
}
