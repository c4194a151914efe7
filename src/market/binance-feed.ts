// Binance's public price streams (USD-M mark price, spot trades) over one socket: SUBSCRIBE/UNSUBSCRIBE by stream name, raw events on /ws.
import { z } from 'zod';
import WebSocket from 'ws';
import type { Logger } from '../ops/logger.ts';
import { StreamSocket, type Backoff } from '../brokers/stream-socket.ts';
import { wireDecimal } from '../brokers/wire-decimal.ts';
import type { VenueFeed, VenueFeedHandlers } from './price-feed.ts';
import { parseWireJson } from './wire-json.ts';

export type BinanceFeedSource = 'binance-usdm-mark' | 'binance-spot-trades';

export const BINANCE_FEED_URLS: Record<BinanceFeedSource, string> = {
  // USD-M routes streams by path: @markPrice is "market" data, and a connection to the bare /ws gets none of it, silently.
  'binance-usdm-mark': 'wss://fstream.binance.com/market/ws',
  'binance-spot-trades': 'wss://stream.binance.com:9443/ws',
};

// Binance closes every connection after 24 h: it is recycled a little before, at a moment of our choosing.
const MAX_CONNECTION_MS = 23 * 60 * 60 * 1000 + 50 * 60 * 1000;
// USD-M allows 200 streams per connection and 10 incoming messages a second (spot 1024 and 5): 50 a message stays well inside.
const STREAMS_PER_MESSAGE = 50;

const markPriceSchema = z.object({ e: z.literal('markPriceUpdate'), E: z.number(), s: z.string().min(1), p: wireDecimal });
const tradeSchema = z.object({ e: z.literal('trade'), E: z.number(), s: z.string().min(1), p: wireDecimal });
// SUBSCRIBE and UNSUBSCRIBE answer {result: null}; LIST_SUBSCRIPTIONS answers the list.
const ackSchema = z.object({ result: z.union([z.null(), z.array(z.string())]), id: z.number() });
const refusalSchema = z.object({ error: z.object({ code: z.number(), msg: z.string() }), id: z.number().nullish() });

const EVENTS = {
  'binance-usdm-mark': { suffix: '@markPrice@1s', schema: markPriceSchema },
  'binance-spot-trades': { suffix: '@trade', schema: tradeSchema },
} as const;

export interface BinanceFeedOptions {
  source: BinanceFeedSource;
  account: string;
  /** Default: Binance's own host for the source. */
  url?: string | undefined;
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  backoff?: Backoff | undefined;
  pingIntervalMs?: number | undefined;
  maxConnectionMs?: number | undefined;
}

export class BinanceFeed implements VenueFeed {
  readonly source: BinanceFeedSource;
  private readonly socket: StreamSocket;
  private readonly suffix: string;
  private readonly schema: typeof markPriceSchema | typeof tradeSchema;
  private handlers: VenueFeedHandlers | undefined;
  private wanted = new Set<string>();
  /** What the open socket has been asked for (empty while down). */
  private subscribed = new Set<string>();
  private live: WebSocket | undefined;
  private recycle: NodeJS.Timeout | undefined;
  private nextId = 1;

  constructor(private readonly options: BinanceFeedOptions) {
    this.source = options.source;
    this.suffix = EVENTS[options.source].suffix;
    this.schema = EVENTS[options.source].schema;
    const url = options.url ?? BINANCE_FEED_URLS[options.source];
    this.socket = new StreamSocket({
      account: options.account, venue: options.source, url: () => url, logger: options.logger, backoff: options.backoff,
      pingIntervalMs: options.pingIntervalMs,
      onOpen: (socket) => this.opened(socket),
      onText: (text) => this.receive(text),
      onDown: () => this.wentDown(),
    });
  }

  start(handlers: VenueFeedHandlers): void {
    this.handlers = handlers;
    this.socket.start();
  }

  async stop(): Promise<void> {
    clearTimeout(this.recycle);
    await this.socket.stop();
    this.live = undefined;
    this.subscribed.clear();
  }

  watch(venueSymbols: ReadonlySet<string>): void {
    this.wanted = new Set(venueSymbols);
    this.sync();
  }

  private opened(socket: WebSocket): void {
    this.live = socket;
    // A new socket carries nothing: everything wanted is subscribed again.
    this.subscribed.clear();
    clearTimeout(this.recycle);
    this.recycle = setTimeout(() => this.socket.drop('the connection nears Binance\'s 24 h limit: opening a fresh one'), this.options.maxConnectionMs ?? MAX_CONNECTION_MS);
    this.recycle.unref();
    this.sync();
  }

  private wentDown(): void {
    clearTimeout(this.recycle);
    this.live = undefined;
    this.handlers?.down();
  }

  /** Sends the difference between what is wanted and what the socket carries. */
  private sync(): void {
    const socket = this.live;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const add = [...this.wanted].filter((s) => !this.subscribed.has(s));
    const drop = [...this.subscribed].filter((s) => !this.wanted.has(s));
    this.send(socket, 'SUBSCRIBE', add);
    this.send(socket, 'UNSUBSCRIBE', drop);
    for (const symbol of add) this.subscribed.add(symbol);
    for (const symbol of drop) this.subscribed.delete(symbol);
  }

  private send(socket: WebSocket, method: 'SUBSCRIBE' | 'UNSUBSCRIBE', symbols: string[]): void {
    for (let i = 0; i < symbols.length; i += STREAMS_PER_MESSAGE) {
      const params = symbols.slice(i, i + STREAMS_PER_MESSAGE).map((s) => `${s.toLowerCase()}${this.suffix}`);
      socket.send(JSON.stringify({ method, params, id: this.nextId++ }));
    }
  }

  private receive(text: string): void {
    const handlers = this.handlers;
    if (!handlers) return;
    const message = parseWireJson(text);
    const event = this.schema.safeParse(message);
    if (event.success) {
      this.socket.healthy();
      // A price for a stream just unsubscribed can still be in flight: it is no longer wanted.
      if (this.wanted.has(event.data.s)) handlers.price(event.data.s, event.data.p);
      return;
    }
    if (ackSchema.safeParse(message).success) {
      this.socket.healthy();
      return;
    }
    const refusal = refusalSchema.safeParse(message);
    if (refusal.success) {
      this.options.logger.warn({ event: 'feed.refused', account: this.options.account, source: this.source, code: refusal.data.error.code, reason: refusal.data.error.msg },
        `${this.source}: Binance refused a subscription: ${refusal.data.error.msg}`);
      return;
    }
    handlers.malformed(message === undefined ? 'not JSON' : event.error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; '));
  }
}
