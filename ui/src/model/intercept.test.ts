import { describe, expect, it } from 'vitest';
import {
  actionSummary,
  convertEditor,
  editorText,
  editPayload,
  emptyForm,
  fromHex,
  isUnchanged,
  matchSummary,
  ruleFromForm,
  secondsLeft,
  toHex,
  type HeldMessage,
  type InterceptSnapshot,
} from './intercept';
import { InterceptModel, type InterceptApi } from './interceptState.svelte';
import { frameFlags } from './format';
import { mkFrame } from '../test/fixtures';

function held(p: Partial<HeldMessage> = {}): HeldMessage {
  return {
    id: 1,
    session: 2,
    connection: 3,
    dir: 'client',
    opcode: 'text',
    text: '{"op":"buy","qty":1}',
    base64: null,
    len: 20,
    truncated: false,
    original_text: null,
    original_base64: null,
    compressed: false,
    rule_id: 9,
    rule_name: 'orders',
    held_at_us: 1_000_000,
    deadline_us: 61_000_000,
    waiting_behind: false,
    ...p,
  };
}

describe('rule form', () => {
  it('builds each action and names the wrong field', () => {
    const f = { ...emptyForm(), contains: 'buy', jsonKey: 'qty', jsonValue: '1' };
    expect(ruleFromForm(f)).toEqual({
      id: 0,
      name: '',
      enabled: true,
      match: { direction: 'to_server', contains: 'buy', json_key: 'qty', json_value: 1 },
      action: { type: 'break' },
    });
    expect(ruleFromForm({ ...emptyForm(), action: 'set_json', setKey: 'a.b', setValue: 'word' }).action).toEqual({
      type: 'set_json',
      key: 'a.b',
      value: 'word',
    });
    expect(ruleFromForm({ ...emptyForm(), action: 'delay', delayMs: '250' }).action).toEqual({ type: 'delay', ms: 250 });
    expect(() => ruleFromForm({ ...emptyForm(), action: 'delay', delayMs: '-1' })).toThrow(/Delay/);
    expect(() => ruleFromForm({ ...emptyForm(), action: 'duplicate', count: '0' })).toThrow(/Copies/);
    expect(() => ruleFromForm({ ...emptyForm(), action: 'replace' })).toThrow(/Find/);
    expect(() => ruleFromForm({ ...emptyForm(), jsonValue: '1' })).toThrow(/key/);
    expect(() => ruleFromForm({ ...emptyForm(), connection: 'x' })).toThrow(/Connection/);
  });

  it('summaries', () => {
    expect(matchSummary({ direction: 'to_client', contains: 'x', json_key: 'a', json_value: 2, connection: 4 })).toBe(
      '→ client · contains «x» · a = 2 · conn #4',
    );
    expect(actionSummary({ type: 'replace', find: 'a', with: 'b', regex: true })).toBe('Replace /a/ → «b»');
    expect(actionSummary({ type: 'duplicate', count: 2 })).toBe('Duplicate ×2');
  });
});

describe('held message editor', () => {
  it('JSON is pretty for editing and compact when sent; formatting alone is no edit', () => {
    const h = held();
    const pretty = editorText(h, 'json');
    expect(pretty).toBe('{\n  "op": "buy",\n  "qty": 1\n}');
    expect(isUnchanged(h, 'json', pretty)).toBe(true);
    const edited = pretty.replace('1', '5');
    expect(isUnchanged(h, 'json', edited)).toBe(false);
    expect(editPayload(h, 'json', edited)).toEqual({ text: '{"op":"buy","qty":5}' });
    expect(() => editPayload(h, 'json', '{oops')).toThrow(/JSON/);
  });

  it('hex round trips and refuses bad digits; binary edits go as base64', () => {
    expect(toHex(new Uint8Array([0, 255, 16]))).toBe('00 ff 10');
    expect(Array.from(fromHex('00 ff\n10'))).toEqual([0, 255, 16]);
    expect(() => fromHex('0g')).toThrow(/Hex/);
    expect(() => fromHex('abc')).toThrow(/odd/);
    const b = held({ opcode: 'binary', text: null, base64: 'AP8Q', len: 3 });
    expect(editorText(b, 'hex')).toBe('00 ff 10');
    expect(editPayload(b, 'hex', '00 ff 11')).toEqual({ base64: 'AP8R' });
    expect(convertEditor('{"a":1}', 'text', 'hex')).toBe('7b 22 61 22 3a 31 7d');
    expect(convertEditor('7b 7d', 'hex', 'json')).toBe('{}');
    // A text message edited in hex must stay UTF-8.
    expect(() => editPayload(held(), 'hex', 'ff')).toThrow(/UTF-8/);
  });

  it('seconds left never go negative', () => {
    expect(secondsLeft(held(), 31_000)).toBe(30);
    expect(secondsLeft(held(), 99_000)).toBe(0);
  });
});

