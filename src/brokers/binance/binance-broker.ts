// The Binance USD-M futures adapter: the Broker interface over the signed REST client, algo orders for every trigger.
import type { Broker, BrokerHealth, Capabilities, MarginImpact, Protection } from '../broker.ts';
import {
  BrokerError, DuplicateClientOrderIdError, InvalidOrderError, NotSupportedError, OrderNotFoundError, OrderRejectedError,
} from '../../domain/errors.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO, maxDecimal } from '../../domain/money.ts';
import { isTerminal, oppositeSide } from '../../domain/order.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, FundingPayment, Order, OrderChange, OrderRef, OrderRequest, Quote,
} from '../../domain/order.ts';
import type { Logger } from '../../ops/logger.ts';
import type { Params } from '../http.ts';
import { BoundedMap, REMEMBERED_ORDERS } from '../bounded-map.ts';
import { BASE_URLS, BinanceClient } from './client.ts';
import type { BinanceEnvironment } from './client.ts';
import { CODES, hasCode } from './errors.ts';
import { InstrumentCache } from './instruments.ts';
import { marginImpact } from './margin.ts';
import {
  CLIENT_ID_ALPHABET, CLIENT_ID_MAX, algoIdOf, fromWireAlgo, fromWireOrder, fromWireSide, isAlgoOrderId, positionSideOf,
} from './mapping.ts';
import { algoReplacement, isReducing, placementFor } from './requests.ts';
import { BINANCE_STREAM_URLS, BinanceUserStream } from './user-stream.ts';
import type { OrderStream, OrderStreamOptions } from '../order-stream.ts';
import {
  accountSchema, acknowledgementSchema, algoOrderSchema, balancesSchema, cancelAlgoSchema, dualSideSchema, fundingIncomeSchema, leverageBracketSchema,
  leverageSchema, orderSchema, positionRiskV2Schema, positionRiskV3Schema, serverTimeSchema, tickerPricesSchema, userTradesSchema,
} from './wire.ts';
import type { WireAlgoOrder } from './wire.ts';

export interface BinanceBrokerOptions {
  /** The account's name, as configured. */
  name: string;
  environment: BinanceEnvironment;
  apiKey: string;
  apiSecret: string;
  /** Overrides the environment's base URL (a proxy, a local fake). */
  baseUrl?: string | undefined;
  /** The user data stream's WebSocket host (without /ws); defaults to the environment's unless baseUrl points elsewhere (then none without this). */
  streamUrl?: string | undefined;
  /** How often the user data stream's listenKey is kept alive; default 30 minutes. */
  keepaliveMs?: number | undefined;
  /** Applied per symbol before its first entry; absent: whatever is set on the exchange stays. */
  leverage?: number | undefined;
  marginType?: 'isolated' | 'cross' | undefined;
  positionMode?: 'one_way' | 'hedge' | undefined;
  workingType?: 'MARK_PRICE' | 'CONTRACT_PRICE' | undefined;
  recvWindowMs?: number | undefined;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  fetch?: (() => typeof globalThis.fetch) | undefined;
  logger: Pick<Logger, 'debug' | 'trace' | 'info' | 'warn' | 'error'>;
}

const BROKER = 'binance-usdm';

export const BINANCE_CAPABILITIES: Capabilities = {
  // No bracket at Binance: tradewire places the stop and target (algo orders) once the entry fills and cancels the survivor.
  protectionFor: (): Protection => 'after_fill',
  orderTypes: ['market', 'limit', 'stop', 'stop_limit', 'trailing_stop'],
  shorting: true,
  fractional: true,
  timeInForce: ['gtc', 'ioc', 'fok'],
  extendedHours: false,
  clientIdMaxLength: CLIENT_ID_MAX,
  clientIdAlphabet: CLIENT_ID_ALPHABET,
  marginPreview: true,
  // Limits are amended in place (PUT /fapi/v1/order); an algo order is re-placed under its own client id.
  amend: true,
  // callbackRate: Binance trails by a percentage (0.1 to 10) only.
  trailBy: ['percent'],
};

