// 1,000 malformed alerts over real HTTP, each with a good secret so it gets past authentication: every one is
// answered with a 4xx that is not an authentication answer, none enqueues a job, and each is journalled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRefusals } from '../../src/intake/refusals.ts';
import { GLOBAL_SECRET, Lanes, post, startWebhookDaemon, type TestDaemon } from '../helpers/webhook.ts';

/** mulberry32: a small seeded generator, so a failing case can be replayed from its seed and index. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261123;

interface Case {
  label: string;
  body: string | Buffer;
  contentType: string;
  /** The secret travels in the URL (for bodies that cannot carry it). */
  viaToken: boolean;
}

function generator(seed: number) {
  const random = rng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T,>(items: readonly T[]): T => items[int(items.length)] as T;

  const junkStrings = [
    '', ' ', 'buyy', 'BUY NOW', 'null', 'undefined', '{{strategy.order.action}}', '\u0000', '\u202e', '💥', 'x'.repeat(300),
    '<script>', "'; DROP TABLE signals; --", '%s%s%n', '../../etc/passwd', 'NaN', '-', '1,5', 'long short',
  ];
  // 1e999 is left out here: it is accepted today (see 'refuses numbers of absurd magnitude' in webhook-http.test.ts).
  const badNumbers: readonly unknown[] = [
    'abc', '-1', '0', '-0', '0.0', 'NaN', 'Infinity', '-Infinity', '0x10', '1,000', '1 000', '', ' ', '$100',
    '12abc', '1.2.3', '--5', '+-1', true, false, null, [], {}, ['1'], { value: 1 }, -5, 0,
  ];
  // Not numbers: a JSON number reaches the parser as its text (so `"id": 12` is the id "12"), by design.
  const wrongTypes: readonly unknown[] = [true, false, null, [], ['buy'], {}, { a: 1 }, [[[]]], { action: 'buy' }];

  /** A valid entry that each mutation below breaks; a mutation never repairs another. */
  const base = (): Record<string, unknown> => ({ passphrase: GLOBAL_SECRET, ticker: 'NASDAQ:AAPL', action: 'buy', price: '190.5', id: `fuzz-${int(1e9)}` });

  const mutations: Array<(b: Record<string, unknown>) => string> = [
    (b) => { const f = pick(['ticker', 'action', 'sentiment', 'orderType', 'quantityType', 'timeInForce', 'id', 'account', 'strategy', 'symbol']); b[f] = pick(wrongTypes); return `wrong type ${f}`; },
    (b) => { delete b.action; return 'no action'; },
    (b) => { delete b.ticker; delete b.symbol; return 'no ticker'; },
    (b) => { b.action = pick(junkStrings.filter((s) => !['buy', 'sell', 'exit', 'cancel', 'add'].includes(s.trim().toLowerCase()))); return 'garbage action'; },
    (b) => { b.ticker = pick(['NASDAQ: AAPL', 'A A', 'AA\tPL', 'X'.repeat(65), '', '   ']); return 'junk ticker'; },
    (b) => { const f = pick(['quantity', 'price', 'signalPrice']); b[f] = pick(badNumbers); return `bad number ${f}`; },
    (b) => { b.orderType = 'limit'; b.limitPrice = pick(badNumbers); return 'bad limitPrice'; },
    (b) => { b.orderType = pick(['limit', 'stop', 'stop_limit', 'trailing_stop']); return 'order type without its price'; },
    (b) => { b.quantityType = pick(['shares', 'percent', 'lots', 'fixed']); b.quantity = '1'; return 'bad quantityType'; },
    (b) => { b.quantityType = 'percent_of_position'; b.quantity = pick(['101', '250', '1000']); return 'percent over 100'; },
    (b) => { b.quantityType = 'fixed_quantity'; delete b.quantity; return 'quantityType without quantity'; },
    (b) => { b.sentiment = pick(['up', 'down', 'neutral', 'buy', 'LONGG']); return 'bad sentiment'; },
    (b) => { b.timeInForce = pick(['forever', 'GTD', 'day trade']); return 'bad timeInForce'; },
    (b) => { b.extendedHours = pick(['maybe', 2, 'yes please', [], {}]); return 'bad extendedHours'; },
    (b) => { b.time = pick(['yesterday', 'not a date', '2026-13-45T99:99:99Z', true, [], {}, '']); return 'bad time'; },
    (b) => { b.id = 'i'.repeat(257); return 'id too long'; },
    (b) => { b.extras = pick(['text', 1, [], true]); return 'extras not an object'; },
    // Nested junk where a typo would leave a position unprotected.
    (b) => {
      b.stopLoss = pick<unknown>([
        'two percent', 2, [], [{ percent: 2 }], null, true, {}, { percnt: '2' }, { percent: '2', stopPrice: '180' }, { percent: 'abc' },
        { percent: '-2' }, { percent: { value: 2 } }, { type: 'trailing_stop', percent: '2' }, { type: 'stop', trailPercent: '1' },
        { type: 'stop', limitPrice: '1', stopPrice: '2' }, { type: 'banana', stopPrice: '1' }, { stopPrice: '180', limitPrice: '179' },
        { stopPrice: '180', nested: { deeper: [1, 2, { x: null }] } }, { StopPrice: '180' }, { percent: '2', '': 'x' },
      ]);
      return 'junk stopLoss';
    },
    (b) => {
      b.takeProfit = pick<unknown>(['4%', 4, [], null, {}, { percnt: '4' }, { percent: '4', amount: '1' }, { limitPrice: 'high' }, { percent: '0' }, { trailPercent: '1' }]);
      return 'junk takeProfit';
    },
    (b) => { b[pick(['stoploss', 'takeprofit', 'quantitytype', 'Ticker', 'ACTION', 'quantty', 'stopLos', 'orderTyp'])] = '1'; return 'near miss'; },
    (b) => { b[pick(['optionType', 'expiration', 'strikePrice', 'StrikePrice', 'expirations'])] = 'x'; return 'options field'; },
    // With the ticker gone, a good `symbol` would stand in for it: then the symbol is of the wrong type instead.
    (b) => { b.symbol = typeof b.ticker === 'string' ? 'NYSE:F' : true; return 'ticker and symbol disagree'; },
    (b) => { b.signalPrice = '191'; return 'price and signalPrice disagree'; },
    (b) => { b.strategy = pick(['nosuch', 'DEFAULT', 'x'.repeat(20)]); return 'unknown strategy'; },
    (b) => { b.account = 'paper2'; return 'account override not allowed'; },
    (b) => { delete b.action; (b as Record<string, unknown>)['__proto__'] = { action: 'buy' }; return 'action only on the prototype'; },
  ];

  const rawBodies: Array<() => { label: string; text: string | Buffer }> = [
    () => ({ label: 'random bytes', text: Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256))) }),
    () => ({ label: 'invalid UTF-8 in JSON', text: Buffer.concat([Buffer.from('{"ticker":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","action":"buy"}')]) }),
    () => ({ label: 'truncated JSON', text: JSON.stringify(base()).slice(0, 1 + int(40)) }),
    () => ({ label: 'not an object', text: pick(['[]', '[{"action":"buy"}]', '42', '"buy"', 'null', 'true', '1e5']) }),
    () => ({ label: 'duplicate keys', text: '{"ticker":"NASDAQ:AAPL","action":"buy","action":"sell"}' }),
    () => ({ label: 'plain words', text: pick(['buy AAPL', 'ticker=AAPL&action=buy', '{{ticker}} {{strategy.order.action}}', 'Order filled @ 190.5']) }),
    () => ({ label: 'empty', text: pick(['', ' ', '\n\n', '\ufeff']) }),
    () => ({ label: 'JSON with trailing junk', text: `${JSON.stringify({ ticker: 'NASDAQ:AAPL', action: 'buy' })}${pick(['x', ',', '}', ' {}'])}` }),
    () => ({ label: 'single quotes', text: "{'ticker':'NASDAQ:AAPL','action':'buy'}" }),
    () => ({ label: 'deep nesting', text: `{"ticker":"NASDAQ:AAPL","action":"buy","stopLoss":${'['.repeat(200)}${']'.repeat(200)}}` }),
  ];

  return function next(index: number): Case {
    const contentType = pick(['application/json', 'text/plain', 'text/plain; charset=utf-8', 'application/json; charset=UTF-8']);
    if (int(10) < 3) {
      const raw = pick(rawBodies)();
      return { label: `#${index} ${raw.label}`, body: raw.text, contentType, viaToken: true };
    }
    const body = base();
    const labels: string[] = [];
    const count = 1 + int(3);
    for (let i = 0; i < count; i++) labels.push(pick(mutations)(body));
    // Half the time the secret goes in the URL instead: the body alone is then under test.
    const viaToken = int(2) === 0;
    if (viaToken) delete body.passphrase;
    return { label: `#${index} ${labels.join(' + ')}`, body: JSON.stringify(body), contentType, viaToken };
  };
}

