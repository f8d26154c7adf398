//! Importing sessions from files: the lossless JSONL format (DESIGN.md §5) and HAR (see
//! `har.rs`). Files are hostile input:
//!
//! * the whole file is parsed and checked first, into a [`ParsedImport`] bounded by
//!   [`ImportLimits`] (file size, line length, decoded payload size, frame count); sizes a
//!   file claims (`len`) are checked against what it carries, never used to allocate;
//! * errors name the line and the field (`line 7: field "opcode": unknown opcode "foo"`);
//! * unknown fields (and unknown JSONL line types) are ignored; names, URLs and headers are
//!   stored as the plain text they are;
//! * the parsed import then goes to the writer thread as one operation, applied inside one
//!   savepoint: a new session with every connection and frame, or nothing at all.

use crate::model::*;
use crate::payloads::PayloadWriter;
use crate::writer::WriteOp;
use crate::{Store, StoreError};
use base64::Engine as _;
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{Map, Value};
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Size caps of an import. The defaults suit every file Sockscope writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    pub max_file_bytes: u64,
    pub max_line_bytes: usize,
    /// Per payload (and per inflated message), after base64 decoding.
    pub max_payload_bytes: usize,
    pub max_frames: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_file_bytes: 1 << 30,
            max_line_bytes: 64 << 20,
            max_payload_bytes: 64 << 20,
            max_frames: 10_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    Jsonl,
    Har,
}

impl ImportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Jsonl => "jsonl",
            ImportFormat::Har => "har",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportPhase {
    /// Reading and checking the file (nothing written yet).
    Reading,
    /// Writing the checked session in one transaction.
    Writing,
}

/// Reported while importing: about every MiB read, then once when writing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportProgress {
    pub phase: ImportPhase,
    pub bytes_read: u64,
    /// The file's size, when known.
    pub total_bytes: Option<u64>,
    pub frames: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Stored as the session's `imported_from` (a file name, not a path); HAR sessions are
    /// named after it.
    pub source_name: Option<String>,
    /// Size of the input, for progress.
    pub total_bytes: Option<u64>,
    pub limits: ImportLimits,
}

/// What [`Store::import_file`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub session: SessionId,
    pub format: ImportFormat,
    pub connections: usize,
    pub frames: u64,
}

