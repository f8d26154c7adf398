// Builders for unit tests (never imported by the app).
import type { ConnectionInfo, FrameSummary, SessionSummary, StreamMsg } from '../ipc/types';

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
