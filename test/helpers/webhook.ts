// Test helpers for the webhook over real HTTP: a daemon on a random port with its own config, prefix and captured logs,
// plain requests, and a look into the lane queues and keys in Redis.
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { startDaemon, type Role } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { laneQueueName } from '../../src/queue/lanes.ts';
import { deletePrefixedKeys, keysWithPrefix } from '../../src/queue/redis.ts';
import type { ExecutionJobData } from '../../src/queue/signal-queue.ts';
import { REDIS_URL, tempDir, uniquePrefix } from './env.ts';

export const GLOBAL_SECRET = 'global-Secret-7f3a9c21e4b8';
export const CRYPTO_SECRET = 'crypto-Secret-1d5e8b02c9f7';

/**
 * The config most webhook tests run on: `default` (global secret), `crypto` (its own secret, a symbol map,
 * fanning out to two paper accounts) and `flex` (global secret, account override allowed).
 */
export const MAIN_CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
  failedAuthPerMinute: 1000   # the 401 tests of one file share 127.0.0.1; the limit has its own test and daemon
accounts:
  paper: { broker: paper }
  paper2: { broker: paper }
strategies:
  default:
    account: paper
  crypto:
    passphrase: \${CRYPTO_PASSPHRASE}
    subscriptions:
      - account: paper
      - account: paper2
    symbols:
      "BINANCE:BTCUSDT.P": BTCUSDT
    allowShorts: true
  flex:
    account: paper
    allowAccountOverride: true
`;

export interface TestDaemon {
  url: string;
  prefix: string;
  /** The daemon's files (config, journal, paper ledgers). */
  dir: string;
  /** A client of the test's own on the daemon's Redis. */
  redis: Redis;
  /** Every JSON line the daemon logged, at level trace. */
  logLines: string[];
  lanes: number;
  /** Stops the daemon only: its keys and files stay to be looked at. */
  halt(): Promise<void>;
  /** Stops the daemon if it runs, deletes its keys and its files. */
  stop(): Promise<void>;
}

export interface DaemonOptions {
  label: string;
  config?: string;
  env?: Record<string, string>;
  lanes?: number;
  /** 'api' (the default here): the webhook alone, so jobs stay queued and refusals stay in their stream to be looked at. */
  role?: Role;
}

/** Starts the daemon in-process on a random port, with `config` as its file and the test secrets in its environment. */
export async function startWebhookDaemon(options: DaemonOptions): Promise<TestDaemon> {
  const dir = tempDir(`tw-${options.label}`);
  const prefix = uniquePrefix(options.label);
  const configFile = join(dir.path, 'tradewire.yaml');
  writeFileSync(configFile, options.config ?? MAIN_CONFIG);
  const logLines: string[] = [];
  const logger = createLogger({ level: 'trace', destination: { write: (line: string) => { logLines.push(line); } } });
  const daemon = await startDaemon({
    CONFIG_FILE: configFile, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: GLOBAL_SECRET, CRYPTO_PASSPHRASE: CRYPTO_SECRET,
    ...options.env,
  }, logger, options.role ?? 'api');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let stopped = false;
  return {
    url: daemon.url, prefix, dir: dir.path, redis, logLines, lanes: options.lanes ?? 16,
    halt: () => daemon.stop(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await daemon.stop();
      await deleteKeys(redis, prefix);
      await redis.quit();
      dir.cleanup();
    },
  };
}

/** Deletes every key under `${prefix}:`. */
export const deleteKeys = deletePrefixedKeys;

export const keysUnder = keysWithPrefix;

/** Every value stored under the prefix, as text: strings, hashes, lists, sets, sorted sets and streams. */
export async function dumpValues(redis: Redis, prefix: string): Promise<Array<{ key: string; text: string }>> {
  const out: Array<{ key: string; text: string }> = [];
  for (const key of await keysUnder(redis, prefix)) {
    const type = await redis.type(key);
    let parts: Array<string | Buffer>;
    if (type === 'string') parts = [await redis.getBuffer(key) ?? Buffer.alloc(0)];
    else if (type === 'hash') parts = Object.entries(await redis.hgetallBuffer(key)).flatMap(([k, v]) => [k, v]);
    else if (type === 'list') parts = await redis.lrangeBuffer(key, 0, -1);
    else if (type === 'set') parts = await redis.smembersBuffer(key);
    else if (type === 'zset') parts = await redis.zrangeBuffer(key, '0', '-1', 'WITHSCORES');
    else if (type === 'stream') parts = (await redis.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]);
    else throw new Error(`unexpected Redis type ${type} at ${key}`);
    out.push({ key, text: [key, ...parts.map((p) => (Buffer.isBuffer(p) ? p.toString('latin1') : p))].join('\n') });
  }
  return out;
}

/** The lane queues of a prefix, for counting and reading execution jobs. */
export class Lanes {
  private readonly queues: Queue[];

  constructor(redis: Redis, prefix: string, count = 16) {
    this.queues = Array.from({ length: count }, (_, lane) => new Queue(laneQueueName(lane), { connection: redis, prefix }));
  }

  /** Jobs in every state, across every lane. */
  async countJobs(): Promise<number> {
    const counts = await Promise.all(this.queues.map((q) => q.getJobCounts()));
    return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
  }

  /** Jobs not finished yet (waiting, delayed, active), across every lane. */
  async unfinished(): Promise<number> {
    const counts = await Promise.all(this.queues.map((q) => q.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'waiting-children')));
    return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
  }

  /** The job with this id, wherever its lane, with the lane it is in. */
  async findJob(jobId: string): Promise<{ lane: number; job: Job<ExecutionJobData> } | undefined> {
    for (const [lane, queue] of this.queues.entries()) {
      const job = await queue.getJob(jobId) as Job<ExecutionJobData> | undefined;
      if (job) return { lane, job };
    }
    return undefined;
  }

  async close(): Promise<void> {
    // The connection is the test's own and shared: closing a queue leaves it open.
    await Promise.all(this.queues.map((q) => q.close()));
  }
}

export interface Answer {
  status: number;
  body: Record<string, unknown> | undefined;
  text: string;
  ms: number;
}

export interface PostOptions {
  contentType?: string;
  headers?: Record<string, string>;
}

/** POSTs a body (an object is sent as JSON text; a string or Buffer as it is) and reads the answer. */
export async function post(url: string, body: unknown, options: PostOptions = {}): Promise<Answer> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': options.contentType ?? 'application/json', ...options.headers },
    body: typeof payload === 'string' ? payload : new Uint8Array(payload),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text, ms };
}

/** `sha256=<hex HMAC of the raw body>`, as a client that can set headers signs it. */
export function signature(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

export const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

let counter = 0;
/** An alert id no other request of the run shares. */
export function uniqueId(label = 'a'): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Every file under a directory, recursively. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

export function fileContains(path: string, needle: string): boolean {
  return readFileSync(path).includes(Buffer.from(needle));
}
