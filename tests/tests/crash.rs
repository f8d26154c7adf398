//! Crash tests: the real `sockscope` binary is killed with SIGKILL at random moments while
//! it captures under steady load, while it migrates a database and while it exports; after
//! each kill the file opens, `PRAGMA quick_check` is ok and nothing committed is missing.
//!
//! Iterations: `SOCKSCOPE_CRASH_ITERATIONS` (default 100, 20 when `CI` is set);
//! `SOCKSCOPE_CRASH_SEED` repeats a run (the seed is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use futures_util::{SinkExt, StreamExt};
use sockscope_e2e::sockscope_bin;
use sockscope_testkit::EchoServer;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn iterations(default: usize, ci: usize) -> usize {
    if let Some(n) = std::env::var("SOCKSCOPE_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        ci
    } else {
        default
    }
}

/// xorshift64*, seeded from the clock or `SOCKSCOPE_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn new(name: &str) -> Rng {
        let seed = std::env::var("SOCKSCOPE_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        println!("{name}: SOCKSCOPE_CRASH_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

struct Killed {
    child: Child,
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn quick_check(path: &Path) -> String {
    let c = rusqlite::Connection::open(path).expect("open after kill");
    c.query_row("PRAGMA quick_check", [], |r| r.get(0))
        .expect("quick_check")
}

/// The last complete `SESSION SEQ` line of the commit log for `session` (0 when none).
fn last_committed(log: &Path, session: i64) -> i64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(s, _)| s.parse::<i64>().ok() == Some(session))
        .filter_map(|(_, seq)| seq.parse::<i64>().ok())
        .max()
        .unwrap_or(0)
}

