// The Interactive Brokers adapter: US stocks through the Client Portal Web API of a local gateway, translated to tradewire's domain.
import { z } from 'zod';
import type { Broker, BrokerHealth, Capabilities, MarginImpact, Protection } from '../broker.ts';
import { BoundedMap, REMEMBERED_ORDERS } from '../bounded-map.ts';
import { createHttpClient } from '../http.ts';
import type { HttpClient, HttpClientOptions, RequestOptions } from '../http.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO } from '../../domain/money.ts';
import { LIVE_STATUSES } from '../../domain/order.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, Order, OrderChange, OrderRef, OrderRequest, OrderType,
  Quote, TimeInForce,
} from '../../domain/order.ts';
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, DuplicateClientOrderIdError, InvalidOrderError, InvalidSymbolError, NetworkError,
  OrderNotFoundError, OrderRejectedError, PermissionDeniedError, TimeoutError,
} from '../../domain/errors.ts';
import type { Logger } from '../../ops/logger.ts';
import { BROKER, errorFromText, ibkrErrorMapper } from './errors.ts';
import { gatewayFetch, verifiesCertificate } from './gateway-tls.ts';
import { fromLive, fromStatus, legBody, orderBody, sideOf, statusOf } from './mapping.ts';
import type { Naming, WireOrderRequest } from './mapping.ts';
import { GatewaySession } from './session.ts';
import {
  accountsSchema, cancelSchema, ledgerSchema, liveOrdersSchema, orderStatusSchema, placeReplySchema, positionsSchema, secdefSearchSchema,
  selectAccountSchema, snapshotSchema, summarySchema, tradesSchema, whatIfSchema,
} from './wire.ts';
import type { WireLiveOrder, WireOrderStatus, WirePlaceReply, WirePlaced, WireQuestion } from './wire.ts';

export const IBKR_DEFAULT_GATEWAY = 'https://localhost:5000/v1/api';

export interface IbkrBrokerOptions {
  /** The account's name, as configured. */
  name: string;
  /** The IBKR account (U… live, DU… paper) the gateway login must hold. */
  accountId: string;
  gatewayUrl?: string | undefined;
  /** Gateway question ids ('o163') tradewire may confirm; any other question refuses the order. */
  allowedPrompts?: readonly string[] | undefined;
  /** Absent: off for a gateway on this machine (its certificate is self-signed), on for any other host. */
  verifyCertificate?: boolean | undefined;
  logger: Pick<Logger, 'debug' | 'trace' | 'info' | 'warn'>;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  /** Replaces the gateway fetch (and its certificate handling) outright; for tests. */
  fetch?: HttpClientOptions['fetch'];
  tickleIntervalMs?: number | undefined;
  /** How long a good session status is trusted before an order checks it again. */
  sessionTrustMs?: number | undefined;
}

const ORDER_TYPES: readonly OrderType[] = ['market', 'limit', 'stop', 'stop_limit'];
/** Questions answered in a row before giving up: the gateway asks one at a time, a handful at most. */
const MAX_QUESTIONS = 8;
const SNAPSHOT_FIELDS = '31,84,86';
const DAY_MS = 86_400_000;
const nothing = z.unknown();

/** IBKR links a parent and its children at the venue (one POST, `parentId` = the parent's cOID): native for stocks. */
export function ibkrProtection(instrument: Instrument): Protection {
  return instrument.assetClass === 'equity' ? 'native' : 'after_fill';
}

export const IBKR_CAPABILITIES: Capabilities = {
  protectionFor: ibkrProtection,
  orderTypes: ORDER_TYPES,
  shorting: true,
  fractional: false,
  timeInForce: ['day', 'gtc', 'ioc'],
  extendedHours: true,
  // IBKR documents no cOID limit; tradewire's ids (tw-xx-<hash>) fit in 36 and stay readable in TWS.
  clientIdMaxLength: 36,
  clientIdAlphabet: 'A-Za-z0-9_-',
  marginPreview: true,
  // POST /iserver/account/{acct}/order/{id} modifies in place; a bracket child stays in its group.
  amend: true,
};

