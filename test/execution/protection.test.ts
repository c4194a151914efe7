import { afterEach, describe, expect, it } from 'vitest';
import { NetworkError, OrderRejectedError, TimeoutError } from '../../src/domain/errors.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { Executor } from '../../src/execution/executor.ts';
import { syncProtection } from '../../src/execution/position-actions.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };

describe('protection of a filled entry', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('a buy fills and gets a reduce-only stop 2% below and a target 4% above the fill', async () => {
    h = await createHarness();
    const outcome = await h.executor.execute(h.job(BUY));
    expect(outcome).toEqual({ status: 'executed' });
    const open = await h.paper.openOrders('AAPL');
    expect(open.map((o) => [o.side, o.type, o.quantity.toFixed(), (o.stopPrice ?? o.limitPrice)?.toFixed()]).sort()).toEqual([
      ['sell', 'limit', '10', '104'], ['sell', 'stop', '10', '98'],
    ]);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect(position?.quantity.toFixed()).toBe('10');
    expect(position?.stopPrice?.toFixed()).toBe('98');
    expect(position?.targetPrice?.toFixed()).toBe('104');
  });

  it('an entry whose stop the broker refuses is closed at once, and the signal fails with the reason', async () => {
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          if (req.leg === 'stop') throw new OrderRejectedError('stop refused', { broker: 'paper', vendorMessage: 'stop price too close' });
          return paper.placeOrder(req);
        },
      }),
    });
    const job = h.job(BUY);
    const outcome = await h.executor.execute(job);
    expect(outcome?.status).toBe('failed');
    expect(outcome?.reason).toMatch(/^protection_failed: order_rejected: stop price too close; the position was closed$/);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('failed');
    expect(await h.paper.positions()).toEqual([]);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    const legs = h.ctx.orders.ordersForSignal(job.signalId).map((o) => `${o.leg}:${o.status}`);
    expect(legs).toEqual(['entry:filled', 'stop:rejected', 'exit:filled']);
  });

  it('transient failures of a protective order are retried inside the job', async () => {
    let failures = 0;
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          if (req.leg === 'stop' && failures < 2) { failures++; throw new NetworkError('connection reset', { broker: 'paper' }); }
          return paper.placeOrder(req);
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    expect(failures).toBe(2);
    expect((await h.paper.openOrders('AAPL')).filter((o) => o.type === 'stop')).toHaveLength(1);
  });

  it('when the stop fills, one-cancels-other cancels the target and books the loss exactly', async () => {
    h = await createHarness();
    await h.executor.execute(h.job(BUY));
    await h.paper.updatePrice('AAPL', '97'); // gaps through the 98 stop: fills at 97
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    if (!position) throw new Error('no position');
    const closed = await syncProtection(h.ctx, h.paper, position);
    expect(closed?.exitReason).toBe('stop_loss');
    expect(closed?.exitPrice.toFixed()).toBe('97');
    expect(closed?.realizedPnl.toFixed()).toBe('-30');
    expect(await h.paper.openOrders('AAPL')).toEqual([]);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
  });
});

describe('closing a position whose stop fills during the close', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('books the stop and sends no exit: the broker is already flat', async () => {
    let racing = false;
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        cancelOrder: async (ref) => {
          // The market gaps through the stop just as its cancel goes out: the cancel finds it filled.
          if (racing) { racing = false; await paper.updatePrice('AAPL', '97'); }
          return paper.cancelOrder(ref);
        },
      }),
    });
    await h.executor.execute(h.job(BUY));
    racing = true;
    const exit = h.job({ ticker: 'NASDAQ:AAPL', action: 'exit' });
    expect(await h.executor.execute(exit)).toEqual({ status: 'executed' });
    expect(h.ctx.orders.ordersForSignal(exit.signalId).filter((o) => o.leg === 'exit')).toEqual([]);
    const closed = h.ctx.positions.listClosed();
    expect(closed.map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['stop_loss', '97', '-30']]);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders('AAPL')).toEqual([]);
  });
});

describe('an order whose answer was lost', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('a timeout after the broker accepted the entry is resolved by looking it up, never by placing it again', async () => {
    let entryCalls = 0;
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          const order = await paper.placeOrder(req);
          if (req.leg === 'entry' && ++entryCalls === 1) throw new TimeoutError('no answer in 10 s', { broker: 'paper' });
          return order;
        },
      }),
    });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' });
    expect(entryCalls).toBe(1);
    const ledgerEntries = (await h.paper.fills()).filter((f) => f.side === 'buy');
    expect(ledgerEntries).toHaveLength(1);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('10');
  });
});

describe('a job re-delivered after its worker died', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('between the entry fill and its protection: the second run books and protects the same position, and places no second entry', async () => {
    let hang = true;
    let died = false;
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        placeOrder: async (req: OrderRequest) => {
          // The first worker "dies" as it sends the stop: its promise never settles, like a killed process.
          if (req.leg === 'stop' && hang) {
            died = true;
            return new Promise(() => undefined);
          }
          return paper.placeOrder(req);
        },
      }),
    });
    const job = h.job(BUY);
    void h.executor.execute(job);
    // Its stop's intent is journalled (and made durable) before the call that never returns.
    await waitFor(() => died && h?.ctx.orders.ordersForSignal(job.signalId).some((o) => o.leg === 'stop'));
    hang = false;

    // The second worker comes after the first one's lease has run out.
    const later = () => new Date(Date.now() + 31_000);
    const second = new Executor({ ...h.ctx, owner: 'second-worker', now: later });
    expect(await second.execute(job)).toEqual({ status: 'executed' });

    expect((await h.paper.fills()).filter((f) => f.side === 'buy')).toHaveLength(1);
    const open = await h.paper.openOrders('AAPL');
    expect(open.map((o) => o.type).sort()).toEqual(['limit', 'stop']);
    expect(h.ctx.positions.listOpen('paper')).toHaveLength(1);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('executed');
  });
});

async function waitFor(condition: () => boolean | undefined, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

