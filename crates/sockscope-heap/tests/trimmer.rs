//! The trimmer thread trims on its interval and stops at once when dropped.

use std::time::{Duration, Instant};

#[test]
fn the_trimmer_runs_on_its_interval_and_stops_when_dropped() {
    let trimmer =
        sockscope_heap::Trimmer::start(Duration::from_millis(20)).unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while trimmer.stats().runs < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = trimmer.stats();
    assert!(stats.runs >= 5, "{stats:?}");
    assert!(
        stats.longest <= stats.total && stats.released <= stats.runs,
        "{stats:?}"
    );

    // A long interval: dropping must not wait for it.
    let idle = sockscope_heap::Trimmer::start(Duration::from_secs(3_600))
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    drop(idle);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drop joined at once"
    );
    assert_eq!(
        sockscope_heap::Trimmer::start(Duration::from_secs(3_600))
            .map(|t| t.stats().runs)
            .ok(),
        Some(0)
    );
}
