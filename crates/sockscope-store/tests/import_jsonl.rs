//! JSONL import: the export → import → export round trip, and hostile files that must fail
//! cleanly without writing anything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::*;
use serde_json::Value;
use sockscope_proto::{Direction, Opcode};
use sockscope_store::{
    ConnState, ImportFormat, ImportLimits, ImportOptions, ImportPhase, SessionKind, Store,
    StoreError,
};
use std::cell::RefCell;

fn import_text(store: &Store, text: &str) -> Result<sockscope_proto::SessionId, StoreError> {
    import_with(store, text, ImportLimits::default())
}

fn import_with(
    store: &Store,
    text: &str,
    limits: ImportLimits,
) -> Result<sockscope_proto::SessionId, StoreError> {
    let opts = ImportOptions {
        source_name: Some("session.jsonl".into()),
        total_bytes: Some(text.len() as u64),
        limits,
    };
    store.import_jsonl(&mut text.as_bytes(), &opts, &|_| {})
}

#[test]
fn export_import_export_gives_the_same_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("rt.db")).expect("open");
    let original = rt().block_on(rich_session(&store, "rich <i>session</i>"));
    let first = export_jsonl(&store, original);

    let copy = import_text(&store, &first).expect("import");
    assert_ne!(copy, original);
    let second = export_jsonl(&store, copy);
    assert_eq!(normalized_jsonl(&first), normalized_jsonl(&second));
    // Every line type is there, and the seqs are those of the original.
    let lines = normalized_jsonl(&second);
    let count = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
    assert_eq!(
        (count("connection"), count("frame"), count("close")),
        (3, 16, 3)
    );

    // Stored frames are equal field by field (payload bytes, flags, notes, inflated).
    let a = store.frames_after(original, 0, 100).expect("frames");
    let b = store.frames_after(copy, 0, 100).expect("frames");
    assert_eq!(a.len(), b.len());
    for (fa, fb) in a.iter().zip(&b) {
        let x = store.frame(original, fa.seq).expect("frame");
        let y = store.frame(copy, fb.seq).expect("frame");
        assert_eq!(
            (x.seq, x.ts_us, x.dir, x.opcode, x.fin, x.rsv1, x.rsv2, x.rsv3, x.len),
            (y.seq, y.ts_us, y.dir, y.opcode, y.fin, y.rsv1, y.rsv2, y.rsv3, y.len)
        );
        assert_eq!(
            (
                x.injected,
                x.masked,
                x.truncated,
                &x.note,
                &x.payload,
                &x.inflated
            ),
            (
                y.injected,
                y.masked,
                y.truncated,
                &y.note,
                &y.payload,
                &y.inflated
            )
        );
        assert_eq!(
            (&fa.close_code, &fa.close_reason),
            (&fb.close_code, &fb.close_reason)
        );
    }
    let x = store.frame(copy, 3).expect("invalid utf-8 frame");
    assert_eq!(
        (x.opcode, x.payload.as_slice()),
        (Opcode::Text, &[0xff, 0xfe, b'a'][..])
    );
    let x = store.frame(copy, 11).expect("compressed frame");
    assert_eq!(x.inflated.as_deref(), Some(&b"inflated zebra text"[..]));
    assert!(x.rsv1);

    // The session row: name as plain text, kind, origin of the import, counts.
    let s = store.session(copy).expect("session");
    let o = store.session(original).expect("session");
    assert_eq!(s.name, "rich <i>session</i>");
    assert_eq!(s.kind, SessionKind::Proxy);
    assert_eq!(s.imported_from.as_deref(), Some("session.jsonl"));
    assert_eq!(
        (s.frames, s.connections, s.bytes),
        (o.frames, o.connections, o.bytes)
    );
    assert_eq!(s.created_at_us, o.created_at_us);
    let conns = store.connections(copy).expect("connections");
    let states: Vec<ConnState> = conns.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [ConnState::Closed, ConnState::Closed, ConnState::Failed]
    );
    assert_eq!(conns[0].subprotocol.as_deref(), Some("chat"));
    assert_eq!(conns[2].error.as_deref(), Some("connection refused"));

    // The imported text is searchable.
    let hits = store.search("zebra", 10).expect("search");
    let sessions: Vec<_> = hits.iter().map(|h| h.session).collect();
    assert!(
        sessions.contains(&copy) && sessions.contains(&original),
        "{hits:?}"
    );
}

