//! Statistics of a session or one connection for the chart panel: frames and bytes per
//! direction in time buckets (grouped in SQL), a payload size histogram and totals.

use crate::StoreError;
use rusqlite::{params, Connection};
use serde::Serialize;
use sockscope_proto::{ConnectionId, SessionId};

/// Default and largest number of time buckets.
pub const STATS_BUCKETS: usize = 240;
pub const STATS_BUCKETS_MAX: usize = 2000;

/// Payload size classes: powers of 4 from 16 B (`[0,16)`, `[16,64)`, … `[16 MiB, ∞)`).
pub const SIZE_EDGES: [u64; 11] = [
    16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 16_777_216,
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DirCounts {
    pub frames: u64,
    pub bytes: u64,
}

impl DirCounts {
    /// Counts one frame of `len` payload bytes.
    fn add(&mut self, len: u64) {
        self.frames += 1;
        self.bytes = self.bytes.saturating_add(len);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeBucket {
    /// Start of the bucket, unix µs.
    pub t_us: i64,
    pub client: DirCounts,
    pub server: DirCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeBucket {
    /// Smallest payload length in the class.
    pub min: u64,
    /// One past the largest (None: no upper bound).
    pub max: Option<u64>,
    pub client: u64,
    pub server: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsTotals {
    pub client: DirCounts,
    pub server: DirCounts,
    pub text: u64,
    pub binary: u64,
    pub continuation: u64,
    /// Ping, pong, close (and reserved control opcodes).
    pub control: u64,
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    /// The largest payload on the wire.
    pub max_len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub session: SessionId,
    pub connection: Option<ConnectionId>,
    /// Width of a time bucket (µs); a round value (1 ms, 2 ms, 5 ms, … 1 s, 2 s, 5 s, 10 s, 15 s, 30 s, 1 min, …).
    pub bucket_us: i64,
    /// Contiguous buckets from the first frame's to the last frame's (empty ones included).
    pub buckets: Vec<TimeBucket>,
    pub sizes: Vec<SizeBucket>,
    pub totals: StatsTotals,
}

/// The smallest round width that covers `span_us` in at most `buckets` buckets.
pub fn bucket_width(span_us: i64, buckets: usize) -> i64 {
    const STEPS: [i64; 22] = [
        1_000,
        2_000,
        5_000,
        10_000,
        20_000,
        50_000,
        100_000,
        200_000,
        500_000,
        1_000_000,
        2_000_000,
        5_000_000,
        10_000_000,
        15_000_000,
        30_000_000,
        60_000_000,
        120_000_000,
        300_000_000,
        600_000_000,
        1_800_000_000,
        3_600_000_000,
        86_400_000_000,
    ];
    let n = i64::try_from(buckets.max(1)).unwrap_or(i64::MAX);
    let need = span_us.max(0) / n + 1;
    for s in STEPS {
        if s >= need {
            return s;
        }
    }
    // Beyond a day a bucket: whole days.
    (need + 86_399_999_999) / 86_400_000_000 * 86_400_000_000
}

/// The size class of a payload length (index into [`SIZE_EDGES`] classes).
fn size_class(len: u64) -> usize {
    SIZE_EDGES.partition_point(|&e| e <= len)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Statistics in two plain scans without sorting: the time span (`MIN`/`MAX` inside SQLite,
/// which fixes the bucket width), then every frame's `(ts_us, dir, opcode, len)` folded in
/// Rust into totals, size classes and time buckets. Both scans read one snapshot, and use
/// `frames_by_session_seq` or, for one connection, the per-connection index
/// (`connection_index::Parts`). (Grouping in SQL instead sorted the whole session twice:
/// 1.3 s for 1M frames in release.)
pub(crate) fn stats(
    c: &Connection,
    session: SessionId,
    connection: Option<ConnectionId>,
    buckets: usize,
) -> Result<Stats, StoreError> {
    let buckets = buckets.clamp(1, STATS_BUCKETS_MAX);
    // The frames to count, as `FROM …` clauses (one connection's come in two parts:
    // `connection_index.rs`).
    let (filters, key): (Vec<String>, i64) = match connection {
        Some(conn) => (
            crate::connection_index::Parts::new("?1", false)
                .both()
                .iter()
                .map(|part| format!("{part} AND session_id = ?2"))
                .collect(),
            conn.0,
        ),
        None => (
            vec!["frames WHERE session_id = ?1 AND ?2 = ?2".to_owned()],
            session.0,
        ),
    };
    // One read transaction: a frame committed between the scans is in neither.
    let tx = c.unchecked_transaction()?;

    let mut totals = StatsTotals::default();
    let mut sizes: Vec<SizeBucket> = (0..=SIZE_EDGES.len())
        .map(|i| SizeBucket {
            min: if i == 0 { 0 } else { SIZE_EDGES[i - 1] },
            max: SIZE_EDGES.get(i).copied(),
            client: 0,
            server: 0,
        })
        .collect();

    let (mut first, mut last): (Option<i64>, Option<i64>) = (None, None);
    for filter in &filters {
        let (lo, hi): (Option<i64>, Option<i64>) = tx
            .prepare_cached(&format!("SELECT MIN(ts_us), MAX(ts_us) FROM {filter}"))?
            .query_row(params![key, session.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
        first = first.into_iter().chain(lo).min();
        last = last.into_iter().chain(hi).max();
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Stats {
            session,
            connection,
            bucket_us: 1_000_000,
            buckets: Vec::new(),
            sizes,
            totals,
        });
    };
    let width = bucket_width(last.saturating_sub(first), buckets);
    // Buckets aligned to multiples of the width (so live increments land in the same ones).
    let start = first.div_euclid(width) * width;
    let count = usize::try_from((last - start) / width + 1).unwrap_or(1);
    let mut out: Vec<TimeBucket> = (0..count)
        .map(|i| TimeBucket {
            t_us: start + width * i64::try_from(i).unwrap_or(0),
            client: DirCounts::default(),
            server: DirCounts::default(),
        })
        .collect();
    totals.first_us = Some(first);
    totals.last_us = Some(last);

    for filter in &filters {
        let mut stmt =
            tx.prepare_cached(&format!("SELECT ts_us, dir, opcode, len FROM {filter}"))?;
        let mut rows = stmt.query(params![key, session.0])?;
        while let Some(r) = rows.next()? {
            let ts: i64 = r.get(0)?;
            let dir: i64 = r.get(1)?;
            let opcode: i64 = r.get(2)?;
            let len = u(r.get(3)?);
            let client = dir == 0;
            if client {
                totals.client.add(len);
            } else {
                totals.server.add(len);
            }
            match opcode {
                0 => totals.continuation += 1,
                1 => totals.text += 1,
                2 => totals.binary += 1,
                _ => totals.control += 1,
            }
            totals.max_len = totals.max_len.max(len);
            let b = &mut sizes[size_class(len).min(SIZE_EDGES.len())];
            if client {
                b.client += 1;
            } else {
                b.server += 1;
            }
            let Some(tb) = usize::try_from((ts - start) / width)
                .ok()
                .and_then(|i| out.get_mut(i))
            else {
                return Err(StoreError::Corrupt(format!(
                    "frame time {ts} outside the span"
                )));
            };
            if client {
                tb.client.add(len);
            } else {
                tb.server.add(len);
            }
        }
    }
    tx.finish()?;
    Ok(Stats {
        session,
        connection,
        bucket_us: width,
        buckets: out,
        sizes,
        totals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_follow_the_edges() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(15), 0);
        assert_eq!(size_class(16), 1);
        assert_eq!(size_class(63), 1);
        assert_eq!(size_class(64), 2);
        assert_eq!(size_class(16_777_215), 10);
        assert_eq!(size_class(16_777_216), 11);
        assert_eq!(size_class(u64::MAX), 11);
    }

    #[test]
    fn widths_are_round_and_cover_the_span() {
        assert_eq!(bucket_width(0, 240), 1_000);
        assert_eq!(bucket_width(239_000, 240), 1_000);
        assert_eq!(bucket_width(240_000, 240), 2_000);
        assert_eq!(bucket_width(60_000_000, 240), 500_000);
        assert_eq!(bucket_width(3_599_000_000, 240), 15_000_000);
        assert_eq!(bucket_width(3_600_000_000, 240), 30_000_000);
        assert_eq!(bucket_width(86_400_000_000 * 1000, 240), 86_400_000_000 * 5);
        for span in [1, 999, 12_345_678, 987_654_321_000] {
            let w = bucket_width(span, 100);
            assert!(span / w < 100, "{span} in {w}");
        }
    }
}
