// `tradewire redis`: the private Redis in the foreground, owned by this process, for roles run as separate processes.
import { loadStartupConfig, prepareRedis } from '../runtime/startup.ts';
import { StartupError } from '../runtime/roles.ts';
import { createLogger } from './logger.ts';
import type { RedisSupervisor } from './redis-supervisor.ts';

/**
 * With split roles nobody else may own it: the api or the worker restarting (a `pm2 reload`) would take every other
 * role's Redis down with it. This process only supervises redis-server, so it has no reason to restart.
 */
export async function runPrivateRedis(env: NodeJS.ProcessEnv): Promise<RedisSupervisor> {
  if (env.REDIS_URL) throw new StartupError('tradewire: REDIS_URL is set, so the roles use that Redis: `tradewire redis` runs only the private one.');
  const config = await loadStartupConfig(env);
  const logger = createLogger({ level: config.logging.level });
  const choice = await prepareRedis(config, env, logger, 'redis');
  if (!choice.supervisor) throw new StartupError(`tradewire: a private Redis is already running on ${choice.url}, supervised by another tradewire process.`);
  return choice.supervisor;
}
