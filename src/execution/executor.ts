// The executor: one execution job (a signal at one account) → intent → risk → sizing → orders, journalled at each step.
import { acceptsPrices, type Broker } from '../brokers/broker.ts';
import { expectedSlippagePercent, type StrategyConfig, type SubscriptionConfig } from '../config/schema.ts';
import type { ProtectionLegs } from '../domain/brackets.ts';
import type { Instrument } from '../domain/instrument.ts';
import { signalIdFactory } from '../domain/ids.ts';
import { decideIntent, type Intent } from '../domain/intent.ts';
import { updateProtection } from './update-protection.ts';
import { Decimal, ZERO } from '../domain/money.ts';
import type { OrderType, PositionSide, Quote } from '../domain/order.ts';
import { unrealizedPnl } from '../domain/position.ts';
import { checkEntryRisk, checkMargin } from '../domain/risk.ts';
import { kellyFraction, sizePosition, sizeReduction, type SizingInput } from '../domain/sizing.ts';
import { tradingDay } from '../domain/trading-day.ts';
import { alertFromJson } from '../intake/alert-json.ts';
import type { ParsedAlert } from '../intake/parse.ts';
import type { ExecutionJobData } from '../queue/signal-queue.ts';
import type { ExecutionStatus } from '../store/executions-repo.ts';
import type { JournalOrder } from '../store/orders-repo.ts';
import type { Position } from '../store/positions-repo.ts';
import type { ExecutionContext } from './context.ts';
import { settleSignal, TERMINAL_EXECUTION } from './signal-state.ts';
import { brokerReason, OrderFailedError, OrderUnconfirmedError } from './order-tracker.ts';
import { settleInterruptedEntries, unconfirmedReason } from './interrupted-entry.ts';
import {
  accountTimeZone, closePosition, closeRecord, currentLegs, idFor, openingSide, placeProtection, protectionLegsFor, protectiveOrders, ProtectionError,
  recordEntryFills, reducePosition, syncProtection,
} from './position-actions.ts';

export interface ExecutionOutcome {
  status: Exclude<ExecutionStatus, 'queued' | 'running'>;
  /** Whose rule or what failed: `no_op`, `risk:max_positions`, `insufficient_funds: ...`. */
  reason?: string | undefined;
}

type LeaseClaim = 'taken' | 'held' | 'finished';

/** Position ids: ULIDs from a pooled CSPRNG (ulid's default asks the OS for each of 16 characters: 4 % of execution's CPU). */
const newPositionId = signalIdFactory();

const ok = (): ExecutionOutcome => ({ status: 'executed' });
const refused = (reason: string): ExecutionOutcome => ({ status: 'rejected', reason });
const failed = (reason: string): ExecutionOutcome => ({ status: 'failed', reason });

/** One job's view of what it works on, resolved once. */
interface Work {
  job: ExecutionJobData;
  alert: ParsedAlert;
  strategy: StrategyConfig;
  subscription: SubscriptionConfig;
  broker: Broker;
  executionId: number;
  receivedAt: Date;
}

export class Executor {
  constructor(private readonly ctx: ExecutionContext) {}

  /**
   * Runs one execution job. Safe to run twice for the same job (a re-delivery after a crash, a false stall):
   * the execution's lease makes the second run wait, a finished execution is not run again, and every order
   * is placed through its deterministic client id, so the broker never sees a second entry.
   */
  async execute(job: ExecutionJobData): Promise<ExecutionOutcome | undefined> {
    const { ctx } = this;
    const alert = alertFromJson(job.alert);
    const receivedAt = new Date(job.receivedAt);
    const admitted = this.journalAdmission(job, alert, receivedAt);
    if (admitted.duplicateOf !== undefined) return undefined;
    const { execution } = admitted;
    if (admitted.lease !== 'taken' && !(admitted.lease === 'held' && await this.takeLease(execution.id))) {
      ctx.executions.unitOfWork(() => this.settleSignal(job));
      return undefined;
    }
    let outcome: ExecutionOutcome;
    // The lease lives as long as the queue's lock and is renewed while the job runs: a dead worker's execution is
    // taken over within seconds, and a long one (a reversal waiting for its close) never loses it midway.
    const renewal = setInterval(() => { ctx.executions.renewLease(execution.id, ctx.owner, this.leaseMs(), ctx.now()); }, Math.max(250, this.leaseMs() / 3));
    try {
      outcome = await this.run(job, alert, receivedAt, execution.id);
    } catch (error) {
      outcome = failed(error instanceof OrderFailedError ? error.order.reason ?? brokerReason(error.cause)
        : error instanceof OrderUnconfirmedError ? unconfirmedReason(error)
        : error instanceof ProtectionError ? `${error.reason}: ${error.message}` : `internal: ${error instanceof Error ? error.message : String(error)}`);
      ctx.logger.error({ event: 'execution.failed', signalId: job.signalId, account: job.account, err: error instanceof Error ? error.stack : String(error) }, 'execution failed');
    }
    clearInterval(renewal);
    this.journalOutcome(job, execution.id, outcome);
    ctx.logger.info({ event: `execution.${outcome.status}`, signalId: job.signalId, account: job.account, symbol: job.symbol, reason: outcome.reason },
      `signal ${job.signalId} at ${job.account}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}`);
    ctx.notify?.({ type: 'execution', signalId: job.signalId, account: job.account, symbol: job.symbol, status: outcome.status, reason: outcome.reason });
    return outcome;
  }

