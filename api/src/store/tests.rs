//! The storage contract of `chop_archive::log::LogStorage`, run against SQLite and PostgreSQL.

use std::sync::Arc;

use chop_archive::Hash;
use chop_archive::log::{AppendOutcome, Log, LogStorage, NewEntry, StoredCheckpoint, verify_log};
use chop_archive::merkle;
use chop_archive::note::NoteSigner;
use chop_archive::record::{NewRecord, Record, RecordKind, Timestamp, verify_chain};

use super::testing::for_each_backend;
use super::{Evidence, Store};
use crate::archive::{AppendError, Appender, GroupCommit};

fn entry(i: u64, key: Option<&str>) -> NewEntry {
    let mut r = NewRecord::new(RecordKind::DocumentSealed, "user:clerk");
    r.time = Timestamp::parse("2025-06-01T00:00:00.000000Z").unwrap();
    r.subject = vec![format!("document:{i}")];
    NewEntry {
        idempotency_key: key.map(str::to_owned),
        record: r,
    }
}

fn signer() -> NoteSigner {
    NoteSigner::generate("chop.local/archive").unwrap().0
}

async fn raw(store: &Store, sql: &'static str) {
    match store {
        Store::Sqlite(s) => s.execute_raw(sql).await,
        Store::Postgres(p) => p.execute_raw(sql).await,
    }
}

