// Socket.IO binary attachments (socket.io-protocol, "Packet encoding": BINARY_EVENT 5 and
// BINARY_ACK 6). `451-["ev",{"_placeholder":true,"num":0}]` is followed, on the same
// connection and direction, by its attachments: binary frames (Engine.IO v4: the bytes as
// they are; v3: a 0x04 message-type byte first) or, with Engine.IO v3 when binary is not
// supported, base64 text packets `b4<base64>`.
//
// The event and its attachments are stitched back together here: the event's placeholders are
// replaced by the attachments' size and first bytes; a binary frame learns which event it
// belongs to. Frames are read through a `RelatedFetcher` (the timeline's unfiltered paging and
// `get_message`), never by loading the session. Hostile input (lying counts, huge `num`,
// missing frames) ends in a "missing" note, never an exception or an unbounded loop.
import { fromBase64 } from './bytes';
import { binaryPreview, engineVersionOfUrl, type BinaryPreview } from './socketio';

/** Attachments looked for per event at most (a packet may claim any count). */
export const MAX_ATTACHMENTS = 256;
/** Frames of the session looked at after an event (or before an attachment) at most. */
export const SCAN_FRAMES = 2048;
/** Rows fetched per page while scanning. */
export const SCAN_PAGE = 64;
/** Attachment bytes fetched for one event at most; the rest show their size only. */
export const BYTES_BUDGET = 64 * 1024 * 1024;

/** What the scans need of a timeline row (a `FrameSummary`). */
export interface RowLite {
  seq: number;
  connection: number;
  dir: string;
  opcode: string;
  fin: boolean;
  len: number;
  inflated_len?: number | null;
  preview: string;
}

/** How the frames are read: the unfiltered timeline (row index = position in the session). */
export interface RelatedFetcher {
  /** Row index of frame `seq` in the unfiltered timeline. */
  indexOf(seq: number): Promise<number>;
  /** Rows `offset..offset+limit` of the unfiltered timeline. */
  page(offset: number, limit: number): Promise<RowLite[]>;
  /** The whole message `seq` belongs to (fragments joined, inflated). */
  message(seq: number): Promise<Uint8Array>;
}

/** The header of a binary packet as the timeline preview shows it: `45<n>-` / `46<n>-`. */
const BINARY_HEADER = /^4([56])(\d{1,15})-/;

/** An Engine.IO ping/pong (these may travel between an event and its attachments). */
export function isPingPong(preview: string): boolean {
  return /^[23](probe)?$/.test(preview);
}

/** A v3 base64 binary packet `b4…` (an attachment when binary frames are not supported). */
function isBase64Packet(preview: string): boolean {
  return /^b[0-6]?[A-Za-z0-9+/]*={0,2}…?$/.test(preview) && preview.length > 1;
}

/** Declared attachments of a text preview that starts a BINARY_EVENT / BINARY_ACK, else null. */
export function declaredAttachments(preview: string): { type: 5 | 6; count: number } | null {
  const m = BINARY_HEADER.exec(preview);
  if (!m) return null;
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count)) return null;
  return { type: m[1] === '5' ? 5 : 6, count };
}

const sameStream = (a: RowLite, b: { connection: number; dir: string }) => a.connection === b.connection && a.dir === b.dir;

/** A row that starts a binary message (a possible attachment). */
function startsBinaryMessage(r: RowLite): boolean {
  return r.opcode === 'binary' || (r.opcode === 'text' && isBase64Packet(r.preview));
}

/**
 * Follows the rows after an event: the first `want` binary messages of its connection and
 * direction. Feed pages in order; `done` once found, interrupted (another data message of that
 * stream came first) or out of rows to scan.
 */
export class FollowingScan {
  readonly seqs: { seq: number; text: boolean }[] = [];
  interrupted: number | null = null;
  scanned = 0;
  constructor(
    readonly head: { seq: number; connection: number; dir: string },
    readonly want: number,
  ) {}
  get done(): boolean {
    return this.seqs.length >= this.want || this.interrupted !== null || this.scanned >= SCAN_FRAMES;
  }
  push(rows: RowLite[]): void {
    for (const r of rows) {
      if (this.done) return;
      if (r.seq <= this.head.seq) continue;
      this.scanned++;
      if (!sameStream(r, this.head)) continue;
      if (r.opcode === 'continuation') continue; // the rest of a fragmented attachment
      if (r.opcode !== 'text' && r.opcode !== 'binary') continue; // control frames
      if (startsBinaryMessage(r)) this.seqs.push({ seq: r.seq, text: r.opcode === 'text' });
      else if (!isPingPong(r.preview)) this.interrupted = r.seq;
    }
  }
}

