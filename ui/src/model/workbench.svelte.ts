// The connection workbench: the app's own connections ("links", docs/ipc.md "Workbench"),
// each with its composer draft, timeline selection, history walk, {{counter}} and repeat
// run; the templates list, send-on-save watches and demo servers, all kept live through
// wb_subscribe. Views read it; every IPC call goes through `api` (tests inject a fake).
import type { Subscription } from '../ipc/commands';
import type {
  ConnectSpec,
  DemoInfo,
  DemoKind,
  LiveConnection,
  SendOnSaveInfo,
  Template,
  WorkbenchMsg,
} from '../ipc/types';
import { workbenchApi, type WorkbenchApi } from '../ipc/workbench';
import type { AppState } from './app.svelte';
import {
  buildMessage,
  draftBody,
  draftTemplate,
  emptyDraft,
  loadStored,
  type Draft,
  type Stored,
} from './composerDraft';
import { HistoryNav } from './history';
import { RepeatRun, realClock, type RepeatClock, type RepeatState } from './repeat';
import { liveContext, VarCounter, type VarContext } from './variables';

/** Per-connection UI state: kept while switching between connections. */
export class LinkUi {
  draft = $state<Draft>(emptyDraft());
  /** The frame selected in this connection's timeline. */
  selectedSeq: number | null = null;
  readonly counter = new VarCounter();
  /** Bumped when the counter moves (the preview reads it). */
  counterTick = $state(0);
  readonly history = new HistoryNav();
  historyLoaded = false;
  repeat = $state.raw<RepeatState | null>(null);
  run: RepeatRun | null = null;
  sendError = $state<string | null>(null);
  sending = $state(false);
  /** The options the connection was opened with (the editor's "Edit & reconnect"). */
  spec: ConnectSpec;

  constructor(spec: ConnectSpec) {
    this.spec = spec;
  }
}

export function upsertLink(list: readonly LiveConnection[], l: LiveConnection): LiveConnection[] {
  const i = list.findIndex((x) => x.id === l.id);
  if (i >= 0) {
    const next = list.slice();
    next[i] = l;
    return next;
  }
  return list.concat(l).sort((a, b) => a.id - b.id);
}

export function linkLive(l: LiveConnection | null | undefined): boolean {
  return !!l && (l.state === 'open' || l.state === 'connecting' || l.state === 'reconnecting');
}

/** What a demo server's first message could be (the composer is filled with it). */
export const DEMO_DRAFTS: Record<DemoKind, Stored> = {
  echo: { mode: 'text', body: 'Hello #{{counter}} at {{now}}' },
  chat: { mode: 'json', body: '{\n  "type": "message",\n  "text": "hello from Sockscope #{{counter}}"\n}' },
  ticker: { mode: 'json', body: '{"type": "subscribe", "symbols": ["ACME", "GLOBX"]}' },
  telemetry: { mode: 'text', body: 'status' },
  notifications: { mode: 'json', body: '{"type": "ack", "id": {{counter}}}' },
};

export interface WorkbenchOptions {
  api?: WorkbenchApi;
  clock?: RepeatClock;
  /** Variable context of a send (tests pin the clock and randomness). */
  context?: (counter: number) => VarContext;
}

export class WorkbenchState {
  readonly #app: AppState;
  readonly api: WorkbenchApi;
  readonly #clock: RepeatClock;
  readonly #context: (counter: number) => VarContext;
  readonly #ui = new Map<number, LinkUi>();
  #sub: Subscription | null = null;

  links = $state.raw<LiveConnection[]>([]);
  templates = $state.raw<Template[]>([]);
  templatesLoaded = $state(false);
  templatesDir = $state<string | null>(null);
  demos = $state.raw<DemoInfo[]>([]);
  watches = $state.raw<SendOnSaveInfo[]>([]);
  /** Links being opened (the editor's Connect, the toolbar, a demo). */
  connecting = $state(false);
  error = $state<string | null>(null);
  /** wb_subscribe failed: connections do not update (shown in the list). */
  streamError = $state<string | null>(null);
  /** Demo kinds being started from the welcome screen. */
  demoPending = $state.raw<DemoKind[]>([]);
  demoError = $state<string | null>(null);
  templateError = $state<string | null>(null);
  watchError = $state<string | null>(null);
  /** The connection editor is open (with the options it starts from, null: a new one). */
  editor = $state.raw<{ initial: ConnectSpec | null } | null>(null);

  /** The link whose session is shown (the composer sends on it). */
  readonly active = $derived.by(() => {
    const sid = this.#app.selectedSessionId;
    if (sid === null) return null;
    const inSession = this.links.filter((l) => l.session_id === sid);
    if (inSession.length <= 1) return inSession[0] ?? null;
    const pinned = this.#app.pinnedConnectionId;
    return inSession.find((l) => pinned !== null && l.attempts.includes(pinned)) ?? inSession[inSession.length - 1];
  });

