// Where the CLI finds the journal, the daemon, the admin token and the webhook passphrase: flags, then environment, then the config file.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

export interface CliSettings {
  databasePath: string;
  /** The daemon's base URL ('http://127.0.0.1:8080'). */
  url: string;
  adminToken?: string | undefined;
  /** The webhook passphrase for `signal`: configured, or the one the daemon generated for a paper-only setup. */
  passphrase?: string | undefined;
}

export interface SettingsOptions {
  configFile?: string | undefined;
  databasePath?: string | undefined;
  url?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Where warnings go (stderr). */
  warn: (line: string) => void;
}

/** A setting the CLI cannot do without is missing or unreadable: the message is for the user as it stands. */
export class SettingsError extends Error {}

/** A host the daemon listens on, as a client reaches it: every-interface addresses become loopback. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Resolves the settings. The config file is read for what the environment does not say; when it cannot be
 * read (secrets of the daemon's environment missing in this shell, say) the CLI carries on with the
 * environment and the defaults, after one warning. A file named with --config must load.
 */
export async function resolveSettings(options: SettingsOptions): Promise<CliSettings> {
  const { env } = options;
  const file = options.configFile ?? env.CONFIG_FILE ?? DEFAULT_CONFIG_FILE;
  let config: Config | undefined;
  try {
    config = await loadConfig({ file, env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (options.configFile !== undefined) throw new SettingsError(error.message);
    if (existsSync(file)) options.warn(`tradewire: warning: ${error.message.split('\n')[0] ?? ''} (going on with the environment and defaults)`);
  }
  const databasePath = options.databasePath ?? config?.database.path ?? env.DATABASE_PATH ?? 'data/trading.db';
  const host = config?.server.host ?? env.HOST ?? '127.0.0.1';
  const port = config?.server.port ?? (env.PORT && /^\d+$/.test(env.PORT) ? Number(env.PORT) : 8080);
  const url = (options.url ?? env.TRADEWIRE_URL ?? `http://${reachableHost(host)}:${port}`).replace(/\/+$/, '');
  const adminToken = nonEmpty(env.ADMIN_TOKEN) ?? config?.server.adminToken;
  let passphrase = nonEmpty(env.WEBHOOK_PASSPHRASE) ?? config?.webhook.passphrase;
  if (passphrase === undefined) {
    const generated = join(dirname(databasePath), 'webhook-passphrase');
    try {
      passphrase = nonEmpty(readFileSync(generated, 'utf8').trim());
    } catch {
      passphrase = undefined;
    }
  }
  return { databasePath, url, adminToken, passphrase };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
