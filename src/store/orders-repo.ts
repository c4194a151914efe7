// executed_orders, order_events and fills: the write-ahead intent of every order, each state change, each fill.
import { signalIdFactory } from '../domain/ids.ts';
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { durabilityBarrier } from './durability.ts';
import { decimalFrom, decimalText, optionalDecimalFrom, optionalDecimalText, orNull, orUndefined, timeFrom, timeText } from './columns.ts';
import { ZERO, type Decimal } from '../domain/money.ts';
import { InvariantError } from '../domain/errors.ts';
import { LIVE_STATUSES, transition, type OrderLeg, type OrderStatus, type OrderType, type Side, type TimeInForce } from '../domain/order.ts';

export interface OrderIntent {
  clientOrderId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: Side;
  leg: OrderLeg;
  type: OrderType;
  quantity: Decimal;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  timeInForce?: TimeInForce | undefined;
  signalId?: string | undefined;
  executionId?: number | undefined;
  positionId?: string | undefined;
  parentClientOrderId?: string | undefined;
  replacesClientOrderId?: string | undefined;
  /** The scale-out level (1-based) a target order takes profit at; absent for every other order. */
  level?: number | undefined;
  /** Why tradewire placed it (a stop moved to breakeven, say): kept with the intent's event. */
  note?: string | undefined;
}

export interface JournalOrder extends OrderIntent {
  id: number;
  brokerOrderId?: string | undefined;
  status: OrderStatus;
  filledQuantity: Decimal;
  averageFillPrice?: Decimal | undefined;
  reason?: string | undefined;
  createdAt: Date;
  updatedAt: Date;
}

/** What the broker says about an order now. */
export interface BrokerOrderUpdate {
  status: OrderStatus;
  brokerOrderId?: string | undefined;
  filledQuantity?: Decimal | undefined;
  averageFillPrice?: Decimal | undefined;
  reason?: string | undefined;
  /** Extra context kept with the event (the vendor's status word, say). */
  detail?: Record<string, unknown> | undefined;
}

export interface OrderEvent {
  id: number;
  orderId: number;
  fromStatus?: OrderStatus | undefined;
  toStatus: OrderStatus;
  detail?: Record<string, unknown> | undefined;
  at: Date;
}

export interface FillInput {
  /** The broker's trade/execution id; fills are recorded once per (account, brokerFillId). */
  brokerFillId: string;
  clientOrderId: string;
  account: string;
  symbol: string;
  side: Side;
  quantity: Decimal;
  price: Decimal;
  fee: Decimal;
  feeCurrency?: string | undefined;
  liquidity?: 'maker' | 'taker' | undefined;
  at: Date;
}

export interface JournalFill extends FillInput {
  id: string;
  orderId: number;
}

interface OrderRow {
  id: number; client_order_id: string; broker_order_id: string | null; signal_id: string | null; execution_id: number | null;
  position_id: string | null; parent_client_order_id: string | null; replaces_client_order_id: string | null;
  account: string; strategy: string; symbol: string; side: Side; leg: OrderLeg; type: OrderType; quantity: string;
  limit_price: string | null; stop_price: string | null; trail_amount: string | null; trail_percent: string | null;
  time_in_force: TimeInForce | null; status: OrderStatus; filled_quantity: string; average_fill_price: string | null;
  reason: string | null; created_at: string; updated_at: string; level: number | null;
}

interface EventRow { id: number; order_id: number; from_status: OrderStatus | null; to_status: OrderStatus; detail: string | null; at: string }

interface FillRow {
  id: string; broker_fill_id: string; order_id: number; client_order_id: string; account: string; symbol: string; side: Side;
  quantity: string; price: string; fee: string; fee_currency: string | null; liquidity: 'maker' | 'taker' | null; at: string;
}

/**
 * The order columns, in OrderRow's order: order reads ask for these by name and take rows as arrays (`raw`), which
 * better-sqlite3 builds without naming 26 properties on a new object per row (V8's string internalizing and map
 * transitions for those names were ~5 % of the execution thread in a profile of the throughput bench).
 */
