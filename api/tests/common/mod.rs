//! Shared helpers of the archive's process-level tests: the `chop` binary, a fresh PostgreSQL
//! database per test (from `DATABASE_URL`; with `CI=true` a missing server fails the test,
//! otherwise the PostgreSQL half is skipped LOUDLY), and a `chop archive stress` child whose
//! acknowledged appends are collected line by line.
#![allow(dead_code)]

use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The `chop` binary cargo built for these tests.
pub fn chop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chop"))
}

/// Runs `chop` with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    chop().args(args).output().expect("chop runs")
}

/// Whether this is a CI run (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Writes past the test harness's output capture, so a skipped judge is always visible.
pub fn loud(message: &str) {
    let _ = std::io::stderr().write_all(format!("\n!!!!! {message} !!!!!\n\n").as_bytes());
}

/// A judge installed by pip: the first of `files` in `$CHOP_VENV/bin`, the workspace's
/// `.venv-interop/bin`, or `PATH`. Missing, it fails the test in CI and is reported loudly
/// elsewhere: `judge {name} not found ({hint}); {skipped}`.
pub fn venv_judge(name: &str, files: &[&str], hint: &str, skipped: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("CHOP_VENV") {
        dirs.push(PathBuf::from(v).join("bin"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-interop/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let found = dirs
        .into_iter()
        .flat_map(|d| files.iter().map(move |f| d.join(f)))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !in_ci(),
            "judge {name} is missing and CI=true: a missing judge is a failure in CI ({hint})"
        );
        loud(&format!("judge {name} not found ({hint}); {skipped}"));
    }
    found
}

/// A PostgreSQL database made for one test.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    admin_url: String,
    name: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl PgDb {
    /// A new empty database, or `None` (after a loud message) outside CI when there is no
    /// PostgreSQL.
    pub fn create(tag: &str) -> Option<PgDb> {
        let Ok(admin_url) = std::env::var("DATABASE_URL") else {
            return skip("DATABASE_URL is not set");
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("chop_test_{tag}_{}_{nanos}", std::process::id());
        let created: Result<(), String> = runtime().block_on(async {
            let mut conn = PgConnection::connect(&admin_url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok(())
        });
        if let Err(e) = created {
            return skip(&format!("cannot create a database at DATABASE_URL: {e}"));
        }
        let (scheme, rest) = admin_url
            .split_once("://")
            .unwrap_or(("postgres", &admin_url));
        let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let query = tail
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        let url = format!("{scheme}://{authority}/{name}{query}");
        Some(PgDb {
            url,
            admin_url,
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        runtime().block_on(async {
            if let Ok(mut conn) = PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
                let _ = conn.close().await;
            }
        });
    }
}

fn skip(why: &str) -> Option<PgDb> {
    assert!(!in_ci(), "CI=true and PostgreSQL is not available: {why}");
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! PostgreSQL SKIPPED: {why}.\n\
         !! Set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (it FAILS in CI).\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// The storage arguments for a data folder and an optional database URL.
pub fn storage_args(data_dir: &Path, db: Option<&str>) -> Vec<String> {
    let mut args = vec!["--data-dir".to_string(), data_dir.display().to_string()];
    if let Some(url) = db {
        args.extend(["--db".to_string(), url.to_string()]);
    }
    args
}

/// One line a stress child printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `ack SEQ KEY`: an acknowledged (durable) append.
    Ack(u64, String),
    /// `checkpoint SIZE`.
    Checkpoint(u64),
}

/// A running `chop archive stress --acks` child and the reader of its stdout.
pub struct Stress {
    pub child: Child,
    pub lines: mpsc::Receiver<Line>,
    reader: JoinHandle<()>,
}

impl Stress {
    /// Starts `chop archive stress --acks` with `extra` arguments.
    pub fn spawn(storage: &[String], extra: &[&str]) -> Stress {
        let mut child = chop()
            .args(["archive", "stress", "--acks"])
            .args(storage)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("chop archive stress starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split(' ');
                let parsed = match (parts.next(), parts.next(), parts.next()) {
                    (Some("ack"), Some(seq), Some(key)) => {
                        Line::Ack(seq.parse().unwrap(), key.to_owned())
                    }
                    (Some("checkpoint"), Some(size), None) => {
                        Line::Checkpoint(size.parse().unwrap())
                    }
                    _ => panic!("unexpected line from chop archive stress: {line:?}"),
                };
                if tx.send(parsed).is_err() {
                    break;
                }
            }
        });
        Stress {
            child,
            lines,
            reader,
        }
    }

    /// Waits for the child to exit and returns its status and every line it printed.
    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<Line>) {
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        (status, self.lines.try_iter().collect())
    }
}
