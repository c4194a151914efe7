// The Coinbase Advanced Trade adapter against the adapter contract, its venue the stateful Coinbase fake behind msw (every request's JWT verified).
import { CoinbaseBroker } from '../../src/brokers/coinbase/coinbase-broker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { CoinbaseFake, FAKE_COINBASE_URL } from '../fakes/coinbase.ts';
import { useMswServer } from '../helpers/msw.ts';
import { brokerContract } from './suite.ts';

const fake = new CoinbaseFake();
useMswServer(...fake.handlers);

brokerContract('coinbase', async () => {
  fake.reset();
  const broker = new CoinbaseBroker({
    name: 'coinbase', keyName: fake.keyName, privateKey: fake.privateKeyPem, baseUrl: FAKE_COINBASE_URL, timeoutMs: 250, logger: createLogger({ level: 'silent' }),
  });
  await broker.connect();
  // tradewire's compact symbols; the adapter writes Coinbase's SOL-USD itself.
  return {
    broker,
    symbol: 'SOLUSD',
    otherSymbol: 'LTCUSD',
    venue: {
      setPrice: (symbol, price) => { fake.setPrice(symbol.replace(/USD$/, '-USD'), price); },
      inject: (kind) => fake.inject(kind),
    },
    close: () => broker.disconnect(),
  };
});
