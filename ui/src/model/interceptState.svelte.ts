// The Intercept panel's state: saved rules, the queue of held messages (live over a
// Channel), the selected message's editor, and the actions on it. Every IPC call goes
// through `InterceptApi` so the flows can be unit-tested.
import { Channel } from '@tauri-apps/api/core';
import { call, toIpcError } from '../ipc/commands';
import {
  convertEditor,
  editorText,
  editPayload,
  emptyForm,
  isUnchanged,
  resolutionText,
  ruleFromForm,
  type EditMode,
  type HeldMessage,
  type InterceptMsg,
  type InterceptSnapshot,
  type Rule,
  type RuleForm,
  type RuleView,
} from './intercept';

export interface InterceptApi {
  state(): Promise<InterceptSnapshot>;
  saveRule(id: number | null, rule: Rule): Promise<InterceptSnapshot>;
  deleteRule(id: number): Promise<InterceptSnapshot>;
  reorderRules(ids: number[]): Promise<InterceptSnapshot>;
  setRuleEnabled(id: number, enabled: boolean): Promise<InterceptSnapshot>;
  setTimeout(secs: number): Promise<void>;
  decide(
    id: number,
    action: 'forward' | 'drop' | 'edit',
    payload?: { text?: string; base64?: string },
  ): Promise<void>;
  forwardAll(): Promise<number>;
  subscribe(onMsg: (m: InterceptMsg) => void): Promise<() => void>;
}

export const tauriInterceptApi: InterceptApi = {
  state: () => call('intercept_state'),
  saveRule: (id, rule) => call('intercept_save_rule', { id, rule }),
  deleteRule: (id) => call('intercept_delete_rule', { id }),
  reorderRules: (ids) => call('intercept_reorder_rules', { ids }),
  setRuleEnabled: (id, enabled) => call('intercept_set_rule_enabled', { id, enabled }),
  setTimeout: (secs) => call('intercept_set_timeout', { secs }),
  decide: (id, action, payload) =>
    call('intercept_decide', {
      id,
      action,
      text: payload?.text ?? null,
      base64: payload?.base64 ?? null,
    }),
  forwardAll: () => call('intercept_forward_all'),
  async subscribe(onMsg) {
    let active = true;
    let channel: Channel<InterceptMsg>;
    try {
      channel = new Channel<InterceptMsg>((m) => {
        if (active) onMsg(m);
      });
    } catch (err) {
      throw toIpcError('intercept_subscribe', err);
    }
    await call('intercept_subscribe', { channel });
    return () => {
      active = false;
      channel.onmessage = () => {};
    };
  },
};

export class InterceptModel {
  readonly api: InterceptApi;
  rules = $state<RuleView[]>([]);
  held = $state<HeldMessage[]>([]);
  timeoutMs = $state(60_000);
  /** The held message shown in the editor. */
  selectedId = $state<number | null>(null);
  mode = $state<EditMode>('json');
  editText = $state('');
  /** The editor's text no longer converts (bad hex) or parses (bad JSON): why. */
  editError = $state<string | null>(null);
  error = $state<string | null>(null);
  /** The last thing that happened to a held message, e.g. "#3 forwarded as is: …". */
  notice = $state<string | null>(null);
  form = $state<RuleForm>(emptyForm());
  /** The rule being edited in the form (null: a new one). */
  editingId = $state<number | null>(null);
  busy = $state(false);
  #unsubscribe: (() => void) | null = null;

  constructor(api: InterceptApi = tauriInterceptApi) {
    this.api = api;
  }

  get selected(): HeldMessage | null {
    return this.held.find((h) => h.id === this.selectedId) ?? null;
  }

  get unchanged(): boolean {
    const h = this.selected;
    return h ? isUnchanged(h, this.mode, this.editText) : true;
  }

