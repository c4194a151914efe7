// Exactly-once placement under a process kill and under a power loss. The journal commits with synchronous = NORMAL and
// fsyncs (shared, batched) only before a broker call, so a power loss can drop every commit after the last fsync. Each
// case runs test/fixtures/power-loss-worker.ts against real Redis and SQLite: the first process dies at its point; for a
// power loss the journal's files are then replaced by the copy taken at the journal's last fsync (the unsynced tail of
// the -wal is gone, the -shm rebuilt), as a machine that lost power would find them. The paper ledger plays the venue:
// it made its answer durable before answering, so it keeps the order. A second process (no hook) takes the job up again.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkerRedis, deletePrefixedKeys } from '../../src/queue/redis.ts';
import { SignalQueue } from '../../src/queue/signal-queue.ts';
import { REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';
import { dedupeFor, jobFor, loadTestConfig, writeExecutionEnv } from '../helpers/execution-stack.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = 'test/fixtures/power-loss-worker.ts';
const TERMINAL = new Set(['executed', 'partial', 'rejected', 'failed', 'duplicate', 'stale', 'halted']);
const CASE_TIMEOUT_MS = 90_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Point = 'intent-durable' | 'entry-booked';

interface Worker { child: ChildProcess; output: string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

const children = new Set<ChildProcess>();
const dirs: Array<{ cleanup(): void }> = [];
const prefixes: string[] = [];

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }
  const admin = createWorkerRedis(REDIS_URL);
  for (const prefix of prefixes) await deletePrefixedKeys(admin, prefix);
  admin.disconnect();
  for (const d of dirs) d.cleanup();
});

function startWorker(env: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv = {}): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { cwd: ROOT, env: { ...process.env, ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, output, exited };
}

async function within<T>(promise: Promise<T>, ms: number, what: string, output: string[]): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms; worker output:\n${output.join('')}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function read<T>(path: string, query: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return query(db);
  } finally {
    db.close();
  }
}

async function settled(databasePath: string, signalId: string, output: string[]): Promise<{ status: string; reason: string | null }> {
  const deadline = Date.now() + 70_000;
  for (;;) {
    const row = read(databasePath, (db) => db.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(signalId)) as { status: string; reason: string | null } | undefined;
    if (row && TERMINAL.has(row.status)) return row;
    if (Date.now() > deadline) throw new Error(`signal ${signalId} not settled in time; worker output:\n${output.join('')}`);
    await sleep(200);
  }
}

/** What a power loss leaves: the journal as of its last fsync; the -shm (a cache SQLite rebuilds from the -wal) gone. */
function losePower(databasePath: string, snapshotDir: string): void {
  for (const suffix of ['', '-wal']) {
    const copy = join(snapshotDir, `trading.db${suffix}`);
    if (existsSync(copy)) copyFileSync(copy, `${databasePath}${suffix}`);
    else rmSync(`${databasePath}${suffix}`, { force: true });
  }
  rmSync(`${databasePath}-shm`, { force: true });
}

interface Outcome { signalId: string; databasePath: string; ledgerPath: string; settled: { status: string; reason: string | null }; lostTail: string[] }

async function dieAndRecover(point: Point, powerLoss: boolean): Promise<Outcome> {
  const dir = tempDir(`tw-power-${point}`);
  dirs.push(dir);
  const prefix = uniquePrefix(`power-${point}`);
  prefixes.push(prefix);
  const env = writeExecutionEnv(dir.path, { redisUrl: REDIS_URL, prefix, lanes: 2, lockDurationSeconds: 2 });
  const config = await loadTestConfig(env.env);
  const snapshotDir = join(dir.path, 'disk-at-last-fsync');
  mkdirSync(snapshotDir);

  const redis = createWorkerRedis(REDIS_URL);
  const queue = new SignalQueue({ connection: redis, prefix, laneCount: config.queue.lanes });
  const job = jobFor(config, { ticker: 'PWR', action: 'buy', sentiment: 'long', quantity: 10, price: 100, id: `power-${point}-${powerLoss}` });
  expect(await queue.enqueue([job], dedupeFor(job))).toEqual({ status: 'queued', signalId: job.signalId });
  await queue.close();
  redis.disconnect();

  const first = startWorker(env.env, { POWER_LOSS_AT: point, SNAPSHOT_DIR: powerLoss ? snapshotDir : '' });
  const death = await within(first.exited, 30_000, `death at ${point}`, first.output);
  expect({ death, said: first.output.join('') }).toMatchObject({ death: { signal: 'SIGKILL' }, said: expect.stringContaining(`dying at ${point}`) });

  const before = read(env.databasePath, (db) => db.prepare('SELECT leg, status FROM executed_orders ORDER BY id').all()) as Array<{ leg: string; status: string }>;
  let lostTail: string[] = [];
  if (powerLoss) {
    losePower(env.databasePath, snapshotDir);
    const after = read(env.databasePath, (db) => db.prepare('SELECT leg, status FROM executed_orders ORDER BY id').all()) as Array<{ leg: string; status: string }>;
    lostTail = before.filter((o, i) => after[i]?.status !== o.status).map((o) => `${o.leg}:${o.status}`);
    // Whatever the power loss took, the entry's intent was on disk before the broker heard of the order.
    expect(after[0]).toEqual({ leg: 'entry', status: 'pending_submit' });
  }

  const second = startWorker(env.env);
  try {
    return { signalId: job.signalId, databasePath: env.databasePath, ledgerPath: env.ledgerPath, settled: await settled(env.databasePath, job.signalId, second.output), lostTail };
  } finally {
    second.child.kill('SIGTERM');
    expect(await within(second.exited, 15_000, 'a clean stop on SIGTERM', second.output)).toEqual({ code: 0, signal: null });
  }
}