  // The journal's units of work. An execution writes in these steps, each one commit (ExecutionsRepo.unitOfWork):
  //   admission  the signal row, its duplicate verdict or its execution row, and the lease with status `running`
  //              (journalAdmission; takeLease again only while another run holds the lease)
  //   intent     an order's write-ahead intent (OrdersRepo.recordIntent; a bracket's three together), made durable
  //              (fsynced, shared with concurrent executions) before the broker call (OrderTracker)
  //   answer     what the broker said of one order: its fills and status steps (OrderTracker.sync)
  //   booking    the position opened, grown, reduced or closed from those fills (position-actions.ts)
  //   outcome    the execution's status, its lease released, the signal's settled state (journalOutcome)
  // None but the intent waits for an fsync (synchronous = NORMAL, db.ts): a process kill loses none of them; a power loss
  // can lose the last ones, and a re-run derives the same client ids from the queued job and looks its orders up.

  /**
   * Admission: the signal journalled, and either found a duplicate or given its execution row and, where nobody holds
   * it, its lease, in one commit (a commit of its own for the lease cost ~4 WAL frames a signal).
   */
  private journalAdmission(job: ExecutionJobData, alert: ParsedAlert, receivedAt: Date): { duplicateOf: string; execution?: undefined; lease?: undefined }
    | { duplicateOf?: undefined; execution: { id: number }; lease: LeaseClaim } {
    const { ctx } = this;
    return ctx.executions.unitOfWork(() => {
      ctx.signals.insert({
        signalId: job.signalId, strategy: job.strategy, userId: alert.id, ticker: alert.ticker, symbol: job.symbol, action: alert.action,
        sentiment: alert.sentiment, payload: job.rawPayload, receivedAt, status: 'queued', contentHash: job.contentHash,
      });
      const earlier = this.earlierTwin(job, alert, receivedAt);
      if (earlier) {
        ctx.signals.updateStatus(job.signalId, 'duplicate', `duplicate of ${earlier}`);
        return { duplicateOf: earlier };
      }
      const { execution } = ctx.executions.createOrGet({ signalId: job.signalId, account: job.account, strategy: job.strategy });
      return { execution, lease: this.claimLease(execution) };
    });
  }

  /** Outcome: the execution's status, its lease given up and the signal's recorded state, in one commit. */
  private journalOutcome(job: ExecutionJobData, executionId: number, outcome: ExecutionOutcome): void {
    const { ctx } = this;
    ctx.executions.unitOfWork(() => {
      ctx.executions.setStatus(executionId, outcome.status, outcome.reason);
      ctx.executions.release(executionId, ctx.owner);
      this.settleSignal(job);
    });
  }

  /** The durable backstop of the intake's dedupe: an earlier signal with the same id (or content) inside the window. */
  private earlierTwin(job: ExecutionJobData, alert: ParsedAlert, receivedAt: Date): string | undefined {
    const webhook = this.ctx.config().webhook;
    const candidates = alert.id !== undefined
      ? this.ctx.signals.findByUserId(job.strategy, alert.id, new Date(receivedAt.getTime() - webhook.idDedupeWindowSeconds * 1000))
      : this.ctx.signals.findByContentHash(job.strategy, job.contentHash, new Date(receivedAt.getTime() - webhook.contentDedupeWindowSeconds * 1000));
    const twin = candidates.find((s) => s.signalId < job.signalId && s.status !== 'duplicate');
    return twin?.signalId;
  }

  /** Waits out another holder of the execution's lease and takes it; false when the execution is already finished. */
  private async takeLease(executionId: number): Promise<boolean> {
    const { executions } = this.ctx;
    for (;;) {
      await this.ctx.sleep(250);
      const taken = executions.unitOfWork(() => this.claimLease(executions.findById(executionId)));
      if (taken !== 'held') return taken === 'taken';
    }
  }

  /**
   * The lease: read, claimed and marked running inside the caller's commit, so no other run sees it claimed but not yet
   * running. `held` while another run's lease lasts; `finished` for an execution that has ended.
   */
  private claimLease(execution: { id: number; status: ExecutionStatus } | undefined): LeaseClaim {
    const { executions } = this.ctx;
    if (execution === undefined || TERMINAL_EXECUTION.has(execution.status)) return 'finished';
    if (!executions.claimLease(execution.id, this.ctx.owner, this.leaseMs(), this.ctx.now())) return 'held';
    executions.setStatus(execution.id, 'running');
    return 'taken';
  }

  /** Once every account's execution has ended, the signal gets its one recorded state. */
  private settleSignal(job: ExecutionJobData): void {
    settleSignal(this.ctx, job.signalId, job.accounts.length);
  }

