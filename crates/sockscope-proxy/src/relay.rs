//! The transparent relay (DESIGN.md §3): bytes pass unchanged both ways while an observer
//! beside each direction records every frame. Forwarding never waits on the database: a chunk
//! is written on before its frames are queued to the store (whose bounded queue may then slow
//! the next read, never drop a record). Injected frames go in only between whole messages.
//!
//! Intercept (breakpoints and rewrite rules, [`crate::intercept`]): while the hub has an
//! enabled rule, or a direction still has something held, rewritten or half-buffered, that
//! direction works message by message ([`Lane`]): a data message is buffered until whole,
//! matched, then forwarded as is, rewritten, delayed, duplicated, dropped or held. Holding one
//! message holds the later messages of its direction (order is kept); control frames pass at
//! once (a Close waits behind held messages, so no data follows it). On a permessage-deflate
//! connection with context takeover, a dropped or replaced compressed message would leave the
//! receiver's inflater behind the sender's deflater, so from then on every compressed message
//! of that direction is sent inflated, uncompressed (RSV1 clear), which every receiver reads.
//! Edited messages and copies are always sent uncompressed. With nothing configured, the only
//! cost on the transparent path is one atomic load per chunk.

use crate::intercept::{self, Decision, HeldMessage, Intercept, Resolution};
use crate::rules::{Candidate, Verdict};
use crate::upstream::BoxIo;
use bytes::{Bytes, BytesMut};
use sockscope_engine::stall::{write_timed_out, WriteStall, WRITE_TIMEOUT_REASON};
use sockscope_proto::observer::{Deflate, ObservedFrame, Observer};
use sockscope_proto::parser::encode_frame;
use sockscope_proto::{
    now_us, parse_close_payload, ConnectionId, Direction, FrameRecord, InterceptMarks, Opcode,
    SessionId,
};
use sockscope_store::{ClosedBy, Store};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A relayed socket whose writes fail once they make no progress for the write timeout.
type Guarded = WriteStall<BoxIo>;

/// Bytes one direction may buffer behind a held or delayed message before it stops reading
/// (the sender is then slowed by TCP flow control).
pub const HOLD_BUFFER_CAP: usize = 64 << 20;

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
    /// Keep-alive: a side silent this long is pinged by the proxy; still silent (no data, no
    /// pong) this long after the ping, it is unresponsive and the connection is closed.
    /// `None` turns the probe off.
    pub ping_timeout: Option<Duration>,
    /// A side whose socket takes no byte for this long while the proxy has something to
    /// write to it (it stopped reading) is dropped, and the other side gets a Close (1001);
    /// the connection is recorded `closed by error`, reason "peer stopped reading (write
    /// timeout)". `None`: never.
    pub write_timeout: Option<Duration>,
}

/// The close code sent to the side that still reads when the other stopped reading.
pub const WRITE_TIMEOUT_CLOSE_CODE: u16 = 1001;

/// The reason recorded when a side stops answering the proxy's keep-alive ping.
pub const PING_TIMEOUT_REASON: &str = "peer unresponsive (ping timeout)";

/// Keep-alive state of one side (the peer whose frames a direction reads).
#[derive(Default)]
struct Side {
    /// When this side last sent anything.
    last: Option<Instant>,
    /// When the outstanding probe went out (cleared by any activity).
    probe_at: Option<Instant>,
    /// The payload of the last probe: its pong is swallowed, not forwarded.
    swallow: Option<Bytes>,
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
    pub intercept: Arc<Intercept>,
}

/// The Close frames seen: the first one (who, code, reason) and which sides sent one.
#[derive(Default)]
struct Closes {
    first: Option<(Direction, Option<u16>, String)>,
    client: bool,
    server: bool,
    /// Keep-alive per side: `[client, server]`.
    sides: [Side; 2],
}

