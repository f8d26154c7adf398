// Repeat: send the composer's message every N ms, K times or until stopped. Sends never
// overlap: the next one is due N ms after the previous one was due (no drift), or at once
// when a send took longer than N ms (missed ticks are not made up in a burst). A failed
// send stops the run and keeps the error. Timers are injected so tests run on a fake
// clock. Pure TS; unit-tested in repeat.test.ts.

export const REPEAT_MIN_MS = 10;
export const REPEAT_MAX_MS = 86_400_000;
export const REPEAT_MAX_COUNT = 1_000_000;

export interface RepeatClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: RepeatClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export type RepeatPlan = { ok: true; intervalMs: number; count: number | null } | { ok: false; error: string };

/** Checks the interval and count fields; an empty count means "until stopped". */
export function parseRepeat(interval: string, count: string): RepeatPlan {
  const i = interval.trim();
  if (!/^\d+$/.test(i)) return { ok: false, error: 'The interval is a whole number of milliseconds.' };
  const ms = Number(i);
  if (ms < REPEAT_MIN_MS || ms > REPEAT_MAX_MS) {
    return { ok: false, error: `The interval is ${REPEAT_MIN_MS} ms to ${REPEAT_MAX_MS / 3_600_000} h.` };
  }
  const c = count.trim();
  if (c === '' || c === '∞') return { ok: true, intervalMs: ms, count: null };
  if (!/^\d+$/.test(c) || Number(c) < 1 || Number(c) > REPEAT_MAX_COUNT) {
    return { ok: false, error: `The count is 1 to ${REPEAT_MAX_COUNT.toLocaleString('en-US')}, or empty for "until stopped".` };
  }
  return { ok: true, intervalMs: ms, count: Number(c) };
}

export type RepeatStatus = 'running' | 'done' | 'stopped' | 'failed';

export interface RepeatState {
  status: RepeatStatus;
  sent: number;
  count: number | null;
  intervalMs: number;
  error: string | null;
}

/**
 * One run. `send` resolves true when the message went out, false (or rejects) when it did
 * not; `onChange` sees every state change.
 */
export class RepeatRun {
  #state: RepeatState;
  #clock: RepeatClock;
  #send: (i: number) => Promise<boolean>;
  #onChange: (s: RepeatState) => void;
  #timer: unknown = null;
  #due = 0;

  constructor(
    plan: { intervalMs: number; count: number | null },
    send: (i: number) => Promise<boolean>,
    onChange: (s: RepeatState) => void,
    clock: RepeatClock = realClock,
  ) {
    this.#state = { status: 'running', sent: 0, count: plan.count, intervalMs: plan.intervalMs, error: null };
    this.#clock = clock;
    this.#send = send;
    this.#onChange = onChange;
  }

  get state(): RepeatState {
    return this.#state;
  }

  get running(): boolean {
    return this.#state.status === 'running';
  }

  /** Sends the first message now, then one every interval. */
  start(): void {
    this.#due = this.#clock.now();
    this.#onChange(this.#state);
    void this.#tick();
  }

  stop(): void {
    if (!this.running) return;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#set({ status: 'stopped' });
  }

  #set(patch: Partial<RepeatState>): void {
    this.#state = { ...this.#state, ...patch };
    this.#onChange(this.#state);
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    if (!this.running) return;
    let ok: boolean;
    let error: string | null = null;
    try {
      ok = await this.#send(this.#state.sent);
    } catch (err) {
      ok = false;
      error = err instanceof Error ? err.message : String(err);
    }
    if (!this.running) return;
    if (!ok) {
      this.#set({ status: 'failed', error: error ?? 'The message could not be sent.' });
      return;
    }
    const sent = this.#state.sent + 1;
    if (this.#state.count !== null && sent >= this.#state.count) {
      this.#set({ sent, status: 'done' });
      return;
    }
    this.#set({ sent });
    const now = this.#clock.now();
    this.#due = Math.max(this.#due + this.#state.intervalMs, now);
    this.#timer = this.#clock.setTimeout(() => void this.#tick(), this.#due - now);
  }
}
