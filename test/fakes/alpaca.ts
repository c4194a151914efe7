// A stateful Alpaca for msw: trading and market-data hosts on Alpaca's wire format, its key headers checked exactly, orders, brackets and positions kept.
//
// Behaviour modelled on Alpaca's documentation (shared/reference/brokers.md §2): market orders fill at the
// price the test sets; limits, stops and stop-limits trigger as the price moves; a bracket's legs are `held`
// until the entry fills, then `new`, and a leg that fills cancels its sibling; cancelling one order of a
// bracket cancels the group; PATCH replaces an order with a successor (`replaced_by`); a reused
// client_order_id is 422; buying power and held shares are 403; unknown assets 404 (assets) or 422 (orders).
// GET /v2/orders returns at most 500 orders, by submission time, `after`/`until` exclusive. failNext() can also take an
// order and then answer 503 or drop the connection, as a real venue can. storm() turns on a seeded fault storm on
// every authenticated request (5xx, timeouts, 429 bursts, half of the first two after the request was carried out); calm() ends it.
import { randomUUID } from 'node:crypto';
import { HttpResponse, delay, http } from 'msw';
import type { RequestHandler } from 'msw';
import { z } from 'zod';
import { Decimal } from '../../src/domain/money.ts';
import { Storm, type StormOptions } from './storm.ts';

export interface AlpacaFakeOptions {
  keyId: string;
  secretKey: string;
  baseUrl?: string | undefined;
  dataUrl?: string | undefined;
  cash?: string | undefined;
  now?: (() => Date) | undefined;
}

/**
 * What the next order placement meets. Most kinds refuse it (nothing is done); `unavailable` and `network` fail before
 * the order is taken; the `*_after_execution` kinds take the order (it rests or fills as usual) and then answer 503 or
 * drop the connection, which Alpaca can do as any venue can: the caller cannot tell the two apart.
 */
export type AlpacaFailure = 'authentication' | 'insufficient_funds' | 'invalid_symbol' | 'order_rejected' | 'market_closed' | 'rate_limited' | 'unavailable' | 'network' | 'timeout'
  | 'unavailable_after_execution' | 'network_after_execution' | 'wash_trade' | 'forbidden';

export interface FakeAsset {
  symbol: string;          // Alpaca's form: 'AAPL', 'BTC/USD'
  class: 'us_equity' | 'crypto';
  shortable: boolean;
  fractionable: boolean;
  tradable: boolean;
  status: 'active' | 'inactive';
  min_order_size?: string;
  min_trade_increment?: string;
  price_increment?: string;
}

interface FakeOrder {
  id: string;
  client_order_id: string;
  symbol: string;           // the asset's Alpaca form
  asset_class: string;
  qty: Decimal;
  filled_qty: Decimal;
  filled_avg_price: Decimal | null;
  order_class: string;
  type: string;
  side: 'buy' | 'sell';
  time_in_force: string;
  limit_price: Decimal | null;
  stop_price: Decimal | null;
  trail_price: Decimal | null;
  trail_percent: Decimal | null;
  hwm: Decimal | null;
  extended_hours: boolean;
  status: string;
  triggered: boolean;
  created_at: Date;
  updated_at: Date;
  filled_at: Date | null;
  canceled_at: Date | null;
  replaced_by: string | null;
  replaces: string | null;
  parent: string | null;
  legs: string[];
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

const LIVE = new Set(['new', 'accepted', 'pending_new', 'held', 'partially_filled']);
const d = (text: string | number): Decimal => new Decimal(text);
const ZERO = d(0);

/** The assets a fresh fake lists. */
export function defaultAlpacaAssets(): FakeAsset[] {
  const equity = (symbol: string, shortable = true): FakeAsset => ({ symbol, class: 'us_equity', shortable, fractionable: true, tradable: true, status: 'active' });
  return [
    equity('AAPL'), equity('MSFT'), equity('SPY'), equity('GME', false),
    { symbol: 'OLDCO', class: 'us_equity', shortable: false, fractionable: false, tradable: false, status: 'inactive' },
    { symbol: 'BTC/USD', class: 'crypto', shortable: false, fractionable: true, tradable: true, status: 'active', min_order_size: '0.0001', min_trade_increment: '0.000000001', price_increment: '1' },
    { symbol: 'ETH/USD', class: 'crypto', shortable: false, fractionable: true, tradable: true, status: 'active', min_order_size: '0.001', min_trade_increment: '0.000000001', price_increment: '0.1' },
  ];
}

const orderBody = z.object({
  symbol: z.string(),
  qty: z.string().optional(),
  side: z.enum(['buy', 'sell']),
  type: z.enum(['market', 'limit', 'stop', 'stop_limit', 'trailing_stop']),
  time_in_force: z.enum(['day', 'gtc', 'opg', 'cls', 'ioc', 'fok']),
  limit_price: z.string().optional(),
  stop_price: z.string().optional(),
  trail_price: z.string().optional(),
  trail_percent: z.string().optional(),
  extended_hours: z.boolean().optional(),
  client_order_id: z.string().max(128).optional(),
  order_class: z.enum(['simple', 'bracket', 'oco', 'oto', '']).optional(),
  take_profit: z.object({ limit_price: z.string() }).optional(),
  stop_loss: z.object({ stop_price: z.string(), limit_price: z.string().optional() }).optional(),
}).strict();

const patchBody = z.object({
  qty: z.string().optional(),
  time_in_force: z.string().optional(),
  limit_price: z.string().optional(),
  stop_price: z.string().optional(),
  trail: z.string().optional(),
  client_order_id: z.string().optional(),
}).strict();

export class AlpacaFake {
  readonly baseUrl: string;
  readonly dataUrl: string;
  readonly handlers: RequestHandler[];
  /** Every authenticated call, in order (the e2e tests read which calls reached the broker). */
  calls: RecordedCall[] = [];
  marketOpen = true;

