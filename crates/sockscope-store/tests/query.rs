//! The timeline's queries on real SQLite files: filters that combine, paging by row index,
//! counts, row lookup, highlights, live growth, message grouping — and a session of a million
//! frames (correctness, not timing: `make bench-ui` times it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{frame, rt, session_with_conns, T0};
use sockscope_proto::{ConnectionId, Direction, FrameRecord, Opcode, SessionId};
use sockscope_store::{payload_matches, FrameFilter, FrameQuery, Store, StoreError, TextFilter};
use std::time::Duration;

const FOREVER: Duration = Duration::from_secs(3600);

/// 12 frames on two connections (seq = index + 1).
fn known_frames(s: SessionId, a: ConnectionId, b: ConnectionId) -> Vec<FrameRecord> {
    use Direction::{Client as C, Server as S};
    let mut v = vec![
        frame(
            s,
            a,
            C,
            Opcode::Text,
            br#"{"type":"subscribe","ch":"BTC"}"#,
            0,
        ), // 1
        frame(
            s,
            a,
            S,
            Opcode::Text,
            br#"{"type":"trade","price":10.5,"qty":2}"#,
            1_000_000,
        ), // 2
        frame(
            s,
            a,
            S,
            Opcode::Text,
            br#"{"type":"trade","price":9,"qty":1}"#,
            2_000_000,
        ), // 3
        frame(
            s,
            a,
            S,
            Opcode::Text,
            br#"{"type":"quote","price":11}"#,
            3_000_000,
        ), // 4
        frame(s, b, C, Opcode::Text, b"Hello WORLD hello", 4_000_000), // 5
        frame(
            s,
            b,
            S,
            Opcode::Binary,
            &[0, 1, 2, 0xff, b'h', b'i'],
            5_000_000,
        ), // 6
        frame(s, a, C, Opcode::Ping, b"hb", 6_000_000),                // 7
        frame(s, a, S, Opcode::Pong, b"hb", 7_000_000),                // 8
    ];
    let mut f = frame(s, b, S, Opcode::Text, b"part one ", 8_000_000); // 9
    f.fin = false;
    v.push(f);
    let mut f = frame(s, b, S, Opcode::Continuation, b"part two ", 9_000_000); // 10
    f.fin = false;
    v.push(f);
    v.push(frame(
        s,
        b,
        S,
        Opcode::Continuation,
        b"part three",
        10_000_000,
    )); // 11
    v.push(frame(s, a, S, Opcode::Text, &vec![b'x'; 5000], 11_000_000)); // 12
    v
}

fn seqs(store: &Store, filter: FrameFilter, s: SessionId) -> Vec<i64> {
    let mut q = FrameQuery::new(s, filter).unwrap();
    let c = store.query_count(&mut q, FOREVER).unwrap();
    assert!(c.complete);
    let rows = store.query_page(&mut q, 0, 1000).unwrap();
    assert_eq!(rows.len() as u64, c.count);
    rows.iter().map(|r| r.frame.seq).collect()
}

fn text(p: &str, regex: bool, case_sensitive: bool) -> Option<TextFilter> {
    Some(TextFilter {
        pattern: p.into(),
        regex,
        case_sensitive,
    })
}

