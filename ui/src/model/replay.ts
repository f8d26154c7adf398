// Pure helpers of the Replay and Mock panels: the loopback pre-check (display only: the
// shell's url_is_loopback decides), the form checks and the progress texts.
// Unit-tested in replay.test.ts.
import type {
  MockMode,
  ReplayMode,
  ReplayProgressMsg,
  ReplayRunState,
  StartMockArgs,
  StartReplayArgs,
} from '../ipc/types';
import { headersFromRows, type HeaderRow } from './headers';
import { formatCount } from './format';
import { plural } from './sessions';

export const MIN_SPEED = 0.1;
export const MAX_SPEED = 100;
export const DEFAULT_TIMEOUT_SECS = 10;
export const MAX_TIMEOUT_SECS = 3600;
export const DEFAULT_MOCK_LISTEN = '127.0.0.1:0';

export const REPLAY_MODES: { value: ReplayMode; label: string; title: string }[] = [
  { value: 'timed', label: 'Timed', title: 'The original delays between messages, divided by the speed factor' },
  { value: 'max', label: 'As fast as possible', title: 'Every message at once, without waiting' },
  {
    value: 'conversational',
    label: 'Conversational',
    title: 'Before each message, wait until the server has sent as many messages as it had in the recording',
  },
];

export const MOCK_MODES: { value: MockMode; label: string; title: string }[] = [
  { value: 'timed', label: 'Timed', title: 'The recorded server messages at their original pace, divided by the speed factor' },
  {
    value: 'conversational',
    label: 'Conversational',
    title: "The server's next recorded messages after each client message",
  },
];

/** The host of a URL as the user typed it ("example.com", "[::1]"), or null when it has none. */
export function urlHost(url: string): string | null {
  try {
    const u = new URL(url.trim());
    return u.hostname || null;
  } catch {
    return null;
  }
}

/**
 * Whether a ws(s) URL points at this machine (localhost, 127.0.0.0/8, ::1, ::ffff:127.x).
 * For display only: what counts is the shell's url_is_loopback.
 */
export function looksLoopback(url: string): boolean {
  let host = urlHost(url);
  if (!host) return false;
  host = host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (host === 'localhost') return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped (the URL parser writes ::ffff:127.0.0.1 as ::ffff:7f00:1).
  const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(host);
  if (mapped) return (parseInt(mapped[1], 16) >> 8) === 127;
  return /^::ffff:127\./.test(host);
}

export function isWsUrl(url: string): boolean {
  return /^wss?:\/\/[^/\s?#]+/i.test(url.trim());
}

/** The question asked before replaying to a host that is not this machine. */
export function remoteConfirmText(messages: number, host: string): string {
  return `Send ${plural(messages, 'recorded message')} to ${host}?`;
}

export interface ReplayForm {
  sessionId: number;
  connectionId: number | null;
  url: string;
  mode: ReplayMode;
  speed: string;
  timeout: string;
  headers: readonly HeaderRow[];
}

export type FormField = 'url' | 'speed' | 'timeout' | 'headers' | 'listen';

export type Checked<T> = { ok: true; args: T } | { ok: false; field: FormField; error: string; rowId?: number };

function parseNumber(text: string | number): number | null {
  const t = String(text).trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(t)) return null;
  return Number(t);
}

export function checkSpeed(text: string | number): { ok: true; speed: number } | { ok: false; error: string } {
  const n = parseNumber(text);
  if (n === null || n < MIN_SPEED || n > MAX_SPEED) {
    return { ok: false, error: `Speed is a factor from ${MIN_SPEED} to ${MAX_SPEED} (1 = the original pace).` };
  }
  return { ok: true, speed: n };
}

/** start_replay's arguments from the form (without `confirmedRemote`), or the first problem. */
export function replayArgs(f: ReplayForm): Checked<Omit<StartReplayArgs, 'confirmedRemote'>> {
  const url = f.url.trim();
  if (!url) return { ok: false, field: 'url', error: 'Enter the ws:// or wss:// URL to replay to.' };
  if (!isWsUrl(url)) return { ok: false, field: 'url', error: 'The URL must start with ws:// or wss://.' };
  const h = headersFromRows(f.headers);
  if (!h.ok) return { ok: false, field: 'headers', error: h.error, rowId: h.rowId };
  const args: Omit<StartReplayArgs, 'confirmedRemote'> = {
    sessionId: f.sessionId,
    connectionId: f.connectionId,
    url,
    mode: f.mode,
    headers: h.headers,
  };
  if (f.mode === 'timed') {
    const s = checkSpeed(f.speed);
    if (!s.ok) return { ok: false, field: 'speed', error: s.error };
    args.speed = s.speed;
  } else if (f.mode === 'conversational') {
    const t = parseNumber(f.timeout);
    if (t === null || t <= 0 || t > MAX_TIMEOUT_SECS) {
      return { ok: false, field: 'timeout', error: `The timeout is more than 0 and at most ${formatCount(MAX_TIMEOUT_SECS)} seconds.` };
    }
    args.timeoutSecs = t;
  }
  return { ok: true, args };
}

export interface MockForm {
  sessionId: number;
  connectionId: number | null;
  listen: string;
  mode: MockMode;
  speed: string;
}

export function mockArgs(f: MockForm): Checked<StartMockArgs> {
  const listen = f.listen.trim();
  if (!listen) return { ok: false, field: 'listen', error: `Enter an address to listen on, e.g. ${DEFAULT_MOCK_LISTEN}.` };
  const args: StartMockArgs = { sessionId: f.sessionId, connectionId: f.connectionId, listen, mode: f.mode };
  if (f.mode === 'timed') {
    const s = checkSpeed(f.speed);
    if (!s.ok) return { ok: false, field: 'speed', error: s.error };
    args.speed = s.speed;
  }
  return { ok: true, args };
}

export function isFinalState(state: ReplayRunState): boolean {
  return state === 'finished' || state === 'stopped' || state === 'failed';
}

/** The state as shown (the wire word, so that what is read is what the shell said). */
const STATE_TEXT: Record<ReplayRunState, string> = {
  connecting: 'connecting…',
  running: 'running',
  closing: 'closing…',
  finished: 'finished',
  stopped: 'stopped',
  failed: 'failed',
};

export function replayStateText(state: ReplayRunState): string {
  return STATE_TEXT[state] ?? String(state);
}

/** 0–100, for the progress bar. */
export function progressPercent(p: Pick<ReplayProgressMsg, 'sent' | 'total'>): number {
  if (p.total <= 0) return p.sent > 0 ? 100 : 0;
  return Math.max(0, Math.min(100, (p.sent / p.total) * 100));
}

/** "12 / 40 sent · 9 received". */
export function progressText(p: Pick<ReplayProgressMsg, 'sent' | 'total' | 'received'>): string {
  return `${formatCount(p.sent)} / ${formatCount(p.total)} sent · ${formatCount(p.received)} received`;
}
