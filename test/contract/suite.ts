// The adapter contract: one describe block every broker adapter (paper included) must pass against its fake venue.
//
// How to adopt it for a new adapter (test/contract/<name>.contract.test.ts):
//
//   brokerContract('alpaca', async () => {
//     const venue = resetAlpacaFake(...);                 // a fresh, stateful fake per test
//     const broker = new AlpacaBroker({ ... });           // built against the fake, a short timeout
//     await broker.connect();
//     return { broker, venue, symbol: 'AAPL', otherSymbol: 'MSFT', close: () => broker.disconnect() };
//   });
//
// `setup` runs before every test (each test gets a fresh account: cash, no orders, no positions) and
// `close` after it. The venue is the test's hand on the fake (the "market"):
//   setPrice(symbol, price)  the venue's last price: market orders fill at it, and resting limits, stops
//                            and bracket legs trigger against it, as the real venue would (no slippage,
//                            no fees, so the suite can assert exact fills);
//   inject(kind)             makes the next order placement fail the way the venue signals that error
//                            kind on its wire; returns false when the venue has no such failure (the
//                            paper broker has no network), and that test is skipped. The `*_after_execution`
//                            kinds carry the order out first and then fail the answer (a 5xx, a dropped
//                            connection, Binance's "execution status unknown"), as real venues do.
// `advanceClock(ms)`, optional, moves the adapter's clock on (past a Retry-After it honours locally).
// Prices are set around `basePrice` (default '100'; the suite moves between 0.9× and 1.1× of it) and
// orders trade `quantity` (default '2'); `hugeQuantity` must exceed the account's buying power.
//
// The interface is stable: other adapters' tests depend on it. Add optional fields only.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestContext } from 'vitest';
import type { Broker } from '../../src/brokers/broker.ts';
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidSymbolError,
  MarketClosedError, mayHaveReachedVenue, NetworkError, NotSupportedError, OrderNotFoundError, OrderRejectedError, RateLimitError, TimeoutError,
} from '../../src/domain/errors.ts';
import type { Instrument } from '../../src/domain/instrument.ts';
import { Decimal, roundToTick } from '../../src/domain/money.ts';
import type { Order, OrderRequest, Side } from '../../src/domain/order.ts';

/** The error kinds a venue can be told to produce on the next order placement, each with the error it must become. */
export const INJECTABLE_ERRORS = {
  authentication: AuthenticationError,
  insufficient_funds: InsufficientFundsError,
  invalid_symbol: InvalidSymbolError,
  order_rejected: OrderRejectedError,
  market_closed: MarketClosedError,
  rate_limited: RateLimitError,
  unavailable: BrokerUnavailableError,
  network: NetworkError,
  timeout: TimeoutError,
  unavailable_after_execution: BrokerUnavailableError,
  network_after_execution: NetworkError,
  unknown_status_after_execution: TimeoutError,
} as const;
export type InjectableError = keyof typeof INJECTABLE_ERRORS;

/** The kinds after which the order may exist at the venue: the adapter must say the outcome is unknown. */
const OUTCOME_UNKNOWN: ReadonlySet<InjectableError> = new Set([
  'unavailable', 'network', 'timeout', 'unavailable_after_execution', 'network_after_execution', 'unknown_status_after_execution',
]);

export interface ContractVenue {
  /** The venue's last price for a symbol; resting orders trigger against it before this resolves. */
  setPrice(symbol: string, price: string): Promise<void> | void;
  /** The next order placement fails as the venue signals `kind`; false when this venue cannot fail that way. */
  inject(kind: InjectableError): boolean;
}

export interface ContractSetup {
  broker: Broker;
  venue: ContractVenue;
  /** A tradable symbol in whole units whose price the suite sets near basePrice. */
  symbol: string;
  /** A second tradable symbol (open orders filtered by symbol must leave it out). */
  otherSymbol: string;
  basePrice?: string | undefined;
  quantity?: string | undefined;
  hugeQuantity?: string | undefined;
  /** Moves the adapter's clock on, e.g. past a Retry-After it honours by holding calls locally. */
  advanceClock?(ms: number): void;
  close(): Promise<void>;
}

