// What tradewire does to a position: protect it, cancel its protection, close all or part of it, with exact P&L.
import type { Broker } from '../brokers/broker.ts';
import type { StrategyConfig } from '../config/schema.ts';
import { protectionPrices, type ProtectionLegs } from '../domain/brackets.ts';
import { clientOrderId as deriveClientOrderId } from '../domain/ids.ts';
import { NotSupportedError } from '../domain/errors.ts';
import type { Instrument } from '../domain/instrument.ts';
import { HUNDRED, ONE, ZERO, maxDecimal, minDecimal, type Decimal } from '../domain/money.ts';
import { describeMerge, scaleOutPlan, type TargetLevelSpec } from '../domain/scale-out.ts';
import type { OrderLeg, PositionSide, Side } from '../domain/order.ts';
import { isTerminal } from '../domain/order.ts';
import { applyFill, type PositionState } from '../domain/position.ts';
import type { Signal } from '../domain/signal.ts';
import { tradingDay } from '../domain/trading-day.ts';
import type { JournalFill, JournalOrder } from '../store/orders-repo.ts';
import type { ClosedPosition, ExitReason, Position } from '../store/positions-repo.ts';
import type { ExecutionContext } from './context.ts';
import { OrderFailedError, brokerReason } from './order-tracker.ts';
import { withRetries } from './retry.ts';

/** The position could not be made safe: its protection would not cancel, or it could not be protected. */
export class ProtectionError extends Error {
  constructor(message: string, readonly reason: string) {
    super(message);
    this.name = 'ProtectionError';
  }
}

export function closingSide(side: PositionSide): Side {
  return side === 'long' ? 'sell' : 'buy';
}

export function openingSide(side: PositionSide): Side {
  return side === 'long' ? 'buy' : 'sell';
}

export function idFor(broker: Broker, parts: { source: string; account: string; leg: string; sequence?: number }): string {
  return deriveClientOrderId(parts, { maxLength: broker.capabilities.clientIdMaxLength, alphabet: broker.capabilities.clientIdAlphabet });
}

export function accountTimeZone(ctx: ExecutionContext, account: string): string {
  return ctx.config().accounts[account]?.timeZone ?? 'UTC';
}

/** The live protective orders (stop and target legs) of a position, from the journal. */
export function protectiveOrders(ctx: ExecutionContext, positionId: string): JournalOrder[] {
  return ctx.orders.ordersForPosition(positionId).filter((o) => (o.leg === 'stop' || o.leg === 'target') && !isTerminal(o.status));
}

/** The next sequence number for orders tradewire starts on a position itself (resized protection, closes). */
function nextSequence(ctx: ExecutionContext, positionId: string, leg: OrderLeg): number {
  return ctx.orders.ordersForPosition(positionId).filter((o) => o.leg === leg).length + 1;
}

export interface ProtectionIds {
  stop: string;
  target: string;
  /** The id of scale-out level N; absent: derived from `target` and N. */
  level?: ((level: number) => string) | undefined;
}

/** Ids for protection tradewire places on its own (a resize after an add or a partial close). */
export function resizedProtectionIds(ctx: ExecutionContext, broker: Broker, position: Position): ProtectionIds {
  return {
    stop: idFor(broker, { source: position.id, account: position.account, leg: 'stop', sequence: nextSequence(ctx, position.id, 'stop') }),
    target: idFor(broker, { source: position.id, account: position.account, leg: 'target', sequence: nextSequence(ctx, position.id, 'target') }),
  };
}

/**
 * Gives a filled position its stop and target: resting reduce-only orders where tradewire protects after the
 * fill (one-cancels-other is ours, see syncProtection), or only the prices where the position manager watches
 * them (emulated). The prices are kept on the position either way.
 */
