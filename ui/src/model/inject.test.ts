import { describe, expect, it } from 'vitest';
import {
  buildInjectPayload,
  closePayload,
  CONTROL_MAX,
  describePosition,
  parseBase64,
  parseCloseCode,
  parseHex,
  pingPayload,
  toBase64,
  type InjectDraft,
} from './inject';

const bytes = (r: ReturnType<typeof parseHex>) => {
  if (!r.ok) throw new Error(`expected bytes, got: ${r.error}`);
  return Array.from(r.bytes);
};
const error = (r: { ok: boolean; error?: string }) => {
  if (r.ok) throw new Error('expected an error');
  return r.error;
};

describe('parseHex', () => {
  it('reads pairs of digits, any case, with spaces and newlines anywhere between groups', () => {
    expect(bytes(parseHex('48 65 6c 6C 6f'))).toEqual([0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    expect(bytes(parseHex('48656c\n6c6f'))).toEqual([0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    expect(bytes(parseHex('  00\tff \r\n 80  '))).toEqual([0x00, 0xff, 0x80]);
    expect(bytes(parseHex(''))).toEqual([]);
    expect(bytes(parseHex(' \n '))).toEqual([]);
  });

  it('names a bad character and where it is (1-based)', () => {
    expect(error(parseHex('48 6g'))).toBe('Not a hex digit: "g" at position 5');
    expect(error(parseHex('0x41'))).toBe('Not a hex digit: "x" at position 2');
    expect(error(parseHex('41\n42 4z'))).toBe('Not a hex digit: "z" at line 2, column 5');
    expect(error(parseHex('41 é1'))).toBe('Not a hex digit: "é" at position 4');
    // Astral characters count as one position, and control characters are spelled out.
    expect(error(parseHex('😀 4'))).toBe('Not a hex digit: "😀" at position 1');
    expect(error(parseHex('41 42 🙂 zz'))).toContain('at position 7');
    expect(error(parseHex('41\u000042'))).toBe('Not a hex digit: U+0000 at position 3');
  });

  it('rejects a group with an odd number of digits where it starts', () => {
    expect(error(parseHex('48 656 6c'))).toBe('Odd number of hex digits in "656" at position 4: a byte is two digits');
    expect(error(parseHex('4'))).toMatch(/^Odd number of hex digits in "4" at position 1/);
    expect(error(parseHex('00\n 123'))).toMatch(/at line 2, column 2/);
  });
});

describe('parseBase64 and toBase64', () => {
  it('decodes standard base64 with or without padding, whitespace ignored', () => {
    expect(bytes(parseBase64('SGVsbG8='))).toEqual([...new TextEncoder().encode('Hello')]);
    expect(bytes(parseBase64('SGVsbG8'))).toEqual([...new TextEncoder().encode('Hello')]);
    expect(bytes(parseBase64('SGVs\n bG8h'))).toEqual([...new TextEncoder().encode('Hello!')]);
    expect(bytes(parseBase64('AA=='))).toEqual([0]);
    expect(bytes(parseBase64(''))).toEqual([]);
  });

  it('accepts the URL-safe alphabet', () => {
    expect(bytes(parseBase64('-_8'))).toEqual([0xfb, 0xff]);
    expect(bytes(parseBase64('+/8='))).toEqual([0xfb, 0xff]);
  });

  it('names a bad character and where it is', () => {
    expect(error(parseBase64('SGVs*G8='))).toBe('Not a base64 character: "*" at position 5');
    expect(error(parseBase64('SGVs\nbG.8'))).toBe('Not a base64 character: "." at line 2, column 3');
  });

  it('rejects misplaced or wrong padding and a lone trailing character', () => {
    expect(error(parseBase64('SG=Vs'))).toBe('Base64 padding "=" inside the data at position 3: "=" only ends it');
    expect(error(parseBase64('SGVsb'))).toMatch(/cut short: 5 characters/);
    expect(parseBase64('SGV=').ok).toBe(true);
    expect(error(parseBase64('SG='))).toMatch(/Wrong base64 padding at position 3/);
    expect(error(parseBase64('SGVsbG8h=='))).toMatch(/Wrong base64 padding/);
  });

  it('encodes standard padded base64 (what inject_frame takes), and round-trips', () => {
    expect(toBase64(new Uint8Array([]))).toBe('');
    expect(toBase64(new Uint8Array([0]))).toBe('AA==');
    expect(toBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8=');
    expect(toBase64(new TextEncoder().encode('Hello'))).toBe('SGVsbG8=');
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (let n = 0; n <= 256; n += 37) {
      const slice = all.subarray(0, n);
      const b64 = toBase64(slice);
      expect(b64).toBe(Buffer.from(slice).toString('base64'));
      expect(bytes(parseBase64(b64))).toEqual(Array.from(slice));
    }
  });
});

describe('close payloads', () => {
  it('is the 2-byte big-endian code, then the UTF-8 reason', () => {
    expect(bytes(closePayload(1000, ''))).toEqual([0x03, 0xe8]);
    expect(bytes(closePayload(4001, 'bye'))).toEqual([0x0f, 0xa1, 0x62, 0x79, 0x65]);
    expect(bytes(closePayload(1001, 'é'))).toEqual([0x03, 0xe9, 0xc3, 0xa9]);
  });

  it('fits code and reason in 125 bytes: the reason gets 123', () => {
    expect(closePayload(1000, 'x'.repeat(123)).ok).toBe(true);
    expect(error(closePayload(1000, 'x'.repeat(124)))).toBe(
      'The close reason is 124 bytes: code and reason fit in 125 bytes, so at most 123',
    );
    // Counted in UTF-8 bytes, not characters: 62 × "é" = 124 bytes.
    expect(error(closePayload(1000, 'é'.repeat(62)))).toMatch(/is 124 bytes/);
  });

  it('validates the code input: an integer in 1000–4999', () => {
    expect(parseCloseCode(' 1000 ')).toEqual({ ok: true, code: 1000 });
    expect(parseCloseCode('4999')).toEqual({ ok: true, code: 4999 });
    expect(error(parseCloseCode('999'))).toBe('Close code 999 is out of range: use 1000–4999');
    expect(error(parseCloseCode('5000'))).toBe('Close code 5000 is out of range: use 1000–4999');
    expect(error(parseCloseCode(''))).toBe('Enter a close code (1000–4999)');
    expect(error(parseCloseCode('10a0'))).toMatch(/is a number/);
    expect(error(parseCloseCode('1000.5'))).toMatch(/is a number/);
    expect(error(closePayload(70000, ''))).toMatch(/out of range/);
  });
});

describe('ping payloads', () => {
  it('are the UTF-8 text, at most 125 bytes', () => {
    expect(bytes(pingPayload('hb'))).toEqual([0x68, 0x62]);
    expect(pingPayload('').ok).toBe(true);
    expect(pingPayload('p'.repeat(CONTROL_MAX)).ok).toBe(true);
    expect(error(pingPayload('p'.repeat(126)))).toBe('A ping carries at most 125 bytes; this one is 126');
    expect(error(pingPayload('€'.repeat(42)))).toMatch(/this one is 126/);
  });
});

describe('buildInjectPayload', () => {
  const draft = (p: Partial<InjectDraft>): InjectDraft => ({
    kind: 'text',
    text: '',
    encoding: 'hex',
    closeCode: '1000',
    closeReason: '',
    ...p,
  });

  it('maps each kind to its opcode and a standard base64 payload', () => {
    expect(buildInjectPayload(draft({ kind: 'binary', text: 'de ad be ef' }))).toMatchObject({
      ok: true,
      opcode: 'binary',
      payloadBase64: '3q2+7w==',
      limit: null,
    });
    expect(buildInjectPayload(draft({ kind: 'binary', encoding: 'base64', text: '3q2-7w' }))).toMatchObject({
      ok: true,
      opcode: 'binary',
      payloadBase64: '3q2+7w==',
    });
    expect(buildInjectPayload(draft({ kind: 'ping', text: 'hb-1' }))).toMatchObject({
      ok: true,
      opcode: 'ping',
      payloadBase64: 'aGItMQ==',
      limit: 125,
    });
    expect(buildInjectPayload(draft({ kind: 'close', closeCode: '4001', closeReason: 'bye' }))).toMatchObject({
      ok: true,
      opcode: 'close',
      payloadBase64: 'D6FieWU=',
      limit: 125,
    });
    expect(buildInjectPayload(draft({ kind: 'text', text: 'hi' }))).toMatchObject({ ok: true, opcode: 'text', payloadBase64: 'aGk=' });
  });

  it('reports the first problem of the draft', () => {
    expect(buildInjectPayload(draft({ kind: 'binary', text: 'zz' }))).toEqual({
      ok: false,
      error: 'Not a hex digit: "z" at position 1',
      limit: null,
    });
    // The same text is fine as base64.
    expect(buildInjectPayload(draft({ kind: 'binary', encoding: 'base64', text: 'zz' })).ok).toBe(true);
    expect(buildInjectPayload(draft({ kind: 'ping', text: 'x'.repeat(200) }))).toMatchObject({ ok: false, limit: 125 });
    expect(buildInjectPayload(draft({ kind: 'close', closeCode: '80' }))).toMatchObject({
      ok: false,
      error: 'Close code 80 is out of range: use 1000–4999',
    });
    expect(buildInjectPayload(draft({ kind: 'close', closeReason: 'r'.repeat(124) })).ok).toBe(false);
  });
});

describe('describePosition', () => {
  it('counts code points, and lines and columns in multi-line text', () => {
    expect(describePosition('abc', 0)).toBe('position 1');
    expect(describePosition('a😀c', 3)).toBe('position 3');
    expect(describePosition('ab\ncd', 4)).toBe('line 2, column 2');
    expect(describePosition('ab\n', 2)).toBe('line 1, column 3');
  });
});
