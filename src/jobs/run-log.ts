// Records that a scheduled run happened (a strategy's session-end flatten on a day, a kill-switch trip), in Redis.
import type { Redis } from 'ioredis';

export interface RunLog {
  has(job: string, key: string): Promise<boolean>;
  record(job: string, key: string, detail?: Record<string, unknown>): Promise<void>;
}

/** Long enough to cover any downtime a catch-up should bridge; short enough that the keys never pile up. */
export const RUN_RECORD_TTL_SECONDS = 14 * 24 * 3600;

export class RedisRunLog implements RunLog {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlSeconds = RUN_RECORD_TTL_SECONDS) {}

  private keyFor(job: string, key: string): string {
    return `${this.prefix}:run:${job}:${key}`;
  }

  async has(job: string, key: string): Promise<boolean> {
    return (await this.redis.exists(this.keyFor(job, key))) === 1;
  }

  async record(job: string, key: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.redis.set(this.keyFor(job, key), JSON.stringify({ ...detail, recordedAt: new Date().toISOString() }), 'EX', this.ttlSeconds);
  }
}

/** For tests and a single process without Redis: forgotten at exit. */
export class MemoryRunLog implements RunLog {
  private readonly keys = new Map<string, Record<string, unknown>>();

  async has(job: string, key: string): Promise<boolean> {
    return this.keys.has(`${job}:${key}`);
  }

  async record(job: string, key: string, detail: Record<string, unknown> = {}): Promise<void> {
    this.keys.set(`${job}:${key}`, detail);
  }
}
