// Composition root: load the config, check Redis, open the journal, build the brokers, reconcile, run the roles, stop cleanly.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join, dirname } from 'node:path';
import type { Server } from 'node:http';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { openDatabase } from './store/db.ts';
import { createBrokers, type BrokerRegistry } from './brokers/registry.ts';
import { createApp, createHttpServer } from './http/app.ts';
import { createLogger, type Logger } from './ops/logger.ts';
import { resolveWebhookPassphrase } from './ops/generated-passphrase.ts';
import { assertRedisReachable, createFastFailRedis, describeRedisUrl, RedisUnavailableError } from './queue/redis.ts';
import { SignalQueue } from './queue/signal-queue.ts';
import { createWebhookRouter } from './intake/webhook.ts';
import { SignalsRepo } from './store/signals-repo.ts';
import { ExecutionsRepo } from './store/executions-repo.ts';
import { OrdersRepo } from './store/orders-repo.ts';
import { PositionsRepo } from './store/positions-repo.ts';
import { AccountStateRepo } from './store/account-state-repo.ts';
import { OrderTracker } from './execution/order-tracker.ts';
import { Executor } from './execution/executor.ts';
import { startExecutionRole, type ExecutionRole } from './execution/worker.ts';
import { defaultSleep } from './execution/retry.ts';
import type { ExecutionContext } from './execution/context.ts';
import { createAdminRouter } from './http/admin.ts';
import { createDashboardRouter } from './http/dashboard.ts';
import { runBackup } from './jobs/backup.ts';
import { RedisLock } from './jobs/lock.ts';
import { createMonitor, type Monitor } from './jobs/monitor.ts';
import { reconcileOnDemand } from './jobs/reconcile-on-demand.ts';
import { startOrderStreams } from './portfolio/order-streams.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Daemon {
  /** Where the HTTP server listens (empty for the worker role, which serves no HTTP). */
  url: string;
  /** Reads the config file again; an invalid file keeps the running config and says why. */
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

export type ReloadResult = { ok: true; restartNeeded: string[] } | { ok: false; error: string };

/** Settings the running process is built from: a change to these waits for a restart. */
const RESTART_SECTIONS = ['server', 'redis', 'database', 'queue', 'accounts'] as const;

/**
 * all: everything in one process. api: the webhook and the admin API only. worker: executes queued signals and watches
 * positions (reconciliation, the position loop, the kill switch, the jobs). monitor: watches positions only, for a
 * deployment that runs its workers apart. Every role that watches positions reconciles at start.
 */
export type Role = 'all' | 'api' | 'worker' | 'monitor';
export const ROLES: readonly Role[] = ['all', 'api', 'worker', 'monitor'];

const servesHttp = (role: Role) => role === 'all' || role === 'api';
const executes = (role: Role) => role === 'all' || role === 'worker';
const watches = (role: Role) => role !== 'api';

/** A start-up failure worth one clear line to the user, not a stack trace. */
export class StartupError extends Error {}

