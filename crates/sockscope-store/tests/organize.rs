//! Organising sessions (rename, notes, tags, pin, delete, sorted lists, sizes) and full-text
//! search across sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::*;
use sockscope_proto::{Direction, Opcode};
use sockscope_store::{NewConnection, SessionKind, SessionSort, Store, StoreError};

#[test]
fn rename_notes_tags_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("o.db")).expect("open");
    rt().block_on(async {
        let a = store
            .create_session("a", SessionKind::Client)
            .await
            .expect("a");
        let b = store
            .create_session("b", SessionKind::Proxy)
            .await
            .expect("b");
        store
            .rename_session(a, "  <b>renamed</b>\u{1}  ")
            .await
            .expect("rename");
        store.set_notes(a, "line 1\nline 2").await.expect("notes");
        store
            .set_tags(a, &[" prod ".into(), "bug-42".into(), "prod".into()])
            .await
            .expect("tags");
        store.set_pinned(a, true).await.expect("pin");
        let s = store.session(a).expect("a");
        assert_eq!(s.name, "<b>renamed</b>\u{1}");
        assert_eq!(s.notes, "line 1\nline 2");
        assert_eq!(s.tags, ["prod", "bug-42"]);
        assert!(s.pinned);
        assert!(!store.session(b).expect("b").pinned);

        // Pinned first, whatever the order.
        let ids = |v: Vec<sockscope_store::SessionSummary>| {
            v.into_iter().map(|s| s.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(store.sessions_sorted(SessionSort::Date).expect("list")),
            [a, b]
        );
        store.set_pinned(a, false).await.expect("unpin");
        assert_eq!(
            ids(store.sessions_sorted(SessionSort::Date).expect("list")),
            [b, a]
        );

        // Bad values are refused before reaching the database.
        for bad in [
            store.rename_session(a, "   ").await,
            store.set_tags(a, &["".into()]).await,
            store.set_tags(a, &["x\ny".into()]).await,
            store.set_tags(a, &["t".repeat(65)]).await,
            store
                .set_tags(a, &(0..65).map(|i| i.to_string()).collect::<Vec<_>>())
                .await,
        ] {
            assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(store.session(a).expect("a").tags, ["prod", "bug-42"]);
        let missing = sockscope_proto::SessionId(999);
        assert!(matches!(
            store.rename_session(missing, "x").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_session(missing).await,
            Err(StoreError::NotFound(_))
        ));
        // The writer goes on after refusing.
        store.set_tags(a, &[]).await.expect("clear tags");
        assert!(store.session(a).expect("a").tags.is_empty());
    });
}

#[test]
fn sizes_and_sorting_by_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("s.db")).expect("open");
    rt().block_on(async {
        let big = rich_session(&store, "big").await;
        let (small, c) = session_with_connection_at(
            &store,
            "small",
            SessionKind::Client,
            "ws://127.0.0.1:1/",
            T0,
        )
        .await;
        store
            .record_frame(frame(small, c, Direction::Client, Opcode::Text, b"tiny", 1))
            .await
            .expect("frame");
        store.flush().await.expect("flush");
        // bytes is the sum of the frames' wire lengths (the truncated one counts 100000).
        let frames = store.frames_after(big, 0, 100).expect("frames");
        let sum: u64 = frames.iter().map(|f| f.len).sum();
        assert_eq!(store.session(big).expect("big").bytes, sum as i64);
        assert!(sum > 100_000);
        assert_eq!(store.session(small).expect("small").bytes, 4);
        let by_size: Vec<_> = store
            .sessions_sorted(SessionSort::Size)
            .expect("list")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(by_size, [big, small]);
        let by_date: Vec<_> = store
            .sessions_sorted(SessionSort::Date)
            .expect("list")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(by_date, [small, big]);
        store.set_pinned(small, true).await.expect("pin");
        assert_eq!(
            store.sessions_sorted(SessionSort::Size).expect("list")[0].id,
            small
        );
    });
}

