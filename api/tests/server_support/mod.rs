//! Helpers of the `chop serve` tests: a real server process on a free port with a temporary
//! data folder (SQLite, or a fresh PostgreSQL database), a blocking HTTP client, problem+json
//! checks, and sealed PDFs made with `chop keys dev` + `chop sign`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::blocking::{Client, Response};

/// How long a server may take to start (a first start creates the database and keys; debug
/// builds on a busy CI machine are slow). A bound against hanging, not a speed check.
const START_BOUND: Duration = Duration::from_secs(180);

/// A running `chop serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Everything the server printed on stdout before it listened.
    pub banner: Vec<String>,
    /// Its log file (stderr).
    pub log: PathBuf,
    lines: mpsc::Receiver<String>,
}

/// Runs `chop` with `args`; panics with its output unless it exits 0.
pub fn chop_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chop"))
        .args(args)
        .output()
        .expect("chop runs");
    assert!(
        out.status.success(),
        "chop {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Server {
    /// Starts `chop serve` on `127.0.0.1:0` with `data_dir`, `database_url` if given, and
    /// `env`; waits until it prints its address.
    pub fn start(data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension("server.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chop"));
        cmd.arg("serve")
            .env_remove("CHOP_CONFIG")
            .env_remove("CHOP_DATABASE_URL")
            .env_remove("CHOP_TRUST_ANCHORS")
            .env_remove("CHOP_PUBLIC_URL")
            .env("CHOP_LISTEN", "127.0.0.1:0")
            .env("CHOP_DATA_DIR", data_dir)
            .env("CHOP_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        if let Some(url) = database_url {
            cmd.env("CHOP_DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("chop serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let base = loop {
            match lines.recv_timeout(START_BOUND) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("chop serve: listening on ") {
                        let addr = rest.split_whitespace().next().unwrap().to_owned();
                        banner.push(line);
                        break addr;
                    }
                    banner.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "chop serve did not start ({status:?}); stdout {banner:?}; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        Server {
            child: Some(child),
            base,
            banner,
            log,
            lines,
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The admin key printed in the first-start banner, if any.
    pub fn printed_admin_key(&self) -> Option<String> {
        self.banner
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("chop_"))
            .map(str::to_owned)
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("chop serve did not stop within 60 s of SIGTERM");
    }

    /// Lines printed on stdout after start-up.
    pub fn later_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking HTTP client.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// POSTs `body` as `application/pdf` to `path`, with `key` as the Bearer token when given.
pub fn post_pdf(
    s: &Server,
    path: &str,
    key: Option<&str>,
    body: impl Into<reqwest::blocking::Body>,
) -> Response {
    let mut r = client()
        .post(s.url(path))
        .header("content-type", "application/pdf")
        .body(body);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    r.send().unwrap()
}

/// Asserts `r` is a problem+json response of `status` and type slug `slug`; returns its body.
pub fn assert_problem(r: Response, status: u16, slug: &str) -> serde_json::Value {
    let got = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().unwrap();
    assert_eq!(got, status, "expected {status} {slug}, got {got}: {text}");
    assert_eq!(ct, "application/problem+json", "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["type"],
        format!("https://chop.dev/problems/{slug}"),
        "{text}"
    );
    assert_eq!(v["status"], status, "{text}");
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{text}");
    assert!(v["detail"].as_str().is_some(), "{text}");
    v
}

/// Asserts a 2xx JSON response and returns its body.
pub fn json_ok(r: Response, status: u16) -> serde_json::Value {
    let got = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A small one-page PDF.
pub fn base_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 18 Tf 50 700 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len() + 1),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
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

/// A development PKI (`chop keys dev`) in `dir/pki`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// Makes the PKI.
    pub fn new(dir: &Path) -> Pki {
        let pki = dir.join("pki");
        chop_ok(&["keys", "dev", "--out", pki.to_str().unwrap()]);
        Pki { dir: pki }
    }

    /// The root certificate (PEM file).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root-ca.crt.pem")
    }

    /// Seals a fresh PDF showing `text` with `chop sign`; returns the sealed bytes.
    pub fn sealed_pdf(&self, text: &str) -> Vec<u8> {
        let work = self.dir.parent().unwrap();
        let input = work.join(format!("{text}.pdf"));
        let output = work.join(format!("{text}-sealed.pdf"));
        std::fs::write(&input, base_pdf(text)).unwrap();
        let f = |n: &str| self.dir.join(n).to_str().unwrap().to_owned();
        chop_ok(&[
            "sign",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
            "--key",
            &f("signer.key.pem"),
            "--cert",
            &f("signer.crt.pem"),
            "--chain",
            &f("chain.pem"),
            "--seal",
            &f("seal.der"),
        ]);
        std::fs::read(output).unwrap()
    }
}
