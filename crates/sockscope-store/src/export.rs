//! The lossless JSONL session format (DESIGN.md §5), written in capture order.

use crate::model::*;
use crate::read;
use crate::StoreError;
use base64::Engine as _;
use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};
use sockscope_proto::{parse_close_payload, ConnectionId, Opcode, SessionId};
use std::collections::HashMap;
use std::io::Write;

pub const FORMAT: &str = "sockscope-session";
pub const VERSION: i64 = 1;

/// Writes the session in capture order: the session, its connections and the last frame are
/// read in one read transaction; the frames up to that one in slices (see
/// [`read::in_slices`]), so a long export holds no snapshot throughout, and frames captured
/// meanwhile are left out. A session deleted meanwhile ends the export with an error.
pub fn jsonl(c: &Connection, session: SessionId, out: &mut dyn Write) -> Result<(), StoreError> {
    let (s, conns, last_seq) = read::in_one_transaction(c, |c| {
        let s = read::session(c, session)?;
        let conns = read::connections(c, session)?;
        let mut last_seq: HashMap<ConnectionId, i64> = HashMap::new();
        let mut stmt = c.prepare_cached(
            "SELECT connection_id, MAX(seq) FROM frames WHERE session_id = ?1 GROUP BY connection_id",
        )?;
        let mut rows = stmt.query(params![session.0])?;
        while let Some(r) = rows.next()? {
            last_seq.insert(ConnectionId(r.get(0)?), r.get(1)?);
        }
        Ok((s, conns, last_seq))
    })?;
    // The export's end: frames captured while it runs are left out.
    let upto = last_seq.values().copied().max().unwrap_or(0);
    let mut header = json!({
        "format": FORMAT,
        "version": VERSION,
        "session": {
            "id": s.id,
            "name": s.name,
            "kind": s.kind,
            "created_at": s.created_at,
            "created_at_us": s.created_at_us,
        }
    });
    // Extensions of the v1 header (import reads them back).
    if let Some(Value::Object(m)) = header.get_mut("session") {
        if !s.notes.is_empty() {
            m.insert("notes".into(), json!(s.notes));
        }
        if !s.tags.is_empty() {
            m.insert("tags".into(), json!(s.tags));
        }
    }
    line(out, &header)?;

    let mut opened = vec![false; conns.len()];
    let mut closed = vec![false; conns.len()];
    let index: HashMap<ConnectionId, usize> =
        conns.iter().enumerate().map(|(i, c)| (c.id, i)).collect();

    read::in_slices(
        c,
        "SELECT connection_id, ts_us, dir, opcode, flags, len, \
         sockscope_payload(session_id, payload, poff, plen), note, inflated, seq, \
         mask_key FROM frames WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq \
         LIMIT ?4",
        session.0,
        upto,
        |r| {
            let seq: i64 = r.get(9)?;
            let f = read::stored_frame(session, seq, r)?;
            // Connections (and frameless connections' closes) made before this frame come first.
            for (i, conn) in conns.iter().enumerate() {
                if !opened[i] && (conn.id == f.connection || conn.created_at_us <= f.ts_us) {
                    line(out, &connection_line(conn))?;
                    opened[i] = true;
                    if !last_seq.contains_key(&conn.id) && !closed[i] {
                        if let Some(v) = close_line(conn) {
                            line(out, &v)?;
                        }
                        closed[i] = true;
                    }
                }
            }
            line(out, &frame_line(&f))?;
            if last_seq.get(&f.connection) == Some(&seq) {
                if let Some(&i) = index.get(&f.connection) {
                    if !closed[i] {
                        if let Some(v) = close_line(&conns[i]) {
                            line(out, &v)?;
                        }
                        closed[i] = true;
                    }
                }
            }
            Ok(f.payload.len() + f.inflated.as_ref().map_or(0, Vec::len))
        },
    )?;
    for (i, conn) in conns.iter().enumerate() {
        if !opened[i] {
            line(out, &connection_line(conn))?;
        }
        if !closed[i] {
            if let Some(v) = close_line(conn) {
                line(out, &v)?;
            }
        }
    }
    // Deleted meanwhile: what was written is not the session.
    read::session(c, session)?;
    out.flush().map_err(StoreError::Write)
}

