//! The comparison: each workload sent direct to the echo server and through every relay, in
//! the same run, then one table and the target ratios.

use crate::load::{self, LoadSpec};
use crate::peers::{Relay, RelayKind, Tools};
use crate::procstat;
use crate::verify::{self, Verification};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Workload {
    pub key: &'static str,
    pub title: &'static str,
    pub conns: usize,
    pub in_flight: usize,
    pub size: usize,
    pub binary: bool,
}

pub const WORKLOADS: [Workload; 4] = [
    Workload {
        key: "pipelined",
        title: "1 conn, 1 KiB text, 64 in flight",
        conns: 1,
        in_flight: 64,
        size: 1024,
        binary: false,
    },
    Workload {
        key: "fanout",
        title: "100 conns, 256 B text, 8 in flight each",
        conns: 100,
        in_flight: 8,
        size: 256,
        binary: false,
    },
    Workload {
        key: "bulk",
        title: "1 conn, 64 KiB binary, 8 in flight",
        conns: 1,
        in_flight: 8,
        size: 65536,
        binary: true,
    },
    Workload {
        key: "latency",
        title: "1 conn, 1 KiB text, 1 in flight",
        conns: 1,
        in_flight: 1,
        size: 1024,
        binary: false,
    },
];

/// Latency quantiles kept for the CDF plot.
pub const CDF_QUANTILES: [f64; 17] = [
    0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0,
];

/// One cell of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub workload: &'static str,
    pub relay: RelayKind,
    /// Why it did not run.
    pub skipped: Option<String>,
    /// Why it failed (start, load or verification).
    pub error: Option<String>,
    pub messages: u64,
    pub secs: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// (quantile, µs) for the CDF.
    pub cdf: Vec<(f64, f64)>,
    /// Peak resident memory of the relay process.
    pub rss_peak_mib: Option<f64>,
    pub rss_end_mib: Option<f64>,
    /// CPU time of the relay process per round trip, µs.
    pub cpu_us_per_msg: Option<f64>,
    /// What the relay process wrote to storage during the load, MB/s (`/proc/PID/io`:
    /// Sockscope's payload files, WAL and checkpoints; nothing for a relay that records
    /// nothing).
    pub disk_mb_per_sec: Option<f64>,
    /// Sockscope: the recording check.
    pub verification: Option<Verification>,
    /// Sockscope: from SIGTERM to exit (committing what was still queued).
    pub stop_secs: Option<f64>,
    /// msgs/s of every round of this workload and relay, in the order they ran (this cell is
    /// the median round; see [`median_rounds`]).
    pub rounds: Vec<f64>,
    /// Which round this was (1, 2, …).
    pub round: usize,
}

impl Measurement {
    fn empty(w: &Workload, relay: RelayKind) -> Measurement {
        Measurement {
            workload: w.key,
            relay,
            skipped: None,
            error: None,
            messages: 0,
            secs: 0.0,
            msgs_per_sec: 0.0,
            mb_per_sec: 0.0,
            p50_us: 0.0,
            p99_us: 0.0,
            max_us: 0.0,
            cdf: Vec::new(),
            rss_peak_mib: None,
            rss_end_mib: None,
            cpu_us_per_msg: None,
            disk_mb_per_sec: None,
            verification: None,
            stop_secs: None,
            rounds: Vec::new(),
            round: 1,
        }
    }
    pub fn ran(&self) -> bool {
        self.skipped.is_none() && self.error.is_none() && self.messages > 0
    }
}

