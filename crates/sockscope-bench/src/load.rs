//! The load generator: N connections, each keeping M messages in flight (pipelined), every
//! echo checked byte for byte and in order, latency of each round trip in a histogram.

use crate::codec::{self, apply_mask, parse_head, write_head, Pattern, Rng};
use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// `ws://host:port/path`
    pub url: String,
    pub conns: usize,
    /// Messages in flight per connection.
    pub in_flight: usize,
    /// Payload bytes per message (at least [`codec::MIN_SIZE`]).
    pub size: usize,
    pub binary: bool,
    /// Stop sending after this long…
    pub duration: Option<Duration>,
    /// …or after this many messages per connection (whichever comes first).
    pub count: Option<u64>,
    /// A connection that receives nothing for this long fails the run.
    pub stall_timeout: Duration,
}

/// What came back.
#[derive(Debug)]
pub struct LoadResult {
    /// Round trips completed (each message sent and its echo checked).
    pub messages: u64,
    /// Payload bytes echoed (one direction).
    pub bytes: u64,
    /// From the first send to the last echo.
    pub elapsed: Duration,
    /// Round-trip latency, nanoseconds.
    pub latency: Histogram<u64>,
    /// Content, order or connection failures (empty when everything checked out).
    pub errors: Vec<String>,
    /// Messages per connection, in connection order.
    pub per_conn: Vec<u64>,
}

impl LoadResult {
    pub fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Latency quantile in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
    pub fn max_us(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 100 s, 3 significant figures; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
    })
}

/// Splits `ws://host:port/path` into (host:port, path).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("{url}: only ws:// URLs are supported"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((host.to_owned(), path.to_owned()))
}

/// Runs the load; call inside a tokio runtime.
pub async fn run(spec: LoadSpec) -> Result<LoadResult, String> {
    if spec.size < codec::MIN_SIZE {
        return Err(format!(
            "message size must be at least {} bytes",
            codec::MIN_SIZE
        ));
    }
    if spec.conns == 0 || spec.in_flight == 0 {
        return Err("connections and messages in flight must be at least 1".into());
    }
    if spec.duration.is_none() && spec.count.is_none() {
        return Err("give a duration or a count".into());
    }
    let (host, path) = split_url(&spec.url)?;
    let pattern = Arc::new(Pattern::new(spec.size));
    let spec = Arc::new(spec);
    // Connect everything first, then start the clock.
    let mut streams = Vec::with_capacity(spec.conns);
    for i in 0..spec.conns {
        let mut s = TcpStream::connect(&host)
            .await
            .map_err(|e| format!("connect {host}: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let rest = tokio::time::timeout(
            Duration::from_secs(10),
            codec::client_handshake(&mut s, &host, &path, 0x1000 + i as u64),
        )
        .await
        .map_err(|_| format!("connection {i}: handshake timed out"))?
        .map_err(|e| format!("connection {i}: {e}"))?;
        streams.push((s, rest));
    }
    let start = Instant::now();
    let stop_at = spec.duration.map(|d| start + d);
    let mut tasks = Vec::with_capacity(spec.conns);
    for (i, (s, rest)) in streams.into_iter().enumerate() {
        let spec = spec.clone();
        let pattern = pattern.clone();
        tasks.push(tokio::spawn(async move {
            one_connection(i, s, rest, &spec, &pattern, start, stop_at).await
        }));
    }
    let mut latency = new_histogram();
    let mut errors = Vec::new();
    let mut per_conn = Vec::with_capacity(tasks.len());
    let mut last = start;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await {
            Ok(Ok(c)) => {
                if let Err(e) = latency.add(&c.latency) {
                    errors.push(format!("connection {i}: histogram: {e}"));
                }
                per_conn.push(c.messages);
                last = last.max(c.last_echo);
            }
            Ok(Err(e)) => {
                errors.push(format!("connection {i}: {e}"));
                per_conn.push(0);
            }
            Err(e) => {
                errors.push(format!("connection {i}: task failed: {e}"));
                per_conn.push(0);
            }
        }
    }
    let messages: u64 = per_conn.iter().sum();
    Ok(LoadResult {
        messages,
        bytes: messages * spec.size as u64,
        elapsed: last.duration_since(start),
        latency,
        errors,
        per_conn,
    })
}

