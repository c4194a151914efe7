import { describe, expect, it } from 'vitest';
import { INTENT_TABLE, decideIntent, findIntentRow } from '../../src/domain/intent.ts';
import type { IntentInput, IntentPosition, IntentStrategy } from '../../src/domain/intent.ts';
import { Decimal } from '../../src/domain/money.ts';
import type { Sentiment, SignalAction } from '../../src/domain/signal.ts';

const d = (text: string): Decimal => new Decimal(text);
const LONG: IntentPosition = { side: 'long', quantity: d('10') };
const SHORT: IntentPosition = { side: 'short', quantity: d('10') };
const FLAT = undefined;
const STRICT: IntentStrategy = { allowShorts: false, allowReversal: false, pyramiding: false };
const OPEN: IntentStrategy = { allowShorts: true, allowReversal: true, pyramiding: true };

function decide(action: SignalAction, sentiment: Sentiment | undefined, position: IntentPosition | undefined, extra: Partial<IntentInput> = {}) {
  return decideIntent({ action, sentiment, position, strategy: STRICT, ...extra });
}

/** Decimals compared as strings so a test fails on 0.5 vs 0.50 drift only where the value differs. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('the action × sentiment table', () => {
  it('covers every action, sentiment and position with exactly one row', () => {
    const actions: SignalAction[] = ['buy', 'sell', 'add', 'exit', 'cancel'];
    const sentiments = ['long', 'short', 'flat', 'none'] as const;
    const positions = ['flat', 'long', 'short'] as const;
    for (const a of actions) for (const s of sentiments) for (const p of positions) {
      const rows = INTENT_TABLE.filter((r) => r.action === a && r.sentiments.includes(s) && r.positions.includes(p));
      expect(rows.map((r) => r.name), `${a}/${s}/${p}`).toHaveLength(1);
    }
  });

  it('picks the row by the position, treating a zero quantity as flat', () => {
    expect(findIntentRow('buy', 'long', { side: 'long', quantity: d('0') }).name).toBe('buy with sentiment long or none on flat opens a long');
  });

  // buy
  it('buy with sentiment long or none on flat opens a long, first cancelling the ticker\'s entry orders', () => {
    expect(decide('buy', 'long', FLAT)).toEqual({ kind: 'open', side: 'long', cancelEntriesFirst: true });
    expect(decide('buy', undefined, FLAT)).toEqual({ kind: 'open', side: 'long', cancelEntriesFirst: true });
  });

  it('buy with sentiment long or none on a long is refused no_op without pyramiding', () => {
    expect(decide('buy', 'long', LONG)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
    expect(decide('buy', undefined, LONG)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('buy with sentiment long or none on a long adds when the strategy pyramids', () => {
    expect(decide('buy', 'long', LONG, { strategy: { ...STRICT, pyramiding: true } })).toEqual({ kind: 'add', side: 'long' });
  });

  it('buy with sentiment long or none on a short closes it, then opens a long when reversal is allowed', () => {
    expect(decide('buy', 'long', SHORT, { strategy: { ...STRICT, allowReversal: true } })).toEqual({ kind: 'reverse', closeSide: 'short', openSide: 'long' });
    expect(decide('buy', undefined, SHORT, { strategy: { ...STRICT, allowReversal: true } })).toEqual({ kind: 'reverse', closeSide: 'short', openSide: 'long' });
  });

  it('buy with sentiment long or none on a short only closes it when reversal is not allowed', () => {
    expect(plain(decide('buy', 'long', SHORT))).toEqual({ kind: 'close', side: 'short' });
  });

  it('buy with sentiment flat on a short closes the short (no new long, even with reversal on)', () => {
    expect(plain(decide('buy', 'flat', SHORT, { strategy: OPEN }))).toEqual({ kind: 'close', side: 'short' });
  });

  it('buy with sentiment flat on a short closes part of it with percent_of_position', () => {
    expect(plain(decide('buy', 'flat', SHORT, { quantity: d('25'), quantityType: 'percent_of_position' }))).toEqual({ kind: 'close', side: 'short', percent: '25' });
  });

  it('buy with sentiment flat on flat or a long is refused no_op', () => {
    expect(decide('buy', 'flat', FLAT)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
    expect(decide('buy', 'flat', LONG)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('buy with sentiment short on a short reduces the short by the quantity', () => {
    expect(plain(decide('buy', 'short', SHORT, { quantity: d('4') }))).toEqual({ kind: 'reduce', side: 'short', quantity: '4', quantityType: 'fixed_quantity' });
  });

  it('buy with sentiment short on a short without a quantity is refused missing_quantity', () => {
    expect(decide('buy', 'short', SHORT)).toMatchObject({ kind: 'refuse', reason: 'missing_quantity' });
  });

  it('buy with sentiment short on a short for the whole quantity or more closes it', () => {
    expect(plain(decide('buy', 'short', SHORT, { quantity: d('10') }))).toEqual({ kind: 'close', side: 'short' });
    expect(plain(decide('buy', 'short', SHORT, { quantity: d('12') }))).toEqual({ kind: 'close', side: 'short' });
  });

  it('buy with sentiment short on flat is refused no_op: nothing left to reduce', () => {
    expect(decide('buy', 'short', FLAT, { quantity: d('4') })).toMatchObject({ kind: 'refuse', reason: 'no_op', detail: expect.stringContaining('nothing left to reduce') });
  });

  it('buy with sentiment short on a long is refused position_mismatch', () => {
    expect(decide('buy', 'short', LONG, { quantity: d('4') })).toMatchObject({ kind: 'refuse', reason: 'position_mismatch' });
  });

  // sell
  it('sell with sentiment short or none on flat opens a short when shorts are allowed', () => {
    const strategy = { ...STRICT, allowShorts: true };
    expect(decide('sell', 'short', FLAT, { strategy })).toEqual({ kind: 'open', side: 'short', cancelEntriesFirst: true });
    expect(decide('sell', undefined, FLAT, { strategy })).toEqual({ kind: 'open', side: 'short', cancelEntriesFirst: true });
  });

  it('sell with sentiment short or none on flat is refused when shorts are not allowed', () => {
    expect(decide('sell', 'short', FLAT)).toMatchObject({ kind: 'refuse', reason: 'shorts_not_allowed' });
    expect(decide('sell', undefined, FLAT)).toMatchObject({ kind: 'refuse', reason: 'shorts_not_allowed' });
  });

  it('sell with sentiment short or none on a short is refused no_op without pyramiding', () => {
    expect(decide('sell', 'short', SHORT, { strategy: { ...STRICT, allowShorts: true } })).toMatchObject({ kind: 'refuse', reason: 'no_op' });
    expect(decide('sell', undefined, SHORT, { strategy: { ...STRICT, allowShorts: true } })).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('sell with sentiment short or none on a short adds when the strategy pyramids', () => {
    expect(decide('sell', 'short', SHORT, { strategy: OPEN })).toEqual({ kind: 'add', side: 'short' });
  });

  it('sell with sentiment flat on a long closes the long', () => {
    expect(plain(decide('sell', 'flat', LONG, { strategy: OPEN }))).toEqual({ kind: 'close', side: 'long' });
  });

  it('sell with sentiment flat on a long closes part of it with percent_of_position', () => {
    expect(plain(decide('sell', 'flat', LONG, { quantity: d('50'), quantityType: 'percent_of_position' }))).toEqual({ kind: 'close', side: 'long', percent: '50' });
    expect(plain(decide('sell', 'flat', LONG, { quantity: d('100'), quantityType: 'percent_of_position' }))).toEqual({ kind: 'close', side: 'long' });
  });

  it('sell with sentiment none on a long closes it and then opens a short when reversal and shorts are allowed', () => {
    expect(decide('sell', undefined, LONG, { strategy: OPEN })).toEqual({ kind: 'reverse', closeSide: 'long', openSide: 'short' });
  });

  it('sell with sentiment none on a long only closes it when reversal or shorts are not allowed', () => {
    expect(plain(decide('sell', undefined, LONG, { strategy: { ...OPEN, allowShorts: false } }))).toEqual({ kind: 'close', side: 'long' });
    expect(plain(decide('sell', undefined, LONG, { strategy: { ...OPEN, allowReversal: false } }))).toEqual({ kind: 'close', side: 'long' });
  });

  it('sell with sentiment none on a long as a partial close does not reverse', () => {
    expect(plain(decide('sell', undefined, LONG, { strategy: OPEN, quantity: d('30'), quantityType: 'percent_of_position' }))).toEqual({ kind: 'close', side: 'long', percent: '30' });
  });

  it('sell with sentiment short on a long closes it, then opens a short when reversal and shorts are allowed', () => {
    expect(decide('sell', 'short', LONG, { strategy: OPEN })).toEqual({ kind: 'reverse', closeSide: 'long', openSide: 'short' });
  });

  it('sell with sentiment short on a long only closes it when reversal or shorts are not allowed', () => {
    expect(plain(decide('sell', 'short', LONG, { strategy: { ...OPEN, allowShorts: false } }))).toEqual({ kind: 'close', side: 'long' });
    expect(plain(decide('sell', 'short', LONG, { strategy: { ...OPEN, allowReversal: false } }))).toEqual({ kind: 'close', side: 'long' });
  });

  it('sell with sentiment flat on flat or a short is refused no_op', () => {
    expect(decide('sell', 'flat', FLAT)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
    expect(decide('sell', 'flat', SHORT)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('sell with sentiment long on a long reduces the long by the quantity', () => {
    expect(plain(decide('sell', 'long', LONG, { quantity: d('3') }))).toEqual({ kind: 'reduce', side: 'long', quantity: '3', quantityType: 'fixed_quantity' });
    expect(plain(decide('sell', 'long', LONG, { quantity: d('500'), quantityType: 'dollar_amount' }))).toEqual({ kind: 'reduce', side: 'long', quantity: '500', quantityType: 'dollar_amount' });
    expect(plain(decide('sell', 'long', LONG, { quantity: d('40'), quantityType: 'percent_of_position' }))).toEqual({ kind: 'close', side: 'long', percent: '40' });
  });

  it('sell with sentiment long on a long without a quantity is refused missing_quantity', () => {
    expect(decide('sell', 'long', LONG)).toMatchObject({ kind: 'refuse', reason: 'missing_quantity' });
  });

  it('sell with sentiment long on a long refuses a quantity type that cannot reduce', () => {
    expect(decide('sell', 'long', LONG, { quantity: d('1'), quantityType: 'risk_percent' })).toMatchObject({ kind: 'refuse', reason: 'invalid_quantity_type' });
  });

  it('sell with sentiment long on flat is refused no_op: nothing left to reduce', () => {
    expect(decide('sell', 'long', FLAT, { quantity: d('3') })).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('sell with sentiment long on a short is refused position_mismatch', () => {
    expect(decide('sell', 'long', SHORT, { quantity: d('3') })).toMatchObject({ kind: 'refuse', reason: 'position_mismatch' });
  });

  // add, exit, cancel
  it('add on a long or a short adds on its own side, whatever the sentiment', () => {
    expect(decide('add', undefined, LONG)).toEqual({ kind: 'add', side: 'long' });
    expect(decide('add', 'short', LONG)).toEqual({ kind: 'add', side: 'long' });
    expect(decide('add', 'long', SHORT)).toEqual({ kind: 'add', side: 'short' });
  });

  it('add on flat is refused no_op', () => {
    expect(decide('add', 'long', FLAT)).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('exit on a long or a short closes the position and cancels the ticker\'s open orders', () => {
    expect(plain(decide('exit', undefined, LONG))).toEqual({ kind: 'exit_and_cancel', side: 'long' });
    expect(plain(decide('exit', 'flat', SHORT))).toEqual({ kind: 'exit_and_cancel', side: 'short' });
  });

  it('exit on a long with percent_of_position closes part of it', () => {
    expect(plain(decide('exit', undefined, LONG, { quantity: d('50'), quantityType: 'percent_of_position' }))).toEqual({ kind: 'exit_and_cancel', side: 'long', percent: '50' });
    expect(decide('exit', undefined, LONG, { quantityType: 'percent_of_position' })).toMatchObject({ kind: 'refuse', reason: 'missing_quantity' });
  });

  it('exit on flat cancels the ticker\'s open entry orders', () => {
    expect(decide('exit', undefined, FLAT, { openEntryOrders: 2 })).toEqual({ kind: 'cancel_entries', noneIsNoOp: true });
    expect(decide('exit', undefined, FLAT)).toEqual({ kind: 'cancel_entries', noneIsNoOp: true });
  });

  it('exit on flat with no open entry orders is refused no_op', () => {
    expect(decide('exit', undefined, FLAT, { openEntryOrders: 0 })).toMatchObject({ kind: 'refuse', reason: 'no_op' });
  });

  it('cancel cancels the ticker\'s open entry orders whatever the position; positions stay', () => {
    for (const position of [FLAT, LONG, SHORT]) {
      expect(decide('cancel', undefined, position, { openEntryOrders: 0 })).toEqual({ kind: 'cancel_entries', noneIsNoOp: false });
    }
  });

  it('an entry sized by percent_of_position on flat is refused: there is no position to take a percent of', () => {
    expect(decide('buy', 'long', FLAT, { quantity: d('10'), quantityType: 'percent_of_position' })).toMatchObject({ kind: 'refuse', reason: 'invalid_quantity_type' });
  });
});
