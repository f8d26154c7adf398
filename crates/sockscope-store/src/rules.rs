//! Intercept rules (breakpoints and rewrite rules of the capture proxy), saved in order with
//! their match counts. The store keeps each rule's specification as an opaque JSON text: the
//! proxy crate defines and validates it.

use crate::writer::WriteOp;
use crate::{Store, StoreError};
use rusqlite::{params, Connection, Transaction};
use serde::Serialize;

/// Longest rule specification (bytes of JSON).
pub const MAX_RULE_SPEC: usize = 64 * 1024;
/// Most rules saved.
pub const MAX_RULES: usize = 1000;

/// A saved rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRule {
    pub id: i64,
    /// 0-based place in the ordered list.
    pub position: i64,
    pub enabled: bool,
    /// The rule as JSON (see `sockscope_proxy::rules::Rule`).
    pub spec: String,
    /// Messages the rule matched, over all listeners and runs.
    pub match_count: i64,
}

/// A change to the rule list, applied by the writer thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RuleOp {
    /// Insert (at the end) or replace a rule's specification and state.
    Save {
        id: Option<i64>,
        spec: String,
        enabled: bool,
    },
    Delete(i64),
    /// The new order: every saved id once.
    Reorder(Vec<i64>),
    SetEnabled(i64, bool),
    /// Adds to match counts.
    AddMatches(Vec<(i64, i64)>),
}

/// Applies one operation inside a savepoint: an invalid one changes nothing and is reported
/// to its caller only. `Ok(Err(_))` is the caller's error; `Err(_)` fails the batch.
pub(crate) fn apply_isolated(
    tx: &Transaction<'_>,
    op: RuleOp,
) -> Result<Result<i64, StoreError>, StoreError> {
    tx.execute_batch("SAVEPOINT rule_op")?;
    match apply(tx, op) {
        Ok(id) => {
            tx.execute_batch("RELEASE rule_op")?;
            Ok(Ok(id))
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO rule_op; RELEASE rule_op")?;
            Ok(Err(e))
        }
    }
}

fn exists(c: &Connection, id: i64) -> Result<(), StoreError> {
    let found: bool = c
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM intercept_rules WHERE id = ?1)")?
        .query_row(params![id], |r| r.get(0))?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("rule {id}")))
    }
}

fn apply(tx: &Transaction<'_>, op: RuleOp) -> Result<i64, StoreError> {
    match op {
        RuleOp::Save {
            id: Some(id),
            spec,
            enabled,
        } => {
            exists(tx, id)?;
            tx.prepare_cached("UPDATE intercept_rules SET spec = ?2, enabled = ?3 WHERE id = ?1")?
                .execute(params![id, spec, enabled])?;
            Ok(id)
        }
        RuleOp::Save {
            id: None,
            spec,
            enabled,
        } => {
            let count: i64 =
                tx.query_row("SELECT COUNT(*) FROM intercept_rules", [], |r| r.get(0))?;
            if count >= MAX_RULES as i64 {
                return Err(StoreError::Invalid(format!("at most {MAX_RULES} rules")));
            }
            tx.prepare_cached(
                "INSERT INTO intercept_rules (position, enabled, spec, created_at_us) \
                 VALUES ((SELECT COALESCE(MAX(position) + 1, 0) FROM intercept_rules), ?1, ?2, ?3)",
            )?
            .execute(params![enabled, spec, sockscope_proto::now_us()])?;
            Ok(tx.last_insert_rowid())
        }
        RuleOp::Delete(id) => {
            exists(tx, id)?;
            tx.prepare_cached("DELETE FROM intercept_rules WHERE id = ?1")?
                .execute(params![id])?;
            renumber(tx)?;
            Ok(id)
        }
        RuleOp::Reorder(ids) => {
            let saved: Vec<i64> = {
                let mut stmt = tx.prepare_cached("SELECT id FROM intercept_rules ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut given = ids.clone();
            given.sort_unstable();
            if given != saved {
                return Err(StoreError::Invalid(
                    "a new order must list every saved rule once".into(),
                ));
            }
            let mut stmt =
                tx.prepare_cached("UPDATE intercept_rules SET position = ?2 WHERE id = ?1")?;
            for (pos, id) in ids.iter().enumerate() {
                stmt.execute(params![id, pos as i64])?;
            }
            Ok(0)
        }
        RuleOp::SetEnabled(id, enabled) => {
            exists(tx, id)?;
            tx.prepare_cached("UPDATE intercept_rules SET enabled = ?2 WHERE id = ?1")?
                .execute(params![id, enabled])?;
            Ok(id)
        }
        RuleOp::AddMatches(counts) => {
            // Rules deleted meanwhile are skipped.
            let mut stmt = tx.prepare_cached(
                "UPDATE intercept_rules SET match_count = match_count + ?2 WHERE id = ?1",
            )?;
            for (id, n) in counts {
                stmt.execute(params![id, n])?;
            }
            Ok(0)
        }
    }
}

fn renumber(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached("SELECT id FROM intercept_rules ORDER BY position, id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut stmt = tx.prepare_cached("UPDATE intercept_rules SET position = ?2 WHERE id = ?1")?;
    for (pos, id) in ids.iter().enumerate() {
        stmt.execute(params![id, pos as i64])?;
    }
    Ok(())
}

pub(crate) fn list(c: &Connection) -> Result<Vec<StoredRule>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, position, enabled, spec, match_count FROM intercept_rules ORDER BY position, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(StoredRule {
            id: r.get(0)?,
            position: r.get(1)?,
            enabled: r.get(2)?,
            spec: r.get(3)?,
            match_count: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Store {
    async fn rule_op(&self, op: RuleOp) -> Result<i64, StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.send_async(WriteOp::Rules { op, reply }).await?;
        rx.recv_async().await.map_err(|_| StoreError::WriterGone)?
    }

    /// Saved intercept rules in order.
    pub fn rules(&self) -> Result<Vec<StoredRule>, StoreError> {
        self.with_reader(list)
    }

    /// Saves a rule: `None` appends a new one, `Some(id)` replaces that rule's specification
    /// and state (its place and count stay). Returns the id.
    pub async fn save_rule(
        &self,
        id: Option<i64>,
        spec: &str,
        enabled: bool,
    ) -> Result<i64, StoreError> {
        if spec.len() > MAX_RULE_SPEC {
            return Err(StoreError::Invalid(format!(
                "a rule is at most {MAX_RULE_SPEC} bytes"
            )));
        }
        self.rule_op(RuleOp::Save {
            id,
            spec: spec.to_owned(),
            enabled,
        })
        .await
    }

    pub async fn delete_rule(&self, id: i64) -> Result<(), StoreError> {
        self.rule_op(RuleOp::Delete(id)).await.map(|_| ())
    }

    /// Puts the rules in this order (every saved id exactly once).
    pub async fn reorder_rules(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.rule_op(RuleOp::Reorder(ids.to_vec()))
            .await
            .map(|_| ())
    }

    pub async fn set_rule_enabled(&self, id: i64, enabled: bool) -> Result<(), StoreError> {
        self.rule_op(RuleOp::SetEnabled(id, enabled))
            .await
            .map(|_| ())
    }

    /// Adds `(rule id, matches)` to the saved counts (ids no longer saved are ignored).
    pub async fn add_rule_matches(&self, counts: Vec<(i64, i64)>) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        self.rule_op(RuleOp::AddMatches(counts)).await.map(|_| ())
    }
}
