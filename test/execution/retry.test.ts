import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetries, type RetryPolicy } from '../../src/execution/retry.ts';
import { InsufficientFundsError, NetworkError, RateLimitError, TimeoutError } from '../../src/domain/errors.ts';

const POLICY: RetryPolicy = { attempts: 3, baseDelayMs: 250, maxDelayMs: 5000 };

describe('broker call retries', () => {
  it('backs off exponentially with full jitter under the ceiling', () => {
    const err = new NetworkError('reset', { broker: 'x' });
    expect(backoffDelay(POLICY, 1, err, () => 0.999)).toBe(249);
    expect(backoffDelay(POLICY, 2, err, () => 0.5)).toBe(250);
    expect(backoffDelay(POLICY, 3, err, () => 0.5)).toBe(500);
    expect(backoffDelay(POLICY, 10, err, () => 0.999)).toBe(4995); // capped at 5 s
    expect(backoffDelay(POLICY, 1, err, () => 0)).toBe(0);
  });

  it('honours Retry-After even beyond the ceiling', () => {
    const err = new RateLimitError('slow down', { broker: 'x', retryAfterMs: 7000 });
    expect(backoffDelay(POLICY, 1, err, () => 0.5)).toBe(7000);
  });

  it('retries retryable errors and returns the eventual success', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await withRetries(async () => {
      calls++;
      if (calls < 3) throw new NetworkError('reset', { broker: 'x' });
      return 'ok';
    }, POLICY, { sleep: async (ms) => { waits.push(ms); }, random: () => 0.5 });
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toEqual([125, 250]);
  });

  it('gives up after the configured attempts with the last error', async () => {
    let calls = 0;
    await expect(withRetries(async () => { calls++; throw new NetworkError(`reset ${calls}`, { broker: 'x' }); }, POLICY,
      { sleep: async () => undefined, random: () => 0 })).rejects.toThrow('reset 3');
    expect(calls).toBe(3);
  });

  it('does not retry a refusal', async () => {
    let calls = 0;
    await expect(withRetries(async () => { calls++; throw new InsufficientFundsError('no', { broker: 'x' }); }, POLICY,
      { sleep: async () => undefined, random: () => 0 })).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(calls).toBe(1);
  });

  it('after a timeout, a lookup that finds the order ends the retries without a second placement', async () => {
    let placements = 0;
    const result = await withRetries(async () => { placements++; throw new TimeoutError('no answer', { broker: 'x' }); }, POLICY,
      { sleep: async () => undefined, random: () => 0 }, async () => 'found-by-client-id');
    expect(result).toBe('found-by-client-id');
    expect(placements).toBe(1);
  });
});

describe('Retry-After beyond what a job waits', () => {
  it('waits out a Retry-After up to the policy\'s longest, and fails at once, with the venue\'s error, beyond it', async () => {
    const waits: number[] = [];
    const deps = { sleep: async (ms: number) => { waits.push(ms); }, random: () => 0 };
    let calls = 0;
    const within = await withRetries(async () => {
      if (++calls === 1) throw new RateLimitError('slow down', { broker: 'x', retryAfterMs: 30_000 });
      return 'ok';
    }, { ...POLICY, maxRetryAfterMs: 30_000 }, deps);
    expect(within).toBe('ok');
    expect(waits).toEqual([30_000]);

    const ban = new RateLimitError('IP banned (418)', { broker: 'x', retryAfterMs: 120_000 });
    calls = 0;
    await expect(withRetries(async () => { calls++; throw ban; }, POLICY, deps)).rejects.toBe(ban);
    expect(calls).toBe(1);
    expect(waits).toEqual([30_000]);
  });
});
