// The timeline's filter bar as data: what the user typed (a draft) and the FrameFilter the
// shell runs in SQLite (docs/ipc.md, "Timeline"). Pure functions, unit-tested.
import type { Dir, FrameFilter, Opcode } from '../ipc/types';

export type TextMode = 'plain' | 'regex' | 'fts';

export interface FilterDraft {
  text: string;
  mode: TextMode;
  caseSensitive: boolean;
  dir: '' | Dir;
  /** Empty: all opcodes. */
  opcodes: Opcode[];
  /** Sizes as typed: "512", "1k", "2.5 MiB". */
  minSize: string;
  maxSize: string;
  /** Seconds from the session's start as typed: "1.5", "90s", "2m", "1h". */
  from: string;
  to: string;
  json: string;
  /** Group by message (fragments fold under their message). */
  messages: boolean;
  /** One connection only (null: all). */
  connection: number | null;
}

export const OPCODES: readonly Opcode[] = ['text', 'binary', 'continuation', 'ping', 'pong', 'close'];

export function emptyDraft(): FilterDraft {
  return {
    text: '',
    mode: 'plain',
    caseSensitive: false,
    dir: '',
    opcodes: [],
    minSize: '',
    maxSize: '',
    from: '',
    to: '',
    json: '',
    messages: false,
    connection: null,
  };
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A size as typed ("", "512", "1k", "2.5 MiB") in bytes; null when empty. */
export function parseSize(s: string): number | null {
  const t = s.trim().toLowerCase();
  if (!t) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(t);
  if (!m || !(m[2] in UNITS)) throw new Error(`"${s}" is not a size (try 512, 4k or 1.5 MiB)`);
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

const SECONDS: Record<string, number> = { '': 1, s: 1, ms: 0.001, m: 60, min: 60, h: 3600 };

/** Seconds as typed ("", "1.5", "90s", "250ms", "2m", "1h"); null when empty. */
export function parseSeconds(s: string): number | null {
  const t = s.trim().toLowerCase();
  if (!t) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(t);
  if (!m || !(m[2] in SECONDS)) throw new Error(`"${s}" is not a time (try 1.5, 90s, 250ms or 2m)`);
  return Number(m[1]) * SECONDS[m[2]];
}

/**
 * The filter for a draft. `startUs` is the session's start (unix µs) the time range counts
 * from. Throws an Error with a readable message when a field does not parse.
 */
export function buildFilter(d: FilterDraft, startUs: number | null): FrameFilter {
  const f: FrameFilter = {};
  if (d.connection !== null) f.connection = d.connection;
  if (d.dir) f.dir = d.dir;
  if (d.opcodes.length > 0 && d.opcodes.length < OPCODES.length) f.opcodes = [...d.opcodes];
  const text = d.text;
  if (text.trim()) {
    if (d.mode === 'fts') f.fts = text.trim();
    else f.text = { pattern: text, regex: d.mode === 'regex', case_sensitive: d.caseSensitive };
  }
  const min = parseSize(d.minSize);
  const max = parseSize(d.maxSize);
  if (min !== null) f.min_size = min;
  if (max !== null) f.max_size = max;
  if (min !== null && max !== null && min > max) throw new Error('the minimum size is above the maximum');
  const from = parseSeconds(d.from);
  const to = parseSeconds(d.to);
  if ((from !== null || to !== null) && startUs === null) throw new Error('this session has no start time yet');
  if (from !== null) f.from_us = Math.floor((startUs ?? 0) + from * 1e6);
  if (to !== null) f.to_us = Math.ceil((startUs ?? 0) + to * 1e6);
  if (from !== null && to !== null && from > to) throw new Error('the time range ends before it starts');
  if (d.json.trim()) f.json = d.json.trim();
  if (d.messages) f.messages = true;
  return f;
}

/** True when the filter leaves frames out. */
export function isFiltered(f: FrameFilter): boolean {
  return Object.keys(f).length > 0;
}

/** A stable key of a filter (same filter, same key). */
export function filterKey(f: FrameFilter): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sorted(o[k])]));
    }
    return v;
  };
  return JSON.stringify(sorted(f));
}

/** How many filter conditions are set besides the text box (for the "Filters (n)" button). */
export function extraConditions(d: FilterDraft): number {
  let n = 0;
  if (d.dir) n++;
  if (d.opcodes.length > 0 && d.opcodes.length < OPCODES.length) n++;
  if (d.minSize.trim() || d.maxSize.trim()) n++;
  if (d.from.trim() || d.to.trim()) n++;
  if (d.json.trim()) n++;
  if (d.connection !== null) n++;
  return n;
}

export interface MarkPart {
  text: string;
  hit: boolean;
}

/** `text` cut into plain and marked parts by `[start, end)` ranges (UTF-16 units, in order). */
export function markParts(text: string, marks: readonly (readonly [number, number])[] | undefined): MarkPart[] {
  if (!marks || marks.length === 0) return [{ text, hit: false }];
  const out: MarkPart[] = [];
  let at = 0;
  for (const [s0, e0] of marks) {
    const s = Math.max(at, Math.min(s0, text.length));
    const e = Math.max(s, Math.min(e0, text.length));
    if (s > at) out.push({ text: text.slice(at, s), hit: false });
    if (e > s) out.push({ text: text.slice(s, e), hit: true });
    at = e;
  }
  if (at < text.length) out.push({ text: text.slice(at), hit: false });
  return out;
}

/** "1,234 of 1,000,000", "≥ 12 of 1,000,000 (scanning)", or the plain count. */
export function matchLabel(count: number, total: number, filtered: boolean, complete: boolean): string {
  const n = count.toLocaleString('en-US');
  if (!filtered) return `${n} frame${count === 1 ? '' : 's'}`;
  const of = total.toLocaleString('en-US');
  return complete ? `${n} of ${of} match` : `≥ ${n} of ${of} match (scanning…)`;
}

/** A time offset in µs for the relative and delta columns: "12.345678" s, "+3.250 ms". */
export function formatOffset(us: number | null, delta: boolean): string {
  if (us === null) return '';
  if (!delta) return (us / 1e6).toFixed(6);
  const sign = us < 0 ? '−' : '+';
  const a = Math.abs(us);
  return a < 1e6 ? `${sign}${(a / 1000).toFixed(3)} ms` : `${sign}${(a / 1e6).toFixed(3)} s`;
}
