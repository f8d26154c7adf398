// The timeline filter's matches highlighted in the detail view (Text, pretty JSON, decoded
// text, Hex), stepped with F3 / Shift+F3 and Enter in the find box, and the hex view's
// keyboard cursor and selection — in headless Chromium under the app's CSP with the mocked
// shell (which answers `find_matches` like the shell: byte and UTF-16 ranges).
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useApp } from './app-suite';

const { open } = useApp();
const tid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

async function push(page: Page, dir: 'client' | 'server', opcode: string, bytes: number[] | string): Promise<number> {
  return page.evaluate(
    ([dir, opcode, bytes]) => {
      const data = typeof bytes === 'string' ? [...new TextEncoder().encode(bytes)] : bytes;
      const m = (window as unknown as { __sockscopeMock: { pushBytes: (...a: unknown[]) => number } }).__sockscopeMock;
      return m.pushBytes(3, dir, opcode, data, {});
    },
    [dir, opcode, bytes] as const,
  );
}
async function select(page: Page, seq: number) {
  const row = page.locator(`[data-testid="frame-row"][data-seq="${seq}"]`);
  await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
  await row.click();
  await expect.poll(() => tid(page, 'detail-header').locator('.seq').textContent()).toBe(`#${seq}`);
}
async function session3(page: Page) {
  await page.locator('[data-testid="session-item"][data-session-id="3"]').click();
  await expect.poll(() => tid(page, 'timeline').count()).toBe(1);
}
async function filter(page: Page, text: string) {
  const input = tid(page, 'filter-input');
  await input.fill(text);
  await input.press('Enter');
}
const count = (page: Page) => tid(page, 'detail-filter-count').textContent();
const currentMark = (page: Page, view: string) => page.locator(`[data-testid="${view}"] [data-testid="text-match-current"]`);

