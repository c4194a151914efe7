// How big an entry is, and how much a partial close takes: sizing modes, then step, caps and instrument minimums.
import { HUNDRED, ZERO, floorToStep, percentOf } from './money.ts';
import { Decimal } from './money.ts';
import type { Instrument } from './instrument.ts';

export type SizingMode =
  | 'fixed_quantity' | 'dollar_amount' | 'percent_of_equity' | 'risk_percent' | 'risk_dollar_amount' | 'percent_of_position' | 'kelly';

export interface KellyInput {
  /** Fraction of trades won, 0 < W < 1. */
  winRate: Decimal;
  /** Average win ÷ average loss. */
  payoff: Decimal;
  /** Share of the full Kelly bet taken (0.5 is half Kelly). */
  fraction: Decimal;
  /** Percent of equity the bet may never exceed. */
  maxPercent: Decimal;
}

export interface SizingInput {
  mode: SizingMode;
  /** The mode's number: a quantity, a dollar amount or a percent. Not used by kelly. */
  value?: Decimal | undefined;
  kelly?: KellyInput | undefined;
  /** Where the price comes from, first present wins: the entry's limit price, the alert's price, a quote. */
  limitPrice?: Decimal | undefined;
  alertPrice?: Decimal | undefined;
  quotePrice?: Decimal | undefined;
  /** The protective stop's price, for the risk modes. */
  stopPrice?: Decimal | undefined;
  /**
   * How far (percent of the price) an entry that is not a limit order may fill beyond the price it is sized from, against
   * the position: the risk modes count it into the risk per unit, so that a slipped fill with an absolute stop stays
   * within the budget. Absent: 0.
   */
  expectedSlippagePercent?: Decimal | undefined;
  equity: Decimal;
  buyingPower?: Decimal | undefined;
  /** Risk limit: the position (existing plus this entry) may be worth at most this percent of equity. */
  maxPositionPercent?: Decimal | undefined;
  /** The quantity already held on this side (an add); counts against maxPositionPercent and is the base of percent_of_position. */
  positionQuantity?: Decimal | undefined;
  instrument: Instrument;
}

export type SizingCap = 'kelly_max_percent' | 'max_position_percent' | 'buying_power' | 'instrument_max_quantity';

export type SizingRefusal =
  | 'no_price'
  | 'missing_value'
  | 'missing_stop'
  | 'invalid_stop'
  | 'missing_position'
  | 'kelly_no_edge'
  | 'risk:max_position_percent'
  | 'risk:buying_power'
  | 'risk:min_quantity'
  | 'risk:min_notional';

export type PriceSource = 'limit' | 'alert' | 'quote';

export type SizingResult =
  | { ok: true; quantity: Decimal; notional: Decimal; price: Decimal; priceSource: PriceSource; cappedBy: SizingCap[] }
  | { ok: false; reason: SizingRefusal; detail: string };

function refuse(reason: SizingRefusal, detail: string): SizingResult {
  return { ok: false, reason, detail };
}

/** The price sizing uses: the entry's limit price, else the alert's price, else a quote. */
export function sizingPrice(input: Pick<SizingInput, 'limitPrice' | 'alertPrice' | 'quotePrice'>): { price: Decimal; source: PriceSource } | undefined {
  if (input.limitPrice !== undefined && input.limitPrice.gt(0)) return { price: input.limitPrice, source: 'limit' };
  if (input.alertPrice !== undefined && input.alertPrice.gt(0)) return { price: input.alertPrice, source: 'alert' };
  if (input.quotePrice !== undefined && input.quotePrice.gt(0)) return { price: input.quotePrice, source: 'quote' };
  return undefined;
}

/** Kelly's optimal fraction of equity, f* = W − (1 − W) ÷ R. Zero or less means the edge is not there. */
export function kellyFraction(winRate: Decimal, payoff: Decimal): Decimal {
  return winRate.minus(winRate.neg().plus(1).div(payoff));
}

/**
 * What an entry may slip by per unit, against the position: a long fills higher, a short lower, either way the
 * distance to the stop grows by price × slippage. A limit entry fills at its limit or better: nothing.
 */
function entrySlippage(input: SizingInput, price: Decimal): Decimal {
  const slippage = input.expectedSlippagePercent;
  if (slippage === undefined || slippage.lte(0) || sizingPrice(input)?.source === 'limit') return ZERO;
  return percentOf(price, slippage);
}

