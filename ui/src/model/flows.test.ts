// The organise, search, import/export, replay, mock and diff flows of AppState, against a
// fake shell.
import { describe, expect, it, vi } from 'vitest';
import { AppState, type Api } from './app.svelte';
import { IpcError } from '../ipc/commands';
import type { MockInfo, ReplayPlan, ReplayProgressMsg, SessionSummary, StreamMsg } from '../ipc/types';
import type { Scheduler } from './frameQueue';
import { mkConn, mkFrame, mkSession, timelineStub } from '../test/fixtures';
import { rowsFromHeaders } from './headers';
import { fakeWorkbenchApi } from '../test/workbenchFake';

const noScheduler: Scheduler = { schedule: () => () => {} };

const PLAN: ReplayPlan = {
  origin_session_id: 1,
  origin_connection_id: 1,
  url: 'wss://stream.example.test/feed',
  url_is_loopback: false,
  headers: [['Origin', 'https://app.example.test']],
  subprotocols: [],
  client_messages: 3,
  server_messages: 7,
};

function setup() {
  let sessions: SessionSummary[] = [mkSession(2, { frames: 5 }), mkSession(1, { frames: 1234, connections: 1 })];
  const subs: { sessionId: number; onMsg: (m: StreamMsg) => void }[] = [];
  let progress: ((m: ReplayProgressMsg) => void) | null = null;
  const unsupported = (name: string) => async () => {
    throw new IpcError(name, 'command', 'not here');
  };
  const api: Api = {
    listSessions: vi.fn(async () => sessions.slice()),
    listSessionsSorted: vi.fn(async () => sessions.slice()),
    listConnections: vi.fn(async (id: number) => (id === 1 ? [mkConn(1)] : id === 5 ? [mkConn(9, { session_id: 5 })] : [])),
    connect: unsupported('connect'),
    sendText: vi.fn(async () => {}),
    disconnect: vi.fn(async () => {}),
    getPayload: vi.fn(async () => new Uint8Array([104, 105])),
    subscribeSession: vi.fn(async (sessionId: number, _after: number, onMsg: (m: StreamMsg) => void) => {
      subs.push({ sessionId, onMsg });
      return { close: () => {} };
    }),
    startProxy: unsupported('start_proxy'),
    stopProxy: vi.fn(async () => {}),
    listProxies: vi.fn(async () => []),
    injectText: vi.fn(async () => {}),
    injectFrame: vi.fn(async () => {}),
    caInfo: unsupported('ca_info'),
    caRegenerate: unsupported('ca_regenerate'),
    renameSession: vi.fn(async (id: number, name: string) => {
      sessions = sessions.map((s) => (s.id === id ? { ...s, name } : s));
    }),
    setSessionNotes: vi.fn(async () => {}),
    setSessionTags: vi.fn(async () => {}),
    setSessionPinned: vi.fn(async () => {}),
    deleteSession: vi.fn(async (id: number) => {
      sessions = sessions.filter((s) => s.id !== id);
    }),
    searchPayloads: vi.fn(async () => [{ session: 1, seq: 40, connection: 1, ts_us: 1, snippet: '…"trade"…' }]),
    importData: vi.fn(async () => {
      sessions = [mkSession(7, { imported_from: 'a.har' }), ...sessions];
      return { session: 7, format: 'har' as const, connections: 3, frames: 1234 };
    }),
    exportSession: vi.fn(async (id: number, format: string) => `/home/me/Downloads/sockscope-session-${id}.${format}`),
    replayPlan: vi.fn(async () => ({ ...PLAN })),
    urlIsLoopback: vi.fn(async (url: string) => url.includes('127.0.0.1')),
    startReplay: vi.fn(async (_args, onProgress) => {
      progress = onProgress;
      onProgress({ sent: 0, total: 3, received: 0, state: 'connecting', error: null });
      sessions = [mkSession(5, { kind: 'replay', origin_session_id: 1, origin_connection_id: 1 }), ...sessions];
      return { session_id: 5, connection_id: 9, total: 3 };
    }),
    stopReplay: vi.fn(async () => {}),
    startMock: vi.fn(async (): Promise<MockInfo> => ({ session_id: 6, origin_session_id: 1, listen: '127.0.0.1:41000', url: 'ws://127.0.0.1:41000/', mode: 'timed' })),
    stopMock: vi.fn(async () => {}),
    listMocks: vi.fn(async () => []),
    ...timelineStub(),
    diffConnections: vi.fn(async () => ({
      summary: { identical: 1, changed: 1, missing: 0, extra: 0, left_messages: 2, right_messages: 2 },
      rows: [
        { dir: 'server' as const, status: 'identical' as const, json: true, changes: [], left: null, right: null },
        { dir: 'server' as const, status: 'changed' as const, json: true, changes: [{ path: '$.a', kind: 'changed' as const, left: '1', right: '2' }], left: null, right: null },
      ],
    })),
  };
  const app = new AppState({ api, scheduler: noScheduler, refreshMs: 1_000_000, workbench: { api: fakeWorkbenchApi().api } });
  return { app, api, subs, emit: (m: ReplayProgressMsg) => progress?.(m) };
}

