import { describe, expect, it, vi } from 'vitest';
import { FrameQueue, animationFrameScheduler, throttle, type Scheduler } from './frameQueue';

/** A scheduler the test drives by hand, like a requestAnimationFrame loop. */
function manualScheduler() {
  const pending = new Map<number, () => void>();
  let next = 1;
  const s: Scheduler & { tick(): void; count(): number } = {
    schedule(cb) {
      const id = next++;
      pending.set(id, cb);
      return () => pending.delete(id);
    },
    tick() {
      const cbs = [...pending.values()];
      pending.clear();
      for (const cb of cbs) cb();
    },
    count: () => pending.size,
  };
  return s;
}

describe('FrameQueue', () => {
  it('delivers everything pushed within one frame as a single batch', () => {
    const sched = manualScheduler();
    const batches: number[][] = [];
    const q = new FrameQueue<number>((b) => batches.push(b), sched);
    for (let i = 0; i < 20_000; i++) q.push(i);
    expect(batches).toHaveLength(0);
    expect(sched.count()).toBe(1); // one frame requested, not 20k
    expect(q.size).toBe(20_000);
    sched.tick();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(20_000);
    expect(batches[0][0]).toBe(0);
    expect(batches[0][19_999]).toBe(19_999);
    expect(q.size).toBe(0);
    expect(q.scheduled).toBe(false);
  });

  it('schedules a new frame for items arriving after a flush', () => {
    const sched = manualScheduler();
    const batches: string[][] = [];
    const q = new FrameQueue<string>((b) => batches.push(b), sched);
    q.push('a');
    sched.tick();
    q.push('b');
    q.push('c');
    expect(sched.count()).toBe(1);
    sched.tick();
    expect(batches).toEqual([['a'], ['b', 'c']]);
  });

  it('flush() delivers now and cancels the scheduled frame', () => {
    const sched = manualScheduler();
    const onFlush = vi.fn();
    const q = new FrameQueue<number>(onFlush, sched);
    q.push(1);
    q.flush();
    expect(onFlush).toHaveBeenCalledWith([1]);
    expect(sched.count()).toBe(0);
    q.flush(); // nothing pending: no empty batch
    expect(onFlush).toHaveBeenCalledTimes(1);
  });

  it('clear() drops pending items', () => {
    const sched = manualScheduler();
    const onFlush = vi.fn();
    const q = new FrameQueue<number>(onFlush, sched);
    q.push(1);
    q.clear();
    sched.tick();
    expect(onFlush).not.toHaveBeenCalled();
    q.push(2);
    sched.tick();
    expect(onFlush).toHaveBeenCalledWith([2]);
  });

  it('uses requestAnimationFrame, with a timer backstop when frames do not run', () => {
    vi.useFakeTimers();
    const rafs: FrameRequestCallback[] = [];
    vi.stubGlobal('requestAnimationFrame', (cb: FrameRequestCallback) => rafs.push(cb));
    vi.stubGlobal('cancelAnimationFrame', () => {});
    try {
      const onFlush = vi.fn();
      const q = new FrameQueue<number>(onFlush, animationFrameScheduler(250));
      q.push(1);
      q.push(2);
      expect(rafs).toHaveLength(1);
      rafs[0](0);
      expect(onFlush).toHaveBeenCalledWith([1, 2]);
      // The backstop timer of that frame must not flush again.
      q.push(3);
      expect(rafs).toHaveLength(2);
      vi.advanceTimersByTime(249);
      expect(onFlush).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(1); // hidden window: rAF never fired, the timer did
      expect(onFlush).toHaveBeenLastCalledWith([3]);
      rafs[1](0); // a late frame is a no-op
      expect(onFlush).toHaveBeenCalledTimes(2);
    } finally {
      vi.unstubAllGlobals();
      vi.useRealTimers();
    }
  });
});

describe('throttle', () => {
  it('runs at most once per interval under a steady stream of calls', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      const t = throttle(fn, 1000);
      for (let ms = 0; ms < 3500; ms += 50) {
        t();
        vi.advanceTimersByTime(50);
      }
      expect(fn).toHaveBeenCalledTimes(3);
      vi.advanceTimersByTime(1000);
      expect(fn).toHaveBeenCalledTimes(4); // the trailing call
      t.cancel();
    } finally {
      vi.useRealTimers();
    }
  });

  it('cancel() and flush()', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      const t = throttle(fn, 1000);
      t();
      t.cancel();
      vi.advanceTimersByTime(2000);
      expect(fn).not.toHaveBeenCalled();
      t();
      t.flush();
      expect(fn).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(2000);
      expect(fn).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
