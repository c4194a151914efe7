// The admin token check for /api and /dashboard (Bearer, or Basic for reads so a browser can ask), its failure limit, and the cross-site guard of actions.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { AuthFailureLog } from '../intake/auth-log.ts';
import { MinuteCounter } from '../intake/limits.ts';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time token comparison: both sides are hashed to the same length first, so neither length nor content leaks. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token a request presents: `Bearer <token>`, or Basic credentials whose password is the token (any user name). */
export function presentedToken(authorization: string | undefined): string | undefined {
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  if (bearer?.[1]) return bearer[1];
  const basic = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization ?? '');
  if (!basic?.[1]) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

export interface TokenGuardOptions {
  /** The challenge of a 401: `Basic` makes a browser prompt for the token (the dashboard); scripts get `Bearer`. */
  challenge?: 'Bearer' | 'Basic';
  /** Failed attempts a source may make a minute before every request from it is answered 429 until the minute ends. */
  failuresPerMinute?: () => number;
  /** Where failed attempts are logged (the first few per source and minute, then a count). */
  failureLog?: AuthFailureLog | undefined;
  now?: () => Date;
}

/** Failed admin logins a source may make a minute when the config does not say (server.adminFailedAuthPerMinute). */
export const DEFAULT_ADMIN_FAILURES_PER_MINUTE = 10;

/**
 * Refuses a request without the admin token: 403 when no token is configured (the admin side is off), 401 with a
 * challenge otherwise, and 429 for the rest of the minute once a source has failed too often. Past the limit the token
 * is not compared at all, so a guess that happens to be right is not told apart from a wrong one.
 */
export function requireToken(token: string | undefined, options: TokenGuardOptions = {}) {
  const challenge = options.challenge ?? 'Bearer';
  const now = options.now ?? (() => new Date());
  const failures = new MinuteCounter();
  return (req: Request, res: Response, next: NextFunction): void => {
    if (token === undefined || token === '') {
      res.status(403).json({ error: 'admin_disabled', message: 'the admin API is off: set ADMIN_TOKEN (or server.adminToken in the config) and restart tradewire' });
      return;
    }
    const at = now();
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const limit = options.failuresPerMinute?.() ?? DEFAULT_ADMIN_FAILURES_PER_MINUTE;
    if (failures.get(source, at) >= limit) {
      res.set('Retry-After', String(60 - at.getUTCSeconds())).status(429).json({ error: 'rate_limited' });
      return;
    }
    const given = presentedToken(req.get('authorization'));
    if (given === undefined || !tokenMatches(given, token)) {
      const count = failures.add(source, at);
      options.failureLog?.record(source, at, { failures: count, path: req.baseUrl });
      res.set('WWW-Authenticate', `${challenge} realm="tradewire"${challenge === 'Basic' ? ', charset="UTF-8"' : ''}`).status(401).json({ error: 'unauthorized' });
      return;
    }
    next();
  };
}

/** The methods that only read: every other one changes state and passes `requireSameOriginJson`. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether the request's Origin (when it sends one) is this server itself, as the browser reached it. */
function sameOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.get('origin');
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // 'null' (a sandboxed page, a file) or garbage
  }
  return host !== '' && (host === req.get('host') || host === req.host);
}

/**
 * Guards the state-changing admin routes against cross-site requests: the bearer token only (a browser resends Basic
 * credentials to any page's form by itself; it never adds an Authorization: Bearer header), application/json only (a
 * form can post urlencoded, multipart or text/plain, never JSON without a preflight), and no foreign Origin.
 * Reads (GET) pass untouched: a browser may fetch a page with Basic credentials.
 */
export function requireSameOriginJson() {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    if (!sameOrigin(req)) {
      res.status(403).json({ error: 'foreign_origin', message: 'admin actions are taken from this server\'s own pages or from scripts, never from another site' });
      return;
    }
    if (!/^Bearer[ \t]/i.test(req.get('authorization') ?? '')) {
      res.set('WWW-Authenticate', 'Bearer realm="tradewire"').status(401)
        .json({ error: 'bearer_required', message: 'admin actions take the token as Authorization: Bearer <token>' });
      return;
    }
    if (!req.is('application/json')) {
      res.status(415).json({ error: 'unsupported_media_type', message: 'admin actions take a JSON body: Content-Type: application/json ({} when there is nothing to say)' });
      return;
    }
    next();
  };
}
