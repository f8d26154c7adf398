// The decoder registry: sniffing picks one automatically; the user can switch per connection.
import { cbor } from './cbor';
import { fromBase64, printableRatio, toHex, utf8OrNull } from './bytes';
import { graphql } from './graphql';
import { parseJson, toJsonSafe } from './json';
import { msgpack } from './msgpack';
import { sockjs } from './sockjs';
import { socketio } from './socketio';
import { stomp } from './stomp';
import { DecodeError, type Decoded, type Decoder, type DecoderId, type SniffContext } from './types';

export type { Decoded, Decoder, DecoderId, SniffContext } from './types';
export { DecodeError } from './types';

/** A sniffer's score needs at least this to be chosen automatically. */
export const AUTO_THRESHOLD = 0.5;

const B64_STD = /^[A-Za-z0-9+/]+={0,2}$/;
const B64_URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** What the inner bytes of a base64 payload are. */
function inner(bytes: Uint8Array, depth: number): { kind: string; value: unknown; score: number } {
  const text = utf8OrNull(bytes);
  if (text !== null && printableRatio(text) > 0.95) {
    const j = /^\s*[[{"]/.test(text) ? parseJson(text) : null;
    if (j?.ok) return { kind: 'JSON', value: toJsonSafe(j.value), score: 0.8 };
    return { kind: 'text', value: text, score: 0.7 };
  }
  if (depth < 2) {
    const ctx: SniffContext = { text, opcode: 'binary' };
    for (const d of [msgpack, cbor]) {
      if (d.sniff(bytes, ctx) >= AUTO_THRESHOLD) {
        try {
          return { kind: d.label, value: d.decode(bytes, ctx).value, score: 0.75 };
        } catch {
          /* fall through */
        }
      }
    }
  }
  return { kind: 'bytes', value: { $bytes: toHex(bytes), length: bytes.length }, score: bytes.length >= 12 ? 0.55 : 0.3 };
}

export const base64: Decoder = {
  id: 'base64',
  label: 'Base64',
  sniff(bytes, ctx) {
    const t = ctx.text?.trim();
    if (!t || t.length < 8 || t.length > 96 * 1024 * 1024) return 0;
    if (!B64_STD.test(t) && !B64_URL.test(t)) return 0;
    // Numbers, hex strings and single words are valid base64 alphabets but are not base64.
    if (/^[0-9]+$/.test(t) || /^[0-9a-fA-F]+$/.test(t) || /^[A-Za-z]+$/.test(t)) return 0;
    const decoded = fromBase64(t);
    if (!decoded || decoded.length === 0) return 0;
    return inner(decoded, 1).score;
  },
  decode(bytes, ctx): Decoded {
    const t = ctx.text?.trim() ?? '';
    const decoded = fromBase64(t);
    if (!decoded) throw new DecodeError('not base64');
    const what = inner(decoded, 1);
    const encoding = B64_STD.test(t) && !/[-_]/.test(t) ? 'standard' : 'url-safe';
    return {
      decoder: 'base64',
      summary: `Base64 (${encoding}) → ${decoded.length} B of ${what.kind}`,
      value: { encoding, bytes: decoded.length, contains: what.kind, decoded: what.value },
    };
  },
};

export const DECODERS: readonly Decoder[] = [msgpack, cbor, socketio, stomp, sockjs, graphql, base64];

export function decoderById(id: DecoderId): Decoder {
  const d = DECODERS.find((x) => x.id === id);
  if (!d) throw new DecodeError(`unknown decoder ${id}`);
  return d;
}

export interface Sniffed {
  id: DecoderId;
  score: number;
}

/** Every decoder's confidence, best first (zero scores left out). Never throws. */
export function sniffAll(bytes: Uint8Array, ctx: SniffContext): Sniffed[] {
  const out: Sniffed[] = [];
  for (const d of DECODERS) {
    let score = 0;
    try {
      score = d.sniff(bytes, ctx);
    } catch {
      score = 0;
    }
    if (score > 0) out.push({ id: d.id, score });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** The decoder to use automatically, or null when none is confident enough. */
export function sniff(bytes: Uint8Array, ctx: SniffContext): DecoderId | null {
  const best = sniffAll(bytes, ctx)[0];
  return best && best.score >= AUTO_THRESHOLD ? best.id : null;
}

/** Decodes with one decoder; throws DecodeError with a readable reason. */
export function decodeWith(id: DecoderId, bytes: Uint8Array, ctx: SniffContext): Decoded {
  try {
    return decoderById(id).decode(bytes, ctx);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError(String((e as Error)?.message ?? e));
  }
}
