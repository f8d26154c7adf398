// The diff view's state: two connections (of any sessions), the ignore list, the result.
import type { ConnectionInfo, DiffView, SessionSummary } from '../ipc/types';
import type { AppState } from './app.svelte';
import { connectionLabel, filterRows, parseIgnore } from './diff';

export interface ConnOption {
  id: number;
  sessionId: number;
  label: string;
}

/** Sessions whose connections are read at once when the pickers load. */
const PARALLEL = 4;

export class DiffState {
  readonly #app: AppState;

  shown = $state(false);
  left = $state<number | null>(null);
  right = $state<number | null>(null);
  ignoreText = $state('');
  onlyDiffs = $state(false);
  /** Connections of every session, for the pickers. */
  options = $state.raw<ConnOption[]>([]);
  optionsLoading = $state(false);
  result = $state.raw<DiffView | null>(null);
  /** What the result compares. */
  resultFor = $state.raw<{ left: number; right: number; ignore: string[] } | null>(null);
  pending = $state(false);
  error = $state<string | null>(null);

  readonly rows = $derived(this.result ? filterRows(this.result.rows, this.onlyDiffs) : []);

  #token = 0;
  #optionsToken = 0;

  constructor(app: AppState) {
    this.#app = app;
  }

  /** Opens the view on two connections; compares at once when both are given. */
  async show(left: number | null, right: number | null, run = left !== null && right !== null): Promise<void> {
    this.shown = true;
    this.left = left;
    this.right = right;
    this.error = null;
    if (run) {
      this.result = null;
      this.resultFor = null;
    }
    void this.loadOptions();
    if (run) await this.compare();
  }

  /**
   * Opens the view for a session: a replay (or mock) against its original connection,
   * anything else with its first two connections picked.
   */
  async showFor(s: SessionSummary): Promise<void> {
    const app = this.#app;
    let conns: ConnectionInfo[];
    if (s.id === app.selectedSessionId && app.connections.length) conns = app.connections;
    else {
      try {
        conns = await app.api.listConnections(s.id);
      } catch (err) {
        this.shown = true;
        this.error = app.fail('list_connections', err);
        return;
      }
    }
    if (s.origin_connection_id != null) {
      await this.show(s.origin_connection_id, conns[0]?.id ?? null);
    } else {
      await this.show(conns[0]?.id ?? null, conns[1]?.id ?? null, false);
    }
  }

  /** Reads the connections of every listed session (for the pickers). */
  async loadOptions(): Promise<void> {
    const app = this.#app;
    const token = ++this.#optionsToken;
    this.optionsLoading = true;
    const sessions = app.sessions.slice().sort((a, b) => b.id - a.id);
    const found: ConnOption[][] = new Array(sessions.length);
    let next = 0;
    const worker = async () => {
      while (next < sessions.length) {
        const i = next++;
        try {
          const conns = await app.api.listConnections(sessions[i].id);
          found[i] = conns.map((c) => ({ id: c.id, sessionId: c.session_id, label: connectionLabel(c) }));
        } catch {
          found[i] = [];
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, sessions.length) }, worker));
    if (token !== this.#optionsToken) return;
    this.options = found.flat();
    this.optionsLoading = false;
  }

  swap(): void {
    const l = this.left;
    this.left = this.right;
    this.right = l;
  }

  async compare(): Promise<void> {
    const app = this.#app;
    const left = this.left;
    const right = this.right;
    if (left === null || right === null) {
      this.error = 'Pick a connection on each side.';
      return;
    }
    const ignore = parseIgnore(this.ignoreText);
    const token = ++this.#token;
    this.pending = true;
    this.error = null;
    try {
      const result = await app.api.diffConnections(left, right, ignore);
      if (token !== this.#token) return;
      this.result = result;
      this.resultFor = { left, right, ignore };
    } catch (err) {
      if (token !== this.#token) return;
      this.error = app.fail('diff_connections', err);
    } finally {
      if (token === this.#token) this.pending = false;
    }
  }

  close(): void {
    this.shown = false;
  }
}
