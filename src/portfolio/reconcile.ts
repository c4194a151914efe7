// Reconciliation: brings the journal to what the broker says (never by trading), cancels orphaned protection, reports every difference.
// One thing it hands on rather than judges: an entry of tradewire's whose execution failed while the venue held it is
// finished as its executor would have (booked as its strategy's position, protected), not recorded as external.
import type { Broker } from '../brokers/broker.ts';
import { isOwnClientOrderId } from '../domain/ids.ts';
import { HUNDRED, ZERO, type Decimal } from '../domain/money.ts';
import type { BrokerPosition, Order } from '../domain/order.ts';
import { isTerminal } from '../domain/order.ts';
import { tradingDay } from '../domain/trading-day.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { awaitsInterruptedEntry, candidateEntries, resumeInterruptedEntry, type ResumedEntry } from '../execution/interrupted-entry.ts';
import { accountTimeZone, closeRecord } from '../execution/position-actions.ts';
import type { JournalOrder } from '../store/orders-repo.ts';
import type { CloseRecord, ExitReason, Position } from '../store/positions-repo.ts';

/** The strategy recorded on a position tradewire did not open (positions.strategy is NOT NULL, no CHECK). */
export const EXTERNAL_STRATEGY = '(external)';

export type ReconcileDifferenceKind =
  /** (a) the journal holds a position the broker no longer has: closed in the journal. */
  | 'position_missing_at_broker'
  /** (b) the broker holds less: the journal takes the broker's quantity and books the part gone. */
  | 'quantity_mismatch'
  /** The broker holds more than tradewire opened: the surplus is external, never adopted into the position. */
  | 'external_surplus'
  /** The broker holds the other side: the journal's position is closed and the broker's recorded as external. */
  | 'side_mismatch'
  /** (c) a broker position tradewire did not open: recorded as 'external', never traded. */
  | 'external_position'
  /** An external position the broker no longer has: closed in the journal. */
  | 'external_position_gone'
  /** A broker position on a symbol where tradewire has an order in flight: left for the next run. */
  | 'position_deferred'
  /** (d) a protective order tradewire placed whose position is closed or missing: cancelled. */
  | 'orphaned_protection_cancelled'
  | 'orphaned_protection_cancel_failed'
  /** (e) a journal order whose state the broker knows better: the journal follows the broker. */
  | 'order_updated'
  /** (e) an intent the broker never saw: 'rejected', reason 'not found at broker'. */
  | 'order_not_found'
  /** A live journal order the broker no longer lists, but which could not be resolved by lookup. */
  | 'order_unresolved'
  /** (f) a broker order tradewire did not place: reported, untouched. */
  | 'external_order'
  /** A position whose stop tradewire placed is no longer resting (reported: reconciliation does not place orders). */
  | 'protection_missing'
  /**
   * An entry of tradewire's whose execution failed while the venue held it (its fills could not be read): finished as
   * its executor would have (src/execution/interrupted-entry.ts), the strategy's position booked and protected.
   */
  | 'entry_resumed';

export interface ReconcileDifference {
  kind: ReconcileDifferenceKind;
  symbol: string;
  detail: string;
  positionId?: string | undefined;
  clientOrderId?: string | undefined;
}

export interface ReconcileReport {
  account: string;
  at: Date;
  differences: ReconcileDifference[];
  /** Set when the broker could not be read: nothing was changed. */
  error?: string | undefined;
}

export interface ReconcileOptions {
  now?: Date | undefined;
  /** Intents in `pending_submit` or `unknown` younger than this are left to the job that placed them (default 60 s). */
  pendingAgeMs?: number | undefined;
  /**
   * A broker position on a symbol where tradewire's own orders filled within this window, or have an entry or exit
   * in flight, is not judged: the executor is between the fill and the journal write (default 60 s).
   */
  settleMs?: number | undefined;
}

const DEFAULT_PENDING_AGE_MS = 60_000;
const DEFAULT_SETTLE_MS = 60_000;
// Client ids of protective legs: 'tw-st-…', 'tw-ta-…', with an optional sequence ('tw-st-2-…'); see domain/ids.ts.
const OWN_PROTECTION_ID = /^tw-(st|ta)(-\d+)?-/;

function exitReasonOf(order: JournalOrder): ExitReason {
  if (order.leg === 'target') return 'take_profit';
  if (order.leg === 'stop') return order.type === 'trailing_stop' ? 'trailing_stop' : 'stop_loss';
  return 'reconcile';
}

