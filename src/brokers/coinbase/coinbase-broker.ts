// The Coinbase Advanced Trade adapter (spot): tradewire's Broker interface over Coinbase's REST API, one JWT per request.
import { z } from 'zod';
import type { Broker, BrokerHealth, Capabilities } from '../broker.ts';
import { BoundedMap, REMEMBERED_ORDERS } from '../bounded-map.ts';
import { createHttpClient } from '../http.ts';
import type { HttpClient, HttpClientOptions, Params } from '../http.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO, floorToStep } from '../../domain/money.ts';
import { LIVE_STATUSES } from '../../domain/order.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, Order, OrderChange, OrderRef, OrderRequest, Quote,
} from '../../domain/order.ts';
import {
  BrokerError, DuplicateClientOrderIdError, InvalidOrderError, InvalidSymbolError, MarketClosedError, NotSupportedError, OrderNotFoundError,
  OrderRejectedError,
} from '../../domain/errors.ts';
import type { Logger } from '../../ops/logger.ts';
import { coinbaseErrorMapper, rejectionError } from './errors.ts';
import { cdpSigner, parseCdpPrivateKey } from './jwt.ts';
import { attachedBracket, firedLeg, legOrderId, orderConfiguration, parseLegOrderId, toFill, toInstrument, toLeg, toOrder } from './mapping.ts';
import type { LegKind } from './mapping.ts';
import { currenciesOf, fromProductId, toProductId } from './symbols.ts';
import {
  accountsSchema, batchCancelSchema, bestBidAskSchema, breakdownSchema, createOrderSchema, fillsPageSchema, orderEnvelopeSchema, ordersPageSchema,
  portfoliosSchema, productSchema, productsSchema,
} from './wire.ts';
import type { WireAccount, WireOrder, WireProduct } from './wire.ts';

export const COINBASE_URL = 'https://api.coinbase.com';
const API = '/api/v3/brokerage';
const BROKER = 'coinbase';
const PAGE = 250;
/** How far back a lookup by client id searches Coinbase's order history (pages of 250, newest first). */
const CLIENT_ID_SEARCH_PAGES = 4;
const FILL_PAGE = 100;

export interface CoinbaseBrokerOptions {
  name: string;
  /** The CDP API key name: organizations/{org}/apiKeys/{key}. */
  keyName: string;
  /** The CDP key's EC private key, PEM. */
  privateKey: string;
  baseUrl?: string | undefined;
  /** The currency the account is valued in and its symbols are quoted in ('BTCUSD' is BTC-USD). */
  quoteCurrency?: string | undefined;
  /** How far beyond a stop its limit goes (Coinbase spot has no stop-market): 0.05 is 5 %. */
  stopLimitBand?: Decimal | undefined;
  logger: Pick<Logger, 'debug' | 'trace'>;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  fetch?: HttpClientOptions['fetch'];
  productTtlMs?: number | undefined;
}

export const COINBASE_CAPABILITIES: Capabilities = {
  // The entry carries its stop and target as one attached trigger bracket; Coinbase links the two exits.
  protectionFor: () => 'attached',
  orderTypes: ['market', 'limit', 'stop', 'stop_limit'],
  // Spot: a sell needs the coins.
  shorting: false,
  fractional: true,
  timeInForce: ['gtc', 'ioc', 'fok'],
  extendedHours: false,
  clientIdMaxLength: 64,
  clientIdAlphabet: 'A-Za-z0-9_-',
  marginPreview: false,
  // Coinbase's edit covers limit price and size of some orders only, never a bracket's stop: tradewire cancels and replaces.
  amend: false,
  // No trailing stop rests at Coinbase, and a bracket's stop cannot be moved on its own: a trail is refused before the entry.
  trailBy: [],
};

interface Known {
  /** The broker order id tradewire's client id points at (a bracket leg's is `<bracket id>#stop`). */
  orderId: string;
  symbol: string;
}

