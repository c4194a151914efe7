// The paper broker as the executor sees it: orders, fills, cash and positions in a real SQLite ledger.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../../src/domain/money.ts';
import {
  DuplicateClientOrderIdError, InsufficientFundsError, InvalidOrderError, NotSupportedError, OrderNotFoundError,
} from '../../../src/domain/errors.ts';
import type { OrderRequest } from '../../../src/domain/order.ts';
import { PaperBroker, paperInstrument } from '../../../src/brokers/paper/paper-broker.ts';
import type { PaperBrokerOptions } from '../../../src/brokers/paper/paper-broker.ts';
import { LEDGER_VERSION, LedgerError } from '../../../src/brokers/paper/ledger.ts';

const d = (text: string): Decimal => new Decimal(text);

let dir: string;
let now: Date;
let brokers: PaperBroker[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-paper-'));
  now = new Date('2026-12-01T14:30:00.000Z');
  brokers = [];
});

afterEach(async () => {
  await Promise.all(brokers.map((b) => b.disconnect()));
  rmSync(dir, { recursive: true, force: true });
});

async function paper(overrides: Partial<PaperBrokerOptions> = {}): Promise<PaperBroker> {
  let sequence = 0;
  const broker = new PaperBroker({
    name: 'paper',
    ledgerPath: join(dir, 'paper.db'),
    startingCash: d('100000'),
    feeRate: d('0'),
    feePerOrder: d('0'),
    slippagePercent: d('0.05'),
    clock: () => now,
    idSource: () => `id-${String(++sequence).padStart(4, '0')}-${Math.random().toString(36).slice(2, 8)}`,
    ...overrides,
  });
  await broker.connect();
  brokers.push(broker);
  return broker;
}

const market = (clientOrderId: string, side: 'buy' | 'sell', quantity: string, symbol = 'AAPL'): OrderRequest =>
  ({ clientOrderId, symbol, side, type: 'market', quantity: d(quantity) });

describe('market orders', () => {
  it('a market buy fills at last + slippage to the cent and pays notional plus fee out of cash', async () => {
    const broker = await paper({ feeRate: d('0.001') });
    await broker.updatePrice('AAPL', '100.00');
    const order = await broker.placeOrder(market('tw-en-1', 'buy', '10'));
    expect(order.status).toBe('filled');
    expect(order.averageFillPrice?.toString()).toBe('100.05');
    expect(order.filledQuantity.toString()).toBe('10');

    const [fill] = await broker.fills();
    expect(fill?.price.toString()).toBe('100.05');
    expect(fill?.fee.toFixed(2)).toBe('1.00');
    expect(fill?.fee.toString()).toBe('1');
    expect(fill?.feeCurrency).toBe('USD');

    const account = await broker.account();
    expect(account.cash.toFixed(2)).toBe('98998.50');
    expect(account.cash.toString()).toBe('98998.5');
    // Marked at the last price (100), the position is worth 1000: equity shows the slippage and the fee as a loss.
    expect(account.equity.toString()).toBe('99998.5');
    expect(await broker.positions()).toMatchObject([{ symbol: 'AAPL', side: 'long' }]);
    const [position] = await broker.positions();
    expect(position?.quantity.toString()).toBe('10');
    expect(position?.averagePrice.toString()).toBe('100.05');
    expect(position?.unrealizedPnl?.toString()).toBe('-0.5');
  });

  it('a market sell receives last − slippage, and closing a long realizes the P&L into cash', async () => {
    const broker = await paper({ feeRate: d('0.001') });
    await broker.updatePrice('AAPL', '100.00');
    await broker.placeOrder(market('tw-en-1', 'buy', '10'));
    await broker.updatePrice('AAPL', '110.00');
    const sell = await broker.placeOrder(market('tw-ex-1', 'sell', '10'));
    // 110 × 0.05 % = 0.055 → 109.945, down to 109.94
    expect(sell.averageFillPrice?.toString()).toBe('109.94');
    // proceeds 1099.40, fee 1.0994 → 1.10
    const account = await broker.account();
    expect(account.cash.toString()).toBe('100096.8');
    expect(account.equity.toString()).toBe('100096.8');
    expect(await broker.positions()).toEqual([]);
  });

  it('refuses a market order before the symbol has a price', async () => {
    const broker = await paper();
    await expect(broker.placeOrder(market('tw-en-1', 'buy', '1'))).rejects.toThrow(new InvalidOrderError('no price for AAPL yet', { broker: 'paper' }));
  });

  it('refuses quantities off the step, non-positive quantities and prices off the tick', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await expect(broker.placeOrder(market('a1', 'buy', '1.5'))).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.placeOrder(market('a2', 'buy', '0'))).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.placeOrder({ ...market('a3', 'buy', '1'), type: 'limit', limitPrice: d('99.999') })).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.placeOrder({ ...market('a4', 'buy', '1'), type: 'limit', limitPrice: d('-1') })).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.placeOrder({ ...market('a5', 'buy', '1'), type: 'limit' })).rejects.toThrow(/needs a limit price/);
    await expect(broker.placeOrder(market('has space', 'buy', '1'))).rejects.toThrow(/client order id/);
    expect(await broker.openOrders()).toEqual([]);
  });

  it('trades crypto pairs in fractional steps at a cent tick', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    expect(paperInstrument('BTCUSDT')).toMatchObject({ assetClass: 'crypto', fractionable: true });
    await broker.updatePrice('BTCUSD', '65000.12');
    const order = await broker.placeOrder(market('c1', 'buy', '0.00123', 'BTCUSD'));
    expect(order.averageFillPrice?.toString()).toBe('65000.12');
    expect((await broker.account()).cash.toString()).toBe('99920.0498524');
  });
});

