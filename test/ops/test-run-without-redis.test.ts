// `npm test` with no Redis: the run stops at once with the daemon's one-line message instead of minutes of timeouts.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

  it('npm test checks first, before the typecheck and the lint (a minute of them on a busy machine)', async () => {
    const scripts = (JSON.parse(readFileSync(new URL('package.json', `file://${repo}`), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.test).toMatch(/^node --import tsx test\/global-setup\.ts && npm run typecheck && /);
    const unreachable = `redis://127.0.0.1:${await closedPort()}`;
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/global-setup.ts'], {
      cwd: repo, env: { ...process.env, REDIS_URL: unreachable }, encoding: 'utf8', timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${redisUnreachableLine(new RedisUnavailableError(unreachable, 'ECONNREFUSED'))}\n`);
    // With Redis up it says nothing and lets the run go on.
    const fine = spawnSync(process.execPath, ['--import', 'tsx', 'test/global-setup.ts'], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect([fine.status, fine.stderr]).toEqual([0, '']);
  }, 70_000);
});
