// The admin API over real HTTP: the token (required, constant-time), each endpoint against a real journal and paper broker.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAdminRouter, type AdminDeps } from '../../src/http/admin.ts';
import { tokenMatches } from '../../src/http/admin-auth.ts';
import { createApp } from '../../src/http/app.ts';
import { toDecimal as d } from '../../src/domain/money.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { EquityRepo } from '../../src/store/equity-repo.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const TOKEN = 'admin-token-4f9c1e7a2b';

async function serve(deps: Partial<AdminDeps> & Pick<AdminDeps, 'ctx' | 'db'>): Promise<{ url: string; close(): Promise<void> }> {
  const router = createAdminRouter({ adminToken: TOKEN, reconcile: async () => ({ ran: true as const, reports: [] }), backup: async () => ({ file: '/backups/x.db' }), ...deps });
  const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [], routers: [{ path: '/api', router }] });
  const server: Server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => { server.close(() => r()); }) };
}

async function call(url: string, path: string, options: { method?: string; body?: unknown; token?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? TOKEN}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}/api${path}`, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

/** A raw request, every header the test's own: what a browser's cross-site form or script would send. */
async function raw(url: string, path: string, method: string, headers: Record<string, string>, body?: string) {
  const response = await fetch(`${url}/api${path}`, { method, headers, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const basicAuth = (token: string) => `Basic ${Buffer.from(`me:${token}`).toString('base64')}`;

/** Every state-changing admin route, with a body each accepts. */
const ACTIONS: Array<[string, string]> = [
  ['/halt', '{}'], ['/resume', '{}'], ['/flatten', '{}'], ['/close', '{"symbol":"AAPL"}'],
  ['/prices', '{"prices":{"AAPL":"100"}}'], ['/reconcile', '{}'], ['/backup', '{}'],
];

describe('tokenMatches', () => {
  it('compares whole tokens of any length without throwing', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(tokenMatches('', TOKEN)).toBe(false);
    expect(tokenMatches(TOKEN.slice(0, -1), TOKEN)).toBe(false);
  });
});

describe('the admin API', () => {
  let h: Harness;
  let server: { url: string; close(): Promise<void> };
  const calls: string[] = [];

  beforeAll(async () => {
    h = await createHarness();
    server = await serve({
      ctx: h.ctx, db: h.db,
      reconcile: async () => {
        calls.push('reconcile');
        return { ran: true as const, reports: [{ account: 'paper', at: new Date('2026-01-05T10:00:00Z'), differences: [
          { kind: 'orphaned_protection_cancelled' as const, symbol: 'AAPL', clientOrderId: 'tw-st-x', detail: 'its position is closed' }] }] };
      },
      backup: async () => { calls.push('backup'); return { file: '/tmp/backups/trading-1.db' }; },
    });
  });
  afterAll(async () => { await server.close(); await h.close(); });
  beforeEach(() => { h.ctx.accountState.resume('paper'); });

  let n = 0;
  const id = () => `alert-${++n}`;
  const open = async (ticker: string, price: string) => {
    expect(await h.executor.execute(h.job({ ticker, action: 'buy', sentiment: 'long', price, id: id() }))).toEqual({ status: 'executed' });
  };

  describe('authentication', () => {
    it('without the token answers 401 with a Bearer challenge, and the same for a wrong one', async () => {
      const none = await call(server.url, '/positions', { token: null });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await call(server.url, '/positions', { token: 'wrong' })).status).toBe(401);
      expect((await call(server.url, '/halt', { token: `${TOKEN}0`, body: {} })).status).toBe(401);
      expect(h.ctx.accountState.isHalted('paper', '2099-01-01')).toBe(false);
    });

    it('with no token configured the API is off: 403 telling to set ADMIN_TOKEN, whatever is sent', async () => {
      const off = await serve({ ctx: h.ctx, db: h.db, adminToken: undefined });
      try {
        const answer = await call(off.url, '/positions');
        expect(answer.status).toBe(403);
        expect(answer.body).toMatchObject({ error: 'admin_disabled' });
        expect(String(answer.body.message)).toContain('ADMIN_TOKEN');
        expect((await call(off.url, '/flatten', { body: {} })).status).toBe(403);
      } finally {
        await off.close();
      }
    });
  });

  describe('cross-site requests to state-changing routes', () => {
    const halted = () => h.ctx.accountState.isHalted('paper', '2099-01-01');

    it('refuse Basic credentials (a browser resends them by itself): the bearer token only; GETs still take Basic', async () => {
      for (const [path, body] of ACTIONS) {
        const answer = await raw(server.url, path, 'POST', { authorization: basicAuth(TOKEN), 'content-type': 'application/json' }, body);
        expect([path, answer.status]).toEqual([path, 401]);
      }
      expect(halted()).toBe(false);
      expect(calls).not.toContain('backup');
      expect((await raw(server.url, '/positions', 'GET', { authorization: basicAuth(TOKEN) })).status).toBe(200);
    });

    it('refuse any content type but application/json, even with the bearer token: a form post changes nothing', async () => {
      for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
        for (const [path, body] of ACTIONS) {
          const answer = await raw(server.url, path, 'POST', { authorization: `Bearer ${TOKEN}`, 'content-type': type }, body);
          expect([path, type, answer.status]).toEqual([path, type, 415]);
        }
      }
      const none = await raw(server.url, '/halt', 'POST', { authorization: `Bearer ${TOKEN}` });
      expect(none.status).toBe(415);
      expect(halted()).toBe(false);
    });

    it('refuse a foreign Origin, and take the same origin or none', async () => {
      const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      for (const [path, body] of ACTIONS) {
        for (const origin of ['https://evil.example', 'null', `${server.url}.evil.example`]) {
          const answer = await raw(server.url, path, 'POST', { ...headers, origin }, body);
          expect([path, origin, answer.status]).toEqual([path, origin, 403]);
        }
      }
      expect((await raw(server.url, '/halt', 'POST', { ...headers, 'sec-fetch-site': 'cross-site' }, '{}')).status).toBe(403);
      expect(halted()).toBe(false);
      expect((await raw(server.url, '/halt', 'POST', { ...headers, origin: server.url }, '{}')).status).toBe(200);
      expect(halted()).toBe(true);
      expect((await raw(server.url, '/resume', 'POST', headers, '{}')).status).toBe(200);
      expect(halted()).toBe(false);
    });
  });

  describe('failed admin authentication', () => {
    it('is limited per source: 429 after 10 wrong tokens a minute, for a right one too until the minute ends', async () => {
      const limited = await serve({ ctx: h.ctx, db: h.db });
      // The count is per minute: start well inside one, so the test never straddles two.
      if (Date.now() % 60_000 > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - (Date.now() % 60_000) + 50));
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 30; i++) statuses.push((await call(limited.url, '/positions', { token: `guess-${i}` })).status);
        expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
        expect(statuses.slice(10)).toEqual(Array(20).fill(429));
        // Past the limit the token is not even compared: a lucky guess learns nothing.
        expect((await call(limited.url, '/positions')).status).toBe(429);
        expect((await call(limited.url, '/halt', { body: {} })).status).toBe(429);
      } finally {
        await limited.close();
      }
    });
  });

  it('GET /positions lists open positions with their last price and unrealized P&L; /orders the working orders', async () => {
    await open('AAPL', '100');
    const positions = await call(server.url, '/positions');
    expect(positions.status).toBe(200);
    expect(positions.body.positions).toEqual([expect.objectContaining({ symbol: 'AAPL', side: 'long', quantity: '10', averageEntryPrice: '100',
      stopPrice: '98', targetPrice: '104', lastPrice: '100', unrealizedPnl: '0', status: 'open' })]);
    const orders = await call(server.url, '/orders');
    expect((orders.body.orders as Array<{ leg: string }>).map((o) => o.leg).sort()).toEqual(['stop', 'target']);
    const all = await call(server.url, '/orders?all=1');
    expect((all.body.orders as unknown[]).length).toBe(3);
  });

  it('POST /prices moves the paper market: the target fills and the position closes take_profit, its stop cancelled', async () => {
    const answer = await call(server.url, '/prices', { body: { prices: { AAPL: '104.5' } } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ ok: true, accounts: ['paper'], closed: [{ account: 'paper', symbol: 'AAPL', exitReason: 'take_profit', exitPrice: '104.5' }] }); // a limit gapped through fills at the better price
    expect(h.ctx.positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect((await call(server.url, '/orders')).body.orders).toEqual([]);
    const trades = await call(server.url, '/trades');
    expect(trades.body.trades).toEqual([expect.objectContaining({ symbol: 'AAPL', exitReason: 'take_profit', realizedPnl: '45' })]);
    const stats = await call(server.url, '/stats?days=1');
    expect(stats.body.stats).toEqual([
      expect.objectContaining({ strategy: 'default', trades: 1, totalPnl: '45', winRatePct: '100', fillRatePct: '100', avgSlippagePct: '0' }),
      expect.objectContaining({ strategy: '(all)', trades: 1 }),
    ]);
  });

  it('POST /prices refuses what is not a positive price', async () => {
    expect((await call(server.url, '/prices', { body: { prices: { AAPL: 'abc' } } })).status).toBe(400);
    expect((await call(server.url, '/prices', { body: '{"prices": {"AAPL": 101.5}}' })).status).toBe(200); // a JSON number keeps its text
    expect((await call(server.url, '/prices', { body: { prices: {} } })).status).toBe(400);
    expect((await call(server.url, '/prices', { body: '{not json' })).status).toBe(400);
    expect((await call(server.url, '/stats?days=-1')).status).toBe(400);
  });

  it('POST /close closes one position by hand (reason manual), finding NASDAQ:MSFT as MSFT; nothing open is 404', async () => {
    await open('MSFT', '200');
    const answer = await call(server.url, '/close', { body: { symbol: 'nasdaq:msft' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ ok: true, outcome: 'closed', symbol: 'MSFT', exitReason: 'manual', exitPrice: '200', realizedPnl: '0' });
    const closed = h.ctx.positions.listClosed().at(-1);
    expect(closed?.exitReason).toBe('manual');
    const exit = h.ctx.orders.ordersForPosition(closed?.positionId ?? '').find((o) => o.leg === 'exit');
    expect(exit?.status).toBe('filled');
    expect(exit?.clientOrderId.length).toBeLessThanOrEqual(48);
    const none = await call(server.url, '/close', { body: { symbol: 'MSFT' } });
    expect(none.status).toBe(404);
    expect(none.body).toMatchObject({ error: 'no_position' });
    expect((await call(server.url, '/close', { body: {} })).status).toBe(400);
    expect((await call(server.url, '/close', { body: { symbol: 'MSFT', account: 'nope' } })).body).toMatchObject({ error: 'unknown_account' });
  });

  it('POST /flatten closes every open position by hand and cancels resting entries', async () => {
    await open('AAPL', '100');
    await open('TSLA', '250');
    expect(await h.executor.execute(h.job({ ticker: 'NVDA', action: 'buy', price: '450', orderType: 'limit', limitPrice: '400', id: id() }))).toEqual({ status: 'executed' });
    const answer = await call(server.url, '/flatten', { body: {} });
    expect(answer.status).toBe(200);
    expect(answer.body.ok).toBe(true);
    expect((answer.body.positions as Array<Record<string, unknown>>).map((p) => [p.symbol, p.outcome, p.exitReason]).sort())
      .toEqual([['AAPL', 'closed', 'manual'], ['TSLA', 'closed', 'manual']]);
    expect(answer.body.cancelledEntries).toEqual([expect.objectContaining({ symbol: 'NVDA', outcome: 'cancelled' })]);
    expect(h.ctx.positions.listOpen()).toEqual([]);
    expect(h.ctx.orders.openOrders('paper')).toEqual([]);
    expect((await call(server.url, '/flatten', { body: {} })).body).toMatchObject({ ok: true, positions: [] });
  });

  it('POST /halt blocks entries until POST /resume; an unknown account is 404', async () => {
    const halted = await call(server.url, '/halt', { body: { reason: 'maintenance' } });
    expect(halted.body).toEqual({ ok: true, halted: ['paper'], reason: 'maintenance' });
    expect(await h.executor.execute(h.job({ ticker: 'AMD', action: 'buy', price: '150', id: id() }))).toEqual({ status: 'halted', reason: 'halted: maintenance' });
    expect((await call(server.url, '/positions')).body.accounts).toEqual([{ account: 'paper', halted: true, haltedReason: 'maintenance' }]);
    expect((await call(server.url, '/resume', { body: { account: 'paper' } })).body).toEqual({ ok: true, resumed: ['paper'] });
    expect(await h.executor.execute(h.job({ ticker: 'AMD', action: 'buy', price: '150', id: id() }))).toEqual({ status: 'executed' });
    expect((await call(server.url, '/halt', { body: { account: 'ghost' } })).status).toBe(404);
  });

  it('POST /reconcile and /backup call the injected jobs and return what they say', async () => {
    expect((await call(server.url, '/reconcile', { body: {} })).body).toEqual({ ok: true, reports: [{ account: 'paper', at: '2026-01-05T10:00:00.000Z',
      differences: [{ kind: 'orphaned_protection_cancelled', symbol: 'AAPL', clientOrderId: 'tw-st-x', detail: 'its position is closed' }] }] });
    expect((await call(server.url, '/backup', { body: {} })).body).toEqual({ ok: true, file: '/tmp/backups/trading-1.db' });
    expect(calls).toEqual(['reconcile', 'backup']);
  });

  it('a reconciliation busy elsewhere is 409; a broker that could not be read is 502 with its report', async () => {
    const busy = await serve({ ctx: h.ctx, db: h.db, reconcile: async () => ({ ran: false as const, reason: 'another reconciliation is running' }) });
    const unreadable = await serve({ ctx: h.ctx, db: h.db,
      reconcile: async () => ({ ran: true as const, reports: [{ account: 'paper', at: new Date(), differences: [], error: 'could not read positions: 503' }] }) });
    try {
      expect(await call(busy.url, '/reconcile', { body: {} })).toMatchObject({ status: 409, body: { error: 'busy', message: 'another reconciliation is running' } });
      expect(await call(unreadable.url, '/reconcile', { body: {} })).toMatchObject({ status: 502, body: { ok: false, reports: [{ error: 'could not read positions: 503' }] } });
    } finally {
      await busy.close();
      await unreadable.close();
    }
  });

  it('POST /prices with the position loop at hand hands the prices to it: the loop books the stop, and GET /positions shows its state', async () => {
    const manager = new PositionManager(h.ctx, { intervalMs: 60_000 });
    let ticks = 0;
    const looped = await serve({ ctx: h.ctx, db: h.db, tick: async () => { ticks += 1; await manager.tick(); }, loop: () => manager.snapshot() });
    try {
      await open('NFLX', '500');
      const answer = await call(looped.url, '/prices', { body: { prices: { NFLX: '489' } } });
      expect(answer.body).toMatchObject({ ok: true, closed: [{ account: 'paper', symbol: 'NFLX', exitReason: 'stop_loss', exitPrice: '489' }] });
      expect(ticks).toBe(2);
      expect((await call(looped.url, '/positions')).body.loop).toMatchObject({ ticks: 2, errors: [] });
    } finally {
      await looped.close();
      await manager.stop();
    }
  });

  it('GET /equity lists the daily equity snapshots of every account, or of the one named', async () => {
    new EquityRepo(h.db).snapshot({ account: 'paper', tradingDay: '2026-01-05', equity: d('100012.5'), cash: d('99000'), realizedPnl: d('12.5'), unrealizedPnl: d('0'), at: new Date('2026-01-05T23:55:00Z') });
    const all = await call(server.url, '/equity');
    expect(all.body.snapshots).toContainEqual(expect.objectContaining({ account: 'paper', tradingDay: '2026-01-05', equity: '100012.5', realizedPnl: '12.5' }));
    expect((await call(server.url, '/equity?account=ghost')).status).toBe(404);
    expect((await call(server.url, '/equity?days=1')).body.snapshots).not.toContainEqual(expect.objectContaining({ tradingDay: '2026-01-05' }));
  });

  it('a failing job answers 500 with its message, the paths in it replaced; a too-deep body is a 400 naming the limit', async () => {
    const failing = await serve({ ctx: h.ctx, db: h.db, backup: async () => { throw new Error("ENOSPC: no space left on device, write '/var/lib/tradewire/backups/trading.db'"); } });
    try {
      const answer = await call(failing.url, '/backup', { body: {} });
      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({ error: 'internal', message: 'ENOSPC: no space left on device, write \'<path>\'' });
    } finally {
      await failing.close();
    }
    const deep = await call(server.url, '/halt', { body: `{"account":${'['.repeat(3000)}${']'.repeat(3000)}}` });
    expect(deep.status).toBe(400);
    expect(deep.body.message).toContain('32');
    expect(h.ctx.accountState.isHalted('paper', '2099-01-01')).toBe(false);
  });

  it('a failing job answers 500 with its message', async () => {
    const failing = await serve({ ctx: h.ctx, db: h.db, backup: async () => { throw new Error('disk full'); } });
    try {
      const answer = await call(failing.url, '/backup', { body: {} });
      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({ error: 'internal', message: 'disk full' });
    } finally {
      await failing.close();
    }
  });
});
