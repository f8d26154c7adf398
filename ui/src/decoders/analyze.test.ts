import { describe, expect, it } from 'vitest';
import { analyze, lineStarts } from './analyze';
import { formatCopy, fromBase64, toBase64, toHex } from './bytes';
import { childPath, locateJsonError, parseJson, toJsonSafe } from './json';
import { ancestorPaths, findInTree, flatten, pathOf } from './tree';
import { findAll, highlightParts, rowOf, rowText, textRows } from './textRows';

const enc = new TextEncoder();

describe('JSON errors say where', () => {
  it('line, column and reason', () => {
    const r = parseJson('{\n  "a": 1,\n  "b": [1, 2,, 3]\n}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ line: 3, column: 14, offset: 25 });
    expect(locateJsonError('{"a":1}')).toBeNull();
    expect(locateJsonError('[1,[2,{"x":[true,false,null,-1.5e3]}]]')).toBeNull();
    expect(locateJsonError('{"a":1')?.message).toBe('unexpected end of input');
    expect(locateJsonError('{"a" 1}')?.message).toBe("expected ':'");
    expect(locateJsonError('{"a":1} x')).toMatchObject({ column: 9, message: 'unexpected data after the JSON value' });
    expect(locateJsonError("{'a':1}")).toMatchObject({ column: 2, message: 'expected a string key' });
    expect(locateJsonError('[01]')).toMatchObject({ column: 3 });
    expect(locateJsonError('"a\tb"')?.message).toMatch(/control character/);
    expect(locateJsonError('[1,]')).toMatchObject({ column: 4 });
    expect(locateJsonError('{"a":tru}')).toMatchObject({ column: 6 });
  });
  it('deep nesting does not overflow the stack', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(199_999);
    expect(locateJsonError(deep)?.message).toBe('unexpected end of input');
  });
});

describe('JSON paths and the tree', () => {
  const value = { data: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: 4.5, 'odd key': true }], n: null };
  it('paths like $.data[3].price', () => {
    expect(childPath(childPath(childPath('$', 'data'), 3), 'price')).toBe('$.data[3].price');
    expect(childPath('$', 'odd key')).toBe('$["odd key"]');
    expect(pathOf(['data', 3, 'odd key'])).toBe('$.data[3]["odd key"]');
  });
  it('flattens what is expanded', () => {
    let rows = flatten(value, { mode: 'default', toggled: new Set() });
    expect(rows.map((r) => r.path)).toEqual(['$', '$.data', '$.n']);
    expect(rows[1]).toMatchObject({ kind: 'array', count: 4, expanded: false });
    rows = flatten(value, { mode: 'default', toggled: new Set(['$.data', '$.data[3]']) });
    expect(rows.map((r) => r.path)).toContain('$.data[3].price');
    expect(rows.find((r) => r.path === '$.data[3].price')?.preview).toBe('4.5');
    rows = flatten(value, { mode: 'all', toggled: new Set() });
    expect(rows).toHaveLength(1 + 1 + 4 + 5 + 1);
    rows = flatten(value, { mode: 'none', toggled: new Set() });
    expect(rows).toHaveLength(1);
  });
  it('finds keys and values, and the ancestors to open', () => {
    const hits = findInTree(value, 'PRICE');
    expect(hits.map(pathOf)).toEqual(['$.data[0].price', '$.data[1].price', '$.data[2].price', '$.data[3].price']);
    expect(findInTree(value, '4.5').map(pathOf)).toEqual(['$.data[3].price']);
    expect(ancestorPaths(['data', 3, 'price'])).toEqual(['$', '$.data', '$.data[3]']);
  });
  it('decoded values become plain JSON', () => {
    expect(toJsonSafe(new Map<unknown, unknown>([[1, new Uint8Array([1, 255])], ['k', 2n ** 70n]]))).toEqual({
      '1': { $bytes: '01ff', length: 2 },
      k: '1180591620717411303424',
    });
  });
});

