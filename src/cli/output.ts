// What every CLI command writes to and the exit codes it returns.
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** Exit codes: 0 done; 1 refused or failed (the daemon said no, nothing to read); 2 usage; 3 the daemon is not reachable. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export const consoleOutput: Output = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};
