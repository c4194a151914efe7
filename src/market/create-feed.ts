// A paper account's configured priceFeed, built: the venue's stream and the pricing around it.
import type { Logger } from '../ops/logger.ts';
import type { PriceFeedConfig } from '../config/schema.ts';
import { toAlpacaSymbol } from '../brokers/alpaca/symbols.ts';
import { AlpacaIexFeed } from './alpaca-feed.ts';
import { BinanceFeed } from './binance-feed.ts';
import { FeedPricing } from './feed-pricing.ts';
import type { VenueFeed } from './price-feed.ts';

export interface FeedDeps {
  account: string;
  logger: Logger;
  clock?: (() => Date) | undefined;
}

function venueFor(config: PriceFeedConfig, deps: FeedDeps): VenueFeed {
  const logger = deps.logger.child({ component: 'price-feed' });
  switch (config.source) {
    case 'binance-usdm-mark':
    case 'binance-spot-trades':
      return new BinanceFeed({ source: config.source, account: deps.account, url: config.streamUrl, logger });
    case 'alpaca-iex':
      // The schema requires both keys for this source.
      return new AlpacaIexFeed({
        account: deps.account, keyId: config.keyId ?? '', secretKey: config.secretKey ?? '', streamUrl: config.streamUrl, restUrl: config.restUrl, logger,
      });
  }
}

export function createFeedPricing(config: PriceFeedConfig, deps: FeedDeps): FeedPricing {
  return new FeedPricing({
    account: deps.account,
    venue: venueFor(config, deps),
    staleAfterMs: config.staleAfterSeconds * 1000,
    watch: config.watch,
    venueSymbols: config.venueSymbols,
    // IEX trades equities only: their symbols are the order form, upper case. Binance's are upper case too.
    toVenue: config.source === 'alpaca-iex' ? (symbol) => toAlpacaSymbol(symbol, false) : (symbol) => symbol.toUpperCase(),
    logger: deps.logger.child({ component: 'price-feed' }),
    clock: deps.clock,
  });
}
