//! `release` gives back free heap pages that glibc keeps below live memory.
//! (Its own test binary: no other test allocates or trims meanwhile.)

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// This process's resident size in bytes, from `/proc/self/status`.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn freed_pages_below_live_memory_go_back_to_the_system() {
    const BIG: usize = 60 * 1024; // under glibc's mmap threshold: a heap chunk
    const PAIRS: usize = 1_500; // ≈ 88 MiB of big buffers
    let base = rss();
    let mut big = Vec::with_capacity(PAIRS);
    let mut pins = Vec::with_capacity(PAIRS);
    for i in 0..PAIRS {
        big.push(vec![(i % 251) as u8 + 1; BIG]); // written: resident
        pins.push(Box::new([i as u8; 32])); // keeps the chunk above each big one in use
    }
    let full = rss();
    assert!(
        full >= base + (PAIRS * BIG) as u64 * 9 / 10,
        "the buffers are resident: {base} → {full}"
    );
    drop(big);
    let freed = rss();
    // The premise: glibc keeps (most of) those pages, as they sit below live chunks.
    assert!(
        freed >= base + (PAIRS * BIG) as u64 / 2,
        "glibc kept the freed pages: {base} → {full} → {freed}"
    );
    assert!(sockscope_heap::release(), "the trim gave memory back");
    let trimmed = rss();
    assert!(
        trimmed + (PAIRS * BIG) as u64 / 2 <= freed,
        "the trim handed back most of the freed pages: {freed} → {trimmed}"
    );
    assert_eq!(pins.len(), PAIRS);
}
