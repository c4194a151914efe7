import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { defaultInstrument } from '../../src/domain/instrument.ts';
import { kellyFraction, sizePosition, sizeReduction } from '../../src/domain/sizing.ts';
import type { SizingInput, SizingResult } from '../../src/domain/sizing.ts';

const d = (text: string): Decimal => new Decimal(text);
const AAPL = defaultInstrument('AAPL');
const BTC = defaultInstrument('BTCUSDT', { assetClass: 'crypto', stepSize: d('0.001'), minQuantity: d('0.001'), minNotional: d('5'), tickSize: d('0.1'), fractionable: true });

function size(input: Partial<SizingInput>): SizingResult {
  return sizePosition({ mode: 'fixed_quantity', equity: d('100000'), instrument: AAPL, alertPrice: d('50'), ...input });
}

function ok(result: SizingResult): { quantity: string; notional: string; cappedBy: string[] } {
  if (!result.ok) throw new Error(`expected a size, got ${result.reason}: ${result.detail}`);
  return { quantity: result.quantity.toString(), notional: result.notional.toString(), cappedBy: result.cappedBy };
}

describe('sizing modes', () => {
  it('fixed_quantity takes the quantity as it is', () => {
    expect(ok(size({ mode: 'fixed_quantity', value: d('7') }))).toEqual({ quantity: '7', notional: '350', cappedBy: [] });
  });

  it('dollar_amount buys what the amount pays for, floored to the step', () => {
    // 1000 / 30 = 33.33… → 33 shares, 990 notional
    expect(ok(size({ mode: 'dollar_amount', value: d('1000'), alertPrice: d('30') }))).toEqual({ quantity: '33', notional: '990', cappedBy: [] });
  });

  it('percent_of_equity: 10 % of 100000 at 50 is 200 shares', () => {
    expect(ok(size({ mode: 'percent_of_equity', value: d('10') }))).toEqual({ quantity: '200', notional: '10000', cappedBy: [] });
  });

  it('risk_percent: equity 100000, risk 1 %, entry 50, stop 48 is 500 shares', () => {
    expect(ok(size({ mode: 'risk_percent', value: d('1'), stopPrice: d('48') }))).toEqual({ quantity: '500', notional: '25000', cappedBy: [] });
  });

  it('risk_percent works for a short, its stop above the entry', () => {
    // 1 % of 100000 = 1000 at risk; |50 − 52.5| = 2.5 → 400
    expect(ok(size({ mode: 'risk_percent', value: d('1'), stopPrice: d('52.5') }))).toEqual({ quantity: '400', notional: '20000', cappedBy: [] });
  });

  it('risk_dollar_amount: 250 at risk, entry 100, stop 97.5 is 100 shares', () => {
    expect(ok(size({ mode: 'risk_dollar_amount', value: d('250'), alertPrice: d('100'), stopPrice: d('97.5') }))).toEqual({ quantity: '100', notional: '10000', cappedBy: [] });
  });

  it('the risk modes refuse without a stop, or with a stop at the entry', () => {
    expect(size({ mode: 'risk_percent', value: d('1') })).toMatchObject({ ok: false, reason: 'missing_stop' });
    expect(size({ mode: 'risk_dollar_amount', value: d('100'), stopPrice: d('50') })).toMatchObject({ ok: false, reason: 'invalid_stop' });
  });

  it('percent_of_position takes a share of what is held (an add of half the position)', () => {
    expect(ok(size({ mode: 'percent_of_position', value: d('50'), positionQuantity: d('30') }))).toEqual({ quantity: '15', notional: '750', cappedBy: [] });
    expect(size({ mode: 'percent_of_position', value: d('50') })).toMatchObject({ ok: false, reason: 'missing_position' });
  });

  it('a mode without its value is refused', () => {
    expect(size({ mode: 'dollar_amount' })).toMatchObject({ ok: false, reason: 'missing_value' });
  });
});

