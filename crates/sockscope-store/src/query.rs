//! The timeline's queries: a session's (or one connection's) frames paged by row index under
//! a filter that runs in SQLite, the number of matching frames, and where a frame sits in
//! the filtered list.
//!
//! A [`FrameQuery`] holds the sorted `seq`s of the frames that matched so far and how far it
//! has scanned. Scanning goes in chunks of seqs ([`SCAN_CHUNK`]), so a caller can show the
//! first matches of a slow filter (a regex over a million payloads) long before the scan
//! ends, and new frames of a live session are picked up by scanning on from where it stopped.
//! Without a filter the seqs of a session are `1..=frame_count` (the writer numbers them
//! densely) and nothing is scanned at all.
//!
//! Every piece of user input reaches SQLite as a bound parameter. Text, regex and JSON
//! conditions run in two SQL functions registered on the reading connection
//! (`sockscope_text`, `sockscope_json`), which compile the pattern or expression once per
//! statement (SQLite's auxiliary data) with size limits.

use crate::model::{FrameSummary, FLAG_FIN, FLAG_RSV1};
use crate::StoreError;
use regex::bytes::{Regex, RegexBuilder};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use std::sync::Arc;

/// Seqs examined per scanning step.
pub const SCAN_CHUNK: i64 = 50_000;
/// Most rows one page may ask for.
pub const MAX_PAGE: usize = 1000;
/// Longest text, regex, FTS or JSON expression accepted (characters).
pub const MAX_PATTERN_CHARS: usize = 1000;
/// Compiled-regex size limit (bytes of the compiled program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Lazy-DFA cache limit per regex.
const REGEX_DFA_LIMIT: usize = 2 << 20;
/// Text and regex filters look at this many bytes of a payload at most.
pub const MATCH_BYTES: usize = 1 << 20;
/// JSON filters parse payloads up to this size; larger ones never match.
pub const JSON_BYTES: usize = 1 << 20;
/// Highlight ranges returned per row at most.
const MAX_MARKS: usize = 32;

/// How the text filter reads the pattern.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextFilter {
    pub pattern: String,
    /// A regular expression (Rust `regex` syntax) rather than plain text.
    pub regex: bool,
    pub case_sensitive: bool,
}

/// What the timeline shows. Every condition given must hold (they combine with AND); the
/// default shows every frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrameFilter {
    /// Only this connection's frames.
    pub connection: Option<ConnectionId>,
    /// Only frames sent this way.
    pub dir: Option<Direction>,
    /// Only these opcodes (empty: all).
    pub opcodes: Vec<Opcode>,
    /// Text or regex over the payload (the inflated message when there is one; binary
    /// payloads are matched byte-wise; the first [`MATCH_BYTES`] only).
    pub text: Option<TextFilter>,
    /// Full-text search (FTS5) over text payloads: every word must appear, as a prefix.
    pub fts: Option<String>,
    /// Size range in bytes, inclusive: the inflated size when there is one, else the wire
    /// length.
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    /// Time range, unix microseconds, inclusive.
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// A JSON condition over text messages, e.g. `type == "trade" and price > 10` (see
    /// [`JsonExpr`]). A fragmented message is checked whole (its fragments joined, or the
    /// inflated message when it was compressed); the match is its first frame.
    pub json: Option<String>,
    /// Group by message: continuation frames are left out (their message's first frame
    /// stands for them; [`crate::Store::message_fragments`] lists them). Text, regex and
    /// full-text conditions then hold for a fragmented message when they hold for the
    /// message: the text and regex over its joined payload (inflated when compressed, first
    /// [`MATCH_BYTES`]), full text when one of its frames matches. Direction, opcode, size
    /// and time are the first frame's.
    pub messages: bool,
}

impl FrameFilter {
    /// No condition at all (a connection alone is one).
    pub fn is_all(&self) -> bool {
        *self == FrameFilter::default()
    }
}

/// A page row: the frame and where the filter's text matched in its preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineRow {
    #[serde(flatten)]
    pub frame: FrameSummary,
    /// `[start, end)` ranges in UTF-16 code units of `preview` (what JavaScript indexes).
    pub marks: Vec<[u32; 2]>,
    /// Grouped by message: the filter's text (or full-text words) matched this fragmented
    /// message where the preview (of its first frame) does not show it — in a later fragment.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden_hit: bool,
}

/// How many frames match, and how far the scan got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueryCount {
    /// Matches found so far (all of them once `complete`).
    pub count: u64,
    /// Every frame up to `last_seq` has been looked at.
    pub complete: bool,
    /// Seqs up to here have been scanned.
    pub scanned_seq: i64,
    /// The session's highest seq when the scan last looked.
    pub last_seq: i64,
}

/// Where a frame sits in the filtered list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowIndex {
    /// The frame's row index if it matches, else the index of the first row after it.
    pub index: u64,
    /// The frame is in the list.
    pub exact: bool,
}

/// The sorted seqs a filter has matched so far.
#[derive(Debug, Clone)]
enum Seqs {
    /// No filter: the seqs are `1..=n`.
    Dense(i64),
    List(Vec<i64>),
}

/// A filter over one session, with the matches found so far. Cheap to keep; scanning on
/// picks up frames committed since.
#[derive(Debug)]
pub struct FrameQuery {
    session: SessionId,
    filter: FrameFilter,
    compiled: Compiled,
    seqs: Seqs,
    scanned: i64,
    last_seq: i64,
    /// First frames of fragmented messages still incomplete when scanned (in seq order).
    pending: Vec<Head>,
    /// `last_seq` when the pending messages were last looked at.
    pending_seen: i64,
}

