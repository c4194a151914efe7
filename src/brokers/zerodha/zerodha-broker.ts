// The Zerodha Kite Connect adapter: the Broker interface over Kite's REST API; stops and targets rest as GTT triggers.
import type { Broker, BrokerHealth, Capabilities, MarginImpact, Protection } from '../broker.ts';
import {
  BrokerError, InvalidOrderError, NotSupportedError, OrderNotFoundError, OrderRejectedError,
} from '../../domain/errors.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, HUNDRED, ZERO, roundToTickDirected } from '../../domain/money.ts';
import { CLIENT_ID_PREFIX } from '../../domain/ids.ts';
import { isTerminal } from '../../domain/order.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, Order, OrderChange, OrderRef, OrderRequest, Quote,
} from '../../domain/order.ts';
import type { Logger } from '../../ops/logger.ts';
import { BoundedMap, REMEMBERED_ORDERS } from '../bounded-map.ts';
import { KiteClient, parseKiteTime } from './client.ts';
import { BROKER, rejectionError } from './errors.ts';
import { KiteInstruments, canonicalSymbol, parseSymbol } from './instruments.ts';
import type { KiteExchange, KiteSymbol } from './instruments.ts';
import {
  CLIENT_ID_ALPHABET, CLIENT_ID_MAX, type GttLeg, type LegRole, fromWireOrder, gttLegStatus, gttLegType, gttLegs, legId, parseLegId, toSide,
  toWireOrderType, toWireSide,
} from './mapping.ts';
import {
  gttSchema, gttsSchema, holdingsSchema, ltpSchema, orderHistorySchema, orderIdSchema, orderMarginsSchema, ordersSchema, positionsSchema,
  tradesSchema, triggerIdSchema, userMarginsSchema,
} from './wire.ts';
import type { WireGtt, WireOrder } from './wire.ts';
import { z } from 'zod';

export type KiteProduct = 'CNC' | 'MIS' | 'NRML';

export interface ZerodhaBrokerOptions {
  /** The account's name, as configured. */
  name: string;
  apiKey: string;
  accessToken: string;
  baseUrl?: string | undefined;
  /** Where a bare symbol trades. */
  exchange?: KiteExchange | undefined;
  product?: KiteProduct | undefined;
  /** -1 (Kite chooses) or 1..100 %: sent with every MARKET and SL-M order. */
  marketProtection?: number | undefined;
  /** A GTT stop without its own limit is sent with a limit this many % beyond its trigger. */
  gttStopLimitPercent?: Decimal | undefined;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  fetch?: (() => typeof globalThis.fetch) | undefined;
  logger: Pick<Logger, 'debug' | 'trace' | 'info' | 'warn' | 'error'>;
}

const profileSchema = z.object({ status: z.literal('success'), data: z.object({ user_id: z.string() }).loose() });

/** What a GTT leg was placed as, kept so its order reads back as sent (its client id, whether the stop had its own limit). */
interface LegMemory {
  clientOrderId: string;
  type: Order['type'];
  symbol: string;
  side: Order['side'];
  quantity: Decimal;
}

export function zerodhaCapabilities(product: KiteProduct): Capabilities {
  return {
    // No bracket at Kite (BO is discontinued): the entry, then a GTT holding the stop and the target, OCO at Kite.
    protectionFor: (): Protection => 'after_fill',
    orderTypes: ['market', 'limit', 'stop', 'stop_limit'],
    // CNC is delivery: selling what is not held is refused. MIS and NRML can go short.
    shorting: product !== 'CNC',
    fractional: false,
    timeInForce: ['day', 'ioc'],
    extendedHours: false,
    clientIdMaxLength: CLIENT_ID_MAX,
    clientIdAlphabet: CLIENT_ID_ALPHABET,
    marginPreview: true,
    amend: true,
    // Kite has no trailing order: a trail is refused before the entry rather than left unprotected after it.
    trailBy: [],
  };
}

export class ZerodhaBroker implements Broker {
  readonly name: string;
  readonly capabilities: Capabilities;

  private readonly client: KiteClient;
  private readonly instruments: KiteInstruments;
  private readonly exchange: KiteExchange;
  private readonly product: KiteProduct;
  private readonly marketProtection: number;
  private readonly stopLimitPercent: Decimal;
  private readonly now: () => Date;
  private readonly logger: ZerodhaBrokerOptions['logger'];
  /** Client id → Kite order id or GTT leg id, for the orders this process placed (Kite does not enforce unique tags). */
  private readonly placed = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  /** GTT leg id → what it was placed as. */
  private readonly legs = new BoundedMap<string, LegMemory>(REMEMBERED_ORDERS);
  /**
   * Legs sent whose answer never came (a GTT carries no tag to look it up by): client id → what was sent, so a lookup or
   * a second placement finds the GTT Kite may have made by its contents instead of making another.
   */
  private readonly pendingLegs = new BoundedMap<string, { sym: KiteSymbol; leg: GttLeg; type: Order['type'] }>(REMEMBERED_ORDERS);

