use crate::{ConnectionId, SessionId};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Who sent a frame. `Client` is client-to-server, `Server` is server-to-client
/// (the JSONL `dir` values "client" and "server").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Client,
    Server,
}

/// A WebSocket opcode (RFC 6455 §5.2). Reserved opcodes are kept by number so that
/// illegal traffic can still be recorded as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Reserved(u8),
}

/// A name that is not one of the known direction or opcode names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Client => "client",
            Direction::Server => "server",
        }
    }
}

impl FromStr for Direction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client" => Ok(Direction::Client),
            "server" => Ok(Direction::Server),
            other => Err(UnknownName(other.to_owned())),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Opcode {
    /// The 4-bit opcode as it appears on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
            Opcode::Reserved(n) => n & 0x0F,
        }
    }

    pub fn from_u8(n: u8) -> Opcode {
        match n & 0x0F {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }

    /// The name used by the JSONL format and the UI. Reserved opcodes are `"reserved-N"`.
    pub fn name(self) -> String {
        match self {
            Opcode::Continuation => "continuation".into(),
            Opcode::Text => "text".into(),
            Opcode::Binary => "binary".into(),
            Opcode::Close => "close".into(),
            Opcode::Ping => "ping".into(),
            Opcode::Pong => "pong".into(),
            Opcode::Reserved(n) => format!("reserved-{n}"),
        }
    }

    pub fn is_control(self) -> bool {
        self.to_u8() & 0x8 != 0
    }
}

impl FromStr for Opcode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "continuation" => Opcode::Continuation,
            "text" => Opcode::Text,
            "binary" => Opcode::Binary,
            "close" => Opcode::Close,
            "ping" => Opcode::Ping,
            "pong" => Opcode::Pong,
            other => match other
                .strip_prefix("reserved-")
                .and_then(|n| n.parse::<u8>().ok())
            {
                Some(n) if n < 16 => Opcode::Reserved(n),
                _ => return Err(UnknownName(other.to_owned())),
            },
        })
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Opcode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Opcode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One frame as recorded: what crossed the wire, plus where and when.
/// `seq` is not here: the store assigns it when the frame is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    pub session: SessionId,
    pub connection: ConnectionId,
    /// Microseconds since the Unix epoch when the frame was seen.
    pub ts_us: i64,
    pub dir: Direction,
    pub opcode: Opcode,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    /// Payload length on the wire (before any inflation).
    pub len_wire: u64,
    pub payload: Bytes,
    /// Sockscope itself sent this frame (composer, injection, replay).
    pub injected: bool,
    /// The frame carried a masking key (client frames must, server frames must not).
    pub masked: bool,
    /// The masking key as seen on the wire, when the recorder saw it (the capture relay does;
    /// client connections made through tungstenite do not: it picks the key itself).
    pub mask_key: Option<[u8; 4]>,
    /// `payload` holds only the start of a longer frame.
    pub truncated: bool,
    /// What was wrong with the frame, as seen by the observer (`None` when legal).
    pub issues: Option<String>,
    /// The whole message inflated (permessage-deflate), on the frame that completed it.
    pub inflated: Option<Bytes>,
    /// What the capture proxy's intercept did with this frame's message.
    pub marks: InterceptMarks,
}

/// What intercept (breakpoints, rewrite rules) did with a proxied message. All false for
/// a frame that passed untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InterceptMarks {
    /// The message was held at a breakpoint (then forwarded, edited or dropped).
    pub held: bool,
    /// Sockscope wrote this message in place of a received one (edited by hand or by a rule).
    pub edited: bool,
    /// The message was received but never forwarded.
    pub dropped: bool,
    /// The message was received and replaced by the `edited` message that follows it.
    pub replaced: bool,
}

impl InterceptMarks {
    pub fn any(self) -> bool {
        self.held || self.edited || self.dropped || self.replaced
    }
}

impl FrameRecord {
    /// A whole, unfragmented, uncompressed message frame.
    pub fn message(
        session: SessionId,
        connection: ConnectionId,
        dir: Direction,
        opcode: Opcode,
        payload: Bytes,
        ts_us: i64,
    ) -> FrameRecord {
        FrameRecord {
            session,
            connection,
            ts_us,
            dir,
            opcode,
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            len_wire: payload.len() as u64,
            payload,
            injected: false,
            masked: dir == Direction::Client,
            mask_key: None,
            truncated: false,
            issues: None,
            inflated: None,
            marks: InterceptMarks::default(),
        }
    }

    pub fn injected(mut self, injected: bool) -> FrameRecord {
        self.injected = injected;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_numbers_round_trip() {
        for n in 0u8..16 {
            assert_eq!(Opcode::from_u8(n).to_u8(), n);
        }
        assert_eq!(Opcode::from_u8(0x1), Opcode::Text);
        assert!(Opcode::Ping.is_control());
        assert!(!Opcode::Binary.is_control());
    }

    #[test]
    fn opcode_names_round_trip() {
        for n in 0u8..16 {
            let op = Opcode::from_u8(n);
            assert_eq!(op.name().parse::<Opcode>(), Ok(op));
        }
        assert!("reserved-99".parse::<Opcode>().is_err());
        assert_eq!(
            serde_json::to_string(&Opcode::Pong).ok().as_deref(),
            Some("\"pong\"")
        );
    }

    #[test]
    fn direction_names() {
        assert_eq!("client".parse::<Direction>(), Ok(Direction::Client));
        assert_eq!(Direction::Server.to_string(), "server");
        assert!("up".parse::<Direction>().is_err());
    }
}
