// Engine.IO v3, SockJS (+ STOMP inside) and Socket.IO binary attachments, against the byte
// vectors of engine.io-protocol (v3 and v4 READMEs), socket.io-protocol v5, the SockJS
// protocol (sockjs-protocol-0.3.3 "Framing") and STOMP 1.2; hostile input must neither throw
// out of a sniffer nor hang.
import { describe, expect, it } from 'vitest';
import { decodeWith, sniff, sniffAll, type SniffContext } from './index';
import { analyze } from './analyze';
import {
  BYTES_BUDGET,
  MAX_ATTACHMENTS,
  SCAN_FRAMES,
  declaredAttachments,
  findEventOf,
  loadAttachments,
  placeholders,
  stitch,
  type RelatedFetcher,
  type RowLite,
} from './attachments';
import { engineVersionOfPacket, engineVersionOfUrl } from './socketio';
import { isSockJsUrl } from './sockjs';

const enc = new TextEncoder();
const V3 = 'ws://127.0.0.1:3000/socket.io/?EIO=3&transport=websocket';
const V4 = 'ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket';
function txt(s: string, extra: Partial<SniffContext> = {}): [Uint8Array, SniffContext] {
  return [enc.encode(s), { text: s, opcode: 'text', ...extra }];
}
function binCtx(extra: Partial<SniffContext> = {}): SniffContext {
  return { text: null, opcode: 'binary', ...extra };
}

