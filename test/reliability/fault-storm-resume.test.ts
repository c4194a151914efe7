// The storm's lost-fills defect, fixed (issue 14): an entry the venue took while tradewire could not read what became of
// it is finished once the venue answers (src/execution/interrupted-entry.ts) — once, whoever gets there first.
import { afterEach, describe, expect, it } from 'vitest';
import { AlpacaBroker } from '../../src/brokers/alpaca/alpaca-broker.ts';
import { BinanceUsdmBroker } from '../../src/brokers/binance/binance-broker.ts';
import type { Broker } from '../../src/brokers/broker.ts';
import { BrokerUnavailableError, RateLimitError, TimeoutError } from '../../src/domain/errors.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { EXTERNAL_STRATEGY, reconcileAll } from '../../src/portfolio/reconcile.ts';
import { loadOpenPositions } from '../../src/reports/journal.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { BASE_CONFIG, createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';
import { useMswServer } from '../helpers/msw.ts';

const server = useMswServer();
const silent = createLogger({ level: 'silent' });
const keys = { keyId: 'PKSTORMRESUME0000001', secretKey: 'storm-resume-secret-0123456789' };
const calm = { pendingAgeMs: 0, settleMs: 0 };
const ETH_CONFIG = BASE_CONFIG.replace('value: 10', 'value: 0.01');

/** A Binance account whose fills cannot be read while `down` is set: the storm's 503s on GET /fapi/v1/userTrades. */
async function binanceWithFillsDown(): Promise<{ fake: BinanceFake; broker: Broker; venue: { down: boolean } }> {
  const fake = new BinanceFake();
  server.use(...fake.handlers);
  const binance = new BinanceUsdmBroker({
    name: 'paper', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs: 1_000, logger: silent,
  });
  await binance.connect();
  const venue = { down: true };
  const broker = overriding(binance, {
    fills: async (since) => {
      if (venue.down) throw new BrokerUnavailableError('binance-usdm GET /fapi/v1/userTrades answered 503', { broker: 'binance-usdm' });
      return binance.fills(since);
    },
  });
  return { fake, broker, venue };
}

/**
 * An Alpaca account where a bracket reaches the venue but its answer is lost (a timeout), and no order can be looked
 * up while `down` is set: the placement ends in doubt (`unknown`) and the execution fails.
 */
async function alpacaWithLostBracket(): Promise<{ fake: AlpacaFake; alpaca: AlpacaBroker; broker: Broker; venue: { down: boolean } }> {
  const fake = new AlpacaFake(keys);
  server.use(...fake.handlers);
  fake.setPrice('AAPL', '100');
  const alpaca = new AlpacaBroker({ name: 'paper', environment: 'paper', ...keys, baseUrl: fake.baseUrl, dataUrl: fake.dataUrl, timeoutMs: 1_000, logger: silent });
  await alpaca.connect();
  const venue = { down: true };
  const broker = overriding(alpaca, {
    placeBracket: async (request) => {
      await alpaca.placeBracket(request);
      throw new TimeoutError('alpaca POST /v2/orders timed out', { broker: 'alpaca' });
    },
    getOrder: async (ref) => {
      if (venue.down) throw new BrokerUnavailableError('alpaca GET /v2/orders answered 503', { broker: 'alpaca' });
      return alpaca.getOrder(ref);
    },
  });
  return { fake, alpaca, broker, venue };
}

const stopsAt = (fake: BinanceFake, symbol: string) => fake.openAlgoOrders().filter((a) => a.symbol === symbol && a.side === 'SELL' && a.orderType.startsWith('STOP'));

