// Binance USD-M's user data stream: a listenKey kept alive by REST, a WebSocket on it, and its events as typed updates.
import { z } from 'zod';
import { createHttpClient, type HttpClient } from '../http.ts';
import { ZERO } from '../../domain/money.ts';
import type { OrderStatus } from '../../domain/order.ts';
import type { Logger } from '../../ops/logger.ts';
import type { OrderStream, OrderStreamHandlers } from '../order-stream.ts';
import { StreamSocket, type Backoff } from '../stream-socket.ts';
import { binanceErrorMapper, type RateGate } from './errors.ts';
import { algoOrderId, algoStatus, orderStatus } from './mapping.ts';
import { decimal, optionalDecimal, wireId } from './wire.ts';

/**
 * The user data stream's WebSocket bases; the stream itself is at <base>/ws/<listenKey>. Live USD-M routes by path and
 * carries user data under /private (a socket without the route receives only public data, silently). The testnet and
 * demo hosts are given without a route: not checked against the venues (no account here), override with streamUrl.
 */
export const BINANCE_STREAM_URLS = {
  live: 'wss://fstream.binance.com/private',
  testnet: 'wss://fstream.binancefuture.com',
  demo: 'wss://fstream.binancefuture.com',
} as const;

/** Binance lets a listenKey lapse 60 minutes after its last keepalive; every 30 leaves room for one that fails. */
export const KEEPALIVE_MS = 30 * 60_000;

export interface BinanceUserStreamOptions {
  account: string;
  /** The REST base (the listenKey endpoints). */
  baseUrl: string;
  /** The WebSocket base, without /ws (live: wss://fstream.binance.com/private). */
  streamUrl: string;
  apiKey: string;
  /** The REST client's gate: a ban or weight hold stops the listenKey calls too. */
  gate: RateGate;
  fetch?: (() => typeof globalThis.fetch) | undefined;
  logger: Pick<Logger, 'info' | 'warn' | 'debug' | 'trace'>;
  keepaliveMs?: number | undefined;
  backoff?: Backoff | undefined;
  pingIntervalMs?: number | undefined;
  random?: (() => number) | undefined;
}

const listenKeySchema = z.object({ listenKey: z.string().min(1) });
// The keepalive answers {} (older) or the key itself (newer).
const keepaliveSchema = z.object({ listenKey: z.string().optional() });

const eventTime = z.union([z.number(), z.string()]).transform(Number);

const orderTradeUpdateSchema = z.object({
  e: z.literal('ORDER_TRADE_UPDATE'),
  E: eventTime,
  T: eventTime.optional(),
  o: z.object({
    s: z.string(),
    c: z.string(),
    S: z.enum(['BUY', 'SELL']),
    o: z.string(),
    q: decimal,
    x: z.string(),
    X: z.string(),
    i: wireId,
    l: decimal,
    z: decimal,
    ap: optionalDecimal,
    ot: z.string().optional(),
    R: z.boolean().optional(),
  }),
});
const algoUpdateSchema = z.object({
  e: z.literal('ALGO_UPDATE'),
  E: eventTime,
  T: eventTime.optional(),
  o: z.object({
    caid: z.string(),
    aid: wireId,
    at: z.string().optional(),
    o: z.string(),
    s: z.string(),
    S: z.enum(['BUY', 'SELL']),
    q: optionalDecimal,
    X: z.string(),
    /** The plain order the trigger created ("" before), and what it executed. */
    ai: z.union([z.string(), z.number()]).optional(),
    aq: optionalDecimal,
    ap: optionalDecimal,
    rm: z.string().optional(),
  }),
});
const accountUpdateSchema = z.object({
  e: z.literal('ACCOUNT_UPDATE'),
  E: eventTime,
  a: z.object({
    m: z.string(),
    P: z.array(z.object({ s: z.string(), pa: decimal, ps: z.string().optional() })).default([]),
  }),
});
const listenKeyExpiredSchema = z.object({ e: z.literal('listenKeyExpired'), E: eventTime, listenKey: z.string().optional() });
// Margin calls, trade-lite and config changes are read for validity only: tradewire acts on none of them.
const otherEventSchema = z.object({ e: z.enum(['MARGIN_CALL', 'TRADE_LITE', 'ACCOUNT_CONFIG_UPDATE', 'STRATEGY_UPDATE', 'GRID_UPDATE', 'CONDITIONAL_ORDER_TRIGGER_REJECT']), E: eventTime });
const eventSchema = z.discriminatedUnion('e', [orderTradeUpdateSchema, algoUpdateSchema, accountUpdateSchema, listenKeyExpiredSchema, otherEventSchema]);

/** TRIGGERED/FINISHED: the algo fired; what its plain order did is in aq (executed) and the ORDER_TRADE_UPDATE of `ai`. */
function algoUpdateStatus(status: string, executed: z.output<typeof optionalDecimal>): OrderStatus {
  if ((status === 'FINISHED' || status === 'TRIGGERED') && executed !== undefined && executed.gt(0)) return status === 'FINISHED' ? 'filled' : 'partially_filled';
  return algoStatus(status);
}

