//! The three processes of the mixed soak (`sockscope-bench soak-mix`, `make soak`):
//!
//! - the **driver** ([`mix`]): starts the echo server and the two processes below, runs the
//!   proxied connections (tokio-tungstenite clients), samples every process every 10 s into
//!   `soak.csv`, rotates and retires the proxy generations, and judges the run;
//! - the **proxy host** ([`proxy_host`], `soak-proxy`): Sockscope's capture proxy
//!   (`sockscope_proxy::Proxy`, configured as `sockscope proxy --upstream` configures it) over
//!   its own database. Each generation is a listener with its own session; the driver opens a
//!   new one every reconnect period and retires an old one once no connection uses it: the
//!   host checks the session's rows against the driver's digest and deletes it through
//!   [`sockscope_store::Store::delete_session`];
//! - the **client engine** ([`client`], `soak-client`): Sockscope's client engine over its own
//!   database (never two writers on one file), one session per connection, each checked and
//!   deleted once closed.
//!
//! The protocol between driver and proxy host is one line per command on the host's stdin
//! (`start`, `retire G COUNT BYTES SUM`, `quit`) and one line per answer on its stdout
//! (`ready`, `gen G ADDR SESSION`, `retired G ROWS`, `mismatch G WHY`, `bye`).

use crate::peers::start_echo;
use crate::procstat;
use crate::soakmix::{self, Counts, Digest, Generations, Pace, Sample};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// `sockscope-bench soak-mix`.
#[derive(clap::Args, Debug, Clone)]
pub struct MixArgs {
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Connections of Sockscope's client engine (to the echo server).
    #[arg(long, default_value_t = 50)]
    pub client_conns: usize,
    /// Connections through Sockscope's capture proxy (reverse) to the echo server.
    #[arg(long, default_value_t = 50)]
    pub proxied_conns: usize,
    /// Messages per second per connection.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Seconds between reconnects of each connection (±25 %); also how often the proxy
    /// starts a new generation (listener + session).
    #[arg(long, default_value_t = 120.0)]
    pub reconnect: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10.0)]
    pub sample: f64,
    /// Seconds of warm-up before the memory-growth window (at most a third of the run).
    #[arg(long, default_value_t = 300.0)]
    pub warmup: f64,
    /// Fail when RSS grows faster than this (MiB/h) after warm-up and keeps growing (the last
    /// third of the window above the middle third by more than --slope-margin).
    #[arg(long, default_value_t = 1.0)]
    pub max_slope_mib_per_hour: f64,
    /// MiB the last third of the window may rise above the middle third's highest sample.
    #[arg(long, default_value_t = 0.25)]
    pub slope_margin: f64,
    /// The growth is judged only when the window after warm-up is at least this many minutes.
    #[arg(long, default_value_t = 10.0)]
    pub slope_min_window: f64,
    /// Stop (and fail) when the file system holding --out has less free space than this (GB).
    #[arg(long, default_value_t = 10.0)]
    pub min_free_gb: f64,
    /// soak.csv, soak.svg and (while it runs) the databases go here.
    #[arg(long, default_value = "target/soak")]
    pub out: PathBuf,
}

/// `sockscope-bench soak-client` (started by the driver).
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    #[arg(long)]
    pub db: PathBuf,
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub conns: usize,
    #[arg(long)]
    pub rate: u32,
    #[arg(long)]
    pub seconds: f64,
    #[arg(long)]
    pub reconnect: f64,
}