/**
 * A close whose price tradewire does not know from a fill: exit at `price` (the last quote, or the entry price),
 * P&L computed from it net of the entry fees' share.
 */
export function estimatedCloseRecord(position: Position, quantity: Decimal, price: Decimal, at: Date, day: string): CloseRecord {
  const direction = position.side === 'long' ? 1 : -1;
  const feeShare = position.quantity.gt(0) ? position.entryFees.mul(quantity).div(position.quantity) : ZERO;
  const realizedPnl = price.minus(position.averageEntryPrice).mul(quantity).mul(direction).minus(feeShare);
  const cost = position.averageEntryPrice.mul(quantity);
  return {
    quantity, entryPrice: position.averageEntryPrice, exitPrice: price, realizedPnl, fees: feeShare, exitReason: 'reconcile',
    realizedPnlPct: cost.gt(0) ? realizedPnl.div(cost).mul(HUNDRED) : undefined, closedAt: at, tradingDay: day,
  };
}

async function lastPrice(broker: Broker, symbol: string): Promise<Decimal | undefined> {
  try {
    return (await broker.quotes([symbol])).get(symbol)?.last;
  } catch {
    return undefined;
  }
}

/** Reconciles one account. A broker that cannot be read leaves the journal untouched and the report says why. */
export async function reconcileAccount(ctx: ExecutionContext, account: string, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const now = options.now ?? ctx.now();
  const pendingAgeMs = options.pendingAgeMs ?? DEFAULT_PENDING_AGE_MS;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const broker = ctx.brokers.get(account);
  const day = tradingDay(now, accountTimeZone(ctx, account));
  const differences: ReconcileDifference[] = [];
  const report = (d: ReconcileDifference): void => { differences.push(d); };

  let brokerOrders: Order[];
  try {
    brokerOrders = await broker.openOrders();
  } catch (error) {
    return { account, at: now, differences, error: `could not read open orders: ${String(error)}` };
  }

  // Entries the executor gave up on while the venue held them come first: what filled is their strategy's, never external.
  for (const entry of candidateEntries(ctx, account)) await resumeEntry(ctx, broker, entry, report);

  // (e) Journal orders first: a stop or an exit that filled behind our back decides how a missing position is booked.
  const brokerOpenIds = new Set(brokerOrders.map((o) => o.clientOrderId));
  for (const order of ctx.orders.openOrders(account)) {
    if (awaitsInterruptedEntry(ctx, order)) continue; // a bracket leg the venue may know by its own name only: its entry's resume adopts it
    const inDoubt = order.status === 'pending_submit' || order.status === 'unknown';
    if (inDoubt && now.getTime() - order.createdAt.getTime() < pendingAgeMs) continue;
    if (!inDoubt && brokerOpenIds.has(order.clientOrderId)) continue;
    await resolveOrder(ctx, broker, order, report);
  }

  let brokerPositions: BrokerPosition[];
  try {
    brokerPositions = await broker.positions();
  } catch (error) {
    return { account, at: now, differences, error: `could not read positions: ${String(error)}` };
  }
  const atBroker = new Map(brokerPositions.filter((p) => p.quantity.gt(0)).map((p) => [p.symbol, p]));
  const busy = await busySymbols(ctx, broker, account, now, settleMs);

  for (const position of ctx.positions.listOpen(account)) {
    if (position.status === 'opening') continue; // its entry rests; nothing is held yet
    if (position.status === 'closing' && (position.claimExpiresAt?.getTime() ?? 0) > now.getTime()) continue; // a close is in flight
    const held = atBroker.get(position.symbol);
    atBroker.delete(position.symbol);
    if (busy.has(position.symbol)) {
      if (!held || !held.quantity.eq(position.quantity) || held.side !== position.side) {
        report({ kind: 'position_deferred', symbol: position.symbol, positionId: position.id, detail: 'an order of tradewire on this symbol is in flight or just filled: judged on the next run' });
      }
      continue;
    }
    if (!held) {
      await closeMissing(ctx, broker, position, now, day, report);
    } else if (held.side !== position.side) {
      ctx.positions.close(position.id, estimatedCloseRecord(position, position.quantity, held.averagePrice, now, day));
      report({ kind: 'side_mismatch', symbol: position.symbol, positionId: position.id,
        detail: `journal ${position.side} ${position.quantity.toFixed()}, broker ${held.side} ${held.quantity.toFixed()}: the journal's position is closed (reason reconcile, P&L estimated at ${held.averagePrice.toFixed()}) and the broker's recorded as external` });
      recordExternal(ctx, account, held, now, day, report);
    } else if (!held.quantity.eq(position.quantity)) {
      correctQuantity(ctx, position, held, await lastPrice(broker, position.symbol), now, day, report);
    }
  }

  // (c) What is left at the broker has no journal position.
  for (const held of atBroker.values()) {
    if (busy.has(held.symbol)) {
      report({ kind: 'position_deferred', symbol: held.symbol, detail: 'an order of tradewire on this symbol is in flight or just filled: judged on the next run' });
      continue;
    }
    recordExternal(ctx, account, held, now, day, report);
  }

  await cancelOrphans(ctx, broker, account, brokerOrders, report);

  for (const order of brokerOrders) {
    // A bracket leg the venue named itself is ours once the journal knows it by the venue's id.
    if (isOwnClientOrderId(order.clientOrderId) || ctx.orders.findByBrokerOrderId(account, order.id)) continue;
    report({ kind: 'external_order', symbol: order.symbol, clientOrderId: order.clientOrderId,
      detail: `${order.side} ${order.quantity.toFixed()} ${order.type} (${order.status}) placed outside tradewire: left untouched` });
  }

  for (const position of ctx.positions.listOpen(account)) {
    if (position.status !== 'open' || position.protection !== 'after_fill') continue;
    if (!position.stopPrice && !position.trailAmount && !position.trailPercent) continue;
    const live = ctx.orders.ordersForPosition(position.id).some((o) => o.leg === 'stop' && !isTerminal(o.status));
    if (!live) report({ kind: 'protection_missing', symbol: position.symbol, positionId: position.id, detail: 'no stop rests at the broker for this position' });
  }

  const result = { account, at: now, differences };
  if (differences.length > 0) {
    ctx.logger.warn({ event: 'reconcile.differences', account, count: differences.length, differences }, `reconciliation of ${account} found ${differences.length} difference(s)`);
  } else {
    ctx.logger.info({ event: 'reconcile.clean', account }, `journal of ${account} agrees with the broker`);
  }
  return result;
}

