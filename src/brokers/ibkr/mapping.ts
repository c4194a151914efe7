// Orders between tradewire's domain and the Client Portal wire: request bodies out, order status and lists in.
import { Decimal, ZERO } from '../../domain/money.ts';
import { InvalidOrderError, NotSupportedError } from '../../domain/errors.ts';
import type { Order, OrderRequest, OrderStatus, OrderType, ProtectionSpec, Side, TimeInForce } from '../../domain/order.ts';
import { BROKER } from './errors.ts';
import type { WireLiveOrder, WireOrderStatus } from './wire.ts';

/** One order of a `POST /iserver/account/{acct}/orders` body (brokers.md §5.4). */
export interface WireOrderRequest {
  acctId: string;
  conid: number;
  secType: string;
  cOID?: string | undefined;
  parentId?: string | undefined;
  orderType: 'MKT' | 'LMT' | 'STP' | 'STOP_LIMIT';
  price?: number | undefined;
  auxPrice?: number | undefined;
  side: 'BUY' | 'SELL';
  tif: 'DAY' | 'GTC' | 'IOC';
  quantity: number;
  outsideRTH?: boolean | undefined;
}

const TIF: Readonly<Record<TimeInForce, WireOrderRequest['tif'] | undefined>> = { day: 'DAY', gtc: 'GTC', ioc: 'IOC', fok: undefined };

/**
 * The gateway takes prices and quantities as JSON numbers. A decimal goes out only when the number's text is the decimal's
 * own (up to 15 significant digits), so what IBKR reads is exactly what tradewire decided; anything else is refused.
 */
export function wireNumber(value: Decimal, what: string): number {
  const n = Number(value.toFixed());
  if (!Number.isFinite(n) || !new Decimal(String(n)).eq(value)) {
    throw new InvalidOrderError(`ibkr: ${what} ${value.toFixed()} cannot be sent exactly as a JSON number`, { broker: BROKER });
  }
  return n;
}

/** Prices by type: a stop's trigger goes in `price` for STP, in `auxPrice` for STOP_LIMIT, whose `price` is the limit. */
function prices(type: OrderType, limitPrice: Decimal | undefined, stopPrice: Decimal | undefined): Pick<WireOrderRequest, 'orderType' | 'price' | 'auxPrice'> {
  const need = (value: Decimal | undefined, what: string): number => {
    if (value === undefined) throw new InvalidOrderError(`ibkr: a ${type} order needs a ${what}`, { broker: BROKER });
    return wireNumber(value, what);
  };
  switch (type) {
    case 'market': return { orderType: 'MKT' };
    case 'limit': return { orderType: 'LMT', price: need(limitPrice, 'limit price') };
    case 'stop': return { orderType: 'STP', price: need(stopPrice, 'stop price') };
    case 'stop_limit': return { orderType: 'STOP_LIMIT', price: need(limitPrice, 'limit price'), auxPrice: need(stopPrice, 'stop price') };
    case 'trailing_stop': throw new NotSupportedError('ibkr: trailing stops are not sent to IBKR by tradewire yet; the position manager trails instead', { broker: BROKER });
  }
}

export function wireTif(tif: TimeInForce): WireOrderRequest['tif'] {
  const wire = TIF[tif];
  if (wire === undefined) throw new NotSupportedError(`ibkr: time in force ${tif} is not offered through the Client Portal API`, { broker: BROKER });
  return wire;
}

export function orderBody(request: OrderRequest, account: string, conid: number, timeInForce: TimeInForce): WireOrderRequest {
  return {
    acctId: account,
    conid,
    secType: `${conid}:STK`,
    cOID: request.clientOrderId,
    ...prices(request.type, request.limitPrice, request.stopPrice),
    side: request.side === 'buy' ? 'BUY' : 'SELL',
    tif: wireTif(timeInForce),
    quantity: wireNumber(request.quantity, 'quantity'),
    outsideRTH: request.extendedHours === true ? true : undefined,
  };
}

