// The signal queue: atomic fan-out of one alert into one execution job per account, deduplicated in the same step.
import { FlowProducer, Queue, Worker, type Job, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { executionJobId, laneFor, laneQueueName } from './lanes.ts';

/** What an execution job carries: JSON only (decimals as strings), everything the executor needs. */
export interface ExecutionJobData {
  signalId: string;
  account: string;
  /** Every account this signal fans out to, so the last execution to finish can settle the signal's state. */
  accounts: string[];
  strategy: string;
  symbol: string;
  /** The parsed alert in JSON form (see intake/alert-json.ts). */
  alert: Record<string, unknown>;
  /** The payload as received, secret removed, numbers as their text: what the journal keeps. */
  rawPayload: string;
  ignored: string[];
  contentHash: string;
  receivedAt: string;
}

/** Redis cannot take the job now: the webhook answers 503 queue_unavailable. */
export class QueueUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUnavailableError';
  }
}

const ENQUEUE_DEADLINE_MS = 2000;
/** Connection states in which Redis is known to be unreachable right now. */
const DOWN: ReadonlySet<string> = new Set(['reconnecting', 'close', 'end']);

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueUnavailableError(`Redis did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export type EnqueueResult = { status: 'queued'; signalId: string } | { status: 'duplicate'; signalId: string };

export interface SignalQueueOptions {
  connection: Redis;
  prefix: string;
  laneCount: number;
}

/** Jobs stay in Redis a while after they finish: long enough to look at, bounded so Redis does not grow. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 50_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600 };

export class SignalQueue {
  private readonly flows: FlowProducer;
  private readonly lanes = new Map<string, Queue<ExecutionJobData>>();

  constructor(private readonly options: SignalQueueOptions) {
    this.flows = new FlowProducer({ connection: options.connection, prefix: options.prefix });
    // A failed command surfaces as a rejected add (a quick 503), not as an unhandled error event.
    this.flows.on('error', () => undefined);
  }

  /**
   * Adds one job per account in a single MULTI, each deduplicated under `dedupeKey` for `dedupeTtlMs`.
   * Either every account's job is in Redis when this resolves, or none is. A repeat of an alert finds the
   * first one's jobs holding the dedupe keys: BullMQ then hands back their ids, and so the first signal's id.
   */
  async enqueue(jobs: ExecutionJobData[], dedupe: { key: string; ttlMs: number }): Promise<EnqueueResult> {
    const first = jobs[0];
    if (!first) throw new Error('a signal fans out to at least one account');
    const optsFor = (data: ExecutionJobData) => ({
      jobId: executionJobId(data.signalId, data.account),
      deduplication: { id: `${dedupe.key}.${data.account}`, ttl: dedupe.ttlMs },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    });
    // BullMQ waits for a connection to become ready; the webhook must answer at once instead (TradingView gives up after 3 s).
    if (DOWN.has(this.options.connection.status)) throw new QueueUnavailableError(`Redis connection is ${this.options.connection.status}`);
    return withDeadline(this.add(jobs, optsFor), ENQUEUE_DEADLINE_MS);
  }

  private async add(jobs: ExecutionJobData[], optsFor: (data: ExecutionJobData) => JobsOptions): Promise<EnqueueResult> {
    const first = jobs[0] as ExecutionJobData;
    let got: string | undefined;
    if (jobs.length === 1) {
      // One account (the usual case): one script call, atomic on its own.
      got = (await this.lane(first).add('execute', first, optsFor(first))).id;
    } else {
      // A repeat must be a repeat for every account, or for none. The accounts a strategy fans out to can change
      // between an alert and its repeat (a config reload adds one): BullMQ's per-account dedupe would then queue the
      // new account's job while the answer says `duplicate`. So a fan-out first reads every account's dedupe key and
      // adds nothing if any is held. (Two identical fan-outs racing past this read still resolve whole: Redis runs
      // each MULTI below at once, so the second finds every key the first set.)
      const earlier = await this.options.connection.mget(...jobs.map((data) => this.dedupeKeyOf(data, optsFor(data))));
      const held = earlier.find((id): id is string => id !== null);
      if (held !== undefined) return { status: 'duplicate', signalId: held.slice(0, held.indexOf('.')) };
      const nodes = await this.flows.addBulk(jobs.map((data) => ({
        name: 'execute', queueName: laneQueueName(laneFor(data.account, data.symbol, this.options.laneCount)), data, opts: optsFor(data),
      })));
      got = nodes[0]?.job.id;
    }
    const ours = executionJobId(first.signalId, first.account);
    if (got === ours) return { status: 'queued', signalId: first.signalId };
    // A deduplicated job id is `<originalSignalId>.<account>`.
    return { status: 'duplicate', signalId: got === undefined ? first.signalId : got.slice(0, got.indexOf('.')) };
  }

  /** The Redis key under which BullMQ keeps a job's deduplication id (`<prefix>:<queue>:de:<id>`), holding the job id that took it. */
  private dedupeKeyOf(data: ExecutionJobData, opts: JobsOptions): string {
    return `${this.lane(data).keys.de}:${opts.deduplication?.id ?? ''}`;
  }

  private lane(data: ExecutionJobData): Queue<ExecutionJobData> {
    const name = laneQueueName(laneFor(data.account, data.symbol, this.options.laneCount));
    let queue = this.lanes.get(name);
    if (!queue) {
      queue = new Queue<ExecutionJobData>(name, { connection: this.options.connection, prefix: this.options.prefix });
      queue.on('error', () => undefined);
      this.lanes.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), ...[...this.lanes.values()].map((q) => q.close())]);
  }
}

export interface LaneWorkersOptions {
  connection: ConnectionOptions;
  prefix: string;
  laneCount: number;
  /** How long a job's lock lives without renewal: a crashed worker's job comes back after about this long. */
  lockDurationMs: number;
  process: (job: Job<ExecutionJobData>) => Promise<unknown>;
}

/**
 * One worker per lane. Each lane queue has a global concurrency of 1, which holds across processes
 * (a worker's own `concurrency` would not), so a lane is a strict FIFO wherever its workers run.
 */
export async function startLaneWorkers(options: LaneWorkersOptions): Promise<{ workers: Worker[]; close(): Promise<void> }> {
  const workers: Worker[] = [];
  for (let lane = 0; lane < options.laneCount; lane++) {
    const name = laneQueueName(lane);
    const queue = new Queue(name, { connection: options.connection, prefix: options.prefix });
    await queue.setGlobalConcurrency(1);
    await queue.close();
    workers.push(new Worker<ExecutionJobData>(name, options.process, {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: 1,
      autorun: false,
      lockDuration: options.lockDurationMs,
      stalledInterval: Math.max(1000, Math.floor(options.lockDurationMs / 2)),
      maxStalledCount: 5,
    }));
  }
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