describe('filter matches in the detail view', () => {
  it('Text: every match marked, match k of n, F3 / Shift+F3 and Enter step and scroll to it', async () => {
    const { page, problems } = await open();
    await session3(page);
    // 400 lines; "needle" on lines 3 (twice, once as NEEDLE), 200 and 390.
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i + 1}`);
    lines[2] = 'line 3 needle and NEEDLE';
    lines[199] = 'line 200 <b>needle</b>';
    lines[389] = 'line 390 the last needle';
    const seq = await push(page, 'server', 'text', lines.join('\n'));
    await select(page, seq);
    await filter(page, 'needle');
    await expect.poll(() => tid(page, 'detail-filter-matches').getAttribute('data-count')).toBe('4');
    expect(await count(page)).toBe('match 1 of 4');
    expect(await tid(page, 'detail-filter-matches').textContent()).toContain('"needle"');
    // Rendered as text: the payload's <b> stays characters, marks are <mark> elements.
    await expect.poll(() => currentMark(page, 'detail-text').textContent()).toBe('needle');
    expect(await page.locator('[data-testid="detail-text"] mark').allTextContents()).toEqual(['needle', 'NEEDLE']);
    await page.keyboard.press('F3');
    await expect.poll(() => count(page)).toBe('match 2 of 4');
    await expect.poll(() => currentMark(page, 'detail-text').textContent()).toBe('NEEDLE');
    await page.keyboard.press('F3');
    await expect.poll(() => count(page)).toBe('match 3 of 4');
    // Line 200 was scrolled into view (the list draws only a screenful of rows).
    await expect.poll(() => currentMark(page, 'detail-text').count()).toBe(1);
    const row200 = currentMark(page, 'detail-text').locator('xpath=..');
    expect(await row200.textContent()).toBe('line 200 <b>needle</b>\n');
    expect(await page.locator('[data-testid="detail-text"] b').count()).toBe(0);
    await page.keyboard.press('F3');
    await expect.poll(() => count(page)).toBe('match 4 of 4');
    await expect.poll(() => currentMark(page, 'detail-text').locator('xpath=..').textContent()).toBe('line 390 the last needle\n');
    await page.keyboard.press('F3'); // wraps
    await expect.poll(() => count(page)).toBe('match 1 of 4');
    await page.keyboard.press('Shift+F3');
    await expect.poll(() => count(page)).toBe('match 4 of 4');
    await tid(page, 'detail-filter-prev').click();
    await expect.poll(() => count(page)).toBe('match 3 of 4');
    // Enter / Shift+Enter in the (empty) find box step through the filter's matches too.
    await tid(page, 'detail-find-open').click();
    await tid(page, 'detail-find').press('Enter');
    await expect.poll(() => count(page)).toBe('match 4 of 4');
    await tid(page, 'detail-find').press('Shift+Enter');
    await expect.poll(() => count(page)).toBe('match 3 of 4');
    // A query in the find box takes over; clearing it gives the filter's matches back.
    await tid(page, 'detail-find').fill('the last');
    await expect.poll(() => count(page)).toBe('find box active');
    await expect.poll(() => tid(page, 'detail-find-count').textContent()).toBe('1 / 1');
    await tid(page, 'detail-find').fill('');
    await expect.poll(() => count(page)).toBe('match 3 of 4');
    await page.screenshot({ path: '/tmp/ui-filter-text.png' });

    // Case-sensitive regex: the shell's semantics decide (only the lower-case ones).
    await tid(page, 'filter-regex').click();
    await tid(page, 'filter-case').click();
    await filter(page, 'ne+dle');
    await expect.poll(() => tid(page, 'detail-filter-matches').getAttribute('data-count')).toBe('3');
    expect(await tid(page, 'detail-filter-matches').textContent()).toContain('/ne+dle/');
    const calls = await page.evaluate(() =>
      (window as unknown as { __sockscopeMock: { calls: { cmd: string; args: { filter?: unknown } }[] } }).__sockscopeMock.calls.filter(
        (c) => c.cmd === 'find_matches',
      ),
    );
    expect(calls.at(-1)?.args.filter).toEqual({ text: { pattern: 'ne+dle', regex: true, case_sensitive: true } });
    expect(problems).toEqual([]);
  });

  it('JSON pretty text, decoded text and Hex highlight the filter; trees offer the text form', async () => {
    const { page, problems } = await open();
    await session3(page);
    const seq = await push(page, 'server', 'text', JSON.stringify({ type: 'trade', note: 'zebra crossing', list: [1, 2, 3], tail: 'zebra' }));
    await select(page, seq);
    await filter(page, 'zebra');
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('json');
    // The tree: matches are in the text form, one click away.
    await expect.poll(() => tid(page, 'detail-filter-astext').count()).toBe(1);
    await tid(page, 'detail-filter-astext').click();
    await expect.poll(() => tid(page, 'detail-filter-matches').getAttribute('data-count')).toBe('2');
    await expect.poll(() => page.locator('[data-testid="json-text"] mark').allTextContents()).toEqual(['zebra', 'zebra']);
    expect(await page.locator('[data-testid="json-text"] mark.current').count()).toBe(1);
    await page.keyboard.press('F3');
    await expect.poll(() => count(page)).toBe('match 2 of 2');

    // Hex: the matched bytes on both sides (5 bytes x 2), the current one distinct.
    await tid(page, 'view-hex').click();
    await expect.poll(() => tid(page, 'detail-filter-matches').getAttribute('data-count')).toBe('2');
    expect(await count(page)).toBe('match 1 of 2');
    await expect.poll(() => page.locator('[data-testid="detail-hex"] .b.hit').count()).toBe(20);
    expect(await page.locator('[data-testid="hex-ascii"] .b.hit.cur').allTextContents()).toEqual([...'zebra']);
    expect(await page.locator('[data-testid="hex-row"] .b.hit.cur').allTextContents()).toEqual(['7a', '65', '62', '72', '61']);
    await page.keyboard.press('F3');
    await expect.poll(() => page.locator('[data-testid="hex-ascii"] .b.hit.cur').first().getAttribute('data-i')).not.toBe(
      await page.locator('[data-testid="hex-ascii"] .b.hit').first().getAttribute('data-i'),
    );
    await page.screenshot({ path: '/tmp/ui-filter-hex.png' });

    // Decoded (Socket.IO) as text.
    await tid(page, 'view-auto').click();
    const sio = await push(page, 'server', 'text', '42["zebra",{"stripes":"zebra zebra"}]');
    await select(page, sio);
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('decoded');
    await tid(page, 'detail-filter-astext').click();
    await expect.poll(() => tid(page, 'detail-filter-matches').getAttribute('data-count')).toBe('3');
    await expect.poll(() => page.locator('[data-testid="detail-decoded"] mark').count()).toBe(3);
    // No text condition, no bar.
    await filter(page, '');
    await expect.poll(() => tid(page, 'detail-filter-matches').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});

describe('filters over fragmented messages', () => {
  it('grouped by message, a match only in a later fragment keeps its message, marked; JSON sees the whole message', async () => {
    const { page, problems } = await open();
    await session3(page);
    await page.evaluate(() =>
      (window as unknown as { __sockscopeMock: { pushFragments: (s: number, p: string[]) => void } }).__sockscopeMock.pushFragments(3, [
        '{"type":"trade",',
        '"pad":"x",',
        '"tag":"zebra"}',
      ]),
    );
    const rows = page.locator('[data-testid="frame-row"]');
    await expect.poll(() => rows.count()).toBe(3);
    const seqs = (await rows.evaluateAll((r) => r.map((e) => Number(e.getAttribute('data-seq'))))).sort((a, b) => a - b);
    const [head, , last] = seqs;
    const shown = async () => (await rows.evaluateAll((r) => r.map((e) => Number(e.getAttribute('data-seq'))))).sort((a, b) => a - b);
    // Frame by frame: only the last fragment holds "zebra".
    await filter(page, 'zebra');
    await expect.poll(shown).toEqual([last]);
    expect(await page.locator(`[data-testid="frame-row"][data-seq="${last}"] [data-testid="match"]`).textContent()).toBe('zebra');
    // Grouped: the message row stays, marked; expanding it marks the fragment.
    await tid(page, 'filter-more').click();
    await tid(page, 'filter-messages').check();
    await expect.poll(shown).toEqual([head]);
    const headRow = page.locator(`[data-testid="frame-row"][data-seq="${head}"]`);
    expect(await headRow.locator('[data-testid="hidden-hit"]').textContent()).toBe('match in fragments');
    await headRow.locator('[data-testid="message-expand"]').click();
    await expect.poll(() => page.locator(`[data-testid="frame-row"][data-seq="${last}"] [data-testid="match"]`).textContent()).toBe('zebra');
    expect(await page.locator('[data-testid="hidden-hit"]').count()).toBe(1); // the fragments carry no marker
    // The detail of the message: the joined JSON, its match in the text form.
    await headRow.click();
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('json');
    await tid(page, 'detail-filter-astext').click();
    await expect.poll(() => tid(page, 'detail-filter-matches').getAttribute('data-count')).toBe('1');
    await page.screenshot({ path: '/tmp/ui-filter-grouped.png' });
    // JSON over the whole message, matched on its first frame (grouped or not).
    await filter(page, '');
    await tid(page, 'filter-messages').uncheck();
    await tid(page, 'filter-json').fill('tag == "zebra"');
    await tid(page, 'filter-json').press('Enter');
    await expect.poll(shown).toEqual([head]);
    expect(await page.locator('[data-testid="hidden-hit"]').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});

describe('hex keyboard', () => {
  it('arrows move a cursor, Shift extends, Ctrl+A selects all, Ctrl+C copies hex', async () => {
    const { page, problems } = await open();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await session3(page);
    const seq = await push(page, 'server', 'binary', Array.from({ length: 300 }, (_, i) => i & 0xff));
    await select(page, seq);
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('hex');
    const sel = tid(page, 'hex-selection');
    // A click puts the cursor on byte 0x10.
    await page.locator('[data-testid="hex-row"] [data-i="16"]').click();
    await expect.poll(() => sel.getAttribute('data-start')).toBe('16');
    expect(await sel.textContent()).toContain('cursor 0x10');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
    await expect.poll(() => sel.textContent()).toContain('0x10–0x13 · 4 B selected');
    await page.keyboard.press('Shift+ArrowDown');
    await expect.poll(() => sel.textContent()).toContain('0x10–0x23 · 20 B selected');
    expect(await page.locator('[data-testid="detail-hex"] .b.sel').count()).toBe(40); // both sides
    expect(await page.locator('[data-testid="hex-ascii"] .b.sel').last().textContent()).toBe('#');
    await page.keyboard.press('Control+c');
    await expect
      .poll(() => page.evaluate(() => navigator.clipboard.readText()))
      .toBe(Array.from({ length: 20 }, (_, i) => (16 + i).toString(16).padStart(2, '0')).join(' '));
    // Without Shift the selection collapses onto the moved cursor.
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => sel.textContent()).toContain('cursor 0x24');
    await page.keyboard.press('Shift+End');
    await expect.poll(() => sel.textContent()).toContain('0x24–0x2f · 12 B selected');
    await page.keyboard.press('Shift+ArrowLeft');
    await page.keyboard.press('Shift+Home');
    await expect.poll(() => sel.textContent()).toContain('0x20–0x24 · 5 B selected');
    await page.keyboard.press('Control+a');
    await expect.poll(() => sel.textContent()).toContain('0x0–0x12b · 300 B selected');
    // Ctrl+End: cursor on the last byte, its row in view; Shift+PageUp extends a page up.
    await page.keyboard.press('Control+End');
    await expect.poll(() => sel.textContent()).toContain('cursor 0x12b');
    await expect.poll(() => page.locator('[data-testid="hex-row"] .b.cursor').getAttribute('data-i')).toBe('299');
    await page.keyboard.press('Shift+PageUp');
    await expect.poll(async () => Number(await sel.getAttribute('data-len'))).toBeGreaterThan(16);
    await page.keyboard.press('Escape');
    await expect.poll(() => sel.getAttribute('data-len')).toBe('0');
    // The copy menu still copies a selection made by keyboard.
    await page.locator('[data-testid="hex-row"] [data-i="65"]').click();
    await page.keyboard.press('Shift+ArrowRight');
    await tid(page, 'hex-copy-base64').click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe('QUI=');
    await page.screenshot({ path: '/tmp/ui-hex-keyboard.png' });
    expect(problems).toEqual([]);
  });

  it('a 16 MiB payload: Ctrl+End and Shift+PageUp keep the cursor in view', async () => {
    const { page, problems } = await open();
    await session3(page);
    const seq = await page.evaluate(() => {
      const b = new Uint8Array(16 * 1024 * 1024);
      for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
      const m = (window as unknown as { __sockscopeMock: { pushBytes: (...a: unknown[]) => number } }).__sockscopeMock;
      return m.pushBytes(3, 'server', 'binary', b);
    });
    await select(page, seq);
    await expect.poll(() => tid(page, 'hex-view').getAttribute('data-rows'), { timeout: 20_000 }).toBe(String(1024 * 1024));
    await tid(page, 'hex-view').focus();
    await page.keyboard.press('Control+End');
    const sel = tid(page, 'hex-selection');
    await expect.poll(() => sel.textContent()).toContain('cursor 0xffffff');
    await expect.poll(async () => (await tid(page, 'hex-offset').allTextContents()).includes('00fffff0')).toBe(true);
    await page.keyboard.press('Shift+PageUp');
    await page.keyboard.press('Shift+PageUp');
    const len = Number(await sel.getAttribute('data-len'));
    expect(len % 16).toBe(1);
    expect(len).toBeGreaterThan(32);
    // The cursor's row (the selection's start) is drawn.
    const start = Number(await sel.getAttribute('data-start'));
    await expect.poll(() => page.locator(`[data-testid="hex-row"] [data-i="${start}"]`).count()).toBe(1);
    // Up one row from there: still in view (no jump), one row more selected.
    await page.keyboard.press('Shift+ArrowUp');
    await expect.poll(() => sel.getAttribute('data-len')).toBe(String(len + 16));
    await expect.poll(() => page.locator(`[data-testid="hex-row"] [data-i="${start - 16}"]`).count()).toBe(1);
    expect(problems).toEqual([]);
  }, 90_000);
});
