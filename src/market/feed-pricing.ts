// A paper account priced by a market feed: which symbols to watch, prices batched into the paper broker, staleness and its counts.
import type { Logger } from '../ops/logger.ts';
import type { Decimal } from '../domain/money.ts';
import type { FeedStats, VenueFeed } from './price-feed.ts';

/** What the feed drives: the paper broker. */
export interface FeedPriceSink {
  /** Prices in the order they were seen (a symbol may appear more than once); matches resting orders against each. */
  applyFeedPrices(prices: ReadonlyArray<readonly [string, Decimal]>): Promise<unknown>;
  /** Symbols with a position or a live order: they stay watched while they are. */
  symbolsInPlay(): string[];
}

export interface FeedPricingOptions {
  account: string;
  venue: VenueFeed;
  /** No price for this long: no trigger fires on the last one, a market order is refused stale_quote. */
  staleAfterMs: number;
  /** Watched from the start, whatever is in play (the strategies' symbols). */
  watch?: readonly string[] | undefined;
  /** tradewire symbol → the venue's, where they differ. */
  venueSymbols?: Readonly<Record<string, string>> | undefined;
  /** The venue's spelling when the map has none (Binance and Alpaca: upper case). */
  toVenue?: ((symbol: string) => string) | undefined;
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  clock?: (() => Date) | undefined;
  /** How often subscriptions and staleness are checked. Default 1 s. */
  checkIntervalMs?: number | undefined;
  /** Prices are gathered this long and written together (a trade stream can send hundreds a second). Default 250 ms. */
  batchMs?: number | undefined;
  /** How long an entry waits for a newly subscribed symbol's first price. Default 3 s. */
  firstPriceWaitMs?: number | undefined;
  /** A symbol asked for (an entry being sized) stays watched this long even with nothing in play. Default 60 s. */
  demandHoldMs?: number | undefined;
}

/**
 * The prices of one symbol since the last write, reduced to what matching needs: its low, its high and its last, in
 * the order they came. A stop pierced by a wick inside the batch still sees the wick; the price in between does not matter.
 */
class Window {
  private count = 0;
  private low: { price: Decimal; at: number } | undefined;
  private high: { price: Decimal; at: number } | undefined;
  private last: { price: Decimal; at: number } | undefined;

  add(price: Decimal): void {
    const seen = { price, at: this.count++ };
    if (!this.low || price.lt(this.low.price)) this.low = seen;
    if (!this.high || price.gt(this.high.price)) this.high = seen;
    this.last = seen;
  }

  path(): Decimal[] {
    const points = [this.low, this.high, this.last].filter((p): p is { price: Decimal; at: number } => p !== undefined);
    const unique = [...new Map(points.map((p) => [p.at, p])).values()].sort((a, b) => a.at - b.at);
    return unique.map((p) => p.price);
  }
}

interface Watched {
  venueSymbol: string;
  since: number;
  lastPriceAt?: number | undefined;
  stale: boolean;
}

export class FeedPricing {
  readonly staleAfterMs: number;
  private readonly clock: () => Date;
  private readonly watched = new Map<string, Watched>();
  private readonly demanded = new Map<string, number>();
  private readonly pending = new Map<string, Window>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private sink: FeedPriceSink | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly counts = { staleEpisodes: 0, prices: 0, malformed: 0, disconnects: 0 };

  constructor(private readonly options: FeedPricingOptions) {
    this.staleAfterMs = options.staleAfterMs;
    this.clock = options.clock ?? (() => new Date());
  }

  get source(): VenueFeed['source'] {
    return this.options.venue.source;
  }

