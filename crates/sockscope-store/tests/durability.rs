//! Damaged files are moved aside (never written), a full disk pauses capture without losing
//! anything, the checkpointer copies the WAL, and the commit log tells what is durable. (The
//! WAL bound under load is in `wal_bound.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::{
    newer_version_db, rows_store, rt_mt as rt, session_with_connection, sibling,
    sized_frame as frame, ROWS_UP_TO,
};
use sockscope_proto::{ConnectionId, SessionId};
use sockscope_store::{
    PauseCause, SessionKind, StorageState, Store, StoreError, StoreEvent, StoreOptions, BATCH_MAX,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The first "paused" storage state on a status subscription (30 s at most). A status
/// subscriber must see no frame, session or connection event.
async fn wait_for_pause(
    events: &mut tokio::sync::broadcast::Receiver<StoreEvent>,
) -> std::sync::Arc<sockscope_store::StorageStatus> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(StoreEvent::Storage(st))) if matches!(st.state, StorageState::Paused { .. }) => {
                return st
            }
            Ok(Ok(StoreEvent::Frames(..) | StoreEvent::Session(_) | StoreEvent::Connection(_))) => {
                panic!("a status subscriber got a frame, session or connection event")
            }
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("no pause: {other:?}"),
        }
    }
}

/// Records `n` frames of `size` bytes, one at a time, in a task of its own.
fn produce(
    store: &Store,
    s: SessionId,
    c: ConnectionId,
    n: usize,
    size: usize,
) -> tokio::task::JoinHandle<()> {
    let store = store.clone();
    tokio::spawn(async move {
        for i in 0..n {
            store
                .record_frame(frame(s, c, i, size))
                .await
                .expect("record");
        }
    })
}

/// A database of `n` frames of `size` bytes, closed.
fn filled_db(path: &Path, n: usize, size: usize) {
    rt().block_on(async {
        let store = rows_store(path);
        let (s, c) = session_with_connection(&store, "durability", SessionKind::Proxy).await;
        for i in 0..n {
            store
                .record_frame(frame(s, c, i, size))
                .await
                .expect("record");
        }
        store.flush().await.expect("flush");
    });
    // Fold the WAL into the file so the damage below hits real pages.
    let c = rusqlite::Connection::open(path).expect("open");
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
}

fn quick_check(path: &Path) -> String {
    let c = rusqlite::Connection::open(path).expect("open");
    c.query_row("PRAGMA quick_check", [], |r| r.get(0))
        .expect("quick_check")
}

