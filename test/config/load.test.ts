import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadConfigWithSources } from '../../src/config/load.ts';
import { allowedSourceList, expectedSlippagePercent, isLiveAccount } from '../../src/config/schema.ts';
import { Decimal } from '../../src/domain/money.ts';

const dir = mkdtempSync(join(tmpdir(), 'tw-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function writeConfig(text: string): string {
  const file = join(dir, `config-${++counter}.yaml`);
  writeFileSync(file, text);
  return file;
}

const MINIMAL = `
accounts:
  paper:
    broker: paper
strategies:
  default:
    account: paper
`;

async function errorOf(text: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  const file = writeConfig(text);
  try {
    await loadConfig({ file, env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    for (const line of configError.message.split('\n')) expect(line.startsWith(`${file}: `)).toBe(true);
    return configError;
  }
  throw new Error('the config loaded but should not have');
}

describe('the shipped config', () => {
  it('loads with no environment and states the documented defaults', async () => {
    const config = await loadConfig({ file: 'config/tradewire.yaml', env: {} });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, trustProxy: 'loopback', bodyLimitBytes: 65536 });
    expect(config.server.allowedSources).toBeUndefined();
    expect(config.webhook).toEqual({
      idDedupeWindowSeconds: 86400, contentDedupeWindowSeconds: 10, maxSignalAgeSeconds: 60,
      failedAuthPerMinute: 20, strategyRatePerSecond: 50, strategyBurst: 200,
    });
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'tradewire' });
    expect(config.database.path).toBe('data/trading.db');
    expect(config.logging.level).toBe('info');
    expect(config.positions.loopIntervalMs).toBe(1000);
    expect(config.retries).toEqual({ attempts: 3, baseDelayMs: 250, maxDelayMs: 5000 });
    expect(config.execution).toEqual({ maxExecutionDelaySeconds: 60, reversalTimeoutSeconds: 30, maxQuoteAgeSeconds: 10 });

    const paper = config.accounts.paper;
    expect(paper?.broker).toBe('paper');
    if (paper?.broker !== 'paper') throw new Error('unreachable');
    expect(paper.currency).toBe('USD');
    expect(paper.startingCash.toString()).toBe('100000');
    expect(paper.feeRate.isZero()).toBe(true);
    expect(paper.slippagePercent.toString()).toBe('0.05');
    expect(paper.ledgerPath).toBe(join('data', 'paper-paper.db'));
    expect(paper.timeZone).toBe('UTC');
    expect(paper.killSwitch.maxDailyLossPercent.toString()).toBe('5');
    expect(paper.killSwitch.flatten).toBe(true);
    // Risk sizing reckons with the paper venue's own slippage unless told otherwise.
    expect(expectedSlippagePercent(paper).toString()).toBe('0.05');
    expect(expectedSlippagePercent({ ...paper, sizing: { expectedSlippagePercent: new Decimal('0.2') } }).toString()).toBe('0.2');

    const strategy = config.strategies.default;
    expect(strategy?.subscriptions).toEqual([{ account: 'paper', quantityFromAlert: true }]);
    expect(strategy).toMatchObject({ enabled: true, allowShorts: false, allowReversal: true, pyramiding: { enabled: false, maxEntries: 1 } });
    expect(strategy?.stopLoss.percent?.toString()).toBe('2');
    expect(strategy && !Array.isArray(strategy.takeProfit) ? strategy.takeProfit.percent?.toString() : undefined).toBe('4');
    expect(strategy?.sizing.mode).toBe('percent_of_equity');
    expect(strategy?.sizing.value?.toString()).toBe('10');
  });

  it('gives a minimal file the same defaults as the shipped one spells out', async () => {
    const minimal = await loadConfig({ file: writeConfig(MINIMAL), env: {} });
    const shipped = await loadConfig({ file: 'config/tradewire.yaml', env: {} });
    expect(JSON.stringify(minimal)).toBe(JSON.stringify(shipped));
  });
});

