// The decoder choice commands (docs/ipc.md, "Decoder choice") and the frame reads the
// Socket.IO attachment stitching needs (the unfiltered timeline's paging and get_message).
import { call } from './commands';
import { getMessage } from './detail';
import { timelineIndexOf, timelinePage } from './commands';
import type { RelatedFetcher } from '../decoders/attachments';

export interface DecoderChoices {
  /** The session's default decoder, for connections without their own. */
  session: string | null;
  /** `[connection id, decoder]` pairs. */
  connections: [number, string][];
}

export function getDecoderChoices(sessionId: number): Promise<DecoderChoices> {
  return call<DecoderChoices>('get_decoder_choices', { sessionId });
}

/** Saves the decoder of a connection (or with `connectionId: null` the session default); `decoder: null` forgets it. */
export async function setDecoderChoice(sessionId: number, connectionId: number | null, decoder: string | null): Promise<void> {
  await call<null>('set_decoder_choice', { sessionId, connectionId, decoder });
}

/** Frames of a session by position in its unfiltered timeline (cheap: no filter scan). */
export function relatedFetcher(sessionId: number): RelatedFetcher {
  return {
    async indexOf(seq) {
      return (await timelineIndexOf(sessionId, {}, seq)).index;
    },
    page(offset, limit) {
      return timelinePage(sessionId, {}, offset, limit);
    },
    message(seq) {
      return getMessage(sessionId, seq);
    },
  };
}
