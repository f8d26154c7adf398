import { describe, expect, it } from 'vitest';
import type { ProxyInfo, SessionSummary } from '../ipc/types';
import { mkConn, mkSession } from '../test/fixtures';
import {
  composerInfo,
  isProxySession,
  proxyHint,
  proxyMode,
  shortFingerprint,
  startArgs,
  targetConnection,
  upsertProxy,
} from './proxy';

const FP =
  '3F:A2:91:0C:5B:77:E0:14:9D:2A:C8:41:6E:0F:B3:88:12:CD:45:9A:7B:E6:03:51:AF:28:94:D0:6C:1E:7E:D4';

function proxy(p: Partial<ProxyInfo> = {}): ProxyInfo {
  return { session_id: 1, listen: '127.0.0.1:8080', upstream: 'ws://127.0.0.1:9000', ca_fingerprint: null, ...p };
}

function session(id: number, kind: SessionSummary['kind']): SessionSummary {
  return mkSession(id, { kind });
}

describe('proxy helpers', () => {
  it('mode and hint follow the upstream', () => {
    expect(proxyMode(proxy())).toBe('reverse');
    expect(proxyMode(proxy({ upstream: null }))).toBe('forward');
    expect(proxyMode(proxy({ upstream: '' }))).toBe('forward');
    expect(proxyHint(proxy({ listen: '127.0.0.1:8443' }))).toBe('Point your client at ws://127.0.0.1:8443/…');
    expect(proxyHint(proxy({ upstream: null }))).toBe(
      "Set your client's HTTP proxy to 127.0.0.1:8080; trust the Sockscope CA",
    );
  });

  it('shortens a SHA-256 fingerprint to its head and tail', () => {
    expect(shortFingerprint(FP)).toBe('3F:A2:91:0C…7E:D4');
    expect(shortFingerprint(FP, 2, 1)).toBe('3F:A2…D4');
    // Too short to shorten, or not colon-separated: kept as is.
    expect(shortFingerprint('AA:BB:CC:DD:EE:FF:00')).toBe('AA:BB:CC:DD:EE:FF:00');
    expect(shortFingerprint(' abcdef ')).toBe('abcdef');
  });

  it('start arguments are trimmed; an empty upstream is null (forward mode)', () => {
    expect(startArgs(' 127.0.0.1:8080 ', ' ws://127.0.0.1:9000/ ')).toEqual({
      ok: true,
      listen: '127.0.0.1:8080',
      upstream: 'ws://127.0.0.1:9000/',
    });
    expect(startArgs('127.0.0.1:0', '   ')).toEqual({ ok: true, listen: '127.0.0.1:0', upstream: null });
    const bad = startArgs('  ', 'ws://x');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/127\.0\.0\.1:8080/);
  });

  it('upsertProxy replaces by session id and keeps the list sorted', () => {
    let list = upsertProxy([], proxy({ session_id: 5 }));
    list = upsertProxy(list, proxy({ session_id: 2 }));
    list = upsertProxy(list, proxy({ session_id: 5, listen: '127.0.0.1:9999' }));
    expect(list.map((p) => [p.session_id, p.listen])).toEqual([
      [2, '127.0.0.1:8080'],
      [5, '127.0.0.1:9999'],
    ]);
  });

  it('a session is a proxy session by its kind, or by a listener before the list is refreshed', () => {
    const sessions = [session(1, 'client'), session(2, 'proxy')];
    expect(isProxySession(null, sessions, [])).toBe(false);
    expect(isProxySession(1, sessions, [])).toBe(false);
    expect(isProxySession(2, sessions, [])).toBe(true);
    expect(isProxySession(3, sessions, [])).toBe(false);
    expect(isProxySession(3, sessions, [proxy({ session_id: 3 })])).toBe(true);
    // The listed kind wins.
    expect(isProxySession(1, sessions, [proxy({ session_id: 1 })])).toBe(false);
  });
});

describe('targetConnection', () => {
  const list = [
    mkConn(1, { state: 'open' }),
    mkConn(2, { state: 'open' }),
    mkConn(3, { state: 'closed' }),
    mkConn(4, { state: 'connecting' }),
  ];

  it('client sessions: the pinned one, else the newest whatever its state', () => {
    expect(targetConnection(list, null, false)?.id).toBe(4);
    expect(targetConnection(list, 3, false)?.id).toBe(3);
  });

  it('proxy sessions: the pinned one, else the latest open one, else the newest', () => {
    expect(targetConnection(list, null, true)?.id).toBe(2);
    expect(targetConnection(list, 3, true)?.id).toBe(3);
    expect(targetConnection(list, 99, true)?.id).toBe(2);
    const none = [mkConn(1, { state: 'closed' }), mkConn(2, { state: 'failed' })];
    expect(targetConnection(none, null, true)?.id).toBe(2);
    expect(targetConnection([], null, true)).toBeNull();
  });
});

describe('composerInfo', () => {
  const base = { proxy: false, toward: 'server' as const, sessionSelected: true, busy: false };

  it('client sessions send to the connection', () => {
    const i = composerInfo(mkConn(3), base);
    expect(i).toMatchObject({ mode: 'send', canSend: true, reason: '', label: 'to #3' });
  });

  it('proxy sessions inject, labelled with the direction', () => {
    expect(composerInfo(mkConn(3), { ...base, proxy: true })).toMatchObject({
      mode: 'inject',
      canSend: true,
      label: 'Inject into #3 → server',
    });
    expect(composerInfo(mkConn(3), { ...base, proxy: true, toward: 'client' }).label).toBe('Inject into #3 → client');
  });

  it('names the injected kind unless it is a text message', () => {
    const proxy = { ...base, proxy: true };
    expect(composerInfo(mkConn(3), { ...proxy, kind: 'text' }).label).toBe('Inject into #3 → server');
    expect(composerInfo(mkConn(3), { ...proxy, kind: 'binary' }).label).toBe('Inject binary into #3 → server');
    expect(composerInfo(mkConn(3), { ...proxy, kind: 'close', toward: 'client' }).label).toBe('Inject close into #3 → client');
    expect(composerInfo(mkConn(3), { ...base, kind: 'ping' }).label).toBe('to #3');
  });

  it('explains why nothing can be sent', () => {
    expect(composerInfo(null, { ...base, sessionSelected: false }).reason).toBe('Connect to send messages');
    expect(composerInfo(null, base).reason).toBe('No connection');
    expect(composerInfo(null, { ...base, proxy: true }).reason).toBe('No proxied connection yet');
    expect(composerInfo(mkConn(2, { state: 'connecting' }), base).reason).toMatch(/handshake/);
    expect(composerInfo(mkConn(2, { state: 'failed' }), base).reason).toBe('Connection #2 failed');
    const closed = composerInfo(mkConn(2, { state: 'closed' }), { ...base, proxy: true });
    expect(closed).toMatchObject({ canSend: false, reason: 'Connection #2 is closed' });
    expect(composerInfo(mkConn(2), { ...base, busy: true }).canSend).toBe(false);
  });
});
