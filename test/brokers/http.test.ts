// The shared broker HTTP core against msw: bodies, lossless numbers, timeouts, the error tree, Retry-After, rate limits, secrets.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { http, HttpResponse, delay } from 'msw';
import { z } from 'zod';
import { createHttpClient, parseRetryAfter } from '../../src/brokers/http.ts';
import type { HttpClientOptions, HttpErrorContext } from '../../src/brokers/http.ts';
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, InsufficientFundsError, NetworkError, OrderNotFoundError,
  mayHaveReachedVenue, OrderRejectedError, PermissionDeniedError, RateLimitError, TimeoutError,
} from '../../src/domain/errors.ts';
import { Decimal } from '../../src/domain/money.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { useMswServer } from '../helpers/msw.ts';

const BASE = 'https://api.broker.test';
const KEY_ID = 'KEYID-VISIBLE-ONLY-TO-BROKER-7f3a';
const SECRET = 'SECRET-NEVER-LOGGED-91c2e0';
const server = useMswServer();

function logCapture(): { lines: string[]; logger: HttpClientOptions['logger'] } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'trace', destination: { write: (line: string) => { lines.push(line); } } }) };
}

function client(options: Partial<HttpClientOptions> = {}) {
  return createHttpClient({ broker: 'testbroker', baseUrl: BASE, timeoutMs: 1_000, logger: logCapture().logger, ...options });
}

// Built before msw starts listening: it must still be intercepted, because fetch is looked up on each call.
const earlyClient = client();

const anything = z.unknown();

