// A stateful Coinbase Advanced Trade (spot) for msw: its wire format, every request's ES256 JWT verified, balances, orders, attached brackets and fills kept.
//
// Behaviour modelled on shared/reference/brokers.md §4: each request must carry a fresh JWT signed by the test key
// (`kid`/`sub` the key name, `iss: cdp`, a nonce, at most 120 s between nbf and exp, `uri` = "METHOD host/path"),
// else 401 `Unauthorized` as plain text. Orders are refused with HTTP 200 and `success: false`. Market orders fill at
// the price the test sets; limits, stop-limits and brackets trigger as it moves. An attached trigger bracket is
// PENDING until its entry fills, then OPEN holding the coins; its target or its stop (a stop-limit 5 % beyond the
// trigger once STOP_TRIGGERED) fills and that ends it. A reused client_order_id returns the order placed before.
import { generateKeyPairSync, randomUUID, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { HttpResponse, delay, http } from 'msw';
import type { RequestHandler } from 'msw';
import { z } from 'zod';
import { Decimal } from '../../src/domain/money.ts';

export const FAKE_COINBASE_URL = 'https://api.coinbase.com';
export const FAKE_KEY_NAME = 'organizations/4f6d1a1e-0000-4000-8000-000000000001/apiKeys/9a8b7c6d-0000-4000-8000-000000000002';
const API = '/api/v3/brokerage';
const STOP_BAND = new Decimal('0.05');

export type CoinbaseFailure = 'authentication' | 'insufficient_funds' | 'invalid_symbol' | 'order_rejected' | 'market_closed' | 'rate_limited' | 'unavailable' | 'network' | 'timeout'
  // Carried out by Coinbase first, then answered with a 503, a dropped connection, or no answer at all: the unforgiving cases.
  | 'unavailable_after_execution' | 'network_after_execution' | 'unknown_status_after_execution';

export interface FakeProduct {
  base_increment: string;
  quote_increment: string;
  base_min_size: string;
  quote_min_size: string;
  price: string;
}

export interface CoinbaseFakeOptions {
  keyName?: string | undefined;
  baseUrl?: string | undefined;
  /** Starting cash in USD. */
  usd?: string | undefined;
  products?: Record<string, FakeProduct> | undefined;
  now?: (() => Date) | undefined;
  /** The most a page holds whatever `limit` asks (Coinbase caps it too); small in tests that follow cursors. */
  pageLimit?: number | undefined;
}

export interface FakeCoinbaseOrder {
  order_id: string;
  client_order_id: string;
  product_id: string;
  side: 'BUY' | 'SELL';
  kind: 'market' | 'limit' | 'stop_limit' | 'bracket';
  config: Record<string, Record<string, unknown>>;
  size: Decimal;
  limit: Decimal | null;
  stop: Decimal | null;
  stopUp: boolean;
  status: 'PENDING' | 'OPEN' | 'FILLED' | 'CANCELLED';
  triggered: boolean;
  filled: Decimal;
  value: Decimal;
  created: Date;
  lastFill: Date | null;
  originating: string;
  attached: string;
  attachedConfig: Record<string, Record<string, unknown>> | null;
  held: Decimal;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  authenticated: boolean;
  claims?: Record<string, unknown> | undefined;
  header?: Record<string, unknown> | undefined;
}

const d = (v: string | number | Decimal): Decimal => new Decimal(v.toString());
const ZERO = d(0);

const sizeText = z.string().regex(/^\d+(\.\d+)?$/);
const createBody = z.object({
  client_order_id: z.string().min(1),
  product_id: z.string(),
  side: z.enum(['BUY', 'SELL']),
  order_configuration: z.object({
    market_market_ioc: z.object({ base_size: sizeText }).strict().optional(),
    limit_limit_gtc: z.object({ base_size: sizeText, limit_price: sizeText, post_only: z.boolean().optional() }).strict().optional(),
    sor_limit_ioc: z.object({ base_size: sizeText, limit_price: sizeText }).strict().optional(),
    limit_limit_fok: z.object({ base_size: sizeText, limit_price: sizeText }).strict().optional(),
    stop_limit_stop_limit_gtc: z.object({ base_size: sizeText, limit_price: sizeText, stop_price: sizeText, stop_direction: z.enum(['STOP_DIRECTION_STOP_UP', 'STOP_DIRECTION_STOP_DOWN']) }).strict().optional(),
    trigger_bracket_gtc: z.object({ base_size: sizeText, limit_price: sizeText, stop_trigger_price: sizeText }).strict().optional(),
  }).strict().refine((c) => Object.keys(c).length === 1, 'exactly one order configuration'),
  attached_order_configuration: z.object({
    trigger_bracket_gtc: z.object({ limit_price: sizeText, stop_trigger_price: sizeText }).strict(),
  }).strict().optional(),
}).strict();

export function defaultCoinbaseProducts(): Record<string, FakeProduct> {
  return {
    'BTC-USD': { base_increment: '0.00000001', quote_increment: '0.01', base_min_size: '0.00000001', quote_min_size: '1', price: '60000' },
    'ETH-USD': { base_increment: '0.00000001', quote_increment: '0.01', base_min_size: '0.00000001', quote_min_size: '1', price: '3000' },
    'SOL-USD': { base_increment: '0.001', quote_increment: '0.01', base_min_size: '0.001', quote_min_size: '1', price: '100' },
    'LTC-USD': { base_increment: '0.001', quote_increment: '0.01', base_min_size: '0.001', quote_min_size: '1', price: '100' },
    'ETH-BTC': { base_increment: '0.00000001', quote_increment: '0.00001', base_min_size: '0.00000001', quote_min_size: '0.00001', price: '0.05' },
  };
}

export class CoinbaseFake {
  readonly keyName: string;
  readonly baseUrl: string;
  /** The CDP private key the adapter signs with (PEM, SEC1 "EC PRIVATE KEY" as Coinbase hands it out). */
  readonly privateKeyPem: string;
  readonly handlers: RequestHandler[];
  requests: RecordedRequest[] = [];
  readonly portfolioId = randomUUID();

  private readonly publicKey: KeyObject;
  private readonly options: CoinbaseFakeOptions;
  private readonly now: () => Date;
  private products = new Map<string, FakeProduct>();
  private balances = new Map<string, { available: Decimal; hold: Decimal }>();
  private cost = new Map<string, { quantity: Decimal; cost: Decimal }>();
  private orders = new Map<string, FakeCoinbaseOrder>();
  private fills: Array<Record<string, unknown> & { order_id: string; trade_time: string }> = [];
  private failures: CoinbaseFailure[] = [];
  private loseNextAnswer = false;

  constructor(options: CoinbaseFakeOptions = {}) {
    this.options = options;
    this.keyName = options.keyName ?? FAKE_KEY_NAME;
    this.baseUrl = options.baseUrl ?? FAKE_COINBASE_URL;
    this.now = options.now ?? (() => new Date());
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.publicKey = pair.publicKey;
    this.privateKeyPem = pair.privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    this.handlers = [http.all(`${this.baseUrl}${API}/*`, ({ request }) => this.serve(request))];
    this.reset();
  }

  /** A fresh account: cash in USD, nothing else held, no orders, the default products at their default prices. */
  reset(usd = this.options.usd ?? '100000'): void {
    this.products = new Map(Object.entries(this.options.products ?? defaultCoinbaseProducts()).map(([id, p]) => [id, { ...p }]));
    this.balances = new Map([['USD', { available: d(usd), hold: ZERO }]]);
    this.cost.clear();
    this.orders.clear();
    this.fills = [];
    this.failures = [];
    this.loseNextAnswer = false;
    this.requests = [];
  }

  /** The next order placement fails the way Coinbase signals this kind of failure. */
  inject(kind: CoinbaseFailure): boolean {
    this.failures.push(kind);
    return true;
  }

  /** The next order placement is carried out, but its answer comes too late for any client (a timeout whose order exists). */
  placeThenTimeOut(): void {
    this.loseNextAnswer = true;
  }

  setPrice(productId: string, price: string): void {
    const product = this.products.get(productId);
    if (!product) throw new Error(`coinbase fake: no product ${productId}`);
    product.price = d(price).toFixed();
    this.match(productId);
  }

  balance(currency: string): Decimal {
    const b = this.balances.get(currency);
    return b ? b.available.plus(b.hold) : ZERO;
  }

  allOrders(): FakeCoinbaseOrder[] {
    return [...this.orders.values()];
  }

  /** Authenticated calls that reached a route (the e2e tests read which calls went out). */
  calls(method?: string, path?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.authenticated && (method === undefined || r.method === method) && (path === undefined || r.path === path));
  }

  private async serve(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname.slice(API.length);
    const text = request.method === 'GET' ? '' : await request.text();
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    const auth = this.verifyJwt(request.headers.get('authorization'), request.method, url);
    this.requests.push({ method: request.method, path, query: url.searchParams, body, authenticated: auth.ok, claims: auth.claims, header: auth.header });
    // Coinbase answers a bad token with a bare 401, no JSON.
    if (!auth.ok) return new HttpResponse('Unauthorized', { status: 401, headers: { 'content-type': 'text/plain' } });
    return this.route(request.method, path, url.searchParams, body);
  }

  /** Verifies the token as Coinbase does: signature by the key's public half, the claims, the time window and the uri. */
  private verifyJwt(authorization: string | null, method: string, url: URL): { ok: boolean; claims?: Record<string, unknown>; header?: Record<string, unknown> } {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const parts = token?.split('.');
    if (!parts || parts.length !== 3) return { ok: false };
    const [h = '', p = '', s = ''] = parts;
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    } catch {
      return { ok: false };
    }
    const signed = verify('sha256', Buffer.from(`${h}.${p}`), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
    const now = Math.floor(this.now().getTime() / 1000);
    const nbf = typeof claims.nbf === 'number' ? claims.nbf : NaN;
    const exp = typeof claims.exp === 'number' ? claims.exp : NaN;
    const ok = signed && header.alg === 'ES256' && header.kid === this.keyName && typeof header.nonce === 'string' && header.nonce.length >= 16
      && claims.iss === 'cdp' && claims.sub === this.keyName && claims.uri === `${method} ${url.host}${url.pathname}`
      && nbf <= now + 5 && exp > now && exp - nbf <= 120;
    return { ok, claims, header };
  }

  private async route(method: string, path: string, query: URLSearchParams, body: unknown): Promise<Response> {
    const route = `${method} ${path}`;
    if (route === 'POST /orders') {
      const failure = this.failures.shift();
      if (failure === 'unavailable_after_execution' || failure === 'network_after_execution' || failure === 'unknown_status_after_execution') {
        const answer = this.create(body);
        if (failure === 'unavailable_after_execution') return HttpResponse.json({ error: 'unavailable', message: 'service unavailable' }, { status: 503 });
        if (failure === 'network_after_execution') return HttpResponse.error();
        await delay(3_000);
        return answer;
      }
      if (failure) return this.failure(failure, body);
      if (this.loseNextAnswer) {
        this.loseNextAnswer = false;
        const answer = this.create(body);
        await delay(3_000);
        return answer;
      }
      return this.create(body);
    }
    if (route === 'GET /accounts') return HttpResponse.json(this.accountsPage(query));
    if (route === 'GET /portfolios') return HttpResponse.json({ portfolios: [{ name: 'Default', uuid: this.portfolioId, type: 'DEFAULT', deleted: false }] });
    if (route === `GET /portfolios/${this.portfolioId}`) return HttpResponse.json(this.breakdown());
    if (route === 'GET /products') {
      const ids = query.getAll('product_ids');
      const products = [...this.products.keys()].filter((id) => ids.length === 0 || ids.includes(id)).map((id) => this.productJson(id));
      return HttpResponse.json({ products, num_products: products.length });
    }
    if (route === 'GET /best_bid_ask') {
      const pricebooks = query.getAll('product_ids').filter((id) => this.products.has(id)).map((id) => {
        const p = this.products.get(id) as FakeProduct;
        return { product_id: id, bids: [{ price: d(p.price).minus(p.quote_increment).toFixed(), size: '1' }], asks: [{ price: d(p.price).plus(p.quote_increment).toFixed(), size: '1' }], time: this.now().toISOString() };
      });
      return HttpResponse.json({ pricebooks });
    }
    if (route === 'GET /orders/historical/batch') return HttpResponse.json(this.ordersPage(query));
    if (route === 'GET /orders/historical/fills') return HttpResponse.json(this.fillsPage(query));
    if (route === 'POST /orders/batch_cancel') return HttpResponse.json(this.batchCancel(body));
    let m = /^\/products\/([^/]+)$/.exec(path);
    if (m?.[1] && method === 'GET') {
      return this.products.has(m[1]) ? HttpResponse.json(this.productJson(m[1])) : HttpResponse.json({ error: 'NOT_FOUND', message: 'ProductID not found', error_details: '' }, { status: 404 });
    }
    m = /^\/orders\/historical\/([^/]+)$/.exec(path);
    if (m?.[1] && method === 'GET') {
      const order = this.orders.get(m[1]);
      return order ? HttpResponse.json({ order: this.orderJson(order) }) : HttpResponse.json({ error: 'NOT_FOUND', message: 'order with this orderID was not found', error_details: '' }, { status: 404 });
    }
    return HttpResponse.json({ error: 'NOT_FOUND', message: `coinbase fake: no route ${route}` }, { status: 404 });
  }

  private async failure(kind: CoinbaseFailure, body: unknown): Promise<Response> {
    const refused = (error: string, message: string, preview?: string): Response => HttpResponse.json({
      success: false, failure_reason: 'UNKNOWN_FAILURE_REASON', order_id: '',
      error_response: { error, message, error_details: '', ...(preview ? { preview_failure_reason: preview } : {}), new_order_failure_reason: error },
      order_configuration: (body as { order_configuration?: unknown } | undefined)?.order_configuration,
    });
    switch (kind) {
      case 'authentication': return new HttpResponse('Unauthorized', { status: 401, headers: { 'content-type': 'text/plain' } });
      case 'insufficient_funds': return refused('INSUFFICIENT_FUND', 'Insufficient balance in source account', 'PREVIEW_INSUFFICIENT_FUND');
      case 'invalid_symbol': return refused('INVALID_PRODUCT_ID', 'Invalid product_id', 'PREVIEW_INVALID_PRODUCT_ID');
      case 'order_rejected': return refused('INVALID_PRICE_PRECISION', 'Too many decimals in order price');
      case 'market_closed': return refused('ORDER_ENTRY_DISABLED', 'Order entry is disabled for this product');
      case 'rate_limited': return HttpResponse.json({ error: 'RATE_LIMIT_EXCEEDED', message: 'Too many requests' }, { status: 429, headers: { 'retry-after': '1' } });
      case 'unavailable': return HttpResponse.json({ error: 'INTERNAL', message: 'internal error' }, { status: 503 });
      case 'network': return HttpResponse.error();
      case 'timeout': await delay(3_000); return HttpResponse.json({ error: 'DEADLINE_EXCEEDED', message: 'too late' }, { status: 504 });
      default: throw new Error(`coinbase fake: ${kind} is answered after the order is created`);
    }
  }

  private create(raw: unknown): Response {
    const parsed = createBody.safeParse(raw);
    if (!parsed.success) {
      return HttpResponse.json({ error: 'INVALID_ARGUMENT', message: parsed.error.issues[0]?.message ?? 'invalid request', error_details: '' }, { status: 400 });
    }
    const req = parsed.data;
    const existing = [...this.orders.values()].find((o) => o.client_order_id === req.client_order_id);
    if (existing) return this.success(existing, req.order_configuration); // Coinbase's idempotency: the order placed before
    const refuse = (error: string, message: string): Response => HttpResponse.json({
      success: false, failure_reason: 'UNKNOWN_FAILURE_REASON', order_id: '',
      error_response: { error, message, error_details: '', new_order_failure_reason: error }, order_configuration: req.order_configuration,
    });
    const product = this.products.get(req.product_id);
    if (!product) return refuse('INVALID_PRODUCT_ID', 'Invalid product_id');
    const [kindKey, config] = Object.entries(req.order_configuration)[0] as [string, Record<string, string | boolean>];
    const size = d(String(config.base_size));
    if (size.lt(product.base_min_size)) return refuse('INVALID_SIZE', 'size is below the minimum');
    if (!size.mod(product.base_increment).isZero()) return refuse('INVALID_SIZE_PRECISION', 'Too many decimals in order size');
    for (const name of ['limit_price', 'stop_price', 'stop_trigger_price']) {
      const value = config[name];
      if (typeof value === 'string' && !d(value).mod(product.quote_increment).isZero()) return refuse('INVALID_PRICE_PRECISION', 'Too many decimals in order price');
    }
    const kind: FakeCoinbaseOrder['kind'] = kindKey === 'market_market_ioc' ? 'market' : kindKey === 'stop_limit_stop_limit_gtc' ? 'stop_limit' : kindKey === 'trigger_bracket_gtc' ? 'bracket' : 'limit';
    const price = d(product.price);
    const limit = typeof config.limit_price === 'string' ? d(config.limit_price) : null;
    const [base = '', quote = ''] = req.product_id.split('-');
    // Funds: a buy holds its notional in the quote currency, a sell its size in the base currency.
    const need = req.side === 'BUY' ? size.mul(limit ?? price) : size;
    const from = this.wallet(req.side === 'BUY' ? quote : base);
    if (from.available.lt(need)) return refuse('INSUFFICIENT_FUND', 'Insufficient balance in source account');
    const attached = req.attached_order_configuration?.trigger_bracket_gtc;
    if (attached && (req.side === 'BUY' ? d(attached.stop_trigger_price).gte(d(attached.limit_price)) : d(attached.stop_trigger_price).lte(d(attached.limit_price)))) {
      return refuse('INVALID_ARGUMENT', 'stop trigger price must be on the losing side of the limit price');
    }
    const order = this.newOrder({
      client_order_id: req.client_order_id, product_id: req.product_id, side: req.side, kind, config: req.order_configuration as FakeCoinbaseOrder['config'], size, limit,
      stop: typeof config.stop_price === 'string' ? d(config.stop_price) : typeof config.stop_trigger_price === 'string' ? d(config.stop_trigger_price) : null,
      stopUp: config.stop_direction === 'STOP_DIRECTION_STOP_UP',
      attachedConfig: req.attached_order_configuration ? { trigger_bracket_gtc: { ...req.attached_order_configuration.trigger_bracket_gtc } } : null,
    });
    from.available = from.available.minus(need);
    from.hold = from.hold.plus(need);
    order.held = need;
    if (attached) {
      const exit = this.newOrder({
        client_order_id: '', product_id: req.product_id, side: req.side === 'BUY' ? 'SELL' : 'BUY', kind: 'bracket',
        config: { trigger_bracket_gtc: { limit_price: attached.limit_price, stop_trigger_price: attached.stop_trigger_price } }, size,
        limit: d(attached.limit_price), stop: d(attached.stop_trigger_price), stopUp: req.side === 'SELL', attachedConfig: null,
      });
      exit.status = 'PENDING';
      exit.originating = order.order_id;
      order.attached = exit.order_id;
    }
    this.match(req.product_id);
    if (order.kind === 'market' && order.status === 'OPEN') this.cancel(order); // IOC: what did not fill is gone
    return this.success(order, req.order_configuration);
  }

  private success(order: FakeCoinbaseOrder, configuration: unknown): Response {
    return HttpResponse.json({
      success: true, failure_reason: 'UNKNOWN_FAILURE_REASON', order_id: order.order_id,
      success_response: { order_id: order.order_id, product_id: order.product_id, side: order.side, client_order_id: order.client_order_id, ...(order.attached ? { attached_order_id: order.attached } : {}) },
      order_configuration: configuration,
    });
  }

  private newOrder(fields: Pick<FakeCoinbaseOrder, 'client_order_id' | 'product_id' | 'side' | 'kind' | 'config' | 'size' | 'limit' | 'stop' | 'stopUp' | 'attachedConfig'>): FakeCoinbaseOrder {
    const order: FakeCoinbaseOrder = {
      order_id: randomUUID(), status: 'OPEN', triggered: false, filled: ZERO, value: ZERO, created: this.now(), lastFill: null, originating: '', attached: '', held: ZERO, ...fields,
    };
    this.orders.set(order.order_id, order);
    return order;
  }

  private wallet(currency: string): { available: Decimal; hold: Decimal } {
    let w = this.balances.get(currency);
    if (!w) {
      w = { available: ZERO, hold: ZERO };
      this.balances.set(currency, w);
    }
    return w;
  }

  /** Every live order of the product against its price, oldest first, until nothing more fills. */
  private match(productId: string): void {
    const price = d((this.products.get(productId) as FakeProduct).price);
    for (let again = true; again;) {
      again = false;
      for (const order of [...this.orders.values()]) {
        if (order.product_id !== productId || order.status !== 'OPEN') continue;
        const buy = order.side === 'BUY';
        let fill: boolean;
        if (order.kind === 'market') fill = true;
        else if (order.kind === 'limit') fill = buy ? price.lte(order.limit as Decimal) : price.gte(order.limit as Decimal);
        else if (order.kind === 'stop_limit') {
          if (!order.triggered && (order.stopUp ? price.gte(order.stop as Decimal) : price.lte(order.stop as Decimal))) order.triggered = true;
          fill = order.triggered && (buy ? price.lte(order.limit as Decimal) : price.gte(order.limit as Decimal));
        } else {
          // A bracket: its target is a limit; past its stop trigger it becomes a stop-limit 5 % beyond the trigger.
          const stop = order.stop as Decimal;
          if (!order.triggered && (buy ? price.gte(stop) : price.lte(stop))) order.triggered = true;
          if (order.triggered) fill = buy ? price.lte(stop.mul(STOP_BAND.plus(1))) : price.gte(stop.mul(d(1).minus(STOP_BAND)));
          else fill = buy ? price.lte(order.limit as Decimal) : price.gte(order.limit as Decimal);
        }
        if (fill) {
          this.fill(order, order.size.minus(order.filled), price);
          again = true;
        }
      }
    }
  }

  private fill(order: FakeCoinbaseOrder, size: Decimal, price: Decimal): void {
    const [base = '', quote = ''] = order.product_id.split('-');
    const at = this.now();
    const notional = size.mul(price);
    const baseWallet = this.wallet(base);
    const quoteWallet = this.wallet(quote);
    if (order.side === 'BUY') {
      quoteWallet.hold = quoteWallet.hold.minus(order.held);
      quoteWallet.available = quoteWallet.available.plus(order.held).minus(notional);
      baseWallet.available = baseWallet.available.plus(size);
      const c = this.cost.get(base) ?? { quantity: ZERO, cost: ZERO };
      this.cost.set(base, { quantity: c.quantity.plus(size), cost: c.cost.plus(notional) });
    } else {
      baseWallet.hold = baseWallet.hold.minus(order.held);
      baseWallet.available = baseWallet.available.plus(order.held).minus(size);
      quoteWallet.available = quoteWallet.available.plus(notional);
      const c = this.cost.get(base);
      if (c && c.quantity.gt(0)) {
        const left = Decimal.max(c.quantity.minus(size), ZERO);
        this.cost.set(base, { quantity: left, cost: c.cost.mul(left).div(c.quantity) });
      }
    }
    order.held = ZERO;
    order.filled = order.filled.plus(size);
    order.value = order.value.plus(notional);
    order.lastFill = at;
    order.status = 'FILLED';
    this.fills.push({
      entry_id: randomUUID(), trade_id: randomUUID(), order_id: order.order_id, trade_time: at.toISOString(), trade_type: 'FILL', price: price.toFixed(),
      size: size.toFixed(), commission: '0', product_id: order.product_id, sequence_timestamp: at.toISOString(), liquidity_indicator: order.kind === 'market' ? 'TAKER' : 'MAKER',
      size_in_quote: false, user_id: 'fake-user', side: order.side, retail_portfolio_id: this.portfolioId,
    });
    // The entry filled: its attached bracket starts working, holding the coins it will sell.
    const bracket = order.attached ? this.orders.get(order.attached) : undefined;
    if (bracket?.status === 'PENDING') {
      bracket.status = 'OPEN';
      bracket.size = order.filled;
      const wallet = this.wallet(bracket.side === 'SELL' ? base : quote);
      const need = bracket.side === 'SELL' ? bracket.size : bracket.size.mul(bracket.limit as Decimal);
      wallet.available = wallet.available.minus(need);
      wallet.hold = wallet.hold.plus(need);
      bracket.held = need;
    }
  }

  private cancel(order: FakeCoinbaseOrder): void {
    const [base = '', quote = ''] = order.product_id.split('-');
    const wallet = this.wallet(order.side === 'BUY' && order.kind !== 'bracket' ? quote : order.side === 'BUY' ? quote : base);
    wallet.hold = wallet.hold.minus(order.held);
    wallet.available = wallet.available.plus(order.held);
    order.held = ZERO;
    order.status = 'CANCELLED';
    const bracket = order.attached ? this.orders.get(order.attached) : undefined;
    if (bracket?.status === 'PENDING') bracket.status = 'CANCELLED';
  }

  private batchCancel(raw: unknown): Record<string, unknown> {
    const ids = z.object({ order_ids: z.array(z.string()) }).parse(raw).order_ids;
    return {
      results: ids.map((id) => {
        const order = this.orders.get(id);
        if (!order) return { success: false, failure_reason: 'UNKNOWN_CANCEL_ORDER', order_id: id };
        if (order.status !== 'OPEN' && order.status !== 'PENDING') return { success: false, failure_reason: 'COMMANDER_REJECTED_CANCEL_ORDER', order_id: id };
        this.cancel(order);
        return { success: true, failure_reason: 'UNKNOWN_CANCEL_FAILURE_REASON', order_id: id };
      }),
    };
  }

  private orderJson(o: FakeCoinbaseOrder): Record<string, unknown> {
    const config = o.kind === 'bracket' && o.originating
      ? { trigger_bracket_gtc: { ...o.config.trigger_bracket_gtc, base_size: o.size.toFixed() } }
      : o.config;
    return {
      order_id: o.order_id, product_id: o.product_id, user_id: 'fake-user', order_configuration: config, side: o.side, client_order_id: o.client_order_id,
      status: o.status, time_in_force: o.kind === 'market' ? 'IMMEDIATE_OR_CANCEL' : 'GOOD_UNTIL_CANCELLED', created_time: o.created.toISOString(),
      completion_percentage: o.size.isZero() ? '0' : o.filled.div(o.size).mul(100).toFixed(), filled_size: o.filled.toFixed(),
      average_filled_price: o.filled.isZero() ? '0' : o.value.div(o.filled).toFixed(), fee: '', number_of_fills: String(this.fills.filter((f) => f.order_id === o.order_id).length),
      filled_value: o.value.toFixed(), pending_cancel: false, size_in_quote: false, total_fees: '0', size_inclusive_of_fees: false, total_value_after_fees: o.value.toFixed(),
      trigger_status: o.kind === 'stop_limit' || o.kind === 'bracket' ? (o.triggered ? 'STOP_TRIGGERED' : 'STOP_PENDING') : 'INVALID_ORDER_TYPE',
      order_type: { market: 'MARKET', limit: 'LIMIT', stop_limit: 'STOP_LIMIT', bracket: 'BRACKET' }[o.kind], reject_reason: 'REJECT_REASON_UNSPECIFIED',
      settled: o.status === 'FILLED', product_type: 'SPOT', reject_message: '', cancel_message: o.status === 'CANCELLED' ? 'User requested cancel' : '',
      order_placement_source: 'RETAIL_ADVANCED', outstanding_hold_amount: o.held.toFixed(), is_liquidation: false, last_fill_time: o.lastFill?.toISOString() ?? null,
      edit_history: [], leverage: '', margin_type: 'UNKNOWN_MARGIN_TYPE', retail_portfolio_id: this.portfolioId, originating_order_id: o.originating,
      attached_order_id: o.attached, ...(o.attachedConfig ? { attached_order_configuration: o.attachedConfig } : {}),
    };
  }

  /** Cursor paging as Coinbase does it: an opaque cursor, `has_next` while more remain. */
  private page<T>(items: T[], query: URLSearchParams): { items: T[]; has_next: boolean; cursor: string } {
    const limit = Math.min(Number(query.get('limit') ?? '100'), this.options.pageLimit ?? 250);
    const start = Number(query.get('cursor') || '0');
    const items_ = items.slice(start, start + limit);
    const next = start + limit < items.length;
    return { items: items_, has_next: next, cursor: next ? String(start + limit) : '' };
  }

  private accountsPage(query: URLSearchParams): Record<string, unknown> {
    const all = [...this.balances.entries()].map(([currency, b]) => ({
      uuid: `${currency}-wallet`, name: `${currency} Wallet`, currency, available_balance: { value: b.available.toFixed(), currency }, default: true, active: true,
      created_at: '2023-01-04T06:20:06.456Z', updated_at: '2023-01-04T06:20:07.181Z', deleted_at: null,
      type: currency === 'USD' ? 'ACCOUNT_TYPE_FIAT' : 'ACCOUNT_TYPE_CRYPTO', ready: true, hold: { value: b.hold.toFixed(), currency },
    }));
    const { items, has_next, cursor } = this.page(all, query);
    return { accounts: items, has_next, cursor, size: items.length };
  }

  private breakdown(): Record<string, unknown> {
    let total = ZERO;
    const spot = [...this.balances.entries()].filter(([, b]) => b.available.plus(b.hold).gt(0)).map(([asset, b]) => {
      const held = b.available.plus(b.hold);
      const product = this.products.get(`${asset}-USD`);
      const fiat = asset === 'USD' ? held : held.mul(product?.price ?? 0);
      total = total.plus(fiat);
      const c = this.cost.get(asset);
      return {
        asset, account_uuid: `${asset}-wallet`, total_balance_fiat: fiat.toFixed(), total_balance_crypto: held.toFixed(), available_to_trade_fiat: fiat.toFixed(),
        allocation: 0, cost_basis: { value: (c?.cost ?? fiat).toFixed(), currency: 'USD' }, is_cash: asset === 'USD',
        average_entry_price: { value: c && c.quantity.gt(0) ? c.cost.div(c.quantity).toFixed() : '0', currency: 'USD' },
        available_to_trade_crypto: b.available.toFixed(), unrealized_pnl: c && product ? held.mul(product.price).minus(c.cost).toFixed() : '0', account_type: 'ACCOUNT_TYPE_CRYPTO',
      };
    });
    return {
      breakdown: {
        portfolio: { name: 'Default', uuid: this.portfolioId, type: 'DEFAULT', deleted: false },
        portfolio_balances: { total_balance: { value: total.toFixed(), currency: 'USD' }, total_cash_equivalent_balance: { value: this.balance('USD').toFixed(), currency: 'USD' } },
        spot_positions: spot, perp_positions: [], futures_positions: [],
      },
    };
  }

  private productJson(id: string): Record<string, unknown> {
    const p = this.products.get(id) as FakeProduct;
    const [base, quote] = id.split('-');
    return {
      product_id: id, price: p.price, price_percentage_change_24h: '0', volume_24h: '1000', base_increment: p.base_increment, quote_increment: p.quote_increment,
      quote_min_size: p.quote_min_size, quote_max_size: '10000000', base_min_size: p.base_min_size, base_max_size: '100000', base_name: base, quote_name: quote,
      watched: false, is_disabled: false, new: false, status: 'online', cancel_only: false, limit_only: false, post_only: false, trading_disabled: false,
      auction_mode: false, product_type: 'SPOT', quote_currency_id: quote, base_currency_id: base, price_increment: p.quote_increment, view_only: false,
    };
  }

  private ordersPage(query: URLSearchParams): Record<string, unknown> {
    const statuses = query.getAll('order_status');
    const products = query.getAll('product_ids');
    const matching = [...this.orders.values()]
      .filter((o) => (statuses.length === 0 || statuses.includes(o.status)) && (products.length === 0 || products.includes(o.product_id)))
      .reverse(); // newest first
    const { items, has_next, cursor } = this.page(matching, query);
    return { orders: items.map((o) => this.orderJson(o)), sequence: '0', has_next, cursor };
  }

  private fillsPage(query: URLSearchParams): Record<string, unknown> {
    const since = query.get('start_sequence_timestamp');
    const orderIds = query.getAll('order_ids');
    const matching = this.fills.filter((f) => (!since || f.trade_time >= since) && (orderIds.length === 0 || orderIds.includes(f.order_id)));
    const { items, cursor } = this.page(matching, query);
    return { fills: items, cursor };
  }
}
