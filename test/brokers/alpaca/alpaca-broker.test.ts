// Alpaca's specifics through its fake: native equity brackets, crypto simple orders, the clock, duplicate ids, errors, symbols, caches, environments.
import { beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { AlpacaBroker, ALPACA_URLS } from '../../../src/brokers/alpaca/alpaca-broker.ts';
import type { AlpacaBrokerOptions } from '../../../src/brokers/alpaca/alpaca-broker.ts';
import { createBroker } from '../../../src/brokers/registry.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import {
  AuthenticationError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidOrderError, InvalidSymbolError, MarketClosedError,
  NotSupportedError, OrderRejectedError, PermissionDeniedError, RateLimitError,
} from '../../../src/domain/errors.ts';
import { Decimal } from '../../../src/domain/money.ts';
import type { OrderRequest } from '../../../src/domain/order.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { AlpacaFake } from '../../fakes/alpaca.ts';
import type { RecordedCall } from '../../fakes/alpaca.ts';
import { tempDir } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const keys = { keyId: 'PKTEST00000000000042', secretKey: 'alpaca-secret-do-not-log-7c1d9e' };
let now = new Date('2026-11-23T15:00:00Z');
const clock = (): Date => now;
const paperFake = new AlpacaFake({ ...keys, now: clock });
const liveFake = new AlpacaFake({ ...keys, now: clock, baseUrl: ALPACA_URLS.live });
// Both hosts share the data API; the paper fake answers it.
useMswServer(...paperFake.handlers, liveFake.handlers[0] as (typeof liveFake.handlers)[number]);

const d = (text: string): Decimal => new Decimal(text);
const silent = createLogger({ level: 'silent' });

function alpaca(overrides: Partial<AlpacaBrokerOptions> = {}): AlpacaBroker {
  return new AlpacaBroker({ name: 'alpaca', environment: 'paper', ...keys, logger: silent, clock, timeoutMs: 500, ...overrides });
}

const posts = (calls: RecordedCall[]): RecordedCall[] => calls.filter((c) => c.method === 'POST' && c.path === '/v2/orders');
const named = (calls: RecordedCall[], method: string, path: string): RecordedCall[] => calls.filter((c) => c.method === method && c.path === path);

let seq = 0;
const order = (fields: Partial<OrderRequest> & Pick<OrderRequest, 'symbol'>): OrderRequest =>
  ({ clientOrderId: `tw-en-${++seq}`, side: 'buy', type: 'market', quantity: d('2'), ...fields });

beforeEach(() => {
  now = new Date('2026-11-23T15:00:00Z');
  paperFake.reset();
  liveFake.reset();
  paperFake.setPrice('AAPL', '100');
  paperFake.setPrice('BTC/USD', '60000');
});

