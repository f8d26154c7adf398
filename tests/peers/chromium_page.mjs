// Loads a page in headless Debian Chromium (driven by playwright-core from ui/node_modules) and
// waits until the page's script has set its title to something other than "pending".
//   node chromium_page.mjs --url URL --profile DIR [--timeout S] -- EXTRA_CHROMIUM_ARGS...
// Prints {"event":"page","title":...,"result":<text of #result>,"error":null|"..."}.
import { createRequire } from 'node:module';
import { args, outAndExit } from './common.mjs';

const require = createRequire(new URL('../../ui/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const sep = process.argv.indexOf('--');
const a = args(process.argv.slice(2, sep < 0 ? undefined : sep));
const extra = sep < 0 ? [] : process.argv.slice(sep + 1);
const timeout = Number(a.timeout ?? 20) * 1000;

const report = { event: 'page', title: null, result: null, error: null };
let context;
try {
  context = await chromium.launchPersistentContext(a.profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extra,
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(a.url, { waitUntil: 'load', timeout });
  await page.waitForFunction(() => document.title !== 'pending', null, { timeout });
  report.title = await page.title();
  report.result = await page.textContent('#result');
} catch (e) {
  report.error = String(e && e.message ? e.message : e).split('\n')[0];
} finally {
  if (context) await context.close().catch(() => {});
}
outAndExit(report, 0);