/** Registers the contract for one adapter. */
export function brokerContract(name: string, setup: () => Promise<ContractSetup>): void {
  describe(`${name} honours the broker contract`, () => {
    let s: ContractSetup;
    let broker: Broker;
    let instrument: Instrument;
    let base: Decimal;
    let qty: Decimal;
    let sequence = 0;

    beforeEach(async () => {
      s = await setup();
      broker = s.broker;
      base = new Decimal(s.basePrice ?? '100');
      qty = new Decimal(s.quantity ?? '2');
      await s.venue.setPrice(s.symbol, base.toFixed());
      await s.venue.setPrice(s.otherSymbol, base.toFixed());
      instrument = await broker.instrument(s.symbol);
    });
    afterEach(async () => { await s.close(); });

    /** A fresh client id that fits the broker's alphabet and length (letters and digits fit every venue). */
    const cid = (label: string): string => {
      sequence += 1;
      const id = `tw${label}${sequence}x${Math.random().toString(36).slice(2, 10)}`.replace(/[^A-Za-z0-9]/g, '');
      return id.slice(0, Math.min(broker.capabilities.clientIdMaxLength, 20));
    };
    /** basePrice × factor on the instrument's tick. */
    const at = (factor: string): Decimal => roundToTick(base.mul(factor), instrument.tickSize);
    const price = async (factor: string): Promise<void> => { await s.venue.setPrice(s.symbol, at(factor).toFixed()); };
    const request = (side: Side, type: OrderRequest['type'], extra: Partial<OrderRequest> = {}): OrderRequest =>
      ({ clientOrderId: cid(type.slice(0, 2)), symbol: s.symbol, side, type, quantity: qty, timeInForce: 'gtc', ...extra });
    const current = async (order: Order): Promise<Order> => {
      const found = await broker.getOrder({ orderId: order.id, symbol: order.symbol });
      if (!found) throw new Error(`order ${order.clientOrderId} vanished`);
      return found;
    };
    const holding = async (): Promise<Decimal> => {
      const position = (await broker.positions()).find((p) => p.symbol === s.symbol);
      return position === undefined ? new Decimal(0) : position.quantity.mul(position.side === 'long' ? 1 : -1);
    };
    const expectDecimal = (value: Decimal | undefined, expected: Decimal | string): void => {
      expect(value?.toFixed()).toBe(new Decimal(expected).toFixed());
    };

    describe('connection and account', () => {
      it('reports itself healthy once connected', async () => {
        const health = await broker.health();
        expect(health.ok).toBe(true);
      });

      it('reports equity, cash and buying power, and buying power falls when a position is bought', async () => {
        const before = await broker.account();
        expect(before.equity.gt(0)).toBe(true);
        expect(before.buyingPower.gt(0)).toBe(true);
        expect(before.currency).toMatch(/^[A-Z]{3,5}$/);
        await broker.placeOrder(request('buy', 'market'));
        const after = await broker.account();
        expect(after.buyingPower.lt(before.buyingPower)).toBe(true);
      });

      it('lists balances, one of them in the account currency with funds available', async () => {
        const account = await broker.account();
        const balances = await broker.balances();
        const own = balances.find((b) => b.currency === account.currency);
        expect(own?.total.gt(0)).toBe(true);
        expect(own?.available.gt(0)).toBe(true);
        expect(own?.available.lte(own.total.abs().plus(account.buyingPower))).toBe(true);
      });
    });

    describe('instruments and quotes', () => {
      it('knows the instrument rules: positive tick and step, a minimum quantity the suite trades above', async () => {
        expect(instrument.symbol).toBe(s.symbol);
        expect(instrument.tickSize.gt(0)).toBe(true);
        expect(instrument.stepSize.gt(0)).toBe(true);
        expect(instrument.minQuantity.lte(qty)).toBe(true);
        expect(qty.mod(instrument.stepSize).isZero()).toBe(true);
      });

      it('quotes the venue price, several symbols in one call', async () => {
        await price('1.015');
        const quotes = await broker.quotes([s.symbol, s.otherSymbol]);
        expectDecimal(quotes.get(s.symbol)?.last, at('1.015'));
        expectDecimal(quotes.get(s.otherSymbol)?.last, base);
        expect(quotes.get(s.symbol)?.time).toBeInstanceOf(Date);
      });
    });

    describe('orders', () => {
      it('a market buy fills at the venue price and opens a long position', async () => {
        const order = await broker.placeOrder(request('buy', 'market'));
        expect(order.clientOrderId).toBeTruthy();
        const filled = await current(order);
        expect(filled.status).toBe('filled');
        expectDecimal(filled.filledQuantity, qty);
        expectDecimal(filled.averageFillPrice, base);
        const position = (await broker.positions()).find((p) => p.symbol === s.symbol);
        expect(position?.side).toBe('long');
        expectDecimal(position?.quantity, qty);
        expectDecimal(position?.averagePrice, base);
      });

      it('a limit buy below the market rests, then fills when the price comes down to it', async () => {
        const order = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.99') }));
        expect(['accepted', 'submitted']).toContain(order.status);
        expectDecimal(order.limitPrice, at('0.99'));
        expectDecimal(order.filledQuantity, '0');
        await price('0.995');
        expect((await current(order)).status).not.toBe('filled');
        await price('0.99');
        const filled = await current(order);
        expect(filled.status).toBe('filled');
        expect(filled.averageFillPrice?.lte(at('0.99'))).toBe(true);
        expectDecimal(await holding(), qty);
      });

      it('a buy stop above the market rests until the price crosses it, then fills', async () => {
        const order = await broker.placeOrder(request('buy', 'stop', { stopPrice: at('1.05') }));
        expect(['accepted', 'submitted']).toContain(order.status);
        expectDecimal(order.stopPrice, at('1.05'));
        await price('1.04');
        expect((await current(order)).status).not.toBe('filled');
        await price('1.06');
        const filled = await current(order);
        expect(filled.status).toBe('filled');
        expect(filled.averageFillPrice?.gte(at('1.05'))).toBe(true);
      });

      it('a stop-limit triggers at its stop and fills no worse than its limit', async () => {
        const order = await broker.placeOrder(request('buy', 'stop_limit', { stopPrice: at('1.05'), limitPrice: at('1.06') }));
        expectDecimal(order.stopPrice, at('1.05'));
        expectDecimal(order.limitPrice, at('1.06'));
        await price('1.04');
        expect((await current(order)).status).not.toBe('filled');
        await price('1.055');
        const filled = await current(order);
        expect(filled.status).toBe('filled');
        expect(filled.averageFillPrice?.lte(at('1.06'))).toBe(true);
      });

      it('finds an order by its id and by its client id, and answers undefined for unknown ones', async () => {
        const placed = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.95') }));
        const byId = await broker.getOrder({ orderId: placed.id });
        const byClient = await broker.getOrder({ clientOrderId: placed.clientOrderId });
        expect(byId?.clientOrderId).toBe(placed.clientOrderId);
        expect(byClient?.id).toBe(placed.id);
        expect(byClient?.symbol).toBe(s.symbol);
        expect(byClient?.side).toBe('buy');
        expect(byClient?.type).toBe('limit');
        expectDecimal(byClient?.quantity, qty);
        expect(await broker.getOrder({ clientOrderId: cid('nope') })).toBeUndefined();
      });

      it('lists open orders, filtered by symbol, and drops them once they end', async () => {
        const mine = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.95') }));
        const other = await broker.placeOrder({ ...request('buy', 'limit', { limitPrice: at('0.95') }), symbol: s.otherSymbol });
        const all = (await broker.openOrders()).map((o) => o.clientOrderId);
        expect(all).toEqual(expect.arrayContaining([mine.clientOrderId, other.clientOrderId]));
        const filtered = (await broker.openOrders(s.symbol)).map((o) => o.clientOrderId);
        expect(filtered).toContain(mine.clientOrderId);
        expect(filtered).not.toContain(other.clientOrderId);
        await broker.cancelOrder({ clientOrderId: mine.clientOrderId, symbol: s.symbol });
        expect((await broker.openOrders(s.symbol)).map((o) => o.clientOrderId)).not.toContain(mine.clientOrderId);
      });

      it('cancels a resting order (by id or client id); a second cancel is harmless; an unknown order is not found', async () => {
        const a = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.95') }));
        const b = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.94') }));
        await broker.cancelOrder({ orderId: a.id, symbol: s.symbol });
        await broker.cancelOrder({ clientOrderId: b.clientOrderId, symbol: s.symbol });
        expect((await current(a)).status).toBe('cancelled');
        expect((await current(b)).status).toBe('cancelled');
        await broker.cancelOrder({ orderId: a.id, symbol: s.symbol });
        await price('0.9');
        expect((await current(a)).status).toBe('cancelled');
        expectDecimal(await holding(), '0');
        await expect(broker.cancelOrder({ clientOrderId: cid('gone'), symbol: s.symbol })).rejects.toBeInstanceOf(OrderNotFoundError);
      });

      it('modifies a resting limit: amended in place where the broker amends, cancel-and-replace otherwise', async () => {
        const placed = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.95') }));
        let live: Order;
        if (broker.capabilities.amend) {
          const changed = await broker.modifyOrder({ clientOrderId: placed.clientOrderId, symbol: s.symbol }, { limitPrice: at('0.97') });
          expectDecimal(changed.limitPrice, at('0.97'));
          // The order stays reachable under the client id tradewire knows it by.
          const found = await broker.getOrder({ clientOrderId: placed.clientOrderId, symbol: s.symbol });
          expectDecimal(found?.limitPrice, at('0.97'));
          expect(found?.status).not.toBe('replaced');
          live = changed;
        } else {
          await broker.cancelOrder({ clientOrderId: placed.clientOrderId, symbol: s.symbol });
          live = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.97') }));
        }
        const open = await broker.openOrders(s.symbol);
        expect(open.filter((o) => o.limitPrice?.eq(at('0.97')))).toHaveLength(1);
        expect(open.filter((o) => o.limitPrice?.eq(at('0.95')))).toHaveLength(0);
        await price('0.97');
        expect((await broker.getOrder({ orderId: live.id }))?.status).toBe('filled');
        expectDecimal(await holding(), qty);
      });

      it('a reused client id never places a second order: the broker returns the first or says duplicate', async () => {
        const first = request('buy', 'limit', { limitPrice: at('0.95') });
        const placed = await broker.placeOrder(first);
        const again = await broker.placeOrder(first).then((o) => o, (e: unknown) => e);
        if (again instanceof Error) expect(again).toBeInstanceOf(DuplicateClientOrderIdError);
        else expect((again as Order).id).toBe(placed.id);
        const open = (await broker.openOrders(s.symbol)).filter((o) => o.clientOrderId === first.clientOrderId);
        expect(open).toHaveLength(1);
        expect((await broker.getOrder({ clientOrderId: first.clientOrderId }))?.id).toBe(placed.id);
      });
    });

    describe('positions', () => {
      it('closes a position with one order under the given client id, leaving none', async () => {
        await broker.placeOrder(request('buy', 'market'));
        await price('1.02');
        const closeId = cid('cl');
        const close = await broker.closePosition(s.symbol, closeId);
        expect(close.side).toBe('sell');
        expectDecimal(close.quantity, qty);
        const settled = await current(close);
        expect(settled.status).toBe('filled');
        expectDecimal(settled.averageFillPrice, at('1.02'));
        expect((await broker.getOrder({ clientOrderId: closeId }))?.id).toBe(close.id);
        expect((await broker.positions()).find((p) => p.symbol === s.symbol)).toBeUndefined();
      });

      it('reports a short where the broker allows shorting', async (ctx: TestContext) => {
        if (!broker.capabilities.shorting || !instrument.shortable) return ctx.skip();
        await broker.placeOrder(request('sell', 'market'));
        const position = (await broker.positions()).find((p) => p.symbol === s.symbol);
        expect(position?.side).toBe('short');
        expectDecimal(position?.quantity, qty);
      });
    });

    describe('protection (a bracket, however this broker holds it)', () => {
      it('protects a long entry with a stop and a target that close it when the target is reached', async () => {
        const protection = broker.capabilities.protectionFor(instrument);
        const stop = { type: 'stop' as const, stopPrice: at('0.95'), clientOrderId: cid('sl') };
        const target = { type: 'limit' as const, limitPrice: at('1.04'), clientOrderId: cid('tp') };
        if (protection === 'native' || protection === 'attached') {
          const entry = request('buy', 'limit', { limitPrice: at('0.99') });
          const placed = await broker.placeBracket({ entry, stopLoss: stop, takeProfit: target });
          expect(placed.entry.clientOrderId).toBe(entry.clientOrderId);
          expect(placed.stopLoss?.clientOrderId).toBe(stop.clientOrderId);
          expect(placed.takeProfit?.clientOrderId).toBe(target.clientOrderId);
          expectDecimal(placed.stopLoss?.stopPrice, stop.stopPrice);
          expectDecimal(placed.takeProfit?.limitPrice, target.limitPrice);
          // Until the entry fills, the legs wait (held) and nothing is protected yet.
          expect((await broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('held');
          await price('0.99');
          expect((await broker.getOrder({ clientOrderId: entry.clientOrderId }))?.status).toBe('filled');
          expect((await broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('accepted');
          expect((await broker.getOrder({ clientOrderId: target.clientOrderId }))?.status).toBe('accepted');
          await price('1.04');
          expect((await broker.getOrder({ clientOrderId: target.clientOrderId }))?.status).toBe('filled');
          // The venue cancels the sibling itself.
          expect((await broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('cancelled');
        } else if (protection === 'after_fill') {
          await expect(broker.placeBracket({ entry: request('buy', 'market'), stopLoss: stop, takeProfit: target }))
            .rejects.toBeInstanceOf(NotSupportedError);
          expectDecimal(await holding(), '0');
          await broker.placeOrder(request('buy', 'market'));
          const reduce = { side: 'sell' as const, reduceOnly: true, quantity: qty, timeInForce: 'gtc' as const };
          const sl = await broker.placeOrder({ ...request('sell', 'stop', reduce), clientOrderId: stop.clientOrderId, stopPrice: stop.stopPrice, leg: 'stop' });
          const tp = await broker.placeOrder({ ...request('sell', 'limit', reduce), clientOrderId: target.clientOrderId, limitPrice: target.limitPrice, leg: 'target' });
          expect(sl.status).toBe('accepted');
          expect(tp.status).toBe('accepted');
          await price('1.04');
          expect((await current(tp)).status).toBe('filled');
          // One-cancels-other is tradewire's job here: the stop is still live until tradewire cancels it.
          const survivor = await current(sl);
          if (survivor.status !== 'cancelled') await broker.cancelOrder({ orderId: sl.id, symbol: s.symbol });
          expect((await current(sl)).status).toBe('cancelled');
        } else {
          // Emulated: no resting order; the position manager watches the price. The entry alone goes to the broker.
          await broker.placeOrder(request('buy', 'market'));
        }
        expectDecimal(await holding(), '0');
        expect(await broker.openOrders(s.symbol)).toEqual([]);
      });

      it('a stop leg that fires closes the position at the stop', async () => {
        const protection = broker.capabilities.protectionFor(instrument);
        const stop = { type: 'stop' as const, stopPrice: at('0.95'), clientOrderId: cid('sl') };
        const target = { type: 'limit' as const, limitPrice: at('1.04'), clientOrderId: cid('tp') };
        if (protection === 'native' || protection === 'attached') {
          await broker.placeBracket({ entry: request('buy', 'market'), stopLoss: stop, takeProfit: target });
        } else if (protection === 'after_fill') {
          await broker.placeOrder(request('buy', 'market'));
          await broker.placeOrder({ ...request('sell', 'stop'), clientOrderId: stop.clientOrderId, stopPrice: stop.stopPrice, reduceOnly: true, leg: 'stop' });
        } else {
          return;
        }
        expectDecimal(await holding(), qty);
        await price('0.94');
        const fired = await broker.getOrder({ clientOrderId: stop.clientOrderId });
        expect(fired?.status).toBe('filled');
        expect(fired?.averageFillPrice?.lte(stop.stopPrice)).toBe(true);
        expectDecimal(await holding(), '0');
      });
    });

    describe('errors', () => {
      it('an order beyond the buying power is InsufficientFunds, and nothing rests', async () => {
        const huge = new Decimal(s.hugeQuantity ?? qty.mul(1_000_000).toFixed());
        const error = await broker.placeOrder(request('buy', 'limit', { limitPrice: at('0.99'), quantity: huge })).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(InsufficientFundsError);
        expect((error as BrokerError).retryable).toBe(false);
        expect(await broker.openOrders(s.symbol)).toEqual([]);
      });

      it('modifying or cancelling an unknown order is OrderNotFound', async () => {
        await expect(broker.cancelOrder({ orderId: 'no-such-order-0000', symbol: s.symbol })).rejects.toBeInstanceOf(OrderNotFoundError);
        await expect(broker.modifyOrder({ clientOrderId: cid('none'), symbol: s.symbol }, { limitPrice: at('0.9') })).rejects.toBeInstanceOf(OrderNotFoundError);
      });

      for (const [kind, type] of Object.entries(INJECTABLE_ERRORS) as Array<[InjectableError, typeof BrokerError]>) {
        it(`the venue's ${kind} failure arrives as ${type.name}${new type('', { broker: '' }).retryable ? ' (retryable)' : ''}`, async (ctx: TestContext) => {
          if (!s.venue.inject(kind)) return ctx.skip();
          const order = kind === 'market_closed' ? request('buy', 'market', { timeInForce: 'day' }) : request('buy', 'limit', { limitPrice: at('0.99') });
          const error = await broker.placeOrder(order).then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(type);
          expect((error as BrokerError).broker).toBeTruthy();
          expect(mayHaveReachedVenue(error)).toBe(OUTCOME_UNKNOWN.has(kind));
          if (error instanceof RateLimitError) {
            // A venue that is rate limiting says when to come back; the adapter may hold calls until then.
            expect(error.retryAfterMs).toBeGreaterThan(0);
            s.advanceClock?.((error.retryAfterMs ?? 0) + 1);
          }
          const open = (await broker.openOrders(s.symbol)).map((o) => o.clientOrderId);
          if (kind.endsWith('_after_execution')) {
            // Carried out before the answer failed: the order rests at the venue and is found by its client id.
            expect(open).toContain(order.clientOrderId);
            expect((await broker.getOrder({ clientOrderId: order.clientOrderId, symbol: s.symbol }))?.status).toBe('accepted');
          } else if (kind !== 'timeout') {
            expect(open).not.toContain(order.clientOrderId);
          }
        });
      }
    });
  });
}
