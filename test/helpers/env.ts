// Test helpers for environments: a temp directory per test and a unique Redis prefix per run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ulid } from 'ulid';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function tempDir(label = 'tw'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `${label}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A Redis key prefix no other test run shares. */
export function uniquePrefix(label = 'test'): string {
  return `twtest-${label}-${ulid().toLowerCase()}`;
}
