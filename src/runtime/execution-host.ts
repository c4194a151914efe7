// The HTTP thread's handle on the execution thread: starts it, relays its log, asks it things by id with a timeout,
// restarts it with backoff if it dies, and stops it on shutdown so that the job in hand finishes.
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import type { Logger } from '../ops/logger.ts';
import type { MetricsJson } from '../ops/metrics.ts';
import { HttpError } from '../http/admin-input.ts';
import type { Desk } from './desk.ts';
import type { FromThread, Request, ThreadData, ToThread } from './protocol.ts';
import { StartupError, type Role } from './roles.ts';
import { executionThreadModule } from './thread-build.ts';

/** starting: not reconciled yet. running: taking jobs. down: died, a restart is planned. stopped: shut down. */
export type ExecutionState = 'starting' | 'reconciled' | 'running' | 'down' | 'stopped';

export interface ExecutionHost {
  state(): ExecutionState;
  /** The admin API's trading actions, answered by the thread; 503 while it is not running. */
  desk: Desk;
  /** Starts taking jobs (after the HTTP side listens), resolving once the thread runs; a thread restarted later runs as soon as it has reconciled. */
  /** `adminUrl`: where the HTTP side serves the admin API (Telegram commands go through it). */
  run(adminUrl?: string): Promise<void>;
  /** The thread's metrics families; undefined while it is not up (a scrape then has the HTTP side's only). */
  metrics(): Promise<MetricsJson | undefined>;
  /** The thread reads the config again and plans its jobs from it. */
  reload(): Promise<{ ok: boolean; error?: string }>;
  /** What is in flight finishes (within graceMs), then the thread ends. */
  stop(): Promise<void>;
  /** Ends the thread at once, as a crash would (tests, and an operator's last resort): it is restarted like after a crash. */
  terminate(): Promise<void>;
}

export interface HostOptions {
  env: NodeJS.ProcessEnv;
  role: Role;
  logger: Logger;
  /** The logger was given by the caller (tests, scripts): the thread's lines are written to it, not to stdout. */
  forwardLogs: boolean;
  /** How long a stop may take before the thread is ended: under PM2's kill_timeout (30 s in ecosystem.config.js). */
  stopGraceMs?: number;
  /** First wait before a restart; it doubles up to maxBackoffMs, and resets after a minute of running. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * The execution thread's young generation (V8 sizes it as three semi-spaces): the position loop's per-tick quotes are
 * short-lived, and with small semi-spaces scavenges become most of a tick's tail (README, Performance: bench:positions).
 * The HTTP side runs with 1 MB semi-spaces (package.json's start script); this gives the thread V8's usual 16 MB.
 */
const THREAD_YOUNG_GENERATION_MB = 48;
const DESK_TIMEOUT_MS = 60_000;
const RELOAD_TIMEOUT_MS = 30_000;
/** Under Prometheus's default scrape timeout (10 s): a busy thread costs a scrape its half, not the whole answer. */
const METRICS_TIMEOUT_MS = 3_000;

/** The destination a pino logger writes to, for the thread's lines (already JSON, already censored there). */
function destinationOf(logger: Logger): { write(line: string): unknown } {
  return (logger as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym] as { write(line: string): unknown };
}

/** Starts the execution thread and resolves once it has reconciled; a thread that cannot start rejects with why. */
export async function startExecutionHost(options: HostOptions): Promise<ExecutionHost> {
  const { logger } = options;
  const destination = destinationOf(logger);
  const stopGraceMs = options.stopGraceMs ?? 25_000;
  const firstBackoff = options.backoffMs ?? 1_000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const data: ThreadData = {
    env: { ...options.env }, role: options.role, logLevel: logger.level, logTo: options.forwardLogs ? 'parent' : 'own',
  };
  const module = await executionThreadModule();

  let state: ExecutionState = 'starting';
  let worker: Worker | undefined;
  let wantRun = false;
  let adminUrl: string | undefined;
  let stopping = false;
  let backoff = firstBackoff;
  let runningSince = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let nextId = 1;
  let onRunning: () => void = () => undefined;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout }>();

