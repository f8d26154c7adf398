//! Read queries. Every value read from the file is treated as untrusted: bad rows are
//! reported as [`StoreError::Corrupt`], never a panic.

use crate::model::*;
use crate::purge::not_purging;
use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sockscope_proto::{ConnectionId, Opcode, SessionId};

pub fn format_rfc3339(us: i64) -> String {
    let nanos = i128::from(us) * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| us.to_string())
}

pub(crate) const SESSION_COLS: &str = "s.id, s.name, s.kind, s.created_at_us, s.frame_count, \
     (SELECT COUNT(*) FROM connections c WHERE c.session_id = s.id), s.insecure, \
     s.pinned, s.tags, s.notes, s.origin_session_id, s.origin_connection_id, s.imported_from, s.bytes";

type SessionRow = ((i64, String, String, i64, i64, i64, bool), SessionExtra);

/// The organising columns of a session row (schema v3 and v4).
type SessionExtra = (
    bool,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

pub(crate) fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ),
        (
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
        ),
    ))
}

pub(crate) fn to_session(
    (
        (id, name, kind, created_at_us, frames, connections, insecure),
        (pinned, tags, notes, origin_session, origin_connection, imported_from, bytes),
    ): SessionRow,
) -> Result<SessionSummary, StoreError> {
    Ok(SessionSummary {
        id: SessionId(id),
        name,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        created_at: format_rfc3339(created_at_us),
        created_at_us,
        connections,
        frames,
        insecure,
        pinned,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("tags of session {id}: {e}")))?,
        notes,
        origin_session_id: origin_session.map(SessionId),
        origin_connection_id: origin_connection.map(ConnectionId),
        imported_from,
        bytes,
    })
}

pub fn sessions(c: &Connection) -> Result<Vec<SessionSummary>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        concat!(
            "SELECT {} FROM sessions s WHERE s.id",
            not_purging!(),
            " ORDER BY s.created_at_us DESC, s.id DESC"
        ),
        SESSION_COLS
    ))?;
    let rows = stmt.query_map([], session_row)?;
    rows.map(|r| to_session(r?)).collect()
}

pub fn session(c: &Connection, id: SessionId) -> Result<SessionSummary, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        concat!(
            "SELECT {} FROM sessions s WHERE s.id = ?1 AND s.id",
            not_purging!()
        ),
        SESSION_COLS
    ))?;
    let row = stmt
        .query_row(params![id.0], session_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("session {id}")))?;
    to_session(row)
}

const CONN_COLS: &str = "id, session_id, url, state, request_headers, response_status, \
     response_headers, subprotocol, created_at_us, opened_at_us, closed_at_us, close_code, \
     close_reason, closed_by, error, insecure, options";

fn headers(json: &str) -> Result<Headers, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

fn small_u16(v: Option<i64>, what: &str) -> Result<Option<u16>, StoreError> {
    v.map(|n| u16::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n}"))))
        .transpose()
}

fn conn_row(r: &Row<'_>) -> rusqlite::Result<RawConn> {
    Ok(RawConn {
        id: r.get(0)?,
        session_id: r.get(1)?,
        url: r.get(2)?,
        state: r.get(3)?,
        request_headers: r.get(4)?,
        response_status: r.get(5)?,
        response_headers: r.get(6)?,
        subprotocol: r.get(7)?,
        created_at_us: r.get(8)?,
        opened_at_us: r.get(9)?,
        closed_at_us: r.get(10)?,
        close_code: r.get(11)?,
        close_reason: r.get(12)?,
        closed_by: r.get(13)?,
        error: r.get(14)?,
        insecure: r.get(15)?,
        options: r.get(16)?,
    })
}

struct RawConn {
    id: i64,
    session_id: i64,
    url: String,
    state: String,
    request_headers: String,
    response_status: Option<i64>,
    response_headers: String,
    subprotocol: Option<String>,
    created_at_us: i64,
    opened_at_us: Option<i64>,
    closed_at_us: Option<i64>,
    close_code: Option<i64>,
    close_reason: Option<String>,
    closed_by: Option<String>,
    error: Option<String>,
    insecure: bool,
    options: Option<String>,
}