/// A checked session, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedImport {
    pub name: String,
    pub kind: SessionKind,
    pub created_at_us: i64,
    pub notes: String,
    pub tags: Vec<String>,
    pub imported_from: Option<String>,
    pub connections: Vec<ImportConn>,
    pub frames: Vec<ImportFrame>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportConn {
    pub url: String,
    pub state: ConnState,
    pub request_headers: Headers,
    pub response_status: Option<u16>,
    pub response_headers: Headers,
    pub subprotocol: Option<String>,
    pub created_at_us: i64,
    pub opened_at_us: Option<i64>,
    pub closed_at_us: Option<i64>,
    pub close_code: Option<u16>,
    pub close_reason: Option<String>,
    pub closed_by: Option<ClosedBy>,
    pub error: Option<String>,
    pub insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportFrame {
    /// Index into [`ParsedImport::connections`].
    pub conn: usize,
    pub ts_us: i64,
    pub dir: Direction,
    pub opcode: Opcode,
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub injected: bool,
    pub masked: bool,
    pub truncated: bool,
    pub len: u64,
    pub payload: Vec<u8>,
    pub note: Option<String>,
    pub inflated: Option<Vec<u8>>,
    pub marks: sockscope_proto::InterceptMarks,
    /// The masking key as seen on the wire (`"mask_key": "8 hex digits"`).
    pub mask_key: Option<[u8; 4]>,
}

pub(crate) fn import_error(
    line: Option<u64>,
    field: Option<&str>,
    message: impl Into<String>,
) -> StoreError {
    StoreError::Import {
        line,
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn mib(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

// ---------------------------------------------------------------------------------------
// Applying (writer thread)
// ---------------------------------------------------------------------------------------

/// Writes a parsed import inside a savepoint; returns the new session and its last `seq`.
/// Payloads go where captured ones do ([`PayloadWriter::place`]: the larger ones to the new
/// session's payload file); an import that fails takes back what it appended there.
pub(crate) fn apply_isolated(
    tx: &Connection,
    import: ParsedImport,
    payloads: &mut PayloadWriter,
) -> Result<Result<(SessionId, i64), StoreError>, StoreError> {
    let mut session = None;
    let result = crate::organize::isolated(tx, || apply(tx, import, payloads, &mut session));
    if let (Ok(Err(_)), Some(session)) = (&result, session) {
        payloads.discard(session.0);
    }
    result
}

fn apply(
    tx: &Connection,
    p: ParsedImport,
    payloads: &mut PayloadWriter,
    session_out: &mut Option<SessionId>,
) -> Result<(SessionId, i64), StoreError> {
    let frame_count = i64::try_from(p.frames.len()).unwrap_or(i64::MAX);
    let bytes = p.frames.iter().fold(0i64, |acc, f| {
        acc.saturating_add(i64::try_from(f.len).unwrap_or(i64::MAX))
    });
    let insecure = p.connections.iter().any(|c| c.insecure);
    let tags =
        serde_json::to_string(&p.tags).map_err(|e| StoreError::Invalid(format!("tags: {e}")))?;
    tx.prepare_cached(
        "INSERT INTO sessions (name, kind, created_at_us, notes, frame_count, insecure, tags, \
         imported_from, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        p.name,
        p.kind.as_str(),
        p.created_at_us,
        p.notes,
        frame_count,
        insecure,
        tags,
        p.imported_from,
        bytes
    ])?;
    let session = SessionId(tx.last_insert_rowid());
    *session_out = Some(session);

    let mut ids = Vec::with_capacity(p.connections.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO connections (session_id, url, state, request_headers, response_status, \
             response_headers, subprotocol, created_at_us, opened_at_us, closed_at_us, close_code, \
             close_reason, closed_by, error, insecure) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for c in &p.connections {
            let req = serde_json::to_string(&c.request_headers)
                .map_err(|e| StoreError::Invalid(format!("headers: {e}")))?;
            let resp = serde_json::to_string(&c.response_headers)
                .map_err(|e| StoreError::Invalid(format!("headers: {e}")))?;
            stmt.execute(params![
                session.0,
                c.url,
                c.state.as_str(),
                req,
                c.response_status,
                resp,
                c.subprotocol,
                c.created_at_us,
                c.opened_at_us,
                c.closed_at_us,
                c.close_code,
                c.close_reason,
                c.closed_by.map(ClosedBy::as_str),
                c.error,
                c.insecure
            ])?;
            ids.push(ConnectionId(tx.last_insert_rowid()));
        }
    }

    let mut stmt = tx.prepare_cached(
        "INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, \
         payload, note, inflated, mask_key, poff, plen) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut seq = 0i64;
    for mut f in p.frames {
        seq += 1;
        let conn = ids
            .get(f.conn)
            .ok_or_else(|| StoreError::Invalid("frame of an unknown connection".into()))?;
        let flags = FrameBits {
            fin: f.fin,
            rsv1: f.rsv1,
            rsv2: f.rsv2,
            rsv3: f.rsv3,
            injected: f.injected,
            masked: f.masked,
            truncated: f.truncated,
            invalid: f.note.is_some(),
            marks: f.marks,
        }
        .pack();
        // Where the payload goes: the session's payload file, or the row.
        let payload = bytes::Bytes::from(std::mem::take(&mut f.payload));
        let file = payloads.place(session.0, &payload)?;
        let in_row: &[u8] = if file.is_some() { &[] } else { &payload };
        stmt.execute(params![
            session.0,
            seq,
            conn.0,
            f.ts_us,
            dir_to_i64(f.dir),
            i64::from(f.opcode.to_u8()),
            flags,
            i64::try_from(f.len).unwrap_or(i64::MAX),
            in_row,
            f.note,
            f.inflated.as_deref(),
            f.mask_key.map(|k| i64::from(u32::from_be_bytes(k))),
            file.map(|f| f.0),
            file.map(|f| f.1),
        ])?;
    }
    // Indexed for search by the writer afterwards, like captured frames.
    Ok((session, seq))
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reads lines with a cap on each line and on the whole input.
struct Lines<'a> {
    inner: &'a mut dyn BufRead,
    limits: ImportLimits,
    read: u64,
    line: u64,
}

impl Lines<'_> {
    /// The next line without its `\n` (and `\r`); `false` at the end.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<bool, StoreError> {
        buf.clear();
        self.line += 1;
        let line = self.line;
        loop {
            let avail = self
                .inner
                .fill_buf()
                .map_err(|e| import_error(Some(line), None, format!("cannot read: {e}")))?;
            if avail.is_empty() {
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                return Ok(!buf.is_empty());
            }
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            let content = if done { take - 1 } else { take };
            if buf.len() + content > self.limits.max_line_bytes {
                return Err(import_error(
                    Some(line),
                    None,
                    format!(
                        "the line is longer than {}",
                        mib(self.limits.max_line_bytes as u64)
                    ),
                ));
            }
            buf.extend_from_slice(&avail[..content]);
            self.inner.consume(take);
            self.read += take as u64;
            if self.read > self.limits.max_file_bytes {
                return Err(import_error(
                    None,
                    None,
                    format!(
                        "the file is larger than {}",
                        mib(self.limits.max_file_bytes)
                    ),
                ));
            }
            if done {
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                return Ok(true);
            }
        }
    }
}

/// One parsed JSONL line, with typed accessors whose errors name the line and field.
struct Obj<'a> {
    line: u64,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn err(&self, field: &str, message: impl Into<String>) -> StoreError {
        import_error(Some(self.line), Some(field), message)
    }

    /// The field, treating `null` as absent.
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn require(&self, field: &str) -> Result<&'a Value, StoreError> {
        self.get(field).ok_or_else(|| self.err(field, "missing"))
    }

    fn wrong(&self, field: &str, expected: &str, v: &Value) -> StoreError {
        self.err(field, format!("expected {expected}, found {}", describe(v)))
    }

    fn opt_i64(&self, field: &str) -> Result<Option<i64>, StoreError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| match v.as_u64() {
                Some(n) => self.err(field, format!("{n} is too large")),
                None => self.wrong(field, "an integer", v),
            }),
        }
    }

    fn i64(&self, field: &str) -> Result<i64, StoreError> {
        self.opt_i64(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn opt_u16(&self, field: &str) -> Result<Option<u16>, StoreError> {
        self.opt_i64(field)?
            .map(|n| {
                u16::try_from(n)
                    .map_err(|_| self.err(field, format!("{n} is out of range (0-65535)")))
            })
            .transpose()
    }

    fn opt_str(&self, field: &str) -> Result<Option<&'a str>, StoreError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(field, "a string", v)),
        }
    }

    fn str(&self, field: &str) -> Result<&'a str, StoreError> {
        self.opt_str(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, StoreError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(field, "true or false", v)),
        }
    }

    fn bool(&self, field: &str) -> Result<bool, StoreError> {
        self.opt_bool(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }

    fn flag(&self, field: &str) -> Result<bool, StoreError> {
        Ok(self.opt_bool(field)?.unwrap_or(false))
    }

    fn headers(&self, field: &str) -> Result<Headers, StoreError> {
        let Some(v) = self.get(field) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.wrong(field, "an array of [name, value] pairs", v));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(self.err(
                    &format!("{field}[{i}]"),
                    format!(
                        "expected a [name, value] pair of strings, found {}",
                        describe(item)
                    ),
                )),
            })
            .collect()
    }

    /// A payload given as `text_field` (UTF-8 text) or `b64_field` (base64), at most one.
    fn payload(
        &self,
        text_field: &str,
        b64_field: &str,
        limits: &ImportLimits,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let text = self.opt_str(text_field)?;
        let b64 = self.opt_str(b64_field)?;
        let cap = limits.max_payload_bytes;
        match (text, b64) {
            (Some(_), Some(_)) => Err(self.err(
                b64_field,
                format!("a frame has either {text_field:?} or {b64_field:?}, not both"),
            )),
            (Some(t), None) => {
                if t.len() > cap {
                    return Err(self.err(text_field, format!("larger than {}", mib(cap as u64))));
                }
                Ok(Some(t.as_bytes().to_vec()))
            }
            (None, Some(b)) => decode_base64(b, cap)
                .map(Some)
                .map_err(|m| self.err(b64_field, m)),
            (None, None) => Ok(None),
        }
    }
}

