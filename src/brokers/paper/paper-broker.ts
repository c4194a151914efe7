// The paper broker: a simulated account behind the Broker interface, matching orders against pushed last prices in its own ledger.
import { signalIdFactory } from '../../domain/ids.ts';
import type { Broker, BrokerHealth, Capabilities, Protection } from '../broker.ts';
import { defaultInstrument } from '../../domain/instrument.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO, toDecimal } from '../../domain/money.ts';
import { isTerminal, transition } from '../../domain/order.ts';
import type {
  AccountSummary, Balance, BracketOrders, BracketRequest, BrokerPosition, Fill, Order, OrderChange, OrderRef,
  OrderRequest, OrderType, Quote, TimeInForce,
} from '../../domain/order.ts';
import {
  DuplicateClientOrderIdError, InsufficientFundsError, InvalidOrderError, InvariantError, NotSupportedError, OrderNotFoundError,
} from '../../domain/errors.ts';
import { PaperLedger } from './ledger.ts';
import type { FillRow, OrderRow } from './ledger.ts';
import { feeFor, matchOrder, reservationPrice, trailingStopPrice } from './matching.ts';
import type { MatchConfig } from './matching.ts';
import { applyFill, closingQuantity, equityOf, freeCash, openingQuantity, requiredFunds } from './accounting.ts';
import type { MarkedPosition } from './accounting.ts';
import type { FeedPricing } from '../../market/feed-pricing.ts';
import type { FeedStats } from '../../market/price-feed.ts';

type DecimalInput = Decimal | string;

export interface PaperBrokerOptions {
  /** The account's name, as configured. */
  name: string;
  /** The ledger's SQLite file; ':memory:' for a throwaway account. */
  ledgerPath: string;
  currency?: string | undefined;
  /** Seeded only when the ledger is new: an existing account keeps its cash. */
  startingCash: DecimalInput;
  /** Fraction of notional per fill ('0.001' is 0.1 %). */
  feeRate?: DecimalInput | undefined;
  /** Fixed fee per fill, in the account currency. */
  feePerOrder?: DecimalInput | undefined;
  /** Market and stop slippage as a percent of the price ('0.05' is 0.05 %). */
  slippagePercent?: DecimalInput | undefined;
  instruments?: ((symbol: string) => Instrument) | undefined;
  clock?: (() => Date) | undefined;
  idSource?: (() => string) | undefined;
  /** A market feed prices the account (config priceFeed): pushed prices are then ignored, and stale ones never matched. */
  priceFeed?: FeedPricing | undefined;
}

const BROKER = 'paper';
const CLIENT_ID_MAX = 48;
const CLIENT_ID_ALPHABET = 'A-Za-z0-9_-';
const CLIENT_ID_PATTERN = new RegExp(`^[${CLIENT_ID_ALPHABET}]+$`);
const ORDER_TYPES: readonly OrderType[] = ['market', 'limit', 'stop', 'stop_limit', 'trailing_stop'];
const TIME_IN_FORCE: readonly TimeInForce[] = ['day', 'gtc', 'ioc', 'fok'];
const CRYPTO_QUOTES = /(USD|USDT|USDC)$/;

/**
 * Instrument rules when none are configured: crypto pairs (a symbol ending in USD, USDT or USDC) trade
 * in 0.00001 steps at a 0.01 tick; anything else is an equity in whole shares.
 */
export function paperInstrument(symbol: string): Instrument {
  const quote = CRYPTO_QUOTES.exec(symbol);
  if (quote && symbol.length > (quote[1] as string).length) {
    return defaultInstrument(symbol, {
      assetClass: 'crypto',
      tickSize: new Decimal('0.01'),
      stepSize: new Decimal('0.00001'),
      minQuantity: new Decimal('0.00001'),
      fractionable: true,
      quoteCurrency: quote[1] as string,
    });
  }
  return defaultInstrument(symbol);
}