  private async run(job: ExecutionJobData, alert: ParsedAlert, receivedAt: Date, executionId: number): Promise<ExecutionOutcome> {
    const { ctx } = this;
    const config = ctx.config();
    const strategy = config.strategies[job.strategy];
    if (!strategy) return refused(`unknown_strategy: '${job.strategy}' is no longer in the config`);
    const subscription = strategy.subscriptions.find((s) => s.account === job.account) ?? { account: job.account, quantityFromAlert: true };
    const broker = ctx.brokers.get(job.account);
    const work: Work = { job, alert, strategy, subscription, broker, executionId, receivedAt };

    const unsupported = this.unsupportedByBroker(broker, alert);
    if (unsupported) return refused(`unsupported: ${unsupported}`);

    // A simulated broker takes its prices from the alerts. That price can set off the position's stop or target at
    // the broker: book that close (and cancel its sibling) before the signal is judged, or it meets a position the
    // broker no longer holds.
    if (alert.price !== undefined && acceptsPrices(broker)) {
      await broker.updatePrices(new Map([[job.symbol, alert.price]]));
      const held = ctx.positions.findOpen(job.account, job.symbol);
      if (held?.status === 'open') await syncProtection(ctx, broker, held);
    }

    const resumed = await this.resume(work);
    if (resumed) return resumed;
    // An earlier signal's entry the venue took while its fills could not be read: its position is what this one meets.
    const unsettled = await settleInterruptedEntries(ctx, broker, job.account, job.symbol);
    if (unsettled) return failed(unsettled);

    const position = await this.settledPosition(job.account, job.symbol, this.reversalTimeoutMs(work));
    if (position && position.status === 'closing') return failed('position_busy: the position is still being closed');
    if (position && position.status === 'external') return refused('position_owned: an external position in this symbol (not opened by tradewire)');
    if (position && position.strategy !== job.strategy && alert.action !== 'cancel') {
      return refused(`position_owned: the ${position.side} position in ${job.symbol} belongs to strategy '${position.strategy}'`);
    }
    const entryOrders = this.restingEntries(job.account, job.symbol, job.strategy);
    const intent = decideIntent({
      action: alert.action, sentiment: alert.sentiment, quantity: alert.quantity, quantityType: alert.quantityType,
      position: position ? { side: position.side, quantity: position.quantity } : undefined,
      strategy: { allowShorts: strategy.allowShorts, allowReversal: strategy.allowReversal, pyramiding: strategy.pyramiding.enabled },
      openEntryOrders: entryOrders.length,
    });
    ctx.logger.debug({ event: 'execution.intent', signalId: job.signalId, account: job.account, intent: intent.kind }, 'intent decided');
    return this.carryOut(work, intent, position);
  }

  /**
   * A re-run of an execution whose earlier attempt died midway (the worker was killed, BullMQ handed the job
   * over): finish what that attempt started instead of deciding anew, which would see its own position and
   * call the signal a no_op, leaving an entry unprotected. Returns undefined when there is nothing to resume
   * (or, after a reversal's close, when the new entry still has to be made by the normal path).
   */
  private async resume(work: Work): Promise<ExecutionOutcome | undefined> {
    const { ctx } = this;
    const { job, broker } = work;
    const prior = ctx.orders.ordersForSignal(job.signalId).filter((o) => o.account === job.account);
    if (prior.length === 0) return undefined;
    ctx.logger.warn({ event: 'execution.resumed', signalId: job.signalId, account: job.account, orders: prior.map((o) => `${o.leg}:${o.status}`) },
      'resuming an execution an earlier attempt started');
    let haltedEntry: ExecutionOutcome | undefined;
    for (const order of prior) {
      const inDoubt = order.status === 'pending_submit' || order.status === 'unknown';
      // An entry the earlier attempt journalled but may never have sent, and the account is halted since (and with it
      // its bracket's legs): looked up, never sent; one the broker never saw is rejected here, so it never leaves.
      const halted = inDoubt && (order.leg === 'entry' || (haltedEntry && order.leg !== 'exit')) ? haltedEntry ?? this.haltedNow(job.account) : undefined;
      if (halted) {
        const known = await ctx.tracker.refresh(broker, order.clientOrderId);
        if (known.status === 'pending_submit' || known.status === 'unknown') {
          ctx.orders.updateFromBroker(order.clientOrderId, { status: 'rejected', reason: halted.reason ?? 'halted' });
          if (order.leg === 'entry') haltedEntry = halted;
        }
      } else if (inDoubt) {
        // place() finds a journalled intent, looks it up at the broker by client id, and sends it only if the broker never saw it.
        await ctx.tracker.place(broker, order);
      } else {
        await ctx.tracker.refresh(broker, order.clientOrderId);
      }
    }
    if (haltedEntry && !prior.some((o) => o.leg === 'exit')) return haltedEntry;
    const instrument = await broker.instrument(job.symbol);
    const exit = ctx.orders.ordersForSignal(job.signalId).find((o) => o.account === job.account && o.leg === 'exit');
    const entry = ctx.orders.ordersForSignal(job.signalId).find((o) => o.account === job.account && o.leg === 'entry');
    // A reversal's new entry stopped by the halt: its close is booked as if it had been the whole signal.
    if (exit && (!entry || haltedEntry)) {
      const position = exit.positionId ? ctx.positions.findById(exit.positionId) : undefined;
      if (position && position.status !== 'closed' && exit.status === 'filled') {
        const record = closeRecord(ctx, position, exit, 'signal');
        if (record.quantity.gte(position.quantity)) ctx.positions.close(position.id, record);
        else reducePosition(ctx, position, record, position.quantity.minus(record.quantity));
      } else if (position && position.status === 'closing' && exit.status !== 'filled') {
        return failed(`exit_unfilled: the exit order ${exit.clientOrderId} is ${exit.status}`);
      }
      if (haltedEntry) return { status: 'halted', reason: `${haltedEntry.reason ?? 'halted'} (the position was closed; no new entry)` };
      // A reversal closes with the alert's own side (a buy closes the short) and then opens: let the normal path open.
      const reversal = (work.alert.action === 'buy' || work.alert.action === 'sell') && work.alert.sentiment !== 'flat' && exit.side === work.alert.action;
      return reversal ? undefined : ok();
    }
    if (!entry) return undefined;
    if (entry.status === 'rejected' || entry.status === 'cancelled' || entry.status === 'expired') {
      return entry.filledQuantity.gt(0) ? this.finishEntry(work, instrument, entry) : refused(`${entry.status}: ${entry.reason ?? 'the entry did not fill'}`);
    }
    if (entry.filledQuantity.lte(0)) return ok();
    return this.finishEntry(work, instrument, entry);
  }