describe('organise', () => {
  it('renames (trimmed), refusing empty names without calling the shell', async () => {
    const { app, api } = setup();
    await app.init();
    app.startRename(1);
    expect(await app.rename(1, '   ')).toBe(false);
    expect(app.renameError).toBe('A session name cannot be empty.');
    expect(api.renameSession).not.toHaveBeenCalled();
    expect(await app.rename(1, '  feed  ')).toBe(true);
    expect(api.renameSession).toHaveBeenCalledWith(1, 'feed');
    expect(app.sessions.find((s) => s.id === 1)?.name).toBe('feed');
    expect(app.renamingId).toBeNull();
    // Unchanged: nothing to do.
    expect(await app.rename(1, 'feed')).toBe(true);
    expect(api.renameSession).toHaveBeenCalledTimes(1);
  });

  it('shows a rename rejection inline', async () => {
    const { app, api } = setup();
    await app.init();
    vi.mocked(api.renameSession).mockRejectedValueOnce(new IpcError('rename_session', 'command', 'a session name is at most 1000 characters'));
    app.startRename(2);
    expect(await app.rename(2, 'x')).toBe(false);
    expect(app.renameError).toBe('a session name is at most 1000 characters');
    expect(app.renamingId).toBe(2);
  });

  it('deleting the selected session deselects it and lists the rest', async () => {
    const { app, api } = setup();
    await app.init();
    await app.selectSession(1);
    app.askDelete(1);
    expect(app.deleteAskId).toBe(1);
    expect(await app.deleteSession(1)).toBe(true);
    expect(api.deleteSession).toHaveBeenCalledWith(1);
    expect(app.selectedSessionId).toBeNull();
    expect(app.frameCount).toBe(0);
    expect(app.deleteAskId).toBeNull();
    expect(app.sessions.map((s) => s.id)).toEqual([2]);
  });

  it('keeps the confirmation open with the error when a delete fails', async () => {
    const { app, api } = setup();
    await app.init();
    vi.mocked(api.deleteSession).mockRejectedValueOnce(new IpcError('delete_session', 'command', 'database is locked'));
    app.askDelete(2);
    expect(await app.deleteSession(2)).toBe(false);
    expect(app.deleteError).toBe('database is locked');
    expect(app.deleteAskId).toBe(2);
    expect(app.sessions.map((s) => s.id)).toEqual([2, 1]);
  });

  it('pins, sorts, saves notes and tags', async () => {
    const { app, api } = setup();
    await app.init();
    expect(await app.setPinned(2, true)).toBe(true);
    expect(api.setSessionPinned).toHaveBeenCalledWith(2, true);
    await app.setSort('size');
    expect(api.listSessionsSorted).toHaveBeenLastCalledWith('size');
    expect(await app.saveNotes(1, 'hello')).toBe(true);
    expect(app.sessions.find((s) => s.id === 1)?.notes).toBe('hello');
    expect(await app.saveNotes(1, 'x'.repeat(100_001))).toBe(false);
    expect(app.detailsError).toMatch(/at most 100,000 characters/);
    expect(await app.saveTags(1, ['a'])).toBe(true);
    expect(app.sessions.find((s) => s.id === 1)?.tags).toEqual(['a']);
  });
});

describe('search', () => {
  it('checks the query, then shows hits; a hit selects its session and asks for its frame', async () => {
    const { app, api, subs } = setup();
    await app.init();
    await app.runSearch('  ');
    expect(app.searchError).toBe('Type something to search for.');
    expect(api.searchPayloads).not.toHaveBeenCalled();
    await app.runSearch(' trade ');
    expect(api.searchPayloads).toHaveBeenCalledWith('trade', 200);
    expect(app.searchHits).toHaveLength(1);
    expect(app.searchedFor).toBe('trade');
    await app.openHit(app.searchHits![0]);
    expect(app.selectedSessionId).toBe(1);
    expect(subs.at(-1)?.sessionId).toBe(1);
    expect(app.selectedSeq).toBe(40);
    expect(app.revealSeq).toBe(40);
    // The timeline reports it scrolled there.
    subs.at(-1)!.onMsg({ kind: 'frames', frames: [mkFrame(40)] });
    app.revealed(40);
    expect(app.revealSeq).toBeNull();
    app.clearSearch();
    expect(app.searchHits).toBeNull();
    expect(app.searchQuery).toBe('');
  });

  it('shows a search error inline', async () => {
    const { app, api } = setup();
    vi.mocked(api.searchPayloads).mockRejectedValueOnce(new IpcError('search_payloads', 'command', 'search failed: database is locked'));
    await app.runSearch('x');
    expect(app.searchError).toBe('search failed: database is locked');
    expect(app.searchHits).toEqual([]);
  });
});

