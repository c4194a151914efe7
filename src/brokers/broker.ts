// The broker adapter interface: adapters translate between tradewire's domain and a venue's wire; they never decide.
import type { Instrument } from '../domain/instrument.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, FundingPayment, Order, OrderChange, OrderRef,
  OrderRequest, OrderType, Quote, TimeInForce,
} from '../domain/order.ts';
import type { Decimal } from '../domain/money.ts';
import type { OrderStream, OrderStreamOptions } from './order-stream.ts';

/**
 * How a position gets its stop and target at this broker:
 * `native` one bracket order; `attached` a bracket attached to the entry (Coinbase);
 * `after_fill` protective orders placed by tradewire once the entry fills, one-cancels-other by tradewire;
 * `emulated` no resting order, the position manager watches the price.
 */
export type Protection = 'native' | 'attached' | 'after_fill' | 'emulated';

export interface Capabilities {
  protectionFor(instrument: Instrument): Protection;
  orderTypes: readonly OrderType[];
  shorting: boolean;
  fractional: boolean;
  timeInForce: readonly TimeInForce[];
  extendedHours: boolean;
  clientIdMaxLength: number;
  /** Characters a client order id may use, as a RegExp character class body ('A-Za-z0-9_-'). */
  clientIdAlphabet: string;
  marginPreview: boolean;
  /** Modify in place (true) or cancel-and-replace by tradewire (false). */
  amend: boolean;
  /** How a resting trailing stop may trail; absent: by a percentage and by an amount. */
  trailBy?: ReadonlyArray<'percent' | 'amount'> | undefined;
}

export interface BrokerHealth {
  ok: boolean;
  latencyMs?: number | undefined;
  detail?: string | undefined;
}

export interface MarginImpact {
  initialMargin: Decimal;
  leverage: Decimal;
  availableMargin: Decimal;
}

export interface Broker {
  readonly name: string;
  readonly capabilities: Capabilities;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  health(): Promise<BrokerHealth>;
  account(): Promise<AccountSummary>;
  balances(): Promise<Balance[]>;
  instrument(symbol: string): Promise<Instrument>;
  quotes(symbols: string[]): Promise<Map<string, Quote>>;
  placeOrder(request: OrderRequest): Promise<Order>;
  placeBracket(request: BracketRequest): Promise<BracketOrders>;
  modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order>;
  cancelOrder(ref: OrderRef): Promise<void>;
  getOrder(ref: OrderRef): Promise<Order | undefined>;
  openOrders(symbol?: string): Promise<Order[]>;
  /**
   * Fills since a time (or all), for reconciling and for recording fees. `of` narrows them to one order where the venue
   * can (the paper ledger reads them by index); an adapter may ignore it, so callers still match each fill to its order.
   */
  fills(since?: Date, of?: { clientOrderId: string; orderId?: string | undefined }): Promise<Fill[]>;
  positions(): Promise<BrokerPosition[]>;
  closePosition(symbol: string, clientOrderId: string): Promise<Order>;
  marginImpact?(request: OrderRequest): Promise<MarginImpact>;
  /** Funding payments since a time (perpetual futures): booked into the positions' fees. */
  fundingPayments?(since?: Date): Promise<FundingPayment[]>;
  /**
   * The venue's live order events (a WebSocket), where it has them; polling stays the fallback. A new stream per
   * call; undefined when this configuration names no stream host (a REST base overridden without a stream URL).
   */
  orderStream?(options: OrderStreamOptions): OrderStream | undefined;
}

/** A simulated broker takes its prices from tradewire (alert prices, the position loop, the admin API). */
export interface PriceSink {
  updatePrices(prices: ReadonlyMap<string, Decimal>): Promise<unknown>;
}

export function acceptsPrices(broker: Broker): broker is Broker & PriceSink {
  return typeof (broker as Partial<PriceSink>).updatePrices === 'function';
}
