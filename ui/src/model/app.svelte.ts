// Application state (Svelte 5 runes). Views read it and call its methods;
// every IPC call goes through `api` so the flows can be unit-tested.
import * as ipc from '../ipc/commands';
import { IpcError, toIpcError, type PayloadOptions, type Subscription } from '../ipc/commands';
import type {
  CaInfo,
  ConnectionInfo,
  DiffView,
  ExportFormat,
  FrameSummary,
  ImportSummary,
  InjectOpcode,
  InjectToward,
  MockInfo,
  ProxyInfo,
  ReplayPlan,
  ReplayProgressMsg,
  ReplayStarted,
  SearchHit,
  SessionSort,
  SessionSummary,
  StartMockArgs,
  StartReplayArgs,
  StreamMsg,
} from '../ipc/types';
import { DiffState } from './diffState.svelte';
import { WorkbenchState, type WorkbenchOptions } from './workbench.svelte';
import { MockState } from './mockState.svelte';
import { ReplayState } from './replayState.svelte';
import { checkQuery, SEARCH_LIMIT } from './search';
import {
  checkImportFile,
  checkName,
  checkNotes,
  patchSession,
} from './sessions';
import { FrameQueue, throttle, type Scheduler } from './frameQueue';
import type { BinaryEncoding, InjectKind } from './inject';
import {
  DEFAULT_LISTEN,
  isProxySession,
  startArgs,
  targetConnection,
  upsertProxy,
} from './proxy';
import {
  applyStreamMsgs,
  createSessionView,
  isLive,
  upsertConnection,
  type SessionView,
} from './sessionView';
import { TimelineModel, type TimelineApi } from './timeline.svelte';
import type { LiveUpdate } from './live';
import { InterceptModel } from './interceptState.svelte';
import { StorageModel, type StorageApi } from './storage.svelte';

export interface Api extends TimelineApi, StorageApi {
  listSessions(): Promise<SessionSummary[]>;
  /** Where a damaged database was moved at start (null when nothing happened). */
  storeNotice?(): Promise<string | null>;
  listConnections(sessionId: number): Promise<ConnectionInfo[]>;
  connect(url: string, sessionId?: number | null): Promise<ConnectionInfo>;
  sendText(connectionId: number, text: string): Promise<void>;
  disconnect(connectionId: number): Promise<void>;
  getPayload(sessionId: number, seq: number, opts?: PayloadOptions): Promise<Uint8Array>;
  subscribeSession(
    sessionId: number,
    afterSeq: number,
    onMsg: (msg: StreamMsg) => void,
  ): Promise<Subscription>;
  startProxy(listen: string, upstream?: string | null): Promise<ProxyInfo>;
  stopProxy(sessionId: number): Promise<void>;
  listProxies(): Promise<ProxyInfo[]>;
  injectText(sessionId: number, connectionId: number, toward: InjectToward, text: string): Promise<void>;
  injectFrame(
    sessionId: number,
    connectionId: number,
    toward: InjectToward,
    opcode: InjectOpcode,
    payloadBase64: string,
  ): Promise<void>;
  caInfo(): Promise<CaInfo>;
  caRegenerate(): Promise<CaInfo>;
  listSessionsSorted(sort: SessionSort): Promise<SessionSummary[]>;
  renameSession(sessionId: number, name: string): Promise<void>;
  setSessionNotes(sessionId: number, notes: string): Promise<void>;
  setSessionTags(sessionId: number, tags: string[]): Promise<void>;
  setSessionPinned(sessionId: number, pinned: boolean): Promise<void>;
  deleteSession(sessionId: number): Promise<void>;
  searchPayloads(query: string, limit?: number): Promise<SearchHit[]>;
  importData(bytes: Uint8Array, fileName: string): Promise<ImportSummary>;
  exportSession(sessionId: number, format: ExportFormat): Promise<string>;
  replayPlan(sessionId: number, connectionId?: number | null): Promise<ReplayPlan>;
  urlIsLoopback(url: string): Promise<boolean>;
  startReplay(args: StartReplayArgs, onProgress: (msg: ReplayProgressMsg) => void): Promise<ReplayStarted>;
  stopReplay(sessionId: number): Promise<void>;
  startMock(args: StartMockArgs): Promise<MockInfo>;
  stopMock(sessionId: number): Promise<void>;
  listMocks(): Promise<MockInfo[]>;
  diffConnections(left: number, right: number, ignore: string[]): Promise<DiffView>;
}

