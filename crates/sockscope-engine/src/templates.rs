//! Templates folder and "send on save", both watched with `notify` (no GUI here).
//!
//! **Templates**: one file per template in the templates folder
//! (`~/.local/share/sockscope/templates/`, or `SOCKSCOPE_TEMPLATES_DIR`); the file name is
//! `NAME.EXT` with the extension giving the mode (`.txt` text, `.json`, `.hex`, `.b64`). The
//! files are the source of truth; the store's `templates` table mirrors them. The folder is
//! watched: an external edit, a new or a deleted file updates the list within ~150 ms and
//! subscribers get the whole new list.
//!
//! **Send on save**: the folder of a chosen file is watched (editors often save by writing a
//! new file and renaming it over the old one); writes, creations and renames of that file are
//! debounced and then its content is sent once on a link, recorded as injected.

use crate::vars::expand_message;
use crate::{Engine, EngineError, LinkId, Outgoing};
use notify::{EventKind, RecursiveMode, Watcher};
use serde::Serialize;
use sockscope_store::{Store, TemplateRow};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Overrides the templates folder (tests, portable setups).
pub const TEMPLATES_DIR_ENV: &str = "SOCKSCOPE_TEMPLATES_DIR";
/// Largest template or send-on-save file read (bytes).
pub const MAX_FILE: u64 = 16 << 20;
/// Quiet time after the last file event before the folder is read again.
const TEMPLATE_SETTLE: Duration = Duration::from_millis(100);

