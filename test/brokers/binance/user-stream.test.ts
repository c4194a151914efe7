// The Binance USD-M user data stream against a local WebSocket server and the REST fake's listenKey endpoints.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import type { OrderStream, StreamEvent } from '../../../src/brokers/order-stream.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import { BinanceStreamServer } from '../../fakes/venue-streams.ts';
import { until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const fake = new BinanceFake();
useMswServer(...fake.handlers);
const server = new BinanceStreamServer(fake);
beforeAll(() => server.listen());
afterAll(() => server.close());

const logs: Array<Record<string, unknown>> = [];
const logger = createLogger({ level: 'debug', destination: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });

interface Running {
  stream: OrderStream;
  events: StreamEvent[];
  connects: number;
}
let running: Running | undefined;

function start(options: { keepaliveMs?: number; apiKey?: string } = {}): Running {
  const broker = new BinanceUsdmBroker({
    name: 'futures', environment: 'testnet', apiKey: options.apiKey ?? FAKE_API_KEY, apiSecret: FAKE_API_SECRET, baseUrl: FAKE_BASE_URL,
    streamUrl: server.url, keepaliveMs: options.keepaliveMs, logger,
  });
  const stream = broker.orderStream({ logger, backoff: { initialMs: 20, maxMs: 200 } });
  if (!stream) throw new Error('no stream');
  const run: Running = { stream, events: [], connects: 0 };
  stream.start({ onEvent: (e) => run.events.push(e), onConnected: () => { run.connects += 1; } });
  running = run;
  return run;
}

const listenKeyCalls = (method: string) => fake.requests.filter((r) => r.path === '/fapi/v1/listenKey' && r.method === method);

afterEach(async () => {
  await running?.stream.stop();
  running = undefined;
  logs.length = 0;
});

describe('the Binance USD-M user data stream', () => {
  it('asks for a listenKey with the API key alone, connects to /ws/<listenKey> and reads ORDER_TRADE_UPDATE, ALGO_UPDATE and ACCOUNT_UPDATE', async () => {
    const before = listenKeyCalls('POST').length;
    const run = start();
    await until('the stream to connect', () => (run.connects === 1 && server.open.length === 1 ? true : undefined));
    const post = listenKeyCalls('POST').slice(before);
    expect(post).toHaveLength(1);
    expect(post[0]?.authenticated).toBe(true);
    // USER_STREAM security: no timestamp, no signature.
    expect(post[0]?.params).toEqual({});

    server.orderTradeUpdate({ symbol: 'BTCUSDT', clientOrderId: 'tw-entry-1', orderId: 8100000001, side: 'BUY', type: 'LIMIT', quantity: '0.300',
      execution: 'TRADE', status: 'PARTIALLY_FILLED', lastFilled: '0.100', filled: '0.100', averagePrice: '60000.10' });
    server.send({
      e: 'ALGO_UPDATE', T: 1, E: 1_764_900_000_000,
      o: { caid: 'tw-stop-1', aid: 2146760, at: 'CONDITIONAL', o: 'STOP_MARKET', s: 'BTCUSDT', S: 'SELL', ps: 'BOTH', f: 'GTC', q: '0.300', X: 'FINISHED',
        ai: '8100000002', ap: '58800.00', aq: '0.300', act: 'MARKET', tp: '58800', p: '0', V: 'EXPIRE_MAKER', wt: 'MARK_PRICE', pm: 'NONE', cp: false, pP: false, R: true, tt: 1, gtd: 0 },
    });
    server.accountUpdate('BTCUSDT', '-0.001', 'ADL');
    await until('three events', () => (run.events.length >= 3 ? true : undefined));

    const [order, algo, position] = run.events;
    expect(order).toMatchObject({ kind: 'order', clientOrderId: 'tw-entry-1', orderId: '8100000001', symbol: 'BTCUSDT', status: 'partially_filled', event: 'ORDER_TRADE_UPDATE/TRADE' });
    expect(order?.kind === 'order' && order.filledQuantity.toFixed()).toBe('0.1');
    expect(algo).toMatchObject({ kind: 'order', clientOrderId: 'tw-stop-1', orderId: 'algo-2146760', status: 'filled', event: 'ALGO_UPDATE/FINISHED' });
    expect(algo?.kind === 'order' && algo.filledQuantity.toFixed()).toBe('0.3');
    expect(position).toMatchObject({ kind: 'position', symbol: 'BTCUSDT', reason: 'ADL' });
    expect(position?.kind === 'position' && position.quantity.toFixed()).toBe('-0.001');
  });

  it('keeps the listenKey alive with PUT on its interval, and deletes it on stop', async () => {
    const puts = listenKeyCalls('PUT').length;
    const run = start({ keepaliveMs: 60 });
    await until('the stream to connect', () => (run.connects === 1 ? true : undefined));
    await until('two keepalives', () => (listenKeyCalls('PUT').length - puts >= 2 ? true : undefined));
    const sent = listenKeyCalls('PUT').slice(puts);
    expect(sent.every((r) => r.authenticated)).toBe(true);
    // The key stayed the same: no reconnect was needed.
    expect(run.connects).toBe(1);
    expect(fake.activeListenKey()).toBeDefined();

    await run.stream.stop();
    running = undefined;
    expect(listenKeyCalls('DELETE').at(-1)?.authenticated).toBe(true);
    expect(fake.activeListenKey()).toBeUndefined();
  });

  it('on listenKeyExpired gets a new key and connects again with it (and the caller is told to resync)', async () => {
    const run = start();
    await until('the stream to connect', () => (run.connects === 1 ? true : undefined));
    const first = fake.activeListenKey() as string;
    const posts = listenKeyCalls('POST').length;

    // Binance lets the key lapse, says so on the socket, and closes it.
    fake.expireListenKey();
    server.listenKeyExpired(first);

    await until('a second connection', () => (run.connects === 2 ? true : undefined));
    expect(listenKeyCalls('POST').length).toBe(posts + 1);
    const second = fake.activeListenKey();
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(server.open).toHaveLength(1);
    expect(logs.some((l) => l.event === 'stream.dropping' && String(l.reason).includes('listenKey expired'))).toBe(true);
  });

  it('a keepalive answered -1125 (key unknown) gets a new key and a new connection', async () => {
    const run = start({ keepaliveMs: 80 });
    await until('the stream to connect', () => (run.connects === 1 ? true : undefined));
    const first = fake.activeListenKey();
    fake.expireListenKey(); // lapsed at Binance without a word on the socket
    await until('a second connection', () => (run.connects === 2 ? true : undefined));
    expect(fake.activeListenKey()).not.toBe(first);
  });

  it('reconnects with backoff after a dropped connection, telling the caller to resync each time', async () => {
    const run = start();
    await until('the stream to connect', () => (run.connects === 1 ? true : undefined));
    server.dropAll();
    await until('a reconnect', () => (run.connects === 2 ? true : undefined));
    server.dropAll();
    await until('another reconnect', () => (run.connects === 3 ? true : undefined));
    const waits = logs.filter((l) => l.event === 'stream.reconnecting').map((l) => l.waitMs as number);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits.every((w) => w >= 2 && w <= 200)).toBe(true);
    // The same key was still live: asked for again (POST answers the live one), not replaced.
    expect(server.open).toHaveLength(1);
  });

  it('logs and ignores a malformed message and keeps going', async () => {
    const run = start();
    await until('the stream to connect', () => (run.connects === 1 ? true : undefined));
    server.send('{not json');
    server.send({ e: 'ORDER_TRADE_UPDATE', E: 1, o: { s: 'BTCUSDT', c: 'x', S: 'BUY', o: 'MARKET', q: '1.5e400', x: 'TRADE', X: 'FILLED', i: 1, l: 1.1, z: '1' } });
    server.send({ e: 'SOMETHING_NEW', E: 1 });
    server.accountUpdate('ETHUSDT', '0');
    await until('the valid event after the bad ones', () => (run.events.length === 1 ? true : undefined));
    expect(run.events[0]).toMatchObject({ kind: 'position', symbol: 'ETHUSDT' });
    expect(logs.filter((l) => l.event === 'stream.message_invalid')).toHaveLength(3);
    expect(run.connects).toBe(1);
  });

  it('a handler that throws on one event is logged; the stream stays up and delivers the next', async () => {
    const run = start();
    await until('the stream to connect', () => (run.connects === 1 ? true : undefined));
    await run.stream.stop();
    const seen: StreamEvent[] = [];
    let connects = 0;
    run.stream.start({
      onEvent: (e) => {
        if (e.symbol === 'BOOM') throw new Error('the handler broke');
        seen.push(e);
      },
      onConnected: () => { connects += 1; },
    });
    await until('the stream to connect again', () => (connects === 1 && server.open.length === 1 ? true : undefined));
    server.accountUpdate('BOOM', '1');
    server.accountUpdate('ETHUSDT', '1');
    await until('the event after the failing one', () => seen[0]);
    expect(seen).toHaveLength(1);
    expect(logs.some((l) => l.event === 'stream.message_failed' && l.err === 'the handler broke')).toBe(true);
    expect(connects).toBe(1);
  });

  it('a refused API key is retried with backoff, never in a tight loop, and never logged', async () => {
    const run = start({ apiKey: 'not-the-key-9d2' });
    await until('three failed attempts', () => (logs.filter((l) => l.event === 'stream.reconnecting').length >= 3 ? true : undefined));
    expect(run.connects).toBe(0);
    expect(JSON.stringify(logs)).not.toContain('not-the-key-9d2');
  });
});
