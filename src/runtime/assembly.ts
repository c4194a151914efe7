// What each role's assembly gives the composition root (src/main.ts): its address, reload and stop.
import type { ExecutionHost } from './execution-host.ts';

export interface Assembly {
  /** Where the HTTP server listens (empty for the roles that serve no HTTP). */
  url: string;
  /** Role all: the execution thread, for its state (and, in tests, to end it as a crash would). */
  execution?: Pick<ExecutionHost, 'state' | 'terminate'> | undefined;
  /** After the composition root took a new config: whatever this role plans from it is planned again. */
  reload(): Promise<{ ok: boolean; error?: string }>;
  stop(): Promise<void>;
}
