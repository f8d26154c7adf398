// Typed wrappers around the Workbench commands of docs/ipc.md ("Workbench").
import { Channel } from '@tauri-apps/api/core';
import { call, toIpcError, type Subscription } from './commands';
import type {
  ConnectSpec,
  DemoInfo,
  DemoKind,
  HandshakeInfo,
  HistoryEntry,
  LiveConnection,
  OutgoingMsg,
  SendOnSaveInfo,
  SendResult,
  Template,
  TemplateMode,
  WorkbenchMsg,
} from './types';

export interface WorkbenchApi {
  wbConnect(spec: ConnectSpec): Promise<LiveConnection>;
  wbSend(id: number, message: OutgoingMsg): Promise<SendResult>;
  wbClose(id: number, code?: number, reason?: string): Promise<void>;
  wbRemove(id: number): Promise<void>;
  wbList(): Promise<LiveConnection[]>;
  wbSubscribe(onMsg: (msg: WorkbenchMsg) => void): Promise<Subscription>;
  wbHandshake(connectionId: number): Promise<HandshakeInfo>;
  historyGet(target: string, limit?: number): Promise<HistoryEntry[]>;
  historyAppend(target: string, mode: string, body: string): Promise<void>;
  templatesList(): Promise<Template[]>;
  templatesDir(): Promise<string>;
  templateSave(name: string, mode: TemplateMode, body: string, previousName?: string): Promise<Template>;
  templateDelete(name: string): Promise<void>;
  sendOnSaveStart(id: number, path: string, mode: 'text' | 'binary', expand: boolean): Promise<SendOnSaveInfo>;
  sendOnSaveStop(watchId: number): Promise<void>;
  sendOnSaveList(): Promise<SendOnSaveInfo[]>;
  demoStart(kind: DemoKind, rate?: number): Promise<DemoInfo>;
  demoStop(id: number): Promise<void>;
  demoList(): Promise<DemoInfo[]>;
}

export const workbenchApi: WorkbenchApi = {
  wbConnect: (spec) => call<LiveConnection>('wb_connect', { spec }),
  wbSend: (id, message) => call<SendResult>('wb_send', { id, message }),
  async wbClose(id, code, reason) {
    const args: Record<string, unknown> = { id };
    if (code !== undefined) args.code = code;
    if (reason !== undefined) args.reason = reason;
    await call<null>('wb_close', args);
  },
  async wbRemove(id) {
    await call<null>('wb_remove', { id });
  },
  wbList: () => call<LiveConnection[]>('wb_list'),
  async wbSubscribe(onMsg) {
    let active = true;
    let channel: Channel<WorkbenchMsg>;
    try {
      channel = new Channel<WorkbenchMsg>((msg) => {
        if (active) onMsg(msg);
      });
    } catch (err) {
      throw toIpcError('wb_subscribe', err);
    }
    await call<null>('wb_subscribe', { channel });
    return {
      close() {
        active = false;
        channel.onmessage = () => {};
      },
    };
  },
  wbHandshake: (connectionId) => call<HandshakeInfo>('wb_handshake', { connectionId }),
  historyGet: (target, limit) => call<HistoryEntry[]>('history_get', limit === undefined ? { target } : { target, limit }),
  async historyAppend(target, mode, body) {
    await call<null>('history_append', { target, mode, body });
  },
  templatesList: () => call<Template[]>('templates_list'),
  templatesDir: () => call<string>('templates_dir'),
  templateSave: (name, mode, body, previousName) =>
    call<Template>('template_save', previousName === undefined ? { name, mode, body } : { name, mode, body, previousName }),
  async templateDelete(name) {
    await call<null>('template_delete', { name });
  },
  sendOnSaveStart: (id, path, mode, expand) => call<SendOnSaveInfo>('send_on_save_start', { id, path, mode, expand }),
  async sendOnSaveStop(watchId) {
    await call<null>('send_on_save_stop', { watchId });
  },
  sendOnSaveList: () => call<SendOnSaveInfo[]>('send_on_save_list'),
  demoStart: (kind, rate) => call<DemoInfo>('demo_start', rate === undefined ? { kind } : { kind, rate }),
  async demoStop(id) {
    await call<null>('demo_stop', { id });
  },
  demoList: () => call<DemoInfo[]>('demo_list'),
};