interface Known extends Naming {
  orderId: string;
}

function isQuestion(item: WirePlaced | WireQuestion): item is WireQuestion {
  return 'id' in item && !('order_id' in item);
}

/**
 * One IBKR account through the Client Portal gateway. The gateway holds the brokerage session (a person logs in with
 * username, password and 2FA); the adapter checks it before trading and tickles it every minute while connected.
 *
 * Client ids: a single order and a bracket's parent carry tradewire's id as `cOID` (the live orders list echoes it as
 * `order_ref`). A bracket's children cannot carry one, so the adapter remembers which order id is which leg while it
 * runs; after a restart tradewire asks for a leg by the broker order id its journal recorded.
 */
export class IbkrBroker implements Broker {
  readonly name: string;
  readonly capabilities: Capabilities = IBKR_CAPABILITIES;

  private readonly client: HttpClient;
  private readonly session: GatewaySession;
  private readonly account_: string;
  private readonly gatewayUrl: string;
  private readonly allowed: ReadonlySet<string>;
  private readonly clock: () => Date;
  private readonly logger: IbkrBrokerOptions['logger'];
  private readonly conids = new Map<string, number>();
  private readonly symbols = new Map<number, string>();
  private readonly byOrderId = new BoundedMap<string, Known>(REMEMBERED_ORDERS);
  private readonly byClientId = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  /** The gateway takes one order (or one bracket group) at a time through its question loop. */
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(options: IbkrBrokerOptions) {
    this.name = options.name;
    if (!options.accountId) throw new AuthenticationError(`ibkr account '${options.name}': accountId is required`, { broker: BROKER });
    this.account_ = options.accountId;
    this.gatewayUrl = options.gatewayUrl ?? IBKR_DEFAULT_GATEWAY;
    this.allowed = new Set(options.allowedPrompts ?? []);
    this.clock = options.clock ?? (() => new Date());
    this.logger = options.logger;
    const verify = verifiesCertificate(this.gatewayUrl, options.verifyCertificate);
    this.client = createHttpClient({
      broker: BROKER,
      baseUrl: this.gatewayUrl,
      timeoutMs: options.timeoutMs ?? 10_000,
      logger: options.logger,
      clock: this.clock,
      fetch: options.fetch ?? gatewayFetch(this.gatewayUrl, verify),
      mapError: ibkrErrorMapper(this.gatewayUrl),
      // Prices and balances are JSON numbers: parsed losslessly, they reach Decimal from their text.
      losslessNumbers: true,
    });
    this.session = new GatewaySession({
      client: this.client, gatewayUrl: this.gatewayUrl, clock: this.clock, logger: options.logger,
      tickleIntervalMs: options.tickleIntervalMs ?? 60_000, trustMs: options.sessionTrustMs ?? 60_000,
    });
  }

  async connect(): Promise<void> {
    await this.session.ensure();
    // The gateway must be asked for its accounts before any order call (brokers.md §5.3).
    const accounts = await this.call({ method: 'GET', path: '/iserver/accounts', schema: accountsSchema });
    if (!accounts.accounts.includes(this.account_)) {
      throw new PermissionDeniedError(`ibkr account '${this.name}': the configured accountId is not among the ${accounts.accounts.length} account(s) of the gateway's login`, { broker: BROKER });
    }
    if (accounts.selectedAccount !== undefined && accounts.selectedAccount !== this.account_) {
      await this.call({ method: 'POST', path: '/iserver/account', json: { acctId: this.account_ }, schema: selectAccountSchema });
    }
    // Portfolio endpoints answer only after the portfolio accounts were listed once in the session.
    await this.call({ method: 'GET', path: '/portfolio/accounts', schema: nothing });
    this.session.startKeepAlive();
  }

  async disconnect(): Promise<void> {
    this.session.stopKeepAlive();
  }

  /** True while the keep-alive timer runs (between connect and disconnect). */
  get keepingAlive(): boolean {
    return this.session.keepingAlive;
  }

