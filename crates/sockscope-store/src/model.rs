//! The store's row types. They serialise with `snake_case` names (IPC and `--json`).

use serde::{Deserialize, Serialize};
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use std::fmt;
use std::str::FromStr;

/// Ordered header list, kept as sent (duplicates and case preserved).
pub type Headers = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Client,
    Proxy,
    Replay,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Client => "client",
            SessionKind::Proxy => "proxy",
            SessionKind::Replay => "replay",
        }
    }
}

impl FromStr for SessionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client" => Ok(SessionKind::Client),
            "proxy" => Ok(SessionKind::Proxy),
            "replay" => Ok(SessionKind::Replay),
            other => Err(format!("unknown session kind {other:?}")),
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    pub id: SessionId,
    pub name: String,
    pub kind: SessionKind,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_at_us: i64,
    pub connections: i64,
    pub frames: i64,
    /// Some connection of the session went to an upstream whose certificate was not verified.
    pub insecure: bool,
    /// Pinned sessions come first in sorted lists.
    pub pinned: bool,
    pub tags: Vec<String>,
    pub notes: String,
    /// The session this one was made from (e.g. a replay's original), if it still exists.
    pub origin_session_id: Option<SessionId>,
    pub origin_connection_id: Option<ConnectionId>,
    /// File name the session was imported from.
    pub imported_from: Option<String>,
    /// Sum of the frames' payload lengths on the wire (kept up to date like `frames`).
    pub bytes: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnState {
    Connecting,
    Open,
    Closed,
    Failed,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Open => "open",
            ConnState::Closed => "closed",
            ConnState::Failed => "failed",
        }
    }
}

impl FromStr for ConnState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "connecting" => Ok(ConnState::Connecting),
            "open" => Ok(ConnState::Open),
            "closed" => Ok(ConnState::Closed),
            "failed" => Ok(ConnState::Failed),
            other => Err(format!("unknown connection state {other:?}")),
        }
    }
}

/// Who ended a connection: the JSONL close line's `by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    Client,
    Server,
    Error,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
            ClosedBy::Error => "error",
        }
    }
}

impl FromStr for ClosedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client" => Ok(ClosedBy::Client),
            "server" => Ok(ClosedBy::Server),
            "error" => Ok(ClosedBy::Error),
            other => Err(format!("unknown closer {other:?}")),
        }
    }
}

/// A connection as stored, with its handshake and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    pub id: ConnectionId,
    pub session_id: SessionId,
    pub url: String,
    pub state: ConnState,
    pub request_headers: Headers,
    pub response_status: Option<u16>,
    pub response_headers: Headers,
    pub subprotocol: Option<String>,
    pub created_at_us: i64,
    pub opened_at_us: Option<i64>,
    pub closed_at_us: Option<i64>,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    pub closed_by: Option<ClosedBy>,
    pub error: Option<String>,
    pub insecure: bool,
    /// The options a workbench connection was opened with (JSON object, no secrets).
    pub options: Option<serde_json::Value>,
}

/// A connection about to be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnection {
    pub session: SessionId,
    pub url: String,
    pub request_headers: Headers,
    pub insecure: bool,
    pub created_at_us: i64,
}

/// A change in a connection's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The handshake finished; `request_headers` are the headers actually sent.
    Opened {
        id: ConnectionId,
        at_us: i64,
        request_headers: Headers,
        response_status: u16,
        response_headers: Headers,
        subprotocol: Option<String>,
    },
    Closed {
        id: ConnectionId,
        at_us: i64,
        code: Option<u16>,
        reason: String,
        by: ClosedBy,
    },
    /// The connection could not be made, or broke; `response_*` when the server answered
    /// the handshake with something other than 101.
    Failed {
        id: ConnectionId,
        at_us: i64,
        error: String,
        response_status: Option<u16>,
        response_headers: Headers,
    },
    /// Extra details of a workbench connection: its options and its handshake (JSON texts;
    /// `None` leaves the stored value as it is).
    Details {
        id: ConnectionId,
        options: Option<String>,
        handshake: Option<String>,
    },
}

impl ConnectionEvent {
    pub fn id(&self) -> ConnectionId {
        match self {
            ConnectionEvent::Opened { id, .. }
            | ConnectionEvent::Closed { id, .. }
            | ConnectionEvent::Failed { id, .. }
            | ConnectionEvent::Details { id, .. } => *id,
        }
    }
}

/// A committed frame without its payload: what the timeline shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameSummary {
    pub seq: i64,
    pub connection: ConnectionId,
    pub ts_us: i64,
    pub dir: Direction,
    pub opcode: Opcode,
    pub fin: bool,
    pub rsv1: bool,
    pub len: u64,
    pub injected: bool,
    /// The frame carried a masking key.
    pub masked: bool,
    /// Only the start of the payload was recorded.
    pub truncated: bool,
    /// The observer found something illegal; `note` says what.
    pub invalid: bool,
    pub note: Option<String>,
    /// Size of the inflated message (permessage-deflate) completed by this frame.
    pub inflated_len: Option<u64>,
    /// Text (or hex) of the payload — of the inflated message when there is one.
    pub preview: String,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    /// Intercept: held at a breakpoint / Sockscope's edited version / received but not
    /// forwarded / received and replaced by the edited message that follows.
    pub held: bool,
    pub edited: bool,
    pub dropped: bool,
    pub replaced: bool,
}

