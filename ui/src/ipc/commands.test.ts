import { afterEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import {
  caInfo,
  caRegenerate,
  connect,
  getPayload,
  injectFrame,
  injectText,
  listProxies,
  listSessions,
  startProxy,
  stopProxy,
  subscribeSession,
  toIpcError,
} from './commands';
import type { StreamMsg } from './types';

// @tauri-apps/api/mocks needs a `window`; node has globalThis.
(globalThis as { window?: unknown }).window ??= globalThis;

afterEach(() => clearMocks());

describe('toIpcError', () => {
  it('keeps shell rejections (strings) as command errors', () => {
    const e = toIpcError('connect', 'invalid URL');
    expect(e.kind).toBe('command');
    expect(e.message).toBe('invalid URL');
  });
  it('maps a missing Tauri runtime to "unavailable"', () => {
    const e = toIpcError('list_sessions', new TypeError("Cannot read properties of undefined (reading 'invoke')"));
    expect(e.kind).toBe('unavailable');
  });
});

describe('commands', () => {
  it('rejects with an unavailable error outside Tauri', async () => {
    await expect(listSessions()).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(subscribeSession(1, 0, () => {})).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('passes camelCase args and returns results', async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'connect') return { id: 1, session_id: 5, url: (args as { url: string }).url, state: 'connecting' };
      if (cmd === 'get_payload') return new Uint8Array([104, 105]).buffer;
      return null;
    });
    const c = await connect('ws://127.0.0.1:1/');
    expect(c.session_id).toBe(5);
    expect(calls[0]).toEqual(['connect', { url: 'ws://127.0.0.1:1/' }]);
    const bytes = await getPayload(5, 42);
    expect(Array.from(bytes)).toEqual([104, 105]);
    expect(calls[1]).toEqual(['get_payload', { sessionId: 5, seq: 42 }]);
  });

  it('turns string rejections into command errors', async () => {
    mockIPC(() => {
      throw 'invalid URL: relative URL without a base';
    });
    await expect(connect('nope')).rejects.toMatchObject({
      kind: 'command',
      message: 'invalid URL: relative URL without a base',
    });
  });

  it('subscribeSession passes a Channel and delivers its messages until closed', async () => {
    let channelId = -1;
    mockIPC((cmd, args) => {
      const a = args as { sessionId: number; afterSeq: number; channel: { id: number } };
      expect(cmd).toBe('subscribe_session');
      expect(a.sessionId).toBe(3);
      expect(a.afterSeq).toBe(7);
      channelId = a.channel.id;
      return null;
    });
    const got: StreamMsg[] = [];
    const sub = await subscribeSession(3, 7, (m) => got.push(m));
    const internals = (globalThis as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, d: unknown): void } })
      .__TAURI_INTERNALS__;
    const msg: StreamMsg = { kind: 'frames', frames: [] };
    internals.runCallback(channelId, { index: 0, message: msg });
    expect(got).toEqual([msg]);
    sub.close();
    internals.runCallback(channelId, { index: 1, message: msg });
    expect(got).toHaveLength(1);
  });
});

describe('capture proxy commands', () => {
  it('pass the documented arguments', async () => {
    const calls: [string, unknown][] = [];
    const info = { session_id: 4, listen: '127.0.0.1:8080', upstream: null, ca_fingerprint: 'AA:BB' };
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'start_proxy') return info;
      if (cmd === 'list_proxies') return [info];
      return null;
    });
    expect(await startProxy('127.0.0.1:8080', 'ws://127.0.0.1:9000')).toEqual(info);
    await startProxy('127.0.0.1:8081');
    await stopProxy(4);
    expect(await listProxies()).toEqual([info]);
    await injectText(4, 7, 'client', 'hi');
    expect(calls).toEqual([
      ['start_proxy', { listen: '127.0.0.1:8080', upstream: 'ws://127.0.0.1:9000' }],
      ['start_proxy', { listen: '127.0.0.1:8081', upstream: null }],
      ['stop_proxy', { sessionId: 4 }],
      ['list_proxies', {}],
      ['inject_text', { sessionId: 4, connectionId: 7, toward: 'client', text: 'hi' }],
    ]);
  });

  it('start_proxy rejections become readable command errors', async () => {
    mockIPC(() => {
      throw 'cannot listen on 127.0.0.1:8080: Address already in use (os error 98)';
    });
    await expect(startProxy('127.0.0.1:8080')).rejects.toMatchObject({
      kind: 'command',
      command: 'start_proxy',
      message: 'cannot listen on 127.0.0.1:8080: Address already in use (os error 98)',
    });
  });
});


describe('injection of any frame, the local CA, inflated payloads', () => {
  it('pass the documented arguments', async () => {
    const calls: [string, unknown][] = [];
    const ca = { path: '/p/ca-cert.pem', common_name: 'Sockscope Local CA (1a2b3c4d)', fingerprint: 'AA', spki_sha256: 'c3Br', pem: 'PEM' };
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'ca_info') return ca;
      if (cmd === 'ca_regenerate') return { ...ca, fingerprint: 'BB' };
      if (cmd === 'get_payload') return new Uint8Array([1, 2, 3]).buffer;
      return null;
    });
    await injectFrame(4, 7, 'server', 'binary', '3q2+7w==');
    await injectFrame(4, 7, 'client', 'close', 'A+g=');
    expect(await caInfo()).toEqual(ca);
    expect((await caRegenerate()).fingerprint).toBe('BB');
    expect(Array.from(await getPayload(4, 9, { inflated: true }))).toEqual([1, 2, 3]);
    await getPayload(4, 9, { inflated: false });
    await getPayload(4, 9, {});
    expect(calls).toEqual([
      ['inject_frame', { sessionId: 4, connectionId: 7, toward: 'server', opcode: 'binary', payloadBase64: '3q2+7w==' }],
      ['inject_frame', { sessionId: 4, connectionId: 7, toward: 'client', opcode: 'close', payloadBase64: 'A+g=' }],
      ['ca_info', {}],
      ['ca_regenerate', {}],
      ['get_payload', { sessionId: 4, seq: 9, inflated: true }],
      ['get_payload', { sessionId: 4, seq: 9, inflated: false }],
      ['get_payload', { sessionId: 4, seq: 9 }],
    ]);
  });

  it('inject_frame and ca_regenerate rejections become command errors', async () => {
    mockIPC((cmd) => {
      throw cmd === 'inject_frame' ? 'control frames carry at most 125 bytes' : 'cannot write the CA';
    });
    await expect(injectFrame(1, 2, 'server', 'ping', 'AA==')).rejects.toMatchObject({
      kind: 'command',
      command: 'inject_frame',
      message: 'control frames carry at most 125 bytes',
    });
    await expect(caRegenerate()).rejects.toMatchObject({ kind: 'command', command: 'ca_regenerate', message: 'cannot write the CA' });
  });
});