/// Each kind of damage: `Store::open` refuses and leaves the bytes alone;
/// `open_or_recover` renames the file (and its -wal/-shm) aside and starts fresh.
#[test]
fn damaged_files_are_moved_aside_never_overwritten() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 4] = [
        ("overwritten page", |p| {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            // Page 3 onwards: table b-tree pages of the schema just created.
            f.seek(SeekFrom::Start(2 * 4096)).unwrap();
            f.write_all(&[0x55; 4096]).unwrap();
        }),
        ("truncated", |p| {
            let len = std::fs::metadata(p).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(len / 2).unwrap();
        }),
        ("zero-length", |p| {
            std::fs::write(p, b"").unwrap();
        }),
        ("not SQLite", |p| {
            std::fs::write(p, b"{\"format\":\"not a database\"}\n".repeat(100)).unwrap();
        }),
    ];
    for (name, damage) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sockscope.db");
        filled_db(&path, 400, 2000);
        damage(&path);
        // A stray -wal/-shm goes with the file.
        std::fs::write(sibling(&path, "-wal"), b"").unwrap();
        let before = std::fs::read(&path).unwrap();

        match Store::open(&path) {
            Err(e @ StoreError::Damaged { .. }) => {
                assert!(e.to_string().contains("damaged"), "{name}: {e}")
            }
            Err(e) => panic!("{name}: wrong error: {e}"),
            Ok(_) => panic!("{name}: a damaged database was opened"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{name}: file changed"
        );

        let (store, recovered) =
            Store::open_or_recover(&path, StoreOptions::default()).expect("recover");
        let recovered = recovered.unwrap_or_else(|| panic!("{name}: not reported"));
        assert!(
            recovered
                .moved_to
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sockscope.db.corrupt-"),
            "{name}: {recovered}"
        );
        assert_eq!(
            std::fs::read(&recovered.moved_to).unwrap(),
            before,
            "{name}: the moved file is not the original"
        );
        assert!(
            sibling(&recovered.moved_to, "-wal").exists(),
            "{name}: -wal left"
        );
        // The payload files (2,000-byte frames) go with it: a fresh database must not read
        // them as its own.
        assert!(
            sibling(&recovered.moved_to, ".payloads")
                .join("1.bin")
                .exists(),
            "{name}: payload files left"
        );
        assert!(
            !sockscope_store::payload_dir(&path).exists(),
            "{name}: payload files left"
        );
        let msg = recovered.to_string();
        assert!(
            msg.contains("moved to") && msg.contains(".corrupt-"),
            "{msg}"
        );
        // The fresh database works.
        assert!(store.sessions().expect("sessions").is_empty(), "{name}");
        rt().block_on(async {
            let (s, c) = session_with_connection(&store, "durability", SessionKind::Proxy).await;
            store.record_frame(frame(s, c, 0, 10)).await.unwrap();
            store.flush().await.unwrap();
        });
        drop(store);
        assert_eq!(quick_check(&path), "ok", "{name}");
        // A second start finds nothing wrong.
        let (_, again) = Store::open_or_recover(&path, StoreOptions::default()).unwrap();
        assert!(again.is_none(), "{name}");
    }
}

#[test]
fn a_newer_database_is_refused_not_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = newer_version_db(&dir.path().join("new.db"));
    match Store::open_or_recover(&path, StoreOptions::default()) {
        Err(e @ StoreError::TooNew { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("newer Sockscope") && msg.contains("--db"),
                "{msg}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer database was opened"),
    }
    assert!(path.exists());
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(entries <= 3, "nothing was renamed aside");
}

/// A full disk (emulated with `max_page_count`: no tmpfs can be mounted without root here)
/// pauses capture with a visible error; the file stays valid; once there is room again
/// every frame queued meanwhile is written.
#[test]
fn a_full_disk_pauses_capture_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full.db");
    rt().block_on(async {
        let store = Store::open(&path).expect("open");
        let (s, c) = session_with_connection(&store, "durability", SessionKind::Proxy).await;
        let mut events = store.subscribe();
        let pages: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store.set_max_page_count(Some(pages as u64 + 20));
        // ~2.5 MB of frames into a file allowed ~80 KB more.
        let n = 1200usize;
        let producer = produce(&store, s, c, n, 2000);
        let deadline = Instant::now() + Duration::from_secs(20);
        let error = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, events.recv()).await {
                Ok(Ok(StoreEvent::WriteError(e))) => break e,
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                other => panic!("no write error: {other:?}"),
            }
        };
        assert!(
            error.contains("full") && error.contains("paused"),
            "{error}"
        );
        // The writer's status says the same, with the frames waiting (never more than were
        // sent, and growing as the producer queues behind the held batch).
        let status = store.storage_status();
        match &status.state {
            StorageState::Paused {
                pending_frames,
                error,
                ..
            } => {
                assert!(
                    *pending_frames > 0 && *pending_frames <= n as u64,
                    "{pending_frames}"
                );
                assert!(error.contains("full"), "{error}");
            }
            other => panic!("not paused: {other:?}"),
        }
        let text = status.describe().expect("a paused status describes itself");
        assert!(
            text.contains("frames waiting") && text.contains(&*path.to_string_lossy()),
            "{text}"
        );
        // Meanwhile the file is valid and holds whole batches only.
        let committed: i64 = {
            let c = rusqlite::Connection::open(&path).unwrap();
            let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
            assert_eq!(check, "ok");
            c.query_row("SELECT COUNT(*) FROM frames", [], |r| r.get(0))
                .unwrap()
        };
        assert!(
            (committed as usize) < n,
            "the cap did not bite: {committed}"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        // Room again.
        store.set_max_page_count(None);
        let resumed = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Ok(StoreEvent::WriteResumed) = events.recv().await {
                    break;
                }
            }
        })
        .await;
        assert!(resumed.is_ok(), "capture did not resume");
        tokio::time::timeout(Duration::from_secs(30), producer)
            .await
            .expect("producer stuck")
            .expect("producer");
        store.flush().await.expect("flush");
        // Resumed, every waiting frame written and counted, nothing pending.
        let status = store.storage_status();
        assert_eq!(status.state, StorageState::Ok);
        let r = status.last_resume.expect("the resume is reported");
        assert!(r.done && r.backlog_frames > 0, "{r:?}");
        assert_eq!(r.written_frames, r.backlog_frames);
        assert_eq!(r.pause, 1);
        assert!(
            r.backlog_frames + committed as u64 <= n as u64,
            "{r:?}, {committed} committed before the pause"
        );
        let summary = store.session(s).expect("session");
        assert_eq!(summary.frames, n as i64, "frames lost");
        let seqs: Vec<i64> = store
            .frames_after(s, 0, n + 10)
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
    });
    assert_eq!(quick_check(&path), "ok");
}

