import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/brokers/broker.ts';
import { PAPER_CAPABILITIES } from '../../src/brokers/paper/paper-broker.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { Decimal } from '../../src/domain/money.ts';
import { tradingDay } from '../../src/domain/trading-day.ts';
import { dayLoss, KillSwitch, nextTradingDay, unrealizedPnl } from '../../src/portfolio/kill-switch.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { openDatabase } from '../../src/store/db.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const d = (text: string) => new Decimal(text);

const CONFIG = (flatten = true) => `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
    killSwitch: { maxDailyLossPercent: 5, flatten: ${flatten} }
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 500 }
    stopLoss: { percent: 15 }
    takeProfit: { percent: 50 }
`;
const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };
const marks = (price: string) => new Map([['AAPL', d(price)]]);

describe('the threshold math', () => {
  const base = { dayStartEquity: d('100000'), maxDailyLossPercent: d('5') };

  it('reaches the limit at exactly the percentage, realized and unrealized together', () => {
    const at = dayLoss({ ...base, realizedPnl: d('-2000'), unrealizedPnl: d('-3000') });
    expect([at.loss.toFixed(), at.lossPercent.toFixed(), at.reached]).toEqual(['5000', '5', true]);
    const under = dayLoss({ ...base, realizedPnl: d('-2000'), unrealizedPnl: d('-2999.99') });
    expect([under.lossPercent.toFixed(), under.reached]).toEqual(['4.99999', false]);
  });

  it('is exact where floating point is not', () => {
    // 0.1 + 0.2 in floats is 0.30000000000000004: as a percent of 6 it would land just above 5.
    const r = dayLoss({ dayStartEquity: d('6'), realizedPnl: d('-0.1'), unrealizedPnl: d('-0.2'), maxDailyLossPercent: d('5') });
    expect([r.lossPercent.toFixed(), r.reached]).toEqual(['5', true]);
    const third = dayLoss({ dayStartEquity: d('300000'), realizedPnl: d('-14999.999999'), unrealizedPnl: d('0'), maxDailyLossPercent: d('5') });
    expect(third.reached).toBe(false);
  });

  it('a winning day never trips, and gains offset losses', () => {
    expect(dayLoss({ ...base, realizedPnl: d('10000'), unrealizedPnl: d('-5000') }).reached).toBe(false);
    expect(dayLoss({ ...base, realizedPnl: d('0'), unrealizedPnl: d('0') }).reached).toBe(false);
  });

  it('unrealized P&L is signed by side, and the next trading day crosses months and leap days', () => {
    expect(unrealizedPnl({ side: 'long', quantity: d('10'), averageEntryPrice: d('100') }, d('95')).toFixed()).toBe('-50');
    expect(unrealizedPnl({ side: 'short', quantity: d('10'), averageEntryPrice: d('100') }, d('95')).toFixed()).toBe('50');
    expect(nextTradingDay('2026-12-31')).toBe('2027-01-01');
    expect(nextTradingDay('2028-02-28')).toBe('2028-02-29');
  });
});