impl RawConn {
    fn into_info(self) -> Result<ConnectionInfo, StoreError> {
        Ok(ConnectionInfo {
            id: ConnectionId(self.id),
            session_id: SessionId(self.session_id),
            url: self.url,
            state: self.state.parse().map_err(StoreError::Corrupt)?,
            request_headers: headers(&self.request_headers)?,
            response_status: small_u16(self.response_status, "status")?,
            response_headers: headers(&self.response_headers)?,
            subprotocol: self.subprotocol,
            created_at_us: self.created_at_us,
            opened_at_us: self.opened_at_us,
            closed_at_us: self.closed_at_us,
            close_code: small_u16(self.close_code, "close code")?,
            close_reason: self.close_reason,
            closed_by: self
                .closed_by
                .map(|s| s.parse())
                .transpose()
                .map_err(StoreError::Corrupt)?,
            error: self.error,
            insecure: self.insecure,
            // Written by the engine as JSON; unreadable JSON is shown as absent, not an error.
            options: self.options.and_then(|o| serde_json::from_str(&o).ok()),
        })
    }
}

pub fn connections(c: &Connection, session: SessionId) -> Result<Vec<ConnectionInfo>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CONN_COLS} FROM connections WHERE session_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![session.0], conn_row)?;
    rows.map(|r| r?.into_info()).collect()
}

pub fn connection(c: &Connection, id: ConnectionId) -> Result<ConnectionInfo, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CONN_COLS} FROM connections WHERE id = ?1"
    ))?;
    stmt.query_row(params![id.0], conn_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("connection {id}")))?
        .into_info()
}

fn opcode_from(v: i64) -> Result<Opcode, StoreError> {
    u8::try_from(v)
        .ok()
        .filter(|n| *n < 16)
        .map(Opcode::from_u8)
        .ok_or_else(|| StoreError::Corrupt(format!("opcode {v}")))
}

fn len_from(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("length {v}")))
}

/// Summaries are computed from the first bytes of the payload only.
pub(crate) const SUMMARY_PAYLOAD_BYTES: i64 = 4096;

pub fn frames_after(
    c: &Connection,
    session: SessionId,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<FrameSummary>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, connection_id, ts_us, dir, opcode, flags, len, note, length(inflated), \
         COALESCE(substr(inflated, 1, ?4), sockscope_payload(session_id, payload, poff, plen, ?4)) \
         FROM frames WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![session.0, after_seq, limit, SUMMARY_PAYLOAD_BYTES])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(summary_row(r)?);
    }
    Ok(out)
}

/// A summary from a row of `seq, connection_id, ts_us, dir, opcode, flags, len, note,
/// length(inflated), <first bytes of the shown payload>`.
pub(crate) fn summary_row(r: &Row<'_>) -> Result<FrameSummary, StoreError> {
    let inflated_len: Option<i64> = r.get(8)?;
    let head: Option<Vec<u8>> = r.get(9)?;
    let head = head.unwrap_or_default();
    Ok(summarize(
        FrameHead {
            seq: r.get(0)?,
            connection: ConnectionId(r.get(1)?),
            ts_us: r.get(2)?,
            dir: dir_from_i64(r.get(3)?),
            opcode: opcode_from(r.get(4)?)?,
            flags: r.get(5)?,
            len: len_from(r.get(6)?)?,
            note: r.get(7)?,
            inflated_len: inflated_len.map(len_from).transpose()?,
        },
        &head,
    ))
}

pub fn frame(c: &Connection, session: SessionId, seq: i64) -> Result<StoredFrame, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT connection_id, ts_us, dir, opcode, flags, len, \
         sockscope_payload(session_id, payload, poff, plen), note, inflated, mask_key \
         FROM frames WHERE session_id = ?1 AND seq = ?2",
    )?;
    let mut rows = stmt.query(params![session.0, seq])?;
    let r = rows
        .next()?
        .ok_or_else(|| StoreError::NotFound(format!("frame {seq} of session {session}")))?;
    stored_frame(session, seq, r)
}

