// Payloads of injected frames (inject_frame): parsing the composer's hex or base64,
// ping payloads and close payloads, with the size limits of RFC 6455. Pure TS: no DOM,
// no Svelte; unit-tested in inject.test.ts.
import type { InjectOpcode } from '../ipc/types';

/** What the composer injects in a proxy session. */
export type InjectKind = 'text' | 'binary' | 'ping' | 'close';
/** How the composer's text spells a binary payload. */
export type BinaryEncoding = 'hex' | 'base64';

/** Control frames (ping, pong, close) carry at most this many payload bytes. */
export const CONTROL_MAX = 125;
/** A close payload is the 2-byte code, then the reason: the reason gets the rest. */
export const CLOSE_REASON_MAX = CONTROL_MAX - 2;
export const CLOSE_CODE_MIN = 1000;
export const CLOSE_CODE_MAX = 4999;
export const DEFAULT_CLOSE_CODE = 1000;

export type Parsed = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

const enc = new TextEncoder();

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
}

/** A character as the error text shows it: printable ones quoted, others by code point. */
function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0)) {
    return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return `"${ch}"`;
}

/**
 * Where a character sits, 1-based and counted in characters (code points): "position 7",
 * or "line 2, column 3" when the text has several lines.
 */
export function describePosition(text: string, index: number): string {
  const before = Array.from(text.slice(0, index));
  const position = before.length + 1;
  if (!text.includes('\n')) return `position ${position}`;
  let line = 1;
  let column = 1;
  for (const ch of before) {
    if (ch === '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  return `line ${line}, column ${column}`;
}

/**
 * Hex bytes: pairs of hex digits; whitespace (spaces, tabs, newlines) separates groups
 * and is ignored, e.g. "48 65 6c6c 6f" or one byte a line. Every group has an even number
 * of digits, so a lost digit is caught where it happened.
 */
export function parseHex(text: string): Parsed {
  const out: number[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (isSpace(ch)) {
      i++;
      continue;
    }
    const start = i;
    while (i < text.length && !isSpace(text[i])) {
      const c = text[i];
      if (!/[0-9a-fA-F]/.test(c)) {
        const full = String.fromCodePoint(text.codePointAt(i) ?? 0);
        return { ok: false, error: `Not a hex digit: ${describeChar(full)} at ${describePosition(text, i)}` };
      }
      i++;
    }
    const group = text.slice(start, i);
    if (group.length % 2 === 1) {
      const shown = group.length > 16 ? `${group.slice(0, 16)}…` : group;
      return {
        ok: false,
        error: `Odd number of hex digits in "${shown}" at ${describePosition(text, start)}: a byte is two digits`,
      };
    }
    for (let k = 0; k < group.length; k += 2) out.push(parseInt(group.slice(k, k + 2), 16));
  }
  return { ok: true, bytes: Uint8Array.from(out) };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE: Record<string, number> = {};
for (let k = 0; k < B64.length; k++) B64_VALUE[B64[k]] = k;
// The URL-safe alphabet is accepted too (it is what JWTs and many logs use).
B64_VALUE['-'] = 62;
B64_VALUE['_'] = 63;

/**
 * Base64 (standard or URL-safe alphabet), whitespace ignored, `=` padding optional but
 * only at the end. Errors name the offending character and where it is.
 */
export function parseBase64(text: string): Parsed {
  const values: number[] = [];
  let padAt = -1;
  let pads = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (isSpace(ch)) continue;
    if (ch === '=') {
      if (padAt < 0) padAt = i;
      pads++;
      continue;
    }
    const v = B64_VALUE[ch];
    if (v === undefined) {
      const full = String.fromCodePoint(text.codePointAt(i) ?? 0);
      return { ok: false, error: `Not a base64 character: ${describeChar(full)} at ${describePosition(text, i)}` };
    }
    if (padAt >= 0) {
      return { ok: false, error: `Base64 padding "=" inside the data at ${describePosition(text, padAt)}: "=" only ends it` };
    }
    values.push(v);
  }
  const rem = values.length % 4;
  if (rem === 1) {
    return {
      ok: false,
      error: `Base64 is cut short: ${values.length} characters leave a lone one at the end (a byte needs at least two)`,
    };
  }
  if (pads > 0 && (pads > 2 || (values.length + pads) % 4 !== 0)) {
    return { ok: false, error: `Wrong base64 padding at ${describePosition(text, padAt)}: ${pads} "=" after ${values.length} characters` };
  }
  const out = new Uint8Array(Math.floor((values.length * 3) / 4));
  let o = 0;
  for (let k = 0; k + 1 < values.length; k += 4) {
    const a = values[k];
    const b = values[k + 1];
    const c = values[k + 2];
    const d = values[k + 3];
    out[o++] = (a << 2) | (b >> 4);
    if (c !== undefined) out[o++] = ((b & 15) << 4) | (c >> 2);
    if (d !== undefined) out[o++] = ((c & 3) << 6) | d;
  }
  return { ok: true, bytes: out };
}

/** Standard base64 with padding: what inject_frame's `payloadBase64` takes. */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += `${B64[n >> 18]}${B64[(n >> 12) & 63]}==`;
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += `${B64[n >> 18]}${B64[(n >> 12) & 63]}${B64[(n >> 6) & 63]}=`;
  }
  return out;
}

