// Scale-out at Alpaca, emulated: the bracket holds the stop only, the position loop takes each level (legs resized first) and moves the stop to breakeven.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { AlpacaFake } from '../../fakes/alpaca.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const SECRET = 'alpaca-scale-Secret-7d41b0';
const keys = { keyId: 'PKE2E000000000000017', secretKey: 'alpaca-e2e-secret-key-0f9e8d' };
const fake = new AlpacaFake(keys);
useMswServer(...fake.handlers);

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 100
accounts:
  alpaca: { broker: alpaca, environment: paper, keyId: "\${ALPACA_KEY_ID}", secretKey: "\${ALPACA_SECRET_KEY}", streams: false }
strategies:
  default:
    account: alpaca
    sizing: { mode: fixed_quantity, value: 10 }
    stopLoss: { percent: 2 }
    takeProfit:
      - { percent: 1, size: "50%" }
      - { percent: 2, size: "30%" }
      - { rMultiple: 3, size: rest }
    manage:
      breakeven: { afterTarget: 1 }
`;

const dir = tempDir('tw-alpaca-scale');
const prefix = uniquePrefix('alpaca-scale');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;
let counter = 0;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'tradewire.yaml'), CONFIG);
  fake.reset();
  daemon = await startDaemon({
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), TRADEWIRE_EXECUTION: 'inline', PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
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

beforeEach(() => { fake.calls = []; });

async function signal(alert: Record<string, unknown>): Promise<{ status: string; reason: string | null }> {
  counter += 1;
  const response = await fetch(`${daemon?.url}/webhook`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ passphrase: SECRET, id: `alpaca-scale-${counter}`, ...alert }),
  });
  const body = await response.json() as { signalId?: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(body.signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

const trading = (): string[] => fake.calls
  .filter((c) => c.method !== 'GET')
  .map((c) => `${c.method} ${c.path.replace(/[0-9a-f-]{36}/, '{id}')}`);

const working = (): string[][] => fake.allOrders().filter((o) => o.symbol === 'AAPL' && ['new', 'accepted', 'partially_filled'].includes(o.status))
  .map((o) => [o.type, o.qty.toFixed(), (o.stop_price ?? o.limit_price)?.toFixed() ?? '']);

function closes(): Array<{ exit_reason: string; quantity: string; r_multiple: number | null }> {
  return journal?.prepare("SELECT exit_reason, quantity, r_multiple FROM v_trades WHERE symbol = 'AAPL' ORDER BY id").all() as Array<{ exit_reason: string; quantity: string; r_multiple: number | null }>;
}

describe('a scale-out at Alpaca (emulated levels)', () => {
  it('sends the entry with its stop only; takes each level as the price reaches it, the stop resized first and moved to breakeven after level 1', async () => {
    fake.setPrice('AAPL', '100');
    expect(await signal({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' })).toMatchObject({ status: 'executed' });
    const entry = fake.calls.find((c) => c.method === 'POST')?.body as Record<string, unknown>;
    expect(entry).toMatchObject({ symbol: 'AAPL', qty: '10', order_class: 'oto', stop_loss: { stop_price: '98' } });
    expect(entry).not.toHaveProperty('take_profit');

    fake.calls = [];
    fake.setPrice('AAPL', '101');
    await until('level 1 to be taken', () => (closes().length === 1 ? true : undefined));
    await until('the stop to move to breakeven', () => (working().some((o) => o[0] === 'stop' && o[2] === '100') ? true : undefined));
    // The bracket's stop holds the shares: resized to 5 before the 5 are sold, then moved to breakeven.
    expect(trading()).toEqual(['PATCH /v2/orders/{id}', 'POST /v2/orders', 'PATCH /v2/orders/{id}']);
    expect(working()).toEqual([['stop', '5', '100']]);

    fake.setPrice('AAPL', '102');
    await until('level 2 to be taken', () => (closes().length === 2 ? true : undefined));
    expect(working()).toEqual([['stop', '2', '100']]);
    fake.setPrice('AAPL', '106');
    await until('the last level to close the rest', () => (closes().length === 3 ? true : undefined));
    expect(working()).toEqual([]);
    expect(fake.positionQty('AAPL').toFixed()).toBe('0');
    expect(closes()).toEqual([
      { exit_reason: 'take_profit', quantity: '5', r_multiple: 0.5 },
      { exit_reason: 'take_profit', quantity: '3', r_multiple: 1 },
      { exit_reason: 'take_profit', quantity: '2', r_multiple: 3 },
    ]);
    const levels = journal?.prepare("SELECT leg, level, quantity FROM executed_orders WHERE symbol = 'AAPL' AND level IS NOT NULL ORDER BY id").all();
    expect(levels).toEqual([{ leg: 'exit', level: 1, quantity: '5' }, { leg: 'exit', level: 2, quantity: '3' }, { leg: 'exit', level: 3, quantity: '2' }]);
  });

  it('reads the levels an alert brought (JSON numbers, fractions included) from its journalled payload, exactly', async () => {
    fake.setPrice('MSFT', '400');
    fake.calls = [];
    const outcome = await signal({ ticker: 'MSFT', action: 'buy', sentiment: 'long', price: '400', quantity: 10,
      takeProfit: [{ percent: 0.5, size: '40%' }, { percent: 1.5, size: 'rest' }] });
    expect(outcome).toMatchObject({ status: 'executed' });
    fake.setPrice('MSFT', '402');
    // +0.5 % is 402: 4 of the 10 go, the stop (a 2 % stop, 392) keeps the other 6.
    await until('level 1 of the alert', () => (journal?.prepare("SELECT COUNT(*) AS n FROM closed_positions WHERE symbol = 'MSFT'").get() as { n: number }).n === 1 ? true : undefined);
    expect(journal?.prepare("SELECT quantity, exit_price FROM closed_positions WHERE symbol = 'MSFT'").all()).toEqual([{ quantity: '4', exit_price: '402' }]);
  });

  it('an update alert over the webhook moves the bracket\'s stop at Alpaca (an amend), trading nothing', async () => {
    fake.calls = [];
    const outcome = await signal({ ticker: 'MSFT', action: 'update', price: '402', stopLoss: { stopPrice: '399.5' } });
    expect(outcome).toMatchObject({ status: 'executed' });
    expect(trading()).toEqual(['PATCH /v2/orders/{id}']);
    const stop = fake.allOrders().find((o) => o.symbol === 'MSFT' && o.type === 'stop' && ['new', 'accepted'].includes(o.status));
    expect([stop?.qty.toFixed(), stop?.stop_price?.toFixed()]).toEqual(['6', '399.5']);
    const none = await signal({ ticker: 'NVDA', action: 'update', stopLoss: { stopPrice: '100' } });
    expect(none).toEqual({ status: 'rejected', reason: 'no_op: nothing to update: the strategy has no open position in this ticker' });
  });
});
