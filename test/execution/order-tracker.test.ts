// The order tracker asks the broker by the broker's own id once it has one: some brokers name a bracket's legs
// themselves, and after a restart our client id for such a leg means nothing to them.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlpacaBroker } from '../../src/brokers/alpaca/alpaca-broker.ts';
import { BinanceUsdmBroker } from '../../src/brokers/binance/binance-broker.ts';
import type { Fill, OrderRef } from '../../src/domain/order.ts';
import { Decimal } from '../../src/domain/money.ts';
import { OrderFailedError, OrderTracker } from '../../src/execution/order-tracker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { openDatabase } from '../../src/store/db.ts';
import { OrdersRepo, type OrderIntent } from '../../src/store/orders-repo.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { tempDir } from '../helpers/env.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';
import { useMswServer } from '../helpers/msw.ts';

const VENUE_NAME = 'venue-named-leg-1';

describe('order tracker lookups', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('refreshes a leg by its broker id when the broker does not know our client id, and books its fill under ours', async () => {
    const asked: OrderRef[] = [];
    let ours = '';
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        // The broker forgot (or never knew) our client id for this leg: only its own id finds it, under its own name.
        getOrder: async (ref: OrderRef) => {
          asked.push(ref);
          if ('clientOrderId' in ref && ref.clientOrderId === ours) return undefined;
          const order = await paper.getOrder(ref);
          return order && order.clientOrderId === ours ? { ...order, clientOrderId: VENUE_NAME } : order;
        },
        fills: async (since?: Date): Promise<Fill[]> => (await paper.fills(since)).map((f) => (f.clientOrderId === ours ? { ...f, clientOrderId: VENUE_NAME } : f)),
      }),
    });
    const { ctx, paper } = h;
    const broker = ctx.brokers.get('paper');
    await paper.updatePrice('AAPL', '100');
    await paper.placeOrder({ clientOrderId: 'tw-setup-entry', symbol: 'AAPL', side: 'buy', type: 'market', quantity: new Decimal(10) });

    ours = 'tw-sl-test-1';
    const placed = await ctx.tracker.place(broker, {
      clientOrderId: ours, account: 'paper', strategy: 'default', symbol: 'AAPL', side: 'sell', leg: 'stop', type: 'stop',
      quantity: new Decimal(10), stopPrice: new Decimal(95),
    });
    expect(placed.status).toBe('accepted');
    expect(placed.brokerOrderId).toBeDefined();

    await paper.updatePrice('AAPL', '94');
    const refreshed = await ctx.tracker.refresh(broker, ours);
    expect(asked.at(-1)).toEqual({ orderId: placed.brokerOrderId, symbol: 'AAPL' });
    expect(refreshed.clientOrderId).toBe(ours);
    expect(refreshed.status).toBe('filled');
    expect(refreshed.filledQuantity.toFixed()).toBe('10');
    const fills = ctx.orders.fillsForOrder(ours);
    expect(fills.map((f) => [f.quantity.toFixed(), f.price.toFixed()])).toEqual([['10', '94']]);
    expect(ctx.orders.findByClientOrderId(VENUE_NAME)).toBeUndefined();
  });
});

// ---- Ambiguous outcomes: the venue carried the order out, and its answer was lost (issue 12, defect 1) ----

interface TrackerRig {
  tracker: OrderTracker;
  orders: OrdersRepo;
  /** Every wait the retries asked for; a wait moves `lead`, the clock shared by the adapter and the fake venue. */
  waits: number[];
  lead: { ms: number };
  close(): void;
}

function trackerRig(attempts = 3): TrackerRig {
  const dir = tempDir('tw-tracker');
  const db = openDatabase(join(dir.path, 'trading.db'));
  const orders = new OrdersRepo(db, { now: () => new Date() });
  const waits: number[] = [];
  const lead = { ms: 0 };
  const logger = createLogger({ level: 'silent', destination: { write: () => undefined } });
  const tracker = new OrderTracker({
    orders, logger, retry: { attempts, baseDelayMs: 1, maxDelayMs: 2 },
    retryDeps: { sleep: async (ms) => { waits.push(ms); lead.ms += ms; }, random: () => 0.5 },
  });
  return { tracker, orders, waits, lead, close: () => { db.close(); dir.cleanup(); } };
}

let intentSeq = 0;
const entry = (symbol: string, quantity: string): OrderIntent => ({
  clientOrderId: `tw-amb-${Date.now().toString(36)}-${++intentSeq}`, account: 'live', strategy: 'default', symbol, side: 'buy', leg: 'entry', type: 'market',
  quantity: new Decimal(quantity),
});

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (e: unknown) => e);
}

const server = useMswServer();

