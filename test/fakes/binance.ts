// A stateful fake of Binance USD-M futures for msw: its real wire format, HMAC checks, orders, algo orders and positions.
//
// What it does as Binance does: X-MBX-APIKEY and the HMAC-SHA256 signature over the exact query and body
// (-2015, -1022), the timestamp against recvWindow (-1021), exchangeInfo filters (tick -4014, step -1111,
// min notional -4164), margin (-2019), client ids (-4015 invalid, -4116 duplicate among open orders),
// conditional types refused on /fapi/v1/order (-4120), algo triggers that would fire at once (-2021), a second
// closePosition trigger in one direction (-4130), one-way and hedge position modes (-4061, -1106).
// Market orders fill at the price set with setPrice; resting limits and algo triggers fire against it.
// It never does one-cancels-other: neither does Binance.
// Failures (failNext/inject): refusals, a dropped connection, no answer, and the unforgiving ones: a request carried out
// whose answer is then a 5xx, -1006/-1007 or a dropped connection (afterExecution), and rateLimit(): 429s with a
// Retry-After that escalate to a 418 IP ban for a client that does not wait. storm() turns on a seeded fault storm on
// every signed request (5xx, timeouts, 429 bursts, one 418 ban; half the 5xx and timeouts after execution); calm() ends it.
import { createHmac, randomBytes } from 'node:crypto';
import { delay, http, HttpResponse } from 'msw';
import type { RequestHandler } from 'msw';
import { Decimal } from '../../src/domain/money.ts';
import type { InjectableError } from '../contract/suite.ts';
import { Storm, type StormOptions } from './storm.ts';

export const FAKE_BASE_URL = 'https://fapi.binance.test';
export const FAKE_API_KEY = 'fake-binance-key-7f3a';
export const FAKE_API_SECRET = 'fake-binance-secret-91c2e0';

export interface FakeSymbol {
  tickSize: string;
  stepSize: string;
  minQty: string;
  marketMinQty?: string;
  minNotional: string;
  price: string;
  status?: string;
}

export interface BinanceFakeOptions {
  baseUrl?: string;
  apiKey?: string;
  apiSecret?: string;
  /** USDT in the wallet. */
  wallet?: string;
  symbols?: Record<string, FakeSymbol>;
  hedge?: boolean;
  /** Commission as a fraction of the notional (0 by default, so fills and balances stay round). */
  feeRate?: string;
  leverage?: number;
  /** The exchange's clock; tests move it to provoke -1021. */
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  /** Passed the key, signature and timestamp checks (or was public). */
  authenticated: boolean;
}

interface Failure {
  method?: string;
  path?: string | RegExp;
  status: number;
  code?: number;
  msg?: string;
  headers?: Record<string, string>;
  /** network: the connection fails; timeout: no answer, nothing done; lost: done at the venue, the answer never arrives. */
  kind?: 'network' | 'timeout' | 'lost';
  /**
   * The venue carries the request out first and only then answers with this failure (a 5xx, -1006/-1007, or with
   * kind 'network' a dropped connection), as Binance warns: a 5xx's "execution status is UNKNOWN and could have been a success".
   */
  afterExecution?: boolean;
  times: number;
}

/** Binance's escalation for a client that ignores 429s; see rateLimit(). */
interface RateLimitRule {
  method?: string | undefined;
  path?: string | RegExp | undefined;
  retryAfterSeconds: number;
  banAfter: number;
  banSeconds: number;
  /** The next matching request starts the limit. */
  armed: boolean;
  limitedUntil: number;
  early: number;
  bannedUntil: number;
}

interface FakeOrder {
  orderId: number;
  clientOrderId: string;
  symbol: string;
  side: 'BUY' | 'SELL';
  positionSide: 'BOTH' | 'LONG' | 'SHORT';
  type: string;
  status: string;
  price: Decimal;
  origQty: Decimal;
  executedQty: Decimal;
  cumQuote: Decimal;
  reduceOnly: boolean;
  timeInForce: string;
  time: number;
  updateTime: number;
}

interface FakeAlgo {
  algoId: number;
  clientAlgoId: string;
  symbol: string;
  side: 'BUY' | 'SELL';
  positionSide: 'BOTH' | 'LONG' | 'SHORT';
  orderType: string;
  quantity: Decimal;
  algoStatus: string;
  triggerPrice: Decimal;
  price: Decimal;
  timeInForce: string;
  closePosition: boolean;
  reduceOnly: boolean;
  workingType: string;
  priceProtect: boolean;
  actualOrderId: string;
  /** Trailing stops: the percentage given back from the best price since placement, and that best price. */
  callbackRate: Decimal;
  extreme: Decimal;
  createTime: number;
  updateTime: number;
  triggerTime: number;
}

interface FakePosition {
  amount: Decimal;
  entryPrice: Decimal;
}

interface FakeTrade {
  id: number;
  orderId: number;
  symbol: string;
  side: 'BUY' | 'SELL';
  price: Decimal;
  qty: Decimal;
  commission: Decimal;
  time: number;
}

const ZERO = new Decimal(0);
const WEEK_MS = 7 * 24 * 3600_000;
/** How far back userTrades reaches: six months (taken as 183 days). */
const HISTORY_MS = 183 * 24 * 3600_000;
const CONDITIONAL = new Set(['STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET']);
const CLIENT_ID = /^[.A-Z:/a-z0-9_-]{1,36}$/;
const DEFAULT_BRACKETS = [
  { bracket: 1, initialLeverage: 125, notionalCap: 50000, notionalFloor: 0, maintMarginRatio: 0.004, cum: 0 },
  { bracket: 2, initialLeverage: 100, notionalCap: 600000, notionalFloor: 50000, maintMarginRatio: 0.005, cum: 50 },
  { bracket: 3, initialLeverage: 50, notionalCap: 3000000, notionalFloor: 600000, maintMarginRatio: 0.01, cum: 3050 },
  { bracket: 4, initialLeverage: 20, notionalCap: 12000000, notionalFloor: 3000000, maintMarginRatio: 0.025, cum: 48050 },
];

export const DEFAULT_SYMBOLS: Record<string, FakeSymbol> = {
  BTCUSDT: { tickSize: '0.10', stepSize: '0.001', minQty: '0.001', minNotional: '100', price: '60000' },
  ETHUSDT: { tickSize: '0.01', stepSize: '0.001', minQty: '0.001', minNotional: '20', price: '3000' },
};

/** A Binance refusal as it arrives on the wire. */
class Refusal extends Error {
  constructor(readonly status: number, readonly code: number, msg: string, readonly headers: Record<string, string> = {}) {
    super(msg);
  }
}

/** A storm's 5xx as Binance words it: execution status unknown. */
const stormServerError = (status: 500 | 502 | 503): Refusal => new Refusal(status, -1001, 'Internal error; unable to process your request. Please try again.');

const refuse = (code: number, msg: string, status = 400): never => { throw new Refusal(status, code, msg); };

export class BinanceFake {
  readonly baseUrl: string;
  readonly requests: RecordedRequest[] = [];
  readonly handlers: RequestHandler[];
  hedge: boolean;
  wallet: Decimal;
  /** What X-MBX-USED-WEIGHT-1M reports; by default the number of requests so far. */
  usedWeight: number | undefined;
  /** Milliseconds added to the exchange's clock (a test moves it to make our timestamps stale). */
  clockSkewMs = 0;

