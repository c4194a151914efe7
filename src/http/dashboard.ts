// The dashboard at /dashboard/: one static page (equity curve, open positions, recent trades) and the JSON it reads, behind the admin token.
import express, { type Router } from 'express';
import type { Database } from 'better-sqlite3';
import { jsonReady } from '../reports/format.ts';
import { loadOpenPositions, loadTrades, sinceDays } from '../reports/journal.ts';
import { computeStats } from '../reports/stats.ts';
import { EquityRepo } from '../store/equity-repo.ts';
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
 * The page's content policy (helmet's headers from the app come with it): its own inline script and style, data from
 * this origin only, and no framing by any site, so a page elsewhere cannot overlay it to steer a click.
 */
const PAGE_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
  + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** How far back the page looks: the trades and the equity curve of the last 90 days. */
const WINDOW_DAYS = 90;

export function createDashboardRouter(deps: DashboardDeps): Router {
  const router = express.Router({ strict: true });
  // Basic, so that a browser asks for the token (any user name, the token as the password) and resends it for data.json.
  router.use(requireToken(deps.adminToken, { challenge: 'Basic', failureLog: deps.logger && new AuthFailureLog(deps.logger, 'dashboard.unauthorized', 'dashboard request with a wrong or missing token') }));
  // The page only reads; should it ever act, the action takes the bearer token and JSON from its script, same origin only.
  router.use(requireSameOriginJson());
  router.get('/', (req, res) => {
    // The page's relative link to data.json needs the trailing slash: /dashboard → /dashboard/.
    if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
      res.redirect(301, `${req.baseUrl}/`);
      return;
    }
    res.set('Content-Security-Policy', PAGE_POLICY).type('html').send(PAGE);
  });
  router.get('/data.json', (_req, res) => {
    const since = sinceDays(WINDOW_DAYS, deps.now());
    const trades = loadTrades(deps.db, { since });
    const equity = new EquityRepo(deps.db);
    const fromDay = since?.toISOString().slice(0, 10);
    res.set('Cache-Control', 'no-store').json(jsonReady({
      positions: loadOpenPositions(deps.db),
      trades: trades.slice(-50).reverse(),
      curve: trades.map((t) => ({ at: t.closedAt, pnl: t.realizedPnl })),
      stats: computeStats(trades, []),
      equity: deps.accounts().flatMap((account) => equity.list(account, { fromDay })),
    }));
  });
  return router;
}

// The page builds every cell with textContent: symbols and strategy names come from alerts, never trusted as HTML.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tradewire</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; }
  h1 { font-size: 1.2rem; } h2 { font-size: 1rem; margin-top: 1.5rem; }
  table { border-collapse: collapse; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #e3e6ea; text-align: left; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; } .neg { color: #b3261e; } .pos { color: #1b7f3b; }
  svg { background: #f7f8fa; border: 1px solid #e3e6ea; }
</style></head>
<body>
<h1>tradewire</h1>
<p id="summary">Loading…</p>
<h2 id="curve-title">Equity</h2>
<svg id="curve" width="720" height="200" viewBox="0 0 720 200" role="img"></svg>
<h2>Open positions</h2>
<table id="positions"></table>
<h2>Recent trades (90 days, newest first)</h2>
<table id="trades"></table>
<script>
const money = (v) => v === undefined ? '' : Number(v).toFixed(2);
function table(id, headers, rows) {
  const t = document.getElementById(id);
  t.replaceChildren();
  const head = t.insertRow();
  for (const h of headers) { const th = document.createElement('th'); th.textContent = h; head.appendChild(th); }
  for (const row of rows) {
    const tr = t.insertRow();
    for (const [text, numeric] of row) {
      const td = tr.insertCell();
      td.textContent = text ?? '';
      if (numeric) td.className = 'n' + (Number(text) < 0 ? ' neg' : Number(text) > 0 ? ' pos' : '');
    }
  }
  if (rows.length === 0) { const td = t.insertRow().insertCell(); td.colSpan = headers.length; td.textContent = 'None.'; }
}
function draw(points, title) {
  document.getElementById('curve-title').textContent = title;
  const svg = document.getElementById('curve');
  svg.replaceChildren();
  if (points.length < 2) return;
  const ys = points.map((p) => p[1]);
  const lo = Math.min(...ys), hi = Math.max(...ys), span = hi - lo || 1;
  const d = points.map((p, i) => (i ? 'L' : 'M') + (10 + i * 700 / (points.length - 1)).toFixed(1) + ' ' + (190 - (p[1] - lo) / span * 180).toFixed(1)).join(' ');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', d); path.setAttribute('fill', 'none'); path.setAttribute('stroke', '#2f6fde'); path.setAttribute('stroke-width', '2');
  svg.appendChild(path);
}
async function refresh() {
  const response = await fetch('data.json', { credentials: 'same-origin' });
  if (!response.ok) { document.getElementById('summary').textContent = 'Could not load the data (' + response.status + ').'; return; }
  const data = await response.json();
  const total = data.stats.find((s) => s.strategy === '(all)');
  document.getElementById('summary').textContent = total
    ? total.trades + ' trades in 90 days, P&L ' + money(total.totalPnl) + ', ' + data.positions.length + ' open position(s).'
    : data.positions.length + ' open position(s).';
  const byDay = data.equity.reduce((m, s) => m.set(s.tradingDay, (m.get(s.tradingDay) ?? 0) + Number(s.equity)), new Map());
  if (byDay.size >= 2) draw([...byDay].sort(), 'Equity (daily snapshots, all accounts)');
  else { let sum = 0; draw([[0, 0], ...data.curve.map((c) => [c.at, sum += Number(c.pnl)])], 'Cumulative realized P&L (until there are two daily equity snapshots)'); }
  table('positions', ['Account', 'Strategy', 'Symbol', 'Side', 'Qty', 'Entry', 'Stop', 'Target', 'Status'],
    data.positions.map((p) => [[p.account], [p.strategy], [p.symbol], [p.side], [p.quantity, true], [p.averageEntryPrice, true], [p.stopPrice, true], [p.targetPrice, true], [p.status]]));
  table('trades', ['Closed (UTC)', 'Strategy', 'Symbol', 'Side', 'Qty', 'Entry', 'Exit', 'P&L', 'Reason'],
    data.trades.map((t) => [[t.closedAt.slice(0, 16).replace('T', ' ')], [t.strategy], [t.symbol], [t.side], [t.quantity, true], [t.entryPrice, true], [t.exitPrice, true], [money(t.realizedPnl), true], [t.exitReason]]));
}
refresh();
setInterval(refresh, 5000);
</script>
</body></html>
`;
