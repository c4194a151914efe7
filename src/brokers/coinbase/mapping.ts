// Coinbase wire ↔ tradewire domain: order configurations out, orders, bracket legs, fills and instruments in.
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO, roundToTickDirected } from '../../domain/money.ts';
import type { Fill, Order, OrderRequest, OrderStatus, OrderType, ProtectionSpec, TimeInForce } from '../../domain/order.ts';
import { InvalidOrderError, NotSupportedError } from '../../domain/errors.ts';
import { fromProductId, currenciesOf } from './symbols.ts';
import type { WireFill, WireOrder, WireOrderConfiguration, WireProduct } from './wire.ts';

const BROKER = 'coinbase';

/** A bracket leg's broker order id: the one Coinbase order holding both exits, and which exit tradewire means. */
export type LegKind = 'stop' | 'target';
const LEG_SEPARATOR = '#';

export function legOrderId(bracketId: string, leg: LegKind): string {
  return `${bracketId}${LEG_SEPARATOR}${leg}`;
}

export function parseLegOrderId(id: string): { bracketId: string; leg: LegKind } | undefined {
  const at = id.lastIndexOf(LEG_SEPARATOR);
  if (at < 0) return undefined;
  const leg = id.slice(at + 1);
  return leg === 'stop' || leg === 'target' ? { bracketId: id.slice(0, at), leg } : undefined;
}

export function toInstrument(symbol: string, product: WireProduct): Instrument {
  const minNotional = Decimal.max(product.quote_min_size ?? ZERO, product.min_market_funds ?? ZERO);
  return {
    symbol,
    assetClass: 'crypto',
    tickSize: product.price_increment ?? product.quote_increment,
    stepSize: product.base_increment,
    minQuantity: product.base_min_size,
    minNotional,
    maxQuantity: product.base_max_size?.gt(0) ? product.base_max_size : undefined,
    shortable: false,
    fractionable: true,
    quoteCurrency: product.quote_currency_id ?? currenciesOf(product.product_id).quote,
  };
}

/**
 * The one `order_configuration` key an order goes out as. Coinbase spot has no stop-market order: a stop becomes a
 * stop-limit whose limit sits `stopBand` beyond the stop (rounded away from the market on the tick), so it fills
 * in a fast market up to that far through the stop and no further.
 */
export function orderConfiguration(request: OrderRequest, instrument: Instrument, stopBand: Decimal): WireOrderConfigurationOut {
  const base_size = request.quantity.toFixed();
  const tif: TimeInForce = request.timeInForce ?? 'gtc';
  const price = (value: Decimal | undefined, name: string): string => {
    if (value === undefined) throw new InvalidOrderError(`coinbase: a ${request.type} order needs a ${name}`, { broker: BROKER });
    return value.toFixed();
  };
  switch (request.type) {
    case 'market':
      // Every market order is immediate-or-cancel at Coinbase: a time in force asked for does not apply.
      return { market_market_ioc: { base_size } };
    case 'limit':
      if (tif === 'ioc') return { sor_limit_ioc: { base_size, limit_price: price(request.limitPrice, 'limit price') } };
      if (tif === 'fok') return { limit_limit_fok: { base_size, limit_price: price(request.limitPrice, 'limit price') } };
      if (tif === 'day') throw new NotSupportedError('coinbase: limit orders are gtc, ioc or fok (no day orders: crypto trades around the clock)', { broker: BROKER });
      return { limit_limit_gtc: { base_size, limit_price: price(request.limitPrice, 'limit price'), post_only: false } };
    case 'stop':
    case 'stop_limit': {
      if (tif !== 'gtc') throw new NotSupportedError(`coinbase: stop orders are gtc only, not ${tif}`, { broker: BROKER });
      const stop = new Decimal(price(request.stopPrice, 'stop price'));
      const limit = request.type === 'stop_limit'
        ? new Decimal(price(request.limitPrice, 'limit price'))
        : roundToTickDirected(request.side === 'buy' ? stop.mul(Decimal.add(1, stopBand)) : stop.mul(Decimal.sub(1, stopBand)), instrument.tickSize, request.side === 'buy' ? 'up' : 'down');
      return {
        stop_limit_stop_limit_gtc: {
          base_size, limit_price: limit.toFixed(), stop_price: stop.toFixed(),
          // A buy stop waits for the price to rise to it, a sell stop for it to fall.
          stop_direction: request.side === 'buy' ? 'STOP_DIRECTION_STOP_UP' : 'STOP_DIRECTION_STOP_DOWN',
        },
      };
    }
    case 'trailing_stop':
      throw new NotSupportedError('coinbase: there is no trailing stop order on Coinbase spot', { broker: BROKER });
  }
}

