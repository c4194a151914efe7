// The broker fault storm, bounded (issue 14): a few dozen signals through the real executor, adapters and position loop while both fakes storm.
//
// One signal at a time with a loop tick after each, so the seed replays the same storm; `npm run fault-storm` runs the
// full version (more signals, more seeds, every symbol's lane at once). The invariants themselves are checked in
// fault-storm-rig.ts and come back as violations, each in words.
import { describe, expect, it } from 'vitest';
import { useMswServer } from '../helpers/msw.ts';
import { runFaultStorm } from './fault-storm-rig.ts';

const server = useMswServer();

describe('a broker fault storm (30 % 5xx, 10 % timeouts, 429 bursts with Retry-After, a 418 ban on Binance)', () => {
  it('seed 1401: nothing placed twice, every signal ends with a reason, every position protected and journalled, retries as configured, memory in budget', async () => {
    const report = await runFaultStorm(server, { seed: 1401, signals: 40, retries: { attempts: 8, baseDelayMs: 5, maxDelayMs: 40 }, timeoutMs: 200 });

    // The storm really raged, on both venues, in every way it can.
    for (const venue of ['alpaca', 'binance'] as const) {
      const s = report.storm[venue];
      expect(s.serverErrorsAfterExecution, `${venue} 5xx after execution`).toBeGreaterThan(0);
      expect(s.serverErrors - s.serverErrorsAfterExecution, `${venue} 5xx before execution`).toBeGreaterThan(0);
      expect(s.timeoutsAfterExecution, `${venue} timeouts after execution`).toBeGreaterThan(0);
      expect(s.timeouts - s.timeoutsAfterExecution, `${venue} timeouts before execution`).toBeGreaterThan(0);
      expect(s.bursts, `${venue} 429 bursts`).toBeGreaterThan(0);
    }
    expect(report.storm.binance.bans).toBe(1);
    // Orders went through it all, retries waited, some of them a Retry-After.
    expect(report.ordersAtVenues).toBeGreaterThan(5);
    expect(report.outcomes.executed ?? 0).toBeGreaterThan(0);
    expect(report.retrySleeps).toBeGreaterThan(10);
    expect(report.retryAfterSleeps).toBeGreaterThan(0);
    expect(report.signals).toBe(40);

    expect(report.violations).toEqual([]);
    expect(report.rssGrowthMb).toBeLessThan(150);
  }, 60_000);
});
