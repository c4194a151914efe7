// Binance USD-M orders ⇄ tradewire orders: statuses, types, sides, position sides and the algo-order id space.
import { ZERO } from '../../domain/money.ts';
import type { Decimal } from '../../domain/money.ts';
import type { Order, OrderStatus, OrderType, PositionSide, Side, TimeInForce } from '../../domain/order.ts';
import type { WireAlgoOrder, WireOrder } from './wire.ts';

/** Algo orders number their own ids; tradewire tells them apart from plain orders by this prefix. */
export const ALGO_PREFIX = 'algo-';

export function algoOrderId(algoId: string): string {
  return `${ALGO_PREFIX}${algoId}`;
}

export function isAlgoOrderId(orderId: string): boolean {
  return orderId.startsWith(ALGO_PREFIX);
}

export function algoIdOf(orderId: string): string {
  return orderId.slice(ALGO_PREFIX.length);
}

export const CLIENT_ID_ALPHABET = '.A-Z:/a-z0-9_-';
export const CLIENT_ID_MAX = 36;
export const CLIENT_ID_PATTERN = /^[.A-Z:/a-z0-9_-]{1,36}$/;

export const toWireSide = (side: Side): 'BUY' | 'SELL' => (side === 'buy' ? 'BUY' : 'SELL');
export const fromWireSide = (side: 'BUY' | 'SELL'): Side => (side === 'BUY' ? 'buy' : 'sell');

/** Binance spells the order's state its own way; `EXPIRED_IN_MATCH` is self-trade prevention expiring it. */
export function orderStatus(status: string): OrderStatus {
  switch (status) {
    case 'NEW': return 'accepted';
    case 'PARTIALLY_FILLED': return 'partially_filled';
    case 'FILLED': return 'filled';
    case 'CANCELED': return 'cancelled';
    case 'REJECTED': return 'rejected';
    case 'EXPIRED':
    case 'EXPIRED_IN_MATCH': return 'expired';
    default: return 'unknown';
  }
}

/** An algo order is live until it triggers; what happens after is the triggered order's story. */
export function algoStatus(status: string): OrderStatus {
  switch (status) {
    case 'NEW':
    case 'TRIGGERING': return 'accepted';
    case 'CANCELED': return 'cancelled';
    case 'EXPIRED': return 'expired';
    case 'REJECTED': return 'rejected';
    // TRIGGERED / FINISHED without a readable triggered order: it fired, the fill is not known here.
    default: return 'unknown';
  }
}

function orderType(type: string): OrderType {
  switch (type) {
    case 'MARKET': return 'market';
    case 'LIMIT': return 'limit';
    case 'STOP_MARKET': return 'stop';
    case 'STOP': return 'stop_limit';
    case 'TRAILING_STOP_MARKET': return 'trailing_stop';
    // A take-profit is tradewire's target: a limit at its price, sent as a trigger so it closes the position.
    case 'TAKE_PROFIT_MARKET':
    case 'TAKE_PROFIT': return 'limit';
    default: return 'market';
  }
}

function timeInForce(tif: string | undefined): TimeInForce | undefined {
  switch (tif) {
    case 'GTC': return 'gtc';
    case 'IOC': return 'ioc';
    case 'FOK': return 'fok';
    default: return undefined;
  }
}

export function toWireTimeInForce(tif: TimeInForce): 'GTC' | 'IOC' | 'FOK' | undefined {
  switch (tif) {
    case 'gtc': return 'GTC';
    case 'ioc': return 'IOC';
    case 'fok': return 'FOK';
    default: return undefined;
  }
}

const positive = (value: Decimal | undefined): Decimal | undefined => (value !== undefined && value.gt(0) ? value : undefined);

export function fromWireOrder(wire: WireOrder): Order {
  const type = orderType(wire.origType ?? wire.type);
  const filled = wire.executedQty;
  // avgPrice left some answers in 2026; cumQuote ÷ executedQty is the same figure where it is there.
  const average = positive(wire.avgPrice) ?? (wire.cumQuote && filled.gt(0) ? wire.cumQuote.div(filled) : undefined);
  return {
    id: wire.orderId,
    clientOrderId: wire.clientOrderId,
    symbol: wire.symbol,
    side: fromWireSide(wire.side),
    type,
    status: orderStatus(wire.status),
    quantity: wire.origQty,
    filledQuantity: filled,
    averageFillPrice: filled.gt(0) ? average : undefined,
    limitPrice: type === 'limit' || type === 'stop_limit' ? positive(wire.price) : undefined,
    stopPrice: positive(wire.stopPrice),
    timeInForce: timeInForce(wire.timeInForce),
    createdAt: new Date(wire.time ?? wire.updateTime),
    updatedAt: new Date(wire.updateTime),
  };
}

/**
 * An algo order as tradewire sees it. A closePosition order carries no quantity on the wire ("0"): it
 * closes whatever the position is when it fires, so the caller supplies the size it was placed for.
 * Once triggered, `triggered` (the plain order it became) supplies the status and the fill.
 */
export function fromWireAlgo(wire: WireAlgoOrder, options: { quantity?: Decimal | undefined; triggered?: Order | undefined } = {}): Order {
  const type = orderType(wire.orderType);
  const isTakeProfit = wire.orderType.startsWith('TAKE_PROFIT');
  const triggered = options.triggered;
  const quantity = positive(wire.quantity) ?? triggered?.quantity ?? options.quantity ?? positive(wire.actualQty) ?? ZERO;
  return {
    id: algoOrderId(wire.algoId),
    clientOrderId: wire.clientAlgoId,
    symbol: wire.symbol,
    side: fromWireSide(wire.side),
    type,
    status: triggered?.status ?? algoStatus(wire.algoStatus),
    quantity,
    filledQuantity: triggered?.filledQuantity ?? ZERO,
    averageFillPrice: triggered?.averageFillPrice,
    // A take-profit market order is tradewire's limit target: its trigger is the target's price.
    limitPrice: isTakeProfit ? (wire.orderType === 'TAKE_PROFIT' ? positive(wire.price) : positive(wire.triggerPrice)) : type === 'stop_limit' ? positive(wire.price) : undefined,
    stopPrice: isTakeProfit ? undefined : positive(wire.triggerPrice),
    timeInForce: timeInForce(wire.timeInForce),
    createdAt: new Date(wire.createTime),
    updatedAt: new Date(triggered ? Math.max(triggered.updatedAt.getTime(), wire.updateTime) : wire.updateTime),
  };
}

/**
 * The wire's positionSide. In one-way mode always BOTH. In hedge mode an opening order goes to its own side
 * (a buy opens LONG) and a reducing one to the side it closes (a sell reduces LONG).
 */
export function positionSideFor(side: Side, reducing: boolean, hedge: boolean): 'BOTH' | 'LONG' | 'SHORT' {
  if (!hedge) return 'BOTH';
  const long = reducing ? side === 'sell' : side === 'buy';
  return long ? 'LONG' : 'SHORT';
}

export function positionSideOf(amount: Decimal, wire: 'BOTH' | 'LONG' | 'SHORT'): PositionSide {
  if (wire === 'LONG') return 'long';
  if (wire === 'SHORT') return 'short';
  return amount.gte(0) ? 'long' : 'short';
}
