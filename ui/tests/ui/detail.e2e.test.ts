// The detail view (Text / JSON / Hex / decoded / frame anatomy) and the statistics panel,
// in headless Chromium under the app's CSP with the mocked shell.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useApp } from './app-suite';

const { open } = useApp();
const tid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

/** Selects session 3 and pushes one frame into it; returns its seq once its row is selected. */
async function push(page: Page, dir: 'client' | 'server', opcode: string, bytes: number[] | string, extra: Record<string, unknown> = {}): Promise<number> {
  const seq = await page.evaluate(
    ([dir, opcode, bytes, extra]) => {
      const data = typeof bytes === 'string' ? [...new TextEncoder().encode(bytes)] : bytes;
      const m = (window as unknown as { __sockscopeMock: { pushBytes: (...a: unknown[]) => number } }).__sockscopeMock;
      return m.pushBytes(3, dir, opcode, data, extra);
    },
    [dir, opcode, bytes, extra] as const,
  );
  await select(page, seq);
  return seq;
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
async function noScriptRan(page: Page) {
  expect(await page.locator('img[src="x"], script:not([src])').count()).toBe(0);
  expect(await page.title()).toBe('Sockscope');
  expect(await page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned)).toBeUndefined();
}

const HOSTILE = '<img src=x onerror="window.pwned=true;document.title=\'pwned\'"></script><script>window.pwned=true</script>';