  private readonly apiKey: string;
  private readonly apiSecret: string;
  private readonly feeRate: Decimal;
  private readonly symbols: Map<string, FakeSymbol>;
  private readonly marks = new Map<string, Decimal>();
  private readonly leverage = new Map<string, number>();
  private readonly marginType = new Map<string, 'isolated' | 'cross'>();
  private readonly orders = new Map<number, FakeOrder>();
  private readonly algos = new Map<number, FakeAlgo>();
  private readonly positions = new Map<string, FakePosition>();
  private readonly trades: FakeTrade[] = [];
  private readonly failures: Failure[] = [];
  private rateRule: RateLimitRule | undefined;
  private storming: Storm | undefined;
  /** A storm's ban outlives the storm: it ends on the exchange's clock. */
  private stormBannedUntil = 0;
  private readonly now: () => number;
  private nextOrderId = 8_100_000_001;
  private nextAlgoId = 2_146_760;
  private nextTradeId = 500_001;
  private readonly income: Array<{ symbol: string; income: Decimal; time: number; tranId: number }> = [];
  private nextTranId = 9_689_322_392;

  constructor(options: BinanceFakeOptions = {}) {
    this.baseUrl = options.baseUrl ?? FAKE_BASE_URL;
    this.apiKey = options.apiKey ?? FAKE_API_KEY;
    this.apiSecret = options.apiSecret ?? FAKE_API_SECRET;
    this.wallet = new Decimal(options.wallet ?? '100000');
    this.hedge = options.hedge ?? false;
    this.feeRate = new Decimal(options.feeRate ?? '0');
    this.now = options.now ?? (() => Date.now());
    this.symbols = new Map(Object.entries(options.symbols ?? DEFAULT_SYMBOLS));
    for (const [symbol, spec] of this.symbols) {
      this.marks.set(symbol, new Decimal(spec.price));
      this.leverage.set(symbol, options.leverage ?? 20);
      this.marginType.set(symbol, 'cross');
    }
    this.handlers = this.buildHandlers();
  }

  // ---- the test's hand on the venue ----

  serverTime(): number {
    return this.now() + this.clockSkewMs;
  }

  /** The mark and last price; resting limits and algo triggers fire against it before this returns. */
  setPrice(symbol: string, price: string): void {
    this.marks.set(symbol, new Decimal(price));
    this.match(symbol);
  }

  leverageOf(symbol: string): number | undefined {
    return this.leverage.get(symbol);
  }

  marginTypeOf(symbol: string): string | undefined {
    return this.marginType.get(symbol);
  }

  /** The next matching request (by method and path, or any) gets this answer instead, `times` times. */
  failNext(failure: Omit<Failure, 'times'> & { times?: number }): void {
    this.failures.push({ times: 1, ...failure });
  }

  /**
   * Rate limiting as Binance enforces it: the next matching request is answered 429 (-1003) with Retry-After; every
   * request before that time has passed is answered 429 again, and the `banAfter`-th such request earns a 418 IP ban
   * with Retry-After `banSeconds`. A request during a ban is answered 418 and doubles what is left of it, as Binance
   * lengthens bans (2 minutes up to 3 days). Both clocks are the exchange's (serverTime()).
   */
  rateLimit(options: { retryAfterSeconds?: number; banAfter?: number; banSeconds?: number; method?: string; path?: string | RegExp } = {}): void {
    this.rateRule = {
      method: options.method, path: options.path, retryAfterSeconds: options.retryAfterSeconds ?? 5, banAfter: options.banAfter ?? 2,
      banSeconds: options.banSeconds ?? 120, armed: true, limitedUntil: 0, early: 0, bannedUntil: 0,
    };
  }

  /** Whether the IP is banned now (a test asserts the client never earned a ban). */
  get banned(): boolean {
    return (this.rateRule !== undefined && this.serverTime() < this.rateRule.bannedUntil) || this.serverTime() < this.stormBannedUntil;
  }

  /** From now on every signed request draws its fault from a seeded storm (see storm.ts); returns the storm, whose stats count what it did. */
  storm(options: StormOptions): Storm {
    this.storming = new Storm(options);
    return this.storming;
  }

  /** Ends the storm: requests are answered normally again, once a ban it gave has run out on the exchange's clock. */
  calm(): void {
    this.storming = undefined;
  }

  /** When the storm's ban ends (exchange ms), 0 when it gave none. */
  get stormBanEnds(): number {
    return this.stormBannedUntil;
  }

