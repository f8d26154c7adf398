// A strict JSON (RFC 8259) checker that says where a document fails, with the same words
// in every engine (JSON.parse's messages differ between WebKit and Chromium, and WebKit's
// carry no position). Also format / minify. Pure TS; unit-tested in jsonCheck.test.ts.

export type JsonCheck = { ok: true } | { ok: false; offset: number; message: string };

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

class Fail {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

function describe(text: string, i: number): string {
  if (i >= text.length) return 'the end of the text';
  const ch = String.fromCodePoint(text.codePointAt(i) ?? 0);
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20) return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return `"${ch}"`;
}

/** Checks `text` is one JSON value; on failure gives the offset (UTF-16 units) and why. */
export function checkJson(text: string): JsonCheck {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && WS.has(text.charCodeAt(i))) i++;
  };
  const unexpected = (what: string): never => {
    throw new Fail(i, `Expected ${what} but found ${describe(text, i)}`);
  };
  const str = () => {
    // at the opening quote
    i++;
    for (;;) {
      if (i >= n) throw new Fail(i, 'Unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw new Fail(i, `Control character ${describe(text, i)} in a string (write it escaped)`);
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Fail(i, 'Bad \\u escape: four hex digits expected');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          throw new Fail(i, `Bad escape \\${e ?? ''} in a string`);
        }
        continue;
      }
      i++;
    }
  };
  const num = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '-' || m[0] === '') unexpected('a value');
    i += m![0].length;
    if (i < n && /[0-9.eE+-]/.test(text[i])) throw new Fail(i, `Malformed number near ${describe(text, i)}`);
  };
  const value = (depth: number): void => {
    if (depth > 512) throw new Fail(i, 'Nested deeper than 512 levels');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') unexpected(text[i] === '}' ? 'a key after ","' : 'a "key" in double quotes');
        str();
        ws();
        if (text[i] !== ':') unexpected('":" after the key');
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        unexpected('"," or "}"');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        unexpected('"," or "]"');
      }
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return num();
    unexpected('a value');
  };
  try {
    ws();
    if (i >= n) return { ok: false, offset: 0, message: 'Empty: a JSON value is expected' };
    value(0);
    ws();
    if (i < n) unexpected('the end of the document');
    return { ok: true };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, offset: e.offset, message: e.message };
    throw e;
  }
}

/** "line L, column C" (1-based, columns in code points) of `offset` in `text`. */
export function lineCol(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = Array.from(before.slice(before.lastIndexOf('\n') + 1)).length + 1;
  return { line, column };
}

export function formatJson(text: string, indent = 2): string | null {
  if (!checkJson(text).ok) return null;
  return JSON.stringify(JSON.parse(text), null, indent);
}

export function minifyJson(text: string): string | null {
  if (!checkJson(text).ok) return null;
  return JSON.stringify(JSON.parse(text));
}
