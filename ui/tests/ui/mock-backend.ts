// A fake Sockscope shell for the UI harness, built on @tauri-apps/api/mocks.
// It is bundled on its own (tests/ui/.out/mock-backend.js) and injected into
// the page before the production bundle loads; it never ships in ui/dist.
import { mockIPC } from '@tauri-apps/api/mocks';
import type {
  CaInfo,
  ConnectionInfo,
  FrameSummary,
  InjectToward,
  Opcode,
  ProxyInfo,
  SessionSummary,
  StreamMsg,
} from '../../src/ipc/types';

interface Stored {
  summary: FrameSummary;
  bytes: Uint8Array;
  /** The permessage-deflate message this frame completed, inflated. */
  inflated?: Uint8Array;
}

interface Session {
  info: SessionSummary;
  conns: ConnectionInfo[];
  frames: Stored[];
}

interface Sub {
  sessionId: number;
  channelId: number;
  index: number;
}

const enc = new TextEncoder();
const BASE_US = Date.UTC(2026, 10, 26, 14, 20, 13, 123) * 1000;

const sessions = new Map<number, Session>();
let nextSession = 1;
let nextConn = 1;
let sub: Sub | null = null;
/** Running capture listeners by session id. */
const proxies = new Map<number, ProxyInfo>();
let nextPort = 41000;
const CA_FP =
  '3F:A2:91:0C:5B:77:E0:14:9D:2A:C8:41:6E:0F:B3:88:12:CD:45:9A:7B:E6:03:51:AF:28:94:D0:6C:1E:7E:D4';
/** The local CA as ca_info reports it; ca_regenerate replaces it (generation 2, 3, …). */
let ca: CaInfo = makeCa(1, CA_FP);

function makeCa(generation: number, fingerprint: string): CaInfo {
  const suffix = (0x1a2b3c4d + generation - 1).toString(16);
  return {
    path: '/home/tester/.local/share/sockscope/CA store/ca-cert.pem',
    common_name: `Sockscope Local CA (${suffix})`,
    fingerprint,
    spki_sha256: generation === 1 ? 'q1w2e3r4t5y6u7i8o9p0AsDfGhJkLzXcVbNm1234567=' : `R3g3n${generation}ZXJhdGVkU1BLSWhhc2hvZnRoZWtleTEyMzQ=`,
    pem: `-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU${suffix}Z2VuZXJhdGlvbiA${generation}\n-----END CERTIFICATE-----\n`,
  };
}

/** A fingerprint for CA generation `g` (deterministic, 32 bytes). */
function fingerprintOf(g: number): string {
  return Array.from({ length: 32 }, (_, i) => ((i * 37 + g * 101) & 0xff).toString(16).toUpperCase().padStart(2, '0')).join(':');
}
let caGeneration = 1;
const timers = new Set<ReturnType<typeof setTimeout>>();

function later(ms: number, fn: () => void) {
  const t = setTimeout(() => {
    timers.delete(t);
    fn();
  }, ms);
  timers.add(t);
}

function hexPreview(b: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < Math.min(b.length, 85); i++) parts.push(b[i].toString(16).padStart(2, '0'));
  return parts.join(' ') + (b.length > 85 ? ' …' : '');
}

function isUtf8(b: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

function closeBytes(code: number, reason: string): Uint8Array {
  const r = enc.encode(reason);
  const out = new Uint8Array(2 + r.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

function send(sessionId: number, msg: StreamMsg) {
  if (!sub || sub.sessionId !== sessionId) return;
  const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, d: unknown): void } })
    .__TAURI_INTERNALS__;
  internals.runCallback(sub.channelId, { index: sub.index++, message: msg });
}

