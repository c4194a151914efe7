// The Alpaca adapter: US equities and crypto, paper and live, translated between tradewire's domain and Alpaca's REST API.
import { z } from 'zod';
import type { Broker, BrokerHealth, Capabilities, Protection } from '../broker.ts';
import { createHttpClient } from '../http.ts';
import type { HttpClient, HttpClientOptions, Params } from '../http.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO } from '../../domain/money.ts';
import { LIVE_STATUSES } from '../../domain/order.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, Order, OrderChange, OrderRef, OrderRequest,
  OrderType, Quote, TimeInForce,
} from '../../domain/order.ts';
import {
  AuthenticationError, DuplicateClientOrderIdError, InvalidOrderError, InvalidSymbolError, MarketClosedError, NotSupportedError,
  OrderNotFoundError, OrderRejectedError, PermissionDeniedError,
} from '../../domain/errors.ts';
import type { Logger } from '../../ops/logger.ts';
import { alpacaErrorMapper } from './errors.ts';
import { OrderNames } from './order-names.ts';
import { ALPACA_STREAM_URLS, AlpacaTradeStream } from './trade-stream.ts';
import type { OrderStream, OrderStreamOptions } from '../order-stream.ts';
import { bracketLegs, flatten, orderBody, toInstrument, toOrder, toPosition } from './mapping.ts';
import { splitPair, toAlpacaSymbol, toTradewireSymbol } from './symbols.ts';
import {
  accountSchema, assetSchema, clockSchema, cryptoSnapshotsSchema, fillActivitiesSchema, orderSchema, ordersSchema, positionSchema,
  positionsSchema, stockSnapshotsSchema,
} from './wire.ts';
import type { WireAsset, WireClock, WireOrder, WireSnapshot } from './wire.ts';

export const ALPACA_URLS = {
  paper: 'https://paper-api.alpaca.markets',
  live: 'https://api.alpaca.markets',
  data: 'https://data.alpaca.markets',
} as const;

export interface AlpacaBrokerOptions {
  /** The account's name, as configured. */
  name: string;
  environment: 'paper' | 'live';
  keyId: string;
  secretKey: string;
  /** The trading API; defaults to the environment's. */
  baseUrl?: string | undefined;
  /** Market data (quotes); the same host serves paper and live. */
  dataUrl?: string | undefined;
  /** The trade_updates WebSocket; defaults to the environment's unless baseUrl points elsewhere (then none without this). */
  streamUrl?: string | undefined;
  logger: Pick<Logger, 'debug' | 'trace'>;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  fetch?: HttpClientOptions['fetch'];
  /** How long instrument rules stay cached (they change rarely: a listing, a tick change). */
  assetTtlMs?: number | undefined;
  /** The longest a market clock answer is trusted, even before the session it names changes. */
  clockTtlMs?: number | undefined;
}

const BROKER = 'alpaca';
/** GET /v2/orders answers at most 500 orders a call. */
const OPEN_ORDERS_PAGE = 500;
const ORDER_TYPES: readonly OrderType[] = ['market', 'limit', 'stop', 'stop_limit', 'trailing_stop'];
const CRYPTO_TYPES: ReadonlySet<OrderType> = new Set(['market', 'limit', 'stop_limit']);
const CRYPTO_TIFS: ReadonlySet<TimeInForce> = new Set(['gtc', 'ioc']);
const MAX_REPLACEMENT_HOPS = 20;
const FILL_PAGE = 100;
const nothing = z.unknown();

/**
 * Native brackets where Alpaca has them: equities in whole shares. Crypto takes simple orders only, and a
 * fractional quantity cannot be bracketed; there tradewire watches the price itself (emulated), because
 * Alpaca lets only one resting sell hold a position's quantity: a separate stop and target for the same
 * coins are refused with "insufficient qty available" (alpacahq/Alpaca-API#279), so after-fill protection
 * would always lose its second leg.
 */
