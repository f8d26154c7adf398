//! The payload decoder chosen in the detail view (schema v9): per connection, and a session's
//! default for connections without their own choice. The store keeps the decoder's name as
//! given (the UI knows the decoders: "auto", "none", "msgpack", "socketio", …); it only checks
//! that it is a short identifier. Writes go through the writer thread.

use crate::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sockscope_proto::{ConnectionId, SessionId};

/// Longest decoder name accepted.
pub const MAX_DECODER_NAME: usize = 32;

/// The decoder choices of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DecoderChoices {
    /// The session's default, for connections without their own choice.
    pub session: Option<String>,
    /// `[connection id, decoder]` pairs, by connection id.
    pub connections: Vec<(i64, String)>,
}

/// `connection_id` of the session's default row.
const SESSION_ROW: i64 = 0;

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_DECODER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "a decoder name is 1 to {MAX_DECODER_NAME} characters of a-z, 0-9, - and _"
        )))
    }
}

fn check_target(
    c: &Connection,
    session: SessionId,
    connection: Option<ConnectionId>,
) -> Result<(), StoreError> {
    let found: Option<i64> = match connection {
        None => c
            .prepare_cached("SELECT id FROM sessions WHERE id = ?1")?
            .query_row(params![session.0], |r| r.get(0))
            .optional()?,
        Some(conn) => c
            .prepare_cached("SELECT id FROM connections WHERE id = ?1 AND session_id = ?2")?
            .query_row(params![conn.0, session.0], |r| r.get(0))
            .optional()?,
    };
    match (found, connection) {
        (Some(_), _) => Ok(()),
        (None, None) => Err(StoreError::NotFound(format!("session {session}"))),
        (None, Some(conn)) => Err(StoreError::NotFound(format!(
            "connection {conn} of session {session}"
        ))),
    }
}

pub(crate) fn choices(c: &Connection, session: SessionId) -> Result<DecoderChoices, StoreError> {
    check_target(c, session, None)?;
    let mut stmt = c.prepare_cached(
        "SELECT connection_id, decoder FROM decoder_choices WHERE session_id = ?1 ORDER BY connection_id",
    )?;
    let rows = stmt.query_map(params![session.0], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = DecoderChoices::default();
    for row in rows {
        let (conn, decoder) = row?;
        if conn == SESSION_ROW {
            out.session = Some(decoder);
        } else {
            out.connections.push((conn, decoder));
        }
    }
    Ok(out)
}

impl Store {
    /// The decoder choices saved for a session (its default and each connection's).
    pub fn decoder_choices(&self, session: SessionId) -> Result<DecoderChoices, StoreError> {
        self.with_reader(|c| choices(c, session))
    }

    /// Saves (`Some`) or forgets (`None`) the decoder of a connection of `session`, or with
    /// `connection: None` the session's default.
    pub async fn set_decoder_choice(
        &self,
        session: SessionId,
        connection: Option<ConnectionId>,
        decoder: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(d) = decoder {
            check_name(d)?;
        }
        if connection.is_some_and(|c| c.0 <= 0) {
            return Err(StoreError::Invalid("a connection id is positive".into()));
        }
        let decoder = decoder.map(str::to_owned);
        let conn_key = connection.map_or(SESSION_ROW, |c| c.0);
        let now = sockscope_proto::now_us();
        let (reply, rx) = flume::bounded(1);
        let f: crate::workbench::ExecFn = Box::new(move |c| {
            check_target(c, session, connection)?;
            match &decoder {
                Some(d) => {
                    c.prepare_cached(
                        "INSERT INTO decoder_choices (session_id, connection_id, decoder, updated_at_us) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (session_id, connection_id) \
                         DO UPDATE SET decoder = excluded.decoder, updated_at_us = excluded.updated_at_us",
                    )?
                    .execute(params![session.0, conn_key, d, now])?;
                }
                None => {
                    c.prepare_cached(
                        "DELETE FROM decoder_choices WHERE session_id = ?1 AND connection_id = ?2",
                    )?
                    .execute(params![session.0, conn_key])?;
                }
            }
            Ok(())
        });
        self.send_op(crate::writer::WriteOp::Exec { f, reply })
            .await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }
}
