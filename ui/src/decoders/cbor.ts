// CBOR (RFC 8949) via cbor2.
import { decode as cborDecode, Tag } from 'cbor2';
import { toJsonSafe } from './json';
import { shape } from './msgpack';
import { DecodeError, type Decoded, type Decoder } from './types';

function decodeAll(bytes: Uint8Array): unknown {
  // cbor2 throws on trailing bytes ("Unexpected data"), on truncation and on bad encodings.
  return cborDecode(bytes, { rejectDuplicateKeys: false, preferMap: true });
}

function normalise(v: unknown): unknown {
  if (v instanceof Tag) return { $tag: Number(v.tag), value: normalise(v.contents) };
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [normalise(k), normalise(x)]));
  return v;
}

export const cbor: Decoder = {
  id: 'cbor',
  label: 'CBOR',
  sniff(bytes, ctx) {
    if (bytes.length < 1) return 0;
    if (ctx.text !== null && ctx.opcode !== 'binary') return 0;
    // Self-described CBOR (tag 55799, RFC 8949 §3.4.6).
    const selfDescribed = bytes.length >= 3 && bytes[0] === 0xd9 && bytes[1] === 0xd9 && bytes[2] === 0xf7;
    try {
      decodeAll(bytes);
    } catch {
      return 0;
    }
    if (selfDescribed) return 1;
    const major = bytes[0] >> 5;
    // Maps (5) and arrays (4) are what protocols send; a lone number or string is weak evidence.
    if (major === 5) return 0.75;
    if (major === 4) return 0.7;
    if (major === 6) return 0.5;
    return 0.2;
  },
  decode(bytes): Decoded {
    let v: unknown;
    try {
      v = decodeAll(bytes);
    } catch (e) {
      throw new DecodeError(`not CBOR: ${(e as Error).message}`);
    }
    const value = toJsonSafe(normalise(v));
    return { decoder: 'cbor', summary: `CBOR ${shape(value)}`, value };
  },
};