/// `SOCKSCOPE_TEMPLATES_DIR`, else `templates/` beside the default database
/// (`~/.local/share/sockscope/templates` on Linux).
pub fn templates_dir() -> PathBuf {
    std::env::var_os(TEMPLATES_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            sockscope_store::default_db_path()
                .parent()
                .map_or_else(|| PathBuf::from("templates"), |p| p.join("templates"))
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateMode {
    Text,
    Json,
    Hex,
    Base64,
}

impl TemplateMode {
    pub fn ext(self) -> &'static str {
        match self {
            TemplateMode::Text => "txt",
            TemplateMode::Json => "json",
            TemplateMode::Hex => "hex",
            TemplateMode::Base64 => "b64",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateMode::Text => "text",
            TemplateMode::Json => "json",
            TemplateMode::Hex => "hex",
            TemplateMode::Base64 => "base64",
        }
    }

    fn from_ext(ext: &str) -> Option<TemplateMode> {
        [
            TemplateMode::Text,
            TemplateMode::Json,
            TemplateMode::Hex,
            TemplateMode::Base64,
        ]
        .into_iter()
        .find(|m| m.ext().eq_ignore_ascii_case(ext))
    }

    pub fn parse(s: &str) -> Result<TemplateMode, EngineError> {
        [
            TemplateMode::Text,
            TemplateMode::Json,
            TemplateMode::Hex,
            TemplateMode::Base64,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| EngineError::InvalidOption(format!("unknown template mode {s:?}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub name: String,
    pub mode: TemplateMode,
    pub body: String,
    pub path: String,
    pub updated_at_us: i64,
}

/// A template name usable as a file name stem.
pub fn check_name(name: &str) -> Result<(), EngineError> {
    let bad = name.is_empty()
        || name.chars().count() > 100
        || name.starts_with('.')
        || name.trim() != name
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control());
    if bad {
        return Err(EngineError::InvalidOption(format!(
            "template name {name:?}: 1–100 characters, no / \\ or control characters, not starting with '.' or blank"
        )));
    }
    Ok(())
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::File(format!("{}: {e}", path.display()))
}

fn mtime_us(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .unwrap_or(0)
}

/// Reads the folder: one template per `NAME.EXT` file (the newest when a name has several).
fn scan(dir: &Path) -> Vec<Template> {
    let mut by_name: BTreeMap<String, Template> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let Some(mode) = TemplateMode::from_ext(ext) else {
            continue;
        };
        if check_name(stem).is_err() {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_FILE {
            continue;
        }
        // Only UTF-8 files are templates (editors' binary swap files are not).
        let Ok(body) = std::fs::read_to_string(&path) else {
            continue;
        };
        let t = Template {
            name: stem.to_owned(),
            mode,
            body,
            path: path.display().to_string(),
            updated_at_us: mtime_us(&meta),
        };
        match by_name.get(stem) {
            Some(old) if old.updated_at_us >= t.updated_at_us => {}
            _ => {
                by_name.insert(stem.to_owned(), t);
            }
        }
    }
    by_name.into_values().collect()
}

/// The templates folder, mirrored into the store and watched.
#[derive(Clone)]
pub struct Templates {
    inner: Arc<TemplatesInner>,
}

struct TemplatesInner {
    dir: PathBuf,
    store: Store,
    list: Mutex<Vec<Template>>,
    changes: broadcast::Sender<Vec<Template>>,
    _watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl Templates {
    /// Creates the folder if needed, reads it, mirrors it into the store and starts watching.
    pub async fn open(store: Store, dir: PathBuf) -> Result<Templates, EngineError> {
        std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if !matches!(ev.kind, EventKind::Access(_)) {
                    let _ = tx.send(());
                }
            }
        })
        .map_err(|e| file_err(&dir, e))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| file_err(&dir, e))?;
        let t = Templates {
            inner: Arc::new(TemplatesInner {
                dir,
                store,
                list: Mutex::new(Vec::new()),
                changes: broadcast::channel(64).0,
                _watcher: Mutex::new(Some(watcher)),
            }),
        };
        t.sync().await;
        let weak = Arc::downgrade(&t.inner);
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Let a burst of events (an editor's save) settle, then read once.
                loop {
                    match tokio::time::timeout(TEMPLATE_SETTLE, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                let Some(inner) = weak.upgrade() else { return };
                Templates { inner }.sync().await;
            }
        });
        Ok(t)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Every template, by name.
    pub fn list(&self) -> Vec<Template> {
        self.inner
            .list
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The whole list after each change.
    pub fn subscribe(&self) -> broadcast::Receiver<Vec<Template>> {
        self.inner.changes.subscribe()
    }

    /// Reads the folder; when it differs from what is known, mirrors it and tells subscribers.
    async fn sync(&self) {
        let dir = self.inner.dir.clone();
        let found = tokio::task::spawn_blocking(move || scan(&dir))
            .await
            .unwrap_or_default();
        let old = self.list();
        let same = old.len() == found.len()
            && old
                .iter()
                .zip(&found)
                .all(|(a, b)| a.name == b.name && a.mode == b.mode && a.body == b.body);
        if same {
            return;
        }
        for t in &found {
            let known = old
                .iter()
                .any(|o| o.name == t.name && o.mode == t.mode && o.body == t.body);
            if !known {
                let _ = self
                    .inner
                    .store
                    .template_upsert(
                        TemplateRow {
                            name: t.name.clone(),
                            mode: t.mode.as_str().into(),
                            body: t.body.clone(),
                            updated_at_us: t.updated_at_us,
                        },
                        None,
                    )
                    .await;
            }
        }
        // Rows whose file is gone (the store may also hold rows from an earlier run).
        let store = self.inner.store.clone();
        let rows = tokio::task::spawn_blocking(move || store.templates())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        for row in rows {
            if !found.iter().any(|t| t.name == row.name) {
                let _ = self.inner.store.template_delete(&row.name).await;
            }
        }
        if let Ok(mut l) = self.inner.list.lock() {
            l.clone_from(&found);
        }
        let _ = self.inner.changes.send(found);
    }

    /// Creates or replaces a template (`previous` renames one): the file is written
    /// atomically, then the list is read again.
    pub async fn save(
        &self,
        name: &str,
        mode: TemplateMode,
        body: &str,
        previous: Option<&str>,
    ) -> Result<Template, EngineError> {
        check_name(name)?;
        if body.len() as u64 > MAX_FILE {
            return Err(EngineError::InvalidOption(format!(
                "templates are limited to {MAX_FILE} bytes"
            )));
        }
        let dir = self.inner.dir.clone();
        let path = dir.join(format!("{name}.{}", mode.ext()));
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, body).map_err(|e| file_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| file_err(&path, e))?;
        // The same name in another mode, or the old name of a rename: remove those files.
        let mut stale: Vec<&str> = vec![name];
        if let Some(p) = previous.filter(|p| *p != name) {
            check_name(p)?;
            stale.push(p);
        }
        for stem in stale {
            for m in [
                TemplateMode::Text,
                TemplateMode::Json,
                TemplateMode::Hex,
                TemplateMode::Base64,
            ] {
                let other = dir.join(format!("{stem}.{}", m.ext()));
                if other != path && other.exists() {
                    std::fs::remove_file(&other).map_err(|e| file_err(&other, e))?;
                }
            }
        }
        self.sync().await;
        self.list()
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| EngineError::File(format!("{} was not readable back", path.display())))
    }

    pub async fn delete(&self, name: &str) -> Result<(), EngineError> {
        check_name(name)?;
        let mut found = false;
        for m in [
            TemplateMode::Text,
            TemplateMode::Json,
            TemplateMode::Hex,
            TemplateMode::Base64,
        ] {
            let p = self.inner.dir.join(format!("{name}.{}", m.ext()));
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| file_err(&p, e))?;
                found = true;
            }
        }
        if !found {
            return Err(EngineError::File(format!("no template named {name:?}")));
        }
        self.sync().await;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Send on save

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMode {
    Text,
    Binary,
}

#[derive(Debug, Clone)]
pub struct SendOnSaveOptions {
    pub path: PathBuf,
    pub mode: SendMode,
    /// Text: expand `{{variables}}` before sending.
    pub expand: bool,
    /// Quiet time after the last write before sending (50 ms – 5 s).
    pub debounce: Duration,
}

impl SendOnSaveOptions {
    pub fn new(path: impl Into<PathBuf>) -> SendOnSaveOptions {
        SendOnSaveOptions {
            path: path.into(),
            mode: SendMode::Text,
            expand: false,
            debounce: Duration::from_millis(200),
        }
    }
}

/// What the workbench shows of a send-on-save watch (docs/ipc.md `SendOnSaveInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendOnSaveInfo {
    pub watch_id: u64,
    pub link_id: LinkId,
    pub path: String,
    pub mode: SendMode,
    pub expand: bool,
    pub debounce_ms: u64,
    pub sent: u64,
    pub last_error: Option<String>,
    pub active: bool,
}