struct ConnResult {
    messages: u64,
    latency: Histogram<u64>,
    last_echo: Instant,
}

async fn one_connection(
    index: usize,
    stream: TcpStream,
    rest: Vec<u8>,
    spec: &LoadSpec,
    pattern: &Arc<Pattern>,
    start: Instant,
    stop_at: Option<Instant>,
) -> Result<ConnResult, String> {
    let (mut rd, mut wr) = stream.into_split();
    let permits = Arc::new(Semaphore::new(spec.in_flight));
    // Set once the writer has sent its Close: a relay may then end the TCP connection
    // without passing the server's Close on (websocat does), which is not a failure.
    let close_sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opcode = if spec.binary {
        codec::OP_BINARY
    } else {
        codec::OP_TEXT
    };
    // The writer: as many messages as there are free slots, in one write.
    let writer = {
        let permits = permits.clone();
        let pattern = pattern.clone();
        let size = spec.size;
        let in_flight = spec.in_flight;
        let count = spec.count.unwrap_or(u64::MAX);
        let close_sent = close_sent.clone();
        tokio::spawn(async move {
            let mut rng = Rng::new(0xC0FFEE ^ index as u64);
            let mut out = Vec::with_capacity((size + 14) * in_flight.min(64));
            let mut payload = Vec::with_capacity(size);
            let mut sent = 0u64;
            while sent < count && stop_at.is_none_or(|t| Instant::now() < t) {
                let Ok(p) = permits.acquire().await else {
                    return Err("reader stopped".to_owned());
                };
                p.forget();
                let more = permits
                    .available_permits()
                    .min(63)
                    .min((count - sent - 1).min(usize::MAX as u64) as usize);
                if more > 0 {
                    if let Ok(p) = permits.try_acquire_many(more as u32) {
                        p.forget();
                    }
                }
                let n = 1 + more;
                let now = start.elapsed().as_nanos() as u64;
                out.clear();
                for _ in 0..n {
                    payload.clear();
                    pattern.fill(&mut payload, sent, now, size);
                    let mask = rng.mask();
                    write_head(&mut out, opcode, size, Some(mask));
                    let at = out.len();
                    out.extend_from_slice(&payload);
                    apply_mask(&mut out[at..], mask);
                    sent += 1;
                }
                wr.write_all(&out)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
            }
            // Wait for every echo, then close.
            let all = permits
                .acquire_many(in_flight as u32)
                .await
                .map_err(|_| "reader stopped".to_owned())?;
            all.forget();
            out.clear();
            codec::write_frame(
                &mut out,
                codec::OP_CLOSE,
                &1000u16.to_be_bytes(),
                Some(rng.mask()),
            );
            wr.write_all(&out)
                .await
                .map_err(|e| format!("write close: {e}"))?;
            close_sent.store(true, std::sync::atomic::Ordering::Release);
            Ok::<u64, String>(sent)
        })
    };
    // The reader: checks each echo in order.
    let mut buf = BytesMut::with_capacity(256 << 10);
    buf.extend_from_slice(&rest);
    let mut latency = new_histogram();
    let mut received = 0u64;
    let mut last_echo = start;
    let mut message: Vec<u8> = Vec::new();
    let mut fragmented = false;
    let result = 'read: loop {
        loop {
            let head = match parse_head(&buf) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => break 'read Err(e),
            };
            let total = head.total() as usize;
            if buf.len() < total {
                buf.reserve(total - buf.len());
                break;
            }
            if head.mask.is_some() {
                break 'read Err("the server masked a frame".to_owned());
            }
            let payload = &buf[head.header_len..total];
            match head.opcode {
                codec::OP_CLOSE => break 'read Ok(()),
                codec::OP_PING | codec::OP_PONG => {}
                op => {
                    // Relays may fragment; join the fragments.
                    let whole: &[u8] = if op == codec::OP_CONT || !head.fin || fragmented {
                        if op != codec::OP_CONT {
                            if fragmented {
                                break 'read Err("new message inside a fragmented one".into());
                            }
                            if op != opcode {
                                break 'read Err(format!("opcode {op}, expected {opcode}"));
                            }
                            message.clear();
                        } else if !fragmented {
                            break 'read Err("continuation without a message".into());
                        }
                        message.extend_from_slice(payload);
                        fragmented = !head.fin;
                        if fragmented {
                            buf.advance(total);
                            continue;
                        }
                        &message
                    } else {
                        if op != opcode {
                            break 'read Err(format!("opcode {op}, expected {opcode}"));
                        }
                        payload
                    };
                    match pattern.check(whole, received, spec.size) {
                        Ok(sent_ns) => {
                            let now = Instant::now();
                            let rtt = (now.duration_since(start).as_nanos() as u64)
                                .saturating_sub(sent_ns)
                                .max(1);
                            let _ = latency.record(rtt);
                            last_echo = now;
                            received += 1;
                            permits.add_permits(1);
                        }
                        Err(e) => break 'read Err(e),
                    }
                }
            }
            buf.advance(total);
        }
        if buf.capacity() - buf.len() < 64 << 10 {
            buf.reserve(64 << 10);
        }
        match tokio::time::timeout(spec.stall_timeout, rd.read_buf(&mut buf)).await {
            Err(_) => {
                break Err(format!(
                    "no data for {:?} after {received} echoes",
                    spec.stall_timeout
                ))
            }
            Ok(Err(e)) => break Err(format!("read: {e}")),
            Ok(Ok(0)) if close_sent.load(std::sync::atomic::Ordering::Acquire) => break Ok(()),
            Ok(Ok(0)) => break Err(format!("connection closed after {received} echoes")),
            Ok(Ok(_)) => {}
        }
    };
    if let Err(e) = result {
        permits.close();
        writer.abort();
        return Err(e);
    }
    let sent = writer.await.map_err(|e| format!("writer: {e}"))??;
    if sent != received {
        return Err(format!("sent {sent} messages, {received} echoes came back"));
    }
    Ok(ConnResult {
        messages: received,
        latency,
        last_echo,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("ws://127.0.0.1:9/a?b=1").unwrap(),
            ("127.0.0.1:9".into(), "/a?b=1".into())
        );
        assert_eq!(split_url("ws://h:1").unwrap(), ("h:1".into(), "/".into()));
        assert!(split_url("wss://h/").is_err());
        assert!(split_url("ws:///x").is_err());
    }

    fn spec(url: String, conns: usize, in_flight: usize, size: usize, binary: bool) -> LoadSpec {
        LoadSpec {
            url,
            conns,
            in_flight,
            size,
            binary,
            duration: None,
            count: Some(500),
            stall_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn echo_round_trips_check_out() {
        let addr = crate::echo::start("127.0.0.1:0").await.unwrap();
        let r = run(spec(format!("ws://{addr}/"), 3, 8, 300, false))
            .await
            .unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.messages, 1500);
        assert_eq!(r.per_conn, vec![500, 500, 500]);
        assert_eq!(r.latency.len(), 1500);
        let big = run(spec(format!("ws://{addr}/"), 1, 4, 70_000, true))
            .await
            .unwrap();
        assert!(big.errors.is_empty(), "{:?}", big.errors);
        assert_eq!(big.bytes, 500 * 70_000);
    }

    /// A "relay" that corrupts one byte of the 10th message: the run must fail.
    #[tokio::test]
    async fn a_corrupted_echo_fails_the_run() {
        use tokio::net::TcpListener;
        let echo = crate::echo::start("127.0.0.1:0").await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let upstream = TcpStream::connect(echo).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut cr, &mut uw).await });
            // Server -> client: flip a byte far into the stream (inside some payload).
            let mut seen = 0usize;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = ur.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                let target = 129 + 10 * 102 + 60; // past the 101 head, inside message 10
                if seen <= target && target < seen + n {
                    buf[target - seen] ^= 0x20;
                }
                seen += n;
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        let r = run(spec(format!("ws://{addr}/"), 1, 1, 100, false)).await;
        let errs = match r {
            Ok(r) => r.errors,
            Err(e) => vec![e],
        };
        assert!(!errs.is_empty(), "corruption went unnoticed");
    }
}
