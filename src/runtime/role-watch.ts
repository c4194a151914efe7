// Roles `worker` (executes queued signals and watches positions) and `monitor` (watches only): one event loop, and an
// HTTP server for /metrics (and /health, /ready) only, on server.metricsPort.
import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import { createApp, createHttpServer } from '../http/app.ts';
import { createMetricsRouter } from '../http/metrics-route.ts';
import type { Logger } from '../ops/logger.ts';
import { renderMetrics, threadMetrics } from '../ops/metrics.ts';
import type { Assembly } from './assembly.ts';
import { startExecutionSide } from './execution-side.ts';
import type { Role } from './roles.ts';

export async function assembleWatcher(options: { role: Extract<Role, 'worker' | 'monitor'>; config: () => Config; logger: Logger }): Promise<Assembly> {
  const side = await startExecutionSide({ config: options.config, logger: options.logger, execute: options.role === 'worker', watch: true,
    owner: `${options.role}-${process.pid}-${Date.now().toString(36)}` });
  const metricsServer = await serveMetrics(options.config, options.logger, () => side.redis.ping().then(() => undefined));
  side.run();
  return {
    url: '',
    reload: async () => {
      await side.reschedule();
      return { ok: true };
    },
    async stop() {
      await new Promise<void>((resolve) => { if (metricsServer) metricsServer.close(() => resolve()); else resolve(); });
      await side.stop();
    },
  };
}

/**
 * /metrics for a role that serves nothing else. Trading never waits on it: a port in use (a second worker on this
 * host, say) is logged and the role runs without it.
 */
async function serveMetrics(config: () => Config, logger: Logger, redisUp: () => Promise<void>): Promise<Server | undefined> {
  const settings = config().server;
  if (settings.metricsPort === 0) return undefined;
  const metrics = threadMetrics();
  const app = createApp({
    version: 'metrics', startedAt: new Date(), now: () => new Date(), trustProxy: settings.trustProxy, logger,
    readiness: [{ name: 'redis', check: redisUp }],
    routers: [{ path: '/metrics', router: createMetricsRouter({
      gather: async () => renderMetrics(await metrics.json()), token: () => config().server.metricsToken,
      failuresPerMinute: () => config().server.adminFailedAuthPerMinute, logger,
    }) }],
  });
  const server = createHttpServer(app, settings);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.metricsPort, settings.host, () => resolve());
    });
  } catch (error) {
    logger.warn({ event: 'metrics.unavailable', port: settings.metricsPort, err: (error as NodeJS.ErrnoException).code ?? String(error) },
      `cannot serve /metrics on ${settings.host}:${settings.metricsPort}: running without it (set server.metricsPort)`);
    return undefined;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.metricsPort;
  logger.info({ event: 'metrics.listening', url: `http://${settings.host}:${port}/metrics` }, `metrics on http://${settings.host}:${port}/metrics`);
  return server;
}
