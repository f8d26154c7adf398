import { describe, expect, it } from 'vitest';
import { parseRepeat, RepeatRun, type RepeatClock, type RepeatState } from './repeat';

/** A fake clock: timers fire when `advance` passes their time. */
class FakeClock implements RepeatClock {
  t = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.#id;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = end;
  }
}

const flush = () => new Promise<void>((r) => setTimeout(r, 0));

describe('parseRepeat', () => {
  it('accepts an interval and an optional count', () => {
    expect(parseRepeat('250', '5')).toEqual({ ok: true, intervalMs: 250, count: 5 });
    expect(parseRepeat(' 1000 ', '')).toEqual({ ok: true, intervalMs: 1000, count: null });
  });
  it('rejects what cannot be scheduled', () => {
    expect(parseRepeat('5', '1').ok).toBe(false);
    expect(parseRepeat('1.5', '1').ok).toBe(false);
    expect(parseRepeat('100', '0').ok).toBe(false);
    expect(parseRepeat('100', '-1').ok).toBe(false);
    expect(parseRepeat('100', '2000000').ok).toBe(false);
  });
});

describe('RepeatRun', () => {
  it('sends K times, N ms apart, then is done', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    const states: RepeatState[] = [];
    const run = new RepeatRun({ intervalMs: 100, count: 3 }, async () => (times.push(clock.t), true), (s) => states.push(s), clock);
    run.start();
    await flush();
    await clock.advance(1000);
    expect(times).toEqual([0, 100, 200]);
    expect(run.state).toMatchObject({ status: 'done', sent: 3 });
    expect(clock.timers).toHaveLength(0);
    expect(states.at(-1)?.status).toBe('done');
  });

  it('runs until stopped without a count, and stop cancels the next send', async () => {
    const clock = new FakeClock();
    let n = 0;
    const run = new RepeatRun({ intervalMs: 50, count: null }, async () => (n++, true), () => {}, clock);
    run.start();
    await flush();
    await clock.advance(480);
    expect(n).toBe(10);
    run.stop();
    await clock.advance(500);
    expect(n).toBe(10);
    expect(run.state).toMatchObject({ status: 'stopped', sent: 10 });
  });

  it('never overlaps sends and does not burst after a slow one', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const send = async (i: number) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      times.push(clock.t);
      // The second send takes 350 ms.
      if (i === 1) await new Promise<void>((r) => clock.setTimeout(r, 350));
      inFlight--;
      return true;
    };
    const run = new RepeatRun({ intervalMs: 100, count: 4 }, send, () => {}, clock);
    run.start();
    await flush();
    await clock.advance(1000);
    expect(maxInFlight).toBe(1);
    expect(times).toEqual([0, 100, 450, 550]);
  });

  it('stops on a failed send and keeps the error', async () => {
    const clock = new FakeClock();
    let n = 0;
    const run = new RepeatRun(
      { intervalMs: 10, count: null },
      async () => {
        if (++n === 3) throw new Error('Not connected.');
        return true;
      },
      () => {},
      clock,
    );
    run.start();
    await flush();
    await clock.advance(100);
    expect(run.state).toMatchObject({ status: 'failed', sent: 2, error: 'Not connected.' });
    expect(n).toBe(3);
  });
});
