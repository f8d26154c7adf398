//! Giving the heap memory the allocator keeps after frees back to the system.
//!
//! glibc's malloc keeps freed memory in per-thread arenas and returns it to the system only
//! from the top of each heap. A capture moves a steady stream of short-lived payload buffers
//! (16 B to megabytes) from socket tasks through the store's queue to its writer thread, so
//! free pages end up pinned below live ones and the resident size drifts up for tens of
//! minutes before it levels off, by an amount that differs from run to run. `malloc_trim(0)`
//! walks every arena and hands whole free pages back (`madvise(MADV_DONTNEED)`); live memory
//! is untouched, so what stays resident is what the process really holds, and a real leak
//! still shows.
//!
//! Every long-running Sockscope process (the CLI, the app, the soak's hosts) starts one
//! [`Trimmer`]. Elsewhere than Linux with glibc (musl, macOS, Windows) it does nothing: those
//! allocators have no such call and give memory back themselves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often a [`Trimmer`] trims by default. A trim locks each arena in turn while it walks
/// it: 6–7 ms per trim on average with ≈ 50 MiB resident on two fully loaded cores (≈ 0.07 %
/// of one core), up to 165 ms of wall time when the thread is preempted mid-walk (the soaks
/// in docs/reliability.md).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The environment variable that sets the interval in seconds (`0`: no trimmer), read by
/// [`interval_from_env`].
pub const INTERVAL_ENV: &str = "SOCKSCOPE_TRIM_SECS";

/// The interval the binaries start their [`Trimmer`] with: [`INTERVAL_ENV`] when it holds a
/// number of seconds (`0` turns trimming off: `Ok(None)`), else [`DEFAULT_INTERVAL`]. A value
/// that is not a number is an error naming it; the caller warns and uses the default.
pub fn interval_from_env() -> Result<Option<Duration>, String> {
    interval_from(std::env::var(INTERVAL_ENV).ok().as_deref())
}

fn interval_from(value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(v) = value else {
        return Ok(Some(DEFAULT_INTERVAL));
    };
    match v.trim().parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(format!(
            "{INTERVAL_ENV}={v:?} is not a number of seconds from 0 (off) to 86400"
        )),
    }
}

/// Starts a [`Trimmer`] as the binaries do: on [`interval_from_env`]'s interval, none when it
/// says off. `who` prefixes the warnings (a bad variable, a thread that cannot start), which
/// go to stderr: trimming is upkeep, and a process without it still works.
pub fn start_from_env(who: &str) -> Option<Trimmer> {
    let interval = interval_from_env().unwrap_or_else(|e| {
        eprintln!(
            "{who}: warning: {e}; trimming every {} s",
            DEFAULT_INTERVAL.as_secs()
        );
        Some(DEFAULT_INTERVAL)
    })?;
    Trimmer::start(interval)
        .map_err(|e| eprintln!("{who}: warning: no heap trimmer: {e}"))
        .ok()
}

/// The trimmer thread's name (15 bytes at most: what Linux keeps of it).
pub const THREAD_NAME: &str = "sockscope-trim";

/// Asks the allocator to return the free pages of every arena to the system now. Returns
/// whether it gave anything back (always false where there is no such call).
pub fn release() -> bool {
    release_impl()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_impl() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and has no caller-side invariants; glibc
    // serialises it with every other allocator call through the arena locks.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_impl() -> bool {
    false
}

/// What a [`Trimmer`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimStats {
    /// Trims run.
    pub runs: u64,
    /// Trims that gave memory back.
    pub released: u64,
    /// Time spent trimming, in all.
    pub total: Duration,
    /// The longest single trim.
    pub longest: Duration,
}

impl std::fmt::Display for TrimStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} trims ({} gave memory back), longest {:.1} ms, {:.0} ms in all",
            self.runs,
            self.released,
            self.longest.as_secs_f64() * 1e3,
            self.total.as_secs_f64() * 1e3
        )
    }
}

#[derive(Default)]
struct Counters {
    runs: AtomicU64,
    released: AtomicU64,
    total_ns: AtomicU64,
    longest_ns: AtomicU64,
}

impl Counters {
    fn record(&self, released: bool, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.runs.fetch_add(1, Ordering::Relaxed);
        if released {
            self.released.fetch_add(1, Ordering::Relaxed);
        }
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.longest_ns.fetch_max(ns, Ordering::Relaxed);
    }

    fn snapshot(&self) -> TrimStats {
        TrimStats {
            runs: self.runs.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            total: Duration::from_nanos(self.total_ns.load(Ordering::Relaxed)),
            longest: Duration::from_nanos(self.longest_ns.load(Ordering::Relaxed)),
        }
    }
}

/// A thread that calls [`release`] every `interval` until it is dropped (dropping stops and
/// joins it at once, without waiting for the next tick).
pub struct Trimmer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    counters: Arc<Counters>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Trimmer {
    /// Starts the thread. Fails only when the system refuses a thread.
    pub fn start(interval: Duration) -> std::io::Result<Trimmer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let counters = Arc::new(Counters::default());
        let handle = {
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || run(&stop, &counters, interval))?
        };
        Ok(Trimmer {
            stop,
            counters,
            handle: Some(handle),
        })
    }

    /// What the thread has done so far.
    pub fn stats(&self) -> TrimStats {
        self.counters.snapshot()
    }
}

fn run(stop: &(Mutex<bool>, Condvar), counters: &Counters, interval: Duration) {
    let (lock, wake) = stop;
    let Ok(mut stopped) = lock.lock() else {
        return;
    };
    loop {
        let deadline = Instant::now() + interval;
        // Sleep out the whole interval (wakeups can be spurious), or stop when asked.
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            stopped = match wake.wait_timeout(stopped, deadline - now) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
        if *stopped {
            return;
        }
        drop(stopped);
        let started = Instant::now();
        let released = release();
        counters.record(released, started.elapsed());
        stopped = match lock.lock() {
            Ok(guard) => guard,
            Err(_) => return,
        };
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_comes_from_the_variable_or_the_default() {
        assert_eq!(interval_from(None), Ok(Some(DEFAULT_INTERVAL)));
        assert_eq!(interval_from(Some("0")), Ok(None));
        assert_eq!(
            interval_from(Some(" 2.5 ")),
            Ok(Some(Duration::from_millis(2_500)))
        );
        assert_eq!(interval_from(Some("60")), Ok(Some(Duration::from_secs(60))));
        for bad in ["", "ten", "-1", "NaN", "inf", "86401"] {
            let e = interval_from(Some(bad)).err().unwrap_or_default();
            assert!(e.contains(INTERVAL_ENV), "{bad:?}: {e}");
        }
    }
}
