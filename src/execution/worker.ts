// The execution role: lane workers that hand each job to the executor, and the refusal journal's drain.
import type { Redis } from 'ioredis';
import { startLaneWorkers } from '../queue/signal-queue.ts';
import type { Logger } from '../ops/logger.ts';
import { reasonLabel, threadMetrics } from '../ops/metrics.ts';
import type { SignalsRepo } from '../store/signals-repo.ts';
import type { ExecutionOutcome, Executor } from './executor.ts';
import { drainRefusals } from './refusal-journal.ts';

export interface ExecutionRoleOptions {
  redisUrl: string;
  redis: Redis;
  prefix: string;
  laneCount: number;
  lockDurationMs: number;
  executor: Executor;
  signals: SignalsRepo;
  logger: Logger;
  drainIntervalMs?: number;
}

export interface ExecutionRole {
  /** Starts taking jobs: call after start-up reconciliation, so nothing is placed against a journal that disagrees with the broker. */
  run(): void;
  close(): Promise<void>;
}

export async function startExecutionRole(options: ExecutionRoleOptions): Promise<ExecutionRole> {
  const lanes = await startLaneWorkers({
    connection: { url: options.redisUrl, maxRetriesPerRequest: null },
    prefix: options.prefix,
    laneCount: options.laneCount,
    lockDurationMs: options.lockDurationMs,
    process: async (job) => options.executor.execute(job.data),
  });
  const signals = threadMetrics().signals;
  for (const worker of lanes.workers) {
    // A job that ends without an outcome was a duplicate or already finished by an earlier run.
    worker.on('completed', (_job, outcome?: ExecutionOutcome) => signals.inc({ stage: 'execution', outcome: outcome?.status ?? 'skipped', reason: reasonLabel(outcome?.reason) }));
    worker.on('failed', (job, error) => {
      signals.inc({ stage: 'execution', outcome: 'error', reason: 'internal' });
      options.logger.error({ event: 'job.failed', jobId: job?.id, err: error.message }, 'execution job failed');
    });
    worker.on('error', (error) => options.logger.warn({ event: 'worker.error', err: error.message }, 'queue worker error'));
  }
  let draining = false;
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      await drainRefusals(options.redis, options.prefix, options.signals);
    } catch (error) {
      options.logger.warn({ event: 'refusals.drain_failed', err: String(error) }, 'could not journal intake refusals yet');
    } finally {
      draining = false;
    }
  };
  const timer = setInterval(() => { void drain(); }, options.drainIntervalMs ?? 500);
  timer.unref();
  return {
    run() {
      for (const worker of lanes.workers) void worker.run();
    },
    async close() {
      clearInterval(timer);
      // Worker.close waits for the job in hand to finish: an order half-placed is never abandoned on SIGTERM.
      await lanes.close();
      await drain();
    },
  };
}