describe('an entry the venue filled while its fills could not be read', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('is booked and protected exactly once: reconciliation twice, then the job replayed', async () => {
    const { fake, broker, venue } = await binanceWithFillsDown();
    h = await createHarness({ wrap: () => broker, configText: ETH_CONFIG });
    const job = h.job({ ticker: 'ETHUSDT', action: 'buy', sentiment: 'long', price: '3000', stopLoss: { percent: '2' }, takeProfit: { percent: '4' } });
    const outcome = await h.executor.execute(job);
    expect(outcome?.status).toBe('failed');
    // The failure says what happened and what comes next.
    expect(outcome?.reason).toMatch(/^unconfirmed: the entry tw-en-\S+ was taken by the venue but its fills could not be read \(broker_unavailable: .*503\); it is booked and protected once the venue answers$/);
    expect(h.ctx.signals.findById(job.signalId)?.reason).toBe(outcome?.reason);

    venue.down = false;
    const first = await reconcileAll(h.ctx, calm);
    expect(first[0]?.differences.map((d) => d.kind)).toEqual(['entry_resumed']);
    await reconcileAll(h.ctx, calm);
    expect(await h.executor.execute(job)).toBeUndefined(); // a re-delivered job finds its execution finished

    const open = h.ctx.positions.listOpen('paper');
    expect(open.map((p) => [p.strategy, p.symbol, p.side, p.quantity.toFixed(), p.signalId])).toEqual([['default', 'ETHUSDT', 'long', '0.01', job.signalId]]);
    const entry = h.ctx.orders.ordersForSignal(job.signalId).find((o) => o.leg === 'entry');
    expect(entry?.positionId).toBe(open[0]?.id);
    expect(h.ctx.orders.fillsForOrder(entry?.clientOrderId ?? '').map((f) => f.quantity.toFixed())).toEqual(['0.01']);
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(1);
    expect(fake.placedAlgoOrders().filter((a) => a.symbol === 'ETHUSDT')).toHaveLength(2); // one stop, one target, each placed once
    expect(open[0]?.protection).toBe('after_fill');

    // The signal ends executed and says how; the trader sees the position as the strategy's.
    const signal = h.ctx.signals.findById(job.signalId);
    expect(signal?.status).toBe('executed');
    expect(signal?.reason).toMatch(/^resumed: the entry tw-en-\S+ filled 0\.01 ETHUSDT @ 3000, booked as the strategy's position and protected once the venue answered \(earlier: unconfirmed: /);
    expect(loadOpenPositions(h.db).map((p) => [p.strategy, p.symbol, p.quantity.toFixed(), p.status])).toEqual([['default', 'ETHUSDT', '0.01', 'open']]);
  });

  it('the position loop finishes it within its next tick, and reconciliation after it changes nothing', async () => {
    const { fake, broker, venue } = await binanceWithFillsDown();
    h = await createHarness({ wrap: () => broker, configText: ETH_CONFIG });
    const job = h.job({ ticker: 'ETHUSDT', action: 'buy', sentiment: 'long', price: '3000', stopLoss: { percent: '2' } });
    expect((await h.executor.execute(job))?.status).toBe('failed');
    const manager = new PositionManager(h.ctx, { intervalMs: 50, db: h.db, fillTimeoutMs: 300 });

    await manager.tick(); // the venue still cannot say: nothing is booked, nothing placed
    expect(h.ctx.positions.listOpen('paper')).toEqual([]);
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(0);

    venue.down = false;
    await manager.tick();
    expect(h.ctx.positions.findOpen('paper', 'ETHUSDT')?.strategy).toBe('default');
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(1);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('executed');

    const after = await reconcileAll(h.ctx, calm);
    expect(after[0]?.differences).toEqual([]);
    await manager.tick();
    expect(h.ctx.positions.listOpen('paper').map((p) => p.quantity.toFixed())).toEqual(['0.01']);
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(1);
  });
});

describe('a resume cut short after booking the position', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('Alpaca: the bracket\'s parent cannot be read the first time; its legs are not cancelled as orphans, and the next run adopts them', async () => {
    const fake = new AlpacaFake(keys);
    server.use(...fake.handlers);
    fake.setPrice('AAPL', '100');
    const alpaca = new AlpacaBroker({ name: 'paper', environment: 'paper', ...keys, baseUrl: fake.baseUrl, dataUrl: fake.dataUrl, timeoutMs: 1_000, logger: silent });
    await alpaca.connect();
    const venue = { fillsDown: true, parentDown: false };
    const broker = overriding(alpaca, {
      fills: async (since) => {
        if (venue.fillsDown) throw new BrokerUnavailableError('alpaca GET /v2/account/activities/FILL answered 503', { broker: 'alpaca' });
        return alpaca.fills(since);
      },
      getOrder: async (ref) => {
        if (venue.parentDown && 'orderId' in ref) throw new BrokerUnavailableError('alpaca GET /v2/orders/{id} answered 503', { broker: 'alpaca' });
        return alpaca.getOrder(ref);
      },
    });
    h = await createHarness({ wrap: () => broker });
    const job = h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', stopLoss: { percent: '2' }, takeProfit: { percent: '4' } });
    expect((await h.executor.execute(job))?.status).toBe('failed');

    venue.fillsDown = false;
    venue.parentDown = true;
    const cut = await reconcileAll(h.ctx, calm);
    expect(cut[0]?.differences.map((d) => d.kind)).toEqual(['order_unresolved']);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.strategy).toBe('default'); // booked before the failure
    expect(fake.allOrders().filter((o) => o.parent !== null && o.status === 'new')).toHaveLength(2); // not cancelled as orphans
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('failed');

    venue.parentDown = false;
    await reconcileAll(h.ctx, calm);
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect([position?.quantity.toFixed(), position?.protection]).toEqual(['10', 'native']);
    expect(h.ctx.orders.ordersForSignal(job.signalId).filter((o) => o.leg !== 'entry').map((o) => [o.status, o.positionId])).toEqual([['accepted', position?.id], ['accepted', position?.id]]);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('executed');
    expect(h.ctx.positions.listOpen('paper')).toHaveLength(1);
  });
});