describe('native brackets for equities', () => {
  it('sends one bracket order (order_class bracket, gtc by default) whose legs are held until the entry fills', async () => {
    const broker = alpaca();
    const placed = await broker.placeBracket({
      entry: order({ symbol: 'AAPL', type: 'limit', limitPrice: d('99') }),
      stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-st-1' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-ta-1' },
    });
    const sent = posts(paperFake.calls);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toEqual({
      symbol: 'AAPL', qty: '2', side: 'buy', type: 'limit', time_in_force: 'gtc', client_order_id: placed.entry.clientOrderId, limit_price: '99',
      order_class: 'bracket', take_profit: { limit_price: '104' }, stop_loss: { stop_price: '95' },
    });
    expect([placed.entry.status, placed.stopLoss?.status, placed.takeProfit?.status]).toEqual(['accepted', 'held', 'held']);
    expect(placed.stopLoss?.parentId).toBe(placed.entry.id);
    paperFake.setPrice('AAPL', '99');
    expect((await broker.getOrder({ clientOrderId: 'tw-st-1' }))?.status).toBe('accepted');
    expect((await broker.getOrder({ clientOrderId: 'tw-ta-1' }))?.status).toBe('accepted');
  });

  it('keeps day when asked, sends a stop-limit leg with its limit, and refuses ioc or extended hours before sending anything', async () => {
    const broker = alpaca();
    await broker.placeBracket({
      entry: order({ symbol: 'AAPL', timeInForce: 'day' }),
      stopLoss: { type: 'stop_limit', stopPrice: d('95'), limitPrice: d('94.5'), clientOrderId: 'tw-st-2' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-ta-2' },
    });
    expect(posts(paperFake.calls)[0]?.body).toMatchObject({ time_in_force: 'day', stop_loss: { stop_price: '95', limit_price: '94.5' } });
    const legs = { stopLoss: { type: 'stop' as const, stopPrice: d('95'), clientOrderId: 'x1' }, takeProfit: { type: 'limit' as const, limitPrice: d('104'), clientOrderId: 'x2' } };
    await expect(broker.placeBracket({ entry: order({ symbol: 'AAPL', timeInForce: 'ioc' }), ...legs })).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.placeBracket({ entry: order({ symbol: 'AAPL', type: 'limit', limitPrice: d('99'), timeInForce: 'day', extendedHours: true }), ...legs })).rejects.toBeInstanceOf(InvalidOrderError);
    await expect(broker.placeBracket({ entry: order({ symbol: 'AAPL' }), stopLoss: { type: 'trailing_stop', trailPercent: d('2'), clientOrderId: 'x3' } })).rejects.toBeInstanceOf(NotSupportedError);
    expect(posts(paperFake.calls)).toHaveLength(1);
  });

  it('moves a leg by PATCH (the bracket stays whole) and keeps finding it under tradewire\'s client id', async () => {
    const broker = alpaca();
    await broker.placeBracket({
      entry: order({ symbol: 'AAPL' }),
      stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-st-3' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-ta-3' },
    });
    const before = await broker.getOrder({ clientOrderId: 'tw-st-3' });
    const moved = await broker.modifyOrder({ clientOrderId: 'tw-st-3', symbol: 'AAPL' }, { stopPrice: d('97') });
    expect(named(paperFake.calls, 'PATCH', `/v2/orders/${before?.id}`)).toHaveLength(1);
    expect(moved.clientOrderId).toBe('tw-st-3');
    expect(moved.id).not.toBe(before?.id);
    expect((await broker.getOrder({ clientOrderId: 'tw-st-3' }))?.stopPrice?.toFixed()).toBe('97');
    expect((await broker.openOrders('AAPL')).map((o) => [o.clientOrderId, o.stopPrice?.toFixed() ?? o.limitPrice?.toFixed()]).sort())
      .toEqual([['tw-st-3', '97'], ['tw-ta-3', '104']]);
    // The moved stop still belongs to the bracket: when it fires, the venue cancels the target.
    paperFake.setPrice('AAPL', '96.5');
    expect((await broker.getOrder({ clientOrderId: 'tw-st-3' }))?.status).toBe('filled');
    expect((await broker.getOrder({ clientOrderId: 'tw-ta-3' }))?.status).toBe('cancelled');
  });

  it('a bracket placed before (a retry after a timeout) is found by its entry id, its legs named as tradewire named them', async () => {
    const broker = alpaca();
    const request = {
      entry: order({ symbol: 'AAPL', type: 'limit', limitPrice: d('99') }),
      stopLoss: { type: 'stop' as const, stopPrice: d('95'), clientOrderId: 'tw-st-4' },
      takeProfit: { type: 'limit' as const, limitPrice: d('104'), clientOrderId: 'tw-ta-4' },
    };
    const first = await broker.placeBracket(request);
    const again = await alpaca().placeBracket(request); // a fresh adapter: nothing remembered
    expect(again.entry.id).toBe(first.entry.id);
    expect(again.stopLoss?.id).toBe(first.stopLoss?.id);
    expect(again.takeProfit?.clientOrderId).toBe('tw-ta-4');
    expect(paperFake.allOrders()).toHaveLength(3);
    expect(named(paperFake.calls, 'GET', '/v2/orders:by_client_order_id')).toHaveLength(1);
  });

  it('cancelling the entry cancels the whole bracket at the venue', async () => {
    const broker = alpaca();
    const placed = await broker.placeBracket({
      entry: order({ symbol: 'AAPL', type: 'limit', limitPrice: d('99') }),
      stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-st-5' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-ta-5' },
    });
    await broker.cancelOrder({ clientOrderId: placed.entry.clientOrderId });
    for (const id of [placed.entry.clientOrderId, 'tw-st-5', 'tw-ta-5']) expect((await broker.getOrder({ clientOrderId: id }))?.status).toBe('cancelled');
    expect(await broker.openOrders()).toEqual([]);
  });
});