describe('timeline flags', () => {
  it('intercept marks come before injected', () => {
    const f = { ...mkFrame(1), held: true, edited: true, injected: true };
    expect(frameFlags(f).map((x) => x.key).slice(0, 3)).toEqual(['edited', 'held', 'injected']);
    expect(frameFlags({ ...mkFrame(2), dropped: true }).map((x) => x.key)[0]).toBe('dropped');
    expect(frameFlags({ ...mkFrame(3), replaced: true }).map((x) => x.key)[0]).toBe('replaced');
  });
});

describe('InterceptModel', () => {
  function fakeApi() {
    const calls: unknown[][] = [];
    let push: ((m: unknown) => void) | null = null;
    const snap: InterceptSnapshot = { rules: [], held: [held()], timeout_ms: 60_000 };
    const api: InterceptApi = {
      state: async () => snap,
      saveRule: async (id, rule) => {
        calls.push(['save', id, rule]);
        return {
          ...snap,
          rules: [{ id: 4, position: 0, enabled: true, rule: { ...rule, id: 4 }, match_count: 0 }],
        };
      },
      deleteRule: async () => snap,
      reorderRules: async (ids) => {
        calls.push(['reorder', ids]);
        return snap;
      },
      setRuleEnabled: async (id, enabled) => {
        calls.push(['enabled', id, enabled]);
        return snap;
      },
      setTimeout: async (s) => void calls.push(['timeout', s]),
      decide: async (id, action, payload) => void calls.push(['decide', id, action, payload]),
      forwardAll: async () => 1,
      subscribe: async (on) => {
        push = on as (m: unknown) => void;
        return () => (push = null);
      },
    };
    return { api, calls, push: (m: unknown) => push?.(m) };
  }

  it('selects the first held message, forwards edits, follows resolutions', async () => {
    const { api, calls, push } = fakeApi();
    const m = new InterceptModel(api);
    await m.open();
    expect(m.selectedId).toBe(1);
    expect(m.unchanged).toBe(true);
    await m.forwardEdited();
    expect(calls.at(-1)).toEqual(['decide', 1, 'forward', undefined]);
    m.editText = m.editText.replace('1', '7');
    await m.forwardEdited();
    expect(calls.at(-1)).toEqual(['decide', 1, 'edit', { text: '{"op":"buy","qty":7}' }]);
    await m.drop();
    expect(calls.at(-1)).toEqual(['decide', 1, 'drop', undefined]);
    push({ kind: 'event', event: { kind: 'held', message: held({ id: 2, text: 'next' }) } });
    expect(m.held.map((h) => h.id)).toEqual([1, 2]);
    push({ kind: 'event', event: { kind: 'resolved', id: 1, connection: 3, resolution: 'timed_out' } });
    expect(m.held.map((h) => h.id)).toEqual([2]);
    expect(m.selectedId).toBe(2);
    expect(m.notice).toMatch(/timeout/);
    await m.ruleOff();
    expect(calls.at(-1)).toEqual(['enabled', 9, false]);
  });

  it('saves the form as a rule and reports form errors without a call', async () => {
    const { api, calls } = fakeApi();
    const m = new InterceptModel(api);
    m.form = { ...emptyForm(), action: 'replace' };
    expect(await m.saveForm()).toBe(false);
    expect(m.error).toMatch(/Find/);
    expect(calls).toEqual([]);
    m.form = { ...emptyForm(), contains: 'buy' };
    expect(await m.saveForm()).toBe(true);
    expect(m.rules.map((r) => r.id)).toEqual([4]);
    expect(m.form.contains).toBe('');
  });
});
