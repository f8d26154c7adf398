// The timeline backed by SQLite paging: the row count is known, rows are fetched by range as
// the view needs them, and only a bounded page cache is held. Live frames arrive from the
// session stream (batched per animation frame by AppState) and extend the list; the view
// moves with them only while it follows the tail.
import type { ConnectionInfo, FrameFilter, FrameSummary, QueryCount, RowIndex, TimelineRow } from '../ipc/types';
import { PageCache, type PageCacheOptions } from './timelinePages';
import { buildFilter, emptyDraft, filterKey, isFiltered, type FilterDraft } from './timelineFilter';
import { throttle } from './frameQueue';
import type { LiveUpdate } from './live';

/** Newest live rows kept beside the page cache (more than a screenful). */
export const TAIL_KEEP = 512;

export interface TimelineApi {
  timelineCount(sessionId: number, filter: FrameFilter, budgetMs?: number): Promise<QueryCount>;
  timelinePage(sessionId: number, filter: FrameFilter, offset: number, limit: number): Promise<TimelineRow[]>;
  timelineIndexOf(sessionId: number, filter: FrameFilter, seq: number): Promise<RowIndex>;
  messageFragments(sessionId: number, seq: number, filter?: FrameFilter): Promise<(FrameSummary | TimelineRow)[]>;
  connectionFrameCounts(sessionId: number, maxSeq: number): Promise<[number, number][]>;
}

export type TimeMode = 'absolute' | 'relative' | 'delta';

/** A display row: a frame of the list, or a fragment shown under its expanded message. */
export type Slot =
  | { kind: 'row'; index: number; row: TimelineRow | undefined }
  | { kind: 'fragment'; head: number; part: number; row: FrameSummary | TimelineRow };

export interface TimelineOptions extends PageCacheOptions {
  /** Pages fetched at once at most. */
  concurrency?: number;
  /** Minimum spacing of recounts while live frames arrive under a filter (ms). */
  recountMs?: number;
  /** Time one count call may scan (ms). */
  countBudgetMs?: number;
  onError?: (command: string, err: unknown) => string;
}

const NO_MARKS: [number, number][] = [];

export class TimelineModel {
  readonly api: TimelineApi;
  readonly cache: PageCache<TimelineRow>;

  sessionId = $state<number | null>(null);
  /** The filter the list shows (applied). */
  filter = $state.raw<FrameFilter>({});
  /** What the filter bar holds. */
  draft = $state<FilterDraft>(emptyDraft());
  filterError = $state<string | null>(null);
  /** Rows of the (filtered) list shown. */
  count = $state(0);
  /** Frames of the session. */
  total = $state(0);
  /** The count covers every frame (a filter's scan has finished). */
  complete = $state(true);
  /** Bumped when rows arrive: views read it to redraw. */
  version = $state(0);
  /** The view stays at the bottom as frames arrive. */
  follow = $state(true);
  /** Display paused: the list stops growing; capture goes on. */
  paused = $state(false);
  /** Rows appended while the view was not at the bottom (or while paused). */
  unseen = $state(0);
  timeMode = $state<TimeMode>('absolute');
  /** Selected display index (-1: none). */
  selectedIndex = $state(-1);
  /** Expanded messages (group by message): head row index -> its frames (head first). */
  expanded = $state.raw<ReadonlyMap<number, (FrameSummary | TimelineRow)[]>>(new Map());
  /** A request to scroll a display index into view (bumped `n` so the same index repeats). */
  scrollRequest = $state.raw<{ index: number; align: 'nearest' | 'center' | 'end'; n: number } | null>(null);

  /** Highest seq counted or streamed so far. */
  lastSeq = 0;
  readonly #opts: Required<Omit<TimelineOptions, 'onError' | keyof PageCacheOptions>>;
  readonly #onError: (command: string, err: unknown) => string;
  #epoch = 0;
  #inflight = 0;
  #want: [number, number] = [0, -1];
  /** Frames that arrived while paused (shown on resume). */
  held = $state(0);
  #pendingSelect = -1;
  #onSelect: (row: FrameSummary) => void = () => {};
  readonly #recount: ReturnType<typeof throttle>;
  #scanning = false;
  #scrollN = 0;
  /**
   * The newest rows streamed in (unfiltered list), rows `#tailStart..` of the list: a
   * following view shows them without asking the database; older rows come by page.
   */
  #tail: TimelineRow[] = [];
  #tailStart = 0;

