import { describe, expect, it } from 'vitest';
import { DecoderChoiceModel, isChoice } from './decoderChoices.svelte';
import type { DecoderChoices } from '../ipc/decoders';

function fakeApi(saved: Record<number, DecoderChoices> = {}) {
  const sets: [number, number | null, string | null][] = [];
  let failSet = false;
  const api = {
    async get(sid: number) {
      if (!saved[sid]) throw new Error(`session ${sid} not found`);
      return saved[sid];
    },
    async set(sid: number, conn: number | null, d: string | null) {
      if (failSet) throw new Error('disk full');
      sets.push([sid, conn, d]);
    },
  };
  return { api, sets, fail: () => (failSet = true) };
}

describe('decoder choice model', () => {
  it('resolves connection > session default > auto, ignoring names it does not know', async () => {
    const { api } = fakeApi({ 3: { session: 'msgpack', connections: [[7, 'socketio'], [8, 'made-up'], [9, 'none']] } });
    const errors: string[] = [];
    const m = new DecoderChoiceModel(api, (c) => errors.push(c));
    expect(m.effective(3, 7)).toBe('auto');
    await m.load(3);
    expect(m.effective(3, 7)).toBe('socketio');
    expect(m.effective(3, 8)).toBe('msgpack'); // unknown name: the default applies
    expect(m.effective(3, 9)).toBe('none');
    expect(m.effective(3, 10)).toBe('msgpack');
    expect(m.effective(null, 7)).toBe('auto');
    await m.load(4); // unknown session: reported, nothing chosen
    expect(errors).toEqual(['get_decoder_choices']);
    expect(m.effective(4, 1)).toBe('auto');
    expect(isChoice('sockjs')).toBe(true);
    expect(isChoice('Socket.IO')).toBe(false);
  });
  it('saves connection choices and the session default; a failed save is reported', async () => {
    const { api, sets, fail } = fakeApi({ 3: { session: null, connections: [] } });
    const errors: string[] = [];
    const m = new DecoderChoiceModel(api, (c) => errors.push(c));
    await m.load(3);
    await m.setConnection(3, 7, 'stomp');
    await m.setSession(3, 'cbor');
    expect(m.effective(3, 7)).toBe('stomp');
    expect(m.effective(3, 8)).toBe('cbor');
    await m.setConnection(3, 7, null);
    expect(m.effective(3, 7)).toBe('cbor');
    await m.setSession(3, null);
    expect(m.effective(3, 7)).toBe('auto');
    expect(sets).toEqual([
      [3, 7, 'stomp'],
      [3, null, 'cbor'],
      [3, 7, null],
      [3, null, null],
    ]);
    fail();
    await m.setConnection(3, 7, 'graphql');
    expect(errors).toEqual(['set_decoder_choice']);
  });
});
