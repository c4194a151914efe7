// The position loop: per account and tick, one batched quote call; marks, trails, emulated stops and targets, protective fills, resting entries, lapsed closes.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Statement } from 'better-sqlite3';
import { ulid } from 'ulid';
import type { Broker } from '../brokers/broker.ts';
import { ProtectionLostError } from '../domain/errors.ts';
import type { Instrument } from '../domain/instrument.ts';
import { roundToTickDirected, ZERO, type Decimal } from '../domain/money.ts';
import { isTerminal, type Order, type PositionSide } from '../domain/order.ts';
import { observePrice, trailingStopLevel, unrealizedPnl } from '../domain/position.ts';
import type { Signal } from '../domain/signal.ts';
import { tradingDay } from '../domain/trading-day.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { resumeInterruptedEntry } from '../execution/interrupted-entry.ts';
import {
  accountTimeZone, cancelProtection, closePosition, closeRecord, closeRecordOf, currentLegs, idFor, openingSide, placeProtection, protectionLegsFor,
  protectiveOrders, recordEntryFills, reducePosition, resizedProtectionIds, syncProtection, type CloseOutcome,
} from '../execution/position-actions.ts';
import { parseAlert } from '../intake/parse.ts';
import type { SqliteDatabase } from '../store/db.ts';
import { decimalText } from '../store/columns.ts';
import type { JournalFill, JournalOrder } from '../store/orders-repo.ts';
import type { ExitReason, Position, Protection } from '../store/positions-repo.ts';
import { approximate, fastLevels, type FastLevels } from './fast-levels.ts';
import { BookScreen, MarkTable, type Mark, type UnrealizedEstimate } from './screen.ts';
import type { KillSwitch } from './kill-switch.ts';
import { hasLevels, isManaged, levelReached, pendingLevels, replaceStop, restingStop, stopMoveNow, timeExitNow } from './stop-moves.ts';
import type { TargetLevelSpec } from '../domain/scale-out.ts';
import { bestPrice } from '../domain/trade-management.ts';

export interface PositionManagerOptions {
  /** Time from the start of one tick to the start of the next; a tick that runs longer delays the next, never overlaps it. */
  intervalMs: number;
  /**
   * The journal's database. With it a tick re-reads only the positions whose row changed, and reads nothing when
   * SQLite says nothing was written since the last look; trailing water marks are written in one transaction per
   * tick. Without it every tick reloads and parses every open position (~40 µs a row) and writes marks one by one.
   */
  db?: SqliteDatabase | undefined;
  /** Evaluated per account at the end of each tick with that tick's marks (day loss, flatten, halt). */
  killSwitch?: KillSwitch | undefined;
  /** How long a close waits for its exit to fill before its claim is left to lapse (then the loop retries). Default 5 s. */
  fillTimeoutMs?: number | undefined;
  /** Failed closes of one position before its account is halted. Default 3. */
  maxCloseAttempts?: number | undefined;
  /** Closes run at the same time within one account's tick. Default 4. */
  closeConcurrency?: number | undefined;
}

/** One open position as the loop last saw it: its mark and exact unrealized P&L (gross, before fees). */
export interface PositionMark {
  positionId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: PositionSide;
  status: Position['status'];
  quantity: Decimal;
  averageEntryPrice: Decimal;
  entryFees: Decimal;
  protection?: Protection | undefined;
  stopPrice?: Decimal | undefined;
  targetPrice?: Decimal | undefined;
  /** Where a trailing stop stands now (from the water mark), or where the broker holds it. */
  trailingStop?: Decimal | undefined;
  highWater?: Decimal | undefined;
  lowWater?: Decimal | undefined;
  mark?: Decimal | undefined;
  markedAt?: Date | undefined;
  unrealizedPnl?: Decimal | undefined;
}

export interface AccountMarks {
  account: string;
  positions: PositionMark[];
  /** Sum of the positions' unrealized P&L that have a mark. */
  unrealizedPnl: Decimal;
  lastQuoteAt?: Date | undefined;
  lastError?: string | undefined;
}

export interface ManagerSnapshot {
  ticks: number;
  lastTickMs: number | undefined;
  lastTickAt: Date | undefined;
  /** The event loop's delay p99 since start (monitorEventLoopDelay), in ms. */
  eventLoopDelayP99Ms: number | undefined;
  accounts: AccountMarks[];
}

/** A position in the loop's memory, with what the hot path needs precomputed. */
interface Watched {
  position: Position;
  /** The row's updated_at as stored (ISO text): a different one means the row changed. */
  stamp: string;
  levels: FastLevels;
  /** The best price seen since the loop began watching it (for stop moves), in memory. */
  best?: Decimal | undefined;
  trailing: boolean;
  pnl?: { mark: Decimal; value: Decimal } | undefined;
  brokerStop?: Decimal | undefined;
  /** Entry price, quantity and the side's sign as doubles, for the kill switch's screen (never for a stored result). */
  entry: number;
  quantity: number;
  sign: 1 | -1;
  /** Its symbol's mark in the book: read without a lookup per position. */
  mark: Mark;
}

interface Book {
  positions: Map<string, Watched>;
  /** Loaded from the journal once (db mode); after that only changed rows are read. */
  loaded: boolean;
  /**
   * The symbols of the positions in the book and the book in packed form for the per-tick pass. Dropped whenever a
   * position joins or leaves the book or is replaced by a newer read (status, quantity, entry); rebuilt when needed.
   */
  shape?: Shape | undefined;
  /** The account's live orders in the journal, and the generation they were read at (db mode). */
  openOrders?: { generation: number; orders: JournalOrder[] } | undefined;
  /** One mark per symbol, updated in place by each quote; every position in the symbol holds a reference to it. */
  marks: MarkTable;
  lastQuoteAt?: Date | undefined;
  lastError?: string | undefined;
}

/** A book's symbols with their marks (same order), and its positions packed for the per-tick pass. */
interface Shape {
  symbols: string[];
  marks: Mark[];
  screen: BookScreen<Watched>;
  /** The positions whose strategy manages its trades (stop moves, a time limit): looked at every tick. */
  managed: Watched[];
}

type CloseTask = { position: Position; reason: ExitReason; retry: boolean };

/** How far back each incremental read looks past the newest change it saw: covers writes in the same ms and small clock skew between processes. */
const CURSOR_MARGIN_MS = 5_000;

const reasonOfLeg = (order: JournalOrder): ExitReason =>
  order.leg === 'target' ? 'take_profit' : order.leg === 'stop' ? (order.type === 'trailing_stop' ? 'trailing_stop' : 'stop_loss') : 'signal';

/**
 * Watches every open position tradewire holds. Started once by main (role monitor or all); `tick()` is one pass.
 * Accounts run side by side and apart: a broker that fails on one account is logged and the others carry on.
 */
export class PositionManager {
  private readonly books = new Map<string, Book>();
  private readonly instruments = new Map<string, Instrument>();
  /** Failed closes per position (reset when it closes). */
  private readonly closeFailures = new Map<string, number>();
  /** Why the loop itself started closing a position, for a retry after its claim lapsed. */
  private readonly closeReasons = new Map<string, ExitReason>();
  private readonly warned = new Set<string>();
  /** Emulated scale-out levels per position (null: none), read once from its entry's alert or its strategy. */
  private readonly levelSpecs = new Map<string, readonly TargetLevelSpec[] | null>();
  private readonly fillTimeoutMs: number;
  private readonly maxCloseAttempts: number;
  private readonly closeConcurrency: number;
  private readonly changedRows: Statement<[string]> | undefined;
  private readonly totalChanges: Statement<[]> | undefined;
  private readonly dataVersion: Statement<[]> | undefined;
  private readonly writeHigh: Statement<[string, string, string]> | undefined;
  private readonly writeLow: Statement<[string, string, string]> | undefined;
  /** Latest updated_at seen across accounts (db mode). */
  private cursor = '';
  /** The journal's version (other connections' commits, this connection's changes) the loop has accounted for. */
  private knownVersion: string | undefined;
  /** Bumped whenever the journal changed by anything but the loop's own water-mark writes; reads are cached against it. */
  private generation = 0;
  /** The generation the books were last brought up to. */
  private booksGeneration: number | undefined;
  /** Water marks moved this tick, written together at its end: position id → [column, value, stamp, its book entry]. */
  private readonly pendingMarks = new Map<string, ['high' | 'low', string, string, Watched]>();
  private inFlight: Promise<void> | undefined;
  /** The pass in flight covers only the accounts a stream event named (not a tick of them all). */
  private inFlightPartial = false;
  /** Accounts a stream event asked to look at now, and the pass that will. */
  private readonly urgent = new Set<string>();
  private urgentPass: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticks = 0;
  /** Numbers the ticks as they start (`ticks` counts them as they finish). */
  private tickNumber = 0;
  private lastTickAt: Date | undefined;
  private delay: IntervalHistogram | undefined;

