// Sniffers and decoders against fixed byte vectors, most taken from the specifications.
import { describe, expect, it } from 'vitest';
import { fromHex } from './bytes';
import { decodeWith, sniff, sniffAll, type DecoderId, type SniffContext } from './index';

const enc = new TextEncoder();
function hex(h: string): Uint8Array {
  const b = fromHex(h);
  if (!b) throw new Error(`bad hex ${h}`);
  return b;
}
function bin(bytes: Uint8Array, extra: Partial<SniffContext> = {}): SniffContext {
  let text: string | null = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = null;
  }
  return { text, opcode: 'binary', ...extra };
}
function txt(s: string, extra: Partial<SniffContext> = {}): [Uint8Array, SniffContext] {
  return [enc.encode(s), { text: s, opcode: 'text', ...extra }];
}
function decodeBin(id: DecoderId, h: string): unknown {
  const b = hex(h);
  return decodeWith(id, b, bin(b)).value;
}

describe('MessagePack', () => {
  it('decodes the msgpack.org example and picks MessagePack', () => {
    // {"compact":true,"schema":0}
    const b = hex('82a7636f6d70616374c3a6736368656d6100');
    expect(sniff(b, bin(b))).toBe('msgpack');
    const d = decodeWith('msgpack', b, bin(b));
    expect(d.value).toEqual({ compact: true, schema: 0 });
    expect(d.summary).toBe('MessagePack map of 2');
  });
  it('spec formats: fixarray, bin 8, uint 64, negative fixint, float 64, nil', () => {
    expect(decodeBin('msgpack', '93010203')).toEqual([1, 2, 3]);
    expect(decodeBin('msgpack', '91c403010203')).toEqual([{ $bytes: '010203', length: 3 }]);
    expect(decodeBin('msgpack', '91cfffffffffffffffff')).toEqual(['18446744073709551615']);
    expect(decodeBin('msgpack', '92ffc0')).toEqual([-1, null]);
    expect(decodeBin('msgpack', '91cb3ff199999999999a')).toEqual([1.1]);
  });
  it('timestamp extension (-1) and an application extension', () => {
    // timestamp 32: seconds = 0
    expect(decodeBin('msgpack', '91d6ff00000000')).toEqual(['1970-01-01T00:00:00.000Z']);
    // fixext 1, type 1, data 0x2a
    expect(decodeBin('msgpack', '91d4012a')).toEqual([{ $ext: 1, data: '2a' }]);
  });
  it('rejects truncated input and trailing bytes', () => {
    const truncated = hex('82a7636f6d70');
    expect(sniffAll(truncated, bin(truncated)).find((s) => s.id === 'msgpack')).toBeUndefined();
    expect(() => decodeWith('msgpack', truncated, bin(truncated))).toThrow(/not MessagePack/);
    const extra = hex('930102030405');
    expect(() => decodeWith('msgpack', extra, bin(extra))).toThrow(/not MessagePack/);
  });
  it('never claims a valid UTF-8 text frame', () => {
    const [b, ctx] = txt('{"a":1}');
    expect(sniffAll(b, ctx).find((s) => s.id === 'msgpack')).toBeUndefined();
  });
});

