// account_state: the halt and the day's starting equity per account, kept in SQLite so that a restart keeps them.
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { optionalDecimalFrom, decimalText, orNull, orUndefined, timeFrom, timeText } from './columns.ts';
import type { Decimal } from '../domain/money.ts';

export interface AccountState {
  account: string;
  halted: boolean;
  haltedReason?: string | undefined;
  /** The halt lifts by itself on this trading day (the kill switch's "until the next day"); undefined: until resumed. */
  haltedUntilDay?: string | undefined;
  dayStartEquity?: Decimal | undefined;
  /** Unrealized P&L of what was held when the day began (undefined: nothing, or a journal from before it was kept). */
  dayStartUnrealized?: Decimal | undefined;
  tradingDay?: string | undefined;
  updatedAt: Date;
}

interface AccountStateRow {
  account: string; halted: 0 | 1; halted_reason: string | null; halted_until_day: string | null;
  day_start_equity: string | null; day_start_unrealized: string | null; trading_day: string | null; updated_at: string;
}

function fromRow(row: AccountStateRow): AccountState {
  return {
    account: row.account,
    halted: row.halted === 1,
    haltedReason: orUndefined(row.halted_reason),
    haltedUntilDay: orUndefined(row.halted_until_day),
    dayStartEquity: optionalDecimalFrom(row.day_start_equity),
    dayStartUnrealized: optionalDecimalFrom(row.day_start_unrealized),
    tradingDay: orUndefined(row.trading_day),
    updatedAt: timeFrom(row.updated_at),
  };
}

export class AccountStateRepo {
  private readonly now: () => Date;

  constructor(private readonly db: SqliteDatabase, options: { now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
  }

  get(account: string): AccountState | undefined {
    const row = prepared(this.db, 'SELECT * FROM account_state WHERE account = ?').get(account) as AccountStateRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  list(): AccountState[] {
    return (prepared(this.db, 'SELECT * FROM account_state ORDER BY account').all() as AccountStateRow[]).map(fromRow);
  }

  /** Halts new entries at the account, until `untilDay` (a trading day, 'YYYY-MM-DD') or until resumed when absent. */
  halt(account: string, reason: string, untilDay?: string): void {
    prepared(this.db, `
      INSERT INTO account_state (account, halted, halted_reason, halted_until_day, updated_at) VALUES (@account, 1, @reason, @untilDay, @at)
      ON CONFLICT (account) DO UPDATE SET halted = 1, halted_reason = @reason, halted_until_day = @untilDay, updated_at = @at`)
      .run({ account, reason, untilDay: orNull(untilDay), at: timeText(this.now()) });
  }

  resume(account: string): void {
    prepared(this.db, `
      INSERT INTO account_state (account, halted, updated_at) VALUES (@account, 0, @at)
      ON CONFLICT (account) DO UPDATE SET halted = 0, halted_reason = NULL, halted_until_day = NULL, updated_at = @at`)
      .run({ account, at: timeText(this.now()) });
  }

  /**
   * Whether entries are halted on `tradingDay`. A halt with an end day lapses on that day; trading days
   * are 'YYYY-MM-DD', so text order is day order.
   */
  isHalted(account: string, tradingDay: string): boolean {
    const state = this.get(account);
    if (state === undefined || !state.halted) return false;
    return state.haltedUntilDay === undefined || tradingDay < state.haltedUntilDay;
  }

  /**
   * Records what the account starts a trading day with, the kill switch's base for that day: its equity, and the
   * unrealized P&L of what it holds then (the part of today's marks that is yesterday's).
   */
  setDayStart(account: string, tradingDay: string, equity: Decimal, unrealized?: Decimal): void {
    prepared(this.db, `
      INSERT INTO account_state (account, halted, day_start_equity, day_start_unrealized, trading_day, updated_at)
      VALUES (@account, 0, @equity, @unrealized, @day, @at)
      ON CONFLICT (account) DO UPDATE SET day_start_equity = @equity, day_start_unrealized = @unrealized, trading_day = @day, updated_at = @at`)
      .run({ account, equity: decimalText(equity), unrealized: unrealized === undefined ? null : decimalText(unrealized), day: tradingDay, at: timeText(this.now()) });
  }
}
