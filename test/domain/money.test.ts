import { describe, expect, it } from 'vitest';
import { Decimal, floorToStep, isDecimalText, percentOf, roundToTick, roundToTickDirected, toCents, toDecimal } from '../../src/domain/money.ts';

describe('money', () => {
  it('parses decimals from their text without a float in between', () => {
    expect(toDecimal('0.12345678901234567891').toString()).toBe('0.12345678901234567891');
    expect(toDecimal('0.1').plus(toDecimal('0.2')).toString()).toBe('0.3');
    expect(toDecimal('123456789012345678901234567890.5').toString()).toBe('123456789012345678901234567890.5');
  });

  it('accepts safe integers as numbers but refuses fractional numbers, which already went through a float', () => {
    expect(toDecimal(42).toString()).toBe('42');
    expect(() => toDecimal(0.1)).toThrow(/source text/);
  });

  it.each(['', ' ', 'abc', 'NaN', 'Infinity', '0x10', '1e', '1..2', '--1'])('refuses %j', (text) => {
    expect(isDecimalText(text.trim())).toBe(false);
    expect(() => toDecimal(text)).toThrow(TypeError);
  });

  it('floors quantities to the step and never rounds up', () => {
    expect(floorToStep(toDecimal('1.23456'), toDecimal('0.001')).toString()).toBe('1.234');
    expect(floorToStep(toDecimal('9.99'), toDecimal('1')).toString()).toBe('9');
    expect(floorToStep(toDecimal('0.00099'), toDecimal('0.001')).toString()).toBe('0');
  });

  it('rounds prices to the tick, half up, and directed when asked', () => {
    expect(roundToTick(toDecimal('101.237'), toDecimal('0.05')).toString()).toBe('101.25');
    expect(roundToTick(toDecimal('101.225'), toDecimal('0.05')).toString()).toBe('101.25');
    expect(roundToTickDirected(toDecimal('101.249'), toDecimal('0.05'), 'down').toString()).toBe('101.2');
    expect(roundToTickDirected(toDecimal('101.201'), toDecimal('0.05'), 'up').toString()).toBe('101.25');
  });

  it('formats cents half-even for display and computes percentages exactly', () => {
    expect(toCents(toDecimal('2.345'))).toBe('2.34');
    expect(toCents(toDecimal('2.355'))).toBe('2.36');
    expect(percentOf(toDecimal('100000'), toDecimal('0.05')).toString()).toBe('50');
  });

  it('keeps 40 significant digits in division', () => {
    expect(new Decimal(1).div(3).toString()).toBe('0.' + '3'.repeat(40));
  });
});