fn side_index(dir: Direction) -> usize {
    match dir {
        Direction::Client => 0,
        Direction::Server => 1,
    }
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
        let stall = self.limits.write_timeout;
        let (cr, cw) = tokio::io::split(WriteStall::new(client, stall));
        let (ur, uw) = tokio::io::split(WriteStall::new(upstream, stall));
        let first_close: FirstClose = Arc::new(Mutex::new(Closes::default()));
        // Probes toward the server go in the client->server direction, and back.
        let (probe_server_tx, probe_server) = mpsc::channel(4);
        let (probe_client_tx, probe_client) = mpsc::channel(4);
        let keepalive = self.limits.ping_timeout;
        if let (Some(_), Ok(mut c)) = (keepalive, first_close.lock()) {
            let now = Instant::now();
            c.sides[0].last = Some(now);
            c.sides[1].last = Some(now);
        }
        // After both Close frames passed, one side's EOF ends the connection: no lingering.
        let done_closing = |c: &FirstClose| c.lock().is_ok_and(|c| c.client && c.server);
        let up = self.pump(
            Direction::Client,
            cr,
            uw,
            client_pending,
            to_server,
            probe_server,
            first_close.clone(),
        );
        let down = self.pump(
            Direction::Server,
            ur,
            cw,
            upstream_pending,
            to_client,
            probe_client,
            first_close.clone(),
        );
        // A Close toward the side that still reads, when the other stops reading.
        let (end_client, end_server) = (probe_client_tx.clone(), probe_server_tx.clone());
        let dog = watchdog(
            keepalive,
            first_close.clone(),
            probe_client_tx,
            probe_server_tx,
        );
        tokio::pin!(up, down, dog);
        // When one direction ends, the other gets a short while to finish, then both stop.
        let error = tokio::select! {
            reason = &mut dog => {
                // Dropping both directions closes both sockets.
                return Ending { code: None, reason, by: ClosedBy::Error };
            }
            r = &mut up => {
                if let Some(after) = r.as_ref().err().and_then(write_timed_out) {
                    // The server stopped reading: the client is told, then both are dropped.
                    return stalled_end(Direction::Server, after, &end_client, &mut down).await;
                }
                let linger = if done_closing(&first_close) { Duration::ZERO } else { LINGER };
                let other = tokio::time::timeout(linger, &mut down).await;
                if let Some(after) = lingered_stall(&other) {
                    // The client stopped reading while the server's last bytes went to it.
                    return stall_ending(Direction::Client, after, false);
                }
                r.err().or_else(|| other.ok().and_then(Result::err))
            }
            r = &mut down => {
                if let Some(after) = r.as_ref().err().and_then(write_timed_out) {
                    return stalled_end(Direction::Client, after, &end_server, &mut up).await;
                }
                let linger = if done_closing(&first_close) { Duration::ZERO } else { LINGER };
                let other = tokio::time::timeout(linger, &mut up).await;
                if let Some(after) = lingered_stall(&other) {
                    return stall_ending(Direction::Server, after, false);
                }
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
        self.record_marked(dir, f, InterceptMarks::default())
    }

    fn record_marked(
        &self,
        dir: Direction,
        f: ObservedFrame,
        marks: InterceptMarks,
    ) -> FrameRecord {
        self.record_at(dir, f, marks, now_us())
    }

    /// [`Relay::record_marked`] of a frame observed at `ts_us`.
    fn record_at(
        &self,
        dir: Direction,
        f: ObservedFrame,
        marks: InterceptMarks,
        ts_us: i64,
    ) -> FrameRecord {
        observed_record(self.session, self.connection, dir, f, marks, ts_us)
    }
}

/// The record of a frame seen by an observer.
fn observed_record(
    session: SessionId,
    connection: ConnectionId,
    dir: Direction,
    f: ObservedFrame,
    marks: InterceptMarks,
    ts_us: i64,
) -> FrameRecord {
    let h = f.frame.header;
    FrameRecord {
        session,
        connection,
        ts_us,
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
        marks,
    }
}

impl Relay {
    #[allow(clippy::too_many_arguments)]
    async fn pump(
        &self,
        dir: Direction,
        mut src: ReadHalf<Guarded>,
        mut dst: WriteHalf<Guarded>,
        pending: BytesMut,
        mut injections: mpsc::Receiver<Injection>,
        mut probes: mpsc::Receiver<Injection>,
        first_close: FirstClose,
    ) -> std::io::Result<()> {
        let keepalive = self.limits.ping_timeout.is_some();
        let observer = Observer::new(
            dir,
            self.deflate,
            self.limits.frame_cap,
            self.limits.message_cap,
        );
        let (decide_tx, mut decisions) = mpsc::unbounded_channel();
        let mut lane = Lane::new(self, dir, observer, decide_tx);
        let mut queued: VecDeque<Injection> = VecDeque::new();
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut injections_open = true;
        let mut eof = false;
        // A Close from the relay itself (the other side stopped reading): once it is written,
        // this direction ends.
        let mut ending = false;
        if !pending.is_empty() {
            self.chunk(
                &mut lane,
                &pending,
                &mut dst,
                &mut queued,
                &mut frames,
                &first_close,
            )
            .await?;
        }
        loop {
            if ending && queued.is_empty() {
                let _ = dst.shutdown().await;
                return Ok(());
            }
            if eof && lane.queue.is_empty() {
                // Bytes of a frame or message that never finished pass on as they are.
                let rest = lane.take_unfinished();
                if !rest.is_empty() {
                    dst.write_all(&rest).await?;
                }
                let _ = dst.shutdown().await;
                return Ok(());
            }
            let wake = lane.next_wakeup();
            let can_read = !eof && lane.can_read();
            tokio::select! {
                n = src.read(&mut buf), if can_read => {
                    let n = n?;
                    if n == 0 {
                        eof = true;
                        continue;
                    }
                    if keepalive {
                        if let Ok(mut c) = first_close.lock() {
                            let side = &mut c.sides[side_index(dir)];
                            side.last = Some(Instant::now());
                            side.probe_at = None;
                        }
                    }
                    self.chunk(&mut lane, &buf[..n], &mut dst, &mut queued, &mut frames, &first_close).await?;
                }
                inj = injections.recv(), if injections_open => match inj {
                    Some(i) => {
                        queued.push_back(i);
                        let boundary = if lane.slow {
                            lane.output_at_boundary()
                        } else {
                            lane.observer.at_message_boundary()
                        };
                        if boundary {
                            self.inject_queued(dir, &mut dst, &mut queued).await?;
                        }
                    }
                    None => injections_open = false,
                },
                Some(i) = probes.recv() => {
                    ending |= i.opcode == Opcode::Close;
                    queued.push_back(i);
                    let boundary = if lane.slow {
                        lane.output_at_boundary()
                    } else {
                        lane.observer.at_message_boundary()
                    };
                    if boundary {
                        self.inject_queued(dir, &mut dst, &mut queued).await?;
                    }
                }
                Some((id, decision)) = decisions.recv() => {
                    lane.decide(id, decision);
                    self.drain(&mut lane, &mut dst, &first_close).await?;
                    self.after_slow(&mut lane, &mut dst, &mut queued).await?;
                }
                _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    self.drain(&mut lane, &mut dst, &first_close).await?;
                    self.after_slow(&mut lane, &mut dst, &mut queued).await?;
                }
            }
        }
    }

    /// One chunk read from the source: the transparent path, or message by message.
    async fn chunk(
        &self,
        lane: &mut Lane,
        chunk: &[u8],
        dst: &mut WriteHalf<Guarded>,
        queued: &mut VecDeque<Injection>,
        frames: &mut Vec<ObservedFrame>,
        first_close: &FirstClose,
    ) -> std::io::Result<()> {
        // The hot path: one atomic load and a few booleans.
        if !lane.busy() && !self.intercept.engaged() {
            lane.slow = false;
            return self
                .forward(
                    lane.dir,
                    chunk,
                    dst,
                    &mut lane.observer,
                    queued,
                    &mut lane.unrecorded,
                    first_close,
                )
                .await;
        }
        if !lane.slow {
            // Entering message mode: what the transparent path already wrote stays written.
            lane.slow = true;
            lane.partial_written = !lane.observer.at_frame_boundary();
            lane.streaming = !lane.observer.at_message_boundary();
        }
        frames.clear();
        lane.observer.feed(chunk, frames);
        let mut pos = 0;
        for f in frames.drain(..) {
            let piece = &chunk[pos..f.frame.end];
            pos = f.frame.end;
            if lane.partial_written {
                lane.partial_written = false;
                dst.write_all(piece).await?;
                self.passed(lane, f, first_close).await;
            } else {
                let mut raw = std::mem::take(&mut lane.carry);
                raw.extend_from_slice(piece);
                self.frame(lane, f, raw, dst, first_close).await?;
            }
        }
        let rest = &chunk[pos..];
        if !rest.is_empty() {
            if lane.partial_written {
                dst.write_all(rest).await?;
            } else if lane.streaming && lane.queue.is_empty() {
                let carried = std::mem::take(&mut lane.carry);
                dst.write_all(&carried).await?;
                dst.write_all(rest).await?;
                lane.partial_written = true;
            } else {
                lane.carry.extend_from_slice(rest);
            }
        }
        self.drain(lane, dst, first_close).await?;
        self.after_slow(lane, dst, queued).await
    }

    /// After message-mode work: a message too big to buffer starts passing through (when
    /// nothing waits before it), and injections go in at a boundary.
    async fn after_slow(
        &self,
        lane: &mut Lane,
        dst: &mut WriteHalf<Guarded>,
        queued: &mut VecDeque<Injection>,
    ) -> std::io::Result<()> {
        if lane.queue.is_empty()
            && lane.building_bytes() + lane.carry.len() > self.limits.message_cap
        {
            if let Some(b) = lane.building.take() {
                dst.write_all(&b.raw).await?;
                for f in b.frames {
                    let rec = self.record_of(lane.dir, f);
                    let _ = self.store.record_frame(rec).await;
                }
                lane.streaming = true;
            }
            if !lane.carry.is_empty() {
                let carried = std::mem::take(&mut lane.carry);
                dst.write_all(&carried).await?;
                lane.partial_written = true;
            }
        }
        if !queued.is_empty() && lane.output_at_boundary() {
            self.inject_queued(lane.dir, dst, queued).await?;
        }
        dst.flush().await
    }

    /// A frame whose bytes were already written (the rest of a message passing through).
    async fn passed(&self, lane: &mut Lane, f: ObservedFrame, first_close: &FirstClose) {
        let h = f.frame.header;
        if !h.opcode.is_control() && h.fin {
            lane.streaming = false;
        }
        note_close(lane.dir, &f, first_close);
        let rec = self.record_of(lane.dir, f);
        let _ = self.store.record_frame(rec).await;
    }

    /// One whole frame in message mode, with its wire bytes (not yet written).
    async fn frame(
        &self,
        lane: &mut Lane,
        f: ObservedFrame,
        raw: Vec<u8>,
        dst: &mut WriteHalf<Guarded>,
        first_close: &FirstClose,
    ) -> std::io::Result<()> {
        let h = f.frame.header;
        if lane.streaming {
            dst.write_all(&raw).await?;
            self.passed(lane, f, first_close).await;
            return Ok(());
        }
        if h.opcode.is_control() {
            // Pings and pongs are never held; a Close waits behind held messages.
            if h.opcode == Opcode::Close && !lane.queue.is_empty() {
                lane.push(Entry::Raw {
                    frames: vec![f],
                    raw,
                });
            } else {
                dst.write_all(&raw).await?;
                self.passed(lane, f, first_close).await;
            }
            return Ok(());
        }
        match h.opcode {
            Opcode::Text | Opcode::Binary => {
                if let Some(b) = lane.building.take() {
                    // A new message before the previous one finished (illegal): passed in order.
                    lane.push(Entry::Raw {
                        frames: b.frames,
                        raw: b.raw,
                    });
                }
                lane.building = Some(Building {
                    frames: Vec::new(),
                    raw: Vec::new(),
                });
            }
            Opcode::Continuation if lane.building.is_some() => {}
            _ => {
                // A stray continuation or a reserved opcode: not a message, passed in order.
                lane.push(Entry::Raw {
                    frames: vec![f],
                    raw,
                });
                return Ok(());
            }
        }
        if let Some(b) = lane.building.as_mut() {
            b.frames.push(f);
            b.raw.extend_from_slice(&raw);
        }
        if h.fin {
            if let Some(b) = lane.building.take() {
                self.arrive(lane, b);
            }
        }
        Ok(())
    }

    /// A whole data message arrived: match it and queue it.
    fn arrive(&self, lane: &mut Lane, b: Building) {
        let Some(first) = b.frames.first() else {
            return;
        };
        let opcode = first.frame.header.opcode;
        let compressed = first.frame.header.rsv1 && self.deflate.is_some();
        let content: Option<Bytes> = if compressed {
            b.frames.last().and_then(|f| f.inflated.clone())
        } else if b.frames.iter().any(|f| f.frame.truncated) {
            None
        } else if b.frames.len() == 1 {
            Some(first.frame.payload.clone())
        } else {
            let mut all = BytesMut::new();
            for f in &b.frames {
                all.extend_from_slice(&f.frame.payload);
            }
            Some(all.freeze())
        };
        let verdict = match &content {
            Some(c) if self.intercept.engaged() => self.intercept.evaluate(&Candidate {
                session: self.session,
                connection: self.connection,
                dir: lane.dir,
                opcode,
                payload: c,
            }),
            _ => Verdict::default(),
        };
        let now = Instant::now();
        let hold = verdict.hold.as_ref().map(|(rule_id, rule_name)| {
            let id = self.intercept.next_id();
            let timeout = self.intercept.hold_timeout();
            let shown = verdict.rewritten.as_ref().or(content.as_ref());
            let (text, base64, truncated) =
                intercept::show(shown.map(|b| &b[..]).unwrap_or_default(), opcode);
            let (original_text, original_base64) = match (&verdict.rewritten, &content) {
                (Some(_), Some(c)) => {
                    let (t, b, _) = intercept::show(c, opcode);
                    (t, b)
                }
                _ => (None, None),
            };
            let held_at_us = now_us();
            self.intercept.register(
                HeldMessage {
                    id,
                    session: self.session,
                    connection: self.connection,
                    dir: lane.dir,
                    opcode,
                    text,
                    base64,
                    len: shown.map(|b| b.len() as u64).unwrap_or(0),
                    truncated,
                    original_text,
                    original_base64,
                    compressed,
                    rule_id: *rule_id,
                    rule_name: rule_name.clone(),
                    held_at_us,
                    deadline_us: held_at_us
                        .saturating_add(i64::try_from(timeout.as_micros()).unwrap_or(i64::MAX)),
                    waiting_behind: !lane.queue.is_empty(),
                },
                lane.decide_tx.clone(),
            );
            Hold {
                id,
                deadline: now + timeout,
            }
        });
        let delay_until =
            (verdict.delay_ms > 0).then(|| now + Duration::from_millis(verdict.delay_ms));
        lane.push(Entry::Msg(Box::new(Pending {
            frames: b.frames,
            raw: b.raw,
            opcode,
            compressed,
            content,
            verdict,
            hold,
            decision: None,
            timed_out: false,
            delay_until,
        })));
    }

    /// Sends what is ready at the head of the queue, in order.
    async fn drain(
        &self,
        lane: &mut Lane,
        dst: &mut WriteHalf<Guarded>,
        first_close: &FirstClose,
    ) -> std::io::Result<()> {
        let now = Instant::now();
        loop {
            match lane.queue.front_mut() {
                None => break,
                Some(Entry::Msg(p)) => {
                    if let (Some(h), None) = (&p.hold, &p.decision) {
                        if now < h.deadline {
                            break;
                        }
                        p.decision = Some(Decision::Forward);
                        p.timed_out = true;
                    }
                    if p.delay_until.is_some_and(|t| now < t) {
                        break;
                    }
                }
                Some(Entry::Raw { .. }) => {}
            }
            let Some(entry) = lane.pop() else { break };
            match entry {
                Entry::Raw { frames, raw } => {
                    dst.write_all(&raw).await?;
                    for f in frames {
                        self.passed(lane, f, first_close).await;
                    }
                }
                Entry::Msg(p) => self.emit(lane, *p, dst).await?,
            }
        }
        Ok(())
    }

    /// Forwards, rewrites or drops one whole message, and records what happened.
    async fn emit(
        &self,
        lane: &mut Lane,
        p: Pending,
        dst: &mut WriteHalf<Guarded>,
    ) -> std::io::Result<()> {
        let dir = lane.dir;
        let held = p.hold.is_some();
        let (dropped, out, resolution) = match p.decision {
            Some(Decision::Drop) => (true, None, Resolution::Dropped),
            Some(Decision::Edited(x)) => (false, Some(x), Resolution::Edited),
            Some(Decision::Forward) => (
                false,
                p.verdict.rewritten.clone(),
                if p.timed_out {
                    Resolution::TimedOut
                } else {
                    Resolution::Forwarded
                },
            ),
            // Not held: the rules decide.
            None => (
                p.verdict.drop.is_some(),
                p.verdict.rewritten.clone(),
                Resolution::Forwarded,
            ),
        };
        let mask = || (dir == Direction::Client).then(rand::random::<[u8; 4]>);
        let diverges = p.compressed && lane.takeover;
        let mark = |m: InterceptMarks| InterceptMarks { held, ..m };
        if dropped {
            for f in p.frames {
                let rec = self.record_marked(
                    dir,
                    f,
                    mark(InterceptMarks {
                        dropped: true,
                        ..Default::default()
                    }),
                );
                let _ = self.store.record_frame(rec).await;
            }
            lane.diverged |= diverges;
        } else if let Some(x) = &out {
            let m = mask();
            dst.write_all(&encode_frame(true, false, p.opcode, m, x))
                .await?;
            for f in p.frames {
                let rec = self.record_marked(
                    dir,
                    f,
                    mark(InterceptMarks {
                        replaced: true,
                        ..Default::default()
                    }),
                );
                let _ = self.store.record_frame(rec).await;
            }
            let mut rec = FrameRecord::message(
                self.session,
                self.connection,
                dir,
                p.opcode,
                x.clone(),
                now_us(),
            );
            rec.masked = m.is_some();
            rec.marks = mark(InterceptMarks {
                edited: true,
                ..Default::default()
            });
            let _ = self.store.record_frame(rec).await;
            lane.diverged |= diverges;
        } else {
            match (&p.content, p.compressed && lane.diverged) {
                // The receiver's inflater is behind: send the inflated message uncompressed.
                (Some(c), true) => {
                    dst.write_all(&encode_frame(true, false, p.opcode, mask(), c))
                        .await?
                }
                _ => dst.write_all(&p.raw).await?,
            }
            for f in p.frames {
                let rec = self.record_marked(dir, f, mark(InterceptMarks::default()));
                let _ = self.store.record_frame(rec).await;
            }
        }
        if !dropped {
            if let Some(copy) = out.as_ref().or(p.content.as_ref()) {
                for _ in 0..p.verdict.duplicates {
                    let m = mask();
                    dst.write_all(&encode_frame(true, false, p.opcode, m, copy))
                        .await?;
                    let mut rec = FrameRecord::message(
                        self.session,
                        self.connection,
                        dir,
                        p.opcode,
                        copy.clone(),
                        now_us(),
                    )
                    .injected(true);
                    rec.masked = m.is_some();
                    let _ = self.store.record_frame(rec).await;
                }
            }
        }
        if let Some(h) = p.hold {
            self.intercept.resolved(h.id, self.connection, resolution);
        }
        Ok(())
    }

    /// Writes a chunk on unchanged (with queued injections at the first message boundary),
    /// then records its frames.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        dir: Direction,
        chunk: &[u8],
        dst: &mut WriteHalf<Guarded>,
        observer: &mut Observer,
        queued: &mut VecDeque<Injection>,
        frames: &mut Vec<ObservedFrame>,
        first_close: &FirstClose,
    ) -> std::io::Result<()> {
        frames.clear();
        observer.feed(chunk, frames);
        // Reversed at once, so that each frame is popped only once queued: a pump stopped
        // half-way leaves the rest (in order, from the end) for `Lane::drop`.
        frames.reverse();
        let swallowed = self.swallow_probe_pong(dir, chunk, frames, first_close);
        let mut written = 0;
        let mut injected = queued.is_empty();
        for f in frames.iter().rev() {
            if let Some((start, end)) = swallowed {
                if f.frame.end == end {
                    dst.write_all(&chunk[written..start]).await?;
                    written = end;
                }
            }
            if !injected && f.at_message_boundary {
                dst.write_all(&chunk[written..f.frame.end]).await?;
                written = f.frame.end;
                self.inject_queued(dir, dst, queued).await?;
                injected = true;
            }
            if injected && swallowed.is_none_or(|(_, end)| end <= written) {
                break;
            }
        }
        dst.write_all(&chunk[written..]).await?;
        // The read's frames as one queued operation (in wire order: `frames` is reversed).
        // They stay in `frames` until it is queued, so a pump stopped half-way still leaves
        // them for `Lane::drop`. Fails only when the store has shut down; forwarding goes on.
        // They arrived in one read: one clock reading serves them all (per frame, the clock
        // was about 0.7 % of the machine's CPU on `pipelined`).
        let ts_us = now_us();
        let records: Vec<FrameRecord> = frames
            .iter()
            .rev()
            .map(|f| {
                note_close(dir, f, first_close);
                if swallowed.is_some_and(|(_, end)| end == f.frame.end) {
                    // The answer to the proxy's own probe: recorded, not forwarded.
                    let marks = InterceptMarks {
                        dropped: true,
                        ..Default::default()
                    };
                    self.record_at(dir, f.clone(), marks, ts_us)
                } else {
                    self.record_at(dir, f.clone(), InterceptMarks::default(), ts_us)
                }
            })
            .collect();
        let _ = self.store.record_frames(records).await;
        frames.clear();
        Ok(())
    }

    /// The byte range, within this chunk, of a pong answering the proxy's keep-alive probe
    /// (whole in the chunk; a pong split across reads passes on, as an unsolicited pong,
    /// which RFC 6455 §5.5.3 allows). `frames` is in reverse wire order.
    fn swallow_probe_pong(
        &self,
        dir: Direction,
        chunk: &[u8],
        frames: &[ObservedFrame],
        first_close: &FirstClose,
    ) -> Option<(usize, usize)> {
        self.limits.ping_timeout?;
        let pong = frames.iter().rev().find(|f| {
            let h = f.frame.header;
            h.opcode == Opcode::Pong && h.fin && !f.frame.truncated
        })?;
        let h = pong.frame.header;
        let wire = 2 + if h.masked { 4 } else { 0 } + usize::try_from(h.len).ok()?;
        if h.len > 125 || pong.frame.end > chunk.len() || pong.frame.end < wire {
            return None;
        }
        let mut c = first_close.lock().ok()?;
        let side = &mut c.sides[side_index(dir)];
        if side.swallow.as_ref() != Some(&pong.frame.payload) {
            return None;
        }
        side.swallow = None;
        Some((pong.frame.end - wire, pong.frame.end))
    }

    async fn inject_queued(
        &self,
        dir: Direction,
        dst: &mut WriteHalf<Guarded>,
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

/// How long the side that still reads gets to receive its Close when the other stopped reading.
const STALL_GRACE: Duration = Duration::from_secs(2);

/// `stalled` (the side that stopped reading) made a write time out: the other side gets a
/// Close (1001, at its next message boundary) through `tell`, and `other` (the direction that
/// writes to it) a short while to send it; then both sockets are dropped.
async fn stalled_end(
    stalled: Direction,
    after: Duration,
    tell: &mpsc::Sender<Injection>,
    other: &mut std::pin::Pin<&mut impl std::future::Future<Output = std::io::Result<()>>>,
) -> Ending {
    let who = side_name(stalled);
    let mut payload = WRITE_TIMEOUT_CLOSE_CODE.to_be_bytes().to_vec();
    payload.extend_from_slice(format!("the {who} stopped reading").as_bytes());
    let sent = tell
        .try_send(Injection {
            opcode: Opcode::Close,
            payload: Bytes::from(payload),
        })
        .is_ok();
    let _ = tokio::time::timeout(STALL_GRACE, other.as_mut()).await;
    stall_ending(stalled, after, sent)
}

/// The write timeout of a direction that ended while lingering, if that is how it ended.
fn lingered_stall(
    r: &Result<std::io::Result<()>, tokio::time::error::Elapsed>,
) -> Option<Duration> {
    match r {
        Ok(Err(e)) => write_timed_out(e),
        _ => None,
    }
}

fn side_name(dir: Direction) -> &'static str {
    match dir {
        Direction::Client => "client",
        Direction::Server => "server",
    }
}

