// Serves ui/dist on 127.0.0.1 under the app's CSP, bundles the mock shell and
// drives headless Chromium with playwright-core.
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const UI_DIR = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DIST = join(UI_DIR, 'dist');
const OUT = join(UI_DIR, 'tests/ui/.out');
export const MOCK_BUNDLE = join(OUT, 'mock-backend.js');

/** The CSP of the Tauri window (tauri.conf.json at the repo root); the built UI must run under it. */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  'connect-src ipc: http://ipc.localhost',
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export async function buildMock(): Promise<void> {
  await build({
    configFile: false,
    logLevel: 'warn',
    root: UI_DIR,
    build: {
      outDir: OUT,
      emptyOutDir: true,
      minify: false,
      lib: {
        entry: join(UI_DIR, 'tests/ui/mock-backend.ts'),
        formats: ['iife'],
        name: 'SockscopeMockBackend',
        fileName: () => 'mock-backend.js',
      },
    },
  });
}

export async function serveDist(): Promise<{ url: string; close: () => Promise<void> }> {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error('ui/dist is missing: run `npm run build` first');
  const server: Server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      const rel = normalize(path === '/' ? '/index.html' : path);
      const file = join(DIST, rel);
      if (!file.startsWith(DIST)) {
        res.writeHead(403).end();
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'content-security-policy': CSP,
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

export function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`Chromium not found at ${p} (apt-get install -y chromium)`);
  return p;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors, unhandled rejections, console errors and CSP violations. */
  problems: string[];
}

export async function openApp(
  browser: Browser,
  baseUrl: string,
  opts: { mock: boolean; colorScheme?: 'dark' | 'light'; query?: string } = { mock: true },
): Promise<Opened> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 }, // the window size in tauri.conf.json
    deviceScaleFactor: 1,
    colorScheme: opts.colorScheme ?? 'dark',
    timezoneId: 'Europe/Berlin',
    locale: 'en-US',
  });
  // Only the local test server is reachable.
  await context.route(
    (u) => !u.href.startsWith(baseUrl),
    (route) => route.abort(),
  );
  // tauri.conf.json sets "freezePrototype": true.
  await context.addInitScript(() => Object.freeze(Object.prototype));
  if (opts.mock) await context.addInitScript({ path: MOCK_BUNDLE });
  await context.addInitScript(() => {
    window.addEventListener('unhandledrejection', (e) => {
      console.error(`unhandledrejection: ${String((e as PromiseRejectionEvent).reason)}`);
    });
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  await page.goto(baseUrl + (opts.query ?? ''));
  return { context, page, problems };
}
