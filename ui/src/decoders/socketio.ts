// Engine.IO (v3/v4) packets over WebSocket and the Socket.IO packets inside them
// (https://github.com/socketio/engine.io-protocol, https://github.com/socketio/socket.io-protocol).
import { fromBase64, toBase64, toHex } from './bytes';
import { parseJson } from './json';
import { DecodeError, type Decoded, type Decoder, type SniffContext } from './types';

export const ENGINE_TYPES = ['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop'] as const;
export const SOCKET_TYPES = [
  'CONNECT',
  'DISCONNECT',
  'EVENT',
  'ACK',
  'CONNECT_ERROR',
  'BINARY_EVENT',
  'BINARY_ACK',
] as const;

export interface SocketPacket {
  type: number;
  name: (typeof SOCKET_TYPES)[number];
  namespace: string;
  attachments?: number;
  ack_id?: number;
  event?: unknown;
  args?: unknown[];
  data?: unknown;
}

/** Parses a Socket.IO packet string (what follows Engine.IO's "4"). */
export function parseSocketPacket(s: string): SocketPacket {
  const t = s.charCodeAt(0) - 48;
  if (!(t >= 0 && t <= 6)) throw new DecodeError(`unknown Socket.IO packet type '${s[0] ?? ''}'`);
  let i = 1;
  const pkt: SocketPacket = { type: t, name: SOCKET_TYPES[t], namespace: '/' };
  if (t === 5 || t === 6) {
    const dash = s.indexOf('-', i);
    const n = s.slice(i, dash);
    if (dash < 0 || !/^\d+$/.test(n)) throw new DecodeError('binary packet without its attachment count');
    pkt.attachments = Number(n);
    i = dash + 1;
  }
  if (s[i] === '/') {
    const comma = s.indexOf(',', i);
    if (comma < 0) {
      pkt.namespace = s.slice(i);
      i = s.length;
    } else {
      pkt.namespace = s.slice(i, comma);
      i = comma + 1;
    }
  }
  const idStart = i;
  while (i < s.length && s[i] >= '0' && s[i] <= '9') i++;
  if (i > idStart) pkt.ack_id = Number(s.slice(idStart, i));
  const rest = s.slice(i);
  if (rest.length) {
    const parsed = parseJson(rest);
    if (!parsed.ok) {
      const e = parsed.error;
      throw new DecodeError(`Socket.IO payload is not JSON at column ${e.column + i}: ${e.message}`);
    }
    const data = parsed.value;
    if ((t === 2 || t === 5) && Array.isArray(data)) {
      pkt.event = data[0];
      pkt.args = data.slice(1);
    } else if ((t === 3 || t === 6) && Array.isArray(data)) {
      pkt.args = data;
    } else {
      pkt.data = data;
    }
  }
  return pkt;
}

export interface EnginePacket {
  engineio: { type: number; name: (typeof ENGINE_TYPES)[number]; version?: 3 | 4 };
  data?: unknown;
  /** A binary Engine.IO message (binary frame, or base64 text "b…"): size and previews. */
  binary?: BinaryPreview;
  socketio?: SocketPacket;
}

/** Bytes shown in a decoded tree: size, and the first bytes as hex and base64. */
export interface BinaryPreview {
  bytes: number;
  hex: string;
  base64: string;
}

/** Bytes previewed in hex (spaced) and base64: the first `PREVIEW_BYTES`, "…" when cut. */
export const PREVIEW_BYTES = 48;
export function binaryPreview(bytes: Uint8Array): BinaryPreview {
  const head = bytes.subarray(0, PREVIEW_BYTES);
  const more = bytes.length > head.length ? '…' : '';
  return { bytes: bytes.length, hex: toHex(head, ' ') + more, base64: toBase64(head) + more };
}

/** The Engine.IO protocol revision named in a URL's query (`EIO=3` / `EIO=4`), else null. */
export function engineVersionOfUrl(url: string | null | undefined): 3 | 4 | null {
  const m = url ? /[?&]EIO=(\d+)/.exec(url) : null;
  if (!m) return null;
  return m[1] === '3' ? 3 : m[1] === '4' ? 4 : null;
}