/// `sockscope-bench soak-proxy` (started by the driver).
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyHostArgs {
    #[arg(long)]
    pub db: PathBuf,
    /// The echo server, `ws://ADDR`.
    #[arg(long)]
    pub upstream: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// A child process driven over stdin/stdout: stdout lines arrive on a channel, stderr is kept
/// (its last 64 KiB) for the report. Killed when dropped.
struct Child {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<String>>,
    name: &'static str,
}

impl Child {
    fn spawn(name: &'static str, mut cmd: Command) -> Result<Child, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut s) = log.lock() {
                        s.push_str(&l);
                        s.push('\n');
                        if s.len() > 64 << 10 {
                            let cut = s.len() - (48 << 10);
                            let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                            s.drain(..cut);
                        }
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Child {
            child,
            stdin,
            lines,
            log,
            name,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let w = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin closed", self.name))?;
        writeln!(w, "{line}")
            .and_then(|()| w.flush())
            .map_err(|e| format!("{}: {e}\n{}", self.name, self.log()))
    }

    /// Reads stdout lines until `pick` accepts one (other lines are dropped).
    fn wait_line<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{}: no answer within {timeout:?}\n{}",
                    self.name,
                    self.log()
                ));
            }
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(v) = pick(&l) {
                        return Ok(v);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!("{}: exited ({st})\n{}", self.name, self.log()));
                }
            }
        }
    }

    /// Stdout lines available now, without waiting.
    fn drain(&mut self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Waits for the exit (closing stdin first); kills after `grace`.
    fn finish(&mut self, grace: Duration) -> Result<(), String> {
        self.stdin = None;
        let start = Instant::now();
        while start.elapsed() < grace {
            match self.child.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(()),
                Ok(Some(st)) => {
                    return Err(format!("{}: exited with {st}\n{}", self.name, self.log()))
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!(
            "{}: did not exit within {grace:?}; killed",
            self.name
        ))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// As every long-running Sockscope process does (`sockscope`, the app): hand the heap pages
/// glibc keeps after frees back every 10 s, or as `SOCKSCOPE_TRIM_SECS` says (`0`: off, to
/// compare; see `sockscope_heap`).
fn heap_trimmer() -> Result<Option<sockscope_heap::Trimmer>, String> {
    match sockscope_heap::interval_from_env()? {
        Some(every) => sockscope_heap::Trimmer::start(every)
            .map(Some)
            .map_err(|e| format!("heap trimmer: {e}")),
        None => Ok(None),
    }
}

/// What the host prints (to stderr) about its trims at the end.
fn trim_report(trimmer: Option<&sockscope_heap::Trimmer>) -> String {
    match trimmer {
        Some(t) => t.stats().to_string(),
        None => format!("off ({}=0)", sockscope_heap::INTERVAL_ENV),
    }
}

/// The proxy host: see the module documentation.
pub fn proxy_host(a: ProxyHostArgs) -> Result<ExitCode, String> {
    use sockscope_proxy::{Intercept, Proxy, ProxyConfig, ProxyLimits};
    use std::collections::HashMap;
    use tokio::io::AsyncBufReadExt;
    let trimmer = heap_trimmer()?;
    let rt = runtime()?;
    rt.block_on(async {
        let store =
            sockscope_store::Store::open(&a.db).map_err(|e| format!("{}: {e}", a.db.display()))?;
        let ca_dir = a.db.with_extension("ca");
        // As `sockscope proxy` builds it: its own interceptor without rules, default limits.
        let interceptor = Intercept::new();
        let counts = Counts::default();
        let mut gens: HashMap<u64, Proxy> = HashMap::new();
        let mut next_gen = 0u64;
        println!("ready");
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["start"] => {
                    let proxy = Proxy::start(
                        store.clone(),
                        ProxyConfig {
                            listen: "127.0.0.1:0".into(),
                            upstream: Some(a.upstream.clone()),
                            ca_dir: Some(ca_dir.clone()),
                            limits: ProxyLimits::default(),
                            interceptor: Some(interceptor.clone()),
                            ..ProxyConfig::default()
                        },
                    )
                    .await
                    .map_err(|e| format!("proxy: {e}"))?;
                    println!(
                        "gen {next_gen} {} {}",
                        proxy.local_addr(),
                        proxy.session().0
                    );
                    gens.insert(next_gen, proxy);
                    next_gen += 1;
                }
                ["retire", g, digest @ ..] => {
                    let (Some(proxy), Some(sent)) = (
                        g.parse().ok().and_then(|g: u64| gens.remove(&g)),
                        Digest::from_words(digest),
                    ) else {
                        println!("mismatch {g} bad command: {line}");
                        continue;
                    };
                    // The driver retires a generation once its connections are closed on the
                    // client side; give the relays a moment to see the end too.
                    let t0 = Instant::now();
                    while !proxy.live_connections().is_empty()
                        && t0.elapsed() < Duration::from_secs(10)
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let session = proxy.session();
                    proxy.stop().await;
                    match soakmix::verify_and_delete(&store, &a.db, session, &sent, &counts).await {
                        Ok(()) => println!("retired {g} {}", 2 * sent.count),
                        Err(e) => println!("mismatch {g} {e}"),
                    }
                }
                ["quit"] => break,
                _ => println!("mismatch - unknown command: {line}"),
            }
        }
        for (_, p) in gens.drain() {
            p.stop().await;
        }
        store.flush().await.map_err(|e| e.to_string())?;
        eprintln!("trim: {}", trim_report(trimmer.as_ref()));
        println!("bye");
        Ok(ExitCode::SUCCESS)
    })
}

/// The client side of the soak: prints `ready` once the store is open, `progress SENT
/// VERIFIED_ROWS` every 5 s, and at the end (after the store has written everything)
/// `totals SENT RECEIVED CONNECTIONS ERRORS VERIFIED_ROWS VERIFIED_SESSIONS BEHIND OPEN_MS BYTES`.
pub fn client(a: ClientArgs) -> Result<ExitCode, String> {
    let trimmer = heap_trimmer()?;
    let rt = runtime()?;
    rt.block_on(async {
        let store =
            sockscope_store::Store::open(&a.db).map_err(|e| format!("{}: {e}", a.db.display()))?;
        let engine = sockscope_engine::Engine::new(store.clone());
        println!("ready");
        let counts = Arc::new(Counts::default());
        let pace = Pace {
            rate: a.rate,
            end: Instant::now() + Duration::from_secs_f64(a.seconds),
            reconnect: Duration::from_secs_f64(a.reconnect),
        };
        let tasks: Vec<_> = (0..a.conns)
            .map(|i| {
                tokio::spawn(soakmix::engine_client(
                    engine.clone(),
                    store.clone(),
                    a.db.clone(),
                    a.url.clone(),
                    pace.clone(),
                    0x5000 + i as u64,
                    counts.clone(),
                ))
            })
            .collect();
        let progress = {
            let counts = counts.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    println!(
                        "progress {} {}",
                        counts.sent.load(Ordering::Relaxed),
                        counts.verified_rows.load(Ordering::Relaxed)
                    );
                }
            })
        };
        for t in tasks {
            if let Err(e) = t.await {
                counts.error(format!("client task: {e}"));
            }
        }
        progress.abort();
        store.flush().await.map_err(|e| e.to_string())?;
        for e in counts.error_list() {
            eprintln!("error: {e}");
        }
        eprintln!("trim: {}", trim_report(trimmer.as_ref()));
        let l = |v: &AtomicU64| v.load(Ordering::Relaxed);
        println!(
            "totals {} {} {} {} {} {} {} {} {}",
            l(&counts.sent),
            l(&counts.received),
            l(&counts.connections),
            l(&counts.error_count),
            l(&counts.verified_rows),
            l(&counts.verified_sessions),
            l(&counts.behind),
            l(&counts.open_ms),
            l(&counts.bytes)
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// What the generation controller did.
#[derive(Debug, Default)]
struct ProxySummary {
    generations: u64,
    retired: u64,
    verified_rows: u64,
    max_live: usize,
    failures: Vec<String>,
}

/// Opens a new proxy generation every `rotate`, retires idle ones, until `stop`; then
/// retires every generation left and stops the host.
fn control_generations(
    host: &mut Child,
    gens: &Generations,
    rotate: Duration,
    proxied_done: &AtomicBool,
    verified: &AtomicU64,
) -> ProxySummary {
    let mut sum = ProxySummary::default();
    let open = |host: &mut Child, sum: &mut ProxySummary| -> Result<(), String> {
        host.send("start")?;
        let (g, addr) = host.wait_line(Duration::from_secs(30), |l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["gen", g, addr, _session] => Some((g.parse::<u64>().ok()?, addr.to_string())),
                _ => None,
            }
        })?;
        gens.open(g, format!("ws://{addr}/"));
        sum.generations += 1;
        Ok(())
    };
    let retire = |host: &mut Child, sum: &mut ProxySummary, all: bool| -> Result<(), String> {
        for (g, gen) in gens.take_idle(all) {
            if gen.echoed != gen.sent {
                sum.failures.push(format!(
                    "generation {g}: echoes {:?} differ from what was sent {:?}",
                    gen.echoed, gen.sent
                ));
            }
            host.send(&format!("retire {g} {}", gen.sent.to_words()))?;
            let answer = host.wait_line(Duration::from_secs(1800), |l| {
                let w: Vec<&str> = l.splitn(3, ' ').collect();
                match w.as_slice() {
                    ["retired", n, rows] if *n == g.to_string() => {
                        Some(Ok(rows.parse().unwrap_or(0u64)))
                    }
                    ["mismatch", n, why] if *n == g.to_string() || *n == "-" => {
                        Some(Err(why.to_string()))
                    }
                    _ => None,
                }
            })?;
            match answer {
                Ok(rows) => {
                    sum.retired += 1;
                    sum.verified_rows += rows;
                    verified.fetch_add(rows, Ordering::Relaxed);
                }
                Err(why) => sum.failures.push(format!(
                    "proxy generation {g} ({} connections): {why}",
                    gen.connections
                )),
            }
        }
        Ok(())
    };
    let r = (|| -> Result<(), String> {
        open(host, &mut sum)?;
        let mut last = Instant::now();
        while !proxied_done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(200));
            if last.elapsed() >= rotate {
                open(host, &mut sum)?;
                last = Instant::now();
            }
            sum.max_live = sum.max_live.max(gens.live());
            retire(host, &mut sum, false)?;
        }
        retire(host, &mut sum, true)?;
        host.send("quit")?;
        host.wait_line(Duration::from_secs(120), |l| (l == "bye").then_some(()))?;
        host.finish(Duration::from_secs(30))
    })();
    if let Err(e) = r {
        sum.failures.push(format!("proxy host: {e}"));
    }
    sum
}

