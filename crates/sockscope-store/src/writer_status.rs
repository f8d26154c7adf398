//! What the writer thread tells the world about the state of storage: writing normally, or
//! paused on a full disk (or another passing write error) with frames waiting; how the last
//! pause ended; and damage SQLite reported while the database was in use.
//!
//! The writer keeps this up to date; [`crate::Store::storage_status`] reads a snapshot at any
//! time (the lossy [`crate::StoreEvent`] broadcast only tells that it changed).

use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Why capture is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseCause {
    /// The file system has no room (`SQLITE_FULL`).
    DiskFull,
    /// The database reached its size limit ([`crate::Store::set_size_limit`],
    /// `SOCKSCOPE_DB_MAX_MB`).
    SizeLimit,
    /// A read or write error of the file system (`SQLITE_IOERR`).
    Io,
    /// Another process holds a lock on the file.
    Locked,
}

/// Writing normally, or paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StorageState {
    Ok,
    /// The writer keeps the failing batch and retries every [`crate::RETRY_INTERVAL`];
    /// capture waits (back-pressure), nothing is dropped.
    Paused {
        /// When the pause began (µs since the Unix epoch).
        since_us: i64,
        cause: PauseCause,
        /// SQLite's error, as it said it.
        error: String,
        /// Frames queued to the writer and not yet written (the held batch included).
        pending_frames: u64,
    },
}

/// How the last pause ended: the frames that were waiting when writing became possible again,
/// and how many of them have been written since (all of them once `done`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resumed {
    /// Counts pauses since the store was opened (1 for the first), so a view can tell one
    /// resume notice from the next.
    pub pause: u64,
    pub paused_at_us: i64,
    pub resumed_at_us: i64,
    pub cause: PauseCause,
    /// Frames waiting at the moment of the resume.
    pub backlog_frames: u64,
    /// Frames written since the resume, counted up to `backlog_frames`.
    pub written_frames: u64,
    /// Every frame that was waiting is written.
    pub done: bool,
}

/// A snapshot of the storage state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageStatus {
    /// The database file.
    pub path: String,
    #[serde(flatten)]
    pub state: StorageState,
    /// The size limit in bytes, when one is set.
    pub limit_bytes: Option<u64>,
    /// The database file's size in bytes (page count × page size) as last seen by the writer.
    pub file_bytes: u64,
    pub last_resume: Option<Resumed>,
    /// SQLite reported damage (`SQLITE_CORRUPT` / `SQLITE_NOTADB`) while the file was in use;
    /// the file is checked in full at the next start (and moved aside if it is damaged).
    pub damage: Option<String>,
}

impl StorageStatus {
    /// One line for a person: what happened and what to do, as the CLI prints it and the app
    /// shows it.
    pub fn describe(&self) -> Option<String> {
        match &self.state {
            StorageState::Ok => None,
            StorageState::Paused {
                cause,
                pending_frames,
                error,
                ..
            } => {
                let waiting = frames_text(*pending_frames);
                Some(match cause {
                    PauseCause::DiskFull => format!(
                        "capture paused: the disk is full ({waiting} waiting). Free space and \
                         capture resumes automatically. Database: {}",
                        self.path
                    ),
                    PauseCause::SizeLimit => format!(
                        "capture paused: the database reached its size limit of {} ({waiting} \
                         waiting). Raise or remove the limit (SOCKSCOPE_DB_MAX_MB, --db-max-mb) \
                         or free space, and capture resumes automatically. Database: {}",
                        mib_text(self.limit_bytes.unwrap_or(0)),
                        self.path
                    ),
                    PauseCause::Io => format!(
                        "capture paused: the database cannot be written ({error}; {waiting} \
                         waiting). Retrying every {} ms. Database: {}",
                        crate::RETRY_INTERVAL.as_millis(),
                        self.path
                    ),
                    PauseCause::Locked => format!(
                        "capture paused: another program holds a lock on the database \
                         ({waiting} waiting). Retrying every {} ms. Database: {}",
                        crate::RETRY_INTERVAL.as_millis(),
                        self.path
                    ),
                })
            }
        }
    }
}

/// How a resume reads: "capture resumed after 12.3 s: 1,234 waiting frames written".
impl std::fmt::Display for Resumed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = (self.resumed_at_us - self.paused_at_us).max(0) as f64 / 1e6;
        if self.done {
            write!(
                f,
                "capture resumed after {secs:.1} s: all {} that were waiting written",
                frames_text(self.backlog_frames)
            )
        } else {
            write!(
                f,
                "capture resumed after {secs:.1} s: writing the {} that were waiting ({} so far)",
                frames_text(self.backlog_frames),
                self.written_frames
            )
        }
    }
}

fn frames_text(n: u64) -> String {
    if n == 1 {
        "1 frame".into()
    } else {
        format!("{n} frames")
    }
}

fn mib_text(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib.fract() == 0.0 {
        format!("{mib:.0} MB")
    } else {
        format!("{mib:.1} MB")
    }
}

#[derive(Debug, Default)]
struct Inner {
    paused: Option<(i64, PauseCause, String)>,
    pauses: u64,
    last_resume: Option<Resumed>,
    damage: Option<String>,
    file_bytes: u64,
}

/// Shared between the writer (which changes it) and the store's handles (which read it).
#[derive(Debug)]
pub(crate) struct StatusCell {
    path: String,
    inner: Mutex<Inner>,
    /// Frames queued to the writer and not yet done with (written, or given up).
    queued_frames: AtomicU64,
    /// The size limit in pages (0: none); read by the writer before each attempt.
    pub(crate) max_pages: AtomicU64,
    pub(crate) page_size: AtomicU64,
    /// The last handle is gone: a paused writer stops retrying after a while.
    pub(crate) closing: std::sync::atomic::AtomicBool,
}

