import { describe, expect, it, vi } from 'vitest';
import { AppState, type Api } from './app.svelte';
import type { StreamMsg } from '../ipc/types';
import { fakeWorkbenchApi, mkLink } from '../test/workbenchFake';
import { templateNameProblem } from './workbench.svelte';
import type { RepeatClock } from './repeat';
import type { VarContext } from './variables';

/** The session side of the backend: every session is empty; subscriptions are recorded. */
function sessionApi() {
  const subs: { sessionId: number; onMsg: (m: StreamMsg) => void; closed: boolean }[] = [];
  const defaults: Partial<Api> = {
    listSessionsSorted: vi.fn(async () => []),
    listConnections: vi.fn(async () => []),
    listProxies: vi.fn(async () => []),
    listMocks: vi.fn(async () => []),
    getPayload: vi.fn(async (_s: number, seq: number) => new TextEncoder().encode(`p${seq}`)),
    subscribeSession: vi.fn(async (sessionId: number, _after: number, onMsg: (m: StreamMsg) => void) => {
      const sub = { sessionId, onMsg, closed: false };
      subs.push(sub);
      return { close: () => (sub.closed = true) };
    }),
  };
  const api = new Proxy(defaults, {
    get(target, prop: string) {
      return (target as Record<string, unknown>)[prop] ?? vi.fn(async () => null);
    },
  }) as Api;
  return { api, subs };
}

const fixedCtx = (counter: number): VarContext => ({
  nowMs: Date.UTC(2026, 0, 1),
  counter,
  uuid: () => 'uuid-1',
  randomBelow: () => 0n,
});

class FakeClock implements RepeatClock {
  t = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  n = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.push({ at: this.t + ms, fn, id: ++this.n });
    return this.n;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  async advance(ms: number) {
    await new Promise((r) => setTimeout(r, 0));
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await new Promise((r) => setTimeout(r, 0));
    }
    this.t = end;
  }
}

async function setup() {
  const s = sessionApi();
  const wb = fakeWorkbenchApi();
  const clock = new FakeClock();
  const app = new AppState({
    api: s.api,
    scheduler: { schedule: () => () => {} },
    refreshMs: 1_000_000,
    workbench: { api: wb.api, clock, context: fixedCtx },
  });
  await app.init();
  return { app, wb, s, clock };
}

