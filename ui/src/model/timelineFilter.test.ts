import { describe, expect, it } from 'vitest';
import { buildFilter, emptyDraft, extraConditions, filterKey, formatOffset, isFiltered, markParts, matchLabel, parseSeconds, parseSize } from './timelineFilter';

describe('filter draft', () => {
  it('is empty by default', () => {
    expect(buildFilter(emptyDraft(), null)).toEqual({});
    expect(isFiltered({})).toBe(false);
  });

  it('combines every condition', () => {
    const d = {
      ...emptyDraft(),
      text: 'price',
      caseSensitive: true,
      dir: 'server' as const,
      opcodes: ['text' as const, 'binary' as const],
      minSize: '1k',
      maxSize: '2 MiB',
      from: '1.5',
      to: '2m',
      json: ' type == "trade" ',
      messages: true,
      connection: 4,
    };
    expect(buildFilter(d, 1_000_000)).toEqual({
      connection: 4,
      dir: 'server',
      opcodes: ['text', 'binary'],
      text: { pattern: 'price', regex: false, case_sensitive: true },
      min_size: 1024,
      max_size: 2 * 1024 * 1024,
      from_us: 2_500_000,
      to_us: 121_000_000,
      json: 'type == "trade"',
      messages: true,
    });
    expect(extraConditions(d)).toBe(6);
  });

  it('text modes: regex and full-text', () => {
    expect(buildFilter({ ...emptyDraft(), text: 'a.+b', mode: 'regex' }, null).text).toEqual({ pattern: 'a.+b', regex: true, case_sensitive: false });
    expect(buildFilter({ ...emptyDraft(), text: ' hello wor ', mode: 'fts' }, null)).toEqual({ fts: 'hello wor' });
  });

  it('all opcodes is no opcode condition', () => {
    const d = { ...emptyDraft(), opcodes: ['text', 'binary', 'continuation', 'ping', 'pong', 'close'] as const };
    expect(buildFilter({ ...d, opcodes: [...d.opcodes] }, null)).toEqual({});
  });

  it('refuses what does not parse, with a reason', () => {
    expect(() => buildFilter({ ...emptyDraft(), minSize: 'lots' }, null)).toThrow(/not a size/);
    expect(() => buildFilter({ ...emptyDraft(), minSize: '10', maxSize: '5' }, null)).toThrow(/minimum/);
    expect(() => buildFilter({ ...emptyDraft(), from: '5', to: '1' }, 0)).toThrow(/ends before/);
    expect(() => buildFilter({ ...emptyDraft(), from: '5' }, null)).toThrow(/start/);
    expect(() => parseSeconds('soon')).toThrow(/not a time/);
  });

  it('parses sizes and times', () => {
    expect(parseSize('')).toBeNull();
    expect(parseSize('512')).toBe(512);
    expect(parseSize('1.5 KiB')).toBe(1536);
    expect(parseSeconds('250ms')).toBeCloseTo(0.25);
    expect(parseSeconds('1h')).toBe(3600);
  });

  it('keys filters independently of field order', () => {
    expect(filterKey({ dir: 'client', min_size: 3 })).toBe(filterKey({ min_size: 3, dir: 'client' }));
    expect(filterKey({ dir: 'client' })).not.toBe(filterKey({ dir: 'server' }));
    // Nested fields count too (a new pattern is a new filter).
    expect(filterKey({ text: { pattern: 'a', regex: true } })).not.toBe(filterKey({ text: { pattern: 'b', regex: true } }));
    expect(filterKey({ text: { regex: true, pattern: 'a' } })).toBe(filterKey({ text: { pattern: 'a', regex: true } }));
  });
});

describe('marks and labels', () => {
  it('cuts text into marked parts (text only, never HTML)', () => {
    expect(markParts('<b>price</b> price', [[3, 8], [13, 18]])).toEqual([
      { text: '<b>', hit: false },
      { text: 'price', hit: true },
      { text: '</b> ', hit: false },
      { text: 'price', hit: true },
    ]);
    expect(markParts('abc', [])).toEqual([{ text: 'abc', hit: false }]);
    expect(markParts('abc', [[2, 99]])).toEqual([
      { text: 'ab', hit: false },
      { text: 'c', hit: true },
    ]);
  });

  it('says how many frames match', () => {
    expect(matchLabel(1_000_000, 1_000_000, false, true)).toBe('1,000,000 frames');
    expect(matchLabel(12, 1000, true, true)).toBe('12 of 1,000 match');
    expect(matchLabel(12, 1000, true, false)).toMatch(/^≥ 12 of 1,000 .*scanning/);
  });

  it('formats relative and delta times', () => {
    expect(formatOffset(1_500_000, false)).toBe('1.500000');
    expect(formatOffset(3250, true)).toBe('+3.250 ms');
    expect(formatOffset(2_000_000, true)).toBe('+2.000 s');
    expect(formatOffset(null, true)).toBe('');
  });
});
