// Redis killed and started again under a running daemon: every alert answered 202 before the kill executes after the
// restart, the webhook answers 503 at once while Redis is away and the process stays up, and the workers reconnect by
// themselves. Redis here is the test's own, on a spare port, with the append-only file on (as compose runs it).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, uniquePrefix, until } from '../helpers/env.ts';
import { writeExecutionEnv } from '../helpers/execution-stack.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TERMINAL = new Set(['executed', 'partial', 'rejected', 'failed', 'duplicate', 'stale', 'halted']);
const PASSPHRASE = 'execution-tests-passphrase';

const children = new Set<ChildProcess>();
const dirs: Array<{ cleanup(): void }> = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const d of dirs) d.cleanup();
});

async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function track(child: ChildProcess, output: string[]): Promise<void> {
  children.add(child);
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return new Promise((resolve) => child.once('exit', () => { children.delete(child); resolve(); }));
}

/** A redis-server of the test's own: append-only file in `dir`, no RDB snapshots, noeviction as BullMQ needs. */
async function startRedis(port: number, dir: string): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const output: string[] = [];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes',
    '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = track(child, output);
  await until(`redis-server on ${port}`, () => (output.join('').includes('Ready to accept connections') ? true : undefined), 10_000);
  return { child, exited };
}

interface Answer { status: number; ms: number; body: string }

async function post(url: string, body: unknown): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.text(), ms: performance.now() - started };
}

function countTerminal(databasePath: string, signalIds: string[]): number {
  const journal = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const rows = journal.prepare(`SELECT status FROM signals WHERE signal_id IN (${signalIds.map(() => '?').join(',')})`).all(...signalIds) as Array<{ status: string }>;
    return rows.filter((r) => TERMINAL.has(r.status)).length;
  } finally {
    journal.close();
  }
}

function alert(symbol: string, id: string) {
  return { passphrase: PASSPHRASE, ticker: symbol, action: 'buy', sentiment: 'long', quantity: '1', price: '100', id };
}

describe('Redis restart under a running daemon', () => {
  it('executes every alert accepted before the kill, answers 503 fast while Redis is away, and reconnects by itself', async () => {
    const dir = tempDir('tw-redis-restart');
    dirs.push(dir);
    const port = await sparePort();
    let redis = await startRedis(port, dir.path);
    const prefix = uniquePrefix('redis-restart');
    const { env, databasePath } = writeExecutionEnv(dir.path, { redisUrl: `redis://127.0.0.1:${port}`, prefix, lanes: 1, lockDurationSeconds: 2 });

    const output: string[] = [];
    const daemon = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemonExited = track(daemon, output);
    const url = await until('the daemon to listen', () => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output.join(''))?.[1], 30_000);

    // Accepted before the kill: each 202 means Redis had the job.
    // One lane: the alerts execute one after another, so most are still queued when Redis dies.
    const before = await Promise.all(Array.from({ length: 60 }, (_, i) => post(url, alert(`RR${i}`, `before-${i}`))));
    expect(before.map((a) => a.status)).toEqual(before.map(() => 202));
    const accepted = before.map((a) => (JSON.parse(a.body) as { signalId: string }).signalId);
    redis.child.kill('SIGKILL');
    await redis.exited;
    const doneAtKill = countTerminal(databasePath, accepted);
    expect(doneAtKill, 'the kill should land while alerts are still queued').toBeLessThan(accepted.length);

    // Redis away: a quick 503 each time, never a hang, and the daemon stays up.
    const during: Answer[] = [];
    for (let i = 0; i < 7; i++) during.push(await post(url, alert(`DOWN${i}`, `down-${i}`)));
    expect(during.map((a) => a.status)).toEqual(during.map(() => 503));
    expect(during.map((a) => JSON.parse(a.body) as unknown)).toEqual(during.map(() => ({ error: 'queue_unavailable' })));
    // Within 100 ms as a rule (the median); never a hang, even on a machine busy with other tests.
    const times = during.map((a) => a.ms).sort((x, y) => x - y);
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(100);
    for (const ms of times) expect(ms).toBeLessThan(1000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(daemon.exitCode).toBeNull();
    expect((await fetch(`${url}/health`)).status).toBe(200);

    redis = await startRedis(port, dir.path);
    // After the restart: intake works again without a restart of the daemon...
    const after = await until('the webhook to take alerts again', async () => {
      const answer = await post(url, alert('AFTER', 'after-1'));
      return answer.status === 202 ? answer : undefined;
    }, 15_000);
    accepted.push((JSON.parse(after.body) as { signalId: string }).signalId);

    // ...and every accepted alert ends terminal in the journal, each with exactly one entry order.
    const journal = new Database(databasePath, { readonly: true, fileMustExist: true });
    try {
      await until('every accepted alert to end', () => {
        const rows = journal.prepare(`SELECT signal_id, status FROM signals WHERE signal_id IN (${accepted.map(() => '?').join(',')})`)
          .all(...accepted) as Array<{ signal_id: string; status: string }>;
        return rows.length === accepted.length && rows.every((r) => TERMINAL.has(r.status)) ? rows : undefined;
      }, 45_000);
      const statuses = journal.prepare(`SELECT status, COUNT(*) AS n FROM signals WHERE signal_id IN (${accepted.map(() => '?').join(',')}) GROUP BY status`)
        .all(...accepted);
      expect(statuses).toEqual([{ status: 'executed', n: accepted.length }]);
      const entries = journal.prepare(`SELECT signal_id, COUNT(*) AS n FROM executed_orders WHERE leg = 'entry' GROUP BY signal_id`)
        .all() as Array<{ signal_id: string; n: number }>;
      expect(entries.filter((e) => accepted.includes(e.signal_id)).map((e) => e.n)).toEqual(accepted.map(() => 1));
      // Nothing refused while Redis was away reached the journal as accepted.
      expect(journal.prepare("SELECT COUNT(*) AS n FROM signals WHERE status = 'executed'").get()).toEqual({ n: accepted.length });
    } finally {
      journal.close();
    }
    const ledger = new Database(join(dir.path, 'data', 'paper-paper.db'), { readonly: true, fileMustExist: true });
    try {
      // At the broker: one filled entry per symbol, never two.
      const bought = ledger.prepare("SELECT symbol, COUNT(*) AS n FROM orders WHERE leg = 'entry' GROUP BY symbol").all() as Array<{ symbol: string; n: number }>;
      expect(bought).toHaveLength(accepted.length);
      for (const row of bought) expect(row.n).toBe(1);
    } finally {
      ledger.close();
    }

    daemon.kill('SIGTERM');
    await daemonExited;
    redis.child.kill('SIGTERM');
    await redis.exited;
  }, 120_000);
});
