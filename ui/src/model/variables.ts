// Message variables: {{uuid}} {{now}} {{ts}} {{counter}} {{random_int a b}}, expanded
// before a message is sent, with a preview of the result. The grammar is the backend's too
// (docs/ipc.md, "Workbench": send-on-save expands the same way). Pure TS; unit-tested in
// variables.test.ts.
//
// Grammar (docs/ipc.md, "Template variables"): a variable is `{{`, optional spaces, a name,
// then arguments separated by spaces, optional spaces, `}}`:
// - uuid: a random UUID v4, lower case;
// - now: the time of sending, RFC 3339 UTC with milliseconds (2026-11-26T18:04:25.123Z);
// - ts: the time of sending, Unix milliseconds;
// - counter: per connection, 1 for the first message sent with variables, then 2, 3, …
//   (every {{counter}} in one message is the same number);
// - random_int a b: a uniformly random integer in [a, b] (both inclusive, signed 64-bit,
//   either order).
// Anything else (an unknown name, wrong arguments, a lone `{{`) is left as written; the
// preview lists such spots so a typo does not go out unnoticed.
export interface VarToken {
  /** Offset of `{{` in the text (UTF-16 units). */
  start: number;
  /** Offset just past `}}`. */
  end: number;
  name: string;
  args: string[];
  /** Null when the token expands; otherwise why it is left as written. */
  literal: string | null;
}

export interface VarContext {
  /** Milliseconds since the epoch ("now" for {{now}} and {{ts}}). */
  nowMs: number;
  /** The value {{counter}} takes in this message. */
  counter: number;
  /** A random UUID v4. */
  uuid(): string;
  /** A uniform random integer in [0, span) for a span up to 2^64 (BigInt). */
  randomBelow(span: bigint): bigint;
}

export interface Expansion {
  text: string;
  /** At least one variable was replaced: the message consumes a {{counter}} value. */
  expanded: boolean;
  /** Spots that look like variables but are left as written, with why. */
  literals: { text: string; at: string; why: string }[];
}

export const VARIABLE_NAMES = ['uuid', 'now', 'ts', 'counter', 'random_int'] as const;
export const VARIABLE_HELP = '{{uuid}} {{now}} {{ts}} {{counter}} {{random_int a b}}';

const TOKEN = /\{\{ *([A-Za-z_][A-Za-z0-9_]*)((?: +[^ {}\r\n\t]+)*) *\}\}/g;
const INT = /^-?\d+$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function where(text: string, index: number): string {
  const before = text.slice(0, index);
  if (!text.includes('\n')) return `position ${Array.from(before).length + 1}`;
  const line = before.split('\n').length;
  const col = Array.from(before.slice(before.lastIndexOf('\n') + 1)).length + 1;
  return `line ${line}, column ${col}`;
}

function checkToken(name: string, args: string[]): string | null {
  switch (name) {
    case 'uuid':
    case 'now':
    case 'ts':
    case 'counter':
      return args.length ? `{{${name}}} takes no arguments` : null;
    case 'random_int': {
      if (args.length !== 2) return 'write {{random_int MIN MAX}}, e.g. {{random_int 1 100}}';
      if (!INT.test(args[0]) || !INT.test(args[1])) return 'MIN and MAX are whole numbers';
      const a = BigInt(args[0]);
      const b = BigInt(args[1]);
      if (a < I64_MIN || a > I64_MAX || b < I64_MIN || b > I64_MAX) return 'MIN and MAX are signed 64-bit numbers';
      return null;
    }
    default:
      return `unknown variable (known: ${VARIABLE_HELP})`;
  }
}

/** Every `{{name args}}` spot of `text`, each checked. */
export function scanVariables(text: string): VarToken[] {
  const tokens: VarToken[] = [];
  if (!text.includes('{{')) return tokens;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
    const name = m[1];
    const rest = m[2].trim();
    const args = rest ? rest.split(/ +/) : [];
    tokens.push({ start: m.index, end: m.index + m[0].length, name, args, literal: checkToken(name, args) });
  }
  return tokens;
}

/** Whether the text may use variables (cheap test before scanning). */
export function hasVariables(text: string): boolean {
  return text.includes('{{');
}

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** A random integer in [min(a,b), max(a,b)], both inclusive. */
export function randomInt(a: bigint, b: bigint, randomBelow: (span: bigint) => bigint): bigint {
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  return lo + randomBelow(hi - lo + 1n);
}

/** Replaces every valid variable of `text`; the same `ctx` gives the same result. */
export function expandVariables(text: string, ctx: VarContext): Expansion {
  const tokens = scanVariables(text);
  if (!tokens.length) return { text, expanded: false, literals: [] };
  let out = '';
  let at = 0;
  let expanded = false;
  const literals: Expansion['literals'] = [];
  for (const t of tokens) {
    out += text.slice(at, t.start);
    at = t.end;
    if (t.literal !== null) {
      out += text.slice(t.start, t.end);
      literals.push({ text: text.slice(t.start, t.end), at: where(text, t.start), why: t.literal });
      continue;
    }
    expanded = true;
    switch (t.name) {
      case 'uuid':
        out += ctx.uuid();
        break;
      case 'now':
        out += rfc3339(ctx.nowMs);
        break;
      case 'ts':
        out += String(Math.floor(ctx.nowMs));
        break;
      case 'counter':
        out += String(ctx.counter);
        break;
      case 'random_int':
        out += String(randomInt(BigInt(t.args[0]), BigInt(t.args[1]), ctx.randomBelow));
        break;
    }
  }
  out += text.slice(at);
  return { text: out, expanded, literals };
}

/** A uniform BigInt in [0, span) from crypto.getRandomValues (rejection sampling). */
export function cryptoRandomBelow(span: bigint): bigint {
  if (span <= 1n) return 0n;
  const bits = span.toString(2).length;
  const words = Math.ceil(bits / 32);
  const mask = (1n << BigInt(bits)) - 1n;
  const buf = new Uint32Array(words);
  for (;;) {
    crypto.getRandomValues(buf);
    let v = 0n;
    for (const w of buf) v = (v << 32n) | BigInt(w);
    v &= mask;
    if (v < span) return v;
  }
}

/** The context of a real send: the clock and WebCrypto. */
export function liveContext(counter: number, nowMs = Date.now()): VarContext {
  return {
    nowMs,
    counter,
    uuid: () => crypto.randomUUID(),
    randomBelow: cryptoRandomBelow,
  };
}

/**
 * Per-connection {{counter}}: `peek` is the value the next message with variables gets
 * (the preview shows it); `take` consumes it when such a message is sent.
 */
export class VarCounter {
  #next = 1;
  peek(): number {
    return this.#next;
  }
  take(): number {
    return this.#next++;
  }
}
