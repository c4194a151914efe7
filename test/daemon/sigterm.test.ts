// SIGTERM to the daemon process: it stops its loop, jobs and workers, closes the journal cleanly and exits 0.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

describe('the daemon process on SIGTERM', () => {
  const dir = tempDir('tw-sigterm');
  const prefix = uniquePrefix('sigterm');
  afterAll(async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}-*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    dir.cleanup();
  });

  it.each([
    ['npm start (scripts/start.js, the bundle)', ['--max-semi-space-size=1', 'scripts/start.js'], 'start'],
    ['src/main.ts through tsx', ['--import', 'tsx', 'src/main.ts'], 'main'],
    ['tradewire start --role all', ['scripts/tradewire.js', 'start', '--role', 'all'], 'bin'],
  ])('%s: stops in order after its work is done, exits 0, and leaves a sound journal with the position still protected', async (_name, args, label) => {
    const file = join(dir.path, `${label}.yaml`);
    writeFileSync(file, 'positions: { loopIntervalMs: 100 }\naccounts:\n  paper: { broker: paper }\nstrategies:\n  default:\n    subscriptions: [{ account: paper }]\n');
    const databasePath = join(dir.path, `${label}.db`);
    const child = spawn(process.execPath, args, {
      env: { ...process.env, CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: `${prefix}-${label}`, DATABASE_PATH: databasePath,
        WEBHOOK_PASSPHRASE: 'sigterm-passphrase-1', ADMIN_TOKEN: 'sigterm-token-1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: Array<Record<string, unknown>> = [];
    let buffered = '';
    let started: (url: string) => void = () => undefined;
    const url = new Promise<string>((resolve) => { started = resolve; });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const event = JSON.parse(line) as Record<string, unknown>;
        events.push(event);
        if (event.event === 'daemon.started') started(String(event.url));
      }
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const base = await url;
    const sent = await fetch(`${base}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: 'sigterm-passphrase-1', ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'term-1' }) });
    expect(sent.status).toBe(202);
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.event === 'position.opened') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // A few ticks of the loop with the position in its book.
    await new Promise((r) => setTimeout(r, 300));

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const names = events.map((e) => e.event);
    expect(names.indexOf('daemon.stopping')).toBeGreaterThan(names.indexOf('position.opened'));
    expect(names.at(-1)).toBe('daemon.stopped');
    expect(events.filter((e) => Number(e.level) >= 50)).toEqual([]);

    const journal = new Database(databasePath, { readonly: true });
    try {
      expect(journal.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(journal.prepare("SELECT symbol, status FROM positions WHERE status <> 'closed'").all()).toEqual([{ symbol: 'AAPL', status: 'open' }]);
      expect(journal.prepare("SELECT leg, status FROM executed_orders WHERE leg IN ('stop', 'target') ORDER BY leg").all())
        .toEqual([{ leg: 'stop', status: 'accepted' }, { leg: 'target', status: 'accepted' }]);
    } finally {
      journal.close();
    }
  }, 30_000);
});
