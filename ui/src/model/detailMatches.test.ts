import { describe, expect, it } from 'vitest';
import {
  firstEndingAfter,
  hexKey,
  hexRange,
  highlightFilter,
  highlightLabel,
  matchBody,
  matchOf,
  parseMatchBody,
  rangeHit,
  rangeParts,
  rangesOf,
  stepIndex,
  type HexSel,
} from './detailMatches';

describe('highlight filter', () => {
  it('keeps only the text (else full-text) condition', () => {
    expect(highlightFilter({})).toBeNull();
    expect(highlightFilter({ dir: 'client', json: 'a == 1' })).toBeNull();
    expect(highlightFilter({ text: { pattern: '' } })).toBeNull();
    expect(highlightFilter({ dir: 'server', text: { pattern: 'a+', regex: true, case_sensitive: true }, messages: true })).toEqual({
      text: { pattern: 'a+', regex: true, case_sensitive: true },
    });
    expect(highlightFilter({ fts: ' trade ', min_size: 3 })).toEqual({ fts: ' trade ' });
    expect(highlightFilter({ fts: '  ' })).toBeNull();
  });
  it('labels it', () => {
    expect(highlightLabel({ text: { pattern: 'x+', regex: true } })).toBe('/x+/i');
    expect(highlightLabel({ text: { pattern: 'Ab', case_sensitive: true } })).toBe('"Ab" (match case)');
    expect(highlightLabel({ text: { pattern: 'ab' } })).toBe('"ab"');
    expect(highlightLabel({ fts: 'a b' })).toBe('words: a b');
    expect(highlightLabel(null)).toBe('');
  });
});

describe('ranges', () => {
  const r = [
    [2, 5],
    [8, 9],
    [12, 20],
  ] as const;
  it('finds the range at an offset', () => {
    expect(firstEndingAfter(r, 0)).toBe(0);
    expect(firstEndingAfter(r, 5)).toBe(1);
    expect(firstEndingAfter(r, 19)).toBe(2);
    expect(firstEndingAfter(r, 20)).toBe(3);
    expect([0, 2, 4, 5, 8, 9, 12, 19, 20].map((i) => rangeHit(r, i, 2))).toEqual([0, 1, 1, 0, 1, 0, 2, 2, 0]);
    expect(rangeHit([], 3, 0)).toBe(0);
  });
  it('cuts rows into parts, ranges crossing rows included', () => {
    // Whole text "ab[cde]fg[h]ij" + "kl[mnopqrst]"; a row of 10 from 0, then from 10.
    const text = 'abcdefghijklmnopqrstuv';
    const row1 = rangeParts(0, text.slice(0, 10), r, 1);
    expect(row1).toEqual([
      { text: 'ab', hit: false, current: false },
      { text: 'cde', hit: true, current: false },
      { text: 'fgh', hit: false, current: false },
      { text: 'i', hit: true, current: true },
      { text: 'j', hit: false, current: false },
    ]);
    const row2 = rangeParts(10, text.slice(10, 16), r, 2);
    expect(row2).toEqual([
      { text: 'kl', hit: false, current: false },
      { text: 'mnop', hit: true, current: true },
    ]);
    expect(rangeParts(16, 'qrstuv', r, -1).map((p) => [p.text, p.hit])).toEqual([
      ['qrst', true],
      ['uv', false],
    ]);
    expect(rangeParts(0, 'xyz', [], 0)).toEqual([{ text: 'xyz', hit: false, current: false }]);
    // Rendered as text: joining the parts gives the row back.
    expect(row1.map((p) => p.text).join('')).toBe(text.slice(0, 10));
  });
  it('turns find offsets into ranges', () => {
    expect(rangesOf([1, 7], 3)).toEqual([
      [1, 4],
      [7, 10],
    ]);
    expect(rangesOf([1], 0)).toEqual([]);
  });
  it('steps with wrap-around', () => {
    expect(stepIndex(-1, 1, 3)).toBe(0);
    expect(stepIndex(-1, -1, 3)).toBe(2);
    expect(stepIndex(2, 1, 3)).toBe(0);
    expect(stepIndex(0, -1, 3)).toBe(2);
    expect(stepIndex(0, 1, 0)).toBe(-1);
    expect(matchOf(0, 12)).toBe('match 1 of 12');
    expect(matchOf(-1, 1)).toBe('1 match');
    expect(matchOf(4, 100000, true)).toBe('match 5 of 100,000+');
    expect(matchOf(0, 0)).toBe('no matches');
  });
  it('frames the find_matches body', () => {
    const f = { text: { pattern: 'café', regex: false } };
    const hay = new Uint8Array([0, 255, 1]);
    const body = matchBody(f, hay);
    const json = new TextEncoder().encode(JSON.stringify(f));
    expect(body[0] + body[1] * 256).toBe(json.length);
    const back = parseMatchBody(body);
    expect(back.filter).toEqual(f);
    expect(Array.from(back.hay)).toEqual([0, 255, 1]);
  });
});

