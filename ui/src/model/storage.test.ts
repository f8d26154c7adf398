import { describe, expect, it } from 'vitest';
import type { StorageResumed, StorageStatus } from '../ipc/types';
import { StorageModel, POLL_BUSY, POLL_FAILING, POLL_IDLE, type Timer } from './storage.svelte';
import { megabytes, parseLimitMb, pausedHeadline, resumedText, suggestedLimitMb } from './storage';

const MB = 1024 * 1024;

function ok(extra: Partial<StorageStatus> = {}): StorageStatus {
  return { state: 'ok', path: '/data/s.db', limit_bytes: null, file_bytes: 0, last_resume: null, damage: null, ...extra } as StorageStatus;
}

function paused(cause: 'disk_full' | 'size_limit', pending: number, limit: number | null = null): StorageStatus {
  return {
    state: 'paused',
    path: '/data/s.db',
    limit_bytes: limit,
    file_bytes: 4 * MB,
    last_resume: null,
    damage: null,
    since_us: 1_000_000,
    cause,
    error: 'database or disk is full',
    pending_frames: pending,
  };
}

function resumed(backlog: number, written: number, pause = 1): StorageResumed {
  return {
    pause,
    paused_at_us: 1_000_000,
    resumed_at_us: 13_300_000,
    cause: 'size_limit',
    backlog_frames: backlog,
    written_frames: written,
    done: written >= backlog,
  };
}

/** A timer the test advances by hand. */
function manualTimer(): Timer & { fire(): Promise<void>; delays: number[] } {
  let cb: (() => void) | null = null;
  const delays: number[] = [];
  return {
    delays,
    set(f, ms) {
      cb = f;
      delays.push(ms);
      return delays.length;
    },
    clear() {
      cb = null;
    },
    async fire() {
      const f = cb;
      cb = null;
      f?.();
      await Promise.resolve();
      await Promise.resolve();
    },
  };
}

describe('storage texts', () => {
  it('says the disk is full, how many frames wait and what to do', () => {
    expect(pausedHeadline(paused('disk_full', 1234))).toBe(
      'Capture paused: the disk is full (1,234 frames waiting). Free space and capture resumes automatically.',
    );
    expect(pausedHeadline(paused('size_limit', 1, 3 * MB))).toContain('size limit of 3 MB (1 frame waiting)');
    expect(pausedHeadline(ok())).toBeNull();
  });

  it('tells the resume while writing and once everything is written', () => {
    expect(resumedText(resumed(500, 120))).toBe(
      'Capture resumed after 12.3 s: writing the 500 frames that were waiting (120 so far)…',
    );
    expect(resumedText(resumed(500, 500))).toBe(
      'Capture resumed after 12.3 s: all 500 frames that were waiting were written.',
    );
  });

  it('reads and suggests limits', () => {
    expect(megabytes(3 * MB)).toBe('3 MB');
    expect(megabytes(1.5 * MB)).toBe('1.5 MB');
    expect(parseLimitMb(' 64 ')).toEqual({ mb: 64 });
    expect(parseLimitMb('0')).toEqual({ mb: null });
    expect(parseLimitMb('12.5')).toHaveProperty('error');
    expect(parseLimitMb('-3')).toHaveProperty('error');
    expect(parseLimitMb('99999999999')).toHaveProperty('error');
    expect(suggestedLimitMb(paused('size_limit', 0, 3 * MB))).toBe(68);
  });
});

describe('StorageModel', () => {
  it('polls, shows a pause until it ends, then the resume until dismissed', async () => {
    const answers: StorageStatus[] = [
      ok(),
      paused('size_limit', 40, 3 * MB),
      paused('size_limit', 90, 3 * MB),
      ok({ last_resume: resumed(90, 30), limit_bytes: 64 * MB }),
      ok({ last_resume: resumed(90, 90), limit_bytes: 64 * MB }),
      ok({ last_resume: resumed(90, 90), limit_bytes: 64 * MB }),
    ];
    let i = 0;
    const timer = manualTimer();
    const m = new StorageModel({ storageStatus: async () => answers[Math.min(i++, answers.length - 1)] }, timer);
    m.start();
    await Promise.resolve();
    await Promise.resolve();
    expect(m.paused).toBe(false);
    expect(m.resume).toBeNull();
    expect(timer.delays.at(-1)).toBe(POLL_IDLE);
    await timer.fire();
    expect(m.paused).toBe(true);
    expect(timer.delays.at(-1)).toBe(POLL_BUSY);
    await timer.fire();
    expect(m.status?.state === 'paused' && m.status.pending_frames).toBe(90);
    await timer.fire();
    expect(m.paused).toBe(false);
    expect(m.resume?.written_frames).toBe(30);
    expect(timer.delays.at(-1)).toBe(POLL_BUSY);
    await timer.fire();
    expect(m.resume?.done).toBe(true);
    expect(timer.delays.at(-1)).toBe(POLL_IDLE);
    m.dismissResume();
    expect(m.resume).toBeNull();
    await timer.fire();
    expect(m.resume).toBeNull();
    m.stop();
    await timer.fire();
    expect(i).toBe(6);
  });

  it('applies a limit, refuses a bad one, and backs off without a backend', async () => {
    const asked: (number | null)[] = [];
    const timer = manualTimer();
    const m = new StorageModel(
      {
        storageStatus: async () => {
          throw new Error('unknown command storage_status');
        },
        setDbSizeLimit: async (mb) => {
          asked.push(mb);
          return ok({ limit_bytes: mb === null ? null : mb * MB });
        },
      },
      timer,
    );
    m.start();
    await Promise.resolve();
    await Promise.resolve();
    expect(timer.delays.at(-1)).toBe(POLL_FAILING);
    m.openLimitEditor(68);
    expect(m.limitText).toBe('68');
    expect(await m.applyLimit('lots')).toBe(false);
    expect(m.limitError).toMatch(/whole number/);
    expect(m.editingLimit).toBe(true);
    expect(await m.applyLimit('0')).toBe(true);
    expect(await m.applyLimit('128')).toBe(true);
    expect(asked).toEqual([null, 128]);
    expect(m.status?.limit_bytes).toBe(128 * MB);
    expect(m.editingLimit).toBe(false);
    m.stop();
  });
});