describe('resting orders', () => {
  it('a limit buy rests, then fills at the limit when the price comes down to it', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    const placed = await broker.placeOrder({ ...market('l1', 'buy', '10'), type: 'limit', limitPrice: d('99.50') });
    expect(placed.status).toBe('accepted');
    expect((await broker.openOrders('AAPL')).map((o) => o.clientOrderId)).toEqual(['l1']);
    // The resting buy holds its funds: 995 of 100000.
    expect((await broker.account()).buyingPower.toString()).toBe('99005');

    expect(await broker.updatePrice('AAPL', '99.51')).toEqual([]);
    const fills = await broker.updatePrice('AAPL', '99.50');
    expect(fills.map((f) => [f.clientOrderId, f.price.toString(), f.quantity.toString(), f.liquidity])).toEqual([['l1', '99.5', '10', 'maker']]);
    expect((await broker.getOrder({ clientOrderId: 'l1' }))?.status).toBe('filled');
    expect(await broker.openOrders()).toEqual([]);
    const account = await broker.account();
    expect(account.cash.toString()).toBe('99005');
    expect(account.buyingPower.toString()).toBe('99005');
  });

  it('a limit buy fills at the better price when the market gaps through it', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('l1', 'buy', '10'), type: 'limit', limitPrice: d('99.50') });
    const [fill] = await broker.updatePrice('AAPL', '97.20');
    expect(fill?.price.toString()).toBe('97.2');
    expect((await broker.account()).cash.toString()).toBe('99028');
  });

  it('a marketable limit fills at once at the last price', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    const order = await broker.placeOrder({ ...market('l1', 'buy', '1'), type: 'limit', limitPrice: d('101') });
    expect(order.status).toBe('filled');
    expect(order.averageFillPrice?.toString()).toBe('100');
  });

  it('a stop sell triggers on the way down; a gap through the stop fills at the gap price', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '10'));
    await broker.placeOrder({ ...market('sl', 'sell', '10'), type: 'stop', stopPrice: d('95') });
    expect(await broker.updatePrice('AAPL', '96')).toEqual([]);
    const [fill] = await broker.updatePrice('AAPL', '90');
    // 90 − 0.045 → 89.955, down to 89.95: the gap price, minus slippage
    expect(fill?.price.toString()).toBe('89.95');
    expect(fill?.liquidity).toBe('taker');
    expect((await broker.getOrder({ clientOrderId: 'sl' }))?.status).toBe('filled');
    expect(await broker.positions()).toEqual([]);
    // 100000 − 1000.50 + 899.50
    expect((await broker.account()).cash.toString()).toBe('99899');
  });

  it('a stop sell that touches its stop fills at the stop minus slippage', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '10'));
    await broker.placeOrder({ ...market('sl', 'sell', '10'), type: 'stop', stopPrice: d('95') });
    const [fill] = await broker.updatePrice('AAPL', '95');
    expect(fill?.price.toString()).toBe('94.95');
  });

  it('a stop_limit waits for its stop, then rests as a limit until the price allows it', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('sl', 'buy', '5'), type: 'stop_limit', stopPrice: d('105'), limitPrice: d('106') });
    expect(await broker.updatePrice('AAPL', '107')).toEqual([]);
    expect((await broker.getOrder({ clientOrderId: 'sl' }))?.status).toBe('accepted');
    const [fill] = await broker.updatePrice('AAPL', '105.80');
    expect(fill?.price.toString()).toBe('105.8');
    expect((await broker.getOrder({ clientOrderId: 'sl' }))?.averageFillPrice?.toString()).toBe('105.8');
  });

  it('a trailing stop follows the high water mark and fires when the price falls back by the trail', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '10'));
    const trail = await broker.placeOrder({ ...market('ts', 'sell', '10'), type: 'trailing_stop', trailAmount: d('3') });
    expect(trail.stopPrice?.toString()).toBe('97');
    for (const price of ['104', '110', '108']) expect(await broker.updatePrice('AAPL', price)).toEqual([]);
    expect((await broker.getOrder({ clientOrderId: 'ts' }))?.stopPrice?.toString()).toBe('107');
    const [fill] = await broker.updatePrice('AAPL', '106.50');
    expect(fill?.price.toString()).toBe('106.5');
    expect((await broker.account()).cash.toString()).toBe('100065');
  });

  it('a trailing stop by percent', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    await broker.updatePrice('AAPL', '200');
    await broker.placeOrder(market('en', 'buy', '1'));
    const trail = await broker.placeOrder({ ...market('ts', 'sell', '1'), type: 'trailing_stop', trailPercent: d('2.5') });
    expect(trail.stopPrice?.toString()).toBe('195');
    await broker.updatePrice('AAPL', '220');
    expect((await broker.getOrder({ clientOrderId: 'ts' }))?.stopPrice?.toString()).toBe('214.5');
    expect((await broker.updatePrice('AAPL', '214.5'))[0]?.price.toString()).toBe('214.5');
  });

  it('matches every symbol of a batch in one call', async () => {
    const broker = await paper();
    await broker.updatePrices({ AAPL: '100', MSFT: '400' });
    await broker.placeOrder({ ...market('a', 'buy', '1'), type: 'limit', limitPrice: d('99') });
    await broker.placeOrder({ ...market('m', 'buy', '1', 'MSFT'), type: 'limit', limitPrice: d('390') });
    const fills = await broker.updatePrices(new Map([['AAPL', d('98')], ['MSFT', d('395')]]));
    expect(fills.map((f) => f.clientOrderId)).toEqual(['a']);
    const quotes = await broker.quotes(['AAPL', 'MSFT', 'TSLA']);
    expect([...quotes.keys()]).toEqual(['AAPL', 'MSFT']);
    expect(quotes.get('MSFT')?.last.toString()).toBe('395');
  });
});