describe('an entry whose answer was lost after the venue carried it out is placed once (Alpaca)', () => {
  const keys = { keyId: 'PKTRACKER00000000001', secretKey: 'tracker-secret-0123456789abcdef' };
  let rig: TrackerRig;
  let fake: AlpacaFake;
  let broker: AlpacaBroker;
  beforeEach(async () => {
    rig = trackerRig();
    fake = new AlpacaFake({ ...keys, now: () => new Date(Date.now() + rig.lead.ms) });
    server.use(...fake.handlers);
    broker = new AlpacaBroker({ name: 'alpaca', environment: 'paper', ...keys, timeoutMs: 500, logger: createLogger({ level: 'silent' }), clock: () => new Date(Date.now() + rig.lead.ms) });
    await broker.connect();
    fake.setPrice('AAPL', '100');
  });
  afterEach(async () => { await broker.disconnect(); rig.close(); });

  for (const kind of ['unavailable_after_execution', 'network_after_execution'] as const) {
    it(`${kind === 'network_after_execution' ? 'a dropped connection' : 'a 503'} after the fill: one order at Alpaca, and the journal shows it filled`, async () => {
      fake.failNext(kind);
      const intent = entry('AAPL', '10');
      const journal = await rig.tracker.place(broker, intent);
      expect(fake.allOrders().map((o) => o.client_order_id)).toEqual([intent.clientOrderId]);
      expect(fake.calls.filter((c) => c.method === 'POST' && c.path === '/v2/orders')).toHaveLength(1);
      expect(journal.status).toBe('filled');
      expect(journal.filledQuantity.toFixed()).toBe('10');
      expect(rig.orders.fillsForOrder(intent.clientOrderId).map((f) => f.quantity.toFixed())).toEqual(['10']);
    });
  }

  it('a 503 that did not take the order: looked up, then placed again, once', async () => {
    fake.failNext('unavailable');
    const intent = entry('AAPL', '10');
    const journal = await rig.tracker.place(broker, intent);
    expect(fake.allOrders()).toHaveLength(1);
    expect(fake.calls.some((c) => c.path === '/v2/orders:by_client_order_id')).toBe(true);
    expect(journal.status).toBe('filled');
  });

  it('a 429 is waited out for as long as X-RateLimit-Reset says, and nothing is looked up (it proves nothing was done)', async () => {
    fake.failNext('rate_limited');
    const journal = await rig.tracker.place(broker, entry('AAPL', '1'));
    expect(journal.status).toBe('filled');
    expect(rig.waits[0]).toBeGreaterThanOrEqual(2_000);
    expect(fake.calls.some((c) => c.path === '/v2/orders:by_client_order_id')).toBe(false);
  });
});

