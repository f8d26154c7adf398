//! Times deleting a session of a million frames (not a test: prints figures).
//!
//! `cargo run --release -p sockscope-store --example delete_million [FRAMES] [PAYLOAD_BYTES]`
//!
//! Records FRAMES frames (default 1,000,000; 3 text frames for 1 binary, PAYLOAD_BYTES each,
//! default 100) into one session of a fresh database next to a second, small session, then
//! deletes the big one and prints how long that took and how the file shrank.

use bytes::Bytes;
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{NewConnection, SessionKind, Store};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let frames: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let size: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let store = Store::open(&path)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let (big, small) = rt.block_on(async {
        let mut ids = Vec::new();
        for name in ["big", "small"] {
            let s = store.create_session(name, SessionKind::Proxy).await?;
            let c = store
                .create_connection(NewConnection {
                    session: s,
                    url: "ws://127.0.0.1:9/".into(),
                    request_headers: vec![],
                    insecure: false,
                    created_at_us: 0,
                })
                .await?;
            ids.push((s, c));
        }
        Ok::<_, sockscope_store::StoreError>((ids[0], ids[1]))
    })?;

    let started = Instant::now();
    let words = [
        "price", "update", "order", "book", "trade", "tick", "user", "join",
    ];
    let record =
        |(s, c): (SessionId, ConnectionId), i: u64| -> Result<(), sockscope_store::StoreError> {
            let (opcode, payload) = if i % 4 == 3 {
                (Opcode::Binary, Bytes::from(vec![(i % 251) as u8; size]))
            } else {
                let w = words[(i % words.len() as u64) as usize];
                let mut text = format!(r#"{{"event":"{w}","seq":{i},"data":""#);
                while text.len() + 2 < size {
                    text.push_str(words[text.len() % words.len()]);
                    text.push(' ');
                }
                text.push_str("\"}");
                (Opcode::Text, Bytes::from(text))
            };
            let dir = if i.is_multiple_of(2) {
                Direction::Client
            } else {
                Direction::Server
            };
            store.record_frame_blocking(FrameRecord::message(s, c, dir, opcode, payload, i as i64))
        };
    for i in 0..frames {
        record(big, i)?;
    }
    for i in 0..1000 {
        record(small, i)?;
    }
    store.flush_blocking()?;
    let info = store.storage_info()?;
    println!(
        "recorded {frames} frames of ~{size} B in {:.1} s; file {:.1} MiB",
        started.elapsed().as_secs_f64(),
        info.file_bytes() as f64 / 1048576.0
    );

    let started = Instant::now();
    rt.block_on(store.delete_session(big.0))?;
    let took = started.elapsed();
    let after = store.storage_info()?;
    println!(
        "deleted the session ({frames} frames, FTS rows, incremental vacuum) in {:.2} s; file {:.1} MiB, {} free pages",
        took.as_secs_f64(),
        after.file_bytes() as f64 / 1048576.0,
        after.free_pages
    );
    let kept = store.session(small.0)?;
    println!("the other session still has {} frames", kept.frames);
    Ok(())
}