/// The checkpointer thread copies the WAL into the database while the store stays open and
/// the writer is idle: 8 MiB of frames (past the 4 MiB that wake it, below the 16 MiB at which
/// the writer would checkpoint itself) end up in the database file within a few seconds. The
/// frames are small enough to stay in their rows (larger payloads go to payload files).
#[test]
fn the_checkpointer_thread_copies_the_wal_into_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ckpt.db");
    rt().block_on(async {
        let store = rows_store(&path);
        let (s, c) = session_with_connection(&store, "durability", SessionKind::Proxy).await;
        let before = std::fs::metadata(&path).unwrap().len();
        // 64 commits of 128 KiB (flushed one by one, so each is its own transaction).
        let size = ROWS_UP_TO - 112;
        let n = 64 * (128 << 10) / size;
        for i in 0..n {
            store
                .record_frame(frame(s, c, i, size))
                .await
                .expect("record");
            if i % (n / 64) == n / 64 - 1 {
                store.flush().await.expect("flush");
            }
        }
        store.flush().await.expect("flush");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut size = before;
        while Instant::now() < deadline {
            size = std::fs::metadata(&path).unwrap().len();
            if size >= before + 4 * 1024 * 1024 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            size >= before + 4 * 1024 * 1024,
            "the database file grew from {before} to {size} bytes only: no checkpoint ran"
        );
        assert_eq!(store.session(s).unwrap().frames, n as i64);
        drop(store);
    });
    assert_eq!(quick_check(&path), "ok");
}

