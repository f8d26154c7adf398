// The timeline paged from the (mocked) database: filters that combine, keyboard, follow,
// pause and group by message, in headless Chromium under the real CSP.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useApp } from './app-suite';

const { open } = useApp();

const rows = (page: Page) => page.locator('[data-testid="frame-row"]');
const count = (page: Page) => page.locator('[data-testid="match-count"]');
type Mock = { pushFrames(s: number, n: number, text?: string): void; pushFragments(s: number, parts: string[]): void };
const mock = (page: Page, fn: (m: Mock) => void) =>
  page.evaluate(`(${fn.toString()})(window.__sockscopeMock)`);

async function selectFeed(page: Page) {
  await page.locator('[data-testid="session-item"][data-session-id="1"]').click();
  await expect.poll(() => rows(page).count()).toBeGreaterThan(10);
}

async function matches(page: Page): Promise<number> {
  await expect.poll(() => count(page).getAttribute('data-complete')).toBe('true');
  return Number(await count(page).getAttribute('data-count'));
}

async function texts(page: Page): Promise<string[]> {
  return rows(page).evaluateAll((els) => els.map((e) => e.textContent ?? ''));
}

describe('timeline filters', () => {
  it('combine: text, direction, opcode, regex, JSON, size; matches are highlighted as text', async () => {
    const { page, problems } = await open();
    await selectFeed(page);
    expect(await count(page).textContent()).toBe('400 frames');
    const input = page.locator('[data-testid="filter-input"]');
    await input.fill('"type":"trade"');
    await input.press('Enter');
    await expect.poll(() => count(page).textContent()).toMatch(/^\d+ of 400 match$/);
    const trade = await matches(page);
    expect(trade).toBeGreaterThan(20);
    expect(trade).toBeLessThan(400);
    for (const t of await texts(page)) expect(t).toContain('"type":"trade"');
    expect(await page.locator('[data-testid="frame-row"] mark').count()).toBeGreaterThan(0);

    // Direction: every trade comes from the server.
    await page.locator('[data-testid="filter-dir"]').selectOption('client');
    expect(await matches(page)).toBe(0);
    await expect.poll(() => page.locator('[data-testid="timeline-empty"]').textContent()).toContain('No frame matches');
    await page.locator('[data-testid="filter-dir"]').selectOption('server');
    expect(await matches(page)).toBe(trade);

    // Opcode: no binary frame says that.
    await page.locator('[data-testid="filter-opcode-binary"]').click();
    expect(await matches(page)).toBe(0);
    await page.locator('[data-testid="filter-opcode-binary"]').click();

    // JSON condition: the trades that are buys, and each row is one.
    await input.fill('');
    await page.locator('[data-testid="filter-more"]').click();
    await page.locator('[data-testid="filter-json"]').fill('type == "trade" and side == "buy"');
    await page.locator('[data-testid="filter-json"]').press('Enter');
    const buys = await matches(page);
    expect(buys).toBeGreaterThan(5);
    expect(buys).toBeLessThan(trade);
    for (const t of await texts(page)) expect(t).toMatch(/"type":"trade".*"side":"buy"/);

    // Regex on top: only ETH trades that are buys.
    await page.locator('[data-testid="filter-regex"]').click();
    await input.fill('"symbol":"ETH-[A-Z]+"');
    await input.press('Enter');
    const eth = await matches(page);
    expect(eth).toBeGreaterThan(0);
    expect(eth).toBeLessThanOrEqual(buys);
    for (const t of await texts(page)) expect(t).toContain('"symbol":"ETH-USD"');
    // Size: nothing that small.
    await page.locator('[data-testid="filter-max-size"]').fill('10');
    await page.locator('[data-testid="filter-max-size"]').press('Enter');
    expect(await matches(page)).toBe(0);

    // A bad regex says why, inline.
    await page.locator('[data-testid="filter-max-size"]').fill('');
    await input.fill('(unclosed');
    await input.press('Enter');
    await expect.poll(() => page.locator('[data-testid="filter-error"]').textContent()).toMatch(/invalid regular expression/);

    await page.locator('[data-testid="filter-clear"]').click();
    await expect.poll(() => count(page).textContent()).toBe('400 frames');
    await page.screenshot({ path: '/tmp/ui-shot-timeline-filter.png' });
    expect(problems.filter((p) => !p.includes('invalid regular expression'))).toEqual([]);
  });

  it('highlights hostile text as text', async () => {
    const { page } = await open();
    await page.locator('[data-testid="session-item"][data-session-id="2"]').click();
    await expect.poll(() => rows(page).count()).toBe(2);
    const input = page.locator('[data-testid="filter-input"]');
    await input.fill('onerror');
    await input.press('Enter');
    await expect.poll(() => page.locator('[data-testid="frame-row"] mark').count()).toBe(1);
    expect(await page.locator('[data-testid="frame-row"] mark').textContent()).toBe('onerror');
    expect(await page.locator('img, b').count()).toBe(0);
  });
});

