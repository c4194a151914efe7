import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { checkEntryRisk, checkMargin, inSession, localClock } from '../../src/domain/risk.ts';
import type { EntryRiskInput, TradingSession } from '../../src/domain/risk.ts';

const d = (text: string): Decimal => new Decimal(text);
const NOW = new Date('2026-07-15T14:00:00Z'); // a Wednesday, 10:00 in New York

const BASE: EntryRiskInput = {
  now: NOW,
  strategy: 'trend',
  strategyEnabled: true,
  halted: false,
  symbol: 'AAPL',
  openPositions: 0,
  equity: d('100000'),
  totalExposure: d('0'),
  dayPnl: d('0'),
  dayStartEquity: d('100000'),
};

const check = (over: Partial<EntryRiskInput>) => checkEntryRisk({ ...BASE, ...over });
const NYSE: TradingSession = { timeZone: 'America/New_York', windows: ['09:30-16:00'], days: ['mon', 'tue', 'wed', 'thu', 'fri'] };

describe('entry risk checks', () => {
  it('allow an entry that breaks no rule', () => {
    expect(check({ maxOpenPositions: 3, openPositions: 2, maxDailyLossPercent: d('5'), session: NYSE, allowedSymbols: ['AAPL'] })).toEqual({ ok: true });
  });

  it('refuse when the strategy is disabled', () => {
    expect(check({ strategyEnabled: false })).toMatchObject({ ok: false, reason: 'risk:strategy_disabled' });
  });

  it('refuse when trading is halted, saying why', () => {
    expect(check({ halted: true, haltReason: 'kill switch' })).toEqual({ ok: false, reason: 'halted', detail: 'trading is halted (kill switch): entries and adds are blocked' });
  });

  it('refuse a symbol outside the allowed list', () => {
    expect(check({ allowedSymbols: ['MSFT'] })).toMatchObject({ ok: false, reason: 'risk:symbol_not_allowed' });
  });

  it('refuse outside the trading session, giving the local time', () => {
    expect(check({ session: NYSE, now: new Date('2026-07-15T21:00:00Z') }))
      .toEqual({ ok: false, reason: 'risk:outside_session', detail: 'wed 17:00 in America/New_York is outside the session (09:30-16:00 on mon, tue, wed, thu, fri)' });
  });

  it('refuse a new position at the maximum open positions, but let an add through', () => {
    expect(check({ maxOpenPositions: 2, openPositions: 2 })).toMatchObject({ ok: false, reason: 'risk:max_positions' });
    expect(check({ maxOpenPositions: 2, openPositions: 2, addsToExistingPosition: true })).toEqual({ ok: true });
  });

  it('refuse when the position already fills max position %, or the sized entry would pass it', () => {
    expect(check({ maxPositionPercent: d('20'), positionNotional: d('20000') })).toMatchObject({ ok: false, reason: 'risk:max_position_percent' });
    expect(check({ maxPositionPercent: d('20'), positionNotional: d('15000'), entryNotional: d('5000') })).toEqual({ ok: true });
    expect(check({ maxPositionPercent: d('20'), positionNotional: d('15000'), entryNotional: d('5000.01') }))
      .toEqual({ ok: false, reason: 'risk:max_position_percent', detail: 'the position would be worth 20000.01, beyond 20% of equity (20000)' });
  });

  it('refuse when total exposure would pass its maximum', () => {
    expect(check({ maxTotalExposurePercent: d('50'), totalExposure: d('45000'), entryNotional: d('6000') })).toMatchObject({ ok: false, reason: 'risk:max_exposure' });
    expect(check({ maxTotalExposurePercent: d('50'), totalExposure: d('50000') })).toMatchObject({ ok: false, reason: 'risk:max_exposure' });
    expect(check({ maxTotalExposurePercent: d('50'), totalExposure: d('45000'), entryNotional: d('5000') })).toEqual({ ok: true });
  });

  it('refuse once the day\'s loss reaches max daily loss %, against the day\'s starting equity', () => {
    expect(check({ maxDailyLossPercent: d('5'), dayPnl: d('-4999.99') })).toEqual({ ok: true });
    expect(check({ maxDailyLossPercent: d('5'), dayPnl: d('-5000') }))
      .toEqual({ ok: false, reason: 'risk:max_daily_loss', detail: "today's loss 5000 has reached 5% of the day's starting equity (5000)" });
  });

  it('refuse during the cooldown after an exit, and allow once it has passed', () => {
    const lastExitAt = new Date(NOW.getTime() - 50_000);
    expect(check({ cooldownSeconds: 60, lastExitAt })).toMatchObject({ ok: false, reason: 'risk:cooldown', detail: expect.stringContaining('10 s left') });
    expect(check({ cooldownSeconds: 50, lastExitAt })).toEqual({ ok: true });
  });

  it('refuse without buying power, or when the sized entry exceeds it', () => {
    expect(check({ buyingPower: d('0') })).toMatchObject({ ok: false, reason: 'risk:buying_power' });
    expect(check({ buyingPower: d('1000'), entryNotional: d('1000.01') })).toMatchObject({ ok: false, reason: 'risk:buying_power' });
  });

  it('refuse another strategy\'s position, and one tradewire did not open', () => {
    expect(check({ existingPosition: { strategy: 'mean-revert' } })).toEqual({ ok: false, reason: 'position_owned', detail: 'AAPL is held by strategy mean-revert, not trend' });
    expect(check({ existingPosition: { external: true } })).toMatchObject({ ok: false, reason: 'position_owned' });
    expect(check({ existingPosition: { strategy: 'trend' } })).toEqual({ ok: true });
  });

  it('report the first refusal in PRODUCT.md\'s order', () => {
    expect(check({ halted: true, strategyEnabled: false, allowedSymbols: [] })).toMatchObject({ reason: 'risk:strategy_disabled' });
    expect(check({ halted: true, allowedSymbols: [] })).toMatchObject({ reason: 'halted' });
    expect(check({ maxOpenPositions: 1, openPositions: 1, maxDailyLossPercent: d('1'), dayPnl: d('-2000') })).toMatchObject({ reason: 'risk:max_positions' });
  });
});

