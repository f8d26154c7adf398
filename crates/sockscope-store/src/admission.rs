//! Who may queue frames for the writer, and how much, so that memory stays bounded when the
//! writer falls behind and a quiet connection never waits behind a flooding one.
//!
//! Every queued frame operation holds a [`Ticket`] until the batch holding it is done (the
//! writer drops it after the commit; a send that fails or a caller that gives up drops it
//! sooner). There are two ways in:
//! - **a connection's own allowance**: up to [`QUIET_BYTES`] per connection, taken without
//!   waiting (and [`QUIET_TOTAL`] over all connections), so an interactive connection's few
//!   frames go straight into the queue even while another connection has filled it;
//! - **the shared budget** of [`QUEUE_BYTES`], first come first served: a connection that has
//!   used its allowance waits here (back-pressure on that connection only, never a drop).
//!
//! Before this split, one connection sending a million tiny fragments kept the shared
//! budget full and every other connection's next frame waited in line behind it (the
//! hostile-peer tests measured 60–190 ms of added echo latency on a quiet machine).

use crate::{StoreError, QUEUE_BYTES};
use sockscope_proto::ConnectionId;
// Keys are ids the store hands out, never peer input: a fast hasher is safe here.
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of frames one connection may have queued without waiting for the shared budget.
pub const QUIET_BYTES: usize = 64 << 10;
/// Bytes all connections together may have queued through their allowances.
pub const QUIET_TOTAL: usize = 8 << 20;

pub(crate) struct Admission {
    shared: tokio::sync::Semaphore,
    quiet: Mutex<Quiet>,
}

#[derive(Default)]
struct Quiet {
    held: HashMap<ConnectionId, usize>,
    total: usize,
}

/// Room in the writer's queue, given back when dropped.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    kind: Kind,
}

enum Kind {
    Shared(u32),
    Quiet(ConnectionId, usize),
}

impl Admission {
    pub(crate) fn new() -> Arc<Admission> {
        Arc::new(Admission {
            shared: tokio::sync::Semaphore::new(QUEUE_BYTES),
            quiet: Mutex::new(Quiet::default()),
        })
    }

    /// Room for `bytes` of frames of connection `conn`: at once from its allowance if that
    /// has room, else from the shared budget (waiting in line while it is used up). One
    /// operation never waits for more than the whole shared budget.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        conn: ConnectionId,
        bytes: usize,
    ) -> Result<Ticket, StoreError> {
        if let Some(ticket) = self.try_quiet(conn, bytes) {
            return Ok(ticket);
        }
        let weight = u32::try_from(bytes.min(QUEUE_BYTES)).unwrap_or(u32::MAX);
        let permit = self
            .shared
            .acquire_many(weight)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        permit.forget();
        Ok(Ticket {
            admission: self.clone(),
            kind: Kind::Shared(weight),
        })
    }

    /// [`Admission::admit`] for callers outside an async runtime (blocks the thread).
    pub(crate) fn admit_blocking(
        self: &Arc<Self>,
        conn: ConnectionId,
        bytes: usize,
    ) -> Result<Ticket, StoreError> {
        futures_executor::block_on(self.admit(conn, bytes))
    }

    fn try_quiet(self: &Arc<Self>, conn: ConnectionId, bytes: usize) -> Option<Ticket> {
        let mut quiet = self.quiet.lock().ok()?;
        let held = quiet.held.get(&conn).copied().unwrap_or(0);
        if held + bytes > QUIET_BYTES || quiet.total + bytes > QUIET_TOTAL {
            return None;
        }
        quiet.held.insert(conn, held + bytes);
        quiet.total += bytes;
        Some(Ticket {
            admission: self.clone(),
            kind: Kind::Quiet(conn, bytes),
        })
    }

    /// Bytes queued through allowances (for tests).
    #[cfg(test)]
    fn quiet_total(&self) -> usize {
        self.quiet.lock().map(|q| q.total).unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        match self.kind {
            Kind::Shared(weight) => self.admission.shared.add_permits(weight as usize),
            Kind::Quiet(conn, bytes) => {
                if let Ok(mut quiet) = self.admission.quiet.lock() {
                    quiet.total = quiet.total.saturating_sub(bytes);
                    if let Some(held) = quiet.held.get_mut(&conn) {
                        *held = held.saturating_sub(bytes);
                        if *held == 0 {
                            quiet.held.remove(&conn);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_quiet_connection_does_not_wait_behind_a_full_queue() {
        let admission = Admission::new();
        let flood = ConnectionId(1);
        // The flooding connection uses its allowance, then the whole shared budget.
        let mut held = vec![admission.admit(flood, QUIET_BYTES).await.unwrap()];
        held.push(admission.admit(flood, QUEUE_BYTES).await.unwrap());
        // Its next read waits…
        let more = admission.admit(flood, 1024);
        tokio::pin!(more);
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut more)
            .await
            .is_err());
        // …while another connection's frame is let in at once.
        let quiet = tokio::time::timeout(
            Duration::from_millis(50),
            admission.admit(ConnectionId(2), 1200),
        )
        .await
        .expect("not waiting")
        .unwrap();
        assert_eq!(admission.quiet_total(), QUIET_BYTES + 1200);
        drop(quiet);
        assert_eq!(admission.quiet_total(), QUIET_BYTES);
        // The writer finishing a batch lets the flood go on.
        held.pop();
        tokio::time::timeout(Duration::from_millis(50), &mut more)
            .await
            .expect("budget given back")
            .unwrap();
    }

    #[tokio::test]
    async fn allowances_are_bounded_per_connection_and_in_total() {
        let admission = Admission::new();
        let a = admission
            .admit(ConnectionId(1), QUIET_BYTES - 10)
            .await
            .unwrap();
        // 11 more bytes of the same connection go to the shared budget.
        let b = admission.admit(ConnectionId(1), 11).await.unwrap();
        assert!(matches!(b.kind, Kind::Shared(11)));
        assert_eq!(admission.quiet_total(), QUIET_BYTES - 10);
        drop((a, b));
        assert_eq!(admission.quiet_total(), 0);
        let mut many = Vec::new();
        for c in 0..(QUIET_TOTAL / QUIET_BYTES) as i64 {
            many.push(admission.admit(ConnectionId(c), QUIET_BYTES).await.unwrap());
        }
        assert!(many.iter().all(|t| matches!(t.kind, Kind::Quiet(..))));
        let over = admission.admit(ConnectionId(-1), 1).await.unwrap();
        assert!(matches!(over.kind, Kind::Shared(1)));
    }

    #[test]
    fn blocking_admission_outside_a_runtime() {
        let admission = Admission::new();
        let t = admission.admit_blocking(ConnectionId(7), 100).unwrap();
        assert!(matches!(t.kind, Kind::Quiet(ConnectionId(7), 100)));
    }
}
