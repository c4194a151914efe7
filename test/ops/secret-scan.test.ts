// The run-wide secrets scan (test/global-setup.ts): which constants count as secrets, and that a tapped line holding
// one is found and named without the secret itself.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/env.ts';
import { scanTaps, secretsDeclaredIn, testSecrets } from '../helpers/secret-scan.ts';

describe('the secrets scan of a test run', () => {
  it('takes the constants whose names say secret, token, passphrase or key, with a literal of eight characters or more', () => {
    const source = [
      "export const GLOBAL_SECRET = 'global-Secret-7f3a9c21e4b8';",
      "const ADMIN_TOKEN = 'admin-token-4f9c1e7a2b';",
      "const FAKE_API_KEY = \"fake-binance-key-7f3a\";",
      "const KEY_ID = 'KEYID-VISIBLE-ONLY-TO-BROKER-7f3a';",
      "const PASSPHRASE = 'short';", // too short to tell from ordinary words
      "const LABEL = 'not-a-secret-at-all';",
      'const TOKEN_FROM_ENV = `${process.env.X}`;',
    ].join('\n');
    expect(secretsDeclaredIn(source, 'f.ts').map((s) => [s.name, s.value])).toEqual([
      ['f.ts GLOBAL_SECRET', 'global-Secret-7f3a9c21e4b8'], ['f.ts ADMIN_TOKEN', 'admin-token-4f9c1e7a2b'],
      ['f.ts FAKE_API_KEY', 'fake-binance-key-7f3a'], ['f.ts KEY_ID', 'KEYID-VISIBLE-ONLY-TO-BROKER-7f3a'],
    ]);
  });

  it('finds the secrets of the whole test tree, the webhook passphrase among them', () => {
    const names = testSecrets(join(import.meta.dirname, '..')).map((s) => s.name);
    expect(names).toContain('test/helpers/webhook.ts GLOBAL_SECRET');
    expect(names.length).toBeGreaterThan(10);
  });

  it('names a secret seen in a tapped line, by its constant and where, and passes clean taps', () => {
    const dir = tempDir('tw-scan');
    try {
      mkdirSync(join(dir.path, 'taps'));
      writeFileSync(join(dir.path, 'taps', '100-0.log'), '{"msg":"ok"}\n{"msg":"clean"}\n');
      const secrets = [{ name: 'x.ts GLOBAL_SECRET', value: 'global-Secret-7f3a9c21e4b8' }];
      expect(scanTaps(join(dir.path, 'taps'), secrets)).toEqual([]);
      writeFileSync(join(dir.path, 'taps', '200-1.log'), '{"msg":"ok"}\n{"body":"passphrase=global-Secret-7f3a9c21e4b8"}\n');
      expect(scanTaps(join(dir.path, 'taps'), secrets)).toEqual([{ secret: 'x.ts GLOBAL_SECRET', file: '200-1.log', line: 2 }]);
    } finally {
      dir.cleanup();
    }
  });
});
