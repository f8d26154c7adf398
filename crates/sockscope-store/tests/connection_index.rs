//! The per-connection index (`connection_packs`, filled by the writer in chunks): every
//! per-connection read gives the same answer whether a frame is in the index yet or only in
//! `frames`, deleting a session takes its packs along, and files of schema 11 (with the old
//! `frames(connection_id, seq)` index) and 12 (with one row per frame) are converted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use bytes::Bytes;
use common::{rt, session_with_conns, T0};
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{FrameFilter, FrameQuery, Store};
use std::path::Path;
use std::time::{Duration, Instant};

const FOREVER: Duration = Duration::from_secs(60);

/// Frame `i` (seq `i + 1`): connection `i % 3`, except every seventh frame, which goes to
/// the third connection too (so the connections differ in size).
fn conn_of(i: usize) -> usize {
    if i.is_multiple_of(7) {
        2
    } else {
        i % 3
    }
}

fn text(s: SessionId, c: ConnectionId, i: usize, fin: bool, opcode: Opcode) -> FrameRecord {
    let mut f = FrameRecord::message(
        s,
        c,
        Direction::Client,
        opcode,
        Bytes::from(format!("frame {i}")),
        T0 + i as i64,
    );
    f.fin = fin;
    f
}

/// `n` frames over `conns`; frames `frag..frag + 3` of the first connection's direction
/// pattern are one fragmented message on connection 0 (text, continuation, continuation
/// with FIN), spread over 3 × 1,000 seqs. Returns each connection's seqs.
fn record(
    store: &Store,
    s: SessionId,
    conns: &[ConnectionId],
    n: usize,
    frag: usize,
) -> Vec<Vec<i64>> {
    let mut want = vec![Vec::new(); conns.len()];
    let mut batch = Vec::new();
    for i in 0..n {
        let (c, f) = if i == frag {
            (0, text(s, conns[0], i, false, Opcode::Text))
        } else if i == frag + 1000 {
            (0, text(s, conns[0], i, false, Opcode::Continuation))
        } else if i == frag + 2000 {
            (0, text(s, conns[0], i, true, Opcode::Continuation))
        } else {
            let c = conn_of(i);
            // Nothing else on connection 0 between the fragments: a new message would end it.
            let c = if c == 0 && i > frag && i < frag + 2000 {
                1
            } else {
                c
            };
            (c, text(s, conns[c], i, true, Opcode::Text))
        };
        want[c].push(i as i64 + 1);
        batch.push(f);
        if batch.len() == 512 {
            rt().block_on(store.record_frames(std::mem::take(&mut batch)))
                .expect("record");
        }
    }
    rt().block_on(store.record_frames(batch)).expect("record");
    store.flush_blocking().expect("flush");
    want
}

fn raw(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    c
}

