// `tradewire check-config`: validates the config file and prints the effective config, secrets masked, as YAML.
import { stringify } from 'yaml';
import { ConfigError, loadConfigWithSources } from '../config/load.ts';
import { maskSecrets } from '../config/mask.ts';
import { verifyAccounts, type AccountCheck } from '../brokers/verify.ts';
import { createLogger } from '../ops/logger.ts';

export interface CheckConfigOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  out: (line: string) => void;
  /** Also try each account's credentials against its broker (reads the balance; never orders). */
  online?: boolean | undefined;
  /** How an account is tried; tests pass their own. */
  verify?: ((config: Parameters<typeof verifyAccounts>[0]) => Promise<AccountCheck[]>) | undefined;
}

/** 0 and the effective config when valid (and, with `online`, every account answered); 1 and one line per problem when not. */
export async function checkConfig(opts: CheckConfigOptions): Promise<number> {
  try {
    const loaded = await loadConfigWithSources({ file: opts.file, env: opts.env ?? process.env });
    for (const warning of loaded.warnings) opts.out(`# warning: ${warning}`);
    opts.out(`# ${loaded.file} is valid. Effective config (defaults filled in, environment applied, secrets masked):`);
    const text = stringify(maskSecrets(loaded.config, { envPaths: loaded.envPaths }), { lineWidth: 0 });
    for (const line of text.trimEnd().split('\n')) opts.out(line);
    if (!opts.online) return 0;
    const verify = opts.verify ?? ((config) => verifyAccounts(config, { logger: createLogger({ level: 'silent' }), now: () => new Date() }));
    const checks = await verify(loaded.config);
    opts.out('# Accounts, tried against their brokers:');
    for (const check of checks) opts.out(`# ${check.ok ? 'ok    ' : 'FAILED'} ${check.account} (${check.broker}): ${check.detail}`);
    return checks.every((c) => c.ok) ? 0 : 1;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.message.split('\n')) opts.out(line);
    return 1;
  }
}
