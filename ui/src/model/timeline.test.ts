import { describe, expect, it, vi } from 'vitest';
import { TimelineModel } from './timeline.svelte';
import { mkFrame, timelineStub } from '../test/fixtures';
import type { FrameSummary } from '../ipc/types';

const flush = () => new Promise((r) => setTimeout(r, 0));

function setup(n = 1000) {
  const frames: FrameSummary[] = Array.from({ length: n }, (_, i) =>
    mkFrame(i + 1, { dir: i % 2 ? 'server' : 'client', opcode: i % 10 === 9 ? 'binary' : 'text', preview: i % 3 === 0 ? `tick ${i + 1}` : `msg ${i + 1}` }),
  );
  const api = timelineStub((s) => (s === 1 ? frames : []));
  const tl = new TimelineModel(api, { pageSize: 50, maxPages: 4, recountMs: 1 });
  const selected: number[] = [];
  tl.onSelect((f) => selected.push(f.seq));
  return { tl, api, frames, selected };
}

describe('TimelineModel', () => {
  it('opens a session by counting, then fetches only the pages in view', async () => {
    const { tl, api } = setup(100_000);
    expect(await tl.open(1)).toBe(100_000);
    expect(tl.count).toBe(100_000);
    expect(tl.total).toBe(100_000);
    expect(api.timelinePage).not.toHaveBeenCalled();
    tl.visible(0, 30);
    await flush();
    expect(tl.frameAt(0)?.seq).toBe(1);
    expect(tl.frameAt(30)?.seq).toBe(31);
    // Jump to the end: only the last pages are fetched, and the cache stays bounded.
    tl.visible(99_970, 99_999);
    await flush();
    expect(tl.frameAt(99_999)?.seq).toBe(100_000);
    for (let i = 0; i < 20; i++) {
      tl.visible(i * 5000, i * 5000 + 30);
      await flush();
    }
    expect(tl.cache.size).toBeLessThanOrEqual(4);
    const offsets = vi.mocked(api.timelinePage).mock.calls.map((c) => c[2]);
    expect(new Set(offsets).size).toBe(offsets.length); // no page fetched twice while held
  });

  it('selects rows not loaded yet once their page arrives (End on a big list)', async () => {
    const { tl, selected } = setup(10_000);
    await tl.open(1);
    tl.select(9_999);
    expect(selected).toEqual([]);
    await flush();
    expect(selected).toEqual([10_000]);
    expect(tl.scrollRequest?.index).toBe(9_999);
    tl.move(-1);
    expect(selected.at(-1)).toBe(9_999);
    tl.move(-100_000);
    await flush();
    expect(selected.at(-1)).toBe(1);
  });

  it('live frames: follow moves the view, otherwise a pill counts them', async () => {
    const { tl, frames } = setup(100);
    await tl.open(1);
    expect(tl.follow).toBe(true);
    const more = (from: number, n: number) => Array.from({ length: n }, (_, i) => mkFrame(from + i));
    frames.push(...more(101, 5));
    tl.appendLive(frames.slice(100));
    expect(tl.count).toBe(105);
    expect(tl.scrollRequest).toMatchObject({ index: 104, align: 'end' });
    expect(tl.frameAt(104)?.seq).toBe(105); // appended straight into the cache
    const req = tl.scrollRequest;
    tl.atBottom(false); // the user scrolled up
    expect(tl.follow).toBe(false);
    frames.push(...more(106, 7));
    tl.appendLive(frames.slice(105));
    expect(tl.count).toBe(112);
    expect(tl.unseen).toBe(7);
    expect(tl.scrollRequest).toBe(req); // the view stays where it is
    tl.jumpToEnd();
    expect(tl.follow).toBe(true);
    expect(tl.unseen).toBe(0);
    expect(tl.scrollRequest).toMatchObject({ index: 111, align: 'end' });
    // Already-counted frames (a replayed batch) are ignored.
    tl.appendLive(frames.slice(100, 110));
    expect(tl.count).toBe(112);
  });

  it('pause holds the display, resume shows what arrived', async () => {
    const { tl, frames } = setup(10);
    await tl.open(1);
    tl.setPaused(true);
    const f = mkFrame(11);
    frames.push(f);
    tl.appendLive([f]);
    expect(tl.count).toBe(10);
    expect(tl.held).toBe(1);
    expect(tl.total).toBe(11);
    tl.setPaused(false);
    expect(tl.count).toBe(11);
    expect(tl.held).toBe(0);
  });

  it('filters run in the backend and recount as frames arrive', async () => {
    const { tl, api, frames } = setup(300);
    await tl.open(1);
    tl.draft.text = 'TICK';
    tl.draft.dir = 'client';
    expect(await tl.applyDraft(null)).toBe(true);
    expect(tl.filter).toEqual({ dir: 'client', text: { pattern: 'TICK', regex: false, case_sensitive: false } });
    // seq s is "tick" when (s - 1) % 3 == 0 and client when (s - 1) is even: every 6th.
    expect(tl.count).toBe(50);
    expect(tl.total).toBe(300);
    tl.visible(0, 10);
    await flush();
    expect(tl.frameAt(1)?.seq).toBe(7);
    const f = mkFrame(301, { dir: 'client', preview: 'tick late' });
    frames.push(f);
    tl.appendLive([f]);
    await new Promise((r) => setTimeout(r, 20));
    expect(tl.count).toBe(51);
    expect(vi.mocked(api.timelineCount).mock.calls.at(-1)?.[1]).toEqual(tl.filter);
    // A bad draft is refused with its reason and the list keeps its filter.
    tl.draft.minSize = 'big';
    expect(await tl.applyDraft(null)).toBe(false);
    expect(tl.filterError).toMatch(/not a size/);
    expect(tl.count).toBe(51);
  });

  it('reveals a frame by seq under the filter', async () => {
    const { tl, selected } = setup(500);
    await tl.open(1);
    expect(await tl.reveal(321)).toBe(true);
    await flush();
    expect(selected.at(-1)).toBe(321);
    expect(tl.scrollRequest).toMatchObject({ index: 320, align: 'center' });
    await tl.setFilter({ opcodes: ['binary'] });
    expect(await tl.reveal(321)).toBe(false);
  });

  it('groups fragments under their message, expandable', async () => {
    const frames = [
      mkFrame(1),
      mkFrame(2, { dir: 'server', fin: false, preview: 'part 1' }),
      mkFrame(3, { dir: 'client' }),
      mkFrame(4, { dir: 'server', opcode: 'continuation', fin: false, preview: 'part 2' }),
      mkFrame(5, { dir: 'server', opcode: 'continuation', fin: true, preview: 'part 3' }),
      mkFrame(6),
    ];
    const tl = new TimelineModel(timelineStub(() => frames), { pageSize: 50 });
    await tl.open(1);
    await tl.setFilter({ messages: true });
    expect(tl.count).toBe(4);
    tl.visible(0, 10);
    await flush();
    await tl.toggleMessage(1);
    expect(tl.displayCount).toBe(6);
    expect([0, 1, 2, 3, 4, 5].map((i) => tl.frameAt(i)?.seq)).toEqual([1, 2, 4, 5, 3, 6]);
    expect(tl.slot(2)).toMatchObject({ kind: 'fragment', head: 1, part: 1 });
    expect(tl.displayIndexOf(2)).toBe(4);
    await tl.toggleMessage(1);
    expect(tl.displayCount).toBe(4);
  });

  it('switches time columns: absolute, from connection start, delta', async () => {
    const { tl } = setup(10);
    await tl.open(1);
    tl.visible(0, 9);
    await flush();
    const f = tl.frameAt(3)!;
    const conns = [{ id: 1, opened_at_us: f.ts_us - 2000 } as never];
    expect(tl.timeOf(3, f, conns)).toBe(f.ts_us);
    tl.timeMode = 'relative';
    expect(tl.timeOf(3, f, conns)).toBe(2000);
    tl.timeMode = 'delta';
    expect(tl.timeOf(3, f, conns)).toBe(1000);
  });
});

