//! HAR 1.2 in Chrome DevTools' shape (DESIGN.md §5).
//!
//! **Export**: one entry per WebSocket connection, in connection order, as Chrome writes
//! them: `_resourceType: "websocket"`, `request` (GET, the `ws://`/`wss://` URL, the handshake
//! headers), `response` (the handshake status and headers; status 0 and `_error` for a
//! connection that failed), `startedDateTime` (connection start), `time` (ms until it ended),
//! `timings` (`wait` = handshake time) and `_webSocketMessages: [{type: "send"|"receive",
//! time: epoch seconds, opcode: 1|2, data}]`. Like Chrome, only data messages are written:
//! fragments are joined into one message (timed when its last fragment was seen),
//! compressed messages are written inflated, binary data is base64, and text that is not
//! valid UTF-8 is written with replacement characters. Pings, pongs and close frames are not
//! messages; how the connection closed goes in `_webSocketClose` (`{code, reason, timestamp}`
//! or `"aborted"`, HTTP Toolkit's extension), and `log._sockscope` keeps the session's name
//! and kind.
//!
//! **Import**: entries with `_resourceType: "websocket"` or `_webSocketMessages` become the
//! connections of one new session; other entries are ignored (a message-less WebSocket
//! entry that repeats another one's URL and start is dropped). Messages of type `error`
//! (Chrome) are skipped; opcode 2 data is base64, other opcodes are text. Each message
//! becomes one whole frame (FIN set). Files from mitmproxy and HTTP Toolkit make a `proxy`
//! session (both are intercepting proxies), others a `client` one, unless `log._sockscope`
//! says otherwise.

use crate::import::{
    decode_base64, import_error, mib, parse_rfc3339_us, ImportConn, ImportFrame, ImportOptions,
    ImportPhase, ImportProgress, ParsedImport,
};
use crate::model::*;
use crate::read;
use crate::{Store, StoreError};
use base64::Engine as _;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sockscope_proto::{ConnectionId, Direction, Opcode, SessionId};
use std::collections::HashSet;
use std::io::{Read, Write};

// ---------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------

/// `2026-11-26T15:20:13.123Z`, as JavaScript's `Date.toJSON()` writes it.
fn har_time(us: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

fn seconds(us: i64) -> f64 {
    us as f64 / 1_000_000.0
}

fn har_headers(h: &Headers) -> Value {
    Value::Array(
        h.iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect(),
    )
}

fn query_string(url: &str) -> Value {
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or_default())
        .unwrap_or_default();
    Value::Array(
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                json!({"name": k, "value": v})
            })
            .collect(),
    )
}

fn write_all(out: &mut dyn Write, bytes: &[u8]) -> Result<(), StoreError> {
    out.write_all(bytes).map_err(StoreError::Write)
}

fn write_json(out: &mut dyn Write, v: &Value) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| StoreError::Write(e.into()))
}

/// Writes the session as HAR: the session, its connections and its last frame are read in
/// one read transaction, each connection's messages up to that frame in slices (see
/// [`crate::read::in_slices`]); a session deleted meanwhile ends the export with an error.
pub fn export(c: &Connection, session: SessionId, out: &mut dyn Write) -> Result<(), StoreError> {
    let (s, conns, upto) = read::in_one_transaction(c, |c| {
        Ok((
            read::session(c, session)?,
            read::connections(c, session)?,
            read::last_seq(c, session)?,
        ))
    })?;
    write_all(out, b"{\"log\":")?;
    let log = json!({
        "version": "1.2",
        "creator": {"name": "Sockscope", "version": env!("CARGO_PKG_VERSION")},
        "pages": [],
        "_sockscope": {"name": s.name, "kind": s.kind},
    });
    // Everything but the closing brace, then the entries streamed one by one.
    let head = serde_json::to_string(&log).map_err(|e| StoreError::Write(e.into()))?;
    write_all(out, head.strip_suffix('}').unwrap_or(&head).as_bytes())?;
    write_all(out, b",\"entries\":[")?;
    for (i, conn) in conns.iter().enumerate() {
        write_all(out, if i == 0 { b"\n" } else { b",\n" })?;
        entry(c, conn, upto, out)?;
    }
    write_all(out, b"\n]}}\n")?;
    // Deleted meanwhile: what was written is not the session.
    read::session(c, session)?;
    out.flush().map_err(StoreError::Write)
}

