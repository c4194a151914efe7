// The Coinbase adapter's own behaviour beyond the contract: the JWT, refusals at HTTP 200, stops, products, bracket legs after a restart, paged fills.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CoinbaseBroker } from '../../../src/brokers/coinbase/coinbase-broker.ts';
import { rejectionError } from '../../../src/brokers/coinbase/errors.ts';
import { cdpJwt, parseCdpPrivateKey } from '../../../src/brokers/coinbase/jwt.ts';
import { toProductId } from '../../../src/brokers/coinbase/symbols.ts';
import {
  AuthenticationError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidOrderError, InvalidSymbolError, MarketClosedError, NotSupportedError,
  OrderRejectedError, TimeoutError,
} from '../../../src/domain/errors.ts';
import { Decimal } from '../../../src/domain/money.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { CoinbaseFake, FAKE_COINBASE_URL } from '../../fakes/coinbase.ts';
import { useMswServer } from '../../helpers/msw.ts';

const fake = new CoinbaseFake({ pageLimit: 2 });
useMswServer(...fake.handlers);
const logger = createLogger({ level: 'silent' });

function adapter(overrides: Partial<ConstructorParameters<typeof CoinbaseBroker>[0]> = {}): CoinbaseBroker {
  return new CoinbaseBroker({ name: 'cb', keyName: fake.keyName, privateKey: fake.privateKeyPem, baseUrl: FAKE_COINBASE_URL, timeoutMs: 1_000, logger, ...overrides });
}

async function connected(overrides: Partial<ConstructorParameters<typeof CoinbaseBroker>[0]> = {}): Promise<CoinbaseBroker> {
  const broker = adapter(overrides);
  await broker.connect();
  return broker;
}

const otherKeyPem = (): string => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'sec1' }).toString();
const d = (v: string): Decimal => new Decimal(v);

