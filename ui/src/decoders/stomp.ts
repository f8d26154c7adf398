// STOMP 1.0–1.2 frames (https://stomp.github.io/stomp-specification-1.2.html).
import { parseJson } from './json';
import { utf8Lossy } from './bytes';
import { DecodeError, type Decoded, type Decoder } from './types';

export const STOMP_COMMANDS = [
  'CONNECT',
  'STOMP',
  'CONNECTED',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
  'MESSAGE',
  'RECEIPT',
  'ERROR',
] as const;

const COMMAND_RE = new RegExp(`^(${STOMP_COMMANDS.join('|')})\\r?\\n`);

/** STOMP 1.2 header escapes (not applied to CONNECT/CONNECTED frames). */
function unescapeHeader(s: string): string {
  return s.replace(/\\(.)/g, (m, c: string) =>
    c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c === '\\' ? '\\' : m,
  );
}

export interface StompFrame {
  command: string;
  /** Headers in order, repeated ones kept (the first one counts, per the spec). */
  headers: [string, string][];
  body: unknown;
  body_bytes: number;
}

const isHeartbeat = (bytes: Uint8Array) =>
  (bytes.length === 1 && bytes[0] === 10) || (bytes.length === 2 && bytes[0] === 13 && bytes[1] === 10);

export function parseStomp(bytes: Uint8Array): StompFrame | 'heartbeat' {
  // A heart-beat is a lone EOL.
  if (isHeartbeat(bytes)) return 'heartbeat';
  return parseStompAt(bytes, 0).frame;
}

/**
 * Every STOMP frame of a payload (a SockJS message or a WebSocket message may carry several,
 * with heart-beat EOLs between them); 'heartbeat' when it is only EOLs. At most `max` frames.
 */
export function parseStompAll(bytes: Uint8Array, max = 1000): StompFrames | 'heartbeat' {
  const frames: StompFrame[] = [];
  let i = 0;
  const eol = (k: number) => bytes[k] === 10 || bytes[k] === 13;
  while (i < bytes.length && frames.length < max) {
    while (i < bytes.length && eol(i)) i++;
    if (i >= bytes.length) break;
    // The first frame must parse; what follows a good frame and does not parse is counted.
    if (frames.length === 0) {
      const { frame, end } = parseStompAt(bytes, i);
      frames.push(frame);
      i = end;
      continue;
    }
    try {
      const { frame, end } = parseStompAt(bytes, i);
      frames.push(frame);
      i = end;
    } catch {
      break;
    }
  }
  if (frames.length === 0) {
    if (bytes.length > 0) return 'heartbeat';
    throw new DecodeError('empty STOMP payload');
  }
  return { frames, trailing: bytes.length - Math.min(i, bytes.length) };
}

export interface StompFrames {
  frames: StompFrame[];
  /** Bytes after the last frame that are not a frame (nor heart-beat EOLs). */
  trailing: number;
}