fn entry(
    c: &Connection,
    conn: &ConnectionInfo,
    upto: i64,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let last_ts: Option<i64> = c
        .prepare_cached(&format!(
            "SELECT ts_us FROM {} AS frames WHERE connection_id = ?1 AND seq <= ?2 \
             ORDER BY seq DESC LIMIT 1",
            crate::connection_index::frames_of("?1")
        ))?
        .query_row(params![conn.id.0, upto], |r| r.get(0))
        .optional()?;
    let start = conn.created_at_us;
    let end = conn
        .closed_at_us
        .into_iter()
        .chain(last_ts)
        .chain(conn.opened_at_us)
        .max()
        .unwrap_or(start);
    let wait = conn
        .opened_at_us
        .map_or(0.0, |t| ms(t.saturating_sub(start)).max(0.0));
    let status = conn.response_status.unwrap_or(0);
    let mut e = Map::new();
    e.insert("_resourceType".into(), json!("websocket"));
    e.insert("cache".into(), json!({}));
    e.insert("connection".into(), json!(conn.id.0.to_string()));
    e.insert(
        "request".into(),
        json!({
            "method": "GET",
            "url": conn.url,
            "httpVersion": "HTTP/1.1",
            "headers": har_headers(&conn.request_headers),
            "queryString": query_string(&conn.url),
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        }),
    );
    e.insert(
        "response".into(),
        json!({
            "status": status,
            "statusText": if status == 101 { "Switching Protocols" } else { "" },
            "httpVersion": if status == 0 { "" } else { "HTTP/1.1" },
            "headers": har_headers(&conn.response_headers),
            "cookies": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_transferSize": 0,
            "_error": conn.error,
        }),
    );
    e.insert("startedDateTime".into(), json!(har_time(start)));
    e.insert("time".into(), json!(ms(end.saturating_sub(start)).max(0.0)));
    e.insert(
        "timings".into(),
        json!({
            "blocked": -1, "dns": -1, "ssl": -1, "connect": -1,
            "send": 0, "wait": wait, "receive": 0, "_blocked_queueing": -1,
        }),
    );
    if let Some(close) = close_value(conn) {
        e.insert("_webSocketClose".into(), close);
    }
    let head = serde_json::to_string(&Value::Object(e)).map_err(|e| StoreError::Write(e.into()))?;
    write_all(out, head.strip_suffix('}').unwrap_or(&head).as_bytes())?;
    write_all(out, b",\"_webSocketMessages\":[")?;
    messages(c, conn.id, upto, out)?;
    write_all(out, b"]}")
}

fn close_value(conn: &ConnectionInfo) -> Option<Value> {
    if !matches!(conn.state, ConnState::Closed | ConnState::Failed) {
        return None;
    }
    if conn.closed_by == Some(ClosedBy::Error) && conn.close_code.is_none() {
        return Some(json!("aborted"));
    }
    let mut m = Map::new();
    if let Some(code) = conn.close_code {
        m.insert("code".into(), json!(code));
    }
    if let Some(reason) = &conn.close_reason {
        m.insert("reason".into(), json!(reason));
    }
    if let Some(at) = conn.closed_at_us {
        m.insert("timestamp".into(), json!(seconds(at)));
    }
    Some(Value::Object(m))
}

