// The admin API under /api: positions, accounts, orders, trades, stats, signals and equity to read; halt, resume, flatten, close, prices, reconcile and backup to act.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Database } from 'better-sqlite3';
import type { ExecutionContext } from '../execution/context.ts';
import { parseBody } from '../intake/body.ts';
import type { OnDemandReconcile } from '../jobs/reconcile-on-demand.ts';
import { jsonReady } from '../reports/format.ts';
import { loadEntries, loadOrders, loadTrades, sinceDays } from '../reports/journal.ts';
import type { ManagerSnapshot } from '../portfolio/manager.ts';
import { loadRecentSignals } from '../reports/signals.ts';
import { computeStats } from '../reports/stats.ts';
import { EquityRepo } from '../store/equity-repo.ts';
import { AuthFailureLog } from '../intake/auth-log.ts';
import { tradingDay } from '../domain/trading-day.ts';
import { createDesk, type Desk, type DeskAction } from '../runtime/desk.ts';
import { requireSameOriginJson, requireToken } from './admin-auth.ts';
import { accountsIn, HttpError, optionalString } from './admin-input.ts';
import { publicMessage } from './errors.ts';

/** What the admin API reads and writes itself: the journal's repos, the config, the log and the clock. */
export type AdminContext = Pick<ExecutionContext, 'config' | 'positions' | 'accountState' | 'logger' | 'now'>;

/**
 * Either the trading actions run here, from the full execution context (role api, and tests), or they run elsewhere
 * behind a desk (role all: the execution thread, reached through src/runtime/execution-host.ts).
 */
export interface AdminDeps {
  /** The execution context main.ts builds (repos, brokers, tracker, config, logger, clock, owner), or, with a desk, its reading part. */
  ctx: AdminContext | ExecutionContext;
  /** The journal, for the reports (trades, stats, orders). */
  db: Database;
  /** The admin token (ADMIN_TOKEN or server.adminToken). Without one the API answers every request 403. */
  adminToken: string | undefined;
  /** Takes an online backup of the journal (src/jobs/backup.ts). */
  backup: () => Promise<{ file: string }>;
  /** Positions with marks, close, flatten, prices and reconcile, answered where the brokers and the loop run. */
  desk?: Desk | undefined;
  /** Without a desk: reconciles the journal with every broker now (src/jobs/reconcile-on-demand.ts). */
  reconcile?: (() => Promise<OnDemandReconcile>) | undefined;
  /** Without a desk: one pass of the position loop, where this process runs it (see DeskDeps.tick). */
  tick?: (() => Promise<void>) | undefined;
  /** Without a desk: the position loop's state, where this process runs it: GET /positions says whether it is ticking. */
  loop?: (() => ManagerSnapshot) | undefined;
}

const isExecutionContext = (ctx: AdminContext | ExecutionContext): ctx is ExecutionContext => 'brokers' in ctx && 'tracker' in ctx;

/** The desk of AdminDeps, or one working here from the execution context. */
function deskOf(deps: AdminDeps): Desk {
  if (deps.desk) return deps.desk;
  const { ctx, reconcile } = deps;
  if (!isExecutionContext(ctx) || !reconcile) throw new Error('createAdminRouter: without a desk, the admin API needs the full execution context and reconcile');
  return createDesk({ ctx, reconcile, tick: deps.tick, loop: deps.loop });
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

function daysParam(req: Request): number | undefined {
  const raw = req.query.days;
  if (raw === undefined) return undefined;
  const days = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(days) || days <= 0) throw new HttpError(400, { error: 'invalid_request', message: 'days must be a positive number' });
  return days;
}

/** How many signals GET /signals answers at most, and when the request does not say. */
const SIGNALS_LIMIT = { max: 500, default: 50 };

function limitParam(req: Request): number {
  const raw = req.query.limit;
  if (raw === undefined) return SIGNALS_LIMIT.default;
  const limit = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(limit) || limit <= 0 || limit > SIGNALS_LIMIT.max) {
    throw new HttpError(400, { error: 'invalid_request', message: `limit must be a whole number from 1 to ${SIGNALS_LIMIT.max}` });
  }
  return limit;
}

function queryString(req: Request, key: string): string | undefined {
  const raw = req.query[key];
  return typeof raw === 'string' && raw !== '' ? raw : undefined;
}

export function createAdminRouter(deps: AdminDeps): Router {
  const { ctx, db } = deps;
  const desk = deskOf(deps);
  const router = express.Router();
  router.use(requireToken(deps.adminToken, {
    failuresPerMinute: () => ctx.config().server.adminFailedAuthPerMinute,
    failureLog: new AuthFailureLog(ctx.logger, 'admin.unauthorized', 'admin request with a wrong or missing token'),
  }));
  router.use(requireSameOriginJson());
  router.use(express.text({ type: () => true, limit: '64kb' }));

  const accountsFor = (account: string | undefined): string[] => accountsIn(Object.keys(ctx.config().accounts), account);
  /** A trading action, answered by the desk (here or across the thread boundary). */
  const atDesk = async (res: Response, action: DeskAction, input: Record<string, unknown>) => {
    const answer = await desk(action, input);
    res.status(answer.status).json(answer.body);
  };

  router.get('/positions', async (req, res) => {
    await atDesk(res, 'positions', { account: queryString(req, 'account') });
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

  // Every configured account with its broker and whether entries are halted there now (a kill-switch halt lifts by
  // itself on the day it names, in the account's time zone), and why.
  router.get('/accounts', (_req, res) => {
    const config = ctx.config();
    res.json(jsonReady({ accounts: Object.entries(config.accounts).map(([account, settings]) => {
      const state = ctx.accountState.get(account);
      const halted = ctx.accountState.isHalted(account, tradingDay(ctx.now(), settings.timeZone));
      return { account, broker: settings.broker, halted, haltedReason: halted ? state?.haltedReason : undefined, haltedUntilDay: halted ? state?.haltedUntilDay : undefined };
    }) }));
  });

  // The latest signals with their outcome and reason (and each account's execution): why an alert did or did not trade.
  router.get('/signals', (req, res) => {
    res.json(jsonReady({ signals: loadRecentSignals(db, { limit: limitParam(req), strategy: queryString(req, 'strategy') }) }));
  });

  router.get('/equity', (req, res) => {
    const since = sinceDays(daysParam(req), ctx.now());
    const fromDay = since?.toISOString().slice(0, 10);
    const equity = new EquityRepo(db);
    const account = queryString(req, 'account');
    res.json(jsonReady({ snapshots: accountsFor(account).flatMap((name) => equity.list(name, { fromDay })) }));
  });

  // Halt and resume write the account's state in the journal here, not at the desk: the executor reads it before each
  // entry, and a halt must take even while the execution side is busy, restarting or down.
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

  router.post('/close', async (req, res) => { await atDesk(res, 'close', bodyOf(req)); });
  router.post('/flatten', async (req, res) => { await atDesk(res, 'flatten', bodyOf(req)); });
  router.post('/prices', async (req, res) => { await atDesk(res, 'prices', bodyOf(req)); });
  router.post('/reconcile', async (_req, res) => { await atDesk(res, 'reconcile', {}); });

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