export const tauriApi: Api = {
  listSessions: ipc.listSessions,
  storeNotice: ipc.storeNotice,
  storageStatus: ipc.storageStatus,
  setDbSizeLimit: ipc.setDbSizeLimit,
  listConnections: ipc.listConnections,
  connect: ipc.connect,
  sendText: ipc.sendText,
  disconnect: ipc.disconnect,
  getPayload: ipc.getPayload,
  subscribeSession: ipc.subscribeSession,
  startProxy: ipc.startProxy,
  stopProxy: ipc.stopProxy,
  listProxies: ipc.listProxies,
  injectText: ipc.injectText,
  injectFrame: ipc.injectFrame,
  caInfo: ipc.caInfo,
  caRegenerate: ipc.caRegenerate,
  listSessionsSorted: ipc.listSessionsSorted,
  renameSession: ipc.renameSession,
  setSessionNotes: ipc.setSessionNotes,
  setSessionTags: ipc.setSessionTags,
  setSessionPinned: ipc.setSessionPinned,
  deleteSession: ipc.deleteSession,
  searchPayloads: ipc.searchPayloads,
  importData: ipc.importData,
  exportSession: (sessionId, format) => ipc.exportSession(sessionId, format),
  replayPlan: ipc.replayPlan,
  urlIsLoopback: ipc.urlIsLoopback,
  startReplay: ipc.startReplay,
  stopReplay: ipc.stopReplay,
  startMock: ipc.startMock,
  stopMock: ipc.stopMock,
  listMocks: ipc.listMocks,
  diffConnections: ipc.diffConnections,
  timelineCount: ipc.timelineCount,
  timelinePage: ipc.timelinePage,
  timelineIndexOf: ipc.timelineIndexOf,
  messageFragments: ipc.messageFragments,
  connectionFrameCounts: ipc.connectionFrameCounts,
};

/** What the right-hand pane shows in place of the frame detail. */
export type PanelKind = 'proxy' | 'session' | 'replay' | 'mock' | 'handshake' | 'intercept';

/** The sidebar's status card: an import or an export, running or done. */
export type Notice =
  | { kind: 'import-progress'; name: string; size: number }
  | { kind: 'import-done'; name: string; summary: ImportSummary }
  | { kind: 'import-error'; name: string; error: string }
  | { kind: 'export-progress'; sessionId: number; format: ExportFormat }
  | { kind: 'export-done'; sessionId: number; format: ExportFormat; path: string }
  | { kind: 'export-error'; sessionId: number; format: ExportFormat; error: string }
  | { kind: 'error'; error: string };

/** A File, or anything else with a name, a size and bytes (tests). */
export interface ImportFile {
  readonly name: string;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * The selected frame's payload. `inflated`: it was asked for as the inflated message
 * (frames that completed a permessage-deflate message), not as the wire bytes.
 */
export type PayloadState =
  | { seq: number; inflated: boolean; status: 'loading' }
  | { seq: number; inflated: boolean; status: 'ready'; bytes: Uint8Array }
  | { seq: number; inflated: boolean; status: 'error'; error: string };

export interface AppOptions {
  api?: Api;
  scheduler?: Scheduler;
  /** Minimum spacing of session-list refreshes triggered by incoming frames. */
  refreshMs?: number;
  /** The workbench's API, clock and variable context (tests). */
  workbench?: WorkbenchOptions;
}

export class AppState {
  readonly api: Api;

  // Sessions sidebar
  sessions = $state.raw<SessionSummary[]>([]);
  sessionsLoaded = $state(false);
  sessionsError = $state<string | null>(null);

  // Selected session
  selectedSessionId = $state<number | null>(null);
  connections = $state.raw<ConnectionInfo[]>([]);
  /** Frames of the selected session (the timeline pages them from the database). */
  frameCount = $state(0);
  subscribeError = $state<string | null>(null);
  /** The connection the user picked in the sidebar; null follows the newest one. */
  pinnedConnectionId = $state<number | null>(null);

  // Selected frame
  selectedSeq = $state<number | null>(null);
  payload = $state.raw<PayloadState | null>(null);
  /**
   * Compressed frames show their inflated message unless this is set (the detail's
   * "Inflated | Wire" toggle); it sticks while moving between frames.
   */
  payloadWire = $state(false);

  // Toolbar / composer
  /** Text of the URL box. */
  urlDraft = $state('');
  connectPending = $state(false);
  connectError = $state<string | null>(null);
  sending = $state(false);
  sendError = $state<string | null>(null);
  lastSentAt = $state<number | null>(null);
  /** Where the composer injects in a proxy session. */
  injectToward = $state<InjectToward>('server');
  /** What the composer injects in a proxy session. */
  injectKind = $state<InjectKind>('text');
  /** How the composer's text spells a binary payload. */
  binaryEncoding = $state<BinaryEncoding>('hex');

  /** The panel shown in the right-hand pane instead of the frame detail (null: the detail). */
  panel = $state<PanelKind | null>(null);
  /** Intercept: rules and held messages (loaded when the panel first opens). */
  readonly intercept = new InterceptModel();

