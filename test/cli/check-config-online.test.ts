// `tradewire check-config --online`: each account's credentials tried against its broker's fake, over its wire.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfig } from '../../src/cli/check-config.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { useMswServer } from '../helpers/msw.ts';
import { tempDir } from '../helpers/env.ts';

const ALPACA = { keyId: 'PKTEST0000000000ONLINE', secretKey: 'alpaca-online-secret-5e2b' };
const alpaca = new AlpacaFake({ ...ALPACA, cash: '25000' });
const binance = new BinanceFake({ wallet: '1000' });
useMswServer(...alpaca.handlers, ...binance.handlers);

const dir = tempDir('check-online');
afterAll(() => { dir.cleanup(); });

const CONFIG = `
database: { path: ${join(dir.path, 'trading.db')} }
accounts:
  stocks: { broker: alpaca, environment: paper, keyId: "\${ALPACA_KEY_ID}", secretKey: "\${ALPACA_SECRET_KEY}" }
  futures: { broker: binance-usdm, environment: testnet, baseUrl: "${FAKE_BASE_URL}", apiKey: "\${BINANCE_API_KEY}", apiSecret: "\${BINANCE_API_SECRET}" }
  paper: { broker: paper }
strategies:
  default: { account: paper }
`;
const file = join(dir.path, 'tradewire.yaml');
writeFileSync(file, CONFIG);

async function run(env: Record<string, string>): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await checkConfig({ file, env, online: true, out: (line) => lines.push(line) });
  return { code, lines };
}

describe('check-config --online', () => {
  it('exits 0 when every account accepts its credentials, and says what each answered', async () => {
    const { code, lines } = await run({ ALPACA_KEY_ID: ALPACA.keyId, ALPACA_SECRET_KEY: ALPACA.secretKey, BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: FAKE_API_SECRET });
    const accounts = lines.filter((l) => /^# (ok|FAILED)/.test(l));
    expect(accounts).toHaveLength(3);
    expect(accounts[0]).toMatch(/^# ok {5}stocks \(alpaca\): credentials accepted; equity 25000 USD$/);
    expect(accounts[1]).toMatch(/^# ok {5}futures \(binance-usdm\): credentials accepted; equity 1000 /);
    expect(accounts[2]).toBe('# ok     paper (paper): credentials accepted; equity 100000 USD');
    expect(code).toBe(0);
  });

  it('exits 1 naming each account whose keys the broker refused, and never prints a secret', async () => {
    const wrong = { ALPACA_KEY_ID: ALPACA.keyId, ALPACA_SECRET_KEY: 'not-the-alpaca-secret-1234', BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: 'not-the-binance-secret-9876' };
    const { code, lines } = await run(wrong);
    expect(code).toBe(1);
    expect(lines.find((l) => l.includes('stocks (alpaca)'))).toMatch(/^# FAILED stocks \(alpaca\): authentication: /);
    expect(lines.find((l) => l.includes('futures (binance-usdm)'))).toMatch(/^# FAILED futures \(binance-usdm\): authentication: /);
    expect(lines.find((l) => l.includes('paper (paper)'))).toMatch(/^# ok/);
    const text = lines.join('\n');
    for (const secret of [...Object.values(wrong), ALPACA.secretKey, FAKE_API_SECRET]) expect(text).not.toContain(secret);
  });
});