#[test]
fn the_commit_log_names_the_last_durable_seq() {
    const N: usize = 4 * BATCH_MAX + 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.db");
    let log = dir.path().join("commits.log");
    let s = rt().block_on(async {
        let store = Store::open_with(
            &path,
            StoreOptions {
                commit_log: Some(log.clone()),
                ..Default::default()
            },
        )
        .expect("open");
        let (s, c) = session_with_connection(&store, "durability", SessionKind::Proxy).await;
        // At least four batches' worth, one frame per operation.
        for i in 0..N {
            store.record_frame(frame(s, c, i, 100)).await.unwrap();
        }
        store.flush().await.unwrap();
        s
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let seqs: Vec<i64> = text
        .lines()
        .map(|l| {
            let (sess, seq) = l.split_once(' ').unwrap();
            assert_eq!(sess.parse::<i64>().unwrap(), s.0);
            seq.parse().unwrap()
        })
        .collect();
    assert!(seqs.len() >= 4, "one line per commit: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.last(), Some(&(N as i64)));
}

/// The user's database size limit (`StoreOptions::max_bytes`, `Store::set_size_limit`; the
/// app's and CLI's `SOCKSCOPE_DB_MAX_MB`): reaching it pauses capture as a full disk would,
/// with the cause named; raising it resumes, every frame written once, in order.
#[test]
fn the_size_limit_pauses_capture_and_raising_it_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("limit.db");
    let n = 3000usize;
    rt().block_on(async {
        let store = Store::open_with(
            &path,
            StoreOptions {
                max_bytes: Some(1 << 20),
                ..Default::default()
            },
        )
        .expect("open");
        assert_eq!(store.storage_status().limit_bytes, Some(1 << 20));
        let (s, c) = session_with_connection(&store, "limit", SessionKind::Proxy).await;
        // Storage state only (what the headless CLI listens to): no frame summaries are built.
        let mut events = store.subscribe_status();
        let producer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..n {
                    store
                        .record_frames(vec![frame(s, c, i, 4000)])
                        .await
                        .expect("record");
                }
            })
        };
        // ~12 MB of frames (more than the writer's 8 MiB queue) into 1 MB: the writer
        // pauses, naming the limit, and the producer waits.
        let paused = wait_for_pause(&mut events).await;
        match &paused.state {
            StorageState::Paused { cause, .. } => assert_eq!(*cause, PauseCause::SizeLimit),
            _ => unreachable!(),
        }
        let text = paused.describe().unwrap();
        assert!(text.contains("size limit of 1 MB"), "{text}");
        // It stays paused (retrying) while the producer waits behind it.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let waiting = match store.storage_status().state {
            StorageState::Paused { pending_frames, .. } => pending_frames,
            other => panic!("resumed on its own: {other:?}"),
        };
        assert!(!producer.is_finished(), "the producer was not held back");
        assert!(waiting > 0);
        let file = std::fs::metadata(&path).unwrap().len()
            + std::fs::metadata(sibling(&path, "-wal")).map_or(0, |m| m.len());
        assert!(file < 8 << 20, "the limit did not hold the file: {file}");
        // Raise it: capture resumes by itself.
        store.set_size_limit(Some(64 << 20));
        tokio::time::timeout(Duration::from_secs(30), producer)
            .await
            .expect("producer stuck")
            .expect("producer");
        store.flush().await.expect("flush");
        let status = store.storage_status();
        assert_eq!(status.state, StorageState::Ok);
        assert_eq!(status.limit_bytes, Some(64 << 20));
        let r = status.last_resume.expect("resume");
        assert_eq!(r.cause, PauseCause::SizeLimit);
        assert!(
            r.done && r.written_frames == r.backlog_frames && r.backlog_frames >= waiting.min(1)
        );
        assert_eq!(store.session(s).unwrap().frames, n as i64);
        let seqs: Vec<i64> = store
            .frames_after(s, 0, n + 10)
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
        let payload = store.frame(s, 2500).unwrap().payload;
        assert!(payload.starts_with(b"frame 2499 "), "out of order");
    });
    assert_eq!(quick_check(&path), "ok");
    assert_eq!(
        sockscope_store::parse_size_limit_mb("0").unwrap(),
        None,
        "0 is no limit"
    );
    assert_eq!(
        sockscope_store::parse_size_limit_mb(" 64 ").unwrap(),
        Some(64 << 20)
    );
    assert!(sockscope_store::parse_size_limit_mb("1.5").is_err());
}

