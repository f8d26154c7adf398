import { describe, expect, it } from 'vitest';
import {
  cryptoRandomBelow,
  expandVariables,
  hasVariables,
  randomInt,
  scanVariables,
  VarCounter,
  type VarContext,
} from './variables';

function ctx(over: Partial<VarContext> = {}): VarContext {
  return {
    nowMs: Date.UTC(2026, 10, 26, 18, 4, 25, 123),
    counter: 7,
    uuid: () => '00000000-0000-4000-8000-000000000000',
    randomBelow: (span) => span / 2n,
    ...over,
  };
}

describe('expandVariables', () => {
  it('replaces each variable', () => {
    const r = expandVariables('{{uuid}} {{now}} {{ts}} #{{counter}} {{random_int 1 3}}', ctx());
    expect(r).toEqual({
      text: '00000000-0000-4000-8000-000000000000 2026-11-26T18:04:25.123Z 1795716265123 #7 2',
      expanded: true,
      literals: [],
    });
  });

  it('allows spaces inside the braces; every {{counter}} of a message has one value', () => {
    const r = expandVariables('{{ counter }}/{{counter}} {{ random_int  -5   -5 }}', ctx({ counter: 3 }));
    expect(r.text).toBe('3/3 -5');
  });

  it('takes random_int bounds in either order, over the signed 64-bit range', () => {
    expect(expandVariables('{{random_int 10 0}}', ctx({ randomBelow: () => 0n })).text).toBe('0');
    expect(expandVariables('{{random_int 10 0}}', ctx({ randomBelow: (s) => s - 1n })).text).toBe('10');
    const wide = expandVariables('{{random_int -9223372036854775808 9223372036854775807}}', ctx({ randomBelow: (s) => s - 1n }));
    expect(wide.text).toBe('9223372036854775807');
  });

  it('leaves text without variables, and JSON braces, alone', () => {
    const json = '{"a":{"b":{"c":1}}}';
    expect(expandVariables(json, ctx())).toEqual({ text: json, expanded: false, literals: [] });
    expect(expandVariables('{{ not closed', ctx()).text).toBe('{{ not closed');
    expect(expandVariables('{{}}', ctx()).text).toBe('{{}}');
    expect(expandVariables('{{{uuid}}}', ctx()).text).toBe('{00000000-0000-4000-8000-000000000000}');
    expect(hasVariables('plain')).toBe(false);
  });

  it('leaves unknown names and bad arguments as written, and says where', () => {
    const r = expandVariables('ab {{uid}} {{ts}}', ctx());
    expect(r.text).toBe('ab {{uid}} 1795716265123');
    expect(r.expanded).toBe(true);
    expect(r.literals).toEqual([{ text: '{{uid}}', at: 'position 4', why: expect.stringMatching(/unknown variable/) }]);
    const lines = expandVariables('{\n  "x": {{random_int 5}}\n}', ctx());
    expect(lines.expanded).toBe(false);
    expect(lines.literals[0].at).toBe('line 2, column 8');
    for (const bad of ['{{random_int a b}}', '{{random_int 1 9223372036854775808}}', '{{uuid 1}}']) {
      expect(expandVariables(bad, ctx()).text).toBe(bad);
    }
    expect(scanVariables('{{now}}{{x y}}').map((t) => [t.name, t.literal === null])).toEqual([
      ['now', true],
      ['x', false],
    ]);
  });
});

describe('randomInt', () => {
  it('covers both ends of the range with the crypto source', () => {
    expect(randomInt(1n, 6n, () => 0n)).toBe(1n);
    const seen = new Set<bigint>();
    for (let i = 0; i < 500; i++) seen.add(randomInt(0n, 3n, cryptoRandomBelow));
    expect([...seen].sort()).toEqual([0n, 1n, 2n, 3n]);
    for (let i = 0; i < 100; i++) {
      const v = cryptoRandomBelow(2n ** 64n);
      expect(v >= 0n && v < 2n ** 64n).toBe(true);
    }
  });
});

describe('VarCounter', () => {
  it('peeks without consuming', () => {
    const c = new VarCounter();
    expect(c.peek()).toBe(1);
    expect(c.peek()).toBe(1);
    expect(c.take()).toBe(1);
    expect(c.peek()).toBe(2);
  });
});

describe('the grammar shared with the Rust expander (docs/fixtures/variables.json)', () => {
  it('gives the same text for every case', async () => {
    const { readFile } = await import('node:fs/promises');
    const raw = await readFile(new URL('../../../docs/fixtures/variables.json', import.meta.url), 'utf8');
    const f = JSON.parse(raw) as { counter: number; now_ms: number; cases: [string, string][] };
    expect(f.cases.length).toBeGreaterThan(10);
    for (const [input, want] of f.cases) {
      const got = expandVariables(input, { nowMs: f.now_ms, counter: f.counter, uuid: () => 'u', randomBelow: () => 0n });
      expect(got.text, JSON.stringify(input)).toBe(want);
    }
  });
});
