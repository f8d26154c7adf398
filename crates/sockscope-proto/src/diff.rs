//! Whole messages of a connection, and the diff of two connections' data messages (e.g. an
//! original and its replay). Pure logic, no I/O.
//!
//! * Messages are aligned **per direction** by order: a Myers diff (crate `similar`) over a
//!   comparison key matches identical messages, so an inserted or missing message does not
//!   shift everything after it. Inside each run of unmatched messages, a small
//!   similarity-weighted alignment decides which pairs are the same message *changed* and which
//!   are *missing* (left only) or *extra* (right only).
//! * Text messages that parse as JSON are compared structurally: key order does not matter,
//!   ignored keys/paths are left out, and a changed message lists its changed paths
//!   (`$.data[3].price`).

use crate::{Direction, Opcode};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// One whole message of a connection, as replay, mock and diff use it: data messages
/// reassembled from their fragments (the inflated message when it was compressed), control
/// frames (ping, pong, close) as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub dir: Direction,
    /// `seq` of the frame that completed the message.
    pub seq: i64,
    /// Time of the frame that completed the message (µs since the Unix epoch).
    pub ts_us: i64,
    /// `Text`, `Binary`, or a control opcode.
    pub opcode: Opcode,
    pub payload: Bytes,
    /// Only part of the message is known: a frame was recorded cut, a compressed message could
    /// not be inflated, or the message never finished.
    pub truncated: bool,
}

impl Message {
    /// A text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self.opcode, Opcode::Text | Opcode::Binary)
    }
}

/// How to compare messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffOptions {
    /// Left out of JSON comparisons: a key name (`ts`: that key at any depth) or a path from
    /// the root (`$.meta.time`, `$.items[*].id`, `$["odd key"]`). Ignored array elements
    /// compare as `null` so later indices do not shift.
    pub ignore: Vec<String>,
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffStatus {
    /// Same on both sides (after leaving ignored keys out).
    Identical,
    /// The same message in both, with different content.
    Changed,
    /// Only on the left.
    Missing,
    /// Only on the right.
    Extra,
}

/// How a JSON path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Present on both sides with different values.
    Changed,
    /// Only on the right.
    Added,
    /// Only on the left.
    Removed,
}

/// One changed path of a JSON message. Values are compact JSON, cut at
/// [`VALUE_PREVIEW_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathChange {
    pub path: String,
    pub kind: ChangeKind,
    pub left: Option<String>,
    pub right: Option<String>,
}

/// One row of the side-by-side view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffEntry {
    pub dir: Direction,
    pub status: DiffStatus,
    /// Index into the left slice given to [`diff_messages`].
    pub left: Option<usize>,
    /// Index into the right slice.
    pub right: Option<usize>,
    pub left_seq: Option<i64>,
    pub right_seq: Option<i64>,
    /// Both sides are JSON and were compared structurally.
    pub json: bool,
    /// For a changed JSON message: the paths that differ (at most [`MAX_CHANGES`]).
    pub changes: Vec<PathChange>,
}

/// Counts of entries by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSummary {
    pub identical: usize,
    pub changed: usize,
    pub missing: usize,
    pub extra: usize,
    /// Data messages compared on each side.
    pub left_messages: usize,
    pub right_messages: usize,
}

impl DiffSummary {
    /// Nothing changed, missing or extra.
    pub fn is_same(&self) -> bool {
        self.changed == 0 && self.missing == 0 && self.extra == 0
    }
}

/// The result of [`diff_messages`]: rows in the left side's order (right-only rows after the
/// row they follow), and the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub entries: Vec<DiffEntry>,
    pub summary: DiffSummary,
}