/** A bracket child: no cOID of its own (IBKR: children carry `parentId` = the parent's cOID), the exit side of the entry. */
export function legBody(leg: ProtectionSpec, entry: OrderRequest, account: string, conid: number, timeInForce: TimeInForce): WireOrderRequest {
  const type: OrderType = leg.type;
  return {
    acctId: account,
    conid,
    secType: `${conid}:STK`,
    parentId: entry.clientOrderId,
    ...prices(type, leg.limitPrice, leg.stopPrice),
    side: entry.side === 'buy' ? 'SELL' : 'BUY',
    tif: wireTif(timeInForce),
    quantity: wireNumber(entry.quantity, 'quantity'),
  };
}

/** IBKR spells order types differently per endpoint: 'LMT', 'LIMIT', 'Limit', 'STP LMT', 'Stop Limit'. */
export function orderTypeOf(wire: string): OrderType {
  const key = wire.toUpperCase().replace(/[\s_]/g, '');
  if (key === 'MKT' || key === 'MARKET') return 'market';
  if (key === 'LMT' || key === 'LIMIT') return 'limit';
  if (key === 'STP' || key === 'STOP') return 'stop';
  if (key === 'STOPLIMIT' || key === 'STPLMT') return 'stop_limit';
  if (key.startsWith('TRAIL')) return 'trailing_stop';
  return 'limit';
}

/** IBKR's order statuses (brokers.md §5.5); a live order with a fill is partially filled. */
export function statusOf(wire: string, filled: Decimal, quantity: Decimal): OrderStatus {
  switch (wire.toLowerCase()) {
    case 'pendingsubmit': return 'submitted';
    case 'presubmitted':
    case 'submitted': return filled.gt(0) && filled.lt(quantity) ? 'partially_filled' : 'accepted';
    case 'filled': return 'filled';
    case 'pendingcancel': return 'pending_cancel';
    case 'cancelled':
    case 'apicancelled': return 'cancelled';
    case 'inactive': return 'rejected';
    default: return 'unknown';
  }
}

export function sideOf(wire: string): Side {
  return wire === 'S' || wire === 'SELL' ? 'sell' : 'buy';
}

function tifOf(wire: string | undefined): TimeInForce | undefined {
  const tif = wire?.toLowerCase();
  return tif === 'day' || tif === 'gtc' || tif === 'ioc' ? tif : undefined;
}

export interface Naming {
  clientOrderId: string;
  symbol: string;
  parentId?: string | undefined;
}

export function fromStatus(wire: WireOrderStatus, naming: Naming, now: Date): Order {
  const filled = wire.cum_fill ?? ZERO;
  return {
    id: wire.order_id,
    clientOrderId: naming.clientOrderId,
    symbol: naming.symbol,
    side: sideOf(wire.side),
    type: orderTypeOf(wire.order_type),
    status: statusOf(wire.order_status, filled, wire.total_size),
    quantity: wire.total_size,
    filledQuantity: filled,
    averageFillPrice: filled.gt(0) ? wire.average_price : undefined,
    limitPrice: wire.limit_price,
    stopPrice: wire.stop_price,
    timeInForce: tifOf(wire.tif),
    createdAt: now,
    updatedAt: now,
    parentId: naming.parentId,
  };
}

export function fromLive(wire: WireLiveOrder, naming: Naming, now: Date): Order {
  const type = orderTypeOf(wire.orderType);
  const filled = wire.filledQuantity ?? ZERO;
  // The list puts a stop's trigger in auxPrice and a limit in price (a STP's own `price` on the request side).
  const limitPrice = type === 'limit' || type === 'stop_limit' ? wire.price : undefined;
  const stopPrice = type === 'stop' ? wire.auxPrice ?? wire.price : type === 'stop_limit' ? wire.auxPrice : undefined;
  const updated = wire.lastExecutionTime_r === undefined ? now : new Date(wire.lastExecutionTime_r);
  return {
    id: wire.orderId,
    clientOrderId: naming.clientOrderId,
    symbol: naming.symbol,
    side: sideOf(wire.side),
    type,
    status: statusOf(wire.status, filled, wire.totalSize),
    quantity: wire.totalSize,
    filledQuantity: filled,
    averageFillPrice: filled.gt(0) ? wire.avgPrice : undefined,
    limitPrice,
    stopPrice,
    timeInForce: tifOf(wire.timeInForce),
    createdAt: updated,
    updatedAt: updated,
    parentId: naming.parentId,
  };
}
