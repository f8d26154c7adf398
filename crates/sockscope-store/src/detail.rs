//! The detail view's reads: a frame's header facts (all RSV bits, the raw opcode, the
//! masking key, where it sits in its message) and a whole message's payload with its
//! fragments joined. Values read from the file are untrusted: bad rows are `Corrupt`.

use crate::model::{
    dir_from_i64, FLAG_FIN, FLAG_INJECTED, FLAG_MASKED, FLAG_RSV1, FLAG_RSV2, FLAG_RSV3,
    FLAG_TRUNCATED,
};
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};

/// A message's payload is joined up to this many bytes by default (the rest is cut off).
pub const MESSAGE_CAP: usize = 64 * 1024 * 1024;
/// A message is looked for across at most this many frames (each way).
pub const MESSAGE_FRAMES_MAX: usize = 100_000;

/// Where a frame sits in its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageSpan {
    /// The message's first frame (text or binary).
    pub first_seq: i64,
    /// Its opcode: what the joined message is (text or binary).
    pub opcode: Opcode,
    /// Its last frame so far (FIN set when `complete`).
    pub last_seq: i64,
    pub frames: usize,
    /// Sum of the frames' wire lengths.
    pub len: u64,
    /// The final frame (FIN) has been recorded.
    pub complete: bool,
    /// The message was compressed (permessage-deflate): its payload is the inflated message.
    pub compressed: bool,
}

/// Everything the frame-facts panel and the anatomy diagram show about one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameFacts {
    pub seq: i64,
    pub connection: ConnectionId,
    pub ts_us: i64,
    pub dir: Direction,
    /// The opcode as on the wire (0–15).
    pub opcode_value: u8,
    pub opcode: Opcode,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub masked: bool,
    /// The masking key as 8 hex digits, when it was recorded (captured frames).
    pub mask_key: Option<String>,
    /// Payload length on the wire.
    pub len: u64,
    /// Bytes of payload recorded (less than `len` when truncated).
    pub recorded_len: u64,
    pub truncated: bool,
    pub injected: bool,
    pub note: Option<String>,
    /// The inflated message's size, when this frame completed a compressed message.
    pub inflated_len: Option<u64>,
    /// The first 16 payload bytes as recorded (unmasked), for the anatomy diagram.
    pub head: Vec<u8>,
    /// Data frames: the message this frame belongs to. Control frames: none.
    pub message: Option<MessageSpan>,
    /// When the connection opened (unix µs), for times relative to it.
    pub connection_opened_at_us: Option<i64>,
}

#[derive(Clone, Copy)]
struct Row {
    id_seq: i64,
    connection: i64,
    ts_us: i64,
    dir: i64,
    opcode: i64,
    flags: i64,
    len: i64,
}

fn opcode_value(v: i64) -> Result<u8, StoreError> {
    u8::try_from(v)
        .ok()
        .filter(|n| *n < 16)
        .ok_or_else(|| StoreError::Corrupt(format!("opcode {v}")))
}

fn len_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("length {v}")))
}

fn neighbours(
    c: &Connection,
    conn: i64,
    dir: i64,
    seq: i64,
    before: bool,
) -> Result<Vec<Row>, StoreError> {
    let (cmp, order) = if before { ("<", "DESC") } else { (">", "ASC") };
    let sql = format!(
        "SELECT seq, connection_id, ts_us, dir, opcode, flags, len FROM {} AS frames \
         WHERE connection_id = ?1 AND seq {cmp} ?2 AND dir = ?3 AND opcode IN (0, 1, 2) \
         ORDER BY seq {order} LIMIT ?4",
        crate::connection_index::frames_of("?1")
    );
    let mut stmt = c.prepare_cached(&sql)?;
    // Read in chunks: most messages are one frame.
    let mut out = Vec::new();
    let limit = i64::try_from(MESSAGE_FRAMES_MAX).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![conn, seq, dir, limit], |r| {
        Ok(Row {
            id_seq: r.get(0)?,
            connection: r.get(1)?,
            ts_us: r.get(2)?,
            dir: r.get(3)?,
            opcode: r.get(4)?,
            flags: r.get(5)?,
            len: r.get(6)?,
        })
    })?;
    for r in rows {
        let r = r?;
        let op = opcode_value(r.opcode)?;
        let stop = if before {
            // Walking back: include frames up to (and including) the message's first frame.
            op != 0
        } else {
            r.flags & FLAG_FIN != 0 || op != 0
        };
        if !before && op != 0 {
            break; // a new message started before this one finished (illegal): it ends here
        }
        out.push(r);
        if stop {
            break;
        }
    }
    Ok(out)
}

