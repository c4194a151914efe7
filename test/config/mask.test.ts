import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigWithSources } from '../../src/config/load.ts';
import { MASK, maskSecrets } from '../../src/config/mask.ts';
import { checkConfig } from '../../src/cli/check-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'tw-mask-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRETS = {
  WEBHOOK_PASSPHRASE: 'hunter2-global-passphrase',
  ADMIN_TOKEN: 'admin-token-xyz',
  ALPACA_KEY_ID: 'PKALPACAKEYID',
  ALPACA_SECRET_KEY: 'alpaca-secret-value',
  BINANCE_API_KEY: 'binance-key-value',
  BINANCE_API_SECRET: 'binance-secret-value',
  CRYPTO_PASSPHRASE: 'crypto-strategy-secret',
  BROKER_ACCOUNT: 'U7654321',
  REDIS_URL: 'redis://:redis-password@cache:6379/0',
};

const FILE = join(dir, 'secrets.yaml');
writeFileSync(FILE, `
accounts:
  paper:
    broker: paper
    slippagePercent: 0.1
  alpaca:
    broker: alpaca
    environment: live
    live: true
    keyId: \${ALPACA_KEY_ID}
    secretKey: \${ALPACA_SECRET_KEY}
  binance:
    broker: binance-usdm
    environment: testnet
    apiKey: \${BINANCE_API_KEY}
    apiSecret: \${BINANCE_API_SECRET}
  ibkr:
    broker: ibkr
    accountId: \${BROKER_ACCOUNT}
strategies:
  default:
    account: paper
  crypto:
    passphrase: \${CRYPTO_PASSPHRASE}
    subscriptions: [{ account: binance }, { account: alpaca }]
`);

describe('maskSecrets', () => {
  it('leaves nothing of any secret in the printed config', async () => {
    const loaded = await loadConfigWithSources({ file: FILE, env: SECRETS });
    const printed = stringify(maskSecrets(loaded.config, { envPaths: loaded.envPaths }));
    for (const value of Object.values(SECRETS).filter((v) => !v.startsWith('redis'))) expect(printed).not.toContain(value);
    expect(printed).not.toContain('redis-password');
    expect(printed).toContain(`redis://:${MASK}@cache:6379/0`);
    expect(printed).toContain(`passphrase: "${MASK}"`);
    // Decimals print as their exact text, not as objects.
    expect(printed).toContain('slippagePercent: "0.1"');
  });

  it('masks by key name without knowing where values came from, and copies rather than mutates', async () => {
    const loaded = await loadConfigWithSources({ file: FILE, env: SECRETS });
    const masked = maskSecrets(loaded.config) as { accounts: Record<string, Record<string, unknown>>; server: Record<string, unknown> };
    expect(masked.accounts.alpaca).toMatchObject({ keyId: MASK, secretKey: MASK, environment: 'live' });
    expect(masked.accounts.ibkr?.accountId).toBe(SECRETS.BROKER_ACCOUNT);
    expect(loaded.config.webhook.passphrase).toBe(SECRETS.WEBHOOK_PASSPHRASE);
    expect(masked.server.adminToken).toBe(MASK);
  });
});

describe('checkConfig', () => {
  it('exits 0 and prints the effective config, masked, as YAML', async () => {
    const lines: string[] = [];
    const code = await checkConfig({ file: FILE, env: SECRETS, out: (line) => lines.push(line) });
    expect(code).toBe(0);
    const text = lines.join('\n');
    for (const value of Object.values(SECRETS)) expect(text).not.toContain(value);
    expect(text).toContain('is valid');
    expect(text).toMatch(/^ {2}port: 8080$/m);
  });

  it('validates the shipped file with no environment at all', async () => {
    const lines: string[] = [];
    expect(await checkConfig({ file: 'config/tradewire.yaml', env: {}, out: (line) => lines.push(line) })).toBe(0);
    expect(lines.join('\n')).toContain('maxDailyLossPercent: "5"');
  });

  it('exits 1 with one line per problem, naming file and path, without echoing secrets', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'server:\n  prot: 80\naccounts:\n  paper:\n    broker: paper\nstrategies:\n  default:\n    account: nowhere\n');
    const lines: string[] = [];
    const code = await checkConfig({ file: bad, env: { WEBHOOK_PASSPHRASE: 'never-printed' }, out: (line) => lines.push(line) });
    expect(code).toBe(1);
    expect(lines).toEqual([`${bad}: server.prot: unknown key (a typo? see config/tradewire.schema.json for the valid ones)`]);
    expect(lines.join('\n')).not.toContain('never-printed');
  });

  it('exits 1 for a missing environment variable', async () => {
    const lines: string[] = [];
    const env = { ...SECRETS, ALPACA_SECRET_KEY: undefined };
    expect(await checkConfig({ file: FILE, env, out: (line) => lines.push(line) })).toBe(1);
    expect(lines).toEqual([`${FILE}: accounts.alpaca.secretKey: environment variable ALPACA_SECRET_KEY is not set`]);
  });
});

describe('the committed JSON Schema', () => {
  it('matches the zod schema (run `npm run config-schema` after changing it)', async () => {
    const { readFileSync } = await import('node:fs');
    const { configJsonSchema } = await import('../../src/config/json-schema.ts');
    const committed = JSON.parse(readFileSync(new URL('../../config/tradewire.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
  });
});