export const PAPER_CAPABILITIES: Capabilities = {
  // tradewire places the stop and target once the entry fills and cancels the survivor itself.
  protectionFor: (): Protection => 'after_fill',
  orderTypes: ORDER_TYPES,
  shorting: true,
  fractional: true,
  timeInForce: TIME_IN_FORCE,
  extendedHours: false,
  clientIdMaxLength: CLIENT_ID_MAX,
  clientIdAlphabet: CLIENT_ID_ALPHABET,
  marginPreview: false,
  amend: true,
};

function sameUtcDay(a: Date, b: Date): boolean {
  return a.toISOString().slice(0, 10) === b.toISOString().slice(0, 10);
}

/**
 * A simulated broker. Prices arrive through `updatePrice(s)` (alerts, the position manager, the admin
 * API); every live order on the symbol is matched against each new price. The market has unlimited
 * depth, so an order fills whole: partial fills happen only when a reduce-only order outgrows its position.
 *
 * Funds rule (a cash account that may short): the opening part of an order (what adds exposure) needs
 * free cash for its notional at the worst plausible price plus the fee; for a short, that notional is
 * the cash collateral. A reducing or closing order never needs funds. A resting order holds its
 * reservation until it fills or ends. See accounting.ts for free cash.
 */
export class PaperBroker implements Broker {
  readonly name: string;
  readonly capabilities: Capabilities = PAPER_CAPABILITIES;

  private readonly ledgerPath: string;
  private readonly currency: string;
  private readonly startingCash: Decimal;
  private readonly feeRate: Decimal;
  private readonly feePerOrder: Decimal;
  private readonly slippagePercent: Decimal;
  private readonly lookup: (symbol: string) => Instrument;
  private readonly clock: () => Date;
  private readonly nextId: () => string;
  private readonly feed: FeedPricing | undefined;
  private book: PaperLedger | undefined;

  constructor(options: PaperBrokerOptions) {
    this.name = options.name;
    this.ledgerPath = options.ledgerPath;
    this.currency = options.currency ?? 'USD';
    this.startingCash = toDecimal(options.startingCash);
    this.feeRate = toDecimal(options.feeRate ?? '0');
    this.feePerOrder = toDecimal(options.feePerOrder ?? '0');
    this.slippagePercent = toDecimal(options.slippagePercent ?? '0.05');
    this.lookup = options.instruments ?? paperInstrument;
    this.clock = options.clock ?? (() => new Date());
    this.nextId = options.idSource ?? signalIdFactory();
    this.feed = options.priceFeed;
    for (const [label, value] of [['startingCash', this.startingCash], ['feeRate', this.feeRate], ['feePerOrder', this.feePerOrder], ['slippagePercent', this.slippagePercent]] as const) {
      if (value.isNegative()) throw new RangeError(`paper account '${this.name}': ${label} must not be negative`);
    }
  }

  async connect(): Promise<void> {
    if (this.book?.isOpen) return;
    const ledger = PaperLedger.open(this.ledgerPath);
    try {
      ledger.transaction(() => {
        ledger.seedAccount(this.name, this.currency, this.startingCash, this.clock());
        const account = ledger.account();
        if (account && account.currency !== this.currency) {
          throw new InvariantError(`paper ledger ${this.ledgerPath} is in ${account.currency}, the account '${this.name}' is configured in ${this.currency}`);
        }
      });
    } catch (error) {
      ledger.close();
      throw error;
    }
    this.book = ledger;
    this.feed?.start({ applyFeedPrices: (prices) => this.applyPrices(prices), symbolsInPlay: () => this.symbolsInPlay() });
  }

  async disconnect(): Promise<void> {
    await this.feed?.stop();
    this.book?.close();
    this.book = undefined;
  }

  async health(): Promise<BrokerHealth> {
    const open = this.book?.isOpen === true;
    return { ok: open, latencyMs: 0, detail: open ? `ledger ${this.ledgerPath}` : 'ledger is not open (call connect)' };
  }

  async account(): Promise<AccountSummary> {
    const ledger = this.ledger();
    return ledger.snapshot(() => {
      const cash = this.cash();
      const marked = this.markedPositions();
      const free = freeCash(cash, marked, this.reservedTotal());
      return { currency: this.currency, cash, equity: equityOf(cash, marked), buyingPower: Decimal.max(free, ZERO) };
    });
  }

