import { describe, expect, it, vi } from 'vitest';
import { AppState, type Api } from './app.svelte';
import { IpcError } from '../ipc/commands';
import type { CaInfo, ConnectionInfo, ProxyInfo, SessionSummary, StreamMsg } from '../ipc/types';
import type { Scheduler } from './frameQueue';
import { connMsg, framesMsg, mkConn, mkFrame, timelineStub } from '../test/fixtures';
import { fakeWorkbenchApi } from '../test/workbenchFake';

function manualScheduler(): Scheduler & { tick(): void; pending(): number } {
  const cbs = new Set<() => void>();
  return {
    schedule(cb) {
      cbs.add(cb);
      return () => cbs.delete(cb);
    },
    tick() {
      const all = [...cbs];
      cbs.clear();
      all.forEach((cb) => cb());
    },
    pending: () => cbs.size,
  };
}

function session(id: number, kind: SessionSummary['kind'] = 'client'): SessionSummary {
  return {
    id,
    name: `s${id}`,
    kind,
    created_at: '2026-11-26T15:20:13.123Z',
    connections: 1,
    frames: 0,
    insecure: false,
    pinned: false,
    tags: [],
    notes: '',
    origin_session_id: null,
    origin_connection_id: null,
    imported_from: null,
    bytes: 0,
  };
}

