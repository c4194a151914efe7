// The dashboard at /dashboard/: a static page (src/http/dashboard/) that asks for the admin token once, and the JSON of its charts.
import { readFileSync } from 'node:fs';
import express, { type Response, type Router } from 'express';
import type { Database } from 'better-sqlite3';
import { toDecimal, type Decimal } from '../domain/money.ts';
import { jsonReady } from '../reports/format.ts';
import { loadTrades, sinceDays, type TradeRecord } from '../reports/journal.ts';
import { ALL, computeStats } from '../reports/stats.ts';
import { EquityRepo, type EquitySnapshot } from '../store/equity-repo.ts';
import { AuthFailureLog } from '../intake/auth-log.ts';
import type { Logger } from '../ops/logger.ts';
import { requireSameOriginJson, requireToken } from './admin-auth.ts';

export interface DashboardDeps {
  db: Database;
  adminToken: string | undefined;
  accounts: () => string[];
  now: () => Date;
  /** Where failed logins are logged (the first few per source and minute, then a count). */
  logger?: Logger | undefined;
}

/**
 * The page's content policy (helmet's headers from the app come with it): its own script and style files only, never
 * inline code (the admin token sits in the tab's sessionStorage, so injected script must not run), data from this
 * origin only, and no framing by any site, so a page elsewhere cannot overlay it to steer a click.
 */
const PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
  + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** How far back the charts look: the trades, daily P&L and equity curve of the last 90 days. */
const WINDOW_DAYS = 90;

/** The page and its files, read once: it is served as written, without a build step. */
const asset = (name: string) => readFileSync(new URL(`./dashboard/${name}`, import.meta.url), 'utf8');
const ASSETS = {
  '/': { type: 'html', body: asset('page.html') },
  '/page.js': { type: 'js', body: asset('page.js') },
  '/page.css': { type: 'css', body: asset('page.css') },
} as const;

/** The equity of all accounts together, one point per trading day that has snapshots, oldest first. */
export function equityByDay(snapshots: readonly EquitySnapshot[]): Array<{ tradingDay: string; equity: Decimal; accounts: number }> {
  const days = new Map<string, { equity: Decimal; accounts: number }>();
  for (const s of snapshots) {
    const day = days.get(s.tradingDay) ?? { equity: toDecimal(0), accounts: 0 };
    days.set(s.tradingDay, { equity: day.equity.plus(s.equity), accounts: day.accounts + 1 });
  }
  return [...days].sort(([a], [b]) => a.localeCompare(b)).map(([tradingDay, day]) => ({ tradingDay, ...day }));
}

/** Realized P&L per trading day (net of fees), all accounts together, oldest first; days without a close are left out. */
export function dailyPnl(trades: readonly TradeRecord[]): Array<{ tradingDay: string; realizedPnl: Decimal; trades: number }> {
  const days = new Map<string, { realizedPnl: Decimal; trades: number }>();
  for (const t of trades) {
    const day = days.get(t.tradingDay) ?? { realizedPnl: toDecimal(0), trades: 0 };
    days.set(t.tradingDay, { realizedPnl: day.realizedPnl.plus(t.realizedPnl), trades: day.trades + 1 });
  }
  return [...days].sort(([a], [b]) => a.localeCompare(b)).map(([tradingDay, day]) => ({ tradingDay, ...day }));
}

/** The running total of realized P&L after each close, oldest first: the curve until there are daily equity snapshots. */
export function cumulativePnl(trades: readonly TradeRecord[]): Array<{ at: string; total: Decimal }> {
  let total = toDecimal(0);
  return trades.map((t) => ({ at: t.closedAt, total: (total = total.plus(t.realizedPnl)) }));
}

export function createDashboardRouter(deps: DashboardDeps): Router {
  const router = express.Router({ strict: true });
  const send = (res: Response, { type, body }: { type: string; body: string }) => {
    // Revalidated on every load, so an upgrade's page is never mixed with an old script.
    res.set({ 'Content-Security-Policy': PAGE_POLICY, 'Cache-Control': 'no-cache' }).type(type).send(body);
  };

  // The page and its files are code without data, served without the token: the page asks for it once, keeps it in the
  // tab's sessionStorage and sends it as Authorization: Bearer, which a browser never adds by itself to a request that
  // another site makes (unlike Basic credentials or cookies), so the admin API's actions stay safe from forged requests.
  router.get('/', (req, res) => {
    // The page's relative links need the trailing slash: /dashboard → /dashboard/.
    if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
      res.redirect(301, `${req.baseUrl}/`);
      return;
    }
    send(res, ASSETS['/']);
  });
  router.get('/page.js', (_req, res) => { send(res, ASSETS['/page.js']); });
  router.get('/page.css', (_req, res) => { send(res, ASSETS['/page.css']); });

  router.use(requireToken(deps.adminToken, { failureLog: deps.logger && new AuthFailureLog(deps.logger, 'dashboard.unauthorized', 'dashboard request with a wrong or missing token') }));
  router.use(requireSameOriginJson());
  router.get('/data.json', (_req, res) => {
    const since = sinceDays(WINDOW_DAYS, deps.now());
    const trades = loadTrades(deps.db, { since });
    const equity = new EquityRepo(deps.db);
    const fromDay = since?.toISOString().slice(0, 10);
    res.set('Cache-Control', 'no-store').json(jsonReady({
      windowDays: WINDOW_DAYS,
      summary: computeStats(trades, []).find((s) => s.strategy === ALL),
      equity: equityByDay(deps.accounts().flatMap((account) => equity.list(account, { fromDay }))),
      realized: cumulativePnl(trades),
      daily: dailyPnl(trades),
      trades: trades.slice(-50).reverse(),
    }));
  });
  return router;
}
