// positions and closed_positions: what tradewire holds, the claim that lets exactly one closer act, and each close.
import { signalIdFactory } from '../domain/ids.ts';
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { decimalFrom, decimalText, optionalDecimalFrom, optionalDecimalText, optionalTimeFrom, orNull, orUndefined, timeFrom, timeText } from './columns.ts';
import { ZERO, type Decimal } from '../domain/money.ts';
import type { PositionSide } from '../domain/order.ts';
import { InvariantError } from '../domain/errors.ts';

export type PositionStatus = 'opening' | 'open' | 'closing' | 'closed' | 'external';
export type Protection = 'native' | 'attached' | 'after_fill' | 'emulated';
export type ExitReason =
  | 'take_profit' | 'stop_loss' | 'trailing_stop' | 'signal' | 'manual' | 'kill_switch' | 'session_end' | 'reconcile' | 'liquidation' | 'time';

export interface NewPosition {
  /** A ULID is made when absent. */
  id?: string | undefined;
  account: string;
  strategy: string;
  symbol: string;
  side: PositionSide;
  quantity: Decimal;
  averageEntryPrice: Decimal;
  entryFees?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  targetPrice?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  highWater?: Decimal | undefined;
  lowWater?: Decimal | undefined;
  protection?: Protection | undefined;
  /** 'opening' while the entry rests, 'open' once filled, 'external' for one tradewire did not open. */
  status: 'opening' | 'open' | 'external';
  openedAt?: Date | undefined;
  tradingDay: string;
  signalId?: string | undefined;
}

export interface Position {
  id: string;
  account: string;
  strategy: string;
  symbol: string;
  side: PositionSide;
  quantity: Decimal;
  averageEntryPrice: Decimal;
  entryFees: Decimal;
  stopPrice?: Decimal | undefined;
  targetPrice?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  highWater?: Decimal | undefined;
  lowWater?: Decimal | undefined;
  protection?: Protection | undefined;
  status: PositionStatus;
  claimedBy?: string | undefined;
  claimExpiresAt?: Date | undefined;
  openedAt: Date;
  updatedAt: Date;
  tradingDay: string;
  signalId?: string | undefined;
}

/** Fields that change while a position lives. `null` clears an optional one; absent leaves it alone. */
export interface PositionPatch {
  quantity?: Decimal;
  averageEntryPrice?: Decimal;
  entryFees?: Decimal;
  stopPrice?: Decimal | null;
  targetPrice?: Decimal | null;
  trailPercent?: Decimal | null;
  trailAmount?: Decimal | null;
  highWater?: Decimal | null;
  lowWater?: Decimal | null;
  protection?: Protection | null;
  status?: 'opening' | 'open' | 'external';
}

export interface CloseRecord {
  /** The quantity this close took off the position. */
  quantity: Decimal;
  entryPrice: Decimal;
  exitPrice: Decimal;
  /** Net of fees. */
  realizedPnl: Decimal;
  realizedPnlPct?: Decimal | undefined;
  fees: Decimal;
  exitReason: ExitReason;
  closedAt?: Date | undefined;
  /** The account's trading day of the close. */
  tradingDay: string;
}

/** A finished trade (or the part of one a partial close took off): its close record, where and when. */
export interface ClosedPosition extends CloseRecord {
  id: number;
  positionId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: PositionSide;
  openedAt: Date;
  closedAt: Date;
}

interface PositionRow {
  id: string; account: string; strategy: string; symbol: string; side: PositionSide; quantity: string; average_entry_price: string;
  entry_fees: string; stop_price: string | null; target_price: string | null; trail_percent: string | null; trail_amount: string | null;
  high_water: string | null; low_water: string | null; protection: Protection | null; status: PositionStatus; claimed_by: string | null;
  claim_expires_at: string | null; opened_at: string; updated_at: string; trading_day: string; signal_id: string | null;
}

interface ClosedRow {
  id: number; position_id: string; account: string; strategy: string; symbol: string; side: PositionSide; quantity: string;
  entry_price: string; exit_price: string; realized_pnl: string; realized_pnl_pct: string | null; fees: string; exit_reason: ExitReason;
  opened_at: string; closed_at: string; trading_day: string;
}

