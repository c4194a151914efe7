// Instrument rules from exchangeInfo filters (tick, steps, minimums, min notional), fetched once and cached.
import { InvalidSymbolError } from '../../domain/errors.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { ZERO, maxDecimal, minDecimal } from '../../domain/money.ts';
import type { Decimal } from '../../domain/money.ts';
import type { BinanceClient } from './client.ts';
import { exchangeInfoSchema, lotSizeSchema, minNotionalSchema, priceFilterSchema } from './wire.ts';
import type { WireExchangeSymbol } from './wire.ts';

/** exchangeInfo weighs 1 and changes rarely (a listing, a tick change): an hour is fresh enough. */
const TTL_MS = 60 * 60 * 1000;
const UNKNOWN_RETRY_MS = 60 * 1000;

/**
 * One symbol's rules. LOT_SIZE binds limit orders and MARKET_LOT_SIZE market orders; tradewire sizes before it
 * knows which it will send, so the stricter of the two wins: the larger step and minimum, the smaller maximum.
 */
export function instrumentFrom(wire: WireExchangeSymbol): Instrument {
  const filter = <T>(type: string, parse: (f: unknown) => T): T | undefined => {
    const found = wire.filters.find((f) => f.filterType === type);
    return found === undefined ? undefined : parse(found);
  };
  const price = filter('PRICE_FILTER', (f) => priceFilterSchema.parse(f));
  const lots = [filter('LOT_SIZE', (f) => lotSizeSchema.parse(f)), filter('MARKET_LOT_SIZE', (f) => lotSizeSchema.parse(f))]
    .filter((l) => l !== undefined);
  const notional = filter('MIN_NOTIONAL', (f) => minNotionalSchema.parse(f));
  if (!price || lots.length === 0) throw new TypeError(`exchangeInfo for ${wire.symbol} has no PRICE_FILTER or LOT_SIZE`);
  const step = lots.map((l) => l.stepSize).reduce(maxDecimal);
  const maxima = lots.map((l) => l.maxQty).filter((m): m is Decimal => m !== undefined && m.gt(0));
  return {
    symbol: wire.symbol,
    assetClass: 'future',
    tickSize: price.tickSize,
    stepSize: step,
    minQuantity: lots.map((l) => l.minQty).reduce(maxDecimal),
    minNotional: notional?.notional ?? ZERO,
    maxQuantity: maxima.length > 0 ? maxima.reduce(minDecimal) : undefined,
    shortable: true,
    fractionable: step.lt(1),
    quoteCurrency: wire.marginAsset ?? wire.quoteAsset,
  };
}

export class InstrumentCache {
  private rules = new Map<string, Instrument>();
  private status = new Map<string, string>();
  private loadedAt = -Infinity;
  private loading: Promise<void> | undefined;

  constructor(private readonly client: BinanceClient, private readonly now: () => number, private readonly broker: string) {}

  async get(symbol: string): Promise<Instrument> {
    const age = this.now() - this.loadedAt;
    // A symbol we do not know may have just been listed, but asking again at once for each one would hammer the API.
    if (age > TTL_MS || (!this.rules.has(symbol) && age > UNKNOWN_RETRY_MS)) await this.load();
    const found = this.rules.get(symbol);
    if (!found) throw new InvalidSymbolError(`${this.broker}: ${symbol} is not a USD-M futures symbol`, { broker: this.broker, code: -1121 });
    return found;
  }

  /** 'TRADING', 'SETTLING', 'PENDING_TRADING'... as exchangeInfo last said. */
  statusOf(symbol: string): string | undefined {
    return this.status.get(symbol);
  }

  /** Loads exchangeInfo; concurrent callers share one request. */
  async load(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const info = await this.client.public({ method: 'GET', path: '/fapi/v1/exchangeInfo', schema: exchangeInfoSchema });
        const rules = new Map<string, Instrument>();
        const status = new Map<string, string>();
        for (const symbol of info.symbols) {
          rules.set(symbol.symbol, instrumentFrom(symbol));
          status.set(symbol.symbol, symbol.status);
        }
        const weight = info.rateLimits.find((r) => r.rateLimitType === 'REQUEST_WEIGHT' && r.interval === 'MINUTE' && r.intervalNum === 1);
        if (weight) this.client.weightLimit = weight.limit;
        this.rules = rules;
        this.status = status;
        this.loadedAt = this.now();
      } finally {
        this.loading = undefined;
      }
    })();
    await this.loading;
  }
}