describe('time in force', () => {
  it('an ioc limit that cannot fill at once expires and holds nothing', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    const order = await broker.placeOrder({ ...market('i1', 'buy', '10'), type: 'limit', limitPrice: d('99'), timeInForce: 'ioc' });
    expect(order.status).toBe('expired');
    expect(order.reason).toMatch(/ioc/);
    expect(await broker.openOrders()).toEqual([]);
    expect((await broker.account()).buyingPower.toString()).toBe('100000');
    expect(await broker.updatePrice('AAPL', '98')).toEqual([]);
  });

  it('an ioc or fok limit that can fill does so at once', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    const ioc = await broker.placeOrder({ ...market('i1', 'buy', '10'), type: 'limit', limitPrice: d('100'), timeInForce: 'ioc' });
    const fok = await broker.placeOrder({ ...market('f1', 'buy', '10'), type: 'limit', limitPrice: d('100.5'), timeInForce: 'fok' });
    expect([ioc.status, fok.status]).toEqual(['filled', 'filled']);
  });

  it('a day order expires when its UTC day ends; a gtc order rests on', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('day', 'buy', '1'), type: 'limit', limitPrice: d('90'), timeInForce: 'day' });
    await broker.placeOrder({ ...market('gtc', 'buy', '1'), type: 'limit', limitPrice: d('90'), timeInForce: 'gtc' });
    now = new Date('2026-12-02T00:00:01.000Z');
    expect((await broker.openOrders()).map((o) => o.clientOrderId)).toEqual(['gtc']);
    expect((await broker.getOrder({ clientOrderId: 'day' }))?.status).toBe('expired');
  });
});