describe('the kill switch at an account', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  async function openLong(harness: Harness) {
    expect(await harness.executor.execute(harness.job(BUY))).toEqual({ status: 'executed' });
  }

  it('counts only the move since the day began for a position held overnight: the gain it brought neither hides a loss nor counts twice', async () => {
    h = await createHarness({ configText: CONFIG() });
    const ks = new KillSwitch(h.ctx);
    await openLong(h); // 500 AAPL at 100
    const today = new Date();
    expect((await ks.evaluate('paper', { now: today, marks: marks('100') })).reached).toBe(false);

    // Overnight AAPL rose to 110: the next day starts with 5,000 of unrealized gain already in its equity (105,000).
    const tomorrow = new Date(today.getTime() + 24 * 3600_000);
    await h.paper.updatePrice('AAPL', '110');
    const start = await ks.evaluate('paper', { now: tomorrow, marks: marks('110') });
    expect([start.dayStartEquity.toFixed(), start.unrealizedPnl.toFixed(), start.loss.toFixed(), start.reached]).toEqual(['105000', '0', '0', false]);
    expect(h.ctx.accountState.get('paper')?.dayStartUnrealized?.toFixed()).toBe('5000');

    // Down to 99.5: from its entry the position is only 250 under water, but today it lost 5,250, 5 % of 105,000.
    await h.paper.updatePrice('AAPL', '99.5');
    const tripped = await ks.evaluate('paper', { now: new Date(tomorrow.getTime() + 60_000), marks: marks('99.5') });
    expect([tripped.unrealizedPnl.toFixed(), tripped.loss.toFixed(), tripped.lossPercent.toFixed(), tripped.tripped]).toEqual(['-5250', '5250', '5', true]);
    expect(tripped.closed).toEqual(['AAPL']);
    // The trade itself, from its entry: -250.
    expect(h.ctx.positions.listClosed({}).map((c) => [c.exitReason, c.realizedPnl.toFixed()])).toEqual([['kill_switch', '-250']]);
  });

  it('trips mid-day when the unrealized loss crosses 5%: flattens, cancels resting entries, halts; calling it again changes nothing', async () => {
    h = await createHarness({ configText: CONFIG() });
    const ks = new KillSwitch(h.ctx);
    await openLong(h);
    await h.paper.updatePrice('MSFT', '50');
    await h.ctx.tracker.place(h.paper, { clientOrderId: 'tw-en-resting1', account: 'paper', strategy: 'default', symbol: 'MSFT', side: 'buy', leg: 'entry', type: 'limit', quantity: d('1'), limitPrice: d('10') });

    const first = await ks.evaluate('paper', { marks: marks('100') });
    expect(first.dayStartEquity.toFixed()).toBe('100000');
    expect(first.reached).toBe(false);

    await h.paper.updatePrice('AAPL', '91');
    const near = await ks.evaluate('paper', { marks: marks('91') });
    expect([near.lossPercent.toFixed(), near.reached, near.halted]).toEqual(['4.5', false, false]);

    await h.paper.updatePrice('AAPL', '89.5');
    const tripped = await ks.evaluate('paper', { marks: marks('89.5') });
    expect([tripped.lossPercent.toFixed(), tripped.reached, tripped.tripped, tripped.halted]).toEqual(['5.25', true, true, true]);
    expect(tripped.closed).toEqual(['AAPL']);
    expect(tripped.cancelledEntries).toEqual(['tw-en-resting1']);

    const day = tradingDay(new Date(), 'UTC');
    const [closed] = h.ctx.positions.closedOnDay('paper', day);
    expect([closed?.exitReason, closed?.exitPrice.toFixed(), closed?.realizedPnl.toFixed()]).toEqual(['kill_switch', '89.5', '-5250']);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders()).toEqual([]);
    expect(h.ctx.accountState.get('paper')).toMatchObject({ halted: true, haltedUntilDay: nextTradingDay(day), haltedReason: expect.stringMatching(/^kill_switch: day loss 5250/) });

    // Every tick calls it: no second close, no new order, still halted.
    const ordersBefore = h.ctx.orders.openOrders('paper').length;
    const again = await ks.evaluate('paper', { marks: marks('89.5') });
    expect([again.tripped, again.halted, again.closed, again.realizedPnl.toFixed()]).toEqual([false, true, [], '-5250']);
    expect(h.ctx.orders.openOrders('paper')).toHaveLength(ordersBefore);

    // New entries are refused while halted.
    const refused = await h.executor.execute(h.job({ ...BUY, price: '89.5' })); // another body: the same one would be a duplicate
    expect(refused?.status).toBe('halted');
  });

  it('the halt survives a restart and lifts on the next trading day, which starts from a fresh base', async () => {
    h = await createHarness({ configText: CONFIG() });
    const ks = new KillSwitch(h.ctx);
    await openLong(h);
    await ks.evaluate('paper', { marks: marks('100') });
    await h.paper.updatePrice('AAPL', '89');
    expect((await ks.evaluate('paper', { marks: marks('89') })).tripped).toBe(true);

    const today = tradingDay(new Date(), 'UTC');
    const reopened = openDatabase(h.db.name);
    try {
      const state = new AccountStateRepo(reopened);
      expect(state.isHalted('paper', today)).toBe(true);
      expect(state.isHalted('paper', nextTradingDay(today))).toBe(false);
    } finally {
      reopened.close();
    }

    const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
    const next = await ks.evaluate('paper', { now: tomorrow, marks: new Map() });
    expect(next.tradingDay).toBe(nextTradingDay(today));
    expect([next.halted, next.tripped, next.realizedPnl.toFixed()]).toEqual([false, false, '0']);
    expect(next.dayStartEquity.toFixed()).toBe('94500'); // 100000 − 5500 lost yesterday
    expect(h.ctx.accountState.get('paper')?.tradingDay).toBe(nextTradingDay(today));
  });

  it('after a resume by hand the same day it does not trip again that day', async () => {
    h = await createHarness({ configText: CONFIG() });
    const ks = new KillSwitch(h.ctx);
    await openLong(h);
    await ks.evaluate('paper', { marks: marks('100') });
    await h.paper.updatePrice('AAPL', '89');
    expect((await ks.evaluate('paper', { marks: marks('89') })).tripped).toBe(true);
    h.ctx.accountState.resume('paper');
    const after = await ks.evaluate('paper', { marks: marks('89') });
    expect([after.reached, after.tripped, after.halted]).toEqual([true, false, false]);
  });

  it('with flatten off it halts and leaves the positions as they are', async () => {
    h = await createHarness({ configText: CONFIG(false) });
    const ks = new KillSwitch(h.ctx);
    await openLong(h);
    await ks.evaluate('paper', { marks: marks('100') });
    await h.paper.updatePrice('AAPL', '89');
    const result = await ks.evaluate('paper', { marks: marks('89') });
    expect([result.tripped, result.halted, result.closed]).toEqual([true, true, []]);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.status).toBe('open');
  });

  it('a halt by hand without an end day is not shortened to the kill switch\'s day', async () => {
    h = await createHarness({ configText: CONFIG(false) });
    const ks = new KillSwitch(h.ctx);
    await openLong(h);
    await ks.evaluate('paper', { marks: marks('100') });
    h.ctx.accountState.halt('paper', 'manual');
    await h.paper.updatePrice('AAPL', '89');
    await ks.evaluate('paper', { marks: marks('89') });
    expect(h.ctx.accountState.get('paper')).toMatchObject({ halted: true, haltedReason: 'manual', haltedUntilDay: undefined });
  });
});

