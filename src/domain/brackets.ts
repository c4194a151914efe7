// Stop-loss and take-profit prices for a position: percent and amount made absolute, rounded to the tick, checked for the side.
import { HUNDRED, roundToTickDirected } from './money.ts';
import type { Decimal } from './money.ts';
import type { Side } from './order.ts';
import type { TargetLevelSpec } from './scale-out.ts';
import type { StopLossSpec, TakeProfitSpec } from './signal.ts';

export type StopType = 'stop' | 'stop_limit' | 'trailing_stop';

export interface StopLeg {
  type: StopType;
  /** The trigger price; for a trailing stop, its first level (from the base price), which then trails. */
  stopPrice?: Decimal | undefined;
  /** A stop-limit's limit. */
  limitPrice?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
}

export interface TargetLeg {
  limitPrice: Decimal;
}

export interface ProtectionLegs {
  stop?: StopLeg | undefined;
  target?: TargetLeg | undefined;
  /** Scale-out levels instead of one target: priced and sized when the position's quantity is known (scale-out.ts). */
  levels?: readonly TargetLevelSpec[] | undefined;
}

export interface ProtectionInput {
  /** The entry's side: a buy opens a long (stop below, target above), a sell a short (mirrored). */
  side: Side;
  /** The fill price where protection follows the fill; else the entry's limit price or the alert's price. */
  basePrice: Decimal;
  stopLoss?: StopLossSpec | undefined;
  takeProfit?: TakeProfitSpec | undefined;
  tick: Decimal;
}

export interface ProtectionIssue {
  /** The field at fault, as the alert or config names it ('stopLoss.percent'). */
  field: string;
  message: string;
}

export type ProtectionResult = ({ ok: true } & ProtectionLegs) | { ok: false; issues: ProtectionIssue[] };

const STOP_ANCHORS = ['stopPrice', 'percent', 'amount', 'trailPercent', 'trailAmount'] as const;
const TARGET_ANCHORS = ['limitPrice', 'percent', 'amount'] as const;

/**
 * Rounding toward the base price is the conservative direction for both legs: the stop never risks more
 * than asked, and the target is never further away than asked. The stop-limit's limit goes the other way,
 * away from the stop, so the limit leaves the order room to fill.
 */
function towardBase(side: Side, leg: 'stop' | 'target'): 'up' | 'down' {
  const below = (side === 'buy') === (leg === 'stop');
  return below ? 'up' : 'down';
}

/** The price `distance` away from the base, on the side of the base where `leg` belongs. */
function offset(side: Side, leg: 'stop' | 'target', base: Decimal, distance: Decimal): Decimal {
  const below = (side === 'buy') === (leg === 'stop');
  return below ? base.minus(distance) : base.plus(distance);
}

function stopLeg(input: ProtectionInput, spec: StopLossSpec, issues: ProtectionIssue[]): StopLeg | undefined {
  const { side, basePrice: base, tick } = input;
  const anchors = STOP_ANCHORS.filter((key) => spec[key] !== undefined);
  if (anchors.length !== 1) {
    issues.push({ field: 'stopLoss', message: `expected exactly one of ${STOP_ANCHORS.join(', ')}${anchors.length ? `, got ${anchors.join(' and ')}` : ''}` });
    return undefined;
  }
  const anchor = anchors[0] as (typeof STOP_ANCHORS)[number];
  const trailing = anchor === 'trailPercent' || anchor === 'trailAmount';
  const type: StopType = trailing ? 'trailing_stop' : (spec.type ?? 'stop');
  if (type === 'trailing_stop' && !trailing) {
    issues.push({ field: 'stopLoss.type', message: 'type trailing_stop goes with trailPercent or trailAmount' });
    return undefined;
  }
  const direction = towardBase(side, 'stop');
  const field = `stopLoss.${anchor}`;
  const value = spec[anchor] as Decimal;
  if (value.lte(0)) {
    issues.push({ field, message: `must be above zero, got ${value}` });
    return undefined;
  }

  let stopPrice: Decimal;
  const leg: StopLeg = { type };
  switch (anchor) {
    case 'stopPrice':
      stopPrice = roundToTickDirected(value, tick, direction);
      break;
    case 'percent':
    case 'trailPercent':
      stopPrice = roundToTickDirected(offset(side, 'stop', base, base.mul(value).div(HUNDRED)), tick, direction);
      if (anchor === 'trailPercent') leg.trailPercent = value;
      break;
    case 'amount':
      stopPrice = roundToTickDirected(offset(side, 'stop', base, value), tick, direction);
      break;
    case 'trailAmount': {
      // A trail narrower than asked is the conservative rounding; narrower than one tick is no trail at all.
      const trail = roundToTickDirected(value, tick, 'down');
      if (trail.lte(0)) {
        issues.push({ field, message: `trail amount ${value} is less than one tick (${tick})` });
        return undefined;
      }
      leg.trailAmount = trail;
      stopPrice = offset(side, 'stop', base, trail);
      break;
    }
  }

  if (stopPrice.lte(0)) {
    issues.push({ field, message: `gives a stop at ${stopPrice}, which is not a price` });
  } else if (side === 'buy' && !stopPrice.lt(base)) {
    issues.push({ field, message: `the stop ${stopPrice} of a long must be below the base price ${base}` });
  } else if (side === 'sell' && !stopPrice.gt(base)) {
    issues.push({ field, message: `the stop ${stopPrice} of a short must be above the base price ${base}` });
  }
  leg.stopPrice = stopPrice;

  if (type === 'stop_limit') {
    if (spec.limitPrice === undefined) {
      issues.push({ field: 'stopLoss.limitPrice', message: 'a stop_limit stop needs a limitPrice' });
    } else {
      const limit = roundToTickDirected(spec.limitPrice, tick, direction === 'up' ? 'down' : 'up');
      // A long's stop sells: a limit above the trigger would rest above the market once triggered, and never fill.
      if (side === 'buy' && limit.gt(stopPrice)) {
        issues.push({ field: 'stopLoss.limitPrice', message: `the limit ${limit} of a long's stop-limit must be at or below its stop ${stopPrice}` });
      } else if (side === 'sell' && limit.lt(stopPrice)) {
        issues.push({ field: 'stopLoss.limitPrice', message: `the limit ${limit} of a short's stop-limit must be at or above its stop ${stopPrice}` });
      } else if (limit.lte(0)) {
        issues.push({ field: 'stopLoss.limitPrice', message: `must be above zero, got ${limit}` });
      }
      leg.limitPrice = limit;
    }
  } else if (spec.limitPrice !== undefined) {
    issues.push({ field: 'stopLoss.limitPrice', message: 'limitPrice goes with type stop_limit' });
  }
  return leg;
}

