// The dashboard's script, served as written (no build step). It asks for the admin token once, keeps it in this tab's
// sessionStorage, and reads and acts through the admin API with `Authorization: Bearer`: never the browser's stored
// credentials, which it would also send on a request that another site forges. Every cell is filled with textContent:
// symbols, strategies and reasons come from alerts and are never trusted as markup.
/* global document, location, sessionStorage, fetch, setTimeout, confirm, URL */
'use strict';

const TOKEN_KEY = 'tradewire.adminToken';
/** Positions and halt state: how often they are read again. */
const LIVE_EVERY_MS = 3000;
/** Charts, signals and trades. */
const HISTORY_EVERY_MS = 15000;
/** The admin API beside the page (/api/ next to /dashboard/, under whatever prefix a proxy adds), and the charts' JSON. */
const API = new URL('../api/', location.href);
const DATA = new URL('data.json', location.href);
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

// ---- talking to the admin API -------------------------------------------------------------------------------------

/** The token was refused or the admin side is off: polling stops and the page asks for the token. */
class SignedOut extends Error {}

/** A request with the token; `path` is an admin API route ('positions') or a URL. */
async function api(path, init = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new SignedOut('no token');
  const response = await fetch(new URL(path, API), {
    ...init,
    cache: 'no-store',
    credentials: 'omit',
    headers: { ...init.headers, authorization: `Bearer ${token}` },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) throw signOut('The token was refused: type it again.');
  if (response.status === 403 && body.error === 'admin_disabled') throw signOut(body.message);
  if (response.status === 429) throw new Error('too many wrong tokens from this address: wait a minute');
  if (!response.ok) throw new Error(body.message ?? `${path} answered ${response.status}`);
  return body;
}

// ---- signing in and out, and the two polling loops ----------------------------------------------------------------

/** Bumped on sign-out: a loop of an older session does not schedule itself again. */
let session = 0;

function signOut(message) {
  session += 1;
  sessionStorage.removeItem(TOKEN_KEY);
  $('board').hidden = true;
  $('forget').hidden = true;
  $('login').hidden = false;
  $('login-message').textContent = message;
  $('status').textContent = '';
  $('token').focus();
  return new SignedOut(message);
}

function signIn() {
  session += 1;
  $('login').hidden = true;
  $('board').hidden = false;
  $('forget').hidden = false;
  poll(refreshLive, LIVE_EVERY_MS, session);
  poll(refreshHistory, HISTORY_EVERY_MS, session);
}

async function poll(task, everyMs, mine) {
  if (mine !== session) return;
  try {
    await task();
    $('status').textContent = '';
  } catch (error) {
    if (error instanceof SignedOut) return;
    $('status').textContent = `Could not refresh: ${error.message}`;
  }
  setTimeout(() => poll(task, everyMs, mine), everyMs);
}

// ---- reading ------------------------------------------------------------------------------------------------------

/** Counts the reads of the live part: an older read that answers late (the poll's, overtaken by an action's) is dropped. */
let liveReads = 0;

async function refreshLive() {
  const read = ++liveReads;
  const [open, state] = await Promise.all([api('positions'), api('accounts')]);
  if (read !== liveReads) return;
  renderAccounts(state.accounts);
  renderPositions(open.positions);
  $('positions-updated').textContent = `(updated ${clock(new Date())}${open.loop?.lastTickAt ? `, prices from the position loop at ${clock(new Date(open.loop.lastTickAt))}` : ''})`;
}

async function refreshHistory() {
  const [data, recent] = await Promise.all([api(DATA), api('signals?limit=30')]);
  const s = data.summary;
  $('summary').textContent = s && s.trades > 0
    ? `${s.trades} trade(s) in ${data.windowDays} days: realized P&L ${money(s.totalPnl)}, ${s.wins} won, ${s.losses} lost, max drawdown ${money(s.maxDrawdown)}.`
    : `No closed trades in ${data.windowDays} days.`;
  drawEquity(data);
  drawDaily(data.daily);
  renderSignals(recent.signals);
  renderTrades(data.trades);
}

// ---- acting -------------------------------------------------------------------------------------------------------

/** Halts or resumes entries at one account, or at all of them when `account` is undefined. */
async function act(action, account) {
  const where = account ?? 'every account';
  if (action === 'resume' && !confirm(`Resume new entries at ${where}?`)) return;
  const body = action === 'halt' ? { reason: 'halted from the dashboard' } : {};
  if (account) body.account = account;
  for (const button of document.querySelectorAll('#accounts button')) button.disabled = true;
  try {
    await api(action, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    $('action-message').textContent = action === 'halt' ? `Entries halted at ${where}.` : `Entries resumed at ${where}.`;
    $('action-message').className = '';
  } catch (error) {
    if (error instanceof SignedOut) return;
    $('action-message').textContent = `Could not ${action} ${where}: ${error.message}`;
    $('action-message').className = 'neg';
  }
  await refreshLive().catch(() => undefined);
}

// ---- tables -------------------------------------------------------------------------------------------------------

/** A number as money for reading (display only: the exact value stays in the journal and the API). */
function money(value) {
  if (value === undefined || value === null) return '';
  return Number(value).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
const signOf = (value) => (Number(value) < 0 ? 'neg' : Number(value) > 0 ? 'pos' : '');
const clock = (date) => date.toISOString().slice(11, 19);
const utc = (iso) => (iso ? iso.slice(0, 19).replace('T', ' ') : '');

/** A cell: its text, and optionally `n` (a right-aligned number), a class, and `field` (a name scripts can find it by). */
const cell = (text, options = {}) => ({ text, ...options });

function table(id, headers, rows) {
  const t = $(id);
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = document.createElement('th');
    th.textContent = h;
    head.appendChild(th);
  }
  const tbody = t.createTBody();
  for (const row of rows) {
    const tr = tbody.insertRow();
    for (const c of row) {
      const td = tr.insertCell();
      if (c.node) td.appendChild(c.node);
      else td.textContent = c.text ?? '';
      td.className = [c.n ? 'n' : '', c.className ?? ''].join(' ').trim();
      if (c.field) td.dataset.field = c.field;
    }
  }
  if (rows.length === 0) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = headers.length;
    td.textContent = 'None.';
  }
}

function button(label, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = className;
  b.addEventListener('click', onClick);
  return b;
}

function renderAccounts(accounts) {
  const rows = accounts.map((a) => [
    cell(a.account, { field: 'account' }),
    cell(a.broker),
    cell(a.halted ? 'Halted' : 'Trading', { className: a.halted ? 'halted' : 'trading', field: 'state' }),
    cell(a.halted ? `${a.haltedReason ?? ''}${a.haltedUntilDay ? ` (until ${a.haltedUntilDay})` : ''}` : ''),
    { node: a.halted ? button('Resume', 'resume', () => act('resume', a.account)) : button('Halt', 'halt', () => act('halt', a.account)) },
  ]);
  if (accounts.length > 1 && accounts.some((a) => !a.halted)) {
    rows.push([cell('All accounts'), cell(''), cell(''), cell(''), { node: button('Halt all', 'halt', () => act('halt')) }]);
  }
  table('accounts', ['Account', 'Broker', 'Entries', 'Why', ''], rows);
}

function renderPositions(positions) {
  table('positions', ['Account', 'Strategy', 'Symbol', 'Side', 'Qty', 'Entry', 'Last', 'Unrealized P&L', 'Stop', 'Target', 'Status'],
    positions.map((p) => [
      cell(p.account), cell(p.strategy), cell(p.symbol, { field: 'symbol' }), cell(p.side), cell(p.quantity, { n: true }),
      cell(p.averageEntryPrice, { n: true }),
      cell(p.lastPrice ?? '—', { n: true, field: 'lastPrice' }),
      cell(p.unrealizedPnl === undefined ? '—' : money(p.unrealizedPnl), { n: true, className: signOf(p.unrealizedPnl), field: 'unrealizedPnl' }),
      cell(p.stopPrice, { n: true }), cell(p.targetPrice, { n: true }), cell(p.status),
    ]));
}

const OUTCOME_CLASS = { executed: 'pos', partial: 'neg', rejected: 'neg', failed: 'neg', stale: 'neg', halted: 'neg' };

function renderSignals(signals) {
  table('signals', ['Received (UTC)', 'Strategy', 'Ticker', 'Action', 'Outcome', 'Reason'], signals.map((s) => {
    // A fan-out's accounts may end differently: each one's outcome and reason, when there is more than one.
    const perAccount = s.executions.length > 1
      ? s.executions.map((e) => `${e.account}: ${e.status}${e.reason ? ` (${e.reason})` : ''}`).join('; ')
      : s.executions[0]?.reason;
    return [
      cell(utc(s.receivedAt)), cell(s.strategy), cell(s.ticker ?? s.symbol ?? ''),
      cell([s.action, s.sentiment].filter(Boolean).join(' ')),
      cell(s.status, { className: OUTCOME_CLASS[s.status] ?? '', field: 'outcome' }),
      cell(s.reason ?? perAccount ?? '', { field: 'reason' }),
    ];
  }));
}

function renderTrades(trades) {
  table('trades', ['Closed (UTC)', 'Strategy', 'Symbol', 'Side', 'Qty', 'Entry', 'Exit', 'P&L', 'Reason'], trades.map((t) => [
    cell(utc(t.closedAt)), cell(t.strategy), cell(t.symbol), cell(t.side), cell(t.quantity, { n: true }),
    cell(t.entryPrice, { n: true }), cell(t.exitPrice, { n: true }),
    cell(money(t.realizedPnl), { n: true, className: signOf(t.realizedPnl) }), cell(t.exitReason),
  ]));
}

// ---- charts (SVG) -------------------------------------------------------------------------------------------------

/** The plot area inside each chart: room on the left for the values and below for the dates. */
const MARGIN = { left: 78, right: 40, top: 14, bottom: 30 };

function svgChild(parent, name, attributes, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

/** Round values (1, 2 or 5 × a power of ten apart) from at or below `lo` to at or above `hi`, about `count` steps. */
function niceTicks(lo, hi, count) {
  if (hi - lo < 1e-9) {
    const pad = Math.max(Math.abs(lo) * 0.01, 1);
    lo -= pad;
    hi += pad;
  }
  const rough = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough - 1e-12);
  const first = Math.floor(lo / step + 1e-9) * step;
  const steps = Math.ceil((hi - first) / step - 1e-9);
  const values = Array.from({ length: steps + 1 }, (_, i) => first + i * step);
  const decimals = Math.min(2, Math.max(0, -Math.floor(Math.log10(step))));
  return { values, label: (v) => v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals }) };
}