function addFrame(
  s: Session,
  conn: number,
  dir: 'client' | 'server',
  opcode: Opcode,
  bytes: Uint8Array,
  tsUs: number,
  extra: Partial<FrameSummary> = {},
  inflated?: Uint8Array,
): FrameSummary {
  const seq = s.frames.length + 1;
  const text = opcode !== 'binary' && isUtf8(bytes);
  const preview = text ? new TextDecoder().decode(bytes).slice(0, 256) : hexPreview(bytes);
  const summary: FrameSummary = {
    seq,
    connection: conn,
    ts_us: tsUs,
    dir,
    opcode,
    fin: true,
    rsv1: false,
    len: bytes.length,
    injected: false,
    masked: false,
    truncated: false,
    invalid: false,
    note: null,
    inflated_len: null,
    preview,
    close_code: null,
    close_reason: null,
    ...extra,
  };
  if (opcode === 'close' && bytes.length >= 2) {
    summary.close_code = (bytes[0] << 8) | bytes[1];
    summary.close_reason = new TextDecoder().decode(bytes.subarray(2));
    summary.preview = '';
  }
  s.frames.push({ summary, bytes, inflated });
  s.info.frames = s.frames.length;
  return summary;
}

function emitFrames(s: Session, frames: FrameSummary[]) {
  if (frames.length) send(s.info.id, { kind: 'frames', frames });
}

function updateConn(s: Session, c: ConnectionInfo) {
  const i = s.conns.findIndex((x) => x.id === c.id);
  if (i >= 0) s.conns[i] = c;
  else s.conns.push(c);
  s.info.connections = s.conns.length;
  send(s.info.id, { kind: 'connection', connection: { ...c } });
}

function newSession(name: string, kind: SessionSummary['kind'], createdMs: number): Session {
  const id = nextSession++;
  const s: Session = {
    info: { id, name, kind, created_at: new Date(createdMs).toISOString(), connections: 0, frames: 0 },
    conns: [],
    frames: [],
  };
  sessions.set(id, s);
  return s;
}

function newConn(s: Session, url: string, p: Partial<ConnectionInfo> = {}): ConnectionInfo {
  const c: ConnectionInfo = {
    id: nextConn++,
    session_id: s.info.id,
    url,
    state: 'connecting',
    opened_at_us: null,
    closed_at_us: null,
    close_code: null,
    close_reason: null,
    closed_by: null,
    error: null,
    response_status: null,
    ...p,
  };
  s.conns.push(c);
  s.info.connections = s.conns.length;
  return c;
}

