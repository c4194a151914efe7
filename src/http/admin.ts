// The admin API under /api: positions, orders, trades, stats and equity to read; halt, resume, flatten, close, prices, reconcile and backup to act.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Database } from 'better-sqlite3';
import { acceptsPrices } from '../brokers/broker.ts';
import { isDecimalText, toDecimal, type Decimal } from '../domain/money.ts';
import { unrealizedPnl } from '../domain/position.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { closePosition, idFor, syncProtection } from '../execution/position-actions.ts';
import { parseBody } from '../intake/body.ts';
import type { OnDemandReconcile } from '../jobs/reconcile-on-demand.ts';
import { jsonReady } from '../reports/format.ts';
import { loadEntries, loadOrders, loadTrades, sinceDays } from '../reports/journal.ts';
import type { ManagerSnapshot } from '../portfolio/manager.ts';
import { computeStats } from '../reports/stats.ts';
import type { Position } from '../store/positions-repo.ts';
import { EquityRepo } from '../store/equity-repo.ts';
import { AuthFailureLog } from '../intake/auth-log.ts';
import { requireSameOriginJson, requireToken } from './admin-auth.ts';
import { publicMessage } from './errors.ts';

export interface AdminDeps {
  /** The execution context main.ts builds for the executor: repos, brokers, tracker, config, logger, clock, owner. */
  ctx: ExecutionContext;
  /** The journal, for the reports (trades, stats, orders). */
  db: Database;
  /** The admin token (ADMIN_TOKEN or server.adminToken). Without one the API answers every request 403. */
  adminToken: string | undefined;
  /** Reconciles the journal with every broker now (src/jobs/reconcile-on-demand.ts); its reports are returned as JSON. */
  reconcile: () => Promise<OnDemandReconcile>;
  /** Takes an online backup of the journal (src/jobs/backup.ts). */
  backup: () => Promise<{ file: string }>;
  /**
   * One pass of the position loop, where this process runs it (PositionManager.tick): pushed prices then go through
   * the loop (protective fills, emulated stops and targets, trailing stops) as the broker's own prices would.
   * Without it (role api) the route books fills of resting stops and targets itself.
   */
  tick?: (() => Promise<void>) | undefined;
  /** The position loop's state, where this process runs it: GET /positions says whether it is ticking. */
  loop?: (() => ManagerSnapshot) | undefined;
}

/** An answer other than 200, with the JSON body to send. */
class HttpError extends Error {
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(String(body.message ?? body.error));
  }
}

/** The JSON body of a POST, numbers kept as their text; an empty body is {}. */
function bodyOf(req: Request): Record<string, unknown> {
  const text = typeof req.body === 'string' ? req.body : '';
  if (text.trim() === '') return {};
  const parsed = parseBody(text, 'application/json');
  if (!parsed.ok) {
    // The nesting limit and broken JSON say what is wrong; anything else is not an object.
    const issue = parsed.error === 'invalid_signal' ? parsed.issues[0]?.message : undefined;
    throw new HttpError(400, { error: 'invalid_request', message: issue ?? 'the body must be a JSON object' });
  }
  return parsed.body;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, { error: 'invalid_request', message: `${key} must be a non-empty string` });
  return value.trim();
}

function decimalIn(value: unknown, label: string): Decimal {
  const text = typeof value === 'string' ? value.trim() : typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
  if (text === undefined || !isDecimalText(text) || !toDecimal(text).gt(0)) {
    throw new HttpError(400, { error: 'invalid_request', message: `${label} must be a positive number (as text: "101.25")` });
  }
  return toDecimal(text);
}

function daysParam(req: Request): number | undefined {
  const raw = req.query.days;
  if (raw === undefined) return undefined;
  const days = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(days) || days <= 0) throw new HttpError(400, { error: 'invalid_request', message: 'days must be a positive number' });
  return days;
}

function queryString(req: Request, key: string): string | undefined {
  const raw = req.query[key];
  return typeof raw === 'string' && raw !== '' ? raw : undefined;
}

