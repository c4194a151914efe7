// The secrets scan of a test run: the secrets the tests use (read from their sources), found in the run's tapped log
// lines. A finding names the secret's constant and the file and line it was seen in, never the secret itself.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface TestSecret {
  /** Where it is declared: `test/helpers/webhook.ts GLOBAL_SECRET`. */
  name: string;
  value: string;
}

/** A constant whose name says it holds a secret (…SECRET, …TOKEN, …PASSPHRASE, …KEY, …KEY_ID) and a literal value. */
const DECLARATION = /\b([A-Z0-9_]*(?:SECRET|TOKEN|PASSPHRASE|KEY|KEY_ID)[A-Z0-9_]*)\s*=\s*(['"`])([^'"`\n$]{8,})\2/g;

export function secretsDeclaredIn(source: string, file: string): TestSecret[] {
  return [...source.matchAll(DECLARATION)].map((m) => ({ name: `${file} ${m[1]}`, value: m[3] as string }));
}

/** Every secret constant in the test sources under `root`. */
export function testSecrets(root: string): TestSecret[] {
  const found: TestSecret[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|mjs)$/.test(entry.name)) found.push(...secretsDeclaredIn(readFileSync(path, 'utf8'), relative(join(root, '..'), path)));
    }
  };
  walk(root);
  const seen = new Set<string>();
  return found.filter((s) => !seen.has(s.value) && seen.add(s.value));
}

export interface Finding { secret: string; file: string; line: number }

/** Each secret seen in a tapped file, with the first line it appears on. */
export function scanTaps(tapDir: string, secrets: readonly TestSecret[]): Finding[] {
  const findings: Finding[] = [];
  for (const file of readdirSync(tapDir)) {
    const lines = readFileSync(join(tapDir, file), 'utf8').split('\n');
    for (const secret of secrets) {
      const at = lines.findIndex((line) => line.includes(secret.value));
      if (at >= 0) findings.push({ secret: secret.name, file, line: at + 1 });
    }
  }
  return findings;
}
