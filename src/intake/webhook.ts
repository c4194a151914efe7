// POST /webhook[/:strategy[/:token]]: authenticate, validate, dedupe and enqueue an alert, touching only Redis.
import { BlockList, isIPv4 } from 'node:net';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Redis } from 'ioredis';
import type { Config, StrategyConfig } from '../config/schema.ts';
import { allowedSourceList } from '../config/schema.ts';
import { signalIdFactory } from '../domain/ids.ts';
import { jsonErrorHandler } from '../http/errors.ts';
import type { Logger } from '../ops/logger.ts';
import { threadMetrics, type TradewireMetrics } from '../ops/metrics.ts';
import type { ExecutionJobData, SignalQueue } from '../queue/signal-queue.ts';
import { alertToJson } from './alert-json.ts';
import { AuthFailureLog } from './auth-log.ts';
import { authenticate } from './auth.ts';
import { parseBody } from './body.ts';
import { contentHash, hashOfStableText, stableStringify } from './content-hash.ts';
import { FailedAuthCounter, StrategyCeiling } from './limits.ts';
import { parseAlert, type ParsedAlert } from './parse.ts';
import { RefusalCounter } from './refusal-counter.ts';
import { publishRefusal, type Refusal } from './refusals.ts';
import { extractPassphrase, stripSecret } from './secret.ts';
import { resolveSymbol } from './symbols.ts';

export interface WebhookDeps {
  /** The config in force (it can be reloaded while running). */
  config: () => Config;
  /** The global webhook passphrase (configured, or generated for paper-only setups). */
  passphrase: string;
  redis: Redis;
  prefix: string;
  queue: SignalQueue;
  logger: Logger;
  now: () => Date;
  newSignalId?: () => string;
  /** Where the answers are counted and timed (this thread's metrics unless given). */
  metrics?: TradewireMetrics;
}

/** Thrown by Redis calls on the request path: the answer is a quick 503. */
class QueueUnavailable extends Error {}

async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new QueueUnavailable(error instanceof Error ? error.message : String(error));
  }
}

