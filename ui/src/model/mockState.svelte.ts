// The Mock panel's state: a WebSocket server playing a recording's server side.
import type { MockInfo, MockMode } from '../ipc/types';
import type { AppState } from './app.svelte';
import { DEFAULT_MOCK_LISTEN, mockArgs, type FormField } from './replay';

/** Replaces the mock of the same session, or adds it; sorted by session id (like list_mocks). */
export function upsertMock(list: readonly MockInfo[], m: MockInfo): MockInfo[] {
  const next = list.filter((x) => x.session_id !== m.session_id).concat(m);
  next.sort((a, b) => a.session_id - b.session_id);
  return next;
}

export class MockState {
  readonly #app: AppState;

  /** Running mock servers. */
  list = $state.raw<MockInfo[]>([]);
  loaded = $state(false);
  /** The recording the form starts a mock of. */
  source = $state.raw<{ sessionId: number; connectionId: number | null } | null>(null);
  listen = $state(DEFAULT_MOCK_LISTEN);
  mode = $state<MockMode>('timed');
  speed = $state('1');
  pending = $state(false);
  error = $state<string | null>(null);
  errorField = $state<FormField | null>(null);
  /** Session ids of mocks being stopped. */
  stopping = $state.raw<number[]>([]);
  /** The mock started last from the form (its URL is shown large). */
  last = $state.raw<MockInfo | null>(null);

  constructor(app: AppState) {
    this.#app = app;
  }

  open(sessionId: number, connectionId: number | null = null): void {
    this.#app.panel = 'mock';
    if (this.source?.sessionId !== sessionId || this.source.connectionId !== connectionId) {
      this.source = { sessionId, connectionId };
      this.error = null;
      this.errorField = null;
    }
    void this.load();
  }

  async load(): Promise<void> {
    try {
      this.list = await this.#app.api.listMocks();
    } catch (err) {
      const msg = this.#app.fail('list_mocks', err);
      if (!this.#app.backendError) this.error = msg;
    } finally {
      this.loaded = true;
    }
  }

  clearError(): void {
    this.error = null;
    this.errorField = null;
  }

  async start(): Promise<MockInfo | null> {
    const app = this.#app;
    const source = this.source;
    if (!source || this.pending) return null;
    this.clearError();
    const checked = mockArgs({ ...source, listen: this.listen, mode: this.mode, speed: this.speed });
    if (!checked.ok) {
      this.error = checked.error;
      this.errorField = checked.field;
      return null;
    }
    this.pending = true;
    try {
      const info = await app.api.startMock(checked.args);
      this.list = upsertMock(this.list, info);
      this.last = info;
      // Its session records every client connection: show it, like a capture listener's.
      await Promise.all([app.refreshSessions(), app.selectSession(info.session_id)]);
      return info;
    } catch (err) {
      this.error = app.fail('start_mock', err);
      return null;
    } finally {
      this.pending = false;
    }
  }

  async stop(sessionId: number): Promise<void> {
    if (this.stopping.includes(sessionId)) return;
    this.error = null;
    this.stopping = this.stopping.concat(sessionId);
    try {
      await this.#app.api.stopMock(sessionId);
      this.list = this.list.filter((m) => m.session_id !== sessionId);
      if (this.last?.session_id === sessionId) this.last = null;
      void this.#app.refreshSessions();
    } catch (err) {
      this.error = this.#app.fail('stop_mock', err);
    } finally {
      this.stopping = this.stopping.filter((id) => id !== sessionId);
    }
  }

  /** Clients that connected to a mock: its session's connections. */
  clients(m: MockInfo): number {
    const app = this.#app;
    const s = app.sessions.find((x) => x.id === m.session_id);
    if (s) return app.sessionConnections(s);
    return m.session_id === app.selectedSessionId ? app.connections.length : 0;
  }

  isMock(sessionId: number): boolean {
    return this.list.some((m) => m.session_id === sessionId);
  }
}
