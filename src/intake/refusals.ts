// Refusals after authentication go to a capped Redis stream, off the request path; the worker journals them.
import type { Redis } from 'ioredis';

export type RefusalStatus = 'rejected' | 'duplicate' | 'stale';

export interface Refusal {
  signalId: string;
  strategy: string;
  status: RefusalStatus;
  /** invalid, unsupported, unknown_strategy, rate_limited, duplicate, stale. */
  reason: string;
  detail?: string | undefined;
  ticker?: string | undefined;
  action?: string | undefined;
  userId?: string | undefined;
  /** The payload with the secret removed, as JSON text. */
  payload: string;
  receivedAt: string;
}

export const REFUSAL_STREAM_MAXLEN = 100_000;

export function refusalStreamKey(prefix: string): string {
  return `${prefix}:intake:refusals`;
}

export async function publishRefusal(redis: Redis, prefix: string, refusal: Refusal): Promise<void> {
  await redis.xadd(refusalStreamKey(prefix), 'MAXLEN', '~', REFUSAL_STREAM_MAXLEN, '*', 'refusal', JSON.stringify(refusal));
}

/** Reads up to `count` refusals after `afterId` ('0' from the start). */
export async function readRefusals(redis: Redis, prefix: string, afterId: string, count: number): Promise<Array<{ id: string; refusal: Refusal }>> {
  const entries = await redis.xrange(refusalStreamKey(prefix), afterId === '0' ? '-' : `(${afterId}`, '+', 'COUNT', count);
  return entries.map(([id, fields]) => ({ id, refusal: JSON.parse(fields[1] ?? '{}') as Refusal }));
}

export async function trimRefusals(redis: Redis, prefix: string, uptoId: string): Promise<void> {
  await redis.xtrim(refusalStreamKey(prefix), 'MINID', uptoId);
}
