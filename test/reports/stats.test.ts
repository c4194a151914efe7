// The report math, checked against hand-computed values: win rate, P&L, profit factor, drawdown, fill rate, slippage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { cents, percent, ratio, statsTable, tradesCsv } from '../../src/reports/format.ts';
import { alertPriceOf, loadEntries, loadTrades, sinceDays } from '../../src/reports/journal.ts';
import { ALL, computeStats, entrySlippage, maxDrawdown } from '../../src/reports/stats.ts';
import { seedJournal, type SeededJournal } from '../cli/seed.ts';
import { tempDir } from '../helpers/env.ts';

const d = (text: string) => new Decimal(text);

describe('maxDrawdown', () => {
  it('is the deepest fall from a running peak of the cumulative P&L, the curve starting at 0', () => {
    expect(maxDrawdown([d('40'), d('-20'), d('-30'), d('20')]).toFixed()).toBe('50');   // 40 → 20 → −10 → 10
    expect(maxDrawdown([d('-5'), d('-5'), d('30')]).toFixed()).toBe('10');              // from the 0 start
    expect(maxDrawdown([d('1'), d('2'), d('3')]).toFixed()).toBe('0');
    expect(maxDrawdown([]).toFixed()).toBe('0');
    expect(maxDrawdown([d('0.1'), d('0.2'), d('-0.3')]).toFixed()).toBe('0.3');        // exact, no float dust
  });
});

describe('entrySlippage', () => {
  const entry = (side: 'buy' | 'sell', alert: string, fill: string) => ({
    clientOrderId: 'x', account: 'paper', strategy: 's', symbol: 'X', side, status: 'filled', quantity: d('1'), filledQuantity: d('1'),
    averageFillPrice: d(fill), alertPrice: d(alert), createdAt: '',
  });
  it('is positive when the fill is worse for the trader: paying more on a buy, getting less on a sell', () => {
    expect(entrySlippage(entry('buy', '100', '100.10'))?.pct.toFixed()).toBe('0.1');
    expect(entrySlippage(entry('buy', '100', '99.95'))?.pct.toFixed()).toBe('-0.05');
    expect(entrySlippage(entry('sell', '250', '249.5'))?.pct.toFixed()).toBe('0.2');
    expect(entrySlippage(entry('sell', '250', '250.5'))?.perUnit.toFixed()).toBe('-0.5');
  });
  it('needs an alert price and a fill', () => {
    expect(entrySlippage({ ...entry('buy', '100', '100'), alertPrice: undefined })).toBeUndefined();
    expect(entrySlippage({ ...entry('buy', '100', '100'), filledQuantity: d('0'), averageFillPrice: undefined })).toBeUndefined();
  });
});

describe('alertPriceOf', () => {
  it('reads price or signalPrice from the journalled payload, as text or a safe integer', () => {
    expect(alertPriceOf('{"price":"187.25"}')?.toFixed()).toBe('187.25');
    expect(alertPriceOf('{"signalPrice":"0.000123"}')?.toFixed()).toBe('0.000123');
    expect(alertPriceOf('{"price":250}')?.toFixed()).toBe('250');
    expect(alertPriceOf('{"price":"{{close}}"}')).toBeUndefined();
    expect(alertPriceOf('{"ticker":"X"}')).toBeUndefined();
    expect(alertPriceOf('not json')).toBeUndefined();
    expect(alertPriceOf(null)).toBeUndefined();
  });
});

