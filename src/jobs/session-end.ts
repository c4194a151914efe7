// Session-end flatten for intraday strategies: at sessionEnd in the strategy's zone, and at start for a run the daemon missed.
import { tradingDay } from '../domain/trading-day.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { closePosition } from '../execution/position-actions.ts';
import { exitIdFor } from '../portfolio/kill-switch.ts';
import type { RunLog } from './run-log.ts';

export const SESSION_END_JOB = 'session_end';

export interface SessionEndDeps {
  ctx: ExecutionContext;
  runs: RunLog;
  /** How long each exit may take to fill (default 10 s). */
  fillTimeoutMs?: number | undefined;
}

export interface SessionEndResult {
  strategy: string;
  /** The local day whose session end this run is for. */
  day: string;
  closed: string[];
  /** Positions not closed yet (busy, unfilled or failed): the run is not recorded, so a later run tries again. */
  pending: string[];
  /** Already done for that day: nothing was sent. */
  skipped: boolean;
}

const clockFormats = new Map<string, Intl.DateTimeFormat>();

/** The local wall-clock time 'HH:MM' of an instant in a zone. */
export function localClock(now: Date, timeZone: string): string {
  let format = clockFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    clockFormats.set(timeZone, format);
  }
  return format.format(now);
}

function previousDay(day: string): string {
  const date = new Date(`${day}T00:00:00.000Z`);
  date.setUTCDate(date.getUTCDate() - 1);
  return date.toISOString().slice(0, 10);
}

/**
 * The local day of the latest session end at or before `now`: today's once its sessionEnd has come, else yesterday's.
 * HH:MM text compares as time; the minute of the session end itself counts as reached.
 */
export function lastSessionEndDay(now: Date, sessionEnd: string, timeZone: string): string {
  const today = tradingDay(now, timeZone);
  return localClock(now, timeZone) >= sessionEnd ? today : previousDay(today);
}

/** Intraday strategies with their session end, from the config as it is now. */
export function intradayStrategies(ctx: ExecutionContext): Array<{ strategy: string; sessionEnd: string; timeZone: string }> {
  return Object.entries(ctx.config().strategies)
    .filter(([, s]) => s.intraday?.enabled === true)
    .map(([strategy, s]) => ({ strategy, sessionEnd: s.intraday?.sessionEnd ?? '16:00', timeZone: s.intraday?.timeZone ?? 'UTC' }));
}

/**
 * Closes every open position of the strategy (all its accounts) with reason session_end, for the session end of
 * `day`. A day already recorded is skipped, so a second run (another process, a catch-up after the cron) sends nothing;
 * the run is recorded only when nothing is left open.
 */
export async function flattenStrategy(deps: SessionEndDeps, strategy: string, day: string): Promise<SessionEndResult> {
  const { ctx, runs } = deps;
  const key = `${strategy}:${day}`;
  const result: SessionEndResult = { strategy, day, closed: [], pending: [], skipped: false };
  if (await runs.has(SESSION_END_JOB, key)) return { ...result, skipped: true };
  for (const position of ctx.positions.listOpen()) {
    if (position.strategy !== strategy || (position.status !== 'open' && position.status !== 'closing')) continue;
    try {
      const broker = ctx.brokers.get(position.account);
      const outcome = await closePosition(ctx, broker, await broker.instrument(position.symbol), position, {
        reason: 'session_end', clientOrderId: exitIdFor(ctx, broker, position), fillTimeoutMs: deps.fillTimeoutMs ?? 10_000,
      });
      (outcome.kind === 'closed' ? result.closed : result.pending).push(`${position.account}:${position.symbol}`);
    } catch (error) {
      result.pending.push(`${position.account}:${position.symbol}`);
      ctx.logger.error({ event: 'session_end.close_failed', strategy, account: position.account, symbol: position.symbol, err: String(error) }, 'session-end close failed');
    }
  }
  if (result.pending.length === 0) await runs.record(SESSION_END_JOB, key, { closed: result.closed });
  ctx.logger.info({ event: 'session_end.flattened', strategy, day, closed: result.closed, pending: result.pending }, `session end of ${strategy} on ${day}: ${result.closed.length} closed, ${result.pending.length} pending`);
  return result;
}

/** The cron's run for one strategy: the session end that has just come. */
export async function runSessionEnd(deps: SessionEndDeps, strategy: string, now: Date = deps.ctx.now()): Promise<SessionEndResult | undefined> {
  const found = intradayStrategies(deps.ctx).find((s) => s.strategy === strategy);
  if (!found) return undefined;
  return flattenStrategy(deps, strategy, lastSessionEndDay(now, found.sessionEnd, found.timeZone));
}

/**
 * At start (and safe at any time): every intraday strategy whose latest session end has passed with no recorded run
 * is flattened now, so a session end missed while the daemon was down still happens.
 */
export async function catchUpSessionEnds(deps: SessionEndDeps, now: Date = deps.ctx.now()): Promise<SessionEndResult[]> {
  const results: SessionEndResult[] = [];
  for (const { strategy, sessionEnd, timeZone } of intradayStrategies(deps.ctx)) {
    const day = lastSessionEndDay(now, sessionEnd, timeZone);
    if (await deps.runs.has(SESSION_END_JOB, `${strategy}:${day}`)) continue;
    deps.ctx.logger.warn({ event: 'session_end.catch_up', strategy, day }, `session end of ${strategy} on ${day} has no recorded run: flattening now`);
    results.push(await flattenStrategy(deps, strategy, day));
  }
  return results;
}

/** The node-cron expression for a session end 'HH:MM' (run in the strategy's own zone). */
export function sessionEndCron(sessionEnd: string): string {
  const [hour, minute] = sessionEnd.split(':');
  return `${Number(minute)} ${Number(hour)} * * *`;
}