export type WireOrderConfigurationOut = Record<string, Record<string, string | boolean>>;

/** The attached bracket: target limit and stop trigger, no size (Coinbase takes the entry's). */
export function attachedBracket(stopLoss: ProtectionSpec, takeProfit: ProtectionSpec): WireOrderConfigurationOut {
  if (stopLoss.type !== 'stop' && stopLoss.type !== 'stop_limit') {
    throw new NotSupportedError(`coinbase: a bracket's stop is a stop price (stop_trigger_price), not a ${stopLoss.type}`, { broker: BROKER });
  }
  if (takeProfit.type !== 'limit') throw new NotSupportedError(`coinbase: a bracket's target is a limit price, not a ${takeProfit.type}`, { broker: BROKER });
  if (!stopLoss.stopPrice || !takeProfit.limitPrice) throw new InvalidOrderError('coinbase: a bracket needs a stop price and a target limit price', { broker: BROKER });
  return { trigger_bracket_gtc: { limit_price: takeProfit.limitPrice.toFixed(), stop_trigger_price: stopLoss.stopPrice.toFixed() } };
}

const STATUS: Readonly<Record<string, OrderStatus>> = {
  PENDING: 'submitted',
  QUEUED: 'submitted',
  OPEN: 'accepted',
  FILLED: 'filled',
  CANCELLED: 'cancelled',
  CANCEL_QUEUED: 'pending_cancel',
  EXPIRED: 'expired',
  FAILED: 'rejected',
  UNKNOWN_ORDER_STATUS: 'unknown',
};

function statusOf(wire: WireOrder): OrderStatus {
  const status = STATUS[wire.status] ?? 'unknown';
  const filled = wire.filled_size ?? ZERO;
  if (status === 'accepted' && filled.gt(0)) return 'partially_filled';
  return status;
}

interface Shape { type: OrderType; quantity: Decimal; limitPrice?: Decimal | undefined; stopPrice?: Decimal | undefined; timeInForce: TimeInForce }

function shapeOf(config: WireOrderConfiguration, filled: Decimal): Shape {
  if (config.market_market_ioc) return { type: 'market', quantity: config.market_market_ioc.base_size ?? filled, timeInForce: 'ioc' };
  if (config.limit_limit_gtc) return { type: 'limit', quantity: config.limit_limit_gtc.base_size ?? filled, limitPrice: config.limit_limit_gtc.limit_price, timeInForce: 'gtc' };
  if (config.sor_limit_ioc) return { type: 'limit', quantity: config.sor_limit_ioc.base_size ?? filled, limitPrice: config.sor_limit_ioc.limit_price, timeInForce: 'ioc' };
  if (config.limit_limit_fok) return { type: 'limit', quantity: config.limit_limit_fok.base_size ?? filled, limitPrice: config.limit_limit_fok.limit_price, timeInForce: 'fok' };
  const stop = config.stop_limit_stop_limit_gtc;
  if (stop) return { type: 'stop_limit', quantity: stop.base_size ?? filled, limitPrice: stop.limit_price, stopPrice: stop.stop_price, timeInForce: 'gtc' };
  const bracket = config.trigger_bracket_gtc;
  if (bracket) return { type: 'limit', quantity: bracket.base_size ?? filled, limitPrice: bracket.limit_price, stopPrice: bracket.stop_trigger_price, timeInForce: 'gtc' };
  return { type: 'market', quantity: filled, timeInForce: 'gtc' };
}

function reasonOf(wire: WireOrder): string | undefined {
  const text = [wire.reject_message, wire.cancel_message].find((m) => m !== undefined && m !== '');
  if (text) return text;
  if (wire.reject_reason && wire.reject_reason !== 'REJECT_REASON_UNSPECIFIED') return wire.reject_reason;
  return undefined;
}

