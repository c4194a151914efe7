// The checks before anything is built: a valid config and a Redis to use (the configured one, or a private one), each
// failing with one clear line.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import { findOnPath, privateRedisDir, privateRedisOwnerAlive, privateRedisSocket, redisInstallHint, RedisSupervisor } from '../ops/redis-supervisor.ts';
import { assertRedisReachable, RedisUnavailableError, redisUnreachableLine } from '../queue/redis.ts';
import { StartupError, type Role } from './roles.ts';

/** The schema's default address: a config that leaves `redis.url` at it (or says it) has not chosen a Redis. */
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export async function loadStartupConfig(env: NodeJS.ProcessEnv): Promise<Config> {
  try {
    return await loadConfig({ env });
  } catch (error) {
    if (error instanceof ConfigError) throw new StartupError(error.message);
    throw error;
  }
}

export async function assertRedisUp(config: Config): Promise<void> {
  try {
    await assertRedisReachable(config.redis.url);
  } catch (error) {
    if (error instanceof RedisUnavailableError) throw new StartupError(redisUnreachableLine(error));
    throw error;
  }
}

const answers = async (url: string, timeoutMs = 1000): Promise<boolean> => {
  try {
    await assertRedisReachable(url, timeoutMs);
    return true;
  } catch {
    return false;
  }
};

export interface RedisChoice {
  /** What every connection of this process uses (a URL, or the private socket's absolute path). */
  url: string;
  /** Set when this process started the private Redis: stop it last. */
  supervisor?: RedisSupervisor;
}

/**
 * Which Redis to use. A `REDIS_URL` (or a `redis.url` other than the default) is used as given, never replaced. Otherwise:
 * the private Redis's socket under data/redis/ when it answers, else the default address (unless a private Redis has
 * kept this data folder's queue before), else (role `all`, or
 * `tradewire redis`) a private redis-server started and supervised here. Split roles never start one: under PM2 the
 * `tradewire-redis` app owns it (ecosystem.config.js), and they wait a while for its socket.
 */
export async function prepareRedis(config: Config, env: NodeJS.ProcessEnv, logger: Logger, role: Role | 'redis'): Promise<RedisChoice> {
  const explicit = Boolean(env.REDIS_URL) || config.redis.url !== DEFAULT_REDIS_URL;
  if (explicit) {
    await assertRedisUp(config);
    return { url: config.redis.url };
  }
  const dataDir = dirname(config.database.path);
  const socket = privateRedisSocket(dataDir);
  const owns = role === 'all' || role === 'redis';
  if (existsSync(socket) && await answers(socket)) {
    // A redis-server whose supervisor was killed (SIGKILL, a power cut of the process) is taken over, not left unwatched.
    if (!owns || privateRedisOwnerAlive(dataDir)) return { url: socket };
    logger.warn({ event: 'redis.private_orphan', socket }, 'a private redis-server outlived its daemon: restarting it under this one');
    await shutdownOrphan(socket);
  }
  // Tests point this at a closed port: the machine's own Redis at 127.0.0.1:6379 is shared and must not be stopped.
  const defaultUrl = env.TRADEWIRE_TEST_DEFAULT_REDIS_URL || DEFAULT_REDIS_URL;
  // Once a private Redis has held this data folder's queue, a Redis appearing on the default address later does not
  // take its place: the alerts acknowledged into the private one would never be executed.
  const privateData = existsSync(join(privateRedisDir(dataDir), 'appendonlydir'));
  if (role !== 'redis' && !privateData && await answers(defaultUrl)) return { url: defaultUrl };
  const binary = findOnPath('redis-server', env.PATH);
  if (!binary) {
    throw new StartupError(privateData
      ? `tradewire: the private Redis's queue is in ${privateRedisDir(dataDir)} but there is no redis-server to start it: ${redisInstallHint()}.`
      : `tradewire: no Redis at ${defaultUrl} and no redis-server to start a private one: ${redisInstallHint()}.`);
  }
  if (!owns) {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (existsSync(socket) && await answers(socket)) return { url: socket };
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new StartupError(`tradewire: no Redis at ${defaultUrl} nor on ${socket}: start the private one with \`tradewire redis\` `
      + '(the tradewire-redis app of ecosystem.config.js), or point REDIS_URL at a Redis.');
  }
  let supervisor: RedisSupervisor;
  try {
    supervisor = await RedisSupervisor.start({ dataDir, binary, logger });
  } catch (error) {
    throw new StartupError(`tradewire: no Redis at ${defaultUrl}, and the private one did not start: ${error instanceof Error ? error.message : String(error)}`);
  }
  logger.info({ event: 'redis.private_started', socket, pid: supervisor.pid }, privateData
    ? `started the private redis-server again on ${socket}, with the queue it keeps (append-only; stopped with tradewire)`
    : `no Redis at ${defaultUrl}: started a private redis-server on ${socket} (append-only; stopped with tradewire)`);
  return { url: socket, supervisor };
}

async function shutdownOrphan(socket: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const orphan = new Redis(socket, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  orphan.on('error', () => undefined);
  try {
    await orphan.connect();
    // SHUTDOWN writes the append-only file out first; the connection drops as it answers.
    await orphan.shutdown().catch(() => undefined);
  } finally {
    orphan.disconnect();
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && await answers(socket, 300)) await new Promise((r) => setTimeout(r, 100));
}