describe('risk sizing with the expected slippage', () => {
  it('a long pays the slippage on the way in: 1000 at risk, entry 50 slipping 0.5 % to 50.25, stop 48 is 444 shares (not 500)', () => {
    // worst-case risk per share |50.25 − 48| = 2.25; 1000 / 2.25 = 444.4… → 444; 444 × 2.25 = 999 ≤ 1000
    expect(ok(size({ mode: 'risk_percent', value: d('1'), stopPrice: d('48'), expectedSlippagePercent: d('0.5') })).quantity).toBe('444');
  });

  it('a short slips down on the way in: 250 at risk, entry 100 slipping 1 % to 99, stop 102.5 is 71 shares', () => {
    // |99 − 102.5| = 3.5; 250 / 3.5 = 71.4… → 71
    expect(ok(size({ mode: 'risk_dollar_amount', value: d('250'), alertPrice: d('100'), stopPrice: d('102.5'), expectedSlippagePercent: d('1') })).quantity).toBe('71');
  });

  it('a limit entry fills at its limit or better: no slippage is added to it', () => {
    expect(ok(size({ mode: 'risk_percent', value: d('1'), limitPrice: d('50'), stopPrice: d('48'), expectedSlippagePercent: d('0.5') })).quantity).toBe('500');
  });

  it('never rounds up, even where the division lands a hair below a whole step and rounds to it', () => {
    // 0.8999…9 (44 nines) / 0.3 is 2.9999…97, which 40 significant digits round to 3: and 3 × 0.3 = 0.9 is over the budget.
    const budget = d(`0.8${'9'.repeat(44)}`);
    const result = ok(size({ mode: 'risk_dollar_amount', value: budget, alertPrice: d('10.3'), stopPrice: d('10') }));
    expect(result.quantity).toBe('2');
  });

  it('the same for a dollar amount and the buying-power cap: what the money buys is truncated, never rounded onto a step', () => {
    const cheap = defaultInstrument('CHEAP', { minNotional: d('0') });
    const almost = d(`0.8${'9'.repeat(44)}`);
    expect(ok(size({ mode: 'dollar_amount', value: almost, alertPrice: d('0.3'), instrument: cheap })).quantity).toBe('2');
    expect(ok(size({ mode: 'fixed_quantity', value: d('10'), alertPrice: d('0.3'), buyingPower: almost, instrument: cheap })).quantity).toBe('2');
  });

  it('property: quantity × worst-case risk per unit never exceeds the budget', () => {
    const decimal = (min: number, max: number, places: number) => fc.integer({ min: min * 10 ** places, max: max * 10 ** places }).map((n) => new Decimal(n).div(10 ** places));
    fc.assert(fc.property(
      decimal(1, 100000, 4), // entry price
      fc.double({ min: 0.0001, max: 0.5, noNaN: true }).map((f) => new Decimal(f.toFixed(6))), // stop distance as a fraction of the price
      fc.boolean(), // long or short
      decimal(1, 1_000_000, 2), // budget
      decimal(0, 2, 3), // expected slippage, percent
      fc.constantFrom('1', '0.1', '0.001', '0.00001', '3'), // step
      (price, distance, long, budget, slippage, step) => {
        const stop = long ? price.mul(Decimal.sub(1, distance)) : price.mul(distance.plus(1));
        const instrument = defaultInstrument('X', { stepSize: d(step), minQuantity: d(step), minNotional: d('0'), fractionable: true });
        const result = sizePosition({ mode: 'risk_dollar_amount', value: budget, alertPrice: price, stopPrice: stop, expectedSlippagePercent: slippage, equity: d('1e12'), instrument });
        if (!result.ok) return result.reason === 'risk:min_quantity';
        const filled = long ? price.mul(slippage.div(100).plus(1)) : price.mul(Decimal.sub(1, slippage.div(100)));
        const worst = filled.minus(stop).abs();
        return result.quantity.mul(worst).lte(budget) && result.quantity.mod(d(step)).isZero();
      },
    ), { numRuns: 2000, seed: 12 });
  });
});

