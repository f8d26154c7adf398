// A fake Sockscope shell for the UI harness, built on @tauri-apps/api/mocks.
// It is bundled on its own (tests/ui/.out/mock-backend.js) and injected into
// the page before the production bundle loads; it never ships in ui/dist.
import { detailCommand, NOT_MINE } from './mock-detail';
import { decoderChoices, decoderCommand, NOT_DECODERS } from './mock-decoders';
import { parseMatchBody } from '../../src/model/detailMatches';
import { digestFrames } from '../../src/model/live';
import { mockIPC } from '@tauri-apps/api/mocks';
import type {
  CaInfo,
  ConnectionInfo,
  DiffRow,
  DiffSide,
  FrameFilter,
  FrameSummary,
  ImportSummary,
  InjectToward,
  MockInfo,
  Opcode,
  PathChange,
  ProxyInfo,
  ReplayPlan,
  ReplayProgressMsg,
  SearchHit,
  SessionSummary,
  StreamMsg,
  ConnectSpec,
  DemoInfo,
  DemoKind,
  HandshakeInfo,
  HistoryEntry,
  LiveConnection,
  OutgoingMsg,
  SendOnSaveInfo,
  Template,
  TemplateMode,
  WorkbenchMsg,
} from '../../src/ipc/types';

interface Stored {
  summary: FrameSummary;
  bytes: Uint8Array;
  /** The permessage-deflate message this frame completed, inflated. */
  inflated?: Uint8Array;
}

interface Session {
  info: SessionSummary;
  /** unix ms, for sorting by date */
  createdMs: number;
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

// ---- Timeline paging (the shell runs these filters in SQLite; this mirrors them in JS) ----

type StoredFrame = Stored;
const utf8 = new TextDecoder('utf-8');

function shownText(f: StoredFrame): string {
  return utf8.decode(f.inflated ?? f.bytes);
}

function jsonClause(doc: unknown, clause: string): boolean {
  const m = /^\s*(\$\.?)?([A-Za-z0-9_$.\-[\]]+)\s*(==|!=|>=|<=|>|<|~|=)?\s*(.*?)\s*$/.exec(clause);
  if (!m) throw `JSON condition: cannot read ${JSON.stringify(clause)}`;
  let v: unknown = doc;
  for (const part of m[2].split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== '')) {
    if (v === null || typeof v !== 'object') return m[3] === '!=';
    v = (v as Record<string, unknown>)[part];
    if (v === undefined) return m[3] === '!=';
  }
  if (!m[3]) return true;
  let lit: unknown;
  try {
    lit = JSON.parse(m[4]);
  } catch {
    throw `JSON condition: expected a "string", a number, true, false or null`;
  }
  switch (m[3]) {
    case '==':
    case '=':
      return v === lit;
    case '!=':
      return v !== lit;
    case '>':
      return typeof v === typeof lit && (v as number) > (lit as number);
    case '>=':
      return typeof v === typeof lit && (v as number) >= (lit as number);
    case '<':
      return typeof v === typeof lit && (v as number) < (lit as number);
    case '<=':
      return typeof v === typeof lit && (v as number) <= (lit as number);
    default:
      return typeof v === 'string' && typeof lit === 'string' && v.includes(lit);
  }
}

function timelineMatcher(raw: unknown): { test: (f: StoredFrame, whole?: () => string) => boolean; marker: RegExp | null } {
  const f = (raw ?? {}) as FrameFilter;
  let re: RegExp | null = null;
  let marker: RegExp | null = null;
  if (f.text && f.text.pattern) {
    const src = f.text.regex ? f.text.pattern : f.text.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    try {
      re = new RegExp(src, f.text.case_sensitive ? 'u' : 'iu');
    } catch (e) {
      throw `invalid regular expression: ${(e as Error).message}`;
    }
    marker = new RegExp(re.source, re.flags + 'g');
  }
  let words: string[] = [];
  if (f.fts !== undefined) {
    words = f.fts.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).map((w) => w.toLowerCase());
    if (words.length === 0) throw 'nothing to search for: type a word with letters or digits';
    if (!marker) marker = new RegExp(`\\b(?:${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'giu');
  }
  const clauses = f.json ? f.json.split(/\s+(?:and|AND)\s+|\s*&&\s*/) : [];
  if (f.json) for (const c of clauses) jsonClause({}, c); // syntax check
  /** `whole`: the joined text of the fragmented message `fr` starts (as the store reads it). */
  const test = (fr: StoredFrame, whole?: () => string) => {
    const s = fr.summary;
    const fragHead = !s.fin && (s.opcode === 'text' || s.opcode === 'binary') && !!whole;
    // Grouped by message, text and full text see the whole message; JSON always does.
    const textBody = () => (f.messages && fragHead && whole ? whole() : shownText(fr));
    const jsonBody = () => (fragHead && whole ? whole() : shownText(fr));
    if (f.connection !== undefined && s.connection !== f.connection) return false;
    if (f.dir && s.dir !== f.dir) return false;
    if (f.opcodes && !f.opcodes.includes(s.opcode)) return false;
    if (f.messages && s.opcode === 'continuation') return false;
    const size = s.inflated_len ?? s.len;
    if (f.min_size !== undefined && size < f.min_size) return false;
    if (f.max_size !== undefined && size > f.max_size) return false;
    if (f.from_us !== undefined && s.ts_us < f.from_us) return false;
    if (f.to_us !== undefined && s.ts_us > f.to_us) return false;
    if (re && !re.test(textBody())) return false;
    if (words.length) {
      if (s.opcode !== 'text' && s.opcode !== 'continuation') return false;
      const tokens = textBody().toLowerCase().split(/[^\p{L}\p{N}]+/u);
      if (!words.every((w) => tokens.some((t) => t.startsWith(w.replace(/[^\p{L}\p{N}]/gu, ''))))) return false;
    }
    if (clauses.length) {
      if (s.opcode !== 'text') return false;
      let doc: unknown;
      try {
        doc = JSON.parse(jsonBody());
      } catch {
        return false;
      }
      if (!clauses.every((c) => jsonClause(doc, c))) return false;
    }
    return true;
  };
  return { test, marker };
}

function timelineRows(s: Session, filter: unknown): StoredFrame[] {
  const { test } = timelineMatcher(filter);
  return s.frames.filter((fr, i) => test(fr, () => wholeText(s, i)));
}

/** The text of the message frame `i` starts: it and its continuation frames up to FIN. */
function wholeText(s: Session, i: number): string {
  const head = s.frames[i].summary;
  let out = shownText(s.frames[i]);
  for (const f of s.frames.slice(i + 1)) {
    if (f.summary.connection !== head.connection || f.summary.dir !== head.dir) continue;
    if (!['text', 'binary', 'continuation'].includes(f.summary.opcode)) continue;
    if (f.summary.opcode !== 'continuation') break;
    out += shownText(f);
    if (f.summary.fin) break;
  }
  return out;
}

/**
 * `find_matches`: the filter's marker over the bytes read as UTF-8 (the shell runs Rust's
 * regex; JavaScript's is close enough for the views' tests), UTF-16 and byte ranges.
 */
function findMatches(body: Uint8Array): unknown {
  const { filter, hay } = parseMatchBody(body);
  const { marker } = timelineMatcher(filter);
  control.findMatchesCalls++;
  if (!marker) return { bytes: [], utf16: [], capped: false, active: false };
  const text = new TextDecoder().decode(hay);
  const enc = new TextEncoder();
  const bytes: [number, number][] = [];
  const utf16: [number, number][] = [];
  let b = 0;
  let u = 0;
  const byteAt = (to: number) => {
    b += enc.encode(text.slice(u, to)).length;
    u = to;
    return b;
  };
  for (const m of text.matchAll(marker)) {
    if (m[0].length === 0) continue;
    if (utf16.length >= 100_000) return { bytes, utf16, capped: true, active: true };
    const s = m.index;
    const e = s + m[0].length;
    utf16.push([s, e]);
    bytes.push([byteAt(s), byteAt(e)]);
  }
  return { bytes, utf16, capped: false, active: true };
}

function marksOf(preview: string, marker: RegExp | null): [number, number][] {
  if (!marker) return [];
  const out: [number, number][] = [];
  for (const m of preview.matchAll(marker)) {
    if (m[0].length === 0) continue;
    out.push([m.index, m.index + m[0].length]);
    if (out.length >= 32) break;
  }
  return out;
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
  s.info.bytes += summary.len;
  return summary;
}

/** New frames as the shell streams them: a `live` batch (count, the newest 128 rows, digests). */
function emitFrames(s: Session, frames: FrameSummary[]) {
  if (!frames.length) return;
  send(s.info.id, {
    kind: 'live',
    count: frames.length,
    first_seq: frames[0].seq,
    last_seq: frames[frames.length - 1].seq,
    rows: frames.slice(-128),
    conns: digestFrames(frames),
  });
}

function updateConn(s: Session, c: ConnectionInfo) {
  const i = s.conns.findIndex((x) => x.id === c.id);
  if (i >= 0) s.conns[i] = c;
  else s.conns.push(c);
  s.info.connections = s.conns.length;
  send(s.info.id, { kind: 'connection', connection: { ...c } });
}

function newSession(
  name: string,
  kind: SessionSummary['kind'],
  createdMs: number,
  extra: Partial<SessionSummary> = {},
): Session {
  const id = nextSession++;
  const s: Session = {
    info: {
      id,
      name,
      kind,
      created_at: new Date(createdMs).toISOString(),
      connections: 0,
      frames: 0,
      insecure: false,
      pinned: false,
      tags: [],
      notes: '',
      origin_session_id: null,
      origin_connection_id: null,
      imported_from: null,
      bytes: 0,
      ...extra,
    },
    createdMs,
    conns: [],
    frames: [],
  };
  sessions.set(id, s);
  return s;
}

/** Handshake request headers of connections, as the store keeps them. */
const requestHeaders = new Map<number, [string, string][]>();

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
  const feed = newSession('market-feed.example.test', 'client', now - 2 * 86_400_000);
  const c = newConn(feed, 'wss://stream.example.test/v2/market?symbols=BTC-USD,ETH-USD', {
    state: 'closed',
    opened_at_us: BASE_US,
    closed_at_us: BASE_US + frameCount * 37_000,
    close_code: 1000,
    close_reason: 'bye',
    closed_by: 'server',
    response_status: 101,
  });
  requestHeaders.set(c.id, [
    ['Host', 'stream.example.test'],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['Sec-WebSocket-Version', '13'],
    ['Origin', 'https://app.example.test'],
    ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0'],
    ['Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.demo'],
  ]);
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

  newSession('replay of market-feed', 'replay', now - 26 * 60_000, { origin_session_id: feed.info.id, origin_connection_id: c.id });
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

/** The shell's is_loopback_url: ws(s) URLs whose host is localhost, 127.0.0.0/8 or ::1. */
function urlIsLoopback(url: string): boolean {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:?#\s]*)/i.exec(url.trim());
  if (!m) return false;
  let host = m[1].replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  if (/^::ffff:127\./.test(host)) host = host.slice(7);
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
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


// Sessions: organise, search, import, export (the store's rules and texts)

function sessionOr(id: unknown): Session {
  const s = sessions.get(id as number);
  if (!s) throw `session ${String(id)} not found`;
  return s;
}

function sortedSessions(sort: string): SessionSummary[] {
  if (sort !== 'date' && sort !== 'size') throw `unknown variant \`${sort}\`, expected \`date\` or \`size\``;
  const list = [...sessions.values()];
  list.sort((a, b) => {
    if (a.info.pinned !== b.info.pinned) return a.info.pinned ? -1 : 1;
    if (sort === 'size') return b.info.bytes - a.info.bytes || b.info.frames - a.info.frames || b.info.id - a.info.id;
    return b.createdMs - a.createdMs || b.info.id - a.info.id;
  });
  return list.map((x) => ({ ...x.info, tags: x.info.tags.slice() }));
}

function cleanTags(tags: unknown): string[] {
  if (!Array.isArray(tags)) throw 'invalid type: expected a sequence';
  const out: string[] = [];
  for (const raw of tags) {
    const tag = String(raw).trim();
    if (!tag) throw 'a tag cannot be empty';
    if ([...tag].length > 64) throw 'a tag is at most 64 characters';
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(tag)) throw 'a tag cannot contain control characters';
    if (!out.includes(tag)) out.push(tag);
  }
  if (out.length > 64) throw 'a session has at most 64 tags';
  return out;
}