describe('trading sessions across time zones', () => {
  it('read the wall clock in the session\'s zone', () => {
    expect(localClock(new Date('2026-07-17T16:30:00Z'), 'Asia/Tokyo')).toEqual({ weekday: 'sat', minutes: 90 });
    expect(localClock(new Date('2026-07-15T04:00:00Z'), 'America/New_York')).toEqual({ weekday: 'wed', minutes: 0 });
  });

  it('open at 09:30 New York time, which is 13:30 UTC in summer and 14:30 UTC in winter', () => {
    expect(inSession(new Date('2026-07-15T13:30:00Z'), NYSE)).toBe(true);
    expect(inSession(new Date('2026-07-15T13:29:00Z'), NYSE)).toBe(false);
    expect(inSession(new Date('2026-01-14T14:30:00Z'), NYSE)).toBe(true);
    expect(inSession(new Date('2026-01-14T14:00:00Z'), NYSE)).toBe(false);
  });

  it('close at the window\'s end (exclusive)', () => {
    expect(inSession(new Date('2026-07-15T19:59:00Z'), NYSE)).toBe(true);
    expect(inSession(new Date('2026-07-15T20:00:00Z'), NYSE)).toBe(false);
  });

  it('count the day in the session\'s zone, not in UTC', () => {
    // Saturday 01:30 in Tokyo is still Friday in UTC
    const tokyo: TradingSession = { timeZone: 'Asia/Tokyo', windows: ['00:00-23:59'], days: ['mon', 'tue', 'wed', 'thu', 'fri'] };
    expect(inSession(new Date('2026-07-17T16:30:00Z'), tokyo)).toBe(false);
    expect(inSession(new Date('2026-07-17T14:30:00Z'), tokyo)).toBe(true);
  });

  it('run an overnight window past midnight, the part after midnight belonging to the day it started', () => {
    const night: TradingSession = { timeZone: 'Asia/Tokyo', windows: ['22:00-02:00'], days: ['fri'] };
    expect(inSession(new Date('2026-07-17T13:30:00Z'), night)).toBe(true);   // Fri 22:30 Tokyo
    expect(inSession(new Date('2026-07-17T16:30:00Z'), night)).toBe(true);   // Sat 01:30 Tokyo, Friday's session
    expect(inSession(new Date('2026-07-17T17:30:00Z'), night)).toBe(false);  // Sat 02:30
    expect(inSession(new Date('2026-07-18T13:30:00Z'), night)).toBe(false);  // Sat 22:30: Saturday is not a day
    expect(inSession(new Date('2026-07-16T16:30:00Z'), night)).toBe(false);  // Fri 01:30 belongs to Thursday
  });

  it('treat a window whose start equals its end as the whole day', () => {
    const allDay: TradingSession = { timeZone: 'UTC', windows: ['00:00-00:00'], days: ['sat', 'sun'] };
    expect(inSession(new Date('2026-07-18T23:59:00Z'), allDay)).toBe(true);
    expect(inSession(new Date('2026-07-17T12:00:00Z'), allDay)).toBe(false);
  });
});

describe('margin preview check', () => {
  const d = (v: string): Decimal => new Decimal(v);
  // 0.5 BTC at 60,000 at 10x: 3,000 of initial margin, on an equity of 20,000.
  const base = { initialMargin: d('3000'), availableMargin: d('15000'), leverage: d('10'), equity: d('20000') };

  it('allows an entry within the configured share of equity and the free margin', () => {
    expect(checkMargin({ ...base, maxMarginPercent: d('15') })).toEqual({ ok: true });
    expect(checkMargin(base)).toEqual({ ok: true });
  });

  it('refuses an entry whose margin exceeds the configured share of equity, saying by how much', () => {
    expect(checkMargin({ ...base, maxMarginPercent: d('10') })).toEqual({
      ok: false, reason: 'risk:max_margin', detail: 'the entry would take 3000 of margin at 10x leverage, above 10% of equity (2000)',
    });
  });

  it('refuses an entry that needs more margin than is free, even with no limit configured', () => {
    expect(checkMargin({ ...base, availableMargin: d('2999.99') })).toEqual({
      ok: false, reason: 'risk:max_margin', detail: 'the entry would take 3000 of margin at 10x leverage; 2999.99 is free',
    });
  });
});
