//! What one live Channel message carries: not every committed frame, but how many there were,
//! the newest rows (the only ones a following timeline can show; the rest are paged from
//! SQLite when scrolled to) and an exact digest per connection for the counts and the live
//! statistics. Its size depends on the time it covers, not on the frame rate.

use serde::Serialize;
use sockscope_proto::{Direction, Opcode};
use sockscope_store::{DirCounts, FrameSummary, SIZE_EDGES};
use std::collections::BTreeMap;

/// Rows of the newest frames a batch carries at most (a tall timeline shows ~100).
pub const TAIL_ROWS: usize = 128;
/// Distinct milliseconds a batch's digests hold at most before it is sent anyway.
pub const MAX_TICKS: usize = 4096;

/// Frames committed since the previous batch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveBatch {
    /// How many frames: every seq in `first_seq..=last_seq` of the session.
    pub count: u64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// The newest of them (at most [`TAIL_ROWS`]), in seq order, the last one `last_seq`.
    pub rows: Vec<FrameSummary>,
    /// Per connection, in id order.
    pub conns: Vec<ConnDigest>,
}

/// Everything the live statistics and counters need about a connection's frames in a batch.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnDigest {
    pub connection: i64,
    pub client: DirCounts,
    pub server: DirCounts,
    pub text: u64,
    pub binary: u64,
    pub continuation: u64,
    pub control: u64,
    pub max_len: u64,
    pub first_us: i64,
    pub last_us: i64,
    /// Frames per payload size class (the classes of `session_stats`), `[client, server]`.
    pub sizes: Vec<[u64; 2]>,
    /// Per millisecond with frames, in time order: `[unix ms, client frames, client bytes,
    /// server frames, server bytes]` (statistics buckets are whole milliseconds wide).
    pub ticks: Vec<[i64; 5]>,
}

#[derive(Default)]
struct ConnAcc {
    client: DirCounts,
    server: DirCounts,
    text: u64,
    binary: u64,
    continuation: u64,
    control: u64,
    max_len: u64,
    first_us: i64,
    last_us: i64,
    sizes: [[u64; 2]; SIZE_EDGES.len() + 1],
    ticks: BTreeMap<i64, [i64; 4]>,
}

/// Frames gathered for the next batch.
#[derive(Default)]
pub struct Pending {
    count: u64,
    first_seq: i64,
    last_seq: i64,
    rows: std::collections::VecDeque<FrameSummary>,
    conns: BTreeMap<i64, ConnAcc>,
    ticks: usize,
}

