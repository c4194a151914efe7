// A binance-usdm account in the config becomes a Binance adapter, and `check-config --online` tries its keys at the venue.
import { describe, expect, it } from 'vitest';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import { createBroker } from '../../../src/brokers/registry.ts';
import { verifyAccounts } from '../../../src/brokers/verify.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();

const configText = `
accounts:
  binance:
    broker: binance-usdm
    environment: testnet
    baseUrl: ${FAKE_BASE_URL}
    apiKey: \${BINANCE_API_KEY}
    apiSecret: \${BINANCE_API_SECRET}
    positionMode: hedge
strategies:
  default:
    account: binance
`;

const deps = { logger: createLogger({ level: 'silent' }), now: () => new Date() };

describe('the binance-usdm registry case', () => {
  it('builds the Binance adapter with the account settings (hedge mode is set at connect)', async () => {
    const fake = new BinanceFake();
    server.use(...fake.handlers);
    const { config } = parseConfigText(configText, 'test.yaml', { BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: FAKE_API_SECRET });
    const account = config.accounts.binance;
    if (!account) throw new Error('no account');
    const broker = await createBroker('binance', account, deps);
    expect(broker).toBeInstanceOf(BinanceUsdmBroker);
    expect(broker.capabilities.marginPreview).toBe(true);
    await broker.connect();
    expect(fake.hedge).toBe(true);
  });

  it('check-config --online accepts good keys with the equity, and reports bad ones as an authentication failure', async () => {
    const fake = new BinanceFake({ wallet: '2500.5' });
    server.use(...fake.handlers);
    const good = parseConfigText(configText, 'test.yaml', { BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: FAKE_API_SECRET }).config;
    expect(await verifyAccounts(good, deps)).toEqual([{ account: 'binance', broker: 'binance-usdm', ok: true, detail: 'credentials accepted; equity 2500.5 USDT' }]);
    const bad = parseConfigText(configText, 'test.yaml', { BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: 'wrong-secret' }).config;
    const [check] = await verifyAccounts(bad, deps);
    expect(check?.ok).toBe(false);
    expect(check?.detail).toMatch(/^authentication: .*-1022/);
    expect(check?.detail).not.toContain('wrong-secret');
  });
});
