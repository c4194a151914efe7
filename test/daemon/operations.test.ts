// The started daemon as an operator meets it: it reconciles at start, its position loop ticks and books a stop, the admin API needs the token.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDecimal } from '../../src/domain/money.ts';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { openDatabase } from '../../src/store/db.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

const TOKEN = 'ops-admin-token-7d1f0c9e';
const PASSPHRASE = 'ops-webhook-passphrase-1';

async function until<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the daemon in operation', () => {
  const dir = tempDir('tw-ops');
  const prefix = uniquePrefix('ops');
  const logLines: Array<Record<string, unknown>> = [];
  let daemon: Daemon;
  let stalePositionId: string;

  const api = async (path: string, options: { body?: unknown; token?: string | null } = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? TOKEN}`;
    const response = await fetch(`${daemon.url}/api${path}`, {
      method: options.body === undefined ? 'GET' : 'POST', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, [
      'server: { adminToken: "${ADMIN_TOKEN}" }',
      'webhook: { passphrase: "${WEBHOOK_PASSPHRASE}" }',
      'positions: { loopIntervalMs: 100 }',
      `backup: { dir: '${join(dir.path, 'backups')}', keep: 2 }`,
      'accounts:',
      '  paper: { broker: paper, slippagePercent: 0 }',
      'strategies:',
      '  default:',
      '    subscriptions: [{ account: paper }]',
      '    sizing: { mode: fixed_quantity, value: 10 }',
      '    stopLoss: { percent: 2 }',
      '    takeProfit: { percent: 4 }',
      '',
    ].join('\n'));
    const databasePath = join(dir.path, 'trading.db');
    // A position the journal holds and the (fresh) paper account does not: start-up reconciliation must close it.
    const db = openDatabase(databasePath);
    stalePositionId = new PositionsRepo(db).open({
      account: 'paper', strategy: 'default', symbol: 'MSFT', side: 'long', quantity: toDecimal('5'), averageEntryPrice: toDecimal('410'),
      protection: 'after_fill', status: 'open', tradingDay: '2026-01-05',
    }).id;
    db.close();
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => { logLines.push(JSON.parse(line) as Record<string, unknown>); } } });
    daemon = await startDaemon({
      CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_PATH: databasePath,
      WEBHOOK_PASSPHRASE: PASSPHRASE, ADMIN_TOKEN: TOKEN,
    }, logger);
  });

  afterAll(async () => {
    await daemon?.stop();
    await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  it('reconciled at start: the position the broker does not hold is closed as reconcile, and the log says so', async () => {
    const difference = logLines.find((l) => l.event === 'reconcile.differences');
    expect(difference).toMatchObject({ account: 'paper', count: 1, differences: [{ kind: 'position_missing_at_broker', symbol: 'MSFT', positionId: stalePositionId }] });
    // ...before the workers ran: the reconciliation is logged before the daemon said it started.
    expect(logLines.findIndex((l) => l.event === 'reconcile.differences')).toBeLessThan(logLines.findIndex((l) => l.event === 'daemon.started'));
    const trades = await api('/trades');
    expect(trades.body.trades).toEqual([expect.objectContaining({ symbol: 'MSFT', exitReason: 'reconcile', quantity: '5' })]);
  });

  it('the admin API and the dashboard refuse without the token or with a wrong one, and nothing changes', async () => {
    expect((await api('/positions', { token: null })).status).toBe(401);
    expect((await api('/halt', { token: `${TOKEN}x`, body: {} })).status).toBe(401);
    expect((await api('/positions')).body.accounts).not.toContainEqual(expect.objectContaining({ halted: true }));
    expect(JSON.stringify(logLines)).not.toContain(TOKEN);
    // The dashboard's page carries no data and asks for the token itself; what it shows needs the token as a bearer header.
    expect((await fetch(`${daemon.url}/dashboard/`)).status).toBe(200);
    const data = await fetch(`${daemon.url}/dashboard/data.json`);
    expect([data.status, data.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="tradewire"']);
    expect((await fetch(`${daemon.url}/dashboard/data.json`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('runs the position loop: it ticks on its own, and a price below the stop closes the position stop_loss through it', async () => {
    const first = (await api('/positions')).body.loop as { ticks: number };
    await until(async () => (((await api('/positions')).body.loop as { ticks: number }).ticks > first.ticks + 2 ? true : undefined), 'the loop to tick');

    const sent = await fetch(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: PASSPHRASE, ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'ops-1' }) });
    expect(sent.status).toBe(202);
    const position = await until(async () => {
      const positions = (await api('/positions')).body.positions as Array<Record<string, unknown>>;
      return positions.find((p) => p.symbol === 'AAPL' && p.status === 'open' && p.stopPrice !== undefined);
    }, 'the AAPL position');
    expect(position).toMatchObject({ quantity: '10', averageEntryPrice: '100', stopPrice: '98', targetPrice: '104' });

    expect((await api('/prices', { body: { prices: { AAPL: '99' } } })).body).toMatchObject({ ok: true, closed: [] });
    expect(((await api('/positions')).body.positions as unknown[])[0]).toMatchObject({ symbol: 'AAPL', lastPrice: '99', unrealizedPnl: '-10' });
    const moved = await api('/prices', { body: { prices: { AAPL: '97.5' } } });
    expect(moved.body).toMatchObject({ ok: true, closed: [{ account: 'paper', symbol: 'AAPL', exitReason: 'stop_loss' }] });
    const trades = (await api('/trades')).body.trades as Array<Record<string, unknown>>;
    expect(trades.find((t) => t.symbol === 'AAPL')).toMatchObject({ exitReason: 'stop_loss', realizedPnl: '-25' });
    expect(logLines.some((l) => l.event === 'position.closed' && l.reason === 'stop_loss')).toBe(true);
  });

  it('halts and resumes entries, reconciles and backs up by hand', async () => {
    expect((await api('/halt', { body: { reason: 'maintenance' } })).body).toEqual({ ok: true, halted: ['paper'], reason: 'maintenance' });
    const refused = await fetch(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: PASSPHRASE, ticker: 'NVDA', action: 'buy', sentiment: 'long', price: '120', id: 'ops-2' }) });
    expect(refused.status).toBe(202);
    const journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
    try {
      const status = await until(async () => {
        const row = journal.prepare("SELECT status, reason FROM signals WHERE user_id = 'ops-2'").get() as { status: string; reason: string } | undefined;
        return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
      }, 'the halted signal');
      expect(status).toEqual({ status: 'halted', reason: 'halted: maintenance' });
    } finally {
      journal.close();
    }
    expect((await api('/resume', { body: {} })).body).toEqual({ ok: true, resumed: ['paper'] });

    const reconciled = await api('/reconcile', { body: {} });
    expect(reconciled).toMatchObject({ status: 200, body: { ok: true, reports: [{ account: 'paper', differences: [] }] } });
    const backup = await api('/backup', { body: {} });
    expect(backup.status).toBe(200);
    expect(String(backup.body.file)).toMatch(new RegExp(`^${dir.path}/backups/trading-\\d{4}-\\d\\d-\\d\\d\\.db$`));
    // Neither secret reached the journal (the alerts' payloads are stored without their passphrase) or its backup.
    const files = [join(dir.path, 'trading.db'), join(dir.path, 'trading.db-wal'), String(backup.body.file)];
    const bytes = Buffer.concat(files.map((file) => (existsSync(file) ? readFileSync(file) : Buffer.alloc(0))));
    expect(bytes.includes('NASDAQ:AAPL')).toBe(true); // the payloads are there, searchable as text
    expect(bytes.includes(TOKEN)).toBe(false);
    expect(bytes.includes(PASSPHRASE)).toBe(false);
    const copy = openDatabase(String(backup.body.file));
    try {
      expect(new PositionsRepo(copy).listClosed().map((c) => c.symbol).sort()).toEqual(['AAPL', 'MSFT']);
    } finally {
      copy.close();
    }
  });
});

describe('the daemon\'s kill switch', () => {
  const dir = tempDir('tw-ops-kill');
  const prefix = uniquePrefix('ops-kill');
  let daemon: Daemon;
  const api = async (path: string, body?: unknown) => {
    const response = await fetch(`${daemon.url}/api${path}`, { method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await response.json()) as Record<string, unknown>;
  };
  const alert = (id: string) => fetch(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ passphrase: PASSPHRASE, ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id }) });

  beforeAll(async () => {
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, [
      'positions: { loopIntervalMs: 100 }',
      'accounts:',
      '  paper: { broker: paper, slippagePercent: 0, killSwitch: { maxDailyLossPercent: 0.1, flatten: true } }',
      'strategies:',
      '  default:',
      '    subscriptions: [{ account: paper }]',
      '    sizing: { mode: fixed_quantity, value: 100 }',
      '    stopLoss: { percent: 5 }',
      '    takeProfit: { percent: 5 }',
      '',
    ].join('\n'));
    daemon = await startDaemon({ CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_PATH: join(dir.path, 'trading.db'),
      WEBHOOK_PASSPHRASE: PASSPHRASE, ADMIN_TOKEN: TOKEN }, createLogger({ level: 'silent', destination: { write: () => undefined } }));
  });
  afterAll(async () => {
    await daemon?.stop();
    await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  it('a day loss at the limit flattens through the loop and halts entries until resume', async () => {
    expect((await alert('kill-1')).status).toBe(202);
    await until(async () => ((await api('/positions')).positions as Array<Record<string, unknown>>).find((p) => p.status === 'open'), 'the position');
    // 100 shares from 100 to 99: a loss of 100, 0.1 % of the 100,000 the day started with. The stop (95) is far away.
    await api('/prices', { prices: { AAPL: '99' } });
    const trades = await until(async () => {
      const list = (await api('/trades')).trades as Array<Record<string, unknown>>;
      return list.length > 0 ? list : undefined;
    }, 'the kill switch to close the position');
    expect(trades).toEqual([expect.objectContaining({ symbol: 'AAPL', exitReason: 'kill_switch', realizedPnl: '-100' })]);
    expect((await api('/positions')).accounts).toEqual([expect.objectContaining({ account: 'paper', halted: true, haltedReason: expect.stringMatching(/^kill_switch: day loss 100/) })]);

    const journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
    const signal = (id: string) => until(async () => {
      const row = journal.prepare('SELECT status, reason FROM signals WHERE user_id = ?').get(id) as { status: string; reason: string } | undefined;
      return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
    }, `signal ${id}`);
    try {
      expect((await alert('kill-2')).status).toBe(202);
      expect(await signal('kill-2')).toEqual({ status: 'halted', reason: 'halted: kill_switch: day loss 100 is 0.1% of 100000 (limit 0.1%)' });
      expect(await api('/resume', {})).toEqual({ ok: true, resumed: ['paper'] });
      // Resumed by hand: entries go through again although the day's loss is still at the limit, and the switch,
      // having tripped today, does not trip again (the position stays open across ticks).
      expect((await alert('kill-3')).status).toBe(202);
      expect(await signal('kill-3')).toMatchObject({ status: 'executed' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await api('/positions')).accounts).toEqual([expect.objectContaining({ account: 'paper', halted: false })]);
      expect(((await api('/positions')).positions as Array<Record<string, unknown>>).filter((p) => p.status === 'open')).toHaveLength(1);
    } finally {
      journal.close();
    }
  });
});
