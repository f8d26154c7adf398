// Follows the store writer's state (`storage_status`): the storage banner shows a pause (disk
// full, size limit) for as long as it lasts, then a notice of how many waiting frames were
// written. Polled: about once a second, twice while paused or catching up.
import type { StorageStatus } from '../ipc/types';
import { parseLimitMb } from './storage';

export interface StorageApi {
  storageStatus?(): Promise<StorageStatus>;
  setDbSizeLimit?(mb: number | null): Promise<StorageStatus>;
}

export interface Timer {
  set(cb: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimer: Timer = {
  set: (cb, ms) => setTimeout(cb, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Poll intervals (ms). */
export const POLL_IDLE = 1000;
export const POLL_BUSY = 500;
export const POLL_FAILING = 5000;

export class StorageModel {
  status = $state.raw<StorageStatus | null>(null);
  /** The resume notice of this pause number was dismissed. */
  dismissedResume = $state(0);
  /** The limit editor is open. */
  editingLimit = $state(false);
  limitText = $state('');
  limitError = $state<string | null>(null);
  limitBusy = $state(false);

  readonly paused = $derived(this.status?.state === 'paused');
  /** The last resume, while its notice is not dismissed (and nothing is paused again). */
  readonly resume = $derived.by(() => {
    const s = this.status;
    if (!s || s.state === 'paused' || !s.last_resume) return null;
    return s.last_resume.pause > this.dismissedResume ? s.last_resume : null;
  });

  #api: StorageApi;
  #timer: Timer;
  #handle: unknown = null;
  #running = false;

  constructor(api: StorageApi, timer: Timer = realTimer) {
    this.#api = api;
    this.#timer = timer;
  }

  start(): void {
    if (this.#running || !this.#api.storageStatus) return;
    this.#running = true;
    void this.poll();
  }

  stop(): void {
    this.#running = false;
    if (this.#handle !== null) this.#timer.clear(this.#handle);
    this.#handle = null;
  }

  /** Reads the status once, then schedules the next read. */
  async poll(): Promise<void> {
    let next = POLL_IDLE;
    try {
      const s = await this.#api.storageStatus!();
      this.#apply(s);
      if (s.state === 'paused' || (s.last_resume && !s.last_resume.done)) next = POLL_BUSY;
    } catch {
      // No backend (or an older one): try again, rarely.
      next = POLL_FAILING;
    }
    if (!this.#running) return;
    if (this.#handle !== null) this.#timer.clear(this.#handle);
    this.#handle = this.#timer.set(() => {
      this.#handle = null;
      void this.poll();
    }, next);
  }

  #apply(s: StorageStatus): void {
    const wasPaused = this.status?.state === 'paused';
    this.status = s;
    if (s.state !== 'paused' && wasPaused) {
      this.editingLimit = false;
      this.limitError = null;
    }
  }

  dismissResume(): void {
    const r = this.status?.last_resume;
    if (r) this.dismissedResume = r.pause;
  }

  openLimitEditor(suggestion: number): void {
    this.limitText = String(suggestion);
    this.limitError = null;
    this.editingLimit = true;
  }

  closeLimitEditor(): void {
    this.editingLimit = false;
    this.limitError = null;
  }

  /** Applies the limit in the field (0: none); the status is read again at once. */
  async applyLimit(text: string = this.limitText): Promise<boolean> {
    if (!this.#api.setDbSizeLimit) return false;
    const parsed = parseLimitMb(text);
    if ('error' in parsed) {
      this.limitError = parsed.error;
      return false;
    }
    this.limitBusy = true;
    try {
      this.#apply(await this.#api.setDbSizeLimit(parsed.mb));
      this.limitError = null;
      this.editingLimit = false;
      return true;
    } catch (e) {
      this.limitError = e instanceof Error ? e.message : String(e);
      return false;
    } finally {
      this.limitBusy = false;
    }
  }
}
