// Alpaca's market data for US equities (the free IEX feed): the trades stream, and the latest trade over REST for a first price.
import { z } from 'zod';
import WebSocket from 'ws';
import type { Logger } from '../ops/logger.ts';
import { StreamSocket, type Backoff } from '../brokers/stream-socket.ts';
import { createHttpClient, type HttpClient, type HttpClientOptions } from '../brokers/http.ts';
import { wireDecimal } from '../brokers/wire-decimal.ts';
import type { Decimal } from '../domain/money.ts';
import type { VenueFeed, VenueFeedHandlers } from './price-feed.ts';
import { parseWireJson } from './wire-json.ts';

export const ALPACA_IEX_URLS = {
  stream: 'wss://stream.data.alpaca.markets/v2/iex',
  rest: 'https://data.alpaca.markets',
} as const;

// Errors after which this connection is useless: a refused or late auth, a second connection on a one-connection plan.
const FATAL_CODES = new Set([401, 402, 404, 406]);

const time = z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'expected an RFC 3339 time').transform((t) => new Date(t));
const tradeSchema = z.object({ T: z.literal('t'), S: z.string().min(1), p: wireDecimal, t: time });
const successSchema = z.object({ T: z.literal('success'), msg: z.string() });
const errorSchema = z.object({ T: z.literal('error'), code: z.number(), msg: z.string() });
const subscriptionSchema = z.object({ T: z.literal('subscription'), trades: z.array(z.string()) });
// Alpaca sends every message in an array (several per frame when busy); anything we did not subscribe to is ignored by type.
const frameSchema = z.array(z.object({ T: z.string() }).loose());
const latestTradesSchema = z.object({ trades: z.record(z.string(), z.object({ p: wireDecimal, t: time })) });

export interface AlpacaIexFeedOptions {
  account: string;
  keyId: string;
  secretKey: string;
  streamUrl?: string | undefined;
  restUrl?: string | undefined;
  logger: Pick<Logger, 'info' | 'warn' | 'debug' | 'trace'>;
  backoff?: Backoff | undefined;
  pingIntervalMs?: number | undefined;
  fetch?: HttpClientOptions['fetch'];
}

export class AlpacaIexFeed implements VenueFeed {
  readonly source = 'alpaca-iex' as const;
  private readonly socket: StreamSocket;
  private readonly rest: HttpClient;
  /** Built where the keys are kept: the key pair is never a field of this object. */
  private readonly authMessage: () => string;
  private handlers: VenueFeedHandlers | undefined;
  private wanted = new Set<string>();
  private subscribed = new Set<string>();
  private live: WebSocket | undefined;
  private authenticated = false;

  constructor(private readonly options: AlpacaIexFeedOptions) {
    const { keyId, secretKey } = options;
    this.authMessage = () => JSON.stringify({ action: 'auth', key: keyId, secret: secretKey });
    this.rest = createHttpClient({
      broker: 'alpaca', baseUrl: options.restUrl ?? ALPACA_IEX_URLS.rest, timeoutMs: 5_000, logger: options.logger, fetch: options.fetch,
      losslessNumbers: true,
      sign: (request) => {
        request.headers.set('APCA-API-KEY-ID', keyId);
        request.headers.set('APCA-API-SECRET-KEY', secretKey);
        return request;
      },
    });
    const url = options.streamUrl ?? ALPACA_IEX_URLS.stream;
    this.socket = new StreamSocket({
      account: options.account, venue: this.source, url: () => url, logger: options.logger, backoff: options.backoff,
      pingIntervalMs: options.pingIntervalMs,
      onOpen: (socket) => { this.live = socket; },
      onText: (text, socket) => this.receive(text, socket),
      onDown: () => this.wentDown(),
    });
  }

  start(handlers: VenueFeedHandlers): void {
    this.handlers = handlers;
    this.socket.start();
  }

  async stop(): Promise<void> {
    await this.socket.stop();
    this.wentDown(false);
  }

  watch(venueSymbols: ReadonlySet<string>): void {
    this.wanted = new Set(venueSymbols);
    this.sync();
  }

  async latest(venueSymbols: string[]): Promise<Map<string, { price: Decimal; time: Date }>> {
    const found = new Map<string, { price: Decimal; time: Date }>();
    if (venueSymbols.length === 0) return found;
    const answer = await this.rest.request({
      method: 'GET', path: '/v2/stocks/trades/latest', query: { symbols: venueSymbols.join(','), feed: 'iex' }, schema: latestTradesSchema,
    });
    for (const [symbol, trade] of Object.entries(answer.trades)) found.set(symbol, { price: trade.p, time: trade.t });
    return found;
  }

  private wentDown(tell = true): void {
    this.live = undefined;
    this.authenticated = false;
    this.subscribed.clear();
    if (tell) this.handlers?.down();
  }

  private sync(): void {
    const socket = this.live;
    if (!socket || !this.authenticated || socket.readyState !== WebSocket.OPEN) return;
    const add = [...this.wanted].filter((s) => !this.subscribed.has(s));
    const drop = [...this.subscribed].filter((s) => !this.wanted.has(s));
    if (add.length > 0) socket.send(JSON.stringify({ action: 'subscribe', trades: add }));
    if (drop.length > 0) socket.send(JSON.stringify({ action: 'unsubscribe', trades: drop }));
    for (const symbol of add) this.subscribed.add(symbol);
    for (const symbol of drop) this.subscribed.delete(symbol);
  }

  private receive(text: string, socket: WebSocket): void {
    const handlers = this.handlers;
    if (!handlers) return;
    const frame = frameSchema.safeParse(parseWireJson(text));
    if (!frame.success) {
      handlers.malformed('not an array of typed messages');
      return;
    }
    for (const message of frame.data) this.handle(message, socket, handlers);
  }

  private handle(message: { T: string }, socket: WebSocket, handlers: VenueFeedHandlers): void {
    const { account, logger } = this.options;
    switch (message.T) {
      case 't': {
        const trade = tradeSchema.safeParse(message);
        if (!trade.success) {
          handlers.malformed(trade.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
          return;
        }
        if (this.wanted.has(trade.data.S)) handlers.price(trade.data.S, trade.data.p);
        return;
      }
      case 'success': {
        const success = successSchema.safeParse(message);
        if (!success.success) return handlers.malformed('a success message without its msg');
        if (success.data.msg === 'connected') socket.send(this.authMessage());
        if (success.data.msg === 'authenticated') {
          this.authenticated = true;
          this.socket.healthy();
          this.sync();
        }
        return;
      }
      case 'error': {
        const error = errorSchema.safeParse(message);
        if (!error.success) return handlers.malformed('an error message without its code');
        logger.warn({ event: 'feed.refused', account, source: this.source, code: error.data.code, reason: error.data.msg }, `alpaca-iex: ${error.data.msg} (${error.data.code})`);
        if (FATAL_CODES.has(error.data.code)) this.socket.drop(`Alpaca refused the connection: ${error.data.msg}`);
        return;
      }
      case 'subscription': {
        const subscription = subscriptionSchema.safeParse(message);
        if (!subscription.success) return handlers.malformed('a subscription message without its trades');
        logger.debug({ event: 'feed.subscribed', account, source: this.source, trades: subscription.data.trades }, 'alpaca-iex subscriptions');
        return;
      }
      default:
        // Quotes, bars and statuses are not asked for; a type we do not know is not an error of the venue's.
        return;
    }
  }
}
