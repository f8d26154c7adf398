// Wire types of docs/ipc.md. Field names are snake_case on the wire; command
// arguments are camelCase. Keep this file in lock-step with the document.

export type SessionKind = 'client' | 'proxy' | 'replay';

export interface SessionSummary {
  id: number;
  name: string;
  kind: SessionKind;
  /** RFC 3339 UTC, e.g. "2026-11-26T15:20:13.123Z" */
  created_at: string;
  connections: number;
  frames: number;
  /** Some connection went to an upstream whose certificate was not verified. */
  insecure: boolean;
  /** Pinned sessions come first in sorted lists. */
  pinned: boolean;
  tags: string[];
  notes: string;
  /** The session this one was made from (a replay's or mock's original), if it still exists. */
  origin_session_id: number | null;
  origin_connection_id: number | null;
  /** File name the session was imported from. */
  imported_from: string | null;
  /** Sum of the frames' payload lengths on the wire. */
  bytes: number;
}

export type ConnState = 'connecting' | 'open' | 'closed' | 'failed';
export type ClosedBy = 'client' | 'server' | 'error';

export interface ConnectionInfo {
  id: number;
  session_id: number;
  url: string;
  state: ConnState;
  /** unix µs when the handshake completed */
  opened_at_us: number | null;
  closed_at_us: number | null;
  close_code: number | null;
  close_reason: string | null;
  closed_by: ClosedBy | null;
  /** failure text for state "failed" (e.g. "connection refused") */
  error: string | null;
  response_status: number | null;
  /** The handshake as sent and received (headers in order, as on the wire). */
  request_headers?: [string, string][];
  response_headers?: [string, string][];
  subprotocol?: string | null;
  created_at_us?: number;
  /** the upstream's certificate was not verified */
  insecure?: boolean;
}

/** client = client-to-server (sent), server = server-to-client (received) */
export type Dir = 'client' | 'server';
export type Opcode = 'text' | 'binary' | 'continuation' | 'ping' | 'pong' | 'close';

export interface FrameSummary {
  /** per session, strictly increasing, assigned at commit */
  seq: number;
  connection: number;
  ts_us: number;
  dir: Dir;
  opcode: Opcode;
  fin: boolean;
  rsv1: boolean;
  len: number;
  injected: boolean;
  /** The frame carried a masking key. */
  masked: boolean;
  /** Only the start of the payload was recorded. */
  truncated: boolean;
  /** The observer found something illegal; `note` says what. */
  invalid: boolean;
  note: string | null;
  /** Size of the inflated message (permessage-deflate) completed by this frame. */
  inflated_len: number | null;
  /**
   * <= 256 chars: text for valid UTF-8, else hex bytes "0a 1b …" — of the
   * inflated message when there is one.
   */
  preview: string;
  close_code: number | null;
  close_reason: string | null;
  /** Intercept: held at a breakpoint, Sockscope's edited version, never forwarded, replaced. */
  held?: boolean;
  edited?: boolean;
  dropped?: boolean;
  replaced?: boolean;
}

/** Frames and bytes of one direction. */
export interface DigestCounts {
  frames: number;
  bytes: number;
}

/** What the live counters and statistics need about one connection's frames of a batch. */
export interface ConnDigest {
  connection: number;
  client: DigestCounts;
  server: DigestCounts;
  text: number;
  binary: number;
  continuation: number;
  /** Control frames and reserved opcodes. */
  control: number;
  max_len: number;
  first_us: number;
  last_us: number;
  /** Frames per payload size class (the classes of `session_stats`), [client, server]. */
  sizes: [number, number][];
  /** Per millisecond with frames, in time order: [unix ms, client frames, client bytes, server frames, server bytes]. */
  ticks: [number, number, number, number, number][];
}

/**
 * Frames committed since the previous batch (at most one such message every 32 ms): how
 * many, the newest rows (at most 128; the timeline pages the others from the database) and
 * a digest per connection.
 */
export interface LiveBatch {
  /** Every seq in first_seq..=last_seq of the session. */
  count: number;
  first_seq: number;
  last_seq: number;
  /** The newest frames of the batch, in seq order, the last one `last_seq`. */
  rows: FrameSummary[];
  /** Per connection, in id order. */
  conns: ConnDigest[];
}

export type StreamMsg =
  | ({ kind: 'live' } & LiveBatch)
  /** Every frame of a batch (older shells; the mock shell of the UI tests). */
  | { kind: 'frames'; frames: FrameSummary[] }
  | { kind: 'connection'; connection: ConnectionInfo };

// Timeline paging (docs/ipc.md, "Timeline")

/** What the timeline shows; given conditions combine (AND). */
export interface FrameFilter {
  connection?: number;
  dir?: Dir;
  opcodes?: Opcode[];
  text?: { pattern: string; regex?: boolean; case_sensitive?: boolean };
  fts?: string;
  min_size?: number;
  max_size?: number;
  from_us?: number;
  to_us?: number;
  json?: string;
  messages?: boolean;
}

