// The Decoded view's protocol decoders that need more than one payload or the connection:
// Socket.IO binary attachments stitched into their event (and the way back), Engine.IO v3,
// STOMP over SockJS, and the decoder choice saved per connection / as the session default.
// Headless Chromium, production bundle under the app's CSP, mocked shell.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useApp } from './app-suite';

const { open } = useApp();
const tid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

type Mock = {
  pushBytes: (s: number, dir: string, opcode: string, data: number[], extra?: Record<string, unknown>) => number;
  addConn: (s: number, url: string) => number;
  decoderChoices: Map<number, Map<number, string>>;
  calls: { cmd: string; args: Record<string, unknown> }[];
};

/** Pushes frames into session 3 (on its newest connection) without selecting; returns their seqs. */
async function pushAll(page: Page, frames: [string, string, number[] | string][]): Promise<number[]> {
  return page.evaluate((frames) => {
    const m = (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock;
    return frames.map(([dir, opcode, b]) => m.pushBytes(3, dir, opcode, typeof b === 'string' ? [...new TextEncoder().encode(b)] : b));
  }, frames);
}
async function addConn(page: Page, url: string): Promise<number> {
  return page.evaluate((url) => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.addConn(3, url), url);
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
const summary = (page: Page) => tid(page, 'detail-decoded-summary').textContent();

const V4 = 'ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket';
const V3 = 'ws://127.0.0.1:3000/socket.io/?EIO=3&transport=websocket';

describe('decoders across frames', () => {
  it('Socket.IO BINARY_EVENT: attachments stitched in, openable in Hex; an attachment links back to its event', async () => {
    const { page, problems } = await open();
    await session3(page);
    await addConn(page, V4);
    const [ev, a0, , a1] = await pushAll(page, [
      ['client', 'text', '452-["upload",{"_placeholder":true,"num":0},{"meta":{"_placeholder":true,"num":1}}]'],
      ['client', 'binary', [1, 2, 3]],
      ['server', 'text', '2'], // an Engine.IO ping the other way, in between
      ['client', 'binary', [0xde, 0xad, 0xbe, 0xef, 0x3c, 0x73, 0x63, 0x72, 0x69, 0x70, 0x74, 0x3e]],
    ]);
    await select(page, ev);
    await expect.poll(() => summary(page)).toBe('Socket.IO BINARY_EVENT "upload" + 2 binary attachments (2 of 2 stitched)');
    expect(await tid(page, 'detail-tabs').getAttribute('data-tab')).toBe('decoded');
    const list = tid(page, 'decoded-attachments');
    expect(await list.getAttribute('data-found')).toBe('2');
    expect(await tid(page, 'decoded-attachment').nth(0).getAttribute('data-seq')).toBe(String(a0));
    expect(await tid(page, 'decoded-attachment').nth(1).getAttribute('data-seq')).toBe(String(a1));
    // The placeholders are replaced in the tree.
    await tid(page, 'json-expand-all').click();
    await expect.poll(() => page.locator('[data-testid="json-row"][data-path="$.socketio.args[0].hex"]').textContent()).toContain('"01 02 03"');
    expect(await page.locator('[data-testid="json-row"][data-path="$.socketio.args[1].meta.base64"]').textContent()).toContain('"3q2+7zxzY3JpcHQ+"');
    expect(await page.locator('[data-testid="json-row"][data-path="$.socketio.args[1].meta.bytes"]').textContent()).toContain('12');
    // Stitched values are searchable.
    await page.keyboard.press('Control+f');
    await tid(page, 'detail-find').fill('de ad be ef');
    await expect.poll(() => tid(page, 'detail-find-count').textContent()).toBe('1 / 1');
    await page.keyboard.press('Escape');
    // Hex of the second attachment, then back to the tree.
    await tid(page, 'decoded-attachment').nth(1).locator('[data-testid="decoded-attachment-hex"]').click();
    await expect.poll(() => tid(page, 'detail-hex').getAttribute('data-len')).toBe('12');
    expect(await tid(page, 'hex-ascii').first().textContent()).toContain('<script>');
    await page.screenshot({ path: '/tmp/ui-decoded-socketio-attachments.png' });
    await tid(page, 'decoded-attachment').nth(1).locator('[data-testid="decoded-attachment-hex"]').click();
    await expect.poll(() => tid(page, 'detail-decoded').count()).toBe(1);
    // The attachment frame says which event it belongs to, and leads back.
    await select(page, a1);
    await expect.poll(() => summary(page)).toBe(`Socket.IO attachment 2 of 2 of event #${ev} — Socket.IO BINARY_EVENT "upload" + 2 binary attachments`);
    expect(await tid(page, 'decoded-attachment-of').getAttribute('data-index')).toBe('1');
    await tid(page, 'decoded-attachment-hex').click();
    await expect.poll(() => tid(page, 'detail-hex').getAttribute('data-len')).toBe('12');
    await tid(page, 'decoded-open-event').click();
    await expect.poll(() => tid(page, 'detail-header').locator('.seq').textContent()).toBe(`#${ev}`);
    // Reads went through the unfiltered paging, never a filtered scan of the session.
    const calls = await page.evaluate(() => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.calls.filter((c) => c.cmd === 'timeline_page' || c.cmd === 'timeline_index_of'));
    expect(calls.length).toBeGreaterThan(0);
    expect(await page.locator('img[src="x"], script:not([src])').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('hostile BINARY_EVENT: a lying count and a huge num show what is missing', async () => {
    const { page, problems } = await open();
    await session3(page);
    await addConn(page, V4);
    const [ev] = await pushAll(page, [
      ['server', 'text', '45999999999-["x",{"_placeholder":true,"num":1e308},{"_placeholder":true,"num":0}]'],
      ['server', 'binary', [7]],
      ['server', 'text', '42["next"]'],
    ]);
    await select(page, ev);
    await expect.poll(() => tid(page, 'decoded-attachments-missing').textContent(), { timeout: 10_000 }).toContain('declares 999999999 attachments');
    expect(await tid(page, 'decoded-attachments-missing').textContent()).toContain('came first');
    await tid(page, 'json-expand-all').click();
    await expect.poll(() => page.locator('[data-testid="json-row"][data-path="$.socketio.args[0].missing"]').textContent()).toContain('beyond the 999999999');
    expect(await page.locator('[data-testid="json-row"][data-path="$.socketio.args[1].hex"]').textContent()).toContain('"07"');
    expect(problems).toEqual([]);
  });

  it('Socket.IO: an expanded tree stays expanded when a live attachment is stitched in', async () => {
    const { page, problems } = await open();
    await session3(page);
    await addConn(page, V4);
    const [ev] = await pushAll(page, [['server', 'text', '451-["frame",{"_placeholder":true,"num":0},{"deep":{"er":[1,2]}}]']]);
    await select(page, ev);
    await expect.poll(() => tid(page, 'decoded-attachments-missing').textContent()).toContain('not recorded (yet)');
    await tid(page, 'json-expand-all').click();
    const deep = page.locator('[data-testid="json-row"][data-path="$.socketio.args[1].deep.er[1]"]');
    await expect.poll(() => deep.count()).toBe(1);
    // The attachment arrives; the view reads it on its own a moment later and stitches it in.
    await pushAll(page, [['server', 'binary', [0xab, 0xcd]]]);
    await expect.poll(() => summary(page), { timeout: 10_000 }).toBe('Socket.IO BINARY_EVENT "frame" + 1 binary attachment (1 of 1 stitched)');
    expect(await deep.count()).toBe(1);
    const hex = page.locator('[data-testid="json-row"][data-path="$.socketio.args[0].hex"]');
    expect(await hex.count()).toBe(1);
    expect(await hex.textContent()).toContain('"ab cd"');
    // Another frame, then back: the default expansion again.
    const [other] = await pushAll(page, [['client', 'text', '42["ping",{"a":{"b":1}}]']]);
    await select(page, other);
    await select(page, ev);
    await expect.poll(() => summary(page)).toContain('(1 of 1 stitched)');
    expect(await deep.count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('Engine.IO v3: binary frames with their type byte, base64 packets, client pings', async () => {
    const { page, problems } = await open();
    await session3(page);
    await addConn(page, V3);
    const [bin, b64, ping, ev, att] = await pushAll(page, [
      ['server', 'binary', [4, 1, 2, 3, 4]],
      ['server', 'text', 'b4AQIDBA=='],
      ['client', 'text', '2'],
      ['server', 'text', '451-["file",{"_placeholder":true,"num":0}]'],
      ['server', 'binary', [4, 0xca, 0xfe]],
    ]);
    await select(page, bin);
    await expect.poll(() => summary(page)).toBe('Engine.IO v3 binary message (4 B)');
    await select(page, b64);
    await expect.poll(() => summary(page)).toBe('Engine.IO v3 binary message (4 B)');
    await select(page, ping);
    await expect.poll(() => summary(page)).toBe('Engine.IO v3 ping');
    await select(page, ev);
    await expect.poll(() => tid(page, 'decoded-attachments').getAttribute('data-version')).toBe('3');
    await tid(page, 'json-expand-all').click();
    await expect.poll(() => page.locator('[data-testid="json-row"][data-path="$.socketio.args[0].hex"]').textContent()).toContain('"ca fe"');
    await select(page, att);
    await expect.poll(() => summary(page)).toContain(`Socket.IO attachment 1 of 1 of event #${ev}`);
    expect(problems).toEqual([]);
  });

  it('STOMP over SockJS and plain SockJS JSON are decoded', async () => {
    const { page, problems } = await open();
    await session3(page);
    await addConn(page, 'ws://127.0.0.1:8080/ws/042/x1y2z3/websocket');
    const body = '{"content":"Hello, <img src=x onerror=alert(1)>"}';
    const msg = `MESSAGE\ndestination:/topic/greetings\ncontent-type:application/json\nsubscription:sub-0\nmessage-id:m-1\ncontent-length:${new TextEncoder().encode(body).length}\n\n${body}\u0000`;
    const [o, send, m, j, c] = await pushAll(page, [
      ['server', 'text', 'o'],
      ['client', 'text', JSON.stringify(['SEND\ndestination:/app/hello\ncontent-length:2\n\nhi\u0000'])],
      ['server', 'text', `a${JSON.stringify([msg])}`],
      ['server', 'text', `a${JSON.stringify([JSON.stringify({ type: 'tick', p: 1 })])}`],
      ['server', 'text', 'c[3000,"Go away!"]'],
    ]);
    await select(page, o);
    await expect.poll(() => summary(page)).toBe('SockJS open');
    await select(page, send);
    await expect.poll(() => summary(page)).toBe('SockJS send[1]: STOMP SEND /app/hello (2 B body)');
    await select(page, m);
    await expect.poll(() => summary(page)).toBe(`SockJS a[1]: STOMP MESSAGE /topic/greetings (${new TextEncoder().encode(body).length} B body)`);
    expect(await tid(page, 'detail-decoded-summary').getAttribute('data-decoder')).toBe('sockjs');
    await tid(page, 'json-expand-all').click();
    await expect.poll(() => page.locator('[data-testid="json-row"][data-path="$.messages[0].stomp.body.content"]').textContent()).toContain('<img src=x onerror=alert(1)>');
    await page.screenshot({ path: '/tmp/ui-decoded-stomp-sockjs.png' });
    await select(page, j);
    await expect.poll(() => summary(page)).toBe('SockJS a[1]: JSON');
    await select(page, c);
    await expect.poll(() => summary(page)).toBe('SockJS close 3000 "Go away!"');
    expect(await page.locator('img[src="x"], script:not([src])').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('the decoder choice is saved per connection, as a session default, and read back when the session opens', async () => {
    const { page, problems } = await open();
    await session3(page);
    const conn = await addConn(page, 'ws://127.0.0.1:9/plain');
    const [seq] = await pushAll(page, [['server', 'text', '{"a":1}']]);
    await select(page, seq);
    await tid(page, 'decoder-select').selectOption('base64');
    const saved = () =>
      page.evaluate(() => {
        const m = (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.decoderChoices.get(3);
        return m ? Object.fromEntries(m) : {};
      });
    await expect.poll(saved).toEqual({ [conn]: 'base64' });
    await expect.poll(() => tid(page, 'detail-decoded-error').textContent()).toContain('Base64 cannot decode this payload');
    // "All": the session default; the connection follows it.
    await tid(page, 'decoder-select').selectOption('none');
    await tid(page, 'decoder-session-default').click();
    await expect.poll(saved).toEqual({ 0: 'none' });
    expect(await tid(page, 'decoder-session-default').getAttribute('aria-pressed')).toBe('true');
    expect(await tid(page, 'decoder-select').inputValue()).toBe('none');
    // A connection's own choice over the default, and back to the default.
    await tid(page, 'decoder-select').selectOption('stomp');
    await expect.poll(saved).toEqual({ 0: 'none', [conn]: 'stomp' });
    await tid(page, 'decoder-select').selectOption('default');
    await expect.poll(saved).toEqual({ 0: 'none' });
    expect(await tid(page, 'decoder-select').inputValue()).toBe('none');

    // Another window (a restart of the UI) with choices in the store: they apply at once.
    const second = await open();
    await second.page.evaluate(() => {
      const m = (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock;
      m.decoderChoices.set(3, new Map([[0, 'msgpack']]));
    });
    await session3(second.page);
    const [fresh] = await pushAll(second.page, [['server', 'text', '{"b":2}']]);
    await select(second.page, fresh);
    await expect.poll(() => tid(second.page, 'decoder-select').inputValue()).toBe('msgpack');
    expect(await tid(second.page, 'decoder-session-default').getAttribute('data-session-default')).toBe('msgpack');
    expect(problems).toEqual([]);
    expect(second.problems).toEqual([]);
  });
});