/** What the adapter learnt about an order it placed or saw: where to look it up without asking every endpoint. */
interface Known {
  kind: 'order' | 'algo';
  symbol: string;
  /** A closePosition algo order has no quantity on the wire: the size it was placed for. */
  quantity?: Decimal | undefined;
}

export class BinanceUsdmBroker implements Broker {
  readonly name: string;
  readonly capabilities: Capabilities = BINANCE_CAPABILITIES;

  private readonly client: BinanceClient;
  private readonly instruments: InstrumentCache;
  private readonly options: BinanceBrokerOptions;
  private readonly hedge: boolean;
  private readonly workingType: 'MARK_PRICE' | 'CONTRACT_PRICE';
  private readonly now: () => number;
  // Bounded: a daemon runs for months; an order forgotten here is still found by lookupOrder's search.
  private readonly byClientId = new BoundedMap<string, Known>(REMEMBERED_ORDERS);
  private readonly symbolOfOrder = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  private readonly clientIdOfOrder = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  private readonly prepared = new Map<string, Promise<void>>();

  constructor(options: BinanceBrokerOptions) {
    this.name = options.name;
    this.options = options;
    this.hedge = options.positionMode === 'hedge';
    this.workingType = options.workingType ?? 'MARK_PRICE';
    this.now = () => (options.clock ? options.clock().getTime() : Date.now());
    this.client = new BinanceClient({
      broker: BROKER,
      baseUrl: options.baseUrl ?? BASE_URLS[options.environment],
      apiKey: options.apiKey,
      apiSecret: options.apiSecret,
      recvWindowMs: options.recvWindowMs,
      timeoutMs: options.timeoutMs,
      clock: options.clock,
      fetch: options.fetch,
      logger: options.logger,
    });
    this.instruments = new InstrumentCache(this.client, this.now, BROKER);
  }

  /** Syncs the clock, loads the instrument rules, proves the keys and sets the account's position mode. */
  async connect(): Promise<void> {
    await this.client.syncTime();
    await this.instruments.load();
    const mode = await this.client.signed({ method: 'GET', path: '/fapi/v1/positionSide/dual', schema: dualSideSchema });
    if (mode.dualSidePosition !== this.hedge) {
      await this.tolerating([CODES.noNeedToChangePositionSide], () => this.client.signed({
        method: 'POST', path: '/fapi/v1/positionSide/dual', params: { dualSidePosition: String(this.hedge) }, schema: acknowledgementSchema,
      }));
      this.options.logger.info({ event: 'broker.position_mode', account: this.name, hedge: this.hedge }, `position mode set to ${this.hedge ? 'hedge' : 'one-way'}`);
    }
  }

  /** The user data stream: ORDER_TRADE_UPDATE, ALGO_UPDATE and ACCOUNT_UPDATE as they happen. */
  orderStream(options: OrderStreamOptions): OrderStream | undefined {
    const { environment, baseUrl } = this.options;
    // A REST base of one's own (a proxy, a fake) with Binance's own stream host would mix two venues: none unless named.
    const streamUrl = this.options.streamUrl ?? (baseUrl === undefined ? BINANCE_STREAM_URLS[environment] : undefined);
    if (streamUrl === undefined) return undefined;
    return new BinanceUserStream({
      ...options, account: this.name, baseUrl: baseUrl ?? BASE_URLS[environment], streamUrl,
      apiKey: this.options.apiKey, gate: this.client.gate, fetch: this.options.fetch, keepaliveMs: this.options.keepaliveMs,
    });
  }

  async disconnect(): Promise<void> {
    // Stateless REST: nothing to close.
  }