  async health(): Promise<BrokerHealth> {
    const started = this.clock().getTime();
    try {
      await this.session.check();
      await this.session.ensure();
      return { ok: true, latencyMs: this.clock().getTime() - started };
    } catch (error) {
      return { ok: false, latencyMs: this.clock().getTime() - started, detail: (error as Error).message };
    }
  }

  async account(): Promise<AccountSummary> {
    const summary = await this.call({ method: 'GET', path: `/portfolio/${this.acct}/summary`, schema: summarySchema });
    const equity = summary.netliquidation.amount ?? ZERO;
    const cash = summary.totalcashvalue.amount ?? ZERO;
    return {
      currency: summary.netliquidation.currency ?? 'USD',
      equity,
      cash,
      buyingPower: summary.buyingpower?.amount ?? summary.availablefunds?.amount ?? cash,
    };
  }

  async balances(): Promise<Balance[]> {
    const ledger = await this.call({ method: 'GET', path: `/portfolio/${this.acct}/ledger`, schema: ledgerSchema });
    // BASE is the account's total in its base currency, not a currency held.
    return Object.entries(ledger).filter(([key]) => key !== 'BASE')
      .map(([key, entry]) => ({ currency: key, total: entry.cashbalance, available: entry.settledcash ?? entry.cashbalance }));
  }

  /**
   * US stocks: a cent tick and whole shares. The gateway's contract rules are not read: sub-dollar ticks and
   * non-US listings are not modelled (the broker's own checks are the backstop).
   */
  async instrument(symbol: string): Promise<Instrument> {
    await this.conid(symbol);
    return {
      symbol: symbol.toUpperCase(), assetClass: 'equity', tickSize: new Decimal('0.01'), stepSize: new Decimal(1), minQuantity: new Decimal(1),
      minNotional: ZERO, shortable: true, fractionable: false, quoteCurrency: 'USD',
    };
  }

  async quotes(symbols: string[]): Promise<Map<string, Quote>> {
    const wanted = new Map<number, string>();
    for (const symbol of symbols) wanted.set(await this.conid(symbol), symbol);
    const quotes = new Map<string, Quote>();
    // The first snapshot of a conid only starts its subscription and may come back empty: the missing ones are asked once more.
    for (let attempt = 0; attempt < 2 && quotes.size < wanted.size; attempt++) {
      const missing = [...wanted.keys()].filter((c) => !quotes.has(wanted.get(c) ?? ''));
      const rows = await this.call({ method: 'GET', path: '/iserver/marketdata/snapshot', query: { conids: missing.join(','), fields: SNAPSHOT_FIELDS }, schema: snapshotSchema });
      for (const row of rows) {
        const symbol = wanted.get(row.conid);
        const last = marketValue(row['31']);
        if (symbol === undefined || last === undefined) continue;
        quotes.set(symbol, { symbol, last, bid: marketValue(row['84']), ask: marketValue(row['86']), time: row._updated === undefined ? this.clock() : new Date(row._updated) });
      }
    }
    return quotes;
  }

  async placeOrder(request: OrderRequest): Promise<Order> {
    await this.session.ensure();
    const conid = await this.conid(request.symbol);
    const quantity = request.reduceOnly === true ? await this.reducible(request) : request.quantity;
    const timeInForce = request.timeInForce ?? (request.type === 'market' ? 'day' : 'gtc');
    const sent = { ...request, quantity };
    const body = orderBody(sent, this.account_, conid, timeInForce);
    let placed: WirePlaced[];
    try {
      placed = await this.submit(`/iserver/account/${this.acct}/orders`, [body], `order ${request.clientOrderId}`);
    } catch (error) {
      return this.recoverDuplicate(error, sent);
    }
    const first = placed[0];
    if (!first) throw new BrokerError(`ibkr: order ${request.clientOrderId} was answered with no order id`, { broker: BROKER });
    this.remember({ orderId: first.order_id, clientOrderId: request.clientOrderId, symbol: request.symbol.toUpperCase() });
    return this.placedOrder(first, sent, timeInForce);
  }

