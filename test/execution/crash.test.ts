// A worker killed (SIGKILL) in the middle of an entry and started again: the signal never places two entries, and the
// journal ends consistent with the broker. Each case runs two processes of test/fixtures/crash-worker.ts one after the
// other against real Redis and SQLite: the first dies at its crash point, the second (no hook) takes the job up again
// once BullMQ's stall check hands it back (lockDurationSeconds 2) and the dead worker's execution lease has lapsed.
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkerRedis, deletePrefixedKeys } from '../../src/queue/redis.ts';
import { SignalQueue } from '../../src/queue/signal-queue.ts';
import { REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';
import { fixtureProcesses, within, type FixtureProcess } from '../helpers/fixture-process.ts';
import { dedupeFor, jobFor, loadTestConfig, writeExecutionEnv } from '../helpers/execution-stack.ts';

const FIXTURE = 'test/fixtures/crash-worker.ts';
const TERMINAL = new Set(['executed', 'partial', 'rejected', 'failed', 'duplicate', 'stale', 'halted']);
// The dead worker's execution lease (30 s in the executor) must lapse before the second worker may go on.
const CASE_TIMEOUT_MS = 90_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const workers = fixtureProcesses(FIXTURE);
const dirs: Array<{ cleanup(): void }> = [];
const prefixes: string[] = [];
const clients: Redis[] = [];

afterAll(async () => {
  workers.killAll();
  const admin = createWorkerRedis(REDIS_URL);
  for (const prefix of prefixes) await deletePrefixedKeys(admin, prefix);
  admin.disconnect();
  for (const c of clients) c.disconnect();
  for (const d of dirs) d.cleanup();
});

function startWorker(env: NodeJS.ProcessEnv, crashAt?: string): FixtureProcess {
  return workers.start({ ...env, CRASH_AT: crashAt ?? '' });
}


async function signalSettled(databasePath: string, signalId: string, timeoutMs: number, output: string[]): Promise<{ status: string; reason: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const db = new Database(databasePath, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(signalId) as { status: string; reason: string | null } | undefined;
      if (row && TERMINAL.has(row.status)) return row;
    } finally {
      db.close();
    }
    if (Date.now() > deadline) throw new Error(`signal ${signalId} not settled within ${timeoutMs} ms; worker output:\n${output.join('')}`);
    await sleep(200);
  }
}

type CrashPoint = 'entry-intent' | 'entry-accepted' | 'before-protection';

interface CrashState {
  journal: Array<{ leg: string; status: string }>;
  positions: number;
  broker: Array<{ leg: string; status: string }>;
}

/** Where each crash leaves things: proof that the process died where the case says, before the restart. */
const EXPECTED_AT_CRASH: Record<CrashPoint, CrashState> = {
  // The intent is committed, the broker has never heard of the order.
  'entry-intent': { journal: [{ leg: 'entry', status: 'pending_submit' }], positions: 0, broker: [] },
  // The broker has the entry (a market order fills at once); the journal still says pending_submit.
  'entry-accepted': { journal: [{ leg: 'entry', status: 'pending_submit' }], positions: 0, broker: [{ leg: 'entry', status: 'filled' }] },
  // The fill is booked and the position open, with no stop or target anywhere.
  'before-protection': { journal: [{ leg: 'entry', status: 'filled' }], positions: 1, broker: [{ leg: 'entry', status: 'filled' }] },
};

function stateAtCrash(databasePath: string, ledgerPath: string, signalId: string): CrashState {
  const journal = new Database(databasePath, { readonly: true });
  const ledger = new Database(ledgerPath, { readonly: true });
  try {
    return {
      journal: journal.prepare('SELECT leg, status FROM executed_orders WHERE signal_id = ? ORDER BY id').all(signalId) as CrashState['journal'],
      positions: (journal.prepare("SELECT COUNT(*) AS n FROM positions WHERE status = 'open'").get() as { n: number }).n,
      broker: ledger.prepare('SELECT leg, status FROM orders ORDER BY seq').all() as CrashState['broker'],
    };
  } finally {
    journal.close();
    ledger.close();
  }
}