  async balances(): Promise<Balance[]> {
    const ledger = this.ledger();
    return ledger.snapshot(() => {
      const cash = this.cash();
      const free = freeCash(cash, this.markedPositions(), this.reservedTotal());
      return [{ currency: this.currency, total: cash, available: Decimal.max(free, ZERO) }];
    });
  }

  async instrument(symbol: string): Promise<Instrument> {
    return this.lookup(symbol);
  }

  async quotes(symbols: string[]): Promise<Map<string, Quote>> {
    // An entry being sized asks first: its symbol is subscribed, and its first price awaited a moment.
    if (this.feed) await Promise.all(symbols.map((symbol) => this.feed?.demand(symbol)));
    const ledger = this.ledger();
    const quotes = new Map<string, Quote>();
    for (const symbol of symbols) {
      const last = ledger.lastPrice(symbol);
      if (last) quotes.set(symbol, { symbol, last: last.price, time: last.time });
    }
    return quotes;
  }

  async placeOrder(request: OrderRequest): Promise<Order> {
    const ledger = this.ledger();
    const instrument = this.lookup(request.symbol);
    this.validateRequest(request, instrument);
    await this.feed?.demand(request.symbol);
    const placed = ledger.transaction(() => {
      const now = this.clock();
      this.expireDayOrders(now);
      if (ledger.orderByClientId(request.clientOrderId)) {
        throw new DuplicateClientOrderIdError(`client order id ${request.clientOrderId} was used before`, { broker: BROKER });
      }
      const last = ledger.lastPrice(request.symbol)?.price;
      const held = ledger.position(request.symbol)?.quantity ?? ZERO;
      const reduceOnly = request.reduceOnly === true;
      // A silent feed holds no exit hostage: a market order that only reduces fills at the last price, however old.
      const exitOnly = request.type === 'market' && (reduceOnly || openingQuantity(held, request.side, request.quantity).isZero());
      const tradable = this.tradablePrice(request.symbol) ?? (exitOnly ? last : undefined);
      if (tradable === undefined && (request.type === 'market' || request.type === 'trailing_stop')) {
        throw new InvalidOrderError(last === undefined ? `no price for ${request.symbol} yet` : this.staleReason(request.symbol), { broker: BROKER });
      }
      if (reduceOnly && closingQuantity(held, request.side, request.quantity).isZero()) {
        throw new InvalidOrderError(`reduce-only ${request.side} in ${request.symbol} has no position to reduce`, { broker: BROKER });
      }

      const order: OrderRow = {
        id: this.nextId(),
        clientOrderId: request.clientOrderId,
        symbol: request.symbol,
        side: request.side,
        type: request.type,
        quantity: request.quantity,
        limitPrice: request.limitPrice,
        stopPrice: request.stopPrice,
        trailAmount: request.trailAmount,
        trailPercent: request.trailPercent,
        triggered: false,
        timeInForce: request.timeInForce ?? 'gtc',
        status: transition('pending_submit', 'accepted', request.clientOrderId),
        filledQuantity: ZERO,
        reserved: ZERO,
        reduceOnly,
        leg: request.leg,
        createdAt: now,
        updatedAt: now,
      };
      if (order.type === 'trailing_stop' && last !== undefined) {
        order.waterMark = last;
        order.stopPrice = trailingStopPrice(order.side, last, { amount: order.trailAmount, percent: order.trailPercent }, instrument.tickSize);
      }
      const opening = reduceOnly ? ZERO : openingQuantity(held, order.side, order.quantity);
      order.reserved = this.requiredFor(order, opening, last, instrument);
      this.ensureFunds(order.reserved, ZERO, order.clientOrderId);
      ledger.insertOrder(order);

      let current = tradable === undefined ? order : this.match(order, tradable, now, instrument, true).order;
      // The paper market has unlimited depth, so fok and ioc agree: whatever can fill, fills whole at once.
      if (!isTerminal(current.status) && (current.timeInForce === 'ioc' || current.timeInForce === 'fok')) {
        current = { ...current, status: transition(current.status, 'expired', current.clientOrderId), reserved: ZERO, reason: `${current.timeInForce}: no immediate fill`, updatedAt: now };
        ledger.updateOrder(current);
      }
      return toOrder(current);
    });
    // A venue's acknowledgement is durable: the order (and any fill) is on disk before the caller hears of it.
    await ledger.durable();
    return placed;
  }