/** Reconciles every configured account; one broker failing does not stop the others. */
export async function reconcileAll(ctx: ExecutionContext, options: ReconcileOptions = {}): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  for (const account of ctx.brokers.accounts()) {
    try {
      reports.push(await reconcileAccount(ctx, account, options));
    } catch (error) {
      ctx.logger.error({ event: 'reconcile.failed', account, err: String(error) }, `reconciliation of ${account} failed`);
      reports.push({ account, at: options.now ?? ctx.now(), differences: [], error: String(error) });
    }
  }
  return reports;
}

async function resumeEntry(ctx: ExecutionContext, broker: Broker, entry: JournalOrder, report: (d: ReconcileDifference) => void): Promise<void> {
  let resumed: ResumedEntry | undefined;
  try {
    resumed = await resumeInterruptedEntry(ctx, broker, entry);
  } catch (error) {
    report({ kind: 'order_unresolved', symbol: entry.symbol, clientOrderId: entry.clientOrderId, detail: `its failed execution could not be resumed yet: ${String(error)}` });
    return;
  }
  if (!resumed) return;
  const positionId = 'position' in resumed ? resumed.position.id : undefined;
  report({ kind: 'entry_resumed', symbol: entry.symbol, clientOrderId: entry.clientOrderId, positionId, detail: `${resumed.kind}: ${resumed.detail}` });
}

async function resolveOrder(ctx: ExecutionContext, broker: Broker, order: JournalOrder, report: (d: ReconcileDifference) => void): Promise<void> {
  let known: Order | undefined;
  try {
    known = await broker.getOrder({ clientOrderId: order.clientOrderId, symbol: order.symbol });
  } catch (error) {
    report({ kind: 'order_unresolved', symbol: order.symbol, clientOrderId: order.clientOrderId, detail: `lookup failed: ${String(error)}` });
    return;
  }
  if (!known) {
    if (order.status === 'pending_submit' || order.status === 'unknown') {
      ctx.orders.updateFromBroker(order.clientOrderId, { status: 'rejected', reason: 'not found at broker' });
      report({ kind: 'order_not_found', symbol: order.symbol, clientOrderId: order.clientOrderId, detail: `${order.leg} order was ${order.status}; the broker never saw it: rejected` });
    } else {
      report({ kind: 'order_unresolved', symbol: order.symbol, clientOrderId: order.clientOrderId, detail: `${order.leg} order is ${order.status} in the journal, the broker does not know it` });
    }
    return;
  }
  const updated = await ctx.tracker.refresh(broker, order.clientOrderId);
  if (updated.status !== order.status || !updated.filledQuantity.eq(order.filledQuantity)) {
    report({ kind: 'order_updated', symbol: order.symbol, clientOrderId: order.clientOrderId,
      detail: `${order.leg} order ${order.status} → ${updated.status} (filled ${updated.filledQuantity.toFixed()}/${updated.quantity.toFixed()})` });
  }
}

