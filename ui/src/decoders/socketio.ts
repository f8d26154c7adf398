// Engine.IO (v3/v4) packets over WebSocket and the Socket.IO packets inside them
// (https://github.com/socketio/engine.io-protocol, https://github.com/socketio/socket.io-protocol).
import { parseJson } from './json';
import { DecodeError, type Decoded, type Decoder } from './types';

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
  engineio: { type: number; name: (typeof ENGINE_TYPES)[number] };
  data?: unknown;
  socketio?: SocketPacket;
}

function decodeText(text: string): EnginePacket {
  const t = text.charCodeAt(0) - 48;
  if (!(t >= 0 && t <= 6)) throw new DecodeError(`unknown Engine.IO packet type '${text[0] ?? ''}'`);
  const rest = text.slice(1);
  const out: EnginePacket = { engineio: { type: t, name: ENGINE_TYPES[t] } };
  if (t === 4) {
    out.socketio = parseSocketPacket(rest);
  } else if (t === 0) {
    const parsed = parseJson(rest);
    if (!parsed.ok) throw new DecodeError(`Engine.IO open packet: ${parsed.error.message}`);
    out.data = parsed.value;
  } else if (rest.length) {
    out.data = rest; // "probe" of the upgrade handshake
  }
  return out;
}

function summary(p: EnginePacket): string {
  if (!p.socketio) {
    const d = typeof p.data === 'string' ? ` ${p.data}` : '';
    return `Engine.IO ${p.engineio.name}${d}`;
  }
  const s = p.socketio;
  let out = `Socket.IO ${s.name}`;
  if (s.event !== undefined) out += ` ${JSON.stringify(s.event)}`;
  if (s.ack_id !== undefined) out += ` (ack ${s.ack_id})`;
  if (s.attachments !== undefined) out += ` + ${s.attachments} binary attachment${s.attachments === 1 ? '' : 's'}`;
  if (s.namespace !== '/') out += ` on ${s.namespace}`;
  return out;
}

function fromUrl(url: string | null | undefined): boolean {
  return !!url && /[?&]EIO=\d/.test(url);
}

export const socketio: Decoder = {
  id: 'socketio',
  label: 'Socket.IO',
  sniff(_bytes, ctx) {
    const text = ctx.text;
    if (text === null || ctx.opcode === 'binary' || text.length === 0) return 0;
    const boost = fromUrl(ctx.url) ? 0.3 : 0;
    const c = text[0];
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
    if (text === null) {
      // Binary frame: a Socket.IO binary attachment (v4), or with Engine.IO v3 a type byte first.
      return {
        decoder: 'socketio',
        summary: `Socket.IO binary attachment (${bytes.length} B)`,
        value: { engineio: { type: 4, name: 'message' }, attachment_bytes: bytes.length },
      };
    }
    if (!text.length) throw new DecodeError('empty payload');
    const p = decodeText(text);
    return { decoder: 'socketio', summary: summary(p), value: p };
  },
};
