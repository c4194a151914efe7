// Redis that needs no setup: with no REDIS_URL and nothing on the default address, the daemon runs its own redis-server
// on a socket under data/redis/, restarts it when it dies, and stops it on shutdown; a configured REDIS_URL is never replaced.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, StartupError } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { isAlive, redisInstallHint } from '../../src/ops/redis-supervisor.ts';
import { REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const alive = isAlive;

function capturingLogger() {
  const events: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => { events.push(JSON.parse(line) as Record<string, unknown>); } } });
  return { logger, events };
}

async function serverInfo(socket: string): Promise<{ pid: number; config: Record<string, string> }> {
  const client = new Redis(socket, { maxRetriesPerRequest: 1 });
  try {
    const info = await client.info('server');
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    const config: Record<string, string> = {};
    for (const key of ['appendonly', 'appendfsync', 'maxmemory-policy', 'port']) {
      const [, value] = await client.config('GET', key) as [string, string];
      config[key] = value;
    }
    return { pid, config };
  } finally {
    client.disconnect();
  }
}

describe('the private Redis', () => {
  const dir = tempDir('tw-private-redis');
  // redis-servers a failed test could leave behind: none outlives the file.
  const servers: number[] = [];
  afterAll(() => {
    for (const pid of servers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    dir.cleanup();
  });

  function envFor(extra: Record<string, string>): NodeJS.ProcessEnv {
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, 'accounts:\n  paper: { broker: paper }\nstrategies:\n  default:\n    subscriptions: [{ account: paper }]\n');
    // No REDIS_URL: the parent's is left out on purpose.
    return { PATH: process.env.PATH, NODE_OPTIONS: process.env.NODE_OPTIONS, TW_LOG_TAP_DIR: process.env.TW_LOG_TAP_DIR, CONFIG_FILE: file,
      PORT: '0', HOST: '127.0.0.1', REDIS_PREFIX: uniquePrefix('private'), DATABASE_PATH: join(dir.path, 'data', 'trading.db'),
      WEBHOOK_PASSPHRASE: 'private-redis-passphrase-1', ...extra };
  }

  it('starts one when nothing answers, executes an alert on it, survives its death, and stops it on shutdown', async () => {
    const port = await closedPort();
    const { logger, events } = capturingLogger();
    const env = envFor({ TRADEWIRE_TEST_DEFAULT_REDIS_URL: `redis://127.0.0.1:${port}` });
    const daemon = await startDaemon(env, logger);
    let stopped = false;
    try {
      const socket = join(dir.path, 'data', 'redis', 'redis.sock');
      const started = events.find((e) => e.event === 'redis.private_started');
      expect(started?.msg).toBe(`no Redis at redis://127.0.0.1:${port}: started a private redis-server on ${socket} (append-only; stopped with tradewire)`);
      expect(events.find((e) => e.event === 'daemon.started')?.redis).toBe(`unix:${socket}`);
      const first = await serverInfo(socket);
      servers.push(first.pid);
      expect(first.pid).toBe(started?.pid);
      expect(first.config).toEqual({ appendonly: 'yes', appendfsync: 'everysec', 'maxmemory-policy': 'noeviction', port: '0' });
      const redisDir = join(dir.path, 'data', 'redis');
      expect(statSync(redisDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(redisDir, 'appendonlydir')).mode & 0o777).toBe(0o700);
      expect(statSync(join(redisDir, 'redis.log')).mode & 0o777).toBe(0o600);

      const send = (ticker: string, id: string) => fetch(`${daemon.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ passphrase: 'private-redis-passphrase-1', ticker, action: 'buy', sentiment: 'long', price: '100', id }) });
      const journal = new Database(join(dir.path, 'data', 'trading.db'), { readonly: true });
      const openSymbols = () => (journal.prepare("SELECT symbol FROM positions WHERE status = 'open' ORDER BY symbol").all() as Array<{ symbol: string }>)
        .map((row) => row.symbol);
      try {
        expect((await send('AAPL', 'private-1')).status).toBe(202);
        await until('AAPL to be opened', () => (openSymbols().includes('AAPL') ? true : undefined), 15_000);

        process.kill(first.pid, 'SIGKILL');
        await until('the private Redis to be restarted', () => (events.some((e) => e.event === 'redis.private_restarted') ? true : undefined), 20_000);
        expect(events.find((e) => e.event === 'redis.private_exited')).toMatchObject({ signal: 'SIGKILL', level: 50 });
        const second = await serverInfo(socket);
        servers.push(second.pid);
        expect(second.pid).not.toBe(first.pid);

        // The webhook's client reconnects on its own; until it has, the answer is a quick 503.
        await until('the webhook to take alerts again', async () => ((await send('MSFT', 'private-2')).status === 202 ? true : undefined), 15_000);
        await until('MSFT to be opened', () => (openSymbols().includes('MSFT') ? true : undefined), 15_000);
        expect(openSymbols()).toEqual(['AAPL', 'MSFT']);

        await daemon.stop();
        stopped = true;
        expect(alive(second.pid)).toBe(false);
        expect(existsSync(socket)).toBe(false);
      } finally {
        journal.close();
      }
    } finally {
      if (!stopped) await daemon.stop();
    }
  }, 90_000);

  it('split roles share the one that `tradewire redis` owns: the api takes the alert, the worker executes it', async () => {
    const port = await closedPort();
    const env = envFor({ TRADEWIRE_TEST_DEFAULT_REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_PATH: join(dir.path, 'split', 'trading.db') });
    const socket = join(dir.path, 'split', 'redis', 'redis.sock');
    const owner = spawn(process.execPath, ['scripts/tradewire.js', 'redis'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    owner.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    owner.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const ownerExited = new Promise<number | null>((resolve) => owner.on('exit', (code) => resolve(code)));
    const { logger, events } = capturingLogger();
    try {
      await until('the private Redis to answer', () => (output.includes('redis.private_started') ? true : undefined), 20_000);
      const { pid } = await serverInfo(socket);
      servers.push(pid);
      const api = await startDaemon(env, logger, 'api');
      const worker = await startDaemon(env, logger, 'worker');
      try {
        expect(events.filter((e) => e.event === 'daemon.started').map((e) => [e.role, e.redis]))
          .toEqual([['api', `unix:${socket}`], ['worker', `unix:${socket}`]]);
        expect(events.some((e) => e.event === 'redis.private_started')).toBe(false);
        const sent = await fetch(`${api.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ passphrase: 'private-redis-passphrase-1', ticker: 'NVDA', action: 'buy', sentiment: 'long', price: '100', id: 'split-1' }) });
        expect(sent.status).toBe(202);
        const journal = new Database(join(dir.path, 'split', 'trading.db'), { readonly: true });
        try {
          await until('the worker to open NVDA', () => (journal.prepare("SELECT 1 FROM positions WHERE symbol = 'NVDA' AND status = 'open'").get() ? true : undefined), 15_000);
        } finally {
          journal.close();
        }
      } finally {
        await api.stop();
        await worker.stop();
      }
      // The roles stopping leave it running: it belongs to `tradewire redis`.
      expect(alive(pid)).toBe(true);
      owner.kill('SIGTERM');
      expect(await ownerExited).toBe(0);
      expect(alive(pid)).toBe(false);
      expect(existsSync(socket)).toBe(false);
    } finally {
      if (owner.exitCode === null) owner.kill('SIGKILL');
    }
  }, 90_000);

  it('a redis-server left behind by a killed daemon is taken over by the next start, its data kept', async () => {
    const port = await closedPort();
    const env = envFor({ TRADEWIRE_TEST_DEFAULT_REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_PATH: join(dir.path, 'orphan', 'trading.db'),
      LOG_LEVEL: 'info' });
    const socket = join(dir.path, 'orphan', 'redis', 'redis.sock');
    const killed = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    killed.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const exited = new Promise<void>((resolve) => killed.on('exit', () => resolve()));
    await until('the first daemon to start', () => (output.includes('"event":"daemon.started"') ? true : undefined), 30_000);
    const orphan = await serverInfo(socket);
    servers.push(orphan.pid);
    const marker = new Redis(socket);
    await marker.set('twtest-orphan-marker', 'kept');
    marker.disconnect();
    killed.kill('SIGKILL');
    await exited;
    expect(alive(orphan.pid)).toBe(true);

    const { logger, events } = capturingLogger();
    const daemon = await startDaemon(env, logger);
    try {
      expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['redis.private_orphan', 'redis.private_started']));
      expect(alive(orphan.pid)).toBe(false);
      const now = await serverInfo(socket);
      servers.push(now.pid);
      expect(now.pid).not.toBe(orphan.pid);
      const reader = new Redis(socket);
      expect(await reader.get('twtest-orphan-marker')).toBe('kept');
      reader.disconnect();
    } finally {
      await daemon.stop();
    }
  }, 90_000);

  it('once it has kept the queue, it is started again even when a Redis answers on the default address later', async () => {
    const closed = `redis://127.0.0.1:${await closedPort()}`;
    const database = join(dir.path, 'again', 'trading.db');
    const socket = join(dir.path, 'again', 'redis', 'redis.sock');
    const first = await startDaemon(envFor({ TRADEWIRE_TEST_DEFAULT_REDIS_URL: closed, DATABASE_PATH: database }), capturingLogger().logger);
    const queued = new Redis(socket);
    await queued.set('twtest-again-marker', 'acknowledged');
    queued.disconnect();
    await first.stop();

    // The machine's Redis (the tests' own) now answers on the "default" address.
    const { logger, events } = capturingLogger();
    const second = await startDaemon(envFor({ TRADEWIRE_TEST_DEFAULT_REDIS_URL: REDIS_URL, DATABASE_PATH: database }), logger);
    try {
      expect(events.find((e) => e.event === 'redis.private_started')?.msg)
        .toBe(`started the private redis-server again on ${socket}, with the queue it keeps (append-only; stopped with tradewire)`);
      expect(events.find((e) => e.event === 'daemon.started')?.redis).toBe(`unix:${socket}`);
      const reader = new Redis(socket);
      servers.push(Number(/process_id:(\d+)/.exec(await reader.info('server'))?.[1]));
      expect(await reader.get('twtest-again-marker')).toBe('acknowledged');
      reader.disconnect();
    } finally {
      await second.stop();
    }
  }, 60_000);

  it('Ctrl-C (SIGINT to the whole process group) stops the daemon first and its Redis last, without a restart', async () => {
    const env = envFor({ TRADEWIRE_TEST_DEFAULT_REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, DATABASE_PATH: join(dir.path, 'ctrlc', 'trading.db') });
    // Its own process group, as a shell gives a foreground command.
    const daemon = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    daemon.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    daemon.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    try {
      await until('the daemon to start', () => (output.includes('"event":"daemon.started"') ? true : undefined), 30_000);
      const { pid } = await serverInfo(join(dir.path, 'ctrlc', 'redis', 'redis.sock'));
      servers.push(pid);
      process.kill(-daemon.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      expect(output).toContain('"event":"daemon.stopped"');
      expect(output).not.toContain('redis.private_exited');
      expect(alive(pid)).toBe(false);
      // Redis never saw the Ctrl-C: it was stopped by tradewire's SIGTERM, once the queues were closed.
      const redisLog = readFileSync(join(dir.path, 'ctrlc', 'redis', 'redis.log'), 'utf8');
      expect(redisLog).not.toContain('Received SIGINT');
      expect(redisLog).toContain('Received SIGTERM');
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
    }
  }, 60_000);

  it('a configured REDIS_URL is never replaced: the one-line error stays and no private Redis is started', async () => {
    const port = await closedPort();
    const env = envFor({ REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_PATH: join(dir.path, 'explicit', 'trading.db') });
    const attempt = startDaemon(env, capturingLogger().logger);
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(`tradewire: cannot reach Redis at redis://127.0.0.1:${port} (ECONNREFUSED). Start Redis`);
    expect(existsSync(join(dir.path, 'explicit', 'redis'))).toBe(false);
  });

  it('without redis-server on the PATH, says how to install it for this system', async () => {
    const port = await closedPort();
    const env = envFor({ PATH: join(dir.path, 'empty-bin'), TRADEWIRE_TEST_DEFAULT_REDIS_URL: `redis://127.0.0.1:${port}`,
      DATABASE_PATH: join(dir.path, 'nobinary', 'trading.db') });
    const attempt = startDaemon(env, capturingLogger().logger);
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(`tradewire: no Redis at redis://127.0.0.1:${port} and no redis-server to start a private one: ${redisInstallHint()}.`);
    expect(existsSync(join(dir.path, 'nobinary', 'redis'))).toBe(false);
  });

  it('names the install command of each system', () => {
    expect(redisInstallHint('darwin')).toMatch(/^install it with `brew install redis`, or run tradewire and Redis together with `docker compose up -d --build`$/);
    expect(redisInstallHint('linux', (f) => f === '/etc/debian_version')).toMatch(/`sudo apt-get install -y redis-server` \(Debian, Ubuntu\)/);
    expect(redisInstallHint('linux', (f) => f === '/etc/redhat-release')).toMatch(/`sudo dnf install -y redis`/);
    expect(redisInstallHint('win32', () => false)).toMatch(/docker compose up -d --build/);
  });
});
