import { afterEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { DEFAULT_ENTRY_MAX_AGE_MS, expireStaleEntries } from '../../src/jobs/stale-entries.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const d = (text: string) => new Decimal(text);

describe('stale entry-order expiry', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  async function restingEntry(harness: Harness, clientOrderId: string) {
    await harness.paper.updatePrice('MSFT', '50');
    return harness.ctx.tracker.place(harness.paper, { clientOrderId, account: 'paper', strategy: 'default', symbol: 'MSFT', side: 'buy', leg: 'entry', type: 'limit', quantity: d('1'), limitPrice: d('10'), timeInForce: 'gtc' });
  }

  it('cancels a resting entry older than the maximum age (24 h by default), at the broker and in the journal', async () => {
    h = await createHarness();
    await restingEntry(h, 'tw-en-stale1');
    expect(DEFAULT_ENTRY_MAX_AGE_MS).toBe(24 * 3600 * 1000);

    expect(await expireStaleEntries(h.ctx, { now: new Date(Date.now() + 23 * 3600 * 1000) })).toEqual([{ account: 'paper', cancelled: [], failed: [] }]);
    expect(h.ctx.orders.findByClientOrderId('tw-en-stale1')?.status).toBe('accepted');

    const later = new Date(Date.now() + 25 * 3600 * 1000);
    expect(await expireStaleEntries(h.ctx, { now: later })).toEqual([{ account: 'paper', cancelled: ['tw-en-stale1'], failed: [] }]);
    expect(h.ctx.orders.findByClientOrderId('tw-en-stale1')?.status).toBe('cancelled');
    expect(await h.paper.openOrders()).toEqual([]);
    // Idempotent: nothing left to cancel.
    expect(await expireStaleEntries(h.ctx, { now: later })).toEqual([{ account: 'paper', cancelled: [], failed: [] }]);
  });

  it('leaves protective orders and other people\'s orders alone, and honours a configured age', async () => {
    h = await createHarness();
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' }))).toEqual({ status: 'executed' });
    await h.paper.placeOrder({ clientOrderId: 'manual-1', symbol: 'AAPL', side: 'buy', type: 'limit', quantity: d('1'), limitPrice: d('50') });
    await restingEntry(h, 'tw-en-stale2');
    const result = await expireStaleEntries(h.ctx, { now: new Date(Date.now() + 61_000), maxAgeMs: 60_000 });
    expect(result).toEqual([{ account: 'paper', cancelled: ['tw-en-stale2'], failed: [] }]);
    expect((await h.paper.openOrders()).map((o) => o.clientOrderId).sort()).toHaveLength(3); // stop, target, manual-1
    expect((await h.paper.openOrders()).some((o) => o.clientOrderId === 'manual-1')).toBe(true);
  });
});