/**
 * The Engine.IO revision a packet shows by its shape, when the URL does not say: the v3 open
 * packet has no `maxPayload` (added in v4); in v3 the client pings ("2") and the server pongs,
 * in v4 the server pings.
 */
export function engineVersionOfPacket(text: string, dir?: string | null): 3 | 4 | null {
  if (text.startsWith('0{')) {
    const p = parseJson(text.slice(1));
    if (p.ok && p.value && typeof p.value === 'object' && 'sid' in (p.value as object))
      return 'maxPayload' in (p.value as object) ? 4 : 3;
    return null;
  }
  if (text === '2' && dir) return dir === 'client' ? 3 : 4;
  if (text === '3' && dir) return dir === 'server' ? 3 : 4;
  return null;
}

/** Base64 text of an Engine.IO binary message: v3 `b4<base64>` (type after "b"), v4 `b<base64>`. */
function decodeBase64Packet(text: string, version: 3 | 4 | null): EnginePacket {
  const rest = text.slice(1);
  const v3 = version === 3 || (version === null && /^[0-6]/.test(rest) && fromBase64(rest.slice(1)) !== null);
  if (v3) {
    const t = rest.charCodeAt(0) - 48;
    if (!(t >= 0 && t <= 6)) throw new DecodeError(`unknown Engine.IO packet type '${rest[0] ?? ''}' after "b"`);
    const bytes = fromBase64(rest.slice(1));
    if (!bytes) throw new DecodeError('Engine.IO v3 base64 packet: the text after "b' + rest[0] + '" is not base64');
    return { engineio: { type: t, name: ENGINE_TYPES[t], version: 3 }, binary: binaryPreview(bytes) };
  }
  const bytes = fromBase64(rest);
  if (!bytes) throw new DecodeError('Engine.IO base64 packet: the text after "b" is not base64');
  return { engineio: { type: 4, name: 'message', version: 4 }, binary: binaryPreview(bytes) };
}

function decodeText(text: string, version: 3 | 4 | null = null): EnginePacket {
  if (text[0] === 'b') return decodeBase64Packet(text, version);
  const t = text.charCodeAt(0) - 48;
  if (!(t >= 0 && t <= 6)) throw new DecodeError(`unknown Engine.IO packet type '${text[0] ?? ''}'`);
  const rest = text.slice(1);
  const out: EnginePacket = { engineio: { type: t, name: ENGINE_TYPES[t] } };
  if (version) out.engineio.version = version;
  if (t === 4) {
    out.socketio = parseSocketPacket(rest);
    // Socket.IO protocol 4 (Engine.IO v3 servers) calls packet type 4 ERROR.
    if (version === 3 && out.socketio.type === 4) (out.socketio as { name: string }).name = 'ERROR';
  } else if (t === 0) {
    const parsed = parseJson(rest);
    if (!parsed.ok) throw new DecodeError(`Engine.IO open packet: ${parsed.error.message}`);
    out.data = parsed.value;
  } else if (rest.length) {
    out.data = rest; // "probe" of the upgrade handshake
  }
  return out;
}

/** A binary frame: with Engine.IO v3 its first byte is the packet type; with v4 it is the message. */
function decodeBinary(bytes: Uint8Array, version: 3 | 4 | null): EnginePacket {
  if (version === 3) {
    const t = bytes[0];
    if (bytes.length === 0 || t > 6)
      throw new DecodeError(`not an Engine.IO v3 binary packet: the first byte (${bytes.length ? `0x${t.toString(16).padStart(2, '0')}` : 'none'}) is not a packet type 0–6`);
    return { engineio: { type: t, name: ENGINE_TYPES[t], version: 3 }, binary: binaryPreview(bytes.subarray(1)) };
  }
  return { engineio: { type: 4, name: 'message', version: version ?? undefined }, binary: binaryPreview(bytes) };
}

