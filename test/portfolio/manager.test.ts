import { join } from 'node:path';
import { ulid } from 'ulid';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/brokers/broker.ts';
import { PAPER_CAPABILITIES, PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import type { BrokerRegistry } from '../../src/brokers/registry.ts';
import { InvalidOrderError, NetworkError } from '../../src/domain/errors.ts';
import { Decimal, ZERO } from '../../src/domain/money.ts';
import type { Fill, Order, OrderRef, OrderRequest } from '../../src/domain/order.ts';
import type { ExecutionContext } from '../../src/execution/context.ts';
import { Executor } from '../../src/execution/executor.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { OrderTracker } from '../../src/execution/order-tracker.ts';
import { KillSwitch, nextTradingDay } from '../../src/portfolio/kill-switch.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { tradingDay } from '../../src/domain/trading-day.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { openDatabase } from '../../src/store/db.ts';
import { ExecutionsRepo } from '../../src/store/executions-repo.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';
import { tempDir } from '../helpers/env.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
strategies:
  default:
    account: paper
    allowShorts: true
    sizing: { mode: fixed_quantity, value: 10 }
`;

interface Rig {
  h: Harness;
  paper: PaperBroker;
  ctx: ExecutionContext;
  executor: Executor;
  manager: PositionManager;
  quoteCalls: string[][];
  logs: Array<Record<string, unknown>>;
  advance(ms: number): void;
  open(body: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

interface RigOptions {
  /** The config (default CONFIG). */
  config?: string;
  /** The manager evaluates a KillSwitch each tick. */
  killSwitch?: boolean;
  feeRate?: string;
  emulated?: boolean;
  /** Wraps the (counting) paper broker, e.g. to make it fail. */
  wrap?: (broker: Broker, paper: PaperBroker) => Broker;
  /** Further accounts and their brokers. */
  extra?: Record<string, Broker>;
}

/** The executor harness's journal and tracker, with a paper broker (fees as asked) behind a quote-counting wrapper and a steerable clock. */
async function rig(options: RigOptions = {}): Promise<Rig> {
  const h = await createHarness({ configText: options.config ?? CONFIG });
  const dir = tempDir('tw-pm');
  let offset = 0;
  // The venue keeps the same (steerable) time as tradewire: advancing a day advances it for both.
  const paper = new PaperBroker({ name: 'paper', ledgerPath: join(dir.path, 'paper.db'), startingCash: '1000000', slippagePercent: '0', feeRate: options.feeRate ?? '0',
    clock: () => new Date(Date.now() + offset) });
  await paper.connect();
  const quoteCalls: string[][] = [];
  let broker: Broker = overriding(paper, {
    quotes: async (symbols: string[]) => { quoteCalls.push([...symbols]); return paper.quotes(symbols); },
    ...(options.emulated ? { capabilities: { ...PAPER_CAPABILITIES, protectionFor: () => 'emulated' as const } } : {}),
  });
  if (options.wrap) broker = options.wrap(broker, paper);
  const brokers: Record<string, Broker> = { paper: broker, ...options.extra };
  const registry: BrokerRegistry = {
    get: (account) => { const b = brokers[account]; if (!b) throw new Error(`no account ${account}`); return b; },
    accounts: () => Object.keys(brokers), disconnectAll: async () => undefined,
  };
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });
  const ctx: ExecutionContext = { ...h.ctx, brokers: registry, logger, now: () => new Date(Date.now() + offset) };
  const executor = new Executor(ctx);
  const manager = new PositionManager(ctx, { intervalMs: 20, db: h.db, fillTimeoutMs: 200, killSwitch: options.killSwitch ? new KillSwitch(ctx) : undefined });
  return {
    h, paper, ctx, executor, manager, quoteCalls, logs,
    advance: (ms) => { offset += ms; },
    async open(body) {
      const outcome = await executor.execute(h.job({ ticker: 'AAPL', sentiment: body.action === 'sell' ? 'short' : 'long', ...body }));
      expect(outcome).toEqual({ status: 'executed' });
    },
    async close() {
      await manager.stop();
      await paper.disconnect();
      await h.close();
      dir.cleanup();
    },
  };
}

const closedOf = (r: Rig, symbol = 'AAPL') => r.ctx.positions.listClosed().filter((c) => c.symbol === symbol);
const openOf = (r: Rig, symbol = 'AAPL') => r.ctx.positions.findOpen('paper', symbol);

describe('position manager: emulated protection (the loop watches the price)', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  it('a long stop fires when the price reaches it; P&L is exact and net of both fees', async () => {
    r = await rig({ emulated: true, feeRate: '0.001' });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    expect(openOf(r)?.protection).toBe('emulated');
    expect(await r.paper.openOrders()).toEqual([]); // nothing rests at the broker

    await r.paper.updatePrice('AAPL', '97');
    await r.manager.tick();
    const marks = r.manager.snapshot().accounts[0]?.positions[0];
    expect(marks?.mark?.toFixed()).toBe('97');
    expect(marks?.unrealizedPnl?.toFixed()).toBe('-30');
    expect(openOf(r)?.status).toBe('open');

    await r.paper.updatePrice('AAPL', '95');
    await r.manager.tick();
    const [closed] = closedOf(r);
    // (95 - 100) × 10 = -50; fees 1.00 in (100 × 10 × 0.1 %) and 0.95 out.
    expect([closed?.exitReason, closed?.exitPrice.toFixed(), closed?.realizedPnl.toFixed(), closed?.fees.toFixed()]).toEqual(['stop_loss', '95', '-51.95', '1.95']);
    expect(openOf(r)).toBeUndefined();
    expect(await r.paper.positions()).toEqual([]);
    expect(r.manager.snapshot().accounts[0]?.positions).toEqual([]);
  });

  it('a gap through a long stop exits at the gap price, not the stop', async () => {
    r = await rig({ emulated: true, feeRate: '0.001' });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' } });
    await r.paper.updatePrice('AAPL', '88.37');
    await r.manager.tick();
    const [closed] = closedOf(r);
    // (88.37 - 100) × 10 = -116.30; fees 1.00 + 0.8837 → 0.88 (the paper venue charges whole cents).
    expect([closed?.exitReason, closed?.exitPrice.toFixed(), closed?.realizedPnl.toFixed()]).toEqual(['stop_loss', '88.37', '-118.18']);
  });

  it('a short stop fires above, a short target below', async () => {
    r = await rig({ emulated: true });
    await r.open({ action: 'sell', price: '100', stopLoss: { stopPrice: '105' }, takeProfit: { limitPrice: '90' } });
    await r.paper.updatePrice('AAPL', '104.99');
    await r.manager.tick();
    expect(openOf(r)?.status).toBe('open');
    expect(r.manager.snapshot().accounts[0]?.positions[0]?.unrealizedPnl?.toFixed()).toBe('-49.9');
    await r.paper.updatePrice('AAPL', '105.5');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['stop_loss', '-55']]);

    await r.open({ ticker: 'MSFT', action: 'sell', price: '200', stopLoss: { stopPrice: '210' }, takeProfit: { limitPrice: '190' } });
    await r.paper.updatePrice('MSFT', '189.5');
    await r.manager.tick();
    expect(closedOf(r, 'MSFT').map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['take_profit', '105']]);
  });

  it('a long target fires at or above it', async () => {
    r = await rig({ emulated: true });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await r.paper.updatePrice('AAPL', '110');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['take_profit', '100']]);
  });

  it("a long's trailing stop follows the high (persisted only when it moves) and fires on the way down", async () => {
    r = await rig({ emulated: true });
    // A target out of the way: without one the strategy's default (4 %, 104) would take the position at 110.
    await r.open({ action: 'buy', price: '100', stopLoss: { trailAmount: '5' }, takeProfit: { limitPrice: '150' } });
    await r.paper.updatePrice('AAPL', '110');
    await r.manager.tick();
    const raised = openOf(r);
    expect(raised?.highWater?.toFixed()).toBe('110');
    // The water mark was committed without its own fsync, and the journal's connection is back at its own setting
    // (NORMAL since issue 13: orders are made durable by the durability barrier before each broker call).
    expect(r.h.db.pragma('synchronous', { simple: true })).toBe(1);
    expect(r.manager.snapshot().accounts[0]?.positions[0]?.trailingStop?.toFixed()).toBe('105');

    await r.paper.updatePrice('AAPL', '107');
    await r.manager.tick();
    expect(openOf(r)?.updatedAt.getTime()).toBe(raised?.updatedAt.getTime()); // no write: the mark did not move
    await r.paper.updatePrice('AAPL', '105.01');
    await r.manager.tick();
    expect(openOf(r)?.status).toBe('open');
    await r.paper.updatePrice('AAPL', '105');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['trailing_stop', '105', '50']]);
  });

  it('a trailing stop that moved up fires below its new level though still above its old one', async () => {
    r = await rig({ emulated: true });
    await r.open({ action: 'buy', price: '100', stopLoss: { trailAmount: '5' }, takeProfit: { limitPrice: '150' } });
    await r.paper.updatePrice('AAPL', '103');
    await r.manager.tick(); // high 103: the trail is now 98 (it was 95)
    expect(openOf(r)?.highWater?.toFixed()).toBe('103');
    await r.paper.updatePrice('AAPL', '97.5');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['trailing_stop', '97.5', '-25']]);
  });

  it("a short's trailing stop follows the low", async () => {
    r = await rig({ emulated: true });
    await r.open({ action: 'sell', price: '100', stopLoss: { trailPercent: '5' }, takeProfit: { limitPrice: '50' } });
    await r.paper.updatePrice('AAPL', '90');
    await r.manager.tick();
    expect(openOf(r)?.lowWater?.toFixed()).toBe('90');
    await r.paper.updatePrice('AAPL', '94.49');
    await r.manager.tick();
    expect(openOf(r)?.status).toBe('open');
    await r.paper.updatePrice('AAPL', '94.5'); // 90 + 5 %
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['trailing_stop', '55']]);
  });

  it('stop and target both reached in one tick: the stop wins (we cannot know which came first; we never report a profit that may not have happened)', async () => {
    r = await rig({ emulated: true });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    // One price reaches both only when the levels cross (an alert moved one past the other).
    const position = openOf(r);
    r.ctx.positions.update(position?.id ?? '', { stopPrice: new Decimal('105'), targetPrice: new Decimal('103') });
    await r.paper.updatePrice('AAPL', '104');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['stop_loss', '40']]);
  });
});

describe('position manager: protection resting at the broker (after_fill, paper)', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  it('a long stop that filled at the broker closes the books and cancels the target; a gap fills at the gap', async () => {
    r = await rig({ feeRate: '0.001' });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    expect((await r.paper.openOrders()).map((o) => o.type).sort()).toEqual(['limit', 'stop']);
    await r.paper.updatePrice('AAPL', '91.5'); // gaps through 95: the stop becomes a market order at 91.5
    await r.manager.tick();
    const [closed] = closedOf(r);
    // (91.5 - 100) × 10 = -85; fees 1.00 + 0.915 → 0.92
    expect([closed?.exitReason, closed?.exitPrice.toFixed(), closed?.realizedPnl.toFixed()]).toEqual(['stop_loss', '91.5', '-86.92']);
    expect(await r.paper.openOrders()).toEqual([]);
    expect(openOf(r)).toBeUndefined();
  });

  it('a short target and a short stop at the broker', async () => {
    r = await rig();
    await r.open({ action: 'sell', price: '100', stopLoss: { stopPrice: '105' }, takeProfit: { limitPrice: '90' } });
    await r.paper.updatePrice('AAPL', '89');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['take_profit', '89', '110']]);

    await r.open({ ticker: 'MSFT', action: 'sell', price: '50', stopLoss: { stopPrice: '52' }, takeProfit: { limitPrice: '45' } });
    await r.paper.updatePrice('MSFT', '52.25');
    await r.manager.tick();
    expect(closedOf(r, 'MSFT').map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['stop_loss', '-22.5']]);
    expect(await r.paper.openOrders()).toEqual([]);
  });

  it("a long's trailing stop held by the broker: the journal's high water follows, and its fill closes the books as trailing_stop", async () => {
    r = await rig();
    await r.open({ action: 'buy', price: '100', stopLoss: { trailAmount: '5' }, takeProfit: { limitPrice: '150' } });
    await r.paper.updatePrice('AAPL', '112');
    await r.manager.tick();
    expect(openOf(r)?.highWater?.toFixed()).toBe('112');
    expect(r.manager.snapshot().accounts[0]?.positions[0]?.trailingStop?.toFixed()).toBe('107'); // as the broker holds it
    await r.paper.updatePrice('AAPL', '106');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['trailing_stop', '106', '60']]);
  });

  it("a short's trailing stop held by the broker follows the low", async () => {
    r = await rig();
    await r.open({ action: 'sell', price: '100', stopLoss: { trailAmount: '5' }, takeProfit: { limitPrice: '50' } });
    await r.paper.updatePrice('AAPL', '90');
    await r.manager.tick();
    expect(openOf(r)?.lowWater?.toFixed()).toBe('90');
    await r.paper.updatePrice('AAPL', '96');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['trailing_stop', '40']]);
  });
});

describe('position manager: a trail kept as a fixed stop order', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  /** A position protected by a plain stop order at the broker, trailing by `trailPercent` (the manager moves the order). */
  async function trailingFixedStop(rig: Rig, side: 'long' | 'short', stopPrice: string, trailPercent: string) {
    await rig.open({ action: side === 'long' ? 'buy' : 'sell', price: '100', stopLoss: { stopPrice }, takeProfit: { limitPrice: side === 'long' ? '150' : '50' } });
    const position = openOf(rig);
    if (!position) throw new Error('no position');
    rig.ctx.positions.update(position.id, { trailPercent: new Decimal(trailPercent) });
    const stop = rig.ctx.orders.ordersForPosition(position.id).find((o) => o.leg === 'stop');
    expect(stop?.type).toBe('stop');
  }
  const restingStop = async (rig: Rig) => (await rig.paper.openOrders()).find((o) => o.type === 'stop')?.stopPrice?.toFixed();

  it("a long's moved stop rounds up to the tick, never below its trail: high 100.20 less 3 % is 97.194 → 97.20, not 97.19", async () => {
    r = await rig();
    await trailingFixedStop(r, 'long', '97', '3');
    await r.paper.updatePrice('AAPL', '100.2');
    await r.manager.tick();
    await r.manager.tick();
    expect(openOf(r)?.stopPrice?.toFixed()).toBe('97.2');
    expect(await restingStop(r)).toBe('97.2');
  });

  it("a short's moved stop rounds down to the tick: low 99.90 plus 3 % is 102.897 → 102.89, not 102.90", async () => {
    r = await rig();
    await trailingFixedStop(r, 'short', '103', '3');
    await r.paper.updatePrice('AAPL', '99.9');
    await r.manager.tick();
    await r.manager.tick();
    expect(openOf(r)?.stopPrice?.toFixed()).toBe('102.89');
    expect(await restingStop(r)).toBe('102.89');
  });
});

/**
 * The paper market fills whole. This wrapper keeps limit entries to itself and fills them in the parts the test
 * asks for: each part is a real paper market order (so the paper account holds what the journal books, and fees
 * are the paper venue's), reported back as fills of the resting entry.
 */
function partialFills(inner: Broker, paper: PaperBroker) {
  const resting = new Map<string, Order>();
  const partOf = new Map<string, string>();
  // Asked by our client id, or by the id this venue gave the order (as the tracker does once it knows it).
  const restingFor = (ref: OrderRef): Order | undefined =>
    ('clientOrderId' in ref ? resting.get(ref.clientOrderId) : [...resting.values()].find((o) => o.id === ref.orderId));
  const broker = overriding(inner, {
    placeOrder: async (request: OrderRequest) => {
      if (request.leg !== 'entry' || request.type !== 'limit') return inner.placeOrder(request);
      const now = new Date();
      const order: Order = { id: ulid(), clientOrderId: request.clientOrderId, symbol: request.symbol, side: request.side, type: 'limit', status: 'accepted',
        quantity: request.quantity, filledQuantity: ZERO, limitPrice: request.limitPrice, createdAt: now, updatedAt: now };
      resting.set(order.clientOrderId, order);
      return order;
    },
    getOrder: async (ref: OrderRef) => restingFor(ref) ?? inner.getOrder(ref),
    cancelOrder: async (ref: OrderRef) => {
      const order = restingFor(ref);
      if (!order) return inner.cancelOrder(ref);
      resting.set(order.clientOrderId, { ...order, status: 'cancelled' });
    },
    fills: async (since?: Date): Promise<Fill[]> => (await inner.fills(since)).map((f) => {
      const entry = partOf.get(f.clientOrderId);
      return entry ? { ...f, clientOrderId: entry } : f;
    }),
  });
  return {
    broker,
    async fill(clientOrderId: string, quantity: string, price: string): Promise<void> {
      const order = resting.get(clientOrderId);
      if (!order) throw new Error(`no resting entry ${clientOrderId}`);
      await paper.updatePrice(order.symbol, price);
      const part = `pf${ulid()}`;
      partOf.set(part, clientOrderId);
      const placed = await paper.placeOrder({ clientOrderId: part, symbol: order.symbol, side: order.side, type: 'market', quantity: new Decimal(quantity) });
      const filled = order.filledQuantity.plus(placed.filledQuantity);
      const average = (order.averageFillPrice ?? ZERO).mul(order.filledQuantity).plus((placed.averageFillPrice ?? ZERO).mul(placed.filledQuantity)).div(filled);
      resting.set(clientOrderId, { ...order, filledQuantity: filled, averageFillPrice: average, status: filled.gte(order.quantity) ? 'filled' : 'partially_filled', updatedAt: new Date() });
    },
  };
}

describe('position manager: resting entries', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  it('a limit entry filling in parts is booked and protected for what has filled, growing to the sum of its fills', async () => {
    let fills: ReturnType<typeof partialFills> | undefined;
    r = await rig({ feeRate: '0.001', wrap: (broker, paper) => { fills = partialFills(broker, paper); return fills.broker; } });
    await r.paper.updatePrice('AAPL', '100');
    await r.open({ action: 'buy', price: '100', orderType: 'limit', limitPrice: '99', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    const [entry] = r.ctx.orders.openOrders('paper').filter((o) => o.leg === 'entry');
    expect(openOf(r)).toBeUndefined();
    await r.manager.tick();
    expect(openOf(r)).toBeUndefined(); // nothing filled yet
    expect(r.quoteCalls.at(-1)).toEqual(['AAPL']); // the resting entry's symbol is quoted

    await fills?.fill(entry?.clientOrderId ?? '', '4', '99');
    await r.manager.tick();
    let position = openOf(r);
    expect([position?.quantity.toFixed(), position?.averageEntryPrice.toFixed(), position?.entryFees.toFixed(), position?.stopPrice?.toFixed(), position?.targetPrice?.toFixed()])
      .toEqual(['4', '99', '0.4', '95', '110']); // the alert's stop and target, read back from the journalled signal
    let stops = (await r.paper.openOrders()).filter((o) => o.clientOrderId.startsWith('tw-'));
    expect(stops.map((o) => [o.type, o.quantity.toFixed()]).sort()).toEqual([['limit', '4'], ['stop', '4']]);

    await fills?.fill(entry?.clientOrderId ?? '', '6', '98.5');
    await r.manager.tick();
    position = openOf(r);
    // (4 × 99 + 6 × 98.5) / 10 = 98.7; fees 0.40 + 0.591 → 0.59
    expect([position?.quantity.toFixed(), position?.averageEntryPrice.toFixed(), position?.entryFees.toFixed()]).toEqual(['10', '98.7', '0.99']);
    stops = await r.paper.openOrders();
    expect(stops.map((o) => [o.type, o.quantity.toFixed()]).sort()).toEqual([['limit', '10'], ['stop', '10']]);
    const legs = r.ctx.orders.ordersForPosition(position?.id ?? '').map((o) => `${o.leg}:${o.status}`);
    expect(legs).toEqual(['entry:filled', 'stop:cancelled', 'target:cancelled', 'stop:accepted', 'target:accepted']);

    await r.paper.updatePrice('AAPL', '94');
    await r.manager.tick();
    // (94 - 98.7) × 10 = -47; fees 0.99 in + 0.94 out
    expect(closedOf(r).map((c) => [c.exitReason, c.quantity.toFixed(), c.realizedPnl.toFixed()])).toEqual([['stop_loss', '10', '-48.93']]);
  });

  it("without stop and target in the alert, a filled resting entry gets the strategy's (2 % and 4 % from the fill)", async () => {
    let fills: ReturnType<typeof partialFills> | undefined;
    r = await rig({ wrap: (broker, paper) => { fills = partialFills(broker, paper); return fills.broker; } });
    await r.paper.updatePrice('AAPL', '100');
    await r.open({ action: 'buy', price: '100', orderType: 'limit', limitPrice: '99' });
    const [entry] = r.ctx.orders.openOrders('paper').filter((o) => o.leg === 'entry');
    await fills?.fill(entry?.clientOrderId ?? '', '10', '99');
    await r.manager.tick();
    const position = openOf(r);
    expect([position?.quantity.toFixed(), position?.stopPrice?.toFixed(), position?.targetPrice?.toFixed()]).toEqual(['10', '97.02', '102.96']);
  });
});

describe('position manager: the loop', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  it('a row another process changes during a tick that also moves its water mark is read again (the loop\'s stamp does not hide the change)', async () => {
    let duringQuotes: (() => void) | undefined;
    r = await rig({
      emulated: true,
      wrap: (broker) => overriding(broker, {
        quotes: async (symbols: string[]) => { duringQuotes?.(); duringQuotes = undefined; return broker.quotes(symbols); },
      }),
    });
    await r.open({ action: 'buy', price: '100', stopLoss: { trailAmount: '5' }, takeProfit: { limitPrice: '150' } });
    await r.manager.tick();
    const id = openOf(r)?.id ?? '';
    duringQuotes = () => {
      const other = openDatabase(r?.h.db.name ?? '');
      try {
        new PositionsRepo(other).update(id, { stopPrice: new Decimal('108') }); // another process tightens the stop mid-tick
      } finally {
        other.close();
      }
    };
    await r.paper.updatePrice('AAPL', '110');
    await r.manager.tick(); // the high water moves to 110 in the same tick
    expect([openOf(r)?.highWater?.toFixed(), openOf(r)?.stopPrice?.toFixed()]).toEqual(['110', '108']);
    await r.paper.updatePrice('AAPL', '107'); // below the new stop, above the trail (105)
    await r.manager.tick();
    expect(closedRows(r).map((c) => [c.reason, c.exit])).toEqual([['stop_loss', '107']]);
  });

  it('a position opened after a first tick that found the journal empty is watched (a fresh daemon)', async () => {
    r = await rig({ emulated: true });
    await r.manager.tick();
    await r.manager.tick();
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await r.paper.updatePrice('AAPL', '94.5');
    await r.manager.tick();
    expect(closedRows(r).map((c) => [c.reason, c.exit])).toEqual([['stop_loss', '94.5']]);
  });

  it('sees a change written by another connection (another process) and by its own, though a quiet tick reads nothing', async () => {
    r = await rig({ emulated: true });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await r.open({ ticker: 'MSFT', action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await r.manager.tick();
    await r.paper.updatePrice('AAPL', '98.5');
    await r.paper.updatePrice('MSFT', '98.5');
    await r.manager.tick();
    expect(closedOf(r)).toEqual([]);

    const other = openDatabase(r.h.db.name);
    try {
      new PositionsRepo(other).update(openOf(r)?.id ?? '', { stopPrice: new Decimal('99') }); // another process moves AAPL's stop
    } finally {
      other.close();
    }
    await r.manager.tick();
    expect(closedRows(r).map((c) => [c.reason, c.exit])).toEqual([['stop_loss', '98.5']]);

    r.ctx.positions.update(openOf(r, 'MSFT')?.id ?? '', { targetPrice: new Decimal('98') }); // this connection, outside the loop
    await r.manager.tick();
    expect(closedRows(r, 'MSFT').map((c) => [c.reason, c.exit])).toEqual([['take_profit', '98.5']]);
  });

  it('one quote call per account per tick, for every symbol it holds', async () => {
    r = await rig({ emulated: true });
    const symbols = Array.from({ length: 25 }, (_, i) => `SYM${i}`);
    for (const symbol of symbols) await r.open({ ticker: symbol, action: 'buy', price: '100', stopLoss: { stopPrice: '90' } });
    r.quoteCalls.length = 0;
    await r.manager.tick();
    await r.manager.tick();
    expect(r.quoteCalls).toHaveLength(2);
    expect([...(r.quoteCalls[0] ?? [])].sort()).toEqual([...symbols].sort());
  });

  it("a broker that fails on one account does not stop another account's stop", async () => {
    const failing = overriding({} as Broker, {
      name: 'broken', capabilities: PAPER_CAPABILITIES,
      quotes: async () => { throw new NetworkError('connection reset', { broker: 'broken' }); },
    });
    r = await rig({ emulated: true, extra: { broken: failing } });
    r.ctx.positions.open({ account: 'broken', strategy: 'default', symbol: 'AAPL', side: 'long', quantity: new Decimal('1'), averageEntryPrice: new Decimal('100'),
      stopPrice: new Decimal('95'), protection: 'emulated', status: 'open', tradingDay: '2026-01-01' });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' } });
    await r.paper.updatePrice('AAPL', '94');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.account, c.exitReason])).toEqual([['paper', 'stop_loss']]);
    const broken = r.manager.snapshot().accounts.find((a) => a.account === 'broken');
    expect(broken?.lastError).toMatch(/connection reset/);
    expect(r.logs.some((l) => l.event === 'positions.tick_failed' && l.account === 'broken')).toBe(true);
  });

  it('never overlaps itself, and stop() resolves only after the tick in flight has finished', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let calls = 0;
    r = await rig({
      emulated: true,
      wrap: (broker) => overriding(broker, { quotes: async (symbols: string[]) => { calls += 1; await gate; return broker.quotes(symbols); } }),
    });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' } });
    await r.paper.updatePrice('AAPL', '94');
    r.manager.start();
    while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const joined = r.manager.tick(); // joins the tick in flight instead of starting another
    let stopped = false;
    const stopping = r.manager.stop().then(() => { stopped = true; });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(stopped).toBe(false);
    expect(calls).toBe(1);
    release();
    await stopping;
    await joined;
    expect(closedOf(r).map((c) => c.exitReason)).toEqual(['stop_loss']); // the tick finished its close before stop() returned
    expect(r.manager.lastTickMs).toBeGreaterThan(50);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(calls).toBe(1); // no tick after stop
  });

  it('a close whose claim lapsed is retried with its reason; after 3 failed attempts the account is halted and an error logged', async () => {
    let refuseExits = true;
    r = await rig({
      emulated: true,
      wrap: (broker) => overriding(broker, {
        placeOrder: async (request: OrderRequest) => {
          if (request.leg === 'exit' && refuseExits) throw new InvalidOrderError('market closed', { broker: 'paper' });
          return broker.placeOrder(request);
        },
      }),
    });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' } });
    await r.paper.updatePrice('AAPL', '94');
    await r.manager.tick(); // attempt 1: the stop fires, the exit is refused, the claim stays until it lapses
    expect(openOf(r)?.status).toBe('closing');
    await r.manager.tick();
    expect(r.ctx.accountState.get('paper')?.halted ?? false).toBe(false); // the claim has not lapsed: nothing retried yet
    r.advance(31_000);
    await r.manager.tick(); // attempt 2
    expect(r.ctx.accountState.get('paper')?.halted ?? false).toBe(false);
    r.advance(31_000);
    await r.manager.tick(); // attempt 3
    expect(r.ctx.accountState.get('paper')?.halted).toBe(true);
    expect(r.ctx.accountState.get('paper')?.haltedReason).toMatch(/could not be closed after 3 attempts/);
    expect(r.logs.filter((l) => l.event === 'account.halted' && l.level === 50)).toHaveLength(1);

    refuseExits = false;
    r.advance(31_000);
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['stop_loss', '-60']]);
    const exits = r.ctx.orders.ordersForPosition(closedOf(r)[0]?.positionId ?? '').filter((o) => o.leg === 'exit');
    expect(new Set(exits.map((o) => o.clientOrderId)).size).toBe(4); // a fresh client id for every attempt
  });

  it("a position left 'closing' by a closer that died is closed by the loop (reason signal)", async () => {
    r = await rig();
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    const position = openOf(r);
    const past = new Date(Date.now() - 120_000);
    expect(r.ctx.positions.claimForClose(position?.id ?? '', 'worker-dead', new Date(past.getTime() + 30_000), past)).toBe(true);
    await r.paper.updatePrice('AAPL', '101');
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['signal', '10']]);
    expect(await r.paper.openOrders()).toEqual([]); // its stop and target were cancelled before the exit
    expect(await r.paper.positions()).toEqual([]);
  });
});

/**
 * The first exit placed fills only `part` (a real paper market order, reported as the exit's fill) and then rests
 * as partially filled until cancelled; later exits go through whole.
 */
function partialExit(part: string) {
  return (inner: Broker, paper: PaperBroker): Broker => {
    let first: Order | undefined;
    const partOf = new Map<string, string>();
    const isFirst = (ref: OrderRef) => first !== undefined && ('clientOrderId' in ref ? ref.clientOrderId === first.clientOrderId : ref.orderId === first.id);
    return overriding(inner, {
      placeOrder: async (request: OrderRequest) => {
        if (request.leg !== 'exit' || first) return inner.placeOrder(request);
        const id = `px${ulid()}`;
        partOf.set(id, request.clientOrderId);
        const placed = await paper.placeOrder({ clientOrderId: id, symbol: request.symbol, side: request.side, type: 'market', quantity: new Decimal(part) });
        first = { ...placed, id: ulid(), clientOrderId: request.clientOrderId, quantity: request.quantity, status: 'partially_filled' };
        return first;
      },
      getOrder: async (ref: OrderRef) => (isFirst(ref) ? first : inner.getOrder(ref)),
      cancelOrder: async (ref: OrderRef) => {
        if (first && isFirst(ref)) first = { ...first, status: 'cancelled' };
        else await inner.cancelOrder(ref);
      },
      fills: async (since?: Date): Promise<Fill[]> => (await inner.fills(since)).map((f) => {
        const exit = partOf.get(f.clientOrderId);
        return exit ? { ...f, clientOrderId: exit } : f;
      }),
    });
  };
}

/**
 * Targets (limit sells resting at the venue) kept by this wrapper and filled in the parts the test asks for: each part
 * a real paper market order reported as the target's fill; the target is listed among the open orders while it rests.
 */
function partialTargets() {
  const resting = new Map<string, Order>();
  const partOf = new Map<string, string>();
  let fill: (quantity: string, price: string) => Promise<void> = async () => undefined;
  /** A fill the venue makes while a cancel of the target is on its way (once). */
  let fillDuringCancel: { quantity: string; price: string } | undefined;
  const live = (o: Order) => o.status === 'accepted' || o.status === 'partially_filled';
  const find = (ref: OrderRef): Order | undefined =>
    ('clientOrderId' in ref ? resting.get(ref.clientOrderId) : [...resting.values()].find((o) => o.id === ref.orderId));
  const wrap = (inner: Broker, paper: PaperBroker): Broker => {
    fill = async (quantity, price) => {
      const order = [...resting.values()].find(live);
      if (!order) throw new Error('no resting target');
      await paper.updatePrice(order.symbol, price);
      const part = `pt${ulid()}`;
      partOf.set(part, order.clientOrderId);
      const placed = await paper.placeOrder({ clientOrderId: part, symbol: order.symbol, side: order.side, type: 'market', quantity: new Decimal(quantity) });
      const filled = order.filledQuantity.plus(placed.filledQuantity);
      const average = (order.averageFillPrice ?? ZERO).mul(order.filledQuantity).plus((placed.averageFillPrice ?? ZERO).mul(placed.filledQuantity)).div(filled);
      resting.set(order.clientOrderId, { ...order, filledQuantity: filled, averageFillPrice: average, status: filled.gte(order.quantity) ? 'filled' : 'partially_filled', updatedAt: new Date() });
    };
    return overriding(inner, {
      placeOrder: async (request: OrderRequest) => {
        if (request.leg !== 'target') return inner.placeOrder(request);
        const now = new Date();
        const order: Order = { id: ulid(), clientOrderId: request.clientOrderId, symbol: request.symbol, side: request.side, type: 'limit', status: 'accepted',
          quantity: request.quantity, filledQuantity: ZERO, limitPrice: request.limitPrice, createdAt: now, updatedAt: now };
        resting.set(order.clientOrderId, order);
        return order;
      },
      getOrder: async (ref: OrderRef) => find(ref) ?? inner.getOrder(ref),
      cancelOrder: async (ref: OrderRef) => {
        if (find(ref) && fillDuringCancel) {
          const late = fillDuringCancel;
          fillDuringCancel = undefined;
          await fill(late.quantity, late.price);
        }
        const order = find(ref);
        if (!order) return inner.cancelOrder(ref);
        if (live(order)) resting.set(order.clientOrderId, { ...order, status: 'cancelled' });
      },
      openOrders: async (symbol?: string) => [...await inner.openOrders(symbol), ...[...resting.values()].filter((o) => live(o) && (symbol === undefined || o.symbol === symbol))],
      fills: async (since?: Date): Promise<Fill[]> => (await inner.fills(since)).map((f) => {
        const target = partOf.get(f.clientOrderId);
        return target ? { ...f, clientOrderId: target } : f;
      }),
    });
  };
  return {
    wrap, fill: (quantity: string, price: string) => fill(quantity, price), resting,
    fillDuringCancel: (quantity: string, price: string) => { fillDuringCancel = { quantity, price }; },
  };
}

const closedRows = (r: Rig, symbol = 'AAPL') => closedOf(r, symbol).map((c) => ({
  reason: c.exitReason, quantity: c.quantity.toFixed(), exit: c.exitPrice.toFixed(), pnl: c.realizedPnl.toFixed(), fees: c.fees.toFixed(),
  pct: c.realizedPnlPct?.toDecimalPlaces(6).toFixed(),
}));

describe('position manager: closed_positions to the cent (paper fees 0.1 %, charged in whole cents per fill)', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  it('a partial close by signal, then the stop on the rest: each row carries its share of the entry fee, once', async () => {
    r = await rig({ emulated: true, feeRate: '0.001' });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } }); // fee 1.00
    await r.paper.updatePrice('AAPL', '104');
    await r.open({ action: 'sell', sentiment: 'long', quantity: '4', price: '104' }); // sells 4 of 10
    const rest = openOf(r);
    expect([rest?.quantity.toFixed(), rest?.entryFees.toFixed()]).toEqual(['6', '0.6']);
    await r.paper.updatePrice('AAPL', '94.5');
    await r.manager.tick();
    expect(closedRows(r)).toEqual([
      // (104 − 100) × 4 = 16; fees 0.40 of the entry's 1.00 + 0.416 → 0.42 out; 15.18 on 400 is 3.795 %
      { reason: 'signal', quantity: '4', exit: '104', pnl: '15.18', fees: '0.82', pct: '3.795' },
      // (94.5 − 100) × 6 = −33; fees the other 0.60 + 0.567 → 0.57 out; −34.17 on 600 is −5.695 %
      { reason: 'stop_loss', quantity: '6', exit: '94.5', pnl: '-34.17', fees: '1.17', pct: '-5.695' },
    ]);
    expect(closedOf(r).reduce((sum, c) => sum.plus(c.fees), ZERO).toFixed()).toBe('1.99'); // every fee paid, once: 1.00 + 0.42 + 0.57
  });

  it('an entry filled in parts closes with the sum of its fills, all its fees and the percent on its cost', async () => {
    let fills: ReturnType<typeof partialFills> | undefined;
    r = await rig({ feeRate: '0.001', emulated: true, wrap: (broker, paper) => { fills = partialFills(broker, paper); return fills.broker; } });
    await r.paper.updatePrice('AAPL', '100');
    await r.open({ action: 'buy', price: '100', orderType: 'limit', limitPrice: '99', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    const [entry] = r.ctx.orders.openOrders('paper').filter((o) => o.leg === 'entry');
    await fills?.fill(entry?.clientOrderId ?? '', '3', '99'); // fee 0.297 → 0.30
    await r.manager.tick();
    await fills?.fill(entry?.clientOrderId ?? '', '7', '98'); // fee 0.686 → 0.69
    await r.manager.tick();
    expect(openOf(r)?.averageEntryPrice.toFixed()).toBe('98.3'); // (3 × 99 + 7 × 98) / 10
    await r.paper.updatePrice('AAPL', '110.25');
    await r.manager.tick();
    // (110.25 − 98.3) × 10 = 119.5; fees 0.30 + 0.69 + 1.1025 → 1.10 = 2.09; 117.41 on 983 is 11.944049 %
    expect(closedRows(r)).toEqual([{ reason: 'take_profit', quantity: '10', exit: '110.25', pnl: '117.41', fees: '2.09', pct: '11.944049' }]);
  });

  it('a target at the broker that fills in part: the part is booked, the rest keeps a stop and a target resized to it, and its stop closes it later', async () => {
    const targets = partialTargets();
    r = await rig({ feeRate: '0.001', wrap: targets.wrap });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } }); // fee 1.00
    await targets.fill('4', '110'); // 4 of the target's 10
    await r.manager.tick();
    const rest = openOf(r);
    expect([rest?.quantity.toFixed(), rest?.entryFees.toFixed()]).toEqual(['6', '0.6']);
    const live = r.ctx.orders.ordersForPosition(rest?.id ?? '').filter((o) => (o.leg === 'stop' || o.leg === 'target') && o.status === 'accepted');
    expect(live.map((o) => [o.leg, o.quantity.toFixed()]).sort()).toEqual([['stop', '6'], ['target', '6']]);

    await r.paper.updatePrice('AAPL', '94'); // the resized stop (6) fills at the venue
    await r.manager.tick();
    expect(closedRows(r)).toEqual([
      // (110 − 100) × 4 = 40; fees 0.40 + 0.44 out; 39.16 on 400 is 9.79 %
      { reason: 'take_profit', quantity: '4', exit: '110', pnl: '39.16', fees: '0.84', pct: '9.79' },
      // (94 − 100) × 6 = −36; fees 0.60 + 0.564 → 0.56
      { reason: 'stop_loss', quantity: '6', exit: '94', pnl: '-37.16', fees: '1.16', pct: '-6.193333' },
    ]);
    expect(await r.paper.positions()).toEqual([]);
    expect([...targets.resting.values()].map((o) => o.status)).toEqual(['cancelled', 'cancelled']);
  });

  it('a target that keeps filling while its cancel is on the way: those fills are booked too, and the new legs protect only what is left', async () => {
    const targets = partialTargets();
    r = await rig({ feeRate: '0.001', wrap: targets.wrap });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } }); // fee 1.00
    await targets.fill('4', '110'); // 4 of the target's 10
    targets.fillDuringCancel('3', '110'); // 3 more before the venue takes the cancel
    await r.manager.tick();
    const rest = openOf(r);
    expect(rest?.quantity.toFixed()).toBe('3');
    const live = r.ctx.orders.ordersForPosition(rest?.id ?? '').filter((o) => (o.leg === 'stop' || o.leg === 'target') && o.status === 'accepted');
    expect(live.map((o) => [o.leg, o.quantity.toFixed()]).sort()).toEqual([['stop', '3'], ['target', '3']]);
    // (110 − 100) × 7 = 70; fees 0.70 in (7/10 of 1.00) + 0.77 out; 68.53 on 700 is 9.79 %
    expect(closedRows(r)).toEqual([{ reason: 'take_profit', quantity: '7', exit: '110', pnl: '68.53', fees: '1.47', pct: '9.79' }]);
    expect((await r.paper.positions()).map((p) => p.quantity.toFixed())).toEqual(['3']);

    await r.paper.updatePrice('AAPL', '94'); // the resized stop (3) fills at the venue: nothing is oversold
    await r.manager.tick();
    expect(closedRows(r).map((c) => [c.reason, c.quantity])).toEqual([['take_profit', '7'], ['stop_loss', '3']]);
    expect(await r.paper.positions()).toEqual([]);
  });

  it('a leg whose cancel fails: the part that filled is booked first, then the rest is closed as unprotected', async () => {
    const targets = partialTargets();
    let refuse = true;
    r = await rig({ feeRate: '0', wrap: (inner, paper) => {
      const wrapped = targets.wrap(inner, paper);
      return overriding(wrapped, {
        cancelOrder: async (ref: OrderRef) => {
          if (refuse && 'clientOrderId' in ref && r?.ctx.orders.findByClientOrderId(ref.clientOrderId)?.leg === 'stop') {
            refuse = false;
            throw new InvalidOrderError('the venue refuses the cancel', { broker: 'paper' });
          }
          return wrapped.cancelOrder(ref);
        },
      });
    } });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await targets.fill('4', '110');
    await r.manager.tick();
    expect(closedRows(r).map((c) => [c.reason, c.quantity, c.pnl])).toEqual([['take_profit', '4', '40'], ['signal', '6', '60']]);
    expect(await r.paper.positions()).toEqual([]);
    expect(r.logs.filter((l) => l.event === 'position.unprotected').map((l) => l.reason)).toEqual([expect.stringMatching(/refuses the cancel/)]);
  });

  it('an exit signal arriving while the loop books a target that filled in part: the loop holds the position, the signal then closes only the rest, once', async () => {
    const targets = partialTargets();
    let gateCancel = false;
    let held = false;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    r = await rig({ feeRate: '0', wrap: (inner, paper) => {
      const wrapped = targets.wrap(inner, paper);
      return overriding(wrapped, {
        cancelOrder: async (ref: OrderRef) => {
          if (gateCancel) { gateCancel = false; held = true; await gate; } // the loop's first cancel is slow to answer
          return wrapped.cancelOrder(ref);
        },
      });
    } });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await targets.fill('4', '110'); // 4 of the target's 10
    gateCancel = true;
    const tick = r.manager.tick();
    while (!held) await new Promise((resolve) => setTimeout(resolve, 5));
    const exit = r.h.job({ ticker: 'AAPL', action: 'exit' });
    const signal = r.executor.execute(exit);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the signal meets a position the loop holds
    release();
    await tick;
    expect(await signal).toEqual({ status: 'executed' });

    expect(r.logs.filter((l) => l.event === 'positions.tick_failed' || l.level === 50)).toEqual([]);
    const exits = r.ctx.orders.ordersForSignal(exit.signalId).filter((o) => o.leg === 'exit');
    expect(exits.map((o) => [o.quantity.toFixed(), o.status])).toEqual([['6', 'filled']]);
    expect(closedRows(r).map((c) => [c.reason, c.quantity])).toEqual([['take_profit', '4'], ['signal', '6']]);
    expect(await r.paper.positions()).toEqual([]);
  });

  it('a close whose exit filled in part before its claim lapsed: the part is booked, the rest closed, the entry fee split between them', async () => {
    r = await rig({ emulated: true, feeRate: '0.001', wrap: partialExit('4') });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '110' } });
    await r.paper.updatePrice('AAPL', '94');
    await r.manager.tick(); // the stop fires; its exit fills 4 of 10 and rests
    expect(openOf(r)?.status).toBe('closing');
    r.advance(31_000);
    await r.manager.tick(); // the claim lapsed: the rest of that exit is cancelled, its 4 booked, the 6 left closed
    expect(closedRows(r)).toEqual([
      // (94 − 100) × 4 = −24; fees 0.40 + 0.376 → 0.38
      { reason: 'stop_loss', quantity: '4', exit: '94', pnl: '-24.78', fees: '0.78', pct: '-6.195' },
      // (94 − 100) × 6 = −36; fees 0.60 + 0.564 → 0.56
      { reason: 'stop_loss', quantity: '6', exit: '94', pnl: '-37.16', fees: '1.16', pct: '-6.193333' },
    ]);
    expect(await r.paper.positions()).toEqual([]);
  });
});

const KILL_CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
    killSwitch: { maxDailyLossPercent: 5, flatten: true }
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 1000 }
`;

/** A second process over the same journal: its own connection, repositories, tracker, kill switch (a fresh trip log) and manager. */
function restarted(r: Rig) {
  const db = openDatabase(r.h.db.name);
  const now = r.ctx.now;
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });
  const orders = new OrdersRepo(db, { now });
  const ctx: ExecutionContext = {
    ...r.ctx, logger, orders, signals: new SignalsRepo(db, { now }), executions: new ExecutionsRepo(db, { now }), positions: new PositionsRepo(db, { now }),
    accountState: new AccountStateRepo(db, { now }), owner: `restarted-${ulid()}`,
    tracker: new OrderTracker({ orders, logger, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }, retryDeps: { sleep: async () => undefined, random: () => 0.5 } }),
  };
  const manager = new PositionManager(ctx, { intervalMs: 20, db, fillTimeoutMs: 200, killSwitch: new KillSwitch(ctx) });
  return { db, ctx, logs, manager, executor: new Executor(ctx) };
}

