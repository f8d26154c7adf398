// The detail view's decoder choice, per connection with a session default, saved through the
// shell (store schema v9) so it survives a restart. Resolution: the connection's own choice,
// else the session's default, else 'auto'. Unknown names saved by another build are ignored.
import { DECODERS, type DecoderId } from '../decoders/index';
import type { DecoderChoices } from '../ipc/decoders';

export type DecoderChoice = DecoderId | 'auto' | 'none';

export function isChoice(v: unknown): v is DecoderChoice {
  return v === 'auto' || v === 'none' || DECODERS.some((d) => d.id === v);
}

export interface DecoderChoiceApi {
  get(sessionId: number): Promise<DecoderChoices>;
  set(sessionId: number, connectionId: number | null, decoder: string | null): Promise<void>;
}

interface SessionChoices {
  session: DecoderChoice | null;
  connections: Record<number, DecoderChoice>;
}

export class DecoderChoiceModel {
  #api: DecoderChoiceApi;
  #onError: (command: string, err: unknown) => void;
  /** Loaded sessions' choices. */
  bySession = $state<Record<number, SessionChoices>>({});
  #loading = new Set<number>();

  constructor(api: DecoderChoiceApi, onError: (command: string, err: unknown) => void) {
    this.#api = api;
    this.#onError = onError;
  }

  /** Reads a session's saved choices once (again with `force`). */
  async load(sessionId: number, force = false): Promise<void> {
    if ((!force && this.bySession[sessionId]) || this.#loading.has(sessionId)) return;
    this.#loading.add(sessionId);
    try {
      const c = await this.#api.get(sessionId);
      const connections: Record<number, DecoderChoice> = {};
      for (const [id, d] of c.connections ?? []) if (isChoice(d)) connections[id] = d;
      // Choices made while loading win over what was read.
      const now = this.bySession[sessionId];
      this.bySession = {
        ...this.bySession,
        [sessionId]: {
          session: now?.session ?? (isChoice(c.session) ? c.session : null),
          connections: { ...connections, ...(now?.connections ?? {}) },
        },
      };
    } catch (err) {
      this.#onError('get_decoder_choices', err);
    } finally {
      this.#loading.delete(sessionId);
    }
  }

  /** The session's default, or null. */
  sessionDefault(sessionId: number | null): DecoderChoice | null {
    return sessionId === null ? null : (this.bySession[sessionId]?.session ?? null);
  }

  /** The connection's own choice, or null when it follows the session default. */
  own(sessionId: number | null, connectionId: number): DecoderChoice | null {
    return sessionId === null ? null : (this.bySession[sessionId]?.connections[connectionId] ?? null);
  }

  /** The decoder in effect for a connection. */
  effective(sessionId: number | null, connectionId: number): DecoderChoice {
    return this.own(sessionId, connectionId) ?? this.sessionDefault(sessionId) ?? 'auto';
  }

  #put(sessionId: number, f: (s: SessionChoices) => SessionChoices) {
    const cur = this.bySession[sessionId] ?? { session: null, connections: {} };
    this.bySession = { ...this.bySession, [sessionId]: f(cur) };
  }

  /** Sets (or with null clears) a connection's choice; saved at once. */
  async setConnection(sessionId: number, connectionId: number, choice: DecoderChoice | null): Promise<void> {
    this.#put(sessionId, (s) => {
      const connections = { ...s.connections };
      if (choice === null) delete connections[connectionId];
      else connections[connectionId] = choice;
      return { ...s, connections };
    });
    try {
      await this.#api.set(sessionId, connectionId, choice);
    } catch (err) {
      this.#onError('set_decoder_choice', err);
    }
  }

  /** Sets (or clears) the session default; saved at once. */
  async setSession(sessionId: number, choice: DecoderChoice | null): Promise<void> {
    this.#put(sessionId, (s) => ({ ...s, session: choice }));
    try {
      await this.#api.set(sessionId, null, choice);
    } catch (err) {
      this.#onError('set_decoder_choice', err);
    }
  }
}
