// Test helpers for environments: a temp directory per test and a unique Redis prefix per run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ulid } from 'ulid';
import { deletePrefixedKeys } from '../../src/queue/redis.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function tempDir(label = 'tw'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `${label}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A Redis key prefix no other test run shares. */
export function uniquePrefix(label = 'test'): string {
  return `twtest-${label}-${ulid().toLowerCase()}`;
}

/** Deletes a test run's Redis keys over a connection of its own. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await deletePrefixedKeys(redis, prefix);
  } finally {
    await redis.quit();
  }
}

/** Polls `probe` every 25 ms until it gives a value; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
