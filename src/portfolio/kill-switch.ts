// The kill switch: the day's loss against the equity the account started the day with; at the limit, flatten and halt until the next day.
import { ulid } from 'ulid';
import { HUNDRED, ZERO, Decimal } from '../domain/money.ts';
import { isTerminal, type PositionSide } from '../domain/order.ts';
import { tradingDay } from '../domain/trading-day.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { accountTimeZone, closePosition, idFor, openingSide, recordEntryFills } from '../execution/position-actions.ts';
import { unrealizedPnl as positionPnl } from '../domain/position.ts';
import type { AccountState } from '../store/account-state-repo.ts';
import type { Execution } from '../store/executions-repo.ts';
import type { JournalFill, JournalOrder } from '../store/orders-repo.ts';
import type { Position } from '../store/positions-repo.ts';

export interface DayLossInput {
  /** Equity at the start of the account's trading day. */
  dayStartEquity: Decimal;
  /** Realized P&L of the trades closed today (net of fees). */
  realizedPnl: Decimal;
  /** Today's unrealized P&L: at current marks, less what was carried into the day. */
  unrealizedPnl: Decimal;
  maxDailyLossPercent: Decimal;
}

export interface DayLoss {
  /** Positive when the day is losing; zero or negative when it is not. */
  loss: Decimal;
  /** loss ÷ dayStartEquity × 100, exact. */
  lossPercent: Decimal;
  /** True when the loss has reached the limit (≥, not >). */
  reached: boolean;
}

/** The threshold math, pure and exact: a day that is not losing never trips, whatever the base. */
export function dayLoss(input: DayLossInput): DayLoss {
  const loss = input.realizedPnl.plus(input.unrealizedPnl).negated();
  if (input.dayStartEquity.lte(0)) return { loss, lossPercent: ZERO, reached: loss.gt(0) };
  const lossPercent = loss.div(input.dayStartEquity).mul(HUNDRED);
  return { loss, lossPercent, reached: loss.gt(0) && lossPercent.gte(input.maxDailyLossPercent) };
}

