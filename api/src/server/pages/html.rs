//! The page frame shared by the public pages: the language (zh-CN by default, English on
//! request, remembered in a cookie), HTML escaping, the header with the language switch, the
//! footer, and the response headers every page carries (no caching, a Content-Security-Policy
//! that allows nothing from other origins and no inline script).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The cookie remembering the language chosen with `?lang=`.
pub const LANG_COOKIE: &str = "chop_lang";

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The `lang` attribute and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The `?lang=` value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The other language.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The text in this language.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// Parses a `?lang=` or cookie value (`zh`, `zh-CN`, `en`, `en-GB`, …).
    pub fn parse(v: &str) -> Option<Lang> {
        let v = v.trim().to_ascii_lowercase();
        if v == "zh" || v.starts_with("zh-") || v.starts_with("zh_") {
            Some(Lang::Zh)
        } else if v == "en" || v.starts_with("en-") || v.starts_with("en_") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// The language of this request: `?lang=` first (and then remembered), else the cookie, else
/// Chinese. The browser's `Accept-Language` is deliberately not consulted: the service is
/// Chinese first, and English is one click away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLang {
    /// The language to render.
    pub lang: Lang,
    /// The request chose it with `?lang=`: remember it.
    pub remember: bool,
}

impl PageLang {
    /// The language of a request with these headers and query string.
    pub fn of(headers: &HeaderMap, query: Option<&str>) -> PageLang {
        if let Some(lang) = query_param(query.unwrap_or(""), "lang").and_then(|v| Lang::parse(&v)) {
            return PageLang {
                lang,
                remember: true,
            };
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == LANG_COOKIE)
            .and_then(|(_, v)| Lang::parse(v));
        PageLang {
            lang: cookie.unwrap_or(Lang::Zh),
            remember: false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(PageLang::of(&parts.headers, parts.uri.query()))
    }
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` escaped for HTML text and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The style sheet.
pub const CSS: &str = include_str!("assets/pages.css");
/// The drag-and-drop enhancement of the upload form.
pub const JS: &str = include_str!("assets/verify.js");
/// The service mark (a round seal), also the favicon.
pub const EMBLEM_SVG: &str = include_str!("assets/emblem.svg");

/// A short content hash of the assets, appended to their URLs so that a new build is never
/// served a stale cached copy.
pub static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [CSS, JS, EMBLEM_SVG] {
        ctx.update(part.as_bytes());
    }
    hex::encode(&ctx.finish().as_ref()[..6])
});

/// What the frame of a page needs.
pub struct Frame<'a> {
    /// The language.
    pub lang: Lang,
    /// The `<title>` (the service name is appended).
    pub title: &'a str,
    /// Where the language switch leads (the same page in the other language).
    pub switch_href: String,
    /// Loads the upload form's script.
    pub script: bool,
}

/// The service name shown in the header.
pub fn service_name(lang: Lang) -> &'static str {
    lang.pick(
        "电子证照与电子印章核验",
        "E-licence and e-seal verification",
    )
}

/// A whole HTML document: `<head>`, the header with the language switch, `main`, the footer.
pub fn document(frame: &Frame<'_>, main: &str) -> String {
    let lang = frame.lang;
    let v = ASSET_VERSION.as_str();
    let other = lang.other();
    let switch_label = match other {
        Lang::Zh => "中文",
        Lang::En => "English",
    };
    let mut out = String::with_capacity(main.len() + 4096);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"{tag}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title} · {service}</title>\n\
         <link rel=\"icon\" href=\"/assets/emblem.svg?v={v}\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/assets/pages.css?v={v}\">\n",
        tag = lang.tag(),
        title = esc(frame.title),
        service = esc(service_name(lang)),
    );
    if frame.script {
        let _ = writeln!(
            out,
            "<script src=\"/assets/verify.js?v={v}\" defer></script>"
        );
    }
    let _ = write!(
        out,
        "</head>\n<body>\n<a class=\"skip\" href=\"#main\">{skip}</a>\n\
         <header class=\"site\"><div class=\"bar\">\
         <a class=\"brand\" href=\"/verify?lang={code}\">\
         <img src=\"/assets/emblem.svg?v={v}\" alt=\"\" width=\"40\" height=\"40\">\
         <span><strong>{service}</strong><small>{sub}</small></span></a>\
         <a class=\"lang\" href=\"{switch}\" hreflang=\"{other_tag}\" lang=\"{other_tag}\" \
         data-testid=\"lang-switch\">{switch_label}</a>\
         </div></header>\n\
         <main id=\"main\" class=\"wrap\">\n{main}\n</main>\n\
         <footer class=\"site\"><div class=\"wrap\">\
         <p>{foot1}</p><p>{foot2} <a href=\"/verify?lang={code}\">{verify_link}</a></p>\
         </div></footer>\n</body>\n</html>\n",
        skip = lang.pick("跳到正文", "Skip to content"),
        code = lang.code(),
        service = esc(service_name(lang)),
        sub = lang.pick(
            "公众核验服务 · Public verification",
            "公众核验服务 · Public verification service"
        ),
        switch = esc(&frame.switch_href),
        other_tag = other.tag(),
        foot1 = lang.pick(
            "核验结果依据本服务在核验时刻掌握的信息作出。如对结果有疑问，请联系发证机构。",
            "The result reflects what this service knows at the moment of verification. If in doubt, contact the issuing authority."
        ),
        foot2 = lang.pick(
            "本服务不保存您上传的文件。",
            "Uploaded files are not kept."
        ),
        verify_link = lang.pick("核验其他文件", "Verify another document"),
    );
    out
}

/// Content-Security-Policy of every page: own resources only, images also as `data:` (seal
/// pictures of uploaded documents), forms post only here, no framing.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// An HTML response with `status`, the page headers and, if the language was chosen with
/// `?lang=`, the cookie that remembers it.
pub fn html_response(status: StatusCode, lang: PageLang, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.lang.tag()),
    );
    h.insert(header::VARY, HeaderValue::from_static("Cookie"));
    if lang.remember {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            lang.lang.code()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    response
}

/// A static asset with a long cache lifetime (its URL carries [`ASSET_VERSION`]).
pub fn asset_response(media_type: &'static str, body: &'static str) -> Response {
    cacheable_response(media_type, "public, max-age=86400", body)
}

/// `body` as `media_type` that caches may keep as `cache_control` says (never sniffed).
pub fn cacheable_response(
    media_type: &'static str,
    cache_control: &'static str,
    body: impl IntoResponse,
) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A definition list row: label and already-escaped HTML value.
pub fn row(out: &mut String, label: &str, value_html: &str) {
    let _ = write!(out, "<dt>{}</dt><dd>{value_html}</dd>", esc(label));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("南京\u{0}科技"), "南京科技");
    }

    #[test]
    fn language_comes_from_the_query_then_the_cookie_then_chinese() {
        let mut h = HeaderMap::new();
        assert_eq!(PageLang::of(&h, None).lang, Lang::Zh);
        assert_eq!(
            PageLang::of(&h, Some("lang=en")),
            PageLang {
                lang: Lang::En,
                remember: true
            }
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; chop_lang=en"),
        );
        assert_eq!(
            PageLang::of(&h, None),
            PageLang {
                lang: Lang::En,
                remember: false
            }
        );
        assert_eq!(PageLang::of(&h, Some("x=1&lang=zh-CN")).lang, Lang::Zh);
        assert_eq!(PageLang::of(&h, Some("lang=fr")).lang, Lang::En);
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(query_param("a=1&b=x%20y+z", "b").as_deref(), Some("x y z"));
        assert_eq!(query_param("a=%zz", "a").as_deref(), Some("%zz"));
        assert_eq!(query_param("a=%4", "a").as_deref(), Some("%4"));
        assert_eq!(query_param("a=%é", "a").as_deref(), Some("%é"));
        assert_eq!(query_param("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_param("", "a"), None);
    }
}