describe('TimelineModel live batches (rows of the newest frames only)', () => {
  const batch = (frames: FrameSummary[], keep: number) => ({
    count: frames.length,
    lastSeq: frames[frames.length - 1].seq,
    rows: frames.slice(-keep),
    digests: [],
  });

  it('grows by the count, shows the newest rows without fetching, pages the rest', async () => {
    const { tl, api, frames } = setup(100);
    await tl.open(1);
    tl.visible(70, 99);
    await flush();
    const calls = vi.mocked(api.timelinePage).mock.calls.length;
    const more = Array.from({ length: 5000 }, (_, i) => mkFrame(101 + i));
    frames.push(...more);
    tl.appendLive(batch(more, 128));
    expect(tl.count).toBe(5100);
    expect(tl.total).toBe(5100);
    expect(tl.lastSeq).toBe(5100);
    expect(tl.scrollRequest).toMatchObject({ index: 5099, align: 'end' });
    // The view follows to the end: those rows came with the batch.
    tl.visible(5070, 5099);
    await flush();
    expect(vi.mocked(api.timelinePage).mock.calls.length).toBe(calls);
    expect(tl.frameAt(5099)?.seq).toBe(5100);
    expect(tl.frameAt(4972)?.seq).toBe(4973);
    expect(tl.frameBySeq(5000)?.seq).toBe(5000);
    // Older rows were never sent: they come from the database when scrolled to.
    expect(tl.frameAt(3000)).toBeUndefined();
    tl.visible(2990, 3010);
    await flush();
    expect(tl.frameAt(3000)?.seq).toBe(3001);
    // Rows that continue the tail extend it.
    const next = [mkFrame(5101), mkFrame(5102)];
    frames.push(...next);
    tl.appendLive(batch(next, 128));
    expect(tl.frameAt(5101)?.seq).toBe(5102);
    expect(tl.frameAt(5000)?.seq).toBe(5001);
  });

  it('does not redraw rows while the view is elsewhere and not following', async () => {
    const { tl, frames } = setup(1000);
    await tl.open(1);
    tl.atBottom(false);
    tl.visible(0, 30);
    await flush();
    const v = tl.version;
    const more = Array.from({ length: 300 }, (_, i) => mkFrame(1001 + i));
    frames.push(...more);
    tl.appendLive(batch(more, 128));
    expect(tl.count).toBe(1300);
    expect(tl.unseen).toBe(300);
    expect(tl.version).toBe(v);
    // Near the end, it does.
    tl.visible(1270, 1299);
    await flush();
    const w = tl.version;
    const last = [mkFrame(1301)];
    frames.push(...last);
    tl.appendLive(batch(last, 128));
    expect(tl.version).toBeGreaterThan(w);
  });

  it('paused: counts what arrives, shows it on resume from the database', async () => {
    const { tl, frames } = setup(10);
    await tl.open(1);
    tl.setPaused(true);
    const more = Array.from({ length: 400 }, (_, i) => mkFrame(11 + i));
    frames.push(...more);
    tl.appendLive(batch(more, 128));
    expect(tl.count).toBe(10);
    expect(tl.held).toBe(400);
    expect(tl.total).toBe(410);
    tl.setPaused(false);
    expect(tl.count).toBe(410);
    tl.visible(380, 409);
    await flush();
    expect(tl.frameAt(409)?.seq).toBe(410);
  });
});