describe('detail view', () => {
  it('JSON: tree with expand/collapse all, copy path and value, pretty text, find', async () => {
    const { page, problems } = await open();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await session3(page);
    await push(page, 'server', 'text', JSON.stringify({ type: 'book', data: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: 4.5, sym: 'ACME' }] }));
    const json = tid(page, 'detail-json');
    await expect.poll(() => json.getAttribute('data-mode')).toBe('tree');
    expect(await tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('json');
    // Default: the root's children are shown, deeper levels folded.
    await expect.poll(() => tid(page, 'json-row').count()).toBe(3);
    await tid(page, 'json-expand-all').click();
    await expect.poll(() => tid(page, 'json-row').count()).toBe(1 + 2 + 4 + 5);
    const price = page.locator('[data-testid="json-row"][data-path="$.data[3].price"]');
    await price.hover();
    await price.locator('[data-testid="json-copy-path"]').click();
    await expect.poll(() => tid(page, 'detail-copied').textContent()).toBe('Copied $.data[3].price');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('$.data[3].price');
    await page.locator('[data-testid="json-row"][data-path="$.data[3]"]').hover();
    await page.locator('[data-testid="json-row"][data-path="$.data[3]"] [data-testid="json-copy-value"]').click();
    expect(JSON.parse(await page.evaluate(() => navigator.clipboard.readText()))).toEqual({ price: 4.5, sym: 'ACME' });
    await tid(page, 'json-collapse-all').click();
    await expect.poll(() => tid(page, 'json-row').count()).toBe(1);
    // Find opens the node that matches.
    await page.locator('[data-testid="json-tree"]').click();
    await page.keyboard.press('Control+f');
    await tid(page, 'detail-find').fill('acme');
    await expect.poll(() => tid(page, 'detail-find-count').textContent()).toBe('1 / 1');
    await expect.poll(() => page.locator('[data-testid="json-row"][data-path="$.data[3].sym"]').count()).toBe(1);
    await page.screenshot({ path: '/tmp/ui-detail-json-tree.png' });
    // Pretty text.
    await tid(page, 'json-mode-text').click();
    await expect.poll(() => tid(page, 'json-text').textContent()).toContain('"price": 4.5,');
    await expect.poll(() => tid(page, 'detail-find-count').textContent()).toBe('1 / 1');
    expect(await page.locator('[data-testid="json-text"] mark').textContent()).toBe('ACME');
    expect(problems).toEqual([]);
  });

  it('invalid JSON says where it fails, with a marker', async () => {
    const { page, problems } = await open();
    await session3(page);
    await push(page, 'server', 'text', '{\n  "a": [1, 2,, 3]\n}');
    await tid(page, 'view-json').click();
    await expect.poll(() => tid(page, 'detail-json-error').textContent()).toContain('line 2, column 14');
    expect(await tid(page, 'json-source-marker').count()).toBe(1);
    expect(await tid(page, 'view-json').evaluate((el) => el.classList.contains('warn'))).toBe(true);
    await page.screenshot({ path: '/tmp/ui-detail-json-error.png' });
    expect(problems).toEqual([]);
  });

  it('hex: offsets, selection on both sides, copy as hex/base64/C/Rust', async () => {
    const { page, problems } = await open();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await session3(page);
    const bytes = Array.from({ length: 300 }, (_, i) => i & 0xff);
    await push(page, 'server', 'binary', bytes);
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('hex');
    const hex = tid(page, 'detail-hex');
    expect(await hex.getAttribute('data-len')).toBe('300');
    expect(await tid(page, 'hex-offset').allTextContents()).toEqual(
      Array.from({ length: 19 }, (_, r) => (r * 16).toString(16).padStart(8, '0')),
    );
    expect(await page.locator('[data-testid="hex-row"][data-offset="16"]').textContent()).toBe(
      Array.from({ length: 16 }, (_, i) => (16 + i).toString(16).padStart(2, '0')).join(''),
    );
    // Drag from byte 0x41 (hex side) to 0x4a (ASCII side).
    const from = page.locator('[data-testid="hex-row"] [data-i="65"]');
    const to = page.locator('[data-testid="hex-ascii"] [data-i="74"]');
    await from.hover();
    await page.mouse.down();
    await to.hover();
    await page.mouse.up();
    await expect.poll(() => tid(page, 'hex-selection').textContent()).toContain('0x41–0x4a · 10 B selected');
    expect(await hex.locator('.b.sel').count()).toBe(20); // both sides
    expect(await page.locator('[data-testid="hex-ascii"] .b.sel').allTextContents()).toEqual([...'ABCDEFGHIJ']);
    await tid(page, 'hex-copy-hex').click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('41 42 43 44 45 46 47 48 49 4a');
    await tid(page, 'hex-copy-base64').click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe('QUJDREVGR0hJSg==');
    await tid(page, 'hex-copy-rust').click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toMatch(/^let data: \[u8; 10\] = \[\n {4}0x41, 0x42/);
    await tid(page, 'hex-copy-c').click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toMatch(/^unsigned char data\[10\] = \{/);
    await page.screenshot({ path: '/tmp/ui-detail-hex.png' });
    expect(problems).toEqual([]);
  });

  it('a 16 MiB binary payload scrolls end to end; a 10 MB single-line text renders', async () => {
    const { page, problems } = await open();
    await session3(page);
    const seq = await page.evaluate(() => {
      const b = new Uint8Array(16 * 1024 * 1024);
      for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
      const m = (window as unknown as { __sockscopeMock: { pushBytes: (...a: unknown[]) => number } }).__sockscopeMock;
      return m.pushBytes(3, 'server', 'binary', b);
    });
    const t0 = Date.now();
    await select(page, seq);
    await expect.poll(() => tid(page, 'hex-view').getAttribute('data-rows'), { timeout: 20_000 }).toBe(String(1024 * 1024));
    const shown = Date.now() - t0;
    await tid(page, 'hex-view').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await expect.poll(async () => (await tid(page, 'hex-offset').allTextContents()).at(-1)).toBe('00fffff0');
    // The page stays responsive: a round trip takes well under a second.
    const ping = Date.now();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
    expect(Date.now() - ping).toBeLessThan(1000);
    console.log(`16 MiB hex: first rows after ${shown} ms`);

    const big = await page.evaluate(() => {
      const b = new Uint8Array(10 * 1024 * 1024).fill(0x61);
      b.set(new TextEncoder().encode('NEEDLE'), b.length - 6);
      const m = (window as unknown as { __sockscopeMock: { pushBytes: (...a: unknown[]) => number } }).__sockscopeMock;
      return m.pushBytes(3, 'server', 'text', b);
    });
    const t1 = Date.now();
    await select(page, big);
    await expect.poll(() => tid(page, 'detail-text-view').getAttribute('data-rows'), { timeout: 20_000 }).not.toBeNull();
    const rowsShown = Number(await tid(page, 'detail-text-view').getAttribute('data-rows'));
    expect(rowsShown).toBeGreaterThan(50_000);
    console.log(`10 MB text: ${rowsShown} rows after ${Date.now() - t1} ms`);
    // No DOM text node holds the payload: only a screenful of rows is drawn.
    expect(await tid(page, 'detail-text').evaluate((el) => el.textContent!.length)).toBeLessThan(20_000);
    await page.keyboard.press('Control+f');
    await tid(page, 'detail-find').fill('needle');
    await expect.poll(() => tid(page, 'detail-find-count').textContent(), { timeout: 10_000 }).toBe('1 / 1');
    await expect.poll(() => tid(page, 'detail-text').locator('mark').textContent()).toBe('NEEDLE');
    expect(problems).toEqual([]);
  }, 90_000);

  it('decoders: MessagePack, Socket.IO, CBOR, STOMP, GraphQL; switchable per connection', async () => {
    const { page, problems } = await open();
    await session3(page);
    // {"compact":true,"schema":0}
    await push(page, 'server', 'binary', [0x82, 0xa7, 0x63, 0x6f, 0x6d, 0x70, 0x61, 0x63, 0x74, 0xc3, 0xa6, 0x73, 0x63, 0x68, 0x65, 0x6d, 0x61, 0x00]);
    await expect.poll(() => tid(page, 'detail-decoded-summary').textContent()).toBe('MessagePack map of 2');
    expect(await tid(page, 'detail-decoded-summary').getAttribute('data-decoder')).toBe('msgpack');
    await expect.poll(() => tid(page, 'detail-decoded').locator('[data-path="$.compact"]').textContent()).toContain('true');
    await page.screenshot({ path: '/tmp/ui-detail-msgpack.png' });
    await push(page, 'server', 'text', '42["chat",{"text":"hi"}]');
    await expect.poll(() => tid(page, 'detail-decoded-summary').textContent()).toBe('Socket.IO EVENT "chat"');
    await push(page, 'server', 'binary', [0xd9, 0xd9, 0xf7, 0xa1, 0x61, 0x61, 0x01]);
    await expect.poll(() => tid(page, 'detail-decoded-summary').textContent()).toBe('CBOR map of 1');
    await push(page, 'server', 'text', 'MESSAGE\ndestination:/topic/prices\ncontent-type:application/json\n\n{"p":1}\0');
    await expect.poll(() => tid(page, 'detail-decoded-summary').textContent()).toBe('STOMP MESSAGE /topic/prices (7 B body)');
    await push(page, 'client', 'text', JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription OnPrice { price }' } }));
    await expect.poll(() => tid(page, 'detail-decoded-summary').textContent()).toBe('GraphQL subscribe #1: subscription OnPrice');
    // Decoded views are searchable.
    await page.keyboard.press('Control+f');
    await tid(page, 'detail-find').fill('OnPrice');
    await expect.poll(() => tid(page, 'detail-find-count').textContent()).toBe('1 / 2');
    // Switch this connection to no decoder: the same frame shows as JSON.
    await tid(page, 'decoder-select').selectOption('none');
    await tid(page, 'view-auto').click();
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('json');
    // Forcing a decoder that does not fit says why.
    await tid(page, 'decoder-select').selectOption('cbor');
    await expect.poll(() => tid(page, 'detail-decoded-error').textContent()).toContain('CBOR cannot decode this payload');
    expect(problems).toEqual([]);
  });

  it('payloads with HTML and script stay text in every view', async () => {
    const { page, problems } = await open();
    await session3(page);
    await push(page, 'server', 'text', HOSTILE);
    await expect.poll(() => tid(page, 'detail-text').textContent()).toBe(HOSTILE);
    await noScriptRan(page);
    for (const tab of ['view-hex', 'view-frame', 'view-json', 'view-decoded']) {
      await tid(page, tab).click();
      await page.waitForTimeout(50);
      await noScriptRan(page);
    }
    await tid(page, 'view-auto').click();
    await push(page, 'server', 'text', JSON.stringify({ html: HOSTILE }));
    await expect.poll(() => tid(page, 'detail-json').textContent()).toContain('<img src=x onerror=');
    await tid(page, 'json-mode-text').click();
    await expect.poll(() => tid(page, 'json-text').textContent()).toContain('<\\/script>'.replace('\\/', '/'));
    await noScriptRan(page);
    await push(page, 'server', 'text', `42["evil",${JSON.stringify(HOSTILE)}]`);
    await tid(page, 'json-expand-all').click();
    await expect.poll(() => tid(page, 'detail-decoded').textContent()).toContain('<script>window.pwned=true</script>');
    await noScriptRan(page);
    await push(page, 'server', 'text', `MESSAGE\ndestination:/x\n\n${HOSTILE}\0`);
    await expect.poll(() => tid(page, 'detail-decoded-summary').textContent()).toContain('STOMP MESSAGE /x');
    await noScriptRan(page);
    expect(problems).toEqual([]);
  });

  it('frame facts and the RFC 6455 anatomy with the frame\'s bits; fragments joined', async () => {
    const { page, problems } = await open();
    await session3(page);
    await push(page, 'client', 'text', 'Hello', { masked: true });
    await tid(page, 'view-frame').click();
    await expect.poll(() => tid(page, 'anatomy-wire').textContent()).toBe('818537fa213d7f9f4d5158');
    expect(await page.locator('[data-field="opcode"]').getAttribute('data-bits')).toBe('0001');
    expect(await page.locator('[data-field="len7"]').getAttribute('data-bits')).toBe('0000101');
    expect(await page.locator('[data-field="maskkey"]').count()).toBe(2); // split over two rows
    expect(await tid(page, 'detail-facts').textContent()).toContain('key 0x37fa213d');
    await page.screenshot({ path: '/tmp/ui-detail-anatomy.png' });
    // A close frame: code, reason and its meaning.
    await push(page, 'server', 'close', [0x0f, 0xa1, ...new TextEncoder().encode('bye')], { close_code: 4001, close_reason: 'bye' });
    await expect.poll(() => tid(page, 'detail-facts').textContent()).toContain('4001 — private use');
    // Fragments: the continuation shows the whole message. Its rows are drawn a frame later:
    // the last row is read once all three are there (read at once, it could be the close).
    const rows = page.locator('[data-testid="frame-row"]');
    const before = await rows.count();
    await page.evaluate(() => (window as unknown as { __sockscopeMock: { pushFragments: (s: number, p: string[]) => void } }).__sockscopeMock.pushFragments(3, ['{"a":', '[1,', '2]}']));
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(before + 3);
    const last = await rows.last().getAttribute('data-seq');
    await select(page, Number(last));
    await expect.poll(() => tid(page, 'detail-message').textContent()).toContain('message of 3 frames');
    await tid(page, 'view-auto').click();
    await expect.poll(() => tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('json');
    await tid(page, 'detail-unit').locator('[data-unit="frame"]').click();
    await tid(page, 'view-text').click();
    await expect.poll(() => tid(page, 'detail-text').textContent()).toBe('2]}');
    expect(problems).toEqual([]);
  });
});

describe('statistics panel', () => {
  it('charts the session, switches to the connection, and updates live', async () => {
    const { page, problems } = await open();
    await page.locator('[data-testid="session-item"][data-session-id="1"]').click();
    await expect.poll(() => page.locator('[data-testid="frame-row"]').count()).toBeGreaterThan(10);
    await tid(page, 'stats-toggle').click();
    await expect.poll(() => tid(page, 'stats-totals').textContent()).toMatch(/↑ [\d,]+ ·/);
    // uPlot loads with the panel's first opening.
    await expect.poll(() => page.locator('[data-testid="stats-chart-messages"] canvas').count()).toBe(1);
    await expect.poll(() => page.locator('[data-testid="stats-chart-sizes"] canvas').count()).toBe(1);
    const before = await tid(page, 'stats-totals').textContent();
    const total = () => page.evaluate(() => document.querySelector('[data-testid="stats-totals"] .s')?.textContent ?? '');
    const down0 = await total();
    await page.evaluate(() => (window as unknown as { __sockscopeMock: { pushFrames: (s: number, n: number) => void } }).__sockscopeMock.pushFrames(1, 25));
    await expect.poll(total).not.toBe(down0);
    expect(await tid(page, 'stats-totals').textContent()).not.toBe(before);
    await tid(page, 'stats-scope-connection').click();
    await expect.poll(() => tid(page, 'stats-totals').textContent()).toMatch(/↑/);
    await page.screenshot({ path: '/tmp/ui-stats.png' });
    expect(problems).toEqual([]);
  });
});