const ORDER_COLUMNS = [
  'id', 'client_order_id', 'broker_order_id', 'signal_id', 'execution_id', 'position_id', 'parent_client_order_id', 'replaces_client_order_id',
  'account', 'strategy', 'symbol', 'side', 'leg', 'type', 'quantity', 'limit_price', 'stop_price', 'trail_amount', 'trail_percent',
  'time_in_force', 'status', 'filled_quantity', 'average_fill_price', 'reason', 'created_at', 'updated_at', 'level',
] as const satisfies ReadonlyArray<keyof OrderRow>;

/** `SELECT <the order columns> FROM executed_orders <rest>`: read with `.raw()` and mapped by orderFromRaw. */
const selectOrders = (rest: string): string => `SELECT ${ORDER_COLUMNS.join(', ')} FROM executed_orders ${rest}`;

type RawOrderRow = [
  OrderRow['id'], OrderRow['client_order_id'], OrderRow['broker_order_id'], OrderRow['signal_id'], OrderRow['execution_id'], OrderRow['position_id'],
  OrderRow['parent_client_order_id'], OrderRow['replaces_client_order_id'], OrderRow['account'], OrderRow['strategy'], OrderRow['symbol'],
  OrderRow['side'], OrderRow['leg'], OrderRow['type'], OrderRow['quantity'], OrderRow['limit_price'], OrderRow['stop_price'],
  OrderRow['trail_amount'], OrderRow['trail_percent'], OrderRow['time_in_force'], OrderRow['status'], OrderRow['filled_quantity'],
  OrderRow['average_fill_price'], OrderRow['reason'], OrderRow['created_at'], OrderRow['updated_at'], OrderRow['level'],
];

function orderFromRaw(r: RawOrderRow): JournalOrder {
  return orderFromRow({
    id: r[0], client_order_id: r[1], broker_order_id: r[2], signal_id: r[3], execution_id: r[4], position_id: r[5], parent_client_order_id: r[6],
    replaces_client_order_id: r[7], account: r[8], strategy: r[9], symbol: r[10], side: r[11], leg: r[12], type: r[13], quantity: r[14],
    limit_price: r[15], stop_price: r[16], trail_amount: r[17], trail_percent: r[18], time_in_force: r[19], status: r[20], filled_quantity: r[21],
    average_fill_price: r[22], reason: r[23], created_at: r[24], updated_at: r[25], level: r[26],
  });
}

function orderFromRow(row: OrderRow): JournalOrder {
  return {
    id: row.id,
    clientOrderId: row.client_order_id,
    brokerOrderId: orUndefined(row.broker_order_id),
    signalId: orUndefined(row.signal_id),
    executionId: orUndefined(row.execution_id),
    positionId: orUndefined(row.position_id),
    parentClientOrderId: orUndefined(row.parent_client_order_id),
    replacesClientOrderId: orUndefined(row.replaces_client_order_id),
    level: orUndefined(row.level),
    account: row.account,
    strategy: row.strategy,
    symbol: row.symbol,
    side: row.side,
    leg: row.leg,
    type: row.type,
    quantity: decimalFrom(row.quantity),
    limitPrice: optionalDecimalFrom(row.limit_price),
    stopPrice: optionalDecimalFrom(row.stop_price),
    trailAmount: optionalDecimalFrom(row.trail_amount),
    trailPercent: optionalDecimalFrom(row.trail_percent),
    timeInForce: orUndefined(row.time_in_force),
    status: row.status,
    filledQuantity: decimalFrom(row.filled_quantity),
    averageFillPrice: optionalDecimalFrom(row.average_fill_price),
    reason: orUndefined(row.reason),
    createdAt: timeFrom(row.created_at),
    updatedAt: timeFrom(row.updated_at),
  };
}

