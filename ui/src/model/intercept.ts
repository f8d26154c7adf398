// Intercept (breakpoints and rewrite rules of the capture proxy): the IPC types of
// docs/ipc.md "Intercept", and the pure logic of the Intercept panel (rule forms and
// summaries, the held message's editor in text / JSON / hex).
import type { Dir, Opcode } from '../ipc/types';

export type DirMatch = 'both' | 'to_server' | 'to_client';
export type OpcodeMatch = 'text' | 'binary';

export interface Matcher {
  direction?: DirMatch;
  opcode?: OpcodeMatch;
  contains?: string;
  regex?: string;
  json_key?: string;
  json_value?: unknown;
  listener?: number;
  connection?: number;
}

export type Action =
  | { type: 'break' }
  | { type: 'replace'; find: string; with: string; regex: boolean }
  | { type: 'set_json'; key: string; value: unknown }
  | { type: 'drop' }
  | { type: 'delay'; ms: number }
  | { type: 'duplicate'; count: number };

export type ActionType = Action['type'];

export interface Rule {
  id: number;
  name: string;
  enabled: boolean;
  match: Matcher;
  action: Action;
}

export interface RuleView {
  id: number;
  position: number;
  enabled: boolean;
  rule: Rule;
  match_count: number;
}

export interface HeldMessage {
  id: number;
  session: number;
  connection: number;
  /** client = on its way to the server */
  dir: Dir;
  opcode: Opcode;
  text: string | null;
  base64: string | null;
  len: number;
  truncated: boolean;
  original_text: string | null;
  original_base64: string | null;
  compressed: boolean;
  rule_id: number;
  rule_name: string;
  held_at_us: number;
  deadline_us: number;
  waiting_behind: boolean;
}

export type Resolution = 'forwarded' | 'edited' | 'dropped' | 'timed_out' | 'connection_closed';

export type InterceptEvent =
  | { kind: 'held'; message: HeldMessage }
  | { kind: 'resolved'; id: number; connection: number; resolution: Resolution }
  | { kind: 'rules' };

export type InterceptMsg =
  | { kind: 'held'; held: HeldMessage[] }
  | { kind: 'event'; event: InterceptEvent };

export interface InterceptSnapshot {
  rules: RuleView[];
  held: HeldMessage[];
  timeout_ms: number;
}

// ---------------------------------------------------------------------------------------
// Rule form

/** What the "add rule" form edits: every field a string or a choice. */
export interface RuleForm {
  name: string;
  direction: DirMatch;
  opcode: '' | OpcodeMatch;
  contains: string;
  regex: string;
  jsonKey: string;
  /** JSON text; empty = the key only has to exist. */
  jsonValue: string;
  connection: string;
  listener: string;
  action: ActionType;
  find: string;
  replaceWith: string;
  findRegex: boolean;
  setKey: string;
  /** JSON text (a bare word is taken as a string). */
  setValue: string;
  delayMs: string;
  count: string;
}

export function emptyForm(): RuleForm {
  return {
    name: '',
    direction: 'to_server',
    opcode: '',
    contains: '',
    regex: '',
    jsonKey: '',
    jsonValue: '',
    connection: '',
    listener: '',
    action: 'break',
    find: '',
    replaceWith: '',
    findRegex: false,
    setKey: '',
    setValue: '',
    delayMs: '500',
    count: '1',
  };
}

/** A JSON value typed by a user: JSON when it parses, else the text as a string. */
export function looseJson(text: string): unknown {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

function intField(text: string, what: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new Error(`${what}: a whole number`);
  const n = Number(t);
  if (n < min || n > max) throw new Error(`${what}: ${min} to ${max}`);
  return n;
}

/** The rule a form describes; throws an Error naming the field that is wrong. */
export function ruleFromForm(f: RuleForm): Rule {
  const match: Matcher = { direction: f.direction };
  if (f.opcode) match.opcode = f.opcode;
  if (f.contains) match.contains = f.contains;
  if (f.regex) match.regex = f.regex;
  if (f.jsonKey.trim()) {
    match.json_key = f.jsonKey.trim();
    if (f.jsonValue.trim()) match.json_value = looseJson(f.jsonValue);
  } else if (f.jsonValue.trim()) {
    throw new Error('JSON value: give the key too');
  }
  if (f.connection.trim()) match.connection = intField(f.connection, 'Connection', 1, 2 ** 53);
  if (f.listener.trim()) match.listener = intField(f.listener, 'Listener session', 1, 2 ** 53);
  let action: Action;
  switch (f.action) {
    case 'break':
      action = { type: 'break' };
      break;
    case 'drop':
      action = { type: 'drop' };
      break;
    case 'replace':
      if (!f.find) throw new Error('Find: what to replace');
      action = { type: 'replace', find: f.find, with: f.replaceWith, regex: f.findRegex };
      break;
    case 'set_json':
      if (!f.setKey.trim()) throw new Error('Key: which JSON key to set');
      action = { type: 'set_json', key: f.setKey.trim(), value: looseJson(f.setValue) };
      break;
    case 'delay':
      action = { type: 'delay', ms: intField(f.delayMs, 'Delay', 0, 600_000) };
      break;
    case 'duplicate':
      action = { type: 'duplicate', count: intField(f.count, 'Copies', 1, 100) };
      break;
  }
  return { id: 0, name: f.name.trim(), enabled: true, match, action };
}

const DIR_WORDS: Record<DirMatch, string> = {
  both: 'both ways',
  to_server: '→ server',
  to_client: '→ client',
};

function short(s: string, n = 40): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/** "→ server · contains "buy"" */
export function matchSummary(m: Matcher): string {
  const parts: string[] = [DIR_WORDS[m.direction ?? 'both']];
  if (m.opcode) parts.push(m.opcode);
  if (m.contains) parts.push(`contains «${short(m.contains)}»`);
  if (m.regex) parts.push(`/${short(m.regex)}/`);
  if (m.json_key) {
    parts.push(
      m.json_value === undefined
        ? `has ${m.json_key}`
        : `${m.json_key} = ${short(JSON.stringify(m.json_value))}`,
    );
  }
  if (m.listener) parts.push(`listener #${m.listener}`);
  if (m.connection) parts.push(`conn #${m.connection}`);
  return parts.join(' · ');
}

/** "Break", "Replace "a" → "b"", … */
export function actionSummary(a: Action): string {
  switch (a.type) {
    case 'break':
      return 'Break (hold)';
    case 'drop':
      return 'Drop';
    case 'replace':
      return `Replace ${a.regex ? '/' : '«'}${short(a.find, 24)}${a.regex ? '/' : '»'} → «${short(a.with, 24)}»`;
    case 'set_json':
      return `Set ${a.key} = ${short(JSON.stringify(a.value), 24)}`;
    case 'delay':
      return `Delay ${a.ms} ms`;
    case 'duplicate':
      return `Duplicate ×${a.count}`;
  }
}

// ---------------------------------------------------------------------------------------
// The held message's editor

export type EditMode = 'text' | 'json' | 'hex';

export function b64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** The held message's bytes. */
export function heldBytes(h: Pick<HeldMessage, 'text' | 'base64'>): Uint8Array {
  if (h.text !== null) return new TextEncoder().encode(h.text);
  return b64ToBytes(h.base64 ?? '');
}

/** "7b 22 61 22 …", 16 bytes a line. */
export function toHex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push(
      Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' '),
    );
  }
  return lines.join('\n');
}

