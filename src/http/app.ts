// The HTTP application: mounts health and readiness now; the webhook, admin API and dashboard mount here too.
import { createServer, type Server } from 'node:http';
import express, { type Express, type Router } from 'express';
import helmet from 'helmet';
import type { ServerConfig } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import { jsonErrorHandler, publicMessage } from './errors.ts';

export type TrustProxy = ServerConfig['trustProxy'];

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface AppDeps {
  version: string;
  startedAt: Date;
  now: () => Date;
  readiness: ReadinessCheck[];
  /** Routers mounted after the built-in routes, each at its path ('/webhook'). */
  routers?: Array<{ path: string; router: Router }>;
  /** express's `trust proxy`: a hop count or proxy addresses (config server.trustProxy); absent, loopback only. */
  trustProxy?: TrustProxy;
  /** Where the final error handler logs a failed request (its answer is a bare 500 either way). */
  logger?: Logger;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are small JSON, never cached by a client: hashing each body for an ETag is wasted work on the alert path.
  app.set('etag', false);
  // Never `true` (the schema refuses it): that believes the left-most X-Forwarded-For entry, which the client writes.
  app.set('trust proxy', deps.trustProxy ?? 'loopback');
  // Security headers on every answer. The API and webhook answer JSON only, so their policy allows nothing at all and no
  // framing; the dashboard sets its own policy for its page (src/http/dashboard.ts).
  app.use(helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  }));

  // Liveness: the process answers. It never touches Redis or the database, so a slow dependency can't make PM2 restart us.
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', version: deps.version, uptimeSeconds: Math.round((deps.now().getTime() - deps.startedAt.getTime()) / 1000) });
  });

  // Readiness: every dependency answers, so alerts sent now will be taken.
  app.get('/ready', async (_req, res) => {
    const results = await Promise.all(deps.readiness.map(async (r) => {
      try {
        await r.check();
        return { name: r.name, ok: true as const };
      } catch (error) {
        // Unauthenticated: what failed, without the paths a SQLite or file error would name.
        return { name: r.name, ok: false as const, error: publicMessage(error) };
      }
    }));
    const ready = results.every((r) => r.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: results });
  });

  for (const { path, router } of deps.routers ?? []) app.use(path, router);

  app.use((_req, res) => { res.status(404).json({ error: 'not_found' }); });
  // Replaces express's own final handler, whose page is HTML with a stack trace and file paths outside production.
  app.use(jsonErrorHandler(deps.logger));
  return app;
}

/** The limits of the HTTP server (the config's `server` section): slow requests cut off, connections capped. */
export type ServerLimits = Pick<ServerConfig, 'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections'>;

/**
 * The HTTP server for the app, with its limits: a request not fully received within requestTimeoutMs (headers within
 * headersTimeoutMs) is answered 408 and closed, and past maxConnections a new connection is closed at once.
 */
export function createHttpServer(app: Express, limits: ServerLimits): Server {
  const server = createServer({
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the two timeouts on this interval (30 s by default), which would let a slow request run that much longer.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  }, app);
  server.maxConnections = limits.maxConnections;
  return server;
}