  async placeBracket(_request: BracketRequest): Promise<BracketOrders> {
    throw new NotSupportedError('the paper broker protects after the fill: place the entry, then the stop and target', { broker: BROKER });
  }

  async modifyOrder(ref: OrderRef, change: OrderChange): Promise<Order> {
    const ledger = this.ledger();
    const modified = ledger.transaction(() => {
      const now = this.clock();
      this.expireDayOrders(now);
      const found = this.find(ref);
      if (!found) throw new OrderNotFoundError(`no order ${describeRef(ref)}`, { broker: BROKER });
      if (isTerminal(found.status)) throw new InvalidOrderError(`order ${found.clientOrderId} is ${found.status} and cannot be modified`, { broker: BROKER });
      const instrument = this.lookup(found.symbol);
      const next: OrderRow = { ...found, updatedAt: now };
      if (change.quantity !== undefined) {
        checkQuantity(change.quantity, instrument);
        if (change.quantity.lte(found.filledQuantity)) {
          throw new InvalidOrderError(`quantity ${change.quantity} is not above the ${found.filledQuantity} already filled`, { broker: BROKER });
        }
        next.quantity = change.quantity;
      }
      if (change.limitPrice !== undefined) {
        if (found.type !== 'limit' && found.type !== 'stop_limit') throw new InvalidOrderError(`a ${found.type} order has no limit price`, { broker: BROKER });
        checkPrice(change.limitPrice, 'limit price', instrument);
        next.limitPrice = change.limitPrice;
      }
      if (change.stopPrice !== undefined) {
        if (found.type !== 'stop' && found.type !== 'stop_limit') throw new InvalidOrderError(`a ${found.type} order has no stop price to change`, { broker: BROKER });
        checkPrice(change.stopPrice, 'stop price', instrument);
        next.stopPrice = change.stopPrice;
      }
      const last = ledger.lastPrice(found.symbol)?.price;
      const held = ledger.position(found.symbol)?.quantity ?? ZERO;
      const remaining = next.quantity.minus(next.filledQuantity);
      const opening = next.reduceOnly ? ZERO : openingQuantity(held, next.side, remaining);
      next.reserved = this.requiredFor(next, opening, last, instrument);
      // The order's own reservation is released by the amendment, so it counts as free here.
      this.ensureFunds(next.reserved, found.reserved, next.clientOrderId);
      ledger.updateOrder(next);
      const tradable = this.tradablePrice(found.symbol);
      const current = tradable === undefined ? next : this.match(next, tradable, now, instrument, true).order;
      return toOrder(current);
    });
    await ledger.durable();
    return modified;
  }

  async cancelOrder(ref: OrderRef): Promise<void> {
    const ledger = this.ledger();
    ledger.transaction(() => {
      const now = this.clock();
      this.expireDayOrders(now);
      const found = this.find(ref);
      if (!found) throw new OrderNotFoundError(`no order ${describeRef(ref)}`, { broker: BROKER });
      // Cancelling twice is harmless (a retry after a timeout does it); cancelling what has ended otherwise is an error.
      if (found.status === 'cancelled') return;
      if (isTerminal(found.status)) throw new InvalidOrderError(`order ${found.clientOrderId} is already ${found.status}`, { broker: BROKER });
      ledger.updateOrder({ ...found, status: transition(found.status, 'cancelled', found.clientOrderId), reserved: ZERO, reason: 'cancelled on request', updatedAt: now });
    });
    await ledger.durable();
  }

  async getOrder(ref: OrderRef): Promise<Order | undefined> {
    return this.readCurrent(() => {
      const found = this.find(ref);
      return found && toOrder(found);
    });
  }

  async openOrders(symbol?: string): Promise<Order[]> {
    const ledger = this.ledger();
    return this.readCurrent(() => ledger.liveOrders(symbol).map(toOrder));
  }

