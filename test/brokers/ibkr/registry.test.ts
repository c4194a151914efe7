// An ibkr account in the config becomes the IBKR adapter, and `check-config --online` tries the gateway's session and account.
import { describe, expect, it } from 'vitest';
import { IbkrBroker } from '../../../src/brokers/ibkr/ibkr-broker.ts';
import { createBroker } from '../../../src/brokers/registry.ts';
import { verifyAccounts } from '../../../src/brokers/verify.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { Decimal } from '../../../src/domain/money.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { FAKE_ACCOUNT, IbkrFake } from '../../fakes/ibkr.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();

const configText = `
accounts:
  ib:
    broker: ibkr
    accountId: \${IBKR_ACCOUNT}
    allowedPrompts: [o163]
strategies:
  default:
    account: ib
`;

const deps = { logger: createLogger({ level: 'silent' }), now: () => new Date() };

describe('the ibkr registry case', () => {
  it('builds the IBKR adapter from the account (default gateway, allowed prompts) and it trades through the fake', async () => {
    const fake = new IbkrFake();
    server.use(...fake.handlers);
    const { config } = parseConfigText(configText, 'test.yaml', { IBKR_ACCOUNT: FAKE_ACCOUNT });
    const account = config.accounts.ib;
    if (account?.broker !== 'ibkr') throw new Error('no ibkr account');
    expect(account).toMatchObject({ gatewayUrl: 'https://localhost:5000/v1/api', allowedPrompts: ['o163'] });
    const broker = await createBroker('ib', account, deps);
    expect(broker).toBeInstanceOf(IbkrBroker);
    expect(broker.capabilities.marginPreview).toBe(true);
    await broker.connect();
    fake.askNext({ messageId: 'o163', text: 'The following order exceeds the price percentage limit' });
    const order = await broker.placeOrder({ clientOrderId: 'twreg1', symbol: 'AAPL', side: 'buy', type: 'market', quantity: new Decimal(1) });
    expect(fake.allOrders().map((o) => String(o.orderId))).toEqual([order.id]);
    await broker.disconnect();
  });

  it('check-config --online: ok with the equity when logged in; an authentication failure telling to log in when not', async () => {
    const fake = new IbkrFake({ cash: '25000.5' });
    server.use(...fake.handlers);
    const { config } = parseConfigText(configText, 'test.yaml', { IBKR_ACCOUNT: FAKE_ACCOUNT });
    expect(await verifyAccounts(config, deps)).toEqual([{ account: 'ib', broker: 'ibkr', ok: true, detail: 'credentials accepted; equity 25000.5 USD' }]);
    fake.authenticated = false;
    const [check] = await verifyAccounts(config, deps);
    expect(check?.ok).toBe(false);
    expect(check?.detail).toMatch(/^authentication: .*log in at the Client Portal gateway/);
  });
});