export async function placeProtection(
  ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, legs: ProtectionLegs, ids: ProtectionIds,
  meta: { signalId?: string | undefined; executionId?: number | undefined } = {},
): Promise<{ notes: string[] }> {
  const protection = broker.capabilities.protectionFor(instrument);
  ctx.positions.update(position.id, {
    stopPrice: legs.stop?.stopPrice ?? null,
    targetPrice: legs.target?.limitPrice ?? null,
    trailPercent: legs.stop?.trailPercent ?? null,
    trailAmount: legs.stop?.trailAmount ?? null,
    // A resize (an add, a partial close, a growing entry) keeps the trail's water mark; a new position starts it at its entry.
    highWater: position.side === 'long' ? maxDecimal(position.highWater ?? position.averageEntryPrice, position.averageEntryPrice) : null,
    lowWater: position.side === 'short' ? minDecimal(position.lowWater ?? position.averageEntryPrice, position.averageEntryPrice) : null,
    protection: protection === 'native' || protection === 'attached' ? 'after_fill' : protection,
  });
  if (protection === 'emulated') return { notes: [] };
  const side = closingSide(position.side);
  const common = { account: position.account, strategy: position.strategy, symbol: position.symbol, side, quantity: position.quantity,
    positionId: position.id, signalId: meta.signalId, executionId: meta.executionId, timeInForce: 'gtc' as const };
  if (legs.stop) {
    const type = legs.stop.type === 'stop_limit' ? 'stop_limit' : legs.stop.type === 'trailing_stop' ? 'trailing_stop' : 'stop';
    await ctx.tracker.place(broker, {
      ...common, clientOrderId: ids.stop, leg: 'stop', type,
      stopPrice: type === 'trailing_stop' ? undefined : legs.stop.stopPrice,
      limitPrice: type === 'stop_limit' ? legs.stop.limitPrice : undefined,
      trailAmount: type === 'trailing_stop' ? legs.stop.trailAmount : undefined,
      trailPercent: type === 'trailing_stop' ? legs.stop.trailPercent : undefined,
    }, { reduceOnly: true });
  }
  if (legs.target) {
    await ctx.tracker.place(broker, { ...common, clientOrderId: ids.target, leg: 'target', type: 'limit', limitPrice: legs.target.limitPrice }, { reduceOnly: true });
  }
  return { notes: legs.levels ? await placeLevels(ctx, broker, instrument, position, legs, ids, common) : [] };
}

/** The targets alone (a single one, or the scale-out levels) for the position as it stands, beside the stop that rests. */
export async function placeTargets(ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, legs: ProtectionLegs, ids: ProtectionIds): Promise<string[]> {
  const common = { account: position.account, strategy: position.strategy, symbol: position.symbol, side: closingSide(position.side), quantity: position.quantity,
    positionId: position.id, signalId: position.signalId, timeInForce: 'gtc' as const };
  return legs.levels ? placeLevels(ctx, broker, instrument, position, legs, ids, common) : [];
}

/**
 * The scale-out targets: the position split across the levels on the instrument's grid, one reduce-only limit per
 * level next to the stop (each sized to its level, so together they never exceed the position). A level too small
 * to stand alone is merged into the next: the order that took it says so in its journal event, and the sentences
 * are returned for the signal's recorded outcome.
 */
