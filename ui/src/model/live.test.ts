import { describe, expect, it } from 'vitest';
import { digestFrames, framesPerConnection, sizeClass, SIZE_EDGES } from './live';
import { applyStreamMsgs, BATCH_ROWS, createSessionView } from './sessionView';
import { addDigests, addLive } from '../views/stats/statsModel';
import { mkFrame } from '../test/fixtures';
import type { ConnDigest, FrameSummary, LiveBatch, StreamMsg } from '../ipc/types';
import type { Stats } from '../ipc/detail';

const frames = (from: number, n: number, p: (seq: number) => Partial<FrameSummary> = () => ({})) =>
  Array.from({ length: n }, (_, i) => mkFrame(from + i, p(from + i)));

/** A `live` message as the shell makes it (bridge/live.rs): the newest `keep` rows, digests of all. */
function liveMsg(all: FrameSummary[], keep = 128): StreamMsg {
  const b: LiveBatch = {
    count: all.length,
    first_seq: all[0].seq,
    last_seq: all[all.length - 1].seq,
    rows: all.slice(-keep),
    conns: digestFrames(all),
  };
  return { kind: 'live', ...b };
}

function emptyStats(): Stats {
  return {
    session: 1,
    connection: null,
    bucket_us: 2_000,
    buckets: [],
    sizes: [0, ...SIZE_EDGES].map((min, k, a) => ({ min, max: a[k + 1] ?? null, client: 0, server: 0 })),
    totals: { client: { frames: 0, bytes: 0 }, server: { frames: 0, bytes: 0 }, text: 0, binary: 0, continuation: 0, control: 0, first_us: null, last_us: null, max_len: 0 },
  };
}

describe('live digests', () => {
  it('classify sizes like session_stats', () => {
    expect([0, 15, 16, 63, 64, 1023, 1024, 16777215, 16777216].map(sizeClass)).toEqual([0, 0, 1, 1, 2, 3, 4, 10, 11]);
  });

  it('count per connection, direction, opcode and millisecond', () => {
    const fs = frames(1, 10, (s) => ({
      connection: s % 2 ? 1 : 2,
      ts_us: 5_000_000 + s * 300,
      opcode: s === 3 ? 'ping' : s === 4 ? 'binary' : s === 5 ? 'continuation' : 'text',
      len: s * 10,
    }));
    const d = digestFrames(fs);
    expect(d.map((x) => x.connection)).toEqual([1, 2]);
    expect(framesPerConnection(d)).toEqual(new Map([[1, 5], [2, 5]]));
    const c1 = d[0];
    expect(c1.client.frames + c1.server.frames).toBe(5);
    expect([c1.text, c1.binary, c1.continuation, c1.control]).toEqual([3, 0, 1, 1]);
    expect(c1.first_us).toBe(5_000_300);
    expect(c1.last_us).toBe(5_002_700);
    expect(c1.max_len).toBe(90);
    const ticks = d.flatMap((x) => x.ticks);
    expect(ticks.reduce((n, t) => n + t[1] + t[3], 0)).toBe(10);
    expect(ticks.reduce((n, t) => n + t[2] + t[4], 0)).toBe(550);
    expect(d[1].ticks.map((t) => t[0])).toEqual([5000, 5001, 5002, 5003]);
  });

  it('give the statistics exactly what whole frames give', () => {
    const fs = frames(1, 3000, (s) => ({ ts_us: 7_000_000 + s * 137, len: (s * 37) % 5000, connection: 1 + (s % 3) }));
    for (const conn of [null, 2]) {
      const a = emptyStats();
      const b = emptyStats();
      const n = addLive(a, fs, conn);
      // In batches, the way they stream in.
      let m = 0;
      for (let i = 0; i < fs.length; i += 700) m += addDigests(b, digestFrames(fs.slice(i, i + 700)), conn);
      expect(m).toBe(n);
      expect(b).toEqual(a);
      expect(a.buckets.reduce((k, x) => k + x.client.frames + x.server.frames, 0)).toBe(n);
    }
  });
});

describe('applyStreamMsgs with live batches', () => {
  it('counts every frame, keeps the newest rows and the digests', () => {
    const v = createSessionView(1);
    const all = frames(1, 1000, (s) => ({ connection: s <= 400 ? 1 : 2 }));
    const r = applyStreamMsgs(v, [liveMsg(all.slice(0, 600)), liveMsg(all.slice(600))]);
    expect(r.framesAdded).toBe(1000);
    expect(v.lastSeq).toBe(1000);
    // The second message left rows out: only its rows are a suffix of the new frames.
    expect(r.frames.map((f) => f.seq)).toEqual(all.slice(-128).map((f) => f.seq));
    expect(v.connFrames).toEqual(new Map([[1, 400], [2, 600]]));
    expect(r.digests.reduce((n, d: ConnDigest) => n + d.client.frames + d.server.frames, 0)).toBe(1000);
  });

  it('joins rows of messages that sent every frame', () => {
    const v = createSessionView(1);
    const all = frames(1, 30);
    const r = applyStreamMsgs(v, [liveMsg(all.slice(0, 10)), liveMsg(all.slice(10, 20)), { kind: 'frames', frames: all.slice(20) }]);
    expect(r.framesAdded).toBe(30);
    expect(r.frames.map((f) => f.seq)).toEqual(all.map((f) => f.seq));
  });

  it('skips what it already has and caps the rows it keeps', () => {
    const v = createSessionView(1);
    applyStreamMsgs(v, [liveMsg(frames(1, 50))]);
    const again = applyStreamMsgs(v, [liveMsg(frames(1, 50))]);
    expect(again.framesAdded).toBe(0);
    expect(again.framesSkipped).toBe(50);
    const big = applyStreamMsgs(v, [{ kind: 'frames', frames: frames(51, 2000) }]);
    expect(big.framesAdded).toBe(2000);
    expect(big.frames).toHaveLength(BATCH_ROWS);
    expect(big.frames.at(-1)?.seq).toBe(2050);
  });
});
