import { describe, expect, it } from 'vitest';
import { checkJson, formatJson, lineCol, minifyJson } from './jsonCheck';

describe('checkJson', () => {
  it('accepts what JSON.parse accepts', () => {
    for (const ok of ['{}', '[]', '0', '-1.5e+3', '"a\\u00e9\\n"', ' {"a":[1,true,null,{"b":"c"}]} ', 'null']) {
      expect(checkJson(ok), ok).toEqual({ ok: true });
      expect(() => JSON.parse(ok)).not.toThrow();
    }
  });

  it('says where and why it fails', () => {
    expect(checkJson('{"a":1,}')).toEqual({ ok: false, offset: 7, message: 'Expected a key after "," but found "}"' });
    expect(checkJson('{"a" 1}')).toMatchObject({ offset: 5, message: 'Expected ":" after the key but found "1"' });
    expect(checkJson('[1 2]')).toMatchObject({ offset: 3, message: 'Expected "," or "]" but found "2"' });
    expect(checkJson('{"a":01}')).toMatchObject({ offset: 6 });
    expect(checkJson('"abc')).toMatchObject({ offset: 4, message: 'Unterminated string' });
    expect(checkJson("{'a':1}")).toMatchObject({ offset: 1 });
    expect(checkJson('{} x')).toMatchObject({ offset: 3, message: 'Expected the end of the document but found "x"' });
    expect(checkJson('  ')).toMatchObject({ ok: false, message: expect.stringMatching(/Empty/) });
    expect(checkJson('"a\tb"')).toMatchObject({ offset: 2, message: expect.stringMatching(/U\+0009/) });
    expect(checkJson('[' .repeat(600))).toMatchObject({ ok: false, message: expect.stringMatching(/512/) });
  });

  it('agrees with JSON.parse on a batch of broken inputs', () => {
    for (const bad of ['{', '[1,]', 'tru', '1.', '-', '.5', '{"a":}', '"\\x"', 'NaN', '1e', '[1]]']) {
      expect(checkJson(bad).ok, bad).toBe(false);
      expect(() => JSON.parse(bad), bad).toThrow();
    }
  });
});

describe('format / minify', () => {
  it('round-trips', () => {
    expect(formatJson('{"a":[1,2]}')).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
    expect(minifyJson('{\n "a" : [ 1 , 2 ]\n}')).toBe('{"a":[1,2]}');
    expect(formatJson('{')).toBeNull();
  });
  it('reports lines and columns', () => {
    expect(lineCol('{\n  "a": x\n}', 9)).toEqual({ line: 2, column: 8 });
  });
});
