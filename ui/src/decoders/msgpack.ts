// MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md) via @msgpack/msgpack.
import { decode as mpDecode, ExtensionCodec } from '@msgpack/msgpack';
import { toJsonSafe } from './json';
import { toHex } from './bytes';
import { DecodeError, type Decoded, type Decoder } from './types';

// Unknown extension types (and the timestamp type -1, decoded by the library) become
// {"$ext": type, "data": hex} instead of opaque objects.
const extensionCodec = new ExtensionCodec();

function decodeAll(bytes: Uint8Array): unknown {
  return mpDecode(bytes, {
    extensionCodec,
    useBigInt64: true,
    maxStrLength: 64 * 1024 * 1024,
    maxBinLength: 64 * 1024 * 1024,
    maxArrayLength: 16 * 1024 * 1024,
    maxMapLength: 16 * 1024 * 1024,
    maxExtLength: 64 * 1024 * 1024,
  });
}

function normalise(v: unknown): unknown {
  // ExtData instances: { type, data }
  if (v && typeof v === 'object' && v.constructor?.name === 'ExtData') {
    const e = v as { type: number; data: Uint8Array };
    return { $ext: e.type, data: toHex(e.data) };
  }
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, normalise(x)]));
  if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = normalise((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

/** First byte is a map or an array (the shapes real protocols send). */
function isContainerStart(b: number): boolean {
  return (b >= 0x80 && b <= 0x9f) || b === 0xdc || b === 0xdd || b === 0xde || b === 0xdf;
}

export const msgpack: Decoder = {
  id: 'msgpack',
  label: 'MessagePack',
  sniff(bytes, ctx) {
    if (bytes.length < 1) return 0;
    // JSON text and most plain text start with bytes that are also fixstr/fixint: only
    // binary frames, or text that is not valid UTF-8, are candidates.
    if (ctx.text !== null && ctx.opcode !== 'binary') return 0;
    const first = bytes[0];
    try {
      decodeAll(bytes);
    } catch {
      return 0;
    }
    if (isContainerStart(first)) return bytes.length >= 2 ? 0.8 : 0.3;
    return 0.25;
  },
  decode(bytes): Decoded {
    let v: unknown;
    try {
      v = decodeAll(bytes);
    } catch (e) {
      throw new DecodeError(`not MessagePack: ${(e as Error).message}`);
    }
    const value = toJsonSafe(normalise(v));
    return { decoder: 'msgpack', summary: `MessagePack ${shape(value)}`, value };
  },
};

export function shape(v: unknown): string {
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (v && typeof v === 'object') return `map of ${Object.keys(v).length}`;
  return v === null ? 'nil' : typeof v;
}
