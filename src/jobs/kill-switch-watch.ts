// Runs the kill switch beside the position loop: every interval, each account's day loss at the loop's latest marks.
import type { Decimal } from '../domain/money.ts';
import type { ExecutionContext } from '../execution/context.ts';
import type { KillSwitch } from '../portfolio/kill-switch.ts';
import type { ManagerSnapshot } from '../portfolio/manager.ts';

export interface KillSwitchWatchDeps {
  ctx: ExecutionContext;
  killSwitch: Pick<KillSwitch, 'evaluate'>;
  /** The position loop's marks (PositionManager.snapshot): the kill switch never asks the broker for quotes itself. */
  snapshot: () => ManagerSnapshot;
  intervalMs: number;
}

export interface KillSwitchWatch {
  /** One pass over every account; a call while a pass runs joins it. */
  check(): Promise<void>;
  start(): void;
  /** Stops the timer and waits for a pass in progress (a flatten it started finishes). */
  stop(): Promise<void>;
}

/** The marks of one account's positions as the loop last saw them, by symbol. */
export function marksOf(snapshot: ManagerSnapshot, account: string): Map<string, Decimal> {
  const marks = new Map<string, Decimal>();
  for (const position of snapshot.accounts.find((a) => a.account === account)?.positions ?? []) {
    if (position.mark !== undefined) marks.set(position.symbol, position.mark);
  }
  return marks;
}

export function watchKillSwitch(deps: KillSwitchWatchDeps): KillSwitchWatch {
  const { ctx } = deps;
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  const pass = async (): Promise<void> => {
    const snapshot = deps.snapshot();
    for (const account of ctx.brokers.accounts()) {
      try {
        await deps.killSwitch.evaluate(account, { marks: marksOf(snapshot, account) });
      } catch (error) {
        // One account's broker failing (its day-start equity unreadable) must not blind the switch for the others.
        ctx.logger.error({ event: 'kill_switch.check_failed', account, err: String(error) }, `kill switch check failed for ${account}`);
      }
    }
  };

  const check = (): Promise<void> => {
    inFlight ??= pass().finally(() => { inFlight = undefined; });
    return inFlight;
  };

  const schedule = (): void => {
    if (!running) return;
    timer = setTimeout(() => { void check().then(schedule); }, deps.intervalMs);
  };

  return {
    check,
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
