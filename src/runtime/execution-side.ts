// The trading side of the daemon, assembled once per thread or process: its own journal connection, Redis client and
// brokers, the execution context, and (by role) the lane workers, the position loop with the kill switch, the jobs and the desk.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { createBrokers, type BrokerRegistry } from '../brokers/registry.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { Executor } from '../execution/executor.ts';
import { OrderTracker } from '../execution/order-tracker.ts';
import { defaultSleep } from '../execution/retry.ts';
import { startExecutionRole, type ExecutionRole } from '../execution/worker.ts';
import { RedisLock } from '../jobs/lock.ts';
import { createMonitor, type Monitor } from '../jobs/monitor.ts';
import { startOrderStreams, type OrderStreams } from '../portfolio/order-streams.ts';
import { reconcileOnDemand } from '../jobs/reconcile-on-demand.ts';
import type { Logger } from '../ops/logger.ts';
import { threadMetrics } from '../ops/metrics.ts';
import { accountCollector, feedCollector, queueCollector } from '../ops/metrics-collectors.ts';
import { dailySummaryText } from '../ops/notify/daily-summary.ts';
import { createNotifier, type Notifier } from '../ops/notify/notifier.ts';
import { adminApiCommands } from '../ops/notify/trading-commands.ts';
import { createFastFailRedis } from '../queue/redis.ts';
import { AccountStateRepo } from '../store/account-state-repo.ts';
import { openDatabase, type SqliteDatabase } from '../store/db.ts';
import { ExecutionsRepo } from '../store/executions-repo.ts';
import { OrdersRepo } from '../store/orders-repo.ts';
import { PositionsRepo } from '../store/positions-repo.ts';
import { SignalsRepo } from '../store/signals-repo.ts';
import { createDesk, type Desk } from './desk.ts';

export interface ExecutionSideOptions {
  /** The config as it is now: a reload changes what this returns. */
  config: () => Config;
  logger: Logger;
  /** Runs the lane workers (roles all and worker). */
  execute: boolean;
  /** Reconciles at start and runs the position loop, the kill switch and the jobs (every role but api). */
  watch: boolean;
  /** Who acts, for leases and close claims: `<role>-<pid>-...`. */
  owner: string;
}

export interface ExecutionSide {
  ctx: ExecutionContext;
  db: SqliteDatabase;
  redis: Redis;
  /** The admin API's trading actions, answered from this side's brokers and loop. */
  desk: Desk;
  /** Differences found by start-up reconciliation (undefined: skipped, or this side does not watch). */
  differences: number | undefined;
  /**
   * Starts the notifier, then takes jobs and runs the loop and the schedules: call once the daemon is reachable (HTTP
   * listening, where it serves). `adminUrl`, where this daemon serves the admin API: Telegram commands go through it.
   */
  run(adminUrl?: string): void;
  /** After a config reload: the jobs planned again from the config as it is now. */
  reschedule(): Promise<void>;
  /** Finishes the job in hand and the tick in progress, then closes everything this side opened. */
  stop(): Promise<void>;
}

