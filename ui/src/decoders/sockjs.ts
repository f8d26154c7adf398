// SockJS framing over a raw WebSocket (https://github.com/sockjs/sockjs-protocol,
// sockjs-protocol-0.3.3 "Framing"): the server sends `o` (open), `h` (heartbeat),
// `a["msg",…]` (messages, each a JSON string), `m"msg"` (one message, older servers) and
// `c[code,"reason"]` (close); the client sends a JSON array of strings (or one JSON string).
// Each message is decoded further: STOMP frames (STOMP over SockJS, the NUL terminator
// escaped as \u0000 in the JSON string), JSON, or text.
import { parseJson } from './json';
import { parseStompAll, stompFramesSummary, stompFramesValue } from './stomp';
import { DecodeError, type Decoded, type Decoder, type SniffContext } from './types';

export type SockJsKind = 'open' | 'heartbeat' | 'messages' | 'message' | 'close' | 'send';

export interface SockJsEnvelope {
  /** The frame letter (`o` `h` `a` `m` `c`), or `send` for what a client sends. */
  frame: string;
  type: SockJsKind;
  messages?: string[];
  code?: number;
  reason?: string;
}

/** Messages decoded per frame at most (the rest are listed as text). */
const MAX_DECODED = 1000;
const enc = new TextEncoder();

/** A SockJS URL: `…/{server}/{session}/websocket` or a path mentioning sockjs. */
export function isSockJsUrl(url: string | null | undefined): boolean {
  if (!url) return false;
  const path = url.replace(/[?#].*$/, '');
  return /\/[^/.]{1,64}\/[^/.]{1,128}\/websocket\/?$/.test(path) || /sockjs/i.test(path);
}

function stringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Parses the SockJS envelope; null when the text is not one. */
export function parseSockJs(text: string, dir?: string | null): SockJsEnvelope | null {
  if (text === 'o') return { frame: 'o', type: 'open' };
  if (text === 'h') return { frame: 'h', type: 'heartbeat' };
  const c = text[0];
  if (c === 'a' && text[1] === '[' && dir !== 'client') {
    const p = parseJson(text.slice(1));
    if (!p.ok || !stringArray(p.value)) return null;
    return { frame: 'a', type: 'messages', messages: p.value };
  }
  if (c === 'm' && text[1] === '"' && dir !== 'client') {
    const p = parseJson(text.slice(1));
    if (!p.ok || typeof p.value !== 'string') return null;
    return { frame: 'm', type: 'message', messages: [p.value] };
  }
  if (c === 'c' && text[1] === '[' && dir !== 'client') {
    const p = parseJson(text.slice(1));
    if (!p.ok || !Array.isArray(p.value) || p.value.length !== 2) return null;
    const [code, reason] = p.value as unknown[];
    if (typeof code !== 'number' || !Number.isInteger(code) || typeof reason !== 'string') return null;
    return { frame: 'c', type: 'close', code, reason };
  }
  if ((c === '[' || c === '"') && dir !== 'server') {
    const p = parseJson(text);
    if (!p.ok) return null;
    if (stringArray(p.value)) return { frame: 'send', type: 'send', messages: p.value };
    if (typeof p.value === 'string') return { frame: 'send', type: 'send', messages: [p.value] };
  }
  return null;
}

interface Inner {
  value: unknown;
  summary: string;
  stomp: boolean;
}

/** What one SockJS message carries: STOMP frames, JSON or text. */
function decodeInner(m: string): Inner {
  if (/^[\r\n]*[A-Z]+\r?\n/.test(m) || /^[\r\n]+$/.test(m)) {
    try {
      const all = parseStompAll(enc.encode(m));
      if (all === 'heartbeat') return { value: { stomp: { heartbeat: true } }, summary: 'STOMP heart-beat', stomp: true };
      return { value: { stomp: stompFramesValue(all) }, summary: stompFramesSummary(all), stomp: true };
    } catch {
      /* not STOMP: fall through */
    }
  }
  if (/^\s*[[{]/.test(m)) {
    const p = parseJson(m);
    if (p.ok) return { value: { json: p.value }, summary: 'JSON', stomp: false };
  }
  return { value: { text: m }, summary: 'text', stomp: false };
}

function describe(env: SockJsEnvelope, inner: Inner[]): string {
  switch (env.type) {
    case 'open':
      return 'SockJS open';
    case 'heartbeat':
      return 'SockJS heartbeat';
    case 'close':
      return `SockJS close ${env.code} ${JSON.stringify(env.reason)}`;
    default: {
      const n = env.messages?.length ?? 0;
      const head = env.type === 'send' ? `SockJS send[${n}]` : env.type === 'message' ? 'SockJS m' : `SockJS a[${n}]`;
      if (!n) return head;
      const parts = inner.slice(0, 3).map((x) => x.summary);
      return `${head}: ${parts.join(', ')}${n > 3 ? ', …' : ''}`;
    }
  }
}

/** How sure the envelope is SockJS, given where it came from. */
function score(env: SockJsEnvelope, inner: Inner[], ctx: SniffContext): number {
  const url = isSockJsUrl(ctx.url);
  const stomp = inner.length > 0 && inner.every((x) => x.stomp);
  switch (env.type) {
    case 'open':
    case 'heartbeat':
      // A lone letter is weak evidence on its own.
      return url ? 0.9 : 0.55;
    case 'messages':
    case 'message':
    case 'close':
      return stomp ? 0.97 : url ? 0.95 : 0.85;
    case 'send':
      // A JSON array of strings is only SockJS with a SockJS URL or STOMP inside.
      return stomp ? 0.96 : url ? 0.8 : 0;
  }
}

export const sockjs: Decoder = {
  id: 'sockjs',
  label: 'SockJS',
  sniff(_bytes, ctx) {
    const text = ctx.text;
    if (text === null || ctx.opcode === 'binary' || text.length === 0) return 0;
    if (!/^[ohamc["]/.test(text)) return 0;
    const env = parseSockJs(text, ctx.dir);
    if (!env) return 0;
    const inner = (env.messages ?? []).slice(0, 8).map(decodeInner);
    return score(env, inner, ctx);
  },
  decode(_bytes, ctx): Decoded {
    const text = ctx.text;
    if (text === null) throw new DecodeError('SockJS frames are text; this payload is not UTF-8');
    const env = parseSockJs(text, ctx.dir) ?? parseSockJs(text, null);
    if (!env) throw new DecodeError('not a SockJS frame (o, h, a[…], m"…", c[code,"reason"] or a client\'s ["…"])');
    const msgs = env.messages ?? [];
    const inner = msgs.slice(0, MAX_DECODED).map(decodeInner);
    const value: Record<string, unknown> = { sockjs: { frame: env.frame, type: env.type } };
    if (env.type === 'close') value.sockjs = { frame: env.frame, type: env.type, code: env.code, reason: env.reason };
    if (env.messages) {
      const out: unknown[] = inner.map((x) => x.value);
      for (const m of msgs.slice(MAX_DECODED)) out.push({ text: m });
      value.messages = out;
    }
    return { decoder: 'sockjs', summary: describe(env, inner), value };
  },
};