/** One frame starting at `from` (leading EOLs skipped); `end` is just after its NUL. */
function parseStompAt(bytes: Uint8Array, from: number): { frame: StompFrame; end: number } {
  // Leading EOLs (heart-beats before the frame) are allowed.
  let start = from;
  while (start < bytes.length && (bytes[start] === 10 || bytes[start] === 13)) start++;
  // The head ends at the first blank line.
  let headEnd = -1;
  let bodyStart = -1;
  for (let i = start; i < bytes.length; i++) {
    if (bytes[i] !== 10) continue;
    if (bytes[i + 1] === 10) {
      headEnd = i;
      bodyStart = i + 2;
      break;
    }
    if (bytes[i + 1] === 13 && bytes[i + 2] === 10) {
      headEnd = i;
      bodyStart = i + 3;
      break;
    }
  }
  if (headEnd < 0) throw new DecodeError('no blank line after the STOMP headers');
  const head = utf8Lossy(bytes.subarray(start, headEnd)).replace(/\r$/, '');
  const lines = head.split(/\r?\n/);
  const command = lines[0];
  if (!(STOMP_COMMANDS as readonly string[]).includes(command))
    throw new DecodeError(`unknown STOMP command ${JSON.stringify(command.slice(0, 40))}`);
  const escapes = command !== 'CONNECT' && command !== 'CONNECTED';
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) throw new DecodeError(`bad STOMP header line ${JSON.stringify(line.slice(0, 60))}`);
    const k = line.slice(0, colon);
    const v = line.slice(colon + 1);
    headers.push(escapes ? [unescapeHeader(k), unescapeHeader(v)] : [k, v]);
  }
  const header = (name: string) => headers.find(([k]) => k === name)?.[1];
  let bodyEnd: number;
  const cl = header('content-length');
  if (cl !== undefined && /^\d+$/.test(cl)) {
    bodyEnd = bodyStart + Number(cl);
    if (bodyEnd > bytes.length) throw new DecodeError('STOMP body shorter than its content-length');
    if (bytes[bodyEnd] !== 0) throw new DecodeError('STOMP frame does not end with NUL after content-length bytes');
  } else {
    bodyEnd = bytes.indexOf(0, bodyStart);
    if (bodyEnd < 0) throw new DecodeError('STOMP frame does not end with NUL');
  }
  const bodyBytes = bytes.subarray(bodyStart, bodyEnd);
  const bodyText = utf8Lossy(bodyBytes);
  let body: unknown = bodyText;
  const ct = header('content-type') ?? '';
  if (bodyText.length && (/json/i.test(ct) || (!ct && /^\s*[[{]/.test(bodyText)))) {
    const parsed = parseJson(bodyText);
    if (parsed.ok) body = parsed.value;
  }
  return { frame: { command, headers, body, body_bytes: bodyBytes.length }, end: bodyEnd + 1 };
}

/** A frame as the tree shows it: headers as an object (first occurrence wins, as in the spec). */
export function stompValue(f: StompFrame): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const [k, v] of f.headers) if (!(k in headers)) headers[k] = v;
  const value: Record<string, unknown> = { command: f.command, headers, body: f.body };
  // The order and any repeats stay in `header_lines`.
  if (f.headers.length !== Object.keys(headers).length) value.header_lines = f.headers;
  return value;
}

export function stompFramesValue(all: StompFrames): unknown {
  const value: Record<string, unknown> =
    all.frames.length === 1 ? stompValue(all.frames[0]) : { frames: all.frames.map(stompValue) };
  if (all.trailing > 0) value.trailing_bytes = all.trailing;
  return value;
}

export function stompFramesSummary(all: StompFrames): string {
  const f = all.frames;
  if (f.length === 1) return stompSummary(f[0]);
  return `${f.length} STOMP frames: ${f.slice(0, 3).map(stompSummary).join(', ')}${f.length > 3 ? ', …' : ''}`;
}

export function stompSummary(f: StompFrame): string {
  const dest = f.headers.find(([k]) => k === 'destination')?.[1];
  return `STOMP ${f.command}${dest ? ` ${dest}` : ''}${f.body_bytes ? ` (${f.body_bytes} B body)` : ''}`;
}

export const stomp: Decoder = {
  id: 'stomp',
  label: 'STOMP',
  sniff(bytes, ctx) {
    const sub = ctx.subprotocol ?? '';
    const isStompSub = /stomp/i.test(sub);
    if (isHeartbeat(bytes)) return isStompSub ? 0.9 : 0.1;
    const head = utf8Lossy(bytes.subarray(0, 24)).replace(/^[\r\n]+/, '');
    if (!COMMAND_RE.test(head)) return 0;
    try {
      parseStompAll(bytes);
    } catch {
      return isStompSub ? 0.4 : 0.3;
    }
    return 0.95;
  },
  decode(bytes): Decoded {
    const all = parseStompAll(bytes);
    if (all === 'heartbeat') return { decoder: 'stomp', summary: 'STOMP heart-beat', value: { heartbeat: true } };
    return { decoder: 'stomp', summary: stompFramesSummary(all), value: stompFramesValue(all) };
  },
};