/// Runs one workload through one relay (or direct) against the echo server at `echo`.
pub fn measure(
    rt: &tokio::runtime::Runtime,
    tools: &Tools,
    echo: SocketAddr,
    w: &Workload,
    relay: RelayKind,
    duration: Duration,
) -> Measurement {
    let mut m = Measurement::empty(w, relay);
    if let Some(why) = tools.missing(relay) {
        m.skipped = Some(why);
        return m;
    }
    let mut running = if relay == RelayKind::Direct {
        None
    } else {
        match Relay::start(relay, tools, echo, w.binary) {
            Ok(r) => Some(r),
            Err(e) => {
                m.error = Some(format!("start: {e}"));
                return m;
            }
        }
    };
    let url = running
        .as_ref()
        .map_or_else(|| format!("ws://{echo}/"), |r| r.url.clone());
    let pid = running.as_ref().map(|r| r.proc.pid());
    let cpu_before = pid.and_then(procstat::cpu_time);
    let written_before = pid.and_then(procstat::write_bytes);
    let spec = LoadSpec {
        url,
        conns: w.conns,
        in_flight: w.in_flight,
        size: w.size,
        binary: w.binary,
        duration: Some(duration),
        count: None,
        stall_timeout: Duration::from_secs(15),
    };
    let result = rt.block_on(load::run(spec));
    let cpu_after = pid.and_then(procstat::cpu_time);
    let written_after = pid.and_then(procstat::write_bytes);
    if let Some((now, peak)) = pid.and_then(procstat::rss) {
        m.rss_end_mib = Some(now as f64 / 1048576.0);
        m.rss_peak_mib = Some(peak as f64 / 1048576.0);
    }
    match result {
        Err(e) => m.error = Some(e),
        Ok(r) => {
            if !r.errors.is_empty() {
                m.error = Some(
                    r.errors
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            m.messages = r.messages;
            m.secs = r.elapsed.as_secs_f64();
            m.msgs_per_sec = r.msgs_per_sec();
            m.mb_per_sec = r.mb_per_sec();
            m.p50_us = r.latency_us(0.5);
            m.p99_us = r.latency_us(0.99);
            m.max_us = r.max_us();
            m.cdf = CDF_QUANTILES
                .iter()
                .map(|&q| (q, r.latency_us(q)))
                .collect();
            if let (Some(a), Some(b)) = (written_before, written_after) {
                if m.secs > 0.0 {
                    m.disk_mb_per_sec = Some(b.saturating_sub(a) as f64 / m.secs / 1e6);
                }
            }
            if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
                if r.messages > 0 {
                    m.cpu_us_per_msg =
                        Some(b.saturating_sub(a).as_secs_f64() * 1e6 / r.messages as f64);
                }
            }
        }
    }
    if let Some(r) = running.as_mut() {
        match r.proc.stop(Duration::from_secs(120)) {
            Ok(t) => m.stop_secs = Some(t.as_secs_f64()),
            Err(e) => {
                m.error.get_or_insert_with(|| format!("stop: {e}"));
            }
        }
        if let Some((db, session)) = &r.db {
            match verify::check_session(db, *session, m.messages, w.conns, w.size) {
                Ok(v) => {
                    if !v.ok() && m.error.is_none() {
                        m.error = Some(format!(
                            "recording incomplete: {}",
                            v.errors
                                .iter()
                                .take(3)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                    m.verification = Some(v);
                }
                Err(e) => {
                    m.error.get_or_insert_with(|| format!("verify: {e}"));
                }
            }
        }
    }
    m
}

/// One cell per workload and relay from several rounds of each: the round with the median
/// msgs/s (the lower middle one for an even count), whole (its latencies, RSS and CPU are that
/// round's), with every round's msgs/s in `rounds`. Rounds that did not run are left out of
/// the median; when none ran, the first round's cell (with its error or skip) stands.
/// Interleaved rounds keep a burst of noise on the machine from deciding a ratio.
pub fn median_rounds(all: &[Measurement]) -> Vec<Measurement> {
    let mut out: Vec<Measurement> = Vec::new();
    for m in all {
        if out
            .iter()
            .any(|o| o.workload == m.workload && o.relay == m.relay)
        {
            continue;
        }
        let same: Vec<&Measurement> = all
            .iter()
            .filter(|o| o.workload == m.workload && o.relay == m.relay)
            .collect();
        let mut ran: Vec<&Measurement> = same.iter().copied().filter(|o| o.ran()).collect();
        ran.sort_by(|a, b| a.msgs_per_sec.total_cmp(&b.msgs_per_sec));
        let mut cell = match ran.get(ran.len().saturating_sub(1) / 2) {
            Some(mid) => (*mid).clone(),
            None => m.clone(),
        };
        cell.rounds = same
            .iter()
            .filter(|o| o.ran())
            .map(|o| o.msgs_per_sec)
            .collect();
        out.push(cell);
    }
    out
}

/// A target and how it came out.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub what: String,
    pub measured: String,
    pub goal: String,
    /// None when a column it needs did not run.
    pub pass: Option<bool>,
}

/// Sockscope's and `other`'s cells of workload `w`, round by round (rounds where both ran).
fn pairs<'a>(
    all: &'a [Measurement],
    w: &str,
    other: RelayKind,
) -> Vec<(&'a Measurement, &'a Measurement)> {
    let cell = |relay: RelayKind, round: usize| {
        all.iter()
            .find(|m| m.workload == w && m.relay == relay && m.round == round && m.ran())
    };
    let mut rounds: Vec<usize> = all.iter().map(|m| m.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    rounds
        .into_iter()
        .filter_map(|r| Some((cell(RelayKind::Sockscope, r)?, cell(other, r)?)))
        .collect()
}

/// The median (the lower middle value for an even count); `None` for no values.
fn median_of(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().checked_sub(1)? / 2).copied()
}

/// "1.49× (1.50 · 1.53 · 1.20)": the median and each round's value, when there are several.
fn with_rounds(median: String, values: &[f64], each: impl Fn(f64) -> String) -> String {
    if values.len() < 2 {
        return median;
    }
    let list: Vec<String> = values.iter().map(|v| each(*v)).collect();
    format!("{median} ({})", list.join(" · "))
}

/// A ratio target: sockscope against `other` in the same round (they ran seconds apart, so
/// the machine's drift cancels), the median over rounds.
fn ratio_target(
    all: &[Measurement],
    w: &str,
    other: RelayKind,
    goal: f64,
    mb: bool,
) -> TargetResult {
    let what = format!(
        "{w}: sockscope {} vs {}",
        if mb { "MB/s" } else { "msgs/s" },
        other.name()
    );
    let ratios: Vec<f64> = pairs(all, w, other)
        .into_iter()
        .map(|(s, o)| {
            let (a, b) = if mb {
                (s.mb_per_sec, o.mb_per_sec)
            } else {
                (s.msgs_per_sec, o.msgs_per_sec)
            };
            a / b.max(1e-9)
        })
        .collect();
    match median_of(&ratios) {
        Some(r) => TargetResult {
            what,
            measured: with_rounds(format!("{r:.2}×"), &ratios, |v| format!("{v:.2}")),
            goal: format!("≥ {goal}×"),
            pass: Some(r >= goal),
        },
        None => TargetResult {
            what,
            measured: "n/a".into(),
            goal: format!("≥ {goal}×"),
            pass: None,
        },
    }
}

/// The targets, evaluated on one run's measurements (every round of every cell): each
/// ratio and latency figure is taken within a round and the median over rounds is judged; the
/// recording check and the RSS ceiling hold for every round. `store_fps` is the capture
/// store's sustained frames/s of 256 B (from the store micro-bench), when it ran.
pub fn targets(all: &[Measurement], store_fps: Option<f64>) -> Vec<TargetResult> {
    let mut t = vec![
        ratio_target(all, "pipelined", RelayKind::Direct, 0.25, false),
        ratio_target(all, "pipelined", RelayKind::Websocat, 3.0, false),
        ratio_target(all, "fanout", RelayKind::Websocat, 2.0, false),
        ratio_target(all, "bulk", RelayKind::Node, 1.5, true),
    ];
    let latency = pairs(all, "latency", RelayKind::Direct);
    let added: Vec<f64> = latency.iter().map(|(s, d)| s.p50_us - d.p50_us).collect();
    // The p99 against its own round's limit: how far under (negative) or over it.
    let p99_margin: Vec<f64> = latency
        .iter()
        .map(|(s, d)| s.p99_us - (2.0 * d.p99_us + 100.0))
        .collect();
    match (median_of(&added), median_of(&p99_margin)) {
        (Some(added_med), Some(margin)) => {
            t.push(TargetResult {
                what: "latency: added p50 over direct".into(),
                measured: with_rounds(format!("{added_med:.0} µs"), &added, |v| format!("{v:.0}")),
                goal: "≤ 40 µs".into(),
                pass: Some(added_med <= 40.0),
            });
            t.push(TargetResult {
                what: "latency: p99 minus (2 × direct p99 + 100 µs)".into(),
                measured: with_rounds(format!("{margin:+.0} µs"), &p99_margin, |v| {
                    format!("{v:+.0}")
                }),
                goal: "≤ 0 µs".into(),
                pass: Some(margin <= 0.0),
            });
        }
        _ => t.push(TargetResult {
            what: "latency: added p50 / p99 over direct".into(),
            measured: "n/a".into(),
            goal: "≤ 40 µs / ≤ 2×p99+100 µs".into(),
            pass: None,
        }),
    }
    for w in WORKLOADS {
        let mb = w.key == "bulk";
        t.push(ratio_target(all, w.key, RelayKind::Mitmdump, 100.0, mb));
    }
    let sock: Vec<&Measurement> = all
        .iter()
        .filter(|m| m.relay == RelayKind::Sockscope && m.skipped.is_none())
        .collect();
    let lost = sock
        .iter()
        .filter(|m| !m.verification.as_ref().is_some_and(Verification::ok))
        .count();
    t.push(TargetResult {
        what: "recordings: frames = 2 × messages, payloads check out".into(),
        measured: format!("{} of {} runs exact", sock.len() - lost, sock.len()),
        goal: "all".into(),
        pass: (!sock.is_empty()).then_some(lost == 0),
    });
    let rss: Vec<f64> = sock
        .iter()
        .filter(|m| m.workload == "pipelined" || m.workload == "latency")
        .filter_map(|m| m.rss_peak_mib)
        .collect();
    let max_rss = rss.iter().copied().fold(0.0, f64::max);
    t.push(TargetResult {
        what: "sockscope peak RSS on the 1 KiB workloads".into(),
        measured: if rss.is_empty() {
            "n/a".into()
        } else {
            format!("{max_rss:.1} MiB")
        },
        goal: "< 64 MiB".into(),
        pass: (!rss.is_empty()).then_some(max_rss < 64.0),
    });
    t.push(TargetResult {
        what: "capture store alone, 256 B frames".into(),
        measured: store_fps.map_or_else(|| "n/a".into(), |f| format!("{f:.0} frames/s")),
        goal: "≥ 150000 frames/s".into(),
        pass: store_fps.map(|f| f >= 150_000.0),
    });
    t
}

fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table, as plain text (also valid Markdown).
pub fn table(ms: &[Measurement]) -> String {
    let mut out = String::new();
    out.push_str(
        "| workload | relay | msgs/s | MB/s | p50 µs | p99 µs | max µs | relay RSS peak MiB | relay CPU µs/msg | relay disk writes MB/s | recording |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for m in ms {
        let rec = match (&m.verification, m.relay) {
            (Some(v), _) if v.ok() => format!("{} frames ✓", thousands(v.data_frames as f64)),
            (Some(v), _) => format!(
                "LOST: {} of {}",
                thousands(v.data_frames as f64),
                thousands(v.expected as f64)
            ),
            (None, RelayKind::Sockscope) => "not checked".into(),
            _ => String::new(),
        };
        if let Some(why) = &m.skipped {
            out.push_str(&format!(
                "| {} | {} | skipped: {why} | | | | | | | | |\n",
                m.workload,
                m.relay.name()
            ));
            continue;
        }
        let err = m
            .error
            .as_ref()
            .map(|e| format!(" ERROR: {e}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {rec}{err} |\n",
            m.workload,
            m.relay.name(),
            thousands(m.msgs_per_sec),
            m.mb_per_sec,
            m.p50_us,
            m.p99_us,
            m.max_us,
            m.rss_peak_mib
                .map_or_else(|| "–".into(), |v| format!("{v:.1}")),
            m.cpu_us_per_msg
                .map_or_else(|| "–".into(), |v| format!("{v:.1}")),
            m.disk_mb_per_sec
                .map_or_else(|| "–".into(), |v| format!("{v:.0}")),
        ));
    }
    out
}

/// Every round's msgs/s per workload and relay, with the spread (max / min − 1).
pub fn rounds_table(ms: &[Measurement]) -> String {
    let mut out =
        String::from("| workload | relay | msgs/s by round | spread |\n|---|---|---|---:|\n");
    for m in ms.iter().filter(|m| !m.rounds.is_empty()) {
        let lo = m.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = m.rounds.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} % |\n",
            m.workload,
            m.relay.name(),
            m.rounds
                .iter()
                .map(|r| thousands(*r))
                .collect::<Vec<_>>()
                .join(" · "),
            (hi / lo.max(1e-9) - 1.0) * 100.0
        ));
    }
    out
}