/**
 * Coinbase Advanced Trade, spot. Symbols are tradewire's compact form ('BTCUSD'); the wire's product ids
 * ('BTC-USD') are written and read here.
 *
 * A bracket is one Coinbase order holding both exits (`trigger_bracket_gtc`, attached to the entry). Tradewire
 * sees two legs: the stop as `<bracket order id>#stop` and the target as `<bracket order id>#target`, so a leg
 * is found again by its broker id after a restart. Its client ids are remembered in memory only.
 */
export class CoinbaseBroker implements Broker {
  readonly name: string;
  readonly capabilities: Capabilities = COINBASE_CAPABILITIES;

  private readonly http: HttpClient;
  private readonly clock: () => Date;
  private readonly quote: string;
  private readonly stopBand: Decimal;
  private readonly productTtlMs: number;
  private readonly products = new Map<string, { product: WireProduct; instrument: Instrument; at: number }>();
  private readonly byClientId = new BoundedMap<string, Known>(REMEMBERED_ORDERS);
  private readonly clientIdOf = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  /** A bracket order's size when it was attached without one (it takes the entry's). */
  private readonly bracketSize = new BoundedMap<string, Decimal>(REMEMBERED_ORDERS);
  /** A broker order id that now stands for another (a stop folded into a bracket): followed by lookups. */
  private readonly aliases = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  /** The reduce-only stop leg resting per product, which a target placed after it is folded together with. */
  private readonly restingStops = new Map<string, { request: OrderRequest; orderId: string }>();
  /** A bracket leg's client id → its entry's, from the moment the bracket is sent: a timed-out placement's legs are found through the entry. */
  private readonly legOwners = new BoundedMap<string, { entryClientOrderId: string; leg: LegKind; quantity: Decimal }>(REMEMBERED_ORDERS);
  private portfolioId: string | undefined;

  constructor(options: CoinbaseBrokerOptions) {
    this.name = options.name;
    this.clock = options.clock ?? (() => new Date());
    this.quote = (options.quoteCurrency ?? 'USD').toUpperCase();
    this.stopBand = options.stopLimitBand ?? new Decimal('0.05');
    this.productTtlMs = options.productTtlMs ?? 3_600_000;
    // The key lives only in the signer's closure: never a field of the adapter, so no dump of it carries the key.
    const key = parseCdpPrivateKey(options.privateKey, options.name);
    this.http = createHttpClient({
      broker: BROKER, baseUrl: `${(options.baseUrl ?? COINBASE_URL).replace(/\/+$/, '')}${API}`, timeoutMs: options.timeoutMs ?? 10_000,
      logger: options.logger, clock: this.clock, fetch: options.fetch, sign: cdpSigner(options.keyName, key, this.clock),
      mapError: coinbaseErrorMapper, requestIdHeaders: ['x-request-id', 'cf-ray'],
    });
  }

  async connect(): Promise<void> {
    const { portfolios } = await this.get('/portfolios', portfoliosSchema);
    const live = portfolios.filter((p) => p.deleted !== true);
    // A key created for one portfolio sees that one; otherwise orders go to the default portfolio, so positions are read there.
    const chosen = live.length === 1 ? live[0] : live.find((p) => p.type === 'DEFAULT') ?? live[0];
    if (!chosen) throw new BrokerError(`coinbase account '${this.name}': the key sees no portfolio`, { broker: BROKER });
    this.portfolioId = chosen.uuid;
  }

  async disconnect(): Promise<void> {
    this.products.clear();
  }

