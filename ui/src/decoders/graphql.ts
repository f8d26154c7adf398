// GraphQL over WebSocket: graphql-ws (subprotocol "graphql-transport-ws",
// https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) and the older
// subscriptions-transport-ws (subprotocol "graphql-ws",
// https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md).
import { DecodeError, type Decoded, type Decoder } from './types';

type Proto = 'graphql-ws' | 'subscriptions-transport-ws';

/** Message type → (protocol(s), meaning). */
const TYPES: Record<string, { protos: Proto[]; meaning: string }> = {
  connection_init: { protos: ['graphql-ws', 'subscriptions-transport-ws'], meaning: 'client asks to start' },
  connection_ack: { protos: ['graphql-ws', 'subscriptions-transport-ws'], meaning: 'server accepted the connection' },
  ping: { protos: ['graphql-ws'], meaning: 'ping' },
  pong: { protos: ['graphql-ws'], meaning: 'pong' },
  subscribe: { protos: ['graphql-ws'], meaning: 'start an operation' },
  next: { protos: ['graphql-ws'], meaning: 'an operation result' },
  error: { protos: ['graphql-ws', 'subscriptions-transport-ws'], meaning: 'operation errors' },
  complete: { protos: ['graphql-ws', 'subscriptions-transport-ws'], meaning: 'operation finished' },
  connection_error: { protos: ['subscriptions-transport-ws'], meaning: 'server refused the connection' },
  ka: { protos: ['subscriptions-transport-ws'], meaning: 'keep-alive' },
  start: { protos: ['subscriptions-transport-ws'], meaning: 'start an operation' },
  data: { protos: ['subscriptions-transport-ws'], meaning: 'an operation result' },
  stop: { protos: ['subscriptions-transport-ws'], meaning: 'client stops an operation' },
  connection_terminate: { protos: ['subscriptions-transport-ws'], meaning: 'client ends the connection' },
};

/** Types other JSON protocols use too: weak evidence on their own. */
const GENERIC = new Set(['ping', 'pong', 'error', 'complete', 'data', 'start', 'stop']);

function protoFromSubprotocol(sub: string | null | undefined): Proto | null {
  if (sub === 'graphql-transport-ws') return 'graphql-ws';
  if (sub === 'graphql-ws') return 'subscriptions-transport-ws';
  return null;
}

function parseObject(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  const t = text.trimStart();
  if (!t.startsWith('{')) return null;
  try {
    const v = JSON.parse(t);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The operation name of a query document, e.g. "subscription OnPrice { … }" → "OnPrice". */
export function operationOf(query: string): { kind: string; name: string | null } | null {
  const m = /^\s*(?:#[^\n]*\n\s*)*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/.exec(query);
  if (m) return { kind: m[1], name: m[2] ?? null };
  if (/^\s*\{/.test(query)) return { kind: 'query', name: null };
  return null;
}

export const graphql: Decoder = {
  id: 'graphql',
  label: 'GraphQL WS',
  sniff(_bytes, ctx) {
    const o = parseObject(ctx.text);
    if (!o || typeof o.type !== 'string') return 0;
    const info = TYPES[o.type];
    if (!info) return 0;
    const sub = protoFromSubprotocol(ctx.subprotocol);
    if (sub && info.protos.includes(sub)) return 0.95;
    const payload = o.payload as Record<string, unknown> | undefined;
    if ((o.type === 'subscribe' || o.type === 'start') && typeof payload?.query === 'string') return 0.9;
    if ((o.type === 'next' || o.type === 'data') && typeof o.id === 'string' && payload && typeof payload === 'object')
      return 0.85;
    if (o.type.startsWith('connection_') || o.type === 'ka') return 0.8;
    if (GENERIC.has(o.type)) return typeof o.id === 'string' ? 0.55 : 0.3;
    return 0.5;
  },
  decode(_bytes, ctx): Decoded {
    const o = parseObject(ctx.text);
    if (!o) throw new DecodeError('not a JSON object');
    const type = o.type;
    if (typeof type !== 'string' || !TYPES[type]) throw new DecodeError(`unknown GraphQL over WebSocket message type ${JSON.stringify(type)}`);
    const info = TYPES[type];
    const sub = protoFromSubprotocol(ctx.subprotocol);
    const protocol = sub && info.protos.includes(sub) ? sub : info.protos.length === 1 ? info.protos[0] : info.protos.join(' or ');
    const value: Record<string, unknown> = { protocol, type, meaning: info.meaning };
    if (o.id !== undefined) value.id = o.id;
    const payload = o.payload;
    let summary = `GraphQL ${type}`;
    if (o.id !== undefined) summary += ` #${String(o.id)}`;
    if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
      const p = payload as Record<string, unknown>;
      if (typeof p.query === 'string') {
        const op = operationOf(p.query);
        const name = typeof p.operationName === 'string' ? p.operationName : (op?.name ?? null);
        if (op) value.operation = op.kind;
        if (name) value.operationName = name;
        summary += `: ${op?.kind ?? 'operation'}${name ? ` ${name}` : ''}`;
      }
      if (Array.isArray(p.errors)) summary += ` (${p.errors.length} error${p.errors.length === 1 ? '' : 's'})`;
    } else if (Array.isArray(payload)) {
      summary += ` (${payload.length} error${payload.length === 1 ? '' : 's'})`;
    }
    if (payload !== undefined) value.payload = payload;
    for (const k of Object.keys(o)) if (!(k in value) && k !== 'payload') value[k] = o[k];
    return { decoder: 'graphql', summary, value };
  },
};
