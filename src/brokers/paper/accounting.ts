// The paper account's bookkeeping as pure functions: what a fill does to a position and to cash, and what cash is free.
import type { Side } from '../../domain/order.ts';
import { ZERO } from '../../domain/money.ts';
import type { Decimal } from '../../domain/money.ts';

/** A position as the ledger keeps it: quantity signed (negative is short), average entry price. */
export interface PositionState {
  quantity: Decimal;
  averagePrice: Decimal;
}

export interface FillEffect {
  position: PositionState;
  /**
   * Cash moves like a cash account with short selling: a buy pays price × quantity + fee, a sell
   * receives price × quantity − fee (a short sale's proceeds too; the short's market value is then a
   * liability in equity). Realized P&L therefore reaches cash by itself; it is reported, never added twice.
   */
  cashDelta: Decimal;
  /** Gross P&L of the part that closed existing exposure (fees are reported apart, on the fill). */
  realizedPnl: Decimal;
}

export const FLAT: PositionState = { quantity: ZERO, averagePrice: ZERO };

function signed(side: Side, quantity: Decimal): Decimal {
  return side === 'buy' ? quantity : quantity.neg();
}

/** The part of an order that reduces an opposite position (a sell against a long, a buy against a short). */
export function closingQuantity(positionQuantity: Decimal, side: Side, quantity: Decimal): Decimal {
  const opposite = side === 'buy' ? positionQuantity.lt(0) : positionQuantity.gt(0);
  if (!opposite) return ZERO;
  const held = positionQuantity.abs();
  return held.lt(quantity) ? held : quantity;
}

/** The part of an order that opens or adds exposure: what the funds rule applies to. */
export function openingQuantity(positionQuantity: Decimal, side: Side, quantity: Decimal): Decimal {
  return quantity.minus(closingQuantity(positionQuantity, side, quantity));
}

/** Applies one fill to a position: adds at a weighted average, reduces at the held average, flips through zero. */
export function applyFill(position: PositionState, side: Side, quantity: Decimal, price: Decimal, fee: Decimal): FillEffect {
  const notional = price.mul(quantity);
  const cashDelta = side === 'buy' ? notional.plus(fee).neg() : notional.minus(fee);
  const closing = closingQuantity(position.quantity, side, quantity);
  const opening = quantity.minus(closing);
  // A long gains when the exit is above its average, a short when it is below.
  const direction = position.quantity.gt(0) ? 1 : -1;
  const realizedPnl = closing.isZero() ? ZERO : price.minus(position.averagePrice).mul(closing).mul(direction);

  const afterClose = position.quantity.plus(signed(side, closing));
  let next: PositionState;
  if (opening.isZero()) {
    next = afterClose.isZero() ? FLAT : { quantity: afterClose, averagePrice: position.averagePrice };
  } else if (afterClose.isZero()) {
    // Flat, or flipped through zero: the new exposure's average is this fill's price.
    next = { quantity: signed(side, opening), averagePrice: price };
  } else {
    const held = afterClose.abs();
    const total = held.plus(opening);
    next = { quantity: afterClose.plus(signed(side, opening)), averagePrice: position.averagePrice.mul(held).plus(price.mul(opening)).div(total) };
  }
  return { position: next, cashDelta, realizedPnl };
}

export interface MarkedPosition {
  quantity: Decimal;
  averagePrice: Decimal;
  /** The last price, or the average price where the symbol has none. */
  mark: Decimal;
}

/** Cash plus every position at its mark; a short's market value counts against it. */
export function equityOf(cash: Decimal, positions: readonly MarkedPosition[]): Decimal {
  return positions.reduce((sum, p) => sum.plus(p.quantity.mul(p.mark)), cash);
}

/**
 * Cash free for new exposure. The rule: a cash account where a short must be backed by cash equal to
 * its notional. A short sale's proceeds sit in cash but are owed back (its liability at the mark), and
 * the collateral it locked when opened (its notional at the average price) stays locked until it closes;
 * resting orders hold the funds reserved for them when placed.
 */
export function freeCash(cash: Decimal, positions: readonly MarkedPosition[], reserved: Decimal): Decimal {
  const shortsHold = positions
    .filter((p) => p.quantity.lt(0))
    .reduce((sum, p) => sum.plus(p.quantity.abs().mul(p.mark)).plus(p.quantity.abs().mul(p.averagePrice)), ZERO);
  return cash.minus(shortsHold).minus(reserved);
}

/** Funds an order needs: its opening part at the reservation price plus the fee; a purely closing order needs none. */
export function requiredFunds(opening: Decimal, price: Decimal, fee: Decimal): Decimal {
  if (opening.lte(0)) return ZERO;
  return opening.mul(price).plus(fee);
}