/// Decodes standard base64 (padding optional), refusing more than `cap` decoded bytes before
/// decoding anything.
pub(crate) fn decode_base64(b: &str, cap: usize) -> Result<Vec<u8>, String> {
    // Valid base64 of n characters decodes to at least 3n/4 - 2 bytes.
    if (b.len() / 4).saturating_mul(3).saturating_sub(2) > cap {
        return Err(format!("larger than {} once decoded", mib(cap as u64)));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let out = engine
        .decode(b)
        .map_err(|e| format!("invalid base64: {e}"))?;
    if out.len() > cap {
        return Err(format!("larger than {} once decoded", mib(cap as u64)));
    }
    Ok(out)
}

/// Parses the time a JSONL header may give as RFC 3339.
pub(crate) fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// A connection being read, before its close line.
struct ConnSlot {
    conn: ImportConn,
    /// Line of the close line, once seen.
    closed_on: Option<u64>,
}

pub(crate) fn parse_jsonl(
    reader: &mut dyn BufRead,
    opts: &ImportOptions,
    progress: &dyn Fn(ImportProgress),
) -> Result<ParsedImport, StoreError> {
    let limits = opts.limits;
    let mut lines = Lines {
        inner: reader,
        limits,
        read: 0,
        line: 0,
    };
    let mut buf = Vec::new();
    let report = |read: u64, frames: u64| {
        progress(ImportProgress {
            phase: ImportPhase::Reading,
            bytes_read: read,
            total_bytes: opts.total_bytes,
            frames,
        })
    };

    // Header.
    let header = loop {
        if !lines.next(&mut buf)? {
            return Err(import_error(None, None, "the file is empty"));
        }
        let mut bytes = buf.as_slice();
        if lines.line == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        break parse_line(bytes, lines.line)?;
    };
    let h = Obj {
        line: lines.line,
        map: &header,
    };
    match h.str("format")? {
        crate::export::FORMAT => {}
        other => {
            return Err(h.err(
                "format",
                format!("not a Sockscope session (format {other:?})"),
            ))
        }
    }
    let version = h.i64("version")?;
    if version != crate::export::VERSION {
        return Err(h.err(
            "version",
            format!(
                "version {version} is not supported (this build reads version {})",
                crate::export::VERSION
            ),
        ));
    }
    let session = match h.require("session")? {
        Value::Object(m) => m,
        v => return Err(h.wrong("session", "an object", v)),
    };
    let s = Obj {
        line: h.line,
        map: session,
    };
    let name = s.str("name")?.to_owned();
    let kind: SessionKind = s
        .str("kind")?
        .parse()
        .map_err(|e: String| s.err("kind", e))?;
    let created_at_us = match s.opt_i64("created_at_us")? {
        Some(t) => t,
        None => s
            .opt_str("created_at")?
            .map(|t| {
                parse_rfc3339_us(t)
                    .ok_or_else(|| s.err("created_at", format!("not an RFC 3339 time: {t:?}")))
            })
            .transpose()?
            .unwrap_or_else(sockscope_proto::now_us),
    };
    let notes = s.opt_str("notes")?.unwrap_or_default().to_owned();
    crate::organize::check_notes(&notes).map_err(|e| s.err("notes", e.to_string()))?;
    let tags: Vec<String> = match s.get("tags") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(t) => Ok(t.clone()),
                v => Err(s.err(
                    &format!("tags[{i}]"),
                    format!("expected a string, found {}", describe(v)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(s.wrong("tags", "an array of strings", v)),
    };
    let tags = crate::organize::clean_tags(&tags).map_err(|e| s.err("tags", e.to_string()))?;

    let mut conns: Vec<ConnSlot> = Vec::new();
    let mut by_id: HashMap<i64, usize> = HashMap::new();
    let mut frames: Vec<ImportFrame> = Vec::new();
    let mut last_seq: Option<i64> = None;
    let mut reported = 0u64;

    while lines.next(&mut buf)? {
        let line = lines.line;
        if lines.read - reported >= 1 << 20 {
            reported = lines.read;
            report(lines.read, frames.len() as u64);
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = parse_line(&buf, line)?;
        let o = Obj { line, map: &value };
        match o.str("type")? {
            "connection" => {
                let id = o.i64("id")?;
                if by_id.contains_key(&id) {
                    return Err(o.err("id", format!("connection {id} appears twice")));
                }
                let opened_at_us = o.opt_i64("opened_at_us")?;
                let response_status = o.opt_u16("response_status")?;
                let conn = ImportConn {
                    url: o.str("url")?.to_owned(),
                    state: if opened_at_us.is_some() {
                        ConnState::Open
                    } else {
                        ConnState::Connecting
                    },
                    request_headers: o.headers("request_headers")?,
                    response_status,
                    response_headers: o.headers("response_headers")?,
                    subprotocol: o.opt_str("subprotocol")?.map(str::to_owned),
                    created_at_us: o
                        .opt_i64("created_at_us")?
                        .or(opened_at_us)
                        .unwrap_or(created_at_us),
                    opened_at_us,
                    closed_at_us: None,
                    close_code: None,
                    close_reason: None,
                    closed_by: None,
                    error: None,
                    insecure: o.flag("insecure")?,
                };
                by_id.insert(id, conns.len());
                conns.push(ConnSlot {
                    conn,
                    closed_on: None,
                });
            }
            "frame" => {
                let conn = known_connection(&o, "connection", &by_id)?;
                if let Some(closed) = conns.get(conn).and_then(|c| c.closed_on) {
                    return Err(o.err(
                        "connection",
                        format!("a frame after the connection's close (line {closed})"),
                    ));
                }
                let seq = o.i64("seq")?;
                if let Some(prev) = last_seq {
                    if seq <= prev {
                        return Err(o.err(
                            "seq",
                            format!("{seq} does not follow {prev} (frames must be in seq order)"),
                        ));
                    }
                }
                last_seq = Some(seq);
                if frames.len() as u64 >= limits.max_frames {
                    return Err(o.err("seq", format!("more than {} frames", limits.max_frames)));
                }
                frames.push(parse_frame(&o, conn, &limits)?);
            }
            "close" => {
                let conn = known_connection(&o, "connection", &by_id)?;
                let Some(slot) = conns.get_mut(conn) else {
                    return Err(o.err("connection", "unknown connection"));
                };
                if let Some(closed) = slot.closed_on {
                    return Err(o.err(
                        "connection",
                        format!("the connection was already closed on line {closed}"),
                    ));
                }
                let by: ClosedBy = o.str("by")?.parse().map_err(|e: String| o.err("by", e))?;
                let error = o.opt_str("error")?.map(str::to_owned);
                let c = &mut slot.conn;
                c.state = if error.is_some() {
                    ConnState::Failed
                } else {
                    ConnState::Closed
                };
                c.closed_at_us = o.opt_i64("ts_us")?;
                c.close_code = o.opt_u16("code")?;
                c.close_reason = o.opt_str("reason")?.map(str::to_owned);
                c.closed_by = Some(by);
                c.error = error;
                slot.closed_on = Some(line);
            }
            // Line types of later versions are skipped, like unknown fields.
            _ => {}
        }
    }
    report(lines.read, frames.len() as u64);
    Ok(ParsedImport {
        name,
        kind,
        created_at_us,
        notes,
        tags,
        imported_from: opts.source_name.clone(),
        connections: conns.into_iter().map(|c| c.conn).collect(),
        frames,
    })
}

fn parse_line(bytes: &[u8], line: u64) -> Result<Map<String, Value>, StoreError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(v) => Err(import_error(
            Some(line),
            None,
            format!("expected a JSON object, found {}", describe(&v)),
        )),
        Err(e) => {
            let text = e.to_string();
            let at = format!(" at line {} column {}", e.line(), e.column());
            let msg = if e.is_eof() {
                "not valid JSON: the line ends too early (truncated?)".to_owned()
            } else {
                format!(
                    "not valid JSON: {} (column {})",
                    text.strip_suffix(&at).unwrap_or(&text),
                    e.column()
                )
            };
            Err(import_error(Some(line), None, msg))
        }
    }
}

fn known_connection(
    o: &Obj<'_>,
    field: &str,
    by_id: &HashMap<i64, usize>,
) -> Result<usize, StoreError> {
    let id = o.i64(field)?;
    by_id.get(&id).copied().ok_or_else(|| {
        o.err(
            field,
            format!("unknown connection {id} (no connection line before this one)"),
        )
    })
}

fn parse_frame(o: &Obj<'_>, conn: usize, limits: &ImportLimits) -> Result<ImportFrame, StoreError> {
    let dir: Direction = o.str("dir")?.parse().map_err(|_| {
        o.err(
            "dir",
            format!("unknown direction {:?}", o.str("dir").unwrap_or_default()),
        )
    })?;
    let name = o.str("opcode")?;
    let opcode: Opcode = name
        .parse()
        .ok()
        // "reserved-1" would be text: only names that come back as themselves.
        .filter(|op: &Opcode| Opcode::from_u8(op.to_u8()) == *op)
        .ok_or_else(|| o.err("opcode", format!("unknown opcode {name:?}")))?;
    let len = o.i64("len")?;
    let len = u64::try_from(len).map_err(|_| o.err("len", format!("{len} is negative")))?;
    let payload = o
        .payload("text", "base64", limits)?
        .ok_or_else(|| o.err("base64", "missing (a frame has \"text\" or \"base64\")"))?;
    let truncated = o.flag("truncated")?;
    let carried = payload.len() as u64;
    if truncated && len < carried {
        return Err(o.err(
            "len",
            format!("{len} is less than the {carried} bytes of payload"),
        ));
    }
    if !truncated && len != carried {
        return Err(o.err(
            "len",
            format!(
                "{len} does not match the {carried} bytes of payload (the frame is not marked truncated)"
            ),
        ));
    }
    Ok(ImportFrame {
        conn,
        ts_us: o.i64("ts_us")?,
        dir,
        opcode,
        fin: o.bool("fin")?,
        rsv1: o.bool("rsv1")?,
        rsv2: o.flag("rsv2")?,
        rsv3: o.flag("rsv3")?,
        injected: o.flag("injected")?,
        masked: o.flag("masked")?,
        mask_key: o
            .opt_str("mask_key")?
            .map(|k| {
                Some(k)
                    .filter(|k| k.len() == 8 && k.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|k| u32::from_str_radix(k, 16).ok())
                    .map(u32::to_be_bytes)
                    .ok_or_else(|| o.err("mask_key", format!("{k:?} is not 8 hex digits")))
            })
            .transpose()?,
        truncated,
        len,
        payload,
        note: o.opt_str("issues")?.map(str::to_owned),
        inflated: o.payload("inflated_text", "inflated_base64", limits)?,
        marks: sockscope_proto::InterceptMarks {
            held: o.flag("held")?,
            edited: o.flag("edited")?,
            dropped: o.flag("dropped")?,
            replaced: o.flag("replaced")?,
        },
    })
}

// ---------------------------------------------------------------------------------------
// Format detection and the Store API
// ---------------------------------------------------------------------------------------

/// How much of a file is looked at to tell JSONL from HAR.
const SNIFF_BYTES: usize = 64 * 1024;

/// JSONL when the first line is a JSON object with a `format` key (what export writes);
/// otherwise HAR.
pub(crate) fn detect(prefix: &[u8]) -> Result<ImportFormat, StoreError> {
    let p = prefix.strip_prefix(b"\xef\xbb\xbf").unwrap_or(prefix);
    let start = p
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(p.len());
    let p = &p[start..];
    match p.first() {
        None => return Err(import_error(None, None, "the file is empty")),
        Some(b'{') => {}
        Some(_) => {
            return Err(import_error(
                Some(1),
                None,
                "not a Sockscope JSONL session or a HAR file (it does not start with '{')",
            ))
        }
    }
    let first = match p.iter().position(|&b| b == b'\n') {
        Some(end) => &p[..end],
        None => p,
    };
    match serde_json::from_slice::<Value>(first) {
        Ok(Value::Object(m)) if m.contains_key("format") => Ok(ImportFormat::Jsonl),
        // A broken header line as export writes it: let the JSONL reader say what is wrong.
        Err(_) if first.starts_with(br#"{"format""#) => Ok(ImportFormat::Jsonl),
        _ => Ok(ImportFormat::Har),
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

impl Store {
    /// Sends a checked import to the writer and waits for its session.
    fn submit_import(&self, import: ParsedImport) -> Result<SessionId, StoreError> {
        let (reply, rx) = flume::bounded(1);
        self.inner
            .tx
            .send(WriteOp::Import {
                import: Some(Box::new(import)),
                reply,
            })
            .map_err(|_| StoreError::WriterGone)?;
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    fn import_parsed(
        &self,
        parsed: ParsedImport,
        opts: &ImportOptions,
        read: u64,
        progress: &dyn Fn(ImportProgress),
    ) -> Result<SessionId, StoreError> {
        progress(ImportProgress {
            phase: ImportPhase::Writing,
            bytes_read: read,
            total_bytes: opts.total_bytes,
            frames: parsed.frames.len() as u64,
        });
        self.submit_import(parsed)
    }

    /// Imports a session in the JSONL format (DESIGN.md §5) as a new session: connection ids
    /// and seqs are renumbered, order and everything else kept. Blocking (parses the whole
    /// input, then waits for the writer): call it from a blocking context. On any error
    /// nothing is written.
    pub fn import_jsonl(
        &self,
        reader: &mut dyn BufRead,
        opts: &ImportOptions,
        progress: &dyn Fn(ImportProgress),
    ) -> Result<SessionId, StoreError> {
        let parsed = parse_jsonl(reader, opts, progress)?;
        self.import_parsed(parsed, opts, opts.total_bytes.unwrap_or(0), progress)
    }

    /// Imports the WebSocket connections of a HAR file (Chrome DevTools, mitmproxy, HTTP
    /// Toolkit, Sockscope) as one new session. Blocking; nothing is written on error.
    pub fn import_har(
        &self,
        reader: &mut dyn Read,
        opts: &ImportOptions,
        progress: &dyn Fn(ImportProgress),
    ) -> Result<SessionId, StoreError> {
        let parsed = crate::har::parse(reader, opts, progress)?;
        self.import_parsed(parsed, opts, opts.total_bytes.unwrap_or(0), progress)
    }

    /// Imports a file, JSONL or HAR (told apart by content). The session's `imported_from`
    /// is the file's name. Blocking.
    pub fn import_file(
        &self,
        path: &Path,
        limits: ImportLimits,
        progress: &dyn Fn(ImportProgress),
    ) -> Result<ImportSummary, StoreError> {
        let io = |e: std::io::Error| StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > limits.max_file_bytes {
            return Err(import_error(
                None,
                None,
                format!(
                    "the file is {size} bytes, larger than {}",
                    mib(limits.max_file_bytes)
                ),
            ));
        }
        let opts = ImportOptions {
            source_name: file_name(path),
            total_bytes: Some(size),
            limits,
        };
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let prefix = reader.fill_buf().map_err(io)?;
        let format = detect(&prefix[..prefix.len().min(SNIFF_BYTES)])?;
        let parsed = match format {
            ImportFormat::Jsonl => parse_jsonl(&mut reader, &opts, progress)?,
            ImportFormat::Har => crate::har::parse(&mut reader, &opts, progress)?,
        };
        let connections = parsed.connections.len();
        let frames = parsed.frames.len() as u64;
        let session = self.import_parsed(parsed, &opts, size, progress)?;
        Ok(ImportSummary {
            session,
            format,
            connections,
            frames,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParsedImport, StoreError> {
        let mut r = text.as_bytes();
        parse_jsonl(&mut r, &ImportOptions::default(), &|_| {})
    }

    const HEADER: &str = r#"{"format":"sockscope-session","version":1,"session":{"id":3,"name":"n","kind":"proxy","created_at_us":5}}"#;

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect(format!("{HEADER}\n{{").as_bytes()).unwrap(),
            ImportFormat::Jsonl
        );
        assert_eq!(
            detect(b"\xef\xbb\xbf  {\n  \"log\": {").unwrap(),
            ImportFormat::Har
        );
        assert_eq!(
            detect(br#"{"log":{"entries":[]}}"#).unwrap(),
            ImportFormat::Har
        );
        assert!(detect(b"hello").is_err());
        assert!(detect(b"  \n").is_err());
    }

    #[test]
    fn errors_name_line_and_field() {
        let text = format!(
            "{HEADER}\n{}\n{}\n",
            r#"{"type":"connection","id":9,"url":"ws://x/"}"#,
            r#"{"type":"frame","connection":9,"seq":1,"ts_us":1,"dir":"client","opcode":"foo","fin":true,"rsv1":false,"len":0,"text":""}"#
        );
        let e = parse(&text).unwrap_err().to_string();
        assert_eq!(e, r#"line 3: field "opcode": unknown opcode "foo""#);
        let e = parse(&text.replace("\"foo\"", "\"reserved-1\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown opcode"), "{e}");
        let e = parse(
            &text
                .replace("\"foo\"", "\"text\"")
                .replace("\"fin\":true", "\"fin\":1"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            r#"line 3: field "fin": expected true or false, found an integer"#
        );
    }

    #[test]
    fn base64_caps_before_decoding() {
        assert!(decode_base64(&"A".repeat(4000), 100).is_err());
        assert_eq!(decode_base64("aGk=", 2).unwrap(), b"hi");
        assert_eq!(decode_base64("aGk", 2).unwrap(), b"hi");
        assert!(decode_base64("aGk=", 1).is_err());
        assert!(decode_base64("a*k=", 10).is_err());
    }

    #[test]
    fn long_lines_are_refused() {
        let opts = ImportOptions {
            limits: ImportLimits {
                max_line_bytes: 200,
                ..ImportLimits::default()
            },
            ..ImportOptions::default()
        };
        let text = format!("{HEADER}\n{}\n", "x".repeat(500));
        let e = parse_jsonl(&mut text.as_bytes(), &opts, &|_| {})
            .unwrap_err()
            .to_string();
        assert_eq!(e, "line 2: the line is longer than 200 bytes");
    }
}