/// Load through the proxy: `n` connections, each sending a message and reading its echo.
async fn load(addr: String, n: usize) {
    let mut tasks = Vec::new();
    for c in 0..n {
        let url = format!("ws://{addr}/load{c}");
        tasks.push(tokio::spawn(async move {
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
                return;
            };
            for i in 0u64.. {
                let body = format!(
                    "conn {c} message {i} {}",
                    "x".repeat((i % 50) as usize * 20)
                );
                if ws.send(Message::text(body)).await.is_err() {
                    return;
                }
                match ws.next().await {
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

#[test]
fn sigkill_during_capture_keeps_every_committed_frame() {
    let n = iterations(100, 20);
    let mut rng = Rng::new("capture");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(EchoServer::start()).expect("echo server");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("crash.db");
    let log = dir.path().join("commits.log");
    let mut with_frames = 0;
    let mut total_committed = 0i64;
    let (mut total_checked, mut total_in_file) = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..n {
        let mut child = Command::new(sockscope_bin())
            .arg("--db")
            .arg(&db)
            .arg("--commit-log")
            .arg(&log)
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream"])
            .arg(server.url())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sockscope");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let guard = Killed { child };
        let mut out = BufReader::new(stdout);
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let session: i64 = line
            .trim()
            .strip_prefix("session ")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("iteration {i}: no session line: {line:?}"));
        let (err_tx, err_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(l);
            }
        });
        let listening = err_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("listening line");
        assert!(
            !listening.contains("damaged"),
            "iteration {i}: the database was found damaged after a kill: {listening}"
        );
        let addr = listening
            .strip_prefix("listening ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("iteration {i}: {listening:?}"))
            .to_owned();
        let load_task = rt.spawn(load(addr, 3));
        std::thread::sleep(rng.millis(50, 600));
        drop(guard); // SIGKILL, then reap
        load_task.abort();

        assert_eq!(quick_check(&db), "ok", "iteration {i}");
        let committed = last_committed(&log, session);
        let c = rusqlite::Connection::open(&db).unwrap();
        let (count, max, frame_count): (i64, i64, i64) = c
            .query_row(
                "SELECT COUNT(*), COALESCE(MAX(seq), 0), \
                 (SELECT frame_count FROM sessions WHERE id = ?1) \
                 FROM frames WHERE session_id = ?1 AND seq <= ?2",
                [session, committed],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        assert_eq!(
            (count, max),
            (committed, committed),
            "iteration {i}: frames 1..={committed} of session {session} are not all there"
        );
        assert!(
            frame_count >= committed,
            "iteration {i}: frame_count {frame_count}"
        );
        // And every committed message reads back whole, from its row or (512 bytes and
        // more) from the session's payload file.
        let (checked, in_file) = check_payloads(&c, &db, session, committed)
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        total_in_file += in_file;
        total_checked += checked;
        if committed > 0 {
            with_frames += 1;
        }
        total_committed += committed;
    }
    // Most kills happened with frames committed (otherwise the test proves little).
    println!(
        "capture: {n} SIGKILLs in {:.1} s, {with_frames} with committed frames, \
         {total_committed} committed frames checked, {total_checked} messages read back \
         ({total_in_file} from payload files)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        total_in_file > 0,
        "no payload came from a payload file: the test proves nothing about them"
    );
    assert!(
        with_frames * 2 >= n,
        "only {with_frames}/{n} runs committed frames"
    );
}

/// Checks the text messages of `session` up to seq `committed` against what [`load`] sends
/// (`conn C message I ` and `(I % 50) * 20` x's): the number checked, and how many of them
/// were read from the payload file.
fn check_payloads(
    c: &rusqlite::Connection,
    db: &Path,
    session: i64,
    committed: i64,
) -> Result<(u64, u64), String> {
    sockscope_store::register_payload_function(c, db).map_err(|e| e.to_string())?;
    let mut stmt = c
        .prepare(
            "SELECT seq, sockscope_payload(session_id, payload, poff, plen), poff IS NOT NULL \
             FROM frames WHERE session_id = ?1 AND seq <= ?2 AND opcode = 1 AND dir = 0",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = stmt
        .query([session, committed])
        .map_err(|e| e.to_string())?;
    let (mut checked, mut in_file) = (0u64, 0u64);
    while let Some(r) = rows.next().map_err(|e| e.to_string())? {
        let seq: i64 = r.get(0).map_err(|e| e.to_string())?;
        let payload: Vec<u8> = r.get(1).map_err(|e| e.to_string())?;
        let from_file: bool = r.get(2).map_err(|e| e.to_string())?;
        let text = String::from_utf8(payload).map_err(|_| format!("seq {seq}: not UTF-8"))?;
        let i: u64 = text
            .split(' ')
            .nth(3)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                format!(
                    "seq {seq}: unexpected payload {:?}",
                    &text[..text.len().min(40)]
                )
            })?;
        let xs = text.rsplit(' ').next().unwrap_or("");
        if xs.len() != (i % 50) as usize * 20 || xs.bytes().any(|b| b != b'x') {
            return Err(format!(
                "seq {seq}: message {i} came back with {} x's",
                xs.len()
            ));
        }
        checked += 1;
        in_file += u64::from(from_file);
    }
    Ok((checked, in_file))
}

/// A v3 database with many frames; `sockscope sessions` migrates it to the latest schema
/// (v4 builds the full-text index over every frame). Killed at random moments of that, the
/// file is always at v3 or v4 with every row, and the next start finishes the job.
#[test]
fn sigkill_during_a_migration_leaves_the_old_or_the_new_schema() {
    let n = iterations(20, 6);
    let mut rng = Rng::new("migration");
    let dir = tempfile::tempdir().expect("tempdir");
    let v3 = dir.path().join("v3.db");
    sockscope_store::migrate_to(&v3, 3).expect("v3");
    let frames = 150_000i64;
    {
        let mut c = rusqlite::Connection::open(&v3).unwrap();
        let tx = c.transaction().unwrap();
        tx.execute_batch(
            "INSERT INTO sessions (id, name, kind, created_at_us) VALUES (1, 'old', 'proxy', 1); \
             INSERT INTO connections (id, session_id, url, state, created_at_us) \
             VALUES (1, 1, 'ws://127.0.0.1:1/', 'closed', 1);",
        )
        .unwrap();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, payload) \
                     VALUES (1, ?1, 1, ?1, 0, 1, 1, 40, ?2)",
                )
                .unwrap();
            for seq in 1..=frames {
                st.execute(rusqlite::params![
                    seq,
                    format!("message number {seq} with some words in it").into_bytes()
                ])
                .unwrap();
            }
        }
        tx.execute("UPDATE sessions SET frame_count = ?1", [frames])
            .unwrap();
        tx.commit().unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let work = dir.path().join("work.db");
    let fresh_copy = || {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", work.display()));
        }
        std::fs::copy(&v3, &work).unwrap();
    };
    let sessions = || {
        Command::new(sockscope_bin())
            .arg("--db")
            .arg(&work)
            .args(["sessions", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    // How long an undisturbed migration takes.
    fresh_copy();
    let t = Instant::now();
    let out = sessions().wait_with_output().unwrap();
    let full = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("migration v3 -> v4 of {frames} frames: {full:?}");
    let mut saw = [0usize; 2];
    for i in 0..n {
        fresh_copy();
        let child = sessions();
        let guard = Killed { child };
        std::thread::sleep(rng.millis(0, full.as_millis() as u64 * 5 / 4));
        drop(guard);
        assert_eq!(quick_check(&work), "ok", "iteration {i}");
        let c = rusqlite::Connection::open(&work).unwrap();
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let rows: i64 = c
            .query_row("SELECT COUNT(*) FROM frames", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, frames, "iteration {i}");
        match version {
            3 => saw[0] += 1,
            // v4 built the index; later migrations (v5: workbench tables) are small and
            // separate, so a kill may also land between them.
            v if (4..=sockscope_store::SCHEMA_VERSION).contains(&v) => {
                saw[1] += 1;
                let hits: i64 = c
                    .query_row(
                        "SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'number'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(hits, frames, "iteration {i}: index incomplete");
            }
            v => panic!("iteration {i}: schema version {v}"),
        }
        drop(c);
        // The next start completes (or has nothing left to do).
        let out = sessions().wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "iteration {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json[0]["frames"], frames, "iteration {i}");
    }
    println!(
        "migration: {n} SIGKILLs, {} left at v3, {} at v{}",
        saw[0],
        saw[1],
        sockscope_store::SCHEMA_VERSION
    );
}

/// `export -o FILE` writes a temporary file and renames it: killed at any moment, FILE is
/// either absent or complete.
#[test]
fn sigkill_during_export_never_leaves_a_half_file() {
    let n = iterations(20, 6);
    let mut rng = Rng::new("export");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("export.db");
    let frames = 60_000usize;
    let session = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = sockscope_store::Store::open(&db).unwrap();
            let s = store
                .create_session("export", sockscope_store::SessionKind::Client)
                .await
                .unwrap();
            let c = store
                .create_connection(sockscope_store::NewConnection {
                    session: s,
                    url: "ws://127.0.0.1:1/".into(),
                    request_headers: vec![],
                    insecure: false,
                    created_at_us: 1,
                })
                .await
                .unwrap();
            for i in 0..frames {
                let f = sockscope_proto::FrameRecord::message(
                    s,
                    c,
                    sockscope_proto::Direction::Server,
                    sockscope_proto::Opcode::Text,
                    bytes::Bytes::from(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(200))),
                    i as i64,
                );
                store.record_frame(f).await.unwrap();
            }
            store.flush().await.unwrap();
            s
        });
    let out_file = dir.path().join("out.jsonl");
    let export = || {
        Command::new(sockscope_bin())
            .arg("--db")
            .arg(&db)
            .args(["export", &session.0.to_string(), "--format", "jsonl", "-o"])
            .arg(&out_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let t = Instant::now();
    let out = export().wait_with_output().unwrap();
    let full = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let complete = std::fs::read(&out_file).unwrap();
    println!(
        "export of {frames} frames: {full:?}, {} bytes",
        complete.len()
    );
    let mut absent = 0;
    for i in 0..n {
        let _ = std::fs::remove_file(&out_file);
        let guard = Killed { child: export() };
        std::thread::sleep(rng.millis(0, full.as_millis() as u64 * 5 / 4));
        drop(guard);
        match std::fs::read(&out_file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => absent += 1,
            Err(e) => panic!("iteration {i}: {e}"),
            Ok(bytes) => {
                // Frame lines carry no time of export: a finished export is byte-identical.
                assert_eq!(bytes.len(), complete.len(), "iteration {i}: half file");
                assert!(bytes == complete, "iteration {i}: different content");
            }
        }
    }
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".sockscope-export-")
        })
        .count();
    println!(
        "export: {n} SIGKILLs, {absent} before the rename, {} after; {leftovers} temporary \
         files left by killed exports (hidden, next to the target)",
        n - absent
    );
}

/// The CLI on a damaged file: it moves the file aside, says where on stderr, and works on a
/// fresh database; a newer database is refused with a clear message and left in place.
#[test]
fn the_cli_moves_a_damaged_database_aside_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("sockscope.db");
    let junk = b"PK\x03\x04 a zip file, not a database".repeat(50);
    std::fs::write(&db, &junk).unwrap();
    let out = Command::new(sockscope_bin())
        .arg("--db")
        .arg(&db)
        .args(["sessions", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let moved: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("sockscope.db.corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).unwrap(), junk);
    assert!(
        stderr.contains("damaged") && stderr.contains(&*moved[0].to_string_lossy()),
        "{stderr}"
    );

    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "user_version", sockscope_store::SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    let out = Command::new(sockscope_bin())
        .arg("--db")
        .arg(&db)
        .arg("sessions")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("newer Sockscope"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// The CLI tells on stderr when capture pauses at the database size limit (`--db-max-mb`):
/// the cause, the frames waiting, what to do and the database path; a bad limit is a usage
/// error.
#[test]
fn the_cli_says_on_stderr_when_capture_pauses_at_the_size_limit() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(EchoServer::start()).expect("echo server");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("limit.db");
    let upstream = server.url();
    let proxy = sockscope_e2e::Proc::spawn(
        "proxy",
        sockscope_e2e::sockscope(
            &db,
            &[
                "--db-max-mb",
                "1",
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                upstream.trim_end_matches('/'),
            ],
        ),
    );
    let session = proxy.recv(false, Duration::from_secs(20), "the session line");
    assert!(session.starts_with("session "), "{session}");
    let listening = proxy.recv(true, Duration::from_secs(20), "the listening line");
    let addr = listening
        .strip_prefix("listening ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{listening:?}"))
        .to_owned();
    // 6 MB of messages into a 1 MB database: the writer pauses, the client is held back.
    let client = rt.spawn(async move {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/full")).await
        else {
            return 0usize;
        };
        let chunk = bytes::Bytes::from(vec![b'z'; 64 << 10]);
        let mut echoed = 0;
        for _ in 0..100 {
            let step = async {
                ws.send(Message::Binary(chunk.clone())).await.ok()?;
                ws.next().await?.ok()
            };
            match tokio::time::timeout(Duration::from_secs(2), step).await {
                Ok(Some(_)) => echoed += 1,
                _ => break,
            }
        }
        echoed
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let paused = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = proxy.recv(true, left, "the pause on stderr");
        if line.contains("capture paused") {
            break line;
        }
    };
    let db_text = db.to_string_lossy();
    assert!(
        paused.starts_with(
            "sockscope: capture paused: the database reached its size limit of 1 MB ("
        ) && paused.contains("frames waiting)")
            && paused.contains("capture resumes automatically")
            && paused.ends_with(&format!("Database: {db_text}")),
        "{paused}"
    );
    let echoed = rt.block_on(client).expect("client");
    assert!(
        echoed < 100,
        "the client was never held back ({echoed} echoes)"
    );
    drop(proxy);
    assert_eq!(quick_check(&db), "ok");

    let out = Command::new(sockscope_bin())
        .arg("--db")
        .arg(&db)
        .args(["--db-max-mb", "1.5", "sessions"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whole number of MB"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
