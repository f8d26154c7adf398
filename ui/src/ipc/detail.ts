// Typed wrappers of the detail and statistics commands (docs/ipc.md, "Detail and statistics").
import { invoke } from '@tauri-apps/api/core';
import { IpcError, toIpcError } from './commands';
import type { Dir, FrameFilter } from './types';
import { matchBody } from '../model/detailMatches';

export interface MessageSpan {
  first_seq: number;
  /** The message's opcode (its first frame's): "text" or "binary". */
  opcode: string;
  last_seq: number;
  frames: number;
  len: number;
  complete: boolean;
  compressed: boolean;
}

export interface FrameFacts {
  seq: number;
  connection: number;
  ts_us: number;
  dir: Dir;
  /** 0–15 as on the wire. */
  opcode_value: number;
  opcode: string;
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  masked: boolean;
  /** 8 hex digits, when recorded. */
  mask_key: string | null;
  len: number;
  recorded_len: number;
  truncated: boolean;
  injected: boolean;
  note: string | null;
  inflated_len: number | null;
  /** First 16 payload bytes (unmasked). */
  head: number[];
  message: MessageSpan | null;
  connection_opened_at_us: number | null;
}

export interface DirCounts {
  frames: number;
  bytes: number;
}

export interface TimeBucket {
  t_us: number;
  client: DirCounts;
  server: DirCounts;
}

export interface SizeBucket {
  min: number;
  max: number | null;
  client: number;
  server: number;
}

export interface StatsTotals {
  client: DirCounts;
  server: DirCounts;
  text: number;
  binary: number;
  continuation: number;
  control: number;
  first_us: number | null;
  last_us: number | null;
  max_len: number;
}

export interface Stats {
  session: number;
  connection: number | null;
  bucket_us: number;
  buckets: TimeBucket[];
  sizes: SizeBucket[];
  totals: StatsTotals;
}

async function call<T>(command: string, args: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (err) {
    throw toIpcError(command, err);
  }
}

export function frameFacts(sessionId: number, seq: number): Promise<FrameFacts> {
  return call('frame_facts', { sessionId, seq });
}

/** The whole message `seq` belongs to, fragments joined (inflated when compressed). */
export async function getMessage(sessionId: number, seq: number): Promise<Uint8Array> {
  const raw = await call<unknown>('get_message', { sessionId, seq });
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  if (Array.isArray(raw)) return Uint8Array.from(raw as number[]);
  throw new IpcError('get_message', 'command', 'get_message returned no bytes');
}

export function sessionStats(sessionId: number, connectionId: number | null, buckets?: number): Promise<Stats> {
  const args: Record<string, unknown> = { sessionId, connectionId };
  if (buckets !== undefined) args.buckets = buckets;
  return call('session_stats', args);
}

/** Where a filter's text, regex or full-text words match in some bytes (`find_matches`). */
export interface PayloadMatches {
  /** `[start, end)` byte offsets, sorted. */
  bytes: [number, number][];
  /** The same in UTF-16 units of the bytes read as UTF-8 (invalid sequences as U+FFFD). */
  utf16: [number, number][];
  /** More matches than returned (100,000). */
  capped: boolean;
  /** The filter has something to highlight. */
  active: boolean;
}

/**
 * Runs the timeline filter's own pattern (Rust regex, the database's case rules) over
 * `bytes`: a payload, or pretty JSON / decoded text encoded as UTF-8.
 */
export async function findMatches(filter: FrameFilter, bytes: Uint8Array): Promise<PayloadMatches> {
  try {
    return await invoke<PayloadMatches>('find_matches', matchBody(filter, bytes));
  } catch (err) {
    throw toIpcError('find_matches', err);
  }
}
