// The storage banner: capture paused on a full disk or at the database size limit. It stays
// (no dismiss) while paused, names the frames waiting and the database path, raises the limit
// at the size limit, then gives way to the resume notice. Headless Chromium, production
// bundle under the app's CSP, mocked shell (`storage_status` polled about once a second).
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useApp } from './app-suite';

const { open } = useApp();
const tid = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);
const MB = 1024 * 1024;

async function setStorage(page: Page, status: Record<string, unknown>) {
  await page.evaluate((status) => {
    const m = (window as unknown as { __sockscopeMock: { storage: Record<string, unknown> } }).__sockscopeMock;
    m.storage = status;
  }, status);
}

const path = '/home/dev/.local/share/sockscope/sockscope.db';

describe('storage banner', () => {
  it('shows a full disk until it is over, with the frames waiting and the path; nothing to dismiss', async () => {
    const { page, problems } = await open();
    await setStorage(page, {
      state: 'paused', path, limit_bytes: null, file_bytes: 0, last_resume: null, damage: null,
      since_us: Date.now() * 1000 - 4_000_000, cause: 'disk_full', error: 'database or disk is full', pending_frames: 1234,
    });
    const banner = tid(page, 'storage-banner');
    await expect.poll(() => banner.count(), { timeout: 5000 }).toBe(1);
    expect(await tid(page, 'storage-banner-text').textContent()).toBe(
      'Capture paused: the disk is full (1,234 frames waiting). Free space and capture resumes automatically.',
    );
    expect(await tid(page, 'storage-db-path').textContent()).toBe(path);
    expect(await banner.locator('[data-testid$="dismiss"]').count()).toBe(0);
    expect(await tid(page, 'storage-limit-edit').count()).toBe(0);
    // The toolbar stays usable below it.
    expect(await tid(page, 'url-input').isVisible()).toBe(true);
    // The count follows the writer.
    await setStorage(page, {
      state: 'paused', path, limit_bytes: null, file_bytes: 0, last_resume: null, damage: null,
      since_us: Date.now() * 1000 - 5_000_000, cause: 'disk_full', error: 'database or disk is full', pending_frames: 2000,
    });
    await expect.poll(() => banner.getAttribute('data-pending'), { timeout: 5000 }).toBe('2000');
    // Space again: the banner goes by itself, the notice says what was written.
    await setStorage(page, {
      state: 'ok', path, limit_bytes: null, file_bytes: 0, damage: null,
      last_resume: { pause: 1, paused_at_us: 1_000_000, resumed_at_us: 13_300_000, cause: 'disk_full', backlog_frames: 2000, written_frames: 2000, done: true },
    });
    await expect.poll(() => banner.count(), { timeout: 5000 }).toBe(0);
    expect(await tid(page, 'storage-resumed-text').textContent()).toBe(
      'Capture resumed after 12.3 s: all 2,000 frames that were waiting were written.',
    );
    await tid(page, 'storage-resumed-dismiss').click();
    await expect.poll(() => tid(page, 'storage-resumed').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('raises the size limit from the banner, refusing what is not a number', async () => {
    const { page, problems } = await open();
    await setStorage(page, {
      state: 'paused', path, limit_bytes: 3 * MB, file_bytes: 3 * MB, last_resume: null, damage: null,
      since_us: Date.now() * 1000 - 2_000_000, cause: 'size_limit', error: 'database or disk is full', pending_frames: 507,
    });
    await expect.poll(() => tid(page, 'storage-banner').getAttribute('data-cause'), { timeout: 5000 }).toBe('size_limit');
    expect(await tid(page, 'storage-banner-text').textContent()).toContain('size limit of 3 MB (507 frames waiting)');
    await tid(page, 'storage-limit-edit').click();
    const input = tid(page, 'storage-limit-input');
    expect(await input.inputValue()).toBe('67');
    await input.fill('lots');
    await input.press('Enter');
    await expect.poll(() => tid(page, 'storage-limit-error').textContent()).toContain('whole number');
    await input.fill('256');
    await tid(page, 'storage-limit-apply').click();
    await expect.poll(() => tid(page, 'storage-banner').count(), { timeout: 5000 }).toBe(0);
    expect(await tid(page, 'storage-resumed').getAttribute('data-done')).toBe('true');
    expect(await tid(page, 'storage-resumed-text').textContent()).toContain('all 507 frames that were waiting were written');
    expect(problems).toEqual([]);
  });
});
