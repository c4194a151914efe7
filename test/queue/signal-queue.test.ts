// The signal queue's cost on the request path: how many round trips to Redis an enqueue makes, watched with MONITOR.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { laneFor, laneQueueName } from '../../src/queue/lanes.ts';
import { createFastFailRedis, createWorkerRedis } from '../../src/queue/redis.ts';
import { SignalQueue, type ExecutionJobData } from '../../src/queue/signal-queue.ts';
import { dropRedisPrefix, REDIS_URL, uniquePrefix, until } from '../helpers/env.ts';

const LANES = 16;
const prefix = uniquePrefix('signal-queue');
let connection: Redis;
let queue: SignalQueue;
let monitor: Redis;
/** Commands Redis received from the queue's own connection (MONITOR names each client by address and port). */
const seen: string[] = [];

function job(signalId: string, account: string, accounts: string[]): ExecutionJobData {
  return { signalId, account, accounts, strategy: 'default', symbol: 'AAPL', alert: { action: 'buy', ticker: 'AAPL' }, rawPayload: '{"ticker":"AAPL"}',
    ignored: [], contentHash: `hash-${signalId}`, receivedAt: '2026-12-05T08:00:00.000Z' };
}

/** The commands one call sends, in order: once MONITOR has reported `least`, a further 150 ms for any more to show. */
async function commandsOf(call: () => Promise<unknown>, least: number): Promise<string[]> {
  // MONITOR reports late: mark where this call starts with a command of the connection's own and wait to see it.
  const marker = `mark-${seen.length}-${Math.random()}`;
  await connection.echo(marker);
  await until('the marker on MONITOR', () => (seen.includes(`echo ${marker}`) ? true : undefined), 5000);
  const start = seen.indexOf(`echo ${marker}`) + 1;
  await call();
  await until(`${least} commands on MONITOR`, () => (seen.length - start >= least ? true : undefined), 5000);
  await new Promise((r) => setTimeout(r, 150));
  return seen.slice(start);
}

beforeAll(async () => {
  connection = createFastFailRedis(REDIS_URL);
  await connection.connect();
  queue = new SignalQueue({ connection, prefix, laneCount: LANES });
  // BullMQ loads its scripts and checks the server once per connection: not part of any one alert's cost.
  await queue.enqueue([job('warm-1', 'paper', ['paper'])], { key: 'warm-1', ttlMs: 60_000 });
  await queue.enqueue([job('warm-2', 'paper', ['paper', 'paper2']), job('warm-2', 'paper2', ['paper', 'paper2'])], { key: 'warm-2', ttlMs: 60_000 });
  const port = (connection as unknown as { stream: { localPort: number } }).stream.localPort;
  monitor = new Redis(REDIS_URL);
  const feed = await monitor.monitor();
  feed.on('monitor', (_time: string, args: string[], source: string) => { if (source.endsWith(`:${port}`)) seen.push(String(args[0]).toLowerCase() === 'echo' ? `echo ${String(args[1])}` : String(args[0]).toLowerCase()); });
  await new Promise((r) => setTimeout(r, 200));
});

afterAll(async () => {
  monitor.disconnect();
  await queue.close();
  connection.disconnect();
  await dropRedisPrefix(prefix);
});

describe('signal queue round trips', () => {
  it('queues a one-account alert with one command (dedupe and add in one BullMQ script), as a job its lane holds', async () => {
    const commands = await commandsOf(() => queue.enqueue([job('one-1', 'paper', ['paper'])], { key: 'one', ttlMs: 60_000 }), 1);
    expect(commands).toEqual(['evalsha']);
    const reader = createWorkerRedis(REDIS_URL);
    const lane = new Queue<ExecutionJobData>(laneQueueName(laneFor('paper', 'AAPL', LANES)), { connection: reader, prefix });
    try {
      const queued = await lane.getJob('one-1.paper');
      expect(queued?.data).toMatchObject({ signalId: 'one-1', account: 'paper', symbol: 'AAPL' });
      expect(await queued?.getState()).toBe('waiting');
    } finally {
      await lane.close();
      reader.disconnect();
    }
  });

  it('answers a repeat with one command and the first signal\'s id', async () => {
    await queue.enqueue([job('rep-1', 'paper', ['paper'])], { key: 'rep', ttlMs: 60_000 });
    let result: unknown;
    const commands = await commandsOf(async () => { result = await queue.enqueue([job('rep-2', 'paper', ['paper'])], { key: 'rep', ttlMs: 60_000 }); }, 1);
    expect(commands).toEqual(['evalsha']);
    expect(result).toEqual({ status: 'duplicate', signalId: 'rep-1' });
  });

  it('fans an alert out to two accounts: one read of their dedupe keys, then one transaction (MULTI, a script per account, EXEC)', async () => {
    const accounts = ['paper', 'paper2'];
    const commands = await commandsOf(() => queue.enqueue(accounts.map((a) => job('fan-1', a, accounts)), { key: 'fan', ttlMs: 60_000 }), 5);
    expect(commands).toEqual(['mget', 'multi', 'evalsha', 'evalsha', 'exec']);
  });

  it('a repeat after a reload added an account is a duplicate for every account: nothing is queued for the new one', async () => {
    await queue.enqueue([job('grow-1', 'paper', ['paper'])], { key: 'grow', ttlMs: 60_000 });
    const accounts = ['paper', 'paper3'];
    const result = await queue.enqueue(accounts.map((a) => job('grow-2', a, accounts)), { key: 'grow', ttlMs: 60_000 });
    expect(result).toEqual({ status: 'duplicate', signalId: 'grow-1' });
    const reader = createWorkerRedis(REDIS_URL);
    const lane = new Queue<ExecutionJobData>(laneQueueName(laneFor('paper3', 'AAPL', LANES)), { connection: reader, prefix });
    try {
      expect(await lane.getJob('grow-2.paper3')).toBeUndefined();
    } finally {
      await lane.close();
      reader.disconnect();
    }
  });

  it('a repeat of a fan-out whose strategy dropped to one account is still a duplicate', async () => {
    const accounts = ['paper', 'paper4'];
    await queue.enqueue(accounts.map((a) => job('shrink-1', a, accounts)), { key: 'shrink', ttlMs: 60_000 });
    expect(await queue.enqueue([job('shrink-2', 'paper4', ['paper4'])], { key: 'shrink', ttlMs: 60_000 })).toEqual({ status: 'duplicate', signalId: 'shrink-1' });
  });
});
