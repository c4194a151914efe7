// A signal's one recorded state, from its executions (one per account): shared by the executor and the resume of an interrupted entry.
import type { ExecutionStatus } from '../store/executions-repo.ts';
import type { SignalStatus } from '../store/signals-repo.ts';
import type { ExecutionContext } from './context.ts';

export const TERMINAL_EXECUTION: ReadonlySet<ExecutionStatus> = new Set(['executed', 'rejected', 'failed', 'stale', 'halted']);

/**
 * Once every account's execution has ended (`accounts` of them), the signal gets its one recorded state; before that
 * it is left as it is. An execution that went through may carry a note (a reversal's skipped short): the signal keeps it.
 */
export function settleSignal(ctx: ExecutionContext, signalId: string, accounts: number): void {
  const executions = ctx.executions.listBySignal(signalId);
  if (executions.length < accounts || executions.some((e) => !TERMINAL_EXECUTION.has(e.status))) return;
  const executed = executions.filter((e) => e.status === 'executed');
  const others = executions.filter((e) => e.status !== 'executed');
  const noted = executions.filter((e) => e.status !== 'executed' || e.reason !== undefined);
  let status: SignalStatus;
  if (others.length === 0) status = 'executed';
  else if (executed.length > 0) status = 'partial';
  else if (others.some((e) => e.status === 'failed')) status = 'failed';
  else if (others.every((e) => e.status === others[0]?.status) && (others[0]?.status === 'stale' || others[0]?.status === 'halted')) status = others[0].status;
  else status = 'rejected';
  const reasons = noted.map((e) => (executions.length > 1 ? `${e.account}: ${e.reason ?? e.status}` : e.reason ?? e.status));
  ctx.signals.updateStatus(signalId, status, reasons.length > 0 ? reasons.join('; ') : undefined);
}
