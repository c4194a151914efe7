// The whole daemon stopped in the middle of a stream of alerts and started again, badly: a SIGTERM with orders in flight,
// then a start killed (SIGKILL) before it has listened, then one killed just after its start-up reconciliation, then a
// clean start. Every accepted alert ends terminal, each with exactly one entry at the broker, and every open position
// has its stop resting at the broker. Real Redis, real SQLite, the paper broker, the daemon as `node src/main.ts`.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';
import { writeExecutionEnv } from '../helpers/execution-stack.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TERMINAL = new Set(['executed', 'partial', 'rejected', 'failed', 'duplicate', 'stale', 'halted']);
const PASSPHRASE = 'execution-tests-passphrase';

interface Running { child: ChildProcess; output: string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

const children = new Set<ChildProcess>();
const cleanups: Array<() => void | Promise<void>> = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups) await cleanup();
});

function startDaemonProcess(env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
  });
  return { child, output, exited };
}

const listening = (daemon: Running) => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(daemon.output.join(''))?.[1];

function statuses(databasePath: string, signalIds: string[]): string[] {
  const journal = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const rows = journal.prepare(`SELECT status FROM signals WHERE signal_id IN (${signalIds.map(() => '?').join(',')})`).all(...signalIds) as Array<{ status: string }>;
    return rows.map((r) => r.status);
  } finally {
    journal.close();
  }
}

describe('the whole daemon restarted mid-flight', () => {
  it('loses and duplicates nothing across a SIGTERM with orders in flight and SIGKILLs during the next starts', async () => {
    const dir = tempDir('tw-daemon-restart');
    const prefix = uniquePrefix('daemon-restart');
    cleanups.push(() => dir.cleanup(), () => dropRedisPrefix(prefix));
    const { env, databasePath } = writeExecutionEnv(dir.path, { redisUrl: REDIS_URL, prefix, lanes: 4, lockDurationSeconds: 2 });

    const first = startDaemonProcess(env);
    const url = await until('the first daemon to listen', () => listening(first), 30_000);
    const sent = await Promise.all(Array.from({ length: 80 }, async (_, i) => {
      const response = await fetch(`${url}/webhook`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ passphrase: PASSPHRASE, ticker: `DR${i}`, action: 'buy', sentiment: 'long', quantity: '2', price: '50', id: `dr-${i}` }),
      });
      return { status: response.status, body: await response.json() as { signalId: string } };
    }));
    expect(sent.map((s) => s.status)).toEqual(sent.map(() => 202));
    const accepted = sent.map((s) => s.body.signalId);

    // SIGTERM while the lanes are busy: in-flight jobs finish, the rest stay queued in Redis.
    await until('some alerts to execute', () => (statuses(databasePath, accepted).filter((s) => TERMINAL.has(s)).length >= 4 ? true : undefined), 20_000);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    const doneAtStop = statuses(databasePath, accepted).filter((s) => TERMINAL.has(s)).length;
    expect(doneAtStop, 'the stop should land while alerts are still queued').toBeLessThan(accepted.length);

    // A start killed before it listens, and one killed right after its start-up reconciliation.
    const second = startDaemonProcess(env);
    await until('the second start to say anything', () => (second.output.length > 0 ? true : undefined), 30_000);
    second.child.kill('SIGKILL');
    await second.exited;
    const third = startDaemonProcess(env);
    await until('the third start to reconcile', () => (third.output.join('').includes('reconcile.start_done') ? true : undefined), 30_000);
    third.child.kill('SIGKILL');
    await third.exited;

    const last = startDaemonProcess(env);
    await until('the last daemon to listen', () => listening(last), 30_000);
    await until('every accepted alert to end', () => {
      const now = statuses(databasePath, accepted);
      return now.length === accepted.length && now.every((s) => TERMINAL.has(s)) ? true : undefined;
    }, 60_000);
    expect(statuses(databasePath, accepted).every((s) => s === 'executed')).toBe(true);

    const ledger = new Database(join(dir.path, 'data', 'paper-paper.db'), { readonly: true, fileMustExist: true });
    const journal = new Database(databasePath, { readonly: true, fileMustExist: true });
    try {
      // One entry per alert at the broker, never two.
      const entries = ledger.prepare("SELECT symbol, COUNT(*) AS n FROM orders WHERE leg = 'entry' GROUP BY symbol").all() as Array<{ symbol: string; n: number }>;
      expect(entries).toHaveLength(accepted.length);
      expect(entries.filter((e) => e.n !== 1)).toEqual([]);
      expect(journal.prepare("SELECT COUNT(*) AS n FROM executed_orders WHERE leg = 'entry'").get()).toEqual({ n: accepted.length });
      // Every position the broker holds is tradewire's, open in the journal, and has a stop resting for all of it.
      const held = ledger.prepare('SELECT symbol, quantity FROM positions').all() as Array<{ symbol: string; quantity: string }>;
      expect(held).toHaveLength(accepted.length);
      const open = journal.prepare("SELECT symbol, quantity FROM positions WHERE status = 'open'").all() as Array<{ symbol: string; quantity: string }>;
      expect(new Map(open.map((p) => [p.symbol, p.quantity]))).toEqual(new Map(held.map((p) => [p.symbol, p.quantity])));
      const unprotected = held.filter((p) => ledger.prepare(
        "SELECT 1 FROM orders WHERE symbol = ? AND leg = 'stop' AND status IN ('accepted', 'open', 'new', 'held') AND quantity = ?").get(p.symbol, p.quantity) === undefined);
      expect(unprotected).toEqual([]);
    } finally {
      ledger.close();
      journal.close();
    }

    last.child.kill('SIGTERM');
    expect(await last.exited).toEqual({ code: 0, signal: null });
  }, 180_000);
});
