// The order tracker asks the broker by the broker's own id once it has one: some brokers name a bracket's legs
// themselves, and after a restart our client id for such a leg means nothing to them.
import { afterEach, describe, expect, it } from 'vitest';
import type { Fill, OrderRef } from '../../src/domain/order.ts';
import { Decimal } from '../../src/domain/money.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const VENUE_NAME = 'venue-named-leg-1';

describe('order tracker lookups', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('refreshes a leg by its broker id when the broker does not know our client id, and books its fill under ours', async () => {
    const asked: OrderRef[] = [];
    let ours = '';
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        // The broker forgot (or never knew) our client id for this leg: only its own id finds it, under its own name.
        getOrder: async (ref: OrderRef) => {
          asked.push(ref);
          if ('clientOrderId' in ref && ref.clientOrderId === ours) return undefined;
          const order = await paper.getOrder(ref);
          return order && order.clientOrderId === ours ? { ...order, clientOrderId: VENUE_NAME } : order;
        },
        fills: async (since?: Date): Promise<Fill[]> => (await paper.fills(since)).map((f) => (f.clientOrderId === ours ? { ...f, clientOrderId: VENUE_NAME } : f)),
      }),
    });
    const { ctx, paper } = h;
    const broker = ctx.brokers.get('paper');
    await paper.updatePrice('AAPL', '100');
    await paper.placeOrder({ clientOrderId: 'tw-setup-entry', symbol: 'AAPL', side: 'buy', type: 'market', quantity: new Decimal(10) });

    ours = 'tw-sl-test-1';
    const placed = await ctx.tracker.place(broker, {
      clientOrderId: ours, account: 'paper', strategy: 'default', symbol: 'AAPL', side: 'sell', leg: 'stop', type: 'stop',
      quantity: new Decimal(10), stopPrice: new Decimal(95),
    });
    expect(placed.status).toBe('accepted');
    expect(placed.brokerOrderId).toBeDefined();

    await paper.updatePrice('AAPL', '94');
    const refreshed = await ctx.tracker.refresh(broker, ours);
    expect(asked.at(-1)).toEqual({ orderId: placed.brokerOrderId, symbol: 'AAPL' });
    expect(refreshed.clientOrderId).toBe(ours);
    expect(refreshed.status).toBe('filled');
    expect(refreshed.filledQuantity.toFixed()).toBe('10');
    const fills = ctx.orders.fillsForOrder(ours);
    expect(fills.map((f) => [f.quantity.toFixed(), f.price.toFixed()])).toEqual([['10', '94']]);
    expect(ctx.orders.findByClientOrderId(VENUE_NAME)).toBeUndefined();
  });
});