/** The alert ended executed; the venue holds one entry for it, and its position rests protected by one stop and one target. */
function expectOneProtectedEntry(outcome: Outcome): void {
  expect(outcome.settled).toEqual({ status: 'executed', reason: null });
  const atBroker = read(outcome.ledgerPath, (db) => db.prepare('SELECT client_order_id, leg, status FROM orders ORDER BY seq').all()) as
    Array<{ client_order_id: string; leg: string; status: string }>;
  expect(atBroker.map((o) => `${o.leg}:${o.status}`)).toEqual(['entry:filled', 'stop:accepted', 'target:accepted']);
  expect(read(outcome.ledgerPath, (db) => db.prepare('SELECT symbol, quantity FROM positions').all())).toEqual([{ symbol: 'PWR', quantity: '10' }]);

  const journal = read(outcome.databasePath, (db) => ({
    orders: db.prepare('SELECT client_order_id, leg, status, position_id FROM executed_orders WHERE signal_id = ? ORDER BY id').all(outcome.signalId) as
      Array<{ client_order_id: string; leg: string; status: string; position_id: string | null }>,
    positions: db.prepare("SELECT id, quantity, stop_price, target_price FROM positions WHERE status = 'open'").all() as
      Array<{ id: string; quantity: string; stop_price: string | null; target_price: string | null }>,
    fills: (db.prepare('SELECT COUNT(*) AS n FROM fills').get() as { n: number }).n,
  }));
  // The journal and the venue agree order by order, under the same client ids.
  expect(journal.orders.map((o) => ({ id: o.client_order_id, leg: o.leg, status: o.status })))
    .toEqual(atBroker.map((o) => ({ id: o.client_order_id, leg: o.leg, status: o.status })));
  expect(journal.fills).toBe(1);
  // No position without protection: the one open position carries its stop and target, and both rest at the venue for it.
  expect(journal.positions).toEqual([{ id: expect.any(String), quantity: '10', stop_price: '98', target_price: '104' }]);
  const protective = journal.orders.filter((o) => (o.leg === 'stop' || o.leg === 'target') && o.status === 'accepted');
  expect(protective.map((o) => o.position_id)).toEqual([journal.positions[0]?.id, journal.positions[0]?.id]);
}

describe('exactly-once placement across a kill and a power loss', () => {
  it.concurrent('killed after the entry intent is on disk, before the broker call: the restart places it once and protects it', { timeout: CASE_TIMEOUT_MS }, async () => {
    const outcome = await dieAndRecover('intent-durable', false);
    expectOneProtectedEntry(outcome);
  });

  it.concurrent('power lost after the broker filled the entry: the journal loses its unsynced tail, the restart finds the order by id, places no second', { timeout: CASE_TIMEOUT_MS }, async () => {
    const outcome = await dieAndRecover('entry-booked', true);
    // The simulation did drop commits: the fill and the position the first process had journalled after its last fsync.
    expect(outcome.lostTail).toContain('entry:filled');
    expectOneProtectedEntry(outcome);
  });

  it.concurrent('power lost right after the intent\'s fsync: the restart still finds nothing at the broker and places the entry once', { timeout: CASE_TIMEOUT_MS }, async () => {
    const outcome = await dieAndRecover('intent-durable', true);
    expectOneProtectedEntry(outcome);
  });
});