describe('webhook fuzz: 1,000 malformed alerts', () => {
  let d: TestDaemon;
  let lanes: Lanes;
  beforeAll(async () => {
    d = await startWebhookDaemon({ label: 'wh-fuzz' });
    lanes = new Lanes(d.redis, d.prefix, d.lanes);
  });
  afterAll(async () => {
    await lanes?.close();
    await d?.stop();
  });

  it('every one gets a 4xx past authentication, and nothing is enqueued', async () => {
    const next = generator(SEED);
    const cases = Array.from({ length: 1000 }, (_, i) => next(i));
    const before = await lanes.countJobs();
    const answers: Array<{ c: Case; status: number; text: string }> = [];
    for (let i = 0; i < cases.length; i += 20) {
      const batch = cases.slice(i, i + 20);
      answers.push(...await Promise.all(batch.map(async (c) => {
        const url = c.viaToken ? `${d.url}/webhook/default/${GLOBAL_SECRET}` : `${d.url}/webhook`;
        const a = await post(url, c.body, { contentType: c.contentType });
        return { c, status: a.status, text: a.text };
      })));
    }
    const wrong = answers.filter((a) => a.status < 400 || a.status > 499 || a.status === 401 || a.status === 403 || a.status === 429);
    expect(wrong.map((a) => `${a.c.label} (seed ${SEED}) → ${a.status} ${a.text.slice(0, 200)}`)).toEqual([]);
    expect(await lanes.countJobs()).toBe(before);

    // Each answer is one the contract names for a bad alert, with its body.
    for (const a of answers) {
      expect([400, 404, 422], a.c.label).toContain(a.status);
      const body = JSON.parse(a.text) as { error?: string };
      const expected = a.status === 404 ? /^unknown_strategy$/ : a.status === 422 ? /^stale_signal$/ : /^(invalid_signal|unsupported)$/;
      expect(body.error, a.c.label).toMatch(expected);
    }
    // The generator really covers the ground: many kinds, both content types, both ways of carrying the secret.
    const kinds = new Set(cases.map((c) => c.label.replace(/^#\d+ /, '').split(' + ')[0]));
    expect(kinds.size).toBeGreaterThan(30);
    expect(new Set(answers.map((a) => a.status)).size).toBeGreaterThanOrEqual(2);
    expect(cases.filter((c) => c.viaToken).length).toBeGreaterThan(300);
    expect(cases.filter((c) => !c.viaToken).length).toBeGreaterThan(300);

    // Every one was past authentication, so every one is journalled with its reason.
    const deadline = Date.now() + 3000;
    let refusals = await readRefusals(d.redis, d.prefix, '0', 5000);
    while (refusals.length < 1000 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      refusals = await readRefusals(d.redis, d.prefix, '0', 5000);
    }
    expect(refusals).toHaveLength(1000);
    for (const { refusal } of refusals) expect(['invalid', 'unsupported', 'unknown_strategy', 'stale']).toContain(refusal.reason);
  });
});
