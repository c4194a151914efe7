// The messages between the HTTP thread and the execution thread: requests and answers matched by id, log lines, lifecycle.
import type { MetricsJson } from '../ops/metrics.ts';
import type { DeskAction, DeskAnswer } from './desk.ts';
import type { Role } from './roles.ts';

/** What the thread is started with (workerData): plain data only. */
export interface ThreadData {
  /** The daemon's environment, from which the thread loads the same config file. */
  env: Record<string, string | undefined>;
  role: Role;
  /** The HTTP side's log level: the thread logs at the same one. */
  logLevel: string;
  /**
   * own: the thread writes its lines to stdout itself (the daemon's own logger), keeping that work off the HTTP thread.
   * parent: each line is sent to the HTTP thread, which writes it to the logger it was given (tests, scripts).
   */
  logTo: 'own' | 'parent';
}

export type Request =
  | { kind: 'desk'; action: DeskAction; input: Record<string, unknown> }
  /** Read the config file again and plan the jobs from it. */
  | { kind: 'reload' }
  /** This thread's metrics families (prom-client JSON), merged into the HTTP side's /metrics. */
  | { kind: 'metrics' }
  /** Finish what is in flight and close everything; the thread ends after answering. */
  | { kind: 'stop' };

export type Answer<R extends Request> = R extends { kind: 'desk' } ? DeskAnswer : R extends { kind: 'reload' } ? { ok: boolean; error?: string }
  : R extends { kind: 'metrics' } ? MetricsJson : null;

export type ToThread =
  | { type: 'request'; id: number; request: Request }
  /** Start taking jobs, the loop and the schedules (the HTTP side is listening). */
  | { type: 'run'; adminUrl?: string | undefined };

export type FromThread =
  /** One JSON log line, written by the HTTP side to its own destination (so the daemon has one log). */
  | { type: 'log'; line: string }
  /** Start-up reconciliation is done: the thread waits for 'run'. */
  | { type: 'reconciled'; differences: number | undefined }
  /** The thread could not start (config, broker connection): the message to show. */
  | { type: 'failed'; error: string; startup: boolean }
  | { type: 'running' }
  | { type: 'answer'; id: number; ok: true; value: unknown }
  | { type: 'answer'; id: number; ok: false; error: string };
