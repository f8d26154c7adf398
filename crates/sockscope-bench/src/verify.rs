//! After a run through Sockscope: did the session record every frame, in order, with the
//! bytes that were sent? Reads the database file directly (read-only).

use crate::codec::Pattern;
use rusqlite::{params, Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    /// Text and binary frames recorded in the session.
    pub data_frames: u64,
    /// 2 × the round trips the load generator completed.
    pub expected: u64,
    pub connections: u64,
    /// Every problem found (empty when the recording is complete and exact).
    pub errors: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.data_frames == self.expected
    }
}

/// Checks that `session` holds, per connection and direction, messages 0, 1, 2… of the
/// load generator's pattern, `messages` round trips in all.
pub fn check_session(
    db: &Path,
    session: i64,
    messages: u64,
    conns: usize,
    size: usize,
) -> Result<Verification, String> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("open {}: {e}", db.display()))?;
    sockscope_store::register_payload_function(&c, db).map_err(|e| e.to_string())?;
    let pattern = Pattern::new(size);
    let mut errors = Vec::new();
    let connections: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM connections WHERE session_id = ?1",
            params![session],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    let connections = connections.max(0) as u64;
    if connections != conns as u64 {
        errors.push(format!(
            "{connections} connections recorded, expected {conns}"
        ));
    }
    let mut stmt = c
        .prepare(
            "SELECT connection_id, dir, seq, sockscope_payload(session_id, payload, poff, plen) \
             FROM frames \
             WHERE session_id = ?1 AND opcode IN (1, 2) ORDER BY seq",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query(params![session]).map_err(|e| e.to_string())?;
    // Next expected message index per (connection, direction).
    let mut next: HashMap<(i64, i64), u64> = HashMap::new();
    let mut data_frames = 0u64;
    let mut last_seq = 0i64;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let conn: i64 = row.get(0).map_err(|e| e.to_string())?;
        let dir: i64 = row.get(1).map_err(|e| e.to_string())?;
        let seq: i64 = row.get(2).map_err(|e| e.to_string())?;
        let payload = row.get_ref(3).map_err(|e| e.to_string())?;
        let payload = payload.as_blob().map_err(|e| e.to_string())?;
        data_frames += 1;
        if seq <= last_seq {
            errors.push(format!("seq {seq} after {last_seq}"));
        }
        last_seq = seq;
        let expected = next.entry((conn, dir)).or_insert(0);
        if errors.len() < 10 {
            if let Err(e) = pattern.check(payload, *expected, size) {
                let side = if dir == 0 { "client" } else { "server" };
                errors.push(format!("connection {conn} {side} frame seq {seq}: {e}"));
            }
        }
        *expected += 1;
    }
    let per_dir: Vec<u64> = next.values().copied().collect();
    let mut pairs: HashMap<i64, [u64; 2]> = HashMap::new();
    for ((conn, dir), n) in &next {
        if let Some(slot) = pairs.entry(*conn).or_default().get_mut(*dir as usize) {
            *slot = *n;
        }
    }
    for (conn, [client, server]) in pairs {
        if client != server {
            errors.push(format!(
                "connection {conn}: {client} client frames but {server} server frames"
            ));
        }
    }
    let expected = 2 * messages;
    if data_frames != expected {
        errors.push(format!(
            "{data_frames} data frames recorded, expected {expected} (2 × {messages} round trips; \
             per connection and direction: {per_dir:?})"
        ));
    }
    Ok(Verification {
        data_frames,
        expected,
        connections,
        errors,
    })
}
