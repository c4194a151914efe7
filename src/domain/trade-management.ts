// Managing an open trade: where its stop moves (breakeven, a trail that starts at an R multiple), when time ends it, and its P&L in R.
import { HUNDRED, roundToTickDirected } from './money.ts';
import type { Decimal } from './money.ts';
import type { PositionSide } from './order.ts';

/** The strategy's rules for a trade after its entry (each optional; none: the stop stays where it was placed). */
export interface ManageRules {
  breakeven?: {
    /** Move the stop to the entry once target N (1-based) has filled. */
    afterTarget?: number | undefined;
    /** ...or once the price has gone this many R in the trade's favour. */
    atR?: Decimal | undefined;
    /** Past the entry by this percent of it, on the profit side: covers the fees of the round trip. */
    offsetPercent?: Decimal | undefined;
    /** ...or by this amount. */
    offset?: Decimal | undefined;
  } | undefined;
  /** The trail starts once the price has gone this many R in the trade's favour. */
  trailAfter?: { rMultiple: Decimal } | undefined;
  /** How far behind the best price the trail keeps the stop. */
  trailPercent?: Decimal | undefined;
  /** The trade is closed (exit_reason time) this many minutes after it opened. */
  maxHoldMinutes?: number | undefined;
}

export interface TradeState {
  side: PositionSide;
  entry: Decimal;
  /** The stop the trade was opened with: one R is |entry − initialStop|. */
  initialStop: Decimal;
  /** Where the stop rests now. */
  stop: Decimal;
  /** Targets filled so far. */
  targetsFilled: number;
  /** The best price seen since the entry (highest for a long, lowest for a short). */
  best: Decimal;
}

export type StopMoveReason = 'breakeven' | 'trail';

export interface StopMove {
  stopPrice: Decimal;
  reason: StopMoveReason;
  /** One sentence for the order event and the log. */
  detail: string;
}

/** How many R the price has gone in the trade's favour (negative against it); undefined without a risk to measure by. */
export function excursionR(state: Pick<TradeState, 'side' | 'entry' | 'initialStop'>, price: Decimal): Decimal | undefined {
  const risk = state.entry.minus(state.initialStop).abs();
  if (risk.isZero()) return undefined;
  const gain = state.side === 'long' ? price.minus(state.entry) : state.entry.minus(price);
  return gain.div(risk);
}

const tighter = (side: PositionSide, candidate: Decimal, current: Decimal): boolean => (side === 'long' ? candidate.gt(current) : candidate.lt(current));

/** A stop the price has already crossed would trigger at once (Binance refuses it): it must stay on the loss side of the price. */
const restable = (side: PositionSide, stop: Decimal, price: Decimal): boolean => (side === 'long' ? stop.lt(price) : stop.gt(price));

function breakevenLevel(rules: NonNullable<ManageRules['breakeven']>, state: TradeState, tick: Decimal): Decimal {
  const offset = rules.offset ?? (rules.offsetPercent ? state.entry.mul(rules.offsetPercent).div(HUNDRED) : undefined);
  const raw = offset === undefined ? state.entry : state.side === 'long' ? state.entry.plus(offset) : state.entry.minus(offset);
  // Away from the entry on the profit side: the fees the offset is there for are covered, never a tick short.
  return roundToTickDirected(raw, tick, state.side === 'long' ? 'up' : 'down');
}

/**
 * Where the stop should move now, if anywhere: the tightest of breakeven (its target filled or its R reached) and
 * the trail (after its R, `trailPercent` behind the best price). Only ever tighter than where it rests, and never
 * past the price (a stop there would fire at once). Pure: the caller places the move at the broker.
 */
export function stopMoveFor(rules: ManageRules, state: TradeState, price: Decimal, tick: Decimal): StopMove | undefined {
  const candidates: StopMove[] = [];
  const reached = excursionR(state, state.best);
  const be = rules.breakeven;
  if (be) {
    const byTarget = be.afterTarget !== undefined && state.targetsFilled >= be.afterTarget;
    const byR = be.atR !== undefined && reached !== undefined && reached.gte(be.atR);
    if (byTarget || byR) {
      const level = breakevenLevel(be, state, tick);
      candidates.push({ stopPrice: level, reason: 'breakeven', detail: byTarget
        ? `target ${be.afterTarget} filled: stop to breakeven ${level.toFixed()}`
        : `price reached +${(be.atR as Decimal).toFixed()} R: stop to breakeven ${level.toFixed()}` });
    }
  }
  if (rules.trailAfter && rules.trailPercent && reached !== undefined && reached.gte(rules.trailAfter.rMultiple)) {
    const distance = state.best.mul(rules.trailPercent).div(HUNDRED);
    const raw = state.side === 'long' ? state.best.minus(distance) : state.best.plus(distance);
    // Toward the price: a hair tighter than the trail asks, never looser.
    const level = roundToTickDirected(raw, tick, state.side === 'long' ? 'up' : 'down');
    candidates.push({ stopPrice: level, reason: 'trail', detail: `trailing ${rules.trailPercent.toFixed()}% behind ${state.best.toFixed()} (past +${rules.trailAfter.rMultiple.toFixed()} R): stop to ${level.toFixed()}` });
  }
  let chosen: StopMove | undefined;
  for (const candidate of candidates) {
    if (!tighter(state.side, candidate.stopPrice, state.stop) || !restable(state.side, candidate.stopPrice, price)) continue;
    if (!chosen || tighter(state.side, candidate.stopPrice, chosen.stopPrice)) chosen = candidate;
  }
  return chosen;
}

/** The best price after `price` is seen: a long's high water, a short's low. */
export function bestPrice(side: PositionSide, best: Decimal | undefined, price: Decimal): Decimal {
  if (best === undefined) return price;
  return side === 'long' ? (price.gt(best) ? price : best) : (price.lt(best) ? price : best);
}

/** When a trade held since `openedAt` must be closed for time; undefined without a limit. */
export function timeExitAt(openedAt: Date, maxHoldMinutes: number | undefined): Date | undefined {
  if (maxHoldMinutes === undefined) return undefined;
  return new Date(openedAt.getTime() + maxHoldMinutes * 60_000);
}

export function timeExitDue(openedAt: Date, maxHoldMinutes: number | undefined, now: Date): boolean {
  const at = timeExitAt(openedAt, maxHoldMinutes);
  return at !== undefined && now.getTime() >= at.getTime();
}

/**
 * A closed part's P&L in R: the net P&L over what the part risked at its initial stop (|entry − stop| × quantity).
 * Undefined without a stop to measure by (a trade opened with none has no R).
 */
export function rMultiple(realizedPnl: Decimal, entry: Decimal, initialStop: Decimal | undefined, quantity: Decimal): Decimal | undefined {
  if (initialStop === undefined) return undefined;
  const risk = entry.minus(initialStop).abs().mul(quantity);
  if (risk.isZero()) return undefined;
  return realizedPnl.div(risk);
}