describe('import and export', () => {
  const file = (name: string, text: string) => {
    const bytes = new TextEncoder().encode(text);
    return { name, size: bytes.length, arrayBuffer: async () => bytes.buffer.slice(0) as ArrayBuffer };
  };

  it('imports the bytes under the file name, then lists and selects the new session', async () => {
    const { app, api } = setup();
    await app.init();
    const summary = await app.importFile(file('a.har', '{"log":{}}'));
    expect(summary?.session).toBe(7);
    const [bytes, name] = vi.mocked(api.importData).mock.calls[0];
    expect(new TextDecoder().decode(bytes)).toBe('{"log":{}}');
    expect(name).toBe('a.har');
    expect(app.notice).toMatchObject({ kind: 'import-done', name: 'a.har', summary: { connections: 3, frames: 1234 } });
    expect(app.sessions[0].id).toBe(7);
    await vi.waitFor(() => expect(app.selectedSessionId).toBe(7));
  });

  it('refuses empty files before reading, and shows the shell\'s error with its line', async () => {
    const { app, api } = setup();
    expect(await app.importFile(file('empty.jsonl', ''))).toBeNull();
    expect(app.notice).toEqual({ kind: 'import-error', name: 'empty.jsonl', error: 'empty.jsonl is empty.' });
    expect(api.importData).not.toHaveBeenCalled();
    vi.mocked(api.importData).mockRejectedValueOnce(new IpcError('import_data', 'command', 'line 3: field "opcode": unknown opcode "foo"'));
    expect(await app.importFile(file('b.jsonl', '{}'))).toBeNull();
    expect(app.notice).toEqual({ kind: 'import-error', name: 'b.jsonl', error: 'line 3: field "opcode": unknown opcode "foo"' });
  });

  it('says when the file cannot be read', async () => {
    const { app } = setup();
    await app.importFile({ name: 'gone.har', size: 10, arrayBuffer: () => Promise.reject(new Error('NotReadableError')) });
    expect(app.notice).toEqual({ kind: 'import-error', name: 'gone.har', error: 'The file could not be read: NotReadableError' });
  });

  it('exports and reports the path or the error', async () => {
    const { app, api } = setup();
    expect(await app.exportSession(1, 'har')).toBe('/home/me/Downloads/sockscope-session-1.har');
    expect(app.notice).toEqual({ kind: 'export-done', sessionId: 1, format: 'har', path: '/home/me/Downloads/sockscope-session-1.har' });
    vi.mocked(api.exportSession).mockRejectedValueOnce(new IpcError('export_session', 'command', 'Permission denied'));
    expect(await app.exportSession(1, 'jsonl')).toBeNull();
    expect(app.notice).toEqual({ kind: 'export-error', sessionId: 1, format: 'jsonl', error: 'Permission denied' });
    app.dismissNotice();
    expect(app.notice).toBeNull();
  });
});

