// Stale entry-order expiry: resting entry orders older than a maximum age are cancelled (their fills, if any, stay booked).
import type { ExecutionContext } from '../execution/context.ts';

/**
 * The default age past which a resting entry is cancelled. The config has no field for it: `day` orders expire at the
 * venue by themselves, so this bounds `gtc` limits and stops, which would otherwise rest until they fill, weeks later,
 * on a signal nobody remembers.
 */
export const DEFAULT_ENTRY_MAX_AGE_MS = 24 * 3600 * 1000;

export interface StaleEntriesResult {
  account: string;
  cancelled: string[];
  failed: string[];
}

/**
 * Cancels every live entry order of tradewire older than `maxAgeMs`. Intents in doubt (`pending_submit`, `unknown`)
 * are left to reconciliation, which looks them up first. Running it twice cancels nothing twice.
 */
export async function expireStaleEntries(ctx: ExecutionContext, options: { now?: Date; maxAgeMs?: number } = {}): Promise<StaleEntriesResult[]> {
  const now = options.now ?? ctx.now();
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_ENTRY_MAX_AGE_MS;
  const results: StaleEntriesResult[] = [];
  for (const account of ctx.brokers.accounts()) {
    const result: StaleEntriesResult = { account, cancelled: [], failed: [] };
    const broker = ctx.brokers.get(account);
    for (const order of ctx.orders.openOrders(account)) {
      if (order.leg !== 'entry' || order.status === 'pending_submit' || order.status === 'unknown') continue;
      if (now.getTime() - order.createdAt.getTime() < maxAgeMs) continue;
      try {
        const after = await ctx.tracker.cancel(broker, order.clientOrderId);
        if (after.status === 'cancelled') result.cancelled.push(order.clientOrderId);
        ctx.logger.info({ event: 'order.expired_stale', account, clientOrderId: order.clientOrderId, symbol: order.symbol, status: after.status,
          ageSeconds: Math.round((now.getTime() - order.createdAt.getTime()) / 1000) }, `stale entry ${order.clientOrderId} on ${order.symbol}: ${after.status}`);
      } catch (error) {
        result.failed.push(order.clientOrderId);
        ctx.logger.error({ event: 'order.expire_failed', account, clientOrderId: order.clientOrderId, err: String(error) }, 'could not cancel a stale entry');
      }
    }
    results.push(result);
  }
  return results;
}