/// A changed message lists at most this many paths.
pub const MAX_CHANGES: usize = 200;
/// Values in a [`PathChange`] are cut at this many characters.
pub const VALUE_PREVIEW_CHARS: usize = 200;
/// Runs of unmatched messages up to this many left × right pairs are aligned by similarity;
/// longer runs pair by position.
const MAX_PAIRING_CELLS: usize = 10_000;
/// Two unmatched messages are paired as "changed" when their similarity exceeds this.
const PAIR_THRESHOLD: f64 = 0.3;
/// Bound on the time the order alignment may take per direction (then it is approximate).
const ALIGN_DEADLINE: Duration = Duration::from_secs(2);

/// Why an ignore entry is not a valid path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ignore path {path:?}: {reason}")]
pub struct IgnoreError {
    pub path: String,
    pub reason: String,
}

/// Checks every ignore entry; [`diff_messages`] treats an invalid path as matching nothing.
pub fn check_ignore(opts: &DiffOptions) -> Result<(), IgnoreError> {
    for p in &opts.ignore {
        Ignore::parse(p)?;
    }
    Ok(())
}

/// Compares the data messages (text and binary) of two connections, direction by direction.
/// Control frames in the slices are skipped; indices in the result refer to the slices given.
pub fn diff_messages(left: &[Message], right: &[Message], opts: &DiffOptions) -> Diff {
    let ignores: Vec<Ignore> = opts
        .ignore
        .iter()
        .filter_map(|p| Ignore::parse(p).ok())
        .collect();
    let mut rows: Vec<(RowKey, DiffEntry)> = Vec::new();
    let mut summary = DiffSummary::default();
    for (dir_rank, dir) in [Direction::Client, Direction::Server]
        .into_iter()
        .enumerate()
    {
        let l: Vec<Prepared<'_>> = prepare(left, dir, &ignores);
        let r: Vec<Prepared<'_>> = prepare(right, dir, &ignores);
        summary.left_messages += l.len();
        summary.right_messages += r.len();
        let pairs = align(&l, &r);
        let mut last_left: Option<usize> = None;
        for (n, (li, ri)) in pairs.into_iter().enumerate() {
            let lp = li.map(|i| &l[i]);
            let rp = ri.map(|i| &r[i]);
            let entry = entry_for(dir, lp, rp);
            match entry.status {
                DiffStatus::Identical => summary.identical += 1,
                DiffStatus::Changed => summary.changed += 1,
                DiffStatus::Missing => summary.missing += 1,
                DiffStatus::Extra => summary.extra += 1,
            }
            // Order rows by the left side; a right-only row goes right after the row of the
            // left message it follows.
            let primary = match lp {
                Some(p) => {
                    last_left = Some(p.index);
                    2 * p.index + 1
                }
                None => last_left.map_or(0, |i| 2 * i + 2),
            };
            rows.push((
                RowKey {
                    primary,
                    dir: dir_rank,
                    n,
                },
                entry,
            ));
        }
    }
    rows.sort_by_key(|(k, _)| (k.primary, k.dir, k.n));
    Diff {
        entries: rows.into_iter().map(|(_, e)| e).collect(),
        summary,
    }
}

struct RowKey {
    primary: usize,
    dir: usize,
    n: usize,
}

/// A data message ready for comparison.
struct Prepared<'a> {
    index: usize,
    msg: &'a Message,
    /// The JSON value with ignored parts left out, when the message is JSON text.
    json: Option<Value>,
    key: Key<'a>,
}

/// What makes two messages identical.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    /// Canonical JSON (sorted keys) of the value with ignored parts left out.
    Json(String),
    Raw(u8, &'a [u8]),
}

fn prepare<'a>(msgs: &'a [Message], dir: Direction, ignores: &[Ignore]) -> Vec<Prepared<'a>> {
    msgs.iter()
        .enumerate()
        .filter(|(_, m)| m.dir == dir && m.is_data())
        .map(|(index, msg)| {
            let json = parse_json(msg).map(|mut v| {
                strip_ignored(&mut v, &mut Vec::new(), ignores);
                v
            });
            let key = match &json {
                Some(v) => {
                    let mut s = String::new();
                    canonical(v, &mut s);
                    Key::Json(s)
                }
                None => Key::Raw(msg.opcode.to_u8(), &msg.payload),
            };
            Prepared {
                index,
                msg,
                json,
                key,
            }
        })
        .collect()
}

