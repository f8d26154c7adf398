//! A socket wrapper that makes a busy connection yield to the others: after [`SLICE`] bytes
//! read without the socket running dry, the next read returns `Pending` once (having woken
//! the task). tungstenite parses every buffered frame of a message inside one poll; without
//! this, a peer sending a million tiny fragments keeps a runtime thread for hundreds of
//! milliseconds, and other connections on it wait.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read before a connection lets other tasks run.
pub const SLICE: usize = 32 << 10;

#[derive(Debug)]
pub struct Fair<S> {
    inner: S,
    since_yield: usize,
}

impl<S> Fair<S> {
    pub fn new(inner: S) -> Fair<S> {
        Fair {
            inner,
            since_yield: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Fair<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.since_yield >= SLICE {
            self.since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) => self.since_yield += buf.filled().len() - before,
            Poll::Pending => self.since_yield = 0,
            Poll::Ready(Err(_)) => {}
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Fair<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
