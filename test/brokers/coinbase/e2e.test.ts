// End to end at Coinbase: an alert over HTTP → Redis → the executor → the JWT-signed calls the Coinbase fake receives, and the closes it journals.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { CoinbaseFake, FAKE_COINBASE_URL } from '../../fakes/coinbase.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const SECRET = 'coinbase-e2e-Secret-7a41c9';
const fake = new CoinbaseFake({ usd: '10000' });
useMswServer(...fake.handlers);

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 100
accounts:
  coinbase:
    broker: coinbase
    live: true
    keyName: "\${COINBASE_KEY_NAME}"
    privateKey: "\${COINBASE_PRIVATE_KEY}"
    baseUrl: "${FAKE_COINBASE_URL}"
strategies:
  default:
    account: coinbase
    sizing: { mode: fixed_quantity, value: 0.01 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-coinbase-e2e');
const prefix = uniquePrefix('coinbase-e2e');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;
let counter = 0;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'tradewire.yaml'), CONFIG);
  daemon = await startDaemon({
    TRADEWIRE_EXECUTION: 'inline', // msw answers for the venue in this thread only
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET,
    // As an environment usually carries a PEM: on one line, its line breaks written as \n.
    COINBASE_KEY_NAME: fake.keyName, COINBASE_PRIVATE_KEY: fake.privateKeyPem.trim().replace(/\n/g, '\\n'),
  }, createLogger({ level: process.env.E2E_LOG ?? 'silent', pretty: false }));
  journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
});