/**
 * One account's user data stream. Before each connect a listenKey is asked for (POST returns the live one if
 * there is one); it is kept alive by PUT every 30 minutes; an expired key (`listenKeyExpired`, or -1125 on the
 * keepalive) is replaced and the socket opened again. Binance replays nothing missed: every open tells the
 * caller to resync by REST. The key is deleted on stop.
 */
export class BinanceUserStream implements OrderStream {
  private readonly socket: StreamSocket;
  private readonly http: HttpClient;
  private handlers: OrderStreamHandlers | undefined;
  private listenKey: string | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BinanceUserStreamOptions) {
    const { apiKey } = options;
    this.http = createHttpClient({
      broker: 'binance-usdm', baseUrl: options.baseUrl, fetch: options.fetch, timeoutMs: 10_000,
      logger: options.logger,
      mapError: binanceErrorMapper(options.gate),
      // USER_STREAM security: the API key alone, no signature.
      sign: (request) => {
        request.headers.set('X-MBX-APIKEY', apiKey);
        return request;
      },
    });
    this.socket = new StreamSocket({
      account: options.account, venue: 'binance-usdm', logger: options.logger, backoff: options.backoff,
      pingIntervalMs: options.pingIntervalMs, random: options.random,
      url: async () => `${options.streamUrl.replace(/\/$/, '')}/ws/${await this.key()}`,
      onOpen: () => {
        // No subscribe step: a socket open on the key is the stream.
        this.socket.healthy();
        options.logger.info({ event: 'stream.subscribed', account: options.account, venue: 'binance-usdm' }, 'binance user data stream connected');
        this.handlers?.onConnected();
      },
      onText: (text) => this.receive(text),
    });
  }

  start(handlers: OrderStreamHandlers): void {
    this.handlers = handlers;
    this.socket.start();
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(() => { void this.keepalive(); }, this.options.keepaliveMs ?? KEEPALIVE_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    this.handlers = undefined;
    await this.socket.stop();
    const key = this.listenKey;
    this.listenKey = undefined;
    if (key === undefined) return;
    try {
      this.options.gate.check();
      await this.http.request({ method: 'DELETE', path: '/fapi/v1/listenKey', schema: z.unknown() });
    } catch (error) {
      // It lapses by itself within the hour.
      this.options.logger.debug({ event: 'stream.listen_key_not_deleted', account: this.options.account, err: error instanceof Error ? error.message : String(error) }, 'listenKey not deleted');
    }
  }

  private async key(): Promise<string> {
    if (this.listenKey !== undefined) return this.listenKey;
    this.options.gate.check();
    const { listenKey } = await this.http.request({ method: 'POST', path: '/fapi/v1/listenKey', schema: listenKeySchema });
    this.listenKey = listenKey;
    return listenKey;
  }

  /** PUT (USD-M keeps one key per account: no parameter); one that Binance no longer knows (-1125), or any failure, is replaced with a new key and a new socket. */
  private async keepalive(): Promise<void> {
    const key = this.listenKey;
    if (key === undefined) return;
    try {
      this.options.gate.check();
      await this.http.request({ method: 'PUT', path: '/fapi/v1/listenKey', schema: keepaliveSchema });
      this.options.logger.debug({ event: 'stream.keepalive', account: this.options.account }, 'listenKey kept alive');
    } catch (error) {
      if (this.listenKey !== key) return;
      this.listenKey = undefined;
      this.socket.drop(`listenKey keepalive failed (${error instanceof Error ? error.message : String(error)}): a new key and a new connection`);
    }
  }

  private receive(text: string): void {
    const { account, logger } = this.options;
    let event: z.output<typeof eventSchema>;
    try {
      const result = eventSchema.safeParse(JSON.parse(text));
      if (!result.success) throw new Error(result.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      event = result.data;
    } catch (error) {
      logger.warn({ event: 'stream.message_invalid', account, venue: 'binance-usdm', err: error instanceof Error ? error.message : String(error), bytes: text.length },
        'binance stream: a message that does not parse was ignored');
      return;
    }
    const at = new Date(event.E);
    switch (event.e) {
      case 'ORDER_TRADE_UPDATE':
        this.handlers?.onEvent({
          kind: 'order', clientOrderId: event.o.c, orderId: String(event.o.i), symbol: event.o.s, status: orderStatus(event.o.X),
          filledQuantity: event.o.z, event: `ORDER_TRADE_UPDATE/${event.o.x}`, at,
        });
        return;
      case 'ALGO_UPDATE':
        this.handlers?.onEvent({
          kind: 'order', clientOrderId: event.o.caid, orderId: algoOrderId(String(event.o.aid)), symbol: event.o.s,
          status: algoUpdateStatus(event.o.X, event.o.aq), filledQuantity: event.o.aq ?? ZERO, event: `ALGO_UPDATE/${event.o.X}`, at,
        });
        return;
      case 'ACCOUNT_UPDATE':
        for (const position of event.a.P) {
          this.handlers?.onEvent({ kind: 'position', symbol: position.s, quantity: position.pa, reason: event.a.m, at });
        }
        return;
      case 'listenKeyExpired':
        // A stale notice about a key already replaced changes nothing.
        if (event.listenKey !== undefined && this.listenKey !== undefined && event.listenKey !== this.listenKey) return;
        this.listenKey = undefined;
        this.socket.drop('listenKey expired: a new key and a new connection');
        return;
      default:
        return;
    }
  }
}
