// A stateful fake of Zerodha Kite Connect v3 for msw: its wire format (built after the vendor's example answers), token auth, orders, GTTs.
//
// What it does as Kite does: `Authorization: token api_key:access_token` and `X-Kite-Version: 3` on every call
// (403 TokenException otherwise, or once expireToken() ran: the 6 AM expiry); form bodies for orders and GTTs,
// JSON for the order margins API; the {status:"success", data} / {status:"error", message, error_type} envelopes;
// instruments as a CSV per exchange (tick and lot sizes), lot multiples and ticks enforced (InputException);
// MARKET and SL-M orders refused without market_protection (the SEBI 2026 text); tags of at most 20 alphanumerics,
// never unique-checked; funds and holdings checked after the order is taken: the order turns REJECTED with the RMS
// text, as the vendor's orders example shows; GTT single and two-leg triggers (JSON strings in the form, ascending
// trigger values around last_price) that place a LIMIT order when the price crosses them, the untouched leg of a
// two-leg GTT dropped with it (Kite's one-cancels-other). Market orders fill at the price set with setPrice.
import { delay, http, HttpResponse } from 'msw';
import type { RequestHandler } from 'msw';
import { Decimal } from '../../src/domain/money.ts';
import type { InjectableError } from '../contract/suite.ts';

export const KITE_FAKE_URL = 'https://api.kite.test';
export const KITE_FAKE_API_KEY = 'kitefakeapikey01';
export const KITE_FAKE_ACCESS_TOKEN = 'kitefakeaccesstoken7f3a91c2';

export interface FakeKiteInstrument {
  exchange: 'NSE' | 'BSE' | 'NFO';
  tradingsymbol: string;
  tickSize: string;
  lotSize: string;
  price: string;
  instrumentType?: string;
}

export interface KiteFakeOptions {
  baseUrl?: string;
  apiKey?: string;
  accessToken?: string;
  /** Opening cash of the equity segment, INR. */
  cash?: string;
  instruments?: FakeKiteInstrument[];
  /** CNC holdings carried from earlier days: 'NSE:INFY' → quantity at price. */
  holdings?: Record<string, { quantity: string; averagePrice: string }>;
}

export interface RecordedKiteRequest {
  method: string;
  path: string;
  /** The form fields (or the query for a GET). */
  form: Record<string, string>;
  json: unknown;
  authenticated: boolean;
}

type Product = 'CNC' | 'MIS' | 'NRML';
const LEVERAGE: Record<Product, number> = { CNC: 1, MIS: 5, NRML: 1 };

interface FakeOrder {
  order_id: string;
  tag: string | null;
  exchange: string;
  tradingsymbol: string;
  transaction_type: 'BUY' | 'SELL';
  order_type: 'MARKET' | 'LIMIT' | 'SL' | 'SL-M';
  product: Product;
  variety: string;
  validity: string;
  quantity: Decimal;
  price: Decimal;
  trigger_price: Decimal;
  average_price: Decimal;
  filled_quantity: Decimal;
  market_protection: number;
  status: string;
  status_message: string | null;
  triggered: boolean;
  order_timestamp: string;
  exchange_update_timestamp: string | null;
  meta: Record<string, unknown>;
  history: Array<Record<string, unknown>>;
}

interface FakeGttOrder {
  exchange: string;
  tradingsymbol: string;
  transaction_type: 'BUY' | 'SELL';
  quantity: Decimal;
  order_type: string;
  product: Product;
  price: Decimal;
  result: Record<string, unknown> | null;
}

interface FakeGtt {
  id: number;
  type: 'single' | 'two-leg';
  status: string;
  exchange: string;
  tradingsymbol: string;
  triggers: Decimal[];
  lastPrice: Decimal;
  orders: FakeGttOrder[];
  created_at: string;
  updated_at: string;
}

interface FakePosition {
  quantity: Decimal;
  averagePrice: Decimal;
  realised: Decimal;
}

interface FakeTrade {
  trade_id: string;
  order_id: string;
  exchange: string;
  tradingsymbol: string;
  product: Product;
  transaction_type: 'BUY' | 'SELL';
  quantity: Decimal;
  average_price: Decimal;
  fill_timestamp: string;
}

interface Failure {
  status: number;
  errorType?: string;
  message?: string;
  /** network: the connection fails; timeout: no answer, nothing done; lost: done at Kite, the answer never arrives. */
  kind?: 'network' | 'timeout' | 'lost';
  /** The placement it hits: POST /orders/regular unless told (POST /gtt/triggers). */
  path?: '/orders/regular' | '/gtt/triggers';
  /** Carried out at Kite first, then answered with this failure (a 5xx, or a dropped connection): the unforgiving case. */
  afterExecution?: boolean;
}

class KiteRefusal extends Error {
  constructor(readonly status: number, readonly errorType: string, message: string) {
    super(message);
  }
}

const DEFAULT_INSTRUMENTS: FakeKiteInstrument[] = [
  { exchange: 'NSE', tradingsymbol: 'INFY', tickSize: '0.05', lotSize: '1', price: '1500' },
  { exchange: 'NSE', tradingsymbol: 'SBIN', tickSize: '0.05', lotSize: '1', price: '800' },
  { exchange: 'BSE', tradingsymbol: 'INFY', tickSize: '0.05', lotSize: '1', price: '1500' },
  { exchange: 'NFO', tradingsymbol: 'NIFTY26DECFUT', tickSize: '0.1', lotSize: '75', price: '24000', instrumentType: 'FUT' },
];

