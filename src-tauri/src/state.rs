use sockscope_engine::Engine;
use sockscope_store::Store;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;

/// The engine and store, or why they could not be opened (shown by the UI on every call).
pub struct Services {
    pub store: Store,
    pub engine: Engine,
}

pub struct AppState {
    pub services: Result<Services, String>,
    /// Running capture listeners by the session they record into.
    pub proxies: Mutex<HashMap<i64, RunningProxy>>,
    /// Running replays by the replay's session.
    pub replays: Mutex<HashMap<i64, sockscope_engine::ReplayStopper>>,
    /// Running mock servers by the session recording their clients.
    pub mocks: Mutex<HashMap<i64, (sockscope_engine::Mock, crate::commands::replay::MockInfo)>>,
    /// The live subscription task of each window (a new subscription replaces the old).
    pub subscriptions: Mutex<HashMap<String, tauri::async_runtime::JoinHandle<()>>>,
    /// Workbench: each window's `wb_subscribe` task.
    pub wb_subscriptions: Mutex<HashMap<String, tauri::async_runtime::JoinHandle<()>>>,
    /// Workbench: the templates folder, opened and watched on first use.
    pub templates: tokio::sync::OnceCell<sockscope_engine::templates::Templates>,
    /// Workbench: running send-on-save watches and demo servers, by id.
    pub send_on_save: Mutex<HashMap<u64, sockscope_engine::templates::SendOnSave>>,
    pub demos: Mutex<HashMap<u64, sockscope_engine::demo::Demo>>,
    pub next_id: std::sync::atomic::AtomicU64,
    /// Workbench events raised by the shell (send on save, demo servers).
    pub workbench_events: tokio::sync::broadcast::Sender<crate::commands::workbench::WorkbenchMsg>,
    /// Told to the user once at start: the database was damaged and moved aside.
    pub store_notice: Option<String>,
}

impl AppState {
    pub fn open(db: Option<PathBuf>) -> AppState {
        let path = sockscope_store::resolve_db_path(db);
        let mut store_notice = None;
        // The database size limit, a user setting (`SOCKSCOPE_DB_MAX_MB`); a bad value is
        // reported and ignored rather than keeping the app from starting.
        let max_bytes = match sockscope_store::size_limit_from_env() {
            Ok(limit) => limit,
            Err(e) => {
                eprintln!("sockscope-app: warning: {e}; no size limit is set");
                None
            }
        };
        let options = sockscope_store::StoreOptions {
            max_bytes,
            ..Default::default()
        };
        let services = Store::open_or_recover(&path, options)
            .map(|(store, recovered)| {
                store_notice = recovered.map(|r| format!("{}: {r}", path.display()));
                Services {
                    engine: Engine::new(store.clone()),
                    store,
                }
            })
            .map_err(|e| e.to_string());
        AppState {
            services,
            proxies: Mutex::new(HashMap::new()),
            replays: Mutex::new(HashMap::new()),
            mocks: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            wb_subscriptions: Mutex::new(HashMap::new()),
            templates: tokio::sync::OnceCell::new(),
            send_on_save: Mutex::new(HashMap::new()),
            demos: Mutex::new(HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            workbench_events: tokio::sync::broadcast::channel(256).0,
            store_notice,
        }
    }

    pub fn services(&self) -> Result<&Services, String> {
        self.services.as_ref().map_err(Clone::clone)
    }
}

/// A listener started from the Proxy panel, with what the panel shows of it.
pub struct RunningProxy {
    pub proxy: sockscope_proxy::Proxy,
    pub info: crate::commands::proxy::ProxyInfo,
}

/// `--db PATH` or `--db=PATH` on the app's command line.
pub fn db_path_from_args(args: impl Iterator<Item = OsString>) -> Option<PathBuf> {
    let mut args = args;
    while let Some(a) = args.next() {
        if a == "--db" {
            return args.next().map(PathBuf::from);
        }
        if let Some(rest) = a.to_str().and_then(|s| s.strip_prefix("--db=")) {
            return Some(PathBuf::from(rest));
        }
    }
    None
}

/// The local CA's directory: `SOCKSCOPE_CA_DIR`, else the platform data dir's `ca/` (as the CLI).
pub fn ca_dir() -> PathBuf {
    std::env::var_os("SOCKSCOPE_CA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(sockscope_proxy::ca::default_ca_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_flag_is_read_in_both_forms() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>().into_iter();
        assert_eq!(
            db_path_from_args(args(&["--db", "/tmp/a.db"])),
            Some("/tmp/a.db".into())
        );
        assert_eq!(
            db_path_from_args(args(&["x", "--db=/tmp/b.db"])),
            Some("/tmp/b.db".into())
        );
        assert_eq!(db_path_from_args(args(&["--other"])), None);
    }
}
