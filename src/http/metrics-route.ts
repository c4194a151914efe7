// GET /metrics: Prometheus text, for this host's scraper (loopback) or for one that sends the metrics token.
import { isIP } from 'node:net';
import express, { type Request, type Response, type Router } from 'express';
import { AuthFailureLog } from '../intake/auth-log.ts';
import { MinuteCounter } from '../intake/limits.ts';
import type { Logger } from '../ops/logger.ts';
import { METRICS_CONTENT_TYPE } from '../ops/metrics.ts';
import { DEFAULT_ADMIN_FAILURES_PER_MINUTE, presentedToken, tokenMatches } from './admin-auth.ts';

export interface MetricsRouteDeps {
  /** The Prometheus text of every side of the daemon (src/runtime/metrics-gather.ts). */
  gather: () => Promise<string>;
  /** server.metricsToken (METRICS_TOKEN): absent, /metrics answers loopback only. */
  token: () => string | undefined;
  /** Wrong tokens a source may send a minute before it is answered 429 for the rest of it. */
  failuresPerMinute?: () => number;
  logger?: Logger | undefined;
  now?: () => Date;
}

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6 (::ffff:127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

export type MetricsAccess = { allowed: true } | { allowed: false; status: 401 | 403; error: string; message: string };

/**
 * Who may read /metrics. Without a token: a request from this host only, which means both the socket's peer and the
 * client as `trustProxy` resolves it (req.ip) are loopback: a remote client behind a local proxy is not local, and a
 * forged X-Forwarded-For from a remote peer changes nothing. With a token: also anyone who presents it.
 */
export function metricsAccess(request: { peer: string | undefined; client: string | undefined; authorization: string | undefined }, token: string | undefined): MetricsAccess {
  if (isLoopback(request.peer) && isLoopback(request.client)) return { allowed: true };
  if (token === undefined || token === '') {
    return { allowed: false, status: 403, error: 'loopback_only',
      message: '/metrics answers this host only: scrape it from here, or set METRICS_TOKEN (server.metricsToken) and send it as Authorization: Bearer <token>' };
  }
  const given = presentedToken(request.authorization);
  if (given !== undefined && tokenMatches(given, token)) return { allowed: true };
  return { allowed: false, status: 401, error: 'unauthorized', message: 'send the metrics token as Authorization: Bearer <token>' };
}

export function createMetricsRouter(deps: MetricsRouteDeps): Router {
  const router = express.Router();
  const now = deps.now ?? (() => new Date());
  const failures = new MinuteCounter();
  const failureLog = deps.logger && new AuthFailureLog(deps.logger, 'metrics.unauthorized', 'metrics scrape with a wrong or missing token');
  router.get('/', async (req: Request, res: Response) => {
    const at = now();
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    if (failures.get(source, at) >= (deps.failuresPerMinute?.() ?? DEFAULT_ADMIN_FAILURES_PER_MINUTE)) {
      res.set('Retry-After', String(60 - at.getUTCSeconds())).status(429).json({ error: 'rate_limited' });
      return;
    }
    const access = metricsAccess({ peer: req.socket.remoteAddress, client: req.ip, authorization: req.get('authorization') }, deps.token());
    if (!access.allowed) {
      if (access.status === 401) {
        const count = failures.add(source, at);
        failureLog?.record(source, at, { failures: count, path: req.baseUrl });
        res.set('WWW-Authenticate', 'Bearer realm="tradewire-metrics"');
      }
      res.status(access.status).json({ error: access.error, message: access.message });
      return;
    }
    res.set('Cache-Control', 'no-store').type(METRICS_CONTENT_TYPE).send(await deps.gather());
  });
  return router;
}
