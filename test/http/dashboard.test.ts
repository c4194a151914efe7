// The dashboard over real HTTP: the browser's Basic prompt with the admin token as the password, the page, and its data from the journal.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  beforeAll(async () => {
    h = await createHarness();
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [],
      routers: [{ path: '/dashboard', router: createDashboardRouter({ db: h.db, adminToken: TOKEN, accounts: () => ['paper'], now: () => new Date() }) }] });
    server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => { server.close(() => resolve()); });
    await h.close();
  });

  it('asks a browser for the token with a Basic challenge, and refuses a wrong one', async () => {
    const none = await fetch(`${url}/`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="tradewire"/);
    expect((await fetch(`${url}/`, { headers: { authorization: basic('admin', 'wrong') } })).status).toBe(401);
    expect((await fetch(`${url}/data.json`, { headers: { authorization: basic('admin', `${TOKEN}x`) } })).status).toBe(401);
  });

  it('serves the page with the token (any user name), sending /dashboard on to /dashboard/', async () => {
    const moved = await fetch(url, { headers: { authorization: basic('me', TOKEN) }, redirect: 'manual' });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe('/dashboard/');
    const page = await fetch(`${url}/`, { headers: { authorization: basic('me', TOKEN) } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    // Not to be framed by another site (clickjacking), and the page's own inline script still runs.
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('content-security-policy')).toContain("script-src 'unsafe-inline'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('<title>tradewire</title>');
    expect(html).toContain("fetch('data.json'");
    // Cells are filled with textContent, never innerHTML: a symbol from an alert cannot inject markup.
    expect(html).not.toContain('innerHTML');
  });

  it('data.json: open positions, recent trades newest first, the P&L curve, stats and equity snapshots, exact', async () => {
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'dash-1' }))).toEqual({ status: 'executed' });
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'exit', price: '103', id: 'dash-2' }))).toEqual({ status: 'executed' });
    expect(await h.executor.execute(h.job({ ticker: 'MSFT', action: 'buy', sentiment: 'long', price: '400', id: 'dash-3' }))).toEqual({ status: 'executed' });
    await snapshotEquity(h.ctx, new EquityRepo(h.db));

    const answer = await fetch(`${url}/data.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const data = (await answer.json()) as Record<string, Array<Record<string, unknown>>>;
    expect(data.positions).toEqual([expect.objectContaining({ symbol: 'MSFT', side: 'long', averageEntryPrice: '400' })]);
    expect(data.trades).toEqual([expect.objectContaining({ symbol: 'AAPL', exitReason: 'signal', realizedPnl: '30' })]);
    expect(data.curve).toEqual([{ at: expect.any(String), pnl: '30' }]);
    expect(data.stats?.find((s) => s.strategy === '(all)')).toMatchObject({ trades: 1, totalPnl: '30' });
    expect(data.equity).toEqual([expect.objectContaining({ account: 'paper', realizedPnl: '30' })]);
  });
});
