/// Commands the UI may call; each gets an `allow-*` permission that
/// `capabilities/main.json` grants to the main window (nothing else is allowed).
const COMMANDS: &[&str] = &[
    "list_sessions",
    "store_notice",
    "storage_status",
    "set_db_size_limit",
    "list_connections",
    "connect",
    "send_text",
    "disconnect",
    "subscribe_session",
    "get_payload",
    "start_proxy",
    "stop_proxy",
    "list_proxies",
    "inject_text",
    "inject_frame",
    "ca_info",
    "ca_regenerate",
    "list_sessions_sorted",
    "rename_session",
    "set_session_notes",
    "set_session_tags",
    "set_session_pinned",
    "delete_session",
    "storage_info",
    "search_payloads",
    "import_data",
    "export_session",
    "replay_plan",
    "url_is_loopback",
    "start_replay",
    "stop_replay",
    "start_mock",
    "stop_mock",
    "list_mocks",
    "diff_connections",
    "timeline_count",
    "timeline_page",
    "timeline_index_of",
    "message_fragments",
    "connection_frame_counts",
    "frame_facts",
    "get_message",
    "session_stats",
    "wb_connect",
    "wb_send",
    "wb_close",
    "wb_remove",
    "wb_list",
    "wb_subscribe",
    "wb_handshake",
    "wb_expand",
    "history_get",
    "history_append",
    "templates_list",
    "templates_dir",
    "template_save",
    "template_delete",
    "send_on_save_start",
    "send_on_save_stop",
    "send_on_save_list",
    "demo_start",
    "demo_stop",
    "demo_list",
    "intercept_state",
    "intercept_save_rule",
    "intercept_delete_rule",
    "intercept_reorder_rules",
    "intercept_set_rule_enabled",
    "intercept_set_timeout",
    "intercept_decide",
    "intercept_forward_all",
    "intercept_subscribe",
];

fn main() {
    // tauri.conf.json lives at the repository root (DESIGN.md §1).
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=capabilities");
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attrs) {
        println!("cargo:warning=tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
