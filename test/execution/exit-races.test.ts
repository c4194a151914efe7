import { afterEach, describe, expect, it } from 'vitest';
import type { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import { OrderRejectedError } from '../../src/domain/errors.ts';
import { Decimal } from '../../src/domain/money.ts';
import type { Order, OrderRef, OrderRequest } from '../../src/domain/order.ts';
import { syncProtection } from '../../src/execution/position-actions.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };
const HALF = { ticker: 'NASDAQ:AAPL', action: 'exit', quantity: '50', quantityType: 'percent_of_position' };

/** 100 shares an entry, and a close that gives up on an unfilled exit after a second. */
const CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 100 }
    reversalTimeoutSeconds: 1
`;

/**
 * A venue that does not enforce reduce-only (Alpaca's equities have no such flag): an order that sells more than
 * the account holds opens a short there. The paper broker clips reduce-only orders, which would hide an oversized exit.
 */
function withoutReduceOnly(paper: PaperBroker, more: Parameters<typeof overriding>[1] = {}) {
  return overriding(paper, { placeOrder: async (req: OrderRequest) => paper.placeOrder({ ...req, reduceOnly: undefined }), ...more });
}

function shape(o: Order): string {
  return `${o.side} ${o.type} ${o.quantity.toFixed()} @ ${(o.stopPrice ?? o.limitPrice)?.toFixed() ?? 'market'}`;
}

describe('an exit racing a protective order that filled in part', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('a stop that filled 40 of 100 as the exit signal cancels it: the exit sells the 60 left and the account ends flat, not short', async () => {
    let racing = false;
    const reported = new Map<string, Decimal>(); // broker order id → the quantity the venue still reports for the stop
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => withoutReduceOnly(paper, {
        cancelOrder: async (ref: OrderRef) => {
          const order = await paper.getOrder(ref);
          if (racing && order?.type === 'stop') {
            // The market gaps through the stop as its cancel goes out: 40 shares sell at 97, the cancel takes the other 60.
            racing = false;
            reported.set(order.id, order.quantity);
            await paper.modifyOrder(ref, { quantity: new Decimal(40) });
            await paper.updatePrice('AAPL', '97');
            return;
          }
          return paper.cancelOrder(ref);
        },
        getOrder: async (ref: OrderRef) => {
          const order = await paper.getOrder(ref);
          const original = order && reported.get(order.id);
          return order && original ? { ...order, quantity: original, status: 'cancelled' } : order;
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    racing = true;
    const exit = h.job({ ticker: 'NASDAQ:AAPL', action: 'exit' });
    expect(await h.executor.execute(exit)).toEqual({ status: 'executed' });

    const exits = h.ctx.orders.ordersForSignal(exit.signalId).filter((o) => o.leg === 'exit');
    expect(exits.map((o) => [o.quantity.toFixed(), o.status])).toEqual([['60', 'filled']]);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders('AAPL')).toEqual([]);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    // Each part booked once, with its own reason: 40 by the stop, 60 by the signal, both at 97.
    const closed = h.ctx.positions.listClosed();
    expect(closed.map((c) => [c.exitReason, c.quantity.toFixed(), c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([
      ['stop_loss', '40', '97', '-120'], ['signal', '60', '97', '-180'],
    ]);
  });

  it('the broker holds less than the journal knows of (a fill it has not reported): the exit is capped at what the broker holds', async () => {
    h = await createHarness({ configText: CONFIG, wrap: (paper) => withoutReduceOnly(paper) });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    // 30 shares leave the account by a route whose fill tradewire never hears of.
    await h.paper.placeOrder({ clientOrderId: 'outside-sale', symbol: 'AAPL', side: 'sell', type: 'market', quantity: new Decimal(30) });

    const exit = h.job({ ticker: 'NASDAQ:AAPL', action: 'exit' });
    await h.executor.execute(exit);
    const exits = h.ctx.orders.ordersForSignal(exit.signalId).filter((o) => o.leg === 'exit');
    expect(exits.map((o) => o.quantity.toFixed())).toEqual(['70']);
    expect(await h.paper.positions()).toEqual([]);
  });
});

describe('an exit when the broker holds none of the position', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('sends nothing and fails with the reason: an exit there would open the other side', async () => {
    h = await createHarness({ configText: CONFIG, wrap: (paper) => withoutReduceOnly(paper) });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    await h.paper.placeOrder({ clientOrderId: 'outside-sale', symbol: 'AAPL', side: 'sell', type: 'market', quantity: new Decimal(100) });

    const exit = h.job({ ticker: 'NASDAQ:AAPL', action: 'exit' });
    const outcome = await h.executor.execute(exit);
    expect(outcome?.status).toBe('failed');
    expect(outcome?.reason).toMatch(/^position_not_held: /);
    expect(h.ctx.orders.ordersForSignal(exit.signalId).filter((o) => o.leg === 'exit')).toEqual([]);
    expect(await h.paper.positions()).toEqual([]);
  });
});

describe('a one-cancels-other fill found by the position loop while an exit signal is handled', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('exactly one exit: the stop; the signal sends no market exit and the account ends flat', async () => {
    let holdFirstCancel = false;
    let exitDone: () => void = () => undefined;
    const exitFinished = new Promise<void>((resolve) => { exitDone = resolve; });
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => withoutReduceOnly(paper, {
        cancelOrder: async (ref: OrderRef) => {
          if (holdFirstCancel) {
            // The loop's cancel of the surviving target is slow to answer: the exit signal runs meanwhile.
            holdFirstCancel = false;
            await Promise.race([exitFinished, new Promise((r) => setTimeout(r, 300))]);
          }
          return paper.cancelOrder(ref);
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    await h.paper.updatePrice('AAPL', '97'); // gaps through the 98 stop: all 100 sell at 97
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    if (!position) throw new Error('no position');

    holdFirstCancel = true;
    const loop = syncProtection(h.ctx, h.ctx.brokers.get('paper'), position);
    await waitFor(() => !holdFirstCancel);
    const exit = h.job({ ticker: 'NASDAQ:AAPL', action: 'exit' });
    const signal = h.executor.execute(exit).finally(exitDone);
    await Promise.all([loop, signal]);

    expect(h.ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'exit')).toEqual([]);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders('AAPL')).toEqual([]);
    expect(h.ctx.positions.listClosed().map((c) => [c.exitReason, c.quantity.toFixed(), c.exitPrice.toFixed()])).toEqual([['stop_loss', '100', '97']]);
  });
});

describe('an exit signal that holds the position when the position loop finds its stop filled', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('the loop leaves the books to the closer, which books the stop once and sends no exit', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let holding = false;
    let held = false;
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => withoutReduceOnly(paper, {
        cancelOrder: async (ref: OrderRef) => {
          if (holding) { holding = false; held = true; await gate; } // the closer's first cancel is slow to answer
          return paper.cancelOrder(ref);
        },
      }),
    });
    const broker = h.ctx.brokers.get('paper');
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    if (!position) throw new Error('no position');

    holding = true;
    const exit = h.job({ ticker: 'NASDAQ:AAPL', action: 'exit' });
    const signal = h.executor.execute(exit);
    await waitFor(() => held);
    await h.paper.updatePrice('AAPL', '97'); // the stop fills while the closer waits on its cancel
    expect(await syncProtection(h.ctx, broker, position)).toBeUndefined();
    expect(h.ctx.positions.findById(position.id)?.status).toBe('closing');
    release();
    expect(await signal).toEqual({ status: 'executed' });

    expect(h.ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'exit')).toEqual([]);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders('AAPL')).toEqual([]);
    expect(h.ctx.positions.listClosed().map((c) => [c.exitReason, c.quantity.toFixed(), c.exitPrice.toFixed()])).toEqual([['stop_loss', '100', '97']]);
  });
});

describe('a partial close whose exit does not fill', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('half of the position, the exit refused: a stop and target for all 100 rest at the broker again', async () => {
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          if (req.leg === 'exit') throw new OrderRejectedError('exit refused', { broker: 'paper', vendorMessage: 'market is closed' });
          return paper.placeOrder(req);
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    const outcome = await h.executor.execute(h.job(HALF));
    expect(outcome?.status).toBe('failed');

    expect((await h.paper.openOrders('AAPL')).map(shape).sort()).toEqual(['sell limit 100 @ 104', 'sell stop 100 @ 98']);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect([position?.status, position?.quantity.toFixed()]).toEqual(['open', '100']);
    expect(h.ctx.accountState.get('paper')?.halted ?? false).toBe(false);
  });

  it('half of the position, the exit refused and the stop refused when placed again: the account is halted and says why', async () => {
    let exitTried = false;
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          if (req.leg === 'exit') { exitTried = true; throw new OrderRejectedError('exit refused', { broker: 'paper', vendorMessage: 'market is closed' }); }
          if (req.leg === 'stop' && exitTried) throw new OrderRejectedError('stop refused', { broker: 'paper', vendorMessage: 'stop orders are not accepted now' });
          return paper.placeOrder(req);
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    const outcome = await h.executor.execute(h.job(HALF));
    expect(outcome?.status).toBe('failed');
    expect(outcome?.reason).toMatch(/^protection_failed: /);
    const state = h.ctx.accountState.get('paper');
    expect(state?.halted).toBe(true);
    expect(state?.haltedReason).toMatch(/AAPL \(100 left\) could not be protected again: .*stop orders are not accepted now/);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.status).toBe('open');
  });

  it('half of the position, the exit fills 20 of 50 and the venue cancels the rest: protection for the 80 left', async () => {
    const partial = new Map<string, { asked: Decimal; cancelled: boolean }>(); // broker order id → the exit as the venue reports it
    h = await createHarness({
      configText: CONFIG,
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          if (req.leg !== 'exit') return paper.placeOrder(req);
          // Thin liquidity: 20 shares fill at once, the other 30 keep working.
          const placed = await paper.placeOrder({ ...req, quantity: new Decimal(20) });
          partial.set(placed.id, { asked: req.quantity, cancelled: false });
          return { ...placed, quantity: req.quantity, status: 'partially_filled' };
        },
        getOrder: async (ref: OrderRef) => {
          const order = await paper.getOrder(ref);
          const seen = order && partial.get(order.id);
          return order && seen ? { ...order, quantity: seen.asked, status: seen.cancelled ? 'cancelled' : 'partially_filled' } : order;
        },
        cancelOrder: async (ref: OrderRef) => {
          const order = await paper.getOrder(ref);
          const seen = order && partial.get(order.id);
          if (seen) { seen.cancelled = true; return; }
          return paper.cancelOrder(ref);
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    await h.executor.execute(h.job(HALF));

    expect((await h.paper.positions()).map((p) => [p.side, p.quantity.toFixed()])).toEqual([['long', '80']]);
    expect((await h.paper.openOrders('AAPL')).map(shape).sort()).toEqual(['sell limit 80 @ 104', 'sell stop 80 @ 98']);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect([position?.status, position?.quantity.toFixed()]).toEqual(['open', '80']);
    expect(h.ctx.positions.listClosed().map((c) => [c.exitReason, c.quantity.toFixed()])).toEqual([['signal', '20']]);
  });
});

async function waitFor(condition: () => boolean | undefined, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
