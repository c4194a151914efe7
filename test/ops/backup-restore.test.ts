// Backups and restore as the README tells them: `tradewire backup` while the daemon runs, the copy put in a new data
// folder, a daemon started on it, and `tradewire trades` there shows the same trades.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';

const repo = new URL('../..', import.meta.url).pathname;
const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });
const TOKEN = 'restore-admin-token-1';
const PASSPHRASE = 'restore-passphrase-1';

/** The CLI as a child process; asynchronous, because the daemon it may call runs in this test's own event loop. */
async function tradewire(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['scripts/tradewire.js', ...args], { cwd: repo, env: { ...process.env, ...env }, timeout: 30_000 });
    return { status: 0, out: stdout, err: stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { status: failed.code ?? -1, out: failed.stdout ?? '', err: failed.stderr ?? '' };
  }
}

describe('backup and restore', () => {
  const dir = tempDir('tw-restore');
  const prefixes = [uniquePrefix('restore-a'), uniquePrefix('restore-b')];
  afterAll(async () => {
    for (const prefix of prefixes) await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  it('a backup taken with `tradewire backup`, restored into a new data folder, starts and shows the same trades', async () => {
    const config = join(dir.path, 'tradewire.yaml');
    writeFileSync(config, `backup: { dir: ${JSON.stringify(join(dir.path, 'backups'))} }\naccounts:\n  paper: { broker: paper }\n`
      + 'strategies:\n  default:\n    subscriptions: [{ account: paper }]\n');
    const original = join(dir.path, 'data', 'trading.db');
    const env = (database: string, prefix: string) => ({ CONFIG_FILE: config, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
      DATABASE_PATH: database, WEBHOOK_PASSPHRASE: PASSPHRASE, ADMIN_TOKEN: TOKEN });

    const daemon = await startDaemon(env(original, prefixes[0]!), silent);
    let backupFile: string;
    try {
      const send = async (alert: Record<string, string>) => {
        const answer = await fetch(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ passphrase: PASSPHRASE, ...alert }) });
        expect(answer.status).toBe(202);
      };
      const journal = new Database(original, { readonly: true });
      const closed = () => (journal.prepare('SELECT COUNT(*) AS n FROM closed_positions').get() as { n: number }).n;
      try {
        for (const [n, ticker] of ['AAPL', 'MSFT'].entries()) {
          await send({ ticker, action: 'buy', sentiment: 'long', price: '100', id: `restore-open-${ticker}` });
          await send({ ticker, action: 'sell', sentiment: 'flat', price: '110', id: `restore-close-${ticker}` });
          await until(`${ticker}'s trade to close`, () => (closed() === n + 1 ? true : undefined), 15_000);
        }
      } finally {
        journal.close();
      }
      const backup = await tradewire(['backup', '--url', daemon.url], { ADMIN_TOKEN: TOKEN });
      expect(backup.err).toBe('');
      expect(backup.status).toBe(0);
      backupFile = /^Backup written to (.+)$/m.exec(backup.out)?.[1] ?? '';
      expect(backupFile).toMatch(/trading-\d{4}-\d{2}-\d{2}\.db$/);
    } finally {
      await daemon.stop();
    }

    const before = await tradewire(['trades', '--db', original, '--json']);
    expect(before.status).toBe(0);
    const { trades } = JSON.parse(before.out) as { trades: Array<{ symbol: string }> };
    expect(trades.map((t) => t.symbol).sort()).toEqual(['AAPL', 'MSFT']);

    // The restore: the backup file becomes the journal of a new data folder (no -wal or -shm beside it).
    const restored = join(dir.path, 'restored', 'trading.db');
    mkdirSync(join(dir.path, 'restored'), { mode: 0o700 });
    copyFileSync(backupFile, restored);
    const again = await startDaemon(env(restored, prefixes[1]!), silent);
    try {
      const ready = await fetch(`${again.url}/ready`);
      expect(ready.status).toBe(200);
      const after = await tradewire(['trades', '--db', restored, '--json']);
      expect(after.status).toBe(0);
      expect((JSON.parse(after.out) as { trades: unknown }).trades).toEqual(trades);
      expect((await tradewire(['trades', '--db', restored])).out).toBe((await tradewire(['trades', '--db', original])).out);
    } finally {
      await again.stop();
    }
  }, 90_000);
});
