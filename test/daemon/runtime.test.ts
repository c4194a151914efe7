// Role all across the thread boundary: the execution side runs on its own thread, admin actions reach it, halt works
// while it is down, and a dead execution thread is reported not ready, restarted, and loses no acknowledged alert.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

const TOKEN = 'runtime-admin-token-5c2e9a';
const PASSPHRASE = 'runtime-webhook-passphrase-1';

async function until<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('role all: the execution thread', () => {
  const dir = tempDir('tw-runtime');
  const prefix = uniquePrefix('runtime');
  const databasePath = join(dir.path, 'trading.db');
  const logLines: Array<Record<string, unknown>> = [];
  let daemon: Daemon;

  const api = async (path: string, body?: unknown) => {
    const response = await fetch(`${daemon.url}/api${path}`, {
      method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const alert = (id: string, ticker: string, action = 'buy', path = '') => fetch(`${daemon.url}/webhook${path}`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ passphrase: PASSPHRASE, ticker, action, sentiment: action === 'buy' ? 'long' : 'flat', price: '100', id }) });
  const journal = <T>(sql: string, ...params: unknown[]): T[] => {
    const db = new Database(databasePath, { readonly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  };
  const ready = async () => {
    const response = await fetch(`${daemon.url}/ready`);
    return { status: response.status, body: (await response.json()) as { checks: Array<{ name: string; ok: boolean; error?: string }> } };
  };

  const file = join(dir.path, 'tradewire.yaml');
  const CONFIG = [
      'server: { adminToken: "${ADMIN_TOKEN}" }',
      'webhook: { passphrase: "${WEBHOOK_PASSPHRASE}" }',
      'positions: { loopIntervalMs: 100 }',
      'accounts:',
      '  paper: { broker: paper, slippagePercent: 0 }',
      'strategies:',
      '  default:',
      '    subscriptions: [{ account: paper }]',
      '    sizing: { mode: fixed_quantity, value: 10 }',
      '    stopLoss: { percent: 2 }',
      '',
    ];

  beforeAll(async () => {
    writeFileSync(file, CONFIG.join('\n'));
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => { logLines.push(JSON.parse(line) as Record<string, unknown>); } } });
    daemon = await startDaemon({ CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_PATH: databasePath,
      WEBHOOK_PASSPHRASE: PASSPHRASE, ADMIN_TOKEN: TOKEN }, logger, 'all');
  });

  afterAll(async () => {
    await daemon?.stop();
    await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  it('executes on its own thread: the daemon is ready only with it running, and admin actions reach it', async () => {
    expect(daemon.execution?.state()).toBe('running');
    expect((await ready()).body.checks).toContainEqual({ name: 'execution', ok: true });
    expect((await alert('rt-1', 'AAPL')).status).toBe(202);
    await until(async () => (((await api('/positions')).body.positions as Array<Record<string, unknown>>)
      .find((p) => p.symbol === 'AAPL' && p.status === 'open' && p.stopPrice !== undefined)), 'the AAPL position');
    // The loop's marks come from the thread: the desk answers with the loop's state, ticking.
    expect(((await api('/positions')).body.loop as { ticks: number }).ticks).toBeGreaterThan(0);
    // A close by hand crosses to the thread, which holds the brokers and books it.
    const closed = await api('/close', { symbol: 'AAPL' });
    expect(closed).toMatchObject({ status: 200, body: { ok: true, outcome: 'closed', exitReason: 'manual' } });
    expect(journal("SELECT status FROM positions WHERE symbol = 'AAPL'")).toEqual([{ status: 'closed' }]);
  });

  it('when the thread dies: not ready, alerts still taken, halt still works; restarted, it executes the queued alert exactly once', async () => {
    await daemon.execution?.terminate();
    expect(daemon.execution?.state()).not.toBe('running');
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body.checks.find((c) => c.name === 'execution')).toMatchObject({ ok: false });
    expect(logLines.some((l) => l.event === 'execution.died')).toBe(true);

    // The webhook does not depend on the execution side: the alert is acknowledged and waits in Redis.
    expect((await alert('rt-2', 'MSFT')).status).toBe(202);
    // The desk's actions say the side is away rather than hang; halt and resume are the journal's, and work.
    expect((await api('/close', { symbol: 'MSFT' })).status).toBe(503);
    expect((await api('/halt', { account: 'paper', reason: 'while down' })).body).toMatchObject({ ok: true, halted: ['paper'] });
    expect(journal('SELECT halted FROM account_state WHERE account = ?', 'paper')).toEqual([{ halted: 1 }]);
    expect((await api('/resume', { account: 'paper' })).body).toMatchObject({ ok: true, resumed: ['paper'] });

    await until(async () => ((await ready()).status === 200 ? true : undefined), 'the execution thread to come back');
    expect(logLines.some((l) => l.event === 'execution.restarted')).toBe(true);
    await until(async () => (journal("SELECT id FROM positions WHERE symbol = 'MSFT' AND status = 'open'").length === 1 ? true : undefined), 'the MSFT position');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(journal("SELECT leg FROM executed_orders o JOIN positions p ON p.id = o.position_id WHERE p.symbol = 'MSFT' AND o.leg = 'entry'")).toHaveLength(1);
  });

  it('a reload reaches the thread: an alert for a strategy added to the file is executed there', async () => {
    writeFileSync(file, [...CONFIG, '  second:', '    subscriptions: [{ account: paper }]', '    sizing: { mode: fixed_quantity, value: 3 }', ''].join('\n'));
    expect(await daemon.reload()).toEqual({ ok: true, restartNeeded: [] });
    expect((await alert('rt-3', 'NVDA', 'buy', '/second')).status).toBe(202);
    const opened = await until(async () => journal<{ strategy: string; quantity: string }>(
      "SELECT strategy, quantity FROM positions WHERE symbol = 'NVDA' AND status = 'open'")[0], 'the NVDA position');
    expect(opened).toEqual({ strategy: 'second', quantity: '3' });
  });
});
