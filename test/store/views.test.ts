// The views people read with sqlite3: numbers checked against a small history computed by hand.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { PositionsRepo, type ExitReason } from '../../src/store/positions-repo.ts';
import { manualClock, tempJournal, type TempJournal } from './journal-fixture.ts';

const d = (text: string) => new Decimal(text);

let journal: TempJournal;
let positions: PositionsRepo;
let seq = 0;

function trade(account: string, strategy: string, symbol: string, pnl: string, fees: string, day: string, reason: ExitReason = 'signal'): void {
  const id = `P${++seq}`;
  positions.open({ id, account, strategy, symbol, side: 'long', quantity: d('1'), averageEntryPrice: d('100'), status: 'open', tradingDay: day,
    openedAt: new Date(`${day}T14:00:00.000Z`) });
  positions.close(id, { quantity: d('1'), entryPrice: d('100'), exitPrice: d('100').plus(d(pnl)), realizedPnl: d(pnl), realizedPnlPct: d(pnl),
    fees: d(fees), exitReason: reason, tradingDay: day, closedAt: new Date(`${day}T15:00:0${seq}.000Z`) });
}

beforeEach(() => {
  seq = 0;
  const clock = manualClock();
  journal = tempJournal(clock.now);
  positions = new PositionsRepo(journal.db, { now: clock.now });
  // alpha on paper: +123.455 (fees 1.005) and -50.10 (fees 0.50) on the 5th, +10.005 (fees 0.25) on the 6th.
  trade('paper', 'alpha', 'AAPL', '123.455', '1.005', '2026-01-05', 'take_profit');
  trade('paper', 'alpha', 'MSFT', '-50.10', '0.50', '2026-01-05', 'stop_loss');
  trade('paper', 'alpha', 'AAPL', '10.005', '0.25', '2026-01-06');
  // beta on live: +9 and -100 (as text '9' > '100', so a view that compares without CAST gets these wrong).
  trade('live', 'beta', 'BTCUSDT', '9', '0', '2026-01-05');
  trade('live', 'beta', 'BTCUSDT', '-100', '0', '2026-01-05');
  positions.open({ id: 'OPEN', account: 'paper', strategy: 'alpha', symbol: 'NVDA', side: 'short', quantity: d('3'), averageEntryPrice: d('120.5'),
    status: 'open', tradingDay: '2026-01-06' });
});
afterEach(() => journal.cleanup());

describe('views', () => {
  it('v_trades shows each closed trade in closing order with pnl rounded to the cent, halves away from zero', () => {
    const rows = journal.db.prepare('SELECT strategy, symbol, realized_pnl, fees, exit_reason FROM v_trades').all();
    expect(rows).toEqual([
      { strategy: 'alpha', symbol: 'AAPL', realized_pnl: 123.46, fees: 1.01, exit_reason: 'take_profit' },
      { strategy: 'alpha', symbol: 'MSFT', realized_pnl: -50.1, fees: 0.5, exit_reason: 'stop_loss' },
      { strategy: 'beta', symbol: 'BTCUSDT', realized_pnl: 9, fees: 0, exit_reason: 'signal' },
      { strategy: 'beta', symbol: 'BTCUSDT', realized_pnl: -100, fees: 0, exit_reason: 'signal' },
      { strategy: 'alpha', symbol: 'AAPL', realized_pnl: 10.01, fees: 0.25, exit_reason: 'signal' },
    ]);
  });

  it('v_daily_pnl sums per account and trading day', () => {
    expect(journal.db.prepare('SELECT * FROM v_daily_pnl').all()).toEqual([
      { account: 'live', trading_day: '2026-01-05', trades: 2, wins: 1, realized_pnl: -91, fees: 0 },
      // 123.455 - 50.10 = 73.355 → 73.36; fees 1.005 + 0.50 = 1.505 → 1.51
      { account: 'paper', trading_day: '2026-01-05', trades: 2, wins: 1, realized_pnl: 73.36, fees: 1.51 },
      { account: 'paper', trading_day: '2026-01-06', trades: 1, wins: 1, realized_pnl: 10.01, fees: 0.25 },
    ]);
  });

  it('v_strategy_stats gives trades, wins, win rate, total and average pnl per strategy', () => {
    expect(journal.db.prepare('SELECT * FROM v_strategy_stats').all()).toEqual([
      // 123.455 - 50.10 + 10.005 = 83.36; 83.36 / 3 = 27.7866… → 27.79; 2 of 3 = 66.67 %; fees 1.755 → 1.76
      { strategy: 'alpha', trades: 3, wins: 2, win_rate_pct: 66.67, total_pnl: 83.36, avg_pnl: 27.79, fees: 1.76 },
      // 9 - 100 = -91; -91 / 2 = -45.5; 1 of 2 = 50 %
      { strategy: 'beta', trades: 2, wins: 1, win_rate_pct: 50, total_pnl: -91, avg_pnl: -45.5, fees: 0 },
    ]);
  });

  it('v_open_positions lists only the positions not closed', () => {
    expect(journal.db.prepare('SELECT id, account, symbol, side, quantity, average_entry_price, status FROM v_open_positions').all()).toEqual([
      { id: 'OPEN', account: 'paper', symbol: 'NVDA', side: 'short', quantity: '3', average_entry_price: '120.5', status: 'open' },
    ]);
  });

  it('leaves the exact values in the tables: the views round for display only', () => {
    const exact = journal.db.prepare("SELECT realized_pnl, fees FROM closed_positions WHERE position_id = 'P1'").get();
    expect(exact).toEqual({ realized_pnl: '123.455', fees: '1.005' });
    const total = positions.listClosed({ strategy: 'alpha' }).reduce((sum, c) => sum.plus(c.realizedPnl), d('0'));
    expect(total.toFixed()).toBe('83.36');
  });
});