  /** Duration of the last finished tick, in ms. */
  lastTickMs: number | undefined;

  constructor(private readonly ctx: ExecutionContext, private readonly options: PositionManagerOptions) {
    this.fillTimeoutMs = options.fillTimeoutMs ?? 5_000;
    this.maxCloseAttempts = options.maxCloseAttempts ?? 3;
    this.closeConcurrency = Math.max(1, options.closeConcurrency ?? 4);
    const { db } = options;
    this.changedRows = db?.prepare<[string]>('SELECT account, id, updated_at, status FROM positions WHERE updated_at >= ?').raw();
    this.totalChanges = db?.prepare<[]>('SELECT total_changes()').pluck();
    this.dataVersion = db?.prepare<[]>('PRAGMA data_version').pluck();
    // Only the mark and the stamp, and never on a closed row: another process may have closed it meanwhile.
    this.writeHigh = db?.prepare<[string, string, string]>("UPDATE positions SET high_water = ?, updated_at = ? WHERE id = ? AND status <> 'closed'");
    this.writeLow = db?.prepare<[string, string, string]>("UPDATE positions SET low_water = ?, updated_at = ? WHERE id = ? AND status <> 'closed'");
  }

  /** Starts the loop: a tick now, then one every intervalMs (measured start to start; a long tick delays the next). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.delay = monitorEventLoopDelay({ resolution: 10 });
    this.delay.enable();
    this.schedule(0);
  }

  /** Stops the loop; resolves once the tick in flight (if any) has finished, so no close is left half-written. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.delay?.disable();
    this.urgent.clear();
    await this.urgentPass;
    await this.inFlight;
  }

  /**
   * One pass over every account. A call while a tick runs joins that tick instead of starting a second; a call while
   * a stream's pass over one account runs waits for it and then ticks.
   */
  tick(): Promise<void> {
    if (this.inFlight) return this.inFlightPartial ? this.inFlight.then(() => this.tick()) : this.inFlight;
    const started = performance.now();
    this.inFlightPartial = false;
    this.inFlight = this.runTick().finally(() => {
      this.lastTickMs = performance.now() - started;
      this.lastTickAt = this.ctx.now();
      this.ticks += 1;
      this.inFlight = undefined;
      if (this.lastTickMs > this.options.intervalMs) {
        this.ctx.logger.warn({ event: 'positions.tick_slow', ms: Math.round(this.lastTickMs), intervalMs: this.options.intervalMs }, 'position tick took longer than its interval');
      }
    });
    return this.inFlight;
  }

