// The mock shell's decoder choice commands (get_decoder_choices, set_decoder_choice), kept
// like the store keeps them: per session, a default (connection 0) and per connection.
import type { ConnectionInfo } from '../../src/ipc/types';

export const NOT_DECODERS = Symbol('not a decoder command');

/** session id -> connection id (0 = the session default) -> decoder */
export const decoderChoices = new Map<number, Map<number, string>>();

export function decoderCommand(
  sessions: Map<number, { conns: ConnectionInfo[] }>,
  cmd: string,
  args: Record<string, unknown>,
): unknown {
  if (cmd !== 'get_decoder_choices' && cmd !== 'set_decoder_choice') return NOT_DECODERS;
  const sid = Number(args.sessionId);
  const s = sessions.get(sid);
  if (!s) throw `session ${sid} not found`;
  if (cmd === 'get_decoder_choices') {
    const m = decoderChoices.get(sid) ?? new Map<number, string>();
    return {
      session: m.get(0) ?? null,
      connections: [...m.entries()].filter(([c]) => c !== 0).sort((a, b) => a[0] - b[0]),
    };
  }
  const conn = args.connectionId == null ? 0 : Number(args.connectionId);
  if (conn !== 0 && !s.conns.some((c) => c.id === conn)) throw `connection ${conn} of session ${sid} not found`;
  const d = args.decoder;
  if (d !== null && (typeof d !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(d))) throw 'a decoder name is 1 to 32 characters of a-z, 0-9, - and _';
  const m = decoderChoices.get(sid) ?? new Map<number, string>();
  if (d === null) m.delete(conn);
  else m.set(conn, d);
  decoderChoices.set(sid, m);
  return null;
}
