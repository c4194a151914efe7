// fault-storm — the broker fault storm in full (issue 14): many signals, several seeds, both modes; prints a summary, exits 1 on any broken invariant.
//
// Usage: npm run fault-storm [-- --seeds 1,2,3 --signals 200 --modes serial,lanes --trace]. Each seed runs twice: one signal at a time with a loop
// tick after each (replayable: the same seed gives the same storm), then every symbol's lane at once with the position
// loop on its timer, as the daemon runs. --trace prints each signal's, order's and position's end after a storm that broke something. Nothing leaves the machine: the venues are the msw fakes, and any connection
// to a host other than loopback is refused before it is made.
import { parseArgs } from 'node:util';
import '../test/helpers/loopback-guard.mjs'; // installs itself: connections stay on loopback
import { createMswServer } from '../test/helpers/msw.ts';
import { runFaultStorm, type FaultStormReport } from '../test/reliability/fault-storm-rig.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1401,2718,3141,5772,8080' }, signals: { type: 'string', default: '120' },
    modes: { type: 'string', default: 'serial,lanes' }, trace: { type: 'boolean', default: false },
  },
});
const modes = values.modes.split(',').map((m) => m.trim());
const seeds = values.seeds.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n));
const signals = Number(values.signals);

const server = createMswServer();
server.listen();
const reports: Array<FaultStormReport & { mode: string }> = [];
try {
  for (const seed of seeds) {
    for (const concurrent of [false, true].filter((c) => modes.includes(c ? 'lanes' : 'serial'))) {
      const trace: string[] = [];
      const report = await runFaultStorm(server, { seed, signals, concurrent, trace: values.trace ? (line) => trace.push(line) : undefined });
      reports.push({ ...report, mode: concurrent ? 'lanes' : 'serial' });
      const outcomes = Object.entries(report.outcomes).map(([k, v]) => `${k} ${v}`).join(', ');
      const faults = (['alpaca', 'binance'] as const).map((v) => {
        const s = report.storm[v];
        return `${v}: ${s.requests} req, ${s.serverErrors} 5xx (${s.serverErrorsAfterExecution} after exec), ${s.timeouts} timeouts (${s.timeoutsAfterExecution} after exec), ${s.rateLimited} 429 in ${s.bursts} bursts, ${s.bans} ban`;
      }).join('; ');
      console.log(`seed ${seed} ${concurrent ? 'lanes ' : 'serial'}: ${report.signals} signals (${outcomes}); ${report.ordersAtVenues} orders at the venues, ${report.openPositions} open positions; `
        + `${report.retrySleeps} retry waits (${report.retryAfterSleeps} Retry-After); rss ${report.rssGrowthMb >= 0 ? '+' : ''}${report.rssGrowthMb} MB; ${(report.durationMs / 1000).toFixed(1)} s`);
      console.log(`  ${faults}`);
      for (const v of report.violations) console.log(`  VIOLATION ${v}`);
      if (report.violations.length > 0) for (const line of trace) console.log(`    ${line}`);
    }
  }
} finally {
  server.close();
}
const broken = reports.filter((r) => r.violations.length > 0);
const rssLimitMb = 150;
const heavy = reports.filter((r) => r.rssGrowthMb > rssLimitMb);
console.log(`\n${reports.length} storms, ${reports.reduce((n, r) => n + r.signals, 0)} signals: ${broken.length} with broken invariants, ${heavy.length} over +${rssLimitMb} MB rss`);
process.exit(broken.length > 0 || heavy.length > 0 ? 1 : 0);
