// Statistics kept live: the store's bucketed answer (session_stats) plus the frames that
// arrive on the session stream afterwards, added to the same buckets. Pure.
import type { Stats, TimeBucket } from '../../ipc/detail';
import type { ConnDigest, FrameSummary } from '../../ipc/types';
import { digestFrames } from '../../model/live';

export { SIZE_EDGES } from '../../model/live';

/** Adds live frames (those of `connection`, or all when null); returns how many were added. */
export function addLive(stats: Stats, frames: readonly FrameSummary[], connection: number | null): number {
  return addDigests(stats, digestFrames(frames), connection);
}

/**
 * Adds the digests of a live batch (those of `connection`, or all when null) to the buckets,
 * sizes and totals; returns how many frames were added. Buckets are whole milliseconds wide,
 * so a digest's per-millisecond ticks land exactly where the frames would.
 */
export function addDigests(stats: Stats, digests: readonly ConnDigest[], connection: number | null): number {
  let added = 0;
  const w = stats.bucket_us;
  const t = stats.totals;
  for (const d of digests) {
    if (connection !== null && d.connection !== connection) continue;
    const n = d.client.frames + d.server.frames;
    if (n === 0) continue;
    added += n;
    t.client.frames += d.client.frames;
    t.client.bytes += d.client.bytes;
    t.server.frames += d.server.frames;
    t.server.bytes += d.server.bytes;
    t.text += d.text;
    t.binary += d.binary;
    t.continuation += d.continuation;
    t.control += d.control;
    t.first_us = t.first_us === null ? d.first_us : Math.min(t.first_us, d.first_us);
    t.last_us = t.last_us === null ? d.last_us : Math.max(t.last_us, d.last_us);
    t.max_len = Math.max(t.max_len, d.max_len);
    d.sizes.forEach(([c, s], k) => {
      const sb = stats.sizes[k];
      if (!sb) return;
      sb.client += c;
      sb.server += s;
    });
    for (const [ms, cf, cb, sf, sbytes] of d.ticks) {
      const start = Math.floor((ms * 1000) / w) * w;
      const b = bucketAt(stats.buckets, start, w);
      b.client.frames += cf;
      b.client.bytes += cb;
      b.server.frames += sf;
      b.server.bytes += sbytes;
    }
  }
  return added;
}

function empty(t: number): TimeBucket {
  return { t_us: t, client: { frames: 0, bytes: 0 }, server: { frames: 0, bytes: 0 } };
}

/** The bucket starting at `start`, appending empty buckets up to it (or prepending) as needed. */
function bucketAt(buckets: TimeBucket[], start: number, w: number): TimeBucket {
  if (buckets.length === 0) {
    buckets.push(empty(start));
    return buckets[0];
  }
  const first = buckets[0].t_us;
  const idx = Math.round((start - first) / w);
  if (idx < 0) {
    const pre = Array.from({ length: -idx }, (_, k) => empty(start + k * w));
    buckets.unshift(...pre);
    return buckets[0];
  }
  while (buckets.length <= idx) buckets.push(empty(first + buckets.length * w));
  return buckets[idx];
}

/** Series for the charts: times in seconds, per-second rates per direction. */
export function rateSeries(stats: Stats): { t: number[]; cMsgs: number[]; sMsgs: number[]; cBytes: number[]; sBytes: number[] } {
  const per = 1_000_000 / stats.bucket_us;
  const t: number[] = [];
  const cMsgs: number[] = [];
  const sMsgs: number[] = [];
  const cBytes: number[] = [];
  const sBytes: number[] = [];
  const zero = (tUs: number) => {
    t.push(tUs / 1e6);
    cMsgs.push(0);
    sMsgs.push(0);
    cBytes.push(0);
    sBytes.push(0);
  };
  // An empty bucket on each side: a single busy bucket still draws as a peak on a time axis.
  if (stats.buckets.length) zero(stats.buckets[0].t_us - stats.bucket_us);
  for (const b of stats.buckets) {
    t.push(b.t_us / 1e6);
    cMsgs.push(b.client.frames * per);
    sMsgs.push(b.server.frames * per);
    cBytes.push(b.client.bytes * per);
    sBytes.push(b.server.bytes * per);
  }
  if (stats.buckets.length) zero(stats.buckets[stats.buckets.length - 1].t_us + stats.bucket_us);
  return { t, cMsgs, sMsgs, cBytes, sBytes };
}

export function sizeLabel(min: number, max: number | null): string {
  const f = (n: number) => (n >= 1048576 ? `${n / 1048576}M` : n >= 1024 ? `${n / 1024}K` : `${n}`);
  return max === null ? `≥${f(min)}` : `${f(min)}–${f(max)}`;
}

/** Too many buckets after live growth: time to ask the store again (it picks a wider width). */
export function needsRequery(stats: Stats, target: number): boolean {
  return stats.buckets.length > target * 2;
}
