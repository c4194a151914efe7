// End to end at IBKR: an alert over HTTP → Redis → the executor → the calls the Client Portal gateway fake receives,
// the venue's own one-cancels-other inside the bracket, and the close the journal books.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/main.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { FAKE_ACCOUNT, IbkrFake } from '../../fakes/ibkr.ts';
import type { RecordedCall } from '../../fakes/ibkr.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const SECRET = 'ibkr-e2e-Secret-7a1c44';
const fake = new IbkrFake();
useMswServer(...fake.handlers);

// The gateway URL is the default (https://localhost:5000/v1/api), where the fake answers.
const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
  strategyBurst: 1000
positions:
  loopIntervalMs: 100
accounts:
  ib:
    broker: ibkr
    accountId: "\${IBKR_ACCOUNT}"
    allowedPrompts: [o0]
strategies:
  default:
    account: ib
    sizing: { mode: fixed_quantity, value: 5 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
`;

const dir = tempDir('tw-ibkr-e2e');
const prefix = uniquePrefix('ibkr-e2e');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;
let counter = 0;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'tradewire.yaml'), CONFIG);
  fake.reset();
  daemon = await startDaemon({
    TRADEWIRE_EXECUTION: 'inline', // msw answers for the venue in this thread only
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET, IBKR_ACCOUNT: FAKE_ACCOUNT,
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
    body: JSON.stringify({ passphrase: SECRET, id: `ibkr-e2e-${counter}`, ...alert }),
  });
  const body = await response.json() as { signalId?: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(body.signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

/** The calls that change something at the gateway (session checks and keep-alives left out). */
const trading = (calls: RecordedCall[]): string[] => calls
  .filter((c) => c.method !== 'GET' && c.path !== '/iserver/auth/status' && c.path !== '/tickle')
  .map((c) => `${c.method} ${c.path.replace(/\/reply\/[0-9a-f-]{36}$/, '/reply/{id}').replace(/\/order\/\d+$/, '/order/{id}')}`);

function positionOf(symbol: string): { status: string; exit_reason: string | null; protection: string } | undefined {
  return journal?.prepare(`SELECT p.status, p.protection, c.exit_reason FROM positions p LEFT JOIN closed_positions c ON c.position_id = p.id
    WHERE p.symbol = ? ORDER BY p.opened_at DESC`).get(symbol) as { status: string; exit_reason: string | null; protection: string } | undefined;
}

describe('an alert traded at IBKR through the Client Portal gateway', () => {
  it('goes out as ONE bracket post (parent cOID, children parentId); when the target fills IBKR cancels the stop and the journal books the close', async () => {
    fake.setPrice('AAPL', '100');
    expect(await signal({ ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' })).toMatchObject({ status: 'executed' });
    // The margin preview (what-if) first, then the bracket: one post.
    expect(trading(fake.calls)).toEqual([`POST /iserver/account/${FAKE_ACCOUNT}/orders/whatif`, `POST /iserver/account/${FAKE_ACCOUNT}/orders`]);
    const [parent, stop, target] = (fake.calls.find((c) => c.method === 'POST' && c.path.endsWith('/orders'))?.body as { orders: Array<Record<string, unknown>> }).orders;
    expect(parent).toMatchObject({ acctId: FAKE_ACCOUNT, conid: 265598, orderType: 'MKT', side: 'BUY', quantity: 5 });
    expect(parent?.cOID).toMatch(/^[A-Za-z0-9_-]{1,36}$/);
    expect(stop).toMatchObject({ parentId: parent?.cOID, orderType: 'STP', price: 98, side: 'SELL', quantity: 5, tif: 'GTC' });
    expect(target).toMatchObject({ parentId: parent?.cOID, orderType: 'LMT', price: 104, side: 'SELL', quantity: 5, tif: 'GTC' });
    expect(stop).not.toHaveProperty('cOID');
    expect(fake.position('AAPL').toFixed()).toBe('5');
    expect(positionOf('AAPL')).toMatchObject({ status: 'open', protection: 'native' });

    fake.calls = [];
    fake.setPrice('AAPL', '104.5');
    const closed = await until('the position to close', () => { const p = positionOf('AAPL'); return p?.status === 'closed' ? p : undefined; });
    expect(closed.exit_reason).toBe('take_profit');
    // IBKR did the one-cancels-other: tradewire sent nothing after the bracket.
    expect(trading(fake.calls)).toEqual([]);
    expect(fake.allOrders().map((o) => o.status).sort()).toEqual(['Cancelled', 'Filled', 'Filled']);
    expect(fake.position('AAPL').toFixed()).toBe('0');
  });

  it('an exit signal closes the position and leaves no stop or target working at IBKR (a stray stop could open a short)', async () => {
    fake.setPrice('AAPL', '100');
    expect(await signal({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' })).toMatchObject({ status: 'executed' });
    expect(fake.position('AAPL').toFixed()).toBe('5');
    fake.calls = [];
    fake.setPrice('AAPL', '101');
    const outcome = await signal({ ticker: 'AAPL', action: 'sell', sentiment: 'flat', price: '101' });
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'executed' });
    expect(fake.position('AAPL').toFixed()).toBe('0');
    expect(fake.liveOrders().filter((o) => o.conid === fake.conidOf('AAPL'))).toEqual([]);
    expect(positionOf('AAPL')).toMatchObject({ status: 'closed', exit_reason: 'signal' });
  });

  it('a question the config allows (o0) is confirmed through /iserver/reply, and the bracket is placed', async () => {
    fake.setPrice('MSFT', '400');
    fake.askNext({ messageId: 'o0', text: 'You are about to submit a stop order. Are you sure you want to submit this order?' });
    expect(await signal({ ticker: 'MSFT', action: 'buy', sentiment: 'long', price: '400' })).toMatchObject({ status: 'executed' });
    expect(trading(fake.calls)).toEqual([`POST /iserver/account/${FAKE_ACCOUNT}/orders/whatif`, `POST /iserver/account/${FAKE_ACCOUNT}/orders`, 'POST /iserver/reply/{id}']);
    expect(fake.callsTo('POST', /^\/iserver\/reply\//)[0]?.body).toEqual({ confirmed: true });
    expect(fake.position('MSFT').toFixed()).toBe('5');
  });

  it('a question the config does not allow fails the signal with the question\'s text, the orders journalled as rejected, nothing placed', async () => {
    fake.setPrice('SPY', '500');
    fake.askNext({ messageId: 'o163', text: 'The following order exceeds the price percentage limit' });
    const outcome = await signal({ ticker: 'SPY', action: 'buy', sentiment: 'long', price: '500' });
    // A broker's refusal fails the signal (a refusal by tradewire's own rules would be `rejected`).
    expect(outcome.status).toBe('failed');
    expect(outcome.reason).toContain('exceeds the price percentage limit');
    expect(journal?.prepare("SELECT DISTINCT status FROM executed_orders WHERE symbol = 'SPY'").all()).toEqual([{ status: 'rejected' }]);
    expect(fake.callsTo('POST', /^\/iserver\/reply\//).map((c) => c.body)).toEqual([{ confirmed: false }]);
    expect(fake.allOrders().filter((o) => o.conid === fake.conidOf('SPY'))).toEqual([]);
    expect(fake.position('SPY').toFixed()).toBe('0');
  });
});
