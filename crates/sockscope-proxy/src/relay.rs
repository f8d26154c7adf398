//! The transparent relay (DESIGN.md §3): bytes pass unchanged both ways while an observer
//! beside each direction records every frame. Forwarding never waits on the database: a chunk
//! is written on before its frames are queued to the store (whose bounded queue may then slow
//! the next read, never drop a record). Injected frames go in only between whole messages.

use crate::upstream::BoxIo;
use bytes::{Bytes, BytesMut};
use sockscope_proto::observer::{Deflate, ObservedFrame, Observer};
use sockscope_proto::parser::encode_frame;
use sockscope_proto::{
    now_us, parse_close_payload, ConnectionId, Direction, FrameRecord, Opcode, SessionId,
};
use sockscope_store::{ClosedBy, Store};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// A message Sockscope writes into a proxied connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub opcode: Opcode,
    pub payload: Bytes,
}

/// Caps that keep the recorder bounded.
#[derive(Debug, Clone, Copy)]
pub struct RelayLimits {
    /// Payload bytes recorded per frame.
    pub frame_cap: usize,
    /// Bytes examined (and inflated) per message.
    pub message_cap: usize,
}

/// How a relayed connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub code: Option<u16>,
    pub reason: String,
    pub by: ClosedBy,
}

pub struct Relay {
    pub store: Store,
    pub session: SessionId,
    pub connection: ConnectionId,
    pub deflate: Option<Deflate>,
    pub limits: RelayLimits,
}

/// The Close frames seen: the first one (who, code, reason) and which sides sent one.
#[derive(Default)]
struct Closes {
    first: Option<(Direction, Option<u16>, String)>,
    client: bool,
    server: bool,
}

type FirstClose = Arc<Mutex<Closes>>;

/// How long the other direction may go on after one side closed its TCP stream.
const LINGER: Duration = Duration::from_secs(5);

impl Relay {
    /// Relays until both sides are done. `*_pending` are bytes already read past the handshake.
    pub async fn run(
        self,
        client: BoxIo,
        client_pending: BytesMut,
        upstream: BoxIo,
        upstream_pending: BytesMut,
        to_server: mpsc::Receiver<Injection>,
        to_client: mpsc::Receiver<Injection>,
    ) -> Ending {
        let (cr, cw) = tokio::io::split(client);
        let (ur, uw) = tokio::io::split(upstream);
        let first_close: FirstClose = Arc::new(Mutex::new(Closes::default()));
        // After both Close frames passed, one side's EOF ends the connection: no lingering.
        let done_closing = |c: &FirstClose| c.lock().is_ok_and(|c| c.client && c.server);
        let up = self.pump(
            Direction::Client,
            cr,
            uw,
            client_pending,
            to_server,
            first_close.clone(),
        );
        let down = self.pump(
            Direction::Server,
            ur,
            cw,
            upstream_pending,
            to_client,
            first_close.clone(),
        );
        tokio::pin!(up, down);
        // When one direction ends, the other gets a short while to finish, then both stop.
        let error = tokio::select! {
            r = &mut up => {
                let linger = if done_closing(&first_close) { Duration::ZERO } else { LINGER };
                let other = tokio::time::timeout(linger, &mut down).await;
                r.err().or_else(|| other.ok().and_then(Result::err))
            }
            r = &mut down => {
                let linger = if done_closing(&first_close) { Duration::ZERO } else { LINGER };
                let other = tokio::time::timeout(linger, &mut up).await;
                r.err().or_else(|| other.ok().and_then(Result::err))
            }
        };
        let first = first_close.lock().ok().and_then(|g| g.first.clone());
        match first {
            Some((dir, code, reason)) => Ending {
                code,
                reason,
                by: match dir {
                    Direction::Client => ClosedBy::Client,
                    Direction::Server => ClosedBy::Server,
                },
            },
            None => Ending {
                code: None,
                reason: match error {
                    Some(e) => format!("connection broke without a close frame: {e}"),
                    None => "connection closed without a close frame".to_owned(),
                },
                by: ClosedBy::Error,
            },
        }
    }

