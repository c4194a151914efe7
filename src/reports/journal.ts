// Reads what the reports need from the SQLite journal: closed trades, open positions, orders, entry orders with their alert price.
import type { Database } from 'better-sqlite3';
import type { Decimal } from '../domain/money.ts';
import { isDecimalText, toDecimal } from '../domain/money.ts';
import { LIVE_STATUSES } from '../domain/order.ts';

/** A closed trade (one closed_positions row: a full close, or the part a partial close took off). */
export interface TradeRecord {
  id: number;
  positionId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: 'long' | 'short';
  quantity: Decimal;
  entryPrice: Decimal;
  exitPrice: Decimal;
  /** Net of fees. */
  realizedPnl: Decimal;
  realizedPnlPct?: Decimal | undefined;
  fees: Decimal;
  exitReason: string;
  openedAt: string;
  closedAt: string;
  tradingDay: string;
  /** The stop the position opened with: one R is |entry − initialStop| (absent: the trade has no R). */
  initialStop?: Decimal | undefined;
}

/** An entry order, with the price of the alert that asked for it (when the alert had one). */
export interface EntryRecord {
  clientOrderId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: 'buy' | 'sell';
  status: string;
  quantity: Decimal;
  filledQuantity: Decimal;
  averageFillPrice?: Decimal | undefined;
  alertPrice?: Decimal | undefined;
  createdAt: string;
}

export interface OpenPositionRecord {
  id: string;
  account: string;
  strategy: string;
  symbol: string;
  side: 'long' | 'short';
  quantity: Decimal;
  averageEntryPrice: Decimal;
  stopPrice?: Decimal | undefined;
  targetPrice?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  status: string;
  openedAt: string;
}

export interface OrderRecord {
  clientOrderId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: 'buy' | 'sell';
  leg: string;
  type: string;
  quantity: Decimal;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  status: string;
  filledQuantity: Decimal;
  averageFillPrice?: Decimal | undefined;
  positionId?: string | undefined;
  signalId?: string | undefined;
  createdAt: string;
}

export interface JournalFilter {
  /** Only trades closed (entries created) at or after this time. */
  since?: Date | undefined;
  strategy?: string | undefined;
}

const optional = (text: string | null): Decimal | undefined => (text === null ? undefined : toDecimal(text));

/** The alert's price from a journalled payload (`price`, or its alias `signalPrice`), when it is a plain number. */
export function alertPriceOf(payload: string | null): Decimal | undefined {
  if (payload === null) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  for (const key of ['price', 'signalPrice']) {
    const value = record[key];
    // Payloads keep numbers as their source text; a bare safe integer is exact too.
    if (typeof value === 'string' && isDecimalText(value.trim())) return toDecimal(value);
    if (typeof value === 'number' && Number.isSafeInteger(value)) return toDecimal(value);
  }
  return undefined;
}

interface ClosedRow {
  id: number; position_id: string; account: string; strategy: string; symbol: string; side: 'long' | 'short'; quantity: string;
  entry_price: string; exit_price: string; realized_pnl: string; realized_pnl_pct: string | null; fees: string; exit_reason: string;
  opened_at: string; closed_at: string; trading_day: string; initial_stop: string | null;
}

/** Closed trades, oldest first (closed_at, then id). */
export function loadTrades(db: Database, filter: JournalFilter = {}): TradeRecord[] {
  const rows = db.prepare(`
    SELECT c.*, s.initial_stop FROM closed_positions c LEFT JOIN v_initial_stops s ON s.position_id = c.position_id
    WHERE (@strategy IS NULL OR c.strategy = @strategy) AND (@since IS NULL OR c.closed_at >= @since)
    ORDER BY c.closed_at, c.id`).all({ strategy: filter.strategy ?? null, since: filter.since?.toISOString() ?? null }) as ClosedRow[];
  return rows.map((r) => ({
    id: r.id, positionId: r.position_id, account: r.account, strategy: r.strategy, symbol: r.symbol, side: r.side,
    quantity: toDecimal(r.quantity), entryPrice: toDecimal(r.entry_price), exitPrice: toDecimal(r.exit_price),
    realizedPnl: toDecimal(r.realized_pnl), realizedPnlPct: optional(r.realized_pnl_pct), fees: toDecimal(r.fees),
    exitReason: r.exit_reason, openedAt: r.opened_at, closedAt: r.closed_at, tradingDay: r.trading_day, initialStop: optional(r.initial_stop),
  }));
}

interface EntryRow {
  client_order_id: string; account: string; strategy: string; symbol: string; side: 'buy' | 'sell'; status: string; quantity: string;
  filled_quantity: string; average_fill_price: string | null; created_at: string; payload: string | null;
}

