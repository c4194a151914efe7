// Scale-out on the paper broker (native: several reduce-only targets rest next to the stop), from the alert to the fills.
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/domain/order.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

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
    takeProfit:
      - { percent: 1, size: "50%" }
      - { percent: 2, size: "30%" }
      - { rMultiple: 3, size: rest }
    manage:
      breakeven: { afterTarget: 1 }
`;
const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };

let h: Harness | undefined;
afterEach(async () => { await h?.close(); h = undefined; });

function resting(harness: Harness) {
  return harness.paper.openOrders().then((orders) => orders
    .map((o) => ({ type: o.type, quantity: o.quantity.toFixed(), price: (o.stopPrice ?? o.limitPrice)?.toFixed() }))
    .sort((a, b) => (a.type + (a.price ?? '')).localeCompare(b.type + (b.price ?? ''))));
}

describe('a scale-out at the paper broker', () => {
  it('rests the stop and one reduce-only target per level, sized 5 / 3 / 2', async () => {
    h = await createHarness({ configText: CONFIG });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    expect(await resting(h)).toEqual([
      { type: 'limit', quantity: '5', price: '101' },
      { type: 'limit', quantity: '3', price: '102' },
      { type: 'limit', quantity: '2', price: '106' },
      { type: 'stop', quantity: '10', price: '98' },
    ]);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    const levels = h.ctx.orders.ordersForPosition(position?.id ?? '').filter((o) => o.leg === 'target').map((o) => o.level);
    expect(levels).toEqual([1, 2, 3]);
  });

  it('merges a level that rounds to nothing into the next, and the signal\'s outcome and the journal say so', async () => {
    h = await createHarness({ configText: CONFIG });
    // 3 shares: 50 % is 1, 30 % rounds down to 0 and joins level 3, which takes the remaining 2.
    const outcome = await h.executor.execute(h.job({ ...BUY, quantity: '3' }));
    expect(outcome).toEqual({ status: 'executed', reason: 'takeProfit level 2 (0) merged into level 3: its size rounds to nothing on the step' });
    expect(await resting(h)).toEqual([
      { type: 'limit', quantity: '1', price: '101' },
      { type: 'limit', quantity: '2', price: '106' },
      { type: 'stop', quantity: '3', price: '98' },
    ]);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    const third = h.ctx.orders.ordersForPosition(position?.id ?? '').find((o) => o.level === 3);
    expect(h.ctx.orders.events(third?.clientOrderId ?? '')[0]?.detail?.reason).toBe('takeProfit level 2 (0) merged into level 3: its size rounds to nothing on the step');
  });

  it('after target 1 fills: the stop holds what remains, at breakeven, before anything else; the other targets rest on', async () => {
    h = await createHarness({ configText: CONFIG });
    await h.executor.execute(h.job(BUY));
    const manager = new PositionManager(h.ctx, { intervalMs: 1000, db: h.db });
    await h.paper.updatePrice('AAPL', '101');
    await manager.tick();

    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect(position?.quantity.toFixed()).toBe('5');
    expect(await resting(h)).toEqual([
      { type: 'limit', quantity: '3', price: '102' },
      { type: 'limit', quantity: '2', price: '106' },
      { type: 'stop', quantity: '5', price: '100' },
    ]);
    expect(position?.stopPrice?.toFixed()).toBe('100');
    // The move is an order event with its reason.
    const stop = h.ctx.orders.ordersForPosition(position?.id ?? '').filter((o) => o.leg === 'stop' && !isTerminal(o.status));
    expect(stop).toHaveLength(1);
    const events = h.ctx.orders.events(stop[0]?.clientOrderId ?? '').map((e) => e.detail?.reason).filter(Boolean);
    expect(events.join(' ')).toContain('breakeven');

    // Level 2, then the stop at breakeven (filled at 99.9, a hair under it): a trade of three parts, each a row of its own.
    await h.paper.updatePrice('AAPL', '102');
    await manager.tick();
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('2');
    await h.paper.updatePrice('AAPL', '99.9');
    await manager.tick();
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect(await h.paper.openOrders()).toEqual([]);
    const trades = h.db.prepare('SELECT quantity, exit_reason, r_multiple FROM v_trades WHERE position_id = ? ORDER BY id').all(position?.id);
    expect(trades).toEqual([
      { quantity: '5', exit_reason: 'take_profit', r_multiple: 0.5 },
      { quantity: '3', exit_reason: 'take_profit', r_multiple: 1 },
      { quantity: '2', exit_reason: 'stop_loss', r_multiple: -0.05 },
    ]);
    expect(h.db.prepare('SELECT level, quantity FROM v_level_fills WHERE position_id = ?').all(position?.id))
      .toEqual([{ level: 1, quantity: '5' }, { level: 2, quantity: '3' }]);
    await manager.stop();
  });

  it('is refused before anything is sent where the broker attaches one target to the entry (Coinbase)', async () => {
    h = await createHarness({ configText: CONFIG, wrap: (paper) => overriding(paper, { capabilities: { ...paper.capabilities, protectionFor: () => 'attached' } }) });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'rejected',
      reason: 'unsupported: paper attaches one stop and one target to an entry; give takeProfit as one target, not a list of levels' });
    expect(await h.paper.openOrders()).toEqual([]);
    expect(await h.paper.positions()).toEqual([]);
  });
});