/// A committed frame with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFrame {
    pub session: SessionId,
    pub seq: i64,
    pub connection: ConnectionId,
    pub ts_us: i64,
    pub dir: Direction,
    pub opcode: Opcode,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub len: u64,
    pub injected: bool,
    pub masked: bool,
    pub truncated: bool,
    pub note: Option<String>,
    pub payload: Vec<u8>,
    /// The inflated message, when this frame completed a compressed one.
    pub inflated: Option<Vec<u8>>,
    /// The masking key as seen on the wire, when it was recorded.
    pub mask_key: Option<[u8; 4]>,
    /// What intercept did with the frame's message.
    pub marks: sockscope_proto::InterceptMarks,
}

// Bits of the `frames.flags` column.
pub(crate) const FLAG_FIN: i64 = 1;
pub(crate) const FLAG_RSV1: i64 = 1 << 1;
pub(crate) const FLAG_RSV2: i64 = 1 << 2;
pub(crate) const FLAG_RSV3: i64 = 1 << 3;
pub(crate) const FLAG_INJECTED: i64 = 1 << 4;
pub(crate) const FLAG_MASKED: i64 = 1 << 5;
pub(crate) const FLAG_TRUNCATED: i64 = 1 << 6;
pub(crate) const FLAG_INVALID: i64 = 1 << 7;
pub(crate) const FLAG_HELD: i64 = 1 << 8;
pub(crate) const FLAG_EDITED: i64 = 1 << 9;
pub(crate) const FLAG_DROPPED: i64 = 1 << 10;
pub(crate) const FLAG_REPLACED: i64 = 1 << 11;

/// Intercept marks from the `frames.flags` column.
pub(crate) fn marks_from(flags: i64) -> sockscope_proto::InterceptMarks {
    sockscope_proto::InterceptMarks {
        held: flags & FLAG_HELD != 0,
        edited: flags & FLAG_EDITED != 0,
        dropped: flags & FLAG_DROPPED != 0,
        replaced: flags & FLAG_REPLACED != 0,
    }
}

/// The boolean facts of a frame, packed into the `frames.flags` column.
pub(crate) struct FrameBits {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub injected: bool,
    pub masked: bool,
    pub truncated: bool,
    pub invalid: bool,
    pub marks: sockscope_proto::InterceptMarks,
}

impl FrameBits {
    pub fn pack(&self) -> i64 {
        [
            (self.fin, FLAG_FIN),
            (self.rsv1, FLAG_RSV1),
            (self.rsv2, FLAG_RSV2),
            (self.rsv3, FLAG_RSV3),
            (self.injected, FLAG_INJECTED),
            (self.masked, FLAG_MASKED),
            (self.truncated, FLAG_TRUNCATED),
            (self.invalid, FLAG_INVALID),
            (self.marks.held, FLAG_HELD),
            (self.marks.edited, FLAG_EDITED),
            (self.marks.dropped, FLAG_DROPPED),
            (self.marks.replaced, FLAG_REPLACED),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit)
    }
}

pub(crate) fn dir_to_i64(d: Direction) -> i64 {
    match d {
        Direction::Client => 0,
        Direction::Server => 1,
    }
}

pub(crate) fn dir_from_i64(v: i64) -> Direction {
    if v == 0 {
        Direction::Client
    } else {
        Direction::Server
    }
}

/// The columns of a frame row that a summary needs, besides the payload.
pub(crate) struct FrameHead {
    pub seq: i64,
    pub connection: ConnectionId,
    pub ts_us: i64,
    pub dir: Direction,
    pub opcode: Opcode,
    pub flags: i64,
    pub len: u64,
    pub note: Option<String>,
    pub inflated_len: Option<u64>,
}

/// The summary of a frame. `shown` is the start of what the user reads: the inflated
/// message when there is one, else the payload.
pub(crate) fn summarize(h: FrameHead, shown: &[u8]) -> FrameSummary {
    let opcode = h.opcode;
    let (close_code, close_reason, preview) = if opcode == Opcode::Close {
        match sockscope_proto::parse_close_payload(shown) {
            Ok(info) => {
                let p = match info.code {
                    Some(c) if info.reason.is_empty() => c.to_string(),
                    Some(c) => format!(
                        "{c} {}",
                        sockscope_proto::preview(info.reason.as_bytes(), true)
                    ),
                    None => String::new(),
                };
                (info.code, Some(info.reason), p)
            }
            Err(e) => (None, None, format!("invalid close payload: {e}")),
        }
    } else {
        let text_like = matches!(opcode, Opcode::Text | Opcode::Continuation);
        (None, None, sockscope_proto::preview(shown, text_like))
    };
    let flags = h.flags;
    FrameSummary {
        seq: h.seq,
        connection: h.connection,
        ts_us: h.ts_us,
        dir: h.dir,
        opcode,
        fin: flags & FLAG_FIN != 0,
        rsv1: flags & FLAG_RSV1 != 0,
        len: h.len,
        injected: flags & FLAG_INJECTED != 0,
        masked: flags & FLAG_MASKED != 0,
        truncated: flags & FLAG_TRUNCATED != 0,
        invalid: flags & FLAG_INVALID != 0,
        note: h.note,
        inflated_len: h.inflated_len,
        preview,
        close_code,
        close_reason,
        held: flags & FLAG_HELD != 0,
        edited: flags & FLAG_EDITED != 0,
        dropped: flags & FLAG_DROPPED != 0,
        replaced: flags & FLAG_REPLACED != 0,
    }
}