describe('Engine.IO v3 (engine.io-protocol v3)', () => {
  it('the version comes from the URL, else from the open packet and who pings', () => {
    expect(engineVersionOfUrl(V3)).toBe(3);
    expect(engineVersionOfUrl(V4)).toBe(4);
    expect(engineVersionOfUrl('ws://h/socket.io/?transport=websocket')).toBeNull();
    expect(engineVersionOfPacket('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":60000}')).toBe(3);
    expect(engineVersionOfPacket('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')).toBe(4);
    expect(engineVersionOfPacket('2', 'client')).toBe(3);
    expect(engineVersionOfPacket('2', 'server')).toBe(4);
    expect(engineVersionOfPacket('3', 'server')).toBe(3);
    expect(engineVersionOfPacket('2probe', 'client')).toBeNull();
  });
  it('open without maxPayload, client ping / server pong, probes', () => {
    const open = '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}';
    const [b, ctx] = txt(open, { dir: 'server' });
    expect(sniff(b, ctx)).toBe('socketio');
    expect(decodeWith('socketio', b, ctx).value).toMatchObject({ engineio: { type: 0, name: 'open', version: 3 }, data: { pingTimeout: 5000 } });
    const ping = txt('2', { url: V3, dir: 'client' });
    expect(sniff(...ping)).toBe('socketio');
    expect(decodeWith('socketio', ...ping).summary).toBe('Engine.IO v3 ping');
    expect(decodeWith('socketio', ...txt('3', { url: V3, dir: 'server' })).summary).toBe('Engine.IO v3 pong');
    // A server ping is v4 behaviour: on a v3 connection it is flagged.
    expect(decodeWith('socketio', ...txt('2', { url: V3, dir: 'server' })).summary).toBe('Engine.IO v3 ping (unexpected from the server in v3)');
    expect(decodeWith('socketio', ...txt('2probe', { url: V3, dir: 'client' })).summary).toBe('Engine.IO v3 ping probe');
    expect(decodeWith('socketio', ...txt('3probe', { url: V3, dir: 'server' })).summary).toBe('Engine.IO v3 pong probe');
    // v4: the server pings.
    expect(decodeWith('socketio', ...txt('2', { url: V4, dir: 'server' })).summary).toBe('Engine.IO ping');
  });
  it('binary frames: the packet type byte first (v3), the message as is (v4)', () => {
    const b = Uint8Array.from([0x04, 0x01, 0x02, 0x03, 0x04]);
    expect(sniff(b, binCtx({ url: V3 }))).toBe('socketio');
    const d = decodeWith('socketio', b, binCtx({ url: V3 }));
    expect(d.value).toEqual({ engineio: { type: 4, name: 'message', version: 3 }, binary: { bytes: 4, hex: '01 02 03 04', base64: 'AQIDBA==' } });
    expect(d.summary).toBe('Engine.IO v3 binary message (4 B)');
    // v4: the frame is the message itself; its content's decoder (or the Hex view) comes first.
    expect(sniff(b, binCtx({ url: V4 }))).toBeNull();
    const mp = Uint8Array.from([0x82, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x02]);
    expect(sniff(mp, binCtx({ url: V4 }))).toBe('msgpack');
    const d4 = decodeWith('socketio', b, binCtx({ url: V4 }));
    expect(d4.value).toMatchObject({ engineio: { version: 4 }, binary: { bytes: 5, hex: '04 01 02 03 04' } });
    // v3 binary frame whose first byte is no packet type.
    expect(sniffAll(Uint8Array.from([0x99, 1]), binCtx({ url: V3 })).find((x) => x.id === 'socketio')).toBeUndefined();
    expect(() => decodeWith('socketio', Uint8Array.from([0x99, 1]), binCtx({ url: V3 }))).toThrow(/not a packet type/);
    expect(() => decodeWith('socketio', new Uint8Array(0), binCtx({ url: V3 }))).toThrow(/none/);
    // Without a Socket.IO URL a binary frame is not claimed.
    expect(sniffAll(b, binCtx()).find((x) => x.id === 'socketio')).toBeUndefined();
  });
  it('base64 binary packets: b4<base64> (v3), b<base64> (v4)', () => {
    const v3 = txt('b4AQIDBA==', { url: V3 });
    expect(sniff(...v3)).toBe('socketio');
    expect(decodeWith('socketio', ...v3).value).toEqual({ engineio: { type: 4, name: 'message', version: 3 }, binary: { bytes: 4, hex: '01 02 03 04', base64: 'AQIDBA==' } });
    const v4 = txt('bAQIDBA==', { url: V4 });
    expect(decodeWith('socketio', ...v4).value).toMatchObject({ engineio: { version: 4 }, binary: { bytes: 4, hex: '01 02 03 04' } });
    // Without the URL the shape decides: a digit after "b" and base64 after it is v3.
    expect(decodeWith('socketio', ...txt('b4AQIDBA==')).value).toMatchObject({ engineio: { version: 3 }, binary: { bytes: 4 } });
    // Words starting with b are not claimed without a Socket.IO URL.
    expect(sniff(...txt('bread'))).toBeNull();
    expect(() => decodeWith('socketio', ...txt('b4!!', { url: V3 }))).toThrow(/not base64/);
  });
  it('Socket.IO protocol 4 (v3 servers) names packet type 4 ERROR', () => {
    expect(decodeWith('socketio', ...txt('44"Not authorized"', { url: V3 })).value).toMatchObject({ socketio: { name: 'ERROR', data: 'Not authorized' } });
    expect(decodeWith('socketio', ...txt('44{"message":"x"}', { url: V4 })).value).toMatchObject({ socketio: { name: 'CONNECT_ERROR' } });
  });
});