/** The trading day after `day` ('YYYY-MM-DD'): the day a kill-switch halt lifts by itself. */
export function nextTradingDay(day: string): string {
  const next = new Date(`${day}T00:00:00.000Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().slice(0, 10);
}

/** Unrealized P&L of a position at a mark: (mark − entry) × quantity, signed by side (the domain's, kept here for its callers). */
export function unrealizedPnl(position: Pick<Position, 'side' | 'quantity' | 'averageEntryPrice'>, mark: Decimal): Decimal {
  return positionPnl(position, mark);
}

/**
 * Relative slack of the position loop's screen. Its doubles carry an error of at most about n × 1.1e-16 of the
 * magnitude it reports (n positions, so below 1e-11 up to 100,000 of them); 1e-9 leaves two orders to spare, so a
 * day the screen calls clear of the limit is clear of it in exact arithmetic too.
 */
const SCREEN_SLACK = 1e-9;

/**
 * Remembers that the kill switch tripped on an account's day, so that a `resume` the same day is not undone by the
 * next tick. main.ts passes the Redis-backed run log (src/jobs/run-log.ts); without one it is kept in memory.
 */
export interface TripLog {
  has(job: string, key: string): Promise<boolean>;
  record(job: string, key: string, detail?: Record<string, unknown>): Promise<void>;
}

export interface KillSwitchEvaluation {
  account: string;
  tradingDay: string;
  dayStartEquity: Decimal;
  realizedPnl: Decimal;
  /** Today's part of the unrealized P&L: at current marks, less what the positions carried into the day had made. */
  unrealizedPnl: Decimal;
  loss: Decimal;
  lossPercent: Decimal;
  limitPercent: Decimal;
  reached: boolean;
  /** This call tripped it (halted, and flattened if configured). */
  tripped: boolean;
  /** Entries are halted at the account now (by the kill switch or anything else). */
  halted: boolean;
  /** Positions this call closed, and what it could not close yet (retried on the next call). */
  closed: string[];
  pending: string[];
  cancelledEntries: string[];
  /** Symbols held with no mark given: counted at their entry price. */
  unmarked: string[];
}

export type HeldPosition = Pick<Position, 'status' | 'symbol' | 'side' | 'quantity' | 'averageEntryPrice'>;

export interface EvaluateOptions {
  now?: Date | undefined;
  /** Current prices by symbol (the position loop's batch). */
  marks: ReadonlyMap<string, Decimal>;
  /** The account's live positions as the caller holds them (the loop's book); absent: read from the journal. */
  positions?: readonly HeldPosition[] | undefined;
}

/** What the position loop hands over each tick: a screen in doubles, and the exact inputs on demand. */
export interface WatchInput {
  now?: Date | undefined;
  /** Σ (mark − entry) × quantity × side over the marked positions, in doubles, and Σ (|mark| + |entry|) × quantity. */
  estimate: { unrealized: number; magnitude: number };
  positions: () => readonly HeldPosition[];
  marks: () => ReadonlyMap<string, Decimal>;
  /**
   * A number that changes whenever the journal may have changed (the loop's own water-mark writes aside): the
   * account's state and today's realized P&L are read again only then. Undefined: read every time.
   */
  generation?: number | undefined;
}

const JOB = 'kill_switch';

class MemoryTripLog implements TripLog {
  private readonly keys = new Set<string>();
  async has(job: string, key: string): Promise<boolean> { return this.keys.has(`${job}:${key}`); }
  async record(job: string, key: string): Promise<void> { this.keys.add(`${job}:${key}`); }
}

export interface KillSwitchOptions {
  trips?: TripLog | undefined;
  /** How long a flatten waits for each exit to fill (default 10 s). */
  fillTimeoutMs?: number | undefined;
}

export class KillSwitch {
  private readonly trips: TripLog;
  private readonly fillTimeoutMs: number;
  private readonly days = new Map<string, { minute: number; day: string }>();
  /** watch()'s reads per account, valid for one journal generation. */
  private readonly seen = new Map<string, { generation: number; day: string; state: AccountState | undefined; realized: number }>();

  constructor(private readonly ctx: ExecutionContext, options: KillSwitchOptions = {}) {
    this.trips = options.trips ?? new MemoryTripLog();
    this.fillTimeoutMs = options.fillTimeoutMs ?? 10_000;
  }

  /**
   * The position loop's call, every tick and account. The exact evaluation (a Decimal product per position) runs
   * only on the first call of a trading day (it takes the day's base), while today's trip stands and flattening is
   * on, and when the screen cannot rule out the limit; otherwise undefined: the day is clearly short of it. The
   * realized part is always exact (today's closes, a handful of rows).
   */
  async watch(account: string, input: WatchInput): Promise<KillSwitchEvaluation | undefined> {
    const { ctx } = this;
    const now = input.now ?? ctx.now();
    const day = this.dayOf(now, accountTimeZone(ctx, account));
    const exact = (): Promise<KillSwitchEvaluation> => {
      this.seen.delete(account); // the evaluation may write (the day's base, the halt, closes): read afresh next time
      return this.evaluate(account, { now, marks: input.marks(), positions: input.positions() });
    };
    let seen = this.seen.get(account);
    if (input.generation === undefined || seen?.generation !== input.generation || seen.day !== day) {
      const state = ctx.accountState.get(account);
      const realized = ctx.positions.closedOnDay(account, day).reduce((sum, c) => sum.plus(c.realizedPnl), ZERO).toNumber();
      seen = { generation: input.generation ?? -1, day, state, realized };
      if (input.generation !== undefined) this.seen.set(account, seen);
    }
    const { state, realized } = seen;
    if (state?.tradingDay !== day || state.dayStartEquity === undefined || state.dayStartEquity.lte(0)) return exact();
    const settings = ctx.config().accounts[account]?.killSwitch;
    if ((settings?.flatten ?? true) && killSwitchHaltStands(state, day)) return exact();
    const limit = state.dayStartEquity.mul(settings?.maxDailyLossPercent ?? new Decimal(5)).div(HUNDRED).toNumber();
    const carriedIn = state.dayStartUnrealized?.toNumber() ?? 0;
    const loss = -(realized + input.estimate.unrealized - carriedIn);
    const slack = (input.estimate.magnitude + Math.abs(realized) + Math.abs(carriedIn) + Math.abs(limit)) * SCREEN_SLACK;
    return loss + slack < limit ? undefined : exact();
  }

  /** The trading day, formatted once a minute per time zone (every zone's day starts on a whole minute). */
  private dayOf(now: Date, timeZone: string): string {
    const minute = Math.floor(now.getTime() / 60_000);
    const cached = this.days.get(timeZone);
    if (cached?.minute === minute) return cached.day;
    const day = tradingDay(now, timeZone);
    this.days.set(timeZone, { minute, day });
    return day;
  }

  /**
   * Evaluates one account; safe to call every tick. The day's base is taken from the broker at the first call of a
   * new trading day; the halt is in SQLite (it survives a restart) and lifts by itself on the next trading day.
   * Once tripped, later calls the same day keep flattening what is still open while the halt stands (a close that
   * was busy or unfilled is retried); after a manual `resume` the same day it does not trip again that day.
   */
  async evaluate(account: string, options: EvaluateOptions): Promise<KillSwitchEvaluation> {
    const { ctx } = this;
    const now = options.now ?? ctx.now();
    const day = tradingDay(now, accountTimeZone(ctx, account));
    const settings = ctx.config().accounts[account]?.killSwitch;
    const limitPercent = settings?.maxDailyLossPercent ?? new Decimal(5);
    const flatten = settings?.flatten ?? true;

    const unmarked: string[] = [];
    let unrealized = ZERO;
    for (const position of options.positions ?? ctx.positions.listOpen(account)) {
      if (position.status === 'opening') continue;
      const mark = options.marks.get(position.symbol);
      if (mark === undefined) { unmarked.push(position.symbol); continue; }
      unrealized = unrealized.plus(unrealizedPnl(position, mark));
    }

    let state = ctx.accountState.get(account);
    if (state?.tradingDay !== day || state.dayStartEquity === undefined) {
      // The day's base: the equity now, and what the positions carried into the day had gained or lost by now (not today's).
      const equity = (await ctx.brokers.get(account).account()).equity;
      ctx.accountState.setDayStart(account, day, equity, unrealized);
      ctx.logger.info({ event: 'kill_switch.day_start', account, tradingDay: day, equity: equity.toFixed(), unrealized: unrealized.toFixed() },
        `day ${day} of ${account} starts at equity ${equity.toFixed()}, holding ${unrealized.toFixed()} unrealized`);
      state = ctx.accountState.get(account);
    }
    const dayStartEquity = state?.dayStartEquity ?? ZERO;
    const dayStartUnrealized = state?.dayStartUnrealized ?? ZERO;

    const realized = ctx.positions.closedOnDay(account, day).reduce((sum, c) => sum.plus(c.realizedPnl), ZERO);
    // A position carried in from yesterday: its realized or unrealized P&L runs from its entry, and the part it had
    // made by the day's start is not today's. Subtracting the day-start total counts each piece once.
    const todaysUnrealized = unrealized.minus(dayStartUnrealized);
    const math = dayLoss({ dayStartEquity, realizedPnl: realized, unrealizedPnl: todaysUnrealized, maxDailyLossPercent: limitPercent });
    const result: KillSwitchEvaluation = {
      account, tradingDay: day, dayStartEquity, realizedPnl: realized, unrealizedPnl: todaysUnrealized, ...math, limitPercent,
      tripped: false, halted: ctx.accountState.isHalted(account, day), closed: [], pending: [], cancelledEntries: [], unmarked,
    };

    // The halt in SQLite says so too: a restart with a fresh trip log does not trip (and log, and halt) a second time.
    const trippedToday = killSwitchHaltStands(ctx.accountState.get(account), day) || await this.trips.has(JOB, `${account}:${day}`);
    if (!trippedToday) {
      if (!math.reached) return result;
      await this.trips.record(JOB, `${account}:${day}`, { lossPercent: math.lossPercent.toFixed(), at: now.toISOString() });
      const reason = `kill_switch: day loss ${math.loss.toFixed()} is ${math.lossPercent.toDecimalPlaces(4).toFixed()}% of ${dayStartEquity.toFixed()} (limit ${limitPercent.toFixed()}%)`;
      // A halt by hand (no end day) is longer than the kill switch's: it stays as it is.
      const current = ctx.accountState.get(account);
      if (!(current?.halted === true && current.haltedUntilDay === undefined)) ctx.accountState.halt(account, reason, nextTradingDay(day));
      ctx.logger.error({ event: 'kill_switch.tripped', account, tradingDay: day, loss: math.loss.toFixed(), lossPercent: math.lossPercent.toFixed(),
        limitPercent: limitPercent.toFixed(), flatten }, `kill switch: ${reason}; entries halted until ${nextTradingDay(day)}`);
      ctx.notify?.({ type: 'kill_switch', account, reason, flatten });
      result.tripped = true;
      result.halted = true;
    } else if (!result.halted) {
      return result; // resumed by hand after today's trip
    }
    if (flatten) await this.flatten(account, result);
    return result;
  }

  /**
   * Waits for the account's executions in flight, cancels resting entries (and any the broker holds from an intent
   * in doubt), then closes every open tradewire position (never an external one) with reason kill_switch.
   */
  private async flatten(account: string, result: KillSwitchEvaluation): Promise<void> {
    const { ctx } = this;
    const broker = ctx.brokers.get(account);
    // The halt is in the journal now, and every executor reads it again just before an entry leaves: a job started
    // from here on places none. One already past that check is sending its entry, or booking and protecting its
    // fill: waited for (at most the fill timeout), so that its entry is cancelled or its position closed below.
    const stillRunning = new Set((await this.inFlightSettled(account)).map((e) => e.id));
    for (const order of ctx.orders.openOrders(account)) {
      if (order.leg !== 'entry') continue;
      try {
        let after = order;
        if (order.status === 'pending_submit' || order.status === 'unknown') {
          // Its job did not finish in time (or died): ask the broker, never send it; a live one there is cancelled.
          after = await ctx.tracker.refresh(broker, order.clientOrderId);
        }
        if (after.status !== 'pending_submit' && after.status !== 'unknown' && !isTerminal(after.status)) {
          after = await ctx.tracker.cancel(broker, order.clientOrderId);
          result.cancelledEntries.push(order.clientOrderId);
        }
        // What it filled is closed below with the rest: booked first unless its own job is still at it.
        if (after.executionId === undefined || !stillRunning.has(after.executionId)) bookUnbookedFills(ctx, after);
      } catch (error) {
        ctx.logger.error({ event: 'kill_switch.cancel_failed', account, clientOrderId: order.clientOrderId, err: String(error) }, 'kill switch could not cancel a resting entry');
      }
    }
    for (const position of ctx.positions.listOpen(account)) {
      if (position.status !== 'open' && position.status !== 'closing') continue;
      try {
        const instrument = await broker.instrument(position.symbol);
        const outcome = await closePosition(ctx, broker, instrument, position, {
          reason: 'kill_switch', clientOrderId: exitIdFor(ctx, broker, position), fillTimeoutMs: this.fillTimeoutMs,
        });
        if (outcome.kind === 'closed') result.closed.push(position.symbol);
        else result.pending.push(position.symbol);
      } catch (error) {
        result.pending.push(position.symbol);
        ctx.logger.error({ event: 'kill_switch.close_failed', account, symbol: position.symbol, err: String(error) }, 'kill switch could not close a position');
      }
    }
  }

  /** Waits until no execution of the account is running (a live lease), at most the fill timeout; returns those still running. */
  private async inFlightSettled(account: string): Promise<Execution[]> {
    const { ctx } = this;
    const deadline = ctx.now().getTime() + this.fillTimeoutMs;
    let running = ctx.executions.listRunning(account, ctx.now());
    if (running.length === 0) return running;
    ctx.logger.warn({ event: 'kill_switch.waiting', account, executions: running.map((e) => e.signalId) }, `kill switch waits for ${running.length} execution(s) in flight`);
    while (running.length > 0 && ctx.now().getTime() < deadline) {
      await ctx.sleep(IN_FLIGHT_POLL_MS);
      running = ctx.executions.listRunning(account, ctx.now());
    }
    if (running.length > 0) {
      ctx.logger.error({ event: 'kill_switch.in_flight', account, executions: running.map((e) => e.signalId) },
        'executions still in flight after the wait: flattening what is booked now; the next evaluation takes the rest');
    }
    return running;
  }
}

/**
 * An entry that filled (in whole or part) beyond what the journal's positions hold, a resting entry whose fills
 * nobody had seen yet: its position is opened or grown by the fills it lacks, so that the flatten closes them too.
 */
function bookUnbookedFills(ctx: ExecutionContext, entry: JournalOrder): void {
  if (entry.filledQuantity.lte(0)) return;
  const fills = ctx.orders.fillsForOrder(entry.clientOrderId);
  if (fills.length === 0) return;
  const owner = { account: entry.account, strategy: entry.strategy, symbol: entry.symbol, signalId: entry.signalId };
  let position = entry.positionId ? ctx.positions.findById(entry.positionId) : undefined;
  if (!position) {
    const open = ctx.positions.findOpen(entry.account, entry.symbol);
    if (open && (open.signalId === undefined || open.signalId !== entry.signalId)) {
      ctx.logger.error({ event: 'kill_switch.entry_unbooked', account: entry.account, clientOrderId: entry.clientOrderId, positionId: open.id },
        'a filled entry meets another live position in its symbol: left for reconciliation');
      return;
    }
    if (open) {
      ctx.orders.linkPosition(entry.clientOrderId, open.id);
      position = open;
    }
  }
  if (!position) {
    const side: PositionSide = entry.side === 'buy' ? 'long' : 'short';
    recordEntryFills(ctx, owner, ulid(), side, undefined, entry, tradingDay(ctx.now(), accountTimeZone(ctx, entry.account)), fills);
    return;
  }
  if (position.status !== 'open') return;
  // The position's fills (opening side plus, closing side minus) beyond its booked quantity are this entry's newest.
  const opening = openingSide(position.side);
  const net = ctx.orders.ordersForPosition(position.id).reduce((sum, order) => {
    const filled = ctx.orders.fillsForOrder(order.clientOrderId).reduce((s, f) => s.plus(f.quantity), ZERO);
    return order.side === opening ? sum.plus(filled) : sum.minus(filled);
  }, ZERO);
  let missing = net.minus(position.quantity);
  const unbooked: JournalFill[] = [];
  for (let i = fills.length - 1; i >= 0 && missing.gt(0); i -= 1) {
    const fill = fills[i] as JournalFill;
    unbooked.unshift(fill);
    missing = missing.minus(fill.quantity);
  }
  if (unbooked.length > 0) recordEntryFills(ctx, owner, position.id, position.side, position, entry, position.tradingDay, unbooked);
}

/** How often the kill switch looks again whether an execution in flight has finished. */
const IN_FLIGHT_POLL_MS = 25;

/** The account is halted by today's kill-switch trip (its reason, lifting tomorrow), not by hand. */
function killSwitchHaltStands(state: { halted: boolean; haltedReason?: string | undefined; haltedUntilDay?: string | undefined } | undefined, day: string): boolean {
  return state?.halted === true && state.haltedReason?.startsWith('kill_switch') === true && state.haltedUntilDay === nextTradingDay(day);
}

/**
 * The client id of a close tradewire starts on a position: a live exit already in the journal is reused (the
 * tracker then looks it up instead of placing another); otherwise the next sequence number.
 */
export function exitIdFor(ctx: ExecutionContext, broker: Parameters<typeof idFor>[0], position: Position): string {
  const exits = ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'exit');
  const live = exits.find((o) => !isTerminal(o.status));
  if (live) return live.clientOrderId;
  return idFor(broker, { source: position.id, account: position.account, leg: 'exit', sequence: exits.length + 1 });
}
