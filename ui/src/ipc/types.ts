// Wire types of docs/ipc.md. Field names are snake_case on the wire; command
// arguments are camelCase. Keep this file in lock-step with the document.

export type SessionKind = 'client' | 'proxy' | 'replay';

export interface SessionSummary {
  id: number;
  name: string;
  kind: SessionKind;
  /** RFC 3339 UTC, e.g. "2026-11-26T15:20:13.123Z" */
  created_at: string;
  connections: number;
  frames: number;
}

export type ConnState = 'connecting' | 'open' | 'closed' | 'failed';
export type ClosedBy = 'client' | 'server' | 'error';

export interface ConnectionInfo {
  id: number;
  session_id: number;
  url: string;
  state: ConnState;
  /** unix µs when the handshake completed */
  opened_at_us: number | null;
  closed_at_us: number | null;
  close_code: number | null;
  close_reason: string | null;
  closed_by: ClosedBy | null;
  /** failure text for state "failed" (e.g. "connection refused") */
  error: string | null;
  response_status: number | null;
}

/** client = client-to-server (sent), server = server-to-client (received) */
export type Dir = 'client' | 'server';
export type Opcode = 'text' | 'binary' | 'continuation' | 'ping' | 'pong' | 'close';

export interface FrameSummary {
  /** per session, strictly increasing, assigned at commit */
  seq: number;
  connection: number;
  ts_us: number;
  dir: Dir;
  opcode: Opcode;
  fin: boolean;
  rsv1: boolean;
  len: number;
  injected: boolean;
  /** <= 256 chars: text for valid UTF-8, else hex bytes "0a 1b …" */
  preview: string;
  close_code: number | null;
  close_reason: string | null;
}

export type StreamMsg =
  | { kind: 'frames'; frames: FrameSummary[] }
  | { kind: 'connection'; connection: ConnectionInfo };
