import { describe, expect, it } from 'vitest';
import { InvariantError } from '../../src/domain/errors.ts';
import { Decimal } from '../../src/domain/money.ts';
import {
  applyFill, averageExitPrice, checkTriggers, netRealizedPnl, observePrice, realizedPnlPct, splitFill, trailingStopLevel, unrealizedPnl, updateWaterMark,
} from '../../src/domain/position.ts';
import type { PositionFill, PositionState, TriggerState } from '../../src/domain/position.ts';
import type { Side } from '../../src/domain/order.ts';

const d = (text: string): Decimal => new Decimal(text);
const fill = (side: Side, quantity: string, price: string, fee = '0'): PositionFill => ({ side, quantity: d(quantity), price: d(price), fee: d(fee) });

function fills(...all: PositionFill[]): PositionState {
  let position: PositionState | undefined;
  for (const f of all) position = applyFill(position, f);
  if (position === undefined) throw new Error('no fills');
  return position;
}

describe('position math', () => {
  it('opens a long at the fill price with its fee', () => {
    const p = fills(fill('buy', '10', '100', '1'));
    expect([p.side, p.quantity.toString(), p.averageEntryPrice.toString(), p.fees.toString(), p.realizedPnl.toString()]).toEqual(['long', '10', '100', '1', '0']);
  });

  it('averages the entry over partial fills of one order', () => {
    const p = fills(fill('buy', '3', '50.01', '0.03'), fill('buy', '7', '50.02', '0.07'));
    // (150.03 + 350.14) / 10
    expect([p.quantity.toString(), p.averageEntryPrice.toString(), p.openedQuantity.toString(), p.fees.toString()]).toEqual(['10', '50.017', '10', '0.1']);
  });

  it('realizes P&L to the cent on reducing fills, fees included, across an add and two partial closes', () => {
    const p = fills(
      fill('buy', '10', '95', '1'),
      fill('buy', '10', '105', '1'),      // add: average 100
      fill('sell', '5', '120', '0.6'),    // +100
      fill('sell', '15', '110', '1.65'),  // +150
    );
    expect(p.quantity.toString()).toBe('0');
    expect(p.averageEntryPrice.toString()).toBe('100');
    expect(p.realizedPnl.toString()).toBe('250');
    expect(p.fees.toString()).toBe('4.25');
    expect(netRealizedPnl(p).toString()).toBe('245.75');
    // 245.75 on the 2000 the closed shares tied up
    expect(realizedPnlPct(p).toString()).toBe('12.2875');
    expect(averageExitPrice(p)?.toString()).toBe('112.5');
  });

  it('keeps the average on a partial close and counts the entry fees already paid', () => {
    const p = fills(fill('buy', '10', '50.017', '0.1'), fill('sell', '4', '50.57', '0.04'));
    expect([p.quantity.toString(), p.averageEntryPrice.toString(), p.realizedPnl.toString(), netRealizedPnl(p).toString()]).toEqual(['6', '50.017', '2.212', '2.072']);
  });

  it('realizes a short\'s P&L when the price falls', () => {
    const p = fills(fill('sell', '4', '250.25', '0.1'), fill('buy', '4', '240.10', '0.1'));
    expect([p.side, p.realizedPnl.toString(), netRealizedPnl(p).toString()]).toEqual(['short', '40.6', '40.4']);
    // 40.4 on 1001 tied up, a repeating decimal: compared at six places
    expect(realizedPnlPct(p).toDecimalPlaces(6).toString()).toBe('4.035964');
  });

  it('marks unrealized P&L for both sides, gross of fees', () => {
    expect(unrealizedPnl(fills(fill('buy', '10', '100', '1')), d('101.37')).toString()).toBe('13.7');
    expect(unrealizedPnl(fills(fill('sell', '4', '250.25')), d('245')).toString()).toBe('21');
    expect(unrealizedPnl(fills(fill('sell', '4', '250.25')), d('251')).toString()).toBe('-3');
  });

  it('has no realized percent before any close', () => {
    expect(realizedPnlPct(fills(fill('buy', '1', '10', '0.01'))).toString()).toBe('0');
  });

  it('refuses a fill that crosses zero, and splits it with its fee', () => {
    const p = fills(fill('buy', '10', '100'));
    expect(() => applyFill(p, fill('sell', '12', '101'))).toThrow(InvariantError);
    const parts = splitFill(p, fill('sell', '12', '101', '1.2'));
    expect(JSON.parse(JSON.stringify(parts))).toEqual({
      closing: { side: 'sell', quantity: '10', price: '101', fee: '1' },
      opening: { side: 'sell', quantity: '2', price: '101', fee: '0.2' },
    });
  });

  it('refuses a fill on a closed position: a new fill starts a new position', () => {
    const closed = fills(fill('buy', '1', '10'), fill('sell', '1', '11'));
    expect(() => applyFill(closed, fill('buy', '1', '10'))).toThrow(/new position/);
  });
});

