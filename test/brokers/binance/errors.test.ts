// Binance's error codes onto the error tree, one by one, and the rate gate's hold.
import { describe, expect, it } from 'vitest';
import { http, HttpResponse } from 'msw';
import { binanceErrorMapper, ClockSkewError, RateGate } from '../../../src/brokers/binance/errors.ts';
import { BinanceClient } from '../../../src/brokers/binance/client.ts';
import type { HttpErrorContext } from '../../../src/brokers/http.ts';
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidSymbolError, MarketClosedError,
  mayHaveReachedVenue, OrderNotFoundError, OrderRejectedError, RateLimitError, TimeoutError,
} from '../../../src/domain/errors.ts';
import { accountSchema, leverageBracketSchema } from '../../../src/brokers/binance/wire.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();

function map(status: number, code: number | undefined, retryAfterMs?: number, gate = new RateGate(() => 0, 'binance-usdm')): BrokerError | undefined {
  const context: HttpErrorContext = {
    broker: 'binance-usdm', method: 'POST', path: '/fapi/v1/order', requestId: undefined, retryAfterMs, code, vendorMessage: 'vendor says no',
  };
  return binanceErrorMapper(gate)(status, { code, msg: 'vendor says no' }, new Headers(), context);
}

describe('binanceErrorMapper', () => {
  const table: Array<[number, number, new (...args: never[]) => BrokerError]> = [
    [400, -1021, ClockSkewError],
    [400, -1022, AuthenticationError],
    [401, -2014, AuthenticationError],
    [401, -2015, AuthenticationError],
    [400, -2019, InsufficientFundsError],
    [400, -2018, InsufficientFundsError],
    [400, -1121, InvalidSymbolError],
    [400, -1122, InvalidSymbolError],
    [400, -4140, MarketClosedError],
    [400, -2011, OrderNotFoundError],
    [400, -2013, OrderNotFoundError],
    [400, -4116, DuplicateClientOrderIdError],
    [400, -2021, OrderRejectedError],
    [400, -4130, OrderRejectedError],
    [400, -4120, OrderRejectedError],
    [400, -4015, OrderRejectedError],
    [400, -2010, OrderRejectedError],
    [400, -1111, OrderRejectedError],
    [400, -4164, OrderRejectedError],
    [408, -1007, TimeoutError],
    [503, -1001, BrokerUnavailableError],
    [429, -1003, RateLimitError],
    [400, -1015, RateLimitError],
    [418, -1003, RateLimitError],
  ];
  for (const [status, code, type] of table) {
    it(`${status} ${code} is ${type.name}, the code and the vendor's message kept`, () => {
      const error = map(status, code);
      expect(error).toBeInstanceOf(type);
      expect(error?.code).toBe(code);
      expect(error?.vendorMessage).toBe('vendor says no');
      expect(error?.message).toContain(`(${code})`);
    });
  }

  it('retryable: clock skew, timeouts, 5xx and rate limits; not: funds, symbols, rejections', () => {
    expect([-1021, -1007].map((c) => map(400, c)?.retryable)).toEqual([true, true]);
    expect(map(503, -1001)?.retryable).toBe(true);
    expect([-2019, -1121, -2021].map((c) => map(400, c)?.retryable)).toEqual([false, false, false]);
  });

  it('outcome unknown, so looked up before any retry: -1006 and -1007 whatever their status, and every 5xx; not a refusal, 429 or 418', () => {
    for (const status of [400, 408, 500, 503]) {
      for (const code of [-1006, -1007]) {
        expect(map(status, code)).toBeInstanceOf(TimeoutError);
        expect(mayHaveReachedVenue(map(status, code))).toBe(true);
      }
    }
    expect(mayHaveReachedVenue(map(503, -1001))).toBe(true);
    expect(mayHaveReachedVenue(map(502, undefined))).toBe(true);
    expect([[400, -2019], [400, -4116], [400, -2010], [429, -1003], [418, -1003], [400, -1015]].map(([status, code]) => mayHaveReachedVenue(map(status ?? 0, code))))
      .toEqual([false, false, false, false, false, false]);
  });

  it('a 429 holds the gate for its Retry-After, a 418 for the ban, two minutes when unsaid', () => {
    let now = 0;
    const gate = new RateGate(() => now, 'binance-usdm');
    expect((map(429, -1003, 3_000, gate) as RateLimitError).retryAfterMs).toBe(3_000);
    expect(gate.blockedForMs).toBe(3_000);
    expect(() => gate.check()).toThrow(RateLimitError);
    now = 3_000;
    expect(() => gate.check()).not.toThrow();
    expect((map(418, -1003, undefined, gate) as RateLimitError).retryAfterMs).toBe(120_000);
    expect(gate.blockedForMs).toBe(120_000);
  });

  it('explains the codes whose bare message says little', () => {
    expect(map(400, -2021)?.message).toContain('would trigger immediately');
    expect(map(400, -4130)?.message).toContain('closePosition');
  });
});

describe('lossless numbers', () => {
  it('money sent as JSON numbers arrives exact, never through a float', async () => {
    server.use(
      http.get('https://fapi.binance.test/fapi/v3/account', () => new HttpResponse(
        '{"totalWalletBalance":126.724692060000000001,"totalMarginBalance":"126.72469206","availableBalance":0.1000000000000000055511,"assets":[]}',
        { headers: { 'content-type': 'application/json' } },
      )),
      http.get('https://fapi.binance.test/fapi/v1/leverageBracket', () => new HttpResponse(
        '{"symbol":"ETHUSDT","notionalCoef":1.5,"brackets":[{"bracket":1,"initialLeverage":75,"notionalCap":10000,"notionalFloor":0,"maintMarginRatio":0.0065,"cum":0}]}',
        { headers: { 'content-type': 'application/json' } },
      )),
    );
    const client = new BinanceClient({ broker: 'binance-usdm', baseUrl: 'https://fapi.binance.test', apiKey: 'k', apiSecret: 's', logger: createLogger({ level: 'silent' }) });
    const account = await client.signed({ method: 'GET', path: '/fapi/v3/account', schema: accountSchema });
    expect(account.totalWalletBalance.toFixed()).toBe('126.724692060000000001');
    expect(account.availableBalance.toFixed()).toBe('0.1000000000000000055511');
    const [brackets] = await client.signed({ method: 'GET', path: '/fapi/v1/leverageBracket', params: { symbol: 'ETHUSDT' }, schema: leverageBracketSchema });
    expect(brackets?.brackets[0]?.maintMarginRatio.toFixed()).toBe('0.0065');
    expect(brackets?.brackets[0]?.initialLeverage.toFixed()).toBe('75');
  });
});