  /**
   * A read of the venue as it stands now: day orders a new day has ended are expired first. That write is rare, so the
   * read takes the write lock (and commits) only when there is something to expire; lookups are most calls into the venue.
   */
  private readCurrent<T>(read: () => T): T {
    const ledger = this.ledger();
    const now = this.clock();
    const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const result = ledger.snapshot(() => (ledger.liveDayOrdersOutside(new Date(dayStart), new Date(dayStart + 86_400_000)).length > 0
      ? undefined : { value: read() }));
    if (result !== undefined) return result.value;
    return ledger.transaction(() => {
      this.expireDayOrders(now);
      return read();
    });
  }

  async fills(since?: Date, of?: { clientOrderId: string; orderId?: string | undefined }): Promise<Fill[]> {
    const ledger = this.ledger();
    return (of === undefined ? ledger.fills(since) : ledger.fillsOf(of.clientOrderId, of.orderId, since)).map(toFill);
  }

  async positions(): Promise<BrokerPosition[]> {
    const ledger = this.ledger();
    return ledger.snapshot(() => ledger.positions().map((p) => {
      const mark = ledger.lastPrice(p.symbol)?.price ?? p.averagePrice;
      return {
        symbol: p.symbol,
        side: p.quantity.isNegative() ? 'short' : 'long',
        quantity: p.quantity.abs(),
        averagePrice: p.averagePrice,
        markPrice: mark,
        unrealizedPnl: mark.minus(p.averagePrice).mul(p.quantity),
      };
    }));
  }

  async closePosition(symbol: string, clientOrderId: string): Promise<Order> {
    const held = this.ledger().position(symbol)?.quantity;
    if (held === undefined || held.isZero()) throw new InvalidOrderError(`no open position in ${symbol} to close`, { broker: BROKER });
    return this.placeOrder({
      clientOrderId, symbol, side: held.isNegative() ? 'buy' : 'sell', type: 'market', quantity: held.abs(), reduceOnly: true, leg: 'exit',
    });
  }

  /** Records a new last price and matches every live order on the symbol against it; returns the fills it caused. */
  async updatePrice(symbol: string, price: DecimalInput): Promise<Fill[]> {
    return this.updatePrices(new Map([[symbol, price]]));
  }

  /**
   * Several prices in one transaction (the position manager's batch). An account priced by a feed takes none:
   * an alert's or a person's price is not the market's, and a stop must not fire on it.
   */
  async updatePrices(prices: ReadonlyMap<string, DecimalInput> | Readonly<Record<string, DecimalInput>>): Promise<Fill[]> {
    const entries = prices instanceof Map ? [...prices.entries()] : Object.entries(prices);
    const parsed = entries.map(([symbol, value]) => {
      const price = toDecimal(value);
      if (!price.isPositive() || price.isZero()) throw new RangeError(`price for ${symbol} must be positive, got ${price}`);
      return [symbol, price] as const;
    });
    if (this.feed) return [];
    return this.applyPrices(parsed);
  }

  /** How the account's price feed is doing (undefined without one), for /metrics. */
  feedStats(): FeedStats | undefined {
    return this.feed?.stats();
  }

  /** Records each price as the last and matches the symbol's live orders against it, in order, in one transaction. */
  private async applyPrices(parsed: ReadonlyArray<readonly [string, Decimal]>): Promise<Fill[]> {
    const ledger = this.ledger();
    const fills = ledger.transaction(() => {
      const now = this.clock();
      this.expireDayOrders(now);
      const triggered: Fill[] = [];
      for (const [symbol, price] of parsed) {
        ledger.setLastPrice(symbol, price, now);
        const instrument = this.lookup(symbol);
        for (const order of ledger.liveOrders(symbol)) {
          const { fill } = this.match(order, price, now, instrument, false);
          if (fill) triggered.push(toFill(fill));
        }
      }
      return triggered;
    });
    // A price alone is pushed again by the next tick or alert; a fill it set off is a venue's answer, durable before it is told.
    if (fills.length > 0) await ledger.durable();
    return fills;
  }