async function placeLevels(
  ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, legs: ProtectionLegs, ids: ProtectionIds,
  common: Omit<Parameters<ExecutionContext['tracker']['place']>[1], 'clientOrderId' | 'leg' | 'type'>,
): Promise<string[]> {
  const plan = planLevels(instrument, position, legs);
  if (!plan.ok) throw new ProtectionError(`the take-profit levels of ${position.symbol} cannot be placed: ${plan.issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, 'protection_invalid');
  for (const merge of plan.merges) {
    ctx.logger.warn({ event: 'position.level_merged', positionId: position.id, symbol: position.symbol, level: merge.level, into: merge.into, quantity: merge.quantity.toFixed() },
      describeMerge(merge));
  }
  const idOf = ids.level ?? ((level: number) => idFor(broker, { source: ids.target, account: position.account, leg: 'target', sequence: level }));
  for (const level of plan.levels) {
    const merged = plan.merges.filter((m) => m.into === level.level).map(describeMerge);
    await ctx.tracker.place(broker, { ...common, clientOrderId: idOf(level.level), leg: 'target', type: 'limit', limitPrice: level.limitPrice, quantity: level.quantity,
      level: level.level, note: merged.length > 0 ? merged.join('; ') : undefined }, { reduceOnly: true, partialTarget: true });
  }
  return plan.merges.map(describeMerge);
}

/** The levels for the position as it stands: priced from its entry price and its stop, sized from its quantity. */
export function planLevels(instrument: Instrument, position: Position, legs: ProtectionLegs): ReturnType<typeof scaleOutPlan> {
  return scaleOutPlan({
    side: openingSide(position.side), basePrice: position.averageEntryPrice, stopPrice: legs.stop?.stopPrice, quantity: position.quantity,
    tick: instrument.tickSize, rules: { stepSize: instrument.stepSize, minQuantity: instrument.minQuantity, minNotional: instrument.minNotional }, levels: legs.levels ?? [],
  });
}

/** Stop and target for an entry: the alert's own, else the strategy's defaults, priced from `basePrice` on the instrument's tick. */
export function protectionLegsFor(
  alert: Pick<Signal, 'stopLoss' | 'takeProfit'>, strategy: Partial<Pick<StrategyConfig, 'stopLoss' | 'takeProfit'>>, entrySide: Side, basePrice: Decimal, instrument: Instrument,
): ({ ok: true } & ProtectionLegs) | { ok: false; issues: string } {
  const stopLoss = alert.stopLoss ?? (strategy.stopLoss as Signal['stopLoss']);
  const takeProfit: Signal['takeProfit'] = alert.takeProfit ?? strategy.takeProfit;
  const levels = isLevelList(takeProfit) ? takeProfit : undefined;
  const single = isLevelList(takeProfit) ? undefined : takeProfit;
  const result = protectionPrices({ side: entrySide, basePrice, stopLoss, takeProfit: single, tick: instrument.tickSize });
  if (!result.ok) return { ok: false, issues: result.issues.map((i) => `${i.field}: ${i.message}`).join('; ') };
  if (!levels) return result;
  // The levels' prices are checked now (sizes need the filled quantity, and are split when protection is placed).
  const priced = scaleOutPlan({ side: entrySide, basePrice, stopPrice: result.stop?.stopPrice, quantity: ONE, tick: instrument.tickSize,
    rules: { stepSize: ZERO, minQuantity: ZERO }, levels });
  if (!priced.ok) return { ok: false, issues: priced.issues.map((i) => `${i.field}: ${i.message}`).join('; ') };
  return { ...result, levels };
}

function isLevelList(takeProfit: Signal['takeProfit']): takeProfit is readonly TargetLevelSpec[] {
  return Array.isArray(takeProfit);
}

/** Ids of the scale-out targets: one per level, from the same source as the stop. */
export function levelIds(broker: Broker, source: string, account: string): (level: number) => string {
  return (level) => idFor(broker, { source, account, leg: 'target', sequence: level });
}

export interface EntryOwner {
  account: string;
  strategy: string;
  symbol: string;
  signalId?: string | undefined;
}

/**
 * Books an entry's fills into a position: a new one (`existing` absent: opened with `positionId` and linked to
 * the entry) or `existing` grown by them. `fills` defaults to all of the entry's fills; a resting entry that
 * grows passes only the ones not booked yet.
 */
export function recordEntryFills(
  ctx: ExecutionContext, owner: EntryOwner, positionId: string, side: PositionSide, existing: Position | undefined, entry: JournalOrder, day: string,
  fills: readonly JournalFill[] = ctx.orders.fillsForOrder(entry.clientOrderId),
): Position {
  let state: PositionState | undefined = existing ? {
    side: existing.side, quantity: existing.quantity, averageEntryPrice: existing.averageEntryPrice, openedQuantity: existing.quantity,
    closedQuantity: ZERO, closedCost: ZERO, exitNotional: ZERO, realizedPnl: ZERO, fees: existing.entryFees,
  } : undefined;
  for (const fill of fills) state = applyFill(state, { side: fill.side, quantity: fill.quantity, price: fill.price, fee: fill.fee });
  if (!state) throw new Error(`entry ${entry.clientOrderId} has no fills recorded`);
  if (existing) {
    return ctx.positions.update(existing.id, { quantity: state.quantity, averageEntryPrice: state.averageEntryPrice, entryFees: state.fees });
  }
  const position = ctx.positions.open({
    id: positionId, account: owner.account, strategy: owner.strategy, symbol: owner.symbol, side, quantity: state.quantity,
    averageEntryPrice: state.averageEntryPrice, entryFees: state.fees, status: 'open', tradingDay: day, signalId: owner.signalId,
  });
  ctx.orders.linkPosition(entry.clientOrderId, position.id);
  ctx.logger.info({ event: 'position.opened', positionId: position.id, account: position.account, symbol: position.symbol, side, quantity: position.quantity.toFixed(),
    price: position.averageEntryPrice.toFixed() }, `opened ${side} ${position.quantity.toFixed()} ${position.symbol} @ ${position.averageEntryPrice.toFixed()}`);
  ctx.notify?.({ type: 'fill', position });
  return position;
}

/** Cancels every resting protective order of the position; throws ProtectionError if one stays live. */
export async function cancelProtection(ctx: ExecutionContext, broker: Broker, position: Position): Promise<JournalOrder[]> {
  const done: JournalOrder[] = [];
  // Targets first, stops last: a cancel that fails midway (a ban, an outage) leaves the stop resting, never the position
  // with a take-profit only (the fault storm, issue 14).
  const orders = protectiveOrders(ctx, position.id);
  for (const order of [...orders.filter((o) => o.leg !== 'stop'), ...orders.filter((o) => o.leg === 'stop')]) {
    try {
      done.push(await ctx.tracker.cancel(broker, order.clientOrderId));
    } catch (error) {
      throw new ProtectionError(`could not cancel ${order.leg} order ${order.clientOrderId} of ${position.symbol}: ${String(error)}`, 'protection_cancel_failed');
    }
  }
  return done;
}

/** The legs a position is protected with now, read back from the position (for a resize). */
export function currentLegs(position: Position, ctx: ExecutionContext): ProtectionLegs {
  const orders = ctx.orders.ordersForPosition(position.id);
  const stopOrder = [...orders].reverse().find((o) => o.leg === 'stop');
  const legs: ProtectionLegs = {};
  if (position.stopPrice || position.trailAmount || position.trailPercent) {
    legs.stop = {
      type: stopOrder?.type === 'stop_limit' ? 'stop_limit' : position.trailAmount || position.trailPercent ? 'trailing_stop' : 'stop',
      stopPrice: position.stopPrice, limitPrice: stopOrder?.limitPrice, trailAmount: position.trailAmount, trailPercent: position.trailPercent,
    };
  }
  if (position.targetPrice) legs.target = { limitPrice: position.targetPrice };
  return legs;
}

export interface CloseRequest {
  /** Part of the position; absent (or at least the whole): all of it. */
  quantity?: Decimal | undefined;
  reason: ExitReason;
  clientOrderId: string;
  signalId?: string | undefined;
  executionId?: number | undefined;
  /** How long to wait for the exit to fill before giving up (the claim then lapses and the position manager retries). */
  fillTimeoutMs: number;
  /** The scale-out level this exit takes profit at (an emulated level), kept on the exit order. */
  level?: number | undefined;
}

export type CloseOutcome =
  | { kind: 'closed'; closed: ClosedPosition; order: JournalOrder }
  | { kind: 'reduced'; closed: ClosedPosition; order: JournalOrder; remaining: Decimal }
  | { kind: 'busy' }                        // someone else holds the claim
  | { kind: 'unfilled'; order: JournalOrder };

/**
 * Closes all or part of a position. The position is claimed first, so the loop, an exit signal and a manual
 * close never close it twice; its protection is cancelled before the exit is sent, so no stop can open the
 * other side; if that cancel fails, nothing is sent, the account is halted and the error says why.
 *
 * The exit is sized from what is still held: the fills the cancelled legs got before their cancel are booked
 * first (a stop that filled 40 of 100 leaves 60 to sell), and the exit never exceeds what the broker says the
 * account holds. A partial close that does not fill (refused, unfilled, filled in part) leaves what remains
 * protected again; where that protection cannot be placed, the account is halted.
 */
export async function closePosition(ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, request: CloseRequest): Promise<CloseOutcome> {
  const now = ctx.now();
  if (!ctx.positions.claimForClose(position.id, ctx.owner, new Date(now.getTime() + Math.max(30_000, request.fillTimeoutMs * 2)), now)) {
    return { kind: 'busy' };
  }
  const partOf = request.quantity !== undefined && request.quantity.lt(position.quantity) ? request.quantity : undefined;
  const bracketLegs = protectiveOrders(ctx, position.id);
  if (partOf && bracketLegs.length > 0 && broker.capabilities.amend && broker.capabilities.protectionFor(instrument) === 'native') {
    return closePartOfBracket(ctx, broker, position, bracketLegs, partOf, request);
  }
  try {
    await cancelProtection(ctx, broker, position);
  } catch (error) {
    ctx.positions.releaseClaim(position.id, ctx.owner);
    const reason = error instanceof ProtectionError ? error.message : String(error);
    haltAccount(ctx, position, `protection of ${position.symbol} would not cancel: ${reason}`, 'protection would not cancel: no exit sent, account halted');
    throw error;
  }

  // A stop or target may have filled (in whole or in part) before its cancel arrived: what it sold is booked
  // first, so the exit only takes what is left and never opens the other side where reduce-only is not enforced.
  const raced = bookClosingFills(ctx, position, request.reason);
  if (raced.kind === 'closed') return { kind: 'closed', closed: raced.closed, order: raced.order };
  const current = raced.position;

  let brokerHeld: Decimal | undefined;
  try {
    brokerHeld = await heldAtBroker(ctx, broker, current);
  } catch (error) {
    // Not knowing what the broker holds, nothing is sent; the position keeps its protection.
    await protectWhatRemains(ctx, broker, instrument, current, undefined, request);
    throw error;
  }
  const holding = brokerHeld === undefined ? current.quantity : minDecimal(current.quantity, brokerHeld);
  if (holding.lte(0)) {
    ctx.positions.releaseClaim(position.id, ctx.owner);
    ctx.logger.error({ event: 'position.not_held', positionId: position.id, account: position.account, symbol: position.symbol, journal: current.quantity.toFixed() },
      `the broker holds none of the ${current.quantity.toFixed()} ${position.symbol} the journal has: no exit sent; reconciliation corrects the journal`);
    throw new ProtectionError(`the broker holds no ${position.side} ${position.symbol}; the journal has ${current.quantity.toFixed()}: no exit sent`, 'position_not_held');
  }
  if (holding.lt(current.quantity)) {
    ctx.logger.warn({ event: 'position.held_less', positionId: position.id, account: position.account, symbol: position.symbol, journal: current.quantity.toFixed(),
      broker: holding.toFixed() }, `the broker holds ${holding.toFixed()} ${position.symbol}, the journal ${current.quantity.toFixed()}: the exit is sized to the broker's`);
  }
  const closesAll = partOf === undefined || partOf.gte(holding);
  const quantity = closesAll ? holding : partOf;
  if (!closesAll) return closePart(ctx, broker, instrument, current, quantity, holding, request);

  const order = await sendExit(ctx, broker, current, quantity, request);
  if (order.status !== 'filled') return { kind: 'unfilled', order };
  // All the broker held is sold: the position is closed, even where the journal thought it held more (reported above).
  const closed = ctx.positions.close(position.id, closeRecord(ctx, current, order, request.reason));
  ctx.notify?.({ type: 'close', closed });
  return { kind: 'closed', closed, order };
}