describe('CBOR (RFC 8949 Appendix A)', () => {
  it('integers, floats and big numbers', () => {
    expect(decodeBin('cbor', '00')).toBe(0);
    expect(decodeBin('cbor', '1bffffffffffffffff')).toBe('18446744073709551615');
    expect(decodeBin('cbor', 'c249010000000000000000')).toBe('18446744073709551616');
    expect(decodeBin('cbor', 'fb3ff199999999999a')).toBe(1.1);
    expect(decodeBin('cbor', 'f93c00')).toBe(1);
    expect(decodeBin('cbor', 'f97c00')).toBe('Infinity');
    expect(decodeBin('cbor', '3903e7')).toBe(-1000);
  });
  it('strings, bytes, arrays, maps, indefinite lengths', () => {
    expect(decodeBin('cbor', '4401020304')).toEqual({ $bytes: '01020304', length: 4 });
    expect(decodeBin('cbor', '6449455446')).toBe('IETF');
    expect(decodeBin('cbor', '83010203')).toEqual([1, 2, 3]);
    expect(decodeBin('cbor', 'a201020304')).toEqual({ '1': 2, '3': 4 });
    expect(decodeBin('cbor', 'a26161016162820203')).toEqual({ a: 1, b: [2, 3] });
    expect(decodeBin('cbor', 'bf6346756ef563416d7421ff')).toEqual({ Fun: true, Amt: -2 });
    expect(decodeBin('cbor', '9f018202039f0405ffff')).toEqual([1, [2, 3], [4, 5]]);
  });
  it('tags: date/time string, URI, an unknown tag', () => {
    expect(decodeBin('cbor', 'c074323031332d30332d32315432303a30343a30305a')).toBe('2013-03-21T20:04:00.000Z');
    expect(decodeBin('cbor', 'd82076687474703a2f2f7777772e6578616d706c652e636f6d')).toBe('http://www.example.com/');
    expect(decodeBin('cbor', 'd90fa001')).toEqual({ $tag: 4000, value: 1 });
  });
  it('self-described CBOR is certain; a map is picked over MessagePack', () => {
    const sd = hex('d9d9f7a1616101');
    expect(sniffAll(sd, bin(sd))[0]).toEqual({ id: 'cbor', score: 1 });
    expect(decodeWith('cbor', sd, bin(sd)).value).toEqual({ a: 1 });
    // {"a": 1, "b": [2, 3]} is not valid MessagePack (trailing bytes), so CBOR wins.
    const m = hex('a26161016162820203');
    expect(sniff(m, bin(m))).toBe('cbor');
  });
  it('rejects truncated and trailing data', () => {
    expect(() => decodeBin('cbor', 'a2616101')).toThrow(/not CBOR/);
    expect(() => decodeBin('cbor', '8301020304')).toThrow(/not CBOR/);
  });
});

describe('Base64 (RFC 4648 §10)', () => {
  it('test vectors decode', () => {
    for (const [b64, plain] of [
      ['Zm9vYmFy', 'foobar'],
      ['Zm9vYmE=', 'fooba'],
      ['Zm9vYg==', 'foob'],
    ]) {
      const [b, ctx] = txt(b64);
      const d = decodeWith('base64', b, ctx);
      expect(d.value).toMatchObject({ encoding: 'standard', bytes: plain.length, contains: 'text', decoded: plain });
    }
  });
  it('base64 of JSON and of MessagePack is decoded inside', () => {
    const [b, ctx] = txt(btoa('{"price":12.5,"sym":"ACME"}'));
    expect(sniff(b, ctx)).toBe('base64');
    expect(decodeWith('base64', b, ctx).value).toMatchObject({ contains: 'JSON', decoded: { price: 12.5, sym: 'ACME' } });
    const mp = String.fromCharCode(...hex('82a7636f6d70616374c3a6736368656d6100'));
    const [b2, ctx2] = txt(btoa(mp));
    expect(decodeWith('base64', b2, ctx2).value).toMatchObject({ contains: 'MessagePack', decoded: { compact: true, schema: 0 } });
  });
  it('URL-safe alphabet', () => {
    const [b, ctx] = txt('_-_-_-_-AAAA');
    const d = decodeWith('base64', b, ctx);
    expect(d.value).toMatchObject({ encoding: 'url-safe', bytes: 9, contains: 'bytes' });
  });
  it('words, numbers, hex and text with spaces are not base64', () => {
    for (const s of ['password', '1234567890', 'deadbeefcafebabe', 'Hello World', 'Zm9vYmF', 'abc']) {
      const [b, ctx] = txt(s);
      expect(sniffAll(b, ctx).find((x) => x.id === 'base64'), s).toBeUndefined();
    }
  });
});

