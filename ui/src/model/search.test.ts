import { describe, expect, it } from 'vitest';
import { checkQuery, highlightNeedles, highlightParts, queryWords } from './search';

const marked = (text: string, q: string) =>
  highlightParts(text, q)
    .map((p) => (p.hit ? `[${p.text}]` : p.text))
    .join('');

describe('search query', () => {
  it('keeps words with letters or digits', () => {
    expect(queryWords('  foo  -- bar42 ')).toEqual(['foo', 'bar42']);
    expect(checkQuery('')).toBe('Type something to search for.');
    expect(checkQuery(' -- ')).toBe('Type a word with letters or digits.');
    expect(checkQuery('ok')).toBeNull();
  });

  it('highlights the letter/digit runs of every word, longest first', () => {
    expect(highlightNeedles('op:subscribe BTC')).toEqual(['subscribe', 'btc', 'op']);
    expect(highlightNeedles('a A')).toEqual(['a']);
  });
});

describe('highlightParts', () => {
  it('marks word starts case-insensitively, as prefixes', () => {
    expect(marked('{"type":"ticker","symbol":"BTC-USD"}', 'tick btc')).toBe('{"type":"[tick]er","symbol":"[BTC]-USD"}');
  });

  it('does not mark matches inside words', () => {
    expect(marked('sticker ticket', 'tick')).toBe('sticker [tick]et');
  });

  it('gives the text back when joined, and marks every occurrence', () => {
    const text = '…trade trade, TRADE!';
    const parts = highlightParts(text, 'trade');
    expect(parts.map((p) => p.text).join('')).toBe(text);
    expect(parts.filter((p) => p.hit)).toHaveLength(3);
  });

  it('keeps markup as plain text parts', () => {
    const parts = highlightParts('<img src=x onerror=alert(1)>', 'img');
    expect(parts).toEqual([
      { text: '<', hit: false },
      { text: 'img', hit: true },
      { text: ' src=x onerror=alert(1)>', hit: false },
    ]);
  });

  it('handles non-ASCII words and an empty query', () => {
    expect(marked('Grüße aus Köln 😀 köln', 'köln')).toBe('Grüße aus [Köln] 😀 [köln]');
    expect(highlightParts('abc', '--')).toEqual([{ text: 'abc', hit: false }]);
    expect(highlightParts('', 'x')).toEqual([]);
  });
});