  constructor(app: AppState, opts: WorkbenchOptions = {}) {
    this.#app = app;
    this.api = opts.api ?? workbenchApi;
    this.#clock = opts.clock ?? realClock;
    this.#context = opts.context ?? ((counter) => liveContext(counter));
  }

  openEditor(initial: ConnectSpec | null = null): void {
    this.error = null;
    this.editor = { initial };
  }

  closeEditor(): void {
    this.editor = null;
  }

  /** The UI state of link `id` (made on first use). */
  ui(id: number): LinkUi {
    let u = this.#ui.get(id);
    if (!u) {
      const l = this.links.find((x) => x.id === id);
      u = new LinkUi({ url: l?.url ?? '' });
      this.#ui.set(id, u);
    }
    return u;
  }

  get activeUi(): LinkUi | null {
    const l = this.active;
    return l ? this.ui(l.id) : null;
  }

  /** Watches of link `id` that are running. */
  watchesOf(id: number): SendOnSaveInfo[] {
    return this.watches.filter((w) => w.link_id === id && w.active);
  }

  async init(): Promise<void> {
    try {
      this.#sub = await this.api.wbSubscribe((m) => this.apply(m));
      this.streamError = null;
    } catch (err) {
      this.streamError = this.#app.fail('wb_subscribe', err);
      return;
    }
    try {
      const list = await this.api.sendOnSaveList();
      for (const w of list) this.#upsertWatch(w);
    } catch (err) {
      this.watchError = this.#app.fail('send_on_save_list', err);
    }
  }

  dispose(): void {
    this.#sub?.close();
    this.#sub = null;
    for (const u of this.#ui.values()) u.run?.stop();
  }

  /** Applies one message of the workbench stream. */
  apply(m: WorkbenchMsg): void {
    switch (m.kind) {
      case 'connections':
        this.links = m.connections.slice().sort((a, b) => a.id - b.id);
        break;
      case 'connection': {
        const before = this.links.find((l) => l.id === m.connection.id);
        this.links = upsertLink(this.links, m.connection);
        // A closed link stops its repeat run.
        if (!linkLive(m.connection)) this.#ui.get(m.connection.id)?.run?.stop();
        if (before && before.connection_id !== m.connection.connection_id) void this.#app.refreshSessions();
        break;
      }
      case 'removed':
        this.links = this.links.filter((l) => l.id !== m.id);
        this.#ui.get(m.id)?.run?.stop();
        this.#ui.delete(m.id);
        break;
      case 'templates':
        this.templates = m.templates.slice().sort((a, b) => a.name.localeCompare(b.name));
        this.templatesLoaded = true;
        break;
      case 'send_on_save':
        this.#upsertWatch(m.watch);
        break;
      case 'demos':
        this.demos = m.demos;
        break;
    }
  }

  #upsertWatch(w: SendOnSaveInfo): void {
    this.watches = this.watches.filter((x) => x.watch_id !== w.watch_id).concat(w);
  }

  /** Opens a link and shows it; resolves with it, or null (the error is in `error`). */
  async connect(spec: ConnectSpec, draft?: Stored): Promise<LiveConnection | null> {
    this.error = null;
    const url = spec.url.trim();
    if (!url) {
      this.error = 'Enter a ws:// or wss:// URL.';
      return null;
    }
    if (this.connecting) return null;
    this.connecting = true;
    try {
      const link = await this.api.wbConnect({ ...spec, url });
      // The stream may already have told a newer state (a local server opens in well under
      // the time this answer takes): keep it.
      if (!this.links.some((l) => l.id === link.id)) this.links = upsertLink(this.links, link);
      const u = this.ui(link.id);
      u.spec = { ...spec, url };
      if (draft) u.draft = loadStored(u.draft, draft);
      await this.activate(link.id);
      void this.#app.refreshSessions();
      return link;
    } catch (err) {
      this.error = this.#app.fail('wb_connect', err);
      return null;
    } finally {
      this.connecting = false;
    }
  }

  /** Shows link `id`: its session's timeline, with the frame that was selected there. */
  async activate(id: number): Promise<void> {
    const link = this.links.find((l) => l.id === id);
    if (!link) return;
    this.rememberSelection();
    this.#app.welcome = false;
    this.#app.diff.close();
    const u = this.ui(id);
    if (this.#app.selectedSessionId !== link.session_id) {
      await this.#app.selectSession(link.session_id);
    }
    this.#app.urlDraft = link.url;
    if (u.selectedSeq !== null && this.#app.selectedSessionId === link.session_id) {
      this.#app.revealSeq = u.selectedSeq;
      await this.#app.selectFrame(u.selectedSeq);
    }
    void this.#loadHistory(link, u);
  }

