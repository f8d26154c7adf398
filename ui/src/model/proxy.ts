// Pure helpers of the Proxy panel and of injection: no DOM, no Svelte.
import type {
  ConnectionInfo,
  InjectToward,
  ProxyInfo,
  SessionSummary,
} from '../ipc/types';
import { currentConnection } from './sessionView';

export const DEFAULT_LISTEN = '127.0.0.1:8080';

export type ProxyMode = 'reverse' | 'forward';

export function proxyMode(p: Pick<ProxyInfo, 'upstream'>): ProxyMode {
  return p.upstream ? 'reverse' : 'forward';
}

/** How to point a client at a listener (text only). */
export function proxyHint(p: Pick<ProxyInfo, 'listen' | 'upstream'>): string {
  return proxyMode(p) === 'reverse'
    ? `Point your client at ws://${p.listen}/…`
    : `Set your client's HTTP proxy to ${p.listen}; trust the Sockscope CA`;
}

/** "AB:CD:EF:01:…:78:9A" → "AB:CD:EF:01…78:9A"; short or unusual strings are kept. */
export function shortFingerprint(fp: string, head = 4, tail = 2): string {
  const parts = fp.trim().split(':');
  if (parts.length <= head + tail + 1) return fp.trim();
  return `${parts.slice(0, head).join(':')}…${parts.slice(-tail).join(':')}`;
}

/** What the Start button sends: a trimmed listen address and upstream (null when empty). */
export function startArgs(
  listen: string,
  upstream: string,
): { ok: true; listen: string; upstream: string | null } | { ok: false; error: string } {
  const l = listen.trim();
  if (!l) return { ok: false, error: `Enter an address to listen on, e.g. ${DEFAULT_LISTEN}.` };
  const u = upstream.trim();
  return { ok: true, listen: l, upstream: u ? u : null };
}

/** Replaces the listener of the same session, or adds it; sorted by session id (like list_proxies). */
export function upsertProxy(list: readonly ProxyInfo[], p: ProxyInfo): ProxyInfo[] {
  const next = list.filter((x) => x.session_id !== p.session_id).concat(p);
  next.sort((a, b) => a.session_id - b.session_id);
  return next;
}

/** A proxy session records what a listener relays: the composer injects instead of sending. */
export function isProxySession(
  sessionId: number | null,
  sessions: readonly SessionSummary[],
  proxies: readonly ProxyInfo[],
): boolean {
  if (sessionId === null) return false;
  const s = sessions.find((x) => x.id === sessionId);
  if (s) return s.kind === 'proxy';
  return proxies.some((p) => p.session_id === sessionId);
}

/**
 * The connection the composer, status bar and badge act on. Client sessions: the
 * pinned connection, else the newest. Proxy sessions: the pinned connection, else
 * the newest live one (state "open"), else the newest (to say why nothing can be sent).
 */
export function targetConnection(
  connections: readonly ConnectionInfo[],
  pinnedId: number | null,
  proxy: boolean,
): ConnectionInfo | null {
  if (!proxy) return currentConnection(connections, pinnedId);
  if (pinnedId !== null) {
    const c = connections.find((x) => x.id === pinnedId);
    if (c) return c;
  }
  for (let i = connections.length - 1; i >= 0; i--) {
    if (connections[i].state === 'open') return connections[i];
  }
  return connections.length ? connections[connections.length - 1] : null;
}

export interface ComposerInfo {
  mode: 'send' | 'inject';
  /** The composer's target connection, if any. */
  conn: ConnectionInfo | null;
  canSend: boolean;
  /** Why sending is not possible (empty when it is). */
  reason: string;
  /** What the foot line says when sending is possible, e.g. "Inject into #3 → server". */
  label: string;
}

export function composerInfo(
  conn: ConnectionInfo | null,
  opts: {
    proxy: boolean;
    toward: InjectToward;
    sessionSelected: boolean;
    busy: boolean;
    /** What is injected; named in the label unless it is a text message. */
    kind?: string;
  },
): ComposerInfo {
  const mode = opts.proxy ? 'inject' : 'send';
  let reason = '';
  if (!conn) {
    if (!opts.sessionSelected) reason = 'Connect to send messages';
    else reason = opts.proxy ? 'No proxied connection yet' : 'No connection';
  } else if (conn.state === 'connecting') {
    reason = 'Waiting for the handshake…';
  } else if (conn.state === 'failed') {
    reason = `Connection #${conn.id} failed`;
  } else if (conn.state !== 'open') {
    reason = `Connection #${conn.id} is closed`;
  }
  const label = !conn
    ? ''
    : mode === 'inject'
      ? `Inject ${opts.kind && opts.kind !== 'text' ? `${opts.kind} ` : ''}into #${conn.id} → ${opts.toward}`
      : `to #${conn.id}`;
  return { mode, conn, canSend: !reason && !opts.busy, reason, label };
}
