// The mock shell's detail and statistics commands (frame_facts, get_message, session_stats),
// computed from the mock's stored frames like the store computes them from SQLite.
import type { ConnectionInfo, FrameSummary, SessionSummary } from '../../src/ipc/types';

interface Stored {
  summary: FrameSummary;
  bytes: Uint8Array;
  inflated?: Uint8Array;
}
interface Session {
  info: SessionSummary;
  conns: ConnectionInfo[];
  frames: Stored[];
}

export const NOT_MINE = Symbol('not a detail command');

const OPCODES: Record<string, number> = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

function find(sessions: Map<number, Session>, args: Record<string, unknown>): { s: Session; i: number } {
  const s = sessions.get(Number(args.sessionId));
  if (!s) throw `session ${String(args.sessionId)} not found`;
  const i = s.frames.findIndex((f) => f.summary.seq === Number(args.seq));
  if (i < 0) throw `frame ${String(args.seq)} of session ${String(args.sessionId)} not found`;
  return { s, i };
}

function span(s: Session, i: number): Stored[] | null {
  const head = s.frames[i].summary;
  const op = OPCODES[head.opcode] ?? 3;
  if (op > 2) return null;
  const same = (f: FrameSummary) => f.connection === head.connection && f.dir === head.dir && (OPCODES[f.opcode] ?? 3) <= 2;
  let start = i;
  if (op === 0) {
    for (let k = i - 1; k >= 0; k--) {
      const f = s.frames[k].summary;
      if (!same(f)) continue;
      start = k;
      if (f.opcode !== 'continuation') break;
    }
  }
  const out: Stored[] = [];
  for (let k = start; k < s.frames.length; k++) {
    const f = s.frames[k].summary;
    if (k !== start && !same(f)) continue;
    if (k !== start && f.opcode !== 'continuation') break;
    out.push(s.frames[k]);
    if (f.fin) break;
  }
  return out;
}

export function detailCommand(sessions: Map<number, Session>, cmd: string, args: Record<string, unknown>): unknown {
  if (cmd === 'frame_facts') {
    const { s, i } = find(sessions, args);
    const f = s.frames[i];
    const sp = span(s, i);
    const conn = s.conns.find((c) => c.id === f.summary.connection);
    return {
      seq: f.summary.seq,
      connection: f.summary.connection,
      ts_us: f.summary.ts_us,
      dir: f.summary.dir,
      opcode_value: OPCODES[f.summary.opcode] ?? 3,
      opcode: f.summary.opcode,
      fin: f.summary.fin,
      rsv1: f.summary.rsv1,
      rsv2: false,
      rsv3: false,
      masked: f.summary.masked,
      mask_key: f.summary.masked ? '37fa213d' : null,
      len: f.summary.len,
      recorded_len: f.bytes.length,
      truncated: f.summary.truncated,
      injected: f.summary.injected,
      note: f.summary.note,
      inflated_len: f.summary.inflated_len,
      head: [...f.bytes.subarray(0, 16)],
      message: sp
        ? {
            first_seq: sp[0].summary.seq,
            opcode: sp[0].summary.opcode,
            last_seq: sp[sp.length - 1].summary.seq,
            frames: sp.length,
            len: sp.reduce((n, x) => n + x.summary.len, 0),
            complete: sp[sp.length - 1].summary.fin,
            compressed: sp[0].summary.rsv1,
          }
        : null,
      connection_opened_at_us: conn?.opened_at_us ?? null,
    };
  }
  if (cmd === 'get_message') {
    const { s, i } = find(sessions, args);
    const sp = span(s, i) ?? [s.frames[i]];
    const last = sp[sp.length - 1];
    const parts = last.inflated ? [last.inflated] : sp.map((x) => x.bytes);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out.buffer;
  }
  if (cmd === 'session_stats') {
    const s = sessions.get(Number(args.sessionId));
    if (!s) throw `session ${String(args.sessionId)} not found`;
    const conn = args.connectionId == null ? null : Number(args.connectionId);
    const frames = s.frames.map((f) => f.summary).filter((f) => conn === null || f.connection === conn);
    const totals = {
      client: { frames: 0, bytes: 0 },
      server: { frames: 0, bytes: 0 },
      text: 0,
      binary: 0,
      continuation: 0,
      control: 0,
      first_us: null as number | null,
      last_us: null as number | null,
      max_len: 0,
    };
    const edges = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];
    const sizes = [0, ...edges].map((min, k) => ({ min, max: edges[k] ?? null, client: 0, server: 0 }));
    for (const f of frames) {
      totals[f.dir].frames++;
      totals[f.dir].bytes += f.len;
      if (f.opcode === 'text') totals.text++;
      else if (f.opcode === 'binary') totals.binary++;
      else if (f.opcode === 'continuation') totals.continuation++;
      else totals.control++;
      totals.first_us = totals.first_us === null ? f.ts_us : Math.min(totals.first_us, f.ts_us);
      totals.last_us = totals.last_us === null ? f.ts_us : Math.max(totals.last_us, f.ts_us);
      totals.max_len = Math.max(totals.max_len, f.len);
      let k = edges.findIndex((e) => f.len < e);
      if (k < 0) k = edges.length;
      sizes[k][f.dir]++;
    }
    if (totals.first_us === null || totals.last_us === null)
      return { session: s.info.id, connection: conn, bucket_us: 1_000_000, buckets: [], sizes, totals };
    const steps = [1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1.5e7, 3e7, 6e7, 1.2e8, 3e8, 6e8, 1.8e9, 3.6e9, 8.64e10];
    const n = Number(args.buckets ?? 240);
    const need = Math.floor((totals.last_us - totals.first_us) / n) + 1;
    const width = steps.find((w) => w >= need) ?? 8.64e10;
    const start = Math.floor(totals.first_us / width) * width;
    const count = Math.floor((totals.last_us - start) / width) + 1;
    const buckets = Array.from({ length: count }, (_, k) => ({
      t_us: start + k * width,
      client: { frames: 0, bytes: 0 },
      server: { frames: 0, bytes: 0 },
    }));
    for (const f of frames) {
      const b = buckets[Math.floor((f.ts_us - start) / width)];
      b[f.dir].frames++;
      b[f.dir].bytes += f.len;
    }
    return { session: s.info.id, connection: conn, bucket_us: width, buckets, sizes, totals };
  }
  return NOT_MINE;
}
