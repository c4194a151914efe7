// A seeded stand-in for the planned fast-check property: malformed alerts are refused with reasons, never thrown on.
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../src/intake/body.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { context } from './helpers.ts';

/** mulberry32: small, seeded, reproducible. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID = {
  ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', quantity: '10', quantityType: 'fixed_quantity', price: '187.23',
  orderType: 'limit', limitPrice: '187', timeInForce: 'day', extendedHours: 'false',
  takeProfit: { limitPrice: '195' }, stopLoss: { type: 'trailing_stop', trailPercent: '1.5' },
  id: 'entry-1', time: '2026-11-23T14:59:50Z', account: 'paper', extras: { note: 'x' },
};
type Field = keyof typeof VALID;
const FIELDS = Object.keys(VALID) as Field[];

const JUNK: unknown[] = [
  null, true, false, [], [1], {}, { a: 1 }, '', ' ', 'abc', 'NaN', '1e', '-1', '0', '1..2', '0x10', 'Infinity',
  '{{close}}', '\u0000', 'x'.repeat(300), '2026-13-01T00:00:00Z', 0, -5,
];
const NUMERIC: Field[] = ['quantity', 'price', 'limitPrice'];
const NESTED_JUNK: Record<string, unknown>[] = [
  {}, { limitPrice: 'abc' }, { limitprice: '1' }, { percent: '1', amount: '2' }, { type: 'stop_limit', stopPrice: '1' },
  { stopPrice: '-3' }, { type: 'trailing_stop', stopPrice: '1' }, { stoploss: '1' },
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('empty list');
  return item;
}

/** One mutation that makes the alert invalid on its own: every body gets at least one of these. */
function breakOne(rand: () => number, body: Record<string, unknown>): void {
  const kind = Math.floor(rand() * 8);
  switch (kind) {
    case 0: delete body.action; break;
    case 1: delete body.ticker; break;
    case 2: body[pick(rand, NUMERIC)] = pick(rand, ['abc', 'NaN', '1e', '', '-2', '0', '{{close}}', null, [], {}]); break;
    case 3: body.action = pick(rand, ['bye', '', 'long', null, 1.5, ['buy'], {}]); break;
    case 4: body[pick(rand, ['stopLoss', 'takeProfit'])] = pick(rand, [...NESTED_JUNK, 'x', null, []]); break;
    case 5: body[pick(rand, ['quantty', 'stoploss', 'StopLoss', 'takeprofit', 'quantitytype', 'Ticker', 'orderTyp'])] = '1'; break;
    case 6: body[pick(rand, ['optionType', 'strikePrice', 'expiration'])] = 'x'; break;
    default: body[pick(rand, FIELDS)] = pick(rand, [null, [], '\u0000']);
  }
}

/** Extra random damage on top: junk values, dropped fields, unknown keys, a stale time. */
function damage(rand: () => number, body: Record<string, unknown>): void {
  const count = Math.floor(rand() * 4);
  for (let i = 0; i < count; i++) {
    const field = pick(rand, FIELDS);
    const roll = rand();
    if (roll < 0.4) body[field] = pick(rand, JUNK);
    else if (roll < 0.6) delete body[field];
    else if (roll < 0.8) body[pick(rand, ['interval', 'exchange', 'side', 'tp', `junk${i}`])] = pick(rand, JUNK);
    else body.time = '2020-01-01T00:00:00Z';
  }
}

describe('malformed alerts (seeded generator, 1,000 bodies)', () => {
  it('are all refused with a reason and never throw', () => {
    const rand = random(20261123);
    const seen = { invalid_signal: 0, unsupported: 0, stale_signal: 0 };
    for (let n = 0; n < 1000; n++) {
      const body: Record<string, unknown> = structuredClone(VALID);
      // Damage first, so that it cannot undo the one break every body is sure to have.
      damage(rand, body);
      breakOne(rand, body);
      // Half go through the real body parser, as text; the rest are handed over as objects (JS numbers too).
      const input = n % 2 === 0 ? parseBody(JSON.stringify(body), 'text/plain') : { ok: true as const, body };
      if (!input.ok) throw new Error(`generator produced unparseable JSON: ${JSON.stringify(input)}`);
      let result: ReturnType<typeof parseAlert> | undefined;
      expect(() => { result = parseAlert(input.body, context()); }, JSON.stringify(body)).not.toThrow();
      if (result === undefined) throw new Error('no result');
      expect(result.ok, JSON.stringify(body)).toBe(false);
      if (result.ok) continue;
      seen[result.error] += 1;
      if (result.error === 'invalid_signal') {
        expect(result.issues.length, JSON.stringify(body)).toBeGreaterThan(0);
        for (const issue of result.issues) {
          expect(typeof issue.path).toBe('string');
          expect(issue.message.length).toBeGreaterThan(0);
        }
      } else if (result.error === 'unsupported') {
        expect(result.field.length).toBeGreaterThan(0);
      }
    }
    expect(seen.invalid_signal).toBeGreaterThan(500);
    expect(seen.unsupported).toBeGreaterThan(0);
  });

  it('the unbroken alert it starts from is accepted', () => {
    expect(parseAlert(structuredClone(VALID), context()).ok).toBe(true);
  });
});