describe('SockJS framing and STOMP over SockJS', () => {
  const SOCKJS_URL = 'ws://127.0.0.1:8080/ws/123/abcdefgh/websocket';
  it('recognises SockJS URLs', () => {
    expect(isSockJsUrl(SOCKJS_URL)).toBe(true);
    expect(isSockJsUrl('wss://h/sockjs/websocket')).toBe(true);
    expect(isSockJsUrl('ws://h/chat')).toBe(false);
    expect(isSockJsUrl('ws://h/socket.io/?EIO=4&transport=websocket')).toBe(false);
  });
  it('o, h, a[…], m"…", c[code,"reason"] (protocol examples)', () => {
    const dec = (s: string, dir = 'server') => decodeWith('sockjs', ...txt(s, { dir }));
    expect(dec('o')).toMatchObject({ summary: 'SockJS open', value: { sockjs: { frame: 'o', type: 'open' } } });
    expect(dec('h').summary).toBe('SockJS heartbeat');
    expect(dec('a["a","b"]')).toMatchObject({ summary: 'SockJS a[2]: text, text', value: { messages: [{ text: 'a' }, { text: 'b' }] } });
    expect(dec('m"a"').value).toEqual({ sockjs: { frame: 'm', type: 'message' }, messages: [{ text: 'a' }] });
    expect(dec('c[3000,"Go away!"]')).toMatchObject({ summary: 'SockJS close 3000 "Go away!"', value: { sockjs: { code: 3000, reason: 'Go away!' } } });
    // Plain SockJS with JSON payloads.
    const j = dec('a["{\\"type\\":\\"tick\\",\\"p\\":1}"]');
    expect(j.summary).toBe('SockJS a[1]: JSON');
    expect(j.value).toMatchObject({ messages: [{ json: { type: 'tick', p: 1 } }] });
    for (const s of ['a["a"]', 'm"a"', 'c[3000,"Go away!"]']) expect(sniff(...txt(s, { dir: 'server' })), s).toBe('sockjs');
    expect(sniff(...txt('o', { dir: 'server', url: SOCKJS_URL }))).toBe('sockjs');
    // A client's array of strings is SockJS only with a SockJS URL (or STOMP inside).
    expect(sniff(...txt('["a"]', { dir: 'client' }))).toBeNull();
    expect(sniff(...txt('["a"]', { dir: 'client', url: SOCKJS_URL }))).toBe('sockjs');
    expect(decodeWith('sockjs', ...txt('["a"]', { dir: 'client' })).summary).toBe('SockJS send[1]: text');
  });
  it('STOMP frames inside, with the escaped NUL terminator', () => {
    const connect = JSON.stringify(['CONNECT\naccept-version:1.1,1.0\nheart-beat:10000,10000\n\n\u0000']);
    expect(connect).toContain('\\u0000');
    const c = txt(connect, { dir: 'client' });
    expect(sniff(...c)).toBe('sockjs');
    expect(decodeWith('sockjs', ...c)).toMatchObject({
      summary: 'SockJS send[1]: STOMP CONNECT',
      value: { messages: [{ stomp: { command: 'CONNECT', headers: { 'accept-version': '1.1,1.0', 'heart-beat': '10000,10000' }, body: '' } }] },
    });
    const body = '{"content":"Hello, Sockscope!"}';
    const msg = `MESSAGE\ndestination:/topic/greetings\ncontent-type:application/json;charset=UTF-8\nsubscription:sub-0\nmessage-id:abc-0\ncontent-length:${enc.encode(body).length}\n\n${body}\u0000`;
    const m = txt(`a${JSON.stringify([msg])}`, { dir: 'server' });
    expect(sniff(...m)).toBe('sockjs');
    const d = decodeWith('sockjs', ...m);
    expect(d.summary).toBe('SockJS a[1]: STOMP MESSAGE /topic/greetings (31 B body)');
    expect(d.value).toMatchObject({ messages: [{ stomp: { command: 'MESSAGE', headers: { subscription: 'sub-0' }, body: { content: 'Hello, Sockscope!' } } }] });
    // Two frames in one message, and a heart-beat.
    const two = `a${JSON.stringify(['SEND\ndestination:/a\n\nx\u0000\nSEND\ndestination:/b\n\ny\u0000', '\n'])}`;
    const d2 = decodeWith('sockjs', ...txt(two, { dir: 'server' }));
    expect(d2.summary).toBe('SockJS a[2]: 2 STOMP frames: STOMP SEND /a (1 B body), STOMP SEND /b (1 B body), STOMP heart-beat');
    expect(d2.value).toMatchObject({ messages: [{ stomp: { frames: [{ body: 'x' }, { body: 'y' }] } }, { stomp: { heartbeat: true } }] });
    // UTF-8 body: content-length counts bytes.
    const u = 'é€';
    const d3 = decodeWith('sockjs', ...txt(`a${JSON.stringify([`MESSAGE\ndestination:/u\ncontent-length:5\n\n${u}\u0000`])}`, { dir: 'server' }));
    expect(d3.value).toMatchObject({ messages: [{ stomp: { body: u } }] });
  });
  it('analysis picks SockJS for STOMP over SockJS and the decoded tree holds the frame', () => {
    const a = analyze(enc.encode('a["CONNECTED\\nversion:1.2\\nheart-beat:0,0\\n\\n\\u0000"]'), { opcode: 'text', decoder: 'auto', dir: 'server' });
    expect(a.decoded).toMatchObject({ ok: true, decoder: 'sockjs', summary: 'SockJS a[1]: STOMP CONNECTED' });
  });
  it('broken envelopes and broken STOMP inside do not throw out of the sniffer', () => {
    for (const s of ['a[', 'a[1,2]', 'c[3000]', 'c["x","y"]', 'm', 'm"', 'a["MESSAGE\\ndestination:/x\\n\\nno nul"]', 'a["CONNECT\\n"]', '[1]', '"\\ud800"']) {
      const [b, ctx] = txt(s, { dir: 'server' });
      expect(() => sniffAll(b, ctx), s).not.toThrow();
    }
    expect(() => decodeWith('sockjs', ...txt('a[', { dir: 'server' }))).toThrow(/not a SockJS frame/);
    // STOMP that does not parse stays text inside a valid envelope.
    expect(decodeWith('sockjs', ...txt('a["MESSAGE\\ndestination:/x\\n\\nno nul"]', { dir: 'server' })).value).toMatchObject({
      messages: [{ text: 'MESSAGE\ndestination:/x\n\nno nul' }],
    });
    // A lying content-length does not read past the end.
    expect(decodeWith('sockjs', ...txt('a["SEND\\ncontent-length:99999999\\n\\nx\\u0000"]', { dir: 'server' })).value).toMatchObject({ messages: [{ text: expect.any(String) }] });
  });
});