async function failure(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(error)}`);
  return error;
}

describe('requests and answers', () => {
  it('finds the fetch msw installed even when the client was built before msw listened', async () => {
    server.use(http.get(`${BASE}/v2/clock`, () => HttpResponse.json({ is_open: true })));
    await expect(earlyClient.request({ method: 'GET', path: '/v2/clock', schema: z.object({ is_open: z.boolean() }) })).resolves.toEqual({ is_open: true });
  });

  it('sends query parameters (decimals as their exact text, undefined ones dropped) under the base URL path', async () => {
    let seen: URL | undefined;
    server.use(http.get('https://gw.test/v1/api/orders', ({ request }) => { seen = new URL(request.url); return HttpResponse.json([]); }));
    const c = client({ baseUrl: 'https://gw.test/v1/api/' });
    await c.request({ method: 'GET', path: 'orders', query: { symbol: 'AAPL', price: new Decimal('0.10000000000000000001'), limit: 500, skip: undefined, nested: true }, schema: anything });
    expect(seen?.searchParams.get('price')).toBe('0.10000000000000000001');
    expect(seen?.searchParams.get('limit')).toBe('500');
    expect(seen?.searchParams.get('nested')).toBe('true');
    expect(seen?.searchParams.has('skip')).toBe(false);
  });

  it('sends a JSON body with its content type, decimals as strings', async () => {
    let contentType: string | null = null;
    let body = '';
    server.use(http.post(`${BASE}/v2/orders`, async ({ request }) => {
      contentType = request.headers.get('content-type');
      body = await request.text();
      return HttpResponse.json({ id: 'o-1' });
    }));
    await client().request({ method: 'POST', path: '/v2/orders', json: { symbol: 'AAPL', qty: new Decimal('1.50') }, schema: z.object({ id: z.string() }) });
    expect(contentType).toBe('application/json');
    expect(JSON.parse(body)).toEqual({ symbol: 'AAPL', qty: '1.5' });
  });

  it('sends a form body url-encoded, undefined fields dropped', async () => {
    let contentType: string | null = null;
    let body = '';
    server.use(http.post(`${BASE}/orders/regular`, async ({ request }) => {
      contentType = request.headers.get('content-type');
      body = await request.text();
      return HttpResponse.json({ status: 'success' });
    }));
    await client().request({ method: 'POST', path: '/orders/regular', form: { tradingsymbol: 'INFY', price: new Decimal('1500.05'), tag: 'a b&c', trigger: undefined }, schema: anything });
    expect(contentType).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(body))).toEqual({ tradingsymbol: 'INFY', price: '1500.05', tag: 'a b&c' });
  });

  it('refuses a request with both a JSON and a form body, before sending anything', async () => {
    let calls = 0;
    server.use(http.post(`${BASE}/x`, () => { calls++; return HttpResponse.json({}); }));
    await expect(client().request({ method: 'POST', path: '/x', json: {}, form: { a: '1' }, schema: anything })).rejects.toThrow(/not both/);
    expect(calls).toBe(0);
  });

  it('keeps JSON numbers exact when asked: fractions and big integers as their source text, safe integers as numbers', async () => {
    server.use(http.get(`${BASE}/quote`, () => new HttpResponse('{"last_price":0.12345678901234567891,"volume":12,"oi":123456789012345678901,"ts":"x"}',
      { headers: { 'content-type': 'application/json' } })));
    const lossless = client({ losslessNumbers: true });
    const quote = await lossless.request({ method: 'GET', path: '/quote', schema: z.object({ last_price: z.string(), volume: z.number(), oi: z.string() }) });
    expect(quote).toEqual({ last_price: '0.12345678901234567891', volume: 12, oi: '123456789012345678901' });
    expect(new Decimal(quote.last_price).toFixed()).toBe('0.12345678901234567891');
    // The same answer through plain JSON.parse has already lost digits: the reason the option exists.
    const plain = await client().request({ method: 'GET', path: '/quote', schema: z.object({ last_price: z.number() }) });
    expect(String(plain.last_price)).not.toBe('0.12345678901234567891');
  });

  it('an answer that does not match its schema is a BrokerError naming the field, never a crash further in', async () => {
    server.use(http.get(`${BASE}/v2/account`, () => HttpResponse.json({ cash: 12 }, { headers: { 'x-request-id': 'req-schema-1' } })));
    const error = await failure(client().request({ method: 'GET', path: '/v2/account', schema: z.object({ cash: z.string() }) }));
    expect(error.constructor).toBe(BrokerError);
    expect(error.message).toMatch(/cash/);
    expect(error.requestId).toBe('req-schema-1');
  });

  it('a 200 whose body is not JSON is a BrokerError carrying the start of the text', async () => {
    server.use(http.get(`${BASE}/v2/account`, () => new HttpResponse('<html>maintenance</html>', { headers: { 'content-type': 'text/html' } })));
    const error = await failure(client().request({ method: 'GET', path: '/v2/account', schema: anything }));
    expect(error.message).toMatch(/not JSON/);
    expect(error.vendorMessage).toContain('maintenance');
  });

  it('an empty 204 passes as undefined', async () => {
    server.use(http.delete(`${BASE}/v2/orders/o-1`, () => new HttpResponse(null, { status: 204 })));
    await expect(client().request({ method: 'DELETE', path: '/v2/orders/o-1', schema: z.undefined() })).resolves.toBeUndefined();
  });
});

describe('transport failures', () => {
  it('no answer within the timeout is a TimeoutError (retryable, outcome unknown)', async () => {
    server.use(http.post(`${BASE}/v2/orders`, async () => { await delay(5_000); return HttpResponse.json({}); }));
    const started = Date.now();
    const error = await failure(client({ timeoutMs: 50 }).request({ method: 'POST', path: '/v2/orders', json: {}, schema: anything }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/50 ms/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('a per-request timeout overrides the client default', async () => {
    server.use(http.get(`${BASE}/slow`, async () => { await delay(300); return HttpResponse.json({ ok: true }); }));
    const c = client({ timeoutMs: 20 });
    await expect(c.request({ method: 'GET', path: '/slow', schema: anything, timeoutMs: 2_000 })).resolves.toEqual({ ok: true });
    await expect(c.request({ method: 'GET', path: '/slow', schema: anything })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('a connection failure is a NetworkError (retryable)', async () => {
    server.use(http.get(`${BASE}/v2/account`, () => HttpResponse.error()));
    const error = await failure(client().request({ method: 'GET', path: '/v2/account', schema: anything }));
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.retryable).toBe(true);
    expect(error.broker).toBe('testbroker');
  });

  it('a connection dropped after the request was sent leaves the outcome unknown; a connection refused before it proves nothing was done', async () => {
    // Real sockets on loopback: one server reads the whole request and hangs up without answering; a closed port refuses.
    const dropper = createServer((req) => { req.resume(); req.on('end', () => req.socket.destroy()); });
    await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
    const port = (dropper.address() as AddressInfo).port;
    try {
      const dropped = await failure(client({ baseUrl: `http://127.0.0.1:${port}` }).request({ method: 'POST', path: '/v2/orders', json: { qty: '1' }, schema: anything }));
      expect(dropped).toBeInstanceOf(NetworkError);
      expect(mayHaveReachedVenue(dropped)).toBe(true);
      expect(dropped.message).toMatch(/outcome is unknown/);
    } finally {
      await new Promise((resolve) => dropper.close(resolve));
    }
    const refused = await failure(client({ baseUrl: `http://127.0.0.1:${port}` }).request({ method: 'POST', path: '/v2/orders', json: { qty: '1' }, schema: anything }));
    expect(refused).toBeInstanceOf(NetworkError);
    expect(refused.retryable).toBe(true);
    expect(mayHaveReachedVenue(refused)).toBe(false);
    expect(refused.message).toMatch(/ECONNREFUSED/);
  });

  it('msw\'s dropped connection (no cause to tell when) is taken as possibly carried out', async () => {
    server.use(http.post(`${BASE}/v2/orders`, () => HttpResponse.error()));
    expect(mayHaveReachedVenue(await failure(client().request({ method: 'POST', path: '/v2/orders', json: {}, schema: anything })))).toBe(true);
  });

  it('an injected fetch is used instead of the global one, looked up on every call', async () => {
    const calls: string[] = [];
    let current: typeof globalThis.fetch = async (input) => { calls.push(`a ${String(input)}`); return new Response('{"n":1}'); };
    const c = client({ fetch: () => current });
    expect(await c.request({ method: 'GET', path: '/n', schema: z.object({ n: z.number() }) })).toEqual({ n: 1 });
    current = async (input) => { calls.push(`b ${String(input)}`); return new Response('{"n":2}'); };
    expect(await c.request({ method: 'GET', path: '/n', schema: z.object({ n: z.number() }) })).toEqual({ n: 2 });
    expect(calls).toEqual([`a ${BASE}/n`, `b ${BASE}/n`]);
  });

  it('a non-positive timeout is refused when the client is built', () => {
    expect(() => client({ timeoutMs: 0 })).toThrow(RangeError);
  });
});