export async function startExecutionSide(options: ExecutionSideOptions): Promise<ExecutionSide> {
  const { config, logger } = options;
  const settings = config();
  const db = openDatabase(settings.database.path);
  const redis = createFastFailRedis(settings.redis.url);
  redis.on('error', (error: Error) => logger.warn({ event: 'redis.error', err: error.message }, 'redis connection error'));
  let brokers: BrokerRegistry;
  try {
    await redis.connect();
    brokers = await createBrokers(settings, { logger, now: () => new Date() });
  } catch (error) {
    redis.disconnect();
    db.close();
    throw error;
  }

  const now = () => new Date();
  const signals = new SignalsRepo(db, { now });
  const orders = new OrdersRepo(db, { now });
  const tracker = new OrderTracker({ orders, logger, retry: settings.retries, retryDeps: { sleep: defaultSleep, random: Math.random } });
  // One context for everything that trades or books on this side: the executor, the position loop, the jobs and the desk.
  const ctx: ExecutionContext = {
    config, brokers, signals, executions: new ExecutionsRepo(db, { now }), orders, positions: new PositionsRepo(db, { now }),
    accountState: new AccountStateRepo(db, { now }), tracker, logger, now, sleep: defaultSleep, owner: options.owner,
  };
  let execution: ExecutionRole | undefined;
  let monitor: Monitor | undefined;
  let differences: number | undefined;
  try {
    if (options.execute) {
      // Built now, run later: workers take no job before the journal agrees with the broker.
      execution = await startExecutionRole({
        redisUrl: settings.redis.url, redis, prefix: settings.redis.prefix, laneCount: settings.queue.lanes,
        lockDurationMs: settings.queue.lockDurationSeconds * 1000, executor: new Executor(ctx), signals, logger,
      });
    }
    if (options.watch) {
      monitor = createMonitor({ ctx, db, redis, prefix: settings.redis.prefix, logger });
      const { reconciled } = await monitor.catchUp();
      differences = reconciled?.reduce((n, r) => n + r.differences.length, 0);
      logger.info({ event: 'reconcile.start_done', differences }, differences === undefined
        ? 'start-up reconciliation skipped' : `start-up reconciliation: ${differences} difference(s)`);
    }
  } catch (error) {
    await execution?.close();
    await brokers.disconnectAll();
    redis.disconnect();
    db.close();
    throw error;
  }

  const lock = new RedisLock(redis, settings.redis.prefix);
  const desk = createDesk({
    ctx,
    reconcile: () => reconcileOnDemand({ ctx, lock, logger }),
    tick: monitor ? () => monitor.manager.tick() : undefined,
    loop: monitor ? () => monitor.manager.snapshot() : undefined,
  });

  // Read at scrape time: the loop's marks, the journal's halts and closes, the lanes' depths.
  const metrics = threadMetrics();
  const queues = options.execute ? queueCollector(metrics, { redis, prefix: settings.redis.prefix, laneCount: settings.queue.lanes }) : undefined;
  const detach = [
    monitor ? metrics.addCollector(accountCollector(metrics, ctx, () => monitor.manager.snapshot())) : undefined,
    queues ? metrics.addCollector(queues) : undefined,
    metrics.addCollector(feedCollector(metrics, ctx.brokers)),
  ];

  let stopping: Promise<void> | undefined;
  let streams: OrderStreams | undefined;
  let notifier: Notifier | undefined;
  return {
    ctx, db, redis, desk, differences,
    run(adminUrl) {
      // Fills, closes, refusals and the kill switch are told from here, where they happen; sending never waits on trading.
      const token = settings.server.adminToken;
      notifier = createNotifier(settings.notifications, {
        logger,
        commands: adminUrl !== undefined && token !== undefined ? adminApiCommands({ url: adminUrl, token }) : undefined,
        dailySummary: options.watch ? () => dailySummaryText(db, ctx.positions, new Date()) : undefined,
      });
      ctx.notify = notifier.notify;
      notifier.start();
      execution?.run();
      monitor?.start();
      // After the loop: each stream's first connect asks the loop for a pass over its account.
      if (monitor) streams = startOrderStreams(brokers, monitor.manager, config(), logger);
    },
    reschedule: async () => { await monitor?.reschedule(); },
    stop() {
      stopping ??= (async () => {
        // A scrape from now on reads nothing of this side's.
        for (const remove of detach) remove?.();
        await queues?.close();
        // What is in flight (a job's order, a tick's close, a backup) finishes before anything closes.
        await streams?.stop();
        await Promise.all([execution?.close(), monitor?.stop()]);
        await notifier?.stop();
        await brokers.disconnectAll();
        await redis.quit().catch(() => redis.disconnect());
        db.close();
      })();
      return stopping;
    },
  };
}
