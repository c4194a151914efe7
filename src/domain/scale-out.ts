// Scale-out: a position split across several take-profit levels, each priced and sized on the instrument's grid.
import { Decimal, HUNDRED, ZERO, floorToStep, roundToTickDirected } from './money.ts';
import type { Side } from './order.ts';

/** How much of the position a level takes: a percent of it, an absolute quantity, or whatever is left. */
export type LevelSize =
  | { kind: 'percent'; value: Decimal }
  | { kind: 'quantity'; value: Decimal }
  | { kind: 'rest' };

const PERCENT_SIZE = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*%\s*$/;
const QUANTITY_SIZE = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*$/;

/** A level's size from its text: "50%", "rest", or a quantity ("0.5"); undefined when it is none of them. */
export function parseLevelSize(text: string): LevelSize | undefined {
  if (text.trim().toLowerCase() === 'rest') return { kind: 'rest' };
  const percent = PERCENT_SIZE.exec(text);
  if (percent) return { kind: 'percent', value: new Decimal(percent[1] as string) };
  const quantity = QUANTITY_SIZE.exec(text);
  if (quantity) return { kind: 'quantity', value: new Decimal(quantity[1] as string) };
  return undefined;
}

/** One take-profit level as the config or the alert gives it: exactly one price anchor and a size. */
export interface TargetLevelSpec {
  limitPrice?: Decimal | undefined;
  percent?: Decimal | undefined;
  amount?: Decimal | undefined;
  /** A multiple of the initial risk (|entry − stop|) away from the entry. */
  rMultiple?: Decimal | undefined;
  size: LevelSize;
}

export const LEVEL_ANCHORS = ['limitPrice', 'percent', 'amount', 'rMultiple'] as const;

/** The grid a level's quantity must sit on. */
export interface QuantityRules {
  stepSize: Decimal;
  minQuantity: Decimal;
  /** price × quantity must reach this (0: no rule). */
  minNotional?: Decimal | undefined;
}

/** A level folded into another because its own quantity would have been under the instrument's minimum. */
export interface LevelMerge {
  /** 1-based, as the user counts levels. */
  level: number;
  into: number;
  quantity: Decimal;
  reason: string;
}

export interface ScaledLevel {
  /** 1-based position of the level in the list the user gave (a merged level keeps no row of its own). */
  level: number;
  limitPrice: Decimal;
  quantity: Decimal;
}

export interface ScaleOutPlan {
  levels: ScaledLevel[];
  merges: LevelMerge[];
}

export interface LevelIssue {
  field: string;
  message: string;
}

/** One human sentence per merge, for the alert's answer and the journal. */
export function describeMerge(merge: LevelMerge): string {
  return `takeProfit level ${merge.level} (${merge.quantity.toFixed()}) merged into level ${merge.into}: ${merge.reason}`;
}

/**
 * Splits `position` across the levels' sizes. Every quantity is floored to the step; the last level takes the
 * remainder, so the quantities always sum to the position exactly. A level that would fall under the minimum
 * quantity (or its price × quantity under the minimum notional) is merged into the next one, and the last, when
 * it is too small, into the one before it. A position that is itself under the minimum stays in one level.
 */
export function splitQuantities(position: Decimal, sizes: readonly LevelSize[], rules: QuantityRules, prices?: readonly Decimal[]): { quantities: Decimal[]; merges: LevelMerge[] } {
  if (sizes.length === 0) return { quantities: [], merges: [] };
  let left = position;
  const raw: Decimal[] = sizes.map((size, index) => {
    if (index === sizes.length - 1) return left;
    let want: Decimal;
    if (size.kind === 'percent') want = floorToStep(position.mul(size.value).div(HUNDRED), rules.stepSize);
    else if (size.kind === 'quantity') want = floorToStep(size.value, rules.stepSize);
    // "rest" before the last level: the rest after the levels before it, with nothing left for the later ones.
    else want = left;
    const take = want.gt(left) ? left : want;
    left = left.minus(take);
    return take;
  });

  const tooSmall = (quantity: Decimal, index: number): string | undefined => {
    if (quantity.lte(0)) return 'its size rounds to nothing on the step';
    if (quantity.lt(rules.minQuantity)) return `${quantity.toFixed()} is under the minimum quantity ${rules.minQuantity.toFixed()}`;
    const price = prices?.[index];
    const minNotional = rules.minNotional ?? ZERO;
    if (price !== undefined && minNotional.gt(0) && quantity.mul(price).lt(minNotional)) {
      return `${quantity.toFixed()} × ${price.toFixed()} is under the minimum notional ${minNotional.toFixed()}`;
    }
    return undefined;
  };

  // Forward: each small level folds into the next (the last has no next: handled below).
  const quantities = [...raw];
  const alive = sizes.map(() => true);
  const merges: LevelMerge[] = [];
  for (let i = 0; i < quantities.length - 1; i += 1) {
    const quantity = quantities[i] as Decimal;
    const reason = tooSmall(quantity, i);
    if (reason === undefined) continue;
    quantities[i + 1] = (quantities[i + 1] as Decimal).plus(quantity);
    quantities[i] = ZERO;
    alive[i] = false;
    merges.push({ level: i + 1, into: i + 2, quantity, reason });
  }
  // Backward: a last level too small joins the nearest level still standing before it.
  const last = quantities.length - 1;
  const lastReason = tooSmall(quantities[last] as Decimal, last);
  if (lastReason !== undefined) {
    const previous = alive.slice(0, last).lastIndexOf(true);
    if (previous >= 0) {
      const quantity = quantities[last] as Decimal;
      quantities[previous] = (quantities[previous] as Decimal).plus(quantity);
      quantities[last] = ZERO;
      alive[last] = false;
      merges.push({ level: last + 1, into: previous + 1, quantity, reason: lastReason });
    }
  }
  return { quantities: quantities.map((q, i) => (alive[i] ? q : ZERO)), merges };
}

