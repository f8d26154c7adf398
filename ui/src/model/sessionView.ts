// The pure reducer that applies StreamMsg batches to one session's view model.
import type { ConnectionInfo, FrameSummary, StreamMsg } from '../ipc/types';

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
  /** The new frames of the batch, in seq order (the timeline keeps them; the view does not). */
  frames: FrameSummary[];
  framesAdded: number;
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
    framesSkipped: 0,
    connectionsChanged: false,
    newConnections: [],
  };
  let conns = view.connections;
  for (const msg of msgs) {
    if (msg.kind === 'frames') {
      const frames = res.frames;
      let last = view.lastSeq;
      for (const f of msg.frames) {
        if (f.seq > last) {
          frames.push(f);
          view.connFrames.set(f.connection, (view.connFrames.get(f.connection) ?? 0) + 1);
          last = f.seq;
          res.framesAdded++;
        } else {
          res.framesSkipped++;
        }
      }
      view.lastSeq = last;
    } else if (msg.kind === 'connection') {
      const c = msg.connection;
      if (c.session_id !== view.sessionId) continue;
      if (!conns.some((x) => x.id === c.id)) res.newConnections.push(c.id);
      conns = upsertConnection(conns, c);
      res.connectionsChanged = true;
    }
  }
  view.connections = conns;
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