describe('client order ids', () => {
  it('refuses a client order id it has seen, whatever became of the first order', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('open', 'buy', '1'), type: 'limit', limitPrice: d('90') });
    await broker.placeOrder({ ...market('cancelled', 'buy', '1'), type: 'limit', limitPrice: d('90') });
    await broker.cancelOrder({ clientOrderId: 'cancelled' });
    await broker.placeOrder(market('filled', 'buy', '1'));
    for (const id of ['open', 'cancelled', 'filled']) {
      await expect(broker.placeOrder(market(id, 'buy', '1'))).rejects.toBeInstanceOf(DuplicateClientOrderIdError);
    }
    expect((await broker.fills()).length).toBe(1);
    expect((await broker.positions())[0]?.quantity.toString()).toBe('1');
  });

  it('finds orders by broker id or client id, and not under another symbol', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    const placed = await broker.placeOrder(market('c1', 'buy', '1'));
    expect((await broker.getOrder({ orderId: placed.id }))?.clientOrderId).toBe('c1');
    expect((await broker.getOrder({ clientOrderId: 'c1', symbol: 'AAPL' }))?.id).toBe(placed.id);
    expect(await broker.getOrder({ clientOrderId: 'c1', symbol: 'MSFT' })).toBeUndefined();
    expect(await broker.getOrder({ clientOrderId: 'nope' })).toBeUndefined();
  });
});

describe('funds', () => {
  it('refuses a buy it cannot pay for, with nothing written', async () => {
    const broker = await paper({ startingCash: d('1000'), feeRate: d('0.001') });
    await broker.updatePrice('AAPL', '100');
    // 10 × 100.05 + 1.00 = 1001.50 > 1000
    await expect(broker.placeOrder(market('big', 'buy', '10'))).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(await broker.getOrder({ clientOrderId: 'big' })).toBeUndefined();
    expect(await broker.openOrders()).toEqual([]);
    expect(await broker.fills()).toEqual([]);
    expect(await broker.positions()).toEqual([]);
    expect((await broker.account()).cash.toString()).toBe('1000');
    // The refused id was never recorded, so the same id may be placed once it fits.
    const fits = await broker.placeOrder(market('big', 'buy', '9'));
    expect(fits.status).toBe('filled');
  });

  it('counts resting orders against free cash', async () => {
    const broker = await paper({ startingCash: d('1000') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('rest', 'buy', '6'), type: 'limit', limitPrice: d('99') });
    await expect(broker.placeOrder({ ...market('more', 'buy', '5'), type: 'limit', limitPrice: d('99') })).rejects.toBeInstanceOf(InsufficientFundsError);
    await broker.cancelOrder({ clientOrderId: 'rest' });
    expect((await broker.placeOrder({ ...market('more', 'buy', '5'), type: 'limit', limitPrice: d('99') })).status).toBe('accepted');
  });

  it('a closing order never needs funds', async () => {
    const broker = await paper({ startingCash: d('1000'), slippagePercent: d('0') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '10'));
    expect((await broker.account()).cash.toString()).toBe('0');
    await broker.placeOrder({ ...market('sl', 'sell', '10'), type: 'stop', stopPrice: d('90') });
    await broker.placeOrder({ ...market('tp', 'sell', '10'), type: 'limit', limitPrice: d('120') });
    await broker.updatePrice('AAPL', '121');
    expect((await broker.account()).cash.toString()).toBe('1210');
  });
});

