import { afterEach, describe, expect, it } from 'vitest';
import { snapshotEquity } from '../../src/jobs/equity-snapshot.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { EquityRepo } from '../../src/store/equity-repo.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

describe('the daily equity snapshot and summary', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('writes one row per account and trading day with realized and unrealized P&L, and logs the summary', async () => {
    h = await createHarness();
    const lines: string[] = [];
    const ctx = { ...h.ctx, logger: createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(line); } } }) };
    const equity = new EquityRepo(h.db);
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' }))).toEqual({ status: 'executed' });
    await h.paper.updatePrice('AAPL', '103');

    const at = new Date('2026-11-23T23:55:00Z');
    const [summary] = await snapshotEquity(ctx, equity, { now: at });
    expect(summary?.snapshot.tradingDay).toBe('2026-11-23');
    const row = equity.get('paper', '2026-11-23');
    expect([row?.equity.toFixed(), row?.cash.toFixed(), row?.realizedPnl.toFixed(), row?.unrealizedPnl.toFixed()]).toEqual(['100030', '99000', '0', '30']);

    await h.paper.updatePrice('AAPL', '101');
    await snapshotEquity(ctx, equity, { now: at });
    expect(equity.list('paper')).toHaveLength(1); // replaced, not added
    expect(equity.get('paper', '2026-11-23')?.unrealizedPnl.toFixed()).toBe('10');

    const event = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'daily.summary');
    expect(event).toMatchObject({ account: 'paper', tradingDay: '2026-11-23', equity: '100030', unrealizedPnl: '30', trades: 0, openPositions: 1 });
  });
});
