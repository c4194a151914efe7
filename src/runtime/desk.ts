// The admin API's trading actions (positions with marks, close, flatten, prices, reconcile): they run where the brokers,
// the position loop and the order tracker live, which in role `all` is the execution thread, not the HTTP thread.
import { acceptsPrices } from '../brokers/broker.ts';
import type { Decimal } from '../domain/money.ts';
import { unrealizedPnl } from '../domain/position.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { closePosition, idFor, syncProtection } from '../execution/position-actions.ts';
import { accountsIn, decimalIn, HttpError, optionalString } from '../http/admin-input.ts';
import type { OnDemandReconcile } from '../jobs/reconcile-on-demand.ts';
import type { ManagerSnapshot } from '../portfolio/manager.ts';
import { jsonReady } from '../reports/format.ts';
import type { Position } from '../store/positions-repo.ts';

export const DESK_ACTIONS = ['positions', 'close', 'flatten', 'prices', 'reconcile'] as const;
export type DeskAction = typeof DESK_ACTIONS[number];

/** The answer to send: a status and a JSON-ready body (plain data, so it crosses a thread boundary as it is). */
export interface DeskAnswer {
  status: number;
  body: unknown;
}

/** One trading action, from the request's JSON body (or its query, for positions) to the answer. */
export type Desk = (action: DeskAction, input: Record<string, unknown>) => Promise<DeskAnswer>;

export interface DeskDeps {
  ctx: ExecutionContext;
  /** Reconciles the journal with every broker now (src/jobs/reconcile-on-demand.ts). */
  reconcile: () => Promise<OnDemandReconcile>;
  /**
   * One pass of the position loop, where this side runs it (PositionManager.tick): pushed prices then go through
   * the loop (protective fills, emulated stops and targets, trailing stops) as the broker's own prices would.
   * Without it (role api) the prices action books fills of resting stops and targets itself.
   */
  tick?: (() => Promise<void>) | undefined;
  /** The position loop's state, where this side runs it: positions says whether it is ticking. */
  loop?: (() => ManagerSnapshot) | undefined;
}

export function createDesk(deps: DeskDeps): Desk {
  const { ctx } = deps;
  const accountsFor = (account: string | undefined) => accountsIn(Object.keys(ctx.config().accounts), account);
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

  const positions = async (input: Record<string, unknown>): Promise<DeskAnswer> => {
    const account = optionalString(input, 'account');
    const open = ctx.positions.listOpen(account === undefined ? undefined : accountsFor(account)[0]);
    const snapshot = deps.loop?.();
    const prices = await lastPrices(open, snapshot);
    const marked = open.map((p) => {
      const last = prices.get(p.id);
      return last && p.status !== 'opening' ? { ...p, lastPrice: last, unrealizedPnl: unrealizedPnl(p, last) } : p;
    });
    const loop = snapshot && { ticks: snapshot.ticks, lastTickAt: snapshot.lastTickAt, lastTickMs: snapshot.lastTickMs,
      errors: snapshot.accounts.filter((a) => a.lastError !== undefined).map((a) => ({ account: a.account, error: a.lastError })) };
    return { status: 200, body: { positions: marked, accounts: ctx.accountState.list().map((s) => ({ account: s.account, halted: s.halted, haltedReason: s.haltedReason })), loop } };
  };

  const close = async (body: Record<string, unknown>): Promise<DeskAnswer> => {
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
    return { status: result.outcome === 'closed' ? 200 : 409, body: { ok: result.outcome === 'closed', ...result } };
  };

  const flatten = async (body: Record<string, unknown>): Promise<DeskAnswer> => {
    const accounts = accountsFor(optionalString(body, 'account'));
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
    const open = accounts.flatMap((account) => ctx.positions.listOpen(account));
    const results = await Promise.all(open.map((p) => closeByHand(p)));
    const ok = results.every((r) => r.outcome === 'closed' || r.outcome === 'skipped') && cancelled.every((c) => c.outcome === 'cancelled');
    ctx.logger.warn({ event: 'admin.flattened', accounts, positions: results.length, ok }, `flatten at ${accounts.join(', ')}: ${results.length} position(s)`);
    return { status: ok ? 200 : 409, body: { ok, positions: results, cancelledEntries: cancelled } };
  };

  const prices = async (body: Record<string, unknown>): Promise<DeskAnswer> => {
    const account = optionalString(body, 'account');
    const given = body.prices;
    if (typeof given !== 'object' || given === null || Array.isArray(given) || Object.keys(given).length === 0) {
      throw new HttpError(400, { error: 'invalid_request', message: 'prices must be an object of symbol to price: {"prices": {"AAPL": "187.5"}}' });
    }
    const pushed = new Map(Object.entries(given as Record<string, unknown>).map(([symbol, value]) => [symbol, decimalIn(value, `prices.${symbol}`)]));
    const targets = accountsFor(account).filter((name) => acceptsPrices(ctx.brokers.get(name)));
    if (targets.length === 0) {
      throw new HttpError(400, { error: 'not_simulated', message: account ? `account ${account} takes its prices from its broker` : 'no paper account is configured' });
    }
    const watched = targets.flatMap((name) => [...pushed.keys()].map((symbol) => ctx.positions.findOpen(name, symbol)))
      .filter((p): p is Position => p?.status === 'open');
    for (const name of targets) {
      const broker = ctx.brokers.get(name);
      if (acceptsPrices(broker)) await broker.updatePrices(pushed);
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
    return { status: 200, body: { ok: true, accounts: targets, closed } };
  };

  const reconcile = async (): Promise<DeskAnswer> => {
    const result = await deps.reconcile();
    if (!result.ran) throw new HttpError(409, { error: 'busy', message: result.reason });
    const differences = result.reports.reduce((n, r) => n + r.differences.length, 0);
    ctx.logger.info({ event: 'admin.reconciled', differences }, `reconciled by hand: ${differences} difference(s)`);
    // A broker that could not be read leaves its journal untouched: the answer says so, and it is not ok.
    const ok = result.reports.every((r) => r.error === undefined);
    return { status: ok ? 200 : 502, body: { ok, reports: result.reports } };
  };

  const actions: Record<DeskAction, (input: Record<string, unknown>) => Promise<DeskAnswer>> = { positions, close, flatten, prices, reconcile };
  return async (action, input) => {
    try {
      const answer = await actions[action](input);
      return { status: answer.status, body: jsonReady(answer.body) };
    } catch (error) {
      // The refusals of the request's own content travel as answers; anything else is the caller's 500.
      if (error instanceof HttpError) return { status: error.status, body: error.body };
      throw error;
    }
  };
}
