// A conservative pre-check of a position's protection in plain numbers, so the exact Decimal check runs only where a price may matter.
import type { Decimal } from '../domain/money.ts';
import type { TriggerState } from '../domain/position.ts';

/**
 * Relative tolerance of the number path. A Decimal of up to 40 digits becomes a double within 1.2e-16 of it,
 * and the few operations below add a few ulps more; 1e-9 leaves room by seven orders of magnitude, so a price
 * the number path calls clear of every level is clear of it in exact arithmetic too.
 */
const TOLERANCE = 1e-9;

/** A position's protective levels as doubles (NaN where absent: a NaN comparison is always false). */
export interface FastLevels {
  long: boolean;
  stop: number;
  target: number;
  trailPercent: number;
  trailAmount: number;
  /** The water mark a trailing stop follows (the high for a long, the low for a short); NaN without a trail. */
  water: number;
}

/**
 * A Decimal as the nearest few-ulp double, read from its digits (decimal.js documents `d`, `e` and `s`: base-1e7
 * words, the decimal exponent, the sign) instead of through a string as `toNumber()` does, about ten times faster.
 * Within 4 ulps of the exact value; for comparisons under TOLERANCE only, never for a stored result.
 */
export function approximate(value: Decimal): number {
  const { d, e, s } = value;
  if (!d) return value.toNumber(); // NaN or ±Infinity
  const first = d[0] ?? 0;
  if (first === 0) return 0;
  let words = 0;
  for (let i = d.length - 1; i >= 0; i -= 1) words = words / 1e7 + (d[i] ?? 0);
  const lead = first >= 1e6 ? 7 : first >= 1e5 ? 6 : first >= 1e4 ? 5 : first >= 1e3 ? 4 : first >= 100 ? 3 : first >= 10 ? 2 : 1;
  const shift = e - lead + 1;
  // Dividing by an exact power of ten rounds once; multiplying by an inexact 10^-k would round twice.
  return s * (shift >= 0 ? words * 10 ** shift : words / 10 ** -shift);
}

const toNumber = (value: Decimal | undefined): number => (value === undefined ? Number.NaN : approximate(value));

export function fastLevels(state: TriggerState): FastLevels {
  const long = state.side === 'long';
  const trailing = state.trailPercent !== undefined || state.trailAmount !== undefined;
  const mark = long ? (state.highWater ?? state.averageEntryPrice) : (state.lowWater ?? state.averageEntryPrice);
  return {
    long,
    stop: toNumber(state.stopPrice),
    target: toNumber(state.targetPrice),
    trailPercent: toNumber(state.trailPercent),
    trailAmount: toNumber(state.trailAmount),
    water: trailing ? approximate(mark) : Number.NaN,
  };
}

/**
 * The prices at which nothing can happen to a position: strictly between `below` and `above` (beyond the tolerance)
 * the price is clear of the stop, the trailing level, the target and the water mark, so nothing fires and no mark
 * moves. An absent level leaves its side open (±Infinity). Computed when the levels change, not per quote.
 */
export interface QuietBand {
  below: number;
  above: number;
}

const lowest = (a: number, b: number): number => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.min(a, b));
const highest = (a: number, b: number): number => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b));

export function quietBand(levels: FastLevels): QuietBand {
  const up = 1 + TOLERANCE;
  const down = 1 - TOLERANCE;
  const { water } = levels;
  let trail = Number.NaN;
  if (!Number.isNaN(water)) {
    const distance = Number.isNaN(levels.trailPercent) ? levels.trailAmount : (water * levels.trailPercent) / 100;
    trail = levels.long ? water - distance : water + distance;
  }
  // A long fears falling to its stop or trail and rising to its target or past its high water; a short the mirror.
  const below = levels.long ? highest(levels.stop, trail) * up : highest(levels.target, water) * up;
  const above = levels.long ? lowest(levels.target, water) * down : lowest(levels.stop, trail) * down;
  return { below: Number.isNaN(below) ? -Infinity : below, above: Number.isNaN(above) ? Infinity : above };
}