/// The frames (seq, wire len, fin, compressed) of the message `seq` belongs to.
fn span_rows(c: &Connection, head: &Row) -> Result<Option<Vec<Row>>, StoreError> {
    let op = opcode_value(head.opcode)?;
    if op > 2 {
        return Ok(None);
    }
    let mut rows: Vec<Row> = Vec::new();
    if op == 0 {
        let mut back = neighbours(c, head.connection, head.dir, head.id_seq, true)?;
        // The walk back must end at a text/binary frame that has not finished (no FIN).
        match back.last() {
            Some(first) if opcode_value(first.opcode)? != 0 && first.flags & FLAG_FIN == 0 => {}
            _ => back.clear(),
        }
        // A FIN continuation in between would have ended an earlier message.
        if back.iter().rev().skip(1).any(|r| r.flags & FLAG_FIN != 0) {
            back.clear();
        }
        back.reverse();
        rows.extend(back);
    }
    let fin = head.flags & FLAG_FIN != 0;
    rows.push(*head);
    if !fin {
        rows.extend(neighbours(
            c,
            head.connection,
            head.dir,
            head.id_seq,
            false,
        )?);
    }
    Ok(Some(rows))
}

fn span_of(rows: &[Row], compressed: bool) -> Result<MessageSpan, StoreError> {
    let first = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("empty message".into()))?;
    let last = rows.last().unwrap_or(first);
    let mut len = 0u64;
    for r in rows {
        len = len.saturating_add(len_u64(r.len)?);
    }
    Ok(MessageSpan {
        first_seq: first.id_seq,
        opcode: Opcode::from_u8(opcode_value(first.opcode)?),
        last_seq: last.id_seq,
        frames: rows.len(),
        len,
        complete: last.flags & FLAG_FIN != 0,
        compressed,
    })
}

fn head_row(c: &Connection, session: SessionId, seq: i64) -> Result<Row, StoreError> {
    c.prepare_cached(
        "SELECT seq, connection_id, ts_us, dir, opcode, flags, len FROM frames \
         WHERE session_id = ?1 AND seq = ?2",
    )?
    .query_row(params![session.0, seq], |r| {
        Ok(Row {
            id_seq: r.get(0)?,
            connection: r.get(1)?,
            ts_us: r.get(2)?,
            dir: r.get(3)?,
            opcode: r.get(4)?,
            flags: r.get(5)?,
            len: r.get(6)?,
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("frame {seq} of session {session}")))
}

/// mask_key, note, recorded length, inflated length, first payload bytes.
type Extra = (
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
    Option<Vec<u8>>,
);

pub(crate) fn frame_facts(
    c: &Connection,
    session: SessionId,
    seq: i64,
) -> Result<FrameFacts, StoreError> {
    let head = head_row(c, session, seq)?;
    let extra: Extra = c
        .prepare_cached(
            "SELECT mask_key, note, COALESCE(plen, length(payload)), length(inflated), \
             sockscope_payload(session_id, payload, poff, plen, 16) \
             FROM frames WHERE session_id = ?1 AND seq = ?2",
        )?
        .query_row(params![session.0, seq], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                r.get(3)?,
                r.get(4)?,
            ))
        })?;
    let (mask_key, note, recorded_len, inflated_len, first_bytes) = extra;
    let mask_key = mask_key
        .map(|k| {
            u32::try_from(k)
                .map(|k| format!("{k:08x}"))
                .map_err(|_| StoreError::Corrupt(format!("mask key {k}")))
        })
        .transpose()?;
    let op = opcode_value(head.opcode)?;
    let message = match span_rows(c, &head)? {
        Some(rows) => {
            let compressed = rows.first().is_some_and(|r| r.flags & FLAG_RSV1 != 0);
            Some(span_of(&rows, compressed)?)
        }
        None => None,
    };
    let opened: Option<i64> = c
        .prepare_cached("SELECT opened_at_us FROM connections WHERE id = ?1")?
        .query_row(params![head.connection], |r| r.get(0))
        .optional()?
        .flatten();
    let f = head.flags;
    Ok(FrameFacts {
        seq,
        connection: ConnectionId(head.connection),
        ts_us: head.ts_us,
        dir: dir_from_i64(head.dir),
        opcode_value: op,
        opcode: Opcode::from_u8(op),
        fin: f & FLAG_FIN != 0,
        rsv1: f & FLAG_RSV1 != 0,
        rsv2: f & FLAG_RSV2 != 0,
        rsv3: f & FLAG_RSV3 != 0,
        masked: f & FLAG_MASKED != 0,
        mask_key,
        len: len_u64(head.len)?,
        recorded_len: len_u64(recorded_len)?,
        truncated: f & FLAG_TRUNCATED != 0,
        injected: f & FLAG_INJECTED != 0,
        note,
        inflated_len: inflated_len.map(len_u64).transpose()?,
        head: first_bytes.unwrap_or_default(),
        message,
        connection_opened_at_us: opened,
    })
}