function deleteSession(id: number) {
  sessionOr(id);
  proxies.delete(id);
  mocks.delete(id);
  const s = sessions.get(id)!;
  for (const c of s.conns) requestHeaders.delete(c.id);
  sessions.delete(id);
  if (sub?.sessionId === id) sub = null;
  for (const other of sessions.values()) {
    if (other.info.origin_session_id === id) {
      other.info.origin_session_id = null;
      other.info.origin_connection_id = null;
    }
  }
}

const ALNUM = /[\p{L}\p{N}]/u;

/** search_payloads: every word must match a word start (case-insensitive); newest first. */
function search(query: string, limit: number): SearchHit[] {
  if ([...query].length > 1000) throw 'the search is longer than 1000 characters';
  const words = query.split(/\s+/).filter((w) => ALNUM.test(w));
  if (!words.length) throw 'nothing to search for: type a word with letters or digits';
  const needles = words.map((w) => (w.match(/[\p{L}\p{N}]+/gu) ?? []).map((x) => x.toLowerCase()));
  const hits: SearchHit[] = [];
  const all = [...sessions.values()].sort((a, b) => b.info.id - a.info.id);
  for (const s of all) {
    for (let i = s.frames.length - 1; i >= 0; i--) {
      const f = s.frames[i];
      if (f.summary.opcode !== 'text' && f.summary.opcode !== 'continuation') continue;
      const bytes = f.inflated ?? f.bytes;
      if (!isUtf8(bytes)) continue;
      const text = new TextDecoder().decode(bytes);
      const tokens = (text.match(/[\p{L}\p{N}]+/gu) ?? []).map((x) => x.toLowerCase());
      const ok = needles.every((parts) => parts.every((n) => tokens.some((t) => t.startsWith(n))));
      if (!ok) continue;
      hits.push({ session: s.info.id, seq: f.summary.seq, connection: f.summary.connection, ts_us: f.summary.ts_us, snippet: snippet(text, needles.flat()) });
      if (hits.length >= limit) return hits;
    }
  }
  return hits;
}

function snippet(text: string, needles: string[]): string {
  const lower = text.toLowerCase();
  let at = -1;
  let len = 0;
  for (const n of needles) {
    const i = lower.indexOf(n);
    if (i >= 0 && (at < 0 || i < at)) {
      at = i;
      len = n.length;
    }
  }
  if (at < 0) at = 0;
  const chars = [...text];
  const start = Math.max(0, [...text.slice(0, at)].length - 40);
  const end = Math.min(chars.length, [...text.slice(0, at + len)].length + 80);
  // eslint-disable-next-line no-control-regex
  const body = chars.slice(start, end).join('').replace(/[\u0000-\u001f\u007f]/g, ' ');
  return (start > 0 ? '…' : '') + body + (end < chars.length ? '…' : '');
}