describe('the CDP JWT', () => {
  it('every request carries its own ES256 token: the key name as kid and sub, iss cdp, 120 s, a nonce, the uri without the query', async () => {
    fake.reset();
    const broker = await connected();
    await broker.health();
    await broker.health();
    const [first, second] = fake.calls('GET', '/accounts');
    expect(first?.query.get('limit')).toBe('1');
    expect(first?.header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: fake.keyName });
    expect(first?.claims).toMatchObject({ iss: 'cdp', sub: fake.keyName, uri: 'GET api.coinbase.com/api/v3/brokerage/accounts' });
    const claims = first?.claims as { nbf: number; exp: number };
    expect(claims.exp - claims.nbf).toBe(120);
    expect(first?.header?.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(second?.header?.nonce).not.toBe(first?.header?.nonce);
  });

  it('a token signed by another key, naming another key, or expired is refused with 401: AuthenticationError, nothing else tried', async () => {
    fake.reset();
    const past = () => new Date(Date.now() - 200_000);
    for (const overrides of [{ privateKey: otherKeyPem() }, { keyName: 'organizations/x/apiKeys/y' }, { clock: past }]) {
      fake.requests = [];
      await expect(adapter(overrides).connect()).rejects.toBeInstanceOf(AuthenticationError);
      expect(fake.requests.map((r) => [r.path, r.authenticated])).toEqual([['/portfolios', false]]);
    }
  });

  it('a token is good for the method and path it names only', async () => {
    fake.reset();
    const key = parseCdpPrivateKey(fake.privateKeyPem, 'cb');
    const now = Math.floor(Date.now() / 1000);
    const forAccounts = cdpJwt(fake.keyName, key, 'GET', new URL(`${FAKE_COINBASE_URL}/api/v3/brokerage/accounts`), now);
    const get = (path: string, token: string) => fetch(`${FAKE_COINBASE_URL}/api/v3/brokerage${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await get('/accounts?limit=5', forAccounts)).status).toBe(200);
    const elsewhere = await get('/portfolios', forAccounts);
    expect([elsewhere.status, await elsewhere.text()]).toEqual([401, 'Unauthorized']);
  });

  it('a private key that is not an ECDSA P-256 PEM is refused when the adapter is built, before any request, without repeating it', () => {
    fake.requests = [];
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => adapter({ privateKey: ed25519 })).toThrow(/must be an ECDSA P-256 \(ES256\) CDP key, not ed25519/);
    expect(() => adapter({ privateKey: 'not-a-key-secret-text' })).toThrow(AuthenticationError);
    try { adapter({ privateKey: 'not-a-key-secret-text' }); } catch (error) { expect(String(error)).not.toContain('not-a-key-secret-text'); }
    expect(fake.requests).toEqual([]);
  });
});

describe('orders', () => {
  it('refusals that arrive as HTTP 200 with success: false become typed errors, carrying the code and message', () => {
    const cases: Array<[Record<string, string>, string | undefined, unknown]> = [
      [{ error: 'INSUFFICIENT_FUND', message: 'Insufficient balance in source account', preview_failure_reason: 'PREVIEW_INSUFFICIENT_FUND' }, undefined, InsufficientFundsError],
      [{ error: 'UNKNOWN_FAILURE_REASON', preview_failure_reason: 'PREVIEW_INSUFFICIENT_FUND' }, undefined, InsufficientFundsError],
      [{ error: 'INVALID_PRODUCT_ID', message: 'Invalid product_id' }, undefined, InvalidSymbolError],
      [{ error: 'UNKNOWN_PRODUCT' }, undefined, InvalidSymbolError],
      [{ error: 'ORDER_ENTRY_DISABLED' }, undefined, MarketClosedError],
      [{ error: 'DUPLICATE_CLIENT_ORDER_ID' }, undefined, DuplicateClientOrderIdError],
      [{ error: 'UNSUPPORTED_ORDER_CONFIGURATION', message: 'source is not enabled for trading' }, undefined, OrderRejectedError],
      [{}, 'INVALID_LIMIT_PRICE_POST_ONLY', OrderRejectedError],
    ];
    for (const [response, failureReason, type] of cases) {
      const error = rejectionError(response, failureReason, 'buy limit tw-1');
      expect(error, JSON.stringify(response)).toBeInstanceOf(type);
      expect(error.retryable).toBe(false);
    }
    const error = rejectionError({ error: 'INSUFFICIENT_FUND', message: 'Insufficient balance in source account' }, 'UNKNOWN_FAILURE_REASON', 'buy limit tw-1');
    expect([error.code, error.vendorMessage, error.message]).toEqual(['INSUFFICIENT_FUND', 'Insufficient balance in source account',
      'coinbase: buy limit tw-1 refused: INSUFFICIENT_FUND (Insufficient balance in source account)']);
  });

  it('a stop goes out as a stop-limit whose limit is 5 % beyond the stop, away from the market, on the tick', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    const broker = await connected();
    await broker.placeOrder({ clientOrderId: 'tw-buy-1', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') });
    await broker.placeOrder({ clientOrderId: 'tw-st-1', symbol: 'SOLUSD', side: 'sell', type: 'stop', stopPrice: d('95.33'), quantity: d('2') });
    await broker.placeOrder({ clientOrderId: 'tw-st-2', symbol: 'SOLUSD', side: 'buy', type: 'stop', stopPrice: d('105.01'), quantity: d('1') });
    const configs = fake.calls('POST', '/orders').slice(1).map((r) => (r.body as { order_configuration: unknown }).order_configuration);
    expect(configs).toEqual([
      { stop_limit_stop_limit_gtc: { base_size: '2', stop_price: '95.33', limit_price: '90.56', stop_direction: 'STOP_DIRECTION_STOP_DOWN' } },
      { stop_limit_stop_limit_gtc: { base_size: '1', stop_price: '105.01', limit_price: '110.27', stop_direction: 'STOP_DIRECTION_STOP_UP' } },
    ]);
  });

  it('a trailing stop, a day limit, a bracket with one exit, and a product not quoted in USD are refused before anything is sent', async () => {
    fake.reset();
    const broker = await connected();
    const base = { symbol: 'SOLUSD', side: 'buy' as const, quantity: d('1') };
    await expect(broker.placeOrder({ ...base, clientOrderId: 'tw-a', type: 'trailing_stop', trailPercent: d('1') })).rejects.toBeInstanceOf(NotSupportedError);
    await expect(broker.placeOrder({ ...base, clientOrderId: 'tw-b', type: 'limit', limitPrice: d('99'), timeInForce: 'day' })).rejects.toBeInstanceOf(NotSupportedError);
    await expect(broker.placeBracket({ entry: { ...base, clientOrderId: 'tw-c', type: 'market' }, stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-d' } }))
      .rejects.toBeInstanceOf(NotSupportedError);
    // Positions are reported against USD: an ETH-BTC entry would be journalled under a symbol they never name.
    await expect(broker.placeOrder({ ...base, symbol: 'ETHBTC', clientOrderId: 'tw-e', type: 'market' })).rejects.toThrow(/ETH-BTC is quoted in BTC; this account trades USD-quoted products only/);
    expect(fake.calls('POST')).toEqual([]);
  });

  it('a reduce-only sell is cut to the coins available; with none it is refused before sending', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    const broker = await connected();
    await expect(broker.placeOrder({ clientOrderId: 'tw-r0', symbol: 'SOLUSD', side: 'sell', type: 'market', quantity: d('1'), reduceOnly: true }))
      .rejects.toBeInstanceOf(InvalidOrderError);
    expect(fake.calls('POST')).toEqual([]);
    await broker.placeOrder({ clientOrderId: 'tw-r1', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('1.5') });
    const sold = await broker.placeOrder({ clientOrderId: 'tw-r2', symbol: 'SOLUSD', side: 'sell', type: 'market', quantity: d('3'), reduceOnly: true });
    expect([sold.quantity.toFixed(), sold.status]).toEqual(['1.5', 'filled']);
    expect(fake.balance('SOL').toFixed()).toBe('0');
  });
});

describe('protection placed after a fill', () => {
  const legs = (broker: CoinbaseBroker) => ({
    stop: () => broker.placeOrder({ clientOrderId: 'tw-st-9', symbol: 'SOLUSD', side: 'sell', type: 'stop', stopPrice: d('95'), quantity: d('2'), reduceOnly: true, leg: 'stop' }),
    target: () => broker.placeOrder({ clientOrderId: 'tw-ta-9', symbol: 'SOLUSD', side: 'sell', type: 'limit', limitPrice: d('104'), quantity: d('2'), reduceOnly: true, leg: 'target' }),
  });

  it('a target placed after its stop folds both into one stand-alone bracket; the stop is still found under its first broker id', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    const broker = await connected();
    await broker.placeOrder({ clientOrderId: 'tw-en-9', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') });
    const stop = await legs(broker).stop();
    const target = await legs(broker).target();
    expect([target.clientOrderId, target.status, target.limitPrice?.toFixed()]).toEqual(['tw-ta-9', 'accepted', '104']);
    const open = fake.allOrders().filter((o) => o.status === 'OPEN');
    expect(open.map((o) => [o.kind, o.side, o.size.toFixed(), o.limit?.toFixed(), o.stop?.toFixed()])).toEqual([['bracket', 'SELL', '2', '104', '95']]);
    const found = await broker.getOrder({ orderId: stop.id });
    expect([found?.clientOrderId, found?.status, found?.stopPrice?.toFixed()]).toEqual(['tw-st-9', 'accepted', '95']);
    expect((await broker.openOrders('SOLUSD')).map((o) => o.clientOrderId).sort()).toEqual(['tw-st-9', 'tw-ta-9']);
  });

  it('when the bracket is refused the stop is placed again, so the coins are never left without one', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    const broker = await connected();
    await broker.placeOrder({ clientOrderId: 'tw-en-8', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') });
    const stop = await legs(broker).stop();
    fake.inject('order_rejected');
    await expect(legs(broker).target()).rejects.toBeInstanceOf(OrderRejectedError);
    const open = fake.allOrders().filter((o) => o.status === 'OPEN');
    expect(open.map((o) => [o.kind, o.client_order_id, o.size.toFixed(), o.stop?.toFixed()])).toEqual([['stop_limit', 'tw-st-9-r', '2', '95']]);
    const found = await broker.getOrder({ clientOrderId: 'tw-st-9' });
    expect([found?.status, found?.stopPrice?.toFixed()]).toEqual(['accepted', '95']);
    expect((await broker.getOrder({ orderId: stop.id }))?.status).toBe('accepted');
  });
});

describe('products', () => {
  it('instrument rules come from the product: price increment as tick, base increment as step, base_min_size and quote_min_size as minimums', async () => {
    fake.reset();
    const broker = await connected();
    for (const form of ['BTCUSD', 'BTC-USD', 'btc/usd']) {
      const instrument = await broker.instrument(form);
      expect(instrument).toMatchObject({ symbol: 'BTCUSD', assetClass: 'crypto', shortable: false, fractionable: true, quoteCurrency: 'USD' });
      expect([instrument.tickSize, instrument.stepSize, instrument.minQuantity, instrument.minNotional, instrument.maxQuantity].map((v) => v?.toFixed()))
        .toEqual(['0.01', '0.00000001', '0.00000001', '1', '100000']);
    }
    expect(fake.calls('GET', '/products/BTC-USD')).toHaveLength(1); // cached
    await expect(broker.instrument('DOGEUSD')).rejects.toBeInstanceOf(InvalidSymbolError);
  });

  it('symbols: the compact TradingView form is split at its quote currency', () => {
    expect(['BTCUSD', 'ETHUSDC', 'ETHBTC', 'SOL-USDT', 'eth/eur'].map(toProductId)).toEqual(['BTC-USD', 'ETH-USDC', 'ETH-BTC', 'SOL-USDT', 'ETH-EUR']);
    expect(() => toProductId('AAPL')).toThrow(InvalidSymbolError);
  });
});

describe('bracket legs and fills', () => {
  it('after a restart a leg is found by its broker id, and the bracket fill is booked to the leg that fired', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    const before = await connected();
    const placed = await before.placeBracket({
      entry: { clientOrderId: 'tw-en-1', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') },
      stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-sl-1' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-tp-1' },
    });
    expect([placed.entry.status, placed.stopLoss?.status, placed.takeProfit?.status]).toEqual(['filled', 'accepted', 'accepted']);
    fake.setPrice('SOL-USD', '94');

    const after = await connected(); // nothing remembered
    const stop = await after.getOrder({ orderId: placed.stopLoss?.id ?? '' });
    const target = await after.getOrder({ orderId: placed.takeProfit?.id ?? '' });
    expect([stop?.status, stop?.filledQuantity.toFixed(), stop?.averageFillPrice?.toFixed(), stop?.stopPrice?.toFixed()]).toEqual(['filled', '2', '94', '95']);
    expect([target?.status, target?.filledQuantity.toFixed(), target?.limitPrice?.toFixed()]).toEqual(['cancelled', '0', '104']);
    const fills = await after.fills();
    expect(fills.map((f) => [f.orderId, f.side, f.quantity.toFixed(), f.price.toFixed()])).toEqual([
      [placed.entry.id, 'buy', '2', '100'],
      [placed.stopLoss?.id, 'sell', '2', '94'],
    ]);
    // The adapter that placed it still knows tradewire's client ids.
    expect((await before.fills()).map((f) => f.clientOrderId)).toEqual(['tw-en-1', 'tw-sl-1']);
  });

  it('after a bracket placement times out, its legs are found by their client ids through the entry Coinbase did place', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    const broker = await connected({ timeoutMs: 200 });
    fake.placeThenTimeOut();
    await expect(broker.placeBracket({
      entry: { clientOrderId: 'tw-en-7', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') },
      stopLoss: { type: 'stop', stopPrice: d('95'), clientOrderId: 'tw-sl-7' },
      takeProfit: { type: 'limit', limitPrice: d('104'), clientOrderId: 'tw-tp-7' },
    })).rejects.toBeInstanceOf(TimeoutError);
    const stop = await broker.getOrder({ clientOrderId: 'tw-sl-7' });
    const target = await broker.getOrder({ clientOrderId: 'tw-tp-7', symbol: 'SOLUSD' });
    expect([stop?.status, stop?.stopPrice?.toFixed(), stop?.quantity.toFixed()]).toEqual(['accepted', '95', '2']);
    expect([target?.status, target?.limitPrice?.toFixed()]).toEqual(['accepted', '104']);
    expect((await broker.getOrder({ clientOrderId: 'tw-en-7' }))?.status).toBe('filled');
  });

  it('fills, accounts and order history are read across pages by cursor', async () => {
    fake.reset();
    fake.setPrice('SOL-USD', '100');
    fake.setPrice('LTC-USD', '100');
    fake.setPrice('ETH-USD', '3000');
    const broker = await connected();
    const ids = ['tw-p1', 'tw-p2', 'tw-p3', 'tw-p4', 'tw-p5'];
    for (const [i, symbol] of ['SOLUSD', 'LTCUSD', 'ETHUSD', 'SOLUSD', 'LTCUSD'].entries()) {
      await broker.placeOrder({ clientOrderId: ids[i] ?? '', symbol, side: 'buy', type: 'market', quantity: d('1') });
    }
    expect((await broker.fills()).map((f) => f.clientOrderId)).toEqual(ids);
    expect((await broker.balances()).map((b) => b.currency).sort()).toEqual(['ETH', 'LTC', 'SOL', 'USD']);
    // Found by client id through the order history (3 pages of 2), by an adapter that did not place it.
    expect((await (await connected()).getOrder({ clientOrderId: 'tw-p1' }))?.symbol).toBe('SOLUSD');
    expect(fake.calls('GET', '/orders/historical/batch').length).toBeGreaterThanOrEqual(3);
  });
});

describe('positions and the account', () => {
  it('coins held are long positions at their average entry price; equity is the portfolio total, buying power the cash available', async () => {
    fake.reset('1000');
    fake.setPrice('SOL-USD', '100');
    const broker = await connected();
    await broker.placeOrder({ clientOrderId: 'tw-q1', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') });
    fake.setPrice('SOL-USD', '110');
    await broker.placeOrder({ clientOrderId: 'tw-q2', symbol: 'SOLUSD', side: 'buy', type: 'market', quantity: d('2') });
    await broker.placeOrder({ clientOrderId: 'tw-q3', symbol: 'SOLUSD', side: 'buy', type: 'limit', limitPrice: d('100'), quantity: d('1') });
    const positions = await broker.positions();
    expect(positions.map((p) => [p.symbol, p.side, p.quantity.toFixed(), p.averagePrice.toFixed()])).toEqual([['SOLUSD', 'long', '4', '105']]);
    const account = await broker.account();
    // 1000 − 200 − 220 = 580 cash, 100 of it held by the resting limit; 4 SOL at 110.
    expect([account.currency, account.cash.toFixed(), account.buyingPower.toFixed(), account.equity.toFixed()]).toEqual(['USD', '580', '480', '1020']);
  });
});