  /** Symbols the feed must keep watching: a position or a live order in them. */
  private symbolsInPlay(): string[] {
    const ledger = this.ledger();
    return [...new Set([...ledger.positions().filter((p) => !p.quantity.isZero()).map((p) => p.symbol), ...ledger.liveOrders().map((o) => o.symbol)])];
  }

  /** The last price, if orders may be matched against it: with a feed, only while it is no older than staleAfterSeconds. */
  private tradablePrice(symbol: string): Decimal | undefined {
    const last = this.ledger().lastPrice(symbol);
    if (!last) return undefined;
    return this.feed && !this.feed.isFresh(last.time) ? undefined : last.price;
  }

  private staleReason(symbol: string): string {
    const last = this.ledger().lastPrice(symbol);
    const age = last ? Math.round((this.clock().getTime() - last.time.getTime()) / 1000) : undefined;
    return `stale_quote: the ${this.feed?.source ?? 'feed'} price for ${symbol} is ${age ?? '?'} s old (staleAfterSeconds ${(this.feed?.staleAfterMs ?? 0) / 1000}); the paper venue does not trade on it`;
  }

  private ledger(): PaperLedger {
    if (!this.book?.isOpen) throw new InvariantError(`paper account '${this.name}' is not connected`);
    return this.book;
  }

  private cash(): Decimal {
    const account = this.ledger().account();
    if (!account) throw new InvariantError(`paper ledger ${this.ledgerPath} has no account row`);
    return account.cash;
  }

  private markedPositions(): MarkedPosition[] {
    const ledger = this.ledger();
    return ledger.positions().map((p) => ({ quantity: p.quantity, averagePrice: p.averagePrice, mark: ledger.lastPrice(p.symbol)?.price ?? p.averagePrice }));
  }

  private reservedTotal(): Decimal {
    return this.ledger().reservedTotal();
  }

  private matchConfig(instrument: Instrument): MatchConfig {
    return { slippagePercent: this.slippagePercent, tickSize: instrument.tickSize };
  }

  private requiredFor(order: OrderRow, opening: Decimal, last: Decimal | undefined, instrument: Instrument): Decimal {
    if (opening.isZero()) return ZERO;
    const price = reservationPrice(order, last, this.matchConfig(instrument));
    if (price === undefined) return ZERO;
    return requiredFunds(opening, price, feeFor(price.mul(opening), this.feeRate, this.feePerOrder));
  }

  /** Refuses an order whose funds exceed free cash; `released` is what the order itself held before (an amendment). */
  private ensureFunds(required: Decimal, released: Decimal, clientOrderId: string): void {
    if (required.isZero()) return;
    const free = freeCash(this.cash(), this.markedPositions(), this.reservedTotal()).plus(released);
    if (required.gt(free)) {
      throw new InsufficientFundsError(`order ${clientOrderId} needs ${required} ${this.currency}, ${free} is free`, { broker: BROKER });
    }
  }

