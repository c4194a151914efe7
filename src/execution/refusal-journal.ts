// Journals the intake's refusals: drains the capped Redis stream into `signals`, so a user sees why an alert did not trade.
import type { Redis } from 'ioredis';
import { readRefusals, trimRefusals } from '../intake/refusals.ts';
import type { SignalsRepo } from '../store/signals-repo.ts';

/** Moves every refusal waiting in the stream into the journal; returns how many. Safe to run in several processes. */
export async function drainRefusals(redis: Redis, prefix: string, signals: SignalsRepo, batch = 500): Promise<number> {
  let moved = 0;
  for (;;) {
    const entries = await readRefusals(redis, prefix, '0', batch);
    const last = entries.at(-1);
    if (!last) return moved;
    for (const { refusal } of entries) {
      signals.insert({
        signalId: refusal.signalId, strategy: refusal.strategy, userId: refusal.userId, ticker: refusal.ticker, action: refusal.action,
        payload: refusal.payload, receivedAt: new Date(refusal.receivedAt), status: refusal.status,
        reason: refusal.detail ? `${refusal.reason}: ${refusal.detail}` : refusal.reason,
      });
    }
    moved += entries.length;
    // Trim only what is journalled: an entry is removed after its row is committed, never before.
    await redis.xdel(`${prefix}:intake:refusals`, ...entries.map((e) => e.id));
    if (entries.length < batch) {
      await trimRefusals(redis, prefix, last.id);
      return moved;
    }
  }
}