describe('shorts', () => {
  it('a short sale credits its proceeds, locks its notional as collateral, and closing realizes P&L', async () => {
    const broker = await paper({ slippagePercent: d('0'), feePerOrder: d('1') });
    await broker.updatePrice('TSLA', '200');
    await broker.placeOrder(market('sh', 'sell', '10', 'TSLA'));
    let account = await broker.account();
    expect(account.cash.toString()).toBe('101999');
    expect(account.equity.toString()).toBe('99999');
    // free = cash − liability at the mark (2000) − collateral (2000)
    expect(account.buyingPower.toString()).toBe('97999');
    const [short] = await broker.positions();
    expect(short).toMatchObject({ symbol: 'TSLA', side: 'short' });
    expect(short?.quantity.toString()).toBe('10');
    expect(short?.averagePrice.toString()).toBe('200');

    await broker.updatePrice('TSLA', '180');
    expect((await broker.positions())[0]?.unrealizedPnl?.toString()).toBe('200');
    expect((await broker.account()).equity.toString()).toBe('100199');

    const close = await broker.closePosition('TSLA', 'close-1');
    expect(close.side).toBe('buy');
    expect(close.status).toBe('filled');
    account = await broker.account();
    // +200 gross, −2 in fees
    expect(account.cash.toString()).toBe('100198');
    expect(account.equity.toString()).toBe('100198');
    expect(account.buyingPower.toString()).toBe('100198');
    expect(await broker.positions()).toEqual([]);
  });

  it('a losing short pays back more than it received', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    await broker.updatePrice('TSLA', '200');
    await broker.placeOrder(market('sh', 'sell', '5', 'TSLA'));
    await broker.updatePrice('TSLA', '230');
    await broker.placeOrder(market('cover', 'buy', '5', 'TSLA'));
    expect((await broker.account()).cash.toString()).toBe('99850');
  });

  it('a short needs free cash for its notional', async () => {
    const broker = await paper({ startingCash: d('1000'), slippagePercent: d('0') });
    await broker.updatePrice('TSLA', '200');
    await expect(broker.placeOrder(market('sh', 'sell', '6', 'TSLA'))).rejects.toBeInstanceOf(InsufficientFundsError);
    expect((await broker.placeOrder(market('sh', 'sell', '5', 'TSLA'))).status).toBe('filled');
  });

  it('closePosition on a flat symbol is refused', async () => {
    const broker = await paper();
    await expect(broker.closePosition('AAPL', 'x')).rejects.toThrow(/no open position in AAPL/);
  });
});

