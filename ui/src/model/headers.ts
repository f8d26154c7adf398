// The replay's editable handshake headers: rows with stable ids (for keyed lists and
// focus), and the checks the engine applies (an HTTP token name, a visible-ASCII value).
// Unit-tested in headers.test.ts.

export interface HeaderRow {
  id: number;
  key: string;
  value: string;
}

let nextId = 1;

function row(key: string, value: string): HeaderRow {
  return { id: nextId++, key, value };
}

export function rowsFromHeaders(headers: readonly (readonly [string, string])[]): HeaderRow[] {
  return headers.map(([k, v]) => row(k, v));
}

/** Adds an empty row at the end. */
export function addRow(rows: readonly HeaderRow[], key = '', value = ''): HeaderRow[] {
  return rows.concat(row(key, value));
}

export function removeRow(rows: readonly HeaderRow[], id: number): HeaderRow[] {
  return rows.filter((r) => r.id !== id);
}

export function updateRow(rows: readonly HeaderRow[], id: number, patch: Partial<Omit<HeaderRow, 'id'>>): HeaderRow[] {
  return rows.map((r) => (r.id === id ? { ...r, ...patch } : r));
}

/** RFC 9110 token characters. */
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

export type HeadersResult =
  | { ok: true; headers: [string, string][] }
  | { ok: false; error: string; rowId: number; field: 'key' | 'value' };

/**
 * The headers to send, in order (duplicates kept). Rows with neither a name nor a value
 * are left out; anything else must be a valid header: the first problem is named with its
 * row number and character.
 */
export function headersFromRows(rows: readonly HeaderRow[]): HeadersResult {
  const out: [string, string][] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const key = r.key.trim();
    const n = i + 1;
    if (!key && !r.value.trim()) continue;
    if (!key) return { ok: false, error: `Header ${n} has a value but no name.`, rowId: r.id, field: 'key' };
    for (const [pos, ch] of Array.from(key).entries()) {
      if (!TCHAR.test(ch)) {
        return {
          ok: false,
          error: `Header name "${key}" (row ${n}) has ${describeChar(ch)} at position ${pos + 1}: names are letters, digits and !#$%&'*+-.^_\`|~.`,
          rowId: r.id,
          field: 'key',
        };
      }
    }
    for (const [pos, ch] of Array.from(r.value).entries()) {
      const c = ch.codePointAt(0) ?? 0;
      if (!(c === 9 || (c >= 0x20 && c < 0x7f))) {
        return {
          ok: false,
          error: `The value of ${key} (row ${n}) has ${describeChar(ch)} at position ${pos + 1}: values are printable ASCII.`,
          rowId: r.id,
          field: 'value',
        };
      }
    }
    out.push([key, r.value]);
  }
  return { ok: true, headers: out };
}

function describeChar(ch: string): string {
  const c = ch.codePointAt(0) ?? 0;
  if (ch === ' ') return 'a space';
  if (c < 0x20 || c === 0x7f) return `a control character (U+${c.toString(16).toUpperCase().padStart(4, '0')})`;
  return `"${ch}"`;
}
