// Test-wide setup: time is UTC inside tradewire, so the tests run in UTC too; and every logger a test builds, with a
// destination of its own or not, also writes its lines to the log tap that the run's secrets scan reads
// (test/global-setup.ts). What reaches standard output is tapped by test/helpers/test-preload.mjs.
import { vi } from 'vitest';
import type { DestinationStream } from 'pino';

process.env.TZ = 'UTC';

vi.mock('../src/ops/logger.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/ops/logger.ts')>();
  const { tapLine } = await import('./helpers/log-tap.mjs');
  const tee = (destination: DestinationStream): DestinationStream => ({ write: (line: string) => { tapLine(line); return destination.write(line); } });
  return {
    ...real,
    // Standard output is tapped where it is written; only a test's own destination needs the tee.
    createLogger: (options: Parameters<typeof real.createLogger>[0] = {}) =>
      real.createLogger(options.destination ? { ...options, destination: tee(options.destination) } : options),
  };
});
