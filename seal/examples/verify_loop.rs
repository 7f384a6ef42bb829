//! Verify the same files N times in one process, single-threaded, and print the wall time as
//! JSON — Chop's half of `scripts/bench-verify` (pyHanko's half is scripts/pyhanko_validate.py).
//!
//! `cargo run --release -p chop-seal --example verify_loop -- --roots A.pem[,B.pem] --iterations N FILE.pdf…`

use std::time::Instant;

use chop_seal::verify::{VerifyOptions, verify_pdf};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut roots = String::new();
    let mut iterations = 1usize;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--roots" => roots = args.next().unwrap_or_default(),
            "--iterations" => {
                iterations = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            }
            _ => files.push(a),
        }
    }
    let mut opts = VerifyOptions::default();
    for path in roots.split(',').filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        opts.trust_anchors.extend(
            chop_seal::certs::certificates_from_pem(&text)
                .unwrap_or_else(|e| panic!("{path}: {e}")),
        );
    }
    let data: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            (
                f.clone(),
                std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}")),
            )
        })
        .collect();
    let mut verdicts = serde_json::Map::new();
    let start = Instant::now();
    for _ in 0..iterations {
        for (name, bytes) in &data {
            let v = match verify_pdf(bytes, &opts) {
                Ok(r) => serde_json::Value::String(r.worst().as_str().to_string()),
                Err(e) => serde_json::Value::String(format!("error: {e}")),
            };
            verdicts.insert(name.clone(), v);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "validations": data.len() * iterations,
            "files": verdicts,
        })
    );
}