export function createAdminRouter(deps: AdminDeps): Router {
  const { ctx, db } = deps;
  const router = express.Router();
  router.use(requireToken(deps.adminToken, {
    failuresPerMinute: () => ctx.config().server.adminFailedAuthPerMinute,
    failureLog: new AuthFailureLog(ctx.logger, 'admin.unauthorized', 'admin request with a wrong or missing token'),
  }));
  router.use(requireSameOriginJson());
  router.use(express.text({ type: () => true, limit: '64kb' }));

  /** The accounts an action applies to: the one named (which must exist), or every configured one. */
  const accountsFor = (account: string | undefined): string[] => {
    const known = Object.keys(ctx.config().accounts);
    if (account === undefined) return known;
    if (!known.includes(account)) throw new HttpError(404, { error: 'unknown_account', message: `no account named ${account}`, accounts: known });
    return [account];
  };

  const fillTimeoutMs = () => ctx.config().execution.reversalTimeoutSeconds * 1000;

  /** Closes one position by hand (reason manual); the exit's client id derives from the position and a sequence. */
  const closeByHand = async (position: Position): Promise<Record<string, unknown>> => {
    const base = { account: position.account, symbol: position.symbol, side: position.side, quantity: position.quantity };
    if (position.status === 'external') return { ...base, outcome: 'skipped', reason: 'external: tradewire did not open it' };
    if (position.status === 'opening') return { ...base, outcome: 'skipped', reason: 'opening: its entry has not filled yet' };
    try {
      const broker = ctx.brokers.get(position.account);
      const instrument = await broker.instrument(position.symbol);
      const sequence = ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'exit').length + 1;
      const outcome = await closePosition(ctx, broker, instrument, position, {
        reason: 'manual', clientOrderId: idFor(broker, { source: position.id, account: position.account, leg: 'exit', sequence }),
        fillTimeoutMs: fillTimeoutMs(),
      });
      switch (outcome.kind) {
        case 'closed':
        case 'reduced':
          ctx.logger.info({ event: 'admin.closed', account: position.account, symbol: position.symbol, exitReason: outcome.closed.exitReason,
            realizedPnl: outcome.closed.realizedPnl.toFixed() }, `closed ${position.symbol} at ${position.account} by hand`);
          return { ...base, outcome: 'closed', exitReason: outcome.closed.exitReason, exitPrice: outcome.closed.exitPrice, realizedPnl: outcome.closed.realizedPnl };
        case 'busy':
          return { ...base, outcome: 'busy', reason: 'another close of this position is in progress' };
        case 'unfilled':
          return { ...base, outcome: 'unfilled', reason: `the exit order ${outcome.order.clientOrderId} is ${outcome.order.status}` };
      }
    } catch (error) {
      ctx.logger.error({ event: 'admin.close_failed', account: position.account, symbol: position.symbol, err: String(error) }, 'manual close failed');
      return { ...base, outcome: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  };

  /** The last price of each position's symbol: the loop's marks where it runs here, else one batched quote call per account. */
  const lastPrices = async (positions: Position[], snapshot: ManagerSnapshot | undefined): Promise<Map<string, Decimal>> => {
    const prices = new Map<string, Decimal>();
    const key = (account: string, symbol: string) => `${account}\u0000${symbol}`;
    for (const marks of snapshot?.accounts ?? []) {
      for (const p of marks.positions) if (p.mark !== undefined) prices.set(key(marks.account, p.symbol), p.mark);
    }
    const missing = new Map<string, Set<string>>();
    for (const p of positions) {
      if (prices.has(key(p.account, p.symbol))) continue;
      missing.set(p.account, (missing.get(p.account) ?? new Set()).add(p.symbol));
    }
    await Promise.all([...missing].map(async ([account, symbols]) => {
      try {
        for (const [symbol, quote] of await ctx.brokers.get(account).quotes([...symbols])) prices.set(key(account, symbol), quote.last);
      } catch {
        // A price is a nicety here: those positions are listed without one.
      }
    }));
    return new Map(positions.flatMap((p) => {
      const last = prices.get(key(p.account, p.symbol));
      return last ? [[p.id, last] as const] : [];
    }));
  };

  router.get('/positions', async (req, res) => {
    const account = queryString(req, 'account');
    const positions = ctx.positions.listOpen(account === undefined ? undefined : accountsFor(account)[0]);
    const snapshot = deps.loop?.();
    const prices = await lastPrices(positions, snapshot);
    const marked = positions.map((p) => {
      const last = prices.get(p.id);
      return last && p.status !== 'opening' ? { ...p, lastPrice: last, unrealizedPnl: unrealizedPnl(p, last) } : p;
    });
    const loop = snapshot && { ticks: snapshot.ticks, lastTickAt: snapshot.lastTickAt, lastTickMs: snapshot.lastTickMs,
      errors: snapshot.accounts.filter((a) => a.lastError !== undefined).map((a) => ({ account: a.account, error: a.lastError })) };
    res.json(jsonReady({ positions: marked, accounts: ctx.accountState.list().map((s) => ({ account: s.account, halted: s.halted, haltedReason: s.haltedReason })), loop }));
  });

  router.get('/orders', (req, res) => {
    const account = queryString(req, 'account');
    res.json(jsonReady({ orders: loadOrders(db, { all: queryString(req, 'all') === '1' || queryString(req, 'all') === 'true', account }) }));
  });

  router.get('/trades', (req, res) => {
    const since = sinceDays(daysParam(req), ctx.now());
    res.json(jsonReady({ since, trades: loadTrades(db, { since, strategy: queryString(req, 'strategy') }) }));
  });

  router.get('/stats', (req, res) => {
    const since = sinceDays(daysParam(req), ctx.now());
    const strategy = queryString(req, 'strategy');
    res.json(jsonReady({ since, stats: computeStats(loadTrades(db, { since, strategy }), loadEntries(db, { since, strategy })) }));
  });

  router.get('/equity', (req, res) => {
    const since = sinceDays(daysParam(req), ctx.now());
    const fromDay = since?.toISOString().slice(0, 10);
    const equity = new EquityRepo(db);
    const account = queryString(req, 'account');
    res.json(jsonReady({ snapshots: accountsFor(account).flatMap((name) => equity.list(name, { fromDay })) }));
  });

  router.post('/halt', (req, res) => {
    const body = bodyOf(req);
    const accounts = accountsFor(optionalString(body, 'account'));
    const reason = optionalString(body, 'reason') ?? 'halted by hand (tradewire halt)';
    for (const account of accounts) ctx.accountState.halt(account, reason);
    ctx.logger.warn({ event: 'admin.halted', accounts, reason }, `entries halted at ${accounts.join(', ')}: ${reason}`);
    res.json({ ok: true, halted: accounts, reason });
  });

  router.post('/resume', (req, res) => {
    const accounts = accountsFor(optionalString(bodyOf(req), 'account'));
    for (const account of accounts) ctx.accountState.resume(account);
    ctx.logger.info({ event: 'admin.resumed', accounts }, `entries resumed at ${accounts.join(', ')}`);
    res.json({ ok: true, resumed: accounts });
  });

  router.post('/close', async (req, res) => {
    const body = bodyOf(req);
    const raw = optionalString(body, 'symbol');
    if (raw === undefined) throw new HttpError(400, { error: 'invalid_request', message: 'symbol is required' });
    const accounts = accountsFor(optionalString(body, 'account'));
    // 'NASDAQ:AAPL' as TradingView writes it finds AAPL too.
    const candidates = [...new Set([raw, raw.toUpperCase(), raw.slice(raw.indexOf(':') + 1), raw.slice(raw.indexOf(':') + 1).toUpperCase()])];
    const found = accounts.flatMap((account) => {
      const position = candidates.map((symbol) => ctx.positions.findOpen(account, symbol)).find((p) => p !== undefined);
      return position ? [position] : [];
    });
    if (found.length === 0) throw new HttpError(404, { error: 'no_position', message: `no open position in ${raw}` });
    if (found.length > 1) {
      throw new HttpError(409, { error: 'ambiguous_account', message: `${raw} is open at ${found.map((p) => p.account).join(' and ')}: name the account`,
        accounts: found.map((p) => p.account) });
    }
    const result = await closeByHand(found[0] as Position);
    res.status(result.outcome === 'closed' ? 200 : 409).json(jsonReady({ ok: result.outcome === 'closed', ...result }));
  });

  router.post('/flatten', async (req, res) => {
    const accounts = accountsFor(optionalString(bodyOf(req), 'account'));
    // Resting entries go first: a flatten that left them could open new positions a moment later.
    const cancelled: Array<Record<string, unknown>> = [];
    for (const account of accounts) {
      const broker = ctx.brokers.get(account);
      for (const order of ctx.orders.openOrders(account).filter((o) => o.leg === 'entry')) {
        try {
          await ctx.tracker.cancel(broker, order.clientOrderId);
          cancelled.push({ account, symbol: order.symbol, clientOrderId: order.clientOrderId, outcome: 'cancelled' });
        } catch (error) {
          cancelled.push({ account, symbol: order.symbol, clientOrderId: order.clientOrderId, outcome: 'failed', reason: String(error) });
        }
      }
    }
    const positions = accounts.flatMap((account) => ctx.positions.listOpen(account));
    const results = await Promise.all(positions.map((p) => closeByHand(p)));
    const ok = results.every((r) => r.outcome === 'closed' || r.outcome === 'skipped') && cancelled.every((c) => c.outcome === 'cancelled');
    ctx.logger.warn({ event: 'admin.flattened', accounts, positions: results.length, ok }, `flatten at ${accounts.join(', ')}: ${results.length} position(s)`);
    res.status(ok ? 200 : 409).json(jsonReady({ ok, positions: results, cancelledEntries: cancelled }));
  });

  router.post('/prices', async (req, res) => {
    const body = bodyOf(req);
    const account = optionalString(body, 'account');
    const given = body.prices;
    if (typeof given !== 'object' || given === null || Array.isArray(given) || Object.keys(given).length === 0) {
      throw new HttpError(400, { error: 'invalid_request', message: 'prices must be an object of symbol to price: {"prices": {"AAPL": "187.5"}}' });
    }
    const prices = new Map(Object.entries(given as Record<string, unknown>).map(([symbol, value]) => [symbol, decimalIn(value, `prices.${symbol}`)]));
    const targets = accountsFor(account).filter((name) => acceptsPrices(ctx.brokers.get(name)));
    if (targets.length === 0) {
      throw new HttpError(400, { error: 'not_simulated', message: account ? `account ${account} takes its prices from its broker` : 'no paper account is configured' });
    }
    const watched = targets.flatMap((name) => [...prices.keys()].map((symbol) => ctx.positions.findOpen(name, symbol)))
      .filter((p): p is Position => p?.status === 'open');
    for (const name of targets) {
      const broker = ctx.brokers.get(name);
      if (acceptsPrices(broker)) await broker.updatePrices(prices);
    }
    if (deps.tick) {
      // A tick already running when the prices moved is joined by the first call and may have quoted before them:
      // the second call is a pass that surely saw them.
      await deps.tick();
      await deps.tick();
    } else {
      // A pushed price can fill a resting stop or target: book that close and cancel its sibling now.
      for (const position of watched) await syncProtection(ctx, ctx.brokers.get(position.account), position);
    }
    // What these prices closed: the positions open before that are closed now, with their final close record.
    const closed = watched.flatMap((position) => {
      if (ctx.positions.findById(position.id)?.status !== 'closed') return [];
      const done = ctx.positions.closedForPosition(position.id).at(-1);
      return done ? [{ account: done.account, symbol: done.symbol, exitReason: done.exitReason, exitPrice: done.exitPrice, realizedPnl: done.realizedPnl }] : [];
    });
    res.json(jsonReady({ ok: true, accounts: targets, closed }));
  });

  router.post('/reconcile', async (_req, res) => {
    const result = await deps.reconcile();
    if (!result.ran) throw new HttpError(409, { error: 'busy', message: result.reason });
    const differences = result.reports.reduce((n, r) => n + r.differences.length, 0);
    ctx.logger.info({ event: 'admin.reconciled', differences }, `reconciled by hand: ${differences} difference(s)`);
    // A broker that could not be read leaves its journal untouched: the answer says so, and it is not ok.
    const ok = result.reports.every((r) => r.error === undefined);
    res.status(ok ? 200 : 502).json(jsonReady({ ok, reports: result.reports }));
  });

  router.post('/backup', async (_req, res) => {
    const { file } = await deps.backup();
    ctx.logger.info({ event: 'admin.backup', file }, `backup written to ${file}`);
    res.json({ ok: true, file });
  });

  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof HttpError) {
      res.status(error.status).json(error.body);
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: 'invalid_request', message: publicMessage(error) });
      return;
    }
    ctx.logger.error({ event: 'admin.error', err: error instanceof Error ? error.stack : String(error) }, 'admin request failed');
    // The operator sees what failed; a path inside the message, and the stack, stay in the log.
    res.status(500).json({ error: 'internal', message: publicMessage(error) });
  });
  return router;
}