describe('kelly sizing', () => {
  it('computes f* = W − (1 − W) / R', () => {
    expect(kellyFraction(d('0.55'), d('2')).toString()).toBe('0.325');
    expect(kellyFraction(d('0.5'), d('1')).toString()).toBe('0');
  });

  it('bets the scaled fraction of equity: W 0.55, R 2, half Kelly is 16.25 % → 325 shares at 50', () => {
    const kelly = { winRate: d('0.55'), payoff: d('2'), fraction: d('0.5'), maxPercent: d('25') };
    expect(ok(size({ mode: 'kelly', kelly }))).toEqual({ quantity: '325', notional: '16250', cappedBy: [] });
  });

  it('caps the bet at maxPercent of equity and says so', () => {
    // W 0.6, R 3: f* = 0.4666…, half is 23.3 % → capped to 10 % = 10000 → 200 shares
    const kelly = { winRate: d('0.6'), payoff: d('3'), fraction: d('0.5'), maxPercent: d('10') };
    expect(ok(size({ mode: 'kelly', kelly }))).toEqual({ quantity: '200', notional: '10000', cappedBy: ['kelly_max_percent'] });
  });

  it('refuses when f* ≤ 0: no edge', () => {
    const losing = { winRate: d('0.3'), payoff: d('2'), fraction: d('0.5'), maxPercent: d('25') };
    expect(size({ mode: 'kelly', kelly: losing })).toMatchObject({ ok: false, reason: 'kelly_no_edge', detail: expect.stringContaining('-0.05') });
    const even = { winRate: d('0.5'), payoff: d('1'), fraction: d('1'), maxPercent: d('25') };
    expect(size({ mode: 'kelly', kelly: even })).toMatchObject({ ok: false, reason: 'kelly_no_edge' });
  });
});

describe('price, step, caps and minimums', () => {
  it('uses the entry limit price, else the alert price, else the quote', () => {
    const base = { mode: 'dollar_amount' as const, value: d('1000') };
    expect(sizePosition({ ...base, equity: d('100000'), instrument: AAPL, limitPrice: d('20'), alertPrice: d('25'), quotePrice: d('40') })).toMatchObject({ ok: true, priceSource: 'limit' });
    expect(ok(sizePosition({ ...base, equity: d('100000'), instrument: AAPL, limitPrice: d('20'), alertPrice: d('25'), quotePrice: d('40') })).quantity).toBe('50');
    expect(ok(sizePosition({ ...base, equity: d('100000'), instrument: AAPL, alertPrice: d('25'), quotePrice: d('40') })).quantity).toBe('40');
    expect(ok(sizePosition({ ...base, equity: d('100000'), instrument: AAPL, quotePrice: d('40') })).quantity).toBe('25');
    expect(sizePosition({ ...base, equity: d('100000'), instrument: AAPL })).toMatchObject({ ok: false, reason: 'no_price' });
  });

  it('floors to the instrument step: 1000 USDT of BTC at 30000 is 0.033', () => {
    expect(ok(size({ mode: 'dollar_amount', value: d('1000'), alertPrice: d('30000'), instrument: BTC }))).toEqual({ quantity: '0.033', notional: '990', cappedBy: [] });
  });

  it('refuses an entry below the minimum notional, naming the rule', () => {
    const pennies = defaultInstrument('PENNY', { minNotional: d('10') });
    expect(size({ mode: 'dollar_amount', value: d('9.5'), alertPrice: d('3'), instrument: pennies }))
      .toEqual({ ok: false, reason: 'risk:min_notional', detail: "notional 9 (3 × 3) is below PENNY's minimum notional 10" });
  });

  it('refuses an entry that floors to less than the minimum quantity', () => {
    expect(size({ mode: 'dollar_amount', value: d('40') })).toMatchObject({ ok: false, reason: 'risk:min_quantity' });
  });

  it('caps by max position % of equity: 50 % asked, 20 % allowed → 400 shares at 50', () => {
    expect(ok(size({ mode: 'percent_of_equity', value: d('50'), maxPositionPercent: d('20') }))).toEqual({ quantity: '400', notional: '20000', cappedBy: ['max_position_percent'] });
  });

  it('counts what an add already holds against max position %', () => {
    // 20 % of 100000 = 20000; 300 held at 50 = 15000; room 5000 → 100 more
    expect(ok(size({ mode: 'fixed_quantity', value: d('250'), positionQuantity: d('300'), maxPositionPercent: d('20') }))).toEqual({ quantity: '100', notional: '5000', cappedBy: ['max_position_percent'] });
    expect(size({ mode: 'fixed_quantity', value: d('1'), positionQuantity: d('400'), maxPositionPercent: d('20') })).toMatchObject({ ok: false, reason: 'risk:max_position_percent' });
  });

  it('caps by buying power, and records every cap in order', () => {
    expect(ok(size({ mode: 'percent_of_equity', value: d('50'), maxPositionPercent: d('20'), buyingPower: d('5025') }))).toEqual({ quantity: '100', notional: '5000', cappedBy: ['max_position_percent', 'buying_power'] });
    expect(size({ mode: 'fixed_quantity', value: d('1'), buyingPower: d('0') })).toMatchObject({ ok: false, reason: 'risk:buying_power' });
  });

  it('caps by the instrument maximum quantity', () => {
    const capped = defaultInstrument('X', { maxQuantity: d('150') });
    expect(ok(size({ mode: 'fixed_quantity', value: d('500'), instrument: capped }))).toEqual({ quantity: '150', notional: '7500', cappedBy: ['instrument_max_quantity'] });
  });

  it('refuses an entry capped below the minimum, naming the minimum and the cap', () => {
    const result = size({ mode: 'fixed_quantity', value: d('10'), alertPrice: d('500'), buyingPower: d('400') });
    expect(result).toEqual({ ok: false, reason: 'risk:min_quantity', detail: "quantity 0 after capping by buying power 400 is below AAPL's minimum quantity 1" });
  });
});

