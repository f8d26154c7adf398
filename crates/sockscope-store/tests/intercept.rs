//! Intercept in the store: frames marked held / edited / dropped / replaced keep their marks
//! through summaries, JSONL export → import → export and HAR; the saved rule list (order,
//! toggles, counts) survives a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::*;
use sockscope_proto::{Direction, InterceptMarks, Opcode};
use sockscope_store::{ConnectionEvent, SessionKind, Store, StoreError};

fn marks(held: bool, edited: bool, dropped: bool, replaced: bool) -> InterceptMarks {
    InterceptMarks {
        held,
        edited,
        dropped,
        replaced,
    }
}

#[test]
fn marks_survive_summaries_jsonl_round_trips_and_stay_out_of_har_and_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("i.db")).expect("open");
    let rt = rt();
    let s = rt.block_on(async {
        let (s, c) = session_with_connection_at(
            &store,
            "intercepted",
            SessionKind::Proxy,
            "ws://127.0.0.1:9/",
            T0,
        )
        .await;
        store
            .update_connection(ConnectionEvent::Opened {
                id: c,
                at_us: T0 + 1,
                request_headers: vec![],
                response_status: 101,
                response_headers: vec![],
                subprotocol: None,
            })
            .await
            .expect("open");
        let rows = [
            ("plain", marks(false, false, false, false)),
            (r#"{"qty":1}"#, marks(true, false, false, true)),
            (r#"{"qty":5}"#, marks(true, true, false, false)),
            ("gone", marks(false, false, true, false)),
            ("held then passed", marks(true, false, false, false)),
        ];
        for (i, (text, m)) in rows.iter().enumerate() {
            let mut f = frame(
                s,
                c,
                Direction::Client,
                Opcode::Text,
                text.as_bytes(),
                10 + i as i64,
            );
            f.marks = *m;
            store.record_frame(f).await.expect("frame");
        }
        store.flush().await.expect("flush");
        s
    });
    let sums = store.frames_after(s, 0, 10).expect("frames");
    let got: Vec<(bool, bool, bool, bool)> = sums
        .iter()
        .map(|f| (f.held, f.edited, f.dropped, f.replaced))
        .collect();
    assert_eq!(
        got,
        [
            (false, false, false, false),
            (true, false, false, true),
            (true, true, false, false),
            (false, false, true, false),
            (true, false, false, false)
        ]
    );
    assert_eq!(
        store.frame(s, 3).expect("frame").marks,
        marks(true, true, false, false)
    );

    let first = export_jsonl(&store, s);
    let frame_lines: Vec<serde_json::Value> = normalized_jsonl(&first)
        .into_iter()
        .filter(|l| l["type"] == "frame")
        .collect();
    assert_eq!(frame_lines[0].get("held"), None);
    assert_eq!(frame_lines[1]["replaced"], true);
    assert_eq!(frame_lines[1]["held"], true);
    assert_eq!(frame_lines[2]["edited"], true);
    assert_eq!(frame_lines[3]["dropped"], true);
    let copy = store
        .import_jsonl(&mut first.as_bytes(), &Default::default(), &|_| {})
        .expect("import");
    assert_eq!(
        normalized_jsonl(&first),
        normalized_jsonl(&export_jsonl(&store, copy))
    );

    // What reached the other side: the replaced original and the dropped message are left out.
    let conn = store.connections(s).expect("conns")[0].id;
    let delivered: Vec<Vec<u8>> = store
        .connection_messages(conn)
        .expect("messages")
        .into_iter()
        .map(|m| m.payload.to_vec())
        .collect();
    assert_eq!(
        delivered,
        [
            b"plain".to_vec(),
            br#"{"qty":5}"#.to_vec(),
            b"held then passed".to_vec()
        ]
    );
    let har = export_har(&store, s);
    let msgs = har["log"]["entries"][0]["_webSocketMessages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["data"].as_str().expect("data").to_owned())
        .collect::<Vec<_>>();
    assert_eq!(msgs, ["plain", r#"{"qty":5}"#, "held then passed"]);
}

#[test]
fn rules_are_saved_in_order_toggled_counted_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.db");
    let rt = rt();
    let (a, b, c) = {
        let store = Store::open(&path).expect("open");
        rt.block_on(async {
            let a = store.save_rule(None, r#"{"a":1}"#, true).await.expect("a");
            let b = store.save_rule(None, r#"{"b":1}"#, false).await.expect("b");
            let c = store.save_rule(None, r#"{"c":1}"#, true).await.expect("c");
            store.reorder_rules(&[c, a, b]).await.expect("reorder");
            store.set_rule_enabled(b, true).await.expect("toggle");
            store
                .save_rule(Some(a), r#"{"a":2}"#, false)
                .await
                .expect("edit");
            store
                .add_rule_matches(vec![(a, 3), (c, 1), (999, 5)])
                .await
                .expect("counts");
            store.add_rule_matches(vec![(a, 2)]).await.expect("counts");
            // Refused without changing anything.
            assert!(matches!(
                store.reorder_rules(&[a, b]).await,
                Err(StoreError::Invalid(_))
            ));
            assert!(matches!(
                store.set_rule_enabled(12345, true).await,
                Err(StoreError::NotFound(_))
            ));
            assert!(store
                .save_rule(None, &"x".repeat(70_000), true)
                .await
                .is_err());
            (a, b, c)
        })
    };
    let store = Store::open(&path).expect("reopen");
    let rules = store.rules().expect("rules");
    let got: Vec<(i64, i64, bool, &str, i64)> = rules
        .iter()
        .map(|r| (r.id, r.position, r.enabled, r.spec.as_str(), r.match_count))
        .collect();
    assert_eq!(
        got,
        [
            (c, 0, true, r#"{"c":1}"#, 1),
            (a, 1, false, r#"{"a":2}"#, 5),
            (b, 2, true, r#"{"b":1}"#, 0)
        ]
    );
    rt.block_on(store.delete_rule(a)).expect("delete");
    let left: Vec<(i64, i64)> = store
        .rules()
        .expect("rules")
        .iter()
        .map(|r| (r.id, r.position))
        .collect();
    assert_eq!(left, [(c, 0), (b, 1)]);
}