#[test]
fn filters_combine() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("q.db")).unwrap();
    let (s, c) = rt().block_on(session_with_conns(&store, "q", 2));
    let (a, b) = (c[0], c[1]);
    for f in known_frames(s, a, b) {
        store.record_frame_blocking(f).unwrap();
    }
    store.flush_blocking().unwrap();
    let all = |f: FrameFilter| seqs(&store, f, s);

    assert_eq!(all(FrameFilter::default()), (1..=12).collect::<Vec<_>>());
    assert_eq!(
        all(FrameFilter {
            connection: Some(b),
            ..Default::default()
        }),
        vec![5, 6, 9, 10, 11]
    );
    assert_eq!(
        all(FrameFilter {
            dir: Some(Direction::Client),
            ..Default::default()
        }),
        vec![1, 5, 7]
    );
    assert_eq!(
        all(FrameFilter {
            opcodes: vec![Opcode::Ping, Opcode::Pong, Opcode::Binary],
            ..Default::default()
        }),
        vec![6, 7, 8]
    );
    // Plain text: case-insensitive by default, case-sensitive on request; binary byte-wise.
    assert_eq!(
        all(FrameFilter {
            text: text("hello", false, false),
            ..Default::default()
        }),
        vec![5]
    );
    assert_eq!(
        all(FrameFilter {
            text: text("WORLD", false, true),
            ..Default::default()
        }),
        vec![5]
    );
    assert_eq!(
        all(FrameFilter {
            text: text("world", false, true),
            ..Default::default()
        }),
        Vec::<i64>::new()
    );
    assert_eq!(
        all(FrameFilter {
            text: text("hi", false, true),
            ..Default::default()
        }),
        vec![6]
    );
    // Plain text is not a regex: "." is a dot.
    assert_eq!(
        all(FrameFilter {
            text: text("10.5", false, true),
            ..Default::default()
        }),
        vec![2]
    );
    assert_eq!(
        all(FrameFilter {
            text: text("1.5", false, true),
            ..Default::default()
        }),
        Vec::<i64>::new()
    );
    assert_eq!(
        all(FrameFilter {
            text: text(r#""price":\d+[,}]"#, true, true),
            ..Default::default()
        }),
        vec![3, 4]
    );
    // Full text (FTS5): words as prefixes, all of them.
    assert_eq!(
        all(FrameFilter {
            fts: Some("trad".into()),
            ..Default::default()
        }),
        vec![2, 3]
    );
    assert_eq!(
        all(FrameFilter {
            fts: Some("part two".into()),
            ..Default::default()
        }),
        vec![10]
    );
    // Size: inclusive range on the shown size.
    assert_eq!(
        all(FrameFilter {
            min_size: Some(1000),
            ..Default::default()
        }),
        vec![12]
    );
    assert_eq!(
        all(FrameFilter {
            max_size: Some(2),
            ..Default::default()
        }),
        vec![7, 8]
    );
    // Time range, inclusive.
    assert_eq!(
        all(FrameFilter {
            from_us: Some(T0 + 2_000_000),
            to_us: Some(T0 + 4_000_000),
            ..Default::default()
        }),
        vec![3, 4, 5]
    );
    // JSON conditions.
    assert_eq!(
        all(FrameFilter {
            json: Some(r#"type == "trade""#.into()),
            ..Default::default()
        }),
        vec![2, 3]
    );
    assert_eq!(
        all(FrameFilter {
            json: Some(r#"type == "trade" and price > 10"#.into()),
            ..Default::default()
        }),
        vec![2]
    );
    assert_eq!(
        all(FrameFilter {
            json: Some("price >= 10".into()),
            ..Default::default()
        }),
        vec![2, 4]
    );
    // Everything at once.
    assert_eq!(
        all(FrameFilter {
            connection: Some(a),
            dir: Some(Direction::Server),
            opcodes: vec![Opcode::Text],
            text: text("price", false, false),
            fts: Some("trade".into()),
            min_size: Some(10),
            max_size: Some(100),
            from_us: Some(T0),
            to_us: Some(T0 + 2_500_000),
            json: Some("qty < 2".into()),
            messages: false,
        }),
        vec![3]
    );
    // Group by message: continuation frames are left out, the first frame lists them.
    assert_eq!(
        all(FrameFilter {
            messages: true,
            connection: Some(b),
            ..Default::default()
        }),
        vec![5, 6, 9]
    );
    assert_eq!(
        store.connection_frame_counts(s, 12).unwrap(),
        vec![(a, 7), (b, 5)]
    );
    assert_eq!(
        store.connection_frame_counts(s, 5).unwrap(),
        vec![(a, 4), (b, 1)]
    );
    let parts = store.message_fragments(s, 9, 100).unwrap();
    assert_eq!(
        parts.iter().map(|f| f.seq).collect::<Vec<_>>(),
        vec![9, 10, 11]
    );
    assert_eq!(store.message_fragments(s, 2, 100).unwrap().len(), 1);
    assert!(matches!(
        store.message_fragments(s, 99, 100),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn pages_indexes_marks_and_live_growth() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("q.db")).unwrap();
    let (s, c) = rt().block_on(session_with_conns(&store, "q", 1));
    let a = c[0];
    // 300 frames; every third mentions "needle".
    for i in 0..300i64 {
        let body = if i % 3 == 0 {
            format!("row {i} Needle here needle")
        } else {
            format!("row {i}")
        };
        store
            .record_frame_blocking(frame(
                s,
                a,
                Direction::Server,
                Opcode::Text,
                body.as_bytes(),
                i,
            ))
            .unwrap();
    }
    store.flush_blocking().unwrap();
    let mut q = FrameQuery::new(
        s,
        FrameFilter {
            text: text("needle", false, false),
            ..Default::default()
        },
    )
    .unwrap();
    // A page before any count scans only as far as it needs.
    let first = store.query_page(&mut q, 0, 10).unwrap();
    assert_eq!(
        first.iter().map(|r| r.frame.seq).collect::<Vec<_>>(),
        (0..10).map(|i| i * 3 + 1).collect::<Vec<_>>()
    );
    // "row 0 Needle here needle": two marks, in UTF-16 units.
    assert_eq!(first[0].marks, vec![[6, 12], [18, 24]]);
    let c1 = store.query_count(&mut q, FOREVER).unwrap();
    assert_eq!((c1.count, c1.complete, c1.last_seq), (100, true, 300));
    let mid = store.query_page(&mut q, 50, 5).unwrap();
    assert_eq!(mid[0].frame.seq, 151);
    assert_eq!(store.query_page(&mut q, 99, 10).unwrap().len(), 1);
    assert!(store.query_page(&mut q, 100, 10).unwrap().is_empty());
    let at = store.query_index_of(&mut q, 151).unwrap();
    assert_eq!((at.index, at.exact), (50, true));
    let near = store.query_index_of(&mut q, 152).unwrap();
    assert_eq!((near.index, near.exact), (51, false));

    // Live: frames committed later are found by scanning on.
    for i in 300..310i64 {
        store
            .record_frame_blocking(frame(
                s,
                a,
                Direction::Client,
                Opcode::Text,
                format!("late needle {i}").as_bytes(),
                i,
            ))
            .unwrap();
    }
    store.flush_blocking().unwrap();
    let c2 = store.query_count(&mut q, FOREVER).unwrap();
    assert_eq!((c2.count, c2.last_seq), (110, 310));
    let tail = store.query_page(&mut q, 105, 10).unwrap();
    assert_eq!(
        tail.iter().map(|r| r.frame.seq).collect::<Vec<_>>(),
        vec![306, 307, 308, 309, 310]
    );

    // Without a filter the rows are the seqs, nothing scanned.
    let mut all = FrameQuery::new(s, FrameFilter::default()).unwrap();
    let c = store.query_count(&mut all, Duration::ZERO).unwrap();
    assert_eq!((c.count, c.complete), (310, true));
    let p = store.query_page(&mut all, 299, 3).unwrap();
    assert_eq!(
        p.iter().map(|r| r.frame.seq).collect::<Vec<_>>(),
        vec![300, 301, 302]
    );
    assert!(p[0].marks.is_empty());
    assert_eq!(store.query_index_of(&mut all, 310).unwrap().index, 309);
}

#[test]
fn bad_filters_are_refused() {
    let s = SessionId(1);
    let bad = [
        FrameFilter {
            text: text("(unclosed", true, false),
            ..Default::default()
        },
        FrameFilter {
            text: text("(?:x{1000}){1000}", true, false),
            ..Default::default()
        },
        FrameFilter {
            json: Some("type == trade".into()),
            ..Default::default()
        },
        FrameFilter {
            fts: Some("x".repeat(2000)),
            ..Default::default()
        },
    ];
    for f in bad {
        assert!(
            matches!(FrameQuery::new(s, f.clone()), Err(StoreError::Invalid(_))),
            "{f:?}"
        );
    }
    // Input that would be SQL or FTS syntax is only ever data.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("q.db")).unwrap();
    let (s, c) = rt().block_on(session_with_conns(&store, "q", 1));
    store
        .record_frame_blocking(frame(
            s,
            c[0],
            Direction::Client,
            Opcode::Text,
            b"it's \"quoted\" OR 1=1; DROP TABLE frames",
            0,
        ))
        .unwrap();
    store.flush_blocking().unwrap();
    for f in [
        FrameFilter {
            text: text("' OR 1=1; DROP TABLE frames; --", false, false),
            ..Default::default()
        },
        FrameFilter {
            fts: Some("\"quoted\" OR NEAR(".into()),
            ..Default::default()
        },
        FrameFilter {
            json: Some(r#"a == "'); DROP TABLE frames; --""#.into()),
            ..Default::default()
        },
    ] {
        let mut q = FrameQuery::new(s, f).unwrap();
        store.query_count(&mut q, FOREVER).unwrap();
    }
    assert_eq!(store.session(s).unwrap().frames, 1);
}

/// A million frames written straight into the file (the writer would take minutes in a
/// debug build): frame i (seq i + 1, 0-based i) goes client-to-server when i is even, is
/// binary when i % 4 == 3, else the text `{"type":T,"i":i}` with T = "trade" when
/// i % 10 == 0, "quote" otherwise.
#[test]
fn a_million_frames() {
    const N: i64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.db");
    let (s, a) = {
        let store = Store::open(&path).unwrap();
        let (s, c) = rt().block_on(session_with_conns(&store, "q", 1));
        (s, c[0])
    };
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?3)
             INSERT INTO frames (session_id, seq, connection_id, ts_us, dir, opcode, flags, len, payload)
             SELECT ?1, i + 1, ?2, ?4 + i * 1000, i % 2,
                    CASE WHEN i % 4 = 3 THEN 2 ELSE 1 END, 1,
                    length(p), p
             FROM (SELECT i, CASE WHEN i % 4 = 3 THEN zeroblob(8)
                   ELSE CAST('{\"type\":\"' || CASE WHEN i % 10 = 0 THEN 'trade' ELSE 'quote' END
                        || '\",\"i\":' || i || '}' AS BLOB) END AS p FROM n)",
            rusqlite::params![s.0, a.0, N, T0],
        )
        .unwrap();
        db.execute(
            "UPDATE sessions SET frame_count = ?2 WHERE id = ?1",
            rusqlite::params![s.0, N],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();

    // No filter: counted at once, any page by index.
    let mut all = FrameQuery::new(s, FrameFilter::default()).unwrap();
    let c = store.query_count(&mut all, Duration::ZERO).unwrap();
    assert_eq!((c.count, c.complete, c.last_seq), (N as u64, true, N));
    let last = store.query_page(&mut all, (N - 3) as u64, 10).unwrap();
    assert_eq!(
        last.iter().map(|r| r.frame.seq).collect::<Vec<_>>(),
        vec![N - 2, N - 1, N]
    );
    assert_eq!(
        last[0].frame.preview,
        format!(r#"{{"type":"quote","i":{}}}"#, N - 3)
    );
    assert_eq!(last[2].frame.opcode, Opcode::Binary);
    let mid = store.query_page(&mut all, 500_000, 2).unwrap();
    assert_eq!(mid[0].frame.seq, 500_001);

    // Regex: `"i":\d*7}` matches the text frames whose i ends in 7 (i % 4 != 3).
    let mut re = FrameQuery::new(
        s,
        FrameFilter {
            text: text(r#""i":\d*7\}"#, true, true),
            ..Default::default()
        },
    )
    .unwrap();
    // The first page needs only the first chunk of the scan.
    let first = store.query_page(&mut re, 0, 3).unwrap();
    assert_eq!(
        first.iter().map(|r| r.frame.seq - 1).collect::<Vec<_>>(),
        vec![17, 37, 57]
    );
    let partial = re.count();
    assert!(!partial.complete && partial.scanned_seq < N);
    let c = store.query_count(&mut re, FOREVER).unwrap();
    let expected = (0..N).filter(|i| i % 10 == 7 && i % 4 != 3).count() as u64;
    assert_eq!((c.count, c.complete), (expected, true));
    let tail = store.query_page(&mut re, expected - 1, 5).unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].frame.seq - 1, 999_997);
    let at = store.query_index_of(&mut re, 500_018).unwrap();
    assert!(at.exact);
    assert_eq!(
        at.index,
        (0..500_017).filter(|i| i % 10 == 7 && i % 4 != 3).count() as u64
    );

    // Direction + JSON + opcode combined.
    let mut js = FrameQuery::new(
        s,
        FrameFilter {
            dir: Some(Direction::Client),
            opcodes: vec![Opcode::Text],
            json: Some(r#"type == "trade""#.into()),
            ..Default::default()
        },
    )
    .unwrap();
    let c = store.query_count(&mut js, FOREVER).unwrap();
    let expected = (0..N).filter(|i| i % 10 == 0).count() as u64; // all even, none binary
    assert_eq!(c.count, expected);
    let p = store.query_page(&mut js, 1, 2).unwrap();
    assert_eq!(
        p.iter().map(|r| r.frame.seq - 1).collect::<Vec<_>>(),
        vec![10, 20]
    );

    // Size: binary frames are 8 bytes, text at least 20.
    let mut small = FrameQuery::new(
        s,
        FrameFilter {
            max_size: Some(8),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        store.query_count(&mut small, FOREVER).unwrap().count,
        (N / 4) as u64
    );
}

/// Records what a capture relay would: the frames an observer with permessage-deflate reads
/// from `wire` (server to client, on connection `c`).
fn observed(s: SessionId, c: ConnectionId, wire: &[u8], ts: i64) -> Vec<FrameRecord> {
    use sockscope_proto::observer::{Deflate, Observer};
    let mut o = Observer::new(
        Direction::Server,
        Some(Deflate::default()),
        1 << 20,
        1 << 20,
    );
    let mut out = Vec::new();
    o.feed(wire, &mut out);
    out.into_iter()
        .enumerate()
        .map(|(i, f)| {
            let h = f.frame.header;
            FrameRecord {
                session: s,
                connection: c,
                ts_us: T0 + ts + i as i64,
                dir: Direction::Server,
                opcode: h.opcode,
                fin: h.fin,
                rsv1: h.rsv1,
                rsv2: h.rsv2,
                rsv3: h.rsv3,
                len_wire: h.len,
                payload: f.frame.payload,
                injected: false,
                masked: h.masked,
                mask_key: None,
                truncated: f.frame.truncated,
                issues: (!f.issues.is_empty()).then(|| f.issues.join("; ")),
                inflated: f.inflated,
                marks: Default::default(),
            }
        })
        .collect()
}

/// Raw deflate of one message with a sync flush, without the 00 00 ff ff tail (RFC 7692).
fn deflate(c: &mut flate2::Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn part(
    s: SessionId,
    c: ConnectionId,
    dir: Direction,
    op: Opcode,
    fin: bool,
    p: &[u8],
    ts: i64,
) -> FrameRecord {
    let mut f = frame(s, c, dir, op, p, ts);
    f.fin = fin;
    f
}

/// Fragmented and permessage-deflate messages: JSON conditions see whole messages (on their
/// first frame), grouping by message keeps messages whose text matches only in a later
/// fragment (flagged `hidden_hit`), and a message still arriving is matched once complete.
#[test]
fn fragmented_and_compressed_messages() {
    use sockscope_proto::parser::encode_frame;
    use Direction::{Client as C, Server as S};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("q.db")).unwrap();
    let (s, c) = rt().block_on(session_with_conns(&store, "q", 2));
    let (a, b) = (c[0], c[1]);
    let mut frames = vec![
        frame(s, a, S, Opcode::Text, br#"{"type":"hello"}"#, 0), // 1
        part(s, a, S, Opcode::Text, false, br#"{"type":"tr"#, 1), // 2: message 2+5+6
        frame(s, a, C, Opcode::Ping, b"x", 2),                   // 3
        frame(s, b, S, Opcode::Text, br#"{"type":"trade","px":1}"#, 3), // 4
        part(s, a, S, Opcode::Continuation, false, br#"ade","px":"#, 4), // 5
        part(
            s,
            a,
            S,
            Opcode::Continuation,
            true,
            br#"42,"note":"needle in the last fragment"}"#,
            5,
        ), // 6
    ];
    // Compressed with context takeover: 7 is a whole message, 8-10 one message in three
    // frames (RSV1 on the first), inflated on its last.
    let mut z = flate2::Compress::new(flate2::Compression::default(), false);
    let m1 = deflate(&mut z, br#"{"type":"trade","px":7,"z":"zebra"}"#);
    let m2 = deflate(
        &mut z,
        br#"{"type":"trade","px":99,"deep":"a compressed needle"}"#,
    );
    let third = m2.len() / 3;
    let mut wire = encode_frame(true, true, Opcode::Text, None, &m1);
    wire.extend(encode_frame(false, true, Opcode::Text, None, &m2[..third]));
    wire.extend(encode_frame(
        false,
        false,
        Opcode::Continuation,
        None,
        &m2[third..2 * third],
    ));
    wire.extend(encode_frame(
        true,
        false,
        Opcode::Continuation,
        None,
        &m2[2 * third..],
    ));
    let z_frames = observed(s, a, &wire, 10);
    assert_eq!(z_frames.len(), 4);
    assert!(z_frames[3].inflated.is_some() && z_frames[0].inflated.is_some());
    frames.extend(z_frames);
    for f in frames {
        store.record_frame_blocking(f).unwrap();
    }
    store.flush_blocking().unwrap();
    let all = |f: FrameFilter| seqs(&store, f, s);
    let json = |j: &str, messages: bool| FrameFilter {
        json: Some(j.into()),
        messages,
        ..Default::default()
    };

    // JSON over whole messages, matched on their first frame, grouped or not.
    for messages in [false, true] {
        assert_eq!(all(json(r#"type == "trade""#, messages)), vec![2, 4, 7, 8]);
        assert_eq!(all(json("px == 42", messages)), vec![2]);
        assert_eq!(all(json("px == 99", messages)), vec![8]);
        assert_eq!(all(json(r#"note ~ "needle""#, messages)), vec![2]);
        assert_eq!(all(json(r#"deep ~ "needle""#, messages)), vec![8]);
        assert_eq!(all(json("px > 5", messages)), vec![2, 7, 8]);
    }
    // Combined with a per-frame condition (not grouped): the text is the first frame's.
    assert_eq!(
        all(FrameFilter {
            json: Some("px > 5".into()),
            text: text("tr", false, true),
            ..Default::default()
        }),
        vec![2, 7]
    );

    // Text frame by frame: the continuation (or the last compressed frame, which carries
    // the inflated message) is the match.
    let needle = |messages: bool, case_sensitive: bool, p: &str| FrameFilter {
        text: text(p, false, case_sensitive),
        messages,
        ..Default::default()
    };
    assert_eq!(all(needle(false, false, "needle")), vec![6, 10]);
    // Grouped by message: the messages whose match is only in a later fragment show.
    assert_eq!(all(needle(true, false, "needle")), vec![2, 8]);
    assert_eq!(all(needle(true, true, "NEEDLE")), Vec::<i64>::new());
    assert_eq!(all(needle(true, false, "NEEDLE")), vec![2, 8]);
    // Across a fragment boundary ("tr" + "ade"): only the joined message has it.
    assert_eq!(all(needle(false, true, r#""trade""#)), vec![4, 7, 10]);
    assert_eq!(all(needle(true, true, r#""trade""#)), vec![2, 4, 7, 8]);
    let re = FrameFilter {
        text: text(r#""px":\d{2}\b"#, true, true),
        messages: true,
        ..Default::default()
    };
    assert_eq!(all(re), vec![2, 8]);
    // Full text, grouped: a message whose words are in any of its frames.
    assert_eq!(
        all(FrameFilter {
            fts: Some("needle".into()),
            messages: true,
            ..Default::default()
        }),
        vec![2, 8]
    );
    assert_eq!(
        all(FrameFilter {
            fts: Some("needle".into()),
            ..Default::default()
        }),
        vec![6, 10]
    );

    // The rows say when the match is not in the preview; the fragments carry the marks.
    let mut q = FrameQuery::new(s, needle(true, false, "needle")).unwrap();
    let rows = store.query_page(&mut q, 0, 10).unwrap();
    assert!(rows.iter().all(|r| r.hidden_hit && r.marks.is_empty()));
    let parts = store
        .message_fragment_rows(s, 2, 100, &needle(true, false, "needle"))
        .unwrap();
    assert_eq!(
        parts.iter().map(|r| r.frame.seq).collect::<Vec<_>>(),
        vec![2, 5, 6]
    );
    assert!(parts[0].marks.is_empty() && parts[1].marks.is_empty());
    assert_eq!(parts[2].marks, vec![[11, 17]]);
    let mut q = FrameQuery::new(s, needle(false, false, "needle")).unwrap();
    let rows = store.query_page(&mut q, 0, 10).unwrap();
    assert_eq!(rows[0].marks, vec![[11, 17]]);
    assert!(!rows[0].hidden_hit);

    // Live: a message whose last frame has not arrived is matched when it does.
    let mut live = FrameQuery::new(s, json(r#"type == "trade""#, false)).unwrap();
    let mut grouped = FrameQuery::new(s, needle(true, false, "late")).unwrap();
    store
        .record_frame_blocking(part(s, b, S, Opcode::Text, false, br#"{"type":"tr"#, 20))
        .unwrap(); // 11
    store
        .record_frame_blocking(frame(
            s,
            a,
            S,
            Opcode::Text,
            br#"{"type":"trade","px":2}"#,
            21,
        ))
        .unwrap(); // 12
    store.flush_blocking().unwrap();
    assert_eq!(store.query_count(&mut live, FOREVER).unwrap().count, 5);
    assert_eq!(store.query_count(&mut grouped, FOREVER).unwrap().count, 0);
    store
        .record_frame_blocking(part(
            s,
            b,
            S,
            Opcode::Continuation,
            true,
            br#"ade","px":5,"late":true}"#,
            22,
        ))
        .unwrap(); // 13
    store.flush_blocking().unwrap();
    let c = store.query_count(&mut live, FOREVER).unwrap();
    assert_eq!((c.count, c.complete), (6, true));
    let rows = store.query_page(&mut live, 0, 10).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.frame.seq).collect::<Vec<_>>(),
        vec![2, 4, 7, 8, 11, 12]
    );
    assert_eq!(store.query_count(&mut grouped, FOREVER).unwrap().count, 1);
    assert_eq!(
        store.query_page(&mut grouped, 0, 5).unwrap()[0].frame.seq,
        11
    );
}

/// The detail view's highlights: byte ranges and the UTF-16 ranges of the lossy text.
#[test]
fn payload_matches_in_bytes_and_utf16() {
    let f = |p: &str, regex: bool, cs: bool| FrameFilter {
        text: text(p, regex, cs),
        ..Default::default()
    };
    let m = payload_matches(&f("b", false, true), "a😀b b".as_bytes(), 100).unwrap();
    assert!(m.active && !m.capped);
    assert_eq!(m.bytes, vec![[5, 6], [7, 8]]);
    assert_eq!(m.utf16, vec![[3, 4], [5, 6]]);
    // Invalid UTF-8 reads as one U+FFFD per bad sequence (TextDecoder's way).
    let hay = b"a\xffb\xe2\x82c\xf0\x9f\x98\x80c";
    let m = payload_matches(&f("c", false, true), hay, 100).unwrap();
    assert_eq!(m.bytes, vec![[5, 6], [10, 11]]);
    assert_eq!(m.utf16, vec![[4, 5], [7, 8]]);
    // Case option and regex semantics are the filter's (Rust regex: \d, (?i), \b Unicode).
    let m = payload_matches(&f("NEEDLE", false, false), b"a Needle, needle", 100).unwrap();
    assert_eq!(m.bytes, vec![[2, 8], [10, 16]]);
    let m = payload_matches(&f(r"(?i)px=\d+\b", true, true), b"PX=12 px=3x", 100).unwrap();
    assert_eq!(m.bytes, vec![[0, 5]]);
    // Empty matches are skipped; the cap says so.
    let m = payload_matches(&f("x*", true, true), b"axxbx", 100).unwrap();
    assert_eq!(m.bytes, vec![[1, 3], [4, 5]]);
    let m = payload_matches(&f("x", false, true), b"xxxxx", 3).unwrap();
    assert_eq!((m.bytes.len(), m.capped), (3, true));
    // Full-text words: prefixes of words, case-insensitive.
    let fts = FrameFilter {
        fts: Some("tra".into()),
        ..Default::default()
    };
    let m = payload_matches(&fts, b"Trade, extra, trace", 100).unwrap();
    assert_eq!(m.bytes, vec![[0, 3], [14, 17]]);
    // No text condition: nothing to find; a bad one is refused.
    let m = payload_matches(&FrameFilter::default(), b"abc", 100).unwrap();
    assert!(!m.active && m.bytes.is_empty());
    assert!(matches!(
        payload_matches(&f("(", true, true), b"", 100),
        Err(StoreError::Invalid(_))
    ));
}