/**
 * Symbols where the journal may lag the broker for a moment: an entry or exit of ours still live, or an entry of
 * ours filled within the settle window (the executor writes or grows the position just after the fill).
 */
async function busySymbols(ctx: ExecutionContext, broker: Broker, account: string, now: Date, settleMs: number): Promise<Set<string>> {
  const busy = new Set<string>();
  for (const order of ctx.orders.openOrders(account)) {
    if (order.leg === 'entry' || order.leg === 'exit') busy.add(order.symbol);
  }
  if (settleMs > 0) {
    const since = new Date(now.getTime() - settleMs);
    for (const fill of await broker.fills(since)) {
      if (!isOwnClientOrderId(fill.clientOrderId) || fill.time.getTime() < since.getTime()) continue;
      // A stop, target or exit that filled is the broker's word on a close: judged now. An entry's fill may not be booked yet.
      const leg = ctx.orders.findByClientOrderId(fill.clientOrderId)?.leg;
      if (leg === undefined || leg === 'entry') busy.add(fill.symbol);
    }
  }
  return busy;
}

async function closeMissing(ctx: ExecutionContext, broker: Broker, position: Position, now: Date, day: string, report: (d: ReconcileDifference) => void): Promise<void> {
  if (position.status === 'external') {
    const price = (await lastPrice(broker, position.symbol)) ?? position.averageEntryPrice;
    ctx.positions.close(position.id, estimatedCloseRecord(position, position.quantity, price, now, day));
    report({ kind: 'external_position_gone', symbol: position.symbol, positionId: position.id, detail: `external ${position.side} ${position.quantity.toFixed()} is no longer held: closed in the journal` });
    return;
  }
  // Did a stop, a target or an exit of ours fill? Ask the broker by client id about any the journal still thinks live.
  const legs = ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'stop' || o.leg === 'target' || o.leg === 'exit');
  for (const leg of legs.filter((o) => !isTerminal(o.status))) {
    try {
      await ctx.tracker.refresh(broker, leg.clientOrderId);
    } catch {
      // Unreadable now: the position is booked from what is known.
    }
  }
  const filled = ctx.orders.ordersForPosition(position.id)
    .filter((o) => (o.leg === 'stop' || o.leg === 'target' || o.leg === 'exit') && o.status === 'filled' && o.filledQuantity.gte(position.quantity))
    .at(-1);
  if (filled && ctx.orders.fillsForOrder(filled.clientOrderId).length > 0) {
    const reason = exitReasonOf(filled);
    const record = { ...closeRecord(ctx, position, filled, reason), closedAt: now, tradingDay: day };
    const closed = ctx.positions.close(position.id, record);
    report({ kind: 'position_missing_at_broker', symbol: position.symbol, positionId: position.id, clientOrderId: filled.clientOrderId,
      detail: `the ${filled.leg} order filled at ${closed.exitPrice.toFixed()}: closed as ${reason}, realized ${closed.realizedPnl.toFixed()}` });
    return;
  }
  const quote = await lastPrice(broker, position.symbol);
  const price = quote ?? position.averageEntryPrice;
  const closed = ctx.positions.close(position.id, estimatedCloseRecord(position, position.quantity, price, now, day));
  report({ kind: 'position_missing_at_broker', symbol: position.symbol, positionId: position.id,
    detail: `no fill of tradewire's explains it: closed as reconcile; realized P&L unknown, exit price taken from the ${quote ? 'last quote' : 'entry price'} ${price.toFixed()} (estimate ${closed.realizedPnl.toFixed()})` });
}