/** The frame of a chart: the y grid with its values, and a scale from a value to a y coordinate. */
function valueAxis(svg, lo, hi) {
  const height = Number(svg.getAttribute('height'));
  const width = Number(svg.getAttribute('width'));
  const ticks = niceTicks(lo, hi, 5);
  const low = ticks.values[0];
  const high = ticks.values[ticks.values.length - 1];
  const bottom = height - MARGIN.bottom;
  const y = (v) => bottom - ((v - low) / (high - low)) * (bottom - MARGIN.top);
  for (const v of ticks.values) {
    svgChild(svg, 'line', { class: 'grid', x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) });
    svgChild(svg, 'text', { x: MARGIN.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, ticks.label(v));
  }
  svgChild(svg, 'line', { class: 'axis', x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom });
  svgChild(svg, 'line', { class: 'axis', x1: MARGIN.left, x2: width - MARGIN.right, y1: bottom, y2: bottom });
  return { y, width, bottom };
}

function dateLabel(svg, x, bottom, text) {
  svgChild(svg, 'line', { class: 'axis', x1: x, x2: x, y1: bottom, y2: bottom + 4 });
  svgChild(svg, 'text', { x, y: bottom + 17, 'text-anchor': 'middle' }, text);
}

function emptyChart(svg, text) {
  svg.replaceChildren();
  svgChild(svg, 'text', { class: 'empty', x: Number(svg.getAttribute('width')) / 2, y: Number(svg.getAttribute('height')) / 2, 'text-anchor': 'middle' }, text);
}

