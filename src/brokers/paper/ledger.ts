// The paper broker's own SQLite ledger: account cash, orders, fills, positions and last prices, as exact decimal text.
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { makeCompanionsPrivate, makePrivateDirs, makePrivateFile, spaceCheckpoints } from '../../store/db.ts';
import { durabilityBarrier } from '../../store/durability.ts';
import { prepared } from '../../store/statements.ts';
import { Decimal } from '../../domain/money.ts';
import type { Fill, OrderLeg, OrderStatus, OrderType, Side, TimeInForce } from '../../domain/order.ts';

const SCHEMA_V1 = `
CREATE TABLE account (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  name TEXT NOT NULL,
  currency TEXT NOT NULL,
  cash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE orders (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  client_order_id TEXT NOT NULL UNIQUE,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  type TEXT NOT NULL,
  quantity TEXT NOT NULL,
  limit_price TEXT,
  stop_price TEXT,
  trail_amount TEXT,
  trail_percent TEXT,
  water_mark TEXT,
  triggered INTEGER NOT NULL DEFAULT 0,
  time_in_force TEXT NOT NULL,
  status TEXT NOT NULL,
  filled_quantity TEXT NOT NULL,
  average_fill_price TEXT,
  reserved TEXT NOT NULL,
  parent_id TEXT,
  oco_group TEXT,
  reduce_only INTEGER NOT NULL DEFAULT 0,
  leg TEXT,
  reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX orders_symbol_status ON orders (symbol, status);
CREATE TABLE fills (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  order_id TEXT NOT NULL REFERENCES orders (id),
  client_order_id TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  quantity TEXT NOT NULL,
  price TEXT NOT NULL,
  fee TEXT NOT NULL,
  fee_currency TEXT NOT NULL,
  liquidity TEXT,
  realized_pnl TEXT NOT NULL,
  time TEXT NOT NULL
);
CREATE INDEX fills_time ON fills (time);
CREATE TABLE positions (
  symbol TEXT PRIMARY KEY,
  quantity TEXT NOT NULL,
  average_price TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE last_prices (
  symbol TEXT PRIMARY KEY,
  price TEXT NOT NULL,
  time TEXT NOT NULL
);
`;

/** Ordered schema steps; step i brings the ledger from version i to i + 1. */
/**
 * v2: what every call into the venue reads, by index instead of a scan that grew with the ledger: one order's fills
 * (OrderTracker.sync), the live orders' reservations, the day orders a new day expires.
 */
const SCHEMA_V2 = `
CREATE INDEX fills_client_order ON fills (client_order_id);
CREATE INDEX fills_order ON fills (order_id);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_day_live ON orders (time_in_force, status);
`;

const MIGRATIONS: readonly string[] = [SCHEMA_V1, SCHEMA_V2];

/** The schema version this code writes (PRAGMA user_version). */
export const LEDGER_VERSION = MIGRATIONS.length;

/** Statuses in which an order still rests at the paper venue. */
const LIVE = ['accepted', 'partially_filled', 'pending_cancel', 'held', 'submitted'] as const;

export interface OrderRow {
  id: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  type: OrderType;
  quantity: Decimal;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  waterMark?: Decimal | undefined;
  triggered: boolean;
  timeInForce: TimeInForce;
  status: OrderStatus;
  filledQuantity: Decimal;
  averageFillPrice?: Decimal | undefined;
  /** Cash set aside for this order while it rests (the funds rule), zero once it fills or ends. */
  reserved: Decimal;
  parentId?: string | undefined;
  ocoGroup?: string | undefined;
  reduceOnly: boolean;
  leg?: OrderLeg | undefined;
  reason?: string | undefined;
  createdAt: Date;
  updatedAt: Date;
}

/** A fill as the paper ledger keeps it: the broker-facing fill plus the P&L it realized. */
export interface FillRow extends Fill {
  realizedPnl: Decimal;
}

export interface PositionRow {
  symbol: string;
  /** Signed: negative is short. */
  quantity: Decimal;
  averagePrice: Decimal;
  updatedAt: Date;
}

export interface PriceRow {
  symbol: string;
  price: Decimal;
  time: Date;
}

export interface AccountRow {
  name: string;
  currency: string;
  cash: Decimal;
}

type Text = string | null;

interface OrderRecord {
  id: string; client_order_id: string; symbol: string; side: string; type: string; quantity: string;
  limit_price: Text; stop_price: Text; trail_amount: Text; trail_percent: Text; water_mark: Text; triggered: number;
  time_in_force: string; status: string; filled_quantity: string; average_fill_price: Text; reserved: string;
  parent_id: Text; oco_group: Text; reduce_only: number; leg: Text; reason: Text; created_at: string; updated_at: string;
}

