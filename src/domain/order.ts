// Orders, fills, positions and balances as tradewire sees them, and the order state machine as one transition table.
import type { Decimal } from './money.ts';
import { InvariantError } from './errors.ts';

export type Side = 'buy' | 'sell';
export type PositionSide = 'long' | 'short';
export type OrderType = 'market' | 'limit' | 'stop' | 'stop_limit' | 'trailing_stop';
export type TimeInForce = 'day' | 'gtc' | 'ioc' | 'fok';
/** What an order is for: the entry, its protective legs, or a close. */
export type OrderLeg = 'entry' | 'stop' | 'target' | 'exit';

export type OrderStatus =
  | 'pending_submit' | 'submitted' | 'accepted' | 'held' | 'partially_filled' | 'pending_cancel'
  | 'unknown' | 'filled' | 'cancelled' | 'rejected' | 'expired' | 'replaced';

export const TERMINAL_STATUSES: ReadonlySet<OrderStatus> = new Set(['filled', 'cancelled', 'rejected', 'expired', 'replaced']);
export const LIVE_STATUSES: ReadonlySet<OrderStatus> = new Set(['submitted', 'accepted', 'held', 'partially_filled', 'pending_cancel', 'unknown']);

/**
 * Legal transitions. `replaced` is terminal for the old order (its amended successor carries on);
 * `unknown` follows a timeout and resolves to whatever a lookup by client id finds.
 */
const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending_submit: ['submitted', 'rejected', 'unknown', 'accepted', 'held', 'partially_filled', 'filled'],
  submitted: ['accepted', 'held', 'rejected', 'partially_filled', 'filled', 'pending_cancel', 'cancelled', 'expired', 'unknown', 'replaced'],
  held: ['accepted', 'partially_filled', 'filled', 'pending_cancel', 'cancelled', 'expired', 'replaced'],
  accepted: ['partially_filled', 'filled', 'pending_cancel', 'cancelled', 'expired', 'replaced'],
  partially_filled: ['partially_filled', 'filled', 'pending_cancel', 'cancelled', 'expired', 'replaced'],
  pending_cancel: ['cancelled', 'filled', 'partially_filled', 'expired', 'accepted'],
  unknown: ['submitted', 'accepted', 'held', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired', 'pending_submit'],
  filled: [],
  cancelled: [],
  rejected: [],
  expired: [],
  replaced: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Checks a transition; an illegal one is an InvariantError naming both states and the order. */
export function transition(from: OrderStatus, to: OrderStatus, orderLabel = 'order'): OrderStatus {
  if (!canTransition(from, to)) throw new InvariantError(`illegal order transition ${from} → ${to} for ${orderLabel}`);
  return to;
}

export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export function legalTransitions(): ReadonlyArray<[OrderStatus, OrderStatus]> {
  return (Object.keys(TRANSITIONS) as OrderStatus[]).flatMap((from) => TRANSITIONS[from].map((to) => [from, to] as [OrderStatus, OrderStatus]));
}

export const ALL_ORDER_STATUSES = Object.keys(TRANSITIONS) as OrderStatus[];

export interface OrderRequest {
  clientOrderId: string;      // required: deterministic, derived from the signal, account and leg
  symbol: string;
  side: Side;
  type: OrderType;
  quantity: Decimal;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  timeInForce?: TimeInForce | undefined;
  extendedHours?: boolean | undefined;
  reduceOnly?: boolean | undefined;
  leg?: OrderLeg | undefined;
  /** A target for part of the position (a scale-out level): it must close only its own quantity, never all that is held. */
  partialTarget?: boolean | undefined;
}

export interface ProtectionSpec {
  type: 'stop' | 'stop_limit' | 'trailing_stop' | 'limit';
  stopPrice?: Decimal | undefined;
  limitPrice?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  clientOrderId: string;
}

export interface BracketRequest {
  entry: OrderRequest;
  stopLoss?: ProtectionSpec | undefined;
  takeProfit?: ProtectionSpec | undefined;
}

export interface Order {
  id: string;                 // the broker's order id
  clientOrderId: string;
  symbol: string;
  side: Side;
  type: OrderType;
  status: OrderStatus;
  quantity: Decimal;
  filledQuantity: Decimal;
  averageFillPrice?: Decimal | undefined;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  timeInForce?: TimeInForce | undefined;
  createdAt: Date;
  updatedAt: Date;
  reason?: string | undefined;   // a rejection's or cancellation's reason
  parentId?: string | undefined; // a bracket leg's entry
  legs?: Order[] | undefined;    // a bracket entry's legs, where the venue holds them under it (Alpaca, asked for one order)
}

export interface BracketOrders {
  entry: Order;
  stopLoss?: Order | undefined;
  takeProfit?: Order | undefined;
}

export type OrderRef = { orderId: string; symbol?: string } | { clientOrderId: string; symbol?: string };

export interface OrderChange {
  quantity?: Decimal | undefined;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  /** The client id of the successor where the broker replaces rather than amends. */
  clientOrderId?: string | undefined;
}

/** A funding payment of a perpetual contract: positive when the account received it, negative when it paid. */
export interface FundingPayment {
  id: string;                 // the broker's transaction id
  symbol: string;
  amount: Decimal;
  asset: string;
  time: Date;
}

export interface Fill {
  id: string;                 // the broker's trade/execution id
  orderId: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  quantity: Decimal;
  price: Decimal;
  fee: Decimal;
  feeCurrency: string;
  liquidity?: 'maker' | 'taker' | undefined;
  time: Date;
}

/** A position as a broker reports it: signed by side, quantity always positive. */
export interface BrokerPosition {
  symbol: string;
  side: PositionSide;
  quantity: Decimal;
  averagePrice: Decimal;
  unrealizedPnl?: Decimal | undefined;
  markPrice?: Decimal | undefined;
}

export interface Balance {
  currency: string;
  total: Decimal;
  available: Decimal;
}

export interface AccountSummary {
  currency: string;
  equity: Decimal;
  cash: Decimal;
  buyingPower: Decimal;
}

export interface Quote {
  symbol: string;
  bid?: Decimal | undefined;
  ask?: Decimal | undefined;
  last: Decimal;
  time: Date;
}

export function sideForPosition(position: PositionSide, opening: boolean): Side {
  if (position === 'long') return opening ? 'buy' : 'sell';
  return opening ? 'sell' : 'buy';
}

export function oppositeSide(side: Side): Side {
  return side === 'buy' ? 'sell' : 'buy';
}