/// How a connection whose `stalled` side stopped reading is recorded.
fn stall_ending(stalled: Direction, after: Duration, told_other: bool) -> Ending {
    let other = side_name(match stalled {
        Direction::Client => Direction::Server,
        Direction::Server => Direction::Client,
    });
    Ending {
        code: None,
        reason: format!(
            "{WRITE_TIMEOUT_REASON}: the {} took nothing for {:.1} s{}",
            side_name(stalled),
            after.as_secs_f64(),
            if told_other {
                format!("; the {other} was sent Close {WRITE_TIMEOUT_CLOSE_CODE}")
            } else {
                String::new()
            }
        ),
        by: ClosedBy::Error,
    }
}

/// Pings a side silent for `timeout` (through its probe channel) and resolves, with the
/// reason to record, when a pinged side stays silent for `timeout` more. Never resolves when
/// the keep-alive is off.
async fn watchdog(
    timeout: Option<Duration>,
    state: FirstClose,
    probe_client: mpsc::Sender<Injection>,
    probe_server: mpsc::Sender<Injection>,
) -> String {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    let step = (timeout / 4).max(Duration::from_millis(10));
    let mut counter: u64 = 0;
    loop {
        tokio::time::sleep(step).await;
        let now = Instant::now();
        let Ok(mut c) = state.lock() else {
            return std::future::pending().await;
        };
        if c.first.is_some() {
            // Closing: the close handshake has its own timeouts.
            continue;
        }
        for (i, tx) in [(0, &probe_client), (1, &probe_server)] {
            let side = &mut c.sides[i];
            match side.probe_at {
                Some(at) if now.duration_since(at) >= timeout => {
                    let who = if i == 0 { "client" } else { "server" };
                    return format!(
                        "{PING_TIMEOUT_REASON}: the {who} answered nothing for {:.1} s after a ping",
                        timeout.as_secs_f64()
                    );
                }
                Some(_) => {}
                None => {
                    let idle = side.last.map_or(timeout, |l| now.duration_since(l));
                    if idle >= timeout {
                        counter += 1;
                        let payload = Bytes::from(format!("sockscope-keepalive-{counter}"));
                        if tx
                            .try_send(Injection {
                                opcode: Opcode::Ping,
                                payload: payload.clone(),
                            })
                            .is_ok()
                        {
                            side.probe_at = Some(now);
                            side.swallow = Some(payload);
                        }
                    }
                }
            }
        }
    }
}