function importError(line: number | null, field: string | null, message: string): string {
  return `${line != null ? `line ${line}: ` : ''}${field != null ? `field ${JSON.stringify(field)}: ` : ''}${message}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'string') return 'a string';
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}

interface ParsedFrame {
  conn: number;
  ts: number;
  dir: 'client' | 'server';
  opcode: Opcode;
  fin: boolean;
  bytes: Uint8Array;
  extra: Partial<FrameSummary>;
}
interface ParsedConn {
  key: number;
  url: string;
  headers: [string, string][];
  opened: number | null;
  closed: { ts: number; code: number | null; reason: string; by: 'client' | 'server' | 'error' } | null;
}

function b64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

const OPCODES: Opcode[] = ['text', 'binary', 'continuation', 'ping', 'pong', 'close'];

function parseJsonl(text: string): { name: string; kind: SessionSummary['kind']; notes: string; tags: string[]; conns: ParsedConn[]; frames: ParsedFrame[] } {
  const lines = text.split('\n');
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(lines[0]);
  } catch (e) {
    throw importError(1, null, `not valid JSON: ${(e as Error).message}`);
  }
  if (head.format !== 'sockscope-session') throw importError(1, 'format', `expected "sockscope-session", found ${JSON.stringify(head.format)}`);
  if (head.version !== 1) throw importError(1, 'version', `unsupported version ${JSON.stringify(head.version)} (this build reads version 1)`);
  const sess = head.session as Record<string, unknown> | undefined;
  if (!sess || typeof sess !== 'object') throw importError(1, 'session', 'missing');
  const kind = (sess.kind ?? 'client') as SessionSummary['kind'];
  if (!['client', 'proxy', 'replay'].includes(kind)) throw importError(1, 'session.kind', `unknown session kind ${JSON.stringify(kind)}`);
  const conns: ParsedConn[] = [];
  const frames: ParsedFrame[] = [];
  for (let i = 1; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i].trim();
    if (!raw) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      throw importError(n, null, `not valid JSON: ${(e as Error).message}`);
    }
    if (o.type === 'connection') {
      if (typeof o.url !== 'string') throw importError(n, 'url', `expected a string, found ${describe(o.url)}`);
      conns.push({ key: Number(o.id), url: o.url, headers: (o.request_headers as [string, string][]) ?? [], opened: (o.opened_at_us as number) ?? null, closed: null });
    } else if (o.type === 'frame') {
      const conn = conns.find((c) => c.key === o.connection);
      if (!conn) throw importError(n, 'connection', `no connection ${JSON.stringify(o.connection)} before this line`);
      if (o.dir !== 'client' && o.dir !== 'server') throw importError(n, 'dir', `expected "client" or "server", found ${JSON.stringify(o.dir)}`);
      if (!OPCODES.includes(o.opcode as Opcode)) throw importError(n, 'opcode', `unknown opcode ${JSON.stringify(o.opcode)}`);
      if (typeof o.fin !== 'boolean') throw importError(n, 'fin', `expected true or false, found ${describe(o.fin)}`);
      if (typeof o.ts_us !== 'number') throw importError(n, 'ts_us', `expected an integer, found ${describe(o.ts_us)}`);
      let bytes: Uint8Array;
      if (typeof o.text === 'string') bytes = enc.encode(o.text);
      else if (typeof o.base64 === 'string') {
        try {
          bytes = b64(o.base64);
        } catch {
          throw importError(n, 'base64', 'not valid base64');
        }
      } else throw importError(n, 'text', 'a frame needs "text" or "base64"');
      frames.push({ conn: conn.key, ts: o.ts_us, dir: o.dir, opcode: o.opcode as Opcode, fin: o.fin, bytes, extra: { injected: o.injected === true, masked: o.masked === true, rsv1: o.rsv1 === true } });
    } else if (o.type === 'close') {
      const conn = conns.find((c) => c.key === o.connection);
      if (!conn) throw importError(n, 'connection', `no connection ${JSON.stringify(o.connection)} before this line`);
      conn.closed = { ts: Number(o.ts_us), code: (o.code as number) ?? null, reason: String(o.reason ?? ''), by: (o.by as 'client') ?? 'client' };
    } else {
      throw importError(n, 'type', `unknown line type ${JSON.stringify(o.type)}`);
    }
  }
  return { name: String(sess.name ?? 'imported'), kind, notes: String(sess.notes ?? ''), tags: (sess.tags as string[]) ?? [], conns, frames };
}

function parseHar(text: string, fileName: string) {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw importError(1, null, `not valid JSON: ${(e as Error).message}`);
  }
  const log = doc.log as Record<string, unknown> | undefined;
  if (!log || typeof log !== 'object') throw importError(null, 'log', 'missing: not a HAR file');
  if (!Array.isArray(log.entries)) throw importError(null, 'log.entries', `expected an array, found ${describe(log.entries)}`);
  const conns: ParsedConn[] = [];
  const frames: ParsedFrame[] = [];
  log.entries.forEach((e: Record<string, unknown>, i: number) => {
    const msgs = e._webSocketMessages;
    if (e._resourceType !== 'websocket' && !Array.isArray(msgs)) return;
    const req = e.request as { url?: unknown; headers?: { name: string; value: string }[] } | undefined;
    if (typeof req?.url !== 'string') throw importError(null, `log.entries[${i}].request.url`, `expected a string, found ${describe(req?.url)}`);
    const key = conns.length + 1;
    conns.push({ key, url: req.url, headers: (req.headers ?? []).map((h) => [h.name, h.value]), opened: Date.parse(String(e.startedDateTime)) * 1000 || BASE_US, closed: null });
    (Array.isArray(msgs) ? msgs : []).forEach((m: Record<string, unknown>, j: number) => {
      const f = `log.entries[${i}]._webSocketMessages[${j}]`;
      if (m.type !== 'send' && m.type !== 'receive') throw importError(null, `${f}.type`, `expected "send" or "receive", found ${JSON.stringify(m.type)}`);
      if (typeof m.time !== 'number') throw importError(null, `${f}.time`, `expected a number, found ${describe(m.time)}`);
      if (typeof m.data !== 'string') throw importError(null, `${f}.data`, `expected a string, found ${describe(m.data)}`);
      const opcode: Opcode = m.opcode === 2 ? 'binary' : 'text';
      frames.push({ conn: key, ts: Math.round(m.time * 1_000_000), dir: m.type === 'send' ? 'client' : 'server', opcode, fin: true, bytes: opcode === 'binary' ? b64(m.data) : enc.encode(m.data), extra: {} });
    });
  });
  if (!conns.length) throw importError(null, 'log.entries', 'no WebSocket entries (_resourceType "websocket" or _webSocketMessages)');
  return { name: fileName, kind: 'client' as const, notes: '', tags: [] as string[], conns, frames };
}

/** import_data: the raw body is the file; nothing is written unless all of it is valid. */
function importData(body: unknown, headers: Record<string, string>): ImportSummary {
  if (!(body instanceof Uint8Array)) throw "import_data expects the file's bytes as the request body";
  const name = (headers['x-file-name'] ?? 'import').split(/[/\\]/).pop() || 'import';
  if (control.failImport) throw control.failImport;
  if (body.length === 0) throw importError(null, null, 'the file is empty');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw importError(null, null, 'the file is not UTF-8 text');
  }
  const trimmed = text.replace(/^\ufeff/, '').trimStart();
  if (!trimmed.startsWith('{')) throw importError(1, null, "not a Sockscope JSONL session or a HAR file (it does not start with '{')");
  const firstLine = trimmed.split('\n', 1)[0];
  let jsonl = false;
  try {
    jsonl = 'format' in JSON.parse(firstLine);
  } catch {
    jsonl = firstLine.startsWith('{"format"');
  }
  const parsed = jsonl ? parseJsonl(trimmed) : parseHar(trimmed, name);
  // Valid: write it all.
  const s = newSession(parsed.name, parsed.kind, Date.now(), { imported_from: name, notes: parsed.notes, tags: parsed.tags.slice() });
  const ids = new Map<number, number>();
  for (const pc of parsed.conns) {
    const c = newConn(s, pc.url, {
      state: pc.closed ? 'closed' : 'closed',
      opened_at_us: pc.opened,
      closed_at_us: pc.closed?.ts ?? null,
      close_code: pc.closed?.code ?? null,
      close_reason: pc.closed?.reason ?? null,
      closed_by: pc.closed?.by ?? null,
      response_status: 101,
    });
    ids.set(pc.key, c.id);
    requestHeaders.set(c.id, pc.headers);
  }
  for (const f of parsed.frames) addFrame(s, ids.get(f.conn)!, f.dir, f.opcode, f.bytes, f.ts, { fin: f.fin, ...f.extra });
  return { session: s.info.id, format: jsonl ? 'jsonl' : 'har', connections: parsed.conns.length, frames: parsed.frames.length };
}

const exported = new Set<string>();

function exportSession(args: Record<string, unknown>): string {
  const s = sessionOr(args.sessionId);
  const format = String(args.format);
  if (format !== 'jsonl' && format !== 'har') throw `unknown export format ${JSON.stringify(format)} (jsonl or har)`;
  if (control.failExport) throw control.failExport;
  const dir = args.dir == null ? '/home/tester/Downloads' : String(args.dir);
  let path = `${dir}/sockscope-session-${s.info.id}.${format}`;
  for (let n = 2; exported.has(path); n++) path = `${dir}/sockscope-session-${s.info.id} (${n}).${format}`;
  exported.add(path);
  return path;
}

// Replay, mock, diff

function connOf(id: unknown): { s: Session; c: ConnectionInfo } {
  for (const s of sessions.values()) {
    const c = s.conns.find((x) => x.id === id);
    if (c) return { s, c };
  }
  throw `connection ${String(id)} not found`;
}

const HOP = ['host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'content-length'];

function planOf(args: Record<string, unknown>): { s: Session; c: ConnectionInfo; plan: ReplayPlan; steps: Stored[] } {
  const s = sessionOr(args.sessionId);
  let c: ConnectionInfo | undefined;
  if (args.connectionId != null) {
    c = s.conns.find((x) => x.id === args.connectionId);
    if (!c) throw `connection ${String(args.connectionId)} is not in session ${s.info.id}`;
  } else c = s.conns[0];
  if (!c) throw `session ${s.info.id} has no connection to replay`;
  const mine = s.frames.filter((f) => f.summary.connection === c!.id);
  const steps = mine.filter((f) => f.summary.dir === 'client' && ['text', 'binary', 'ping'].includes(f.summary.opcode));
  const server = mine.filter((f) => f.summary.dir === 'server' && (f.summary.opcode === 'text' || f.summary.opcode === 'binary'));
  const all = requestHeaders.get(c.id) ?? [];
  const protocols = all.filter(([k]) => k.toLowerCase() === 'sec-websocket-protocol').flatMap(([, v]) => v.split(',').map((x) => x.trim()));
  return {
    s,
    c,
    steps,
    plan: {
      origin_session_id: s.info.id,
      origin_connection_id: c.id,
      url: c.url,
      url_is_loopback: urlIsLoopback(c.url),
      headers: all.filter(([k]) => !HOP.includes(k.toLowerCase())),
      subprotocols: protocols,
      client_messages: steps.length,
      server_messages: server.length,
    },
  };
}

function channelSend(channel: { id: number }, counter: { index: number }, message: unknown) {
  const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, d: unknown): void } }).__TAURI_INTERNALS__;
  internals.runCallback(channel.id, { index: counter.index++, message });
}

interface RunningReplay {
  stop(): void;
}
const replays = new Map<number, RunningReplay>();

/** What the replayed server answers: the recording, with one field changed and one message more. */
function replayedServer(text: string, index: number): string {
  if (index !== 4) return text;
  try {
    const o = JSON.parse(text);
    if (typeof o.bid === 'number') o.bid = +(o.bid + 1.25).toFixed(2);
    else if (typeof o.price === 'number') o.price = +(o.price + 1.25).toFixed(2);
    else o.changed = true;
    return JSON.stringify(o);
  } catch {
    return text + '!';
  }
}

function startReplay(args: Record<string, unknown>) {
  const mode = String(args.mode);
  if (!['timed', 'max', 'conversational'].includes(mode)) throw `unknown replay mode ${JSON.stringify(mode)} (timed, max or conversational)`;
  if (mode === 'timed') {
    const speed = args.speed == null ? 1 : Number(args.speed);
    if (!(speed >= 0.1 && speed <= 100)) throw `speed ${speed} is outside 0.1–100`;
  }
  if (mode === 'conversational' && args.timeoutSecs != null) {
    const t = Number(args.timeoutSecs);
    if (!(t > 0 && t <= 3600)) throw `invalid timeout ${t} s (0–3600)`;
  }
  const url = String(args.url ?? '').trim();
  if (!urlIsLoopback(url) && args.confirmedRemote !== true) throw `${url} is not on this machine: confirm before sending to it`;
  if (!/^wss?:\/\/[^/\s]+/i.test(url)) throw `invalid URL ${JSON.stringify(url)}: the URL must start with ws:// or wss://`;
  const headers = args.headers as [string, string][] | undefined;
  for (const [k, v] of headers ?? []) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k.trim()) || !/^[\t\x20-\x7e]*$/.test(v)) throw `invalid header ${k}: ${v}`;
  }
  const { s: origin, c: oc, steps } = planOf(args);
  const host = url.replace(/^wss?:\/\//i, '').replace(/[/?#].*$/, '');
  const rs = newSession(`replay of #${origin.info.id}: ${host}`, 'replay', Date.now(), {
    origin_session_id: origin.info.id,
    origin_connection_id: oc.id,
  });
  const c = newConn(rs, url);
  requestHeaders.set(c.id, headers ?? []);
  const channel = args.progress as { id: number };
  const counter = { index: 0 };
  const total = steps.length;
  const p: ReplayProgressMsg = { sent: 0, total, received: 0, state: 'connecting', error: null };
  const emit = () => channelSend(channel, counter, { ...p });
  let stopped = false;
  let done = false;
  const finish = (state: ReplayProgressMsg['state'], error: string | null = null) => {
    if (done) return;
    done = true;
    replays.delete(rs.info.id);
    p.state = state;
    p.error = error;
    emit();
  };
  replays.set(rs.info.id, { stop: () => (stopped = true) });
  // The recording's frames in order, grouped: each client step with the server frames after it.
  const mine = origin.frames.filter((f) => f.summary.connection === oc.id);
  let serverIndex = 0;
  let i = 0;
  later(0, emit);
  later(60, () => {
    if (url.includes('refused')) {
      Object.assign(c, { state: 'failed', error: 'connection refused', closed_by: 'error' });
      updateConn(rs, { ...c });
      finish('failed', `cannot connect to ${url}: connection refused`);
      return;
    }
    const t0 = Date.now() * 1000;
    Object.assign(c, { state: 'open', opened_at_us: t0, response_status: 101 });
    updateConn(rs, { ...c });
    p.state = 'running';
    emit();
    const tick = () => {
      if (stopped) {
        const t = Date.now() * 1000;
        emitFrames(rs, [addFrame(rs, c.id, 'client', 'close', closeBytes(1000, ''), t), addFrame(rs, c.id, 'server', 'close', closeBytes(1000, ''), t + 500)]);
        Object.assign(c, { state: 'closed', closed_at_us: t + 600, close_code: 1000, close_reason: '', closed_by: 'client' });
        updateConn(rs, { ...c });
        finish('stopped');
        return;
      }
      // The next client step, then the server frames up to the following one.
      const out: FrameSummary[] = [];
      const now = Date.now() * 1000;
      let sentThisTick = false;
      while (i < mine.length) {
        const f = mine[i];
        if (f.summary.dir === 'client') {
          if (sentThisTick) break;
          if (f.summary.opcode === 'close') {
            i++;
            continue;
          }
          out.push(addFrame(rs, c.id, 'client', f.summary.opcode, f.bytes, now, { masked: true }));
          if (['text', 'binary', 'ping'].includes(f.summary.opcode)) {
            p.sent++;
            sentThisTick = true;
          }
        } else if (f.summary.opcode === 'text') {
          const text = replayedServer(new TextDecoder().decode(f.bytes), serverIndex++);
          out.push(addFrame(rs, c.id, 'server', 'text', enc.encode(text), now + 100));
          p.received++;
        } else if (f.summary.opcode === 'binary' || f.summary.opcode === 'pong') {
          out.push(addFrame(rs, c.id, 'server', f.summary.opcode, f.bytes, now + 100));
          if (f.summary.opcode === 'binary') p.received++;
        }
        i++;
      }
      emitFrames(rs, out);
      if (i >= mine.length) {
        p.state = 'closing';
        emit();
        const t = Date.now() * 1000;
        const extra = addFrame(rs, c.id, 'server', 'text', enc.encode('{"type":"heartbeat","replayed":true}'), t);
        p.received++;
        emitFrames(rs, [extra, addFrame(rs, c.id, 'client', 'close', closeBytes(1000, ''), t + 200), addFrame(rs, c.id, 'server', 'close', closeBytes(1000, ''), t + 700)]);
        Object.assign(c, { state: 'closed', closed_at_us: t + 800, close_code: 1000, close_reason: '', closed_by: 'client' });
        updateConn(rs, { ...c });
        later(control.replayTickMs, () => finish('finished'));
        return;
      }
      emit();
      later(mode === 'max' ? 5 : control.replayTickMs, tick);
    };
    later(control.replayTickMs, tick);
  });
  return { session_id: rs.info.id, connection_id: c.id, total };
}