function fillFromRow(row: FillRow): JournalFill {
  return {
    id: row.id,
    brokerFillId: row.broker_fill_id,
    orderId: row.order_id,
    clientOrderId: row.client_order_id,
    account: row.account,
    symbol: row.symbol,
    side: row.side,
    quantity: decimalFrom(row.quantity),
    price: decimalFrom(row.price),
    fee: decimalFrom(row.fee),
    feeCurrency: orUndefined(row.fee_currency),
    liquidity: orUndefined(row.liquidity),
    at: timeFrom(row.at),
  };
}

// An intent not yet confirmed, and an order whose fate is unknown, may both be resting at the broker.
const OPEN_STATUSES: readonly OrderStatus[] = ['pending_submit', ...LIVE_STATUSES];

export class OrdersRepo {
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(private readonly db: SqliteDatabase, options: { now?: () => Date; newId?: () => string } = {}) {
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? signalIdFactory();
  }

  /**
   * Resolves once every commit made on this journal so far is on disk (not only in the OS's cache), the intents above
   * all: the order tracker waits for it before any broker call. Executions waiting at once share one fsync (group commit).
   */
  makeDurable(): Promise<void> {
    return durabilityBarrier(this.db).sync();
  }

  /** Runs `write` as one commit: what the broker reported about one order (its fills and status steps) lands together or not at all. */
  inOneCommit<T>(write: () => T): T {
    return this.db.transaction(write).immediate();
  }

  /**
   * The write-ahead intent: the order, status `pending_submit`, and its first event, committed together
   * before the broker is called, so a crash after the call still leaves a client id to look up.
   * A client id already journalled (a re-delivered job) is returned as it stands with `created: false`;
   * the caller then looks the order up at the broker instead of placing it again.
   */
  recordIntent(intent: OrderIntent): { order: JournalOrder; created: boolean } {
    return this.db.transaction(() => {
      const at = timeText(this.now());
      const result = prepared(this.db, `
        INSERT INTO executed_orders (client_order_id, signal_id, execution_id, position_id, parent_client_order_id, replaces_client_order_id,
          account, strategy, symbol, side, leg, type, quantity, limit_price, stop_price, trail_amount, trail_percent, time_in_force,
          status, filled_quantity, created_at, updated_at, level)
        VALUES (@clientOrderId, @signalId, @executionId, @positionId, @parentClientOrderId, @replacesClientOrderId,
          @account, @strategy, @symbol, @side, @leg, @type, @quantity, @limitPrice, @stopPrice, @trailAmount, @trailPercent, @timeInForce,
          'pending_submit', '0', @at, @at, @level)
        ON CONFLICT (client_order_id) DO NOTHING`).run({
        clientOrderId: intent.clientOrderId,
        signalId: orNull(intent.signalId),
        executionId: orNull(intent.executionId),
        positionId: orNull(intent.positionId),
        parentClientOrderId: orNull(intent.parentClientOrderId),
        replacesClientOrderId: orNull(intent.replacesClientOrderId),
        account: intent.account,
        strategy: intent.strategy,
        symbol: intent.symbol,
        side: intent.side,
        leg: intent.leg,
        type: intent.type,
        quantity: decimalText(intent.quantity),
        limitPrice: optionalDecimalText(intent.limitPrice),
        stopPrice: optionalDecimalText(intent.stopPrice),
        trailAmount: optionalDecimalText(intent.trailAmount),
        trailPercent: optionalDecimalText(intent.trailPercent),
        timeInForce: orNull(intent.timeInForce),
        at,
        level: orNull(intent.level),
      });
      if (result.changes === 0) {
        // Journalled already (a re-delivered job): the order as it stands. The insert that found it doubles as the lookup,
        // so a new intent (the usual case) reads nothing.
        const existing = this.findByClientOrderId(intent.clientOrderId);
        if (existing === undefined) throw new InvariantError(`intent ${intent.clientOrderId} conflicts with no journalled order`);
        return { order: existing, created: false };
      }
      const orderId = Number(result.lastInsertRowid);
      this.appendEvent(orderId, undefined, 'pending_submit', { quantity: decimalText(intent.quantity), leg: intent.leg,
        ...(intent.level === undefined ? {} : { level: intent.level }), ...(intent.note === undefined ? {} : { reason: intent.note }) }, at);
      // The row as just written, without reading it back (row mapping and Decimal parsing of reads were much of execution's CPU).
      const written = timeFrom(at);
      const order: JournalOrder = {
        id: orderId, clientOrderId: intent.clientOrderId, brokerOrderId: undefined, signalId: intent.signalId, executionId: intent.executionId,
        positionId: intent.positionId, parentClientOrderId: intent.parentClientOrderId, replacesClientOrderId: intent.replacesClientOrderId,
        account: intent.account, strategy: intent.strategy, symbol: intent.symbol, side: intent.side, leg: intent.leg, type: intent.type,
        quantity: intent.quantity, limitPrice: intent.limitPrice, stopPrice: intent.stopPrice, trailAmount: intent.trailAmount,
        trailPercent: intent.trailPercent, timeInForce: intent.timeInForce, status: 'pending_submit', filledQuantity: ZERO,
        averageFillPrice: undefined, reason: undefined, createdAt: written, updatedAt: written, level: intent.level,
      };
      return { order, created: true };
    }).immediate();
  }

