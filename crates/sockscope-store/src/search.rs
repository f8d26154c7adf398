//! Full-text search across every session's text payloads (SQLite FTS5, schema v4).
//!
//! `frames_fts` is a contentless FTS5 table (`contentless_delete = 1`) whose rowid is
//! `frames.id`. Indexing is kept out of capture (it cost more than the rest of a frame's
//! insert): frames with `id <= fts_progress.indexed_upto` are indexed, and the writer thread
//! indexes the rest in id order whenever its queue is empty ([`index_pending`]), and all of
//! it before a search runs ([`Store::search`]), so a search sees every committed frame.
//! Deleting a session deletes its indexed rows by rowid. Snippets are cut from the stored
//! payload, since a contentless table keeps no text.

use crate::purge::not_purging;
use crate::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sockscope_proto::{ConnectionId, Opcode, SessionId};
use std::time::Instant;

/// At most this many bytes of a payload are indexed (cut at a character boundary).
pub(crate) const INDEX_BYTES: usize = 1 << 20;
/// Snippets are looked for in the first bytes of the payload only.
const SNIPPET_SOURCE_BYTES: i64 = 64 * 1024;
/// Characters of context kept before and after the first match.
const SNIPPET_BEFORE: usize = 40;
const SNIPPET_AFTER: usize = 80;
/// Longest query accepted (characters).
const MAX_QUERY_CHARS: usize = 1000;
/// Most results a search returns.
pub const MAX_SEARCH_RESULTS: usize = 10_000;

/// One frame whose text matched a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    pub session: SessionId,
    pub seq: i64,
    pub connection: ConnectionId,
    pub ts_us: i64,
    /// Plain text around the first match (control characters replaced by spaces; `…` marks
    /// a cut).
    pub snippet: String,
}

/// The text a frame contributes to the index, if any: text and continuation frames, the
/// inflated message when there is one, valid UTF-8 only (compressed bytes are never indexed).
pub(crate) fn indexable<'a>(
    opcode: Opcode,
    rsv1: bool,
    payload: &'a [u8],
    inflated: Option<&'a [u8]>,
) -> Option<&'a str> {
    if !matches!(opcode, Opcode::Text | Opcode::Continuation) {
        return None;
    }
    let shown = match inflated {
        Some(bytes) => bytes,
        None if rsv1 => return None,
        None => payload,
    };
    let cut = &shown[..shown.len().min(INDEX_BYTES)];
    let text = match std::str::from_utf8(cut) {
        Ok(t) => t,
        // Cut inside a character (at the cap, or a truncated payload): keep the whole ones.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&cut[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    (!text.trim().is_empty()).then_some(text)
}

/// Frames read per query while indexing.
const INDEX_CHUNK: i64 = 512;

/// Indexes frames above the watermark in id order — at most `max_frames`, and stopping at
/// `deadline` — then moves the watermark, inside the caller's transaction. Returns whether
/// frames may remain.
pub(crate) fn index_pending(
    tx: &Connection,
    max_frames: usize,
    deadline: Option<Instant>,
) -> Result<bool, StoreError> {
    let start: i64 = tx
        .prepare_cached("SELECT indexed_upto FROM fts_progress WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let mut select = tx.prepare_cached(
        "SELECT id, opcode, flags, sockscope_payload(session_id, payload, poff, plen), inflated \
         FROM frames WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut insert = tx.prepare_cached("INSERT INTO frames_fts (rowid, body) VALUES (?1, ?2)")?;
    let mut last = start;
    let mut done = 0usize;
    let more = loop {
        let mut rows = select.query(params![last, INDEX_CHUNK])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            n += 1;
            last = row.get(0)?;
            let opcode = Opcode::from_u8(u8::try_from(row.get::<_, i64>(1)?).unwrap_or(0xFF));
            let rsv1 = row.get::<_, i64>(2)? & crate::model::FLAG_RSV1 != 0;
            let blob = |i: usize| -> Result<Option<&[u8]>, StoreError> {
                row.get_ref(i)?
                    .as_blob_or_null()
                    .map_err(|e| StoreError::Corrupt(format!("frame {last}: {e}")))
            };
            let payload = blob(3)?.unwrap_or_default();
            let inflated = blob(4)?;
            if let Some(text) = indexable(opcode, rsv1, payload, inflated) {
                insert.execute(params![last, text])?;
            }
        }
        done += n;
        if n < INDEX_CHUNK as usize {
            break false;
        }
        if done >= max_frames || deadline.is_some_and(|d| Instant::now() >= d) {
            break true;
        }
    };
    if last != start {
        tx.prepare_cached("UPDATE fts_progress SET indexed_upto = ?1 WHERE id = 1")?
            .execute(params![last])?;
    }
    Ok(more)
}

