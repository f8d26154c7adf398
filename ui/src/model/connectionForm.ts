// The connection editor's form and its checks, turned into the ConnectSpec of wb_connect
// (docs/ipc.md "Workbench"). Defaults are the backend's and are shown in the form. Pure TS;
// unit-tested in connectionForm.test.ts.
import type { ConnectSpec, KeyValue } from '../ipc/types';

export const DEFAULTS = {
  max_message_size: 64 * 1024 * 1024,
  max_frame_size: 16 * 1024 * 1024,
  handshake_timeout_ms: 10_000,
  max_attempts: 10,
  initial_delay_ms: 500,
  max_delay_ms: 30_000,
  ping_interval_s: 30,
} as const;

export interface KvRow extends KeyValue {
  id: number;
}

export type AuthKind = 'none' | 'basic' | 'bearer';
export type ClientCertKind = 'none' | 'pem' | 'pkcs12';

export interface ConnectionForm {
  url: string;
  query: KvRow[];
  headers: KvRow[];
  /** Comma- or space-separated, in order of preference. */
  subprotocols: string;
  origin: string;
  auth: AuthKind;
  username: string;
  password: string;
  token: string;
  caFile: string;
  clientCert: ClientCertKind;
  certFile: string;
  keyFile: string;
  pkcs12File: string;
  pkcs12Password: string;
  insecure: boolean;
  /** Limits: empty = the default. Sizes in bytes, the timeout in ms. */
  maxMessage: string;
  maxFrame: string;
  handshakeTimeout: string;
  reconnect: boolean;
  maxAttempts: string;
  initialDelay: string;
  maxDelay: string;
  keepAlive: boolean;
  /** Seconds between keep-alive pings. */
  pingInterval: string;
}

let nextRow = 1;
export function kvRow(name = '', value = '', enabled = true): KvRow {
  return { id: nextRow++, name, value, enabled };
}

export function emptyForm(url = ''): ConnectionForm {
  return {
    url,
    query: [],
    headers: [],
    subprotocols: '',
    origin: '',
    auth: 'none',
    username: '',
    password: '',
    token: '',
    caFile: '',
    clientCert: 'none',
    certFile: '',
    keyFile: '',
    pkcs12File: '',
    pkcs12Password: '',
    insecure: false,
    maxMessage: '',
    maxFrame: '',
    handshakeTimeout: '',
    reconnect: false,
    maxAttempts: '',
    initialDelay: '',
    maxDelay: '',
    keepAlive: false,
    pingInterval: '',
  };
}

/** Splits a URL's query string into enabled rows (the editor shows them as a table). */
export function splitUrl(url: string): { base: string; query: KvRow[] } {
  const q = url.indexOf('?');
  if (q < 0) return { base: url, query: [] };
  const hash = url.indexOf('#', q);
  const qs = url.slice(q + 1, hash < 0 ? undefined : hash);
  const rows: KvRow[] = [];
  for (const part of qs.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const dec = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        return s;
      }
    };
    rows.push(kvRow(dec(eq < 0 ? part : part.slice(0, eq)), eq < 0 ? '' : dec(part.slice(eq + 1))));
  }
  return { base: url.slice(0, q) + (hash < 0 ? '' : url.slice(hash)), query: rows };
}

/** Restores a form from the spec a link was opened with. */
export function formFromSpec(spec: ConnectSpec): ConnectionForm {
  const f = emptyForm(spec.url);
  f.query = (spec.query ?? []).map((r) => kvRow(r.name, r.value, r.enabled));
  f.headers = (spec.headers ?? []).map((r) => kvRow(r.name, r.value, r.enabled));
  f.subprotocols = (spec.subprotocols ?? []).join(', ');
  f.origin = spec.origin ?? '';
  const a = spec.auth ?? { kind: 'none' };
  f.auth = a.kind;
  if (a.kind === 'basic') {
    f.username = a.username;
    f.password = a.password;
  } else if (a.kind === 'bearer') {
    f.token = a.token;
  }
  const t = spec.tls;
  if (t) {
    f.caFile = t.ca_file ?? '';
    f.insecure = t.insecure;
    if (t.pkcs12_file) {
      f.clientCert = 'pkcs12';
      f.pkcs12File = t.pkcs12_file;
      f.pkcs12Password = t.pkcs12_password ?? '';
    } else if (t.client_cert) {
      f.clientCert = 'pem';
      f.certFile = t.client_cert;
      f.keyFile = t.client_key ?? '';
    }
  }
  const l = spec.limits ?? {};
  f.maxMessage = l.max_message_size != null ? String(l.max_message_size) : '';
  f.maxFrame = l.max_frame_size != null ? String(l.max_frame_size) : '';
  f.handshakeTimeout = l.handshake_timeout_ms != null ? String(l.handshake_timeout_ms) : '';
  const r = spec.reconnect;
  if (r) {
    f.reconnect = r.enabled;
    f.maxAttempts = r.max_attempts != null ? String(r.max_attempts) : '';
    f.initialDelay = r.initial_delay_ms != null ? String(r.initial_delay_ms) : '';
    f.maxDelay = r.max_delay_ms != null ? String(r.max_delay_ms) : '';
  }
  if (spec.ping_interval_ms != null) {
    f.keepAlive = true;
    f.pingInterval = String(spec.ping_interval_ms / 1000);
  }
  return f;
}

