// The timeline's bounded page cache: rows are fetched from the shell by page (a range of row
// indexes) and at most `maxPages` pages are kept, the least recently used going first. The
// UI never holds a whole session, however many frames it has.

export interface PageCacheOptions {
  /** Rows per page. */
  pageSize?: number;
  /** Pages kept at most. */
  maxPages?: number;
}

export const DEFAULT_PAGE_SIZE = 200;
export const DEFAULT_MAX_PAGES = 40;

export class PageCache<T extends { seq: number }> {
  readonly pageSize: number;
  readonly maxPages: number;
  /** Loaded pages by number; Map order is use order (least recent first). */
  #pages = new Map<number, T[]>();
  #loading = new Set<number>();
  /** Bumped by `clear()`: a fetch begun before it must not land after it. */
  #generation = 0;

  constructor(opts: PageCacheOptions = {}) {
    this.pageSize = Math.max(1, opts.pageSize ?? DEFAULT_PAGE_SIZE);
    this.maxPages = Math.max(2, opts.maxPages ?? DEFAULT_MAX_PAGES);
  }

  get generation(): number {
    return this.#generation;
  }

  /** Number of pages held. */
  get size(): number {
    return this.#pages.size;
  }

  /** Number of rows held. */
  get rows(): number {
    let n = 0;
    for (const p of this.#pages.values()) n += p.length;
    return n;
  }

  pageOf(index: number): number {
    return Math.floor(index / this.pageSize);
  }

  get(index: number): T | undefined {
    if (index < 0) return undefined;
    const page = this.#pages.get(this.pageOf(index));
    return page?.[index - this.pageOf(index) * this.pageSize];
  }

  isLoading(page: number): boolean {
    return this.#loading.has(page);
  }

  /**
   * Pages overlapping rows `from..=to` (of a list of `count` rows) that are neither loaded
   * in full nor being loaded, nearest to `from` first.
   */
  missing(from: number, to: number, count: number): number[] {
    const out: number[] = [];
    if (count <= 0) return out;
    const lo = Math.max(0, Math.min(from, count - 1));
    const hi = Math.max(0, Math.min(to, count - 1));
    for (let p = this.pageOf(lo); p <= this.pageOf(hi); p++) {
      if (this.#loading.has(p)) continue;
      const want = Math.min(this.pageSize, count - p * this.pageSize);
      const have = this.#pages.get(p)?.length ?? -1;
      if (have < want) out.push(p);
    }
    return out;
  }

  /** Marks a page as being fetched; returns the token `put`/`fail` need. */
  begin(page: number): number {
    this.#loading.add(page);
    return this.#generation;
  }

  /** Stores a fetched page; false (and nothing stored) if the cache was cleared since. */
  put(page: number, rows: T[], token: number): boolean {
    if (token !== this.#generation) return false;
    this.#loading.delete(page);
    this.#pages.delete(page);
    this.#pages.set(page, rows.slice(0, this.pageSize));
    this.#evict(page);
    return true;
  }

  fail(page: number, token: number): void {
    if (token === this.#generation) this.#loading.delete(page);
  }

  /** Marks a page as just used (it is evicted last). */
  touch(page: number): void {
    const p = this.#pages.get(page);
    if (p) {
      this.#pages.delete(page);
      this.#pages.set(page, p);
    }
  }

  /**
   * Live rows: `rows` are rows `start..` of the list. They extend a loaded page they follow
   * directly, or start a new page at a page boundary; rows that would leave a hole are left
   * out (a later fetch brings them).
   */
  append(start: number, rows: readonly T[]): void {
    let i = start;
    for (const row of rows) {
      const p = this.pageOf(i);
      const at = i - p * this.pageSize;
      let page = this.#pages.get(p);
      if (!page && at === 0 && !this.#loading.has(p)) {
        page = [];
        this.#pages.set(p, page);
        this.#evict(p);
      }
      if (page && page.length === at) page.push(row);
      i++;
    }
  }

  /** Drops pages from row `index` on (their rows changed, e.g. a recount). */
  dropFrom(index: number): void {
    const first = this.pageOf(index);
    for (const p of [...this.#pages.keys()]) if (p >= first) this.#pages.delete(p);
    for (const p of [...this.#loading]) if (p >= first) this.#loading.delete(p);
    this.#generation++;
  }

  clear(): void {
    this.#pages.clear();
    this.#loading.clear();
    this.#generation++;
  }

  /** The loaded row with `seq` and its index, if held (rows are in seq order). */
  find(seq: number): { index: number; row: T } | null {
    for (const [p, rows] of this.#pages) {
      if (rows.length === 0 || seq < rows[0].seq || seq > rows[rows.length - 1].seq) continue;
      let lo = 0;
      let hi = rows.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const s = rows[mid].seq;
        if (s === seq) return { index: p * this.pageSize + mid, row: rows[mid] };
        if (s < seq) lo = mid + 1;
        else hi = mid - 1;
      }
    }
    return null;
  }

  #evict(keep: number): void {
    for (const p of this.#pages.keys()) {
      if (this.#pages.size <= this.maxPages) break;
      if (p !== keep) this.#pages.delete(p);
    }
  }
}
