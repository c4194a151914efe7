// Secrets never leak: alerts authenticated every way (and failing every way) leave no secret in any log line,
// any Redis value under the daemon's prefix (jobs, dedupe keys, the refusals stream) or any file the daemon wrote.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRefusals } from '../../src/intake/refusals.ts';
import {
  CRYPTO_SECRET, dumpValues, fileContains, filesUnder, GLOBAL_SECRET, Lanes, post, signature, startWebhookDaemon, uniqueId,
  type TestDaemon,
} from '../helpers/webhook.ts';

/** Wrong guesses: not the secret, but what a user typed as one is not to be kept either. */
const WRONG_GUESS = 'wrongGuess-9b7d41e06f2a';
const WRONG_TOKEN = 'wrongToken-c3e85a17d2b4';

describe('webhook secrets never leak', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    // The whole daemon: its workers execute the jobs and journal the refusals into SQLite, whose bytes are checked too.
    d = await startWebhookDaemon({ label: 'wh-secrets', role: 'all' });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('no secret in a log line, a Redis value, or the bytes of a file the daemon wrote', async () => {
    const hook = (path = '') => `${d.url}/webhook${path}`;
    const entry = (extra: Record<string, unknown> = {}) => ({ ticker: 'NASDAQ:AAPL', action: 'buy', price: '101.25', id: uniqueId('s'), ...extra });
    const crypto = (extra: Record<string, unknown> = {}) => ({ ticker: 'BINANCE:BTCUSDT.P', action: 'buy', id: uniqueId('s'), ...extra });
    const expected: Array<[string, number, () => Promise<{ status: number }>]> = [];
    const send = (label: string, status: number, call: () => Promise<{ status: number }>) => { expected.push([label, status, call]); };

    const signedDefault = JSON.stringify(entry());
    const signedCrypto = JSON.stringify(crypto({ strategy: 'crypto' }));
    const repeated = entry({ passphrase: GLOBAL_SECRET });
    // Accepted, each way.
    send('body passphrase', 202, () => post(hook(), entry({ passphrase: GLOBAL_SECRET })));
    send('URL token', 202, () => post(hook(`/default/${GLOBAL_SECRET}`), entry()));
    send('URL token, own secret', 202, () => post(hook(`/crypto/${CRYPTO_SECRET}`), crypto()));
    send('body, own secret', 202, () => post(hook(), crypto({ strategy: 'crypto', passphrase: CRYPTO_SECRET })));
    send('HMAC', 202, () => post(hook(), signedDefault, { headers: { 'x-tradewire-signature': signature(GLOBAL_SECRET, signedDefault) } }));
    send('HMAC, own secret', 202, () => post(hook(), signedCrypto, { headers: { 'x-tradewire-signature': signature(CRYPTO_SECRET, signedCrypto) } }));
    send('text/plain with passphrase', 202, () => post(hook(), JSON.stringify(entry({ passphrase: GLOBAL_SECRET })), { contentType: 'text/plain' }));
    send('first of a duplicate', 202, () => post(hook(), repeated));
    send('duplicate', 200, () => post(hook(), repeated));
    // Refused after authentication: journalled, so the payload goes to Redis, without the secret.
    send('invalid', 400, () => post(hook(), entry({ passphrase: GLOBAL_SECRET, action: 'purchase', quantity: 'lots' })));
    send('unsupported', 400, () => post(hook(), entry({ passphrase: GLOBAL_SECRET, optionType: 'put' })));
    send('stale', 422, () => post(hook(), entry({ passphrase: GLOBAL_SECRET, time: new Date(Date.now() - 3_600_000).toISOString() })));
    send('unknown strategy', 404, () => post(hook('/nosuch'), entry({ passphrase: GLOBAL_SECRET })));
    send('unknown strategy by token', 404, () => post(hook(`/nosuch/${GLOBAL_SECRET}`), entry()));
    send('misspelt Passphrase field', 400, () => post(hook(`/default/${GLOBAL_SECRET}`), entry({ Passphrase: GLOBAL_SECRET })));
    send('misspelt passphrse field', 400, () => post(hook(`/crypto/${CRYPTO_SECRET}`), crypto({ passphrse: CRYPTO_SECRET })));
    send('broken JSON around the secret, token auth', 400,
      () => post(hook(`/default/${GLOBAL_SECRET}`), `{"passphrase":"${GLOBAL_SECRET}","ticker":"AAPL" "action":"buy"}`));
    send('broken text/plain around the secret, token auth', 400,
      () => post(hook(`/default/${GLOBAL_SECRET}`), `passphrase=${GLOBAL_SECRET} buy AAPL`, { contentType: 'text/plain' }));
    send('path/body strategy conflict', 400, () => post(hook(`/default/${GLOBAL_SECRET}`), entry({ strategy: 'crypto', passphrase: CRYPTO_SECRET })));
    // Failed authentication, each way.
    send('wrong body passphrase', 401, () => post(hook(), entry({ passphrase: WRONG_GUESS })));
    send('wrong token', 401, () => post(hook(`/default/${WRONG_TOKEN}`), entry()));
    send('global secret on crypto', 401, () => post(hook(), crypto({ strategy: 'crypto', passphrase: GLOBAL_SECRET })));
    send('global token on crypto', 401, () => post(hook(`/crypto/${GLOBAL_SECRET}`), crypto()));
    send('crypto secret on default', 401, () => post(hook(), entry({ passphrase: CRYPTO_SECRET })));
    send('HMAC with the wrong key', 401, () => post(hook(), signedDefault, { headers: { 'x-tradewire-signature': signature(WRONG_GUESS, signedDefault) } }));
    send('secret as the signature', 401, () => post(hook(), signedDefault, { headers: { 'x-tradewire-signature': GLOBAL_SECRET } }));
    send('unknown strategy, wrong secret', 401, () => post(hook('/nosuch'), entry({ passphrase: WRONG_GUESS })));
    // Before authentication.
    send('too large', 413, () => post(hook(), JSON.stringify(entry({ passphrase: GLOBAL_SECRET, extras: { pad: 'p'.repeat(70_000) } }))));
    send('wrong content type', 415, () => post(hook(), JSON.stringify(entry({ passphrase: GLOBAL_SECRET })), { contentType: 'application/xml' }));

    for (const [label, status, call] of expected) expect((await call()).status, label).toBe(status);

    // Everything lands: the workers run the 11 jobs (8 alerts, 3 of them fanned out to two accounts), and the drain
    // moves the 11 refusals after authentication (10 refused + 1 duplicate) from their stream into the journal.
    const lanes = new Lanes(d.redis, d.prefix);
    const midway = await dumpValues(d.redis, d.prefix);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await lanes.unfinished()) > 0 || (await readRefusals(d.redis, d.prefix, '0', 1000)).length > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await lanes.countJobs()).toBe(11);
    expect(await lanes.unfinished()).toBe(0);
    await lanes.close();
    const settled = await dumpValues(d.redis, d.prefix);
    // The jobs really are in what was dumped, so the absence of secrets there means something.
    expect(settled.some((v) => v.text.includes('"rawPayload"') && v.text.includes('101.25'))).toBe(true);

    await d.halt();
    const db = new Database(join(d.dir, 'trading.db'), { readonly: true });
    const rows = db.prepare('SELECT status, reason, payload FROM signals').all() as Array<{ status: string; reason: string | null; payload: string }>;
    db.close();
    const refused = rows.filter((r) => r.reason !== null && /^(invalid|unsupported|stale|unknown_strategy|duplicate)\b/.test(r.reason));
    expect(refused).toHaveLength(11);
    expect(refused.some((r) => r.payload.includes('optionType'))).toBe(true);
    expect(rows.some((r) => r.payload.includes('"Passphrase"') || r.payload.includes('"passphrse"'))).toBe(false);

    const files = filesUnder(d.dir);
    expect(files.some((f) => f.endsWith('trading.db'))).toBe(true);
    expect(d.logLines.length).toBeGreaterThan(20);
    expect(d.logLines.some((line) => line.includes('signal.refused'))).toBe(true);
    expect(d.logLines.some((line) => line.includes('webhook.unauthorized'))).toBe(true);

    for (const secret of [GLOBAL_SECRET, CRYPTO_SECRET, WRONG_GUESS, WRONG_TOKEN]) {
      expect(d.logLines.filter((line) => line.includes(secret)), `log lines with ${secret}`).toEqual([]);
      for (const values of [midway, settled]) {
        expect(values.filter((v) => v.text.includes(secret)).map((v) => v.key), `Redis values with ${secret}`).toEqual([]);
      }
      // The config file holds ${...} references only; every other file is the daemon's.
      expect(files.filter((f) => fileContains(f, secret)), `files with ${secret}`).toEqual([]);
    }
  });
});
