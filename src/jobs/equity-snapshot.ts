// The daily equity snapshot per account (equity, cash, realized and unrealized P&L of the trading day) and the summary event.
import { ZERO, type Decimal } from '../domain/money.ts';
import { tradingDay } from '../domain/trading-day.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { accountTimeZone } from '../execution/position-actions.ts';
import { unrealizedPnl } from '../portfolio/kill-switch.ts';
import type { EquityRepo, EquitySnapshot } from '../store/equity-repo.ts';

export interface DailySummary {
  snapshot: EquitySnapshot;
  trades: number;
  wins: number;
  fees: Decimal;
  /** Equity change since the previous snapshot, when there is one. */
  change?: Decimal | undefined;
}

/**
 * Writes (or replaces) each account's snapshot for its current trading day and logs a `daily.summary` event.
 * Unrealized P&L is the journal's open positions at the broker's last prices (entry price when it has none).
 */
export async function snapshotEquity(ctx: ExecutionContext, equity: EquityRepo, options: { now?: Date; accounts?: string[] } = {}): Promise<DailySummary[]> {
  const now = options.now ?? ctx.now();
  const summaries: DailySummary[] = [];
  for (const account of options.accounts ?? ctx.brokers.accounts()) {
    const broker = ctx.brokers.get(account);
    const day = tradingDay(now, accountTimeZone(ctx, account));
    const summary = await broker.account();
    const open = ctx.positions.listOpen(account).filter((p) => p.status !== 'opening');
    const quotes = open.length > 0 ? await broker.quotes([...new Set(open.map((p) => p.symbol))]) : new Map();
    const unrealized = open.reduce((sum, p) => sum.plus(unrealizedPnl(p, quotes.get(p.symbol)?.last ?? p.averageEntryPrice)), ZERO);
    const closed = ctx.positions.closedOnDay(account, day);
    const realized = closed.reduce((sum, c) => sum.plus(c.realizedPnl), ZERO);
    const previous = equity.list(account, { toDay: day }).filter((s) => s.tradingDay < day).at(-1);
    const snapshot = equity.snapshot({ account, tradingDay: day, equity: summary.equity, cash: summary.cash, realizedPnl: realized, unrealizedPnl: unrealized, at: now });
    const daily: DailySummary = {
      snapshot, trades: closed.length, wins: closed.filter((c) => c.realizedPnl.gt(0)).length, fees: closed.reduce((sum, c) => sum.plus(c.fees), ZERO),
      change: previous ? summary.equity.minus(previous.equity) : undefined,
    };
    ctx.logger.info({
      event: 'daily.summary', account, tradingDay: day, equity: summary.equity.toFixed(), cash: summary.cash.toFixed(), realizedPnl: realized.toFixed(),
      unrealizedPnl: unrealized.toFixed(), trades: daily.trades, wins: daily.wins, fees: daily.fees.toFixed(), openPositions: open.length,
      change: daily.change?.toFixed(),
    }, `${account} ${day}: equity ${summary.equity.toFixed()}, realized ${realized.toFixed()}, unrealized ${unrealized.toFixed()}, ${daily.trades} trade(s)`);
    summaries.push(daily);
  }
  return summaries;
}