describe('partial closes', () => {
  it('take a percent of the position, floored to the step', () => {
    const r = sizeReduction({ positionQuantity: d('10'), reduction: { percent: d('35') }, instrument: AAPL });
    expect(r.ok && [r.quantity.toString(), r.closesAll]).toEqual(['3', false]);
  });

  it('take a dollar amount at a price', () => {
    const r = sizeReduction({ positionQuantity: d('0.5'), reduction: { dollarAmount: d('3000'), price: d('30000') }, instrument: BTC });
    expect(r.ok && r.quantity.toString()).toBe('0.1');
  });

  it('close everything when the remainder would be under the minimum quantity', () => {
    const r = sizeReduction({ positionQuantity: d('0.0015'), reduction: { quantity: d('0.001') }, instrument: BTC });
    expect(r.ok && [r.quantity.toString(), r.closesAll]).toEqual(['0.0015', true]);
  });

  it('close everything when the remainder would be under the minimum notional', () => {
    const r = sizeReduction({ positionQuantity: d('0.01'), reduction: { quantity: d('0.009') }, instrument: BTC, price: d('4000') });
    // the remainder 0.001 is a legal quantity, but 0.001 × 4000 = 4 is under the minimum notional 5
    expect(r.ok && [r.quantity.toString(), r.closesAll]).toEqual(['0.01', true]);
  });

  it('close everything when asked for the whole or more', () => {
    const r = sizeReduction({ positionQuantity: d('10'), reduction: { quantity: d('12') }, instrument: AAPL });
    expect(r.ok && [r.quantity.toString(), r.closesAll]).toEqual(['10', true]);
  });

  it('refuse a close that floors below the minimum while the rest stays tradable', () => {
    expect(sizeReduction({ positionQuantity: d('3'), reduction: { percent: d('25') }, instrument: AAPL })).toMatchObject({ ok: false, reason: 'risk:min_quantity' });
  });
});