export async function startDaemon(env: NodeJS.ProcessEnv = process.env, loggerOverride?: Logger, role: Role = 'all'): Promise<Daemon> {
  let config: Config;
  try {
    config = await loadConfig({ env });
  } catch (error) {
    if (error instanceof ConfigError) throw new StartupError(error.message);
    throw error;
  }
  const logger = loggerOverride ?? createLogger({ level: config.logging.level });

  try {
    await assertRedisReachable(config.redis.url);
  } catch (error) {
    if (error instanceof RedisUnavailableError) {
      throw new StartupError(
        `tradewire: ${error.message}. Start Redis (\`redis-server --daemonize yes\`, or \`docker compose up -d redis\`) or point REDIS_URL at one.`,
      );
    }
    throw error;
  }

  const anyLiveAccount = Object.values(config.accounts).some((a) => 'live' in a && a.live === true);
  const passphrase = resolveWebhookPassphrase(config.webhook.passphrase, {
    file: join(dirname(config.database.path), 'webhook-passphrase'),
    anyLiveAccount,
  });
  if (passphrase.source !== 'configured') {
    logger.warn({ event: 'webhook.passphrase_generated', file: passphrase.source.file, created: passphrase.source.created },
      `no WEBHOOK_PASSPHRASE set: using the generated one kept in ${passphrase.source.file} (paper only)`);
  }

  const db = openDatabase(config.database.path);
  const redis = createFastFailRedis(config.redis.url);
  redis.on('error', (error: Error) => logger.warn({ event: 'redis.error', err: error.message }, 'redis connection error'));
  await redis.connect();

  let brokers: BrokerRegistry;
  try {
    brokers = await createBrokers(config, { logger, now: () => new Date() });
  } catch (error) {
    redis.disconnect();
    db.close();
    throw error;
  }

  const now = () => new Date();
  const signals = new SignalsRepo(db, { now });
  const orders = new OrdersRepo(db, { now });
  const retryDeps = { sleep: defaultSleep, random: Math.random };
  const tracker = new OrderTracker({ orders, logger, retry: config.retries, retryDeps });
  // One context for everything that trades or books: the executor, the position loop, the jobs and the admin API.
  const ctx: ExecutionContext = {
    config: () => config, brokers, signals, executions: new ExecutionsRepo(db, { now }), orders, positions: new PositionsRepo(db, { now }),
    accountState: new AccountStateRepo(db, { now }), tracker, logger, now, sleep: defaultSleep, owner: `${role}-${process.pid}-${Date.now().toString(36)}`,
  };
  const executor = new Executor(ctx);
  let execution: ExecutionRole | undefined;
  let monitor: Monitor | undefined;
  try {
    if (executes(role)) {
      // Built now, run below: workers take no job before the journal agrees with the broker.
      execution = await startExecutionRole({
        redisUrl: config.redis.url, redis, prefix: config.redis.prefix, laneCount: config.queue.lanes,
        lockDurationMs: config.queue.lockDurationSeconds * 1000, executor, signals, logger,
      });
    }
    if (watches(role)) {
      monitor = createMonitor({ ctx, db, redis, prefix: config.redis.prefix, logger });
      const { reconciled } = await monitor.catchUp();
      const differences = reconciled?.reduce((n, r) => n + r.differences.length, 0);
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

  const queue = new SignalQueue({ connection: redis, prefix: config.redis.prefix, laneCount: config.queue.lanes });
  const webhook = createWebhookRouter({
    config: () => config,
    passphrase: passphrase.passphrase,
    redis,
    prefix: config.redis.prefix,
    queue,
    logger,
    now: () => new Date(),
  });

  const adminToken = config.server.adminToken;
  const lock = new RedisLock(redis, config.redis.prefix);
  const admin = createAdminRouter({
    ctx, db, adminToken,
    reconcile: () => reconcileOnDemand({ ctx, lock, logger }),
    backup: async () => ({ file: (await runBackup(db, { dir: config.backup.dir, keep: config.backup.keep, now: now() })).path }),
    tick: monitor ? () => monitor.manager.tick() : undefined,
    loop: monitor ? () => monitor.manager.snapshot() : undefined,
  });
  if (servesHttp(role) && !adminToken) {
    logger.warn({ event: 'admin.disabled' }, 'no ADMIN_TOKEN: the admin API (/api) and /dashboard answer 403 to every request, and the CLI\'s acting commands cannot work');
  }

  const app = createApp({
    routers: servesHttp(role) ? [
      { path: '/webhook', router: webhook },
      { path: '/api', router: admin },
      { path: '/dashboard', router: createDashboardRouter({ db, adminToken, accounts: () => brokers.accounts(), now }) },
    ] : [],
    version: VERSION,
    startedAt: new Date(),
    now: () => new Date(),
    trustProxy: config.server.trustProxy,
    logger,
    readiness: [
      { name: 'redis', check: async () => { await redis.ping(); } },
      { name: 'database', check: async () => { db.prepare('SELECT 1').get(); } },
    ],
  });

  let server: Server | undefined;
  if (servesHttp(role)) try {
    server = await new Promise<Server>((resolve, reject) => {
      // Not app.listen: Express 5 calls its callback on a listen error as well, which would look like success.
      const s = createHttpServer(app, config.server);
      s.once('error', reject);
      s.listen(config.server.port, config.server.host, () => resolve(s));
    });
  } catch (error) {
    await execution?.close();
    await queue.close();
    await brokers.disconnectAll();
    redis.disconnect();
    db.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new StartupError(`tradewire: cannot listen on ${config.server.host}:${config.server.port} (${code ?? String(error)}): set PORT or HOST, or stop what is using it.`);
  }
  // Only now, with the journal reconciled and the address ours: the workers take jobs and the loop starts.
  execution?.run();
  monitor?.start();
  // After the loop: each stream's first connect asks the loop for a pass over its account.
  const streams = monitor ? startOrderStreams(brokers, monitor.manager, config, logger) : undefined;
  const address = server?.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = server ? `http://${config.server.host}:${port}` : '';
  logger.info({ event: 'daemon.started', url, redis: describeRedisUrl(config.redis.url), database: config.database.path,
    accounts: Object.keys(config.accounts), strategies: Object.keys(config.strategies), role },
    server ? `tradewire ${VERSION} (${role}) listening on ${url}` : `tradewire ${VERSION} (${role}) ${execution ? 'executing queued signals and ' : ''}watching positions`);

  const reload = async (): Promise<ReloadResult> => {
    try {
      const next = await loadConfig({ env });
      const missing = Object.entries(next.strategies).flatMap(([name, strategy]) => strategy.subscriptions
        .filter((sub) => !Object.hasOwn(config.accounts, sub.account)).map((sub) => `strategies.${name}: account ${sub.account} is new and needs a restart`));
      if (missing.length > 0) throw new ConfigError(env.CONFIG_FILE ?? 'config', missing.map((message) => ({ path: '', message })));
      const restartNeeded = RESTART_SECTIONS.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(config[k]));
      config = { ...next, server: config.server, redis: config.redis, database: config.database, queue: config.queue, accounts: config.accounts };
      // Intraday strategies and the backup cron may have changed: the jobs are planned again from the new config.
      await monitor?.reschedule();
      logger.info({ event: 'config.reloaded', restartNeeded }, restartNeeded.length > 0
        ? `config reloaded; changes to ${restartNeeded.join(', ')} take effect at the next restart` : 'config reloaded');
      return { ok: true, restartNeeded: [...restartNeeded] };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ event: 'config.reload_failed', error: message }, 'the new config is invalid: the running one stays');
      return { ok: false, error: message };
    }
  };
  let reloadTimer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(env.CONFIG_FILE ?? DEFAULT_CONFIG_FILE, { persistent: false }, () => {
      // Editors write a file in several steps: reload once it has settled.
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => { void reload(); }, 300);
    });
    watcher.on('error', () => undefined);
  } catch {
    logger.warn({ event: 'config.unwatched' }, 'cannot watch the config file: reload with SIGHUP');
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ event: 'daemon.stopping' }, 'stopping');
      watcher?.close();
      clearTimeout(reloadTimer);
      // No new alerts or admin requests first; then what is in flight (a job's order, a tick's close, a backup) finishes.
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      await streams?.stop();
      await Promise.all([execution?.close(), monitor?.stop()]);
      await brokers.disconnectAll();
      await queue.close();
      await redis.quit().catch(() => redis.disconnect());
      db.close();
      logger.info({ event: 'daemon.stopped' }, 'stopped');
    })();
    return stopping;
  };
  return { url, reload, stop };
}

async function runFromCommandLine(): Promise<void> {
  try {
    const daemon = await startDaemon();
    const onSignal = (signal: NodeJS.Signals) => {
      void daemon.stop().then(() => process.exit(0), (error: unknown) => {
        process.stderr.write(`tradewire: error while stopping after ${signal}: ${String(error)}\n`);
        process.exit(1);
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.on('SIGHUP', () => { void daemon.reload(); });
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await runFromCommandLine();
}