function sourceFilter(config: Config): ((address: string) => boolean) | undefined {
  const sources = allowedSourceList(config.server);
  if (!sources) return undefined;
  const list = new BlockList();
  for (const source of sources) {
    const [address, bits] = source.split('/');
    if (!address) continue;
    const family = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return (raw) => {
    const address = raw.startsWith('::ffff:') && isIPv4(raw.slice(7)) ? raw.slice(7) : raw;
    return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  };
}

function dedupeKeyFor(strategy: string, alert: ParsedAlert, hash: string, config: Config): { key: string; ttlMs: number } {
  // Hash the user's id: BullMQ keys may not hold arbitrary text, and the id is user input.
  if (alert.id !== undefined) {
    return { key: `id-${contentHash({ strategy, id: alert.id })}`, ttlMs: config.webhook.idDedupeWindowSeconds * 1000 };
  }
  return { key: `content-${contentHash({ strategy, hash })}`, ttlMs: config.webhook.contentDedupeWindowSeconds * 1000 };
}

export function createWebhookRouter(deps: WebhookDeps): Router {
  const router = express.Router();
  const newSignalId = deps.newSignalId ?? signalIdFactory();
  const failedAuth = new FailedAuthCounter(deps.redis, deps.prefix);
  const ceiling = new StrategyCeiling();
  const refusalCounter = new RefusalCounter();
  // A flood of wrong secrets is counted, not written line by line: the disk is not the attacker's to fill.
  const authLog = new AuthFailureLog(deps.logger, 'webhook.unauthorized', 'alert with a wrong or missing secret');
  // Rebuilt only when the config object changes (a reload), not per request.
  let filterFor: { config: Config; filter: ((address: string) => boolean) | undefined } | undefined;
  // The limit is read at start; a reload that changes it takes effect on the next start.
  const rawBody = express.raw({ type: () => true, limit: deps.config().server.bodyLimitBytes });
  const metrics = deps.metrics ?? threadMetrics();
  const counted = (outcome: string, reason = '') => { metrics.signals.inc({ stage: 'intake', outcome, reason }); };
  // The accepted alert, the common case: its series looked up once, not per request.
  const queuedSignals = metrics.signals.labels({ stage: 'intake', outcome: 'queued', reason: '' });

  /** Journals a refusal (after its answer is sent); past the first of a minute, a flood's 429s are only counted. */
  const refuse = async (res: Response, http: number, body: Record<string, unknown>, refusal: Refusal) => {
    res.status(http).json(body);
    counted(refusal.status, refusal.reason);
    if (!refusalCounter.take(refusal.strategy, refusal.reason, new Date(refusal.receivedAt))) return;
    deps.logger.info({ event: 'signal.refused', signalId: refusal.signalId, strategy: refusal.strategy, reason: refusal.reason, detail: refusal.detail },
      `alert refused: ${refusal.reason}`);
    try {
      await publishRefusal(deps.redis, deps.prefix, refusal);
    } catch (error) {
      deps.logger.warn({ event: 'signal.refusal_not_journalled', signalId: refusal.signalId, err: String(error) }, 'refusal could not be queued for the journal');
    }
  };

  /** One journal row per strategy for the refusals a minute counted instead of journalling (RefusalCounter). */
  const summarize = async (now: Date) => {
    for (const summary of refusalCounter.finished(now)) {
      const detail = `${summary.counted} more alerts refused (${summary.reason}) in the minute from ${summary.minuteStart.toISOString()}, ` +
        `${summary.refused} in all: counted, not journalled one by one`;
      deps.logger.warn({ event: 'signal.refusals_counted', strategy: summary.strategy, reason: summary.reason, refused: summary.refused }, detail);
      const refusal: Refusal = { signalId: newSignalId(now.getTime()), strategy: summary.strategy, status: 'rejected', reason: summary.reason,
        detail, payload: '{}', receivedAt: now.toISOString() };
      await publishRefusal(deps.redis, deps.prefix, refusal).catch((error: unknown) => {
        deps.logger.warn({ event: 'signal.refusal_not_journalled', signalId: refusal.signalId, err: String(error) }, 'refusal summary could not be queued for the journal');
      });
    }
  };

  const handle = async (req: Request, res: Response) => {
    const config = deps.config();
    const now = deps.now();
    // A minute that ended since the last request: its counted refusals get their summary row (off the answer's path).
    void summarize(now);
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';

    if (filterFor?.config !== config) filterFor = { config, filter: sourceFilter(config) };
    const allowed = filterFor.filter;
    if (allowed && !allowed(source)) {
      counted('forbidden', 'forbidden_source');
      res.status(403).json({ error: 'forbidden_source' });
      return;
    }

    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const parsedBody = parseBody(raw, req.headers['content-type']);
    if (!parsedBody.ok && parsedBody.error === 'unsupported_media_type') {
      counted('rejected', 'unsupported_media_type');
      res.status(415).json({ error: 'unsupported_media_type', message: 'send the alert as application/json or text/plain' });
      return;
    }

    const body = parsedBody.ok ? parsedBody.body : undefined;
    const pathStrategy = typeof req.params.strategy === 'string' ? req.params.strategy : undefined;
    const bodyStrategy = typeof body?.strategy === 'string' ? body.strategy : undefined;
    const strategyName = pathStrategy ?? bodyStrategy ?? 'default';
    const strategy: StrategyConfig | undefined = Object.hasOwn(config.strategies, strategyName) ? config.strategies[strategyName] : undefined;
    const secret = strategy?.passphrase ?? deps.passphrase;
    const signature = req.headers['x-tradewire-signature'];
    const authenticated = authenticate({
      bodyPassphrase: body === undefined ? undefined : extractPassphrase(body),
      pathToken: typeof req.params.token === 'string' ? req.params.token : undefined,
      signature: typeof signature === 'string' ? signature : undefined,
      rawBody: raw,
    }, secret);
    if (!authenticated) {
      const failures = await redisCall(() => failedAuth.record(source, now));
      authLog.record(source, now, { failures });
      counted('unauthorized', failures > config.webhook.failedAuthPerMinute ? 'rate_limited' : 'unauthorized');
      if (failures > config.webhook.failedAuthPerMinute) res.status(429).json({ error: 'rate_limited' });
      else res.status(401).json({ error: 'unauthorized' });
      return;
    }

    // Authenticated from here on: every refusal is journalled with its reason.
    const signalId = newSignalId(now.getTime());
    const receivedAt = now.toISOString();
    const safePayload = body === undefined ? '{}' : stableStringify(stripSecret(body));
    const base = { signalId, strategy: strategyName, payload: safePayload, receivedAt };

    if (!parsedBody.ok) {
      const issues = parsedBody.error === 'invalid_signal' ? parsedBody.issues : [];
      await refuse(res, 400, { error: 'invalid_signal', issues }, { ...base, status: 'rejected', reason: 'invalid', detail: issues.map((i) => `${i.path}: ${i.message}`).join('; ') });
      return;
    }
    if (!strategy) {
      await refuse(res, 404, { error: 'unknown_strategy', strategy: strategyName }, { ...base, status: 'rejected', reason: 'unknown_strategy', detail: `no strategy '${strategyName}' in the config` });
      return;
    }

    const result = parseAlert(parsedBody.body, {
      pathStrategy,
      now,
      maxSignalAgeSeconds: config.webhook.maxSignalAgeSeconds,
      resolveSymbol: (name, ticker) => resolveSymbol(config.strategies[name]?.symbols ?? {}, ticker),
    });
    if (!result.ok) {
      if (result.error === 'invalid_signal') {
        await refuse(res, 400, { error: 'invalid_signal', issues: result.issues },
          { ...base, status: 'rejected', reason: 'invalid', detail: result.issues.map((i) => `${i.path}: ${i.message}`).join('; ') });
      } else if (result.error === 'unsupported') {
        await refuse(res, 400, { error: 'unsupported', field: result.field, message: result.message },
          { ...base, status: 'rejected', reason: 'unsupported', detail: result.message });
      } else {
        await refuse(res, 422, { error: 'stale_signal', message: result.message },
          { ...base, status: 'stale', reason: 'stale', detail: result.message, ticker: result.alert.ticker, action: result.alert.action, userId: result.alert.id });
      }
      return;
    }
    const alert = result.alert;
    const described = { ticker: alert.ticker, action: alert.action, userId: alert.id };

    let accounts = strategy.subscriptions.map((s) => s.account);
    if (alert.account !== undefined) {
      const issue = !strategy.allowAccountOverride
        ? `strategy '${strategyName}' does not allow an account override (allowAccountOverride)`
        : !Object.hasOwn(config.accounts, alert.account) ? `no account '${alert.account}' in the config` : undefined;
      if (issue) {
        await refuse(res, 400, { error: 'invalid_signal', issues: [{ path: 'account', message: issue }] },
          { ...base, ...described, status: 'rejected', reason: 'invalid', detail: `account: ${issue}` });
        return;
      }
      accounts = [alert.account];
    }

    if (!ceiling.take(strategyName, config.webhook.strategyRatePerSecond, config.webhook.strategyBurst)) {
      await refuse(res, 429, { error: 'rate_limited' }, { ...base, ...described, status: 'rejected', reason: 'rate_limited', detail: 'over the strategy\'s alert rate' });
      return;
    }

    // The journal's payload is already the stable JSON of the stripped body (parseAlert's rawPayload): hash that text.
    const hash = hashOfStableText(safePayload);
    const jobs: ExecutionJobData[] = accounts.map((account) => ({
      signalId, account, accounts, strategy: strategyName, symbol: alert.symbol, alert: alertToJson(alert),
      rawPayload: safePayload, ignored: result.ignored, contentHash: hash, receivedAt,
    }));
    const enqueued = await redisCall(() => deps.queue.enqueue(jobs, dedupeKeyFor(strategyName, alert, hash, config)));
    if (enqueued.status === 'duplicate') {
      await refuse(res, 200, { signalId: enqueued.signalId, status: 'duplicate' },
        { ...base, ...described, status: 'duplicate', reason: 'duplicate', detail: `duplicate of ${enqueued.signalId}` });
      return;
    }
    queuedSignals.inc();
    deps.logger.info({ event: 'signal.queued', signalId, strategy: strategyName, symbol: alert.symbol, action: alert.action, accounts }, 'alert queued');
    res.status(202).json(result.ignored.length > 0 ? { signalId, status: 'queued', ignored: result.ignored } : { signalId, status: 'queued' });
  };

  router.post(['/', '/:strategy', '/:strategy/:token'], (_req: Request, res: Response, next: NextFunction) => {
    // Every answer is timed, body reading and refusals included.
    const started = performance.now();
    res.once('finish', () => { metrics.webhookSeconds.observe({ status: res.statusCode }, (performance.now() - started) / 1000); });
    next();
  }, rawBody, (req: Request, res: Response, next: NextFunction) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof QueueUnavailable) {
        counted('unavailable', 'queue_unavailable');
        deps.logger.error({ event: 'webhook.queue_unavailable', err: error.message }, 'Redis unavailable: alert not accepted');
        if (!res.headersSent) res.status(503).json({ error: 'queue_unavailable' });
        return;
      }
      next(error);
    });
  });

  // Body-reading failures, before authentication: say what is wrong with the request, nothing more.
  router.use((error: { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (error.type === 'entity.too.large') { res.status(413).json({ error: 'payload_too_large' }); return; }
    if (error.status !== undefined && error.status >= 400 && error.status < 500) { res.status(error.status).json({ error: 'bad_request' }); return; }
    next(error);
  });
  // Anything else (a bug): logged with its stack, answered a bare JSON 500.
  router.use(jsonErrorHandler(deps.logger, 'webhook.error'));
  return router;
}
