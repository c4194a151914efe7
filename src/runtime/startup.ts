// The checks before anything is built: a valid config and a reachable Redis, each failing with one clear line.
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { assertRedisReachable, RedisUnavailableError, redisUnreachableLine } from '../queue/redis.ts';
import { StartupError } from './roles.ts';

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
    if (error instanceof RedisUnavailableError) {
      throw new StartupError(redisUnreachableLine(error));
    }
    throw error;
  }
}
