import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Preloaded into every process the run starts (the test forks, the daemons they spawn, the daemon's execution thread):
// the loopback guard (a test that forgot its fake fails instead of reaching a venue) and the log tap that the
// secrets scan at the end of the run reads (test/global-setup.ts).
const preload = fileURLToPath(new URL('./helpers/test-preload.mjs', import.meta.url));
if (!process.env.NODE_OPTIONS?.includes(preload)) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    setupFiles: ['test/setup.ts'],
    globalSetup: ['test/global-setup.ts'],
  },
});
