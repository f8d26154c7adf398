// Typed wrappers around every command of docs/ipc.md. Nothing else in the UI
// calls `invoke` directly.
import { Channel, invoke } from '@tauri-apps/api/core';
import type {
  CaInfo,
  ConnectionInfo,
  DiffView,
  FrameFilter,
  QueryCount,
  RowIndex,
  TimelineRow,
  ExportFormat,
  ImportSummary,
  InjectOpcode,
  InjectToward,
  MockInfo,
  ProxyInfo,
  ReplayPlan,
  ReplayProgressMsg,
  ReplayStarted,
  SearchHit,
  SessionSort,
  SessionSummary,
  StartMockArgs,
  StartReplayArgs,
  StorageInfo,
  StorageStatus,
  StreamMsg,
} from './types';

/**
 * Why a command failed:
 * - `command`: the shell rejected it (the contract rejects with a string, e.g. a bad URL);
 * - `unavailable`: there is no Tauri IPC at all (the page runs in a plain browser).
 */
export type IpcErrorKind = 'command' | 'unavailable';

export class IpcError extends Error {
  readonly kind: IpcErrorKind;
  readonly command: string;
  constructor(command: string, kind: IpcErrorKind, message: string) {
    super(message);
    this.name = 'IpcError';
    this.kind = kind;
    this.command = command;
  }
}

/** Turns whatever a rejected invoke produced into an IpcError with readable text. */
export function toIpcError(command: string, err: unknown): IpcError {
  if (err instanceof IpcError) return err;
  if (typeof err === 'string') return new IpcError(command, 'command', err);
  // A TypeError/ReferenceError thrown by @tauri-apps/api means the Tauri
  // internals are missing: we are not inside the desktop shell.
  if (err instanceof TypeError || err instanceof ReferenceError) {
    return new IpcError(
      command,
      'unavailable',
      'The Sockscope backend is not reachable: this page must run inside the Sockscope desktop app.',
    );
  }
  if (err instanceof Error) return new IpcError(command, 'command', err.message || String(err));
  if (err && typeof err === 'object' && 'message' in err && typeof err.message === 'string') {
    return new IpcError(command, 'command', err.message);
  }
  let text: string;
  try {
    text = JSON.stringify(err);
  } catch {
    text = String(err);
  }
  return new IpcError(command, 'command', text === undefined ? String(err) : text);
}

export async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (err) {
    throw toIpcError(command, err);
  }
}

/**
 * An HTTP header value carrying `text`: IPC requests travel with headers, which take
 * printable ASCII only (anything else makes the request fail before it is sent), so other
 * characters are replaced by "_". The shell keeps only the file name's last component.
 */
export function headerSafe(text: string): string {
  const out = text.replace(/[^\x20-\x7e]/g, '_').trim();
  return out || 'import';
}

export function listSessions(): Promise<SessionSummary[]> {
  return call<SessionSummary[]>('list_sessions');
}

export function listConnections(sessionId: number): Promise<ConnectionInfo[]> {
  return call<ConnectionInfo[]>('list_connections', { sessionId });
}

/** Without `sessionId` the shell makes a new client session. */
export function connect(url: string, sessionId?: number | null): Promise<ConnectionInfo> {
  const args: Record<string, unknown> = { url };
  if (sessionId !== undefined) args.sessionId = sessionId;
  return call<ConnectionInfo>('connect', args);
}

export async function sendText(connectionId: number, text: string): Promise<void> {
  await call<null>('send_text', { connectionId, text });
}

export async function disconnect(connectionId: number): Promise<void> {
  await call<null>('disconnect', { connectionId });
}

export interface PayloadOptions {
  /**
   * true: the inflated permessage-deflate message this frame completed (the wire payload
   * when there is none); false or absent: the wire payload.
   */
  inflated?: boolean;
}

/** Raw payload bytes of one frame (a `tauri::ipc::Response` arrives as an ArrayBuffer). */
export async function getPayload(sessionId: number, seq: number, opts: PayloadOptions = {}): Promise<Uint8Array> {
  const args: Record<string, unknown> = { sessionId, seq };
  if (opts.inflated !== undefined) args.inflated = opts.inflated;
  const raw = await call<unknown>('get_payload', args);
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  // Tolerate a JSON byte array (what a Vec<u8> serialises to) rather than failing.
  if (Array.isArray(raw)) return Uint8Array.from(raw as number[]);
  throw new IpcError('get_payload', 'command', 'get_payload returned no bytes');
}

export interface Subscription {
  /** Stops delivering messages to `onMsg` (the shell replaces the subscription on the next call). */
  close(): void;
}

/**
 * Subscribes the window to one session: the shell first sends every connection,
 * then backfills frames with `seq > afterSeq`, then streams live batches.
 * Resolves once the shell accepted the subscription.
 */
