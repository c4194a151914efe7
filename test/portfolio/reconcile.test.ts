import { afterEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { EXTERNAL_STRATEGY, reconcileAccount, reconcileAll } from '../../src/portfolio/reconcile.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };
const d = (text: string) => new Decimal(text);
// The executor's own fills are seconds old; a settle window of 0 lets these tests judge at once.
const NOW = { settleMs: 0 };

async function openAapl(h: Harness) {
  expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
  const position = h.ctx.positions.findOpen('paper', 'AAPL');
  if (!position) throw new Error('no position');
  return position;
}

const kinds = (report: { differences: Array<{ kind: string }> }) => report.differences.map((x) => x.kind).sort();

describe('reconciliation corrects the journal to the broker, never by trading', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('a journal position closed at the broker behind its back is closed as reconcile at the last quote, and its orphaned stop and target are cancelled', async () => {
    h = await createHarness();
    const position = await openAapl(h);
    await h.paper.updatePrice('AAPL', '101');
    await h.paper.closePosition('AAPL', 'manual-close-1');

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(kinds(report)).toEqual(['orphaned_protection_cancelled', 'orphaned_protection_cancelled', 'position_missing_at_broker']);
    expect(report.differences.find((x) => x.kind === 'position_missing_at_broker')?.detail).toMatch(/realized P&L unknown, exit price taken from the last quote 101/);
    const [closed] = h.ctx.positions.closedForPosition(position.id);
    expect(closed?.exitReason).toBe('reconcile');
    expect(closed?.exitPrice.toFixed()).toBe('101');
    expect(closed?.realizedPnl.toFixed()).toBe('10');
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect(await h.paper.openOrders()).toEqual([]);
    expect(h.ctx.orders.ordersForPosition(position.id).map((o) => `${o.leg}:${o.status}`)).toEqual(['entry:filled', 'stop:cancelled', 'target:cancelled']);

    // Nothing left to correct: a second run finds the journal and the broker agree.
    expect((await reconcileAccount(h.ctx, 'paper', NOW)).differences).toEqual([]);
  });

  it('a stop that filled while nobody watched is booked as stop_loss at its fill price; the target left resting is cancelled', async () => {
    h = await createHarness();
    const position = await openAapl(h);
    await h.paper.updatePrice('AAPL', '97'); // through the 98 stop

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(kinds(report)).toEqual(['order_updated', 'orphaned_protection_cancelled', 'position_missing_at_broker']);
    const [closed] = h.ctx.positions.closedForPosition(position.id);
    expect(closed?.exitReason).toBe('stop_loss');
    expect(closed?.exitPrice.toFixed()).toBe('97');
    expect(closed?.realizedPnl.toFixed()).toBe('-30');
    expect(await h.paper.openOrders()).toEqual([]);
  });

  it('a quantity reduced at the broker is taken by the journal and the part gone is booked', async () => {
    h = await createHarness();
    const position = await openAapl(h);
    await h.paper.placeOrder({ clientOrderId: 'manual-sell-1', symbol: 'AAPL', side: 'sell', type: 'market', quantity: d('4') });

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(kinds(report)).toEqual(['quantity_mismatch']);
    expect(report.differences[0]?.detail).toMatch(/journal 10, broker 6/);
    expect(h.ctx.positions.findById(position.id)?.quantity.toFixed()).toBe('6');
    expect(h.ctx.positions.closedForPosition(position.id).map((c) => [c.quantity.toFixed(), c.exitReason])).toEqual([['4', 'reconcile']]);

  });

  it('a larger quantity at the broker is reported as external and never adopted: a later exit sells only what tradewire opened', async () => {
    h = await createHarness();
    const position = await openAapl(h); // 10 AAPL, its stop and target sized for 10
    await h.paper.placeOrder({ clientOrderId: 'manual-buy-1', symbol: 'AAPL', side: 'buy', type: 'market', quantity: d('5') });

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(kinds(report)).toEqual(['external_surplus']);
    expect(report.differences[0]?.detail).toMatch(/broker 15, tradewire 10: the 5 more were not opened by tradewire/);
    const after = h.ctx.positions.findById(position.id);
    expect([after?.quantity.toFixed(), after?.averageEntryPrice.toFixed(), after?.status]).toEqual(['10', '100', 'open']);
    expect((await h.paper.openOrders()).map((o) => o.quantity.toFixed())).toEqual(['10', '10']);

    // The strategy's exit closes its own 10; the 5 bought by hand stay where they are.
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'sell', sentiment: 'flat', price: '100' }))).toEqual({ status: 'executed' });
    expect((await h.paper.positions()).map((p) => [p.symbol, p.side, p.quantity.toFixed()])).toEqual([['AAPL', 'long', '5']]);
  });

  it('the broker holding the other side: the journal\'s position is closed as reconcile, the broker\'s recorded as external, our protection cancelled', async () => {
    h = await createHarness();
    const position = await openAapl(h);
    await h.paper.updatePrice('AAPL', '102');
    await h.paper.placeOrder({ clientOrderId: 'manual-flip-1', symbol: 'AAPL', side: 'sell', type: 'market', quantity: d('15') });

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(kinds(report)).toEqual(['external_position', 'orphaned_protection_cancelled', 'orphaned_protection_cancelled', 'side_mismatch']);
    expect(report.differences.find((x) => x.kind === 'side_mismatch')?.detail).toMatch(/^journal long 10, broker short 5/);
    expect(h.ctx.positions.closedForPosition(position.id).map((c) => [c.quantity.toFixed(), c.exitReason])).toEqual([['10', 'reconcile']]);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toMatchObject({ status: 'external', side: 'short', strategy: EXTERNAL_STRATEGY });
    expect(await h.paper.openOrders()).toEqual([]);
    expect((await reconcileAccount(h.ctx, 'paper', NOW)).differences).toEqual([]);
  });

  it('a broker position tradewire did not open is recorded as external and never traded; when it goes, the journal closes it', async () => {
    h = await createHarness();
    await h.paper.updatePrice('MSFT', '50');
    await h.paper.placeOrder({ clientOrderId: 'manual-msft-1', symbol: 'MSFT', side: 'buy', type: 'market', quantity: d('3') });

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(report.differences).toEqual([expect.objectContaining({ kind: 'external_position', symbol: 'MSFT' })]);
    const external = h.ctx.positions.findOpen('paper', 'MSFT');
    expect(external).toMatchObject({ status: 'external', strategy: EXTERNAL_STRATEGY, side: 'long' });
    expect(external?.quantity.toFixed()).toBe('3');
    // Never traded: no order of tradewire exists, at the broker or in the journal.
    expect(h.ctx.orders.openOrders('paper')).toEqual([]);
    expect((await h.paper.positions()).map((p) => p.quantity.toFixed())).toEqual(['3']);
    expect((await reconcileAccount(h.ctx, 'paper', NOW)).differences).toEqual([]);

    await h.paper.closePosition('MSFT', 'manual-msft-2');
    expect(kinds(await reconcileAccount(h.ctx, 'paper', NOW))).toEqual(['external_position_gone']);
    expect(h.ctx.positions.findOpen('paper', 'MSFT')).toBeUndefined();
  });

  it('an intent older than a minute that the broker never saw is rejected as not found; a younger one is left to its job', async () => {
    h = await createHarness();
    const intent = { account: 'paper', strategy: 'default', symbol: 'AAPL', side: 'buy' as const, leg: 'entry' as const, type: 'limit' as const, quantity: d('1'), limitPrice: d('90') };
    h.ctx.orders.recordIntent({ ...intent, clientOrderId: 'tw-en-lost0001' });

    expect((await reconcileAccount(h.ctx, 'paper', NOW)).differences).toEqual([]);
    expect(h.ctx.orders.findByClientOrderId('tw-en-lost0001')?.status).toBe('pending_submit');

    const later = new Date(Date.now() + 2 * 60_000);
    const report = await reconcileAccount(h.ctx, 'paper', { ...NOW, now: later });
    expect(report.differences).toEqual([expect.objectContaining({ kind: 'order_not_found', clientOrderId: 'tw-en-lost0001' })]);
    expect(h.ctx.orders.findByClientOrderId('tw-en-lost0001')).toMatchObject({ status: 'rejected', reason: 'not found at broker' });
  });

  it('an order in unknown that the broker has is looked up by client id and takes the broker state', async () => {
    h = await createHarness();
    await h.paper.updatePrice('AAPL', '100');
    h.ctx.orders.recordIntent({ clientOrderId: 'tw-en-timeout1', account: 'paper', strategy: 'default', symbol: 'AAPL', side: 'buy', leg: 'entry', type: 'limit', quantity: d('1'), limitPrice: d('90') });
    h.ctx.orders.updateFromBroker('tw-en-timeout1', { status: 'unknown', reason: 'timeout' });
    await h.paper.placeOrder({ clientOrderId: 'tw-en-timeout1', symbol: 'AAPL', side: 'buy', type: 'limit', quantity: d('1'), limitPrice: d('90') });

    const report = await reconcileAccount(h.ctx, 'paper', { ...NOW, now: new Date(Date.now() + 2 * 60_000) });
    expect(report.differences).toEqual([expect.objectContaining({ kind: 'order_updated', clientOrderId: 'tw-en-timeout1', detail: expect.stringMatching(/unknown → accepted/) })]);
    expect(h.ctx.orders.findByClientOrderId('tw-en-timeout1')?.status).toBe('accepted');
  });

  it('a journal order cancelled at the broker is marked cancelled, and a position left without its stop is reported', async () => {
    h = await createHarness();
    const position = await openAapl(h);
    const stop = h.ctx.orders.ordersForPosition(position.id).find((o) => o.leg === 'stop');
    await h.paper.cancelOrder({ clientOrderId: stop?.clientOrderId ?? '' });

    const report = await reconcileAccount(h.ctx, 'paper', NOW);
    expect(kinds(report)).toEqual(['order_updated', 'protection_missing']);
    expect(h.ctx.orders.findByClientOrderId(stop?.clientOrderId ?? '')?.status).toBe('cancelled');
    // Reconciliation does not place a new stop: that is trading.
    expect((await h.paper.openOrders('AAPL')).map((o) => o.type)).toEqual(['limit']);
  });

  it('broker orders that are not tradewire\'s are reported as external and left resting', async () => {
    h = await createHarness();
    await h.paper.updatePrice('AAPL', '100');
    await h.paper.placeOrder({ clientOrderId: 'manual-limit-1', symbol: 'AAPL', side: 'buy', type: 'limit', quantity: d('1'), limitPrice: d('50') });

    const [report] = await reconcileAll(h.ctx, NOW);
    expect(report?.differences).toEqual([expect.objectContaining({ kind: 'external_order', symbol: 'AAPL', clientOrderId: 'manual-limit-1' })]);
    expect((await h.paper.openOrders()).map((o) => [o.clientOrderId, o.status])).toEqual([['manual-limit-1', 'accepted']]);
  });

  it('a difference on a symbol whose entry of tradewire just filled waits for the next run instead of being corrected', async () => {
    h = await createHarness();
    const position = await openAapl(h);
    await h.paper.placeOrder({ clientOrderId: 'manual-buy-2', symbol: 'AAPL', side: 'buy', type: 'market', quantity: d('2') });

    const report = await reconcileAccount(h.ctx, 'paper'); // default settle window: the entry filled a moment ago
    expect(kinds(report)).toEqual(['position_deferred']);
    expect(h.ctx.positions.findById(position.id)?.quantity.toFixed()).toBe('10');
  });

  it('a broker that cannot be read changes nothing and says why', async () => {
    h = await createHarness();
    await openAapl(h);
    const broken = { ...h.ctx, brokers: { ...h.ctx.brokers, get: () => ({ ...h!.paper, openOrders: async () => { throw new Error('503 maintenance'); } }) as never } };
    const report = await reconcileAccount(broken, 'paper', NOW);
    expect(report.error).toMatch(/503 maintenance/);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.status).toBe('open');
  });
});