/**
 * Part of a position whose protection tradewire cancelled: the exit, then whatever remains, whatever the exit's
 * outcome, is protected again at the same prices for the quantity still held.
 */
async function closePart(
  ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, quantity: Decimal, brokerHeld: Decimal, request: CloseRequest,
): Promise<CloseOutcome> {
  const order = await settledExit(ctx, broker, position, quantity, request);
  const booked = bookClosingFills(ctx, position, request.reason);
  if (booked.kind === 'closed') return { kind: 'closed', closed: booked.closed, order };
  const remaining = booked.position;
  const sold = ctx.orders.fillsForOrder(order.clientOrderId).reduce((sum, f) => sum.plus(f.quantity), ZERO);
  await protectWhatRemains(ctx, broker, instrument, remaining, brokerHeld.minus(sold), request);
  if (order.status !== 'filled') return { kind: 'unfilled', order };
  if (booked.kind !== 'reduced') throw new Error(`the exit ${order.clientOrderId} filled but nothing was booked for ${position.id}`);
  return { kind: 'reduced', closed: booked.closed, order, remaining: remaining.quantity };
}

/**
 * Sends a partial exit and brings it to an end: filled, refused, or, when it has not filled in time, cancelled (a
 * fill that wins the cancel is recorded). An exit that may still be working cannot be made safe: the account is halted.
 */