export interface ScaleOutInput {
  /** The entry's side: a buy's targets are above the base, a sell's below. */
  side: Side;
  basePrice: Decimal;
  /** The initial stop, for rMultiple levels. */
  stopPrice?: Decimal | undefined;
  quantity: Decimal;
  tick: Decimal;
  rules: QuantityRules;
  levels: readonly TargetLevelSpec[];
}

/** A level's limit price from its anchor, rounded toward the base (never further away than asked). */
function levelPrice(input: ScaleOutInput, spec: TargetLevelSpec, field: string, issues: LevelIssue[]): Decimal | undefined {
  const anchors = LEVEL_ANCHORS.filter((key) => spec[key] !== undefined);
  if (anchors.length !== 1) {
    issues.push({ field, message: `expected exactly one of ${LEVEL_ANCHORS.join(', ')}${anchors.length ? `, got ${anchors.join(' and ')}` : ''}` });
    return undefined;
  }
  const anchor = anchors[0] as (typeof LEVEL_ANCHORS)[number];
  const value = spec[anchor] as Decimal;
  if (value.lte(0)) {
    issues.push({ field: `${field}.${anchor}`, message: `must be above zero, got ${value.toFixed()}` });
    return undefined;
  }
  const { side, basePrice: base } = input;
  const up = side === 'buy';
  let distance: Decimal | undefined;
  switch (anchor) {
    case 'limitPrice': break;
    case 'percent': distance = base.mul(value).div(HUNDRED); break;
    case 'amount': distance = value; break;
    case 'rMultiple': {
      if (input.stopPrice === undefined) {
        issues.push({ field: `${field}.rMultiple`, message: 'needs a stop loss: one R is the distance from the entry to the stop' });
        return undefined;
      }
      distance = base.minus(input.stopPrice).abs().mul(value);
      break;
    }
  }
  const raw = distance === undefined ? value : up ? base.plus(distance) : base.minus(distance);
  const price = roundToTickDirected(raw, input.tick, up ? 'down' : 'up');
  if (price.lte(0)) {
    issues.push({ field: `${field}.${anchor}`, message: `gives a target at ${price.toFixed()}, which is not a price` });
    return undefined;
  }
  if (up ? !price.gt(base) : !price.lt(base)) {
    issues.push({ field: `${field}.${anchor}`, message: `the target ${price.toFixed()} of a ${up ? 'long' : 'short'} must be ${up ? 'above' : 'below'} the base price ${base.toFixed()}` });
    return undefined;
  }
  return price;
}

/** Checks the sizes read as a plan: percents within 100, only the last level may be "rest". */
function checkSizes(levels: readonly TargetLevelSpec[], issues: LevelIssue[]): void {
  let percent = ZERO;
  levels.forEach((level, index) => {
    const field = `takeProfit[${index}].size`;
    if (level.size.kind === 'rest' && index !== levels.length - 1) issues.push({ field, message: '"rest" goes on the last level only' });
    if (level.size.kind !== 'rest' && level.size.value.lte(0)) issues.push({ field, message: `must be above zero, got ${level.size.value.toFixed()}` });
    if (level.size.kind === 'percent') percent = percent.plus(level.size.value);
  });
  if (percent.gt(HUNDRED)) issues.push({ field: 'takeProfit', message: `the levels' sizes add up to ${percent.toFixed()}%, more than the position` });
}

/**
 * The take-profit levels of a position: each priced from its anchor and sized from the position, on the
 * instrument's grid. Levels must move away from the base in the order given (the first is the nearest), so the
 * one-by-one scale-out and the stop moves that follow target N mean what the user reads.
 */
export function scaleOutPlan(input: ScaleOutInput): ({ ok: true } & ScaleOutPlan) | { ok: false; issues: LevelIssue[] } {
  const issues: LevelIssue[] = [];
  if (input.levels.length === 0) return { ok: false, issues: [{ field: 'takeProfit', message: 'a list of levels needs at least one level' }] };
  checkSizes(input.levels, issues);
  const prices = input.levels.map((spec, index) => levelPrice(input, spec, `takeProfit[${index}]`, issues));
  for (let i = 1; i < prices.length; i += 1) {
    const previous = prices[i - 1];
    const current = prices[i];
    if (previous === undefined || current === undefined) continue;
    const further = input.side === 'buy' ? current.gt(previous) : current.lt(previous);
    if (!further) issues.push({ field: `takeProfit[${i}]`, message: `the target ${current.toFixed()} must be further from the entry than level ${i}'s ${previous.toFixed()}` });
  }
  if (issues.length > 0) return { ok: false, issues };
  const priced = prices as Decimal[];
  const { quantities, merges } = splitQuantities(input.quantity, input.levels.map((l) => l.size), input.rules, priced);
  const levels: ScaledLevel[] = [];
  quantities.forEach((quantity, index) => {
    if (quantity.gt(0)) levels.push({ level: index + 1, limitPrice: priced[index] as Decimal, quantity });
  });
  return { ok: true, levels, merges };
}
