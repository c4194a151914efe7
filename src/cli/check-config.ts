// `tradewire check-config`: validates the config file and prints the effective config, secrets masked, as YAML.
import { stringify } from 'yaml';
import { ConfigError, loadConfigWithSources } from '../config/load.ts';
import { maskSecrets } from '../config/mask.ts';

export interface CheckConfigOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  out: (line: string) => void;
}

/** 0 and the effective config when valid; 1 and one line per problem when not. */
export async function checkConfig(opts: CheckConfigOptions): Promise<number> {
  try {
    const loaded = await loadConfigWithSources({ file: opts.file, env: opts.env ?? process.env });
    for (const warning of loaded.warnings) opts.out(`# warning: ${warning}`);
    opts.out(`# ${loaded.file} is valid. Effective config (defaults filled in, environment applied, secrets masked):`);
    const text = stringify(maskSecrets(loaded.config, { envPaths: loaded.envPaths }), { lineWidth: 0 });
    for (const line of text.trimEnd().split('\n')) opts.out(line);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.message.split('\n')) opts.out(line);
    return 1;
  }
}
