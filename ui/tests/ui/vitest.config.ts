import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Browser tests of the built UI (ui/dist) in headless Chromium; run with `npm run test:ui`.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['tests/ui/**/*.e2e.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 30_000,
    // A busy 2-core CI machine can stall a browser test; a real failure fails every try.
    retry: 2,
    hookTimeout: 120_000,
  },
});