describe('position manager: the kill switch, evaluated each tick with its marks', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.close(); r = undefined; });

  it('trips mid-day when realized and unrealized loss reach 5 % of the day-start equity: flattens with kill_switch and halts entries', async () => {
    r = await rig({ emulated: true, killSwitch: true, config: KILL_CONFIG });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '80' }, takeProfit: { limitPrice: '200' } });
    await r.open({ ticker: 'MSFT', action: 'buy', price: '100', stopLoss: { stopPrice: '40' }, takeProfit: { limitPrice: '200' } });
    await r.manager.tick(); // the day's base: 1,000,000 of equity
    expect(r.ctx.accountState.get('paper')?.dayStartEquity?.toFixed()).toBe('1000000');

    await r.paper.updatePrice('AAPL', '80');
    await r.paper.updatePrice('MSFT', '70.01');
    await r.manager.tick(); // AAPL's stop realizes −20,000; MSFT is −29,990 unrealized: 49,990 is 4.999 %
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['stop_loss', '-20000']]);
    expect(r.ctx.accountState.get('paper')?.halted ?? false).toBe(false);
    expect(openOf(r, 'MSFT')?.status).toBe('open');

    await r.paper.updatePrice('MSFT', '70');
    await r.manager.tick(); // −20,000 − 30,000: exactly 5 %
    expect(closedOf(r, 'MSFT').map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['kill_switch', '70', '-30000']]);
    const today = tradingDay(r.ctx.now(), 'UTC');
    expect(r.ctx.accountState.get('paper')).toMatchObject({ halted: true, haltedUntilDay: nextTradingDay(today), haltedReason: expect.stringMatching(/^kill_switch: day loss 50000 is 5%/) });
    expect(r.logs.filter((l) => l.event === 'kill_switch.tripped')).toHaveLength(1);
    expect(await r.paper.positions()).toEqual([]);
    const refused = await r.executor.execute(r.h.job({ ticker: 'NVDA', action: 'buy', sentiment: 'long', price: '100' }));
    expect(refused?.status).toBe('halted');
  });

  it("counts a position its tick closed once, as realized: a target's profit no longer offsets the day loss twice", async () => {
    r = await rig({ emulated: true, killSwitch: true, config: KILL_CONFIG });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '80' }, takeProfit: { limitPrice: '110' } });
    await r.open({ ticker: 'MSFT', action: 'buy', price: '100', stopLoss: { stopPrice: '30' }, takeProfit: { limitPrice: '200' } });
    await r.manager.tick(); // the day's base: 1,000,000 of equity
    await r.paper.updatePrice('AAPL', '110');
    await r.paper.updatePrice('MSFT', '40');
    // AAPL's target realizes +10,000; MSFT is −60,000 unrealized: a day loss of 50,000, exactly 5 %. Counting AAPL's
    // profit a second time, as unrealized at its last mark, would make it 40,000 and miss the trip.
    await r.manager.tick();
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['take_profit', '10000']]);
    expect(closedOf(r, 'MSFT').map((c) => [c.exitReason, c.exitPrice.toFixed(), c.realizedPnl.toFixed()])).toEqual([['kill_switch', '40', '-60000']]);
    expect(r.ctx.accountState.get('paper')?.halted).toBe(true);
  });

  it('the halt survives a restart (new connection, manager and kill switch over the same journal) and lifts on the next day, from a new base', async () => {
    r = await rig({ emulated: true, killSwitch: true, config: KILL_CONFIG });
    await r.open({ action: 'buy', price: '100', stopLoss: { stopPrice: '40' }, takeProfit: { limitPrice: '200' } });
    await r.manager.tick();
    await r.paper.updatePrice('AAPL', '95');
    await r.manager.tick();
    expect(r.ctx.accountState.get('paper')?.halted ?? false).toBe(false); // −5,000: 0.5 %
    await r.paper.updatePrice('AAPL', '49.5');
    await r.manager.tick(); // −50,500: 5.05 %
    expect(closedOf(r).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['kill_switch', '-50500']]);
    await r.manager.stop();

    const second = restarted(r);
    try {
      await second.manager.tick();
      const today = tradingDay(second.ctx.now(), 'UTC');
      expect(second.ctx.accountState.isHalted('paper', today)).toBe(true);
      expect(second.logs.filter((l) => l.event === 'kill_switch.tripped')).toEqual([]); // the standing halt is not tripped again
      const refused = await second.executor.execute(r.h.job({ ticker: 'NVDA', action: 'buy', sentiment: 'long', price: '100' }));
      expect(refused?.status).toBe('halted');

      r.advance(24 * 3600 * 1000);
      await second.manager.tick();
      const tomorrow = tradingDay(second.ctx.now(), 'UTC');
      expect(tomorrow).toBe(nextTradingDay(today));
      expect(second.ctx.accountState.isHalted('paper', tomorrow)).toBe(false);
      expect(second.ctx.accountState.get('paper')).toMatchObject({ tradingDay: tomorrow });
      expect(second.ctx.accountState.get('paper')?.dayStartEquity?.toFixed()).toBe('949500'); // 1,000,000 − 50,500
      await r.paper.updatePrice('NVDA', '100');
      const next = await second.executor.execute(r.h.job({ ticker: 'NVDA', action: 'buy', sentiment: 'long', price: '100' }, { receivedAt: second.ctx.now() }));
      expect(next).toEqual({ status: 'executed' });
    } finally {
      await second.manager.stop();
      second.db.close();
    }
  });
});