  async placeBracket(request: BracketRequest): Promise<BracketOrders> {
    const { entry, stopLoss, takeProfit } = request;
    if (!stopLoss && !takeProfit) return { entry: await this.placeOrder(entry) };
    if (entry.reduceOnly === true) throw new InvalidOrderError('ibkr: a bracket entry opens a position; it cannot be reduce-only', { broker: BROKER });
    await this.session.ensure();
    const conid = await this.conid(entry.symbol);
    const timeInForce = entry.timeInForce ?? 'gtc';
    const legs = [stopLoss, takeProfit].filter((leg) => leg !== undefined);
    const orders = [orderBody(entry, this.account_, conid, timeInForce), ...legs.map((leg) => legBody(leg, entry, this.account_, conid, timeInForce))];
    let placed: WirePlaced[];
    try {
      placed = await this.submit(`/iserver/account/${this.acct}/orders`, orders, `bracket ${entry.clientOrderId}`);
    } catch (error) {
      return this.recoverBracket(error, request);
    }
    // One answer per order, in the order sent (brokers.md §5.5); a parent named by local_order_id is taken by name.
    if (placed.length !== orders.length) {
      throw new BrokerError(`ibkr: bracket ${entry.clientOrderId} was answered with ${placed.length} order ids for ${orders.length} orders`, { broker: BROKER });
    }
    const parentIndex = Math.max(0, placed.findIndex((p) => p.local_order_id === entry.clientOrderId));
    const [parent] = placed.splice(parentIndex, 1) as [WirePlaced];
    const symbol = entry.symbol.toUpperCase();
    this.remember({ orderId: parent.order_id, clientOrderId: entry.clientOrderId, symbol });
    const entryOrder = await this.placedOrder(parent, entry, timeInForce);
    const entryFilled = entryOrder.status === 'filled';
    const legOrder = (wire: WirePlaced | undefined, spec: typeof stopLoss): Order | undefined => {
      if (!wire || !spec) return undefined;
      this.remember({ orderId: wire.order_id, clientOrderId: spec.clientOrderId, symbol, parentId: parent.order_id });
      const base = this.requested({ ...entry, clientOrderId: spec.clientOrderId, side: entry.side === 'buy' ? 'sell' : 'buy', type: spec.type, limitPrice: spec.limitPrice, stopPrice: spec.stopPrice }, wire.order_id, timeInForce);
      return { ...base, status: entryFilled ? 'accepted' : 'held', parentId: parent.order_id };
    };
    return {
      entry: entryOrder,
      stopLoss: legOrder(stopLoss ? placed.shift() : undefined, stopLoss),
      takeProfit: legOrder(takeProfit ? placed.shift() : undefined, takeProfit),
    };
  }

  async modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order> {
    const found = await this.locate(ref);
    if (!found || !LIVE_STATUSES.has(found.order.status)) throw new OrderNotFoundError(`ibkr: no live order ${describeRef(ref)}`, { broker: BROKER });
    const { order, wire } = found;
    const changed: OrderRequest = {
      clientOrderId: order.clientOrderId, symbol: order.symbol, side: order.side, type: order.type,
      quantity: change.quantity ?? order.quantity, limitPrice: change.limitPrice ?? order.limitPrice, stopPrice: change.stopPrice ?? order.stopPrice,
    };
    // IBKR's modify takes the whole order again; without a cOID it stays the same order (and a child stays in its bracket).
    const { cOID: _drop, ...body } = orderBody(changed, this.account_, wire.conid, order.timeInForce ?? 'gtc');
    await this.submit(`/iserver/account/${this.acct}/order/${encodeURIComponent(order.id)}`, body, `modify ${order.clientOrderId}`);
    const now = await this.getOrder({ orderId: order.id });
    if (!now) throw new OrderNotFoundError(`ibkr: order ${order.clientOrderId} vanished after its modification`, { broker: BROKER });
    return now;
  }

