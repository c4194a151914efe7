// A stateful IBKR Client Portal gateway for msw: its session, accounts, contracts, orders with brackets and questions, positions and money, on the CP wire format.
//
// Behaviour modelled on shared/reference/brokers.md §5: the gateway holds a brokerage session (a person logs in);
// without one every /iserver and /portfolio call is 401, and /iserver/auth/status says authenticated:false. Orders
// are refused until /iserver/accounts has been asked in the session. A placement may answer with questions
// (`[{id, message, messageIds}]`) that must be confirmed through /iserver/reply/{id} before the order exists. A
// bracket is one POST: the parent carries `cOID`, children `parentId` = that cOID and no cOID of their own; the
// children wait until the parent fills, a child that fills cancels its sibling, cancelling the parent cancels the
// group. A reused cOID is refused ("Local order ID=… is already registered"). Refusals arrive as `{"error": "…"}`.
// Market orders fill at the price the test sets; limits, stops and stop-limits trigger as it moves. No fees, no slippage.
// msw answers before any TLS, so nothing here touches the gateway's self-signed certificate (see gateway-tls.test.ts).
import { HttpResponse, delay, http } from 'msw';
import type { RequestHandler } from 'msw';
import { Decimal } from '../../src/domain/money.ts';

export const FAKE_GATEWAY_URL = 'https://localhost:5000/v1/api';
export const FAKE_ACCOUNT = 'DU1234567';

export type IbkrFailure = 'authentication' | 'insufficient_funds' | 'invalid_symbol' | 'order_rejected' | 'rate_limited' | 'unavailable' | 'network' | 'timeout'
  // Carried out at the gateway first, then answered with a 503, a dropped connection, or no answer at all: the unforgiving cases.
  | 'unavailable_after_execution' | 'network_after_execution' | 'unknown_status_after_execution';

const AFTER_EXECUTION: ReadonlySet<IbkrFailure> = new Set(['unavailable_after_execution', 'network_after_execution', 'unknown_status_after_execution']);

export interface IbkrFakeOptions {
  gatewayUrl?: string | undefined;
  accounts?: string[] | undefined;
  cash?: string | undefined;
  /** Contracts by symbol: conid. */
  contracts?: Record<string, number> | undefined;
  now?: (() => Date) | undefined;
}

export interface FakeQuestion {
  messageId: string;
  text: string;
}

type WireType = 'MKT' | 'LMT' | 'STP' | 'STOP_LIMIT';

export interface FakeOrder {
  orderId: number;
  cOID: string | undefined;
  parentOrderId: number | undefined;
  children: number[];
  conid: number;
  side: 'BUY' | 'SELL';
  orderType: WireType;
  price: Decimal | undefined;
  auxPrice: Decimal | undefined;
  quantity: Decimal;
  filled: Decimal;
  avgPrice: Decimal | undefined;
  tif: string;
  status: 'PreSubmitted' | 'Submitted' | 'Filled' | 'Cancelled';
  triggered: boolean;
  updatedAt: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

interface Pending {
  orders: Array<Record<string, unknown>>;
  questions: FakeQuestion[];
  /** A modification (POST .../order/{id}) waits too. */
  modify?: number | undefined;
}

const d = (v: string | number): Decimal => new Decimal(v);
const ZERO = d(0);
const LIVE = new Set(['PreSubmitted', 'Submitted']);
const NUMBER = '\u0000num:';

/** JSON with Decimals written as JSON numbers from their exact text, as the gateway writes prices and balances. */
function wireJson(value: unknown, status = 200): Response {
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof Decimal ? `${NUMBER}${v.toFixed()}` : v))
    .replace(/"\\u0000num:(-?[\d.]+)"/g, '$1');
  return new HttpResponse(text, { status, headers: { 'content-type': 'application/json' } });
}

