// A journal seeded through the repos with hand-checkable trades, entry orders, an open position and a halted account.
import { join } from 'node:path';
import { ulid } from 'ulid';
import { toDecimal } from '../../src/domain/money.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { openDatabase, type SqliteDatabase } from '../../src/store/db.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo, type ExitReason } from '../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';

const DAY = 86_400_000;

export interface SeededJournal {
  db: SqliteDatabase;
  path: string;
  now: Date;
}

interface TradeSeed { strategy: string; symbol: string; side: 'long' | 'short'; quantity: string; entry: string; exit: string; pnl: string; fees?: string; reason: ExitReason; daysAgo: number }
interface EntrySeed { strategy: string; symbol: string; side: 'buy' | 'sell'; quantity: string; payload: Record<string, unknown>; fill?: string; status: 'filled' | 'rejected' | 'accepted'; daysAgo: number }

/**
 * alpha: +40 (10 d ago), −20, −30, +20; beta: +49.75 (fees 0.25), closed between alpha's second and third.
 * alpha entries: 4 decided with fills (two with slippage +0.1 % and +0.2 %, one −0.05 %, one without an alert price), one rejected, one working.
 * beta entry: buy at alert 40000 filled at 40020 (+0.05 %).
 */
export const TRADES: TradeSeed[] = [
  { strategy: 'alpha', symbol: 'AAPL', side: 'long', quantity: '10', entry: '100', exit: '104', pnl: '40', reason: 'take_profit', daysAgo: 10 },
  { strategy: 'alpha', symbol: 'MSFT', side: 'long', quantity: '5', entry: '200', exit: '196', pnl: '-20', reason: 'stop_loss', daysAgo: 2.5 },
  { strategy: 'beta', symbol: 'BTCUSDT', side: 'long', quantity: '0.5', entry: '40000', exit: '40100', pnl: '49.75', fees: '0.25', reason: 'signal', daysAgo: 2 },
  { strategy: 'alpha', symbol: 'AAPL', side: 'long', quantity: '10', entry: '100', exit: '97', pnl: '-30', reason: 'stop_loss', daysAgo: 1.5 },
  { strategy: 'alpha', symbol: 'TSLA', side: 'short', quantity: '2', entry: '250', exit: '240', pnl: '20', reason: 'take_profit', daysAgo: 1 },
];

export const ENTRIES: EntrySeed[] = [
  { strategy: 'alpha', symbol: 'AAPL', side: 'buy', quantity: '10', payload: { ticker: 'AAPL', action: 'buy', price: '100' }, fill: '100.10', status: 'filled', daysAgo: 10.5 },
  { strategy: 'alpha', symbol: 'MSFT', side: 'buy', quantity: '5', payload: { ticker: 'MSFT', action: 'buy', signalPrice: '200' }, fill: '199.90', status: 'filled', daysAgo: 3 },
  { strategy: 'alpha', symbol: 'AAPL', side: 'buy', quantity: '10', payload: { ticker: 'AAPL', action: 'buy' }, fill: '100', status: 'filled', daysAgo: 1.8 },
  { strategy: 'alpha', symbol: 'TSLA', side: 'sell', quantity: '2', payload: { ticker: 'TSLA', action: 'sell', price: 250 }, fill: '249.50', status: 'filled', daysAgo: 1.2 },
  { strategy: 'alpha', symbol: 'AAPL', side: 'buy', quantity: '10', payload: { ticker: 'AAPL', action: 'buy', price: '100' }, status: 'rejected', daysAgo: 1.1 },
  { strategy: 'alpha', symbol: 'NVDA', side: 'buy', quantity: '3', payload: { ticker: 'NVDA', action: 'buy', price: '450', orderType: 'limit' }, status: 'accepted', daysAgo: 0.5 },
  { strategy: 'beta', symbol: 'BTCUSDT', side: 'buy', quantity: '0.5', payload: { ticker: 'BTCUSDT', action: 'buy', price: '40000' }, fill: '40020', status: 'filled', daysAgo: 2.2 },
];

/** Writes the journal at dir/trading.db; `now` is the clock the seed is relative to. */
export function seedJournal(dir: string, now = new Date()): SeededJournal {
  const path = join(dir, 'trading.db');
  const db = openDatabase(path);
  let clock = now;
  const at = () => clock;
  const signals = new SignalsRepo(db, { now: at });
  const orders = new OrdersRepo(db, { now: at });
  const positions = new PositionsRepo(db, { now: at });
  for (const [index, e] of ENTRIES.entries()) {
    clock = new Date(now.getTime() - e.daysAgo * DAY);
    const signalId = ulid(clock.getTime());
    signals.insert({ signalId, strategy: e.strategy, symbol: e.symbol, action: e.side, payload: JSON.stringify(e.payload), receivedAt: clock, status: 'executed' });
    const clientOrderId = `tw-seed-entry-${index}`;
    orders.recordIntent({ clientOrderId, account: 'paper', strategy: e.strategy, symbol: e.symbol, side: e.side, leg: 'entry', type: 'market',
      quantity: toDecimal(e.quantity), signalId });
    if (e.status === 'rejected') orders.updateFromBroker(clientOrderId, { status: 'rejected', reason: 'insufficient_funds' });
    else if (e.status === 'accepted') orders.updateFromBroker(clientOrderId, { status: 'accepted' });
    else {
      orders.updateFromBroker(clientOrderId, { status: 'filled', filledQuantity: toDecimal(e.quantity), averageFillPrice: toDecimal(e.fill ?? '0') });
      orders.recordFill({ brokerFillId: `fill-${index}`, clientOrderId, account: 'paper', symbol: e.symbol, side: e.side, quantity: toDecimal(e.quantity),
        price: toDecimal(e.fill ?? '0'), fee: toDecimal('0'), at: clock });
    }
  }
  for (const t of TRADES) {
    const closedAt = new Date(now.getTime() - t.daysAgo * DAY);
    clock = new Date(closedAt.getTime() - 3_600_000);
    const position = positions.open({ account: 'paper', strategy: t.strategy, symbol: t.symbol, side: t.side, quantity: toDecimal(t.quantity),
      averageEntryPrice: toDecimal(t.entry), status: 'open', tradingDay: clock.toISOString().slice(0, 10) });
    clock = closedAt;
    const cost = toDecimal(t.entry).mul(t.quantity);
    positions.close(position.id, { quantity: toDecimal(t.quantity), entryPrice: toDecimal(t.entry), exitPrice: toDecimal(t.exit),
      realizedPnl: toDecimal(t.pnl), realizedPnlPct: toDecimal(t.pnl).div(cost).mul(100), fees: toDecimal(t.fees ?? '0'), exitReason: t.reason,
      closedAt, tradingDay: closedAt.toISOString().slice(0, 10) });
  }
  clock = new Date(now.getTime() - 3_600_000);
  positions.open({ account: 'paper', strategy: 'alpha', symbol: 'NVDA', side: 'long', quantity: toDecimal('3'), averageEntryPrice: toDecimal('450'),
    stopPrice: toDecimal('441'), targetPrice: toDecimal('468'), status: 'open', tradingDay: clock.toISOString().slice(0, 10) });
  new AccountStateRepo(db, { now: at }).halt('paper', 'kill switch: daily loss 5%');
  return { db, path, now };
}
