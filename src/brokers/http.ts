// The shared HTTP core every broker adapter sends through: fetch at call time, timeouts, bodies, rate-limit headers and typed errors.
import { parse as parseLossless } from 'lossless-json';
import type { z } from 'zod';
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, NetworkError, OrderNotFoundError, OrderRejectedError,
  PermissionDeniedError, RateLimitError, TimeoutError,
} from '../domain/errors.ts';
import type { Logger } from '../ops/logger.ts';
import { endpointTemplate, threadMetrics, type TradewireMetrics } from '../ops/metrics.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A value that may go into a query string or a form body; `undefined` drops the field. Decimals go as their text. */
export type ParamValue = string | number | boolean | { toString(): string } | undefined;
export type Params = Readonly<Record<string, ParamValue>>;

/** A request as it goes on the wire, handed to `sign` last so a signature covers exactly what is sent. */
export interface PreparedRequest {
  method: HttpMethod;
  /** The full URL, query included. `sign` may add parameters (a timestamp, a signature). */
  url: URL;
  headers: Headers;
  body: string | undefined;
}

/** What a vendor's error mapper is told besides status, body and headers. */
export interface HttpErrorContext {
  broker: string;
  method: HttpMethod;
  /** The path with secret query values redacted: safe to put in a message. */
  path: string;
  requestId: string | undefined;
  /** Retry-After, parsed (seconds or an HTTP date), when the answer had one. */
  retryAfterMs: number | undefined;
  /** A best-effort read of the vendor's code and message (`code`, `msg`, `message`, `error`, `error_type`...). */
  code: string | number | undefined;
  vendorMessage: string | undefined;
}

/**
 * A vendor's own mapping of a failed answer onto the error tree. Return undefined to fall back to the
 * generic mapping by HTTP status. `body` is the parsed JSON when the answer was JSON, else its text.
 */
export type ErrorMapper = (status: number, body: unknown, headers: Headers, context: HttpErrorContext) => BrokerError | undefined;

export interface RateLimitSnapshot {
  at: Date;
  status: number;
  /** Every rate-limit header of the answer, names lower-cased (`x-ratelimit-remaining`, `x-mbx-used-weight-1m`). */
  headers: Readonly<Record<string, string>>;
  limit: number | undefined;
  remaining: number | undefined;
  retryAfterMs: number | undefined;
}

export interface HttpClientOptions {
  /** The broker's name, carried on every error and log line. */
  broker: string;
  /** Everything before the request's path: 'https://paper-api.alpaca.markets' or 'https://localhost:5000/v1/api'. */
  baseUrl: string;
  /** Resolved on every call, so msw (or any patch of globalThis.fetch) installed after construction still applies. */
  fetch?: (() => typeof globalThis.fetch) | undefined;
  clock?: (() => Date) | undefined;
  /** How long a call may take, body included, before it is aborted and raised as a TimeoutError. */
  timeoutMs: number;
  logger: Pick<Logger, 'debug' | 'trace'>;
  /** The last step before sending: auth headers, HMAC signatures, JWTs. */
  sign?: ((request: PreparedRequest) => PreparedRequest | Promise<PreparedRequest>) | undefined;
  mapError?: ErrorMapper | undefined;
  /** Header and query parameter names never logged, on top of the built-in list (case-insensitive). */
  redact?: readonly string[] | undefined;
  /** Response headers naming the vendor's request id; a trailing `*` matches a prefix. */
  requestIdHeaders?: readonly string[] | undefined;
  /** Response header prefixes kept as rate-limit state. */
  rateLimitHeaders?: readonly string[] | undefined;
  /**
   * Parse JSON numbers without a float: safe integers stay numbers, anything else arrives as its source
   * text (for vendors that send prices as JSON numbers: Kite, IBKR).
   */
  losslessNumbers?: boolean | undefined;
  /** Where calls are counted and timed (this thread's metrics unless given). */
  metrics?: TradewireMetrics | undefined;
}

export interface RequestOptions<S extends z.ZodType> {
  method: HttpMethod;
  /** Relative to the base URL: '/v2/orders'. */
  path: string;
  query?: Params | undefined;
  json?: unknown;
  form?: Params | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
  /** The answer's shape; an answer that does not match is a BrokerError, never a crash further in. */
  schema: S;
  timeoutMs?: number | undefined;
}

export interface HttpClient {
  request<S extends z.ZodType>(options: RequestOptions<S>): Promise<z.output<S>>;
  /** The rate-limit headers of the latest answer that carried any. */
  readonly lastRateLimit: RateLimitSnapshot | undefined;
}