function positionFromRow(row: PositionRow): Position {
  return {
    id: row.id,
    account: row.account,
    strategy: row.strategy,
    symbol: row.symbol,
    side: row.side,
    quantity: decimalFrom(row.quantity),
    averageEntryPrice: decimalFrom(row.average_entry_price),
    entryFees: decimalFrom(row.entry_fees),
    stopPrice: optionalDecimalFrom(row.stop_price),
    targetPrice: optionalDecimalFrom(row.target_price),
    trailPercent: optionalDecimalFrom(row.trail_percent),
    trailAmount: optionalDecimalFrom(row.trail_amount),
    highWater: optionalDecimalFrom(row.high_water),
    lowWater: optionalDecimalFrom(row.low_water),
    protection: orUndefined(row.protection),
    status: row.status,
    claimedBy: orUndefined(row.claimed_by),
    claimExpiresAt: optionalTimeFrom(row.claim_expires_at),
    openedAt: timeFrom(row.opened_at),
    updatedAt: timeFrom(row.updated_at),
    tradingDay: row.trading_day,
    signalId: orUndefined(row.signal_id),
  };
}

function closedFromRow(row: ClosedRow): ClosedPosition {
  return {
    id: row.id,
    positionId: row.position_id,
    account: row.account,
    strategy: row.strategy,
    symbol: row.symbol,
    side: row.side,
    quantity: decimalFrom(row.quantity),
    entryPrice: decimalFrom(row.entry_price),
    exitPrice: decimalFrom(row.exit_price),
    realizedPnl: decimalFrom(row.realized_pnl),
    realizedPnlPct: optionalDecimalFrom(row.realized_pnl_pct),
    fees: decimalFrom(row.fees),
    exitReason: row.exit_reason,
    openedAt: timeFrom(row.opened_at),
    closedAt: timeFrom(row.closed_at),
    tradingDay: row.trading_day,
  };
}

const PATCH_COLUMNS: ReadonlyArray<[keyof PositionPatch, string]> = [
  ['quantity', 'quantity'], ['averageEntryPrice', 'average_entry_price'], ['entryFees', 'entry_fees'], ['stopPrice', 'stop_price'],
  ['targetPrice', 'target_price'], ['trailPercent', 'trail_percent'], ['trailAmount', 'trail_amount'], ['highWater', 'high_water'],
  ['lowWater', 'low_water'], ['protection', 'protection'], ['status', 'status'],
];

export class PositionsRepo {
  private readonly now: () => Date;
  private readonly newId: () => string;

  /** The realized P&L of an account's day as summed so far, and the last closed row it counts (see realizedOnDay). */
  private readonly realizedMemo = new Map<string, { lastId: number; sum: Decimal }>();

  constructor(private readonly db: SqliteDatabase, options: { now?: () => Date; newId?: () => string } = {}) {
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? signalIdFactory();
  }

  /**
   * Inserts a position. A second live position for the same account and symbol violates the partial
   * unique index and throws (SQLITE_CONSTRAINT_UNIQUE): positions are one-way, one per symbol.
   */
  open(input: NewPosition): Position {
    const id = input.id ?? this.newId();
    const now = this.now();
    prepared(this.db, `
      INSERT INTO positions (id, account, strategy, symbol, side, quantity, average_entry_price, entry_fees, stop_price, target_price,
        trail_percent, trail_amount, high_water, low_water, protection, status, opened_at, updated_at, trading_day, signal_id)
      VALUES (@id, @account, @strategy, @symbol, @side, @quantity, @averageEntryPrice, @entryFees, @stopPrice, @targetPrice,
        @trailPercent, @trailAmount, @highWater, @lowWater, @protection, @status, @openedAt, @updatedAt, @tradingDay, @signalId)`).run({
      id,
      account: input.account,
      strategy: input.strategy,
      symbol: input.symbol,
      side: input.side,
      quantity: decimalText(input.quantity),
      averageEntryPrice: decimalText(input.averageEntryPrice),
      entryFees: input.entryFees === undefined ? '0' : decimalText(input.entryFees),
      stopPrice: optionalDecimalText(input.stopPrice),
      targetPrice: optionalDecimalText(input.targetPrice),
      trailPercent: optionalDecimalText(input.trailPercent),
      trailAmount: optionalDecimalText(input.trailAmount),
      highWater: optionalDecimalText(input.highWater),
      lowWater: optionalDecimalText(input.lowWater),
      protection: orNull(input.protection),
      status: input.status,
      openedAt: timeText(input.openedAt ?? now),
      updatedAt: timeText(now),
      tradingDay: input.tradingDay,
      signalId: orNull(input.signalId),
    });
    return this.mustFind(id);
  }

  findById(positionId: string): Position | undefined {
    const row = prepared(this.db, 'SELECT * FROM positions WHERE id = ?').get(positionId) as PositionRow | undefined;
    return row === undefined ? undefined : positionFromRow(row);
  }

  /** The live (not closed) position of an account in a symbol, whatever its stage: opening, open, closing or external. */
  findOpen(account: string, symbol: string): Position | undefined {
    const row = prepared(this.db, "SELECT * FROM positions WHERE account = ? AND symbol = ? AND status <> 'closed'").get(account, symbol) as PositionRow | undefined;
    return row === undefined ? undefined : positionFromRow(row);
  }

