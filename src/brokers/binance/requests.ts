// Which endpoint an order request goes to, and with which parameters: plain orders to /order, every trigger to /algoOrder.
import { createHash } from 'node:crypto';
import { InvalidOrderError, NotSupportedError } from '../../domain/errors.ts';
import { Decimal } from '../../domain/money.ts';
import type { OrderChange, OrderRequest } from '../../domain/order.ts';
import type { Params } from '../http.ts';
import { CLIENT_ID_PATTERN, positionSideFor, toWireSide, toWireTimeInForce } from './mapping.ts';
import type { WireAlgoOrder } from './wire.ts';

const MIN_CALLBACK_RATE = new Decimal('0.1');
const MAX_CALLBACK_RATE = new Decimal('10');

export interface PlacementContext {
  broker: string;
  hedge: boolean;
  workingType: 'MARK_PRICE' | 'CONTRACT_PRICE';
}

export type Placement =
  | { endpoint: 'order'; params: Params }
  /** `closePosition`: the order closes the whole position when it fires and carries no quantity. */
  | { endpoint: 'algo'; params: Params; closePosition: boolean };

/** A protective leg or an exit only ever shrinks the position. */
export function isReducing(request: OrderRequest): boolean {
  return request.reduceOnly === true || request.leg === 'stop' || request.leg === 'target' || request.leg === 'exit';
}

/**
 * Maps a request onto Binance's wire. Since December 2025 /fapi/v1/order refuses every conditional type
 * (-4120), so stops, stop-limits and take-profits are algo orders (`algoType=CONDITIONAL`, `triggerPrice`).
 * A stop or target leg is sent with closePosition=true: it closes whatever the position is when it fires,
 * so a partial close or an add never leaves it the wrong size. In hedge mode the position side says what is
 * reduced and `reduceOnly` must not be sent.
 */
export function placementFor(request: OrderRequest, ctx: PlacementContext): Placement {
  if (!CLIENT_ID_PATTERN.test(request.clientOrderId)) {
    throw new InvalidOrderError(`${ctx.broker}: client order id '${request.clientOrderId}' does not fit Binance's [.A-Z:/a-z0-9_-]{1,36}`, { broker: ctx.broker });
  }
  if (!request.quantity.gt(0)) throw new InvalidOrderError(`${ctx.broker}: quantity must be positive, got ${request.quantity.toFixed()}`, { broker: ctx.broker });
  const reducing = isReducing(request);
  const common = {
    symbol: request.symbol,
    side: toWireSide(request.side),
    positionSide: positionSideFor(request.side, reducing, ctx.hedge),
  };
  const reduceOnly = reducing && !ctx.hedge ? 'true' : undefined;
  const tif = request.timeInForce ?? 'gtc';
  const wireTif = toWireTimeInForce(tif);
  const requirePrice = (name: 'limitPrice' | 'stopPrice'): string => {
    const value = request[name];
    if (value === undefined || !value.gt(0)) throw new InvalidOrderError(`${ctx.broker}: a ${request.type} order needs a positive ${name}`, { broker: ctx.broker });
    return value.toFixed();
  };
  const restingTif = (): string => {
    if (wireTif === undefined) throw new NotSupportedError(`${ctx.broker}: Binance futures have no '${tif}' time in force (gtc, ioc or fok)`, { broker: ctx.broker });
    return wireTif;
  };
  const algo = (type: string, fields: Params, closePosition: boolean): Placement => ({
    endpoint: 'algo',
    closePosition,
    params: { algoType: 'CONDITIONAL', ...common, type, ...fields, workingType: ctx.workingType, clientAlgoId: request.clientOrderId },
  });
  const protectiveLeg = reducing && (request.leg === 'stop' || request.leg === 'target');

  switch (request.type) {
    case 'market':
      return { endpoint: 'order', params: { ...common, type: 'MARKET', quantity: request.quantity.toFixed(), reduceOnly, newClientOrderId: request.clientOrderId, newOrderRespType: 'RESULT' } };
    case 'limit':
      if (protectiveLeg && request.leg === 'target' && request.partialTarget === true) {
        // A scale-out level closes its own part: several rest side by side, which closePosition triggers cannot (-4130).
        return algo('TAKE_PROFIT_MARKET', { triggerPrice: requirePrice('limitPrice'), quantity: request.quantity.toFixed(), reduceOnly, priceProtect: 'TRUE' }, false);
      }
      if (protectiveLeg && request.leg === 'target') {
        return algo('TAKE_PROFIT_MARKET', { triggerPrice: requirePrice('limitPrice'), closePosition: 'true', priceProtect: 'TRUE' }, true);
      }
      return {
        endpoint: 'order',
        params: {
          ...common, type: 'LIMIT', timeInForce: restingTif(), quantity: request.quantity.toFixed(), price: requirePrice('limitPrice'), reduceOnly,
          newClientOrderId: request.clientOrderId, newOrderRespType: 'RESULT',
        },
      };
    case 'stop':
      if (protectiveLeg && request.leg === 'stop') {
        return algo('STOP_MARKET', { triggerPrice: requirePrice('stopPrice'), closePosition: 'true', priceProtect: 'TRUE' }, true);
      }
      return algo('STOP_MARKET', { triggerPrice: requirePrice('stopPrice'), quantity: request.quantity.toFixed(), reduceOnly }, false);
    case 'stop_limit':
      return algo('STOP', {
        triggerPrice: requirePrice('stopPrice'), price: requirePrice('limitPrice'), timeInForce: restingTif(), quantity: request.quantity.toFixed(), reduceOnly,
      }, false);
    case 'trailing_stop': {
      // Binance trails by a percentage only (callbackRate, 0.1 to 10), from the best price since it was placed.
      const rate = request.trailPercent;
      if (rate === undefined) throw new NotSupportedError(`${ctx.broker}: Binance trails by a percentage (callbackRate), not by an amount`, { broker: ctx.broker });
      if (rate.lt(MIN_CALLBACK_RATE) || rate.gt(MAX_CALLBACK_RATE)) {
        throw new InvalidOrderError(`${ctx.broker}: a trailing stop's percentage must be between 0.1 and 10, got ${rate.toFixed()}`, { broker: ctx.broker });
      }
      return algo('TRAILING_STOP_MARKET', { callbackRate: rate.toFixed(), quantity: request.quantity.toFixed(), reduceOnly }, false);
    }
  }
}

