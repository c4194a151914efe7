import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { protectionPrices, resizeProtection } from '../../src/domain/brackets.ts';
import type { ProtectionInput, ProtectionResult } from '../../src/domain/brackets.ts';

const d = (text: string): Decimal => new Decimal(text);

function prices(input: Partial<ProtectionInput>): ProtectionResult {
  return protectionPrices({ side: 'buy', basePrice: d('100'), tick: d('0.01'), ...input });
}

/** The result with every Decimal as its exact string. */
function plain(result: unknown): unknown {
  return JSON.parse(JSON.stringify(result));
}

describe('protective prices for a long (a buy entry)', () => {
  it('put a 2 % stop below and a 4 % target above the base', () => {
    expect(plain(prices({ stopLoss: { percent: d('2') }, takeProfit: { percent: d('4') } })))
      .toEqual({ ok: true, stop: { type: 'stop', stopPrice: '98' }, target: { limitPrice: '104' } });
  });

  it('round toward the base price: the stop up, the target down', () => {
    // 101.23 × 0.98 = 99.2054 → 99.25; 101.23 × 1.04 = 105.2792 → 105.25 (tick 0.05)
    expect(plain(prices({ basePrice: d('101.23'), tick: d('0.05'), stopLoss: { percent: d('2') }, takeProfit: { percent: d('4') } })))
      .toEqual({ ok: true, stop: { type: 'stop', stopPrice: '99.25' }, target: { limitPrice: '105.25' } });
  });

  it('turn amounts into prices', () => {
    expect(plain(prices({ basePrice: d('50'), stopLoss: { amount: d('1.5') }, takeProfit: { amount: d('3') } })))
      .toEqual({ ok: true, stop: { type: 'stop', stopPrice: '48.5' }, target: { limitPrice: '53' } });
  });

  it('bring an absolute stop onto the tick', () => {
    expect(plain(prices({ stopLoss: { stopPrice: d('95.003') } }))).toEqual({ ok: true, stop: { type: 'stop', stopPrice: '95.01' } });
  });

  it('give a trailing stop its first level and keep the trail', () => {
    expect(plain(prices({ basePrice: d('200'), stopLoss: { trailPercent: d('1') } })))
      .toEqual({ ok: true, stop: { type: 'trailing_stop', stopPrice: '198', trailPercent: '1' } });
    expect(plain(prices({ basePrice: d('200'), stopLoss: { trailAmount: d('0.503') } })))
      .toEqual({ ok: true, stop: { type: 'trailing_stop', stopPrice: '199.5', trailAmount: '0.5' } });
  });

  it('keep a stop-limit\'s limit at or below its stop', () => {
    expect(plain(prices({ stopLoss: { type: 'stop_limit', stopPrice: d('95'), limitPrice: d('94.5') } })))
      .toEqual({ ok: true, stop: { type: 'stop_limit', stopPrice: '95', limitPrice: '94.5' } });
    expect(prices({ stopLoss: { type: 'stop_limit', stopPrice: d('95'), limitPrice: d('95.5') } }))
      .toMatchObject({ ok: false, issues: [{ field: 'stopLoss.limitPrice' }] });
    expect(prices({ stopLoss: { type: 'stop_limit', stopPrice: d('95') } }))
      .toMatchObject({ ok: false, issues: [{ field: 'stopLoss.limitPrice', message: 'a stop_limit stop needs a limitPrice' }] });
  });

  it('refuse a stop above the base and a target below it, naming both fields', () => {
    expect(plain(prices({ stopLoss: { stopPrice: d('101') }, takeProfit: { limitPrice: d('99') } }))).toEqual({
      ok: false,
      issues: [
        { field: 'stopLoss.stopPrice', message: 'the stop 101 of a long must be below the base price 100' },
        { field: 'takeProfit.limitPrice', message: 'the target 99 of a long must be above the base price 100' },
      ],
    });
  });

  it('refuse a stop that rounds onto the base price', () => {
    expect(prices({ tick: d('1'), stopLoss: { percent: d('0.5') } })).toMatchObject({ ok: false, issues: [{ field: 'stopLoss.percent' }] });
  });

  it('refuse a 100 % stop, which is no price', () => {
    expect(prices({ stopLoss: { percent: d('100') } })).toMatchObject({ ok: false, issues: [{ field: 'stopLoss.percent', message: 'gives a stop at 0, which is not a price' }] });
  });

  it('refuse a trail narrower than a tick', () => {
    expect(prices({ stopLoss: { trailAmount: d('0.004') } })).toMatchObject({ ok: false, issues: [{ field: 'stopLoss.trailAmount' }] });
  });

  it('refuse a spec with two anchors', () => {
    expect(prices({ stopLoss: { percent: d('2'), amount: d('1') } })).toMatchObject({ ok: false, issues: [{ field: 'stopLoss' }] });
  });
});

