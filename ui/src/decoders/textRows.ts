// Splits text into the rows the text view draws: one per line, or with wrapping one per
// `width` characters of a line. A 10 MB single-line payload becomes ~100k short rows that
// a virtual list draws a screenful at a time (never one huge text node).

export interface TextRows {
  /** UTF-16 offset where each row starts. */
  starts: Uint32Array;
  /** 1-based line number of the row, or 0 for a wrapped continuation row. */
  lines: Uint32Array;
  /** Total text length (the last row ends there). */
  end: number;
}

/** Rows longer than this are cut into several rows even without wrapping. */
export const NOWRAP_MAX = 4096;

export function textRows(text: string, lineStarts: Uint32Array, width: number | null): TextRows {
  const w = Math.max(8, Math.floor(width ?? NOWRAP_MAX));
  const n = text.length;
  // Count first, then fill (no growing arrays for 100k+ rows).
  let count = 0;
  for (let l = 0; l < lineStarts.length; l++) {
    const s = lineStarts[l];
    const e = l + 1 < lineStarts.length ? lineStarts[l + 1] - 1 : n;
    count += Math.max(1, Math.ceil((e - s) / w));
  }
  const starts = new Uint32Array(count);
  const lines = new Uint32Array(count);
  let r = 0;
  for (let l = 0; l < lineStarts.length; l++) {
    const s = lineStarts[l];
    const e = l + 1 < lineStarts.length ? lineStarts[l + 1] - 1 : n;
    let p = s;
    starts[r] = p;
    lines[r++] = l + 1;
    while (e - p > w) {
      p += w;
      // Never split a surrogate pair.
      const c = text.charCodeAt(p);
      if (c >= 0xdc00 && c <= 0xdfff) p--;
      if (r < count) {
        starts[r] = p;
        lines[r++] = 0;
      }
    }
  }
  return { starts: r === count ? starts : starts.subarray(0, r), lines: r === count ? lines : lines.subarray(0, r), end: n };
}

/** The text of row `i` (without its line break). */
export function rowText(text: string, rows: TextRows, i: number): string {
  const s = rows.starts[i];
  let e = i + 1 < rows.starts.length ? rows.starts[i + 1] : rows.end;
  if (i + 1 < rows.starts.length && rows.lines[i + 1] !== 0) e--; // drop the \n
  if (e > s && text.charCodeAt(e - 1) === 13) e--; // and a \r before it
  return text.slice(s, Math.max(s, e));
}

/** Index of the row holding offset `off`. */
export function rowOf(rows: TextRows, off: number): number {
  let lo = 0;
  let hi = rows.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rows.starts[mid] <= off) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Offsets of the matches of `query` in `text` (case-insensitive unless asked), at most `max`. */
export function findAll(text: string, query: string, caseSensitive = false, max = 10_000): number[] {
  if (!query) return [];
  const hay = caseSensitive ? text : text.toLowerCase();
  const q = caseSensitive ? query : query.toLowerCase();
  // toLowerCase can change lengths for a few characters (e.g. 'İ'); then fall back to exact case.
  const usable = hay.length === text.length;
  const h = usable ? hay : text;
  const needle = usable ? q : query;
  const out: number[] = [];
  for (let i = h.indexOf(needle); i >= 0 && out.length < max; i = h.indexOf(needle, i + Math.max(1, needle.length)))
    out.push(i);
  return out;
}

/** Splits a row's text into plain and highlighted parts for the matches that touch it. */
export function highlightParts(
  rowStart: number,
  rowTextStr: string,
  matches: readonly number[],
  qlen: number,
  current: number,
): { text: string; hit: boolean; current: boolean }[] {
  if (!matches.length || !qlen) return [{ text: rowTextStr, hit: false, current: false }];
  const rowEnd = rowStart + rowTextStr.length;
  // First match that may overlap the row (binary search on start + qlen > rowStart).
  let lo = 0;
  let hi = matches.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (matches[mid] + qlen <= rowStart) lo = mid + 1;
    else hi = mid;
  }
  const parts: { text: string; hit: boolean; current: boolean }[] = [];
  let p = rowStart;
  for (let m = lo; m < matches.length && matches[m] < rowEnd; m++) {
    const s = Math.max(matches[m], rowStart);
    const e = Math.min(matches[m] + qlen, rowEnd);
    if (s > p) parts.push({ text: rowTextStr.slice(p - rowStart, s - rowStart), hit: false, current: false });
    parts.push({ text: rowTextStr.slice(s - rowStart, e - rowStart), hit: true, current: m === current });
    p = e;
  }
  if (p < rowEnd) parts.push({ text: rowTextStr.slice(p - rowStart), hit: false, current: false });
  return parts.length ? parts : [{ text: rowTextStr, hit: false, current: false }];
}