describe("the position loop's screen (watch)", () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('answers a day clearly short of the limit without the exact evaluation, and hands one at the limit to it even when the doubles fall a hair short', async () => {
    h = await createHarness({ configText: CONFIG() });
    const ks = new KillSwitch(h.ctx);
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' }); // 500 AAPL @ 100, equity 100,000
    const held = () => h?.ctx.positions.listOpen('paper') ?? [];
    const input = (price: string, unrealized: number) => ({ estimate: { unrealized, magnitude: 500 * (Number(price) + 100) }, positions: held, marks: () => marks(price), generation: 1 });

    const first = await ks.watch('paper', input('100', 0)); // a new day: its base is taken, exactly
    expect(first?.dayStartEquity.toFixed()).toBe('100000');
    expect(await ks.watch('paper', input('96', -2000))).toBeUndefined(); // 2 %: the screen answers

    // At 90 the loss is exactly 5,000 (5 %); the loop's doubles may say 4,999.9999999. The screen's slack sends it to the exact check.
    await h.paper.updatePrice('AAPL', '90');
    const atLimit = await ks.watch('paper', input('90', -4999.9999999));
    expect([atLimit?.lossPercent.toFixed(), atLimit?.reached, atLimit?.tripped]).toEqual(['5', true, true]);
    expect(h.ctx.accountState.isHalted('paper', tradingDay(new Date(), 'UTC'))).toBe(true);
  });
});

/** A door a test holds shut: `reached` resolves when code arrives at it, which then waits until the test opens it. */
function door() {
  let arrive!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => { arrive = resolve; });
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { reached, open, pass: async () => { arrive(); await opened; } };
}

