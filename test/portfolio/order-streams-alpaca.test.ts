// The daemon with an Alpaca account and its trade_updates stream on a local server: a bracket's stop fill on the stream is
// booked at once (the loop's own interval is an hour, so only the stream can explain it).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { AlpacaStreamServer } from '../fakes/venue-streams.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';
import { useMswServer } from '../helpers/msw.ts';

const SECRET = 'alpaca-streams-Secret-7a01c3';
const keys = { keyId: 'PKSTREAM000000000001', secretKey: 'alpaca-streams-secret-key-e5d4c3' };
const fake = new AlpacaFake(keys);
useMswServer(...fake.handlers);
const server = new AlpacaStreamServer(keys);

const config = (streamUrl: string) => `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 3600000
accounts:
  alpaca: { broker: alpaca, environment: paper, keyId: "\${ALPACA_KEY_ID}", secretKey: "\${ALPACA_SECRET_KEY}", streamUrl: "${streamUrl}" }
strategies:
  default:
    account: alpaca
    sizing: { mode: fixed_quantity, value: 3 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-alpaca-streams');
const prefix = uniquePrefix('alpaca-streams');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;

beforeAll(async () => {
  await server.listen();
  fake.reset();
  fake.setPrice('AAPL', '100');
  writeFileSync(join(dir.path, 'tradewire.yaml'), config(server.url));
  daemon = await startDaemon({
    TRADEWIRE_EXECUTION: 'inline', // msw answers for the venue in this thread only
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET, ALPACA_KEY_ID: keys.keyId, ALPACA_SECRET_KEY: keys.secretKey,
  }, createLogger({ level: process.env.E2E_LOG ?? 'silent', pretty: false }));
  journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
});

afterAll(async () => {
  await daemon?.stop();
  journal?.close();
  await server.close();
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

const closed = () => journal?.prepare(
  `SELECT c.exit_reason, c.exit_price FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'AAPL'`,
).get() as { exit_reason: string; exit_price: string } | undefined;

describe('order streams in the daemon (Alpaca)', () => {
  it('a bracket stop filled on the stream closes the position in the journal at once', async () => {
    await until('the trade_updates subscription', () => (server.listeners === 1 ? true : undefined));
    expect(server.received).toContainEqual({ action: 'auth', key: keys.keyId, secret: keys.secretKey });

    const response = await fetch(`${daemon?.url}/webhook`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: SECRET, id: 'alpaca-streams-1', ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' }),
    });
    expect(response.status).toBe(202);
    const stop = await until('the bracket to rest', () => fake.allOrders().find((o) => o.type === 'stop' && o.status === 'new'));

    fake.setPrice('AAPL', '97.5');
    expect(fake.order(stop.id)?.status).toBe('filled');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(closed()).toBeUndefined(); // no tick is due: nothing has looked yet

    const wire = await (await fetch(`${fake.baseUrl}/v2/orders/${stop.id}`, { headers: { 'APCA-API-KEY-ID': keys.keyId, 'APCA-API-SECRET-KEY': keys.secretKey } })).json() as unknown;
    expect(server.tradeUpdate('fill', wire, { price: '97.5', qty: '3', position_qty: '0' })).toBe(1);
    const booked = await until('the close to be booked', closed, 5_000);
    expect(booked.exit_reason).toBe('stop_loss');
  });
});
