// A paper account's priceFeed in the config: defaults, the keys Alpaca needs (from the environment, masked), and what each source refuses.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../src/config/load.ts';
import { maskSecrets } from '../../src/config/mask.ts';
import { createFeedPricing } from '../../src/market/create-feed.ts';
import { createLogger } from '../../src/ops/logger.ts';

const config = (feed: string): string => `
accounts:
  paper:
    broker: paper
    priceFeed:
${feed.split('\n').map((line) => `      ${line}`).join('\n')}
strategies:
  default:
    account: paper
`;

const ENV = { ALPACA_KEY_ID: 'PKCONFIGTEST01', ALPACA_SECRET_KEY: 'config-test-Secret-77aa' };

function issues(text: string): string[] {
  try {
    parseConfigText(text, 'tradewire.yaml', ENV);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('priceFeed in a paper account', () => {
  it('a Binance source needs nothing but its name; the defaults are stated', () => {
    const { config: parsed } = parseConfigText(config('source: binance-usdm-mark'), 'tradewire.yaml', ENV);
    const account = parsed.accounts.paper;
    expect(account?.broker === 'paper' && account.priceFeed).toEqual({ source: 'binance-usdm-mark', staleAfterSeconds: 10, watch: [], venueSymbols: {} });
  });

  it('alpaca-iex takes its keys from the environment, and check-config prints them masked', () => {
    const loaded = parseConfigText(config('source: alpaca-iex\nkeyId: ${ALPACA_KEY_ID}\nsecretKey: ${ALPACA_SECRET_KEY}\nwatch: [AAPL, MSFT]\nstaleAfterSeconds: 30'), 'tradewire.yaml', ENV);
    const account = loaded.config.accounts.paper;
    expect(account?.broker === 'paper' && account.priceFeed).toMatchObject({ source: 'alpaca-iex', keyId: ENV.ALPACA_KEY_ID, secretKey: ENV.ALPACA_SECRET_KEY, watch: ['AAPL', 'MSFT'], staleAfterSeconds: 30 });
    const printed = JSON.stringify(maskSecrets(loaded.config, { envPaths: loaded.envPaths }));
    expect(printed).not.toContain(ENV.ALPACA_KEY_ID);
    expect(printed).not.toContain(ENV.ALPACA_SECRET_KEY);
  });

  it('refuses alpaca-iex without keys, keys on a public Binance stream, an unknown source and a zero staleness', () => {
    expect(issues(config('source: alpaca-iex'))).toEqual([
      'accounts.paper.priceFeed.keyId: alpaca-iex needs keyId, from the environment',
      'accounts.paper.priceFeed.secretKey: alpaca-iex needs secretKey, from the environment',
    ]);
    expect(issues(config('source: binance-spot-trades\nkeyId: ${ALPACA_KEY_ID}'))).toEqual(['accounts.paper.priceFeed.keyId: binance-spot-trades is public: it takes no keyId']);
    expect(issues(config('source: kraken-trades')).join()).toMatch(/^accounts\.paper\.priceFeed\.source: .*binance-usdm-mark/);
    expect(issues(config('source: binance-usdm-mark\nstaleAfterSeconds: 0'))).toHaveLength(1);
  });

  it('builds the source the config names, with its staleness', async () => {
    const logger = createLogger({ level: 'silent', pretty: false });
    const binance = createFeedPricing({ source: 'binance-spot-trades', staleAfterSeconds: 5, watch: [], venueSymbols: {} }, { account: 'paper', logger });
    const alpaca = createFeedPricing({ source: 'alpaca-iex', staleAfterSeconds: 20, watch: [], venueSymbols: {}, keyId: 'k', secretKey: 's' }, { account: 'paper', logger });
    expect([binance.source, binance.staleAfterMs, alpaca.source, alpaca.staleAfterMs]).toEqual(['binance-spot-trades', 5000, 'alpaca-iex', 20_000]);
    expect(binance.stats()).toEqual({ account: 'paper', source: 'binance-spot-trades', symbols: 0, stale: 0, staleEpisodes: 0, prices: 0, malformed: 0, disconnects: 0 });
    await Promise.all([binance.stop(), alpaca.stop()]);
  });
});