/** A plain Coinbase order as a tradewire order, under the client id tradewire knows it by. */
export function toOrder(wire: WireOrder, clientOrderId = wire.client_order_id): Order {
  const filled = wire.filled_size ?? ZERO;
  const shape = shapeOf(wire.order_configuration, filled);
  return {
    id: wire.order_id,
    clientOrderId,
    symbol: fromProductId(wire.product_id),
    side: wire.side === 'BUY' ? 'buy' : 'sell',
    type: shape.type,
    status: statusOf(wire),
    quantity: shape.quantity,
    filledQuantity: filled,
    averageFillPrice: filled.gt(0) ? wire.average_filled_price : undefined,
    limitPrice: shape.limitPrice,
    stopPrice: shape.stopPrice,
    timeInForce: shape.timeInForce,
    createdAt: wire.created_time,
    updatedAt: wire.last_fill_time ?? wire.created_time,
    reason: reasonOf(wire),
  };
}

/** Which exit of a bracket order has fired: the stop once Coinbase says it triggered, else the target. */
export function firedLeg(wire: WireOrder): LegKind {
  return wire.trigger_status === 'STOP_TRIGGERED' ? 'stop' : 'target';
}

/**
 * One exit of a Coinbase bracket (one order holding a target limit and a stop trigger) as the tradewire leg it
 * stands for. While the entry has not filled Coinbase keeps the bracket PENDING: both legs are `held`. Open, both
 * rest (`accepted`). Once it fills, the exit that fired is `filled` and the other `cancelled`: Coinbase's own
 * one-cancels-other. `quantity` is the entry's size when the bracket was attached without one.
 */
export function toLeg(wire: WireOrder, leg: LegKind, clientOrderId: string, quantity?: Decimal, parentId?: string): Order {
  const base = toOrder(wire, clientOrderId);
  const bracket = wire.order_configuration.trigger_bracket_gtc ?? wire.attached_order_configuration?.trigger_bracket_gtc;
  const fired = firedLeg(wire);
  const filled = wire.filled_size ?? ZERO;
  const mine = fired === leg;
  let status: OrderStatus;
  switch (wire.status) {
    case 'PENDING':
    case 'QUEUED':
      status = 'held';
      break;
    case 'OPEN':
      // A stop that triggered no longer waits as a target; a target filling in part leaves the stop resting.
      status = mine && filled.gt(0) ? 'partially_filled' : !mine && fired === 'stop' ? 'cancelled' : 'accepted';
      break;
    case 'FILLED':
      status = mine ? 'filled' : 'cancelled';
      break;
    default:
      status = base.status;
  }
  return {
    ...base,
    id: legOrderId(wire.order_id, leg),
    type: leg === 'stop' ? 'stop' : 'limit',
    status,
    quantity: bracket?.base_size ?? quantity ?? base.quantity,
    filledQuantity: mine ? filled : ZERO,
    averageFillPrice: mine && filled.gt(0) ? wire.average_filled_price : undefined,
    limitPrice: leg === 'target' ? bracket?.limit_price : undefined,
    stopPrice: leg === 'stop' ? bracket?.stop_trigger_price : undefined,
    timeInForce: 'gtc',
    parentId: parentId ?? (wire.originating_order_id || undefined),
  };
}

export function toFill(wire: WireFill, orderId: string, clientOrderId: string): Fill {
  const { quote } = currenciesOf(wire.product_id);
  return {
    id: wire.entry_id,
    orderId,
    clientOrderId,
    symbol: fromProductId(wire.product_id),
    side: wire.side === 'BUY' ? 'buy' : 'sell',
    quantity: wire.size_in_quote === true ? wire.size.div(wire.price) : wire.size,
    price: wire.price,
    fee: wire.commission ?? ZERO,
    feeCurrency: quote,
    liquidity: wire.liquidity_indicator === 'MAKER' ? 'maker' : wire.liquidity_indicator === 'TAKER' ? 'taker' : undefined,
    time: wire.trade_time,
  };
}