/** A page row: the frame and where the filter matched in its preview (UTF-16 [start, end)). */
export interface TimelineRow extends FrameSummary {
  marks: [number, number][];
  /** Grouped by message: the filter's text matched this message in a later fragment only. */
  hidden_hit?: boolean;
}

export interface QueryCount {
  count: number;
  complete: boolean;
  scanned_seq: number;
  last_seq: number;
}

export interface RowIndex {
  index: number;
  exact: boolean;
}

// Capture proxy

export interface ProxyInfo {
  /** the capture session this listener records into (kind "proxy") */
  session_id: number;
  /** address actually bound, e.g. "127.0.0.1:8080" */
  listen: string;
  /** reverse mode's ws[s]:// upstream; null = forward proxy mode */
  upstream: string | null;
  /** forward mode: SHA-256 of the local CA certificate */
  ca_fingerprint: string | null;
}

/** Where an injected message goes: to the server (as if the client sent it) or to the client. */
export type InjectToward = 'server' | 'client';

/** The opcodes inject_frame takes (a close payload is the 2-byte code, then the reason). */
export type InjectOpcode = 'text' | 'binary' | 'ping' | 'pong' | 'close';

/** The local CA (`ca_info`, `ca_regenerate`); its key never crosses IPC. */
export interface CaInfo {
  /** Where the certificate (PEM) is stored. */
  path: string;
  /** e.g. "Sockscope Local CA (1a2b3c4d)" */
  common_name: string;
  /** SHA-256 of the certificate (DER), upper-case hex pairs joined by ":" */
  fingerprint: string;
  /** base64(SHA-256(SubjectPublicKeyInfo)), for Chromium's --ignore-certificate-errors-spki-list */
  spki_sha256: string;
  /** The certificate, PEM */
  pem: string;
}

// Sessions: organise, search, import, export

export type SessionSort = 'date' | 'size';

export interface SearchHit {
  session: number;
  seq: number;
  connection: number;
  ts_us: number;
  /** Plain text around the first match (control characters replaced by spaces; "…" marks a cut). */
  snippet: string;
}

export type ImportFormat = 'jsonl' | 'har';

export interface ImportSummary {
  /** The new session. */
  session: number;
  format: ImportFormat;
  connections: number;
  frames: number;
}

export type ExportFormat = 'jsonl' | 'har';

/** `storage_info`: space used by the database file. */
export interface StorageInfo {
  page_size: number;
  page_count: number;
  /** Pages free inside the file. */
  free_pages: number;
  incremental_vacuum: boolean;
}

/** Why capture is paused (`storage_status`). */
export type PauseCause = 'disk_full' | 'size_limit' | 'io' | 'locked';

/** How the last pause ended: the frames waiting at the resume and how many are written. */
export interface StorageResumed {
  /** 1 for the first pause since the app started, 2 for the next… */
  pause: number;
  paused_at_us: number;
  resumed_at_us: number;
  cause: PauseCause;
  backlog_frames: number;
  written_frames: number;
  /** Every frame that was waiting is written. */
  done: boolean;
}

interface StorageCommon {
  /** The database file. */
  path: string;
  /** The size limit in bytes (null: none). */
  limit_bytes: number | null;
  /** The file's size in bytes as the writer last saw it (kept while a limit is set). */
  file_bytes: number;
  last_resume: StorageResumed | null;
  /** SQLite reported damage while the file was in use (checked in full at the next start). */
  damage: string | null;
}

/** `storage_status`: the store writer's state. */
export type StorageStatus =
  | (StorageCommon & { state: 'ok' })
  | (StorageCommon & {
      state: 'paused';
      since_us: number;
      cause: PauseCause;
      /** SQLite's error text. */
      error: string;
      /** Frames queued and not yet written (they are kept, never dropped). */
      pending_frames: number;
    });

// Replay, mock, diff

export interface ReplayPlan {
  origin_session_id: number;
  origin_connection_id: number;
  url: string;
  url_is_loopback: boolean;
  /** The recorded handshake headers the replay sends (editable). */
  headers: [string, string][];
  subprotocols: string[];
  /** Messages the replay sends (the client's recorded messages). */
  client_messages: number;
  server_messages: number;
}

export type ReplayMode = 'timed' | 'max' | 'conversational';
export type ReplayRunState = 'connecting' | 'running' | 'closing' | 'finished' | 'stopped' | 'failed';

export interface ReplayProgressMsg {
  sent: number;
  total: number;
  received: number;
  state: ReplayRunState;
  error: string | null;
}

export interface ReplayStarted {
  /** The replay's new session (kind "replay"). */
  session_id: number;
  connection_id: number;
  total: number;
}

export interface StartReplayArgs {
  sessionId: number;
  connectionId?: number | null;
  url: string;
  mode: ReplayMode;
  /** Timed mode: 0.1–100. */
  speed?: number;
  /** Conversational mode (default 10). */
  timeoutSecs?: number;
  headers?: [string, string][];
  confirmedRemote: boolean;
}

export type MockMode = 'timed' | 'conversational';

export interface MockInfo {
  /** The session recording the mock's client connections. */
  session_id: number;
  origin_session_id: number;
  listen: string;
  /** ws://ADDR:PORT/ */
  url: string;
  mode: MockMode;
}

