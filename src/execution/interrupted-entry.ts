// An entry the executor gave up on while the venue had taken it: finished, once the venue answers, as the executor would have.
//
// The executor ends an execution `failed` when it cannot learn what became of its entry: the venue took it but its
// fills could not be read (OrderUnconfirmedError), or its placement ended in doubt. The entry stays open in the
// journal under tradewire's client id, with its signal, strategy and (for a bracket) its legs' intents. The position
// loop and reconciliation hand such an entry here: what filled becomes the strategy's own position, protected at the
// venue (a bracket's legs adopted by their parent's id; otherwise the stop and target placed from the signal's brackets,
// reduce-only), and the execution and its signal say what happened. Never an '(external)' position.
import { ulid } from 'ulid';
import type { Broker } from '../brokers/broker.ts';
import type { Instrument } from '../domain/instrument.ts';
import { isTerminal, type Order, type OrderType, type PositionSide } from '../domain/order.ts';
import type { Signal } from '../domain/signal.ts';
import { tradingDay } from '../domain/trading-day.ts';
import { parseAlert } from '../intake/parse.ts';
import type { Execution, ExecutionStatus } from '../store/executions-repo.ts';
import type { JournalOrder } from '../store/orders-repo.ts';
import type { Position } from '../store/positions-repo.ts';
import type { ExecutionContext } from './context.ts';
import { brokerReason, OrderFailedError, type OrderUnconfirmedError } from './order-tracker.ts';
import { accountTimeZone, idFor, placeProtection, protectionLegsFor, recordEntryFills, resizedProtectionIds, type ProtectionIds } from './position-actions.ts';
import { settleSignal } from './signal-state.ts';

export type ResumedEntry =
  /** What filled is the strategy's position now, protected at the venue. */
  | { kind: 'booked'; position: Position; detail: string }
  /** It filled, but its protection could not be placed: the account is halted, and later runs place it again. */
  | { kind: 'unprotected'; position: Position; detail: string }
  /** It rests at the venue unfilled: the position loop follows it from here, as any resting entry. */
  | { kind: 'resting'; detail: string }
  /** It ended at the venue without a fill: no position, the signal is refused with the venue's reason. */
  | { kind: 'not_filled'; detail: string }
  /** Another live position holds its symbol: nothing booked, left for a person (reconciliation reports it). */
  | { kind: 'conflict'; detail: string }
  /** Another run holds the execution's lease right now. */
  | { kind: 'busy'; detail: string };

/** The failed execution's reason when its entry was taken but could not be read: what happened and what comes next. */
export function unconfirmedReason(error: OrderUnconfirmedError): string {
  const next = error.order.leg === 'entry' ? 'it is booked and protected once the venue answers'
    : error.order.leg === 'exit' ? 'the position loop books the close once the venue answers' : 'the journal follows the venue once it answers';
  return `unconfirmed: the ${error.order.leg} ${error.order.clientOrderId} was taken by the venue but its fills could not be read (${brokerReason(error.cause)}); ${next}`;
}

/**
 * The failed execution an entry of tradewire's belongs to, while that entry is open or its fill is not yet settled
 * (booked, protected): no run of the executor will come back to it. An execution that failed on protection is the
 * executor's own verdict (it closed the position, or halted the account) and is not taken up again.
 */
export function interruptedExecution(ctx: ExecutionContext, entry: JournalOrder): Execution | undefined {
  if (entry.leg !== 'entry' || entry.signalId === undefined) return undefined;
  if (isTerminal(entry.status) && entry.filledQuantity.lte(0)) return undefined;
  const execution = ctx.executions.find(entry.signalId, entry.account);
  if (execution?.status !== 'failed' || execution.reason?.startsWith('protection_failed')) return undefined;
  return execution;
}

/**
 * The entries that may be interrupted in an account (and symbol): the open ones, and those whose position is booked
 * (a resume cut short before its protection was placed).
 */
export function candidateEntries(ctx: ExecutionContext, account: string, symbol?: string): JournalOrder[] {
  const open = ctx.orders.openOrders(account, symbol).filter((o) => o.leg === 'entry');
  const booked = ctx.positions.listOpen(account)
    .filter((p) => p.signalId !== undefined && (symbol === undefined || p.symbol === symbol))
    .flatMap((p) => ctx.orders.ordersForSignal(p.signalId as string).filter((o) => o.account === account && o.leg === 'entry'));
  const byId = new Map([...open, ...booked].map((o) => [o.clientOrderId, o]));
  return [...byId.values()].filter((o) => interruptedExecution(ctx, o) !== undefined);
}

