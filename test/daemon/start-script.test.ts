// `npm start` as the user runs it: package.json's start script, which runs the daemon from an esbuild bundle
// (scripts/start.js) instead of through tsx. The bundle must behave as the sources do: start, answer, reload, stop.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';

const ROOT = join(import.meta.dirname, '../..');
const startScript = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
/** Node's arguments in the start script: `NODE_ENV=production node <args>`. */
const START_ARGS = (/\bnode (.+)$/.exec(startScript)?.[1] ?? '').split(/\s+/).filter(Boolean);

interface Running { child: ChildProcess; events: Array<{ event?: string; url?: string }>; exited: Promise<number | null> }

function start(dir: string, prefix: string, extraArgs: string[] = [], env: Record<string, string> = {}): Running {
  const config = join(dir, 'tradewire.yaml');
  writeFileSync(config, readFileSync(join(ROOT, 'config/tradewire.yaml'), 'utf8'));
  const child = spawn(process.execPath, [...START_ARGS, ...extraArgs], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production', CONFIG_FILE: config, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
      DATABASE_PATH: join(dir, 'trading.db'), WEBHOOK_PASSPHRASE: 'start-script-passphrase', LOG_LEVEL: 'info', ...env },
  });
  const events: Running['events'] = [];
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line) as Running['events'][number]);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, events, exited };
}

describe('npm start (scripts/start.js)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('runs the daemon from a bundle, not through tsx: it answers, reloads on SIGHUP and stops cleanly on SIGTERM', async () => {
    expect(startScript).toContain('scripts/start.js');
    expect(START_ARGS).not.toContain('tsx');
    const dir = tempDir('tw-start');
    const prefix = uniquePrefix('start');
    const daemon = start(dir.path, prefix);
    cleanups.push(dir.cleanup, () => dropRedisPrefix(prefix), async () => {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await daemon.exited;
    });
    const started = await until('daemon.started', () => daemon.events.find((e) => e.event === 'daemon.started'), 60_000);
    expect(readdirSync(join(ROOT, 'data/.cache')).some((f) => /^daemon-[0-9a-f]{16}\.mjs$/.test(f))).toBe(true);
    const ready = await fetch(`${started.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: expect.arrayContaining([{ name: 'execution', ok: true }]) });

    daemon.child.kill('SIGHUP');
    await until('config.reloaded', () => daemon.events.find((e) => e.event === 'config.reloaded'), 30_000);

    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(daemon.events.map((e) => e.event)).toContain('daemon.stopped');
  }, 90_000);

  it('refuses an unknown role with usage exit code 2', () => {
    const result = spawnSync(process.execPath, [...START_ARGS, '--role', 'nonsense'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("unknown role 'nonsense' (all, api, worker, monitor)");
  });

  it('a start that fails ends in one clear line and exit code 1, as running the sources does', () => {
    const dir = tempDir('tw-start');
    cleanups.push(dir.cleanup);
    const result = spawnSync(process.execPath, START_ARGS, {
      cwd: ROOT, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, CONFIG_FILE: 'config/tradewire.yaml', PORT: '0', REDIS_URL: 'redis://127.0.0.1:1', DATABASE_PATH: join(dir.path, 'trading.db') },
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^tradewire: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  });
});