/// The parts of a filter checked once, before any SQL runs.
#[derive(Debug)]
struct Compiled {
    /// What the scan reads (`FROM …` clauses ending in `seq > ? AND seq <= ?`): the
    /// session's frames, or one connection's in the two parts of the per-connection index
    /// (`connection_index.rs`: its id as an integer literal).
    sources: Vec<String>,
    /// `AND ...` conditions with `?` placeholders, from fixed fragments only.
    sql: String,
    params: Vec<Value>,
    /// Highlights in previews.
    marker: Option<Regex>,
    /// Rows of fragmented messages (a text or binary frame without FIN) that the SQL lets
    /// through are checked whole in Rust ([`MessageCheck`]).
    message: Option<MessageCheck>,
    /// Grouped by message.
    messages: bool,
}

/// The conditions a fragmented message is checked against as a whole.
#[derive(Debug)]
struct MessageCheck {
    /// Text or regex over the joined payload (grouped by message only).
    text: Option<Regex>,
    /// The FTS5 query one of its frames must match (grouped by message only).
    fts: Option<String>,
    json: Option<JsonExpr>,
}

/// What the whole-message check says about a message.
enum Verdict {
    Match,
    NoMatch,
    /// Not complete yet and not matching so far: looked at again when frames arrive.
    Pending,
}

/// Incomplete fragmented messages re-checked as frames arrive, at most.
const MAX_PENDING: usize = 256;

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

fn check_len(what: &str, s: &str) -> Result<(), StoreError> {
    if s.chars().count() > MAX_PATTERN_CHARS {
        return Err(invalid(format!(
            "the {what} is longer than {MAX_PATTERN_CHARS} characters"
        )));
    }
    Ok(())
}

/// Compiles the text filter's pattern as the SQL function and the highlighter use it.
pub(crate) fn text_regex(t: &TextFilter) -> Result<Regex, StoreError> {
    check_len("text filter", &t.pattern)?;
    let source = if t.regex {
        t.pattern.clone()
    } else {
        regex::escape(&t.pattern)
    };
    RegexBuilder::new(&source)
        .case_insensitive(!t.case_sensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => invalid("the regular expression is too large"),
            other => invalid(format!("invalid regular expression: {other}")),
        })
}

/// The pattern and flags as one string for the SQL function: `<flags>:<pattern>`.
fn text_arg(t: &TextFilter) -> String {
    format!(
        "{}{}:{}",
        if t.regex { 'r' } else { 'p' },
        if t.case_sensitive { 'c' } else { 'i' },
        t.pattern
    )
}

fn text_from_arg(arg: &str) -> Option<TextFilter> {
    let (flags, pattern) = arg.split_once(':')?;
    let mut f = flags.chars();
    let regex = f.next()? == 'r';
    let case_sensitive = f.next()? == 'c';
    Some(TextFilter {
        pattern: pattern.to_owned(),
        regex,
        case_sensitive,
    })
}

impl Compiled {
    fn new(f: &FrameFilter) -> Result<Compiled, StoreError> {
        let mut sql = String::new();
        let mut params: Vec<Value> = Vec::new();
        let mut marker = None;
        if let Some(c) = f.connection {
            sql.push_str(" AND connection_id = ?");
            params.push(Value::Integer(c.0));
        }
        if let Some(d) = f.dir {
            sql.push_str(" AND dir = ?");
            params.push(Value::Integer(match d {
                Direction::Client => 0,
                Direction::Server => 1,
            }));
        }
        if !f.opcodes.is_empty() {
            if f.opcodes.len() > 16 {
                return Err(invalid("too many opcodes"));
            }
            sql.push_str(" AND opcode IN (");
            for (i, op) in f.opcodes.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                params.push(Value::Integer(i64::from(op.to_u8())));
            }
            sql.push(')');
        }
        if f.messages {
            sql.push_str(" AND opcode <> 0");
        }
        let size = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        if let Some(n) = f.min_size {
            sql.push_str(" AND COALESCE(length(inflated), len) >= ?");
            params.push(Value::Integer(size(n)));
        }
        if let Some(n) = f.max_size {
            sql.push_str(" AND COALESCE(length(inflated), len) <= ?");
            params.push(Value::Integer(size(n)));
        }
        if let Some(t) = f.from_us {
            sql.push_str(" AND ts_us >= ?");
            params.push(Value::Integer(t));
        }
        if let Some(t) = f.to_us {
            sql.push_str(" AND ts_us <= ?");
            params.push(Value::Integer(t));
        }
        let text = match f.text.as_ref().filter(|t| !t.pattern.is_empty()) {
            Some(t) => Some((text_regex(t)?, text_arg(t))),
            None => None,
        };
        let fts = match f.fts.as_deref().filter(|q| !q.trim().is_empty()) {
            Some(q) => {
                check_len("full-text search", q)?;
                Some(crate::search::fts_query(q)?)
            }
            None => None,
        };
        let json = match f.json.as_deref().filter(|j| !j.trim().is_empty()) {
            Some(j) => {
                check_len("JSON condition", j)?;
                Some((JsonExpr::parse(j)?, j.to_owned()))
            }
            None => None,
        };
        if let Some((re, _)) = &text {
            marker = Some(re.clone());
        } else if let Some((_, words)) = &fts {
            // Each word as a case-insensitive prefix of a token, as FTS5 matched it.
            let alt = words
                .iter()
                .map(|w| regex::escape(w))
                .collect::<Vec<_>>()
                .join("|");
            marker = RegexBuilder::new(&format!(r"\b(?:{alt})"))
                .case_insensitive(true)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .ok();
        }
        // The conditions on one frame's own payload, `AND`ed.
        let mut own = String::new();
        let mut own_params: Vec<Value> = Vec::new();
        if let Some((_, arg)) = &text {
            own.push_str(&format!(
                " AND sockscope_text(?, COALESCE(inflated, \
                 sockscope_payload(session_id, payload, poff, plen, {MATCH_BYTES})))"
            ));
            own_params.push(Value::Text(arg.clone()));
        }
        if let Some((query, _)) = &fts {
            own.push_str(" AND id IN (SELECT rowid FROM frames_fts WHERE frames_fts MATCH ?)");
            own_params.push(Value::Text(query.clone()));
        }
        let mut message = None;
        let content = text.is_some() || fts.is_some() || json.is_some();
        if f.messages && content {
            // A fragmented message's first frame goes to the whole-message check; any other
            // row (a whole message in one frame, a control frame) must match on its own.
            if json.is_some() {
                sql.push_str(" AND opcode = 1");
            }
            if let Some((_, j)) = &json {
                own.push_str(&format!(
                    " AND sockscope_json(?, COALESCE(inflated, \
                     sockscope_payload(session_id, payload, poff, plen, {})))",
                    JSON_BYTES + 1
                ));
                own_params.push(Value::Text(j.clone()));
            }
            sql.push_str(&format!(
                " AND ((opcode IN (1, 2) AND (flags & {FLAG_FIN}) = 0) OR (1{own}))"
            ));
            params.extend(own_params);
            message = Some(MessageCheck {
                text: text.as_ref().map(|(re, _)| re.clone()),
                fts: fts.as_ref().map(|(q, _)| q.clone()),
                json: json.as_ref().map(|(e, _)| e.clone()),
            });
        } else {
            // Frame by frame; a JSON condition holds on a text message's first frame: at
            // once when the frame is the whole message, else after the whole-message check.
            sql.push_str(&own);
            params.extend(own_params);
            if let Some((e, j)) = &json {
                sql.push_str(&format!(
                    " AND opcode = 1 AND ((flags & {FLAG_FIN}) = 0 \
                     OR sockscope_json(?, COALESCE(inflated, \
                     sockscope_payload(session_id, payload, poff, plen, {}))))",
                    JSON_BYTES + 1
                ));
                params.push(Value::Text(j.clone()));
                message = Some(MessageCheck {
                    text: None,
                    fts: None,
                    json: Some(e.clone()),
                });
            }
        }
        let sources = match f.connection {
            Some(c) => {
                let parts = crate::connection_index::Parts::new(&c.0.to_string(), true);
                vec![parts.indexed, parts.recent]
            }
            None => vec!["frames WHERE seq > ? AND seq <= ?".to_owned()],
        };
        Ok(Compiled {
            sources,
            sql,
            params,
            marker,
            message,
            messages: f.messages,
        })
    }
}

