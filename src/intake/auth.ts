// Webhook authentication: the passphrase in the body, the token in the URL, or an HMAC of the raw body; all timing-safe.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Compares two secrets in constant time, whatever their lengths (both are hashed to 32 bytes first). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Checks `X-Tradewire-Signature: sha256=<hex>` against the HMAC-SHA256 of the raw body keyed with the secret. */
export function signatureValid(header: string, rawBody: Buffer, secret: string): boolean {
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match?.[1]) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(Buffer.from(match[1], 'hex'), expected);
}

export interface Credentials {
  bodyPassphrase?: string | undefined;
  pathToken?: string | undefined;
  signature?: string | undefined;
  rawBody: Buffer;
}

/** True when any credential the request carries matches the secret. */
export function authenticate(credentials: Credentials, secret: string): boolean {
  let ok = false;
  // Evaluate every present credential, so the time taken does not say which one was tried.
  if (credentials.bodyPassphrase !== undefined) ok = secretsEqual(credentials.bodyPassphrase, secret) || ok;
  if (credentials.pathToken !== undefined) ok = secretsEqual(credentials.pathToken, secret) || ok;
  if (credentials.signature !== undefined) ok = signatureValid(credentials.signature, credentials.rawBody, secret) || ok;
  return ok;
}
