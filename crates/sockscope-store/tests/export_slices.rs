//! Exports of big sessions read in slices on a connection of their own: the timeline's reads
//! do not wait behind them, frames captured while they run are left out, and messages
//! fragmented across a slice boundary come out whole.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::*;
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{NewConnection, SessionKind, Store};
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

/// Small frames past one slice of rows (2,000), then big ones past one slice of bytes
/// (8 MiB), on two connections; a text message in three fragments on both sides of the
/// 2,000th frame. Returns the session, its frame count and the fragmented message.
async fn big_session(store: &Store) -> (SessionId, usize, Vec<u8>) {
    let (s, a) = session_with_connection(store, "big", SessionKind::Proxy).await;
    let b = store
        .create_connection(NewConnection {
            session: s,
            url: "ws://127.0.0.1:2/".into(),
            request_headers: vec![],
            insecure: false,
            created_at_us: 2,
        })
        .await
        .expect("connection");
    let mut n = 0usize;
    let mut put = |f: FrameRecord| {
        n += 1;
        f
    };
    for i in 0..1_998usize {
        let c = if i % 2 == 0 { a } else { b };
        let f = put(frame(
            s,
            c,
            Direction::Client,
            Opcode::Text,
            format!("small {i}").as_bytes(),
            i as i64,
        ));
        store.record_frame(f).await.expect("record");
    }
    // Frames 1,999, 2,000 and 2,001: one message.
    let parts: [&[u8]; 3] = [b"first part, ", b"second part, ", b"last part"];
    for (k, part) in parts.iter().enumerate() {
        let op = if k == 0 {
            Opcode::Text
        } else {
            Opcode::Continuation
        };
        let mut f = put(frame(s, a, Direction::Server, op, part, 2_000 + k as i64));
        f.fin = k == 2;
        store.record_frame(f).await.expect("record");
    }
    for i in 0..1_200usize {
        let c = if i % 2 == 0 { a } else { b };
        let mut body = format!("big {i} ").into_bytes();
        body.resize(16_000, b'x');
        let f = put(frame(
            s,
            c,
            Direction::Server,
            Opcode::Binary,
            &body,
            3_000 + i as i64,
        ));
        store.record_frame(f).await.expect("record");
    }
    store.flush().await.expect("flush");
    (s, n, parts.concat())
}

/// An export's output that, once 100 KB are written (mid-export), has another thread read
/// the timeline and capture ten more frames into the session, and waits for both.
struct Meddler {
    out: Vec<u8>,
    store: Store,
    session: SessionId,
    connection: ConnectionId,
    done: bool,
}

impl Write for Meddler {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(buf);
        if !self.done && self.out.len() > 100_000 {
            self.done = true;
            let (store, s, c) = (self.store.clone(), self.session, self.connection);
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                // The timeline's reader is free while an export runs.
                let page = store.frames_after(s, 0, 10).map(|p| p.len());
                rt().block_on(async {
                    for i in 0..10 {
                        let f = frame(s, c, Direction::Client, Opcode::Text, b"later", 9_000 + i);
                        store.record_frame(f).await.expect("record");
                    }
                    store.flush().await.expect("flush");
                });
                let _ = tx.send(page);
            });
            let page = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the timeline's read and the capture waited behind the export");
            assert_eq!(page.expect("timeline read"), 10);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn meddler(store: &Store, session: SessionId) -> Meddler {
    let connection = store.connections(session).expect("connections")[0].id;
    Meddler {
        out: Vec::new(),
        store: store.clone(),
        session,
        connection,
        done: false,
    }
}

#[test]
fn a_big_jsonl_export_goes_in_slices_and_leaves_out_later_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("slices.db")).expect("open");
    let (s, n, _) = rt().block_on(big_session(&store));
    let mut out = meddler(&store, s);
    store.export_jsonl(s, &mut out).expect("export");
    assert!(out.done, "the export wrote less than 100 KB");
    assert_eq!(store.session(s).expect("session").frames, n as i64 + 10);

    let text = String::from_utf8(out.out).expect("utf8");
    let lines = normalized_jsonl(&text);
    let seqs: Vec<i64> = lines
        .iter()
        .filter(|l| l["type"] == "frame")
        .map(|l| l["seq"].as_i64().expect("seq"))
        .collect();
    // Every frame there at the start, once and in order; none of those captured meanwhile.
    assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
    // The export imports back into the same session.
    let copy = store
        .import_jsonl(&mut text.as_bytes(), &Default::default(), &|_| {})
        .expect("import");
    assert_eq!(normalized_jsonl(&export_jsonl(&store, copy)), lines);
}

#[test]
fn a_big_har_export_goes_in_slices_and_joins_fragments_across_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("slices.db")).expect("open");
    let (s, n, joined) = rt().block_on(big_session(&store));
    let mut out = meddler(&store, s);
    store.export_har(s, &mut out).expect("export");
    assert!(out.done, "the export wrote less than 100 KB");

    let har: serde_json::Value = serde_json::from_slice(&out.out).expect("har is JSON");
    let entries = har["log"]["entries"].as_array().expect("entries");
    let messages: Vec<&serde_json::Value> = entries
        .iter()
        .flat_map(|e| e["_webSocketMessages"].as_array().expect("messages"))
        .collect();
    // Three fragments make one message; the ten frames captured meanwhile are left out.
    assert_eq!(messages.len(), n - 2);
    let whole = String::from_utf8(joined).expect("utf8");
    assert_eq!(messages.iter().filter(|m| m["data"] == *whole).count(), 1);
    assert!(!messages.iter().any(|m| m["data"] == "later"));
}