describe('decimals', () => {
  it('arrive from their source text, never through a float', async () => {
    const config = await loadConfig({
      file: writeConfig(`
accounts:
  paper: { broker: paper, slippagePercent: 0.1, feeRate: 0.30000000000000004, startingCash: 12345678901234567890.123456789 }
strategies:
  default: { account: paper, stopLoss: { trailPercent: 1.10 } }
`),
      env: {},
    });
    const paper = config.accounts.paper;
    if (paper?.broker !== 'paper') throw new Error('unreachable');
    expect(paper.slippagePercent.toString()).toBe('0.1');
    expect(paper.feeRate.toString()).toBe('0.30000000000000004');
    expect(paper.startingCash.toString()).toBe('12345678901234567890.123456789');
    expect(config.strategies.default?.stopLoss.trailPercent?.toString()).toBe('1.1');
  });

  it('refuses NaN, infinity, hex and blanks by path', async () => {
    const error = await errorOf(`
accounts:
  paper: { broker: paper, slippagePercent: .nan, feeRate: 0x10, feePerOrder: "", startingCash: .inf }
strategies:
  default: { account: paper }
`);
    for (const key of ['slippagePercent', 'feeRate', 'feePerOrder', 'startingCash']) {
      expect(error.message).toMatch(new RegExp(`accounts\\.paper\\.${key}: expected a decimal number`));
    }
  });
});

