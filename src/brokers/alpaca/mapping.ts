// Alpaca wire ⇄ tradewire domain: order statuses, types and time in force, order bodies, positions.
import { Decimal, ZERO } from '../../domain/money.ts';
import type { Instrument } from '../../domain/instrument.ts';
import type { BrokerPosition, Order, OrderRequest, OrderStatus, OrderType, ProtectionSpec, Side, TimeInForce } from '../../domain/order.ts';
import { InvalidSymbolError, InvariantError, NotSupportedError } from '../../domain/errors.ts';
import { splitPair, toTradewireSymbol } from './symbols.ts';
import type { WireAsset, WireOrder, WirePosition } from './wire.ts';

/** Alpaca's order statuses (its OrderStatus enum) onto the state machine's. */
const STATUS: Readonly<Record<string, OrderStatus>> = {
  new: 'accepted',
  accepted: 'accepted',
  pending_new: 'submitted',
  accepted_for_bidding: 'accepted',
  calculated: 'accepted',
  stopped: 'accepted',
  suspended: 'accepted',
  // A day order done for the day rests no more today but is not yet expired: still live as far as tradewire knows.
  done_for_day: 'accepted',
  pending_replace: 'accepted',
  held: 'held',
  partially_filled: 'partially_filled',
  filled: 'filled',
  pending_cancel: 'pending_cancel',
  canceled: 'cancelled',
  expired: 'expired',
  replaced: 'replaced',
  rejected: 'rejected',
};

const TYPES: ReadonlySet<string> = new Set(['market', 'limit', 'stop', 'stop_limit', 'trailing_stop']);
const TIFS: ReadonlySet<string> = new Set(['day', 'gtc', 'ioc', 'fok']);

export function toStatus(status: string): OrderStatus {
  const mapped = STATUS[status];
  if (!mapped) throw new InvariantError(`alpaca: unknown order status '${status}'`);
  return mapped;
}

/** One wire order as tradewire sees it; `clientOrderId` overrides Alpaca's where tradewire knows the order by another id (a bracket leg). */
export function toOrder(wire: WireOrder, clientOrderId = wire.client_order_id, parentId?: string): Order {
  if (!TYPES.has(wire.type)) throw new InvariantError(`alpaca: unknown order type '${wire.type}' on ${wire.id}`);
  if (wire.side !== 'buy' && wire.side !== 'sell') throw new InvariantError(`alpaca: unknown side '${wire.side}' on ${wire.id}`);
  return {
    id: wire.id,
    clientOrderId,
    symbol: toTradewireSymbol(wire.symbol),
    side: wire.side,
    type: wire.type as OrderType,
    status: toStatus(wire.status),
    quantity: wire.qty ?? ZERO,
    filledQuantity: wire.filled_qty,
    averageFillPrice: wire.filled_avg_price,
    limitPrice: wire.limit_price,
    stopPrice: wire.stop_price,
    timeInForce: TIFS.has(wire.time_in_force) ? wire.time_in_force as TimeInForce : undefined,
    createdAt: wire.created_at,
    updatedAt: wire.updated_at ?? wire.created_at,
    parentId,
    legs: wire.legs && wire.legs.length > 0 ? wire.legs.map((leg) => toOrder(leg, leg.client_order_id, wire.id)) : undefined,
  };
}

/** The order and its legs, flattened: a bracket's legs carry their entry's id as parentId. */
export function flatten(wire: WireOrder): Array<{ wire: WireOrder; parentId?: string }> {
  return [{ wire }, ...(wire.legs ?? []).map((leg) => ({ wire: leg, parentId: wire.id }))];
}

export interface OrderBody {
  symbol: string;
  qty: string;
  side: Side;
  type: OrderType;
  time_in_force: TimeInForce;
  client_order_id: string;
  limit_price?: string | undefined;
  stop_price?: string | undefined;
  trail_price?: string | undefined;
  trail_percent?: string | undefined;
  extended_hours?: boolean | undefined;
  order_class?: 'bracket' | 'oto' | undefined;
  take_profit?: { limit_price: string } | undefined;
  stop_loss?: { stop_price: string; limit_price?: string | undefined } | undefined;
}

