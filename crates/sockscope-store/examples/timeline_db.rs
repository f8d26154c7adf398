//! Writes a large session for the timeline bench (`make bench-ui`), fast: the schema comes
//! from `Store::open`, the frames are generated inside SQLite in one transaction (the writer
//! thread would take minutes in a debug build), the full-text and per-connection indexes are
//! filled the way the writer fills them.
//!
//! `cargo run -p sockscope-store --example timeline_db -- PATH [FRAMES] [--no-fts]`
//!
//! Prints `session <id>`. Frame i (0-based, seq i + 1) of FRAMES (default 1,000,000), two
//! connections taking turns in blocks of 1000, 10 ms apart:
//! * i % 2 == 0 client-to-server, else server-to-client;
//! * i % 100 == 99: a ping (i even) or pong (i odd) with "hb";
//! * i % 4 == 3 (otherwise): binary, 16 bytes;
//! * else text JSON `{"type":T,"sym":S,"px":P,"qty":Q,"i":i}` with T = "trade" when
//!   i % 10 == 0, "quote" otherwise; S one of BTC-USD, ETH-USD, SOL-USD; and the text frames
//!   with i % 1000 == 500 also say `"note":"needle-<i>"`.

use sockscope_proto::{ConnectionId, SessionId};
use sockscope_store::{NewConnection, SessionKind, Store};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut path = None;
    let mut frames: i64 = 1_000_000;
    let mut fts = true;
    for a in std::env::args().skip(1) {
        if a == "--no-fts" {
            fts = false;
        } else if path.is_none() {
            path = Some(a);
        } else {
            frames = a.parse()?;
        }
    }
    let path = path.ok_or("usage: timeline_db PATH [FRAMES] [--no-fts]")?;
    let t0: i64 = 1_764_000_000_000_000;
    let started = Instant::now();
    let (session, conns) = {
        let store = Store::open(&path)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let s = store
                .create_session(&format!("bench {frames} frames"), SessionKind::Proxy)
                .await?;
            let mut conns: Vec<ConnectionId> = Vec::new();
            for k in 0..2 {
                let c = store
                    .create_connection(NewConnection {
                        session: s,
                        url: format!("wss://feed.example.test/stream/{k}"),
                        request_headers: vec![("Host".into(), "feed.example.test".into())],
                        insecure: false,
                        created_at_us: t0,
                    })
                    .await?;
                store
                    .update_connection(sockscope_store::ConnectionEvent::Opened {
                        id: c,
                        at_us: t0,
                        request_headers: vec![],
                        response_status: 101,
                        response_headers: vec![],
                        subprotocol: None,
                    })
                    .await?;
                conns.push(c);
            }
            store.flush().await?;
            Ok::<(SessionId, Vec<ConnectionId>), sockscope_store::StoreError>((s, conns))
        })?
    };
    let mut db = rusqlite::Connection::open(&path)?;
    db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")?;
    let tx = db.transaction()?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?4),
         g AS (SELECT i,
                 CASE WHEN i % 100 = 99 THEN (CASE WHEN i % 2 = 0 THEN 9 ELSE 10 END)
                      WHEN i % 4 = 3 THEN 2 ELSE 1 END AS op
               FROM n)
         INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, payload)
         SELECT ?1, i + 1, CASE WHEN (i / 1000) % 2 = 0 THEN ?2 ELSE ?3 END, ?5 + i * 10000,
                i % 2, op, 1 | (CASE WHEN i % 2 = 0 THEN 32 ELSE 0 END), length(p), p
         FROM (SELECT i, op, CASE
                 WHEN op IN (9, 10) THEN CAST('hb' AS BLOB)
                 WHEN op = 2 THEN randomblob(16)
                 ELSE CAST('{\"type\":\"' || CASE WHEN i % 10 = 0 THEN 'trade' ELSE 'quote' END
                      || '\",\"sym\":\"' || CASE i % 3 WHEN 0 THEN 'BTC-USD' WHEN 1 THEN 'ETH-USD' ELSE 'SOL-USD' END
                      || '\",\"px\":' || (10000 + (i * 7919) % 5000) || '.' || (i % 100)
                      || ',\"qty\":' || (1 + i % 9)
                      || CASE WHEN i % 1000 = 500 THEN ',\"note\":\"needle-' || i || '\"' ELSE '' END
                      || ',\"i\":' || i || '}' AS BLOB) END AS p FROM g)",
        rusqlite::params![session.0, conns[0].0, conns[1].0, frames, t0],
    )?;
    let inserted = started.elapsed();
    if fts {
        tx.execute(
            "INSERT INTO frames_fts (rowid, body)
             SELECT id, CAST(payload AS TEXT) FROM frames WHERE session_id = ?1 AND opcode = 1",
            rusqlite::params![session.0],
        )?;
        // Indexed here: the store's background indexer must not index them again.
        tx.execute(
            "UPDATE fts_progress SET indexed_upto = (SELECT MAX(id) FROM frames)",
            [],
        )?;
    }
    // The per-connection index, as the writer would have filled it by the time it is idle.
    sockscope_store::index_connections_now(&tx, i64::MAX)?;
    tx.execute(
        "UPDATE sessions SET frame_count = ?2,
             bytes = (SELECT COALESCE(SUM(len), 0) FROM frames WHERE session_id = ?1)
         WHERE id = ?1",
        rusqlite::params![session.0, frames],
    )?;
    tx.commit()?;
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    eprintln!(
        "timeline_db: {frames} frames in {:.1} s (frames {:.1} s{})",
        started.elapsed().as_secs_f64(),
        inserted.as_secs_f64(),
        if fts { ", then the FTS index" } else { "" }
    );
    println!("session {}", session.0);
    Ok(())
}