  /** An entry that has filled: make sure its position is booked and protected. */
  private async finishEntry(work: Work, instrument: Instrument, entry: JournalOrder): Promise<ExecutionOutcome> {
    const { ctx } = this;
    let position = entry.positionId ? ctx.positions.findById(entry.positionId) : undefined;
    if (!position) {
      // Opened, but the process died before the entry was linked to it.
      const open = ctx.positions.findOpen(work.job.account, work.job.symbol);
      if (open?.signalId === work.job.signalId) {
        ctx.orders.linkPosition(entry.clientOrderId, open.id);
        position = open;
      }
    }
    const existing = position && position.signalId !== work.job.signalId ? position : undefined;
    if (!position) {
      const side: PositionSide = entry.side === 'buy' ? 'long' : 'short';
      position = this.recordEntryFill(work, newPositionId(), side, undefined, entry, tradingDay(ctx.now(), accountTimeZone(ctx, work.job.account)));
    }
    if (existing && !this.netOfFills(existing.id, existing.side).eq(existing.quantity)) {
      position = this.recordEntryFill(work, existing.id, existing.side, existing, entry, existing.tradingDay);
    }
    if (position.status === 'closed' || position.protection === 'emulated') return ok();
    const bracketLegs = ctx.orders.ordersForSignal(work.job.signalId)
      .filter((o) => o.account === work.job.account && (o.leg === 'stop' || o.leg === 'target'));
    const native = work.broker.capabilities.protectionFor(instrument);
    if (!existing && (native === 'native' || native === 'attached') && bracketLegs.length > 0) {
      // The bracket's own legs protect it: link them to the position rather than placing new ones.
      for (const leg of bracketLegs) ctx.orders.linkPosition(leg.clientOrderId, position.id);
      ctx.positions.update(position.id, { protection: 'native' });
      return ok();
    }
    return this.protect(work, instrument, position, entry.side, existing);
  }

  /** A position's quantity as the sum of its orders' fills (opening side positive): what it must be. */
  private netOfFills(positionId: string, side: PositionSide): Decimal {
    const opening = openingSide(side);
    return this.ctx.orders.ordersForPosition(positionId).reduce((net, order) => {
      const filled = this.ctx.orders.fillsForOrder(order.clientOrderId).reduce((sum, f) => sum.plus(f.quantity), ZERO);
      return order.side === opening ? net.plus(filled) : net.minus(filled);
    }, ZERO);
  }

  private async carryOut(work: Work, intent: Intent, position: Position | undefined): Promise<ExecutionOutcome> {
    switch (intent.kind) {
      case 'refuse':
        return refused(`${intent.reason}: ${intent.detail}`);
      case 'open': {
        const blocked = this.entryBlocked(work);
        if (blocked) return blocked;
        await this.cancelEntries(work);
        return this.open(work, intent.side, undefined);
      }
      case 'add': {
        if (!position) return refused('no_op: nothing to add to');
        const blocked = this.entryBlocked(work);
        if (blocked) return blocked;
        return this.open(work, intent.side, position);
      }
      case 'close':
      case 'exit_and_cancel': {
        if (intent.kind === 'exit_and_cancel') await this.cancelEntries(work);
        if (!position) return ok();
        const closed = await this.close(work, position, intent.percent === undefined ? undefined : { percent: intent.percent });
        const skipped = intent.kind === 'close' && intent.percent === undefined ? this.skippedShort(work, position) : undefined;
        return closed.status === 'executed' && skipped ? { status: 'executed', reason: skipped } : closed;
      }
      case 'reduce': {
        if (!position) return refused('no_op: nothing left to reduce');
        return this.close(work, position, intent.quantityType === 'dollar_amount'
          ? { dollarAmount: intent.quantity } : { quantity: intent.quantity });
      }
      case 'reverse': {
        if (!position) return refused('no_op: nothing to reverse');
        const closed = await this.close(work, position, undefined, 'reversal_timeout');
        if (closed.status !== 'executed') return closed;
        const blocked = this.entryBlocked(work);
        if (blocked) return { status: blocked.status, reason: `${blocked.reason ?? blocked.status} (the ${position.side} was closed; no new ${intent.openSide})` };
        return this.open(work, intent.openSide, undefined);
      }
      case 'update_protection':
        if (!position) return refused('no_op: nothing to update');
        // Kept apart (update-protection.ts): it trades nothing, it only moves what protects the position.
        return updateProtection(this.ctx, { broker: work.broker, alert: work.alert, signalId: work.job.signalId }, position);
      case 'cancel_entries': {
        const cancelled = await this.cancelEntries(work);
        if (cancelled === 0 && intent.noneIsNoOp) return refused('no_op: no position and no open entry orders');
        return ok();
      }
    }
  }

  /**
   * A sell short (or without a sentiment) on a long would have reversed it had the strategy allowed shorts: the close
   * went through, and the signal says the short was skipped rather than reading as a plain exit.
   */
  private skippedShort(work: Work, position: Position): string | undefined {
    const { alert, strategy } = work;
    if (alert.action !== 'sell' || position.side !== 'long' || strategy.allowShorts || !strategy.allowReversal) return undefined;
    if (alert.sentiment !== 'short' && alert.sentiment !== undefined) return undefined;
    return 'reversal_skipped:shorts_disabled: the long was closed; no short opened (allowShorts is off)';
  }

  /** Why an entry may not be placed now, before any work: too old in the queue, or trading halted. */
  private entryBlocked(work: Work): ExecutionOutcome | undefined {
    const config = this.ctx.config();
    const maxDelay = (work.strategy.maxExecutionDelaySeconds ?? config.execution.maxExecutionDelaySeconds) * 1000;
    const waited = this.ctx.now().getTime() - work.receivedAt.getTime();
    if (waited > maxDelay) return { status: 'stale', reason: `stale: waited ${Math.round(waited / 1000)} s in the queue (maxExecutionDelaySeconds ${maxDelay / 1000})` };
    return this.haltedNow(work.job.account);
  }