  // Proxy panel
  proxies = $state.raw<ProxyInfo[]>([]);
  proxiesLoaded = $state(false);
  proxyListen = $state(DEFAULT_LISTEN);
  proxyUpstream = $state('');
  proxyPending = $state(false);
  proxyError = $state<string | null>(null);
  /** Session ids of listeners being stopped. */
  proxyStopping = $state.raw<number[]>([]);
  /** The local CA, loaded each time the panel opens. */
  ca = $state.raw<CaInfo | null>(null);
  caLoading = $state(false);
  caRegenerating = $state(false);
  caError = $state<string | null>(null);

  // Sessions: organise
  sessionSort = $state<SessionSort>('date');
  /** Session whose name is edited inline in the sidebar. */
  renamingId = $state<number | null>(null);
  renamePending = $state(false);
  renameError = $state<string | null>(null);
  /** Session whose deletion is being confirmed inline. */
  deleteAskId = $state<number | null>(null);
  deletePending = $state(false);
  deleteError = $state<string | null>(null);
  /** The session the details panel shows. */
  detailsId = $state<number | null>(null);
  detailsError = $state<string | null>(null);
  /** What the details panel focuses when it opens (the menu's "Tags…" goes to the tag input). */
  detailsFocus = $state<'notes' | 'tags' | null>(null);
  /** Import or export status (the sidebar's card). */
  notice = $state.raw<Notice | null>(null);

  // Search across sessions
  searchQuery = $state('');
  /** null: no search shown (the sessions list is). */
  searchHits = $state.raw<SearchHit[] | null>(null);
  /** The query the hits answer. */
  searchedFor = $state('');
  searchPending = $state(false);
  searchError = $state<string | null>(null);
  /** A frame the timeline scrolls to once its row is there (a search hit); null when none. */
  revealSeq = $state<number | null>(null);

  /** The frame list: counts, pages, filter, follow (docs/ipc.md, "Timeline"). */
  readonly timeline: TimelineModel;
  readonly replay: ReplayState;
  readonly mock: MockState;
  readonly diff: DiffState;
  readonly wb: WorkbenchState;

  /** The welcome screen (demo servers) was asked for from the toolbar. */
  welcome = $state(false);

  /** Set once any call found no Tauri IPC (page opened in a plain browser). */
  backendError = $state<string | null>(null);

  /** The database was damaged at start and moved aside: where it went (dismissable). */
  storeNotice = $state<string | null>(null);

  /** The store writer's state: capture paused on a full disk or at the size limit. */
  readonly storage: StorageModel;

  /** Wall clock for "open since" labels, ticked by the App component. */
  now = $state(Date.now());

  /** The selected session records a capture listener: the composer injects. */
  readonly isProxy = $derived(isProxySession(this.selectedSessionId, this.sessions, this.proxies));
  /** The connection the composer, status bar and badge act on. */
  readonly current = $derived(targetConnection(this.connections, this.pinnedConnectionId, this.isProxy));
  readonly currentLive = $derived(isLive(this.current));
  readonly selectedSession = $derived(
    this.sessions.find((s) => s.id === this.selectedSessionId) ?? null,
  );
  /** The selected session was imported from a file: its connections are recordings, never live. */
  readonly selectedIsRecording = $derived(this.selectedSession?.imported_from != null);
  readonly selectedFrame = $derived.by(() =>
    this.selectedSeq === null ? null : this.timeline.frameBySeq(this.selectedSeq),
  );

  #view: SessionView | null = null;
  /** Bumped when per-connection frame counts arrive (framesOfConnection reads it). */
  #connCounts = $state(0);
  /** Recorded frames up to this seq are counted per connection on first need (-1: done). */
  #countsUpTo = -1;

  /**
   * Frames per connection recorded before the session was opened (the stream counts the
   * ones after): asked for only when something shows them, since counting a big session
   * takes the database a moment.
   */
  #loadConnCounts(): void {
    const view = this.#view;
    const upTo = this.#countsUpTo;
    if (!view || upTo < 0) return;
    this.#countsUpTo = -1;
    const epoch = this.#epoch;
    void this.api.connectionFrameCounts(view.sessionId, upTo).then(
      (pairs) => {
        if (epoch !== this.#epoch) return;
        for (const [id, n] of pairs) view.connFrames.set(id, (view.connFrames.get(id) ?? 0) + n);
        this.#connCounts++;
      },
      () => {},
    );
  }
  /** Who wants each batch of live frames (the statistics panel). */
  readonly #liveListeners = new Set<(batch: LiveUpdate) => void>();
  #sub: Subscription | null = null;
  /** Bumped on each session switch; stale async results compare against it. */
  #epoch = 0;
  #payloadToken = 0;
  #caToken = 0;
  #searchToken = 0;
  readonly #queue: FrameQueue<StreamMsg>;
  readonly #refreshSoon: ReturnType<typeof throttle>;