/** A session in memory behind the fetcher (seq = index + 1, like an unfiltered timeline). */
function fakeSession(frames: { conn?: number; dir?: string; opcode: string; bytes: Uint8Array | string; fin?: boolean }[]) {
  const rows = frames.map((f, i) => {
    const bytes = typeof f.bytes === 'string' ? enc.encode(f.bytes) : f.bytes;
    const preview = f.opcode === 'text' ? new TextDecoder().decode(bytes).slice(0, 256) : [...bytes.subarray(0, 16)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    return { row: { seq: i + 1, connection: f.conn ?? 1, dir: f.dir ?? 'server', opcode: f.opcode, fin: f.fin ?? true, len: bytes.length, preview } as RowLite, bytes };
  });
  const calls = { page: 0, message: 0, rows: 0 };
  const fetcher: RelatedFetcher = {
    async indexOf(seq) {
      return seq - 1;
    },
    async page(offset, limit) {
      calls.page++;
      const out = rows.slice(offset, offset + limit).map((r) => r.row);
      calls.rows += out.length;
      return out;
    },
    async message(seq) {
      calls.message++;
      const r = rows[seq - 1];
      if (!r) throw new Error(`no frame ${seq}`);
      // Fragments joined, as get_message does.
      if (r.row.opcode !== 'continuation' && !r.row.fin) {
        const parts = [r.bytes];
        for (const x of rows.slice(seq)) {
          if (x.row.connection !== r.row.connection || x.row.dir !== r.row.dir || x.row.opcode !== 'continuation') continue;
          parts.push(x.bytes);
          if (x.row.fin) break;
        }
        const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) {
          out.set(p, o);
          o += p.length;
        }
        return out;
      }
      return r.bytes;
    },
  };
  return { fetcher, calls, head: (seq: number) => ({ seq, connection: rows[seq - 1].row.connection, dir: rows[seq - 1].row.dir }) };
}

