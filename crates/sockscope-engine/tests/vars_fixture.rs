//! The variable grammar against the shared cases in docs/fixtures/variables.json (the UI's
//! preview follows the same file), so the Rust and TypeScript expanders agree.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use sockscope_engine::vars::{expand, VarContext};

#[test]
fn shared_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/fixtures/variables.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let ctx = VarContext {
        counter: v["counter"].as_u64().expect("counter"),
        now_ms: v["now_ms"].as_i64().expect("now_ms"),
    };
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() > 10);
    for case in cases {
        let input = case[0].as_str().expect("input");
        let want = case[1].as_str().expect("output");
        assert_eq!(expand(input, &ctx), want, "input {input:?}");
    }
}
