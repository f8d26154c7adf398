import { describe, expect, it } from 'vitest';
import { changeText, connectionLabel, filterRows, parseIgnore, summaryItems, verdict } from './diff';
import type { DiffRow } from '../ipc/types';

const row = (status: DiffRow['status']): DiffRow => ({
  dir: 'server',
  status,
  json: true,
  changes: [],
  left: status === 'extra' ? null : { seq: 1, ts_us: 0, opcode: 'text', preview: 'l' },
  right: status === 'missing' ? null : { seq: 1, ts_us: 0, opcode: 'text', preview: 'r' },
});

describe('parseIgnore', () => {
  it('splits on commas, trims and drops empties and duplicates', () => {
    expect(parseIgnore('ts, $.meta.id,, ts ,')).toEqual(['ts', '$.meta.id']);
    expect(parseIgnore('')).toEqual([]);
  });
  it('keeps commas inside brackets and quotes', () => {
    expect(parseIgnore('$["a,b"].c, $.items[*].id, \'x,y\'')).toEqual(['$["a,b"].c', '$.items[*].id', "'x,y'"]);
    expect(parseIgnore('$["q\\"uote,"], id')).toEqual(['$["q\\"uote,"]', 'id']);
  });
});

describe('rows', () => {
  it('filters to differences only', () => {
    const rows = [row('identical'), row('changed'), row('identical'), row('missing'), row('extra')];
    expect(filterRows(rows, false)).toHaveLength(5);
    expect(filterRows(rows, true).map((r) => r.status)).toEqual(['changed', 'missing', 'extra']);
    expect(filterRows([], true)).toEqual([]);
  });
  it('labels summaries and changes', () => {
    const s = { identical: 380, changed: 1, missing: 1, extra: 0, left_messages: 382, right_messages: 381 };
    expect(summaryItems(s).map((i) => i.label)).toEqual(['380 identical', '1 changed', '1 missing', '0 extra']);
    expect(verdict(s)).toBe('2 differences');
    expect(verdict({ ...s, changed: 0, missing: 0 })).toBe('Identical');
    expect(changeText({ path: '$.bid', kind: 'changed', left: '1', right: '2' })).toBe('1 → 2');
    expect(changeText({ path: '$.x', kind: 'added', left: null, right: '"y"' })).toBe('(absent) → "y"');
    expect(connectionLabel({ id: 7, session_id: 3, url: 'wss://e.test/f' })).toBe('#3 / #7 wss://e.test/f');
  });
});