#[test]
fn delete_removes_everything_of_one_session_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.db");
    let store = Store::open(&path).expect("open");
    rt().block_on(async {
        let gone = rich_session(&store, "gone").await;
        let kept = rich_session(&store, "kept").await;
        let gone_conn = store.connections(gone).expect("conns")[0].id;
        assert_eq!(store.search("zebra", 10).expect("search").len(), 2);
        let (s, c, f, fts) = row_counts(&path);
        assert_eq!((s, c, f), (2, 6, 32));
        store.delete_session(gone).await.expect("delete");
        assert!(matches!(store.session(gone), Err(StoreError::NotFound(_))));
        assert_eq!(row_counts(&path), (1, 3, 16, fts / 2));
        let hits = store.search("zebra", 10).expect("search");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].session, kept);
        assert_eq!(store.session(kept).expect("kept").frames, 16);
        // A live connection of the deleted session keeps sending: dropped, and the writer
        // (and the other session) carry on.
        store
            .record_frame(frame(
                gone,
                gone_conn,
                Direction::Client,
                Opcode::Text,
                b"late",
                99,
            ))
            .await
            .expect("queue");
        store.flush().await.expect("flush");
        assert_eq!(row_counts(&path).2, 16);
        // So does a new connection for it: refused alone.
        let late = store
            .create_connection(NewConnection {
                session: gone,
                url: "ws://127.0.0.1:1/late".into(),
                request_headers: vec![],
                insecure: false,
                created_at_us: T0,
            })
            .await;
        assert!(matches!(late, Err(StoreError::NotFound(_))), "{late:?}");
        let kept_conn = store.connections(kept).expect("conns")[0].id;
        store
            .record_frame(frame(
                kept,
                kept_conn,
                Direction::Client,
                Opcode::Text,
                b"more",
                99,
            ))
            .await
            .expect("queue");
        store.flush().await.expect("flush");
        assert_eq!(store.session(kept).expect("kept").frames, 17);
        assert_eq!(store.frames_after(kept, 16, 10).expect("frames")[0].seq, 17);
    });
}

/// Capture batches run without SQLite's foreign-key checks (`writer::foreign_keys`). A delete
/// finishing while another session records must still get the schema's cascades: the
/// deleted session's decoder choices go, and a session made from it loses its origin.
#[test]
fn a_delete_during_capture_still_cascades() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.db");
    let store = Store::open(&path).expect("open");
    rt_mt().block_on(async {
        let (gone, gone_conn) = session_with_connection(&store, "gone", SessionKind::Proxy).await;
        // Several purge steps (`PURGE_FRAMES` each), between capture batches.
        let frames: Vec<_> = (0..5_000)
            .map(|i| sized_frame(gone, gone_conn, i, 64))
            .collect();
        store.record_frames(frames).await.expect("frames");
        store
            .set_decoder_choice(gone, None, Some("msgpack"))
            .await
            .expect("session choice");
        store
            .set_decoder_choice(gone, Some(gone_conn), Some("socketio"))
            .await
            .expect("connection choice");
        let replay = store
            .create_session_with_origin("replay", SessionKind::Replay, gone, Some(gone_conn))
            .await
            .expect("replay");
        assert_eq!(
            store.session(replay).expect("replay").origin_session_id,
            Some(gone)
        );
        let (live, live_conn) = session_with_connection(&store, "live", SessionKind::Proxy).await;
        store.flush().await.expect("flush");

        // Frames of the live session keep coming while the delete runs.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let recorder = {
            let store = store.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let batch: Vec<_> = (i..i + 16)
                        .map(|k| sized_frame(live, live_conn, k, 64))
                        .collect();
                    store.record_frames(batch).await.expect("live frames");
                    i += 16;
                    tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                }
                i
            })
        };
        store.delete_session(gone).await.expect("delete");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sent = recorder.await.expect("recorder");
        store.flush().await.expect("flush");

        assert!(matches!(store.session(gone), Err(StoreError::NotFound(_))));
        let r = store.session(replay).expect("replay");
        assert_eq!(r.origin_session_id, None);
        assert_eq!(r.origin_connection_id, None);
        let c = rusqlite::Connection::open(&path).expect("open");
        let left: i64 = c
            .query_row("SELECT COUNT(*) FROM decoder_choices", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 0, "the deleted session's decoder choices are left");
        assert_eq!(store.session(live).expect("live").frames, sent as i64);
        // Nothing of the deleted session is left (the live one and the replay remain).
        let (s, conns, f, _) = row_counts(&path);
        assert_eq!((s, conns, f), (2, 1, sent as i64));
    });
}

/// A session of `n` text frames of about 5 KB.
async fn big_session(store: &Store, n: i64) -> sockscope_proto::SessionId {
    let (s, c) =
        session_with_connection_at(store, "big", SessionKind::Client, "ws://127.0.0.1:1/", T0)
            .await;
    // In the row (the stores of these tests keep payloads under `ROWS_UP_TO` there): these
    // tests are about the database's pages.
    let payload = "searchable words ".repeat(25);
    assert!(payload.len() < ROWS_UP_TO);
    for i in 0..n {
        store
            .record_frame(frame(
                s,
                c,
                Direction::Server,
                Opcode::Text,
                payload.as_bytes(),
                i,
            ))
            .await
            .expect("frame");
    }
    store.flush().await.expect("flush");
    s
}

#[test]
fn deleting_gives_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.db");
    let store = rows_store(&path);
    assert!(store.storage_info().expect("info").incremental_vacuum);
    rt().block_on(async {
        let s = big_session(&store, 30_000).await;
        let full = store.storage_info().expect("info");
        assert!(full.file_bytes() > 10_000_000, "{full:?}");
        store.delete_session(s).await.expect("delete");
        // The rows are gone when the delete returns; the writer then gives the free pages
        // back in steps (`purge.rs`).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let after = loop {
            let info = store.storage_info().expect("info");
            if info.free_pages == 0 {
                break info;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "space not given back: {info:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert!(
            after.page_count * 10 < full.page_count,
            "{full:?} -> {after:?}"
        );
        assert!(store.search("searchable", 10).expect("search").is_empty());
    });
}