  /**
   * Matches one live order against a price and writes the outcome: a fill (cash, position, fill row,
   * order) or the state a resting order carries (a triggered stop_limit, a trailing stop's water mark).
   */
  private match(order: OrderRow, last: Decimal, now: Date, instrument: Instrument, atPlacement: boolean): { order: OrderRow; fill?: FillRow } {
    const ledger = this.ledger();
    const outcome = matchOrder(order, last, this.matchConfig(instrument));
    if (outcome.fillPrice === undefined) {
      const moved = outcome.triggered !== order.triggered
        || !sameDecimal(outcome.waterMark, order.waterMark) || !sameDecimal(outcome.stopPrice, order.stopPrice);
      if (!moved) return { order };
      const next = { ...order, triggered: outcome.triggered, waterMark: outcome.waterMark, stopPrice: outcome.stopPrice, updatedAt: now };
      ledger.updateOrder(next);
      return { order: next };
    }

    const held = ledger.position(order.symbol);
    const position = held ? { quantity: held.quantity, averagePrice: held.averagePrice } : { quantity: ZERO, averagePrice: ZERO };
    let quantity = order.quantity.minus(order.filledQuantity);
    let clipped = false;
    if (order.reduceOnly) {
      const closable = closingQuantity(position.quantity, order.side, quantity);
      if (closable.isZero()) {
        const next = { ...order, status: transition(order.status, 'cancelled', order.clientOrderId), reserved: ZERO, reason: 'reduce-only: no position left to reduce', updatedAt: now };
        ledger.updateOrder(next);
        return { order: next };
      }
      clipped = closable.lt(quantity);
      quantity = closable;
    }

    const price = outcome.fillPrice;
    const fee = feeFor(price.mul(quantity), this.feeRate, this.feePerOrder);
    const effect = applyFill(position, order.side, quantity, price, fee);
    ledger.setCash(this.cash().plus(effect.cashDelta), now);
    ledger.setPosition(order.symbol, effect.position.quantity, effect.position.averagePrice, now);
    const fill: FillRow = {
      id: this.nextId(),
      orderId: order.id,
      clientOrderId: order.clientOrderId,
      symbol: order.symbol,
      side: order.side,
      quantity,
      price,
      fee,
      feeCurrency: this.currency,
      // A resting limit added liquidity; anything that crossed the market took it.
      liquidity: !atPlacement && (order.type === 'limit' || order.type === 'stop_limit') ? 'maker' : 'taker',
      realizedPnl: effect.realizedPnl,
      time: now,
    };
    ledger.insertFill(fill);

    const filledQuantity = order.filledQuantity.plus(quantity);
    const averageFillPrice = (order.averageFillPrice ?? ZERO).mul(order.filledQuantity).plus(price.mul(quantity)).div(filledQuantity);
    let next: OrderRow = { ...order, triggered: outcome.triggered, waterMark: outcome.waterMark, stopPrice: outcome.stopPrice, filledQuantity, averageFillPrice, updatedAt: now };
    if (filledQuantity.gte(order.quantity)) {
      next = { ...next, status: transition(order.status, 'filled', order.clientOrderId), reserved: ZERO };
    } else {
      next = { ...next, status: transition(order.status, 'partially_filled', order.clientOrderId) };
      if (clipped) next = { ...next, status: transition(next.status, 'cancelled', order.clientOrderId), reserved: ZERO, reason: 'reduce-only: remainder exceeds the position' };
    }
    ledger.updateOrder(next);
    return { order: next, fill };
  }

  /** Day orders end with the UTC day they were placed in (the paper venue keeps no trading session). */
  private expireDayOrders(now: Date): void {
    const ledger = this.ledger();
    const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    for (const order of ledger.liveDayOrdersOutside(new Date(dayStart), new Date(dayStart + 86_400_000))) {
      if (sameUtcDay(order.createdAt, now)) continue;
      ledger.updateOrder({ ...order, status: transition(order.status, 'expired', order.clientOrderId), reserved: ZERO, reason: 'day order: its UTC day ended', updatedAt: now });
    }
  }

  private find(ref: OrderRef): OrderRow | undefined {
    const ledger = this.ledger();
    const found = 'orderId' in ref ? ledger.orderById(ref.orderId) : ledger.orderByClientId(ref.clientOrderId);
    if (found && ref.symbol !== undefined && found.symbol !== ref.symbol) return undefined;
    return found;
  }