describe('triggers', () => {
  const long: TriggerState = { side: 'long', averageEntryPrice: d('100'), stopPrice: d('95'), targetPrice: d('110') };
  const short: TriggerState = { side: 'short', averageEntryPrice: d('100'), stopPrice: d('105'), targetPrice: d('90') };

  it('fire a long\'s stop at or below it and its target at or above it', () => {
    expect(checkTriggers(long, d('95.01'))).toBeUndefined();
    expect(checkTriggers(long, d('95'))).toBe('stop_loss');
    expect(checkTriggers(long, d('109.99'))).toBeUndefined();
    expect(checkTriggers(long, d('110'))).toBe('take_profit');
  });

  it('fire on a gap through the level', () => {
    expect(checkTriggers(long, d('80'))).toBe('stop_loss');
    expect(checkTriggers(long, d('130'))).toBe('take_profit');
    expect(checkTriggers(short, d('120'))).toBe('stop_loss');
    expect(checkTriggers(short, d('70'))).toBe('take_profit');
  });

  it('fire a short\'s stop at or above it and its target at or below it', () => {
    expect(checkTriggers(short, d('105'))).toBe('stop_loss');
    expect(checkTriggers(short, d('90'))).toBe('take_profit');
    expect(checkTriggers(short, d('100'))).toBeUndefined();
  });

  it('let the stop win when one tick reaches both stop and target', () => {
    expect(checkTriggers(long, { low: d('94'), high: d('111') })).toBe('stop_loss');
    expect(checkTriggers(short, { low: d('89'), high: d('106') })).toBe('stop_loss');
    // levels set across each other: a single price reaches both
    expect(checkTriggers({ side: 'long', averageEntryPrice: d('100'), stopPrice: d('101'), targetPrice: d('100.5') }, d('100.7'))).toBe('stop_loss');
  });

  it('fire a long\'s trailing stop a percent under the high water mark', () => {
    const trailing: TriggerState = { side: 'long', averageEntryPrice: d('100'), trailPercent: d('5'), highWater: d('120') };
    expect(trailingStopLevel(trailing)?.toString()).toBe('114');
    expect(checkTriggers(trailing, d('114.01'))).toBeUndefined();
    expect(checkTriggers(trailing, d('114'))).toBe('trailing_stop');
  });

  it('fire a short\'s trailing stop an amount over the low water mark', () => {
    const trailing: TriggerState = { side: 'short', averageEntryPrice: d('100'), trailAmount: d('2'), lowWater: d('80') };
    expect(trailingStopLevel(trailing)?.toString()).toBe('82');
    expect(checkTriggers(trailing, d('81.99'))).toBeUndefined();
    expect(checkTriggers(trailing, d('82'))).toBe('trailing_stop');
  });

  it('name the stop met first when a fixed and a trailing stop are both hit', () => {
    const risen: TriggerState = { side: 'long', averageEntryPrice: d('100'), stopPrice: d('100'), trailPercent: d('5'), highWater: d('120') };
    expect(checkTriggers(risen, d('99'))).toBe('trailing_stop');
    const barely: TriggerState = { ...risen, highWater: d('102') }; // trail at 96.9, under the stop
    expect(checkTriggers(barely, d('95'))).toBe('stop_loss');
  });

  it('move the water mark with the high for a long and the low for a short, never back', () => {
    const trailing: TriggerState = { side: 'long', averageEntryPrice: d('100'), trailPercent: d('5') };
    expect(updateWaterMark(trailing, d('105')).highWater?.toString()).toBe('105');
    expect(updateWaterMark({ ...trailing, highWater: d('105') }, d('103')).highWater?.toString()).toBe('105');
    expect(updateWaterMark({ ...trailing, highWater: d('105') }, { low: d('101'), high: d('107') }).highWater?.toString()).toBe('107');
    const shortTrail: TriggerState = { side: 'short', averageEntryPrice: d('100'), trailAmount: d('2') };
    expect(updateWaterMark(shortTrail, { low: d('96'), high: d('101') }).lowWater?.toString()).toBe('96');
    expect(updateWaterMark({ ...shortTrail, lowWater: d('96') }, d('98')).lowWater?.toString()).toBe('96');
  });

  it('check against the stored mark before moving it, so a range\'s high cannot trip its own low', () => {
    const trailing: TriggerState = { side: 'long', averageEntryPrice: d('100'), trailPercent: d('5'), highWater: d('120') };
    const seen = observePrice(trailing, { low: d('115'), high: d('125') });
    expect(seen.trigger).toBeUndefined();
    expect(seen.highWater?.toString()).toBe('125');
    expect(checkTriggers({ ...trailing, highWater: seen.highWater }, d('118.75'))).toBe('trailing_stop');
  });
});
