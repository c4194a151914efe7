// Loads the config file: YAML with floats kept as text, ${ENV} references, environment overrides, one zod validation.
import { readFile } from 'node:fs/promises';
import { parseDocument, type ScalarTag, type Tags } from 'yaml';
import type { z } from 'zod';
import { configSchema, isLiveAccount, type Config } from './schema.ts';

export const DEFAULT_CONFIG_FILE = 'config/tradewire.yaml';

export type ConfigPath = ReadonlyArray<string | number>;

export interface ConfigIssue {
  path: string;
  message: string;
}

/** An invalid config: the message has one line per issue, each naming the file and the path, ready to print. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly file: string, readonly issues: ConfigIssue[]) {
    super(issues.map((issue) => `${file}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`).join('\n'));
  }
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

export interface LoadedConfig {
  config: Config;
  file: string;
  /** Paths whose value came from a ${NAME} reference: printed masked, whatever their key. */
  envPaths: ConfigPath[];
  /** Worth telling the user, not worth refusing the file (a secret written into it, say). */
  warnings: string[];
}

/** Environment variables that override a setting of the file (PRODUCT.md, Environment). */
const OVERRIDES: ReadonlyArray<{ name: string; path: [string, string]; integer?: boolean }> = [
  { name: 'PORT', path: ['server', 'port'], integer: true },
  { name: 'HOST', path: ['server', 'host'] },
  { name: 'ADMIN_TOKEN', path: ['server', 'adminToken'] },
  { name: 'METRICS_TOKEN', path: ['server', 'metricsToken'] },
  { name: 'WEBHOOK_PASSPHRASE', path: ['webhook', 'passphrase'] },
  { name: 'REDIS_URL', path: ['redis', 'url'] },
  { name: 'REDIS_PREFIX', path: ['redis', 'prefix'] },
  { name: 'DATABASE_PATH', path: ['database', 'path'] },
  { name: 'LOG_LEVEL', path: ['logging', 'level'] },
];

const SECRET_KEYS = new Set(['passphrase', 'adminToken', 'metricsToken', 'keyId', 'secretKey', 'apiKey', 'apiSecret', 'privateKey', 'accessToken', 'botToken', 'webhookUrl']);

// Floats (and hex or octal integers) stay as their source text, so decimals never pass through a float.
const keepAsText = (tags: Tags): Tags =>
  tags.map((tag) => {
    if (typeof tag !== 'object') return tag;
    const isFloat = tag.tag === 'tag:yaml.org,2002:float';
    const isRadixInt = tag.tag === 'tag:yaml.org,2002:int' && (tag.format === 'HEX' || tag.format === 'OCT');
    return isFloat || isRadixInt ? ({ ...tag, resolve: (text: string) => text } as ScalarTag) : tag;
  });

/** Formats a path as people write it: strategies.default.subscriptions[0].account, symbols["BINANCE:BTCUSDT.P"]. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][\w-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Replaces ${NAME} and ${NAME:-default} in every string value; `$${` stays a literal `${`. */
function substitute(value: unknown, path: ConfigPath, env: NodeJS.ProcessEnv, envPaths: ConfigPath[], issues: ConfigIssue[]): unknown {
  if (Array.isArray(value)) return value.map((item, index) => substitute(item, [...path, index], env, envPaths, issues));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, [...path, key], env, envPaths, issues)]));
  }
  if (typeof value !== 'string' || !value.includes('${')) return value;
  let referenced = false;
  const result = value.replace(REFERENCE, (match, inner: string | undefined) => {
    if (match === '$${') return '${';
    referenced = true;
    if (!match.endsWith('}')) {
      issues.push({ path: formatPath(path), message: 'unterminated ${ reference (write $${ for a literal ${)' });
      return '';
    }
    const [name = '', fallback] = (inner ?? '').split(/:-(.*)/s, 2);
    if (!NAME.test(name)) {
      issues.push({ path: formatPath(path), message: `\${${inner}} is not a valid reference: expected \${NAME} or \${NAME:-default}` });
      return '';
    }
    const found = env[name];
    // As in the shell, ${NAME:-default} also covers a variable that is set but empty.
    if (found !== undefined && (found !== '' || fallback === undefined)) return found;
    if (fallback !== undefined) return fallback;
    issues.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
    return '';
  });
  if (referenced) envPaths.push(path);
  return result;
}

function applyOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const applied = new Map<string, string>();
  for (const { name, path: [section, key], integer } of OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const current = raw[section];
    const target = current !== null && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
    target[key] = integer && /^\d+$/.test(value) ? Number(value) : value;
    raw[section] = target;
    applied.set(formatPath([section, key]), name);
  }
  return applied;
}

function describeIssue(issue: z.core.$ZodIssue): Array<{ path: ReadonlyArray<PropertyKey>; message: string }> {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key (a typo? see config/tradewire.schema.json for the valid ones)' }));
  }
  const missing = /^Invalid input: expected (.+), received undefined$/.exec(issue.message);
  if (missing) return [{ path: issue.path, message: `missing: expected ${missing[1]}` }];
  return [{ path: issue.path, message: issue.message.replace(/^Invalid input: /, '') }];
}

/** Paths of secrets written in the file itself rather than taken from the environment. */
function literalSecretPaths(raw: unknown, path: ConfigPath, envPaths: ConfigPath[], found: ConfigPath[] = []): ConfigPath[] {
  if (raw === null || typeof raw !== 'object') return found;
  for (const [key, value] of Object.entries(raw)) {
    const at = [...path, key];
    if (SECRET_KEYS.has(key) && typeof value === 'string' && !envPaths.some((p) => formatPath(p) === formatPath(at))) {
      found.push(at);
    } else {
      literalSecretPaths(value, at, envPaths, found);
    }
  }
  return found;
}

const secretInFileMessage = (path: ConfigPath): string => `secrets belong in the environment (${String(path.at(-1))}: \${SOME_VARIABLE})`;

/** Parses and validates config text; `file` only names it in messages. Throws ConfigError. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const doc = parseDocument(text, { customTags: keepAsText, prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    // Only the first: the ones after it are mostly echoes of it.
    const at = first.linePos?.[0];
    const headline = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    const sourceLine = at ? (text.split('\n')[at.line - 1] ?? '') : '';
    const hint = /[{[].*\$\{|\$\{.*[}\]]/.test(sourceLine) ? ' (inside { } or [ ], quote a ${NAME} reference: "${NAME}")' : '';
    throw new ConfigError(file, [{ path: '', message: `${at ? `line ${at.line}, column ${at.col}: ` : ''}YAML syntax error: ${headline}${hint}` }]);
  }
  const parsed: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const issues: ConfigIssue[] = [];
  const envPaths: ConfigPath[] = [];
  const raw = substitute(parsed, [], env, envPaths, issues);
  if (issues.length > 0) throw new ConfigError(file, issues);

  const literalSecrets = literalSecretPaths(raw, [], envPaths);
  const warnings = literalSecrets.map((path) => `${formatPath(path)} is written in the file: ${secretInFileMessage(path)}`);
  const overridden = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? applyOverrides(raw as Record<string, unknown>, env) : new Map<string, string>();

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(file, result.error.issues.flatMap(describeIssue).map(({ path, message }) => {
      const at = formatPath(path);
      const from = overridden.get(at);
      return { path: at, message: from ? `${message} (from the environment variable ${from})` : message };
    }));
  }
  // A real-money account's keys come from the environment only: a file gets copied, committed and pasted.
  const liveAccounts = new Set(Object.entries(result.data.accounts).filter(([, account]) => isLiveAccount(account)).map(([name]) => name));
  const liveLiterals = literalSecrets.filter((path) => path[0] === 'accounts' && liveAccounts.has(String(path[1])));
  if (liveLiterals.length > 0) {
    throw new ConfigError(file, liveLiterals.map((path) => ({ path: formatPath(path), message: `written in the file of a live account: ${secretInFileMessage(path)}` })));
  }
  return { config: result.data, file, envPaths, warnings };
}

/** Reads the file (options.file, else $CONFIG_FILE, else config/tradewire.yaml) and validates it, with where each value came from. */
export async function loadConfigWithSources(options: LoadOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? (env.CONFIG_FILE || DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [{ path: '', message: code === 'ENOENT' ? 'no such file (set CONFIG_FILE or pass --config)' : `cannot read the file (${code ?? String(error)})` }]);
  }
  return parseConfigText(text, file, env);
}

/** The validated config. Throws ConfigError, whose message is ready to show the user. */
export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  return (await loadConfigWithSources(options)).config;
}