/// A whole message's payload: the fragments' payloads joined (the inflated message when it
/// was compressed and complete), cut at `cap` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePayload {
    pub span: MessageSpan,
    pub bytes: Vec<u8>,
    /// More bytes than `cap` (or a truncated fragment): `bytes` is only the start.
    pub cut: bool,
}

pub(crate) fn message_payload(
    c: &Connection,
    session: SessionId,
    seq: i64,
    cap: usize,
) -> Result<MessagePayload, StoreError> {
    let head = head_row(c, session, seq)?;
    let Some(rows) = span_rows(c, &head)? else {
        // A control frame is its own message.
        let (payload, flags): (Option<Vec<u8>>, i64) = c
            .prepare_cached(
                "SELECT sockscope_payload(session_id, payload, poff, plen), flags FROM frames \
                 WHERE session_id = ?1 AND seq = ?2",
            )?
            .query_row(params![session.0, seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut bytes = payload.unwrap_or_default();
        let cut = bytes.len() > cap || flags & FLAG_TRUNCATED != 0;
        bytes.truncate(cap);
        return Ok(MessagePayload {
            span: span_of(&[head], false)?,
            bytes,
            cut,
        });
    };
    let compressed = rows.first().is_some_and(|r| r.flags & FLAG_RSV1 != 0);
    let span = span_of(&rows, compressed)?;
    let mut stmt = c.prepare_cached(
        "SELECT sockscope_payload(session_id, payload, poff, plen), inflated, flags FROM frames \
         WHERE session_id = ?1 AND seq = ?2",
    )?;
    if compressed && span.complete {
        let (inflated, flags): (Option<Vec<u8>>, i64) = stmt
            .query_row(params![session.0, span.last_seq], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })?;
        if let Some(mut bytes) = inflated {
            let cut = bytes.len() > cap || flags & FLAG_TRUNCATED != 0;
            bytes.truncate(cap);
            return Ok(MessagePayload { span, bytes, cut });
        }
    }
    let mut bytes = Vec::new();
    let mut cut = false;
    for r in &rows {
        let (payload, flags): (Option<Vec<u8>>, i64) =
            stmt.query_row(params![session.0, r.id_seq], |r| Ok((r.get(0)?, r.get(2)?)))?;
        let payload = payload.unwrap_or_default();
        cut |= flags & FLAG_TRUNCATED != 0;
        let room = cap.saturating_sub(bytes.len());
        if payload.len() > room {
            bytes.extend_from_slice(&payload[..room]);
            cut = true;
            break;
        }
        bytes.extend_from_slice(&payload);
    }
    Ok(MessagePayload { span, bytes, cut })
}
