// The paper broker's matching rules as pure functions: whether an order fills at a new last price, and at what price and fee.
import type { OrderType, Side } from '../../domain/order.ts';
import { Decimal, ZERO, maxDecimal, minDecimal, percentOf, roundToTick, roundToTickDirected } from '../../domain/money.ts';

export interface MatchConfig {
  /** Market slippage as a percent of the price ('0.05' is 0.05 %). */
  slippagePercent: Decimal;
  /** The instrument's price increment: slipped prices land on it. */
  tickSize: Decimal;
}

/** What matching needs to know about a live order, including the state it carries between prices. */
export interface MatchableOrder {
  side: Side;
  type: OrderType;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  /** A stop_limit whose stop has been reached rests as a limit from then on. */
  triggered: boolean;
  /** A trailing stop's best price so far: the high for a sell, the low for a buy. */
  waterMark?: Decimal | undefined;
}

export interface MatchOutcome {
  /** Set when the order fills (always in full: the paper market has unlimited depth). */
  fillPrice?: Decimal | undefined;
  /** The state to keep when it does not fill. */
  triggered: boolean;
  waterMark?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
}

/**
 * The price a market order gets: the last price moved against the trader by the slippage, then rounded
 * to the tick, again against the trader, so paper results never flatter a strategy.
 */
export function marketFillPrice(side: Side, last: Decimal, config: MatchConfig): Decimal {
  const slip = percentOf(last, config.slippagePercent);
  return side === 'buy'
    ? roundToTickDirected(last.plus(slip), config.tickSize, 'up')
    : roundToTickDirected(last.minus(slip), config.tickSize, 'down');
}

/** A limit is reachable when the price is at or better than it: at or below for a buy, at or above for a sell. */
export function limitReached(side: Side, limit: Decimal, last: Decimal): boolean {
  return side === 'buy' ? last.lte(limit) : last.gte(limit);
}

/** A limit fills at its own price, or at the better last price when the market gaps through it. */
export function limitFillPrice(side: Side, limit: Decimal, last: Decimal): Decimal {
  return side === 'buy' ? minDecimal(limit, last) : maxDecimal(limit, last);
}

/** A stop triggers when the price reaches it: at or above for a buy, at or below for a sell. */
export function stopReached(side: Side, stop: Decimal, last: Decimal): boolean {
  return side === 'buy' ? last.gte(stop) : last.lte(stop);
}

/** A triggered stop becomes a market order at the worse of stop and last (a gap fills at the gap), plus slippage. */
export function stopFillPrice(side: Side, stop: Decimal, last: Decimal, config: MatchConfig): Decimal {
  const base = side === 'buy' ? maxDecimal(stop, last) : minDecimal(stop, last);
  return marketFillPrice(side, base, config);
}

/**
 * A trailing stop's stop price from its water mark: below the high for a sell, above the low for a buy.
 * Rounded to the nearest tick so the order shows a price the venue could quote.
 */
export function trailingStopPrice(side: Side, waterMark: Decimal, trail: { amount?: Decimal | undefined; percent?: Decimal | undefined }, tick: Decimal): Decimal {
  const distance = trail.amount ?? percentOf(waterMark, trail.percent ?? ZERO);
  return roundToTick(side === 'sell' ? waterMark.minus(distance) : waterMark.plus(distance), tick);
}

/** Moves a trailing stop's water mark with the price: only ever up for a sell, only ever down for a buy. */
export function nextWaterMark(side: Side, waterMark: Decimal | undefined, last: Decimal): Decimal {
  if (waterMark === undefined) return last;
  return side === 'sell' ? maxDecimal(waterMark, last) : minDecimal(waterMark, last);
}

/** Runs one live order against a new last price. */
export function matchOrder(order: MatchableOrder, last: Decimal, config: MatchConfig): MatchOutcome {
  const keep = { triggered: order.triggered, waterMark: order.waterMark, stopPrice: order.stopPrice };
  switch (order.type) {
    case 'market':
      return { ...keep, fillPrice: marketFillPrice(order.side, last, config) };
    case 'limit': {
      const limit = required(order.limitPrice, 'limit price');
      return limitReached(order.side, limit, last) ? { ...keep, fillPrice: limitFillPrice(order.side, limit, last) } : keep;
    }
    case 'stop': {
      const stop = required(order.stopPrice, 'stop price');
      return stopReached(order.side, stop, last) ? { ...keep, fillPrice: stopFillPrice(order.side, stop, last, config) } : keep;
    }
    case 'stop_limit': {
      const stop = required(order.stopPrice, 'stop price');
      const limit = required(order.limitPrice, 'limit price');
      // Once triggered it stays a limit even if the price falls back through the stop, as at a venue.
      const triggered = order.triggered || stopReached(order.side, stop, last);
      if (triggered && limitReached(order.side, limit, last)) return { ...keep, triggered, fillPrice: limitFillPrice(order.side, limit, last) };
      return { ...keep, triggered };
    }
    case 'trailing_stop': {
      const waterMark = nextWaterMark(order.side, order.waterMark, last);
      const stopPrice = trailingStopPrice(order.side, waterMark, { amount: order.trailAmount, percent: order.trailPercent }, config.tickSize);
      if (stopReached(order.side, stopPrice, last)) return { triggered: true, waterMark, stopPrice, fillPrice: stopFillPrice(order.side, stopPrice, last, config) };
      return { triggered: false, waterMark, stopPrice };
    }
  }
}

/**
 * The most an order can plausibly cost per unit, for the funds check when it is placed: a buy pays at
 * most its limit (or the slipped stop or market price); a sell that opens a short puts up collateral on
 * the highest price it may fill at. Undefined when nothing prices it yet (a stop with no last price uses its stop).
 */
export function reservationPrice(order: MatchableOrder, last: Decimal | undefined, config: MatchConfig): Decimal | undefined {
  const buy = order.side === 'buy';
  const orAbove = (price: Decimal): Decimal => (last === undefined ? price : maxDecimal(price, last));
  switch (order.type) {
    case 'market':
      return last === undefined ? undefined : marketFillPrice(order.side, last, config);
    case 'limit':
    case 'stop_limit': {
      const limit = required(order.limitPrice, 'limit price');
      return buy ? limit : orAbove(limit);
    }
    case 'stop': {
      const stop = required(order.stopPrice, 'stop price');
      return buy ? marketFillPrice('buy', orAbove(stop), config) : orAbove(stop);
    }
    case 'trailing_stop': {
      const stop = order.stopPrice;
      if (stop === undefined) return last;
      return buy ? marketFillPrice('buy', stop, config) : orAbove(stop);
    }
  }
}

/**
 * The fee for one fill: feeRate × notional + feePerOrder, rounded half-up to the cent, because venues
 * charge whole cents and a sub-cent remainder would make the ledger's cash drift from any statement.
 */
export function feeFor(notional: Decimal, feeRate: Decimal, feePerOrder: Decimal): Decimal {
  return notional.mul(feeRate).plus(feePerOrder).toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
}

function required(value: Decimal | undefined, what: string): Decimal {
  // placeOrder validates the fields per type, so a missing one here is a corrupt ledger row.
  if (value === undefined) throw new TypeError(`order is missing its ${what}`);
  return value;
}
