// A Redis lock per job (SET NX PX, released and renewed only by its holder) so two processes never run the same job at once.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

// Delete or extend the key only while it still holds our token: a lock that expired and was taken by another is not ours.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface LockHandle {
  key: string;
  token: string;
}

export type LockedRun<T> = { ran: true; value: T } | { ran: false };

export class RedisLock {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  private keyFor(name: string): string {
    return `${this.prefix}:lock:${name}`;
  }

  /** Takes the lock for `ttlMs`, or returns undefined when another holder has it. */
  async acquire(name: string, ttlMs: number): Promise<LockHandle | undefined> {
    const key = this.keyFor(name);
    const token = randomUUID();
    const answer = await this.redis.set(key, token, 'PX', ttlMs, 'NX');
    return answer === 'OK' ? { key, token } : undefined;
  }

  /** Releases the lock if it is still ours; false when it had expired (and may be someone else's now). */
  async release(handle: LockHandle): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 1, handle.key, handle.token)) === 1;
  }

  /** Extends the lock if it is still ours. */
  async extend(handle: LockHandle, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, handle.key, handle.token, String(ttlMs))) === 1;
  }

  /**
   * Runs `fn` under the lock, renewing it every ttl/3 while `fn` runs, so a long job (a backup) keeps it; when the
   * lock is held elsewhere (still, after `waitMs`), `fn` does not run and the answer says so.
   */
  async withLock<T>(name: string, ttlMs: number, fn: () => Promise<T>, options: { waitMs?: number | undefined } = {}): Promise<LockedRun<T>> {
    let handle = await this.acquire(name, ttlMs);
    // Waiting is for runs that must happen (start-up reconciliation): the holder finishes, then this one runs.
    const deadline = Date.now() + (options.waitMs ?? 0);
    while (!handle && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      handle = await this.acquire(name, ttlMs);
    }
    if (!handle) return { ran: false };
    const renew = setInterval(() => { void this.extend(handle, ttlMs).catch(() => undefined); }, Math.max(100, Math.floor(ttlMs / 3)));
    renew.unref();
    try {
      return { ran: true, value: await fn() };
    } finally {
      clearInterval(renew);
      await this.release(handle).catch(() => false);
    }
  }
}