describe('cancel and modify', () => {
  it('cancels a resting order, ignores a second cancel, refuses a filled one and an unknown one', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('l1', 'buy', '1'), type: 'limit', limitPrice: d('95') });
    await broker.cancelOrder({ clientOrderId: 'l1' });
    expect((await broker.getOrder({ clientOrderId: 'l1' }))?.status).toBe('cancelled');
    await broker.cancelOrder({ clientOrderId: 'l1' });
    expect(await broker.updatePrice('AAPL', '90')).toEqual([]);

    await broker.placeOrder(market('m1', 'buy', '1'));
    await expect(broker.cancelOrder({ clientOrderId: 'm1' })).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.cancelOrder({ clientOrderId: 'm1' })).rejects.not.toBeInstanceOf(OrderNotFoundError);
    await expect(broker.cancelOrder({ orderId: 'missing' })).rejects.toBeInstanceOf(OrderNotFoundError);
  });

  it('modifies quantity and prices in place, keeping ids, and fills when the new price is reachable', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '10'));
    const stop = await broker.placeOrder({ ...market('sl', 'sell', '10'), type: 'stop', stopPrice: d('95') });
    const moved = await broker.modifyOrder({ clientOrderId: 'sl' }, { stopPrice: d('98'), quantity: d('6') });
    expect(moved.id).toBe(stop.id);
    expect(moved.status).toBe('accepted');
    expect(moved.stopPrice?.toString()).toBe('98');
    expect(moved.quantity.toString()).toBe('6');
    const [fill] = await broker.updatePrice('AAPL', '97.5');
    expect(fill?.quantity.toString()).toBe('6');
    expect(fill?.price.toString()).toBe('97.5');

    const limit = await broker.placeOrder({ ...market('tp', 'sell', '4'), type: 'limit', limitPrice: d('110') });
    const crossed = await broker.modifyOrder({ orderId: limit.id }, { limitPrice: d('97') });
    expect(crossed.status).toBe('filled');
    expect(crossed.averageFillPrice?.toString()).toBe('97.5');
  });

  it('refuses to modify what has ended or does not exist, and a price the order type does not have', async () => {
    const broker = await paper();
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('m1', 'buy', '1'));
    await expect(broker.modifyOrder({ clientOrderId: 'm1' }, { quantity: d('2') })).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.modifyOrder({ clientOrderId: 'zz' }, { quantity: d('2') })).rejects.toBeInstanceOf(OrderNotFoundError);
    await broker.placeOrder({ ...market('l1', 'buy', '1'), type: 'limit', limitPrice: d('90') });
    await expect(broker.modifyOrder({ clientOrderId: 'l1' }, { stopPrice: d('95') })).rejects.toThrow(/no stop price/);
  });

  it('an amendment that needs more cash than is free is refused and leaves the order as it was', async () => {
    const broker = await paper({ startingCash: d('1000') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder({ ...market('l1', 'buy', '5'), type: 'limit', limitPrice: d('99') });
    await expect(broker.modifyOrder({ clientOrderId: 'l1' }, { quantity: d('11') })).rejects.toBeInstanceOf(InsufficientFundsError);
    expect((await broker.getOrder({ clientOrderId: 'l1' }))?.quantity.toString()).toBe('5');
    expect((await broker.modifyOrder({ clientOrderId: 'l1' }, { quantity: d('10') })).quantity.toString()).toBe('10');
  });
});

describe('reduce-only', () => {
  it('a reduce-only order never opens the other side: when the position is gone it is cancelled', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '10'));
    await broker.placeOrder({ ...market('sl', 'sell', '10'), type: 'stop', stopPrice: d('90'), reduceOnly: true });
    await broker.closePosition('AAPL', 'exit-1');
    expect(await broker.updatePrice('AAPL', '85')).toEqual([]);
    const stop = await broker.getOrder({ clientOrderId: 'sl' });
    expect(stop?.status).toBe('cancelled');
    expect(stop?.reason).toMatch(/reduce-only/);
    expect(await broker.positions()).toEqual([]);
  });

  it('a reduce-only order larger than the position fills what there is and cancels the rest', async () => {
    const broker = await paper({ slippagePercent: d('0') });
    await broker.updatePrice('AAPL', '100');
    await broker.placeOrder(market('en', 'buy', '4'));
    const order = await broker.placeOrder({ ...market('ex', 'sell', '10'), reduceOnly: true });
    expect(order.status).toBe('cancelled');
    expect(order.filledQuantity.toString()).toBe('4');
    expect(await broker.positions()).toEqual([]);
  });
});

