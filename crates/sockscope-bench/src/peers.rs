//! The relays under test, each started as its own process so /proc tells its CPU and memory:
//! Sockscope's reverse proxy (recording to a fresh SQLite file), websocat, a Node `ws` relay
//! and mitmdump in reverse mode.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayKind {
    Direct,
    Sockscope,
    Websocat,
    Node,
    Mitmdump,
}

impl RelayKind {
    pub const ALL: [RelayKind; 5] = [
        RelayKind::Direct,
        RelayKind::Sockscope,
        RelayKind::Websocat,
        RelayKind::Node,
        RelayKind::Mitmdump,
    ];
    pub fn name(self) -> &'static str {
        match self {
            RelayKind::Direct => "direct",
            RelayKind::Sockscope => "sockscope",
            RelayKind::Websocat => "websocat",
            RelayKind::Node => "node-ws",
            RelayKind::Mitmdump => "mitmdump",
        }
    }
    pub fn parse(s: &str) -> Option<RelayKind> {
        RelayKind::ALL
            .into_iter()
            .find(|k| k.name() == s || (s == "node" && *k == RelayKind::Node))
    }
}

/// Where each peer's program is, or why it is not there.
#[derive(Debug, Clone)]
pub struct Tools {
    pub sockscope: Result<PathBuf, String>,
    pub websocat: Result<PathBuf, String>,
    /// `node` and the relay script.
    pub node: Result<(PathBuf, PathBuf), String>,
    pub mitmdump: Result<PathBuf, String>,
}

fn executable(p: &Path) -> bool {
    p.is_file()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| executable(p))
    })
}

impl Tools {
    /// Finds the peers under the workspace root: `target/release/sockscope` (or `sockscope`
    /// given explicitly), `target/bench-tools/bin/websocat` (or on PATH), `node` on PATH with
    /// `tests/peers/ws_relay.mjs`, `.venv/bin/mitmdump`.
    pub fn find(root: &Path, sockscope: Option<PathBuf>) -> Tools {
        let sockscope = sockscope.unwrap_or_else(|| root.join("target/release/sockscope"));
        let sockscope = if executable(&sockscope) {
            Ok(sockscope)
        } else {
            Err(format!(
                "{} is missing (cargo build --release -p sockscope-cli)",
                sockscope.display()
            ))
        };
        let websocat = [root.join("target/bench-tools/bin/websocat")]
            .into_iter()
            .find(|p| executable(p))
            .or_else(|| on_path("websocat"))
            .ok_or_else(|| {
                "websocat is not installed (make bench installs it into target/bench-tools)"
                    .to_owned()
            });
        let script = root.join("tests/peers/ws_relay.mjs");
        let node = match (
            on_path("node"),
            root.join("tests/peers/node_modules/ws").is_dir(),
        ) {
            (Some(n), true) if script.is_file() => Ok((n, script)),
            (None, _) => Err("node is not installed".to_owned()),
            _ => Err("tests/peers has no node_modules/ws (cd tests/peers && npm ci)".to_owned()),
        };
        let mitm = root.join(".venv/bin/mitmdump");
        let mitmdump = if executable(&mitm) {
            Ok(mitm)
        } else {
            Err(".venv/bin/mitmdump is missing (.venv/bin/pip install mitmproxy)".to_owned())
        };
        Tools {
            sockscope,
            websocat,
            node,
            mitmdump,
        }
    }

    /// Why a relay cannot run, if it cannot.
    pub fn missing(&self, kind: RelayKind) -> Option<String> {
        match kind {
            RelayKind::Direct => None,
            RelayKind::Sockscope => self.sockscope.as_ref().err().cloned(),
            RelayKind::Websocat => self.websocat.as_ref().err().cloned(),
            RelayKind::Node => self.node.as_ref().err().cloned(),
            RelayKind::Mitmdump => self.mitmdump.as_ref().err().cloned(),
        }
    }
}

/// A child process whose output lines are collected (and offered while starting).
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<String>>,
}