  start(sink: FeedPriceSink): void {
    if (this.sink) return;
    this.sink = sink;
    this.options.venue.start({
      price: (venueSymbol, price) => this.received(venueSymbol, price),
      malformed: (reason) => this.malformed(reason),
      down: () => { this.counts.disconnects += 1; },
    });
    this.check();
    this.checkTimer = setInterval(() => this.check(), this.options.checkIntervalMs ?? 1_000);
    this.checkTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.checkTimer);
    clearTimeout(this.batchTimer);
    this.sink = undefined;
    for (const resolve of [...this.waiters.values()].flat()) resolve();
    this.waiters.clear();
    await this.options.venue.stop();
    await this.flushing;
  }

  /**
   * The symbol is about to be traded or sized: watch it (for demandHoldMs at least) and, when it was not watched yet,
   * wait a moment (firstPriceWaitMs) for its first price. Resolves either way; the caller judges the price it then has.
   */
  async demand(symbol: string): Promise<void> {
    if (!this.sink) return;
    this.demanded.set(symbol, this.clock().getTime());
    const awaited = this.waiters.has(symbol);
    // Only a new subscription is waited for (by every caller until its first price or the wait ends): a watched symbol
    // without a price (a closed market) must not slow every quote.
    if (this.watched.has(symbol) && !awaited) return;
    let release: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => { release = resolve; });
    this.waiters.set(symbol, [...(this.waiters.get(symbol) ?? []), release]);
    if (!awaited) {
      this.check();
      await this.firstFromRest(symbol);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.options.firstPriceWaitMs ?? 3_000); });
    await Promise.race([arrived, timeout]);
    clearTimeout(timer);
    const left = (this.waiters.get(symbol) ?? []).filter((waiter) => waiter !== release);
    if (left.length > 0) this.waiters.set(symbol, left);
    else this.waiters.delete(symbol);
  }

  /** Whether a price recorded at `time` may still be matched against. */
  isFresh(time: Date): boolean {
    return this.clock().getTime() - time.getTime() <= this.staleAfterMs;
  }

  stats(): FeedStats {
    const rows = [...this.watched.values()];
    return { account: this.options.account, source: this.source, symbols: rows.length, stale: rows.filter((w) => w.stale).length, ...this.counts };
  }

  private venueSymbol(symbol: string): string {
    return this.options.venueSymbols?.[symbol] ?? (this.options.toVenue ?? ((s: string) => s.toUpperCase()))(symbol);
  }

  /** Subscriptions follow what is in play, and each watched symbol's staleness is judged. */
  private check(): void {
    const sink = this.sink;
    if (!sink) return;
    const now = this.clock().getTime();
    const hold = this.options.demandHoldMs ?? 60_000;
    for (const [symbol, at] of this.demanded) if (now - at > hold) this.demanded.delete(symbol);
    let inPlay: string[];
    try {
      inPlay = sink.symbolsInPlay();
    } catch (error) {
      // The ledger closed under us (a shutdown): keep what is watched until the next check.
      this.options.logger.debug({ event: 'feed.in_play_failed', account: this.options.account, err: String(error) }, 'feed: could not read the symbols in play');
      return;
    }
    const wanted = new Set([...(this.options.watch ?? []), ...inPlay, ...this.demanded.keys()]);
    for (const symbol of [...this.watched.keys()]) if (!wanted.has(symbol)) this.watched.delete(symbol);
    for (const symbol of wanted) if (!this.watched.has(symbol)) this.watched.set(symbol, { venueSymbol: this.venueSymbol(symbol), since: now, stale: false });
    this.options.venue.watch(new Set([...this.watched.values()].map((w) => w.venueSymbol)));
    for (const [symbol, watched] of this.watched) this.judge(symbol, watched, now);
  }

  private judge(symbol: string, watched: Watched, now: number): void {
    const silentMs = now - (watched.lastPriceAt ?? watched.since);
    if (watched.stale || silentMs <= this.staleAfterMs) return;
    watched.stale = true;
    this.counts.staleEpisodes += 1;
    this.options.logger.warn({
      event: 'feed.stale', account: this.options.account, source: this.source, symbol, silentSeconds: Math.round(silentMs / 1000), staleAfterSeconds: this.staleAfterMs / 1000,
    }, `${this.source}: no price for ${symbol} in ${Math.round(silentMs / 1000)} s; its stops and targets wait for a fresh one`);
  }

  private received(venueSymbol: string, price: Decimal): void {
    if (!price.isPositive() || price.isZero()) {
      this.malformed(`a price of ${price.toString()} for ${venueSymbol}`);
      return;
    }
    this.counts.prices += 1;
    const now = this.clock().getTime();
    for (const [symbol, watched] of this.watched) {
      if (watched.venueSymbol !== venueSymbol) continue;
      watched.lastPriceAt = now;
      if (watched.stale) {
        watched.stale = false;
        this.options.logger.info({ event: 'feed.fresh', account: this.options.account, source: this.source, symbol }, `${this.source}: prices for ${symbol} again`);
      }
      let window = this.pending.get(symbol);
      if (!window) this.pending.set(symbol, window = new Window());
      window.add(price);
    }
    this.batchTimer ??= setTimeout(() => { this.batchTimer = undefined; void this.flush(); }, this.options.batchMs ?? 250);
  }

  private malformed(reason: string): void {
    this.counts.malformed += 1;
    this.options.logger.debug({ event: 'feed.malformed', account: this.options.account, source: this.source, reason }, `${this.source}: a message ignored: ${reason}`);
  }

  /** One write for the batch; writes never overlap, so prices reach the ledger in the order they came. */
  private flush(): Promise<void> {
    const batch = [...this.pending].flatMap(([symbol, window]) => window.path().map((price) => [symbol, price] as const));
    this.pending.clear();
    const sink = this.sink;
    this.flushing = this.flushing.then(async () => {
      if (!sink || batch.length === 0) return;
      try {
        await sink.applyFeedPrices(batch);
      } catch (error) {
        this.options.logger.warn({ event: 'feed.apply_failed', account: this.options.account, source: this.source, err: error instanceof Error ? error.message : String(error) },
          `${this.source}: the paper account could not take a batch of prices`);
      }
      for (const [symbol] of batch) this.release(symbol);
    });
    return this.flushing;
  }

  private release(symbol: string): void {
    const list = this.waiters.get(symbol);
    this.waiters.delete(symbol);
    for (const resolve of list ?? []) resolve();
  }

  /** A venue with a REST last trade gives a first price at once, if it is recent enough to trade on. */
  private async firstFromRest(symbol: string): Promise<void> {
    const venue = this.options.venue;
    const watched = this.watched.get(symbol);
    if (!venue.latest || !watched) return;
    try {
      const found = (await venue.latest([watched.venueSymbol])).get(watched.venueSymbol);
      if (found && this.isFresh(found.time) && watched.lastPriceAt === undefined) this.received(watched.venueSymbol, found.price);
    } catch (error) {
      this.options.logger.warn({ event: 'feed.latest_failed', account: this.options.account, source: this.source, symbol, err: error instanceof Error ? error.message : String(error) },
        `${this.source}: no first price for ${symbol} over REST`);
    }
  }
}
