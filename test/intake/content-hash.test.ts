import { describe, expect, it } from 'vitest';
import { contentHash, stableStringify } from '../../src/intake/content-hash.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { context } from './helpers.ts';

describe('contentHash', () => {
  it('is the same whatever the key order, at every depth', () => {
    const a = { ticker: 'AAPL', action: 'buy', stopLoss: { type: 'stop', percent: '2' } };
    const b = { stopLoss: { percent: '2', type: 'stop' }, action: 'buy', ticker: 'AAPL' };
    expect(contentHash(a)).toBe(contentHash(b));
    expect(contentHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs when any value differs', () => {
    expect(contentHash({ ticker: 'AAPL', action: 'buy' })).not.toBe(contentHash({ ticker: 'AAPL', action: 'sell' }));
    expect(contentHash({ extras: ['a', 'b'] })).not.toBe(contentHash({ extras: ['b', 'a'] }));
  });

  it('ignores the passphrase: two alerts differing only in their secret are the same content', () => {
    const first = parseAlert({ passphrase: 'one', ticker: 'AAPL', action: 'buy' }, context());
    const second = parseAlert({ passphrase: 'two', ticker: 'AAPL', action: 'buy' }, context());
    if (!first.ok || !second.ok) throw new Error('expected both to parse');
    expect(contentHash(first.rawPayload)).toBe(contentHash(second.rawPayload));
  });

  it('writes sorted JSON', () => {
    expect(stableStringify({ b: 1, a: [true, null, { d: 'x', c: 'y' }] })).toBe('{"a":[true,null,{"c":"y","d":"x"}],"b":"1"}');
  });
});
