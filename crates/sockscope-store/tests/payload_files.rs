//! Payloads of 512 bytes and more live in a file per session beside the database (schema
//! v11, `payloads.rs`). The same frames written into a store that keeps every payload in its
//! row and into one that uses payload files read back identically through every reader: the
//! frame, the timeline's rows and filters, the detail view, search, JSONL and HAR export.
//! Plus what can go wrong around the files: one missing, a session id used again after a
//! delete, files left by a delete that did not finish.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::{rt_mt, session_with_connection, sized_frame};
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{
    FrameFilter, FrameQuery, SessionKind, Store, StoreOptions, TextFilter, PAYLOAD_FILE_MIN,
};
use std::path::Path;

fn open(path: &Path, in_rows: bool) -> Store {
    Store::open_with(
        path,
        StoreOptions {
            payload_file_min: in_rows.then_some(usize::MAX),
            ..StoreOptions::default()
        },
    )
    .expect("open")
}

fn msg(
    s: SessionId,
    c: ConnectionId,
    dir: Direction,
    opcode: Opcode,
    payload: Vec<u8>,
    ts: i64,
) -> FrameRecord {
    FrameRecord::message(s, c, dir, opcode, payload.into(), ts)
}

/// Frames around the threshold, text and binary, JSON, a fragmented message whose parts sit
/// on both sides of it, a compressed message, a truncated frame, control frames.
fn frames(s: SessionId, c: ConnectionId) -> Vec<FrameRecord> {
    use Direction::{Client as C, Server as S};
    let json = |n: usize, kind: &str| {
        let pad = "p".repeat(n.saturating_sub(40));
        format!("{{\"type\":\"{kind}\",\"pad\":\"{pad}\",\"needle\":1}}").into_bytes()
    };
    let mut v = vec![
        msg(s, c, C, Opcode::Text, b"small hello".to_vec(), 1),
        msg(s, c, S, Opcode::Text, vec![b'a'; PAYLOAD_FILE_MIN - 1], 2),
        msg(s, c, C, Opcode::Text, vec![b'b'; PAYLOAD_FILE_MIN], 3),
        msg(s, c, S, Opcode::Text, json(1000, "trade"), 4),
        msg(s, c, C, Opcode::Text, json(100, "quote"), 5),
        msg(
            s,
            c,
            S,
            Opcode::Binary,
            (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect(),
            6,
        ),
        msg(s, c, C, Opcode::Ping, b"ping".to_vec(), 7),
        msg(s, c, C, Opcode::Text, Vec::new(), 8),
    ];
    // A text message in three fragments: large, small, large; the needle in the last.
    let mut first = msg(s, c, C, Opcode::Text, vec![b'x'; 3000], 9);
    first.fin = false;
    let mut middle = msg(s, c, C, Opcode::Continuation, b"-mid-".to_vec(), 10);
    middle.fin = false;
    let mut tail = b"zebra needle ".to_vec();
    tail.extend(vec![b'y'; 2000]);
    v.extend([first, middle, msg(s, c, C, Opcode::Continuation, tail, 11)]);
    // A compressed message: the wire bytes and the inflated text.
    let mut deflated = msg(s, c, S, Opcode::Text, vec![0x55; 800], 12);
    deflated.rsv1 = true;
    deflated.inflated = Some(
        format!("{{\"type\":\"inflated\",\"x\":\"{}\"}}", "q".repeat(5000))
            .into_bytes()
            .into(),
    );
    v.push(deflated);
    // Only the start of a big frame recorded.
    let mut cut = msg(s, c, S, Opcode::Binary, vec![9; 4096], 13);
    cut.truncated = true;
    cut.len_wire = 1 << 20;
    v.push(cut);
    v.push(msg(
        s,
        c,
        C,
        Opcode::Close,
        vec![3, 232, b'b', b'y', b'e'],
        14,
    ));
    v
}

/// Everything a user can read of the session, as text.
fn everything(store: &Store, s: SessionId, n: i64) -> Vec<String> {
    let mut out = Vec::new();
    for seq in 1..=n {
        out.push(format!("{:?}", store.frame(s, seq).expect("frame")));
        out.push(format!("{:?}", store.frame_facts(s, seq).expect("facts")));
        out.push(format!(
            "{:?}",
            store.message_payload(s, seq, 1 << 20).expect("message")
        ));
    }
    out.push(format!(
        "{:?}",
        store.frames_after(s, 0, 1000).expect("after")
    ));
    let filters = [
        FrameFilter::default(),
        FrameFilter {
            text: Some(TextFilter {
                pattern: "needle".into(),
                regex: false,
                case_sensitive: true,
            }),
            ..FrameFilter::default()
        },
        FrameFilter {
            text: Some(TextFilter {
                pattern: "zebra".into(),
                regex: false,
                case_sensitive: false,
            }),
            messages: true,
            ..FrameFilter::default()
        },
        FrameFilter {
            json: Some("type == \"trade\"".into()),
            ..FrameFilter::default()
        },
        FrameFilter {
            json: Some("type == \"inflated\"".into()),
            messages: true,
            ..FrameFilter::default()
        },
        FrameFilter {
            fts: Some("zebra".into()),
            ..FrameFilter::default()
        },
    ];
    for f in filters {
        let mut q = FrameQuery::new(s, f).expect("query");
        out.push(format!(
            "{:?}",
            store.query_page(&mut q, 0, 1000).expect("page")
        ));
    }
    let hits = store.search("needle", 100).expect("search");
    out.push(format!(
        "{:?}",
        hits.iter().map(|h| (h.seq, &h.snippet)).collect::<Vec<_>>()
    ));
    // The exports, but for when the session was created (the two stores made theirs at
    // different moments).
    let created = store.session(s).expect("session").created_at_us;
    let mut jsonl = Vec::new();
    store.export_jsonl(s, &mut jsonl).expect("jsonl");
    let jsonl = String::from_utf8(jsonl).expect("utf-8");
    out.extend(jsonl.lines().skip(1).map(str::to_owned));
    let mut har = Vec::new();
    store.export_har(s, &mut har).expect("har");
    let har = String::from_utf8(har).expect("utf-8");
    let mut har: serde_json::Value = serde_json::from_str(&har).expect("HAR is JSON");
    out.push(format!(
        "{}",
        har["log"]["entries"][0]["_webSocketMessages"].take()
    ));
    assert!(created > 0);
    out
}

/// Where two long strings first differ, with a little context.
fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(60);
    let cut = |s: &str| s.get(from..(at + 60).min(s.len())).unwrap_or("").to_owned();
    format!("at byte {at}: {:?} vs {:?}", cut(a), cut(b))
}

