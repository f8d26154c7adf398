//! The detail view's reads (frame facts, joined messages) and the statistics query, on a
//! real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{frame, rich_session, rt, T0};
use sockscope_proto::{ConnectionId, Direction, Opcode};
use sockscope_store::{NewConnection, SessionKind, Store, MESSAGE_CAP};

#[test]
fn facts_and_joined_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("t.db")).expect("open");
    let rt = rt();
    let s = rt.block_on(rich_session(&store, "rich"));

    // "frag-" (6), another connection's frame (7), "ment" (8), "ed" (9, FIN).
    for seq in [6, 8, 9] {
        let m = store.message_payload(s, seq, MESSAGE_CAP).expect("message");
        assert_eq!(m.bytes, b"frag-mented", "from seq {seq}");
        assert!(!m.cut);
        assert_eq!(
            (m.span.first_seq, m.span.last_seq, m.span.frames),
            (6, 9, 3)
        );
        assert_eq!(m.span.len, 11);
        assert_eq!(m.span.opcode, Opcode::Text);
        assert!(m.span.complete && !m.span.compressed);
    }
    let cut = store.message_payload(s, 8, 7).expect("message");
    assert_eq!(cut.bytes, b"frag-me");
    assert!(cut.cut);

    let facts = store.frame_facts(s, 8).expect("facts");
    assert_eq!(facts.opcode_value, 0);
    assert!(!facts.fin && !facts.rsv1 && !facts.rsv2 && !facts.rsv3);
    assert_eq!(facts.dir, Direction::Server);
    assert_eq!(facts.head, b"ment");
    assert_eq!(
        facts.message.as_ref().map(|m| (m.first_seq, m.last_seq)),
        Some((6, 9))
    );
    assert_eq!(facts.connection_opened_at_us, Some(T0 + 5));

    // A whole message is its own span; a compressed one comes inflated.
    let one = store.message_payload(s, 1, MESSAGE_CAP).expect("message");
    assert_eq!(one.bytes, b"hello <b>world</b>");
    assert_eq!(one.span.frames, 1);
    let z = store.message_payload(s, 11, MESSAGE_CAP).expect("message");
    assert_eq!(z.bytes, b"inflated zebra text");
    assert!(z.span.compressed);
    let zf = store.frame_facts(s, 11).expect("facts");
    assert!(zf.rsv1);
    assert_eq!(zf.inflated_len, Some(19));

    // Reserved opcode 3 with RSV2/RSV3: facts as on the wire, no message.
    let odd = store.frame_facts(s, 13).expect("facts");
    assert_eq!(odd.opcode_value, 3);
    assert!(odd.rsv2 && odd.rsv3 && !odd.masked);
    assert!(odd.message.is_none());
    assert_eq!(
        odd.note.as_deref(),
        Some("reserved opcode 3; reserved bits RSV2/RSV3 set")
    );

    // Truncated: wire length vs recorded bytes.
    let t = store.frame_facts(s, 14).expect("facts");
    assert_eq!((t.len, t.recorded_len, t.truncated), (100_000, 10, true));
    assert!(
        store
            .message_payload(s, 14, MESSAGE_CAP)
            .expect("message")
            .cut
    );

    // Control frames are their own message.
    let ping = store.message_payload(s, 4, MESSAGE_CAP).expect("ping");
    assert_eq!(ping.bytes, b"p1");
    assert!(store.frame_facts(s, 4).expect("facts").message.is_none());

    assert!(store.frame_facts(s, 999).is_err());
    assert!(store.message_payload(s, 999, MESSAGE_CAP).is_err());
}

#[test]
fn the_masking_key_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let rt = rt();
    let s;
    {
        let store = Store::open(&path).expect("open");
        s = rt
            .block_on(store.create_session("m", SessionKind::Proxy))
            .expect("session");
        let c = rt
            .block_on(store.create_connection(NewConnection {
                session: s,
                url: "ws://127.0.0.1:9/".into(),
                request_headers: vec![],
                insecure: false,
                created_at_us: T0,
            }))
            .expect("conn");
        let mut f = frame(s, c, Direction::Client, Opcode::Text, b"Hello", 1);
        f.mask_key = Some([0x37, 0xfa, 0x21, 0x3d]);
        rt.block_on(store.record_frame(f)).expect("record");
        rt.block_on(store.record_frame(frame(s, c, Direction::Server, Opcode::Text, b"Hi", 2)))
            .expect("record");
        rt.block_on(store.flush()).expect("flush");
    }
    // Survives a reopen (the column is part of the schema).
    let store = Store::open(&path).expect("reopen");
    let f = store.frame_facts(s, 1).expect("facts");
    assert!(f.masked);
    assert_eq!(f.mask_key.as_deref(), Some("37fa213d"));
    assert_eq!(f.head, b"Hello");
    let g = store.frame_facts(s, 2).expect("facts");
    assert!(!g.masked && g.mask_key.is_none());
}

