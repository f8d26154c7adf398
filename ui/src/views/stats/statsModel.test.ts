import { describe, expect, it } from 'vitest';
import { addLive, needsRequery, rateSeries, sizeLabel } from './statsModel';
import type { Stats } from '../../ipc/detail';
import type { FrameSummary } from '../../ipc/types';

function stats(): Stats {
  return {
    session: 1,
    connection: null,
    bucket_us: 1_000_000,
    buckets: [{ t_us: 10_000_000, client: { frames: 1, bytes: 10 }, server: { frames: 0, bytes: 0 } }],
    sizes: [0, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216].map((min, k, a) => ({
      min,
      max: a[k + 1] ?? null,
      client: 0,
      server: 0,
    })),
    totals: {
      client: { frames: 1, bytes: 10 },
      server: { frames: 0, bytes: 0 },
      text: 1,
      binary: 0,
      continuation: 0,
      control: 0,
      first_us: 10_000_000,
      last_us: 10_000_000,
      max_len: 10,
    },
  };
}
const frame = (seq: number, ts_us: number, dir: 'client' | 'server', len: number, connection = 1): FrameSummary =>
  ({ seq, connection, ts_us, dir, opcode: 'text', fin: true, rsv1: false, len, injected: false, masked: false, truncated: false, invalid: false, note: null, inflated_len: null, preview: '', close_code: null, close_reason: null }) as FrameSummary;

describe('live statistics', () => {
  it('adds frames to the right buckets, extends the range, keeps totals and sizes', () => {
    const s = stats();
    expect(addLive(s, [frame(2, 10_500_000, 'server', 100), frame(3, 13_200_000, 'client', 5000), frame(4, 13_300_000, 'client', 1, 2)], 1)).toBe(2);
    expect(s.buckets.map((b) => b.t_us)).toEqual([10e6, 11e6, 12e6, 13e6]);
    expect(s.buckets[0].server).toEqual({ frames: 1, bytes: 100 });
    expect(s.buckets[3].client).toEqual({ frames: 1, bytes: 5000 });
    expect(s.totals.client).toEqual({ frames: 2, bytes: 5010 });
    expect(s.totals.last_us).toBe(13_200_000);
    expect(s.sizes.find((b) => b.min === 64)?.server).toBe(1);
    expect(s.sizes.find((b) => b.min === 4096)?.client).toBe(1);
    // Earlier frames prepend buckets.
    addLive(s, [frame(5, 8_100_000, 'server', 1)], null);
    expect(s.buckets[0].t_us).toBe(8e6);
    const r = rateSeries(s);
    expect(r.t[0]).toBe(7); // padded with an empty bucket on each side
    expect(r.t.at(-1)).toBe(14);
    expect(r.sBytes[3]).toBe(100);
    expect(needsRequery(s, 2)).toBe(true);
    expect(sizeLabel(1024, 4096)).toBe('1K–4K');
    expect(sizeLabel(16777216, null)).toBe('≥16M');
  });
});

describe('uPlot under a POSIX locale', () => {
  it('a navigator.language Intl rejects ("C") becomes en-US; a good one stays', async () => {
    const { ensureIntlLanguage } = await import('./uplot');
    const posix = { language: 'C' };
    expect(() => new Intl.NumberFormat(posix.language)).toThrow(RangeError);
    ensureIntlLanguage(posix);
    expect(posix.language).toBe('en-US');
    const de = { language: 'de-DE' };
    ensureIntlLanguage(de);
    expect(de.language).toBe('de-DE');
  });
});