  constructor(options: ZerodhaBrokerOptions) {
    this.name = options.name;
    this.exchange = options.exchange ?? 'NSE';
    this.product = options.product ?? 'CNC';
    this.marketProtection = options.marketProtection ?? -1;
    if (this.marketProtection === 0) throw new RangeError(`${BROKER}: marketProtection 0 is refused by Kite; use -1 (auto) or 1..100`);
    this.stopLimitPercent = options.gttStopLimitPercent ?? new Decimal(2);
    this.now = options.clock ?? (() => new Date());
    this.logger = options.logger;
    this.capabilities = zerodhaCapabilities(this.product);
    this.client = new KiteClient({
      apiKey: options.apiKey, accessToken: options.accessToken, baseUrl: options.baseUrl, timeoutMs: options.timeoutMs,
      clock: options.clock, fetch: options.fetch, logger: options.logger,
    });
    this.instruments = new KiteInstruments(this.client, () => this.now().getTime());
  }

  /** Proves the access token (a TokenException here says how to refresh it) and loads the account exchange's instruments. */
  async connect(): Promise<void> {
    await this.client.request({ method: 'GET', path: '/user/profile', schema: profileSchema });
    await this.instruments.load(this.exchange);
  }

  async disconnect(): Promise<void> {
    // Stateless REST: nothing to close.
  }

