//! Live connections by id: their command senders and states. A std mutex, never held
//! across an `.await`.

use crate::{Command, EngineError};
use sockscope_proto::ConnectionId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

struct Entry {
    tx: mpsc::Sender<Command>,
    open: Arc<AtomicBool>,
}

#[derive(Clone, Default)]
pub(crate) struct Registry {
    inner: Arc<(Mutex<HashMap<ConnectionId, Entry>>, Notify)>,
}

impl Registry {
    /// Registers a connection; the returned flag is set while it is open.
    pub fn insert(&self, id: ConnectionId, tx: mpsc::Sender<Command>) -> Arc<AtomicBool> {
        let open = Arc::new(AtomicBool::new(false));
        if let Ok(mut map) = self.inner.0.lock() {
            map.insert(
                id,
                Entry {
                    tx,
                    open: open.clone(),
                },
            );
        }
        open
    }

    pub fn remove(&self, id: ConnectionId) {
        if let Ok(mut map) = self.inner.0.lock() {
            map.remove(&id);
        }
        self.inner.1.notify_waiters();
    }

    pub fn sender(&self, id: ConnectionId) -> Result<mpsc::Sender<Command>, EngineError> {
        let map = self
            .inner
            .0
            .lock()
            .map_err(|_| EngineError::Internal("registry poisoned".into()))?;
        map.get(&id)
            .map(|e| e.tx.clone())
            .ok_or(EngineError::NotConnected(id))
    }

    pub fn open_sender(&self, id: ConnectionId) -> Result<mpsc::Sender<Command>, EngineError> {
        let map = self
            .inner
            .0
            .lock()
            .map_err(|_| EngineError::Internal("registry poisoned".into()))?;
        match map.get(&id) {
            Some(e) if e.open.load(Ordering::Acquire) => Ok(e.tx.clone()),
            Some(_) => Err(EngineError::NotOpen(id)),
            None => Err(EngineError::NotConnected(id)),
        }
    }

    pub fn ids(&self) -> Vec<ConnectionId> {
        self.inner
            .0
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    pub async fn wait_empty(&self) {
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.ids().is_empty() {
                return;
            }
            notified.await;
        }
    }
}