pub(crate) fn stored_frame(
    session: SessionId,
    seq: i64,
    r: &Row<'_>,
) -> Result<StoredFrame, StoreError> {
    let flags: i64 = r.get(4)?;
    Ok(StoredFrame {
        session,
        seq,
        connection: ConnectionId(r.get(0)?),
        ts_us: r.get(1)?,
        dir: dir_from_i64(r.get(2)?),
        opcode: opcode_from(r.get(3)?)?,
        fin: flags & FLAG_FIN != 0,
        rsv1: flags & FLAG_RSV1 != 0,
        rsv2: flags & FLAG_RSV2 != 0,
        rsv3: flags & FLAG_RSV3 != 0,
        len: len_from(r.get(5)?)?,
        injected: flags & FLAG_INJECTED != 0,
        masked: flags & FLAG_MASKED != 0,
        truncated: flags & FLAG_TRUNCATED != 0,
        payload: r.get::<_, Option<Vec<u8>>>(6)?.unwrap_or_default(),
        note: r.get(7)?,
        inflated: r.get(8)?,
        // By name: the callers select it at different positions.
        mask_key: mask_key_from(r.get("mask_key")?)?,
        marks: marks_from(flags),
    })
}

/// The `frames.mask_key` column (a big-endian u32) as the key's four bytes.
pub(crate) fn mask_key_from(v: Option<i64>) -> Result<Option<[u8; 4]>, StoreError> {
    v.map(|k| {
        u32::try_from(k)
            .map(u32::to_be_bytes)
            .map_err(|_| StoreError::Corrupt(format!("mask key {k}")))
    })
    .transpose()
}

/// The messages of a connection in the order they completed: data messages reassembled from
/// their fragments (the inflated message when compressed), control frames as they are.
pub fn connection_messages(
    c: &Connection,
    conn: ConnectionId,
) -> Result<Vec<sockscope_proto::diff::Message>, StoreError> {
    use sockscope_proto::diff::Message;
    use sockscope_proto::Direction;
    // The message being reassembled per direction: its first frame's opcode and rsv1, the
    // bytes so far, and whether any part was cut.
    struct Partial {
        opcode: Opcode,
        compressed: bool,
        data: Vec<u8>,
        truncated: bool,
    }
    /// One frame row (the columns of `MESSAGE_COLUMNS`) folded into the messages so far,
    /// the message being reassembled per direction and the last frame seen per direction.
    fn fold(
        r: &rusqlite::Row<'_>,
        out: &mut Vec<Message>,
        partial: &mut [Option<Partial>; 2],
        last: &mut [(i64, i64); 2],
    ) -> Result<(), StoreError> {
        let seq: i64 = r.get(0)?;
        let ts_us: i64 = r.get(1)?;
        let dir = dir_from_i64(r.get(2)?);
        let opcode = opcode_from(r.get(3)?)?;
        let flags: i64 = r.get(4)?;
        let payload: Vec<u8> = r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default();
        let inflated: Option<Vec<u8>> = r.get(6)?;
        // Intercepted messages that never reached the other side are not part of the exchange.
        if flags & (FLAG_DROPPED | FLAG_REPLACED) != 0 {
            return Ok(());
        }
        let slot = usize::from(dir == Direction::Server);
        last[slot] = (seq, ts_us);
        let fin = flags & FLAG_FIN != 0;
        let cut = flags & FLAG_TRUNCATED != 0;
        let finish = |p: Partial, inflated: Option<Vec<u8>>, seq: i64, ts_us: i64| {
            let (payload, truncated) = match (p.compressed, inflated) {
                (_, Some(whole)) => (whole, p.truncated),
                // Compressed, but the recorder could not inflate it: only the wire bytes.
                (true, None) => (p.data, true),
                (false, None) => (p.data, p.truncated),
            };
            Message {
                dir,
                seq,
                ts_us,
                opcode: p.opcode,
                payload: payload.into(),
                truncated,
            }
        };
        match opcode {
            Opcode::Text | Opcode::Binary => {
                if let Some(p) = partial[slot].take() {
                    // A new message before the previous one finished (illegal): keep its part.
                    let mut m = finish(p, None, seq, ts_us);
                    m.truncated = true;
                    out.push(m);
                }
                let p = Partial {
                    opcode,
                    compressed: flags & FLAG_RSV1 != 0,
                    data: payload,
                    truncated: cut,
                };
                if fin {
                    out.push(finish(p, inflated, seq, ts_us));
                } else {
                    partial[slot] = Some(p);
                }
            }
            Opcode::Continuation => {
                // A continuation with no message started is illegal and carries no type: skipped.
                if let Some(mut p) = partial[slot].take() {
                    p.data.extend_from_slice(&payload);
                    p.truncated |= cut;
                    if fin {
                        out.push(finish(p, inflated, seq, ts_us));
                    } else {
                        partial[slot] = Some(p);
                    }
                }
            }
            _ => out.push(Message {
                dir,
                seq,
                ts_us,
                opcode,
                payload: payload.into(),
                truncated: cut,
            }),
        }
        Ok(())
    }
    const MESSAGE_COLUMNS: &str = "seq, ts_us, dir, opcode, flags, \
        sockscope_payload(session_id, payload, poff, plen), inflated";
    let mut out = Vec::new();
    let mut partial: [Option<Partial>; 2] = [None, None];
    let mut last = [(0i64, 0i64); 2];
    // The connection's frames in the per-connection index, then those past it, in one read
    // transaction (`connection_index.rs`).
    in_one_transaction(c, |c| {
        for part in crate::connection_index::Parts::new("?1", false).in_order("") {
            let mut stmt = c.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM {part}"))?;
            let mut rows = stmt.query(params![conn.0])?;
            while let Some(r) = rows.next()? {
                fold(r, &mut out, &mut partial, &mut last)?;
            }
        }
        Ok(())
    })?;
    // Messages that never finished.
    for (slot, p) in partial.into_iter().enumerate() {
        if let Some(p) = p {
            let dir = if slot == 0 {
                Direction::Client
            } else {
                Direction::Server
            };
            out.push(Message {
                dir,
                seq: last[slot].0,
                ts_us: last[slot].1,
                opcode: p.opcode,
                payload: p.data.into(),
                truncated: true,
            });
        }
    }
    Ok(out)
}