fn size_class(len: u64) -> usize {
    SIZE_EDGES.partition_point(|&e| e <= len)
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Too many distinct milliseconds gathered: send before adding more.
    pub fn is_full(&self) -> bool {
        self.ticks >= MAX_TICKS
    }

    /// Adds a committed frame (frames come in seq order).
    pub fn add(&mut self, f: &FrameSummary) {
        if self.count == 0 {
            self.first_seq = f.seq;
        }
        self.count += 1;
        self.last_seq = f.seq;
        if self.rows.len() == TAIL_ROWS {
            self.rows.pop_front();
        }
        self.rows.push_back(f.clone());

        let c = self.conns.entry(f.connection.0).or_insert_with(|| ConnAcc {
            first_us: f.ts_us,
            last_us: f.ts_us,
            ..ConnAcc::default()
        });
        let client = f.dir == Direction::Client;
        let d = if client { &mut c.client } else { &mut c.server };
        d.frames += 1;
        d.bytes = d.bytes.saturating_add(f.len);
        match f.opcode {
            Opcode::Continuation => c.continuation += 1,
            Opcode::Text => c.text += 1,
            Opcode::Binary => c.binary += 1,
            _ => c.control += 1,
        }
        c.max_len = c.max_len.max(f.len);
        c.first_us = c.first_us.min(f.ts_us);
        c.last_us = c.last_us.max(f.ts_us);
        if let Some(s) = c.sizes.get_mut(size_class(f.len)) {
            s[usize::from(!client)] += 1;
        }
        let ms = f.ts_us.div_euclid(1000);
        let fresh = !c.ticks.contains_key(&ms);
        let t = c.ticks.entry(ms).or_default();
        let k = if client { 0 } else { 2 };
        t[k] += 1;
        t[k + 1] = t[k + 1].saturating_add(clamp(f.len));
        if fresh {
            self.ticks += 1;
        }
    }

    /// The batch of everything gathered; empties this.
    pub fn take(&mut self) -> LiveBatch {
        let p = std::mem::take(self);
        LiveBatch {
            count: p.count,
            first_seq: p.first_seq,
            last_seq: p.last_seq,
            rows: p.rows.into(),
            conns: p
                .conns
                .into_iter()
                .map(|(connection, c)| ConnDigest {
                    connection,
                    client: c.client,
                    server: c.server,
                    text: c.text,
                    binary: c.binary,
                    continuation: c.continuation,
                    control: c.control,
                    max_len: c.max_len,
                    first_us: c.first_us,
                    last_us: c.last_us,
                    sizes: c.sizes.to_vec(),
                    ticks: c
                        .ticks
                        .into_iter()
                        .map(|(ms, t)| [ms, t[0], t[1], t[2], t[3]])
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockscope_proto::ConnectionId;

    fn frame(
        seq: i64,
        conn: i64,
        ts_us: i64,
        dir: Direction,
        opcode: Opcode,
        len: u64,
    ) -> FrameSummary {
        FrameSummary {
            seq,
            connection: ConnectionId(conn),
            ts_us,
            dir,
            opcode,
            fin: true,
            rsv1: false,
            len,
            injected: false,
            masked: false,
            truncated: false,
            invalid: false,
            note: None,
            inflated_len: None,
            preview: format!("frame {seq}"),
            close_code: None,
            close_reason: None,
            held: false,
            edited: false,
            dropped: false,
            replaced: false,
        }
    }

    #[test]
    fn a_batch_counts_everything_and_keeps_the_newest_rows() {
        let mut p = Pending::default();
        assert!(p.is_empty());
        for seq in 1..=1000 {
            let dir = if seq % 3 == 0 {
                Direction::Client
            } else {
                Direction::Server
            };
            p.add(&frame(
                seq,
                1 + seq % 2,
                1_000_000 + seq * 100,
                dir,
                Opcode::Text,
                80,
            ));
        }
        let b = p.take();
        assert!(p.is_empty(), "take empties");
        assert_eq!((b.count, b.first_seq, b.last_seq), (1000, 1, 1000));
        assert_eq!(b.rows.len(), TAIL_ROWS);
        let seqs: Vec<i64> = b.rows.iter().map(|r| r.seq).collect();
        assert_eq!(
            seqs,
            ((1000 - TAIL_ROWS as i64 + 1)..=1000).collect::<Vec<_>>()
        );
        assert_eq!(
            b.conns.iter().map(|c| c.connection).collect::<Vec<_>>(),
            vec![1, 2]
        );
        let frames: u64 = b
            .conns
            .iter()
            .map(|c| c.client.frames + c.server.frames)
            .sum();
        assert_eq!(frames, 1000);
        let client: u64 = b.conns.iter().map(|c| c.client.frames).sum();
        assert_eq!(client, 333);
        // 100 µs apart: 10 frames per millisecond, 100 ms in all (split over two connections).
        let ticks: i64 = b
            .conns
            .iter()
            .flat_map(|c| c.ticks.iter())
            .map(|t| t[1] + t[3])
            .sum();
        assert_eq!(ticks, 1000);
        for c in &b.conns {
            assert!(
                c.ticks.windows(2).all(|w| w[0][0] < w[1][0]),
                "ticks in time order"
            );
            let bytes: i64 = c.ticks.iter().map(|t| t[2] + t[4]).sum();
            assert_eq!(bytes as u64, c.client.bytes + c.server.bytes);
        }
    }

    #[test]
    fn digests_classify_like_the_store_statistics() {
        let mut p = Pending::default();
        let lens = [0u64, 15, 16, 63, 64, 1023, 1024, 16 << 20, 100 << 20];
        for (i, len) in lens.iter().enumerate() {
            p.add(&frame(
                i as i64 + 1,
                7,
                -1500 + 100 * i as i64,
                Direction::Client,
                Opcode::Binary,
                *len,
            ));
        }
        p.add(&frame(
            10,
            7,
            5_000,
            Direction::Server,
            Opcode::Continuation,
            3,
        ));
        p.add(&frame(11, 7, 5_000, Direction::Server, Opcode::Ping, 0));
        p.add(&frame(
            12,
            7,
            5_999,
            Direction::Server,
            Opcode::Reserved(3),
            1,
        ));
        p.add(&frame(13, 7, 6_000, Direction::Client, Opcode::Text, 2));
        let b = p.take();
        let c = &b.conns[0];
        assert_eq!((c.text, c.binary, c.continuation, c.control), (1, 9, 1, 2));
        assert_eq!(c.max_len, 100 << 20);
        assert_eq!((c.first_us, c.last_us), (-1500, 6_000));
        let classes: Vec<u64> = c.sizes.iter().map(|s| s[0]).collect();
        // <16: 0, 15 | 16–63: 16, 63 | 64–255: 64 | 256–1023: 1023 | 1024–4095: 1024 | … | ≥16 MiB: both
        assert_eq!(classes, vec![3, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(c.sizes[0][1], 3, "server frames under 16 bytes");
        // Negative times floor to the millisecond below; 5_000 and 5_999 share one.
        let ms: Vec<i64> = c.ticks.iter().map(|t| t[0]).collect();
        assert_eq!(ms, vec![-2, -1, 5, 6]);
        assert_eq!(c.ticks[2], [5, 0, 0, 3, 4]);
    }

    #[test]
    fn a_batch_is_full_after_many_distinct_milliseconds() {
        let mut p = Pending::default();
        for seq in 0..MAX_TICKS as i64 {
            assert!(!p.is_full());
            p.add(&frame(
                seq + 1,
                1,
                seq * 1000,
                Direction::Server,
                Opcode::Text,
                1,
            ));
            p.add(&frame(
                seq + 1,
                1,
                seq * 1000 + 1,
                Direction::Server,
                Opcode::Text,
                1,
            ));
        }
        assert!(p.is_full());
        let b = p.take();
        assert_eq!(b.conns[0].ticks.len(), MAX_TICKS);
        assert!(!p.is_full());
    }
}
