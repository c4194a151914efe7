// Redis connections: a fail-fast client for the request path, blocking-safe ones for workers, and a clear start-up check.
import { Redis, type RedisOptions } from 'ioredis';

export class RedisUnavailableError extends Error {
  constructor(readonly where: string, readonly causeText: string) {
    super(`cannot reach Redis at ${where} (${causeText})`);
    this.name = 'RedisUnavailableError';
  }
}

/** The one line a start (the daemon's, or `npm test`'s) ends with when the Redis it was told to use does not answer. */
export function redisUnreachableLine(error: RedisUnavailableError): string {
  return `tradewire: ${error.message}. Start Redis (\`redis-server --daemonize yes\`, or \`docker compose up -d redis\`) or point REDIS_URL at one.`;
}

/** The URL with any password removed, for messages and logs. */
export function describeRedisUrl(url: string): string {
  if (url.startsWith('/')) return `unix:${url}`;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable REDIS_URL)';
  }
}

/**
 * A client that never queues commands while Redis is down and gives up on a command quickly,
 * so the webhook can answer 503 at once instead of hanging past TradingView's 3 s.
 */
export function createFastFailRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    ...extra,
  });
}

/** A client for BullMQ workers and queues: BullMQ requires maxRetriesPerRequest null for blocking commands. */
export function createWorkerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...extra });
}

/** Connects once and pings, within a deadline; throws RedisUnavailableError naming where it tried. */
export async function assertRedisReachable(url: string, timeoutMs = 3000): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  // ioredis rejects connect() with a bare "Connection is closed."; the socket's own error says why.
  let socketError: NodeJS.ErrnoException | undefined;
  probe.on('error', (error: NodeJS.ErrnoException) => { socketError ??= error; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    const cause = socketError ?? (error as NodeJS.ErrnoException);
    const text = cause instanceof Error ? cause.code ?? cause.message : String(cause);
    throw new RedisUnavailableError(describeRedisUrl(url), text);
  } finally {
    probe.disconnect();
  }
}

/** Every key under `${prefix}:`, scanned in pages (never KEYS, which blocks the server). */
export async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Deletes every key under `${prefix}:` (the demo's, a benchmark's, a test run's); returns how many. */
export async function deletePrefixedKeys(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
