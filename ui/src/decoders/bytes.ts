// Byte helpers shared by the decoders, the hex view and the copy formats. Pure: no DOM.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex pairs; `sep` between bytes (default none). */
export function toHex(bytes: Uint8Array, sep = ''): string {
  const parts = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = HEX[bytes[i]];
  return parts.join(sep);
}

export function hexByte(b: number): string {
  return HEX[b & 0xff];
}

/** Parses hex pairs, ignoring whitespace; null when not hex. */
export function fromHex(text: string): Uint8Array | null {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_REV = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  // URL-safe alphabet (RFC 4648 §5) decodes too.
  t['-'.charCodeAt(0)] = 62;
  t['_'.charCodeAt(0)] = 63;
  return t;
})();

/** Standard padded base64 (RFC 4648 §4). Works on any size (no spread of huge arrays). */
export function toBase64(bytes: Uint8Array): string {
  const out: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    chunk +=
      B64[(n >> 18) & 63] +
      B64[(n >> 12) & 63] +
      (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') +
      (i + 2 < bytes.length ? B64[n & 63] : '=');
    if (chunk.length >= 8192) {
      out.push(chunk);
      chunk = '';
    }
  }
  out.push(chunk);
  return out.join('');
}

/**
 * Decodes base64 (standard or URL-safe, padding optional); null when the text is not
 * base64 (bad characters, impossible length, padding in the middle, non-zero trailing bits).
 */
export function fromBase64(text: string): Uint8Array | null {
  let s = text.replace(/[\r\n]/g, '');
  let pad = 0;
  while (s.endsWith('=') && pad < 2) {
    s = s.slice(0, -1);
    pad++;
  }
  if (pad > 0 && (s.length + pad) % 4 !== 0) return null;
  if (s.length % 4 === 1) return null;
  const outLen = Math.floor((s.length * 3) / 4);
  const out = new Uint8Array(outLen);
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const v = code < 128 ? B64_REV[code] : -1;
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) return null; // leftover bits must be zero in canonical base64
  return out;
}

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8', { fatal: false });

/** The bytes as UTF-8 text, or null when they are not valid UTF-8. */
export function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return strict.decode(bytes);
  } catch {
    return null;
  }
}

/** The bytes as UTF-8 text, invalid sequences replaced by U+FFFD. */
export function utf8Lossy(bytes: Uint8Array): string {
  return lenient.decode(bytes);
}

/** Share of characters that are printable (letters, digits, punctuation, whitespace). */
export function printableRatio(text: string, sample = 4096): number {
  const n = Math.min(text.length, sample);
  if (n === 0) return 1;
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127 && c !== 0xfffd)) ok++;
  }
  return ok / n;
}

export function isPrintableAscii(b: number): boolean {
  return b >= 0x20 && b < 0x7f;
}

/** What a selection of bytes is copied as. */
export type CopyFormat = 'hex' | 'base64' | 'c' | 'rust' | 'text';

/** The bytes in a copy format: hex pairs, base64, a C array or a Rust array/slice. */
export function formatCopy(bytes: Uint8Array, format: CopyFormat): string {
  switch (format) {
    case 'hex':
      return toHex(bytes, ' ');
    case 'base64':
      return toBase64(bytes);
    case 'text':
      return utf8Lossy(bytes);
    case 'c':
    case 'rust': {
      const lines: string[] = [];
      for (let i = 0; i < bytes.length; i += 12) {
        const row: string[] = [];
        for (let j = i; j < Math.min(i + 12, bytes.length); j++) row.push(`0x${HEX[bytes[j]]}`);
        lines.push(`    ${row.join(', ')},`);
      }
      const body = lines.length ? `\n${lines.join('\n')}\n` : '';
      return format === 'c'
        ? `unsigned char data[${bytes.length}] = {${body}};`
        : `let data: [u8; ${bytes.length}] = [${body}];`;
    }
  }
}