describe('Socket.IO binary attachments (socket.io-protocol v5)', () => {
  const EVENT = '451-["hello",{"_placeholder":true,"num":0}]';
  it('reads the declared count from the preview', () => {
    expect(declaredAttachments(EVENT)).toEqual({ type: 5, count: 1 });
    expect(declaredAttachments('461-/admin,456[{"_placeholder":true,"num":0}]')).toEqual({ type: 6, count: 1 });
    expect(declaredAttachments('42["x"]')).toBeNull();
    expect(declaredAttachments('4599999999999999999-[]')).toBeNull();
  });
  it('BINARY_EVENT: the next binary frame of the same connection and direction, others skipped', async () => {
    const s = fakeSession([
      { opcode: 'text', bytes: EVENT },
      { conn: 2, opcode: 'binary', bytes: Uint8Array.from([9, 9]) }, // another connection
      { dir: 'client', opcode: 'binary', bytes: Uint8Array.from([8]) }, // the other direction
      { opcode: 'ping', bytes: '' },
      { opcode: 'text', bytes: '2' }, // an Engine.IO ping between them
      { opcode: 'binary', bytes: Uint8Array.from([1, 2, 3]) },
    ]);
    const a = await loadAttachments(s.fetcher, s.head(1), 1, V4);
    expect(a.missing).toBeNull();
    expect(a.found.map((f) => [f.seq, [...(f.bytes ?? [])]])).toEqual([[6, [1, 2, 3]]]);
    const value = decodeWith('socketio', ...txt(EVENT, { url: V4 })).value as { socketio: unknown };
    expect(placeholders(value)).toEqual([0]);
    expect(stitch(value, a)).toMatchObject({
      socketio: { name: 'BINARY_EVENT', event: 'hello', args: [{ $attachment: 0, seq: 6, bytes: 3, hex: '01 02 03', base64: 'AQID' }] },
    });
    // And the attachment finds its event.
    expect(await findEventOf(s.fetcher, s.head(6))).toEqual({ eventSeq: 1, index: 0, count: 1, type: 5 });
    expect(await findEventOf(s.fetcher, s.head(2))).toBeNull();
  });
  it('BINARY_ACK with two attachments, one fragmented; Engine.IO v3 type bytes dropped', async () => {
    const ack = '462-/admin,456[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]';
    const s = fakeSession([
      { opcode: 'text', bytes: ack },
      { opcode: 'binary', bytes: Uint8Array.from([4, 3, 2]), fin: false },
      { opcode: 'continuation', bytes: Uint8Array.from([1]) },
      { opcode: 'binary', bytes: Uint8Array.from([4, 0xff]) },
    ]);
    // No URL: every attachment starts with 0x04, so v3.
    const a = await loadAttachments(s.fetcher, s.head(1), 2, null);
    expect(a.version).toBe(3);
    expect(a.found.map((f) => [...(f.bytes ?? [])])).toEqual([[3, 2, 1], [0xff]]);
    const value = decodeWith('socketio', ...txt(ack)).value;
    expect(stitch(value, a)).toMatchObject({
      socketio: { name: 'BINARY_ACK', namespace: '/admin', ack_id: 456, args: [{ $attachment: 1, hex: 'ff' }, { $attachment: 0, hex: '03 02 01' }] },
    });
    expect(await findEventOf(s.fetcher, s.head(4))).toEqual({ eventSeq: 1, index: 1, count: 2, type: 6 });
    // With a v4 URL the bytes stay as they are.
    const a4 = await loadAttachments(s.fetcher, s.head(1), 2, V4);
    expect(a4.found.map((f) => [...(f.bytes ?? [])])).toEqual([[4, 3, 2, 1], [4, 0xff]]);
  });
  it('v3 base64 attachments (b4…) are decoded', async () => {
    const s = fakeSession([
      { opcode: 'text', bytes: EVENT },
      { opcode: 'text', bytes: 'b4AQIDBA==' },
    ]);
    const a = await loadAttachments(s.fetcher, s.head(1), 1, V3);
    expect(a.found.map((f) => [...(f.bytes ?? [])])).toEqual([[1, 2, 3, 4]]);
    expect(await findEventOf(s.fetcher, s.head(2))).toMatchObject({ eventSeq: 1, index: 0 });
  });
  it('hostile: lying counts, huge or bad num, missing frames, a text message first', async () => {
    const s = fakeSession([
      { opcode: 'text', bytes: '453-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1e308},{"_placeholder":true,"num":"0"},{"_placeholder":true,"num":2}]' },
      { opcode: 'binary', bytes: Uint8Array.from([1]) },
      { opcode: 'text', bytes: '42["other"]' },
      { opcode: 'binary', bytes: Uint8Array.from([2]) },
    ]);
    const a = await loadAttachments(s.fetcher, s.head(1), 3, V4);
    expect(a.found.map((f) => f.seq)).toEqual([2]);
    expect(a.missing).toBe('2 of 3 attachments not found: frame #3 (a text message) came first');
    const st = stitch(decodeWith('socketio', ...txt('453-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1e308},{"_placeholder":true,"num":"0"},{"_placeholder":true,"num":2}]')).value, a) as {
      socketio: { args: unknown[] };
    };
    expect(st.socketio.args).toEqual([
      { $attachment: 0, seq: 2, bytes: 1, hex: '01', base64: 'AQ==' },
      { $attachment: 1e308, missing: 'num 1e+308 is beyond the 3 attachments declared' },
      { $attachment: -1, missing: 'bad placeholder num "0"' },
      { $attachment: 2, missing: 'not found' },
    ]);
    // The binary frame after the interrupting text is no attachment.
    expect(await findEventOf(s.fetcher, s.head(4))).toBeNull();
    // A huge declared count: looked for up to MAX_ATTACHMENTS, scanning at most SCAN_FRAMES frames.
    const many = fakeSession([{ opcode: 'text', bytes: '45999999999-["x"]' }, ...Array.from({ length: 5000 }, () => ({ opcode: 'ping', bytes: '' }))]);
    const h = await loadAttachments(many.fetcher, many.head(1), 999999999, V4);
    expect(h.wanted).toBe(MAX_ATTACHMENTS);
    expect(h.found).toEqual([]);
    expect(h.missing).toContain(`not within the next ${SCAN_FRAMES} frames`);
    expect(h.missing).toContain('declares 999999999 attachments');
    expect(many.calls.rows).toBeLessThanOrEqual(SCAN_FRAMES + 64);
    // Truncated session: the attachments were never recorded.
    const cut = fakeSession([{ opcode: 'text', bytes: EVENT }]);
    expect((await loadAttachments(cut.fetcher, cut.head(1), 1, V4)).missing).toBe('1 of 1 attachment not found: not recorded (yet)');
    // A binary frame far behind no event: the backward walk is bounded too.
    const far = fakeSession([...Array.from({ length: 5000 }, () => ({ opcode: 'pong', bytes: '' })), { opcode: 'binary', bytes: Uint8Array.from([1]) }]);
    expect(await findEventOf(far.fetcher, far.head(5001))).toBeNull();
    expect(far.calls.rows).toBeLessThanOrEqual(SCAN_FRAMES + 64);
  });
  it('attachment bytes beyond the budget show their size only', async () => {
    const big = new Uint8Array(BYTES_BUDGET / 2 + 1);
    const s = fakeSession([
      { opcode: 'text', bytes: '453-["x"]' },
      { opcode: 'binary', bytes: big },
      { opcode: 'binary', bytes: big },
      { opcode: 'binary', bytes: Uint8Array.from([7]) },
    ]);
    const a = await loadAttachments(s.fetcher, s.head(1), 3, V4);
    expect(a.found.map((f) => [f.size, f.bytes === null, f.error ?? null])).toEqual([
      [big.length, false, null],
      [big.length, false, null],
      [-1, true, 'not loaded: over the 64 MiB budget'],
    ]);
    expect(s.calls.message).toBe(2);
  });
});