fn session_frames(c: &Connection, session: SessionId) -> Result<(i64, i64, i64), StoreError> {
    let n: Option<i64> = c
        .prepare_cached("SELECT frame_count FROM sessions WHERE id = ?1")?
        .query_row(params![session.0], |r| r.get(0))
        .optional()?;
    let n = n.ok_or_else(|| StoreError::NotFound(format!("session {session}")))?;
    // Two statements: SQLite answers a lone MIN or MAX from the (session_id, seq) index in
    // O(log n), but scans every row of the session for both at once.
    let lo: Option<i64> = c
        .prepare_cached("SELECT MIN(seq) FROM frames WHERE session_id = ?1")?
        .query_row(params![session.0], |r| r.get(0))?;
    let hi: Option<i64> = c
        .prepare_cached("SELECT MAX(seq) FROM frames WHERE session_id = ?1")?
        .query_row(params![session.0], |r| r.get(0))?;
    Ok((n, lo.unwrap_or(0), hi.unwrap_or(0)))
}

impl FrameQuery {
    /// Checks the filter (bad regex, JSON expression or FTS query → [`StoreError::Invalid`]).
    pub fn new(session: SessionId, filter: FrameFilter) -> Result<FrameQuery, StoreError> {
        let compiled = Compiled::new(&filter)?;
        Ok(FrameQuery {
            session,
            seqs: if filter.is_all() {
                Seqs::Dense(0)
            } else {
                Seqs::List(Vec::new())
            },
            filter,
            compiled,
            scanned: 0,
            last_seq: 0,
            pending: Vec::new(),
            pending_seen: 0,
        })
    }

    pub fn session(&self) -> SessionId {
        self.session
    }

    pub fn filter(&self) -> &FrameFilter {
        &self.filter
    }

