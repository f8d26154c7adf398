import { afterEach, describe, expect, it } from 'vitest';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import {
  caInfo,
  caRegenerate,
  connect,
  deleteSession,
  diffConnections,
  exportSession,
  headerSafe,
  importData,
  listMocks,
  listSessionsSorted,
  renameSession,
  replayPlan,
  searchPayloads,
  setSessionNotes,
  setSessionPinned,
  setSessionTags,
  startMock,
  startReplay,
  stopMock,
  stopReplay,
  urlIsLoopback,
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

describe('sessions, replay, mock and diff commands', () => {
  it('pass the documented camelCase arguments', async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === 'list_sessions_sorted' || cmd === 'search_payloads' || cmd === 'list_mocks') return [];
      if (cmd === 'export_session') return '/home/me/Downloads/sockscope-session-3.har';
      if (cmd === 'url_is_loopback') return false;
      return null;
    });
    await listSessionsSorted('size');
    await renameSession(3, 'feed');
    await setSessionNotes(3, 'n');
    await setSessionTags(3, ['a', 'b']);
    await setSessionPinned(3, true);
    await deleteSession(3);
    await searchPayloads('ticker btc', 50);
    await searchPayloads('x');
    expect(await exportSession(3, 'har')).toBe('/home/me/Downloads/sockscope-session-3.har');
    await replayPlan(3);
    await replayPlan(3, 7);
    expect(await urlIsLoopback('wss://example.com/')).toBe(false);
    await stopReplay(9);
    await startMock({ sessionId: 3, connectionId: null, listen: '127.0.0.1:0', mode: 'conversational' });
    await startMock({ sessionId: 3, connectionId: 7, listen: '127.0.0.1:0', mode: 'timed', speed: 2 });
    await stopMock(10);
    await listMocks();
    await diffConnections(1, 2, ['ts', '$.meta.id']);
    expect(calls).toEqual([
      ['list_sessions_sorted', { sort: 'size' }],
      ['rename_session', { sessionId: 3, name: 'feed' }],
      ['set_session_notes', { sessionId: 3, notes: 'n' }],
      ['set_session_tags', { sessionId: 3, tags: ['a', 'b'] }],
      ['set_session_pinned', { sessionId: 3, pinned: true }],
      ['delete_session', { sessionId: 3 }],
      ['search_payloads', { query: 'ticker btc', limit: 50 }],
      ['search_payloads', { query: 'x' }],
      ['export_session', { sessionId: 3, format: 'har' }],
      ['replay_plan', { sessionId: 3 }],
      ['replay_plan', { sessionId: 3, connectionId: 7 }],
      ['url_is_loopback', { url: 'wss://example.com/' }],
      ['stop_replay', { sessionId: 9 }],
      ['start_mock', { sessionId: 3, listen: '127.0.0.1:0', mode: 'conversational' }],
      ['start_mock', { sessionId: 3, connectionId: 7, listen: '127.0.0.1:0', mode: 'timed', speed: 2 }],
      ['stop_mock', { sessionId: 10 }],
      ['list_mocks', {}],
      ['diff_connections', { left: 1, right: 2, ignore: ['ts', '$.meta.id'] }],
    ]);
  });

  it('import_data sends the raw bytes with the file name in a header', async () => {
    const seen: { cmd: string; args: unknown; options: unknown }[] = [];
    mockIPC(() => ({ session: 12, format: 'har', connections: 1, frames: 3 }));
    const internals = (globalThis as unknown as { __TAURI_INTERNALS__: { invoke: (c: string, a: unknown, o?: unknown) => Promise<unknown> } })
      .__TAURI_INTERNALS__;
    const base = internals.invoke;
    internals.invoke = (cmd, args, options) => {
      seen.push({ cmd, args, options });
      return base(cmd, args, options);
    };
    const bytes = new TextEncoder().encode('{"log":{}}');
    expect(await importData(bytes, 'chrome.har')).toEqual({ session: 12, format: 'har', connections: 1, frames: 3 });
    await importData(bytes, 'café – 日本.jsonl');
    expect(seen[0].cmd).toBe('import_data');
    expect(seen[0].args).toBe(bytes);
    expect(seen[0].options).toEqual({ headers: { 'x-file-name': 'chrome.har' } });
    // Header values are printable ASCII: anything else would make the request fail.
    expect(seen[1].options).toEqual({ headers: { 'x-file-name': 'caf_ _ __.jsonl' } });
  });

  it('headerSafe keeps printable ASCII only', () => {
    expect(headerSafe('a.har')).toBe('a.har');
    expect(headerSafe('  x\r\ny.jsonl ')).toBe('x__y.jsonl');
    expect(headerSafe('日本')).toBe('__');
    expect(headerSafe('')).toBe('import');
  });

  it('startReplay passes a progress Channel and delivers its messages', async () => {
    let channelId = -1;
    let got: Record<string, unknown> = {};
    mockIPC((cmd, args) => {
      expect(cmd).toBe('start_replay');
      got = { ...(args as Record<string, unknown>) };
      channelId = (got.progress as { id: number }).id;
      return { session_id: 5, connection_id: 9, total: 4 };
    });
    const msgs: unknown[] = [];
    const started = await startReplay(
      { sessionId: 1, connectionId: 2, url: 'ws://127.0.0.1:9/', mode: 'timed', speed: 2, headers: [['Origin', 'x']], confirmedRemote: false },
      (m) => msgs.push(m),
    );
    expect(started).toEqual({ session_id: 5, connection_id: 9, total: 4 });
    const { progress: _p, ...rest } = got;
    expect(rest).toEqual({ sessionId: 1, connectionId: 2, url: 'ws://127.0.0.1:9/', mode: 'timed', speed: 2, headers: [['Origin', 'x']], confirmedRemote: false });
    const internals = (globalThis as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, d: unknown): void } }).__TAURI_INTERNALS__;
    const msg = { sent: 1, total: 4, received: 0, state: 'running', error: null };
    internals.runCallback(channelId, { index: 0, message: msg });
    expect(msgs).toEqual([msg]);
  });
});
