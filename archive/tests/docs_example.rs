//! Rebuilds the example log of docs/ARCHIVE.md and checks the page shows it byte for byte, so
//! the documented formats (records, verifier key, checkpoint, tlog-proof) cannot drift from
//! the code.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use chop_archive::log::{Log, NewEntry};
use chop_archive::memory::MemoryStorage;
use chop_archive::merkle::stored_hash_index;
use chop_archive::note::NoteSigner;
use chop_archive::proof::verify_proof_file;
use chop_archive::record::{Digest, NewRecord, RecordKind, Retention, Timestamp};

const EXAMPLE_KEY: &str =
    "PRIVATE+KEY+chop.local/archive+f2a337e2+AQZwHtM3hrFWXXBE8igyrFhA/Z4mXtP9GPIP+M8QMK/w";

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn record(kind: RecordKind, actor: &str, time: &str, subject: &[&str]) -> NewRecord {
    let mut r = NewRecord::new(kind, actor);
    r.time = Timestamp::parse(time).unwrap();
    r.subject = subject.iter().map(|s| s.to_string()).collect();
    r
}

#[test]
fn archive_md_shows_the_example_log_exactly() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ARCHIVE.md"))
        .unwrap();
    let signer = NoteSigner::from_private_key_string(EXAMPLE_KEY).unwrap();
    let verifier = signer.verifier();
    assert!(doc.contains(EXAMPLE_KEY));
    assert!(
        doc.contains(&verifier.key_string()),
        "verifier key {}",
        verifier.key_string()
    );

    let mut r0 = record(
        RecordKind::SealCreated,
        "user:admin",
        "2025-03-01T08:00:00.000000Z",
        &["seal:11100000000000000X-01"],
    );
    r0.payload.insert("seal_type".into(), "01".into());
    let mut r1 = record(
        RecordKind::DocumentSealed,
        "user:clerk-7",
        "2025-03-01T08:15:42.120000Z",
        &[
            "document:6f1ed002ab5595859014ebf0951522d9",
            "seal:11100000000000000X-01",
        ],
    );
    r1.digests = vec![
        Digest::sha256_of(b"original bytes", Some("original")),
        Digest::sha256_of(b"sealed bytes", Some("sealed")),
    ];
    r1.retention = Retention::Years30;
    let mut r2 = record(
        RecordKind::DocumentIngested,
        "user:archivist",
        "2025-03-02T09:00:00.000000Z",
        &["document:0c1d2e"],
    );
    r2.digests = vec![Digest::sha256_of(b"ingested", None)];
    r2.payload
        .insert("indication".into(), "TOTAL-PASSED".into());

    let log = Log::new(MemoryStorage::new());
    let entries = [r0, r1, r2]
        .into_iter()
        .map(|record| NewEntry {
            idempotency_key: None,
            record,
        })
        .collect();
    block_on(log.append(entries)).unwrap();
    for seq in 0..3 {
        let bytes = block_on(log.record(seq))
            .unwrap()
            .unwrap()
            .canonical_bytes()
            .unwrap();
        let line = String::from_utf8(bytes).unwrap();
        assert!(
            doc.contains(&format!("\n{line}\n")),
            "record {seq} not shown exactly:\n{line}"
        );
    }

    let checkpoint = block_on(log.checkpoint(&signer)).unwrap();
    assert!(
        doc.contains(&checkpoint.note),
        "checkpoint:\n{}",
        checkpoint.note
    );
    let proof = block_on(log.prove(1, None, &verifier)).unwrap().to_text();
    assert!(doc.contains(&proof), "proof:\n{proof}");
    let shown = doc
        .split("```\n")
        .find(|block| block.starts_with("c2sp.org/tlog-proof@v1"))
        .unwrap();
    let verified = verify_proof_file(shown.as_bytes(), &verifier, None).unwrap();
    assert_eq!((verified.index, verified.checkpoint.size), (1, 3));

    // The stored-layout table.
    let layout = [
        (0, 0),
        (0, 1),
        (1, 0),
        (0, 2),
        (0, 3),
        (1, 1),
        (2, 0),
        (0, 4),
        (0, 5),
        (1, 2),
        (0, 6),
        (0, 7),
        (1, 3),
        (2, 1),
        (3, 0),
        (0, 8),
    ];
    for (slot, (level, n)) in layout.into_iter().enumerate() {
        assert_eq!(stored_hash_index(level, n), slot as u64);
    }
    assert!(doc.contains(&format!("node {} (level 3, #2)", stored_hash_index(3, 2))));
}
