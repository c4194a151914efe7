// P&L in R: a scaled-out trade counts once in the expectancy; each partial exit counts under its own reason.
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { exitReasonTable, rMultipleText } from '../../src/reports/format.ts';
import type { TradeRecord } from '../../src/reports/journal.ts';
import { ALL, computeStats, exitReasonStats, partR, tradeRs } from '../../src/reports/stats.ts';

const d = (text: string) => new Decimal(text);

let nextId = 1;
function part(positionId: string, quantity: string, exit: string, reason: string, initialStop: string | null = '98'): TradeRecord {
  const pnl = d(exit).minus(d('100')).mul(d(quantity));
  return {
    id: nextId++, positionId, account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'long', quantity: d(quantity), entryPrice: d('100'),
    exitPrice: d(exit), realizedPnl: pnl, fees: d('0'), exitReason: reason, openedAt: '', closedAt: '', tradingDay: '2026-12-05',
    initialStop: initialStop === null ? undefined : d(initialStop),
  };
}

// P1 scaled out: 5 @ 101 (+0.5 R), 3 @ 102 (+1 R), 2 stopped at breakeven (0 R): +11 over 20 risked = +0.55 R.
// P2: stopped out whole at 98: −1 R. P3: no stop, no R.
const trades = [
  part('P1', '5', '101', 'take_profit'), part('P1', '3', '102', 'take_profit'), part('P1', '2', '100', 'stop_loss'),
  part('P2', '10', '98', 'stop_loss'), part('P3', '10', '103', 'time', null),
];

describe('P&L in R', () => {
  it('measures each part against its share of the initial risk', () => {
    expect(trades.map((t) => partR(t)?.toFixed())).toEqual(['0.5', '1', '0', '-1', undefined]);
  });

  it('gives each position one R, its parts summed, and skips trades without a stop', () => {
    expect(tradeRs(trades).map((r) => r.toFixed())).toEqual(['0.55', '-1']);
  });

  it('puts the expectancy in R in the strategy stats: (0.55 − 1) ÷ 2', () => {
    const [alpha, all] = computeStats(trades, []);
    expect(alpha?.expectancyR?.toFixed()).toBe('-0.225');
    expect(alpha?.rTrades).toBe(2);
    expect(all?.strategy).toBe(ALL);
  });

  it('gives the win rate and mean R per exit reason', () => {
    const rows = exitReasonStats(trades).map((r) => ({ reason: r.exitReason, exits: r.exits, win: r.winRatePct.toFixed(), avgR: r.avgR?.toFixed() }));
    expect(rows).toEqual([
      { reason: 'stop_loss', exits: 2, win: '0', avgR: '-0.5' },
      { reason: 'take_profit', exits: 2, win: '100', avgR: '0.75' },
      { reason: 'time', exits: 1, win: '100', avgR: undefined },
    ]);
    expect(exitReasonTable(exitReasonStats(trades)).rows[1]).toEqual(['take_profit', '2', '100.00%', '+0.75 R']);
    expect(rMultipleText(d('-0.275'))).toBe('-0.28 R');
  });
});