async function settledExit(ctx: ExecutionContext, broker: Broker, position: Position, quantity: Decimal, request: CloseRequest): Promise<JournalOrder> {
  let order: JournalOrder | undefined;
  try {
    order = await sendExit(ctx, broker, position, quantity, request);
  } catch (error) {
    order = ctx.orders.findByClientOrderId(request.clientOrderId);
    if (!order) throw error;
  }
  if (isTerminal(order.status)) return order;
  let cancelError = '';
  try {
    order = await ctx.tracker.cancel(broker, order.clientOrderId);
  } catch (error) {
    order = ctx.orders.findByClientOrderId(order.clientOrderId) ?? order;
    cancelError = `: ${String(error)}`;
  }
  if (isTerminal(order.status)) return order;
  const reason = `the partial exit ${order.clientOrderId} of ${position.symbol} is ${order.status} and would not cancel${cancelError}`;
  haltAccount(ctx, position, reason, 'a partial exit may still be working: its remainder cannot be protected, account halted');
  throw new ProtectionError(reason, 'protection_failed');
}

/**
 * Gives what remains of a position its protection back (the legs it had, sized to `quantity`, at most the journal's
 * quantity) and releases the claim. Protection that cannot be placed halts the account and is reported.
 */
async function protectWhatRemains(
  ctx: ExecutionContext, broker: Broker, instrument: Instrument, position: Position, brokerHeld: Decimal | undefined, request: CloseRequest,
): Promise<void> {
  const legs = currentLegs(position, ctx);
  const quantity = brokerHeld === undefined ? position.quantity : minDecimal(position.quantity, brokerHeld);
  try {
    if ((legs.stop || legs.target) && quantity.gt(0)) {
      await placeProtection(ctx, broker, instrument, { ...position, quantity }, legs, resizedProtectionIds(ctx, broker, position),
        { signalId: request.signalId, executionId: request.executionId });
    }
  } catch (error) {
    const reason = error instanceof OrderFailedError ? error.order.reason ?? brokerReason(error.cause) : brokerReason(error);
    haltAccount(ctx, position, `${position.symbol} (${quantity.toFixed()} left) could not be protected again: ${reason}`,
      'protection of what remains failed: account halted');
    throw new ProtectionError(`protection of the ${quantity.toFixed()} ${position.symbol} left could not be placed: ${reason}`, 'protection_failed');
  } finally {
    ctx.positions.releaseClaim(position.id, ctx.owner);
  }
}

