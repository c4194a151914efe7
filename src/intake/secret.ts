// The alert's shared secret: read before anything else is checked, and removed from everything that is kept.
import { isLosslessNumber } from 'lossless-json';
import { isPlainObject } from './field-readers.ts';
import { nearMissOf } from './near-miss.ts';

const SECRET_FIELD = 'passphrase';

/**
 * The body's `passphrase`, when it is text (or a number, kept as its text). Authentication runs on this
 * before the alert is validated, so that a request failing it learns nothing about its other fields.
 */
export function extractPassphrase(body: unknown): string | undefined {
  if (!isPlainObject(body) || !Object.hasOwn(body, SECRET_FIELD)) return undefined;
  const value = body[SECRET_FIELD];
  if (typeof value === 'string') return value;
  if (isLosslessNumber(value)) return value.value;
  return undefined;
}

/** Numbers as their source text, so what is kept (and hashed) never went through a float. */
function toTextNumbers(value: unknown): unknown {
  if (isLosslessNumber(value)) return value.value;
  if (Array.isArray(value)) return value.map(toTextNumbers);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toTextNumbers(v)]));
  return value;
}

/**
 * The body without its secret, numbers as text: what the journal keeps and the content hash covers.
 * A misspelt `Passphrase` or `passphrse` is dropped too: it holds the secret just the same.
 */
export function stripSecret(body: Record<string, unknown>): Record<string, unknown> {
  // Object.fromEntries defines own properties, so a `__proto__` key stays a plain key here.
  return Object.fromEntries(
    Object.entries(body)
      .filter(([key]) => key !== SECRET_FIELD && nearMissOf(key, [SECRET_FIELD]) === undefined)
      .map(([key, value]) => [key, toTextNumbers(value)]),
  );
}
