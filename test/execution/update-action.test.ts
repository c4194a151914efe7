// `action: "update"` moves the open position's stop or targets at the broker without trading, and says why when it cannot.
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/domain/order.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';
import { issuesOf, parseText } from '../intake/helpers.ts';

const CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 10 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;
const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };

let h: Harness | undefined;
afterEach(async () => { await h?.close(); h = undefined; });

async function resting(harness: Harness): Promise<string[][]> {
  return (await harness.paper.openOrders()).map((o) => [o.type, o.quantity.toFixed(), (o.stopPrice ?? o.limitPrice)?.toFixed() ?? '']).sort();
}

describe('an update alert', () => {
  it('moves the stop and the target of the open position, trading nothing, each move an order event naming the alert', async () => {
    h = await createHarness({ configText: CONFIG });
    await h.executor.execute(h.job(BUY));
    expect(await resting(h)).toEqual([['limit', '10', '104'], ['stop', '10', '98']]);
    const job = h.job({ ticker: 'NASDAQ:AAPL', action: 'update', price: '101', stopLoss: { stopPrice: '99.5' }, takeProfit: { limitPrice: '106' } });
    expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
    expect(await resting(h)).toEqual([['limit', '10', '106'], ['stop', '10', '99.5']]);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect([position?.quantity.toFixed(), position?.stopPrice?.toFixed(), position?.targetPrice?.toFixed()]).toEqual(['10', '99.5', '106']);
    // Nothing traded: the entry is the only order with a fill.
    expect(h.db.prepare('SELECT COUNT(*) AS n FROM fills').get()).toEqual({ n: 1 });
    const stop = h.ctx.orders.ordersForPosition(position?.id ?? '').find((o) => o.leg === 'stop' && !isTerminal(o.status));
    expect(h.ctx.orders.events(stop?.clientOrderId ?? '').map((e) => e.detail?.reason).filter(Boolean)).toEqual([`update alert ${job.signalId}: stop to 99.5`]);
  });

  it('can swap the single target for scale-out levels sized from what is held', async () => {
    h = await createHarness({ configText: CONFIG });
    await h.executor.execute(h.job(BUY));
    const job = h.job({ ticker: 'NASDAQ:AAPL', action: 'update', takeProfit: [{ percent: '1', size: '50%' }, { percent: '3', size: 'rest' }] });
    expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
    expect(await resting(h)).toEqual([['limit', '5', '101'], ['limit', '5', '103'], ['stop', '10', '98']]);
  });

  it('is refused with a reason when there is no position, or the stop would be through the price', async () => {
    h = await createHarness({ configText: CONFIG });
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'update', stopLoss: { stopPrice: '99' } })))
      .toEqual({ status: 'rejected', reason: 'no_op: nothing to update: the strategy has no open position in this ticker' });
    await h.executor.execute(h.job(BUY));
    const through = await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'update', price: '100', stopLoss: { stopPrice: '100.5' } }));
    expect(through).toMatchObject({ status: 'rejected' });
    expect(through?.reason).toBe('invalid: stopLoss.stopPrice: the stop 100.5 of a long must be below the base price 100');
    expect(await resting(h)).toEqual([['limit', '10', '104'], ['stop', '10', '98']]);
  });

  it('needs a stopLoss or a takeProfit, and is never stale', () => {
    const bare = parseText('{"passphrase": "s", "ticker": "AAPL", "action": "update"}');
    expect(issuesOf(bare).map((i) => i.path)).toEqual(['action']);
    const old = parseText(`{"passphrase": "s", "ticker": "AAPL", "action": "update", "time": "2020-01-01T00:00:00Z", "stopLoss": {"stopPrice": "99"}}`);
    expect(old.ok).toBe(true);
  });
});