/**
 * The parameters to place an algo order again: `replacement` with the change applied (a stop's trigger from
 * `stopPrice`, a take-profit-market's from `limitPrice`), `original` as it was, to put back if the change is refused.
 * Everything else (side, position side, closePosition or quantity, working type, client id) stays.
 */
export function algoReplacement(wire: WireAlgoOrder, change: OrderChange, workingType: string): { original: Params; replacement: Params } {
  const withLimit = wire.orderType === 'STOP' || wire.orderType === 'TAKE_PROFIT';
  const trigger = wire.orderType === 'TAKE_PROFIT_MARKET' ? change.limitPrice ?? change.stopPrice : change.stopPrice;
  const base = {
    algoType: 'CONDITIONAL', symbol: wire.symbol, side: wire.side, positionSide: wire.positionSide, type: wire.orderType,
    timeInForce: withLimit ? wire.timeInForce : undefined,
    closePosition: wire.closePosition ? 'true' : undefined,
    quantity: wire.closePosition ? undefined : (change.quantity ?? wire.quantity)?.toFixed(),
    reduceOnly: !wire.closePosition && wire.reduceOnly ? 'true' : undefined,
    priceProtect: wire.closePosition ? 'TRUE' : undefined,
    workingType: wire.workingType ?? workingType,
    clientAlgoId: wire.clientAlgoId,
  };
  return {
    original: { ...base, triggerPrice: wire.triggerPrice?.toFixed(), price: withLimit ? wire.price?.toFixed() : undefined },
    replacement: { ...base, triggerPrice: (trigger ?? wire.triggerPrice)?.toFixed(), price: withLimit ? (change.limitPrice ?? wire.price)?.toFixed() : undefined },
  };
}

/**
 * The client id of the stand-in that rests while a protective algo order is re-placed: derived from the order's own,
 * so a stand-in left behind by an interrupted move is found (and replaced) by the next one. 30 characters, in
 * Binance's alphabet whatever the original's length.
 */
export function bridgeIdFor(clientAlgoId: string): string {
  return `tw-mv-${createHash('sha256').update(clientAlgoId).digest('hex').slice(0, 24)}`;
}

/**
 * The stand-in for a protective algo order being re-placed: the replacement's trigger, sized to what the order
 * protects, and reduce-only (in hedge mode its position side makes it closing), so it can never open or add to a
 * position. It can rest beside the original, which a second closePosition trigger in the same direction cannot (-4130).
 */
export function bridgeFor(replacement: Params, quantity: Decimal, hedge: boolean, clientAlgoId: string): Params {
  return {
    ...replacement,
    closePosition: undefined,
    quantity: quantity.toFixed(),
    reduceOnly: hedge ? undefined : 'true',
    clientAlgoId: bridgeIdFor(clientAlgoId),
  };
}
