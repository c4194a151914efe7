import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { bestPrice, excursionR, rMultiple, stopMoveFor, timeExitDue, type ManageRules, type TradeState } from '../../src/domain/trade-management.ts';

const d = (text: string): Decimal => new Decimal(text);
const TICK = d('0.01');

const long = (over: Partial<TradeState> = {}): TradeState => ({ side: 'long', entry: d('100'), initialStop: d('98'), stop: d('98'), targetsFilled: 0, best: d('100'), ...over });
const short = (over: Partial<TradeState> = {}): TradeState => ({ side: 'short', entry: d('100'), initialStop: d('102'), stop: d('102'), targetsFilled: 0, best: d('100'), ...over });

describe('breakeven', () => {
  const rules: ManageRules = { breakeven: { afterTarget: 1 } };

  it('moves a long\'s stop to the entry once target 1 has filled', () => {
    const move = stopMoveFor(rules, long({ targetsFilled: 1, best: d('101') }), d('101'), TICK);
    expect(move?.stopPrice.toFixed()).toBe('100');
    expect(move?.reason).toBe('breakeven');
    expect(move?.detail).toContain('target 1 filled');
  });

  it('stays put before its target fills', () => {
    expect(stopMoveFor(rules, long({ best: d('101') }), d('101'), TICK)).toBeUndefined();
  });

  it('moves after +X R, with the fee offset on the profit side, rounded away from the entry', () => {
    const move = stopMoveFor({ breakeven: { atR: d('1'), offsetPercent: d('0.105') } }, long({ best: d('102') }), d('101.5'), TICK);
    // 100 × 0.105 % = 0.105 → 100.105 → up to 100.11
    expect(move?.stopPrice.toFixed()).toBe('100.11');
    const shortMove = stopMoveFor({ breakeven: { atR: d('1'), offset: d('0.1') } }, short({ best: d('98') }), d('98.5'), TICK);
    expect(shortMove?.stopPrice.toFixed()).toBe('99.9');
  });

  it('never moves the stop past the price (it would fire at once) nor loosens it', () => {
    expect(stopMoveFor(rules, long({ targetsFilled: 1, best: d('101') }), d('99.5'), TICK)).toBeUndefined();
    expect(stopMoveFor(rules, long({ targetsFilled: 1, stop: d('100.5'), best: d('102') }), d('101'), TICK)).toBeUndefined();
  });
});

describe('a trail that starts at an R multiple', () => {
  const rules: ManageRules = { trailAfter: { rMultiple: d('1') }, trailPercent: d('1') };

  it('does nothing before +1 R', () => {
    expect(stopMoveFor(rules, long({ best: d('101.99') }), d('101.99'), TICK)).toBeUndefined();
  });

  it('trails 1 % behind the best price after +1 R, rounded toward the price', () => {
    const move = stopMoveFor(rules, long({ best: d('103') }), d('102.5'), TICK);
    // 103 − 1.03 = 101.97
    expect(move?.stopPrice.toFixed()).toBe('101.97');
    expect(move?.reason).toBe('trail');
  });

  it('mirrors for a short: 1 % above the low', () => {
    const move = stopMoveFor(rules, short({ best: d('97') }), d('97.5'), TICK);
    expect(move?.stopPrice.toFixed()).toBe('97.97');
  });

  it('picks the tighter of trail and breakeven', () => {
    const both: ManageRules = { ...rules, breakeven: { afterTarget: 1 } };
    expect(stopMoveFor(both, long({ targetsFilled: 1, best: d('103') }), d('103'), TICK)?.reason).toBe('trail');
    expect(stopMoveFor(both, long({ targetsFilled: 1, best: d('101') }), d('101'), TICK)?.reason).toBe('breakeven');
  });
});

describe('time and R', () => {
  it('is due for a time exit once maxHoldMinutes have passed, never without the rule', () => {
    const opened = new Date('2026-12-05T10:00:00Z');
    expect(timeExitDue(opened, 30, new Date('2026-12-05T10:29:59Z'))).toBe(false);
    expect(timeExitDue(opened, 30, new Date('2026-12-05T10:30:00Z'))).toBe(true);
    expect(timeExitDue(opened, undefined, new Date('2030-01-01T00:00:00Z'))).toBe(false);
  });

  it('measures P&L in R against the initial stop', () => {
    expect(rMultiple(d('60'), d('100'), d('98'), d('10'))?.toFixed()).toBe('3');
    expect(rMultiple(d('-20'), d('100'), d('98'), d('10'))?.toFixed()).toBe('-1');
    expect(rMultiple(d('10'), d('100'), undefined, d('10'))).toBeUndefined();
    expect(excursionR(short(), d('97'))?.toFixed()).toBe('1.5');
  });

  it('keeps the best price a long and a short have seen', () => {
    expect(bestPrice('long', d('101'), d('100')).toFixed()).toBe('101');
    expect(bestPrice('short', d('99'), d('98')).toFixed()).toBe('98');
  });
});

describe('stop moves (property)', () => {
  const cents = (n: number) => new Decimal(n).div(100);
  it('only ever tighten the stop, never past the price, for longs and shorts alike', () => {
    fc.assert(fc.property(
      fc.record({
        long: fc.boolean(), entry: fc.integer({ min: 1_000, max: 100_000 }), risk: fc.integer({ min: 1, max: 5_000 }),
        stopGain: fc.integer({ min: 0, max: 8_000 }), bestGain: fc.integer({ min: 0, max: 20_000 }), priceBack: fc.integer({ min: 0, max: 20_000 }),
        targets: fc.integer({ min: 0, max: 3 }), afterTarget: fc.integer({ min: 1, max: 3 }), atR: fc.integer({ min: 1, max: 4 }),
        trailAfter: fc.integer({ min: 1, max: 3 }), trailPercent: fc.integer({ min: 1, max: 500 }), offset: fc.integer({ min: 0, max: 50 }),
      }),
      (c) => {
        const dir = c.long ? 1 : -1;
        const entry = cents(c.entry);
        const initialStop = entry.minus(cents(c.risk * dir));
        if (initialStop.lte(0)) return;
        const stop = initialStop.plus(cents(Math.min(c.stopGain, c.risk) * dir));
        const best = entry.plus(cents(c.bestGain * dir));
        const price = best.minus(cents(c.priceBack * dir));
        if (price.lte(0) || best.lte(0)) return;
        const rules: ManageRules = {
          breakeven: c.targets % 2 === 0 ? { afterTarget: c.afterTarget, offset: cents(c.offset) } : { atR: new Decimal(c.atR), offsetPercent: cents(c.offset) },
          trailAfter: { rMultiple: new Decimal(c.trailAfter) }, trailPercent: cents(c.trailPercent),
        };
        const state: TradeState = { side: c.long ? 'long' : 'short', entry, initialStop, stop, targetsFilled: c.targets, best };
        const move = stopMoveFor(rules, state, price, TICK);
        if (!move) return;
        if (c.long) {
          expect(move.stopPrice.gt(stop)).toBe(true);
          expect(move.stopPrice.lt(price)).toBe(true);
        } else {
          expect(move.stopPrice.lt(stop)).toBe(true);
          expect(move.stopPrice.gt(price)).toBe(true);
        }
        expect(move.stopPrice.mod(TICK).isZero()).toBe(true);
      },
    ), { numRuns: 1000 });
  });
});