  private readonly options: AlpacaFakeOptions;
  private readonly now: () => Date;
  private cash = d('100000');
  private assets = new Map<string, FakeAsset>();
  private prices = new Map<string, { price: Decimal; at: Date }>();
  private orders = new Map<string, FakeOrder>();
  private positions = new Map<string, { qty: Decimal; avg: Decimal }>();
  private activities: Array<{ id: string; order_id: string; symbol: string; side: string; qty: Decimal; price: Decimal; at: Date }> = [];
  private failures: AlpacaFailure[] = [];
  private storming: Storm | undefined;

  constructor(options: AlpacaFakeOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl ?? 'https://paper-api.alpaca.markets';
    this.dataUrl = options.dataUrl ?? 'https://data.alpaca.markets';
    this.now = options.now ?? (() => new Date());
    this.handlers = [
      http.all(`${this.baseUrl}/*`, ({ request }) => this.serve(request, 'trading')),
      http.all(`${this.dataUrl}/*`, ({ request }) => this.serve(request, 'data')),
    ];
    this.reset();
  }

  /** A fresh account: cash, the default assets, no prices, orders or positions, the market open. */
  reset(cash = this.options.cash ?? '100000'): void {
    this.cash = d(cash);
    this.assets = new Map(defaultAlpacaAssets().map((a) => [a.symbol, a]));
    this.prices.clear();
    this.orders.clear();
    this.positions.clear();
    this.activities = [];
    this.failures = [];
    this.calls = [];
    this.marketOpen = true;
  }

  /** The next order placement answers as Alpaca does for this failure (market_closed: the clock says closed). */
  failNext(kind: AlpacaFailure): void {
    if (kind === 'market_closed') this.marketOpen = false;
    else this.failures.push(kind);
  }

  /** From now on every authenticated request draws its fault from a seeded storm (see storm.ts); returns the storm, whose stats count what it did. */
  storm(options: StormOptions): Storm {
    this.storming = new Storm(options);
    return this.storming;
  }

  /** Ends the storm: requests are answered normally again. */
  calm(): void {
    this.storming = undefined;
  }

  /** The quantity held in a symbol (signed: negative is short), zero when flat. */
  positionQty(symbol: string): Decimal {
    const asset = this.asset(symbol);
    return (asset && this.positions.get(asset.symbol)?.qty) ?? ZERO;
  }

  /** Every held position, by Alpaca's symbol, signed. */
  heldPositions(): Map<string, Decimal> {
    return new Map([...this.positions].map(([symbol, p]) => [symbol, p.qty]));
  }

  /** A new last price; every live order on the symbol is matched against it. */
  setPrice(symbol: string, price: string | Decimal): void {
    const asset = this.asset(symbol);
    if (!asset) throw new Error(`alpaca fake: no asset ${symbol}`);
    this.prices.set(asset.symbol, { price: d(price.toString()), at: this.now() });
    this.match(asset.symbol);
  }

  order(idOrClientId: string): FakeOrder | undefined {
    return this.orders.get(idOrClientId) ?? [...this.orders.values()].find((o) => o.client_order_id === idOrClientId);
  }

  allOrders(): FakeOrder[] {
    return [...this.orders.values()];
  }

  private async serve(request: Request, host: 'trading' | 'data'): Promise<Response> {
    const authentic = request.headers.get('apca-api-key-id') === this.options.keyId && request.headers.get('apca-api-secret-key') === this.options.secretKey;
    const draw = authentic && this.storming ? this.storming.draw() : { kind: 'none' as const };
    const hang = this.storming?.hangMs ?? 1_000;
    let response: Response;
    if (draw.kind === 'rate_limited' || draw.kind === 'banned') {
      response = HttpResponse.json({ code: 42910000, message: 'rate limit exceeded' }, { status: 429, headers: {
        'retry-after': String(draw.retryAfterSeconds), 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.ceil(this.now().getTime() / 1000) + draw.retryAfterSeconds) } });
    } else if (draw.kind === 'server_error' && !draw.afterExecution) {
      response = stormServerError(draw.status);
    } else if (draw.kind === 'timeout' && !draw.afterExecution) {
      // Nothing done; the answer comes after the client has given up.
      await delay(hang);
      response = HttpResponse.json({ code: 50010000, message: 'gateway timeout' }, { status: 504 });
    } else {
      response = await this.route(request, host);
      // Carried out; the answer is then lost to a 5xx, or arrives after the client has given up.
      if (draw.kind === 'server_error') response = stormServerError(draw.status);
      if (draw.kind === 'timeout') await delay(hang);
    }
    // Alpaca names every answer, failures included (X-Request-ID), and says where the rate limit stands.
    if (response.type !== 'error') {
      response.headers.set('x-request-id', randomUUID().replace(/-/g, ''));
      if (!response.headers.has('x-ratelimit-limit')) {
        response.headers.set('x-ratelimit-limit', '200');
        response.headers.set('x-ratelimit-remaining', '199');
      }
    }
    return response;
  }