afterAll(async () => {
  await daemon?.stop();
  journal?.close();
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

beforeEach(() => { fake.requests = []; });

async function signal(alert: Record<string, unknown>): Promise<{ status: string; reason: string | null }> {
  counter += 1;
  const response = await fetch(`${daemon?.url}/webhook`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ passphrase: SECRET, id: `coinbase-e2e-${counter}`, ...alert }),
  });
  const body = await response.json() as { signalId?: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(body.signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

/** The calls that change something at Coinbase, in order. */
const trading = (): string[] => fake.calls().filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);

function positionOf(symbol: string): { status: string; exit_reason: string | null; exit_price: string | null; protection: string | null } | undefined {
  return journal?.prepare(`SELECT p.status, p.protection, c.exit_reason, c.exit_price FROM positions p LEFT JOIN closed_positions c ON c.position_id = p.id
    WHERE p.symbol = ? ORDER BY p.opened_at DESC`).get(symbol) as { status: string; exit_reason: string | null; exit_price: string | null; protection: string | null } | undefined;
}

describe('an alert traded at Coinbase', () => {
  it('the entry goes out with its stop and target attached as one trigger bracket; when the target fills the journal books the close and nothing more is sent', async () => {
    fake.setPrice('BTC-USD', '60000');
    const outcome = await signal({ ticker: 'COINBASE:BTCUSD', action: 'buy', sentiment: 'long', price: '60000' });
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'executed' });
    expect(trading()).toEqual(['POST /orders']);
    const entry = fake.calls('POST', '/orders')[0];
    expect(entry?.body).toEqual({
      client_order_id: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) as unknown, product_id: 'BTC-USD', side: 'BUY',
      order_configuration: { market_market_ioc: { base_size: '0.01' } },
      attached_order_configuration: { trigger_bracket_gtc: { limit_price: '62400', stop_trigger_price: '58800' } },
    });
    // Every call carried its own token, bound to its method and path, and the fake verified each with the key's public half.
    expect(fake.requests.every((r) => r.authenticated)).toBe(true);
    expect(entry?.claims).toMatchObject({ iss: 'cdp', sub: fake.keyName, uri: 'POST api.coinbase.com/api/v3/brokerage/orders' });
    const nonces = new Set(fake.requests.map((r) => r.header?.nonce));
    expect(nonces.size).toBe(fake.requests.length);
    expect(fake.balance('BTC').toFixed()).toBe('0.01');
    expect(positionOf('BTCUSD')).toMatchObject({ status: 'open', protection: 'native' });

    fake.setPrice('BTC-USD', '62500');
    const closed = await until('the position to close', () => { const p = positionOf('BTCUSD'); return p?.status === 'closed' ? p : undefined; });
    expect(closed).toMatchObject({ exit_reason: 'take_profit', exit_price: '62500' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few loop ticks: Coinbase ended the stop itself
    expect(trading()).toEqual(['POST /orders']);
    expect(fake.balance('BTC').toFixed()).toBe('0');
    const legs = journal?.prepare(`SELECT o.leg, o.status FROM executed_orders o JOIN positions p ON p.id = o.position_id
      WHERE p.symbol = 'BTCUSD' AND o.leg IN ('stop', 'target') ORDER BY o.leg`).all();
    expect(legs).toEqual([{ leg: 'stop', status: 'cancelled' }, { leg: 'target', status: 'filled' }]);
  });

  it('an exit cancels the bracket (one batch_cancel for both exits) before it sells what is held', async () => {
    fake.setPrice('ETH-USD', '3000');
    expect(await signal({ ticker: 'COINBASE:ETHUSD', action: 'buy', sentiment: 'long', price: '3000' })).toMatchObject({ status: 'executed' });
    const bracketId = fake.allOrders().find((o) => o.product_id === 'ETH-USD' && o.kind === 'bracket')?.order_id;
    fake.setPrice('ETH-USD', '3030');
    const exit = await signal({ ticker: 'COINBASE:ETHUSD', action: 'exit', sentiment: 'flat', price: '3030' });
    expect(exit, JSON.stringify(exit)).toMatchObject({ status: 'executed' });
    expect(trading()).toEqual(['POST /orders', 'POST /orders/batch_cancel', 'POST /orders']);
    expect(fake.calls('POST', '/orders/batch_cancel')[0]?.body).toEqual({ order_ids: [bracketId] });
    expect(fake.calls('POST', '/orders')[1]?.body).toMatchObject({ product_id: 'ETH-USD', side: 'SELL', order_configuration: { market_market_ioc: { base_size: '0.01' } } });
    expect(positionOf('ETHUSD')).toMatchObject({ status: 'closed', exit_reason: 'signal', exit_price: '3030' });
    expect(fake.balance('ETH').toFixed()).toBe('0');
  });

  it('a partial close sells the part, then protects the rest with one stand-alone bracket (a separate target would find the coins held by the stop)', async () => {
    fake.setPrice('SOL-USD', '100');
    expect(await signal({ ticker: 'COINBASE:SOLUSD', action: 'buy', sentiment: 'long', price: '100', quantity: '4' })).toMatchObject({ status: 'executed' });
    const outcome = await signal({ ticker: 'COINBASE:SOLUSD', action: 'sell', sentiment: 'long', quantity: '50', quantityType: 'percent_of_position', price: '101' });
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'executed' });
    // The entry's bracket cancelled, half sold, the stop placed, then folded with the target into one bracket.
    expect(trading()).toEqual(['POST /orders', 'POST /orders/batch_cancel', 'POST /orders', 'POST /orders', 'POST /orders/batch_cancel', 'POST /orders']);
    const posted = fake.calls('POST', '/orders').map((r) => (r.body as { side: string; order_configuration: unknown }));
    expect(posted.slice(1).map((b) => [b.side, b.order_configuration])).toEqual([
      ['SELL', { market_market_ioc: { base_size: '2' } }],
      ['SELL', { stop_limit_stop_limit_gtc: { base_size: '2', stop_price: '98', limit_price: '93.1', stop_direction: 'STOP_DIRECTION_STOP_DOWN' } }],
      ['SELL', { trigger_bracket_gtc: { base_size: '2', limit_price: '104', stop_trigger_price: '98' } }],
    ]);
    const resting = fake.allOrders().filter((o) => o.product_id === 'SOL-USD' && o.status === 'OPEN');
    expect(resting.map((o) => [o.kind, o.size.toFixed()])).toEqual([['bracket', '2']]);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few loop ticks: the journal's legs are the bracket's, nothing is re-placed
    expect(trading()).toHaveLength(6);

    fake.setPrice('SOL-USD', '104.5');
    await until('the rest to close', () => { const p = positionOf('SOLUSD'); return p?.status === 'closed' ? p : undefined; });
    expect(journal?.prepare(`SELECT c.exit_reason, c.quantity FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'SOLUSD' ORDER BY c.id`).all())
      .toEqual([{ exit_reason: 'signal', quantity: '2' }, { exit_reason: 'take_profit', quantity: '2' }]);
    expect(fake.balance('SOL').toFixed()).toBe('0');
  });
});
