// `npm start` leaves no daemon behind: SIGTERM to npm's own pid reaches the daemon, its port closes and no process remains.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';

const repo = new URL('../..', import.meta.url).pathname;

/** Every process whose parent chain leads to `root` (root included), read from ps. */
function descendants(root: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of rows) if (found.has(ppid) && !found.has(pid)) { found.add(pid); grew = true; }
  }
  return [...found].filter((pid) => rows.some(([p]) => p === pid));
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const portAnswers = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1');
  socket.once('connect', () => { socket.destroy(); resolve(true); });
  socket.once('error', () => resolve(false));
});

describe('npm start', () => {
  const dir = tempDir('tw-npm-start');
  const prefix = uniquePrefix('npmstart');
  afterAll(async () => { await dropRedisPrefix(prefix); dir.cleanup(); });

  it('SIGTERM to the npm process stops the daemon: the port closes and no process of the tree remains', async () => {
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, 'accounts:\n  paper: { broker: paper }\nstrategies:\n  default:\n    subscriptions: [{ account: paper }]\n');
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: repo,
      env: { ...process.env, CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
        DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: 'npm-start-passphrase-1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    npm.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const exited = new Promise<void>((resolve) => npm.on('exit', () => resolve()));
    const url = await until('the daemon to listen', () => /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1], 20_000);
    const port = Number(new URL(url).port);
    expect(await portAnswers(port)).toBe(true);
    const tree = descendants(npm.pid!);
    expect(tree.length).toBeGreaterThan(1);

    process.kill(npm.pid!, 'SIGTERM');
    await exited;
    await until('every process of the tree to end', () => (tree.some(alive) ? undefined : true), 20_000);
    expect(await portAnswers(port)).toBe(false);
    expect(output).toContain('"event":"daemon.stopped"');
  }, 45_000);
});