  private validateRequest(request: OrderRequest, instrument: Instrument): void {
    const invalid = (message: string): InvalidOrderError => new InvalidOrderError(message, { broker: BROKER });
    const id = request.clientOrderId;
    if (id.length === 0 || id.length > CLIENT_ID_MAX || !CLIENT_ID_PATTERN.test(id)) {
      throw invalid(`client order id ${JSON.stringify(id)} must be 1–${CLIENT_ID_MAX} characters of [${CLIENT_ID_ALPHABET}]`);
    }
    if (!ORDER_TYPES.includes(request.type)) throw invalid(`order type ${request.type} is not supported`);
    const tif = request.timeInForce ?? 'gtc';
    if (!TIME_IN_FORCE.includes(tif)) throw invalid(`time in force ${tif} is not supported`);
    if ((tif === 'ioc' || tif === 'fok') && request.type !== 'market' && request.type !== 'limit') {
      throw invalid(`${tif} applies to market and limit orders, not ${request.type}`);
    }
    if (request.extendedHours === true) throw new NotSupportedError('the paper broker keeps no sessions: extended hours do not apply', { broker: BROKER });
    checkQuantity(request.quantity, instrument);

    const needsLimit = request.type === 'limit' || request.type === 'stop_limit';
    const needsStop = request.type === 'stop' || request.type === 'stop_limit';
    if (needsLimit) checkPrice(required(request.limitPrice, 'limit price', request.type), 'limit price', instrument);
    else if (request.limitPrice !== undefined) throw invalid(`a ${request.type} order takes no limit price`);
    if (needsStop) checkPrice(required(request.stopPrice, 'stop price', request.type), 'stop price', instrument);
    else if (request.stopPrice !== undefined) throw invalid(`a ${request.type} order takes no stop price`);

    if (request.type === 'trailing_stop') {
      const { trailAmount, trailPercent } = request;
      if ((trailAmount === undefined) === (trailPercent === undefined)) throw invalid('a trailing stop takes exactly one of trailAmount and trailPercent');
      if (trailAmount !== undefined && !isPositive(trailAmount)) throw invalid(`trailAmount must be positive, got ${trailAmount}`);
      if (trailPercent !== undefined && (!isPositive(trailPercent) || trailPercent.gte(100))) throw invalid(`trailPercent must be above 0 and below 100, got ${trailPercent}`);
    } else if (request.trailAmount !== undefined || request.trailPercent !== undefined) {
      throw invalid(`a ${request.type} order takes no trail`);
    }
  }
}

function isPositive(value: Decimal): boolean {
  return value.isPositive() && !value.isZero();
}

function required(value: Decimal | undefined, what: string, type: OrderType): Decimal {
  if (value === undefined) throw new InvalidOrderError(`a ${type} order needs a ${what}`, { broker: BROKER });
  return value;
}

function checkQuantity(quantity: Decimal, instrument: Instrument): void {
  if (!isPositive(quantity)) throw new InvalidOrderError(`quantity must be positive, got ${quantity}`, { broker: BROKER });
  if (instrument.stepSize.gt(0) && !quantity.mod(instrument.stepSize).isZero()) {
    throw new InvalidOrderError(`quantity ${quantity} of ${instrument.symbol} is not a multiple of the step ${instrument.stepSize}`, { broker: BROKER });
  }
  if (quantity.lt(instrument.minQuantity)) {
    throw new InvalidOrderError(`quantity ${quantity} of ${instrument.symbol} is below the minimum ${instrument.minQuantity}`, { broker: BROKER });
  }
}

function checkPrice(price: Decimal, what: string, instrument: Instrument): void {
  if (!isPositive(price)) throw new InvalidOrderError(`${what} must be positive, got ${price}`, { broker: BROKER });
  if (instrument.tickSize.gt(0) && !price.mod(instrument.tickSize).isZero()) {
    throw new InvalidOrderError(`${what} ${price} of ${instrument.symbol} is not a multiple of the tick ${instrument.tickSize}`, { broker: BROKER });
  }
}

function sameDecimal(a: Decimal | undefined, b: Decimal | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.eq(b);
}

function describeRef(ref: OrderRef): string {
  return 'orderId' in ref ? `with id ${ref.orderId}` : `with client order id ${ref.clientOrderId}`;
}

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    clientOrderId: row.clientOrderId,
    symbol: row.symbol,
    side: row.side,
    type: row.type,
    status: row.status,
    quantity: row.quantity,
    filledQuantity: row.filledQuantity,
    averageFillPrice: row.averageFillPrice,
    limitPrice: row.limitPrice,
    stopPrice: row.stopPrice,
    timeInForce: row.timeInForce,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    reason: row.reason,
    parentId: row.parentId,
  };
}

function toFill(row: FillRow): Fill {
  return {
    id: row.id,
    orderId: row.orderId,
    clientOrderId: row.clientOrderId,
    symbol: row.symbol,
    side: row.side,
    quantity: row.quantity,
    price: row.price,
    fee: row.fee,
    feeCurrency: row.feeCurrency,
    liquidity: row.liquidity,
    time: row.time,
  };
}