describe('an entry whose answer was lost after the venue carried it out is placed once (Binance USD-M)', () => {
  let rig: TrackerRig;
  let fake: BinanceFake;
  let broker: BinanceUsdmBroker;
  const orderPath = '/fapi/v1/order';
  beforeEach(async () => {
    rig = trackerRig();
    fake = new BinanceFake({ now: () => Date.now() + rig.lead.ms });
    server.use(...fake.handlers);
    broker = new BinanceUsdmBroker({
      name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs: 1_000,
      clock: () => new Date(Date.now() + rig.lead.ms), logger: createLogger({ level: 'silent' }),
    });
    await broker.connect();
  });
  afterEach(async () => { await broker.disconnect(); rig.close(); });

  const outcomes = [
    ['a 503 after the fill', { status: 503, code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }],
    ['a dropped connection after the fill', { status: 0, kind: 'network' as const }],
    ['-1007 (execution status unknown) after the fill', { status: 408, code: -1007, msg: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.' }],
    ['-1006 (unexpected response from the message bus) after the fill', { status: 400, code: -1006, msg: 'An unexpected response was received from the message bus. Execution status unknown.' }],
  ] as const;
  for (const [name, failure] of outcomes) {
    it(`${name}: one order at Binance, one position, the journal shows it filled`, async () => {
      fake.failNext({ method: 'POST', path: orderPath, afterExecution: true, ...failure });
      const intent = entry('BTCUSDT', '0.01');
      const journal = await rig.tracker.place(broker, intent);
      const placed = fake.calls(orderPath, 'POST').filter((r) => r.params.newClientOrderId === intent.clientOrderId);
      expect(placed).toHaveLength(1);
      expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.01');
      expect(journal.status).toBe('filled');
      expect(journal.filledQuantity.toFixed()).toBe('0.01');
    });
  }

  it('a 5xx on every try, the order nowhere to be found: journalled unknown (never rejected), so the next run looks before placing', async () => {
    fake.failNext({ method: 'POST', path: orderPath, status: 503, code: -1001, msg: 'Internal error.', times: 3 });
    const intent = entry('BTCUSDT', '0.01');
    const error = await failureOf(rig.tracker.place(broker, intent));
    expect(error).toBeInstanceOf(OrderFailedError);
    expect(rig.orders.findByClientOrderId(intent.clientOrderId)?.status).toBe('unknown');
    expect(fake.calls(orderPath, 'GET').length).toBeGreaterThanOrEqual(2);
  });

  it('a refusal after a try in doubt proves nothing: the first try is looked up, and found', async () => {
    // The first try fills and its answer is lost; the first lookup does not see it yet (the venue lags), and the retry is
    // refused (the margin is gone): only a second look finds the fill.
    fake.failNext({ method: 'POST', path: orderPath, status: 503, code: -1001, msg: 'Internal error.', afterExecution: true });
    fake.failNext({ method: 'GET', path: orderPath, status: 400, code: -2013, msg: 'Order does not exist.' });
    fake.failNext({ method: 'POST', path: orderPath, status: 400, code: -2019, msg: 'Margin is insufficient.' });
    const intent = entry('BTCUSDT', '0.01');
    const journal = await rig.tracker.place(broker, intent);
    expect(fake.calls(orderPath, 'POST')).toHaveLength(2);
    expect(journal.status).toBe('filled');
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.01');
  });

  it('a cancel carried out whose answer was lost is looked up, found cancelled, and not sent again', async () => {
    const intent: OrderIntent = { ...entry('BTCUSDT', '0.01'), type: 'limit', limitPrice: new Decimal('50000'), timeInForce: 'gtc' };
    expect((await rig.tracker.place(broker, intent)).status).toBe('accepted');
    fake.failNext({ method: 'DELETE', path: orderPath, status: 503, code: -1001, msg: 'Internal error.', afterExecution: true });
    const journal = await rig.tracker.cancel(broker, intent.clientOrderId);
    expect(journal.status).toBe('cancelled');
    expect(fake.calls(orderPath, 'DELETE')).toHaveLength(1);
  });

  it('an amend carried out whose answer was lost is looked up, and not sent again when the venue shows the change', async () => {
    const intent: OrderIntent = { ...entry('BTCUSDT', '0.01'), type: 'limit', limitPrice: new Decimal('50000'), timeInForce: 'gtc' };
    await rig.tracker.place(broker, intent);
    fake.failNext({ method: 'PUT', path: orderPath, status: 0, kind: 'network', afterExecution: true });
    const journal = await rig.tracker.amend(broker, intent.clientOrderId, { quantity: new Decimal('0.01'), limitPrice: new Decimal('51000') });
    expect(journal.limitPrice?.toFixed()).toBe('51000');
    expect(fake.calls(orderPath, 'PUT')).toHaveLength(1);
    expect((await broker.getOrder({ clientOrderId: intent.clientOrderId, symbol: 'BTCUSDT' }))?.limitPrice?.toFixed()).toBe('51000');
  });

  it('an entry placed whose fills cannot be read yet is never journalled rejected; the next run finds it and books the fill', async () => {
    fake.failNext({ method: 'GET', path: '/fapi/v1/userTrades', status: 400, code: -1000, msg: 'An unknown error occured while processing the request.' });
    const intent = entry('BTCUSDT', '0.01');
    await failureOf(rig.tracker.place(broker, intent));
    expect(rig.orders.findByClientOrderId(intent.clientOrderId)?.status).not.toBe('rejected');
    const again = await rig.tracker.place(broker, intent);
    expect(again.status).toBe('filled');
    expect(fake.calls(orderPath, 'POST')).toHaveLength(1);
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.01');
  });

  it('a 418 ban is waited out per its Retry-After, then the order goes once', async () => {
    fake.failNext({ method: 'POST', path: orderPath, status: 418, code: -1003, msg: 'Way too many requests; IP banned until later.', headers: { 'retry-after': '30' } });
    const intent = entry('BTCUSDT', '0.01');
    const journal = await rig.tracker.place(broker, intent);
    expect(rig.waits[0]).toBeGreaterThanOrEqual(30_000);
    expect(journal.status).toBe('filled');
    expect(fake.calls(orderPath, 'POST')).toHaveLength(2);
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.01');
  });

  it('a ban longer than a job may wait fails at once with the reason, and nothing more is sent', async () => {
    fake.failNext({ method: 'POST', path: orderPath, status: 418, code: -1003, msg: 'Way too many requests; IP banned until later.', headers: { 'retry-after': '7200' } });
    const intent = entry('BTCUSDT', '0.01');
    const error = await failureOf(rig.tracker.place(broker, intent));
    expect(error).toBeInstanceOf(OrderFailedError);
    const journal = rig.orders.findByClientOrderId(intent.clientOrderId);
    expect(journal?.status).toBe('rejected');
    expect(journal?.reason).toMatch(/rate_limited: .*banned/);
    expect(rig.waits).toEqual([]);
    expect(fake.calls(orderPath, 'POST')).toHaveLength(1);
  });

  it('429s are waited out as Retry-After says, so the venue never escalates to a ban', async () => {
    fake.rateLimit({ retryAfterSeconds: 5, banAfter: 1 });
    const journal = await rig.tracker.place(broker, entry('BTCUSDT', '0.01'));
    expect(journal.status).toBe('filled');
    expect(rig.waits[0]).toBeGreaterThanOrEqual(5_000);
    expect(fake.banned).toBe(false);
  });
});
