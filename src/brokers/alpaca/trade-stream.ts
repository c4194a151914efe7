// Alpaca's trade_updates WebSocket: authenticate, listen, and turn each order event into a typed OrderUpdate.
import { z } from 'zod';
import type WebSocket from 'ws';
import type { Logger } from '../../ops/logger.ts';
import type { OrderStream, OrderStreamHandlers } from '../order-stream.ts';
import { StreamSocket, type Backoff } from '../stream-socket.ts';
import { toOrder } from './mapping.ts';
import { orderSchema, type WireOrder } from './wire.ts';

/** The trading stream lives on the trading host, at /stream (not the market-data host). */
export const ALPACA_STREAM_URLS = {
  paper: 'wss://paper-api.alpaca.markets/stream',
  live: 'wss://api.alpaca.markets/stream',
} as const;

export interface AlpacaTradeStreamOptions {
  account: string;
  url: string;
  /** The auth message, built where the key pair is kept (never stored on this object). */
  authMessage: () => string;
  /** tradewire's client id for an Alpaca order (its own name for a bracket leg or a replacement). */
  clientIdFor: (orderId: string, alpacaClientId: string) => string;
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  backoff?: Backoff | undefined;
  pingIntervalMs?: number | undefined;
  random?: (() => number) | undefined;
}

const authorizationSchema = z.object({
  stream: z.literal('authorization'),
  data: z.object({ status: z.string(), action: z.string().optional(), message: z.string().optional() }),
});
const listeningSchema = z.object({
  stream: z.literal('listening'),
  data: z.object({ streams: z.array(z.string()), error: z.string().optional() }),
});
const tradeUpdateSchema = z.object({
  stream: z.literal('trade_updates'),
  data: z.object({
    event: z.string(),
    order: orderSchema,
    timestamp: z.string().optional(),
    execution_id: z.string().optional(),
  }),
});
const messageSchema = z.union([authorizationSchema, listeningSchema, tradeUpdateSchema]);

/**
 * One account's trade_updates. Each (re)connect sends the auth message, then listen; once Alpaca confirms the
 * subscription the caller is told to resync (Alpaca replays nothing missed). A refused key is retried with
 * backoff, never in a tight loop; a message that does not parse is logged and dropped.
 */
export class AlpacaTradeStream implements OrderStream {
  private readonly socket: StreamSocket;
  private handlers: OrderStreamHandlers | undefined;

  constructor(private readonly options: AlpacaTradeStreamOptions) {
    this.socket = new StreamSocket({
      account: options.account, venue: 'alpaca', url: () => options.url, logger: options.logger, backoff: options.backoff,
      pingIntervalMs: options.pingIntervalMs, random: options.random,
      onOpen: (socket) => socket.send(options.authMessage()),
      onText: (text, socket) => this.receive(text, socket),
    });
  }

  start(handlers: OrderStreamHandlers): void {
    this.handlers = handlers;
    this.socket.start();
  }

  async stop(): Promise<void> {
    await this.socket.stop();
    this.handlers = undefined;
  }

  private receive(text: string, socket: WebSocket): void {
    const { account, logger } = this.options;
    let parsed: z.output<typeof messageSchema>;
    try {
      const result = messageSchema.safeParse(JSON.parse(text));
      if (!result.success) throw new Error(result.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      parsed = result.data;
    } catch (error) {
      logger.warn({ event: 'stream.message_invalid', account, venue: 'alpaca', err: error instanceof Error ? error.message : String(error), bytes: text.length },
        'alpaca stream: a message that does not parse was ignored');
      return;
    }
    switch (parsed.stream) {
      case 'authorization':
        if (parsed.data.status === 'authorized') {
          socket.send(JSON.stringify({ action: 'listen', data: { streams: ['trade_updates'] } }));
        } else {
          this.socket.drop(`authorization refused (${parsed.data.status})`);
        }
        return;
      case 'listening':
        if (!parsed.data.streams.includes('trade_updates')) {
          this.socket.drop('trade_updates not among the streams listened to');
          return;
        }
        this.socket.healthy();
        logger.info({ event: 'stream.subscribed', account, venue: 'alpaca' }, 'alpaca trade_updates stream subscribed');
        this.handlers?.onConnected();
        return;
      case 'trade_updates':
        this.tradeUpdate(parsed.data.event, parsed.data.order, parsed.data.timestamp);
        return;
    }
  }

  private tradeUpdate(event: string, wire: WireOrder, timestamp: string | undefined): void {
    let order;
    try {
      order = toOrder(wire, this.options.clientIdFor(wire.id, wire.client_order_id));
    } catch (error) {
      this.options.logger.warn({ event: 'stream.message_invalid', account: this.options.account, venue: 'alpaca', err: error instanceof Error ? error.message : String(error) },
        'alpaca stream: an order event tradewire cannot read was ignored');
      return;
    }
    const at = timestamp !== undefined && !Number.isNaN(Date.parse(timestamp)) ? new Date(timestamp) : order.updatedAt;
    this.handlers?.onEvent({
      kind: 'order', clientOrderId: order.clientOrderId, orderId: order.id, symbol: order.symbol, status: order.status,
      filledQuantity: order.filledQuantity, event, at,
    });
  }
}
