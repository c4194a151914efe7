// Reading the config again while running: what may change live, what waits for a restart, and what a reload refuses.
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

/** Settings the running process is built from: a change to these waits for a restart. */
export const RESTART_SECTIONS = ['server', 'redis', 'database', 'queue', 'accounts', 'notifications'] as const;

export type ReloadResult = { ok: true; restartNeeded: string[] } | { ok: false; error: string };

/**
 * The config to run on from now: the file as it is, with the restart-only sections kept as they were.
 * Throws ConfigError for an invalid file, or one whose strategies name an account the process was not built with.
 */
export async function nextConfig(current: Config, env: NodeJS.ProcessEnv): Promise<{ config: Config; restartNeeded: string[] }> {
  const next = await loadConfig({ env });
  const missing = Object.entries(next.strategies).flatMap(([name, strategy]) => strategy.subscriptions
    .filter((sub) => !Object.hasOwn(current.accounts, sub.account)).map((sub) => `strategies.${name}: account ${sub.account} is new and needs a restart`));
  if (missing.length > 0) throw new ConfigError(env.CONFIG_FILE ?? 'config', missing.map((message) => ({ path: '', message })));
  const restartNeeded = RESTART_SECTIONS.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(current[k]));
  return {
    config: { ...next, server: current.server, redis: current.redis, database: current.database, queue: current.queue, accounts: current.accounts,
      notifications: current.notifications },
    restartNeeded: [...restartNeeded],
  };
}