  async cancelOrder(ref: OrderRef): Promise<void> {
    const found = await this.locate(ref);
    if (!found) throw new OrderNotFoundError(`ibkr: no order ${describeRef(ref)}`, { broker: BROKER });
    const { order } = found;
    if (order.status === 'cancelled') return;
    if (!LIVE_STATUSES.has(order.status)) {
      throw new OrderRejectedError(`ibkr: order ${order.clientOrderId} cannot be cancelled, it is ${order.status}`, { broker: BROKER });
    }
    const answer = await this.call({ method: 'DELETE', path: `/iserver/account/${this.acct}/order/${encodeURIComponent(order.id)}`, schema: cancelSchema });
    if (typeof answer.error === 'string') throw errorFromText(answer.error, { path: '/iserver/account/{acct}/order/{id}' });
  }

  async getOrder(ref: OrderRef): Promise<Order | undefined> {
    return (await this.locate(ref))?.order;
  }

  async openOrders(symbol?: string): Promise<Order[]> {
    const wires = await this.liveOrders();
    const orders = wires.map((wire) => fromLive(wire, this.naming(wire.orderId, wire.order_ref, wire.ticker), this.clock()));
    const byId = new Map(orders.map((o) => [o.id, o]));
    const wanted = symbol?.toUpperCase();
    return orders
      .map((order) => {
        // A child waits (held) while its parent in the same list has not filled.
        const parent = order.parentId === undefined ? undefined : byId.get(order.parentId);
        return parent && parent.status !== 'filled' && LIVE_STATUSES.has(order.status) ? { ...order, status: 'held' as const } : order;
      })
      .filter((order) => LIVE_STATUSES.has(order.status) && (wanted === undefined || order.symbol === wanted));
  }

  async fills(since?: Date): Promise<Fill[]> {
    // The gateway keeps trades of the last 7 days at most.
    const days = since === undefined ? 7 : Math.min(7, Math.max(1, Math.ceil((this.clock().getTime() - since.getTime()) / DAY_MS)));
    const trades = await this.call({ method: 'GET', path: '/iserver/account/trades', query: { days }, schema: tradesSchema });
    return trades
      .filter((t) => since === undefined || t.trade_time_r >= since.getTime())
      .map((t) => ({
        id: t.execution_id,
        orderId: t.order_id ?? '',
        clientOrderId: t.order_ref ?? (t.order_id === undefined ? undefined : this.byOrderId.get(t.order_id)?.clientOrderId) ?? '',
        symbol: t.symbol.toUpperCase(),
        side: sideOf(t.side),
        quantity: t.size,
        price: t.price,
        fee: t.commission ?? ZERO,
        feeCurrency: 'USD',
        time: new Date(t.trade_time_r),
      }));
  }

  async positions(): Promise<BrokerPosition[]> {
    const rows = await this.call({ method: 'GET', path: `/portfolio/${this.acct}/positions/0`, schema: positionsSchema });
    return rows.filter((row) => !row.position.isZero()).map((row) => {
      const symbol = (row.ticker ?? this.symbols.get(row.conid) ?? row.contractDesc ?? String(row.conid)).toUpperCase();
      this.learn(symbol, row.conid);
      return {
        symbol,
        side: row.position.gt(0) ? 'long' as const : 'short' as const,
        quantity: row.position.abs(),
        averagePrice: row.avgPrice ?? row.avgCost ?? ZERO,
        unrealizedPnl: row.unrealizedPnl,
        markPrice: row.mktPrice,
      };
    });
  }

  async closePosition(symbol: string, clientOrderId: string): Promise<Order> {
    const position = (await this.positions()).find((p) => p.symbol === symbol.toUpperCase());
    if (!position) throw new InvalidOrderError(`ibkr: no open position in ${symbol} to close`, { broker: BROKER });
    return this.placeOrder({ clientOrderId, symbol, side: position.side === 'long' ? 'sell' : 'buy', type: 'market', quantity: position.quantity, leg: 'exit' });
  }

