// What the Decoded view knows beyond one payload: the attachments of a Socket.IO binary event
// (read from the frames after it) and, for a binary message, the event it is an attachment
// of (read from the frames before it). Reads go through the timeline's unfiltered paging and
// get_message (`RelatedFetcher`); the latest request wins.
import {
  findEventOf,
  loadAttachments,
  stitch,
  type AttachmentOf,
  type Attachments,
  type RelatedFetcher,
} from '../../decoders/attachments';
import { decodeWith } from '../../decoders/index';
import { binaryPreview, engineVersionOfUrl, type SocketPacket } from '../../decoders/socketio';
import { pretty, type DecodedResult } from '../../decoders/analyze';
import type { DecoderChoice } from '../../model/decoderChoices.svelte';

/** Live capture: attachments not recorded yet are looked for again this often, this many times. */
const LIVE_RETRY_MS = 700;
const LIVE_RETRIES = 5;

export interface LinkInput {
  sessionId: number;
  /** The message shown (its first frame's seq). */
  seq: number;
  connection: number;
  dir: string;
  opcode: string;
  url: string | null;
  choice: DecoderChoice;
  decoded: DecodedResult | null;
  bytes: Uint8Array;
}

export interface AttachmentOfView extends AttachmentOf {
  /** The event's summary, e.g. `Socket.IO BINARY_EVENT "upload" + 2 binary attachments`. */
  eventSummary: string | null;
  /** The attachment's own bytes (Engine.IO v3's type byte dropped). */
  bytes: Uint8Array;
}

/** What the Decoded view shows. */
export interface DecodedShown {
  decoder: string;
  summary: string;
  value: unknown;
  pretty: string;
}

function socketPacket(d: DecodedResult | null): SocketPacket | null {
  if (!d?.ok || d.decoder !== 'socketio') return null;
  const v = d.value as { socketio?: SocketPacket };
  return v.socketio ?? null;
}

export class DecodedLinks {
  #fetcher: (sessionId: number) => RelatedFetcher;
  #token = 0;
  #key = '';
  #last: LinkInput | null = null;
  /** Automatic re-reads done for the current input (live attachments). */
  #retries = 0;
  #again = false;
  attachments = $state.raw<Attachments | null>(null);
  attachmentOf = $state.raw<AttachmentOfView | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  /** Seq of the event whose attachments are loaded. */
  eventSeq = $state<number | null>(null);

  constructor(fetcher: (sessionId: number) => RelatedFetcher) {
    this.#fetcher = fetcher;
  }

  /** Forgets everything (no frame, or a frame that links nowhere). */
  clear(keep = false): void {
    this.#token++;
    this.#key = '';
    if (!keep) {
      this.attachments = null;
      this.attachmentOf = null;
      this.eventSeq = null;
    }
    this.loading = false;
    this.error = null;
  }

