// Exact decimal arithmetic for money and quantities: one configured Decimal, strict parsing, tick and step rounding.
import { Decimal as DecimalBase } from 'decimal.js';

/** The project's Decimal: 40 significant digits, half-even rounding, never exponent notation in toString. */
export const Decimal = DecimalBase.clone({ precision: 40, rounding: DecimalBase.ROUND_HALF_EVEN, toExpNeg: -30, toExpPos: 40 });
export type Decimal = InstanceType<typeof Decimal>;

const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** True when the text is a plain decimal number (no hex, no Infinity, no NaN, no blanks). */
export function isDecimalText(text: string): boolean {
  return DECIMAL_TEXT.test(text);
}

/**
 * Parses a decimal from its source text. Numbers are accepted only when they are safe integers:
 * a fractional JS number has already been through a float, so callers must hand us the text.
 */
export function toDecimal(value: string | number | Decimal): Decimal {
  if (Decimal.isDecimal(value)) return value as Decimal;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`not an exact number: ${value} (pass the source text)`);
    return new Decimal(value);
  }
  const text = value.trim();
  if (!isDecimalText(text)) throw new TypeError(`not a decimal number: ${JSON.stringify(value)}`);
  return new Decimal(text);
}

export const ZERO = new Decimal(0);
export const ONE = new Decimal(1);
export const HUNDRED = new Decimal(100);

/** Rounds a price to the nearest multiple of tick (half away from zero, as exchanges quote). */
export function roundToTick(price: Decimal, tick: Decimal): Decimal {
  if (tick.lte(0)) return price;
  return price.div(tick).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).mul(tick);
}

/** Rounds a price to the tick in the direction that keeps an order conservative ('down' or 'up'). */
export function roundToTickDirected(price: Decimal, tick: Decimal, direction: 'down' | 'up'): Decimal {
  if (tick.lte(0)) return price;
  const mode = direction === 'down' ? Decimal.ROUND_FLOOR : Decimal.ROUND_CEIL;
  return price.div(tick).toDecimalPlaces(0, mode).mul(tick);
}

/** Floors a quantity to a multiple of step: never more than asked for. */
export function floorToStep(quantity: Decimal, step: Decimal): Decimal {
  if (step.lte(0)) return quantity;
  return quantity.div(step).toDecimalPlaces(0, Decimal.ROUND_DOWN).mul(step);
}

/** Rounds money to cents for display only (half-even); decisions use the exact value. */
export function toCents(amount: Decimal): string {
  return amount.toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toFixed(2);
}

/** Percent of a base: base × pct ÷ 100. */
export function percentOf(base: Decimal, pct: Decimal): Decimal {
  return base.mul(pct).div(HUNDRED);
}

export function minDecimal(a: Decimal, b: Decimal): Decimal {
  return a.lte(b) ? a : b;
}

export function maxDecimal(a: Decimal, b: Decimal): Decimal {
  return a.gte(b) ? a : b;
}
