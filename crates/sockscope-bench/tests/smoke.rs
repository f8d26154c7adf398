//! A one-second smoke run of the suite's latency workload, direct and through the real
//! `sockscope proxy` (the debug build `make test` makes first), with the recording checked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use sockscope_bench::peers::{RelayKind, Tools};
use sockscope_bench::suite::{self, WORKLOADS};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Some(p) => workspace().join(p),
        None => workspace().join("target"),
    }
}

#[test]
fn one_second_through_sockscope_records_every_frame() {
    let bin = target_dir().join("debug").join("sockscope");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p sockscope-cli` first (`make test` builds it)",
        bin.display()
    );
    // The echo server on its own thread and runtime, like the separate process of `run`.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send addr");
            sockscope_bench::echo::serve(l).await;
        });
    });
    let echo = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("echo server");
    let tools = Tools::find(&workspace(), Some(bin));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let w = WORKLOADS
        .iter()
        .find(|w| w.key == "fanout")
        .expect("workload");
    let w = suite::Workload { conns: 4, ..*w };
    let mut ms = Vec::new();
    for relay in [RelayKind::Direct, RelayKind::Sockscope] {
        let m = suite::measure(&rt, &tools, echo, &w, relay, Duration::from_secs(1));
        assert!(m.error.is_none(), "{}: {:?}", relay.name(), m.error);
        assert!(
            m.messages > 0 && m.p50_us > 0.0,
            "{}: nothing measured",
            relay.name()
        );
        ms.push(m);
    }
    let s = &ms[1];
    let v = s.verification.as_ref().expect("sockscope run verified");
    assert!(v.ok(), "{:?}", v.errors);
    assert_eq!(v.data_frames, 2 * s.messages);
    assert_eq!(v.connections, 4);
    assert!(s.rss_peak_mib.is_some() && s.cpu_us_per_msg.is_some());
    let table = suite::table(&ms);
    assert!(table.contains("| fanout | sockscope |"), "{table}");
}