/** Hex digits in pairs, any whitespace between; throws on anything else. */
export function fromHex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]*$/.test(digits)) throw new Error('Hex: only 0-9 and a-f');
  if (digits.length % 2) throw new Error('Hex: an odd number of digits');
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The editor's starting text for a mode. JSON is pretty-printed when it parses. */
export function editorText(h: HeldMessage, mode: EditMode): string {
  const bytes = heldBytes(h);
  if (mode === 'hex') return toHex(bytes);
  const text = h.text ?? new TextDecoder().decode(bytes);
  if (mode === 'json') {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

/** Switching modes keeps the edit: the text is converted (hex ↔ text, JSON formatting). */
export function convertEditor(text: string, from: EditMode, to: EditMode): string {
  if (from === to) return text;
  const bytes = from === 'hex' ? fromHex(text) : new TextEncoder().encode(text);
  if (to === 'hex') return toHex(bytes);
  const asText = new TextDecoder().decode(bytes);
  if (to === 'json') {
    try {
      return JSON.stringify(JSON.parse(asText), null, 2);
    } catch {
      return asText;
    }
  }
  return asText;
}

/** A JSON editor's problem, or null when it parses. */
export function jsonProblem(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export interface EditPayload {
  text?: string;
  base64?: string;
}

/**
 * What "Forward edited" sends: text for a text message (JSON compacted when it was
 * formatted for editing), base64 for binary or hex edits. Throws on invalid JSON or hex.
 */
export function editPayload(h: HeldMessage, mode: EditMode, text: string): EditPayload {
  if (mode === 'hex') {
    const bytes = fromHex(text);
    if (h.opcode === 'text') {
      try {
        return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
      } catch {
        throw new Error('A text message must stay valid UTF-8');
      }
    }
    return { base64: bytesToB64(bytes) };
  }
  let out = text;
  if (mode === 'json') {
    const problem = jsonProblem(text);
    if (problem) throw new Error(`JSON: ${problem}`);
    out = JSON.stringify(JSON.parse(text));
  }
  if (h.opcode === 'text') return { text: out };
  return { base64: bytesToB64(new TextEncoder().encode(out)) };
}

/** Whether the editor still holds the message as it arrived (then Forward sends it as is). */
export function isUnchanged(h: HeldMessage, mode: EditMode, text: string): boolean {
  try {
    const p = editPayload(h, mode, text);
    const orig = heldBytes(h);
    const now = p.text !== undefined ? new TextEncoder().encode(p.text) : b64ToBytes(p.base64 ?? '');
    if (mode === 'json' && h.text !== null) {
      // Formatting alone is no edit.
      try {
        return JSON.stringify(JSON.parse(h.text)) === p.text;
      } catch {
        /* not JSON: compare bytes */
      }
    }
    return orig.length === now.length && orig.every((b, i) => b === now[i]);
  } catch {
    return false;
  }
}

/** Seconds left before the timeout forwards a held message, never negative. */
export function secondsLeft(h: Pick<HeldMessage, 'deadline_us'>, nowMs: number): number {
  return Math.max(0, Math.ceil((h.deadline_us / 1000 - nowMs) / 1000));
}

export function resolutionText(r: Resolution): string {
  switch (r) {
    case 'forwarded':
      return 'forwarded';
    case 'edited':
      return 'forwarded edited';
    case 'dropped':
      return 'dropped';
    case 'timed_out':
      return 'forwarded as is: nobody decided before the timeout';
    case 'connection_closed':
      return 'never forwarded: the connection ended';
  }
}