  async health(): Promise<BrokerHealth> {
    const started = this.now().getTime();
    try {
      await this.client.request({ method: 'GET', path: '/user/profile', schema: profileSchema });
      return { ok: true, latencyMs: this.now().getTime() - started };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async account(): Promise<AccountSummary> {
    const { equity } = await this.client.request({ method: 'GET', path: '/user/margins', schema: userMarginsSchema });
    // net is what is free to trade; what is blocked (debits) still belongs to the account, as do unrealised gains.
    const value = equity.net.plus(equity.utilised.debits).plus(equity.utilised.m2m_unrealised ?? ZERO);
    return { currency: 'INR', equity: value, cash: equity.available.cash, buyingPower: equity.net };
  }

  async balances(): Promise<Balance[]> {
    const { equity } = await this.client.request({ method: 'GET', path: '/user/margins', schema: userMarginsSchema });
    return [{ currency: 'INR', total: equity.available.cash, available: equity.net }];
  }

  async instrument(symbol: string): Promise<Instrument> {
    const parsed = parseSymbol(symbol, this.exchange);
    const row = await this.instruments.row(parsed);
    return this.instruments.toInstrument(row, this.symbolOf(parsed.exchange, parsed.tradingsymbol), this.capabilities.shorting);
  }

  async quotes(symbols: string[]): Promise<Map<string, Quote>> {
    const quotes = new Map<string, Quote>();
    if (symbols.length === 0) return quotes;
    const keys = new Map(symbols.map((s) => { const p = parseSymbol(s, this.exchange); return [`${p.exchange}:${p.tradingsymbol}`, s]; }));
    const query = [...keys.keys()].map((k) => `i=${encodeURIComponent(k)}`).join('&');
    const data = await this.client.request({ method: 'GET', path: `/quote/ltp?${query}`, schema: ltpSchema });
    const at = this.now();
    for (const [key, quote] of Object.entries(data)) {
      const symbol = keys.get(key);
      if (symbol !== undefined) quotes.set(symbol, { symbol, last: quote.last_price, time: at });
    }
    return quotes;
  }

  async placeOrder(request: OrderRequest): Promise<Order> {
    const sym = parseSymbol(request.symbol, this.exchange);
    const row = await this.instruments.row(sym);
    this.checkQuantity(request, row.lotSize);
    // Kite keeps no unique index on tags: a client id this process placed already is answered, never placed twice.
    const known = this.placed.get(request.clientOrderId);
    if (known !== undefined) {
      const existing = await this.getOrder({ orderId: known });
      if (existing) return { ...existing, clientOrderId: request.clientOrderId };
    }
    const adopted = await this.adoptPendingLeg(request.clientOrderId);
    if (adopted) return adopted;
    if (request.leg === 'stop' || request.leg === 'target') return this.placeGttLeg(request, sym, row.tickSize);
    return this.placeRegular(request, sym);
  }

  async placeBracket(_request: BracketRequest): Promise<BracketOrders> {
    throw new NotSupportedError(`${BROKER}: no bracket orders at Kite; the stop and target are placed as a GTT once the entry fills`, { broker: BROKER });
  }

  async modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order> {
    const id = await this.resolve(ref);
    const leg = parseLegId(id);
    if (leg) return this.modifyGttLeg(id, leg.triggerId, leg.role, change);
    const current = await this.history(id);
    if (!current) throw new OrderNotFoundError(`${BROKER}: no order ${describe(ref)} to modify`, { broker: BROKER });
    const order = this.toOrder(current);
    if (isTerminal(order.status)) throw new OrderRejectedError(`${BROKER}: order ${order.clientOrderId} is ${order.status}; it cannot be modified`, { broker: BROKER });
    await this.client.request({
      method: 'PUT', path: `/orders/${current.variety ?? 'regular'}/${id}`, schema: orderIdSchema,
      form: {
        order_type: current.order_type,
        quantity: change.quantity?.toFixed(),
        price: change.limitPrice?.toFixed(),
        trigger_price: change.stopPrice?.toFixed(),
      },
    });
    const after = await this.history(id);
    if (!after) throw new OrderNotFoundError(`${BROKER}: order ${id} vanished after its modification`, { broker: BROKER });
    return { ...this.toOrder(after), clientOrderId: order.clientOrderId };
  }

  async cancelOrder(ref: OrderRef): Promise<void> {
    const id = await this.resolve(ref);
    const leg = parseLegId(id);
    if (leg) {
      await this.cancelGttLeg(leg.triggerId, leg.role);
      return;
    }
    const current = await this.history(id);
    if (!current) throw new OrderNotFoundError(`${BROKER}: no order ${describe(ref)} to cancel`, { broker: BROKER });
    // Already over (cancelled before, filled, rejected): nothing to cancel, and saying so twice is harmless.
    if (isTerminal(this.toOrder(current).status)) return;
    await this.client.request({ method: 'DELETE', path: `/orders/${current.variety ?? 'regular'}/${id}`, schema: orderIdSchema });
  }

  async getOrder(ref: OrderRef): Promise<Order | undefined> {
    let id: string | undefined;
    if ('orderId' in ref) id = ref.orderId;
    else {
      id = this.placed.get(ref.clientOrderId);
      if (id === undefined) {
        const adopted = await this.adoptPendingLeg(ref.clientOrderId) ?? await this.recoverLeg(ref.clientOrderId, ref.symbol);
        if (adopted) return adopted;
        const found = await this.findByTag(ref.clientOrderId);
        return found ? this.toOrder(found) : undefined;
      }
    }
    const leg = parseLegId(id);
    if (leg) return this.gttLegOrder(leg.triggerId, leg.role, ref.symbol);
    const current = await this.history(id);
    return current ? this.toOrder(current) : undefined;
  }

  async openOrders(symbol?: string): Promise<Order[]> {
    const wanted = symbol === undefined ? undefined : this.normalize(symbol);
    const [orders, gtts] = await Promise.all([
      this.client.request({ method: 'GET', path: '/orders', schema: ordersSchema }),
      this.client.request({ method: 'GET', path: '/gtt/triggers', schema: gttsSchema }),
    ]);
    const open: Order[] = [];
    for (const wire of latestPerOrder(orders)) {
      const order = this.toOrder(wire);
      if (!isTerminal(order.status) && (wanted === undefined || order.symbol === wanted)) open.push(order);
    }
    for (const gtt of gtts) {
      if (gtt.status !== 'active') continue;
      for (const leg of gttLegs(gtt)) {
        const order = this.legOrder(gtt, leg, undefined);
        if (wanted === undefined || order.symbol === wanted) open.push(order);
      }
    }
    return open;
  }

  /** Today's trades (Kite keeps no older ones on this endpoint), each named by its order's tag or its GTT leg. */
  async fills(since?: Date): Promise<Fill[]> {
    const [trades, orders, gtts] = await Promise.all([
      this.client.request({ method: 'GET', path: '/trades', schema: tradesSchema }),
      this.client.request({ method: 'GET', path: '/orders', schema: ordersSchema }),
      this.client.request({ method: 'GET', path: '/gtt/triggers', schema: gttsSchema }),
    ]);
    const tags = new Map(orders.map((o) => [o.order_id, o.tag ?? undefined]));
    // An order a GTT placed answers to the leg tradewire knows: its fills are the leg's.
    const viaLeg = new Map<string, string>();
    for (const gtt of gtts) {
      for (const leg of gttLegs(gtt)) {
        const placedId = leg.result?.order_result.order_id;
        if (placedId) viaLeg.set(placedId, legId(gtt.id, leg.role));
      }
    }
    const fills: Fill[] = [];
    for (const trade of trades) {
      const time = parseKiteTime(trade.fill_timestamp) ?? parseKiteTime(trade.exchange_timestamp) ?? this.now();
      if (since && time.getTime() < since.getTime()) continue;
      const leg = viaLeg.get(trade.order_id);
      const orderId = leg ?? trade.order_id;
      const clientOrderId = leg !== undefined ? this.legs.get(leg)?.clientOrderId ?? leg : tags.get(trade.order_id) ?? `kite${trade.order_id}`;
      fills.push({
        id: trade.trade_id, orderId, clientOrderId, symbol: this.symbolOf(trade.exchange, trade.tradingsymbol), side: toSide(trade.transaction_type),
        // Kite's order APIs carry no charges (brokerage and taxes come in the contract note): fees are recorded as 0.
        quantity: trade.quantity, price: trade.average_price, fee: ZERO, feeCurrency: 'INR', time,
      });
    }
    return fills;
  }

  /** Net positions in the configured product; for CNC, delivery holdings (settled and T1) as well. */
  async positions(): Promise<BrokerPosition[]> {
    const { net } = await this.client.request({ method: 'GET', path: '/portfolio/positions', schema: positionsSchema });
    const totals = new Map<string, { quantity: Decimal; cost: Decimal; last?: Decimal | undefined; pnl: Decimal }>();
    const add = (symbol: string, quantity: Decimal, average: Decimal, last: Decimal | undefined, pnl: Decimal | undefined): void => {
      const t = totals.get(symbol) ?? { quantity: ZERO, cost: ZERO, pnl: ZERO };
      t.quantity = t.quantity.plus(quantity);
      t.cost = t.cost.plus(quantity.mul(average));
      t.last = last ?? t.last;
      t.pnl = t.pnl.plus(pnl ?? ZERO);
      totals.set(symbol, t);
    };
    for (const p of net) {
      if (p.product !== this.product || p.quantity.isZero()) continue;
      add(this.symbolOf(p.exchange, p.tradingsymbol), p.quantity, p.average_price, p.last_price, p.unrealised);
    }
    if (this.product === 'CNC') {
      const holdings = await this.client.request({ method: 'GET', path: '/portfolio/holdings', schema: holdingsSchema });
      for (const h of holdings) {
        const quantity = h.quantity.plus(h.t1_quantity ?? ZERO);
        if (!quantity.isZero()) add(this.symbolOf(h.exchange, h.tradingsymbol), quantity, h.average_price, h.last_price, h.pnl);
      }
    }
    const positions: BrokerPosition[] = [];
    for (const [symbol, t] of totals) {
      if (t.quantity.isZero()) continue;
      positions.push({
        symbol, side: t.quantity.gt(0) ? 'long' : 'short', quantity: t.quantity.abs(), averagePrice: t.cost.div(t.quantity),
        unrealizedPnl: t.pnl, markPrice: t.last,
      });
    }
    return positions;
  }

  async closePosition(symbol: string, clientOrderId: string): Promise<Order> {
    const wanted = this.normalize(symbol);
    const position = (await this.positions()).find((p) => p.symbol === wanted);
    if (!position) throw new OrderRejectedError(`${BROKER}: no ${symbol} position to close`, { broker: BROKER });
    // Kite has no close endpoint: the opposite order in the same product for the whole quantity.
    return this.placeOrder({
      clientOrderId, symbol, side: position.side === 'long' ? 'sell' : 'buy', type: 'market', quantity: position.quantity, timeInForce: 'day', leg: 'exit',
    });
  }

  /** Kite's order margins API: what this order would block, against what is free now. */
  async marginImpact(request: OrderRequest): Promise<MarginImpact> {
    const sym = parseSymbol(request.symbol, this.exchange);
    const orderType = toWireOrderType(request.type);
    if (!orderType) throw new NotSupportedError(`${BROKER}: no ${request.type} orders at Kite`, { broker: BROKER });
    const [margins, user] = await Promise.all([
      this.client.request({
        method: 'POST', path: '/margins/orders', schema: orderMarginsSchema,
        // Prices on Kite's ticks have few digits: a double's shortest form writes them back exactly.
        json: [{
          exchange: sym.exchange, tradingsymbol: sym.tradingsymbol, transaction_type: toWireSide(request.side), variety: 'regular', product: this.product,
          order_type: orderType, quantity: request.quantity.toNumber(), price: request.limitPrice?.toNumber() ?? 0, trigger_price: request.stopPrice?.toNumber() ?? 0,
        }],
      }),
      this.client.request({ method: 'GET', path: '/user/margins', schema: userMarginsSchema }),
    ]);
    const first = margins[0];
    if (!first) throw new BrokerError(`${BROKER}: the order margins answer is empty`, { broker: BROKER });
    return { initialMargin: first.total, leverage: first.leverage ?? new Decimal(1), availableMargin: user.equity.net };
  }

  // ---- regular orders --------------------------------------------------------------------------------------------

  private async placeRegular(request: OrderRequest, sym: KiteSymbol): Promise<Order> {
    const orderType = toWireOrderType(request.type);
    if (!orderType) throw new NotSupportedError(`${BROKER}: Kite has no ${request.type} orders`, { broker: BROKER });
    if (request.timeInForce === 'fok') throw new NotSupportedError(`${BROKER}: Kite has no fill-or-kill validity`, { broker: BROKER });
    if (request.extendedHours === true) throw new NotSupportedError(`${BROKER}: no extended hours at Kite (after-market orders are not supported here)`, { broker: BROKER });
    const needsLimit = request.type === 'limit' || request.type === 'stop_limit';
    const needsTrigger = request.type === 'stop' || request.type === 'stop_limit';
    if (needsLimit && !request.limitPrice) throw new InvalidOrderError(`${BROKER}: a ${request.type} order needs a limit price`, { broker: BROKER });
    if (needsTrigger && !request.stopPrice) throw new InvalidOrderError(`${BROKER}: a ${request.type} order needs a stop price`, { broker: BROKER });
    // Regular orders live for the day at most (IOC or DAY); GTC has no regular-order form at Kite and becomes DAY.
    const validity = request.timeInForce === 'ioc' ? 'IOC' : 'DAY';
    // Remembered before it is sent: a timeout's lookup then finds it by its tag.
    const { order_id: orderId } = await this.client.request({
      method: 'POST', path: '/orders/regular', schema: orderIdSchema,
      form: {
        tradingsymbol: sym.tradingsymbol, exchange: sym.exchange, transaction_type: toWireSide(request.side), order_type: orderType,
        quantity: request.quantity.toFixed(), product: this.product, validity,
        price: needsLimit ? request.limitPrice?.toFixed() : undefined,
        trigger_price: needsTrigger ? request.stopPrice?.toFixed() : undefined,
        // SEBI's 2026 rules: MARKET and SL-M orders without market protection are refused.
        market_protection: orderType === 'MARKET' || orderType === 'SL-M' ? this.marketProtection : undefined,
        tag: request.clientOrderId,
      },
    });
    this.placed.set(request.clientOrderId, orderId);
    let current: WireOrder | undefined;
    try {
      current = await this.history(orderId);
    } catch (error) {
      // Placed; only its state is unknown for now. The caller looks again rather than placing again.
      this.logger.warn({ event: 'broker.order_state_unknown', broker: BROKER, orderId, err: error instanceof Error ? error.message : String(error) }, 'order placed, state not read');
    }
    const symbol = this.symbolOf(sym.exchange, sym.tradingsymbol);
    if (!current) {
      return {
        id: orderId, clientOrderId: request.clientOrderId, symbol, side: request.side, type: request.type, status: 'submitted', quantity: request.quantity,
        filledQuantity: ZERO, limitPrice: request.limitPrice, stopPrice: request.stopPrice, createdAt: this.now(), updatedAt: this.now(),
      };
    }
    const order = { ...this.toOrder(current), clientOrderId: request.clientOrderId };
    // Kite takes most refusals (funds, holdings, circuit limits) as an order and rejects it a moment later (RMS).
    if (order.status === 'rejected') throw rejectionError(current.status_message ?? 'rejected by Kite', { code: 'REJECTED' });
    return order;
  }

  private checkQuantity(request: OrderRequest, lot: Decimal): void {
    if (!request.quantity.isInteger() || request.quantity.lte(0)) {
      throw new InvalidOrderError(`${BROKER}: quantity ${request.quantity.toFixed()} of ${request.symbol} must be a whole number above 0`, { broker: BROKER });
    }
    if (!request.quantity.mod(lot).isZero()) {
      throw new InvalidOrderError(`${BROKER}: quantity ${request.quantity.toFixed()} of ${request.symbol} is not a multiple of its lot size ${lot.toFixed()}`, { broker: BROKER });
    }
  }

  /** The order's latest state (GET /orders/{id} is its history); undefined when Kite does not know the id. */
  private async history(orderId: string): Promise<WireOrder | undefined> {
    try {
      const entries = await this.client.request({ method: 'GET', path: `/orders/${encodeURIComponent(orderId)}`, schema: orderHistorySchema });
      return entries.at(-1);
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
      throw error;
    }
  }

  /** The day's order carrying this tag, the latest if several (Kite does not stop a tag being reused). */
  private async findByTag(tag: string): Promise<WireOrder | undefined> {
    const orders = await this.client.request({ method: 'GET', path: '/orders', schema: ordersSchema });
    const mine = latestPerOrder(orders).filter((o) => o.tag === tag);
    const found = mine.at(-1);
    if (found) this.placed.set(tag, found.order_id);
    return found;
  }

  private async resolve(ref: OrderRef): Promise<string> {
    if ('orderId' in ref) return ref.orderId;
    const known = this.placed.get(ref.clientOrderId);
    if (known !== undefined) return known;
    const leg = await this.adoptPendingLeg(ref.clientOrderId) ?? await this.recoverLeg(ref.clientOrderId, ref.symbol);
    if (leg) return leg.id;
    const found = await this.findByTag(ref.clientOrderId);
    if (!found) throw new OrderNotFoundError(`${BROKER}: no order with the tag ${ref.clientOrderId}`, { broker: BROKER });
    return found.order_id;
  }

  private toOrder(wire: WireOrder): Order {
    return fromWireOrder(wire, this.symbolOf(wire.exchange, wire.tradingsymbol), this.now());
  }

  // ---- GTT legs --------------------------------------------------------------------------------------------------

  /**
   * A stop or target rests as a GTT (regular orders die at the close; a GTT lives a year). The first leg of a position
   * is a single GTT; its sibling turns that GTT into a two-leg one (Kite's OCO), so the venue cancels the other leg
   * when one fires. A sibling that finds no GTT of ours to join (after a restart) rests as its own single GTT, and
   * tradewire's one-cancels-other covers the pair.
   */
  private async placeGttLeg(request: OrderRequest, sym: KiteSymbol, tick: Decimal): Promise<Order> {
    const role: LegRole = request.leg === 'stop' ? 'sl' : 'tp';
    const { trigger, price, type } = this.legPrices(request, role, tick);
    const last = await this.lastPrice(sym);
    const wrongSide = role === 'sl'
      ? (request.side === 'sell' ? !trigger.lt(last) : !trigger.gt(last))
      : (request.side === 'sell' ? !trigger.gt(last) : !trigger.lt(last));
    if (wrongSide) {
      throw new OrderRejectedError(`${BROKER}: the ${role === 'sl' ? 'stop' : 'target'} ${trigger.toFixed()} of ${request.symbol} is already through the last price ${last.toFixed()}`, { broker: BROKER });
    }
    const mine: GttLeg = { role, index: 0, trigger, price, quantity: request.quantity, side: toWireSide(request.side), product: this.product, result: undefined };
    const sibling = await this.joinableGtt(sym, mine);
    let triggerId: number | undefined;
    if (sibling) {
      try {
        await this.writeGtt(sym, [sibling.leg, mine], last, sibling.gtt.id);
        triggerId = sibling.gtt.id;
      } catch (error) {
        // The sibling fired or went meanwhile: this leg rests alone.
        if (!(error instanceof BrokerError) || error.retryable) throw error;
        this.logger.warn({ event: 'broker.gtt_join_failed', broker: BROKER, triggerId: sibling.gtt.id, err: error.message }, 'GTT not joined; the leg rests alone');
      }
    }
    if (triggerId === undefined) {
      this.pendingLegs.set(request.clientOrderId, { sym, leg: mine, type });
      triggerId = await this.writeGtt(sym, [mine], last, undefined);
    }
    const id = legId(triggerId, role);
    this.remember(request.clientOrderId, id, sym, mine, type);
    const at = this.now();
    return {
      id, clientOrderId: request.clientOrderId, symbol: this.symbolOf(sym.exchange, sym.tradingsymbol), side: request.side, type, status: 'accepted',
      quantity: request.quantity, filledQuantity: ZERO, stopPrice: role === 'sl' ? trigger : undefined, limitPrice: role === 'tp' || type === 'stop_limit' ? price : undefined,
      timeInForce: 'gtc', createdAt: at, updatedAt: at,
    };
  }

  private remember(clientOrderId: string, id: string, sym: KiteSymbol, leg: GttLeg, type: Order['type']): void {
    this.pendingLegs.delete(clientOrderId);
    this.placed.set(clientOrderId, id);
    this.legs.set(id, { clientOrderId, type, symbol: this.symbolOf(sym.exchange, sym.tradingsymbol), side: toSide(leg.side), quantity: leg.quantity });
  }

  /** A leg sent without an answer: the active GTT of ours that holds exactly it, if Kite made one; adopted under its client id. */
  private async adoptPendingLeg(clientOrderId: string): Promise<Order | undefined> {
    const pending = this.pendingLegs.get(clientOrderId);
    if (!pending) return undefined;
    const { sym, leg: sent, type } = pending;
    const taken = new Set(this.legs.keys());
    const gtts = await this.client.request({ method: 'GET', path: '/gtt/triggers', schema: gttsSchema });
    for (const gtt of gtts) {
      if (gtt.status !== 'active' || gtt.condition.exchange !== sym.exchange || gtt.condition.tradingsymbol !== sym.tradingsymbol) continue;
      const leg = gttLegs(gtt).find((l) => l.role === sent.role && l.side === sent.side && l.trigger.eq(sent.trigger) && l.price.eq(sent.price) && l.quantity.eq(sent.quantity));
      if (!leg || taken.has(legId(gtt.id, leg.role))) continue;
      const id = legId(gtt.id, leg.role);
      this.remember(clientOrderId, id, sym, leg, type);
      this.logger.info({ event: 'broker.gtt_adopted', broker: BROKER, clientOrderId, triggerId: gtt.id }, 'a GTT sent without an answer was found at Kite');
      return { ...this.legOrder(gtt, leg, undefined), clientOrderId };
    }
    return undefined;
  }

  /**
   * A stop or target this process did not place (placed before a restart): GTTs carry no tag, but tradewire's ids for
   * them name their leg ('twst…', 'twta…', see domain/ids.ts), so the one active GTT on the symbol holding such a leg
   * that no other id claims is it. Nothing is guessed when there is no symbol or more than one candidate.
   */
  private async recoverLeg(clientOrderId: string, symbol: string | undefined): Promise<Order | undefined> {
    const match = new RegExp(`^${CLIENT_ID_PREFIX}(st|ta)[0-9a-f]+$`).exec(clientOrderId);
    if (!match || symbol === undefined) return undefined;
    const role: LegRole = match[1] === 'st' ? 'sl' : 'tp';
    const sym = parseSymbol(symbol, this.exchange);
    const gtts = await this.client.request({ method: 'GET', path: '/gtt/triggers', schema: gttsSchema });
    const candidates = gtts.filter((g) => g.status === 'active' && g.condition.exchange === sym.exchange && g.condition.tradingsymbol === sym.tradingsymbol)
      .flatMap((gtt) => gttLegs(gtt).filter((l) => l.role === role && !this.legs.has(legId(gtt.id, role))).map((leg) => ({ gtt, leg })));
    const only = candidates.length === 1 ? candidates[0] : undefined;
    if (!only) return undefined;
    this.remember(clientOrderId, legId(only.gtt.id, role), sym, only.leg, role === 'sl' ? 'stop' : 'limit');
    this.logger.info({ event: 'broker.gtt_recovered', broker: BROKER, clientOrderId, triggerId: only.gtt.id }, 'a GTT leg placed before a restart was found by its client id');
    return { ...this.legOrder(only.gtt, only.leg, undefined), clientOrderId };
  }

  /** A leg's trigger and the limit its order is sent at: a stop's own limit, else one gttStopLimitPercent beyond the trigger. */
  private legPrices(request: Pick<OrderRequest, 'type' | 'side' | 'stopPrice' | 'limitPrice' | 'symbol'>, role: LegRole, tick: Decimal): { trigger: Decimal; price: Decimal; type: Order['type'] } {
    if (role === 'tp') {
      if (request.type !== 'limit' || !request.limitPrice) throw new NotSupportedError(`${BROKER}: a target rests as a GTT limit leg; ${request.type} targets are not supported`, { broker: BROKER });
      return { trigger: request.limitPrice, price: request.limitPrice, type: 'limit' };
    }
    if (request.type !== 'stop' && request.type !== 'stop_limit') throw new NotSupportedError(`${BROKER}: a ${request.type} stop cannot rest as a GTT`, { broker: BROKER });
    if (!request.stopPrice) throw new InvalidOrderError(`${BROKER}: a stop needs its stop price`, { broker: BROKER });
    if (request.type === 'stop_limit' && request.limitPrice) return { trigger: request.stopPrice, price: request.limitPrice, type: 'stop_limit' };
    const offset = request.stopPrice.mul(this.stopLimitPercent).div(HUNDRED);
    const price = request.side === 'sell'
      ? roundToTickDirected(request.stopPrice.minus(offset), tick, 'down')
      : roundToTickDirected(request.stopPrice.plus(offset), tick, 'up');
    return { trigger: request.stopPrice, price, type: 'stop' };
  }

  /** An active GTT of ours on this symbol holding only the other leg, for the same side and quantity. */
  private async joinableGtt(sym: KiteSymbol, mine: GttLeg): Promise<{ gtt: WireGtt; leg: GttLeg } | undefined> {
    const candidates = [...this.legs.keys()].map(parseLegId).filter((l): l is NonNullable<typeof l> => l !== undefined && l.role !== mine.role);
    for (const candidate of candidates.reverse()) {
      const gtt = await this.gtt(candidate.triggerId);
      if (!gtt || gtt.status !== 'active' || gtt.type !== 'single') continue;
      if (gtt.condition.tradingsymbol !== sym.tradingsymbol || gtt.condition.exchange !== sym.exchange) continue;
      const [leg] = gttLegs(gtt);
      if (leg && leg.role === candidate.role && leg.side === mine.side && leg.quantity.eq(mine.quantity)) return { gtt, leg };
    }
    return undefined;
  }

  /** POST (no id) or PUT a GTT with these legs, ordered as Kite wants them: ascending triggers. Returns its id. */
  private async writeGtt(sym: KiteSymbol, legs: GttLeg[], last: Decimal, triggerId: number | undefined): Promise<number> {
    const ordered = [...legs].sort((a, b) => a.trigger.comparedTo(b.trigger));
    // JSON strings inside a form body (Kite's GTT format); prices on the tick have few digits, so a double writes them exactly.
    const condition = JSON.stringify({
      exchange: sym.exchange, tradingsymbol: sym.tradingsymbol, trigger_values: ordered.map((l) => l.trigger.toNumber()), last_price: last.toNumber(),
    });
    const orders = JSON.stringify(ordered.map((l) => ({
      exchange: sym.exchange, tradingsymbol: sym.tradingsymbol, transaction_type: l.side, quantity: l.quantity.toNumber(), order_type: 'LIMIT',
      product: l.product, price: l.price.toNumber(),
    })));
    const form = { type: ordered.length === 2 ? 'two-leg' : 'single', condition, orders };
    const answer = triggerId === undefined
      ? await this.client.request({ method: 'POST', path: '/gtt/triggers', form, schema: triggerIdSchema })
      : await this.client.request({ method: 'PUT', path: `/gtt/triggers/${triggerId}`, form, schema: triggerIdSchema });
    return answer.trigger_id;
  }

  private async gtt(triggerId: number): Promise<WireGtt | undefined> {
    try {
      return await this.client.request({ method: 'GET', path: `/gtt/triggers/${triggerId}`, schema: gttSchema });
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
      throw error;
    }
  }

  private async gttLegOrder(triggerId: number, role: LegRole, symbol?: string): Promise<Order | undefined> {
    const gtt = await this.gtt(triggerId);
    if (!gtt) return this.goneLeg(legId(triggerId, role), symbol);
    const leg = gttLegs(gtt).find((l) => l.role === role);
    const state = gttLegStatus(gtt.status, leg);
    let placed: WireOrder | undefined;
    if (state.placedOrderId !== undefined) placed = await this.history(state.placedOrderId);
    return this.legOrder(gtt, leg, placed, role, state);
  }

  /**
   * A leg whose GTT Kite no longer knows: only tradewire names legs this way, so it existed and was deleted. Reported
   * as cancelled, never as unknown, so the journal does not keep a stop alive that no longer rests.
   */
  private goneLeg(id: string, symbol: string | undefined): Order {
    const memory = this.legs.get(id);
    const at = this.now();
    return {
      id, clientOrderId: memory?.clientOrderId ?? id, symbol: memory?.symbol ?? (symbol === undefined ? '' : this.normalize(symbol)), side: memory?.side ?? 'sell',
      type: memory?.type ?? 'stop', status: 'cancelled', quantity: memory?.quantity ?? ZERO, filledQuantity: ZERO, createdAt: at, updatedAt: at,
      reason: 'its GTT was deleted',
    };
  }

  /** One leg of a GTT as an order: the GTT's state, or once it fired, the state of the order it placed. */
  private legOrder(gtt: WireGtt, leg: GttLeg | undefined, placed: WireOrder | undefined, role: LegRole = leg?.role ?? 'sl',
    state = gttLegStatus(gtt.status, leg)): Order {
    const id = legId(gtt.id, role);
    const memory = this.legs.get(id);
    const type = memory?.type ?? gttLegType(role, false);
    const created = parseKiteTime(gtt.created_at) ?? this.now();
    const side = toSide(leg?.side ?? gtt.orders[0]?.transaction_type ?? 'SELL');
    const base: Order = {
      id, clientOrderId: memory?.clientOrderId ?? id, symbol: this.symbolOf(gtt.condition.exchange, gtt.condition.tradingsymbol), side, type,
      status: state.status, quantity: leg?.quantity ?? gtt.orders[0]?.quantity ?? ZERO, filledQuantity: ZERO,
      stopPrice: role === 'sl' ? leg?.trigger : undefined, limitPrice: role === 'tp' || type === 'stop_limit' ? leg?.price : undefined,
      timeInForce: 'gtc', createdAt: created, updatedAt: parseKiteTime(gtt.updated_at) ?? created, reason: state.reason,
    };
    if (!placed) return base;
    const fired = this.toOrder(placed);
    return { ...base, status: fired.status, filledQuantity: fired.filledQuantity, averageFillPrice: fired.averageFillPrice, reason: fired.reason, updatedAt: fired.updatedAt };
  }

  /** Takes one leg out of its GTT: a two-leg GTT keeps its other leg (as a single GTT); a single one is deleted. */
  private async cancelGttLeg(triggerId: number, role: LegRole): Promise<void> {
    const gtt = await this.gtt(triggerId);
    // Deleted before (Kite forgets a deleted GTT): nothing rests, so a second cancel is harmless.
    if (!gtt) return;
    if (gtt.status !== 'active') return; // fired, expired or deleted already: nothing rests to cancel
    const legs = gttLegs(gtt);
    const others = legs.filter((l) => l.role !== role);
    if (others.length === legs.length) return; // this leg was taken out before
    if (others.length === 0) {
      await this.client.request({ method: 'DELETE', path: `/gtt/triggers/${triggerId}`, schema: triggerIdSchema });
      return;
    }
    const sym = { exchange: gtt.condition.exchange as KiteExchange, tradingsymbol: gtt.condition.tradingsymbol };
    await this.writeGtt(sym, others, await this.lastPrice(sym), triggerId);
  }

  private async modifyGttLeg(id: string, triggerId: number, role: LegRole, change: OrderChange): Promise<Order> {
    const gtt = await this.gtt(triggerId);
    const legs = gtt ? gttLegs(gtt) : [];
    const leg = legs.find((l) => l.role === role);
    if (!gtt || !leg) throw new OrderNotFoundError(`${BROKER}: no GTT leg ${id} to modify`, { broker: BROKER });
    if (gtt.status !== 'active') throw new OrderRejectedError(`${BROKER}: GTT ${triggerId} is ${gtt.status}; it cannot be modified`, { broker: BROKER });
    const sym = { exchange: gtt.condition.exchange as KiteExchange, tradingsymbol: gtt.condition.tradingsymbol };
    const row = await this.instruments.row(sym);
    const memory = this.legs.get(id);
    const side = toSide(leg.side);
    let changed: GttLeg = { ...leg, quantity: change.quantity ?? leg.quantity };
    if (role === 'tp' && change.limitPrice) changed = { ...changed, trigger: change.limitPrice, price: change.limitPrice };
    if (role === 'sl' && change.stopPrice) {
      const ownLimit = memory?.type === 'stop_limit' ? change.limitPrice ?? leg.price : undefined;
      const prices = this.legPrices({ type: ownLimit ? 'stop_limit' : 'stop', side, stopPrice: change.stopPrice, limitPrice: ownLimit, symbol: sym.tradingsymbol }, 'sl', row.tickSize);
      changed = { ...changed, trigger: prices.trigger, price: prices.price };
    }
    // Only this leg changes: its sibling keeps its own price and size (tradewire resizes each leg it means to).
    const all = legs.map((l) => (l.role === role ? changed : l));
    await this.writeGtt(sym, all, await this.lastPrice(sym), triggerId);
    const after = await this.gttLegOrder(triggerId, role);
    if (!after) throw new OrderNotFoundError(`${BROKER}: GTT ${triggerId} vanished after its modification`, { broker: BROKER });
    return after;
  }

  private async lastPrice(sym: KiteSymbol): Promise<Decimal> {
    const key = `${sym.exchange}:${sym.tradingsymbol}`;
    const data = await this.client.request({ method: 'GET', path: `/quote/ltp?i=${encodeURIComponent(key)}`, schema: ltpSchema });
    const quote = data[key];
    if (!quote) throw new BrokerError(`${BROKER}: no last price for ${key}`, { broker: BROKER });
    return quote.last_price;
  }

  private symbolOf(exchange: string, tradingsymbol: string): string {
    return canonicalSymbol(exchange, tradingsymbol, this.exchange);
  }

  private normalize(symbol: string): string {
    const parsed = parseSymbol(symbol, this.exchange);
    return this.symbolOf(parsed.exchange, parsed.tradingsymbol);
  }
}

/** GET /orders lists an order once per state it went through in some answers; keep each order's last entry. */
function latestPerOrder(orders: WireOrder[]): WireOrder[] {
  const latest = new Map<string, WireOrder>();
  for (const order of orders) latest.set(order.order_id, order);
  return [...latest.values()];
}

function describe(ref: OrderRef): string {
  return 'orderId' in ref ? ref.orderId : `with the tag ${ref.clientOrderId}`;
}
