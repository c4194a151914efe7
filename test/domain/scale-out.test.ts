import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { describeMerge, scaleOutPlan, splitQuantities, type LevelSize, type ScaleOutInput } from '../../src/domain/scale-out.ts';

const d = (text: string): Decimal => new Decimal(text);
const pct = (value: string): LevelSize => ({ kind: 'percent', value: d(value) });
const qty = (value: string): LevelSize => ({ kind: 'quantity', value: d(value) });
const REST: LevelSize = { kind: 'rest' };

const plan = (input: Partial<ScaleOutInput>) => scaleOutPlan({
  side: 'buy', basePrice: d('100'), stopPrice: d('98'), quantity: d('10'), tick: d('0.01'),
  rules: { stepSize: d('1'), minQuantity: d('1') }, levels: [], ...input,
});

const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('scale-out levels', () => {
  it('split 50 % / 30 % / rest of 10 shares at 1 %, 2 % and 3 R', () => {
    const result = plan({ levels: [{ percent: d('1'), size: pct('50') }, { percent: d('2'), size: pct('30') }, { rMultiple: d('3'), size: REST }] });
    expect(plain(result)).toEqual({ ok: true, merges: [], levels: [
      { level: 1, limitPrice: '101', quantity: '5' },
      { level: 2, limitPrice: '102', quantity: '3' },
      { level: 3, limitPrice: '106', quantity: '2' },
    ] });
  });

  it('mirror the prices of a short below the entry, rMultiple from the stop above', () => {
    const result = plan({ side: 'sell', stopPrice: d('102'), levels: [{ amount: d('1'), size: pct('50') }, { rMultiple: d('2'), size: REST }] });
    expect(plain(result)).toEqual({ ok: true, merges: [], levels: [
      { level: 1, limitPrice: '99', quantity: '5' },
      { level: 2, limitPrice: '96', quantity: '5' },
    ] });
  });

  it('give the last level the remainder left by flooring the others to the step', () => {
    const result = plan({ quantity: d('7'), levels: [{ percent: d('1'), size: pct('50') }, { percent: d('2'), size: pct('25') }, { percent: d('3'), size: pct('25') }] });
    // 3.5 → 3, 1.75 → 1, the last takes 7 − 4 = 3
    expect(result.ok && result.levels.map((l) => l.quantity.toFixed())).toEqual(['3', '1', '3']);
  });

  it('merge a level under the minimum into the next one and say so', () => {
    const result = plan({ quantity: d('0.05'), rules: { stepSize: d('0.001'), minQuantity: d('0.02') },
      levels: [{ percent: d('1'), size: pct('30') }, { percent: d('2'), size: pct('30') }, { percent: d('3'), size: REST }] });
    if (!result.ok) throw new Error('expected a plan');
    expect(result.levels.map((l) => [l.level, l.quantity.toFixed()])).toEqual([[2, '0.03'], [3, '0.02']]);
    expect(result.merges.map(describeMerge)).toEqual(['takeProfit level 1 (0.015) merged into level 2: 0.015 is under the minimum quantity 0.02']);
  });

  it('merge a last level that is too small into the level before it', () => {
    const result = plan({ quantity: d('10'), rules: { stepSize: d('1'), minQuantity: d('2') },
      levels: [{ percent: d('1'), size: pct('50') }, { percent: d('2'), size: pct('40') }, { percent: d('3'), size: REST }] });
    if (!result.ok) throw new Error('expected a plan');
    expect(result.levels.map((l) => [l.level, l.quantity.toFixed()])).toEqual([[1, '5'], [2, '5']]);
    expect(result.merges).toHaveLength(1);
    expect(result.merges[0]).toMatchObject({ level: 3, into: 2 });
  });

  it('merge on the minimum notional too', () => {
    const { quantities, merges } = splitQuantities(d('10'), [qty('1'), REST], { stepSize: d('1'), minQuantity: d('1'), minNotional: d('150') }, [d('101'), d('102')]);
    expect(quantities.map((q) => q.toFixed())).toEqual(['0', '10']);
    expect(merges[0]?.reason).toContain('minimum notional 150');
  });

  it('cap absolute sizes at the position: later levels get what is left, or merge', () => {
    const { quantities } = splitQuantities(d('10'), [qty('8'), qty('5'), REST], { stepSize: d('1'), minQuantity: d('1') });
    expect(quantities.map((q) => q.toFixed())).toEqual(['8', '2', '0']);
  });

  it('refuse levels out of order, "rest" before the end, sizes over 100 %, and rMultiple without a stop, each by its field', () => {
    const result = plan({ stopPrice: undefined, levels: [
      { percent: d('2'), size: REST }, { percent: d('1'), size: pct('80') }, { rMultiple: d('2'), size: pct('40') },
    ] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.field)).toEqual(['takeProfit[0].size', 'takeProfit', 'takeProfit[2].rMultiple', 'takeProfit[1]']);
  });

  it('refuse a level on the wrong side of the entry', () => {
    const result = plan({ levels: [{ limitPrice: d('99'), size: REST }] });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.issues[0]?.message).toContain('must be above the base price 100');
  });
});

const decimalOf = (units: number, places: number): Decimal => new Decimal(units).div(new Decimal(10).pow(places));

/** A position on a step grid, a minimum, and between one and five level sizes. */
const scenario = fc.record({
  places: fc.integer({ min: 0, max: 4 }),
  stepUnits: fc.integer({ min: 1, max: 5 }),
  minSteps: fc.integer({ min: 0, max: 20 }),
  positionSteps: fc.integer({ min: 1, max: 100_000 }),
  sizes: fc.array(fc.oneof(
    fc.integer({ min: 1, max: 100 }).map((p): LevelSize => pct(String(p))),
    fc.integer({ min: 1, max: 50_000 }).map((u): LevelSize => ({ kind: 'quantity', value: new Decimal(u) })),
  ), { minLength: 0, maxLength: 4 }),
  lastRest: fc.boolean(),
});

describe('scale-out arithmetic (property)', () => {
  it('sums to the position exactly, never below the minimum, never above the position, always on the step', () => {
    fc.assert(fc.property(scenario, (s) => {
      const step = decimalOf(s.stepUnits, s.places);
      const minimum = step.mul(s.minSteps);
      const position = step.mul(s.positionSteps);
      const sizes = [...s.sizes, s.lastRest ? REST : pct('10')];
      const { quantities } = splitQuantities(position, sizes, { stepSize: step, minQuantity: minimum });
      expect(quantities).toHaveLength(sizes.length);
      const sum = quantities.reduce((a, b) => a.plus(b), new Decimal(0));
      expect(sum.eq(position)).toBe(true);
      for (const quantity of quantities) {
        expect(quantity.gte(0)).toBe(true);
        expect(quantity.lte(position)).toBe(true);
        expect(quantity.mod(step).isZero()).toBe(true);
        // A level either takes nothing (merged away) or at least the minimum, unless the whole position is under it.
        if (quantity.gt(0) && position.gte(minimum)) expect(quantity.gte(minimum)).toBe(true);
      }
      expect(quantities.some((q) => q.gt(0))).toBe(true);
    }), { numRuns: 500 });
  });
});