const mocks = new Map<number, MockInfo & { origin: number; conn: number }>();

function startMock(args: Record<string, unknown>): MockInfo {
  const mode = String(args.mode);
  if (mode !== 'timed' && mode !== 'conversational') throw `unknown mock mode ${JSON.stringify(mode)} (timed or conversational)`;
  if (mode === 'timed' && args.speed != null && !(Number(args.speed) >= 0.1 && Number(args.speed) <= 100)) throw `speed ${String(args.speed)} is outside 0.1–100`;
  const listen = String(args.listen ?? '').trim();
  const m = /^(\[[^\]]+\]|\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw `listen address ${JSON.stringify(listen)} is not IP:PORT`;
  if (!isLoopback(m[1])) throw `${listen} is not a loopback address (allow it explicitly to listen there)`;
  const { s, c } = planOf(args);
  const bound = Number(m[2]) === 0 ? `${m[1]}:${nextPort++}` : listen;
  if ([...mocks.values()].some((x) => x.listen === bound) || [...proxies.values()].some((x) => x.listen === bound) || control.busyAddresses.includes(bound)) {
    throw `cannot listen on ${bound}: Address already in use (os error 98)`;
  }
  const ms = newSession(`mock of #${s.info.id} on ${bound}`, 'replay', Date.now(), { origin_session_id: s.info.id, origin_connection_id: c.id });
  const info = { session_id: ms.info.id, origin_session_id: s.info.id, listen: bound, url: `ws://${bound}/`, mode: mode as MockInfo['mode'] };
  mocks.set(ms.info.id, { ...info, origin: s.info.id, conn: c.id });
  return info;
}

function publicMock(m: MockInfo): MockInfo {
  return { session_id: m.session_id, origin_session_id: m.origin_session_id, listen: m.listen, url: m.url, mode: m.mode };
}

// diff_connections: data messages aligned per direction by order; JSON compared structurally.

function checkIgnore(ignore: unknown): string[] {
  if (!Array.isArray(ignore)) throw 'invalid type: expected a sequence';
  for (const p of ignore) {
    const t = String(p);
    if (!t.trim()) throw 'an ignore entry cannot be empty';
    if (t.startsWith('$') && !/^\$(\.[A-Za-z_][\w-]*|\[\*\]|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*$/.test(t)) {
      throw `invalid ignore path ${JSON.stringify(t)}: use $.key, $[0], $[*] or $["key"]`;
    }
  }
  return ignore.map(String);
}

function cut(v: unknown): string {
  const t = JSON.stringify(v);
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}

function jsonChanges(l: unknown, r: unknown, path: string, ignore: string[], out: PathChange[]) {
  if (out.length >= 50) return;
  const ignored = (p: string, key: string | null) => ignore.includes(p) || (key !== null && ignore.includes(key));
  const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(l) && isObj(r)) {
    const lo = l as Record<string, unknown>;
    const ro = r as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(lo), ...Object.keys(ro)])];
    for (const k of keys) {
      const p = /^[A-Za-z_][\w]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
      if (ignored(p, k)) continue;
      if (!(k in lo)) out.push({ path: p, kind: 'added', left: null, right: cut(ro[k]) });
      else if (!(k in ro)) out.push({ path: p, kind: 'removed', left: cut(lo[k]), right: null });
      else jsonChanges(lo[k], ro[k], p, ignore, out);
    }
    return;
  }
  if (Array.isArray(l) && Array.isArray(r)) {
    for (let i = 0; i < Math.max(l.length, r.length); i++) {
      const p = `${path}[${i}]`;
      if (ignored(p, null) || ignored(`${path}[*]`, null)) continue;
      if (i >= l.length) out.push({ path: p, kind: 'added', left: null, right: cut(r[i]) });
      else if (i >= r.length) out.push({ path: p, kind: 'removed', left: cut(l[i]), right: null });
      else jsonChanges(l[i], r[i], p, ignore, out);
    }
    return;
  }
  if (JSON.stringify(l) !== JSON.stringify(r)) out.push({ path, kind: 'changed', left: cut(l), right: cut(r) });
}