/// Remembers the first Close frame and which sides sent one.
fn note_close(dir: Direction, f: &ObservedFrame, first_close: &FirstClose) {
    if f.frame.header.opcode != Opcode::Close {
        return;
    }
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

/// A data message being gathered, frame by frame, with its wire bytes.
struct Building {
    frames: Vec<ObservedFrame>,
    raw: Vec<u8>,
}

struct Hold {
    id: u64,
    deadline: Instant,
}

/// A whole data message waiting in message mode.
struct Pending {
    frames: Vec<ObservedFrame>,
    raw: Vec<u8>,
    opcode: Opcode,
    compressed: bool,
    /// The whole message (inflated when compressed); `None` when it could not be read whole.
    content: Option<Bytes>,
    verdict: Verdict,
    hold: Option<Hold>,
    decision: Option<Decision>,
    timed_out: bool,
    delay_until: Option<Instant>,
}

enum Entry {
    /// Frames that pass in order as they are (a Close behind held messages, illegal frames).
    Raw {
        frames: Vec<ObservedFrame>,
        raw: Vec<u8>,
    },
    Msg(Box<Pending>),
}

impl Entry {
    fn bytes(&self) -> usize {
        match self {
            Entry::Raw { raw, .. } => raw.len(),
            Entry::Msg(p) => p.raw.len(),
        }
    }
}

/// One direction's message-mode state.
struct Lane {
    dir: Direction,
    observer: Observer,
    /// Working message by message (else the transparent path).
    slow: bool,
    queue: VecDeque<Entry>,
    queued_bytes: usize,
    building: Option<Building>,
    /// Bytes of a frame not yet complete (not written).
    carry: Vec<u8>,
    /// The start of the incomplete frame was already written: the rest follows directly.
    partial_written: bool,
    /// The current message passes through as it arrives (started on the transparent path,
    /// or too big to buffer).
    streaming: bool,
    /// Compressed messages of this direction use context takeover.
    takeover: bool,
    /// The receiver's inflater missed a compressed message: re-encode from now on.
    diverged: bool,
    decide_tx: mpsc::UnboundedSender<(u64, Decision)>,
    intercept: Arc<Intercept>,
    store: Store,
    session: SessionId,
    connection: ConnectionId,
    /// Transparent path: frames of the last chunk not yet queued to the store, in reverse
    /// order (each is popped once queued), so a pump stopped half-way loses none.
    unrecorded: Vec<ObservedFrame>,
}

impl Lane {
    fn new(
        relay: &Relay,
        dir: Direction,
        observer: Observer,
        decide_tx: mpsc::UnboundedSender<(u64, Decision)>,
    ) -> Lane {
        let takeover = match (relay.deflate, dir) {
            (None, _) => false,
            (Some(d), Direction::Client) => !d.client_no_context_takeover,
            (Some(d), Direction::Server) => !d.server_no_context_takeover,
        };
        Lane {
            dir,
            observer,
            slow: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            building: None,
            carry: Vec::new(),
            partial_written: false,
            streaming: false,
            takeover,
            diverged: false,
            decide_tx,
            intercept: relay.intercept.clone(),
            store: relay.store.clone(),
            session: relay.session,
            connection: relay.connection,
            unrecorded: Vec::new(),
        }
    }

    /// Something is buffered or re-encoded: stay in message mode.
    #[inline]
    fn busy(&self) -> bool {
        self.diverged || !self.queue.is_empty() || self.building.is_some() || !self.carry.is_empty()
    }

    fn building_bytes(&self) -> usize {
        self.building.as_ref().map_or(0, |b| b.raw.len())
    }

    fn can_read(&self) -> bool {
        self.queue.is_empty()
            || self.queued_bytes + self.building_bytes() + self.carry.len() < HOLD_BUFFER_CAP
    }

    /// Nothing half-written on the output: an injected message may go in now.
    fn output_at_boundary(&self) -> bool {
        !self.streaming && !self.partial_written
    }

    fn push(&mut self, e: Entry) {
        self.queued_bytes += e.bytes();
        self.queue.push_back(e);
    }

    fn pop(&mut self) -> Option<Entry> {
        let e = self.queue.pop_front()?;
        self.queued_bytes = self.queued_bytes.saturating_sub(e.bytes());
        Some(e)
    }

    /// When the head of the queue must be looked at again (a hold's timeout, a delay).
    fn next_wakeup(&self) -> Option<Instant> {
        match self.queue.front()? {
            Entry::Msg(p) => match (&p.hold, &p.decision) {
                (Some(h), None) => Some(h.deadline),
                _ => p.delay_until,
            },
            Entry::Raw { .. } => None,
        }
    }

    fn decide(&mut self, id: u64, decision: Decision) {
        for e in self.queue.iter_mut() {
            if let Entry::Msg(p) = e {
                if p.hold.as_ref().is_some_and(|h| h.id == id) && p.decision.is_none() {
                    p.decision = Some(decision);
                    return;
                }
            }
        }
    }

    /// The bytes of an unfinished frame or message (at the end of the stream).
    fn take_unfinished(&mut self) -> Vec<u8> {
        let mut out = self.building.take().map(|b| b.raw).unwrap_or_default();
        out.append(&mut self.carry);
        out
    }
}

impl Drop for Lane {
    /// The connection ended with messages still waiting: they were never forwarded. Frames
    /// seen but not yet recorded, and a frame cut off by the end of the stream (as far as it
    /// got, flagged), are recorded too.
    fn drop(&mut self) {
        let cut = self.observer.end_of_stream();
        for f in std::mem::take(&mut self.unrecorded)
            .into_iter()
            .rev()
            .chain(cut)
        {
            let rec = observed_record(
                self.session,
                self.connection,
                self.dir,
                f,
                InterceptMarks::default(),
                now_us(),
            );
            let _ = self.store.record_frame_blocking(rec);
        }
        while let Some(e) = self.pop() {
            let (frames, held) = match e {
                Entry::Raw { frames, .. } => (frames, None),
                Entry::Msg(p) => (p.frames, p.hold.map(|h| h.id)),
            };
            for f in frames {
                let rec = observed_record(
                    self.session,
                    self.connection,
                    self.dir,
                    f,
                    InterceptMarks {
                        held: held.is_some(),
                        dropped: true,
                        ..Default::default()
                    },
                    now_us(),
                );
                let _ = self.store.record_frame_blocking(rec);
            }
            if let Some(id) = held {
                self.intercept
                    .resolved(id, self.connection, Resolution::ConnectionClosed);
            }
        }
    }
}
