import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, Capabilities } from '../../src/brokers/broker.ts';
import type { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import { TimeoutError } from '../../src/domain/errors.ts';
import type { BracketOrders, BracketRequest, Order } from '../../src/domain/order.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

/** A broker that holds brackets itself (as Alpaca does for equities), played by the paper broker underneath. */
function nativeBrackets(paper: PaperBroker, calls: { bracket: number; single: number }, options: { timeoutOnce?: boolean } = {}): Broker {
  const capabilities: Capabilities = { ...paper.capabilities, protectionFor: () => 'native' };
  let timedOut = false;
  return overriding(paper, {
    capabilities,
    placeOrder: async (req) => { calls.single++; return paper.placeOrder(req); },
    placeBracket: async (req: BracketRequest): Promise<BracketOrders> => {
      calls.bracket++;
      const entry = await paper.placeOrder(req.entry);
      const exit = req.entry.side === 'buy' ? 'sell' : 'buy';
      const leg = async (spec: BracketRequest['stopLoss']): Promise<Order | undefined> => spec && paper.placeOrder({
        clientOrderId: spec.clientOrderId, symbol: req.entry.symbol, side: exit, quantity: req.entry.quantity, reduceOnly: true, timeInForce: 'gtc',
        type: spec.type, stopPrice: spec.stopPrice, limitPrice: spec.limitPrice, trailAmount: spec.trailAmount, trailPercent: spec.trailPercent,
      });
      const result = { entry, stopLoss: await leg(req.stopLoss), takeProfit: await leg(req.takeProfit) };
      if (options.timeoutOnce && !timedOut) { timedOut = true; throw new TimeoutError('no answer', { broker: 'native' }); }
      return result;
    },
  });
}

describe('a broker that holds brackets natively', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('gets the entry, its stop and its target in one bracket call, all journalled and linked to the position', async () => {
    const calls = { bracket: 0, single: 0 };
    h = await createHarness({ wrap: (paper) => nativeBrackets(paper, calls) });
    const job = h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' });
    expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
    expect(calls).toEqual({ bracket: 1, single: 0 });
    const orders = h.ctx.orders.ordersForSignal(job.signalId);
    expect(orders.map((o) => [o.leg, o.side, o.type, (o.stopPrice ?? o.limitPrice)?.toFixed() ?? '-'])).toEqual([
      ['entry', 'buy', 'market', '-'], ['stop', 'sell', 'stop', '98'], ['target', 'sell', 'limit', '104'],
    ]);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect(position?.protection).toBe('native');
    expect(h.ctx.orders.ordersForPosition(position?.id ?? '').map((o) => o.leg).sort()).toEqual(['entry', 'stop', 'target']);
  });

  it('a timeout after the broker took the bracket is resolved by the entry\'s client id: one bracket, not two', async () => {
    const calls = { bracket: 0, single: 0 };
    h = await createHarness({ wrap: (paper) => nativeBrackets(paper, calls, { timeoutOnce: true }) });
    const job = h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' });
    expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
    expect(calls.bracket).toBe(1);
    expect((await h.paper.fills()).filter((f) => f.side === 'buy')).toHaveLength(1);
    expect((await h.paper.openOrders('AAPL')).map((o) => o.type).sort()).toEqual(['limit', 'stop']);
    expect(h.ctx.orders.ordersForSignal(job.signalId).map((o) => o.status)).toEqual(['filled', 'accepted', 'accepted']);
  });
});