function haltAccount(ctx: ExecutionContext, position: Position, reason: string, message: string): void {
  ctx.accountState.halt(position.account, reason);
  ctx.logger.error({ event: 'account.halted', account: position.account, symbol: position.symbol, reason }, message);
  ctx.notify?.({ type: 'halt', account: position.account, reason });
}

/**
 * What the broker holds of the position's symbol on its side; undefined where the broker does not report positions.
 * A position on the other side, or none, is zero.
 */
async function heldAtBroker(ctx: ExecutionContext, broker: Broker, position: Position): Promise<Decimal | undefined> {
  let held;
  try {
    held = await withRetries(() => broker.positions(), POSITIONS_RETRY, { sleep: ctx.sleep, random: Math.random });
  } catch (error) {
    if (error instanceof NotSupportedError) return undefined;
    throw error;
  }
  const same = held.find((p) => p.symbol === position.symbol && p.side === position.side);
  return same ? same.quantity : ZERO;
}

const POSITIONS_RETRY = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };

export const reasonOfLeg = (order: JournalOrder, exitReason: ExitReason = 'signal'): ExitReason =>
  order.leg === 'target' ? 'take_profit' : order.leg === 'stop' ? (order.type === 'trailing_stop' ? 'trailing_stop' : 'stop_loss') : exitReason;

/**
 * The fills of the position's own closing orders (stops, targets, exits) its books do not hold yet, with what the
 * position nets to by all its fills. The books hold exactly the older ones (each booking takes all it sees), so
 * what is missing is the newest. Undefined when nothing is missing, or when the position has no opening fills to
 * count from (one adopted by reconciliation).
 */
export function unbookedClosingFills(ctx: ExecutionContext, position: Position): { net: Decimal; fills: JournalFill[]; last: JournalOrder } | undefined {
  const opening = openingSide(position.side);
  let opened = ZERO;
  let net = ZERO;
  const closing: Array<{ fill: JournalFill; order: JournalOrder }> = [];
  for (const order of ctx.orders.ordersForPosition(position.id)) {
    for (const fill of ctx.orders.fillsForOrder(order.clientOrderId)) {
      if (order.side === opening) {
        opened = opened.plus(fill.quantity);
        net = net.plus(fill.quantity);
      } else {
        net = net.minus(fill.quantity);
        closing.push({ fill, order });
      }
    }
  }
  let missing = position.quantity.minus(net);
  if (opened.lte(0) || missing.lte(0)) return undefined;
  closing.sort((a, b) => a.fill.at.getTime() - b.fill.at.getTime());
  const fills: JournalFill[] = [];
  let last: JournalOrder | undefined;
  for (let i = closing.length - 1; i >= 0 && missing.gt(0); i -= 1) {
    const { fill, order } = closing[i] as { fill: JournalFill; order: JournalOrder };
    fills.unshift(fill);
    last ??= order;
    missing = missing.minus(fill.quantity);
  }
  return last ? { net, fills, last } : undefined;
}

type Booked =
  | { kind: 'none'; position: Position }
  | { kind: 'reduced'; position: Position; closed: ClosedPosition }
  | { kind: 'closed'; closed: ClosedPosition; order: JournalOrder };

/**
 * Books the closing fills the position's books lack, by the claimant (the claim stays with it): a reduce, or the
 * close when nothing is left. A leg's fills carry its reason (stop_loss, take_profit), an exit's the close's own.
 */
function bookClosingFills(ctx: ExecutionContext, position: Position, exitReason: ExitReason): Booked {
  const fresh = ctx.positions.findById(position.id) ?? position;
  const unbooked = unbookedClosingFills(ctx, fresh);
  if (!unbooked) return { kind: 'none', position: fresh };
  const record = closeRecordOf(ctx, fresh, unbooked.fills, reasonOfLeg(unbooked.last, exitReason));
  if (unbooked.net.lte(0)) {
    const closed = ctx.positions.close(fresh.id, record);
    ctx.logger.info({ event: 'position.closed', positionId: fresh.id, symbol: fresh.symbol, reason: record.exitReason, realizedPnl: closed.realizedPnl.toFixed() },
      `${fresh.symbol}: closed by its ${unbooked.last.leg} before the exit went out`);
    ctx.notify?.({ type: 'close', closed });
    return { kind: 'closed', closed, order: unbooked.last };
  }
  const { closed, reduced } = reducePosition(ctx, fresh, record, unbooked.net, ctx.owner);
  ctx.logger.info({ event: 'position.reduced', positionId: fresh.id, symbol: fresh.symbol, reason: record.exitReason, quantity: record.quantity.toFixed(),
    remaining: unbooked.net.toFixed() }, `${fresh.symbol}: its ${unbooked.last.leg} filled ${record.quantity.toFixed()}; ${unbooked.net.toFixed()} left`);
  return { kind: 'reduced', position: reduced, closed };
}

