// The JSON tree's rows: a value flattened into the rows that are visible for a given
// expansion state. Pure, so it is unit-tested and fast to recompute (O(visible rows)).
import { childPath } from './json';

export type Kind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export interface TreeRow {
  /** JSONPath of the node, e.g. `$.data[3].price`. */
  path: string;
  segs: readonly (string | number)[];
  depth: number;
  /** Object key or array index; null for the root. */
  key: string | number | null;
  kind: Kind;
  /** Containers: number of children. */
  count: number;
  expanded: boolean;
  /** Scalars: the JSON text (strings quoted), cut to PREVIEW_MAX characters. */
  preview: string;
}

export const PREVIEW_MAX = 300;

export function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'object':
      return 'object';
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      return 'string';
  }
}

export function scalarText(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  return String(v);
}

/** Expansion: by default the root and its children are open; `all`/`none` override; toggles invert. */
export interface Expansion {
  mode: 'default' | 'all' | 'none';
  toggled: ReadonlySet<string>;
}

export function isExpanded(e: Expansion, path: string, depth: number): boolean {
  const base = e.mode === 'all' ? true : e.mode === 'none' ? false : depth < 1;
  return e.toggled.has(path) ? !base : base;
}

/** The visible rows of `root` (depth-first, children of expanded containers only). */
export function flatten(root: unknown, e: Expansion, limit = 5_000_000): TreeRow[] {
  const rows: TreeRow[] = [];
  type Item = { v: unknown; path: string; segs: (string | number)[]; depth: number; key: string | number | null };
  const stack: Item[] = [{ v: root, path: '$', segs: [], depth: 0, key: null }];
  while (stack.length && rows.length < limit) {
    const it = stack.pop()!;
    const kind = kindOf(it.v);
    if (kind === 'object' || kind === 'array') {
      const keys: (string | number)[] =
        kind === 'array' ? Array.from({ length: (it.v as unknown[]).length }, (_, i) => i) : Object.keys(it.v as object);
      const expanded = isExpanded(e, it.path, it.depth);
      rows.push({ path: it.path, segs: it.segs, depth: it.depth, key: it.key, kind, count: keys.length, expanded, preview: '' });
      if (expanded) {
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i];
          stack.push({
            v: (it.v as Record<string | number, unknown>)[k],
            path: childPath(it.path, k),
            segs: [...it.segs, k],
            depth: it.depth + 1,
            key: k,
          });
        }
      }
    } else {
      const text = scalarText(it.v);
      rows.push({
        path: it.path,
        segs: it.segs,
        depth: it.depth,
        key: it.key,
        kind,
        count: 0,
        expanded: false,
        preview: text.length > PREVIEW_MAX ? `${text.slice(0, PREVIEW_MAX)}…` : text,
      });
    }
  }
  return rows;
}

/**
 * Paths (as segment lists) of every node whose key or scalar text contains `query`
 * (case-insensitive unless `caseSensitive`), in document order; at most `max`.
 */
export function findInTree(root: unknown, query: string, caseSensitive = false, max = 10_000): (string | number)[][] {
  if (!query) return [];
  const q = caseSensitive ? query : query.toLowerCase();
  const has = (s: string) => (caseSensitive ? s : s.toLowerCase()).includes(q);
  const out: (string | number)[][] = [];
  const stack: { v: unknown; segs: (string | number)[]; key: string | number | null }[] = [{ v: root, segs: [], key: null }];
  while (stack.length && out.length < max) {
    const it = stack.pop()!;
    const kind = kindOf(it.v);
    const keyHit = it.key !== null && typeof it.key === 'string' && has(it.key);
    if (kind === 'object' || kind === 'array') {
      if (keyHit) out.push(it.segs);
      const keys: (string | number)[] =
        kind === 'array' ? Array.from({ length: (it.v as unknown[]).length }, (_, i) => i) : Object.keys(it.v as object);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i];
        stack.push({ v: (it.v as Record<string | number, unknown>)[k], segs: [...it.segs, k], key: k });
      }
    } else if (keyHit || has(scalarText(it.v))) {
      out.push(it.segs);
    }
  }
  return out;
}

/** Paths of the ancestors of a node (the root first), to expand them. */
export function ancestorPaths(segs: readonly (string | number)[]): string[] {
  const out = ['$'];
  let p = '$';
  for (let i = 0; i < segs.length - 1; i++) {
    p = childPath(p, segs[i]);
    out.push(p);
  }
  return out;
}

export function pathOf(segs: readonly (string | number)[]): string {
  let p = '$';
  for (const s of segs) p = childPath(p, s);
  return p;
}
