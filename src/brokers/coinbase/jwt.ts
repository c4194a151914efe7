// Coinbase CDP request authentication: a fresh ES256 JWT per request, bound to its method, host and path.
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { PreparedRequest } from '../http.ts';
import { AuthenticationError } from '../../domain/errors.ts';

/** Coinbase refuses a token whose nbf..exp window is longer than this. */
export const JWT_LIFETIME_SECONDS = 120;

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * The CDP private key as a KeyObject. Environments often carry a PEM on one line with literal `\n`s, so those are
 * turned back into line breaks. Only EC P-256 keys sign ES256; anything else is refused here, before any request,
 * with a message that never repeats the key.
 */
export function parseCdpPrivateKey(pem: string, account: string): KeyObject {
  const text = pem.includes('\\n') ? pem.replace(/\\n/g, '\n') : pem;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text.trim(), format: 'pem' });
  } catch {
    throw new AuthenticationError(`coinbase account '${account}': privateKey is not a PEM private key (expected the CDP key's "-----BEGIN EC PRIVATE KEY-----" block)`, { broker: 'coinbase' });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AuthenticationError(`coinbase account '${account}': privateKey must be an ECDSA P-256 (ES256) CDP key, not ${key.asymmetricKeyType ?? 'unknown'}`, { broker: 'coinbase' });
  }
  return key;
}

export interface JwtClaims {
  iss: 'cdp';
  sub: string;
  nbf: number;
  exp: number;
  uri: string;
}

/** One signed token for one request: `uri` is "METHOD host/path", the query string left out as Coinbase expects. */
export function cdpJwt(keyName: string, key: KeyObject, method: string, url: URL, nowSeconds: number): string {
  const header = { alg: 'ES256', kid: keyName, nonce: randomBytes(16).toString('hex'), typ: 'JWT' };
  const claims: JwtClaims = { iss: 'cdp', sub: keyName, nbf: nowSeconds, exp: nowSeconds + JWT_LIFETIME_SECONDS, uri: `${method} ${url.host}${url.pathname}` };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  // JWS wants the raw r||s pair (64 bytes), not node's default DER encoding.
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url(signature)}`;
}

/** The HTTP core's `sign` hook: a new token on every call (a retried request gets its own). */
export function cdpSigner(keyName: string, key: KeyObject, now: () => Date): (request: PreparedRequest) => PreparedRequest {
  return (request) => {
    const headers = new Headers(request.headers);
    headers.set('authorization', `Bearer ${cdpJwt(keyName, key, request.method, request.url, Math.floor(now().getTime() / 1000))}`);
    return { ...request, headers };
  };
}
