// The test run's global setup: Redis answers (else one line and a quick exit), a folder for the log tap, and at the end,
// the secrets scan over every line tapped in any process or thread of the run. A secret found fails the run, naming the
// secret's constant and where it appeared.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { assertRedisReachable, RedisUnavailableError, redisUnreachableLine } from '../src/queue/redis.ts';
import { REDIS_URL } from './helpers/env.ts';
import { scanTaps, testSecrets } from './helpers/secret-scan.ts';

let tapDir: string | undefined;

/**
 * Without a Redis every test that needs one waits out its own timeout and prints its own stack trace (minutes of them):
 * stop at once with the daemon's one line. `npm test` also runs this file first, before the typecheck and lint.
 */
export async function requireRedis(): Promise<void> {
  try {
    await assertRedisReachable(REDIS_URL, 2000);
  } catch (error) {
    if (!(error instanceof RedisUnavailableError)) throw error;
    process.stderr.write(`${redisUnreachableLine(error)}\n`);
    process.exit(1);
  }
}

export async function setup(): Promise<void> {
  await requireRedis();
  tapDir = mkdtempSync(join(tmpdir(), 'tw-log-tap-'));
  process.env.TW_LOG_TAP_DIR = tapDir;
}

export function teardown(): void {
  if (!tapDir) return;
  const secrets = testSecrets(fileURLToPath(new URL('.', import.meta.url)));
  const findings = scanTaps(tapDir, secrets);
  if (findings.length > 0) {
    // Kept for a look; the secret itself is never printed. Vitest reports an error thrown here but still exits 0:
    // the exit code says it too, so `npm test` (and CI) fail.
    process.exitCode = 1;
    throw new Error(`secrets scan FAILED: ${findings.length} secret(s) reached a log line (tapped lines kept in ${tapDir}):\n`
      + findings.map((f) => `  ${f.secret} in ${f.file}, line ${f.line}`).join('\n'));
  }
  process.stdout.write(`secrets scan: ${secrets.length} test secrets, none in any log line of the run\n`);
  rmSync(tapDir, { recursive: true, force: true });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await requireRedis();
