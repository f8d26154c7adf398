//! Times what the filters over messages and the detail view's highlights cost:
//! `payload_matches` (the `find_matches` command) on big payloads, and counting a filter over
//! a session of fragmented messages, frame by frame and grouped by message (where each
//! fragmented message is read whole).
//!
//! `cargo run --release -p sockscope-store --example match_bench -- [MESSAGES]`
//!
//! Prints two tables (best and median of 3 runs).

use bytes::Bytes;
use sockscope_proto::{Direction, FrameRecord, Opcode};
use sockscope_store::{
    payload_matches, FrameFilter, FrameQuery, NewConnection, SessionKind, Store, TextFilter,
    MAX_PAYLOAD_MATCHES,
};
use std::time::{Duration, Instant};

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let t = Instant::now();
    let mut last = f();
    let mut v = vec![t.elapsed()];
    for _ in 1..runs.max(1) {
        let t = Instant::now();
        last = f();
        v.push(t.elapsed());
    }
    v.sort();
    (v[0], v[v.len() / 2], last)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn text(p: &str, regex: bool) -> FrameFilter {
    FrameFilter {
        text: Some(TextFilter {
            pattern: p.into(),
            regex,
            case_sensitive: false,
        }),
        ..Default::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);

    // ---- payload_matches ----
    let mut bin = vec![0u8; 16 << 20];
    for (i, b) in bin.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    for k in (0..bin.len() - 4).step_by(4096) {
        bin[k..k + 4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    }
    let mut line = String::with_capacity(10 << 20);
    let mut i = 0;
    while line.len() < 10 << 20 {
        line.push_str(&format!("{{\"px\":{i},\"note\":\"a needle in é text\"}},"));
        i += 1;
    }
    let cases: Vec<(&str, FrameFilter, &[u8])> = vec![
        (
            "16 MiB binary, regex \\xde\\xad (4,096 hits)",
            text(r"(?-u)\xde\xad", true),
            &bin,
        ),
        (
            "10 MiB one line, plain \"needle\"",
            text("needle", false),
            line.as_bytes(),
        ),
        (
            "10 MiB one line, regex \"px\":\\d+7,",
            text(r#""px":\d+7,"#, true),
            line.as_bytes(),
        ),
        (
            "10 MiB one line, full-text \"neE\"",
            FrameFilter {
                fts: Some("neE".into()),
                ..Default::default()
            },
            line.as_bytes(),
        ),
    ];
    println!("payload_matches (find_matches), cap {MAX_PAYLOAD_MATCHES}:");
    println!("| payload and filter | matches | capped | best ms | median ms |");
    println!("|---|---:|---|---:|---:|");
    for (name, f, hay) in &cases {
        let (best, med, m) = time(3, || payload_matches(f, hay, MAX_PAYLOAD_MATCHES));
        let m = m?;
        println!(
            "| {name} | {} | {} | {} | {} |",
            m.bytes.len(),
            m.capped,
            ms(best),
            ms(med)
        );
    }

    // ---- a session of fragmented messages ----
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("m.db"))?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let (s, c) = rt.block_on(async {
        let s = store.create_session("bench", SessionKind::Proxy).await?;
        let c = store
            .create_connection(NewConnection {
                session: s,
                url: "ws://127.0.0.1:9/".into(),
                request_headers: vec![],
                insecure: false,
                created_at_us: 0,
            })
            .await?;
        Ok::<_, sockscope_store::StoreError>((s, c))
    })?;
    let t = Instant::now();
    // Each message: three fragments; every 10th has "needle" in its last one only.
    for m in 0..messages {
        let parts = [
            format!("{{\"type\":\"trade\",\"m\":{m},"),
            "\"pad\":\"xxxxxxxxxxxxxxxx\",".to_owned(),
            format!(
                "\"tag\":\"{}\"}}",
                if m % 10 == 0 { "needle" } else { "plain" }
            ),
        ];
        let frames: Vec<FrameRecord> = parts
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let op = if k == 0 {
                    Opcode::Text
                } else {
                    Opcode::Continuation
                };
                let mut f = FrameRecord::message(
                    s,
                    c,
                    Direction::Server,
                    op,
                    Bytes::from(p.clone()),
                    m as i64,
                );
                f.fin = k == 2;
                f
            })
            .collect();
        for f in frames {
            store.record_frame_blocking(f)?;
        }
    }
    store.flush_blocking()?;
    println!();
    println!(
        "{messages} messages of 3 fragments ({} frames) written in {} ms; counting:",
        messages * 3,
        ms(t.elapsed())
    );
    println!("| filter | matches | best ms | median ms |");
    println!("|---|---:|---:|---:|");
    let runs: Vec<(&str, FrameFilter)> = vec![
        ("text \"needle\", frame by frame", text("needle", false)),
        (
            "text \"needle\", grouped by message",
            FrameFilter {
                messages: true,
                ..text("needle", false)
            },
        ),
        (
            "JSON tag == \"needle\" (whole messages)",
            FrameFilter {
                json: Some(r#"tag == "needle""#.into()),
                ..Default::default()
            },
        ),
        (
            "full text \"needle\", grouped by message",
            FrameFilter {
                fts: Some("needle".into()),
                messages: true,
                ..Default::default()
            },
        ),
    ];
    for (name, f) in runs {
        let (best, med, n) = time(3, || -> Result<u64, sockscope_store::StoreError> {
            let mut q = FrameQuery::new(s, f.clone())?;
            Ok(store.query_count(&mut q, Duration::from_secs(3600))?.count)
        });
        println!("| {name} | {} | {} | {} |", n?, ms(best), ms(med));
    }
    Ok(())
}