    /// Matches found so far.
    pub fn len(&self) -> u64 {
        match &self.seqs {
            Seqs::Dense(n) => u64::try_from(*n).unwrap_or(0),
            Seqs::List(v) => v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn count(&self) -> QueryCount {
        QueryCount {
            count: self.len(),
            complete: self.scanned >= self.last_seq,
            scanned_seq: self.scanned,
            last_seq: self.last_seq,
        }
    }

    fn seq_at(&self, i: u64) -> Option<i64> {
        match &self.seqs {
            Seqs::Dense(n) => i64::try_from(i).ok().filter(|i| i < n).map(|i| i + 1),
            Seqs::List(v) => usize::try_from(i).ok().and_then(|i| v.get(i)).copied(),
        }
    }

    /// Looks at the session's newest seq; a session without filter is up to date at once.
    /// Returns whether frames remain to scan.
    pub(crate) fn refresh(&mut self, c: &Connection) -> Result<bool, StoreError> {
        let (n, lo, hi) = session_frames(c, self.session)?;
        self.last_seq = hi;
        if let Seqs::Dense(count) = &mut self.seqs {
            if lo <= 1 && hi == n {
                *count = n;
                self.scanned = hi;
                return Ok(false);
            }
            // Not numbered 1..=n (never written so by this store, but the file is input):
            // list the seqs like any filter does.
            self.seqs = Seqs::List(Vec::new());
            self.scanned = 0;
        }
        if !self.pending.is_empty() && self.last_seq > self.pending_seen {
            self.pending_seen = self.last_seq;
            self.recheck_pending(c)?;
        }
        Ok(self.scanned < self.last_seq)
    }

    /// Looks again at the messages that were incomplete: a match joins the list in order.
    fn recheck_pending(&mut self, c: &Connection) -> Result<(), StoreError> {
        let Some(check) = &self.compiled.message else {
            return Ok(());
        };
        let mut still = Vec::new();
        let mut found = Vec::new();
        for &head in &self.pending {
            match check.verdict(c, head)? {
                Verdict::Match => found.push(head.seq),
                Verdict::NoMatch => {}
                Verdict::Pending => still.push(head),
            }
        }
        self.pending = still;
        if let Seqs::List(list) = &mut self.seqs {
            for seq in found {
                if let Err(i) = list.binary_search(&seq) {
                    list.insert(i, seq);
                }
            }
        }
        Ok(())
    }

    /// Scans the next chunk of seqs; returns whether frames remain to scan.
    pub(crate) fn scan_step(&mut self, c: &Connection) -> Result<bool, StoreError> {
        if self.scanned >= self.last_seq {
            return Ok(false);
        }
        let Seqs::List(list) = &mut self.seqs else {
            return Ok(false);
        };
        let from = self.scanned;
        let to = from.saturating_add(SCAN_CHUNK).min(self.last_seq);
        let head = [
            Value::Integer(from),
            Value::Integer(to),
            Value::Integer(self.session.0),
        ];
        // (row, checked whole) of this chunk.
        let mut found: Vec<(Head, bool)> = Vec::new();
        // One read transaction over the parts: a frame moving from one part to the other
        // (the writer catching up) is seen once.
        crate::read::in_one_transaction(c, |c| {
            for source in &self.compiled.sources {
                let sql = format!(
                    "SELECT seq, opcode, flags, connection_id, dir FROM {source} \
                     AND session_id = ?{}",
                    self.compiled.sql
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let mut rows = stmt.query(params_from_iter(
                    head.iter().chain(self.compiled.params.iter()),
                ))?;
                while let Some(r) = rows.next()? {
                    let head = Head {
                        seq: r.get(0)?,
                        connection: r.get(3)?,
                        dir: r.get(4)?,
                    };
                    let opcode: i64 = r.get(1)?;
                    let flags: i64 = r.get(2)?;
                    let whole = self.compiled.message.is_some()
                        && (opcode == 1 || opcode == 2)
                        && flags & FLAG_FIN == 0;
                    found.push((head, whole));
                }
            }
            Ok(())
        })?;
        // Each part is read in seq order (by its key), one after the other.
        found.sort_by_key(|(head, _)| head.seq);
        for (head, whole) in found {
            let seq = head.seq;
            if whole {
                if let Some(check) = &self.compiled.message {
                    match check.verdict(c, head)? {
                        Verdict::Match => {}
                        Verdict::NoMatch => continue,
                        Verdict::Pending => {
                            if self.pending.len() < MAX_PENDING {
                                self.pending.push(head);
                            }
                            self.pending_seen = self.last_seq;
                            continue;
                        }
                    }
                }
            }
            list.push(seq);
        }
        self.scanned = to;
        Ok(self.scanned < self.last_seq)
    }

    /// Scans until at least `rows` matches are known or everything is scanned.
    pub(crate) fn scan_until(&mut self, c: &Connection, rows: u64) -> Result<(), StoreError> {
        self.refresh(c)?;
        while self.len() < rows && self.scan_step(c)? {}
        Ok(())
    }

    /// Scans until `seq` has been looked at.
    fn scan_past(&mut self, c: &Connection, seq: i64) -> Result<(), StoreError> {
        self.refresh(c)?;
        while self.scanned < seq && self.scan_step(c)? {}
        Ok(())
    }

    /// Rows `offset..offset + limit` of the filtered list (fewer at its end). While a filter's
    /// scan is under way, only as far as needed for the first requested row: the rest of the
    /// page comes with the matches the counting finds (callers refetch short pages).
    pub(crate) fn page(
        &mut self,
        c: &Connection,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<TimelineRow>, StoreError> {
        let limit = limit.min(MAX_PAGE);
        self.scan_until(c, offset.saturating_add(1))?;
        let mut out = Vec::with_capacity(limit);
        let seqs: Vec<i64> = (offset..offset.saturating_add(limit as u64))
            .map_while(|i| self.seq_at(i))
            .collect();
        if let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) {
            let frames = if last - first + 1 == seqs.len() as i64 {
                frames_between(c, self.session, first, last)?
            } else {
                let mut v = Vec::with_capacity(seqs.len());
                for s in &seqs {
                    v.extend(frames_between(c, self.session, *s, *s)?);
                }
                v
            };
            for frame in frames {
                out.push(self.compiled.row(frame));
            }
        }
        Ok(out)
    }

    /// Where `seq` is (or would be) in the filtered list.
    pub(crate) fn index_of(&mut self, c: &Connection, seq: i64) -> Result<RowIndex, StoreError> {
        self.scan_past(c, seq)?;
        Ok(match &self.seqs {
            Seqs::Dense(n) => RowIndex {
                index: u64::try_from((seq - 1).clamp(0, *n)).unwrap_or(0),
                exact: seq >= 1 && seq <= *n,
            },
            Seqs::List(v) => match v.binary_search(&seq) {
                Ok(i) => RowIndex {
                    index: i as u64,
                    exact: true,
                },
                Err(i) => RowIndex {
                    index: i as u64,
                    exact: false,
                },
            },
        })
    }
}

impl Compiled {
    /// A row with the marker's highlights in its preview.
    fn row(&self, frame: FrameSummary) -> TimelineRow {
        let marks = self
            .marker
            .as_ref()
            .map(|re| marks(re, &frame.preview))
            .unwrap_or_default();
        let fragmented = !frame.fin && matches!(frame.opcode, Opcode::Text | Opcode::Binary);
        TimelineRow {
            hidden_hit: self.messages && fragmented && self.marker.is_some() && marks.is_empty(),
            frame,
            marks,
        }
    }
}

/// The first frame of a message, where the whole-message check starts.
#[derive(Debug, Clone, Copy)]
struct Head {
    seq: i64,
    connection: i64,
    dir: i64,
}

/// A message read for the whole-message check: its payload (the fragments joined, or the
/// inflated message of a compressed one), at most `cap` bytes.
struct WholeMessage {
    bytes: Vec<u8>,
    /// More bytes than the cap.
    cut: bool,
    text: bool,
    compressed: bool,
    complete: bool,
    last_seq: i64,
}

impl MessageCheck {
    /// Reads the message `head` starts with one query on the per-connection index: its
    /// frames of the same direction in order, until FIN (or a new message, which ends it:
    /// illegal, but the file is input), payloads only up to the cap.
    fn read(c: &Connection, head: Head, cap: usize) -> Result<WholeMessage, StoreError> {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT seq, opcode, flags, sockscope_payload(session_id, payload, poff, plen), inflated \
             FROM {} AS frames \
             WHERE connection_id = ?1 AND seq >= ?2 AND dir = ?3 AND opcode IN (0, 1, 2) \
             ORDER BY seq LIMIT ?4",
            crate::connection_index::frames_of("?1")
        ))?;
        let limit = i64::try_from(crate::detail::MESSAGE_FRAMES_MAX).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![head.connection, head.seq, head.dir, limit])?;
        let mut m = WholeMessage {
            bytes: Vec::new(),
            cut: false,
            text: false,
            compressed: false,
            complete: false,
            last_seq: head.seq,
        };
        let mut first = true;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let opcode: i64 = r.get(1)?;
            let flags: i64 = r.get(2)?;
            if first {
                first = false;
                m.text = opcode == 1;
                m.compressed = flags & FLAG_RSV1 != 0;
            } else if opcode != 0 {
                break;
            }
            m.last_seq = seq;
            let fin = flags & FLAG_FIN != 0;
            if m.compressed {
                // Only the last frame's inflated message is readable.
                if fin {
                    if let ValueRef::Blob(b) | ValueRef::Text(b) = r.get_ref(4)? {
                        m.cut = b.len() > cap;
                        m.bytes.extend_from_slice(&b[..b.len().min(cap)]);
                    }
                }
            } else if !m.cut {
                if let ValueRef::Blob(b) | ValueRef::Text(b) = r.get_ref(3)? {
                    let room = cap - m.bytes.len();
                    if b.len() > room {
                        m.bytes.extend_from_slice(&b[..room]);
                        m.cut = true;
                    } else {
                        m.bytes.extend_from_slice(b);
                    }
                }
            }
            if fin {
                m.complete = true;
                break;
            }
        }
        Ok(m)
    }

    /// Checks the fragmented message `head` starts as a whole.
    fn verdict(&self, c: &Connection, head: Head) -> Result<Verdict, StoreError> {
        let cap = MATCH_BYTES.max(JSON_BYTES) + 1;
        let m = Self::read(c, head, cap)?;
        // A compressed message is only readable once its last frame (which carries the
        // inflated message) has arrived.
        if !m.complete && m.compressed {
            return Ok(Verdict::Pending);
        }
        let ok = self.holds(c, head, &m)?;
        Ok(match (ok, m.complete) {
            (true, _) => Verdict::Match,
            (false, true) => Verdict::NoMatch,
            (false, false) => Verdict::Pending,
        })
    }

    fn holds(&self, c: &Connection, head: Head, m: &WholeMessage) -> Result<bool, StoreError> {
        if let Some(re) = &self.text {
            if !re.is_match(&m.bytes[..m.bytes.len().min(MATCH_BYTES)]) {
                return Ok(false);
            }
        }
        if let Some(e) = &self.json {
            if !m.text || m.cut || m.bytes.len() > JSON_BYTES {
                return Ok(false);
            }
            match serde_json::from_slice::<Json>(&m.bytes) {
                Ok(doc) if e.eval(&doc) => {}
                _ => return Ok(false),
            }
        }
        if let Some(q) = &self.fts {
            // One of the message's frames (the inflated message is indexed on its last).
            let hit: bool = c
                .prepare_cached(&format!(
                    "SELECT EXISTS (SELECT 1 FROM {} AS f \
                     WHERE f.connection_id = ?1 AND f.dir = ?2 \
                     AND f.seq BETWEEN ?3 AND ?4 AND f.opcode IN (0, 1, 2) \
                     AND EXISTS (SELECT 1 FROM frames_fts WHERE frames_fts MATCH ?5 \
                                 AND rowid = f.id))",
                    crate::connection_index::frames_of("?1")
                ))?
                .query_row(
                    params![head.connection, head.dir, head.seq, m.last_seq, q],
                    |r| r.get(0),
                )?;
            if !hit {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Highlight ranges of `re` in `text`, in UTF-16 code units.
fn marks(re: &Regex, text: &str) -> Vec<[u32; 2]> {
    let mut out = Vec::new();
    // UTF-16 offset of each byte offset, computed as we go (matches come in order).
    let mut byte = 0usize;
    let mut units = 0u32;
    let mut to_units = |target: usize| -> u32 {
        for ch in text[byte..target.max(byte)].chars() {
            units += ch.len_utf16() as u32;
        }
        byte = target.max(byte);
        units
    };
    for m in re.find_iter(text.as_bytes()).take(MAX_MARKS) {
        if m.start() == m.end()
            || !text.is_char_boundary(m.start())
            || !text.is_char_boundary(m.end())
        {
            continue;
        }
        let s = to_units(m.start());
        let e = to_units(m.end());
        out.push([s, e]);
    }
    out
}

/// Most ranges [`payload_matches`] returns.
pub const MAX_PAYLOAD_MATCHES: usize = 100_000;

/// Where a filter's text, regex or full-text words match in one payload (the detail view
/// highlights them): the same compiled pattern the timeline's filter runs, so case and
/// regex semantics are the database's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadMatches {
    /// `[start, end)` byte offsets, in order, not overlapping, none empty.
    pub bytes: Vec<[u64; 2]>,
    /// The same ranges in UTF-16 code units of the payload read as UTF-8 with each invalid
    /// sequence as one U+FFFD (what JavaScript's `TextDecoder` gives).
    pub utf16: Vec<[u64; 2]>,
    /// There were more matches than returned.
    pub capped: bool,
    /// The filter has a text, regex or full-text condition (else there is nothing to find).
    pub active: bool,
}

/// Matches of `filter`'s text condition (else its full-text words, as prefixes of words,
/// case-insensitive) in the whole of `hay`, at most `max`. A bad filter is `Invalid`.
pub fn payload_matches(
    filter: &FrameFilter,
    hay: &[u8],
    max: usize,
) -> Result<PayloadMatches, StoreError> {
    let compiled = Compiled::new(filter)?;
    let mut out = PayloadMatches {
        bytes: Vec::new(),
        utf16: Vec::new(),
        capped: false,
        active: compiled.marker.is_some(),
    };
    let Some(re) = &compiled.marker else {
        return Ok(out);
    };
    let mut map = Utf16Map::new(hay);
    for m in re.find_iter(hay) {
        if m.start() == m.end() {
            continue;
        }
        if out.bytes.len() >= max {
            out.capped = true;
            break;
        }
        let (s, e) = (m.start(), m.end());
        out.bytes.push([s as u64, e as u64]);
        let su = map.at(s);
        let eu = map.at(e);
        out.utf16.push([su, eu.max(su)]);
    }
    Ok(out)
}

/// Byte offsets to UTF-16 offsets of the lossy UTF-8 reading of a byte string, for
/// offsets that never decrease (one pass).
struct Utf16Map<'a> {
    chunks: std::str::Utf8Chunks<'a>,
    /// Byte offset of the current chunk.
    pos: usize,
    valid: &'a str,
    invalid: usize,
    /// Units before the current chunk.
    units: u64,
    /// Bytes of `valid` counted so far, and their units.
    done_b: usize,
    done_u: u64,
}

impl<'a> Utf16Map<'a> {
    fn new(hay: &'a [u8]) -> Utf16Map<'a> {
        let mut chunks = hay.utf8_chunks();
        let (valid, invalid) = chunks
            .next()
            .map(|c| (c.valid(), c.invalid().len()))
            .unwrap_or(("", 0));
        Utf16Map {
            chunks,
            pos: 0,
            valid,
            invalid,
            units: 0,
            done_b: 0,
            done_u: 0,
        }
    }

    /// Counts `valid` up to byte `rel` (rounded up to a character's end).
    fn count_to(&mut self, rel: usize) {
        let v = self.valid;
        for ch in v[self.done_b..].chars() {
            if self.done_b >= rel {
                break;
            }
            self.done_b += ch.len_utf8();
            self.done_u += ch.len_utf16() as u64;
        }
    }

    fn at(&mut self, t: usize) -> u64 {
        loop {
            let end = self.pos + self.valid.len() + self.invalid;
            if t < end || t <= self.pos + self.valid.len() {
                break;
            }
            self.count_to(self.valid.len());
            let chunk_units = self.done_u + u64::from(self.invalid > 0);
            match self.chunks.next() {
                Some(c) => {
                    self.units += chunk_units;
                    self.pos = end;
                    self.valid = c.valid();
                    self.invalid = c.invalid().len();
                    self.done_b = 0;
                    self.done_u = 0;
                }
                None => return self.units + chunk_units,
            }
        }
        let rel = t - self.pos;
        if rel <= self.valid.len() {
            self.count_to(rel);
            return self.units + self.done_u;
        }
        // Inside an invalid sequence: before its U+FFFD.
        self.count_to(self.valid.len());
        self.units + self.done_u
    }
}

/// Summaries of the frames with seq in `from..=to`.
fn frames_between(
    c: &Connection,
    session: SessionId,
    from: i64,
    to: i64,
) -> Result<Vec<FrameSummary>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, connection_id, ts_us, dir, opcode, flags, len, note, length(inflated), \
         COALESCE(substr(inflated, 1, ?4), sockscope_payload(session_id, payload, poff, plen, ?4)) \
         FROM frames WHERE session_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![
        session.0,
        from,
        to,
        crate::read::SUMMARY_PAYLOAD_BYTES
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(crate::read::summary_row(r)?);
    }
    Ok(out)
}

/// The frames of the message whose first frame is `seq`: it and the continuation frames of
/// the same connection and direction up to the one with FIN (at most `limit`).
pub(crate) fn message_fragments(
    c: &Connection,
    session: SessionId,
    seq: i64,
    limit: usize,
) -> Result<Vec<FrameSummary>, StoreError> {
    let first = frames_between(c, session, seq, seq)?;
    let Some(head) = first.into_iter().next() else {
        return Err(StoreError::NotFound(format!(
            "frame {seq} of session {session}"
        )));
    };
    if head.fin || !matches!(head.opcode, Opcode::Text | Opcode::Binary) {
        return Ok(vec![head]);
    }
    let mut stmt = c.prepare_cached(&format!(
        "SELECT seq, connection_id, ts_us, dir, opcode, flags, len, note, length(inflated), \
         COALESCE(substr(inflated, 1, ?5), sockscope_payload(session_id, payload, poff, plen, ?5)) \
         FROM {} AS frames \
         WHERE connection_id = ?1 AND seq > ?2 AND dir = ?3 AND opcode IN (0, 1, 2) \
         ORDER BY seq LIMIT ?4",
        crate::connection_index::frames_of("?1")
    ))?;
    let dir = i64::from(head.dir == Direction::Server);
    let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![
        head.connection.0,
        seq,
        dir,
        limit_sql,
        crate::read::SUMMARY_PAYLOAD_BYTES
    ])?;
    let mut out = vec![head];
    while let Some(r) = rows.next()? {
        let f = crate::read::summary_row(r)?;
        // A new message before this one finished (illegal) ends it.
        if f.opcode != Opcode::Continuation {
            break;
        }
        let fin = f.fin;
        out.push(f);
        if fin || out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// [`message_fragments`] as timeline rows, with `filter`'s highlights in each preview.
pub(crate) fn fragment_rows(
    c: &Connection,
    session: SessionId,
    seq: i64,
    limit: usize,
    filter: &FrameFilter,
) -> Result<Vec<TimelineRow>, StoreError> {
    let compiled = Compiled::new(filter)?;
    Ok(message_fragments(c, session, seq, limit)?
        .into_iter()
        .map(|f| {
            let mut row = compiled.row(f);
            row.hidden_hit = false;
            row
        })
        .collect())
}

/// How many frames each connection of a session has, up to `max_seq` (counted on the
/// per-connection index, without reading its rows: `connection_index.rs`).
pub(crate) fn connection_frame_counts(
    c: &Connection,
    session: SessionId,
    max_seq: i64,
) -> Result<Vec<(ConnectionId, i64)>, StoreError> {
    let mut ids =
        c.prepare_cached("SELECT id FROM connections WHERE session_id = ?1 ORDER BY id")?;
    let ids: Vec<i64> = ids
        .query_map(params![session.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let n = crate::connection_index::count_upto(c, id, max_seq)?;
        out.push((ConnectionId(id), n));
    }
    Ok(out)
}

// ---- SQL functions ----

/// Registers `sockscope_text(arg, body)` and `sockscope_json(expr, body)` on `c`.
pub(crate) fn register(c: &Connection) -> Result<(), StoreError> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    c.create_scalar_function("sockscope_text", 2, flags, |ctx| {
        let re: Arc<Regex> = ctx.get_or_create_aux(0, |v: ValueRef<'_>| {
            let arg = v.as_str().map_err(|e| invalid(e.to_string()))?;
            let t = text_from_arg(arg).ok_or_else(|| invalid("bad text filter"))?;
            text_regex(&t)
        })?;
        Ok(match ctx.get_raw(1) {
            ValueRef::Blob(b) | ValueRef::Text(b) => re.is_match(&b[..b.len().min(MATCH_BYTES)]),
            _ => false,
        })
    })?;
    c.create_scalar_function("sockscope_json", 2, flags, |ctx| {
        let expr: Arc<JsonExpr> = ctx.get_or_create_aux(0, |v: ValueRef<'_>| {
            let s = v.as_str().map_err(|e| invalid(e.to_string()))?;
            JsonExpr::parse(s)
        })?;
        Ok(match ctx.get_raw(1) {
            ValueRef::Blob(b) | ValueRef::Text(b) if b.len() <= JSON_BYTES => {
                match serde_json::from_slice::<Json>(b) {
                    Ok(doc) => expr.eval(&doc),
                    Err(_) => false,
                }
            }
            _ => false,
        })
    })?;
    Ok(())
}