  findByClientOrderId(clientOrderId: string): JournalOrder | undefined {
    const row = prepared(this.db, selectOrders('WHERE client_order_id = ?')).raw().get(clientOrderId) as RawOrderRow | undefined;
    return row === undefined ? undefined : orderFromRaw(row);
  }

  findByBrokerOrderId(account: string, brokerOrderId: string): JournalOrder | undefined {
    const row = prepared(this.db, selectOrders('WHERE account = ? AND broker_order_id = ?')).raw().get(account, brokerOrderId) as RawOrderRow | undefined;
    return row === undefined ? undefined : orderFromRaw(row);
  }

  /**
   * Applies what the broker reports. The status move is checked against the order state machine (an
   * illegal one throws InvariantError and writes nothing); the same status with new fill data or a
   * broker id is a no-op for the status. Every change appends an order_event in the same transaction;
   * a report that changes nothing writes nothing. A filled quantity that goes backwards is refused:
   * it is a stale report, and keeping it would undo a fill.
   */
  updateFromBroker(clientOrderId: string, next: BrokerOrderUpdate, written?: JournalOrder): JournalOrder {
    return this.db.transaction(() => {
      // `written`: the row as an earlier write of this same commit returned it (a status step after `submitted`), not read again.
      const current = written?.clientOrderId === clientOrderId ? written : this.findByClientOrderId(clientOrderId);
      if (current === undefined) throw new InvariantError(`no journalled order ${clientOrderId}`);
      const label = `${clientOrderId} (${current.account} ${current.symbol})`;
      if (next.status !== current.status) transition(current.status, next.status, label);
      if (next.filledQuantity !== undefined && next.filledQuantity.lt(current.filledQuantity)) {
        throw new InvariantError(`filled quantity of ${label} would go back from ${current.filledQuantity.toFixed()} to ${next.filledQuantity.toFixed()}`);
      }

      const changes: Record<string, unknown> = {};
      if (next.brokerOrderId !== undefined && next.brokerOrderId !== current.brokerOrderId) changes.brokerOrderId = next.brokerOrderId;
      if (next.filledQuantity !== undefined && !next.filledQuantity.eq(current.filledQuantity)) changes.filledQuantity = decimalText(next.filledQuantity);
      if (next.averageFillPrice !== undefined && (current.averageFillPrice === undefined || !next.averageFillPrice.eq(current.averageFillPrice))) {
        changes.averageFillPrice = decimalText(next.averageFillPrice);
      }
      if (next.reason !== undefined && next.reason !== current.reason) changes.reason = next.reason;
      if (next.status === current.status && Object.keys(changes).length === 0) return current;

      const at = timeText(this.now());
      prepared(this.db, `
        UPDATE executed_orders SET status = @status, broker_order_id = @brokerOrderId, filled_quantity = @filledQuantity,
          average_fill_price = @averageFillPrice, reason = @reason, updated_at = @at
        WHERE id = @id`).run({
        id: current.id,
        status: next.status,
        brokerOrderId: orNull(next.brokerOrderId ?? current.brokerOrderId),
        filledQuantity: decimalText(next.filledQuantity ?? current.filledQuantity),
        averageFillPrice: optionalDecimalText(next.averageFillPrice ?? current.averageFillPrice),
        reason: orNull(next.reason ?? current.reason),
        at,
      });
      this.appendEvent(current.id, current.status, next.status, { ...next.detail, ...changes }, at);
      // The row as just written, without reading it back (the journal's reads were a large part of an execution's CPU).
      return {
        ...current,
        status: next.status,
        brokerOrderId: next.brokerOrderId ?? current.brokerOrderId,
        filledQuantity: next.filledQuantity ?? current.filledQuantity,
        averageFillPrice: next.averageFillPrice ?? current.averageFillPrice,
        reason: next.reason ?? current.reason,
        updatedAt: timeFrom(at),
      };
    }).immediate();
  }