/** Where a binary message sits: attachment `index` (0-based) of `count` of the event `eventSeq`. */
export interface AttachmentOf {
  eventSeq: number;
  index: number;
  count: number;
  type: 5 | 6;
}

/**
 * Walks back from a binary message (rows nearest first): counts the binary messages of its
 * stream until a text data message; that one must declare more attachments than were counted.
 */
export function precedingEvent(rowsNearestFirst: RowLite[], self: { seq: number; connection: number; dir: string }): AttachmentOf | 'more' | null {
  let between = 0;
  for (const r of rowsNearestFirst) {
    if (r.seq >= self.seq || !sameStream(r, self)) continue;
    if (r.opcode === 'continuation' || (r.opcode !== 'text' && r.opcode !== 'binary')) continue;
    if (startsBinaryMessage(r)) {
      between++;
      if (between >= MAX_ATTACHMENTS) return null;
      continue;
    }
    if (isPingPong(r.preview)) continue;
    const d = declaredAttachments(r.preview);
    if (!d || between >= d.count) return null;
    return { eventSeq: r.seq, index: between, count: d.count, type: d.type };
  }
  return 'more';
}

/** The binary message `seq` belongs to, or null; reads at most SCAN_FRAMES rows back. */
export async function findEventOf(f: RelatedFetcher, self: { seq: number; connection: number; dir: string }): Promise<AttachmentOf | null> {
  const at = await f.indexOf(self.seq);
  let end = at; // rows before `at`, nearest first
  let looked = 0;
  while (end > 0 && looked < SCAN_FRAMES) {
    const start = Math.max(0, end - SCAN_PAGE);
    const rows = await f.page(start, end - start);
    if (rows.length === 0) return null;
    rows.reverse();
    const r = precedingEvent(rows, self);
    if (r !== 'more') return r;
    looked += end - start;
    end = start;
  }
  return null;
}

export interface AttachmentRef {
  index: number;
  seq: number;
  /** The attachment's bytes (without the v3 type byte); null when not loaded (over budget). */
  bytes: Uint8Array | null;
  size: number;
  error?: string;
}

export interface Attachments {
  /** The count the packet declares. */
  declared: number;
  /** Looked for (declared, capped at MAX_ATTACHMENTS). */
  wanted: number;
  found: AttachmentRef[];
  /** Engine.IO revision the attachments were read with. */
  version: 3 | 4;
  /** Why fewer than `wanted` were found. */
  missing: string | null;
}

/** The attachment inside a frame's message: v3 drops the type byte; base64 packets are decoded. */
export function attachmentBytes(raw: Uint8Array, text: boolean, version: 3 | 4): Uint8Array | string {
  if (text) {
    const s = new TextDecoder().decode(raw);
    const body = /^b[0-6]/.test(s) ? s.slice(2) : s.slice(1);
    return fromBase64(body) ?? 'not base64';
  }
  if (version === 3) {
    if (raw.length === 0 || raw[0] !== 4) return 'an Engine.IO v3 binary message starts with 0x04';
    return raw.subarray(1);
  }
  return raw;
}

/**
 * The attachments of the event `head` declaring `declared` of them: the next binary messages
 * of its connection and direction, read page by page, their bytes fetched within BYTES_BUDGET.
 * Engine.IO v3 or v4 from the URL; without one, v3 when every attachment starts with 0x04.
 */