fn parse_json(m: &Message) -> Option<Value> {
    if m.opcode != Opcode::Text {
        return None;
    }
    let text = std::str::from_utf8(&m.payload).ok()?;
    serde_json::from_str(text).ok()
}

/// Pairs of (left, right) positions in order: both for identical or changed messages, one
/// side for missing or extra ones.
fn align(l: &[Prepared<'_>], r: &[Prepared<'_>]) -> Vec<(Option<usize>, Option<usize>)> {
    let lk: Vec<&Key<'_>> = l.iter().map(|p| &p.key).collect();
    let rk: Vec<&Key<'_>> = r.iter().map(|p| &p.key).collect();
    let deadline = Instant::now() + ALIGN_DEADLINE;
    let ops =
        similar::capture_diff_slices_deadline(similar::Algorithm::Myers, &lk, &rk, Some(deadline));
    let mut out = Vec::with_capacity(l.len().max(r.len()));
    for op in ops {
        match op {
            similar::DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for k in 0..len {
                    out.push((Some(old_index + k), Some(new_index + k)));
                }
            }
            similar::DiffOp::Delete {
                old_index, old_len, ..
            } => out.extend((old_index..old_index + old_len).map(|i| (Some(i), None))),
            similar::DiffOp::Insert {
                new_index, new_len, ..
            } => out.extend((new_index..new_index + new_len).map(|j| (None, Some(j)))),
            similar::DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => out.extend(pair_block(
                &l[old_index..old_index + old_len],
                &r[new_index..new_index + new_len],
                old_index,
                new_index,
            )),
        }
    }
    out
}

/// Aligns a run of unmatched messages: pairs similar ones (changed), leaves the rest alone
/// (missing / extra). Needleman–Wunsch with a gain of `similarity - threshold` per pair.
fn pair_block(
    l: &[Prepared<'_>],
    r: &[Prepared<'_>],
    l0: usize,
    r0: usize,
) -> Vec<(Option<usize>, Option<usize>)> {
    let (n, m) = (l.len(), r.len());
    if n.saturating_mul(m) > MAX_PAIRING_CELLS {
        // Too long to weigh every pair: by position.
        let mut out: Vec<_> = (0..n.min(m))
            .map(|k| (Some(l0 + k), Some(r0 + k)))
            .collect();
        out.extend((m..n).map(|i| (Some(l0 + i), None)));
        out.extend((n..m).map(|j| (None, Some(r0 + j))));
        return out;
    }
    let ll: Vec<Option<Leaves>> = l.iter().map(|p| p.json.as_ref().map(leaves)).collect();
    let rl: Vec<Option<Leaves>> = r.iter().map(|p| p.json.as_ref().map(leaves)).collect();
    let w = m + 1;
    let mut score = vec![0.0f64; (n + 1) * w];
    // 0 = diagonal (pair), 1 = up (left only), 2 = left (right only)
    let mut from = vec![0u8; (n + 1) * w];
    for i in 1..=n {
        from[i * w] = 1;
    }
    from[1..=m].fill(2);
    for i in 1..=n {
        for j in 1..=m {
            let sim = similarity(&l[i - 1], &r[j - 1], ll[i - 1].as_ref(), rl[j - 1].as_ref());
            let up = score[(i - 1) * w + j];
            let left = score[i * w + j - 1];
            let mut best = up;
            let mut dir = 1;
            if left > best {
                best = left;
                dir = 2;
            }
            if sim > PAIR_THRESHOLD {
                let diag = score[(i - 1) * w + j - 1] + (sim - PAIR_THRESHOLD);
                if diag > best {
                    best = diag;
                    dir = 0;
                }
            }
            score[i * w + j] = best;
            from[i * w + j] = dir;
        }
    }
    let mut out = Vec::with_capacity(n + m);
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        match from[i * w + j] {
            0 if i > 0 && j > 0 => {
                out.push((Some(l0 + i - 1), Some(r0 + j - 1)));
                i -= 1;
                j -= 1;
            }
            1 if i > 0 => {
                out.push((Some(l0 + i - 1), None));
                i -= 1;
            }
            _ if j > 0 => {
                out.push((None, Some(r0 + j - 1)));
                j -= 1;
            }
            _ => {
                out.push((Some(l0 + i - 1), None));
                i -= 1;
            }
        }
    }
    out.reverse();
    out
}

/// Leaf paths of a JSON value with the canonical text of each leaf.
type Leaves = HashMap<String, String>;

fn leaves(v: &Value) -> Leaves {
    fn walk(v: &Value, path: &mut String, out: &mut Leaves) {
        let len = path.len();
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, child) in map {
                    push_key(path, k);
                    walk(child, path, out);
                    path.truncate(len);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, child) in items.iter().enumerate() {
                    let _ = write!(path, "[{i}]");
                    walk(child, path, out);
                    path.truncate(len);
                }
            }
            leaf => {
                let mut s = String::new();
                canonical(leaf, &mut s);
                out.insert(path.clone(), s);
            }
        }
    }
    let mut out = Leaves::new();
    walk(v, &mut "$".to_owned(), &mut out);
    out
}