describe('timeline keyboard, follow, pause, grouping', () => {
  it('/ focuses the filter, Enter returns to the list; arrows, Home, End, Enter and Ctrl+C', async () => {
    const { page, problems } = await open();
    await selectFeed(page);
    await page.locator('[data-testid="frame-row"]').first().click({ timeout: 5000 });
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('filter-input');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('timeline');
    await page.keyboard.press('Home');
    await expect.poll(() => page.locator('[data-testid="frame-row"][aria-selected="true"]').getAttribute('data-seq')).toBe('1');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.locator('[data-testid="frame-row"][aria-selected="true"]').getAttribute('data-seq')).toBe('3');
    await page.keyboard.press('ArrowUp');
    await expect.poll(() => page.locator('[data-testid="frame-row"][aria-selected="true"]').getAttribute('data-seq')).toBe('2');
    await page.keyboard.press('PageDown');
    const after = Number(await page.locator('[data-testid="frame-row"][aria-selected="true"]').getAttribute('data-seq'));
    expect(after).toBeGreaterThan(10);
    await page.keyboard.press('End');
    await expect.poll(() => page.locator('[data-testid="frame-row"][aria-selected="true"]').getAttribute('data-seq')).toBe('400');
    // Ctrl+C copies the selected payload (the toast says so, or why not).
    await page.keyboard.press('Home');
    await page.keyboard.press('Control+c');
    await expect.poll(() => page.locator('[data-testid="copy-status"]').textContent()).toMatch(/Copied frame #1|Could not copy/);
    expect(problems).toEqual([]);
  });

  it('follow off keeps the view still while frames arrive; the pill jumps down; pause holds the display', async () => {
    const { page, problems } = await open();
    await selectFeed(page);
    const tl = page.locator('[data-testid="timeline"]');
    const follow = page.locator('[data-testid="follow-toggle"]');
    expect(await follow.getAttribute('aria-pressed')).toBe('true');
    await mock(page, (m) => m.pushFrames(1, 30));
    await expect.poll(() => page.locator('[data-testid="frame-row"][data-seq="430"]').count()).toBe(1);

    await follow.click();
    expect(await follow.getAttribute('aria-pressed')).toBe('false');
    await tl.evaluate((el) => (el.scrollTop = 2200));
    await expect.poll(() => tl.getAttribute('data-first')).toBe('100');
    await mock(page, (m) => m.pushFrames(1, 50));
    await expect.poll(() => page.locator('[data-testid="frame-count"]').textContent()).toBe('480 frames');
    await expect.poll(() => page.locator('[data-testid="new-frames-pill"]').textContent()).toContain('50 new frames');
    expect(await tl.getAttribute('data-first')).toBe('100');
    expect(await tl.evaluate((el) => el.scrollTop)).toBe(2200);
    expect(await rows(page).first().getAttribute('data-seq')).toBe(String(await rows(page).first().getAttribute('data-seq')));
    await page.locator('[data-testid="new-frames-pill"]').click();
    await expect.poll(() => page.locator('[data-testid="frame-row"][data-seq="480"]').count()).toBe(1);
    expect(await follow.getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('[data-testid="new-frames-pill"]').count()).toBe(0);

    // Pause: capture goes on (the status bar counts), the list does not grow until resumed.
    await page.locator('[data-testid="pause-toggle"]').click();
    await mock(page, (m) => m.pushFrames(1, 20));
    await expect.poll(() => page.locator('[data-testid="frame-count"]').textContent()).toBe('500 frames');
    await expect.poll(() => page.locator('[data-testid="pause-toggle"]').textContent()).toContain('+20');
    expect(await page.locator('[data-testid="frame-row"][data-seq="500"]').count()).toBe(0);
    expect(await count(page).textContent()).toBe('480 frames');
    await page.locator('[data-testid="pause-toggle"]').click();
    await expect.poll(() => page.locator('[data-testid="frame-row"][data-seq="500"]').count()).toBe(1);
    expect(problems).toEqual([]);
  });

  it('group by message folds fragments under their message, expandable', async () => {
    const { page, problems } = await open();
    await selectFeed(page);
    await mock(page, (m) => m.pushFragments(1, ['{"part":', '"one two', ' three"}']));
    await expect.poll(() => page.locator('[data-testid="frame-row"][data-seq="403"]').count()).toBe(1);
    await page.locator('[data-testid="filter-more"]').click();
    await page.locator('[data-testid="filter-messages"]').check();
    await expect.poll(() => count(page).textContent()).toBe('401 of 403 match');
    expect(await page.locator('[data-testid="frame-row"][data-seq="402"]').count()).toBe(0);
    const exp = page.locator('[data-testid="frame-row"][data-seq="401"] [data-testid="message-expand"]');
    await exp.click();
    await expect.poll(() => page.locator('[data-testid="frame-row"][data-seq="403"]').count()).toBe(1);
    expect(await exp.getAttribute('aria-expanded')).toBe('true');
    expect(await page.locator('[data-testid="frame-row"][data-seq="402"]').textContent()).toContain('"one two');
    await exp.click();
    await expect.poll(() => page.locator('[data-testid="frame-row"][data-seq="402"]').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