/** Kite writes times in IST without a zone. */
function kiteTime(at: Date): string {
  return new Date(at.getTime() + 5.5 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** A Decimal as a JSON number in Kite's answers (they carry prices as numbers). */
function num(d: Decimal): number {
  return d.toNumber();
}

export class KiteFake {
  readonly handlers: RequestHandler[];
  readonly requests: RecordedKiteRequest[] = [];

  private readonly baseUrl: string;
  private readonly apiKey: string;
  private accessToken: string;
  private readonly openingCash: Decimal;
  private readonly instruments = new Map<string, FakeKiteInstrument>();
  private readonly prices = new Map<string, Decimal>();
  private readonly orders = new Map<string, FakeOrder>();
  private readonly gtts = new Map<number, FakeGtt>();
  private readonly positions = new Map<string, FakePosition>();
  private readonly holdings = new Map<string, { quantity: Decimal; averagePrice: Decimal }>();
  private readonly trades: FakeTrade[] = [];
  private readonly failures: Failure[] = [];
  private nextOrder = 250_101_000_000_001n;
  private nextTrade = 10_000_001;
  private nextGtt = 105_100;
  private tokenExpired = false;

  constructor(private readonly options: KiteFakeOptions = {}) {
    this.baseUrl = options.baseUrl ?? KITE_FAKE_URL;
    this.apiKey = options.apiKey ?? KITE_FAKE_API_KEY;
    this.accessToken = options.accessToken ?? KITE_FAKE_ACCESS_TOKEN;
    this.openingCash = new Decimal(options.cash ?? '1000000');
    this.reset();
    this.handlers = this.buildHandlers();
  }

  /** A fresh account: opening cash, the instruments at their prices, no orders, GTTs, positions or trades. */
  reset(): void {
    this.instruments.clear();
    this.prices.clear();
    this.orders.clear();
    this.gtts.clear();
    this.positions.clear();
    this.holdings.clear();
    this.trades.length = 0;
    this.failures.length = 0;
    this.requests.length = 0;
    this.tokenExpired = false;
    for (const i of this.options.instruments ?? DEFAULT_INSTRUMENTS) {
      this.instruments.set(`${i.exchange}:${i.tradingsymbol}`, i);
      this.prices.set(`${i.exchange}:${i.tradingsymbol}`, new Decimal(i.price));
    }
    for (const [key, h] of Object.entries(this.options.holdings ?? {})) {
      this.holdings.set(key, { quantity: new Decimal(h.quantity), averagePrice: new Decimal(h.averagePrice) });
    }
  }

  /** The 6 AM expiry: every call now answers 403 TokenException until a new token is issued. */
  expireToken(): void {
    this.tokenExpired = true;
  }

  /** A new access token from the login flow (the old one stays refused). */
  issueToken(token: string): void {
    this.accessToken = token;
    this.tokenExpired = false;
  }

  /** The last price of 'NSE:INFY' (a bare symbol is on NSE); resting orders and GTTs react before this returns. */
  setPrice(symbol: string, price: string): void {
    const key = symbol.includes(':') ? symbol : `NSE:${symbol}`;
    if (!this.instruments.has(key)) throw new Error(`kite fake: unknown instrument ${key}`);
    this.prices.set(key, new Decimal(price));
    this.match(key);
  }

  failNext(failure: Failure): void {
    this.failures.push(failure);
  }

  /** The next POST /orders/regular fails as Kite signals `kind`. */
  inject(kind: InjectableError): boolean {
    switch (kind) {
      case 'authentication': this.failNext({ status: 403, errorType: 'TokenException', message: 'Incorrect `api_key` or `access_token`.' }); return true;
      case 'insufficient_funds': this.failNext({ status: 400, errorType: 'MarginException', message: 'Insufficient funds. Required margin is 95417.84 but available margin is 74251.80.' }); return true;
      case 'invalid_symbol': this.failNext({ status: 400, errorType: 'InputException', message: 'Invalid `tradingsymbol`. The instrument does not exist.' }); return true;
      case 'order_rejected': this.failNext({ status: 400, errorType: 'OrderException', message: 'Your order price is lower than the current lower circuit limit of 70.65. Place an order within the daily range.' }); return true;
      case 'market_closed': this.failNext({ status: 400, errorType: 'InputException', message: 'Markets are closed right now. Use GTT for placing long standing orders instead.' }); return true;
      case 'rate_limited': this.failNext({ status: 429, errorType: 'NetworkException', message: 'Too many requests' }); return true;
      case 'unavailable': this.failNext({ status: 503, errorType: 'NetworkException', message: 'Gateway timed out. Please try again.' }); return true;
      case 'network': this.failNext({ status: 0, kind: 'network' }); return true;
      case 'timeout': this.failNext({ status: 0, kind: 'timeout' }); return true;
      case 'unavailable_after_execution': this.failNext({ status: 503, errorType: 'NetworkException', message: 'Gateway timed out. Please try again.', afterExecution: true }); return true;
      case 'network_after_execution': this.failNext({ status: 0, kind: 'network', afterExecution: true }); return true;
      case 'unknown_status_after_execution': this.failNext({ status: 0, kind: 'lost' }); return true;
    }
  }

  calls(path: string | RegExp, method?: string): RecordedKiteRequest[] {
    return this.requests.filter((r) => (typeof path === 'string' ? r.path === path : path.test(r.path)) && (method === undefined || r.method === method));
  }

  positionQuantity(symbol: string, product: Product = 'CNC'): Decimal {
    const key = symbol.includes(':') ? symbol : `NSE:${symbol}`;
    return this.positions.get(`${key}:${product}`)?.quantity ?? new Decimal(0);
  }

  activeGtts(): Array<{ id: number; type: string; triggers: string[]; prices: string[] }> {
    return [...this.gtts.values()].filter((g) => g.status === 'active')
      .map((g) => ({ id: g.id, type: g.type, triggers: g.triggers.map((t) => t.toFixed()), prices: g.orders.map((o) => o.price.toFixed()) }));
  }

  gttStatus(id: number): string | undefined {
    return this.gtts.get(id)?.status;
  }

  // ---- HTTP ----------------------------------------------------------------------------------------------------

  private buildHandlers(): RequestHandler[] {
    const url = (path: string): string => `${this.baseUrl}${path}`;
    const route = (fn: (req: Request, params: Record<string, string>, form: Record<string, string>) => unknown | Promise<unknown>) =>
      async ({ request, params }: { request: Request; params: Record<string, string | readonly string[] | undefined> }) => {
        const flat: Record<string, string> = {};
        for (const [k, v] of Object.entries(params)) if (typeof v === 'string') flat[k] = v;
        return this.serve(request, flat, fn);
      };
    return [
      http.get(url('/user/profile'), route(() => ({ user_id: 'XX0000', user_name: 'Kite Connect', broker: 'ZERODHA', exchanges: ['NSE', 'BSE', 'NFO'], products: ['CNC', 'NRML', 'MIS'] }))),
      http.get(url('/user/margins'), route(() => this.userMargins())),
      http.get(url('/instruments/:exchange'), async ({ request, params }) => {
        const denied = this.authFailure(request);
        this.record(request, {}, undefined, denied === undefined);
        if (denied) return denied;
        return new HttpResponse(this.instrumentsCsv(String(params.exchange)), { status: 200, headers: { 'content-type': 'text/csv' } });
      }),
      http.get(url('/quote/ltp'), route((req) => this.ltp(new URL(req.url).searchParams.getAll('i')))),
      http.get(url('/portfolio/positions'), route(() => this.positionsAnswer())),
      http.get(url('/portfolio/holdings'), route(() => this.holdingsAnswer())),
      http.get(url('/orders'), route(() => [...this.orders.values()].map((o) => this.wireOrder(o)))),
      http.get(url('/orders/:id'), route((_r, p) => this.orderHistory(p.id ?? ''))),
      http.post(url('/orders/:variety'), route((req, p, form) => this.placeOrder(req, p.variety ?? '', form))),
      http.put(url('/orders/:variety/:id'), route((req, p, form) => this.modifyOrder(req, p.id ?? '', form))),
      http.delete(url('/orders/:variety/:id'), route((_r, p) => this.cancelOrder(p.id ?? ''))),
      http.get(url('/trades'), route(() => this.trades.map((t) => ({
        trade_id: t.trade_id, order_id: t.order_id, exchange: t.exchange, tradingsymbol: t.tradingsymbol, instrument_token: 408065, product: t.product,
        average_price: num(t.average_price), quantity: num(t.quantity), exchange_order_id: `13${t.order_id}`, transaction_type: t.transaction_type,
        fill_timestamp: t.fill_timestamp, order_timestamp: t.fill_timestamp.slice(11), exchange_timestamp: t.fill_timestamp,
      })))),
      http.get(url('/gtt/triggers'), route(() => [...this.gtts.values()].filter((g) => g.status !== 'deleted').map((g) => this.wireGtt(g)))),
      http.post(url('/gtt/triggers'), route((req, _p, form) => this.writeGtt(req, form, undefined))),
      http.get(url('/gtt/triggers/:id'), route((_r, p) => this.wireGtt(this.gttOr404(p.id ?? '')))),
      http.put(url('/gtt/triggers/:id'), route((req, p, form) => this.writeGtt(req, form, this.gttOr404(p.id ?? '')))),
      http.delete(url('/gtt/triggers/:id'), route((_r, p) => this.deleteGtt(this.gttOr404(p.id ?? '')))),
      http.post(url('/margins/orders'), route((req) => this.orderMargins(req))),
    ];
  }

  private async serve(request: Request, params: Record<string, string>, fn: (req: Request, params: Record<string, string>, form: Record<string, string>) => unknown): Promise<Response> {
    const type = request.headers.get('content-type') ?? '';
    const text = request.method === 'GET' || request.method === 'DELETE' ? '' : await request.clone().text();
    const form: Record<string, string> = {};
    let json: unknown;
    if (type.includes('application/x-www-form-urlencoded')) for (const [k, v] of new URLSearchParams(text)) form[k] = v;
    else if (type.includes('application/json')) json = JSON.parse(text);
    else for (const [k, v] of new URL(request.url).searchParams) form[k] = v;
    const denied = this.authFailure(request);
    this.record(request, form, json, denied === undefined);
    if (denied) return denied;
    const path = new URL(request.url).pathname;
    let lost = false;
    const next = this.failures[0];
    if (request.method === 'POST' && next && (next.path ?? '/orders/regular') === (path.startsWith('/orders/') ? '/orders/regular' : path)) {
      const failure = this.failures.shift() as Failure;
      if (failure.afterExecution) {
        await fn(request, params, form);
        if (failure.kind === 'network') return HttpResponse.error();
        return this.error(failure.status, failure.errorType ?? 'GeneralException', failure.message ?? 'An unexpected error occurred.');
      }
      if (failure.kind === 'network') return HttpResponse.error();
      if (failure.kind === 'timeout') await delay('infinite');
      if (failure.kind === 'lost') lost = true;
      else return this.error(failure.status, failure.errorType ?? 'GeneralException', failure.message ?? 'An unexpected error occurred.');
    }
    try {
      const data = await fn(request, params, form);
      if (lost) await delay('infinite');
      return HttpResponse.json({ status: 'success', data });
    } catch (error) {
      if (error instanceof KiteRefusal) return this.error(error.status, error.errorType, error.message);
      throw error;
    }
  }

  private authFailure(request: Request): Response | undefined {
    const expected = `token ${this.apiKey}:${this.accessToken}`;
    if (request.headers.get('x-kite-version') !== '3') return this.error(400, 'InputException', 'Invalid or missing `X-Kite-Version` header.');
    if (this.tokenExpired || request.headers.get('authorization') !== expected) {
      return this.error(403, 'TokenException', 'Incorrect `api_key` or `access_token`.');
    }
    return undefined;
  }

  private record(request: Request, form: Record<string, string>, json: unknown, authenticated: boolean): void {
    this.requests.push({ method: request.method, path: new URL(request.url).pathname, form, json, authenticated });
  }

  private error(status: number, errorType: string, message: string): Response {
    return HttpResponse.json({ status: 'error', message, data: null, error_type: errorType }, { status });
  }

  // ---- account ----------------------------------------------------------------------------------------------------

  /** What open positions block (their cost over the product's leverage) and what they gained or lost. */
  private usage(): { debits: Decimal; realised: Decimal; unrealised: Decimal } {
    let debits = new Decimal(0);
    let realised = new Decimal(0);
    let unrealised = new Decimal(0);
    for (const [key, p] of this.positions) {
      const [exchange, symbol, product] = key.split(':') as [string, string, Product];
      debits = debits.plus(p.quantity.abs().mul(p.averagePrice).div(LEVERAGE[product]));
      realised = realised.plus(p.realised);
      const last = this.prices.get(`${exchange}:${symbol}`) ?? p.averagePrice;
      unrealised = unrealised.plus(last.minus(p.averagePrice).mul(p.quantity));
    }
    return { debits, realised, unrealised };
  }

  private net(): Decimal {
    const { debits, realised } = this.usage();
    return this.openingCash.plus(realised).minus(debits);
  }

  private userMargins(): unknown {
    const { debits, realised, unrealised } = this.usage();
    const net = this.net();
    const segment = (cash: Decimal, netValue: Decimal, used: Decimal, m2mR: Decimal, m2mU: Decimal) => ({
      enabled: true, net: num(netValue),
      available: { adhoc_margin: 0, cash: num(cash), opening_balance: num(cash), live_balance: num(netValue), collateral: 0, intraday_payin: 0 },
      utilised: {
        debits: num(used), exposure: 0, m2m_realised: num(m2mR), m2m_unrealised: num(m2mU), option_premium: 0, payout: 0, span: 0, holding_sales: 0,
        turnover: 0, liquid_collateral: 0, stock_collateral: 0, delivery: num(used),
      },
    });
    const zero = new Decimal(0);
    return { equity: segment(this.openingCash, net, debits, realised, unrealised), commodity: segment(zero, zero, zero, zero, zero) };
  }

  private instrumentsCsv(exchange: string): string {
    const header = 'instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange';
    const rows = [...this.instruments.values()].filter((i) => i.exchange === exchange).map((i, n) => {
      const type = i.instrumentType ?? 'EQ';
      const segment = i.exchange === 'NFO' ? 'NFO-FUT' : i.exchange;
      return `${408065 + n},${1594 + n},${i.tradingsymbol},"${i.tradingsymbol}, LTD.",0,${type === 'FUT' ? '2026-12-29' : ''},0,${i.tickSize},${i.lotSize},${type},${segment},${i.exchange}`;
    });
    return `${header}\n${rows.join('\n')}\n`;
  }

  private ltp(keys: string[]): unknown {
    const data: Record<string, unknown> = {};
    keys.forEach((key, n) => {
      const price = this.prices.get(key);
      if (price) data[key] = { instrument_token: 408065 + n, last_price: num(price) };
    });
    return data;
  }

  private positionsAnswer(): unknown {
    const net = [...this.positions.entries()].map(([key, p]) => {
      const [exchange, tradingsymbol, product] = key.split(':') as [string, string, Product];
      const last = this.prices.get(`${exchange}:${tradingsymbol}`) ?? p.averagePrice;
      const unrealised = last.minus(p.averagePrice).mul(p.quantity);
      return {
        tradingsymbol, exchange, instrument_token: 408065, product, quantity: num(p.quantity), overnight_quantity: 0, multiplier: 1,
        average_price: num(p.averagePrice), close_price: 0, last_price: num(last), value: num(p.quantity.mul(p.averagePrice).neg()),
        pnl: num(unrealised.plus(p.realised)), m2m: num(unrealised), unrealised: num(unrealised), realised: num(p.realised),
        buy_quantity: 0, buy_price: 0, buy_value: 0, buy_m2m: 0, sell_quantity: 0, sell_price: 0, sell_value: 0, sell_m2m: 0,
        day_buy_quantity: 0, day_buy_price: 0, day_buy_value: 0, day_sell_quantity: 0, day_sell_price: 0, day_sell_value: 0,
      };
    });
    return { net, day: net };
  }

  private holdingsAnswer(): unknown {
    return [...this.holdings.entries()].map(([key, h]) => {
      const [exchange, tradingsymbol] = key.split(':') as [string, string];
      const last = this.prices.get(key) ?? h.averagePrice;
      return {
        tradingsymbol, exchange, instrument_token: 408065, isin: 'INE009A01021', product: 'CNC', price: 0, quantity: num(h.quantity), used_quantity: 0,
        t1_quantity: 0, realised_quantity: num(h.quantity), authorised_quantity: 0, opening_quantity: num(h.quantity), collateral_quantity: 0,
        average_price: num(h.averagePrice), last_price: num(last), close_price: num(last), pnl: num(last.minus(h.averagePrice).mul(h.quantity)),
        day_change: 0, day_change_percentage: 0,
      };
    });
  }

  private orderMargins(request: Request): unknown {
    if (!(request.headers.get('content-type') ?? '').includes('application/json')) throw new KiteRefusal(400, 'InputException', 'The order margins API takes a JSON body.');
    const last = this.requests.at(-1)?.json;
    if (!Array.isArray(last)) throw new KiteRefusal(400, 'InputException', 'Invalid JSON: expected a list of orders.');
    return last.map((raw: Record<string, unknown>) => {
      const key = `${String(raw.exchange)}:${String(raw.tradingsymbol)}`;
      if (!this.instruments.has(key)) throw new KiteRefusal(400, 'InputException', `Invalid \`tradingsymbol\` ${key}.`);
      const product = String(raw.product) as Product;
      const price = Number(raw.price) > 0 ? new Decimal(String(raw.price)) : this.prices.get(key) ?? new Decimal(0);
      const total = price.mul(String(raw.quantity)).div(LEVERAGE[product] ?? 1);
      return {
        type: 'equity', tradingsymbol: raw.tradingsymbol, exchange: raw.exchange, span: 0, exposure: 0, option_premium: 0, additional: 0, bo: 0,
        cash: 0, var: num(total), pnl: { realised: 0, unrealised: 0 }, leverage: LEVERAGE[product] ?? 1, charges: { total: 0 }, total: num(total),
      };
    });
  }

  // ---- orders -----------------------------------------------------------------------------------------------------

  private instrumentOf(exchange: string | undefined, tradingsymbol: string | undefined): FakeKiteInstrument {
    const found = this.instruments.get(`${exchange ?? ''}:${tradingsymbol ?? ''}`);
    if (!found) throw new KiteRefusal(400, 'InputException', 'Invalid `tradingsymbol`. The instrument does not exist.');
    return found;
  }

  private requireForm(request: Request): void {
    if (!(request.headers.get('content-type') ?? '').includes('application/x-www-form-urlencoded')) {
      throw new KiteRefusal(400, 'InputException', 'Kite takes form-encoded parameters.');
    }
  }

  private checkQuantityAndPrice(instrument: FakeKiteInstrument, quantity: Decimal, prices: Decimal[]): void {
    if (!quantity.isInteger() || quantity.lte(0)) throw new KiteRefusal(400, 'InputException', 'Invalid `quantity`.');
    if (!quantity.mod(instrument.lotSize).isZero()) {
      throw new KiteRefusal(400, 'InputException', `Quantity should be a multiple of lot size (${instrument.lotSize}).`);
    }
    for (const price of prices) {
      if (!price.mod(instrument.tickSize).isZero()) {
        throw new KiteRefusal(400, 'InputException', `Tick size for this script is ${instrument.tickSize}. Kindly enter price in the multiple of tick size for this script.`);
      }
    }
  }

  private placeOrder(request: Request, variety: string, form: Record<string, string>): unknown {
    this.requireForm(request);
    if (variety !== 'regular') throw new KiteRefusal(400, 'InputException', `Variety ${variety} is not supported by this fake.`);
    const instrument = this.instrumentOf(form.exchange, form.tradingsymbol);
    const orderType = form.order_type as FakeOrder['order_type'];
    if (!['MARKET', 'LIMIT', 'SL', 'SL-M'].includes(orderType)) throw new KiteRefusal(400, 'InputException', 'Invalid `order_type`.');
    if (form.transaction_type !== 'BUY' && form.transaction_type !== 'SELL') throw new KiteRefusal(400, 'InputException', 'Invalid `transaction_type`.');
    const product = form.product as Product;
    if (!['CNC', 'MIS', 'NRML'].includes(product)) throw new KiteRefusal(400, 'InputException', 'Invalid `product`.');
    if (product === 'CNC' && instrument.exchange === 'NFO') throw new KiteRefusal(400, 'InputException', 'CNC is not allowed for derivatives. Use NRML or MIS.');
    const validity = form.validity ?? 'DAY';
    if (validity !== 'DAY' && validity !== 'IOC') throw new KiteRefusal(400, 'InputException', 'Invalid `validity`.');
    if (form.tag !== undefined && !/^[A-Za-z0-9]{1,20}$/.test(form.tag)) throw new KiteRefusal(400, 'InputException', 'Invalid `tag`: alphanumeric, at most 20 characters.');
    const protection = form.market_protection === undefined ? 0 : Number(form.market_protection);
    if ((orderType === 'MARKET' || orderType === 'SL-M') && !(protection === -1 || (protection >= 1 && protection <= 100))) {
      throw new KiteRefusal(400, 'InputException', 'Market orders without market protection are not allowed via API. Please set market protection or use a Limit order.');
    }
    const quantity = new Decimal(form.quantity ?? '0');
    const price = new Decimal(form.price ?? '0');
    const trigger = new Decimal(form.trigger_price ?? '0');
    if ((orderType === 'LIMIT' || orderType === 'SL') && price.lte(0)) throw new KiteRefusal(400, 'InputException', 'Invalid `price`.');
    if ((orderType === 'SL' || orderType === 'SL-M') && trigger.lte(0)) throw new KiteRefusal(400, 'InputException', 'Invalid `trigger_price`.');
    this.checkQuantityAndPrice(instrument, quantity, [price, trigger].filter((p) => p.gt(0)));
    const order = this.newOrder({
      tag: form.tag ?? null, exchange: instrument.exchange, tradingsymbol: instrument.tradingsymbol, transaction_type: form.transaction_type,
      order_type: orderType, product, validity, quantity, price, trigger_price: trigger, market_protection: protection, meta: {},
    });
    return { order_id: order.order_id };
  }

  private newOrder(o: Pick<FakeOrder, 'tag' | 'exchange' | 'tradingsymbol' | 'transaction_type' | 'order_type' | 'product' | 'validity' | 'quantity' | 'price'
    | 'trigger_price' | 'market_protection' | 'meta'>): FakeOrder {
    const now = kiteTime(new Date());
    const order: FakeOrder = {
      ...o, order_id: String(this.nextOrder++), variety: 'regular', average_price: new Decimal(0), filled_quantity: new Decimal(0), status: 'PUT ORDER REQ RECEIVED',
      status_message: null, triggered: false, order_timestamp: now, exchange_update_timestamp: null, history: [],
    };
    this.orders.set(order.order_id, order);
    this.snapshot(order);
    order.status = 'VALIDATION PENDING';
    this.snapshot(order);
    const refusal = this.rms(order);
    if (refusal) {
      order.status = 'REJECTED';
      order.status_message = refusal;
      this.snapshot(order);
      return order;
    }
    order.status = o.order_type === 'SL' || o.order_type === 'SL-M' ? 'TRIGGER PENDING' : 'OPEN';
    order.exchange_update_timestamp = now;
    this.snapshot(order);
    this.work(order);
    return order;
  }

  /** The risk checks Kite runs after taking an order: funds for what opens a position, holdings for a CNC sell. */
  private rms(order: FakeOrder): string | undefined {
    const key = `${order.exchange}:${order.tradingsymbol}`;
    const position = this.positions.get(`${key}:${order.product}`)?.quantity ?? new Decimal(0);
    const signed = order.transaction_type === 'BUY' ? order.quantity : order.quantity.neg();
    const opening = position.isZero() || position.isPositive() === signed.isPositive() ? order.quantity : Decimal.max(0, order.quantity.minus(position.abs()));
    if (order.product === 'CNC' && order.transaction_type === 'SELL') {
      const held = position.plus(this.holdings.get(key)?.quantity ?? 0);
      if (held.lt(order.quantity)) return `Insufficient holdings. You hold ${held.toFixed()} of ${order.tradingsymbol} and are selling ${order.quantity.toFixed()} (CNC).`;
      return undefined;
    }
    const price = order.price.gt(0) ? order.price : order.trigger_price.gt(0) ? order.trigger_price : this.prices.get(key) ?? new Decimal(0);
    const required = opening.mul(price).div(LEVERAGE[order.product]);
    const available = this.net();
    if (required.gt(available)) {
      return `Insufficient funds. Required margin is ${required.toFixed(2)} but available margin is ${available.toFixed(2)}. Check the orderbook for open orders.`;
    }
    return undefined;
  }

  private snapshot(order: FakeOrder): void {
    order.history.push(this.wireOrder(order));
  }

  private wireOrder(o: FakeOrder): Record<string, unknown> {
    const live = !['COMPLETE', 'CANCELLED', 'REJECTED'].includes(o.status);
    return {
      placed_by: 'XX0000', order_id: o.order_id, exchange_order_id: o.exchange_update_timestamp ? `13${o.order_id}` : null, parent_order_id: null,
      status: o.status, status_message: o.status_message, status_message_raw: o.status_message ? `RMS:${o.status_message}` : null,
      order_timestamp: o.order_timestamp, exchange_update_timestamp: o.exchange_update_timestamp, exchange_timestamp: o.exchange_update_timestamp,
      variety: o.variety, modified: false, exchange: o.exchange, tradingsymbol: o.tradingsymbol, instrument_token: 408065, order_type: o.order_type,
      transaction_type: o.transaction_type, validity: o.validity, validity_ttl: 0, product: o.product, quantity: num(o.quantity), disclosed_quantity: 0,
      price: num(o.price), trigger_price: num(o.trigger_price), average_price: num(o.average_price), filled_quantity: num(o.filled_quantity),
      pending_quantity: num(live ? o.quantity.minus(o.filled_quantity) : new Decimal(0)), cancelled_quantity: num(o.status === 'CANCELLED' ? o.quantity.minus(o.filled_quantity) : new Decimal(0)),
      market_protection: o.market_protection, meta: o.meta, tag: o.tag, tags: o.tag ? [o.tag] : [], guid: `fake${o.order_id}`,
    };
  }

  private orderOr404(id: string): FakeOrder {
    const order = this.orders.get(id);
    if (!order) throw new KiteRefusal(400, 'InputException', "Couldn't find that `order_id`.");
    return order;
  }

  private orderHistory(id: string): unknown {
    return this.orderOr404(id).history;
  }

  private modifyOrder(request: Request, id: string, form: Record<string, string>): unknown {
    this.requireForm(request);
    const order = this.orderOr404(id);
    if (!['OPEN', 'TRIGGER PENDING'].includes(order.status)) {
      throw new KiteRefusal(400, 'InputException', `Order cannot be modified as it is ${order.status.toLowerCase()}.`);
    }
    const instrument = this.instrumentOf(order.exchange, order.tradingsymbol);
    const quantity = form.quantity !== undefined ? new Decimal(form.quantity) : order.quantity;
    const price = form.price !== undefined ? new Decimal(form.price) : order.price;
    const trigger = form.trigger_price !== undefined ? new Decimal(form.trigger_price) : order.trigger_price;
    this.checkQuantityAndPrice(instrument, quantity, [price, trigger].filter((p) => p.gt(0)));
    Object.assign(order, { quantity, price, trigger_price: trigger, exchange_update_timestamp: kiteTime(new Date()) });
    const status = order.status;
    order.status = 'MODIFY VALIDATION PENDING';
    this.snapshot(order);
    order.status = status;
    this.snapshot(order);
    this.work(order);
    return { order_id: order.order_id };
  }

  private cancelOrder(id: string): unknown {
    const order = this.orderOr404(id);
    if (!['OPEN', 'TRIGGER PENDING'].includes(order.status)) {
      throw new KiteRefusal(400, 'InputException', `Order cannot be cancelled as it is ${order.status.toLowerCase()}.`);
    }
    order.status = 'CANCELLED';
    order.exchange_update_timestamp = kiteTime(new Date());
    this.snapshot(order);
    return { order_id: order.order_id };
  }

  /** Fills or triggers one live order against its instrument's last price. */
  private work(order: FakeOrder): void {
    const last = this.prices.get(`${order.exchange}:${order.tradingsymbol}`);
    if (!last) return;
    const buy = order.transaction_type === 'BUY';
    if (order.status === 'TRIGGER PENDING') {
      const crossed = buy ? last.gte(order.trigger_price) : last.lte(order.trigger_price);
      if (!crossed) return;
      order.triggered = true;
      order.status = 'OPEN';
      this.snapshot(order);
    }
    if (order.status !== 'OPEN') return;
    if (order.order_type === 'MARKET' || order.order_type === 'SL-M') {
      this.fill(order, last);
    } else if (buy ? last.lte(order.price) : last.gte(order.price)) {
      // A limit that was marketable when it arrived fills at the market; one reached by the market fills at its price.
      this.fill(order, order.triggered || order.history.length <= 3 ? (buy ? Decimal.min(last, order.price) : Decimal.max(last, order.price)) : order.price);
    } else if (order.validity === 'IOC') {
      order.status = 'CANCELLED';
      this.snapshot(order);
    }
  }

  private fill(order: FakeOrder, price: Decimal): void {
    const quantity = order.quantity.minus(order.filled_quantity);
    order.filled_quantity = order.quantity;
    order.average_price = price;
    order.status = 'COMPLETE';
    order.exchange_update_timestamp = kiteTime(new Date());
    this.snapshot(order);
    const at = kiteTime(new Date());
    this.trades.push({
      trade_id: String(this.nextTrade++), order_id: order.order_id, exchange: order.exchange, tradingsymbol: order.tradingsymbol, product: order.product,
      transaction_type: order.transaction_type, quantity, average_price: price, fill_timestamp: at,
    });
    this.book(order, quantity, price);
  }

  private book(order: FakeOrder, quantity: Decimal, price: Decimal): void {
    const key = `${order.exchange}:${order.tradingsymbol}:${order.product}`;
    const p = this.positions.get(key) ?? { quantity: new Decimal(0), averagePrice: new Decimal(0), realised: new Decimal(0) };
    const signed = order.transaction_type === 'BUY' ? quantity : quantity.neg();
    if (p.quantity.isZero() || p.quantity.isPositive() === signed.isPositive()) {
      const total = p.quantity.plus(signed);
      p.averagePrice = p.quantity.abs().mul(p.averagePrice).plus(quantity.mul(price)).div(total.abs());
      p.quantity = total;
    } else {
      const closing = Decimal.min(quantity, p.quantity.abs());
      p.realised = p.realised.plus(price.minus(p.averagePrice).mul(closing).mul(p.quantity.isPositive() ? 1 : -1));
      const left = p.quantity.plus(signed);
      if (!left.isZero() && left.isPositive() !== p.quantity.isPositive()) p.averagePrice = price;
      p.quantity = left;
      if (left.isZero()) p.averagePrice = new Decimal(0);
    }
    this.positions.set(key, p);
  }

  private match(key: string): void {
    for (const order of this.orders.values()) {
      if (`${order.exchange}:${order.tradingsymbol}` === key) this.work(order);
    }
    const last = this.prices.get(key);
    if (!last) return;
    for (const gtt of this.gtts.values()) {
      if (gtt.status !== 'active' || `${gtt.exchange}:${gtt.tradingsymbol}` !== key) continue;
      let fired: number | undefined;
      if (gtt.type === 'two-leg') {
        if (last.lte(gtt.triggers[0] as Decimal)) fired = 0;
        else if (last.gte(gtt.triggers[1] as Decimal)) fired = 1;
      } else {
        const trigger = gtt.triggers[0] as Decimal;
        if (trigger.lt(gtt.lastPrice) ? last.lte(trigger) : last.gte(trigger)) fired = 0;
      }
      if (fired === undefined) continue;
      this.fire(gtt, fired, last);
    }
  }

  /** A GTT fires: its leg's LIMIT order goes in; the other leg of a two-leg GTT is dropped with it. */
  private fire(gtt: FakeGtt, index: number, last: Decimal): void {
    const leg = gtt.orders[index] as FakeGttOrder;
    gtt.status = 'triggered';
    gtt.updated_at = kiteTime(new Date());
    const order = this.newOrder({
      tag: null, exchange: leg.exchange, tradingsymbol: leg.tradingsymbol, transaction_type: leg.transaction_type, order_type: 'LIMIT', product: leg.product,
      validity: 'DAY', quantity: leg.quantity, price: leg.price, trigger_price: new Decimal(0), market_protection: 0, meta: { app_id: 12617, gtt: gtt.id },
    });
    const failed = order.status === 'REJECTED';
    leg.result = {
      account_id: 'XX0000', exchange: leg.exchange, tradingsymbol: leg.tradingsymbol, validity: 'DAY', product: leg.product, order_type: 'LIMIT',
      transaction_type: leg.transaction_type, quantity: num(leg.quantity), price: num(leg.price), meta: JSON.stringify({ app_id: 12617, gtt: gtt.id }),
      timestamp: gtt.updated_at, triggered_at: num(last),
      order_result: failed ? { status: 'failed', order_id: '', rejection_reason: order.status_message } : { status: 'success', order_id: order.order_id, rejection_reason: '' },
    };
  }

  // ---- GTT --------------------------------------------------------------------------------------------------------

  private gttOr404(id: string): FakeGtt {
    const gtt = this.gtts.get(Number(id));
    if (!gtt || gtt.status === 'deleted') throw new KiteRefusal(400, 'InputException', 'Invalid trigger ID.');
    return gtt;
  }

  private writeGtt(request: Request, form: Record<string, string>, existing: FakeGtt | undefined): unknown {
    this.requireForm(request);
    if (existing && existing.status !== 'active') throw new KiteRefusal(400, 'InputException', `Trigger is ${existing.status} and cannot be modified.`);
    const type = form.type;
    if (type !== 'single' && type !== 'two-leg') throw new KiteRefusal(400, 'InputException', 'Invalid `type`: single or two-leg.');
    let condition: { exchange?: string; tradingsymbol?: string; trigger_values?: unknown[]; last_price?: unknown };
    let orders: Array<Record<string, unknown>>;
    try {
      condition = JSON.parse(form.condition ?? '') as typeof condition;
      orders = JSON.parse(form.orders ?? '') as typeof orders;
    } catch {
      throw new KiteRefusal(400, 'InputException', 'Invalid `condition` or `orders`: JSON expected.');
    }
    const instrument = this.instrumentOf(condition.exchange, condition.tradingsymbol);
    const triggers = (condition.trigger_values ?? []).map((v) => new Decimal(String(v)));
    if (condition.last_price === undefined || !(Number(condition.last_price) > 0)) throw new KiteRefusal(400, 'InputException', 'Invalid `last_price`.');
    const lastPrice = new Decimal(String(condition.last_price));
    const legs = type === 'two-leg' ? 2 : 1;
    if (triggers.length !== legs || !Array.isArray(orders) || orders.length !== legs) {
      throw new KiteRefusal(400, 'InputException', `A ${type} trigger takes ${legs} trigger value(s) and ${legs} order(s).`);
    }
    if (type === 'two-leg' && !((triggers[0] as Decimal).lt(lastPrice) && (triggers[1] as Decimal).gt(lastPrice))) {
      throw new KiteRefusal(400, 'InputException', 'Trigger values must be ascending, the lower below and the upper above the last price.');
    }
    if (type === 'single' && (triggers[0] as Decimal).eq(lastPrice)) throw new KiteRefusal(400, 'InputException', 'Trigger price cannot be the last price.');
    const parsed: FakeGttOrder[] = orders.map((o) => {
      if (o.order_type !== 'LIMIT') throw new KiteRefusal(400, 'InputException', 'Only LIMIT orders are allowed in a GTT.');
      if (o.exchange !== instrument.exchange || o.tradingsymbol !== instrument.tradingsymbol) throw new KiteRefusal(400, 'InputException', 'GTT orders must be for the trigger instrument.');
      if (o.transaction_type !== 'BUY' && o.transaction_type !== 'SELL') throw new KiteRefusal(400, 'InputException', 'Invalid `transaction_type`.');
      const quantity = new Decimal(String(o.quantity));
      const price = new Decimal(String(o.price));
      this.checkQuantityAndPrice(instrument, quantity, [price]);
      return { exchange: instrument.exchange, tradingsymbol: instrument.tradingsymbol, transaction_type: o.transaction_type, quantity, order_type: 'LIMIT',
        product: String(o.product) as Product, price, result: null };
    });
    for (const t of triggers) this.checkQuantityAndPrice(instrument, new Decimal(instrument.lotSize), [t]);
    const now = kiteTime(new Date());
    const gtt: FakeGtt = existing ?? {
      id: this.nextGtt++, type, status: 'active', exchange: instrument.exchange, tradingsymbol: instrument.tradingsymbol, triggers, lastPrice, orders: parsed,
      created_at: now, updated_at: now,
    };
    Object.assign(gtt, { type, triggers, lastPrice, orders: parsed, updated_at: now });
    this.gtts.set(gtt.id, gtt);
    return { trigger_id: gtt.id };
  }

  private deleteGtt(gtt: FakeGtt): unknown {
    if (gtt.status !== 'active') throw new KiteRefusal(400, 'InputException', `Trigger is ${gtt.status} and cannot be deleted.`);
    gtt.status = 'deleted';
    gtt.updated_at = kiteTime(new Date());
    return { trigger_id: gtt.id };
  }

  private wireGtt(g: FakeGtt): unknown {
    return {
      id: g.id, user_id: 'XX0000', parent_trigger: null, type: g.type, created_at: g.created_at, updated_at: g.updated_at, expires_at: '2027-12-05 09:15:00',
      status: g.status,
      condition: { exchange: g.exchange, last_price: num(g.lastPrice), tradingsymbol: g.tradingsymbol, trigger_values: g.triggers.map(num), instrument_token: 408065 },
      orders: g.orders.map((o) => ({
        exchange: o.exchange, tradingsymbol: o.tradingsymbol, product: o.product, order_type: o.order_type, transaction_type: o.transaction_type,
        quantity: num(o.quantity), price: num(o.price), result: o.result,
      })),
      meta: null,
    };
  }
}
