// The scheduled reconciliation: every account's journal checked against its broker, differences logged by reconcileAll.
import type { ExecutionContext } from '../execution/context.ts';
import { reconcileAll, type ReconcileReport } from '../portfolio/reconcile.ts';

export async function runReconcile(ctx: ExecutionContext, options: { now?: Date } = {}): Promise<ReconcileReport[]> {
  return reconcileAll(ctx, { now: options.now });
}
