// The HTTP side of the daemon: the webhook, the admin API, the dashboard, /health and /ready on one server.
// On its request path it authenticates, validates, dedupes and enqueues; it never waits for a broker or a journal commit
// of an execution (in role all those run on the execution thread; halt, resume and backups are the admin's own writes).
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { createApp, createHttpServer, type ReadinessCheck } from '../http/app.ts';
import { createAdminRouter, type AdminContext } from '../http/admin.ts';
import { createDashboardRouter } from '../http/dashboard.ts';
import { createMetricsRouter } from '../http/metrics-route.ts';
import { createQueueBoard, QUEUE_BOARD_PATH } from '../http/queue-board.ts';
import { createWebhookRouter } from '../intake/webhook.ts';
import { runBackup } from '../jobs/backup.ts';
import type { Logger } from '../ops/logger.ts';
import { renderMetrics, threadMetrics, type MetricsJson } from '../ops/metrics.ts';
import { SignalQueue } from '../queue/signal-queue.ts';
import type { SqliteDatabase } from '../store/db.ts';
import type { Desk } from './desk.ts';
import { StartupError } from './roles.ts';

export interface HttpSideOptions {
  config: () => Config;
  version: string;
  passphrase: string;
  /** The HTTP side's own journal connection: reports, halt and resume, backups. */
  db: SqliteDatabase;
  redis: Redis;
  logger: Logger;
  /** What the admin API reads and writes itself. */
  admin: AdminContext;
  /** Where the trading actions run. */
  desk: Desk;
  /** Checks /ready makes besides Redis and the journal (role all: the execution thread is up and reconciled). */
  readiness?: ReadinessCheck[];
  /** Role all: the execution thread's metrics, merged into each /metrics scrape. */
  threadMetrics?: () => Promise<MetricsJson | undefined>;
}

export interface HttpSide {
  url: string;
  /** Stops taking requests (those in progress finish), then closes the queue handle. */
  close(): Promise<void>;
}

export async function startHttpSide(options: HttpSideOptions): Promise<HttpSide> {
  const { config, db, redis, logger } = options;
  const settings = config();
  const now = () => new Date();
  const queue = new SignalQueue({ connection: redis, prefix: settings.redis.prefix, laneCount: settings.queue.lanes });
  const webhook = createWebhookRouter({ config, passphrase: options.passphrase, redis, prefix: settings.redis.prefix, queue, logger, now });
  const adminToken = settings.server.adminToken;
  if (!adminToken) {
    logger.warn({ event: 'admin.disabled' }, 'no ADMIN_TOKEN: the admin API (/api) and /dashboard answer 403 to every request, and the CLI\'s acting commands cannot work');
  }
  const admin = createAdminRouter({
    ctx: options.admin, db, adminToken, desk: options.desk,
    backup: async () => ({ file: (await runBackup(db, { dir: config().backup.dir, keep: config().backup.keep, now: now() })).path }),
  });
  const metrics = threadMetrics();
  const gather = async () => {
    const [own, thread] = await Promise.all([metrics.json(), options.threadMetrics?.()]);
    return renderMetrics(own, thread ? [thread] : []);
  };
  const failuresPerMinute = () => config().server.adminFailedAuthPerMinute;
  const board = createQueueBoard({ redis, prefix: settings.redis.prefix, laneCount: settings.queue.lanes, adminToken,
    allowRetries: settings.server.queueBoard.allowRetries, failuresPerMinute, logger });
  const app = createApp({
    routers: [
      { path: '/webhook', router: webhook },
      { path: '/api', router: admin },
      { path: '/dashboard', router: createDashboardRouter({ db, adminToken, accounts: () => Object.keys(config().accounts), now, logger }) },
      { path: '/metrics', router: createMetricsRouter({ gather, token: () => config().server.metricsToken, failuresPerMinute, logger }) },
      { path: QUEUE_BOARD_PATH, router: board.router },
    ],
    version: options.version,
    startedAt: new Date(),
    now,
    trustProxy: settings.server.trustProxy,
    logger,
    readiness: [
      { name: 'redis', check: async () => { await redis.ping(); } },
      { name: 'database', check: async () => { db.prepare('SELECT 1').get(); } },
      ...options.readiness ?? [],
    ],
  });

  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      // Not app.listen: Express 5 calls its callback on a listen error as well, which would look like success.
      const s = createHttpServer(app, settings.server);
      s.once('error', reject);
      s.listen(settings.server.port, settings.server.host, () => resolve(s));
    });
  } catch (error) {
    await Promise.all([queue.close(), board.close()]);
    const code = (error as NodeJS.ErrnoException).code;
    throw new StartupError(`tradewire: cannot listen on ${settings.server.host}:${settings.server.port} (${code ?? String(error)}): set PORT or HOST, or stop what is using it.`);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.server.port;
  return {
    url: `http://${settings.server.host}:${port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([queue.close(), board.close()]);
    },
  };
}

/** The admin API's address as this machine reaches it (a server on every interface is reached on loopback). */
export function localUrlOf(url: string): string {
  return url.replace(/^http:\/\/(0\.0\.0\.0|\[?::\]?)(?=:)/, 'http://127.0.0.1');
}
