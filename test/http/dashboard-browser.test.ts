// The dashboard in a real browser: Debian's headless Chromium, driven by playwright-core, against the page, the admin
// API and a seeded journal over real HTTP. It signs in with the token, renders the curve, the daily bars, positions,
// signals and trades, follows a price change without a reload, halts and resumes by click, and takes a screenshot.
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDecimal as d } from '../../src/domain/money.ts';
import { createAdminRouter } from '../../src/http/admin.ts';
import { createApp } from '../../src/http/app.ts';
import { createDashboardRouter } from '../../src/http/dashboard.ts';
import { EquityRepo } from '../../src/store/equity-repo.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';
import { tempDir } from '../helpers/env.ts';
import { decodePng, distinctColours } from '../helpers/png.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dash-browser-token-9c41d7';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`;
if (missing) process.stderr.write(`dashboard browser test skipped: ${missing}\n`);

const DAY_MS = 86_400_000;
/** The trading day `n` days before today (UTC), 'YYYY-MM-DD'. */
const daysAgo = (n: number) => new Date(Date.now() - n * DAY_MS).toISOString().slice(0, 10);

/** Six daily equity snapshots, and four closed trades on four days (one of them a loss). */
const EQUITY = ['100000', '100250.5', '99980', '100410', '100600.25', '100530'];
const TRADES = [
  { symbol: 'MSFT', day: 5, entry: '400', exit: '425.05', pnl: '250.5', reason: 'take_profit' },
  { symbol: 'NVDA', day: 4, entry: '120', exit: '117.295', pnl: '-270.5', reason: 'stop_loss' },
  { symbol: 'AMD', day: 3, entry: '150', exit: '193', pnl: '430', reason: 'signal' },
  { symbol: 'META', day: 2, entry: '500', exit: '519.025', pnl: '190.25', reason: 'trailing_stop' },
];

function seed(h: Harness): void {
  const equity = new EquityRepo(h.db);
  EQUITY.forEach((value, i) => {
    equity.snapshot({ account: 'paper', tradingDay: daysAgo(EQUITY.length - i), equity: d(value), cash: d(value), realizedPnl: d(0), unrealizedPnl: d(0) });
  });
  for (const t of TRADES) {
    const closedAt = new Date(`${daysAgo(t.day)}T15:30:00Z`);
    const position = h.ctx.positions.open({
      account: 'paper', strategy: 'default', symbol: t.symbol, side: 'long', quantity: d(10), averageEntryPrice: d(t.entry), status: 'open',
      openedAt: new Date(closedAt.getTime() - 3_600_000), tradingDay: daysAgo(t.day),
    });
    h.ctx.positions.close(position.id, {
      quantity: d(10), entryPrice: d(t.entry), exitPrice: d(t.exit), realizedPnl: d(t.pnl), fees: d(0), exitReason: t.reason as 'signal',
      closedAt, tradingDay: daysAgo(t.day),
    });
  }
  // A signal the risk checks refused: the page shows its outcome and why.
  h.ctx.signals.insert({
    signalId: ulid(), strategy: 'default', ticker: 'NASDAQ:TSLA', symbol: 'TSLA', action: 'buy', sentiment: 'long', payload: '{}',
    receivedAt: new Date(), status: 'rejected', reason: 'risk:max_positions',
  });
}

/** The text of every element matching `selector`. */
const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();

describe.skipIf(missing !== undefined)('the dashboard in headless Chromium', () => {
  let h: Harness;
  let server: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const shots = tempDir('tw-dashboard-shot');
  /** Every request the page made to the admin side: its method, path and Authorization header. */
  /** Uncaught errors in the page, and anything its content policy blocked. */
  const problems: string[] = [];
  const requests: Array<{ method: string; path: string; authorization?: string; contentType?: string; origin?: string }> = [];

  beforeAll(async () => {
    h = await createHarness();
    // The open position, entered through the executor so that the paper broker holds it and quotes its price.
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'dash-open' }))).toEqual({ status: 'executed' });
    seed(h);
    const admin = createAdminRouter({ ctx: h.ctx, db: h.db, adminToken: TOKEN, reconcile: async () => ({ ran: true as const, reports: [] }), backup: async () => ({ file: '' }) });
    const dashboard = createDashboardRouter({ db: h.db, adminToken: TOKEN, accounts: () => ['paper'], now: () => new Date() });
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [],
      routers: [{ path: '/api', router: admin }, { path: '/dashboard', router: dashboard }] });
    server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Chromium reaches for Google's services at start; this machine has no network but loopback.
      args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on('pageerror', (error) => { problems.push(`uncaught: ${error.message}`); });
    page.on('console', (message) => { if (/Content.Security.Policy/i.test(message.text())) problems.push(message.text()); });
    page.on('request', async (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/api/') || url.pathname === '/dashboard/data.json') {
        // Every header as sent (Origin among them), not only those the page set.
        const headers = await request.allHeaders();
        requests.push({ method: request.method(), path: url.pathname, authorization: headers.authorization, contentType: headers['content-type'], origin: headers.origin });
      }
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => { if (server) server.close(() => resolve()); else resolve(); });
    await h?.close();
    shots.cleanup();
  });

  it('asks for the token once, refuses a wrong one, and then shows the board', async () => {
    const response = await page.goto(`${origin}/dashboard/`);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#board').isVisible()).toBe(false);

    await page.fill('#token', 'not-the-token');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-message')?.textContent?.includes('refused'));
    expect(await page.locator('#login').isVisible()).toBe(true);

    await page.fill('#token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#positions td[data-field="lastPrice"]', { timeout: 20_000 });
    expect(await page.locator('#board').isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('tradewire.adminToken'))).toBe(TOKEN);
  }, 60_000);

  it('draws the equity curve with a point per daily snapshot, dates on one axis and values on the other', async () => {
    await page.waitForSelector('#curve circle.point', { timeout: 20_000 });
    expect(await page.locator('#curve circle.point').count()).toBe(EQUITY.length);
    const path = await page.locator('#curve path.line').getAttribute('d');
    expect(path?.match(/[ML]/g)).toHaveLength(EQUITY.length);
    const labels = await texts(page, '#curve text');
    // The first and the last snapshot's day label the ends of the time axis.
    expect(labels).toContain(daysAgo(EQUITY.length));
    expect(labels).toContain(daysAgo(1));
    // Values on the other: round steps covering 99,980 to 100,600.25.
    const values = labels.filter((l) => /^\d{1,3}(,\d{3})+$/.test(l)).map((l) => Number(l.replaceAll(',', '')));
    expect(values.length).toBeGreaterThanOrEqual(3);
    expect(Math.min(...values)).toBeLessThanOrEqual(99_980);
    expect(Math.max(...values)).toBeGreaterThanOrEqual(100_600.25);
    expect(await page.locator('#curve-title').textContent()).toMatch(/^Equity/);
  }, 30_000);

  it('draws a bar per day with closed trades, a loss below zero, with dates', async () => {
    expect(await page.locator('#daily rect').count()).toBe(TRADES.length);
    expect(await page.locator('#daily rect.bar-neg').count()).toBe(1);
    expect(await page.locator('#daily rect.bar-neg title').textContent()).toBe(`${daysAgo(4)}: -270.50 (1 trade)`);
    expect(await texts(page, '#daily text')).toContain(daysAgo(5));
  });

  it('lists signals with their outcome and reason, the trades newest first, and their summary', async () => {
    const rejected = page.locator('#signals tr', { hasText: 'NASDAQ:TSLA' });
    expect(await rejected.locator('td[data-field="outcome"]').textContent()).toBe('rejected');
    expect(await rejected.locator('td[data-field="reason"]').textContent()).toBe('risk:max_positions');
    expect(await page.locator('#signals tr', { hasText: 'AAPL' }).locator('td[data-field="outcome"]').textContent()).toBe('executed');
    const trades = await page.locator('#trades tbody tr').allTextContents();
    expect(trades).toHaveLength(TRADES.length);
    expect(trades[0]).toContain('META');
    expect(trades[1]).toContain('AMD');
    expect(await page.locator('#summary').textContent()).toBe('4 trade(s) in 90 days: realized P&L 600.25, 3 won, 1 lost, max drawdown 270.50.');
  });

  it('shows the position\'s last price and unrealized P&L, and follows a price change without a reload', async () => {
    const aapl = page.locator('#positions tr', { hasText: 'AAPL' });
    expect(await aapl.locator('td[data-field="lastPrice"]').textContent()).toBe('100');
    expect(await aapl.locator('td[data-field="unrealizedPnl"]').textContent()).toBe('0.00');
    await page.evaluate(() => { (window as unknown as { stillHere: boolean }).stillHere = true; });

    // A paper price, set through the admin API the way a user would (below the target, so the position stays open).
    const moved = await fetch(`${origin}/api/prices`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ prices: { AAPL: '102.5' } }),
    });
    expect(moved.status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#positions td[data-field="lastPrice"]')?.textContent === '102.5', undefined, { timeout: 20_000 });
    expect(await aapl.locator('td[data-field="unrealizedPnl"]').textContent()).toBe('25.00');
    expect(await aapl.locator('td[data-field="unrealizedPnl"]').getAttribute('class')).toContain('pos');
    // The same document: no reload took the marker away.
    expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
  }, 30_000);

  it('halts and resumes entries by click, with the bearer token and JSON', async () => {
    expect(h.ctx.accountState.get('paper')?.halted ?? false).toBe(false);
    await page.click('#accounts button.halt');
    await page.waitForFunction(() => document.querySelector('#accounts td[data-field="state"]')?.textContent === 'Halted', undefined, { timeout: 20_000 });
    expect(h.ctx.accountState.get('paper')).toMatchObject({ halted: true, haltedReason: 'halted from the dashboard' });
    const accounts = await (await fetch(`${origin}/api/accounts`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    expect(accounts).toEqual({ accounts: [{ account: 'paper', broker: 'paper', halted: true, haltedReason: 'halted from the dashboard' }] });

    const halt = requests.find((r) => r.method === 'POST' && r.path === '/api/halt');
    expect(halt).toEqual({ method: 'POST', path: '/api/halt', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', origin });

    page.once('dialog', (dialog) => { void dialog.accept(); });
    await page.click('#accounts button.resume');
    await page.waitForFunction(() => document.querySelector('#accounts td[data-field="state"]')?.textContent === 'Trading', undefined, { timeout: 20_000 });
    expect(h.ctx.accountState.get('paper')?.halted).toBe(false);

    // Every read and action carried the bearer token: never Basic credentials, which a browser also sends by itself.
    expect(requests.length).toBeGreaterThan(5);
    const signedIn = requests.filter((r) => r.authorization !== 'Bearer not-the-token');
    expect(signedIn.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  }, 60_000);

  it('writes a screenshot that is not blank: the charts\' colours are in it', async () => {
    const file = join(shots.path, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    const pixels = decodePng(readFileSync(file));
    expect(pixels.width).toBe(1000);
    // A blank page is one colour; text, tables and charts bring hundreds (anti-aliasing).
    expect(distinctColours(pixels)).toBeGreaterThan(100);
    const colours = new Set<string>();
    for (let i = 0; i < pixels.data.length; i += pixels.channels) colours.add(`${pixels.data[i]},${pixels.data[i + 1]},${pixels.data[i + 2]}`);
    // The curve's blue points, the gain bars' green and the loss bar's red (src/http/dashboard/page.css).
    expect(colours).toContain('47,111,222');
    expect(colours).toContain('27,127,59');
    expect(colours).toContain('179,38,30');
  }, 30_000);

  it('keeps the token for the tab: a reload shows the board without asking again', async () => {
    await page.reload();
    await page.waitForSelector('#positions td[data-field="lastPrice"]', { timeout: 20_000 });
    expect(await page.locator('#login').isVisible()).toBe(false);
  }, 30_000);

  it('ran without an uncaught error, and its content policy blocked nothing', () => {
    expect(problems).toEqual([]);
  });
});