/** Entry orders with their alert's price, oldest first. */
export function loadEntries(db: Database, filter: JournalFilter = {}): EntryRecord[] {
  const rows = db.prepare(`
    SELECT o.client_order_id, o.account, o.strategy, o.symbol, o.side, o.status, o.quantity, o.filled_quantity, o.average_fill_price,
           o.created_at, s.payload
    FROM executed_orders o LEFT JOIN signals s ON s.signal_id = o.signal_id
    WHERE o.leg = 'entry' AND (@strategy IS NULL OR o.strategy = @strategy) AND (@since IS NULL OR o.created_at >= @since)
    ORDER BY o.created_at, o.id`).all({ strategy: filter.strategy ?? null, since: filter.since?.toISOString() ?? null }) as EntryRow[];
  return rows.map((r) => ({
    clientOrderId: r.client_order_id, account: r.account, strategy: r.strategy, symbol: r.symbol, side: r.side, status: r.status,
    quantity: toDecimal(r.quantity), filledQuantity: toDecimal(r.filled_quantity), averageFillPrice: optional(r.average_fill_price),
    alertPrice: alertPriceOf(r.payload), createdAt: r.created_at,
  }));
}

interface PositionRow {
  id: string; account: string; strategy: string; symbol: string; side: 'long' | 'short'; quantity: string; average_entry_price: string;
  stop_price: string | null; target_price: string | null; trail_percent: string | null; trail_amount: string | null; status: string; opened_at: string;
}

/** Live (not closed) positions, by account and symbol. */
export function loadOpenPositions(db: Database, account?: string): OpenPositionRecord[] {
  const rows = db.prepare(`
    SELECT id, account, strategy, symbol, side, quantity, average_entry_price, stop_price, target_price, trail_percent, trail_amount, status, opened_at
    FROM positions WHERE status <> 'closed' AND (@account IS NULL OR account = @account)
    ORDER BY account, symbol`).all({ account: account ?? null }) as PositionRow[];
  return rows.map((r) => ({
    id: r.id, account: r.account, strategy: r.strategy, symbol: r.symbol, side: r.side, quantity: toDecimal(r.quantity),
    averageEntryPrice: toDecimal(r.average_entry_price), stopPrice: optional(r.stop_price), targetPrice: optional(r.target_price),
    trailPercent: optional(r.trail_percent), trailAmount: optional(r.trail_amount), status: r.status, openedAt: r.opened_at,
  }));
}

interface OrderRow {
  client_order_id: string; account: string; strategy: string; symbol: string; side: 'buy' | 'sell'; leg: string; type: string; quantity: string;
  limit_price: string | null; stop_price: string | null; status: string; filled_quantity: string; average_fill_price: string | null;
  position_id: string | null; signal_id: string | null; created_at: string;
}

// The order statuses in which an order may still rest at the broker (orders-repo's open statuses).
const OPEN_ORDER_STATUSES: readonly string[] = ['pending_submit', ...LIVE_STATUSES];

/** Orders, newest first: the working ones only (default), or the latest `limit` of all. */
export function loadOrders(db: Database, options: { all?: boolean; limit?: number; account?: string | undefined } = {}): OrderRecord[] {
  const statuses = OPEN_ORDER_STATUSES.map((s) => `'${s}'`).join(', ');
  const rows = db.prepare(`
    SELECT client_order_id, account, strategy, symbol, side, leg, type, quantity, limit_price, stop_price, status, filled_quantity,
           average_fill_price, position_id, signal_id, created_at
    FROM executed_orders
    WHERE (@all = 1 OR status IN (${statuses})) AND (@account IS NULL OR account = @account)
    ORDER BY id DESC LIMIT @limit`).all({ all: options.all === true ? 1 : 0, account: options.account ?? null, limit: options.limit ?? 200 }) as OrderRow[];
  return rows.map((r) => ({
    clientOrderId: r.client_order_id, account: r.account, strategy: r.strategy, symbol: r.symbol, side: r.side, leg: r.leg, type: r.type,
    quantity: toDecimal(r.quantity), limitPrice: optional(r.limit_price), stopPrice: optional(r.stop_price), status: r.status,
    filledQuantity: toDecimal(r.filled_quantity), averageFillPrice: optional(r.average_fill_price), positionId: r.position_id ?? undefined,
    signalId: r.signal_id ?? undefined, createdAt: r.created_at,
  }));
}

/** The start of a `--days N` window: N × 24 h before now. */
export function sinceDays(days: number | undefined, now: Date): Date | undefined {
  return days === undefined ? undefined : new Date(now.getTime() - days * 86_400_000);
}
