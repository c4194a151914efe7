// Reconciliation asked for by hand (admin API, `tradewire reconcile`): the scheduled job's run, under the same lock.
import type { ExecutionContext } from '../execution/context.ts';
import type { Logger } from '../ops/logger.ts';
import type { ReconcileReport } from '../portfolio/reconcile.ts';
import type { RedisLock } from './lock.ts';
import { runReconcile } from './reconcile-job.ts';
import { runLocked } from './schedule.ts';

export type OnDemandReconcile = { ran: true; reports: ReconcileReport[] } | { ran: false; reason: string };

/**
 * Two reconciliations at once could book the same correction twice, so this takes the job's lock, waiting a little
 * for a run in progress elsewhere to finish (its corrections are then already made).
 */
export async function reconcileOnDemand(deps: { ctx: ExecutionContext; lock: RedisLock; logger: Logger }, waitMs = 10_000): Promise<OnDemandReconcile> {
  const run = await runLocked(deps, 'reconcile', () => runReconcile(deps.ctx), { waitMs });
  if (run.ran) return { ran: true, reports: run.value };
  return { ran: false, reason: 'another reconciliation is running (or this one failed: see the daemon log); try again in a moment' };
}
