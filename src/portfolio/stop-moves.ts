// Managing a trade at the broker: the resting stop resized and moved (breakeven, trail) without a moment unprotected, and time exits.
import type { Broker } from '../brokers/broker.ts';
import type { Instrument } from '../domain/instrument.ts';
import { Decimal, ZERO } from '../domain/money.ts';
import { isTerminal } from '../domain/order.ts';
import { bestPrice, stopMoveFor, timeExitDue, type ManageRules, type StopMove, type TradeState } from '../domain/trade-management.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { idFor, openingSide, protectiveOrders } from '../execution/position-actions.ts';
import { scaleOutPlan, type TargetLevelSpec } from '../domain/scale-out.ts';
import type { JournalOrder } from '../store/orders-repo.ts';
import type { Position } from '../store/positions-repo.ts';

/** The strategy's trade-management rules, if it has any. */
export function manageRulesOf(ctx: ExecutionContext, strategy: string): ManageRules | undefined {
  return ctx.config().strategies[strategy]?.manage;
}

/** Whether these rules ask the loop to look at the strategy's trades every tick. */
export function isManaged(rules: ManageRules | undefined): boolean {
  return rules !== undefined && (rules.breakeven?.atR !== undefined || rules.trailAfter !== undefined || rules.maxHoldMinutes !== undefined);
}

/** Whether the position was protected with scale-out levels (its target orders name their level). */
export function hasLevels(ctx: ExecutionContext, positionId: string): boolean {
  return ctx.orders.ordersForPosition(positionId).some((o) => o.leg === 'target' && o.level !== undefined);
}

/** The live stop order of a position, if one rests. */
export function restingStop(ctx: ExecutionContext, positionId: string): JournalOrder | undefined {
  return protectiveOrders(ctx, positionId).find((o) => o.leg === 'stop');
}

/** The stop the position opened with (one R away from the entry): its first stop order's price before any amendment moved it. */
export function initialStopOf(ctx: ExecutionContext, orders: readonly JournalOrder[]): Decimal | undefined {
  const first = orders.find((o) => o.leg === 'stop' && o.stopPrice !== undefined);
  if (!first) return undefined;
  for (const event of ctx.orders.events(first.clientOrderId)) {
    const before = event.detail?.amended === true ? (event.detail.before as { stopPrice?: string } | undefined)?.stopPrice : undefined;
    if (before !== undefined) return new Decimal(before);
  }
  return first.stopPrice;
}

/** The trade as the stop-move rules see it: its entry, initial stop (one R), where the stop rests, the targets filled, the best price. */
export function tradeStateOf(ctx: ExecutionContext, position: Position, best: Decimal | undefined): TradeState | undefined {
  const orders = ctx.orders.ordersForPosition(position.id);
  const initialStop = initialStopOf(ctx, orders);
  const stop = position.stopPrice ?? restingStop(ctx, position.id)?.stopPrice;
  if (initialStop === undefined || stop === undefined) return undefined;
  // Levels resting at the broker (targets) and levels the loop took itself (exits) count alike.
  const targetsFilled = orders.filter((o) => o.level !== undefined && o.status === 'filled').length;
  const water = position.side === 'long' ? position.highWater : position.lowWater;
  return {
    side: position.side, entry: position.averageEntryPrice, initialStop, stop, targetsFilled,
    best: bestPrice(position.side, water ?? position.averageEntryPrice, best ?? position.averageEntryPrice),
  };
}

/** The move the rules ask for now, at `price`; undefined when the stop stays. */
export function stopMoveNow(ctx: ExecutionContext, position: Position, instrument: Instrument, price: Decimal, best: Decimal | undefined): StopMove | undefined {
  const rules = manageRulesOf(ctx, position.strategy);
  if (!rules || (!rules.breakeven && !rules.trailAfter)) return undefined;
  const state = tradeStateOf(ctx, position, best);
  return state ? stopMoveFor(rules, state, price, instrument.tickSize) : undefined;
}

/** Whether the strategy's time limit has closed this trade's window. */
export function timeExitNow(ctx: ExecutionContext, position: Position, now: Date): boolean {
  return timeExitDue(position.openedAt, manageRulesOf(ctx, position.strategy)?.maxHoldMinutes, now);
}