  async health(): Promise<BrokerHealth> {
    const blocked = this.client.gate.blockedForMs;
    if (blocked > 0) return { ok: false, detail: `rate limited: no calls for another ${Math.ceil(blocked / 1000)} s` };
    const started = this.now();
    try {
      await this.client.public({ method: 'GET', path: '/fapi/v1/time', schema: serverTimeSchema });
      return { ok: true, latencyMs: this.now() - started };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async account(): Promise<AccountSummary> {
    const account = await this.client.signed({ method: 'GET', path: '/fapi/v3/account', schema: accountSchema });
    const currency = account.assets.find((a) => a.walletBalance.gt(0))?.asset ?? 'USDT';
    // Buying power is notional, as sizing and the risk checks compare it with an entry's notional: the free margin
    // times the configured leverage (set on each symbol before its first entry), or 1x when none is configured, since
    // the leverage left on the exchange is not known here. The exact margin check is marginImpact's.
    const leverage = this.options.leverage !== undefined ? new Decimal(this.options.leverage) : new Decimal(1);
    return { currency, equity: account.totalMarginBalance, cash: account.totalWalletBalance, buyingPower: account.availableBalance.mul(leverage) };
  }

  async balances(): Promise<Balance[]> {
    const balances = await this.client.signed({ method: 'GET', path: '/fapi/v3/balance', schema: balancesSchema });
    return balances.map((b) => ({ currency: b.asset, total: b.balance, available: b.availableBalance }));
  }

  async instrument(symbol: string): Promise<Instrument> {
    return this.instruments.get(symbol);
  }

  async quotes(symbols: string[]): Promise<Map<string, Quote>> {
    if (symbols.length === 0) return new Map();
    const wanted = new Set(symbols);
    // One symbol costs weight 1; all symbols cost 2, cheaper than asking for each of several.
    const tickers = await this.client.public({
      method: 'GET', path: '/fapi/v1/ticker/price', params: symbols.length === 1 ? { symbol: symbols[0] } : undefined, schema: tickerPricesSchema,
    });
    const quotes = new Map<string, Quote>();
    for (const t of tickers) {
      if (wanted.has(t.symbol)) quotes.set(t.symbol, { symbol: t.symbol, last: t.price, time: new Date(t.time ?? this.now()) });
    }
    return quotes;
  }

  async placeOrder(request: OrderRequest): Promise<Order> {
    const placement = placementFor(request, { broker: BROKER, hedge: this.hedge, workingType: this.workingType });
    if (!isReducing(request)) await this.prepareSymbol(request.symbol);
    // Known before it is sent: after a timeout the lookup by client id needs the symbol and the endpoint.
    this.byClientId.set(request.clientOrderId, { kind: placement.endpoint, symbol: request.symbol, quantity: request.quantity });
    try {
      if (placement.endpoint === 'order') {
        const wire = await this.client.signed({ method: 'POST', path: '/fapi/v1/order', params: placement.params, schema: orderSchema });
        return this.rememberOrder(fromWireOrder(wire));
      }
      const wire = await this.client.signed({ method: 'POST', path: '/fapi/v1/algoOrder', params: placement.params, schema: algoOrderSchema });
      return this.rememberAlgo(wire, placement.closePosition ? request.quantity : undefined);
    } catch (error) {
      // Binance refuses a client id that is still open (-4116): the first order stands, never a second one.
      if (error instanceof DuplicateClientOrderIdError) {
        const existing = await this.getOrder({ clientOrderId: request.clientOrderId, symbol: request.symbol });
        if (existing) return existing;
      }
      throw error;
    }
  }

  async placeBracket(_request: BracketRequest): Promise<BracketOrders> {
    throw new NotSupportedError(`${BROKER}: no bracket orders; protection is placed after the entry fills`, { broker: BROKER });
  }

  async modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order> {
    const current = await this.getOrder(ref);
    if (!current) throw new OrderNotFoundError(`${BROKER}: no order ${describeRef(ref)} to modify`, { broker: BROKER });
    if (isTerminal(current.status)) throw new OrderRejectedError(`${BROKER}: order ${current.clientOrderId} is ${current.status}, it cannot be modified`, { broker: BROKER });
    if (isAlgoOrderId(current.id)) return this.replaceAlgo(current, change);
    if (current.type !== 'limit') throw new NotSupportedError(`${BROKER}: only limit orders can be amended, not ${current.type}`, { broker: BROKER });
    const wire = await this.client.signed({
      method: 'PUT', path: '/fapi/v1/order', schema: orderSchema, params: {
        symbol: current.symbol, orderId: current.id, side: current.side === 'buy' ? 'BUY' : 'SELL',
        quantity: (change.quantity ?? current.quantity).toFixed(), price: (change.limitPrice ?? current.limitPrice)?.toFixed(),
      },
    });
    return this.rememberOrder(fromWireOrder(wire));
  }

  async cancelOrder(ref: OrderRef): Promise<void> {
    try {
      const target = await this.locate(ref);
      if (target.kind === 'algo') {
        await this.client.signed({ method: 'DELETE', path: '/fapi/v1/algoOrder', params: target.params, schema: cancelAlgoSchema });
      } else {
        await this.client.signed({ method: 'DELETE', path: '/fapi/v1/order', params: target.params, schema: orderSchema });
      }
    } catch (error) {
      if (!(error instanceof OrderNotFoundError)) throw error;
      // Binance answers "unknown order" for an order that has already ended: cancelling it again is no failure.
      const existing = await this.getOrder(ref);
      if (existing && isTerminal(existing.status)) return;
      throw error;
    }
  }

  async getOrder(ref: OrderRef): Promise<Order | undefined> {
    if ('orderId' in ref) {
      if (isAlgoOrderId(ref.orderId)) return this.lookupAlgo({ algoId: algoIdOf(ref.orderId) });
      const symbol = ref.symbol ?? this.symbolOfOrder.get(ref.orderId);
      if (symbol) return this.lookupOrder({ symbol, orderId: ref.orderId });
      return this.searchSymbols({ orderId: ref.orderId });
    }
    const known = this.byClientId.get(ref.clientOrderId);
    if (known?.kind === 'algo') return this.lookupAlgo({ clientAlgoId: ref.clientOrderId });
    const symbol = ref.symbol ?? known?.symbol;
    if (symbol) {
      const plain = await this.lookupOrder({ symbol, origClientOrderId: ref.clientOrderId });
      if (plain || known?.kind === 'order') return plain;
    }
    // Not a plain order (or no symbol to ask with): algo orders are found by clientAlgoId alone.
    const algo = await this.lookupAlgo({ clientAlgoId: ref.clientOrderId });
    if (algo || symbol) return algo;
    return this.searchSymbols({ origClientOrderId: ref.clientOrderId });
  }

  /**
   * A plain order asked for without its symbol, which Binance needs, and unknown to this run (placed before a
   * restart): asked for on every symbol that holds a position or open orders (positionRisk v3 lists exactly
   * those) and every symbol this run has traded. A filled entry has its position; an order that ended
   * without leaving either is not found this way.
   */
  private async searchSymbols(params: { orderId: string } | { origClientOrderId: string }): Promise<Order | undefined> {
    const risks = await this.client.signed({ method: 'GET', path: '/fapi/v3/positionRisk', schema: positionRiskV3Schema });
    const symbols = new Set([...risks.map((r) => r.symbol), ...this.symbolOfOrder.values()]);
    for (const symbol of symbols) {
      const found = await this.lookupOrder({ symbol, ...params });
      if (found) return found;
    }
    return undefined;
  }

  /** Plain and algo orders together: /openOrders leaves the algo orders (the stops and targets) out. */
  async openOrders(symbol?: string): Promise<Order[]> {
    const params = symbol ? { symbol } : undefined;
    const [plain, algos] = await Promise.all([
      this.client.signed({ method: 'GET', path: '/fapi/v1/openOrders', params, schema: orderSchema.array() }),
      this.client.signed({ method: 'GET', path: '/fapi/v1/openAlgoOrders', params, schema: algoOrderSchema.array() }),
    ]);
    return [...plain.map((o) => this.rememberOrder(fromWireOrder(o))), ...algos.map((a) => this.rememberAlgo(a))];
  }

  /** Trades of the symbols this adapter has traded or holds (Binance asks for a symbol per call); commissions as fees. */
  async fills(since?: Date): Promise<Fill[]> {
    const symbols = new Set([
      ...this.symbolOfOrder.values(), ...[...this.byClientId.values()].map((k) => k.symbol), ...(await this.positions()).map((p) => p.symbol),
    ]);
    const fills: Fill[] = [];
    for (const symbol of symbols) {
      const trades = await this.client.signed({
        method: 'GET', path: '/fapi/v1/userTrades', params: { symbol, startTime: since?.getTime() }, schema: userTradesSchema,
      });
      for (const t of trades) {
        fills.push({
          id: t.id, orderId: t.orderId, clientOrderId: this.clientIdOfOrder.get(t.orderId) ?? (await this.lookupOrder({ symbol, orderId: t.orderId }))?.clientOrderId ?? '',
          symbol, side: fromWireSide(t.side), quantity: t.qty, price: t.price, fee: t.commission, feeCurrency: t.commissionAsset,
          liquidity: t.maker === undefined ? undefined : t.maker ? 'maker' : 'taker', time: new Date(t.time),
        });
      }
    }
    return fills;
  }

  /** Funding paid and received since a time (the last 7 days when absent, as Binance answers), oldest first. */
  async fundingPayments(since?: Date): Promise<FundingPayment[]> {
    const rows = await this.client.signed({
      method: 'GET', path: '/fapi/v1/income', params: { incomeType: 'FUNDING_FEE', startTime: since?.getTime(), limit: 1000 }, schema: fundingIncomeSchema,
    });
    return rows.filter((r) => r.incomeType === 'FUNDING_FEE')
      .map((r) => ({ id: r.tranId, symbol: r.symbol, amount: r.income, asset: r.asset, time: new Date(r.time) }))
      .sort((a, b) => a.time.getTime() - b.time.getTime());
  }

  async positions(): Promise<BrokerPosition[]> {
    const risks = await this.client.signed({ method: 'GET', path: '/fapi/v3/positionRisk', schema: positionRiskV3Schema });
    return risks.filter((r) => !r.positionAmt.isZero()).map((r) => ({
      symbol: r.symbol,
      side: positionSideOf(r.positionAmt, r.positionSide),
      quantity: r.positionAmt.abs(),
      averagePrice: r.entryPrice,
      unrealizedPnl: r.unRealizedProfit,
      markPrice: r.markPrice,
    }));
  }

  /** A reduce-only market order for the whole position (in hedge mode, on its position side). */
  async closePosition(symbol: string, clientOrderId: string): Promise<Order> {
    const position = (await this.positions()).find((p) => p.symbol === symbol);
    if (!position) throw new OrderRejectedError(`${BROKER}: no ${symbol} position to close`, { broker: BROKER });
    return this.placeOrder({
      clientOrderId, symbol, side: oppositeSide(position.side === 'long' ? 'buy' : 'sell'), type: 'market', quantity: position.quantity, reduceOnly: true, leg: 'exit',
    });
  }

  /**
   * The margin an order would take: the symbol's leverage (positionRisk v2), capped by the leverage bracket of the
   * resulting position's notional (leverageBracket), times the order's opening notional; and the margin free now.
   */
  async marginImpact(request: OrderRequest): Promise<MarginImpact> {
    const [risks, brackets, account] = await Promise.all([
      this.client.signed({ method: 'GET', path: '/fapi/v2/positionRisk', params: { symbol: request.symbol }, schema: positionRiskV2Schema }),
      this.client.signed({ method: 'GET', path: '/fapi/v1/leverageBracket', params: { symbol: request.symbol }, schema: leverageBracketSchema }),
      this.client.signed({ method: 'GET', path: '/fapi/v3/account', schema: accountSchema }),
    ]);
    const rows = risks.filter((r) => r.symbol === request.symbol);
    const first = rows[0];
    if (!first) throw new BrokerError(`${BROKER}: positionRisk has no row for ${request.symbol}`, { broker: BROKER });
    const amountOn = (side: 'LONG' | 'SHORT' | 'BOTH'): Decimal => rows.find((r) => r.positionSide === side)?.positionAmt ?? ZERO;
    let same: Decimal;
    let opposing: Decimal;
    if (this.hedge) {
      same = amountOn(request.side === 'buy' ? 'LONG' : 'SHORT').abs();
      opposing = ZERO;
    } else {
      const signed = amountOn('BOTH');
      const held = request.side === 'buy' ? signed : signed.neg();
      same = maxDecimal(held, ZERO);
      opposing = maxDecimal(held.neg(), ZERO);
    }
    return marginImpact({
      quantity: request.quantity,
      price: request.limitPrice ?? request.stopPrice ?? first.markPrice,
      // The configured leverage is set before the entry goes out, so it is the one the entry will get.
      leverage: this.options.leverage !== undefined ? new Decimal(this.options.leverage) : first.leverage,
      sameSideQuantity: same,
      opposingQuantity: opposing,
      brackets: brackets.find((b) => b.symbol === request.symbol)?.brackets ?? [],
      availableMargin: account.availableBalance,
      reduceOnly: isReducing(request),
    });
  }

  /** The configured margin type and leverage, set once per symbol before its first entry (Binance keeps both per symbol). */
  private async prepareSymbol(symbol: string): Promise<void> {
    let done = this.prepared.get(symbol);
    if (!done) {
      done = (async () => {
        if (this.options.marginType) {
          const marginType = this.options.marginType === 'isolated' ? 'ISOLATED' : 'CROSSED';
          try {
            await this.tolerating([CODES.noNeedToChangeMarginType], () => this.client.signed({
              method: 'POST', path: '/fapi/v1/marginType', params: { symbol, marginType }, schema: acknowledgementSchema,
            }));
          } catch (error) {
            // An open position or open orders pin the margin type: adding to them is still right, in the type they have.
            if (!hasCode(error, CODES.marginTypePinnedByOrders) && !hasCode(error, CODES.marginTypePinnedByPosition)) throw error;
            this.options.logger.warn({ event: 'broker.margin_type_kept', account: this.name, symbol, wanted: marginType },
              `${symbol}: margin type stays as it is while a position or orders are open`);
          }
        }
        if (this.options.leverage !== undefined) {
          await this.client.signed({ method: 'POST', path: '/fapi/v1/leverage', params: { symbol, leverage: this.options.leverage }, schema: leverageSchema });
        }
      })();
      this.prepared.set(symbol, done);
      // A failure is not remembered: the next entry tries again.
      done.catch(() => this.prepared.delete(symbol));
    }
    await done;
  }

  /** Runs a setter whose "nothing to change" answer (-4046, -4059) means it is already as wanted. */
  private async tolerating(codes: readonly number[], call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      if (codes.some((code) => hasCode(error, code))) return;
      throw error;
    }
  }

  private async lookupOrder(params: Params): Promise<Order | undefined> {
    try {
      const wire = await this.client.signed({ method: 'GET', path: '/fapi/v1/order', params, schema: orderSchema });
      return this.rememberOrder(fromWireOrder(wire));
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
      throw error;
    }
  }

  /** An algo order and, once it has fired, the plain order it became (its status and fill are the leg's). */
  private async lookupAlgo(params: Params): Promise<Order | undefined> {
    let wire: WireAlgoOrder;
    try {
      wire = await this.client.signed({ method: 'GET', path: '/fapi/v1/algoOrder', params, schema: algoOrderSchema });
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
      throw error;
    }
    const triggered = wire.actualOrderId ? await this.lookupOrder({ symbol: wire.symbol, orderId: wire.actualOrderId }) : undefined;
    // The triggered order's trades belong to the leg tradewire knows, under the leg's client id.
    if (wire.actualOrderId) this.clientIdOfOrder.set(wire.actualOrderId, wire.clientAlgoId);
    return this.rememberAlgo(wire, undefined, triggered);
  }

  /** Where a cancel goes. An unknown client id is tried as a plain order (when a symbol is known), then as an algo order. */
  private async locate(ref: OrderRef): Promise<{ kind: 'order' | 'algo'; params: Params }> {
    if ('orderId' in ref) {
      if (isAlgoOrderId(ref.orderId)) return { kind: 'algo', params: { algoId: algoIdOf(ref.orderId) } };
      const symbol = ref.symbol ?? this.symbolOfOrder.get(ref.orderId) ?? (await this.getOrder(ref))?.symbol;
      if (!symbol) throw new OrderNotFoundError(`${BROKER}: no open order ${ref.orderId}`, { broker: BROKER });
      return { kind: 'order', params: { symbol, orderId: ref.orderId } };
    }
    const known = this.byClientId.get(ref.clientOrderId) ?? (await this.getOrder(ref).then((o) => (o ? this.byClientId.get(o.clientOrderId) : undefined)));
    if (!known) throw new OrderNotFoundError(`${BROKER}: no order with client id ${ref.clientOrderId}`, { broker: BROKER, code: CODES.noSuchOrder });
    return known.kind === 'algo'
      ? { kind: 'algo', params: { clientAlgoId: ref.clientOrderId } }
      : { kind: 'order', params: { symbol: known.symbol, origClientOrderId: ref.clientOrderId } };
  }

  /**
   * Algo orders cannot be amended: cancel, then place the same order again under the same client id (Binance
   * accepts a client id again once its first order is no longer open). Cancel comes first because a second
   * closePosition stop in the same direction is refused (-4130); if the new one is refused, the old one is restored.
   */
  private async replaceAlgo(current: Order, change: OrderChange): Promise<Order> {
    const wire = await this.client.signed({ method: 'GET', path: '/fapi/v1/algoOrder', params: { algoId: algoIdOf(current.id) }, schema: algoOrderSchema });
    if (wire.orderType === 'TRAILING_STOP_MARKET') throw new NotSupportedError(`${BROKER}: a trailing stop follows the price by itself; it is not moved`, { broker: BROKER });
    const { original, replacement } = algoReplacement(wire, change, this.workingType);
    const quantity = this.byClientId.get(wire.clientAlgoId)?.quantity ?? current.quantity;
    await this.client.signed({ method: 'DELETE', path: '/fapi/v1/algoOrder', params: { algoId: wire.algoId }, schema: cancelAlgoSchema });
    try {
      const placed = await this.client.signed({ method: 'POST', path: '/fapi/v1/algoOrder', params: replacement, schema: algoOrderSchema });
      return this.rememberAlgo(placed, change.quantity ?? quantity);
    } catch (error) {
      if (error instanceof InvalidOrderError) {
        this.options.logger.warn({ event: 'broker.replace_failed', account: this.name, clientOrderId: wire.clientAlgoId }, 'replacement refused; restoring the original order');
        await this.client.signed({ method: 'POST', path: '/fapi/v1/algoOrder', params: original, schema: algoOrderSchema }).catch((restoreError: unknown) => {
          this.options.logger.error({ event: 'broker.restore_failed', account: this.name, clientOrderId: wire.clientAlgoId, error: String(restoreError) },
            'the original order could not be restored: the position has lost this protective order');
        });
      }
      throw error;
    }
  }

  private rememberOrder(order: Order): Order {
    this.symbolOfOrder.set(order.id, order.symbol);
    this.clientIdOfOrder.set(order.id, order.clientOrderId);
    if (!this.byClientId.has(order.clientOrderId)) this.byClientId.set(order.clientOrderId, { kind: 'order', symbol: order.symbol });
    return order;
  }

  private rememberAlgo(wire: WireAlgoOrder, quantity?: Decimal, triggered?: Order): Order {
    const known = this.byClientId.get(wire.clientAlgoId);
    const size = quantity ?? known?.quantity;
    this.byClientId.set(wire.clientAlgoId, { kind: 'algo', symbol: wire.symbol, quantity: size });
    return fromWireAlgo(wire, { quantity: size, triggered });
  }
}

function describeRef(ref: OrderRef): string {
  return 'orderId' in ref ? `id ${ref.orderId}` : `client id ${ref.clientOrderId}`;
}
