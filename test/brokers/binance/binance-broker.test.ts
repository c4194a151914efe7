// The Binance USD-M adapter against the stateful fake: signing, clock sync, algo orders, modes, errors, rate limits, margin.
import { describe, expect, it } from 'vitest';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import type { BinanceBrokerOptions } from '../../../src/brokers/binance/binance-broker.ts';
import { BASE_URLS } from '../../../src/brokers/binance/client.ts';
import { ClockSkewError } from '../../../src/brokers/binance/errors.ts';
import {
  AuthenticationError, BrokerError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidOrderError, InvalidSymbolError, OrderNotFoundError,
  OrderRejectedError, RateLimitError,
} from '../../../src/domain/errors.ts';
import { Decimal } from '../../../src/domain/money.ts';
import type { OrderRequest } from '../../../src/domain/order.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import type { BinanceFakeOptions } from '../../fakes/binance.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();
const d = (v: string): Decimal => new Decimal(v);

interface Harness {
  fake: BinanceFake;
  broker: BinanceUsdmBroker;
  lines: string[];
  /** Our local clock's lead over real time, in ms (the exchange keeps real time unless the fake is moved). */
  advance(ms: number): void;
}

async function harness(options: Partial<BinanceBrokerOptions> = {}, fakeOptions: BinanceFakeOptions = {}, connect = true): Promise<Harness> {
  const fake = new BinanceFake(fakeOptions);
  server.use(...fake.handlers);
  const lines: string[] = [];
  let lead = 0;
  const broker = new BinanceUsdmBroker({
    name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs: 5_000,
    clock: () => new Date(Date.now() + lead),
    logger: createLogger({ level: 'trace', destination: { write: (line: string) => { lines.push(line); } } }),
    ...options,
  });
  if (connect) await broker.connect();
  return { fake, broker, lines, advance: (ms) => { lead += ms; } };
}

const buy = (extra: Partial<OrderRequest> = {}): OrderRequest =>
  ({ clientOrderId: `tw-e-${Math.random().toString(36).slice(2, 10)}`, symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: d('0.5'), ...extra });

