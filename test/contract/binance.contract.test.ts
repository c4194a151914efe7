// The Binance USD-M adapter against the adapter contract, its venue the stateful Binance fake behind msw.
import { BinanceUsdmBroker } from '../../src/brokers/binance/binance-broker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { useMswServer } from '../helpers/msw.ts';
import { brokerContract } from './suite.ts';

const server = useMswServer();

brokerContract('binance-usdm', async () => {
  // The suite trades 2 units around 100: a symbol on a 0.01 tick and 0.001 step, min notional 5, 100,000 USDT at 20x.
  const fake = new BinanceFake({
    symbols: {
      SOLUSDT: { tickSize: '0.01', stepSize: '0.001', minQty: '0.001', minNotional: '5', price: '100' },
      AVAXUSDT: { tickSize: '0.01', stepSize: '0.001', minQty: '0.001', minNotional: '5', price: '100' },
    },
  });
  server.use(...fake.handlers);
  // The adapter's clock, moved on past a Retry-After it holds calls for (the fake keeps real time: the limit has passed there too).
  let lead = 0;
  const broker = new BinanceUsdmBroker({
    name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET,
    leverage: 20, marginType: 'isolated', timeoutMs: 1_500, logger: createLogger({ level: 'silent' }), clock: () => new Date(Date.now() + lead),
  });
  await broker.connect();
  return {
    broker,
    symbol: 'SOLUSDT',
    otherSymbol: 'AVAXUSDT',
    venue: { setPrice: (symbol, price) => { fake.setPrice(symbol, price); }, inject: (kind) => fake.inject(kind) },
    advanceClock: (ms) => { lead += ms; },
    close: async () => { await broker.disconnect(); },
  };
});