/// How alike two unmatched messages are, 0..=1.
fn similarity(a: &Prepared<'_>, b: &Prepared<'_>, la: Option<&Leaves>, lb: Option<&Leaves>) -> f64 {
    if a.msg.opcode != b.msg.opcode {
        return 0.0;
    }
    match (la, lb) {
        (Some(la), Some(lb)) => {
            let total = la.len() + lb.len();
            if total == 0 {
                return 1.0;
            }
            // A path on both sides counts fully when its value is the same, half otherwise.
            let credit: f64 = la
                .iter()
                .map(|(path, v)| match lb.get(path) {
                    Some(w) if w == v => 1.0,
                    Some(_) => 0.5,
                    None => 0.0,
                })
                .sum();
            2.0 * credit / total as f64
        }
        (None, None) => {
            // Common start and end of the bytes (cheap, and enough for "one field changed").
            let (x, y) = (&a.msg.payload[..], &b.msg.payload[..]);
            let total = x.len() + y.len();
            if total == 0 {
                return 1.0;
            }
            let prefix = x.iter().zip(y).take_while(|(p, q)| p == q).count();
            let suffix = x[prefix..]
                .iter()
                .rev()
                .zip(y[prefix..].iter().rev())
                .take_while(|(p, q)| p == q)
                .count();
            2.0 * (prefix + suffix) as f64 / total as f64
        }
        _ => 0.0,
    }
}

fn entry_for(dir: Direction, l: Option<&Prepared<'_>>, r: Option<&Prepared<'_>>) -> DiffEntry {
    let mut entry = DiffEntry {
        dir,
        status: DiffStatus::Identical,
        left: l.map(|p| p.index),
        right: r.map(|p| p.index),
        left_seq: l.map(|p| p.msg.seq),
        right_seq: r.map(|p| p.msg.seq),
        json: false,
        changes: Vec::new(),
    };
    match (l, r) {
        (Some(a), Some(b)) => {
            entry.json = a.json.is_some() && b.json.is_some();
            if a.key != b.key {
                entry.status = DiffStatus::Changed;
                if let (Some(x), Some(y)) = (&a.json, &b.json) {
                    compare(x, y, &mut "$".to_owned(), &mut entry.changes);
                }
            }
        }
        (Some(a), None) => {
            entry.status = DiffStatus::Missing;
            entry.json = a.json.is_some();
        }
        (None, Some(b)) => {
            entry.status = DiffStatus::Extra;
            entry.json = b.json.is_some();
        }
        (None, None) => {}
    }
    entry
}