export function alpacaProtection(instrument: Instrument): Protection {
  const wholeShares = instrument.stepSize.isInteger() && instrument.stepSize.gte(1);
  return instrument.assetClass === 'equity' && wholeShares ? 'native' : 'emulated';
}

export const ALPACA_CAPABILITIES: Capabilities = {
  protectionFor: alpacaProtection,
  orderTypes: ORDER_TYPES,
  shorting: true,
  fractional: true,
  timeInForce: ['day', 'gtc', 'ioc', 'fok'],
  extendedHours: true,
  // Alpaca takes 128 characters of anything; tradewire's ids are shorter and plainer.
  clientIdMaxLength: 128,
  clientIdAlphabet: 'A-Za-z0-9_-',
  marginPreview: false,
  // PATCH replaces the order at Alpaca in one step (a bracket leg stays in its bracket), so tradewire never cancels to replace.
  amend: true,
};

interface Located {
  wire: WireOrder;
  /** The client id tradewire knows this order by (its own for a bracket leg or a replacement, not Alpaca's). */
  clientOrderId: string;
}

/**
 * Alpaca through its REST API. Symbols are tradewire's (crypto slashless, 'BTCUSD'); the adapter writes
 * Alpaca's order form ('BTC/USD') itself.
 *
 * Client ids: Alpaca names a bracket's legs itself, and a replaced order's successor gets a new id. The
 * adapter keeps tradewire's names for them (leg and replacement aliases, in memory) so every order stays
 * reachable under the client id tradewire journalled. A replacement is also found after a restart
 * (the original's `replaced_by` chain is followed); a leg alias is not, until it is seen again.
 */
export class AlpacaBroker implements Broker {
  readonly name: string;
  readonly capabilities: Capabilities = ALPACA_CAPABILITIES;

  private readonly trading: HttpClient;
  private readonly data: HttpClient;
  private readonly clock: () => Date;
  private readonly assetTtlMs: number;
  private readonly clockTtlMs: number;
  private readonly assets = new Map<string, { instrument: Instrument; at: number }>();
  private session: { clock: WireClock; at: number } | undefined;
  private readonly names = new OrderNames();
  private readonly streamAuth: () => string;
  private readonly streamUrl: string | undefined;

  constructor(options: AlpacaBrokerOptions) {
    this.name = options.name;
    this.clock = options.clock ?? (() => new Date());
    this.assetTtlMs = options.assetTtlMs ?? 3_600_000;
    this.clockTtlMs = options.clockTtlMs ?? 60_000;
    const { keyId, secretKey } = options;
    if (!keyId || !secretKey) throw new AuthenticationError(`alpaca account '${options.name}': keyId and secretKey are required`, { broker: BROKER });
    // The key pair lives only in this closure: never a field, so no dump of the adapter carries it.
    const sign: HttpClientOptions['sign'] = (request) => {
      request.headers.set('APCA-API-KEY-ID', keyId);
      request.headers.set('APCA-API-SECRET-KEY', secretKey);
      return request;
    };
    this.streamAuth = () => JSON.stringify({ action: 'auth', key: keyId, secret: secretKey });
    // A REST base of one's own (a proxy, a fake) with Alpaca's own stream host would mix two venues: none unless named.
    this.streamUrl = options.streamUrl ?? (options.baseUrl === undefined ? ALPACA_STREAM_URLS[options.environment] : undefined);
    const common = {
      broker: BROKER, timeoutMs: options.timeoutMs ?? 10_000, logger: options.logger, clock: this.clock, fetch: options.fetch, sign,
      mapError: alpacaErrorMapper(this.clock), requestIdHeaders: ['x-request-id'],
    };
    this.trading = createHttpClient({ ...common, baseUrl: options.baseUrl ?? ALPACA_URLS[options.environment] });
    // Market data sends prices as JSON numbers: parsed losslessly, they reach Decimal from their text.
    this.data = createHttpClient({ ...common, baseUrl: options.dataUrl ?? ALPACA_URLS.data, losslessNumbers: true });
  }

