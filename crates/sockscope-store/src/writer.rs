//! The single writer thread: batches operations into transactions, assigns frame `seq`s,
//! and broadcasts what it committed.

use crate::model::*;
use crate::read;
use crate::{StoreError, StoreEvent};
use rusqlite::{params, Connection, Transaction};
use sockscope_proto::{ConnectionId, FrameRecord, SessionId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// At most this many operations go into one transaction.
pub const BATCH_MAX: usize = 512;
/// A batch is committed at the latest this long after its first operation arrived.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);

type Reply<T> = flume::Sender<Result<T, StoreError>>;

pub(crate) enum WriteOp {
    Frame(FrameRecord),
    CreateSession {
        name: String,
        kind: SessionKind,
        reply: Reply<SessionId>,
    },
    /// A session made from another one (a replay or a mock of it).
    CreateSessionWithOrigin {
        name: String,
        kind: SessionKind,
        origin_session: SessionId,
        origin_connection: Option<ConnectionId>,
        reply: Reply<SessionId>,
    },
    CreateConnection {
        conn: NewConnection,
        reply: Reply<ConnectionId>,
    },
    Connection(ConnectionEvent),
    Flush(Reply<()>),
    /// A whole parsed import, applied in one savepoint (all or nothing).
    Import {
        import: Box<crate::import::ParsedImport>,
        reply: Reply<SessionId>,
    },
    /// Rename, notes, tags, pin, delete.
    Edit {
        edit: crate::organize::SessionEdit,
        reply: Reply<()>,
    },
    /// `VACUUM` after the batch commits (outside any transaction).
    Vacuum(Reply<()>),
    Shutdown,
}

impl WriteOp {
    /// Someone is waiting for this one: commit without waiting for the batch window.
    fn is_urgent(&self) -> bool {
        !matches!(self, WriteOp::Frame(_) | WriteOp::Connection(_))
    }
}

/// Answers one waiter once the batch's fate is known.
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// What one batch produced, to broadcast after commit and to answer waiters.
#[derive(Default)]
struct Outcome {
    frames: HashMap<SessionId, Vec<FrameSummary>>,
    sessions: Vec<SessionId>,
    connections: Vec<ConnectionId>,
    replies: Vec<Answer>,
    vacuums: Vec<Reply<()>>,
}

pub(crate) fn run(
    mut conn: Connection,
    rx: flume::Receiver<WriteOp>,
    events: broadcast::Sender<StoreEvent>,
) {
    let mut seqs: HashMap<SessionId, i64> = HashMap::new();
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { break };
        let deadline = Instant::now() + BATCH_WINDOW;
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX && !batch.last().is_some_and(WriteOp::is_urgent) {
            match rx.recv_deadline(deadline) {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if batch.iter().any(|op| matches!(op, WriteOp::Shutdown)) {
            // Commit everything still queued, then stop.
            batch.extend(rx.drain());
            stopping = true;
        }
        let mut outcome = Outcome::default();
        let result = conn.transaction().map_err(StoreError::from).and_then(|tx| {
            apply_batch(&tx, batch, &mut seqs, &mut outcome).and_then(|()| Ok(tx.commit()?))
        });
        match &result {
            Ok(()) => {
                // Broadcast first: whoever waited (flush) then sees the events already sent.
                let replies = std::mem::take(&mut outcome.replies);
                let vacuums = std::mem::take(&mut outcome.vacuums);
                broadcast_outcome(&conn, &events, outcome);
                for reply in replies {
                    reply(Ok(()));
                }
                for reply in vacuums {
                    let _ = reply.send(crate::organize::vacuum(&conn));
                }
            }
            Err(e) => {
                // Sequence numbers handed out in the failed batch were not committed.
                seqs.clear();
                for reply in outcome.replies.drain(..) {
                    reply(Err(e));
                }
                for reply in outcome.vacuums.drain(..) {
                    let _ = reply.send(Err(StoreError::Pragma(e.to_string())));
                }
                let _ = events.send(StoreEvent::WriteError(e.to_string()));
            }
        }
    }
}

fn apply_batch(
    tx: &Transaction<'_>,
    batch: Vec<WriteOp>,
    seqs: &mut HashMap<SessionId, i64>,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    // Per session: frames added, and the sum of their lengths.
    let mut counts: HashMap<SessionId, (i64, i64)> = HashMap::new();
    for op in batch {
        match op {
            WriteOp::Frame(f) => {
                if let Some(summary) = insert_frame(tx, &f, seqs)? {
                    let c = counts.entry(f.session).or_default();
                    c.0 += 1;
                    c.1 =
                        c.1.saturating_add(i64::try_from(f.len_wire).unwrap_or(i64::MAX));
                    out.frames.entry(f.session).or_default().push(summary);
                }
            }
            WriteOp::CreateSession { name, kind, reply } => {
                tx.prepare_cached(
                    "INSERT INTO sessions (name, kind, created_at_us) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    name,
                    kind.as_str(),
                    sockscope_proto::now_us()
                ])?;
                let id = SessionId(tx.last_insert_rowid());
                seqs.insert(id, 0);
                out.sessions.push(id);
                push_reply(out, reply, id);
            }
            WriteOp::CreateSessionWithOrigin {
                name,
                kind,
                origin_session,
                origin_connection,
                reply,
            } => {
                tx.prepare_cached(
                    "INSERT INTO sessions (name, kind, created_at_us, origin_session_id, origin_connection_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    name,
                    kind.as_str(),
                    sockscope_proto::now_us(),
                    origin_session.0,
                    origin_connection.map(|c| c.0)
                ])?;
                let id = SessionId(tx.last_insert_rowid());
                seqs.insert(id, 0);
                out.sessions.push(id);
                push_reply(out, reply, id);
            }
            WriteOp::CreateConnection { conn, reply } => {
                // The session may have been deleted meanwhile: refuse this one, not the batch.
                if let Err(e) = crate::organize::session_exists(tx, conn.session) {
                    let _ = reply.send(Err(e));
                    continue;
                }
                let headers = headers_json(&conn.request_headers)?;
                tx.prepare_cached(
                    "INSERT INTO connections (session_id, url, state, request_headers, created_at_us, insecure) \
                     VALUES (?1, ?2, 'connecting', ?3, ?4, ?5)",
                )?
                .execute(params![conn.session.0, conn.url, headers, conn.created_at_us, conn.insecure])?;
                let id = ConnectionId(tx.last_insert_rowid());
                if conn.insecure {
                    // An unverified upstream marks the whole session.
                    tx.prepare_cached("UPDATE sessions SET insecure = 1 WHERE id = ?1")?
                        .execute(params![conn.session.0])?;
                }
                out.connections.push(id);
                push_reply(out, reply, id);
            }
            WriteOp::Connection(event) => {
                update_connection(tx, &event)?;
                out.connections.push(event.id());
            }
            WriteOp::Flush(reply) => push_reply(out, reply, ()),
            WriteOp::Import { import, reply } => {
                match crate::import::apply_isolated(tx, *import)? {
                    Ok((id, last_seq)) => {
                        seqs.insert(id, last_seq);
                        out.sessions.push(id);
                        push_reply(out, reply, id);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            WriteOp::Edit { edit, reply } => {
                match crate::organize::apply_isolated(tx, &edit, seqs)? {
                    Ok(()) => {
                        out.sessions.push(edit.session());
                        push_reply(out, reply, ());
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            WriteOp::Vacuum(reply) => out.vacuums.push(reply),
            WriteOp::Shutdown => {}
        }
    }
    let mut stmt = tx.prepare_cached(
        "UPDATE sessions SET frame_count = frame_count + ?2, bytes = bytes + ?3 WHERE id = ?1",
    )?;
    for (session, (n, bytes)) in counts {
        stmt.execute(params![session.0, n, bytes])?;
    }
    Ok(())
}

fn push_reply<T: Clone + Send + 'static>(out: &mut Outcome, reply: Reply<T>, value: T) {
    out.replies
        .push(Box::new(move |r: Result<(), &StoreError>| {
            let msg = match r {
                Ok(()) => Ok(value),
                // Errors are not Clone: each waiter gets the same text.
                Err(e) => Err(StoreError::Pragma(e.to_string())),
            };
            let _ = reply.send(msg);
        }));
}

fn headers_json(h: &Headers) -> Result<String, StoreError> {
    serde_json::to_string(h).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

fn next_seq(
    tx: &Transaction<'_>,
    seqs: &mut HashMap<SessionId, i64>,
    session: SessionId,
) -> Result<Option<i64>, StoreError> {
    if let Some(s) = seqs.get_mut(&session) {
        *s += 1;
        return Ok(Some(*s));
    }
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM sessions WHERE id = ?1)")?
        .query_row(params![session.0], |r| r.get(0))?;
    if !exists {
        return Ok(None);
    }
    let max: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM frames WHERE session_id = ?1")?
        .query_row(params![session.0], |r| r.get(0))?;
    seqs.insert(session, max + 1);
    Ok(Some(max + 1))
}

fn insert_frame(
    tx: &Transaction<'_>,
    f: &FrameRecord,
    seqs: &mut HashMap<SessionId, i64>,
) -> Result<Option<FrameSummary>, StoreError> {
    // A frame for a session that no longer exists (deleted meanwhile) is dropped.
    let Some(seq) = next_seq(tx, seqs, f.session)? else {
        return Ok(None);
    };
    let flags = FrameBits {
        fin: f.fin,
        rsv1: f.rsv1,
        rsv2: f.rsv2,
        rsv3: f.rsv3,
        injected: f.injected,
        masked: f.masked,
        truncated: f.truncated,
        invalid: f.issues.is_some(),
    }
    .pack();
    let len = i64::try_from(f.len_wire).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, payload, note, inflated, mask_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        f.session.0,
        seq,
        f.connection.0,
        f.ts_us,
        dir_to_i64(f.dir),
        i64::from(f.opcode.to_u8()),
        flags,
        len,
        &f.payload[..],
        f.issues,
        f.inflated.as_deref(),
        f.mask_key.map(|k| i64::from(u32::from_be_bytes(k))),
    ])?;
    crate::search::index_frame(
        tx,
        tx.last_insert_rowid(),
        f.opcode,
        f.rsv1,
        &f.payload,
        f.inflated.as_deref(),
    )?;
    Ok(Some(summarize(
        FrameHead {
            seq,
            connection: f.connection,
            ts_us: f.ts_us,
            dir: f.dir,
            opcode: f.opcode,
            flags,
            len: f.len_wire,
            note: f.issues.clone(),
            inflated_len: f.inflated.as_ref().map(|b| b.len() as u64),
        },
        f.inflated.as_deref().unwrap_or(&f.payload),
    )))
}

fn update_connection(tx: &Transaction<'_>, event: &ConnectionEvent) -> Result<(), StoreError> {
    match event {
        ConnectionEvent::Opened {
            id,
            at_us,
            request_headers,
            response_status,
            response_headers,
            subprotocol,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET state = 'open', opened_at_us = ?2, request_headers = ?3, \
                 response_status = ?4, response_headers = ?5, subprotocol = ?6 WHERE id = ?1",
            )?
            .execute(params![
                id.0,
                at_us,
                headers_json(request_headers)?,
                response_status,
                headers_json(response_headers)?,
                subprotocol
            ])?;
        }
        ConnectionEvent::Closed {
            id,
            at_us,
            code,
            reason,
            by,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET state = 'closed', closed_at_us = ?2, close_code = ?3, \
                 close_reason = ?4, closed_by = ?5 WHERE id = ?1",
            )?
            .execute(params![id.0, at_us, code, reason, by.as_str()])?;
        }
        ConnectionEvent::Failed {
            id,
            at_us,
            error,
            response_status,
            response_headers,
        } => {
            tx.prepare_cached(
                "UPDATE connections SET state = 'failed', closed_at_us = ?2, error = ?3, \
                 closed_by = 'error', response_status = COALESCE(?4, response_status), \
                 response_headers = CASE WHEN ?5 = '[]' THEN response_headers ELSE ?5 END \
                 WHERE id = ?1",
            )?
            .execute(params![
                id.0,
                at_us,
                error,
                response_status,
                headers_json(response_headers)?
            ])?;
        }
    }
    Ok(())
}

fn broadcast_outcome(conn: &Connection, events: &broadcast::Sender<StoreEvent>, out: Outcome) {
    if events.receiver_count() == 0 {
        return;
    }
    for id in out.sessions {
        let _ = events.send(StoreEvent::Session(id));
    }
    let mut seen = Vec::new();
    for id in out.connections {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Ok(info) = read::connection(conn, id) {
            let _ = events.send(StoreEvent::Connection(Arc::new(info)));
        }
    }
    for (session, frames) in out.frames {
        let _ = events.send(StoreEvent::Frames(Arc::new(frames), session));
    }
}
