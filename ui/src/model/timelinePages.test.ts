import { describe, expect, it } from 'vitest';
import { PageCache } from './timelinePages';

const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ seq: from + i }));

describe('PageCache', () => {
  it('serves rows by index from the pages it holds', () => {
    const c = new PageCache<{ seq: number }>({ pageSize: 10, maxPages: 4 });
    expect(c.missing(0, 25, 100)).toEqual([0, 1, 2]);
    const t = c.begin(1);
    expect(c.missing(0, 25, 100)).toEqual([0, 2]);
    expect(c.put(1, rows(11, 10), t)).toBe(true);
    expect(c.get(10)?.seq).toBe(11);
    expect(c.get(19)?.seq).toBe(20);
    expect(c.get(9)).toBeUndefined();
    expect(c.find(15)).toEqual({ index: 14, row: { seq: 15 } });
    expect(c.find(99)).toBeNull();
  });

  it('keeps at most maxPages, least recently used out first', () => {
    const c = new PageCache<{ seq: number }>({ pageSize: 10, maxPages: 3 });
    for (const p of [0, 1, 2]) c.put(p, rows(p * 10 + 1, 10), c.begin(p));
    c.touch(0);
    c.put(3, rows(31, 10), c.begin(3));
    expect(c.size).toBe(3);
    expect(c.get(0)).toBeDefined();
    expect(c.get(10)).toBeUndefined(); // page 1 was the least recently used
    expect(c.rows).toBe(30);
    // A million rows paged through hold no more than three pages.
    for (let p = 0; p < 100_000; p += 997) c.put(p, rows(p * 10 + 1, 10), c.begin(p));
    expect(c.size).toBe(3);
  });

  it('drops a fetch that lands after clear()', () => {
    const c = new PageCache<{ seq: number }>({ pageSize: 10 });
    const t = c.begin(0);
    c.clear();
    expect(c.put(0, rows(1, 10), t)).toBe(false);
    expect(c.get(0)).toBeUndefined();
    expect(c.isLoading(0)).toBe(false);
  });

  it('treats a short tail page as missing once the list grew', () => {
    const c = new PageCache<{ seq: number }>({ pageSize: 10 });
    c.put(0, rows(1, 4), c.begin(0));
    expect(c.missing(0, 9, 4)).toEqual([]);
    expect(c.missing(0, 9, 6)).toEqual([0]);
  });

  it('appends live rows after the loaded tail and starts pages at boundaries only', () => {
    const c = new PageCache<{ seq: number }>({ pageSize: 10, maxPages: 10 });
    c.put(0, rows(1, 8), c.begin(0));
    c.append(8, rows(9, 5)); // fills page 0, starts page 1
    expect(c.get(9)?.seq).toBe(10);
    expect(c.get(12)?.seq).toBe(13);
    c.append(30, rows(31, 3)); // page 3 from its start
    expect(c.get(30)?.seq).toBe(31);
    c.append(45, rows(46, 2)); // would leave a hole in page 4: left out
    expect(c.get(45)).toBeUndefined();
    c.dropFrom(10);
    expect(c.get(9)?.seq).toBe(10);
    expect(c.get(12)).toBeUndefined();
  });
});
