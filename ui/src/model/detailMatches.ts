// The detail view's highlights: where the timeline filter's text, regex or full-text words
// match in what a view shows (the shell runs the filter's own pattern: `find_matches`), the
// find box's matches, both as sorted `[start, end)` ranges; stepping between them; and the
// hex view's keyboard cursor and selection. Pure functions, unit-tested.
import type { FrameFilter } from '../ipc/types';

/** `[start, end)` offsets (UTF-16 units for text, bytes for hex), sorted, not overlapping. */
export type Range = readonly [number, number];

/** The part of a timeline filter that highlights (text/regex, else full text); null: none. */
export function highlightFilter(f: FrameFilter): FrameFilter | null {
  if (f.text && f.text.pattern) return { text: { ...f.text } };
  if (f.fts && f.fts.trim()) return { fts: f.fts };
  return null;
}

/** A short label of what the filter highlights: `"needle"`, `/re+/i`, `fts: a b`. */
export function highlightLabel(f: FrameFilter | null): string {
  if (!f) return '';
  if (f.text) {
    const cs = !!f.text.case_sensitive;
    return f.text.regex ? `/${f.text.pattern}/${cs ? '' : 'i'}` : `"${f.text.pattern}"${cs ? ' (match case)' : ''}`;
  }
  return `words: ${f.fts ?? ''}`;
}

/** Find-box matches (start offsets of a fixed-length query) as ranges. */
export function rangesOf(starts: readonly number[], len: number): Range[] {
  if (len <= 0) return [];
  return starts.map((s) => [s, s + len] as const);
}

/** Index of the first range that ends after `off` (binary search). */
export function firstEndingAfter(ranges: readonly Range[], off: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid][1] <= off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** 0: `i` is in no range; 1: in one; 2: in the current one. */
export function rangeHit(ranges: readonly Range[], i: number, current: number): 0 | 1 | 2 {
  if (!ranges.length) return 0;
  const k = firstEndingAfter(ranges, i);
  if (k < ranges.length && ranges[k][0] <= i) return k === current ? 2 : 1;
  return 0;
}

export interface HitPart {
  text: string;
  hit: boolean;
  current: boolean;
}

/** A row's text (starting at `rowStart` of the whole text) cut into plain and marked parts. */
export function rangeParts(rowStart: number, rowText: string, ranges: readonly Range[], current: number): HitPart[] {
  const plain = [{ text: rowText, hit: false, current: false }];
  if (!ranges.length) return plain;
  const rowEnd = rowStart + rowText.length;
  const parts: HitPart[] = [];
  let p = rowStart;
  for (let m = firstEndingAfter(ranges, rowStart); m < ranges.length && ranges[m][0] < rowEnd; m++) {
    const s = Math.max(ranges[m][0], p);
    const e = Math.min(ranges[m][1], rowEnd);
    if (e <= s) continue;
    if (s > p) parts.push({ text: rowText.slice(p - rowStart, s - rowStart), hit: false, current: false });
    parts.push({ text: rowText.slice(s - rowStart, e - rowStart), hit: true, current: m === current });
    p = e;
  }
  if (p < rowEnd) parts.push({ text: rowText.slice(p - rowStart), hit: false, current: false });
  return parts.length ? parts : plain;
}

/** The next (`d` = 1) or previous (-1) match index, wrapping; -1 when there is none. */
export function stepIndex(current: number, d: number, count: number): number {
  if (count <= 0) return -1;
  if (current < 0) return d > 0 ? 0 : count - 1;
  return (((current + d) % count) + count) % count;
}

/** "match 3 of 12", "12+" when capped, "no matches". */
export function matchOf(current: number, count: number, capped = false): string {
  if (count === 0) return 'no matches';
  const n = count.toLocaleString('en-US') + (capped ? '+' : '');
  return current < 0 ? `${n} match${count === 1 && !capped ? '' : 'es'}` : `match ${(current + 1).toLocaleString('en-US')} of ${n}`;
}

/** The body of `find_matches`: u32 little-endian length of the filter JSON, the JSON, the bytes. */
export function matchBody(filter: FrameFilter, hay: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(filter));
  const out = new Uint8Array(4 + json.length + hay.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(hay, 4 + json.length);
  return out;
}

/** Reads a `find_matches` body back (the mock shell in tests does). */
export function parseMatchBody(body: Uint8Array): { filter: FrameFilter; hay: Uint8Array } {
  const len = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0, true);
  const filter = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + len))) as FrameFilter;
  return { filter, hay: body.subarray(4 + len) };
}

// ---- hex cursor and selection ----

/** The hex view's cursor (`focus`) and the other end of the selection (`anchor`). */
export interface HexSel {
  anchor: number | null;
  focus: number | null;
}

export const HEX_PER_ROW = 16;

/**
 * Where a key moves the cursor (and, with Shift, the selection's far end) in a dump of `len`
 * bytes shown `per` to a row with `page` rows in view. Returns null for keys it does not
 * handle. Without Shift the selection collapses to the cursor.
 */
export function hexKey(
  s: HexSel,
  key: string,
  opts: { shift: boolean; ctrl: boolean; len: number; page: number; per?: number },
): HexSel | null {
  const per = opts.per ?? HEX_PER_ROW;
  const last = opts.len - 1;
  if (last < 0) return null;
  const at = s.focus ?? 0;
  const rowStart = at - (at % per);
  let to: number;
  switch (key) {
    case 'ArrowLeft':
      to = at - 1;
      break;
    case 'ArrowRight':
      to = at + 1;
      break;
    case 'ArrowUp':
      to = at - per;
      break;
    case 'ArrowDown':
      to = at + per;
      break;
    case 'PageUp':
      to = at - per * Math.max(1, opts.page);
      break;
    case 'PageDown':
      to = at + per * Math.max(1, opts.page);
      break;
    case 'Home':
      to = opts.ctrl ? 0 : rowStart;
      break;
    case 'End':
      to = opts.ctrl ? last : Math.min(last, rowStart + per - 1);
      break;
    default:
      return null;
  }
  // Up/Down past the ends stop at the first/last byte (as a text editor's first/last line).
  to = Math.max(0, Math.min(last, to));
  // No cursor yet: the first key puts it on the first byte (Ctrl+End: the last).
  if (s.focus === null) to = key === 'End' && opts.ctrl ? last : 0;
  if (opts.shift) return { anchor: s.anchor ?? s.focus ?? to, focus: to };
  return { anchor: to, focus: to };
}

/** The selected range `[start, end]` (inclusive), or null. */
export function hexRange(s: HexSel): { start: number; end: number } | null {
  if (s.anchor === null || s.focus === null) return null;
  return { start: Math.min(s.anchor, s.focus), end: Math.max(s.anchor, s.focus) };
}
