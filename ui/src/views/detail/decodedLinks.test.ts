import { describe, expect, it } from 'vitest';
import { DecodedLinks, type LinkInput } from './decodedLinks.svelte';
import { analyze } from '../../decoders/analyze';
import type { RelatedFetcher, RowLite } from '../../decoders/attachments';

const enc = new TextEncoder();
const V4 = 'ws://h/socket.io/?EIO=4&transport=websocket';

function session(frames: { opcode: string; bytes: Uint8Array | string; dir?: string }[]) {
  const rows = frames.map((f, i) => {
    const bytes = typeof f.bytes === 'string' ? enc.encode(f.bytes) : f.bytes;
    const row: RowLite = { seq: i + 1, connection: 1, dir: f.dir ?? 'server', opcode: f.opcode, fin: true, len: bytes.length, preview: f.opcode === 'text' ? new TextDecoder().decode(bytes) : '' };
    return { row, bytes };
  });
  const calls: string[] = [];
  const push = (opcode: string, bytes: Uint8Array) =>
    rows.push({ row: { seq: rows.length + 1, connection: 1, dir: 'server', opcode, fin: true, len: bytes.length, preview: '' }, bytes });
  const fetcher: RelatedFetcher = {
    async indexOf(seq) {
      calls.push(`indexOf ${seq}`);
      return seq - 1;
    },
    async page(offset, limit) {
      calls.push(`page ${offset} ${limit}`);
      return rows.slice(offset, offset + limit).map((r) => r.row);
    },
    async message(seq) {
      calls.push(`message ${seq}`);
      return rows[seq - 1].bytes;
    },
  };
  const input = (seq: number, url: string | null, choice: LinkInput['choice'] = 'auto'): LinkInput => {
    const r = rows[seq - 1];
    const a = analyze(r.bytes, { opcode: r.row.opcode, decoder: choice, url, dir: r.row.dir });
    return { sessionId: 1, seq, connection: 1, dir: r.row.dir, opcode: r.row.opcode, url, choice, decoded: a.decoded, bytes: r.bytes };
  };
  return { fetcher, calls, input, push };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('decoded links', () => {
  it('an event gets its attachments stitched; its attachment names the event', async () => {
    const s = session([
      { opcode: 'text', bytes: '451-["up",{"_placeholder":true,"num":0}]' },
      { opcode: 'binary', bytes: Uint8Array.from([1, 2]) },
    ]);
    const links = new DecodedLinks(() => s.fetcher);
    const ev = s.input(1, V4);
    links.update(ev);
    expect(links.loading).toBe(true);
    await settle();
    await settle();
    expect(links.loading).toBe(false);
    expect(links.shown(ev.decoded)).toMatchObject({
      summary: 'Socket.IO BINARY_EVENT "up" + 1 binary attachment (1 of 1 stitched)',
      value: { socketio: { args: [{ $attachment: 0, seq: 2, hex: '01 02' }] } },
    });
    const att = s.input(2, V4);
    links.update(att);
    for (let i = 0; i < 5; i++) await settle();
    expect(links.shown(att.decoded)?.summary).toBe('Socket.IO attachment 1 of 1 of event #1 — Socket.IO BINARY_EVENT "up" + 1 binary attachment');
    // The same input again reads nothing.
    const n = s.calls.length;
    links.update(att);
    expect(s.calls.length).toBe(n);
  });
  it('binary frames of other connections are not looked up unless Socket.IO is chosen; late answers are dropped', async () => {
    const s = session([
      { opcode: 'text', bytes: '451-["up",{"_placeholder":true,"num":0}]' },
      { opcode: 'binary', bytes: Uint8Array.from([0x82, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x02]) },
    ]);
    const links = new DecodedLinks(() => s.fetcher);
    const plain = s.input(2, 'ws://h/telemetry');
    links.update(plain);
    await settle();
    expect(s.calls).toEqual([]);
    expect(links.shown(plain.decoded)?.decoder).toBe('msgpack');
    links.update(s.input(2, 'ws://h/telemetry', 'socketio'));
    // Another frame before the answer: the first lookup's result is dropped.
    links.update(null);
    for (let i = 0; i < 5; i++) await settle();
    expect(s.calls.length).toBeGreaterThan(0);
    expect(links.attachmentOf).toBeNull();
    expect(links.loading).toBe(false);
  });
  it('live: an attachment recorded after its event is found by looking again', async () => {
    const s = session([{ opcode: 'text', bytes: '451-["up",{"_placeholder":true,"num":0}]' }]);
    const links = new DecodedLinks(() => s.fetcher);
    const ev = s.input(1, V4);
    links.update(ev);
    for (let i = 0; i < 5; i++) await settle();
    expect(links.attachments?.missing).toBe('1 of 1 attachment not found: not recorded (yet)');
    s.push('binary', Uint8Array.from([9]));
    await expect.poll(() => links.attachments?.found.length, { timeout: 3000 }).toBe(1);
    expect(links.attachments?.missing).toBeNull();
    expect(links.shown(ev.decoded)?.summary).toContain('(1 of 1 stitched)');
  });
});