describe('protective prices for a short (a sell entry)', () => {
  it('put the stop above and the target below the base', () => {
    expect(plain(prices({ side: 'sell', stopLoss: { percent: d('2') }, takeProfit: { percent: d('4') } })))
      .toEqual({ ok: true, stop: { type: 'stop', stopPrice: '102' }, target: { limitPrice: '96' } });
  });

  it('round toward the base price: the stop down, the target up', () => {
    // 101.23 × 1.02 = 103.2546 → 103.25; 101.23 × 0.96 = 97.1808 → 97.2 (tick 0.05)
    expect(plain(prices({ side: 'sell', basePrice: d('101.23'), tick: d('0.05'), stopLoss: { percent: d('2') }, takeProfit: { percent: d('4') } })))
      .toEqual({ ok: true, stop: { type: 'stop', stopPrice: '103.25' }, target: { limitPrice: '97.2' } });
  });

  it('trail above the base', () => {
    expect(plain(prices({ side: 'sell', stopLoss: { trailAmount: d('2') } })))
      .toEqual({ ok: true, stop: { type: 'trailing_stop', stopPrice: '102', trailAmount: '2' } });
  });

  it('keep a stop-limit\'s limit at or above its stop', () => {
    expect(plain(prices({ side: 'sell', stopLoss: { type: 'stop_limit', amount: d('2'), limitPrice: d('102.5') } })))
      .toEqual({ ok: true, stop: { type: 'stop_limit', stopPrice: '102', limitPrice: '102.5' } });
    expect(prices({ side: 'sell', stopLoss: { type: 'stop_limit', amount: d('2'), limitPrice: d('101.5') } }))
      .toMatchObject({ ok: false, issues: [{ field: 'stopLoss.limitPrice' }] });
  });

  it('refuse a stop below the base and a target above it, naming both fields', () => {
    expect(plain(prices({ side: 'sell', stopLoss: { amount: d('-1') }, takeProfit: { limitPrice: d('101') } }))).toEqual({
      ok: false,
      issues: [
        { field: 'stopLoss.amount', message: 'must be above zero, got -1' },
        { field: 'takeProfit.limitPrice', message: 'the target 101 of a short must be below the base price 100' },
      ],
    });
    expect(prices({ side: 'sell', stopLoss: { stopPrice: d('99') } })).toMatchObject({ ok: false, issues: [{ field: 'stopLoss.stopPrice' }] });
  });
});

describe('resizing protection', () => {
  const current = { stop: { type: 'stop' as const, stopPrice: d('98') }, target: { limitPrice: d('104') } };

  it('keeps the prices and takes the new total after an add', () => {
    expect(plain(resizeProtection(current, d('15')))).toEqual({
      action: 'resize',
      stop: { quantity: '15', leg: { type: 'stop', stopPrice: '98' }, pricesChanged: false },
      target: { quantity: '15', leg: { limitPrice: '104' }, pricesChanged: false },
    });
  });

  it('takes the alert\'s new prices where it brings them', () => {
    const resized = resizeProtection(current, d('15'), { stop: { type: 'stop', stopPrice: d('99') } });
    expect(plain(resized)).toMatchObject({ stop: { leg: { stopPrice: '99' }, pricesChanged: true }, target: { pricesChanged: false } });
  });

  it('cancels the protection when nothing remains', () => {
    expect(resizeProtection(current, d('0'))).toEqual({ action: 'cancel' });
  });
});
