//! `sockscope-bench`: `run` (the whole comparison, what `make bench` calls), `store` (the
//! capture store micro-bench), `echo` (the echo server), `load` (the load generator alone),
//! `soak` (Sockscope's memory over a long run).

use clap::{Parser, Subcommand};
use sockscope_bench::peers::{start_echo, Relay, RelayKind, Tools};
use sockscope_bench::{load, procstat, storebench, suite, svg};
use std::path::PathBuf;
use std::process::ExitCode;
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
        /// Seconds for Sockscope: long enough that what it records is written back to the
        /// disk while it is measured. The kernel starts writing back only once a few GB are
        /// dirty (seconds at `pipelined`'s 700 MB/s), so 3-s runs read 6–12 % high.
        #[arg(long, default_value_t = 12.0)]
        sockscope_duration: f64,
        /// Rounds of every workload and relay, interleaved (direct, sockscope, websocat, …,
        /// then again); each cell of the table is its median round. Five since the sixteenth
        /// pass: websocat's runs were bimodal on one machine (66,187 and 140,481 round trips/s
        /// of `fanout` in one invocation), and a median of three followed its luck.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
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
    /// sizes, 1 % binary garbage, reconnecting; RSS, fds, WAL, DB size and rows sampled into a
    /// CSV; every connection's rows checked against what was sent, then deleted.
    SoakMix(sockscope_bench::soakrun::MixArgs),
    /// The client side of `soak-mix` (its own process and database): N engine connections.
    #[command(hide = true)]
    SoakClient(sockscope_bench::soakrun::ClientArgs),
    /// The proxy side of `soak-mix` (its own process and database), driven over stdin.
    #[command(hide = true)]
    SoakProxy(sockscope_bench::soakrun::ProxyHostArgs),
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
            sockscope_duration,
            rounds,
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
            sockscope_duration: Duration::from_secs_f64(sockscope_duration),
            rounds: rounds.max(1),
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
        Cmd::SoakMix(a) => sockscope_bench::soakrun::mix(a),
        Cmd::SoakClient(a) => sockscope_bench::soakrun::client(a),
        Cmd::SoakProxy(a) => sockscope_bench::soakrun::proxy_host(a),
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

/// Bytes the disk probe writes: about half a second at this machine's 0.8–0.9 GB/s.
const DISK_PROBE_BYTES: usize = 512 << 20;

struct RunArgs {
    duration: Duration,
    mitm_duration: Duration,
    sockscope_duration: Duration,
    rounds: usize,
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
    let mut all = Vec::new();
    for w in &workloads {
        for round in 1..=a.rounds {
            for k in &relays {
                let d = match k {
                    RelayKind::Mitmdump => a.mitm_duration,
                    RelayKind::Sockscope => a.sockscope_duration,
                    _ => a.duration,
                };
                eprintln!(
                    "bench: {} via {} ({:.1} s, round {round} of {})…",
                    w.key,
                    k.name(),
                    d.as_secs_f64(),
                    a.rounds
                );
                let mut m = suite::measure(&rt, &tools, echo_addr, w, *k, d);
                m.round = round;
                if let Some(e) = &m.error {
                    eprintln!("bench: {} via {}: {e}", w.key, k.name());
                }
                // A peer that is not installed is skipped at once, every round; the table
                // shows it once.
                all.push(m);
            }
        }
    }
    let ms = suite::median_rounds(&all);
    let _ = echo_proc.stop(Duration::from_secs(5));
    let store_rows = if a.no_store {
        Vec::new()
    } else {
        eprintln!("bench: capture store micro-bench…");
        storebench::run(&storebench::StoreBenchOptions::default())
    };
    // After the relays (it would slow what runs beside it), where their databases were.
    eprintln!("bench: disk probe…");
    let disk = tempfile::tempdir()
        .ok()
        .and_then(|d| procstat::disk_write_probe(d.path(), DISK_PROBE_BYTES));
    let disk_line = disk.map_or_else(
        || "disk probe failed".to_owned(),
        |(mb_s, how)| {
            format!(
                "{mb_s:.0} MB/s of sequential writes ({how}, {} MiB in 1 MiB writes, then fdatasync, in {})",
                DISK_PROBE_BYTES >> 20,
                std::env::temp_dir().display()
            )
        },
    );
    let load_after = procstat::loadavg();
    let headline = storebench::headline(&store_rows);
    let targets = suite::targets(&all, headline);
    println!("\nMachine: {}", procstat::machine());
    println!("Disk: {disk_line}");
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
        "\nRelays ({:.1} s per run, sockscope {:.1} s, mitmdump {:.1} s; {} interleaved round(s), each cell the median round; msgs/s = round trips/s; MB/s = echoed payload):\n",
        a.duration.as_secs_f64(),
        a.sockscope_duration.as_secs_f64(),
        a.mitm_duration.as_secs_f64(),
        a.rounds
    );
    print!("{}", suite::table(&ms));
    if a.rounds > 1 {
        println!("\nRounds (msgs/s of each, in the order they ran):\n");
        print!("{}", suite::rounds_table(&ms));
    }
    if !store_rows.is_empty() {
        println!("\nCapture store (real Store, schema as shipped, one producer):\n");
        print!("{}", storebench::table(&store_rows));
    }
    println!("\nTargets (each ratio within a round, the median over rounds; each round's in brackets):\n");
    print!("{}", suite::targets_table(&targets));
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json = serde_json::json!({
            "machine": procstat::machine(),
            "disk": disk_line,
            "disk_write_mb_per_sec": disk.map(|d| d.0),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "duration_s": a.duration.as_secs_f64(),
            "sockscope_duration_s": a.sockscope_duration.as_secs_f64(),
            "rounds": a.rounds,
            "measurements": ms,
            "all_rounds": all,
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
    let broken = all
        .iter()
        .filter(|m| m.skipped.is_none() && m.error.is_some())
        .count();
    let lost = all.iter().any(|m| {
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
