// The executor's last checks before an entry leaves: the halt read again, the quote's age, sizing with the account's
// expected slippage, and a reversal that could not open its short saying so.
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

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