describe('the ledger', () => {
  it('survives reopening: cash, orders, fills, positions and last prices', async () => {
    const path = join(dir, 'nested', 'ledger.db');
    const first = await paper({ ledgerPath: path, feeRate: d('0.001') });
    await first.updatePrice('AAPL', '100');
    await first.placeOrder(market('en', 'buy', '10'));
    await first.placeOrder({ ...market('tp', 'sell', '10'), type: 'limit', limitPrice: d('120') });
    await first.updatePrice('BTCUSD', '65000');
    await first.disconnect();

    // A new starting cash in the config does not reset an existing account.
    const second = await paper({ ledgerPath: path, feeRate: d('0.001'), startingCash: d('5') });
    expect((await second.account()).cash.toString()).toBe('98998.5');
    expect((await second.openOrders()).map((o) => o.clientOrderId)).toEqual(['tp']);
    expect((await second.getOrder({ clientOrderId: 'en' }))?.averageFillPrice?.toString()).toBe('100.05');
    expect((await second.fills()).map((f) => [f.clientOrderId, f.price.toString(), f.fee.toString()])).toEqual([['en', '100.05', '1']]);
    expect((await second.positions())[0]?.averagePrice.toString()).toBe('100.05');
    expect((await second.quotes(['AAPL', 'BTCUSD'])).get('BTCUSD')?.last.toString()).toBe('65000');
    await expect(second.placeOrder(market('en', 'buy', '1'))).rejects.toBeInstanceOf(DuplicateClientOrderIdError);
    const [fill] = await second.updatePrice('AAPL', '120');
    expect(fill?.clientOrderId).toBe('tp');
    await second.disconnect();

    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(LEDGER_VERSION);
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      const cash = raw.prepare('SELECT cash FROM account').get() as { cash: string };
      // 98998.50 + 1200 − 1.20
      expect(cash.cash).toBe('100197.3');
    } finally {
      raw.close();
    }
  });

  it('refuses a ledger written by a newer version of the code', async () => {
    const path = join(dir, 'future.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${LEDGER_VERSION + 1}`);
    raw.close();
    const broker = new PaperBroker({ name: 'p', ledgerPath: path, startingCash: '100', clock: () => now });
    await expect(broker.connect()).rejects.toBeInstanceOf(LedgerError);
  });

  it('works in memory for quick tests', async () => {
    const broker = await paper({ ledgerPath: ':memory:' });
    await broker.updatePrice('AAPL', '10');
    expect((await broker.placeOrder(market('m', 'buy', '1'))).status).toBe('filled');
  });

  it('refuses to be used before connect, and reports its health', async () => {
    const broker = new PaperBroker({ name: 'p', ledgerPath: ':memory:', startingCash: '100', clock: () => now });
    expect((await broker.health()).ok).toBe(false);
    await expect(broker.account()).rejects.toThrow(/not connected/);
    await broker.connect();
    expect((await broker.health()).ok).toBe(true);
    await broker.disconnect();
  });
});

describe('capabilities', () => {
  it('protects after the fill and has no native bracket', async () => {
    const broker = await paper();
    expect(broker.capabilities.protectionFor(paperInstrument('AAPL'))).toBe('after_fill');
    expect(broker.capabilities).toMatchObject({ amend: true, shorting: true, fractional: true, clientIdMaxLength: 48, clientIdAlphabet: 'A-Za-z0-9_-', marginPreview: false });
    await expect(broker.placeBracket({ entry: market('b', 'buy', '1') })).rejects.toBeInstanceOf(NotSupportedError);
    expect((await broker.instrument('AAPL')).stepSize.toString()).toBe('1');
    expect((await broker.instrument('ETHUSDC')).stepSize.toString()).toBe('0.00001');
    expect((await broker.balances())[0]).toMatchObject({ currency: 'USD' });
  });
});