  /**
   * A broker's stream says an order of this account changed (a protective leg or an entry filled, a leg was
   * cancelled), or the stream has just (re)connected and what it missed must be read by REST. The account gets
   * the tick's own pass at once (entries followed, one-cancels-other, fills booked) instead of at the next tick;
   * never alongside a tick: it waits for the one in flight. Events that arrive meanwhile share one pass. The
   * returned promise settles when that pass is done (it never rejects).
   */
  onOrderUpdate(account: string, clientOrderId?: string): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.ctx.logger.debug({ event: 'positions.stream_update', account, clientOrderId }, 'an order stream event: looking at the account now');
    this.urgent.add(account);
    this.urgentPass ??= this.runUrgent().finally(() => {
      this.urgentPass = undefined;
      // An event that arrived after the last pass took its accounts, but before this settled.
      if (this.urgent.size > 0) void this.onOrderUpdate([...this.urgent][0] as string);
    });
    return this.urgentPass;
  }

  private async runUrgent(): Promise<void> {
    // One turn of the event loop first: the frames of one burst (Binance's ORDER_TRADE_UPDATE and its ACCOUNT_UPDATE)
    // are read in the same turn, and share this pass instead of queueing a second one.
    await new Promise<void>((resolve) => { setImmediate(resolve); });
    while (this.urgent.size > 0 && this.running) {
      while (this.inFlight) await this.inFlight;
      if (!this.running) return;
      const accounts = [...this.urgent];
      this.urgent.clear();
      this.inFlightPartial = true;
      this.inFlight = this.runTick(accounts).finally(() => {
        this.inFlight = undefined;
        this.inFlightPartial = false;
      });
      await this.inFlight;
    }
  }

  /** The last marks and exact unrealized P&L, per account (for the CLI and the API). */
  snapshot(): ManagerSnapshot {
    const accounts: AccountMarks[] = [];
    for (const [account, book] of this.books) {
      let total = ZERO;
      const positions: PositionMark[] = [];
      for (const watched of book.positions.values()) {
        const p = watched.position;
        const mark = watched.mark.price === undefined ? undefined : { price: watched.mark.price, at: new Date(watched.mark.at) };
        let pnl: Decimal | undefined;
        if (mark) {
          // Exact, and computed when asked: the hot path keeps the mark, not 10,000 Decimal products per tick.
          if (watched.pnl?.mark !== mark.price) watched.pnl = { mark: mark.price, value: unrealizedPnl(p, mark.price) };
          pnl = watched.pnl.value;
          total = total.plus(pnl);
        }
        positions.push({
          positionId: p.id, account, strategy: p.strategy, symbol: p.symbol, side: p.side, status: p.status, quantity: p.quantity,
          averageEntryPrice: p.averageEntryPrice, entryFees: p.entryFees, protection: p.protection, stopPrice: p.stopPrice, targetPrice: p.targetPrice,
          trailingStop: watched.brokerStop ?? (watched.trailing ? trailingStopLevel(p) : undefined), highWater: p.highWater, lowWater: p.lowWater,
          mark: mark?.price, markedAt: mark?.at, unrealizedPnl: pnl,
        });
      }
      accounts.push({ account, positions, unrealizedPnl: total, lastQuoteAt: book.lastQuoteAt, lastError: book.lastError });
    }
    const p99 = this.delay && this.delay.count > 0 ? this.delay.percentile(99) / 1e6 : undefined;
    return { ticks: this.ticks, lastTickMs: this.lastTickMs, lastTickAt: this.lastTickAt, eventLoopDelayP99Ms: p99, accounts };
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = performance.now();
      void this.tick().then(() => {
        this.schedule(Math.max(0, this.options.intervalMs - (performance.now() - started)));
      });
    }, delayMs);
  }

  /** Never rejects: a failure is logged (per account where it belongs to one) and the loop goes on. */
  private async runTick(only?: readonly string[]): Promise<void> {
    this.tickNumber += 1;
    const all = this.ctx.brokers.accounts();
    // The books of every account are brought up together (one cursor for them all), even for a pass over a few.
    const accounts = only ? all.filter((a) => only.includes(a)) : all;
    try {
      if (this.options.db) await this.syncBooks(all);
    } catch (error) {
      this.ctx.logger.error({ event: 'positions.tick_failed', err: error instanceof Error ? error.stack : String(error) }, 'position tick could not read the journal');
      return;
    }
    await Promise.all(accounts.map(async (account) => {
      const book = this.book(account);
      try {
        await this.tickAccount(account, book);
        if (book.lastError !== undefined) this.ctx.notify?.({ type: 'error', account, message: 'the position loop works again' });
        book.lastError = undefined;
      } catch (error) {
        // Told once when the loop starts failing for the account (it retries every tick), and again when it recovers.
        if (book.lastError === undefined) this.ctx.notify?.({ type: 'error', account, message: `the position loop is failing: ${error instanceof Error ? error.message : String(error)}` });
        book.lastError = error instanceof Error ? error.message : String(error);
        this.ctx.logger.error({ event: 'positions.tick_failed', account, err: error instanceof Error ? error.stack : String(error) }, `position tick failed for ${account}`);
        // A protective order the broker took down (to move it) and could not put back: no new entries until someone looks.
        if (error instanceof ProtectionLostError) {
          this.ctx.accountState.halt(account, `protection lost: ${error.message}`);
          this.ctx.logger.error({ event: 'account.halted', account, reason: error.message }, `${account} halted: a protective order could not be put back`);
          this.ctx.notify?.({ type: 'halt', account, reason: `protection lost: ${error.message}` });
        }
      }
    }));
    try {
      this.flushMarks();
    } catch (error) {
      this.knownVersion = undefined;
      this.ctx.logger.error({ event: 'positions.marks_unsaved', err: error instanceof Error ? error.stack : String(error) }, 'trailing water marks could not be written: kept in memory');
    }
  }

  /** This connection's changes and other connections' commits: equal values mean nothing was written in between. */
  private journalVersion(): string {
    if (!this.totalChanges || !this.dataVersion) return '';
    return `${String(this.dataVersion.get())}:${String(this.totalChanges.get())}`;
  }

  /** The journal's generation now (db mode; undefined without the database: nothing is cached then). */
  private currentGeneration(): number | undefined {
    if (!this.options.db) return undefined;
    const version = this.journalVersion();
    if (version !== this.knownVersion) {
      this.knownVersion = version;
      this.generation += 1;
    }
    return this.generation;
  }

  /** Writes the tick's moved water marks in one transaction: one commit (one fsync) a tick, not one a position. */
  private flushMarks(): void {
    const { db } = this.options;
    if (this.pendingMarks.size === 0 || !db || !this.writeHigh || !this.writeLow) return;
    // Something else wrote since the books were read: it may have changed one of these rows too, and our stamp would
    // hide that from the next read. Those rows are then read again (their cached stamp no longer matches anything).
    const othersWrote = this.currentGeneration() !== this.booksGeneration;
    const { writeHigh, writeLow } = this;
    // Committed without an fsync of its own (synchronous = NORMAL for this one commit; the connection is back at
    // its own setting at once). It survives a crash of the process; the next commit of an order or fill, or a checkpoint,
    // makes it durable on disk too. Only a power loss before that could undo it, and then a trail restarts from
    // an earlier water mark: looser, never missing. The fsync cost 1-9 ms of a tick that is budgeted in ms.
    const durable = Number(db.pragma('synchronous', { simple: true }));
    db.pragma('synchronous = NORMAL');
    try {
      db.transaction(() => {
        for (const [id, [column, value, stamp]] of this.pendingMarks) (column === 'high' ? writeHigh : writeLow).run(value, stamp, id);
      })();
    } finally {
      db.pragma(`synchronous = ${durable}`);
    }
    if (othersWrote) for (const [, [, , , watched]] of this.pendingMarks) watched.stamp = '';
    this.pendingMarks.clear();
    // The book holds these writes already (and nothing ran in between: this is synchronous), so they start no new generation.
    this.knownVersion = this.journalVersion();
  }

  private book(account: string): Book {
    let book = this.books.get(account);
    if (!book) {
      book = { positions: new Map(), marks: new MarkTable(), loaded: false };
      this.books.set(account, book);
    }
    return book;
  }

  private async tickAccount(account: string, book: Book): Promise<void> {
    const { ctx } = this;
    const broker = ctx.brokers.get(account);
    if (!this.options.db) this.reloadBook(account, book);
    // A symbol an execution is working on is that execution's: it books and protects its own fills. Between its awaits
    // (a broker call, the journal's fsync) the loop would otherwise book the same entry a second time.
    const busy = ctx.executions.busySymbols(account, ctx.now());
    const journalOpen = this.openOrders(account, book);
    const entries = journalOpen.filter((o) => o.leg === 'entry' && !busy.has(o.symbol));
    const protective = new Map<string, JournalOrder[]>();
    for (const order of journalOpen) {
      if ((order.leg !== 'stop' && order.leg !== 'target') || order.positionId === undefined) continue;
      const list = protective.get(order.positionId);
      if (list) list.push(order);
      else protective.set(order.positionId, [order]);
    }

    const shape = this.shapeOf(book);
    const symbols = entries.length === 0 ? shape.symbols : [...new Set([...shape.symbols, ...entries.map((e) => e.symbol)])];
    const marks = entries.length === 0 ? shape.marks : symbols.map((symbol) => book.marks.of(symbol));
    if (symbols.length === 0) {
      await this.checkKillSwitch(account, book);
      return;
    }
    const quotes = await broker.quotes(symbols);
    const now = ctx.now();
    book.lastQuoteAt = now;
    const tick = this.tickNumber;
    const nowMs = now.getTime();
    // By index over what was asked: one lookup per symbol, and nothing recorded that was not asked for.
    for (let i = 0; i < symbols.length; i += 1) {
      const quote = quotes.get(symbols[i] as string);
      if (quote) book.marks.record(marks[i] as Mark, quote.last, quote.time?.getTime() ?? nowMs, tick);
    }

    // Resting entries first: a fill booked now is watched in this same tick.
    for (const entry of entries) await this.followEntry(account, broker, book, entry);

    const idle = busy.size === 0 ? protective : new Map([...protective].filter(([, orders]) => !busy.has(orders[0]?.symbol ?? '')));
    const { closes, syncs, looks, estimate, screen } = this.scan(book, idle, tick, nowMs);
    for (const watched of looks) {
      const p = watched.position;
      const resting = protective.get(p.id);
      const emulated = p.protection === 'emulated' || await this.isEmulated(broker, watched, resting);
      if (!emulated && !watched.trailing) continue;
      const seen = observePrice(p, watched.mark.price as Decimal);
      this.moveWaterMark(book, watched, seen);
      if (emulated && seen.trigger) closes.push({ position: watched.position, reason: seen.trigger, retry: false });
    }

    if (syncs.length > 0) await this.syncBrokerProtection(broker, book, syncs);
    if (shape.managed.length > 0) await this.manageTrades(broker, book, shape.managed, closes, now);
    await this.runCloses(account, broker, book, closes);
    // The scan's estimate holds unless the book changed since (a close, a fill): then one more pass.
    await this.checkKillSwitch(account, book, book.shape?.screen === screen ? estimate : undefined);
  }

  /**
   * The kill switch with this tick's marks, after its closes (so a stop that just fired counts as realized). The
   * day's unrealized P&L is summed in doubles over the book, with the magnitude that bounds their rounding; the kill
   * switch evaluates exactly only where that screen cannot rule the limit out (see KillSwitch.watch).
   */
  private async checkKillSwitch(account: string, book: Book, estimate?: UnrealizedEstimate): Promise<void> {
    const { killSwitch } = this.options;
    if (!killSwitch) return;
    await killSwitch.watch(account, {
      now: this.ctx.now(), estimate: estimate ?? this.shapeOf(book).screen.estimate(book.marks), generation: this.currentGeneration(),
      positions: () => [...book.positions.values()].map((w) => w.position),
      marks: () => new Map([...book.marks.bySymbol].flatMap(([symbol, mark]) => (mark.price === undefined ? [] : [[symbol, mark.price] as const]))),
    });
  }

  /**
   * The pass over every position (BookScreen.scan), allocation-free for the positions that need nothing: lapsed
   * claims to retry, positions with protection resting at the broker, the few whose price left their quiet band
   * (looked at exactly by the caller), and the kill switch's estimate of the book's unrealized P&L.
   */
  private scan(book: Book, protective: ReadonlyMap<string, JournalOrder[]>, tick: number, nowMs: number): { closes: CloseTask[]; syncs: Watched[]; looks: Watched[]; estimate: UnrealizedEstimate; screen: BookScreen<Watched> } {
    const { screen } = this.shapeOf(book);
    const looks: Watched[] = [];
    const closing: Watched[] = [];
    const estimate = screen.scan(book.marks, tick, looks, closing);
    const closes: CloseTask[] = [];
    for (const { position: p } of closing) {
      if (p.claimExpiresAt !== undefined && p.claimExpiresAt.getTime() < nowMs) closes.push({ position: p, reason: this.closeReasons.get(p.id) ?? 'signal', retry: true });
    }
    const syncs: Watched[] = [];
    if (protective.size > 0) {
      for (const watched of screen.rows) if (watched.position.status === 'open' && protective.has(watched.position.id)) syncs.push(watched);
    }
    return { closes, syncs, looks, estimate, screen };
  }

  /** The book's symbols and packed screen, rebuilt after its positions changed. */
  private shapeOf(book: Book): Shape {
    if (!book.shape) {
      const rows = [...book.positions.values()];
      const symbols = [...new Set(rows.map((w) => w.position.symbol))];
      const strategies = this.ctx.config().strategies;
      const managed = rows.filter((w) => isManaged(strategies[w.position.strategy]?.manage) || this.emulatedLevelSpecs(w.position) !== undefined);
      book.shape = { symbols, marks: symbols.map((symbol) => book.marks.of(symbol)), screen: new BookScreen(rows), managed };
    }
    return book.shape;
  }

  /** The account's live orders in the journal, read again only when the journal changed. */
  private openOrders(account: string, book: Book): JournalOrder[] {
    const generation = this.currentGeneration();
    if (generation !== undefined && book.openOrders?.generation === generation) return book.openOrders.orders;
    const orders = this.ctx.orders.openOrders(account);
    if (generation !== undefined) book.openOrders = { generation, orders };
    return orders;
  }

  /** Without the database at hand: the book is every open position of the account, re-read each tick (unchanged rows keep their cache). */
  private reloadBook(account: string, book: Book): void {
    const fresh = new Map<string, Watched>();
    for (const position of this.ctx.positions.listOpen(account)) {
      const cached = book.positions.get(position.id);
      fresh.set(position.id, cached && cached.stamp === position.updatedAt.toISOString() ? cached : this.watch(book, position));
    }
    book.positions = fresh;
    book.shape = undefined;
  }

  /**
   * Brings every account's book up to the journal (db mode): a book not loaded yet reads its open positions; the
   * others read only rows whose updated_at moved, in one query for all accounts, and nothing at all when SQLite
   * reports no write since the last read (`data_version` for other connections, `total_changes()` for this one).
   */
  private async syncBooks(accounts: readonly string[]): Promise<void> {
    const { ctx } = this;
    const generation = this.currentGeneration();
    const unloaded = accounts.filter((a) => !this.book(a).loaded);
    if (unloaded.length === 0 && generation === this.booksGeneration) return;
    // No row seen yet (an empty journal at start): every row is read once; the cursor then moves past them.
    const since = this.cursor === '' ? '' : new Date(Date.parse(this.cursor) - CURSOR_MARGIN_MS).toISOString();
    for (const account of unloaded) {
      const book = this.book(account);
      for (const position of ctx.positions.listOpen(account)) {
        const stamp = position.updatedAt.toISOString();
        book.positions.set(position.id, this.watch(book, position));
        if (stamp > this.cursor) this.cursor = stamp;
      }
      book.loaded = true;
      book.shape = undefined;
      // A first load parses every row (~0.1 ms each): the event loop gets a turn between accounts. What others write
      // meanwhile is a new generation, read by the next tick (the cursor only looks back from rows already seen).
      if (account !== unloaded.at(-1)) await new Promise<void>((resolve) => { setImmediate(resolve); });
    }
    if (this.changedRows && unloaded.length < accounts.length) {
      for (const [account, id, stamp, status] of this.changedRows.all(since) as Array<[string, string, string, string]>) {
        if (stamp > this.cursor) this.cursor = stamp;
        const book = this.books.get(account);
        if (!book || unloaded.includes(account)) continue;
        const cached = book.positions.get(id);
        if (status === 'closed') {
          if (cached) this.forget(book, id);
          continue;
        }
        if (cached && cached.stamp === stamp) continue;
        const position = ctx.positions.findById(id);
        if (!position || position.status === 'closed') this.forget(book, id);
        else {
          book.positions.set(id, this.watch(book, position));
          book.shape = undefined;
        }
      }
    }
    this.booksGeneration = generation;
  }

  private watch(book: Book, position: Position): Watched {
    return {
      position, stamp: position.updatedAt.toISOString(), levels: fastLevels(position),
      trailing: position.trailAmount !== undefined || position.trailPercent !== undefined,
      entry: approximate(position.averageEntryPrice), quantity: approximate(position.quantity), sign: position.side === 'long' ? 1 : -1,
      mark: book.marks.of(position.symbol),
      // Every field present from the start: one object shape keeps the per-position passes monomorphic.
      pnl: undefined, brokerStop: undefined, best: undefined,
    };
  }

  /** Puts a position the loop changed itself back into the book, so the next read does not fetch it again. */
  private remember(book: Book, position: Position): Watched {
    const previous = book.positions.get(position.id);
    const watched = this.watch(book, position);
    watched.brokerStop = previous?.brokerStop;
    watched.best = previous?.best;
    if (position.status === 'closed') this.forget(book, position.id);
    else book.positions.set(position.id, watched);
    book.shape = undefined;
    return watched;
  }

  private forget(book: Book, positionId: string): void {
    if (book.positions.delete(positionId)) book.shape = undefined;
    this.closeFailures.delete(positionId);
    this.closeReasons.delete(positionId);
    this.levelSpecs.delete(positionId);
  }

  /**
   * Whether the loop itself watches the stop and target: the position says so, or its broker protects by
   * emulation and nothing rests for it. A position with levels but no resting order at all is watched as
   * well (its orders were lost): a stop nobody watches is no stop.
   */
  private async isEmulated(broker: Broker, watched: Watched, resting: JournalOrder[] | undefined): Promise<boolean> {
    const p = watched.position;
    if (p.protection === 'emulated') return true;
    if (resting && resting.length > 0) return false;
    if (p.stopPrice === undefined && p.targetPrice === undefined && !watched.trailing) return false;
    if (p.protection === undefined) {
      const instrument = await this.instrument(broker, p.account, p.symbol);
      if (broker.capabilities.protectionFor(instrument) === 'emulated') return true;
    }
    if (!this.warned.has(p.id)) {
      this.warned.add(p.id);
      this.ctx.logger.warn({ event: 'position.unprotected', positionId: p.id, account: p.account, symbol: p.symbol, protection: p.protection },
        'no protective order rests for this position: the loop watches its stop and target itself');
    }
    return true;
  }

  /** Persists a trailing stop's water mark only when it moves (at the tick's end in db mode, with the book updated at once). */
  private moveWaterMark(book: Book, watched: Watched, seen: { highWater?: Decimal; lowWater?: Decimal }): void {
    if (!watched.trailing) return;
    const p = watched.position;
    let patch: { highWater: Decimal } | { lowWater: Decimal };
    if (p.side === 'long' && seen.highWater && (p.highWater === undefined || seen.highWater.gt(p.highWater))) patch = { highWater: seen.highWater };
    else if (p.side === 'short' && seen.lowWater && (p.lowWater === undefined || seen.lowWater.lt(p.lowWater))) patch = { lowWater: seen.lowWater };
    else return;
    // In place: the quantity and symbol stay, so the book's membership and the account's screens are unchanged.
    if (!this.options.db) {
      watched.position = this.ctx.positions.update(p.id, patch);
      watched.stamp = watched.position.updatedAt.toISOString();
      watched.levels = fastLevels(watched.position);
      book.shape?.screen.refresh(watched);
      return;
    }
    const at = this.ctx.now();
    const stamp = at.toISOString();
    watched.position = { ...p, ...patch, updatedAt: at };
    watched.levels = fastLevels(watched.position);
    book.shape?.screen.refresh(watched);
    watched.stamp = stamp;
    this.pendingMarks.set(p.id, 'highWater' in patch ? ['high', decimalText(patch.highWater), stamp, watched] : ['low', decimalText(patch.lowWater), stamp, watched]);
  }

  /**
   * Trades whose strategy manages them: a time limit that has passed closes the trade (exit_reason time); otherwise
   * the stop moves where the rules say (breakeven at +X R, the trail after its R), at the broker through a replace
   * that never leaves the position without a stop, or on the position where the loop watches the stop itself.
   */
  private async manageTrades(broker: Broker, book: Book, managed: readonly Watched[], closes: CloseTask[], now: Date): Promise<void> {
    const { ctx } = this;
    for (const watched of managed) {
      const p = watched.position;
      const price = watched.mark.price;
      if (p.status !== 'open' || price === undefined || closes.some((c) => c.position.id === p.id)) continue;
      if (timeExitNow(ctx, p, now)) {
        closes.push({ position: p, reason: 'time', retry: false });
        continue;
      }
      const specs = this.emulatedLevelSpecs(p);
      if (specs && await this.takeEmulatedLevel(broker, book, watched, specs, price)) continue;
      const best = bestPrice(p.side, watched.best, price);
      // Nothing new since the last look: the rules read the best price, and it has not moved.
      if (watched.best !== undefined && best.eq(watched.best)) continue;
      watched.best = best;
      const instrument = await this.instrument(broker, p.account, p.symbol);
      const move = stopMoveNow(ctx, p, instrument, price, best);
      if (!move) continue;
      const stop = restingStop(ctx, p.id);
      if (stop) await replaceStop(ctx, broker, p, stop, { stopPrice: move.stopPrice }, move.detail);
      else ctx.logger.info({ event: 'position.stop_moved', positionId: p.id, symbol: p.symbol, stopPrice: move.stopPrice.toFixed(), reason: move.detail }, `${p.symbol}: ${move.detail}`);
      this.remember(book, ctx.positions.update(p.id, { stopPrice: move.stopPrice })).best = best;
    }
  }

  /**
   * The scale-out levels of a position whose broker cannot rest them beside its protection (a bracket holding the
   * shares, an attached bracket, no resting orders at all): the loop watches them. Read once per position from its
   * entry's alert, else its strategy; undefined when it has none (or the broker rests them: after_fill).
   */
  private emulatedLevelSpecs(position: Position): readonly TargetLevelSpec[] | undefined {
    if (position.protection === undefined || position.protection === 'after_fill') return undefined;
    if (this.levelSpecs.has(position.id)) return this.levelSpecs.get(position.id) ?? undefined;
    // From the alert that opened it (one read of its payload), without a query for positions that have none.
    const fromAlert = position.signalId === undefined ? undefined : this.alertProtectionOf(position.signalId).takeProfit;
    const takeProfit = fromAlert ?? this.ctx.config().strategies[position.strategy]?.takeProfit;
    const specs = Array.isArray(takeProfit) ? takeProfit as readonly TargetLevelSpec[] : undefined;
    this.levelSpecs.set(position.id, specs ?? null);
    return specs;
  }

  /**
   * An emulated level the price has reached: that part is sold with a reduce-only market exit naming the level
   * (where a bracket holds the shares its legs are resized first, so no oversized stop rests), then the stop moves
   * if the rules say so (breakeven after target N). True when it acted (the position changed).
   */
  private async takeEmulatedLevel(broker: Broker, book: Book, watched: Watched, specs: readonly TargetLevelSpec[], price: Decimal): Promise<boolean> {
    const { ctx } = this;
    const p = watched.position;
    const instrument = await this.instrument(broker, p.account, p.symbol);
    const level = pendingLevels(ctx, p, specs, instrument)[0];
    if (!level || !levelReached(p.side, level, price)) return false;
    const part = level.last || level.quantity.gte(p.quantity) ? undefined : level.quantity;
    ctx.logger.info({ event: 'position.level_reached', positionId: p.id, symbol: p.symbol, level: level.level, price: price.toFixed(), quantity: (part ?? p.quantity).toFixed() },
      `${p.symbol}: take-profit level ${level.level} (${level.limitPrice.toFixed()}) reached`);
    const outcome = await closePosition(ctx, broker, instrument, p, {
      quantity: part, reason: 'take_profit', clientOrderId: this.exitId(broker, p), fillTimeoutMs: this.fillTimeoutMs, level: level.level,
    });
    const fresh = ctx.positions.findById(p.id);
    if (!fresh || fresh.status === 'closed') {
      this.forget(book, p.id);
      return true;
    }
    this.remember(book, fresh);
    if (outcome.kind !== 'reduced') return true;
    const move = stopMoveNow(ctx, fresh, instrument, price, bestPrice(fresh.side, watched.best, price));
    if (!move) return true;
    const stop = restingStop(ctx, fresh.id);
    if (stop) await replaceStop(ctx, broker, fresh, stop, { stopPrice: move.stopPrice }, `target ${level.level} taken: ${move.detail}`);
    this.remember(book, ctx.positions.update(fresh.id, { stopPrice: move.stopPrice }));
    return true;
  }

  /**
   * Protection resting at the broker: one openOrders call for the account, then syncProtection (one-cancels-other
   * and the books) only for positions whose protective orders the broker no longer lists as open. Trailing stops
   * the broker holds are read back for the snapshot; a fixed stop standing in for a trail (a broker without
   * trailing orders) is moved up to the trail here.
   */
  private async syncBrokerProtection(broker: Broker, book: Book, syncs: Watched[]): Promise<void> {
    const open = new Map<string, Order>();
    for (const order of await broker.openOrders()) open.set(order.clientOrderId, order);
    for (const watched of syncs) {
      const p = watched.position;
      const legs = protectiveOrders(this.ctx, p.id);
      // A leg the broker no longer lists as open, or one that has filled further than the journal knows.
      const moved = legs.some((o) => {
        const atBroker = open.get(o.clientOrderId);
        return !atBroker || atBroker.filledQuantity.gt(o.filledQuantity);
      });
      if (moved) {
        const closed = await syncProtection(this.ctx, broker, p);
        if (closed || await this.bookProtectiveFills(broker, book, p)) {
          await this.cancelEntries(broker, p);
          this.forget(book, p.id);
          continue;
        }
      }
      const stopLeg = legs.find((o) => o.leg === 'stop');
      const atBroker = stopLeg ? open.get(stopLeg.clientOrderId) : undefined;
      if (!stopLeg || !atBroker || !watched.trailing) continue;
      if (stopLeg.type === 'trailing_stop') {
        watched.brokerStop = atBroker.stopPrice;
      } else if (stopLeg.type === 'stop') {
        await this.trailFixedStop(broker, book, watched, stopLeg, atBroker);
      }
    }
  }

  /**
   * Protective legs that filled in part (a target limit taking liquidity in pieces), or in parts across both legs:
   * their fills not yet in the books are booked as a partial close (the position keeps the rest, its protection is
   * resized to it), or as the close when nothing is left. True when the position closed.
   *
   * Legs tradewire placed itself (after_fill, attached) are cancelled *before* the books are written: a leg can keep
   * filling until the broker confirms its cancel, and those last fills must be in the part booked and not in the
   * quantity the new legs protect (an oversized stop would sell what the position no longer holds).
   */
  private async bookProtectiveFills(broker: Broker, book: Book, position: Position): Promise<boolean> {
    const { ctx } = this;
    const current = ctx.positions.findById(position.id);
    if (!current || current.status !== 'open') return current?.status === 'closed';
    if (!this.unbookedProtectiveFills(current)) return false;
    // Claimed as any closer claims it: an exit signal or a manual close arriving meanwhile waits for the books and the
    // new legs instead of booking the same fills and sending its own exit; one already holding it books them itself.
    const now = ctx.now();
    if (!ctx.positions.claimForClose(current.id, ctx.owner, new Date(now.getTime() + Math.max(30_000, this.fillTimeoutMs * 2)), now)) return false;
    let held = true;
    const release = () => {
      if (held) ctx.positions.releaseClaim(current.id, ctx.owner);
      held = false;
    };
    try {
      const fresh = ctx.positions.findById(current.id) ?? current;
      // Scale-out targets rest side by side: one filling leaves the others resting, and only the stop is resized.
      const scaledOut = fresh.protection === 'after_fill' && hasLevels(ctx, fresh.id);
      const replaceLegs = !scaledOut && fresh.protection !== 'native' && fresh.protection !== 'emulated';
      // A cancel that fails still leaves what is known booked first; the rest is then closed as unprotected.
      let cancelFailed: { error: unknown } | undefined;
      if (replaceLegs) {
        try {
          await cancelProtection(ctx, broker, fresh);
        } catch (error) {
          cancelFailed = { error };
        }
      }
      const unbooked = this.unbookedProtectiveFills(fresh);
      if (!unbooked) return false;
      const { net, fills, last } = unbooked;
      const record = closeRecordOf(ctx, fresh, fills, reasonOfLeg(last));
      if (net.lte(0)) {
        const closed = ctx.positions.close(fresh.id, record);
        ctx.notify?.({ type: 'close', closed });
        held = false;
        for (const order of protectiveOrders(ctx, fresh.id)) await ctx.tracker.cancel(broker, order.clientOrderId);
        ctx.logger.info({ event: 'position.closed', positionId: fresh.id, reason: record.exitReason, realizedPnl: closed.realizedPnl.toFixed() }, 'closed by its protective orders, filled in parts');
        return true;
      }
      const { reduced } = reducePosition(ctx, fresh, record, net, ctx.owner);
      ctx.logger.info({ event: 'position.reduced', positionId: fresh.id, reason: record.exitReason, quantity: record.quantity.toFixed(), remaining: net.toFixed() },
        `${fresh.symbol}: its ${last.leg} filled ${record.quantity.toFixed()} in part; ${net.toFixed()} left`);
      // The rest is protected before the claim is given back; closing it as unprotected needs the claim free.
      if (cancelFailed) {
        release();
        await this.unprotected(broker, book, reduced, cancelFailed.error);
      } else if (scaledOut) {
        await this.resizeStopAfterLevel(broker, book, reduced, net, release);
      } else if (replaceLegs) {
        await this.placeResizedProtection(broker, book, await this.instrument(broker, fresh.account, fresh.symbol), reduced, release);
      } else {
        await this.resizeProtection(broker, book, await this.instrument(broker, fresh.account, fresh.symbol), reduced, release);
      }
      return false;
    } finally {
      release();
    }
  }

  /**
   * A scale-out target filled: the stop is resized to what remains before anything else, in the same replace that
   * moves it where the strategy says (breakeven after target N). A stop that cannot be resized closes the rest.
   */
  private async resizeStopAfterLevel(broker: Broker, book: Book, position: Position, remaining: Decimal, release: () => void): Promise<void> {
    const { ctx } = this;
    const stop = restingStop(ctx, position.id);
    if (!stop) {
      release();
      this.remember(book, ctx.positions.findById(position.id) ?? position);
      return;
    }
    const instrument = await this.instrument(broker, position.account, position.symbol);
    const mark = book.marks.of(position.symbol).price ?? position.averageEntryPrice;
    const move = stopMoveNow(ctx, position, instrument, mark, mark);
    const filled = ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'target' && o.level !== undefined && o.status === 'filled').length;
    const reason = `target ${filled} filled: stop resized to the ${remaining.toFixed()} left${move ? ` and moved to ${move.reason} at ${move.stopPrice.toFixed()}` : ''}`;
    try {
      await replaceStop(ctx, broker, position, stop, { quantity: remaining, stopPrice: move?.stopPrice }, reason);
    } catch (error) {
      release();
      await this.unprotected(broker, book, position, error);
      return;
    }
    if (move) ctx.positions.update(position.id, { stopPrice: move.stopPrice });
    // The claim goes back before the book keeps the row: a copy read while claimed would say 'closing' until it changes again.
    release();
    this.remember(book, ctx.positions.findById(position.id) ?? position);
  }

  /**
   * The journal's protective fills the position's books do not hold yet (the newest ones), with what the position
   * nets to by its fills; undefined when the books hold them all.
   */
  private unbookedProtectiveFills(position: Position): { net: Decimal; fills: JournalFill[]; last: JournalOrder } | undefined {
    const { ctx } = this;
    const opening = openingSide(position.side);
    let net = ZERO;
    const closing: Array<{ fill: JournalFill; order: JournalOrder }> = [];
    for (const order of ctx.orders.ordersForPosition(position.id)) {
      for (const fill of ctx.orders.fillsForOrder(order.clientOrderId)) {
        if (order.side === opening) net = net.plus(fill.quantity);
        else {
          net = net.minus(fill.quantity);
          if (order.leg === 'stop' || order.leg === 'target') closing.push({ fill, order });
        }
      }
    }
    let missing = position.quantity.minus(net);
    if (missing.lte(0)) return undefined;
    // Each pass books all it sees, so what the books lack is the newest protective fills.
    closing.sort((a, b) => a.fill.at.getTime() - b.fill.at.getTime());
    const fills: JournalFill[] = [];
    let last: JournalOrder | undefined;
    for (let i = closing.length - 1; i >= 0 && missing.gt(0); i -= 1) {
      const { fill, order } = closing[i] as { fill: JournalFill; order: JournalOrder };
      fills.unshift(fill);
      last ??= order;
      missing = missing.minus(fill.quantity);
    }
    return last ? { net, fills, last } : undefined;
  }

  /** A trail kept as a fixed stop order: moves the order's stop to the trail as the water mark moves (amend, else cancel and replace). */
  private async trailFixedStop(broker: Broker, book: Book, watched: Watched, stopLeg: JournalOrder, atBroker: Order): Promise<void> {
    const p = watched.position;
    const level = trailingStopLevel(p);
    const current = atBroker.stopPrice ?? stopLeg.stopPrice;
    if (!level || !current) return;
    const instrument = await this.instrument(broker, p.account, p.symbol);
    // Onto the tick toward the price (a long's up, a short's down): the stop may be a hair tighter than its trail, never looser.
    const next = roundToTickDirected(level, instrument.tickSize, p.side === 'long' ? 'up' : 'down');
    const tighter = p.side === 'long' ? next.gt(current) : next.lt(current);
    if (!tighter) return;
    if (broker.capabilities.amend) {
      const changed = await broker.modifyOrder({ clientOrderId: stopLeg.clientOrderId, symbol: p.symbol }, { stopPrice: next });
      watched.brokerStop = changed.stopPrice ?? next;
      this.remember(book, this.ctx.positions.update(p.id, { stopPrice: next })).brokerStop = watched.brokerStop;
      return;
    }
    await this.ctx.tracker.cancel(broker, stopLeg.clientOrderId);
    const moved = this.ctx.positions.update(p.id, { stopPrice: next });
    const ids = resizedProtectionIds(this.ctx, broker, moved);
    await this.ctx.tracker.place(broker, {
      clientOrderId: ids.stop, account: p.account, strategy: p.strategy, symbol: p.symbol, side: stopLeg.side, leg: 'stop', type: 'stop',
      quantity: p.quantity, stopPrice: next, positionId: p.id, signalId: stopLeg.signalId, timeInForce: 'gtc', replacesClientOrderId: stopLeg.clientOrderId,
    }, { reduceOnly: true });
    this.remember(book, moved).brokerStop = next;
  }

  /**
   * A resting entry: refresh it at the broker; once it has filled (in whole or in part) its position is booked and
   * protected, and as it keeps filling the position grows to the sum of the fills and its protection is resized.
   */
  private async followEntry(account: string, broker: Broker, book: Book, resting: JournalOrder): Promise<void> {
    const { ctx } = this;
    // One whose execution failed while the venue held it (its fills unread) is finished as its executor would have.
    const resumed = await resumeInterruptedEntry(ctx, broker, resting);
    if (resumed) {
      if ('position' in resumed) this.remember(book, resumed.position);
      if (resumed.kind === 'conflict') this.warnOnce(`entry-conflict-${resting.clientOrderId}`, { event: 'entry.unbooked', clientOrderId: resting.clientOrderId, account }, resumed.detail);
      return;
    }
    const entry = await ctx.tracker.refresh(broker, resting.clientOrderId);
    if (entry.filledQuantity.lte(0)) return;
    let position = entry.positionId ? ctx.positions.findById(entry.positionId) : undefined;
    if (!position) {
      const open = ctx.positions.findOpen(account, entry.symbol);
      if (open && open.signalId !== undefined && open.signalId === entry.signalId) {
        ctx.orders.linkPosition(entry.clientOrderId, open.id); // booked before, not linked (a crash in between)
        position = open;
      } else if (open) {
        this.warnOnce(`entry-conflict-${entry.clientOrderId}`, { event: 'entry.unbooked', clientOrderId: entry.clientOrderId, account, symbol: entry.symbol, positionId: open.id },
          'a filled entry meets another live position in its symbol: left for reconciliation');
        return;
      }
    }
    const instrument = await this.instrument(broker, account, entry.symbol);
    const owner = { account, strategy: entry.strategy, symbol: entry.symbol, signalId: entry.signalId };
    const bracketLegs = this.bracketLegsOf(entry);
    if (!position) {
      const side: PositionSide = entry.side === 'buy' ? 'long' : 'short';
      const opened = recordEntryFills(ctx, owner, ulid(), side, undefined, entry, tradingDay(ctx.now(), accountTimeZone(ctx, account)));
      if (bracketLegs.length > 0) {
        // Placed with its stop and target in one bracket: the broker holds them, sized to the whole entry. Link, don't place.
        for (const leg of bracketLegs) ctx.orders.linkPosition(leg.clientOrderId, opened.id);
        const stop = bracketLegs.find((o) => o.leg === 'stop');
        this.remember(book, ctx.positions.update(opened.id, {
          protection: 'native', stopPrice: stop?.stopPrice ?? null, targetPrice: bracketLegs.find((o) => o.leg === 'target')?.limitPrice ?? null,
          trailPercent: stop?.trailPercent ?? null, trailAmount: stop?.trailAmount ?? null,
        }));
        return;
      }
      await this.protectNew(broker, book, instrument, opened, entry);
      return;
    }
    if (position.status !== 'open') return; // closing (someone holds it) or closed: nothing to grow now
    const unbooked = this.unbookedFills(position, entry);
    if (unbooked.length === 0) return;
    const grown = recordEntryFills(ctx, owner, position.id, position.side, position, entry, position.tradingDay, unbooked);
    ctx.logger.info({ event: 'position.grown', positionId: grown.id, clientOrderId: entry.clientOrderId, quantity: grown.quantity.toFixed(),
      price: grown.averageEntryPrice.toFixed() }, `${grown.symbol} grew to ${grown.quantity.toFixed()} as its entry filled`);
    // A bracket's legs were sized to the whole entry when it was placed: the broker holds them until it completes.
    if (bracketLegs.length > 0 && position.protection === 'native') return;
    await this.resizeProtection(broker, book, instrument, grown);
  }

  /** The stop and target placed in one bracket with this entry (same signal and account), still live at the broker. */
  private bracketLegsOf(entry: JournalOrder): JournalOrder[] {
    if (entry.signalId === undefined) return [];
    return this.ctx.orders.ordersForSignal(entry.signalId)
      .filter((o) => o.account === entry.account && (o.leg === 'stop' || o.leg === 'target') && !isTerminal(o.status));
  }

  /**
   * The entry's fills the position does not hold yet: the journal's fills of all its orders (opening side plus,
   * closing side minus) exceed the booked quantity by exactly the newest ones, since each pass books all it sees.
   */
  private unbookedFills(position: Position, entry: JournalOrder): JournalFill[] {
    const { ctx } = this;
    const opening = openingSide(position.side);
    let net = ZERO;
    for (const order of ctx.orders.ordersForPosition(position.id)) {
      const filled = ctx.orders.fillsForOrder(order.clientOrderId).reduce((sum, f) => sum.plus(f.quantity), ZERO);
      net = order.side === opening ? net.plus(filled) : net.minus(filled);
    }
    let missing = net.minus(position.quantity);
    if (missing.lte(0)) return [];
    const fills = ctx.orders.fillsForOrder(entry.clientOrderId);
    const unbooked: JournalFill[] = [];
    for (let i = fills.length - 1; i >= 0 && missing.gt(0); i -= 1) {
      const fill = fills[i] as JournalFill;
      unbooked.unshift(fill);
      missing = missing.minus(fill.quantity);
    }
    return unbooked;
  }

  /** Protection for a position the loop just booked: the signal's stop and target, else the strategy's, priced from the fill. */
  private async protectNew(broker: Broker, book: Book, instrument: Instrument, position: Position, entry: JournalOrder): Promise<void> {
    const { ctx } = this;
    const specs = this.alertProtection(entry);
    const strategy = ctx.config().strategies[entry.strategy] ?? {};
    const legs = protectionLegsFor(specs, strategy, entry.side, position.averageEntryPrice, instrument);
    const source = entry.signalId ?? position.id;
    const ids = { stop: idFor(broker, { source, account: position.account, leg: 'stop' }), target: idFor(broker, { source, account: position.account, leg: 'target' }) };
    try {
      if (!legs.ok) throw new Error(`protection_invalid: ${legs.issues}`);
      await placeProtection(ctx, broker, instrument, position, legs, ids, { signalId: entry.signalId, executionId: entry.executionId });
    } catch (error) {
      await this.unprotected(broker, book, position, error);
      return;
    }
    this.remember(book, ctx.positions.findById(position.id) ?? position);
  }

  /** `beforeUnprotected` gives back a claim the caller holds: closing the position as unprotected claims it anew. */
  private async resizeProtection(broker: Broker, book: Book, instrument: Instrument, position: Position, beforeUnprotected?: () => void): Promise<void> {
    const { ctx } = this;
    // A bracket held at the broker (Alpaca) resizes itself: a partial take-profit fill shrinks its stop there.
    // Cancelling and placing two separate exits instead would be refused (one resting sell per position).
    if (position.protection === 'native') {
      this.remember(book, position);
      return;
    }
    if (position.protection === 'emulated') {
      this.remember(book, ctx.positions.findById(position.id) ?? position);
      return;
    }
    try {
      await cancelProtection(ctx, broker, position);
    } catch (error) {
      beforeUnprotected?.();
      await this.unprotected(broker, book, position, error);
      return;
    }
    await this.placeResizedProtection(broker, book, instrument, position, beforeUnprotected);
  }

  /** New legs for the position's quantity now, its old ones already cancelled. */
  private async placeResizedProtection(broker: Broker, book: Book, instrument: Instrument, position: Position, beforeUnprotected?: () => void): Promise<void> {
    const { ctx } = this;
    try {
      const legs = currentLegs(position, ctx);
      if (legs.stop || legs.target) {
        await placeProtection(ctx, broker, instrument, position, legs, resizedProtectionIds(ctx, broker, position), { signalId: position.signalId });
      }
    } catch (error) {
      beforeUnprotected?.();
      await this.unprotected(broker, book, position, error);
      return;
    }
    this.remember(book, ctx.positions.findById(position.id) ?? position);
  }

  /** An entry that filled but cannot be protected: the rest of the entry is cancelled and the position closed at once. */
  private async unprotected(broker: Broker, book: Book, position: Position, error: unknown): Promise<void> {
    const { ctx } = this;
    const reason = error instanceof Error ? error.message : String(error);
    ctx.logger.error({ event: 'position.unprotected', positionId: position.id, symbol: position.symbol, reason }, 'entry filled but could not be protected: closing it now');
    const fresh = ctx.positions.findById(position.id) ?? position;
    this.remember(book, fresh);
    await this.runCloses(position.account, broker, book, [{ position: fresh, reason: 'signal', retry: false }]);
  }

  /** The stop and target the entry's alert asked for, read back from the journalled payload. */
  private alertProtection(entry: JournalOrder): Pick<Signal, 'stopLoss' | 'takeProfit'> {
    return entry.signalId ? this.alertProtectionOf(entry.signalId) : {};
  }

  private alertProtectionOf(signalId: string): Pick<Signal, 'stopLoss' | 'takeProfit'> {
    const signal = this.ctx.signals.findById(signalId);
    if (!signal) return {};
    try {
      const body = JSON.parse(signal.payload) as unknown;
      // Staleness was judged when the alert arrived; here only its protection is read.
      const parsed = parseAlert(body, { pathStrategy: signal.strategy, now: this.ctx.now(), maxSignalAgeSeconds: 0, resolveSymbol: (_s, t) => t });
      if (parsed.ok || parsed.error === 'stale_signal') return { stopLoss: parsed.alert.stopLoss, takeProfit: parsed.alert.takeProfit };
    } catch {
      // fall through: the strategy's defaults protect it
    }
    this.warnOnce(`payload-${signalId}`, { event: 'signal.payload_unreadable', signalId }, 'the signal payload could not be read back: strategy defaults protect the entry');
    return {};
  }

  /** Runs closes with bounded concurrency; each one's failure counts toward halting its account. */
  private async runCloses(account: string, broker: Broker, book: Book, tasks: CloseTask[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length) {
        const task = tasks[next] as CloseTask;
        next += 1;
        await this.close(account, broker, book, task);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.closeConcurrency, tasks.length) }, worker));
  }

  private async close(account: string, broker: Broker, book: Book, task: CloseTask): Promise<void> {
    const { ctx } = this;
    const id = task.position.id;
    let outcome: CloseOutcome | undefined;
    let failure: string | undefined;
    try {
      this.closeReasons.set(id, task.reason);
      const position = task.retry ? await this.settleLapsedClose(broker, task) : task.position;
      if (!position) {
        this.forget(book, id);
        return;
      }
      await this.cancelEntries(broker, position);
      const instrument = await this.instrument(broker, account, position.symbol);
      ctx.logger.info({ event: 'position.closing', positionId: id, account, symbol: position.symbol, reason: task.reason, retry: task.retry },
        `${task.retry ? 'retrying the close of' : 'closing'} ${position.symbol} (${task.reason})`);
      outcome = await closePosition(ctx, broker, instrument, position, {
        reason: task.reason, clientOrderId: this.exitId(broker, position), fillTimeoutMs: this.fillTimeoutMs,
      });
      if (outcome.kind === 'unfilled') failure = `the exit ${outcome.order.clientOrderId} is ${outcome.order.status}`;
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    const fresh = ctx.positions.findById(id);
    if (fresh && fresh.status !== 'closed') this.remember(book, fresh);
    else this.forget(book, id);
    if (outcome?.kind === 'closed') {
      ctx.logger.info({ event: 'position.closed', positionId: id, account, reason: task.reason, realizedPnl: outcome.closed.realizedPnl.toFixed() }, `closed by the position loop (${task.reason})`);
      return;
    }
    if (failure === undefined) return; // busy: another closer holds it
    const failures = (this.closeFailures.get(id) ?? 0) + 1;
    this.closeFailures.set(id, failures);
    ctx.logger.warn({ event: 'position.close_failed', positionId: id, account, attempt: failures, reason: failure }, 'close failed: its claim lapses and the loop tries again');
    if (failures === this.maxCloseAttempts) {
      const reason = `position ${id} (${task.position.symbol}) could not be closed after ${failures} attempts: ${failure}`;
      ctx.accountState.halt(account, reason);
      ctx.logger.error({ event: 'account.halted', account, positionId: id, symbol: task.position.symbol, attempts: failures, reason: failure }, reason);
      ctx.notify?.({ type: 'halt', account, reason });
    }
  }

  /**
   * Before closing again a position whose closer's claim lapsed: its earlier exits are settled first. One still
   * working is cancelled; fills they got are booked (a reduce, or the close itself when nothing is left). Returns
   * the position to close, or undefined when it is closed already; the claim is given back for closePosition.
   */
  private async settleLapsedClose(broker: Broker, task: CloseTask): Promise<Position | undefined> {
    const { ctx } = this;
    const id = task.position.id;
    const now = ctx.now();
    // Someone else took the lapsed claim first (or it closed meanwhile): theirs to finish.
    if (!ctx.positions.claimForClose(id, ctx.owner, new Date(now.getTime() + Math.max(30_000, this.fillTimeoutMs * 2)), now)) return undefined;
    const position = ctx.positions.findById(id) ?? task.position;
    const exits = ctx.orders.ordersForPosition(id).filter((o) => o.leg === 'exit' || o.leg === 'stop' || o.leg === 'target');
    for (const order of exits) {
      if (isTerminal(order.status)) continue;
      const fresh = await ctx.tracker.refresh(broker, order.clientOrderId);
      if (!isTerminal(fresh.status) && fresh.leg === 'exit') await ctx.tracker.cancel(broker, order.clientOrderId);
    }
    const opening = openingSide(position.side);
    let net = ZERO;
    let lastClosing: JournalOrder | undefined;
    for (const order of ctx.orders.ordersForPosition(id)) {
      const filled = ctx.orders.fillsForOrder(order.clientOrderId).reduce((sum, f) => sum.plus(f.quantity), ZERO);
      if (order.side === opening) net = net.plus(filled);
      else {
        net = net.minus(filled);
        if (filled.gt(0)) lastClosing = order;
      }
    }
    if (lastClosing && net.lt(position.quantity)) {
      const reason = lastClosing.leg === 'exit' ? task.reason : reasonOfLeg(lastClosing);
      const record = closeRecord(ctx, position, lastClosing, reason);
      if (net.lte(0)) {
        // Closed first, told after: `notify?.(…)` skips its arguments when no notifier is set (the storm's lapsed closes stayed 'closing').
        const closed = ctx.positions.close(id, record);
        ctx.notify?.({ type: 'close', closed });
        for (const order of protectiveOrders(ctx, id)) await ctx.tracker.cancel(broker, order.clientOrderId);
        ctx.logger.info({ event: 'position.closed', positionId: id, reason, realizedPnl: record.realizedPnl.toFixed() }, 'a lapsed close had filled: booked');
        return undefined;
      }
      return reducePosition(ctx, position, record, net).reduced;
    }
    ctx.positions.releaseClaim(id, ctx.owner);
    return ctx.positions.findById(id);
  }

  /** Cancels the resting entries that would grow a position being closed (they would open it again). */
  private async cancelEntries(broker: Broker, position: Position): Promise<void> {
    for (const order of this.ctx.orders.ordersForPosition(position.id)) {
      if (order.leg === 'entry' && !isTerminal(order.status)) await this.ctx.tracker.cancel(broker, order.clientOrderId);
    }
  }

  /** The loop's own exits: from the position id, leg exit and the next sequence, so a retry never reuses a client id. */
  private exitId(broker: Broker, position: Position): string {
    const sequence = this.ctx.orders.ordersForPosition(position.id).filter((o) => o.leg === 'exit').length + 1;
    return idFor(broker, { source: position.id, account: position.account, leg: 'exit', sequence });
  }

  private async instrument(broker: Broker, account: string, symbol: string): Promise<Instrument> {
    const key = `${account}\u0000${symbol}`;
    let instrument = this.instruments.get(key);
    if (!instrument) {
      instrument = await broker.instrument(symbol);
      this.instruments.set(key, instrument);
    }
    return instrument;
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.ctx.logger.warn(fields, message);
  }
}

