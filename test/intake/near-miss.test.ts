import { describe, expect, it } from 'vitest';
import { editDistance, nearMissOf } from '../../src/intake/near-miss.ts';

const KNOWN = ['price', 'time', 'quantity', 'quantityType', 'stopLoss', 'takeProfit', 'ticker'];

describe('near misses', () => {
  it.each([
    ['StopLoss', 'stopLoss'], ['stoploss', 'stopLoss'], ['takeprofit', 'takeProfit'], ['quantitytype', 'quantityType'],
    ['Price', 'price'], ['TIME', 'time'], ['quantty', 'quantity'], ['stopLos', 'stopLoss'], ['quantiyt', 'quantity'],
    ['tickers', 'ticker'],
  ])('%s is a near miss of %s', (name, known) => {
    expect(nearMissOf(name, KNOWN)).toBe(known);
  });

  it.each(['prices', 'tim', 'interval', 'exchange', 'side', 'tp', 'quantity', 'qty'])('%s is not a near miss', (name) => {
    expect(nearMissOf(name, KNOWN)).toBeUndefined();
  });

  it('counts an insertion, a deletion, a substitution and a swap as one edit each', () => {
    expect(editDistance('quantity', 'quantitty')).toBe(1);
    expect(editDistance('quantity', 'quantty')).toBe(1);
    expect(editDistance('quantity', 'quantaty')).toBe(1);
    expect(editDistance('quantity', 'quantiyt')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('stops counting past the limit', () => {
    expect(editDistance('interval', 'quantity', 1)).toBe(2);
  });
});