#[test]
fn vacuum_converts_an_old_file_to_incremental() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    {
        // A file made before auto_vacuum was set.
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch("PRAGMA auto_vacuum = NONE; CREATE TABLE t (x); DROP TABLE t;")
            .expect("old file");
    }
    let store = rows_store(&path);
    assert!(!store.storage_info().expect("info").incremental_vacuum);
    rt().block_on(async {
        let s = big_session(&store, 8000).await;
        store.delete_session(s).await.expect("delete");
        assert!(store.storage_info().expect("info").free_pages > 100);
        store.vacuum().await.expect("vacuum");
    });
    let info = store.storage_info().expect("info");
    assert!(info.incremental_vacuum);
    assert_eq!(info.free_pages, 0);
}

#[test]
fn full_text_search_across_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("f.db")).expect("open");
    rt().block_on(async {
        let one = rich_session(&store, "one").await;
        let (two, c) =
            session_with_connection_at(&store, "two", SessionKind::Client, "ws://127.0.0.1:1/", T0)
                .await;
        for (i, (op, text)) in [
            (
                Opcode::Text,
                r#"{"event":"price_update","symbol":"ZEBRA","price":12.5}"#,
            ),
            (Opcode::Binary, "binary zebra is not indexed"),
            (Opcode::Text, "Ünïcode façade ZEBRAS"),
        ]
        .into_iter()
        .enumerate()
        {
            store
                .record_frame(frame(
                    two,
                    c,
                    Direction::Server,
                    op,
                    text.as_bytes(),
                    i as i64,
                ))
                .await
                .expect("frame");
        }
        store.flush().await.expect("flush");

        // Prefix matching, case-insensitive, newest first, binary frames left out, the
        // inflated text of a compressed message found.
        let hits = store.search("zebra", 10).expect("search");
        let found: Vec<_> = hits.iter().map(|h| (h.session, h.seq)).collect();
        assert_eq!(found, [(two, 3), (two, 1), (one, 11)]);
        assert_eq!(hits[2].snippet, "inflated zebra text");
        assert!(hits[1].snippet.contains("ZEBRA"), "{hits:?}");
        assert_eq!(hits[1].connection, c);
        // All words must match; JSON keys are words.
        assert_eq!(store.search("price_update zebra", 10).expect("s").len(), 1);
        assert_eq!(store.search("façade", 10).expect("s").len(), 1);
        assert_eq!(store.search("zebra", 1).expect("s").len(), 1);
        assert!(store.search("nothing-like-this", 10).expect("s").is_empty());
        // Fragments, injected and invalid-UTF-8 frames: text is found where it is.
        assert_eq!(store.search("injected", 10).expect("s")[0].seq, 10);
        assert_eq!(store.search("ment", 10).expect("s")[0].seq, 8);
        // FTS syntax in the input is just text: never an error.
        for q in [
            "\"",
            "NEAR(a b)",
            "a OR",
            "AND",
            "*",
            "col:x",
            "^start",
            "(unclosed",
            "a\"b\"c",
            "-x",
            "\u{0}",
        ] {
            let r = store.search(q, 10);
            assert!(
                r.is_ok() || matches!(r, Err(StoreError::Invalid(_))),
                "{q:?}: {r:?}"
            );
        }
        assert!(matches!(
            store.search("   ", 10),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.search("{}", 10),
            Err(StoreError::Invalid(_))
        ));
    });
}

#[test]
fn migration_to_v4_indexes_and_sizes_existing_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.db");
    let store = Store::open(&path).expect("open");
    let s = rt().block_on(rich_session(&store, "old"));
    let bytes = store.session(s).expect("s").bytes;
    drop(store);
    {
        // Back to what a v3 file looks like (v6 and v5 undone first).
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch(
            "ALTER TABLE frames DROP COLUMN poff; ALTER TABLE frames DROP COLUMN plen; \
             ALTER TABLE frames DROP COLUMN mask_key; \
             DROP TABLE intercept_rules; DROP TABLE templates; DROP TABLE sent_history; \
             ALTER TABLE connections DROP COLUMN options; ALTER TABLE connections DROP COLUMN handshake; \
             DROP TABLE frames_fts; ALTER TABLE sessions DROP COLUMN bytes; PRAGMA user_version = 3;",
        )
        .expect("downgrade");
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.session(s).expect("s").bytes, bytes);
    let hits = store.search("zebra", 10).expect("search");
    assert_eq!(hits.iter().map(|h| h.seq).collect::<Vec<_>>(), [11]);
    assert_eq!(store.search("hello", 10).expect("search").len(), 1);
}