async function failure(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(error)}`);
  return error;
}

describe('authentication and signing', () => {
  it('every signed call carries the key header and a signature the fake recomputes; the secrets never reach a log line', async () => {
    const { fake, broker, lines } = await harness({ leverage: 5, marginType: 'isolated' });
    await broker.placeOrder(buy());
    const signed = fake.requests.filter((r) => r.params.signature !== undefined);
    expect(signed.map((r) => r.path)).toEqual(['/fapi/v1/positionSide/dual', '/fapi/v1/marginType', '/fapi/v1/leverage', '/fapi/v1/order']);
    expect(signed.every((r) => r.authenticated)).toBe(true);
    const log = lines.join('\n');
    expect(log).toContain('/fapi/v1/order');
    expect(log).not.toContain(FAKE_API_SECRET);
    expect(log).not.toContain(FAKE_API_KEY);
    for (const r of signed) expect(log).not.toContain(r.params.signature);
  });

  it('a wrong secret is refused by the signature check (-1022) as an AuthenticationError', async () => {
    const { fake } = await harness();
    const wrong = new BinanceUsdmBroker({
      name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: 'not-the-secret', logger: createLogger({ level: 'silent' }),
    });
    const error = await failure(wrong.connect());
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.code).toBe(-1022);
    expect(fake.calls('/fapi/v1/positionSide/dual').at(-1)?.authenticated).toBe(false);
  });

  it('a wrong key is refused (401, -2015) before its signature is looked at', async () => {
    await harness();
    const wrong = new BinanceUsdmBroker({
      name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: 'someone-else', apiSecret: FAKE_API_SECRET, logger: createLogger({ level: 'silent' }),
    });
    const error = await failure(wrong.account());
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.code).toBe(-2015);
  });

  it('each environment has its own host; the testnet, demo and live adapters talk only to theirs', async () => {
    for (const environment of ['testnet', 'demo', 'live'] as const) {
      const fake = new BinanceFake({ baseUrl: BASE_URLS[environment] });
      server.use(...fake.handlers);
      const broker = new BinanceUsdmBroker({ name: 'b', environment, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, logger: createLogger({ level: 'silent' }) });
      await broker.connect();
      expect(fake.requests.length).toBeGreaterThan(0);
      expect(fake.baseUrl).toBe({ testnet: 'https://testnet.binancefuture.com', demo: 'https://demo-fapi.binance.com', live: 'https://fapi.binance.com' }[environment]);
    }
  });
});

describe('server time', () => {
  it('a local clock 30 s behind still signs valid requests: connect syncs against /fapi/v1/time', async () => {
    const h = await harness({}, {}, false);
    h.advance(-30_000);
    await h.broker.connect();
    const order = await h.broker.placeOrder(buy());
    expect(order.status).toBe('filled');
    expect(h.fake.calls('/fapi/v1/time')).toHaveLength(1);
  });

  it('-1021 after a drift: the clock is synced again and the request is sent once more, placing one order', async () => {
    const h = await harness();
    h.fake.clockSkewMs = 20_000;
    const order = await h.broker.placeOrder(buy());
    expect(order.status).toBe('filled');
    const posts = h.fake.calls('/fapi/v1/order', 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[0]?.authenticated).toBe(false);
    expect(posts[1]?.authenticated).toBe(true);
    expect(h.fake.calls('/fapi/v1/time')).toHaveLength(2);
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0.5');
  });

  it('a -1021 that persists after the resync is raised (retryable), after exactly one retry', async () => {
    const h = await harness();
    h.fake.failNext({ path: '/fapi/v3/account', status: 400, code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.', times: 2 });
    const error = await failure(h.broker.account());
    expect(error).toBeInstanceOf(ClockSkewError);
    expect(error.retryable).toBe(true);
    expect(h.fake.calls('/fapi/v3/account')).toHaveLength(2);
  });
});

describe('conditional orders go to the algo endpoint', () => {
  it('the venue refuses STOP_MARKET on /fapi/v1/order (-4120), and the adapter never sends it there', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const stop = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    expect(stop.id).toMatch(/^algo-\d+$/);
    expect(stop.status).toBe('accepted');
    expect(stop.quantity.toFixed()).toBe('0.5');
    expect(h.fake.calls('/fapi/v1/order', 'POST').map((r) => r.params.type)).toEqual(['MARKET']);
    const algo = h.fake.calls('/fapi/v1/algoOrder', 'POST')[0]?.params;
    expect(algo).toMatchObject({ algoType: 'CONDITIONAL', type: 'STOP_MARKET', triggerPrice: '58000', closePosition: 'true', workingType: 'MARK_PRICE', clientAlgoId: stop.clientOrderId });
    // The fake itself enforces the December 2025 rule, so a regression in the routing could not pass.
    h.fake.failNext({ method: 'POST', path: '/fapi/v1/order', status: 400, code: -4120, msg: 'Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.' });
    const refused = await failure(h.broker.placeOrder(buy()));
    expect(refused).toBeInstanceOf(OrderRejectedError);
    expect(refused.message).toContain('algo order endpoint');
  });

  it('stop and target legs both rest, both show in open orders, and when the target fires the stop stays for tradewire to cancel', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const stop = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    const target = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'limit', limitPrice: d('63000'), reduceOnly: true, leg: 'target' });
    expect(target.limitPrice?.toFixed()).toBe('63000');
    const open = (await h.broker.openOrders('BTCUSDT')).map((o) => o.clientOrderId).sort();
    expect(open).toEqual([stop.clientOrderId, target.clientOrderId].sort());
    h.fake.setPrice('BTCUSDT', '63050');
    const fired = await h.broker.getOrder({ clientOrderId: target.clientOrderId });
    expect(fired?.status).toBe('filled');
    expect(fired?.averageFillPrice?.toFixed()).toBe('63050');
    expect(fired?.filledQuantity.toFixed()).toBe('0.5');
    // The trade belongs to the order the trigger created; tradewire finds it under the leg's own client id.
    const exitFills = (await h.broker.fills()).filter((f) => f.side === 'sell');
    expect(exitFills.map((f) => [f.clientOrderId, f.price.toFixed(), f.quantity.toFixed()])).toEqual([[target.clientOrderId, '63050', '0.5']]);
    expect((await h.broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('accepted');
    await h.broker.cancelOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' });
    expect((await h.broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('cancelled');
    expect(h.fake.calls('/fapi/v1/algoOrder', 'DELETE')[0]?.params.clientAlgoId).toBe(stop.clientOrderId);
    expect(await h.broker.openOrders()).toEqual([]);
  });

  it('an algo leg is found by clientAlgoId even by a fresh adapter that never placed it (after a restart)', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const stop = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    const fresh = new BinanceUsdmBroker({ name: 'b', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, logger: createLogger({ level: 'silent' }) });
    await fresh.connect();
    expect((await fresh.getOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }))?.id).toBe(stop.id);
    await fresh.cancelOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' });
    expect(h.fake.openAlgoOrders()).toHaveLength(0);
  });

  it('a trailing stop leg is a TRAILING_STOP_MARKET algo order by percentage, firing that far below the best price since placement', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const trail = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'trailing_stop', trailPercent: d('1'), reduceOnly: true, leg: 'stop' });
    expect(trail).toMatchObject({ type: 'trailing_stop', status: 'accepted' });
    expect(h.fake.calls('/fapi/v1/algoOrder', 'POST')[0]?.params).toMatchObject({ type: 'TRAILING_STOP_MARKET', callbackRate: '1', quantity: '0.5', reduceOnly: 'true' });
    h.fake.setPrice('BTCUSDT', '62000');
    h.fake.setPrice('BTCUSDT', '61400');
    expect((await h.broker.getOrder({ clientOrderId: trail.clientOrderId }))?.status).toBe('accepted');
    // 1 % under the 62,000 high is 61,380.
    h.fake.setPrice('BTCUSDT', '61380');
    const fired = await h.broker.getOrder({ clientOrderId: trail.clientOrderId });
    expect(fired?.status).toBe('filled');
    expect(fired?.averageFillPrice?.toFixed()).toBe('61380');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
    expect(await failure(h.broker.placeOrder({ ...buy(), side: 'sell', type: 'trailing_stop', trailAmount: d('500'), reduceOnly: true, leg: 'stop' })))
      .toHaveProperty('kind', 'not_supported');
  });

  it('moving a stop re-places it under the same client id at the new trigger, leaving one stop', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const stop = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    const moved = await h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') });
    expect(moved.clientOrderId).toBe(stop.clientOrderId);
    expect(moved.stopPrice?.toFixed()).toBe('59000');
    expect(moved.id).not.toBe(stop.id);
    expect(h.fake.openAlgoOrders().map((a) => a.triggerPrice.toFixed())).toEqual(['59000']);
    h.fake.setPrice('BTCUSDT', '58900');
    expect((await h.broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('filled');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });

  it('a stop move the venue refuses (-2021) puts the original stop back', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const stop = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    const error = await failure(h.broker.modifyOrder({ clientOrderId: stop.clientOrderId }, { stopPrice: d('60500') }));
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect(error.code).toBe(-2021);
    expect(h.fake.openAlgoOrders().map((a) => [a.clientAlgoId, a.triggerPrice.toFixed()])).toEqual([[stop.clientOrderId, '58000']]);
  });
});

describe('vendor errors', () => {
  it('-2021: a stop on the wrong side of the market would trigger immediately', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const error = await failure(h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('60100'), reduceOnly: true, leg: 'stop' }));
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect(error.code).toBe(-2021);
    expect(error.message).toContain('would trigger immediately');
  });

  it('-4130: a second closePosition stop in the same direction is refused', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    const error = await failure(h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('57000'), reduceOnly: true, leg: 'stop' }));
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect(error.code).toBe(-4130);
  });

  it('-2019: margin insufficient is InsufficientFunds, not retryable', async () => {
    const h = await harness({}, { wallet: '1000' });
    const error = await failure(h.broker.placeOrder(buy({ quantity: d('1') })));
    expect(error).toBeInstanceOf(InsufficientFundsError);
    expect(error.code).toBe(-2019);
    expect(error.retryable).toBe(false);
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });

  it('-1121: an unknown symbol is InvalidSymbol, from the order and from the instrument rules', async () => {
    const h = await harness();
    expect(await failure(h.broker.placeOrder(buy({ symbol: 'NOPEUSDT' })))).toBeInstanceOf(InvalidSymbolError);
    expect(await failure(h.broker.instrument('NOPEUSDT'))).toBeInstanceOf(InvalidSymbolError);
  });

  it('-2011 and -2013: cancelling an unknown order is OrderNotFound, looking one up is undefined; a second cancel is quiet', async () => {
    const h = await harness();
    expect(await failure(h.broker.cancelOrder({ orderId: '12345', symbol: 'BTCUSDT' }))).toBeInstanceOf(OrderNotFoundError);
    expect(await failure(h.broker.cancelOrder({ orderId: 'algo-999', symbol: 'BTCUSDT' }))).toBeInstanceOf(OrderNotFoundError);
    expect(await h.broker.getOrder({ orderId: '12345', symbol: 'BTCUSDT' })).toBeUndefined();
    expect(await h.broker.getOrder({ clientOrderId: 'tw-unknown', symbol: 'BTCUSDT' })).toBeUndefined();
    const resting = await h.broker.placeOrder(buy({ type: 'limit', limitPrice: d('59000'), timeInForce: 'gtc' }));
    await h.broker.cancelOrder({ orderId: resting.id });
    await h.broker.cancelOrder({ orderId: resting.id });
    expect(h.fake.calls('/fapi/v1/order', 'DELETE').filter((r) => r.params.orderId === resting.id)).toHaveLength(2);
    expect((await h.broker.getOrder({ orderId: resting.id }))?.status).toBe('cancelled');
  });

  it('-4116: a duplicate client id is recovered by a lookup with origClientOrderId, never a second order', async () => {
    const h = await harness();
    const request = buy({ type: 'limit', limitPrice: d('59000'), timeInForce: 'gtc' });
    const first = await h.broker.placeOrder(request);
    const again = await h.broker.placeOrder(request);
    expect(again.id).toBe(first.id);
    expect(h.fake.openOrderCount()).toBe(1);
    expect(h.fake.calls('/fapi/v1/order', 'GET').at(-1)?.params.origClientOrderId).toBe(request.clientOrderId);
  });

  it('-4116 on an algo order is recovered through clientAlgoId', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const stop = { ...buy(), side: 'sell' as const, type: 'stop' as const, stopPrice: d('58000'), reduceOnly: true, leg: 'stop' as const };
    const first = await h.broker.placeOrder(stop);
    h.fake.failNext({ method: 'POST', path: '/fapi/v1/algoOrder', status: 400, code: -4116, msg: 'ClientOrderId is duplicated.' });
    const again = await h.broker.placeOrder(stop);
    expect(again.id).toBe(first.id);
    expect(h.fake.calls('/fapi/v1/algoOrder', 'GET').at(-1)?.params.clientAlgoId).toBe(stop.clientOrderId);
  });

  it('the -4116 error itself stays a DuplicateClientOrderIdError when no order can be found', async () => {
    const h = await harness();
    h.fake.failNext({ method: 'POST', path: '/fapi/v1/order', status: 400, code: -4116, msg: 'ClientOrderId is duplicated.' });
    expect(await failure(h.broker.placeOrder(buy()))).toBeInstanceOf(DuplicateClientOrderIdError);
  });

  it('-4015 and a client id Binance would refuse: refused before sending, or mapped when the venue says so', async () => {
    const h = await harness();
    const before = h.fake.requests.length;
    expect(await failure(h.broker.placeOrder(buy({ clientOrderId: 'tw#bad' })))).toBeInstanceOf(InvalidOrderError);
    expect(h.fake.requests.length).toBe(before);
    h.fake.failNext({ method: 'POST', path: '/fapi/v1/order', status: 400, code: -4015, msg: 'Client order id is not valid.' });
    const error = await failure(h.broker.placeOrder(buy()));
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect(error.code).toBe(-4015);
  });
});

describe('lookups after a lost answer or a restart', () => {
  it('an entry whose answer was lost is found by its client id alone, by this run and by a fresh adapter', async () => {
    const h = await harness({ timeoutMs: 1_000 });
    h.fake.failNext({ method: 'POST', path: '/fapi/v1/order', status: 0, kind: 'lost' });
    const request = buy();
    expect((await failure(h.broker.placeOrder(request))).kind).toBe('timeout');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0.5');
    const found = await h.broker.getOrder({ clientOrderId: request.clientOrderId });
    expect(found?.status).toBe('filled');
    expect(found?.symbol).toBe('BTCUSDT');
    const fresh = new BinanceUsdmBroker({ name: 'b', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, logger: createLogger({ level: 'silent' }) });
    await fresh.connect();
    expect((await fresh.getOrder({ clientOrderId: request.clientOrderId }))?.id).toBe(found?.id);
    expect((await fresh.getOrder({ orderId: found?.id ?? '' }))?.clientOrderId).toBe(request.clientOrderId);
    expect(await fresh.getOrder({ clientOrderId: 'tw-never-placed' })).toBeUndefined();
  });

  it('a resting limit placed before a restart is found without its symbol (its symbol has open orders)', async () => {
    const h = await harness();
    const resting = await h.broker.placeOrder(buy({ symbol: 'ETHUSDT', type: 'limit', limitPrice: d('2900'), timeInForce: 'gtc', quantity: d('1') }));
    const fresh = new BinanceUsdmBroker({ name: 'b', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, logger: createLogger({ level: 'silent' }) });
    await fresh.connect();
    expect((await fresh.getOrder({ clientOrderId: resting.clientOrderId }))?.status).toBe('accepted');
  });
});

describe('rate limits', () => {
  it('429 is a RateLimitError with Retry-After; until it has passed the adapter sends nothing', async () => {
    const h = await harness();
    h.fake.failNext({ status: 429, code: -1003, msg: 'Too many requests.', headers: { 'retry-after': '5' } });
    const error = await failure(h.broker.account());
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfterMs).toBe(5_000);
    const sent = h.fake.requests.length;
    const held = await failure(h.broker.placeOrder(buy()));
    expect(held).toBeInstanceOf(RateLimitError);
    expect(h.fake.requests.length).toBe(sent);
    h.advance(5_001);
    expect((await h.broker.placeOrder(buy())).status).toBe('filled');
  });

  it('418: the IP ban stops every call, the health check included, until the ban ends', async () => {
    const h = await harness();
    h.fake.failNext({ status: 418, code: -1003, msg: 'Way too many requests; IP banned until 1767226200000.', headers: { 'retry-after': '120' } });
    const error = await failure(h.broker.positions());
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfterMs).toBe(120_000);
    const sent = h.fake.requests.length;
    for (const call of [() => h.broker.account(), () => h.broker.placeOrder(buy()), () => h.broker.quotes(['BTCUSDT']), () => h.broker.openOrders()]) {
      const held = await failure(call());
      expect(held).toBeInstanceOf(RateLimitError);
      expect((held as RateLimitError).retryAfterMs).toBeGreaterThan(110_000);
    }
    expect((await h.broker.health()).ok).toBe(false);
    expect(h.fake.requests.length).toBe(sent);
    h.advance(60_000);
    expect(await failure(h.broker.account())).toBeInstanceOf(RateLimitError);
    h.advance(60_001);
    expect((await h.broker.account()).currency).toBe('USDT');
    expect((await h.broker.health()).ok).toBe(true);
  });

  it('a minute\'s used weight near the 2,400 budget holds further calls until the next minute, before any 429', async () => {
    const h = await harness();
    h.fake.usedWeight = 2_300;
    await h.broker.account();
    const sent = h.fake.requests.length;
    const held = await failure(h.broker.positions());
    expect(held).toBeInstanceOf(RateLimitError);
    expect((held as RateLimitError).retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(h.fake.requests.length).toBe(sent);
    h.fake.usedWeight = 10;
    h.advance(60_000);
    expect(await h.broker.positions()).toEqual([]);
  });

  it('a 418 without Retry-After is taken as the shortest ban, two minutes', async () => {
    const h = await harness();
    h.fake.failNext({ status: 418, code: -1003, msg: 'banned' });
    expect(((await failure(h.broker.account())) as RateLimitError).retryAfterMs).toBe(120_000);
  });
});

describe('position modes, leverage and margin type', () => {
  it('leverage and margin type are set before the first entry on a symbol, once', async () => {
    const h = await harness({ leverage: 7, marginType: 'isolated' });
    await h.broker.placeOrder(buy());
    await h.broker.placeOrder(buy());
    expect(h.fake.leverageOf('BTCUSDT')).toBe(7);
    expect(h.fake.marginTypeOf('BTCUSDT')).toBe('isolated');
    expect(h.fake.calls('/fapi/v1/leverage')).toHaveLength(1);
    expect(h.fake.calls('/fapi/v1/marginType')).toHaveLength(1);
    expect(h.fake.calls('/fapi/v1/leverage')[0]?.params).toMatchObject({ symbol: 'BTCUSDT', leverage: '7' });
  });

  it('"no need to change" (-4046) is no failure: the margin type is already as configured', async () => {
    const h = await harness({ marginType: 'cross' });
    expect((await h.broker.placeOrder(buy())).status).toBe('filled');
    expect(h.fake.marginTypeOf('BTCUSDT')).toBe('cross');
  });

  it('a margin type pinned by an open position (-4048) is kept, with a warning, and the entry goes ahead', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const lines: string[] = [];
    const other = new BinanceUsdmBroker({
      name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, marginType: 'isolated',
      logger: createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(line); } } }),
    });
    await other.connect();
    expect((await other.placeOrder(buy())).status).toBe('filled');
    expect(h.fake.marginTypeOf('BTCUSDT')).toBe('cross');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('1');
    expect(lines.join('\n')).toContain('broker.margin_type_kept');
  });

  it('hedge mode: connect switches the account; entries, legs and closes carry positionSide and never reduceOnly', async () => {
    const h = await harness({ positionMode: 'hedge' });
    expect(h.fake.hedge).toBe(true);
    await h.broker.placeOrder(buy());
    await h.broker.placeOrder(buy({ symbol: 'ETHUSDT', side: 'sell', quantity: d('2') }));
    const stop = await h.broker.placeOrder({ ...buy(), side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
    expect(h.fake.algoOrder(stop.clientOrderId)?.positionSide).toBe('LONG');
    const positions = await h.broker.positions();
    expect(positions.map((p) => [p.symbol, p.side, p.quantity.toFixed()]).sort()).toEqual([['BTCUSDT', 'long', '0.5'], ['ETHUSDT', 'short', '2']]);
    const close = await h.broker.closePosition('ETHUSDT', 'tw-close-eth');
    expect(close.status).toBe('filled');
    expect(close.side).toBe('buy');
    const sent = h.fake.calls('/fapi/v1/order', 'POST').map((r) => r.params);
    expect(sent.map((p) => p.positionSide)).toEqual(['LONG', 'SHORT', 'SHORT']);
    expect(sent.every((p) => p.reduceOnly === undefined)).toBe(true);
    expect(h.fake.positionAmount('ETHUSDT', 'SHORT').toFixed()).toBe('0');
    h.fake.setPrice('BTCUSDT', '57900');
    expect((await h.broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('filled');
    expect(await h.broker.positions()).toEqual([]);
  });

  it('a hedge-mode account cannot be switched while it holds a position: connect fails and says what to do', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const hedged = new BinanceUsdmBroker({
      name: 'b', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, positionMode: 'hedge', logger: createLogger({ level: 'silent' }),
    });
    const error = await failure(hedged.connect());
    expect(error.code).toBe(-4068);
    expect(error.message).toContain('set positionMode to the mode the account is in');
    expect(h.fake.hedge).toBe(false);
  });

  it('one-way mode: a close is a reduce-only market order for the whole position', async () => {
    const h = await harness();
    await h.broker.placeOrder(buy());
    const close = await h.broker.closePosition('BTCUSDT', 'tw-close-btc');
    expect(close.quantity.toFixed()).toBe('0.5');
    expect(h.fake.calls('/fapi/v1/order', 'POST').at(-1)?.params).toMatchObject({ side: 'SELL', reduceOnly: 'true', positionSide: 'BOTH', type: 'MARKET' });
    expect(await failure(h.broker.closePosition('BTCUSDT', 'tw-close-again'))).toBeInstanceOf(OrderRejectedError);
  });
});

describe('instrument rules, account and fills', () => {
  it('loads exchangeInfo once at connect and serves the rules from the cache', async () => {
    const h = await harness();
    const btc = await h.broker.instrument('BTCUSDT');
    const eth = await h.broker.instrument('ETHUSDT');
    expect([btc.tickSize.toFixed(), btc.stepSize.toFixed(), btc.minNotional.toFixed()]).toEqual(['0.1', '0.001', '100']);
    expect(eth.tickSize.toFixed()).toBe('0.01');
    expect(h.fake.calls('/fapi/v1/exchangeInfo')).toHaveLength(1);
  });

  it('account and balances are exact decimals; buying power is the free margin times the configured leverage, and an entry takes its notional out of it', async () => {
    const h = await harness({ leverage: 20 }, { wallet: '10000.12345678' });
    const before = await h.broker.account();
    expect(before.equity.toFixed()).toBe('10000.12345678');
    expect(before.buyingPower.toFixed()).toBe('200002.4691356');
    await h.broker.placeOrder(buy());
    const after = await h.broker.account();
    // The entry took 1,500 of margin at 20x: 30,000 of notional.
    expect(before.buyingPower.minus(after.buyingPower).toFixed()).toBe('30000');
    expect((await h.broker.balances())[0]).toMatchObject({ currency: 'USDT' });
  });

  it('fills carry the commission as the fee in its asset, and the order\'s client id', async () => {
    const h = await harness({}, { feeRate: '0.0004' });
    const order = await h.broker.placeOrder(buy());
    const fills = await h.broker.fills();
    expect(fills).toHaveLength(1);
    expect(fills[0]).toMatchObject({ orderId: order.id, clientOrderId: order.clientOrderId, symbol: 'BTCUSDT', side: 'buy', feeCurrency: 'USDT' });
    expect(fills[0]?.fee.toFixed()).toBe('12');
    expect(fills[0]?.price.toFixed()).toBe('60000');
  });
});

describe('margin preview', () => {
  it('0.5 BTC at the 60,000 mark at 20x: 1,500 initial margin, and the free margin from the account', async () => {
    const h = await harness({ leverage: 20 }, { wallet: '5000' });
    await h.broker.placeOrder(buy({ symbol: 'ETHUSDT', quantity: d('1') }));
    const impact = await h.broker.marginImpact(buy());
    expect(impact.leverage.toFixed()).toBe('20');
    expect(impact.initialMargin.toFixed()).toBe('1500');
    // 5,000 wallet less the ETH position's 3,000 ÷ 20.
    expect(impact.availableMargin.toFixed()).toBe('4850');
    expect(h.broker.capabilities.marginPreview).toBe(true);
  });

  it('at 125x a 1 BTC limit at 59,000 (59,000 notional) falls in the 100x bracket: 590', async () => {
    const h = await harness({}, { leverage: 125 });
    const impact = await h.broker.marginImpact(buy({ type: 'limit', limitPrice: d('59000'), quantity: d('1') }));
    expect(impact.leverage.toFixed()).toBe('100');
    expect(impact.initialMargin.toFixed()).toBe('590');
  });

  it('before the first entry on a symbol, the configured leverage (set with that entry) is the one previewed', async () => {
    const h = await harness({ leverage: 5 }, { leverage: 20 });
    const impact = await h.broker.marginImpact(buy());
    expect(impact.leverage.toFixed()).toBe('5');
    expect(impact.initialMargin.toFixed()).toBe('6000');
    expect(h.fake.leverageOf('BTCUSDT')).toBe(20);
  });

  it('one-way: selling 0.8 against a 0.5 long opens 0.3: 900 at 20x', async () => {
    const h = await harness({ leverage: 20 });
    await h.broker.placeOrder(buy());
    const impact = await h.broker.marginImpact(buy({ side: 'sell', quantity: d('0.8') }));
    expect(impact.initialMargin.toFixed()).toBe('900');
  });
});
