// Position math: what a fill does to a position (average, realized P&L, fees), unrealized P&L, and stop/target/trailing triggers.
import { InvariantError } from './errors.ts';
import { HUNDRED, ZERO, maxDecimal, minDecimal } from './money.ts';
import type { Decimal } from './money.ts';
import type { PositionSide, Side } from './order.ts';

/** One trade's position from its first fill to its last: what is open, and what closing has realized so far. */
export interface PositionState {
  side: PositionSide;
  /** Open quantity, always ≥ 0; zero once the position is closed. */
  quantity: Decimal;
  /** Weighted average of the opening fills; reducing fills leave it alone. */
  averageEntryPrice: Decimal;
  /** Sum of every opening fill's quantity. */
  openedQuantity: Decimal;
  /** Sum of every reducing fill's quantity. */
  closedQuantity: Decimal;
  /** Average entry price × quantity, summed over the reducing fills: the capital the realized P&L was earned on. */
  closedCost: Decimal;
  /** Price × quantity, summed over the reducing fills. */
  exitNotional: Decimal;
  /** Gross realized P&L of the reducing fills, before fees. */
  realizedPnl: Decimal;
  /** Every fee paid on this position, entry and exit (a negative fee is a rebate). */
  fees: Decimal;
}

export interface PositionFill {
  side: Side;
  quantity: Decimal;
  price: Decimal;
  fee: Decimal;
}

function direction(side: PositionSide): 1 | -1 {
  return side === 'long' ? 1 : -1;
}

function opens(side: PositionSide, fill: Side): boolean {
  return (side === 'long') === (fill === 'buy');
}

/**
 * Splits a fill that crosses zero into the part that closes the position and the part that would open the
 * other side. tradewire reverses by closing then opening, so a crossing fill is a broker surprise; splitting
 * lets the caller close this position's books and open a new one instead of blending two trades.
 */
export function splitFill(position: PositionState | undefined, fill: PositionFill): { closing?: PositionFill; opening?: PositionFill } {
  if (position === undefined || position.quantity.isZero() || opens(position.side, fill.side)) return { opening: fill };
  if (fill.quantity.lte(position.quantity)) return { closing: fill };
  const closingQty = position.quantity;
  const openingQty = fill.quantity.minus(closingQty);
  // The fee follows the quantity: each part carries its share.
  const closingFee = fill.fee.mul(closingQty).div(fill.quantity);
  return {
    closing: { side: fill.side, quantity: closingQty, price: fill.price, fee: closingFee },
    opening: { side: fill.side, quantity: openingQty, price: fill.price, fee: fill.fee.minus(closingFee) },
  };
}

/**
 * Applies one fill. Opening fills (and adds) move the average entry price; reducing fills realize P&L at
 * the average entry and leave the average alone. A fill larger than the position it reduces is an
 * InvariantError: split it with `splitFill` first.
 */
export function applyFill(position: PositionState | undefined, fill: PositionFill): PositionState {
  if (fill.quantity.lte(0)) throw new InvariantError(`a fill must have a quantity above zero, got ${fill.quantity}`);
  if (position === undefined) {
    return {
      side: fill.side === 'buy' ? 'long' : 'short',
      quantity: fill.quantity,
      averageEntryPrice: fill.price,
      openedQuantity: fill.quantity,
      closedQuantity: ZERO,
      closedCost: ZERO,
      exitNotional: ZERO,
      realizedPnl: ZERO,
      fees: fill.fee,
    };
  }
  if (position.quantity.isZero()) throw new InvariantError('the position is closed: a new fill starts a new position');
  if (opens(position.side, fill.side)) {
    const quantity = position.quantity.plus(fill.quantity);
    const cost = position.averageEntryPrice.mul(position.quantity).plus(fill.price.mul(fill.quantity));
    return {
      ...position,
      quantity,
      averageEntryPrice: cost.div(quantity),
      openedQuantity: position.openedQuantity.plus(fill.quantity),
      fees: position.fees.plus(fill.fee),
    };
  }
  if (fill.quantity.gt(position.quantity)) {
    throw new InvariantError(`a ${fill.side} fill of ${fill.quantity} exceeds the ${position.side} of ${position.quantity}: split it with splitFill`);
  }
  const pnl = fill.price.minus(position.averageEntryPrice).mul(fill.quantity).mul(direction(position.side));
  return {
    ...position,
    quantity: position.quantity.minus(fill.quantity),
    closedQuantity: position.closedQuantity.plus(fill.quantity),
    closedCost: position.closedCost.plus(position.averageEntryPrice.mul(fill.quantity)),
    exitNotional: position.exitNotional.plus(fill.price.mul(fill.quantity)),
    realizedPnl: position.realizedPnl.plus(pnl),
    fees: position.fees.plus(fill.fee),
  };
}

/** Gross P&L of the open quantity at `price` (fees are realized, not marked). */
export function unrealizedPnl(position: Pick<PositionState, 'side' | 'quantity' | 'averageEntryPrice'>, price: Decimal): Decimal {
  return price.minus(position.averageEntryPrice).mul(position.quantity).mul(direction(position.side));
}

