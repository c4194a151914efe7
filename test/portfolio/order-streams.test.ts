// The daemon with a Binance USD-M account and its user data stream: a protective leg's fill event makes the position loop
// cancel its sibling at once (the loop's own interval is an hour, so only the stream can explain it), and a stream that
// was down resyncs by REST when it is back.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { BinanceStreamServer } from '../fakes/venue-streams.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';
import { useMswServer } from '../helpers/msw.ts';

const SECRET = 'streams-e2e-Secret-58c0d2';
const fake = new BinanceFake({ wallet: '100000' });
useMswServer(...fake.handlers);
const server = new BinanceStreamServer(fake);

const config = (streamUrl: string) => `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 3600000
accounts:
  futures:
    broker: binance-usdm
    environment: testnet
    baseUrl: "${FAKE_BASE_URL}"
    streamUrl: "${streamUrl}"
    apiKey: "\${BINANCE_API_KEY}"
    apiSecret: "\${BINANCE_API_SECRET}"
    leverage: 5
strategies:
  default:
    account: futures
    sizing: { mode: fixed_quantity, value: 0.2 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-streams-e2e');
const prefix = uniquePrefix('streams-e2e');
const logs: Array<Record<string, unknown>> = [];
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;

beforeAll(async () => {
  await server.listen();
  writeFileSync(join(dir.path, 'tradewire.yaml'), config(server.url));
  daemon = await startDaemon({
    TRADEWIRE_EXECUTION: 'inline', // msw answers for the venue in this thread only
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET, BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: FAKE_API_SECRET,
  }, createLogger({ level: 'debug', pretty: false, destination: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } }));
  journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
});

afterAll(async () => {
  await daemon?.stop();
  journal?.close();
  await server.close();
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

const ticks = () => logs.filter((l) => l.event === 'positions.stream_update').length;

/** Sends an entry alert and returns the position's stop and target algo orders once they rest at the fake. */
async function enter(symbol: string, price: string, id: string): Promise<{ stop: string; target: string }> {
  fake.setPrice(symbol, price);
  const response = await fetch(`${daemon?.url}/webhook`, {
    method: 'POST', headers: { 'content-type': 'text/plain' },
    body: JSON.stringify({ passphrase: SECRET, ticker: `BINANCE:${symbol}.P`, action: 'buy', sentiment: 'long', price, id }),
  });
  expect(response.status).toBe(202);
  const legs = await until(`the protection of ${symbol}`, () => {
    const rows = journal?.prepare(`SELECT leg, client_order_id AS id FROM executed_orders WHERE symbol = ? AND leg IN ('stop', 'target')`).all(symbol) as Array<{ leg: string; id: string }> | undefined;
    return rows && rows.length === 2 && rows.every((r) => fake.algoOrder(r.id)?.algoStatus === 'NEW') ? rows : undefined;
  });
  return { stop: legs.find((l) => l.leg === 'stop')?.id as string, target: legs.find((l) => l.leg === 'target')?.id as string };
}

const closedReason = (symbol: string) => (journal?.prepare(
  `SELECT c.exit_reason FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = ?`,
).get(symbol) as { exit_reason: string } | undefined)?.exit_reason;

describe('order streams in the daemon (Binance USD-M)', () => {
  it('a target fill on the stream cancels the stop at once and books the close, with no loop tick due for an hour', async () => {
    await until('the user data stream', () => (server.open.length === 1 ? true : undefined));
    const { stop, target } = await enter('BTCUSDT', '60000', 'streams-1');

    fake.setPrice('BTCUSDT', '62500');
    expect(fake.algoOrder(target)?.algoStatus).not.toBe('NEW');
    // Nothing but the stream can notice: without its event the stop keeps resting.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(fake.algoOrder(stop)?.algoStatus).toBe('NEW');
    expect(closedReason('BTCUSDT')).toBeUndefined();

    const started = Date.now();
    expect(server.algoUpdate(fake.algoOrder(target) as NonNullable<ReturnType<BinanceFake['algoOrder']>>, '0.2', '62500')).toBe(1);
    await until('the stop to be cancelled', () => (fake.algoOrder(stop)?.algoStatus === 'CANCELED' ? true : undefined), 5_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await until('the close to be booked', () => closedReason('BTCUSDT'))).toBe('take_profit');
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });

  it('a resting limit entry filled on the stream gets its stop and target at once', async () => {
    fake.setPrice('BTCUSDT', '60000');
    const response = await fetch(`${daemon?.url}/webhook`, {
      method: 'POST', headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ passphrase: SECRET, ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', price: '60000', orderType: 'limit', limitPrice: '59000', id: 'streams-3' }),
    });
    expect(response.status).toBe(202);
    const entry = await until('the limit entry to rest', () => journal?.prepare(
      `SELECT client_order_id AS id, broker_order_id AS orderId FROM executed_orders WHERE symbol = 'BTCUSDT' AND leg = 'entry' AND status = 'accepted'`,
    ).get() as { id: string; orderId: string } | undefined);
    const algos = fake.openAlgoOrders().length;

    fake.setPrice('BTCUSDT', '58990');
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.2');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(fake.openAlgoOrders()).toHaveLength(algos); // filled, and unprotected until someone looks

    server.orderTradeUpdate({ symbol: 'BTCUSDT', clientOrderId: entry.id, orderId: entry.orderId, side: 'BUY', type: 'LIMIT', quantity: '0.2',
      execution: 'TRADE', status: 'FILLED', lastFilled: '0.2', filled: '0.2', averagePrice: '59000' });
    await until('the stop and target to rest', () => (fake.openAlgoOrders().filter((a) => a.symbol === 'BTCUSDT').length === 2 ? true : undefined), 5_000);
    expect(fake.openAlgoOrders().filter((a) => a.symbol === 'BTCUSDT').map((a) => a.orderType).sort()).toEqual(['STOP_MARKET', 'TAKE_PROFIT_MARKET']);
  });

  it('a stream that was down resyncs by REST when it connects again: the fill it missed is acted on then', async () => {
    const { stop, target } = await enter('ETHUSDT', '3000', 'streams-2');
    const updatesBefore = ticks();

    // The venue becomes unreachable; while the stream is down the stop fires and nobody is told.
    server.refusing = true;
    server.dropAll();
    await until('the stream to be down', () => (server.open.length === 0 && server.refused > 0 ? true : undefined));
    fake.setPrice('ETHUSDT', '2900');
    expect(fake.algoOrder(stop)?.algoStatus).not.toBe('NEW');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.algoOrder(target)?.algoStatus).toBe('NEW');

    server.refusing = false;
    await until('the stream to be back', () => (server.open.length === 1 ? true : undefined), 10_000);
    await until('the target to be cancelled', () => (fake.algoOrder(target)?.algoStatus === 'CANCELED' ? true : undefined), 5_000);
    expect(await until('the close to be booked', () => closedReason('ETHUSDT'))).toBe('stop_loss');
    expect(ticks()).toBeGreaterThan(updatesBefore);
    expect(logs.some((l) => l.event === 'stream.resync')).toBe(true);
    // Reconnecting waited: a backoff was logged for each refused attempt.
    expect(logs.filter((l) => l.event === 'stream.reconnecting').length).toBeGreaterThanOrEqual(1);
  });
});