describe('Engine.IO / Socket.IO (protocol docs)', () => {
  const io = (s: string) => {
    const [b, ctx] = txt(s, { url: 'ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket' });
    return { b, ctx, d: decodeWith('socketio', b, ctx) };
  };
  it('Engine.IO open, ping/pong and the upgrade probe', () => {
    const open = '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}';
    const [b, ctx] = txt(open);
    expect(sniff(b, ctx)).toBe('socketio');
    expect(io(open).d.value).toMatchObject({ engineio: { type: 0, name: 'open' }, data: { sid: 'lv_VI97HAXpY6yYWAAAC', pingInterval: 25000 } });
    expect(io('2').d.summary).toBe('Engine.IO ping');
    expect(io('3probe').d.summary).toBe('Engine.IO pong probe');
    // A bare "2" is a JSON number too: only the URL makes it Socket.IO.
    const [b2, ctx2] = txt('2');
    expect(sniff(b2, ctx2)).toBeNull();
    expect(sniff(io('2').b, io('2').ctx)).toBe('socketio');
  });
  it('CONNECT with namespace and auth, EVENT, EVENT with ack id, ACK', () => {
    expect(io('40/admin,{"token":"123"}').d.value).toMatchObject({
      socketio: { type: 0, name: 'CONNECT', namespace: '/admin', data: { token: '123' } },
    });
    const ev = io('42["chat",{"text":"hi"}]');
    expect(ev.d.value).toMatchObject({ socketio: { name: 'EVENT', namespace: '/', event: 'chat', args: [{ text: 'hi' }] } });
    expect(ev.d.summary).toBe('Socket.IO EVENT "chat"');
    const [b, ctx] = txt('42["chat",{"text":"hi"}]');
    expect(sniff(b, ctx)).toBe('socketio');
    expect(io('4212["foo"]').d.value).toMatchObject({ socketio: { ack_id: 12, event: 'foo' } });
    expect(io('43/admin,13["bar"]').d.summary).toBe('Socket.IO ACK (ack 13) on /admin');
    expect(io('44{"message":"Not authorized"}').d.value).toMatchObject({ socketio: { name: 'CONNECT_ERROR', data: { message: 'Not authorized' } } });
    expect(io('41/admin,').d.value).toMatchObject({ socketio: { name: 'DISCONNECT', namespace: '/admin' } });
  });
  it('BINARY_EVENT with its attachment count', () => {
    const d = io('451-["baz",{"_placeholder":true,"num":0}]').d;
    expect(d.value).toMatchObject({ socketio: { name: 'BINARY_EVENT', attachments: 1, event: 'baz' } });
    expect(d.summary).toBe('Socket.IO BINARY_EVENT "baz" + 1 binary attachment');
  });
  it('bad packets fail with a reason', () => {
    expect(() => io('42["chat",')).toThrow(/not JSON/);
    expect(() => io('47')).toThrow(/unknown Socket.IO packet type/);
    const [b, ctx] = txt('42["chat",');
    expect(sniffAll(b, ctx).find((x) => x.id === 'socketio')).toBeUndefined();
  });
});

describe('STOMP 1.2 (spec examples)', () => {
  const frame = (s: string) => {
    const [b, ctx] = txt(s);
    return { b, ctx };
  };
  it('CONNECT, SEND and MESSAGE', () => {
    const c = frame('CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0');
    expect(sniff(c.b, c.ctx)).toBe('stomp');
    expect(decodeWith('stomp', c.b, c.ctx).value).toEqual({
      command: 'CONNECT',
      headers: { 'accept-version': '1.2', host: 'stomp.github.org' },
      body: '',
    });
    const s = frame('SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0');
    expect(decodeWith('stomp', s.b, s.ctx).summary).toBe('STOMP SEND /queue/a (14 B body)');
    const m = frame('MESSAGE\r\nsubscription:0\r\nmessage-id:007\r\ndestination:/queue/a\r\ncontent-type:application/json\r\n\r\n{"n":1}\0\n');
    expect(decodeWith('stomp', m.b, m.ctx).value).toMatchObject({ command: 'MESSAGE', headers: { 'message-id': '007' }, body: { n: 1 } });
  });
  it('header escapes, repeated headers, content-length with NUL in the body, heart-beat', () => {
    const e = frame('MESSAGE\nfoo:a\\cb\\nc\nfoo:second\n\n\0');
    expect(decodeWith('stomp', e.b, e.ctx).value).toMatchObject({
      headers: { foo: 'a:b\nc' },
      header_lines: [
        ['foo', 'a:b\nc'],
        ['foo', 'second'],
      ],
    });
    const bin = new Uint8Array([...enc.encode('SEND\ndestination:/q\ncontent-length:3\n\n'), 1, 0, 2, 0]);
    expect(decodeWith('stomp', bin, { text: null, opcode: 'binary' }).value).toMatchObject({ body: '\u0001\u0000\u0002' });
    const hb = frame('\n');
    expect(sniff(hb.b, { ...hb.ctx, subprotocol: 'v12.stomp' })).toBe('stomp');
    expect(sniff(hb.b, hb.ctx)).toBeNull();
  });
  it('missing NUL and unknown commands are refused', () => {
    const f = frame('SEND\ndestination:/a\n\nbody');
    expect(() => decodeWith('stomp', f.b, f.ctx)).toThrow(/NUL/);
    expect(sniff(f.b, f.ctx)).toBeNull();
    const u = frame('HELLO\n\n\0');
    expect(sniffAll(u.b, u.ctx).find((x) => x.id === 'stomp')).toBeUndefined();
  });
});