export type FormField =
  | 'url'
  | 'query'
  | 'headers'
  | 'subprotocols'
  | 'origin'
  | 'auth'
  | 'tls'
  | 'limits'
  | 'reconnect'
  | 'keepalive';

export type SpecResult = { ok: true; spec: ConnectSpec } | { ok: false; error: string; field: FormField; rowId?: number };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers the client sets itself: a row may not replace them. */
const RESERVED = new Set([
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
  'transfer-encoding',
]);

function num(raw: string, what: string, min: number, max: number, field: FormField): { ok: true; v: number | undefined } | { ok: false; error: string; field: FormField } {
  const t = raw.trim().replace(/[_ ,]/g, '');
  if (!t) return { ok: true, v: undefined };
  if (!/^\d+(\.\d+)?$/.test(t)) return { ok: false, error: `${what} is a number.`, field };
  const v = Number(t);
  if (v < min || v > max) return { ok: false, error: `${what} is ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}.`, field };
  return { ok: true, v };
}

/** Checks the form and builds the spec; errors name the field (the editor shows its tab). */
export function specFromForm(f: ConnectionForm, sessionId?: number | null): SpecResult {
  const url = f.url.trim();
  if (!url) return { ok: false, error: 'Enter a ws:// or wss:// URL.', field: 'url' };
  if (!/^wss?:\/\/[^/?#\s]+/i.test(url)) return { ok: false, error: 'The URL starts with ws:// or wss:// and a host.', field: 'url' };
  const isTls = /^wss:/i.test(url);
  for (const r of f.query) {
    if (r.enabled && !r.name.trim() && r.value.trim()) return { ok: false, error: 'A query parameter needs a name.', field: 'query', rowId: r.id };
  }
  for (const r of f.headers) {
    if (!r.enabled) continue;
    const n = r.name.trim();
    if (!n && !r.value.trim()) continue;
    if (!TOKEN.test(n)) return { ok: false, error: `"${n}" is not a header name (letters, digits and !#$%&'*+-.^_\`|~).`, field: 'headers', rowId: r.id };
    if (RESERVED.has(n.toLowerCase())) return { ok: false, error: `${n} is set by the WebSocket handshake itself${n.toLowerCase() === 'sec-websocket-protocol' ? '; use Subprotocols' : ''}.`, field: 'headers', rowId: r.id };
    if (/[^\t\x20-\x7e\x80-\xff]/.test(r.value)) return { ok: false, error: `The value of ${n} has a control character.`, field: 'headers', rowId: r.id };
  }
  const subprotocols = f.subprotocols.split(/[\s,]+/).filter(Boolean);
  for (const p of subprotocols) {
    if (!TOKEN.test(p)) return { ok: false, error: `"${p}" is not a valid subprotocol name.`, field: 'subprotocols' };
  }
  const origin = f.origin.trim();
  if (origin && !/^(null|[a-z][a-z0-9+.-]*:\/\/[^\s/]+)$/i.test(origin)) return { ok: false, error: 'Origin is scheme://host[:port], e.g. https://example.com.', field: 'origin' };
  if (f.auth === 'basic' && f.username.includes(':')) return { ok: false, error: 'A basic-auth user name cannot contain ":".', field: 'auth' };
  if (f.auth === 'bearer' && !f.token.trim()) return { ok: false, error: 'Enter the bearer token.', field: 'auth' };
  const hasTls = f.caFile.trim() || f.clientCert !== 'none' || f.insecure;
  if (hasTls && !isTls) return { ok: false, error: 'TLS options apply to wss:// URLs only.', field: 'tls' };
  if (f.clientCert === 'pem' && (!f.certFile.trim() || !f.keyFile.trim())) return { ok: false, error: 'A PEM client certificate needs both the certificate and the key file.', field: 'tls' };
  if (f.clientCert === 'pkcs12' && !f.pkcs12File.trim()) return { ok: false, error: 'Choose the PKCS#12 (.p12/.pfx) file.', field: 'tls' };

  const mm = num(f.maxMessage, 'Max message size', 1, 1 << 30, 'limits');
  if (!mm.ok) return mm;
  const mf = num(f.maxFrame, 'Max frame size', 1, 1 << 30, 'limits');
  if (!mf.ok) return mf;
  const ht = num(f.handshakeTimeout, 'Handshake timeout', 100, 600_000, 'limits');
  if (!ht.ok) return ht;
  const ma = num(f.maxAttempts, 'Max attempts', 1, 10_000, 'reconnect');
  if (!ma.ok) return ma;
  const id = num(f.initialDelay, 'First delay', 10, 3_600_000, 'reconnect');
  if (!id.ok) return id;
  const md = num(f.maxDelay, 'Longest delay', 10, 3_600_000, 'reconnect');
  if (!md.ok) return md;
  if ((id.v ?? DEFAULTS.initial_delay_ms) > (md.v ?? DEFAULTS.max_delay_ms)) return { ok: false, error: 'The first delay is longer than the longest delay.', field: 'reconnect' };
  const pi = num(f.pingInterval, 'Ping interval', 0.1, 86_400, 'keepalive');
  if (!pi.ok) return pi;

  const spec: ConnectSpec = { url };
  const kv = (rows: KvRow[]) => rows.filter((r) => r.name.trim() || r.value.trim()).map((r) => ({ name: r.name.trim(), value: r.value, enabled: r.enabled }));
  const query = kv(f.query);
  if (query.length) spec.query = query;
  const headers = kv(f.headers);
  if (headers.length) spec.headers = headers;
  if (subprotocols.length) spec.subprotocols = subprotocols;
  if (origin) spec.origin = origin;
  if (f.auth === 'basic') spec.auth = { kind: 'basic', username: f.username, password: f.password };
  else if (f.auth === 'bearer') spec.auth = { kind: 'bearer', token: f.token.trim() };
  if (hasTls) {
    spec.tls = {
      ca_file: f.caFile.trim() || null,
      client_cert: f.clientCert === 'pem' ? f.certFile.trim() : null,
      client_key: f.clientCert === 'pem' ? f.keyFile.trim() : null,
      pkcs12_file: f.clientCert === 'pkcs12' ? f.pkcs12File.trim() : null,
      pkcs12_password: f.clientCert === 'pkcs12' ? f.pkcs12Password : null,
      insecure: f.insecure,
    };
  }
  const limits: NonNullable<ConnectSpec['limits']> = {};
  if (mm.v !== undefined) limits.max_message_size = Math.round(mm.v);
  if (mf.v !== undefined) limits.max_frame_size = Math.round(mf.v);
  if (ht.v !== undefined) limits.handshake_timeout_ms = Math.round(ht.v);
  if (Object.keys(limits).length) spec.limits = limits;
  if (f.reconnect) {
    spec.reconnect = { enabled: true };
    if (ma.v !== undefined) spec.reconnect.max_attempts = Math.round(ma.v);
    if (id.v !== undefined) spec.reconnect.initial_delay_ms = Math.round(id.v);
    if (md.v !== undefined) spec.reconnect.max_delay_ms = Math.round(md.v);
  }
  if (f.keepAlive) spec.ping_interval_ms = Math.round((pi.v ?? DEFAULTS.ping_interval_s) * 1000);
  if (sessionId != null) spec.session_id = sessionId;
  return { ok: true, spec };
}

/** The URL the handshake will use: the enabled query rows appended (what the editor previews). */
export function effectiveUrl(f: ConnectionForm): string {
  const rows = f.query.filter((r) => r.enabled && r.name.trim());
  if (!rows.length) return f.url.trim();
  const qs = rows.map((r) => `${encodeURIComponent(r.name.trim())}=${encodeURIComponent(r.value)}`).join('&');
  const url = f.url.trim();
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  return `${base}${base.includes('?') ? '&' : '?'}${qs}`;
}
