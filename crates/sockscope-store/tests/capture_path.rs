//! The capture hot path: frames queued a read at a time (`record_frames`) under a byte
//! budget, and the full-text index built beside capture (idle time, or before a search).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use bytes::Bytes;
use common::*;
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{SessionKind, Store, QUEUE_BYTES};
use std::time::{Duration, Instant};

fn text(s: SessionId, c: ConnectionId, i: usize, body: &str) -> FrameRecord {
    let dir = if i.is_multiple_of(2) {
        Direction::Client
    } else {
        Direction::Server
    };
    FrameRecord::message(
        s,
        c,
        dir,
        Opcode::Text,
        Bytes::from(body.to_owned()),
        i as i64,
    )
}

fn indexed_upto(path: &std::path::Path) -> (i64, i64) {
    let c = rusqlite::Connection::open(path).expect("open");
    c.query_row(
        "SELECT (SELECT indexed_upto FROM fts_progress), (SELECT COALESCE(MAX(id), 0) FROM frames)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("watermark")
}

#[test]
fn reads_queued_whole_keep_their_order_and_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("c.db")).expect("open");
    rt().block_on(async {
        let (s, c) = session_with_connection(&store, "reads", SessionKind::Proxy).await;
        let mut n = 0;
        for read in 0..50 {
            let frames: Vec<_> = (0..40)
                .map(|k| {
                    n += 1;
                    text(s, c, n, &format!("read {read} frame {k} word{n}"))
                })
                .collect();
            store.record_frames(frames).await.expect("queue");
        }
        // Single frames and reads mix in capture order.
        store
            .record_frame(text(s, c, 2001, "single"))
            .await
            .expect("queue");
        store
            .record_frames(Vec::new())
            .await
            .expect("nothing to queue");
        store.flush().await.expect("flush");
        let frames = store.frames_after(s, 0, 5000).expect("frames");
        assert_eq!(frames.len(), 2001);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.seq, i as i64 + 1);
            assert_eq!(f.ts_us, i as i64 + 1, "capture order kept");
        }
        assert_eq!(frames[0].preview, "read 0 frame 0 word1");
        assert_eq!(store.session(s).expect("s").frames, 2001);
        assert_eq!(store.search("word1234", 10).expect("search").len(), 1);
    });
}

#[test]
fn a_read_larger_than_the_byte_budget_still_goes_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("b.db")).expect("open");
    rt().block_on(async {
        let (s, c) = session_with_connection(&store, "big", SessionKind::Proxy).await;
        let big = vec![b'x'; 1 << 20];
        // 40 MiB in one read (over QUEUE_BYTES) and then more: neither may wait forever.
        let frames: Vec<_> = (0..40)
            .map(|i| {
                FrameRecord::message(
                    s,
                    c,
                    Direction::Server,
                    Opcode::Binary,
                    Bytes::from(big.clone()),
                    i,
                )
            })
            .collect();
        const { assert!(40 << 20 > QUEUE_BYTES) };
        tokio::time::timeout(Duration::from_secs(60), async {
            store.record_frames(frames).await.expect("queue");
            for i in 0..80 {
                store
                    .record_frames(vec![FrameRecord::message(
                        s,
                        c,
                        Direction::Client,
                        Opcode::Binary,
                        Bytes::from(big.clone()),
                        100 + i,
                    )])
                    .await
                    .expect("queue");
            }
            store.flush().await.expect("flush");
        })
        .await
        .expect("the budget is given back after each batch");
        assert_eq!(store.session(s).expect("s").frames, 120);
    });
}

#[test]
fn the_index_catches_up_when_idle_and_before_a_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("i.db");
    let store = Store::open(&path).expect("open");
    rt().block_on(async {
        let (s, c) = session_with_connection(&store, "idle", SessionKind::Proxy).await;
        let frames: Vec<_> = (0..3000)
            .map(|i| text(s, c, i, &format!("alpha{i} beta")))
            .collect();
        store.record_frames(frames).await.expect("queue");
        store.flush().await.expect("flush");
    });
    // No search asked: the writer indexes on its own once nothing else is queued.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (upto, max) = indexed_upto(&path);
        if upto == max && max > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle indexing stalled at {upto} of {max}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.search("beta", 10_000).expect("search").len(), 3000);
    assert_eq!(store.search("alpha2999", 10).expect("search").len(), 1);
}

#[test]
fn deleting_the_newest_frames_keeps_new_ones_searchable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.db");
    let store = Store::open(&path).expect("open");
    rt().block_on(async {
        let (a, ca) = session_with_connection(&store, "old", SessionKind::Proxy).await;
        for i in 0..20 {
            store
                .record_frame(text(a, ca, i, "zebra old"))
                .await
                .expect("queue");
        }
        store.flush().await.expect("flush");
        assert_eq!(store.search("zebra", 100).expect("search").len(), 20);
        // The newest frames go: their ids are used again by the next ones.
        store.delete_session(a).await.expect("delete");
        let (b, cb) = session_with_connection(&store, "new", SessionKind::Proxy).await;
        for i in 0..5 {
            store
                .record_frame(text(b, cb, i, "zebra new"))
                .await
                .expect("queue");
        }
        store.flush().await.expect("flush");
        let hits = store.search("zebra", 100).expect("search");
        assert_eq!(hits.len(), 5);
        assert!(hits.iter().all(|h| h.session == b));
        let (upto, max) = indexed_upto(&path);
        assert_eq!(upto, max);
    });
}

#[test]
fn reopening_indexes_what_a_previous_run_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.db");
    {
        let store = Store::open(&path).expect("open");
        rt().block_on(async {
            let (s, c) = session_with_connection(&store, "left", SessionKind::Proxy).await;
            for i in 0..10 {
                store
                    .record_frame(text(s, c, i, "kiwi"))
                    .await
                    .expect("queue");
            }
            store.flush().await.expect("flush");
        });
    }
    {
        // As if the app had stopped before indexing them.
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch("DELETE FROM frames_fts; UPDATE fts_progress SET indexed_upto = 0;")
            .expect("unindex");
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.search("kiwi", 100).expect("search").len(), 10);
}

#[test]
fn a_timeline_full_text_filter_sees_frames_just_captured() {
    use sockscope_store::{FrameFilter, FrameQuery};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("q.db")).expect("open");
    rt().block_on(async {
        let (s, c) = session_with_connection(&store, "live", SessionKind::Proxy).await;
        let mut q = FrameQuery::new(
            s,
            FrameFilter {
                fts: Some("mango".into()),
                ..Default::default()
            },
        )
        .expect("query");
        for round in 0..3 {
            // Queried right after each commit: no idle time for the background indexer.
            let frames: Vec<_> = (0..500)
                .map(|i| text(s, c, i, if i % 5 == 0 { "mango tree" } else { "apple" }))
                .collect();
            store.record_frames(frames).await.expect("queue");
            store.flush().await.expect("flush");
            let n = store
                .query_count(&mut q, Duration::from_secs(30))
                .expect("count");
            assert_eq!((n.count, n.complete), (100 * (round + 1), true));
            let page = store.query_page(&mut q, 0, 5).expect("page");
            assert_eq!(page.len(), 5);
        }
    });
}
