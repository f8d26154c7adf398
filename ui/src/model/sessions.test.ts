import { describe, expect, it } from 'vitest';
import {
  addTags,
  checkImportFile,
  checkName,
  checkNotes,
  deletePrompt,
  formatImportResult,
  isEditable,
  MAX_IMPORT_BYTES,
  neighbourAfterDelete,
  patchSession,
  plural,
  removeTag,
  sessionOrigin,
  shortName,
} from './sessions';
import type { SessionSummary } from '../ipc/types';

function s(id: number, p: Partial<SessionSummary> = {}): SessionSummary {
  return {
    id,
    name: `s${id}`,
    kind: 'client',
    created_at: '2026-11-26T15:20:13.123Z',
    connections: 1,
    frames: 10,
    insecure: false,
    pinned: false,
    tags: [],
    notes: '',
    origin_session_id: null,
    origin_connection_id: null,
    imported_from: null,
    bytes: 100,
    ...p,
  };
}

describe('texts', () => {
  it('formats import results with counts and plurals', () => {
    expect(formatImportResult({ connections: 3, frames: 1234 })).toBe('Imported 3 connections, 1,234 frames');
    expect(formatImportResult({ connections: 1, frames: 1 })).toBe('Imported 1 connection, 1 frame');
    expect(formatImportResult({ connections: 0, frames: 0 })).toBe('Imported 0 connections, 0 frames');
    expect(plural(1_234_567, 'frame')).toBe('1,234,567 frames');
  });

  it('asks to delete naming the session and its frame count', () => {
    expect(deletePrompt('x', 1_234_567)).toBe("Delete session 'x' and its 1,234,567 frames?");
    expect(deletePrompt('one', 1)).toBe("Delete session 'one' and its 1 frame?");
    const long = 'n'.repeat(100);
    expect(deletePrompt(long, 2)).toBe(`Delete session '${'n'.repeat(47)}…' and its 2 frames?`);
    expect(shortName('😀'.repeat(50), 10)).toBe('😀'.repeat(9) + '…');
  });

  it('says where a session came from', () => {
    expect(sessionOrigin(s(5, { kind: 'replay', origin_session_id: 1 }))).toBe('replay of #1');
    expect(sessionOrigin(s(5, { kind: 'replay', origin_session_id: 1, name: 'mock of #1 on 127.0.0.1:4000' }))).toBe('mock of #1');
    expect(sessionOrigin(s(5, { kind: 'replay', origin_session_id: 2 }), true)).toBe('mock of #2');
    expect(sessionOrigin(s(6, { imported_from: 'capture.har' }))).toBe('imported from capture.har');
    expect(sessionOrigin(s(7))).toBeNull();
  });
});

describe('checks', () => {
  it('checks import files before reading them', () => {
    expect(checkImportFile('a.har', 0)).toBe('a.har is empty.');
    expect(checkImportFile('a.har', MAX_IMPORT_BYTES + 1)).toBe('a.har is 1 GiB: imports are limited to 1 GiB.');
    expect(checkImportFile('big.jsonl', 3 * MAX_IMPORT_BYTES)).toMatch(/^big\.jsonl is 3 GiB/);
    expect(checkImportFile('a.jsonl', 10)).toBeNull();
  });

  it('trims names and refuses empty or over-long ones', () => {
    expect(checkName('  feed  ')).toEqual({ ok: true, name: 'feed' });
    expect(checkName('   ')).toEqual({ ok: false, error: 'A session name cannot be empty.' });
    expect(checkName('x'.repeat(1001))).toMatchObject({ ok: false });
    expect(checkName('x'.repeat(1000))).toMatchObject({ ok: true });
  });

  it('limits notes', () => {
    expect(checkNotes('a\nb')).toBeNull();
    expect(checkNotes('x'.repeat(100_001))).toMatch(/at most 100,000 characters/);
  });

  it('adds comma-separated tags, trimmed and without duplicates', () => {
    expect(addTags(['a'], ' b, a ,, c ')).toEqual({ ok: true, tags: ['a', 'b', 'c'] });
    expect(addTags([], 'x'.repeat(65))).toEqual({ ok: false, error: 'A tag is at most 64 characters.' });
    expect(addTags([], 'a\tb')).toEqual({ ok: false, error: 'A tag cannot contain control characters.' });
    const many = Array.from({ length: 64 }, (_, i) => `t${i}`);
    expect(addTags(many, 'one-more')).toEqual({ ok: false, error: 'A session has at most 64 tags.' });
    expect(addTags(many, 't3')).toEqual({ ok: true, tags: many });
    expect(removeTag(['a', 'b', 'c'], 'b')).toEqual(['a', 'c']);
  });
});

describe('lists', () => {
  it('patches one session by id', () => {
    const list = [s(1), s(2)];
    const next = patchSession(list, 2, { name: 'renamed', pinned: true });
    expect(next[1]).toMatchObject({ id: 2, name: 'renamed', pinned: true });
    expect(next[0]).toBe(list[0]);
    expect(list[1].name).toBe('s2');
  });

  it('picks the next session after a delete, else the previous one', () => {
    const list = [s(3), s(2), s(1)];
    expect(neighbourAfterDelete(list, 3)).toBe(2);
    expect(neighbourAfterDelete(list, 1)).toBe(2);
    expect(neighbourAfterDelete([s(1)], 1)).toBeNull();
    expect(neighbourAfterDelete(list, 9)).toBeNull();
  });

  it('knows which elements take typing', () => {
    const el = (tagName: string, type = '') => ({ tagName, type, isContentEditable: false }) as unknown as Element;
    expect(isEditable(el('INPUT', 'text'))).toBe(true);
    expect(isEditable(el('INPUT', 'search'))).toBe(true);
    expect(isEditable(el('INPUT', 'checkbox'))).toBe(false);
    expect(isEditable(el('TEXTAREA'))).toBe(true);
    expect(isEditable(el('BUTTON'))).toBe(false);
    expect(isEditable(null)).toBe(false);
  });
});