describe('WorkbenchState', () => {
  it('opens a link, shows its session and follows its state from the stream', async () => {
    const { app, wb, s } = await setup();
    expect(app.showWelcome).toBe(true);
    const link = await app.wb.connect({ url: 'ws://127.0.0.1:9001/a', subprotocols: ['chat'] });
    expect(link).not.toBeNull();
    expect(wb.specs[0]).toMatchObject({ url: 'ws://127.0.0.1:9001/a', subprotocols: ['chat'] });
    expect(app.selectedSessionId).toBe(link!.session_id);
    expect(s.subs.at(-1)?.sessionId).toBe(link!.session_id);
    expect(app.wb.active?.id).toBe(link!.id);
    expect(app.showWelcome).toBe(false);
    wb.update(link!.id, { state: 'open', messages_sent: 3, rtt_ms: 1.5 });
    expect(app.wb.active).toMatchObject({ state: 'open', messages_sent: 3, rtt_ms: 1.5 });
  });

  it('keeps the state the stream told before wb_connect answered', async () => {
    const { app, wb } = await setup();
    const real = wb.api.wbConnect;
    wb.api.wbConnect = vi.fn(async (spec) => {
      const l = await real(spec);
      // A local server opens before the command's answer reaches the window.
      wb.update(l.id, { state: 'open', opened_at_us: 5 });
      return l;
    });
    const link = await app.wb.connect({ url: 'ws://127.0.0.1:9001/' });
    expect(link?.state).toBe('connecting');
    expect(app.wb.active).toMatchObject({ state: 'open', opened_at_us: 5 });
  });

  it('rejects a bad URL inline', async () => {
    const { app } = await setup();
    expect(await app.wb.connect({ url: '  ' })).toBeNull();
    expect(app.wb.error).toMatch(/ws:\/\//);
    expect(await app.wb.connect({ url: 'http://x' })).toBeNull();
    expect(app.wb.error).toBe('invalid URL: http://x');
  });

  it('keeps each link its draft and frame selection while switching', async () => {
    const { app, wb } = await setup();
    const a = (await app.wb.connect({ url: 'ws://127.0.0.1:1/a' }))!;
    const b = (await app.wb.connect({ url: 'ws://127.0.0.1:2/b' }))!;
    app.wb.ui(a.id).draft = { ...app.wb.ui(a.id).draft, mode: 'json', json: '{"a":1}' };
    app.wb.ui(b.id).draft = { ...app.wb.ui(b.id).draft, mode: 'binary', binary: '01 02' };
    expect(app.wb.active?.id).toBe(b.id);
    await app.selectFrame(5);
    await app.wb.activate(a.id);
    expect(app.selectedSessionId).toBe(a.session_id);
    expect(app.selectedSeq).toBeNull();
    await app.selectFrame(2);
    await app.wb.activate(b.id);
    expect(app.selectedSessionId).toBe(b.session_id);
    expect(app.selectedSeq).toBe(5);
    expect(app.wb.activeUi?.draft).toMatchObject({ mode: 'binary', binary: '01 02' });
    await app.wb.activate(a.id);
    expect(app.selectedSeq).toBe(2);
    expect(app.wb.activeUi?.draft).toMatchObject({ mode: 'json', json: '{"a":1}' });
    expect(wb.links).toHaveLength(2);
  });

  it('sends with variables expanded, counts {{counter}} per link and records the source in the history', async () => {
    const { app, wb } = await setup();
    const a = (await app.wb.connect({ url: 'ws://127.0.0.1:1/a' }))!;
    const b = (await app.wb.connect({ url: 'ws://127.0.0.1:2/b' }))!;
    expect(await app.wb.send(a.id)).toBe(false);
    expect(app.wb.ui(a.id).sendError).toBe('Not connected.');
    wb.update(a.id, { state: 'open' });
    wb.update(b.id, { state: 'open' });
    app.wb.ui(a.id).draft.text = 'n={{counter}} {{uuid}}';
    expect(await app.wb.send(a.id)).toBe(true);
    expect(await app.wb.send(a.id)).toBe(true);
    app.wb.ui(b.id).draft.text = 'b{{counter}}';
    expect(await app.wb.send(b.id)).toBe(true);
    expect(wb.sent).toEqual([
      { id: a.id, message: { kind: 'text', text: 'n=1 uuid-1' } },
      { id: a.id, message: { kind: 'text', text: 'n=2 uuid-1' } },
      { id: b.id, message: { kind: 'text', text: 'b1' } },
    ]);
    expect(wb.history.get(a.target)?.map((h) => h.body)).toEqual(['n={{counter}} {{uuid}}']);
    // Invalid JSON is not sent.
    app.wb.ui(a.id).draft = { ...app.wb.ui(a.id).draft, mode: 'json', json: '{"a":' };
    expect(await app.wb.send(a.id)).toBe(false);
    expect(app.wb.ui(a.id).sendError).toMatch(/^Invalid JSON at line 1, column 6/);
    expect(wb.sent).toHaveLength(3);
  });

  it('walks the stored history with Up/Down, loaded once per link', async () => {
    const { app, wb } = await setup();
    wb.history.set('ws://127.0.0.1:1/a', [
      { id: 1, ts_us: 0, mode: 'text', body: 'old' },
      { id: 2, ts_us: 0, mode: 'hex', body: 'ff' },
    ]);
    const a = (await app.wb.connect({ url: 'ws://127.0.0.1:1/a' }))!;
    await Promise.resolve();
    app.wb.ui(a.id).draft.text = 'draft';
    expect(app.wb.historyOlder(a.id)).toBe(true);
    expect(app.wb.ui(a.id).draft).toMatchObject({ mode: 'binary', encoding: 'hex', binary: 'ff' });
    expect(app.wb.historyOlder(a.id)).toBe(true);
    expect(app.wb.ui(a.id).draft).toMatchObject({ mode: 'text', text: 'old' });
    expect(app.wb.historyOlder(a.id)).toBe(false);
    expect(app.wb.historyNewer(a.id)).toBe(true);
    expect(app.wb.historyNewer(a.id)).toBe(true);
    expect(app.wb.ui(a.id).draft).toMatchObject({ mode: 'text', text: 'draft' });
    expect(wb.api.historyGet).toHaveBeenCalledTimes(1);
  });

  it('repeats every N ms K times, and stops when the link closes', async () => {
    const { app, wb, clock } = await setup();
    const a = (await app.wb.connect({ url: 'ws://127.0.0.1:1/a' }))!;
    wb.update(a.id, { state: 'open' });
    app.wb.ui(a.id).draft.text = '#{{counter}}';
    app.wb.startRepeat(a.id, { intervalMs: 100, count: 3 });
    await clock.advance(1000);
    expect(wb.sent.map((s) => (s.message.kind === 'text' ? s.message.text : ''))).toEqual(['#1', '#2', '#3']);
    expect(app.wb.ui(a.id).repeat).toMatchObject({ status: 'done', sent: 3 });
    // Only the first message of a run goes into the history.
    expect(wb.history.get(a.target)).toHaveLength(1);

    app.wb.startRepeat(a.id, { intervalMs: 50, count: null });
    await clock.advance(120);
    expect(app.wb.repeating(a.id)).toBe(true);
    wb.update(a.id, { state: 'closed' });
    expect(app.wb.ui(a.id).repeat?.status).toBe('stopped');
    const n = wb.sent.length;
    await clock.advance(500);
    expect(wb.sent.length).toBe(n);
  });

  it('saves, loads, renames and deletes templates; the stream replaces the list', async () => {
    const { app, wb } = await setup();
    const a = (await app.wb.connect({ url: 'ws://127.0.0.1:1/a' }))!;
    app.wb.ui(a.id).draft = { ...app.wb.ui(a.id).draft, mode: 'json', json: '{"x":1}' };
    expect(await app.wb.saveTemplate(a.id, '  login  ')).toBe(true);
    expect(wb.templates.map((t) => [t.name, t.mode])).toEqual([['login', 'json']]);
    expect(await app.wb.saveTemplate(a.id, '.hidden')).toBe(false);
    expect(app.wb.templateError).toMatch(/start with/);
    const t = app.wb.templates[0];
    app.wb.ui(a.id).draft = { ...app.wb.ui(a.id).draft, mode: 'text', text: '' };
    app.wb.loadTemplate(a.id, t);
    expect(app.wb.ui(a.id).draft).toMatchObject({ mode: 'json', json: '{"x":1}' });
    expect(await app.wb.renameTemplate(t, 'auth')).toBe(true);
    expect(app.wb.templates.map((x) => x.name)).toEqual(['auth']);
    wb.emit({ kind: 'templates', templates: [{ ...app.wb.templates[0], body: '{"x":2}' }, { name: 'b', mode: 'text', body: 'hi', path: '/t/b.txt', updated_at_us: 2 }] });
    expect(app.wb.templates.map((x) => [x.name, x.body])).toEqual([
      ['auth', '{"x":2}'],
      ['b', 'hi'],
    ]);
    expect(await app.wb.deleteTemplate(app.wb.templates[1])).toBe(false);
    expect(app.wb.templateError).toBe('no template named b');
  });

  it('starts and stops send-on-save; the stream updates the count', async () => {
    const { app, wb } = await setup();
    const a = (await app.wb.connect({ url: 'ws://127.0.0.1:1/a' }))!;
    expect(await app.wb.startWatch(a.id, ' ', 'text', false)).toBe(false);
    expect(await app.wb.startWatch(a.id, '/tmp/msg.json', 'text', true)).toBe(true);
    const w = app.wb.watchesOf(a.id)[0];
    expect(w).toMatchObject({ path: '/tmp/msg.json', expand: true, active: true });
    wb.emit({ kind: 'send_on_save', watch: { ...w, sent: 2 } });
    expect(app.wb.watchesOf(a.id)[0].sent).toBe(2);
    await app.wb.stopWatch(w.watch_id);
    expect(app.wb.watchesOf(a.id)).toEqual([]);
  });

  it('starts a demo server and connects to it with a first message ready', async () => {
    const { app, wb } = await setup();
    const link = await app.wb.tryDemo('chat');
    expect(link?.url).toBe('ws://127.0.0.1:7001/');
    expect(app.wb.demos.map((d) => d.kind)).toEqual(['chat']);
    expect(app.wb.active?.id).toBe(link!.id);
    expect(app.wb.activeUi?.draft.mode).toBe('json');
    expect(wb.api.demoStart).toHaveBeenCalledWith('chat');
  });

  it('reads the snapshot on subscribe and drops removed links', async () => {
    const s = sessionApi();
    const wb = fakeWorkbenchApi();
    wb.links.push(mkLink(1), mkLink(2, { state: 'reconnecting' }));
    const app = new AppState({ api: s.api, scheduler: { schedule: () => () => {} }, workbench: { api: wb.api } });
    await app.init();
    expect(app.wb.links.map((l) => l.id)).toEqual([1, 2]);
    expect(app.showWelcome).toBe(false);
    await app.wb.remove(1);
    expect(app.wb.links.map((l) => l.id)).toEqual([2]);
  });
});

describe('templateNameProblem', () => {
  it('follows the contract', () => {
    expect(templateNameProblem('ok name')).toBeNull();
    expect(templateNameProblem('')).not.toBeNull();
    expect(templateNameProblem('a/b')).not.toBeNull();
    expect(templateNameProblem('x'.repeat(101))).not.toBeNull();
  });
});
