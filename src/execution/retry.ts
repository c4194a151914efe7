// Retries of broker calls inside a job: exponential backoff with full jitter, Retry-After honoured, only retryable errors.
import { RateLimitError, isRetryable } from '../domain/errors.ts';

export interface RetryPolicy {
  attempts: number;       // total tries, the first included
  baseDelayMs: number;    // the first backoff ceiling, doubling each time
  maxDelayMs: number;     // the ceiling of any backoff, unless Retry-After asks for longer
  /** The longest Retry-After a call waits out; a longer one (a Binance IP ban runs 2 minutes to 3 days) fails at once. */
  maxRetryAfterMs?: number | undefined;
}

/** A job waits out a venue's Retry-After up to this long by default: a minute-old entry is still worth placing, an hour-old one is not. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

export interface RetryDeps {
  sleep: (ms: number) => Promise<void>;
  random: () => number;   // [0, 1), injectable so tests are exact
  /** Called before each wait, for logging: the attempt that failed and how long we wait. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The wait after the given failed attempt (1-based): full jitter under min(max, base × 2^(attempt−1)). */
export function backoffDelay(policy: RetryPolicy, attempt: number, error: unknown, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  if (error instanceof RateLimitError && error.retryAfterMs !== undefined) return Math.max(jittered, error.retryAfterMs);
  return jittered;
}

/**
 * Runs `call` until it succeeds, fails with a non-retryable error, or runs out of attempts.
 * `beforeRetry` runs before each new attempt: after a timeout it looks the order up by client id,
 * and returning a value there ends the retries with that value (the first try had succeeded after all).
 */
export async function withRetries<T>(
  call: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  deps: RetryDeps,
  beforeRetry?: (error: unknown) => Promise<T | undefined>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (error) {
      if (!isRetryable(error) || attempt >= policy.attempts) throw error;
      // Asked to stay away for longer than a job should hang on: give up now, with the venue's reason, rather than sleep through it.
      if (error instanceof RateLimitError && (error.retryAfterMs ?? 0) > (policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS)) throw error;
      const delayMs = backoffDelay(policy, attempt, error, deps.random);
      deps.onRetry?.({ attempt, delayMs, error });
      await deps.sleep(delayMs);
      if (beforeRetry) {
        const found = await beforeRetry(error);
        if (found !== undefined) return found;
      }
    }
  }
}
