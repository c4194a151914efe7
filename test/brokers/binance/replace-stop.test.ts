// Moving a Binance stop (an algo order, re-placed since it cannot be amended): the position has a stop resting at every moment.
import { afterEach, describe, expect, it } from 'vitest';
import { delay, http, HttpResponse } from 'msw';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import type { BinanceBrokerOptions } from '../../../src/brokers/binance/binance-broker.ts';
import { BrokerError, OrderRejectedError, ProtectionLostError } from '../../../src/domain/errors.ts';
import { Decimal } from '../../../src/domain/money.ts';
import type { Order, OrderRequest } from '../../../src/domain/order.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import type { BinanceFakeOptions } from '../../fakes/binance.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();
const d = (v: string): Decimal => new Decimal(v);
afterEach(() => { server.events.removeAllListeners(); });

interface Harness {
  fake: BinanceFake;
  broker: BinanceUsdmBroker;
  lines: string[];
  /** Requests the broker spent waiting on its own clock (a rate-limit hold): the clock is moved instead of sleeping. */
  waited: number[];
}

async function harness(options: Partial<BinanceBrokerOptions> = {}, fakeOptions: BinanceFakeOptions = {}): Promise<Harness> {
  const fake = new BinanceFake(fakeOptions);
  server.use(...fake.handlers);
  const lines: string[] = [];
  const waited: number[] = [];
  let lead = 0;
  const broker = new BinanceUsdmBroker({
    name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs: 5_000,
    clock: () => new Date(Date.now() + lead),
    sleep: async (ms: number) => { waited.push(ms); lead += ms; },
    logger: createLogger({ level: 'trace', destination: { write: (line: string) => { lines.push(line); } } }),
    ...options,
  });
  await broker.connect();
  return { fake, broker, lines, waited };
}

const buy = (extra: Partial<OrderRequest> = {}): OrderRequest =>
  ({ clientOrderId: `tw-e-${Math.random().toString(36).slice(2, 10)}`, symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: d('0.5'), ...extra });