interface Outcome {
  signalId: string;
  databasePath: string;
  ledgerPath: string;
  settled: { status: string; reason: string | null };
  crashedAfterMs: number;
  recoveredAfterMs: number;
}

/** One buy signal, a worker that dies at `crashAt`, a fresh worker that finishes the job; returns where to look. */
async function crashAndRecover(crashAt: CrashPoint): Promise<Outcome> {
  const dir = tempDir(`tw-crash-${crashAt}`);
  dirs.push(dir);
  const prefix = uniquePrefix(`crash-${crashAt}`);
  prefixes.push(prefix);
  const env = writeExecutionEnv(dir.path, { redisUrl: REDIS_URL, prefix, lanes: 4, lockDurationSeconds: 2 });
  const config = await loadTestConfig(env.env);

  const redis = createWorkerRedis(REDIS_URL);
  clients.push(redis);
  const queue = new SignalQueue({ connection: redis, prefix, laneCount: config.queue.lanes });
  const job = jobFor(config, { ticker: 'CRSH', action: 'buy', sentiment: 'long', quantity: 10, price: 100, id: `crash-${crashAt}` });
  expect(await queue.enqueue([job], dedupeFor(job))).toEqual({ status: 'queued', signalId: job.signalId });
  await queue.close();

  const started = Date.now();
  const first = startWorker(env.env, crashAt);
  const death = await within(first.exited, 30_000, `the ${crashAt} crash`, first.output);
  expect({ death, said: first.output.join('') }).toMatchObject({ death: { signal: 'SIGKILL' }, said: expect.stringContaining(`crashing at ${crashAt}`) });
  const crashedAfterMs = Date.now() - started;
  expect(stateAtCrash(env.databasePath, env.ledgerPath, job.signalId)).toEqual(EXPECTED_AT_CRASH[crashAt]);

  const second = startWorker(env.env);
  try {
    const settled = await signalSettled(env.databasePath, job.signalId, 70_000, second.output);
    const recoveredAfterMs = Date.now() - started - crashedAfterMs;
    return { signalId: job.signalId, databasePath: env.databasePath, ledgerPath: env.ledgerPath, settled, crashedAfterMs, recoveredAfterMs };
  } finally {
    second.child.kill('SIGTERM');
    const stopped = await within(second.exited, 15_000, 'a clean stop on SIGTERM', second.output);
    expect(stopped).toEqual({ code: 0, signal: null });
  }
}

interface JournalOrderRow { id: number; client_order_id: string; leg: string; side: string; type: string; status: string; quantity: string; filled_quantity: string; position_id: string | null }