fn line(out: &mut dyn Write, v: &Value) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| StoreError::Write(e.into()))?;
    out.write_all(b"\n").map_err(StoreError::Write)
}

fn connection_line(c: &ConnectionInfo) -> Value {
    let mut v = json!({
        "type": "connection",
        "id": c.id,
        "url": c.url,
        "request_headers": c.request_headers,
        "response_status": c.response_status,
        "response_headers": c.response_headers,
        "opened_at_us": c.opened_at_us,
        "created_at_us": c.created_at_us,
    });
    if let (Some(p), Value::Object(m)) = (&c.subprotocol, &mut v) {
        m.insert("subprotocol".into(), json!(p));
    }
    if let Value::Object(m) = &mut v {
        if c.insecure {
            m.insert("insecure".into(), json!(true));
        }
    }
    v
}

fn close_line(c: &ConnectionInfo) -> Option<Value> {
    let by = c.closed_by?;
    let code = c.close_code.unwrap_or(match by {
        ClosedBy::Error => 1006,
        _ => 1005,
    });
    let mut v = json!({
        "type": "close",
        "connection": c.id,
        "ts_us": c.closed_at_us,
        "code": code,
        "reason": c.close_reason.clone().unwrap_or_default(),
        "by": by,
    });
    if let (Some(e), Value::Object(m)) = (&c.error, &mut v) {
        m.insert("error".into(), json!(e));
    }
    Some(v)
}

fn frame_line(f: &StoredFrame) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("frame"));
    m.insert("connection".into(), json!(f.connection));
    m.insert("seq".into(), json!(f.seq));
    m.insert("ts_us".into(), json!(f.ts_us));
    m.insert("dir".into(), json!(f.dir));
    m.insert("opcode".into(), json!(f.opcode));
    m.insert("fin".into(), json!(f.fin));
    m.insert("rsv1".into(), json!(f.rsv1));
    if f.rsv2 {
        m.insert("rsv2".into(), json!(true));
    }
    if f.rsv3 {
        m.insert("rsv3".into(), json!(true));
    }
    m.insert("len".into(), json!(f.len));
    let text = match f.opcode {
        Opcode::Text => std::str::from_utf8(&f.payload).ok(),
        _ => None,
    };
    match text {
        Some(t) => m.insert("text".into(), json!(t)),
        None => m.insert(
            "base64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(&f.payload)),
        ),
    };
    if f.opcode == Opcode::Close {
        if let Ok(info) = parse_close_payload(&f.payload) {
            m.insert("close_code".into(), json!(info.code));
            m.insert("close_reason".into(), json!(info.reason));
        }
    }
    if f.injected {
        m.insert("injected".into(), json!(true));
    }
    // Extensions of the v1 format (readers ignore what they do not know).
    if f.masked {
        m.insert("masked".into(), json!(true));
    }
    if let Some(k) = f.mask_key {
        m.insert(
            "mask_key".into(),
            json!(format!("{:08x}", u32::from_be_bytes(k))),
        );
    }
    if f.truncated {
        m.insert("truncated".into(), json!(true));
    }
    if let Some(note) = &f.note {
        m.insert("issues".into(), json!(note));
    }
    // Intercept (extension): what the capture proxy did with the message.
    for (on, name) in [
        (f.marks.held, "held"),
        (f.marks.edited, "edited"),
        (f.marks.dropped, "dropped"),
        (f.marks.replaced, "replaced"),
    ] {
        if on {
            m.insert(name.into(), json!(true));
        }
    }
    if let Some(inflated) = &f.inflated {
        match std::str::from_utf8(inflated) {
            Ok(t) => m.insert("inflated_text".into(), json!(t)),
            Err(_) => m.insert(
                "inflated_base64".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(inflated)),
            ),
        };
    }
    Value::Object(m)
}
