// The broker fault storm, bounded (issue 14): a few dozen signals through the real executor, adapters and position loop while both fakes storm.
import { describe, expect, it } from 'vitest';
import { useMswServer } from '../helpers/msw.ts';
import { runFaultStorm } from './fault-storm-rig.ts';

const server = useMswServer();

describe('a broker fault storm (30 % 5xx, 10 % timeouts, 429 bursts, a 418 ban)', () => {
  for (const seed of [1401]) {
    it(`seed ${seed}: nothing placed twice, every signal ends with a reason, every position protected, retries as configured`, async () => {
      const report = await runFaultStorm(server, { seed, signals: 40 });
      console.log(JSON.stringify({ ...report, reconcile: report.reconcile.flatMap((r) => r.differences.map((d) => `${r.account} ${d.kind} ${d.symbol}`)) }, null, 1));
      expect(report.violations).toEqual([]);
    }, 60_000);
  }
});