  /** The account's halt as the journal holds it now (never a copy): the outcome of an entry it stops. */
  private haltedNow(account: string): ExecutionOutcome | undefined {
    const day = tradingDay(this.ctx.now(), accountTimeZone(this.ctx, account));
    if (!this.ctx.accountState.isHalted(account, day)) return undefined;
    const state = this.ctx.accountState.get(account);
    return { status: 'halted', reason: `halted: ${state?.haltedReason ?? 'trading is halted'}` };
  }

  /** What the alert asks for that this broker cannot do: refused, never silently ignored. */
  private unsupportedByBroker(broker: Broker, alert: ParsedAlert): string | undefined {
    const caps = broker.capabilities;
    if (!caps.orderTypes.includes(alert.orderType)) return `${broker.name} does not take ${alert.orderType} orders`;
    if (alert.timeInForce !== undefined && !caps.timeInForce.includes(alert.timeInForce)) return `${broker.name} does not take timeInForce ${alert.timeInForce}`;
    if (alert.extendedHours === true && !caps.extendedHours) return `${broker.name} does not trade extended hours`;
    return undefined;
  }

  /** The position in this symbol, after waiting (at most `timeoutMs`) for a close in progress to finish. */
  private async settledPosition(account: string, symbol: string, timeoutMs: number): Promise<Position | undefined> {
    const deadline = this.ctx.now().getTime() + timeoutMs;
    let position = this.ctx.positions.findOpen(account, symbol);
    while (position?.status === 'closing' && this.ctx.now().getTime() < deadline) {
      await this.ctx.sleep(100);
      position = this.ctx.positions.findOpen(account, symbol);
    }
    return position;
  }

  private restingEntries(account: string, symbol: string, strategy: string): JournalOrder[] {
    return this.ctx.orders.openOrders(account, symbol).filter((o) => o.leg === 'entry' && o.strategy === strategy);
  }

  /** Cancels this strategy's resting entry orders in the ticker; returns how many there were. */
  private async cancelEntries(work: Work): Promise<number> {
    const resting = this.restingEntries(work.job.account, work.job.symbol, work.job.strategy);
    for (const order of resting) await this.ctx.tracker.cancel(work.broker, order.clientOrderId);
    return resting.length;
  }

