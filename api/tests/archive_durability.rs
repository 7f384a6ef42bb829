//! Issue 4 §6 and §4: nothing acknowledged is ever lost, and several processes produce one log.
//!
//! - A `chop archive stress` child appends from 8 tasks (signing a checkpoint every 20 ms) and
//!   prints every acknowledged append; the test kills it with SIGKILL at random moments, 20
//!   rounds, restarting it each time. Then every acknowledged append must be in the log at the
//!   seq it was acknowledged with, `chop archive verify` must find the chain, the tree and every
//!   signed checkpoint consistent (each checkpoint's root is recomputed from the records, so
//!   all checkpoints are prefixes of one tree).
//! - Two children append concurrently to one database; their acknowledged seqs must be
//!   distinct, cover the log, and the log must verify.
//!
//! Both run on SQLite and on PostgreSQL (`DATABASE_URL`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Line, PgDb, Stress, run, storage_args};

/// A small xorshift generator (the seed is printed so a failing run can be replayed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn seed() -> u64 {
    std::env::var("CHOP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        })
}

/// Records by idempotency key (the stress subject is `stress:KEY`), from `chop archive log --json`.
fn logged_keys(storage: &[String]) -> (u64, BTreeMap<String, u64>) {
    let mut args = vec!["archive", "log", "--json"];
    args.extend(storage.iter().map(String::as_str));
    let out = run(&args);
    assert!(
        out.status.success(),
        "archive log: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut keys = BTreeMap::new();
    let mut count = 0;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(seq, count, "records are listed densely in order");
        count += 1;
        if let Some(key) = v["subject"][0]
            .as_str()
            .and_then(|s| s.strip_prefix("stress:"))
        {
            assert!(
                keys.insert(key.to_owned(), seq).is_none(),
                "key {key} appended twice"
            );
        }
    }
    (count, keys)
}

/// Runs `chop archive verify`; asserts success and returns how many checkpoints it checked.
fn verify_ok(storage: &[String]) -> u64 {
    let mut args = vec!["archive", "verify"];
    args.extend(storage.iter().map(String::as_str));
    let out = run(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "archive verify failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("archive OK"), "{text}");
    let checked = text
        .split(" and ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok());
    checked.unwrap_or_else(|| panic!("cannot read the checkpoint count in {text}"))
}

fn kill_rounds(data_dir: &Path, db: Option<&str>) {
    const ROUNDS: usize = 20;
    let storage = storage_args(data_dir, db);
    let seed = seed();
    eprintln!(
        "kill test on {}: seed {seed} (CHOP_TEST_SEED={seed} replays it)",
        db.map_or("sqlite", |_| "postgres")
    );
    let mut rng = Rng(seed);
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let mut checkpoints = BTreeSet::new();
    let mut rounds_killed_mid_append = 0;
    for round in 0..ROUNDS {
        let prefix = format!("r{round}");
        let mut child = Stress::spawn(
            &storage,
            &[
                "--tasks",
                "8",
                "--checkpoint-ms",
                "20",
                "--key-prefix",
                &prefix,
            ],
        );
        let mut lines = Vec::new();
        if round % 2 == 0 {
            // Kill while appends are flowing: after the first acknowledgement.
            loop {
                match child.lines.recv_timeout(Duration::from_secs(60)) {
                    Ok(l @ Line::Ack(..)) => {
                        lines.push(l);
                        break;
                    }
                    Ok(l) => lines.push(l),
                    Err(e) => panic!("round {round}: no acknowledgement within 60 s ({e})"),
                }
            }
            std::thread::sleep(Duration::from_millis(rng.below(300)));
        } else {
            // Kill at any moment, start-up (migrations, key creation) included.
            std::thread::sleep(Duration::from_millis(rng.below(600)));
        }
        child.child.kill().unwrap(); // SIGKILL
        let (status, rest) = child.finish();
        assert!(
            !status.success(),
            "round {round}: the child must have been killed"
        );
        lines.extend(rest);
        let before = acked.len();
        for line in lines {
            match line {
                Line::Ack(seq, key) => {
                    if let Some(old) = acked.insert(key.clone(), seq) {
                        panic!("round {round}: {key} acknowledged twice ({old}, {seq})");
                    }
                }
                Line::Checkpoint(size) => {
                    checkpoints.insert(size);
                }
            }
        }
        if acked.len() > before {
            rounds_killed_mid_append += 1;
        }
    }
    assert!(
        rounds_killed_mid_append >= ROUNDS / 2,
        "only {rounds_killed_mid_append} rounds acknowledged anything"
    );

    let (records, logged) = logged_keys(&storage);
    for (key, seq) in &acked {
        assert_eq!(
            logged.get(key),
            Some(seq),
            "acknowledged append {key} at {seq} is not in the log at that seq"
        );
    }
    assert!(records as usize >= acked.len());
    let checked = verify_ok(&storage);
    assert!(checked >= 2, "only {checked} checkpoints were stored");
    assert!(checkpoints.iter().all(|s| *s <= records));
    eprintln!(
        "kill test: {ROUNDS} SIGKILLs, {} acknowledged appends all present, {records} records, {checked} checkpoints consistent",
        acked.len()
    );
}

#[test]
fn sigkill_loses_no_acknowledged_append_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_rounds(dir.path(), None);
}

#[test]
fn sigkill_loses_no_acknowledged_append_postgres() {
    let Some(db) = PgDb::create("kill") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    kill_rounds(dir.path(), Some(&db.url));
}

fn two_processes(data_dir: &Path, db: Option<&str>) {
    let storage = storage_args(data_dir, db);
    let per_process = 4 * 60u64;
    let started = Instant::now();
    let children: Vec<Stress> = ["a", "b"]
        .iter()
        .map(|p| {
            Stress::spawn(
                &storage,
                &[
                    "--tasks",
                    "4",
                    "--count",
                    "60",
                    "--checkpoint-ms",
                    "25",
                    "--key-prefix",
                    p,
                ],
            )
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for child in children {
        let (status, lines) = child.finish();
        assert!(status.success(), "a stress process failed: {status}");
        let acks: Vec<u64> = lines
            .iter()
            .filter_map(|l| {
                if let Line::Ack(s, _) = l {
                    Some(*s)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(acks.len() as u64, per_process);
        for s in acks {
            assert!(seqs.insert(s), "seq {s} acknowledged to both processes");
        }
    }
    let (records, logged) = logged_keys(&storage);
    // Both processes share one log key: one key.created record, plus every stress append.
    assert_eq!(records, 2 * per_process + 1);
    assert_eq!(logged.len() as u64, 2 * per_process);
    assert!(seqs.iter().all(|s| *s < records));
    verify_ok(&storage);
    eprintln!(
        "two processes: {records} records in {:?}",
        started.elapsed()
    );
}

#[test]
fn two_processes_append_one_consistent_log_postgres() {
    let Some(db) = PgDb::create("two") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    two_processes(dir.path(), Some(&db.url));
}

#[test]
fn two_processes_append_one_consistent_log_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    two_processes(dir.path(), None);
}