/// Opening reads the whole file only when there is a reason: after a clean close only the
/// header, the schema and each table's first page are read; a `-wal` left behind (a crash,
/// or the file open elsewhere) or a damage marker makes the next open check everything.
#[test]
fn open_checks_the_whole_file_only_when_there_is_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("open.db");
    filled_db(&path, 400, 2000);
    assert!(
        !sibling(&path, "-wal").exists(),
        "a clean close left a -wal"
    );
    let store = Store::open(&path).expect("open");
    assert_eq!(
        store.open_check().full_check,
        None,
        "{:?}",
        store.open_check()
    );
    // While it is open (its -wal exists), another open would check it all.
    let other = sockscope_store::check_file(&path).expect("check");
    let why = other.full_check.expect("a -wal is a reason");
    assert!(why.contains("not closed cleanly"), "{why}");
    drop(store);
    assert!(
        !sibling(&path, "-wal").exists(),
        "a clean close left a -wal"
    );
    assert_eq!(sockscope_store::check_file(&path).unwrap().full_check, None);
    // A marker (left by a run that saw damage) asks for the full check; a sound file passes
    // and the marker goes.
    let marker = sibling(&path, sockscope_store::CHECK_MARKER_SUFFIX);
    std::fs::write(&marker, "database disk image is malformed").unwrap();
    let store = Store::open(&path).expect("a sound file opens");
    let why = store.open_check().full_check.clone().expect("full check");
    assert!(why.contains("malformed"), "{why}");
    assert!(!marker.exists(), "the marker stays after a clean check");
    drop(store);
}