/// Collects the paths where `a` and `b` differ.
fn compare(a: &Value, b: &Value, path: &mut String, out: &mut Vec<PathChange>) {
    if out.len() >= MAX_CHANGES {
        return;
    }
    let len = path.len();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                push_key(path, k);
                match y.get(k) {
                    Some(vb) => compare(va, vb, path, out),
                    None => change(out, path, ChangeKind::Removed, Some(va), None),
                }
                path.truncate(len);
            }
            for (k, vb) in y {
                if !x.contains_key(k) {
                    push_key(path, k);
                    change(out, path, ChangeKind::Added, None, Some(vb));
                    path.truncate(len);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let _ = write!(path, "[{i}]");
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => compare(va, vb, path, out),
                    (Some(va), None) => change(out, path, ChangeKind::Removed, Some(va), None),
                    (None, Some(vb)) => change(out, path, ChangeKind::Added, None, Some(vb)),
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        _ => {
            if !json_eq(a, b) {
                change(out, path, ChangeKind::Changed, Some(a), Some(b));
            }
        }
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    let (mut x, mut y) = (String::new(), String::new());
    canonical(a, &mut x);
    canonical(b, &mut y);
    x == y
}

fn change(
    out: &mut Vec<PathChange>,
    path: &str,
    kind: ChangeKind,
    left: Option<&Value>,
    right: Option<&Value>,
) {
    if out.len() < MAX_CHANGES {
        out.push(PathChange {
            path: path.to_owned(),
            kind,
            left: left.map(value_preview),
            right: right.map(value_preview),
        });
    }
}

fn value_preview(v: &Value) -> String {
    let mut s = String::new();
    canonical(v, &mut s);
    if s.chars().count() > VALUE_PREVIEW_CHARS {
        let mut cut: String = s.chars().take(VALUE_PREVIEW_CHARS).collect();
        cut.push('…');
        cut
    } else {
        s
    }
}

/// Compact JSON with object keys sorted, so key order does not make messages differ.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, k) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(k) {
                    canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, child) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                canonical(child, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Appends `.key` (or `["key"]` when the key is not a plain identifier) to a path.
fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
}

// ---- ignore list ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
    /// `[*]` or `.*`: any index or key.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ignore {
    /// A key name, at any depth.
    Key(String),
    /// A path from the root.
    Path(Vec<Seg>),
}

impl Ignore {
    fn parse(s: &str) -> Result<Ignore, IgnoreError> {
        let err = |reason: &str| IgnoreError {
            path: s.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(rest) = s.strip_prefix('$') else {
            if s.is_empty() {
                return Err(err("empty"));
            }
            return Ok(Ignore::Key(s.to_owned()));
        };
        let mut segs = Vec::new();
        let mut rest = rest;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let key = &r[..end];
                if key.is_empty() {
                    return Err(err("empty key after '.'"));
                }
                segs.push(if key == "*" {
                    Seg::Any
                } else {
                    Seg::Key(key.to_owned())
                });
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                if r.starts_with('"') {
                    // A JSON string literal, then `]`.
                    let mut de = serde_json::Deserializer::from_str(r).into_iter::<String>();
                    let key = match de.next() {
                        Some(Ok(k)) => k,
                        _ => return Err(err("bad quoted key")),
                    };
                    let used = de.byte_offset();
                    let after = r[used..]
                        .strip_prefix(']')
                        .ok_or_else(|| err("missing ']'"))?;
                    segs.push(Seg::Key(key));
                    rest = after;
                } else {
                    let end = r.find(']').ok_or_else(|| err("missing ']'"))?;
                    let inner = r[..end].trim();
                    segs.push(if inner == "*" {
                        Seg::Any
                    } else {
                        Seg::Index(inner.parse().map_err(|_| err("bad index"))?)
                    });
                    rest = &r[end + 1..];
                }
            } else {
                return Err(err("expected '.' or '['"));
            }
        }
        if segs.is_empty() {
            return Err(err("the whole message cannot be ignored"));
        }
        Ok(Ignore::Path(segs))
    }

    fn matches(&self, path: &[Seg]) -> bool {
        match self {
            Ignore::Key(k) => matches!(path.last(), Some(Seg::Key(last)) if last == k),
            Ignore::Path(p) => {
                p.len() == path.len()
                    && p.iter().zip(path).all(|(want, got)| match (want, got) {
                        (Seg::Any, _) => true,
                        (Seg::Key(a), Seg::Key(b)) => a == b,
                        (Seg::Index(a), Seg::Index(b)) => a == b,
                        _ => false,
                    })
            }
        }
    }
}

