// A printable copy of the config: every secret replaced by a mask that shows nothing of it, decimals as text.
import { Decimal } from '../domain/money.ts';

export const MASK = '********';

// Matched case-insensitively against the key, so a new broker's `apiPassword` is masked without a change here.
const SECRET_KEY = /passphrase|password|secret|token|apikey|keyid|keyname|privatekey|credential|webhookurl/i;

type Path = ReadonlyArray<string | number>;

function maskUrlPassword(text: string): string {
  // redis://user:password@host: the password is a secret even though the key (url) is not.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]+@/i, `$1${MASK}@`);
}

function copy(value: unknown, path: Path, envPaths: Set<string>): unknown {
  if (value === undefined) return undefined;
  const key = path[path.length - 1];
  const secret = (typeof key === 'string' && SECRET_KEY.test(key)) || envPaths.has(JSON.stringify(path));
  if (secret && (typeof value === 'string' || typeof value === 'number')) return MASK;
  if (Decimal.isDecimal(value)) return (value as Decimal).toString();
  if (Array.isArray(value)) return value.map((item, index) => copy(item, [...path, index], envPaths));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const masked = copy(v, [...path, k], envPaths);
      if (masked !== undefined) out[k] = masked;
    }
    return out;
  }
  return typeof value === 'string' ? maskUrlPassword(value) : value;
}

/**
 * A deep copy of the config for printing. Secrets are found by key name and, when given, by the paths whose
 * value came from a ${NAME} reference; an unset secret stays absent, which tells the reader it is unset.
 */
export function maskSecrets<T extends object>(config: T, options: { envPaths?: Iterable<Path> } = {}): Record<string, unknown> {
  const envPaths = new Set([...(options.envPaths ?? [])].map((path) => JSON.stringify(path)));
  return copy(config, [], envPaths) as Record<string, unknown>;
}