  const failPending = (why: string) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(new HttpError(503, { error: 'execution_unavailable', message: why }));
      pending.delete(id);
    }
  };

  /** One thread's life; resolves when it has reconciled, rejects if it fails before that. */
  const spawn = () => new Promise<void>((resolve, reject) => {
    state = 'starting';
    let reconciled = false;
    const thread = new Worker(module, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } });
    worker = thread;
    thread.on('message', (message: FromThread) => {
      switch (message.type) {
        case 'log':
          destination.write(message.line.endsWith('\n') ? message.line : `${message.line}\n`);
          return;
        case 'reconciled':
          reconciled = true;
          state = 'reconciled';
          if (wantRun) thread.postMessage({ type: 'run', adminUrl } satisfies ToThread);
          resolve();
          return;
        case 'running':
          state = 'running';
          runningSince = Date.now();
          onRunning();
          return;
        case 'failed':
          if (!reconciled) reject(new StartupError(message.error));
          return;
        case 'answer': {
          const p = pending.get(message.id);
          if (!p) return;
          pending.delete(message.id);
          clearTimeout(p.timer);
          if (message.ok) p.resolve(message.value);
          else p.reject(new Error(message.error));
        }
      }
    });
    thread.on('error', (error) => {
      logger.error({ event: 'execution.error', err: error.stack ?? error.message }, 'the execution thread threw');
      if (!reconciled) reject(error);
    });
    thread.on('exit', (code) => {
      if (worker === thread) worker = undefined;
      failPending('the execution side is not running (restarting)');
      if (!reconciled) {
        reject(new StartupError(`tradewire: the execution thread ended before it was ready (exit code ${code})`));
        return;
      }
      if (stopping) {
        state = 'stopped';
        return;
      }
      // Acknowledged alerts wait in Redis, and a job cut off mid-order is re-delivered and finds its order by client id.
      state = 'down';
      if (Date.now() - runningSince > 60_000) backoff = firstBackoff;
      logger.error({ event: 'execution.died', exitCode: code, restartInMs: backoff },
        `the execution thread ended (exit code ${code}): restarting it in ${backoff} ms; alerts are still taken and wait in the queue`);
      const wait = backoff;
      backoff = Math.min(backoff * 2, maxBackoff);
      restartTimer = setTimeout(() => { void restart(); }, wait);
    });
  });

  const restart = async () => {
    if (stopping) return;
    try {
      await spawn();
      logger.info({ event: 'execution.restarted' }, 'the execution thread is back');
    } catch (error) {
      // Failing before it reconciled (a broker down, say): the exit handler above does not plan another try.
      if (stopping) return;
      state = 'down';
      logger.error({ event: 'execution.restart_failed', err: String(error), restartInMs: backoff }, 'the execution thread could not start again');
      const wait = backoff;
      backoff = Math.min(backoff * 2, maxBackoff);
      restartTimer = setTimeout(() => { void restart(); }, wait);
    }
  };

  const ask = (request: Request, timeoutMs: number): Promise<unknown> => new Promise((resolve, reject) => {
    const thread = worker;
    if (!thread || stopping || (state !== 'running' && state !== 'reconciled')) {
      reject(new HttpError(503, { error: 'execution_unavailable', message: `the execution side is ${stopping ? 'stopping' : state}: try again in a moment` }));
      return;
    }
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new HttpError(504, { error: 'execution_timeout', message: `the execution side did not answer within ${timeoutMs / 1000} s` }));
    }, timeoutMs);
    pending.set(id, { resolve, reject, timer });
    thread.postMessage({ type: 'request', id, request } satisfies ToThread);
  });

  await spawn();

  return {
    state: () => state,
    desk: async (action, input) => ask({ kind: 'desk', action, input }, DESK_TIMEOUT_MS) as ReturnType<Desk>,
    run(url) {
      wantRun = true;
      adminUrl = url;
      const running = new Promise<void>((resolve) => { onRunning = resolve; });
      worker?.postMessage({ type: 'run', adminUrl } satisfies ToThread);
      return running;
    },
    metrics: async () => (ask({ kind: 'metrics' }, METRICS_TIMEOUT_MS) as Promise<MetricsJson>).catch(() => undefined),
    async reload() {
      try {
        return await ask({ kind: 'reload' }, RELOAD_TIMEOUT_MS) as { ok: boolean; error?: string };
      } catch (error) {
        return { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    },
    async stop() {
      if (stopping) return;
      clearTimeout(restartTimer);
      const thread = worker;
      if (!thread) {
        stopping = true;
        state = 'stopped';
        return;
      }
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      const asked = ask({ kind: 'stop' }, stopGraceMs).catch((error: unknown) => {
        logger.error({ event: 'execution.stop_timeout', err: String(error) }, 'the execution side did not stop in time: ending it (its job is re-delivered at the next start)');
      });
      stopping = true;
      await asked;
      // It ends by itself once its connections are closed; a stuck handle does not hold the shutdown.
      const late = setTimeout(() => { void thread.terminate(); }, 2_000);
      await exited;
      clearTimeout(late);
      state = 'stopped';
    },
    async terminate() {
      const thread = worker;
      if (!thread) return;
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      await thread.terminate();
      await exited;
    },
  };
}
