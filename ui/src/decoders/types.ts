// The decoder contract. A decoder sniffs a payload (a confidence in 0..1, 0 = not this
// format) and decodes it into plain JSON data (see json.ts `toJsonSafe`) for the tree and
// the text view. Decoders are pure: no DOM, so they run in the worker and in unit tests.

export type DecoderId = 'msgpack' | 'cbor' | 'base64' | 'socketio' | 'stomp' | 'sockjs' | 'graphql';

/** What a sniffer knows besides the bytes. */
export interface SniffContext {
  /** The payload as UTF-8, or null when it is not valid UTF-8. */
  text: string | null;
  /** The frame's opcode ('text' | 'binary' | …); messages use their first frame's. */
  opcode: string;
  /** The connection's negotiated subprotocol, if any (e.g. "graphql-transport-ws", "stomp"). */
  subprotocol?: string | null;
  /** The connection's URL (Socket.IO's has `EIO=4` in its query). */
  url?: string | null;
  /** Who sent it: 'client' (client to server) or 'server'. */
  dir?: string | null;
}

export interface Decoded {
  decoder: DecoderId;
  /** Short description shown above the tree, e.g. "Socket.IO EVENT \"chat\" on /admin". */
  summary: string;
  /** Plain JSON data. */
  value: unknown;
}

export interface Decoder {
  id: DecoderId;
  label: string;
  /** Confidence 0..1 that the payload is in this format. */
  sniff(bytes: Uint8Array, ctx: SniffContext): number;
  /** Decodes; throws DecodeError with a readable message when the payload is not valid. */
  decode(bytes: Uint8Array, ctx: SniffContext): Decoded;
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}