/** A stop or target of a bracket whose entry still waits to be resumed: its entry decides what it is. */
export function awaitsInterruptedEntry(ctx: ExecutionContext, leg: JournalOrder): boolean {
  if ((leg.leg !== 'stop' && leg.leg !== 'target') || leg.signalId === undefined) return false;
  const entry = ctx.orders.ordersForSignal(leg.signalId).find((o) => o.account === leg.account && o.leg === 'entry');
  return entry !== undefined && interruptedExecution(ctx, entry) !== undefined;
}

/**
 * Finishes `entry` if its execution failed while the venue held it; undefined when it is not such an entry, or the
 * venue does not know it (then it was never placed: reconciliation rejects it). Throws when the venue still cannot
 * be read: nothing changed, the next run tries again. Runs under the execution's lease, so the position loop,
 * reconciliation and a re-delivered job never finish it twice.
 */
export async function resumeInterruptedEntry(ctx: ExecutionContext, broker: Broker, entry: JournalOrder): Promise<ResumedEntry | undefined> {
  const found = interruptedExecution(ctx, entry);
  if (!found) return undefined;
  if (!ctx.executions.claimLease(found.id, ctx.owner, ctx.config().queue.lockDurationSeconds * 1000, ctx.now())) {
    return { kind: 'busy', detail: `the execution of ${entry.clientOrderId} is held by another run` };
  }
  try {
    const execution = ctx.executions.findById(found.id);
    if (execution?.status !== 'failed') return undefined; // finished by another run just before the lease was taken
    return await resume(ctx, broker, entry, execution);
  } finally {
    ctx.executions.release(found.id, ctx.owner);
  }
}

/**
 * Before a new signal is judged in a symbol, the earlier entries there that the venue took while their fills could not be
 * read are finished: the position they opened is what the signal meets. Returns why the signal cannot be judged yet (the
 * venue still cannot say what became of one), or undefined.
 */
export async function settleInterruptedEntries(ctx: ExecutionContext, broker: Broker, account: string, symbol: string): Promise<string | undefined> {
  for (const entry of candidateEntries(ctx, account, symbol)) {
    let resumed: ResumedEntry | undefined;
    try {
      resumed = await resumeInterruptedEntry(ctx, broker, entry);
    } catch (error) {
      return `entry_unconfirmed: what became of the earlier entry ${entry.clientOrderId} in ${symbol} cannot be read yet (${brokerReason(error)}); this signal was not judged`;
    }
    if (resumed?.kind === 'busy' || resumed?.kind === 'conflict') return `entry_unconfirmed: the earlier entry ${entry.clientOrderId} in ${symbol}: ${resumed.detail}`;
  }
  return undefined;
}

async function resume(ctx: ExecutionContext, broker: Broker, journalled: JournalOrder, execution: Execution): Promise<ResumedEntry | undefined> {
  const instrument = await broker.instrument(journalled.symbol);
  const entry = await ctx.tracker.refresh(broker, journalled.clientOrderId);
  if (entry.status === 'pending_submit' || entry.status === 'unknown') return undefined;
  const earlier = `earlier: ${execution.reason ?? 'failed'}`;
  if (entry.filledQuantity.lte(0)) {
    if (!isTerminal(entry.status)) {
      await adoptBracketLegs(ctx, broker, entry);
      const detail = `the entry ${entry.clientOrderId} rests at ${broker.name} unfilled (${entry.status}); followed from here as a resting entry (${earlier})`;
      settle(ctx, execution, 'executed', `resumed: ${detail}`);
      return { kind: 'resting', detail };
    }
    // The journal's reason before the venue answered is the doubt's, not the venue's word on how the entry ended.
    const why = entry.reason !== undefined && entry.reason !== journalled.reason ? entry.reason : `the entry ${entry.clientOrderId} ended ${entry.status} at ${broker.name} without a fill`;
    const detail = `${entry.status}: ${why}; no position (${earlier})`;
    settle(ctx, execution, 'rejected', detail);
    return { kind: 'not_filled', detail };
  }

  // Booked at once, nothing awaited since the venue's answer was journalled: a failure from here on leaves a booked
  // position whose execution is still failed, which the next run finds and protects.
  const booked = bookEntry(ctx, entry);
  if ('conflict' in booked) return { kind: 'conflict', detail: booked.conflict };
  await adoptBracketLegs(ctx, broker, entry);
  const filled = `the entry ${entry.clientOrderId} filled ${entry.filledQuantity.toFixed()} ${entry.symbol} @ ${booked.averageEntryPrice.toFixed()}`;
  const unprotected = await protect(ctx, broker, instrument, booked, entry);
  const position = ctx.positions.findById(booked.id) ?? booked;
  if (unprotected) {
    // Halted once, with the reason; its protection is tried again by each later run (the signal's ids: never doubled).
    const detail = `unprotected: ${filled}, booked as the strategy's position, but its protection could not be placed (${unprotected}); `
      + 'account halted, protection is placed again on each reconciliation until it rests';
    if (!execution.reason?.startsWith('unprotected:')) {
      const reason = `${entry.symbol} (${position.quantity.toFixed()}, strategy '${position.strategy}') filled while the venue could not be read and could not be protected: ${unprotected}`;
      ctx.accountState.halt(entry.account, reason);
      ctx.logger.error({ event: 'account.halted', account: entry.account, symbol: entry.symbol, reason }, `${entry.account} halted: a resumed entry could not be protected`);
      ctx.notify?.({ type: 'halt', account: entry.account, reason });
      settle(ctx, execution, 'failed', `${detail} (${earlier})`);
    }
    return { kind: 'unprotected', position, detail };
  }
  const detail = `${filled}, booked as the strategy's position and protected once the venue answered (${earlier})`;
  settle(ctx, execution, 'executed', `resumed: ${detail}`);
  return { kind: 'booked', position, detail };
}

