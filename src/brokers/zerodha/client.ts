// The Kite Connect v3 client: the token header on every call, form bodies, lossless numbers, and the instruments CSV.
import type { z } from 'zod';
import { BrokerError, NetworkError, TimeoutError } from '../../domain/errors.ts';
import type { Logger } from '../../ops/logger.ts';
import { createHttpClient, type HttpClient, type RequestOptions } from '../http.ts';
import { BROKER, createKiteErrorMapper } from './errors.ts';

export const KITE_BASE_URL = 'https://api.kite.trade';
const DEFAULT_TIMEOUT_MS = 7_000;

export interface KiteClientOptions {
  apiKey: string;
  accessToken: string;
  baseUrl?: string | undefined;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  fetch?: (() => typeof globalThis.fetch) | undefined;
  logger: Pick<Logger, 'debug' | 'trace'>;
}

export class KiteClient {
  private readonly http: HttpClient;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly resolveFetch: () => typeof globalThis.fetch;
  private readonly mapError: ReturnType<typeof createKiteErrorMapper>;

  constructor(private readonly options: KiteClientOptions) {
    this.baseUrl = (options.baseUrl ?? KITE_BASE_URL).replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.resolveFetch = options.fetch ?? (() => globalThis.fetch);
    this.mapError = createKiteErrorMapper(options.apiKey);
    this.http = createHttpClient({
      broker: BROKER,
      baseUrl: this.baseUrl,
      fetch: options.fetch,
      clock: options.clock,
      timeoutMs: this.timeoutMs,
      logger: options.logger,
      // Kite sends prices as JSON numbers (1500.5): read them as their text, never as a double.
      losslessNumbers: true,
      sign: (request) => {
        for (const [name, value] of Object.entries(this.authHeaders())) request.headers.set(name, value);
        return request;
      },
      mapError: this.mapError,
    });
  }

  request<S extends z.ZodType>(options: RequestOptions<S>): Promise<z.output<S>> {
    return this.http.request(options);
  }

  /**
   * GET /instruments/{exchange}: a CSV (gzip on the wire, which fetch undoes), not JSON, so it is read here rather than
   * through the JSON core; failures map onto the same error tree.
   */
  async instrumentsCsv(exchange: string): Promise<string> {
    const path = `/instruments/${encodeURIComponent(exchange)}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs * 4);
    let response: Response;
    let text: string;
    try {
      response = await this.resolveFetch()(`${this.baseUrl}${path}`, { method: 'GET', headers: this.authHeaders(), signal: controller.signal });
      text = await response.text();
    } catch (error) {
      if (controller.signal.aborted) throw new TimeoutError(`${BROKER} GET ${path}: no answer in time`, { broker: BROKER, cause: error });
      throw new NetworkError(`${BROKER} GET ${path}: network failure`, { broker: BROKER, cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      let body: unknown = text;
      try { body = JSON.parse(text); } catch { /* not JSON: the text is the message */ }
      const record = typeof body === 'object' && body !== null ? body as Record<string, unknown> : {};
      const vendorMessage = typeof record.message === 'string' ? record.message : text.slice(0, 200);
      const mapped = this.mapError(response.status, body, response.headers, {
        broker: BROKER, method: 'GET', path, requestId: undefined, retryAfterMs: undefined,
        code: typeof record.error_type === 'string' ? record.error_type : undefined, vendorMessage,
      });
      throw mapped ?? new BrokerError(`${BROKER} GET ${path} answered ${response.status}`, { broker: BROKER, vendorMessage });
    }
    return text;
  }

  private authHeaders(): Record<string, string> {
    return { 'X-Kite-Version': '3', Authorization: `token ${this.options.apiKey}:${this.options.accessToken}` };
  }
}

/** Kite's timestamps are Indian time without a zone ('2026-12-04 10:15:02'); IST has no daylight saving. */
export function parseKiteTime(text: string | null | undefined): Date | undefined {
  if (!text) return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(text.trim());
  if (!match) return undefined;
  const at = new Date(`${match[1]}T${match[2]}+05:30`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The inverse, for the fake and for tests: a Date as Kite writes it. */
export function formatKiteTime(at: Date): string {
  const ist = new Date(at.getTime() + 5.5 * 3600_000);
  return ist.toISOString().slice(0, 19).replace('T', ' ');
}