fn watermark(path: &Path) -> (i64, i64, i64) {
    raw(path)
        .query_row(
            "SELECT (SELECT indexed_upto FROM connection_index_progress), \
             (SELECT COALESCE(MAX(id), 0) FROM frames), \
             (SELECT COALESCE(SUM(n), 0) FROM connection_packs)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("watermark")
}

/// Waits until the writer (idle) has every frame in the index, and in the full-text index
/// (after which it has nothing left to do while idle).
fn wait_indexed(path: &Path) {
    let start = Instant::now();
    loop {
        let (upto, max, _) = watermark(path);
        let fts: i64 = raw(path)
            .query_row("SELECT indexed_upto FROM fts_progress", [], |r| r.get(0))
            .expect("fts progress");
        if upto == max && fts == max {
            return;
        }
        assert!(start.elapsed() < FOREVER, "index stuck at {upto} of {max}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Leaves only the frames up to id `upto` in the index, as if the writer had packed them
/// and no more (one pack per connection).
fn cut_back(path: &Path, upto: i64) {
    let mut c = raw(path);
    let tx = c.transaction().expect("begin");
    tx.execute_batch(
        "DELETE FROM connection_packs; UPDATE connection_index_progress SET indexed_upto = 0;",
    )
    .expect("empty the index");
    sockscope_store::index_connections_now(&tx, upto).expect("pack");
    tx.commit().expect("commit");
}

fn filtered(store: &Store, s: SessionId, c: ConnectionId) -> Vec<i64> {
    let mut q = FrameQuery::new(
        s,
        FrameFilter {
            connection: Some(c),
            ..Default::default()
        },
    )
    .expect("query");
    let count = store.query_count(&mut q, FOREVER).expect("count");
    assert!(count.complete);
    let mut out = Vec::new();
    while (out.len() as u64) < count.count {
        let page = store
            .query_page(&mut q, out.len() as u64, 500)
            .expect("page");
        assert!(!page.is_empty());
        out.extend(page.iter().map(|r| r.frame.seq));
    }
    out
}

/// Every per-connection read against what was recorded.
fn check_reads(
    store: &Store,
    s: SessionId,
    conns: &[ConnectionId],
    want: &[Vec<i64>],
    frag: usize,
) {
    let last = want.iter().flatten().copied().max().unwrap_or(0);
    for (i, &c) in conns.iter().enumerate() {
        assert_eq!(filtered(store, s, c), want[i], "timeline of connection {i}");
        let stats = store.stats(s, Some(c), 10).expect("stats");
        assert_eq!(
            stats.totals.client.frames,
            want[i].len() as u64,
            "stats of connection {i}"
        );
    }
    let mid = last / 2;
    let counts = store.connection_frame_counts(s, mid).expect("counts");
    for (i, &c) in conns.iter().enumerate() {
        let n = want[i].iter().filter(|&&q| q <= mid).count() as i64;
        assert!(
            counts.contains(&(c, n)),
            "count of connection {i} up to {mid}: {counts:?}"
        );
    }
    // The fragmented message, read from its first frame across the watermark.
    let first = frag as i64 + 1;
    let parts: Vec<i64> = store
        .message_fragments(s, first, 16)
        .expect("fragments")
        .iter()
        .map(|f| f.seq)
        .collect();
    assert_eq!(parts, vec![first, first + 1000, first + 2000]);
    let messages = store.connection_messages(conns[0]).expect("messages");
    assert_eq!(
        messages.len(),
        want[0].len() - 2,
        "messages of connection 0"
    );
    assert!(messages.iter().any(|m| m.payload.as_ref()
        == format!("frame {frag}frame {}frame {}", frag + 1000, frag + 2000).as_bytes()));
}

#[test]
fn reads_by_connection_see_indexed_and_unindexed_frames_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("idx.db");
    let store = Store::open(&path).expect("open");
    let (s, conns) = rt().block_on(session_with_conns(&store, "idx", 3));
    let frag = 39_000;
    let want = record(&store, s, &conns, 45_000, frag);

    // All in the index.
    wait_indexed(&path);
    let (_, max, entries) = watermark(&path);
    assert_eq!((max, entries), (45_000, 45_000));
    check_reads(&store, s, &conns, &want, frag);

    // The last 8,000 frames not in it yet, as between two chunks: the fragmented message
    // starts in the index and ends outside it. (The writer is idle with nothing new, so it
    // leaves this as it is.)
    cut_back(&path, 37_000);
    assert_eq!(watermark(&path), (37_000, 45_000, 37_000));
    check_reads(&store, s, &conns, &want, frag);

    // Nothing in it at all.
    cut_back(&path, 0);
    check_reads(&store, s, &conns, &want, frag);
    drop(store);

    // Reopened, the writer catches up by itself.
    let store = Store::open(&path).expect("reopen");
    wait_indexed(&path);
    assert_eq!(watermark(&path), (45_000, 45_000, 45_000));
    check_reads(&store, s, &conns, &want, frag);
}

#[test]
fn capture_fills_the_index_in_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chunks.db");
    let store = Store::open(&path).expect("open");
    let (s, conns) = rt().block_on(session_with_conns(&store, "idx", 3));
    // However busy the writer is, the index follows capture within 32,768 frames and a
    // batch, and while capture goes on.
    let rt = rt();
    let mut batch = Vec::new();
    let mut max_entries = 0;
    for i in 0..80_000usize {
        batch.push(text(s, conns[conn_of(i)], i, true, Opcode::Text));
        if batch.len() == 1000 {
            rt.block_on(store.record_frames(std::mem::take(&mut batch)))
                .expect("record");
        }
        if i % 4000 == 3999 {
            store.flush_blocking().expect("flush");
            let (upto, max, entries) = watermark(&path);
            assert_eq!(upto, entries, "the watermark matches the entries");
            assert!(max - upto <= 32_768 + 16_384 + 1000, "{upto} of {max}");
            max_entries = max_entries.max(entries);
        }
    }
    assert!(
        max_entries >= 65_536,
        "indexed while recording: {max_entries}"
    );
    store.flush_blocking().expect("flush");
    wait_indexed(&path);
}

#[test]
fn a_deleted_session_leaves_no_packs_and_reused_ids_are_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("reuse.db");
    let store = Store::open(&path).expect("open");
    let (old, old_conns) = rt().block_on(session_with_conns(&store, "idx", 3));
    record(&store, old, &old_conns, 5_000, 100);
    wait_indexed(&path);
    rt().block_on(store.delete_session(old)).expect("delete");
    let (upto, max, entries) = watermark(&path);
    assert_eq!((max, entries), (0, 0), "frames and packs gone");
    let packs: i64 = raw(&path)
        .query_row("SELECT COUNT(*) FROM connection_packs", [], |r| r.get(0))
        .expect("packs");
    assert_eq!(packs, 0, "no empty pack left");
    assert_eq!(upto, 0, "the watermark is not above the frames left");

    // The new session's frames get the deleted ones' ids (SQLite reuses rowids past the
    // largest): they must still be indexed and found.
    let (s, conns) = rt().block_on(session_with_conns(&store, "idx", 3));
    let want = record(&store, s, &conns, 3_000, 200);
    assert_eq!(watermark(&path).1, 3_000, "ids start over");
    check_reads(&store, s, &conns, &want, 200);
    wait_indexed(&path);
    assert_eq!(watermark(&path), (3_000, 3_000, 3_000));
    check_reads(&store, s, &conns, &want, 200);
}

/// A file that `downgrade` turned into an older schema's gets its packs at open: every frame
/// packed, nothing named like `gone` left in the schema, every read right.
fn converted(name: &str, downgrade: &str, gone: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    let store = Store::open(&path).expect("open");
    let (s, conns) = rt().block_on(session_with_conns(&store, "idx", 3));
    let want = record(&store, s, &conns, 4_000, 300);
    drop(store);
    raw(&path).execute_batch(downgrade).expect("downgrade");

    let store = Store::open(&path).expect("migrate");
    assert_eq!(watermark(&path), (4_000, 4_000, 4_000));
    let left: i64 = raw(&path)
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE ?1",
            [gone],
            |r| r.get(0),
        )
        .expect("schema");
    assert_eq!(left, 0, "{gone} is dropped");
    check_reads(&store, s, &conns, &want, 300);
}