  /** IBKR's what-if: the order's margin before it is sent, from the gateway's own figures. */
  async marginImpact(request: OrderRequest): Promise<MarginImpact> {
    const conid = await this.conid(request.symbol);
    const body = orderBody(request, this.account_, conid, request.timeInForce ?? (request.type === 'market' ? 'day' : 'gtc'));
    const answer = await this.call({ method: 'POST', path: `/iserver/account/${this.acct}/orders/whatif`, json: { orders: [body] }, schema: whatIfSchema });
    const { amount, equity, initial } = answer;
    if (!amount || !equity || !initial) {
      throw errorFromText(answer.error ?? 'the what-if answer carries no margin figures', { path: '/iserver/account/{acct}/orders/whatif' });
    }
    const initialMargin = initial.change.abs();
    const notional = amount.amount.abs();
    return {
      initialMargin,
      leverage: initialMargin.gt(0) ? notional.div(initialMargin) : new Decimal(1),
      // Available funds now: equity with loan value less the initial margin already in use.
      availableMargin: equity.current.minus(initial.current),
    };
  }

  private get acct(): string {
    return encodeURIComponent(this.account_);
  }

  /** Every call goes through here: a 401 makes the next order check the session instead of trusting the last answer. */
  private async call<S extends z.ZodType>(options: RequestOptions<S>): Promise<z.output<S>> {
    try {
      return await this.client.request(options);
    } catch (error) {
      if (error instanceof AuthenticationError) this.session.forget();
      throw error;
    }
  }

  /**
   * Sends an order (or a bracket group, or a modification) and answers the gateway's questions: confirmed when every
   * message id of the question is allowed by the config, otherwise declined and refused with the question's text.
   */
  private submit(path: string, orders: WireOrderRequest[] | Omit<WireOrderRequest, 'cOID'>, what: string): Promise<WirePlaced[]> {
    const run = async (): Promise<WirePlaced[]> => {
      const json = Array.isArray(orders) ? { orders } : orders;
      let reply: WirePlaceReply = await this.call({ method: 'POST', path, json, schema: placeReplySchema });
      for (let asked = 0; ; asked++) {
        if (!Array.isArray(reply)) throw errorFromText(reply.error, { path: path.replace(this.acct, '{acct}') });
        const question = reply.find(isQuestion);
        if (!question) return reply.filter((item): item is WirePlaced => !isQuestion(item));
        const text = question.message.join(' ').trim();
        const ids = question.messageIds;
        const refused = ids.length === 0 ? ['(no id)'] : ids.filter((id) => !this.allowed.has(id));
        if (refused.length > 0 || asked >= MAX_QUESTIONS) {
          // Declined, so the gateway drops the pending order rather than keeping it for a later reply.
          await this.call({ method: 'POST', path: `/iserver/reply/${encodeURIComponent(question.id)}`, json: { confirmed: false }, schema: nothing }).catch(() => undefined);
          const why = refused.length > 0 ? `asks a question the config does not allow tradewire to confirm (${refused.join(', ')}; add it to allowedPrompts to confirm it)` : `kept asking questions (${MAX_QUESTIONS} confirmed)`;
          throw new OrderRejectedError(`ibkr: ${what} ${why}: "${text}"`, { broker: BROKER, code: ids.join(','), vendorMessage: text });
        }
        this.logger.info({ event: 'broker.prompt_confirmed', broker: BROKER, messageIds: ids, what }, `ibkr: confirmed ${ids.join(', ')} for ${what}`);
        reply = await this.call({ method: 'POST', path: `/iserver/reply/${encodeURIComponent(question.id)}`, json: { confirmed: true }, schema: placeReplySchema });
      }
    };
    const result = this.inFlight.then(run, run);
    this.inFlight = result.catch(() => undefined);
    return result;
  }

  private async conid(symbol: string): Promise<number> {
    const key = symbol.toUpperCase();
    const cached = this.conids.get(key);
    if (cached !== undefined) return cached;
    const answer = await this.call({ method: 'GET', path: '/iserver/secdef/search', query: { symbol: key, secType: 'STK' }, schema: secdefSearchSchema });
    if (!Array.isArray(answer)) throw new InvalidSymbolError(`ibkr: no contract for ${key} (${answer.error})`, { broker: BROKER, vendorMessage: answer.error });
    // The search also returns look-alikes (other listings, indices): the stock whose symbol is exactly the one asked.
    const match = answer.find((c) => c.symbol?.toUpperCase() === key && (c.sections ?? []).some((s) => s.secType === 'STK'));
    if (!match) throw new InvalidSymbolError(`ibkr: no stock contract for ${key}`, { broker: BROKER });
    this.learn(key, match.conid);
    return match.conid;
  }

