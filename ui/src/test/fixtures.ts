// Builders for unit tests (never imported by the app).
import { vi } from 'vitest';
import type { ConnectionInfo, FrameFilter, FrameSummary, SessionSummary, StreamMsg } from '../ipc/types';
import type { TimelineApi } from '../model/timeline.svelte';

export function mkFrame(seq: number, p: Partial<FrameSummary> = {}): FrameSummary {
  return {
    seq,
    connection: 1,
    ts_us: 1_764_170_413_123_000 + seq * 1000,
    dir: seq % 2 ? 'client' : 'server',
    opcode: 'text',
    fin: true,
    rsv1: false,
    len: 5,
    injected: false,
    masked: false,
    truncated: false,
    invalid: false,
    note: null,
    inflated_len: null,
    preview: `msg ${seq}`,
    close_code: null,
    close_reason: null,
    ...p,
  };
}

export function mkConn(id: number, p: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return {
    id,
    session_id: 1,
    url: 'ws://127.0.0.1:9001/echo',
    state: 'open',
    opened_at_us: 1_764_170_413_000_000,
    closed_at_us: null,
    close_code: null,
    close_reason: null,
    closed_by: null,
    error: null,
    response_status: 101,
    ...p,
  };
}

export function framesMsg(...seqs: number[]): StreamMsg {
  return { kind: 'frames', frames: seqs.map((s) => mkFrame(s)) };
}

export function connMsg(c: ConnectionInfo): StreamMsg {
  return { kind: 'connection', connection: c };
}

export function mkSession(id: number, p: Partial<SessionSummary> = {}): SessionSummary {
  return {
    id,
    name: `s${id}`,
    kind: 'client',
    created_at: '2026-11-26T15:20:13.123Z',
    connections: 0,
    frames: 0,
    insecure: false,
    pinned: false,
    tags: [],
    notes: '',
    origin_session_id: null,
    origin_connection_id: null,
    imported_from: null,
    bytes: 0,
    ...p,
  };
}

/** Whether a frame passes a filter (the parts unit tests use; the shell runs the real one in SQLite). */
export function frameMatches(f: FrameSummary, filter: FrameFilter): boolean {
  if (filter.connection !== undefined && f.connection !== filter.connection) return false;
  if (filter.dir && f.dir !== filter.dir) return false;
  if (filter.opcodes && !filter.opcodes.includes(f.opcode)) return false;
  if (filter.messages && f.opcode === 'continuation') return false;
  const size = f.inflated_len ?? f.len;
  if (filter.min_size !== undefined && size < filter.min_size) return false;
  if (filter.max_size !== undefined && size > filter.max_size) return false;
  if (filter.text) {
    const t = filter.text;
    const src = t.regex ? t.pattern : t.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (!new RegExp(src, t.case_sensitive ? '' : 'i').test(f.preview)) return false;
  }
  return true;
}

/** The timeline's commands over in-memory frames of each session. */
export function timelineStub(framesOf: (sessionId: number) => FrameSummary[] = () => []): TimelineApi {
  const list = (s: number, filter: FrameFilter) => framesOf(s).filter((f) => frameMatches(f, filter));
  return {
    timelineCount: vi.fn(async (s: number, filter: FrameFilter) => {
      const all = framesOf(s);
      return { count: list(s, filter).length, complete: true, scanned_seq: all.at(-1)?.seq ?? 0, last_seq: all.at(-1)?.seq ?? 0 };
    }),
    timelinePage: vi.fn(async (s: number, filter: FrameFilter, offset: number, limit: number) =>
      list(s, filter)
        .slice(offset, offset + limit)
        .map((f) => ({ ...f, marks: [] as [number, number][] })),
    ),
    timelineIndexOf: vi.fn(async (s: number, filter: FrameFilter, seq: number) => {
      const l = list(s, filter);
      const i = l.findIndex((f) => f.seq >= seq);
      return { index: i < 0 ? l.length : i, exact: i >= 0 && l[i].seq === seq };
    }),
    connectionFrameCounts: vi.fn(async (s: number, maxSeq: number) => {
      const counts = new Map<number, number>();
      for (const f of framesOf(s)) if (f.seq <= maxSeq) counts.set(f.connection, (counts.get(f.connection) ?? 0) + 1);
      return [...counts].sort((a, b) => a[0] - b[0]);
    }),
    messageFragments: vi.fn(async (s: number, seq: number) => {
      const all = framesOf(s);
      const i = all.findIndex((f) => f.seq === seq);
      if (i < 0) throw new Error(`frame ${seq} not found`);
      const out = [all[i]];
      if (all[i].fin) return out;
      for (const f of all.slice(i + 1)) {
        if (f.connection !== all[i].connection || f.dir !== all[i].dir) continue;
        if (f.opcode !== 'continuation') break;
        out.push(f);
        if (f.fin) break;
      }
      return out;
    }),
  };
}
