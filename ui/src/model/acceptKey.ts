// The Sec-WebSocket-Key -> Sec-WebSocket-Accept derivation of RFC 6455 §4.2.2, computed
// here with WebCrypto (crypto.subtle) so the handshake view can check the server's answer
// and explain each step. Pure TS; unit-tested in acceptKey.test.ts.

/** The GUID RFC 6455 appends to the client's key. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface AcceptDerivation {
  /** The client's Sec-WebSocket-Key, as sent (trimmed). */
  key: string;
  /** The key decodes to 16 bytes, as RFC 6455 requires. */
  keyValid: boolean;
  /** Why the key is not a valid nonce, when it is not. */
  keyProblem: string | null;
  /** key + GUID, the string that is hashed. */
  concatenated: string;
  /** SHA-1 of `concatenated` (ASCII), lower-case hex pairs joined by spaces. */
  sha1Hex: string;
  /** base64 of the 20 digest bytes: the value the server must answer. */
  expected: string;
  /** The server's Sec-WebSocket-Accept, or null when it sent none. */
  received: string | null;
  /** `received` equals `expected` exactly. */
  matches: boolean;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function hexPairs(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Checks that a Sec-WebSocket-Key is base64 of 16 bytes; returns why not, or null. */
export function keyProblem(key: string): string | null {
  if (!key) return 'The request carried no Sec-WebSocket-Key.';
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(key) || key.length % 4 !== 0) {
    return 'The key is not standard padded base64.';
  }
  let decoded: string;
  try {
    decoded = atob(key);
  } catch {
    return 'The key is not standard padded base64.';
  }
  if (decoded.length !== 16) return `The key decodes to ${decoded.length} bytes; RFC 6455 asks for 16.`;
  return null;
}

/** The value a server must put in Sec-WebSocket-Accept for `key`. */
export async function expectedAccept(key: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-1', new TextEncoder().encode(key.trim() + WS_GUID)),
  );
  return toBase64(digest);
}

/** Every step of the derivation for `key`, compared with what the server answered. */
export async function deriveAccept(rawKey: string, received: string | null): Promise<AcceptDerivation> {
  const key = rawKey.trim();
  const concatenated = key + WS_GUID;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(concatenated)));
  const expected = toBase64(digest);
  const problem = keyProblem(key);
  const got = received === null ? null : received.trim();
  return {
    key,
    keyValid: problem === null,
    keyProblem: problem,
    concatenated,
    sha1Hex: hexPairs(digest),
    expected,
    received: got,
    matches: got !== null && got === expected,
  };
}

/** The value of the first header named `name` (case-insensitive), or null. */
export function headerValue(headers: readonly (readonly [string, string])[] | null | undefined, name: string): string | null {
  if (!headers) return null;
  const lower = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
  return null;
}