export async function loadAttachments(
  f: RelatedFetcher,
  head: { seq: number; connection: number; dir: string },
  declared: number,
  url: string | null | undefined,
): Promise<Attachments> {
  const wanted = Math.max(0, Math.min(declared, MAX_ATTACHMENTS));
  const scan = new FollowingScan(head, wanted);
  let offset = (await f.indexOf(head.seq)) + 1;
  while (!scan.done) {
    const rows = await f.page(offset, SCAN_PAGE);
    if (rows.length === 0) break;
    scan.push(rows);
    offset += rows.length;
  }
  const raw: { seq: number; text: boolean; bytes: Uint8Array | null; size: number; error?: string }[] = [];
  let budget = BYTES_BUDGET;
  for (const s of scan.seqs) {
    if (budget <= 0) {
      raw.push({ ...s, bytes: null, size: -1 });
      continue;
    }
    try {
      const b = await f.message(s.seq);
      budget -= b.length;
      raw.push({ ...s, bytes: b, size: b.length });
    } catch (e) {
      raw.push({ ...s, bytes: null, size: -1, error: String((e as Error)?.message ?? e) });
    }
  }
  const binaries = raw.filter((r) => !r.text && r.bytes);
  const version: 3 | 4 =
    engineVersionOfUrl(url) ?? (binaries.length > 0 && binaries.every((r) => r.bytes!.length > 0 && r.bytes![0] === 4) ? 3 : 4);
  const found: AttachmentRef[] = raw.map((r, index) => {
    if (!r.bytes) return { index, seq: r.seq, bytes: null, size: r.size, error: r.error ?? 'not loaded: over the 64 MiB budget' };
    const b = attachmentBytes(r.bytes, r.text, version);
    if (typeof b === 'string') return { index, seq: r.seq, bytes: null, size: r.bytes.length, error: b };
    return { index, seq: r.seq, bytes: b, size: b.length };
  });
  let missing: string | null = null;
  if (found.length < wanted) {
    const why =
      scan.interrupted !== null
        ? `frame #${scan.interrupted} (a text message) came first`
        : scan.scanned >= SCAN_FRAMES
          ? `not within the next ${SCAN_FRAMES} frames`
          : 'not recorded (yet)';
    missing = `${wanted - found.length} of ${wanted} attachment${wanted === 1 ? '' : 's'} not found: ${why}`;
  }
  if (declared > wanted) {
    const more = `the packet declares ${declared} attachments; only the first ${MAX_ATTACHMENTS} are looked for`;
    missing = missing ? `${missing}; ${more}` : more;
  }
  return { declared, wanted, found, version, missing };
}

/** What replaces a placeholder in the stitched event. */
export interface StitchedAttachment extends Partial<BinaryPreview> {
  $attachment: number;
  seq?: number;
  missing?: string;
}

function isPlaceholder(v: unknown): v is { _placeholder: true; num: unknown } {
  return !!v && typeof v === 'object' && !Array.isArray(v) && (v as Record<string, unknown>)._placeholder === true && 'num' in (v as object);
}

/** Placeholder numbers in a value, in document order (at most 10,000, depth ≤ 256). */
export function placeholders(v: unknown): unknown[] {
  const out: unknown[] = [];
  const walk = (x: unknown, depth: number) => {
    if (out.length >= 10_000 || depth > 256 || !x || typeof x !== 'object') return;
    if (isPlaceholder(x)) {
      out.push(x.num);
      return;
    }
    for (const c of Array.isArray(x) ? x : Object.values(x)) walk(c, depth + 1);
  };
  walk(v, 0);
  return out;
}

/** The value with each placeholder replaced by its attachment (size and previews), or why it is missing. */
export function stitch(value: unknown, a: Attachments): unknown {
  const byIndex = new Map(a.found.map((r) => [r.index, r]));
  const replace = (num: unknown): StitchedAttachment => {
    if (typeof num !== 'number' || !Number.isInteger(num) || num < 0) return { $attachment: -1, missing: `bad placeholder num ${JSON.stringify(num)?.slice(0, 40)}` };
    if (num >= a.declared) return { $attachment: num, missing: `num ${num} is beyond the ${a.declared} attachment${a.declared === 1 ? '' : 's'} declared` };
    const r = byIndex.get(num);
    if (!r) return { $attachment: num, missing: num >= a.wanted ? `not looked for (over ${MAX_ATTACHMENTS})` : 'not found' };
    if (!r.bytes) return { $attachment: num, seq: r.seq, ...(r.size >= 0 ? { bytes: r.size } : {}), missing: r.error ?? 'not loaded' };
    return { $attachment: num, seq: r.seq, ...binaryPreview(r.bytes) };
  };
  const walk = (x: unknown, depth: number): unknown => {
    if (!x || typeof x !== 'object' || depth > 256) return x;
    if (isPlaceholder(x)) return replace(x.num);
    if (Array.isArray(x)) return x.map((c) => walk(c, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, c] of Object.entries(x)) out[k] = walk(c, depth + 1);
    return out;
  };
  return walk(value, 0);
}
