// Wires the jobs to node-cron, each with an explicit time zone and under a Redis lock, and runs the start-up catch-up.
import cron, { type ScheduledTask } from 'node-cron';
import type { ExecutionContext } from '../execution/context.ts';
import type { Logger } from '../ops/logger.ts';
import type { EquityRepo } from '../store/equity-repo.ts';
import type { SqliteDatabase } from '../store/db.ts';
import { accountTimeZone } from '../execution/position-actions.ts';
import { runBackup } from './backup.ts';
import { snapshotEquity } from './equity-snapshot.ts';
import type { RedisLock, LockedRun } from './lock.ts';
import type { ReconcileReport } from '../portfolio/reconcile.ts';
import { runReconcile } from './reconcile-job.ts';
import type { RunLog } from './run-log.ts';
import { catchUpSessionEnds, intradayStrategies, runSessionEnd, sessionEndCron } from './session-end.ts';
import { DEFAULT_ENTRY_MAX_AGE_MS, expireStaleEntries } from './stale-entries.ts';
import { bookFunding } from './funding.ts';
import { FundingRepo } from '../store/funding-repo.ts';

export interface JobCrons {
  /** Reconciliation; default every 5 minutes (UTC). */
  reconcile: string;
  /** Stale entry expiry; default every 15 minutes (UTC). */
  staleEntries: string;
  /** The sweep that runs any session end not yet done (config reloads, a close that was busy); default every minute (UTC). */
  sessionEndSweep: string;
  /** The daily equity snapshot and summary, in each account's own zone; default 23:55. */
  equitySnapshot: string;
  /** Funding payments of futures accounts booked into the positions' fees; default every 10 minutes (UTC). */
  funding: string;
}

export const DEFAULT_CRONS: JobCrons = {
  reconcile: '*/5 * * * *',
  staleEntries: '*/15 * * * *',
  sessionEndSweep: '* * * * *',
  equitySnapshot: '55 23 * * *',
  funding: '*/10 * * * *',
};

export interface JobDeps {
  ctx: ExecutionContext;
  db: SqliteDatabase;
  equity: EquityRepo;
  lock: RedisLock;
  runs: RunLog;
  logger: Logger;
  crons?: Partial<JobCrons> | undefined;
  entryMaxAgeMs?: number | undefined;
  /** How long a job's lock lives without renewal (renewed while it runs); default 5 minutes. */
  lockTtlMs?: number | undefined;
}

export interface JobSchedule {
  tasks: ReadonlyMap<string, ScheduledTask>;
  /** Runs a job now, under its lock, as the schedule would. */
  run(name: string): Promise<LockedRun<unknown>>;
  /** Stops every schedule and waits for the runs in progress to finish. */
  stop(): Promise<void>;
}

/** Runs `fn` under the job's Redis lock; a failure is logged with the job's name, never thrown into node-cron. */
export async function runLocked<T>(deps: Pick<JobDeps, 'lock' | 'logger' | 'lockTtlMs'>, name: string, fn: () => Promise<T>,
  options: { waitMs?: number | undefined } = {}): Promise<LockedRun<T>> {
  const started = Date.now();
  try {
    const outcome = await deps.lock.withLock(`job:${name}`, deps.lockTtlMs ?? 300_000, fn, options);
    if (!outcome.ran) deps.logger.info({ event: 'job.skipped', job: name }, `job ${name} is running elsewhere: skipped`);
    else deps.logger.info({ event: 'job.finished', job: name, ms: Date.now() - started }, `job ${name} finished`);
    return outcome;
  } catch (error) {
    deps.logger.error({ event: 'job.failed', job: name, err: String(error) }, `job ${name} failed`);
    return { ran: false };
  }
}

