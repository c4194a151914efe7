// A paper account priced by Binance's public streams (fake servers on 127.0.0.1 speaking the real wire format): prices drive the
// paper venue's matching, the link comes back with its subscriptions, stale prices trigger nothing, bad messages are counted.
import { afterEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import { BinanceFeed } from '../../src/market/binance-feed.ts';
import { FeedPricing } from '../../src/market/feed-pricing.ts';
import { reportsFeedStats } from '../../src/market/price-feed.ts';
import { BinanceMarketStreamServer, type BinanceStreamKind } from '../fakes/price-feeds.ts';
import { until } from '../helpers/env.ts';

interface Logged { level: string; event: string; fields: Record<string, unknown> }

function recordingLogger(): { logs: Logged[]; logger: { info: (o: object) => void; warn: (o: object) => void; debug: (o: object) => void } } {
  const logs: Logged[] = [];
  const at = (level: string) => (fields: object): void => { logs.push({ level, event: String((fields as { event?: string }).event), fields: fields as Record<string, unknown> }); };
  return { logs, logger: { info: at('info'), warn: at('warn'), debug: at('debug') } };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(kind: BinanceStreamKind, options: { staleAfterMs?: number; maxConnectionMs?: number; demandHoldMs?: number; venueSymbols?: Record<string, string> } = {}) {
  const server = new BinanceMarketStreamServer(kind);
  await server.listen();
  cleanups.push(() => server.close());
  let offsetMs = 0;
  const clock = (): Date => new Date(Date.now() + offsetMs);
  const { logs, logger } = recordingLogger();
  const venue = new BinanceFeed({
    source: kind === 'usdm-mark' ? 'binance-usdm-mark' : 'binance-spot-trades', account: 'paper', url: server.url, logger,
    backoff: { initialMs: 20, maxMs: 100 }, maxConnectionMs: options.maxConnectionMs,
  });
  const pricing = new FeedPricing({
    account: 'paper', venue, staleAfterMs: options.staleAfterMs ?? 10_000, logger, clock, checkIntervalMs: 50, demandHoldMs: options.demandHoldMs ?? 60_000,
    venueSymbols: options.venueSymbols,
  });
  const broker = new PaperBroker({ name: 'paper', ledgerPath: ':memory:', startingCash: '100000', slippagePercent: '0', clock, priceFeed: pricing });
  await broker.connect();
  cleanups.push(() => broker.disconnect());
  return { server, broker, pricing, logs, advance: (ms: number) => { offsetMs += ms; } };
}

const qty = (text: string): Decimal => new Decimal(text);

async function filled(broker: PaperBroker, clientOrderId: string): Promise<{ price: string; status: string }> {
  return until(`${clientOrderId} to fill`, async () => {
    const order = await broker.getOrder({ clientOrderId });
    return order?.status === 'filled' ? { price: order.averageFillPrice?.toFixed() ?? '', status: order.status } : undefined;
  });
}

describe('a paper account priced by the Binance USD-M mark price stream', () => {
  it('subscribes on entry, fills the market entry at the feed price and fires a resting stop at the price the stream sends', async () => {
    const { server, broker } = await setup('usdm-mark');
    server.price('BTCUSDT', '60000.10');

    const entry = await broker.placeOrder({ clientOrderId: 'e1', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') });
    expect([entry.status, entry.averageFillPrice?.toFixed()]).toEqual(['filled', '60000.1']);
    expect(server.subscriptions()).toEqual([['btcusdt@markPrice@1s']]);

    const stop = await broker.placeOrder({ clientOrderId: 's1', symbol: 'BTCUSDT', side: 'sell', type: 'stop', stopPrice: qty('59000'), quantity: qty('0.1'), reduceOnly: true });
    expect(stop.status).toBe('accepted');
    server.price('BTCUSDT', '59500');
    await until('the ledger to hold 59500', async () => ((await broker.quotes(['BTCUSDT'])).get('BTCUSDT')?.last.eq('59500') ? true : undefined));
    expect((await broker.getOrder({ clientOrderId: 's1' }))?.status).toBe('accepted');

    // The mark gaps through the stop: it fills where the mark is.
    server.price('BTCUSDT', '58950.55');
    expect(await filled(broker, 's1')).toEqual({ price: '58950.55', status: 'filled' });
    expect((await broker.positions())).toEqual([]);
  });

  it('every caller asking for a new symbol waits for its first price, not only the first caller', async () => {
    const { server, broker } = await setup('usdm-mark');
    // The position loop quotes the entry's symbol while the entry itself is being placed.
    const quoted = broker.quotes(['XRPUSDT']);
    const entry = broker.placeOrder({ clientOrderId: 'e10', symbol: 'XRPUSDT', side: 'buy', type: 'market', quantity: qty('100') });
    await until('the subscription', () => (server.subscriptions()[0]?.includes('xrpusdt@markPrice@1s') ? true : undefined));
    server.price('XRPUSDT', '2.3456');
    expect((await quoted).get('XRPUSDT')?.last.toFixed()).toBe('2.3456');
    expect((await entry).averageFillPrice?.toFixed()).toBe('2.35');
  });

  it('a symbol mapped to another venue symbol is priced by it (BTCUSD from BTCUSDT)', async () => {
    const { server, broker } = await setup('usdm-mark', { venueSymbols: { BTCUSD: 'BTCUSDT' } });
    server.price('BTCUSDT', '60000.5');
    const quote = (await broker.quotes(['BTCUSD'])).get('BTCUSD');
    expect(quote?.last.toFixed()).toBe('60000.5');
    expect(server.subscriptions()).toEqual([['btcusdt@markPrice@1s']]);
  });

  it('ignores prices pushed by alerts or the admin API: only the feed prices the account', async () => {
    const { server, broker } = await setup('usdm-mark');
    server.price('ETHUSDT', '3000');
    await broker.placeOrder({ clientOrderId: 'e2', symbol: 'ETHUSDT', side: 'buy', type: 'market', quantity: qty('1') });
    await broker.placeOrder({ clientOrderId: 's2', symbol: 'ETHUSDT', side: 'sell', type: 'stop', stopPrice: qty('2900'), quantity: qty('1'), reduceOnly: true });

    expect(await broker.updatePrices(new Map([['ETHUSDT', qty('2800')]]))).toEqual([]);
    expect((await broker.quotes(['ETHUSDT'])).get('ETHUSDT')?.last.toFixed()).toBe('3000');
    expect((await broker.getOrder({ clientOrderId: 's2' }))?.status).toBe('accepted');
  });

  it('after the server drops the connection it reconnects, subscribes again, and prices flow again', async () => {
    const { server, broker, pricing } = await setup('usdm-mark');
    server.price('BTCUSDT', '60000');
    await broker.placeOrder({ clientOrderId: 'e3', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') });
    await broker.placeOrder({ clientOrderId: 's3', symbol: 'BTCUSDT', side: 'sell', type: 'stop', stopPrice: qty('59000'), quantity: qty('0.1'), reduceOnly: true });

    server.dropAll();
    await until('a second connection with the stream subscribed again', () => (server.connections.length === 2 && server.subscriptions()[0]?.includes('btcusdt@markPrice@1s') ? true : undefined));
    // A venue that ends the session with a close frame (Binance's 24 h limit) is reconnected to as well.
    server.closeAll(1000);
    await until('a third connection subscribed again', () => (server.connections.length === 3 && server.subscriptions()[0]?.includes('btcusdt@markPrice@1s') ? true : undefined));
    expect(pricing.stats().disconnects).toBe(2);

    server.price('BTCUSDT', '58000');
    expect(await filled(broker, 's3')).toEqual({ price: '58000', status: 'filled' });
  });

  it('recycles the connection before Binance\'s 24 h limit, keeping the subscriptions', async () => {
    const { server, broker } = await setup('usdm-mark', { maxConnectionMs: 300 });
    server.price('BTCUSDT', '60000');
    await broker.placeOrder({ clientOrderId: 'e4', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') });
    await until('a recycled connection subscribed again', () => (server.connections.length >= 2 && server.subscriptions()[0]?.includes('btcusdt@markPrice@1s') ? true : undefined));
  });

  it('a stale price fires nothing and refuses market orders stale_quote; the warning is logged once per episode and counted', async () => {
    const { server, broker, pricing, logs, advance } = await setup('usdm-mark', { staleAfterMs: 10_000 });
    server.price('BTCUSDT', '60000');
    await broker.placeOrder({ clientOrderId: 'e5', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') });

    advance(15_000);
    await until('the stale warning', () => (logs.some((l) => l.event === 'feed.stale') ? true : undefined));
    // A stop already through the last price would fill at once on a fresh one; on a stale one it rests.
    const stop = await broker.placeOrder({ clientOrderId: 's5', symbol: 'BTCUSDT', side: 'sell', type: 'stop', stopPrice: qty('60100'), quantity: qty('0.1'), reduceOnly: true });
    expect(stop.status).toBe('accepted');
    await expect(broker.placeOrder({ clientOrderId: 'm5', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') })).rejects.toThrow(/^stale_quote: .*BTCUSDT is 15 s old/);

    advance(5_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(logs.filter((l) => l.event === 'feed.stale')).toHaveLength(1);
    expect(logs.find((l) => l.event === 'feed.stale')?.fields).toMatchObject({ symbol: 'BTCUSDT', source: 'binance-usdm-mark', staleAfterSeconds: 10 });
    expect(pricing.stats()).toMatchObject({ staleEpisodes: 1, stale: 1, symbols: 1 });
    expect((await broker.getOrder({ clientOrderId: 's5' }))?.status).toBe('accepted');

    // A fresh price ends the episode and the stop fires on it.
    server.price('BTCUSDT', '60050');
    expect(await filled(broker, 's5')).toEqual({ price: '60050', status: 'filled' });
    expect(logs.filter((l) => l.event === 'feed.fresh')).toHaveLength(1);
    expect(pricing.stats()).toMatchObject({ staleEpisodes: 1, stale: 0 });

    // A second silence is a second episode.
    server.price('BTCUSDT', '60000');
    await until('the ledger to hold 60000', async () => ((await broker.quotes(['BTCUSDT'])).get('BTCUSDT')?.last.eq('60000') ? true : undefined));
    await broker.placeOrder({ clientOrderId: 'l5', symbol: 'BTCUSDT', side: 'buy', type: 'limit', limitPrice: qty('50000'), quantity: qty('0.1') });
    advance(15_000);
    await until('a second stale episode', () => (pricing.stats().staleEpisodes === 2 ? true : undefined));
    expect(logs.filter((l) => l.event === 'feed.stale')).toHaveLength(2);
  });

  it('a stale feed holds no exit hostage: a closing market order fills at the last price, an opening one is refused', async () => {
    const { server, broker, advance } = await setup('usdm-mark', { staleAfterMs: 10_000 });
    server.price('BTCUSDT', '60000');
    await broker.placeOrder({ clientOrderId: 'e9', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.2') });
    advance(15_000);
    await expect(broker.placeOrder({ clientOrderId: 'm9', symbol: 'BTCUSDT', side: 'sell', type: 'market', quantity: qty('0.3') })).rejects.toThrow(/^stale_quote: /);
    const partial = await broker.placeOrder({ clientOrderId: 'x9', symbol: 'BTCUSDT', side: 'sell', type: 'market', quantity: qty('0.1') });
    expect([partial.status, partial.averageFillPrice?.toFixed()]).toEqual(['filled', '60000']);
    const close = await broker.closePosition('BTCUSDT', 'c9');
    expect([close.status, close.averageFillPrice?.toFixed()]).toEqual(['filled', '60000']);
  });

  it('a malformed message is ignored and counted, the connection stays, and the next good price is taken', async () => {
    const { server, broker, pricing } = await setup('usdm-mark');
    server.price('BTCUSDT', '60000');
    await broker.placeOrder({ clientOrderId: 'e6', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') });

    server.sendRaw('not json at all');
    server.sendRaw(JSON.stringify({ e: 'markPriceUpdate', E: 1, s: 'BTCUSDT', p: '12abc' }));
    server.sendRaw(JSON.stringify({ e: 'markPriceUpdate', E: 1, s: 'BTCUSDT', p: '-5' }));
    server.sendRaw(JSON.stringify({ e: 'somethingElse', s: 'BTCUSDT' }));
    server.price('BTCUSDT', '61000.25');
    await until('the good price', async () => ((await broker.quotes(['BTCUSDT'])).get('BTCUSDT')?.last.eq('61000.25') ? true : undefined));
    expect(pricing.stats()).toMatchObject({ malformed: 4, disconnects: 0 });
    // What /metrics reads, through the broker.
    expect(reportsFeedStats(broker) && broker.feedStats()).toMatchObject({ account: 'paper', source: 'binance-usdm-mark', malformed: 4, symbols: 1 });
    expect(server.connections).toHaveLength(1);
  });

  it('unsubscribes once the account is flat in the symbol', async () => {
    const { server, broker } = await setup('usdm-mark', { demandHoldMs: 0 });
    server.price('SOLUSDT', '150');
    await broker.placeOrder({ clientOrderId: 'e7', symbol: 'SOLUSDT', side: 'buy', type: 'market', quantity: qty('1') });
    await broker.placeOrder({ clientOrderId: 's7', symbol: 'SOLUSDT', side: 'sell', type: 'stop', stopPrice: qty('140'), quantity: qty('1'), reduceOnly: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.subscriptions()).toEqual([['solusdt@markPrice@1s']]);

    server.price('SOLUSDT', '139');
    await filled(broker, 's7');
    await until('the unsubscribe', () => (server.subscriptions()[0]?.length === 0 ? true : undefined));
    expect(server.received).toContainEqual({ method: 'UNSUBSCRIBE', params: ['solusdt@markPrice@1s'], id: expect.any(Number) as number });
  });
});

describe('a paper account priced by Binance spot trades', () => {
  it('a wick through the stop inside one batch of trades still fires it, at the wick', async () => {
    const { server, broker } = await setup('spot-trades');
    const entry = broker.placeOrder({ clientOrderId: 'e8', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: qty('0.1') });
    await until('the trade stream subscribed', () => (server.subscriptions()[0]?.includes('btcusdt@trade') ? true : undefined));
    server.price('BTCUSDT', '60000');
    expect((await entry).averageFillPrice?.toFixed()).toBe('60000');
    await broker.placeOrder({ clientOrderId: 's8', symbol: 'BTCUSDT', side: 'sell', type: 'stop', stopPrice: qty('59000'), quantity: qty('0.1'), reduceOnly: true });

    server.price('BTCUSDT', '59500');
    server.price('BTCUSDT', '58900.5');
    server.price('BTCUSDT', '59600');
    expect(await filled(broker, 's8')).toEqual({ price: '58900.5', status: 'filled' });
    expect((await broker.quotes(['BTCUSDT'])).get('BTCUSDT')?.last.toFixed()).toBe('59600');
  });
});