/** Names whose values are secrets at every vendor; a name containing one of these words is redacted too. */
const SECRET_NAMES = [
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'signature', 'x-mbx-apikey', 'apca-api-key-id',
  'apca-api-secret-key', 'cb-access-key', 'cb-access-sign', 'cb-access-passphrase',
];
const SECRET_WORDS = ['secret', 'token', 'passphrase', 'password', 'signature', 'apikey', 'api_key', 'api-key', 'access_key'];
const DEFAULT_REQUEST_ID_HEADERS = ['x-request-id', 'request-id', 'x-mbx-uuid', 'x-amzn-requestid', 'cf-ray'];
const DEFAULT_RATE_LIMIT_HEADERS = ['x-ratelimit-', 'x-rate-limit-', 'ratelimit-', 'x-mbx-used-weight', 'x-mbx-order-count'];
const REDACTED = '[redacted]';

/** Parses Retry-After in either form, delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // Only an HTTP date (it names a weekday or month): Date.parse reads '-1' as the year 2001.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  return new FetchHttpClient(options);
}

class FetchHttpClient implements HttpClient {
  lastRateLimit: RateLimitSnapshot | undefined;

  private readonly broker: string;
  private readonly baseUrl: string;
  private readonly resolveFetch: () => typeof globalThis.fetch;
  private readonly clock: () => Date;
  private readonly timeoutMs: number;
  private readonly logger: Pick<Logger, 'debug' | 'trace'>;
  private readonly sign: HttpClientOptions['sign'];
  private readonly mapError: ErrorMapper | undefined;
  private readonly secretNames: ReadonlySet<string>;
  private readonly requestIdHeaders: readonly string[];
  private readonly rateLimitHeaders: readonly string[];
  private readonly losslessNumbers: boolean;
  private readonly metrics: TradewireMetrics;

  constructor(options: HttpClientOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`${options.broker}: timeoutMs must be positive, got ${options.timeoutMs}`);
    this.broker = options.broker;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.resolveFetch = options.fetch ?? (() => globalThis.fetch);
    this.clock = options.clock ?? (() => new Date());
    this.timeoutMs = options.timeoutMs;
    this.logger = options.logger;
    this.sign = options.sign;
    this.mapError = options.mapError;
    this.secretNames = new Set([...SECRET_NAMES, ...(options.redact ?? [])].map((n) => n.toLowerCase()));
    this.requestIdHeaders = (options.requestIdHeaders ?? DEFAULT_REQUEST_ID_HEADERS).map((n) => n.toLowerCase());
    this.rateLimitHeaders = (options.rateLimitHeaders ?? DEFAULT_RATE_LIMIT_HEADERS).map((n) => n.toLowerCase());
    this.losslessNumbers = options.losslessNumbers === true;
    this.metrics = options.metrics ?? threadMetrics();
  }

  async request<S extends z.ZodType>(options: RequestOptions<S>): Promise<z.output<S>> {
    const started = performance.now();
    try {
      const answer = await this.send(options);
      this.count(options, started, 'ok');
      return answer;
    } catch (error) {
      this.count(options, started, 'error');
      this.metrics.brokerErrors.inc({ broker: this.broker, kind: error instanceof BrokerError ? error.kind : 'internal' });
      throw error;
    }
  }

  private count(options: RequestOptions<z.ZodType>, started: number, outcome: 'ok' | 'error'): void {
    const labels = { broker: this.broker, endpoint: `${options.method} ${endpointTemplate(options.path)}`, outcome };
    this.metrics.brokerRequests.inc(labels);
    this.metrics.brokerSeconds.observe(labels, (performance.now() - started) / 1000);
  }

  private async send<S extends z.ZodType>(options: RequestOptions<S>): Promise<z.output<S>> {
    const prepared = await this.prepare(options);
    const method = prepared.method;
    // The signed URL is what went out; the logged one hides every secret parameter, the signature included.
    const path = this.loggablePath(prepared.url);
    const started = this.clock();
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const base = { event: 'broker.http', broker: this.broker, method, path };
    this.logger.trace({ ...base, headers: this.loggableHeaders(prepared.headers) }, 'broker.http.request');

    let response: Response;
    let text: string;
    try {
      // Resolved here, per call: msw or a test's stub may have replaced globalThis.fetch since construction.
      const fetchNow = this.resolveFetch();
      response = await fetchNow(prepared.url, { method, headers: prepared.headers, body: prepared.body, signal: controller.signal });
      text = await response.text();
    } catch (error) {
      const failure = this.transportError(error, controller.signal.aborted, method, path, timeoutMs);
      this.logger.debug({ ...base, durationMs: this.since(started), error: failure.kind }, 'broker.http');
      throw failure;
    } finally {
      clearTimeout(timer);
    }

    const requestId = this.requestIdOf(response.headers);
    this.recordRateLimit(response);
    const durationMs = this.since(started);
    const body = this.parseBody(text, response.headers);

    if (!response.ok) {
      const failure = this.statusError(response.status, body.value, response.headers, method, path, requestId);
      this.logger.debug({
        ...base, status: response.status, durationMs, requestId, error: failure.kind, code: failure.code, vendorMessage: failure.vendorMessage,
      }, 'broker.http');
      throw failure;
    }
    this.logger.debug({ ...base, status: response.status, durationMs, requestId }, 'broker.http');

    if (!body.ok) {
      throw new BrokerError(`${this.broker} ${method} ${path}: the answer (status ${response.status}) is not JSON`, {
        broker: this.broker, requestId, vendorMessage: text.slice(0, 200),
      });
    }
    const parsed = options.schema.safeParse(body.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
      throw new BrokerError(`${this.broker} ${method} ${path}: unexpected answer (status ${response.status}): ${issues.join('; ')}`, {
        broker: this.broker, requestId, cause: parsed.error,
      });
    }
    return parsed.data;
  }

  private async prepare(options: RequestOptions<z.ZodType>): Promise<PreparedRequest> {
    if (options.json !== undefined && options.form !== undefined) {
      throw new TypeError(`${this.broker} ${options.method} ${options.path}: a request has a JSON body or a form body, not both`);
    }
    const url = new URL(`${this.baseUrl}/${options.path.replace(/^\/+/, '')}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.append(name, String(value));
    }
    const headers = new Headers({ accept: 'application/json' });
    let body: string | undefined;
    if (options.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(options.json);
    } else if (options.form !== undefined) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = formBody(options.form);
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
    const prepared: PreparedRequest = { method: options.method, url, headers, body };
    return this.sign ? this.sign(prepared) : prepared;
  }

  private statusError(status: number, body: unknown, headers: Headers, method: HttpMethod, path: string, requestId: string | undefined): BrokerError {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'), this.clock());
    const { code, vendorMessage } = vendorFields(body);
    const context: HttpErrorContext = { broker: this.broker, method, path, requestId, retryAfterMs, code, vendorMessage };
    const mapped = this.mapError?.(status, body, headers, context);
    if (mapped) return mapped;

    const details = { broker: this.broker, code, vendorMessage, requestId };
    const message = `${this.broker} ${method} ${path} answered ${status}${vendorMessage ? `: ${vendorMessage}` : ''}`;
    if (status === 401) return new AuthenticationError(message, details);
    if (status === 403) return new PermissionDeniedError(message, details);
    if (status === 404) return new OrderNotFoundError(message, details);
    // The request may have been carried out: the caller looks the order up by its client id.
    if (status === 408 || status === 504) return new TimeoutError(message, details);
    if (status === 429 || status === 418) return new RateLimitError(message, { ...details, retryAfterMs });
    // A 5xx says nothing about whether the request was carried out: BrokerUnavailableError has an unknown outcome.
    if (status >= 500) return new BrokerUnavailableError(message, details);
    if (status === 400 || status === 409 || status === 422) return new OrderRejectedError(message, details);
    return new BrokerError(message, details);
  }

  private transportError(error: unknown, aborted: boolean, method: HttpMethod, path: string, timeoutMs: number): BrokerError {
    if (error instanceof BrokerError) return error;
    const name = error instanceof Error ? error.name : '';
    if (aborted || name === 'AbortError' || name === 'TimeoutError') {
      return new TimeoutError(`${this.broker} ${method} ${path}: no answer within ${timeoutMs} ms (the outcome is unknown)`, { broker: this.broker, cause: error });
    }
    const reason = describeCause(error);
    // Only a failure that happened before a connection existed proves the venue never saw the request.
    const sent = !NOT_SENT_CODES.has(causeCode(error) ?? '');
    return new NetworkError(`${this.broker} ${method} ${path}: network failure${reason ? ` (${reason})` : ''}${sent ? ' (the outcome is unknown)' : ''}`,
      { broker: this.broker, cause: error, sent });
  }

  private parseBody(text: string, headers: Headers): { ok: true; value: unknown } | { ok: false; value: string } {
    if (text.trim() === '') return { ok: true, value: undefined };
    const type = headers.get('content-type') ?? '';
    const looksJson = type.includes('json') || /^\s*[[{]/.test(text);
    if (!looksJson) return { ok: false, value: text };
    try {
      return { ok: true, value: this.losslessNumbers ? parseLossless(text, null, exactNumber) : JSON.parse(text) };
    } catch {
      return { ok: false, value: text };
    }
  }

  private recordRateLimit(response: Response): void {
    const kept: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      const lower = name.toLowerCase();
      if (lower === 'retry-after' || this.rateLimitHeaders.some((prefix) => lower.startsWith(prefix))) kept[lower] = value;
    });
    if (Object.keys(kept).length === 0) return;
    // The same two numbers go by three spellings across vendors.
    const number = (field: 'limit' | 'remaining'): number | undefined => {
      const value = kept[`x-ratelimit-${field}`] ?? kept[`x-rate-limit-${field}`] ?? kept[`ratelimit-${field}`];
      if (value === undefined || value.trim() === '') return undefined;
      const n = Number(value);
      return Number.isFinite(n) ? n : undefined;
    };
    const at = this.clock();
    this.lastRateLimit = {
      at,
      status: response.status,
      headers: kept,
      limit: number('limit'),
      remaining: number('remaining'),
      retryAfterMs: parseRetryAfter(kept['retry-after'], at),
    };
  }

  private requestIdOf(headers: Headers): string | undefined {
    for (const wanted of this.requestIdHeaders) {
      if (wanted.endsWith('*')) {
        const prefix = wanted.slice(0, -1);
        let found: string | undefined;
        headers.forEach((value, name) => { if (found === undefined && name.toLowerCase().startsWith(prefix)) found = value; });
        if (found !== undefined) return found;
      } else {
        const value = headers.get(wanted);
        if (value !== null) return value;
      }
    }
    return undefined;
  }

  private isSecret(name: string): boolean {
    const lower = name.toLowerCase();
    return this.secretNames.has(lower) || SECRET_WORDS.some((word) => lower.includes(word));
  }

  private loggablePath(url: URL): string {
    const base = new URL(this.baseUrl);
    const prefix = base.pathname.replace(/\/+$/, '');
    const pathname = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) || '/' : url.pathname;
    if (url.search === '') return pathname;
    const shown = [...url.searchParams.entries()].map(([name, value]) =>
      `${encodeURIComponent(name)}=${this.isSecret(name) ? REDACTED : encodeURIComponent(value)}`);
    return `${pathname}?${shown.join('&')}`;
  }

  private loggableHeaders(headers: Headers): Record<string, string> {
    const shown: Record<string, string> = {};
    headers.forEach((value, name) => { shown[name] = this.isSecret(name) ? REDACTED : value; });
    return shown;
  }

  private since(started: Date): number {
    return this.clock().getTime() - started.getTime();
  }
}

function formBody(form: Params): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) {
    if (value !== undefined) params.append(name, String(value));
  }
  return params.toString();
}

/** Safe integers as numbers (error codes, counts); every other number as its exact source text. */
function exactNumber(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) && /^-?\d+$/.test(text) ? n : text;
}

/** The vendor's code and message, wherever the common wire formats put them. */
function vendorFields(body: unknown): { code: string | number | undefined; vendorMessage: string | undefined } {
  if (typeof body === 'string') return { code: undefined, vendorMessage: body.trim().slice(0, 500) || undefined };
  if (body === null || typeof body !== 'object') return { code: undefined, vendorMessage: undefined };
  const record = body as Record<string, unknown>;
  const nested = typeof record.error_response === 'object' && record.error_response !== null ? record.error_response as Record<string, unknown> : undefined;
  const pick = (...values: unknown[]): unknown => values.find((v) => typeof v === 'string' || typeof v === 'number');
  const code = pick(record.code, record.error_code, record.error_type, nested?.error, typeof record.error === 'string' && (record.message ?? record.msg) !== undefined ? record.error : undefined);
  const message = pick(record.message, record.msg, record.error_description, nested?.message, record.error, record.detail);
  return {
    code: code as string | number | undefined,
    vendorMessage: message === undefined ? undefined : String(message),
  };
}

/** Connection errors raised before any byte of the request left: the venue cannot have acted on it. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function causeCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const cause = (error as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function describeCause(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return causeCode(error) ?? (error.message || undefined);
}