#[test]
fn statistics_bucket_by_time_and_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("t.db")).expect("open");
    let rt = rt();
    let s = rt
        .block_on(store.create_session("stats", SessionKind::Client))
        .expect("session");
    let conn = |at: i64| NewConnection {
        session: s,
        url: "ws://127.0.0.1:9/".into(),
        request_headers: vec![],
        insecure: false,
        created_at_us: T0 + at,
    };
    let a = rt.block_on(store.create_connection(conn(0))).expect("a");
    let b = rt.block_on(store.create_connection(conn(0))).expect("b");
    // Connection a: 10 s of traffic, one client frame of 10 B and one server frame of 100 B
    // per second; connection b: one 5000-byte binary frame at 3.5 s and a ping.
    for i in 0..10 {
        let t = i * 1_000_000;
        rt.block_on(store.record_frame(frame(
            s,
            a,
            Direction::Client,
            Opcode::Text,
            &[b'c'; 10],
            t,
        )))
        .expect("rec");
        rt.block_on(store.record_frame(frame(
            s,
            a,
            Direction::Server,
            Opcode::Text,
            &[b's'; 100],
            t + 500,
        )))
        .expect("rec");
    }
    rt.block_on(store.record_frame(frame(
        s,
        b,
        Direction::Server,
        Opcode::Binary,
        &[7u8; 5000],
        3_500_000,
    )))
    .expect("rec");
    rt.block_on(store.record_frame(frame(s, b, Direction::Client, Opcode::Ping, b"", 3_600_000)))
        .expect("rec");
    rt.block_on(store.flush()).expect("flush");

    let st = store.stats(s, None, 240).expect("stats");
    assert_eq!((st.totals.client.frames, st.totals.client.bytes), (11, 100));
    assert_eq!(
        (st.totals.server.frames, st.totals.server.bytes),
        (11, 6000)
    );
    assert_eq!(
        (st.totals.text, st.totals.binary, st.totals.control),
        (20, 1, 1)
    );
    assert_eq!(st.totals.first_us, Some(T0));
    assert_eq!(st.totals.last_us, Some(T0 + 9_000_500));
    assert_eq!(st.totals.max_len, 5000);
    // 9 s over at most 240 buckets: 50 ms buckets, aligned to multiples of the width.
    assert_eq!(st.bucket_us, 50_000);
    assert_eq!(st.buckets[0].t_us % st.bucket_us, 0);
    assert!(st.buckets.len() <= 241);
    let sum_client: u64 = st.buckets.iter().map(|b| b.client.frames).sum();
    let sum_server_bytes: u64 = st.buckets.iter().map(|b| b.server.bytes).sum();
    assert_eq!((sum_client, sum_server_bytes), (11, 6000));
    let at = |t: i64| {
        st.buckets
            .iter()
            .find(|b| b.t_us <= T0 + t && T0 + t < b.t_us + st.bucket_us)
            .expect("bucket")
    };
    assert_eq!(at(3_500_000).server.bytes, 5000);
    assert_eq!(at(3_000_000).client.frames, 1);
    // Sizes: 0-byte ping in [0,16) with the 10-byte frames, 100 B in [64,256), 5000 B in [4096,16384).
    let size = |min: u64| st.sizes.iter().find(|b| b.min == min).expect("size");
    assert_eq!((size(0).client, size(0).server), (11, 0));
    assert_eq!(size(64).server, 10);
    assert_eq!(size(4096).server, 1);
    assert_eq!(st.sizes.last().map(|b| b.max), Some(None));

    // One connection only.
    let sb = store.stats(s, Some(b), 240).expect("stats b");
    assert_eq!(sb.connection, Some(b));
    assert_eq!((sb.totals.client.frames, sb.totals.server.frames), (1, 1));
    assert_eq!(sb.bucket_us, 1_000);
    // An empty selection.
    let none = store
        .stats(s, Some(ConnectionId(999_999)), 240)
        .expect("empty");
    assert!(none.buckets.is_empty());
    assert_eq!(none.totals.first_us, None);
}
