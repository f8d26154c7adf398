//! How closely the ticker demo keeps its rate: for each rate, one tokio-tungstenite client
//! counts the ticks it receives over 3 s (after the first) and checks the seq numbers have no
//! gaps. Prints a table.
//!
//!   cargo run --release -p sockscope-engine --example demo_ticker_rate

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement: fail loudly

use futures_util::StreamExt;
use sockscope_engine::demo::{Demo, DemoKind, DemoOptions};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("| rate (msg/s) | received in 3 s | measured msg/s | seq gaps |");
    println!("|---:|---:|---:|---:|");
    for rate in [1u32, 100, 1000, 5000, 10_000] {
        let demo = Demo::start(DemoOptions {
            rate: Some(rate),
            ..DemoOptions::new(DemoKind::Ticker)
        })
        .await
        .expect("ticker");
        let (mut ws, _) = tokio_tungstenite::connect_async(demo.url())
            .await
            .expect("client");
        let seq = |m: &tokio_tungstenite::tungstenite::Message| {
            serde_json::from_str::<serde_json::Value>(m.to_text().unwrap()).unwrap()["seq"]
                .as_u64()
                .unwrap()
        };
        let mut last = seq(&ws.next().await.unwrap().unwrap());
        let (mut n, mut gaps) = (0u64, 0u64);
        let window = Duration::from_secs(3);
        let start = Instant::now();
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(window.saturating_sub(start.elapsed()), ws.next()).await
        {
            let s = seq(&m);
            if s != last + 1 {
                gaps += 1;
            }
            last = s;
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!("| {rate} | {n} | {:.0} | {gaps} |", n as f64 / secs);
        demo.stop().await;
    }
}
