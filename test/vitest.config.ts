import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The loopback guard, preloaded into every process the run starts (the test forks, the daemons they spawn, the
// daemon's execution thread): a test that forgot its fake fails instead of reaching a venue.
const guard = fileURLToPath(new URL('./helpers/loopback-guard.mjs', import.meta.url));
if (!process.env.NODE_OPTIONS?.includes(guard)) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${guard}`.trim();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    setupFiles: ['test/setup.ts'],
  },
});