describe('the error tree by HTTP status', () => {
  const cases: Array<[number, new (...args: never[]) => BrokerError, boolean]> = [
    [401, AuthenticationError, false], [403, PermissionDeniedError, false], [404, OrderNotFoundError, false],
    [400, OrderRejectedError, false], [409, OrderRejectedError, false], [422, OrderRejectedError, false],
    [408, TimeoutError, true], [504, TimeoutError, true], [429, RateLimitError, true], [418, RateLimitError, true],
    [500, BrokerUnavailableError, true], [502, BrokerUnavailableError, true], [503, BrokerUnavailableError, true],
  ];
  for (const [status, kind, retryable] of cases) {
    it(`${status} is ${kind.name}${retryable ? ' (retryable)' : ''}`, async () => {
      server.use(http.get(`${BASE}/e`, () => HttpResponse.json({ code: 4000 + status, message: `status ${status} said no` }, { status })));
      const error = await failure(client().request({ method: 'GET', path: '/e', schema: anything }));
      expect(error.constructor).toBe(kind);
      expect(error.retryable).toBe(retryable);
      expect(error.code).toBe(4000 + status);
      expect(error.vendorMessage).toBe(`status ${status} said no`);
      expect(error.message).toContain(`answered ${status}`);
      // 408 and the 5xx say nothing about whether the request was carried out; a 4xx, 429 and 418 say it was not.
      expect(mayHaveReachedVenue(error)).toBe(status === 408 || status >= 500);
    });
  }

  it('an unlisted status is a plain BrokerError, not retryable', async () => {
    server.use(http.get(`${BASE}/e`, () => new HttpResponse(null, { status: 405 })));
    const error = await failure(client().request({ method: 'GET', path: '/e', schema: anything }));
    expect(error.constructor).toBe(BrokerError);
    expect(error.retryable).toBe(false);
  });

  it('keeps the vendor code and message wherever each wire format puts them', async () => {
    const bodies: Array<[Record<string, string | number>, string | number | undefined, string | undefined]> = [
      [{ code: 40310000, message: 'insufficient buying power', buying_power: '10' }, 40310000, 'insufficient buying power'], // Alpaca
      [{ message: 'unauthorized.' }, undefined, 'unauthorized.'], // Alpaca 401: no code
      [{ code: -2019, msg: 'Margin is insufficient.' }, -2019, 'Margin is insufficient.'], // Binance
      [{ status: 'error', message: 'Invalid `api_key` or `access_token`.', error_type: 'TokenException' }, 'TokenException', 'Invalid `api_key` or `access_token`.'], // Kite
      [{ error: 'INVALID_ARGUMENT', message: 'bad product', error_details: '' }, 'INVALID_ARGUMENT', 'bad product'], // Coinbase
      [{ error: 'Not authenticated' }, undefined, 'Not authenticated'], // IBKR
    ];
    for (const [body, code, message] of bodies) {
      server.use(http.get(`${BASE}/e`, () => HttpResponse.json(body, { status: 400 })));
      const error = await failure(client().request({ method: 'GET', path: '/e', schema: anything }));
      expect([error.code, error.vendorMessage]).toEqual([code, message]);
    }
  });

  it('a text error body becomes the vendor message', async () => {
    server.use(http.get(`${BASE}/e`, () => new HttpResponse('Bad Gateway from the edge', { status: 502, headers: { 'content-type': 'text/plain' } })));
    const error = await failure(client().request({ method: 'GET', path: '/e', schema: anything }));
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect(error.vendorMessage).toBe('Bad Gateway from the edge');
  });

  it('keeps the request id of a failed answer, from the default headers or a configured prefix', async () => {
    server.use(http.get(`${BASE}/e`, () => HttpResponse.json({}, { status: 500, headers: { 'X-Request-ID': 'req-42' } })));
    expect((await failure(client().request({ method: 'GET', path: '/e', schema: anything }))).requestId).toBe('req-42');
    server.use(http.get(`${BASE}/e`, () => HttpResponse.json({}, { status: 500, headers: { 'x-vendor-trace-7': 'trace-9' } })));
    const custom = client({ requestIdHeaders: ['x-vendor-trace-*'] });
    expect((await failure(custom.request({ method: 'GET', path: '/e', schema: anything }))).requestId).toBe('trace-9');
  });

  it('a vendor mapper decides first, seeing the parsed body and the context; undefined falls back to the status', async () => {
    const seen: HttpErrorContext[] = [];
    const c = client({
      mapError: (status, body, _headers, context) => {
        seen.push(context);
        const record = body as { code?: number };
        if (status === 403 && record.code === 40310000) return new InsufficientFundsError('no buying power', { broker: context.broker, code: context.code, vendorMessage: context.vendorMessage });
        return undefined;
      },
    });
    server.use(http.post(`${BASE}/v2/orders`, () => HttpResponse.json({ code: 40310000, message: 'insufficient buying power' }, { status: 403, headers: { 'x-request-id': 'r-1', 'retry-after': '3' } })));
    const mapped = await failure(c.request({ method: 'POST', path: '/v2/orders', json: {}, schema: anything }));
    expect(mapped).toBeInstanceOf(InsufficientFundsError);
    expect(mapped.code).toBe(40310000);
    expect(seen[0]).toMatchObject({ broker: 'testbroker', method: 'POST', path: '/v2/orders', requestId: 'r-1', retryAfterMs: 3_000, code: 40310000 });
    server.use(http.post(`${BASE}/v2/orders`, () => HttpResponse.json({ code: 40310100, message: 'pattern day trading' }, { status: 403 })));
    expect(await failure(c.request({ method: 'POST', path: '/v2/orders', json: {}, schema: anything }))).toBeInstanceOf(PermissionDeniedError);
  });
});

