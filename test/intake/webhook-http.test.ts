// The webhook over real HTTP against a daemon started in-process on real Redis: every answer of PRODUCT.md
// with its body, the three ways to authenticate, dedupe, fan-out, symbol mapping, exact numbers, the journal
// stream of refusals, the limits, and a quick 503 when Redis is down.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { createApp } from '../../src/http/app.ts';
import { readRefusals, type Refusal } from '../../src/intake/refusals.ts';
import { contentHash } from '../../src/intake/content-hash.ts';
import { createWebhookRouter } from '../../src/intake/webhook.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { laneFor } from '../../src/queue/lanes.ts';
import { createFastFailRedis } from '../../src/queue/redis.ts';
import { SignalQueue } from '../../src/queue/signal-queue.ts';
import { tempDir, uniquePrefix } from '../helpers/env.ts';
import {
  CRYPTO_SECRET, GLOBAL_SECRET, Lanes, MAIN_CONFIG, post, signature, startWebhookDaemon, ULID, uniqueId,
  type TestDaemon,
} from '../helpers/webhook.ts';

const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });

/** A valid entry for the default strategy; `extra` adds or replaces fields. */
function alert(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { passphrase: GLOBAL_SECRET, ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '189.50', id: uniqueId(), ...extra };
}

function without(obj: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));
}