describe('the kill switch against entries already on their way', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });
  const MSFT = { ticker: 'NASDAQ:MSFT', action: 'buy', sentiment: 'long', price: '50' };

  /** Opens 500 AAPL at 100, marks the day's base, then sends the MSFT entry (held at `held`) without waiting for it. */
  async function tripWhileHeld(harness: Harness, ks: KillSwitch, held: ReturnType<typeof door>) {
    expect(await harness.executor.execute(harness.job(BUY))).toEqual({ status: 'executed' });
    await harness.paper.updatePrice('MSFT', '50');
    await ks.evaluate('paper', { marks: marks('100') });
    const job = harness.job(MSFT);
    const entry = harness.executor.execute(job);
    await held.reached; // the MSFT job has passed its risk check
    await harness.paper.updatePrice('AAPL', '89');
    const tripping = ks.evaluate('paper', { marks: marks('89') });
    // The door opens once the halt is in the journal, whatever else the kill switch is still doing.
    const day = tradingDay(new Date(), 'UTC');
    while (!harness.ctx.accountState.isHalted('paper', day)) await new Promise((r) => setTimeout(r, 2));
    held.open();
    const [outcome, evaluation] = await Promise.all([entry, tripping]);
    return { job, outcome, evaluation };
  }

  it('a job past its risk check, held just before its entry leaves, meets the halt: nothing reaches the broker and the signal is halted', async () => {
    const held = door();
    const placed: OrderRequest[] = [];
    h = await createHarness({
      configText: CONFIG(),
      wrap: (paper) => overriding(paper, {
        capabilities: { ...PAPER_CAPABILITIES, marginPreview: true },
        // The last await between the risk check and the entry: the margin preview.
        marginImpact: async (request: OrderRequest) => {
          if (request.symbol === 'MSFT') await held.pass();
          return { initialMargin: d('0'), leverage: d('1'), availableMargin: d('1000000') };
        },
        placeOrder: async (request: OrderRequest) => { placed.push(request); return paper.placeOrder(request); },
      } as Partial<Broker>),
    });
    const ks = new KillSwitch(h.ctx, { fillTimeoutMs: 2000 });
    const { job, outcome, evaluation } = await tripWhileHeld(h, ks, held);

    expect(evaluation.tripped).toBe(true);
    expect(outcome).toMatchObject({ status: 'halted', reason: expect.stringMatching(/^halted: kill_switch: day loss/) });
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('halted');
    expect(placed.filter((r) => r.symbol === 'MSFT')).toEqual([]);
    expect(h.ctx.orders.ordersForSignal(job.signalId)).toEqual([]);
    expect(await h.paper.positions()).toEqual([]);
  });

  it('an entry whose broker call is in flight when it trips is waited for, and what it filled is flattened with the rest', async () => {
    const held = door();
    h = await createHarness({
      configText: CONFIG(),
      wrap: (paper) => overriding(paper, {
        placeOrder: async (request: OrderRequest) => {
          if (request.symbol === 'MSFT' && request.leg === 'entry') await held.pass();
          return paper.placeOrder(request);
        },
      } as Partial<Broker>),
    });
    const ks = new KillSwitch(h.ctx, { fillTimeoutMs: 2000 });
    const { evaluation } = await tripWhileHeld(h, ks, held);

    expect(evaluation.tripped).toBe(true);
    expect([...evaluation.closed].sort()).toEqual(['AAPL', 'MSFT']);
    expect(await h.paper.positions()).toEqual([]);
    expect(await h.paper.openOrders()).toEqual([]);
    expect(h.ctx.positions.listOpen('paper')).toEqual([]);
    expect(h.ctx.positions.listClosed({}).map((c) => [c.symbol, c.exitReason]).sort()).toEqual([['AAPL', 'kill_switch'], ['MSFT', 'kill_switch']]);
  });
});

describe('the kill switch and a resting entry that filled unseen', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('a limit entry that filled at the broker before anyone booked it is booked and closed with the rest, not left held', async () => {
    h = await createHarness({ configText: CONFIG() });
    const ks = new KillSwitch(h.ctx, { fillTimeoutMs: 2000 });
    expect(await h.executor.execute(h.job(BUY))).toEqual({ status: 'executed' }); // 500 AAPL at 100
    await h.paper.updatePrice('MSFT', '51');
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:MSFT', action: 'buy', sentiment: 'long', price: '51', orderType: 'limit', limitPrice: '50' })))
      .toEqual({ status: 'executed' });
    await ks.evaluate('paper', { marks: new Map([['AAPL', d('100')], ['MSFT', d('51')]]) });
    await h.paper.updatePrice('MSFT', '49.9'); // the limit fills at the venue; the journal still says it rests
    expect((await h.paper.positions()).map((p) => p.symbol).sort()).toEqual(['AAPL', 'MSFT']);

    await h.paper.updatePrice('AAPL', '89');
    const tripped = await ks.evaluate('paper', { marks: new Map([['AAPL', d('89')], ['MSFT', d('49.9')]]) });
    expect(tripped.tripped).toBe(true);
    expect([...tripped.closed].sort()).toEqual(['AAPL', 'MSFT']);
    expect(await h.paper.positions()).toEqual([]);
    expect(h.ctx.positions.listClosed({}).map((c) => [c.symbol, c.quantity.toFixed(), c.exitReason]).sort())
      .toEqual([['AAPL', '500', 'kill_switch'], ['MSFT', '500', 'kill_switch']]);
  });
});
