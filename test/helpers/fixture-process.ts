// Child processes that run a test fixture (node --import tsx <file>) and die where the test tells them to: each one's
// output is kept for the failure message, and `killAll` SIGKILLs any left running when the file's tests end.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface FixtureProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr, in order. */
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function fixtureProcesses(fixture: string) {
  const running = new Set<ChildProcess>();
  return {
    start(env: NodeJS.ProcessEnv): FixtureProcess {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      running.add(child);
      const output: string[] = [];
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => {
          running.delete(child);
          resolve({ code, signal });
        });
      });
      return { child, output, exited };
    },
    killAll(): void {
      for (const child of running) {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      }
    },
  };
}

/** `promise`, or a failure naming `what` with the process's output when it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string, output: string[]): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms; worker output:\n${output.join('')}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
