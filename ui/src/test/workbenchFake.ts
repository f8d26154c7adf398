// An in-memory WorkbenchApi for unit tests: links, history, templates, watches and demos
// behave like docs/ipc.md says; `emit` plays the shell's wb_subscribe stream.
import { vi } from 'vitest';
import { IpcError } from '../ipc/commands';
import type {
  ConnectSpec,
  DemoInfo,
  HistoryEntry,
  LiveConnection,
  OutgoingMsg,
  SendOnSaveInfo,
  Template,
  WorkbenchMsg,
} from '../ipc/types';
import type { WorkbenchApi } from '../ipc/workbench';

export function mkLink(id: number, over: Partial<LiveConnection> = {}): LiveConnection {
  return {
    id,
    session_id: 100 + id,
    connection_id: 1000 + id,
    url: `ws://127.0.0.1:${9000 + id}/`,
    target: `ws://127.0.0.1:${9000 + id}/`,
    state: 'open',
    insecure: false,
    subprotocol: null,
    created_at_us: 1_700_000_000_000_000,
    opened_at_us: 1_700_000_000_000_000,
    messages_sent: 0,
    messages_received: 0,
    bytes_sent: 0,
    bytes_received: 0,
    ping_interval_ms: null,
    rtt_ms: null,
    attempt: 0,
    attempts: [1000 + id],
    next_retry_at_us: null,
    error: null,
    ...over,
  };
}

export function fakeWorkbenchApi() {
  let onMsg: ((m: WorkbenchMsg) => void) | null = null;
  let nextLink = 1;
  let nextWatch = 1;
  let nextDemo = 1;
  const links: LiveConnection[] = [];
  const sent: { id: number; message: OutgoingMsg }[] = [];
  const history = new Map<string, HistoryEntry[]>();
  const templates: Template[] = [];
  const watches: SendOnSaveInfo[] = [];
  const demos: DemoInfo[] = [];
  const specs: ConnectSpec[] = [];
  const api: WorkbenchApi = {
    wbConnect: vi.fn(async (spec: ConnectSpec) => {
      if (!/^wss?:\/\//.test(spec.url)) throw new IpcError('wb_connect', 'command', `invalid URL: ${spec.url}`);
      specs.push(spec);
      const id = nextLink++;
      const l = mkLink(id, { url: spec.url, target: spec.url, state: 'connecting', session_id: spec.session_id ?? 100 + id });
      links.push(l);
      return l;
    }),
    wbSend: vi.fn(async (id: number, message: OutgoingMsg) => {
      const l = links.find((x) => x.id === id);
      if (!l || l.state !== 'open') throw new IpcError('wb_send', 'command', 'the connection is not open');
      sent.push({ id, message });
      return { len: 0, text: message.kind === 'text' ? message.text : null };
    }),
    wbClose: vi.fn(async () => {}),
    wbRemove: vi.fn(async (id: number) => {
      const i = links.findIndex((l) => l.id === id);
      if (i >= 0) links.splice(i, 1);
    }),
    wbList: vi.fn(async () => links.slice()),
    wbSubscribe: vi.fn(async (cb: (m: WorkbenchMsg) => void) => {
      onMsg = cb;
      cb({ kind: 'connections', connections: links.slice() });
      cb({ kind: 'templates', templates: templates.slice() });
      cb({ kind: 'demos', demos: demos.slice() });
      return { close: () => (onMsg = null) };
    }),
    wbHandshake: vi.fn(async () => {
      throw new IpcError('wb_handshake', 'command', 'not in this fake');
    }),
    historyGet: vi.fn(async (target: string) => (history.get(target) ?? []).slice().reverse()),
    historyAppend: vi.fn(async (target: string, mode: string, body: string) => {
      const list = history.get(target) ?? [];
      const last = list[list.length - 1];
      if (!last || last.body !== body || last.mode !== mode) list.push({ id: list.length + 1, ts_us: 0, mode, body });
      history.set(target, list);
    }),
    templatesList: vi.fn(async () => templates.slice()),
    templatesDir: vi.fn(async () => '/home/me/.local/share/sockscope/templates'),
    templateSave: vi.fn(async (name: string, mode: Template['mode'], body: string, previousName?: string) => {
      if (previousName !== undefined) {
        const i = templates.findIndex((t) => t.name === previousName);
        if (i >= 0) templates.splice(i, 1);
      }
      const ext = { text: 'txt', json: 'json', hex: 'hex', base64: 'b64' }[mode];
      const t: Template = { name, mode, body, path: `/t/${name}.${ext}`, updated_at_us: 1 };
      const j = templates.findIndex((x) => x.name === name);
      if (j >= 0) templates[j] = t;
      else templates.push(t);
      return t;
    }),
    templateDelete: vi.fn(async (name: string) => {
      const i = templates.findIndex((t) => t.name === name);
      if (i < 0) throw new IpcError('template_delete', 'command', `no template named ${name}`);
      templates.splice(i, 1);
    }),
    sendOnSaveStart: vi.fn(async (id, path, mode, expand) => {
      const w: SendOnSaveInfo = { watch_id: nextWatch++, link_id: id, path, mode, expand, debounce_ms: 200, sent: 0, last_error: null, active: true };
      watches.push(w);
      return w;
    }),
    sendOnSaveStop: vi.fn(async (watchId: number) => {
      const w = watches.find((x) => x.watch_id === watchId);
      if (w) w.active = false;
    }),
    sendOnSaveList: vi.fn(async () => watches.slice()),
    demoStart: vi.fn(async (kind) => {
      const id = nextDemo++;
      const d: DemoInfo = { id, kind, listen: `127.0.0.1:${7000 + id}`, url: `ws://127.0.0.1:${7000 + id}/`, rate: null };
      demos.push(d);
      return d;
    }),
    demoStop: vi.fn(async (id: number) => {
      const i = demos.findIndex((d) => d.id === id);
      if (i >= 0) demos.splice(i, 1);
    }),
    demoList: vi.fn(async () => demos.slice()),
  };
  return {
    api,
    links,
    sent,
    history,
    templates,
    watches,
    specs,
    /** Plays one message of the shell's stream. */
    emit(m: WorkbenchMsg) {
      onMsg?.(m);
    },
    /** Changes a link the way the shell would, and streams it. */
    update(id: number, patch: Partial<LiveConnection>) {
      const i = links.findIndex((l) => l.id === id);
      links[i] = { ...links[i], ...patch };
      onMsg?.({ kind: 'connection', connection: links[i] });
    },
  };
}