describe('a resumed entry whose protection cannot be placed yet', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  // A 503 leaves the stop in doubt (placed again under its id); a 418 ban refuses it (placed anew under the position's next id).
  it.each([
    ['in doubt (503)', () => new BrokerUnavailableError('binance-usdm POST /fapi/v1/algoOrder answered 503', { broker: 'binance-usdm' })],
    ['refused (418 ban)', () => new RateLimitError('binance-usdm: the IP is banned (418)', { broker: 'binance-usdm', retryAfterMs: 120_000 })],
  ])('halts the account once with the reason, stays visible, and gets its stop on a later run: %s', async (_kind, failure) => {
    const { fake, broker: binance, venue } = await binanceWithFillsDown();
    const protectionDown = { on: false };
    const broker = overriding(binance, {
      placeOrder: async (request) => {
        if (protectionDown.on && request.leg !== 'entry') throw failure();
        return binance.placeOrder(request);
      },
    });
    h = await createHarness({ wrap: () => broker, configText: ETH_CONFIG });
    const job = h.job({ ticker: 'ETHUSDT', action: 'buy', sentiment: 'long', price: '3000', stopLoss: { percent: '2' } });
    expect((await h.executor.execute(job))?.status).toBe('failed');

    venue.down = false;
    protectionDown.on = true;
    const first = await reconcileAll(h.ctx, calm);
    expect(first[0]?.differences.find((d) => d.kind === 'entry_resumed')?.detail).toMatch(/^unprotected: /);
    const day = new Date().toISOString().slice(0, 10);
    expect(h.ctx.accountState.isHalted('paper', day)).toBe(true);
    const haltReason = h.ctx.accountState.get('paper')?.haltedReason;
    expect(haltReason).toMatch(/^ETHUSDT \(0\.01, strategy 'default'\) filled while the venue could not be read and could not be protected: /);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('failed');
    expect(h.ctx.signals.findById(job.signalId)?.reason).toMatch(/^unprotected: .*account halted, protection is placed again on each reconciliation until it rests \(earlier: unconfirmed: /);
    expect(loadOpenPositions(h.db).map((p) => [p.strategy, p.symbol, p.quantity.toFixed()])).toEqual([['default', 'ETHUSDT', '0.01']]);
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(0);

    await reconcileAll(h.ctx, calm); // still down: nothing new to tell
    expect(h.ctx.accountState.get('paper')?.haltedReason).toBe(haltReason);

    protectionDown.on = false;
    await reconcileAll(h.ctx, calm);
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(1);
    expect(fake.openAlgoOrders().filter((a) => a.symbol === 'ETHUSDT' && a.orderType.startsWith('TAKE_PROFIT')).length).toBeLessThanOrEqual(1);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('executed');
    expect(h.ctx.accountState.isHalted('paper', day)).toBe(true); // lifted by the trader, not by tradewire
    expect(h.ctx.positions.listOpen('paper')).toHaveLength(1);
  });
});

describe('the next signal in a symbol whose entry filled while its fills could not be read', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('is not judged while the venue cannot say, then meets the position that entry opened: no second entry', async () => {
    const { fake, broker, venue } = await binanceWithFillsDown();
    h = await createHarness({ wrap: () => broker, configText: ETH_CONFIG });
    const body = { ticker: 'ETHUSDT', action: 'buy', sentiment: 'long', price: '3000', stopLoss: { percent: '2' } };
    const first = h.job({ ...body, id: 'first' });
    expect((await h.executor.execute(first))?.status).toBe('failed');

    const early = await h.executor.execute(h.job({ ...body, id: 'early' }));
    expect(early).toEqual({ status: 'failed', reason: expect.stringMatching(/^entry_unconfirmed: what became of the earlier entry tw-en-\S+ in ETHUSDT cannot be read yet \(broker_unavailable: .*\); this signal was not judged$/) as unknown });

    venue.down = false;
    const next = await h.executor.execute(h.job({ ...body, id: 'next' }));
    expect(next?.status).toBe('rejected'); // the strategy is long already (no pyramiding): the first entry's position answers it
    expect(next?.reason).toMatch(/^no_op: /);
    expect(fake.positionAmount('ETHUSDT').toFixed()).toBe('0.01');
    expect(h.ctx.positions.findOpen('paper', 'ETHUSDT')?.signalId).toBe(first.signalId);
    expect(stopsAt(fake, 'ETHUSDT')).toHaveLength(1);
    expect(h.ctx.signals.findById(first.signalId)?.status).toBe('executed');
  });
});

