// Kite orders, trades and GTT legs as tradewire's orders and fills: statuses, order types, sides, and GTT leg ids.
import { Decimal, ZERO } from '../../domain/money.ts';
import type { Order, OrderStatus, OrderType, Side, TimeInForce } from '../../domain/order.ts';
import { parseKiteTime } from './client.ts';
import type { WireGtt, WireOrder } from './wire.ts';

export const CLIENT_ID_MAX = 20;
export const CLIENT_ID_ALPHABET = 'A-Za-z0-9';

export function toSide(wire: 'BUY' | 'SELL'): Side {
  return wire === 'BUY' ? 'buy' : 'sell';
}

export function toWireSide(side: Side): 'BUY' | 'SELL' {
  return side === 'buy' ? 'BUY' : 'SELL';
}

const ORDER_TYPES: Readonly<Record<string, OrderType>> = { MARKET: 'market', LIMIT: 'limit', 'SL-M': 'stop', SL: 'stop_limit' };

export function toOrderType(wire: string): OrderType {
  return ORDER_TYPES[wire] ?? 'limit';
}

export function toWireOrderType(type: OrderType): 'MARKET' | 'LIMIT' | 'SL-M' | 'SL' | undefined {
  switch (type) {
    case 'market': return 'MARKET';
    case 'limit': return 'LIMIT';
    case 'stop': return 'SL-M';
    case 'stop_limit': return 'SL';
    default: return undefined;
  }
}

/** Kite's order statuses, the transient ones included (docs: orders, "Order statuses"). */
export function toOrderStatus(wire: string, filled: Decimal): OrderStatus {
  switch (wire.toUpperCase()) {
    case 'COMPLETE': return 'filled';
    case 'CANCELLED': return 'cancelled';
    case 'REJECTED': return 'rejected';
    case 'LAPSED': return 'expired';
    case 'CANCEL PENDING': return 'pending_cancel';
    case 'OPEN':
    case 'TRIGGER PENDING':
    case 'MODIFIED':
    case 'MODIFY PENDING':
    case 'MODIFY VALIDATION PENDING':
      return filled.gt(0) ? 'partially_filled' : 'accepted';
    default:
      // PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING, AMO REQ RECEIVED: Kite has it, the exchange not yet.
      return filled.gt(0) ? 'partially_filled' : 'submitted';
  }
}

function toTimeInForce(validity: string | undefined): TimeInForce | undefined {
  if (validity === 'DAY') return 'day';
  if (validity === 'IOC') return 'ioc';
  return undefined;
}

/** A regular order; `symbol` is already in tradewire's form. An order placed without a tag is named by its Kite id. */
export function fromWireOrder(wire: WireOrder, symbol: string, fallbackTime: Date): Order {
  const filled = wire.filled_quantity ?? ZERO;
  const status = toOrderStatus(wire.status, filled);
  const type = toOrderType(wire.order_type);
  const createdAt = parseKiteTime(wire.order_timestamp) ?? fallbackTime;
  return {
    id: wire.order_id,
    clientOrderId: wire.tag ?? `kite${wire.order_id}`,
    symbol,
    side: toSide(wire.transaction_type),
    type,
    status,
    quantity: wire.quantity,
    filledQuantity: filled,
    averageFillPrice: filled.gt(0) ? wire.average_price : undefined,
    limitPrice: type === 'limit' || type === 'stop_limit' ? positive(wire.price) : undefined,
    stopPrice: type === 'stop' || type === 'stop_limit' ? positive(wire.trigger_price) : undefined,
    timeInForce: toTimeInForce(wire.validity),
    createdAt,
    updatedAt: parseKiteTime(wire.exchange_update_timestamp) ?? parseKiteTime(wire.exchange_timestamp) ?? createdAt,
    reason: status === 'rejected' || status === 'cancelled' ? wire.status_message ?? undefined : undefined,
  };
}

function positive(value: Decimal | undefined): Decimal | undefined {
  return value !== undefined && value.gt(0) ? value : undefined;
}

// ---- GTT legs ----------------------------------------------------------------------------------------------------

/** The stop or the target of a GTT; one GTT holds one of them (single) or both (two-leg, OCO at Kite). */
export type LegRole = 'sl' | 'tp';

/** tradewire's id for one leg of a GTT: the trigger's id and the leg's role, readable after a restart. */
export function legId(triggerId: number, role: LegRole): string {
  return `gtt-${triggerId}-${role}`;
}

export function parseLegId(id: string): { triggerId: number; role: LegRole } | undefined {
  const match = /^gtt-(\d+)-(sl|tp)$/.exec(id);
  return match ? { triggerId: Number(match[1]), role: match[2] as LegRole } : undefined;
}

/**
 * Which leg of a GTT is the stop: an exit's stop lies on the losing side of the price it was set at (below it for a
 * sell, above it for a buy), its target on the other. Read from the trigger and the last price sent with it, so it
 * holds for a trigger tradewire placed before a restart.
 */
export function roleOf(side: 'BUY' | 'SELL', trigger: Decimal, lastPrice: Decimal | undefined, twoLegIndex: number | undefined): LegRole {
  // Two-leg triggers are ascending: a sell's stop is the lower, a buy's stop the upper.
  if (twoLegIndex !== undefined) return (twoLegIndex === 0) === (side === 'SELL') ? 'sl' : 'tp';
  if (lastPrice === undefined) return 'sl';
  return side === 'SELL' ? (trigger.lt(lastPrice) ? 'sl' : 'tp') : (trigger.gt(lastPrice) ? 'sl' : 'tp');
}

export interface GttLeg {
  role: LegRole;
  index: number;
  trigger: Decimal;
  price: Decimal;
  quantity: Decimal;
  side: 'BUY' | 'SELL';
  product: string;
  result: NonNullable<WireGtt['orders'][number]['result']> | undefined;
}

export function gttLegs(gtt: WireGtt): GttLeg[] {
  const twoLeg = gtt.type === 'two-leg';
  return gtt.orders.map((order, index) => {
    const trigger = gtt.condition.trigger_values[twoLeg ? index : 0] ?? ZERO;
    return {
      role: roleOf(order.transaction_type, trigger, gtt.condition.last_price, twoLeg ? index : undefined),
      index, trigger, price: order.price, quantity: order.quantity, side: order.transaction_type, product: order.product, result: order.result ?? undefined,
    };
  });
}

/** A GTT's status as the status of a leg it (still) holds, before any order the leg placed is consulted. */
export function gttLegStatus(gttStatus: string, leg: GttLeg | undefined): { status: OrderStatus; reason?: string | undefined; placedOrderId?: string | undefined } {
  if (!leg) return { status: 'cancelled', reason: 'removed from its GTT' };
  switch (gttStatus) {
    case 'active': return { status: 'accepted' };
    case 'triggered': {
      const result = leg.result?.order_result;
      // The other leg fired: Kite's one-cancels-other took this one down.
      if (!result) return { status: 'cancelled', reason: 'the other leg of its GTT triggered' };
      if (result.status !== 'success' || result.order_id === '') return { status: 'rejected', reason: result.rejection_reason ?? `GTT order ${result.status}` };
      return { status: 'accepted', placedOrderId: result.order_id };
    }
    case 'expired': return { status: 'expired', reason: 'the GTT expired' };
    case 'cancelled':
    case 'deleted': return { status: 'cancelled' };
    default: return { status: 'rejected', reason: `the GTT is ${gttStatus}` };
  }
}

export function gttLegType(role: LegRole, hasOwnLimit: boolean): OrderType {
  if (role === 'tp') return 'limit';
  return hasOwnLimit ? 'stop_limit' : 'stop';
}