// The project's Decimal rounds half-even at 40 digits; a quotient below a whole step can round up onto it.
const RoundingDown = Decimal.clone({ rounding: Decimal.ROUND_DOWN });

/** amount ÷ price truncated at the last digit: a quantity that money buys is never rounded up past it. */
function divDown(amount: Decimal, price: Decimal): Decimal {
  return new Decimal(new RoundingDown(amount).div(price));
}

/** The most whole steps whose total risk stays within the budget. */
function wholeStepsWithin(budget: Decimal, perUnit: Decimal, step: Decimal): Decimal {
  return floorToStep(divDown(budget, perUnit), step);
}

type RawSize = { quantity: Decimal; caps: SizingCap[] } | SizingResult;

function isResult(raw: RawSize): raw is SizingResult {
  return 'ok' in raw;
}

function rawQuantity(input: SizingInput, price: Decimal): RawSize {
  const { mode, value } = input;
  if (mode === 'kelly') {
    const k = input.kelly;
    if (k === undefined) return refuse('missing_value', 'kelly sizing needs a win rate, a payoff, a fraction and a maximum percent');
    const full = kellyFraction(k.winRate, k.payoff);
    if (full.lte(0)) {
      return refuse('kelly_no_edge', `Kelly fraction ${full} ≤ 0 (win rate ${k.winRate}, payoff ${k.payoff}): no edge to bet on`);
    }
    const scaled = full.mul(k.fraction).mul(HUNDRED);
    const capped = scaled.gt(k.maxPercent);
    const pct = capped ? k.maxPercent : scaled;
    return { quantity: divDown(percentOf(input.equity, pct), price), caps: capped ? ['kelly_max_percent'] : [] };
  }
  if (value === undefined) return refuse('missing_value', `sizing mode ${mode} needs a value`);
  switch (mode) {
    case 'fixed_quantity':
      return { quantity: value, caps: [] };
    case 'dollar_amount':
      return { quantity: divDown(value, price), caps: [] };
    case 'percent_of_equity':
      return { quantity: divDown(percentOf(input.equity, value), price), caps: [] };
    case 'risk_percent':
    case 'risk_dollar_amount': {
      if (input.stopPrice === undefined) return refuse('missing_stop', `${mode} sizing needs a stop loss: the risk per share is |entry − stop|`);
      const distance = price.minus(input.stopPrice).abs();
      if (distance.isZero()) return refuse('invalid_stop', `the stop ${input.stopPrice} equals the entry price ${price}: the risk per share would be zero`);
      const budget = mode === 'risk_percent' ? percentOf(input.equity, value) : value;
      const perUnit = distance.plus(entrySlippage(input, price));
      return { quantity: wholeStepsWithin(budget, perUnit, input.instrument.stepSize), caps: [] };
    }
    case 'percent_of_position': {
      if (input.positionQuantity === undefined || input.positionQuantity.isZero()) {
        return refuse('missing_position', 'percent_of_position sizing needs a position to take a percent of');
      }
      return { quantity: percentOf(input.positionQuantity, value), caps: [] };
    }
  }
}

/**
 * Sizes an entry or an add: the mode's quantity, floored to the step, capped by max position % of equity,
 * by buying power and by the instrument's maximum (each cap named in `cappedBy`), then held to the
 * instrument's minimums. An entry capped below a minimum is refused, never sent smaller than the venue takes.
 * Fees are not reserved out of buying power: the broker's own check is the backstop for the last cent.
 */
