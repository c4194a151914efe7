// The admin token check for /api and /dashboard: a Bearer token, or HTTP Basic with the token as the password (so a browser can ask for it).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

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

/**
 * Refuses a request without the admin token: 403 when no token is configured (the admin side is off), 401 with a
 * challenge otherwise. `Basic` makes a browser prompt for it (the dashboard); scripts get `Bearer`.
 */
export function requireToken(token: string | undefined, challenge: 'Bearer' | 'Basic' = 'Bearer') {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (token === undefined || token === '') {
      res.status(403).json({ error: 'admin_disabled', message: 'the admin API is off: set ADMIN_TOKEN (or server.adminToken in the config) and restart tradewire' });
      return;
    }
    const given = presentedToken(req.get('authorization'));
    if (given === undefined || !tokenMatches(given, token)) {
      res.set('WWW-Authenticate', `${challenge} realm="tradewire"${challenge === 'Basic' ? ', charset="UTF-8"' : ''}`).status(401).json({ error: 'unauthorized' });
      return;
    }
    next();
  };
}