describe('Retry-After and rate-limit headers', () => {
  const now = new Date('2026-11-23T10:00:00Z');

  it('parses delay-seconds and an HTTP date against the injected clock', () => {
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter('1.5', now)).toBe(1_500);
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 09:59:00 GMT', now)).toBe(0); // already past: go now
    for (const bad of [null, undefined, '', '  ', 'soon', '-1', '12abc']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });

  it('a 429 carries Retry-After seconds as retryAfterMs', async () => {
    server.use(http.get(`${BASE}/e`, () => HttpResponse.json({ code: 42910000, message: 'rate limit exceeded' }, { status: 429, headers: { 'Retry-After': '12' } })));
    const error = await failure(client({ clock: () => now }).request({ method: 'GET', path: '/e', schema: anything }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfterMs).toBe(12_000);
  });

  it('a 429 with an HTTP-date Retry-After counts from the injected clock', async () => {
    server.use(http.get(`${BASE}/e`, () => HttpResponse.json({}, { status: 429, headers: { 'Retry-After': 'Mon, 23 Nov 2026 10:01:00 GMT' } })));
    const error = await failure(client({ clock: () => now }).request({ method: 'GET', path: '/e', schema: anything }));
    expect((error as RateLimitError).retryAfterMs).toBe(60_000);
  });

  it('keeps a snapshot of the latest rate-limit headers, in every spelling, and keeps it through answers without any', async () => {
    const c = client({ clock: () => now });
    expect(c.lastRateLimit).toBeUndefined();
    server.use(http.get(`${BASE}/a`, () => HttpResponse.json({}, { headers: { 'X-RateLimit-Limit': '200', 'X-RateLimit-Remaining': '187', 'X-RateLimit-Reset': '1795428000' } })));
    await c.request({ method: 'GET', path: '/a', schema: anything });
    expect(c.lastRateLimit).toEqual({
      at: now, status: 200, limit: 200, remaining: 187, retryAfterMs: undefined,
      headers: { 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '187', 'x-ratelimit-reset': '1795428000' },
    });
    server.use(http.get(`${BASE}/b`, () => HttpResponse.json({})));
    await c.request({ method: 'GET', path: '/b', schema: anything });
    expect(c.lastRateLimit?.remaining).toBe(187);
    server.use(http.get(`${BASE}/c`, () => HttpResponse.json({}, { headers: { 'X-MBX-USED-WEIGHT-1M': '1180', 'x-mbx-order-count-10s': '3' } })));
    await c.request({ method: 'GET', path: '/c', schema: anything });
    expect(c.lastRateLimit?.headers).toEqual({ 'x-mbx-used-weight-1m': '1180', 'x-mbx-order-count-10s': '3' });
    expect(c.lastRateLimit?.limit).toBeUndefined();
    server.use(http.get(`${BASE}/d`, () => HttpResponse.json({}, { status: 429, headers: { 'ratelimit-remaining': '0', 'retry-after': '2' } })));
    await failure(c.request({ method: 'GET', path: '/d', schema: anything }));
    expect(c.lastRateLimit).toMatchObject({ status: 429, remaining: 0, retryAfterMs: 2_000 });
  });
});

describe('secrets', () => {
  it('signs last, and neither logs nor error messages ever carry a key, secret or signature', async () => {
    const { lines, logger } = logCapture();
    let received: { key: string | null; secret: string | null; signature: string | null } | undefined;
    server.use(http.post(`${BASE}/fapi/v1/order`, ({ request }) => {
      received = { key: request.headers.get('apca-api-key-id'), secret: request.headers.get('apca-api-secret-key'), signature: new URL(request.url).searchParams.get('signature') };
      return HttpResponse.json({ code: -2019, msg: 'Margin is insufficient.' }, { status: 400, headers: { 'x-request-id': 'req-sec' } });
    }));
    const c = client({
      logger,
      sign: (prepared) => {
        prepared.headers.set('APCA-API-KEY-ID', KEY_ID);
        prepared.headers.set('APCA-API-SECRET-KEY', SECRET);
        prepared.headers.set('X-Custom-Token', `tok-${SECRET}`);
        prepared.url.searchParams.set('timestamp', '1795428000000');
        prepared.url.searchParams.set('signature', `sig-${SECRET}`);
        return prepared;
      },
    });
    const error = await failure(c.request({ method: 'POST', path: '/fapi/v1/order', query: { symbol: 'BTCUSDT', api_key: KEY_ID }, json: {}, schema: anything }));
    expect(received).toEqual({ key: KEY_ID, secret: SECRET, signature: `sig-${SECRET}` });
    const everything = [lines.join('\n'), error.message, JSON.stringify(error), String(error.stack)].join('\n');
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(KEY_ID);
    // It still logs enough to follow the call: the event, the path and the public query parameters, the request id.
    expect(lines.some((l) => l.includes('"requestId":"req-sec"'))).toBe(true);
    expect(error.message).toContain('symbol=BTCUSDT');
    expect(error.message).toContain('signature=[redacted]');
    expect(lines.join('\n')).toContain('[redacted]');
  });

  it('extra names to redact can be configured', async () => {
    const { lines, logger } = logCapture();
    server.use(http.get(`${BASE}/x`, () => HttpResponse.json({})));
    const c = client({ logger, redact: ['X-Kite-Session'], sign: (p) => { p.headers.set('X-Kite-Session', SECRET); return p; } });
    await c.request({ method: 'GET', path: '/x', schema: anything });
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(lines.join('\n')).toContain('x-kite-session');
  });

  it('logs each call with its duration from the injected clock', async () => {
    const { lines, logger } = logCapture();
    let t = 0;
    const c = client({ logger, clock: () => new Date(Date.UTC(2026, 10, 23) + (t += 25)) });
    server.use(http.get(`${BASE}/x`, () => HttpResponse.json({}, { headers: { 'x-request-id': 'r-9' } })));
    await c.request({ method: 'GET', path: '/x', schema: anything });
    const done = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'broker.http' && l.status === 200);
    expect(done).toMatchObject({ event: 'broker.http', broker: 'testbroker', method: 'GET', path: '/x', requestId: 'r-9', durationMs: 25 });
  });
});