export function sizePosition(input: SizingInput): SizingResult {
  const found = sizingPrice(input);
  if (found === undefined) return refuse('no_price', 'no price to size with: no limit price, no alert price and no quote');
  const { price, source } = found;
  const raw = rawQuantity(input, price);
  if (isResult(raw)) return raw;

  const { instrument } = input;
  const cappedBy = [...raw.caps];
  let quantity = floorToStep(raw.quantity, instrument.stepSize);
  const capNotes: string[] = [];

  if (input.maxPositionPercent !== undefined) {
    const limit = percentOf(input.equity, input.maxPositionPercent);
    const held = (input.positionQuantity ?? ZERO).mul(price);
    const room = limit.minus(held);
    if (room.lte(0)) {
      return refuse('risk:max_position_percent', `the position is already worth ${held}, at or above ${input.maxPositionPercent}% of equity (${limit})`);
    }
    if (quantity.mul(price).gt(room)) {
      quantity = floorToStep(divDown(room, price), instrument.stepSize);
      cappedBy.push('max_position_percent');
      capNotes.push(`max position ${input.maxPositionPercent}% of equity`);
    }
  }
  if (input.buyingPower !== undefined) {
    if (input.buyingPower.lte(0)) return refuse('risk:buying_power', `no buying power left (${input.buyingPower})`);
    if (quantity.mul(price).gt(input.buyingPower)) {
      quantity = floorToStep(divDown(input.buyingPower, price), instrument.stepSize);
      cappedBy.push('buying_power');
      capNotes.push(`buying power ${input.buyingPower}`);
    }
  }
  if (instrument.maxQuantity !== undefined && quantity.gt(instrument.maxQuantity)) {
    quantity = floorToStep(instrument.maxQuantity, instrument.stepSize);
    cappedBy.push('instrument_max_quantity');
    capNotes.push(`the instrument's maximum quantity ${instrument.maxQuantity}`);
  }

  const because = capNotes.length > 0 ? ` after capping by ${capNotes.join(' and ')}` : '';
  const notional = quantity.mul(price);
  // A zero quantity is below any minimum: never send an empty order, even where the venue states no minimum.
  if (quantity.isZero() || quantity.lt(instrument.minQuantity)) {
    return refuse('risk:min_quantity', `quantity ${quantity}${because} is below ${instrument.symbol}'s minimum quantity ${instrument.minQuantity}`);
  }
  if (notional.lt(instrument.minNotional)) {
    return refuse('risk:min_notional', `notional ${notional} (${quantity} × ${price})${because} is below ${instrument.symbol}'s minimum notional ${instrument.minNotional}`);
  }
  return { ok: true, quantity, notional, price, priceSource: source, cappedBy };
}

/** How much of a position a partial close takes: a percent of it, a quantity, or a dollar amount at a price. */
export type Reduction = { percent: Decimal } | { quantity: Decimal } | { dollarAmount: Decimal; price: Decimal };

export interface ReductionInput {
  positionQuantity: Decimal;
  reduction: Reduction;
  instrument: Instrument;
  /** A price to value what remains against the minimum notional; without one only the minimum quantity is checked. */
  price?: Decimal | undefined;
}

export type ReductionResult =
  | { ok: true; quantity: Decimal; closesAll: boolean }
  | { ok: false; reason: 'risk:min_quantity' | 'no_price'; detail: string };

/**
 * Sizes a partial close. A close that would leave less than the instrument's minimum (quantity, or notional
 * where a price is known) closes everything instead: a remainder the venue will not let us sell is a
 * position nobody can exit. The close itself is held to the minimum quantity only, since venues waive the
 * minimum notional for reduce-only orders (Binance USD-M does) and refusing would strand the position.
 */
export function sizeReduction(input: ReductionInput): ReductionResult {
  const { positionQuantity, reduction, instrument } = input;
  let wanted: Decimal;
  if ('percent' in reduction) wanted = percentOf(positionQuantity, reduction.percent);
  else if ('quantity' in reduction) wanted = reduction.quantity;
  else {
    if (reduction.price.lte(0)) return { ok: false, reason: 'no_price', detail: 'a dollar-amount reduce needs a price above zero' };
    wanted = reduction.dollarAmount.div(reduction.price);
  }
  const quantity = floorToStep(wanted, instrument.stepSize);
  if (quantity.gte(positionQuantity)) return { ok: true, quantity: positionQuantity, closesAll: true };

  const remainder = positionQuantity.minus(quantity);
  const remainderTooSmall = remainder.lt(instrument.minQuantity)
    || (input.price !== undefined && remainder.mul(input.price).lt(instrument.minNotional));
  if (remainderTooSmall) return { ok: true, quantity: positionQuantity, closesAll: true };

  if (quantity.isZero() || quantity.lt(instrument.minQuantity)) {
    return { ok: false, reason: 'risk:min_quantity', detail: `a close of ${quantity} (floored from ${wanted}) is below ${instrument.symbol}'s minimum quantity ${instrument.minQuantity}` };
  }
  return { ok: true, quantity, closesAll: false };
}