/// A running watch. Dropping it stops watching.
pub struct SendOnSave {
    info: watch::Receiver<SendOnSaveInfo>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SendOnSave {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl SendOnSave {
    pub fn info(&self) -> SendOnSaveInfo {
        self.info.borrow().clone()
    }

    /// Changes: started, each send, errors, stopped.
    pub fn subscribe(&self) -> watch::Receiver<SendOnSaveInfo> {
        self.info.clone()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Engine {
    /// Watches `opts.path`; each save sends its content once on the link.
    pub fn send_on_save(
        &self,
        link: LinkId,
        watch_id: u64,
        opts: SendOnSaveOptions,
    ) -> Result<SendOnSave, EngineError> {
        self.link(link)?;
        if !(Duration::from_millis(50)..=Duration::from_secs(5)).contains(&opts.debounce) {
            return Err(EngineError::InvalidOption(
                "debounce must be 50–5000 ms".into(),
            ));
        }
        let path = std::path::absolute(&opts.path).map_err(|e| file_err(&opts.path, e))?;
        let meta = std::fs::metadata(&path).map_err(|e| file_err(&path, e))?;
        if !meta.is_file() {
            return Err(file_err(&path, "not a regular file"));
        }
        let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
            return Err(file_err(&path, "no folder"));
        };
        let file_name = file_name.to_owned();
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            let relevant = matches!(
                ev.kind,
                EventKind::Create(_)
                    | EventKind::Modify(notify::event::ModifyKind::Data(_))
                    | EventKind::Modify(notify::event::ModifyKind::Name(_))
                    | EventKind::Modify(notify::event::ModifyKind::Any)
                    | EventKind::Access(notify::event::AccessKind::Close(
                        notify::event::AccessMode::Write
                    ))
            );
            if relevant
                && ev
                    .paths
                    .iter()
                    .any(|p| p.file_name() == Some(file_name.as_os_str()))
            {
                let _ = tx.send(());
            }
        })
        .map_err(|e| file_err(dir, e))?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| file_err(dir, e))?;
        let info = SendOnSaveInfo {
            watch_id,
            link_id: link,
            path: path.display().to_string(),
            mode: opts.mode,
            expand: opts.expand,
            debounce_ms: u64::try_from(opts.debounce.as_millis()).unwrap_or(u64::MAX),
            sent: 0,
            last_error: None,
            active: true,
        };
        let (info_tx, info_rx) = watch::channel(info);
        let (stop, mut stop_rx) = watch::channel(false);
        let engine = self.clone();
        let task = tokio::spawn(async move {
            let _watcher = watcher;
            loop {
                tokio::select! {
                    ev = rx.recv() => if ev.is_none() { break },
                    _ = stopped(&mut stop_rx) => break,
                }
                // Debounce: wait for quiet.
                loop {
                    tokio::select! {
                        r = tokio::time::timeout(opts.debounce, rx.recv()) => match r {
                            Ok(Some(())) => continue,
                            Ok(None) | Err(_) => break,
                        },
                        _ = stopped(&mut stop_rx) => {
                            info_tx.send_modify(|i| i.active = false);
                            return;
                        }
                    }
                }
                let result = send_file(&engine, link, &path, &opts).await;
                info_tx.send_modify(|i| match result {
                    Ok(()) => {
                        i.sent += 1;
                        i.last_error = None;
                    }
                    Err(e) => i.last_error = Some(e.to_string()),
                });
            }
            info_tx.send_modify(|i| i.active = false);
        });
        Ok(SendOnSave {
            info: info_rx,
            stop,
            task: Some(task),
        })
    }
}

async fn send_file(
    engine: &Engine,
    link: LinkId,
    path: &Path,
    opts: &SendOnSaveOptions,
) -> Result<(), EngineError> {
    let owned = path.to_owned();
    let bytes = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&owned).map_err(|e| file_err(&owned, e))?;
        if meta.len() > MAX_FILE {
            return Err(file_err(&owned, format!("larger than {MAX_FILE} bytes")));
        }
        std::fs::read(&owned).map_err(|e| file_err(&owned, e))
    })
    .await
    .map_err(|e| EngineError::Internal(e.to_string()))??;
    let msg = match opts.mode {
        SendMode::Binary => Outgoing::Binary(bytes.into()),
        SendMode::Text => {
            let text = String::from_utf8(bytes)
                .map_err(|_| file_err(path, "not valid UTF-8 (send it as binary)"))?;
            if opts.expand {
                engine.link(link)?;
                let now_ms = sockscope_proto::now_us() / 1000;
                let (text, _) = expand_message(&text, now_ms, || {
                    engine.link_next_counter(link).unwrap_or_default()
                });
                Outgoing::Text(text)
            } else {
                Outgoing::Text(text)
            }
        }
    };
    engine.link_send(link, msg).await
}

/// Resolves once the flag is set (the watch guard is not held across an await).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
