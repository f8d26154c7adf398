// Pure helpers of the sessions sidebar: organise, import and export texts, tags.
// No DOM, no Svelte; unit-tested in sessions.test.ts.
import type { ImportFormat, ImportSummary, SessionSummary } from '../ipc/types';
import { formatBytes, formatCount } from './format';

/** Limits the store enforces (sockscope-store organize.rs); checked here first for inline errors. */
export const MAX_NAME_CHARS = 1000;
export const MAX_NOTES_CHARS = 100_000;
export const MAX_TAGS = 64;
export const MAX_TAG_CHARS = 64;
/** The shell refuses files larger than this (ImportLimits::max_file_bytes). */
export const MAX_IMPORT_BYTES = 1024 * 1024 * 1024;
export const IMPORT_ACCEPT = '.jsonl,.har,.json';

/** "1 frame", "1,234 frames". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** Cuts a long name for a sentence: "a very long na…". */
export function shortName(name: string, max = 48): string {
  const chars = Array.from(name);
  return chars.length <= max ? name : `${chars.slice(0, max - 1).join('')}…`;
}

/** "Imported 3 connections, 1,234 frames". */
export function formatImportResult(s: Pick<ImportSummary, 'connections' | 'frames'>): string {
  return `Imported ${plural(s.connections, 'connection')}, ${plural(s.frames, 'frame')}`;
}

export function formatName(format: ImportFormat): string {
  return format === 'har' ? 'HAR' : 'JSONL';
}

/** The question of the inline delete confirmation. */
export function deletePrompt(name: string, frames: number): string {
  return `Delete session '${shortName(name)}' and its ${plural(frames, 'frame')}?`;
}

/** Why a file cannot be imported before reading it, or null. */
export function checkImportFile(name: string, size: number): string | null {
  if (size === 0) return `${name} is empty.`;
  if (size > MAX_IMPORT_BYTES) {
    return `${name} is ${formatBytes(size)}: imports are limited to ${formatBytes(MAX_IMPORT_BYTES)}.`;
  }
  return null;
}

/** A new name as the store takes it (trimmed), or why not. */
export function checkName(raw: string): { ok: true; name: string } | { ok: false; error: string } {
  const name = raw.trim();
  if (!name) return { ok: false, error: 'A session name cannot be empty.' };
  if (Array.from(name).length > MAX_NAME_CHARS) {
    return { ok: false, error: `A session name is at most ${formatCount(MAX_NAME_CHARS)} characters.` };
  }
  return { ok: true, name };
}

export function checkNotes(notes: string): string | null {
  const n = Array.from(notes).length;
  return n > MAX_NOTES_CHARS
    ? `Notes are at most ${formatCount(MAX_NOTES_CHARS)} characters (these are ${formatCount(n)}).`
    : null;
}

/**
 * Adds the tags typed in `input` (comma-separated) to `tags`: trimmed, duplicates
 * dropped, each 1–64 characters without control characters, at most 64 in all.
 */
export function addTags(
  tags: readonly string[],
  input: string,
): { ok: true; tags: string[] } | { ok: false; error: string } {
  const out = tags.slice();
  for (const part of input.split(',')) {
    const tag = part.trim();
    if (!tag) continue;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(tag)) return { ok: false, error: 'A tag cannot contain control characters.' };
    if (Array.from(tag).length > MAX_TAG_CHARS) {
      return { ok: false, error: `A tag is at most ${MAX_TAG_CHARS} characters.` };
    }
    if (!out.includes(tag)) out.push(tag);
  }
  if (out.length > MAX_TAGS) return { ok: false, error: `A session has at most ${MAX_TAGS} tags.` };
  return { ok: true, tags: out };
}

export function removeTag(tags: readonly string[], tag: string): string[] {
  return tags.filter((t) => t !== tag);
}

/**
 * Where a session came from, for the sidebar's third line: "replay of #3", "mock of #3",
 * "imported from capture.har", or null.
 */
export function sessionOrigin(
  s: Pick<SessionSummary, 'kind' | 'name' | 'origin_session_id' | 'imported_from'>,
  isMock = false,
): string | null {
  if (s.imported_from) return `imported from ${s.imported_from}`;
  if (s.origin_session_id != null) {
    const mock = isMock || (s.kind === 'replay' && s.name.startsWith('mock of #'));
    return `${mock ? 'mock' : 'replay'} of #${s.origin_session_id}`;
  }
  return null;
}

/** Sizes for the sidebar: "12 KiB". */
export function sessionSize(s: Pick<SessionSummary, 'bytes'>): string {
  return formatBytes(s.bytes ?? 0);
}

/** Replaces one session of a list by id (optimistic edits before the list is read again). */
export function patchSession(
  list: readonly SessionSummary[],
  id: number,
  patch: Partial<SessionSummary>,
): SessionSummary[] {
  return list.map((s) => (s.id === id ? { ...s, ...patch } : s));
}

/** Which session to select after deleting `id`: the next one in the list, else the previous one. */
export function neighbourAfterDelete(list: readonly SessionSummary[], id: number): number | null {
  const i = list.findIndex((s) => s.id === id);
  if (i < 0) return null;
  if (i + 1 < list.length) return list[i + 1].id;
  if (i > 0) return list[i - 1].id;
  return null;
}

/** True when keyboard shortcuts must leave the key to the focused element (typing). */
export function isEditable(el: Element | null): boolean {
  if (!el) return false;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (el as HTMLInputElement).type;
    return !['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'range', 'color'].includes(type);
  }
  return (el as HTMLElement).isContentEditable === true;
}
