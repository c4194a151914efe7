// Rate limits kept in Redis, so they hold across receiver processes: a token bucket per strategy, failed logins per source.
import type { Redis } from 'ioredis';

// Redis's own clock, so several receivers on several hosts share one notion of time.
const TOKEN_BUCKET = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed`;

export class IntakeLimits {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  /** Takes one token from the strategy's bucket: false when the strategy is over its rate. */
  async takeStrategyToken(strategy: string, ratePerSecond: number, burst: number): Promise<boolean> {
    const allowed = await this.redis.eval(TOKEN_BUCKET, 1, `${this.prefix}:rl:strategy:${strategy}`, ratePerSecond, burst);
    return allowed === 1;
  }

  /** Failed authentications from this source in the current minute. */
  async failedAuthCount(source: string, now: Date): Promise<number> {
    const value = await this.redis.get(this.failKey(source, now));
    return value === null ? 0 : Number(value);
  }

  async recordFailedAuth(source: string, now: Date): Promise<void> {
    const key = this.failKey(source, now);
    await this.redis.multi().incr(key).expire(key, 120).exec();
  }

  private failKey(source: string, now: Date): string {
    return `${this.prefix}:rl:authfail:${source}:${Math.floor(now.getTime() / 60_000)}`;
  }
}