#[test]
fn notes_tags_and_unknown_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("n.db")).expect("open");
    let text = concat!(
        r#"{"format":"sockscope-session","version":1,"future":{"x":[1,2]},"session":{"name":"<script>alert(1)</script>\u0007","kind":"client","created_at":"2026-11-26T15:20:13.5Z","notes":"some notes","tags":[" a ","b","a"],"later":true}}"#,
        "\n",
        r#"{"type":"connection","id":77,"url":"ws://h/<x>","zzz":1}"#,
        "\n",
        r#"{"type":"annotation","text":"from a later version"}"#,
        "\n",
        "\n",
        r#"{"type":"frame","connection":77,"seq":10,"ts_us":1,"dir":"server","opcode":"text","fin":true,"rsv1":false,"len":2,"text":"hi","close_code":null,"extra":{}}"#,
        "\r\n",
    );
    let id = import_text(&store, text).expect("import");
    let s = store.session(id).expect("session");
    assert_eq!(s.name, "<script>alert(1)</script>\u{7}");
    assert_eq!(s.kind, SessionKind::Client);
    assert_eq!(s.created_at, "2026-11-26T15:20:13.5Z");
    assert_eq!(s.notes, "some notes");
    assert_eq!(s.tags, ["a", "b"]);
    let f = store.frame(id, 1).expect("frame renumbered to seq 1");
    assert_eq!(
        (f.dir, f.payload.as_slice()),
        (Direction::Server, &b"hi"[..])
    );
    assert_eq!(store.connections(id).expect("conns")[0].url, "ws://h/<x>");
    // Re-exported, notes and tags travel in the header.
    let out = export_jsonl(&store, id);
    let header: Value = serde_json::from_str(out.lines().next().expect("header")).expect("json");
    assert_eq!(header["session"]["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(header["session"]["notes"], "some notes");
}

/// The file's lines: a valid session to corrupt in each test.
fn valid_lines() -> Vec<String> {
    [
        r#"{"format":"sockscope-session","version":1,"session":{"id":1,"name":"s","kind":"client","created_at_us":5}}"#,
        r#"{"type":"connection","id":1,"url":"ws://127.0.0.1:1/","request_headers":[["a","b"]],"response_status":101,"response_headers":[],"opened_at_us":6}"#,
        r#"{"type":"frame","connection":1,"seq":1,"ts_us":7,"dir":"client","opcode":"text","fin":true,"rsv1":false,"len":5,"text":"hello"}"#,
        r#"{"type":"frame","connection":1,"seq":2,"ts_us":8,"dir":"server","opcode":"binary","fin":true,"rsv1":false,"len":3,"base64":"AAEC"}"#,
        r#"{"type":"frame","connection":1,"seq":3,"ts_us":9,"dir":"server","opcode":"close","fin":true,"rsv1":false,"len":2,"base64":"A+g=","close_code":1000,"close_reason":""}"#,
        r#"{"type":"close","connection":1,"ts_us":10,"code":1000,"reason":"","by":"server"}"#,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn join(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Imports `text` into a store that already has a session, expects an error containing
/// `want`, and checks that nothing changed.
fn refused(text: &str, limits: ImportLimits, want: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let store = Store::open(&path).expect("open");
    let existing = rt().block_on(rich_session(&store, "existing"));
    let before = store.sessions().expect("sessions");
    // The full-text index is built beside capture: a search brings it up to date first.
    store.search("existing", 1).expect("search");
    let rows = row_counts(&path);
    let err = import_with(&store, text, limits).expect_err("the import must fail");
    assert!(matches!(err, StoreError::Import { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(want),
        "error {msg:?} does not contain {want:?}"
    );
    assert!(!msg.contains('\n'), "one line: {msg:?}");
    assert_eq!(store.sessions().expect("sessions"), before);
    assert_eq!(row_counts(&path), rows);
    // The writer is still healthy.
    store.flush_blocking().expect("flush");
    assert_eq!(store.session(existing).expect("s").frames, 16);
    // And the valid file imports.
    import_text(&store, &join(&valid_lines())).expect("the valid file imports");
}

#[test]
fn the_valid_file_imports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("v.db")).expect("open");
    let id = import_text(&store, &join(&valid_lines())).expect("import");
    let s = store.session(id).expect("session");
    assert_eq!((s.frames, s.connections, s.bytes), (3, 1, 10));
    let f = store.frames_after(id, 0, 10).expect("frames");
    assert_eq!(f[2].close_code, Some(1000));
}

#[test]
fn truncated_file() {
    let text = join(&valid_lines());
    let cut = &text[..text.len() - 40];
    refused(cut, ImportLimits::default(), "line 6: not valid JSON");
}

#[test]
fn wrong_types() {
    let mut lines = valid_lines();
    lines[2] = lines[2].replace(r#""fin":true"#, r#""fin":"yes""#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        r#"line 3: field "fin": expected true or false, found a string"#,
    );
    let mut lines = valid_lines();
    lines[3] = lines[3].replace(r#""seq":2"#, r#""seq":2.5"#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        r#"line 4: field "seq": expected an integer"#,
    );
    let mut lines = valid_lines();
    lines[1] = lines[1].replace(r#"[["a","b"]]"#, r#"[["a",1]]"#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        r#"line 2: field "request_headers[0]""#,
    );
}

#[test]
fn garbage_line_in_the_middle() {
    let mut lines = valid_lines();
    lines.insert(3, "<html>not json</html>".into());
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 4: not valid JSON",
    );
    let mut lines = valid_lines();
    lines.insert(3, "[1,2]".into());
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 4: expected a JSON object, found an array",
    );
}

#[test]
fn claimed_sizes_are_checked_not_trusted() {
    let mut lines = valid_lines();
    lines[2] = lines[2].replace(r#""len":5"#, r#""len":1073741824"#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        r#"line 3: field "len": 1073741824 does not match the 5 bytes"#,
    );
    let mut lines = valid_lines();
    lines[2] = lines[2].replace(r#""len":5"#, r#""len":99999999999999999999"#);
    refused(&join(&lines), ImportLimits::default(), r#"field "len""#);
}

#[test]
fn frame_of_an_unknown_connection() {
    let mut lines = valid_lines();
    lines[3] = lines[3].replace(r#""connection":1"#, r#""connection":2"#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        r#"line 4: field "connection": unknown connection 2"#,
    );
    // A frame before its connection line is unknown too.
    let mut lines = valid_lines();
    lines.swap(1, 2);
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 2: field \"connection\": unknown connection 1",
    );
}

#[test]
fn inconsistent_lines() {
    let mut lines = valid_lines();
    lines.push(lines[5].clone());
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 7: field \"connection\": the connection was already closed on line 6",
    );
    let mut lines = valid_lines();
    lines.push(lines[1].clone());
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 7: field \"id\": connection 1 appears twice",
    );
    let mut lines = valid_lines();
    lines[3] = lines[3].replace(r#""seq":2"#, r#""seq":1"#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 4: field \"seq\": 1 does not follow 1",
    );
    let mut lines = valid_lines();
    lines[3] = lines[3].replace(r#""base64":"AAEC""#, r#""base64":"AAEC","text":"x""#);
    refused(&join(&lines), ImportLimits::default(), "not both");
    let mut lines = valid_lines();
    lines[3] = lines[3].replace(r#""base64":"AAEC""#, r#""base64":"A*EC""#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 4: field \"base64\": invalid base64",
    );
    let mut lines = valid_lines();
    lines[0] = lines[0].replace(r#""version":1"#, r#""version":2"#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 1: field \"version\": version 2 is not supported",
    );
    let mut lines = valid_lines();
    lines[0] = lines[0].replace(r#""kind":"client""#, r#""kind":"server""#);
    refused(
        &join(&lines),
        ImportLimits::default(),
        "line 1: field \"kind\"",
    );
    refused("", ImportLimits::default(), "the file is empty");
}

#[test]
fn size_caps() {
    let small = ImportLimits {
        max_payload_bytes: 4,
        ..ImportLimits::default()
    };
    refused(
        &join(&valid_lines()),
        small,
        "line 3: field \"text\": larger than 4 bytes",
    );
    let few = ImportLimits {
        max_frames: 2,
        ..ImportLimits::default()
    };
    refused(
        &join(&valid_lines()),
        few,
        "line 5: field \"seq\": more than 2 frames",
    );
    let short = ImportLimits {
        max_line_bytes: 100,
        ..ImportLimits::default()
    };
    refused(
        &join(&valid_lines()),
        short,
        "line 1: the line is longer than 100 bytes",
    );
    let tiny = ImportLimits {
        max_file_bytes: 300,
        ..ImportLimits::default()
    };
    refused(
        &join(&valid_lines()),
        tiny,
        "the file is larger than 300 bytes",
    );
    // A huge base64 payload is refused before it is decoded.
    let mut lines = valid_lines();
    lines[3] = lines[3].replace("AAEC", &"A".repeat(4000));
    let capped = ImportLimits {
        max_payload_bytes: 1000,
        ..ImportLimits::default()
    };
    refused(
        &join(&lines),
        capped,
        "line 4: field \"base64\": larger than 1000 bytes once decoded",
    );
}

#[test]
fn import_file_detects_the_format_and_reports_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("f.db")).expect("open");
    let path = dir.path().join("big.jsonl");
    // About 3 MiB, so progress is reported while reading.
    let mut lines = valid_lines();
    lines.truncate(2);
    for i in 0..3000 {
        lines.push(format!(
            r#"{{"type":"frame","connection":1,"seq":{},"ts_us":{i},"dir":"client","opcode":"text","fin":true,"rsv1":false,"len":1000,"text":"{}"}}"#,
            i + 1,
            "x".repeat(1000)
        ));
    }
    std::fs::write(&path, join(&lines)).expect("write");
    let seen = RefCell::new(Vec::new());
    let summary = store
        .import_file(&path, ImportLimits::default(), &|p| {
            seen.borrow_mut().push(p)
        })
        .expect("import");
    assert_eq!(summary.format, ImportFormat::Jsonl);
    assert_eq!((summary.connections, summary.frames), (1, 3000));
    let seen = seen.into_inner();
    let reading: Vec<_> = seen
        .iter()
        .filter(|p| p.phase == ImportPhase::Reading)
        .collect();
    assert!(reading.len() >= 3, "{seen:?}");
    assert!(reading
        .windows(2)
        .all(|w| w[0].bytes_read <= w[1].bytes_read));
    let size = std::fs::metadata(&path).expect("meta").len();
    assert!(reading.iter().all(|p| p.total_bytes == Some(size)));
    assert_eq!(seen.last().map(|p| p.phase), Some(ImportPhase::Writing));
    let s = store.session(summary.session).expect("session");
    assert_eq!(s.imported_from.as_deref(), Some("big.jsonl"));
    assert_eq!(s.frames, 3000);
}

