import { describe, expect, it } from 'vitest';
import { HistoryNav } from './history';

const t = (body: string, mode = 'text') => ({ mode, body });

describe('HistoryNav', () => {
  it('walks older with Up and back to the draft with Down', () => {
    const h = new HistoryNav();
    h.load([t('c'), t('b', 'json'), t('a')]);
    const draft = t('typing…');
    expect(h.older(draft)).toEqual(t('c'));
    expect(h.older(t('c'))).toEqual(t('b', 'json'));
    expect(h.older(t('b'))).toEqual(t('a'));
    expect(h.older(t('a'))).toBeNull();
    expect(h.index).toBe(2);
    expect(h.newer()).toEqual(t('b', 'json'));
    expect(h.newer()).toEqual(t('c'));
    expect(h.newer()).toEqual(draft);
    expect(h.newer()).toBeNull();
    expect(h.index).toBe(-1);
  });

  it('does nothing without history', () => {
    const h = new HistoryNav();
    expect(h.older(t('x'))).toBeNull();
    expect(h.newer()).toBeNull();
  });

  it('puts a sent message on top, once, and returns to the draft', () => {
    const h = new HistoryNav();
    h.load([t('a')]);
    h.older(t(''));
    h.push(t('b'));
    expect(h.index).toBe(-1);
    h.push(t('b'));
    expect(h.length).toBe(2);
    expect(h.older(t(''))).toEqual(t('b'));
    expect(h.older(t('b'))).toEqual(t('a'));
  });

  it('an edit makes the text the draft again', () => {
    const h = new HistoryNav();
    h.load([t('b'), t('a')]);
    h.older(t('draft'));
    h.older(t('b'));
    h.edited();
    expect(h.index).toBe(-1);
    expect(h.newer()).toBeNull();
    expect(h.older(t('a edited'))).toEqual(t('b'));
    expect(h.newer()).toEqual(t('a edited'));
  });
});
