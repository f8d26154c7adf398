import { describe, expect, it } from 'vitest';
import { closeMeaning, frameFields, headerBytes, layout, wirePayloadHead } from './anatomy';

// RFC 6455 §5.7: a single-frame masked text message "Hello":
// 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58
const hello = {
  fin: true,
  rsv1: false,
  rsv2: false,
  rsv3: false,
  opcode_value: 1,
  masked: true,
  mask_key: '37fa213d',
  len: 5,
  head: [...new TextEncoder().encode('Hello')],
};

describe('frame anatomy', () => {
  it('the RFC 6455 §5.7 masked "Hello" example', () => {
    expect(headerBytes(hello)).toEqual([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
    expect(wirePayloadHead(hello)).toEqual([0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    const f = frameFields(hello);
    expect(f.map((x) => [x.key, x.value])).toEqual([
      ['fin', '1'],
      ['rsv1', '0'],
      ['rsv2', '0'],
      ['rsv3', '0'],
      ['opcode', '0001'],
      ['mask', '1'],
      ['len7', '0000101'],
      ['maskkey', '00110111111110100010000100111101'],
    ]);
    const rows = layout(f, '5 bytes');
    // Row 1: 16 bits of header, then the first half of the masking key; row 2: its second half, then payload.
    expect(rows[0].map((c) => [c.field.key, c.span])).toEqual([
      ['fin', 1], ['rsv1', 1], ['rsv2', 1], ['rsv3', 1], ['opcode', 4], ['mask', 1], ['len7', 7], ['maskkey', 16],
    ]);
    expect(rows[1].map((c) => [c.field.key, c.span, c.cont])).toEqual([
      ['maskkey', 16, true],
      ['payload', 16, false],
    ]);
  });
  it('16- and 64-bit lengths (RFC 6455 §5.7: 256 bytes and 64 KiB unmasked binary)', () => {
    const f256 = { ...hello, opcode_value: 2, masked: false, mask_key: null, len: 256, head: [] };
    expect(headerBytes(f256)).toEqual([0x82, 0x7e, 0x01, 0x00]);
    expect(frameFields(f256).find((x) => x.key === 'len7')?.note).toBe('126: 16-bit length follows');
    const f64k = { ...f256, len: 65536 };
    expect(headerBytes(f64k)).toEqual([0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    const rows = layout(frameFields(f64k), '');
    expect(rows.map((r) => r.reduce((n, c) => n + c.span, 0))).toEqual([32, 32, 32]);
  });
  it('an unknown masking key is shown as unknown; close codes have their RFC meaning', () => {
    const f = { ...hello, mask_key: null };
    expect(headerBytes(f).slice(2)).toEqual([null, null, null, null]);
    expect(wirePayloadHead(f)).toEqual([null, null, null, null, null]);
    expect(closeMeaning(1000)).toMatch(/^Normal Closure/);
    expect(closeMeaning(1006)).toMatch(/must not be sent/);
    expect(closeMeaning(4001)).toMatch(/private use/);
    expect(closeMeaning(3000)).toMatch(/IANA/);
    expect(closeMeaning(2000)).toMatch(/reserved/);
  });
});
