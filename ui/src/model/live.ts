// Live frames as the shell streams them (docs/ipc.md, `StreamMsg`): a batch says how many
// frames were committed, carries the newest rows and a digest per connection. `digestFrames`
// makes the same digest from whole frames (a `frames` message), so one path serves both.
import type { ConnDigest, FrameSummary } from '../ipc/types';

/** Upper edges of the payload size classes (those of `session_stats`). */
export const SIZE_EDGES = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

/** The size class of a payload length (index into SIZE_EDGES classes). */
export function sizeClass(len: number): number {
  const k = SIZE_EDGES.findIndex((e) => len < e);
  return k < 0 ? SIZE_EDGES.length : k;
}

/** New frames of a batch for the timeline and whoever listens (the statistics). */
export interface LiveUpdate {
  /** How many new frames. */
  count: number;
  /** The highest seq among them. */
  lastSeq: number;
  /** The newest of them, in seq order: the last `rows.length` of the `count` new frames. */
  rows: FrameSummary[];
  /** Digests of all of them (one or more per connection). */
  digests: ConnDigest[];
}

function emptyDigest(connection: number, ts: number): ConnDigest {
  return {
    connection,
    client: { frames: 0, bytes: 0 },
    server: { frames: 0, bytes: 0 },
    text: 0,
    binary: 0,
    continuation: 0,
    control: 0,
    max_len: 0,
    first_us: ts,
    last_us: ts,
    sizes: Array.from({ length: SIZE_EDGES.length + 1 }, () => [0, 0] as [number, number]),
    ticks: [],
  };
}

/** Per-connection digests of whole frames (what the shell sends with a `live` batch). */
export function digestFrames(frames: readonly FrameSummary[]): ConnDigest[] {
  const by = new Map<number, { d: ConnDigest; ticks: Map<number, [number, number, number, number, number]> }>();
  for (const f of frames) {
    let e = by.get(f.connection);
    if (!e) {
      e = { d: emptyDigest(f.connection, f.ts_us), ticks: new Map() };
      by.set(f.connection, e);
    }
    const d = e.d;
    const client = f.dir === 'client';
    const c = client ? d.client : d.server;
    c.frames++;
    c.bytes += f.len;
    if (f.opcode === 'text') d.text++;
    else if (f.opcode === 'binary') d.binary++;
    else if (f.opcode === 'continuation') d.continuation++;
    else d.control++;
    d.max_len = Math.max(d.max_len, f.len);
    d.first_us = Math.min(d.first_us, f.ts_us);
    d.last_us = Math.max(d.last_us, f.ts_us);
    d.sizes[sizeClass(f.len)][client ? 0 : 1]++;
    const ms = Math.floor(f.ts_us / 1000);
    let t = e.ticks.get(ms);
    if (!t) {
      t = [ms, 0, 0, 0, 0];
      e.ticks.set(ms, t);
    }
    t[client ? 1 : 3]++;
    t[client ? 2 : 4] += f.len;
  }
  return [...by.values()]
    .sort((a, b) => a.d.connection - b.d.connection)
    .map(({ d, ticks }) => ({ ...d, ticks: [...ticks.values()].sort((a, b) => a[0] - b[0]) }));
}

/** Frames of each connection in digests. */
export function framesPerConnection(digests: readonly ConnDigest[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of digests) out.set(d.connection, (out.get(d.connection) ?? 0) + d.client.frames + d.server.frames);
  return out;
}
