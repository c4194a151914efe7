// The paper broker against the adapter contract: its venue is its own ledger, prices pushed in, no wire to fail.
import { join } from 'node:path';
import { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import { tempDir } from '../helpers/env.ts';
import { brokerContract } from './suite.ts';

brokerContract('paper', async () => {
  const dir = tempDir('tw-paper-contract');
  // No slippage and no fees, so the contract can assert exact fills.
  const broker = new PaperBroker({ name: 'paper', ledgerPath: join(dir.path, 'paper.db'), startingCash: '100000', slippagePercent: '0', feeRate: '0', feePerOrder: '0' });
  await broker.connect();
  return {
    broker,
    symbol: 'AAPL',
    otherSymbol: 'MSFT',
    venue: {
      setPrice: async (symbol, price) => { await broker.updatePrice(symbol, price); },
      // The paper venue has no wire: no network, rate limit or session to fail; its own refusals are tested directly.
      inject: () => false,
    },
    close: async () => { await broker.disconnect(); dir.cleanup(); },
  };
});
