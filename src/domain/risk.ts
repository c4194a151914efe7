// Whether risk rules allow an entry: the checks in PRODUCT.md's order, the first refusal wins; trading sessions by time zone.
import { InvariantError } from './errors.ts';
import { ZERO, percentOf } from './money.ts';
import type { Decimal } from './money.ts';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface TradingSession {
  /** IANA time zone the windows are written in ('America/New_York'). */
  timeZone: string;
  /** 'HH:MM-HH:MM', start inclusive, end exclusive; an end before the start runs past midnight. */
  windows: readonly string[];
  /** Days a window may start on; the part of an overnight window after midnight belongs to the day it started. */
  days: readonly Weekday[];
}

export interface EntryRiskInput {
  now: Date;
  strategy: string;
  strategyEnabled: boolean;
  halted: boolean;
  /** Why trading is halted (the kill switch, `tradewire halt`), for the detail. */
  haltReason?: string | undefined;
  symbol: string;
  /** Symbols this strategy may trade; absent: any. */
  allowedSymbols?: readonly string[] | undefined;
  session?: TradingSession | undefined;

  /** Open positions in this account, and whether this entry adds to one of them rather than opening another. */
  openPositions: number;
  maxOpenPositions?: number | undefined;
  addsToExistingPosition?: boolean | undefined;

  equity: Decimal;
  /** Notional of the position this entry adds to (zero or absent for a new one). */
  positionNotional?: Decimal | undefined;
  /** Notional of this entry once sized; absent when checking before sizing (then only what is held counts). */
  entryNotional?: Decimal | undefined;
  maxPositionPercent?: Decimal | undefined;
  /** Total notional of every open position in the account. */
  totalExposure: Decimal;
  maxTotalExposurePercent?: Decimal | undefined;

  /** The day's P&L so far, realized plus unrealized (negative is a loss), against the equity at the day's start. */
  dayPnl: Decimal;
  dayStartEquity: Decimal;
  maxDailyLossPercent?: Decimal | undefined;

  /** When this strategy last exited this symbol. */
  lastExitAt?: Date | undefined;
  cooldownSeconds?: number | undefined;

  buyingPower?: Decimal | undefined;

  /** The position already held in this account and symbol, if any: who opened it, or whether tradewire did not. */
  existingPosition?: { strategy?: string | undefined; external?: boolean | undefined } | undefined;
}

export type RiskRefusalReason =
  | 'risk:strategy_disabled'
  | 'halted'
  | 'risk:symbol_not_allowed'
  | 'risk:outside_session'
  | 'risk:max_positions'
  | 'risk:max_position_percent'
  | 'risk:max_exposure'
  | 'risk:max_daily_loss'
  | 'risk:cooldown'
  | 'risk:buying_power'
  | 'risk:max_margin'
  | 'position_owned';

export type RiskResult = { ok: true } | { ok: false; reason: RiskRefusalReason; detail: string };

const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const SHORT_DAY: Readonly<Record<string, Weekday>> = { Sun: 'sun', Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat' };

// Building a DateTimeFormat is far slower than using one; the cache changes no result.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The weekday and minute of the day that a wall clock in `timeZone` shows at `now`. */
export function localClock(now: Date, timeZone: string): { weekday: Weekday; minutes: number } {
  const parts = formatterFor(timeZone).formatToParts(now);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  const weekday = SHORT_DAY[get('weekday')];
  if (weekday === undefined) throw new InvariantError(`cannot read the weekday in ${timeZone}`);
  // Some engines print midnight as 24 even with h23; modulo keeps it on the clock.
  const hours = Number(get('hour')) % 24;
  return { weekday, minutes: hours * 60 + Number(get('minute')) };
}

function parseWindow(window: string): { start: number; end: number } {
  const match = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(window);
  if (match === null) throw new InvariantError(`not a session window (HH:MM-HH:MM): ${window}`);
  const [, sh, sm, eh, em] = match;
  return { start: Number(sh) * 60 + Number(sm), end: Number(eh) * 60 + Number(em) };
}

function previousDay(day: Weekday): Weekday {
  return WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7] as Weekday;
}

/**
 * True when `now` falls inside one of the session's windows on an allowed day, in the session's time zone.
 * A window whose start equals its end is the whole day.
 */
export function inSession(now: Date, session: TradingSession): boolean {
  const { weekday, minutes } = localClock(now, session.timeZone);
  const today = session.days.includes(weekday);
  const yesterday = session.days.includes(previousDay(weekday));
  return session.windows.some((text) => {
    const { start, end } = parseWindow(text);
    if (start === end) return today;
    if (start < end) return today && minutes >= start && minutes < end;
    return (today && minutes >= start) || (yesterday && minutes < end);
  });
}

function refuse(reason: RiskRefusalReason, detail: string): RiskResult {
  return { ok: false, reason, detail };
}

/**
 * The risk checks before an entry or an add, in PRODUCT.md's order; the first refusal is the one recorded.
 * Max position % and buying power cap the quantity in sizing; here they refuse only when nothing is left
 * (or, given the sized entry, as the backstop that sizing honoured them). Instrument minimums are sizing's.
 */