  async connect(): Promise<void> {
    const account = await this.get('/v2/account', accountSchema);
    if (account.account_blocked === true) throw new PermissionDeniedError(`alpaca account '${this.name}' is blocked`, { broker: BROKER });
  }

  /** trade_updates over WebSocket: fills and cancels as they happen, under the client ids tradewire knows. */
  orderStream(options: OrderStreamOptions): OrderStream | undefined {
    if (this.streamUrl === undefined) return undefined;
    return new AlpacaTradeStream({
      ...options, account: this.name, url: this.streamUrl, authMessage: this.streamAuth,
      clientIdFor: (orderId, alpacaClientId) => this.names.clientIdFor(orderId, alpacaClientId),
    });
  }

  async disconnect(): Promise<void> {
    this.assets.clear();
    this.session = undefined;
  }

  async health(): Promise<BrokerHealth> {
    const started = this.clock().getTime();
    try {
      const account = await this.get('/v2/account', accountSchema);
      const blocked = account.trading_blocked === true || account.account_blocked === true;
      return { ok: account.status === 'ACTIVE' && !blocked, latencyMs: this.clock().getTime() - started, detail: `account ${account.status}${blocked ? ', trading blocked' : ''}` };
    } catch (error) {
      return { ok: false, latencyMs: this.clock().getTime() - started, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async account(): Promise<AccountSummary> {
    const account = await this.get('/v2/account', accountSchema);
    return { currency: account.currency, equity: account.equity, cash: account.cash, buyingPower: account.buying_power };
  }

  async balances(): Promise<Balance[]> {
    const account = await this.get('/v2/account', accountSchema);
    // Cash free for anything (crypto, non-marginable stock) is Alpaca's non-marginable buying power.
    const available = account.non_marginable_buying_power ?? Decimal.min(account.cash, account.buying_power);
    return [{ currency: account.currency, total: account.cash, available: Decimal.max(available, ZERO) }];
  }

  async instrument(symbol: string): Promise<Instrument> {
    const key = toTradewireSymbol(symbol);
    const cached = this.assets.get(key);
    const now = this.clock().getTime();
    if (cached && now - cached.at < this.assetTtlMs) return cached.instrument;
    const asset = await this.asset(symbol);
    if (!asset.tradable || asset.status !== 'active') {
      throw new InvalidSymbolError(`alpaca: ${asset.symbol} is ${asset.tradable ? asset.status : 'not tradable'}`, { broker: BROKER });
    }
    const instrument = toInstrument(key, asset);
    this.assets.set(key, { instrument, at: now });
    return instrument;
  }

  async quotes(symbols: string[]): Promise<Map<string, Quote>> {
    const quotes = new Map<string, Quote>();
    const stocks: string[] = [];
    const crypto = new Map<string, string>();
    for (const symbol of symbols) {
      if ((await this.instrument(symbol)).assetClass === 'crypto') crypto.set(toAlpacaSymbol(symbol, true), symbol);
      else stocks.push(symbol);
    }
    const add = (symbol: string, snapshot: WireSnapshot | undefined): void => {
      const trade = snapshot?.latestTrade;
      if (!trade) return;
      quotes.set(symbol, { symbol, last: trade.p, bid: snapshot.latestQuote?.bp, ask: snapshot.latestQuote?.ap, time: trade.t });
    };
    if (stocks.length > 0) {
      const answer = await this.data.request({ method: 'GET', path: '/v2/stocks/snapshots', query: { symbols: stocks.map((s) => s.toUpperCase()).join(',') }, schema: stockSnapshotsSchema });
      for (const symbol of stocks) add(symbol, answer[symbol.toUpperCase()]);
    }
    if (crypto.size > 0) {
      const answer = await this.data.request({ method: 'GET', path: '/v1beta3/crypto/us/snapshots', query: { symbols: [...crypto.keys()].join(',') }, schema: cryptoSnapshotsSchema });
      for (const [wire, symbol] of crypto) add(symbol, answer.snapshots[wire]);
    }
    return quotes;
  }

  async placeOrder(request: OrderRequest): Promise<Order> {
    const instrument = await this.instrument(request.symbol);
    const crypto = instrument.assetClass === 'crypto';
    const timeInForce = request.timeInForce ?? (crypto || request.type !== 'market' ? 'gtc' : 'day');
    if (crypto) {
      if (!CRYPTO_TYPES.has(request.type)) throw new NotSupportedError(`alpaca: crypto takes market, limit and stop-limit orders, not ${request.type}`, { broker: BROKER });
      if (!CRYPTO_TIFS.has(timeInForce)) throw new NotSupportedError(`alpaca: crypto orders are gtc or ioc, not ${timeInForce}`, { broker: BROKER });
    }
    if (request.extendedHours === true && (request.type !== 'limit' || timeInForce !== 'day')) {
      throw new InvalidOrderError('alpaca: extended hours take limit day orders only', { broker: BROKER });
    }
    if (!crypto && request.type === 'market') await this.ensureMarketOpen(request.clientOrderId);
    const quantity = request.reduceOnly === true ? await this.reducible(request) : request.quantity;
    const body = orderBody({ ...request, quantity }, toAlpacaSymbol(request.symbol, crypto), timeInForce);
    try {
      const wire = await this.post('/v2/orders', body);
      return toOrder(wire);
    } catch (error) {
      return this.recoverDuplicate(error, { ...request, quantity });
    }
  }

  async placeBracket(request: BracketRequest): Promise<BracketOrders> {
    const { entry, stopLoss, takeProfit } = request;
    const instrument = await this.instrument(entry.symbol);
    if (alpacaProtection(instrument) !== 'native') {
      throw new NotSupportedError(`alpaca: ${entry.symbol} cannot carry a native bracket (crypto and fractional quantities take simple orders only; tradewire watches their stops and targets)`, { broker: BROKER });
    }
    if (!stopLoss && !takeProfit) return { entry: await this.placeOrder(entry) };
    const timeInForce = entry.timeInForce ?? 'gtc';
    if (timeInForce !== 'day' && timeInForce !== 'gtc') throw new InvalidOrderError(`alpaca: a bracket is day or gtc, not ${timeInForce}`, { broker: BROKER });
    if (entry.extendedHours === true) throw new InvalidOrderError('alpaca: a bracket cannot trade in extended hours', { broker: BROKER });
    if (entry.type === 'market') await this.ensureMarketOpen(entry.clientOrderId);
    const body = { ...orderBody(entry, toAlpacaSymbol(entry.symbol, false), timeInForce), ...bracketLegs(takeProfit, stopLoss) };
    let parent: WireOrder;
    try {
      parent = await this.post('/v2/orders', body);
    } catch (error) {
      if (!(error instanceof DuplicateClientOrderIdError)) throw error;
      // Placed before (a retry after a timeout): the bracket Alpaca holds under this entry id is the answer.
      const found = await this.byClientId(entry.clientOrderId);
      if (!found || !sameOrder(found, entry)) throw error;
      parent = found.legs ? found : (await this.byId(found.id)) ?? found;
    }
    const legs = parent.legs ?? [];
    const stopLeg = legs.find((leg) => leg.type === 'stop' || leg.type === 'stop_limit');
    const targetLeg = legs.find((leg) => leg.type === 'limit');
    const named = (leg: WireOrder | undefined, clientOrderId: string | undefined): Order | undefined => {
      if (!leg || clientOrderId === undefined) return undefined;
      this.names.remember(clientOrderId, leg.id);
      return toOrder(leg, clientOrderId, parent.id);
    };
    return { entry: toOrder(parent), stopLoss: named(stopLeg, stopLoss?.clientOrderId), takeProfit: named(targetLeg, takeProfit?.clientOrderId) };
  }

  async modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order> {
    const found = await this.locate(ref);
    if (!found) throw new OrderNotFoundError(`alpaca: no order ${describeRef(ref)}`, { broker: BROKER });
    const body = {
      qty: change.quantity?.toFixed(),
      limit_price: change.limitPrice?.toFixed(),
      stop_price: change.stopPrice?.toFixed(),
      client_order_id: change.clientOrderId,
    };
    const successor = await this.trading.request({ method: 'PATCH', path: `/v2/orders/${encodeURIComponent(found.wire.id)}`, json: body, schema: orderSchema });
    // Without a new client id, tradewire keeps following the order under the one it knows.
    const name = change.clientOrderId ?? found.clientOrderId;
    if (successor.client_order_id !== name) this.names.remember(name, successor.id);
    return toOrder(successor, name);
  }

  async cancelOrder(ref: OrderRef): Promise<void> {
    const found = await this.locate(ref);
    if (!found) throw new OrderNotFoundError(`alpaca: no order ${describeRef(ref)}`, { broker: BROKER });
    if (found.wire.status === 'canceled') return;
    try {
      await this.trading.request({ method: 'DELETE', path: `/v2/orders/${encodeURIComponent(found.wire.id)}`, schema: nothing });
    } catch (error) {
      // 422 "not cancelable": harmless when it is cancelled already (a retry after a timeout), an error when it filled.
      if (!(error instanceof OrderRejectedError)) throw error;
      const now = await this.byId(found.wire.id);
      if (now?.status !== 'canceled') throw error;
    }
  }

  async getOrder(ref: OrderRef): Promise<Order | undefined> {
    const found = await this.locate(ref);
    return found && toOrder(found.wire, found.clientOrderId);
  }

  async openOrders(symbol?: string): Promise<Order[]> {
    // Flat, not nested: a filled entry is no longer open, but its bracket legs are, and must be listed.
    // Filtered here rather than by `symbols=`, where Alpaca's crypto spelling differs from its order form.
    const wires = await this.allOpenOrders();
    const wanted = symbol === undefined ? undefined : toTradewireSymbol(symbol);
    return wires.flatMap(flatten)
      .map(({ wire, parentId }) => toOrder(wire, this.names.clientIdFor(wire.id, wire.client_order_id), parentId))
      .filter((order) => LIVE_STATUSES.has(order.status) && (wanted === undefined || order.symbol === wanted));
  }

  /**
   * Every open order, oldest first, in pages of Alpaca's most (500). Each next page asks for orders submitted after the
   * last one read (its submission time, which `after` filters on), less a millisecond: `after` is exclusive and orders sent together share a submission time, so the
   * overlap is read twice and kept once rather than skipped.
   */
  private async allOpenOrders(): Promise<z.output<typeof ordersSchema>> {
    const seen = new Map<string, z.output<typeof ordersSchema>[number]>();
    for (let after: Date | undefined; ;) {
      const page = await this.get('/v2/orders', ordersSchema, { status: 'open', limit: OPEN_ORDERS_PAGE, direction: 'asc', after: after?.toISOString() });
      let fresh = 0;
      for (const wire of page) if (!seen.has(wire.id)) { seen.set(wire.id, wire); fresh++; }
      const last = page.at(-1);
      // A short page is the last; a full page of nothing new means one instant holds more than a page: stop rather than loop.
      if (page.length < OPEN_ORDERS_PAGE || fresh === 0 || !last) break;
      after = new Date((last.submitted_at ?? last.created_at).getTime() - 1);
    }
    return [...seen.values()];
  }

  async fills(since?: Date): Promise<Fill[]> {
    // Pages of 100 (Alpaca's most), each asked for after the last activity of the one before.
    const activities: z.output<typeof fillActivitiesSchema> = [];
    for (let pageToken: string | undefined; ;) {
      const page = await this.get('/v2/account/activities/FILL', fillActivitiesSchema, { after: since?.toISOString(), direction: 'asc', page_size: FILL_PAGE, page_token: pageToken });
      activities.push(...page);
      if (page.length < FILL_PAGE) break;
      pageToken = page.at(-1)?.id;
    }
    const fills: Fill[] = [];
    const clientIds = new Map<string, string>();
    for (const activity of activities) {
      let clientOrderId = this.names.named(activity.order_id) ?? clientIds.get(activity.order_id);
      if (clientOrderId === undefined) {
        clientOrderId = (await this.byId(activity.order_id))?.client_order_id ?? '';
        clientIds.set(activity.order_id, clientOrderId);
      }
      fills.push({
        id: activity.id, orderId: activity.order_id, clientOrderId, symbol: toTradewireSymbol(activity.symbol),
        side: activity.side === 'sell' || activity.side === 'sell_short' ? 'sell' : 'buy',
        quantity: activity.qty, price: activity.price,
        // Equities trade without commission; crypto fees arrive as separate CFEE activities.
        fee: ZERO, feeCurrency: 'USD', time: activity.transaction_time,
      });
    }
    return fills;
  }

  async positions(): Promise<BrokerPosition[]> {
    return (await this.get('/v2/positions', positionsSchema)).map(toPosition);
  }

  async closePosition(symbol: string, clientOrderId: string): Promise<Order> {
    // DELETE /v2/positions takes no client id: a plain market order in the other direction carries tradewire's.
    let position;
    try {
      position = await this.get(`/v2/positions/${encodeURIComponent(toTradewireSymbol(symbol))}`, positionSchema);
    } catch (error) {
      if (error instanceof OrderNotFoundError) throw new InvalidOrderError(`alpaca: no open position in ${symbol} to close`, { broker: BROKER, cause: error });
      throw error;
    }
    // Sized from the position just read, so no second reduce-only read.
    return this.placeOrder({ clientOrderId, symbol, side: position.side === 'long' ? 'sell' : 'buy', type: 'market', quantity: position.qty.abs(), leg: 'exit' });
  }

  /**
   * Alpaca has no reduce-only flag, and a sell beyond a long (or a buy beyond a short) would open the other
   * side: the position is read first, the order refused when there is nothing to reduce and cut to what is held.
   */
  private async reducible(request: OrderRequest): Promise<Decimal> {
    const position = await this.orNotFound(this.get(`/v2/positions/${encodeURIComponent(toTradewireSymbol(request.symbol))}`, positionSchema));
    const reduces = position !== undefined && (position.side === 'long' ? request.side === 'sell' : request.side === 'buy');
    if (!position || !reduces) {
      throw new InvalidOrderError(`alpaca: reduce-only ${request.side} ${request.clientOrderId} has no ${request.side === 'sell' ? 'long' : 'short'} position in ${request.symbol} to reduce`, { broker: BROKER });
    }
    return Decimal.min(request.quantity, position.qty.abs());
  }

  /** Where an order stands now, under the client id tradewire knows it by; a replaced order's successor stands for it. */
  private async locate(ref: OrderRef): Promise<Located | undefined> {
    if ('orderId' in ref) {
      // A replaced order (a leg resized or moved by PATCH) is followed to its successor, as by client id below.
      let wire = await this.byId(ref.orderId);
      for (let hop = 0; wire?.status === 'replaced' && wire.replaced_by && hop < MAX_REPLACEMENT_HOPS; hop++) wire = await this.byId(wire.replaced_by);
      if (!wire || !matchesSymbol(wire, ref.symbol)) return undefined;
      return { wire, clientOrderId: this.names.clientIdFor(wire.id, wire.client_order_id) };
    }
    const alias = this.names.orderIdFor(ref.clientOrderId);
    let wire = alias === undefined ? await this.byClientId(ref.clientOrderId) : await this.byId(alias);
    for (let hop = 0; wire?.status === 'replaced' && wire.replaced_by && hop < MAX_REPLACEMENT_HOPS; hop++) {
      wire = await this.byId(wire.replaced_by);
      if (wire) this.names.remember(ref.clientOrderId, wire.id);
    }
    if (!wire || !matchesSymbol(wire, ref.symbol)) return undefined;
    return { wire, clientOrderId: ref.clientOrderId };
  }

  private async byId(id: string): Promise<WireOrder | undefined> {
    return this.orNotFound(this.get(`/v2/orders/${encodeURIComponent(id)}`, orderSchema, { nested: true }));
  }

  private async byClientId(clientOrderId: string): Promise<WireOrder | undefined> {
    return this.orNotFound(this.get('/v2/orders:by_client_order_id', orderSchema, { client_order_id: clientOrderId, nested: true }));
  }

  private async orNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
    try {
      return await promise;
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
      throw error;
    }
  }

  /** A duplicate client id is the same order placed before: hand that order back; anything else under the id stays an error. */
  private async recoverDuplicate(error: unknown, request: OrderRequest): Promise<Order> {
    if (!(error instanceof DuplicateClientOrderIdError)) throw error;
    const found = await this.byClientId(request.clientOrderId);
    if (!found || !sameOrder(found, request)) throw error;
    return toOrder(found);
  }

  private async asset(symbol: string): Promise<WireAsset> {
    const lookup = (form: string) => this.get(`/v2/assets/${encodeURIComponent(form)}`, assetSchema);
    const pair = splitPair(symbol);
    if (!pair) return lookup(symbol.toUpperCase());
    // A slashless pair ('BTCUSD') is tried as crypto first, then as an equity ticker that happens to end in a currency.
    try {
      return await lookup(`${pair.base}/${pair.quote}`);
    } catch (error) {
      if (!(error instanceof InvalidSymbolError) || symbol.includes('/')) throw error;
      return lookup(symbol.toUpperCase());
    }
  }

  /** Market orders for equities need the regular session; the clock answer is trusted until the session it names changes. */
  private async ensureMarketOpen(clientOrderId: string): Promise<void> {
    const now = this.clock().getTime();
    const cached = this.session;
    const fresh = cached && now - cached.at < this.clockTtlMs
      && now < (cached.clock.is_open ? cached.clock.next_close : cached.clock.next_open).getTime();
    const clock = fresh ? cached.clock : await this.get('/v2/clock', clockSchema);
    if (!fresh) this.session = { clock, at: now };
    if (!clock.is_open) {
      throw new MarketClosedError(`alpaca: the market is closed until ${clock.next_open.toISOString()}: market order ${clientOrderId} not sent`, { broker: BROKER });
    }
  }

  private get<S extends z.ZodType>(path: string, schema: S, query?: Params): Promise<z.output<S>> {
    return this.trading.request({ method: 'GET', path, query, schema });
  }

  private post(path: string, json: unknown): Promise<WireOrder> {
    return this.trading.request({ method: 'POST', path, json, schema: orderSchema });
  }
}

function sameOrder(wire: WireOrder, request: OrderRequest): boolean {
  return toTradewireSymbol(wire.symbol) === toTradewireSymbol(request.symbol) && wire.side === request.side
    && (wire.qty?.eq(request.quantity) ?? false) && wire.type === request.type;
}

function matchesSymbol(wire: WireOrder, symbol: string | undefined): boolean {
  return symbol === undefined || toTradewireSymbol(wire.symbol) === toTradewireSymbol(symbol);
}

function describeRef(ref: OrderRef): string {
  return 'orderId' in ref ? `with id ${ref.orderId}` : `with client order id ${ref.clientOrderId}`;
}
