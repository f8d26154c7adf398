//! Schema v5: sent-message history per target and templates survive a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use sockscope_store::{Store, TemplateRow, HISTORY_KEEP};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn history_is_per_target_newest_first_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let store = Store::open(&path).expect("open");
    rt().block_on(async {
        store
            .history_append("ws://Host:1/a?x=1", "text", "one", 1)
            .await
            .expect("append");
        store
            .history_append("ws://host:1/a", "json", "{\"n\":2}", 2)
            .await
            .expect("append");
        // A repeat of the newest entry is not added again.
        store
            .history_append("ws://host:1/a", "json", "{\"n\":2}", 3)
            .await
            .expect("append");
        store
            .history_append("ws://other:1/", "text", "elsewhere", 4)
            .await
            .expect("append");
    });
    drop(store);
    let store = Store::open(&path).expect("reopen");
    let h = store.history("ws://host:1/a?y=2", 10).expect("history");
    let bodies: Vec<_> = h
        .iter()
        .map(|e| (e.mode.as_str(), e.body.as_str()))
        .collect();
    assert_eq!(bodies, [("json", "{\"n\":2}"), ("text", "one")]);
    assert_eq!(store.history("ws://other:1", 10).expect("h").len(), 1);
    assert!(store.history("ws://nobody/", 10).expect("h").is_empty());
}

#[test]
fn history_keeps_the_newest_entries_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("k.db")).expect("open");
    rt().block_on(async {
        for i in 0..(HISTORY_KEEP + 5) {
            store
                .history_append("ws://h/", "text", &format!("m{i}"), i)
                .await
                .expect("append");
        }
    });
    let h = store.history("ws://h/", 5000).expect("history");
    assert_eq!(h.len() as i64, HISTORY_KEEP);
    assert_eq!(h[0].body, format!("m{}", HISTORY_KEEP + 4));
    assert_eq!(h.last().expect("last").body, "m5");
}

#[test]
fn templates_upsert_rename_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let store = Store::open(&path).expect("open");
    let row = |name: &str, body: &str| TemplateRow {
        name: name.into(),
        mode: "json".into(),
        body: body.into(),
        updated_at_us: 7,
    };
    rt().block_on(async {
        store.template_upsert(row("b", "1"), None).await.expect("b");
        store.template_upsert(row("a", "2"), None).await.expect("a");
        store
            .template_upsert(row("a", "3"), None)
            .await
            .expect("a again");
        store
            .template_upsert(row("c", "4"), Some("b".into()))
            .await
            .expect("rename b -> c");
    });
    drop(store);
    let store = Store::open(&path).expect("reopen");
    let names: Vec<_> = store
        .templates()
        .expect("list")
        .into_iter()
        .map(|t| (t.name, t.body))
        .collect();
    assert_eq!(names, [("a".into(), "3".into()), ("c".into(), "4".into())]);
    rt().block_on(store.template_delete("a")).expect("delete");
    assert_eq!(store.templates().expect("list").len(), 1);
}