/** A recorded session: a trading feed with text, binary, control and close frames. */
function seed(frameCount: number) {
  const now = Date.now();
  const feed = newSession('market-feed.example.test', 'client', now - 26 * 60_000);
  const c = newConn(feed, 'wss://stream.example.test/v2/market?symbols=BTC-USD,ETH-USD', {
    state: 'closed',
    opened_at_us: BASE_US,
    closed_at_us: BASE_US + frameCount * 37_000,
    close_code: 1000,
    close_reason: 'bye',
    closed_by: 'server',
    response_status: 101,
  });
  let t = BASE_US + 1_000;
  addFrame(feed, c.id, 'client', 'text', enc.encode('{"op":"subscribe","channels":["ticker","trades"],"symbols":["BTC-USD","ETH-USD"]}'), t);
  addFrame(feed, c.id, 'server', 'text', enc.encode('{"type":"subscribed","channels":["ticker","trades"]}'), (t += 18_400));
  let price = 97_250.5;
  for (let i = 0; feed.frames.length < frameCount - 1; i++) {
    t += 11_000 + ((i * 7919) % 53_000);
    if (i % 40 === 39) {
      addFrame(feed, c.id, 'client', 'ping', enc.encode(`hb-${i}`), t);
      addFrame(feed, c.id, 'server', 'pong', enc.encode(`hb-${i}`), (t += 9_200));
    } else if (i % 23 === 11) {
      const bin = new Uint8Array(48 + (i % 200));
      for (let k = 0; k < bin.length; k++) bin[k] = (k * 31 + i) & 0xff;
      addFrame(feed, c.id, 'server', 'binary', bin, t);
    } else if (i % 57 === 5) {
      const body = {
        type: 'snapshot',
        symbol: 'BTC-USD',
        bids: Array.from({ length: 30 }, (_, k) => [+(price - k * 0.5).toFixed(2), +(0.1 + k / 7).toFixed(4)]),
        asks: Array.from({ length: 30 }, (_, k) => [+(price + k * 0.5).toFixed(2), +(0.2 + k / 9).toFixed(4)]),
      };
      addFrame(feed, c.id, 'server', 'text', enc.encode(JSON.stringify(body, null, 2)), t);
    } else if (i % 31 === 17) {
      addFrame(feed, c.id, 'client', 'text', enc.encode(`{"op":"ping","id":${i}}`), t);
    } else {
      price += ((i * 37) % 11) - 5.2;
      const kind = i % 3 === 0 ? 'trade' : 'ticker';
      const body =
        kind === 'trade'
          ? { type: 'trade', symbol: i % 2 ? 'ETH-USD' : 'BTC-USD', price: +price.toFixed(2), size: +((i % 13) / 10 + 0.01).toFixed(3), side: i % 2 ? 'buy' : 'sell', trade_id: 880_000 + i }
          : { type: 'ticker', symbol: 'BTC-USD', bid: +(price - 0.5).toFixed(2), ask: +(price + 0.5).toFixed(2), volume_24h: 18_234.77 + i, seq: 1_000_000 + i };
      addFrame(feed, c.id, 'server', 'text', enc.encode(JSON.stringify(body)), t);
    }
  }
  addFrame(feed, c.id, 'server', 'close', closeBytes(1000, 'bye'), t + 40_000);

  // A hostile session: markup and control characters must render as text.
  const evil = newSession('<img src=x onerror=alert(1)> "quotes" & ampersands', 'proxy', now - 3 * 3_600_000);
  const ec = newConn(evil, 'ws://127.0.0.1:8081/<script>alert(1)</script>', {
    state: 'failed',
    error: 'connection refused <b>bold?</b>',
    closed_by: 'error',
  });
  addFrame(evil, ec.id, 'server', 'text', enc.encode('<img src=x onerror="document.title=\'pwned\'"><b>not bold</b>\u0000\ttab'), BASE_US);
  addFrame(evil, ec.id, 'server', 'text', new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x00, 0x41]), BASE_US + 5_000);

  newSession('replay of market-feed', 'replay', now - 5 * 86_400_000);
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
}