export function checkEntryRisk(input: EntryRiskInput): RiskResult {
  if (!input.strategyEnabled) return refuse('risk:strategy_disabled', `strategy ${input.strategy} is disabled`);
  if (input.halted) return refuse('halted', `trading is halted${input.haltReason ? ` (${input.haltReason})` : ''}: entries and adds are blocked`);
  if (input.allowedSymbols !== undefined && !input.allowedSymbols.includes(input.symbol)) {
    return refuse('risk:symbol_not_allowed', `${input.symbol} is not among strategy ${input.strategy}'s allowed symbols`);
  }
  if (input.session !== undefined && !inSession(input.now, input.session)) {
    const { weekday, minutes } = localClock(input.now, input.session.timeZone);
    const clock = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    return refuse('risk:outside_session', `${weekday} ${clock} in ${input.session.timeZone} is outside the session (${input.session.windows.join(', ')} on ${input.session.days.join(', ')})`);
  }
  if (input.maxOpenPositions !== undefined && !input.addsToExistingPosition && input.openPositions >= input.maxOpenPositions) {
    return refuse('risk:max_positions', `${input.openPositions} positions open, the maximum is ${input.maxOpenPositions}`);
  }
  const entry = input.entryNotional;
  if (input.maxPositionPercent !== undefined) {
    const limit = percentOf(input.equity, input.maxPositionPercent);
    const held = input.positionNotional ?? ZERO;
    const after = entry === undefined ? held : held.plus(entry);
    if (entry === undefined ? held.gte(limit) : after.gt(limit)) {
      return refuse('risk:max_position_percent', `the position would be worth ${after}, beyond ${input.maxPositionPercent}% of equity (${limit})`);
    }
  }
  if (input.maxTotalExposurePercent !== undefined) {
    const limit = percentOf(input.equity, input.maxTotalExposurePercent);
    const after = entry === undefined ? input.totalExposure : input.totalExposure.plus(entry);
    if (entry === undefined ? after.gte(limit) : after.gt(limit)) {
      return refuse('risk:max_exposure', `total exposure would be ${after}, above ${input.maxTotalExposurePercent}% of equity (${limit})`);
    }
  }
  if (input.maxDailyLossPercent !== undefined && input.dayPnl.lt(0)) {
    const limit = percentOf(input.dayStartEquity, input.maxDailyLossPercent);
    const loss = input.dayPnl.neg();
    if (loss.gte(limit)) {
      return refuse('risk:max_daily_loss', `today's loss ${loss} has reached ${input.maxDailyLossPercent}% of the day's starting equity (${limit})`);
    }
  }
  if (input.cooldownSeconds !== undefined && input.cooldownSeconds > 0 && input.lastExitAt !== undefined) {
    const until = input.lastExitAt.getTime() + input.cooldownSeconds * 1000;
    if (input.now.getTime() < until) {
      const left = Math.ceil((until - input.now.getTime()) / 1000);
      return refuse('risk:cooldown', `${input.symbol} exited at ${input.lastExitAt.toISOString()}; cooldown of ${input.cooldownSeconds} s has ${left} s left`);
    }
  }
  if (input.buyingPower !== undefined) {
    if (input.buyingPower.lte(0) || (entry !== undefined && entry.gt(input.buyingPower))) {
      return refuse('risk:buying_power', `buying power ${input.buyingPower} does not cover ${entry === undefined ? 'any entry' : `an entry of ${entry}`}`);
    }
  }
  const existing = input.existingPosition;
  if (existing !== undefined) {
    if (existing.external) {
      return refuse('position_owned', `${input.symbol} holds a position tradewire did not open; it is left alone`);
    }
    if (existing.strategy !== undefined && existing.strategy !== input.strategy) {
      return refuse('position_owned', `${input.symbol} is held by strategy ${existing.strategy}, not ${input.strategy}`);
    }
  }
  return { ok: true };
}

export interface MarginRiskInput {
  /** The initial margin the sized entry would take, from the broker's preview. */
  initialMargin: Decimal;
  /** Margin the account has free now. */
  availableMargin: Decimal;
  leverage: Decimal;
  equity: Decimal;
  /** The most one entry may take, as a percentage of equity; absent: only the free margin limits it. */
  maxMarginPercent?: Decimal | undefined;
}

/**
 * Whether an entry's margin fits, where the broker previews it (Binance USD-M): within the configured share of
 * equity, and within the margin free now, so the refusal says why instead of the broker's bare -2019.
 */
export function checkMargin(input: MarginRiskInput): RiskResult {
  const at = `at ${input.leverage.toFixed()}x leverage`;
  if (input.maxMarginPercent !== undefined) {
    const limit = percentOf(input.equity, input.maxMarginPercent);
    if (input.initialMargin.gt(limit)) {
      return refuse('risk:max_margin', `the entry would take ${input.initialMargin.toFixed()} of margin ${at}, above ${input.maxMarginPercent.toFixed()}% of equity (${limit.toFixed()})`);
    }
  }
  if (input.initialMargin.gt(input.availableMargin)) {
    return refuse('risk:max_margin', `the entry would take ${input.initialMargin.toFixed()} of margin ${at}; ${input.availableMargin.toFixed()} is free`);
  }
  return { ok: true };
}
