//! Criterion benchmarks of the archive library over the in-memory storage: appending record
//! batches, inclusion and consistency proofs in a 1,000,000-record log, checkpoint signing and
//! verification, and offline proof-file verification; and proofs over the dense node-hash table
//! of a 10,000,000-record log (issue 4 §8: an inclusion proof at 10 million records in under
//! 1 ms), built directly from 10M leaf hashes (≈ 640 MB of hashes, a few seconds to build).
//!
//! Run: `cargo bench -p chop-archive --bench archive` (add a filter such as `proof` to run a
//! subset). Durable-storage figures come from `scripts/bench-archive`, not from here.

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use chop_archive::checkpoint::{Checkpoint, DEFAULT_ORIGIN, SignedCheckpoint};
use chop_archive::log::{Log, NewEntry};
use chop_archive::memory::MemoryStorage;
use chop_archive::merkle::{self, Hash};
use chop_archive::note::NoteSigner;
use chop_archive::proof::verify_proof_file;
use chop_archive::record::{Digest, NewRecord, RecordKind, Timestamp};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

/// Drives a future over [`MemoryStorage`], whose futures never wait.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// A `document.sealed` record of about `size` bytes once canonical.
fn entry(i: u64, size: usize) -> NewEntry {
    let mut r = NewRecord::new(RecordKind::DocumentSealed, "user:clerk-0042");
    r.time = Timestamp::parse("2025-06-01T08:30:00.000000Z").expect("valid time");
    r.subject = vec![
        format!("document:{i}"),
        "licence:1.2.156.3005.2.11100000000000000X.0001.001.7".into(),
    ];
    r.digests = vec![Digest::sha256_of(&i.to_be_bytes(), Some("sealed"))];
    let filler = size.saturating_sub(400);
    r.payload
        .insert("note".into(), Value::String("x".repeat(filler)));
    NewEntry {
        idempotency_key: Some(format!("req-{i}")),
        record: r,
    }
}

/// A log of `n` small records, appended in batches of 10,000.
fn log_of(n: u64) -> Log<MemoryStorage> {
    let log = Log::new(MemoryStorage::new());
    let mut next = 0;
    while next < n {
        let end = (next + 10_000).min(n);
        block_on(log.append((next..end).map(|i| entry(i, 0)).collect())).expect("append");
        next = end;
    }
    log
}

fn bench_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for batch in [1u64, 100] {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("batch_{batch}_1KiB_records"), |b| {
            // A fresh log per sample keeps memory bounded; the tree size barely matters (log n).
            b.iter_custom(|iters| {
                let log = Log::new(MemoryStorage::new());
                let batches: Vec<Vec<NewEntry>> = (0..iters)
                    .map(|k| (0..batch).map(|j| entry(k * batch + j, 1024)).collect())
                    .collect();
                let start = Instant::now();
                for entries in batches {
                    black_box(block_on(log.append(entries)).expect("append"));
                }
                start.elapsed()
            });
        });
    }
    group.throughput(Throughput::Elements(100));
    group.bench_function("tree_math_only_batch_100", |b| {
        let leaves: Vec<Hash> = (0..100u64)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut storage: Vec<Hash> = Vec::new();
        let base = merkle::append_leaves(
            0,
            &(0..100_000u64)
                .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
                .collect::<Vec<_>>(),
            &storage,
        )
        .expect("base tree");
        storage.extend(base.hashes);
        b.iter(|| black_box(merkle::append_leaves(100_000, &leaves, &storage).expect("append")));
    });
    group.finish();
}

fn bench_proofs(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let log = log_of(N);
    let head = block_on(log.head()).expect("head");
    let mut group = c.benchmark_group("proof_1M");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut index = 0u64;
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            index = (index + 7_919) % N;
            black_box(block_on(log.inclusion_proof(index, N)).expect("proof"))
        });
    });
    let proof = block_on(log.inclusion_proof(123_456, N)).expect("proof");
    let leaf = block_on(log.record(123_456))
        .expect("read")
        .expect("record")
        .leaf_hash()
        .expect("leaf");
    group.bench_function("inclusion_verify", |b| {
        b.iter(|| {
            merkle::verify_inclusion(123_456, N, black_box(&leaf), &proof, &head.root)
                .expect("verifies")
        });
    });
    let mut old = 1u64;
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            old = (old + 104_729) % N + 1;
            black_box(block_on(log.consistency_proof(old, N)).expect("proof"))
        });
    });
    let old_root = block_on(log.root_at(654_321)).expect("root");
    let cproof = block_on(log.consistency_proof(654_321, N)).expect("proof");
    group.bench_function("consistency_verify", |b| {
        b.iter(|| {
            merkle::verify_consistency(654_321, N, &old_root, &head.root, black_box(&cproof))
                .expect("verifies")
        });
    });
    group.bench_function("tree_head", |b| {
        b.iter(|| black_box(block_on(log.root_at(N)).expect("root")))
    });

    let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).expect("key");
    block_on(log.checkpoint(&signer)).expect("checkpoint");
    let verifier = signer.verifier();
    group.bench_function("tlog_proof_file_create", |b| {
        b.iter(|| {
            black_box(
                block_on(log.prove(777_777, None, &verifier))
                    .expect("prove")
                    .to_text(),
            )
        });
    });
    let file = block_on(log.prove(777_777, None, &verifier))
        .expect("prove")
        .to_text();
    group.bench_function("tlog_proof_file_verify", |b| {
        b.iter(|| {
            black_box(verify_proof_file(file.as_bytes(), &verifier, None).expect("verifies"))
        });
    });
    group.finish();
}

