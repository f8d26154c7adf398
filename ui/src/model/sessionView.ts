// The pure reducer that applies StreamMsg batches to one session's view model.
import type { ConnDigest, ConnectionInfo, FrameSummary, StreamMsg } from '../ipc/types';
import { digestFrames } from './live';

/** Rows of the newest frames an applied batch keeps at most (a screenful is ~40). */
export const BATCH_ROWS = 512;

export interface SessionView {
  readonly sessionId: number;
  /** Sorted by id; replaced (never mutated) when a connection changes. */
  connections: ConnectionInfo[];
  /** Highest seq applied so far (0 before any frame). */
  lastSeq: number;
  /** Frames applied per connection id. */
  readonly connFrames: Map<number, number>;
}

export interface ApplyResult {
  /**
   * The newest of the batch's new frames, in seq order (the timeline keeps them; the view
   * does not): all of them when the shell sent them all, else the last `frames.length` of
   * the `framesAdded` new frames (at most BATCH_ROWS).
   */
  frames: FrameSummary[];
  framesAdded: number;
  /** Digests of every new frame (statistics, per-connection counts). */
  digests: ConnDigest[];
  /** Frames dropped because their seq was not above `lastSeq` (a replayed backfill). */
  framesSkipped: number;
  connectionsChanged: boolean;
  /** Ids of connections this batch made known for the first time. */
  newConnections: number[];
}

export function createSessionView(sessionId: number, connections: ConnectionInfo[] = []): SessionView {
  let list: ConnectionInfo[] = [];
  for (const c of connections) if (c.session_id === sessionId) list = upsertConnection(list, c);
  return { sessionId, connections: list, lastSeq: 0, connFrames: new Map() };
}

/** Returns a new list with `conn` inserted or replacing the entry of the same id, sorted by id. */
export function upsertConnection(list: ConnectionInfo[], conn: ConnectionInfo): ConnectionInfo[] {
  const idx = list.findIndex((c) => c.id === conn.id);
  if (idx >= 0) {
    const next = list.slice();
    next[idx] = conn;
    return next;
  }
  const next = list.concat(conn);
  next.sort((a, b) => a.id - b.id);
  return next;
}

export function applyStreamMsgs(view: SessionView, msgs: readonly StreamMsg[]): ApplyResult {
  const res: ApplyResult = {
    frames: [],
    framesAdded: 0,
    digests: [],
    framesSkipped: 0,
    connectionsChanged: false,
    newConnections: [],
  };
  let conns = view.connections;
  for (const msg of msgs) {
    if (msg.kind === 'frames') {
      const frames = res.frames;
      const fresh: FrameSummary[] = [];
      let last = view.lastSeq;
      for (const f of msg.frames) {
        if (f.seq > last) {
          frames.push(f);
          fresh.push(f);
          view.connFrames.set(f.connection, (view.connFrames.get(f.connection) ?? 0) + 1);
          last = f.seq;
          res.framesAdded++;
        } else {
          res.framesSkipped++;
        }
      }
      if (fresh.length > 0) res.digests.push(...digestFrames(fresh));
      view.lastSeq = last;
    } else if (msg.kind === 'live') {
      const last = view.lastSeq;
      if (msg.count <= 0 || msg.last_seq <= last) {
        res.framesSkipped += Math.max(0, msg.count);
        continue;
      }
      // Seqs of a session are consecutive: an overlap (never seen in practice) is cut by seq.
      const fresh = msg.first_seq > last ? msg.count : Math.min(msg.count, msg.last_seq - last);
      res.framesSkipped += msg.count - fresh;
      const rows = msg.rows.filter((f) => f.seq > last);
      // The rows continue the previous ones only when this message left none out.
      if (rows.length < fresh) res.frames = rows;
      else res.frames.push(...rows);
      res.framesAdded += fresh;
      res.digests.push(...msg.conns);
      for (const d of msg.conns) {
        view.connFrames.set(d.connection, (view.connFrames.get(d.connection) ?? 0) + d.client.frames + d.server.frames);
      }
      view.lastSeq = msg.last_seq;
    } else if (msg.kind === 'connection') {
      const c = msg.connection;
      if (c.session_id !== view.sessionId) continue;
      if (!conns.some((x) => x.id === c.id)) res.newConnections.push(c.id);
      conns = upsertConnection(conns, c);
      res.connectionsChanged = true;
    }
  }
  view.connections = conns;
  if (res.frames.length > BATCH_ROWS) res.frames = res.frames.slice(-BATCH_ROWS);
  return res;
}

/** Index of the frame with `seq` (binary search: seqs are strictly increasing), or -1. */
export function findFrameIndex(frames: readonly FrameSummary[], seq: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = frames[mid].seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The connection the composer and Connect/Disconnect act on: the pinned one, else the newest. */
export function currentConnection(
  connections: readonly ConnectionInfo[],
  pinnedId: number | null,
): ConnectionInfo | null {
  if (pinnedId !== null) {
    const c = connections.find((x) => x.id === pinnedId);
    if (c) return c;
  }
  return connections.length ? connections[connections.length - 1] : null;
}

export function isLive(c: ConnectionInfo | null): boolean {
  return c !== null && (c.state === 'connecting' || c.state === 'open');
}