describe('hex keyboard', () => {
  const len = 100; // rows of 16: 0..15, ..., 96..99
  const key = (s: HexSel, k: string, shift = false, ctrl = false) => hexKey(s, k, { shift, ctrl, len, page: 4 });
  it('moves the cursor and collapses the selection', () => {
    const none: HexSel = { anchor: null, focus: null };
    expect(key(none, 'ArrowRight')).toEqual({ anchor: 0, focus: 0 });
    expect(key(none, 'End', false, true)).toEqual({ anchor: 99, focus: 99 });
    const at: HexSel = { anchor: 17, focus: 17 };
    expect(key(at, 'ArrowRight')).toEqual({ anchor: 18, focus: 18 });
    expect(key(at, 'ArrowLeft')).toEqual({ anchor: 16, focus: 16 });
    expect(key(at, 'ArrowDown')).toEqual({ anchor: 33, focus: 33 });
    expect(key(at, 'ArrowUp')).toEqual({ anchor: 1, focus: 1 });
    expect(key({ anchor: 1, focus: 1 }, 'ArrowUp')).toEqual({ anchor: 0, focus: 0 });
    expect(key({ anchor: 90, focus: 90 }, 'ArrowDown')).toEqual({ anchor: 99, focus: 99 });
    expect(key(at, 'Home')).toEqual({ anchor: 16, focus: 16 });
    expect(key(at, 'End')).toEqual({ anchor: 31, focus: 31 });
    expect(key({ anchor: 97, focus: 97 }, 'End')).toEqual({ anchor: 99, focus: 99 });
    expect(key(at, 'PageDown')).toEqual({ anchor: 81, focus: 81 });
    expect(key(at, 'PageUp')).toEqual({ anchor: 0, focus: 0 });
    expect(key({ anchor: 3, focus: 40 }, 'ArrowRight')).toEqual({ anchor: 41, focus: 41 });
    expect(key(at, 'a')).toBeNull();
    expect(hexKey(at, 'ArrowRight', { shift: false, ctrl: false, len: 0, page: 1 })).toBeNull();
  });
  it('extends the selection with Shift, from the anchor', () => {
    let s: HexSel = { anchor: 17, focus: 17 };
    s = key(s, 'ArrowRight', true)!;
    s = key(s, 'ArrowRight', true)!;
    expect(s).toEqual({ anchor: 17, focus: 19 });
    expect(hexRange(s)).toEqual({ start: 17, end: 19 });
    s = key(s, 'ArrowUp', true)!;
    expect(hexRange(s)).toEqual({ start: 3, end: 17 });
    s = key(s, 'End', true, true)!;
    expect(hexRange(s)).toEqual({ start: 17, end: 99 });
    s = key(s, 'Home', true, true)!;
    expect(hexRange(s)).toEqual({ start: 0, end: 17 });
    s = key(s, 'PageDown', true)!;
    expect(hexRange(s)).toEqual({ start: 17, end: 64 });
    expect(hexRange({ anchor: null, focus: 3 })).toBeNull();
  });
});
