//! A socket wrapper that makes a busy connection yield to the others: after [`SLICE`] bytes
//! or [`TURN`] of time spent reading without the socket running dry, the next read returns
//! `Pending` once (having woken the task). tungstenite parses every buffered frame of a
//! message inside one poll; without this, a peer sending a million tiny fragments keeps a
//! runtime thread for hundreds of milliseconds, and other connections on it wait.
//!
//! One read takes at most [`READ_MAX`] bytes, so one turn parses at most that much: 8 KiB of
//! 3-byte fragments is about 2,700 frames (a few ms in a release build). By bytes alone a
//! turn of tiny fragments took 85–130 ms of a test build's time (the hostile-peer tests).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read before a connection lets other tasks run.
pub const SLICE: usize = 32 << 10;
/// Time spent reading (and parsing what was read) before a connection lets other tasks run.
pub const TURN: Duration = Duration::from_millis(1);
/// Bytes one read hands to the parser at most.
pub const READ_MAX: usize = 8 << 10;

#[derive(Debug)]
pub struct Fair<S> {
    inner: S,
    since_yield: usize,
    /// When the first read of this turn returned data.
    turn_started: Option<Instant>,
    /// Where a read bounded to READ_MAX lands before it is copied out (made on first use).
    scratch: Option<Box<[u8]>>,
}

impl<S> Fair<S> {
    pub fn new(inner: S) -> Fair<S> {
        Fair {
            inner,
            since_yield: 0,
            turn_started: None,
            scratch: None,
        }
    }

    fn account(&mut self, r: Poll<io::Result<()>>, n: usize) -> Poll<io::Result<()>> {
        match &r {
            Poll::Ready(Ok(())) => {
                self.since_yield += n;
                if self.turn_started.is_none() {
                    self.turn_started = Some(Instant::now());
                }
            }
            Poll::Pending => self.end_turn(),
            Poll::Ready(Err(_)) => {}
        }
        r
    }

    fn end_turn(&mut self) {
        self.since_yield = 0;
        self.turn_started = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Fair<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.since_yield >= SLICE || self.turn_started.is_some_and(|t| t.elapsed() >= TURN) {
            self.end_turn();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if buf.remaining() > READ_MAX {
            // Read at most READ_MAX bytes (through a scratch buffer: one small copy).
            let this = &mut *self;
            let scratch = this
                .scratch
                .get_or_insert_with(|| vec![0; READ_MAX].into_boxed_slice());
            let mut window = ReadBuf::new(scratch);
            let r = Pin::new(&mut this.inner).poll_read(cx, &mut window);
            let n = window.filled().len();
            if let Poll::Ready(Ok(())) = r {
                buf.put_slice(window.filled());
            }
            return self.account(r, n);
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.account(r, n)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt;

    /// Reads once into a 128 KiB buffer; `None` when the read yielded.
    async fn read_once<S: AsyncRead + Unpin>(fair: &mut Fair<S>) -> Option<usize> {
        let mut backing = vec![0u8; 128 << 10];
        let mut buf = ReadBuf::new(&mut backing);
        let mut first = true;
        poll_fn(|cx| {
            let r = Pin::new(&mut *fair).poll_read(cx, &mut buf);
            let was_first = std::mem::replace(&mut first, false);
            match r {
                Poll::Pending if was_first => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => Poll::Ready(r.ok().map(|()| buf.filled().len())),
            }
        })
        .await
    }

    #[tokio::test]
    async fn reads_are_bounded_and_a_busy_reader_yields() {
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        tx.write_all(&vec![7u8; 256 << 10]).await.unwrap();
        let mut fair = Fair::new(rx);
        let mut total = 0;
        let mut reads_in_turn = 0;
        let mut yielded = 0;
        while total < 256 << 10 {
            match read_once(&mut fair).await {
                Some(n) => {
                    assert!(n > 0 && n <= READ_MAX, "{n}");
                    total += n;
                    reads_in_turn += 1;
                    assert!(
                        reads_in_turn <= SLICE / READ_MAX,
                        "no yield after {total} bytes"
                    );
                }
                None => {
                    yielded += 1;
                    reads_in_turn = 0;
                }
            }
        }
        assert_eq!(total, 256 << 10);
        assert!(yielded >= (256 << 10) / SLICE - 1, "{yielded}");
    }

    #[tokio::test]
    async fn a_reader_that_spends_its_turn_parsing_yields_after_one_read() {
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        tx.write_all(&[1u8; 3000]).await.unwrap();
        let mut fair = Fair::new(rx);
        assert_eq!(read_once(&mut fair).await, Some(3000));
        // The caller parses for longer than a turn before reading again.
        std::thread::sleep(TURN + Duration::from_millis(1));
        tx.write_all(&[2u8; 10]).await.unwrap();
        assert_eq!(read_once(&mut fair).await, None);
        assert_eq!(read_once(&mut fair).await, Some(10));
    }
}