/** A figure as the what-if answer formats it: thousands separated, two decimals. */
function formatted(value: Decimal): string {
  const [whole = '0', fraction = '00'] = value.toFixed(2).split('.');
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${fraction}`;
}

export class IbkrFake {
  readonly gatewayUrl: string;
  readonly handlers: RequestHandler[];
  /** Every call that reached the gateway, in order. */
  calls: RecordedCall[] = [];
  authenticated = true;
  competing = false;

  private readonly options: IbkrFakeOptions;
  private readonly now: () => Date;
  private accounts: string[];
  private selected: string;
  private accountsAsked = false;
  private cash = ZERO;
  private readonly contracts = new Map<string, number>();
  private readonly prices = new Map<number, Decimal>();
  private readonly orders = new Map<number, FakeOrder>();
  private readonly registered = new Set<string>();
  private readonly positions = new Map<number, { qty: Decimal; avg: Decimal }>();
  private trades: Array<Record<string, unknown>> = [];
  private failures: IbkrFailure[] = [];
  private questionsNext: FakeQuestion[] = [];
  private answerLost = false;
  private readonly pending = new Map<string, Pending>();
  private nextOrderId = 1_210_386_759;
  private nextExec = 1;

  constructor(options: IbkrFakeOptions = {}) {
    this.options = options;
    this.gatewayUrl = (options.gatewayUrl ?? FAKE_GATEWAY_URL).replace(/\/+$/, '');
    this.now = options.now ?? (() => new Date());
    this.accounts = options.accounts ?? [FAKE_ACCOUNT];
    this.selected = this.accounts[0] ?? FAKE_ACCOUNT;
    this.handlers = [http.all(`${this.gatewayUrl}/*`, ({ request }) => this.route(request))];
    this.reset();
  }

  reset(): void {
    this.calls = [];
    this.authenticated = true;
    this.competing = false;
    this.accounts = this.options.accounts ?? [FAKE_ACCOUNT];
    this.selected = this.accounts[0] ?? FAKE_ACCOUNT;
    this.accountsAsked = false;
    this.cash = d(this.options.cash ?? '100000');
    this.contracts.clear();
    for (const [symbol, conid] of Object.entries(this.options.contracts ?? { AAPL: 265598, MSFT: 272093, SPY: 756733 })) this.contracts.set(symbol, conid);
    this.prices.clear();
    for (const conid of this.contracts.values()) this.prices.set(conid, d(100));
    this.orders.clear();
    this.registered.clear();
    this.positions.clear();
    this.trades = [];
    this.failures = [];
    this.questionsNext = [];
    this.answerLost = false;
    this.pending.clear();
  }

  /** The next order placement fails as the gateway signals this kind of failure. */
  failNext(kind: IbkrFailure): void {
    this.failures.push(kind);
  }

  /** The next placement is carried out, but its answer never arrives in time (the caller times out: the order exists). */
  loseNextAnswer(): void {
    this.answerLost = true;
  }

  /** The next placement (or modification) is answered with these questions, one after another, before the order exists. */
  askNext(...questions: FakeQuestion[]): void {
    this.questionsNext.push(...questions);
  }

  setPrice(symbol: string, price: string | Decimal): void {
    const conid = this.contracts.get(symbol.toUpperCase());
    if (conid === undefined) throw new Error(`ibkr fake: no contract ${symbol}`);
    this.prices.set(conid, d(price.toString()));
    this.match(conid);
  }

  conidOf(symbol: string): number | undefined {
    return this.contracts.get(symbol.toUpperCase());
  }

  allOrders(): FakeOrder[] {
    return [...this.orders.values()];
  }

  liveOrders(): FakeOrder[] {
    return this.allOrders().filter((o) => LIVE.has(o.status));
  }

  position(symbol: string): Decimal {
    const conid = this.contracts.get(symbol.toUpperCase());
    return conid === undefined ? ZERO : this.positions.get(conid)?.qty ?? ZERO;
  }

  /** The calls whose path matches, with their method. */
  callsTo(method: string, pattern: RegExp): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && pattern.test(c.path));
  }

  private async route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const base = new URL(this.gatewayUrl).pathname;
    const path = decodeURIComponent(url.pathname.slice(base.length));
    const query = Object.fromEntries(url.searchParams.entries());
    const text = request.method === 'GET' || request.method === 'DELETE' ? '' : await request.text();
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    this.calls.push({ method: request.method, path, query, body });
    const key = `${request.method} ${path}`;

    if (key === 'POST /iserver/auth/status' || key === 'GET /iserver/auth/status') {
      return wireJson({ authenticated: this.authenticated, competing: this.competing, connected: true, fail: '', message: '', MAC: 'F4:03:43:CD:BD:C0', serverInfo: { serverName: 'JifC11113', serverVersion: 'Build 10.25.0m' } });
    }
    if (key === 'POST /tickle') {
      return wireJson({ session: 'a1b2c3d4', ssoExpires: 460_000, collission: false, userId: 123456, iserver: { authStatus: { authenticated: this.authenticated, competing: this.competing, connected: true, message: '' } } });
    }
    if (!this.authenticated) return wireJson({ error: 'not authenticated', statusCode: 401 }, 401);

    let m: RegExpExecArray | null;
    if (key === 'GET /iserver/accounts') {
      this.accountsAsked = true;
      return wireJson({ accounts: this.accounts, aliases: Object.fromEntries(this.accounts.map((a) => [a, a])), selectedAccount: this.selected, isPaper: true });
    }
    if (key === 'POST /iserver/account') {
      const acct = (body as { acctId?: string }).acctId ?? '';
      if (!this.accounts.includes(acct)) return wireJson({ error: `Account ${acct} not found` }, 400);
      this.selected = acct;
      return wireJson({ set: true, acctId: acct });
    }
    if (key === 'GET /portfolio/accounts') return wireJson(this.accounts.map((id) => ({ id, accountId: id, currency: 'USD', type: 'DEMO' })));
    if (key === 'GET /iserver/secdef/search') return this.search(query.symbol ?? '');
    if (key === 'GET /iserver/marketdata/snapshot') return this.snapshot(query.conids ?? '');
    if ((m = /^GET \/portfolio\/([^/]+)\/summary$/.exec(key))) return this.withAccount(m[1], () => this.summary());
    if ((m = /^GET \/portfolio\/([^/]+)\/ledger$/.exec(key))) return this.withAccount(m[1], () => this.ledger());
    if ((m = /^GET \/portfolio\/([^/]+)\/positions\/0$/.exec(key))) return this.withAccount(m[1], () => this.positionRows());
    if ((m = /^POST \/iserver\/account\/([^/]+)\/orders$/.exec(key))) return this.withAccount(m[1], () => this.place(body));
    if ((m = /^POST \/iserver\/account\/([^/]+)\/orders\/whatif$/.exec(key))) return this.withAccount(m[1], () => this.whatIf(body));
    if ((m = /^POST \/iserver\/reply\/([^/]+)$/.exec(key))) return this.reply(m[1] ?? '', body);
    if ((m = /^POST \/iserver\/account\/([^/]+)\/order\/([^/]+)$/.exec(key))) { const id = m[2]; return this.withAccount(m[1], () => this.modify(id ?? '', body)); }
    if ((m = /^DELETE \/iserver\/account\/([^/]+)\/order\/([^/]+)$/.exec(key))) { const id = m[2]; return this.withAccount(m[1], () => this.cancel(id ?? '')); }
    if ((m = /^GET \/iserver\/account\/order\/status\/([^/]+)$/.exec(key))) return this.status(m[1] ?? '');
    if (key === 'GET /iserver/account/orders') return wireJson({ orders: this.allOrders().map((o) => this.listed(o)), snapshot: true });
    if (key === 'GET /iserver/account/trades') return wireJson(this.trades);
    return wireJson({ error: `ibkr fake: no route ${key}` }, 404);
  }

  private withAccount(acct: string | undefined, then: () => Response | Promise<Response>): Response | Promise<Response> {
    if (acct === undefined || !this.accounts.includes(acct)) return wireJson({ error: `Account ${acct ?? ''} not found` }, 400);
    return then();
  }

  private search(symbol: string): Response {
    const conid = this.contracts.get(symbol.toUpperCase());
    if (conid === undefined) return wireJson({ error: `No symbol found` }, 200);
    // Look-alikes come first, as the real search returns them: an index of the same letters and another listing.
    return wireJson([
      { conid: String(conid + 7), companyHeader: `${symbol} INDEX`, companyName: `${symbol} INDEX`, symbol: `${symbol}X`, description: 'IND', sections: [{ secType: 'IND' }] },
      { conid: String(conid), companyHeader: `${symbol} INC - NASDAQ`, companyName: `${symbol} INC`, symbol: symbol.toUpperCase(), description: 'NASDAQ', sections: [{ secType: 'STK' }, { secType: 'OPT', months: 'JAN27' }] },
    ]);
  }

  private snapshot(conids: string): Response {
    const rows = conids.split(',').filter((c) => c !== '').map(Number).filter((c) => this.prices.has(c)).map((conid) => {
      const price = this.prices.get(conid) ?? ZERO;
      return { conid, conidEx: String(conid), '31': price.toFixed(), '84': price.minus('0.01').toFixed(), '86': price.plus('0.01').toFixed(), _updated: this.now().getTime(), server_id: 'q0' };
    });
    return wireJson(rows);
  }

  private marketValue(): Decimal {
    let total = ZERO;
    for (const [conid, p] of this.positions) total = total.plus(p.qty.mul(this.prices.get(conid) ?? ZERO));
    return total;
  }

  private summary(): Response {
    const value = (amount: Decimal) => ({ amount, currency: 'USD', isNull: false, timestamp: this.now().getTime(), value: null, severity: 0 });
    return wireJson({
      netliquidation: value(this.cash.plus(this.marketValue())), totalcashvalue: value(this.cash), buyingpower: value(this.cash), availablefunds: value(this.cash),
      accountcode: { amount: 0, currency: null, isNull: true, timestamp: this.now().getTime(), value: this.selected, severity: 0 },
    });
  }

  private ledger(): Response {
    const entry = (currency: string) => ({
      acctcode: this.selected, cashbalance: this.cash, settledcash: this.cash, currency, netliquidationvalue: this.cash.plus(this.marketValue()),
      stockmarketvalue: this.marketValue(), unrealizedpnl: ZERO, realizedpnl: ZERO, exchangerate: 1, key: 'LedgerList', secondkey: currency, timestamp: Math.floor(this.now().getTime() / 1000),
    });
    return wireJson({ USD: entry('USD'), BASE: entry('BASE') });
  }

  private positionRows(): Response {
    const rows = [...this.positions].filter(([, p]) => !p.qty.isZero()).map(([conid, p]) => {
      const symbol = [...this.contracts].find(([, c]) => c === conid)?.[0] ?? '';
      const price = this.prices.get(conid) ?? ZERO;
      return {
        acctId: this.selected, conid, contractDesc: symbol, ticker: symbol, assetClass: 'STK', position: p.qty, avgCost: p.avg, avgPrice: p.avg,
        mktPrice: price, mktValue: p.qty.mul(price), currency: 'USD', realizedPnl: ZERO, unrealizedPnl: price.minus(p.avg).mul(p.qty), listingExchange: 'NASDAQ', isUS: true,
      };
    });
    return wireJson(rows);
  }

  /** A failure injected by the test, as the gateway would answer it; undefined when none is pending. */
  private async injected(): Promise<Response | undefined> {
    if (this.failures[0] !== undefined && AFTER_EXECUTION.has(this.failures[0])) return undefined; // answered after placing
    const kind = this.failures.shift();
    switch (kind) {
      case undefined:
      case 'unavailable_after_execution': case 'network_after_execution': case 'unknown_status_after_execution':
        return undefined;
      case 'authentication': return wireJson({ error: 'not authenticated', statusCode: 401 }, 401);
      case 'insufficient_funds': return wireJson({ error: 'Your order is not accepted because your Equity with Loan Value of [100000.00 USD] is insufficient to cover the Initial Margin requirement' });
      case 'invalid_symbol': return wireJson({ error: 'No security definition has been found for the request' }, 400);
      case 'order_rejected': return wireJson({ error: 'Order rejected - reason: The price is too far from the current market price' });
      case 'rate_limited': return new HttpResponse('Too Many Requests', { status: 429 });
      case 'unavailable': return new HttpResponse('Service Unavailable', { status: 503 });
      case 'network': return HttpResponse.error();
      case 'timeout': await delay(3_000); return wireJson({ error: 'gateway timeout' }, 504);
    }
  }

  private async place(body: unknown): Promise<Response> {
    const failure = await this.injected();
    if (failure) return failure;
    if (!this.accountsAsked) return wireJson({ error: 'Please query /accounts first' }, 400);
    const orders = (body as { orders?: Array<Record<string, unknown>> }).orders;
    if (!Array.isArray(orders) || orders.length === 0) return wireJson({ error: 'no orders' }, 400);
    const refusal = this.validate(orders);
    if (refusal) return refusal;
    const answer = this.askOrPlace({ orders, questions: this.questionsNext.splice(0) });
    const after = this.failures[0] !== undefined && AFTER_EXECUTION.has(this.failures[0]) ? this.failures.shift() : undefined;
    if (after === 'unavailable_after_execution') return new HttpResponse('Service Unavailable', { status: 503 });
    if (after === 'network_after_execution') return HttpResponse.error();
    if (after === 'unknown_status_after_execution') { await delay(3_000); return wireJson({ error: 'gateway timeout' }, 504); }
    if (this.answerLost) {
      this.answerLost = false;
      await delay(3_000);
    }
    return answer;
  }

  private askOrPlace(pending: Pending): Response {
    const question = pending.questions[0];
    if (question) {
      const id = crypto.randomUUID();
      this.pending.set(id, pending);
      return wireJson([{ id, message: [question.text], isSuppressed: false, messageIds: [question.messageId] }]);
    }
    if (pending.modify !== undefined) return this.applyModify(pending.modify, pending.orders[0] ?? {});
    return this.accept(pending.orders);
  }

  private reply(id: string, body: unknown): Response {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (!pending) return wireJson({ error: `reply id ${id} is not valid or has expired` }, 400);
    if ((body as { confirmed?: unknown }).confirmed !== true) return wireJson([]);
    return this.askOrPlace({ ...pending, questions: pending.questions.slice(1) });
  }

  /** What the gateway checks before it asks anything: contract, cOID, funds. */
  private validate(orders: Array<Record<string, unknown>>): Response | undefined {
    const [parent] = orders;
    for (const o of orders) {
      if (![...this.contracts.values()].includes(Number(o.conid))) return wireJson({ error: 'No security definition has been found for the request' }, 400);
      if (o.acctId !== undefined && !this.accounts.includes(String(o.acctId))) return wireJson({ error: `Account ${String(o.acctId)} not found` }, 400);
      if (typeof o.quantity !== 'number' || (o.price !== undefined && typeof o.price !== 'number')) return wireJson({ error: 'quantity and price must be numbers' }, 400);
    }
    for (const child of orders.slice(1)) {
      if (child.cOID !== undefined || child.parentId !== parent?.cOID) return wireJson({ error: 'Children orders must carry parentId equal to the parent cOID' }, 400);
    }
    const cOID = parent?.cOID;
    if (typeof cOID === 'string' && this.registered.has(cOID)) return wireJson({ error: `Order couldn't be submitted: Local order ID=${cOID} is already registered.` });
    if (parent && parent.side === 'BUY') {
      const price = parent.price !== undefined ? d(String(parent.price)) : this.prices.get(Number(parent.conid)) ?? ZERO;
      const cost = d(String(parent.quantity)).mul(price);
      if (cost.gt(this.cash)) return wireJson({ error: `Your order is not accepted because your Equity with Loan Value of [${this.cash.toFixed(2)} USD] is insufficient to cover the Initial Margin requirement of [${cost.toFixed(2)} USD]` });
    }
    return undefined;
  }

  private accept(orders: Array<Record<string, unknown>>): Response {
    const [parentWire, ...childWires] = orders;
    if (!parentWire) return wireJson({ error: 'no orders' }, 400);
    const parent = this.create(parentWire, undefined);
    if (parent.cOID !== undefined) this.registered.add(parent.cOID);
    const children = childWires.map((w) => this.create(w, parent.orderId));
    parent.children = children.map((c) => c.orderId);
    if (parent.orderType === 'MKT') this.fill(parent, this.prices.get(parent.conid) ?? ZERO);
    this.match(parent.conid);
    return wireJson([parent, ...children].map((o) => ({ order_id: String(o.orderId), order_status: o.status, encrypt_message: '1', ...(o.cOID ? { local_order_id: o.cOID } : {}) })));
  }

  private create(wire: Record<string, unknown>, parentOrderId: number | undefined): FakeOrder {
    const order: FakeOrder = {
      orderId: this.nextOrderId++,
      cOID: typeof wire.cOID === 'string' ? wire.cOID : undefined,
      parentOrderId,
      children: [],
      conid: Number(wire.conid),
      side: wire.side === 'SELL' ? 'SELL' : 'BUY',
      orderType: String(wire.orderType) as WireType,
      price: wire.price === undefined ? undefined : d(String(wire.price)),
      auxPrice: wire.auxPrice === undefined ? undefined : d(String(wire.auxPrice)),
      quantity: d(String(wire.quantity)),
      filled: ZERO,
      avgPrice: undefined,
      tif: String(wire.tif ?? 'DAY'),
      // IBKR simulates stops and holds children: both show PreSubmitted until they work at the exchange.
      status: parentOrderId !== undefined || wire.orderType === 'STP' || wire.orderType === 'STOP_LIMIT' ? 'PreSubmitted' : 'Submitted',
      triggered: false,
      updatedAt: this.now().getTime(),
    };
    this.orders.set(order.orderId, order);
    return order;
  }

  private modify(id: string, body: unknown): Response {
    const order = this.orders.get(Number(id));
    if (!order || !LIVE.has(order.status)) return wireJson({ error: `OrderID ${id} doesn't exist or is not active` }, 400);
    const wire = body as Record<string, unknown>;
    if (wire.cOID !== undefined) return wireJson({ error: 'cOID cannot be changed by a modification' }, 400);
    return this.askOrPlace({ orders: [wire], questions: this.questionsNext.splice(0), modify: order.orderId });
  }

  private applyModify(orderId: number, wire: Record<string, unknown>): Response {
    const order = this.orders.get(orderId);
    if (!order || !LIVE.has(order.status)) return wireJson({ error: `OrderID ${orderId} doesn't exist or is not active` }, 400);
    if (wire.price !== undefined) order.price = d(String(wire.price));
    if (wire.auxPrice !== undefined) order.auxPrice = d(String(wire.auxPrice));
    if (wire.quantity !== undefined) order.quantity = d(String(wire.quantity));
    order.updatedAt = this.now().getTime();
    this.match(order.conid);
    return wireJson([{ order_id: String(order.orderId), order_status: order.status, encrypt_message: '1' }]);
  }

  private cancel(id: string): Response {
    const order = this.orders.get(Number(id));
    if (!order) return wireJson({ error: `OrderID ${id} doesn't exist` }, 400);
    if (!LIVE.has(order.status)) return wireJson({ error: `OrderID ${id} is ${order.status} and cannot be cancelled` });
    this.cancelGroup(order);
    return wireJson({ msg: 'Request was submitted', order_id: order.orderId, conid: -1, account: null });
  }

  /** IBKR: cancelling the parent cancels its children; cancelling one child cancels its sibling too. */
  private cancelGroup(order: FakeOrder): void {
    const end = (o: FakeOrder | undefined): void => {
      if (o && LIVE.has(o.status)) { o.status = 'Cancelled'; o.updatedAt = this.now().getTime(); }
    };
    end(order);
    for (const child of order.children) end(this.orders.get(child));
    const parent = order.parentOrderId === undefined ? undefined : this.orders.get(order.parentOrderId);
    for (const sibling of parent?.children ?? []) end(this.orders.get(sibling));
  }

  private status(id: string): Response {
    const o = this.orders.get(Number(id));
    if (!o) return wireJson({ error: `OrderID ${id} doesn't exist` }, 400);
    const symbol = this.symbolOf(o.conid);
    const type = { MKT: 'MARKET', LMT: 'LIMIT', STP: 'STOP', STOP_LIMIT: 'STOP_LIMIT' }[o.orderType];
    return wireJson({
      sub_type: null, request_id: '209', server_id: '0', order_id: o.orderId, conid: o.conid, symbol, side: o.side === 'BUY' ? 'B' : 'S',
      contract_description_1: symbol, listing_exchange: 'NASDAQ', company_name: `${symbol} INC`, size: o.quantity.minus(o.filled).toFixed(1),
      total_size: o.quantity.toFixed(1), currency: 'USD', account: this.selected, order_type: type,
      ...(o.orderType === 'LMT' || o.orderType === 'STOP_LIMIT' ? { limit_price: o.price?.toFixed() } : {}),
      ...(o.orderType === 'STP' ? { stop_price: o.price?.toFixed() } : o.orderType === 'STOP_LIMIT' ? { stop_price: o.auxPrice?.toFixed() } : {}),
      cum_fill: o.filled.toFixed(1), order_status: o.status, order_status_description: o.status, tif: o.tif,
      ...(o.avgPrice ? { average_price: o.avgPrice.toFixed() } : {}), order_not_editable: !LIVE.has(o.status), sec_type: 'STK',
    });
  }

  /** An order as GET /iserver/account/orders lists it (brokers.md §5.5): a stop's trigger in auxPrice, the cOID as order_ref. */
  private listed(o: FakeOrder): Record<string, unknown> {
    const symbol = this.symbolOf(o.conid);
    const orderType = { MKT: 'Market', LMT: 'Limit', STP: 'Stop', STOP_LIMIT: 'Stop Limit' }[o.orderType];
    const stop = o.orderType === 'STP' ? o.price : o.orderType === 'STOP_LIMIT' ? o.auxPrice : undefined;
    const limit = o.orderType === 'LMT' || o.orderType === 'STOP_LIMIT' ? o.price : undefined;
    return {
      acct: this.selected, conid: o.conid, conidex: String(o.conid), ticker: symbol, secType: 'STK', orderId: o.orderId,
      ...(o.cOID ? { order_ref: o.cOID } : {}), side: o.side, orderType, origOrderType: orderType.toUpperCase(),
      ...(limit ? { price: limit.toFixed(2) } : {}), ...(stop ? { auxPrice: stop.toFixed(2) } : {}), timeInForce: o.tif,
      totalSize: o.quantity, filledQuantity: o.filled, remainingQuantity: o.quantity.minus(o.filled), status: o.status,
      ...(o.avgPrice ? { avgPrice: o.avgPrice.toFixed() } : {}), listingExchange: 'NASDAQ', lastExecutionTime_r: o.updatedAt,
    };
  }

  private whatIf(body: unknown): Response {
    const [order] = (body as { orders?: Array<Record<string, unknown>> }).orders ?? [];
    if (!order) return wireJson({ error: 'no orders' }, 400);
    const conid = Number(order.conid);
    const price = order.price !== undefined ? d(String(order.price)) : this.prices.get(conid) ?? ZERO;
    const qty = d(String(order.quantity));
    const amount = qty.mul(price);
    // Reg T: half the value of a stock position as initial margin.
    let used = ZERO;
    for (const [c, p] of this.positions) used = used.plus(p.qty.abs().mul(this.prices.get(c) ?? ZERO).div(2));
    const change = amount.div(2);
    const equity = this.cash.plus(this.marketValue());
    const figures = (current: Decimal, delta: Decimal) => ({ current: formatted(current), change: formatted(delta), after: formatted(current.plus(delta)) });
    return wireJson({
      amount: { amount: `${formatted(amount)} USD (${qty.toFixed()} Shares)`, commission: '1 USD', total: `${formatted(amount.plus(1))} USD` },
      equity: figures(equity, ZERO), initial: figures(used, change), maintenance: figures(used, change), position: figures(ZERO, qty), warn: null, error: null,
    });
  }

  private symbolOf(conid: number): string {
    return [...this.contracts].find(([, c]) => c === conid)?.[0] ?? String(conid);
  }

  /** Every working order on the contract is matched against its price, until nothing more triggers. */
  private match(conid: number): void {
    const price = this.prices.get(conid);
    if (price === undefined) return;
    for (let changed = true; changed;) {
      changed = false;
      for (const o of this.orders.values()) {
        if (o.conid !== conid || !LIVE.has(o.status)) continue;
        const parent = o.parentOrderId === undefined ? undefined : this.orders.get(o.parentOrderId);
        if (parent && parent.status !== 'Filled') continue;
        if (this.tryFill(o, price)) changed = true;
      }
    }
  }

  private tryFill(o: FakeOrder, price: Decimal): boolean {
    const buy = o.side === 'BUY';
    const crossed = (level: Decimal | undefined): boolean => level !== undefined && (buy ? price.gte(level) : price.lte(level));
    const within = (limit: Decimal | undefined): boolean => limit !== undefined && (buy ? price.lte(limit) : price.gte(limit));
    switch (o.orderType) {
      case 'MKT': this.fill(o, price); return true;
      case 'LMT': if (!within(o.price)) return false; this.fill(o, price); return true;
      case 'STP': if (!crossed(o.price)) return false; this.fill(o, price); return true;
      case 'STOP_LIMIT':
        if (!o.triggered && crossed(o.auxPrice)) { o.triggered = true; o.status = 'Submitted'; }
        if (!o.triggered || !within(o.price)) return false;
        this.fill(o, price);
        return true;
    }
  }

  private fill(o: FakeOrder, price: Decimal): void {
    const qty = o.quantity.minus(o.filled);
    o.filled = o.quantity;
    o.avgPrice = price;
    o.status = 'Filled';
    o.updatedAt = this.now().getTime();
    const signed = o.side === 'BUY' ? qty : qty.neg();
    this.cash = this.cash.minus(signed.mul(price));
    const held = this.positions.get(o.conid) ?? { qty: ZERO, avg: ZERO };
    const next = held.qty.plus(signed);
    const adds = held.qty.isZero() || held.qty.isPositive() === signed.isPositive();
    const avg = next.isZero() ? ZERO : adds ? held.qty.mul(held.avg).plus(signed.mul(price)).div(next) : held.qty.isPositive() === next.isPositive() ? held.avg : price;
    this.positions.set(o.conid, { qty: next, avg });
    this.trades.push({
      execution_id: `0000e0d5.${String(this.nextExec++).padStart(8, '0')}.01.01`, symbol: this.symbolOf(o.conid), side: o.side === 'BUY' ? 'B' : 'S',
      order_description: `${o.side === 'BUY' ? 'Bot' : 'Sold'} ${qty.toFixed()} @ ${price.toFixed()}`, trade_time_r: this.now().getTime(), size: qty, price: price.toFixed(),
      ...(o.cOID ? { order_ref: o.cOID } : {}), order_id: o.orderId, commission: '0.00', net_amount: qty.mul(price), account: this.selected, sec_type: 'STK', conid: o.conid,
    });
    // A child that fills cancels its sibling (one-cancels-other inside the bracket).
    const parent = o.parentOrderId === undefined ? undefined : this.orders.get(o.parentOrderId);
    for (const sibling of parent?.children ?? []) {
      const s = this.orders.get(sibling);
      if (s && s !== o && LIVE.has(s.status)) { s.status = 'Cancelled'; s.updatedAt = this.now().getTime(); }
    }
  }
}