// ---- JSON conditions ----

/// A JSON condition over a text message, checked against the parsed payload:
///
/// ```text
/// expr    := clause (("and" | "&&") clause)*
/// clause  := path [op literal]          a path alone: the value exists
/// path    := key ("." key | "[" index "]")*     key: letters, digits, _ $ - or "quoted"
///            (a leading "$." or "$" is allowed: `$.data[0].price`)
/// op      := "==" | "!=" | ">" | ">=" | "<" | "<=" | "~"     (~: string contains)
/// literal := "string" | number | true | false | null
/// ```
///
/// `==`/`!=` compare JSON values (numbers by value); `<`-style operators compare numbers
/// with numbers and strings with strings; a path that is missing fails every clause but
/// `!=`. At most 16 clauses of 32 path steps.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonExpr {
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    path: Vec<Step>,
    test: Option<(Op, Json)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
}

const MAX_CLAUSES: usize = 16;
const MAX_STEPS: usize = 32;

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn eat(&mut self, t: &str) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn err(&self, what: &str) -> StoreError {
        invalid(format!(
            "JSON condition, at character {}: {what}",
            self.s[..self.pos].chars().count() + 1
        ))
    }
    fn quoted(&mut self) -> Result<String, StoreError> {
        // A JSON string literal: let serde_json read it (escapes included).
        let rest = &self.s[self.pos..];
        let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        match de.next() {
            Some(Ok(v)) => {
                self.pos += de.byte_offset();
                Ok(v)
            }
            _ => Err(self.err("unterminated or invalid string")),
        }
    }
    fn key(&mut self) -> Result<String, StoreError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            return self.quoted();
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' || c == '$' || c == '-' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        if self.pos == start {
            return Err(self.err("expected a key"));
        }
        Ok(self.s[start..self.pos].to_owned())
    }
    fn path(&mut self) -> Result<Vec<Step>, StoreError> {
        self.skip_ws();
        let mut steps = Vec::new();
        if self.s[self.pos..].starts_with("$.") {
            self.pos += 2;
        } else if self.s[self.pos..].starts_with("$[") {
            self.pos += 1;
        } else if self.s[self.pos..].starts_with('$')
            && !self.s[self.pos + 1..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            // `$` alone: the whole document.
            self.pos += 1;
            return Ok(steps);
        }
        if self.peek() != Some('[') {
            steps.push(Step::Key(self.key()?));
        }
        loop {
            if self.s[self.pos..].starts_with('.') {
                self.pos += 1;
                steps.push(Step::Key(self.key()?));
            } else if self.s[self.pos..].starts_with('[') {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let n = self.s[start..self.pos]
                    .parse::<usize>()
                    .map_err(|_| self.err("expected an array index"))?;
                if !self.eat("]") {
                    return Err(self.err("expected ]"));
                }
                steps.push(Step::Index(n));
            } else {
                break;
            }
            if steps.len() > MAX_STEPS {
                return Err(self.err("path too long"));
            }
        }
        Ok(steps)
    }
    fn op(&mut self) -> Option<Op> {
        self.skip_ws();
        for (t, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("~", Op::Contains),
            ("=", Op::Eq),
        ] {
            if self.eat(t) {
                return Some(op);
            }
        }
        None
    }
    fn literal(&mut self) -> Result<Json, StoreError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            return Ok(Json::String(self.quoted()?));
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || matches!(c, '-' | '+' | '.') {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let word = &self.s[start..self.pos];
        match word {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            "null" => Ok(Json::Null),
            _ => match serde_json::from_str::<serde_json::Number>(word) {
                Ok(n) => Ok(Json::Number(n)),
                Err(_) => {
                    self.pos = start;
                    Err(self.err("expected a \"string\", a number, true, false or null"))
                }
            },
        }
    }
}