function targetLeg(input: ProtectionInput, spec: TakeProfitSpec, issues: ProtectionIssue[]): TargetLeg | undefined {
  const { side, basePrice: base, tick } = input;
  const anchors = TARGET_ANCHORS.filter((key) => spec[key] !== undefined);
  if (anchors.length !== 1) {
    issues.push({ field: 'takeProfit', message: `expected exactly one of ${TARGET_ANCHORS.join(', ')}${anchors.length ? `, got ${anchors.join(' and ')}` : ''}` });
    return undefined;
  }
  const anchor = anchors[0] as (typeof TARGET_ANCHORS)[number];
  const field = `takeProfit.${anchor}`;
  const value = spec[anchor] as Decimal;
  if (value.lte(0)) {
    issues.push({ field, message: `must be above zero, got ${value}` });
    return undefined;
  }
  const direction = towardBase(side, 'target');
  const raw = anchor === 'limitPrice' ? value
    : offset(side, 'target', base, anchor === 'percent' ? base.mul(value).div(HUNDRED) : value);
  const limitPrice = roundToTickDirected(raw, tick, direction);
  if (limitPrice.lte(0)) {
    issues.push({ field, message: `gives a target at ${limitPrice}, which is not a price` });
  } else if (side === 'buy' && !limitPrice.gt(base)) {
    issues.push({ field, message: `the target ${limitPrice} of a long must be above the base price ${base}` });
  } else if (side === 'sell' && !limitPrice.lt(base)) {
    issues.push({ field, message: `the target ${limitPrice} of a short must be below the base price ${base}` });
  }
  return { limitPrice };
}

/**
 * Absolute protective prices for a position opened on `side` at `basePrice`. Every issue is reported at
 * once, each naming its field, so one answer tells the user everything wrong with the alert's brackets.
 */
export function protectionPrices(input: ProtectionInput): ProtectionResult {
  const issues: ProtectionIssue[] = [];
  if (input.basePrice.lte(0)) return { ok: false, issues: [{ field: 'price', message: `the base price must be above zero, got ${input.basePrice}` }] };
  const stop = input.stopLoss === undefined ? undefined : stopLeg(input, input.stopLoss, issues);
  const target = input.takeProfit === undefined ? undefined : targetLeg(input, input.takeProfit, issues);
  if (issues.length > 0) return { ok: false, issues };
  const result: { ok: true } & ProtectionLegs = { ok: true };
  if (stop !== undefined) result.stop = stop;
  if (target !== undefined) result.target = target;
  return result;
}

export interface ResizedLeg<L> {
  quantity: Decimal;
  leg: L;
  /** True when the prices differ from what rests: the order needs a price change, not only a new quantity. */
  pricesChanged: boolean;
}

export type ProtectionResize =
  | { action: 'cancel' }
  | { action: 'resize'; stop?: ResizedLeg<StopLeg> | undefined; target?: ResizedLeg<TargetLeg> | undefined };

function sameStop(a: StopLeg, b: StopLeg): boolean {
  const eq = (x: Decimal | undefined, y: Decimal | undefined): boolean => (x === undefined ? y === undefined : y !== undefined && x.eq(y));
  return a.type === b.type && eq(a.stopPrice, b.stopPrice) && eq(a.limitPrice, b.limitPrice)
    && eq(a.trailPercent, b.trailPercent) && eq(a.trailAmount, b.trailAmount);
}

/**
 * The protective orders for a position's new size: after an add (the new total) or a partial close (what
 * remains). Prices stay unless the alert brought new ones (`fresh`); nothing left means cancel them.
 */
export function resizeProtection(current: ProtectionLegs, quantity: Decimal, fresh: ProtectionLegs = {}): ProtectionResize {
  if (quantity.lte(0)) return { action: 'cancel' };
  const result: ProtectionResize = { action: 'resize' };
  const stop = fresh.stop ?? current.stop;
  if (stop !== undefined) {
    result.stop = { quantity, leg: stop, pricesChanged: current.stop === undefined || !sameStop(current.stop, stop) };
  }
  const target = fresh.target ?? current.target;
  if (target !== undefined) {
    result.target = { quantity, leg: target, pricesChanged: current.target === undefined || !current.target.limitPrice.eq(target.limitPrice) };
  }
  return result;
}