  private learn(symbol: string, conid: number): void {
    this.conids.set(symbol, conid);
    this.symbols.set(conid, symbol);
  }

  private remember(known: Known): void {
    this.byOrderId.set(known.orderId, known);
    this.byClientId.set(known.clientOrderId, known.orderId);
  }

  private naming(orderId: string, orderRef: string | undefined, symbol: string): Naming {
    const known = this.byOrderId.get(orderId);
    return { clientOrderId: known?.clientOrderId ?? orderRef ?? '', symbol: known?.symbol ?? symbol.toUpperCase(), parentId: known?.parentId };
  }

  private async liveOrders(): Promise<WireLiveOrder[]> {
    return (await this.call({ method: 'GET', path: '/iserver/account/orders', schema: liveOrdersSchema })).orders;
  }

  private async statusOf(orderId: string): Promise<WireOrderStatus | undefined> {
    try {
      return await this.call({ method: 'GET', path: `/iserver/account/order/status/${encodeURIComponent(orderId)}`, schema: orderStatusSchema });
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
      throw error;
    }
  }

  /** Where an order stands now, under the client id tradewire knows it by. */
  private async locate(ref: OrderRef): Promise<{ order: Order; wire: WireOrderStatus } | undefined> {
    let orderId: string | undefined;
    if ('orderId' in ref) {
      orderId = ref.orderId;
    } else {
      orderId = this.byClientId.get(ref.clientOrderId);
      if (orderId === undefined) {
        // Not placed in this run: the gateway's live orders list carries the cOID as order_ref.
        const wire = (await this.liveOrders()).find((o) => o.order_ref === ref.clientOrderId);
        if (wire) {
          orderId = wire.orderId;
          this.remember({ orderId, clientOrderId: ref.clientOrderId, symbol: wire.ticker.toUpperCase() });
        }
      }
    }
    if (orderId === undefined) return undefined;
    const wire = await this.statusOf(orderId);
    if (!wire) return undefined;
    let naming = this.naming(orderId, wire.order_ref, this.symbols.get(wire.conid) ?? wire.symbol);
    if (naming.clientOrderId === '') {
      const listed = (await this.liveOrders()).find((o) => o.orderId === orderId);
      if (listed?.order_ref !== undefined) naming = { ...naming, clientOrderId: listed.order_ref };
    }
    if (ref.symbol !== undefined && ref.symbol.toUpperCase() !== naming.symbol) return undefined;
    let order = fromStatus(wire, naming, this.clock());
    if (order.parentId !== undefined && LIVE_STATUSES.has(order.status)) {
      // A child waits for its parent: until the entry fills, IBKR holds the legs.
      const parent = await this.statusOf(order.parentId);
      const parentStatus = parent && statusOf(parent.order_status, parent.cum_fill ?? ZERO, parent.total_size);
      if (parentStatus !== 'filled' && parentStatus !== 'partially_filled') order = { ...order, status: 'held' };
    }
    return { order, wire };
  }

  /** The order as sent, with the id the gateway gave it: what a placement returns without another round trip. */
  private requested(request: OrderRequest, orderId: string, timeInForce: TimeInForce): Order {
    const now = this.clock();
    return {
      id: orderId, clientOrderId: request.clientOrderId, symbol: request.symbol.toUpperCase(), side: request.side, type: request.type,
      status: 'submitted', quantity: request.quantity, filledQuantity: ZERO, limitPrice: request.limitPrice, stopPrice: request.stopPrice,
      timeInForce, createdAt: now, updatedAt: now,
    };
  }

