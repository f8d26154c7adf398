//! `sockscope-bench`: `run` (the whole comparison, what `make bench` calls), `store` (the
//! capture store micro-bench), `echo` (the echo server), `load` (the load generator alone),
//! `soak` (Sockscope's memory over a long run).

use clap::{Parser, Subcommand};
use sockscope_bench::peers::{Proc, Relay, RelayKind, Tools};
use sockscope_bench::{load, procstat, storebench, suite, svg};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "sockscope-bench", about = "Sockscope's benchmark suite")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The comparison: every workload direct and through each relay, one table, the targets.
    Run {
        /// Seconds of load per workload and relay.
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// Seconds for mitmdump (about 100× slower than the others).
        #[arg(long, default_value_t = 2.0)]
        mitm_duration: f64,
        /// Only these workloads (pipelined, fanout, bulk, latency).
        #[arg(long = "workload")]
        workloads: Vec<String>,
        /// Only these relays (direct, sockscope, websocat, node, mitmdump).
        #[arg(long = "relay")]
        relays: Vec<String>,
        /// The sockscope binary (default: ROOT/target/release/sockscope).
        #[arg(long)]
        sockscope: Option<PathBuf>,
        /// The workspace root (peers are found under it).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Also write results.json and the SVG charts here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Skip the capture-store micro-bench.
        #[arg(long)]
        no_store: bool,
        /// Exit non-zero when a target fails too (always when frames are lost).
        #[arg(long)]
        strict: bool,
    },
    /// The capture store alone: frames/s by payload size and writer batch size.
    Store {
        #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 256, 1024, 16384])]
        sizes: Vec<usize>,
        /// Frames per queued operation (1 = one `record_frame` each; 64 = a relay read).
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 64])]
        per_op: Vec<usize>,
        /// Writer batch limits (operations per transaction) also tried at 256 B.
        #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 4096])]
        batches: Vec<usize>,
        /// Most frames per cell.
        #[arg(long, default_value_t = 400_000)]
        max_frames: u64,
        /// Instead: the store settings tried for issue 7 (page size, who checkpoints) at
        /// 256 B, this many rounds each.
        #[arg(long)]
        variants: Option<usize>,
    },
    /// A WebSocket echo server (prints `listening ADDR`).
    Echo {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// The load generator alone against any ws:// echo endpoint.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long)]
        binary: bool,
        /// Seconds (default 3 when no count is given).
        #[arg(long)]
        duration: Option<f64>,
        /// Messages per connection.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Sockscope's memory over a long run at a steady rate (1 KiB, 64 in flight).
    Soak {
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Round trips per second.
        #[arg(long, default_value_t = 2000)]
        rate: u64,
        #[arg(long)]
        sockscope: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// The mixed soak (`make soak`): client-engine and proxied connections, paced, random
    /// sizes, 1 % binary garbage, reconnecting; RSS, fds, WAL and rows sampled into a CSV.
    SoakMix(SoakMixArgs),
    /// The client side of `soak-mix` (its own process and database): N engine connections.
    #[command(hide = true)]
    SoakClient {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        url: String,
        #[arg(long)]
        conns: usize,
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        seconds: f64,
        #[arg(long)]
        reconnect: f64,
    },
}

#[derive(clap::Args)]
struct SoakMixArgs {
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Connections of Sockscope's client engine (to the echo server).
    #[arg(long, default_value_t = 50)]
    client_conns: usize,
    /// Connections through `sockscope proxy` (reverse) to the echo server.
    #[arg(long, default_value_t = 50)]
    proxied_conns: usize,
    /// Messages per second per connection.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Seconds between reconnects of each connection (±25 %).
    #[arg(long, default_value_t = 180.0)]
    reconnect: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10.0)]
    sample: f64,
    /// Fail when the proxy's RSS grows faster than this after warm-up (judged only when the
    /// window after warm-up is at least --slope-min-window minutes).
    #[arg(long, default_value_t = 1.0)]
    max_slope_mib_per_hour: f64,
    #[arg(long, default_value_t = 5.0)]
    slope_min_window: f64,
    #[arg(long)]
    sockscope: Option<PathBuf>,
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// soak.csv and soak.svg go here.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Echo { listen } => echo(&listen),
        Cmd::Load {
            url,
            conns,
            in_flight,
            size,
            binary,
            duration,
            count,
        } => load_alone(load::LoadSpec {
            url,
            conns,
            in_flight,
            size,
            binary,
            duration: duration
                .or(if count.is_none() { Some(3.0) } else { None })
                .map(Duration::from_secs_f64),
            count,
            stall_timeout: Duration::from_secs(15),
        }),
        Cmd::Store {
            sizes,
            per_op,
            batches,
            max_frames,
            variants,
        } => {
            let rows = match variants {
                Some(rounds) => storebench::variants(max_frames, rounds),
                None => storebench::run(&storebench::StoreBenchOptions {
                    sizes,
                    per_op,
                    batches,
                    max_frames,
                    ..Default::default()
                }),
            };
            print!("{}", storebench::table(&rows));
            if rows.iter().any(Result::is_err) {
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        Cmd::Run {
            duration,
            mitm_duration,
            workloads,
            relays,
            sockscope,
            root,
            out,
            no_store,
            strict,
        } => run_suite(RunArgs {
            duration: Duration::from_secs_f64(duration),
            mitm_duration: Duration::from_secs_f64(mitm_duration.min(duration)),
            workloads,
            relays,
            sockscope,
            root,
            out,
            no_store,
            strict,
        }),
        Cmd::Soak {
            minutes,
            rate,
            sockscope,
            root,
        } => soak(minutes, rate, sockscope, root),
        Cmd::SoakMix(a) => soak_mix(a),
        Cmd::SoakClient {
            db,
            url,
            conns,
            rate,
            seconds,
            reconnect,
        } => soak_client(db, url, conns, rate, seconds, reconnect),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockscope-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

fn echo(listen: &str) -> Result<ExitCode, String> {
    let rt = runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("bind {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening {addr}");
        sockscope_bench::echo::serve(listener).await;
        Ok(ExitCode::SUCCESS)
    })
}