#[test]
fn payload_files_read_back_exactly_like_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt_mt();
    let mut seen = Vec::new();
    for in_rows in [true, false] {
        let path = dir
            .path()
            .join(if in_rows { "rows.db" } else { "files.db" });
        let store = open(&path, in_rows);
        let n = rt.block_on(async {
            let (s, c) = session_with_connection(&store, "mixed", SessionKind::Proxy).await;
            let frames = frames(s, c);
            let n = frames.len() as i64;
            store.record_frames(frames).await.expect("record");
            store.flush().await.expect("flush");
            n
        });
        let s = store.sessions().expect("sessions")[0].id;
        seen.push(everything(&store, s, n));
        let file = sockscope_store::payload_dir(&path).join(format!("{}.bin", s.0));
        if in_rows {
            assert!(!file.exists(), "a payload file with every payload in rows");
        } else {
            // 512 + 1,000-ish + 70,000 + 3,000 + 2,013 + 800 + 4,096 bytes went to the file.
            let len = std::fs::metadata(&file).expect("payload file").len();
            assert!(len > 80_000, "{len} bytes in the payload file");
            let rows: i64 = rusqlite::Connection::open(&path)
                .unwrap()
                .query_row(
                    "SELECT COUNT(*) FROM frames WHERE poff IS NOT NULL",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(rows, 7, "frames with their payload in the file");
        }
    }
    assert_eq!(seen[0].len(), seen[1].len());
    for (i, (a, b)) in seen[0].iter().zip(&seen[1]).enumerate() {
        assert!(a == b, "answer {i} differs {}", first_difference(a, b));
    }
    // The comparison saw the payloads (not two empty answers).
    assert!(seen[1].iter().any(|s| s.contains("zebra needle")));
}