/// Turns what the user typed into an FTS5 query that cannot be a syntax error: every
/// whitespace-separated word becomes a quoted phrase (quotes doubled) matched as a prefix,
/// and all of them must match. Words without a letter or digit are dropped (the tokenizer
/// would drop them too). Returns the query and the words (for snippets).
pub(crate) fn fts_query(input: &str) -> Result<(String, Vec<String>), StoreError> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(StoreError::Invalid(format!(
            "the search is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let words: Vec<String> = input
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(str::to_owned)
        .collect();
    if words.is_empty() {
        return Err(StoreError::Invalid(
            "nothing to search for: type a word with letters or digits".into(),
        ));
    }
    let query = words
        .iter()
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ");
    Ok((query, words))
}

pub(crate) fn search(
    c: &Connection,
    input: &str,
    limit: usize,
) -> Result<Vec<SearchHit>, StoreError> {
    let (query, words) = fts_query(input)?;
    let limit = i64::try_from(limit.min(MAX_SEARCH_RESULTS)).unwrap_or(0);
    let mut stmt = c.prepare_cached(concat!(
        "SELECT f.session_id, f.seq, f.connection_id, f.ts_us, \
                COALESCE(substr(f.inflated, 1, ?3), \
                sockscope_payload(f.session_id, f.payload, f.poff, f.plen, ?3)) \
         FROM frames_fts JOIN frames f ON f.id = frames_fts.rowid \
         WHERE frames_fts MATCH ?1 AND f.session_id",
        not_purging!(),
        " ORDER BY frames_fts.rowid DESC LIMIT ?2"
    ))?;
    let mut rows = stmt
        .query(params![query, limit, SNIPPET_SOURCE_BYTES])
        .map_err(|e| StoreError::Invalid(format!("search failed: {e}")))?;
    let mut out = Vec::new();
    while let Some(r) = rows
        .next()
        .map_err(|e| StoreError::Invalid(format!("search failed: {e}")))?
    {
        let head: Option<Vec<u8>> = r.get(4)?;
        let text = String::from_utf8_lossy(head.as_deref().unwrap_or_default());
        out.push(SearchHit {
            session: SessionId(r.get(0)?),
            seq: r.get(1)?,
            connection: ConnectionId(r.get(2)?),
            ts_us: r.get(3)?,
            snippet: snippet(&text, &words),
        });
    }
    Ok(out)
}

/// Byte offset of the first case-insensitive (ASCII) occurrence of any of `words`.
fn first_match(text: &str, words: &[String]) -> Option<(usize, usize)> {
    let hay = text.as_bytes();
    words
        .iter()
        .filter_map(|w| {
            // The tokenizer drops punctuation: look for the word's first alphanumeric run.
            let needle = w
                .split(|c: char| !c.is_alphanumeric())
                .find(|p| !p.is_empty())?
                .as_bytes();
            hay.windows(needle.len())
                .position(|win| win.eq_ignore_ascii_case(needle))
                .map(|at| (at, needle.len()))
        })
        .min()
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

pub(crate) fn snippet(text: &str, words: &[String]) -> String {
    let (at, len) = first_match(text, words).unwrap_or((0, 0));
    let before = text[..at]
        .char_indices()
        .rev()
        .nth(SNIPPET_BEFORE.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    let start = floor_boundary(text, before);
    let after_match = ceil_boundary(text, at + len);
    let end = text[after_match..]
        .char_indices()
        .nth(SNIPPET_AFTER)
        .map_or(text.len(), |(i, _)| after_match + i);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(
        text[start..end]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    if end < text.len() {
        out.push('…');
    }
    out
}

impl Store {
    /// Full-text search over the text payloads of every session, newest frames first. The
    /// query is plain words (all must match, each as a prefix); FTS5 syntax is not
    /// interpreted, so no input makes the query fail.
    /// Frames still being indexed are indexed first (by the writer), so every committed frame
    /// is searched. Call from a blocking context.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        fts_query(query)?;
        self.catch_up_index_blocking()?;
        self.with_reader(|c| search(c, query, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_quoted() {
        let (q, w) = fts_query(r#"he"llo  OR NEAR(x) *"#).unwrap_or_default();
        assert_eq!(q, r#""he""llo"* "OR"* "NEAR(x)"*"#);
        assert_eq!(w.len(), 3);
        assert!(fts_query("  {} ** ").is_err());
        assert!(fts_query("").is_err());
    }

    #[test]
    fn snippets_cut_around_the_match() {
        let text = format!("{}needle{}", "a".repeat(100), "b\n".repeat(100));
        let s = snippet(&text, &["NEEDLE".into()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("needle"));
        assert!(!s.contains('\n'));
        assert_eq!(snippet("short é text", &["zzz".into()]), "short é text");
    }

    #[test]
    fn only_text_is_indexed() {
        assert_eq!(
            indexable(Opcode::Text, false, b"hi there", None),
            Some("hi there")
        );
        assert_eq!(indexable(Opcode::Binary, false, b"hi", None), None);
        assert_eq!(indexable(Opcode::Text, true, b"\x01\x02", None), None);
        assert_eq!(
            indexable(Opcode::Text, true, b"\x01", Some(b"yes")),
            Some("yes")
        );
        assert_eq!(indexable(Opcode::Text, false, b"\xff\xfe", None), None);
        assert_eq!(
            indexable(
                Opcode::Text,
                false,
                "ab\u{e9}".as_bytes()[..3].as_ref(),
                None
            ),
            Some("ab")
        );
    }
}