/// Starts this binary's echo server (`sockscope-bench echo`) as its own process and returns
/// it with the address it listens on.
pub fn start_echo() -> Result<(Proc, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["echo", "--listen", "127.0.0.1:0"]);
    let mut proc = Proc::spawn(cmd)?;
    let addr = proc.wait_line(Duration::from_secs(10), |l| {
        l.strip_prefix("listening ")?
            .trim()
            .parse::<SocketAddr>()
            .ok()
    })?;
    Ok((proc, addr))
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Result<Proc, String> {
        let program = format!("{:?}", cmd.get_program());
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{program}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let readers: Vec<Box<dyn Read + Send>> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for r in readers {
            let tx = tx.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        // Keep the log bounded.
                        if l.len() < 64 << 10 {
                            l.push_str(&line);
                            l.push('\n');
                        }
                    }
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Proc { child, lines, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits for output lines until `pick` returns something.
    pub fn wait_line<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    if let Some(v) = pick(&line) {
                        return Ok(v);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("exited before it was ready: {}", self.log()))
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("exited ({st}) before it was ready: {}", self.log()));
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {timeout:?}: {}", self.log()));
            }
        }
    }

    /// Waits until `addr` accepts TCP connections.
    pub fn wait_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("exited ({st}) before listening: {}", self.log()));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not listening on {addr} after {timeout:?}: {}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits up to `grace` (SIGKILL after). Returns how long it took to exit.
    pub fn stop(&mut self, grace: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        if let Ok(Some(_)) = self.child.try_wait() {
            return Err(format!("had already exited: {}", self.log()));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        while start.elapsed() < grace {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!("did not stop within {grace:?}; killed"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port that was free a moment ago (for peers that cannot report the one they bound).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A relay listening for the load generator.
pub struct Relay {
    pub kind: RelayKind,
    pub proc: Proc,
    /// Where the load generator connects.
    pub url: String,
    /// Sockscope: its database and the session it records.
    pub db: Option<(PathBuf, i64)>,
    _dir: tempfile::TempDir,
}

const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Relay {
    /// Starts `kind` in front of the echo server at `echo`.
    pub fn start(
        kind: RelayKind,
        tools: &Tools,
        echo: SocketAddr,
        binary: bool,
    ) -> Result<Relay, String> {
        let dir = tempfile::Builder::new()
            .prefix("sockscope-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let upstream = format!("ws://{echo}");
        match kind {
            RelayKind::Direct => Err("direct has no relay".into()),
            RelayKind::Sockscope => {
                let bin = tools.sockscope.clone()?;
                let db = dir.path().join("bench.db");
                let mut cmd = Command::new(bin);
                cmd.arg("--db")
                    .arg(&db)
                    .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", &upstream])
                    .arg("--ca-dir")
                    .arg(dir.path().join("ca"));
                let mut proc = Proc::spawn(cmd)?;
                let mut session = None;
                let mut addr = None;
                proc.wait_line(START_TIMEOUT, |l| {
                    if let Some(s) = l.strip_prefix("session ") {
                        session = s.trim().parse::<i64>().ok();
                    }
                    if let Some(rest) = l.strip_prefix("listening ") {
                        addr = rest.split_whitespace().next().map(str::to_owned);
                    }
                    Some(()).filter(|()| session.is_some() && addr.is_some())
                })?;
                let (Some(session), Some(addr)) = (session, addr) else {
                    return Err("sockscope did not say where it listens".into());
                };
                Ok(Relay {
                    kind,
                    proc,
                    url: format!("ws://{addr}/"),
                    db: Some((db, session)),
                    _dir: dir,
                })
            }
            RelayKind::Websocat => {
                let bin = tools.websocat.clone()?;
                let port = free_port()?;
                let mut cmd = Command::new(bin);
                cmd.args([
                    "-E",
                    "-B",
                    "1048576",
                    if binary { "-b" } else { "-t" },
                    &format!("ws-l:127.0.0.1:{port}"),
                    &format!("{upstream}/"),
                ]);
                let mut proc = Proc::spawn(cmd)?;
                let addr: SocketAddr = ([127, 0, 0, 1], port).into();
                proc.wait_port(addr, START_TIMEOUT)?;
                Ok(Relay {
                    kind,
                    proc,
                    url: format!("ws://{addr}/"),
                    db: None,
                    _dir: dir,
                })
            }
            RelayKind::Node => {
                let (node, script) = tools.node.clone()?;
                let mut cmd = Command::new(node);
                cmd.arg(script)
                    .args(["--upstream", &upstream, "--port", "0"]);
                let mut proc = Proc::spawn(cmd)?;
                let port = proc.wait_line(START_TIMEOUT, |l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    (v["event"] == "listening").then(|| v["port"].as_u64())?
                })?;
                Ok(Relay {
                    kind,
                    proc,
                    url: format!("ws://127.0.0.1:{port}/"),
                    db: None,
                    _dir: dir,
                })
            }
            RelayKind::Mitmdump => {
                let bin = tools.mitmdump.clone()?;
                let port = free_port()?;
                let mut cmd = Command::new(bin);
                cmd.args([
                    "--quiet",
                    "--mode",
                    &format!("reverse:http://{echo}"),
                    "--listen-host",
                    "127.0.0.1",
                    "--listen-port",
                    &port.to_string(),
                    "--set",
                    &format!("confdir={}", dir.path().join("mitm").display()),
                ]);
                let mut proc = Proc::spawn(cmd)?;
                let addr: SocketAddr = ([127, 0, 0, 1], port).into();
                proc.wait_port(addr, START_TIMEOUT)?;
                Ok(Relay {
                    kind,
                    proc,
                    url: format!("ws://{addr}/"),
                    db: None,
                    _dir: dir,
                })
            }
        }
    }
}
