// A flood of 429 refusals is journalled once per strategy and minute, then summarized with its count.
import { describe, expect, it } from 'vitest';
import { RefusalCounter } from '../../src/intake/refusal-counter.ts';

const at = (minute: number, second = 0) => new Date(Date.UTC(2026, 11, 5, 9, minute, second));

describe('RefusalCounter', () => {
  it('journals the first rate_limited refusal of a strategy in a minute, counts the rest, and summarizes them once the minute is over', () => {
    const counter = new RefusalCounter();
    const journalled: boolean[] = [];
    for (let i = 0; i < 9131; i++) {
      expect(counter.finished(at(0, i % 60))).toEqual([]);
      journalled.push(counter.take('default', 'rate_limited', at(0, i % 60)));
    }
    expect(counter.take('other', 'rate_limited', at(0, 59))).toBe(true);
    expect(journalled.filter(Boolean)).toHaveLength(1);
    expect(journalled[0]).toBe(true);
    // Refusals of other reasons are each journalled: their detail is what a user needs to fix the alert.
    for (let i = 0; i < 10; i++) expect(counter.take('default', 'invalid', at(0, 30))).toBe(true);
    expect(counter.finished(at(1, 1))).toEqual([{ strategy: 'default', reason: 'rate_limited', refused: 9131, counted: 9130, minuteStart: at(0) }]);
    expect(counter.finished(at(1, 2))).toEqual([]);
    expect(counter.take('default', 'rate_limited', at(1, 2))).toBe(true);
  });
});
