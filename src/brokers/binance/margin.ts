// The initial margin an order would take at Binance USD-M: notional over the leverage its notional bracket allows.
import { ZERO, maxDecimal, minDecimal } from '../../domain/money.ts';
import type { Decimal } from '../../domain/money.ts';
import type { MarginImpact } from '../broker.ts';

export interface NotionalBracket {
  initialLeverage: Decimal;
  notionalFloor: Decimal;
  notionalCap: Decimal;
}

export interface MarginInput {
  quantity: Decimal;
  /** The order's price: its limit or trigger, else the mark price. */
  price: Decimal;
  /** The symbol's leverage on the exchange (positionRisk). */
  leverage: Decimal;
  /** The position already held on the order's side of the book, as a positive quantity (one-way: signed by side). */
  sameSideQuantity: Decimal;
  /** The position held against the order (one-way mode only: an order first closes it, which needs no margin). */
  opposingQuantity: Decimal;
  brackets: readonly NotionalBracket[];
  availableMargin: Decimal;
  reduceOnly: boolean;
}

/**
 * initialMargin = opening notional ÷ effective leverage. The opening quantity is what the order adds: in
 * one-way mode a sell against a long first closes it. The effective leverage is the symbol's leverage,
 * capped by the bracket the whole resulting position's notional falls in (bigger positions get less).
 * Binance also reserves an order's expected loss against the mark for some orders; that part is left out.
 */
export function marginImpact(input: MarginInput): MarginImpact {
  const opening = input.reduceOnly ? ZERO : maxDecimal(ZERO, input.quantity.minus(input.opposingQuantity));
  const openingNotional = opening.mul(input.price);
  const resultingNotional = input.sameSideQuantity.plus(opening).mul(input.price);
  const bracket = bracketFor(input.brackets, resultingNotional);
  const leverage = bracket ? minDecimal(input.leverage, bracket.initialLeverage) : input.leverage;
  return {
    initialMargin: leverage.gt(0) ? openingNotional.div(leverage) : openingNotional,
    leverage,
    availableMargin: input.availableMargin,
  };
}

/** The bracket whose [floor, cap) holds the notional; beyond the last cap, the last (the exchange would refuse). */
export function bracketFor(brackets: readonly NotionalBracket[], notional: Decimal): NotionalBracket | undefined {
  const sorted = [...brackets].sort((a, b) => a.notionalFloor.comparedTo(b.notionalFloor));
  return sorted.find((b) => notional.gte(b.notionalFloor) && notional.lt(b.notionalCap)) ?? sorted.at(-1);
}