/** The jobs to schedule as [name, cron expression, time zone, function], from the config as it is now. */
export function plannedJobs(deps: JobDeps): Array<[string, string, string, () => Promise<unknown>]> {
  const { ctx } = deps;
  const crons = { ...DEFAULT_CRONS, ...deps.crons };
  const config = ctx.config();
  const jobs: Array<[string, string, string, () => Promise<unknown>]> = [
    ['reconcile', crons.reconcile, 'UTC', () => runReconcile(ctx)],
    ['stale-entries', crons.staleEntries, 'UTC', () => expireStaleEntries(ctx, { maxAgeMs: deps.entryMaxAgeMs ?? DEFAULT_ENTRY_MAX_AGE_MS })],
    ['session-end-sweep', crons.sessionEndSweep, 'UTC', () => catchUpSessionEnds({ ctx, runs: deps.runs })],
  ];
  for (const { strategy, sessionEnd, timeZone } of intradayStrategies(ctx)) {
    jobs.push([`session-end:${strategy}`, sessionEndCron(sessionEnd), timeZone, () => runSessionEnd({ ctx, runs: deps.runs }, strategy)]);
  }
  for (const account of Object.keys(config.accounts)) {
    jobs.push([`equity-snapshot:${account}`, crons.equitySnapshot, accountTimeZone(ctx, account), () => snapshotEquity(ctx, deps.equity, { accounts: [account] })]);
  }
  if (ctx.brokers.accounts().some((account) => ctx.brokers.get(account).fundingPayments !== undefined)) {
    jobs.push(['funding', crons.funding, 'UTC', () => bookFunding(ctx, new FundingRepo(deps.db, ctx.positions))]);
  }
  if (config.backup.cron !== 'off') {
    jobs.push(['backup', config.backup.cron, 'UTC', () => runBackup(deps.db, { dir: config.backup.dir, keep: config.backup.keep })]);
  }
  return jobs;
}

/** Schedules every job; each run takes its Redis lock first, so two processes never run the same job at once. */
export function scheduleJobs(deps: JobDeps): JobSchedule {
  const planned = plannedJobs(deps);
  const tasks = new Map<string, ScheduledTask>();
  const fns = new Map<string, () => Promise<unknown>>();
  // Runs in progress, so stop() can let them finish: a backup or a flatten cut off by SIGTERM would be half done.
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(run: Promise<T>): Promise<T> => {
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
    return run;
  };
  for (const [name, expression] of planned) {
    if (!cron.validate(expression)) throw new Error(`job ${name}: invalid cron expression '${expression}'`);
  }
  for (const [name, expression, timezone, fn] of planned) {
    fns.set(name, fn);
    tasks.set(name, cron.schedule(expression, async () => { await track(runLocked(deps, name, fn)); }, { name, timezone, noOverlap: true }));
    deps.logger.info({ event: 'job.scheduled', job: name, cron: expression, timeZone: timezone }, `job ${name} scheduled (${expression}, ${timezone})`);
  }
  return {
    tasks,
    async run(name) {
      const fn = fns.get(name);
      if (!fn) throw new Error(`no job named ${name}`);
      return track(runLocked(deps, name, fn));
    },
    async stop() {
      for (const task of tasks.values()) await task.destroy();
      tasks.clear();
      await Promise.allSettled([...inFlight]);
    },
  };
}

/**
 * At start, before the workers run: reconcile every account (so nothing is placed against a journal that disagrees
 * with the broker), then run any session-end flatten missed while the daemon was down.
 */
export async function catchUpAtStart(deps: Pick<JobDeps, 'ctx' | 'runs' | 'lock' | 'logger' | 'lockTtlMs'>, now: Date = deps.ctx.now(),
  options: { waitMs?: number | undefined } = {}): Promise<{ reconciled: ReconcileReport[] | undefined }> {
  // Another process reconciling right now is waited for, not skipped: this process's workers must not run before a reconciliation.
  const reconciled = await runLocked(deps, 'reconcile', () => runReconcile(deps.ctx, { now }), { waitMs: options.waitMs ?? START_LOCK_WAIT_MS });
  if (!reconciled.ran) deps.logger.warn({ event: 'reconcile.start_skipped' }, 'start-up reconciliation did not run (see the job log above): the scheduled one follows');
  await runLocked(deps, 'session-end-sweep', () => catchUpSessionEnds({ ctx: deps.ctx, runs: deps.runs }, now));
  return { reconciled: reconciled.ran ? reconciled.value : undefined };
}

/** How long start-up waits for another process's reconciliation to finish before going on. */
const START_LOCK_WAIT_MS = 30_000;