/** Sends a reduce-only market exit for part or all of a position and waits up to the request's fill timeout. */
async function sendExit(ctx: ExecutionContext, broker: Broker, position: Position, quantity: Decimal, request: CloseRequest): Promise<JournalOrder> {
  let order = await ctx.tracker.place(broker, {
    clientOrderId: request.clientOrderId, account: position.account, strategy: position.strategy, symbol: position.symbol,
    side: closingSide(position.side), leg: 'exit', type: 'market', quantity, positionId: position.id,
    signalId: request.signalId, executionId: request.executionId, level: request.level,
  }, { reduceOnly: true });
  const deadline = ctx.now().getTime() + request.fillTimeoutMs;
  while (order.status !== 'filled' && !isTerminal(order.status) && ctx.now().getTime() < deadline) {
    await ctx.sleep(100);
    order = await ctx.tracker.refresh(broker, order.clientOrderId);
  }
  return order;
}

/**
 * Part of a position held in a broker-side bracket (Alpaca): the legs hold the shares, so an exit beside them is
 * refused. The legs are resized to what will remain first (amended in place, so they stay in their bracket), then
 * the part is sold; nothing needs placing again afterwards. A resize the broker refuses is rolled back and no exit
 * is sent. An exit that does not fill in full gives the legs back what it did not sell.
 */
async function closePartOfBracket(
  ctx: ExecutionContext, broker: Broker, position: Position, legs: readonly JournalOrder[], quantity: Decimal, request: CloseRequest,
): Promise<CloseOutcome> {
  const remaining = position.quantity.minus(quantity);
  const resized: JournalOrder[] = [];
  const resize = (leg: JournalOrder, to: Decimal) => ctx.tracker.amend(broker, leg.clientOrderId, { quantity: to });
  try {
    for (const leg of legs) {
      await resize(leg, remaining);
      resized.push(leg);
    }
  } catch (error) {
    for (const leg of resized) await resize(leg, position.quantity).catch(() => undefined);
    ctx.positions.releaseClaim(position.id, ctx.owner);
    throw new ProtectionError(`could not resize the bracket of ${position.symbol} to ${remaining.toFixed()} before a partial close: ${String(error)}`, 'protection_resize_failed');
  }
  const order = await settledExit(ctx, broker, position, quantity, request);
  const booked = bookClosingFills(ctx, position, request.reason);
  if (booked.kind === 'closed') return { kind: 'closed', closed: booked.closed, order };
  const left = booked.position;
  if (!left.quantity.eq(remaining)) {
    // The exit sold less than asked: the legs, sized for less, are grown back to what is still held.
    try {
      for (const leg of legs) {
        const fresh = ctx.orders.findByClientOrderId(leg.clientOrderId);
        if (fresh && !isTerminal(fresh.status)) await resize(fresh, left.quantity);
      }
    } catch (error) {
      ctx.positions.releaseClaim(position.id, ctx.owner);
      const reason = `the bracket of ${position.symbol} could not be resized back to the ${left.quantity.toFixed()} left: ${String(error)}`;
      haltAccount(ctx, position, reason, 'protection of what remains failed: account halted');
      throw new ProtectionError(reason, 'protection_failed');
    }
  }
  ctx.positions.releaseClaim(position.id, ctx.owner);
  if (order.status !== 'filled' || booked.kind !== 'reduced') return { kind: 'unfilled', order };
  return { kind: 'reduced', closed: booked.closed, order, remaining: left.quantity };
}

/**
 * A partial close in the books: the closed_positions row for the part taken off, and what remains keeps only its
 * share of the entry fees (the part closed carried the rest in its record). Without the second step the final close
 * would charge the whole entry fee again. Two writes: the repository's reduce takes no fee (see the README).
 */
export function reducePosition(
  ctx: ExecutionContext, position: Position, record: ReturnType<typeof closeRecord>, remaining: Decimal, keepClaimOf?: string,
): { closed: ClosedPosition; reduced: Position } {
  // The same expression closeRecord charged, subtracted: the two parts add up to the entry fee exactly.
  const feesLeft = position.quantity.gt(0) ? position.entryFees.minus(position.entryFees.mul(record.quantity).div(position.quantity)) : ZERO;
  const closed = ctx.positions.reduce(position.id, record, remaining, feesLeft, keepClaimOf);
  const reduced = ctx.positions.findById(position.id);
  if (reduced === undefined) throw new Error(`position ${position.id} vanished while being reduced`);
  ctx.notify?.({ type: 'close', closed });
  return { closed, reduced };
}

