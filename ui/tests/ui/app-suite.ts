// The setup every browser test file shares: build the mocked UI, serve ui/dist, launch
// headless Chromium once per file, and close every page, the browser and the server after.
import { afterAll, beforeAll } from 'vitest';
import type { Browser } from 'playwright-core';
import { buildMock, launch, openApp, serveDist, type Opened } from './harness';

type OpenOpts = Parameters<typeof openApp>[2];

export interface AppSuite {
  /** A fresh app page (mocked shell unless told otherwise); closed after the file's tests. */
  open(opts?: OpenOpts): Promise<Opened>;
  /** The served UI's address (valid once the file's `beforeAll` hooks have run). */
  baseUrl(): string;
}

/** Registers this file's `beforeAll` / `afterAll` hooks; call it at the top level of a test file. */
export function useApp(): AppSuite {
  let browser: Browser;
  let server: { url: string; close: () => Promise<void> };
  const opened: Opened[] = [];

  beforeAll(async () => {
    await buildMock();
    server = await serveDist();
    browser = await launch();
  });

  afterAll(async () => {
    for (const o of opened) await o.context.close().catch(() => {});
    await browser?.close();
    await server?.close();
  });

  return {
    async open(opts: OpenOpts = { mock: true }) {
      const o = await openApp(browser, server.url, opts);
      opened.push(o);
      return o;
    },
    baseUrl: () => server.url,
  };
}