export interface StartMockArgs {
  sessionId: number;
  connectionId?: number | null;
  listen: string;
  mode: MockMode;
  speed?: number;
}

export type DiffStatus = 'identical' | 'changed' | 'missing' | 'extra';
export type ChangeKind = 'changed' | 'added' | 'removed';

export interface PathChange {
  /** e.g. "$.data[3].price" */
  path: string;
  kind: ChangeKind;
  /** Compact JSON, cut. */
  left: string | null;
  right: string | null;
}

export interface DiffSide {
  seq: number;
  ts_us: number;
  opcode: string;
  preview: string;
}

export interface DiffRow {
  dir: Dir;
  status: DiffStatus;
  /** Both sides are JSON and were compared structurally. */
  json: boolean;
  changes: PathChange[];
  left: DiffSide | null;
  right: DiffSide | null;
}

export interface DiffSummary {
  identical: number;
  changed: number;
  missing: number;
  extra: number;
  left_messages: number;
  right_messages: number;
}

export interface DiffView {
  summary: DiffSummary;
  rows: DiffRow[];
}

// Workbench (docs/ipc.md, "Workbench"): managed client connections ("links"), the composer's
// sends, handshake details, history, templates, send on save and demo servers.

/** A key/value row of the query or headers table; disabled rows are ignored. */
export interface KeyValue {
  name: string;
  value: string;
  enabled: boolean;
}
export type Auth =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string };
export interface TlsSpec {
  ca_file: string | null;
  client_cert: string | null;
  client_key: string | null;
  pkcs12_file: string | null;
  pkcs12_password: string | null;
  insecure: boolean;
}
export interface LimitsSpec {
  max_message_size?: number;
  max_frame_size?: number;
  handshake_timeout_ms?: number;
}
export interface ReconnectSpec {
  enabled: boolean;
  max_attempts?: number;
  initial_delay_ms?: number;
  max_delay_ms?: number;
}
export interface ConnectSpec {
  url: string;
  query?: KeyValue[];
  headers?: KeyValue[];
  subprotocols?: string[];
  origin?: string | null;
  auth?: Auth;
  tls?: TlsSpec;
  limits?: LimitsSpec;
  reconnect?: ReconnectSpec;
  ping_interval_ms?: number | null;
  session_id?: number | null;
}
export type LinkState = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'failed';
export interface LiveConnection {
  id: number;
  session_id: number;
  connection_id: number;
  url: string;
  target: string;
  state: LinkState;
  insecure: boolean;
  subprotocol: string | null;
  created_at_us: number;
  opened_at_us: number | null;
  messages_sent: number;
  messages_received: number;
  bytes_sent: number;
  bytes_received: number;
  ping_interval_ms: number | null;
  rtt_ms: number | null;
  attempt: number;
  attempts: number[];
  next_retry_at_us: number | null;
  error: string | null;
}
export type OutgoingMsg =
  | { kind: 'text'; text: string; expand?: boolean }
  | { kind: 'binary'; base64: string }
  | { kind: 'ping'; base64: string }
  | { kind: 'close'; code: number; reason: string };
export interface SendResult {
  len: number;
  text: string | null;
}
export interface AcceptCheck {
  key: string;
  guid: string;
  concatenated: string;
  sha1_hex: string;
  expected: string;
  received: string | null;
  ok: boolean;
}
export interface HandshakeInfo {
  connection_id: number;
  url: string;
  request_line: string;
  request_headers: [string, string][];
  response_status: number | null;
  response_reason: string | null;
  response_headers: [string, string][];
  response_body: string | null;
  response_body_truncated: boolean;
  subprotocols_offered: string[];
  subprotocol: string | null;
  extensions: string | null;
  time_to_open_ms: number | null;
  accept: AcceptCheck | null;
  insecure: boolean;
  error: string | null;
}
export type TemplateMode = 'text' | 'json' | 'hex' | 'base64';
export interface Template {
  name: string;
  mode: TemplateMode;
  body: string;
  path: string;
  updated_at_us: number;
}
export interface HistoryEntry {
  id: number;
  ts_us: number;
  mode: string;
  body: string;
}
export interface SendOnSaveInfo {
  watch_id: number;
  link_id: number;
  path: string;
  mode: 'text' | 'binary';
  expand: boolean;
  debounce_ms: number;
  sent: number;
  last_error: string | null;
  active: boolean;
}
export type DemoKind = 'echo' | 'chat' | 'ticker' | 'telemetry' | 'notifications';
export interface DemoInfo {
  id: number;
  kind: DemoKind;
  listen: string;
  url: string;
  rate: number | null;
}
export type WorkbenchMsg =
  | { kind: 'connections'; connections: LiveConnection[] }
  | { kind: 'connection'; connection: LiveConnection }
  | { kind: 'removed'; id: number }
  | { kind: 'templates'; templates: Template[] }
  | { kind: 'send_on_save'; watch: SendOnSaveInfo }
  | { kind: 'demos'; demos: DemoInfo[] };
