//! Schema v9: the detail view's decoder choice, per connection and as a session default,
//! survives closing and reopening the database file, and goes with its session.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::{rt, session_with_connection};
use sockscope_proto::ConnectionId;
use sockscope_store::{migrate_to, DecoderChoices, NewConnection, SessionKind, Store, StoreError};

#[test]
fn choices_survive_reopen_and_can_be_cleared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.db");
    let store = Store::open(&path).expect("open");
    let (s, c1, c2, other) = rt().block_on(async {
        let (s, c1) = session_with_connection(&store, "io", SessionKind::Proxy).await;
        let c2 = store
            .create_connection(NewConnection {
                session: s,
                url: "ws://127.0.0.1:1/socket.io/?EIO=3&transport=websocket".into(),
                request_headers: vec![],
                insecure: false,
                created_at_us: 2,
            })
            .await
            .expect("connection");
        let (other, _) = session_with_connection(&store, "other", SessionKind::Client).await;
        // Nothing saved yet.
        assert_eq!(
            store.decoder_choices(s).expect("read"),
            DecoderChoices::default()
        );
        store
            .set_decoder_choice(s, Some(c1), Some("socketio"))
            .await
            .expect("set");
        store
            .set_decoder_choice(s, Some(c2), Some("none"))
            .await
            .expect("set");
        // A second choice replaces the first.
        store
            .set_decoder_choice(s, Some(c2), Some("sockjs"))
            .await
            .expect("set");
        store
            .set_decoder_choice(s, None, Some("msgpack"))
            .await
            .expect("session default");
        (s, c1, c2, other)
    });
    drop(store);

    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        store.decoder_choices(s).expect("read"),
        DecoderChoices {
            session: Some("msgpack".into()),
            connections: vec![(c1.0, "socketio".into()), (c2.0, "sockjs".into())],
        }
    );
    // Per session: the other session has none.
    assert_eq!(
        store.decoder_choices(other).expect("read"),
        DecoderChoices::default()
    );
    rt().block_on(async {
        store
            .set_decoder_choice(s, Some(c1), None)
            .await
            .expect("clear");
        store
            .set_decoder_choice(s, None, None)
            .await
            .expect("clear");
    });
    drop(store);
    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        store.decoder_choices(s).expect("read"),
        DecoderChoices {
            session: None,
            connections: vec![(c2.0, "sockjs".into())],
        }
    );
    // Deleting the session removes its choices.
    rt().block_on(async { store.delete_session(s).await.expect("delete") });
    let c = rusqlite::Connection::open(&path).expect("open");
    let left: i64 = c
        .query_row("SELECT COUNT(*) FROM decoder_choices", [], |r| r.get(0))
        .expect("count");
    assert_eq!(left, 0);
}

#[test]
fn bad_names_and_foreign_connections_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("b.db")).expect("open");
    rt().block_on(async {
        let (s, c) = session_with_connection(&store, "a", SessionKind::Client).await;
        let (t, tc) = session_with_connection(&store, "b", SessionKind::Client).await;
        for bad in ["", "Socket.IO", "<script>", &"x".repeat(33), "a b", "é"] {
            let e = store.set_decoder_choice(s, Some(c), Some(bad)).await;
            assert!(matches!(e, Err(StoreError::Invalid(_))), "{bad:?}: {e:?}");
        }
        // A connection of another session, an unknown one, an unknown session.
        let e = store.set_decoder_choice(s, Some(tc), Some("cbor")).await;
        assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
        let e = store
            .set_decoder_choice(s, Some(ConnectionId(9999)), Some("cbor"))
            .await;
        assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
        let e = store
            .set_decoder_choice(sockscope_proto::SessionId(9999), None, Some("cbor"))
            .await;
        assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
        assert!(store
            .decoder_choices(sockscope_proto::SessionId(9999))
            .is_err());
        let e = store
            .set_decoder_choice(s, Some(ConnectionId(0)), Some("cbor"))
            .await;
        assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
        // Nothing was written; the writer still works.
        assert_eq!(
            store.decoder_choices(s).expect("read"),
            DecoderChoices::default()
        );
        assert_eq!(
            store.decoder_choices(t).expect("read"),
            DecoderChoices::default()
        );
        store
            .set_decoder_choice(s, Some(c), Some("graphql"))
            .await
            .expect("set");
        assert_eq!(
            store.decoder_choices(s).expect("read").connections,
            vec![(c.0, "graphql".to_owned())]
        );
    });
}

#[test]
fn a_v8_file_migrates_and_keeps_its_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v8.db");
    migrate_to(&path, 8).expect("v8");
    {
        let c = rusqlite::Connection::open(&path).expect("open");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, 8);
        let has: bool = c
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'decoder_choices')",
                [],
                |r| r.get(0),
            )
            .expect("table");
        assert!(!has);
    }
    let store = Store::open(&path).expect("open migrates");
    rt().block_on(async {
        let (s, c) = session_with_connection(&store, "after", SessionKind::Client).await;
        store
            .set_decoder_choice(s, Some(c), Some("stomp"))
            .await
            .expect("set");
        assert_eq!(
            store.decoder_choices(s).expect("read").connections,
            vec![(c.0, "stomp".to_owned())]
        );
    });
}
