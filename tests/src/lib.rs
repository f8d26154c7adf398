//! End-to-end tests of Sockscope. The Rust ones are in `tests/tests/`; the GUI suite (the
//! built app driven through tauri-driver and WebKitWebDriver under Xvfb) is in `tests/gui/`.
//!
//! This library is the harness the cross-process tests share: where the built binaries, the
//! project venv and the Node peers are, and [`Proc`], a child process (killed with its process
//! group when dropped) whose stdout/stderr lines arrive on channels.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness: failing loudly is the point

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------------------------
// Where things are

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn peers_dir() -> PathBuf {
    workspace().join("tests").join("peers")
}

pub fn target_dir() -> PathBuf {
    let configured = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from));
    match configured {
        Some(p) if p.is_absolute() => p,
        Some(p) => workspace().join(p),
        None => workspace().join("target"),
    }
}

/// The `sockscope` binary the tests run: the debug build, or the one `SOCKSCOPE_BIN` names
/// (e.g. `target/release/sockscope`, to measure the build users run).
pub fn sockscope_bin() -> PathBuf {
    let bin = match std::env::var_os("SOCKSCOPE_BIN").filter(|v| !v.is_empty()) {
        Some(p) if PathBuf::from(&p).is_absolute() => PathBuf::from(p),
        Some(p) => workspace().join(p),
        None => target_dir().join("debug").join("sockscope"),
    };
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p sockscope-cli` first (`make test` builds it before \
         the tests)",
        bin.display()
    );
    bin
}

pub fn python_bin() -> PathBuf {
    let py = workspace().join(".venv").join("bin").join("python");
    assert!(
        py.is_file(),
        "{} is missing: run `scripts/deps.sh test` (installs tests/requirements.txt)",
        py.display()
    );
    py
}

pub fn python(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python_bin());
    cmd.arg(peers_dir().join(script))
        .args(args)
        .current_dir(peers_dir());
    cmd
}

pub fn node(script: &str, args: &[&str]) -> Command {
    assert!(
        peers_dir().join("node_modules").join("ws").is_dir(),
        "tests/peers/node_modules is missing: run `scripts/deps.sh test` (npm ci in tests/peers)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(peers_dir().join(script))
        .args(args)
        .current_dir(peers_dir());
    cmd
}

pub fn sockscope(db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(sockscope_bin());
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .env_remove("SOCKSCOPE_DB");
    cmd
}

// ---------------------------------------------------------------------------------------------
// Processes: every one is killed (with its process group) when its guard is dropped

pub struct Proc {
    pub name: String,
    pub child: Child,
    pub out: Receiver<String>,
    pub err: Receiver<String>,
    log: Arc<Mutex<String>>,
}

pub fn pipe_lines(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    tag: &'static str,
) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_owned();
            if let Ok(mut log) = log.lock() {
                let shown: String = line.chars().take(400).collect();
                log.push_str(&format!("[{tag}] {shown}\n"));
                if log.len() > 64 << 10 {
                    let cut = log.len() - (32 << 10);
                    let cut = (cut..log.len())
                        .find(|&i| log.is_char_boundary(i))
                        .unwrap_or(0);
                    log.drain(..cut);
                }
            }
            // The receiver may be gone; keep draining so the child never blocks on a full pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let out = pipe_lines(child.stdout.take().expect("stdout"), log.clone(), "out");
        let err = pipe_lines(child.stderr.take().expect("stderr"), log.clone(), "err");
        Proc {
            name: name.to_owned(),
            child,
            out,
            err,
            log,
        }
    }

    pub fn context(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        format!(
            "--- {} (pid {}) output ---\n{log}",
            self.name,
            self.child.id()
        )
    }

    pub fn recv(&self, stderr: bool, timeout: Duration, what: &str) -> String {
        let rx = if stderr { &self.err } else { &self.out };
        match rx.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "{}: no {what} within {timeout:?}\n{}",
                    self.name,
                    self.context()
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!(
                    "{}: output ended before {what}\n{}",
                    self.name,
                    self.context()
                )
            }
        }
    }

    /// The next stdout JSON line whose `event` is `event`.
    pub fn event(&self, event: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.recv(false, left, &format!("an {event:?} event"));
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["event"] == event {
                return v;
            }
        }
    }

    /// Every stdout line until the process closes its stdout.
    pub fn stdout_to_end(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(l) => lines.push(l),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: still running after {timeout:?}\n{}",
                    self.name,
                    self.context()
                ),
            }
        }
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: did not exit within {timeout:?}\n{}",
                self.name,
                self.context()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} {} failed", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The whole process group (Chromium's helpers, npm/node children) goes with the leader.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a process that ends by itself; returns its stdout lines (after a successful exit).
pub fn run_to_end(name: &str, cmd: Command, timeout: Duration) -> Vec<String> {
    let (lines, status, context) = run_to_end_status(name, cmd, timeout);
    assert!(status.success(), "{name} failed: {status}\n{context}");
    lines
}

/// Runs a process that ends by itself: its stdout lines, exit status and output log.
pub fn run_to_end_status(
    name: &str,
    cmd: Command,
    timeout: Duration,
) -> (Vec<String>, ExitStatus, String) {
    let mut p = Proc::spawn(name, cmd);
    let lines = p.stdout_to_end(timeout);
    let status = p.wait(secs(10));
    (lines, status, p.context())
}

/// A peer client's `{"event":"result",...}` report.
pub fn run_client(name: &str, cmd: Command, timeout: Duration) -> Value {
    let lines = run_to_end(name, cmd, timeout);
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "result")
        .unwrap_or_else(|| panic!("{name}: no result line in {lines:?}"))
}

/// Starts a peer server and returns it with its port.
pub fn start_server(name: &str, cmd: Command) -> (Proc, u16) {
    let p = Proc::spawn(name, cmd);
    let port = p.event("listening", secs(15))["port"]
        .as_u64()
        .expect("port") as u16;
    (p, port)
}
