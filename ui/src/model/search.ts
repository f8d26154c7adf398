// Global search helpers: what the query matches, and the highlight of a snippet split into
// plain text parts (rendered as text, never as HTML). Unit-tested in search.test.ts.

export const SEARCH_LIMIT = 200;

const ALNUM = /[\p{L}\p{N}]/u;
const RUNS = /[\p{L}\p{N}]+/gu;

/**
 * The words the shell matches: whitespace-separated words with a letter or digit (the
 * others are dropped, as the shell drops them).
 */
export function queryWords(query: string): string[] {
  return query.split(/\s+/).filter((w) => ALNUM.test(w));
}

/** Why a query cannot be searched, or null. */
export function checkQuery(query: string): string | null {
  if (!query.trim()) return 'Type something to search for.';
  if (queryWords(query).length === 0) return 'Type a word with letters or digits.';
  if (Array.from(query).length > 1000) return 'The search is longer than 1,000 characters.';
  return null;
}

/**
 * What to highlight: the letter/digit runs of every word (the tokenizer drops punctuation),
 * lower-cased, longest first, without duplicates.
 */
export function highlightNeedles(query: string): string[] {
  const out = new Set<string>();
  for (const w of queryWords(query)) for (const run of w.match(RUNS) ?? []) out.add(run.toLowerCase());
  return [...out].sort((a, b) => b.length - a.length);
}

export interface TextPart {
  text: string;
  hit: boolean;
}

/**
 * Splits `text` into parts, marking the start of every word that a query word is a
 * case-insensitive prefix of (as the shell matches them: "tick" marks "tick" in "ticker").
 * Joining the parts gives `text` back.
 */
export function highlightParts(text: string, query: string): TextPart[] {
  if (!text) return [];
  const needles = highlightNeedles(query);
  const parts: TextPart[] = [];
  let plain = 0;
  if (needles.length) {
    for (const m of text.matchAll(RUNS)) {
      const word = m[0];
      const at = m.index ?? 0;
      const lower = word.toLowerCase();
      const n = needles.find((x) => lower.startsWith(x));
      if (!n) continue;
      // Lower-casing keeps lengths for nearly every letter; when it does not, mark the word.
      const len = word.slice(0, n.length).toLowerCase() === n ? n.length : word.length;
      if (plain < at) parts.push({ text: text.slice(plain, at), hit: false });
      parts.push({ text: text.slice(at, at + len), hit: true });
      plain = at + len;
    }
  }
  if (plain < text.length) parts.push({ text: text.slice(plain), hit: false });
  return parts;
}