/**
 * Changes the resting stop's quantity and/or price, never leaving the position without one. Where the broker amends
 * in place (paper, Alpaca's replace, Binance's algo replace with its stand-in) that is one call. Otherwise the new
 * stop, reduce-only, is placed first (a transient over-cover that cannot open the other side), and the old one is
 * cancelled once the new one rests. Both paths record `reason` as an event of the order that now rests.
 */
export async function replaceStop(
  ctx: ExecutionContext, broker: Broker, position: Position, stop: JournalOrder, change: { quantity?: Decimal | undefined; stopPrice?: Decimal | undefined }, reason: string,
): Promise<JournalOrder> {
  const quantity = change.quantity ?? stop.quantity;
  const stopPrice = change.stopPrice ?? stop.stopPrice;
  ctx.logger.info({ event: 'position.stop_moved', positionId: position.id, symbol: position.symbol, clientOrderId: stop.clientOrderId,
    quantity: quantity.toFixed(), stopPrice: stopPrice?.toFixed(), reason }, `${position.symbol}: ${reason}`);
  if (broker.capabilities.amend) {
    return ctx.tracker.amend(broker, stop.clientOrderId, { quantity: change.quantity, stopPrice: change.stopPrice }, reason);
  }
  const sequence = ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'stop').length + 1;
  const placed = await ctx.tracker.place(broker, {
    clientOrderId: idFor(broker, { source: position.id, account: position.account, leg: 'stop', sequence }), account: position.account,
    strategy: position.strategy, symbol: position.symbol, side: stop.side, leg: 'stop', type: stop.type, quantity, stopPrice,
    limitPrice: stop.limitPrice, positionId: position.id, signalId: stop.signalId, timeInForce: 'gtc', replacesClientOrderId: stop.clientOrderId, note: reason,
  }, { reduceOnly: true });
  if (isTerminal(placed.status)) throw new Error(`the new stop ${placed.clientOrderId} of ${position.symbol} is ${placed.status}: the old one stays`);
  await ctx.tracker.cancel(broker, stop.clientOrderId);
  return placed;
}

/** A scale-out level the loop watches itself (the broker cannot rest it beside the position's protection). */
export interface PendingLevel {
  level: number;
  limitPrice: Decimal;
  quantity: Decimal;
  /** The last level left: it takes whatever remains. */
  last: boolean;
}

/**
 * The levels of an emulated scale-out not taken yet: the plan is priced and sized from the entry (its fills, the
 * initial stop) exactly as a native one would be, and a level is done once an exit naming it has filled.
 */
export function pendingLevels(ctx: ExecutionContext, position: Position, specs: readonly TargetLevelSpec[], instrument: Instrument): PendingLevel[] {
  const orders = ctx.orders.ordersForPosition(position.id);
  const opening = openingSide(position.side);
  const opened = orders.filter((o) => o.side === opening).reduce((sum, o) => sum.plus(o.filledQuantity), ZERO);
  const plan = scaleOutPlan({
    side: opening, basePrice: position.averageEntryPrice, stopPrice: initialStopOf(ctx, orders) ?? position.stopPrice, quantity: opened.gt(0) ? opened : position.quantity,
    tick: instrument.tickSize, rules: { stepSize: instrument.stepSize, minQuantity: instrument.minQuantity, minNotional: instrument.minNotional }, levels: specs,
  });
  if (!plan.ok) return [];
  const done = new Set(orders.filter((o) => o.level !== undefined && o.filledQuantity.gt(0)).map((o) => o.level));
  const pending = plan.levels.filter((l) => !done.has(l.level));
  return pending.map((l, index) => ({ level: l.level, limitPrice: l.limitPrice, quantity: l.quantity, last: index === pending.length - 1 }));
}

/** Whether the price has reached a level (a long's target at or above it, a short's at or below). */
export function levelReached(side: Position['side'], level: PendingLevel, price: Decimal): boolean {
  return side === 'long' ? price.gte(level.limitPrice) : price.lte(level.limitPrice);
}