export type CloseCode = { ok: true; code: number } | { ok: false; error: string };

/** The close code input: an integer in 1000–4999. */
export function parseCloseCode(raw: string): CloseCode {
  const t = raw.trim();
  if (!t) return { ok: false, error: `Enter a close code (${CLOSE_CODE_MIN}–${CLOSE_CODE_MAX})` };
  if (!/^\d+$/.test(t)) return { ok: false, error: `The close code is a number (${CLOSE_CODE_MIN}–${CLOSE_CODE_MAX}), not "${t}"` };
  const code = Number(t);
  if (code < CLOSE_CODE_MIN || code > CLOSE_CODE_MAX) {
    return { ok: false, error: `Close code ${t} is out of range: use ${CLOSE_CODE_MIN}–${CLOSE_CODE_MAX}` };
  }
  return { ok: true, code };
}

/** A close payload: the code as two big-endian bytes, then the UTF-8 reason (≤ 125 bytes in all). */
export function closePayload(code: number, reason: string): Parsed {
  if (!Number.isInteger(code) || code < CLOSE_CODE_MIN || code > CLOSE_CODE_MAX) {
    return { ok: false, error: `Close code ${code} is out of range: use ${CLOSE_CODE_MIN}–${CLOSE_CODE_MAX}` };
  }
  const r = enc.encode(reason);
  if (r.length > CLOSE_REASON_MAX) {
    return {
      ok: false,
      error: `The close reason is ${r.length} bytes: code and reason fit in ${CONTROL_MAX} bytes, so at most ${CLOSE_REASON_MAX}`,
    };
  }
  const out = new Uint8Array(2 + r.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return { ok: true, bytes: out };
}

/** A ping payload: the UTF-8 text, at most 125 bytes. */
export function pingPayload(text: string): Parsed {
  const bytes = enc.encode(text);
  if (bytes.length > CONTROL_MAX) {
    return { ok: false, error: `A ping carries at most ${CONTROL_MAX} bytes; this one is ${bytes.length}` };
  }
  return { ok: true, bytes };
}

export interface InjectDraft {
  kind: InjectKind;
  /** The composer's text: the message (text), hex or base64 (binary), the payload (ping). */
  text: string;
  encoding: BinaryEncoding;
  /** The close code and reason inputs (close). */
  closeCode: string;
  closeReason: string;
}

export type InjectPayload =
  | { ok: true; opcode: InjectOpcode; bytes: Uint8Array; payloadBase64: string; limit: number | null }
  | { ok: false; error: string; limit: number | null };

/**
 * What the composer would inject for a draft: the opcode and the base64 payload of
 * inject_frame, or why it cannot be sent. `limit` is the payload's size limit (control
 * frames), for the size readout.
 */
export function buildInjectPayload(d: InjectDraft): InjectPayload {
  let parsed: Parsed;
  let limit: number | null = null;
  switch (d.kind) {
    case 'text':
      parsed = { ok: true, bytes: enc.encode(d.text) };
      break;
    case 'binary':
      parsed = d.encoding === 'hex' ? parseHex(d.text) : parseBase64(d.text);
      break;
    case 'ping':
      limit = CONTROL_MAX;
      parsed = pingPayload(d.text);
      break;
    case 'close': {
      limit = CONTROL_MAX;
      const code = parseCloseCode(d.closeCode);
      parsed = code.ok ? closePayload(code.code, d.closeReason) : code;
      break;
    }
  }
  if (!parsed.ok) return { ok: false, error: parsed.error, limit };
  return { ok: true, opcode: d.kind, bytes: parsed.bytes, payloadBase64: toBase64(parsed.bytes), limit };
}