/**
 * Realized P&L after every fee paid on the position. While part of it is still open, its entry fees are
 * already counted: money spent is not deferred to make a partial close look better.
 */
export function netRealizedPnl(position: Pick<PositionState, 'realizedPnl' | 'fees'>): Decimal {
  return position.realizedPnl.minus(position.fees);
}

/** Net realized P&L as a percent of the capital the closed quantity tied up (its average entry × quantity). Zero before any close. */
export function realizedPnlPct(position: Pick<PositionState, 'realizedPnl' | 'fees' | 'closedCost'>): Decimal {
  if (position.closedCost.isZero()) return ZERO;
  return netRealizedPnl(position).div(position.closedCost).mul(HUNDRED);
}

/** The quantity-weighted price of the reducing fills; undefined before any. */
export function averageExitPrice(position: Pick<PositionState, 'exitNotional' | 'closedQuantity'>): Decimal | undefined {
  return position.closedQuantity.isZero() ? undefined : position.exitNotional.div(position.closedQuantity);
}

export type TriggerReason = 'stop_loss' | 'take_profit' | 'trailing_stop';

/** The protection the position manager watches. Field names match the journal's position, so one can be passed as is. */
export interface TriggerState {
  side: PositionSide;
  averageEntryPrice: Decimal;
  stopPrice?: Decimal | undefined;
  targetPrice?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  /** Highest price seen since entry (longs); absent: the entry price. */
  highWater?: Decimal | undefined;
  /** Lowest price seen since entry (shorts); absent: the entry price. */
  lowWater?: Decimal | undefined;
}

/** One price, or the range of prices seen since the last look (a bar, or the low and high between two refreshes). */
export type PriceObservation = Decimal | { low: Decimal; high: Decimal };

function range(observation: PriceObservation): { low: Decimal; high: Decimal } {
  return 'low' in observation && 'high' in observation ? observation : { low: observation, high: observation };
}

/** Where the trailing stop stands now: the water mark less the trail (long), plus it (short). */
export function trailingStopLevel(state: TriggerState): Decimal | undefined {
  if (state.side === 'long') {
    const mark = state.highWater ?? state.averageEntryPrice;
    if (state.trailPercent !== undefined) return mark.minus(mark.mul(state.trailPercent).div(HUNDRED));
    if (state.trailAmount !== undefined) return mark.minus(state.trailAmount);
    return undefined;
  }
  const mark = state.lowWater ?? state.averageEntryPrice;
  if (state.trailPercent !== undefined) return mark.plus(mark.mul(state.trailPercent).div(HUNDRED));
  if (state.trailAmount !== undefined) return mark.plus(state.trailAmount);
  return undefined;
}

/**
 * Which protection a price fires. A price that gaps through a level fires it all the same (the exit then
 * fills where the market is, not at the level). When one observation reaches both a stop and the target
 * (a range that spans both, or levels set across each other) the stop wins: we cannot know which came
 * first, and assuming the loss never reports a profit that did not happen. Between a fixed and a trailing
 * stop both hit, the one nearer the market (met first on the way) is named. Uses the stored water mark:
 * check first, then move the mark, so a range's high cannot lift the trail above its own low.
 */
export function checkTriggers(state: TriggerState, observation: PriceObservation): TriggerReason | undefined {
  const { low, high } = range(observation);
  const long = state.side === 'long';
  const adverse = long ? low : high;
  const favourable = long ? high : low;
  const reached = (level: Decimal | undefined, price: Decimal, below: boolean): boolean =>
    level !== undefined && (below ? price.lte(level) : price.gte(level));

  const trail = trailingStopLevel(state);
  const stopHit = reached(state.stopPrice, adverse, long);
  const trailHit = reached(trail, adverse, long);
  if (stopHit && trailHit && trail !== undefined && state.stopPrice !== undefined) {
    const trailFirst = long ? trail.gt(state.stopPrice) : trail.lt(state.stopPrice);
    return trailFirst ? 'trailing_stop' : 'stop_loss';
  }
  if (stopHit) return 'stop_loss';
  if (trailHit) return 'trailing_stop';
  if (reached(state.targetPrice, favourable, !long)) return 'take_profit';
  return undefined;
}

/** The water mark after a price: a long's follows the high, a short's the low; it never moves back. */
export function updateWaterMark(state: TriggerState, observation: PriceObservation): { highWater?: Decimal; lowWater?: Decimal } {
  const { low, high } = range(observation);
  if (state.side === 'long') return { highWater: maxDecimal(state.highWater ?? state.averageEntryPrice, high) };
  return { lowWater: minDecimal(state.lowWater ?? state.averageEntryPrice, low) };
}

/** One look at the price, in the safe order: the trigger against the stored mark, then the moved mark. */
export function observePrice(state: TriggerState, observation: PriceObservation): { trigger: TriggerReason | undefined; highWater?: Decimal; lowWater?: Decimal } {
  return { trigger: checkTriggers(state, observation), ...updateWaterMark(state, observation) };
}