describe('bytes and copy formats', () => {
  const b = new Uint8Array([0, 1, 0x7f, 0x80, 0xff]);
  it('hex, base64 (RFC 4648 vectors), C and Rust arrays', () => {
    expect(formatCopy(b, 'hex')).toBe('00 01 7f 80 ff');
    for (const [plain, b64] of [['', ''], ['f', 'Zg=='], ['fo', 'Zm8='], ['foo', 'Zm9v'], ['foob', 'Zm9vYg=='], ['fooba', 'Zm9vYmE='], ['foobar', 'Zm9vYmFy']]) {
      expect(toBase64(enc.encode(plain))).toBe(b64);
      expect(fromBase64(b64)).toEqual(enc.encode(plain));
    }
    expect(formatCopy(b, 'c')).toBe('unsigned char data[5] = {\n    0x00, 0x01, 0x7f, 0x80, 0xff,\n};');
    expect(formatCopy(b, 'rust')).toBe('let data: [u8; 5] = [\n    0x00, 0x01, 0x7f, 0x80, 0xff,\n];');
    expect(toHex(new Uint8Array(0))).toBe('');
    const big = new Uint8Array(30_000).map((_, i) => i);
    expect(fromBase64(toBase64(big))).toEqual(big);
  });
});

describe('text rows', () => {
  it('lines, wrapping and cutting long rows', () => {
    const text = 'ab\r\ncdefgh\n\nij';
    const ls = lineStarts(text);
    expect([...ls]).toEqual([0, 4, 11, 12]);
    const nowrap = textRows(text, ls, null);
    expect([...nowrap.lines]).toEqual([1, 2, 3, 4]);
    expect([0, 1, 2, 3].map((i) => rowText(text, nowrap, i))).toEqual(['ab', 'cdefgh', '', 'ij']);
    const t2 = 'x'.repeat(20) + '\nyy';
    const wrapped = textRows(t2, lineStarts(t2), 8);
    expect([...wrapped.lines]).toEqual([1, 0, 0, 2]);
    expect([0, 1, 2, 3].map((i) => rowText(t2, wrapped, i))).toEqual(['xxxxxxxx', 'xxxxxxxx', 'xxxx', 'yy']);
    expect(rowOf(wrapped, 17)).toBe(2);
    expect(rowOf(wrapped, 21)).toBe(3);
  });
  it('a 10 MB single line becomes short rows quickly', () => {
    const big = 'a'.repeat(10 * 1024 * 1024);
    const rows = textRows(big, lineStarts(big), 100);
    expect(rows.starts.length).toBe(Math.ceil(big.length / 100));
    expect(rowText(big, rows, rows.starts.length - 1).length).toBe(big.length % 100 || 100);
  });
  it('find and highlight', () => {
    const text = 'Price price PRICE';
    const m = findAll(text, 'price');
    expect(m).toEqual([0, 6, 12]);
    expect(findAll(text, 'price', true)).toEqual([6]);
    expect(highlightParts(4, text.slice(4, 10), m, 5, 1)).toEqual([
      { text: 'e', hit: true, current: false },
      { text: ' ', hit: false, current: false },
      { text: 'pric', hit: true, current: true },
    ]);
  });
});

describe('analyze', () => {
  it('JSON, invalid JSON, binary and decoders', () => {
    const a = analyze(enc.encode('{"a":[1,2]}'), { opcode: 'text', decoder: 'auto' });
    expect(a.json).toMatchObject({ ok: true, value: { a: [1, 2] } });
    expect(a.decoded).toBeNull();
    const bad = analyze(enc.encode('{"a":[1,2}'), { opcode: 'text', decoder: 'auto' });
    expect(bad.json).toMatchObject({ ok: false, error: { line: 1, column: 10 } });
    const io = analyze(enc.encode('42["chat","hi"]'), { opcode: 'text', decoder: 'auto' });
    expect(io.decoded).toMatchObject({ ok: true, decoder: 'socketio', summary: 'Socket.IO EVENT "chat"' });
    const none = analyze(enc.encode('42["chat","hi"]'), { opcode: 'text', decoder: 'none' });
    expect(none.decoded).toBeNull();
    const forced = analyze(enc.encode('hello'), { opcode: 'text', decoder: 'cbor' });
    expect(forced.decoded).toMatchObject({ ok: false, decoder: 'cbor' });
    const binary = analyze(new Uint8Array([0x68, 0x69, 0xff, 0xfe]), { opcode: 'binary', decoder: 'auto' });
    expect(binary).toMatchObject({ utf8: false, readable: false, json: null, text: 'hi\ufffd\ufffd' });
  });
});
