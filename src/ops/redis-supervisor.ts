// A private redis-server for a machine with no Redis: a unix socket under data/redis/, append-only, restarted when it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { Logger } from './logger.ts';
import { assertRedisReachable } from '../queue/redis.ts';

/** Where a tradewire with its database in `dataDir` keeps its private Redis: the socket, the append-only file, the log. */
export function privateRedisDir(dataDir: string): string {
  return resolve(dataDir, 'redis');
}

export function privateRedisSocket(dataDir: string): string {
  return join(privateRedisDir(dataDir), 'redis.sock');
}

/** The pid of the process that supervises the private Redis (so a redis-server whose supervisor died is recognised). */
const ownerFile = (dir: string) => join(dir, 'owner.pid');

// A unix socket's path is limited to 108 bytes on Linux (104 on macOS), terminator included.
const MAX_SOCKET_PATH = 100;

/** The absolute path of an executable on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** How to get redis-server on this system, in one sentence. */
export function redisInstallHint(platform: NodeJS.Platform = process.platform, fileExists: (file: string) => boolean = existsSync): string {
  const compose = 'or run tradewire and Redis together with `docker compose up -d --build`';
  if (platform === 'darwin') return `install it with \`brew install redis\`, ${compose}`;
  if (platform === 'linux' && fileExists('/etc/debian_version')) return `install it with \`sudo apt-get install -y redis-server\` (Debian, Ubuntu), ${compose}`;
  if (platform === 'linux' && fileExists('/etc/redhat-release')) return `install it with \`sudo dnf install -y redis\`, ${compose}`;
  return `install Redis 6.2 or later from your system's packages, ${compose}`;
}

/** Whether a process runs (a zombie, dead but not yet reaped by its parent, does not: on Linux /proc tells them apart). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Whether the private Redis answering on the socket has a live supervisor (else it was orphaned by a killed daemon). */
export function privateRedisOwnerAlive(dataDir: string): boolean {
  try {
    const pid = Number(readFileSync(ownerFile(privateRedisDir(dataDir)), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid);
  } catch {
    return false;
  }
}

export interface RedisSupervisorOptions {
  dataDir: string;
  binary: string;
  logger: Logger;
  /** How long a (re)start may take to answer, loading the append-only file included. */
  readyTimeoutMs?: number;
}

/**
 * Runs redis-server as a child: TCP off (`port 0`), the socket owner-only, `appendonly yes` with `appendfsync everysec`,
 * `maxmemory-policy noeviction` (BullMQ's requirement). A death is answered by a restart after a backoff (250 ms doubling,
 * at most 10 s; back to 250 ms once it has stayed up a minute); clients reconnect to the same socket by themselves.
 */
export class RedisSupervisor {
  readonly socket: string;
  readonly dir: string;
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;

  private constructor(private readonly options: RedisSupervisorOptions) {
    this.dir = privateRedisDir(options.dataDir);
    this.socket = privateRedisSocket(options.dataDir);
  }

  /** Starts redis-server and resolves once it answers on the socket; throws, with the end of its log, if it never does. */
  static async start(options: RedisSupervisorOptions): Promise<RedisSupervisor> {
    const supervisor = new RedisSupervisor(options);
    if (supervisor.socket.length > MAX_SOCKET_PATH) {
      throw new Error(`the private Redis socket path ${supervisor.socket} is longer than a unix socket allows: set DATABASE_PATH to a shorter folder, or REDIS_URL`);
    }
    mkdirSync(supervisor.dir, { recursive: true, mode: 0o700 });
    chmodSync(supervisor.dir, 0o700);
    writeFileSync(ownerFile(supervisor.dir), `${process.pid}\n`, { mode: 0o600 });
    try {
      await supervisor.spawnAndWait();
    } catch (error) {
      await supervisor.stop();
      throw error;
    }
    return supervisor;
  }

  /** The running redis-server's pid (it changes with each restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private args(): string[] {
    return [
      '--port', '0',
      '--unixsocket', this.socket,
      '--unixsocketperm', '700',
      '--dir', this.dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no',
      '--logfile', join(this.dir, 'redis.log'),
    ];
  }

  private async spawnAndWait(): Promise<void> {
    // Only a socket nobody answers on reaches here (see prepareRedis): a leftover of a killed redis-server.
    rmSync(this.socket, { force: true });
    // Its files (the append-only file holds every queued alert) are the owner's only, as the journal is: 0600, folders 0700.
    const umask = process.umask(0o077);
    let child: ChildProcess;
    try {
      // Its own process group: a Ctrl-C in the terminal (SIGINT to the whole group) reaches tradewire only, which stops
      // it last, after the queues are closed, instead of Redis vanishing under the jobs still finishing.
      child = spawn(this.options.binary, this.args(), { stdio: 'ignore', detached: true });
    } finally {
      process.umask(umask);
    }
    this.child = child;
    let exited = false;
    const exit = new Promise<never>((_, reject) => child.once('exit', (code, signal) => {
      exited = true;
      reject(new Error(`redis-server exited at start (${signal ?? `status ${code}`}): ${this.logTail()}`));
    }));
    child.once('error', () => undefined); // a spawn failure also ends in 'exit'
    exit.catch(() => undefined);
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (exited) await exit;
      try {
        await assertRedisReachable(this.socket, 500);
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`redis-server did not answer on ${this.socket} in time: ${this.logTail()}`, { cause: error });
        }
        await Promise.race([new Promise((r) => setTimeout(r, 50)), exit.catch(() => undefined)]);
      }
    }
    this.startedAt = Date.now();
    child.once('exit', (code, signal) => this.onExit(code, signal));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.child = undefined;
    if (this.stopping) return;
    if (Date.now() - this.startedAt > 60_000) this.failures = 0;
    const delayMs = Math.min(250 * 2 ** this.failures, 10_000);
    this.failures += 1;
    this.options.logger.error({ event: 'redis.private_exited', code, signal, restartInMs: delayMs },
      `the private redis-server ended (${signal ?? `status ${code}`}): restarting it in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.spawnAndWait().then(
        () => this.options.logger.info({ event: 'redis.private_restarted', socket: this.socket }, 'the private redis-server is back'),
        (error: unknown) => {
          this.options.logger.error({ event: 'redis.private_restart_failed', err: String(error) }, 'the private redis-server did not come back');
          this.child = undefined;
          if (!this.stopping) this.onExit(null, null);
        },
      );
    }, delayMs);
  }

  /** SIGTERM, which makes redis-server write and fsync the append-only file before it exits; SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    rmSync(ownerFile(this.dir), { force: true });
  }

  private logTail(): string {
    const file = join(this.dir, 'redis.log');
    if (!existsSync(file)) return 'no log written';
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return `${lines.slice(-3).join(' | ')} (${file})`;
  }
}