  private async route(request: Request, host: 'trading' | 'data'): Promise<Response> {
    if (request.headers.get('apca-api-key-id') !== this.options.keyId || request.headers.get('apca-api-secret-key') !== this.options.secretKey) {
      return HttpResponse.json({ code: 40110000, message: 'request is not authorized' }, { status: 401 });
    }
    const url = new URL(request.url);
    const base = new URL(host === 'trading' ? this.baseUrl : this.dataUrl).pathname.replace(/\/+$/, '');
    const path = decodeURIComponent(url.pathname.slice(base.length));
    const query = Object.fromEntries(url.searchParams.entries());
    const text = request.method === 'GET' || request.method === 'DELETE' ? '' : await request.text();
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    this.calls.push({ method: request.method, path, query, body });
    const headers: Record<string, string> = {};
    if (host === 'data') return this.marketData(path, query);
    const route = `${request.method} ${path}`;

    if (route === 'POST /v2/orders') {
      const failure = this.failures.shift();
      if (failure === 'unavailable_after_execution' || failure === 'network_after_execution') {
        const taken = this.placeOrder(body, headers);
        // A refusal is still the answer; an order taken is lost behind the failure.
        if (!taken.ok) return taken;
        return failure === 'network_after_execution' ? HttpResponse.error() : this.failure('unavailable');
      }
      if (failure) return this.failure(failure);
      return this.placeOrder(body, headers);
    }
    if (route === 'GET /v2/account') return HttpResponse.json(this.accountJson(), { headers });
    if (route === 'GET /v2/clock') return HttpResponse.json(this.clockJson(), { headers });
    if (route === 'GET /v2/orders') return HttpResponse.json(this.listOrders(query), { headers });
    if (route === 'GET /v2/orders:by_client_order_id') {
      const found = [...this.orders.values()].find((o) => o.client_order_id === query.client_order_id);
      return found ? HttpResponse.json(this.orderJson(found, true), { headers }) : notFound('order not found');
    }
    if (route === 'GET /v2/positions') return HttpResponse.json([...this.positions.keys()].map((s) => this.positionJson(s)), { headers });
    if (route === 'GET /v2/account/activities/FILL') return HttpResponse.json(this.fillsJson(query), { headers });
    let m = /^\/v2\/orders\/([^/]+)$/.exec(path);
    if (m?.[1]) {
      const order = this.orders.get(m[1]);
      if (!order) return notFound('order not found');
      if (request.method === 'GET') return HttpResponse.json(this.orderJson(order, query.nested === 'true'), { headers });
      if (request.method === 'DELETE') return this.cancel(order);
      if (request.method === 'PATCH') return this.replace(order, body, headers);
    }
    m = /^\/v2\/assets\/(.+)$/.exec(path);
    if (m?.[1] && request.method === 'GET') {
      const asset = this.assets.get(m[1].toUpperCase());
      if (!asset) return notFound(`asset not found for ${m[1]}`);
      return HttpResponse.json({ id: randomUUID(), exchange: asset.class === 'crypto' ? 'CRYPTO' : 'NASDAQ', name: asset.symbol, marginable: asset.class !== 'crypto', easy_to_borrow: asset.shortable, attributes: [], ...asset }, { headers });
    }
    m = /^\/v2\/positions\/(.+)$/.exec(path);
    if (m?.[1]) {
      const asset = this.asset(m[1]);
      const held = asset && this.positions.get(asset.symbol);
      if (!asset || !held) return notFound('position does not exist');
      if (request.method === 'GET') return HttpResponse.json(this.positionJson(asset.symbol), { headers });
      if (request.method === 'DELETE') {
        return this.placeOrder({ symbol: asset.symbol, qty: held.qty.abs().toFixed(), side: held.qty.isNegative() ? 'buy' : 'sell', type: 'market', time_in_force: asset.class === 'crypto' ? 'gtc' : 'day' }, headers);
      }
    }
    return HttpResponse.json({ code: 40410000, message: `alpaca fake: no route ${route}` }, { status: 404 });
  }

