//! A write timeout that measures progress, not whole writes: a peer that stops reading (but
//! keeps its connection, and may even answer pings) fills the kernel's buffers, and from then
//! on every write waits. [`WriteStall`] wraps a socket; when a write, flush or shutdown has
//! been waiting for the timeout without a single byte going out, it fails with
//! [`std::io::ErrorKind::TimedOut`] carrying [`WriteTimedOut`]. Any progress starts the clock
//! again, so a slow reader that keeps reading is never cut off.
//!
//! Used by the engine's client connections and by the capture proxy (both sides of a relay).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The reason recorded when a connection is closed because its peer stopped reading.
pub const WRITE_TIMEOUT_REASON: &str = "peer stopped reading (write timeout)";

/// The default write timeout of client connections and of the capture proxy.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The error inside the `TimedOut` [`io::Error`] a stalled write fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteTimedOut {
    /// The timeout that ran out.
    pub after: Duration,
}

impl std::fmt::Display for WriteTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{WRITE_TIMEOUT_REASON}: nothing could be written for {:.1} s",
            self.after.as_secs_f64()
        )
    }
}

impl std::error::Error for WriteTimedOut {}

/// The timeout, when `e` is a stalled write of a [`WriteStall`].
pub fn write_timed_out(e: &io::Error) -> Option<Duration> {
    if e.kind() != io::ErrorKind::TimedOut {
        return None;
    }
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<WriteTimedOut>())
        .map(|w| w.after)
}

/// A socket whose writes fail once they have made no progress for `timeout`.
#[derive(Debug)]
pub struct WriteStall<S> {
    inner: S,
    timeout: Option<Duration>,
    /// Armed at the first write that had to wait after the last progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteStall<S> {
    /// `None` (or a zero timeout) turns the timeout off: the wrapper then only forwards.
    pub fn new(inner: S, timeout: Option<Duration>) -> WriteStall<S> {
        WriteStall {
            inner,
            timeout: timeout.filter(|t| !t.is_zero()),
            stalled: None,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Passes `r` on; a `Pending` arms (or checks) the stall clock, progress disarms it.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<T>>,
        progressed: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(Ok(v)) => {
                if progressed(&v) {
                    self.stalled = None;
                }
                Poll::Ready(Ok(v))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(timeout) = self.timeout else {
                    return Poll::Pending;
                };
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                // Polling the clock registers this task to be woken when it runs out, so a
                // writer that only waits still sees the timeout.
                if sleep.as_mut().poll(cx).is_ready() {
                    self.stalled = None;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        WriteTimedOut { after: timeout },
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStall<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStall<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, r, |n| *n > 0)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, r, |_| true)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, r, |_| true)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, r, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A writer into a peer that never reads fails after the timeout; one that reads slowly
    /// (a little every 50 ms, far below the timeout) never does.
    #[tokio::test]
    async fn a_stalled_write_times_out_and_a_slow_reader_does_not() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut w = WriteStall::new(a, Some(Duration::from_millis(200)));
        let started = std::time::Instant::now();
        let chunk = vec![7u8; 4096];
        let err = loop {
            if let Err(e) = w.write_all(&chunk).await {
                break e;
            }
        };
        let took = started.elapsed();
        assert_eq!(
            write_timed_out(&err),
            Some(Duration::from_millis(200)),
            "{err}"
        );
        assert!(err.to_string().contains(WRITE_TIMEOUT_REASON), "{err}");
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(3),
            "{took:?}"
        );

        let (a, mut b2) = tokio::io::duplex(1024);
        let mut w = WriteStall::new(a, Some(Duration::from_millis(200)));
        let reader = tokio::spawn(async move {
            let mut got = 0usize;
            let mut buf = [0u8; 256];
            while got < 64 * 1024 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                match b2.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            got
        });
        for _ in 0..16 {
            w.write_all(&chunk)
                .await
                .expect("a slow reader keeps the writer going");
        }
        drop(w);
        assert_eq!(reader.await.unwrap(), 64 * 1024);
        // The first pipe's reader never read a byte past its buffer.
        let mut buf = vec![0u8; 2048];
        let n = b.read(&mut buf).await.unwrap();
        assert!(n > 0);
    }

    #[tokio::test]
    async fn no_timeout_means_plain_forwarding() {
        let (a, _b) = tokio::io::duplex(64);
        let mut w = WriteStall::new(a, Some(Duration::ZERO));
        let r = tokio::time::timeout(Duration::from_millis(300), w.write_all(&[1u8; 1024])).await;
        assert!(r.is_err(), "a zero timeout is off: the write just waits");
    }
}