interface FillRecord {
  id: string; order_id: string; client_order_id: string; symbol: string; side: string; quantity: string; price: string;
  fee: string; fee_currency: string; liquidity: Text; realized_pnl: string; time: string;
}

const dec = (text: string): Decimal => new Decimal(text);
const optDec = (text: Text): Decimal | undefined => (text === null ? undefined : new Decimal(text));
const optText = (value: Decimal | undefined): Text => (value === undefined ? null : value.toString());

function toOrderRow(r: OrderRecord): OrderRow {
  return {
    id: r.id,
    clientOrderId: r.client_order_id,
    symbol: r.symbol,
    side: r.side as Side,
    type: r.type as OrderType,
    quantity: dec(r.quantity),
    limitPrice: optDec(r.limit_price),
    stopPrice: optDec(r.stop_price),
    trailAmount: optDec(r.trail_amount),
    trailPercent: optDec(r.trail_percent),
    waterMark: optDec(r.water_mark),
    triggered: r.triggered === 1,
    timeInForce: r.time_in_force as TimeInForce,
    status: r.status as OrderStatus,
    filledQuantity: dec(r.filled_quantity),
    averageFillPrice: optDec(r.average_fill_price),
    reserved: dec(r.reserved),
    parentId: r.parent_id ?? undefined,
    ocoGroup: r.oco_group ?? undefined,
    reduceOnly: r.reduce_only === 1,
    leg: (r.leg ?? undefined) as OrderLeg | undefined,
    reason: r.reason ?? undefined,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

function toOrderParams(o: OrderRow): Record<string, string | number | null> {
  return {
    id: o.id,
    client_order_id: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    quantity: o.quantity.toString(),
    limit_price: optText(o.limitPrice),
    stop_price: optText(o.stopPrice),
    trail_amount: optText(o.trailAmount),
    trail_percent: optText(o.trailPercent),
    water_mark: optText(o.waterMark),
    triggered: o.triggered ? 1 : 0,
    time_in_force: o.timeInForce,
    status: o.status,
    filled_quantity: o.filledQuantity.toString(),
    average_fill_price: optText(o.averageFillPrice),
    reserved: o.reserved.toString(),
    parent_id: o.parentId ?? null,
    oco_group: o.ocoGroup ?? null,
    reduce_only: o.reduceOnly ? 1 : 0,
    leg: o.leg ?? null,
    reason: o.reason ?? null,
    created_at: o.createdAt.toISOString(),
    updated_at: o.updatedAt.toISOString(),
  };
}

function toFillRow(r: FillRecord): FillRow {
  return {
    id: r.id,
    orderId: r.order_id,
    clientOrderId: r.client_order_id,
    symbol: r.symbol,
    side: r.side as Side,
    quantity: dec(r.quantity),
    price: dec(r.price),
    fee: dec(r.fee),
    feeCurrency: r.fee_currency,
    liquidity: (r.liquidity ?? undefined) as 'maker' | 'taker' | undefined,
    realizedPnl: dec(r.realized_pnl),
    time: new Date(r.time),
  };
}

/** The ledger is newer than this code, or otherwise unusable. */
export class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerError';
  }
}

/**
 * One paper account's ledger. Methods are synchronous (better-sqlite3); the broker groups each
 * state change into one `transaction`, so a crash leaves either all of a fill or none of it.
 */
export class PaperLedger {
  private constructor(private readonly db: SqliteDatabase) {}