describe('an Alpaca bracket whose placement ended in doubt', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('partly filled at the venue: the part is the strategy\'s position, its bracket legs adopted by the parent\'s id', async () => {
    const { fake, broker, venue } = await alpacaWithLostBracket();
    h = await createHarness({ wrap: () => broker });
    const job = h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', orderType: 'limit', limitPrice: '99', stopLoss: { percent: '2' }, takeProfit: { percent: '4' } });
    const outcome = await h.executor.execute(job);
    expect(outcome?.status).toBe('failed');
    const entryId = h.ctx.orders.ordersForSignal(job.signalId).find((o) => o.leg === 'entry')?.clientOrderId ?? '';
    expect(h.ctx.orders.findByClientOrderId(entryId)?.status).toBe('unknown');
    const atVenue = fake.order(entryId);
    expect(atVenue?.status).toBe('accepted'); // it rests there, unfilled so far
    fake.fillPart(atVenue?.id ?? '', '4');

    venue.down = false;
    const reports = await reconcileAll(h.ctx, calm);
    expect(reports[0]?.differences.map((d) => d.kind)).not.toContain('external_position');
    const position = h.ctx.positions.findOpen('paper', 'AAPL');
    expect([position?.strategy, position?.quantity.toFixed(), position?.averageEntryPrice.toFixed(), position?.protection]).toEqual(['default', '4', '99', 'native']);
    const orders = h.ctx.orders.ordersForSignal(job.signalId);
    expect(orders.find((o) => o.leg === 'entry')?.status).toBe('partially_filled');
    // The legs are known by Alpaca's own ids now (it held them under the entry), and belong to the position.
    const legs = orders.filter((o) => o.leg !== 'entry');
    expect(legs.map((o) => [o.leg, o.status, o.positionId])).toEqual([['stop', 'held', position?.id], ['target', 'held', position?.id]]);
    expect(legs.map((o) => o.brokerOrderId).sort()).toEqual([...(atVenue?.legs ?? [])].sort());
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('executed');
    expect(h.ctx.signals.findById(job.signalId)?.reason).toMatch(/^resumed: the entry \S+ filled 4 AAPL @ 99, booked .*\(earlier: broker_unavailable: /);

    await reconcileAll(h.ctx, calm); // once more: nothing booked twice
    expect(h.ctx.positions.listOpen('paper').map((p) => p.quantity.toFixed())).toEqual(['4']);
  });

  it('cancelled at the venue without a fill: no position, the signal refused with the venue\'s reason', async () => {
    const { fake, alpaca, broker, venue } = await alpacaWithLostBracket();
    h = await createHarness({ wrap: () => broker });
    const job = h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', orderType: 'limit', limitPrice: '99', stopLoss: { percent: '2' }, takeProfit: { percent: '4' } });
    expect((await h.executor.execute(job))?.status).toBe('failed');
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('failed');
    const entryId = h.ctx.orders.ordersForSignal(job.signalId).find((o) => o.leg === 'entry')?.clientOrderId ?? '';
    await alpaca.cancelOrder({ clientOrderId: entryId, symbol: 'AAPL' }); // cancelled by hand in Alpaca's dashboard
    expect(fake.order(entryId)?.status).toBe('canceled');

    venue.down = false;
    const reports = await reconcileAll(h.ctx, calm);
    expect(reports[0]?.differences.find((d) => d.kind === 'entry_resumed')?.detail).toMatch(/^not_filled: cancelled: /);
    expect(h.ctx.positions.listOpen('paper')).toEqual([]);
    const signal = h.ctx.signals.findById(job.signalId);
    expect(signal?.status).toBe('rejected');
    expect(signal?.reason).toMatch(/^cancelled: the entry tw-en-\S+ ended cancelled at paper without a fill; no position \(earlier: broker_unavailable: /);
    expect(h.ctx.orders.ordersForSignal(job.signalId).map((o) => [o.leg, o.status])).toEqual([['entry', 'cancelled'], ['stop', 'cancelled'], ['target', 'cancelled']]);
    expect(h.ctx.positions.listOpen().filter((p) => p.strategy === EXTERNAL_STRATEGY)).toEqual([]);
  });
});