/** A line over time: `points` are { at: epoch ms, value, title }, oldest first. */
function lineChart(svg, points, emptyText) {
  if (points.length === 0) return emptyChart(svg, emptyText);
  svg.replaceChildren();
  const values = points.map((p) => p.value);
  const { y, width, bottom } = valueAxis(svg, Math.min(...values), Math.max(...values));
  let start = points[0].at;
  let end = points[points.length - 1].at;
  if (end - start < 86_400_000) {
    start -= 43_200_000;
    end += 43_200_000;
  }
  const x = (at) => MARGIN.left + 8 + ((at - start) / (end - start)) * (width - MARGIN.left - MARGIN.right - 16);
  const labels = Math.min(6, points.length);
  for (let i = 0; i < labels; i += 1) {
    const at = labels === 1 ? points[0].at : start + ((end - start) * i) / (labels - 1);
    dateLabel(svg, x(at), bottom, new Date(at).toISOString().slice(0, 10));
  }
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.at).toFixed(1)} ${y(p.value).toFixed(1)}`).join(' ');
  svgChild(svg, 'path', { class: 'line', d });
  for (const p of points) {
    const dot = svgChild(svg, 'circle', { class: 'point', cx: x(p.at).toFixed(1), cy: y(p.value).toFixed(1), r: 3 });
    svgChild(dot, 'title', {}, p.title);
  }
}

function drawEquity(data) {
  if (data.equity.length >= 2) {
    $('curve-title').textContent = 'Equity (daily snapshots, all accounts)';
    lineChart($('curve'), data.equity.map((e) => ({
      at: Date.parse(`${e.tradingDay}T00:00:00Z`), value: Number(e.equity), title: `${e.tradingDay}: ${money(e.equity)}`,
    })), '');
    return;
  }
  $('curve-title').textContent = 'Cumulative realized P&L (until there are two daily equity snapshots)';
  lineChart($('curve'), data.realized.map((r) => ({ at: Date.parse(r.at), value: Number(r.total), title: `${utc(r.at)}: ${money(r.total)}` })),
    `No closed trades in ${data.windowDays} days yet.`);
}

function drawDaily(days) {
  const svg = $('daily');
  if (days.length === 0) return emptyChart(svg, 'No closed trades yet.');
  svg.replaceChildren();
  const values = days.map((d) => Number(d.realizedPnl));
  const { y, width, bottom } = valueAxis(svg, Math.min(0, ...values), Math.max(0, ...values));
  const band = (width - MARGIN.left - MARGIN.right) / days.length;
  const barWidth = Math.max(2, Math.min(36, band * 0.7));
  const every = Math.ceil(days.length / 6);
  days.forEach((day, i) => {
    const center = MARGIN.left + band * (i + 0.5);
    const value = values[i];
    const top = Math.min(y(value), y(0));
    const bar = svgChild(svg, 'rect', {
      class: value < 0 ? 'bar-neg' : 'bar-pos', x: (center - barWidth / 2).toFixed(1), y: top.toFixed(1), width: barWidth.toFixed(1),
      height: Math.max(1, Math.abs(y(value) - y(0))).toFixed(1),
    });
    svgChild(bar, 'title', {}, `${day.tradingDay}: ${money(day.realizedPnl)} (${day.trades} trade${day.trades === 1 ? '' : 's'})`);
    if (i % every === 0) dateLabel(svg, center, bottom, day.tradingDay);
  });
  svgChild(svg, 'line', { class: 'zero', x1: MARGIN.left, x2: width - MARGIN.right, y1: y(0), y2: y(0) });
}

// ---- start --------------------------------------------------------------------------------------------------------

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('login-message').textContent = '';
  signIn();
});
$('forget').addEventListener('click', () => signOut('The token is forgotten in this tab.'));

if (sessionStorage.getItem(TOKEN_KEY)) signIn();
else signOut('');