/** Exactly one entry at the broker, protected by one stop and one target; the journal says the same, step by step. */
function expectOneProtectedEntry(outcome: Outcome): void {
  const journal = new Database(outcome.databasePath, { readonly: true });
  const ledger = new Database(outcome.ledgerPath, { readonly: true });
  try {
    expect(outcome.settled).toEqual({ status: 'executed', reason: null });
    const orders = journal.prepare('SELECT * FROM executed_orders WHERE signal_id = ? ORDER BY id').all(outcome.signalId) as JournalOrderRow[];
    const entry = orders.find((o) => o.leg === 'entry');
    expect(orders.map((o) => ({ leg: o.leg, side: o.side, status: o.status, quantity: o.quantity }))).toEqual([
      { leg: 'entry', side: 'buy', status: 'filled', quantity: '10' },
      { leg: 'stop', side: 'sell', status: 'accepted', quantity: '10' },
      { leg: 'target', side: 'sell', status: 'accepted', quantity: '10' },
    ]);
    if (!entry) throw new Error('no entry journalled');
    expect(entry.filled_quantity).toBe('10');

    // The paper venue saw one entry for the signal's client id, and one stop and one target.
    const atBroker = ledger.prepare('SELECT client_order_id, leg, side, status, quantity, filled_quantity FROM orders ORDER BY seq').all() as
      Array<{ client_order_id: string; leg: string; side: string; status: string; quantity: string; filled_quantity: string }>;
    expect(atBroker.filter((o) => o.client_order_id === entry.client_order_id)).toHaveLength(1);
    expect(atBroker.map((o) => ({ clientOrderId: o.client_order_id, leg: o.leg, status: o.status }))).toEqual(
      orders.map((o) => ({ clientOrderId: o.client_order_id, leg: o.leg, status: o.status })),
    );
    expect(atBroker.filter((o) => o.leg === 'entry')).toHaveLength(1);
    expect(ledger.prepare('SELECT symbol, quantity FROM positions').all()).toEqual([{ symbol: 'CRSH', quantity: '10' }]);
    expect(ledger.prepare('SELECT COUNT(*) AS n FROM fills').get()).toEqual({ n: 1 });

    // The entry's events are one unbroken chain from the intent to the fill; one fill recorded.
    const events = journal.prepare('SELECT from_status, to_status FROM order_events WHERE order_id = ? ORDER BY id').all(entry.id) as
      Array<{ from_status: string | null; to_status: string }>;
    expect(events[0]).toEqual({ from_status: null, to_status: 'pending_submit' });
    expect(events.at(-1)?.to_status).toBe('filled');
    for (let i = 1; i < events.length; i++) expect(events[i]?.from_status).toBe(events[i - 1]?.to_status);
    expect(journal.prepare('SELECT COUNT(*) AS n, SUM(CAST(quantity AS REAL)) AS q FROM fills WHERE order_id = ?').get(entry.id)).toEqual({ n: 1, q: 10 });

    // One open long of 10, opened by this signal, its stop and target on it; the execution done and its lease released.
    const positions = journal.prepare('SELECT id, side, quantity, status, stop_price, target_price, signal_id FROM positions').all() as
      Array<{ id: string; side: string; quantity: string; status: string; stop_price: string | null; target_price: string | null; signal_id: string }>;
    expect(positions).toEqual([{ id: entry.position_id, side: 'long', quantity: '10', status: 'open', stop_price: '98', target_price: '104', signal_id: outcome.signalId }]);
    expect(orders.every((o) => o.position_id === entry.position_id)).toBe(true);
    expect(journal.prepare('SELECT status, reason, lease_owner FROM executions WHERE signal_id = ?').all(outcome.signalId))
      .toEqual([{ status: 'executed', reason: null, lease_owner: null }]);
  } finally {
    journal.close();
    ledger.close();
  }
}

describe('a worker killed in the middle of an entry', () => {
  it.concurrent('right after the entry intent is written: on restart the order is looked up, placed once, protected', { timeout: CASE_TIMEOUT_MS }, async () => {
    const outcome = await crashAndRecover('entry-intent');
    process.stdout.write(`crash entry-intent: died after ${outcome.crashedAfterMs} ms, settled ${outcome.recoveredAfterMs} ms later (${outcome.settled.status})\n`);
    expectOneProtectedEntry(outcome);
  });

  it.concurrent('right after the broker accepted the entry: on restart it is found by client id, not placed again', { timeout: CASE_TIMEOUT_MS }, async () => {
    const outcome = await crashAndRecover('entry-accepted');
    process.stdout.write(`crash entry-accepted: died after ${outcome.crashedAfterMs} ms, settled ${outcome.recoveredAfterMs} ms later (${outcome.settled.status})\n`);
    expectOneProtectedEntry(outcome);
  });

  it.concurrent('after the entry filled, before its protection was placed: on restart the position ends protected', { timeout: CASE_TIMEOUT_MS }, async () => {
    const outcome = await crashAndRecover('before-protection');
    process.stdout.write(`crash before-protection: died after ${outcome.crashedAfterMs} ms, settled ${outcome.recoveredAfterMs} ms later (${outcome.settled.status}: ${outcome.settled.reason ?? ''})\n`);
    expectOneProtectedEntry(outcome);
  });
});