  private async failure(kind: AlpacaFailure): Promise<Response> {
    switch (kind) {
      case 'authentication': return HttpResponse.json({ message: 'unauthorized.' }, { status: 401 });
      case 'insufficient_funds': return HttpResponse.json({ buying_power: this.buyingPower().toFixed(), code: 40310000, cost_basis: '31319000.3', message: 'insufficient buying power' }, { status: 403 });
      case 'invalid_symbol': return unprocessable('asset "ZZZZNOTREAL" not found', 42210000);
      case 'order_rejected': return unprocessable('invalid limit_price 290.123. sub-penny increment does not fulfill minimum pricing criteria', 42210000);
      case 'rate_limited': return HttpResponse.json({ code: 42910000, message: 'rate limit exceeded' }, { status: 429, headers: { 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(this.now().getTime() / 1000) + 3) } });
      case 'unavailable': return HttpResponse.json({ code: 50010000, message: 'internal server error occurred' }, { status: 503 });
      case 'network': return HttpResponse.error();
      // The account's permissions, not the order: the only 403 that is about the key.
      case 'forbidden': return HttpResponse.json({ code: 40310000, message: 'forbidden' }, { status: 403 });
      case 'wash_trade': return HttpResponse.json({ code: 40310000, message: 'potential wash trade detected. use complex orders', reject_reason: 'opposite side market/stop order exists' }, { status: 403 });
      case 'unavailable_after_execution': case 'network_after_execution': throw new Error(`${kind} is answered after the order is taken`);
      case 'timeout': await delay(3_000); return HttpResponse.json({ code: 50010000, message: 'too late' }, { status: 504 });
      case 'market_closed': throw new Error('market_closed is the clock, not a failure');
    }
  }

  private placeOrder(raw: unknown, headers: Record<string, string>): Response {
    const parsed = orderBody.safeParse(raw);
    if (!parsed.success) return unprocessable(`invalid order: ${parsed.error.issues[0]?.message ?? 'bad request'}`, 40010000);
    const req = parsed.data;
    const asset = this.asset(req.symbol);
    if (!asset) return unprocessable(`asset "${req.symbol}" not found`, 42210000);
    if (!asset.tradable || asset.status !== 'active') return unprocessable(`asset ${asset.symbol} is not active`, 40010001);
    const clientId = req.client_order_id ?? randomUUID();
    if ([...this.orders.values()].some((o) => o.client_order_id === clientId)) return unprocessable('client_order_id must be unique', 40010001);
    if (!req.qty) return unprocessable('qty is required', 40010000);
    const qty = d(req.qty);
    if (qty.lte(0)) return unprocessable('qty must be > 0', 40010000);
    const orderClass = req.order_class ?? 'simple';
    const crypto = asset.class === 'crypto';
    if (crypto && orderClass !== 'simple' && orderClass !== '') return unprocessable(`crypto orders not allowed for advanced order_class: ${orderClass}`, 42210000);
    if (crypto && !['market', 'limit', 'stop_limit'].includes(req.type)) return unprocessable(`invalid order type for crypto order`, 42210000);
    if (crypto && !['gtc', 'ioc'].includes(req.time_in_force)) return unprocessable(`invalid crypto time_in_force`, 42210000);
    if (!crypto && !qty.isInteger() && (orderClass !== 'simple' || req.type !== 'market')) return unprocessable('fractional orders must be simple market or limit day orders', 42210000);
    for (const [name, value] of [['limit_price', req.limit_price], ['stop_price', req.stop_price]] as const) {
      if (value !== undefined && !crypto && d(value).gte(1) && d(value).decimalPlaces() > 2) return unprocessable(`invalid ${name} ${value}. sub-penny increment does not fulfill minimum pricing criteria`, 42210000);
    }
    if ((req.type === 'limit' || req.type === 'stop_limit') && !req.limit_price) return unprocessable('limit_price is required', 40010000);
    if ((req.type === 'stop' || req.type === 'stop_limit') && !req.stop_price) return unprocessable('stop_price is required', 40010000);
    if (req.type === 'trailing_stop' && !req.trail_price && !req.trail_percent) return unprocessable('trail_price or trail_percent is required', 40010000);
    if (req.extended_hours === true && (req.type !== 'limit' || req.time_in_force !== 'day')) return unprocessable('extended hours order must be DAY limit orders', 42210000);
    if (orderClass === 'bracket' || orderClass === 'oto') {
      if (req.time_in_force !== 'day' && req.time_in_force !== 'gtc') return unprocessable('bracket orders must be day or gtc', 42210000);
      if (orderClass === 'bracket' && (!req.take_profit || !req.stop_loss)) return unprocessable('bracket orders require take_profit and stop_loss', 40010000);
      const tp = req.take_profit && d(req.take_profit.limit_price);
      const sl = req.stop_loss && d(req.stop_loss.stop_price);
      if (tp && sl && (req.side === 'buy' ? tp.lte(sl) : tp.gte(sl))) return unprocessable('take_profit.limit_price must be beyond stop_loss.stop_price', 42210000);
      const basePrice = req.limit_price ? d(req.limit_price) : this.prices.get(asset.symbol)?.price;
      if (basePrice && sl && (req.side === 'buy' ? sl.gt(basePrice.minus('0.01')) : sl.lt(basePrice.plus('0.01')))) {
        return unprocessable(`stop_loss.stop_price must be ${req.side === 'buy' ? 'less' : 'greater'} than base_price - 0.01`, 42210000);
      }
    }
    const refusal = this.fundsCheck(asset, req.side, qty, req.limit_price ?? req.stop_price);
    if (refusal) return refusal;

    const now = this.now();
    const make = (fields: Partial<FakeOrder> & Pick<FakeOrder, 'side' | 'type'>): FakeOrder => ({
      id: randomUUID(), client_order_id: randomUUID(), symbol: asset.symbol, asset_class: asset.class, qty, filled_qty: ZERO, filled_avg_price: null,
      order_class: orderClass === 'simple' ? '' : orderClass, time_in_force: req.time_in_force, limit_price: null, stop_price: null, trail_price: null,
      trail_percent: null, hwm: null, extended_hours: req.extended_hours ?? false, status: 'accepted', triggered: false, created_at: now, updated_at: now,
      filled_at: null, canceled_at: null, replaced_by: null, replaces: null, parent: null, legs: [], ...fields,
    });
    const parent = make({
      client_order_id: clientId, side: req.side, type: req.type,
      limit_price: req.limit_price ? d(req.limit_price) : null, stop_price: req.stop_price ? d(req.stop_price) : null,
      trail_price: req.trail_price ? d(req.trail_price) : null, trail_percent: req.trail_percent ? d(req.trail_percent) : null,
    });
    this.orders.set(parent.id, parent);
    const exit = req.side === 'buy' ? 'sell' : 'buy';
    if (req.take_profit) {
      const leg = make({ side: exit, type: 'limit', limit_price: d(req.take_profit.limit_price), status: 'held', parent: parent.id });
      this.orders.set(leg.id, leg);
      parent.legs.push(leg.id);
    }
    if (req.stop_loss) {
      const leg = make({ side: exit, type: req.stop_loss.limit_price ? 'stop_limit' : 'stop', stop_price: d(req.stop_loss.stop_price),
        limit_price: req.stop_loss.limit_price ? d(req.stop_loss.limit_price) : null, status: 'held', parent: parent.id });
      this.orders.set(leg.id, leg);
      parent.legs.push(leg.id);
    }
    this.match(asset.symbol);
    return HttpResponse.json(this.orderJson(parent, true), { headers });
  }

  /** Buying power for what opens exposure; shares already promised to other sell orders for what closes a long. */
  private fundsCheck(asset: FakeAsset, side: 'buy' | 'sell', qty: Decimal, priceText: string | undefined): Response | undefined {
    const held = this.positions.get(asset.symbol)?.qty ?? ZERO;
    const price = priceText ? d(priceText) : this.prices.get(asset.symbol)?.price ?? ZERO;
    if (side === 'sell' && held.gt(0)) {
      const available = held.minus(this.promised(asset.symbol, 'sell'));
      if (qty.gt(available)) {
        return HttpResponse.json({ available: available.toFixed(), code: 40310000, message: `insufficient qty available for order (requested: ${qty.toFixed()}, available: ${available.toFixed()})`, symbol: asset.symbol }, { status: 403 });
      }
      return undefined;
    }
    if (side === 'buy' && held.lt(0)) return undefined;
    if (side === 'sell' && !asset.shortable) return HttpResponse.json({ code: 40310000, message: `asset ${asset.symbol} cannot be sold short` }, { status: 403 });
    const cost = qty.mul(price);
    if (cost.gt(this.buyingPower())) {
      return HttpResponse.json({ buying_power: this.buyingPower().toFixed(), code: 40310000, cost_basis: cost.toFixed(), message: 'insufficient buying power' }, { status: 403 });
    }
    return undefined;
  }

  /** Shares live orders of one side already claim; a bracket's two legs claim the same shares once. */
  private promised(symbol: string, side: 'buy' | 'sell'): Decimal {
    const byGroup = new Map<string, Decimal>();
    for (const o of this.orders.values()) {
      if (o.symbol !== symbol || o.side !== side || !LIVE.has(o.status) || o.status === 'held') continue;
      const group = o.parent ?? o.id;
      const remaining = o.qty.minus(o.filled_qty);
      const before = byGroup.get(group);
      byGroup.set(group, before === undefined ? remaining : Decimal.max(before, remaining));
    }
    return [...byGroup.values()].reduce((a, b) => a.plus(b), ZERO);
  }

  private buyingPower(): Decimal {
    let bp = this.cash;
    for (const [symbol, p] of this.positions) {
      const mark = this.prices.get(symbol)?.price ?? p.avg;
      bp = bp.plus(p.qty.mul(mark)).minus(p.qty.abs().mul(mark));
    }
    for (const o of this.orders.values()) {
      if (o.side !== 'buy' || !LIVE.has(o.status) || o.status === 'held' || o.parent) continue;
      const price = o.limit_price ?? o.stop_price ?? this.prices.get(o.symbol)?.price ?? ZERO;
      bp = bp.minus(o.qty.minus(o.filled_qty).mul(price));
    }
    return Decimal.max(bp, ZERO);
  }

  private cancel(order: FakeOrder): Response {
    if (!LIVE.has(order.status)) return unprocessable(`order is already in "${order.status}" state`, 42210000);
    // Cancelling any order of a bracket cancels the rest of the group.
    const group = order.parent ? [this.orders.get(order.parent), ...this.siblingsOf(order)] : order.legs.map((id) => this.orders.get(id));
    for (const o of [order, ...group]) if (o && LIVE.has(o.status)) this.setStatus(o, 'canceled');
    return new HttpResponse(null, { status: 204 });
  }

  private replace(order: FakeOrder, raw: unknown, headers: Record<string, string>): Response {
    const parsed = patchBody.safeParse(raw);
    if (!parsed.success) return unprocessable('invalid replace request', 40010000);
    if (!LIVE.has(order.status)) return unprocessable('order is not open', 42210000);
    const change = parsed.data;
    if (change.client_order_id && [...this.orders.values()].some((o) => o.client_order_id === change.client_order_id)) return unprocessable('client_order_id must be unique', 40010001);
    if (change.limit_price && !['limit', 'stop_limit'].includes(order.type)) return unprocessable('limit_price is not applicable', 42210000);
    if (change.stop_price && !['stop', 'stop_limit'].includes(order.type)) return unprocessable('stop_price is not applicable', 42210000);
    const now = this.now();
    const successor: FakeOrder = {
      ...order, id: randomUUID(), client_order_id: change.client_order_id ?? randomUUID(), created_at: now, updated_at: now, replaces: order.id, replaced_by: null,
      qty: change.qty ? d(change.qty) : order.qty, limit_price: change.limit_price ? d(change.limit_price) : order.limit_price,
      stop_price: change.stop_price ? d(change.stop_price) : order.stop_price, legs: [...order.legs],
    };
    this.setStatus(order, 'replaced');
    order.replaced_by = successor.id;
    this.orders.set(successor.id, successor);
    const parent = order.parent ? this.orders.get(order.parent) : undefined;
    if (parent) parent.legs = parent.legs.map((id) => (id === order.id ? successor.id : id));
    for (const legId of successor.legs) { const leg = this.orders.get(legId); if (leg) leg.parent = successor.id; }
    this.match(order.symbol);
    return HttpResponse.json(this.orderJson(successor, true), { headers });
  }

  private siblingsOf(order: FakeOrder): FakeOrder[] {
    const parent = order.parent ? this.orders.get(order.parent) : undefined;
    return (parent?.legs ?? []).filter((id) => id !== order.id).map((id) => this.orders.get(id)).filter((o): o is FakeOrder => o !== undefined);
  }

  /** Matches every working order on a symbol against its last price, until nothing more happens (a fill can wake legs). */
  private match(symbol: string): void {
    const last = this.prices.get(symbol);
    if (!last) return;
    const p = last.price;
    for (let changed = true; changed;) {
      changed = false;
      for (const o of [...this.orders.values()]) {
        if (o.symbol !== symbol || !LIVE.has(o.status) || o.status === 'held') continue;
        const asset = this.assets.get(symbol);
        if (o.type === 'market' && asset?.class === 'us_equity' && !this.marketOpen) continue; // queued for the open
        const fillAt = this.triggerPrice(o, p);
        if (fillAt) { this.fill(o, fillAt); changed = true; }
      }
    }
  }

  private triggerPrice(o: FakeOrder, p: Decimal): Decimal | undefined {
    const buy = o.side === 'buy';
    const crossesLimit = (limit: Decimal): boolean => (buy ? p.lte(limit) : p.gte(limit));
    const crossesStop = (stop: Decimal): boolean => (buy ? p.gte(stop) : p.lte(stop));
    switch (o.type) {
      case 'market': return p;
      case 'limit': return o.limit_price && crossesLimit(o.limit_price) ? p : undefined;
      case 'stop': return o.stop_price && crossesStop(o.stop_price) ? p : undefined;
      case 'stop_limit':
        if (!o.triggered && o.stop_price && crossesStop(o.stop_price)) o.triggered = true;
        return o.triggered && o.limit_price && crossesLimit(o.limit_price) ? p : undefined;
      case 'trailing_stop': {
        o.hwm = o.hwm === null ? p : buy ? Decimal.min(o.hwm, p) : Decimal.max(o.hwm, p);
        const trail = o.trail_price ?? o.hwm.mul(o.trail_percent ?? ZERO).div(100);
        o.stop_price = buy ? o.hwm.plus(trail) : o.hwm.minus(trail);
        return crossesStop(o.stop_price) ? p : undefined;
      }
      default: return undefined;
    }
  }

  /**
   * Fills part of a working order at its limit (a take-profit taking liquidity in pieces). As Alpaca does, a partial
   * take-profit fill shrinks its bracket's stop to what the position has left.
   */
  fillPart(orderId: string, quantity: string): void {
    const o = this.orders.get(orderId);
    if (!o || !LIVE.has(o.status) || o.status === 'held') throw new Error(`no working order ${orderId}`);
    const qty = d(quantity);
    const price = o.limit_price ?? this.prices.get(o.symbol)?.price ?? ZERO;
    const now = this.now();
    const signed = o.side === 'buy' ? qty : qty.neg();
    const held = this.positions.get(o.symbol) ?? { qty: ZERO, avg: ZERO };
    const next = held.qty.plus(signed);
    if (next.isZero()) this.positions.delete(o.symbol);
    else this.positions.set(o.symbol, { qty: next, avg: held.avg });
    this.cash = this.cash.minus(signed.mul(price));
    const before = o.filled_qty;
    o.filled_qty = before.plus(qty);
    o.filled_avg_price = price;
    this.setStatus(o, o.filled_qty.gte(o.qty) ? 'filled' : 'partially_filled');
    this.activities.push({ id: `${now.toISOString().replace(/\D/g, '').slice(0, 17)}::${randomUUID()}`, order_id: o.id, symbol: o.symbol, side: o.side, qty, price, at: now });
    if (o.parent) for (const sibling of this.siblingsOf(o)) if (LIVE.has(sibling.status)) sibling.qty = next.abs();
  }

  private fill(o: FakeOrder, price: Decimal): void {
    const now = this.now();
    const qty = o.qty.minus(o.filled_qty);
    const signed = o.side === 'buy' ? qty : qty.neg();
    const held = this.positions.get(o.symbol) ?? { qty: ZERO, avg: ZERO };
    const next = held.qty.plus(signed);
    let avg = held.avg;
    if (held.qty.isZero() || held.qty.isNegative() === signed.isNegative()) avg = held.qty.abs().mul(held.avg).plus(qty.mul(price)).div(next.abs());
    else if (!next.isZero() && next.isNegative() !== held.qty.isNegative()) avg = price;
    if (next.isZero()) this.positions.delete(o.symbol);
    else this.positions.set(o.symbol, { qty: next, avg });
    this.cash = this.cash.minus(signed.mul(price));
    o.filled_qty = o.qty;
    o.filled_avg_price = price;
    o.filled_at = now;
    this.setStatus(o, 'filled');
    this.activities.push({ id: `${now.toISOString().replace(/\D/g, '').slice(0, 17)}::${randomUUID()}`, order_id: o.id, symbol: o.symbol, side: o.side, qty, price, at: now });
    for (const legId of o.legs) {
      const leg = this.orders.get(legId);
      if (leg?.status === 'held') this.setStatus(leg, 'new');
    }
    // One-cancels-other inside a bracket: the venue does it.
    if (o.parent) for (const sibling of this.siblingsOf(o)) if (LIVE.has(sibling.status)) this.setStatus(sibling, 'canceled');
  }

  private setStatus(o: FakeOrder, status: string): void {
    o.status = status;
    o.updated_at = this.now();
    if (status === 'canceled') o.canceled_at = o.updated_at;
  }

  private asset(symbol: string): FakeAsset | undefined {
    const text = symbol.toUpperCase();
    return this.assets.get(text) ?? [...this.assets.values()].find((a) => a.symbol.replace('/', '') === text);
  }

  /**
   * Rests `count` open buy limits on a symbol at once (an account with many open orders), submitted `spacingMs` apart
   * and ending now; a `burst` of them shares one submission time, as orders sent together can. Returns their client ids, oldest first.
   */
  restOpenOrders(symbol: string, count: number, options: { spacingMs?: number; burst?: { from: number; count: number } } = {}): string[] {
    const asset = this.asset(symbol);
    if (!asset) throw new Error(`alpaca fake: no asset ${symbol}`);
    const spacing = options.spacingMs ?? 1_000;
    const end = this.now().getTime();
    const ids: string[] = [];
    const burst = options.burst ?? { from: 0, count: 0 };
    let at = end - count * spacing;
    for (let i = 0; i < count; i++) {
      if (!(i > burst.from && i < burst.from + burst.count)) at += spacing;
      const created = new Date(at);
      const o: FakeOrder = {
        id: randomUUID(), client_order_id: `rest-${randomUUID()}`, symbol: asset.symbol, asset_class: asset.class, qty: d(1), filled_qty: ZERO, filled_avg_price: null,
        order_class: '', type: 'limit', side: 'buy', time_in_force: asset.class === 'crypto' ? 'gtc' : 'day', limit_price: d('0.01'), stop_price: null, trail_price: null,
        trail_percent: null, hwm: null, extended_hours: false, status: 'new', triggered: false, created_at: created, updated_at: created, filled_at: null,
        canceled_at: null, replaced_by: null, replaces: null, parent: null, legs: [],
      };
      this.orders.set(o.id, o);
      ids.push(o.client_order_id);
    }
    return ids;
  }

  /** GET /v2/orders as Alpaca answers it: by submission time (desc unless asked), `after`/`until` exclusive, at most 500 (50 unless asked). */
  private listOrders(query: Record<string, string>): unknown[] {
    const status = query.status ?? 'open';
    const nested = query.nested === 'true';
    const wanted = query.symbols?.split(',').map((s) => this.asset(s)?.symbol);
    const after = query.after ? new Date(query.after).getTime() : -Infinity;
    const until = query.until ? new Date(query.until).getTime() : Infinity;
    let list = [...this.orders.values()].filter((o) => (status === 'all' || (status === 'open') === LIVE.has(o.status)) && (!wanted || wanted.includes(o.symbol))
      && o.created_at.getTime() > after && o.created_at.getTime() < until);
    if (nested) list = list.filter((o) => o.parent === null);
    list.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
    if (query.direction !== 'asc') list.reverse();
    // A larger limit is not an error at Alpaca: the page is silently cut at 500, which is what hides the rest.
    return list.slice(0, Math.min(500, Number(query.limit ?? 50))).map((o) => this.orderJson(o, nested));
  }

  private orderJson(o: FakeOrder, nested: boolean): Record<string, unknown> {
    const s = (v: Decimal | null): string | null => v?.toFixed() ?? null;
    const iso = (v: Date | null): string | null => v?.toISOString() ?? null;
    return {
      id: o.id, client_order_id: o.client_order_id, created_at: iso(o.created_at), updated_at: iso(o.updated_at), submitted_at: iso(o.created_at),
      filled_at: iso(o.filled_at), expired_at: null, canceled_at: iso(o.canceled_at), failed_at: null, replaced_at: o.replaced_by ? iso(o.updated_at) : null,
      replaced_by: o.replaced_by, replaces: o.replaces, asset_id: randomUUID(), symbol: o.symbol, asset_class: o.asset_class, notional: null,
      qty: o.qty.toFixed(), filled_qty: o.filled_qty.toFixed(), filled_avg_price: s(o.filled_avg_price), order_class: o.order_class, order_type: o.type,
      type: o.type, side: o.side, position_intent: o.side === 'buy' ? 'buy_to_open' : 'sell_to_close', time_in_force: o.time_in_force,
      limit_price: s(o.limit_price), stop_price: s(o.stop_price), status: o.status, extended_hours: o.extended_hours,
      trail_percent: s(o.trail_percent), trail_price: s(o.trail_price), hwm: s(o.hwm), source: null, subtag: null,
      legs: nested && o.legs.length > 0 ? o.legs.map((id) => this.orders.get(id)).filter((l): l is FakeOrder => l !== undefined).map((l) => this.orderJson(l, false)) : null,
    };
  }

  private accountJson(): Record<string, unknown> {
    let marketValue = ZERO;
    for (const [symbol, p] of this.positions) marketValue = marketValue.plus(p.qty.mul(this.prices.get(symbol)?.price ?? p.avg));
    const equity = this.cash.plus(marketValue);
    const bp = this.buyingPower().toFixed();
    return {
      id: 'e6fe16f3-64a4-4921-8928-cadf02f92f98', account_number: 'PA3FAKE00001', status: 'ACTIVE', crypto_status: 'ACTIVE', currency: 'USD',
      cash: this.cash.toFixed(), portfolio_value: equity.toFixed(), equity: equity.toFixed(), last_equity: equity.toFixed(), buying_power: bp,
      regt_buying_power: bp, daytrading_buying_power: bp, non_marginable_buying_power: bp, multiplier: '1', shorting_enabled: true,
      trading_blocked: false, transfers_blocked: false, account_blocked: false, pattern_day_trader: false, daytrade_count: 0,
      created_at: '2019-06-12T22:47:07.99658Z',
    };
  }

  private clockJson(): Record<string, unknown> {
    const now = this.now();
    const hour = 3_600_000;
    return {
      timestamp: now.toISOString(), is_open: this.marketOpen,
      next_open: new Date(now.getTime() + (this.marketOpen ? 20 : 2) * hour).toISOString(),
      next_close: new Date(now.getTime() + (this.marketOpen ? 2 : 26) * hour).toISOString(),
    };
  }

  private positionJson(symbol: string): Record<string, unknown> {
    const p = this.positions.get(symbol);
    const asset = this.assets.get(symbol);
    if (!p || !asset) throw new Error(`alpaca fake: no position ${symbol}`);
    const mark = this.prices.get(symbol)?.price ?? p.avg;
    return {
      asset_id: randomUUID(), symbol: symbol.replace('/', ''), exchange: asset.class === 'crypto' ? 'CRYPTO' : 'NASDAQ', asset_class: asset.class,
      asset_marginable: asset.class !== 'crypto', qty: p.qty.toFixed(), qty_available: p.qty.toFixed(), avg_entry_price: p.avg.toFixed(),
      side: p.qty.isNegative() ? 'short' : 'long', market_value: p.qty.mul(mark).toFixed(), cost_basis: p.qty.mul(p.avg).toFixed(),
      unrealized_pl: mark.minus(p.avg).mul(p.qty).toFixed(), current_price: mark.toFixed(), lastday_price: mark.toFixed(), change_today: '0',
    };
  }

  private fillsJson(query: Record<string, string>): unknown[] {
    const after = query.after ? new Date(query.after).getTime() : -Infinity;
    let list = this.activities.filter((a) => a.at.getTime() > after);
    if (query.page_token) list = list.slice(list.findIndex((a) => a.id === query.page_token) + 1);
    return list.slice(0, Number(query.page_size ?? 100)).map((a) => ({
      id: a.id, activity_type: 'FILL', transaction_time: a.at.toISOString(), type: 'fill', price: a.price.toFixed(), qty: a.qty.toFixed(),
      side: a.side, symbol: a.symbol, leaves_qty: '0', order_id: a.order_id, cum_qty: a.qty.toFixed(), order_status: 'filled',
    }));
  }

  /** Market data answers with prices as JSON numbers, as Alpaca's data API does; written from the decimal's text so no digit is lost. */
  private marketData(path: string, query: Record<string, string>): Response {
    const snapshot = (symbol: string): string | undefined => {
      const last = this.prices.get(symbol);
      if (!last) return undefined;
      const t = JSON.stringify(last.at.toISOString());
      const p = last.price.toFixed();
      return `{"latestTrade":{"t":${t},"x":"V","p":${p},"s":100,"c":["@"],"i":52983525029461,"z":"C"},"latestQuote":{"t":${t},"ax":"V","ap":${p},"as":1,"bx":"V","bp":${p},"bs":1,"c":["R"],"z":"C"}}`;
    };
    const symbols = (query.symbols ?? '').split(',').filter((s) => s !== '');
    const entries = symbols.map((s) => [s, snapshot(this.asset(s)?.symbol ?? s)] as const).filter(([, v]) => v !== undefined).map(([s, v]) => `${JSON.stringify(s)}:${v}`);
    const json = { 'content-type': 'application/json' };
    if (path === '/v2/stocks/snapshots') return new HttpResponse(`{${entries.join(',')}}`, { headers: json });
    if (path === '/v1beta3/crypto/us/snapshots') return new HttpResponse(`{"snapshots":{${entries.join(',')}}}`, { headers: json });
    return HttpResponse.json({ message: 'not found' }, { status: 404 });
  }
}

function stormServerError(status: 500 | 502 | 503): Response {
  return HttpResponse.json({ code: 50010000, message: status === 502 ? 'bad gateway' : 'internal server error occurred' }, { status });
}

function notFound(message: string): Response {
  return HttpResponse.json({ code: 40410000, message }, { status: 404 });
}

function unprocessable(message: string, code: number): Response {
  return HttpResponse.json({ code, message }, { status: 422 });
}