impl JsonExpr {
    pub fn parse(s: &str) -> Result<JsonExpr, StoreError> {
        check_len("JSON condition", s)?;
        let mut lx = Lexer { s, pos: 0 };
        let mut clauses = Vec::new();
        loop {
            let path = lx.path()?;
            let test = match lx.op() {
                Some(op) => Some((op, lx.literal()?)),
                None => None,
            };
            if let Some((Op::Contains, v)) = &test {
                if !v.is_string() {
                    return Err(lx.err("~ takes a \"string\""));
                }
            }
            clauses.push(Clause { path, test });
            if clauses.len() > MAX_CLAUSES {
                return Err(lx.err("too many clauses"));
            }
            lx.skip_ws();
            if lx.pos == s.len() {
                break;
            }
            if !(lx.eat("&&") || lx.eat("and ") || lx.eat("AND ")) {
                return Err(lx.err("expected `and`, `&&` or the end"));
            }
        }
        Ok(JsonExpr { clauses })
    }

    pub fn eval(&self, doc: &Json) -> bool {
        self.clauses.iter().all(|c| c.eval(doc))
    }
}

fn num_eq(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

impl Clause {
    fn eval(&self, doc: &Json) -> bool {
        let mut v = doc;
        for step in &self.path {
            let next = match step {
                Step::Key(k) => v.as_object().and_then(|o| o.get(k)),
                Step::Index(i) => v.as_array().and_then(|a| a.get(*i)),
            };
            match next {
                Some(n) => v = n,
                None => return matches!(self.test, Some((Op::Ne, _))),
            }
        }
        let Some((op, lit)) = &self.test else {
            return true;
        };
        let ord = match (v, lit) {
            (Json::Number(_), Json::Number(_)) => v
                .as_f64()
                .zip(lit.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
            (Json::String(a), Json::String(b)) => Some(a.as_str().cmp(b.as_str())),
            _ => None,
        };
        use std::cmp::Ordering::*;
        match op {
            Op::Eq => num_eq(v, lit),
            Op::Ne => !num_eq(v, lit),
            Op::Gt => ord == Some(Greater),
            Op::Ge => matches!(ord, Some(Greater | Equal)),
            Op::Lt => ord == Some(Less),
            Op::Le => matches!(ord, Some(Less | Equal)),
            Op::Contains => match (v, lit) {
                (Json::String(a), Json::String(b)) => a.contains(b.as_str()),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(expr: &str, doc: Json) -> bool {
        JsonExpr::parse(expr).map(|e| e.eval(&doc)).unwrap_or(false)
    }

    #[test]
    fn json_expressions() {
        let d = json!({"type": "trade", "price": 10.5, "qty": 3, "ok": true, "n": null,
                       "data": [{"px": 1}, {"px": 2}], "a b": "x"});
        assert!(ok(r#"type == "trade""#, d.clone()));
        assert!(ok(r#"type = "trade""#, d.clone()));
        assert!(!ok(r#"type == "quote""#, d.clone()));
        assert!(ok(r#"type != "quote""#, d.clone()));
        assert!(ok(r#"missing != "quote""#, d.clone()));
        assert!(!ok(r#"missing == "quote""#, d.clone()));
        assert!(ok("price > 10 and qty == 3", d.clone()));
        assert!(ok("price > 10 && qty >= 3 && qty <= 3", d.clone()));
        assert!(!ok("price < 10", d.clone()));
        assert!(ok("qty == 3.0", d.clone()));
        assert!(ok("ok == true", d.clone()));
        assert!(ok("n == null", d.clone()));
        assert!(ok("$.data[1].px == 2", d.clone()));
        assert!(ok("data[0].px", d.clone()));
        assert!(!ok("data[5].px", d.clone()));
        assert!(ok(r#""a b" == "x""#, d.clone()));
        assert!(ok(r#"type ~ "ra""#, d.clone()));
        assert!(!ok(r#"price > "10""#, d.clone()));
        assert!(ok("$ ", d));
    }

    #[test]
    fn json_expression_errors() {
        for bad in [
            "",
            "type ==",
            "type == trade",
            r#"type == "unterminated"#,
            "a[x]",
            "a == 1 or b == 2",
            r#"a ~ 1"#,
            "== 1",
        ] {
            let e = JsonExpr::parse(bad);
            assert!(matches!(e, Err(StoreError::Invalid(_))), "{bad}: {e:?}");
        }
        let long = "a.".repeat(40) + "b";
        assert!(JsonExpr::parse(&long).is_err());
    }

    #[test]
    fn marks_are_utf16_offsets() {
        let re = RegexBuilder::new("b").build().unwrap();
        assert_eq!(marks(&re, "a😀b b"), vec![[3, 4], [5, 6]]);
    }

    #[test]
    fn text_arg_round_trip() {
        let t = TextFilter {
            pattern: "a:b".into(),
            regex: true,
            case_sensitive: false,
        };
        assert_eq!(text_from_arg(&text_arg(&t)), Some(t));
    }

    #[test]
    fn regex_limits() {
        let huge = TextFilter {
            pattern: "(?:a{1000}){1000}".into(),
            regex: true,
            case_sensitive: true,
        };
        assert!(matches!(text_regex(&huge), Err(StoreError::Invalid(_))));
        let bad = TextFilter {
            pattern: "(".into(),
            regex: true,
            case_sensitive: true,
        };
        assert!(matches!(text_regex(&bad), Err(StoreError::Invalid(_))));
        let plain = TextFilter {
            pattern: "(".into(),
            regex: false,
            case_sensitive: true,
        };
        assert!(text_regex(&plain).is_ok());
    }
}
