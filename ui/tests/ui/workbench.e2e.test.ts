// The connection workbench in headless Chromium against the mock shell: welcome screen and
// demo servers, the connection editor, several connections side by side, the composer's
// modes, variables, history, templates, repeat, send on save and the handshake view.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useApp } from './app-suite';

const { open } = useApp();

interface Call {
  cmd: string;
  args: Record<string, unknown>;
}
type Mock = {
  calls: Call[];
  wb: {
    editTemplateFile(name: string, body: string): void;
    saveWatchedFile(watchId: number, content: string): void;
    setRtt(id: number, ms: number): void;
    reconnect(id: number, delayMs?: number): void;
  };
};

const tid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);
const rows = (page: Page) => page.locator('[data-testid="frame-row"]');
const link = (page: Page, id: number) => page.locator(`[data-testid="link-item"][data-link-id="${id}"]`);

function callsOf(page: Page, cmd: string): Promise<Record<string, unknown>[]> {
  return page.evaluate((c) => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.calls.filter((x) => x.cmd === c).map((x) => x.args), cmd);
}

/** Texts of the rendered timeline rows, in order. */
function rowTexts(page: Page): Promise<string[]> {
  return rows(page).evaluateAll((els) => els.map((e) => e.textContent ?? ''));
}

async function connectTo(page: Page, url: string) {
  await tid(page, 'url-input').fill(url);
  await tid(page, 'url-input').press('Enter');
  await expect.poll(() => tid(page, 'connection-badge').getAttribute('data-state')).toBe('open');
}