/// Streams a connection's data messages: fragments joined per direction, the inflated
/// message when compressed.
fn messages(
    c: &Connection,
    conn: ConnectionId,
    upto: i64,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    struct Partial {
        binary: bool,
        compressed: bool,
        data: Vec<u8>,
    }
    let mut partial: [Option<Partial>; 2] = [None, None];
    let mut first = true;
    let mut emit = |dir: Direction,
                    ts_us: i64,
                    p: Partial,
                    inflated: Option<Vec<u8>>,
                    out: &mut dyn Write|
     -> Result<(), StoreError> {
        let data = match inflated {
            Some(whole) if p.compressed => whole,
            _ => p.data,
        };
        let (opcode, data) = if p.binary {
            (2, base64::engine::general_purpose::STANDARD.encode(&data))
        } else {
            (1, String::from_utf8_lossy(&data).into_owned())
        };
        if !first {
            write_all(out, b",")?;
        }
        first = false;
        write_json(
            out,
            &json!({
                "type": if dir == Direction::Client { "send" } else { "receive" },
                "time": seconds(ts_us),
                "opcode": opcode,
                "data": data,
            }),
        )
    };
    crate::read::in_slices(
        c,
        &format!(
            "SELECT ts_us, dir, opcode, flags, sockscope_payload(session_id, payload, poff, plen), \
             inflated, seq FROM {} AS frames \
             WHERE connection_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
            crate::connection_index::frames_of("?1")
        ),
        conn.0,
        upto,
        |r| {
            let ts_us: i64 = r.get(0)?;
            let dir = dir_from_i64(r.get(1)?);
            let opcode: i64 = r.get(2)?;
            let flags: i64 = r.get(3)?;
            let payload: Vec<u8> = r.get::<_, Option<Vec<u8>>>(4)?.unwrap_or_default();
            let inflated: Option<Vec<u8>> = r.get(5)?;
            let bytes = payload.len() + inflated.as_ref().map_or(0, Vec::len);
            // Like Chrome, HAR lists what was delivered: not intercepted messages that never
            // were.
            if flags & (FLAG_DROPPED | FLAG_REPLACED) != 0 {
                return Ok(bytes);
            }
            let slot = usize::from(dir == Direction::Server);
            let fin = flags & FLAG_FIN != 0;
            let started = match u8::try_from(opcode).map(Opcode::from_u8) {
                Ok(op @ (Opcode::Text | Opcode::Binary)) => Partial {
                    binary: op == Opcode::Binary,
                    compressed: flags & FLAG_RSV1 != 0,
                    data: payload,
                },
                Ok(Opcode::Continuation) => match partial[slot].take() {
                    Some(mut p) => {
                        p.data.extend_from_slice(&payload);
                        p
                    }
                    // A continuation with no message started carries no type: skipped.
                    None => return Ok(bytes),
                },
                // Control frames and reserved opcodes are not messages.
                _ => return Ok(bytes),
            };
            if fin {
                emit(dir, ts_us, started, inflated, out)?;
            } else {
                partial[slot] = Some(started);
            }
            Ok(bytes)
        },
    )
}

// ---------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct HarRoot {
    log: HarLog,
}

#[derive(Deserialize)]
struct HarLog {
    #[serde(default)]
    creator: Option<HarCreator>,
    entries: Vec<HarEntry>,
    #[serde(default, rename = "_sockscope")]
    sockscope: Option<SockscopeInfo>,
}

#[derive(Deserialize)]
struct HarCreator {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct SockscopeInfo {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct HarEntry {
    #[serde(rename = "startedDateTime")]
    started: String,
    #[serde(default)]
    time: Option<f64>,
    request: HarRequest,
    #[serde(default)]
    response: Option<HarResponse>,
    #[serde(default)]
    timings: Option<HarTimings>,
    #[serde(default, rename = "_resourceType")]
    resource_type: Option<String>,
    #[serde(default, rename = "_webSocketMessages")]
    messages: Option<Vec<HarMessage>>,
    #[serde(default, rename = "_webSocketClose")]
    close: Option<HarClose>,
}

#[derive(Deserialize)]
struct HarRequest {
    url: String,
    #[serde(default)]
    headers: Option<Vec<HarHeader>>,
}

#[derive(Deserialize)]
struct HarHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct HarResponse {
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    headers: Option<Vec<HarHeader>>,
    #[serde(default, rename = "_error")]
    error: Option<String>,
}

#[derive(Deserialize)]
struct HarTimings {
    #[serde(default)]
    wait: Option<f64>,
}

#[derive(Deserialize)]
struct HarMessage {
    #[serde(rename = "type")]
    kind: String,
    time: f64,
    opcode: i64,
    data: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HarClose {
    Info {
        #[serde(default)]
        code: Option<u16>,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        timestamp: Option<f64>,
    },
    Word(String),
}

/// Counts what is read, enforces the file cap and reports progress.
struct Counted<'a> {
    inner: &'a mut dyn Read,
    read: u64,
    cap: u64,
    over: bool,
    reported: u64,
    total: Option<u64>,
    progress: &'a dyn Fn(ImportProgress),
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            self.over = true;
            return Err(std::io::Error::other("the file is too large"));
        }
        if self.read - self.reported >= 1 << 20 {
            self.reported = self.read;
            (self.progress)(ImportProgress {
                phase: ImportPhase::Reading,
                bytes_read: self.read,
                total_bytes: self.total,
                frames: 0,
            });
        }
        Ok(n)
    }
}

fn json_error(path: String, inner: serde_json::Error) -> StoreError {
    let (line, column) = (inner.line(), inner.column());
    let text = inner.to_string();
    let suffix = format!(" at line {line} column {column}");
    let msg = text.strip_suffix(&suffix).unwrap_or(&text);
    let msg = if inner.is_eof() {
        "the file ends too early (truncated?)".to_owned()
    } else {
        format!("{msg} (column {column})")
    };
    let field = (!path.is_empty() && path != "." && path != "?").then_some(path);
    import_error((line > 0).then_some(line as u64), field.as_deref(), msg)
}

