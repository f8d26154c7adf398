//! Sockscope's protocol model: the pure, I/O-free vocabulary every other crate speaks.
//!
//! No tokio, no rusqlite, no tauri here (DESIGN.md §1).

mod close;
pub mod diff;
mod frame;
mod ids;
pub mod observer;
pub mod parser;
mod preview;

pub use close::{parse_close_payload, CloseInfo, CloseParseError};
pub use frame::{Direction, FrameRecord, InterceptMarks, Opcode, UnknownName};
pub use ids::{ConnectionId, SessionId};
pub use preview::{hex_preview, preview, PREVIEW_CHARS};

/// Current wall-clock time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
