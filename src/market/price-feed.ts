// What every market-data source speaks to the paper broker: venue symbols in, exact prices out, and the counts /metrics reads.
import type { Decimal } from '../domain/money.ts';

export type FeedSource = 'binance-usdm-mark' | 'binance-spot-trades' | 'alpaca-iex';

/** What a venue's stream tells the feed; called from the socket's message handler, so each must return quickly. */
export interface VenueFeedHandlers {
  /** One price for one venue symbol, exact. */
  price(venueSymbol: string, price: Decimal): void;
  /** A message that did not validate: ignored, counted, never fatal. */
  malformed(reason: string): void;
  /** The link went down; a reconnect follows. */
  down(): void;
}

/**
 * One venue's public price stream, through one socket. `watch` names every venue symbol wanted now: the stream
 * subscribes to what is new, unsubscribes from what was dropped, and subscribes to all of them again after a reconnect.
 */
export interface VenueFeed {
  readonly source: FeedSource;
  start(handlers: VenueFeedHandlers): void;
  stop(): Promise<void>;
  watch(venueSymbols: ReadonlySet<string>): void;
  /** The venue's last trade over REST, for a first price before the stream sends one (Alpaca); absent where the stream is quick. */
  latest?(venueSymbols: string[]): Promise<Map<string, { price: Decimal; time: Date }>>;
}

/** Per source, for /metrics: counters only grow; `symbols` and `stale` are gauges. */
export interface FeedStats {
  account: string;
  source: FeedSource;
  /** Symbols subscribed now. */
  symbols: number;
  /** Symbols whose last price is older than staleAfterSeconds now. */
  stale: number;
  /** Times a symbol went without a price for staleAfterSeconds (one per episode, however long it lasts). */
  staleEpisodes: number;
  /** Prices received. */
  prices: number;
  /** Messages that did not validate and were ignored. */
  malformed: number;
  /** Times the link went down (a reconnect followed). */
  disconnects: number;
}

/** A broker that can say how its price feed is doing (the paper broker with a priceFeed). */
export interface FeedStatsSource {
  feedStats(): FeedStats | undefined;
}

export function reportsFeedStats(value: unknown): value is FeedStatsSource {
  return typeof (value as Partial<FeedStatsSource> | undefined)?.feedStats === 'function';
}