impl StatusCell {
    pub(crate) fn new(path: &Path, max_pages: u64, page_size: u64) -> StatusCell {
        StatusCell {
            path: path.display().to_string(),
            inner: Mutex::new(Inner::default()),
            queued_frames: AtomicU64::new(0),
            max_pages: AtomicU64::new(max_pages),
            page_size: AtomicU64::new(page_size.max(512)),
            closing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn snapshot(&self) -> StorageStatus {
        let pending = self.queued_frames.load(Ordering::Relaxed);
        let pages = self.max_pages.load(Ordering::Relaxed);
        let limit_bytes =
            (pages > 0).then(|| pages.saturating_mul(self.page_size.load(Ordering::Relaxed)));
        let inner = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        StorageStatus {
            path: self.path.clone(),
            state: match &inner.paused {
                None => StorageState::Ok,
                Some((since_us, cause, error)) => StorageState::Paused {
                    since_us: *since_us,
                    cause: *cause,
                    error: error.clone(),
                    pending_frames: pending,
                },
            },
            limit_bytes,
            file_bytes: inner.file_bytes,
            last_resume: inner.last_resume.clone(),
            damage: inner.damage.clone(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// A producer queued `n` frames (before sending them to the writer).
    pub(crate) fn queued(&self, n: usize) {
        self.queued_frames.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `n` frames left the queue: written, given up, or never sent.
    pub(crate) fn done(&self, n: usize) {
        let n = n as u64;
        let _ = self
            .queued_frames
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(n))
            });
    }

    /// The first failed attempt of a batch.
    pub(crate) fn pause(&self, cause: PauseCause, error: String) {
        self.with(|i| {
            i.pauses += 1;
            i.paused = Some((sockscope_proto::now_us(), cause, error));
        });
    }

    /// The held batch was committed: writing is possible again.
    pub(crate) fn resume(&self) {
        let backlog = self.queued_frames.load(Ordering::Relaxed);
        self.with(|i| {
            if let Some((since, cause, _)) = i.paused.take() {
                i.last_resume = Some(Resumed {
                    pause: i.pauses,
                    paused_at_us: since,
                    resumed_at_us: sockscope_proto::now_us(),
                    cause,
                    backlog_frames: backlog,
                    written_frames: 0,
                    done: backlog == 0,
                });
            }
        });
    }

    /// A batch with `frames` frames was committed. True when this completes the backlog of
    /// the last resume (worth telling).
    pub(crate) fn committed(&self, frames: usize, file_bytes: Option<u64>) -> bool {
        self.with(|i| {
            if let Some(b) = file_bytes {
                i.file_bytes = b;
            }
            match i.last_resume.as_mut() {
                Some(r) if !r.done => {
                    r.written_frames = (r.written_frames + frames as u64).min(r.backlog_frames);
                    r.done = r.written_frames >= r.backlog_frames;
                    r.done
                }
                _ => false,
            }
        })
    }

    /// SQLite reported damage while the file was in use.
    pub(crate) fn damaged(&self, what: String) {
        self.with(|i| {
            if i.damage.is_none() {
                i.damage = Some(what);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_pause_then_a_resume_counts_the_backlog_out() {
        let cell = StatusCell::new(Path::new("/tmp/x.db"), 0, 4096);
        cell.queued(10);
        assert_eq!(cell.snapshot().state, StorageState::Ok);
        cell.pause(PauseCause::DiskFull, "database or disk is full".into());
        cell.queued(5);
        let s = cell.snapshot();
        match &s.state {
            StorageState::Paused {
                pending_frames,
                cause,
                ..
            } => {
                assert_eq!(*pending_frames, 15);
                assert_eq!(*cause, PauseCause::DiskFull);
            }
            other => panic!("{other:?}"),
        }
        let text = s.describe().unwrap();
        assert!(
            text.contains("the disk is full (15 frames waiting)")
                && text.contains("Free space and capture resumes automatically")
                && text.contains("/tmp/x.db"),
            "{text}"
        );
        cell.resume();
        assert!(!cell.committed(4, None));
        cell.done(4);
        let r = cell.snapshot().last_resume.unwrap();
        assert_eq!((r.backlog_frames, r.written_frames, r.done), (15, 4, false));
        assert!(r.to_string().contains("(4 so far)"), "{r}");
        assert!(cell.committed(11, Some(8192)));
        cell.done(11);
        let s = cell.snapshot();
        assert_eq!(s.state, StorageState::Ok);
        assert_eq!(s.file_bytes, 8192);
        let r = s.last_resume.unwrap();
        assert_eq!((r.written_frames, r.done, r.pause), (15, true, 1));
        assert!(
            r.to_string()
                .contains("all 15 frames that were waiting written"),
            "{r}"
        );
        // Later commits do not count on.
        assert!(!cell.committed(3, None));
        assert_eq!(cell.snapshot().last_resume.unwrap().written_frames, 15);
    }

    #[test]
    fn the_size_limit_reads_in_megabytes() {
        let cell = StatusCell::new(Path::new("/d/s.db"), 1024, 4096);
        cell.pause(PauseCause::SizeLimit, "database or disk is full".into());
        let s = cell.snapshot();
        assert_eq!(s.limit_bytes, Some(4 << 20));
        let text = s.describe().unwrap();
        assert!(
            text.contains("size limit of 4 MB (0 frames waiting)"),
            "{text}"
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["state"], "paused");
        assert_eq!(json["cause"], "size_limit");
        assert_eq!(json["pending_frames"], 0);
    }
}