/** The entry's position: the one it was booked into, or one its signal opened (a resume cut short), else a new one of its strategy. */
function bookEntry(ctx: ExecutionContext, entry: JournalOrder): Position | { conflict: string } {
  const linked = entry.positionId ? ctx.positions.findById(entry.positionId) : undefined;
  if (linked && linked.status !== 'closed') return linked;
  const open = ctx.positions.findOpen(entry.account, entry.symbol);
  if (open && open.signalId === entry.signalId) {
    ctx.orders.linkPosition(entry.clientOrderId, open.id);
    return open;
  }
  if (open) {
    const owner = open.status === 'external' ? 'an external position' : `strategy '${open.strategy}''s ${open.side} position`;
    return { conflict: `the entry ${entry.clientOrderId} filled ${entry.filledQuantity.toFixed()} ${entry.symbol}, but ${owner} holds the symbol: not booked, look at it by hand` };
  }
  const side: PositionSide = entry.side === 'buy' ? 'long' : 'short';
  return recordEntryFills(ctx, { account: entry.account, strategy: entry.strategy, symbol: entry.symbol, signalId: entry.signalId },
    ulid(), side, undefined, entry, tradingDay(ctx.now(), accountTimeZone(ctx, entry.account)));
}

/** Protects the booked position as the executor would have; returns why it could not, or undefined when it is protected. */
async function protect(ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, entry: JournalOrder): Promise<string | undefined> {
  const mode = broker.capabilities.protectionFor(instrument);
  const bracket = bracketLegsOf(ctx, entry);
  if ((mode === 'native' || mode === 'attached') && bracket.length > 0) {
    // Sent with the entry in one bracket: the venue holds the legs. They protect it once the journal knows them by the venue's id.
    const missing = bracket.filter((leg) => leg.brokerOrderId === undefined || isTerminal(leg.status));
    if (missing.length > 0) return `its bracket's ${missing.map((l) => `${l.leg} (${l.status})`).join(' and ')} do not rest at ${broker.name}`;
    for (const leg of bracket) ctx.orders.linkPosition(leg.clientOrderId, position.id);
    const stop = bracket.find((o) => o.leg === 'stop');
    ctx.positions.update(position.id, {
      protection: 'native', stopPrice: stop?.stopPrice ?? null, targetPrice: bracket.find((o) => o.leg === 'target')?.limitPrice ?? null,
      trailPercent: stop?.trailPercent ?? null, trailAmount: stop?.trailAmount ?? null,
    });
    return undefined;
  }
  const strategy = ctx.config().strategies[entry.strategy] ?? {};
  const legs = protectionLegsFor(alertProtection(ctx, entry), strategy, entry.side, position.averageEntryPrice, instrument);
  if (!legs.ok) return `protection_invalid: ${legs.issues}`;
  // The signal's own ids, as the executor's: placing again (a resume cut short) completes what is missing, never doubles it.
  const source = entry.signalId ?? position.id;
  let ids: ProtectionIds = { stop: idFor(broker, { source, account: entry.account, leg: 'stop' }), target: idFor(broker, { source, account: entry.account, leg: 'target' }) };
  const wanted = (which: ProtectionIds): string[] => [legs.stop && which.stop, legs.target && which.target].filter((id): id is string => typeof id === 'string');
  try {
    // A leg an earlier try had refused can never rest under its id again: what still rests of that try is cancelled and
    // both are placed anew under the position's next ids (a stop and a target of their own, never a second stop).
    const refusedBefore = wanted(ids).map((id) => ctx.orders.findByClientOrderId(id)).filter((o) => o !== undefined && ended(o));
    if (refusedBefore.length > 0) {
      for (const id of wanted(ids)) if (ctx.orders.findByClientOrderId(id)) await ctx.tracker.cancel(broker, id);
      ids = resizedProtectionIds(ctx, broker, position);
    }
    await placeProtection(ctx, broker, instrument, position, legs, ids, { signalId: entry.signalId, executionId: entry.executionId });
  } catch (error) {
    return error instanceof OrderFailedError ? error.order.reason ?? brokerReason(error.cause) : brokerReason(error);
  }
  // The tracker answers an id it already knows with that order as it stands: resting is what counts, not the absence of an error.
  const dead = wanted(ids).map((id) => ctx.orders.findByClientOrderId(id)).filter(ended);
  return dead.length > 0 ? dead.map((o) => `its ${o?.leg ?? 'protective order'} is ${o?.status ?? 'missing'}${o?.reason ? ` (${o.reason})` : ''}`).join('; ') : undefined;
}