  private async placedOrder(placed: WirePlaced, request: OrderRequest, timeInForce: TimeInForce): Promise<Order> {
    const status = statusOf(placed.order_status ?? 'PendingSubmit', ZERO, request.quantity);
    // A fill (a market order) is read back for its price; anything else is the order as sent.
    if (status === 'filled' || status === 'partially_filled') {
      const found = await this.getOrder({ orderId: placed.order_id });
      if (found) return found;
    }
    return { ...this.requested(request, placed.order_id, timeInForce), status: status === 'unknown' ? 'submitted' : status };
  }

  /** A reused cOID is the same order placed before (a retry after a timeout): that order is the answer; anything else stays an error. */
  private async recoverDuplicate(error: unknown, request: OrderRequest): Promise<Order> {
    if (!(error instanceof DuplicateClientOrderIdError)) throw error;
    return this.samePlaced(error, request);
  }

  private async samePlaced(error: unknown, request: OrderRequest): Promise<Order> {
    const found = await this.getOrder({ clientOrderId: request.clientOrderId });
    if (!found || found.symbol !== request.symbol.toUpperCase() || found.side !== request.side || !found.quantity.eq(request.quantity) || found.type !== request.type) throw error;
    return found;
  }

  /**
   * A bracket placed before (a reused cOID), or one whose answer was lost (a timeout, a dropped connection, a 5xx: it may
   * have reached IBKR): the parent is found by its cOID, the children among the live orders by type and price. Only the
   * adapter can name the children (they carry no cOID), so it looks here rather than leaving it to a lookup by client id.
   * Nothing found after a lost answer: the original error stands (the caller looks up again before any retry).
   */
  private async recoverBracket(error: unknown, request: BracketRequest): Promise<BracketOrders> {
    const ambiguous = error instanceof TimeoutError || error instanceof NetworkError || error instanceof BrokerUnavailableError;
    if (!(error instanceof DuplicateClientOrderIdError) && !ambiguous) throw error;
    const entry = await this.samePlaced(error, request.entry);
    const live = (await this.liveOrders()).filter((o) => o.ticker.toUpperCase() === entry.symbol && sideOf(o.side) !== entry.side);
    const symbol = entry.symbol;
    const leg = (spec: BracketRequest['stopLoss']): Order | undefined => {
      if (!spec) return undefined;
      const naming = { clientOrderId: spec.clientOrderId, symbol, parentId: entry.id };
      const found = live.map((o) => fromLive(o, naming, this.clock()))
        .find((o) => o.type === spec.type && (spec.stopPrice === undefined || o.stopPrice?.eq(spec.stopPrice)) && (spec.limitPrice === undefined || o.limitPrice?.eq(spec.limitPrice)));
      if (found) this.remember({ orderId: found.id, ...naming });
      return found;
    };
    return { entry, stopLoss: leg(request.stopLoss), takeProfit: leg(request.takeProfit) };
  }

  /** The CP API has no reduce-only flag: the position is read first, and an exit never opens the other side. */
  private async reducible(request: OrderRequest): Promise<Decimal> {
    const position = (await this.positions()).find((p) => p.symbol === request.symbol.toUpperCase());
    const reduces = position !== undefined && (position.side === 'long' ? request.side === 'sell' : request.side === 'buy');
    if (!position || !reduces) {
      throw new InvalidOrderError(`ibkr: reduce-only ${request.side} ${request.clientOrderId} has no ${request.side === 'sell' ? 'long' : 'short'} position in ${request.symbol} to reduce`, { broker: BROKER });
    }
    return Decimal.min(request.quantity, position.quantity);
  }
}

/** A snapshot field: text that may start with C (yesterday's close) or H (halted) before the price. */
function marketValue(text: string | undefined): Decimal | undefined {
  const match = text === undefined ? null : /^[A-Z]?\s*(-?\d+(\.\d+)?)$/.exec(text.trim());
  return match?.[1] === undefined ? undefined : new Decimal(match[1]);
}

function describeRef(ref: OrderRef): string {
  return 'orderId' in ref ? `with id ${ref.orderId}` : `with client order id ${ref.clientOrderId}`;
}

