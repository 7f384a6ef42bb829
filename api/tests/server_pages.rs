//! The public verification pages (issue 7 §6) against a real `chop serve`: HTTP-level checks
//! (status codes, headers, masking, friendly error pages), then headless Chromium
//! (tests/browser/verify-pages.js, Playwright driving Debian's chromium): a sealed PDF gets the
//! valid verdict, a tampered one is reported as altered, a revoked licence's `/v/` page says
//! 已吊销, the English switch works, the pages fit a 375 px phone. Screenshots are kept in
//! `target/test-artifacts/verify-pages/`.
//!
//! The licences are issued and revoked with the CLI before the server starts (the CLI and the
//! server must not append to one log at the same time).

mod server_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use server_support::{Server, chop_ok, client};

/// Where the browser test and its `node_modules` live.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser")
}

/// `target/test-artifacts/verify-pages`.
fn artifacts_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .unwrap_or(tmp)
        .join("test-artifacts")
        .join("verify-pages")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHOP_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What the browser test needs and is missing, if anything.
fn browser_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if !chromium().is_file() {
        missing.push(format!(
            "{} (Debian package `chromium`)",
            chromium().display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        missing.push("node (Debian package `nodejs`)".into());
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push("playwright-core (run `npm ci --prefix tests/browser`)".into());
    }
    missing
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A licence issued with the CLI: its registry entry and the sealed PDF.
struct Issued {
    entry: serde_json::Value,
    pdf: PathBuf,
}

fn issue(dir: &Path, data_dir: &Path, public_url: &str, name: &str) -> Issued {
    let data = dir.join("food.json");
    if !data.is_file() {
        let example = chop_ok(&["licence", "example", "food-business"]);
        std::fs::write(&data, example).unwrap();
    }
    let pdf = dir.join(format!("{name}.pdf"));
    let out = chop_ok(&[
        "licence",
        "issue",
        "--type",
        "food-business",
        "--data",
        data.to_str().unwrap(),
        "--out",
        pdf.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--public-url",
        public_url,
        "--json",
    ]);
    Issued {
        entry: serde_json::from_str(&out).unwrap(),
        pdf,
    }
}

/// A copy of `pdf` with one byte inside the first signed range changed (a character of the
/// `/Producer` string of the original revision): still a readable PDF, no longer what was
/// sealed.
fn tamper(pdf: &Path, out: &Path) {
    let mut bytes = std::fs::read(pdf).unwrap();
    let find = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
            + needle.len()
    };
    let br = find(b"/ByteRange [");
    let numbers = String::from_utf8_lossy(&bytes[br..br + 40]).into_owned();
    let first_end: usize = numbers.split_whitespace().nth(1).unwrap().parse().unwrap();
    let at = find(b"/Producer (");
    assert!(
        at < first_end,
        "the byte to change is not in the signed range"
    );
    bytes[at] = if bytes[at] == b'X' { b'Y' } else { b'X' };
    std::fs::write(out, bytes).unwrap();
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn verification_pages_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");

    // Two licences; the second is revoked.
    let valid = issue(dir, &data_dir, &public_url, "valid");
    let revoked = issue(dir, &data_dir, &public_url, "revoked");
    let reason = "以欺骗手段取得许可";
    let revoked_id = revoked.entry["public_id"].as_str().unwrap().to_owned();
    chop_ok(&[
        "licence",
        "revoke",
        &revoked_id,
        "--reason",
        reason,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    // A third, superseded by a new version.
    let old = issue(dir, &data_dir, &public_url, "old");
    let old_id = old.entry["public_id"].as_str().unwrap().to_owned();
    let newer = chop_ok(&[
        "licence",
        "supersede",
        &old_id,
        "--data",
        dir.join("food.json").to_str().unwrap(),
        "--out",
        dir.join("newer.pdf").to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--public-url",
        &public_url,
        "--json",
    ]);
    let newer: serde_json::Value = serde_json::from_str(&newer).unwrap();
    let newer_id = newer["public_id"].as_str().unwrap().to_owned();
    let valid_id = valid.entry["public_id"].as_str().unwrap().to_owned();
    let holder_name = valid.entry["holder_name"].as_str().unwrap().to_owned();
    let holder_code = valid.entry["holder_code"].as_str().unwrap().to_owned();
    let identifier = valid.entry["identifier"].as_str().unwrap().to_owned();
    let tampered = dir.join("tampered.pdf");
    tamper(&valid.pdf, &tampered);
    let not_pdf = dir.join("not-a-pdf.txt");
    std::fs::write(&not_pdf, "这不是 PDF 文件\n").unwrap();

    let server = Server::start(
        &data_dir,
        None,
        &[
            ("CHOP_LISTEN", &format!("127.0.0.1:{port}")),
            ("CHOP_PUBLIC_URL", &public_url),
            // The browser fetches pages and assets quickly; the rate limit is tested elsewhere.
            ("CHOP_PUBLIC_RATE_PER_SECOND", "0"),
            ("CHOP_MAX_PDF_BYTES", &(1024 * 1024).to_string()),
        ],
    );
    assert_eq!(server.base, public_url);
    let base = server.base.clone();
    let c = client();

    // --- HTTP-level checks -------------------------------------------------------------
    let r = c.get(format!("{base}/verify")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(header(&r, "content-security-policy").contains("default-src 'none'"));
    assert_eq!(header(&r, "content-language"), "zh-CN");
    let html = r.text().unwrap();
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("enctype=\"multipart/form-data\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "an absolute URL in the form page"
    );

    let r = c.get(format!("{base}/verify?lang=en")).send().unwrap();
    assert!(header(&r, "set-cookie").starts_with("chop_lang=en"));
    assert!(r.text().unwrap().contains("<html lang=\"en\">"));

    let r = c.get(format!("{base}/v/{valid_id}")).send().unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    assert!(html.contains("data-status=\"valid\""));
    assert!(
        !html.contains(&holder_code),
        "the holder code is shown unmasked"
    );
    assert!(
        !html.contains(&holder_name),
        "the holder name is shown unmasked"
    );
    let masked_code = format!(
        "{}{}{}",
        &holder_code[..4],
        "*".repeat(holder_code.len() - 8),
        &holder_code[holder_code.len() - 4..]
    );
    assert!(
        html.contains(&masked_code),
        "masked code {masked_code} missing"
    );

    let r = c.get(format!("{base}/v/{revoked_id}")).send().unwrap();
    let html = r.text().unwrap();
    assert!(html.contains("已吊销") && html.contains(reason));

    let r = c.get(format!("{base}/v/{old_id}?lang=en")).send().unwrap();
    let html = r.text().unwrap();
    assert!(html.contains("data-status=\"superseded\""), "{html}");
    assert!(html.contains("已被新版本替代"));
    assert!(
        html.contains(&format!("href=\"/v/{newer_id}?lang=en\"")),
        "no link to the new version: {html}"
    );

    // The GB/T 36904 identifier is not a public link; unknown ids get the 404 page.
    for id in [identifier.as_str(), "nosuchlicence0000000000000", "x"] {
        let r = c.get(format!("{base}/v/{id}")).send().unwrap();
        assert_eq!(r.status(), 404, "{id}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert!(r.text().unwrap().contains("未找到该证照"));
    }

    let r = c
        .get(format!("{base}/v/{valid_id}/seal.png"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "image/png");
    assert!(r.bytes().unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));

    for (path, media) in [
        ("/assets/pages.css", "text/css"),
        ("/assets/verify.js", "text/javascript"),
        ("/assets/emblem.svg", "image/svg+xml"),
    ] {
        let r = c.get(format!("{base}{path}")).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with(media), "{path}");
    }

    // Friendly error pages with the right status: no file, too large, not a PDF, no seal.
    let post = |part: reqwest::blocking::multipart::Part| {
        c.post(format!("{base}/verify"))
            .multipart(reqwest::blocking::multipart::Form::new().part("file", part))
            .send()
            .unwrap()
    };
    let r = post(reqwest::blocking::multipart::Part::bytes(Vec::new()).file_name(""));
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("没有收到文件"));
    let big = vec![b'%'; 2 * 1024 * 1024];
    let r = post(reqwest::blocking::multipart::Part::bytes(big).file_name("big.pdf"));
    assert_eq!(r.status(), 413);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert!(r.text().unwrap().contains("文件太大"));
    let r = post(reqwest::blocking::multipart::Part::bytes(b"hello".to_vec()).file_name("x.pdf"));
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("不是 PDF"));
    // The original revision of a licence PDF, before the seal was appended.
    let sealed = std::fs::read(&valid.pdf).unwrap();
    let eof = sealed.windows(6).position(|w| w == b"%%EOF\n").unwrap() + 6;
    let r =
        post(reqwest::blocking::multipart::Part::bytes(sealed[..eof].to_vec()).file_name("u.pdf"));
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("没有电子签章"));

    // The result of a sealed upload, without a browser.
    let r = post(reqwest::blocking::multipart::Part::bytes(sealed).file_name("licence.pdf"));
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    assert!(html.contains("data-verdict=\"valid\""), "{html}");
    assert!(html.contains("data:image/png;base64,"), "no seal picture");

    // --- Headless Chromium --------------------------------------------------------------
    let missing = browser_prerequisites();
    if !missing.is_empty() {
        let msg = format!(
            "the browser test needs {}; install with `apt-get install chromium nodejs npm` and `npm ci --prefix tests/browser`",
            missing.join(", ")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and {msg}");
        }
        eprintln!(
            "\n{bar}\nSKIPPED the headless-Chromium part of server_pages: {msg}\n{bar}\n",
            bar = "!".repeat(78)
        );
        return;
    }
    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("node")
        .arg(browser_dir().join("verify-pages.js"))
        .env("CHOP_BASE_URL", &base)
        .env("CHOP_SEALED_PDF", &valid.pdf)
        .env("CHOP_TAMPERED_PDF", &tampered)
        .env("CHOP_NOT_PDF", &not_pdf)
        .env("CHOP_VALID_ID", &valid_id)
        .env("CHOP_REVOKED_ID", &revoked_id)
        .env("CHOP_REVOKED_REASON", reason)
        .env("CHOP_HOLDER_NAME", &holder_name)
        .env("CHOP_HOLDER_CODE", &holder_code)
        .env("CHOP_ARTIFACTS", &artifacts)
        .env("CHROMIUM", chromium())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("not ok"), "{stdout}");
    for shot in [
        "verify-valid-mobile.png",
        "verify-valid-desktop.png",
        "verify-tampered-mobile.png",
        "licence-revoked-mobile.png",
        "licence-revoked-desktop.png",
    ] {
        let f = artifacts.join(shot);
        assert!(
            std::fs::metadata(&f).is_ok_and(|m| m.len() > 1000),
            "no screenshot {}",
            f.display()
        );
    }

    // Every verification is logged with its 核验编号, never with the holder.
    let log = server.log_text();
    assert!(
        log.contains("verification_ref"),
        "no verification reference logged"
    );
    assert!(!log.contains(&holder_code), "the holder code was logged");
    assert!(!log.contains(&holder_name), "the holder name was logged");
    server.stop();
}
