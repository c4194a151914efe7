// End to end at Binance USD-M: an alert over HTTP → Redis → the executor → the signed calls the Binance fake receives;
// then the daemon's own position loop sees the target fire and cancels the stop (one-cancels-other is tradewire's here).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const SECRET = 'binance-e2e-Secret-3d71f0';
const fake = new BinanceFake({ wallet: '10000' });
useMswServer(...fake.handlers);

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 100
accounts:
  futures:
    broker: binance-usdm
    environment: testnet
    baseUrl: "${FAKE_BASE_URL}"
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

const dir = tempDir('tw-binance-e2e');
const prefix = uniquePrefix('binance-e2e');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'tradewire.yaml'), CONFIG);
  daemon = await startDaemon({
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), TRADEWIRE_EXECUTION: 'inline', PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET, BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: FAKE_API_SECRET,
  }, createLogger({ level: process.env.E2E_LOG ?? 'silent', pretty: false }));
  journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
});

afterAll(async () => {
  await daemon?.stop();
  journal?.close();
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

/** The calls that change something at the exchange, in order, each with its order type. */
const trading = (): string[] => fake.requests
  .filter((r) => r.method !== 'GET' && r.authenticated && r.path !== '/fapi/v1/positionSide/dual')
  .map((r) => `${r.method} ${r.path}${r.params.type ? ` ${r.params.type}` : ''}`);

describe('an alert traded at Binance USD-M', () => {
  it('the entry, then the stop and target as closePosition algo orders; when the target fires the loop books it and cancels the stop', async () => {
    fake.setPrice('BTCUSDT', '60000');
    const response = await fetch(`${daemon?.url}/webhook`, {
      method: 'POST', headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ passphrase: SECRET, ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', price: '60000', id: 'bn-e2e-1' }),
    });
    const { signalId } = await response.json() as { signalId: string };
    expect(response.status).toBe(202);
    const done = await until('the signal to finish', () => {
      const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(signalId) as { status: string; reason: string | null } | undefined;
      return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
    });
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'executed' });

    expect(trading()).toEqual([
      'POST /fapi/v1/marginType', 'POST /fapi/v1/leverage', 'POST /fapi/v1/order MARKET', 'POST /fapi/v1/algoOrder STOP_MARKET', 'POST /fapi/v1/algoOrder TAKE_PROFIT_MARKET',
    ]);
    const entry = fake.calls('/fapi/v1/order', 'POST')[0]?.params;
    expect(entry).toMatchObject({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.2' });
    expect(entry?.newClientOrderId).toMatch(/^[.A-Z:/a-z0-9_-]{1,36}$/);
    const [stop, target] = fake.calls('/fapi/v1/algoOrder', 'POST').map((r) => r.params);
    expect(stop).toMatchObject({ symbol: 'BTCUSDT', side: 'SELL', triggerPrice: '58800', closePosition: 'true' });
    expect(target).toMatchObject({ symbol: 'BTCUSDT', side: 'SELL', triggerPrice: '62400', closePosition: 'true' });
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.2');
    // The leverage and margin type of the config were set on the symbol before its first entry.
    expect([fake.leverageOf('BTCUSDT'), fake.marginTypeOf('BTCUSDT')]).toEqual([5, 'isolated']);

    // The target triggers at the exchange; the daemon's loop sees it, books the close and cancels the stop.
    fake.setPrice('BTCUSDT', '62500');
    const closed = await until('the position to close', () => journal?.prepare(
      `SELECT c.exit_reason, c.exit_price, c.realized_pnl FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'BTCUSDT'`,
    ).get() as { exit_reason: string; exit_price: string; realized_pnl: string } | undefined);
    expect(closed.exit_reason).toBe('take_profit');
    // Filled where the market was when it triggered: (62,500 − 60,000) × 0.2, no fees in the fake.
    expect([closed.exit_price, closed.realized_pnl]).toEqual(['62500', '500']);
    await until('the stop to be cancelled', () => (fake.calls('/fapi/v1/algoOrder', 'DELETE').length > 0 ? true : undefined));
    expect(fake.calls('/fapi/v1/algoOrder', 'DELETE').map((r) => r.params.clientAlgoId)).toEqual([stop?.clientAlgoId]);
    expect(fake.openAlgoOrders()).toHaveLength(0);
    expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });
});
