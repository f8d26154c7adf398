//! Sockscope desktop app: a thin Tauri 2 shell. Commands are one-liners into the engine and
//! the store; frame streams reach the UI in batches over a `tauri::ipc::Channel`.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bridge;
mod commands;
mod state;

/// The app's own pages: `tauri://localhost` (Linux, macOS) or `http(s)://tauri.localhost`
/// (Windows). Anything else — a link in a payload, `location = …` from injected script — is
/// never loaded in the app window.
fn is_app_url(url: &tauri::Url) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => url.host_str() == Some("tauri.localhost"),
        _ => false,
    }
}

fn main() {
    // Hands the heap pages glibc keeps after frees back every 10 s (`SOCKSCOPE_TRIM_SECS`).
    let _trimmer = sockscope_heap::start_from_env("sockscope-app");
    let db = state::db_path_from_args(std::env::args_os().skip(1));
    let app_state = state::AppState::open(db);
    if let Err(e) = &app_state.services {
        eprintln!("sockscope-app: {e}");
    }
    if let Some(notice) = &app_state.store_notice {
        eprintln!("sockscope-app: warning: {notice}");
    }
    let nav_guard = tauri::plugin::Builder::<tauri::Wry>::new("navigation-guard")
        .on_navigation(|_webview, url| {
            let allowed = is_app_url(url);
            if !allowed {
                eprintln!("sockscope-app: blocked navigation to {url}");
            }
            allowed
        })
        .build();
    let result = tauri::Builder::default()
        .plugin(nav_guard)
        .manage(app_state)
        .manage(commands::timeline::TimelineQueries::default())
        .manage(commands::intercept::InterceptState::default())
        .invoke_handler(tauri::generate_handler![
            commands::list_sessions,
            commands::store_notice,
            commands::storage_status,
            commands::set_db_size_limit,
            commands::list_connections,
            commands::connect,
            commands::send_text,
            commands::disconnect,
            commands::subscribe_session,
            commands::get_payload,
            commands::proxy::start_proxy,
            commands::proxy::stop_proxy,
            commands::proxy::list_proxies,
            commands::proxy::inject_text,
            commands::proxy::inject_frame,
            commands::proxy::ca_info,
            commands::proxy::ca_regenerate,
            commands::sessions::list_sessions_sorted,
            commands::sessions::rename_session,
            commands::sessions::set_session_notes,
            commands::sessions::set_session_tags,
            commands::sessions::set_session_pinned,
            commands::sessions::delete_session,
            commands::sessions::storage_info,
            commands::sessions::search_payloads,
            commands::sessions::import_data,
            commands::sessions::export_session,
            commands::replay::replay_plan,
            commands::replay::url_is_loopback,
            commands::replay::start_replay,
            commands::replay::stop_replay,
            commands::replay::start_mock,
            commands::replay::stop_mock,
            commands::replay::list_mocks,
            commands::replay::diff_connections,
            commands::timeline::timeline_count,
            commands::timeline::timeline_page,
            commands::timeline::timeline_index_of,
            commands::timeline::message_fragments,
            commands::timeline::find_matches,
            commands::timeline::connection_frame_counts,
            commands::stats::frame_facts,
            commands::stats::get_message,
            commands::stats::session_stats,
            commands::decoders::get_decoder_choices,
            commands::decoders::set_decoder_choice,
            commands::workbench::wb_connect,
            commands::workbench::wb_send,
            commands::workbench::wb_close,
            commands::workbench::wb_remove,
            commands::workbench::wb_list,
            commands::workbench::wb_subscribe,
            commands::workbench::wb_handshake,
            commands::workbench::wb_expand,
            commands::workbench::history_get,
            commands::workbench::history_append,
            commands::workbench::templates_list,
            commands::workbench::templates_dir,
            commands::workbench::template_save,
            commands::workbench::template_delete,
            commands::workbench::send_on_save_start,
            commands::workbench::send_on_save_stop,
            commands::workbench::send_on_save_list,
            commands::workbench::demo_start,
            commands::workbench::demo_stop,
            commands::workbench::demo_list,
            commands::intercept::intercept_state,
            commands::intercept::intercept_save_rule,
            commands::intercept::intercept_delete_rule,
            commands::intercept::intercept_reorder_rules,
            commands::intercept::intercept_set_rule_enabled,
            commands::intercept::intercept_set_timeout,
            commands::intercept::intercept_decide,
            commands::intercept::intercept_forward_all,
            commands::intercept::intercept_subscribe,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"));
    if let Err(e) = result {
        eprintln!("sockscope-app: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::is_app_url;

    #[test]
    fn only_the_app_pages_may_be_loaded() {
        let ok = |u: &str| is_app_url(&tauri::Url::parse(u).expect("url"));
        assert!(ok("tauri://localhost/"));
        assert!(ok("tauri://localhost/index.html#x"));
        assert!(ok("http://tauri.localhost/"));
        for bad in [
            "https://example.com/",
            "http://localhost:1420/",
            "tauri://evil/",
            "file:///etc/passwd",
            "data:text/html,x",
            "javascript:alert(1)",
            "http://tauri.localhost.evil.com/",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }
}
