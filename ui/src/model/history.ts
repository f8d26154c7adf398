// Walking the sent-message history of a connection with Up/Down, like a shell: Up goes to
// older messages, Down back to newer ones and finally to the draft that was being typed
// (kept, never lost). The entries come from SQLite (history_get, newest first). Pure TS;
// unit-tested in history.test.ts.

export interface HistoryItem {
  mode: string;
  body: string;
}

export class HistoryNav {
  /** Newest first. */
  #entries: HistoryItem[] = [];
  /** -1: the draft; 0: the newest entry; … */
  #index = -1;
  #draft: HistoryItem | null = null;

  /** Replaces the entries (newest first), back at the draft. */
  load(entries: readonly HistoryItem[]): void {
    this.#entries = entries.slice();
    this.#index = -1;
    this.#draft = null;
  }

  /** A message was sent: it becomes the newest entry (unless it repeats the newest one). */
  push(item: HistoryItem): void {
    const top = this.#entries[0];
    if (!top || top.body !== item.body || top.mode !== item.mode) this.#entries.unshift(item);
    this.#index = -1;
    this.#draft = null;
  }

  get length(): number {
    return this.#entries.length;
  }

  /** -1 at the draft, else the position of the shown entry (0 = newest). */
  get index(): number {
    return this.#index;
  }

  /** The user edited the text: it is the draft now. */
  edited(): void {
    this.#index = -1;
    this.#draft = null;
  }

  /** Up: the next older entry, or null at the oldest (or with no history). */
  older(current: HistoryItem): HistoryItem | null {
    if (this.#index + 1 >= this.#entries.length) return null;
    if (this.#index === -1) this.#draft = current;
    this.#index++;
    return this.#entries[this.#index];
  }

  /** Down: the next newer entry, then the draft; null when already at the draft. */
  newer(): HistoryItem | null {
    if (this.#index < 0) return null;
    this.#index--;
    if (this.#index === -1) {
      const d = this.#draft;
      this.#draft = null;
      return d ?? { mode: 'text', body: '' };
    }
    return this.#entries[this.#index];
  }
}
