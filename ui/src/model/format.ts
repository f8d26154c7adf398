// Pure formatting helpers: no DOM, no Svelte, unit-tested in format.test.ts.
import type { ConnectionInfo, FrameSummary, Opcode } from '../ipc/types';

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** Human byte count: "0 B", "512 B", "1.5 KiB", "12 KiB", "3.2 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < UNITS.length - 1);
  // One decimal below 10 ("1.5 KiB"), none above ("12 KiB"); never print "10.0".
  const text = v < 9.95 ? v.toFixed(1) : Math.round(v).toString();
  return `${text.replace(/\.0$/, '')} ${UNITS[u]}`;
}

function pad(n: number, width = 2): string {
  return n.toString().padStart(width, '0');
}

/** Local wall-clock time "HH:MM:SS.mmm" of a unix-µs timestamp. */
export function formatClock(tsUs: number): string {
  if (!Number.isFinite(tsUs)) return '--:--:--.---';
  const ms = Math.floor(tsUs / 1000);
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time "YYYY-MM-DD HH:MM:SS" of a Date. */
export function formatDateTime(d: Date): string {
  if (Number.isNaN(d.getTime())) return '–';
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** Elapsed time, compact: "0s", "42s", "3m 05s", "1h 02m", "2d 03h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${pad(m % 60)}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${pad(h % 24)}h`;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", or a date for anything older than a week. */
export function formatRelative(then: Date, now: number): string {
  const t = then.getTime();
  if (Number.isNaN(t)) return '–';
  const diff = now - t;
  if (diff < 45_000) return 'just now';
  const min = Math.round(diff / 60_000);
  if (min < 60) return `${min} min ago`;
  const h = Math.round(diff / 3_600_000);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(diff / 86_400_000);
  if (d <= 7) return `${d} d ago`;
  return formatDateTime(then).slice(0, 10);
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

const OPCODE_LABEL: Record<Opcode, string> = {
  text: 'text',
  binary: 'binary',
  continuation: 'cont',
  ping: 'ping',
  pong: 'pong',
  close: 'close',
};

export function opcodeLabel(op: Opcode): string {
  return OPCODE_LABEL[op] ?? String(op);
}

export function isControl(op: Opcode): boolean {
  return op === 'ping' || op === 'pong' || op === 'close';
}

const CLOSE_NAMES: Record<number, string> = {
  1000: 'Normal Closure',
  1001: 'Going Away',
  1002: 'Protocol Error',
  1003: 'Unsupported Data',
  1005: 'No Status Received',
  1006: 'Abnormal Closure',
  1007: 'Invalid Payload Data',
  1008: 'Policy Violation',
  1009: 'Message Too Big',
  1010: 'Mandatory Extension',
  1011: 'Internal Error',
  1012: 'Service Restart',
  1013: 'Try Again Later',
  1014: 'Bad Gateway',
  1015: 'TLS Handshake',
};

export function closeCodeName(code: number | null | undefined): string {
  if (code == null) return '';
  if (CLOSE_NAMES[code]) return CLOSE_NAMES[code];
  if (code >= 3000 && code <= 3999) return 'Registered';
  if (code >= 4000 && code <= 4999) return 'Private use';
  return '';
}

/**
 * One line of text: a line break and the indentation around it become one space,
 * tabs become spaces, and other control characters are made visible.
 */
export function singleLine(text: string): string {
  return text
    .replace(/[ \t]*[\r\n][\s]*/g, ' ')
    .replace(/[\t\f\v]/g, ' ')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, '\u00b7');
}

/** The one-line preview of a timeline row; close frames read "1000 bye". */
export function framePreview(f: FrameSummary): string {
  if (f.opcode === 'close') {
    const parts: string[] = [];
    if (f.close_code != null) parts.push(String(f.close_code));
    if (f.close_reason) parts.push(singleLine(f.close_reason));
    return parts.length ? parts.join(' ') : '(no status code)';
  }
  return singleLine(f.preview);
}

export function dirArrow(dir: FrameSummary['dir']): string {
  return dir === 'client' ? '↑' : '↓';
}

export function dirLabel(dir: FrameSummary['dir']): string {
  return dir === 'client' ? 'sent' : 'received';
}

/**
 * One line for a connection's state, e.g. "Closed 1000 · bye · by server". `recorded`: the
 * connection comes from an imported file, so "open" means "still open when it was recorded"
 * (no running uptime: nothing here holds it).
 */
export function connectionStateText(c: ConnectionInfo, nowMs: number, recorded = false): string {
  if (recorded && (c.state === 'open' || c.state === 'connecting')) {
    return c.state === 'open' ? 'Open when recorded' : 'Connecting when recorded';
  }
  switch (c.state) {
    case 'connecting':
      return 'Connecting…';
    case 'open': {
      if (c.opened_at_us == null) return 'Open';
      return `Open · ${formatDuration(nowMs - c.opened_at_us / 1000)}`;
    }
    case 'closed': {
      const head = c.close_code != null ? `Closed ${c.close_code}` : 'Closed';
      const parts = [head];
      if (c.close_reason) parts.push(singleLine(c.close_reason));
      if (c.closed_by) parts.push(c.closed_by === 'error' ? 'on error' : `by ${c.closed_by}`);
      if (c.error) parts.push(singleLine(c.error));
      return parts.join(' · ');
    }
    case 'failed':
      return c.error ? `Failed · ${singleLine(c.error)}` : 'Failed';
    default:
      return String((c as { state: unknown }).state);
  }
}

function isPrintableAscii(b: number): boolean {
  return b >= 0x20 && b < 0x7f;
}

/**
 * Classic hex dump, 16 (or `perLine`) bytes a line, in groups of eight:
 * "00000000  48 65 6c 6c 6f 20 77 6f  72 6c 64 0a  |Hello world.|".
 * Only the first `maxBytes` bytes are dumped.
 */
export function hexDump(bytes: Uint8Array, maxBytes = 64 * 1024, perLine = 16): string {
  const n = Math.min(bytes.length, maxBytes);
  const width = Math.max(1, Math.floor(perLine));
  const lines: string[] = [];
  for (let off = 0; off < n; off += width) {
    let hex = '';
    let ascii = '';
    for (let i = 0; i < width; i++) {
      if (i > 0 && i % 8 === 0) hex += ' ';
      const idx = off + i;
      if (idx < n) {
        const b = bytes[idx];
        hex += b.toString(16).padStart(2, '0') + ' ';
        ascii += isPrintableAscii(b) ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}

export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export type PayloadView =
  | { mode: 'text'; text: string; truncated: boolean }
  | { mode: 'hex'; text: string; truncated: boolean }
  | { mode: 'empty' };

export const TEXT_LIMIT = 1024 * 1024;
export const HEX_LIMIT = 64 * 1024;

/**
 * How to show a payload: UTF-8 text for text (and valid UTF-8 control) frames,
 * a hex dump for binary frames or invalid UTF-8. `prefer` forces one mode.
 */
export function payloadView(
  bytes: Uint8Array,
  opcode: Opcode,
  prefer: 'auto' | 'text' | 'hex' = 'auto',
  hexPerLine = 16,
): PayloadView {
  if (bytes.length === 0) return { mode: 'empty' };
  let mode: 'text' | 'hex';
  if (prefer !== 'auto') mode = prefer;
  else if (opcode === 'binary') mode = 'hex';
  else mode = isValidUtf8(bytes) ? 'text' : 'hex';
  if (mode === 'hex') {
    return { mode, text: hexDump(bytes, HEX_LIMIT, hexPerLine), truncated: bytes.length > HEX_LIMIT };
  }
  const slice = bytes.length > TEXT_LIMIT ? bytes.subarray(0, TEXT_LIMIT) : bytes;
  return {
    mode,
    text: new TextDecoder('utf-8', { fatal: false }).decode(slice),
    truncated: bytes.length > TEXT_LIMIT,
  };
}

/** Splits a close frame payload: 2-byte big-endian code, then a UTF-8 reason. */
export function parseClosePayload(bytes: Uint8Array): { code: number | null; reason: string } {
  if (bytes.length < 2) return { code: null, reason: '' };
  const code = (bytes[0] << 8) | bytes[1];
  const reason = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(2));
  return { code, reason };
}

/** UTF-8 byte length of a string (what a text frame carrying it weighs). */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

// Frame flags (timeline badges, detail header)

export type FlagKey =
  | 'invalid'
  | 'truncated'
  | 'dropped'
  | 'replaced'
  | 'edited'
  | 'held'
  | 'injected'
  | 'compressed'
  | 'fragment';

export interface FrameFlag {
  key: FlagKey;
  /** Badge text in the timeline: "!", "cut", "inj", "z", "frag". */
  label: string;
  /** Tooltip of the badge. */
  title: string;
  /** The flag in words, for the detail header. */
  word: string;
}

/** A fragment of a fragmented message: FIN clear, or a continuation frame. */
export function isFragment(f: Pick<FrameSummary, 'fin' | 'opcode'>): boolean {
  return !f.fin || f.opcode === 'continuation';
}

function fragmentTitle(f: Pick<FrameSummary, 'fin' | 'opcode'>): string {
  if (f.opcode !== 'continuation') return 'Fragmented message: first frame (FIN = 0)';
  return f.fin
    ? 'Fragmented message: final continuation frame'
    : 'Fragmented message: continuation frame (FIN = 0)';
}

/**
 * The flags of a frame, most important first (the timeline column is narrow, so
 * what is cut off at its end matters least): invalid, truncated, injected,
 * compressed, fragment. Fields a frame lacks count as unset.
 */
export function frameFlags(f: FrameSummary): FrameFlag[] {
  const out: FrameFlag[] = [];
  if (f.invalid) {
    const note = f.note ? singleLine(f.note) : '';
    out.push({ key: 'invalid', label: '!', title: note || 'Invalid frame', word: 'invalid' });
  }
  if (f.truncated) {
    out.push({
      key: 'truncated',
      label: 'cut',
      title: 'Truncated: only the start of the payload was recorded',
      word: 'truncated',
    });
  }
  // Intercept (fields absent in older shells count as unset).
  if (f.dropped) {
    out.push({ key: 'dropped', label: 'drop', title: 'Dropped: received, never forwarded', word: 'dropped' });
  }
  if (f.replaced) {
    out.push({
      key: 'replaced',
      label: 'orig',
      title: 'Original: replaced by the edited message that follows',
      word: 'original (replaced)',
    });
  }
  if (f.edited) {
    out.push({ key: 'edited', label: 'edit', title: 'Edited: forwarded in place of the original', word: 'edited' });
  }
  if (f.held) {
    out.push({ key: 'held', label: 'held', title: 'Held at a breakpoint', word: 'held' });
  }
  if (f.injected) {
    out.push({ key: 'injected', label: 'inj', title: 'Injected by Sockscope', word: 'injected' });
  }
  if (f.rsv1) {
    out.push({
      key: 'compressed',
      label: 'z',
      title: 'Compressed (RSV1, permessage-deflate)',
      word: 'compressed',
    });
  }
  if (isFragment(f)) {
    out.push({
      key: 'fragment',
      label: 'frag',
      title: fragmentTitle(f),
      word: f.fin ? 'final fragment' : 'fragment (FIN = 0)',
    });
  }
  return out;
}

/** The flags of a frame in words for the detail header, e.g. "compressed · injected · masked". */
export function flagWords(f: FrameSummary): string[] {
  const words = frameFlags(f).map((x) => x.word);
  if (f.masked) words.push('masked');
  return words;
}

export interface FrameSize {
  /** "35 B", or "35 B → 1.2 KiB" when the frame completed a compressed message. */
  text: string;
  wire: string;
  inflated: string | null;
  /** Exact byte counts, for a tooltip. */
  title: string;
}

/** The Length column: wire size, then the inflated size when there is one. */
export function frameSize(f: Pick<FrameSummary, 'len' | 'inflated_len'>): FrameSize {
  const wire = formatBytes(f.len);
  const infl = f.inflated_len;
  if (infl == null) {
    return { text: wire, wire, inflated: null, title: `${formatCount(f.len)} bytes` };
  }
  const inflated = formatBytes(infl);
  return {
    text: `${wire} → ${inflated}`,
    wire,
    inflated,
    title: `${formatCount(f.len)} bytes on the wire → ${formatCount(infl)} bytes inflated`,
  };
}
