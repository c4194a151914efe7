// End to end at Zerodha Kite: an alert over HTTP → Redis → the executor → the calls the Kite fake receives: the margin
// preview, the entry, then the stop and target as one two-leg GTT; the target fires at Kite (which drops the stop);
// then a second position is closed by an exit alert, which takes its GTT down before the sell.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { KITE_FAKE_ACCESS_TOKEN, KITE_FAKE_API_KEY, KITE_FAKE_URL, KiteFake } from '../../fakes/zerodha.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const SECRET = 'kite-e2e-Secret-5be21c';
const fake = new KiteFake({ cash: '500000' });
useMswServer(...fake.handlers);

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 100
accounts:
  kite:
    broker: zerodha
    live: true
    baseUrl: "${KITE_FAKE_URL}"
    apiKey: "\${KITE_API_KEY}"
    apiSecret: "\${KITE_API_SECRET}"
    accessToken: "\${KITE_ACCESS_TOKEN}"
    product: CNC
strategies:
  default:
    account: kite
    sizing: { mode: fixed_quantity, value: 4 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-kite-e2e');
const prefix = uniquePrefix('kite-e2e');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'tradewire.yaml'), CONFIG);
  daemon = await startDaemon({
    TRADEWIRE_EXECUTION: 'inline', // msw answers for the venue in this thread only
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET,
    KITE_API_KEY: KITE_FAKE_API_KEY, KITE_API_SECRET: 'kite-fake-secret', KITE_ACCESS_TOKEN: KITE_FAKE_ACCESS_TOKEN,
  }, createLogger({ level: process.env.E2E_LOG ?? 'silent', pretty: false }));
  journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
});

afterAll(async () => {
  await daemon?.stop();
  journal?.close();
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

/** The calls that change something at Kite, in order (GETs and the margin preview left out). */
const trading = (from = 0): string[] => fake.requests.slice(from)
  .filter((r) => r.method !== 'GET' && r.authenticated && r.path !== '/margins/orders')
  .map((r) => `${r.method} ${r.path.replace(/\/\d+$/, '/{id}')}${r.form.order_type ? ` ${r.form.order_type}` : ''}${r.form.type ? ` ${r.form.type}` : ''}`);

async function signal(body: Record<string, string>): Promise<{ status: string; reason: string | null }> {
  const response = await fetch(`${daemon?.url}/webhook`, {
    method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ passphrase: SECRET, ...body }),
  });
  expect(response.status).toBe(202);
  const { signalId } = await response.json() as { signalId: string };
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

describe('alerts traded at Zerodha Kite', () => {
  it('the entry, then one two-leg GTT for stop and target; the target fires at Kite, the loop books the close and nothing is left resting', async () => {
    fake.setPrice('NSE:INFY', '1500');
    const done = await signal({ ticker: 'NSE:INFY', action: 'buy', sentiment: 'long', price: '1500', id: 'kite-e2e-1' });
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'executed' });

    expect(trading()).toEqual(['POST /orders/regular MARKET', 'POST /gtt/triggers single', 'PUT /gtt/triggers/{id} two-leg']);
    // Margin was previewed (the order margins API, JSON) before the entry went.
    const preview = fake.calls('/margins/orders', 'POST')[0];
    expect(preview?.json).toEqual([expect.objectContaining({ exchange: 'NSE', tradingsymbol: 'INFY', transaction_type: 'BUY', product: 'CNC', order_type: 'MARKET', quantity: 4 })]);
    expect(fake.requests.indexOf(preview as never)).toBeLessThan(fake.requests.findIndex((r) => r.path === '/orders/regular'));
    const entry = fake.calls('/orders/regular', 'POST')[0]?.form;
    expect(entry).toMatchObject({ exchange: 'NSE', tradingsymbol: 'INFY', transaction_type: 'BUY', quantity: '4', product: 'CNC', market_protection: '-1' });
    expect(entry?.tag).toMatch(/^[A-Za-z0-9]{1,20}$/);
    // Stop 2 % below the fill (1,470, its limit 2 % lower again), target 4 % above (1,560): one OCO at Kite.
    expect(fake.activeGtts()).toEqual([{ id: expect.any(Number) as number, type: 'two-leg', triggers: ['1470', '1560'], prices: ['1440.6', '1560'] }]);
    expect(fake.positionQuantity('INFY').toFixed()).toBe('4');

    fake.setPrice('NSE:INFY', '1565');
    const closed = await until('the position to close', () => journal?.prepare(
      `SELECT c.exit_reason, c.exit_price, c.realized_pnl FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'INFY'`,
    ).get() as { exit_reason: string; exit_price: string; realized_pnl: string } | undefined);
    expect(closed.exit_reason).toBe('take_profit');
    // The GTT's limit sell met a market at 1,565: (1,565 − 1,500) × 4, no charges in the fake.
    expect([closed.exit_price, closed.realized_pnl]).toEqual(['1565', '260']);
    const legs = await until('both legs to end in the journal', () => {
      const rows = journal?.prepare(`SELECT leg, status FROM executed_orders WHERE symbol = 'INFY' AND leg IN ('stop', 'target') ORDER BY leg`).all() as Array<{ leg: string; status: string }>;
      return rows.every((r) => r.status === 'filled' || r.status === 'cancelled') ? rows : undefined;
    });
    expect(legs).toEqual([{ leg: 'stop', status: 'cancelled' }, { leg: 'target', status: 'filled' }]);
    expect(fake.positionQuantity('INFY').toFixed()).toBe('0');
    expect(fake.activeGtts()).toEqual([]);
  });

  it('an exit alert takes the GTT down first (stop out, then the GTT deleted), then sells', async () => {
    fake.setPrice('NSE:SBIN', '800');
    expect(await signal({ ticker: 'NSE:SBIN', action: 'buy', sentiment: 'long', price: '800', id: 'kite-e2e-2' })).toMatchObject({ status: 'executed' });
    expect(fake.activeGtts()).toHaveLength(1);
    const from = fake.requests.length;
    fake.setPrice('NSE:SBIN', '805');
    expect(await signal({ ticker: 'NSE:SBIN', action: 'sell', sentiment: 'flat', price: '805', id: 'kite-e2e-3' })).toMatchObject({ status: 'executed' });
    expect(trading(from)).toEqual(['PUT /gtt/triggers/{id} single', 'DELETE /gtt/triggers/{id}', 'POST /orders/regular MARKET']);
    expect(fake.activeGtts()).toEqual([]);
    expect(fake.positionQuantity('SBIN').toFixed()).toBe('0');
    const exit = fake.calls('/orders/regular', 'POST').at(-1)?.form;
    expect(exit).toMatchObject({ tradingsymbol: 'SBIN', transaction_type: 'SELL', quantity: '4', product: 'CNC', market_protection: '-1' });
  });
});
