// Shared by the Node peers of the capture-proxy tests (tests/tests/proxy_peers.rs).
// Every script prints JSON lines on stdout; payloads are reported base64-encoded.
import { createHash } from 'node:crypto';

/** Deterministic test bytes; the Rust test and common.py compute the same. */
export function pattern(len, seed) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + seed * 17 + (i >> 8)) & 255;
  return b;
}

export function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** Prints the line, then exits once it is written (stdout to a pipe is asynchronous). */
export function outAndExit(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}

/** Payloads up to this size are reported in full (base64); larger ones by length and digest. */
const FULL = 2 << 20;

export function describe(data, isBinary) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
  const d = {
    type: isBinary ? 'binary' : 'text',
    len: buf.length,
    sha256: createHash('sha256').update(buf).digest('hex'),
  };
  if (buf.length <= FULL) d.b64 = buf.toString('base64');
  return d;
}

/** A message spec from the test ({type: text|binary|pattern|repeat|fragments, ...}) as
 *  {binary, parts: [Buffer...]} (one part: a whole message; several: fragments). */
export function build(spec) {
  switch (spec.type) {
    case 'text':
      return { binary: false, parts: [Buffer.from(spec.data, 'utf8')] };
    case 'binary':
      return { binary: true, parts: [Buffer.from(spec.b64, 'base64')] };
    case 'pattern':
      return { binary: true, parts: [pattern(spec.len, spec.seed)] };
    case 'repeat':
      return { binary: !!spec.binary, parts: [Buffer.alloc(spec.len, spec.byte)] };
    case 'fragments':
      return {
        binary: !!spec.binary,
        parts: spec.parts.map((p) => (spec.binary ? Buffer.from(p, 'base64') : Buffer.from(p, 'utf8'))),
      };
    default:
      throw new Error(`unknown message spec ${JSON.stringify(spec)}`);
  }
}

/** Sends a built message; fragments with ws's `fin: false`. Resolves once written. */
export function sendBuilt(ws, built) {
  const { binary, parts } = built;
  return Promise.all(
    parts.map(
      (p, i) =>
        new Promise((resolve, reject) =>
          ws.send(p, { binary, fin: i === parts.length - 1 }, (err) => (err ? reject(err) : resolve())),
        ),
    ),
  );
}

export function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (!k.startsWith('--')) throw new Error(`bad argument ${k}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) a[k.slice(2)] = true;
    else {
      a[k.slice(2)] = next;
      i++;
    }
  }
  return a;
}
