import { describe, expect, it } from 'vitest';
import { buildMessage, draftTemplate, emptyDraft, jsonLintText, jsonProblem, loadStored, type Draft } from './composerDraft';
import type { VarContext } from './variables';

const ctx: VarContext = {
  nowMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  counter: 4,
  uuid: () => 'u-u-i-d',
  randomBelow: () => 0n,
};
const d = (over: Partial<Draft>): Draft => ({ ...emptyDraft(), ...over });

describe('buildMessage', () => {
  it('expands variables in text and JSON and keeps the source for the history', () => {
    const r = buildMessage(d({ mode: 'json', json: '{"n": {{counter}}, "id": "{{uuid}}"}' }), ctx);
    expect(r).toMatchObject({
      ok: true,
      message: { kind: 'text', text: '{"n": 4, "id": "u-u-i-d"}' },
      size: 25,
      expanded: true,
      stored: { mode: 'json', body: '{"n": {{counter}}, "id": "{{uuid}}"}' },
    });
    expect(buildMessage(d({ text: 'hé' }), ctx)).toMatchObject({ ok: true, size: 3, expanded: false });
  });

  it('refuses invalid JSON, saying where', () => {
    const r = buildMessage(d({ mode: 'json', json: '{\n  "a": 1,\n}' }), ctx);
    expect(r).toMatchObject({ ok: false, offset: 12 });
    expect(!r.ok && r.error).toMatch(/^Invalid JSON at line 3, column 1: /);
    // An unquoted {{uuid}} would not be JSON once expanded.
    expect(jsonProblem('{"id": {{uuid}}}')?.message).toMatch(/line 1, column 8/);
    expect(jsonProblem('{"id": "{{uuid}}", "n": {{random_int 1 9}}}')).toBeNull();
  });

  it('keeps lint positions: stand-ins have the length of the variable', () => {
    const src = '{"a": {{ts}}, "b": "{{now}}"}';
    expect(jsonLintText(src).length).toBe(src.length);
  });

  it('parses binary as hex or base64', () => {
    expect(buildMessage(d({ mode: 'binary', binary: '00 ff 10' }), ctx)).toMatchObject({
      ok: true,
      message: { kind: 'binary', base64: 'AP8Q' },
      size: 3,
      stored: { mode: 'hex', body: '00 ff 10' },
    });
    expect(buildMessage(d({ mode: 'binary', encoding: 'base64', binary: 'AP8Q' }), ctx)).toMatchObject({ ok: true, size: 3 });
    expect(buildMessage(d({ mode: 'binary', binary: '0g' }), ctx)).toMatchObject({ ok: false });
    expect(buildMessage(d({ mode: 'binary', binary: '' }), ctx)).toMatchObject({ ok: true, size: 0 });
  });

  it('sends a file, a ping and a close', () => {
    expect(buildMessage(d({ mode: 'file' }), ctx).ok).toBe(false);
    expect(buildMessage(d({ mode: 'file', file: { name: 'a.bin', bytes: new Uint8Array([1, 2]) } }), ctx)).toMatchObject({
      ok: true,
      message: { kind: 'binary', base64: 'AQI=' },
      stored: null,
    });
    expect(buildMessage(d({ mode: 'ping', ping: 'hi' }), ctx)).toMatchObject({ ok: true, message: { kind: 'ping', base64: 'aGk=' } });
    expect(buildMessage(d({ mode: 'ping', ping: 'x'.repeat(126) }), ctx).ok).toBe(false);
    expect(buildMessage(d({ mode: 'close', closeCode: '4000', closeReason: 'bye' }), ctx)).toMatchObject({
      ok: true,
      message: { kind: 'close', code: 4000, reason: 'bye' },
      size: 5,
    });
    expect(buildMessage(d({ mode: 'close', closeCode: '1005' }), ctx).ok).toBe(false);
    expect(buildMessage(d({ mode: 'close', closeCode: '999' }), ctx).ok).toBe(false);
  });
});

describe('stored entries', () => {
  it('load into the right mode', () => {
    expect(loadStored(emptyDraft(), { mode: 'base64', body: 'AA==' })).toMatchObject({ mode: 'binary', encoding: 'base64', binary: 'AA==' });
    expect(loadStored(emptyDraft(), { mode: 'json', body: '{}' })).toMatchObject({ mode: 'json', json: '{}' });
    expect(loadStored(emptyDraft(), { mode: 'odd', body: 'x' })).toMatchObject({ mode: 'text', text: 'x' });
  });
  it('make templates of text, JSON and binary only', () => {
    expect(draftTemplate(d({ mode: 'binary', encoding: 'base64', binary: 'AA==' }))).toEqual({ ok: true, mode: 'base64', body: 'AA==' });
    expect(draftTemplate(d({ mode: 'ping' })).ok).toBe(false);
  });
});