  async health(): Promise<BrokerHealth> {
    const started = this.clock().getTime();
    try {
      await this.get('/accounts', accountsSchema, { limit: 1 });
      return { ok: true, latencyMs: this.clock().getTime() - started };
    } catch (error) {
      return { ok: false, latencyMs: this.clock().getTime() - started, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async account(): Promise<AccountSummary> {
    const accounts = await this.accounts();
    const cash = accounts.find((a) => a.currency === this.quote);
    const available = cash?.available_balance.value ?? ZERO;
    const total = available.plus(cash?.hold?.value ?? ZERO);
    const { breakdown } = await this.get(`/portfolios/${encodeURIComponent(await this.portfolio())}`, breakdownSchema);
    const equity = breakdown.portfolio_balances?.total_balance.value ?? total;
    return { currency: this.quote, equity, cash: total, buyingPower: available };
  }

  async balances(): Promise<Balance[]> {
    return (await this.accounts()).map((a) => ({
      currency: a.currency, available: a.available_balance.value, total: a.available_balance.value.plus(a.hold?.value ?? ZERO),
    }));
  }

  async instrument(symbol: string): Promise<Instrument> {
    return (await this.product(symbol)).instrument;
  }

  async quotes(symbols: string[]): Promise<Map<string, Quote>> {
    const quotes = new Map<string, Quote>();
    if (symbols.length === 0) return quotes;
    const ids = new Map(symbols.map((s) => [toProductId(s), s]));
    const query = [...ids.keys()].map((id) => `product_ids=${encodeURIComponent(id)}`).join('&');
    const [{ products }, { pricebooks }] = await Promise.all([
      this.get(`/products?${query}`, productsSchema),
      this.get(`/best_bid_ask?${query}`, bestBidAskSchema),
    ]);
    const now = this.clock();
    for (const product of products) {
      const symbol = ids.get(product.product_id);
      if (symbol === undefined || product.price === undefined) continue;
      const book = pricebooks.find((b) => b.product_id === product.product_id);
      quotes.set(symbol, { symbol, last: product.price, bid: book?.bids[0]?.price, ask: book?.asks[0]?.price, time: book?.time ?? now });
    }
    return quotes;
  }

  async placeOrder(request: OrderRequest): Promise<Order> {
    const { product, instrument } = await this.product(request.symbol);
    this.ensureTradable(product, request.type);
    const folded = await this.foldTarget(request, product, instrument);
    if (folded) return folded;
    const quantity = request.reduceOnly === true ? await this.reducible(request, instrument) : request.quantity;
    const sized = { ...request, quantity };
    const body = {
      client_order_id: request.clientOrderId, product_id: product.product_id, side: request.side === 'buy' ? 'BUY' : 'SELL',
      order_configuration: orderConfiguration(sized, instrument, this.stopBand),
    };
    const { orderId } = await this.create(body, `${request.side} ${request.type} ${request.clientOrderId}`);
    this.remember(request.clientOrderId, orderId, instrument.symbol);
    if (request.reduceOnly === true && request.leg === 'stop' && request.type === 'stop') this.restingStops.set(product.product_id, { request: sized, orderId });
    const wire = await this.byId(orderId);
    if (!wire) throw new BrokerError(`coinbase: order ${orderId} was accepted but cannot be read back`, { broker: BROKER });
    return toOrder(wire, request.clientOrderId);
  }

  /**
   * Protection placed after a fill (a partial close's remainder): tradewire sends the stop, then the target. On spot
   * the resting stop holds the coins, so a separate target would be refused for want of them. Instead the stop is
   * cancelled and both go out as one stand-alone trigger bracket (`order_configuration.trigger_bracket_gtc`), the
   * stop's client id following it. Undefined when there is nothing to fold (the coins are free, or no stop of ours
   * rests untouched). Between the cancel and the bracket nothing rests, for one round trip; if the bracket is
   * refused, the stop is placed again (under its client id with `-r`) and the refusal raised.
   */
  private async foldTarget(request: OrderRequest, product: WireProduct, instrument: Instrument): Promise<Order | undefined> {
    if (request.reduceOnly !== true || request.leg !== 'target' || request.type !== 'limit' || request.side !== 'sell' || !request.limitPrice) return undefined;
    const resting = this.restingStops.get(product.product_id);
    if (!resting) return undefined;
    const available = floorToStep(await this.available(currenciesOf(product.product_id).base), instrument.stepSize);
    if (available.gte(request.quantity)) return undefined;
    const stopWire = await this.byId(resting.orderId);
    const untouched = stopWire?.status === 'OPEN' && stopWire.trigger_status !== 'STOP_TRIGGERED' && (stopWire.filled_size ?? ZERO).isZero();
    if (!untouched) {
      this.restingStops.delete(product.product_id);
      return undefined;
    }
    const stop = resting.request;
    const size = Decimal.min(request.quantity, stop.quantity);
    await this.cancelOrder({ orderId: resting.orderId });
    this.restingStops.delete(product.product_id);
    let created: { orderId: string };
    try {
      created = await this.create({
        client_order_id: request.clientOrderId, product_id: product.product_id, side: 'SELL',
        order_configuration: { trigger_bracket_gtc: { base_size: size.toFixed(), limit_price: request.limitPrice.toFixed(), stop_trigger_price: (stop.stopPrice ?? ZERO).toFixed() } },
      }, `bracket ${request.clientOrderId}`);
    } catch (error) {
      const again = await this.placeOrder({ ...stop, clientOrderId: `${stop.clientOrderId.slice(0, COINBASE_CAPABILITIES.clientIdMaxLength - 2)}-r` });
      this.aliases.set(resting.orderId, again.id);
      this.remember(stop.clientOrderId, again.id, instrument.symbol);
      throw error;
    }
    const stopLeg = legOrderId(created.orderId, 'stop');
    this.bracketSize.set(created.orderId, size);
    this.aliases.set(resting.orderId, stopLeg);
    this.remember(stop.clientOrderId, stopLeg, instrument.symbol);
    this.remember(request.clientOrderId, legOrderId(created.orderId, 'target'), instrument.symbol);
    const bracket = await this.byId(created.orderId);
    if (!bracket) throw new BrokerError(`coinbase: bracket ${created.orderId} was accepted but cannot be read back`, { broker: BROKER });
    return toLeg(bracket, 'target', request.clientOrderId, size);
  }

  async placeBracket(request: BracketRequest): Promise<BracketOrders> {
    const { entry, stopLoss, takeProfit } = request;
    if (!stopLoss && !takeProfit) return { entry: await this.placeOrder(entry) };
    if (!stopLoss || !takeProfit) {
      throw new NotSupportedError('coinbase: an attached bracket holds both a stop and a target; one alone cannot be attached', { broker: BROKER });
    }
    const { product, instrument } = await this.product(entry.symbol);
    this.ensureTradable(product, entry.type);
    const body = {
      client_order_id: entry.clientOrderId, product_id: product.product_id, side: entry.side === 'buy' ? 'BUY' : 'SELL',
      order_configuration: orderConfiguration(entry, instrument, this.stopBand),
      attached_order_configuration: attachedBracket(stopLoss, takeProfit),
    };
    this.legOwners.set(stopLoss.clientOrderId, { entryClientOrderId: entry.clientOrderId, leg: 'stop', quantity: entry.quantity });
    this.legOwners.set(takeProfit.clientOrderId, { entryClientOrderId: entry.clientOrderId, leg: 'target', quantity: entry.quantity });
    const created = await this.create(body, `bracket ${entry.clientOrderId}`);
    this.remember(entry.clientOrderId, created.orderId, instrument.symbol);
    const placed = await this.byId(created.orderId);
    if (!placed) throw new BrokerError(`coinbase: order ${created.orderId} was accepted but cannot be read back`, { broker: BROKER });
    const bracketId = created.attachedOrderId || placed.attached_order_id;
    if (!bracketId) throw new BrokerError(`coinbase: the entry ${entry.clientOrderId} was placed without its attached bracket`, { broker: BROKER });
    this.bracketSize.set(bracketId, entry.quantity);
    this.remember(stopLoss.clientOrderId, legOrderId(bracketId, 'stop'), instrument.symbol);
    this.remember(takeProfit.clientOrderId, legOrderId(bracketId, 'target'), instrument.symbol);
    const bracket = await this.byId(bracketId);
    const leg = (kind: LegKind, clientOrderId: string): Order | undefined =>
      bracket && toLeg(bracket, kind, clientOrderId, entry.quantity, placed.order_id);
    return { entry: toOrder(placed, entry.clientOrderId), stopLoss: leg('stop', stopLoss.clientOrderId), takeProfit: leg('target', takeProfit.clientOrderId) };
  }

  async modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order> {
    void change;
    const found = await this.getOrder(ref);
    if (!found) throw new OrderNotFoundError(`coinbase: no order ${describeRef(ref)}`, { broker: BROKER });
    throw new NotSupportedError('coinbase: orders are not amended in place by tradewire (cancel and place again)', { broker: BROKER });
  }

  async cancelOrder(ref: OrderRef): Promise<void> {
    const found = await this.locate(ref);
    if (!found) throw new OrderNotFoundError(`coinbase: no order ${describeRef(ref)}`, { broker: BROKER });
    if (found.order.status === 'cancelled' || found.order.status === 'expired' || found.order.status === 'rejected') return;
    if (found.order.status === 'filled') {
      throw new OrderRejectedError(`coinbase: order ${describeRef(ref)} has filled; there is nothing to cancel`, { broker: BROKER });
    }
    // A bracket leg is cancelled with its whole bracket: Coinbase holds both exits in one order.
    const { results } = await this.http.request({ method: 'POST', path: '/orders/batch_cancel', json: { order_ids: [found.wire.order_id] }, schema: batchCancelSchema });
    const result = results.find((r) => r.order_id === found.wire.order_id) ?? results[0];
    if (result?.success === true) return;
    // HTTP 200 does not mean cancelled: a refusal is checked against what the order is now (a retry after a timeout finds it cancelled).
    const now = await this.byId(found.wire.order_id);
    if (now?.status === 'CANCELLED') return;
    const reason = result?.failure_reason ?? 'UNKNOWN_CANCEL_FAILURE_REASON';
    if (!now || reason === 'UNKNOWN_CANCEL_ORDER') throw new OrderNotFoundError(`coinbase: cancel ${describeRef(ref)}: ${reason}`, { broker: BROKER, code: reason });
    throw new OrderRejectedError(`coinbase: cancel ${describeRef(ref)} refused: ${reason}`, { broker: BROKER, code: reason });
  }

  async getOrder(ref: OrderRef): Promise<Order | undefined> {
    return (await this.locate(ref))?.order;
  }

  async openOrders(symbol?: string): Promise<Order[]> {
    const wanted = symbol === undefined ? undefined : fromProductId(toProductId(symbol));
    const query = ['order_status=OPEN', 'order_status=PENDING', `limit=${PAGE}`];
    if (wanted !== undefined) query.push(`product_ids=${encodeURIComponent(toProductId(symbol ?? ''))}`);
    const wires = await this.pagedOrders(query.join('&'), Number.POSITIVE_INFINITY);
    return wires.flatMap((wire) => this.viewsOf(wire))
      .filter((order) => LIVE_STATUSES.has(order.status) && (wanted === undefined || order.symbol === wanted));
  }

  async fills(since?: Date): Promise<Fill[]> {
    const wires: z.output<typeof fillsPageSchema>['fills'] = [];
    for (let cursor: string | undefined; ;) {
      const page = await this.get('/orders/historical/fills', fillsPageSchema, {
        start_sequence_timestamp: since?.toISOString(), limit: FILL_PAGE, cursor, sort_by: 'TRADE_TIME',
      });
      wires.push(...page.fills);
      if (!page.cursor || page.fills.length === 0) break;
      cursor = page.cursor;
    }
    // Coinbase's fills carry no client id: each order is asked once, a bracket's fills going to the exit that fired.
    const orders = new Map<string, WireOrder | undefined>();
    const fills: Fill[] = [];
    for (const wire of wires) {
      const known = this.clientIdOf.get(wire.order_id);
      if (known !== undefined) {
        // An order this adapter placed under that client id (never a bracket: its legs are remembered by leg id).
        fills.push(toFill(wire, wire.order_id, known));
        continue;
      }
      if (!orders.has(wire.order_id)) orders.set(wire.order_id, await this.byId(wire.order_id));
      const order = orders.get(wire.order_id);
      let orderId = wire.order_id;
      if (order && isBracket(order)) orderId = legOrderId(order.order_id, firedLeg(order));
      const clientOrderId = this.clientIdOf.get(orderId) ?? (orderId === wire.order_id ? order?.client_order_id : undefined) ?? orderId;
      fills.push(toFill(wire, orderId, clientOrderId));
    }
    return fills.sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async positions(): Promise<BrokerPosition[]> {
    const { breakdown } = await this.get(`/portfolios/${encodeURIComponent(await this.portfolio())}`, breakdownSchema);
    return breakdown.spot_positions
      .filter((p) => p.is_cash !== true && p.asset !== this.quote && p.total_balance_crypto.gt(0))
      .map((p) => ({
        symbol: `${p.asset}${this.quote}`, side: 'long' as const, quantity: p.total_balance_crypto,
        averagePrice: p.average_entry_price?.value ?? ZERO, unrealizedPnl: p.unrealized_pnl,
      }));
  }

  async closePosition(symbol: string, clientOrderId: string): Promise<Order> {
    const { instrument } = await this.product(symbol);
    const held = floorToStep(await this.available(currenciesOf(toProductId(symbol)).base), instrument.stepSize);
    if (held.lte(0)) throw new InvalidOrderError(`coinbase: no ${symbol} held to close`, { broker: BROKER });
    return this.placeOrder({ clientOrderId, symbol: instrument.symbol, side: 'sell', type: 'market', quantity: held, leg: 'exit' });
  }

  /** POST /orders. HTTP 200 with `success: false` is a refusal; a reused client id is the order placed before. */
  private async create(body: { client_order_id: string; product_id: string; side: string; order_configuration: unknown }, what: string): Promise<{ orderId: string; attachedOrderId?: string | undefined }> {
    const answer = await this.http.request({ method: 'POST', path: '/orders', json: body, schema: createOrderSchema });
    const orderId = answer.success_response?.order_id ?? answer.order_id;
    if (answer.success && orderId) return { orderId, attachedOrderId: answer.success_response?.attached_order_id };
    const error = rejectionError(answer.error_response, answer.failure_reason, what);
    if (!(error instanceof DuplicateClientOrderIdError)) throw error;
    const found = await this.searchClientId(body.client_order_id, body.product_id);
    if (!found) throw error;
    return { orderId: found.order_id, attachedOrderId: found.attached_order_id || undefined };
  }

  /** An order tradewire asks about, as the order (or bracket leg) tradewire knows, with the Coinbase order behind it. */
  private async locate(ref: OrderRef): Promise<{ order: Order; wire: WireOrder } | undefined> {
    let orderId: string | undefined;
    let clientOrderId: string | undefined;
    if ('orderId' in ref) {
      orderId = ref.orderId;
      clientOrderId = this.clientIdOf.get(orderId);
      for (let hop = 0, next = this.aliases.get(orderId); next !== undefined && hop < 10; hop++, next = this.aliases.get(next)) orderId = next;
    } else {
      clientOrderId = ref.clientOrderId;
      orderId = this.byClientId.get(ref.clientOrderId)?.orderId ?? await this.legThroughEntry(ref.clientOrderId, ref.symbol);
    }
    let wire: WireOrder | undefined;
    let order: Order | undefined;
    if (orderId === undefined) {
      wire = await this.searchClientId(clientOrderId ?? '', ref.symbol === undefined ? undefined : toProductId(ref.symbol));
      if (wire) this.remember(wire.client_order_id, wire.order_id, fromProductId(wire.product_id));
      order = wire && toOrder(wire, clientOrderId);
    } else {
      const leg = parseLegOrderId(orderId);
      wire = await this.byId(leg?.bracketId ?? orderId);
      if (wire && leg) order = toLeg(wire, leg.leg, clientOrderId ?? orderId, this.bracketSize.get(wire.order_id));
      else if (wire) order = toOrder(wire, clientOrderId ?? wire.client_order_id);
    }
    if (!wire || !order) return undefined;
    if (ref.symbol !== undefined && order.symbol !== fromProductId(toProductId(ref.symbol))) return undefined;
    return { order, wire };
  }

  /**
   * A leg of a bracket whose placement did not answer (a timeout): its entry is looked up by client id, and the
   * bracket Coinbase attached to it is the leg's. Undefined when the entry never arrived or carries no bracket.
   */
  private async legThroughEntry(clientOrderId: string, symbol: string | undefined): Promise<string | undefined> {
    const owner = this.legOwners.get(clientOrderId);
    if (!owner) return undefined;
    const entry = await this.locate({ clientOrderId: owner.entryClientOrderId, symbol });
    const bracketId = entry?.wire.attached_order_id;
    if (!entry || !bracketId) return undefined;
    this.bracketSize.set(bracketId, owner.quantity);
    const id = legOrderId(bracketId, owner.leg);
    this.remember(clientOrderId, id, entry.order.symbol);
    return id;
  }

  /** What an open Coinbase order is to tradewire: itself, or a bracket's two exits. */
  private viewsOf(wire: WireOrder): Order[] {
    if (!isBracket(wire)) return [toOrder(wire, this.clientIdOf.get(wire.order_id) ?? wire.client_order_id)];
    const size = this.bracketSize.get(wire.order_id);
    return (['stop', 'target'] as const).map((leg) => {
      const id = legOrderId(wire.order_id, leg);
      return toLeg(wire, leg, this.clientIdOf.get(id) ?? id, size);
    });
  }

  private async byId(id: string): Promise<WireOrder | undefined> {
    try {
      return (await this.get(`/orders/historical/${encodeURIComponent(id)}`, orderEnvelopeSchema)).order;
    } catch (error) {
      // An id Coinbase does not know is a 404, or a 400 when it is not even shaped like one of its ids.
      if (error instanceof OrderNotFoundError || error instanceof OrderRejectedError) return undefined;
      throw error;
    }
  }

  /** The newest orders, searched for a client id (Coinbase has no lookup by client id). */
  private async searchClientId(clientOrderId: string, productId: string | undefined): Promise<WireOrder | undefined> {
    const query = [`limit=${PAGE}`];
    if (productId !== undefined) query.push(`product_ids=${encodeURIComponent(productId)}`);
    const orders = await this.pagedOrders(query.join('&'), CLIENT_ID_SEARCH_PAGES, (o) => o.client_order_id === clientOrderId);
    return orders.find((o) => o.client_order_id === clientOrderId);
  }

  private async pagedOrders(query: string, maxPages: number, stop?: (order: WireOrder) => boolean): Promise<WireOrder[]> {
    const orders: WireOrder[] = [];
    for (let page = 0, cursor: string | undefined; page < maxPages; page++) {
      const answer = await this.get(`/orders/historical/batch?${query}`, ordersPageSchema, { cursor });
      orders.push(...answer.orders);
      if (stop && answer.orders.some(stop)) break;
      if (answer.has_next !== true || !answer.cursor) break;
      cursor = answer.cursor;
    }
    return orders;
  }

  private async product(symbol: string): Promise<{ product: WireProduct; instrument: Instrument }> {
    const productId = toProductId(symbol);
    const now = this.clock().getTime();
    const cached = this.products.get(productId);
    if (cached && now - cached.at < this.productTtlMs) return cached;
    const product = await this.get(`/products/${encodeURIComponent(productId)}`, productSchema);
    if (product.is_disabled === true || (product.status !== undefined && product.status !== 'online')) {
      throw new InvalidSymbolError(`coinbase: ${productId} is ${product.is_disabled === true ? 'disabled' : product.status}`, { broker: BROKER });
    }
    const entry = { product, instrument: toInstrument(fromProductId(product.product_id), product), at: now };
    this.products.set(productId, entry);
    return entry;
  }

  /** Refused before sending when the product says it cannot take this order now (halted, cancel-only, limit-only). */
  private ensureTradable(product: WireProduct, type: OrderRequest['type']): void {
    // Holdings are reported as positions against the account's quote currency ('BTC' held is BTCUSD): a product quoted
    // in another would be journalled under a symbol the positions never name, and reconciliation would close it.
    const quote = product.quote_currency_id ?? currenciesOf(product.product_id).quote;
    if (quote !== this.quote) {
      throw new NotSupportedError(`coinbase: ${product.product_id} is quoted in ${quote}; this account trades ${this.quote}-quoted products only`, { broker: BROKER });
    }
    if (product.trading_disabled === true || product.cancel_only === true) {
      throw new MarketClosedError(`coinbase: ${product.product_id} is ${product.cancel_only === true ? 'cancel-only' : 'not trading'} now`, { broker: BROKER });
    }
    if (product.limit_only === true && type === 'market') {
      throw new MarketClosedError(`coinbase: ${product.product_id} takes limit orders only now`, { broker: BROKER });
    }
  }

  /** Spot has no reduce-only flag: a reducing sell is cut to the coins available, and refused when there are none. */
  private async reducible(request: OrderRequest, instrument: Instrument): Promise<Decimal> {
    if (request.side === 'buy') throw new InvalidOrderError(`coinbase: reduce-only buy ${request.clientOrderId}: spot holds no short to reduce`, { broker: BROKER });
    const held = floorToStep(await this.available(currenciesOf(toProductId(request.symbol)).base), instrument.stepSize);
    if (held.lte(0)) throw new InvalidOrderError(`coinbase: reduce-only sell ${request.clientOrderId}: no ${request.symbol} available to sell`, { broker: BROKER });
    return Decimal.min(request.quantity, held);
  }

  private async available(currency: string): Promise<Decimal> {
    return (await this.accounts()).find((a) => a.currency === currency)?.available_balance.value ?? ZERO;
  }

  private async accounts(): Promise<WireAccount[]> {
    const all: WireAccount[] = [];
    for (let cursor: string | undefined; ;) {
      const page = await this.get('/accounts', accountsSchema, { limit: PAGE, cursor });
      all.push(...page.accounts);
      if (page.has_next !== true || !page.cursor) break;
      cursor = page.cursor;
    }
    return all;
  }

  private async portfolio(): Promise<string> {
    if (this.portfolioId === undefined) await this.connect();
    return this.portfolioId as string;
  }

  private remember(clientOrderId: string, orderId: string, symbol: string): void {
    if (clientOrderId === '') return;
    this.byClientId.set(clientOrderId, { orderId, symbol });
    this.clientIdOf.set(orderId, clientOrderId);
  }

  private get<S extends z.ZodType>(path: string, schema: S, query?: Params): Promise<z.output<S>> {
    return this.http.request({ method: 'GET', path, query, schema });
  }
}

/** A trigger bracket: attached to an entry, or placed on its own. */
function isBracket(wire: WireOrder): boolean {
  return wire.order_configuration.trigger_bracket_gtc !== undefined || wire.order_type === 'BRACKET';
}

function describeRef(ref: OrderRef): string {
  return 'orderId' in ref ? `with id ${ref.orderId}` : `with client order id ${ref.clientOrderId}`;
}