describe('computeStats over a seeded journal', () => {
  let seeded: SeededJournal;
  const dir = tempDir('tw-reports');
  beforeAll(() => { seeded = seedJournal(dir.path); });
  afterAll(() => { seeded.db.close(); dir.cleanup(); });

  it('gives one row per strategy and a total, each exact', () => {
    const stats = computeStats(loadTrades(seeded.db), loadEntries(seeded.db));
    expect(stats.map((s) => s.strategy)).toEqual(['alpha', 'beta', ALL]);
    const [alpha, beta, all] = stats;
    // alpha: +40 −20 −30 +20
    expect(alpha?.trades).toBe(4);
    expect(alpha?.winRatePct?.toFixed()).toBe('50');
    expect(alpha?.totalPnl.toFixed()).toBe('10');
    expect(alpha?.avgPnl?.toFixed()).toBe('2.5');
    expect(alpha?.grossWin.toFixed()).toBe('60');
    expect(alpha?.grossLoss.toFixed()).toBe('50');
    expect(alpha?.profitFactor?.toFixed()).toBe('1.2');
    expect(alpha?.maxDrawdown.toFixed()).toBe('50');
    // 4 filled + 1 rejected decided; the working limit is left out
    expect([alpha?.filledEntries, alpha?.entryOrders]).toEqual([4, 5]);
    expect(alpha?.fillRatePct?.toFixed()).toBe('80');
    // (+0.1 − 0.05 + 0.2) / 3, the entry without an alert price left out; cost 10×0.1 − 5×0.1 + 2×0.5
    expect(alpha?.slippageSamples).toBe(3);
    expect(alpha?.avgSlippagePct?.toDecimalPlaces(10).toFixed()).toBe('0.0833333333');
    expect(alpha?.slippageCost.toFixed()).toBe('1.5');
    // beta: one win, no loss
    expect(beta?.trades).toBe(1);
    expect(beta?.profitFactor).toBeUndefined();
    expect(beta?.fees.toFixed()).toBe('0.25');
    expect(beta?.maxDrawdown.toFixed()).toBe('0');
    expect(beta?.avgSlippagePct?.toFixed()).toBe('0.05');
    expect(beta?.slippageCost.toFixed()).toBe('10');
    // all, in close order: 40, 20, 69.75, 39.75, 59.75
    expect(all?.trades).toBe(5);
    expect(all?.winRatePct?.toFixed()).toBe('60');
    expect(all?.totalPnl.toFixed()).toBe('59.75');
    expect(all?.avgPnl?.toFixed()).toBe('11.95');
    expect(all?.profitFactor?.toFixed()).toBe('2.195');
    expect(all?.maxDrawdown.toFixed()).toBe('30');
    expect(all?.fillRatePct?.toFixed(4)).toBe('83.3333');
  });

  it('formats for people: cents and percents rounded half up, profit factor inf without a loss', () => {
    const rows = statsTable(computeStats(loadTrades(seeded.db), loadEntries(seeded.db))).rows;
    expect(rows[0]).toEqual(['alpha', '4', '50.00%', '10.00', '2.50', '1.20', '50.00', '80.00% (4/5)', '0.08%', '-']);
    expect(rows[1]).toEqual(['beta', '1', '100.00%', '49.75', '49.75', 'inf', '0.00', '100.00% (1/1)', '0.05%', '-']);
    expect(rows[2]).toEqual([ALL, '5', '60.00%', '59.75', '11.95', '2.20', '30.00', '83.33% (5/6)', '0.08%', '-']);
  });

  it('a window in days keeps only what closed (or was placed) inside it', () => {
    const since = sinceDays(5, seeded.now);
    const trades = loadTrades(seeded.db, { since });
    expect(trades.map((t) => t.realizedPnl.toFixed())).toEqual(['-20', '49.75', '-30', '20']);
    const [alpha] = computeStats(trades, loadEntries(seeded.db, { since }));
    expect(alpha?.maxDrawdown.toFixed()).toBe('50');
    expect([alpha?.filledEntries, alpha?.entryOrders]).toEqual([3, 4]);
    expect(loadTrades(seeded.db, { strategy: 'beta' })).toHaveLength(1);
  });

  it('the CSV keeps exact values', () => {
    const lines = tradesCsv(loadTrades(seeded.db));
    expect(lines[0]).toBe('id,position_id,account,strategy,symbol,side,quantity,entry_price,exit_price,realized_pnl,realized_pnl_pct,fees,exit_reason,opened_at,closed_at,trading_day');
    expect(lines).toHaveLength(6);
    expect(lines[3]).toContain(',beta,BTCUSDT,long,0.5,40000,40100,49.75,0.24875,0.25,signal,');
  });
});

describe('display rounding', () => {
  it('rounds half away from zero and never shows -0.00', () => {
    expect(cents(d('2.005'))).toBe('2.01');
    expect(cents(d('-2.005'))).toBe('-2.01');
    expect(cents(d('-0.001'))).toBe('0.00');
    expect(percent(d('0.0833333'))).toBe('0.08%');
    expect(percent(undefined)).toBe('-');
    expect(ratio(d('2.195'))).toBe('2.20');
  });
});
