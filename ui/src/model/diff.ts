// Pure helpers of the diff view: the ignore list, row filtering, labels.
// Unit-tested in diff.test.ts.
import type { ConnectionInfo, DiffRow, DiffStatus, DiffSummary, PathChange } from '../ipc/types';
import { formatCount } from './format';

/**
 * Splits the ignore input ("ts, $.meta.id, $["a,b"]") into keys and paths: commas
 * separate entries except inside brackets or quotes; entries are trimmed, empty ones and
 * duplicates dropped.
 */
export function parseIgnore(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quote: string | null = null;
  const push = () => {
    const t = cur.trim();
    if (t && !out.includes(t)) out.push(t);
    cur = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      cur += ch;
      if (ch === '\\' && i + 1 < text.length) cur += text[++i];
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[') depth++;
    else if (ch === ']') depth = Math.max(0, depth - 1);
    else if ((ch === ',' || ch === '\n') && depth === 0) {
      push();
      continue;
    }
    cur += ch;
  }
  push();
  return out;
}

export function isDifference(status: DiffStatus): boolean {
  return status !== 'identical';
}

/** The rows to show: all of them, or only changed, missing and extra ones. */
export function filterRows(rows: readonly DiffRow[], onlyDifferences: boolean): DiffRow[] {
  return onlyDifferences ? rows.filter((r) => isDifference(r.status)) : rows.slice();
}

export const STATUS_LABEL: Record<DiffStatus, string> = {
  identical: 'same',
  changed: 'changed',
  missing: 'missing',
  extra: 'extra',
};

export const STATUS_TITLE: Record<DiffStatus, string> = {
  identical: 'The same message on both sides',
  changed: 'The same message, with different content',
  missing: 'Only on the left: the right side never had it',
  extra: 'Only on the right',
};

/** The counts of the summary bar, in order. */
export function summaryItems(s: DiffSummary): { status: DiffStatus; count: number; label: string }[] {
  return (['identical', 'changed', 'missing', 'extra'] as const).map((status) => ({
    status,
    count: s[status],
    label: `${formatCount(s[status])} ${status}`,
  }));
}

/** "Identical" or "3 differences", for the summary's head. */
export function verdict(s: DiffSummary): string {
  const n = s.changed + s.missing + s.extra;
  if (n === 0) return 'Identical';
  return `${formatCount(n)} difference${n === 1 ? '' : 's'}`;
}

/** "#3 / #7 wss://example.test/feed". */
export function connectionLabel(c: Pick<ConnectionInfo, 'id' | 'session_id' | 'url'>): string {
  return `#${c.session_id} / #${c.id} ${c.url}`;
}

/** One changed path: "left → right", with "(absent)" on the side that lacks it. */
export function changeText(c: PathChange): string {
  const l = c.left ?? '(absent)';
  const r = c.right ?? '(absent)';
  return `${l} → ${r}`;
}

export const CHANGE_KIND_LABEL: Record<PathChange['kind'], string> = {
  changed: '~',
  added: '+',
  removed: '−',
};
