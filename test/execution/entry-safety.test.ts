// The executor's last checks before an entry leaves: the halt read again, the quote's age, sizing with the account's
// expected slippage, and a reversal that could not open its short saying so.
import { afterEach, describe, expect, it } from 'vitest';
import type { Quote } from '../../src/domain/order.ts';
import { Decimal } from '../../src/domain/money.ts';
import { idFor } from '../../src/execution/position-actions.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

const config = (account: string, strategy: string) => `
accounts:
  paper:
    broker: paper
${account}
strategies:
  default:
    account: paper
${strategy}
`;

describe('risk sizing at the executor', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it("sizes with the account's expected slippage: 1000 at risk from 50 to a stop at 48, slipping 0.5 %, is 444 shares", async () => {
    h = await createHarness({ configText: config('    slippagePercent: 0\n    sizing: { expectedSlippagePercent: 0.5 }', '    sizing: { mode: risk_dollar_amount, value: 1000 }') });
    await h.paper.updatePrice('AAPL', '50');
    const outcome = await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '50', stopLoss: { stopPrice: '48' } }));
    expect(outcome).toEqual({ status: 'executed' });
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('444');
  });

  it("a paper account without the setting reckons with its own slippagePercent", async () => {
    h = await createHarness({ configText: config('    slippagePercent: 1', '    sizing: { mode: risk_dollar_amount, value: 1000 }') });
    await h.paper.updatePrice('AAPL', '50');
    await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '50', stopLoss: { stopPrice: '48' } }));
    // |50.5 − 48| = 2.5 → 400
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('400');
  });
});

describe('the quote an entry is sized from', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  /** A venue whose quotes for AAPL are served from `answers` in turn (the last one repeated), each `age` seconds old. */
  async function quoting(answers: Array<{ last: string; ageSeconds: number }>) {
    const calls: Date[] = [];
    const harness = await createHarness({
      configText: config('    slippagePercent: 0', '    sizing: { mode: dollar_amount, value: 1000 }\n    stopLoss: { percent: 2 }'),
      wrap: (paper) => overriding(paper, {
        quotes: async (symbols: string[]) => {
          const answer = answers[Math.min(calls.length, answers.length - 1)] ?? { last: '50', ageSeconds: 0 };
          calls.push(new Date());
          const quote: Quote = { symbol: 'AAPL', last: new Decimal(answer.last), time: new Date(Date.now() - answer.ageSeconds * 1000) };
          return new Map(symbols.filter((s) => s === 'AAPL').map((s) => [s, quote]));
        },
      }),
    });
    await harness.paper.updatePrice('AAPL', '50');
    return { harness, calls };
  }
  const NO_PRICE = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long' };

  it('a quote older than execution.maxQuoteAgeSeconds (10 s) is fetched again, and the entry refused as stale_quote when it stays old', async () => {
    const { harness, calls } = await quoting([{ last: '40', ageSeconds: 60 }]);
    h = harness;
    const outcome = await h.executor.execute(h.job(NO_PRICE));
    expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^stale_quote: the last quote for AAPL is 60 s old/) });
    expect(calls).toHaveLength(2);
    expect(await h.paper.openOrders()).toEqual([]);
    expect(await h.paper.positions()).toEqual([]);
    expect(h.ctx.orders.openOrders('paper')).toEqual([]);
  });

  it('a stale quote fetched again and found fresh sizes from the fresh price: 1000 at 50 is 20 shares, not 25 at the stale 40', async () => {
    const { harness, calls } = await quoting([{ last: '40', ageSeconds: 30 }, { last: '50', ageSeconds: 1 }]);
    h = harness;
    expect(await h.executor.execute(h.job(NO_PRICE))).toEqual({ status: 'executed' });
    expect(calls).toHaveLength(2);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('20');
  });

  it('a fresh quote is used at once', async () => {
    const { harness, calls } = await quoting([{ last: '50', ageSeconds: 2 }]);
    h = harness;
    expect(await h.executor.execute(h.job(NO_PRICE))).toEqual({ status: 'executed' });
    expect(calls).toHaveLength(1);
    expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('20');
  });
});

describe('a reversal the strategy cannot complete', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('with shorts off, a sell short on a long closes it and the signal says the short was skipped', async () => {
    h = await createHarness({ configText: config('    slippagePercent: 0', '    allowShorts: false\n    allowReversal: true\n    sizing: { mode: fixed_quantity, value: 10 }') });
    await h.paper.updatePrice('AAPL', '100');
    expect(await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' }))).toEqual({ status: 'executed' });

    const job = h.job({ ticker: 'NASDAQ:AAPL', action: 'sell', sentiment: 'short', price: '101' });
    const outcome = await h.executor.execute(job);
    expect(outcome).toEqual({ status: 'executed', reason: expect.stringMatching(/^reversal_skipped:shorts_disabled: /) });
    expect(h.ctx.signals.findById(job.signalId)).toMatchObject({ status: 'executed', reason: expect.stringMatching(/^reversal_skipped:shorts_disabled: the long was closed; no short opened/) });
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect(await h.paper.positions()).toEqual([]);
  });

  it('a sell flat on a long is a plain close: no note', async () => {
    h = await createHarness({ configText: config('    slippagePercent: 0', '    allowShorts: false\n    allowReversal: true\n    sizing: { mode: fixed_quantity, value: 10 }') });
    await h.paper.updatePrice('AAPL', '100');
    await h.executor.execute(h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' }));
    const job = h.job({ ticker: 'NASDAQ:AAPL', action: 'sell', sentiment: 'flat', price: '101' });
    expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
    expect(h.ctx.signals.findById(job.signalId)).toMatchObject({ status: 'executed', reason: undefined });
  });
});

describe('the halt at an entry an earlier attempt journalled', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('a re-run finding its entry intent unsent while the account is halted never sends it: the intent is rejected, the signal halted', async () => {
    h = await createHarness();
    await h.paper.updatePrice('AAPL', '100');
    const job = h.job({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' });
    // The earlier attempt journalled its entry and died before the broker heard of it; the kill switch tripped since.
    h.ctx.signals.insert({ signalId: job.signalId, strategy: 'default', ticker: 'NASDAQ:AAPL', symbol: 'AAPL', action: 'buy', sentiment: 'long',
      payload: job.rawPayload, receivedAt: new Date(job.receivedAt), status: 'queued', contentHash: job.contentHash });
    const { execution } = h.ctx.executions.createOrGet({ signalId: job.signalId, account: 'paper', strategy: 'default' });
    const entryId = idFor(h.paper, { source: job.signalId, account: 'paper', leg: 'entry' });
    h.ctx.orders.recordIntent({ clientOrderId: entryId, account: 'paper', strategy: 'default', symbol: 'AAPL', side: 'buy', leg: 'entry', type: 'market',
      quantity: new Decimal('10'), signalId: job.signalId, executionId: execution.id });
    h.ctx.accountState.halt('paper', 'kill_switch: test');

    const outcome = await h.executor.execute(job);
    expect(outcome).toEqual({ status: 'halted', reason: 'halted: kill_switch: test' });
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('halted');
    expect(h.ctx.orders.findByClientOrderId(entryId)).toMatchObject({ status: 'rejected', reason: 'halted: kill_switch: test' });
    expect(await h.paper.getOrder({ clientOrderId: entryId, symbol: 'AAPL' })).toBeUndefined();
    expect(await h.paper.positions()).toEqual([]);
  });
});
