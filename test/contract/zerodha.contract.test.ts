// The Zerodha Kite adapter against the adapter contract, its venue the stateful Kite fake behind msw: NSE delivery (CNC) and NFO futures (NRML).
import { ZerodhaBroker } from '../../src/brokers/zerodha/zerodha-broker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { KITE_FAKE_ACCESS_TOKEN, KITE_FAKE_API_KEY, KITE_FAKE_URL, KiteFake } from '../fakes/zerodha.ts';
import { useMswServer } from '../helpers/msw.ts';
import { brokerContract } from './suite.ts';

const fake = new KiteFake({
  cash: '500000',
  instruments: [
    { exchange: 'NSE', tradingsymbol: 'INFY', tickSize: '0.05', lotSize: '1', price: '100' },
    { exchange: 'NSE', tradingsymbol: 'SBIN', tickSize: '0.05', lotSize: '1', price: '100' },
    { exchange: 'NFO', tradingsymbol: 'NIFTY26DECFUT', tickSize: '0.05', lotSize: '75', price: '100', instrumentType: 'FUT' },
    { exchange: 'NFO', tradingsymbol: 'BANKNIFTY26DECFUT', tickSize: '0.05', lotSize: '30', price: '100', instrumentType: 'FUT' },
  ],
});
useMswServer(...fake.handlers);

const logger = createLogger({ level: 'silent' });

brokerContract('zerodha (NSE, CNC)', async () => {
  fake.reset();
  const broker = new ZerodhaBroker({
    name: 'kite', apiKey: KITE_FAKE_API_KEY, accessToken: KITE_FAKE_ACCESS_TOKEN, baseUrl: KITE_FAKE_URL, exchange: 'NSE', product: 'CNC', timeoutMs: 300, logger,
  });
  await broker.connect();
  return {
    broker, symbol: 'INFY', otherSymbol: 'SBIN',
    venue: { setPrice: (symbol, price) => { fake.setPrice(symbol, price); }, inject: (kind) => fake.inject(kind) },
    close: () => broker.disconnect(),
  };
});

// Futures trade in whole lots (75 here) and may go short in NRML; a bare symbol of this account is on NFO.
brokerContract('zerodha (NFO, NRML, lots of 75)', async () => {
  fake.reset();
  const broker = new ZerodhaBroker({
    name: 'kite-fno', apiKey: KITE_FAKE_API_KEY, accessToken: KITE_FAKE_ACCESS_TOKEN, baseUrl: KITE_FAKE_URL, exchange: 'NFO', product: 'NRML', timeoutMs: 300, logger,
  });
  await broker.connect();
  return {
    broker, symbol: 'NIFTY26DECFUT', otherSymbol: 'BANKNIFTY26DECFUT', quantity: '150', hugeQuantity: '750000',
    venue: { setPrice: (symbol, price) => { fake.setPrice(`NFO:${symbol}`, price); }, inject: (kind) => fake.inject(kind) },
    close: () => broker.disconnect(),
  };
});
