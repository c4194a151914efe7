// Places orders safely and keeps the journal in step: intent first, retries inside the call, lookup by client id.
import type { Broker } from '../brokers/broker.ts';
import { BrokerError, DuplicateClientOrderIdError, mayHaveReachedVenue, OrderNotFoundError, RateLimitError } from '../domain/errors.ts';
import type { BracketRequest, Order, OrderChange, OrderRequest, OrderStatus } from '../domain/order.ts';
import { isTerminal } from '../domain/order.ts';
import type { JournalOrder, OrderIntent, OrdersRepo } from '../store/orders-repo.ts';
import type { Logger } from '../ops/logger.ts';
import { threadMetrics } from '../ops/metrics.ts';
import { withRetries, type RetryDeps, type RetryPolicy } from './retry.ts';

export interface OrderTrackerDeps {
  orders: OrdersRepo;
  logger: Logger;
  retry: RetryPolicy;
  retryDeps: RetryDeps;
}

/** Raised when the broker refused an order (or it could not be placed after retries); the journal already says so. */
export interface BracketIntents {
  entry: OrderIntent;
  stop?: OrderIntent | undefined;
  target?: OrderIntent | undefined;
}

export interface BracketJournal {
  entry: JournalOrder;
  stop?: JournalOrder | undefined;
  target?: JournalOrder | undefined;
}

