// Signals for the same account and symbol execute strictly in arrival order; other symbols run in parallel.
// Real Redis (a prefix of this run's own), real SQLite, the real lane workers of two execution roles in one process,
// and a paper broker whose order calls take 5–40 ms. A control runs the same signals through one naive queue with a
// worker of concurrency 4 and shows that this scenario does catch reordering.
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecutionRole, type ExecutionRole } from '../../src/execution/worker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { laneFor } from '../../src/queue/lanes.ts';
import { createWorkerRedis, deletePrefixedKeys } from '../../src/queue/redis.ts';
import { SignalQueue, type ExecutionJobData } from '../../src/queue/signal-queue.ts';
import { openDatabase, type SqliteDatabase } from '../../src/store/db.ts';
import type { Config } from '../../src/config/schema.ts';
import { REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';
import {
  buildExecutor, dedupeFor, jobFor, loadTestConfig, paperOptionsFor, registryOf, SlowPaperBroker, writeExecutionEnv, type ExecutionStack,
} from '../helpers/execution-stack.ts';

const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });
const LANES = 4;
const SYMBOLS = ['AAA', 'BBB'] as const;
const PER_SYMBOL = 10;
const TERMINAL = new Set(['executed', 'partial', 'rejected', 'failed', 'duplicate', 'stale', 'halted']);

type SymbolName = (typeof SYMBOLS)[number];

interface Arrival {
  symbol: SymbolName;
  index: number;
  action: 'buy' | 'sell';
  job: ExecutionJobData;
}

interface Run {
  role: string;
  signalId: string;
  symbol: string;
  start: number;
  end: number;
}

