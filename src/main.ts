// Composition root: load the config, check Redis, assemble the role (src/runtime/role-*.ts), reload and stop cleanly.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join, dirname } from 'node:path';
import { DEFAULT_CONFIG_FILE } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { createLogger, type Logger } from './ops/logger.ts';
import { resolveWebhookPassphrase } from './ops/generated-passphrase.ts';
import { describeRedisUrl } from './queue/redis.ts';
import type { Assembly } from './runtime/assembly.ts';
import { nextConfig, type ReloadResult } from './runtime/config-reload.ts';
import { StartupError, type Role } from './runtime/roles.ts';
import { loadStartupConfig, prepareRedis } from './runtime/startup.ts';
import type { RedisSupervisor } from './ops/redis-supervisor.ts';

export { ROLES, StartupError, type Role } from './runtime/roles.ts';
export type { ReloadResult } from './runtime/config-reload.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Daemon {
  /** Where the HTTP server listens (empty for the worker role, which serves no HTTP). */
  url: string;
  /** Role all: the execution thread's state, and a way to end it as a crash would (it is restarted). */
  execution?: Assembly['execution'];
  /** Reads the config file again; an invalid file keeps the running config and says why. */
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

export async function startDaemon(env: NodeJS.ProcessEnv = process.env, loggerOverride?: Logger, role: Role = 'all'): Promise<Daemon> {
  let config: Config = await loadStartupConfig(env);
  const logger = loggerOverride ?? createLogger({ level: config.logging.level });
  const redis = await prepareRedis(config, env, logger, role);
  try {
    if (redis.url !== config.redis.url) {
      // Every part (the execution thread and each reload included) reads the config from this env: all find the same Redis.
      env = { ...env, REDIS_URL: redis.url };
      config = await loadStartupConfig(env);
    }
    return await startWithRedis({ env, config, logger, role, forwardLogs: loggerOverride !== undefined, privateRedis: redis.supervisor });
  } catch (error) {
    await redis.supervisor?.stop();
    throw error;
  }
}

interface StartParts { env: NodeJS.ProcessEnv; config: Config; logger: Logger; role: Role; forwardLogs: boolean; privateRedis: RedisSupervisor | undefined }

async function startWithRedis(start: StartParts): Promise<Daemon> {
  const { env, logger, role, forwardLogs, privateRedis } = start;
  let config = start.config;

  const anyLiveAccount = Object.values(config.accounts).some((a) => 'live' in a && a.live === true);
  const passphrase = resolveWebhookPassphrase(config.webhook.passphrase, {
    file: join(dirname(config.database.path), 'webhook-passphrase'),
    anyLiveAccount,
  });
  if (passphrase.source !== 'configured') {
    logger.warn({ event: 'webhook.passphrase_generated', file: passphrase.source.file, created: passphrase.source.created },
      `no WEBHOOK_PASSPHRASE set: using the generated one kept in ${passphrase.source.file} (paper only)`);
  }

  const current = () => config;
  const parts = { config: current, logger, version: VERSION, passphrase: passphrase.passphrase };
  // Each role loads only its own assembly: in role all this thread never loads the executor, the brokers or the loop.
  const threaded = role === 'all' && env.TRADEWIRE_EXECUTION !== 'inline';
  const assembly = threaded ? await (await import('./runtime/role-all.ts')).assembleAll({ ...parts, env, forwardLogs })
    : role === 'api' || role === 'all' ? await (await import('./runtime/role-in-process.ts')).assembleInProcess({ ...parts, role })
    : await (await import('./runtime/role-watch.ts')).assembleWatcher({ role, config: current, logger });
  const { url } = assembly;
  logger.info({ event: 'daemon.started', url, redis: describeRedisUrl(config.redis.url), database: config.database.path,
    accounts: Object.keys(config.accounts), strategies: Object.keys(config.strategies), role },
    url ? `tradewire ${VERSION} (${role}) listening on ${url}` : `tradewire ${VERSION} (${role}) ${role === 'worker' ? 'executing queued signals and ' : ''}watching positions`);

  const reload = async (): Promise<ReloadResult> => {
    try {
      const next = await nextConfig(config, env);
      config = next.config;
      // Intraday strategies and the backup cron may have changed: the jobs are planned again from the new config
      // (in role all, by the execution thread, which reads the same file).
      const planned = await assembly.reload();
      if (!planned.ok) logger.error({ event: 'config.reload_partial', error: planned.error }, 'the execution side kept its config');
      logger.info({ event: 'config.reloaded', restartNeeded: next.restartNeeded }, next.restartNeeded.length > 0
        ? `config reloaded; changes to ${next.restartNeeded.join(', ')} take effect at the next restart` : 'config reloaded');
      return { ok: true, restartNeeded: next.restartNeeded };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ event: 'config.reload_failed', error: message }, 'the new config is invalid: the running one stays');
      return { ok: false, error: message };
    }
  };
  let reloadTimer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(env.CONFIG_FILE ?? DEFAULT_CONFIG_FILE, { persistent: false }, () => {
      // Editors write a file in several steps: reload once it has settled.
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => { void reload(); }, 300);
    });
    watcher.on('error', () => undefined);
  } catch {
    logger.warn({ event: 'config.unwatched' }, 'cannot watch the config file: reload with SIGHUP');
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ event: 'daemon.stopping' }, 'stopping');
      watcher?.close();
      clearTimeout(reloadTimer);
      await assembly.stop();
      // Last: every connection above is closed by now, and redis-server writes its append-only file out as it stops.
      await privateRedis?.stop();
      logger.info({ event: 'daemon.stopped' }, 'stopped');
    })();
    return stopping;
  };
  return { url, execution: assembly.execution, reload, stop };
}

/** Runs the daemon until SIGTERM or SIGINT (scripts/start.js, which `npm start` and PM2 run, or this file run directly). */
export async function runFromCommandLine(role: Role = 'all'): Promise<void> {
  try {
    const daemon = await startDaemon(process.env, undefined, role);
    const onSignal = (signal: NodeJS.Signals) => {
      void daemon.stop().then(() => process.exit(0), (error: unknown) => {
        process.stderr.write(`tradewire: error while stopping after ${signal}: ${String(error)}\n`);
        process.exit(1);
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.on('SIGHUP', () => { void daemon.reload(); });
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await runFromCommandLine();
}