  #fail(e: unknown): void {
    this.error = e instanceof Error ? e.message : String(e);
  }

  #apply(s: InterceptSnapshot): void {
    this.rules = s.rules;
    this.timeoutMs = s.timeout_ms;
    this.#setHeld(s.held);
  }

  #setHeld(list: HeldMessage[]): void {
    this.held = list;
    if (this.selectedId === null || !list.some((h) => h.id === this.selectedId)) {
      this.select(list[0]?.id ?? null);
    }
  }

  /** Loads rules and held messages and follows what happens (idempotent). */
  async open(): Promise<void> {
    try {
      this.#apply(await this.api.state());
      if (!this.#unsubscribe) this.#unsubscribe = await this.api.subscribe((m) => this.onMsg(m));
      this.error = null;
    } catch (e) {
      this.#fail(e);
    }
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  onMsg(m: InterceptMsg): void {
    if (m.kind === 'held') {
      this.#setHeld(m.held);
      return;
    }
    const e = m.event;
    if (e.kind === 'held') {
      if (!this.held.some((h) => h.id === e.message.id)) {
        this.#setHeld([...this.held, e.message]);
      }
    } else if (e.kind === 'resolved') {
      this.notice = `Message #${e.id} (connection #${e.connection}): ${resolutionText(e.resolution)}`;
      this.#setHeld(this.held.filter((h) => h.id !== e.id));
    } else {
      void this.refreshRules();
    }
  }

  async refreshRules(): Promise<void> {
    try {
      const s = await this.api.state();
      this.rules = s.rules;
      this.timeoutMs = s.timeout_ms;
    } catch (e) {
      this.#fail(e);
    }
  }

  select(id: number | null): void {
    this.selectedId = id;
    this.editError = null;
    const h = this.selected;
    // Binary messages open in hex; text in the mode last used.
    if (h && h.opcode === 'binary' && this.mode === 'json') this.mode = 'hex';
    this.editText = h ? editorText(h, this.mode) : '';
  }

  /** Moves the selection by `delta` in the queue. */
  step(delta: number): void {
    if (this.held.length === 0) return;
    const i = this.held.findIndex((h) => h.id === this.selectedId);
    const next = Math.min(this.held.length - 1, Math.max(0, (i < 0 ? 0 : i) + delta));
    this.select(this.held[next].id);
  }

  setMode(mode: EditMode): void {
    if (mode === this.mode) return;
    try {
      this.editText = convertEditor(this.editText, this.mode, mode);
      this.mode = mode;
      this.editError = null;
    } catch (e) {
      this.editError = e instanceof Error ? e.message : String(e);
    }
  }

  async #decide(action: 'forward' | 'drop' | 'edit'): Promise<void> {
    const h = this.selected;
    if (!h || this.busy) return;
    let payload: { text?: string; base64?: string } | undefined;
    if (action === 'edit') {
      try {
        payload = editPayload(h, this.mode, this.editText);
      } catch (e) {
        this.editError = e instanceof Error ? e.message : String(e);
        return;
      }
    }
    this.busy = true;
    try {
      await this.api.decide(h.id, action, payload);
      this.error = null;
      this.editError = null;
    } catch (e) {
      this.#fail(e);
    } finally {
      this.busy = false;
    }
  }

  /** Forward as it arrived. */
  forward(): Promise<void> {
    return this.#decide('forward');
  }

  /** Forward the editor's version (as is when nothing changed). */
  forwardEdited(): Promise<void> {
    return this.#decide(this.unchanged ? 'forward' : 'edit');
  }

  drop(): Promise<void> {
    return this.#decide('drop');
  }

  async forwardAll(): Promise<void> {
    try {
      const n = await this.api.forwardAll();
      this.notice = `Forwarded ${n} held message${n === 1 ? '' : 's'}`;
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Turns off the rule that held the selected message. */
  async ruleOff(): Promise<void> {
    const h = this.selected;
    if (!h) return;
    await this.setEnabled(h.rule_id, false);
  }

  async setEnabled(id: number, enabled: boolean): Promise<void> {
    try {
      this.#apply(await this.api.setRuleEnabled(id, enabled));
      this.error = null;
    } catch (e) {
      this.#fail(e);
    }
  }

  async saveForm(): Promise<boolean> {
    let rule: Rule;
    try {
      rule = ruleFromForm(this.form);
    } catch (e) {
      this.#fail(e);
      return false;
    }
    try {
      this.#apply(await this.api.saveRule(this.editingId, rule));
      this.form = emptyForm();
      this.editingId = null;
      this.error = null;
      return true;
    } catch (e) {
      this.#fail(e);
      return false;
    }
  }

  async remove(id: number): Promise<void> {
    try {
      this.#apply(await this.api.deleteRule(id));
      this.error = null;
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Moves a rule up (-1) or down (+1) in the order. */
  async move(id: number, delta: number): Promise<void> {
    const ids = this.rules.map((r) => r.id);
    const i = ids.indexOf(id);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j], ids[i]];
    try {
      this.#apply(await this.api.reorderRules(ids));
      this.error = null;
    } catch (e) {
      this.#fail(e);
    }
  }

  async setTimeoutSecs(secs: number): Promise<void> {
    try {
      await this.api.setTimeout(secs);
      this.timeoutMs = Math.round(secs * 1000);
      this.error = null;
    } catch (e) {
      this.#fail(e);
    }
  }
}