  constructor(api: TimelineApi, opts: TimelineOptions = {}) {
    this.api = api;
    this.cache = new PageCache<TimelineRow>(opts);
    this.#opts = {
      // The shell answers one window's pages one at a time; a second request in flight would
      // only be a stale one (a drag moves on faster than pages come back).
      concurrency: opts.concurrency ?? 1,
      recountMs: opts.recountMs ?? 250,
      countBudgetMs: opts.countBudgetMs ?? 150,
    };
    this.#onError = opts.onError ?? ((_c, e) => String(e));
    this.#recount = throttle(() => void this.#refreshCount(), this.#opts.recountMs);
  }

  /** Called when the selection lands on a loaded row. */
  onSelect(cb: (row: FrameSummary) => void): void {
    this.#onSelect = cb;
  }

  get filtered(): boolean {
    return isFiltered(this.filter);
  }

  /** Rows shown, with expanded messages' fragments. */
  get displayCount(): number {
    let n = this.count;
    for (const [head, parts] of this.expanded) if (head < this.count) n += parts.length - 1;
    return n;
  }

  /**
   * Opens a session: counts its frames (and the filter's matches) and shows the first
   * rows. Resolves with the highest committed seq, from which the live stream continues.
   */
  async open(sessionId: number): Promise<number> {
    const epoch = ++this.#epoch;
    this.sessionId = sessionId;
    this.#reset();
    // Connections are per session: a connection filter does not carry over.
    if (this.draft.connection !== null) {
      this.draft.connection = null;
      this.filter = { ...this.filter };
      delete this.filter.connection;
    }
    try {
      const all = await this.api.timelineCount(sessionId, {}, this.#opts.countBudgetMs);
      if (epoch !== this.#epoch) return all.last_seq;
      this.total = all.count;
      this.lastSeq = all.last_seq;
      if (!this.filtered) {
        this.count = all.count;
        this.complete = true;
      } else {
        await this.#refreshCount(epoch);
      }
      this.#pump();
      return all.last_seq;
    } catch (err) {
      if (epoch === this.#epoch) this.filterError = this.#onError('timeline_count', err);
      throw err;
    }
  }

  close(): void {
    this.#epoch++;
    this.sessionId = null;
    this.#reset();
  }

  #reset(): void {
    this.cache.clear();
    this.#tail = [];
    this.#recount.cancel();
    this.count = 0;
    this.total = 0;
    this.complete = true;
    this.lastSeq = 0;
    this.unseen = 0;
    this.held = 0;
    this.follow = true;
    this.selectedIndex = -1;
    this.#pendingSelect = -1;
    this.expanded = new Map();
    this.filterError = null;
    this.#inflight = 0;
    this.version++;
  }

  /** Applies the draft: checks it, then shows the new filter's rows from the top. */
  async applyDraft(startUs: number | null): Promise<boolean> {
    let f: FrameFilter;
    try {
      f = buildFilter(this.draft, startUs);
    } catch (err) {
      this.filterError = err instanceof Error ? err.message : String(err);
      return false;
    }
    return this.setFilter(f);
  }

  async setFilter(f: FrameFilter): Promise<boolean> {
    const sessionId = this.sessionId;
    if (filterKey(f) === filterKey(this.filter) && this.filterError === null) return true;
    this.filter = f;
    this.filterError = null;
    if (sessionId === null) return true;
    const epoch = ++this.#epoch;
    this.cache.clear();
    this.#tail = [];
    this.expanded = new Map();
    this.selectedIndex = -1;
    this.#pendingSelect = -1;
    this.unseen = 0;
    this.#inflight = 0;
    this.count = 0;
    this.version++;
    if (!this.filtered) {
      this.count = this.total;
      this.complete = true;
    }
    try {
      if (this.filtered) await this.#refreshCount(epoch);
    } catch {
      return false;
    }
    if (epoch !== this.#epoch) return false;
    this.#scroll(this.follow ? Math.max(0, this.displayCount - 1) : 0, this.follow ? 'end' : 'nearest');
    this.#pump();
    return this.filterError === null;
  }

  /** Counts the filter's matches, scanning on until complete (each call ~150 ms of work). */
  async #refreshCount(epoch = this.#epoch): Promise<void> {
    const sessionId = this.sessionId;
    if (sessionId === null || this.#scanning) return;
    this.#scanning = true;
    try {
      for (;;) {
        const filter = this.filter;
        const c = await this.api.timelineCount(sessionId, filter, this.#opts.countBudgetMs);
        if (epoch !== this.#epoch) return;
        this.lastSeq = Math.max(this.lastSeq, c.last_seq);
        this.complete = c.complete;
        if (this.paused) this.held = Math.max(0, c.count - this.count);
        else this.#grow(c.count);
        this.#pump();
        if (c.complete) return;
      }
    } catch (err) {
      if (epoch === this.#epoch) {
        this.filterError = this.#onError('timeline_count', err);
        throw err;
      }
    } finally {
      this.#scanning = false;
    }
  }

  /** The list now has `n` rows. */
  #grow(n: number): void {
    const before = this.count;
    if (n === before) return;
    // The tail page may have been fetched short: fetch it again.
    if (n > before && before % this.cache.pageSize !== 0) this.cache.dropFrom(before);
    this.count = n;
    if (n > before && !this.follow) this.unseen += n - before;
    if (this.follow) this.#scroll(Math.max(0, this.displayCount - 1), 'end');
    this.version++;
  }

  /**
   * Live frames from the session stream, after everything counted: a batch (`count` new
   * frames, the newest of them as `rows`), or whole frames in seq order.
   */
  appendLive(live: LiveUpdate | readonly FrameSummary[]): void {
    if (this.sessionId === null) return;
    let n: number;
    let rows: readonly FrameSummary[];
    if (Array.isArray(live)) {
      const frames = live as readonly FrameSummary[];
      rows = frames.filter((f) => f.seq > this.lastSeq);
      n = rows.length;
      if (n > 0) this.lastSeq = rows[n - 1].seq;
    } else {
      const b = live as LiveUpdate;
      n = b.count;
      rows = b.rows.length > n ? b.rows.slice(-n) : b.rows;
      this.lastSeq = Math.max(this.lastSeq, b.lastSeq);
    }
    if (n <= 0) return;
    this.total += n;
    if (this.filtered) {
      this.#recount();
      return;
    }
    if (this.paused) {
      this.held += n;
      return;
    }
    const start = this.count;
    const end = start + n;
    const at = end - rows.length;
    const fresh = rows.map((f) => ({ ...f, marks: NO_MARKS }));
    this.cache.append(at, fresh);
    if (at === this.#tailStart + this.#tail.length) this.#tail.push(...fresh);
    else {
      this.#tail = fresh;
      this.#tailStart = at;
    }
    if (this.#tail.length > TAIL_KEEP) {
      const cut = this.#tail.length - TAIL_KEEP;
      this.#tail = this.#tail.slice(cut);
      this.#tailStart += cut;
    }
    this.count = end;
    // Rows the view may show changed only when it follows or looks near the end.
    const seen = this.follow || this.#want[1] >= start - 1;
    if (this.follow) this.#scroll(this.displayCount - 1, 'end');
    else this.unseen += n;
    if (seen) this.version++;
  }

  /** Row `index` of the list, if loaded (the live tail, then the page cache). */
  #row(index: number): TimelineRow | undefined {
    const k = index - this.#tailStart;
    if (k >= 0 && k < this.#tail.length) return this.#tail[k];
    return this.cache.get(index);
  }

  /** Pauses or resumes the display; capture goes on, and resuming shows what arrived. */
  setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    if (paused) return;
    const held = this.held;
    this.held = 0;
    if (this.filtered) void this.#refreshCount().catch(() => {});
    else if (held > 0) this.#grow(this.count + held);
  }

  setFollow(follow: boolean): void {
    this.follow = follow;
    if (follow) {
      this.unseen = 0;
      this.#scroll(Math.max(0, this.displayCount - 1), 'end');
    }
  }

  /** The view reached (or left) the bottom by the user's scrolling. */
  atBottom(bottom: boolean): void {
    if (bottom && !this.follow) this.setFollow(true);
    else if (!bottom && this.follow) this.follow = false;
  }

  /** Jumps to the newest frames and follows them ("N new frames" pill). */
  jumpToEnd(): void {
    this.setFollow(true);
  }

  #scroll(index: number, align: 'nearest' | 'center' | 'end'): void {
    this.scrollRequest = { index, align, n: ++this.#scrollN };
  }

  // ---- rows ----

  /** What is shown at display index `i`. Reads `version`. */
  slot(i: number): Slot {
    void this.version;
    let shift = 0;
    for (const [head, parts] of this.expanded) {
      if (head >= this.count) break;
      if (i <= head + shift) break;
      const extra = parts.length - 1;
      if (i <= head + shift + extra) return { kind: 'fragment', head, part: i - head - shift, row: parts[i - head - shift] };
      shift += extra;
    }
    const index = i - shift;
    return { kind: 'row', index, row: this.#row(index) };
  }

  /** The display index of list row `index`. */
  displayIndexOf(index: number): number {
    let shift = 0;
    for (const [head, parts] of this.expanded) {
      if (head >= index) break;
      shift += parts.length - 1;
    }
    return index + shift;
  }

  /** The frame shown at display index `i`, if loaded. */
  frameAt(i: number): FrameSummary | undefined {
    return this.slot(i).row;
  }

  /** A loaded frame by seq (the cache, then expanded fragments). Reads `version`. */
  frameBySeq(seq: number): FrameSummary | null {
    void this.version;
    const tail = this.#tail;
    if (tail.length > 0 && seq >= tail[0].seq && seq <= tail[tail.length - 1].seq) {
      let lo = 0;
      let hi = tail.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const s = tail[mid].seq;
        if (s === seq) return tail[mid];
        if (s < seq) lo = mid + 1;
        else hi = mid - 1;
      }
    }
    const hit = this.cache.find(seq);
    if (hit) return hit.row;
    for (const parts of this.expanded.values()) for (const f of parts) if (f.seq === seq) return f;
    return null;
  }

  /** The view shows display rows `from..=to`: fetch what is missing around them. */
  visible(from: number, to: number): void {
    const a = this.slot(Math.max(0, from));
    const b = this.slot(Math.max(0, to));
    const lo = a.kind === 'row' ? a.index : a.head;
    const hi = b.kind === 'row' ? b.index : b.head;
    this.#want = [Math.max(0, lo - 20), hi + 20];
    for (let p = this.cache.pageOf(lo); p <= this.cache.pageOf(hi); p++) this.cache.touch(p);
    this.#pump();
  }

  #pump(): void {
    const sessionId = this.sessionId;
    if (sessionId === null) return;
    const [from, to] = this.#want;
    if (to < from) return;
    const size = this.cache.pageSize;
    const tailEnd = this.#tailStart + this.#tail.length;
    // Pages the live tail holds whole need no fetch.
    const missing = this.cache
      .missing(from, to, this.count)
      .filter((p) => !(this.#tail.length > 0 && p * size >= this.#tailStart && Math.min((p + 1) * size, this.count) <= tailEnd));
    for (const page of missing) {
      if (this.#inflight >= this.#opts.concurrency) break;
      void this.#fetch(sessionId, page);
    }
  }

  async #fetch(sessionId: number, page: number): Promise<void> {
    const token = this.cache.begin(page);
    const epoch = this.#epoch;
    const filter = this.filter;
    this.#inflight++;
    try {
      const rows = await this.api.timelinePage(sessionId, filter, page * this.cache.pageSize, this.cache.pageSize);
      if (epoch !== this.#epoch) return;
      if (this.cache.put(page, rows, token)) {
        this.version++;
        this.#resolvePendingSelect();
      }
    } catch (err) {
      this.cache.fail(page, token);
      if (epoch === this.#epoch) this.filterError = this.#onError('timeline_page', err);
    } finally {
      if (epoch === this.#epoch) {
        this.#inflight = Math.max(0, this.#inflight - 1);
        this.#pump();
      }
    }
  }

  // ---- selection ----

  /** Selects display row `i` (clamped); the frame is reported once its row is loaded. */
  select(i: number, align: 'nearest' | 'center' = 'nearest'): void {
    const n = this.displayCount;
    if (n === 0) return;
    const idx = Math.max(0, Math.min(n - 1, i));
    this.selectedIndex = idx;
    this.#scroll(idx, align);
    const f = this.frameAt(idx);
    if (f) {
      this.#pendingSelect = -1;
      this.#onSelect(f);
    } else {
      this.#pendingSelect = idx;
      this.visible(idx, idx);
    }
  }

  /** Moves the selection by `delta` display rows; returns the new index. */
  move(delta: number): number {
    const n = this.displayCount;
    if (n === 0) return -1;
    const cur = this.selectedIndex;
    const idx = cur < 0 ? (delta > 0 ? 0 : n - 1) : cur + delta;
    this.select(idx);
    if (this.selectedIndex === n - 1 && delta > 0) this.setFollow(true);
    else if (delta < 0) this.follow = false;
    return this.selectedIndex;
  }

  /** Notes the selection of a frame at display index `i` (a click). */
  clicked(i: number): void {
    this.selectedIndex = i;
    this.#pendingSelect = -1;
    const f = this.frameAt(i);
    if (f) this.#onSelect(f);
  }

  #resolvePendingSelect(): void {
    const i = this.#pendingSelect;
    if (i < 0) return;
    const f = this.frameAt(i);
    if (f) {
      this.#pendingSelect = -1;
      this.#onSelect(f);
    }
  }

  /** Scrolls to (and selects) frame `seq`; false when the filter hides it. */
  async reveal(seq: number): Promise<boolean> {
    const sessionId = this.sessionId;
    if (sessionId === null) return false;
    const epoch = this.#epoch;
    try {
      const at = await this.api.timelineIndexOf(sessionId, this.filter, seq);
      if (epoch !== this.#epoch) return false;
      if (!at.exact) return false;
      this.follow = false;
      this.select(this.displayIndexOf(at.index), 'center');
      return true;
    } catch (err) {
      this.filterError = this.#onError('timeline_index_of', err);
      return false;
    }
  }

  // ---- group by message ----

  /** Shows or hides the fragments of the message at list row `index`. */
  async toggleMessage(index: number): Promise<void> {
    const sessionId = this.sessionId;
    const head = this.#row(index);
    if (sessionId === null || !head) return;
    if (this.expanded.has(index)) {
      const next = new Map(this.expanded);
      next.delete(index);
      this.expanded = next;
      this.version++;
      return;
    }
    const epoch = this.#epoch;
    try {
      const parts = await this.api.messageFragments(sessionId, head.seq, this.filter);
      if (epoch !== this.#epoch || parts.length < 2) return;
      const next = new Map(this.expanded);
      next.set(index, parts);
      this.expanded = new Map([...next].sort((a, b) => a[0] - b[0]));
      this.version++;
    } catch (err) {
      this.filterError = this.#onError('message_fragments', err);
    }
  }

  // ---- time column ----

  /** The time cell of display row `i`. */
  timeOf(i: number, f: FrameSummary, connections: readonly ConnectionInfo[]): number | null {
    if (this.timeMode === 'absolute') return f.ts_us;
    if (this.timeMode === 'relative') {
      const c = connections.find((x) => x.id === f.connection);
      const start = c?.opened_at_us ?? c?.created_at_us ?? null;
      return start === null ? null : f.ts_us - start;
    }
    const prev = i > 0 ? this.frameAt(i - 1) : undefined;
    if (i === 0) return 0;
    return prev ? f.ts_us - prev.ts_us : null;
  }
}