describe('GraphQL over WebSocket', () => {
  const g = (o: unknown, sub?: string) => txt(JSON.stringify(o), { subprotocol: sub ?? null });
  it('graphql-ws (PROTOCOL.md) messages', () => {
    const [b, ctx] = g({ id: '1', type: 'subscribe', payload: { query: 'subscription OnPrice { price(sym: "ACME") }', variables: {} } });
    expect(sniff(b, ctx)).toBe('graphql');
    const d = decodeWith('graphql', b, ctx);
    expect(d.summary).toBe('GraphQL subscribe #1: subscription OnPrice');
    expect(d.value).toMatchObject({ protocol: 'graphql-ws', type: 'subscribe', operation: 'subscription', operationName: 'OnPrice' });
    const [b2, ctx2] = g({ id: '1', type: 'next', payload: { data: { price: 12 } } });
    expect(sniff(b2, ctx2)).toBe('graphql');
    const [b3, ctx3] = g({ type: 'connection_init', payload: {} }, 'graphql-transport-ws');
    expect(decodeWith('graphql', b3, ctx3).value).toMatchObject({ protocol: 'graphql-ws', type: 'connection_init' });
  });
  it('subscriptions-transport-ws messages; the subprotocol "graphql-ws" names it', () => {
    const [b, ctx] = g({ id: '1', type: 'start', payload: { query: '{ hello }' } });
    expect(decodeWith('graphql', b, ctx).value).toMatchObject({ protocol: 'subscriptions-transport-ws', operation: 'query' });
    const [b2, ctx2] = g({ type: 'ka' });
    expect(sniff(b2, ctx2)).toBe('graphql');
    const [b3, ctx3] = g({ type: 'connection_ack' }, 'graphql-ws');
    expect(decodeWith('graphql', b3, ctx3).value).toMatchObject({ protocol: 'subscriptions-transport-ws' });
    const [b4, ctx4] = g({ id: '2', type: 'error', payload: [{ message: 'boom' }] });
    expect(decodeWith('graphql', b4, ctx4).summary).toBe('GraphQL error #2 (1 error)');
  });
  it('generic {"type":"ping"} needs the subprotocol; other JSON is not GraphQL', () => {
    const [b, ctx] = g({ type: 'ping' });
    expect(sniff(b, ctx)).toBeNull();
    const [b2, ctx2] = g({ type: 'ping' }, 'graphql-transport-ws');
    expect(sniff(b2, ctx2)).toBe('graphql');
    const [b3, ctx3] = g({ type: 'trade', price: 1 });
    expect(sniffAll(b3, ctx3)).toEqual([]);
  });
});

describe('no false positives', () => {
  it('plain text, JSON and HTML are left to the text and JSON views', () => {
    for (const s of ['hello', '{"a":[1,2,3]}', '[1,2]', '<img src=x onerror=alert(1)>', '</script><script>alert(1)</script>', '']) {
      const [b, ctx] = txt(s);
      expect(sniff(b, ctx), s).toBeNull();
    }
  });
});