describe('crypto: simple orders, tradewire watches the stop and target', () => {
  it('is protected by tradewire watching the price (emulated), refuses a bracket without sending it, and takes its rules from the asset', async () => {
    const broker = alpaca();
    const btc = await broker.instrument('BTCUSD');
    expect(btc).toMatchObject({ symbol: 'BTCUSD', assetClass: 'crypto', quoteCurrency: 'USD', fractionable: true, shortable: false });
    expect([btc.tickSize.toFixed(), btc.stepSize.toFixed(), btc.minQuantity.toFixed()]).toEqual(['1', '0.000000001', '0.0001']);
    expect(broker.capabilities.protectionFor(btc)).toBe('emulated');
    expect(broker.capabilities.protectionFor(await broker.instrument('AAPL'))).toBe('native');
    await expect(broker.placeBracket({ entry: order({ symbol: 'BTCUSD', quantity: d('0.01') }), stopLoss: { type: 'stop_limit', stopPrice: d('59000'), limitPrice: d('58900'), clientOrderId: 's' } }))
      .rejects.toBeInstanceOf(NotSupportedError);
    expect(posts(paperFake.calls)).toHaveLength(0);
  });

  it('writes BTC/USD on orders and reads BTCUSD back from orders and positions', async () => {
    const broker = alpaca();
    const bought = await broker.placeOrder(order({ symbol: 'BTCUSD', quantity: d('0.015') }));
    expect(posts(paperFake.calls)[0]?.body).toMatchObject({ symbol: 'BTC/USD', qty: '0.015', time_in_force: 'gtc' });
    expect(bought.symbol).toBe('BTCUSD');
    expect((await broker.getOrder({ orderId: bought.id }))?.status).toBe('filled');
    const [position] = await broker.positions();
    expect(position).toMatchObject({ symbol: 'BTCUSD', side: 'long' });
    expect(position?.quantity.toFixed()).toBe('0.015');
    // The slash form in, the same symbol out.
    const limit = await broker.placeOrder(order({ symbol: 'BTC/USD', type: 'limit', limitPrice: d('55000'), quantity: d('0.01') }));
    expect((await broker.openOrders('BTCUSD')).map((o) => o.id)).toEqual([limit.id]);
    const closed = await broker.closePosition('BTCUSD', 'tw-ex-btc');
    expect(closed).toMatchObject({ side: 'sell', symbol: 'BTCUSD', clientOrderId: 'tw-ex-btc' });
    expect(await broker.positions()).toEqual([]);
  });

  it('lets one resting sell hold the coins, not two: why tradewire watches crypto stops and targets itself', async () => {
    const broker = alpaca();
    await broker.placeOrder(order({ symbol: 'BTCUSD', quantity: d('0.01') }));
    await broker.placeOrder(order({ symbol: 'BTCUSD', side: 'sell', type: 'stop_limit', stopPrice: d('58800'), limitPrice: d('58700'), quantity: d('0.01') }));
    const second = await broker.placeOrder(order({ symbol: 'BTCUSD', side: 'sell', type: 'limit', limitPrice: d('62400'), quantity: d('0.01') })).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(OrderRejectedError);
    expect((second as OrderRejectedError).vendorMessage).toMatch(/insufficient qty available/);
  });

  it('refuses order types and time in force crypto does not have, before sending', async () => {
    const broker = alpaca();
    await expect(broker.placeOrder(order({ symbol: 'BTCUSD', type: 'stop', stopPrice: d('61000'), quantity: d('0.01') }))).rejects.toBeInstanceOf(NotSupportedError);
    await expect(broker.placeOrder(order({ symbol: 'BTCUSD', quantity: d('0.01'), timeInForce: 'day' }))).rejects.toBeInstanceOf(NotSupportedError);
    expect(posts(paperFake.calls)).toHaveLength(0);
  });

  it('quotes crypto from the crypto snapshot endpoint and equities from the stock one, digits intact', async () => {
    paperFake.setPrice('AAPL', '187.123456789012345678');
    paperFake.setPrice('BTC/USD', '61234.5');
    const quotes = await alpaca().quotes(['AAPL', 'BTCUSD']);
    expect(quotes.get('AAPL')?.last.toFixed()).toBe('187.123456789012345678');
    expect(quotes.get('BTCUSD')?.last.toFixed()).toBe('61234.5');
    expect(quotes.get('BTCUSD')?.bid?.toFixed()).toBe('61234.5');
    expect(paperFake.calls.filter((c) => c.path.includes('snapshots')).map((c) => [c.path, c.query.symbols]))
      .toEqual([['/v2/stocks/snapshots', 'AAPL'], ['/v1beta3/crypto/us/snapshots', 'BTC/USD']]);
  });
});