/// Removes ignored keys from objects; ignored array elements become `null`.
fn strip_ignored(v: &mut Value, path: &mut Vec<Seg>, ignores: &[Ignore]) {
    if ignores.is_empty() {
        return;
    }
    match v {
        Value::Object(map) => {
            map.retain(|k, _| {
                path.push(Seg::Key(k.clone()));
                let keep = !ignores.iter().any(|i| i.matches(path));
                path.pop();
                keep
            });
            for (k, child) in map.iter_mut() {
                path.push(Seg::Key(k.clone()));
                strip_ignored(child, path, ignores);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                if ignores.iter().any(|ig| ig.matches(path)) {
                    *child = Value::Null;
                } else {
                    strip_ignored(child, path, ignores);
                }
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(dir: Direction, seq: i64, text: &str) -> Message {
        Message {
            dir,
            seq,
            ts_us: seq * 1000,
            opcode: Opcode::Text,
            payload: Bytes::from(text.to_owned()),
            truncated: false,
        }
    }

    fn conv(items: &[(Direction, &str)]) -> Vec<Message> {
        items
            .iter()
            .enumerate()
            .map(|(i, (d, t))| msg(*d, i as i64 + 1, t))
            .collect()
    }

    use Direction::{Client as C, Server as S};

    fn statuses(d: &Diff) -> Vec<(Direction, DiffStatus, Option<usize>, Option<usize>)> {
        d.entries
            .iter()
            .map(|e| (e.dir, e.status, e.left, e.right))
            .collect()
    }

    #[test]
    fn identical_connections() {
        let a = conv(&[(C, "hello"), (S, r#"{"a":1,"b":[1,2]}"#)]);
        // Key order does not matter.
        let b = conv(&[(C, "hello"), (S, r#"{"b":[1,2],"a":1}"#)]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert!(d.summary.is_same(), "{d:?}");
        assert_eq!(d.summary.identical, 2);
        assert!(d.entries[1].json);
    }

    #[test]
    fn one_changed_field_is_one_changed_message_with_its_path() {
        let reply = |p: u32| {
            format!(r#"{{"n":2,"data":[{{"sku":"a","price":10}},{{"sku":"b","price":{p}}}]}}"#)
        };
        let a = conv(&[(C, "q1"), (S, r#"{"n":1}"#), (C, "q2"), (S, &reply(20))]);
        let b = conv(&[(C, "q1"), (S, r#"{"n":1}"#), (C, "q2"), (S, &reply(21))]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert_eq!(d.summary.changed, 1, "{d:?}");
        assert_eq!(d.summary.identical, 3);
        let e = d
            .entries
            .iter()
            .find(|e| e.status == DiffStatus::Changed)
            .expect("changed");
        assert_eq!((e.dir, e.left, e.right), (S, Some(3), Some(3)));
        assert_eq!(
            e.changes,
            vec![PathChange {
                path: "$.data[1].price".into(),
                kind: ChangeKind::Changed,
                left: Some("20".into()),
                right: Some("21".into()),
            }]
        );
        let opts = DiffOptions {
            ignore: vec!["price".into()],
        };
        assert!(diff_messages(&a, &b, &opts).summary.is_same());
        let opts = DiffOptions {
            ignore: vec!["$.data[*].price".into()],
        };
        assert!(diff_messages(&a, &b, &opts).summary.is_same());
        let opts = DiffOptions {
            ignore: vec!["$.data[0].price".into()],
        };
        assert_eq!(diff_messages(&a, &b, &opts).summary.changed, 1);
    }

    #[test]
    fn missing_and_extra_do_not_shift_the_rest() {
        let a = conv(&[
            (S, "one"),
            (S, "two"),
            (S, "three"),
            (S, "four"),
            (S, "five"),
        ]);
        let b = conv(&[
            (S, "one"),
            (S, "three"),
            (S, "four"),
            (S, "surprise"),
            (S, "five"),
        ]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert_eq!(
            statuses(&d),
            vec![
                (S, DiffStatus::Identical, Some(0), Some(0)),
                (S, DiffStatus::Missing, Some(1), None),
                (S, DiffStatus::Identical, Some(2), Some(1)),
                (S, DiffStatus::Identical, Some(3), Some(2)),
                (S, DiffStatus::Extra, None, Some(3)),
                (S, DiffStatus::Identical, Some(4), Some(4)),
            ]
        );
        assert_eq!(
            (d.summary.missing, d.summary.extra, d.summary.changed),
            (1, 1, 0)
        );
    }

    #[test]
    fn unmatched_runs_pair_by_similarity() {
        // Left: A' then B; right: B' only. B' is B with one field changed; A' has nothing in
        // common with it: A' is missing, B changed.
        let a = conv(&[
            (S, r#"{"type":"hello","v":1}"#),
            (S, r#"{"type":"quote","sym":"X","px":10}"#),
        ]);
        let b = conv(&[(S, r#"{"type":"quote","sym":"X","px":11}"#)]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert_eq!(
            statuses(&d),
            vec![
                (S, DiffStatus::Missing, Some(0), None),
                (S, DiffStatus::Changed, Some(1), Some(0)),
            ]
        );
        assert_eq!(d.entries[1].changes[0].path, "$.px");
    }

    #[test]
    fn directions_are_aligned_separately_and_rows_follow_the_left_order() {
        let a = conv(&[(C, "a"), (S, "1"), (C, "b"), (S, "2")]);
        // The right side lost the first server reply and has an extra client message at the end.
        let b = conv(&[(C, "a"), (C, "b"), (S, "2"), (C, "c")]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert_eq!(
            statuses(&d),
            vec![
                (C, DiffStatus::Identical, Some(0), Some(0)),
                (S, DiffStatus::Missing, Some(1), None),
                (C, DiffStatus::Identical, Some(2), Some(1)),
                (C, DiffStatus::Extra, None, Some(3)),
                (S, DiffStatus::Identical, Some(3), Some(2)),
            ]
        );
    }

    #[test]
    fn added_removed_and_odd_keys() {
        let a = conv(&[(S, r#"{"x":{"odd key":1,"gone":true},"list":[1,2,3]}"#)]);
        let b = conv(&[(S, r#"{"x":{"odd key":2,"new":null},"list":[1,2]}"#)]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        let paths: Vec<(String, ChangeKind)> = d.entries[0]
            .changes
            .iter()
            .map(|c| (c.path.clone(), c.kind))
            .collect();
        assert_eq!(
            paths,
            vec![
                (r#"$.x["odd key"]"#.to_owned(), ChangeKind::Changed),
                ("$.x.gone".to_owned(), ChangeKind::Removed),
                ("$.x.new".to_owned(), ChangeKind::Added),
                ("$.list[2]".to_owned(), ChangeKind::Removed),
            ]
        );
        let opts = DiffOptions {
            ignore: vec![r#"$.x["odd key"]"#.into(), "$.x.gone".into(), "new".into()],
        };
        let d = diff_messages(&a, &b, &opts);
        assert_eq!(d.entries[0].changes.len(), 1, "{d:?}");
        assert_eq!(d.entries[0].changes[0].path, "$.list[2]");
    }

    #[test]
    fn text_binary_and_control_frames() {
        let mut a = conv(&[(C, "same"), (S, "plain text v1")]);
        let mut b = conv(&[(C, "same"), (S, "plain text v2")]);
        let ping = Message {
            opcode: Opcode::Ping,
            ..msg(C, 9, "p")
        };
        a.push(ping.clone());
        b.insert(0, ping);
        let bin = |p: &[u8]| Message {
            opcode: Opcode::Binary,
            payload: Bytes::copy_from_slice(p),
            ..msg(S, 10, "")
        };
        a.push(bin(&[1, 2, 3]));
        b.push(bin(&[1, 2, 3]));
        // The same bytes as text and as binary are different messages.
        a.push(msg(S, 11, "xyz"));
        b.push(bin(b"xyz"));
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert_eq!(d.summary.left_messages, 4, "pings are not compared");
        assert_eq!(d.summary.identical, 2);
        assert_eq!(d.summary.changed, 1, "{d:?}");
        assert_eq!((d.summary.missing, d.summary.extra), (1, 1));
        let changed = d
            .entries
            .iter()
            .find(|e| e.status == DiffStatus::Changed)
            .expect("changed");
        assert!(!changed.json && changed.changes.is_empty());
        // Indices refer to the slices as given (the ping shifted the right side).
        assert_eq!((changed.left, changed.right), (Some(1), Some(2)));
    }

    #[test]
    fn ignore_paths_parse() {
        for ok in [
            "ts",
            "$.a",
            "$.a.b[3].c",
            "$.items[*].id",
            r#"$["a b"].c"#,
            "$.*",
        ] {
            assert!(Ignore::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "$", "$.", "$[x]", "$.a[", r#"$["a"#, "$a"] {
            assert!(Ignore::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Ignore::parse(r#"$["a b"][2]"#),
            Ok(Ignore::Path(vec![Seg::Key("a b".into()), Seg::Index(2)]))
        );
        let opts = DiffOptions {
            ignore: vec!["ts".into(), "$.a[".into()],
        };
        assert!(check_ignore(&opts).is_err());
    }

    #[test]
    fn serialises_for_the_ui() {
        let a = conv(&[(S, r#"{"a":1}"#)]);
        let b = conv(&[(S, r#"{"a":2}"#)]);
        let d = diff_messages(&a, &b, &DiffOptions::default());
        let v = serde_json::to_value(&d).expect("json");
        assert_eq!(v["entries"][0]["status"], "changed");
        assert_eq!(v["entries"][0]["dir"], "server");
        assert_eq!(v["entries"][0]["changes"][0]["path"], "$.a");
        assert_eq!(v["summary"]["changed"], 1);
        let back: Diff = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, d);
    }

    #[test]
    fn long_unmatched_runs_stay_bounded() {
        let a: Vec<Message> = (0..400)
            .map(|i| msg(S, i, &format!(r#"{{"i":{i},"t":{}}}"#, i * 7)))
            .collect();
        let b: Vec<Message> = (0..400)
            .map(|i| msg(S, i, &format!(r#"{{"i":{i},"t":{}}}"#, i * 7 + 1)))
            .collect();
        let d = diff_messages(&a, &b, &DiffOptions::default());
        assert_eq!(d.summary.changed, 400);
        let opts = DiffOptions {
            ignore: vec!["t".into()],
        };
        assert_eq!(diff_messages(&a, &b, &opts).summary.identical, 400);
    }
}