export async function subscribeSession(
  sessionId: number,
  afterSeq: number,
  onMsg: (msg: StreamMsg) => void,
): Promise<Subscription> {
  let active = true;
  let channel: Channel<StreamMsg>;
  try {
    channel = new Channel<StreamMsg>((msg) => {
      if (active) onMsg(msg);
    });
  } catch (err) {
    throw toIpcError('subscribe_session', err);
  }
  const sub: Subscription = {
    close() {
      active = false;
      channel.onmessage = () => {};
    },
  };
  try {
    await call<null>('subscribe_session', { sessionId, afterSeq, channel });
  } catch (err) {
    sub.close();
    throw err;
  }
  return sub;
}

// Capture proxy

/** Starts a capture listener; without `upstream` (null or empty) it is a forward HTTP proxy. */
export function startProxy(listen: string, upstream?: string | null): Promise<ProxyInfo> {
  return call<ProxyInfo>('start_proxy', { listen, upstream: upstream ?? null });
}

export async function stopProxy(sessionId: number): Promise<void> {
  await call<null>('stop_proxy', { sessionId });
}

/** Listeners running in this app process. */
export function listProxies(): Promise<ProxyInfo[]> {
  return call<ProxyInfo[]>('list_proxies');
}

/** Injects a text message into a live proxied connection, between whole messages. */
export async function injectText(
  sessionId: number,
  connectionId: number,
  toward: InjectToward,
  text: string,
): Promise<void> {
  await call<null>('inject_text', { sessionId, connectionId, toward, text });
}

/**
 * Injects one frame of any kind into a live proxied connection. The payload travels as
 * base64; control frames (ping, pong, close) carry at most 125 bytes, a close payload
 * being the 2-byte big-endian code, then the reason.
 */
export async function injectFrame(
  sessionId: number,
  connectionId: number,
  toward: InjectToward,
  opcode: InjectOpcode,
  payloadBase64: string,
): Promise<void> {
  await call<null>('inject_frame', { sessionId, connectionId, toward, opcode, payloadBase64 });
}

/** The local CA (made on first use): where it is stored, its names and its certificate. */
export function caInfo(): Promise<CaInfo> {
  return call<CaInfo>('ca_info');
}

/** Replaces the local CA; running forward listeners keep the old one until restarted. */
export function caRegenerate(): Promise<CaInfo> {
  return call<CaInfo>('ca_regenerate');
}

// Sessions: organise, search, import, export

/** Sessions, pinned first, then newest (date) or largest (size) first. */
export function listSessionsSorted(sort: SessionSort): Promise<SessionSummary[]> {
  return call<SessionSummary[]>('list_sessions_sorted', { sort });
}

export async function renameSession(sessionId: number, name: string): Promise<void> {
  await call<null>('rename_session', { sessionId, name });
}

export async function setSessionNotes(sessionId: number, notes: string): Promise<void> {
  await call<null>('set_session_notes', { sessionId, notes });
}

export async function setSessionTags(sessionId: number, tags: string[]): Promise<void> {
  await call<null>('set_session_tags', { sessionId, tags });
}

export async function setSessionPinned(sessionId: number, pinned: boolean): Promise<void> {
  await call<null>('set_session_pinned', { sessionId, pinned });
}

/** Deletes a session with its connections and frames (a listener recording into it stops first). */
export async function deleteSession(sessionId: number): Promise<void> {
  await call<null>('delete_session', { sessionId });
}

/** Set when the database was found damaged at start: where the old file went. */
export function storeNotice(): Promise<string | null> {
  return call<string | null>('store_notice');
}

/** The store writer's state: writing, or paused (disk full, size limit) with frames waiting. */
export function storageStatus(): Promise<StorageStatus> {
  return call<StorageStatus>('storage_status');
}

/** Sets the database size limit for this run, in MB (null or 0: none). */
export function setDbSizeLimit(mb: number | null): Promise<StorageStatus> {
  return call<StorageStatus>('set_db_size_limit', { mb });
}

export function storageInfo(): Promise<StorageInfo> {
  return call<StorageInfo>('storage_info');
}

/** Full-text search over every session's text payloads, newest first. */
export function searchPayloads(query: string, limit?: number): Promise<SearchHit[]> {
  const args: Record<string, unknown> = { query };
  if (limit !== undefined) args.limit = limit;
  return call<SearchHit[]>('search_payloads', args);
}

/**
 * Imports a JSONL or HAR file: the bytes are the raw request body, the file's name
 * travels in the `x-file-name` header. Nothing is written unless the whole file is valid.
 */
export async function importData(bytes: Uint8Array, fileName: string): Promise<ImportSummary> {
  try {
    return await invoke<ImportSummary>('import_data', bytes, {
      headers: { 'x-file-name': headerSafe(fileName) },
    });
  } catch (err) {
    throw toIpcError('import_data', err);
  }
}