  /** Every live position (of one account, when given). */
  listOpen(account?: string): Position[] {
    const rows = account === undefined
      ? prepared(this.db, "SELECT * FROM positions WHERE status <> 'closed' ORDER BY account, symbol").all()
      : prepared(this.db, "SELECT * FROM positions WHERE status <> 'closed' AND account = ? ORDER BY symbol").all(account);
    return (rows as PositionRow[]).map(positionFromRow);
  }

  /** Changes a live position's fields (size after a fill or an add, protection prices, trailing marks). */
  update(positionId: string, patch: PositionPatch): Position {
    const sets: string[] = [];
    const params: Record<string, string | null> = { id: positionId, updatedAt: timeText(this.now()) };
    for (const [key, column] of PATCH_COLUMNS) {
      const value = patch[key];
      if (value === undefined) continue;
      sets.push(`${column} = @${key}`);
      params[key] = value === null || typeof value === 'string' ? value : decimalText(value);
    }
    const result = prepared(this.db, `UPDATE positions SET ${[...sets, 'updated_at = @updatedAt'].join(', ')} WHERE id = @id AND status <> 'closed'`).run(params);
    if (result.changes !== 1) throw new InvariantError(`no live position ${positionId} to update`);
    return this.mustFind(positionId);
  }

  /**
   * Claims the position for closing (ARCHITECTURE.md): succeeds for an open position, or one whose
   * previous closer's claim expired. Only the caller that gets true sends the exit.
   */
  claimForClose(positionId: string, owner: string, expiresAt: Date, now: Date = this.now()): boolean {
    const result = prepared(this.db, `
      UPDATE positions SET status = 'closing', claimed_by = @owner, claim_expires_at = @expiresAt, updated_at = @now
      WHERE id = @id AND (status = 'open' OR (status = 'closing' AND claim_expires_at < @now))`).run({
      id: positionId, owner, expiresAt: timeText(expiresAt), now: timeText(now),
    });
    return result.changes === 1;
  }

  /** Gives a claim back (the exit was not sent, or failed cleanly): the position is open again. Only the claimant can. */
  releaseClaim(positionId: string, owner: string): boolean {
    const result = prepared(this.db, `
      UPDATE positions SET status = 'open', claimed_by = NULL, claim_expires_at = NULL, updated_at = ?
      WHERE id = ? AND status = 'closing' AND claimed_by = ?`).run(timeText(this.now()), positionId, owner);
    return result.changes === 1;
  }

  /**
   * Closes the position: writes its closed_positions row and marks it closed in one transaction.
   * A position already closed is refused (InvariantError), so nothing is ever closed twice in the journal.
   */
  close(positionId: string, record: CloseRecord): ClosedPosition {
    return this.db.transaction(() => {
      const position = this.findById(positionId);
      if (position === undefined || position.status === 'closed') throw new InvariantError(`no live position ${positionId} to close`);
      const closedAt = record.closedAt ?? this.now();
      const closed = this.insertClosed(position, record, closedAt);
      prepared(this.db, `
        UPDATE positions SET status = 'closed', claimed_by = NULL, claim_expires_at = NULL, updated_at = ?
        WHERE id = ?`).run(timeText(closedAt), positionId);
      return closed;
    }).immediate();
  }

  /**
   * A partial close: writes the closed_positions row for the part taken off and leaves `remaining` open, in one
   * transaction; `entryFeesLeft` is the entry fee the rest still carries. Any claim is released (the position is
   * open again for the next closer), unless `keepClaimOf` holds it: a closer booking fills part-way through its
   * close keeps the position, so no other closer can act on it between the two steps.
   */
  reduce(positionId: string, record: CloseRecord, remaining: Decimal, entryFeesLeft?: Decimal, keepClaimOf?: string): ClosedPosition {
    return this.db.transaction(() => {
      const position = this.findById(positionId);
      if (position === undefined || position.status === 'closed') throw new InvariantError(`no live position ${positionId} to reduce`);
      if (remaining.lte(0)) throw new InvariantError(`reducing ${positionId} to ${remaining.toFixed()}: close it instead`);
      const closedAt = record.closedAt ?? this.now();
      const closed = this.insertClosed(position, record, closedAt);
      const keep = keepClaimOf !== undefined && position.status === 'closing' && position.claimedBy === keepClaimOf;
      const status = position.status === 'closing' && !keep ? 'open' : position.status;
      prepared(this.db, `
        UPDATE positions SET quantity = ?, entry_fees = ?, status = ?, claimed_by = ?, claim_expires_at = ?, updated_at = ?
        WHERE id = ?`).run(decimalText(remaining), decimalText(entryFeesLeft ?? position.entryFees), status,
        keep ? keepClaimOf : null, keep && position.claimExpiresAt ? timeText(position.claimExpiresAt) : null, timeText(closedAt), positionId);
      return closed;
    }).immediate();
  }