  /**
   * The symbol's quote for sizing an entry, no older than execution.maxQuoteAgeSeconds: an old one is fetched once
   * more (a venue's snapshot can lag), and if it is still old the entry is refused rather than sized from a price
   * the market has left. Undefined when the venue has no quote at all.
   */
  private async freshQuote(work: Work): Promise<{ last: Decimal } | { stale: string } | undefined> {
    const { ctx } = this;
    const maxAgeMs = ctx.config().execution.maxQuoteAgeSeconds * 1000;
    let quote: Quote | undefined;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      quote = (await work.broker.quotes([work.job.symbol])).get(work.job.symbol);
      if (!quote || ctx.now().getTime() - quote.time.getTime() <= maxAgeMs) return quote;
    }
    if (!quote) return undefined;
    const age = Math.round((ctx.now().getTime() - quote.time.getTime()) / 1000);
    return { stale: `stale_quote: the last quote for ${work.job.symbol} is ${age} s old (${quote.time.toISOString()}, execution.maxQuoteAgeSeconds ${maxAgeMs / 1000}); the entry was not sized from it` };
  }

  /** Opens a position on `side`, or adds to `existing`: risk, sizing, the entry, and its protection once it fills. */
  private async open(work: Work, side: PositionSide, existing: Position | undefined): Promise<ExecutionOutcome> {
    const { ctx } = this;
    const { job, alert, strategy, broker } = work;
    const now = ctx.now();
    const instrument = await broker.instrument(job.symbol);
    const account = await broker.account();
    const entrySide = openingSide(side);
    const risk = { ...strategy.risk, ...(work.subscription.risk ?? {}) };

    let quotePrice: Decimal | undefined;
    // Only an entry with no price of its own is sized from a quote (a stop entry prices from its stop).
    if (alert.price === undefined && alert.limitPrice === undefined && alert.stopPrice === undefined) {
      const quote = await this.freshQuote(work);
      if (quote && 'stale' in quote) return refused(quote.stale);
      quotePrice = quote?.last;
    }
    const basePrice = alert.limitPrice ?? alert.stopPrice ?? alert.price ?? quotePrice;
    if (!basePrice) return refused(`no_price: no alert price and no quote for ${job.symbol}`);

    if (existing && strategy.pyramiding.enabled) {
      const entries = ctx.orders.ordersForPosition(existing.id).filter((o) => o.leg === 'entry' && o.filledQuantity.gt(0)).length;
      if (entries >= strategy.pyramiding.maxEntries) return refused(`risk:max_entries: already ${entries} entries (pyramiding.maxEntries ${strategy.pyramiding.maxEntries})`);
    }

    // Protection: the alert's stop and target, else the strategy's; priced from the entry price for now.
    const legs = this.protectionFor(work, entrySide, basePrice, instrument);
    if (!legs.ok) return refused(`invalid: ${legs.issues}`);

    const open = ctx.positions.listOpen(job.account);
    const exposure = open.reduce((sum, p) => sum.plus(p.quantity.mul(p.averageEntryPrice)), ZERO);
    const day = tradingDay(now, accountTimeZone(ctx, job.account));
    const dayStart = ctx.accountState.get(job.account)?.dayStartEquity ?? account.equity;
    const realizedToday = ctx.positions.realizedOnDay(job.account, day);
    const unrealized = open.filter((p) => p.symbol === job.symbol && alert.price !== undefined)
      .reduce((sum, p) => sum.plus(unrealizedPnl(p, alert.price as Decimal)), ZERO);
    const lastExit = ctx.positions.lastClosed(job.account, job.symbol, job.strategy);
    // The account's kill switch acts through the halt, which `resume` lifts; only a strategy's own day-loss limit is checked here.
    const riskBase = {
      now, strategy: job.strategy, strategyEnabled: strategy.enabled, halted: false, symbol: job.symbol, allowedSymbols: strategy.allowedSymbols,
      session: strategy.session, openPositions: open.length, maxOpenPositions: risk.maxOpenPositions, addsToExistingPosition: existing !== undefined,
      equity: account.equity, positionNotional: existing ? existing.quantity.mul(existing.averageEntryPrice) : undefined,
      maxPositionPercent: risk.maxPositionPercent, totalExposure: exposure, maxTotalExposurePercent: risk.maxTotalExposurePercent,
      dayPnl: realizedToday.plus(unrealized), dayStartEquity: dayStart, maxDailyLossPercent: risk.maxDailyLossPercent,
      lastExitAt: lastExit?.closedAt, cooldownSeconds: risk.cooldownSeconds, buyingPower: account.buyingPower,
      existingPosition: existing ? { strategy: existing.strategy } : undefined,
    };
    const before = checkEntryRisk(riskBase);
    if (!before.ok) return refused(`${before.reason}: ${before.detail}`);

    const sizing = this.sizingInput(work, instrument, account.equity, account.buyingPower, basePrice, legs.stop?.stopPrice, risk.maxPositionPercent, existing);
    if ('refusal' in sizing) return refused(sizing.refusal);
    const sized = sizePosition(sizing);
    if (!sized.ok) return refused(`${sized.reason}: ${sized.detail}`);
    const after = checkEntryRisk({ ...riskBase, entryNotional: sized.notional });
    if (!after.ok) return refused(`${after.reason}: ${after.detail}`);

    const positionId = existing?.id ?? newPositionId();
    const entryId = idFor(broker, { source: job.signalId, account: job.account, leg: 'entry' });
    const type: OrderType = alert.orderType;
    const protection = broker.capabilities.protectionFor(instrument);
    const unplaceable = protection === 'emulated' ? undefined : unplaceableTrail(broker, legs.stop);
    if (unplaceable) return refused(`unsupported: ${unplaceable}`);
    if (existing && (protection === 'native' || protection === 'attached')) {
      // The bracket's exits already hold the position at the broker; exits for the added part would be a second set,
      // which such brokers refuse (Alpaca: one resting sell per position). Refused before anything is sent.
      return refused(`unsupported: ${job.symbol} is protected by a bracket held at ${broker.name}; adding to it is not supported there (close and re-enter instead)`);
    }
    // Where the broker previews margin (futures), an entry that would take more than allowed is refused by name.
    if (broker.capabilities.marginPreview && broker.marginImpact) {
      const impact = await broker.marginImpact({
        clientOrderId: entryId, symbol: job.symbol, side: entrySide, type, quantity: sized.quantity, limitPrice: alert.limitPrice, stopPrice: alert.stopPrice,
      });
      const margin = checkMargin({ ...impact, equity: account.equity, maxMarginPercent: risk.maxMarginPercent });
      if (!margin.ok) return refused(`${margin.reason}: ${margin.detail}`);
    }
    // The halt is read again from the journal with nothing awaited between here and the entry's intent being journalled:
    // a kill switch that tripped while this job sized it (or waited on the broker above) stops it here, and one that
    // trips after sees the intent and waits for this job (kill-switch.ts).
    const halted = this.haltedNow(job.account);
    if (halted) return halted;
    if (!existing && protection === 'attached' && legs.levels) {
      // An attached bracket (Coinbase) carries exactly one target: scale-out levels cannot ride with it.
      return refused(`unsupported: ${broker.name} attaches one stop and one target to an entry; give takeProfit as one target, not a list of levels`);
    }
    if (!existing && (protection === 'native' || protection === 'attached')) {
      return this.openBracket(work, { instrument, side, entrySide, quantity: sized.quantity, legs, entryId, positionId, day });
    }
    let entry = await ctx.tracker.place(broker, {
      clientOrderId: entryId, account: job.account, strategy: job.strategy, symbol: job.symbol, side: entrySide, leg: 'entry', type,
      quantity: sized.quantity, limitPrice: alert.limitPrice, stopPrice: alert.stopPrice, trailAmount: alert.trailAmount, trailPercent: alert.trailPercent,
      timeInForce: alert.timeInForce, signalId: job.signalId, executionId: work.executionId, positionId: existing?.id,
    }, { extendedHours: alert.extendedHours });
    if (entry.status === 'rejected' || entry.status === 'cancelled' || entry.status === 'expired') {
      return refused(`${entry.status}: ${entry.reason ?? 'the broker did not fill the entry'}`);
    }
    if (entry.filledQuantity.lte(0)) return ok(); // resting: the position manager protects it as it fills

    entry = await ctx.tracker.refresh(broker, entry.clientOrderId);
    const position = this.recordEntryFill(work, positionId, side, existing, entry, day);
    return this.protect(work, instrument, position, entrySide, existing);
  }

  /**
   * Where the broker protects a position itself, the entry travels with its stop and target in one bracket,
   * priced from the entry's limit price or else the alert price. An add still protects after its fill.
   */
  private async openBracket(work: Work, p: { instrument: Instrument; side: PositionSide; entrySide: 'buy' | 'sell'; quantity: Decimal;
    legs: ProtectionLegs; entryId: string; positionId: string; day: string }): Promise<ExecutionOutcome> {
    const { ctx } = this;
    const { job, alert, broker } = work;
    const common = { account: job.account, strategy: job.strategy, symbol: job.symbol, signalId: job.signalId, executionId: work.executionId, quantity: p.quantity };
    const exitSide = p.entrySide === 'buy' ? 'sell' as const : 'buy' as const;
    const stop = p.legs.stop;
    const placed = await ctx.tracker.placeBracket(broker, {
      entry: { ...common, clientOrderId: p.entryId, side: p.entrySide, leg: 'entry', type: alert.orderType, limitPrice: alert.limitPrice, stopPrice: alert.stopPrice,
        trailAmount: alert.trailAmount, trailPercent: alert.trailPercent, timeInForce: alert.timeInForce },
      stop: stop && { ...common, clientOrderId: idFor(broker, { source: job.signalId, account: job.account, leg: 'stop' }), side: exitSide, leg: 'stop',
        type: stop.type, stopPrice: stop.type === 'trailing_stop' ? undefined : stop.stopPrice, limitPrice: stop.limitPrice,
        trailAmount: stop.trailAmount, trailPercent: stop.trailPercent, timeInForce: 'gtc' },
      target: p.legs.target && { ...common, clientOrderId: idFor(broker, { source: job.signalId, account: job.account, leg: 'target' }), side: exitSide,
        leg: 'target', type: 'limit', limitPrice: p.legs.target.limitPrice, timeInForce: 'gtc' },
    }, { extendedHours: alert.extendedHours });
    if (placed.entry.status === 'rejected' || placed.entry.status === 'cancelled' || placed.entry.status === 'expired') {
      return refused(`${placed.entry.status}: ${placed.entry.reason ?? 'the broker did not fill the entry'}`);
    }
    if (placed.entry.filledQuantity.lte(0)) return ok(); // resting, its legs held by the broker until it fills
    const position = this.recordEntryFill(work, p.positionId, p.side, undefined, placed.entry, p.day);
    for (const leg of [placed.stop, placed.target]) if (leg) ctx.orders.linkPosition(leg.clientOrderId, position.id);
    ctx.positions.update(position.id, {
      protection: 'native', stopPrice: stop?.stopPrice ?? null, targetPrice: p.legs.target?.limitPrice ?? null,
      trailPercent: stop?.trailPercent ?? null, trailAmount: stop?.trailAmount ?? null,
    });
    return ok();
  }

  /** Books the entry's fills into the position (new, or grown by an add). */
  private recordEntryFill(work: Work, positionId: string, side: PositionSide, existing: Position | undefined, entry: JournalOrder, day: string): Position {
    return recordEntryFills(this.ctx, { account: work.job.account, strategy: work.job.strategy, symbol: work.job.symbol, signalId: work.job.signalId },
      positionId, side, existing, entry, day);
  }

  /**
   * Protects a filled entry, priced from the fill. If it cannot be protected after retries, it is closed at
   * once and the signal fails with the reason: tradewire never leaves a position without its stop.
   */
  private async protect(work: Work, instrument: Instrument, position: Position, entrySide: 'buy' | 'sell', existing: Position | undefined): Promise<ExecutionOutcome> {
    const { ctx } = this;
    const { job, broker } = work;
    let legs: ProtectionLegs;
    if (existing && !work.alert.stopLoss && !work.alert.takeProfit) {
      legs = currentLegs(position, ctx); // an add keeps the prices it had; only the quantity changes
    } else {
      const fresh = this.protectionFor(work, entrySide, position.averageEntryPrice, instrument);
      if (!fresh.ok) {
        await this.emergencyClose(work, instrument, position, `protection_invalid: ${fresh.issues}`);
        return failed(`protection_failed: ${fresh.issues}; the position was closed`);
      }
      legs = fresh;
    }
    // The signal's own ids: placing protection again (a re-run after a crash) completes what is missing and never doubles it.
    const ids = { stop: idFor(broker, { source: job.signalId, account: job.account, leg: 'stop' }), target: idFor(broker, { source: job.signalId, account: job.account, leg: 'target' }) };
    try {
      if (existing) {
        // An add: the earlier protection (for the smaller position) goes; this signal's, for the new total, replaces it.
        for (const order of protectiveOrders(ctx, existing.id)) {
          if (order.clientOrderId !== ids.stop && order.clientOrderId !== ids.target) await ctx.tracker.cancel(broker, order.clientOrderId);
        }
      }
      const placed = await placeProtection(ctx, broker, instrument, position, legs, ids, { signalId: job.signalId, executionId: work.executionId });
      // A scale-out level merged into the next one: executed, and the signal's outcome says how.
      if (placed.notes.length > 0) return { status: 'executed', reason: placed.notes.join('; ') };
    } catch (error) {
      const reason = error instanceof OrderFailedError ? error.order.reason ?? brokerReason(error.cause) : error instanceof Error ? error.message : String(error);
      await this.emergencyClose(work, instrument, position, reason);
      return failed(`protection_failed: ${reason}; the position was closed`);
    }
    return ok();
  }

  private async emergencyClose(work: Work, instrument: Instrument, position: Position, reason: string): Promise<void> {
    const { ctx } = this;
    ctx.logger.error({ event: 'position.unprotected', positionId: position.id, symbol: position.symbol, reason }, 'entry filled but could not be protected: closing it now');
    const fresh = ctx.positions.findById(position.id) ?? position;
    const outcome = await closePosition(ctx, work.broker, instrument, fresh, {
      reason: 'signal', clientOrderId: idFor(work.broker, { source: work.job.signalId, account: work.job.account, leg: 'exit' }),
      signalId: work.job.signalId, executionId: work.executionId, fillTimeoutMs: this.reversalTimeoutMs(work),
    });
    if (outcome.kind !== 'closed') {
      ctx.accountState.halt(work.job.account, `unprotected ${position.symbol} could not be closed (${outcome.kind})`);
      ctx.notify?.({ type: 'halt', account: work.job.account, reason: `unprotected ${position.symbol} could not be closed (${outcome.kind})` });
    }
  }

  /** Closes all of a position or part of it for this signal. */
  private async close(work: Work, position: Position, part: { percent: Decimal } | { quantity: Decimal } | { dollarAmount: Decimal } | undefined,
    timeoutReason = 'exit_unfilled'): Promise<ExecutionOutcome> {
    const { ctx } = this;
    const { job, broker, alert } = work;
    const instrument = await broker.instrument(job.symbol);
    let quantity: Decimal | undefined;
    if (part) {
      const price = alert.price ?? (await broker.quotes([job.symbol])).get(job.symbol)?.last;
      const reduction = 'dollarAmount' in part ? (price ? { dollarAmount: part.dollarAmount, price } : undefined) : part;
      if (!reduction) return refused(`no_price: a dollar amount needs a price for ${job.symbol}`);
      const sized = sizeReduction({ positionQuantity: position.quantity, reduction, instrument, price });
      if (!sized.ok) return refused(`${sized.reason}: ${sized.detail}`);
      quantity = sized.closesAll ? undefined : sized.quantity;
    }
    const outcome = await closePosition(ctx, broker, instrument, position, {
      quantity, reason: 'signal', clientOrderId: idFor(broker, { source: job.signalId, account: job.account, leg: 'exit' }),
      signalId: job.signalId, executionId: work.executionId, fillTimeoutMs: this.reversalTimeoutMs(work),
    });
    switch (outcome.kind) {
      case 'closed':
      case 'reduced':
        return ok();
      case 'busy':
        return failed('position_busy: another close of this position is in progress');
      case 'unfilled':
        return failed(`${timeoutReason}: the exit order ${outcome.order.clientOrderId} is ${outcome.order.status}`);
    }
  }

  private leaseMs(): number {
    return this.ctx.config().queue.lockDurationSeconds * 1000;
  }

  private reversalTimeoutMs(work: Work): number {
    return 1000 * (work.strategy.reversalTimeoutSeconds ?? this.ctx.config().execution.reversalTimeoutSeconds);
  }

  /** Stop and target from the alert, else the strategy's defaults, as prices on the instrument's tick. */
  private protectionFor(work: Work, entrySide: 'buy' | 'sell', basePrice: Decimal, instrument: Instrument): ({ ok: true } & ProtectionLegs) | { ok: false; issues: string } {
    return protectionLegsFor(work.alert, work.strategy, entrySide, basePrice, instrument);
  }

  private sizingInput(work: Work, instrument: Instrument, equity: Decimal, buyingPower: Decimal, price: Decimal, stopPrice: Decimal | undefined,
    maxPositionPercent: Decimal | undefined, existing: Position | undefined): SizingInput | { refusal: string } {
    const { alert, strategy, subscription } = work;
    const accountConfig = this.ctx.config().accounts[work.job.account];
    const common = { limitPrice: alert.limitPrice, alertPrice: alert.price ?? price, stopPrice, equity, buyingPower, maxPositionPercent,
      positionQuantity: existing?.quantity, instrument, expectedSlippagePercent: accountConfig ? expectedSlippagePercent(accountConfig) : undefined };
    if (alert.quantity !== undefined && subscription.quantityFromAlert) {
      return { ...common, mode: alert.quantityType ?? 'fixed_quantity', value: alert.quantity };
    }
    const sizing = subscription.sizing ?? strategy.sizing;
    if (sizing.mode !== 'kelly') return { ...common, mode: sizing.mode, value: sizing.value };
    const kelly = sizing.kelly;
    if (!kelly) return { refusal: 'missing_value: kelly sizing without kelly settings' };
    let winRate = kelly.winRate;
    let payoff = kelly.payoff;
    if (kelly.fromJournal) {
      const trades = this.ctx.positions.listClosed({ strategy: work.job.strategy });
      const wins = trades.filter((t) => t.realizedPnl.gt(0));
      const losses = trades.filter((t) => t.realizedPnl.lt(0));
      if (wins.length > 0 && losses.length > 0) {
        winRate = new Decimal(wins.length).div(trades.length);
        const avgWin = wins.reduce((s, t) => s.plus(t.realizedPnl), ZERO).div(wins.length);
        const avgLoss = losses.reduce((s, t) => s.plus(t.realizedPnl.abs()), ZERO).div(losses.length);
        payoff = avgWin.div(avgLoss);
      }
    }
    if (winRate === undefined || payoff === undefined) return { refusal: 'kelly_no_history: no win rate and payoff configured or journalled yet' };
    if (kellyFraction(winRate, payoff).lte(0)) return { refusal: `kelly_no_edge: win rate ${winRate.toFixed(4)} and payoff ${payoff.toFixed(4)} give no edge` };
    return { ...common, mode: 'kelly', kelly: { winRate, payoff, fraction: kelly.fraction, maxPercent: kelly.maxPercent } };
  }
}

/**
 * Why the broker could not hold this trailing stop, or undefined when it can: found before the entry is sent, so a
 * stop that would be refused after the fill never leaves a position opened and closed again at once.
 */
function unplaceableTrail(broker: Broker, stop: ProtectionLegs['stop']): string | undefined {
  const trailBy = broker.capabilities.trailBy;
  if (stop === undefined || trailBy === undefined) return undefined;
  if (stop.trailAmount !== undefined && !trailBy.includes('amount')) {
    return `${broker.name} trails a stop by a percentage only: give stopLoss.trailPercent instead of an amount`;
  }
  if (stop.trailPercent !== undefined && !trailBy.includes('percent')) {
    return `${broker.name} trails a stop by an amount only: give stopLoss.trailAmount instead of a percentage`;
  }
  return undefined;
}
