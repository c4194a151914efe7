// `npm test` with no Redis: the run stops at once with the daemon's one-line message instead of minutes of timeouts.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { redisUnreachableLine, RedisUnavailableError } from '../../src/queue/redis.ts';

const repo = new URL('../..', import.meta.url).pathname;

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the test run without Redis', () => {
  it('exits non-zero with the one line the daemon prints, no stack trace, before any test runs', async () => {
    const port = await closedPort();
    const unreachable = `redis://127.0.0.1:${port}`;
    const result = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/vitest.config.ts', 'test/domain/money.test.ts'], {
      cwd: repo, env: { ...process.env, REDIS_URL: unreachable, NO_COLOR: '1' }, encoding: 'utf8', timeout: 60_000,
    });
    expect(result.status).not.toBe(0);
    const expected = redisUnreachableLine(new RedisUnavailableError(unreachable, 'ECONNREFUSED'));
    expect(result.stderr.trim().split('\n')).toContain(expected);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).not.toMatch(/Test Files/);
  }, 70_000);
});
