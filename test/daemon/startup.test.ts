import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, StartupError, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });

describe('daemon start-up', () => {
  let daemon: Daemon | undefined;
  const dirs: Array<{ cleanup(): void }> = [];
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    for (const d of dirs.splice(0)) d.cleanup();
  });

  function envFor(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      CONFIG_FILE: 'config/tradewire.yaml', PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: uniquePrefix('startup'),
      DATABASE_PATH: join(dir, 'trading.db'), ...extra,
    };
  }

  it('comes up with the shipped config and answers /health and /ready', async () => {
    const dir = tempDir('tw-daemon');
    dirs.push(dir);
    daemon = await startDaemon(envFor(dir.path, { WEBHOOK_PASSPHRASE: 'test-passphrase-123' }), silent);
    const health = await fetch(`${daemon.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${daemon.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: [{ name: 'redis', ok: true }, { name: 'database', ok: true },
      { name: 'execution', ok: true }] });
  });

  it('refuses to start, naming where it tried, when Redis is unreachable', async () => {
    const dir = tempDir('tw-daemon');
    dirs.push(dir);
    const attempt = startDaemon(envFor(dir.path, { REDIS_URL: 'redis://127.0.0.1:1' }), silent);
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*Start Redis/);
  });

  it('as a process: one clear line on stderr, no stack trace, non-zero exit', () => {
    const dir = tempDir('tw-daemon');
    dirs.push(dir);
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...envFor(dir.path, { REDIS_URL: 'redis://:hunter2@127.0.0.1:1' }) },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tradewire: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('an invalid config stops the start with the file and the path in the message', async () => {
    const dir = tempDir('tw-daemon');
    dirs.push(dir);
    const attempt = startDaemon(envFor(dir.path, { CONFIG_FILE: join(dir.path, 'missing.yaml') }), silent);
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(/missing\.yaml/);
  });
});

describe('daemon start-up on a busy port', () => {
  it('says which address is taken instead of crashing', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    const dir = tempDir('tw-daemon');
    try {
      const attempt = startDaemon({ CONFIG_FILE: 'config/tradewire.yaml', PORT: String(port), HOST: '127.0.0.1', REDIS_URL,
        REDIS_PREFIX: uniquePrefix('busy'), DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: 'busy-port-passphrase' }, silent);
      await expect(attempt).rejects.toThrow(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
    } finally {
      blocker.close();
      dir.cleanup();
    }
  });
});