export class OrderFailedError extends Error {
  constructor(readonly order: JournalOrder, override readonly cause: unknown) {
    super(`order ${order.clientOrderId} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'OrderFailedError';
  }
}

/**
 * Raised when the venue took an order but its state or fills could not be read after retries: nothing was refused,
 * the journal only lags (the order stays resumable, looked up again by its client id; see interrupted-entry.ts).
 */
export class OrderUnconfirmedError extends Error {
  constructor(readonly order: JournalOrder, override readonly cause: unknown) {
    super(`order ${order.clientOrderId} was taken by the venue, but its state could not be read: ${brokerReason(cause)}`);
    this.name = 'OrderUnconfirmedError';
  }
}

export function brokerReason(error: unknown): string {
  if (error instanceof BrokerError) return error.vendorMessage ? `${error.kind}: ${error.vendorMessage}` : `${error.kind}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export class OrderTracker {
  constructor(private readonly deps: OrderTrackerDeps) {}

  /**
   * Places the order described by `intent` exactly once. The intent is committed to the journal before the
   * broker hears of it; if the journal already holds it (a re-delivered job, a retry after a crash), the
   * order is looked up by its client id at the broker and only placed if the broker has never seen it.
   */
  async place(broker: Broker, intent: OrderIntent, request: Omit<OrderRequest, 'clientOrderId' | 'symbol' | 'side' | 'type' | 'quantity'> = {}): Promise<JournalOrder> {
    const { order: journalled, created } = this.deps.orders.recordIntent(intent);
    if (!created && journalled.status !== 'pending_submit' && journalled.status !== 'unknown') {
      return this.refresh(broker, journalled.clientOrderId);
    }
    // Exactly once under a power loss too: the intent is on disk before the broker can hear of the order, so a run after
    // any crash finds it and looks the order up instead of placing a second. Concurrent placements share the fsync.
    await this.deps.orders.makeDurable();
    if (!created) {
      const known = await this.lookup(broker, intent.clientOrderId);
      if (known) return this.sync(broker, known);
    }
    const full = this.requestFor(intent, request);
    // Set once any try may have reached the venue: from then on every retry, and the final verdict, look first.
    const doubt = { unknown: false };
    let placed: Order;
    try {
      placed = await withRetries(
        () => broker.placeOrder(full),
        this.deps.retry,
        { ...this.deps.retryDeps, onRetry: (info) => this.deps.logger.warn({ event: 'order.retry', clientOrderId: intent.clientOrderId, attempt: info.attempt, delayMs: info.delayMs, err: brokerReason(info.error),
          retryAfterMs: info.error instanceof RateLimitError ? info.error.retryAfterMs : undefined }, 'retrying order placement') },
        // A timeout, a dropped connection, a 5xx: the try may have been carried out (Binance even takes the same
        // client id again once the first order has filled), so look before placing again.
        async (error) => (this.inDoubt(doubt, error) ? this.lookup(broker, intent.clientOrderId) : undefined),
      );
    } catch (error) {
      if (error instanceof DuplicateClientOrderIdError || this.inDoubt(doubt, error)) {
        // A refusal that follows a try in doubt proves nothing (the first try may hold the margin the second lacked).
        const known = await this.lookup(broker, intent.clientOrderId).catch(() => undefined);
        if (known) return this.sync(broker, known);
      }
      if (doubt.unknown) {
        // Still unknown after every try: journalled so, the next run or reconciliation looks it up instead of placing again.
        const order = this.deps.orders.updateFromBroker(intent.clientOrderId, { status: 'unknown', reason: brokerReason(error) });
        this.deps.logger.warn({ event: 'order.unknown', clientOrderId: intent.clientOrderId, reason: order.reason }, 'order outcome unknown');
        throw new OrderFailedError(order, error);
      }
      const order = this.deps.orders.updateFromBroker(intent.clientOrderId, { status: 'rejected', reason: brokerReason(error) });
      this.deps.logger.warn({ event: 'order.rejected', clientOrderId: intent.clientOrderId, reason: order.reason }, 'order refused');
      throw new OrderFailedError(order, error);
    }
    this.deps.logger.info({ event: 'order.placed', clientOrderId: intent.clientOrderId, brokerOrderId: placed.id, status: placed.status, leg: intent.leg, symbol: intent.symbol }, 'order placed');
    if (intent.leg === 'entry') threadMetrics().observeEntryPlaced(intent.account, intent.signalId);
    // Placed: a failure to read its fills from here on is the journal's lag, never a refusal (the next run looks it up).
    return this.unconfirmedOnFailure(intent.clientOrderId, () => this.sync(broker, placed));
  }

  /**
   * Places an entry with its stop and target as one bracket, where the broker holds protection itself
   * (native or attached). All three intents are journalled first; after a timeout or a crash the bracket is
   * found by the entry's client id, and its legs by theirs.
   */
  async placeBracket(broker: Broker, legs: BracketIntents, request: Pick<OrderRequest, 'extendedHours'> = {}): Promise<BracketJournal> {
    const intents = [legs.entry, legs.stop, legs.target].filter((i): i is OrderIntent => i !== undefined);
    // The bracket's intents in one commit, on disk before the broker hears of any of them (see place()).
    const recorded = this.deps.orders.inOneCommit(() => intents.map((intent) => this.deps.orders.recordIntent(intent)));
    await this.deps.orders.makeDurable();
    const entryRecord = recorded[0];
    if (entryRecord && !entryRecord.created && entryRecord.order.status !== 'pending_submit' && entryRecord.order.status !== 'unknown') {
      return this.syncBracket(broker, legs);
    }
    if (entryRecord && !entryRecord.created && await this.lookup(broker, legs.entry.clientOrderId)) return this.syncBracket(broker, legs);

    const bracket: BracketRequest = {
      entry: this.requestFor(legs.entry, request),
      stopLoss: legs.stop && {
        type: legs.stop.type === 'stop_limit' ? 'stop_limit' : legs.stop.type === 'trailing_stop' ? 'trailing_stop' : 'stop',
        stopPrice: legs.stop.stopPrice, limitPrice: legs.stop.limitPrice, trailAmount: legs.stop.trailAmount, trailPercent: legs.stop.trailPercent,
        clientOrderId: legs.stop.clientOrderId,
      },
      takeProfit: legs.target && { type: 'limit', limitPrice: legs.target.limitPrice, clientOrderId: legs.target.clientOrderId },
    };
    const doubt = { unknown: false };
    try {
      await withRetries(() => broker.placeBracket(bracket), this.deps.retry, this.deps.retryDeps,
        async (error) => (this.inDoubt(doubt, error) ? this.lookup(broker, legs.entry.clientOrderId).then((o) => (o ? true : undefined)) : undefined));
      this.deps.logger.info({ event: 'order.placed', clientOrderId: legs.entry.clientOrderId, bracket: true, symbol: legs.entry.symbol }, 'bracket placed');
      threadMetrics().observeEntryPlaced(legs.entry.account, legs.entry.signalId);
    } catch (error) {
      const lookFirst = error instanceof DuplicateClientOrderIdError || this.inDoubt(doubt, error);
      if (!(lookFirst && await this.lookup(broker, legs.entry.clientOrderId).catch(() => undefined))) {
        const status = doubt.unknown ? 'unknown' : 'rejected';
        for (const intent of intents) this.deps.orders.updateFromBroker(intent.clientOrderId, { status, reason: brokerReason(error) });
        const entry = this.deps.orders.findByClientOrderId(legs.entry.clientOrderId);
        if (!entry) throw error;
        throw new OrderFailedError(entry, error);
      }
    }
    return this.unconfirmedOnFailure(legs.entry.clientOrderId, () => this.syncBracket(broker, legs));
  }

  /** Runs the read that follows a placement the venue took; its failure is the typed OrderUnconfirmedError. */
  private async unconfirmedOnFailure<T>(clientOrderId: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      const order = this.deps.orders.findByClientOrderId(clientOrderId);
      if (!order) throw error;
      this.deps.logger.warn({ event: 'order.unconfirmed', clientOrderId, err: brokerReason(error) }, 'order taken by the venue, its state unread');
      throw new OrderUnconfirmedError(order, error);
    }
  }

  /**
   * Books an order the venue holds under a name of its own (a bracket leg Alpaca named, found by its parent's id)
   * as the journal's `clientOrderId`: from now on it is asked for by the venue's id.
   */
  async adopt(broker: Broker, clientOrderId: string, atVenue: Order): Promise<JournalOrder> {
    return this.sync(broker, { ...atVenue, clientOrderId });
  }

  private async syncBracket(broker: Broker, legs: BracketIntents): Promise<BracketJournal> {
    const entry = await this.refresh(broker, legs.entry.clientOrderId);
    return { entry, stop: await this.refreshLeg(broker, entry, legs.stop), target: await this.refreshLeg(broker, entry, legs.target) };
  }

  /**
   * A bracket leg's state. When the bracket's answer was lost (found afterwards by its entry's id), a venue that names
   * legs itself (Alpaca) never told us its names: the leg is then the resting order on the symbol with exactly the leg's
   * side, type, size and price that no other journalled order claims, and it is booked under our client id.
   */
  private async refreshLeg(broker: Broker, entry: JournalOrder, intent: OrderIntent | undefined): Promise<JournalOrder | undefined> {
    if (!intent) return undefined;
    const leg = await this.refresh(broker, intent.clientOrderId);
    if (leg.status !== 'pending_submit' || entry.brokerOrderId === undefined || ['pending_submit', 'unknown', 'rejected'].includes(entry.status)) return leg;
    const open = await withRetries(() => broker.openOrders(intent.symbol), this.deps.retry, this.deps.retryDeps);
    const same = (a: OrderChange['stopPrice'], b: OrderChange['stopPrice']): boolean => (a === undefined ? b === undefined : b !== undefined && a.eq(b));
    const match = open.find((o) => o.id !== entry.brokerOrderId && (o.parentId === undefined || o.parentId === entry.brokerOrderId)
      && o.side === intent.side && o.type === intent.type && o.quantity.eq(intent.quantity)
      && same(o.stopPrice, intent.stopPrice) && same(o.limitPrice, intent.limitPrice)
      && this.deps.orders.findByBrokerOrderId(intent.account, o.id) === undefined);
    return match ? this.sync(broker, { ...match, clientOrderId: intent.clientOrderId }) : leg;
  }

  private requestFor(intent: OrderIntent, extra: Partial<OrderRequest> = {}): OrderRequest {
    return {
      clientOrderId: intent.clientOrderId, symbol: intent.symbol, side: intent.side, type: intent.type, quantity: intent.quantity,
      limitPrice: intent.limitPrice, stopPrice: intent.stopPrice, trailAmount: intent.trailAmount, trailPercent: intent.trailPercent,
      // Anything but an entry only ever reduces a position: if it raced its sibling, it must never open the other side.
      timeInForce: intent.timeInForce, leg: intent.leg, reduceOnly: intent.leg !== 'entry' ? true : undefined, ...extra,
    };
  }

  /** Asks the broker for the order's state now and records what changed (status, fills). */
  async refresh(broker: Broker, clientOrderId: string): Promise<JournalOrder> {
    const current = this.deps.orders.findByClientOrderId(clientOrderId);
    if (!current) throw new Error(`order ${clientOrderId} is not in the journal`);
    if (isTerminal(current.status)) return current;
    const known = await this.lookup(broker, clientOrderId, current);
    return known ? this.sync(broker, known) : current;
  }

  /** Cancels an order (retrying transient failures) and records the outcome; a fill that won the race is recorded as a fill. */
  async cancel(broker: Broker, clientOrderId: string): Promise<JournalOrder> {
    const current = this.deps.orders.findByClientOrderId(clientOrderId);
    if (!current) throw new Error(`order ${clientOrderId} is not in the journal`);
    if (isTerminal(current.status)) return current;
    const doubt = { unknown: false };
    try {
      // A cancel in doubt may have landed: if the order has ended meanwhile, there is nothing left to cancel.
      const ended = await withRetries(() => broker.cancelOrder({ clientOrderId, symbol: current.symbol }).then(() => undefined), this.deps.retry, this.deps.retryDeps,
        async (error) => {
          if (!this.inDoubt(doubt, error)) return undefined;
          const after = await this.refresh(broker, clientOrderId);
          return isTerminal(after.status) ? after : undefined;
        });
      if (ended) return ended;
    } catch (error) {
      // The order may have filled or been cancelled meanwhile: the broker's state decides.
      const after = await this.refresh(broker, clientOrderId);
      if (isTerminal(after.status)) return after;
      // Placed in doubt and then known to the venue neither to cancel nor by lookup: it was never taken. It ends as
      // reconciliation would end it, so a close does not stay stuck behind an order that does not exist (storm, issue 14).
      if (error instanceof OrderNotFoundError && after.status === 'unknown') {
        return this.deps.orders.updateFromBroker(clientOrderId, { status: 'rejected', reason: 'not found at broker (cancel and lookup)' });
      }
      throw error;
    }
    return this.refresh(broker, clientOrderId);
  }

  /**
   * The broker's view of one of our orders. Once the broker has named the order (its id is in the journal) it is
   * asked by that id: some brokers name a bracket's legs themselves, and after a restart our client id for a leg
   * means nothing to them. The answer is reported under our client id, whatever the broker calls it.
   */
  /** Amends a resting order in place (retrying transient failures) and records what it says now. Brokers with `amend` only. */
  async amend(broker: Broker, clientOrderId: string, change: Pick<OrderChange, 'quantity' | 'stopPrice' | 'limitPrice'>, reason?: string): Promise<JournalOrder> {
    const current = this.deps.orders.findByClientOrderId(clientOrderId);
    if (!current) throw new Error(`order ${clientOrderId} is not in the journal`);
    const doubt = { unknown: false };
    // A venue that replaces instead of amending (Binance's algo orders, Alpaca) names the order anew: the journal follows.
    let renamed: string | undefined;
    await withRetries(() => broker.modifyOrder({ clientOrderId, symbol: current.symbol }, change).then((order) => { renamed = order.id; return false; }), this.deps.retry, this.deps.retryDeps,
      // An amend in doubt may have landed (at Alpaca it even replaced the order): if the venue shows the change, it is done.
      async (error) => {
        if (!this.inDoubt(doubt, error)) return undefined;
        const known = await this.lookup(broker, clientOrderId);
        return known && showsChange(known, change) ? true : undefined;
      });
    this.deps.logger.info({ event: 'order.amended', clientOrderId, quantity: change.quantity?.toFixed(), stopPrice: change.stopPrice?.toFixed(),
      limitPrice: change.limitPrice?.toFixed(), reason }, `amended ${clientOrderId}`);
    return this.deps.orders.recordAmend(clientOrderId, change, reason, renamed);
  }

  /** Whether this failure, or an earlier one of the same call, leaves the outcome unknown; remembers it. */
  private inDoubt(doubt: { unknown: boolean }, error: unknown): boolean {
    if (mayHaveReachedVenue(error)) doubt.unknown = true;
    return doubt.unknown;
  }

  /** `journal`: the order's row when the caller has just read it. */
  private async lookup(broker: Broker, clientOrderId: string, journal = this.deps.orders.findByClientOrderId(clientOrderId)): Promise<Order | undefined> {
    const ref = journal?.brokerOrderId !== undefined ? { orderId: journal.brokerOrderId, symbol: journal.symbol } : { clientOrderId, symbol: journal?.symbol };
    const order = await withRetries(() => broker.getOrder(ref), this.deps.retry, this.deps.retryDeps);
    return order === undefined ? undefined : { ...order, clientOrderId };
  }

  /** Brings the journal to the broker's view of the order: state changes as events, fills as rows. */
  private async sync(broker: Broker, order: Order): Promise<JournalOrder> {
    const current = this.deps.orders.findByClientOrderId(order.clientOrderId);
    if (!current) throw new Error(`order ${order.clientOrderId} is not in the journal`);
    const fills = order.filledQuantity.gt(0)
      ? (await withRetries(() => broker.fills(new Date(current.createdAt.getTime() - 60_000), { clientOrderId: order.clientOrderId, orderId: order.id }), this.deps.retry, this.deps.retryDeps))
        .filter((fill) => (fill.clientOrderId === order.clientOrderId || fill.orderId === order.id) && !this.deps.orders.findFill(current.account, fill.id))
      : [];
    // The journal moves through `submitted` first: the broker reports where the order is now, not each step it took.
    const steps: OrderStatus[] = current.status === 'pending_submit' && !['submitted', 'unknown', 'rejected'].includes(order.status)
      ? ['submitted', order.status] : [order.status];
    // Nothing new (a lookup of an order that has not moved): no commit at all, where an empty one still costs the write lock.
    if (fills.length === 0 && steps.length === 1 && !changes(current, order)) return current;
    // What the broker said about this order (its fills, then its status steps) is one commit.
    return this.deps.orders.inOneCommit(() => {
      for (const fill of fills) {
        this.deps.orders.recordFill({
          brokerFillId: fill.id, clientOrderId: order.clientOrderId, account: current.account, symbol: fill.symbol, side: fill.side,
          quantity: fill.quantity, price: fill.price, fee: fill.fee, feeCurrency: fill.feeCurrency, liquidity: fill.liquidity, at: fill.time,
        });
      }
      let updated: JournalOrder | undefined;
      for (const status of steps) {
        // The first step reads the row inside the commit; the next takes the row that step wrote.
        updated = this.deps.orders.updateFromBroker(order.clientOrderId, {
          status, brokerOrderId: order.id, filledQuantity: order.filledQuantity, averageFillPrice: order.averageFillPrice, reason: order.reason,
        }, updated);
      }
      if (updated === undefined) throw new Error(`no status step for ${order.clientOrderId}`);
      return updated;
    });
  }
}

/** Whether the broker's report of an order differs from the journal's row in anything updateFromBroker would write. */
function changes(current: JournalOrder, order: Order): boolean {
  const differs = (a: Order['averageFillPrice'], b: Order['averageFillPrice']): boolean => a !== undefined && (b === undefined || !a.eq(b));
  return order.status !== current.status || (order.id !== undefined && order.id !== current.brokerOrderId)
    || !order.filledQuantity.eq(current.filledQuantity) || differs(order.averageFillPrice, current.averageFillPrice)
    || (order.reason !== undefined && order.reason !== current.reason);
}

/** Whether the venue's order already carries every value of an amend. */
function showsChange(order: Order, change: Pick<OrderChange, 'quantity' | 'stopPrice' | 'limitPrice'>): boolean {
  const same = (want: OrderChange['quantity'], have: OrderChange['quantity']): boolean => want === undefined || (have !== undefined && have.eq(want));
  return same(change.quantity, order.quantity) && same(change.stopPrice, order.stopPrice) && same(change.limitPrice, order.limitPrice);
}