  /** Keeps the shown link's frame selection (before another session is shown). */
  rememberSelection(): void {
    const l = this.active;
    if (l) this.ui(l.id).selectedSeq = this.#app.selectedSeq;
  }

  async #loadHistory(link: LiveConnection, u: LinkUi): Promise<void> {
    if (u.historyLoaded) return;
    u.historyLoaded = true;
    try {
      const entries = await this.api.historyGet(link.target);
      u.history.load(entries.map((e) => ({ mode: e.mode, body: e.body })));
    } catch (err) {
      u.historyLoaded = false;
      u.sendError = this.#app.fail('history_get', err);
    }
  }

  /** Closes link `id` with code and reason (stops its reconnects and keep-alive). */
  async close(id: number, code?: number, reason?: string): Promise<void> {
    this.ui(id).run?.stop();
    try {
      await this.api.wbClose(id, code, reason);
    } catch (err) {
      this.error = this.#app.fail('wb_close', err);
    }
  }

  /** Forgets link `id` (closing it first when live); its session stays. */
  async remove(id: number): Promise<void> {
    this.ui(id).run?.stop();
    try {
      await this.api.wbRemove(id);
      this.apply({ kind: 'removed', id });
    } catch (err) {
      this.error = this.#app.fail('wb_remove', err);
    }
  }

  /** Opens the same connection again with the options it had (a new link, same session). */
  async reopen(id: number): Promise<LiveConnection | null> {
    const link = this.links.find((l) => l.id === id);
    if (!link) return null;
    const u = this.ui(id);
    const spec: ConnectSpec = { ...u.spec, session_id: link.session_id };
    const draft = u.draft;
    const opened = await this.connect(spec);
    if (opened) {
      const nu = this.ui(opened.id);
      nu.draft = draft;
      if (opened.id !== id) await this.remove(id);
    }
    return opened;
  }

  /** The variables context of the next message on link `id` (the preview's). */
  previewContext(id: number): VarContext {
    const u = this.ui(id);
    void u.counterTick;
    return this.#context(u.counter.peek());
  }

  /**
   * Sends the draft of link `id` once. `record`: put it in the history (a repeat run
   * records its first message only).
   */
  async send(id: number, record = true): Promise<boolean> {
    const u = this.ui(id);
    const link = this.links.find((l) => l.id === id);
    u.sendError = null;
    if (!link || link.state !== 'open') {
      u.sendError = link?.state === 'reconnecting' ? 'Reconnecting: not open yet.' : 'Not connected.';
      return false;
    }
    const built = buildMessage(u.draft, this.#context(u.counter.peek()));
    if (!built.ok) {
      u.sendError = built.error;
      return false;
    }
    u.sending = true;
    try {
      await this.api.wbSend(id, built.message);
      if (built.expanded) {
        u.counter.take();
        u.counterTick++;
      }
      this.#app.lastSentAt = Date.now();
      if (record && built.stored) {
        u.history.push(built.stored);
        this.api.historyAppend(link.target, built.stored.mode, built.stored.body).catch((err) => {
          u.sendError = this.#app.fail('history_append', err);
        });
      }
      return true;
    } catch (err) {
      u.sendError = this.#app.fail('wb_send', err);
      return false;
    } finally {
      u.sending = false;
    }
  }

  /** Up: the previous sent message replaces the editor's text; false when there is none. */
  historyOlder(id: number): boolean {
    const u = this.ui(id);
    const item = u.history.older(draftBody(u.draft));
    if (!item) return false;
    u.draft = loadStored(u.draft, item);
    return true;
  }

  historyNewer(id: number): boolean {
    const u = this.ui(id);
    const item = u.history.newer();
    if (!item) return false;
    u.draft = loadStored(u.draft, item);
    return true;
  }

  // Repeat

  startRepeat(id: number, plan: { intervalMs: number; count: number | null }): void {
    const u = this.ui(id);
    u.run?.stop();
    let first = true;
    const run = new RepeatRun(
      plan,
      async () => {
        const ok = await this.send(id, first);
        first = false;
        if (!ok) throw new Error(u.sendError ?? 'The message could not be sent.');
        return true;
      },
      (s) => (u.repeat = s),
      this.#clock,
    );
    u.run = run;
    run.start();
  }

  stopRepeat(id: number): void {
    this.ui(id).run?.stop();
  }

  /** Links with a repeat running (the sidebar shows an indicator on each). */
  repeating(id: number): boolean {
    return this.ui(id).repeat?.status === 'running';
  }

  // Templates

  async loadTemplates(): Promise<void> {
    try {
      const [list, dir] = await Promise.all([this.api.templatesList(), this.api.templatesDir()]);
      this.templates = list.slice().sort((a, b) => a.name.localeCompare(b.name));
      this.templatesDir = dir;
      this.templatesLoaded = true;
    } catch (err) {
      this.templateError = this.#app.fail('templates_list', err);
    }
  }

  /** Saves link `id`'s draft as a template named `name`. */
  async saveTemplate(id: number, rawName: string): Promise<boolean> {
    this.templateError = null;
    const name = rawName.trim();
    const problem = templateNameProblem(name);
    if (problem) {
      this.templateError = problem;
      return false;
    }
    const t = draftTemplate(this.ui(id).draft);
    if (!t.ok) {
      this.templateError = t.error;
      return false;
    }
    try {
      const saved = await this.api.templateSave(name, t.mode, t.body);
      this.templates = this.templates.filter((x) => x.name !== saved.name).concat(saved).sort((a, b) => a.name.localeCompare(b.name));
      return true;
    } catch (err) {
      this.templateError = this.#app.fail('template_save', err);
      return false;
    }
  }

  loadTemplate(id: number, t: Template): void {
    const u = this.ui(id);
    u.draft = loadStored(u.draft, { mode: t.mode, body: t.body });
    u.history.edited();
    u.sendError = null;
  }

  async renameTemplate(t: Template, rawName: string): Promise<boolean> {
    this.templateError = null;
    const name = rawName.trim();
    if (name === t.name) return true;
    const problem = templateNameProblem(name);
    if (problem) {
      this.templateError = problem;
      return false;
    }
    try {
      const saved = await this.api.templateSave(name, t.mode, t.body, t.name);
      this.templates = this.templates
        .filter((x) => x.name !== t.name && x.name !== saved.name)
        .concat(saved)
        .sort((a, b) => a.name.localeCompare(b.name));
      return true;
    } catch (err) {
      this.templateError = this.#app.fail('template_save', err);
      return false;
    }
  }

  async deleteTemplate(t: Template): Promise<boolean> {
    this.templateError = null;
    try {
      await this.api.templateDelete(t.name);
      this.templates = this.templates.filter((x) => x.name !== t.name);
      return true;
    } catch (err) {
      this.templateError = this.#app.fail('template_delete', err);
      return false;
    }
  }

  // Send on save

  async startWatch(id: number, rawPath: string, mode: 'text' | 'binary', expand: boolean): Promise<boolean> {
    this.watchError = null;
    const path = rawPath.trim();
    if (!path) {
      this.watchError = 'Enter the path of the file to watch.';
      return false;
    }
    try {
      const w = await this.api.sendOnSaveStart(id, path, mode, expand);
      this.#upsertWatch(w);
      return true;
    } catch (err) {
      this.watchError = this.#app.fail('send_on_save_start', err);
      return false;
    }
  }

  async stopWatch(watchId: number): Promise<void> {
    this.watchError = null;
    try {
      await this.api.sendOnSaveStop(watchId);
      this.watches = this.watches.map((w) => (w.watch_id === watchId ? { ...w, active: false } : w));
    } catch (err) {
      this.watchError = this.#app.fail('send_on_save_stop', err);
    }
  }

  // Demo servers

  /** Starts a demo server and connects to it, with a first message in the composer. */
  async tryDemo(kind: DemoKind): Promise<LiveConnection | null> {
    if (this.demoPending.includes(kind)) return null;
    this.demoError = null;
    this.demoPending = this.demoPending.concat(kind);
    try {
      const demo = await this.api.demoStart(kind);
      this.demos = this.demos.filter((d) => d.id !== demo.id).concat(demo);
      const link = await this.connect({ url: demo.url }, DEMO_DRAFTS[kind]);
      if (!link) this.demoError = this.error;
      return link;
    } catch (err) {
      this.demoError = this.#app.fail('demo_start', err);
      return null;
    } finally {
      this.demoPending = this.demoPending.filter((k) => k !== kind);
    }
  }

  async stopDemo(id: number): Promise<void> {
    this.demoError = null;
    try {
      await this.api.demoStop(id);
      this.demos = this.demos.filter((d) => d.id !== id);
    } catch (err) {
      this.demoError = this.#app.fail('demo_stop', err);
    }
  }
}

/** docs/ipc.md: 1–100 characters, no / \ NUL, not starting with ".". */
export function templateNameProblem(name: string): string | null {
  if (!name) return 'Give the template a name.';
  if (Array.from(name).length > 100) return 'A template name is at most 100 characters.';
  if (/[/\\\0]/.test(name)) return 'A template name cannot contain / or \\.';
  if (name.startsWith('.')) return 'A template name cannot start with ".".';
  return null;
}