  /**
   * Records an amendment the broker accepted (a leg resized, a stop moved): the order's columns say what rests now,
   * and an event keeps what they said before.
   */
  recordAmend(clientOrderId: string, change: { quantity?: Decimal | undefined; stopPrice?: Decimal | undefined; limitPrice?: Decimal | undefined }, reason?: string, brokerOrderId?: string): JournalOrder {
    return this.db.transaction(() => {
      const current = this.findByClientOrderId(clientOrderId);
      if (current === undefined) throw new InvariantError(`no journalled order ${clientOrderId}`);
      const at = timeText(this.now());
      prepared(this.db, `UPDATE executed_orders SET quantity = @quantity, stop_price = @stopPrice, limit_price = @limitPrice,
        broker_order_id = COALESCE(@brokerOrderId, broker_order_id), updated_at = @at WHERE id = @id`).run({
        id: current.id, at, brokerOrderId: orNull(brokerOrderId),
        quantity: decimalText(change.quantity ?? current.quantity),
        stopPrice: optionalDecimalText(change.stopPrice ?? current.stopPrice),
        limitPrice: optionalDecimalText(change.limitPrice ?? current.limitPrice),
      });
      const before = { quantity: current.quantity.toFixed(), stopPrice: current.stopPrice?.toFixed(), limitPrice: current.limitPrice?.toFixed() };
      const after = { quantity: change.quantity?.toFixed(), stopPrice: change.stopPrice?.toFixed(), limitPrice: change.limitPrice?.toFixed() };
      this.appendEvent(current.id, current.status, current.status, { amended: true, before, after, ...(reason === undefined ? {} : { reason }) }, at);
      const updated = this.findByClientOrderId(clientOrderId);
      if (updated === undefined) throw new InvariantError(`order ${clientOrderId} vanished inside its own transaction`);
      return updated;
    }).immediate();
  }

  /** Orders of an account (and symbol) that are not terminal, including intents not yet confirmed by the broker. */
  /** Links an order to the position it opened (an entry is placed before its position exists). */
  linkPosition(clientOrderId: string, positionId: string): void {
    prepared(this.db, 'UPDATE executed_orders SET position_id = ?, updated_at = ? WHERE client_order_id = ?')
      .run(positionId, timeText(this.now()), clientOrderId);
  }

  openOrders(account: string, symbol?: string): JournalOrder[] {
    const placeholders = OPEN_STATUSES.map(() => '?').join(', ');
    const sql = selectOrders(`WHERE account = ? ${symbol === undefined ? '' : 'AND symbol = ?'} AND status IN (${placeholders}) ORDER BY id`);
    const params = symbol === undefined ? [account, ...OPEN_STATUSES] : [account, symbol, ...OPEN_STATUSES];
    return (prepared(this.db, sql).raw().all(...params) as RawOrderRow[]).map(orderFromRaw);
  }

  ordersForSignal(signalId: string): JournalOrder[] {
    return (prepared(this.db, selectOrders('WHERE signal_id = ? ORDER BY id')).raw().all(signalId) as RawOrderRow[]).map(orderFromRaw);
  }

