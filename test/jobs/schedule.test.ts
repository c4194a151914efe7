import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLock } from '../../src/jobs/lock.ts';
import { MemoryRunLog } from '../../src/jobs/run-log.ts';
import { catchUpAtStart, plannedJobs, runLocked, scheduleJobs, type JobDeps } from '../../src/jobs/schedule.ts';
import { EquityRepo } from '../../src/store/equity-repo.ts';
import { REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';
import { BASE_CONFIG, createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const backupDir = tempDir('tw-jobs-backup');
const CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
    timeZone: Asia/Kolkata
backup: { dir: '${backupDir.path}', keep: 3, cron: '0 2 * * *' }
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 10 }
    intraday: { enabled: true, sessionEnd: '15:20', timeZone: Asia/Kolkata }
`;

describe('the job schedule', () => {
  let h: Harness | undefined;
  const prefix = uniquePrefix('jobs');
  let redis: Redis;
  beforeAll(() => { redis = new Redis(REDIS_URL); });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    backupDir.cleanup();
  });
  afterEach(async () => { await h?.close(); h = undefined; });

  function deps(harness: Harness): JobDeps {
    return { ctx: harness.ctx, db: harness.db, equity: new EquityRepo(harness.db), lock: new RedisLock(redis, prefix), runs: new MemoryRunLog(), logger: harness.ctx.logger };
  }

  it('plans every job with an explicit time zone: session ends and snapshots in their own zone, the rest in UTC', async () => {
    h = await createHarness({ configText: CONFIG });
    const planned = plannedJobs(deps(h)).map(([name, cron, zone]) => [name, cron, zone]);
    expect(planned).toEqual([
      ['reconcile', '*/5 * * * *', 'UTC'],
      ['stale-entries', '*/15 * * * *', 'UTC'],
      ['session-end-sweep', '* * * * *', 'UTC'],
      ['session-end:default', '20 15 * * *', 'Asia/Kolkata'],
      ['equity-snapshot:paper', '55 23 * * *', 'Asia/Kolkata'],
      ['backup', '0 2 * * *', 'UTC'],
    ]);
    const schedule = scheduleJobs(deps(h));
    try {
      expect([...schedule.tasks.keys()]).toHaveLength(6);
      expect(schedule.tasks.get('session-end:default')?.getNextRun()).toBeInstanceOf(Date);
      expect(await schedule.run('stale-entries')).toMatchObject({ ran: true });
    } finally {
      await schedule.stop();
    }
  });

  it('backs up nightly by default (PRODUCT.md promises it), and not at all with cron: off', async () => {
    h = await createHarness();
    expect(plannedJobs(deps(h)).filter(([name]) => name === 'backup').map(([, cron, zone]) => [cron, zone])).toEqual([['30 2 * * *', 'UTC']]);
    await h.close();
    h = await createHarness({ configText: `${BASE_CONFIG}backup: { cron: 'off' }\n` });
    expect(plannedJobs(deps(h)).map(([name]) => name)).not.toContain('backup');
  });

  it('a job already running in another process is skipped, and a failing job is logged, not thrown', async () => {
    h = await createHarness({ configText: CONFIG });
    const d = deps(h);
    const other = await new RedisLock(redis, prefix).acquire('job:reconcile', 5000);
    expect(await runLocked(d, 'reconcile', async () => 'ran')).toEqual({ ran: false });
    await new RedisLock(redis, prefix).release(other!);
    expect(await runLocked(d, 'reconcile', async () => 'ran')).toEqual({ ran: true, value: 'ran' });
    expect(await runLocked(d, 'boom', async () => { throw new Error('boom'); })).toEqual({ ran: false });
  });

  it('stop() waits for a run in progress: a reconciliation cut off by SIGTERM would leave the journal half corrected', async () => {
    let finished = false;
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => overriding(paper, {
        openOrders: async (symbol?: string) => {
          await new Promise((r) => setTimeout(r, 300));
          const orders = await paper.openOrders(symbol);
          finished = true;
          return orders;
        },
      }),
    });
    const schedule = scheduleJobs(deps(h));
    const running = schedule.run('reconcile');
    await new Promise((r) => setTimeout(r, 50));
    await schedule.stop();
    expect(finished).toBe(true);
    expect(await running).toMatchObject({ ran: true });
  });

  it('at start reconciles, then runs a missed session end', async () => {
    h = await createHarness({ configText: CONFIG });
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' }))).toEqual({ status: 'executed' });
    const d = deps(h);
    await catchUpAtStart(d, new Date(Date.now() + 2 * 3600 * 1000 + 24 * 3600 * 1000));
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect(h.ctx.positions.listClosed().map((c) => c.exitReason)).toEqual(['session_end']);
  });
});
