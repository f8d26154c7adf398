// Collects incoming stream messages and hands them over in one batch per
// animation frame, so a 20k frames/s stream causes at most ~60 renders/s.

export interface Scheduler {
  /** Calls `cb` once, soon (normally on the next animation frame); returns a cancel function. */
  schedule(cb: () => void): () => void;
}

/**
 * requestAnimationFrame, with a timer as a backstop: rAF does not run while the
 * window is hidden or minimised, and the queue must not grow without bound then.
 */
export function animationFrameScheduler(fallbackMs = 250): Scheduler {
  return {
    schedule(cb) {
      let done = false;
      const run = () => {
        if (done) return;
        done = true;
        cancel();
        cb();
      };
      const raf =
        typeof requestAnimationFrame === 'function' ? requestAnimationFrame(run) : null;
      const timer = setTimeout(run, raf === null ? 16 : fallbackMs);
      const cancel = () => {
        if (raf !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(raf);
        clearTimeout(timer);
      };
      return () => {
        done = true;
        cancel();
      };
    },
  };
}

export class FrameQueue<T> {
  #pending: T[] = [];
  #cancel: (() => void) | null = null;
  readonly #onFlush: (items: T[]) => void;
  readonly #scheduler: Scheduler;

  constructor(onFlush: (items: T[]) => void, scheduler: Scheduler = animationFrameScheduler()) {
    this.#onFlush = onFlush;
    this.#scheduler = scheduler;
  }

  /** Number of items waiting for the next flush. */
  get size(): number {
    return this.#pending.length;
  }

  /** True while a flush is scheduled. */
  get scheduled(): boolean {
    return this.#cancel !== null;
  }

  push(item: T): void {
    this.#pending.push(item);
    if (this.#cancel === null) {
      this.#cancel = this.#scheduler.schedule(() => {
        this.#cancel = null;
        this.flush();
      });
    }
  }

  /** Delivers everything pending now (also called by the scheduler). */
  flush(): void {
    if (this.#cancel !== null) {
      const cancel = this.#cancel;
      this.#cancel = null;
      cancel();
    }
    if (this.#pending.length === 0) return;
    const items = this.#pending;
    this.#pending = [];
    this.#onFlush(items);
  }

  /** Drops everything pending without delivering it (e.g. on a session switch). */
  clear(): void {
    if (this.#cancel !== null) {
      this.#cancel();
      this.#cancel = null;
    }
    this.#pending = [];
  }
}

/**
 * Runs `fn` at most once per `ms`: the first call runs after `ms` (coalescing
 * every call made meanwhile), so a steady stream of calls yields one run per `ms`.
 */
export function throttle(
  fn: () => void,
  ms: number,
  timers: {
    set: (cb: () => void, ms: number) => unknown;
    clear: (h: unknown) => void;
  } = {
    set: (cb, t) => setTimeout(cb, t),
    clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  },
): { (): void; cancel(): void; flush(): void } {
  let handle: unknown = null;
  const run = () => {
    handle = null;
    fn();
  };
  const call = () => {
    if (handle === null) handle = timers.set(run, ms);
  };
  call.cancel = () => {
    if (handle !== null) timers.clear(handle);
    handle = null;
  };
  call.flush = () => {
    if (handle !== null) {
      timers.clear(handle);
      run();
    }
  };
  return call;
}
