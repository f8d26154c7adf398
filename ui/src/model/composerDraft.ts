// The workbench composer's draft (one per connection) and what it sends: a text, JSON,
// binary (hex/base64), file, ping or close message for wb_send, with {{variables}}
// expanded and JSON checked first. Pure TS; unit-tested in composerDraft.test.ts.
import type { OutgoingMsg, TemplateMode } from '../ipc/types';
import {
  closePayload,
  CONTROL_MAX,
  DEFAULT_CLOSE_CODE,
  parseBase64,
  parseCloseCode,
  parseHex,
  pingPayload,
  toBase64,
  type BinaryEncoding,
} from './inject';
import { checkJson, lineCol } from './jsonCheck';
import { expandVariables, scanVariables, type Expansion, type VarContext } from './variables';

export type ComposerMode = 'text' | 'json' | 'binary' | 'file' | 'ping' | 'close';

export interface DraftFile {
  name: string;
  bytes: Uint8Array;
}

export interface Draft {
  mode: ComposerMode;
  text: string;
  json: string;
  binary: string;
  encoding: BinaryEncoding;
  ping: string;
  closeCode: string;
  closeReason: string;
  file: DraftFile | null;
}

export function emptyDraft(): Draft {
  return {
    mode: 'text',
    text: '',
    json: '',
    binary: '',
    encoding: 'hex',
    ping: '',
    closeCode: String(DEFAULT_CLOSE_CODE),
    closeReason: '',
    file: null,
  };
}

/** An entry of the history / a template: how it is stored. */
export interface Stored {
  mode: string;
  body: string;
}

export type Built =
  | {
      ok: true;
      message: OutgoingMsg;
      /** Bytes on the wire (payload). */
      size: number;
      /** The text that goes out after expansion (text and JSON), for the preview. */
      expandedText: string | null;
      /** Variables were replaced (the message takes a {{counter}} value). */
      expanded: boolean;
      literals: Expansion['literals'];
      /** What the history keeps (the unexpanded source), or null (files, close). */
      stored: Stored | null;
    }
  | { ok: false; error: string; /** offset in the editor's text, when known */ offset: number | null };

const enc = new TextEncoder();

/**
 * The JSON editor's text with each valid variable replaced by a stand-in of the same length
 * that keeps its JSON kind: numbers for {{ts}} {{counter}} {{random_int}}, a bare word for
 * {{uuid}} {{now}} (which must sit inside quotes). Lint positions stay those of the editor.
 */
export function jsonLintText(text: string): string {
  const tokens = scanVariables(text);
  if (!tokens.length) return text;
  let out = '';
  let at = 0;
  for (const t of tokens) {
    out += text.slice(at, t.start);
    at = t.end;
    const len = t.end - t.start;
    if (t.literal !== null) out += text.slice(t.start, t.end);
    else if (t.name === 'uuid' || t.name === 'now') out += 'x'.repeat(len);
    else out += '1' + ' '.repeat(len - 1);
  }
  return out + text.slice(at);
}

/** Checks the JSON editor's text (variables standing in); null when it is valid. */
export function jsonProblem(text: string): { offset: number; message: string } | null {
  const r = checkJson(jsonLintText(text));
  if (r.ok) return null;
  const { line, column } = lineCol(text, r.offset);
  const varHint = /"x+"|x{4,}/.test(jsonLintText(text).slice(r.offset, r.offset + 1)) ? ' ({{uuid}} and {{now}} go inside quotes)' : '';
  return { offset: r.offset, message: `Invalid JSON at line ${line}, column ${column}: ${r.message}${varHint}` };
}

export function buildMessage(d: Draft, ctx: VarContext): Built {
  switch (d.mode) {
    case 'text':
    case 'json': {
      const source = d.mode === 'text' ? d.text : d.json;
      if (d.mode === 'json') {
        const p = jsonProblem(source);
        if (p) return { ok: false, error: p.message, offset: p.offset };
      }
      const x = expandVariables(source, ctx);
      return {
        ok: true,
        message: { kind: 'text', text: x.text },
        size: enc.encode(x.text).length,
        expandedText: x.text,
        expanded: x.expanded,
        literals: x.literals,
        stored: { mode: d.mode, body: source },
      };
    }
    case 'binary': {
      const p = d.encoding === 'hex' ? parseHex(d.binary) : parseBase64(d.binary);
      if (!p.ok) return { ok: false, error: p.error, offset: null };
      return {
        ok: true,
        message: { kind: 'binary', base64: toBase64(p.bytes) },
        size: p.bytes.length,
        expandedText: null,
        expanded: false,
        literals: [],
        stored: { mode: d.encoding, body: d.binary },
      };
    }
    case 'file': {
      if (!d.file) return { ok: false, error: 'Choose a file: its bytes are sent as one binary message.', offset: null };
      return {
        ok: true,
        message: { kind: 'binary', base64: toBase64(d.file.bytes) },
        size: d.file.bytes.length,
        expandedText: null,
        expanded: false,
        literals: [],
        stored: null,
      };
    }
    case 'ping': {
      const p = pingPayload(d.ping);
      if (!p.ok) return { ok: false, error: p.error, offset: null };
      return {
        ok: true,
        message: { kind: 'ping', base64: toBase64(p.bytes) },
        size: p.bytes.length,
        expandedText: null,
        expanded: false,
        literals: [],
        stored: { mode: 'ping', body: d.ping },
      };
    }
    case 'close': {
      const c = parseCloseCode(d.closeCode);
      if (!c.ok) return { ok: false, error: c.error, offset: null };
      if (c.code === 1004 || c.code === 1005 || c.code === 1006 || c.code === 1015) {
        return { ok: false, error: `Close code ${c.code} is reserved: it is never sent on the wire`, offset: null };
      }
      const p = closePayload(c.code, d.closeReason);
      if (!p.ok) return { ok: false, error: p.error, offset: null };
      return {
        ok: true,
        message: { kind: 'close', code: c.code, reason: d.closeReason },
        size: p.bytes.length,
        expandedText: null,
        expanded: false,
        literals: [],
        stored: null,
      };
    }
  }
}

/** Puts a stored entry (history or template) into the draft, switching mode. */
export function loadStored(d: Draft, s: Stored): Draft {
  switch (s.mode) {
    case 'json':
      return { ...d, mode: 'json', json: s.body };
    case 'hex':
    case 'base64':
      return { ...d, mode: 'binary', encoding: s.mode, binary: s.body };
    case 'ping':
      return { ...d, mode: 'ping', ping: s.body };
    default:
      return { ...d, mode: 'text', text: s.body };
  }
}

/** The draft as a template (text, JSON, hex or base64), or why it cannot be one. */
export function draftTemplate(d: Draft): { ok: true; mode: TemplateMode; body: string } | { ok: false; error: string } {
  switch (d.mode) {
    case 'text':
      return { ok: true, mode: 'text', body: d.text };
    case 'json':
      return { ok: true, mode: 'json', body: d.json };
    case 'binary':
      return { ok: true, mode: d.encoding, body: d.binary };
    default:
      return { ok: false, error: 'Templates hold text, JSON or binary (hex/base64) messages.' };
  }
}

/** The editor text of the draft's mode (what Up/Down replace). */
export function draftBody(d: Draft): Stored {
  switch (d.mode) {
    case 'json':
      return { mode: 'json', body: d.json };
    case 'binary':
      return { mode: d.encoding, body: d.binary };
    case 'ping':
      return { mode: 'ping', body: d.ping };
    default:
      return { mode: 'text', body: d.text };
  }
}

export { CONTROL_MAX };