/** Waits for the refusal whose payload carries this alert id (refusals are journalled just after the answer). */
async function refusalFor(d: TestDaemon, userId: string, timeoutMs = 2000): Promise<Refusal | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await readRefusals(d.redis, d.prefix, '0', 100_000);
    const found = all.map((e) => e.refusal).find((r) => (JSON.parse(r.payload) as { id?: string }).id === userId);
    if (found || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('webhook over HTTP: the main config', () => {
  let d: TestDaemon;
  let lanes: Lanes;
  beforeAll(async () => {
    d = await startWebhookDaemon({ label: 'wh-http' });
    lanes = new Lanes(d.redis, d.prefix, d.lanes);
  });
  afterAll(async () => {
    await lanes?.close();
    await d?.stop();
  });
  const hook = (path = '') => `${d.url}/webhook${path}`;

  describe('202 queued', () => {
    it('answers {signalId, status: queued} and the job is in Redis under `${signalId}.${account}`, in its lane', async () => {
      const body = alert();
      const answer = await post(hook(), body);
      expect(answer.status).toBe(202);
      expect(Object.keys(answer.body ?? {}).sort()).toEqual(['signalId', 'status']);
      expect(answer.body?.status).toBe('queued');
      const signalId = String(answer.body?.signalId);
      expect(signalId).toMatch(ULID);
      const found = await lanes.findJob(`${signalId}.paper`);
      expect(found).toBeDefined();
      expect(found?.lane).toBe(laneFor('paper', 'AAPL', d.lanes));
      const data = found?.job.data;
      expect(data).toMatchObject({ signalId, account: 'paper', accounts: ['paper'], strategy: 'default', symbol: 'AAPL', ignored: [] });
      // The parsed alert carries the Decimal's text (189.50 → 189.5, the same value); the raw payload keeps the source text.
      expect(data?.alert).toMatchObject({ ticker: 'NASDAQ:AAPL', symbol: 'AAPL', action: 'buy', sentiment: 'long', price: '189.5', id: body.id });
      expect(JSON.parse(data?.rawPayload ?? '{}')).toEqual(without(body, 'passphrase'));
      expect(data?.rawPayload).toContain('"189.50"');
      // The content hash is the executor's dedupe key in the journal: the hash of the payload without its secret.
      expect(data?.contentHash).toBe(contentHash(without(body, 'passphrase')));
    });

    it('reads a full-width ticker as the plain one (NFKC), and refuses a zero-width one with a 400 naming ticker', async () => {
      const wide = await post(hook(), alert({ ticker: 'ＡＡＰＬ' }));
      expect(wide.status).toBe(202);
      expect((await lanes.findJob(`${String(wide.body?.signalId)}.paper`))?.job.data).toMatchObject({ symbol: 'AAPL' });
      for (const ticker of ['AA\u200bPL', '\u0410APL']) {
        const refused = await post(hook(), alert({ ticker }));
        expect(refused.status).toBe(400);
        expect(refused.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: 'ticker' }] });
      }
    });

    it('lists unknown fields that are not near misses as ignored, and queues the alert', async () => {
      const answer = await post(hook(), alert({ interval: '5', exchange: 'NASDAQ' }));
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ status: 'queued', ignored: ['interval', 'exchange'] });
      const job = await lanes.findJob(`${String(answer.body?.signalId)}.paper`);
      expect(job?.job.data.ignored).toEqual(['interval', 'exchange']);
      expect(JSON.parse(job?.job.data.rawPayload ?? '{}')).toMatchObject({ interval: '5', exchange: 'NASDAQ' });
    });

    it('parses a JSON body sent as text/plain (as TradingView sends it)', async () => {
      const body = alert({ ticker: 'NYSE:F' });
      const answer = await post(hook(), JSON.stringify(body), { contentType: 'text/plain; charset=utf-8' });
      expect(answer.status).toBe(202);
      const job = await lanes.findJob(`${String(answer.body?.signalId)}.paper`);
      expect(job?.job.data.symbol).toBe('F');
      expect(job?.job.data.alert).toMatchObject({ action: 'buy', id: body.id });
    });

    it('maps the ticker through the strategy symbol map and keeps number text exactly, JSON number or string', async () => {
      const id = uniqueId('exact');
      // Raw text: JSON.stringify would pass the numbers through a float.
      const raw = `{"ticker":"BINANCE:BTCUSDT.P","action":"sell","quantity":0.12345678901234567891,`
        + `"price":"64123.50000000000000000001","stopLoss":{"stopPrice":65000.000000000000000000001},"id":"${id}"}`;
      const answer = await post(hook(`/crypto/${CRYPTO_SECRET}`), raw);
      expect(answer.status).toBe(202);
      const signalId = String(answer.body?.signalId);
      for (const account of ['paper', 'paper2']) {
        const found = await lanes.findJob(`${signalId}.${account}`);
        expect(found?.lane).toBe(laneFor(account, 'BTCUSDT', d.lanes));
        const data = found?.job.data;
        expect(data?.symbol).toBe('BTCUSDT');
        expect(data?.alert).toMatchObject({
          ticker: 'BINANCE:BTCUSDT.P', symbol: 'BTCUSDT', quantity: '0.12345678901234567891', price: '64123.50000000000000000001',
          stopLoss: { stopPrice: '65000.000000000000000000001', type: 'stop' },
        });
        expect(data?.rawPayload).toContain('"0.12345678901234567891"');
        expect(data?.rawPayload).toContain('"65000.000000000000000000001"');
      }
      const asText = await post(hook(), alert({ quantity: '0.12345678901234567891' }));
      expect(asText.status).toBe(202);
      const job = await lanes.findJob(`${String(asText.body?.signalId)}.paper`);
      expect(job?.job.data.alert.quantity).toBe('0.12345678901234567891');
    });

    it('fans out: a strategy with two subscriptions enqueues one job per account, both there after the 202', async () => {
      const before = await lanes.countJobs();
      const answer = await post(hook(), { passphrase: CRYPTO_SECRET, strategy: 'crypto', ticker: 'BINANCE:BTCUSDT.P', action: 'buy', id: uniqueId() });
      expect(answer.status).toBe(202);
      const signalId = String(answer.body?.signalId);
      const jobs = await Promise.all(['paper', 'paper2'].map((a) => lanes.findJob(`${signalId}.${a}`)));
      expect(jobs.map((j) => j?.job.data.account)).toEqual(['paper', 'paper2']);
      for (const j of jobs) expect(j?.job.data).toMatchObject({ signalId, strategy: 'crypto', accounts: ['paper', 'paper2'], symbol: 'BTCUSDT' });
      expect(await lanes.countJobs()).toBe(before + 2);
    });

    it('routes to the alert account where the strategy allows an override, and refuses it where not', async () => {
      const allowed = await post(hook('/flex'), alert({ account: 'paper2' }));
      expect(allowed.status).toBe(202);
      const signalId = String(allowed.body?.signalId);
      expect((await lanes.findJob(`${signalId}.paper2`))?.job.data).toMatchObject({ account: 'paper2', accounts: ['paper2'], strategy: 'flex' });
      expect(await lanes.findJob(`${signalId}.paper`)).toBeUndefined();

      const refused = await post(hook(), alert({ account: 'paper2' }));
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: 'account' }] });
      const unknown = await post(hook('/flex'), alert({ account: 'nosuch' }));
      expect(unknown.status).toBe(400);
      expect(unknown.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: 'account' }] });
    });
  });

  describe('authentication', () => {
    it('takes the passphrase in the body, the token in the path, or an HMAC of the raw body', async () => {
      const inBody = await post(hook(), alert());
      expect(inBody.status).toBe(202);
      const inPath = await post(hook(`/default/${GLOBAL_SECRET}`), without(alert(), 'passphrase'));
      expect(inPath.status).toBe(202);
      const raw = JSON.stringify(without(alert(), 'passphrase'));
      const signed = await post(hook(), raw, { headers: { 'x-tradewire-signature': signature(GLOBAL_SECRET, raw) } });
      expect(signed.status).toBe(202);
      const cryptoSigned = JSON.stringify({ strategy: 'crypto', ticker: 'BINANCE:BTCUSDT.P', action: 'buy', id: uniqueId() });
      const viaHmac = await post(hook(), cryptoSigned, { headers: { 'x-tradewire-signature': signature(CRYPTO_SECRET, cryptoSigned) } });
      expect(viaHmac.status).toBe(202);
      for (const a of [inBody, inPath, signed, viaHmac]) {
        const found = await lanes.findJob(`${String(a.body?.signalId)}.paper`);
        expect(found?.job.data.rawPayload).not.toContain('passphrase');
      }
    });

    it('401 with no detail for a wrong, missing or mis-signed secret', async () => {
      const before = await lanes.countJobs();
      const raw = JSON.stringify(without(alert(), 'passphrase'));
      const attempts = [
        await post(hook(), alert({ passphrase: `${GLOBAL_SECRET}x` })),
        await post(hook(), without(alert(), 'passphrase')),
        await post(hook(`/default/not-the-secret`), without(alert(), 'passphrase')),
        await post(hook(), raw, { headers: { 'x-tradewire-signature': signature('not-the-secret', raw) } }),
        // Signed, then the body changed: the signature covers the raw bytes.
        await post(hook(), raw.replace('189.50', '1.50'), { headers: { 'x-tradewire-signature': signature(GLOBAL_SECRET, raw) } }),
        await post(hook(), raw, { headers: { 'x-tradewire-signature': 'sha256=zz' } }),
        await post(hook(), alert({ passphrase: 12345 })),
      ];
      for (const a of attempts) {
        expect(a.status).toBe(401);
        expect(a.body).toEqual({ error: 'unauthorized' });
      }
      expect(await lanes.countJobs()).toBe(before);
    });

    it('a strategy with its own passphrase refuses the global one, in the body, the path or an HMAC', async () => {
      const crypto = { strategy: 'crypto', ticker: 'BINANCE:BTCUSDT.P', action: 'buy', id: uniqueId() };
      const raw = JSON.stringify(crypto);
      const attempts = [
        await post(hook(), { ...crypto, passphrase: GLOBAL_SECRET }),
        await post(hook('/crypto'), { ...without(crypto, 'strategy'), passphrase: GLOBAL_SECRET }),
        await post(hook(`/crypto/${GLOBAL_SECRET}`), without(crypto, 'strategy')),
        await post(hook(), raw, { headers: { 'x-tradewire-signature': signature(GLOBAL_SECRET, raw) } }),
      ];
      for (const a of attempts) expect([a.status, a.body]).toEqual([401, { error: 'unauthorized' }]);
      // ...and the crypto secret does not open the default strategy either.
      const other = await post(hook(), alert({ passphrase: CRYPTO_SECRET }));
      expect([other.status, other.body]).toEqual([401, { error: 'unauthorized' }]);
      expect((await post(hook(), { ...crypto, passphrase: CRYPTO_SECRET })).status).toBe(202);
    });

    it('an unknown strategy with a wrong secret is 401, exactly like a known one: a failed auth learns nothing', async () => {
      const unknown = await post(hook('/nosuch'), alert({ passphrase: 'wrong-secret' }));
      const known = await post(hook('/default'), alert({ passphrase: 'wrong-secret' }));
      const unknownInBody = await post(hook(), alert({ strategy: 'nosuch', passphrase: 'wrong-secret' }));
      for (const a of [unknown, known, unknownInBody]) expect(a.status).toBe(401);
      expect(unknown.text).toBe(known.text);
      expect(unknownInBody.text).toBe(known.text);
    });

    it('even an invalid alert with a wrong secret is 401, not 400: nothing about the body is revealed', async () => {
      const a = await post(hook(), { passphrase: 'wrong-secret', ticker: 12, action: 'purchase', optionType: 'call' });
      expect([a.status, a.body]).toEqual([401, { error: 'unauthorized' }]);
      const b = await post(hook(), '{"passphrase": "wrong", "ticker": ', { contentType: 'application/json' });
      expect([b.status, b.body]).toEqual([401, { error: 'unauthorized' }]);
    });
  });

  describe('refusals after authentication', () => {
    it('404 unknown_strategy after a good secret, by path or by body', async () => {
      const byPath = await post(hook('/nosuch'), alert());
      expect(byPath.status).toBe(404);
      expect(byPath.body).toMatchObject({ error: 'unknown_strategy' });
      const byBody = await post(hook(), alert({ strategy: 'nosuch' }));
      expect(byBody.status).toBe(404);
      expect(byBody.body).toMatchObject({ error: 'unknown_strategy' });
      const byToken = await post(hook(`/nosuch/${GLOBAL_SECRET}`), without(alert(), 'passphrase'));
      expect(byToken.status).toBe(404);
    });

    it('400 invalid_signal with an issue naming each bad field', async () => {
      const answer = await post(hook(), alert({
        action: 'purchase', quantity: '-3', price: 'abc', stopLoss: { percnt: '2' }, takeProfit: { percent: '4', amount: '1' }, stoploss: { percent: 1 },
      }));
      expect(answer.status).toBe(400);
      expect(answer.body?.error).toBe('invalid_signal');
      const issues = answer.body?.issues as Array<{ path: string; message: string }>;
      const paths = issues.map((i) => i.path);
      for (const field of ['action', 'quantity', 'price', 'stopLoss.percnt', 'takeProfit', 'stoploss']) expect(paths).toContain(field);
      for (const issue of issues) expect(issue.message).toEqual(expect.any(String));
      expect(issues.find((i) => i.path === 'stoploss')?.message).toContain('stopLoss');
      expect(issues.find((i) => i.path === 'stopLoss.percnt')?.message).toContain('percent');

      const missing = await post(hook(), without(alert(), 'ticker', 'action'));
      expect(missing.status).toBe(400);
      expect((missing.body?.issues as Array<{ path: string }>).map((i) => i.path).sort()).toEqual(['action', 'ticker']);

      const notJson = await post(hook(`/default/${GLOBAL_SECRET}`), 'buy AAPL now', { contentType: 'text/plain' });
      expect(notJson.status).toBe(400);
      expect(notJson.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: '' }] });
    });

    it('400 naming the nesting limit for a 3,000-deep array with the right secret, as JSON without a trace or a path', async () => {
      for (const depth of [3_000, 30_000]) {
        const deep = `{"passphrase":"${GLOBAL_SECRET}","ticker":"AAPL","action":"buy","extras":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        const answer = await post(hook(`/default/${GLOBAL_SECRET}`), deep);
        expect(answer.status, `depth ${depth}`).toBe(400);
        expect(answer.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: '', message: expect.stringContaining('32') }] });
        expect(answer.text).not.toMatch(/node_modules|\/src\/|at [\w.]+ \(/);
      }
      // With the secret only inside the body it cannot be read: a plain 401, never a 500.
      const unread = await post(hook(), `{"passphrase":"${GLOBAL_SECRET}","extras":${'['.repeat(3_000)}${']'.repeat(3_000)}}`);
      expect([unread.status, unread.body]).toEqual([401, { error: 'unauthorized' }]);
      // At the limit the body is read as usual.
      const nested = alert({ note: JSON.parse(`${'['.repeat(30)}1${']'.repeat(30)}`) as unknown });
      expect((await post(hook(), nested)).status).toBe(202);
    });

    // KNOWN FAILING, src bug reported to the lead: field-readers' readDecimal accepts any exponent decimal.js can hold,
    // so `"quantity": "1e999"` is queued as an order for 1e+999 shares (and price 1e999 too). Written for the right behaviour.
    it('refuses numbers of absurd magnitude (1e999) in quantity and price', async () => {
      const quantity = await post(hook(), alert({ quantity: '1e999' }));
      expect(quantity.status).toBe(400);
      expect(quantity.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: 'quantity' }] });
      const price = await post(hook(), alert({ price: '1e999' }));
      expect(price.status).toBe(400);
      expect(price.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: 'price' }] });
    });

    it('400 unsupported naming the options field', async () => {
      const answer = await post(hook(), alert({ optionType: 'call', strikePrice: '200' }));
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'unsupported', field: 'optionType' });
    });

    it('400 when the path strategy and the body strategy differ; the same name in both is fine', async () => {
      const conflict = await post(hook('/default'), alert({ strategy: 'flex' }));
      expect(conflict.status).toBe(400);
      expect(conflict.body).toMatchObject({ error: 'invalid_signal', issues: [{ path: 'strategy' }] });
      const same = await post(hook('/flex'), alert({ strategy: 'flex' }));
      expect(same.status).toBe(202);
      expect((await lanes.findJob(`${String(same.body?.signalId)}.paper`))?.job.data.strategy).toBe('flex');
    });

    it('422 stale_signal for an entry with an old time; an exit or cancel with the same time is carried out', async () => {
      const old = new Date(Date.now() - 10 * 60_000);
      for (const time of [old.toISOString(), old.getTime()]) {
        const entry = await post(hook(), alert({ time }));
        expect(entry.status).toBe(422);
        expect(entry.body).toMatchObject({ error: 'stale_signal', message: expect.stringContaining('maxSignalAgeSeconds') });
        const add = await post(hook(), alert({ action: 'add', time }));
        expect(add.status).toBe(422);
        const exit = await post(hook(), alert({ action: 'exit', time }));
        expect(exit.status).toBe(202);
        expect((await lanes.findJob(`${String(exit.body?.signalId)}.paper`))?.job.data.alert).toMatchObject({ action: 'exit', time: old.toISOString() });
        expect((await post(hook(), alert({ action: 'cancel', time }))).status).toBe(202);
      }
      const fresh = await post(hook(), alert({ time: new Date(Date.now() - 5_000).toISOString() }));
      expect(fresh.status).toBe(202);
    });

    it('a refused request enqueues nothing, and refusals after auth land in the refusals stream with their reason', async () => {
      const before = await lanes.countJobs();
      const ids = { invalid: uniqueId('r-inv'), unsupported: uniqueId('r-uns'), stale: uniqueId('r-stale'), unknown: uniqueId('r-404'),
        dup: uniqueId('r-dup'), unauthorized: uniqueId('r-401'), account: uniqueId('r-acct') };
      expect((await post(hook(), alert({ id: ids.invalid, action: 'purchase' }))).status).toBe(400);
      expect((await post(hook(), alert({ id: ids.unsupported, expiration: '2026-12-18' }))).status).toBe(400);
      expect((await post(hook(), alert({ id: ids.stale, time: new Date(Date.now() - 3_600_000).toISOString() }))).status).toBe(422);
      expect((await post(hook('/nosuch'), alert({ id: ids.unknown }))).status).toBe(404);
      expect((await post(hook(), alert({ id: ids.account, account: 'paper2' }))).status).toBe(400);
      expect((await post(hook(), alert({ id: ids.unauthorized, passphrase: 'wrong' }))).status).toBe(401);
      expect((await post(hook(), 'x'.repeat(70_000), { contentType: 'text/plain' })).status).toBe(413);
      expect((await post(hook(), 'ticker=AAPL', { contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
      const first = await post(hook(), alert({ id: ids.dup }));
      expect(first.status).toBe(202);
      const dup = await post(hook(), alert({ id: ids.dup }));
      expect(dup.status).toBe(200);
      expect(await lanes.countJobs()).toBe(before + 1);

      const expectations: Array<[string, Partial<Refusal>]> = [
        [ids.invalid, { reason: 'invalid', status: 'rejected', strategy: 'default' }],
        [ids.unsupported, { reason: 'unsupported', status: 'rejected' }],
        [ids.stale, { reason: 'stale', status: 'stale', ticker: 'NASDAQ:AAPL', action: 'buy' }],
        [ids.unknown, { reason: 'unknown_strategy', status: 'rejected', strategy: 'nosuch' }],
        [ids.account, { reason: 'invalid', status: 'rejected' }],
        [ids.dup, { reason: 'duplicate', status: 'duplicate', detail: `duplicate of ${String(first.body?.signalId)}` }],
      ];
      for (const [userId, expected] of expectations) {
        const refusal = await refusalFor(d, userId);
        expect(refusal, userId).toMatchObject(expected);
        expect(refusal?.signalId).toMatch(ULID);
        expect(refusal?.payload).not.toContain(GLOBAL_SECRET);
        expect(JSON.parse(refusal?.payload ?? '{}')).not.toHaveProperty('passphrase');
      }
      expect((await refusalFor(d, ids.invalid))?.detail).toContain('action');
      // A failed authentication is not journalled: it is not the user's alert.
      expect(await refusalFor(d, ids.unauthorized, 200)).toBeUndefined();
    });
  });

  describe('duplicates', () => {
    it('200 duplicate with the first signal id for the same id, even with other content; another strategy is not a duplicate', async () => {
      const id = uniqueId('dup');
      const before = await lanes.countJobs();
      const first = await post(hook(), alert({ id }));
      expect(first.status).toBe(202);
      const again = await post(hook(), alert({ id }));
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ signalId: first.body?.signalId, status: 'duplicate' });
      const changed = await post(hook(`/default/${GLOBAL_SECRET}`), without(alert({ id, price: '190.00' }), 'passphrase'));
      expect(changed.body).toEqual({ signalId: first.body?.signalId, status: 'duplicate' });
      const otherStrategy = await post(hook('/flex'), alert({ id }));
      expect(otherStrategy.status).toBe(202);
      expect(otherStrategy.body?.signalId).not.toBe(first.body?.signalId);
      const fanOut = await post(hook(), { passphrase: CRYPTO_SECRET, strategy: 'crypto', ticker: 'BINANCE:BTCUSDT.P', action: 'buy', id });
      expect(fanOut.status).toBe(202);
      const fanOutAgain = await post(hook(), { passphrase: CRYPTO_SECRET, strategy: 'crypto', ticker: 'BINANCE:BTCUSDT.P', action: 'buy', id });
      expect(fanOutAgain.body).toEqual({ signalId: fanOut.body?.signalId, status: 'duplicate' });
      expect(await lanes.countJobs()).toBe(before + 1 + 1 + 2);
    });

    it('without an id, the same content (secret aside) inside the window is a duplicate; other content is not', async () => {
      const content = { ticker: 'NASDAQ:MSFT', action: 'buy', price: String(400 + Math.random()).slice(0, 12) };
      const first = await post(hook(), { ...content, passphrase: GLOBAL_SECRET });
      expect(first.status).toBe(202);
      const sameInBody = await post(hook(), { ...content, passphrase: GLOBAL_SECRET });
      expect(sameInBody.body).toEqual({ signalId: first.body?.signalId, status: 'duplicate' });
      const sameByToken = await post(hook(`/default/${GLOBAL_SECRET}`), content);
      expect(sameByToken.body).toEqual({ signalId: first.body?.signalId, status: 'duplicate' });
      const reordered = await post(hook(), { price: content.price, passphrase: GLOBAL_SECRET, action: 'buy', ticker: 'NASDAQ:MSFT' });
      expect(reordered.status).toBe(200);
      const other = await post(hook(), { ...content, action: 'exit', passphrase: GLOBAL_SECRET });
      expect(other.status).toBe(202);
      const otherStrategy = await post(hook('/flex'), { ...content, passphrase: GLOBAL_SECRET });
      expect(otherStrategy.status).toBe(202);
    });
  });

  describe('before authentication: size and content type', () => {
    it('413 for a body over the limit, with or without a secret', async () => {
      const big = JSON.stringify(alert({ extras: { blob: 'x'.repeat(70_000) } }));
      const withSecret = await post(hook(), big);
      expect(withSecret.status).toBe(413);
      expect(withSecret.body).toEqual({ error: 'payload_too_large' });
      const bare = await post(hook(), 'y'.repeat(65_537), { contentType: 'text/plain' });
      expect(bare.status).toBe(413);
      const justUnder = await post(hook(), JSON.stringify(alert({ extras: { blob: 'x'.repeat(60_000) } })));
      expect(justUnder.status).toBe(202);
    });

    it('415 for other content types, even with a good secret', async () => {
      for (const type of ['application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream']) {
        const answer = await post(hook(), JSON.stringify(alert()), { contentType: type });
        expect(answer.status, type).toBe(415);
        expect(answer.body).toMatchObject({ error: 'unsupported_media_type' });
      }
      const none = await fetch(hook(), { method: 'POST', body: new Blob([JSON.stringify(alert())]) });
      expect(none.status).toBe(415);
    });
  });
});

describe('webhook over HTTP: source allow-list', () => {
  const daemons: TestDaemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop();
  });

  it('403 for a source outside allowedSources, before authentication, and nothing is journalled', async () => {
    const d = await startWebhookDaemon({ label: 'wh-403', config: MAIN_CONFIG.replace('webhook:\n', "server:\n  allowedSources: ['10.0.0.0/8']\nwebhook:\n") });
    daemons.push(d);
    const withSecret = await post(`${d.url}/webhook`, alert());
    expect(withSecret.status).toBe(403);
    expect(withSecret.body).toMatchObject({ error: expect.any(String) });
    const withoutSecret = await post(`${d.url}/webhook/nosuch`, { ticker: 'X', action: 'buy' });
    expect(withoutSecret.status).toBe(403);
    expect(withoutSecret.text).toBe(withSecret.text);
    const lanes = new Lanes(d.redis, d.prefix);
    expect(await lanes.countJobs()).toBe(0);
    await lanes.close();
    expect(await readRefusals(d.redis, d.prefix, '0', 100)).toEqual([]);
  });

  it('behind one proxy (trustProxy: 1) a forged left-most X-Forwarded-For does not pass allowedSources: [tradingview]', async () => {
    const d = await startWebhookDaemon({ label: 'wh-forged', config: MAIN_CONFIG.replace('webhook:\n', 'server:\n  trustProxy: 1\n  allowedSources: [tradingview]\nwebhook:\n') });
    daemons.push(d);
    // The client writes TradingView's address; the proxy (this test, on loopback) appends the address it saw.
    const forged = await post(`${d.url}/webhook`, alert(), { headers: { 'x-forwarded-for': '52.89.214.238, 198.51.100.9' } });
    expect(forged.status).toBe(403);
    // Where the proxy itself saw TradingView's address (the right-most entry), the alert is served.
    const sole = await post(`${d.url}/webhook`, alert(), { headers: { 'x-forwarded-for': '198.51.100.9, 52.89.214.238' } });
    expect(sole.status).toBe(202);
  });

  it('a source inside allowedSources is served', async () => {
    const d = await startWebhookDaemon({ label: 'wh-allow', config: MAIN_CONFIG.replace('webhook:\n', "server:\n  allowedSources: ['127.0.0.1', '10.0.0.0/8']\nwebhook:\n") });
    daemons.push(d);
    const answer = await post(`${d.url}/webhook`, alert());
    expect(answer.status).toBe(202);
    expect(answer.body?.signalId).toMatch(ULID);
  });
});

describe('webhook over HTTP: rate limits', () => {
  const daemons: TestDaemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop();
  });

  /** The failed-auth count is per minute: start well inside one, so the test never straddles two. */
  async function awayFromMinuteEdge(): Promise<void> {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 50));
  }

  it('429 for failed authentications past 20 a minute from one source; a correct secret from it, and other sources, are still served', async () => {
    const d = await startWebhookDaemon({
      label: 'wh-authfail',
      // Behind a proxy, the source is the X-Forwarded-For address: so one test can speak from two sources.
      config: MAIN_CONFIG.replace('  failedAuthPerMinute: 1000', '').replace('webhook:\n', 'server:\n  trustProxy: 1\nwebhook:\n'),
    });
    daemons.push(d);
    await awayFromMinuteEdge();
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 20; i++) {
      const a = await post(`${d.url}/webhook`, alert({ passphrase: `guess-${i}` }), { headers: attacker });
      expect(a.status, `attempt ${i + 1}`).toBe(401);
    }
    const limited = await post(`${d.url}/webhook`, alert({ passphrase: 'guess-20' }), { headers: attacker });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: 'rate_limited' });
    expect((await post(`${d.url}/webhook/default/guess-21`, without(alert(), 'passphrase'), { headers: attacker })).status).toBe(429);
    const other = await post(`${d.url}/webhook`, alert(), { headers: { 'x-forwarded-for': '203.0.113.8' } });
    expect(other.status).toBe(202);
    // TradingView sends every user's alerts from four shared addresses: a stranger's junk must not block real alerts.
    const genuine = await post(`${d.url}/webhook`, alert(), { headers: attacker });
    expect(genuine.status).toBe(202);
  });

  it('a flood of wrong secrets logs the first 5 of the minute and one line saying the rest are counted, not one line each', async () => {
    const d = await startWebhookDaemon({ label: 'wh-authlog' });
    daemons.push(d);
    await awayFromMinuteEdge();
    for (let i = 0; i < 100; i++) await post(`${d.url}/webhook`, alert({ passphrase: `guess-${i}` }));
    const events = d.logLines.map((line) => (JSON.parse(line) as { event?: string }).event);
    expect(events.filter((e) => e === 'webhook.unauthorized')).toHaveLength(5);
    expect(events.filter((e) => e === 'webhook.unauthorized_throttled')).toHaveLength(1);
  });

  it('60 wrong passphrases with a rotating forged X-Forwarded-For behind one proxy reach 429: the source is the proxy\'s hop', async () => {
    const d = await startWebhookDaemon({
      label: 'wh-rotate',
      config: MAIN_CONFIG.replace('  failedAuthPerMinute: 1000', '').replace('webhook:\n', 'server:\n  trustProxy: 1\nwebhook:\n'),
    });
    daemons.push(d);
    await awayFromMinuteEdge();
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      // The client forges a new left-most address each time; the proxy appends the one real address it saw.
      const headers = { 'x-forwarded-for': `10.${i}.0.1, 203.0.113.50` };
      statuses.push((await post(`${d.url}/webhook`, alert({ passphrase: `guess-${i}` }), { headers })).status);
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
  });

  it('a flood over the ceiling journals its first 429 of the minute, not one row per refusal', async () => {
    const d = await startWebhookDaemon({
      label: 'wh-flood',
      config: MAIN_CONFIG.replace('webhook:\n', 'webhook:\n  strategyRatePerSecond: 1\n  strategyBurst: 2\n'),
    });
    daemons.push(d);
    await awayFromMinuteEdge();
    const statuses = await Promise.all(Array.from({ length: 150 }, () => post(`${d.url}/webhook`, alert()).then((a) => a.status)));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(140);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const limited = (await readRefusals(d.redis, d.prefix, '0', 1000)).filter((e) => e.refusal.reason === 'rate_limited');
    expect(limited).toHaveLength(1);
    const refusedLines = d.logLines.filter((line) => line.includes('"signal.refused"') && line.includes('rate_limited'));
    expect(refusedLines).toHaveLength(1);
  });

  it('429 over the per-strategy ceiling (1 a second, bursts of 2), journalled; other strategies are not affected', async () => {
    const d = await startWebhookDaemon({
      label: 'wh-ceiling',
      config: MAIN_CONFIG.replace('webhook:\n', 'webhook:\n  strategyRatePerSecond: 1\n  strategyBurst: 2\n'),
    });
    daemons.push(d);
    const lanes = new Lanes(d.redis, d.prefix);
    const ids = [uniqueId('c1'), uniqueId('c2'), uniqueId('c3')];
    const answers = [];
    for (const id of ids) answers.push(await post(`${d.url}/webhook`, alert({ id })));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 429]);
    expect(answers[2]?.body).toEqual({ error: 'rate_limited' });
    expect(await lanes.countJobs()).toBe(2);
    expect(await refusalFor(d, ids[2] ?? '')).toMatchObject({ reason: 'rate_limited', strategy: 'default' });
    const otherStrategy = await post(`${d.url}/webhook/flex`, alert());
    expect(otherStrategy.status).toBe(202);
    // The bucket refills at its rate.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await post(`${d.url}/webhook`, alert())).status).toBe(202);
    await lanes.close();
  });
});

describe('webhook over HTTP: Redis down', () => {
  it('503 queue_unavailable, well under TradingView\'s 3 s, from a fast-fail client on a dead port', async () => {
    const dir = tempDir('tw-503');
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, MAIN_CONFIG);
    const config = await loadConfig({ file, env: { WEBHOOK_PASSPHRASE: GLOBAL_SECRET, CRYPTO_PASSPHRASE: CRYPTO_SECRET, DATABASE_PATH: join(dir.path, 'trading.db') } });
    const redis = createFastFailRedis('redis://127.0.0.1:1');
    redis.on('error', () => undefined);
    redis.connect().catch(() => undefined);
    const prefix = uniquePrefix('wh-503');
    const queue = new SignalQueue({ connection: redis, prefix, laneCount: config.queue.lanes });
    const router = createWebhookRouter({
      config: () => config, passphrase: GLOBAL_SECRET, redis, prefix, queue, logger: silent, now: () => new Date(),
    });
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [], routers: [{ path: '/webhook', router }] });
    const server: Server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/webhook`;
      for (const body of [alert(), alert({ passphrase: 'wrong' })]) {
        const answer = await post(url, body);
        expect(answer.status).toBe(503);
        expect(answer.body).toEqual({ error: 'queue_unavailable' });
        expect(answer.ms).toBeLessThan(1500);
      }
      // A refusal needs no queue: it is still answered for what it is (its journal entry is best effort).
      const invalid = await post(url, alert({ action: 'purchase' }));
      expect(invalid.status).toBe(400);
      expect(invalid.ms).toBeLessThan(1500);
      // Before Redis is asked: size and content type still get their own answers.
      expect((await post(url, 'ticker=AAPL', { contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close().catch(() => undefined);
      redis.disconnect();
      dir.cleanup();
    }
  });

  it('a running daemon whose Redis dies answers 503 quickly, then 202 again once Redis is back', async () => {
    const port = await freePort();
    const redisDir = tempDir('tw-redis');
    let child: ChildProcess | undefined = await startRedis(port, redisDir.path);
    const d = await startWebhookDaemon({ label: 'wh-redisdown', env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    try {
      expect((await post(`${d.url}/webhook`, alert())).status).toBe(202);
      await stopRedis(child);
      child = undefined;
      for (let i = 0; i < 3; i++) {
        const answer = await post(`${d.url}/webhook`, alert());
        expect(answer.status).toBe(503);
        expect(answer.body).toEqual({ error: 'queue_unavailable' });
        expect(answer.ms).toBeLessThan(1500);
      }
      child = await startRedis(port, redisDir.path);
      const deadline = Date.now() + 5000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await post(`${d.url}/webhook`, alert())).status;
        if (status === 202) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(202);
    } finally {
      await d.stop().catch(() => undefined);
      if (child) await stopRedis(child);
      redisDir.cleanup();
    }
  });
});

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createNetServer().listen(port, '127.0.0.1');
      // Listening succeeds only while nothing else holds the port.
      socket.once('listening', () => socket.close(() => resolve(false)));
      socket.once('error', () => resolve(true));
    });
    if (ok) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not start on ${port}`);
}

async function stopRedis(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
