// The IBKR adapter against the adapter contract, its venue the stateful Client Portal gateway fake behind msw.
import { IbkrBroker } from '../../src/brokers/ibkr/ibkr-broker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { FAKE_ACCOUNT, FAKE_GATEWAY_URL, IbkrFake } from '../fakes/ibkr.ts';
import type { IbkrFailure } from '../fakes/ibkr.ts';
import { useMswServer } from '../helpers/msw.ts';
import { brokerContract } from './suite.ts';

const fake = new IbkrFake();
useMswServer(...fake.handlers);

brokerContract('ibkr', async () => {
  fake.reset();
  const broker = new IbkrBroker({
    name: 'ibkr-paper', accountId: FAKE_ACCOUNT, gatewayUrl: FAKE_GATEWAY_URL, timeoutMs: 250, logger: createLogger({ level: 'silent' }),
  });
  await broker.connect();
  return {
    broker,
    symbol: 'AAPL',
    otherSymbol: 'MSFT',
    venue: {
      setPrice: (symbol, price) => { fake.setPrice(symbol, price); },
      // IBKR has no "market closed" refusal: an order outside the session rests until the open (brokers.md §5.7).
      inject: (kind) => {
        if (kind === 'market_closed') return false;
        fake.failNext(kind as IbkrFailure);
        return true;
      },
    },
    close: () => broker.disconnect(),
  };
});