describe('invalid files', () => {
  it('a YAML syntax error names the line and column', async () => {
    const error = await errorOf('accounts:\n  paper: { broker: paper\nstrategies: [\n');
    expect(error.message).toMatch(/: line \d+, column \d+: YAML syntax error/);
    expect(error.message.split('\n')).toHaveLength(1);
    expect(error.message).toContain('line 3');
  });

  it('an unquoted ${NAME} inside flow braces gets a hint to quote it', async () => {
    const error = await errorOf('webhook: { passphrase: ${PASS} }\n');
    expect(error.message).toContain('quote a ${NAME} reference');
  });

  it('an unknown key (a typo) is refused with its full path', async () => {
    const error = await errorOf(`${MINIMAL}    stoploss: { percent: 2 }\n`);
    expect(error.message).toContain('strategies.default.stoploss: unknown key');
  });

  it('a wrong type names the path and what was expected', async () => {
    const error = await errorOf(`server: { port: eighty }\n${MINIMAL}`);
    expect(error.message).toContain('server.port: expected number, received string');
  });

  it('a bad enum value lists the valid ones', async () => {
    const error = await errorOf(`${MINIMAL}    sizing: { mode: percent, value: 5 }\n`);
    expect(error.message).toMatch(/strategies\.default\.sizing\.mode: .*"percent_of_equity"/);
  });

  it('a missing required field says so', async () => {
    const error = await errorOf(`
accounts:
  alpaca: { broker: alpaca, environment: paper, secretKey: x }
strategies:
  default: { account: alpaca }
`);
    expect(error.message).toContain('accounts.alpaca.keyId: missing: expected string');
  });

  it('an unknown broker lists the known ones', async () => {
    const error = await errorOf('accounts:\n  x: { broker: robinhood }\nstrategies:\n  default: { account: x }\n');
    expect(error.message).toMatch(/accounts\.x\.broker: .*'paper'.*'alpaca'/);
  });

  it('a subscription to a missing account names it', async () => {
    const error = await errorOf(`
accounts:
  paper: { broker: paper }
strategies:
  default:
    subscriptions: [{ account: paper }, { account: papr }]
`);
    expect(error.message).toContain('strategies.default.subscriptions[1].account: no account named papr (configured: paper)');
  });

  it('a strategy needs at least one account', async () => {
    const error = await errorOf('accounts:\n  paper: { broker: paper }\nstrategies:\n  default: { subscriptions: [] }\n');
    expect(error.message).toContain('strategies.default.subscriptions: expected at least one subscription');
  });

  it('a stop loss needs exactly one anchor', async () => {
    const error = await errorOf(`${MINIMAL}    stopLoss: { percent: 2, amount: 5 }\n`);
    expect(error.message).toContain('strategies.default.stopLoss: expected exactly one of stopPrice, percent, amount, trailPercent, trailAmount, got percent and amount');
  });

  it('a live account without any webhook passphrase is refused, and accepted with one', async () => {
    const text = `
accounts:
  real: { broker: alpaca, environment: live, live: true, keyId: "\${K}", secretKey: "\${S}" }
strategies:
  default: { account: real }
`;
    const env = { K: 'key', S: 'secret' };
    const error = await errorOf(text, env);
    expect(error.message).toContain('strategies.default.subscriptions[0].account: account real is live: set WEBHOOK_PASSPHRASE');
    const config = await loadConfig({ file: writeConfig(text), env: { ...env, WEBHOOK_PASSPHRASE: 'a-long-enough-secret' } });
    expect(isLiveAccount(config.accounts.real!)).toBe(true);
    const perStrategy = await loadConfig({ file: writeConfig(text.replace('{ account: real }', '{ account: real, passphrase: "${P}" }')), env: { ...env, P: 'own' } });
    expect(perStrategy.strategies.default?.passphrase).toBe('own');
  });

  it('a live endpoint needs live: true as well', async () => {
    const error = await errorOf('accounts:\n  b: { broker: binance-usdm, environment: live, apiKey: k, apiSecret: s }\nstrategies:\n  default: { account: b }\n');
    expect(error.message).toContain('accounts.b.live: environment: live needs live: true');
  });

  it('a live account keeps its keys in the environment only; a literal key of a paper or testnet account is a warning', async () => {
    const live = `
webhook: { passphrase: "\${P}" }
accounts:
  real: { broker: alpaca, environment: live, live: true, keyId: "\${K}", secretKey: literal-secret-in-the-file }
strategies:
  default: { account: real }
`;
    const error = await errorOf(live, { K: 'key', P: 'a-long-enough-secret' });
    expect(error.message).toContain('accounts.real.secretKey: written in the file of a live account: secrets belong in the environment');
    expect(error.message).not.toContain('literal-secret-in-the-file');
    expect(error.message).not.toContain('keyId');
    const testnet = await loadConfigWithSources({
      file: writeConfig('accounts:\n  b: { broker: binance-usdm, environment: testnet, apiKey: "${K}", apiSecret: literal }\nstrategies:\n  default: { account: b }\n'),
      env: { K: 'key' },
    });
    expect(testnet.warnings).toEqual(['accounts.b.apiSecret is written in the file: secrets belong in the environment (apiSecret: ${SOME_VARIABLE})']);
  });

  it('a missing file is one clear line', async () => {
    const error = await loadConfig({ file: join(dir, 'absent.yaml'), env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`${join(dir, 'absent.yaml')}: no such file (set CONFIG_FILE or pass --config)`);
  });
});

describe('environment references', () => {
  it('substitutes ${NAME} and ${NAME:-default}, and records where', async () => {
    const loaded = await loadConfigWithSources({
      file: writeConfig(`
server: { adminToken: "\${ADMIN:-fallback-token}" }
webhook: { passphrase: "pre-\${PASS}-post" }
${MINIMAL}`),
      env: { PASS: 'middle' },
    });
    expect(loaded.config.webhook.passphrase).toBe('pre-middle-post');
    expect(loaded.config.server.adminToken).toBe('fallback-token');
    expect(loaded.envPaths).toEqual(expect.arrayContaining([['server', 'adminToken'], ['webhook', 'passphrase']]));
  });

  it('keeps a value that looks like a number as text (a secret is never reinterpreted)', async () => {
    const config = await loadConfig({ file: writeConfig(`webhook:\n  passphrase: \${PASS}\n${MINIMAL}`), env: { PASS: '007' } });
    expect(config.webhook.passphrase).toBe('007');
  });

  it('a missing variable is an error naming it and where it was referenced', async () => {
    const error = await errorOf(`
accounts:
  alpaca: { broker: alpaca, environment: paper, keyId: "\${ALPACA_KEY_ID}", secretKey: "\${ALPACA_SECRET_KEY}" }
strategies:
  default: { account: alpaca }
`, { ALPACA_KEY_ID: 'id' });
    expect(error.message).toContain('accounts.alpaca.secretKey: environment variable ALPACA_SECRET_KEY is not set');
    expect(error.message).not.toContain('ALPACA_KEY_ID');
  });

  it('a secret written into the file is accepted with a warning', async () => {
    const loaded = await loadConfigWithSources({ file: writeConfig(`webhook: { passphrase: literal-secret }\n${MINIMAL}`), env: {} });
    expect(loaded.warnings).toEqual([expect.stringContaining('webhook.passphrase is written in the file')]);
    expect(loaded.warnings.join('\n')).not.toContain('literal-secret');
  });
});

describe('environment overrides', () => {
  it('PORT, HOST, REDIS_URL, REDIS_PREFIX, DATABASE_PATH, WEBHOOK_PASSPHRASE, ADMIN_TOKEN and LOG_LEVEL win over the file', async () => {
    const config = await loadConfig({
      file: writeConfig(`server: { port: 9000 }\n${MINIMAL}`),
      env: {
        PORT: '0', HOST: '0.0.0.0', REDIS_URL: 'redis://redis:6380/2', REDIS_PREFIX: 'tw2', DATABASE_PATH: '/var/lib/tw/trading.db',
        WEBHOOK_PASSPHRASE: 'pass', ADMIN_TOKEN: 'admin', LOG_LEVEL: 'debug',
      },
    });
    expect(config.server).toMatchObject({ port: 0, host: '0.0.0.0', adminToken: 'admin' });
    expect(config.redis).toEqual({ url: 'redis://redis:6380/2', prefix: 'tw2' });
    expect(config.database.path).toBe('/var/lib/tw/trading.db');
    expect(config.webhook.passphrase).toBe('pass');
    expect(config.logging.level).toBe('debug');
    const paper = config.accounts.paper;
    expect(paper?.broker === 'paper' && paper.ledgerPath).toBe('/var/lib/tw/paper-paper.db');
  });

  it('CONFIG_FILE chooses the file', async () => {
    const file = writeConfig(`server: { port: 9100 }\n${MINIMAL}`);
    expect((await loadConfig({ env: { CONFIG_FILE: file } })).server.port).toBe(9100);
  });

  it('an invalid override names the variable', async () => {
    const error = await errorOf(MINIMAL, { PORT: 'http', LOG_LEVEL: 'loud' });
    expect(error.message).toContain('server.port: expected number, received string (from the environment variable PORT)');
    expect(error.message).toMatch(/logging\.level: .*\(from the environment variable LOG_LEVEL\)/);
  });
});

describe('the rest of the shape', () => {
  it('expands the tradingview source preset and normalizes subscriptions', async () => {
    const config = await loadConfig({
      file: writeConfig(`
server: { allowedSources: [tradingview, 10.0.0.0/8] }
accounts:
  paper: { broker: paper }
  shadow: { broker: paper, currency: EUR }
strategies:
  default: { account: paper }
  crypto:
    subscriptions:
      - { account: paper, sizing: { mode: fixed_quantity, value: 0.01 }, risk: { maxOpenPositions: 2 } }
      - { account: shadow, quantityFromAlert: false }
    symbols: { "BINANCE:BTCUSDT.P": BTCUSDT }
    allowShorts: true
`),
      env: {},
    });
    expect(allowedSourceList(config.server)).toEqual(['52.89.214.238', '34.212.75.30', '54.218.53.128', '52.32.178.7', '10.0.0.0/8']);
    const crypto = config.strategies.crypto;
    expect(crypto?.symbols).toEqual({ 'BINANCE:BTCUSDT.P': 'BTCUSDT' });
    expect(crypto?.subscriptions[0]?.sizing?.value?.toString()).toBe('0.01');
    expect(crypto?.subscriptions[0]?.risk?.maxOpenPositions).toBe(2);
    expect(crypto?.subscriptions[1]).toEqual({ account: 'shadow', quantityFromAlert: false });
    expect(config.accounts.shadow?.broker === 'paper' && config.accounts.shadow.ledgerPath).toBe(join('data', 'paper-shadow.db'));
  });
});