function parseJson(b: Uint8Array): { ok: true; v: unknown } | { ok: false } {
  if (!isUtf8(b)) return { ok: false };
  try {
    return { ok: true, v: JSON.parse(new TextDecoder().decode(b)) };
  } catch {
    return { ok: false };
  }
}

function side(f: Stored): DiffSide {
  return { seq: f.summary.seq, ts_us: f.summary.ts_us, opcode: f.summary.opcode, preview: f.summary.preview };
}

function diff(args: Record<string, unknown>) {
  const ignore = checkIgnore(args.ignore ?? []);
  const L = connOf(args.left);
  const R = connOf(args.right);
  const data = (s: Session, c: ConnectionInfo) => s.frames.filter((f) => f.summary.connection === c.id && (f.summary.opcode === 'text' || f.summary.opcode === 'binary'));
  const left = data(L.s, L.c);
  const right = data(R.s, R.c);
  const rows: (DiffRow & { order: number })[] = [];
  const summary = { identical: 0, changed: 0, missing: 0, extra: 0, left_messages: left.length, right_messages: right.length };
  for (const dir of ['client', 'server'] as const) {
    const l = left.filter((f) => f.summary.dir === dir);
    const r = right.filter((f) => f.summary.dir === dir);
    let lastOrder = 0;
    for (let i = 0; i < Math.max(l.length, r.length); i++) {
      const a = l[i];
      const b = r[i];
      if (a && b) {
        const ja = parseJson(a.bytes);
        const jb = parseJson(b.bytes);
        const changes: PathChange[] = [];
        let same: boolean;
        if (ja.ok && jb.ok) {
          jsonChanges(ja.v, jb.v, '$', ignore, changes);
          same = changes.length === 0;
        } else {
          same = a.bytes.length === b.bytes.length && a.bytes.every((x, k) => x === b.bytes[k]);
        }
        summary[same ? 'identical' : 'changed']++;
        lastOrder = a.summary.seq;
        rows.push({ dir, status: same ? 'identical' : 'changed', json: ja.ok && jb.ok, changes, left: side(a), right: side(b), order: a.summary.seq });
      } else if (a) {
        summary.missing++;
        lastOrder = a.summary.seq;
        rows.push({ dir, status: 'missing', json: false, changes: [], left: side(a), right: null, order: a.summary.seq });
      } else {
        summary.extra++;
        lastOrder += 0.001;
        rows.push({ dir, status: 'extra', json: false, changes: [], left: null, right: side(b), order: lastOrder });
      }
    }
  }
  rows.sort((x, y) => x.order - y.order);
  return { summary, rows: rows.map(({ order: _o, ...r }) => r) };
}

const control = {
  /**
   * What `storage_status` answers (the store writer's state); a test sets `state: 'paused'`
   * etc. `set_db_size_limit` resumes a `size_limit` pause when the new limit leaves room.
   */
  storage: {
    state: 'ok',
    path: '/home/dev/.local/share/sockscope/sockscope.db',
    limit_bytes: null,
    file_bytes: 0,
    last_resume: null,
    damage: null,
  } as Record<string, unknown>,
  /** How many find_matches calls were answered. */
  findMatchesCalls: 0,
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
  /** Adds an open connection to `url` to a session (later pushBytes go to it). */
  addConn(sessionId: number, url: string): number {
    const s = sessions.get(sessionId);
    if (!s) throw new Error(`no session ${sessionId}`);
    const t = Date.now() * 1000;
    const c = newConn(s, url, { state: 'open', opened_at_us: t, response_status: 101 });
    send(s.info.id, { kind: 'connection', connection: { ...c } });
    return c.id;
  },
  /** Saved decoder choices: session id -> connection id (0 = session default) -> decoder. */
  decoderChoices,
  /** Pushes one frame with any payload (the detail view's tests). */
  pushBytes(sessionId: number, dir: 'client' | 'server', opcode: Opcode, bytes: number[] | Uint8Array, extra: Partial<FrameSummary> = {}): number {
    const s = sessions.get(sessionId);
    if (!s) throw new Error(`no session ${sessionId}`);
    const conn = s.conns[s.conns.length - 1]?.id ?? 0;
    const f = addFrame(s, conn, dir, opcode, Uint8Array.from(bytes), Date.now() * 1000, extra);
    emitFrames(s, [f]);
    return f.seq;
  },
  /** Pushes one message as fragments (text, then continuation frames, FIN on the last) to a session. */
  pushFragments(sessionId: number, parts: string[]) {
    const s = sessions.get(sessionId);
    if (!s) throw new Error(`no session ${sessionId}`);
    const conn = s.conns[s.conns.length - 1]?.id ?? 0;
    const t = Date.now() * 1000;
    const out = parts.map((p, i) =>
      addFrame(s, conn, 'server', i === 0 ? 'text' : 'continuation', enc.encode(p), t + i, { fin: i === parts.length - 1 }),
    );
    emitFrames(s, out);
  },
  /** Makes the next `get_payload` calls fail. */
  failPayloads: false,
  /** When set, timeline_count rejects with this text. */
  failTimeline: null as string | null,
  /** When set, import_data rejects with this text (after checking the body). */
  failImport: null as string | null,
  /** When set, export_session rejects with this text. */
  failExport: null as string | null,
  /** When set, delete_session rejects with this text. */
  failDelete: null as string | null,
  /** Milliseconds between the messages of a replay (timed and conversational). */
  replayTickMs: 40,
  /** Headers of the last import_data call. */
  lastImportHeaders: null as Record<string, string> | null,
  /** A client connects to the mock recording into `sessionId` and receives its first server messages. */
  mockClient(sessionId: number): number {
    const m = mocks.get(sessionId);
    const s = sessions.get(sessionId);
    const origin = m && sessions.get(m.origin);
    if (!m || !s || !origin) throw new Error(`no mock records into session ${sessionId}`);
    const c = newConn(s, m.url);
    send(s.info.id, { kind: 'connection', connection: { ...c } });
    later(20, () => {
      const t = Date.now() * 1000;
      Object.assign(c, { state: 'open', opened_at_us: t, response_status: 101 });
      updateConn(s, { ...c });
      const served = origin.frames.filter((f) => f.summary.connection === m.conn && f.summary.dir === 'server' && f.summary.opcode === 'text').slice(0, 3);
      emitFrames(s, served.map((f, i) => addFrame(s, c.id, 'server', 'text', f.bytes, t + 100 * (i + 1))));
    });
    return c.id;
  },
  /** Milliseconds that `connect` takes to answer. */
  connectDelayMs: 0,
  calls: [] as { cmd: string; args: Record<string, unknown> }[],
};


// ---------------------------------------------------------------------------------------
// Workbench (docs/ipc.md "Workbench"): links behave like an echo server (a greeting on open,
// every data message echoed, ping answered by pong); a URL containing "refused" fails to
// connect, one containing "http401" gets a 401 answer with a body.

interface MockLink {
  info: LiveConnection;
  session: Session;
  conn: ConnectionInfo;
  spec: ConnectSpec;
}
const links = new Map<number, MockLink>();
let nextLink = 1;
let wbSub: { channelId: number; index: number } | null = null;
const handshakes = new Map<number, HandshakeInfo>();
const history = new Map<string, HistoryEntry[]>();
let nextHistory = 1;
const templates: Template[] = [
  { name: 'hello', mode: 'text', body: 'Hello #{{counter}}', path: '/home/tester/.local/share/sockscope/templates/hello.txt', updated_at_us: BASE_US },
  { name: 'subscribe', mode: 'json', body: '{"op": "subscribe", "id": "{{uuid}}"}', path: '/home/tester/.local/share/sockscope/templates/subscribe.json', updated_at_us: BASE_US },
];
const TEMPLATES_DIR = '/home/tester/.local/share/sockscope/templates';
const watches = new Map<number, SendOnSaveInfo>();
let nextWatch = 1;
const demos: DemoInfo[] = [];
let nextDemo = 1;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function wbEmit(msg: WorkbenchMsg) {
  if (!wbSub) return;
  const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, d: unknown): void } }).__TAURI_INTERNALS__;
  internals.runCallback(wbSub.channelId, { index: wbSub.index++, message: msg });
}

function emitLink(l: MockLink) {
  wbEmit({ kind: 'connection', connection: { ...l.info, attempts: l.info.attempts.slice() } });
}

