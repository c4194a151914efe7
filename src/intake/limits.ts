// Intake limits: failed authentications per source address (in Redis, shared by receivers), and a ceiling per strategy.
import type { Redis } from 'ioredis';

/**
 * A token bucket per strategy, kept in this process: a safety ceiling against a runaway alert loop, not an
 * accounting quota, so it costs the request path nothing. Each receiver process applies the ceiling on its own.
 */
export class StrategyCeiling {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Takes one token from the strategy's bucket: false when the strategy is over its rate. */
  take(strategy: string, ratePerSecond: number, burst: number): boolean {
    const now = this.clock();
    const bucket = this.buckets.get(strategy) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * ratePerSecond) / 1000);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(strategy, bucket);
    return allowed;
  }
}

/**
 * Failed authentications per source address and minute, counted in Redis so every receiver sees them. Only
 * failures are counted and only failures are answered 429 past the limit: TradingView sends every user's alerts
 * from four shared addresses, so blocking an address would let a stranger's junk stop a user's real alerts.
 */
export class FailedAuthCounter {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  /** Counts one failure and returns how many this source has had in the current minute. */
  async record(source: string, now: Date): Promise<number> {
    const key = `${this.prefix}:rl:authfail:${source}:${Math.floor(now.getTime() / 60_000)}`;
    const replies = await this.redis.multi().incr(key).expire(key, 120).exec();
    const count = replies?.[0]?.[1];
    return typeof count === 'number' ? count : 0;
  }
}

const NO_COUNTS: ReadonlyMap<string, number> = new Map();

/**
 * Counts events per key and fixed minute, in this process (the admin side's failed logins, the log throttle). The map
 * holds the current minute only, and at most `maxKeys` keys: past that, new keys share one overflow count, so a flood
 * of made-up sources costs bounded memory and still meets a limit.
 */
export class MinuteCounter {
  private minute = -1;
  private readonly counts = new Map<string, number>();
  static readonly OVERFLOW = '(other sources)';

  constructor(private readonly maxKeys = 10_000) {}

  /** Counts one event for `key` at `now`; returns the count of this key in the current minute, this one included. */
  add(key: string, now: Date): number {
    this.roll(now);
    const slot = this.counts.has(key) || this.counts.size < this.maxKeys ? key : MinuteCounter.OVERFLOW;
    const count = (this.counts.get(slot) ?? 0) + 1;
    this.counts.set(slot, count);
    return count;
  }

  /** The count of `key` in the current minute, without adding one. */
  get(key: string, now: Date): number {
    this.roll(now);
    return this.counts.get(key) ?? this.counts.get(MinuteCounter.OVERFLOW) ?? 0;
  }

  /** Starts a new minute when `now` is past the current one; returns the finished minute's counts (empty otherwise). */
  roll(now: Date): ReadonlyMap<string, number> {
    const minute = Math.floor(now.getTime() / 60_000);
    // The same minute, the common case on the request path: nothing to hand back, nothing allocated.
    if (minute === this.minute) return NO_COUNTS;
    const finished = new Map(this.counts);
    this.counts.clear();
    this.minute = minute;
    return finished;
  }
}