  /** The contract suite's error kinds, on the next order placement, as Binance signals each on its wire. */
  inject(kind: InjectableError): boolean {
    const path = /^\/fapi\/v1\/(order|algoOrder)$/;
    const on = (status: number, code: number, msg: string, headers?: Record<string, string>, afterExecution?: boolean): boolean => {
      this.failNext({ method: 'POST', path, status, code, msg, headers, afterExecution });
      return true;
    };
    switch (kind) {
      case 'authentication': return on(401, -2015, 'Invalid API-key, IP, or permissions for action.');
      case 'insufficient_funds': return on(400, -2019, 'Margin is insufficient.');
      case 'invalid_symbol': return on(400, -1121, 'Invalid symbol.');
      case 'order_rejected': return on(400, -2010, 'NEW_ORDER_REJECTED');
      case 'market_closed': return on(400, -4140, 'Invalid symbol status for opening position.');
      case 'rate_limited': return on(429, -1003, 'Too many requests; current limit of IP is 2400 requests per minute.', { 'retry-after': '2' });
      case 'unavailable': return on(503, -1001, 'Internal error; unable to process your request. Please try again.');
      case 'network': this.failNext({ method: 'POST', path, status: 0, kind: 'network' }); return true;
      case 'timeout': this.failNext({ method: 'POST', path, status: 0, kind: 'timeout' }); return true;
      case 'unavailable_after_execution': return on(503, -1001, 'Internal error; unable to process your request. Please try again.', undefined, true);
      case 'network_after_execution': this.failNext({ method: 'POST', path, status: 0, kind: 'network', afterExecution: true }); return true;
      case 'unknown_status_after_execution': return on(408, -1007, 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.', undefined, true);
    }
  }

  openOrderCount(): number {
    return [...this.orders.values()].filter((o) => o.status === 'NEW' || o.status === 'PARTIALLY_FILLED').length;
  }

  openAlgoOrders(): ReadonlyArray<Readonly<FakeAlgo>> {
    return [...this.algos.values()].filter((a) => a.algoStatus === 'NEW');
  }

  /** Every order the venue took, whatever became of it (a storm test counts client ids). */
  placedOrders(): ReadonlyArray<Readonly<FakeOrder>> {
    return [...this.orders.values()];
  }

  /** Every algo order the venue took, whatever became of it. */
  placedAlgoOrders(): ReadonlyArray<Readonly<FakeAlgo>> {
    return [...this.algos.values()];
  }

  algoOrder(clientAlgoId: string): Readonly<FakeAlgo> | undefined {
    return [...this.algos.values()].find((a) => a.clientAlgoId === clientAlgoId);
  }

  positionAmount(symbol: string, positionSide: 'BOTH' | 'LONG' | 'SHORT' = 'BOTH'): Decimal {
    return this.positions.get(`${symbol}:${positionSide}`)?.amount ?? ZERO;
  }

  /**
   * A funding settlement at `rate` on every open position in the symbol: longs pay when the rate is positive, shorts
   * receive (amount × mark × rate), as Binance settles every 8 hours. Returns what the account was paid (signed).
   */
  chargeFunding(symbol: string, rate: string): Decimal {
    const mark = this.marks.get(symbol) ?? ZERO;
    let total = ZERO;
    for (const side of ['BOTH', 'LONG', 'SHORT'] as const) {
      const amount = this.positionAmount(symbol, side);
      if (amount.isZero()) continue;
      const income = amount.mul(mark).mul(new Decimal(rate)).neg();
      this.wallet = this.wallet.plus(income);
      this.income.push({ symbol, income, time: this.now(), tranId: this.nextTranId++ });
      total = total.plus(income);
    }
    return total;
  }

  /**
   * History the account already has: one filled order (under `clientOrderId`) with a trade of `qty` at each of
   * `times` (ms). Trade ids grow with time, as Binance's do, so record history before trading live.
   */
  recordHistory(symbol: string, clientOrderId: string, times: number[], options: { side?: 'BUY' | 'SELL'; qty?: string; price?: string } = {}): number {
    const side = options.side ?? 'BUY';
    const qty = new Decimal(options.qty ?? '0.001');
    const price = new Decimal(options.price ?? this.mark(symbol).toFixed());
    const sorted = [...times].sort((a, b) => a - b);
    const first = sorted[0] ?? this.serverTime();
    const order: FakeOrder = {
      orderId: this.nextOrderId++, clientOrderId, symbol, side, positionSide: 'BOTH', type: 'MARKET', status: 'FILLED', price: ZERO,
      origQty: qty.mul(sorted.length), executedQty: qty.mul(sorted.length), cumQuote: qty.mul(price).mul(sorted.length), reduceOnly: false,
      timeInForce: 'GTC', time: first, updateTime: sorted.at(-1) ?? first,
    };
    this.orders.set(order.orderId, order);
    for (const time of sorted) {
      this.trades.push({ id: this.nextTradeId++, orderId: order.orderId, symbol, side, price, qty, commission: qty.mul(price).mul(this.feeRate), time });
    }
    return order.orderId;
  }

  /** Funding settlements already on the account's income history: `income` (signed) at each of `times` (ms). */
  recordFunding(symbol: string, times: number[], income: string): void {
    for (const time of [...times].sort((a, b) => a - b)) this.income.push({ symbol, income: new Decimal(income), time, tranId: this.nextTranId++ });
  }

  /** Requests that reached the venue (rate-limited or not), optionally one path's. */
  calls(path?: string, method?: string): RecordedRequest[] {
    return this.requests.filter((r) => (path === undefined || r.path === path) && (method === undefined || r.method === method));
  }

  // ---- the wire ----

  private buildHandlers(): RequestHandler[] {
    const route = (method: 'get' | 'post' | 'put' | 'delete', path: string, signed: boolean, answer: (p: URLSearchParams) => unknown) =>
      http[method](`${this.baseUrl}${path}`, async ({ request }) => {
        const url = new URL(request.url);
        const body = await request.text();
        const params = new URLSearchParams(url.search);
        for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
        const record: RecordedRequest = { method: request.method, path: url.pathname, params: Object.fromEntries(params), authenticated: false };
        this.requests.push(record);
        const limited = this.rateLimited(request.method, url.pathname);
        if (limited) return this.errorResponse(limited);
        const draw = signed ? this.stormDraw() : { kind: 'none' as const };
        if (draw instanceof Refusal) return this.errorResponse(draw);
        const hang = this.storming?.hangMs ?? 1_000;
        if (draw.kind === 'timeout' && !draw.afterExecution) {
          // Nothing done; the answer comes after the client has given up.
          await delay(hang);
          return this.errorResponse(new Refusal(408, -1007, 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.'));
        }
        if (draw.kind === 'server_error' && !draw.afterExecution) return this.errorResponse(stormServerError(draw.status));
        const failure = this.takeFailure(request.method, url.pathname);
        const failureAnswer = (f: Failure): Response => (f.kind === 'network' ? HttpResponse.error()
          : this.errorResponse(new Refusal(f.status, f.code ?? -1000, f.msg ?? 'An unknown error occured while processing the request.', f.headers)));
        const before = failure?.afterExecution === true ? undefined : failure;
        if (before?.kind === 'timeout') { await delay('infinite'); }
        if (before && before.kind !== 'lost') return failureAnswer(before);
        try {
          if (signed) this.authenticate(request.headers, url.search.slice(1), body, params);
          record.authenticated = true;
          const result = answer(params);
          if (failure?.kind === 'lost') await delay('infinite');
          // Carried out; the answer is lost to a 5xx or a dropped connection all the same.
          if (failure?.afterExecution === true) return failureAnswer(failure);
          // The storm's after-execution faults: carried out, then the answer is a 5xx or comes too late to be read.
          if (draw.kind === 'server_error') return this.errorResponse(stormServerError(draw.status));
          if (draw.kind === 'timeout') await delay(hang);
          return HttpResponse.json(result as Record<string, unknown>, { headers: { 'x-mbx-used-weight-1m': String(this.usedWeight ?? this.requests.length) } });
        } catch (error) {
          if (error instanceof Refusal) return this.errorResponse(error);
          throw error;
        }
      });

    return [
      route('get', '/fapi/v1/ping', false, () => ({})),
      route('get', '/fapi/v1/time', false, () => ({ serverTime: this.serverTime() })),
      route('get', '/fapi/v1/exchangeInfo', false, () => this.exchangeInfo()),
      route('get', '/fapi/v1/ticker/price', false, (p) => this.tickerPrice(p)),
      route('get', '/fapi/v1/positionSide/dual', true, () => ({ dualSidePosition: this.hedge })),
      route('post', '/fapi/v1/positionSide/dual', true, (p) => this.setDualSide(p)),
      route('post', '/fapi/v1/marginType', true, (p) => this.setMarginType(p)),
      route('post', '/fapi/v1/leverage', true, (p) => this.setLeverage(p)),
      route('get', '/fapi/v3/account', true, () => this.account()),
      route('get', '/fapi/v3/balance', true, () => this.balance()),
      route('get', '/fapi/v3/positionRisk', true, (p) => this.positionRiskV3(p)),
      route('get', '/fapi/v2/positionRisk', true, (p) => this.positionRiskV2(p)),
      route('get', '/fapi/v1/leverageBracket', true, (p) => this.leverageBracket(p)),
      route('post', '/fapi/v1/order', true, (p) => this.newOrder(p)),
      route('put', '/fapi/v1/order', true, (p) => this.amendOrder(p)),
      route('get', '/fapi/v1/order', true, (p) => this.orderWire(this.findOrder(p, -2013, 'Order does not exist.'))),
      route('delete', '/fapi/v1/order', true, (p) => this.cancelOrder(p)),
      route('get', '/fapi/v1/openOrders', true, (p) => this.openOrders(p)),
      route('post', '/fapi/v1/algoOrder', true, (p) => this.newAlgo(p)),
      route('get', '/fapi/v1/algoOrder', true, (p) => this.algoWire(this.findAlgo(p, -2013, 'Order does not exist.'))),
      route('delete', '/fapi/v1/algoOrder', true, (p) => this.cancelAlgo(p)),
      route('get', '/fapi/v1/openAlgoOrders', true, (p) => this.openAlgos(p)),
      route('get', '/fapi/v1/userTrades', true, (p) => this.userTrades(p)),
      route('get', '/fapi/v1/income', true, (p) => this.incomeHistory(p)),
      ...this.listenKeyHandlers(),
    ];
  }

  // ---- user data stream: the listenKey (USER_STREAM security: the API key, no signature) ----

  /** The account's one listenKey and when it lapses (60 minutes after its creation or last keepalive). */
  private userStream: { listenKey: string; expiresAt: number } | undefined;

  /** The listenKey a user data stream may connect with now; undefined when there is none or it lapsed. */
  activeListenKey(): string | undefined {
    const stream = this.userStream;
    return stream && stream.expiresAt > this.serverTime() ? stream.listenKey : undefined;
  }

  /** Lets the listenKey lapse now (as an hour without keepalive would); returns the key that lapsed. */
  expireListenKey(): string | undefined {
    const key = this.userStream?.listenKey;
    this.userStream = undefined;
    return key;
  }

  private listenKeyHandlers(): RequestHandler[] {
    const keyed = (method: 'post' | 'put' | 'delete', answer: () => unknown) => http[method](`${this.baseUrl}/fapi/v1/listenKey`, async ({ request }) => {
      const url = new URL(request.url);
      const record: RecordedRequest = { method: request.method, path: url.pathname, params: Object.fromEntries(url.searchParams), authenticated: false };
      this.requests.push(record);
      const failure = this.takeFailure(request.method, url.pathname);
      if (failure?.kind === 'network') return HttpResponse.error();
      if (failure) return this.errorResponse(new Refusal(failure.status, failure.code ?? -1000, failure.msg ?? 'An unknown error occured while processing the request.', failure.headers));
      if (request.headers.get('x-mbx-apikey') !== this.apiKey) return this.errorResponse(new Refusal(401, -2015, 'Invalid API-key, IP, or permissions for action.'));
      record.authenticated = true;
      try {
        return HttpResponse.json(answer() as Record<string, unknown>);
      } catch (error) {
        if (error instanceof Refusal) return this.errorResponse(error);
        throw error;
      }
    });
    const HOUR = 60 * 60_000;
    return [
      // POST with a live key answers that key (and extends it), as Binance does: one key per account.
      keyed('post', () => {
        const listenKey = this.activeListenKey() ?? randomBytes(32).toString('hex');
        this.userStream = { listenKey, expiresAt: this.serverTime() + HOUR };
        return { listenKey };
      }),
      keyed('put', () => {
        const listenKey = this.activeListenKey();
        if (listenKey === undefined) return refuse(-1125, 'This listenKey does not exist.');
        this.userStream = { listenKey, expiresAt: this.serverTime() + HOUR };
        return { listenKey };
      }),
      keyed('delete', () => {
        this.userStream = undefined;
        return {};
      }),
    ];
  }

  /** The answer of an active rate limit or ban for this request, if any (see rateLimit()). */
  private rateLimited(method: string, path: string): Refusal | undefined {
    const rule = this.rateRule;
    if (!rule || (rule.method !== undefined && rule.method !== method)) return undefined;
    if (rule.path !== undefined && !(typeof rule.path === 'string' ? rule.path === path : rule.path.test(path))) return undefined;
    const now = this.serverTime();
    const seconds = (ms: number): string => String(Math.ceil(ms / 1000));
    if (now < rule.bannedUntil) {
      rule.bannedUntil += rule.bannedUntil - now;
      return new Refusal(418, -1003, `Way too many requests; IP banned until ${rule.bannedUntil}. Please use the websocket for live updates to avoid bans.`,
        { 'retry-after': seconds(rule.bannedUntil - now) });
    }
    if (now < rule.limitedUntil) {
      rule.early += 1;
      if (rule.early >= rule.banAfter) {
        rule.bannedUntil = now + rule.banSeconds * 1000;
        return new Refusal(418, -1003, `Way too many requests; IP banned until ${rule.bannedUntil}. Please use the websocket for live updates to avoid bans.`,
          { 'retry-after': String(rule.banSeconds) });
      }
      return new Refusal(429, -1003, 'Too many requests; current limit of IP is 2400 requests per minute.', { 'retry-after': seconds(rule.limitedUntil - now) });
    }
    if (rule.armed) {
      rule.armed = false;
      rule.limitedUntil = now + rule.retryAfterSeconds * 1000;
      return new Refusal(429, -1003, 'Too many requests; current limit of IP is 2400 requests per minute.', { 'retry-after': String(rule.retryAfterSeconds) });
    }
    return undefined;
  }

  /** The storm's verdict on one signed request: a refusal to answer at once (429, 418), or what to do around carrying it out. */
  private stormDraw(): Refusal | { kind: 'none' } | { kind: 'server_error'; status: 500 | 502 | 503; afterExecution: boolean } | { kind: 'timeout'; afterExecution: boolean } {
    const now = this.serverTime();
    const banned = (left: number): Refusal => new Refusal(418, -1003, `Way too many requests; IP banned until ${this.stormBannedUntil}. Please use the websocket for live updates to avoid bans.`,
      { 'retry-after': String(Math.ceil(left / 1000)) });
    if (now < this.stormBannedUntil) return banned(this.stormBannedUntil - now);
    const draw = this.storming?.draw() ?? { kind: 'none' as const };
    switch (draw.kind) {
      case 'banned':
        this.stormBannedUntil = now + draw.retryAfterSeconds * 1000;
        return banned(draw.retryAfterSeconds * 1000);
      case 'rate_limited':
        return new Refusal(429, -1003, 'Too many requests; current limit of IP is 2400 requests per minute.', { 'retry-after': String(draw.retryAfterSeconds) });
      default:
        return draw;
    }
  }

  private takeFailure(method: string, path: string): Failure | undefined {
    const index = this.failures.findIndex((f) => (f.method === undefined || f.method === method) &&
      (f.path === undefined || (typeof f.path === 'string' ? f.path === path : f.path.test(path))));
    if (index < 0) return undefined;
    const failure = this.failures[index] as Failure;
    failure.times -= 1;
    if (failure.times <= 0) this.failures.splice(index, 1);
    return failure;
  }

  private errorResponse(refusal: Refusal): Response {
    return HttpResponse.json({ code: refusal.code, msg: refusal.message }, {
      status: refusal.status, headers: { 'x-mbx-used-weight-1m': String(this.usedWeight ?? this.requests.length), ...refusal.headers },
    });
  }

  /** Key, then timestamp window, then signature: the order Binance checks them in. */
  private authenticate(headers: Headers, query: string, body: string, params: URLSearchParams): void {
    if (headers.get('x-mbx-apikey') !== this.apiKey) refuse(-2015, 'Invalid API-key, IP, or permissions for action.', 401);
    const timestamp = Number(params.get('timestamp'));
    const recvWindow = Number(params.get('recvWindow') ?? '5000');
    const server = this.serverTime();
    if (!Number.isFinite(timestamp) || timestamp < server - recvWindow || timestamp > server + 1000) {
      refuse(-1021, 'Timestamp for this request is outside of the recvWindow.');
    }
    const marker = query.lastIndexOf('signature=');
    if (marker < 0) refuse(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
    const signed = query.slice(0, Math.max(0, marker - 1)) + body;
    const expected = createHmac('sha256', this.apiSecret).update(signed).digest('hex');
    if (query.slice(marker + 'signature='.length) !== expected) refuse(-1022, 'Signature for this request is not valid.');
  }

  // ---- market data and account ----

  private exchangeInfo(): unknown {
    return {
      timezone: 'UTC',
      serverTime: this.serverTime(),
      rateLimits: [{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 }],
      symbols: [...this.symbols].map(([symbol, spec]) => ({
        symbol, pair: symbol, contractType: 'PERPETUAL', status: spec.status ?? 'TRADING',
        baseAsset: symbol.replace(/USDT$/, ''), quoteAsset: 'USDT', marginAsset: 'USDT', pricePrecision: 2, quantityPrecision: 3,
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: spec.tickSize, maxPrice: '4529764', tickSize: spec.tickSize },
          { filterType: 'LOT_SIZE', stepSize: spec.stepSize, maxQty: '1000', minQty: spec.minQty },
          { filterType: 'MARKET_LOT_SIZE', stepSize: spec.stepSize, maxQty: '120', minQty: spec.marketMinQty ?? spec.minQty },
          { filterType: 'MAX_NUM_ORDERS', limit: 200 },
          { filterType: 'MIN_NOTIONAL', notional: spec.minNotional },
          { filterType: 'PERCENT_PRICE', multiplierUp: '1.0500', multiplierDown: '0.9500', multiplierDecimal: '4' },
        ],
        orderTypes: ['LIMIT', 'MARKET', 'STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET'],
        timeInForce: ['GTC', 'IOC', 'FOK', 'GTX', 'GTD'],
      })),
    };
  }

  private tickerPrice(p: URLSearchParams): unknown {
    const symbol = p.get('symbol');
    const one = (s: string) => ({ symbol: s, price: this.mark(s).toFixed(), time: this.serverTime() });
    return symbol === null ? [...this.symbols.keys()].map(one) : one(this.checkSymbol(symbol));
  }

  private setDualSide(p: URLSearchParams): unknown {
    const wanted = p.get('dualSidePosition') === 'true';
    if (wanted === this.hedge) refuse(-4059, 'No need to change position side.');
    if ([...this.positions.values()].some((x) => !x.amount.isZero()) || this.openOrderCount() > 0) {
      refuse(-4068, 'Position side cannot be changed if there exists position.');
    }
    this.hedge = wanted;
    return { code: 200, msg: 'success' };
  }

  private setMarginType(p: URLSearchParams): unknown {
    const symbol = this.checkSymbol(p.get('symbol'));
    const wanted = p.get('marginType') === 'ISOLATED' ? 'isolated' : 'cross';
    if (this.marginType.get(symbol) === wanted) refuse(-4046, 'No need to change margin type.');
    if (this.positionRows([symbol]).some((r) => !r.position.amount.isZero())) refuse(-4048, 'Margin type cannot be changed if there exists position.');
    if ([...this.orders.values()].some((o) => o.symbol === symbol && o.status === 'NEW')) refuse(-4047, 'Margin type cannot be changed if there exists open orders.');
    this.marginType.set(symbol, wanted);
    return { code: 200, msg: 'success' };
  }

  private setLeverage(p: URLSearchParams): unknown {
    const symbol = this.checkSymbol(p.get('symbol'));
    const leverage = Number(p.get('leverage'));
    if (!Number.isInteger(leverage) || leverage < 1 || leverage > 125) refuse(-4028, `Leverage ${p.get('leverage')} is not valid`);
    this.leverage.set(symbol, leverage);
    return { leverage, maxNotionalValue: '1000000', symbol };
  }

  private unrealized(): Decimal {
    let total = ZERO;
    for (const [key, position] of this.positions) {
      total = total.plus(this.mark(key.split(':')[0] as string).minus(position.entryPrice).mul(position.amount));
    }
    return total;
  }

  /** Initial margin held by positions (at the mark) and by resting opening orders. */
  private initialMargin(): Decimal {
    let total = ZERO;
    for (const [key, position] of this.positions) {
      const symbol = key.split(':')[0] as string;
      total = total.plus(position.amount.abs().mul(this.mark(symbol)).div(this.leverage.get(symbol) ?? 20));
    }
    for (const order of this.orders.values()) {
      if ((order.status === 'NEW' || order.status === 'PARTIALLY_FILLED') && !order.reduceOnly && !this.reduces(order.symbol, order.positionSide, order.side)) {
        total = total.plus(order.origQty.minus(order.executedQty).mul(order.price).div(this.leverage.get(order.symbol) ?? 20));
      }
    }
    return total;
  }

  private available(): Decimal {
    return this.wallet.plus(this.unrealized()).minus(this.initialMargin());
  }

  private account(): unknown {
    const unrealized = this.unrealized();
    const margin = this.initialMargin();
    const available = this.available().toFixed(8);
    return {
      totalInitialMargin: margin.toFixed(8), totalMaintMargin: '0.00000000', totalWalletBalance: this.wallet.toFixed(8),
      totalUnrealizedProfit: unrealized.toFixed(8), totalMarginBalance: this.wallet.plus(unrealized).toFixed(8),
      totalPositionInitialMargin: margin.toFixed(8), totalOpenOrderInitialMargin: '0.00000000',
      totalCrossWalletBalance: this.wallet.toFixed(8), totalCrossUnPnl: unrealized.toFixed(8), availableBalance: available, maxWithdrawAmount: available,
      assets: [{
        asset: 'USDT', walletBalance: this.wallet.toFixed(8), unrealizedProfit: unrealized.toFixed(8), marginBalance: this.wallet.plus(unrealized).toFixed(8),
        maintMargin: '0.00000000', initialMargin: margin.toFixed(8), positionInitialMargin: margin.toFixed(8), openOrderInitialMargin: '0.00000000',
        crossWalletBalance: this.wallet.toFixed(8), crossUnPnl: unrealized.toFixed(8), availableBalance: available, maxWithdrawAmount: available,
        updateTime: this.serverTime(),
      }],
      positions: [],
    };
  }

  private balance(): unknown {
    const available = this.available().toFixed(8);
    return [{
      accountAlias: 'SgsR', asset: 'USDT', balance: this.wallet.toFixed(8), crossWalletBalance: this.wallet.toFixed(8), crossUnPnl: this.unrealized().toFixed(8),
      availableBalance: available, maxWithdrawAmount: available, marginAvailable: true, updateTime: this.serverTime(),
    }];
  }

  private positionRows(symbols: string[]): Array<{ symbol: string; side: 'BOTH' | 'LONG' | 'SHORT'; position: FakePosition }> {
    const sides = this.hedge ? (['LONG', 'SHORT'] as const) : (['BOTH'] as const);
    return symbols.flatMap((symbol) => sides.map((side) => ({
      symbol, side, position: this.positions.get(`${symbol}:${side}`) ?? { amount: ZERO, entryPrice: ZERO },
    })));
  }

  private positionRiskV3(p: URLSearchParams): unknown {
    const symbols = p.get('symbol') ? [this.checkSymbol(p.get('symbol'))] : [...this.symbols.keys()];
    const busy = (symbol: string): boolean => [...this.orders.values()].some((o) => o.symbol === symbol && o.status === 'NEW') ||
      [...this.algos.values()].some((a) => a.symbol === symbol && a.algoStatus === 'NEW');
    // v3 lists only the symbols with a position or open orders.
    return this.positionRows(symbols).filter((r) => !r.position.amount.isZero() || busy(r.symbol)).map(({ symbol, side, position }) => {
      const mark = this.mark(symbol);
      const notional = position.amount.mul(mark);
      const margin = notional.abs().div(this.leverage.get(symbol) ?? 20);
      return {
        symbol, positionSide: side, positionAmt: position.amount.toFixed(), entryPrice: position.entryPrice.toFixed(), breakEvenPrice: position.entryPrice.toFixed(),
        markPrice: mark.toFixed(8), unRealizedProfit: mark.minus(position.entryPrice).mul(position.amount).toFixed(8), liquidationPrice: '0',
        isolatedMargin: '0', notional: notional.toFixed(8), marginAsset: 'USDT', isolatedWallet: '0', initialMargin: margin.toFixed(8),
        maintMargin: '0', positionInitialMargin: margin.toFixed(8), openOrderInitialMargin: '0', adl: 0, bidNotional: '0', askNotional: '0',
        updateTime: this.serverTime(),
      };
    });
  }

  private positionRiskV2(p: URLSearchParams): unknown {
    const symbols = p.get('symbol') ? [this.checkSymbol(p.get('symbol'))] : [...this.symbols.keys()];
    return this.positionRows(symbols).map(({ symbol, side, position }) => ({
      entryPrice: position.entryPrice.toFixed(), breakEvenPrice: position.entryPrice.toFixed(), marginType: this.marginType.get(symbol), isAutoAddMargin: 'false',
      isolatedMargin: '0.00000000', leverage: String(this.leverage.get(symbol)), liquidationPrice: '0', markPrice: this.mark(symbol).toFixed(8),
      maxNotionalValue: '3000000', positionAmt: position.amount.toFixed(), notional: position.amount.mul(this.mark(symbol)).toFixed(), isolatedWallet: '0',
      symbol, unRealizedProfit: this.mark(symbol).minus(position.entryPrice).mul(position.amount).toFixed(8), positionSide: side, updateTime: 0,
    }));
  }

  private leverageBracket(p: URLSearchParams): unknown {
    const symbol = p.get('symbol');
    if (symbol !== null) return { symbol: this.checkSymbol(symbol), notionalCoef: 1.5, brackets: DEFAULT_BRACKETS };
    return [...this.symbols.keys()].map((s) => ({ symbol: s, notionalCoef: 1.5, brackets: DEFAULT_BRACKETS }));
  }

  // ---- orders ----

  private newOrder(p: URLSearchParams): unknown {
    const symbol = this.checkSymbol(p.get('symbol'));
    const type = p.get('type') ?? '';
    if (CONDITIONAL.has(type)) refuse(-4120, 'Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.');
    if (type !== 'MARKET' && type !== 'LIMIT') refuse(-1116, 'Invalid orderType.');
    const side = this.sideParam(p);
    const positionSide = this.positionSideParam(p);
    const reduceOnly = this.reduceOnlyParam(p);
    const clientOrderId = p.get('newClientOrderId') ?? `web_${this.nextOrderId}`;
    this.checkClientId(clientOrderId, [...this.orders.values()].some((o) => o.clientOrderId === clientOrderId && (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED')));
    const spec = this.symbols.get(symbol) as FakeSymbol;
    const quantity = this.quantityParam(p, spec, type === 'MARKET');
    const price = type === 'LIMIT' ? this.priceParam(p, 'price', spec) : ZERO;
    const reference = type === 'LIMIT' ? price : this.mark(symbol);
    if (!reduceOnly && quantity.mul(reference).lt(spec.minNotional)) {
      refuse(-4164, `Order's notional must be no smaller than ${spec.minNotional} (unless you choose reduce only).`);
    }
    const reducing = reduceOnly || (this.hedge && this.closing(positionSide, side));
    if (reducing && !this.reduces(symbol, positionSide, side)) refuse(-2022, 'ReduceOnly Order is rejected.');
    if (!reducing && !this.reduces(symbol, positionSide, side)) {
      const needed = quantity.mul(reference).div(this.leverage.get(symbol) ?? 20);
      if (needed.gt(this.available())) refuse(-2019, 'Margin is insufficient.');
    }
    const now = this.serverTime();
    const order: FakeOrder = {
      orderId: this.nextOrderId++, clientOrderId, symbol, side, positionSide, type, status: 'NEW', price, origQty: quantity, executedQty: ZERO,
      cumQuote: ZERO, reduceOnly, timeInForce: type === 'LIMIT' ? (p.get('timeInForce') ?? 'GTC') : 'GTC', time: now, updateTime: now,
    };
    this.orders.set(order.orderId, order);
    this.tryFill(order, true);
    return this.orderWire(order);
  }

  private amendOrder(p: URLSearchParams): unknown {
    const order = this.findOrder(p, -2013, 'Order does not exist.');
    if (order.status !== 'NEW' || order.type !== 'LIMIT') refuse(-5027, 'No need to modify the order.');
    const spec = this.symbols.get(order.symbol) as FakeSymbol;
    order.origQty = this.quantityParam(p, spec, false);
    order.price = this.priceParam(p, 'price', spec);
    order.updateTime = this.serverTime();
    this.tryFill(order, true);
    return this.orderWire(order);
  }

  private cancelOrder(p: URLSearchParams): unknown {
    const order = this.findOrder(p, -2011, 'Unknown order sent.');
    if (order.status !== 'NEW' && order.status !== 'PARTIALLY_FILLED') refuse(-2011, 'Unknown order sent.');
    order.status = 'CANCELED';
    order.updateTime = this.serverTime();
    return this.orderWire(order);
  }

  private openOrders(p: URLSearchParams): unknown {
    const symbol = p.get('symbol');
    if (symbol !== null) this.checkSymbol(symbol);
    return [...this.orders.values()]
      .filter((o) => (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED') && (symbol === null || o.symbol === symbol))
      .map((o) => this.orderWire(o));
  }

  private findOrder(p: URLSearchParams, code: number, msg: string): FakeOrder {
    const symbol = this.checkSymbol(p.get('symbol'));
    const id = p.get('orderId');
    const client = p.get('origClientOrderId');
    if (id === null && client === null) refuse(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!");
    // A client id may be reused once its order has ended: the latest order under it is the one found.
    const found = [...this.orders.values()].reverse().find((o) => o.symbol === symbol && (id !== null ? String(o.orderId) === id : o.clientOrderId === client));
    return found ?? refuse(code, msg);
  }

  private orderWire(o: FakeOrder): unknown {
    const avg = o.executedQty.gt(0) ? o.cumQuote.div(o.executedQty) : ZERO;
    return {
      orderId: o.orderId, symbol: o.symbol, status: o.status, clientOrderId: o.clientOrderId, price: o.price.toFixed(), avgPrice: avg.toFixed(),
      origQty: o.origQty.toFixed(), executedQty: o.executedQty.toFixed(), cumQuote: o.cumQuote.toFixed(), timeInForce: o.timeInForce, type: o.type,
      reduceOnly: o.reduceOnly, closePosition: false, side: o.side, positionSide: o.positionSide, stopPrice: '0', workingType: 'CONTRACT_PRICE',
      priceProtect: false, origType: o.type, priceMatch: 'NONE', selfTradePreventionMode: 'EXPIRE_MAKER', goodTillDate: 0, time: o.time, updateTime: o.updateTime,
    };
  }

  // ---- algo orders ----

  private newAlgo(p: URLSearchParams): unknown {
    if (p.get('algoType') !== 'CONDITIONAL') refuse(-1116, 'Invalid algoType.');
    const symbol = this.checkSymbol(p.get('symbol'));
    const type = p.get('type') ?? '';
    if (!['STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET'].includes(type)) refuse(-1116, 'Invalid orderType.');
    const trailing = type === 'TRAILING_STOP_MARKET';
    const side = this.sideParam(p);
    const positionSide = this.positionSideParam(p);
    const closePosition = p.get('closePosition') === 'true';
    if (closePosition && (p.has('quantity') || p.has('reduceOnly'))) refuse(-1106, "Parameter 'quantity' or 'reduceOnly' sent when not required.");
    const reduceOnly = this.reduceOnlyParam(p);
    const clientAlgoId = p.get('clientAlgoId') ?? `algo_${this.nextAlgoId}`;
    this.checkClientId(clientAlgoId, [...this.algos.values()].some((a) => a.clientAlgoId === clientAlgoId && a.algoStatus === 'NEW'));
    const spec = this.symbols.get(symbol) as FakeSymbol;
    if (trailing && p.get('closePosition') === 'true') refuse(-1106, "Parameter 'closePosition' sent when not required.");
    const callbackRate = trailing ? new Decimal(p.get('callbackRate') ?? '0') : ZERO;
    if (trailing && (callbackRate.lt('0.1') || callbackRate.gt('10'))) refuse(-2007, 'Invalid callBack rate.');
    const triggerPrice = trailing ? ZERO : this.priceParam(p, 'triggerPrice', spec);
    const price = type === 'STOP' || type === 'TAKE_PROFIT' ? this.priceParam(p, 'price', spec) : ZERO;
    const quantity = closePosition ? ZERO : this.quantityParam(p, spec, false);
    // A reduce-only trigger (or, in hedge mode, one on the side it closes) must have a position on that side to reduce (-2022).
    if (!closePosition && (reduceOnly || (this.hedge && this.closing(positionSide, side))) && !this.reduces(symbol, positionSide, side)) {
      refuse(-2022, 'ReduceOnly Order is rejected.');
    }
    if (closePosition && [...this.algos.values()].some((a) => a.algoStatus === 'NEW' && a.closePosition && a.symbol === symbol &&
      a.side === side && a.positionSide === positionSide && a.orderType === type)) {
      refuse(-4130, 'An open stop or take profit order with GTE and closePosition in the direction is existing.');
    }
    const algo: FakeAlgo = {
      algoId: this.nextAlgoId++, clientAlgoId, symbol, side, positionSide, orderType: type, quantity, algoStatus: 'NEW', triggerPrice, price,
      timeInForce: p.get('timeInForce') ?? 'GTC', closePosition, reduceOnly, workingType: p.get('workingType') ?? 'CONTRACT_PRICE',
      priceProtect: p.get('priceProtect') === 'TRUE', actualOrderId: '', callbackRate, extreme: this.mark(symbol), createTime: this.serverTime(), updateTime: this.serverTime(), triggerTime: 0,
    };
    if (this.fires(algo, this.mark(symbol))) refuse(-2021, 'Order would immediately trigger.');
    this.algos.set(algo.algoId, algo);
    return this.algoWire(algo);
  }

  private cancelAlgo(p: URLSearchParams): unknown {
    const algo = this.findAlgo(p, -2011, 'Unknown order sent.');
    if (algo.algoStatus !== 'NEW') refuse(-2011, 'Unknown order sent.');
    algo.algoStatus = 'CANCELED';
    algo.updateTime = this.serverTime();
    return { algoId: algo.algoId, clientAlgoId: algo.clientAlgoId, code: '200', msg: 'success' };
  }

  private openAlgos(p: URLSearchParams): unknown {
    const symbol = p.get('symbol');
    return [...this.algos.values()].filter((a) => a.algoStatus === 'NEW' && (symbol === null || a.symbol === symbol)).map((a) => this.algoWire(a));
  }

  private findAlgo(p: URLSearchParams, code: number, msg: string): FakeAlgo {
    const id = p.get('algoId');
    const client = p.get('clientAlgoId');
    if (id === null && client === null) refuse(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!");
    const found = [...this.algos.values()].reverse().find((a) => (id !== null ? String(a.algoId) === id : a.clientAlgoId === client));
    return found ?? refuse(code, msg);
  }

  private algoWire(a: FakeAlgo): unknown {
    const actual = a.actualOrderId ? this.orders.get(Number(a.actualOrderId)) : undefined;
    return {
      algoId: a.algoId, clientAlgoId: a.clientAlgoId, algoType: 'CONDITIONAL', orderType: a.orderType, symbol: a.symbol, side: a.side,
      positionSide: a.positionSide, timeInForce: a.timeInForce, quantity: a.quantity.toFixed(), algoStatus: a.algoStatus,
      actualOrderId: a.actualOrderId, actualPrice: actual && actual.executedQty.gt(0) ? actual.cumQuote.div(actual.executedQty).toFixed() : '0.00000',
      actualType: a.orderType.endsWith('_MARKET') ? 'MARKET' : 'LIMIT', actualQty: actual ? actual.executedQty.toFixed() : '0',
      triggerPrice: a.orderType === 'TRAILING_STOP_MARKET' ? '' : a.triggerPrice.toFixed(2), price: a.price.toFixed(2),
      activatePrice: '', callbackRate: a.orderType === 'TRAILING_STOP_MARKET' ? a.callbackRate.toFixed() : '', icebergQuantity: 'null', tpOrderType: '', selfTradePreventionMode: 'EXPIRE_MAKER',
      workingType: a.workingType, priceMatch: 'NONE', closePosition: a.closePosition, priceProtect: a.priceProtect, reduceOnly: a.reduceOnly,
      createTime: a.createTime, updateTime: a.updateTime, triggerTime: a.triggerTime, goodTillDate: 0,
    };
  }

  /**
   * GET /fapi/v1/income as Binance answers it: oldest first from startTime, `limit` rows (100 unless asked,
   * at most 1,000); with neither startTime nor endTime, the last 7 days.
   */
  private incomeHistory(p: URLSearchParams): unknown {
    const limit = this.limitParam(p, 100, 1_000);
    const now = this.serverTime();
    const hasStart = p.has('startTime');
    const hasEnd = p.has('endTime');
    const start = hasStart ? Number(p.get('startTime')) : hasEnd ? 0 : now - WEEK_MS;
    const end = hasEnd ? Number(p.get('endTime')) : Number.MAX_SAFE_INTEGER;
    const type = p.get('incomeType');
    if (type !== null && type !== 'FUNDING_FEE') return [];
    return this.income.filter((i) => i.time >= start && i.time <= end).sort((a, b) => a.time - b.time).slice(0, limit).map((i) => ({
      symbol: i.symbol, incomeType: 'FUNDING_FEE', income: i.income.toFixed(8), asset: 'USDT', info: 'FUNDING_FEE', time: i.time, tranId: i.tranId, tradeId: '',
    }));
  }

  /**
   * GET /fapi/v1/userTrades with Binance's limits: 500 rows unless asked (at most 1,000), oldest first; startTime
   * and endTime at most 7 days apart (-1127), one alone meaning 7 days from (or to) it, neither the last 7 days;
   * fromId (trades from that id on) never with a time (-1128); nothing older than 6 months.
   */
  private userTrades(p: URLSearchParams): unknown {
    const symbol = this.checkSymbol(p.get('symbol'));
    const limit = this.limitParam(p, 500, 1_000);
    const now = this.serverTime();
    const hasStart = p.has('startTime');
    const hasEnd = p.has('endTime');
    let rows: FakeTrade[];
    if (p.has('fromId')) {
      if (hasStart || hasEnd) refuse(-1128, 'Combination of optional parameters invalid.');
      const fromId = Number(p.get('fromId'));
      rows = this.trades.filter((t) => t.symbol === symbol && t.id >= fromId);
    } else {
      let start = Number(p.get('startTime'));
      let end = Number(p.get('endTime'));
      if (hasStart && hasEnd && end - start > WEEK_MS) refuse(-1127, 'More than 168 hours between startTime and endTime.');
      if (!hasStart && !hasEnd) { end = now; start = now - WEEK_MS; }
      else if (!hasEnd) end = start + WEEK_MS;
      else if (!hasStart) start = end - WEEK_MS;
      if (start < now - HISTORY_MS) refuse(-1127, 'startTime is more than 6 months ago: only the last 6 months of trades can be queried.');
      rows = this.trades.filter((t) => t.symbol === symbol && t.time >= start && t.time <= end);
    }
    return rows.sort((a, b) => a.id - b.id).slice(0, limit).map((t) => ({
      buyer: t.side === 'BUY', commission: t.commission.toFixed(8), commissionAsset: 'USDT', id: t.id, maker: false, orderId: t.orderId,
      price: t.price.toFixed(), qty: t.qty.toFixed(), quoteQty: t.price.mul(t.qty).toFixed(), realizedPnl: '0', side: t.side,
      positionSide: 'BOTH', symbol: t.symbol, time: t.time,
    }));
  }

  private limitParam(p: URLSearchParams, byDefault: number, max: number): number {
    if (!p.has('limit')) return byDefault;
    const limit = Number(p.get('limit'));
    if (!Number.isInteger(limit) || limit < 1 || limit > max) refuse(-1130, "Data sent for parameter 'limit' is not valid.");
    return limit;
  }

  // ---- matching ----

  private fires(algo: FakeAlgo, price: Decimal): boolean {
    if (algo.orderType === 'TRAILING_STOP_MARKET') {
      // A sell trail follows the highest price since placement and fires callbackRate % below it; a buy trail mirrors it.
      const sell = algo.side === 'SELL';
      algo.extreme = sell ? Decimal.max(algo.extreme, price) : Decimal.min(algo.extreme, price);
      const distance = algo.extreme.mul(algo.callbackRate).div(100);
      return sell ? price.lte(algo.extreme.minus(distance)) : price.gte(algo.extreme.plus(distance));
    }
    const stopLike = algo.orderType === 'STOP' || algo.orderType === 'STOP_MARKET';
    const rising = (algo.side === 'BUY') === stopLike;
    return rising ? price.gte(algo.triggerPrice) : price.lte(algo.triggerPrice);
  }

  private match(symbol: string): void {
    const price = this.mark(symbol);
    for (const algo of this.algos.values()) {
      if (algo.symbol === symbol && algo.algoStatus === 'NEW' && this.fires(algo, price)) this.trigger(algo);
    }
    for (const order of this.orders.values()) {
      if (order.symbol === symbol && order.status === 'NEW') this.tryFill(order);
    }
  }

  /** The algo order becomes a plain order; a closePosition one for the whole position on its side at that moment. */
  private trigger(algo: FakeAlgo): void {
    const now = this.serverTime();
    algo.triggerTime = now;
    algo.updateTime = now;
    let quantity = algo.quantity;
    if (algo.closePosition) {
      const amount = this.positionAmount(algo.symbol, algo.positionSide);
      quantity = this.reduces(algo.symbol, algo.positionSide, algo.side) ? amount.abs() : ZERO;
      if (quantity.isZero()) {
        algo.algoStatus = 'EXPIRED';
        return;
      }
    }
    const market = algo.orderType.endsWith('_MARKET');
    const order: FakeOrder = {
      orderId: this.nextOrderId++, clientOrderId: `autoalgo_${algo.algoId}`, symbol: algo.symbol, side: algo.side, positionSide: algo.positionSide,
      type: market ? 'MARKET' : 'LIMIT', status: 'NEW', price: market ? ZERO : algo.price, origQty: quantity, executedQty: ZERO, cumQuote: ZERO,
      reduceOnly: algo.reduceOnly || algo.closePosition, timeInForce: algo.timeInForce, time: now, updateTime: now,
    };
    this.orders.set(order.orderId, order);
    algo.actualOrderId = String(order.orderId);
    algo.algoStatus = 'FINISHED';
    this.tryFill(order, true);
  }

  /**
   * Market orders fill at the mark. A limit that is marketable when placed fills at the better of its limit and
   * the mark; a resting one fills at its limit once the mark reaches it.
   */
  private tryFill(order: FakeOrder, placing = false): void {
    const mark = this.mark(order.symbol);
    let price: Decimal;
    if (order.type === 'MARKET') price = mark;
    else if (order.side === 'BUY' ? mark.lte(order.price) : mark.gte(order.price)) price = placing ? mark : order.price;
    else return;
    let quantity = order.origQty.minus(order.executedQty);
    if (order.reduceOnly || (this.hedge && this.closing(order.positionSide, order.side))) {
      const held = this.reduces(order.symbol, order.positionSide, order.side) ? this.positionAmount(order.symbol, order.positionSide).abs() : ZERO;
      quantity = Decimal.min(quantity, held);
      if (quantity.isZero()) {
        order.status = 'EXPIRED';
        return;
      }
    }
    this.applyFill(order, quantity, price);
  }

  private applyFill(order: FakeOrder, quantity: Decimal, price: Decimal): void {
    const key = `${order.symbol}:${order.positionSide}`;
    const position = this.positions.get(key) ?? { amount: ZERO, entryPrice: ZERO };
    const signed = order.side === 'BUY' ? quantity : quantity.neg();
    const next = position.amount.plus(signed);
    if (position.amount.isZero() || position.amount.isPositive() === signed.isPositive()) {
      position.entryPrice = position.amount.abs().mul(position.entryPrice).plus(quantity.mul(price)).div(next.abs());
    } else {
      const closed = Decimal.min(quantity, position.amount.abs());
      const pnl = price.minus(position.entryPrice).mul(closed).mul(position.amount.isPositive() ? 1 : -1);
      this.wallet = this.wallet.plus(pnl);
      if (!next.isZero() && next.isPositive() !== position.amount.isPositive()) position.entryPrice = price;
    }
    position.amount = next;
    if (next.isZero()) this.positions.delete(key);
    else this.positions.set(key, position);
    const fee = quantity.mul(price).mul(this.feeRate);
    this.wallet = this.wallet.minus(fee);
    order.executedQty = order.executedQty.plus(quantity);
    order.cumQuote = order.cumQuote.plus(quantity.mul(price));
    order.status = order.executedQty.gte(order.origQty) ? 'FILLED' : 'PARTIALLY_FILLED';
    if (order.status === 'PARTIALLY_FILLED' && order.reduceOnly) order.status = 'FILLED';
    order.updateTime = this.serverTime();
    this.trades.push({ id: this.nextTradeId++, orderId: order.orderId, symbol: order.symbol, side: order.side, price, qty: quantity, commission: fee, time: order.updateTime });
  }

  // ---- parameters ----

  private mark(symbol: string): Decimal {
    return this.marks.get(symbol) ?? ZERO;
  }

  private checkSymbol(symbol: string | null): string {
    if (symbol === null || !this.symbols.has(symbol)) refuse(-1121, 'Invalid symbol.');
    return symbol as string;
  }

  private sideParam(p: URLSearchParams): 'BUY' | 'SELL' {
    const side = p.get('side');
    if (side !== 'BUY' && side !== 'SELL') refuse(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.");
    return side as 'BUY' | 'SELL';
  }

  private positionSideParam(p: URLSearchParams): 'BOTH' | 'LONG' | 'SHORT' {
    const side = p.get('positionSide') ?? 'BOTH';
    const allowed = this.hedge ? ['LONG', 'SHORT'] : ['BOTH'];
    if (!allowed.includes(side)) refuse(-4061, "Order's position side does not match user's setting.");
    return side as 'BOTH' | 'LONG' | 'SHORT';
  }

  private reduceOnlyParam(p: URLSearchParams): boolean {
    if (!p.has('reduceOnly')) return false;
    if (this.hedge) refuse(-1106, "Parameter 'reduceonly' sent when not required.");
    return p.get('reduceOnly') === 'true';
  }

  private checkClientId(id: string, duplicate: boolean): void {
    if (!CLIENT_ID.test(id)) refuse(-4015, 'Client order id is not valid.');
    if (duplicate) refuse(-4116, 'ClientOrderId is duplicated.');
  }

  private quantityParam(p: URLSearchParams, spec: FakeSymbol, market: boolean): Decimal {
    const text = p.get('quantity');
    if (text === null || !/^\d+(\.\d+)?$/.test(text)) refuse(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.");
    const quantity = new Decimal(text as string);
    if (!quantity.mod(spec.stepSize).isZero()) refuse(-1111, 'Precision is over the maximum defined for this asset.');
    if (quantity.lt(market ? (spec.marketMinQty ?? spec.minQty) : spec.minQty)) refuse(-4003, 'Quantity less than or equal to zero.');
    return quantity;
  }

  private priceParam(p: URLSearchParams, name: string, spec: FakeSymbol): Decimal {
    const text = p.get(name);
    if (text === null || !/^\d+(\.\d+)?$/.test(text)) refuse(-1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
    const price = new Decimal(text as string);
    if (!price.mod(spec.tickSize).isZero()) refuse(-4014, 'Price not increased by tick size.');
    return price;
  }

  /** In hedge mode a sell on LONG (a buy on SHORT) closes: it can only reduce that side. */
  private closing(positionSide: 'BOTH' | 'LONG' | 'SHORT', side: 'BUY' | 'SELL'): boolean {
    return (positionSide === 'LONG' && side === 'SELL') || (positionSide === 'SHORT' && side === 'BUY');
  }

  /** Whether an order of this side trades against a position actually held on that position side. */
  private reduces(symbol: string, positionSide: 'BOTH' | 'LONG' | 'SHORT', side: 'BUY' | 'SELL'): boolean {
    const amount = this.positionAmount(symbol, positionSide);
    if (amount.isZero()) return false;
    if (positionSide !== 'BOTH') return this.closing(positionSide, side);
    return side === 'BUY' ? amount.isNegative() : amount.isPositive();
  }
}