  /** Opens (creating if needed) the ledger at `path`; ':memory:' gives a private in-memory one. */
  static open(path: string): PaperLedger {
    const memory = path === ':memory:' || path === '';
    if (!memory) {
      // The ledger holds the paper account's orders and balances: 0600 in a folder created 0700, like the journal.
      makePrivateDirs(dirname(path));
      makePrivateFile(path);
    }
    const db = new Database(path);
    try {
      if (!memory) {
        db.pragma('journal_mode = WAL');
        makeCompanionsPrivate(path);
      }
      // NORMAL, as the journal (db.ts): a commit survives a process kill without an fsync of its own. The ledger plays a
      // venue, and a venue's answer is durable: the broker makes every change it answers for (an order taken, amended,
      // cancelled, a fill) durable before it answers, through `durable()`, which concurrent calls share (group commit).
      db.pragma('synchronous = NORMAL');
      spaceCheckpoints(db);
      db.pragma('foreign_keys = ON');
      // Another process (the CLI, a second role) may hold the write lock for a moment: wait, do not fail.
      db.pragma('busy_timeout = 5000');
      migrate(db);
      return new PaperLedger(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  get version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Runs `fn` as one IMMEDIATE transaction: the write lock is taken first, so a funds check and the
   * order it admits cannot interleave with another process's writes to the same ledger.
   */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Resolves once every commit made so far is on disk (one fsync of the -wal shared by every caller waiting at once). */
  durable(): Promise<void> {
    return durabilityBarrier(this.db).sync();
  }

  /** Runs read-only `fn` in one deferred transaction: a consistent view without taking the write lock. */
  snapshot<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  account(): AccountRow | undefined {
    const row = prepared(this.db, 'SELECT name, currency, cash FROM account WHERE id = 1').get() as
      { name: string; currency: string; cash: string } | undefined;
    return row && { name: row.name, currency: row.currency, cash: dec(row.cash) };
  }

  /** Seeds the account once; an existing account keeps its cash whatever the config now says. */
  seedAccount(name: string, currency: string, cash: Decimal, now: Date): boolean {
    const result = prepared(this.db, 
      'INSERT OR IGNORE INTO account (id, name, currency, cash, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?)',
    ).run(name, currency, cash.toString(), now.toISOString(), now.toISOString());
    return result.changes === 1;
  }

  setCash(cash: Decimal, now: Date): void {
    prepared(this.db, 'UPDATE account SET cash = ?, updated_at = ? WHERE id = 1').run(cash.toString(), now.toISOString());
  }

  insertOrder(order: OrderRow): void {
    prepared(this.db, `INSERT INTO orders (id, client_order_id, symbol, side, type, quantity, limit_price, stop_price,
      trail_amount, trail_percent, water_mark, triggered, time_in_force, status, filled_quantity, average_fill_price,
      reserved, parent_id, oco_group, reduce_only, leg, reason, created_at, updated_at)
      VALUES (@id, @client_order_id, @symbol, @side, @type, @quantity, @limit_price, @stop_price, @trail_amount,
      @trail_percent, @water_mark, @triggered, @time_in_force, @status, @filled_quantity, @average_fill_price,
      @reserved, @parent_id, @oco_group, @reduce_only, @leg, @reason, @created_at, @updated_at)`).run(toOrderParams(order));
  }

  /** Writes an order's changing fields; identity fields (ids, symbol, side, type, created) never change. */
  updateOrder(order: OrderRow): void {
    prepared(this.db, `UPDATE orders SET quantity = @quantity, limit_price = @limit_price, stop_price = @stop_price,
      trail_amount = @trail_amount, trail_percent = @trail_percent, water_mark = @water_mark, triggered = @triggered,
      status = @status, filled_quantity = @filled_quantity, average_fill_price = @average_fill_price,
      reserved = @reserved, reason = @reason, updated_at = @updated_at WHERE id = @id`).run(toOrderParams(order));
  }

  orderById(id: string): OrderRow | undefined {
    const row = prepared(this.db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRecord | undefined;
    return row && toOrderRow(row);
  }

  orderByClientId(clientOrderId: string): OrderRow | undefined {
    const row = prepared(this.db, 'SELECT * FROM orders WHERE client_order_id = ?').get(clientOrderId) as OrderRecord | undefined;
    return row && toOrderRow(row);
  }

  /** Live orders in placement order (the order matching runs them in), for one symbol or all. */
  liveOrders(symbol?: string): OrderRow[] {
    const marks = LIVE.map(() => '?').join(', ');
    const rows = symbol === undefined
      ? prepared(this.db, `SELECT * FROM orders WHERE status IN (${marks}) ORDER BY seq`).all(...LIVE)
      : prepared(this.db, `SELECT * FROM orders WHERE symbol = ? AND status IN (${marks}) ORDER BY seq`).all(symbol, ...LIVE);
    return (rows as OrderRecord[]).map(toOrderRow);
  }

  /**
   * Live day orders placed outside [dayStart, dayEnd): the ones the day expires. Asked on every call into the venue, so
   * it selects them in SQL (ISO-8601 UTC text sorts as time) instead of reading every live order.
   */
  liveDayOrdersOutside(dayStart: Date, dayEnd: Date): OrderRow[] {
    const marks = LIVE.map(() => '?').join(', ');
    const rows = prepared(this.db, `SELECT * FROM orders WHERE time_in_force = 'day' AND (created_at < ? OR created_at >= ?)
      AND status IN (${marks}) ORDER BY seq`).all(dayStart.toISOString(), dayEnd.toISOString(), ...LIVE);
    return (rows as OrderRecord[]).map(toOrderRow);
  }

  /** Cash set aside by live orders (the funds rule), summed exactly; orders that hold none are not read. */
  reservedTotal(): Decimal {
    const marks = LIVE.map(() => '?').join(', ');
    const held = prepared(this.db, `SELECT reserved FROM orders WHERE status IN (${marks}) AND reserved NOT IN ('0', '-0')`).pluck().all(...LIVE) as string[];
    return held.reduce((sum, text) => sum.plus(dec(text)), new Decimal(0));
  }

  insertFill(fill: FillRow): void {
    prepared(this.db, `INSERT INTO fills (id, order_id, client_order_id, symbol, side, quantity, price, fee, fee_currency,
      liquidity, realized_pnl, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      fill.id, fill.orderId, fill.clientOrderId, fill.symbol, fill.side, fill.quantity.toString(), fill.price.toString(),
      fill.fee.toString(), fill.feeCurrency, fill.liquidity ?? null, fill.realizedPnl.toString(), fill.time.toISOString(),
    );
  }

  /** Fills at or after `since` (ISO-8601 UTC text sorts as time), oldest first. */
  fills(since?: Date): FillRow[] {
    const rows = since === undefined
      ? prepared(this.db, 'SELECT * FROM fills ORDER BY seq').all()
      : prepared(this.db, 'SELECT * FROM fills WHERE time >= ? ORDER BY seq').all(since.toISOString());
    return (rows as FillRecord[]).map(toFillRow);
  }

  /** One order's fills at or after `since`, by our client id or the venue's order id, oldest first. */
  fillsOf(clientOrderId: string, orderId: string | undefined, since?: Date): FillRow[] {
    const rows = prepared(this.db, 'SELECT * FROM fills WHERE (client_order_id = ? OR order_id = ?) AND time >= ? ORDER BY seq')
      .all(clientOrderId, orderId ?? clientOrderId, since?.toISOString() ?? '');
    return (rows as FillRecord[]).map(toFillRow);
  }

  position(symbol: string): PositionRow | undefined {
    const row = prepared(this.db, 'SELECT * FROM positions WHERE symbol = ?').get(symbol) as
      { symbol: string; quantity: string; average_price: string; updated_at: string } | undefined;
    return row && { symbol: row.symbol, quantity: dec(row.quantity), averagePrice: dec(row.average_price), updatedAt: new Date(row.updated_at) };
  }

  positions(): PositionRow[] {
    const rows = prepared(this.db, 'SELECT * FROM positions ORDER BY symbol').all() as
      { symbol: string; quantity: string; average_price: string; updated_at: string }[];
    return rows.map((row) => ({ symbol: row.symbol, quantity: dec(row.quantity), averagePrice: dec(row.average_price), updatedAt: new Date(row.updated_at) }));
  }

  /** Stores a position; a flat one is removed, so the table lists open positions only. */
  setPosition(symbol: string, quantity: Decimal, averagePrice: Decimal, now: Date): void {
    if (quantity.isZero()) {
      prepared(this.db, 'DELETE FROM positions WHERE symbol = ?').run(symbol);
      return;
    }
    prepared(this.db, `INSERT INTO positions (symbol, quantity, average_price, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (symbol) DO UPDATE SET quantity = excluded.quantity, average_price = excluded.average_price, updated_at = excluded.updated_at`)
      .run(symbol, quantity.toString(), averagePrice.toString(), now.toISOString());
  }

  lastPrice(symbol: string): PriceRow | undefined {
    const row = prepared(this.db, 'SELECT symbol, price, time FROM last_prices WHERE symbol = ?').get(symbol) as
      { symbol: string; price: string; time: string } | undefined;
    return row && { symbol: row.symbol, price: dec(row.price), time: new Date(row.time) };
  }

  setLastPrice(symbol: string, price: Decimal, time: Date): void {
    prepared(this.db, `INSERT INTO last_prices (symbol, price, time) VALUES (?, ?, ?)
      ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, time = excluded.time`).run(symbol, price.toString(), time.toISOString());
  }
}

function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new LedgerError(`paper ledger is at version ${current}, newer than this code knows (${MIGRATIONS.length})`);
  }
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    const step = MIGRATIONS[version] as string;
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
