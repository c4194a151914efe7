import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/brokers/bounded-map.ts';

describe('BoundedMap', () => {
  it('drops the oldest entry when a new key would pass the limit; updating a key keeps the size', () => {
    const m = new BoundedMap<string, number>(3);
    m.set('a', 1).set('b', 2).set('c', 3);
    m.set('b', 20);
    expect([...m.entries()]).toEqual([['a', 1], ['b', 20], ['c', 3]]);
    m.set('d', 4);
    expect([...m.keys()]).toEqual(['b', 'c', 'd']);
    expect(m.get('a')).toBeUndefined();
    expect(m.size).toBe(3);
  });

  it('refuses a limit below one', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});
