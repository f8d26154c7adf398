// The Replay panel's state: the plan of the recorded connection, the editable form, the
// confirmation before sending to another host, and the running replay's progress.
import type { ReplayMode, ReplayPlan, ReplayProgressMsg } from '../ipc/types';
import type { AppState } from './app.svelte';
import { addRow, removeRow, rowsFromHeaders, updateRow, type HeaderRow } from './headers';
import {
  DEFAULT_TIMEOUT_SECS,
  isFinalState,
  replayArgs,
  urlHost,
  type FormField,
} from './replay';

export interface ReplayRun {
  readonly token: number;
  /** The replay's session and connection, once start_replay answered. */
  sessionId: number | null;
  connectionId: number | null;
  originSessionId: number;
  originConnectionId: number;
  url: string;
  progress: ReplayProgressMsg;
}

export class ReplayState {
  readonly #app: AppState;

  /** The recording to replay: a session, and one of its connections (null: the first). */
  source = $state.raw<{ sessionId: number; connectionId: number | null } | null>(null);
  plan = $state.raw<ReplayPlan | null>(null);
  planLoading = $state(false);
  planError = $state<string | null>(null);

  url = $state('');
  headers = $state.raw<HeaderRow[]>([]);
  mode = $state<ReplayMode>('timed');
  speed = $state('1');
  timeout = $state(String(DEFAULT_TIMEOUT_SECS));
  formError = $state.raw<{ field: FormField; error: string; rowId?: number } | null>(null);
  /** Waiting for the user to confirm sending to another host. */
  confirm = $state.raw<{ host: string; messages: number } | null>(null);
  starting = $state(false);

  run = $state.raw<ReplayRun | null>(null);
  stopping = $state(false);
  /** start_replay, stop_replay or url_is_loopback failed. */
  runError = $state<string | null>(null);

  #planToken = 0;
  #runToken = 0;

  constructor(app: AppState) {
    this.#app = app;
  }

  /** A replay is under way (not finished, stopped or failed). */
  get running(): boolean {
    return !!this.run && !isFinalState(this.run.progress.state);
  }

  /** Opens the panel for a recorded connection (default: the session's first) and loads its plan. */
  async open(sessionId: number, connectionId: number | null = null): Promise<void> {
    const app = this.#app;
    app.panel = 'replay';
    const same = this.source?.sessionId === sessionId && this.source.connectionId === connectionId;
    if (same && this.plan && !this.planError) return;
    this.source = { sessionId, connectionId };
    this.confirm = null;
    this.formError = null;
    this.runError = null;
    const token = ++this.#planToken;
    this.plan = null;
    this.planError = null;
    this.planLoading = true;
    try {
      const plan = await app.api.replayPlan(sessionId, connectionId);
      if (token !== this.#planToken) return;
      this.plan = plan;
      this.url = plan.url;
      this.headers = rowsFromHeaders(plan.headers);
    } catch (err) {
      if (token !== this.#planToken) return;
      this.planError = app.fail('replay_plan', err);
    } finally {
      if (token === this.#planToken) this.planLoading = false;
    }
  }

  setUrl(url: string): void {
    this.url = url;
    this.confirm = null;
    if (this.formError?.field === 'url') this.formError = null;
  }

  setMode(mode: ReplayMode): void {
    this.mode = mode;
    this.confirm = null;
    this.formError = null;
  }

  addHeader(): HeaderRow {
    this.headers = addRow(this.headers);
    return this.headers[this.headers.length - 1];
  }

  removeHeader(id: number): void {
    this.headers = removeRow(this.headers, id);
    if (this.formError?.field === 'headers') this.formError = null;
  }

  editHeader(id: number, patch: Partial<Omit<HeaderRow, 'id'>>): void {
    this.headers = updateRow(this.headers, id, patch);
    this.confirm = null;
    if (this.formError?.field === 'headers') this.formError = null;
  }

  /** Restores the recorded URL and headers. */
  resetForm(): void {
    if (!this.plan) return;
    this.url = this.plan.url;
    this.headers = rowsFromHeaders(this.plan.headers);
    this.formError = null;
    this.confirm = null;
  }

  /**
   * Starts the replay. A URL that is not on this machine (the shell's url_is_loopback)
   * first asks: `start(true)` is the user's yes.
   */
  async start(confirmed = false): Promise<boolean> {
    const app = this.#app;
    const plan = this.plan;
    const source = this.source;
    if (!plan || !source || this.starting || this.running) return false;
    this.formError = null;
    this.runError = null;
    const checked = replayArgs({
      sessionId: source.sessionId,
      connectionId: source.connectionId ?? plan.origin_connection_id,
      url: this.url,
      mode: this.mode,
      speed: this.speed,
      timeout: this.timeout,
      headers: this.headers,
    });
    if (!checked.ok) {
      this.formError = { field: checked.field, error: checked.error, rowId: checked.rowId };
      return false;
    }
    const args = checked.args;
    this.starting = true;
    try {
      if (!confirmed) {
        let loopback: boolean;
        try {
          loopback = await app.api.urlIsLoopback(args.url);
        } catch (err) {
          this.runError = app.fail('url_is_loopback', err);
          return false;
        }
        if (!loopback) {
          this.confirm = { host: urlHost(args.url) ?? args.url, messages: plan.client_messages };
          return false;
        }
      }
      this.confirm = null;
      const token = ++this.#runToken;
      this.run = {
        token,
        sessionId: null,
        connectionId: null,
        originSessionId: plan.origin_session_id,
        originConnectionId: plan.origin_connection_id,
        url: args.url,
        progress: { sent: 0, total: plan.client_messages, received: 0, state: 'connecting', error: null },
      };
      try {
        const started = await app.api.startReplay({ ...args, confirmedRemote: confirmed }, (msg) => this.#progress(token, msg));
        const run = this.run;
        if (!run || run.token !== token) return true;
        this.run = {
          ...run,
          sessionId: started.session_id,
          connectionId: started.connection_id,
          progress: { ...run.progress, total: Math.max(run.progress.total, started.total) },
        };
        // The replay is a new session: show it, live.
        await Promise.all([app.refreshSessions(), app.selectSession(started.session_id)]);
        return true;
      } catch (err) {
        if (this.run?.token === token) this.run = null;
        this.runError = app.fail('start_replay', err);
        return false;
      }
    } finally {
      this.starting = false;
    }
  }

  #progress(token: number, msg: ReplayProgressMsg): void {
    const run = this.run;
    if (!run || run.token !== token) return;
    this.run = { ...run, progress: msg };
    if (isFinalState(msg.state)) {
      this.stopping = false;
      void this.#app.refreshSessions();
    }
  }

  cancelConfirm(): void {
    this.confirm = null;
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (!run || run.sessionId === null || !this.running || this.stopping) return;
    this.stopping = true;
    this.runError = null;
    try {
      await this.#app.api.stopReplay(run.sessionId);
    } catch (err) {
      // It may have ended meanwhile: then there is nothing to report.
      if (this.running) this.runError = this.#app.fail('stop_replay', err);
      this.stopping = false;
    }
  }

  /** Opens the diff of the original connection and the replay's. */
  async compare(): Promise<void> {
    const run = this.run;
    if (!run || run.connectionId === null) return;
    await this.#app.diff.show(run.originConnectionId, run.connectionId);
  }

  /** Forgets the finished run (the form is shown alone again). */
  clearRun(): void {
    if (!this.running) {
      this.run = null;
      this.runError = null;
    }
  }

  dispose(): void {
    this.#planToken++;
    this.#runToken++;
  }
}
