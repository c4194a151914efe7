// Composition root: load the config, check Redis, open the journal, build the brokers, serve HTTP, stop cleanly.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createServer, type Server } from 'node:http';
import { ConfigError, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { openDatabase } from './store/db.ts';
import { createBrokers, type BrokerRegistry } from './brokers/registry.ts';
import { createApp } from './http/app.ts';
import { createLogger, type Logger } from './ops/logger.ts';
import { resolveWebhookPassphrase } from './ops/generated-passphrase.ts';
import { assertRedisReachable, createFastFailRedis, describeRedisUrl, RedisUnavailableError } from './queue/redis.ts';
import { SignalQueue } from './queue/signal-queue.ts';
import { createWebhookRouter } from './intake/webhook.ts';
import { IntakeLimits } from './intake/limits.ts';
import { SignalsRepo } from './store/signals-repo.ts';
import { ExecutionsRepo } from './store/executions-repo.ts';
import { OrdersRepo } from './store/orders-repo.ts';
import { PositionsRepo } from './store/positions-repo.ts';
import { AccountStateRepo } from './store/account-state-repo.ts';
import { OrderTracker } from './execution/order-tracker.ts';
import { Executor } from './execution/executor.ts';
import { startExecutionRole, type ExecutionRole } from './execution/worker.ts';
import { defaultSleep } from './execution/retry.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Daemon {
  /** Where the HTTP server listens (empty for the worker role, which serves no HTTP). */
  url: string;
  stop(): Promise<void>;
}

/** all: everything in one process; api: the webhook and HTTP only; worker: executes queued signals only. */
export type Role = 'all' | 'api' | 'worker';

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
  const executor = new Executor({
    config: () => config, brokers, signals, executions: new ExecutionsRepo(db, { now }), orders, positions: new PositionsRepo(db, { now }),
    accountState: new AccountStateRepo(db, { now }), tracker, logger, now, sleep: defaultSleep, owner: `worker-${process.pid}-${Date.now().toString(36)}`,
  });
  let execution: ExecutionRole | undefined;
  if (role !== 'api') {
    execution = await startExecutionRole({
      redisUrl: config.redis.url, redis, prefix: config.redis.prefix, laneCount: config.queue.lanes,
      lockDurationMs: config.queue.lockDurationSeconds * 1000, executor, signals, logger,
    });
    execution.run();
  }

  const queue = new SignalQueue({ connection: redis, prefix: config.redis.prefix, laneCount: config.queue.lanes });
  const webhook = createWebhookRouter({
    config: () => config,
    passphrase: passphrase.passphrase,
    redis,
    prefix: config.redis.prefix,
    queue,
    limits: new IntakeLimits(redis, config.redis.prefix),
    logger,
    now: () => new Date(),
  });

  const app = createApp({
    routers: role === 'worker' ? [] : [{ path: '/webhook', router: webhook }],
    version: VERSION,
    startedAt: new Date(),
    now: () => new Date(),
    trustProxy: config.server.trustProxy,
    readiness: [
      { name: 'redis', check: async () => { await redis.ping(); } },
      { name: 'database', check: async () => { db.prepare('SELECT 1').get(); } },
    ],
  });

  let server: Server | undefined;
  if (role !== 'worker') try {
    server = await new Promise<Server>((resolve, reject) => {
      // Not app.listen: Express 5 calls its callback on a listen error as well, which would look like success.
      const s = createServer(app);
      s.once('error', reject);
      s.listen(config.server.port, config.server.host, () => resolve(s));
    });
  } catch (error) {
    await brokers.disconnectAll();
    redis.disconnect();
    db.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new StartupError(`tradewire: cannot listen on ${config.server.host}:${config.server.port} (${code ?? String(error)}): set PORT or HOST, or stop what is using it.`);
  }
  const address = server?.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = server ? `http://${config.server.host}:${port}` : '';
  logger.info({ event: 'daemon.started', url, redis: describeRedisUrl(config.redis.url), database: config.database.path,
    accounts: Object.keys(config.accounts), strategies: Object.keys(config.strategies), role },
    server ? `tradewire ${VERSION} (${role}) listening on ${url}` : `tradewire ${VERSION} (${role}) executing queued signals`);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ event: 'daemon.stopping' }, 'stopping');
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      await execution?.close();
      await brokers.disconnectAll();
      await queue.close();
      await redis.quit().catch(() => redis.disconnect());
      db.close();
      logger.info({ event: 'daemon.stopped' }, 'stopped');
    })();
    return stopping;
  };
  return { url, stop };
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
