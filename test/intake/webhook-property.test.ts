// Generated bodies (fast-check) against the real daemon over HTTP: never a 5xx, never a job for a body that must be
// refused, no prototype pollution, and a job for exactly each 202. 200 bodies in npm test; FUZZ_RUNS=10000 for the
// full run (`FUZZ_RUNS=10000 npx vitest run --config test/vitest.config.ts test/intake/webhook-property.test.ts`).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_SECRET, Lanes, post, startWebhookDaemon, type TestDaemon } from '../helpers/webhook.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

interface Case {
  label: string;
  body: string | Buffer;
  contentType: string;
  /** The secret travels in the URL (bodies that cannot carry it). */
  viaToken: boolean;
  /** Whatever else it holds, this body must never be queued. */
  mustRefuse: boolean;
}

/** JSON text of an object from its entries, so `__proto__` and `constructor` are real keys of the text. */
const objectText = (entries: Array<[string, unknown]>) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;

const KEYS = ['ticker', 'symbol', 'action', 'sentiment', 'quantity', 'quantityType', 'price', 'orderType', 'limitPrice', 'stopPrice',
  'takeProfit', 'stopLoss', 'id', 'time', 'account', 'strategy', 'extras', '__proto__', 'constructor', 'prototype'];
const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 12 }));
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.double().map((n) => String(n)),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((n) => n.toString()),
  fc.constantFrom('NaN', 'Infinity', '-1', '1e999', '0x10', '{{close}}', '\u0000', 'buy', 'sell', 'AAPL', 'NASDAQ:AAPL'),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constant({ polluted: 'yes' }),
);
const contentType = fc.constantFrom('application/json', 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/xml', '', 'application/json; charset=utf-16');
const ACTIONS = ['buy', 'sell', 'exit', 'cancel', 'add'];
const LOOKALIKES = ['AA\u200bPL', 'AAPL\u200d', '\u0410APL', 'AA\u202ePL', 'AA\u00adPL', 'AA\u3164PL'];

const cases: fc.Arbitrary<Case> = fc.oneof(
  // Anything at all, under the secret.
  fc.tuple(fc.array(fc.tuple(key, value), { maxLength: 10 }), contentType).map(([entries, type]) => ({
    label: 'random object', body: objectText([['passphrase', GLOBAL_SECRET], ...entries]), contentType: type, viaToken: false, mustRefuse: false,
  })),
  // A valid alert whose action is anything but an action: never queued.
  fc.tuple(fc.oneof(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 })), fc.array(fc.tuple(key, value), { maxLength: 4 }))
    .filter(([action]) => typeof action !== 'string' || !ACTIONS.includes(action.trim().toLowerCase()))
    .map(([action, extra]) => ({
      label: 'bad action', body: objectText([['passphrase', GLOBAL_SECRET], ['ticker', 'AAPL'], ...extra.filter(([k]) => k !== 'action'), ['action', action]]),
      contentType: 'application/json', viaToken: false, mustRefuse: true,
    })),
  // A look-alike ticker: never queued.
  fc.tuple(fc.constantFrom(...LOOKALIKES), fc.constantFrom('buy', 'sell')).map(([ticker, action]) => ({
    label: 'look-alike ticker', body: objectText([['passphrase', GLOBAL_SECRET], ['ticker', ticker], ['action', action]]),
    contentType: 'application/json', viaToken: false, mustRefuse: true,
  })),
  // Deep nesting, up to far past the limit.
  fc.integer({ min: 1, max: 20_000 }).map((depth) => ({
    label: `nesting ${depth}`, body: `{"ticker":"AAPL","action":"buy","extras":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
    // The body object and extras are two levels: past 32 in all it is refused.
    contentType: 'application/json', viaToken: true, mustRefuse: depth + 2 > 32,
  })),
  // Bytes that are not UTF-8 or not JSON, in any content type.
  fc.tuple(fc.uint8Array({ maxLength: 200 }), contentType).map(([bytes, type]) => ({
    label: 'bytes', body: Buffer.from(bytes), contentType: type, viaToken: true, mustRefuse: true,
  })),
  // Long strings, up to past the body limit.
  fc.integer({ min: 1_000, max: 1_100_000 }).map((length) => ({
    label: `string of ${length}`, body: objectText([['passphrase', GLOBAL_SECRET], ['ticker', 'AAPL'], ['action', 'buy'], ['note', 'x'.repeat(length)]]),
    contentType: 'application/json', viaToken: false, mustRefuse: length > 65_536, // over the 64 KB body limit: 413
  })),
);

describe(`webhook property: ${RUNS} generated bodies`, () => {
  let d: TestDaemon;
  let lanes: Lanes;
  beforeAll(async () => {
    d = await startWebhookDaemon({ label: 'wh-prop' });
    lanes = new Lanes(d.redis, d.prefix, d.lanes);
  });
  afterAll(async () => {
    await lanes?.close();
    await d?.stop();
  });

  it('never a 5xx, never a job for a body that must be refused, a job for each 202, no prototype pollution', async () => {
    let queued = 0;
    const before = await lanes.countJobs();
    await fc.assert(fc.asyncProperty(cases, async (c) => {
      const url = c.viaToken ? `${d.url}/webhook/default/${GLOBAL_SECRET}` : `${d.url}/webhook`;
      const answer = await post(url, c.body, { contentType: c.contentType });
      expect(answer.status, `${c.label} → ${answer.text.slice(0, 200)}`).toBeLessThan(500);
      expect(answer.body, `${c.label}: every answer is JSON`).toBeDefined();
      if (c.mustRefuse) expect(answer.status, c.label).not.toBe(202);
      if (answer.status === 202) queued++;
    }), { numRuns: RUNS, interruptAfterTimeLimit: RUNS * 200 });
    // One account for `default`: a job for each 202, and nothing else.
    expect(await lanes.countJobs()).toBe(before + queued);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect((await fetch(`${d.url}/health`)).status).toBe(200);
  }, Math.max(120_000, RUNS * 100));
});
