// Binance request signing: timestamp and recvWindow added to the query, then HMAC-SHA256 over exactly what is sent.
import { createHmac } from 'node:crypto';
import type { PreparedRequest } from '../http.ts';

/** HEX(HMAC_SHA256(secret, totalParams)), totalParams being the query string followed by the body. */
export function signature(secret: string, totalParams: string): string {
  return createHmac('sha256', secret).update(totalParams).digest('hex');
}

export interface SignerOptions {
  apiKey: string;
  apiSecret: string;
  /** Milliseconds the request stays valid at the exchange (Binance's default 5000, at most 60000). */
  recvWindowMs: number;
  /** The exchange's clock, not ours: a skewed local clock is what -1021 complains about. */
  serverNow: () => number;
}

/**
 * The HTTP core's `sign` hook for SIGNED endpoints. Every parameter travels in the query string, as the
 * official connector sends them, so the signature covers the exact bytes on the wire (URL-encoded as sent).
 */
export function binanceSigner(options: SignerOptions): (request: PreparedRequest) => PreparedRequest {
  return (request) => {
    const url = new URL(request.url);
    url.searchParams.delete('signature');
    url.searchParams.set('recvWindow', String(options.recvWindowMs));
    url.searchParams.set('timestamp', String(Math.round(options.serverNow())));
    const totalParams = url.search.slice(1) + (request.body ?? '');
    url.searchParams.append('signature', signature(options.apiSecret, totalParams));
    const headers = new Headers(request.headers);
    headers.set('X-MBX-APIKEY', options.apiKey);
    return { ...request, url, headers };
  };
}

/**
 * The offset between the exchange's clock and ours, from GET /fapi/v1/time. The request's midpoint stands
 * for the moment the server read its clock, which halves the error a slow round trip would add.
 */
export class ServerClock {
  private offsetMs = 0;

  constructor(private readonly localNow: () => number) {}

  now(): number {
    return this.localNow() + this.offsetMs;
  }

  get offset(): number {
    return this.offsetMs;
  }

  async sync(fetchServerTime: () => Promise<number>): Promise<number> {
    const sent = this.localNow();
    const serverTime = await fetchServerTime();
    const received = this.localNow();
    this.offsetMs = serverTime - Math.round((sent + received) / 2);
    return this.offsetMs;
  }
}