describe('welcome screen', () => {
  it('shows demo servers on a first start; "Try it" starts one, connects, and fills the composer', async () => {
    const { page, problems } = await open({ mock: true, query: '?empty=1' });
    await expect.poll(() => tid(page, 'welcome').isVisible()).toBe(true);
    expect(await tid(page, 'demo-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')))).toEqual([
      'echo',
      'chat',
      'ticker',
      'telemetry',
      'notifications',
    ]);
    await page.screenshot({ path: '/tmp/ui-shot-welcome-dark.png' });
    await page.locator('[data-testid="demo-try"][data-kind="echo"]').click();
    // The demo runs, the app is connected to it, and the welcome screen gives way.
    await expect.poll(() => tid(page, 'link-item').count()).toBe(1);
    await expect.poll(() => tid(page, 'link-item').getAttribute('data-state')).toBe('open');
    expect(await tid(page, 'welcome').count()).toBe(0);
    expect(await callsOf(page, 'demo_start')).toEqual([{ kind: 'echo' }]);
    expect(await callsOf(page, 'wb_connect')).toEqual([{ spec: { url: 'ws://127.0.0.1:47001/' } }]);
    // A first message with variables is ready; the preview shows what goes out.
    expect(await tid(page, 'composer').inputValue()).toBe('Hello #{{counter}} at {{now}}');
    await expect.poll(() => tid(page, 'var-preview').textContent()).toMatch(/Hello #1 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
    await tid(page, 'send-button').click();
    await expect.poll(() => rows(page).count()).toBe(3);
    const texts = await rowTexts(page);
    expect(texts[1]).toMatch(/Hello #1 at 20/);
    // The counter moved on.
    await expect.poll(() => tid(page, 'var-preview').textContent()).toMatch(/Hello #2 at/);
    await expect.poll(() => link(page, 1).locator('[data-testid="link-counts"]').textContent()).toBe('↑1 ↓2');
    // The toolbar brings the welcome screen back, with the running demo listed.
    await tid(page, 'welcome-toggle').click();
    await expect.poll(() => tid(page, 'demo-list').textContent()).toContain('ws://127.0.0.1:47001/');
    await tid(page, 'demo-stop').click();
    await expect.poll(() => tid(page, 'demo-list').count()).toBe(0);
    await tid(page, 'welcome-close').click();
    expect(await tid(page, 'timeline').isVisible()).toBe(true);
    expect(problems).toEqual([]);
  });
});

describe('connection editor', () => {
  it('sends query rows, headers, subprotocols, origin, auth, TLS, limits and keep-alive; shows errors in their tab', async () => {
    const { page, problems } = await open({ mock: true });
    await tid(page, 'url-input').fill('ws://127.0.0.1:9100/feed?room=a%20b&debug=1');
    await page.keyboard.press('Control+n');
    const ed = tid(page, 'connection-editor');
    await expect.poll(() => ed.isVisible()).toBe(true);
    // The URL's query became rows of the table.
    expect(await tid(page, 'editor-url').inputValue()).toBe('ws://127.0.0.1:9100/feed');
    const q = page.locator('[data-testid="editor-query-row"]');
    expect(await q.count()).toBe(2);
    expect(await q.nth(0).locator('[data-testid="kv-value"]').inputValue()).toBe('a b');
    // Untick "debug": it stays in the table but is not sent.
    await q.nth(1).locator('[data-testid="kv-enabled"]').uncheck();
    expect(await tid(page, 'editor-effective-url').textContent()).toBe('ws://127.0.0.1:9100/feed?room=a%20b');

    await page.locator('[data-testid="editor-tab"][data-tab="headers"]').click();
    await tid(page, 'editor-headers-add').click();
    const h = page.locator('[data-testid="editor-headers-row"]').first();
    await h.locator('[data-testid="kv-name"]').fill('Bad Header');
    await h.locator('[data-testid="kv-value"]').fill('1');
    await tid(page, 'editor-subprotocols').fill('chat.v2, superchat');
    await tid(page, 'editor-origin').fill('https://app.example.test');
    await tid(page, 'editor-connect').click();
    await expect.poll(() => tid(page, 'editor-error').textContent()).toContain('"Bad Header" is not a header name');
    await h.locator('[data-testid="kv-name"]').fill('X-Trace');

    await page.locator('[data-testid="editor-tab"][data-tab="auth"]').click();
    await page.locator('[data-testid="editor-auth"][data-kind="bearer"]').click();
    await tid(page, 'editor-token').fill('s3cret');

    // TLS on a ws:// URL is refused, and the TLS tab is shown.
    await page.locator('[data-testid="editor-tab"][data-tab="tls"]').click();
    await tid(page, 'editor-insecure').check();
    expect(await tid(page, 'editor-insecure-warning').textContent()).toContain('unverified');
    await page.locator('[data-testid="editor-tab"][data-tab="options"]').click();
    await tid(page, 'editor-connect').click();
    await expect.poll(() => tid(page, 'editor-error').textContent()).toBe('TLS options apply to wss:// URLs only.');
    expect(await page.locator('[data-testid="editor-tab"][aria-selected="true"]').getAttribute('data-tab')).toBe('tls');
    await tid(page, 'editor-url').fill('wss://127.0.0.1:9100/feed');

    // Limits show their defaults; keep-alive every 2 s; reconnect on.
    await page.locator('[data-testid="editor-tab"][data-tab="options"]').click();
    expect(await tid(page, 'editor-max-message').getAttribute('placeholder')).toBe('67108864');
    expect(await tid(page, 'editor-handshake-timeout').getAttribute('placeholder')).toBe('10000');
    await tid(page, 'editor-max-frame').fill('65536');
    await tid(page, 'editor-reconnect').check();
    await tid(page, 'editor-max-attempts').fill('3');
    await tid(page, 'editor-keepalive').check();
    await tid(page, 'editor-ping-interval').fill('2');
    await page.screenshot({ path: '/tmp/ui-shot-editor-dark.png' });
    await tid(page, 'editor-connect').click();
    await expect.poll(() => ed.count()).toBe(0);
    expect(await callsOf(page, 'wb_connect')).toEqual([
      {
        spec: {
          url: 'wss://127.0.0.1:9100/feed',
          query: [
            { name: 'room', value: 'a b', enabled: true },
            { name: 'debug', value: '1', enabled: false },
          ],
          headers: [{ name: 'X-Trace', value: '1', enabled: true }],
          subprotocols: ['chat.v2', 'superchat'],
          origin: 'https://app.example.test',
          auth: { kind: 'bearer', token: 's3cret' },
          tls: { ca_file: null, client_cert: null, client_key: null, pkcs12_file: null, pkcs12_password: null, insecure: true },
          limits: { max_frame_size: 65536 },
          reconnect: { enabled: true, max_attempts: 3 },
          ping_interval_ms: 2000,
        },
      },
    ]);
    // "Do not verify" is shown on the connection afterwards.
    await expect.poll(() => link(page, 1).getAttribute('data-state')).toBe('open');
    expect(await link(page, 1).locator('[data-testid="insecure-badge"]').textContent()).toBe('unverified');
    expect(await tid(page, 'toolbar-insecure').isVisible()).toBe(true);
    // Keep-alive round trip.
    await page.evaluate(() => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.wb.setRtt(1, 12.7));
    await expect.poll(() => link(page, 1).locator('[data-testid="link-rtt"]').textContent()).toBe('13 ms');
    // The options button reopens the editor with what the connection was opened with.
    await tid(page, 'connection-options').click();
    expect(await tid(page, 'editor-subprotocols').inputValue()).toBe('chat.v2, superchat');
    await page.keyboard.press('Escape');
    await expect.poll(() => ed.count()).toBe(0);
    expect(problems).toEqual([]);
  });
});

describe('several connections', () => {
  it('each keeps its own timeline, selection and draft; JSON and binary validate before sending', async () => {
    const { page, problems } = await open({ mock: true });
    await connectTo(page, 'ws://127.0.0.1:9201/a');
    await connectTo(page, 'ws://127.0.0.1:9202/b');
    expect(await tid(page, 'link-item').count()).toBe(2);

    // B: binary hex, invalid first.
    await page.locator('[data-testid="composer-mode"] [data-mode="binary"]').click();
    const composer = tid(page, 'composer');
    await composer.fill('00 ff 1');
    await expect.poll(() => tid(page, 'send-error').textContent()).toMatch(/Odd number of hex digits/);
    expect(await tid(page, 'send-button').isDisabled()).toBe(true);
    await composer.fill('00 ff 10 20');
    await expect.poll(() => tid(page, 'composer-label').textContent()).toBe('Binary message · 4 B');
    await composer.press('Control+Enter');
    await expect.poll(() => rows(page).count()).toBe(3);
    await rows(page).nth(1).click();

    // A: JSON in CodeMirror; invalid JSON is refused with its position, Format fixes layout.
    await link(page, 1).click();
    await expect.poll(() => rowTexts(page)).toHaveLength(1);
    await page.locator('[data-testid="composer-mode"] [data-mode="json"]').click();
    const cm = tid(page, 'composer');
    expect(await cm.getAttribute('contenteditable')).toBe('true');
    await cm.click();
    await page.keyboard.type('{"op": "sub", "n": {{counter}},}');
    await expect.poll(() => tid(page, 'send-error').textContent()).toMatch(/^Invalid JSON at line 1, column 32: Expected a key after "," but found "}"/);
    await expect.poll(() => page.locator('.cm-lintRange-error').count()).toBeGreaterThan(0);
    expect(await tid(page, 'send-button').isDisabled()).toBe(true);
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('}');
    await expect.poll(() => tid(page, 'var-preview').textContent()).toContain('{"op": "sub", "n": 1}');
    await page.keyboard.press('Control+Enter');
    await expect.poll(() => rows(page).count()).toBe(3);
    expect((await rowTexts(page))[1]).toContain('{"op": "sub", "n": 1}');
    await page.screenshot({ path: '/tmp/ui-shot-json-dark.png' });

    // Each timeline shows only its own frames; switching back restores mode, draft and selection.
    await link(page, 2).click();
    await expect.poll(async () => (await rowTexts(page)).join('|')).toMatch(/00 ff 10 20/);
    expect((await rowTexts(page)).join('|')).not.toContain('"op"');
    expect(await page.locator('[data-testid="composer-mode"]').getAttribute('data-mode')).toBe('binary');
    expect(await tid(page, 'composer').inputValue()).toBe('00 ff 10 20');
    await expect.poll(() => page.locator('[data-testid="frame-row"][aria-selected="true"]').getAttribute('data-seq')).toBe('2');
    await link(page, 1).click();
    await expect.poll(async () => (await rowTexts(page)).join('|')).toContain('"op"');
    expect((await rowTexts(page)).join('|')).not.toContain('00 ff 10 20');
    expect(await page.locator('[data-testid="composer-mode"]').getAttribute('data-mode')).toBe('json');
    expect(await tid(page, 'composer').textContent()).toBe('{"op": "sub", "n": {{counter}}}');

    // Format / minify (without variables).
    await tid(page, 'composer').click();
    await page.keyboard.press('Control+a');
    await page.keyboard.type('{"a":[1,2]}');
    await tid(page, 'json-format').click();
    await expect.poll(() => page.locator('.cm-line').count()).toBe(6);
    await tid(page, 'json-minify').click();
    await expect.poll(() => tid(page, 'composer').textContent()).toBe('{"a":[1,2]}');

    const sends = await callsOf(page, 'wb_send');
    expect(sends).toEqual([
      { id: 2, message: { kind: 'binary', base64: 'AP8QIA==' } },
      { id: 1, message: { kind: 'text', text: '{"op": "sub", "n": 1}' } },
    ]);
    expect(problems).toEqual([]);
  });

  it('Up/Down walk the sent history; ping, close and file modes send the right frames', async () => {
    const { page, problems } = await open({ mock: true });
    await connectTo(page, 'ws://127.0.0.1:9301/h');
    const composer = tid(page, 'composer');
    for (const m of ['first', 'second']) {
      await composer.fill(m);
      await composer.press('Control+Enter');
    }
    await expect.poll(() => rows(page).count()).toBe(5);
    await composer.fill('draft');
    await composer.press('ArrowUp');
    expect(await composer.inputValue()).toBe('second');
    await composer.press('ArrowUp');
    expect(await composer.inputValue()).toBe('first');
    await composer.press('ArrowDown');
    await composer.press('ArrowDown');
    expect(await composer.inputValue()).toBe('draft');
    expect(await callsOf(page, 'history_append')).toEqual([
      { target: 'ws://127.0.0.1:9301/h', mode: 'text', body: 'first' },
      { target: 'ws://127.0.0.1:9301/h', mode: 'text', body: 'second' },
    ]);

    // File: the bytes of the chosen file, as one binary message.
    await page.locator('[data-testid="composer-mode"] [data-mode="file"]').click();
    await tid(page, 'composer-file').setInputFiles({ name: 'blob.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([1, 2, 3, 250]) });
    await expect.poll(() => tid(page, 'composer-file-name').textContent()).toBe('blob.bin');
    await tid(page, 'send-button').click();

    // Ping with a payload: the pong comes back.
    await page.locator('[data-testid="composer-mode"] [data-mode="ping"]').click();
    await tid(page, 'ping-payload').fill('are you there');
    await tid(page, 'ping-payload').press('Control+Enter');
    await expect.poll(async () => (await rowTexts(page)).some((t) => t.includes('pong'))).toBe(true);

    // Close with code and reason.
    await page.locator('[data-testid="composer-mode"] [data-mode="close"]').click();
    await tid(page, 'close-code').fill('1005');
    await expect.poll(() => tid(page, 'send-error').textContent()).toContain('reserved');
    await tid(page, 'close-code').fill('4001');
    await tid(page, 'close-reason').fill('done testing');
    await tid(page, 'send-button').click();
    await expect.poll(() => tid(page, 'link-item').getAttribute('data-state')).toBe('closed');
    expect((await callsOf(page, 'wb_send')).slice(2)).toEqual([
      { id: 1, message: { kind: 'binary', base64: 'AQID+g==' } },
      { id: 1, message: { kind: 'ping', base64: 'YXJlIHlvdSB0aGVyZQ==' } },
      { id: 1, message: { kind: 'close', code: 4001, reason: 'done testing' } },
    ]);
    expect(await tid(page, 'link-reopen').isVisible()).toBe(true);
    expect(problems).toEqual([]);
  });
});

describe('auto-reconnect', () => {
  it('shows the attempt and its countdown, then the new attempt opens in the same session', async () => {
    const { page, problems } = await open({ mock: true });
    await connectTo(page, 'ws://127.0.0.1:9901/flaky');
    const item = link(page, 1);
    await page.evaluate(() => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.wb.reconnect(1, 2500));
    await expect.poll(() => item.getAttribute('data-state')).toBe('reconnecting');
    expect(await item.locator('[data-testid="link-state"]').textContent()).toMatch(/^reconnecting \(attempt 2\) in [1-3]s$/);
    expect(await tid(page, 'send-button').isDisabled()).toBe(true);
    expect(await tid(page, 'composer-label').textContent()).toBe('Reconnecting…');
    const dot = await item.locator('[data-testid="link-dot"]').getAttribute('class');
    expect(dot).toContain('reconnecting');
    await expect.poll(() => item.getAttribute('data-state'), { timeout: 8000 }).toBe('open');
    // Both attempts are connections of the one session.
    await expect.poll(() => page.locator('[data-testid="connection-item"]').count()).toBe(2);
    expect(await tid(page, 'send-button').isEnabled()).toBe(true);
    await tid(page, 'composer').fill('after the reconnect');
    await tid(page, 'send-button').click();
    await expect.poll(async () => (await rowTexts(page)).filter((t) => t.includes('after the reconnect')).length).toBe(2);
    expect(problems).toEqual([]);
  });
});

describe('templates, repeat and send on save', () => {
  it('saves, loads, renames and deletes templates; an external edit shows at once', async () => {
    const { page, problems } = await open({ mock: true });
    await connectTo(page, 'ws://127.0.0.1:9401/t');
    await tid(page, 'templates-toggle').click();
    const items = page.locator('[data-testid="template-item"]');
    await expect.poll(() => items.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['hello', 'subscribe']);
    // Save the current message.
    await tid(page, 'templates-toggle').click();
    await tid(page, 'composer').fill('{{ts}} tick');
    await tid(page, 'templates-toggle').click();
    await tid(page, 'template-name').fill('tick');
    await tid(page, 'template-save').click();
    await expect.poll(() => items.count()).toBe(3);
    expect(await callsOf(page, 'template_save')).toEqual([{ name: 'tick', mode: 'text', body: '{{ts}} tick' }]);
    // Edited in another editor: the list follows (the shell pushes it).
    await page.evaluate(() => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.wb.editTemplateFile('subscribe', '{"op": "subscribe", "v": 2}'));
    await expect.poll(() => page.locator('[data-template-name="subscribe"], [data-testid="template-item"][data-name="subscribe"]').textContent()).toContain('"v": 2');
    // Load it: JSON mode with its body.
    await page.locator('[data-testid="template-item"][data-name="subscribe"] [data-testid="template-load"]').click();
    await expect.poll(() => page.locator('[data-testid="composer-mode"]').getAttribute('data-mode')).toBe('json');
    expect(await tid(page, 'composer').textContent()).toBe('{"op": "subscribe", "v": 2}');
    // Rename and delete.
    await tid(page, 'templates-toggle').click();
    await page.locator('[data-testid="template-item"][data-name="tick"] [data-testid="template-rename"]').click();
    await tid(page, 'template-rename-input').fill('ticker');
    await tid(page, 'template-rename-input').press('Enter');
    await expect.poll(() => page.locator('[data-testid="template-item"][data-name="ticker"]').count()).toBe(1);
    await page.locator('[data-testid="template-item"][data-name="hello"] [data-testid="template-delete"]').click();
    await tid(page, 'template-delete-ok').click();
    await expect.poll(() => items.evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['subscribe', 'ticker']);
    expect(await callsOf(page, 'template_delete')).toEqual([{ name: 'hello' }]);
    await page.screenshot({ path: '/tmp/ui-shot-templates-dark.png' });
    expect(problems).toEqual([]);
  });

  it('repeats K times with a running indicator, or until stopped', async () => {
    const { page, problems } = await open({ mock: true });
    await connectTo(page, 'ws://127.0.0.1:9501/r');
    await tid(page, 'composer').fill('n={{counter}}');
    await tid(page, 'repeat-interval').fill('5');
    expect(await tid(page, 'repeat-start').isDisabled()).toBe(true);
    await tid(page, 'repeat-interval').fill('60');
    await tid(page, 'repeat-count').fill('4');
    await tid(page, 'repeat-start').click();
    await expect.poll(() => tid(page, 'repeat').getAttribute('data-status')).toBe('running');
    expect(await tid(page, 'link-repeating').isVisible()).toBe(true);
    await expect.poll(() => tid(page, 'repeat').getAttribute('data-status')).toBe('done');
    expect(await tid(page, 'repeat-result').textContent()).toBe('sent 4');
    const texts = (await callsOf(page, 'wb_send')).map((c) => (c.message as { text: string }).text);
    expect(texts).toEqual(['n=1', 'n=2', 'n=3', 'n=4']);
    // Until stopped.
    await tid(page, 'repeat-count').fill('');
    await tid(page, 'repeat-start').click();
    await expect.poll(() => tid(page, 'repeat-progress').textContent()).toMatch(/^[3-9]|\d\d/);
    await page.screenshot({ path: '/tmp/ui-shot-repeat-dark.png' });
    await tid(page, 'repeat-stop').click();
    await expect.poll(() => tid(page, 'repeat').getAttribute('data-status')).toBe('stopped');
    const n = (await callsOf(page, 'wb_send')).length;
    await page.waitForTimeout(300);
    expect((await callsOf(page, 'wb_send')).length).toBe(n);
    expect(problems).toEqual([]);
  });

  it('send on save: watches a file, shows it is active and how many were sent, stops', async () => {
    const { page, problems } = await open({ mock: true });
    await connectTo(page, 'ws://127.0.0.1:9601/s');
    await tid(page, 'send-on-save-toggle').click();
    await tid(page, 'send-on-save-path').fill('relative.json');
    await tid(page, 'send-on-save-start').click();
    await expect.poll(() => tid(page, 'send-on-save-error').textContent()).toContain('not an absolute path');
    await tid(page, 'send-on-save-path').fill('/tmp/message.json');
    await tid(page, 'send-on-save-start').click();
    await expect.poll(() => tid(page, 'send-on-save-active').isVisible()).toBe(true);
    expect(await callsOf(page, 'send_on_save_start')).toEqual([
      { id: 1, path: 'relative.json', mode: 'text', expand: true },
      { id: 1, path: '/tmp/message.json', mode: 'text', expand: true },
    ]);
    expect(await tid(page, 'link-watching').isVisible()).toBe(true);
    await page.evaluate(() => (window as unknown as { __sockscopeMock: Mock }).__sockscopeMock.wb.saveWatchedFile(1, '{"saved": true}'));
    await expect.poll(() => tid(page, 'send-on-save-count').textContent()).toBe('1 sent');
    await expect.poll(async () => (await rowTexts(page)).some((t) => t.includes('{"saved": true}'))).toBe(true);
    await tid(page, 'send-on-save-stop').click();
    await expect.poll(() => tid(page, 'send-on-save-active').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});

describe('handshake view', () => {
  it('shows request and response, and checks Sec-WebSocket-Accept step by step', async () => {
    const { page, problems } = await open({ mock: true });
    await page.keyboard.press('Control+n');
    await tid(page, 'editor-url').fill('ws://127.0.0.1:9701/hs');
    await tid(page, 'editor-subprotocols').fill('v2.chat');
    await tid(page, 'editor-connect').click();
    await expect.poll(() => tid(page, 'connection-badge').getAttribute('data-state')).toBe('open');
    await tid(page, 'handshake-toggle').click();
    await expect.poll(() => tid(page, 'handshake-status').textContent()).toMatch(/101\s+Switching Protocols/);
    expect(await tid(page, 'handshake-subprotocol').textContent()).toContain('v2.chat');
    expect(await tid(page, 'handshake-request').textContent()).toContain('GET /hs HTTP/1.1');
    expect(await tid(page, 'handshake-request').textContent()).toContain('Sec-WebSocket-Protocol: v2.chat');
    expect(await tid(page, 'handshake-response').textContent()).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    const steps = await tid(page, 'accept-steps').textContent();
    expect(steps).toContain('dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
    expect(steps).toContain('b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea');
    expect(await tid(page, 'accept-expected').textContent()).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(await tid(page, 'accept-verdict').getAttribute('data-ok')).toBe('true');
    await page.screenshot({ path: '/tmp/ui-shot-handshake-dark.png' });
    expect(problems).toEqual([]);
  });

  it('a failed handshake shows the status, headers and body', async () => {
    const { page, problems } = await open({ mock: true });
    await tid(page, 'url-input').fill('ws://127.0.0.1:9702/http401');
    await tid(page, 'url-input').press('Enter');
    await expect.poll(() => tid(page, 'link-item').getAttribute('data-state')).toBe('failed');
    await tid(page, 'handshake-toggle').click();
    await expect.poll(() => tid(page, 'handshake-status').textContent()).toMatch(/401\s+Unauthorized/);
    expect(await tid(page, 'handshake-response').textContent()).toContain('WWW-Authenticate: Bearer');
    expect(await tid(page, 'handshake-body').textContent()).toBe('{"error":"unauthorized","hint":"send a bearer token"}');
    expect(await tid(page, 'accept-steps').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});

describe('light theme', () => {
  it('links, composer, handshake and editor (screenshots)', async () => {
    const { page, problems } = await open({ mock: true, colorScheme: 'light' });
    await connectTo(page, 'ws://127.0.0.1:9801/light');
    await page.locator('[data-testid="composer-mode"] [data-mode="json"]').click();
    await tid(page, 'composer').click();
    await page.keyboard.type('{"id": {{counter}}, "at": "{{now}}"}');
    await expect.poll(() => tid(page, 'var-preview').textContent()).toContain('"id": 1');
    await tid(page, 'handshake-toggle').click();
    await expect.poll(() => tid(page, 'accept-verdict').getAttribute('data-ok')).toBe('true');
    await page.screenshot({ path: '/tmp/ui-shot-workbench-light.png' });
    await page.keyboard.press('Control+n');
    await page.locator('[data-testid="editor-tab"][data-tab="tls"]').click();
    await page.locator('[data-testid="editor-client-cert"][data-kind="pem"]').click();
    await tid(page, 'editor-insecure').check();
    await page.screenshot({ path: '/tmp/ui-shot-editor-light.png' });
    // The dot of an open link is green in this theme too.
    const color = await page.locator('[data-testid="link-dot"]').evaluate((el) => getComputedStyle(el).backgroundColor);
    const [r, g, b] = color.match(/\d+/g)!.map(Number);
    expect(g).toBeGreaterThan(r + 40);
    expect(g).toBeGreaterThan(b + 20);
    expect(problems).toEqual([]);
  });
});
