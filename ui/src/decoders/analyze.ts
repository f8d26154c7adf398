// What the detail view shows for one payload: its text, its JSON (value, pretty text, or
// where it fails), the sniffed decoders and the decoded value. Pure; runs in the format
// worker for big payloads and synchronously for small ones.
import { printableRatio, utf8Lossy, utf8OrNull } from './bytes';
import { decodeWith, sniffAll, AUTO_THRESHOLD, type DecoderId, type Sniffed } from './index';
import { parseJson, type JsonErrorPos } from './json';

export interface AnalyzeOptions {
  opcode: string;
  /** 'auto': the best sniffed decoder (if confident); 'none': no decoder; else that decoder. */
  decoder: DecoderId | 'auto' | 'none';
  subprotocol?: string | null;
  url?: string | null;
  /** Who sent it ('client' | 'server'): Engine.IO v3/v4 pings and SockJS frames depend on it. */
  dir?: string | null;
}

export type JsonResult =
  | { ok: true; value: unknown; pretty: string }
  | { ok: false; error: JsonErrorPos };

export type DecodedResult =
  | { ok: true; decoder: DecoderId; summary: string; value: unknown; pretty: string }
  | { ok: false; decoder: DecoderId; error: string };

export interface Analysis {
  size: number;
  /** The payload is valid UTF-8. */
  utf8: boolean;
  /** The payload as text (invalid sequences as U+FFFD). */
  text: string;
  /** Offsets (UTF-16) where each line of `text` starts. */
  lineStarts: Uint32Array;
  /** Text that reads as text (valid UTF-8, mostly printable). */
  readable: boolean;
  /** null when the payload does not look like JSON (does not start with { [ or "). */
  json: JsonResult | null;
  sniffed: Sniffed[];
  decoded: DecodedResult | null;
}

/** Offsets at which lines start (after each \n). */
export function lineStarts(text: string): Uint32Array {
  let count = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++;
  const out = new Uint32Array(count);
  let k = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) out[k++] = i + 1;
  return out;
}

/** Two-space pretty print (the tree and the text view use the same value). */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}

const looksJson = (text: string) => /^\s*[[{"]/.test(text);

export function analyze(bytes: Uint8Array, opts: AnalyzeOptions): Analysis {
  const strictText = utf8OrNull(bytes);
  const text = strictText ?? utf8Lossy(bytes);
  const readable = strictText !== null && printableRatio(strictText) > 0.9;
  let json: JsonResult | null = null;
  if (strictText !== null && looksJson(strictText)) {
    const p = parseJson(strictText);
    json = p.ok ? { ok: true, value: p.value, pretty: pretty(p.value) } : { ok: false, error: p.error };
  }
  const ctx = { text: strictText, opcode: opts.opcode, subprotocol: opts.subprotocol ?? null, url: opts.url ?? null, dir: opts.dir ?? null };
  const sniffed = bytes.length ? sniffAll(bytes, ctx) : [];
  let id: DecoderId | null = null;
  if (opts.decoder === 'auto') id = sniffed[0] && sniffed[0].score >= AUTO_THRESHOLD ? sniffed[0].id : null;
  else if (opts.decoder !== 'none') id = opts.decoder;
  let decoded: DecodedResult | null = null;
  if (id) {
    try {
      const d = decodeWith(id, bytes, ctx);
      decoded = { ok: true, decoder: id, summary: d.summary, value: d.value, pretty: pretty(d.value) };
    } catch (e) {
      decoded = { ok: false, decoder: id, error: String((e as Error)?.message ?? e) };
    }
  }
  return { size: bytes.length, utf8: strictText !== null, text, lineStarts: lineStarts(text), readable, json, sniffed, decoded };
}