/// An export reads at most this many frames per read transaction…
const SLICE_ROWS: i64 = 2_000;
/// …and stops a slice once it has read this many payload bytes.
const SLICE_BYTES: usize = 8 << 20;

/// The last `seq` of a session (0 when it has no frames): an export's end, read in the same
/// transaction as the session's connections, so frames captured while it runs are left out.
pub(crate) fn last_seq(c: &Connection, session: SessionId) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM frames WHERE session_id = ?1",
        params![session.0],
        |r| r.get(0),
    )?)
}

/// Reads the frames an export walks through in slices, each its own read transaction (on
/// the export's own connection): one transaction over a session of gigabytes held a snapshot
/// for as long as the whole export, so the WAL could not start over while capture went on.
///
/// `sql` selects a `seq` column and ends `seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4`,
/// with `?1` = `key`; rows up to seq `upto` are passed to `each`, which returns the payload
/// bytes it read.
pub(crate) fn in_slices(
    c: &Connection,
    sql: &str,
    key: i64,
    upto: i64,
    mut each: impl FnMut(&Row<'_>) -> Result<usize, StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut after = i64::MIN;
    loop {
        // Autocommit: the read transaction ends when `rows` is dropped.
        let mut rows = stmt.query(params![key, after, upto, SLICE_ROWS])?;
        let (mut n, mut bytes) = (0i64, 0usize);
        while let Some(r) = rows.next()? {
            after = r.get("seq")?;
            bytes = bytes.saturating_add(each(r)?);
            n += 1;
            if bytes >= SLICE_BYTES {
                break;
            }
        }
        // A slice cut short by neither bound was the last.
        if n < SLICE_ROWS && bytes < SLICE_BYTES {
            return Ok(());
        }
    }
}

/// Runs `f` in one read transaction (its queries see one snapshot).
pub(crate) fn in_one_transaction<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.execute_batch("BEGIN")?;
    let r = f(c);
    // A read transaction: ending it cannot lose anything.
    let end = c.execute_batch("COMMIT");
    let v = r?;
    end?;
    Ok(v)
}
