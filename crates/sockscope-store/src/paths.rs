use std::path::PathBuf;

/// Environment variable that overrides the database location (CLI and app alike).
pub const DB_ENV: &str = "SOCKSCOPE_DB";

/// The platform data dir's database: `~/.local/share/sockscope/sockscope.db` on Linux.
pub fn default_db_path() -> PathBuf {
    match directories::ProjectDirs::from("", "", "sockscope") {
        Some(dirs) => dirs.data_dir().join("sockscope.db"),
        None => PathBuf::from("sockscope.db"),
    }
}

/// `--db PATH` first, then `SOCKSCOPE_DB`, then the platform default.
pub fn resolve_db_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(DB_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(default_db_path)
}