  ordersForPosition(positionId: string): JournalOrder[] {
    return (prepared(this.db, selectOrders('WHERE position_id = ? ORDER BY id')).raw().all(positionId) as RawOrderRow[]).map(orderFromRaw);
  }

  /** The order's history, oldest first. */
  events(clientOrderId: string): OrderEvent[] {
    const rows = prepared(this.db, `
      SELECT e.* FROM order_events e JOIN executed_orders o ON o.id = e.order_id
      WHERE o.client_order_id = ? ORDER BY e.id`).all(clientOrderId) as EventRow[];
    return rows.map((row) => ({
      id: row.id,
      orderId: row.order_id,
      fromStatus: orUndefined(row.from_status),
      toStatus: row.to_status,
      detail: row.detail === null ? undefined : (JSON.parse(row.detail) as Record<string, unknown>),
      at: timeFrom(row.at),
    }));
  }

  /**
   * Records a fill once: the same (account, brokerFillId) again, from a websocket and a poll say, is
   * ignored and the fill already journalled is returned with `inserted: false`. The fill's order must be journalled.
   * Filled quantity and average price on the order itself move through updateFromBroker.
   */
  recordFill(fill: FillInput): { fill: JournalFill; inserted: boolean } {
    return this.db.transaction(() => {
      const order = this.findByClientOrderId(fill.clientOrderId);
      if (order === undefined) throw new InvariantError(`fill ${fill.brokerFillId} for unknown order ${fill.clientOrderId}`);
      if (order.account !== fill.account) {
        throw new InvariantError(`fill ${fill.brokerFillId} is for account ${fill.account}, order ${fill.clientOrderId} belongs to ${order.account}`);
      }
      const result = prepared(this.db, `
        INSERT INTO fills (id, broker_fill_id, order_id, account, symbol, side, quantity, price, fee, fee_currency, liquidity, at)
        VALUES (@id, @brokerFillId, @orderId, @account, @symbol, @side, @quantity, @price, @fee, @feeCurrency, @liquidity, @at)
        ON CONFLICT (account, broker_fill_id) DO NOTHING`).run({
        id: this.newId(),
        brokerFillId: fill.brokerFillId,
        orderId: order.id,
        account: fill.account,
        symbol: fill.symbol,
        side: fill.side,
        quantity: decimalText(fill.quantity),
        price: decimalText(fill.price),
        fee: decimalText(fill.fee),
        feeCurrency: orNull(fill.feeCurrency),
        liquidity: orNull(fill.liquidity),
        at: timeText(fill.at),
      });
      const stored = this.findFill(fill.account, fill.brokerFillId);
      if (stored === undefined) throw new InvariantError(`fill ${fill.brokerFillId} vanished inside its own transaction`);
      return { fill: stored, inserted: result.changes === 1 };
    }).immediate();
  }

  findFill(account: string, brokerFillId: string): JournalFill | undefined {
    const row = prepared(this.db, `
      SELECT f.*, o.client_order_id FROM fills f JOIN executed_orders o ON o.id = f.order_id
      WHERE f.account = ? AND f.broker_fill_id = ?`).get(account, brokerFillId) as FillRow | undefined;
    return row === undefined ? undefined : fillFromRow(row);
  }

  fillsForOrder(clientOrderId: string): JournalFill[] {
    const rows = prepared(this.db, `
      SELECT f.*, o.client_order_id FROM fills f JOIN executed_orders o ON o.id = f.order_id
      WHERE o.client_order_id = ? ORDER BY f.at, f.id`).all(clientOrderId) as FillRow[];
    return rows.map(fillFromRow);
  }

  private appendEvent(orderId: number, from: OrderStatus | undefined, to: OrderStatus, detail: Record<string, unknown> | undefined, at: string): void {
    const json = detail === undefined || Object.keys(detail).length === 0 ? null : JSON.stringify(detail);
    prepared(this.db, 'INSERT INTO order_events (order_id, from_status, to_status, detail, at) VALUES (?, ?, ?, ?, ?)')
      .run(orderId, orNull(from), to, json, at);
  }
}
