// JSON helpers: where invalid JSON fails (engines disagree on error messages, WebKit gives
// no position at all, so we find it ourselves), JSONPath-like paths for the tree, and the
// normalisation of decoded values (Map, bytes, bigint, tags…) into plain JSON.

export interface JsonErrorPos {
  /** Character offset (UTF-16) of the failure. */
  offset: number;
  /** 1-based line and column. */
  line: number;
  column: number;
  message: string;
}

export type JsonParse =
  | { ok: true; value: unknown }
  | { ok: false; error: JsonErrorPos };

/** Parses JSON; on failure says where and why. */
export function parseJson(text: string): JsonParse {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const pos = locateJsonError(text);
    if (pos) return { ok: false, error: pos };
    // JSON.parse failed where our scanner did not (should not happen): say so without a position.
    return { ok: false, error: { offset: 0, line: 1, column: 1, message: String((e as Error)?.message ?? e) } };
  }
}

function position(text: string, offset: number, message: string): JsonErrorPos {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1, message };
}

function describe(text: string, i: number): string {
  if (i >= text.length) return 'unexpected end of input';
  const ch = text[i];
  const shown = /[\x00-\x1f]/.test(ch) ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch;
  return `unexpected character '${shown}'`;
}

/**
 * Scans `text` as JSON (RFC 8259) and returns the first error, or null when it is valid.
 * Iterative (no recursion), so deep nesting cannot overflow the stack.
 */
export function locateJsonError(text: string): JsonErrorPos | null {
  let i = 0;
  const n = text.length;
  // Stack of open containers: '{' or '['.
  const stack: string[] = [];
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const fail = (msg?: string) => position(text, i, msg ?? describe(text, i));

  const scanString = (): JsonErrorPos | null => {
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return null;
      }
      if (c < 0x20) return fail('control character in string (escape it)');
      if (c === 92) {
        const e = text[i + 1];
        if (e === undefined) {
          i++;
          return fail('unexpected end of input in string');
        }
        if ('"\\/bfnrt'.includes(e)) i += 2;
        else if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i += 2;
            return fail('bad \\u escape (4 hex digits expected)');
          }
          i += 6;
        } else {
          i++;
          return fail(`bad escape '\\${e}'`);
        }
      } else i++;
    }
    return fail('unterminated string');
  };

  const scanNumber = (): JsonErrorPos | null => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (text[i] >= '1' && text[i] <= '9') while (text[i] >= '0' && text[i] <= '9') i++;
    else return fail(i >= n ? undefined : 'digit expected');
    if (text[i] === '.') {
      i++;
      if (!(text[i] >= '0' && text[i] <= '9')) return fail('digit expected after the decimal point');
      while (text[i] >= '0' && text[i] <= '9') i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!(text[i] >= '0' && text[i] <= '9')) return fail('digit expected in the exponent');
      while (text[i] >= '0' && text[i] <= '9') i++;
    }
    return null;
  };

  /** Scans one value start; containers push and return. */
  const scanValue = (): JsonErrorPos | null => {
    ws();
    if (i >= n) return fail();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      stack.push(ch);
      i++;
      return null;
    }
    if (ch === '"') return scanString();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return scanNumber();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return null;
      }
    }
    return fail();
  };

  // State machine: after a value, look at the innermost container.
  let err = scanValue();
  if (err) return err;
  // Whether the container just opened (expects a first member or its close).
  let fresh = stack.length > 0;
  for (;;) {
    if (stack.length === 0) {
      ws();
      return i < n ? fail('unexpected data after the JSON value') : null;
    }
    const top = stack[stack.length - 1];
    ws();
    if (fresh) {
      fresh = false;
      if (top === '{' && text[i] === '}') {
        stack.pop();
        i++;
        continue;
      }
      if (top === '[' && text[i] === ']') {
        stack.pop();
        i++;
        continue;
      }
    } else {
      // After a member: ',' or the close.
      if (text[i] === ',') {
        i++;
        ws();
      } else if ((top === '{' && text[i] === '}') || (top === '[' && text[i] === ']')) {
        stack.pop();
        i++;
        continue;
      } else {
        return fail(i >= n ? undefined : `expected ',' or '${top === '{' ? '}' : ']'}'`);
      }
    }
    if (top === '{') {
      if (text[i] !== '"') return fail(i >= n ? undefined : 'expected a string key');
      err = scanString();
      if (err) return err;
      ws();
      if (text[i] !== ':') return fail(i >= n ? undefined : "expected ':'");
      i++;
    }
    const depth = stack.length;
    err = scanValue();
    if (err) return err;
    fresh = stack.length > depth;
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Appends a key or index to a JSONPath: `$.data[3].price`, `$["a b"]`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return IDENT.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/** Value at a path built by `childPath` segments (keys, indexes) from the root. */
export function valueAt(root: unknown, segments: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

/** Marker object keys used when a decoded value has no JSON equivalent. */
export interface BytesValue {
  $bytes: string; // hex
  length: number;
}

/**
 * Converts a decoded value (MessagePack, CBOR…) into plain JSON data for the tree and the
 * pretty text: Map → object (non-string keys spelled as JSON), bytes → {"$bytes": hex,
 * "length"}, bigint → number when safe else its decimal string, Date → ISO string, tags and
 * extensions → {"$tag"|"$ext": n, "value"}, undefined → null, NaN/Infinity → strings.
 */
export function toJsonSafe(value: unknown, depth = 0): unknown {
  if (depth > 512) return '(nested too deeply)';
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case 'object':
      break;
    default:
      return String(value);
  }
  if (value instanceof Uint8Array || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const u8 =
      value instanceof Uint8Array
        ? value
        : value instanceof ArrayBuffer
          ? new Uint8Array(value)
          : new Uint8Array((value as ArrayBufferView).buffer, (value as ArrayBufferView).byteOffset, (value as ArrayBufferView).byteLength);
    let hex = '';
    for (let i = 0; i < u8.length; i++) hex += u8[i].toString(16).padStart(2, '0');
    const b: BytesValue = { $bytes: hex, length: u8.length };
    return b;
  }
  if (typeof URL !== 'undefined' && value instanceof URL) return value.href;
  if (value instanceof RegExp) return String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) {
      const key = typeof k === 'string' ? k : JSON.stringify(toJsonSafe(k, depth + 1));
      out[key] = toJsonSafe(v, depth + 1);
    }
    return out;
  }
  if (value instanceof Set) return [...value].map((v) => toJsonSafe(v, depth + 1));
  if (Array.isArray(value)) return value.map((v) => toJsonSafe(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) out[k] = toJsonSafe((value as Record<string, unknown>)[k], depth + 1);
  return out;
}