  constructor(opts: AppOptions = {}) {
    this.api = opts.api ?? tauriApi;
    this.#queue = new FrameQueue<StreamMsg>((msgs) => this.#applyBatch(msgs), opts.scheduler);
    this.#refreshSoon = throttle(() => void this.refreshSessions(), opts.refreshMs ?? 1000);
    this.timeline = new TimelineModel(this.api, { onError: (c, e) => this.#fail(c, e) });
    this.timeline.onSelect((row) => void this.selectFrame(row.seq));
    this.replay = new ReplayState(this);
    this.mock = new MockState(this);
    this.diff = new DiffState(this);
    this.wb = new WorkbenchState(this, opts.workbench);
    this.storage = new StorageModel(this.api);
  }

  /** The welcome screen shows: asked for, or nothing to show yet (no session, no connection). */
  get showWelcome(): boolean {
    if (this.welcome) return true;
    return this.backendError === null && this.selectedSessionId === null && this.sessionsLoaded && this.sessions.length === 0 && this.wb.links.length === 0;
  }

  /**
   * Calls `cb` with each batch of frames streamed in for the selected session (at most one
   * per animation frame: how many, the newest rows, per-connection digests); returns an
   * unsubscribe.
   */
  onLive(cb: (batch: LiveUpdate) => void): () => void {
    this.#liveListeners.add(cb);
    return () => this.#liveListeners.delete(cb);
  }

  /** The Proxy panel is shown (in place of the frame detail). */
  get proxyOpen(): boolean {
    return this.panel === 'proxy';
  }

  /** Records an error of `command` (raising the banner when there is no backend); returns its text. */
  fail(command: string, err: unknown): string {
    return this.#fail(command, err);
  }

  /** Records an error; returns its text. IPC-unavailable errors also raise the banner. */
  #fail(command: string, err: unknown): string {
    const e = err instanceof IpcError ? err : toIpcError(command, err);
    if (e.kind === 'unavailable') this.backendError = e.message;
    return e.message;
  }

  async init(): Promise<void> {
    await Promise.all([
      this.refreshSessions(),
      this.loadProxies(),
      this.mock.load(),
      this.loadStoreNotice(),
      this.wb.init(),
    ]);
    this.storage.start();
  }

  async loadStoreNotice(): Promise<void> {
    if (!this.api.storeNotice) return;
    try {
      this.storeNotice = await this.api.storeNotice();
    } catch {
      // An older or mock backend without the command: nothing to tell.
    }
  }

  /** Reads the sessions list again, in the chosen order (pinned first). */
  async refreshSessions(): Promise<void> {
    try {
      const list = await this.api.listSessionsSorted(this.sessionSort);
      this.sessions = list;
      this.sessionsError = null;
    } catch (err) {
      this.sessionsError = this.#fail('list_sessions', err);
    } finally {
      this.sessionsLoaded = true;
    }
  }

  /** Selects a session: lists its connections, then subscribes (backfill, then live). */
  async selectSession(sessionId: number, seed?: ConnectionInfo): Promise<void> {
    this.wb.rememberSelection();
    const epoch = ++this.#epoch;
    this.#sub?.close();
    this.#sub = null;
    this.#queue.clear();
    const view = createSessionView(sessionId, seed ? [seed] : []);
    this.#view = view;
    this.selectedSessionId = sessionId;
    this.frameCount = 0;
    this.connections = view.connections;
    this.pinnedConnectionId = seed ? seed.id : null;
    this.selectedSeq = null;
    this.payload = null;
    this.subscribeError = null;
    this.sendError = null;
    this.revealSeq = null;

    try {
      const conns = await this.api.listConnections(sessionId);
      if (epoch !== this.#epoch) return;
      let list = view.connections;
      for (const c of conns) if (c.session_id === sessionId) list = upsertConnection(list, c);
      view.connections = list;
      this.connections = list;
    } catch (err) {
      if (epoch !== this.#epoch) return;
      this.subscribeError = this.#fail('list_connections', err);
      // Still try to subscribe: the stream starts with every connection anyway.
    }

    try {
      // Count and show the first rows; the stream then carries what comes after.
      view.lastSeq = await this.timeline.open(sessionId);
      if (epoch !== this.#epoch) return;
      this.frameCount = this.timeline.total;
      this.#countsUpTo = view.lastSeq;
    } catch (err) {
      if (epoch !== this.#epoch) return;
      this.subscribeError = this.#fail('timeline_count', err);
    }

    try {
      const sub = await this.api.subscribeSession(sessionId, view.lastSeq, (msg) => {
        if (epoch === this.#epoch) this.#queue.push(msg);
      });
      if (epoch !== this.#epoch) {
        sub.close();
        return;
      }
      this.#sub = sub;
    } catch (err) {
      if (epoch !== this.#epoch) return;
      this.subscribeError = this.#fail('subscribe_session', err);
    }
  }

  /**
   * Selects a session as the sidebar does; a client session also puts its latest URL
   * in the URL box, ready for a reconnect.
   */
  async pickSession(sessionId: number): Promise<void> {
    // Picking a session shows its frames: the comparison covering them goes.
    this.diff.close();
    if (sessionId === this.selectedSessionId) return;
    await this.selectSession(sessionId);
    if (this.selectedSessionId === sessionId && !this.isProxy && this.current) {
      this.urlDraft = this.current.url;
    }
  }

  /** Frames of a listed session, counting what already streamed in when it is selected. */
  sessionFrames(s: SessionSummary): number {
    return s.id === this.selectedSessionId ? Math.max(s.frames, this.frameCount) : s.frames;
  }

  /** Frames of one connection of the selected session received so far (read `frameCount` to react). */
  framesOfConnection(connectionId: number): number {
    void this.#connCounts;
    this.#loadConnCounts();
    return this.#view?.connFrames.get(connectionId) ?? 0;
  }

  sessionConnections(s: SessionSummary): number {
    return s.id === this.selectedSessionId ? Math.max(s.connections, this.connections.length) : s.connections;
  }

  /** Delivers queued stream messages now (tests; the queue normally flushes per animation frame). */
  flushStream(): void {
    this.#queue.flush();
  }

  #applyBatch(msgs: StreamMsg[]): void {
    const view = this.#view;
    if (!view) return;
    const res = applyStreamMsgs(view, msgs);
    if (res.framesAdded > 0) {
      const batch: LiveUpdate = { count: res.framesAdded, lastSeq: view.lastSeq, rows: res.frames, digests: res.digests };
      for (const l of this.#liveListeners) l(batch);
      this.timeline.appendLive(batch);
      this.frameCount = this.timeline.total;
    }
    if (res.connectionsChanged) this.connections = view.connections;
    if (res.framesAdded > 0 || res.newConnections.length > 0) this.#refreshSoon();
  }

  pinConnection(id: number | null): void {
    this.pinnedConnectionId = id;
    this.sendError = null;
  }

  async connect(rawUrl: string): Promise<void> {
    const url = rawUrl.trim();
    this.connectError = null;
    if (!url) {
      this.connectError = 'Enter a ws:// or wss:// URL.';
      return;
    }
    if (this.connectPending) return;
    this.connectPending = true;
    try {
      const conn = await this.api.connect(url);
      // Do not wait for the whole backfill; the sidebar refresh runs alongside.
      const selecting = this.selectSession(conn.session_id, conn);
      await Promise.all([selecting, this.refreshSessions()]);
    } catch (err) {
      this.connectError = this.#fail('connect', err);
    } finally {
      this.connectPending = false;
    }
  }

  async disconnect(): Promise<void> {
    const c = this.current;
    if (!c) return;
    this.connectError = null;
    try {
      await this.api.disconnect(c.id);
    } catch (err) {
      this.connectError = this.#fail('disconnect', err);
    }
  }

  /** Sends on the current connection; in a proxy session, injects toward `injectToward`. */
  async send(text: string): Promise<boolean> {
    const inject = this.isProxy;
    return this.#transmit(inject ? 'inject_text' : 'send_text', inject, (sessionId, c, toward) =>
      inject ? this.api.injectText(sessionId, c.id, toward, text) : this.api.sendText(c.id, text),
    );
  }

  /**
   * Injects one frame of any kind (payload as standard base64) into the current proxied
   * connection, toward `injectToward`.
   */
  async injectFrame(opcode: InjectOpcode, payloadBase64: string): Promise<boolean> {
    if (!this.isProxy) {
      this.sendError = 'Frames are injected in a proxy session only.';
      return false;
    }
    return this.#transmit('inject_frame', true, (sessionId, c, toward) =>
      this.api.injectFrame(sessionId, c.id, toward, opcode, payloadBase64),
    );
  }

  async #transmit(
    command: string,
    inject: boolean,
    run: (sessionId: number, c: ConnectionInfo, toward: InjectToward) => Promise<void>,
  ): Promise<boolean> {
    const c = this.current;
    const sessionId = this.selectedSessionId;
    const toward = this.injectToward;
    this.sendError = null;
    if (!c || c.state !== 'open' || sessionId === null) {
      this.sendError = inject ? 'No live proxied connection.' : 'Not connected.';
      return false;
    }
    if (this.sending) return false;
    this.sending = true;
    try {
      await run(sessionId, c, toward);
      this.lastSentAt = Date.now();
      return true;
    } catch (err) {
      this.sendError = this.#fail(command, err);
      return false;
    } finally {
      this.sending = false;
    }
  }

  setInjectToward(toward: InjectToward): void {
    this.injectToward = toward;
    this.sendError = null;
  }

  setInjectKind(kind: InjectKind): void {
    this.injectKind = kind;
    this.sendError = null;
  }

  setBinaryEncoding(encoding: BinaryEncoding): void {
    this.binaryEncoding = encoding;
    this.sendError = null;
  }

  // Proxy panel

  /** Shows or hides the Proxy panel; opening it reloads the running listeners. */
  toggleProxy(open = !this.proxyOpen): void {
    const opening = open && !this.proxyOpen;
    if (open) this.panel = 'proxy';
    else if (this.panel === 'proxy') this.panel = null;
    if (open) void this.loadProxies();
    if (opening) void this.loadCa();
  }

  /** Shows or hides the Intercept panel (Ctrl+I). */
  toggleIntercept(open = this.panel !== 'intercept'): void {
    if (open) this.panel = 'intercept';
    else if (this.panel === 'intercept') this.panel = null;
  }

  /** Shows the frame detail again in the right-hand pane. */
  closePanel(): void {
    this.panel = null;
  }

  /** Reads the local CA (the shell makes it on first use). */
  async loadCa(): Promise<void> {
    const token = ++this.#caToken;
    this.caLoading = true;
    this.caError = null;
    try {
      const info = await this.api.caInfo();
      if (token !== this.#caToken) return;
      this.ca = info;
    } catch (err) {
      if (token !== this.#caToken) return;
      this.caError = this.#fail('ca_info', err);
    } finally {
      if (token === this.#caToken) this.caLoading = false;
    }
  }

  /** Replaces the local CA; resolves true once the new one is shown. */
  async regenerateCa(): Promise<boolean> {
    if (this.caRegenerating) return false;
    const token = ++this.#caToken;
    this.caRegenerating = true;
    this.caLoading = false;
    this.caError = null;
    try {
      const info = await this.api.caRegenerate();
      if (token === this.#caToken) this.ca = info;
      return true;
    } catch (err) {
      const msg = this.#fail('ca_regenerate', err);
      if (token === this.#caToken) this.caError = msg;
      return false;
    } finally {
      this.caRegenerating = false;
    }
  }

  async loadProxies(): Promise<void> {
    try {
      this.proxies = await this.api.listProxies();
    } catch (err) {
      const msg = this.#fail('list_proxies', err);
      // Without a backend the banner says it all; the panel keeps its own slot free.
      if (!this.backendError) this.proxyError = msg;
    } finally {
      this.proxiesLoaded = true;
    }
  }

  /** Starts a listener from the panel's inputs, then selects its session. */
  async startProxy(): Promise<ProxyInfo | null> {
    this.proxyError = null;
    const args = startArgs(this.proxyListen, this.proxyUpstream);
    if (!args.ok) {
      this.proxyError = args.error;
      return null;
    }
    if (this.proxyPending) return null;
    this.proxyPending = true;
    try {
      const info = await this.api.startProxy(args.listen, args.upstream);
      this.proxies = upsertProxy(this.proxies, info);
      // Saved breakpoints apply to the new listener: follow held messages (toolbar badge)
      // even while the Intercept panel is closed.
      void this.intercept.open();
      // The new session records proxied connections as they come: show it now.
      await Promise.all([this.selectSession(info.session_id), this.refreshSessions()]);
      return info;
    } catch (err) {
      this.proxyError = this.#fail('start_proxy', err);
      return null;
    } finally {
      this.proxyPending = false;
    }
  }

  async stopProxy(sessionId: number): Promise<void> {
    if (this.proxyStopping.includes(sessionId)) return;
    this.proxyError = null;
    this.proxyStopping = this.proxyStopping.concat(sessionId);
    try {
      await this.api.stopProxy(sessionId);
      this.proxies = this.proxies.filter((p) => p.session_id !== sessionId);
      void this.refreshSessions();
    } catch (err) {
      this.proxyError = this.#fail('stop_proxy', err);
    } finally {
      this.proxyStopping = this.proxyStopping.filter((id) => id !== sessionId);
    }
  }

  /** Selects a frame and fetches its payload on demand. */
  async selectFrame(seq: number | null): Promise<void> {
    // The Proxy panel shares the right-hand pane with the frame detail: picking a
    // frame shows its detail.
    if (seq !== null) this.panel = null;
    if (seq === this.selectedSeq && this.payload?.status !== 'error') return;
    this.selectedSeq = seq;
    await this.#loadPayload();
  }

  /**
   * Shows the wire bytes (true) or the inflated message (false) of frames that completed
   * a permessage-deflate message; refetches the selected frame's payload if that changes it.
   */
  async setPayloadWire(wire: boolean): Promise<void> {
    this.payloadWire = wire;
    const p = this.payload;
    if (p && p.seq === this.selectedSeq && p.inflated === this.wantsInflated(this.selectedFrame)) return;
    await this.#loadPayload();
  }

  /** Whether the payload of `frame` is fetched as the inflated message. */
  wantsInflated(frame: FrameSummary | null): boolean {
    return !!frame && frame.inflated_len != null && !this.payloadWire;
  }

  /** Fetches the selected frame's payload again (e.g. its row arrived after the selection). */
  reloadPayload(): Promise<void> {
    return this.#loadPayload();
  }

  async #loadPayload(): Promise<void> {
    const seq = this.selectedSeq;
    const token = ++this.#payloadToken;
    const sessionId = this.selectedSessionId;
    if (seq === null || sessionId === null) {
      this.payload = null;
      return;
    }
    const frame = this.selectedFrame;
    const compressed = !!frame && frame.inflated_len != null;
    const inflated = this.wantsInflated(frame);
    this.payload = { seq, inflated, status: 'loading' };
    try {
      // Plain frames keep the plain call; compressed ones say which bytes they want.
      const bytes = compressed
        ? await this.api.getPayload(sessionId, seq, { inflated })
        : await this.api.getPayload(sessionId, seq);
      if (token !== this.#payloadToken) return;
      this.payload = { seq, inflated, status: 'ready', bytes };
    } catch (err) {
      if (token !== this.#payloadToken) return;
      this.payload = { seq, inflated, status: 'error', error: this.#fail('get_payload', err) };
    }
  }

  /** Moves the frame selection by `delta` rows (clamped); returns the new index or -1. */
  moveSelection(delta: number): number {
    return this.timeline.move(delta);
  }

  selectIndex(idx: number): void {
    this.timeline.select(idx);
  }

  /** Deselects the session: no subscription, an empty timeline. */
  clearSelection(): void {
    this.#epoch++;
    this.#sub?.close();
    this.#sub = null;
    this.#queue.clear();
    this.#view = null;
    this.selectedSessionId = null;
    this.timeline.close();
    this.frameCount = 0;
    this.connections = [];
    this.pinnedConnectionId = null;
    this.selectedSeq = null;
    this.payload = null;
    this.subscribeError = null;
    this.sendError = null;
    this.revealSeq = null;
  }

  // Sessions: organise

  async setSort(sort: SessionSort): Promise<void> {
    if (sort === this.sessionSort) return;
    this.sessionSort = sort;
    await this.refreshSessions();
  }

  startRename(sessionId: number): void {
    this.deleteAskId = null;
    this.renameError = null;
    this.renamingId = sessionId;
  }

  cancelRename(): void {
    this.renamingId = null;
    this.renameError = null;
  }

  /** Renames a session; resolves true once done (or when nothing changed). */
  async rename(sessionId: number, raw: string): Promise<boolean> {
    const checked = checkName(raw);
    if (!checked.ok) {
      this.renameError = checked.error;
      return false;
    }
    const current = this.sessions.find((s) => s.id === sessionId);
    if (current && current.name === checked.name) {
      if (this.renamingId === sessionId) this.cancelRename();
      return true;
    }
    if (this.renamePending) return false;
    this.renamePending = true;
    this.renameError = null;
    try {
      await this.api.renameSession(sessionId, checked.name);
      this.sessions = patchSession(this.sessions, sessionId, { name: checked.name });
      if (this.renamingId === sessionId) this.renamingId = null;
      void this.refreshSessions();
      return true;
    } catch (err) {
      this.renameError = this.#fail('rename_session', err);
      return false;
    } finally {
      this.renamePending = false;
    }
  }

  async setPinned(sessionId: number, pinned: boolean): Promise<boolean> {
    try {
      await this.api.setSessionPinned(sessionId, pinned);
      this.sessions = patchSession(this.sessions, sessionId, { pinned });
      await this.refreshSessions();
      return true;
    } catch (err) {
      this.notice = { kind: 'error', error: this.#fail('set_session_pinned', err) };
      return false;
    }
  }

  /** Saves a session's notes (the details panel); errors show there. */
  async saveNotes(sessionId: number, notes: string): Promise<boolean> {
    const problem = checkNotes(notes);
    this.detailsError = problem;
    if (problem) return false;
    try {
      await this.api.setSessionNotes(sessionId, notes);
      this.sessions = patchSession(this.sessions, sessionId, { notes });
      return true;
    } catch (err) {
      this.detailsError = this.#fail('set_session_notes', err);
      return false;
    }
  }

  async saveTags(sessionId: number, tags: string[]): Promise<boolean> {
    this.detailsError = null;
    try {
      await this.api.setSessionTags(sessionId, tags);
      this.sessions = patchSession(this.sessions, sessionId, { tags });
      return true;
    } catch (err) {
      this.detailsError = this.#fail('set_session_tags', err);
      return false;
    }
  }

  askDelete(sessionId: number): void {
    this.renamingId = null;
    this.deleteError = null;
    this.deleteAskId = sessionId;
  }

  cancelDelete(): void {
    this.deleteAskId = null;
    this.deleteError = null;
  }

  /** Deletes a session with its connections and frames; resolves true once it is gone. */
  async deleteSession(sessionId: number): Promise<boolean> {
    if (this.deletePending) return false;
    this.deletePending = true;
    this.deleteError = null;
    try {
      await this.api.deleteSession(sessionId);
      if (this.selectedSessionId === sessionId) this.clearSelection();
      if (this.detailsId === sessionId && this.panel === 'session') this.panel = null;
      if (this.detailsId === sessionId) this.detailsId = null;
      this.sessions = this.sessions.filter((s) => s.id !== sessionId);
      this.proxies = this.proxies.filter((p) => p.session_id !== sessionId);
      this.deleteAskId = null;
      if (this.searchHits) this.searchHits = this.searchHits.filter((h) => h.session !== sessionId);
      await Promise.all([this.refreshSessions(), this.mock.load()]);
      return true;
    } catch (err) {
      this.deleteError = this.#fail('delete_session', err);
      return false;
    } finally {
      this.deletePending = false;
    }
  }

  /** Opens the session details (name, notes, tags, connections) in the right-hand pane. */
  openDetails(sessionId: number, focus: 'notes' | 'tags' | null = null): void {
    this.detailsId = sessionId;
    this.detailsError = null;
    this.detailsFocus = focus;
    this.panel = 'session';
  }

  // Search across sessions

  /** Runs the search box's query over every session's text payloads. */
  async runSearch(query = this.searchQuery): Promise<void> {
    const problem = checkQuery(query);
    const token = ++this.#searchToken;
    this.searchedFor = query.trim();
    if (problem) {
      this.searchError = problem;
      this.searchHits = [];
      this.searchPending = false;
      return;
    }
    this.searchPending = true;
    this.searchError = null;
    try {
      const hits = await this.api.searchPayloads(query.trim(), SEARCH_LIMIT);
      if (token !== this.#searchToken) return;
      this.searchHits = hits;
    } catch (err) {
      if (token !== this.#searchToken) return;
      this.searchHits = [];
      this.searchError = this.#fail('search_payloads', err);
    } finally {
      if (token === this.#searchToken) this.searchPending = false;
    }
  }

  /** Back to the sessions list. */
  clearSearch(): void {
    this.#searchToken++;
    this.searchQuery = '';
    this.searchHits = null;
    this.searchedFor = '';
    this.searchPending = false;
    this.searchError = null;
  }

  /**
   * Shows a search hit: selects its session (the timeline fills through the subscription),
   * selects the frame, and asks the timeline to scroll to it once its row is there.
   */
  async openHit(hit: SearchHit): Promise<void> {
    this.diff.close();
    if (this.selectedSessionId !== hit.session) await this.selectSession(hit.session);
    if (this.selectedSessionId !== hit.session) return;
    this.revealSeq = hit.seq;
    await this.selectFrame(hit.seq);
  }

  /** The timeline scrolled to `revealSeq`. */
  revealed(seq: number): void {
    if (this.revealSeq === seq) this.revealSeq = null;
  }

  // Import and export

  /** Imports a JSONL or HAR file as a new session, then selects it. */
  async importFile(file: ImportFile): Promise<ImportSummary | null> {
    if (this.notice?.kind === 'import-progress') return null;
    const name = file.name || 'import';
    const problem = checkImportFile(name, file.size);
    if (problem) {
      this.notice = { kind: 'import-error', name, error: problem };
      return null;
    }
    this.notice = { kind: 'import-progress', name, size: file.size };
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await file.arrayBuffer());
    } catch (err) {
      const why = err instanceof Error && err.message ? err.message : String(err);
      this.notice = { kind: 'import-error', name, error: `The file could not be read: ${why}` };
      return null;
    }
    try {
      const summary = await this.api.importData(bytes, name);
      this.notice = { kind: 'import-done', name, summary };
      if (this.searchHits !== null) this.clearSearch();
      await this.refreshSessions();
      void this.selectSession(summary.session);
      return summary;
    } catch (err) {
      this.notice = { kind: 'import-error', name, error: this.#fail('import_data', err) };
      return null;
    }
  }

  /** Writes a session as JSONL or HAR into the Downloads folder. */
  async exportSession(sessionId: number, format: ExportFormat): Promise<string | null> {
    if (this.notice?.kind === 'export-progress' || this.notice?.kind === 'import-progress') return null;
    this.notice = { kind: 'export-progress', sessionId, format };
    try {
      const path = await this.api.exportSession(sessionId, format);
      this.notice = { kind: 'export-done', sessionId, format, path };
      return path;
    } catch (err) {
      this.notice = { kind: 'export-error', sessionId, format, error: this.#fail('export_session', err) };
      return null;
    }
  }

  dismissNotice(): void {
    if (this.notice?.kind !== 'import-progress' && this.notice?.kind !== 'export-progress') this.notice = null;
  }

  dispose(): void {
    this.storage.stop();
    this.intercept.close();
    this.wb.dispose();
    this.replay.dispose();
    this.#epoch++;
    this.#sub?.close();
    this.#sub = null;
    this.#queue.clear();
    this.#refreshSoon.cancel();
  }
}
