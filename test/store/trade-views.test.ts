// The journal's view of a managed trade: each scale-out level's fill on its own row, P&L in R, the time exit reason.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { manualClock, tempJournal, type ManualClock, type TempJournal } from './journal-fixture.ts';

const d = (text: string) => new Decimal(text);

let journal: TempJournal;
let clock: ManualClock;

beforeEach(() => {
  clock = manualClock('2026-12-05T14:30:00.000Z');
  journal = tempJournal(clock.now);
});
afterEach(() => journal.cleanup());

describe('a scaled-out trade in the journal', () => {
  it('shows each partial exit as a fill tied to its level, each part in R against the initial stop, and a time exit', () => {
    const positions = new PositionsRepo(journal.db, { now: clock.now });
    const orders = new OrdersRepo(journal.db, { now: clock.now });
    const position = positions.open({ id: 'POS-1', account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'long', quantity: d('10'),
      averageEntryPrice: d('100'), entryFees: d('0'), status: 'open', tradingDay: '2026-12-05' });
    const common = { account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'sell' as const, positionId: position.id };
    orders.recordIntent({ ...common, clientOrderId: 'tw-st-1', leg: 'stop', type: 'stop', quantity: d('10'), stopPrice: d('98') });
    // A later stop (moved to breakeven) does not change the trade's R: one R is the first stop's distance.
    orders.recordIntent({ ...common, clientOrderId: 'tw-st-2', leg: 'stop', type: 'stop', quantity: d('5'), stopPrice: d('100') });
    orders.recordIntent({ ...common, clientOrderId: 'tw-ta-1', leg: 'target', type: 'limit', quantity: d('5'), limitPrice: d('101'), level: 1 });
    orders.recordIntent({ ...common, clientOrderId: 'tw-ta-2', leg: 'target', type: 'limit', quantity: d('5'), limitPrice: d('104'), level: 2 });
    expect(orders.findByClientOrderId('tw-ta-2')?.level).toBe(2);
    expect(orders.findByClientOrderId('tw-st-1')?.level).toBeUndefined();
    for (const [id, quantity, price] of [['tw-ta-1', '5', '101'], ['tw-ta-2', '3', '104'], ['tw-ta-2', '2', '104']] as const) {
      orders.recordFill({ brokerFillId: `${id}-${quantity}-${price}-${clock.now().getTime()}`, clientOrderId: id, account: 'paper', symbol: 'AAPL', side: 'sell',
        quantity: d(quantity), price: d(price), fee: d('0'), at: clock.now() });
      clock.advance(1000);
    }
    positions.reduce(position.id, { quantity: d('5'), entryPrice: d('100'), exitPrice: d('101'), realizedPnl: d('5'), fees: d('0'), exitReason: 'take_profit', tradingDay: '2026-12-05' }, d('5'));
    positions.close(position.id, { quantity: d('5'), entryPrice: d('100'), exitPrice: d('99'), realizedPnl: d('-5'), fees: d('0'), exitReason: 'time', tradingDay: '2026-12-05' });

    const levelFills = journal.db.prepare('SELECT level, quantity, price FROM v_level_fills WHERE position_id = ?').all(position.id);
    expect(levelFills).toEqual([{ level: 1, quantity: '5', price: '101' }, { level: 2, quantity: '3', price: '104' }, { level: 2, quantity: '2', price: '104' }]);
    const trades = journal.db.prepare('SELECT exit_reason, r_multiple FROM v_trades WHERE position_id = ? ORDER BY id').all(position.id);
    // +5 over 5 × 2 risked = +0.5 R; −5 over 10 = −0.5 R
    expect(trades).toEqual([{ exit_reason: 'take_profit', r_multiple: 0.5 }, { exit_reason: 'time', r_multiple: -0.5 }]);
  });
});
