// What a broker's order stream tells tradewire: typed order and position events, and when to resync by REST.
import type { Decimal } from '../domain/money.ts';
import type { OrderStatus } from '../domain/order.ts';
import type { Logger } from '../ops/logger.ts';
import type { Backoff } from './stream-socket.ts';

/** One order changed at the venue (accepted, filled in part or in whole, cancelled, expired, rejected, replaced). */
export interface OrderUpdate {
  kind: 'order';
  /** The client id tradewire journalled the order under (its own name for a bracket leg, not the venue's). */
  clientOrderId: string;
  /** The venue's id (Binance algo orders: `algo-<algoId>`, as the adapter names them). */
  orderId: string;
  symbol: string;
  status: OrderStatus;
  /** Filled so far (cumulative); for a Binance algo order that has fired, what its triggered order executed. */
  filledQuantity: Decimal;
  /** The venue's own name of the event ('fill', 'ORDER_TRADE_UPDATE/TRADE', 'ALGO_UPDATE/FINISHED'...), for the logs. */
  event: string;
  at: Date;
}

/** A position changed at the venue (Binance ACCOUNT_UPDATE): an order fill, or something tradewire did not send (ADL, a liquidation). */
export interface PositionUpdate {
  kind: 'position';
  symbol: string;
  /** Signed: negative is short. */
  quantity: Decimal;
  /** The venue's reason ('ORDER', 'ADL', 'FUNDING_FEE'...). */
  reason: string;
  at: Date;
}

export type StreamEvent = OrderUpdate | PositionUpdate;

export interface OrderStreamHandlers {
  onEvent(event: StreamEvent): void;
  /**
   * Connected and subscribed (the first time or again). What happened while disconnected is not replayed by any
   * venue: the caller reads it by REST now.
   */
  onConnected(): void;
}

/** A venue's live order events. Optional on a broker: polling works without it; the stream only makes things happen sooner. */
export interface OrderStream {
  start(handlers: OrderStreamHandlers): void;
  /** Closes the stream (and gives back what it holds at the venue, e.g. a listenKey); no event after it resolves. */
  stop(): Promise<void>;
}

/** How the caller wants the stream run: its logger, and the reconnect and watchdog timings (tests shorten them). */
export interface OrderStreamOptions {
  logger: Pick<Logger, 'info' | 'warn' | 'debug' | 'trace'>;
  backoff?: Backoff | undefined;
  pingIntervalMs?: number | undefined;
  random?: (() => number) | undefined;
}
