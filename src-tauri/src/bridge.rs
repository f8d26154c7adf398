//! Committed frames to the UI: backfill from the database, then live batches from the store's
//! broadcast, over one `Channel` per window. The database is the source of truth: on a gap or
//! lag the bridge re-queries from the last seq it sent, so the UI never misses or repeats a frame.

use serde::Serialize;
use sockscope_proto::SessionId;
use sockscope_store::{ConnectionInfo, FrameSummary, Store, StoreError, StoreEvent};
use std::sync::Arc;
use tauri::ipc::Channel;
use tokio::sync::broadcast::error::RecvError;

#[derive(Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StreamMsg {
    Frames { frames: Vec<FrameSummary> },
    Connection { connection: Box<ConnectionInfo> },
}

/// Rows per backfill batch.
const PAGE: usize = 2000;

/// Why streaming stopped: the window went away, or the database failed.
enum Stop {
    ChannelClosed,
    Store(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e.to_string())
    }
}

pub async fn stream(store: Store, session: SessionId, after_seq: i64, ch: Channel<StreamMsg>) {
    if let Err(Stop::Store(e)) = run(store, session, after_seq, &ch).await {
        eprintln!("sockscope-app: stream of session {session} stopped: {e}");
    }
}

fn send(ch: &Channel<StreamMsg>, msg: StreamMsg) -> Result<(), Stop> {
    ch.send(msg).map_err(|_| Stop::ChannelClosed)
}

async fn read<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Stop> {
    let store = store.clone();
    tauri::async_runtime::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Stop::Store(e.to_string()))?
        .map_err(Stop::from)
}

/// Sends every committed frame with `seq > *last`, updating `*last`.
async fn backfill(
    store: &Store,
    session: SessionId,
    last: &mut i64,
    ch: &Channel<StreamMsg>,
) -> Result<(), Stop> {
    loop {
        let after = *last;
        let page = read(store, move |s| s.frames_after(session, after, PAGE)).await?;
        let Some(tail) = page.last() else {
            return Ok(());
        };
        *last = tail.seq;
        let full = page.len() == PAGE;
        send(ch, StreamMsg::Frames { frames: page })?;
        if !full {
            return Ok(());
        }
    }
}

async fn send_connections(
    store: &Store,
    session: SessionId,
    ch: &Channel<StreamMsg>,
) -> Result<(), Stop> {
    for connection in read(store, move |s| s.connections(session)).await? {
        send(
            ch,
            StreamMsg::Connection {
                connection: Box::new(connection),
            },
        )?;
    }
    Ok(())
}

async fn run(
    store: Store,
    session: SessionId,
    after_seq: i64,
    ch: &Channel<StreamMsg>,
) -> Result<(), Stop> {
    // Subscribe first so nothing committed during the backfill is missed.
    let mut live = store.subscribe();
    let mut last = after_seq;
    send_connections(&store, session, ch).await?;
    backfill(&store, session, &mut last, ch).await?;
    loop {
        match live.recv().await {
            Ok(StoreEvent::Frames(frames, s)) if s == session => {
                let fresh = fresh_frames(&frames, last);
                match fresh.first() {
                    None => {}
                    Some(first) if first.seq == last + 1 => {
                        last = fresh.last().map_or(last, |f| f.seq);
                        send(ch, StreamMsg::Frames { frames: fresh })?;
                    }
                    // A gap: something was committed that we did not see; ask the database.
                    Some(_) => backfill(&store, session, &mut last, ch).await?,
                }
            }
            Ok(StoreEvent::Connection(c)) if c.session_id == session => {
                send(
                    ch,
                    StreamMsg::Connection {
                        connection: Box::new(Arc::unwrap_or_clone(c)),
                    },
                )?;
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                send_connections(&store, session, ch).await?;
                backfill(&store, session, &mut last, ch).await?;
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

fn fresh_frames(frames: &[FrameSummary], last: i64) -> Vec<FrameSummary> {
    frames.iter().filter(|f| f.seq > last).cloned().collect()
}
