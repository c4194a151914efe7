// A partial close of a position held in Alpaca's bracket whose exit is refused: the legs, shrunk before the exit, grow back.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';
import { useMswServer } from '../helpers/msw.ts';

const SECRET = 'bracket-partial-Secret-4d21';
const keys = { keyId: 'PKBPC000000000000001', secretKey: 'bracket-partial-secret-key-7a1c' };
const fake = new AlpacaFake(keys);
useMswServer(...fake.handlers);

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 100
accounts:
  alpaca: { broker: alpaca, environment: paper, keyId: "\${ALPACA_KEY_ID}", secretKey: "\${ALPACA_SECRET_KEY}" }
strategies:
  default:
    account: alpaca
    sizing: { mode: fixed_quantity, value: 4 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-bracket-partial');
const prefix = uniquePrefix('bracket-partial');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;
let counter = 0;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'tradewire.yaml'), CONFIG);
  fake.reset();
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
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

async function signal(alert: Record<string, unknown>): Promise<{ status: string; reason: string | null }> {
  counter += 1;
  const response = await fetch(`${daemon?.url}/webhook`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ passphrase: SECRET, id: `bracket-partial-${counter}`, ...alert }),
  });
  const body = await response.json() as { signalId?: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(body.signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

describe('a partial close of a bracketed position whose exit Alpaca refuses', () => {
  it('the legs, shrunk to 2 before the exit, are sized back to the 4 shares still held', async () => {
    fake.setPrice('SPY', '500');
    expect(await signal({ ticker: 'SPY', action: 'buy', sentiment: 'long', price: '500' })).toMatchObject({ status: 'executed' });
    fake.failNext('order_rejected');
    const outcome = await signal({ ticker: 'SPY', action: 'sell', sentiment: 'flat', quantity: '50', quantityType: 'percent_of_position', price: '505' });
    expect(outcome.status).toBe('failed');

    const working = fake.allOrders().filter((o) => o.symbol === 'SPY' && o.status === 'new');
    expect(working.map((o) => [o.type, o.qty.toFixed()]).sort()).toEqual([['limit', '4'], ['stop', '4']]);
    const position = journal?.prepare("SELECT status, quantity FROM positions WHERE symbol = 'SPY'").get();
    expect(position).toEqual({ status: 'open', quantity: '4' });
    const halted = journal?.prepare("SELECT halted FROM account_state WHERE account = 'alpaca'").get() as { halted: number } | undefined;
    expect(halted?.halted ?? 0).toBe(0);
  });
});
