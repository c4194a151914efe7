// check-config --online's account check: every account tried, each answer reported, nothing ordered.
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.ts';
import { verifyAccounts } from '../../src/brokers/verify.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { tempDir } from '../helpers/env.ts';

const dirs: Array<{ cleanup(): void }> = [];
afterEach(() => { for (const d of dirs.splice(0)) d.cleanup(); });

describe('verifyAccounts', () => {
  it('reports each account: a paper account answers with its equity; an adapter that cannot be built is reported, and the rest still checked', async () => {
    const dir = tempDir('verify');
    dirs.push(dir);
    const { config } = parseConfigText(`
database: { path: ${join(dir.path, 'trading.db')} }
webhook: { passphrase: "\${P}" }
accounts:
  first: { broker: coinbase, keyName: "\${K}", privateKey: "\${S}", live: true }
  paper: { broker: paper, startingCash: 25000.50 }
strategies:
  default: { account: paper }
`, 'test.yaml', { P: 'a-long-enough-secret', K: 'key-name', S: 'private-key-text' });
    const checks = await verifyAccounts(config, { logger: createLogger({ level: 'silent' }), now: () => new Date() });
    expect(checks).toHaveLength(2);
    expect(checks[0]).toMatchObject({ account: 'first', broker: 'coinbase', ok: false });
    // A key that is not a PEM EC key is refused while the adapter is built, before any request, and never repeated.
    expect(checks[0]?.detail).toMatch(/^authentication: coinbase account 'first': privateKey is not a PEM private key/);
    expect(checks[0]?.detail).not.toContain('private-key-text');
    expect(checks[1]).toEqual({ account: 'paper', broker: 'paper', ok: true, detail: 'credentials accepted; equity 25000.5 USD' });
  });
});
