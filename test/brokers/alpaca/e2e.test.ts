// End to end at Alpaca: an alert over HTTP → Redis → the executor → the HTTP calls the Alpaca fake receives, and the close it journals.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { AlpacaFake } from '../../fakes/alpaca.ts';
import type { RecordedCall } from '../../fakes/alpaca.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const SECRET = 'alpaca-e2e-Secret-58c2a1';
const keys = { keyId: 'PKE2E000000000000001', secretKey: 'alpaca-e2e-secret-key-0f9e8d' };
const fake = new AlpacaFake(keys);
useMswServer(...fake.handlers);

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
  strategyBurst: 1000
positions:
  loopIntervalMs: 100
accounts:
  # No trade_updates stream: its default host is Alpaca's own (tests never leave loopback); test/portfolio/order-streams-alpaca.test.ts covers it.
  alpaca: { broker: alpaca, environment: paper, keyId: "\${ALPACA_KEY_ID}", secretKey: "\${ALPACA_SECRET_KEY}", streams: false }
strategies:
  default:
    account: alpaca
    sizing: { mode: fixed_quantity, value: 2 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
  stacks:
    account: alpaca
    sizing: { mode: fixed_quantity, value: 2 }
    pyramiding: { enabled: true, maxEntries: 3 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
  coins:
    account: alpaca
    sizing: { mode: fixed_quantity, value: 0.01 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-alpaca-e2e');
const prefix = uniquePrefix('alpaca-e2e');
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
    body: JSON.stringify({ passphrase: SECRET, id: `alpaca-e2e-${counter}`, ...alert }),
  });
  const body = await response.json() as { signalId?: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(body.signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

const trading = (calls: RecordedCall[]): string[] => calls
  .filter((c) => c.method !== 'GET')
  .map((c) => `${c.method} ${c.path.replace(/[0-9a-f-]{36}/, '{id}')}`);

function positionOf(symbol: string): { status: string; exit_reason: string | null } | undefined {
  return journal?.prepare(`SELECT p.status, c.exit_reason FROM positions p LEFT JOIN closed_positions c ON c.position_id = p.id
    WHERE p.symbol = ? ORDER BY p.opened_at DESC`).get(symbol) as { status: string; exit_reason: string | null } | undefined;
}

describe('an alert traded at Alpaca', () => {
  it('a stock entry goes out as one native bracket; when the target fills Alpaca cancels the stop and the journal books the close', async () => {
    fake.setPrice('AAPL', '100');
    expect(await signal({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' })).toMatchObject({ status: 'executed' });
    const posted = fake.calls.filter((c) => c.method === 'POST');
    expect(posted.map((c) => c.body)).toEqual([expect.objectContaining({
      symbol: 'AAPL', qty: '2', side: 'buy', type: 'market', order_class: 'bracket', take_profit: { limit_price: '104' }, stop_loss: { stop_price: '98' },
    })]);
    const legs = fake.allOrders().filter((o) => o.parent !== null);
    expect(legs.map((o) => [o.type, o.status]).sort()).toEqual([['limit', 'new'], ['stop', 'new']]);

    fake.setPrice('AAPL', '104.5');
    expect(legs.map((o) => [o.type, fake.order(o.id)?.status]).sort()).toEqual([['limit', 'filled'], ['stop', 'canceled']]);
    const closed = await until('the position to close', () => { const p = positionOf('AAPL'); return p?.status === 'closed' ? p : undefined; });
    expect(closed.exit_reason).toBe('take_profit');
    // Alpaca did the one-cancels-other: tradewire sent nothing but the bracket.
    expect(trading(fake.calls)).toEqual(['POST /v2/orders']);
  });

  it('a crypto entry goes out alone; tradewire watches its target and sends the exit when the price reaches it', async () => {
    fake.setPrice('BTC/USD', '60000');
    const outcome = await signal({ strategy: 'coins', ticker: 'BTCUSD', action: 'buy', sentiment: 'long', price: '60000' });
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'executed' });
    const entryBody = (fake.calls.find((c) => c.method === 'POST')?.body ?? {}) as Record<string, unknown>;
    expect(entryBody).toMatchObject({ symbol: 'BTC/USD', side: 'buy', type: 'market', qty: '0.01', time_in_force: 'gtc' });
    expect(entryBody).not.toHaveProperty('order_class');
    expect(trading(fake.calls)).toEqual(['POST /v2/orders']);
    fake.setPrice('BTC/USD', '62500');
    const closed = await until('the position to close', () => { const p = positionOf('BTCUSD'); return p?.status === 'closed' ? p : undefined; });
    expect(closed.exit_reason).toBe('take_profit');
    const exit = fake.calls.filter((c) => c.method === 'POST').map((c) => c.body as Record<string, unknown>)[1];
    expect(exit).toMatchObject({ symbol: 'BTC/USD', side: 'sell', type: 'market', qty: '0.01' });
    expect(trading(fake.calls)).toEqual(['POST /v2/orders', 'POST /v2/orders']);
  });

  it('an add to a stock position held in a native bracket is refused before anything is sent (Alpaca allows one resting sell per position)', async () => {
    fake.setPrice('MSFT', '400');
    expect(await signal({ strategy: 'stacks', ticker: 'MSFT', action: 'buy', sentiment: 'long', price: '400' })).toMatchObject({ status: 'executed' });
    expect(trading(fake.calls)).toEqual(['POST /v2/orders']);
    const added = await signal({ strategy: 'stacks', ticker: 'MSFT', action: 'add', price: '401' });
    expect(added).toEqual({ status: 'rejected', reason: 'unsupported: MSFT is protected by a bracket held at alpaca; adding to it is not supported there (close and re-enter instead)' });
    expect(trading(fake.calls)).toEqual(['POST /v2/orders']);
    expect(positionOf('MSFT')).toMatchObject({ status: 'open' });
  });

  it('a partial close of a bracketed stock position resizes the legs first, then sells (the legs hold the shares)', async () => {
    fake.setPrice('SPY', '500');
    fake.calls = [];
    expect(await signal({ strategy: 'stacks', ticker: 'SPY', action: 'buy', sentiment: 'long', price: '500', quantity: '4' })).toMatchObject({ status: 'executed' });
    const outcome = await signal({ strategy: 'stacks', ticker: 'SPY', action: 'sell', sentiment: 'flat', quantity: '50', quantityType: 'percent_of_position', price: '505' });
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'executed' });
    expect(trading(fake.calls)).toEqual(['POST /v2/orders', 'PATCH /v2/orders/{id}', 'PATCH /v2/orders/{id}', 'POST /v2/orders']);
    const open = fake.allOrders().filter((o) => o.symbol === 'SPY' && o.status === 'new');
    expect(open.map((o) => [o.type, o.qty.toFixed()]).sort()).toEqual([['limit', '2'], ['stop', '2']]);
    // The journal says what rests now; the resized legs still close the rest when the target is reached.
    const legs = journal?.prepare(`SELECT o.leg, o.quantity FROM executed_orders o JOIN positions p ON p.id = o.position_id
      WHERE p.symbol = 'SPY' AND o.leg IN ('stop', 'target') ORDER BY o.leg`).all();
    expect(legs).toEqual([{ leg: 'stop', quantity: '2' }, { leg: 'target', quantity: '2' }]);
    fake.setPrice('SPY', '521');
    await until('the rest to close', () => { const p = positionOf('SPY'); return p?.status === 'closed' ? p : undefined; });
    expect(journal?.prepare(`SELECT c.exit_reason, c.quantity FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'SPY' ORDER BY c.id`).all())
      .toEqual([{ exit_reason: 'signal', quantity: '2' }, { exit_reason: 'take_profit', quantity: '2' }]);
  });

  it('a limit entry in a bracket rests with its legs held; when it fills the loop books it with the legs Alpaca holds, placing nothing more', async () => {
    fake.setPrice('AAPL', '100');
    fake.calls = [];
    expect(await signal({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', orderType: 'limit', limitPrice: '99' })).toMatchObject({ status: 'executed' });
    expect(trading(fake.calls)).toEqual(['POST /v2/orders']);
    expect(fake.calls.find((c) => c.method === 'POST')?.body).toMatchObject({ type: 'limit', limit_price: '99', order_class: 'bracket' });
    fake.setPrice('AAPL', '98.9');
    const position = await until('the filled entry to be booked', () => journal?.prepare(
      "SELECT status, quantity, protection, stop_price, target_price FROM positions WHERE symbol = 'AAPL' AND status = 'open'").get() as Record<string, unknown> | undefined);
    // The legs were priced from the limit when the bracket went out: stop 2 % under 99, target 4 % over.
    expect(position).toEqual({ status: 'open', quantity: '2', protection: 'native', stop_price: '97.02', target_price: '102.96' });
    await new Promise((resolve) => setTimeout(resolve, 400)); // a few loop ticks: nothing else goes out
    expect(trading(fake.calls)).toEqual(['POST /v2/orders']);
    expect(fake.allOrders().filter((o) => o.symbol === 'AAPL' && o.status === 'new').map((o) => o.type).sort()).toEqual(['limit', 'stop']);
  });

  it("a take-profit leg filling in part is booked as a partial close; Alpaca shrinks the stop itself and tradewire sends nothing", async () => {
    const target = fake.allOrders().find((o) => o.symbol === 'MSFT' && o.type === 'limit' && o.status === 'new');
    if (!target) throw new Error('the MSFT bracket from the add test has no working target');
    fake.calls = [];
    fake.fillPart(target.id, '1');
    const closed = await until('the partial close', () => journal?.prepare(
      "SELECT c.exit_reason, c.quantity, p.quantity AS left_qty FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'MSFT'").get() as Record<string, unknown> | undefined);
    expect(closed).toEqual({ exit_reason: 'take_profit', quantity: '1', left_qty: '1' });
    await new Promise((resolve) => setTimeout(resolve, 400)); // a few loop ticks
    expect(trading(fake.calls)).toEqual([]);
    expect(fake.allOrders().filter((o) => o.symbol === 'MSFT' && ['new', 'partially_filled'].includes(o.status)).map((o) => [o.type, o.qty.minus(o.filled_qty).toFixed()]).sort())
      .toEqual([['limit', '1'], ['stop', '1']]);
  });
});