/** Echo-server behaviour for sessions made by `connect`. */
function open(s: Session, c: ConnectionInfo) {
  later(150, () => {
    if (c.state !== 'connecting') return;
    const openUs = Date.now() * 1000;
    Object.assign(c, { state: 'open', opened_at_us: openUs, response_status: 101 });
    updateConn(s, { ...c });
    emitFrames(s, [addFrame(s, c.id, 'server', 'text', enc.encode('{"hello":"welcome to the echo server"}'), openUs + 500)]);
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What start_proxy does, with the shell's error texts. */
function startProxy(args: Record<string, unknown>): ProxyInfo {
  const listen = String(args.listen ?? '').trim();
  const upRaw = args.upstream == null ? '' : String(args.upstream).trim();
  const upstream = upRaw ? upRaw : null;
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw `cannot listen on ${listen}: invalid socket address syntax`;
  if (!isLoopback(m[1])) {
    throw `cannot listen on ${listen}: not a loopback address; pass the explicit allow-remote option to listen there`;
  }
  const bound = Number(m[2]) === 0 ? `${m[1]}:${nextPort++}` : listen;
  if ([...proxies.values()].some((p) => p.listen === bound) || control.busyAddresses.includes(bound)) {
    throw `cannot listen on ${bound}: Address already in use (os error 98)`;
  }
  if (upstream !== null) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(upstream);
    if (!scheme) throw `invalid upstream ${JSON.stringify(upstream)}: no scheme`;
    if (!/^wss?$/i.test(scheme[1])) throw `invalid upstream ${JSON.stringify(upstream)}: scheme must be ws or wss`;
  }
  const name = upstream ? `proxy ${bound} → ${upstream}` : `proxy ${bound} (forward)`;
  const s = newSession(name, 'proxy', Date.now());
  const info: ProxyInfo = { session_id: s.info.id, listen: bound, upstream, ca_fingerprint: upstream ? null : ca.fingerprint };
  proxies.set(s.info.id, info);
  return info;
}

/** Fake deflate output: not valid UTF-8, so the wire bytes show as hex. */
function wireBytes(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = 0x80 | ((i * 73 + salt * 29) & 0x7f);
  return b;
}

const control = {
  /** Addresses that start_proxy reports as in use. */
  busyAddresses: [] as string[],
  /** When set, inject_text and inject_frame reject with this text. */
  failInject: null as string | null,
  /** When set, ca_info rejects with this text. */
  failCaInfo: null as string | null,
  /** When set, ca_regenerate rejects with this text. */
  failCaRegenerate: null as string | null,
  /**
   * A client connects through the listener of `sessionId`: the connection opens,
   * then frames with every flag arrive (live). Returns the connection id.
   */
  proxyClient(sessionId: number, path = '/feed'): number {
    const s = sessions.get(sessionId);
    const p = proxies.get(sessionId);
    if (!s || !p) throw new Error(`no listener on session ${sessionId}`);
    const base = p.upstream ? p.upstream.replace(/\/+$/, '') : 'wss://api.example.test';
    const c = newConn(s, base + path);
    send(s.info.id, { kind: 'connection', connection: { ...c } });
    later(20, () => {
      const t = Date.now() * 1000;
      Object.assign(c, { state: 'open', opened_at_us: t, response_status: 101 });
      updateConn(s, { ...c });
      // The inflated message weighs exactly 1234 bytes (its inflated_len).
      const items: { id: number; name: string; price: number }[] = [];
      const snapshot = (n: string) => JSON.stringify({ type: 'snapshot', items, next: n });
      while (snapshot('').length < 1150) items.push({ id: items.length, name: `item-${items.length}`, price: 100 + items.length });
      const inflatedText = snapshot(`cursor-${'0123456789abcdef'.repeat(8)}`.slice(0, 1234 - snapshot('').length));
      // Two live batches, each committed (seq assigned) right before it is sent.
      emitFrames(s, [
        addFrame(s, c.id, 'client', 'text', enc.encode('{"op":"hello","v":2}'), t + 100, { masked: true }),
        addFrame(
          s,
          c.id,
          'server',
          'text',
          wireBytes(35, 1),
          t + 900,
          { rsv1: true, inflated_len: enc.encode(inflatedText).length, preview: inflatedText.slice(0, 256) },
          enc.encode(inflatedText),
        ),
      ]);
      later(10, () => emitFrames(s, [
        addFrame(s, c.id, 'server', 'text', enc.encode('{"part":1,'), t + 1500, { fin: false }),
        addFrame(s, c.id, 'server', 'continuation', enc.encode('"done":true}'), t + 1800),
        addFrame(s, c.id, 'server', 'text', enc.encode('{"oops":true}'), t + 2500, {
          masked: true,
          invalid: true,
          note: 'server-to-client frame is masked (RFC 6455 §5.1)',
        }),
        addFrame(s, c.id, 'client', 'binary', wireBytes(64, 7), t + 3100, {
          masked: true,
          truncated: true,
          len: 1_048_576,
        }),
      ]));
    });
    return c.id;
  },
  /** Pushes `n` server frames to a session (as a live batch). */
  pushFrames(sessionId: number, n: number, text = 'tick') {
    const s = sessions.get(sessionId);
    if (!s) throw new Error(`no session ${sessionId}`);
    const conn = s.conns[s.conns.length - 1]?.id ?? 0;
    const out: FrameSummary[] = [];
    for (let i = 0; i < n; i++) out.push(addFrame(s, conn, 'server', 'text', enc.encode(`${text} ${s.frames.length + 1}`), Date.now() * 1000));
    emitFrames(s, out);
  },
  /** Makes the next `get_payload` calls fail. */
  failPayloads: false,
  /** Milliseconds that `connect` takes to answer. */
  connectDelayMs: 0,
  calls: [] as { cmd: string; args: Record<string, unknown> }[],
};

function handle(cmd: string, args: Record<string, unknown>): unknown {
  control.calls.push({ cmd, args: cmd === 'subscribe_session' ? { ...args, channel: '[Channel]' } : args });
  switch (cmd) {
    case 'list_sessions':
      return [...sessions.values()].map((s) => ({ ...s.info })).sort((a, b) => b.id - a.id);
    case 'list_connections': {
      const s = sessions.get(args.sessionId as number);
      if (!s) throw `no such session: ${String(args.sessionId)}`;
      return s.conns.map((c) => ({ ...c }));
    }
    case 'connect': {
      const url = String(args.url ?? '');
      if (!/^wss?:\/\/[^/\s]+/.test(url)) throw `invalid URL "${url}": expected ws:// or wss://`;
      let s: Session | undefined;
      if (args.sessionId != null) s = sessions.get(args.sessionId as number);
      if (!s) s = newSession(url.replace(/^wss?:\/\//, ''), 'client', Date.now());
      const c = newConn(s, url);
      if (url.includes('refused')) {
        later(120, () => {
          Object.assign(c, { state: 'failed', error: 'connection refused', closed_by: 'error' });
          updateConn(s, { ...c });
        });
      } else {
        open(s, c);
      }
      return { ...c };
    }
    case 'send_text': {
      const id = args.connectionId as number;
      for (const s of sessions.values()) {
        const c = s.conns.find((x) => x.id === id);
        if (!c) continue;
        if (c.state !== 'open') throw `connection ${id} is not open`;
        const text = String(args.text);
        const sent = addFrame(s, id, 'client', 'text', enc.encode(text), Date.now() * 1000);
        emitFrames(s, [sent]);
        later(30, () => {
          if (c.state === 'open') emitFrames(s, [addFrame(s, id, 'server', 'text', enc.encode(text), Date.now() * 1000)]);
        });
        return null;
      }
      throw `no such connection: ${id}`;
    }
    case 'disconnect': {
      const id = args.connectionId as number;
      for (const s of sessions.values()) {
        const c = s.conns.find((x) => x.id === id);
        if (!c) continue;
        if (c.state !== 'open' && c.state !== 'connecting') return null;
        const t = Date.now() * 1000;
        const a = addFrame(s, id, 'client', 'close', closeBytes(1000, ''), t);
        const b = addFrame(s, id, 'server', 'close', closeBytes(1000, 'bye'), t + 800);
        emitFrames(s, [a, b]);
        Object.assign(c, { state: 'closed', closed_at_us: t + 900, close_code: 1000, close_reason: 'bye', closed_by: 'client' });
        updateConn(s, { ...c });
        return null;
      }
      throw `no such connection: ${id}`;
    }
    case 'subscribe_session': {
      const s = sessions.get(args.sessionId as number);
      if (!s) throw `no such session: ${String(args.sessionId)}`;
      const channel = args.channel as { id: number };
      sub = { sessionId: s.info.id, channelId: channel.id, index: 0 };
      const afterSeq = args.afterSeq as number;
      const mine = sub;
      // Connections first, then the backfill in batches, asynchronously like the shell.
      later(0, () => {
        if (sub !== mine) return;
        for (const c of s.conns) send(s.info.id, { kind: 'connection', connection: { ...c } });
        const rows = s.frames.filter((f) => f.summary.seq > afterSeq).map((f) => f.summary);
        for (let i = 0; i < rows.length; i += 128) {
          send(s.info.id, { kind: 'frames', frames: rows.slice(i, i + 128) });
        }
      });
      return null;
    }
    case 'start_proxy':
      return { ...startProxy(args) };
    case 'stop_proxy': {
      const id = args.sessionId as number;
      const p = proxies.get(id);
      if (!p) throw `no listener records into session ${id}`;
      proxies.delete(id);
      const s = sessions.get(id);
      for (const c of s?.conns ?? []) {
        if (c.state !== 'open' && c.state !== 'connecting') continue;
        Object.assign(c, { state: 'closed', closed_at_us: Date.now() * 1000, closed_by: 'error', error: 'listener stopped' });
        if (s) updateConn(s, { ...c });
      }
      return null;
    }
    case 'list_proxies':
      return [...proxies.values()].sort((a, b) => a.session_id - b.session_id).map((p) => ({ ...p }));
    case 'inject_text': {
      const toward = args.toward as InjectToward;
      if (toward !== 'server' && toward !== 'client') throw `toward must be "server" or "client", not ${JSON.stringify(toward)}`;
      const sid = args.sessionId as number;
      if (!proxies.has(sid)) throw `no listener records into session ${sid}`;
      const s = sessions.get(sid)!;
      const id = args.connectionId as number;
      const c = s.conns.find((x) => x.id === id);
      if (!c || c.state !== 'open') throw `connection ${id} is not live`;
      if (control.failInject) throw control.failInject;
      const f = addFrame(s, id, toward === 'server' ? 'client' : 'server', 'text', enc.encode(String(args.text)), Date.now() * 1000, {
        injected: true,
        masked: toward === 'server',
      });
      later(5, () => emitFrames(s, [f]));
      return null;
    }
    case 'get_payload': {
      if (control.failPayloads) throw 'payload store is unavailable';
      if (args.inflated !== undefined && typeof args.inflated !== 'boolean') throw 'inflated must be a boolean';
      const s = sessions.get(args.sessionId as number);
      const f = s?.frames[(args.seq as number) - 1];
      if (!f) throw `no frame ${String(args.seq)}`;
      // The inflated message when asked for and there is one; the wire payload otherwise.
      return toArrayBuffer(args.inflated === true && f.inflated ? f.inflated : f.bytes);
    }
    case 'inject_frame': {
      const toward = args.toward as InjectToward;
      if (toward !== 'server' && toward !== 'client') throw `toward must be "server" or "client", not ${JSON.stringify(toward)}`;
      const opcode = args.opcode as Opcode;
      if (!['text', 'binary', 'ping', 'pong', 'close'].includes(opcode)) throw `cannot inject a ${String(opcode)} frame`;
      const b64 = args.payloadBase64;
      // The shell decodes standard base64 with padding, strictly.
      if (typeof b64 !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) {
        throw `payload is not base64: ${JSON.stringify(b64)}`;
      }
      const bin = atob(b64);
      const payload = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
      if (opcode !== 'text' && opcode !== 'binary' && payload.length > 125) throw 'control frames carry at most 125 bytes';
      const sid = args.sessionId as number;
      if (!proxies.has(sid)) throw `no listener records into session ${sid}`;
      const s = sessions.get(sid)!;
      const id = args.connectionId as number;
      const c = s.conns.find((x) => x.id === id);
      if (!c || c.state !== 'open') throw `connection ${id} is not live`;
      if (control.failInject) throw control.failInject;
      const f = addFrame(s, id, toward === 'server' ? 'client' : 'server', opcode, payload, Date.now() * 1000, {
        injected: true,
        masked: toward === 'server',
      });
      later(5, () => emitFrames(s, [f]));
      return null;
    }
    case 'ca_info':
      if (control.failCaInfo) throw control.failCaInfo;
      return { ...ca };
    case 'ca_regenerate': {
      if (control.failCaRegenerate) throw control.failCaRegenerate;
      caGeneration++;
      ca = makeCa(caGeneration, fingerprintOf(caGeneration));
      return { ...ca };
    }
    default:
      throw `unknown command ${cmd}`;
  }
}

const params = new URLSearchParams(location.search);
seed(Number(params.get('frames') ?? 400));

mockIPC(async (cmd, args) => {
  if (cmd === 'connect' && control.connectDelayMs > 0) {
    await new Promise((r) => setTimeout(r, control.connectDelayMs));
  }
  return handle(cmd, (args ?? {}) as Record<string, unknown>);
});

(window as unknown as { __sockscopeMock: typeof control }).__sockscopeMock = control;