describe('the market clock', () => {
  it('a market order for a stock while the market is closed is MarketClosed and never sent; limits still rest', async () => {
    paperFake.marketOpen = false;
    const broker = alpaca();
    const error = await broker.placeOrder(order({ symbol: 'AAPL' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MarketClosedError);
    expect((error as MarketClosedError).retryable).toBe(false);
    expect(posts(paperFake.calls)).toHaveLength(0);
    const limit = await broker.placeOrder(order({ symbol: 'AAPL', type: 'limit', limitPrice: d('98') }));
    expect(limit.status).toBe('accepted');
    // Crypto trades around the clock.
    expect((await broker.placeOrder(order({ symbol: 'BTCUSD', quantity: d('0.01') }))).status).toBe('filled');
  });

  it('asks the clock once per session, again when the session it named ends or the answer grows old', async () => {
    const broker = alpaca({ clockTtlMs: 600_000 });
    await broker.placeOrder(order({ symbol: 'AAPL' }));
    await broker.placeOrder(order({ symbol: 'AAPL', side: 'sell' }));
    expect(named(paperFake.calls, 'GET', '/v2/clock')).toHaveLength(1);
    now = new Date(now.getTime() + 601_000);
    paperFake.marketOpen = false;
    await expect(broker.placeOrder(order({ symbol: 'AAPL' }))).rejects.toBeInstanceOf(MarketClosedError);
    expect(named(paperFake.calls, 'GET', '/v2/clock')).toHaveLength(2);
  });
});

describe('duplicate client ids', () => {
  it('a 422 "client_order_id must be unique" for the same order is recovered through orders:by_client_order_id', async () => {
    const broker = alpaca();
    const request = order({ symbol: 'AAPL', type: 'limit', limitPrice: d('97') });
    const first = await broker.placeOrder(request);
    const again = await broker.placeOrder(request);
    expect(again.id).toBe(first.id);
    expect(posts(paperFake.calls)).toHaveLength(2);
    expect(named(paperFake.calls, 'GET', '/v2/orders:by_client_order_id').at(-1)?.query.client_order_id).toBe(request.clientOrderId);
    expect(paperFake.allOrders()).toHaveLength(1);
  });

  it('another order under a used client id stays a DuplicateClientOrderIdError', async () => {
    const broker = alpaca();
    const request = order({ symbol: 'AAPL', type: 'limit', limitPrice: d('97') });
    await broker.placeOrder(request);
    const error = await broker.placeOrder({ ...request, quantity: d('5') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateClientOrderIdError);
    expect((error as DuplicateClientOrderIdError).code).toBe(40010001);
  });
});

describe('reduce-only, which Alpaca does not have', () => {
  it('is refused before sending when there is nothing to reduce, and cut to the position when it asks for more', async () => {
    const broker = alpaca();
    await expect(broker.placeOrder(order({ symbol: 'AAPL', side: 'sell', reduceOnly: true }))).rejects.toBeInstanceOf(InvalidOrderError);
    expect(posts(paperFake.calls)).toHaveLength(0);
    await broker.placeOrder(order({ symbol: 'AAPL', quantity: d('3') }));
    await expect(broker.placeOrder(order({ symbol: 'AAPL', side: 'buy', reduceOnly: true }))).rejects.toBeInstanceOf(InvalidOrderError);
    const exit = await broker.placeOrder(order({ symbol: 'AAPL', side: 'sell', quantity: d('5'), reduceOnly: true }));
    expect(posts(paperFake.calls).at(-1)?.body).toMatchObject({ side: 'sell', qty: '3' });
    expect(exit.quantity.toFixed()).toBe('3');
    expect(await broker.positions()).toEqual([]);
  });
});

describe('errors on Alpaca\'s wire', () => {
  it('403 insufficient buying power is InsufficientFunds, with Alpaca\'s code and message kept', async () => {
    const error = await alpaca().placeOrder(order({ symbol: 'AAPL', quantity: d('5000') })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientFundsError);
    expect(error).toMatchObject({ code: 40310000, vendorMessage: 'insufficient buying power', broker: 'alpaca' });
    expect((error as InsufficientFundsError).requestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('403 insufficient qty (shares held by a bracket\'s legs) is a rejected order, not missing funds', async () => {
    const broker = alpaca();
    await broker.placeBracket({
      entry: order({ symbol: 'AAPL' }),
      stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-st-q' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-ta-q' },
    });
    const error = await broker.placeOrder(order({ symbol: 'AAPL', side: 'sell' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect((error as OrderRejectedError).vendorMessage).toMatch(/insufficient qty available/);
  });

  it('403 "cannot be sold short" is a rejected order with Alpaca\'s text, not a refused key', async () => {
    const error = await alpaca().placeOrder(order({ symbol: 'GME', side: 'sell' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect(error).not.toBeInstanceOf(AuthenticationError);
    expect((error as OrderRejectedError).vendorMessage).toMatch(/cannot be sold short/);
    expect((error as OrderRejectedError).message).toMatch(/cannot be sold short/);
  });

  it('403 wash trade is a rejected order; only Alpaca\'s own "forbidden" stays a permission error', async () => {
    paperFake.failNext('wash_trade');
    const wash = await alpaca().placeOrder(order({ symbol: 'AAPL' })).catch((e: unknown) => e);
    expect(wash).toBeInstanceOf(OrderRejectedError);
    expect((wash as OrderRejectedError).vendorMessage).toMatch(/potential wash trade/);
    paperFake.failNext('forbidden');
    const forbidden = await alpaca().placeOrder(order({ symbol: 'AAPL' })).catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(PermissionDeniedError);
    expect(forbidden).toBeInstanceOf(AuthenticationError);
  });

  it('an unknown or inactive asset is InvalidSymbol, from the asset lookup', async () => {
    const broker = alpaca();
    await expect(broker.instrument('ZZZZNOTREAL')).rejects.toBeInstanceOf(InvalidSymbolError);
    await expect(broker.instrument('OLDCO')).rejects.toBeInstanceOf(InvalidSymbolError);
    await expect(broker.placeOrder(order({ symbol: 'ZZZZNOTREAL' }))).rejects.toBeInstanceOf(InvalidSymbolError);
    expect(posts(paperFake.calls)).toHaveLength(0);
  });

  it('429 carries when to retry, from X-RateLimit-Reset against the injected clock', async () => {
    paperFake.failNext('rate_limited');
    const error = await alpaca().placeOrder(order({ symbol: 'AAPL', type: 'limit', limitPrice: d('97') })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfterMs).toBe(3_000);
  });

  it('checks both key headers exactly: a wrong secret is refused as AuthenticationError at connect', async () => {
    const wrong = alpaca({ secretKey: `${keys.secretKey}x` });
    await expect(wrong.connect()).rejects.toBeInstanceOf(AuthenticationError);
    expect((await wrong.health()).ok).toBe(false);
    await expect(alpaca({ keyId: 'PKTEST00000000000043' }).account()).rejects.toBeInstanceOf(AuthenticationError);
    await alpaca().connect();
  });

  it('never writes the key id or secret in a log line or an error', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (line: string) => { lines.push(line); } } });
    const broker = alpaca({ logger });
    await broker.connect();
    await broker.placeOrder(order({ symbol: 'AAPL' }));
    const errors = await Promise.all([
      broker.placeOrder(order({ symbol: 'AAPL', quantity: d('9999') })).catch((e: unknown) => e),
      alpaca({ logger, secretKey: 'nope' }).connect().catch((e: unknown) => e),
    ]);
    expect(lines.length).toBeGreaterThan(4);
    const text = [...lines, ...errors.map((e) => `${String(e)} ${JSON.stringify(e)}`), JSON.stringify(broker)].join('\n');
    expect(text).not.toContain(keys.secretKey);
    expect(text).not.toContain(keys.keyId);
  });
});

describe('instrument rules', () => {
  it('come from /v2/assets once, then from the cache until it ages out', async () => {
    const broker = alpaca({ assetTtlMs: 60_000 });
    const aapl = await broker.instrument('AAPL');
    expect(aapl).toMatchObject({ symbol: 'AAPL', assetClass: 'equity', shortable: true, quoteCurrency: 'USD' });
    expect([aapl.tickSize.toFixed(), aapl.stepSize.toFixed(), aapl.minQuantity.toFixed()]).toEqual(['0.01', '1', '1']);
    expect((await broker.instrument('GME')).shortable).toBe(false);
    await broker.instrument('AAPL');
    await broker.placeOrder(order({ symbol: 'AAPL' }));
    expect(named(paperFake.calls, 'GET', '/v2/assets/AAPL')).toHaveLength(1);
    now = new Date(now.getTime() + 61_000);
    await broker.instrument('AAPL');
    expect(named(paperFake.calls, 'GET', '/v2/assets/AAPL')).toHaveLength(2);
  });
});

describe('environments', () => {
  it('paper and live talk to their own trading hosts', async () => {
    liveFake.setPrice('AAPL', '100');
    await alpaca({ environment: 'live' }).placeOrder(order({ symbol: 'AAPL', type: 'limit', limitPrice: d('90') }));
    expect(posts(liveFake.calls)).toHaveLength(1);
    expect(posts(paperFake.calls)).toHaveLength(0);
    await alpaca({ environment: 'paper' }).placeOrder(order({ symbol: 'AAPL', type: 'limit', limitPrice: d('90') }));
    expect(posts(paperFake.calls)).toHaveLength(1);
    expect(posts(liveFake.calls)).toHaveLength(1);
  });

  it('the registry builds an Alpaca account from the config, keys from the environment', async () => {
    const dir = tempDir('alpaca-registry');
    try {
      const { config } = parseConfigText(`
database: { path: ${join(dir.path, 'trading.db')} }
webhook: { passphrase: "\${P}" }
accounts:
  alpaca: { broker: alpaca, environment: paper, keyId: "\${K}", secretKey: "\${S}" }
strategies:
  default: { account: alpaca }
`, 'test.yaml', { P: 'a-long-enough-secret', K: keys.keyId, S: keys.secretKey });
      const account = config.accounts.alpaca;
      if (!account) throw new Error('no account');
      const broker = await createBroker('alpaca', account, { logger: silent, now: clock });
      expect(broker.name).toBe('alpaca');
      await broker.connect();
      expect((await broker.account()).currency).toBe('USD');
      expect(named(paperFake.calls, 'GET', '/v2/account').length).toBeGreaterThanOrEqual(2);
    } finally {
      dir.cleanup();
    }
  });
});

describe('open orders', () => {
  it('reads every open order of an account with more than Alpaca\'s 500 a page, once each, even where a page ends inside a burst', async () => {
    const resting = paperFake.restOpenOrders('AAPL', 1_234, { spacingMs: 1_000, burst: { from: 497, count: 8 } });
    paperFake.calls = [];
    const open = await alpaca().openOrders('AAPL');
    const ids = open.map((o) => o.clientOrderId);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...resting].sort());
    const listed = named(paperFake.calls, 'GET', '/v2/orders');
    expect(listed.length).toBeGreaterThan(2);
    expect(listed.every((c) => Number(c.query.limit) <= 500)).toBe(true);
  });

  it('a short account is read in one call', async () => {
    paperFake.restOpenOrders('AAPL', 3);
    paperFake.calls = [];
    expect(await alpaca().openOrders()).toHaveLength(3);
    expect(named(paperFake.calls, 'GET', '/v2/orders')).toHaveLength(1);
  });
});

describe('replacements and fills', () => {
  it('reads every page of fills, a hundred at a time', async () => {
    const broker = alpaca();
    for (let i = 0; i < 105; i++) await broker.placeOrder(order({ symbol: 'BTCUSD', quantity: d('0.001'), side: i % 2 === 0 ? 'buy' : 'sell' }));
    const fills = await broker.fills();
    expect(fills).toHaveLength(105);
    expect(new Set(fills.map((f) => f.id)).size).toBe(105);
    expect(named(paperFake.calls, 'GET', '/v2/account/activities/FILL').map((c) => c.query.page_token === undefined)).toEqual([true, false]);
  });

  it('a replaced order is followed to its successor even by an adapter that did not replace it (after a restart)', async () => {
    const first = alpaca();
    const placed = await first.placeOrder(order({ symbol: 'AAPL', type: 'limit', limitPrice: d('95') }));
    await first.modifyOrder({ orderId: placed.id }, { limitPrice: d('96'), quantity: d('3') });
    const restarted = alpaca();
    const found = await restarted.getOrder({ clientOrderId: placed.clientOrderId });
    expect(found).toMatchObject({ clientOrderId: placed.clientOrderId, status: 'accepted' });
    expect([found?.limitPrice?.toFixed(), found?.quantity.toFixed()]).toEqual(['96', '3']);
    expect(found?.id).not.toBe(placed.id);
    await restarted.cancelOrder({ clientOrderId: placed.clientOrderId });
    expect(await restarted.openOrders()).toEqual([]);
  });

  it('a replacement under a new client id is known by that id', async () => {
    const broker = alpaca();
    const placed = await broker.placeOrder(order({ symbol: 'AAPL', type: 'limit', limitPrice: d('95') }));
    const next = await broker.modifyOrder({ clientOrderId: placed.clientOrderId }, { limitPrice: d('94'), clientOrderId: 'tw-st-r2' });
    expect(next.clientOrderId).toBe('tw-st-r2');
    expect(named(paperFake.calls, 'PATCH', `/v2/orders/${placed.id}`)[0]?.body).toEqual({ limit_price: '94', client_order_id: 'tw-st-r2' });
    expect((await broker.getOrder({ clientOrderId: 'tw-st-r2' }))?.limitPrice?.toFixed()).toBe('94');
  });

  it('lists fills with the client id of their order', async () => {
    const broker = alpaca();
    const bought = await broker.placeOrder(order({ symbol: 'AAPL', clientOrderId: 'tw-en-fill' }));
    paperFake.setPrice('AAPL', '101.25');
    await broker.closePosition('AAPL', 'tw-ex-fill');
    const fills = await broker.fills();
    expect(fills.map((f) => [f.clientOrderId, f.side, f.quantity.toFixed(), f.price.toFixed()])).toEqual([
      ['tw-en-fill', 'buy', '2', '100'], ['tw-ex-fill', 'sell', '2', '101.25'],
    ]);
    expect(fills[0]?.orderId).toBe(bought.id);
  });
});
