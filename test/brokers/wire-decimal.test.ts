import { describe, expect, it } from 'vitest';
import { optionalWireDecimal, wireDecimal } from '../../src/brokers/wire-decimal.ts';

describe('wire decimals', () => {
  it('take text exactly, and a JSON number only when it is a safe integer', () => {
    expect(wireDecimal.parse('60012.300000000000000001').toFixed()).toBe('60012.300000000000000001');
    expect(wireDecimal.parse(125).toFixed()).toBe('125');
    // A fraction as a JS number has already been through a double: refused rather than guessed.
    expect(wireDecimal.safeParse(0.1).success).toBe(false);
    expect(wireDecimal.safeParse('12,5').success).toBe(false);
  });

  it('read "", "null", null and absent as no value, and refuse anything else that is not a decimal', () => {
    for (const none of ['', 'null', null, undefined]) expect(optionalWireDecimal.parse(none)).toBeUndefined();
    expect(optionalWireDecimal.parse('0.5')?.toFixed()).toBe('0.5');
    expect(optionalWireDecimal.safeParse('abc').success).toBe(false);
  });
});