const text = (value: Decimal | undefined): string | undefined => value?.toFixed();

/** A simple order's JSON body (reduce-only has no Alpaca field: Alpaca refuses a sell beyond the shares held instead). */
export function orderBody(request: OrderRequest, wireSymbol: string, timeInForce: TimeInForce): OrderBody {
  return {
    symbol: wireSymbol,
    qty: request.quantity.toFixed(),
    side: request.side,
    type: request.type,
    time_in_force: timeInForce,
    client_order_id: request.clientOrderId,
    limit_price: text(request.limitPrice),
    stop_price: text(request.stopPrice),
    trail_price: text(request.trailAmount),
    trail_percent: text(request.trailPercent),
    extended_hours: request.extendedHours === true ? true : undefined,
  };
}

/**
 * The legs of a native bracket: `bracket` with both, `oto` (one-triggers-other) with one. The stop is a
 * stop, or a stop-limit when it carries a limit; Alpaca has no trailing stop inside a bracket.
 */
export function bracketLegs(takeProfit: ProtectionSpec | undefined, stopLoss: ProtectionSpec | undefined): Pick<OrderBody, 'order_class' | 'take_profit' | 'stop_loss'> {
  if (takeProfit && (takeProfit.type !== 'limit' || !takeProfit.limitPrice)) throw new NotSupportedError('alpaca: a bracket take-profit is a limit with a price', { broker: 'alpaca' });
  if (stopLoss && ((stopLoss.type !== 'stop' && stopLoss.type !== 'stop_limit') || !stopLoss.stopPrice)) {
    throw new NotSupportedError(`alpaca: a bracket stop-loss is a stop or a stop-limit with a stop price, not a ${stopLoss.type}`, { broker: 'alpaca' });
  }
  return {
    order_class: takeProfit && stopLoss ? 'bracket' : 'oto',
    take_profit: takeProfit?.limitPrice && { limit_price: takeProfit.limitPrice.toFixed() },
    stop_loss: stopLoss?.stopPrice && { stop_price: stopLoss.stopPrice.toFixed(), limit_price: stopLoss.type === 'stop_limit' ? text(stopLoss.limitPrice) : undefined },
  };
}

export function toPosition(wire: WirePosition): BrokerPosition {
  return {
    symbol: toTradewireSymbol(wire.symbol),
    side: wire.side,
    // Alpaca signs a short's qty ('-2'); tradewire's quantity is always positive, the side says which way.
    quantity: wire.qty.abs(),
    averagePrice: wire.avg_entry_price,
    markPrice: wire.current_price,
    unrealizedPnl: wire.unrealized_pl,
  };
}

/** Instrument rules from an asset: crypto's own increments; stocks in whole shares at a cent. */
export function toInstrument(symbol: string, asset: WireAsset): Instrument {
  if (asset.class === 'crypto') {
    const step = asset.min_trade_increment ?? new Decimal('0.000000001');
    return {
      symbol,
      assetClass: 'crypto',
      tickSize: asset.price_increment ?? new Decimal('0.01'),
      stepSize: step,
      minQuantity: asset.min_order_size ?? step,
      minNotional: ZERO,
      shortable: false,
      fractionable: true,
      quoteCurrency: splitPair(asset.symbol)?.quote ?? 'USD',
    };
  }
  if (asset.class !== 'us_equity') throw new InvalidSymbolError(`alpaca: ${asset.symbol} is a ${asset.class} asset, which tradewire does not trade`, { broker: 'alpaca' });
  // Whole shares: a bracket (native protection) cannot carry a fractional quantity.
  return {
    symbol,
    assetClass: 'equity',
    tickSize: new Decimal('0.01'),
    stepSize: new Decimal(1),
    minQuantity: new Decimal(1),
    minNotional: ZERO,
    shortable: asset.shortable === true,
    fractionable: asset.fractionable === true,
    quoteCurrency: 'USD',
  };
}