  closedForPosition(positionId: string): ClosedPosition[] {
    return (prepared(this.db, 'SELECT * FROM closed_positions WHERE position_id = ? ORDER BY id').all(positionId) as ClosedRow[]).map(closedFromRow);
  }

  /** Closed trades of an account on a trading day (the kill switch's realized loss, the daily summary). */
  closedOnDay(account: string, tradingDay: string): ClosedPosition[] {
    return (prepared(this.db, 'SELECT * FROM closed_positions WHERE account = ? AND trading_day = ? ORDER BY id').all(account, tradingDay) as ClosedRow[])
      .map(closedFromRow);
  }

  /** Closed trades, newest last; of one strategy when given. */
  /**
   * The realized P&L (net of fees) of an account's trading day: the sum over closedOnDay, exact. Every entry's risk check
   * asks, so the sum is kept and only rows closed since are read: closed rows are never changed or deleted, and a new one
   * always gets a higher id. Inside a transaction it is summed afresh (a rollback would leave the memo counting a phantom).
   */
  realizedOnDay(account: string, tradingDay: string): Decimal {
    const key = `${account}\u0000${tradingDay}`;
    const memo = this.db.inTransaction ? undefined : this.realizedMemo.get(key);
    const rows = prepared(this.db, 'SELECT id, realized_pnl FROM closed_positions WHERE account = ? AND trading_day = ? AND id > ? ORDER BY id')
      .raw().all(account, tradingDay, memo?.lastId ?? 0) as Array<[number, string]>;
    let sum = memo?.sum ?? ZERO;
    let lastId = memo?.lastId ?? 0;
    for (const [id, pnl] of rows) {
      sum = sum.plus(decimalFrom(pnl));
      lastId = id;
    }
    if (!this.db.inTransaction) {
      if (this.realizedMemo.size > 64 && !this.realizedMemo.has(key)) this.realizedMemo.clear(); // old days: dropped wholesale
      this.realizedMemo.set(key, { lastId, sum });
    }
    return sum;
  }

  /** The newest closed trade of a strategy at an account in a symbol (the cooldown after an exit), or undefined. */
  lastClosed(account: string, symbol: string, strategy: string): ClosedPosition | undefined {
    const row = prepared(this.db, `SELECT * FROM closed_positions WHERE strategy = ? AND account = ? AND symbol = ?
      ORDER BY closed_at DESC, id DESC LIMIT 1`).get(strategy, account, symbol) as ClosedRow | undefined;
    return row === undefined ? undefined : closedFromRow(row);
  }

  listClosed(options: { strategy?: string; since?: Date } = {}): ClosedPosition[] {
    const rows = prepared(this.db, `
      SELECT * FROM closed_positions
      WHERE (@strategy IS NULL OR strategy = @strategy) AND (@since IS NULL OR closed_at >= @since)
      ORDER BY closed_at, id`).all({ strategy: orNull(options.strategy), since: options.since === undefined ? null : timeText(options.since) }) as ClosedRow[];
    return rows.map(closedFromRow);
  }

  private insertClosed(position: Position, record: CloseRecord, closedAt: Date): ClosedPosition {
    const result = prepared(this.db, `
      INSERT INTO closed_positions (position_id, account, strategy, symbol, side, quantity, entry_price, exit_price, realized_pnl,
        realized_pnl_pct, fees, exit_reason, opened_at, closed_at, trading_day)
      VALUES (@positionId, @account, @strategy, @symbol, @side, @quantity, @entryPrice, @exitPrice, @realizedPnl,
        @realizedPnlPct, @fees, @exitReason, @openedAt, @closedAt, @tradingDay)`).run({
      positionId: position.id,
      account: position.account,
      strategy: position.strategy,
      symbol: position.symbol,
      side: position.side,
      quantity: decimalText(record.quantity),
      entryPrice: decimalText(record.entryPrice),
      exitPrice: decimalText(record.exitPrice),
      realizedPnl: decimalText(record.realizedPnl),
      realizedPnlPct: optionalDecimalText(record.realizedPnlPct),
      fees: decimalText(record.fees),
      exitReason: record.exitReason,
      openedAt: timeText(position.openedAt),
      closedAt: timeText(closedAt),
      tradingDay: record.tradingDay,
    });
    const row = prepared(this.db, 'SELECT * FROM closed_positions WHERE id = ?').get(result.lastInsertRowid) as ClosedRow;
    return closedFromRow(row);
  }

  private mustFind(positionId: string): Position {
    const position = this.findById(positionId);
    if (position === undefined) throw new InvariantError(`position ${positionId} missing right after writing it`);
    return position;
  }
}
