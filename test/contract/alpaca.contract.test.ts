// The Alpaca adapter against the adapter contract, through its stateful msw fake.
import { AlpacaBroker } from '../../src/brokers/alpaca/alpaca-broker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { useMswServer } from '../helpers/msw.ts';
import { brokerContract } from './suite.ts';

const keys = { keyId: 'PKCONTRACT0000000001', secretKey: 'contract-secret-0123456789abcdef' };
const fake = new AlpacaFake(keys);
useMswServer(...fake.handlers);

brokerContract('alpaca', async () => {
  fake.reset();
  const broker = new AlpacaBroker({
    name: 'alpaca-paper', environment: 'paper', ...keys, timeoutMs: 250, logger: createLogger({ level: 'silent' }),
  });
  await broker.connect();
  return {
    broker,
    symbol: 'AAPL',
    otherSymbol: 'MSFT',
    venue: {
      setPrice: (symbol, price) => { fake.setPrice(symbol, price); },
      // Alpaca has no "execution status unknown" answer of its own: its 5xx and dropped connections stand for it.
      inject: (kind) => { if (kind === 'unknown_status_after_execution') return false; fake.failNext(kind); return true; },
    },
    close: () => broker.disconnect(),
  };
});
