// The position loop managing a trade at the paper broker: the stop moved by the rules (recorded with its reason), and time exits.
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/domain/order.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const config = (manage: string) => `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 10 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 10 }
    manage: ${manage}
`;
const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };

let h: Harness | undefined;
let manager: PositionManager | undefined;
afterEach(async () => {
  await manager?.stop();
  await h?.close();
  h = undefined;
  manager = undefined;
});

async function stopAtBroker(harness: Harness): Promise<string | undefined> {
  return (await harness.paper.openOrders()).find((o) => o.type === 'stop')?.stopPrice?.toFixed();
}

describe('stop moves by the position loop', () => {
  it('trails 1 % behind the high once the price is +1 R, moving the resting stop and saying why', async () => {
    h = await createHarness({ configText: config('{ trailAfter: { rMultiple: 1 }, trailPercent: 1 }') });
    await h.executor.execute(h.job(BUY));
    manager = new PositionManager(h.ctx, { intervalMs: 1000, db: h.db });
    await h.paper.updatePrice('AAPL', '101.5'); // +0.75 R: nothing yet
    await manager.tick();
    expect(await stopAtBroker(h)).toBe('98');
    await h.paper.updatePrice('AAPL', '103');
    await manager.tick();
    expect(await stopAtBroker(h)).toBe('101.97');
    await h.paper.updatePrice('AAPL', '102.5'); // below the high: the stop stays
    await manager.tick();
    expect(await stopAtBroker(h)).toBe('101.97');

    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect(position?.stopPrice?.toFixed()).toBe('101.97');
    const stop = h.ctx.orders.ordersForPosition(position?.id ?? '').find((o) => o.leg === 'stop' && !isTerminal(o.status));
    const reasons = h.ctx.orders.events(stop?.clientOrderId ?? '').map((e) => e.detail?.reason).filter(Boolean);
    expect(reasons).toEqual(['trailing 1% behind 103 (past +1 R): stop to 101.97']);

    await h.paper.updatePrice('AAPL', '101.9');
    await manager.tick();
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    const [trade] = h.db.prepare('SELECT exit_reason, r_multiple FROM v_trades').all() as Array<{ exit_reason: string; r_multiple: number }>;
    expect(trade).toEqual({ exit_reason: 'stop_loss', r_multiple: 0.95 });
  });

  it('moves the stop to breakeven plus the fee offset at +1 R', async () => {
    h = await createHarness({ configText: config('{ breakeven: { atR: 1, offset: "0.05" } }') });
    await h.executor.execute(h.job(BUY));
    manager = new PositionManager(h.ctx, { intervalMs: 1000, db: h.db });
    await h.paper.updatePrice('AAPL', '101');
    await manager.tick();
    expect(await stopAtBroker(h)).toBe('98');
    await h.paper.updatePrice('AAPL', '102');
    await manager.tick();
    expect(await stopAtBroker(h)).toBe('100.05');
  });
});

describe('time exits', () => {
  it('closes the trade once maxHoldMinutes have passed, with exit_reason time', async () => {
    h = await createHarness({ configText: config('{ maxHoldMinutes: 30 }') });
    await h.executor.execute(h.job(BUY));
    let now = new Date();
    manager = new PositionManager({ ...h.ctx, now: () => now }, { intervalMs: 1000, db: h.db });
    await h.paper.updatePrice('AAPL', '100.5');
    now = new Date(Date.now() + 29 * 60_000);
    await manager.tick();
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeDefined();
    now = new Date(Date.now() + 31 * 60_000);
    await manager.tick();
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect(h.db.prepare('SELECT exit_reason FROM closed_positions').all()).toEqual([{ exit_reason: 'time' }]);
    expect(await h.paper.positions()).toEqual([]);
  });
});