/** A 0.5 BTC long at 60,000 with its closePosition stop at 58,000, as the position manager leaves it. */
async function protectedLong(h: Harness): Promise<Order> {
  await h.broker.placeOrder(buy());
  return h.broker.placeOrder({ ...buy(), clientOrderId: 'tw-sl-long-1', side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' });
}

/** Sell stops resting at the fake for BTCUSDT. */
function restingStops(fake: BinanceFake): Array<{ clientAlgoId: string; trigger: string; closePosition: boolean; quantity: string }> {
  return fake.openAlgoOrders().filter((a) => a.symbol === 'BTCUSDT' && a.side === 'SELL' && a.orderType === 'STOP_MARKET')
    .map((a) => ({ clientAlgoId: a.clientAlgoId, trigger: a.triggerPrice.toFixed(), closePosition: a.closePosition, quantity: a.quantity.toFixed() }));
}

/**
 * Counts the sell stops resting at the fake before and after every request reaches it: the venue's state only
 * changes inside a request, so these are all the states the position passes through.
 */
function watchStops(fake: BinanceFake): number[] {
  const seen: number[] = [];
  const look = (): void => { seen.push(restingStops(fake).length); };
  server.events.on('request:start', look);
  server.events.on('response:mocked', look);
  return seen;
}

/** Answers the POSTs of the stop's own client id (the re-placement) with `answer` the first `times` times; the rest reach the fake. */
function failReplacement(clientAlgoId: string, times: number, answer: () => Promise<Response>): { count: () => number } {
  let failed = 0;
  server.use(http.post(`${FAKE_BASE_URL}/fapi/v1/algoOrder`, async ({ request }) => {
    if (new URL(request.url).searchParams.get('clientAlgoId') !== clientAlgoId || failed >= times) return undefined;
    failed += 1;
    return answer();
  }));
  return { count: () => failed };
}

const unavailable = async (): Promise<Response> =>
  HttpResponse.json({ code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }, { status: 503 });

async function failure(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(error)}`);
  return error;
}

describe('moving a stop never leaves the position without one', () => {
  it('a re-placement answered 503 once: the new stop rests under the same client id, and a stop rested at every moment', async () => {
    const h = await harness();
    const stop = await protectedLong(h);
    const seen = watchStops(h.fake);
    const failing = failReplacement(stop.clientOrderId, 1, unavailable);
    const moved = await h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') });
    expect(failing.count()).toBe(1);
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    expect(moved.clientOrderId).toBe(stop.clientOrderId);
    expect(moved.stopPrice?.toFixed()).toBe('59000');
    expect(restingStops(h.fake)).toEqual([{ clientAlgoId: stop.clientOrderId, trigger: '59000', closePosition: true, quantity: '0' }]);
    // The moved stop is the one that fires, and it closes the whole position.
    h.fake.setPrice('BTCUSDT', '58950');
    expect((await h.broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('filled');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });

  it('a re-placement that times out (nothing done at the venue): looked up, placed again, and a stop rested at every moment', async () => {
    const h = await harness({ timeoutMs: 300 });
    const stop = await protectedLong(h);
    const seen = watchStops(h.fake);
    failReplacement(stop.clientOrderId, 1, async () => { await delay('infinite'); return HttpResponse.json({}); });
    const moved = await h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') });
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    expect(moved.stopPrice?.toFixed()).toBe('59000');
    expect(restingStops(h.fake)).toEqual([{ clientAlgoId: stop.clientOrderId, trigger: '59000', closePosition: true, quantity: '0' }]);
  });

  it('a re-placement that hits the weight limit (429, Retry-After 30): the adapter waits the hold out, and a stop rested throughout', async () => {
    const h = await harness();
    const stop = await protectedLong(h);
    const seen = watchStops(h.fake);
    failReplacement(stop.clientOrderId, 1, async () =>
      HttpResponse.json({ code: -1003, msg: 'Too many requests; current limit of IP is 2400 requests per minute.' }, { status: 429, headers: { 'retry-after': '30' } }));
    const moved = await h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') });
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    expect(h.waited.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(30_000);
    expect(moved.stopPrice?.toFixed()).toBe('59000');
    expect(restingStops(h.fake)).toEqual([{ clientAlgoId: stop.clientOrderId, trigger: '59000', closePosition: true, quantity: '0' }]);
  });

  it('a re-placement the venue never takes: ProtectionLostError (not retryable) says so, and a reduce-only stop for the position still rests', async () => {
    const h = await harness();
    const stop = await protectedLong(h);
    const seen = watchStops(h.fake);
    failReplacement(stop.clientOrderId, 1_000, unavailable);
    const error = await failure(h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') }));
    expect(error).toBeInstanceOf(ProtectionLostError);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(stop.clientOrderId);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    const resting = restingStops(h.fake);
    expect(resting).toHaveLength(1);
    expect(resting[0]).toMatchObject({ trigger: '59000', closePosition: false, quantity: '0.5' });
    expect(error.message).toContain(resting[0]?.clientAlgoId);
    // It protects: at 59,000 the position is closed, and the reduce-only stop cannot open a short.
    h.fake.setPrice('BTCUSDT', '58950');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
    // Its fill is the leg's: looked up under the leg's client id, and in the fills under it too.
    const leg = await h.broker.getOrder({ clientOrderId: stop.clientOrderId });
    expect(leg).toMatchObject({ clientOrderId: stop.clientOrderId, status: 'filled' });
    expect(leg?.filledQuantity.toFixed()).toBe('0.5');
    expect((await h.broker.fills()).filter((f) => f.side === 'sell').map((f) => [f.clientOrderId, f.quantity.toFixed()])).toEqual([[stop.clientOrderId, '0.5']]);
  });

  it('the stand-in fires while the original is being cancelled: the move answers with the leg filled by it, and nothing is left resting', async () => {
    const h = await harness();
    const stop = await protectedLong(h);
    const original = h.fake.algoOrder(stop.clientOrderId);
    server.use(http.delete(`${FAKE_BASE_URL}/fapi/v1/algoOrder`, ({ request }) => {
      // The market drops through the new trigger (59,000) but not the old one (58,000) just as the cancel arrives.
      if (new URL(request.url).searchParams.get('algoId') === String(original?.algoId)) h.fake.setPrice('BTCUSDT', '58500');
      return undefined;
    }));
    const moved = await h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') });
    expect(moved).toMatchObject({ clientOrderId: stop.clientOrderId, status: 'filled' });
    expect(moved.filledQuantity.toFixed()).toBe('0.5');
    expect(h.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
    expect(h.fake.openAlgoOrders()).toEqual([]);
    expect((await h.broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('filled');
  });

  it('the bridge itself refused (a 503 before anything changed): the old stop rests untouched and the error is the transient one', async () => {
    const h = await harness();
    const stop = await protectedLong(h);
    h.fake.failNext({ method: 'POST', path: '/fapi/v1/algoOrder', status: 503, code: -1001, msg: 'Internal error.', times: 1_000 });
    const error = await failure(h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') }));
    expect(error.retryable).toBe(true);
    expect(restingStops(h.fake)).toEqual([{ clientAlgoId: stop.clientOrderId, trigger: '58000', closePosition: true, quantity: '0' }]);
  });

  it('a move the venue refuses (-2021, it would trigger at once) leaves the original stop as it was', async () => {
    const h = await harness();
    const stop = await protectedLong(h);
    const seen = watchStops(h.fake);
    const error = await failure(h.broker.modifyOrder({ clientOrderId: stop.clientOrderId }, { stopPrice: d('60500') }));
    expect(error).toBeInstanceOf(OrderRejectedError);
    expect(error.code).toBe(-2021);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    expect(restingStops(h.fake)).toEqual([{ clientAlgoId: stop.clientOrderId, trigger: '58000', closePosition: true, quantity: '0' }]);
  });

  it('hedge mode: the bridge closes the LONG side without reduceOnly, and the moved stop ends alone under its client id', async () => {
    const h = await harness({ positionMode: 'hedge' }, { hedge: true });
    const stop = await protectedLong(h);
    const seen = watchStops(h.fake);
    failReplacement(stop.clientOrderId, 1, unavailable);
    const moved = await h.broker.modifyOrder({ clientOrderId: stop.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('59000') });
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    expect(moved.stopPrice?.toFixed()).toBe('59000');
    expect(restingStops(h.fake)).toEqual([{ clientAlgoId: stop.clientOrderId, trigger: '59000', closePosition: true, quantity: '0' }]);
    expect(h.fake.calls('/fapi/v1/algoOrder', 'POST').every((r) => r.params.reduceOnly === undefined && r.params.positionSide === 'LONG')).toBe(true);
  });

  it('an entry stop (not reducing, so never two at once) is cancelled and placed again, retried past a 503: at no moment do two rest', async () => {
    const h = await harness();
    const entry = await h.broker.placeOrder({ ...buy(), clientOrderId: 'tw-entry-stop-1', type: 'stop', stopPrice: d('61000'), leg: 'entry' });
    const buyStops = (): number => h.fake.openAlgoOrders().filter((a) => a.side === 'BUY' && a.orderType === 'STOP_MARKET').length;
    const seen: number[] = [];
    server.events.on('request:start', () => { seen.push(buyStops()); });
    server.events.on('response:mocked', () => { seen.push(buyStops()); });
    failReplacement(entry.clientOrderId, 1, unavailable);
    const moved = await h.broker.modifyOrder({ clientOrderId: entry.clientOrderId, symbol: 'BTCUSDT' }, { stopPrice: d('61500') });
    expect(Math.max(...seen)).toBe(1);
    expect(moved.stopPrice?.toFixed()).toBe('61500');
    expect(h.fake.openAlgoOrders().map((a) => [a.clientAlgoId, a.triggerPrice.toFixed(), a.quantity.toFixed(), a.reduceOnly])).toEqual([[entry.clientOrderId, '61500', '0.5', false]]);
  });
});
