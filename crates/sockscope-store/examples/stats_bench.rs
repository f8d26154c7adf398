//! Times `Store::stats` (the chart panel's statistics) on a database written by the
//! `timeline_db` example, and a timeline page query run while statistics are in flight.
//!
//! `cargo run --release -p sockscope-store --example timeline_db -- /tmp/t.db`
//! `cargo run --release -p sockscope-store --example stats_bench -- /tmp/t.db [RUNS]`
//!
//! Prints a table: whole session and one connection, best and median of RUNS (default 3).

use sockscope_proto::ConnectionId;
use sockscope_store::{FrameFilter, FrameQuery, Store, STATS_BUCKETS};
use std::time::{Duration, Instant};

fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut v: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    (v[0], v[v.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: stats_bench PATH [RUNS]")?;
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let store = Store::open(&path)?;
    let session = store.sessions()?.last().ok_or("no session")?.id;
    let conn: ConnectionId = store
        .connections(session)?
        .first()
        .ok_or("no connection")?
        .id;
    let frames = store.stats(session, None, STATS_BUCKETS)?;
    println!(
        "session {} frames {}",
        session.0,
        frames.totals.client.frames + frames.totals.server.frames
    );
    println!("{:<28} {:>10} {:>10}", "case", "best ms", "median ms");
    let (b, m) = time(runs, || {
        let _ = store.stats(session, None, STATS_BUCKETS);
    });
    println!("{:<28} {:>10.1} {:>10.1}", "stats(session)", ms(b), ms(m));
    let (b, m) = time(runs, || {
        let _ = store.stats(session, Some(conn), STATS_BUCKETS);
    });
    println!(
        "{:<28} {:>10.1} {:>10.1}",
        "stats(one connection)",
        ms(b),
        ms(m)
    );

    // A timeline page while statistics run on another thread.
    let mut q = FrameQuery::new(session, FrameFilter::default())?;
    let (b, m) = time(runs, || {
        let _ = store.query_page(&mut q, 0, 200);
    });
    println!("{:<28} {:>10.1} {:>10.1}", "page alone", ms(b), ms(m));
    let s2 = store.clone();
    let bg = std::thread::spawn(move || {
        let t = Instant::now();
        let _ = s2.stats(session, None, STATS_BUCKETS);
        t.elapsed()
    });
    std::thread::sleep(Duration::from_millis(20));
    let mut q = FrameQuery::new(session, FrameFilter::default())?;
    let t = Instant::now();
    let _ = store.query_page(&mut q, 0, 200);
    let page = t.elapsed();
    let stats = bg.join().map_err(|_| "stats thread panicked")?;
    println!(
        "{:<28} {:>10.1} {:>10}",
        "page during stats",
        ms(page),
        format!("(stats {:.0})", ms(stats))
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