#[test]
fn a_schema_11_file_gets_packs_from_its_index() {
    converted(
        "eleven.db",
        "DROP TABLE connection_packs; DROP TABLE connection_index_progress; \
         CREATE INDEX frames_by_connection_seq ON frames(connection_id, seq); \
         PRAGMA user_version = 11;",
        "frames_by_connection_seq",
    );
}

#[test]
fn a_schema_12_file_gets_packs_from_its_frames() {
    // One row per frame, the first 3,000 of them in the table.
    converted(
        "twelve.db",
        "DROP TABLE connection_packs; \
         CREATE TABLE frames_by_connection (conn_id INTEGER NOT NULL, \
           frame_seq INTEGER NOT NULL, frame_id INTEGER NOT NULL, \
           PRIMARY KEY (conn_id, frame_seq)) WITHOUT ROWID; \
         INSERT INTO frames_by_connection SELECT connection_id, seq, id FROM frames \
           WHERE id <= 3000; \
         UPDATE connection_index_progress SET indexed_upto = 3000; \
         CREATE TRIGGER frames_by_connection_delete AFTER DELETE ON frames BEGIN \
           DELETE FROM frames_by_connection WHERE conn_id = old.connection_id \
           AND frame_seq = old.seq AND frame_id = old.id; END; \
         PRAGMA user_version = 12;",
        "frames_by_connection%",
    );
}
