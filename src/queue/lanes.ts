// Execution lanes: a fixed set of partition queues, one job at a time each, chosen by a hash of account and symbol.
import { createHash } from 'node:crypto';

/**
 * Signals for the same account and symbol always land in the same lane and a lane runs one job at a
 * time across every worker process, so they execute in arrival order; other symbols spread over the
 * other lanes and run in parallel. A fixed lane count keeps the number of blocking Redis connections bounded.
 */
export function laneFor(account: string, symbol: string, laneCount: number): number {
  const digest = createHash('sha1').update(`${account}\u0000${symbol}`).digest();
  return digest.readUInt32BE(0) % laneCount;
}

export function laneQueueName(lane: number): string {
  return `exec-${lane}`;
}

/** Job ids of execution jobs: the signal id and the account (BullMQ job ids may not contain ':'). */
export function executionJobId(signalId: string, account: string): string {
  return `${signalId}.${account.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}
