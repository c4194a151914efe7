// The dashboard over real HTTP: the page and its files, the JSON of its charts behind the bearer token, and the admin API's reads it uses.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminRouter } from '../../src/http/admin.ts';
import { createApp } from '../../src/http/app.ts';
import { presentedToken } from '../../src/http/admin-auth.ts';
import { createDashboardRouter } from '../../src/http/dashboard.ts';
import { snapshotEquity } from '../../src/jobs/equity-snapshot.ts';
import { EquityRepo } from '../../src/store/equity-repo.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const TOKEN = 'dash-token-3e8a1f';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('presentedToken', () => {
  it('reads a Bearer token, or the password of Basic credentials whatever the user name', () => {
    expect(presentedToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(presentedToken(basic('admin', TOKEN))).toBe(TOKEN);
    expect(presentedToken(basic('', `a:${TOKEN}`))).toBe(`a:${TOKEN}`);
    expect(presentedToken(basic('admin', ''))).toBeUndefined();
    expect(presentedToken('Basic !!!')).toBeUndefined();
    expect(presentedToken(undefined)).toBeUndefined();
  });
});

describe('/dashboard', () => {
  let h: Harness;
  let server: Server;
  let url: string;
  let api: string;

  beforeAll(async () => {
    h = await createHarness();
    const admin = createAdminRouter({ ctx: h.ctx, db: h.db, adminToken: TOKEN, reconcile: async () => ({ ran: true as const, reports: [] }), backup: async () => ({ file: '' }) });
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [],
      routers: [
        { path: '/api', router: admin },
        { path: '/dashboard', router: createDashboardRouter({ db: h.db, adminToken: TOKEN, accounts: () => ['paper'], now: () => new Date() }) },
      ] });
    server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard`;
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => { server.close(() => resolve()); });
    await h.close();
  });

  it('serves the page and its files without the token, under a policy that runs no inline script', async () => {
    const moved = await fetch(url, { redirect: 'manual' });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe('/dashboard/');
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    // The token lives in the tab's sessionStorage: only the page's own script file runs, never inline or injected code.
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('unsafe-inline');
    // Not to be framed by another site (clickjacking).
    expect(policy).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('<title>tradewire</title>');
    expect(html).toContain('<script src="page.js" defer></script>');
    expect(html).not.toMatch(/<script>/);

    const script = await fetch(`${url}/page.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^application\/javascript|^text\/javascript/);
    const code = await script.text();
    // The token goes as a bearer header, never as the browser's own credentials; cells are filled as text, never as HTML.
    expect(code).toContain('authorization: `Bearer ${token}`');
    expect(code).toContain("credentials: 'omit'");
    expect(code).not.toContain('innerHTML');
    expect((await fetch(`${url}/page.css`)).headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('data.json takes the token as a bearer header and challenges with Bearer, so a browser never pops up a login', async () => {
    const none = await fetch(`${url}/data.json`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="tradewire"/);
    expect((await fetch(`${url}/data.json`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${url}/data.json`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('data.json: the equity per day, the running and daily realized P&L, recent trades newest first and the summary, exact', async () => {
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'dash-1' }))).toEqual({ status: 'executed' });
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'exit', price: '103', id: 'dash-2' }))).toEqual({ status: 'executed' });
    expect(await h.executor.execute(h.job({ ticker: 'MSFT', action: 'buy', sentiment: 'long', price: '400', id: 'dash-3' }))).toEqual({ status: 'executed' });
    await snapshotEquity(h.ctx, new EquityRepo(h.db));

    const answer = await fetch(`${url}/data.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const data = (await answer.json()) as Record<string, unknown>;
    const today = new Date().toISOString().slice(0, 10);
    expect(data.windowDays).toBe(90);
    expect(data.trades).toEqual([expect.objectContaining({ symbol: 'AAPL', exitReason: 'signal', realizedPnl: '30' })]);
    expect(data.realized).toEqual([{ at: expect.any(String), total: '30' }]);
    expect(data.daily).toEqual([{ tradingDay: today, realizedPnl: '30', trades: 1 }]);
    expect(data.summary).toMatchObject({ strategy: '(all)', trades: 1, totalPnl: '30' });
    expect(data.equity).toEqual([{ tradingDay: today, equity: expect.stringMatching(/^100030(\.0+)?$/), accounts: 1 }]);
  });

  it('the admin API gives the page each account\'s halt state, and the latest signals with their outcome and reason', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    h.ctx.accountState.halt('paper', 'kill switch: daily loss 5%', '2999-01-01');
    expect(await (await fetch(`${api}/accounts`, { headers: auth })).json()).toEqual({
      accounts: [{ account: 'paper', broker: 'paper', halted: true, haltedReason: 'kill switch: daily loss 5%', haltedUntilDay: '2999-01-01' }],
    });
    // A kill-switch halt lifts by itself on its day: from then on the account trades, whatever the stored flag says.
    h.ctx.accountState.halt('paper', 'kill switch: daily loss 5%', '2000-01-01');
    expect(await (await fetch(`${api}/accounts`, { headers: auth })).json()).toEqual({ accounts: [{ account: 'paper', broker: 'paper', halted: false }] });
    h.ctx.accountState.resume('paper');

    h.ctx.signals.insert({ signalId: '01JZZZZZZZZZZZZZZZZZZZZZZZ', strategy: 'default', ticker: 'NASDAQ:TSLA', symbol: 'TSLA', action: 'buy', payload: '{}',
      receivedAt: new Date(Date.now() + 60_000), status: 'rejected', reason: 'risk:max_positions' });
    const { signals } = (await (await fetch(`${api}/signals?limit=2`, { headers: auth })).json()) as { signals: Array<Record<string, unknown>> };
    expect(signals).toHaveLength(2);
    expect(signals[0]).toEqual({ signalId: '01JZZZZZZZZZZZZZZZZZZZZZZZ', receivedAt: expect.any(String), strategy: 'default', ticker: 'NASDAQ:TSLA',
      symbol: 'TSLA', action: 'buy', status: 'rejected', reason: 'risk:max_positions', executions: [] });
    // The newest executed one next, with its account's execution.
    expect(signals[1]).toMatchObject({ ticker: 'MSFT', status: 'executed', executions: [{ account: 'paper', status: 'executed' }] });
    expect((await fetch(`${api}/signals?limit=0`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${api}/signals?limit=501`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${api}/signals`)).status).toBe(401);
  });
});