function targetOf(url: string): string {
  const m = /^(wss?):\/\/([^/?#]+)([^?#]*)/i.exec(url.trim());
  if (!m) return url;
  const scheme = m[1].toLowerCase();
  let host = m[2].toLowerCase();
  if (!/:\d+$/.test(host)) host += scheme === 'wss' ? ':443' : ':80';
  return `${scheme}://${host}${m[3] || '/'}`;
}

function withQuery(url: string, rows: ConnectSpec['query']): string {
  const on = (rows ?? []).filter((r) => r.enabled && r.name);
  if (!on.length) return url;
  const qs = on.map((r) => `${encodeURIComponent(r.name)}=${encodeURIComponent(r.value)}`).join('&');
  return `${url}${url.includes('?') ? '&' : '?'}${qs}`;
}

function bytesB64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
function unb64(t: string): Uint8Array {
  return Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
}

function requestFor(l: MockLink): [string, string][] {
  const u = new URL(l.info.url.replace(/^ws/, 'http'));
  const h: [string, string][] = [
    ['Host', u.host],
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Version', '13'],
    // RFC 6455's example nonce: its accept value is known (s3pPLMBiTxaQ9kYGzzhZRbK+xOo=).
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ];
  if (l.spec.subprotocols?.length) h.push(['Sec-WebSocket-Protocol', l.spec.subprotocols.join(', ')]);
  if (l.spec.origin) h.push(['Origin', l.spec.origin]);
  const a = l.spec.auth;
  if (a?.kind === 'basic') h.push(['Authorization', `Basic ${btoa(`${a.username}:${a.password}`)}`]);
  if (a?.kind === 'bearer') h.push(['Authorization', `Bearer ${a.token}`]);
  for (const r of l.spec.headers ?? []) if (r.enabled && r.name) h.push([r.name, r.value]);
  return h;
}

function openLink(l: MockLink) {
  const { session: s, conn: c } = l;
  const started = performance.now();
  const url = l.info.url;
  const base: HandshakeInfo = {
    connection_id: c.id,
    url,
    request_line: `GET ${new URL(url.replace(/^ws/, 'http')).pathname}${new URL(url.replace(/^ws/, 'http')).search} HTTP/1.1`,
    request_headers: requestFor(l),
    response_status: null,
    response_reason: null,
    response_headers: [],
    response_body: null,
    response_body_truncated: false,
    subprotocols_offered: l.spec.subprotocols ?? [],
    subprotocol: null,
    extensions: null,
    time_to_open_ms: null,
    accept: null,
    insecure: !!l.spec.tls?.insecure,
    error: null,
  };
  handshakes.set(c.id, base);
  later(url.includes('refused') || url.includes('http401') ? 120 : 150, () => {
    if (l.info.state !== 'connecting' || l.conn !== c) return;
    if (url.includes('refused')) {
      handshakes.set(c.id, { ...base, error: 'connection refused' });
      Object.assign(c, { state: 'failed', error: 'connection refused', closed_by: 'error' });
      updateConn(s, { ...c });
      Object.assign(l.info, { state: 'failed', error: 'connection refused' });
      emitLink(l);
      return;
    }
    if (url.includes('http401')) {
      const body = '{"error":"unauthorized","hint":"send a bearer token"}';
      handshakes.set(c.id, {
        ...base,
        response_status: 401,
        response_reason: 'Unauthorized',
        response_headers: [['Content-Type', 'application/json'], ['WWW-Authenticate', 'Bearer']],
        response_body: body,
        error: 'HTTP 401 Unauthorized: the server refused the upgrade',
      });
      Object.assign(c, { state: 'failed', error: 'HTTP 401 Unauthorized', closed_by: 'error', response_status: 401 });
      updateConn(s, { ...c });
      Object.assign(l.info, { state: 'failed', error: 'HTTP 401 Unauthorized: the server refused the upgrade' });
      emitLink(l);
      return;
    }
    const t = Date.now() * 1000;
    const proto = l.spec.subprotocols?.[0] ?? null;
    const accept = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
    const resp: [string, string][] = [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Accept', accept]];
    if (proto) resp.push(['Sec-WebSocket-Protocol', proto]);
    handshakes.set(c.id, {
      ...base,
      response_status: 101,
      response_reason: 'Switching Protocols',
      response_headers: resp,
      subprotocol: proto,
      time_to_open_ms: Math.max(0.1, performance.now() - started - 150 + 2.4),
      accept: {
        key: 'dGhlIHNhbXBsZSBub25jZQ==',
        guid: GUID,
        concatenated: `dGhlIHNhbXBsZSBub25jZQ==${GUID}`,
        sha1_hex: 'b37a4f2cc0624f1690f64606cf385945b2bec4ea',
        expected: accept,
        received: accept,
        ok: true,
      },
    });
    Object.assign(c, { state: 'open', opened_at_us: t, response_status: 101 });
    updateConn(s, { ...c });
    Object.assign(l.info, { state: 'open', opened_at_us: t, subprotocol: proto, rtt_ms: l.info.ping_interval_ms ? 0.84 : null });
    const hello = enc.encode('{"hello":"welcome to the echo server"}');
    emitFrames(s, [addFrame(s, c.id, 'server', 'text', hello, t + 500)]);
    l.info.messages_received++;
    l.info.bytes_received += hello.length;
    emitLink(l);
  });
}

function linkOr(id: unknown): MockLink {
  const l = links.get(id as number);
  if (!l) throw `no such connection: ${String(id)}`;
  return l;
}

function linkSend(l: MockLink, m: OutgoingMsg, injected = true): { len: number; text: string | null } {
  if (l.info.state !== 'open') throw `connection ${l.info.id} is not open`;
  const { session: s, conn: c } = l;
  const t = Date.now() * 1000;
  let bytes: Uint8Array;
  let opcode: Opcode;
  let text: string | null = null;
  switch (m.kind) {
    case 'text':
      text = m.text;
      bytes = enc.encode(m.text);
      opcode = 'text';
      break;
    case 'binary':
      bytes = unb64(m.base64);
      opcode = 'binary';
      break;
    case 'ping':
      bytes = unb64(m.base64);
      opcode = 'ping';
      break;
    case 'close':
      bytes = closeBytes(m.code, m.reason);
      opcode = 'close';
      break;
  }
  emitFrames(s, [addFrame(s, c.id, 'client', opcode, bytes, t, { injected })]);
  l.info.messages_sent++;
  l.info.bytes_sent += bytes.length;
  if (m.kind === 'close') {
    // The echo server answers with the same code and "bye" (or the client's reason).
    const reason = m.reason || 'bye';
    const back = addFrame(s, c.id, 'server', 'close', closeBytes(m.code, reason), t + 700);
    emitFrames(s, [back]);
    Object.assign(c, { state: 'closed', closed_at_us: t + 800, close_code: m.code, close_reason: reason, closed_by: 'client' });
    updateConn(s, { ...c });
    l.info.state = 'closed';
    l.info.messages_received++;
    emitLink(l);
    return { len: bytes.length, text };
  }
  emitLink(l);
  later(30, () => {
    if (l.info.state !== 'open' || l.conn !== c) return;
    emitFrames(s, [addFrame(s, c.id, 'server', opcode === 'ping' ? 'pong' : opcode, bytes, Date.now() * 1000)]);
    l.info.messages_received++;
    l.info.bytes_received += bytes.length;
    emitLink(l);
  });
  return { len: bytes.length, text };
}

function wbConnect(spec: ConnectSpec): LiveConnection {
  const raw = String(spec.url ?? '').trim();
  if (!/^wss?:\/\/[^/\s]+/.test(raw)) throw `invalid URL "${raw}": expected ws:// or wss://`;
  if (spec.tls?.insecure && !raw.startsWith('wss:')) throw 'TLS options need a wss:// URL';
  const url = withQuery(raw, spec.query);
  let s: Session | undefined;
  if (spec.session_id != null) s = sessions.get(spec.session_id);
  if (!s) s = newSession(raw.replace(/^wss?:\/\//, ''), 'client', Date.now());
  if (spec.tls?.insecure) s.info.insecure = true;
  const c = newConn(s, url);
  const id = nextLink++;
  const l: MockLink = {
    spec,
    session: s,
    conn: c,
    info: {
      id,
      session_id: s.info.id,
      connection_id: c.id,
      url,
      target: targetOf(url),
      state: 'connecting',
      insecure: !!spec.tls?.insecure,
      subprotocol: null,
      created_at_us: Date.now() * 1000,
      opened_at_us: null,
      messages_sent: 0,
      messages_received: 0,
      bytes_sent: 0,
      bytes_received: 0,
      ping_interval_ms: spec.ping_interval_ms ?? null,
      rtt_ms: null,
      attempt: 0,
      attempts: [c.id],
      next_retry_at_us: null,
      error: null,
    },
  };
  links.set(id, l);
  send(s.info.id, { kind: 'connection', connection: { ...c } });
  emitLink(l);
  openLink(l);
  return { ...l.info, attempts: l.info.attempts.slice() };
}

function emitTemplates() {
  templates.sort((a, b) => a.name.localeCompare(b.name));
  wbEmit({ kind: 'templates', templates: templates.map((t) => ({ ...t })) });
}

const EXT: Record<TemplateMode, string> = { text: 'txt', json: 'json', hex: 'hex', base64: 'b64' };

function handleWorkbench(cmd: string, args: Record<string, unknown>): { handled: boolean; value?: unknown } {
  switch (cmd) {
    case 'wb_connect':
      return { handled: true, value: wbConnect(args.spec as ConnectSpec) };
    case 'wb_send':
      return { handled: true, value: linkSend(linkOr(args.id), args.message as OutgoingMsg) };
    case 'wb_close': {
      const l = linkOr(args.id);
      if (l.info.state === 'open') linkSend(l, { kind: 'close', code: (args.code as number) ?? 1000, reason: (args.reason as string) ?? '' });
      else if (l.info.state !== 'closed' && l.info.state !== 'failed') {
        l.info.state = 'closed';
        emitLink(l);
      }
      return { handled: true, value: null };
    }
    case 'wb_remove': {
      const l = linkOr(args.id);
      if (l.info.state === 'open') linkSend(l, { kind: 'close', code: 1000, reason: '' });
      links.delete(l.info.id);
      wbEmit({ kind: 'removed', id: l.info.id });
      return { handled: true, value: null };
    }
    case 'wb_list':
      return { handled: true, value: [...links.values()].map((l) => ({ ...l.info })) };
    case 'wb_subscribe': {
      const channel = args.channel as { id: number };
      wbSub = { channelId: channel.id, index: 0 };
      const mine = wbSub;
      later(0, () => {
        if (wbSub !== mine) return;
        wbEmit({ kind: 'connections', connections: [...links.values()].map((l) => ({ ...l.info })) });
        emitTemplates();
        wbEmit({ kind: 'demos', demos: demos.slice() });
      });
      return { handled: true, value: null };
    }
    case 'wb_handshake': {
      const h = handshakes.get(args.connectionId as number);
      if (!h) throw `no handshake recorded for connection ${String(args.connectionId)}`;
      return { handled: true, value: { ...h } };
    }
    case 'history_get': {
      const list = history.get(targetOf(String(args.target))) ?? [];
      return { handled: true, value: list.slice().reverse().slice(0, (args.limit as number) ?? 200) };
    }
    case 'history_append': {
      const key = targetOf(String(args.target));
      const list = history.get(key) ?? [];
      const last = list[list.length - 1];
      if (!last || last.body !== args.body || last.mode !== args.mode) {
        list.push({ id: nextHistory++, ts_us: Date.now() * 1000, mode: String(args.mode), body: String(args.body) });
      }
      history.set(key, list);
      return { handled: true, value: null };
    }
    case 'templates_list':
      return { handled: true, value: templates.map((t) => ({ ...t })) };
    case 'templates_dir':
      return { handled: true, value: TEMPLATES_DIR };
    case 'template_save': {
      const name = String(args.name);
      const mode = args.mode as TemplateMode;
      if (!name || name.startsWith('.') || /[/\\]/.test(name)) throw `invalid template name "${name}"`;
      if (args.previousName != null) {
        const i = templates.findIndex((t) => t.name === args.previousName);
        if (i < 0) throw `no template named "${String(args.previousName)}"`;
        templates.splice(i, 1);
      }
      const t: Template = { name, mode, body: String(args.body), path: `${TEMPLATES_DIR}/${name}.${EXT[mode]}`, updated_at_us: Date.now() * 1000 };
      const j = templates.findIndex((x) => x.name === name);
      if (j >= 0) templates[j] = t;
      else templates.push(t);
      later(10, emitTemplates);
      return { handled: true, value: { ...t } };
    }
    case 'template_delete': {
      const i = templates.findIndex((t) => t.name === args.name);
      if (i < 0) throw `no template named "${String(args.name)}"`;
      templates.splice(i, 1);
      later(10, emitTemplates);
      return { handled: true, value: null };
    }
    case 'send_on_save_start': {
      const l = linkOr(args.id);
      const path = String(args.path);
      if (!path.startsWith('/')) throw `cannot watch ${path}: not an absolute path`;
      const w: SendOnSaveInfo = {
        watch_id: nextWatch++,
        link_id: l.info.id,
        path,
        mode: (args.mode as 'text' | 'binary') ?? 'text',
        expand: !!args.expand,
        debounce_ms: (args.debounceMs as number) ?? 200,
        sent: 0,
        last_error: null,
        active: true,
      };
      watches.set(w.watch_id, w);
      wbEmit({ kind: 'send_on_save', watch: { ...w } });
      return { handled: true, value: { ...w } };
    }
    case 'send_on_save_stop': {
      const w = watches.get(args.watchId as number);
      if (!w) throw `no such watch: ${String(args.watchId)}`;
      w.active = false;
      wbEmit({ kind: 'send_on_save', watch: { ...w } });
      return { handled: true, value: null };
    }
    case 'send_on_save_list':
      return { handled: true, value: [...watches.values()].map((w) => ({ ...w })) };
    case 'demo_start': {
      const kind = args.kind as DemoKind;
      if (!['echo', 'chat', 'ticker', 'telemetry', 'notifications'].includes(kind)) throw `unknown demo ${String(kind)}`;
      const id = nextDemo++;
      const port = 47000 + id;
      const d: DemoInfo = { id, kind, listen: `127.0.0.1:${port}`, url: `ws://127.0.0.1:${port}/`, rate: kind === 'ticker' ? ((args.rate as number) ?? 10) : null };
      demos.push(d);
      wbEmit({ kind: 'demos', demos: demos.slice() });
      return { handled: true, value: { ...d } };
    }
    case 'demo_stop': {
      const i = demos.findIndex((d) => d.id === args.id);
      if (i < 0) throw `no such demo server: ${String(args.id)}`;
      demos.splice(i, 1);
      wbEmit({ kind: 'demos', demos: demos.slice() });
      return { handled: true, value: null };
    }
    case 'demo_list':
      return { handled: true, value: demos.slice() };
    default:
      return { handled: false };
  }
}

/** Test controls of the workbench side. */
const wbControl = {
  /** A template file changed on disk (the shell's notify watcher): the list is pushed. */
  editTemplateFile(name: string, body: string) {
    const t = templates.find((x) => x.name === name);
    if (t) Object.assign(t, { body, updated_at_us: Date.now() * 1000 });
    else templates.push({ name, mode: 'text', body, path: `${TEMPLATES_DIR}/${name}.txt`, updated_at_us: Date.now() * 1000 });
    emitTemplates();
  },
  /** The watched file of `watchId` was saved with `content`: it is sent once. */
  saveWatchedFile(watchId: number, content: string) {
    const w = watches.get(watchId);
    if (!w || !w.active) throw new Error(`watch ${watchId} is not active`);
    const l = links.get(w.link_id);
    if (!l) throw new Error('no link');
    linkSend(l, w.mode === 'text' ? { kind: 'text', text: content } : { kind: 'binary', base64: bytesB64(enc.encode(content)) });
    w.sent++;
    wbEmit({ kind: 'send_on_save', watch: { ...w } });
  },
  /** The server drops link `id` (a reconnect would start from here). */
  dropLink(id: number) {
    const l = linkOr(id);
    Object.assign(l.conn, { state: 'closed', closed_at_us: Date.now() * 1000, close_code: 1006, closed_by: 'error' });
    updateConn(l.session, { ...l.conn });
    l.info.state = 'closed';
    emitLink(l);
  },
  /**
   * The server drops link `id` and auto-reconnect takes over: "reconnecting" for `delayMs`,
   * then a new attempt (a new connection row of the same session) that opens.
   */
  reconnect(id: number, delayMs = 1500) {
    const l = linkOr(id);
    const t = Date.now();
    Object.assign(l.conn, { state: 'closed', closed_at_us: t * 1000, close_code: 1006, closed_by: 'error' });
    updateConn(l.session, { ...l.conn });
    Object.assign(l.info, { state: 'reconnecting', attempt: l.info.attempt + 1, next_retry_at_us: (t + delayMs) * 1000, error: 'connection reset by peer' });
    emitLink(l);
    later(delayMs, () => {
      const c = newConn(l.session, l.info.url);
      send(l.session.info.id, { kind: 'connection', connection: { ...c } });
      l.conn = c;
      l.info.attempts.push(c.id);
      Object.assign(l.info, { connection_id: c.id, state: 'connecting', next_retry_at_us: null, opened_at_us: null });
      emitLink(l);
      openLink(l);
    });
  },
  /** Sets the keep-alive round trip of link `id`. */
  setRtt(id: number, ms: number) {
    const l = linkOr(id);
    l.info.rtt_ms = ms;
    emitLink(l);
  },
};

/** Headers of the invoke being handled (mockIPC does not pass them on). */
let currentHeaders: Record<string, string> | null = null;

function logged(cmd: string, args: unknown): Record<string, unknown> {
  if (cmd === 'find_matches' && args instanceof Uint8Array) {
    const { filter, hay } = parseMatchBody(args);
    return { filter, bytes: hay.length };
  }
  if (cmd === 'import_data') {
    const body = args instanceof Uint8Array;
    return { body: body ? 'Uint8Array' : typeof args, bytes: body ? (args as Uint8Array).length : null, headers: { ...(currentHeaders ?? {}) } };
  }
  const a = args as Record<string, unknown>;
  if (cmd === 'subscribe_session') return { ...a, channel: '[Channel]' };
  if (cmd === 'start_replay') return { ...a, progress: '[Channel]' };
  if (cmd === 'wb_subscribe') return { ...a, channel: '[Channel]' };
  return a;
}

function handle(cmd: string, args: Record<string, unknown>): unknown {
  control.calls.push({ cmd, args: logged(cmd, args) });
  const detail = detailCommand(sessions, cmd, args);
  if (detail !== NOT_MINE) return detail;
  const dec = decoderCommand(sessions, cmd, args);
  if (dec !== NOT_DECODERS) return dec;
  if (cmd === 'find_matches') return findMatches(args as unknown as Uint8Array);
  const wbAnswer = handleWorkbench(cmd, args);
  if (wbAnswer.handled) return wbAnswer.value;
  if (cmd === 'import_data') control.lastImportHeaders = { ...(currentHeaders ?? {}) };
  switch (cmd) {
    case 'storage_status':
      return structuredClone(control.storage);
    case 'set_db_size_limit': {
      const mb = args.mb as number | null;
      const st = control.storage;
      st.limit_bytes = mb ? mb * 1024 * 1024 : null;
      if (st.state === 'paused' && st.cause === 'size_limit' && (st.limit_bytes === null || (st.limit_bytes as number) > (st.file_bytes as number))) {
        const backlog = st.pending_frames as number;
        const now = Date.now() * 1000;
        control.storage = {
          state: 'ok',
          path: st.path,
          limit_bytes: st.limit_bytes,
          file_bytes: st.file_bytes,
          damage: st.damage,
          last_resume: { pause: 1, paused_at_us: st.since_us, resumed_at_us: now, cause: 'size_limit', backlog_frames: backlog, written_frames: backlog, done: true },
        };
      }
      return structuredClone(control.storage);
    }
    case 'list_sessions':
      return sortedSessions('date');
    case 'list_sessions_sorted':
      return sortedSessions(String(args.sort));
    case 'rename_session': {
      const s = sessionOr(args.sessionId);
      const name = String(args.name ?? '').trim();
      if (!name) throw 'a session name cannot be empty';
      if ([...name].length > 1000) throw 'a session name is at most 1000 characters';
      s.info.name = name;
      return null;
    }
    case 'set_session_notes': {
      const s = sessionOr(args.sessionId);
      const notes = String(args.notes ?? '');
      if ([...notes].length > 100_000) throw 'notes are at most 100000 characters';
      s.info.notes = notes;
      return null;
    }
    case 'set_session_tags': {
      const s = sessionOr(args.sessionId);
      s.info.tags = cleanTags(args.tags);
      return null;
    }
    case 'set_session_pinned': {
      const s = sessionOr(args.sessionId);
      if (typeof args.pinned !== 'boolean') throw 'invalid type: expected a boolean';
      s.info.pinned = args.pinned;
      return null;
    }
    case 'delete_session': {
      if (control.failDelete) throw control.failDelete;
      deleteSession(args.sessionId as number);
      return null;
    }
    case 'storage_info': {
      const bytes = [...sessions.values()].reduce((n, x) => n + x.info.bytes, 0);
      return { page_size: 4096, page_count: 64 + Math.ceil(bytes / 4096), free_pages: 0, incremental_vacuum: true };
    }
    case 'search_payloads': {
      const limit = args.limit == null ? 200 : Math.min(10_000, Math.max(1, Number(args.limit)));
      return search(String(args.query ?? ''), limit);
    }
    case 'import_data':
      return importData(args, currentHeaders ?? {});
    case 'export_session':
      return exportSession(args);
    case 'replay_plan':
      return planOf(args).plan;
    case 'url_is_loopback':
      return urlIsLoopback(String(args.url ?? ''));
    case 'start_replay':
      return startReplay(args);
    case 'stop_replay': {
      const id = args.sessionId as number;
      const r = replays.get(id);
      if (!r) throw `no replay is running into session ${id}`;
      r.stop();
      return null;
    }
    case 'start_mock':
      return startMock(args);
    case 'stop_mock': {
      const id = args.sessionId as number;
      if (!mocks.has(id)) throw `no mock records into session ${id}`;
      mocks.delete(id);
      const s = sessions.get(id);
      for (const c of s?.conns ?? []) {
        if (c.state !== 'open' && c.state !== 'connecting') continue;
        const t = Date.now() * 1000;
        emitFrames(s!, [addFrame(s!, c.id, 'server', 'close', closeBytes(1001, 'the mock was stopped'), t)]);
        Object.assign(c, { state: 'closed', closed_at_us: t, close_code: 1001, close_reason: 'the mock was stopped', closed_by: 'server' });
        updateConn(s!, { ...c });
      }
      return null;
    }
    case 'list_mocks':
      return [...mocks.values()].sort((a, b) => a.session_id - b.session_id).map(publicMock);
    case 'diff_connections':
      return diff(args);
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
    case 'timeline_count': {
      const s = sessions.get(args.sessionId as number);
      if (!s) throw `session ${String(args.sessionId)} not found`;
      if (control.failTimeline) throw control.failTimeline;
      const last = s.frames.at(-1)?.summary.seq ?? 0;
      return { count: timelineRows(s, args.filter).length, complete: true, scanned_seq: last, last_seq: last };
    }
    case 'timeline_page': {
      const s = sessions.get(args.sessionId as number);
      if (!s) throw `session ${String(args.sessionId)} not found`;
      const offset = args.offset as number;
      const limit = Math.min(args.limit as number, 1000);
      const { marker } = timelineMatcher(args.filter);
      const grouped = !!(args.filter as FrameFilter | undefined)?.messages;
      return timelineRows(s, args.filter)
        .slice(offset, offset + limit)
        .map((f) => {
          const marks = marksOf(f.summary.preview, marker);
          const fragmented = !f.summary.fin && (f.summary.opcode === 'text' || f.summary.opcode === 'binary');
          const hidden = grouped && fragmented && !!marker && marks.length === 0;
          return { ...f.summary, marks, ...(hidden ? { hidden_hit: true } : {}) };
        });
    }
    case 'timeline_index_of': {
      const s = sessions.get(args.sessionId as number);
      if (!s) throw `session ${String(args.sessionId)} not found`;
      const rows = timelineRows(s, args.filter);
      const seq = args.seq as number;
      const i = rows.findIndex((f) => f.summary.seq >= seq);
      return { index: i < 0 ? rows.length : i, exact: i >= 0 && rows[i].summary.seq === seq };
    }
    case 'connection_frame_counts': {
      const s = sessions.get(args.sessionId as number);
      if (!s) throw `session ${String(args.sessionId)} not found`;
      const maxSeq = args.maxSeq as number;
      return s.conns.map((c) => [c.id, s.frames.filter((f) => f.summary.connection === c.id && f.summary.seq <= maxSeq).length]);
    }
    case 'message_fragments': {
      const s = sessions.get(args.sessionId as number);
      const seq = args.seq as number;
      const head = s?.frames[seq - 1];
      if (!s || !head) throw `frame ${seq} of session ${String(args.sessionId)} not found`;
      const out = [head.summary];
      const { marker } = timelineMatcher(args.filter);
      const withMarks = () => out.map((f) => ({ ...f, marks: marksOf(f.preview, marker) }));
      if (head.summary.fin || (head.summary.opcode !== 'text' && head.summary.opcode !== 'binary')) return withMarks();
      for (const f of s.frames.slice(seq)) {
        if (f.summary.connection !== head.summary.connection || f.summary.dir !== head.summary.dir) continue;
        if (!['text', 'binary', 'continuation'].includes(f.summary.opcode)) continue;
        if (f.summary.opcode !== 'continuation') break;
        out.push(f.summary);
        if (f.summary.fin) break;
      }
      return withMarks();
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
// ?empty=1: a first start (no sessions), for the welcome screen.
if (params.get('empty') !== '1') seed(Number(params.get('frames') ?? 400));

mockIPC(async (cmd, args) => {
  if ((cmd === 'connect' || cmd === 'wb_connect') && control.connectDelayMs > 0) {
    await new Promise((r) => setTimeout(r, control.connectDelayMs));
  }
  return handle(cmd, (args ?? {}) as Record<string, unknown>);
});

// mockIPC drops invoke's options: keep the headers for the command being handled
// (the handler runs synchronously inside invoke).
{
  const internals = (window as unknown as {
    __TAURI_INTERNALS__: { invoke(cmd: string, args: unknown, options?: { headers?: HeadersInit }): Promise<unknown> };
  }).__TAURI_INTERNALS__;
  const base = internals.invoke;
  internals.invoke = (cmd, args, options) => {
    currentHeaders = options?.headers ? Object.fromEntries(new Headers(options.headers).entries()) : null;
    try {
      return base(cmd, args, options);
    } finally {
      currentHeaders = null;
    }
  };
}

(window as unknown as { __sockscopeMock: typeof control & { wb: typeof wbControl } }).__sockscopeMock = Object.assign(control, { wb: wbControl });
