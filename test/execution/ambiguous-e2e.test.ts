// End to end through the executor, with the real Alpaca and Binance adapters against their fakes: an entry the venue
// carried out and whose answer was lost (a 503, a dropped connection) opens one position, never two (issue 12, defect 1).
import { afterEach, describe, expect, it } from 'vitest';
import { AlpacaBroker } from '../../src/brokers/alpaca/alpaca-broker.ts';
import { BinanceUsdmBroker } from '../../src/brokers/binance/binance-broker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { BASE_CONFIG, createHarness, type Harness } from '../helpers/executor-harness.ts';
import { useMswServer } from '../helpers/msw.ts';

const server = useMswServer();
const silent = createLogger({ level: 'silent' });
const keys = { keyId: 'PKE2EAMBIGUOUS000001', secretKey: 'e2e-ambiguous-secret-0123456789' };

describe('an entry carried out behind a failed answer, through the executor', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  for (const kind of ['unavailable_after_execution', 'network_after_execution'] as const) {
    it(`Alpaca, ${kind === 'network_after_execution' ? 'connection dropped' : '503'} after the bracket was taken: one bracket, the entry filled, its legs resting`, async () => {
      const fake = new AlpacaFake(keys);
      server.use(...fake.handlers);
      fake.setPrice('AAPL', '100');
      const alpaca = new AlpacaBroker({ name: 'paper', environment: 'paper', ...keys, timeoutMs: 1_000, logger: silent });
      await alpaca.connect();
      h = await createHarness({ wrap: () => alpaca });
      fake.failNext(kind);
      const job = h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' });
      expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
      const entries = fake.allOrders().filter((o) => o.parent === null);
      expect(entries).toHaveLength(1);
      expect(entries[0]?.status).toBe('filled');
      expect(fake.calls.filter((c) => c.method === 'POST' && c.path === '/v2/orders')).toHaveLength(1);
      const journal = h.ctx.orders.ordersForSignal(job.signalId);
      expect(journal.map((o) => [o.leg, o.status])).toEqual([['entry', 'filled'], ['stop', 'accepted'], ['target', 'accepted']]);
      expect(h.ctx.positions.findOpen('paper', 'AAPL')?.quantity.toFixed()).toBe('10');
      // The legs are Alpaca's own orders under tradewire's ids: the stop's fill is booked when the price reaches it.
      const stop = journal.find((o) => o.leg === 'stop');
      expect(stop?.brokerOrderId).toBe(entries[0]?.legs.map((id) => fake.order(id)).find((o) => o?.type === 'stop')?.id);
      fake.setPrice('AAPL', '97');
      expect((await h.ctx.tracker.refresh(alpaca, stop?.clientOrderId ?? '')).status).toBe('filled');
    });
  }

  for (const [name, failure] of [
    ['a 503', { status: 503, code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }],
    ['a dropped connection', { status: 0, kind: 'network' as const }],
  ] as const) {
    it(`Binance, ${name} after the market entry filled: one entry, one position of the size asked`, async () => {
      const fake = new BinanceFake();
      server.use(...fake.handlers);
      const binance = new BinanceUsdmBroker({
        name: 'paper', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs: 1_000, logger: silent,
      });
      await binance.connect();
      h = await createHarness({ wrap: () => binance, configText: BASE_CONFIG.replace('value: 10', 'value: 0.01') });
      fake.failNext({ method: 'POST', path: '/fapi/v1/order', afterExecution: true, ...failure });
      const job = h.job({ ticker: 'BTCUSDT', action: 'buy', sentiment: 'long', price: '60000' });
      expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
      expect(fake.calls('/fapi/v1/order', 'POST').filter((r) => r.params.type === 'MARKET')).toHaveLength(1);
      expect(fake.positionAmount('BTCUSDT').toFixed()).toBe('0.01');
      const entry = h.ctx.orders.ordersForSignal(job.signalId).find((o) => o.leg === 'entry');
      expect(entry?.status).toBe('filled');
      expect(h.ctx.positions.findOpen('paper', 'BTCUSDT')?.quantity.toFixed()).toBe('0.01');
    });
  }
});