function pingNote(p: EnginePacket, dir: string | null | undefined): string {
  const v = p.engineio.version;
  const t = p.engineio.type;
  if ((t !== 2 && t !== 3) || p.data !== undefined || !v || !dir) return '';
  // v3: the client pings and the server answers; v4: the other way round.
  const from = v === 3 ? (t === 2 ? 'client' : 'server') : t === 2 ? 'server' : 'client';
  return from === dir ? '' : ` (unexpected from the ${dir} in v${v})`;
}

function summary(p: EnginePacket, dir?: string | null): string {
  const v = p.engineio.version === 3 ? ' v3' : '';
  if (p.binary) {
    const what = p.engineio.type === 4 ? 'binary message' : `binary ${p.engineio.name}`;
    return `Engine.IO${v} ${what} (${p.binary.bytes} B)`;
  }
  if (!p.socketio) {
    const d = typeof p.data === 'string' ? ` ${p.data}` : '';
    return `Engine.IO${v} ${p.engineio.name}${d}${pingNote(p, dir)}`;
  }
  const s = p.socketio;
  let out = `Socket.IO ${s.name}`;
  if (s.event !== undefined) out += ` ${JSON.stringify(s.event)}`;
  if (s.ack_id !== undefined) out += ` (ack ${s.ack_id})`;
  if (s.attachments !== undefined) out += ` + ${s.attachments} binary attachment${s.attachments === 1 ? '' : 's'}`;
  if (s.namespace !== '/') out += ` on ${s.namespace}`;
  return out;
}

/** The Engine.IO revision for this payload: the URL's, else the packet's shape. */
function versionOf(text: string | null, ctx: SniffContext): 3 | 4 | null {
  return engineVersionOfUrl(ctx.url) ?? (text !== null ? engineVersionOfPacket(text, ctx.dir) : null);
}

export const socketio: Decoder = {
  id: 'socketio',
  label: 'Socket.IO',
  sniff(bytes, ctx) {
    const urlVersion = engineVersionOfUrl(ctx.url);
    if (ctx.opcode === 'binary') {
      // Binary frames carry no marker: only a Socket.IO URL makes them Engine.IO packets.
      // v3 puts the packet type first (worth explaining); a v4 binary frame is the message as
      // it is, so what it contains (MessagePack, CBOR, or the Hex view) is picked first.
      if (urlVersion === 3) return bytes.length > 0 && bytes[0] <= 6 ? 0.6 : 0;
      return urlVersion === 4 && bytes.length > 0 ? 0.4 : 0;
    }
    const text = ctx.text;
    if (text === null || text.length === 0) return 0;
    const boost = urlVersion ? 0.3 : 0;
    const c = text[0];
    if (c === 'b') {
      if (text.length < 2) return 0;
      try {
        decodeText(text, urlVersion);
      } catch {
        return 0;
      }
      return urlVersion ? 0.9 : 0.3;
    }
    if (!(c >= '0' && c <= '6')) return 0;
    if (/^0\{"sid":/.test(text)) return 0.95;
    if (/^[1-6](probe)?$/.test(text)) return Math.min(1, 0.35 + boost); // bare ping/pong is weak evidence
    if (c !== '4' && c !== '0') return 0;
    try {
      decodeText(text);
    } catch {
      return 0;
    }
    if (c === '4') return Math.min(1, (text.length > 2 ? 0.85 : 0.6) + boost);
    return Math.min(1, 0.5 + boost);
  },
  decode(bytes, ctx): Decoded {
    const text = ctx.text;
    if (ctx.opcode === 'binary' || text === null) {
      const p = decodeBinary(bytes, engineVersionOfUrl(ctx.url));
      return { decoder: 'socketio', summary: summary(p), value: p };
    }
    if (!text.length) throw new DecodeError('empty payload');
    const p = decodeText(text, versionOf(text, ctx));
    return { decoder: 'socketio', summary: summary(p, ctx.dir), value: p };
  },
};