function correctQuantity(ctx: ExecutionContext, position: Position, held: BrokerPosition, quote: Decimal | undefined, now: Date, day: string, report: (d: ReconcileDifference) => void): void {
  const base = { kind: 'quantity_mismatch' as const, symbol: position.symbol, positionId: position.id };
  if (held.quantity.lt(position.quantity)) {
    // Part was closed outside tradewire: book that part (price estimated) and keep the rest.
    const gone = position.quantity.minus(held.quantity);
    const price = quote ?? position.averageEntryPrice;
    ctx.positions.reduce(position.id, estimatedCloseRecord(position, gone, price, now, day), held.quantity);
    const feesLeft = position.entryFees.minus(position.entryFees.mul(gone).div(position.quantity));
    ctx.positions.update(position.id, { entryFees: feesLeft });
    report({ ...base, detail: `journal ${position.quantity.toFixed()}, broker ${held.quantity.toFixed()}: journal corrected; the ${gone.toFixed()} gone booked as reconcile at the ${quote ? 'last quote' : 'entry price'} ${price.toFixed()} (P&L estimated); resting protection is still sized for ${position.quantity.toFixed()}` });
  } else {
    // More than tradewire opened: someone else bought (or sold short) on top of it. Adopting it would let a later exit
    // or stop sell what tradewire never opened, at a cost it never paid: the position and its protection stay as opened.
    const surplus = held.quantity.minus(position.quantity);
    report({ kind: 'external_surplus', symbol: position.symbol, positionId: position.id,
      detail: `broker ${held.quantity.toFixed()}, tradewire ${position.quantity.toFixed()}: the ${surplus.toFixed()} more were not opened by tradewire and are external, never traded; the position and its protection stay sized for ${position.quantity.toFixed()}` });
  }
}

function recordExternal(ctx: ExecutionContext, account: string, held: BrokerPosition, now: Date, day: string, report: (d: ReconcileDifference) => void): void {
  const position = ctx.positions.open({
    account, strategy: EXTERNAL_STRATEGY, symbol: held.symbol, side: held.side, quantity: held.quantity, averageEntryPrice: held.averagePrice,
    status: 'external', openedAt: now, tradingDay: day,
  });
  report({ kind: 'external_position', symbol: held.symbol, positionId: position.id,
    detail: `${held.side} ${held.quantity.toFixed()} @ ${held.averagePrice.toFixed()} not opened by tradewire: recorded as external, never traded` });
}

/** (d) Our resting stops and targets whose position is closed or unknown are cancelled: the one thing reconciliation does. */
async function cancelOrphans(ctx: ExecutionContext, broker: Broker, account: string, brokerOrders: Order[], report: (d: ReconcileDifference) => void): Promise<void> {
  for (const order of brokerOrders) {
    if (!isOwnClientOrderId(order.clientOrderId) || isTerminal(order.status)) continue;
    const journalled = ctx.orders.findByClientOrderId(order.clientOrderId);
    const isProtection = journalled ? journalled.leg === 'stop' || journalled.leg === 'target' : OWN_PROTECTION_ID.test(order.clientOrderId);
    if (!isProtection) continue;
    if (journalled && journalled.account !== account) continue;
    if (journalled && awaitsInterruptedEntry(ctx, journalled)) continue; // its entry's resume links it to the position
    const position = journalled?.positionId ? ctx.positions.findById(journalled.positionId) : undefined;
    if (position && position.status !== 'closed') continue;
    const why = !journalled ? 'not in the journal' : position ? 'its position is closed' : 'its position is missing';
    try {
      if (journalled) {
        const after = await ctx.tracker.cancel(broker, order.clientOrderId);
        if (after.status === 'filled') {
          report({ kind: 'orphaned_protection_cancel_failed', symbol: order.symbol, clientOrderId: order.clientOrderId, detail: `${why}; it filled before the cancel arrived` });
          continue;
        }
      } else {
        await broker.cancelOrder({ clientOrderId: order.clientOrderId, symbol: order.symbol });
      }
      report({ kind: 'orphaned_protection_cancelled', symbol: order.symbol, clientOrderId: order.clientOrderId,
        detail: `${order.side} ${order.quantity.toFixed()} ${order.type} of tradewire (${why}): cancelled` });
    } catch (error) {
      report({ kind: 'orphaned_protection_cancel_failed', symbol: order.symbol, clientOrderId: order.clientOrderId, detail: `${why}; cancel failed: ${String(error)}` });
    }
  }
}