  /** Looks up what the shown message links to (again only when the input changed). */
  update(i: LinkInput | null): void {
    this.#last = i;
    if (!i) {
      this.clear();
      return;
    }
    const pkt = socketPacket(i.decoded);
    const isEvent = !!pkt && (pkt.type === 5 || pkt.type === 6) && (pkt.attachments ?? 0) > 0;
    // A binary message is looked up as an attachment on a Socket.IO connection (its URL says
    // EIO= or socket.io), or when the user chose Socket.IO: other binary streams (MessagePack
    // telemetry…) cost no reads.
    const ioUrl = engineVersionOfUrl(i.url) !== null || /\/socket\.io\//i.test(i.url ?? '');
    const mayBeAttachment = !isEvent && i.opcode === 'binary' && (i.choice === 'socketio' || (i.choice === 'auto' && ioUrl));
    const key = `${i.sessionId}:${i.seq}:${i.connection}:${isEvent ? `e${pkt?.attachments}` : mayBeAttachment ? 'a' : '-'}:${i.url ?? ''}:${i.bytes.length}`;
    if (key === this.#key) return;
    // Reading again (retry): what is shown stays until the new answer.
    const again = this.#again;
    this.#again = false;
    this.clear(again);
    this.#retries = 0;
    this.#key = key;
    if (!isEvent && !mayBeAttachment) return;
    const token = this.#token;
    const f = this.#fetcher(i.sessionId);
    const head = { seq: i.seq, connection: i.connection, dir: i.dir };
    this.loading = true;
    const done = (fn: () => void) => {
      if (token !== this.#token) return;
      fn();
      this.loading = false;
    };
    if (isEvent && pkt) {
      loadAttachments(f, head, pkt.attachments ?? 0, i.url).then(
        (a) => {
          done(() => ((this.attachments = a), (this.eventSeq = i.seq)));
          // Live capture: the attachments may be a moment behind their event. Look again a
          // few times while the view still shows this event.
          if (token === this.#token && a.found.length < a.wanted && a.missing?.includes('not recorded (yet)') && this.#retries < LIVE_RETRIES) {
            this.#retries++;
            setTimeout(() => {
              if (token === this.#token) this.retry(true);
            }, LIVE_RETRY_MS);
          }
        },
        (err) => done(() => (this.error = `Could not read the attachments: ${String((err as Error)?.message ?? err)}`)),
      );
      return;
    }
    const bytes = i.bytes;
    findEventOf(f, head)
      .then(async (of) => {
        if (!of) return null;
        // The event's summary, from its own payload.
        let eventSummary: string | null = null;
        try {
          const ev = await f.message(of.eventSeq);
          const text = new TextDecoder('utf-8', { fatal: false }).decode(ev);
          eventSummary = decodeWith('socketio', ev, { text, opcode: 'text', url: i.url, dir: i.dir }).summary;
        } catch {
          eventSummary = null;
        }
        // Engine.IO v3 puts the message type byte first (by URL; else when it is 0x04).
        const v3 = engineVersionOfUrl(i.url) === 3 || (engineVersionOfUrl(i.url) === null && bytes[0] === 4);
        return { ...of, eventSummary, bytes: v3 && bytes[0] === 4 ? bytes.subarray(1) : bytes } satisfies AttachmentOfView;
      })
      .then(
        (of) => done(() => (this.attachmentOf = of)),
        (err) => done(() => (this.error = `Could not look for the event: ${String((err as Error)?.message ?? err)}`)),
      );
  }

  /** Reads the related frames again (e.g. attachments recorded since). */
  retry(auto = false): void {
    const retries = this.#retries;
    this.#again = true;
    this.#key = '';
    this.update(this.#last);
    if (auto) this.#retries = retries;
  }

  /** The decoded value shown: the event stitched with its attachments, or the attachment's place. */
  shown(decoded: DecodedResult | null): DecodedShown | null {
    const a = this.attachments;
    if (a && decoded?.ok && decoded.decoder === 'socketio') {
      const value = stitch(decoded.value, a);
      const found = a.found.filter((x) => x.bytes).length;
      return {
        decoder: 'socketio',
        summary: `${decoded.summary} (${found} of ${a.declared} stitched)`,
        value,
        pretty: pretty(value),
      };
    }
    const of = this.attachmentOf;
    if (of) {
      const value: Record<string, unknown> = {
        socketio_attachment: { index: of.index, of: of.count, event_seq: of.eventSeq, packet: of.type === 5 ? 'BINARY_EVENT' : 'BINARY_ACK' },
        ...binaryPreview(of.bytes),
      };
      if (decoded?.ok && decoded.decoder !== 'socketio') value[decoded.decoder] = decoded.value;
      return {
        decoder: 'socketio',
        summary: `Socket.IO attachment ${of.index + 1} of ${of.count} of event #${of.eventSeq}${of.eventSummary ? ` — ${of.eventSummary}` : ''}`,
        value,
        pretty: pretty(value),
      };
    }
    if (decoded?.ok) return { decoder: decoded.decoder, summary: decoded.summary, value: decoded.value, pretty: decoded.pretty };
    return null;
  }
}
