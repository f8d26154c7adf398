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

/// Bytes the process caused to be written to storage so far (`write_bytes` of
/// `/proc/PID/io`: counted when it dirties a page of a file or writes it directly, whichever
/// of its threads does it).
pub fn write_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What the disk under `dir` takes: MB/s of sequential writes of incompressible bytes,
/// `total` bytes in writes of 1 MiB, then `fdatasync`; direct (`O_DIRECT`, bypassing the page
/// cache) where the file system allows it, else through the page cache. Returns the figure
/// and how it was written. The file is removed.
pub fn disk_write_probe(dir: &std::path::Path, total: usize) -> Option<(f64, &'static str)> {
    const CHUNK: usize = 1 << 20;
    const ALIGN: usize = 4096;
    let path = dir.join("disk-probe.bin");
    let (file, how) = match open_direct(&path) {
        Some(f) => (f, "direct"),
        None => (
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .ok()?,
            "through the page cache",
        ),
    };
    // 1 MiB at a 4 KiB-aligned address (direct I/O wants it), of pseudo-random bytes.
    let mut raw = vec![0u8; CHUNK + ALIGN];
    let lead = (ALIGN - raw.as_ptr() as usize % ALIGN) % ALIGN;
    let buf = &mut raw[lead..lead + CHUNK];
    let mut rng = crate::codec::Rng::new(0x9e37_79b9_7f4a_7c15);
    for b in buf.chunks_mut(8) {
        b.copy_from_slice(&rng.next_u64().to_le_bytes()[..b.len()]);
    }
    let started = std::time::Instant::now();
    let mut written = 0usize;
    let result = (|| -> std::io::Result<()> {
        while written < total {
            // Each chunk differs a little from the last, so that nothing can be deduplicated.
            buf[..8].copy_from_slice(&(written as u64).to_le_bytes());
            std::os::unix::fs::FileExt::write_all_at(&file, buf, written as u64)?;
            written += CHUNK;
        }
        file.sync_data()
    })();
    let secs = started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    result.ok()?;
    Some((written as f64 / secs.max(1e-9) / 1e6, how))
}

#[cfg(target_os = "linux")]
fn open_direct(path: &std::path::Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flag = i32::try_from(rustix::fs::OFlags::DIRECT.bits()).ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .custom_flags(flag)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &std::path::Path) -> Option<std::fs::File> {
    None
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
        // This process has written nothing to storage yet, or little: the figure is there.
        assert!(write_bytes(pid).is_some());
        assert!(machine().contains("cores"));
    }

    const TMPFS_MAGIC: i64 = 0x0102_1994;

    /// The probe writes what it says and cleans up after itself; what it measured shows
    /// up as this process's writes.
    #[test]
    fn the_disk_probe_writes_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let before = write_bytes(pid).unwrap();
        let (mb_s, how) = disk_write_probe(dir.path(), 8 << 20).unwrap();
        assert!(mb_s > 0.0, "{mb_s}");
        assert!(how == "direct" || how == "through the page cache");
        assert!(!dir.path().join("disk-probe.bin").exists());
        // A file system in memory (tmpfs) writes nothing to storage, and counts nothing.
        let in_memory = rustix::fs::statfs(dir.path()).unwrap().f_type == TMPFS_MAGIC;
        let after = write_bytes(pid).unwrap();
        assert!(
            in_memory || after - before >= 8 << 20,
            "{before} -> {after}"
        );
    }
}
