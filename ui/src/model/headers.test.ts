import { describe, expect, it } from 'vitest';
import { addRow, headersFromRows, removeRow, rowsFromHeaders, updateRow } from './headers';

describe('header rows', () => {
  it('edits rows by id and keeps order and duplicates', () => {
    let rows = rowsFromHeaders([
      ['Origin', 'https://app.example.test'],
      ['Cookie', 'a=1'],
    ]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(2);
    rows = addRow(rows);
    rows = updateRow(rows, rows[2].id, { key: 'Cookie', value: 'b=2' });
    rows = removeRow(rows, rows[0].id);
    expect(headersFromRows(rows)).toEqual({
      ok: true,
      headers: [
        ['Cookie', 'a=1'],
        ['Cookie', 'b=2'],
      ],
    });
  });

  it('leaves blank rows out and trims names', () => {
    const rows = addRow(rowsFromHeaders([[' X-Token ', ' v ']]));
    expect(headersFromRows(rows)).toEqual({ ok: true, headers: [['X-Token', ' v ']] });
  });

  it('names the row and character of an invalid header', () => {
    const rows = rowsFromHeaders([
      ['Ok', '1'],
      ['Bad Name', 'x'],
    ]);
    const r = headersFromRows(rows);
    expect(r).toMatchObject({ ok: false, rowId: rows[1].id, field: 'key' });
    expect(!r.ok && r.error).toBe(
      'Header name "Bad Name" (row 2) has a space at position 4: names are letters, digits and !#$%&\'*+-.^_`|~.',
    );
    const v = headersFromRows(rowsFromHeaders([['X', 'a\r\nInjected: 1']]));
    expect(!v.ok && v.error).toBe('The value of X (row 1) has a control character (U+000D) at position 2: values are printable ASCII.');
    const u = headersFromRows(rowsFromHeaders([['X', 'café']]));
    expect(!u.ok && u.error).toBe('The value of X (row 1) has "é" at position 4: values are printable ASCII.');
    const k = headersFromRows(rowsFromHeaders([['', 'value']]));
    expect(!k.ok && k.error).toBe('Header 1 has a value but no name.');
  });
});