pub fn targets_table(t: &[TargetResult]) -> String {
    let mut out = String::from("| target | measured | goal | result |\n|---|---:|---:|---|\n");
    for r in t {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.what,
            r.measured,
            r.goal,
            match r.pass {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "not measured",
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(w: &Workload, relay: RelayKind, rate: f64, p50: f64) -> Measurement {
        let mut m = Measurement::empty(w, relay);
        m.messages = 1000;
        m.msgs_per_sec = rate;
        m.p50_us = p50;
        m
    }

    #[test]
    fn each_cell_is_its_median_round_whole_with_every_round_listed() {
        let w = &WORKLOADS[0];
        let mut broken = cell(w, RelayKind::Sockscope, 0.0, 0.0);
        broken.error = Some("start: refused".into());
        let all = vec![
            cell(w, RelayKind::Direct, 300.0, 10.0),
            cell(w, RelayKind::Sockscope, 90.0, 30.0),
            cell(w, RelayKind::Direct, 500.0, 11.0),
            broken,
            cell(w, RelayKind::Direct, 400.0, 12.0),
            cell(w, RelayKind::Sockscope, 110.0, 20.0),
        ];
        let ms = median_rounds(&all);
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].relay, RelayKind::Direct);
        assert_eq!((ms[0].msgs_per_sec, ms[0].p50_us), (400.0, 12.0));
        assert_eq!(ms[0].rounds, vec![300.0, 500.0, 400.0]);
        // Two rounds ran (the broken one is left out): the lower middle one stands.
        assert_eq!((ms[1].msgs_per_sec, ms[1].p50_us), (90.0, 30.0));
        assert_eq!(ms[1].rounds, vec![90.0, 110.0]);
    }

    #[test]
    fn ratios_and_latency_are_taken_within_each_round_then_the_median() {
        let w = &WORKLOADS[0];
        let lat = &WORKLOADS[3];
        let mut all = Vec::new();
        for (round, s, d) in [(1, 100.0, 400.0), (2, 200.0, 400.0), (3, 150.0, 300.0)] {
            for (relay, rate) in [(RelayKind::Direct, d), (RelayKind::Sockscope, s)] {
                let mut m = cell(w, relay, rate, 0.0);
                m.round = round;
                all.push(m);
            }
        }
        // p50 (sockscope, direct) per round: added 30, 50, 35; p99 limits 2 × 100 + 100.
        for (round, sp50, dp50, sp99) in [
            (1, 100.0, 70.0, 250.0),
            (2, 130.0, 80.0, 350.0),
            (3, 110.0, 75.0, 290.0),
        ] {
            let mut d = cell(lat, RelayKind::Direct, 1.0, dp50);
            d.p99_us = 100.0;
            d.round = round;
            let mut s = cell(lat, RelayKind::Sockscope, 1.0, sp50);
            s.p99_us = sp99;
            s.round = round;
            all.push(d);
            all.push(s);
        }
        let t = targets(&all, None);
        let get = |what: &str| {
            t.iter()
                .find(|t| t.what.starts_with(what))
                .map(|t| (t.measured.clone(), t.pass))
        };
        // Per round 0.25, 0.50, 0.50: the median is 0.50 (the ratio of the medians, 150 / 400,
        // would say 0.38).
        assert_eq!(
            get("pipelined: sockscope msgs/s vs direct"),
            Some(("0.50× (0.25 · 0.50 · 0.50)".to_string(), Some(true)))
        );
        assert_eq!(
            get("latency: added p50"),
            Some(("35 µs (30 · 50 · 35)".to_string(), Some(true)))
        );
        assert_eq!(
            get("latency: p99 minus"),
            Some(("-10 µs (-50 · +50 · -10)".to_string(), Some(true)))
        );
        // websocat never ran: not measured, not failed.
        assert_eq!(
            get("pipelined: sockscope msgs/s vs websocat"),
            Some(("n/a".to_string(), None))
        );
    }

    #[test]
    fn a_cell_no_round_of_which_ran_keeps_the_first_rounds_reason() {
        let w = &WORKLOADS[1];
        let mut a = Measurement::empty(w, RelayKind::Websocat);
        a.skipped = Some("websocat is not installed".into());
        let b = a.clone();
        let ms = median_rounds(&[a, b]);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].skipped.as_deref(), Some("websocat is not installed"));
        assert!(ms[0].rounds.is_empty());
    }

    #[test]
    fn a_recording_lost_in_any_round_fails_the_recording_target() {
        let w = &WORKLOADS[0];
        let good = |rate| {
            let mut m = cell(w, RelayKind::Sockscope, rate, 10.0);
            m.verification = Some(Verification {
                data_frames: 2000,
                expected: 2000,
                connections: 1,
                errors: Vec::new(),
            });
            m
        };
        let mut lost = cell(w, RelayKind::Sockscope, 50.0, 10.0);
        lost.verification = Some(Verification {
            data_frames: 1999,
            expected: 2000,
            connections: 1,
            errors: Vec::new(),
        });
        let all = vec![good(100.0), lost, good(120.0)];
        let ms = median_rounds(&all);
        // The median round (100) recorded exactly; the lost round still fails the target.
        assert!(ms[0].verification.as_ref().is_some_and(Verification::ok));
        let t = targets(&all, None);
        let rec = t
            .iter()
            .find(|t| t.what.starts_with("recordings"))
            .map(|t| (t.measured.clone(), t.pass));
        assert_eq!(rec, Some(("2 of 3 runs exact".to_string(), Some(false))));
    }
}