#[test]
fn the_masking_key_round_trips_and_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("m.db")).expect("open");
    let original = rt().block_on(rich_session(&store, "masked"));
    let text = export_jsonl(&store, original);
    let first = text
        .lines()
        .find(|l| l.contains("hello <b>world</b>"))
        .expect("frame line");
    assert!(first.contains(r#""mask_key":"37fa213d""#), "{first}");
    let copy = import_text(&store, &text).expect("import");
    assert_eq!(
        store.frame(copy, 1).expect("frame").mask_key,
        Some([0x37, 0xfa, 0x21, 0x3d])
    );
    assert_eq!(
        store
            .frame_facts(copy, 1)
            .expect("facts")
            .mask_key
            .as_deref(),
        Some("37fa213d")
    );

    for bad in [r#""37fa21""#, r#""+7fa213d""#, r#""37fa213g""#] {
        let mut lines = valid_lines();
        lines[2] = lines[2].replace(
            r#""text":"hello""#,
            &format!(r#""text":"hello","masked":true,"mask_key":{bad}"#),
        );
        refused(
            &join(&lines),
            ImportLimits::default(),
            r#"line 3: field "mask_key""#,
        );
    }
}

/// Imported payloads of `PAYLOAD_FILE_MIN` bytes and more go to the session's payload file,
/// as captured ones do (the row keeps an empty payload and where the bytes are); smaller ones
/// stay in the row. Read back, exported and searched, both kinds are the bytes imported.
#[test]
fn imported_payloads_go_where_captured_ones_do() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let store = Store::open(&path).expect("open");
    let min = sockscope_store::PAYLOAD_FILE_MIN;
    let long_text: String = (0..3 * min)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let long_text = format!("{long_text} quokka");
    let binary: Vec<u8> = (0..2 * min).map(|i| (i * 7) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
    let mut lines = valid_lines();
    lines.truncate(2);
    lines.push(format!(
        r#"{{"type":"frame","connection":1,"seq":1,"ts_us":7,"dir":"client","opcode":"text","fin":true,"rsv1":false,"len":{},"text":"{long_text}"}}"#,
        long_text.len()
    ));
    lines.push(r#"{"type":"frame","connection":1,"seq":2,"ts_us":8,"dir":"server","opcode":"text","fin":true,"rsv1":false,"len":2,"text":"hi"}"#.to_owned());
    lines.push(format!(
        r#"{{"type":"frame","connection":1,"seq":3,"ts_us":9,"dir":"server","opcode":"binary","fin":true,"rsv1":false,"len":{},"base64":"{b64}"}}"#,
        binary.len()
    ));
    let id = import_text(&store, &join(&lines)).expect("import");
    store.flush_blocking().expect("flush");

    let c = rusqlite::Connection::open(&path).expect("open");
    let rows: Vec<(i64, i64, Option<i64>, Option<i64>)> = c
        .prepare("SELECT seq, length(payload), poff, plen FROM frames WHERE session_id = ?1 ORDER BY seq")
        .expect("prepare")
        .query_map([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let (lt, lb) = (long_text.len() as i64, binary.len() as i64);
    assert_eq!(
        rows,
        [
            (1, 0, Some(0), Some(lt)),
            (2, 2, None, None),
            (3, 0, Some(lt), Some(lb))
        ]
    );
    let file = std::fs::read(sockscope_store::payload_dir(&path).join(format!("{}.bin", id.0)))
        .expect("payload file");
    assert!(file == [long_text.as_bytes(), &binary].concat());

    let payloads: Vec<Vec<u8>> = (1..=3)
        .map(|seq| store.frame(id, seq).expect("frame").payload)
        .collect();
    assert_eq!(
        payloads,
        [long_text.as_bytes().to_vec(), b"hi".to_vec(), binary]
    );
    let exported = export_jsonl(&store, id);
    assert!(exported.contains(&long_text) && exported.contains(&b64));
    let hits = store.search("quokka", 10).expect("search");
    assert!(hits.iter().any(|h| h.session == id), "{hits:?}");
}