/// A database copied without its payload directory (or a file lost): the frames still list
/// and open, with the bytes that are there (none), and nothing fails.
#[test]
fn a_missing_payload_file_reads_as_empty_not_as_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lost.db");
    let store = open(&path, false);
    let s = rt_mt().block_on(async {
        let (s, c) = session_with_connection(&store, "lost", SessionKind::Proxy).await;
        store
            .record_frames(vec![sized_frame(s, c, 0, 100), sized_frame(s, c, 1, 5000)])
            .await
            .expect("record");
        store.flush().await.expect("flush");
        s
    });
    // Before anything read the file (a reader keeps the files it read open).
    std::fs::remove_dir_all(sockscope_store::payload_dir(&path)).unwrap();
    assert_eq!(store.frame(s, 1).unwrap().payload.len(), 100);
    assert!(store.frame(s, 2).unwrap().payload.is_empty());
    assert_eq!(store.frames_after(s, 0, 10).unwrap().len(), 2);
    let mut out = Vec::new();
    store.export_jsonl(s, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1 + 1 + 2);
}

/// A damaged (or hostile) database claims a payload far larger than its file: the read
/// gives the bytes the file holds, without trying to allocate what the row claims.
#[test]
fn a_row_claiming_more_than_its_file_holds_reads_what_is_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("claims.db");
    let store = open(&path, false);
    let s = rt_mt().block_on(async {
        let (s, c) = session_with_connection(&store, "claims", SessionKind::Proxy).await;
        store
            .record_frame(sized_frame(s, c, 0, 3000))
            .await
            .expect("record");
        store.flush().await.expect("flush");
        s
    });
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE frames SET plen = ?1 WHERE poff IS NOT NULL",
            [1i64 << 60],
        )
        .unwrap();
    assert_eq!(store.frame(s, 1).unwrap().payload.len(), 3000);
    assert_eq!(store.frames_after(s, 0, 10).unwrap().len(), 1);
}

/// Deleting a session removes its payload file. The next session may get the same id (it
/// was the newest): reading its frames must give its own bytes, never the deleted ones (a
/// reader may still hold the old file open).
#[test]
fn a_session_id_used_again_reads_its_own_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("again.db");
    let store = open(&path, false);
    let rt = rt_mt();
    let (first, second) = rt.block_on(async {
        let (s, c) = session_with_connection(&store, "first", SessionKind::Proxy).await;
        let mut old = sized_frame(s, c, 0, 4000);
        old.payload = vec![b'O'; 4000].into();
        store.record_frame(old).await.unwrap();
        store.flush().await.unwrap();
        // The reader opens (and keeps) the file.
        assert_eq!(store.frame(s, 1).unwrap().payload, vec![b'O'; 4000]);
        let file = sockscope_store::payload_dir(&path).join(format!("{}.bin", s.0));
        assert!(file.exists());
        store.delete_session(s).await.unwrap();
        assert!(!file.exists(), "the payload file outlived its session");
        let (t, c) = session_with_connection(&store, "second", SessionKind::Proxy).await;
        let mut new = sized_frame(t, c, 0, 3000);
        new.payload = vec![b'N'; 3000].into();
        store.record_frame(new).await.unwrap();
        store.flush().await.unwrap();
        (s, t)
    });
    println!("first session {first}, second {second}");
    assert_eq!(store.frame(second, 1).unwrap().payload, vec![b'N'; 3000]);
}

/// A payload file whose session is gone (the delete committed, then the process stopped
/// before removing the file) is removed at the next start; others stay.
#[test]
fn files_of_sessions_that_are_gone_are_removed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("orphans.db");
    let s = {
        let store = open(&path, false);
        rt_mt().block_on(async {
            let (s, c) = session_with_connection(&store, "kept", SessionKind::Proxy).await;
            store
                .record_frame(sized_frame(s, c, 0, 2000))
                .await
                .unwrap();
            store.flush().await.unwrap();
            s
        })
    };
    let payloads = sockscope_store::payload_dir(&path);
    let orphan = payloads.join("999.bin");
    std::fs::write(&orphan, b"left behind").unwrap();
    let stranger = payloads.join("notes.txt");
    std::fs::write(&stranger, b"not ours").unwrap();
    let store = open(&path, false);
    assert!(!orphan.exists(), "an orphan payload file stayed");
    assert!(
        stranger.exists(),
        "a file that is not a payload file was removed"
    );
    assert_eq!(store.frame(s, 1).unwrap().payload.len(), 2000);
}
