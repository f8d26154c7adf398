//! The connection workbench's tables (schema v5): the history of messages sent by hand, per
//! connection target, and saved message templates. Writes go through the writer thread.

use crate::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sockscope_proto::ConnectionId;

/// A workbench write; `Fn` because a batch that failed (disk full) is applied again.
pub(crate) type ExecFn = Box<dyn Fn(&Connection) -> Result<(), StoreError> + Send>;

/// Entries kept per target; older ones are removed when a new one is added.
pub const HISTORY_KEEP: i64 = 1000;
/// Largest history body stored (bytes).
pub const HISTORY_MAX_BODY: usize = 1 << 20;
/// Largest template body (bytes).
pub const TEMPLATE_MAX_BODY: usize = 16 << 20;

/// One message sent by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub ts_us: i64,
    pub mode: String,
    pub body: String,
}

/// A saved message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateRow {
    pub name: String,
    pub mode: String,
    pub body: String,
    pub updated_at_us: i64,
}

/// The history key of a URL: `scheme://host[:port]/path`, scheme and host lower-case, no
/// query, fragment or user info. Text that is not a URL is used as it is (trimmed).
pub fn history_target(url: &str) -> String {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!(
        "{}://{}{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase(),
        path
    )
}

impl Store {
    async fn exec(&self, f: ExecFn) -> Result<(), StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_op(crate::writer::WriteOp::Exec { f, reply })
            .await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    /// Adds a sent message to the target's history (not when it repeats the newest entry).
    pub async fn history_append(
        &self,
        target: &str,
        mode: &str,
        body: &str,
        ts_us: i64,
    ) -> Result<(), StoreError> {
        if body.len() > HISTORY_MAX_BODY {
            return Err(StoreError::Invalid(format!(
                "history entries are limited to {HISTORY_MAX_BODY} bytes"
            )));
        }
        let target = history_target(target);
        let mode = mode.to_owned();
        let body = body.to_owned();
        self.exec(Box::new(move |c| {
            let last: Option<(String, String)> = c
                .prepare_cached(
                    "SELECT mode, body FROM sent_history WHERE target = ?1 ORDER BY id DESC LIMIT 1",
                )?
                .query_row(params![target], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if last.is_some_and(|(m, b)| m == mode && b == body) {
                return Ok(());
            }
            c.prepare_cached(
                "INSERT INTO sent_history (target, ts_us, mode, body) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![target, ts_us, mode, body])?;
            c.prepare_cached(
                "DELETE FROM sent_history WHERE target = ?1 AND id <= \
                 (SELECT id FROM sent_history WHERE target = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![target, HISTORY_KEEP])?;
            Ok(())
        }))
        .await
    }

    /// The target's history, newest first.
    pub fn history(&self, target: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let target = history_target(target);
        let limit = i64::try_from(limit.min(HISTORY_KEEP as usize)).unwrap_or(HISTORY_KEEP);
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, ts_us, mode, body FROM sent_history WHERE target = ?1 \
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![target, limit], |r| {
                Ok(HistoryEntry {
                    id: r.get(0)?,
                    ts_us: r.get(1)?,
                    mode: r.get(2)?,
                    body: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Creates or replaces a template; `previous` renames one.
    pub async fn template_upsert(
        &self,
        row: TemplateRow,
        previous: Option<String>,
    ) -> Result<(), StoreError> {
        if row.body.len() > TEMPLATE_MAX_BODY {
            return Err(StoreError::Invalid(format!(
                "templates are limited to {TEMPLATE_MAX_BODY} bytes"
            )));
        }
        self.exec(Box::new(move |c| {
            if let Some(prev) = previous.as_deref().filter(|p| *p != row.name) {
                c.prepare_cached("DELETE FROM templates WHERE name = ?1")?
                    .execute(params![prev])?;
            }
            c.prepare_cached(
                "INSERT INTO templates (name, mode, body, updated_at_us) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(name) DO UPDATE SET mode = excluded.mode, body = excluded.body, \
                 updated_at_us = excluded.updated_at_us",
            )?
            .execute(params![row.name, row.mode, row.body, row.updated_at_us])?;
            Ok(())
        }))
        .await
    }

    pub async fn template_delete(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.exec(Box::new(move |c| {
            c.prepare_cached("DELETE FROM templates WHERE name = ?1")?
                .execute(params![name])?;
            Ok(())
        }))
        .await
    }

    /// Every template, by name.
    pub fn templates(&self) -> Result<Vec<TemplateRow>, StoreError> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, mode, body, updated_at_us FROM templates ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(TemplateRow {
                    name: r.get(0)?,
                    mode: r.get(1)?,
                    body: r.get(2)?,
                    updated_at_us: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The handshake details recorded for a workbench connection (JSON text), if any.
    pub fn connection_handshake(&self, id: ConnectionId) -> Result<Option<String>, StoreError> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT handshake FROM connections WHERE id = ?1")?
                .query_row(params![id.0], |r| r.get::<_, Option<String>>(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("connection {id}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::history_target;

    #[test]
    fn targets_drop_query_and_case() {
        assert_eq!(
            history_target("WS://Example.COM:8080/a/B?x=1#f"),
            "ws://example.com:8080/a/B"
        );
        assert_eq!(history_target("wss://u:p@h"), "wss://h/");
        assert_eq!(history_target(" not a url "), "not a url");
    }
}
