// A paper account priced by Alpaca's IEX market data (a fake stream on 127.0.0.1, msw for the latest-trade REST call): the keys
// authenticate the stream, a first price comes over REST, trades drive the paper venue, exact to the last digit.
import { afterEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import { AlpacaIexFeed } from '../../src/market/alpaca-feed.ts';
import { FeedPricing } from '../../src/market/feed-pricing.ts';
import { AlpacaDataStreamServer, alpacaLatestTradeHandlers } from '../fakes/price-feeds.ts';
import { until } from '../helpers/env.ts';
import { useMswServer } from '../helpers/msw.ts';

const KEYS = { keyId: 'PKFEEDTEST0001', secretKey: 'feed-test-Secret-9a8b7c' };
const REST = 'https://data.alpaca.markets';
const latest = new Map<string, { price: string; time: Date }>();
const restCalls: URL[] = [];
useMswServer(...alpacaLatestTradeHandlers(REST, KEYS, latest, restCalls));

interface Logged { level: string; fields: Record<string, unknown> }
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  latest.clear();
  restCalls.length = 0;
});

async function setup(keys = KEYS) {
  const server = new AlpacaDataStreamServer(KEYS);
  await server.listen();
  cleanups.push(() => server.close());
  const logs: Logged[] = [];
  const at = (level: string) => (fields: object): void => { logs.push({ level, fields: fields as Record<string, unknown> }); };
  const logger = { info: at('info'), warn: at('warn'), debug: at('debug'), trace: at('trace') };
  const venue = new AlpacaIexFeed({ account: 'stocks', ...keys, streamUrl: server.url, logger, backoff: { initialMs: 20, maxMs: 100 } });
  const pricing = new FeedPricing({ account: 'stocks', venue, staleAfterMs: 30_000, logger, checkIntervalMs: 50, firstPriceWaitMs: 500 });
  const broker = new PaperBroker({ name: 'stocks', ledgerPath: ':memory:', startingCash: '100000', slippagePercent: '0', priceFeed: pricing });
  await broker.connect();
  cleanups.push(() => broker.disconnect());
  return { server, broker, pricing, logs };
}

const qty = (text: string): Decimal => new Decimal(text);

describe('a paper account priced by Alpaca IEX trades', () => {
  it('authenticates, takes a first price from the latest trade over REST, subscribes, and fires a stop at a streamed trade', async () => {
    const { server, broker } = await setup();
    latest.set('AAPL', { price: '187.123456789012345678', time: new Date() });

    const quote = (await broker.quotes(['AAPL'])).get('AAPL');
    // A JSON number with more digits than a double holds arrives exact.
    expect(quote?.last.toFixed()).toBe('187.123456789012345678');
    expect(restCalls.map((u) => [u.pathname, u.searchParams.get('symbols'), u.searchParams.get('feed')])).toEqual([['/v2/stocks/trades/latest', 'AAPL', 'iex']]);
    await until('the trades subscription', () => (server.subscriptions()[0]?.includes('AAPL') ? true : undefined));
    expect(server.received.slice(0, 2)).toEqual([{ action: 'auth', key: KEYS.keyId, secret: KEYS.secretKey }, { action: 'subscribe', trades: ['AAPL'] }]);

    await broker.placeOrder({ clientOrderId: 'buy-aapl', symbol: 'AAPL', side: 'buy', type: 'market', quantity: qty('10') });
    await broker.placeOrder({ clientOrderId: 'stop-aapl', symbol: 'AAPL', side: 'sell', type: 'stop', stopPrice: qty('185'), quantity: qty('10'), reduceOnly: true });
    server.trade('AAPL', '186.5');
    server.trade('AAPL', '184.99');
    const stop = await until('the stop to fill', async () => {
      const order = await broker.getOrder({ clientOrderId: 'stop-aapl' });
      return order?.status === 'filled' ? order : undefined;
    });
    expect(stop.averageFillPrice?.toFixed()).toBe('184.99');
  });

  it('a latest trade older than staleAfterSeconds is no first price: the market entry is refused', async () => {
    const { broker, server } = await setup();
    latest.set('MSFT', { price: '410.5', time: new Date(Date.now() - 3_600_000) });
    expect((await broker.quotes(['MSFT'])).get('MSFT')).toBeUndefined();
    // Watched now: asking again (the position loop every second) neither waits nor calls REST again.
    expect((await broker.quotes(['MSFT'])).get('MSFT')).toBeUndefined();
    expect(restCalls).toHaveLength(1);
    await expect(broker.placeOrder({ clientOrderId: 'buy-msft', symbol: 'MSFT', side: 'buy', type: 'market', quantity: qty('1') })).rejects.toThrow(/no price for MSFT yet/);
    // Once the market trades, it is priced.
    await until('the trades subscription', () => (server.subscriptions()[0]?.includes('MSFT') ? true : undefined));
    server.trade('MSFT', '411.25');
    await until('the streamed price', async () => ((await broker.quotes(['MSFT'])).get('MSFT')?.last.eq('411.25') ? true : undefined));
  });

  it('refused keys: the refusal is logged without the keys, and the stream retries with backoff instead of pricing', async () => {
    const { server, broker, pricing, logs } = await setup({ keyId: 'PKWRONG', secretKey: 'wrong-Secret-123' });
    await broker.quotes(['AAPL']);
    await until('a second attempt', () => (server.connections.length >= 2 ? true : undefined));
    expect(logs.some((l) => l.fields.event === 'feed.refused' && l.fields.code === 402)).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('wrong-Secret-123');
    expect(server.subscriptions().flat()).toEqual([]);
    expect(pricing.stats().disconnects).toBeGreaterThanOrEqual(1);
  });

  it('after a drop it authenticates and subscribes again; malformed frames are counted and ignored', async () => {
    const { server, broker, pricing } = await setup();
    latest.set('SPY', { price: '600', time: new Date() });
    await broker.quotes(['SPY']);
    await until('the trades subscription', () => (server.subscriptions()[0]?.includes('SPY') ? true : undefined));
    server.dropAll();
    await until('a new connection subscribed to SPY', () => (server.connections.length === 2 && server.subscriptions()[0]?.includes('SPY') ? true : undefined));

    server.sendRaw('{"T":"t"}');
    server.sendRaw('[{"T":"t","S":"SPY","p":"abc","t":"2026-12-05T15:00:00Z"}]');
    server.sendRaw('[{"T":"t","S":"SPY","p":601,"t":"not a time"}]');
    server.trade('SPY', '601.07');
    await until('the streamed price', async () => ((await broker.quotes(['SPY'])).get('SPY')?.last.eq('601.07') ? true : undefined));
    expect(pricing.stats()).toMatchObject({ malformed: 3, disconnects: 1 });
  });
});