/** A protective order that no longer (or never did) rest: refused, cancelled, expired, or not in the journal at all. */
function ended(order: JournalOrder | undefined): boolean {
  return order === undefined || (isTerminal(order.status) && order.status !== 'filled');
}

/** The stop and target journalled with this entry (same signal and account), still live. */
function bracketLegsOf(ctx: ExecutionContext, entry: JournalOrder): JournalOrder[] {
  if (entry.signalId === undefined) return [];
  return ctx.orders.ordersForSignal(entry.signalId)
    .filter((o) => o.account === entry.account && (o.leg === 'stop' || o.leg === 'target') && o.status !== 'rejected');
}

/**
 * A venue that names a bracket's legs itself (Alpaca) keeps them under the parent: a leg the journal never learned
 * the venue's id of is the order under the entry's id with the leg's side and kind, booked under our client id.
 * Where the venue does not nest them when asked for the entry, its open orders name their parent.
 */
async function adoptBracketLegs(ctx: ExecutionContext, broker: Broker, entry: JournalOrder): Promise<void> {
  const unnamed = bracketLegsOf(ctx, entry).filter((leg) => leg.brokerOrderId === undefined && !isTerminal(leg.status));
  if (unnamed.length === 0 || entry.brokerOrderId === undefined) return;
  const parent = await broker.getOrder({ orderId: entry.brokerOrderId, symbol: entry.symbol });
  const children = parent?.legs ?? (await broker.openOrders(entry.symbol)).filter((o) => o.parentId === entry.brokerOrderId);
  for (const leg of unnamed) {
    const match = children.find((o: Order) => o.side === leg.side && legKind(o.type) === leg.leg && ctx.orders.findByBrokerOrderId(leg.account, o.id) === undefined);
    if (match) await ctx.tracker.adopt(broker, leg.clientOrderId, match);
  }
}

function legKind(type: OrderType): 'stop' | 'target' {
  return type === 'limit' ? 'target' : 'stop';
}

/** The stop and target the entry's alert asked for, read back from the journalled payload; {} gives the strategy's. */
function alertProtection(ctx: ExecutionContext, entry: JournalOrder): Pick<Signal, 'stopLoss' | 'takeProfit'> {
  const signal = entry.signalId ? ctx.signals.findById(entry.signalId) : undefined;
  if (!signal) return {};
  try {
    // Staleness was judged when the alert arrived; here only its protection is read.
    const parsed = parseAlert(JSON.parse(signal.payload) as unknown, { pathStrategy: signal.strategy, now: ctx.now(), maxSignalAgeSeconds: 0, resolveSymbol: (_s, t) => t });
    if (parsed.ok || parsed.error === 'stale_signal') return { stopLoss: parsed.alert.stopLoss, takeProfit: parsed.alert.takeProfit };
  } catch {
    // fall through: the strategy's defaults protect it
  }
  ctx.logger.warn({ event: 'signal.payload_unreadable', signalId: entry.signalId }, 'the signal payload could not be read back: strategy defaults protect the entry');
  return {};
}

/** The execution's new end, told like any other, and its signal settled again from all its accounts' executions. */
function settle(ctx: ExecutionContext, execution: Execution, status: Exclude<ExecutionStatus, 'queued' | 'running'>, reason: string): void {
  ctx.executions.setStatus(execution.id, status, reason);
  settleSignal(ctx, execution.signalId, ctx.executions.listBySignal(execution.signalId).length);
  ctx.logger.info({ event: `execution.${status}`, signalId: execution.signalId, account: execution.account, reason }, `signal ${execution.signalId} at ${execution.account}: ${status} (${reason})`);
  const symbol = ctx.signals.findById(execution.signalId)?.symbol ?? '';
  ctx.notify?.({ type: 'execution', signalId: execution.signalId, account: execution.account, symbol, status, reason });
}
