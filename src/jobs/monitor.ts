// The watching side of the daemon: start-up reconciliation and catch-up, the position loop, the kill switch and the scheduled jobs.
import type { Redis } from 'ioredis';
import type { ExecutionContext } from '../execution/context.ts';
import type { Logger } from '../ops/logger.ts';
import { KillSwitch } from '../portfolio/kill-switch.ts';
import { PositionManager } from '../portfolio/manager.ts';
import type { ReconcileReport } from '../portfolio/reconcile.ts';
import type { SqliteDatabase } from '../store/db.ts';
import { EquityRepo } from '../store/equity-repo.ts';
import { RedisLock } from './lock.ts';
import { RedisRunLog } from './run-log.ts';
import { catchUpAtStart, scheduleJobs, type JobCrons, type JobDeps, type JobSchedule } from './schedule.ts';

export interface MonitorDeps {
  ctx: ExecutionContext;
  db: SqliteDatabase;
  /** For the jobs' locks and run records, and the kill switch's trips (they must hold across processes and restarts). */
  redis: Redis;
  prefix: string;
  logger: Logger;
  crons?: Partial<JobCrons> | undefined;
}

export interface Monitor {
  manager: PositionManager;
  /** Before the execution workers run: reconcile every account, then any session-end flatten missed while down. */
  catchUp(): Promise<{ reconciled: ReconcileReport[] | undefined }>;
  /** Starts the position loop (with the kill switch at the end of each tick) and the schedules. */
  start(): void;
  /** After a config reload: the schedules again from the config as it is now (intraday strategies, backup cron). */
  reschedule(): Promise<void>;
  /** Stops everything; a tick (and a flatten it started) or a job in progress finishes first. */
  stop(): Promise<void>;
}

export function createMonitor(deps: MonitorDeps): Monitor {
  const { ctx, logger } = deps;
  const lock = new RedisLock(deps.redis, deps.prefix);
  const runs = new RedisRunLog(deps.redis, deps.prefix);
  const jobDeps: JobDeps = { ctx, db: deps.db, equity: new EquityRepo(deps.db, { now: ctx.now }), lock, runs, logger, crons: deps.crons };
  const intervalMs = ctx.config().positions.loopIntervalMs;
  // With `db`, a quiet tick reads nothing from the journal (PRAGMA data_version says whether anyone wrote).
  // The kill switch runs at the end of each tick, with its marks; its trips are kept in Redis so a `resume` holds across processes.
  const manager = new PositionManager(ctx, { intervalMs, db: deps.db, killSwitch: new KillSwitch(ctx, { trips: runs }) });
  let schedule: JobSchedule | undefined;
  let started = false;

  return {
    manager,
    catchUp: () => catchUpAtStart(jobDeps),
    start() {
      if (started) return;
      started = true;
      manager.start();
      schedule = scheduleJobs(jobDeps);
    },
    async reschedule() {
      if (!started) return;
      const previous = schedule;
      schedule = undefined;
      await previous?.stop();
      try {
        schedule = scheduleJobs(jobDeps);
      } catch (error) {
        // The config validated, so this is a cron node-cron refuses: say so, and run without schedules until it is fixed.
        logger.error({ event: 'jobs.schedule_failed', err: String(error) }, 'the jobs could not be scheduled from the new config');
      }
    },
    async stop() {
      if (!started) return;
      started = false;
      await schedule?.stop();
      schedule = undefined;
      await manager.stop();
    },
  };
}