fn load_alone(spec: load::LoadSpec) -> Result<ExitCode, String> {
    let rt = runtime()?;
    let r = rt.block_on(load::run(spec))?;
    println!(
        "{} round trips in {:.2} s: {:.0} msgs/s, {:.1} MB/s, latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        r.messages,
        r.elapsed.as_secs_f64(),
        r.msgs_per_sec(),
        r.mb_per_sec(),
        r.latency_us(0.5),
        r.latency_us(0.99),
        r.max_us()
    );
    for e in &r.errors {
        eprintln!("error: {e}");
    }
    Ok(if r.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts this binary's echo server as its own process.
fn start_echo() -> Result<(Proc, SocketAddr), String> {
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

struct RunArgs {
    duration: Duration,
    mitm_duration: Duration,
    workloads: Vec<String>,
    relays: Vec<String>,
    sockscope: Option<PathBuf>,
    root: PathBuf,
    out: Option<PathBuf>,
    no_store: bool,
    strict: bool,
}

fn run_suite(a: RunArgs) -> Result<ExitCode, String> {
    let workloads: Vec<suite::Workload> = if a.workloads.is_empty() {
        suite::WORKLOADS.to_vec()
    } else {
        a.workloads
            .iter()
            .map(|k| {
                suite::WORKLOADS
                    .iter()
                    .find(|w| w.key == k)
                    .copied()
                    .ok_or_else(|| format!("unknown workload {k:?}"))
            })
            .collect::<Result<_, _>>()?
    };
    let relays: Vec<RelayKind> = if a.relays.is_empty() {
        RelayKind::ALL.to_vec()
    } else {
        a.relays
            .iter()
            .map(|r| RelayKind::parse(r).ok_or_else(|| format!("unknown relay {r:?}")))
            .collect::<Result<_, _>>()?
    };
    let tools = Tools::find(&a.root, a.sockscope.clone());
    for k in &relays {
        if let Some(why) = tools.missing(*k) {
            eprintln!("note: skipping {}: {why}", k.name());
        }
    }
    let load_before = procstat::loadavg();
    let started = Instant::now();
    let (mut echo_proc, echo_addr) = start_echo()?;
    let rt = runtime()?;
    let mut ms = Vec::new();
    for w in &workloads {
        for k in &relays {
            let d = if *k == RelayKind::Mitmdump {
                a.mitm_duration
            } else {
                a.duration
            };
            eprintln!(
                "bench: {} via {} ({:.1} s)…",
                w.key,
                k.name(),
                d.as_secs_f64()
            );
            let m = suite::measure(&rt, &tools, echo_addr, w, *k, d);
            if let Some(e) = &m.error {
                eprintln!("bench: {} via {}: {e}", w.key, k.name());
            }
            ms.push(m);
        }
    }
    let _ = echo_proc.stop(Duration::from_secs(5));
    let store_rows = if a.no_store {
        Vec::new()
    } else {
        eprintln!("bench: capture store micro-bench…");
        storebench::run(&storebench::StoreBenchOptions::default())
    };
    let load_after = procstat::loadavg();
    let headline = storebench::headline(&store_rows);
    let targets = suite::targets(&ms, headline);
    println!("\nMachine: {}", procstat::machine());
    if let (Some(b), Some(e)) = (load_before, load_after) {
        println!(
            "Load average before: {:.2} {:.2} {:.2}; after: {:.2} {:.2} {:.2}; wall {:.0} s",
            b.0,
            b.1,
            b.2,
            e.0,
            e.1,
            e.2,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "\nRelays ({:.1} s per run, mitmdump {:.1} s; msgs/s = round trips/s; MB/s = echoed payload):\n",
        a.duration.as_secs_f64(),
        a.mitm_duration.as_secs_f64()
    );
    print!("{}", suite::table(&ms));
    if !store_rows.is_empty() {
        println!("\nCapture store (real Store, schema as shipped, one producer):\n");
        print!("{}", storebench::table(&store_rows));
    }
    println!("\nTargets (ratios within this run):\n");
    print!("{}", suite::targets_table(&targets));
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json = serde_json::json!({
            "machine": procstat::machine(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "duration_s": a.duration.as_secs_f64(),
            "measurements": ms,
            "store": store_rows.iter().filter_map(|r| r.as_ref().ok()).collect::<Vec<_>>(),
            "targets": targets,
        });
        let write = |name: &str, body: String| {
            std::fs::write(dir.join(name), body)
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        write(
            "results.json",
            serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?,
        )?;
        write("throughput.svg", svg::throughput(&ms))?;
        write(
            "latency-cdf.svg",
            svg::latency_cdf(&ms, "latency", "Latency CDF, 1 conn, 1 KiB, 1 in flight"),
        )?;
        write(
            "latency-cdf-pipelined.svg",
            svg::latency_cdf(&ms, "pipelined", "Latency CDF, 1 conn, 1 KiB, 64 in flight"),
        )?;
        println!("\nwrote results.json and charts to {}", dir.display());
    }
    let broken = ms
        .iter()
        .filter(|m| m.skipped.is_none() && m.error.is_some())
        .count();
    let lost = ms.iter().any(|m| {
        m.relay == RelayKind::Sockscope
            && m.skipped.is_none()
            && !m.verification.as_ref().is_some_and(|v| v.ok())
    });
    let failed_targets = targets.iter().filter(|t| t.pass == Some(false)).count();
    if lost || store_rows.iter().any(Result::is_err) {
        eprintln!("bench: FAILED: a recording lost or changed frames, or a run broke");
        return Ok(ExitCode::FAILURE);
    }
    if broken > 0 {
        eprintln!("bench: {broken} run(s) failed (see the table)");
        return Ok(ExitCode::FAILURE);
    }
    if a.strict && failed_targets > 0 {
        eprintln!("bench: {failed_targets} target(s) failed");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn soak(
    minutes: f64,
    rate: u64,
    sockscope: Option<PathBuf>,
    root: PathBuf,
) -> Result<ExitCode, String> {
    let tools = Tools::find(&root, sockscope);
    if let Some(why) = tools.missing(RelayKind::Sockscope) {
        return Err(why);
    }
    let (mut echo_proc, echo_addr) = start_echo()?;
    let mut relay = Relay::start(RelayKind::Sockscope, &tools, echo_addr, false)?;
    let rt = runtime()?;
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let pid = relay.proc.pid();
    let mut total = 0u64;
    let mut slice = 0u64;
    println!("| minute | round trips | RSS MiB | peak MiB |\n|---:|---:|---:|---:|");
    while Instant::now() < end {
        let t0 = Instant::now();
        let r = rt.block_on(load::run(load::LoadSpec {
            url: relay.url.clone(),
            conns: 1,
            in_flight: 64,
            size: 1024,
            binary: false,
            duration: None,
            count: Some(rate),
            stall_timeout: Duration::from_secs(15),
        }))?;
        if !r.errors.is_empty() {
            return Err(r.errors.join("; "));
        }
        total += r.messages;
        slice += 1;
        if slice.is_multiple_of(10) {
            if let Some((now, peak)) = procstat::rss(pid) {
                println!(
                    "| {:.1} | {total} | {:.1} | {:.1} |",
                    slice as f64 / 60.0,
                    now as f64 / 1048576.0,
                    peak as f64 / 1048576.0
                );
            }
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(t0.elapsed()));
    }
    relay.proc.stop(Duration::from_secs(120))?;
    let _ = echo_proc.stop(Duration::from_secs(5));
    if let Some((db, session)) = &relay.db {
        // Each slice is its own connection: check the totals.
        let c = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        let frames: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM frames WHERE session_id = ?1 AND opcode IN (1, 2)",
                [session],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        println!("recorded {frames} data frames for {total} round trips");
        if frames as u64 != 2 * total {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn multi_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// The client side of the soak: prints `ready` once the store is open, `totals SENT
/// RECEIVED CONNECTIONS ERRORS` at the end (after the store has written everything).
fn soak_client(
    db: PathBuf,
    url: String,
    conns: usize,
    rate: u32,
    seconds: f64,
    reconnect: f64,
) -> Result<ExitCode, String> {
    use sockscope_bench::soakmix;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let rt = multi_runtime()?;
    rt.block_on(async {
        let store =
            sockscope_store::Store::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
        let engine = sockscope_engine::Engine::new(store.clone());
        println!("ready");
        let counts = Arc::new(soakmix::Counts::default());
        let pace = soakmix::Pace {
            rate,
            end: Instant::now() + Duration::from_secs_f64(seconds),
            reconnect: Duration::from_secs_f64(reconnect),
        };
        let tasks: Vec<_> = (0..conns)
            .map(|i| {
                tokio::spawn(soakmix::engine_client(
                    engine.clone(),
                    url.clone(),
                    pace.clone(),
                    0x5000 + i as u64,
                    counts.clone(),
                ))
            })
            .collect();
        for t in tasks {
            if let Err(e) = t.await {
                eprintln!("client task: {e}");
            }
        }
        store.flush().await.map_err(|e| e.to_string())?;
        let errors = counts.error_list();
        for e in &errors {
            eprintln!("error: {e}");
        }
        println!(
            "totals {} {} {} {}",
            counts.sent.load(Ordering::Relaxed),
            counts.received.load(Ordering::Relaxed),
            counts.connections.load(Ordering::Relaxed),
            errors.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn soak_mix(a: SoakMixArgs) -> Result<ExitCode, String> {
    use sockscope_bench::soakmix::{self, Sample};
    use std::io::Write;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let tools = Tools::find(&a.root, a.sockscope.clone());
    if let Some(why) = tools.missing(RelayKind::Sockscope) {
        return Err(why);
    }
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let seconds = a.minutes * 60.0;
    let (mut echo_proc, echo_addr) = start_echo()?;
    let mut relay = Relay::start(RelayKind::Sockscope, &tools, echo_addr, false)?;
    let Some((proxy_db, _session)) = relay.db.clone() else {
        return Err("the proxy has no database".into());
    };
    let dir = tempfile::Builder::new()
        .prefix("sockscope-soak-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let client_db = dir.path().join("client.db");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("soak-client")
        .arg("--db")
        .arg(&client_db)
        .args(["--url", &format!("ws://{echo_addr}/")])
        .args(["--conns", &a.client_conns.to_string()])
        .args(["--rate", &a.rate.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .args(["--reconnect", &a.reconnect.to_string()]);
    let mut client = Proc::spawn(cmd)?;
    client.wait_line(Duration::from_secs(30), |l| {
        (l.trim() == "ready").then_some(())
    })?;
    let proxy_pid = relay.proc.pid();
    let client_pid = client.pid();
    println!(
        "soak: {:.1} min, {} client + {} proxied connections at {} msg/s, reconnect ~{} s; proxy pid {proxy_pid}, client pid {client_pid}",
        a.minutes, a.client_conns, a.proxied_conns, a.rate, a.reconnect
    );
    let csv_path = a.out.join("soak.csv");
    let mut csv =
        std::fs::File::create(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    writeln!(csv, "{}", soakmix::CSV_HEADER).map_err(|e| e.to_string())?;
    let rt = multi_runtime()?;
    let counts = Arc::new(soakmix::Counts::default());
    let start = Instant::now();
    let pace = soakmix::Pace {
        rate: a.rate,
        end: start + Duration::from_secs_f64(seconds),
        reconnect: Duration::from_secs_f64(a.reconnect),
    };
    let tasks: Vec<_> = (0..a.proxied_conns)
        .map(|i| {
            rt.spawn(soakmix::proxied(
                relay.url.clone(),
                pace.clone(),
                0x9000 + i as u64,
                counts.clone(),
            ))
        })
        .collect();
    let mut samples: Vec<Sample> = Vec::new();
    let mut crashed = Vec::new();
    println!("| t s | proxy RSS MiB | fds | WAL MiB | rows | client RSS MiB | fds | WAL MiB | rows |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut next = start;
    loop {
        next += Duration::from_secs_f64(a.sample);
        let done = Instant::now() >= pace.end;
        let s = Sample {
            t_s: start.elapsed().as_secs_f64(),
            proxy_rss: procstat::rss(proxy_pid).map(|r| r.0).unwrap_or(0),
            proxy_fds: soakmix::fds(proxy_pid),
            proxy_wal: soakmix::wal_size(&proxy_db),
            proxy_rows: soakmix::data_rows(&proxy_db).unwrap_or(0),
            client_rss: procstat::rss(client_pid).map(|r| r.0).unwrap_or(0),
            client_fds: soakmix::fds(client_pid),
            client_wal: soakmix::wal_size(&client_db),
            client_rows: soakmix::data_rows(&client_db).unwrap_or(0),
            proxied_sent: counts.sent.load(Ordering::Relaxed),
            proxied_received: counts.received.load(Ordering::Relaxed),
        };
        if s.proxy_rss == 0 {
            crashed.push("the proxy is gone".to_owned());
        }
        if s.client_rss == 0 && !done {
            crashed.push("the client process is gone".to_owned());
        }
        let mib = |v: u64| v as f64 / 1048576.0;
        println!(
            "| {:.0} | {:.1} | {} | {:.1} | {} | {:.1} | {} | {:.1} | {} |",
            s.t_s,
            mib(s.proxy_rss),
            s.proxy_fds,
            mib(s.proxy_wal),
            s.proxy_rows,
            mib(s.client_rss),
            s.client_fds,
            mib(s.client_wal),
            s.client_rows
        );
        writeln!(csv, "{}", s.csv()).map_err(|e| e.to_string())?;
        samples.push(s);
        if done || !crashed.is_empty() {
            break;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for t in tasks {
        if let Err(e) = rt.block_on(t) {
            crashed.push(format!("proxied task: {e}"));
        }
    }
    // The client process ends on its own and prints its totals.
    let totals = client.wait_line(Duration::from_secs(120), |l| {
        let v: Vec<u64> = l
            .strip_prefix("totals ")?
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        (v.len() == 4).then_some(v)
    });
    let _ = client.stop(Duration::from_secs(30));
    let proxy_peak = procstat::rss(proxy_pid).map(|r| r.1).unwrap_or(0);
    let proxy_stop = relay.proc.stop(Duration::from_secs(120));
    let _ = echo_proc.stop(Duration::from_secs(5));
    let mut failures = crashed;
    if let Err(e) = &proxy_stop {
        failures.push(format!("proxy shutdown: {e}"));
    }
    let proxied_sent = counts.sent.load(Ordering::Relaxed);
    let proxied_received = counts.received.load(Ordering::Relaxed);
    let proxy_rows = soakmix::data_rows(&proxy_db)?;
    let client_rows = soakmix::data_rows(&client_db)?;
    for e in counts.error_list() {
        failures.push(format!("proxied: {e}"));
    }
    let (client_sent, client_received) = match &totals {
        Ok(v) => {
            if v[3] > 0 {
                failures.push(format!(
                    "client: {} errors (see its stderr)\n{}",
                    v[3],
                    client.log()
                ));
            }
            (v[0], v[1])
        }
        Err(e) => {
            failures.push(format!("client totals: {e}\n{}", client.log()));
            (0, 0)
        }
    };
    // Warm-up: the first 20 % of the run, at least one minute.
    let warmup = (seconds * 0.2).max(60.0);
    let after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t_s >= warmup)
        .map(|s| (s.t_s / 3600.0, s.proxy_rss as f64 / 1048576.0))
        .collect();
    let client_after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t_s >= warmup)
        .map(|s| (s.t_s / 3600.0, s.client_rss as f64 / 1048576.0))
        .collect();
    let slope = soakmix::slope(&after);
    let client_slope = soakmix::slope(&client_after);
    let window_min = ((seconds - warmup) / 60.0).max(0.0);
    let mib = |v: u64| v as f64 / 1048576.0;
    let max_of = |f: &dyn Fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    println!();
    println!("proxied: sent {proxied_sent}, echoed {proxied_received}; proxy recorded {proxy_rows} data frames (expected {})", 2 * proxied_sent);
    println!("client engine: sent {client_sent}, echoed {client_received}; recorded {client_rows} data frames (expected {})", client_sent + client_received);
    println!(
        "proxy: peak RSS {:.1} MiB, fds max {}, WAL max {:.1} MiB; client: peak sampled RSS {:.1} MiB, fds max {}, WAL max {:.1} MiB",
        mib(proxy_peak),
        max_of(&|s| s.proxy_fds),
        mib(max_of(&|s| s.proxy_wal)),
        mib(max_of(&|s| s.client_rss)),
        max_of(&|s| s.client_fds),
        mib(max_of(&|s| s.client_wal))
    );
    let fmt = |s: Option<f64>| s.map_or("n/a".to_owned(), |v| format!("{v:+.2}"));
    println!(
        "RSS slope after {warmup:.0} s warm-up ({window_min:.1} min, {} samples): proxy {} MiB/h, client {} MiB/h",
        after.len(),
        fmt(slope),
        fmt(client_slope)
    );
    if proxied_received != proxied_sent {
        failures.push(format!(
            "proxied: {proxied_sent} sent but {proxied_received} echoed"
        ));
    }
    if proxy_rows != 2 * proxied_sent {
        failures.push(format!(
            "proxy recorded {proxy_rows} data frames, expected {}",
            2 * proxied_sent
        ));
    }
    if client_received != client_sent {
        failures.push(format!(
            "client: {client_sent} sent but {client_received} echoed"
        ));
    }
    if client_rows != client_sent + client_received {
        failures.push(format!(
            "client recorded {client_rows} data frames, expected {}",
            client_sent + client_received
        ));
    }
    if window_min >= a.slope_min_window {
        for (who, s) in [("proxy", slope), ("client", client_slope)] {
            match s {
                Some(v) if v < a.max_slope_mib_per_hour => {}
                Some(v) => failures.push(format!(
                    "{who} RSS grows {v:.2} MiB/h after warm-up (limit {})",
                    a.max_slope_mib_per_hour
                )),
                None => failures.push(format!("{who}: too few samples for a slope")),
            }
        }
    } else {
        println!(
            "slope not judged: {window_min:.1} min after warm-up is under {} min",
            a.slope_min_window
        );
    }
    let svg_path = a.out.join("soak.svg");
    std::fs::write(&svg_path, soakmix::plot(&samples, warmup))
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;
    println!("wrote {} and {}", csv_path.display(), svg_path.display());
    if failures.is_empty() {
        println!("soak: PASS");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("soak: FAIL: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}
