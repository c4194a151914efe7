// A stable fingerprint of an alert's content (secret already removed) for the identical-content dedupe window.
import { createHash } from 'node:crypto';
import { isLosslessNumber } from 'lossless-json';

/** JSON with object keys sorted at every depth, so the same content always gives the same text. */
export function stableStringify(value: unknown): string {
  if (isLosslessNumber(value)) return JSON.stringify(value.value);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : stableStringify(item))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  // Numbers are hashed as text, like the numeric strings they are interchangeable with in an alert.
  if (typeof value === 'number') return JSON.stringify(String(value));
  return JSON.stringify(value) ?? 'null';
}

/**
 * sha256 (hex) of the payload's stable JSON. Pass the payload with its secret already stripped
 * (parseAlert's rawPayload): two alerts differing only in passphrase are the same content. The
 * strategy from the URL is not in the payload: scope the dedupe key by strategy as well.
 */
export function contentHash(rawPayload: Record<string, unknown>): string {
  return hashOfStableText(stableStringify(rawPayload));
}

/** contentHash for a payload already written as its stable JSON (stableStringify): the same hash, one serialization less. */
export function hashOfStableText(stableText: string): string {
  return createHash('sha256').update(stableText).digest('hex');
}