/** A fake shell: records calls; the test pushes stream messages through `emit`. */
function fakeApi() {
  const subs: { sessionId: number; afterSeq: number; onMsg: (m: StreamMsg) => void; closed: boolean }[] = [];
  const conns: Record<number, ConnectionInfo[]> = { 1: [mkConn(1)], 2: [mkConn(7, { session_id: 2 })] };
  let nextConn = 10;
  const running: ProxyInfo[] = [];
  const sessions: SessionSummary[] = [session(2), session(1)];
  const ca: CaInfo = {
    path: '/home/me/.local/share/sockscope/ca/ca-cert.pem',
    common_name: 'Sockscope Local CA (00000001)',
    fingerprint: 'AA:BB:CC:DD:EE:FF:00:11:22:33',
    spki_sha256: 'c3BraQ==',
    pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  };
  const api: Api = {
    listSessions: vi.fn(async () => sessions.slice()),
    listConnections: vi.fn(async (id: number) => conns[id] ?? []),
    connect: vi.fn(async (url: string) => {
      if (!/^wss?:\/\//.test(url)) throw new IpcError('connect', 'command', `invalid URL: ${url}`);
      const c = mkConn(nextConn++, { session_id: 3, url, state: 'connecting', opened_at_us: null });
      conns[3] = [c];
      return c;
    }),
    sendText: vi.fn(async () => {}),
    disconnect: vi.fn(async () => {}),
    getPayload: vi.fn(async (_s: number, seq: number) => new TextEncoder().encode(`payload ${seq}`)),
    subscribeSession: vi.fn(async (sessionId: number, afterSeq: number, onMsg: (m: StreamMsg) => void) => {
      const sub = { sessionId, afterSeq, onMsg, closed: false };
      subs.push(sub);
      return { close: () => (sub.closed = true) };
    }),
    startProxy: vi.fn(async (listen: string, upstream?: string | null) => {
      if (listen.startsWith('0.0.0.0')) {
        throw new IpcError('start_proxy', 'command', `cannot listen on ${listen}: not a loopback address`);
      }
      if (running.some((p) => p.listen === listen)) {
        throw new IpcError('start_proxy', 'command', `cannot listen on ${listen}: Address already in use (os error 98)`);
      }
      const id = 20 + running.length;
      const info: ProxyInfo = {
        session_id: id,
        listen,
        upstream: upstream ?? null,
        ca_fingerprint: upstream ? null : 'AA:BB:CC:DD:EE:FF:00:11:22:33',
      };
      running.push(info);
      sessions.unshift({ ...session(id, 'proxy'), connections: 0 });
      conns[id] = [];
      return info;
    }),
    stopProxy: vi.fn(async (sessionId: number) => {
      const i = running.findIndex((p) => p.session_id === sessionId);
      if (i < 0) throw new IpcError('stop_proxy', 'command', `no listener records into session ${sessionId}`);
      running.splice(i, 1);
    }),
    listProxies: vi.fn(async () => running.slice()),
    injectText: vi.fn(async () => {}),
    injectFrame: vi.fn(async () => {}),
    caInfo: vi.fn(async () => ({ ...ca })),
    caRegenerate: vi.fn(async () => {
      ca.fingerprint = 'NE:W0';
      ca.common_name = 'Sockscope Local CA (00000002)';
      return { ...ca };
    }),
    listSessionsSorted: vi.fn(async () => sessions.slice()),
    renameSession: vi.fn(async () => {}),
    setSessionNotes: vi.fn(async () => {}),
    setSessionTags: vi.fn(async () => {}),
    setSessionPinned: vi.fn(async () => {}),
    deleteSession: vi.fn(async () => {}),
    searchPayloads: vi.fn(async () => []),
    importData: vi.fn(async () => ({ session: 99, format: 'jsonl' as const, connections: 1, frames: 1 })),
    exportSession: vi.fn(async () => '/home/me/Downloads/sockscope-session-1.jsonl'),
    replayPlan: vi.fn(async () => {
      throw new IpcError('replay_plan', 'command', 'not in this fake');
    }),
    urlIsLoopback: vi.fn(async () => true),
    startReplay: vi.fn(async () => {
      throw new IpcError('start_replay', 'command', 'not in this fake');
    }),
    stopReplay: vi.fn(async () => {}),
    startMock: vi.fn(async () => {
      throw new IpcError('start_mock', 'command', 'not in this fake');
    }),
    stopMock: vi.fn(async () => {}),
    listMocks: vi.fn(async () => []),
    ...timelineStub(),
    diffConnections: vi.fn(async () => {
      throw new IpcError('diff_connections', 'command', 'not in this fake');
    }),
  };
  return { api, subs, conns, running, sessions, ca };
}

function setup() {
  const f = fakeApi();
  const sched = manualScheduler();
  const app = new AppState({ api: f.api, scheduler: sched, refreshMs: 1_000_000, workbench: { api: fakeWorkbenchApi().api } });
  return { ...f, sched, app };
}

describe('AppState', () => {
  it('loads sessions on init', async () => {
    const { app } = setup();
    await app.init();
    expect(app.sessions.map((s) => s.id)).toEqual([2, 1]);
    expect(app.sessionsError).toBeNull();
  });

  it('selecting a session lists connections, then subscribes from seq 0', async () => {
    const { app, api, subs } = setup();
    await app.selectSession(1);
    expect(api.listConnections).toHaveBeenCalledWith(1);
    expect(subs).toHaveLength(1);
    expect(subs[0]).toMatchObject({ sessionId: 1, afterSeq: 0 });
    expect(app.connections.map((c) => c.id)).toEqual([1]);
    expect(app.current?.id).toBe(1);
  });

  it('applies stream messages once per animation frame', async () => {
    const { app, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg(framesMsg(1, 2, 3));
    subs[0].onMsg(framesMsg(4));
    expect(app.frameCount).toBe(0); // nothing before the frame
    expect(sched.pending()).toBe(1);
    sched.tick();
    expect(app.frameCount).toBe(4);
    expect([0, 1, 2, 3].map((i) => app.timeline.frameAt(i)?.seq)).toEqual([1, 2, 3, 4]);
    expect(app.timeline.count).toBe(4);
    subs[0].onMsg(connMsg(mkConn(1, { state: 'closed', close_code: 1000, close_reason: 'bye', closed_by: 'server' })));
    sched.tick();
    expect(app.current?.state).toBe('closed');
    expect(app.currentLive).toBe(false);
  });

  it('ignores the previous session stream after a switch', async () => {
    const { app, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg(framesMsg(1, 2));
    await app.selectSession(2);
    expect(subs[0].closed).toBe(true);
    subs[0].onMsg(framesMsg(3)); // late message of session 1
    sched.tick();
    expect(app.frameCount).toBe(0);
    subs[1].onMsg(framesMsg(1));
    sched.tick();
    expect(app.frameCount).toBe(1);
    expect(app.current?.id).toBe(7);
  });

  it('connect makes a new session, selects it and subscribes', async () => {
    const { app, api, subs } = setup();
    await app.connect('  ws://127.0.0.1:9001/echo ');
    expect(api.connect).toHaveBeenCalledWith('ws://127.0.0.1:9001/echo');
    expect(app.selectedSessionId).toBe(3);
    expect(subs.at(-1)?.sessionId).toBe(3);
    expect(app.current?.state).toBe('connecting');
    expect(app.currentLive).toBe(true);
    expect(api.listSessionsSorted).toHaveBeenCalled();
    expect(app.connectError).toBeNull();
  });

  it('shows a rejected connect inline', async () => {
    const { app } = setup();
    await app.connect('http://nope');
    expect(app.connectError).toBe('invalid URL: http://nope');
    expect(app.connectPending).toBe(false);
    expect(app.backendError).toBeNull();
    await app.connect('   ');
    expect(app.connectError).toMatch(/Enter a ws/);
  });

  it('sends only on an open connection and reports errors inline', async () => {
    const { app, api, subs, sched } = setup();
    await app.selectSession(1);
    expect(await app.send('hi')).toBe(true);
    expect(api.sendText).toHaveBeenCalledWith(1, 'hi');

    vi.mocked(api.sendText).mockRejectedValueOnce(new IpcError('send_text', 'command', 'connection is not open'));
    expect(await app.send('again')).toBe(false);
    expect(app.sendError).toBe('connection is not open');

    subs[0].onMsg(connMsg(mkConn(1, { state: 'closed' })));
    sched.tick();
    expect(await app.send('late')).toBe(false);
    expect(api.sendText).toHaveBeenCalledTimes(2);
  });

  it('disconnect targets the current connection', async () => {
    const { app, api } = setup();
    await app.selectSession(1);
    await app.disconnect();
    expect(api.disconnect).toHaveBeenCalledWith(1);
  });

  it('fetches the payload of the selected frame and drops stale answers', async () => {
    const { app, api, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg(framesMsg(1, 2, 3));
    sched.tick();
    let release!: () => void;
    vi.mocked(api.getPayload).mockImplementationOnce(
      (_s, seq) => new Promise((res) => (release = () => res(new TextEncoder().encode(`slow ${seq}`)))),
    );
    const slow = app.selectFrame(1);
    expect(app.payload).toEqual({ seq: 1, inflated: false, status: 'loading' });
    await app.selectFrame(2);
    release();
    await slow;
    expect(app.selectedSeq).toBe(2);
    expect(app.payload?.status).toBe('ready');
    expect(app.payload?.seq).toBe(2);
    expect(app.selectedFrame?.seq).toBe(2);
  });

  it('counts frames per connection: recorded ones, then streamed ones', async () => {
    const { app, api, subs, sched } = setup();
    vi.mocked(api.timelineCount).mockResolvedValueOnce({ count: 5, complete: true, scanned_seq: 5, last_seq: 5 });
    vi.mocked(api.connectionFrameCounts).mockResolvedValueOnce([[1, 5]]);
    await app.selectSession(1);
    expect(subs[0].afterSeq).toBe(5); // only frames after the counted ones stream in
    expect(api.connectionFrameCounts).not.toHaveBeenCalled(); // only when shown
    app.framesOfConnection(1);
    expect(api.connectionFrameCounts).toHaveBeenCalledWith(1, 5);
    await Promise.resolve();
    await Promise.resolve();
    expect(app.framesOfConnection(1)).toBe(5);
    expect(api.connectionFrameCounts).toHaveBeenCalledTimes(1);
    subs[0].onMsg(framesMsg(6, 7));
    sched.tick();
    expect(app.framesOfConnection(1)).toBe(7);
    expect(app.frameCount).toBe(7);
  });

  it('moves the selection with clamping', async () => {
    const { app, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg(framesMsg(1, 2, 3));
    sched.tick();
    expect(app.moveSelection(1)).toBe(0);
    expect(app.selectedSeq).toBe(1);
    expect(app.moveSelection(5)).toBe(2);
    expect(app.selectedSeq).toBe(3);
    expect(app.moveSelection(-1)).toBe(1);
    expect(app.selectedSeq).toBe(2);
  });

  it('raises the banner when there is no Tauri IPC', async () => {
    const { app, api } = setup();
    vi.mocked(api.listSessionsSorted).mockRejectedValueOnce(
      new IpcError('list_sessions_sorted', 'unavailable', 'backend not reachable'),
    );
    await app.init();
    expect(app.backendError).toBe('backend not reachable');
    expect(app.sessionsError).toBe('backend not reachable');
  });
});

describe('AppState: capture proxy', () => {
  it('loads running listeners on init and when the panel opens', async () => {
    const { app, api, running } = setup();
    await app.init();
    expect(api.listProxies).toHaveBeenCalledTimes(1);
    expect(app.proxies).toEqual([]);
    running.push({ session_id: 9, listen: '127.0.0.1:8090', upstream: null, ca_fingerprint: 'AB' });
    app.toggleProxy();
    expect(app.proxyOpen).toBe(true);
    await vi.waitFor(() => expect(app.proxies.map((p) => p.session_id)).toEqual([9]));
    app.toggleProxy();
    expect(app.proxyOpen).toBe(false);
    expect(api.listProxies).toHaveBeenCalledTimes(2);
  });

  it('starts a reverse listener, selects its session and refreshes the sessions', async () => {
    const { app, api, subs } = setup();
    await app.init();
    app.proxyListen = ' 127.0.0.1:8080 ';
    app.proxyUpstream = ' ws://127.0.0.1:9000 ';
    const info = await app.startProxy();
    expect(api.startProxy).toHaveBeenCalledWith('127.0.0.1:8080', 'ws://127.0.0.1:9000');
    expect(info?.session_id).toBe(20);
    expect(app.proxies.map((p) => p.session_id)).toEqual([20]);
    expect(app.selectedSessionId).toBe(20);
    expect(subs.at(-1)).toMatchObject({ sessionId: 20, afterSeq: 0 });
    expect(app.sessions[0]).toMatchObject({ id: 20, kind: 'proxy' });
    expect(app.isProxy).toBe(true);
    expect(app.proxyError).toBeNull();
  });

  it('an empty upstream starts a forward proxy (null upstream)', async () => {
    const { app, api } = setup();
    app.proxyUpstream = '   ';
    await app.startProxy();
    expect(api.startProxy).toHaveBeenCalledWith('127.0.0.1:8080', null);
  });

  it('shows start errors inline and keeps the current selection', async () => {
    const { app, api } = setup();
    await app.selectSession(1);
    app.proxyListen = '0.0.0.0:8080';
    expect(await app.startProxy()).toBeNull();
    expect(app.proxyError).toMatch(/not a loopback address/);
    expect(app.proxyPending).toBe(false);
    expect(app.selectedSessionId).toBe(1);
    expect(app.backendError).toBeNull();

    app.proxyListen = '  ';
    await app.startProxy();
    expect(app.proxyError).toMatch(/Enter an address to listen on/);
    expect(api.startProxy).toHaveBeenCalledTimes(1);
  });

  it('stops a listener and drops it from the list; errors stay inline', async () => {
    const { app, api } = setup();
    await app.startProxy();
    app.proxyListen = '127.0.0.1:8081';
    await app.startProxy();
    expect(app.proxies.map((p) => p.session_id)).toEqual([20, 21]);
    await app.stopProxy(20);
    expect(api.stopProxy).toHaveBeenCalledWith(20);
    expect(app.proxies.map((p) => p.session_id)).toEqual([21]);
    expect(app.proxyStopping).toEqual([]);
    await app.stopProxy(20);
    expect(app.proxyError).toBe('no listener records into session 20');
  });

  it('a proxy session follows new proxied connections live and injects into the latest open one', async () => {
    const { app, api, subs, sched } = setup();
    const info = await app.startProxy();
    const sid = info!.session_id;
    const sub = subs.at(-1)!;
    expect(app.current).toBeNull();
    sub.onMsg(connMsg(mkConn(31, { session_id: sid, state: 'open' })));
    sched.tick();
    expect(app.connections.map((c) => c.id)).toEqual([31]);
    expect(app.current?.id).toBe(31);
    // A newer connection still handshaking does not take over the composer...
    sub.onMsg(connMsg(mkConn(32, { session_id: sid, state: 'connecting', opened_at_us: null })));
    sched.tick();
    expect(app.connections.map((c) => c.id)).toEqual([31, 32]);
    expect(app.current?.id).toBe(31);
    // ...until it is open.
    sub.onMsg(connMsg(mkConn(32, { session_id: sid, state: 'open' })));
    sched.tick();
    expect(app.current?.id).toBe(32);

    expect(await app.send('hello')).toBe(true);
    expect(api.injectText).toHaveBeenLastCalledWith(sid, 32, 'server', 'hello');
    expect(api.sendText).not.toHaveBeenCalled();

    app.setInjectToward('client');
    app.pinConnection(31);
    expect(await app.send('to the client')).toBe(true);
    expect(api.injectText).toHaveBeenLastCalledWith(sid, 31, 'client', 'to the client');

    vi.mocked(api.injectText).mockRejectedValueOnce(new IpcError('inject_text', 'command', 'connection 31 is not live'));
    expect(await app.send('late')).toBe(false);
    expect(app.sendError).toBe('connection 31 is not live');

    // A pinned connection that closed is not replaced by another one: nothing is sent.
    sub.onMsg(connMsg(mkConn(31, { session_id: sid, state: 'closed' })));
    sched.tick();
    expect(app.current?.id).toBe(31);
    expect(await app.send('x')).toBe(false);
    expect(app.sendError).toMatch(/No live proxied connection/);
    expect(api.injectText).toHaveBeenCalledTimes(3);
  });

  it('picking a frame hides the proxy panel', async () => {
    const { app, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg(framesMsg(1, 2));
    sched.tick();
    app.toggleProxy(true);
    await app.selectFrame(null);
    expect(app.proxyOpen).toBe(true);
    await app.selectFrame(2);
    expect(app.proxyOpen).toBe(false);
  });

  it('pickSession puts a client session URL in the URL box, not a proxy one', async () => {
    const { app, conns } = setup();
    await app.pickSession(1);
    expect(app.urlDraft).toBe('ws://127.0.0.1:9001/echo');
    app.urlDraft = 'ws://mine/';
    const info = await app.startProxy();
    conns[info!.session_id] = [mkConn(40, { session_id: info!.session_id, url: 'ws://127.0.0.1:9000/feed' })];
    await app.pickSession(1);
    await app.pickSession(info!.session_id);
    expect(app.selectedSessionId).toBe(info!.session_id);
    expect(app.urlDraft).toBe('ws://127.0.0.1:9001/echo');
  });
});

describe('AppState: local CA', () => {
  it('reads the CA each time the panel opens, not while it stays open', async () => {
    const { app, api } = setup();
    await app.init();
    expect(api.caInfo).not.toHaveBeenCalled();
    app.toggleProxy(true);
    expect(app.caLoading).toBe(true);
    await vi.waitFor(() => expect(app.ca?.common_name).toBe('Sockscope Local CA (00000001)'));
    expect(app.caLoading).toBe(false);
    app.toggleProxy(true); // already open
    app.toggleProxy(false);
    expect(api.caInfo).toHaveBeenCalledTimes(1);
    app.toggleProxy();
    await vi.waitFor(() => expect(api.caInfo).toHaveBeenCalledTimes(2));
  });

  it('regenerates and shows the new CA; errors stay inline', async () => {
    const { app, api } = setup();
    await app.loadCa();
    expect(app.ca?.fingerprint).toBe('AA:BB:CC:DD:EE:FF:00:11:22:33');
    expect(await app.regenerateCa()).toBe(true);
    expect(api.caRegenerate).toHaveBeenCalledTimes(1);
    expect(app.ca).toMatchObject({ fingerprint: 'NE:W0', common_name: 'Sockscope Local CA (00000002)' });
    expect(app.caRegenerating).toBe(false);

    vi.mocked(api.caRegenerate).mockRejectedValueOnce(new IpcError('ca_regenerate', 'command', 'cannot write ca-key.pem: read-only'));
    expect(await app.regenerateCa()).toBe(false);
    expect(app.caError).toBe('cannot write ca-key.pem: read-only');
    expect(app.ca?.fingerprint).toBe('NE:W0'); // the current CA stays shown
    expect(app.backendError).toBeNull();

    vi.mocked(api.caInfo).mockRejectedValueOnce(new IpcError('ca_info', 'command', 'ca-cert.pem is corrupt'));
    await app.loadCa();
    expect(app.caError).toBe('ca-cert.pem is corrupt');
    await app.loadCa();
    expect(app.caError).toBeNull();
  });

  it('a slow ca_info answer does not overwrite a regenerated CA', async () => {
    const { app, api } = setup();
    let answer: (v: Awaited<ReturnType<Api['caInfo']>>) => void = () => {};
    vi.mocked(api.caInfo).mockImplementationOnce(() => new Promise((ok) => (answer = ok)));
    const loading = app.loadCa();
    await app.regenerateCa();
    answer({ path: '/old', common_name: 'old', fingerprint: 'OL:D0', spki_sha256: '', pem: '' });
    await loading;
    expect(app.ca?.fingerprint).toBe('NE:W0');
  });
});

describe('AppState: injecting frames', () => {
  it('injects any frame kind into the current proxied connection', async () => {
    const { app, api, subs, sched } = setup();
    const info = await app.startProxy();
    const sid = info!.session_id;
    subs.at(-1)!.onMsg(connMsg(mkConn(31, { session_id: sid, state: 'open' })));
    sched.tick();
    expect(await app.injectFrame('binary', '3q2+7w==')).toBe(true);
    expect(api.injectFrame).toHaveBeenLastCalledWith(sid, 31, 'server', 'binary', '3q2+7w==');
    app.setInjectToward('client');
    expect(await app.injectFrame('close', 'A+g=')).toBe(true);
    expect(api.injectFrame).toHaveBeenLastCalledWith(sid, 31, 'client', 'close', 'A+g=');
    expect(api.injectText).not.toHaveBeenCalled();

    vi.mocked(api.injectFrame).mockRejectedValueOnce(new IpcError('inject_frame', 'command', 'control frames carry at most 125 bytes'));
    expect(await app.injectFrame('ping', 'AA==')).toBe(false);
    expect(app.sendError).toBe('control frames carry at most 125 bytes');
    expect(app.sending).toBe(false);
  });

  it('does not inject outside a proxy session or without a live connection', async () => {
    const { app, api } = setup();
    await app.selectSession(1);
    expect(await app.injectFrame('binary', '')).toBe(false);
    expect(app.sendError).toMatch(/proxy session only/);
    await app.startProxy();
    expect(await app.injectFrame('binary', '')).toBe(false);
    expect(app.sendError).toMatch(/No live proxied connection/);
    expect(api.injectFrame).not.toHaveBeenCalled();
  });

  it('keeps the kind and encoding; changing them clears a send error', () => {
    const { app } = setup();
    expect(app.injectKind).toBe('text');
    expect(app.binaryEncoding).toBe('hex');
    app.sendError = 'old';
    app.setInjectKind('close');
    expect(app.sendError).toBeNull();
    app.sendError = 'old';
    app.setBinaryEncoding('base64');
    expect(app.sendError).toBeNull();
    expect([app.injectKind, app.binaryEncoding]).toEqual(['close', 'base64']);
  });
});

describe('AppState: inflated payloads', () => {
  function compressed(seq: number) {
    return mkFrame(seq, { rsv1: true, len: 35, inflated_len: 1234, dir: 'server' });
  }

  it('fetches compressed frames inflated, the Wire toggle refetches the wire bytes and sticks', async () => {
    const { app, api, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg({ kind: 'frames', frames: [mkFrame(1), compressed(2), compressed(3)] });
    sched.tick();
    const calls = () => vi.mocked(api.getPayload).mock.calls.map((c) => c.slice());

    await app.selectFrame(1);
    expect(calls()).toEqual([[1, 1]]); // a plain frame: the plain call
    expect(app.payload).toMatchObject({ seq: 1, inflated: false, status: 'ready' });

    await app.selectFrame(2);
    expect(calls()[1]).toEqual([1, 2, { inflated: true }]);
    expect(app.payload).toMatchObject({ seq: 2, inflated: true, status: 'ready' });

    await app.setPayloadWire(true);
    expect(calls()[2]).toEqual([1, 2, { inflated: false }]);
    expect(app.payload).toMatchObject({ seq: 2, inflated: false, status: 'ready' });
    await app.setPayloadWire(true); // unchanged: no refetch
    expect(calls()).toHaveLength(3);

    // The choice sticks for the next compressed frame; plain frames ignore it.
    await app.selectFrame(3);
    expect(calls()[3]).toEqual([1, 3, { inflated: false }]);
    await app.selectFrame(1);
    expect(calls()[4]).toEqual([1, 1]);
    await app.setPayloadWire(false);
    expect(calls()).toHaveLength(5); // a plain frame's payload does not change
    await app.selectFrame(2);
    expect(calls()[5]).toEqual([1, 2, { inflated: true }]);
  });

  it('a stale answer of the other variant is dropped', async () => {
    const { app, api, subs, sched } = setup();
    await app.selectSession(1);
    subs[0].onMsg({ kind: 'frames', frames: [compressed(1)] });
    sched.tick();
    let answer: (b: Uint8Array) => void = () => {};
    vi.mocked(api.getPayload).mockImplementationOnce(() => new Promise((ok) => (answer = ok)));
    const first = app.selectFrame(1);
    const wire = app.setPayloadWire(true);
    await wire;
    answer(new TextEncoder().encode('inflated, too late'));
    await first;
    expect(app.payload).toMatchObject({ seq: 1, inflated: false, status: 'ready' });
    expect(new TextDecoder().decode((app.payload as { bytes: Uint8Array }).bytes)).toBe('payload 1');
  });
});