/// Damage the quick look at open cannot see (a data page in the middle of the file): the
/// file opens; the first read that meets the damage fails with SQLite's error, the status
/// reports it and a marker is left; the next start reads the whole file, finds it damaged,
/// and `open_or_recover` moves it aside (never writing it) and starts fresh.
#[test]
fn damage_seen_at_read_time_is_checked_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("later.db");
    // Payloads in the rows, so that the damage hits frames.
    filled_db(&path, 2000, ROWS_UP_TO - 112);
    let pages = std::fs::metadata(&path).unwrap().len() / 4096;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(pages / 2 * 4096)).unwrap();
        f.write_all(&vec![0x55; 20 * 4096]).unwrap();
    }
    let store = Store::open(&path).expect("the quick look does not see a data page");
    assert_eq!(store.open_check().full_check, None);
    let s = store.sessions().unwrap()[0].id;
    let mut failed = None;
    for seq in 1..=2000 {
        if let Err(e) = store.frame(s, seq) {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("a read met the damaged pages");
    assert!(e.to_string().contains("malformed"), "{e}");
    let damage = store.storage_status().damage.expect("damage reported");
    assert!(damage.contains("malformed"), "{damage}");
    let marker = sibling(&path, sockscope_store::CHECK_MARKER_SUFFIX);
    assert!(marker.exists());
    drop(store);
    let before = std::fs::read(&path).unwrap();
    match Store::open(&path) {
        Err(StoreError::Damaged { reason, .. }) => {
            assert!(reason.contains("integrity check failed"), "{reason}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a damaged database was opened after the marker"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "file changed");
    let (store, recovered) = Store::open_or_recover(&path, StoreOptions::default()).unwrap();
    let recovered = recovered.expect("moved aside");
    assert_eq!(std::fs::read(&recovered.moved_to).unwrap(), before);
    assert!(!marker.exists(), "the marker outlived the recovery");
    assert!(store.sessions().unwrap().is_empty());
    drop(store);
    let (_, again) = Store::open_or_recover(&path, StoreOptions::default()).unwrap();
    assert!(again.is_none());
}

/// Deleting a big session goes in steps (`purge.rs`): capture commits in between, the WAL
/// stays bounded, the session is hidden at once, and the space is given back at the end.
/// Before, one transaction deleted everything and vacuumed: the WAL grew by every page the
/// vacuum moved (here the 60 MB session kept after the deleted one) and capture waited.
#[test]
fn deleting_a_big_session_goes_in_steps_beside_capture() {
    const GONE: usize = 100_000;
    const KEPT: usize = 75_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("purge.db");
    let wal = sibling(&path, "-wal");
    rt().block_on(async {
        let store = rows_store(&path);
        // 40 MB in rows to delete (and 2 MB in its payload file), then 30 MB in rows that
        // stays (the vacuum moves it into the freed space), 2 MB in its payload file.
        let small = ROWS_UP_TO - 112;
        let (gone, gc) = session_with_connection(&store, "to delete", SessionKind::Proxy).await;
        for i in 0..GONE {
            let size = if i % 400 == 0 { 20_000 } else { small };
            store.record_frame(frame(gone, gc, i, size)).await.unwrap();
        }
        let (kept, kc) = session_with_connection(&store, "kept", SessionKind::Proxy).await;
        for i in 0..KEPT {
            let size = if i % 300 == 0 { 20_000 } else { small };
            store.record_frame(frame(kept, kc, i, size)).await.unwrap();
        }
        store.flush().await.unwrap();
        let payloads = sockscope_store::payload_dir(&path);
        let gone_file = payloads.join(format!("{}.bin", gone.0));
        let kept_file = payloads.join(format!("{}.bin", kept.0));
        assert!(gone_file.exists() && kept_file.exists());
        let before = store.storage_info().unwrap();
        let (live, lc) = session_with_connection(&store, "capturing", SessionKind::Proxy).await;

        // Sample the WAL while deleting.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (stop, wal) = (stop.clone(), wal.clone());
            std::thread::spawn(move || {
                let mut peak = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
                    std::thread::sleep(Duration::from_millis(2));
                }
                peak
            })
        };
        let delete = {
            let store = store.clone();
            tokio::spawn(async move { store.delete_session(gone).await })
        };
        // Hidden at once (once the delete's first transaction committed).
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.sessions().unwrap().iter().any(|s| s.id == gone) {
            assert!(
                Instant::now() < deadline,
                "the deleted session is still listed"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(matches!(store.session(gone), Err(StoreError::NotFound(_))));
        // Capture goes on while the delete works.
        let mut committed_meanwhile = 0;
        let mut i = 0;
        while !delete.is_finished() {
            store.record_frame(frame(live, lc, i, 500)).await.unwrap();
            store.flush().await.unwrap();
            i += 1;
            if !delete.is_finished() {
                committed_meanwhile += 1;
            }
        }
        delete.await.unwrap().expect("delete");
        // The rows are gone now; the space comes back in steps soon after.
        let deadline = Instant::now() + Duration::from_secs(20);
        let after = loop {
            let info = store.storage_info().unwrap();
            if info.free_pages == 0 {
                break info;
            }
            assert!(Instant::now() < deadline, "space not given back: {info:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak_wal = sampler.join().unwrap();
        println!(
            "{committed_meanwhile} capture commits during the delete; WAL peak {peak_wal} bytes"
        );
        assert!(
            committed_meanwhile >= 1,
            "capture waited for the delete: {committed_meanwhile} commits meanwhile"
        );
        assert!(peak_wal < 40 << 20, "WAL peaked at {peak_wal} bytes");

        assert!(
            after.page_count * 10 < before.page_count * 6,
            "{before:?} -> {after:?}"
        );
        let c = rusqlite::Connection::open(&path).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count(&format!(
                "SELECT COUNT(*) FROM frames WHERE session_id = {}",
                gone.0
            )),
            0
        );
        assert_eq!(
            count(&format!(
                "SELECT COUNT(*) FROM connections WHERE session_id = {}",
                gone.0
            )),
            0
        );
        assert_eq!(count("SELECT COUNT(*) FROM purge"), 0);
        assert_eq!(
            count(&format!(
                "SELECT COUNT(*) FROM frames WHERE session_id = {}",
                kept.0
            )),
            KEPT as i64
        );
        // The deleted session's payload file went with it; the kept one reads back.
        assert!(
            !gone_file.exists(),
            "the deleted session's payload file stays"
        );
        let big = store.frame(kept, 301).unwrap();
        assert_eq!(big.payload, &frame(kept, kc, 300, 20_000).payload[..]);
        assert_eq!(
            count(&format!(
                "SELECT COUNT(*) FROM frames WHERE session_id = {}",
                live.0
            )),
            i as i64
        );
        let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
    });
}

/// A delete left half done (the app quit or was killed while purging) goes on at the next
/// start: the session stays hidden meanwhile and its rows go.
#[test]
fn an_unfinished_delete_goes_on_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("resume.db");
    let (gone, kept) = rt().block_on(async {
        let store = Store::open(&path).expect("open");
        let (gone, gc) = session_with_connection(&store, "half deleted", SessionKind::Proxy).await;
        for i in 0..5000 {
            store.record_frame(frame(gone, gc, i, 300)).await.unwrap();
        }
        let (kept, kc) = session_with_connection(&store, "kept", SessionKind::Proxy).await;
        store.record_frame(frame(kept, kc, 0, 300)).await.unwrap();
        store.flush().await.unwrap();
        (gone, kept)
    });
    // What a delete's first transaction commits, and nothing more (as if stopped there).
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO purge (session_id) VALUES (?1)", [gone.0])
        .unwrap();
    let store = Store::open(&path).expect("reopen");
    let ids: Vec<_> = store.sessions().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![kept], "the half-deleted session is hidden");
    let c = rusqlite::Connection::open(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: i64 = c
            .query_row("SELECT (SELECT COUNT(*) FROM frames WHERE session_id = ?1) + (SELECT COUNT(*) FROM purge)", [gone.0], |r| r.get(0))
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} rows left");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sessions: i64 = c
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 1);
}

/// A tmpfs mounted for one test; unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` when this process may not mount (not root, or no `CAP_SYS_ADMIN`).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A real full file system (a 6 MB tmpfs, `ENOSPC`), not the size limit: capture pauses with
/// cause `disk_full`, the file stays valid, and when the file system grows every frame queued
/// meanwhile is written. Needs the right to mount (root in a container that allows it);
/// without it the test says so and checks nothing (the size-limit test above covers the
/// same path from `SQLITE_FULL` on).
#[test]
fn a_real_full_file_system_pauses_capture_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(fs) = Tmpfs::mount(&dir.path().join("mnt"), "6m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
        return;
    };
    let path = fs.0.join("full.db");
    let n = 800usize;
    rt().block_on(async {
        let store = Store::open(&path).expect("open");
        let (s, c) = session_with_connection(&store, "enospc", SessionKind::Proxy).await;
        let mut events = store.subscribe_status();
        // 800 × 16 KB = 13 MB into 6 MB.
        let producer = produce(&store, s, c, n, 16_000);
        let paused = wait_for_pause(&mut events).await;
        match &paused.state {
            StorageState::Paused { cause, error, .. } => {
                assert_eq!(*cause, PauseCause::DiskFull, "{error}");
            }
            _ => unreachable!(),
        }
        let text = paused.describe().expect("describes itself");
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
        // Meanwhile the file is valid (read through a connection of its own).
        {
            let c = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
            assert_eq!(check, "ok");
            let rows: i64 = c
                .query_row("SELECT COUNT(*) FROM frames", [], |r| r.get(0))
                .unwrap();
            assert!((rows as usize) < n, "nothing was held back: {rows}");
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!producer.is_finished(), "the producer was not held");
        // Space returns.
        fs.resize("64m");
        tokio::time::timeout(Duration::from_secs(30), producer)
            .await
            .expect("the producer was not let go")
            .expect("producer");
        store.flush().await.expect("flush");
        assert!(matches!(store.storage_status().state, StorageState::Ok));
    });
    let c = rusqlite::Connection::open(&path).unwrap();
    let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = c
        .query_row("SELECT COUNT(*) FROM frames", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, n);
    drop(c);
    drop(fs);
}