/** Writes the session as JSONL or HAR (into Downloads unless `dir` is given); returns the file's path. */
export function exportSession(sessionId: number, format: ExportFormat, dir?: string): Promise<string> {
  const args: Record<string, unknown> = { sessionId, format };
  if (dir !== undefined) args.dir = dir;
  return call<string>('export_session', args);
}

// Replay, mock, diff

/** What a replay of a connection (default: the session's first) would send, and where. */
export function replayPlan(sessionId: number, connectionId?: number | null): Promise<ReplayPlan> {
  const args: Record<string, unknown> = { sessionId };
  if (connectionId != null) args.connectionId = connectionId;
  return call<ReplayPlan>('replay_plan', args);
}

/** True for ws(s) URLs whose host is loopback (no confirmation needed). */
export function urlIsLoopback(url: string): Promise<boolean> {
  return call<boolean>('url_is_loopback', { url });
}

/**
 * Starts a replay into a new session; its progress arrives through `onProgress` until it
 * ends (finished, stopped or failed). Resolves once the replay's session and connection exist.
 */
export async function startReplay(
  args: StartReplayArgs,
  onProgress: (msg: ReplayProgressMsg) => void,
): Promise<ReplayStarted> {
  let progress: Channel<ReplayProgressMsg>;
  try {
    progress = new Channel<ReplayProgressMsg>(onProgress);
  } catch (err) {
    throw toIpcError('start_replay', err);
  }
  const payload: Record<string, unknown> = {
    sessionId: args.sessionId,
    url: args.url,
    mode: args.mode,
    confirmedRemote: args.confirmedRemote,
    progress,
  };
  if (args.connectionId != null) payload.connectionId = args.connectionId;
  if (args.speed !== undefined) payload.speed = args.speed;
  if (args.timeoutSecs !== undefined) payload.timeoutSecs = args.timeoutSecs;
  if (args.headers !== undefined) payload.headers = args.headers;
  return call<ReplayStarted>('start_replay', payload);
}

/** Stops the replay recording into `sessionId` (the replay's session). */
export async function stopReplay(sessionId: number): Promise<void> {
  await call<null>('stop_replay', { sessionId });
}

/** Starts a WebSocket server playing the recorded server side to every client. */
export function startMock(args: StartMockArgs): Promise<MockInfo> {
  const payload: Record<string, unknown> = { sessionId: args.sessionId, listen: args.listen, mode: args.mode };
  if (args.connectionId != null) payload.connectionId = args.connectionId;
  if (args.speed !== undefined) payload.speed = args.speed;
  return call<MockInfo>('start_mock', payload);
}

/** Stops the mock recording into `sessionId` (the mock's session). */
export async function stopMock(sessionId: number): Promise<void> {
  await call<null>('stop_mock', { sessionId });
}

export function listMocks(): Promise<MockInfo[]> {
  return call<MockInfo[]>('list_mocks');
}

/** Side-by-side comparison of two connections' data messages, leaving out `ignore` keys or paths. */
export function diffConnections(left: number, right: number, ignore: string[]): Promise<DiffView> {
  return call<DiffView>('diff_connections', { left, right, ignore });
}

// Timeline paging

/** How many frames match `filter` so far; scans on for about `budgetMs`. */
export function timelineCount(sessionId: number, filter: FrameFilter, budgetMs?: number): Promise<QueryCount> {
  const args: Record<string, unknown> = { sessionId, filter };
  if (budgetMs !== undefined) args.budgetMs = budgetMs;
  return call<QueryCount>('timeline_count', args);
}

/** Rows `offset..offset + limit` of the filtered list. */
export function timelinePage(sessionId: number, filter: FrameFilter, offset: number, limit: number): Promise<TimelineRow[]> {
  return call<TimelineRow[]>('timeline_page', { sessionId, filter, offset, limit });
}

/** The row of frame `seq` in the filtered list (or of the first row after it). */
export function timelineIndexOf(sessionId: number, filter: FrameFilter, seq: number): Promise<RowIndex> {
  return call<RowIndex>('timeline_index_of', { sessionId, filter, seq });
}

/** Frames per connection of a session with `seq <= maxSeq`, as `[connectionId, frames]` pairs. */
export function connectionFrameCounts(sessionId: number, maxSeq: number): Promise<[number, number][]> {
  return call<[number, number][]>('connection_frame_counts', { sessionId, maxSeq });
}

/** The message starting at `seq`: it and its continuation frames up to FIN, with the
 * filter's highlights in their previews. */
export function messageFragments(sessionId: number, seq: number, filter: FrameFilter = {}): Promise<TimelineRow[]> {
  return call<TimelineRow[]>('message_fragments', { sessionId, seq, filter });
}