/// The driver: see the module documentation.
pub fn mix(a: MixArgs) -> Result<ExitCode, String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let dbdir = a.out.join("db");
    if dbdir.exists() {
        std::fs::remove_dir_all(&dbdir).map_err(|e| format!("{}: {e}", dbdir.display()))?;
    }
    std::fs::create_dir_all(&dbdir).map_err(|e| format!("{}: {e}", dbdir.display()))?;
    let min_free = (a.min_free_gb * 1e9) as u64;
    if let Some(free) = soakmix::disk_free(&dbdir) {
        if free < min_free {
            return Err(format!(
                "{}: {:.1} GB free, the soak needs at least --min-free-gb {}",
                dbdir.display(),
                free as f64 / 1e9,
                a.min_free_gb
            ));
        }
    }
    let seconds = a.minutes * 60.0;
    let proxy_db = dbdir.join("proxy.db");
    let client_db = dbdir.join("client.db");
    let (mut echo_proc, echo_addr) = start_echo()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;

    let mut cmd = Command::new(&exe);
    cmd.arg("soak-proxy")
        .arg("--db")
        .arg(&proxy_db)
        .args(["--upstream", &format!("ws://{echo_addr}")]);
    let mut host = Child::spawn("proxy host", cmd)?;
    host.wait_line(Duration::from_secs(30), |l| (l == "ready").then_some(()))?;

    let mut cmd = Command::new(&exe);
    cmd.arg("soak-client")
        .arg("--db")
        .arg(&client_db)
        .args(["--url", &format!("ws://{echo_addr}/")])
        .args(["--conns", &a.client_conns.to_string()])
        .args(["--rate", &a.rate.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .args(["--reconnect", &a.reconnect.to_string()]);
    let mut client = Child::spawn("client engine", cmd)?;
    client.wait_line(Duration::from_secs(30), |l| (l == "ready").then_some(()))?;
    let proxy_pid = host.pid();
    let client_pid = client.pid();
    println!(
        "soak: {:.1} min, {} client + {} proxied connections at {} msg/s, reconnect ~{} s; proxy pid {proxy_pid}, client pid {client_pid}; databases in {}",
        a.minutes, a.client_conns, a.proxied_conns, a.rate, a.reconnect, dbdir.display()
    );
    let csv_path = a.out.join("soak.csv");
    let mut csv =
        std::fs::File::create(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    writeln!(csv, "{}", soakmix::CSV_HEADER).map_err(|e| e.to_string())?;

    let rt = runtime()?;
    let counts = Arc::new(Counts::default());
    let gens = Arc::new(Generations::default());
    let proxied_done = Arc::new(AtomicBool::new(false));
    let proxy_verified = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let pace = Pace {
        rate: a.rate,
        end: start + Duration::from_secs_f64(seconds),
        reconnect: Duration::from_secs_f64(a.reconnect),
    };
    let controller = {
        let gens = gens.clone();
        let done = proxied_done.clone();
        let verified = proxy_verified.clone();
        let rotate = Duration::from_secs_f64(a.reconnect.max(1.0));
        std::thread::spawn(move || {
            let s = control_generations(&mut host, &gens, rotate, &done, &verified);
            (s, host)
        })
    };
    // The first generation must exist before the connections start.
    let t0 = Instant::now();
    while gens.live() == 0 && t0.elapsed() < Duration::from_secs(30) && !controller.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let tasks: Vec<_> = (0..a.proxied_conns)
        .map(|i| {
            rt.spawn(soakmix::proxied(
                gens.clone(),
                pace.clone(),
                0x9000 + i as u64,
                counts.clone(),
            ))
        })
        .collect();

    let mut samples: Vec<Sample> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let (mut client_sent_now, mut client_verified_now) = (0u64, 0u64);
    let mut totals: Option<Vec<u64>> = None;
    let mut max_db = (0u64, 0u64);
    println!("| t s | proxy RSS MiB | fds | WAL MiB | DB MiB | rows verified | client RSS MiB | fds | WAL MiB | DB MiB | rows verified | disk free GB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut next = start;
    loop {
        next += Duration::from_secs_f64(a.sample);
        let done = Instant::now() >= pace.end;
        for l in client.drain() {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            if l.starts_with("progress ") && v.len() == 2 {
                (client_sent_now, client_verified_now) = (v[0], v[1]);
            } else if l.starts_with("totals ") && v.len() == 9 {
                totals = Some(v);
            }
        }
        let s = Sample {
            t_s: start.elapsed().as_secs_f64(),
            proxy_rss: procstat::rss(proxy_pid).map(|r| r.0).unwrap_or(0),
            proxy_fds: soakmix::fds(proxy_pid),
            proxy_wal: soakmix::wal_size(&proxy_db),
            proxy_db: soakmix::file_size(&proxy_db),
            proxy_rows: soakmix::frame_rows(&proxy_db).unwrap_or(0),
            proxy_verified_rows: proxy_verified.load(Ordering::Relaxed),
            client_rss: procstat::rss(client_pid).map(|r| r.0).unwrap_or(0),
            client_fds: soakmix::fds(client_pid),
            client_wal: soakmix::wal_size(&client_db),
            client_db: soakmix::file_size(&client_db),
            client_rows: soakmix::frame_rows(&client_db).unwrap_or(0),
            client_verified_rows: client_verified_now,
            proxied_sent: counts.sent.load(Ordering::Relaxed),
            proxied_received: counts.received.load(Ordering::Relaxed),
            client_sent: client_sent_now,
            disk_free: soakmix::disk_free(&dbdir).unwrap_or(0),
        };
        max_db.0 = max_db.0.max(s.proxy_db + s.proxy_wal);
        max_db.1 = max_db.1.max(s.client_db + s.client_wal);
        if s.proxy_rss == 0 {
            failures.push("the proxy host is gone".to_owned());
        }
        if s.client_rss == 0 && !done && totals.is_none() {
            failures.push("the client process is gone".to_owned());
        }
        if s.disk_free > 0 && s.disk_free < min_free {
            failures.push(format!(
                "disk budget: {:.1} GB free, under --min-free-gb {}",
                s.disk_free as f64 / 1e9,
                a.min_free_gb
            ));
        }
        let mib = |v: u64| v as f64 / 1048576.0;
        println!(
            "| {:.0} | {:.1} | {} | {:.1} | {:.0} | {} | {:.1} | {} | {:.1} | {:.0} | {} | {:.1} |",
            s.t_s,
            mib(s.proxy_rss),
            s.proxy_fds,
            mib(s.proxy_wal),
            mib(s.proxy_db),
            s.proxy_verified_rows,
            mib(s.client_rss),
            s.client_fds,
            mib(s.client_wal),
            mib(s.client_db),
            s.client_verified_rows,
            s.disk_free as f64 / 1e9
        );
        writeln!(csv, "{}", s.csv()).map_err(|e| e.to_string())?;
        samples.push(s);
        if done || !failures.is_empty() {
            break;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let aborted = !failures.is_empty();
    if aborted {
        // Stop early: the connections end at once.
        for t in &tasks {
            t.abort();
        }
    }
    for t in tasks {
        if let Err(e) = rt.block_on(t) {
            if !e.is_cancelled() {
                failures.push(format!("proxied task: {e}"));
            }
        }
    }
    proxied_done.store(true, Ordering::Release);
    let (summary, mut host) = controller
        .join()
        .map_err(|_| "the generation controller panicked".to_owned())?;
    failures.extend(summary.failures.iter().cloned());
    // The client process ends on its own and prints its totals.
    let totals = match totals {
        Some(t) => Ok(t),
        None if aborted => Err("stopped early".to_owned()),
        None => client.wait_line(Duration::from_secs(300), |l| {
            let v: Vec<u64> = l
                .strip_prefix("totals ")?
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 9).then_some(v)
        }),
    };
    if let Err(e) = client.finish(Duration::from_secs(30)) {
        if !aborted {
            failures.push(e);
        }
    }
    drop(host.stdin.take());
    let _ = echo_proc.stop(Duration::from_secs(5));

    let proxied_sent = counts.sent.load(Ordering::Relaxed);
    let proxied_received = counts.received.load(Ordering::Relaxed);
    let proxy_left = soakmix::data_rows(&proxy_db)?;
    let client_left = soakmix::data_rows(&client_db)?;
    for e in counts.error_list() {
        failures.push(format!("proxied: {e}"));
    }
    let c = match &totals {
        Ok(v) => {
            if v[3] > 0 {
                failures.push(format!("client: {} errors:\n{}", v[3], client.log()));
            }
            v.clone()
        }
        Err(e) => {
            failures.push(format!("client totals: {e}\n{}", client.log()));
            vec![0; 9]
        }
    };
    let (client_sent, client_received, client_verified) = (c[0], c[1], c[4]);

    // Memory growth after warm-up (at most a third of the run).
    let warmup = a.warmup.min(seconds / 3.0);
    let window_min = ((seconds - warmup) / 60.0).max(0.0);
    let after = |f: &dyn Fn(&Sample) -> u64| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter(|s| s.t_s >= warmup)
            .map(|s| (s.t_s / 3600.0, f(s) as f64 / 1048576.0))
            .collect()
    };
    let verdicts = [
        (
            "proxy",
            soakmix::judge_growth(
                &after(&|s| s.proxy_rss),
                a.max_slope_mib_per_hour,
                a.slope_margin,
            ),
        ),
        (
            "client",
            soakmix::judge_growth(
                &after(&|s| s.client_rss),
                a.max_slope_mib_per_hour,
                a.slope_margin,
            ),
        ),
    ];
    let mib = |v: u64| v as f64 / 1048576.0;
    let max_of = |f: &dyn Fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    let conn_rate =
        |sent: u64, conns: usize| sent as f64 / (conns.max(1) as f64 * seconds.max(1.0));
    println!();
    println!(
        "proxied: sent {proxied_sent}, echoed {proxied_received}; verified and deleted {} data rows in {} of {} proxy generations (expected {}); {} rows left",
        summary.verified_rows, summary.retired, summary.generations, 2 * proxied_sent, proxy_left
    );
    println!(
        "client engine: sent {client_sent}, echoed {client_received}; verified and deleted {client_verified} data rows in {} sessions (expected {}); {} rows left",
        c[5],
        2 * client_sent,
        client_left
    );
    println!(
        "rate asked {} msg/s per connection; achieved over the run: proxied {:.1}, client {:.1} (while connected: proxied {:.1}, client {:.1}); sends given up behind schedule: proxied {}, client {}",
        a.rate,
        conn_rate(proxied_sent, a.proxied_conns),
        conn_rate(client_sent, a.client_conns),
        counts.achieved_rate(),
        if c[7] > 0 { client_sent as f64 / (c[7] as f64 / 1000.0) } else { 0.0 },
        counts.behind.load(Ordering::Relaxed),
        c[6]
    );
    println!(
        "total: {:.0} msg/s asked, {:.0} msg/s achieved; {:.1} MB/s of payload sent (each echoed back, and every message recorded twice: sent and echoed)",
        a.rate as f64 * (a.client_conns + a.proxied_conns) as f64,
        (proxied_sent + client_sent) as f64 / seconds.max(1.0),
        (counts.bytes.load(Ordering::Relaxed) + c[8]) as f64 / 1e6 / seconds.max(1.0)
    );
    println!(
        "proxy: peak RSS {:.1} MiB (sampled), fds max {}, WAL max {:.1} MiB, DB+WAL max {:.0} MiB, live generations max {}; client: peak RSS {:.1} MiB (sampled), fds max {}, WAL max {:.1} MiB, DB+WAL max {:.0} MiB",
        mib(max_of(&|s| s.proxy_rss)),
        max_of(&|s| s.proxy_fds),
        mib(max_of(&|s| s.proxy_wal)),
        mib(max_db.0),
        summary.max_live,
        mib(max_of(&|s| s.client_rss)),
        max_of(&|s| s.client_fds),
        mib(max_of(&|s| s.client_wal)),
        mib(max_db.1),
    );
    for (who, log) in [("proxy", host.log()), ("client", client.log())] {
        for l in log.lines().filter_map(|l| l.strip_prefix("trim: ")) {
            println!("{who} heap trims: {l}");
        }
    }
    let judged = window_min >= a.slope_min_window;
    for (who, v) in &verdicts {
        match v {
            Some(v) => println!(
                "{who} RSS after {warmup:.0} s warm-up ({window_min:.1} min, {} samples, rolling median of {}): slope {:+.2} MiB/h; last third max {:.2} vs middle third max {:.2} MiB (margin {}; raw samples {:.2} vs {:.2}){}",
                v.samples,
                soakmix::SMOOTH,
                v.slope,
                v.last_max,
                v.middle_max,
                a.slope_margin,
                v.raw_last_max,
                v.raw_middle_max,
                if !judged { " — not judged" } else if v.grows { " — GROWS" } else { " — ok" }
            ),
            None => println!("{who} RSS: too few samples after warm-up for a slope"),
        }
    }
    if !judged {
        println!(
            "growth not judged: {window_min:.1} min after warm-up is under {} min",
            a.slope_min_window
        );
    }
    if proxied_received != proxied_sent {
        failures.push(format!(
            "proxied: {proxied_sent} sent but {proxied_received} echoed"
        ));
    }
    if summary.verified_rows != 2 * proxied_sent {
        failures.push(format!(
            "proxy: {} data rows verified, expected {} (2 × sent)",
            summary.verified_rows,
            2 * proxied_sent
        ));
    }
    if client_received != client_sent {
        failures.push(format!(
            "client: {client_sent} sent but {client_received} echoed"
        ));
    }
    if client_verified != 2 * client_sent {
        failures.push(format!(
            "client: {client_verified} data rows verified, expected {} (sent + echoed)",
            2 * client_sent
        ));
    }
    if proxy_left != 0 || client_left != 0 {
        failures.push(format!(
            "data rows left after every session was checked and deleted: proxy {proxy_left}, client {client_left}"
        ));
    }
    if judged {
        for (who, v) in &verdicts {
            match v {
                Some(v) if !v.grows => {}
                Some(v) => failures.push(format!(
                    "{who} RSS grows {:.2} MiB/h after warm-up (limit {}), last third {:.2} MiB above the middle third",
                    v.slope,
                    a.max_slope_mib_per_hour,
                    v.last_max - v.middle_max
                )),
                None => failures.push(format!("{who}: too few samples for a slope")),
            }
        }
    }
    let svg_path = a.out.join("soak.svg");
    std::fs::write(&svg_path, soakmix::plot(&samples, warmup))
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;
    println!("wrote {} and {}", csv_path.display(), svg_path.display());
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dbdir);
        println!("soak: PASS");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("soak: FAIL: {f}");
        }
        eprintln!("soak: the databases are kept in {}", dbdir.display());
        Ok(ExitCode::FAILURE)
    }
}