/** The closed_positions record of an exit order's fills: realized P&L net of the entry fees' share and the exit fees. */
export function closeRecord(ctx: ExecutionContext, position: Position, exit: JournalOrder, reason: ExitReason) {
  return closeRecordOf(ctx, position, ctx.orders.fillsForOrder(exit.clientOrderId), reason, exit.averageFillPrice);
}

/** The closed_positions row for a set of closing fills (of one order, or the unbooked ones of several): exact, net of its fees. */
export function closeRecordOf(
  ctx: ExecutionContext, position: Position, fills: readonly JournalFill[], reason: ExitReason, fallbackPrice?: Decimal | undefined,
) {
  const quantity = fills.reduce((sum, f) => sum.plus(f.quantity), ZERO);
  const notional = fills.reduce((sum, f) => sum.plus(f.quantity.mul(f.price)), ZERO);
  const exitFees = fills.reduce((sum, f) => sum.plus(f.fee), ZERO);
  const exitPrice = quantity.gt(0) ? notional.div(quantity) : (fallbackPrice ?? ZERO);
  const entryFeeShare = position.quantity.gt(0) ? position.entryFees.mul(quantity).div(position.quantity) : ZERO;
  const direction = position.side === 'long' ? 1 : -1;
  const gross = exitPrice.minus(position.averageEntryPrice).mul(quantity).mul(direction);
  const fees = entryFeeShare.plus(exitFees);
  const realizedPnl = gross.minus(fees);
  const cost = position.averageEntryPrice.mul(quantity);
  return {
    quantity, entryPrice: position.averageEntryPrice, exitPrice, realizedPnl, fees, exitReason: reason,
    realizedPnlPct: cost.gt(0) ? realizedPnl.div(cost).mul(HUNDRED) : undefined,
    closedAt: ctx.now(), tradingDay: tradingDay(ctx.now(), accountTimeZone(ctx, position.account)),
  };
}

/**
 * One-cancels-other for protection tradewire placed: when the stop or the target has filled at the broker,
 * cancel its sibling and close the position's books with the matching exit reason. The position is claimed
 * first, as any closer claims it: a closer already holding it (an exit signal, a manual close) books the fill
 * itself, and none can send a second exit while this books it.
 */
export async function syncProtection(ctx: ExecutionContext, broker: Broker, position: Position): Promise<ClosedPosition | undefined> {
  const legs = ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'stop' || o.leg === 'target');
  for (const leg of legs.filter((o) => !isTerminal(o.status))) await ctx.tracker.refresh(broker, leg.clientOrderId);
  const fresh = ctx.positions.findById(position.id);
  if (!fresh || fresh.status === 'closed') return undefined;
  const orders = ctx.orders.ordersForPosition(position.id);
  let filled: JournalOrder | undefined;
  let record: ReturnType<typeof closeRecord> | undefined;
  if (orders.some((o) => o.leg === 'target' && o.level !== undefined)) {
    // Scale-out: an earlier level filled in full is booked already; only fills the books lack can close the rest.
    const unbooked = unbookedClosingFills(ctx, fresh);
    if (!unbooked || unbooked.net.gt(0)) return undefined;
    filled = unbooked.last;
    record = closeRecordOf(ctx, fresh, unbooked.fills, reasonOfLeg(unbooked.last));
  } else {
    filled = orders.find((o) => (o.leg === 'stop' || o.leg === 'target') && o.status === 'filled' && o.filledQuantity.gte(fresh.quantity));
    if (!filled) return undefined;
    record = closeRecord(ctx, fresh, filled, reasonOfLeg(filled));
  }
  const now = ctx.now();
  if (!ctx.positions.claimForClose(position.id, ctx.owner, new Date(now.getTime() + CLAIM_MS), now)) return undefined;
  let closed: ClosedPosition;
  try {
    for (const sibling of protectiveOrders(ctx, position.id)) await ctx.tracker.cancel(broker, sibling.clientOrderId);
    closed = ctx.positions.close(position.id, record);
  } catch (error) {
    ctx.positions.releaseClaim(position.id, ctx.owner);
    throw error;
  }
  ctx.logger.info({ event: 'position.closed', positionId: position.id, symbol: position.symbol, reason: closed.exitReason, realizedPnl: closed.realizedPnl.toFixed() },
    `position closed by its ${filled.leg}`);
  ctx.notify?.({ type: 'close', closed });
  return closed;
}

/** How long the one-cancels-other booking holds its claim if its process dies mid-way. */
const CLAIM_MS = 30_000;
