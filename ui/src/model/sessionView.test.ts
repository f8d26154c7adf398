import { describe, expect, it } from 'vitest';
import {
  applyStreamMsgs,
  createSessionView,
  currentConnection,
  findFrameIndex,
  isLive,
  upsertConnection,
} from './sessionView';
import { connMsg, framesMsg, mkConn, mkFrame } from '../test/fixtures';

describe('applyStreamMsgs', () => {
  it('counts frames per connection, skipping replayed ones', () => {
    const v = createSessionView(1);
    applyStreamMsgs(v, [
      { kind: 'frames', frames: [mkFrame(1, { connection: 1 }), mkFrame(2, { connection: 2 }), mkFrame(3, { connection: 1 })] },
      { kind: 'frames', frames: [mkFrame(3, { connection: 1 }), mkFrame(4, { connection: 2 })] },
    ]);
    expect(v.connFrames.get(1)).toBe(2);
    expect(v.connFrames.get(2)).toBe(2);
    expect(v.connFrames.get(3)).toBeUndefined();
  });

  it('appends frame batches in seq order', () => {
    const v = createSessionView(1);
    const r = applyStreamMsgs(v, [framesMsg(1, 2, 3), framesMsg(4, 5)]);
    expect(r.framesAdded).toBe(5);
    expect(r.frames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(v.lastSeq).toBe(5);
    expect(r.connectionsChanged).toBe(false);
  });

  it('keeps no frames itself (the timeline pages them)', () => {
    const v = createSessionView(1);
    expect(applyStreamMsgs(v, [framesMsg(1)]).frames).toHaveLength(1);
    expect(applyStreamMsgs(v, [framesMsg(2)]).frames.map((f) => f.seq)).toEqual([2]);
    expect(Object.keys(v)).not.toContain('frames');
  });

  it('drops frames it already has (overlapping backfill)', () => {
    const v = createSessionView(1);
    applyStreamMsgs(v, [framesMsg(1, 2, 3)]);
    const r = applyStreamMsgs(v, [framesMsg(2, 3, 4)]);
    expect(r.framesAdded).toBe(1);
    expect(r.framesSkipped).toBe(2);
    expect(r.frames.map((f) => f.seq)).toEqual([4]);
  });

  it('keeps gaps in seq (seqs are per session, not per window)', () => {
    const v = createSessionView(1);
    expect(applyStreamMsgs(v, [framesMsg(3, 10, 11)]).frames.map((f) => f.seq)).toEqual([3, 10, 11]);
  });

  it('upserts connections and reports new ones', () => {
    const v = createSessionView(1);
    const before = v.connections;
    const r1 = applyStreamMsgs(v, [connMsg(mkConn(2, { state: 'connecting' })), connMsg(mkConn(1))]);
    expect(r1.connectionsChanged).toBe(true);
    expect(r1.newConnections).toEqual([2, 1]);
    expect(v.connections.map((c) => c.id)).toEqual([1, 2]);
    expect(v.connections).not.toBe(before); // replaced, so Svelte sees the change
    const r2 = applyStreamMsgs(v, [
      connMsg(mkConn(2, { state: 'open' })),
      connMsg(mkConn(2, { state: 'closed', close_code: 1000, close_reason: 'bye', closed_by: 'server' })),
    ]);
    expect(r2.newConnections).toEqual([]);
    expect(v.connections).toHaveLength(2);
    expect(v.connections[1].state).toBe('closed');
    expect(v.connections[1].close_reason).toBe('bye');
  });

  it('ignores connections of other sessions', () => {
    const v = createSessionView(1);
    const r = applyStreamMsgs(v, [connMsg(mkConn(9, { session_id: 2 }))]);
    expect(r.connectionsChanged).toBe(false);
    expect(v.connections).toEqual([]);
  });

  it('handles a mixed batch: connection first, then frames', () => {
    const v = createSessionView(1);
    const r = applyStreamMsgs(v, [connMsg(mkConn(1)), framesMsg(1, 2), connMsg(mkConn(1, { state: 'closed' }))]);
    expect(r.framesAdded).toBe(2);
    expect(v.connections[0].state).toBe('closed');
  });
});

describe('helpers', () => {
  it('findFrameIndex binary-searches by seq', () => {
    const frames = [1, 4, 5, 9, 12, 40].map((s) => mkFrame(s));
    expect(findFrameIndex(frames, 1)).toBe(0);
    expect(findFrameIndex(frames, 9)).toBe(3);
    expect(findFrameIndex(frames, 40)).toBe(5);
    expect(findFrameIndex(frames, 6)).toBe(-1);
    expect(findFrameIndex([], 1)).toBe(-1);
  });

  it('currentConnection prefers the pinned one, else the newest', () => {
    const list = upsertConnection(upsertConnection([], mkConn(3)), mkConn(1));
    expect(list.map((c) => c.id)).toEqual([1, 3]);
    expect(currentConnection(list, null)?.id).toBe(3);
    expect(currentConnection(list, 1)?.id).toBe(1);
    expect(currentConnection(list, 99)?.id).toBe(3);
    expect(currentConnection([], null)).toBeNull();
  });

  it('isLive', () => {
    expect(isLive(mkConn(1, { state: 'connecting' }))).toBe(true);
    expect(isLive(mkConn(1, { state: 'open' }))).toBe(true);
    expect(isLive(mkConn(1, { state: 'closed' }))).toBe(false);
    expect(isLive(null)).toBe(false);
  });
});
