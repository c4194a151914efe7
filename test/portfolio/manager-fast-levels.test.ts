// The position loop's fast representations: Decimal to double from its digits, and the level pre-check that must never miss.
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { checkTriggers, trailingStopLevel, updateWaterMark, type TriggerState } from '../../src/domain/position.ts';
import { approximate, fastLevels, quietBand, type FastLevels } from '../../src/portfolio/fast-levels.ts';

/** What BookScreen.scan asks of a price: outside the quiet band means "look exactly" (a NaN price never is). */
const mayMatter = (levels: FastLevels, price: number): boolean => {
  const { below, above } = quietBand(levels);
  return price <= below || price >= above;
};

const d = (text: string) => new Decimal(text);

describe('approximate: a Decimal as a double, read from its digits', () => {
  it('agrees with toNumber within a few ulps, across magnitudes, signs and long fractions', () => {
    const samples = ['0', '1', '-1', '0.1', '0.3', '189.25', '-0.000012345', '123456789.987654321', '1e-25', '98765432109876543210.5',
      '0.12345678901234567891', '3.14159265358979323846264338327950288', '-42424242.4242424242', '7', '10000000', '9999999.9999999'];
    for (const text of samples) {
      const exact = d(text).toNumber();
      const fast = approximate(d(text));
      expect(Math.abs(fast - exact), text).toBeLessThanOrEqual(Math.abs(exact) * 4 * Number.EPSILON);
    }
  });

  it('is the exact double for prices with a few decimals (the usual case)', () => {
    for (let cents = 1; cents < 200_000; cents += 997) {
      const text = (cents / 100).toFixed(2);
      expect(approximate(d(text))).toBe(Number(text));
    }
  });

  it('passes NaN and infinities through', () => {
    expect(approximate(d('NaN'))).toBeNaN();
    expect(approximate(d('Infinity'))).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('mayMatter: never false where the exact check fires or the water mark moves', () => {
  const states: TriggerState[] = [
    { side: 'long', averageEntryPrice: d('100'), stopPrice: d('95'), targetPrice: d('110') },
    { side: 'short', averageEntryPrice: d('100'), stopPrice: d('105'), targetPrice: d('90') },
    { side: 'long', averageEntryPrice: d('100'), stopPrice: d('95'), trailAmount: d('5'), highWater: d('104.37') },
    { side: 'short', averageEntryPrice: d('0.00012345'), trailPercent: d('3'), lowWater: d('0.00011111') },
    { side: 'long', averageEntryPrice: d('0.1'), stopPrice: d('0.09999999999999999999'), targetPrice: d('0.10000000000000000001') },
    // Trails where the level computed in doubles lands an ulp past the exact one (8010.588707999999 against 8010.588708):
    // a plain double comparison would miss the price that sits exactly on the trail. The tolerance covers it.
    { side: 'long', averageEntryPrice: d('8000'), trailPercent: d('7.09'), highWater: d('8621.88') },
    { side: 'short', averageEntryPrice: d('4300'), trailPercent: d('1.41'), lowWater: d('4256.56') },
  ];

  it('around every level, one tick and one part in 10^20 either side, and at it', () => {
    for (const state of states) {
      const levels = fastLevels(state);
      const around = [state.stopPrice, state.targetPrice, state.highWater, state.lowWater, state.averageEntryPrice, trailingStopLevel(state)]
        .filter((x): x is Decimal => x !== undefined);
      for (const level of around) {
        for (const delta of ['0', '0.01', '-0.01', '1e-20', '-1e-20', '0.00000001', '-0.00000001']) {
          const price = level.plus(level.mul(delta));
          const exactMatters = checkTriggers(state, price) !== undefined || moves(state, price);
          if (exactMatters) expect(mayMatter(levels, approximate(price)), `${level.toFixed()} ${delta}`).toBe(true);
        }
      }
    }
  });

  it('is false well away from every level: the exact check is skipped for the quiet majority', () => {
    const levels = fastLevels(states[0] as TriggerState);
    expect(mayMatter(levels, 100)).toBe(false);
    expect(mayMatter(levels, 95.01)).toBe(false);
    expect(mayMatter(levels, 95)).toBe(true);
    expect(mayMatter(levels, 109.99)).toBe(false);
    expect(mayMatter(levels, 110)).toBe(true);
  });
});

/** Whether the price moves a trailing stop's water mark (a position without a trail keeps none). */
function moves(state: TriggerState, price: Decimal): boolean {
  if (state.trailAmount === undefined && state.trailPercent === undefined) return false;
  const moved = updateWaterMark(state, price);
  if (state.side === 'long') return moved.highWater !== undefined && !moved.highWater.eq(state.highWater ?? state.averageEntryPrice);
  return moved.lowWater !== undefined && !moved.lowWater.eq(state.lowWater ?? state.averageEntryPrice);
}
