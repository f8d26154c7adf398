//! CPU time and memory of a process, from /proc.

use std::time::Duration;

/// Linux reports utime/stime in USER_HZ ticks, 100 per second on every supported platform.
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU time of a process (all its threads, live and exited).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / TICKS_PER_SEC))
}

/// User + system CPU time of the thread of this process whose name starts with `name`
/// (Linux keeps 15 bytes of a thread name).
pub fn thread_cpu_time(name: &str) -> Option<Duration> {
    let want = &name[..name.len().min(15)];
    let me = std::process::id();
    for entry in std::fs::read_dir(format!("/proc/{me}/task"))
        .ok()?
        .flatten()
    {
        let tid = entry.file_name();
        let tid = tid.to_string_lossy();
        let comm =
            std::fs::read_to_string(format!("/proc/{me}/task/{tid}/comm")).unwrap_or_default();
        if comm.trim_end() == want {
            let stat = std::fs::read_to_string(format!("/proc/{me}/task/{tid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            return Some(Duration::from_secs_f64((utime + stime) / TICKS_PER_SEC));
        }
    }
    None
}

/// (current RSS, peak RSS) in bytes.
pub fn rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    Some((kb("VmRSS:")?, kb("VmHWM:")?))
}

/// The 1-minute load average.
pub fn loadavg() -> Option<(f64, f64, f64)> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// A one-line description of the machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kb| {
            format!(", {:.0} GiB RAM", kb as f64 / 1048576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!(", Linux {}", s.trim()))
        .unwrap_or_default();
    format!("{model}, {cores} cores{mem}{kernel}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_some());
        let (now, peak) = rss(pid).unwrap();
        assert!(now > 0 && peak >= now);
        assert!(loadavg().is_some());
        assert!(machine().contains("cores"));
    }
}
