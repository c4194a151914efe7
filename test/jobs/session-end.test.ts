import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRunLog, RedisRunLog } from '../../src/jobs/run-log.ts';
import { catchUpSessionEnds, lastSessionEndDay, localClock, runSessionEnd, SESSION_END_JOB, sessionEndCron } from '../../src/jobs/session-end.ts';
import { REDIS_URL, uniquePrefix } from '../helpers/env.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 10 }
    intraday: { enabled: true, sessionEnd: '15:45', timeZone: America/New_York }
`;
const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };

describe('when a session end has come, in the strategy\'s zone', () => {
  it('reads the wall clock of the zone, across daylight saving', () => {
    expect(localClock(new Date('2026-11-23T20:45:00Z'), 'America/New_York')).toBe('15:45'); // EST, UTC−5
    expect(localClock(new Date('2026-07-01T19:45:00Z'), 'America/New_York')).toBe('15:45'); // EDT, UTC−4
  });

  it('the latest session end is today\'s from its minute on, yesterday\'s before it', () => {
    expect(lastSessionEndDay(new Date('2026-11-23T20:44:59Z'), '15:45', 'America/New_York')).toBe('2026-11-22');
    expect(lastSessionEndDay(new Date('2026-11-23T20:45:00Z'), '15:45', 'America/New_York')).toBe('2026-11-23');
    // 01:00 UTC on the 24th is still the 23rd in New York, after its session end.
    expect(lastSessionEndDay(new Date('2026-11-24T01:00:00Z'), '15:45', 'America/New_York')).toBe('2026-11-23');
    expect(lastSessionEndDay(new Date('2026-03-01T00:30:00Z'), '23:59', 'UTC')).toBe('2026-02-28');
  });

  it('gives node-cron minute and hour, to run in that zone', () => {
    expect(sessionEndCron('15:45')).toBe('45 15 * * *');
    expect(sessionEndCron('09:05')).toBe('5 9 * * *');
  });
});

describe('session-end flatten', () => {
  let h: Harness | undefined;
  const prefix = uniquePrefix('session-end');
  let redis: Redis;
  beforeAll(() => { redis = new Redis(REDIS_URL); });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  afterEach(async () => { await h?.close(); h = undefined; });

  it('closes the strategy\'s positions with reason session_end, once per day', async () => {
    h = await createHarness({ configText: CONFIG });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    const runs = new MemoryRunLog();
    const at = new Date('2026-11-23T20:45:00Z');

    const result = await runSessionEnd({ ctx: h.ctx, runs }, 'default', at);
    expect(result).toMatchObject({ strategy: 'default', day: '2026-11-23', closed: ['paper:AAPL'], pending: [], skipped: false });
    expect(h.ctx.positions.closedForPosition(position!.id).map((c) => c.exitReason)).toEqual(['session_end']);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders()).toEqual([]); // its stop and target were cancelled first
    expect(await runs.has(SESSION_END_JOB, 'default:2026-11-23')).toBe(true);

    const again = await runSessionEnd({ ctx: h.ctx, runs }, 'default', at);
    expect(again?.skipped).toBe(true);
  });

  it('a session end missed while the daemon was down runs at start; a recorded one does not run again', async () => {
    h = await createHarness({ configText: CONFIG });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    const runs = new RedisRunLog(redis, prefix);

    // Back up at 09:00 New York on the 24th: the 23rd's 15:45 passed while it was down.
    const start = new Date('2026-11-24T14:00:00Z');
    const results = await catchUpSessionEnds({ ctx: h.ctx, runs }, start);
    expect(results).toEqual([expect.objectContaining({ strategy: 'default', day: '2026-11-23', closed: ['paper:AAPL'] })]);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();

    // A restart later the same morning: the run is recorded in Redis, so nothing runs.
    expect(await catchUpSessionEnds({ ctx: h.ctx, runs: new RedisRunLog(redis, prefix) }, new Date('2026-11-24T15:00:00Z'))).toEqual([]);
    // That day's own session end runs at its time.
    expect(await catchUpSessionEnds({ ctx: h.ctx, runs }, new Date('2026-11-24T20:46:00Z'))).toEqual([
      expect.objectContaining({ day: '2026-11-24', closed: [], pending: [] }),
    ]);
  });

  it('strategies that are not intraday are left alone', async () => {
    h = await createHarness();
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    expect(await catchUpSessionEnds({ ctx: h.ctx, runs: new MemoryRunLog() }, new Date('2026-11-24T20:46:00Z'))).toEqual([]);
    expect(await runSessionEnd({ ctx: h.ctx, runs: new MemoryRunLog() }, 'default')).toBeUndefined();
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.status).toBe('open');
  });
});