/** 10 alternating buy-long / sell-flat for each symbol, interleaved AAA, BBB, AAA, ... in arrival order; each its own id. */
function arrivals(config: Config, tag: string): Arrival[] {
  const out: Arrival[] = [];
  for (let index = 0; index < PER_SYMBOL; index++) {
    for (const symbol of SYMBOLS) {
      const action = index % 2 === 0 ? 'buy' : 'sell';
      const body = action === 'buy'
        ? { ticker: symbol, action, sentiment: 'long', quantity: 10, price: 100 + index, id: `${tag}-${symbol}-${index}` }
        : { ticker: symbol, action, sentiment: 'flat', price: 100 + index, id: `${tag}-${symbol}-${index}` };
      out.push({ symbol, index, action, job: jobFor(config, body) });
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitForSignals(db: SqliteDatabase, ids: string[], timeoutMs: number): Promise<Map<string, { status: string; reason: string | null }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = db.prepare(`SELECT signal_id, status, reason FROM signals WHERE signal_id IN (${ids.map(() => '?').join(',')})`).all(...ids) as
      Array<{ signal_id: string; status: string; reason: string | null }>;
    const byId = new Map(rows.map((r) => [r.signal_id, { status: r.status, reason: r.reason }]));
    if (ids.every((id) => TERMINAL.has(byId.get(id)?.status ?? ''))) return byId;
    if (Date.now() > deadline) {
      throw new Error(`signals not settled after ${timeoutMs} ms: ${JSON.stringify(ids.map((id) => byId.get(id)?.status ?? 'absent'))}`);
    }
    await sleep(50);
  }
}

const deleteKeys = deletePrefixedKeys;

/** Records when each job ran and on which role, around the real Executor.execute. */
function trace(stack: ExecutionStack, role: string, runs: Run[]): void {
  const original = stack.executor.execute.bind(stack.executor);
  stack.executor.execute = async (job) => {
    const start = performance.now();
    try {
      return await original(job);
    } finally {
      runs.push({ role, signalId: job.signalId, symbol: job.symbol, start, end: performance.now() });
    }
  };
}

interface OrderRow { id: number; signal_id: string; symbol: string; leg: string; side: string; status: string }

/** What the journal must show for one symbol when its signals ran in arrival order: entry, stop, target, then the exit. */
function expectedOrders(list: Arrival[]): Array<{ signalId: string; leg: string; side: string }> {
  return list.flatMap((a) => a.action === 'buy'
    ? [{ signalId: a.job.signalId, leg: 'entry', side: 'buy' }, { signalId: a.job.signalId, leg: 'stop', side: 'sell' }, { signalId: a.job.signalId, leg: 'target', side: 'sell' }]
    : [{ signalId: a.job.signalId, leg: 'exit', side: 'sell' }]);
}

describe('execution order', () => {
  const dirs: Array<{ cleanup(): void }> = [];
  const redisClients: Redis[] = [];
  const prefixes: string[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeAll(() => {
    // The two symbols must sit in different lanes for this test to say anything about parallelism.
    expect(laneFor('paper', 'AAA', LANES)).not.toBe(laneFor('paper', 'BBB', LANES));
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    const admin = createWorkerRedis(REDIS_URL);
    for (const prefix of prefixes) await deleteKeys(admin, prefix);
    admin.disconnect();
    for (const r of redisClients) r.disconnect();
    for (const d of dirs) d.cleanup();
  });

  async function setup(label: string, extra?: string): Promise<{ config: Config; db: SqliteDatabase; prefix: string; databasePath: string }> {
    const dir = tempDir(`tw-order-${label}`);
    dirs.push(dir);
    const prefix = uniquePrefix(`order-${label}`);
    prefixes.push(prefix);
    const env = writeExecutionEnv(dir.path, { redisUrl: REDIS_URL, prefix, lanes: LANES, lockDurationSeconds: 5, ...(extra === undefined ? {} : { extra }) });
    const config = await loadTestConfig(env.env);
    const db = openDatabase(env.databasePath);
    closers.push(async () => { db.close(); });
    return { config, db, prefix, databasePath: env.databasePath };
  }

  it('per account and symbol in arrival order across two worker roles, the two symbols in parallel', { timeout: 30_000 }, async () => {
    const { config, db, prefix, databasePath } = await setup('lanes');
    // One venue, slow: each order call takes 5–40 ms.
    const brokers = await registryOf({ paper: new SlowPaperBroker(paperOptionsFor(config, 'paper')) });
    closers.push(() => brokers.disconnectAll());

    // Two execution roles, as two worker processes would be: each its own journal connection, executor and lane workers.
    const runs: Run[] = [];
    const roles: ExecutionRole[] = [];
    for (const role of ['role-1', 'role-2']) {
      const roleDb = openDatabase(databasePath);
      closers.push(async () => { roleDb.close(); });
      const stack = buildExecutor({ config, db: roleDb, brokers, logger: silent, owner: `${role}-${process.pid}` });
      trace(stack, role, runs);
      const redis = createWorkerRedis(REDIS_URL);
      redisClients.push(redis);
      const execution = await startExecutionRole({
        redisUrl: REDIS_URL, redis, prefix, laneCount: LANES, lockDurationMs: config.queue.lockDurationSeconds * 1000,
        executor: stack.executor, signals: stack.signals, logger: silent,
      });
      closers.push(() => execution.close());
      roles.push(execution);
    }
    for (const role of roles) role.run();

    const queueRedis = createWorkerRedis(REDIS_URL);
    redisClients.push(queueRedis);
    const queue = new SignalQueue({ connection: queueRedis, prefix, laneCount: LANES });
    closers.push(() => queue.close());

    const list = arrivals(config, 'lanes');
    const started = performance.now();
    // Arrival order is enqueue order. Bursts (0–20 ms apart) queue signals up behind a running one; every fourth
    // arrival a pause longer than a job lets the lanes run dry, and then the other role's blocked worker wins the
    // next job (a worker that finishes with a backlog fetches the next job itself, so without pauses one role does all).
    for (const [n, arrival] of list.entries()) {
      expect(await queue.enqueue([arrival.job], dedupeFor(arrival.job))).toEqual({ status: 'queued', signalId: arrival.job.signalId });
      await sleep(n % 4 === 3 ? 250 : Math.floor(Math.random() * 20));
    }
    const statuses = await waitForSignals(db, list.map((a) => a.job.signalId), 25_000);
    const elapsed = performance.now() - started;

    // Every signal executed: under reordering a sell-flat before its buy is `rejected: no_op`, a second buy `no_op` too.
    for (const arrival of list) {
      expect({ symbol: arrival.symbol, index: arrival.index, ...statuses.get(arrival.job.signalId) })
        .toEqual({ symbol: arrival.symbol, index: arrival.index, status: 'executed', reason: null });
    }

    const orders = db.prepare('SELECT id, signal_id, symbol, leg, side, status FROM executed_orders ORDER BY id').all() as OrderRow[];
    for (const symbol of SYMBOLS) {
      const mine = list.filter((a) => a.symbol === symbol);
      // The journal's order rows for the symbol, in the order they were written, are exactly arrival order.
      expect(orders.filter((o) => o.symbol === symbol).map((o) => ({ signalId: o.signal_id, leg: o.leg, side: o.side }))).toEqual(expectedOrders(mine));

      // The symbol's jobs started in arrival order and never overlapped: one at a time, across both roles.
      const symbolRuns = runs.filter((r) => r.symbol === symbol).sort((a, b) => a.start - b.start);
      expect(symbolRuns.map((r) => r.signalId)).toEqual(mine.map((a) => a.job.signalId));
      for (let i = 1; i < symbolRuns.length; i++) {
        expect(symbolRuns[i]!.start).toBeGreaterThanOrEqual(symbolRuns[i - 1]!.end);
      }
    }
    // Each job ran once (a re-delivery would show as a second run).
    expect(runs).toHaveLength(list.length);

    // Parallelism: the two symbols' jobs overlapped in time, and their orders interleave in the journal.
    const aaa = runs.filter((r) => r.symbol === 'AAA');
    const bbb = runs.filter((r) => r.symbol === 'BBB');
    const overlaps = aaa.filter((a) => bbb.some((b) => a.start < b.end && b.start < a.end)).length;
    expect(overlaps).toBeGreaterThan(0);
    const bbbIds = orders.filter((o) => o.symbol === 'BBB').map((o) => o.id);
    const interleaved = orders.filter((o) => o.symbol === 'AAA').some((o) => bbbIds.some((b) => b < o.id) && bbbIds.some((b) => b > o.id));
    expect(interleaved).toBe(true);

    // Both roles took jobs of each symbol: the order held across workers, not because one worker did everything.
    const byRole = new Map<string, number>();
    for (const r of runs) byRole.set(r.role, (byRole.get(r.role) ?? 0) + 1);
    for (const symbol of SYMBOLS) {
      expect({ symbol, roles: [...new Set(runs.filter((r) => r.symbol === symbol).map((r) => r.role))].sort() }).toEqual({ symbol, roles: ['role-1', 'role-2'] });
    }

    // The books agree: every position opened was closed, nothing rests at the broker.
    expect(db.prepare("SELECT COUNT(*) AS n FROM positions WHERE status <> 'closed'").get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT symbol, COUNT(*) AS n FROM closed_positions GROUP BY symbol ORDER BY symbol').all())
      .toEqual([{ symbol: 'AAA', n: PER_SYMBOL / 2 }, { symbol: 'BBB', n: PER_SYMBOL / 2 }]);
    expect(await brokers.get('paper').openOrders()).toEqual([]);

    // For the report: how the work spread and how long it took.
    const perLane = SYMBOLS.map((symbol) => `${symbol} ${runs.filter((r) => r.symbol === symbol).map((r) => r.role.slice(-1)).join('')}`).join(', ');
    process.stdout.write(`ordering: ${list.length} signals in ${Math.round(elapsed)} ms; jobs per role ${JSON.stringify(Object.fromEntries(byRole))} (${perLane}); ` +
      `AAA runs overlapping a BBB run: ${overlaps}/${aaa.length}\n`);
  });

  it('control: the same signals through one naive queue with a worker of concurrency 4 are reordered', { timeout: 30_000 }, async () => {
    // Racing jobs wait on each other's closes (a reversal's wait, an exit's fill): bounded at 2 s here so every job ends.
    const { config, db, prefix } = await setup('naive', 'execution:\n  reversalTimeoutSeconds: 2\n');
    // The first signal of each symbol (a buy) is the slow one: its entry takes 150 ms, so the sell behind it overtakes.
    const brokers = await registryOf({
      paper: new SlowPaperBroker(paperOptionsFor(config, 'paper'), (request) => (request?.leg === 'entry' ? 150 : 5 + Math.floor(Math.random() * 36))),
    });
    closers.push(() => brokers.disconnectAll());
    const stack = buildExecutor({ config, db, brokers, logger: silent, owner: `naive-${process.pid}` });

    const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
    const queue = new Queue<ExecutionJobData>('naive-exec', { connection, prefix });
    closers.push(() => queue.close());
    const worker = new Worker<ExecutionJobData>('naive-exec', async (job) => stack.executor.execute(job.data), {
      connection, prefix, concurrency: 4, autorun: false, lockDuration: 5000,
    });
    closers.push(() => worker.close());

    const list = arrivals(config, 'naive');
    for (const arrival of list) await queue.add('execute', arrival.job, { jobId: `${arrival.job.signalId}.paper` });
    void worker.run();
    const statuses = await waitForSignals(db, list.map((a) => a.job.signalId), 25_000);

    const outcomes = list.map((a) => statuses.get(a.job.signalId));
    const noOps = outcomes.filter((o) => o?.status === 'rejected' && o.reason?.startsWith('no_op')).length;
    const notExecuted = outcomes.filter((o) => o?.status !== 'executed').length;
    const orders = db.prepare('SELECT id, signal_id, symbol, leg, side, status FROM executed_orders ORDER BY id').all() as OrderRow[];
    const inOrder = SYMBOLS.every((symbol) => JSON.stringify(orders.filter((o) => o.symbol === symbol).map((o) => ({ signalId: o.signal_id, leg: o.leg, side: o.side })))
      === JSON.stringify(expectedOrders(list.filter((a) => a.symbol === symbol))));
    process.stdout.write(`ordering control: ${notExecuted}/${list.length} signals not executed (${noOps} no_op) under naive concurrency 4\n`);
    // What the lanes test asserts fails here: some signal is refused as no_op, and the journal is not in arrival order.
    expect(noOps).toBeGreaterThan(0);
    expect(inOrder).toBe(false);
  });
});
