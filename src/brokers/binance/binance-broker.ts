// The Binance USD-M futures adapter: the Broker interface over the signed REST client, algo orders for every trigger.
import type { Broker, BrokerHealth, Capabilities, MarginImpact, Protection } from '../broker.ts';
import {
  BrokerError, DuplicateClientOrderIdError, InvalidOrderError, NotSupportedError, OrderNotFoundError, OrderRejectedError, ProtectionLostError,
  RateLimitError, TransientError,
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
import { algoReplacement, bridgeFor, isReducing, placementFor } from './requests.ts';
import { BINANCE_STREAM_URLS, BinanceUserStream } from './user-stream.ts';
import type { OrderStream, OrderStreamOptions } from '../order-stream.ts';
import {
  accountSchema, acknowledgementSchema, algoOrderSchema, balancesSchema, cancelAlgoSchema, dualSideSchema, fundingIncomeSchema, leverageBracketSchema,
  leverageSchema, orderSchema, positionRiskV2Schema, positionRiskV3Schema, serverTimeSchema, tickerPricesSchema, userTradesSchema,
} from './wire.ts';
import type { WireAlgoOrder, WireUserTrade } from './wire.ts';

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
  /** How hard a stop being moved is retried before the move is given up (ProtectionLostError). */
  replaceRetry?: { attempts?: number | undefined; budgetMs?: number | undefined } | undefined;
  /** Waits between those retries (tests move their clock instead). */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

const BROKER = 'binance-usdm';

/** A moved stop is retried this often and this long: long enough to wait out a minute's weight hold. */
const DEFAULT_REPLACE_ATTEMPTS = 8;
const DEFAULT_REPLACE_BUDGET_MS = 65_000;
const REPLACE_BACKOFF_MS = 250;
const REPLACE_BACKOFF_MAX_MS = 4_000;
/** History endpoints: at most 7 days between startTime and endTime, at most 1,000 rows a page. */
const HISTORY_WINDOW_MS = 7 * 24 * 3600_000;
const PAGE_LIMIT = 1_000;
/** Binance keeps six months of trades; a day short of 180, so our clock's lag behind the venue's cannot cross it. */
const TRADE_HISTORY_MS = 179 * 24 * 3600_000;

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
  private readonly sleep: (ms: number) => Promise<void>;
  // Bounded: a daemon runs for months; an order forgotten here is still found by lookupOrder's search.
  private readonly byClientId = new BoundedMap<string, Known>(REMEMBERED_ORDERS);
  private readonly symbolOfOrder = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  private readonly clientIdOfOrder = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  private readonly prepared = new Map<string, Promise<void>>();
  /** Protective legs being moved (or whose move was given up) → the algo id of the reduce-only stand-in resting for them. */
  private readonly standIns = new BoundedMap<string, string>(REMEMBERED_ORDERS);

  constructor(options: BinanceBrokerOptions) {
    this.name = options.name;
    this.options = options;
    this.hedge = options.positionMode === 'hedge';
    this.workingType = options.workingType ?? 'MARK_PRICE';
    this.now = () => (options.clock ? options.clock().getTime() : Date.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => { setTimeout(resolve, ms); }));
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

  /**
   * Trades of the symbols this adapter has traded or holds (Binance asks for a symbol per call); commissions as
   * fees. Since `since` (the last 7 days when absent, as Binance answers; never further back than the 6 months
   * Binance keeps), in windows of at most 7 days; a window with a full page goes on by trade id.
   */
  async fills(since?: Date): Promise<Fill[]> {
    const symbols = new Set([
      ...this.symbolOfOrder.values(), ...[...this.byClientId.values()].map((k) => k.symbol), ...(await this.positions()).map((p) => p.symbol),
    ]);
    const now = this.client.clock.now();
    const from = Math.max(since?.getTime() ?? now - HISTORY_WINDOW_MS, now - TRADE_HISTORY_MS);
    const fills: Fill[] = [];
    // One lookup per order, not per trade: a thousand trades of an order forgotten since (or never known) ask once.
    const clientIds = new Map<string, string>();
    for (const symbol of symbols) {
      for (const t of await this.tradesOf(symbol, from, now)) {
        let clientOrderId = this.clientIdOfOrder.get(t.orderId) ?? clientIds.get(t.orderId);
        if (clientOrderId === undefined) {
          clientOrderId = (await this.lookupOrder({ symbol, orderId: t.orderId }))?.clientOrderId ?? '';
          clientIds.set(t.orderId, clientOrderId);
        }
        fills.push({
          id: t.id, orderId: t.orderId, clientOrderId,
          symbol, side: fromWireSide(t.side), quantity: t.qty, price: t.price, fee: t.commission, feeCurrency: t.commissionAsset,
          liquidity: t.maker === undefined ? undefined : t.maker ? 'maker' : 'taker', time: new Date(t.time),
        });
      }
    }
    return fills;
  }

  /**
   * One symbol's trades from `from` to `to`: 7-day windows (Binance's widest), 1,000 rows a page (its most). A
   * window that fills its page has more: from there on the trades are paged by id (fromId cannot be combined with
   * a time), to the newest, which covers the windows after it too.
   */
  private async tradesOf(symbol: string, from: number, to: number): Promise<WireUserTrade[]> {
    const trades: WireUserTrade[] = [];
    const seen = new Set<string>();
    const add = (page: WireUserTrade[]): number => {
      let fresh = 0;
      for (const t of page) if (!seen.has(t.id)) { seen.add(t.id); trades.push(t); fresh += 1; }
      return fresh;
    };
    for (let start = from; start <= to; start += HISTORY_WINDOW_MS) {
      // A whole window even at the newest end: a trade stamped by the venue's clock a moment ahead of ours is not cut off.
      const end = start + HISTORY_WINDOW_MS - 1;
      let page = await this.client.signed({
        method: 'GET', path: '/fapi/v1/userTrades', params: { symbol, startTime: start, endTime: end, limit: PAGE_LIMIT }, schema: userTradesSchema,
      });
      add(page);
      if (page.length < PAGE_LIMIT) continue;
      // A full page of nothing new would repeat forever: it ends the paging.
      for (let fresh = 1; page.length >= PAGE_LIMIT && fresh > 0;) {
        const last = page.at(-1) as WireUserTrade;
        page = await this.client.signed({
          method: 'GET', path: '/fapi/v1/userTrades', params: { symbol, fromId: (BigInt(last.id) + 1n).toString(), limit: PAGE_LIMIT }, schema: userTradesSchema,
        });
        fresh = add(page);
      }
      break;
    }
    return trades;
  }

  /**
   * Funding paid and received since a time (the last 7 days when absent, as Binance answers), oldest first: in
   * 7-day windows of up to 1,000 rows; a window with a full page is asked again from its last row's time.
   */
  async fundingPayments(since?: Date): Promise<FundingPayment[]> {
    const now = this.client.clock.now();
    const from = Math.max(since?.getTime() ?? now - HISTORY_WINDOW_MS, now - TRADE_HISTORY_MS);
    const payments = new Map<string, FundingPayment>();
    for (let start = from; start <= now; start += HISTORY_WINDOW_MS) {
      const end = start + HISTORY_WINDOW_MS - 1;
      let pageStart = start;
      for (;;) {
        const rows = await this.client.signed({
          method: 'GET', path: '/fapi/v1/income', params: { incomeType: 'FUNDING_FEE', startTime: pageStart, endTime: end, limit: PAGE_LIMIT }, schema: fundingIncomeSchema,
        });
        let fresh = 0;
        for (const r of rows) {
          if (r.incomeType !== 'FUNDING_FEE' || payments.has(r.tranId)) continue;
          payments.set(r.tranId, { id: r.tranId, symbol: r.symbol, amount: r.income, asset: r.asset, time: new Date(r.time) });
          fresh += 1;
        }
        const last = rows.at(-1);
        // From the last row's own millisecond (others may share it; the ids already seen are skipped); a page of nothing new ends it.
        if (rows.length < PAGE_LIMIT || !last || fresh === 0) break;
        pageStart = last.time;
      }
    }
    return [...payments.values()].sort((a, b) => a.time.getTime() - b.time.getTime());
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
    if (wire.actualOrderId === undefined && wire.algoStatus !== 'NEW' && this.standIns.has(wire.clientAlgoId)) {
      // Ended without firing while being moved: the stand-in carrying its new trigger may have fired in its place.
      const fired = await this.standInFill(wire.clientAlgoId);
      if (fired) return fired;
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
   * Algo orders cannot be amended, and the client id must stay (the journal knows the order by it), but Binance
   * takes a client id again only once its first order is no longer open, and refuses a second closePosition
   * trigger in one direction (-4130). So a protective order is moved through a stand-in: a reduce-only stop for
   * the position at the new trigger is placed first, the original is cancelled, the replacement placed under the
   * original's client id (retried until it rests), and the stand-in cancelled. A stop rests at every moment; a
   * reduce-only order cannot over-close, so two resting at once is harmless. An order that does not reduce (an
   * entry stop) could fill twice: it is cancelled and then placed again, with the same retries.
   * If the replacement cannot be made to rest, ProtectionLostError says so (naming the stand-in, which stays).
   */
  private async replaceAlgo(current: Order, change: OrderChange): Promise<Order> {
    const wire = await this.client.signed({ method: 'GET', path: '/fapi/v1/algoOrder', params: { algoId: algoIdOf(current.id) }, schema: algoOrderSchema });
    if (wire.orderType === 'TRAILING_STOP_MARKET') throw new NotSupportedError(`${BROKER}: a trailing stop follows the price by itself; it is not moved`, { broker: BROKER });
    const { original, replacement } = algoReplacement(wire, change, this.workingType);
    const quantity = change.quantity ?? this.byClientId.get(wire.clientAlgoId)?.quantity ?? current.quantity;
    const held = this.reduces(wire) ? await this.heldAgainst(wire) : ZERO;
    if (held.isZero()) return this.cancelThenPlace(wire, original, replacement, quantity);

    const ordered = change.quantity ?? wire.quantity;
    const size = wire.closePosition === true || !ordered?.gt(0) ? held : Decimal.min(held, ordered);
    const bridgeParams = bridgeFor(replacement, size, this.hedge, wire.clientAlgoId);
    // Nothing has changed until the stand-in rests: a failure here leaves the original as it was.
    const bridge = await this.placeBridge(bridgeParams);
    // Until it is cancelled, a fill of the stand-in is this leg's (see lookupAlgo).
    this.standIns.set(wire.clientAlgoId, bridge.algoId);
    const cancelled = await this.cancelAlgo(wire.algoId).catch(async (error: unknown) => {
      await this.dropBridge(bridge, wire.clientAlgoId);
      throw error;
    });
    if (cancelled !== 'cancelled') {
      // The original fired (or ended otherwise) before it could be moved: its fill is the leg's, nothing to re-place.
      await this.dropBridge(bridge, wire.clientAlgoId);
      throw new OrderRejectedError(`${BROKER}: order ${wire.clientAlgoId} is ${cancelled.algoStatus} at Binance, it cannot be moved`, { broker: BROKER });
    }
    let placed: WireAlgoOrder;
    try {
      placed = await this.placeUntilRests(replacement, wire.algoId);
    } catch (error) {
      // The stand-in carries the new trigger: if the price got there meanwhile it has closed the position (and the
      // replacement was refused as firing at once). That is the leg's fill, not a lost stop.
      const fired = await this.standInFill(wire.clientAlgoId);
      if (fired) return fired;
      const detail = `${bridge.clientAlgoId} (reduce-only ${size.toFixed()} at ${String(replacement.triggerPrice)}) rests in its place`;
      this.options.logger.error({ event: 'broker.protection_lost', account: this.name, clientOrderId: wire.clientAlgoId, standIn: bridge.clientAlgoId, error: String(error) },
        `${wire.clientAlgoId} was cancelled to be moved and could not be placed again; ${detail}`);
      throw new ProtectionLostError(`${BROKER}: ${wire.symbol} ${wire.orderType} ${wire.clientAlgoId} was cancelled to be moved and could not be placed again ` +
        `(${error instanceof Error ? error.message : String(error)}); ${detail}`, { broker: BROKER, cause: error });
    }
    const dropped = await this.dropBridge(bridge, wire.clientAlgoId);
    if (dropped !== 'cancelled' && dropped !== 'left' && dropped.actualOrderId !== undefined) {
      // The stand-in fired before it could be cancelled: the position is closed by it, the replacement has nothing left to do.
      await this.cancelAlgo(placed.algoId).catch((error: unknown) => {
        this.options.logger.warn({ event: 'broker.cancel_failed', account: this.name, clientOrderId: wire.clientAlgoId, error: String(error) },
          `${wire.clientAlgoId}: the replacement of a stop whose stand-in fired could not be cancelled`);
      });
      const fired = await this.standInFill(wire.clientAlgoId);
      if (fired) return fired;
    }
    if (dropped === 'cancelled') this.standIns.delete(wire.clientAlgoId);
    return this.rememberAlgo(placed, quantity);
  }

  /** The leg as its stand-in's fill, when the stand-in put in place while moving it has fired. */
  private async standInFill(clientAlgoId: string): Promise<Order | undefined> {
    const standIn = this.standIns.get(clientAlgoId);
    if (standIn === undefined) return undefined;
    const wire = await this.lookupWireAlgo({ algoId: standIn }).catch(() => undefined);
    if (wire?.actualOrderId === undefined) return undefined;
    const triggered = await this.lookupOrder({ symbol: wire.symbol, orderId: wire.actualOrderId });
    this.clientIdOfOrder.set(wire.actualOrderId, clientAlgoId);
    return this.rememberAlgo({ ...wire, clientAlgoId }, undefined, triggered);
  }

  /** An order that cannot rest beside itself: cancelled, then placed again until it rests; the original put back if the venue refuses the change. */
  private async cancelThenPlace(wire: WireAlgoOrder, original: Params, replacement: Params, quantity: Decimal): Promise<Order> {
    const cancelled = await this.cancelAlgo(wire.algoId);
    if (cancelled !== 'cancelled') throw new OrderRejectedError(`${BROKER}: order ${wire.clientAlgoId} is ${cancelled.algoStatus} at Binance, it cannot be moved`, { broker: BROKER });
    try {
      return this.rememberAlgo(await this.placeUntilRests(replacement, wire.algoId), quantity);
    } catch (error) {
      let reason = error;
      if (error instanceof InvalidOrderError) {
        // The change itself is refused (its trigger would fire at once, say): the order as it was is put back.
        this.options.logger.warn({ event: 'broker.replace_failed', account: this.name, clientOrderId: wire.clientAlgoId }, 'replacement refused; restoring the original order');
        const restored = await this.placeUntilRests(original, wire.algoId).then(() => true, (restoreError: unknown) => { reason = restoreError; return false; });
        if (restored) throw error;
      }
      throw new ProtectionLostError(`${BROKER}: ${wire.symbol} ${wire.orderType} ${wire.clientAlgoId} was cancelled to be moved and could not be placed again ` +
        `(${reason instanceof Error ? reason.message : String(reason)}); nothing rests in its place`, { broker: BROKER, cause: reason });
    }
  }

  /** Whether an algo order can only shrink a position: closePosition, reduce-only, or (hedge mode) on the side it closes. */
  private reduces(wire: WireAlgoOrder): boolean {
    if (wire.closePosition === true || wire.reduceOnly === true) return true;
    return (wire.positionSide === 'LONG' && wire.side === 'SELL') || (wire.positionSide === 'SHORT' && wire.side === 'BUY');
  }

  /** The size of the position this reducing order works against now; zero when there is none on that side. */
  private async heldAgainst(wire: WireAlgoOrder): Promise<Decimal> {
    const risks = await this.client.signed({ method: 'GET', path: '/fapi/v3/positionRisk', params: { symbol: wire.symbol }, schema: positionRiskV3Schema });
    const side = wire.positionSide ?? 'BOTH';
    const amount = risks.find((r) => r.symbol === wire.symbol && r.positionSide === side)?.positionAmt ?? ZERO;
    // A sell reduces a long, a buy a short: an order on the other side of what is held protects nothing.
    const against = wire.side === 'SELL' ? amount.isPositive() : amount.isNegative();
    return against ? amount.abs() : ZERO;
  }

  /** The stand-in, resting; one left by an interrupted move (its client id is still open, -4116) is cancelled and placed anew. */
  private async placeBridge(params: Params): Promise<WireAlgoOrder> {
    const clientAlgoId = String(params.clientAlgoId);
    try {
      return await this.withVenueRetries(() => this.placeOrFind(params, undefined));
    } catch (error) {
      if (!(error instanceof DuplicateClientOrderIdError)) throw error;
      const stale = await this.lookupWireAlgo({ clientAlgoId });
      if (stale && stale.algoStatus === 'NEW') await this.cancelAlgo(stale.algoId);
      return this.withVenueRetries(() => this.placeOrFind(params, undefined));
    }
  }

  /** Cancels the stand-in once the moved order rests (or the move is given up); how it ended. A stand-in that stays is logged: it is reduce-only. */
  private async dropBridge(bridge: WireAlgoOrder, clientAlgoId: string): Promise<'cancelled' | 'left' | WireAlgoOrder> {
    try {
      return await this.cancelAlgo(bridge.algoId);
    } catch (error) {
      this.options.logger.error({ event: 'broker.stand_in_left', account: this.name, clientOrderId: clientAlgoId, standIn: bridge.clientAlgoId, error: String(error) },
        `the reduce-only stand-in ${bridge.clientAlgoId} could not be cancelled after moving ${clientAlgoId}; cancel it by hand`);
      return 'left';
    }
  }

  /** Places an algo order under its client id, retrying until it rests; an attempt that may have reached the venue is looked up first. */
  private async placeUntilRests(params: Params, replacedAlgoId: string): Promise<WireAlgoOrder> {
    return this.withVenueRetries(() => this.placeOrFind(params, replacedAlgoId));
  }

  /**
   * One placement. The venue refusing it because it already rests (-4116 for its client id, -4130 for a
   * closePosition trigger) after an answer was lost is success: the resting order is returned.
   */
  private async placeOrFind(params: Params, replacedAlgoId: string | undefined): Promise<WireAlgoOrder> {
    const clientAlgoId = String(params.clientAlgoId);
    try {
      return await this.client.signed({ method: 'POST', path: '/fapi/v1/algoOrder', params, schema: algoOrderSchema });
    } catch (error) {
      const already = error instanceof DuplicateClientOrderIdError || hasCode(error, CODES.closePositionExists) || error instanceof TransientError;
      if (!already) throw error;
      const found = await this.lookupWireAlgo({ clientAlgoId }).catch(() => undefined);
      // Ours only if it is not the order being replaced and carries this trigger (not a stand-in left from an earlier move).
      const trigger = params.triggerPrice === undefined ? undefined : new Decimal(String(params.triggerPrice));
      const same = trigger === undefined || found?.triggerPrice?.eq(trigger) === true;
      if (found && found.algoStatus === 'NEW' && found.algoId !== replacedAlgoId && same) return found;
      throw error;
    }
  }

  /**
   * Cancels one algo order, retrying transient failures. 'cancelled' once it no longer rests because of this
   * cancel; the order itself when it had ended otherwise (fired, expired) before the cancel arrived.
   */
  private async cancelAlgo(algoId: string): Promise<'cancelled' | WireAlgoOrder> {
    try {
      await this.withVenueRetries(() => this.client.signed({ method: 'DELETE', path: '/fapi/v1/algoOrder', params: { algoId }, schema: cancelAlgoSchema }));
      return 'cancelled';
    } catch (error) {
      if (!(error instanceof OrderNotFoundError)) throw error;
      // "Unknown order": an earlier attempt whose answer was lost cancelled it, or it had already fired.
      const wire = await this.withVenueRetries(() => this.lookupWireAlgo({ algoId }));
      if (!wire) throw error;
      return wire.algoStatus === 'CANCELED' ? 'cancelled' : wire;
    }
  }

  /**
   * Runs a call again after transient failures (a 5xx, a timeout, a dropped connection, a rate-limit hold, whose
   * Retry-After is waited out) with growing pauses, within the configured attempts and time; the last failure is raised.
   */
  private async withVenueRetries<T>(call: () => Promise<T>): Promise<T> {
    const attempts = this.options.replaceRetry?.attempts ?? DEFAULT_REPLACE_ATTEMPTS;
    const deadline = this.now() + (this.options.replaceRetry?.budgetMs ?? DEFAULT_REPLACE_BUDGET_MS);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof TransientError) || attempt >= attempts) throw error;
        const backoff = Math.min(REPLACE_BACKOFF_MS * 2 ** (attempt - 1), REPLACE_BACKOFF_MAX_MS);
        const wait = error instanceof RateLimitError ? Math.max(error.retryAfterMs ?? backoff, this.client.gate.blockedForMs) : backoff;
        if (this.now() + wait > deadline) throw error;
        await this.sleep(wait);
      }
    }
  }

  private async lookupWireAlgo(params: Params): Promise<WireAlgoOrder | undefined> {
    try {
      return await this.client.signed({ method: 'GET', path: '/fapi/v1/algoOrder', params, schema: algoOrderSchema });
    } catch (error) {
      if (error instanceof OrderNotFoundError) return undefined;
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