    fn record_of(&self, dir: Direction, f: ObservedFrame) -> FrameRecord {
        let h = f.frame.header;
        FrameRecord {
            session: self.session,
            connection: self.connection,
            ts_us: now_us(),
            dir,
            opcode: h.opcode,
            fin: h.fin,
            rsv1: h.rsv1,
            rsv2: h.rsv2,
            rsv3: h.rsv3,
            len_wire: h.len,
            payload: f.frame.payload,
            injected: false,
            masked: h.masked,
            mask_key: h.masked.then_some(h.mask),
            truncated: f.frame.truncated,
            issues: (!f.issues.is_empty()).then(|| f.issues.join("; ")),
            inflated: f.inflated,
        }
    }

    async fn pump(
        &self,
        dir: Direction,
        mut src: ReadHalf<BoxIo>,
        mut dst: WriteHalf<BoxIo>,
        pending: BytesMut,
        mut injections: mpsc::Receiver<Injection>,
        first_close: FirstClose,
    ) -> std::io::Result<()> {
        let mut observer = Observer::new(
            dir,
            self.deflate,
            self.limits.frame_cap,
            self.limits.message_cap,
        );
        let mut queued: VecDeque<Injection> = VecDeque::new();
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut injections_open = true;
        if !pending.is_empty() {
            self.forward(
                dir,
                &pending,
                &mut dst,
                &mut observer,
                &mut queued,
                &mut frames,
                &first_close,
            )
            .await?;
        }
        loop {
            tokio::select! {
                n = src.read(&mut buf) => {
                    let n = n?;
                    if n == 0 {
                        let _ = dst.shutdown().await;
                        return Ok(());
                    }
                    self.forward(dir, &buf[..n], &mut dst, &mut observer, &mut queued, &mut frames, &first_close).await?;
                }
                inj = injections.recv(), if injections_open => match inj {
                    Some(i) => {
                        queued.push_back(i);
                        if observer.at_message_boundary() {
                            self.inject_queued(dir, &mut dst, &mut queued).await?;
                        }
                    }
                    None => injections_open = false,
                },
            }
        }
    }

    /// Writes a chunk on unchanged (with queued injections at the first message boundary),
    /// then records its frames.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        dir: Direction,
        chunk: &[u8],
        dst: &mut WriteHalf<BoxIo>,
        observer: &mut Observer,
        queued: &mut VecDeque<Injection>,
        frames: &mut Vec<ObservedFrame>,
        first_close: &FirstClose,
    ) -> std::io::Result<()> {
        frames.clear();
        observer.feed(chunk, frames);
        let mut written = 0;
        if !queued.is_empty() {
            for f in frames.iter() {
                if f.at_message_boundary {
                    dst.write_all(&chunk[written..f.frame.end]).await?;
                    written = f.frame.end;
                    self.inject_queued(dir, dst, queued).await?;
                    break;
                }
            }
        }
        dst.write_all(&chunk[written..]).await?;
        let mut records = Vec::with_capacity(frames.len());
        for f in frames.drain(..) {
            if f.frame.header.opcode == Opcode::Close {
                if let Ok(mut closes) = first_close.lock() {
                    if closes.first.is_none() {
                        let info = parse_close_payload(&f.frame.payload).unwrap_or_default();
                        closes.first = Some((dir, info.code, info.reason));
                    }
                    match dir {
                        Direction::Client => closes.client = true,
                        Direction::Server => closes.server = true,
                    }
                }
            }
            records.push(self.record_of(dir, f));
        }
        // The read's frames as one queued operation. Fails only when the store has shut
        // down; forwarding goes on regardless.
        let _ = self.store.record_frames(records).await;
        Ok(())
    }

    async fn inject_queued(
        &self,
        dir: Direction,
        dst: &mut WriteHalf<BoxIo>,
        queued: &mut VecDeque<Injection>,
    ) -> std::io::Result<()> {
        while let Some(i) = queued.pop_front() {
            // Frames toward the server are masked with a fresh key (RFC 6455 §5.3).
            let mask = (dir == Direction::Client).then(rand::random::<[u8; 4]>);
            let wire = encode_frame(true, false, i.opcode, mask, &i.payload);
            dst.write_all(&wire).await?;
            let mut rec = FrameRecord::message(
                self.session,
                self.connection,
                dir,
                i.opcode,
                i.payload,
                now_us(),
            )
            .injected(true);
            rec.masked = mask.is_some();
            let _ = self.store.record_frame(rec).await;
        }
        dst.flush().await
    }
}