/// Leaves of the large-tree bench: 10 million under `cargo bench`, 10,000 when the bench runs
/// as a test (`cargo test --all-targets` runs every bench once, in a debug build).
fn large_tree_size() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        10_000_000
    } else {
        10_000
    }
}

/// The dense stored-hash table ([`merkle::stored_hash_index`] order) of a log of `n` leaves,
/// appended in chunks of 100,000 as the log would store them.
fn hash_table(n: u64) -> Vec<Hash> {
    let mut table: Vec<Hash> = Vec::with_capacity(usize::try_from(2 * n).unwrap_or(0));
    let mut next = 0u64;
    while next < n {
        let end = (next + 100_000).min(n);
        let leaves: Vec<Hash> = (next..end)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let batch = merkle::append_leaves(next, &leaves, &table).expect("append");
        assert_eq!(batch.first_index, table.len() as u64, "dense layout");
        table.extend(batch.hashes);
        next = end;
    }
    table
}

fn bench_proofs_large(c: &mut Criterion) {
    let n = large_tree_size();
    let started = Instant::now();
    let table = hash_table(n);
    eprintln!(
        "proof_10M: built the hash table of {n} leaves ({} hashes) in {:.1} s",
        table.len(),
        started.elapsed().as_secs_f64()
    );
    let root = merkle::tree_hash(n, &table).expect("root");
    let mut group = c.benchmark_group("proof_10M");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut index = 0u64;
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            index = (index + 7_919_993) % n;
            black_box(merkle::inclusion_proof(index, n, &table).expect("proof"))
        });
    });
    let at = (n / 3 + 12_345) % n;
    let proof = merkle::inclusion_proof(at, n, &table).expect("proof");
    let leaf = merkle::leaf_hash(&at.to_be_bytes());
    group.bench_function("inclusion_verify", |b| {
        b.iter(|| {
            merkle::verify_inclusion(at, n, black_box(&leaf), &proof, &root).expect("verifies")
        });
    });
    let mut old = 1u64;
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            old = (old + 1_047_299) % n + 1;
            black_box(merkle::consistency_proof(old, n, &table).expect("proof"))
        });
    });
    group.bench_function("tree_head", |b| {
        b.iter(|| black_box(merkle::tree_hash(n, &table).expect("root")))
    });
    group.finish();
}

fn bench_checkpoints(c: &mut Criterion) {
    let (signer, _) = NoteSigner::generate(DEFAULT_ORIGIN).expect("key");
    let verifier = signer.verifier();
    let cp = Checkpoint::new(DEFAULT_ORIGIN, 1_000_000, merkle::leaf_hash(b"root"));
    let signed = cp.sign(&signer).expect("sign");
    let mut group = c.benchmark_group("checkpoint");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("sign", |b| {
        b.iter(|| black_box(cp.sign(&signer).expect("sign")))
    });
    group.bench_function("open_and_verify", |b| {
        b.iter(|| black_box(SignedCheckpoint::open(&signed.note, &verifier).expect("verifies")));
    });
    group.bench_function("log_checkpoint_after_100_appends", |b| {
        b.iter_batched(
            || {
                let log = log_of(1_000);
                block_on(log.checkpoint(&signer)).expect("first checkpoint");
                block_on(log.append((1_000..1_100).map(|i| entry(i, 0)).collect()))
                    .expect("append");
                log
            },
            |log| black_box(block_on(log.checkpoint(&signer)).expect("checkpoint")),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_append,
    bench_checkpoints,
    bench_proofs,
    bench_proofs_large
);
criterion_main!(benches);