#[tokio::test]
async fn appends_build_a_chained_tree_with_stored_nodes() {
    for_each_backend(|store| async move {
        let log = Log::new(store.clone());
        assert_eq!(
            log.head().await.unwrap(),
            chop_archive::log::LogHead::empty()
        );
        for chunk in (0..100u64).collect::<Vec<_>>().chunks(13) {
            let receipts = log
                .append(chunk.iter().map(|i| entry(*i, None)).collect())
                .await
                .unwrap();
            assert_eq!(
                receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
                chunk.to_vec()
            );
        }
        let head = log.head().await.unwrap();
        assert_eq!(head.size, 100);
        assert_eq!(head.root, log.root_at(100).await.unwrap());
        let records: Vec<Record> = store
            .read_records(0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|r| Record::from_canonical_bytes(&r.bytes).unwrap())
            .collect();
        assert_eq!(records.len(), 100);
        verify_chain(&records).unwrap();
        assert_eq!(head.last_record_hash, records[99].hash().unwrap());
        // Every node is stored at its dense slot: a proof is one read of O(log n) slots.
        let all: Vec<u64> = (0..merkle::stored_hash_count(100)).collect();
        assert_eq!(store.read_hashes(&all).await.unwrap().len(), all.len());
        assert!(
            store
                .read_hashes(&[merkle::stored_hash_count(100)])
                .await
                .is_err(),
            "a missing slot is an error"
        );
        for i in [0, 1, 37, 99] {
            let slots = merkle::inclusion_proof_indexes(i, 100).unwrap();
            assert!(
                slots.len() <= 2 * 7,
                "{} slots for an inclusion proof in 100",
                slots.len()
            );
            let proof = log.inclusion_proof(i, 100).await.unwrap();
            merkle::verify_inclusion(
                i,
                100,
                &records[i as usize].leaf_hash().unwrap(),
                &proof,
                &head.root,
            )
            .unwrap();
        }
        let old = log.root_at(40).await.unwrap();
        merkle::verify_consistency(
            40,
            100,
            &old,
            &head.root,
            &log.consistency_proof(40, 100).await.unwrap(),
        )
        .unwrap();
        let report = verify_log(&store, &signer().verifier()).await.unwrap();
        assert!(report.is_ok(), "{} {:?}", store.backend(), report.problems);
        // Paging and kinds.
        let page = store
            .list_records(95, Some("document.sealed"), 3)
            .await
            .unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [95, 96, 97]);
        assert!(
            store
                .list_records(0, Some("licence.issued"), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.read_records(100, 200).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn storage_refuses_stale_batches_and_duplicate_keys_writing_nothing() {
    for_each_backend(|store| async move {
        let log = Log::new(store.clone());
        log.append(vec![entry(0, Some("k0")), entry(1, None)])
            .await
            .unwrap();
        // A batch built on size 2, after another writer appended: refused.
        let head = store.head().await.unwrap();
        log.append(vec![entry(2, None)]).await.unwrap();
        let stale = batch_on(&store, head, vec![entry(9, Some("k9"))]).await;
        assert_eq!(store.append(&stale).await.unwrap(), AppendOutcome::Conflict);
        assert_eq!(store.head().await.unwrap().size, 3);
        assert_eq!(
            store
                .find_idempotency_keys(&["k9".into(), "k0".into()])
                .await
                .unwrap(),
            [None, Some(0)]
        );
        // A fresh batch reusing an existing key is refused whole.
        let head = store.head().await.unwrap();
        let dup = batch_on(&store, head, vec![entry(3, None), entry(4, Some("k0"))]).await;
        assert_eq!(store.append(&dup).await.unwrap(), AppendOutcome::Conflict);
        assert_eq!(store.head().await.unwrap(), head, "nothing written");
        assert_eq!(store.read_records(0, 100).await.unwrap().len(), 3);
        let report = verify_log(&store, &signer().verifier()).await.unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    })
    .await;
}

/// The batch `Log::append` would build for `entries` on `head` (read from `store`).
async fn batch_on(
    store: &Store,
    head: chop_archive::log::LogHead,
    entries: Vec<NewEntry>,
) -> chop_archive::log::AppendBatch {
    use chop_archive::log::{AppendBatch, BatchRecord, LogHead};
    use chop_archive::record::RecordBuilder;
    let mut builder = RecordBuilder::resume(head.size, head.last_record_hash);
    let mut records = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let encoded = builder.build(e.record).unwrap();
        assert_eq!(encoded.record.seq, head.size + i as u64);
        records.push(BatchRecord::new(encoded, e.idempotency_key));
    }
    let leaves: Vec<Hash> = records.iter().map(|r| r.leaf_hash).collect();
    let indexes = merkle::append_batch_indexes(head.size, leaves.len() as u64).unwrap();
    let existing = if indexes.is_empty() {
        Vec::new()
    } else {
        store.read_hashes(&indexes).await.unwrap()
    };
    let computed = merkle::append_batch(head.size, &leaves, &existing).unwrap();
    let last = records.last().map(|r| r.record_hash).unwrap();
    AppendBatch {
        base_size: head.size,
        first_hash_index: computed.first_index,
        hashes: computed.hashes,
        new_head: LogHead {
            size: computed.tree_size,
            root: computed.root,
            last_record_hash: last,
        },
        records,
    }
}

#[tokio::test]
async fn idempotency_keys_return_the_first_receipt() {
    for_each_backend(|store| async move {
        let log = Log::new(store.clone());
        let first = log
            .append(vec![entry(0, Some("req-1")), entry(1, None)])
            .await
            .unwrap();
        let retry = log.append(vec![entry(0, Some("req-1"))]).await.unwrap();
        assert_eq!(
            (retry[0].seq, retry[0].duplicate, retry[0].leaf_hash),
            (first[0].seq, true, first[0].leaf_hash)
        );
        assert_eq!(store.head().await.unwrap().size, 2);
    })
    .await;
}

#[tokio::test]
async fn checkpoints_are_compared_and_swapped() {
    for_each_backend(|store| async move {
        let note = |size: u64| StoredCheckpoint {
            size,
            note: format!("note {size}\n"),
        };
        assert_eq!(store.latest_checkpoint().await.unwrap(), None);
        assert!(
            !store.swap_checkpoint(Some(3), &note(5)).await.unwrap(),
            "there is no checkpoint of size 3"
        );
        assert!(store.swap_checkpoint(None, &note(5)).await.unwrap());
        assert!(
            !store.swap_checkpoint(None, &note(6)).await.unwrap(),
            "stale expectation"
        );
        assert!(
            !store.swap_checkpoint(Some(5), &note(5)).await.unwrap(),
            "must grow"
        );
        assert!(store.swap_checkpoint(Some(5), &note(9)).await.unwrap());
        assert_eq!(store.latest_checkpoint().await.unwrap(), Some(note(9)));
        assert_eq!(
            store.list_checkpoints(None, 10).await.unwrap(),
            [note(5), note(9)]
        );
        assert_eq!(
            store.list_checkpoints(Some(5), 10).await.unwrap(),
            [note(9)]
        );
        assert_eq!(store.list_checkpoints(None, 1).await.unwrap(), [note(5)]);

        // Racing signers: exactly one wins each round.
        let store = Arc::new(store);
        let wins = futures_join(
            (0..8)
                .map(|i| {
                    let s = store.clone();
                    async move {
                        s.swap_checkpoint(
                            Some(9),
                            &StoredCheckpoint {
                                size: 10 + i,
                                note: format!("n{i}\n"),
                            },
                        )
                        .await
                        .unwrap()
                    }
                })
                .collect(),
        )
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    })
    .await;
}

async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_shares_transactions_and_acknowledges_after_commit() {
    for_each_backend(|store| async move {
        let (appender, writer) = Appender::spawn(store.clone(), GroupCommit::default());
        let tasks = 32u64;
        let per_task = 20u64;
        let results = futures_join(
            (0..tasks)
                .map(|t| {
                    let a = appender.clone();
                    async move {
                        let mut seqs = Vec::new();
                        for i in 0..per_task {
                            let key = format!("t{t}-{i}");
                            let r = a.append_one(entry(i, Some(&key))).await.unwrap();
                            assert!(!r.duplicate);
                            seqs.push((key, r.seq));
                        }
                        seqs
                    }
                })
                .collect(),
        )
        .await;
        let acked: Vec<(String, u64)> = results.into_iter().flatten().collect();
        let mut seqs: Vec<u64> = acked.iter().map(|(_, s)| *s).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..tasks * per_task).collect::<Vec<_>>());
        // Every acknowledged key is stored at its seq.
        let keys: Vec<String> = acked.iter().map(|(k, _)| k.clone()).collect();
        let found = store.find_idempotency_keys(&keys).await.unwrap();
        assert_eq!(
            found,
            acked.iter().map(|(_, s)| Some(*s)).collect::<Vec<_>>()
        );
        let stats = appender.stats();
        assert_eq!(stats.entries(), tasks * per_task);
        assert!(
            stats.commits() < stats.entries(),
            "{} commits for {} appends: no grouping",
            stats.commits(),
            stats.entries()
        );
        // A retried append returns the first receipt.
        let again = appender.append_one(entry(0, Some("t3-7"))).await.unwrap();
        assert!(again.duplicate);
        assert_eq!(Some(again.seq), found[(3 * per_task + 7) as usize]);
        drop(appender);
        writer.finish().await;
        let report = verify_log(&store, &signer().verifier()).await.unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_job_does_not_fail_its_batch_neighbours() {
    for_each_backend(|store| async move {
        let (appender, writer) = Appender::spawn(store.clone(), GroupCommit::default());
        let mut bad = entry(1, None);
        bad.record.actor.clear();
        let (good, bad, long_key) = tokio::join!(
            appender.append_one(entry(0, None)),
            appender.append(vec![entry(2, None), bad]),
            appender.append_one(entry(3, Some(&"k".repeat(300)))),
        );
        assert_eq!(good.unwrap().seq, 0);
        assert!(
            matches!(bad, Err(AppendError::Invalid { position: 1, .. })),
            "{bad:?}"
        );
        assert!(
            matches!(long_key, Err(AppendError::Invalid { position: 0, .. })),
            "{long_key:?}"
        );
        assert_eq!(store.head().await.unwrap().size, 1);
        drop(appender);
        writer.finish().await;
    })
    .await;
}

#[tokio::test]
async fn verify_log_finds_rows_changed_behind_the_log() {
    for_each_backend(|store| async move {
        let log = Log::new(store.clone());
        log.append((0..10).map(|i| entry(i, None)).collect())
            .await
            .unwrap();
        let s = signer();
        log.checkpoint(&s).await.unwrap();
        assert!(verify_log(&store, &s.verifier()).await.unwrap().is_ok());
        raw(
            &store,
            "UPDATE log_records SET bytes = bytes || bytes WHERE seq = 4",
        )
        .await;
        let report = verify_log(&store, &s.verifier()).await.unwrap();
        let text: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|p| p.starts_with("record 4:")), "{text:?}");
        assert!(
            text.iter().any(|p| p.starts_with("checkpoint of size 10:")),
            "{text:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn evidence_and_documents_are_stored_once() {
    for_each_backend(|store| async move {
        let body = br#"{"report":1}"#.to_vec();
        let e = Evidence {
            sha256: Hash::sha256(&body).to_hex(),
            document_sha256: Hash::sha256(b"pdf").to_hex(),
            media_type: "application/json".into(),
            body,
        };
        store.put_evidence(&e).await.unwrap();
        store.put_evidence(&e).await.unwrap();
        assert_eq!(store.evidence(&e.sha256).await.unwrap(), Some(e.clone()));
        assert_eq!(store.evidence(&"0".repeat(64)).await.unwrap(), None);
        store
            .put_document(&e.document_sha256, 3, "application/pdf")
            .await
            .unwrap();
        store
            .put_document(&e.document_sha256, 3, "application/pdf")
            .await
            .unwrap();
    })
    .await;
}