describe('replay', () => {
  it('asks before a remote host, then starts with confirmedRemote and follows the progress', async () => {
    const { app, api, emit } = setup();
    await app.init();
    await app.replay.open(1);
    expect(app.panel).toBe('replay');
    expect(app.replay.url).toBe('wss://stream.example.test/feed');
    expect(app.replay.headers.map((h) => [h.key, h.value])).toEqual([['Origin', 'https://app.example.test']]);
    app.replay.mode = 'timed';
    app.replay.speed = '4';
    expect(await app.replay.start()).toBe(false);
    expect(app.replay.confirm).toEqual({ host: 'stream.example.test', messages: 3 });
    expect(api.startReplay).not.toHaveBeenCalled();
    expect(await app.replay.start(true)).toBe(true);
    expect(vi.mocked(api.startReplay).mock.calls[0][0]).toEqual({
      sessionId: 1,
      connectionId: 1,
      url: 'wss://stream.example.test/feed',
      mode: 'timed',
      speed: 4,
      headers: [['Origin', 'https://app.example.test']],
      confirmedRemote: true,
    });
    expect(app.replay.confirm).toBeNull();
    expect(app.replay.run).toMatchObject({ sessionId: 5, connectionId: 9, originConnectionId: 1 });
    expect(app.selectedSessionId).toBe(5);
    expect(app.replay.running).toBe(true);
    emit({ sent: 2, total: 3, received: 4, state: 'running', error: null });
    expect(app.replay.run?.progress).toMatchObject({ sent: 2, received: 4 });
    await app.replay.stop();
    expect(api.stopReplay).toHaveBeenCalledWith(5);
    emit({ sent: 2, total: 3, received: 4, state: 'stopped', error: null });
    expect(app.replay.running).toBe(false);
    expect(app.replay.stopping).toBe(false);
    await app.replay.compare();
    expect(api.diffConnections).toHaveBeenCalledWith(1, 9, []);
    expect(app.diff.shown).toBe(true);
  });

  it('starts at once on this machine; form problems and rejections show inline', async () => {
    const { app, api } = setup();
    await app.replay.open(1, 1);
    expect(api.replayPlan).toHaveBeenCalledWith(1, 1);
    app.replay.setUrl('ftp://127.0.0.1/');
    expect(await app.replay.start()).toBe(false);
    expect(app.replay.formError).toMatchObject({ field: 'url' });
    app.replay.setUrl('ws://127.0.0.1:9000/');
    app.replay.headers = rowsFromHeaders([['bad name', 'x']]);
    expect(await app.replay.start()).toBe(false);
    expect(app.replay.formError).toMatchObject({ field: 'headers', rowId: app.replay.headers[0].id });
    app.replay.resetForm();
    app.replay.setUrl('ws://127.0.0.1:9000/');
    app.replay.setMode('max');
    vi.mocked(api.startReplay).mockRejectedValueOnce(new IpcError('start_replay', 'command', 'connection refused'));
    expect(await app.replay.start()).toBe(false);
    expect(vi.mocked(api.startReplay).mock.calls[0][0]).toMatchObject({ mode: 'max', confirmedRemote: false });
    expect(app.replay.run).toBeNull();
    expect(app.replay.runError).toBe('connection refused');
  });

  it('shows a plan error', async () => {
    const { app, api } = setup();
    vi.mocked(api.replayPlan).mockRejectedValueOnce(new IpcError('replay_plan', 'command', 'session 3 has no connection to replay'));
    await app.replay.open(3);
    expect(app.replay.planError).toBe('session 3 has no connection to replay');
    expect(app.replay.plan).toBeNull();
  });
});

describe('mock and diff', () => {
  it('starts a mock (checked first), lists it and stops it', async () => {
    const { app, api } = setup();
    await app.init();
    app.mock.open(1);
    expect(app.panel).toBe('mock');
    app.mock.listen = ' ';
    expect(await app.mock.start()).toBeNull();
    expect(app.mock.errorField).toBe('listen');
    app.mock.listen = '127.0.0.1:0';
    const info = await app.mock.start();
    expect(api.startMock).toHaveBeenCalledWith({ sessionId: 1, connectionId: null, listen: '127.0.0.1:0', mode: 'timed', speed: 1 });
    expect(info?.url).toBe('ws://127.0.0.1:41000/');
    expect(app.mock.list).toHaveLength(1);
    expect(app.mock.isMock(6)).toBe(true);
    expect(app.selectedSessionId).toBe(6);
    await app.mock.stop(6);
    expect(api.stopMock).toHaveBeenCalledWith(6);
    expect(app.mock.list).toEqual([]);
    expect(app.mock.last).toBeNull();
  });

  it('compares two connections with the parsed ignore list, and filters rows', async () => {
    const { app, api } = setup();
    await app.init();
    await app.diff.show(1, null);
    expect(api.diffConnections).not.toHaveBeenCalled();
    await app.diff.compare();
    expect(app.diff.error).toBe('Pick a connection on each side.');
    app.diff.right = 9;
    app.diff.ignoreText = 'ts, $.meta.id';
    await app.diff.compare();
    expect(api.diffConnections).toHaveBeenCalledWith(1, 9, ['ts', '$.meta.id']);
    expect(app.diff.rows).toHaveLength(2);
    app.diff.onlyDiffs = true;
    expect(app.diff.rows.map((r) => r.status)).toEqual(['changed']);
    await vi.waitFor(() => expect(app.diff.options.map((o) => o.label)).toEqual(['#1 / #1 ws://127.0.0.1:9001/echo']));
    // Picking a session closes the comparison.
    await app.pickSession(2);
    expect(app.diff.shown).toBe(false);
  });

  it('opens a replay session against its original connection', async () => {
    const { app, api } = setup();
    await app.diff.showFor(mkSession(5, { kind: 'replay', origin_session_id: 1, origin_connection_id: 1 }));
    expect(api.diffConnections).toHaveBeenCalledWith(1, 9, []);
    expect(app.diff.resultFor).toEqual({ left: 1, right: 9, ignore: [] });
  });
});