fn to_us(seconds: f64) -> Option<i64> {
    let us = (seconds * 1_000_000.0).round();
    (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
}

fn ws_url(url: &str) -> String {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") {
        format!("ws://{}", &url[7..])
    } else if lower.starts_with("https://") {
        format!("wss://{}", &url[8..])
    } else {
        url.to_owned()
    }
}

fn headers_of(h: Option<Vec<HarHeader>>) -> Headers {
    h.unwrap_or_default()
        .into_iter()
        .map(|h| (h.name, h.value))
        .collect()
}

pub(crate) fn parse(
    reader: &mut dyn Read,
    opts: &ImportOptions,
    progress: &dyn Fn(ImportProgress),
) -> Result<ParsedImport, StoreError> {
    let limits = opts.limits;
    let mut counted = Counted {
        inner: reader,
        read: 0,
        cap: limits.max_file_bytes,
        over: false,
        reported: 0,
        total: opts.total_bytes,
        progress,
    };
    let root: Result<HarRoot, StoreError> = {
        let mut de = serde_json::Deserializer::from_reader(&mut counted);
        match serde_path_to_error::deserialize(&mut de) {
            Ok(root) => de
                .end()
                .map(|()| root)
                .map_err(|e| json_error(String::new(), e)),
            Err(e) => Err(json_error(e.path().to_string(), e.into_inner())),
        }
    };
    let root = match root {
        Ok(r) => r,
        Err(_) if counted.over => {
            return Err(import_error(
                None,
                None,
                format!("the file is larger than {}", mib(limits.max_file_bytes)),
            ))
        }
        Err(e) => return Err(e),
    };
    let read_bytes = counted.read;
    let log = root.log;
    let creator = log
        .creator
        .and_then(|c| c.name)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ours = log.sockscope.unwrap_or(SockscopeInfo {
        name: None,
        kind: None,
    });
    let kind = match ours.kind.as_deref().map(str::parse::<SessionKind>) {
        Some(Ok(k)) => k,
        _ if creator.contains("mitmproxy") || creator.contains("http toolkit") => {
            SessionKind::Proxy
        }
        _ => SessionKind::Client,
    };
    let name = ours
        .name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| opts.source_name.clone())
        .unwrap_or_else(|| "Imported HAR".into());

    // Entries that carry messages, by (url, start): message-less repeats are dropped.
    let with_messages: HashSet<(String, String)> = log
        .entries
        .iter()
        .filter(|e| e.messages.as_ref().is_some_and(|m| !m.is_empty()))
        .map(|e| (e.request.url.clone(), e.started.clone()))
        .collect();

    let mut connections = Vec::new();
    let mut frames: Vec<ImportFrame> = Vec::new();
    for (i, e) in log.entries.into_iter().enumerate() {
        let is_ws = e.messages.is_some()
            || e.resource_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("websocket"));
        let empty = e.messages.as_ref().is_none_or(Vec::is_empty);
        if !is_ws || (empty && with_messages.contains(&(e.request.url.clone(), e.started.clone())))
        {
            continue;
        }
        let at = |field: &str| format!("log.entries[{i}].{field}");
        let created_at_us = parse_rfc3339_us(&e.started).ok_or_else(|| {
            import_error(
                None,
                Some(&at("startedDateTime")),
                format!("not an ISO 8601 time: {:?}", e.started),
            )
        })?;
        let conn_index = connections.len();
        let mut last_ts = created_at_us;
        for (j, m) in e.messages.unwrap_or_default().into_iter().enumerate() {
            let field = |f: &str| at(&format!("_webSocketMessages[{j}].{f}"));
            let dir = match m.kind.as_str() {
                "send" => Direction::Client,
                "receive" => Direction::Server,
                // Chrome records failures as messages: not frames.
                "error" => continue,
                other => {
                    return Err(import_error(
                        None,
                        Some(&field("type")),
                        format!("expected \"send\" or \"receive\", found {other:?}"),
                    ))
                }
            };
            let opcode = u8::try_from(m.opcode)
                .ok()
                .filter(|n| *n < 16)
                .map(Opcode::from_u8)
                .ok_or_else(|| {
                    import_error(
                        None,
                        Some(&field("opcode")),
                        format!("unknown opcode {}", m.opcode),
                    )
                })?;
            let ts_us = to_us(m.time).ok_or_else(|| {
                import_error(
                    None,
                    Some(&field("time")),
                    format!("not a time: {}", m.time),
                )
            })?;
            let payload = if opcode == Opcode::Binary {
                decode_base64(&m.data, limits.max_payload_bytes)
                    .map_err(|msg| import_error(None, Some(&field("data")), msg))?
            } else if m.data.len() > limits.max_payload_bytes {
                return Err(import_error(
                    None,
                    Some(&field("data")),
                    format!("larger than {}", mib(limits.max_payload_bytes as u64)),
                ));
            } else {
                m.data.into_bytes()
            };
            if frames.len() as u64 >= limits.max_frames {
                return Err(import_error(
                    None,
                    Some(&field("data")),
                    format!("more than {} messages", limits.max_frames),
                ));
            }
            last_ts = last_ts.max(ts_us);
            frames.push(ImportFrame {
                conn: conn_index,
                ts_us,
                dir,
                opcode,
                fin: true,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                injected: false,
                masked: false,
                truncated: false,
                len: payload.len() as u64,
                payload,
                note: None,
                inflated: None,
                marks: Default::default(),
                mask_key: None,
            });
        }
        let response = e.response.unwrap_or(HarResponse {
            status: None,
            headers: None,
            error: None,
        });
        let status = response
            .status
            .filter(|s| *s > 0)
            .map(|s| {
                u16::try_from(s).map_err(|_| {
                    import_error(
                        None,
                        Some(&at("response.status")),
                        format!("{s} is out of range"),
                    )
                })
            })
            .transpose()?;
        let response_headers = headers_of(response.headers);
        let subprotocol = response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
            .map(|(_, v)| v.clone());
        let ended = e
            .time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .and_then(|t| to_us(t / 1000.0))
            .map(|d| created_at_us.saturating_add(d));
        let mut conn = ImportConn {
            url: ws_url(&e.request.url),
            state: ConnState::Closed,
            request_headers: headers_of(e.request.headers),
            response_status: status,
            response_headers,
            subprotocol,
            created_at_us,
            opened_at_us: None,
            closed_at_us: ended.or(Some(last_ts)),
            close_code: None,
            close_reason: None,
            closed_by: None,
            error: None,
            insecure: false,
        };
        if status == Some(101) {
            let wait = e
                .timings
                .and_then(|t| t.wait)
                .filter(|w| w.is_finite() && *w >= 0.0)
                .and_then(|w| to_us(w / 1000.0))
                .unwrap_or(0);
            conn.opened_at_us = Some(created_at_us.saturating_add(wait));
            match e.close {
                Some(HarClose::Info {
                    code,
                    reason,
                    timestamp,
                }) => {
                    conn.close_code = code;
                    conn.close_reason = reason;
                    if let Some(at) = timestamp.and_then(to_us) {
                        conn.closed_at_us = Some(at);
                    }
                }
                Some(HarClose::Word(w)) if w == "aborted" => {
                    conn.closed_by = Some(ClosedBy::Error);
                }
                _ => {}
            }
        } else {
            conn.state = ConnState::Failed;
            conn.closed_by = Some(ClosedBy::Error);
            conn.error = Some(response.error.unwrap_or_else(|| match status {
                Some(s) => format!("the handshake was answered with status {s}"),
                None => "no response to the handshake".into(),
            }));
        }
        connections.push(conn);
    }
    if connections.is_empty() {
        return Err(import_error(
            None,
            Some("log.entries"),
            "no WebSocket connections in this HAR file (entries with _resourceType \"websocket\" or _webSocketMessages)",
        ));
    }
    // One timeline across connections; equal times keep the file's order.
    frames.sort_by_key(|f| f.ts_us);
    let created_at_us = connections
        .iter()
        .map(|c: &ImportConn| c.created_at_us)
        .min()
        .unwrap_or_else(sockscope_proto::now_us);
    progress(ImportProgress {
        phase: ImportPhase::Reading,
        bytes_read: read_bytes,
        total_bytes: opts.total_bytes,
        frames: frames.len() as u64,
    });
    Ok(ParsedImport {
        name,
        kind,
        created_at_us,
        notes: String::new(),
        tags: Vec::new(),
        imported_from: opts.source_name.clone(),
        connections,
        frames,
    })
}

impl Store {
    /// Writes the session as a HAR 1.2 file in Chrome DevTools' shape (see the module doc).
    pub fn export_har(&self, session: SessionId, out: &mut dyn Write) -> Result<(), StoreError> {
        self.with_export_reader(|c| export(c, session, out))
    }
}
