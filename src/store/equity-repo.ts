// equity_snapshots: one row per account and trading day (the equity curve, the daily summary).
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { decimalFrom, decimalText, orNull, timeFrom, timeText } from './columns.ts';
import type { Decimal } from '../domain/money.ts';

export interface EquitySnapshot {
  account: string;
  tradingDay: string;
  equity: Decimal;
  cash: Decimal;
  realizedPnl: Decimal;
  unrealizedPnl: Decimal;
  at: Date;
}

interface EquityRow {
  account: string; trading_day: string; equity: string; cash: string; realized_pnl: string; unrealized_pnl: string; at: string;
}

function fromRow(row: EquityRow): EquitySnapshot {
  return {
    account: row.account,
    tradingDay: row.trading_day,
    equity: decimalFrom(row.equity),
    cash: decimalFrom(row.cash),
    realizedPnl: decimalFrom(row.realized_pnl),
    unrealizedPnl: decimalFrom(row.unrealized_pnl),
    at: timeFrom(row.at),
  };
}

export class EquityRepo {
  private readonly now: () => Date;

  constructor(private readonly db: SqliteDatabase, options: { now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
  }

  /** Writes the account's snapshot for the day; a later snapshot of the same day replaces the earlier one. */
  snapshot(input: Omit<EquitySnapshot, 'at'> & { at?: Date | undefined }): EquitySnapshot {
    const row = {
      account: input.account,
      tradingDay: input.tradingDay,
      equity: decimalText(input.equity),
      cash: decimalText(input.cash),
      realizedPnl: decimalText(input.realizedPnl),
      unrealizedPnl: decimalText(input.unrealizedPnl),
      at: timeText(input.at ?? this.now()),
    };
    prepared(this.db, `
      INSERT INTO equity_snapshots (account, trading_day, equity, cash, realized_pnl, unrealized_pnl, at)
      VALUES (@account, @tradingDay, @equity, @cash, @realizedPnl, @unrealizedPnl, @at)
      ON CONFLICT (account, trading_day) DO UPDATE SET equity = @equity, cash = @cash, realized_pnl = @realizedPnl,
        unrealized_pnl = @unrealizedPnl, at = @at`).run(row);
    return { ...input, at: timeFrom(row.at) };
  }

  get(account: string, tradingDay: string): EquitySnapshot | undefined {
    const row = prepared(this.db, 'SELECT * FROM equity_snapshots WHERE account = ? AND trading_day = ?').get(account, tradingDay) as EquityRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /** Snapshots of an account from `fromDay` to `toDay` inclusive (either open-ended), oldest first. */
  list(account: string, range: { fromDay?: string; toDay?: string } = {}): EquitySnapshot[] {
    const rows = prepared(this.db, `
      SELECT * FROM equity_snapshots
      WHERE account = @account AND (@fromDay IS NULL OR trading_day >= @fromDay) AND (@toDay IS NULL OR trading_day <= @toDay)
      ORDER BY trading_day`).all({ account, fromDay: orNull(range.fromDay), toDay: orNull(range.toDay) }) as EquityRow[];
    return rows.map(fromRow);
  }
}
